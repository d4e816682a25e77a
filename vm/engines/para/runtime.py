"""What translated guest code runs on: intrinsics, helpers and the native dispatcher (Numba).

Translated regions are compiled to functions with the C signature `int64 region(int64 pc, int64 ctx)`
(see native.py). They find everything through `ctx`, the address of an int64 array (slots in abi.py):
guest registers and memory by address, the region table, and the C host services by address. Calls
between regions and into C go through function pointers (the intrinsics here), never through Python
objects, so compiled code is one self-contained object that another process loads without Numba.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import llvmlite.binding as llvm
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils, compiler, registry
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import CompilerBase
from numba.core.compiler_lock import global_compiler_lock
from numba.core.compiler_machinery import PassManager, register_pass
from numba.core.typed_passes import (
    AnnotateTypes,
    IRLegalization,
    NativeLowering,
    NoPythonBackend,
    NopythonTypeInference,
)
from numba.core.untyped_passes import FixupArgs, IRProcessing, TranslateByteCode
from numba.extending import intrinsic

from vm.engines.para.abi import (
    CTX_BUDGET,
    CTX_DETAIL,
    CTX_FREGS,
    CTX_LOOKUP,
    CTX_PC,
    CTX_R0,
    CTX_REASON,
    CTX_REGS,
    CTX_SLOTS,
    CTX_STACK_FLOOR,
    CTX_STACK_LIMIT,
    CTX_TABLE,
    CTX_TEXT_END,
    NATIVE_STACK_BYTES,
    REASON_CODE_WRITE,
    REASON_HALT,
    REASON_INTERPRET,
    REASON_OUTSIDE,
    REASON_TRAP,
    STATUS_EXIT,
    STATUS_JUMP,
    STATUS_RETURN,
    TEXT_BASE,
)
from vm.isa import Trap

NATIVE_OPTIONS = dict(error_model="numpy", no_cpython_wrapper=True, no_cfunc_wrapper=True)


@register_pass(mutates_CFG=True, analysis_only=False)
class TypeInferenceOncePerCall(NopythonTypeInference):
    """Numba's type inference, resolving each call signature once: it resolves every call again in
    each round of propagation, and generated code makes hundreds of calls to a few intrinsics with
    the same argument types. (The typing of a function for given argument types never changes.)"""

    _name = "para_type_inference"

    def run_pass(self, state) -> bool:
        context = state.typingctx
        resolve, known = context.resolve_function_type, {}

        def resolve_once(func, args, kws):
            key = (func, tuple(args), tuple(dict(kws).items()))
            if key not in known:
                known[key] = resolve(func, args, kws)
            return known[key]

        context.resolve_function_type = resolve_once
        try:
            return super().run_pass(state)
        finally:
            del context.resolve_function_type


class RegionCompiler(CompilerBase):
    """Numba's nopython pipeline without the passes that generated code never needs (closures,
    `with`, literal unrolling, array expressions, parfors, SSA for variables of changing type):
    region functions are straight-line statements on int64 and float64 locals, and each pass
    costs time in proportion to the code."""

    def define_pipelines(self):
        pm = PassManager("para region")
        pm.add_pass(TranslateByteCode, "analyzing bytecode")
        pm.add_pass(FixupArgs, "fix up args")
        pm.add_pass(IRProcessing, "processing IR")
        pm.add_pass(TypeInferenceOncePerCall, "nopython frontend")
        pm.add_pass(IRLegalization, "ensure IR is legal prior to lowering")
        pm.add_pass(AnnotateTypes, "annotate types")
        pm.add_pass(NativeLowering, "native lowering")
        pm.add_pass(NoPythonBackend, "nopython mode backend")
        pm.finalize()
        return [pm]


class _RegionLibrary(JITCodeLibrary):
    """Numba's code library, minus what a region does not need. Numba optimises each function's
    module, again after linking the functions it calls, and then makes machine code for its own JIT.
    A region is optimised once, after linking, and its machine code is made once, with the whole
    program's (native.py)."""

    entry = symbol = ""  # LLVM IR that calls the function, which has this symbol (see compile_region)

    def add_llvm_module(self, ll_module) -> None:
        self._final_module.link_in(ll_module)

    def finalize(self) -> None:
        for library in dict.fromkeys(self._linking_libraries):
            self._final_module.link_in(library._get_module_for_linking(), preserve=True)
        if self.entry:
            self._final_module.link_in(llvm.parse_assembly(self.entry))
            inner = self._final_module.get_function(self.symbol)
            inner.linkage = "internal"  # called from the entry point only, and inlined there
            inner.add_function_attribute("alwaysinline")
        passes, builder = self._codegen._module_pass_manager(opt=2)  # O3 only costs compile time here
        passes.run(self._final_module, builder)
        self._finalized = True


