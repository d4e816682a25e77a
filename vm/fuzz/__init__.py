"""`vm fuzz`: generated programs run in every engine and compared; a disagreement is shrunk and saved.

generate.py makes a program from a seed and the instruction descriptions, check.py runs it and
compares, shrink.py reduces a disagreement, campaign.py spreads the work over a Dask cluster; riscv64.py
does the first three for RISC-V, hw against qemu-riscv64. A tool layer: the engines never import it.
"""
