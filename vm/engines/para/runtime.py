"""What translated guest code runs on: the context layout, intrinsics and the native dispatcher.

Translated regions are Numba `cfunc`s with the C signature `int64 region(int64 pc, int64 ctx)`. They
find everything through `ctx`, the address of an int64 array (slots below): guest registers and
memory by address, the region table, and the C host services by address. Calls between regions and
into C go through function pointers (the intrinsics here), never through Python objects, so every
compiled function can be cached on disk and loaded by another process.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import carray, cfunc, njit, types
from numba.extending import intrinsic

from vm.isa import Trap

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
CTX_DEPTH = 13  # native call depth
CTX_R0 = 14  # hypercall result
CTX_SLOTS = 16

# -- what a region returns ----------------------------------------------------------------------------
STATUS_RETURN = 0  # a return instruction: continue at ctx[PC] (the caller checks it is its own)
STATUS_JUMP = 1  # control left the region: continue at ctx[PC]
STATUS_EXIT = 2  # leave native code: ctx[REASON] says why

# -- why native code stopped --------------------------------------------------------------------------
REASON_HALT = 1  # ctx[DETAIL] = exit status
REASON_TRAP = 2  # ctx[DETAIL] = trap code
REASON_DEVICE = 3  # device I/O at ctx[PC]: the monitor emulates it (a VM exit)
REASON_FUEL = 4  # the block at ctx[PC] needs more instructions than the budget holds
REASON_MIDBLOCK = 5  # ctx[PC] is inside a translated block, not at its start
REASON_OUTSIDE = 6  # ctx[PC] is outside the translated text
REASON_CODE_WRITE = 7  # a store at ctx[PC] would change translated code

MAX_NATIVE_DEPTH = 1000  # nested guest calls run as native calls up to this depth (the host stack is finite)
TEXT_BASE = 0x1000


def _pointer_cast(element: types.Type):
    @intrinsic
    def cast(typingctx, address):
        sig = types.CPointer(element)(types.int64)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(types.CPointer(element)))

        return sig, codegen

    return cast


ptr_i64 = _pointer_cast(types.int64)
ptr_f64 = _pointer_cast(types.float64)
ptr_i32 = _pointer_cast(types.int32)
ptr_u32 = _pointer_cast(types.uint32)
ptr_i16 = _pointer_cast(types.int16)
ptr_u16 = _pointer_cast(types.uint16)
ptr_i8 = _pointer_cast(types.int8)
ptr_u8 = _pointer_cast(types.uint8)


@intrinsic
def call_region(typingctx, address, pc, ctx):
    """Call a translated region by address."""
    sig = types.int64(types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = builder.inttoptr(args[0], ir.FunctionType(i64, [i64, i64]).as_pointer())
        return builder.call(fn, [args[1], args[2]])

    return sig, codegen


@intrinsic
def call_hypercall(typingctx, address, host, n, r1, r2, r3, f0, mem, mem_size, r0_address):
    """Call the C vm_hypercall by address (see native/hostcalls.h)."""
    sig = types.int64(types.int64, types.int64, types.int64, types.int64, types.int64, types.int64,
                      types.float64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i64, f64 = ir.IntType(64), ir.DoubleType()
        fnty = ir.FunctionType(i64, [i64, i64, i64, i64, i64, f64, i64, i64, i64])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(fn, args[1:])

    return sig, codegen


@intrinsic
def f2bits(typingctx, value):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def bits2f(typingctx, value):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def fma(typingctx, a, b, c):
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64, f64, f64]))
        return builder.call(fn, args)

    return sig, codegen


# -- the pure functions of the semantics language, for native code -----------------------------------
CANONICAL_NAN_BITS = 0x7FF8000000000000
INT64_MIN = -(2**63)


@njit("i8(i8, i8)", cache=True)
def sdiv(a, b):
    if b == -1:
        return -a  # wraps: INT64_MIN / -1 = INT64_MIN
    q = a // b
    if q < 0 and q * b != a:
        q += 1  # floor to truncation
    return q


@njit("i8(i8, i8)", cache=True)
def srem(a, b):
    if b == -1:
        return 0
    return a - sdiv(a, b) * b


@njit("i8(i8, i8)", cache=True)
def shl(a, n):
    return a << (n & 63)


@njit("i8(i8, i8)", cache=True)
def lshr(a, n):
    return np.int64(np.uint64(a) >> np.uint64(n & 63))


@njit("i8(i8, i8)", cache=True)
def ashr(a, n):
    return a >> (n & 63)


@njit("i8(i8, i8)", cache=True)
def ult(a, b):
    return 1 if (a ^ INT64_MIN) < (b ^ INT64_MIN) else 0


@njit("f8(f8)", cache=True)
def fcanon(x):
    return bits2f(CANONICAL_NAN_BITS) if x != x else x


@njit("f8(f8)", cache=True)
def fsqrt(x):
    if x < 0.0:
        return bits2f(CANONICAL_NAN_BITS)
    return np.sqrt(x)


@njit("f8(f8, f8)", cache=True)
def fmin(a, b):
    if a != a or b != b:
        return bits2f(CANONICAL_NAN_BITS)
    if a == b:
        return a if f2bits(a) < 0 else b
    return a if a < b else b


@njit("f8(f8, f8)", cache=True)
def fmax(a, b):
    if a != a or b != b:
        return bits2f(CANONICAL_NAN_BITS)
    if a == b:
        return b if f2bits(a) < 0 else a
    return a if a > b else b


@njit("i8(f8)", cache=True)
def isnan(x):
    return 1 if x != x else 0


@njit("i8(f8)", cache=True)
def ftoi_ok(x):
    return 1 if -9223372036854775808.0 <= x < 9223372036854775808.0 else 0


@njit("i8(f8)", cache=True)
def ftoi(x):
    return np.int64(x)


@njit("f8(i8)", cache=True)
def itof(x):
    return np.float64(x)


# -- leaving native code --------------------------------------------------------------------------
# An exit is one int64 "leave" word: reason in bits 0-7, unused budget in bits 8-31, trap code above.
_MISALIGNED, _MEMFAULT, _UNSUPPORTED = int(Trap.MISALIGNED), int(Trap.MEMFAULT), int(Trap.UNSUPPORTED)


def leave_word(reason: int, unused: int, trap: int = 0) -> int:
    return reason | unused << 8 | trap << 32


@njit("i8(i8, i8[::1])", cache=True)
def unpack_leave(leave, ctx):
    """Store an exit's reason and trap code in ctx; returns the budget to give back."""
    ctx[CTX_REASON] = leave & 255
    if leave >> 32:
        ctx[CTX_DETAIL] = leave >> 32
    return (leave >> 8) & 0xFFFFFF


