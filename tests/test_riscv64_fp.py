"""RISC-V F and D arithmetic (native/riscv_fp.c, vm_rv_fp): hand-checked cases from the spec's rules,
then thousands of generated cases compared with real instructions run under qemu-riscv64."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import INT64_MAX, INT64_MIN, M64, f2b, s64, u64
from riscv64_support import missing_tool
from vm._hostcalls import ffi, lib

S, D = lib.VM_RV_FP_FMT_S, lib.VM_RV_FP_FMT_D
RNE, RTZ, RDN, RUP, RMM = lib.VM_RV_FP_RNE, lib.VM_RV_FP_RTZ, lib.VM_RV_FP_RDN, lib.VM_RV_FP_RUP, lib.VM_RV_FP_RMM
MODES = (RNE, RTZ, RDN, RUP, RMM)
NV, DZ, OF, UF, NX = lib.VM_RV_FP_NV, lib.VM_RV_FP_DZ, lib.VM_RV_FP_OF, lib.VM_RV_FP_UF, lib.VM_RV_FP_NX

BOX = 0xFFFFFFFF00000000
CANON_S = BOX | 0x7FC00000
CANON_D = 0x7FF8000000000000
SNAN_S = BOX | 0x7F800001
SNAN_D = 0x7FF0000000000001
INF_S, INF_D = BOX | 0x7F800000, 0x7FF0000000000000
NEG_INF_D = 0xFFF0000000000000
MAX_S, MAX_D = BOX | 0x7F7FFFFF, 0x7FEFFFFFFFFFFFFF
MIN_NORMAL_D, MAX_SUBNORMAL_D = 0x0010000000000000, 0x000FFFFFFFFFFFFF


def fs(x: float) -> int:
    """The NaN-boxed register value of the single x (which must be exact in binary32)."""
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    assert struct.unpack("<f", struct.pack("<I", bits))[0] == x or x != x
    return BOX | bits


def fd(x: float) -> int:
    return f2b(x)


def rv_fp(op: int, fmt: int, a: int, b: int = 0, c: int = 0, rm: int = RNE) -> tuple[int, int]:
    """vm_rv_fp's result (unsigned 64 bits) and the flags it raised."""
    flags = ffi.new("int32_t *")
    result = lib.vm_rv_fp(op, fmt, s64(a), s64(b), s64(c), rm, flags)
    return u64(result), flags[0]


def case(name: str, op: int, fmt: int, a: int, b: int = 0, c: int = 0, rm: int = RNE, *, result: int,
         flags: int = 0):
    return pytest.param(op, fmt, a, b, c, rm, u64(result), flags, id=name)


def every_mode(name: str, op: int, fmt: int, a: int, b: int, c: int, results: tuple[int, ...], flags: int):
    """One case per rounding mode, results in the order RNE, RTZ, RDN, RUP, RMM."""
    names = ("rne", "rtz", "rdn", "rup", "rmm")
    return [case(f"{name}-{names[rm]}", op, fmt, a, b, c, rm, result=r, flags=flags)
            for rm, r in zip(MODES, results, strict=True)]


