"""RISC-V register names: x0..x31 and f0..f31 with the standard calling convention's names."""

X_NAMES = ("zero ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 "
           "t3 t4 t5 t6").split()
F_NAMES = ("ft0 ft1 ft2 ft3 ft4 ft5 ft6 ft7 fs0 fs1 fa0 fa1 fa2 fa3 fa4 fa5 fa6 fa7 fs2 fs3 fs4 fs5 fs6 "
           "fs7 fs8 fs9 fs10 fs11 ft8 ft9 ft10 ft11").split()
X_ZERO_SINK = 32  # the index hw writes to when an instruction's rd is x0: x0 itself stays 0

# The system call and its result travel in these (the Linux ABI).
SYSCALL_NUMBER = 17  # a7
SYSCALL_ARGS = (10, 11, 12, 13, 14, 15)  # a0..a5; the result goes to a0
STACK_POINTER = 2

# The CSRs a user-mode program reaches.
FFLAGS, FRM, FCSR, CYCLE, TIME, INSTRET = 0x001, 0x002, 0x003, 0xC00, 0xC01, 0xC02
CSR_NAMES = {FFLAGS: "fflags", FRM: "frm", FCSR: "fcsr", CYCLE: "cycle", TIME: "time", INSTRET: "instret"}
ROUNDING_MODES = ("rne", "rtz", "rdn", "rup", "rmm", "", "", "dyn")
