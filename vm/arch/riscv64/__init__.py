"""64-bit RISC-V (RV64GC, user level): the second architecture, run by hw as static Linux executables.

Its contract is the published specification (unprivileged ISA 20191213). Each instruction is described
once in the extension modules (rv64i, rv64m, rv64a, rv64fd, rv64c, zicsr); the decoder, disassembler,
hw's handlers and the reference derive from those descriptions (vm.arch.riscv64.isa collects them;
importing this package alone reads none of them, so vm64's runs do not pay for them).
"""
