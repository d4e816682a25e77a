"""The contract between translated code and the monitor: context slots, statuses and exit reasons.

Plain constants (no Numba), so that a run whose compiled code is cached never imports Numba.
"""

# -- context slots (int64 each) -------------------------------------------------------------------
CTX_REGS = 0  # address of int64[16]
CTX_FREGS = 1  # address of float64[16]
CTX_MEM = 2  # address of guest memory
CTX_MEM_SIZE = 3
CTX_BUDGET = 4  # instructions that may still retire
CTX_PC = 5  # where execution continues (or stopped)
CTX_REASON = 6  # why native code stopped (REASON_*)
CTX_DETAIL = 7  # trap code, or exit status
CTX_HOST = 8  # the C host (vm_host *)
CTX_HYPERCALL = 9  # address of vm_hypercall
CTX_TABLE = 10  # address of int64[regions]: each region's function address
CTX_LOOKUP = 11  # address of int64[text words]: region index of each block leader, else -1
CTX_TEXT_END = 12
CTX_STACK_LIMIT = 13  # native calls (guest calls, jumps forward into another region) stop nesting below it
CTX_R0 = 14  # hypercall result
CTX_STACK_FLOOR = 15  # the calling thread's stack ends here (and a margin above it), else 0: see STACK_MARGIN
CTX_OUT_BATCH = 16  # address of int64[2 * OUT_BATCH]: (port, value) of each `out` native code has not yet handed over
CTX_OUT_COUNT = 17  # how many it holds: the monitor performs them, in order, whenever native code stops
CTX_SLOTS = 18

# An `out` to an output device is recorded in native code, and the monitor performs the batch at the
# next VM exit (a full batch, an `in`, a hypercall, the end): output keeps its order, for a fraction
# of an exit per `out`.
OUT_BATCH = 1024

# -- what a region returns ----------------------------------------------------------------------------
STATUS_RETURN = 0  # a return instruction: continue at ctx[PC] (the caller checks it is its own)
STATUS_JUMP = 1  # control left the region: continue at ctx[PC]
STATUS_EXIT = 2  # leave native code: ctx[REASON] says why

# -- why native code stopped --------------------------------------------------------------------------
REASON_HALT = 1  # ctx[DETAIL] = exit status
REASON_TRAP = 2  # ctx[DETAIL] = trap code
REASON_DEVICE = 3  # device I/O at ctx[PC]: the monitor emulates it (a VM exit)
REASON_FUEL = 4  # the budget may not hold the next block: the interpreter finishes the run exactly
REASON_INTERPRET = 5  # the interpreter runs from ctx[PC] to the next block start: ctx[PC] is inside a
#                       translated block, or starts one whose access window may fault (see windows.py)
REASON_OUTSIDE = 6  # ctx[PC] is outside the translated text
REASON_CODE_WRITE = 7  # a store at ctx[PC] would change translated code
REASON_NATIVE_ERROR = 8  # compiled code reported an error of its own (an engine bug, never a guest's)

NATIVE_STACK_BYTES = 256 * 1024  # native calls nest in this much host stack, then the dispatcher takes over
STACK_MARGIN = 64 * 1024  # ...or less where the thread's stack ends sooner: room kept for the last frames
TEXT_BASE = 0x1000


# An exit is one int64 "leave" word: reason in bits 0-7, unused budget in bits 8-31, trap code above.
def leave_word(reason: int, unused: int, trap: int = 0) -> int:
    return reason | unused << 8 | trap << 32