ONE_MINUS_HALF_ULP_D = 0x3FEFFFFFFFFFFFFF  # 1 - 2^-53
HAND_CASES = [
    # Every NaN result is the canonical NaN; NV only for signalling NaNs and invalid operations.
    case("add.s-quiet-nan-payload", lib.VM_RV_FP_ADD, S, BOX | 0x7FC12345, fs(1.0), result=CANON_S),
    case("add.d-signalling-nan", lib.VM_RV_FP_ADD, D, SNAN_D, fd(1.0), result=CANON_D, flags=NV),
    case("sub.d-inf-minus-inf", lib.VM_RV_FP_SUB, D, INF_D, INF_D, result=CANON_D, flags=NV),
    case("mul.s-zero-times-inf", lib.VM_RV_FP_MUL, S, fs(0.0), INF_S, result=CANON_S, flags=NV),
    case("div.d-zero-by-zero", lib.VM_RV_FP_DIV, D, fd(0.0), fd(-0.0), result=CANON_D, flags=NV),
    case("div.d-by-zero", lib.VM_RV_FP_DIV, D, fd(1.0), fd(0.0), result=INF_D, flags=DZ),
    case("div.s-by-negative-zero", lib.VM_RV_FP_DIV, S, fs(1.0), fs(-0.0), result=fs(float("-inf")), flags=DZ),
    case("div.d-inf-by-zero-is-exact", lib.VM_RV_FP_DIV, D, INF_D, fd(0.0), result=INF_D),
    # A single that is not NaN-boxed reads as the canonical (quiet) NaN.
    case("add.s-unboxed-one", lib.VM_RV_FP_ADD, S, 0x3F800000, fs(1.0), result=CANON_S),
    case("add.s-unboxed-signalling-pattern", lib.VM_RV_FP_ADD, S, 0x7F800001, fs(1.0), result=CANON_S),
    case("mul.s-half-boxed", lib.VM_RV_FP_MUL, S, 0xFFFF00003F800000, fs(2.0), result=CANON_S),
    # sqrt
    case("sqrt.d-negative", lib.VM_RV_FP_SQRT, D, fd(-1.0), result=CANON_D, flags=NV),
    case("sqrt.d-negative-zero", lib.VM_RV_FP_SQRT, D, fd(-0.0), result=fd(-0.0)),
    case("sqrt.d-exact", lib.VM_RV_FP_SQRT, D, fd(4.0), result=fd(2.0)),
    case("sqrt.s-two-rne", lib.VM_RV_FP_SQRT, S, fs(2.0), result=BOX | 0x3FB504F3, flags=NX),
    case("sqrt.s-two-rup", lib.VM_RV_FP_SQRT, S, fs(2.0), rm=RUP, result=BOX | 0x3FB504F4, flags=NX),
    case("sqrt.s-two-rmm", lib.VM_RV_FP_SQRT, S, fs(2.0), rm=RMM, result=BOX | 0x3FB504F3, flags=NX),
    # fmin/fmax: minimumNumber/maximumNumber, -0.0 < +0.0, NV only for a signalling NaN.
    case("min.s-quiet-nan-gives-other", lib.VM_RV_FP_MIN, S, CANON_S, fs(1.0), result=fs(1.0)),
    case("min.s-signalling-nan-gives-other", lib.VM_RV_FP_MIN, S, fs(1.0), SNAN_S, result=fs(1.0), flags=NV),
    case("min.s-unboxed-gives-other", lib.VM_RV_FP_MIN, S, fs(2.0), 0x40000000, result=fs(2.0)),
    case("max.d-two-nans", lib.VM_RV_FP_MAX, D, 0x7FF8000000000123, 0xFFF8000000000001, result=CANON_D),
    case("max.d-two-signalling", lib.VM_RV_FP_MAX, D, SNAN_D, SNAN_D, result=CANON_D, flags=NV),
    case("min.d-zeros", lib.VM_RV_FP_MIN, D, fd(0.0), fd(-0.0), result=fd(-0.0)),
    case("min.d-zeros-swapped", lib.VM_RV_FP_MIN, D, fd(-0.0), fd(0.0), result=fd(-0.0)),
    case("max.d-zeros", lib.VM_RV_FP_MAX, D, fd(-0.0), fd(0.0), result=fd(0.0)),
    case("max.s-zeros", lib.VM_RV_FP_MAX, S, fs(0.0), fs(-0.0), result=fs(0.0)),
    case("min.d-values", lib.VM_RV_FP_MIN, D, fd(2.0), fd(-1.0), result=fd(-1.0)),
    case("max.s-values", lib.VM_RV_FP_MAX, S, fs(2.0), fs(-1.0), result=fs(2.0)),
    # feq is quiet; flt and fle signal on any NaN.
    case("eq.d-quiet-nan", lib.VM_RV_FP_EQ, D, CANON_D, CANON_D, result=0),
    case("eq.s-signalling-nan", lib.VM_RV_FP_EQ, S, SNAN_S, fs(1.0), result=0, flags=NV),
    case("lt.d-quiet-nan", lib.VM_RV_FP_LT, D, CANON_D, fd(1.0), result=0, flags=NV),
    case("le.s-quiet-nan", lib.VM_RV_FP_LE, S, fs(1.0), CANON_S, result=0, flags=NV),
    case("eq.d-zeros", lib.VM_RV_FP_EQ, D, fd(-0.0), fd(0.0), result=1),
    case("lt.d-zeros", lib.VM_RV_FP_LT, D, fd(-0.0), fd(0.0), result=0),
    case("le.d-zeros", lib.VM_RV_FP_LE, D, fd(0.0), fd(-0.0), result=1),
    case("lt.s-values", lib.VM_RV_FP_LT, S, fs(1.0), fs(2.0), result=1),
    case("le.d-infinities", lib.VM_RV_FP_LE, D, INF_D, INF_D, result=1),
    case("eq.s-unboxed", lib.VM_RV_FP_EQ, S, 0x3F800000, 0x3F800000, result=0),
    # fclass: one bit for each of ten classes.
    case("class.d-negative-inf", lib.VM_RV_FP_CLASS, D, NEG_INF_D, result=1 << 0),
    case("class.d-negative-normal", lib.VM_RV_FP_CLASS, D, fd(-1.0), result=1 << 1),
    case("class.d-negative-subnormal", lib.VM_RV_FP_CLASS, D, 0x8000000000000001, result=1 << 2),
    case("class.d-negative-zero", lib.VM_RV_FP_CLASS, D, fd(-0.0), result=1 << 3),
    case("class.d-positive-zero", lib.VM_RV_FP_CLASS, D, fd(0.0), result=1 << 4),
    case("class.d-positive-subnormal", lib.VM_RV_FP_CLASS, D, MAX_SUBNORMAL_D, result=1 << 5),
    case("class.d-positive-normal", lib.VM_RV_FP_CLASS, D, MIN_NORMAL_D, result=1 << 6),
    case("class.d-positive-inf", lib.VM_RV_FP_CLASS, D, INF_D, result=1 << 7),
    case("class.d-signalling-nan", lib.VM_RV_FP_CLASS, D, SNAN_D, result=1 << 8),
    case("class.d-quiet-nan", lib.VM_RV_FP_CLASS, D, 0xFFF8000000000000, result=1 << 9),
    case("class.s-signalling-nan", lib.VM_RV_FP_CLASS, S, BOX | 0x7FA00000, result=1 << 8),
    case("class.s-subnormal", lib.VM_RV_FP_CLASS, S, BOX | 0x007FFFFF, result=1 << 5),
    case("class.s-unboxed-is-quiet-nan", lib.VM_RV_FP_CLASS, S, 0x7FA00000, result=1 << 9),
    # Sign injection takes the sign from b's bits (after unboxing) and keeps NaNs as they are.
    case("sgnj.s", lib.VM_RV_FP_SGNJ, S, fs(1.0), fs(-2.0), result=fs(-1.0)),
    case("sgnj.s-unboxed-b-is-positive", lib.VM_RV_FP_SGNJ, S, fs(1.0), 0xBF800000, result=fs(1.0)),
    case("sgnj.s-unboxed-a", lib.VM_RV_FP_SGNJ, S, 0x3F800000, fs(-1.0), result=BOX | 0xFFC00000),
    case("sgnjn.s", lib.VM_RV_FP_SGNJN, S, fs(1.0), fs(-2.0), result=fs(1.0)),
    case("sgnjx.s", lib.VM_RV_FP_SGNJX, S, fs(-1.0), fs(-2.0), result=fs(1.0)),
    case("sgnjx.d", lib.VM_RV_FP_SGNJX, D, fd(-1.0), fd(2.0), result=fd(-1.0)),
    case("sgnjn.d-nan-payload-kept", lib.VM_RV_FP_SGNJN, D, 0x7FF8000000000123, fd(1.0), result=0xFFF8000000000123),
    case("sgnj.d-signalling-nan-quiet", lib.VM_RV_FP_SGNJ, D, SNAN_D, fd(-1.0), result=0xFFF0000000000001),
    # Conversions to integers saturate: NaN and too large give the maximum, too small the minimum.
    case("cvt.w.d-nan", lib.VM_RV_FP_CVT_W, D, CANON_D, result=0x7FFFFFFF, flags=NV),
    case("cvt.w.d-negative-nan", lib.VM_RV_FP_CVT_W, D, 0xFFF8000000000000, result=0x7FFFFFFF, flags=NV),
    case("cvt.w.d-inf", lib.VM_RV_FP_CVT_W, D, INF_D, result=0x7FFFFFFF, flags=NV),
    case("cvt.w.d-negative-inf", lib.VM_RV_FP_CVT_W, D, NEG_INF_D, result=-(1 << 31), flags=NV),
    case("cvt.w.d-max", lib.VM_RV_FP_CVT_W, D, fd(2147483647.0), result=2147483647),
    case("cvt.w.d-max-plus-one", lib.VM_RV_FP_CVT_W, D, fd(2147483648.0), result=2147483647, flags=NV),
    case("cvt.w.d-rounds-out-of-range", lib.VM_RV_FP_CVT_W, D, fd(2147483647.5), result=2147483647, flags=NV),
    case("cvt.w.d-truncates-in-range", lib.VM_RV_FP_CVT_W, D, fd(2147483647.5), rm=RTZ, result=2147483647, flags=NX),
    case("cvt.w.d-min", lib.VM_RV_FP_CVT_W, D, fd(-2147483648.0), result=-(1 << 31)),
    case("cvt.w.d-below-min-rtz", lib.VM_RV_FP_CVT_W, D, fd(-2147483648.5), rm=RTZ, result=-(1 << 31), flags=NX),
    case("cvt.w.d-below-min-rdn", lib.VM_RV_FP_CVT_W, D, fd(-2147483648.5), rm=RDN, result=-(1 << 31), flags=NV),
    case("cvt.w.d-below-min-rmm", lib.VM_RV_FP_CVT_W, D, fd(-2147483648.5), rm=RMM, result=-(1 << 31), flags=NV),
    case("cvt.w.d-min-minus-one", lib.VM_RV_FP_CVT_W, D, fd(-2147483649.0), result=-(1 << 31), flags=NV),
    case("cvt.w.s-max-plus-one", lib.VM_RV_FP_CVT_W, S, fs(2.0**31), result=2147483647, flags=NV),
    case("cvt.w.s-min", lib.VM_RV_FP_CVT_W, S, fs(-(2.0**31)), result=-(1 << 31)),
    case("cvt.w.s-unboxed", lib.VM_RV_FP_CVT_W, S, 0x3F800000, result=2147483647, flags=NV),
    case("cvt.wu.d-minus-one", lib.VM_RV_FP_CVT_WU, D, fd(-1.0), result=0, flags=NV),
    case("cvt.wu.d-minus-half-rtz", lib.VM_RV_FP_CVT_WU, D, fd(-0.5), rm=RTZ, result=0, flags=NX),
    case("cvt.wu.d-minus-half-rdn", lib.VM_RV_FP_CVT_WU, D, fd(-0.5), rm=RDN, result=0, flags=NV),
    case("cvt.wu.d-negative-zero", lib.VM_RV_FP_CVT_WU, D, fd(-0.0), result=0),
    case("cvt.wu.d-max-sign-extended", lib.VM_RV_FP_CVT_WU, D, fd(4294967295.0), result=-1),
    case("cvt.wu.d-2^31-sign-extended", lib.VM_RV_FP_CVT_WU, D, fd(2147483648.0), result=-(1 << 31)),
    case("cvt.wu.d-max-plus-one", lib.VM_RV_FP_CVT_WU, D, fd(4294967296.0), result=-1, flags=NV),
    case("cvt.wu.d-nan", lib.VM_RV_FP_CVT_WU, D, CANON_D, result=-1, flags=NV),
    case("cvt.wu.s-max-plus-one", lib.VM_RV_FP_CVT_WU, S, fs(2.0**32), result=-1, flags=NV),
    case("cvt.wu.s-negative-inf", lib.VM_RV_FP_CVT_WU, S, fs(float("-inf")), result=0, flags=NV),
    case("cvt.l.d-2^63", lib.VM_RV_FP_CVT_L, D, fd(2.0**63), result=INT64_MAX, flags=NV),
    case("cvt.l.d-largest-below-2^63", lib.VM_RV_FP_CVT_L, D, fd(2.0**63 - 1024), result=(1 << 63) - 1024),
    case("cvt.l.d-min", lib.VM_RV_FP_CVT_L, D, fd(-(2.0**63)), result=INT64_MIN),
    case("cvt.l.d-below-min", lib.VM_RV_FP_CVT_L, D, fd(-(2.0**63) - 2048), result=INT64_MIN, flags=NV),
    case("cvt.l.d-nan", lib.VM_RV_FP_CVT_L, D, CANON_D, result=INT64_MAX, flags=NV),
    case("cvt.l.d-negative-inf", lib.VM_RV_FP_CVT_L, D, NEG_INF_D, result=INT64_MIN, flags=NV),
    case("cvt.l.s-2^63", lib.VM_RV_FP_CVT_L, S, fs(2.0**63), result=INT64_MAX, flags=NV),
    case("cvt.l.s-min", lib.VM_RV_FP_CVT_L, S, fs(-(2.0**63)), result=INT64_MIN),
    case("cvt.lu.d-2^64", lib.VM_RV_FP_CVT_LU, D, fd(2.0**64), result=M64, flags=NV),
    case("cvt.lu.d-largest-below-2^64", lib.VM_RV_FP_CVT_LU, D, fd(2.0**64 - 2048), result=(1 << 64) - 2048),
    case("cvt.lu.d-minus-one", lib.VM_RV_FP_CVT_LU, D, fd(-1.0), result=0, flags=NV),
    case("cvt.lu.d-nan", lib.VM_RV_FP_CVT_LU, D, CANON_D, result=M64, flags=NV),
    case("cvt.lu.s-negative-inf", lib.VM_RV_FP_CVT_LU, S, fs(float("-inf")), result=0, flags=NV),
    case("cvt.lu.s-2^64", lib.VM_RV_FP_CVT_LU, S, fs(2.0**64), result=M64, flags=NV),
    case("cvt.lu.s-inf", lib.VM_RV_FP_CVT_LU, S, INF_S, result=M64, flags=NV),
    case("cvt.lu.d-minus-0.9-rtz", lib.VM_RV_FP_CVT_LU, D, fd(-0.9), rm=RTZ, result=0, flags=NX),
    *every_mode("cvt.w.d-2.5", lib.VM_RV_FP_CVT_W, D, fd(2.5), 0, 0, (2, 2, 2, 3, 3), NX),
    *every_mode("cvt.w.d-minus-2.5", lib.VM_RV_FP_CVT_W, D, fd(-2.5), 0, 0, (-2, -2, -3, -2, -3), NX),
    *every_mode("cvt.l.s-0.5", lib.VM_RV_FP_CVT_L, S, fs(0.5), 0, 0, (0, 0, 0, 1, 1), NX),
    # Arithmetic on a tie, in every mode.
    *every_mode("add.d-tie", lib.VM_RV_FP_ADD, D, fd(1.0), fd(2.0**-53), 0,
                (fd(1.0), fd(1.0), fd(1.0), fd(1 + 2.0**-52), fd(1 + 2.0**-52)), NX),
    *every_mode("add.d-negative-tie", lib.VM_RV_FP_ADD, D, fd(-1.0), fd(-(2.0**-53)), 0,
                (fd(-1.0), fd(-1.0), fd(-1 - 2.0**-52), fd(-1.0), fd(-1 - 2.0**-52)), NX),
    *every_mode("add.d-tie-odd", lib.VM_RV_FP_ADD, D, fd(1 + 2.0**-52), fd(2.0**-53), 0,
                (fd(1 + 2.0**-51), fd(1 + 2.0**-52), fd(1 + 2.0**-52), fd(1 + 2.0**-51), fd(1 + 2.0**-51)), NX),
    *every_mode("add.s-tie", lib.VM_RV_FP_ADD, S, fs(1.0), fs(2.0**-24), 0,
                (fs(1.0), fs(1.0), fs(1.0), fs(1 + 2.0**-23), fs(1 + 2.0**-23)), NX),
    *every_mode("madd.d-tie", lib.VM_RV_FP_MADD, D, fd(1.0), fd(1.0), fd(2.0**-53),
                (fd(1.0), fd(1.0), fd(1.0), fd(1 + 2.0**-52), fd(1 + 2.0**-52)), NX),
    *every_mode("cvt.s.w-tie", lib.VM_RV_FP_CVT_FROM_W, S, (1 << 24) + 1, 0, 0,
                (fs(2.0**24), fs(2.0**24), fs(2.0**24), fs(2.0**24 + 2), fs(2.0**24 + 2)), NX),
    *every_mode("cvt.s.w-negative-tie", lib.VM_RV_FP_CVT_FROM_W, S, u64(-(1 << 24) - 1), 0, 0,
                (fs(-(2.0**24)), fs(-(2.0**24)), fs(-(2.0**24) - 2), fs(-(2.0**24)), fs(-(2.0**24) - 2)), NX),
    *every_mode("cvt.d.l-tie", lib.VM_RV_FP_CVT_FROM_L, D, (1 << 53) + 1, 0, 0,
                (fd(2.0**53), fd(2.0**53), fd(2.0**53), fd(2.0**53 + 2), fd(2.0**53 + 2)), NX),
    *every_mode("cvt.s.d-tie", lib.VM_RV_FP_CVT_S_D, S, fd(1 + 2.0**-24), 0, 0,
                (fs(1.0), fs(1.0), fs(1.0), fs(1 + 2.0**-23), fs(1 + 2.0**-23)), NX),
    # Conversions from integers read the low 32 bits for w and wu.
    case("cvt.s.lu-max-rne", lib.VM_RV_FP_CVT_FROM_LU, S, M64, result=fs(2.0**64), flags=NX),
    case("cvt.s.lu-max-rtz", lib.VM_RV_FP_CVT_FROM_LU, S, M64, rm=RTZ, result=BOX | 0x5F7FFFFF, flags=NX),
    case("cvt.d.wu-upper-bits-ignored", lib.VM_RV_FP_CVT_FROM_WU, D, 0x12345678FFFFFFFF, result=fd(4294967295.0)),
    case("cvt.d.w-low-word-signed", lib.VM_RV_FP_CVT_FROM_W, D, 0x00000000FFFFFFFF, result=fd(-1.0)),
    case("cvt.d.lu-2^63", lib.VM_RV_FP_CVT_FROM_LU, D, 1 << 63, result=fd(2.0**63)),
    case("cvt.d.l-min", lib.VM_RV_FP_CVT_FROM_L, D, 1 << 63, result=fd(-(2.0**63))),
    # Conversions between the formats.
    case("cvt.s.d-overflow-rne", lib.VM_RV_FP_CVT_S_D, S, fd(1e300), result=INF_S, flags=OF | NX),
    case("cvt.s.d-overflow-rtz", lib.VM_RV_FP_CVT_S_D, S, fd(1e300), rm=RTZ, result=MAX_S, flags=OF | NX),
    case("cvt.s.d-negative-overflow-rup", lib.VM_RV_FP_CVT_S_D, S, fd(-1e300), rm=RUP, result=MAX_S | 1 << 31,
         flags=OF | NX),
    case("cvt.s.d-overflow-rmm", lib.VM_RV_FP_CVT_S_D, S, fd(-1e300), rm=RMM, result=INF_S | 1 << 31, flags=OF | NX),
    case("cvt.s.d-smallest-subnormal", lib.VM_RV_FP_CVT_S_D, S, fd(2.0**-149), result=BOX | 1),
    case("cvt.s.d-half-smallest-rne", lib.VM_RV_FP_CVT_S_D, S, fd(2.0**-150), result=fs(0.0), flags=UF | NX),
    case("cvt.s.d-half-smallest-rmm", lib.VM_RV_FP_CVT_S_D, S, fd(2.0**-150), rm=RMM, result=BOX | 1, flags=UF | NX),
    case("cvt.s.d-signalling-nan", lib.VM_RV_FP_CVT_S_D, S, SNAN_D, result=CANON_S, flags=NV),
    case("cvt.s.d-nan-payload", lib.VM_RV_FP_CVT_S_D, S, 0x7FF8000000000123, result=CANON_S),
    case("cvt.d.s-subnormal", lib.VM_RV_FP_CVT_D_S, D, BOX | 1, result=fd(2.0**-149)),
    case("cvt.d.s-negative-zero", lib.VM_RV_FP_CVT_D_S, D, fs(-0.0), result=fd(-0.0)),
    case("cvt.d.s-signalling-nan", lib.VM_RV_FP_CVT_D_S, D, SNAN_S, result=CANON_D, flags=NV),
    case("cvt.d.s-unboxed", lib.VM_RV_FP_CVT_D_S, D, 0x7F800001, result=CANON_D),
    # Overflow, by rounding mode.
    *every_mode("mul.d-overflow", lib.VM_RV_FP_MUL, D, MAX_D, fd(2.0), 0, (INF_D, MAX_D, MAX_D, INF_D, INF_D), OF | NX),
    *every_mode("mul.d-negative-overflow", lib.VM_RV_FP_MUL, D, MAX_D | 1 << 63, fd(2.0), 0,
                (NEG_INF_D, MAX_D | 1 << 63, NEG_INF_D, MAX_D | 1 << 63, NEG_INF_D), OF | NX),
    # Underflow: tiny after rounding (to the precision, with an unbounded exponent), and inexact.
    case("mul.d-tiny-rounds-to-min-normal", lib.VM_RV_FP_MUL, D, ONE_MINUS_HALF_ULP_D, MIN_NORMAL_D,
         result=MIN_NORMAL_D, flags=UF | NX),
    # (1 - 2^-27) * (1 + 2^-27) * 2^-1022 = 2^-1022 - 2^-1076: a tie at 53 bits, tiny only if rounded down.
    *[case(f"mul.d-not-tiny-after-rounding-{name}", lib.VM_RV_FP_MUL, D, fd(1 - 2.0**-27),
           fd((1 + 2.0**-27) * 2.0**-1022), rm=rm, result=MIN_NORMAL_D, flags=NX)
      for name, rm in (("rne", RNE), ("rup", RUP), ("rmm", RMM))],
    *[case(f"mul.d-tiny-after-rounding-{name}", lib.VM_RV_FP_MUL, D, fd(1 - 2.0**-27),
           fd((1 + 2.0**-27) * 2.0**-1022), rm=rm, result=MAX_SUBNORMAL_D, flags=UF | NX)
      for name, rm in (("rtz", RTZ), ("rdn", RDN))],
    case("mul.d-exact-subnormal", lib.VM_RV_FP_MUL, D, fd(2.0**-1000), fd(2.0**-70), result=0x10),
    *every_mode("mul.d-half-smallest-subnormal", lib.VM_RV_FP_MUL, D, 1, fd(0.5), 0, (0, 0, 0, 1, 1), UF | NX),
    case("mul.s-half-smallest-subnormal-rmm", lib.VM_RV_FP_MUL, S, BOX | 1, fs(0.5), rm=RMM, result=BOX | 1,
         flags=UF | NX),
    # Fused multiply-add: one rounding; inf * 0 is invalid even with a quiet NaN addend.
    case("madd.d-inf-times-zero-plus-quiet-nan", lib.VM_RV_FP_MADD, D, INF_D, fd(0.0), CANON_D, result=CANON_D,
         flags=NV),
    case("madd.s-zero-times-inf-plus-nan", lib.VM_RV_FP_MADD, S, fs(0.0), INF_S, BOX | 0x7FC00123, result=CANON_S,
         flags=NV),
    case("madd.d-signalling-addend", lib.VM_RV_FP_MADD, D, fd(1.0), fd(1.0), SNAN_D, result=CANON_D, flags=NV),
    case("madd.d-inf-minus-inf", lib.VM_RV_FP_MADD, D, INF_D, fd(1.0), NEG_INF_D, result=CANON_D, flags=NV),
    case("madd.d-single-rounding", lib.VM_RV_FP_MADD, D, fd(1 + 2.0**-27), fd(1 - 2.0**-27), fd(-1.0),
         result=fd(-(2.0**-54))),
    case("madd.d", lib.VM_RV_FP_MADD, D, fd(2.0), fd(3.0), fd(1.0), result=fd(7.0)),
    case("msub.d", lib.VM_RV_FP_MSUB, D, fd(2.0), fd(3.0), fd(1.0), result=fd(5.0)),
    case("nmsub.d", lib.VM_RV_FP_NMSUB, D, fd(2.0), fd(3.0), fd(1.0), result=fd(-5.0)),
    case("nmadd.s", lib.VM_RV_FP_NMADD, S, fs(2.0), fs(3.0), fs(1.0), result=fs(-7.0)),
    case("nmadd.d-zeros-negative", lib.VM_RV_FP_NMADD, D, fd(0.0), fd(1.0), fd(0.0), result=fd(-0.0)),
    case("madd.d-zero-sum-rne", lib.VM_RV_FP_MADD, D, fd(0.0), fd(1.0), fd(-0.0), result=fd(0.0)),
    case("madd.d-zero-sum-rdn", lib.VM_RV_FP_MADD, D, fd(0.0), fd(1.0), fd(-0.0), rm=RDN, result=fd(-0.0)),
    # An exact zero sum is +0, except when rounding down.
    *every_mode("sub.d-cancel", lib.VM_RV_FP_SUB, D, fd(1.0), fd(1.0), 0,
                (fd(0.0), fd(0.0), fd(-0.0), fd(0.0), fd(0.0)), 0),
]