@njit("i8(i8, i8, i8)", cache=True)
def load_fault(address, size, mem_size):
    """0 if a load may proceed, else its leave word (MISALIGNED is checked before MEMFAULT)."""
    if address & (size - 1):
        return REASON_TRAP | _MISALIGNED << 32
    if address < TEXT_BASE or address > mem_size - size:
        return REASON_TRAP | _MEMFAULT << 32
    return 0


@njit("i8(i8, i8, i8, i8)", cache=True)
def store_fault(address, size, mem_size, text_end):
    """As load_fault, and a store into the translated text is refused."""
    fault = load_fault(address, size, mem_size)
    if fault == 0 and address < text_end:
        return REASON_CODE_WRITE
    return fault


@njit("i8(i8, i8)", cache=True)
def hypercall_leave(status, ctx_address):
    """The leave word for a hypercall that did not simply complete."""
    if status == 100:  # EXIT: the status is in the result slot
        carray(ptr_i64(ctx_address), CTX_SLOTS)[CTX_DETAIL] = carray(ptr_i64(ctx_address), CTX_SLOTS)[CTX_R0]
        return REASON_HALT
    if status == _UNSUPPORTED:  # a write into the translated text
        return REASON_CODE_WRITE
    return REASON_TRAP | status << 32


@njit("i8(i8, i8, i8)", cache=True)
def hypercall_result(status, r0, ctx_address):
    """r0 after a hypercall: its result where it has one."""
    if status == 1:
        return carray(ptr_i64(ctx_address), CTX_SLOTS)[CTX_R0]
    return r0


@njit("i8(i8, i8, i8)", cache=True)
def call_guest(target, ctx_address, return_pc):
    """A guest call as a native call of the target's region. 0 when the guest returned to
    return_pc; else 1 + the status to pass on (ctx[PC] says where execution continues)."""
    ctx = carray(ptr_i64(ctx_address), CTX_SLOTS)
    region = -1
    if TEXT_BASE <= target < ctx[CTX_TEXT_END] and not target & 7:
        region = carray(ptr_i64(ctx[CTX_LOOKUP]), (ctx[CTX_TEXT_END] - TEXT_BASE) >> 3)[(target - TEXT_BASE) >> 3]
    if region < 0 or ctx[CTX_DEPTH] >= MAX_NATIVE_DEPTH:
        ctx[CTX_PC] = target  # the dispatcher takes it from here (or stops: outside the text)
        return 1 + STATUS_JUMP
    ctx[CTX_DEPTH] += 1
    status = call_region(carray(ptr_i64(ctx[CTX_TABLE]), region + 1)[region], target, ctx_address)
    ctx[CTX_DEPTH] -= 1
    if status == STATUS_RETURN and ctx[CTX_PC] == return_pc:
        return 0
    return 1 + status


# -- the dispatcher -----------------------------------------------------------------------------------
@cfunc(types.int64(types.int64), cache=True)
def dispatch(ctx_address):
    """Enter translated code at ctx[PC] and follow jumps between regions until native code must stop."""
    ctx = carray(ptr_i64(ctx_address), CTX_SLOTS)
    while True:
        pc = ctx[CTX_PC]
        if pc < TEXT_BASE or pc >= ctx[CTX_TEXT_END] or pc & 7:
            ctx[CTX_REASON] = REASON_OUTSIDE
            return STATUS_EXIT
        words = (ctx[CTX_TEXT_END] - TEXT_BASE) >> 3
        region = carray(ptr_i64(ctx[CTX_LOOKUP]), words)[(pc - TEXT_BASE) >> 3]
        if region < 0:
            ctx[CTX_REASON] = REASON_MIDBLOCK
            return STATUS_EXIT
        table = carray(ptr_i64(ctx[CTX_TABLE]), region + 1)
        if call_region(table[region], pc, ctx_address) == STATUS_EXIT:
            return STATUS_EXIT