def compile_region(function, entry: Callable[[str], str]) -> tuple[str, str]:
    """A region function (`int64 f(int64 pc, int64 ctx_address)`) compiled by Numba in nopython mode
    to optimised LLVM IR: the module's text and the function's symbol in it. `entry(symbol)` is LLVM
    IR that calls the function and is optimised with it (the function is inlined into it)."""
    target = registry.cpu_target
    flags = compiler.Flags()
    target.options.parse_as_flags(flags, dict(NATIVE_OPTIONS, nopython=True))
    flags.no_compile = True  # no machine code here (see _RegionLibrary)
    with global_compiler_lock:
        library = _RegionLibrary(target.target_context.codegen(), function.__name__)
        result = compiler.compile_extra(target.typing_context, target.target_context, function,
                                        (types.int64, types.int64), types.int64, flags, {}, library=library,
                                        pipeline_class=RegionCompiler)
        symbol = result.fndesc.mangled_name
        library.entry, library.symbol = entry(symbol), symbol
        library.finalize()
    return library.get_llvm_str(), symbol


@intrinsic
def ptr_i64(typingctx, address):
    """An int64 address as a pointer to int64s (for `carray`)."""
    sig = types.CPointer(types.int64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))

    return sig, codegen


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


# -- the pure functions of the semantics language, as LLVM instructions ------------------------------
# Each is an intrinsic: one call in Numba's IR, a few LLVM instructions in the output. Numba types and
# lowers every call and branch of a generated function in Python, so this keeps compilation fast.
CANONICAL_NAN_BITS = 0x7FF8000000000000
INT64_MIN = -(2**63)
_I64, _F64 = ir.IntType(64), ir.DoubleType()


def _llvm(name: str, signature, build):
    """An intrinsic whose body `build(builder, *args)` emits LLVM instructions. Arguments of other
    types (an integer literal, a boolean) are converted to the signature's first."""

    def typer(typingctx, *actual):
        def codegen(context, builder, sig, args):
            converted = [context.cast(builder, value, have, want)
                         for value, have, want in zip(args, sig.args, signature.args, strict=True)]
            return build(builder, *converted)

        return signature.return_type(*actual), codegen

    # Numba binds a call's arguments to the typer's parameters, so it must have one per argument.
    parameters = [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                  for p in ["typingctx", *(f"a{i}" for i in range(len(signature.args)))]]
    typer.__signature__ = inspect.Signature(parameters)
    typer.__name__ = typer.__qualname__ = name
    return intrinsic(typer)


def _canonical_nan() -> ir.Constant:
    return ir.Constant(_I64, CANONICAL_NAN_BITS).bitcast(_F64)


def _llvm_intrinsic(builder: ir.IRBuilder, name: str, *args):
    fn = builder.module.declare_intrinsic(name, [_F64], ir.FunctionType(_F64, [_F64] * len(args)))
    return builder.call(fn, args)


def _safe_divisor(b, a_builder):
    """The divisor, or 1 where LLVM's division would be undefined (0, and -1 for INT64_MIN)."""
    bad = a_builder.or_(a_builder.icmp_signed("==", b, ir.Constant(_I64, 0)),
                        a_builder.icmp_signed("==", b, ir.Constant(_I64, -1)))
    return bad, a_builder.select(bad, ir.Constant(_I64, 1), b)


