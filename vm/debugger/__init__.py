"""`vm debug`: the command layer both architectures share (session.py) and each one's target
(vm64.py, riscv64.py)."""
