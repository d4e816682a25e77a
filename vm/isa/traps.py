"""The traps of the guest ISA: why a machine stopped other than by HALT or EXIT."""

from enum import IntEnum


class Trap(IntEnum):
    """Trap codes. The numbers are shared with native code, so they never change."""

    ILLEGAL = 1
    MEMFAULT = 2
    MISALIGNED = 3
    DIVZERO = 4
    FPCONV = 5
    BADPORT = 6
    BADHCALL = 7
    BREAK = 8
    FUEL = 9
    UNSUPPORTED = 10


TRAP_DOCS = {
    Trap.ILLEGAL: "opcode 0x00, an unknown opcode, or a register field outside 0..15",
    Trap.MEMFAULT: "an access, fetch or hypercall buffer outside [0x1000, mem)",
    Trap.MISALIGNED: "an access of n bytes at an address that is not a multiple of n",
    Trap.DIVZERO: "integer division or remainder by zero",
    Trap.FPCONV: "ftoi of NaN, an infinity or a value outside int64",
    Trap.BADPORT: "in/out on a port that has no such device function",
    Trap.BADHCALL: "hcall with an unknown number",
    Trap.BREAK: "the brk instruction (a debugger's breakpoint)",
    Trap.FUEL: "the run's instruction budget is spent",
    Trap.UNSUPPORTED: "an engine met a program that it cannot run",
}