@pytest.mark.parametrize(("op", "fmt", "a", "b", "c", "rm", "result", "flags"), HAND_CASES)
def test_an_operation_follows_the_spec(op: int, fmt: int, a: int, b: int, c: int, rm: int, result: int,
                                       flags: int) -> None:
    assert rv_fp(op, fmt, a, b, c, rm) == (result, flags)


@pytest.mark.parametrize(("op", "fmt", "rm"), [(99, D, RNE), (lib.VM_RV_FP_ADD, 2, RNE), (lib.VM_RV_FP_ADD, D, 5),
                                            (lib.VM_RV_FP_ADD, D, 7), (lib.VM_RV_FP_ADD, S, -1)])
def test_an_operation_out_of_range_gives_zero_and_raises_nothing(op: int, fmt: int, rm: int) -> None:
    assert rv_fp(op, fmt, fd(1.0), fd(2.0), 0, rm) == (0, 0)


def test_flags_are_ored_into_fflags_and_the_host_state_is_restored() -> None:
    flags = ffi.new("int32_t *", NV)
    lib.vm_rv_fp(lib.VM_RV_FP_DIV, D, s64(fd(1.0)), s64(fd(3.0)), 0, RUP, flags)
    assert flags[0] == NV | NX
    # Python's own float arithmetic still rounds to nearest afterwards ...
    one, three = 1.0, 3.0
    assert one / three == 0.3333333333333333
    # ... and the inexact flag it just left in the host is not taken for the next operation's.
    assert rv_fp(lib.VM_RV_FP_ADD, D, fd(1.0), fd(2.0), rm=RUP) == (fd(3.0), 0)