def _sdiv(b, x, y):
    bad, safe = _safe_divisor(y, b)
    negated = b.sub(ir.Constant(_I64, 0), x)  # x / -1 = -x, wrapping; a zero divisor trapped before
    return b.select(bad, negated, b.sdiv(x, safe))


def _srem(b, x, y):
    bad, safe = _safe_divisor(y, b)
    return b.select(bad, ir.Constant(_I64, 0), b.srem(x, safe))


def _amount(b, n):
    return b.and_(n, ir.Constant(_I64, 63))


def _fminmax(smaller: bool):
    def build(b, x, y):
        nan = b.fcmp_unordered("uno", x, y)
        equal = b.fcmp_ordered("==", x, y)
        x_negative = b.icmp_signed("<", b.bitcast(x, _I64), ir.Constant(_I64, 0))
        if smaller:  # -0.0 orders below +0.0
            on_equal, other = b.select(x_negative, x, y), b.select(b.fcmp_ordered("<", x, y), x, y)
        else:
            on_equal, other = b.select(x_negative, y, x), b.select(b.fcmp_ordered(">", x, y), x, y)
        return b.select(nan, _canonical_nan(), b.select(equal, on_equal, other))
    return build


def _fsqrt(b, x):
    negative = b.fcmp_ordered("<", x, ir.Constant(_F64, 0.0))
    return b.select(negative, _canonical_nan(), _llvm_intrinsic(b, "llvm.sqrt", x))


def _ftoi_ok(b, x):
    low = b.fcmp_ordered(">=", x, ir.Constant(_F64, -9223372036854775808.0))
    high = b.fcmp_ordered("<", x, ir.Constant(_F64, 9223372036854775808.0))
    return b.zext(b.and_(low, high), _I64)


_i = types.int64
_f = types.float64
f2bits = _llvm("f2bits", _i(_f), lambda b, x: b.bitcast(x, _I64))
bits2f = _llvm("bits2f", _f(_i), lambda b, x: b.bitcast(x, _F64))
fma = _llvm("fma", _f(_f, _f, _f), lambda b, x, y, z: _llvm_intrinsic(b, "llvm.fma", x, y, z))
sdiv = _llvm("sdiv", _i(_i, _i), _sdiv)
srem = _llvm("srem", _i(_i, _i), _srem)
shl = _llvm("shl", _i(_i, _i), lambda b, x, n: b.shl(x, _amount(b, n)))
lshr = _llvm("lshr", _i(_i, _i), lambda b, x, n: b.lshr(x, _amount(b, n)))
ashr = _llvm("ashr", _i(_i, _i), lambda b, x, n: b.ashr(x, _amount(b, n)))
# LLVM's plain add, sub and mul wrap modulo 2^64 (no nsw flag, unlike Numba's int64 operators).
wrapping_add = _llvm("wrapping_add", _i(_i, _i), lambda b, x, y: b.add(x, y))
wrapping_sub = _llvm("wrapping_sub", _i(_i, _i), lambda b, x, y: b.sub(x, y))
wrapping_mul = _llvm("wrapping_mul", _i(_i, _i), lambda b, x, y: b.mul(x, y))
ult = _llvm("ult", _i(_i, _i), lambda b, x, y: b.zext(b.icmp_unsigned("<", x, y), _I64))


def _opaque(b, x):
    """x, as a value that LLVM knows nothing about: an empty inline asm, no instruction. LLVM treats
    NaN payloads as unspecified: knowing that x came from a square root, it folded `fcanon(fsqrt(x))`
    into a bare square root, whose NaN on x86 is 0xFFF8..."""
    return b.asm(ir.FunctionType(_F64, [_F64]), "", "=x,0", [x], side_effect=False)


def _fcanon(b, x):
    x = _opaque(b, x)
    return b.select(b.fcmp_unordered("uno", x, x), _canonical_nan(), x)


