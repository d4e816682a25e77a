"""The traps of the guest ISA: why a machine stopped other than by HALT or EXIT."""

from enum import IntEnum

# A run given no budget has this one: more instructions than any engine retires in years, so it is
# unlimited in practice; and a real budget, the same in every engine, so that an engine whose compiled
# code counts a loop's turns in closed form (a loop that does nothing, run "forever") stops where the
# others would, with FUEL after exactly this many instructions, instead of differing or hanging.
DEFAULT_FUEL = 1 << 62
MAX_FUEL = (1 << 63) - 1  # the largest budget a run takes: the engines count it in a signed 64-bit word


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
    Trap.FUEL: "the run's instruction budget is spent (by default 2^62 instructions)",
    Trap.UNSUPPORTED: "an engine met a program that it cannot run",
}
