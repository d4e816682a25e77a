"""Tooling for the RISC-V (RV64GC) tests: the riscv-tests environment (env/) and the random-program generator."""