def _nan_flag(b, flags, n):
    """Float register n's flag: byte n at address `flags` (see nan_flag_bytes), 1 if the register may
    hold a NaN still to canonicalise (see translate.py)."""
    return b.gep(b.inttoptr(flags, ir.IntType(8).as_pointer()), [n])


def _fexact(b, x, flags, n):
    """Float register n's value x, canonicalised if its flag says that it may hold a NaN from
    arithmetic."""
    deferred = b.icmp_unsigned("!=", b.load(_nan_flag(b, flags, n)), ir.Constant(ir.IntType(8), 0))
    return b.select(deferred, _fcanon(b, x), x)


def _set_nan_flag(b, flags, n, value):
    b.store(b.trunc(value, ir.IntType(8)), _nan_flag(b, flags, n))
    return ir.Constant(_I64, 0)


def _move_nan_flag(b, flags, source, target):
    return _set_nan_flag(b, flags, target, b.zext(b.load(_nan_flag(b, flags, source)), _I64))


@intrinsic
def nan_flag_bytes(typingctx):
    """The address of a region call's NaN flags: 16 bytes in its own stack frame. They never outlive
    the call (a spill canonicalises what they flag, a reload clears them), so LLVM keeps them in
    registers where it can, and stores none in a loop that only sets them: in ctx, which guest stores
    might alias as far as LLVM knows, each flag was stored on every turn of a float loop."""
    def codegen(context, builder, signature, args):
        return builder.ptrtoint(cgutils.alloca_once(builder, ir.ArrayType(ir.IntType(8), 16)), _I64)

    return types.int64(), codegen


fcanon = _llvm("fcanon", _f(_f), _fcanon)
fexact = _llvm("fexact", _f(_f, _i, _i), _fexact)  # fexact(x, flags, n)
set_nan_flag = _llvm("set_nan_flag", _i(_i, _i, _i), _set_nan_flag)  # set_nan_flag(flags, n, 0 or 1)
move_nan_flag = _llvm("move_nan_flag", _i(_i, _i, _i), _move_nan_flag)  # move_nan_flag(flags, from, to)
fsqrt = _llvm("fsqrt", _f(_f), _fsqrt)
fmin = _llvm("fmin", _f(_f, _f), _fminmax(smaller=True))
fmax = _llvm("fmax", _f(_f, _f), _fminmax(smaller=False))
isnan = _llvm("isnan", _i(_f), lambda b, x: b.zext(b.fcmp_unordered("uno", x, x), _I64))
ftoi_ok = _llvm("ftoi_ok", _i(_f), _ftoi_ok)
ftoi = _llvm("ftoi", _i(_f), lambda b, x: b.fptosi(x, _I64))
itof = _llvm("itof", _f(_i), lambda b, x: b.sitofp(x, _F64))


@intrinsic
def select(typingctx, condition, if_true, if_false):
    """`a if c else b` without a branch (both sides are pure, so both may be evaluated)."""
    result = typingctx.unify_types(types.unliteral(if_true), types.unliteral(if_false))
    if isinstance(result, types.Integer):
        result = types.int64
    sig = result(condition, if_true, if_false)

    def codegen(context, builder, signature, args):
        c = context.cast(builder, args[0], signature.args[0], types.boolean)
        a = context.cast(builder, args[1], signature.args[1], result)
        b = context.cast(builder, args[2], signature.args[2], result)
        return builder.select(c, a, b)

    return sig, codegen


# -- guest memory: checks, loads and stores -----------------------------------------------------------
# An access at `base + offset` (wrapping) is two calls in generated code: a check that gives 0, or the
# leave word of the fault (with the budget of the `unused` instructions to give back), then the access.
def _misaligned(b, address, size):
    """True if an access of `size` bytes (a power of two) at address is not aligned to its size."""
    return b.icmp_signed("!=", b.and_(address, b.sub(size, ir.Constant(_I64, 1))), ir.Constant(_I64, 0))