# -- against QEMU ---------------------------------------------------------------------------------------
PROBE_SOURCE = Path(__file__).with_name("riscv_fp_probe.c")
NATIVE = Path(__file__).resolve().parent.parent / "native"
CROSS_CC, QEMU = "riscv64-linux-gnu-gcc", "qemu-riscv64"
CASES_PER_OP = 400  # per operation, format and rounding mode: 112,000 cases in all

FLOAT_OPS = ("ADD", "SUB", "MUL", "DIV", "SQRT", "MIN", "MAX", "MADD", "MSUB", "NMSUB", "NMADD", "SGNJ", "SGNJN",
             "SGNJX", "EQ", "LT", "LE", "CLASS", "CVT_W", "CVT_WU", "CVT_L", "CVT_LU")
FROM_INTEGER_OPS = ("CVT_FROM_W", "CVT_FROM_WU", "CVT_FROM_L", "CVT_FROM_LU")
FUSED = ("MADD", "MSUB", "NMSUB", "NMADD")


class Format:
    """binary32 or binary64 as bit patterns, to build operands from."""

    def __init__(self, fmt: int) -> None:
        self.fmt = fmt
        self.width, self.precision = (64, 53) if fmt == D else (32, 24)
        self.sign = 1 << (self.width - 1)
        self.exp_mask = (self.sign - 1) & ~((1 << (self.precision - 1)) - 1)
        self.quiet = 1 << (self.precision - 2)

    def bits(self, x: float) -> int:
        """x rounded to this format (to nearest), as bits; too large for a single gives infinity."""
        if self.fmt == D:
            return f2b(x)
        try:
            return struct.unpack("<I", struct.pack("<f", x))[0]
        except OverflowError:
            return self.exp_mask | (self.sign if x < 0 else 0)

    def value(self, bits: int) -> float:
        if self.fmt == D:
            return struct.unpack("<d", struct.pack("<Q", bits))[0]
        return struct.unpack("<f", struct.pack("<I", bits))[0]

    def register(self, bits: int) -> int:
        return bits if self.fmt == D else BOX | bits

    def edges(self) -> list[int]:
        """Zeros, subnormals, the normal limits, infinities, NaNs, and values by integer limits and ties."""
        p, exp_mask, quiet = self.precision, self.exp_mask, self.quiet
        magnitudes = [0, 1, 3, (1 << (p - 1)) - 1, 1 << (p - 1), (1 << (p - 1)) + 1, exp_mask - 1, exp_mask,
                      exp_mask | quiet, exp_mask | quiet | 1, exp_mask | 1, exp_mask | quiet >> 1]
        values = [1.0, 1.5, 2.5, 0.5, 3.0, 0.1, 1 / 3, 2.0**-p, 1 + 2.0 ** (1 - p), 1 - 2.0**-p]
        for limit in (2.0**24, 2.0**31, 2.0**32, 2.0**53, 2.0**63, 2.0**64):
            values += [limit, limit - 0.5, limit + 0.5, limit - 1, limit + 1]
        for x in values:
            bits = self.bits(x)
            magnitudes += [bits - 1, bits, bits + 1]
        magnitudes += [bits for k in range(8) for bits in [self.bits(k + 0.5)]]
        return [m | s for m in magnitudes for s in (0, self.sign)]

    def short(self, rng: random.Random) -> int:
        """A value with few significant bits: products and sums of these are often exact or ties."""
        m = rng.getrandbits(rng.randint(1, self.precision // 2 + 2)) | 1
        emax = 127 if self.fmt == S else 1023
        e = rng.choice([rng.randint(-8, 8), rng.randint(-emax - self.precision, -emax + 20),
                        rng.randint(emax - 30, emax)])
        bits = self.bits(m * 2.0**e)
        return bits | (self.sign if rng.random() < 0.5 else 0)

    def tie_factors(self, rng: random.Random) -> tuple[int, int]:
        """Two values whose exact product has p+1 significant bits ending in 1: halfway between two floats
        (or, scaled into the subnormals or near the largest normal, a tie at another bit or an overflow)."""
        p, emax = self.precision, (127 if self.fmt == S else 1023)
        k = rng.randint(1, p)
        m1 = rng.getrandbits(k) | 1 | 1 << (k - 1)
        m2 = rng.getrandbits(p + 2 - k) | 1 | 1 << (p + 1 - k)
        e = rng.choice([rng.randint(-60, 0), rng.randint(-emax - 2 * p, -emax - p + 5),
                        rng.randint(emax - p - 10, emax - p)])
        e1 = rng.randint(-30, 30)
        return self.bits(m1 * 2.0**e1), self.bits(m2 * 2.0 ** (e - e1 - p))

    def tie_quotient(self, rng: random.Random) -> tuple[int, int]:
        """A small normal and a power of two whose quotient is a subnormal exactly halfway between two
        (quotients in the normal range are never ties)."""
        p = self.precision
        exp, t = rng.randint(1, 4), rng.randint(1, p)
        fraction = (rng.getrandbits(p - 1) & ~((1 << t) - 1)) | 1 << (t - 1)
        sign = self.sign if rng.random() < 0.5 else 0
        return sign | exp << (p - 1) | fraction, self.bits(2.0 ** (exp - 1 + t))

    def near(self, rng: random.Random, bits: int) -> int:
        return (bits + rng.randint(-2, 2)) & ((1 << self.width) - 1)


def _float_operand(rng: random.Random, form: Format, pool: list[int]) -> int:
    """A register operand: an edge value, a short one, random bits, or (for singles) an unboxed one."""
    roll = rng.random()
    if form.fmt == S and roll < 0.03:
        return rng.choice([rng.getrandbits(64) & ~BOX, rng.getrandbits(32), rng.getrandbits(64)])
    if roll < 0.45:
        bits = rng.choice(pool)
    elif roll < 0.75:
        bits = form.short(rng)
    else:
        bits = rng.getrandbits(form.width)
    return form.register(bits)


def _unboxed_bits(form: Format, reg: int) -> int:
    return reg if form.fmt == D else (reg & 0xFFFFFFFF if reg & BOX == BOX else 0x7FC00000)


def _float_case(rng: random.Random, name: str, form: Format, pool: list[int]) -> tuple[int, int, int]:
    a, b, c = (_float_operand(rng, form, pool) for _ in range(3))
    va, vb = form.value(_unboxed_bits(form, a)), form.value(_unboxed_bits(form, b))
    roll = rng.random()
    if name in ("ADD", "SUB") and roll < 0.4:  # near cancellation, or b a tiny part of a
        sign = -1.0 if name == "ADD" else 1.0
        b = form.register(form.near(rng, form.bits(sign * va * rng.choice([1.0, 2.0**-form.precision]))))
    elif name in ("MUL", *FUSED) and roll < 0.3:  # a product halfway between two floats, plus c
        a, b = (form.register(bits) for bits in form.tie_factors(rng))
    elif name == "DIV" and roll < 0.3:
        a, b = (form.register(bits) for bits in form.tie_quotient(rng))
    elif name in FUSED and roll < 0.6:  # c near -(a*b): the fused sum keeps the product's low bits
        sign = -1.0 if name in ("MADD", "NMADD") else 1.0  # a*b+c and -(a*b)-c cancel with c = -(a*b)
        c = form.register(form.near(rng, form.bits(sign * va * vb)))
    elif name.startswith("CVT_") and roll < 0.5:  # near an integer, a halfway point, or a limit
        k = rng.choice([rng.randint(-10, 10), rng.choice([1, -1]) * 2.0 ** rng.choice([31, 32, 63, 64])])
        a = form.register(form.near(rng, form.bits(k + rng.choice([0.0, 0.5, -0.5]))))
    return a, b, c


def _integer_operand(rng: random.Random) -> int:
    """Integer limits, values by 2^24 and 2^53 (ties among them), and random patterns."""
    roll = rng.random()
    if roll < 0.3:
        value = rng.choice([0, 1, -1, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63), 2**64 - 1,
                            2**24 + 1, 2**24 - 1, 2**53 + 1, 2**53 - 1, 2**25 + 3])
    elif roll < 0.6:  # p+1 significant bits ending in 1: exactly halfway between two floats
        value = (rng.getrandbits(rng.choice([24, 53])) | 1 << rng.choice([24, 53]) | 1) << rng.randint(0, 8)
        value = -value if rng.random() < 0.5 else value
    else:
        value = rng.getrandbits(rng.choice([8, 32, 40, 64]))
    if rng.random() < 0.3:
        value ^= rng.getrandbits(32) << 32  # the w conversions read only the low 32 bits
    return u64(value)


def generate_cases(seed: int = 20191213) -> list[tuple[int, int, int, int, int, int]]:
    """(op, fmt, a, b, c, rm) for every operation, format and rounding mode."""
    rng = random.Random(seed)
    cases = []
    forms = {fmt: Format(fmt) for fmt in (S, D)}
    pools = {fmt: form.edges() for fmt, form in forms.items()}
    for fmt, form in forms.items():
        for rm in MODES:
            for name in FLOAT_OPS:
                op = getattr(lib, f"VM_RV_FP_{name}")
                cases += [(op, fmt, *_float_case(rng, name, form, pools[fmt]), rm) for _ in range(CASES_PER_OP)]
            for name in FROM_INTEGER_OPS:
                op = getattr(lib, f"VM_RV_FP_{name}")
                cases += [(op, fmt, _integer_operand(rng), 0, 0, rm) for _ in range(CASES_PER_OP)]
    # Between the formats: doubles by the single's limits (overflow, subnormals, ties), and singles.
    single_range = [f2b(x) for x in (2.0**128, 2.0**128 - 2.0**103, 2.0**127, 2.0**-126, 2.0**-149, 2.0**-150)]
    for rm in MODES:
        for _ in range(CASES_PER_OP * 2):
            a = rng.choice([rng.choice(pools[D]), forms[D].near(rng, rng.choice(single_range)),
                            f2b(forms[S].value(forms[S].short(rng)) * (1 + 2.0**-24)), rng.getrandbits(64),
                            f2b(rng.uniform(-1, 1) * 2.0 ** rng.randint(-155, -120))])
            cases.append((lib.VM_RV_FP_CVT_S_D, S, a, 0, 0, rm))
            cases.append((lib.VM_RV_FP_CVT_D_S, D, _float_operand(rng, forms[S], pools[S]), 0, 0, rm))
    return cases


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which(CROSS_CC) is None or shutil.which(QEMU) is None:
        missing_tool(f"needs {CROSS_CC} and {QEMU} (Debian packages gcc-riscv64-linux-gnu and qemu-user)")
    binary = tmp_path_factory.mktemp("riscv-fp") / "probe"
    subprocess.run([CROSS_CC, "-O2", "-static", f"-I{NATIVE}", str(PROBE_SOURCE), "-o", str(binary)], check=True,
                   timeout=120)
    return binary


def _describe(case: tuple[int, ...], ours: tuple[int, int], theirs: tuple[int, int]) -> str:
    op, fmt, a, b, c, rm = case
    return (f"op {op} fmt {fmt} rm {rm} a={a:#x} b={b:#x} c={c:#x}: "
            f"vm_rv_fp {ours[0]:#x} flags {ours[1]:#x}, qemu {theirs[0]:#x} flags {theirs[1]:#x}")


def test_every_operation_agrees_with_qemu(probe: Path) -> None:
    cases = generate_cases()
    lines = "".join(f"{op} {fmt} {a:x} {b:x} {c:x} {rm}\n" for op, fmt, a, b, c, rm in cases)
    run = subprocess.run([QEMU, str(probe)], input=lines, capture_output=True, text=True, timeout=60, check=True)
    answers = run.stdout.splitlines()
    assert len(answers) == len(cases)
    disagreements = []
    for case_, answer in zip(cases, answers, strict=True):
        result, flags = (int(field, 16) for field in answer.split())
        ours = rv_fp(*case_)
        if ours != (result, flags):
            disagreements.append(_describe(case_, ours, (result, flags)))
    assert not disagreements, f"{len(disagreements)} of {len(cases)} disagree:\n" + "\n".join(disagreements[:40])