def _fault(b, address, size, mem_size, text_end=None):
    """The leave word of an access that must not happen (MISALIGNED before MEMFAULT), else 0. It is
    computed only where `_bad_access` found the access bad, and agrees with it: never 0 there."""
    zero = ir.Constant(_I64, 0)
    misaligned = _misaligned(b, address, size)
    outside = b.or_(b.icmp_signed("<", address, ir.Constant(_I64, TEXT_BASE)),
                    b.icmp_signed(">", address, b.sub(mem_size, size)))
    word = b.select(outside, ir.Constant(_I64, REASON_TRAP | int(Trap.MEMFAULT) << 32), zero)
    if text_end is not None:
        in_text = b.icmp_signed("<", address, text_end)
        word = b.select(outside, word, b.select(in_text, ir.Constant(_I64, REASON_CODE_WRITE), zero))
    return b.select(misaligned, ir.Constant(_I64, REASON_TRAP | int(Trap.MISALIGNED) << 32), word)


def _outside(b, address, size, mem_size, low):
    """True if some of the `size` bytes at address are not inside [low, mem_size). One unsigned
    compare: `address - low` lies in [0, mem_size - size - low] exactly when they are all inside."""
    room = b.sub(mem_size, b.add(size, low))
    return b.or_(b.icmp_unsigned(">", b.sub(address, low), room), b.icmp_signed("<", room, ir.Constant(_I64, 0)))


def _bad_access(b, address, size, mem_size, low):
    """True if the access may not happen as it is (`_fault` says why). Addresses below `low` are bad
    (the text, for a store)."""
    return b.or_(_outside(b, address, size, mem_size, low), _misaligned(b, address, size))


def _check(store: bool):
    def build(b, base, offset, size, mem_size, *rest):
        text_end, unused = rest if store else (None, rest[0])
        address = b.add(base, offset)
        low = text_end if store else ir.Constant(_I64, TEXT_BASE)
        fine = b.block
        with b.if_then(_bad_access(b, address, size, mem_size, low), likely=False):
            word = b.add(_fault(b, address, size, mem_size, text_end), b.shl(unused, ir.Constant(_I64, 8)))
            bad = b.block
        leave = b.phi(_I64)
        leave.add_incoming(ir.Constant(_I64, 0), fine)
        leave.add_incoming(word, bad)
        return leave
    return build


# check_load(base, offset, size, mem_size, unused), check_store(base, offset, size, mem_size, text_end, unused)
check_load = _llvm("check_load", _i(_i, _i, _i, _i, _i), _check(store=False))
check_store = _llvm("check_store", _i(_i, _i, _i, _i, _i, _i), _check(store=True))


def _window_bad(b, base, offset, span, align, stores, text_end, mem_size):
    """True if an access in the window might fault: [base + offset, base + offset + span) is not
    inside memory, or base is not a multiple of align, or base + stores (the lowest byte stored to)
    is below text_end (0 for a window without stores)."""
    bad = b.or_(_outside(b, b.add(base, offset), span, mem_size, ir.Constant(_I64, TEXT_BASE)),
                _misaligned(b, base, align))
    return b.or_(bad, b.icmp_unsigned("<", b.add(base, stores), text_end))


def _check_window(b, base, offset, span, align, stores, text_end, mem_size, unused):
    """A leave word that has the interpreter run the block (REASON_INTERPRET, none of it retired)
    where an access of the window might fault (`_window_bad`), else 0."""
    word = b.add(ir.Constant(_I64, REASON_INTERPRET), b.shl(unused, ir.Constant(_I64, 8)))
    bad = _window_bad(b, base, offset, span, align, stores, text_end, mem_size)
    return b.select(bad, word, ir.Constant(_I64, 0))


# check_window(base, offset, span, align, stores, text_end, mem_size, unused): see windows.py
check_window = _llvm("check_window", _i(_i, _i, _i, _i, _i, _i, _i, _i), _check_window)

_SMALL = 1 << 31  # strides and turns below this: their products stay far from wrapping
_LARGE = 1 << 62  # counters and bounds below this: no sum of one and a stride wraps


def _below(b, value, limit):
    return b.icmp_unsigned("<", value, ir.Constant(_I64, limit))


def _loop_turns(b, counter, stride, bound):
    """How many turns a loop makes at most that continues while counter + stride (added each turn)
    is below bound, or 0 where that is not known: the stride in (0, 2^31), counter and bound in
    [0, 2^62) (where signed and unsigned compares agree), and fewer than 2^31 turns."""
    one = ir.Constant(_I64, 1)
    known = b.and_(b.and_(_below(b, b.sub(stride, one), _SMALL - 1), _below(b, counter, _LARGE)),
                   _below(b, bound, _LARGE))
    ahead = b.sub(bound, counter)
    turns = b.sdiv(b.add(ahead, b.sub(b.select(known, stride, one), one)), b.select(known, stride, one))
    turns = b.select(b.icmp_signed("<", turns, one), one, turns)
    return b.select(b.and_(known, _below(b, turns, _SMALL)), turns, ir.Constant(_I64, 0))


def _loop_window_fits(b, base, offset, span, align, stores, text_end, stride, turns, mem_size):
    """1 if no access of a loop's window can fault in `turns` turns of base moving by stride, else 0:
    `_window_bad` for the window that all turns' windows make, and the stride aligned as the base."""
    zero, one = ir.Constant(_I64, 0), ir.Constant(_I64, 1)
    small = _below(b, b.add(stride, ir.Constant(_I64, _SMALL)), 2 * _SMALL)  # -2^31 <= stride < 2^31
    reach = b.mul(b.sub(turns, one), b.select(small, stride, zero))  # the last turn's base - the first's
    backwards = b.icmp_signed("<", reach, zero)
    back = b.select(backwards, reach, zero)  # the lowest turn's base - the first's
    length = b.add(span, b.select(backwards, b.neg(reach), reach))
    bad = b.or_(_window_bad(b, b.add(base, back), offset, length, align, stores, text_end, mem_size),
                _misaligned(b, stride, align))
    return b.select(b.and_(small, b.not_(bad)), one, zero)


# loop_turns(counter, stride, bound), loop_window_fits(base, offset, span, align, stores, text_end,
# stride, turns, mem_size): see windows.loop_accesses
loop_turns = _llvm("loop_turns", _i(_i, _i, _i), _loop_turns)
loop_window_fits = _llvm("loop_window_fits", _i(_i, _i, _i, _i, _i, _i, _i, _i, _i), _loop_window_fits)


def _pointer(b, mem, base, offset, element):
    return b.inttoptr(b.add(mem, b.add(base, offset)), element.as_pointer())


def _load(bits: int, signed: bool):
    def build(b, mem, base, offset):
        value = b.load(_pointer(b, mem, base, offset, ir.IntType(bits)), align=bits // 8)
        if bits == 64:
            return value
        return b.sext(value, _I64) if signed else b.zext(value, _I64)
    return _llvm(f"load_{'i' if signed else 'u'}{bits}", _i(_i, _i, _i), build)


def _store(bits: int):
    def build(b, mem, base, offset, value):
        narrow = value if bits == 64 else b.trunc(value, ir.IntType(bits))
        b.store(narrow, _pointer(b, mem, base, offset, ir.IntType(bits)), align=bits // 8)
        return ir.Constant(_I64, 0)
    return _llvm(f"store_{bits}", _i(_i, _i, _i, _i), build)


def _store_f64(b, mem, base, offset, value):
    b.store(value, _pointer(b, mem, base, offset, _F64), align=8)
    return ir.Constant(_I64, 0)


# load_X(mem, base, offset), store_X(mem, base, offset, value): mem is the guest memory's host address
load_i64, load_i32, load_u32 = _load(64, True), _load(32, True), _load(32, False)
load_i16, load_u16, load_i8, load_u8 = _load(16, True), _load(16, False), _load(8, True), _load(8, False)
store_64, store_32, store_16, store_8 = _store(64), _store(32), _store(16), _store(8)
load_f64 = _llvm("load_f64", _f(_i, _i, _i), lambda b, mem, base, offset: b.load(
    _pointer(b, mem, base, offset, _F64), align=8))
store_f64 = _llvm("store_f64", _i(_i, _i, _i, _f), _store_f64)


# -- the context's slots ----------------------------------------------------------------------------
def _slot_pointer(b, ctx_address, index):
    return b.gep(b.inttoptr(ctx_address, _I64.as_pointer()), [index])


slot = _llvm("slot", _i(_i, _i), lambda b, ctx_address, index: b.load(_slot_pointer(b, ctx_address, index)))


def _set_slot(b, ctx_address, index, value):
    b.store(value, _slot_pointer(b, ctx_address, index))
    return ir.Constant(_I64, 0)


set_slot = _llvm("set_slot", _i(_i, _i, _i), _set_slot)


# -- guest registers in native locals ----------------------------------------------------------------
def register_transfer(ints: tuple[int, ...], floats: tuple[int, ...], deferred: tuple[int, ...] = ()):
    """Two intrinsics for a region that keeps the budget and these registers in native locals:
    `spill(ctx_address, flags, budget, *registers)` stores them to ctx and the guest's register
    arrays, `reload(ctx_address, flags)` returns them as a tuple. `deferred` are the float registers
    with a NaN flag (at `flags`, see nan_flag_bytes): one that may hold a NaN still to canonicalise
    (see translate.py) is canonicalised on the way out, and the flags are cleared on the way in.
    Each is one call in Numba's IR, a few loads or stores in LLVM's, and no function of its own to
    compile."""
    values = [types.int64] * (1 + len(ints)) + [types.float64] * len(floats)
    state = types.Tuple(values)
    float_at = {1 + len(ints) + k: n for k, n in enumerate(floats)}

    def slots(builder, ctx_address):
        def in_ctx(slot):
            return _slot_pointer(builder, ctx_address, ir.Constant(_I64, slot))

        def array(slot, element):
            return builder.inttoptr(builder.load(in_ctx(slot)), element.as_pointer())

        regs, fregs = array(CTX_REGS, _I64), array(CTX_FREGS, _F64)
        places = [(regs, n) for n in ints] + [(fregs, n) for n in floats]
        return [in_ctx(CTX_BUDGET)] + [builder.gep(base, [ir.Constant(_I64, index)]) for base, index in places]

    @intrinsic
    def spill(typingctx, ctx_address, flags, *registers):
        def codegen(context, builder, signature, args):
            for i, slot in enumerate(slots(builder, args[0])):
                value = builder.extract_value(args[2], i)
                if float_at.get(i) in deferred:
                    value = _fexact(builder, value, args[1], ir.Constant(_I64, float_at[i]))
                builder.store(value, slot)
            return context.get_dummy_value()

        return types.void(types.int64, types.int64, types.StarArgTuple(values)), codegen

    @intrinsic
    def reload(typingctx, ctx_address, flags):
        def codegen(context, builder, signature, args):
            loaded = [builder.load(slot) for slot in slots(builder, args[0])]
            for n in deferred:
                _set_nan_flag(builder, args[1], ir.Constant(_I64, n), ir.Constant(_I64, 0))
            return context.make_tuple(builder, state, loaded)

        return state(types.int64, types.int64), codegen

    return spill, reload


# -- leaving native code --------------------------------------------------------------------------
_UNSUPPORTED = int(Trap.UNSUPPORTED)


def _unpack_leave(b, leave, ctx_address):
    """Store an exit's reason (and trap code, if it has one) in ctx; the budget to give back."""
    constant = functools.partial(ir.Constant, _I64)
    b.store(b.and_(leave, constant(255)), _slot_pointer(b, ctx_address, constant(CTX_REASON)))
    trap = b.ashr(leave, constant(32))
    detail = _slot_pointer(b, ctx_address, constant(CTX_DETAIL))
    b.store(b.select(b.icmp_signed("!=", trap, constant(0)), trap, b.load(detail)), detail)
    return b.and_(b.ashr(leave, constant(8)), constant(0xFFFFFF))


unpack_leave = _llvm("unpack_leave", _i(_i, _i), _unpack_leave)


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


@njit("i8(i8, i8[::1])", cache=True)
def region_of(target, ctx):
    """The index of the region that starts a block at target, else -1."""
    if TEXT_BASE <= target < ctx[CTX_TEXT_END] and not target & 7:
        return carray(ptr_i64(ctx[CTX_LOOKUP]), (ctx[CTX_TEXT_END] - TEXT_BASE) >> 3)[(target - TEXT_BASE) >> 3]
    return -1


@intrinsic
def stack_address(typingctx):
    """An address in the current native stack frame (the stack grows down)."""
    def codegen(context, builder, signature, args):
        return builder.ptrtoint(cgutils.alloca_once(builder, ir.IntType(8)), _I64)

    return types.int64(), codegen


@njit("i8(i8, i8, i8)", cache=True)
def enter_region(region, target, ctx_address):
    """Continue at target as a native call of its region (the caller's registers already stored);
    returns that region's status. Where native calls nest too deep, the dispatcher takes over:
    ctx[PC] = target, STATUS_JUMP."""
    ctx = carray(ptr_i64(ctx_address), CTX_SLOTS)
    if stack_address() < ctx[CTX_STACK_LIMIT]:
        ctx[CTX_PC] = target
        return STATUS_JUMP
    return call_region(carray(ptr_i64(ctx[CTX_TABLE]), region + 1)[region], target, ctx_address)


@njit("i8(i8, i8)", cache=True)
def jump_guest(target, ctx_address):
    """`enter_region` of the region that starts a block at target; where there is none, the
    dispatcher takes over (or stops: outside the text). A jump forward into another region uses
    this directly, so the native stack unwinds at a guest return or an exit, not at such a jump."""
    ctx = carray(ptr_i64(ctx_address), CTX_SLOTS)
    region = region_of(target, ctx)
    if region < 0:
        ctx[CTX_PC] = target
        return STATUS_JUMP
    return enter_region(region, target, ctx_address)


@njit("i8(i8, i8, i8)", cache=True)
def _returned(status, ctx_address, return_pc):
    """0 when a call returned to return_pc; else 1 + the status to pass on."""
    if status == STATUS_RETURN and carray(ptr_i64(ctx_address), CTX_SLOTS)[CTX_PC] == return_pc:
        return 0
    return 1 + status


@njit("i8(i8, i8, i8)", cache=True)
def call_guest(target, ctx_address, return_pc):
    """A guest call as a native call of the target's region. 0 when the guest returned to
    return_pc; else 1 + the status to pass on (ctx[PC] says where execution continues)."""
    return _returned(jump_guest(target, ctx_address), ctx_address, return_pc)


@njit("i8(i8, i8, i8, i8)", cache=True)
def call_guest_region(region, target, ctx_address, return_pc):
    """`call_guest` where the translator knows the target's region."""
    return _returned(enter_region(region, target, ctx_address), ctx_address, return_pc)


# -- the dispatcher -----------------------------------------------------------------------------------
@njit(types.int64(types.int64), cache=True, **NATIVE_OPTIONS)
def dispatch(ctx_address):
    """Enter translated code at ctx[PC] and follow jumps between regions until native code must
    stop; returns why (ctx[REASON])."""
    ctx = carray(ptr_i64(ctx_address), CTX_SLOTS)
    ctx[CTX_STACK_LIMIT] = max(stack_address() - NATIVE_STACK_BYTES, ctx[CTX_STACK_FLOOR])
    while True:
        pc = ctx[CTX_PC]
        if pc < TEXT_BASE or pc >= ctx[CTX_TEXT_END] or pc & 7:
            ctx[CTX_REASON] = REASON_OUTSIDE
            return REASON_OUTSIDE
        region = region_of(pc, ctx)
        if region < 0:
            ctx[CTX_REASON] = REASON_INTERPRET
            return REASON_INTERPRET
        table = carray(ptr_i64(ctx[CTX_TABLE]), region + 1)
        if call_region(table[region], pc, ctx_address) == STATUS_EXIT:
            return ctx[CTX_REASON]
