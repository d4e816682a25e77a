"""F and D: binary32 and binary64 floating point (unprivileged spec chapters 11 and 12).

F registers hold raw 64-bit patterns; a single is NaN-boxed (its upper 32 bits all ones), and reads as
the canonical NaN when it is not. The arithmetic itself is one effect, fp(), which the host's C
library performs exactly as the spec says (every rounding mode, the exception flags, canonical NaNs).
"""

from vm.arch.riscv64.model import RvInstruction, instruction

_BOX = -(1 << 32)  # the upper 32 bits all ones: a NaN-boxed single
_VALID_RM = "rm != 5 and rm != 6"
_FORMATS = [("s", "00", "S", 4, "single"), ("d", "01", "D", 8, "double")]
# name, funct5, operation, operands, doc
_ARITHMETIC = [
    ("fadd", "00000", "ADD", "fs1, fs2, 0", "fs1 + fs2"),
    ("fsub", "00001", "SUB", "fs1, fs2, 0", "fs1 - fs2"),
    ("fmul", "00010", "MUL", "fs1, fs2, 0", "fs1 * fs2"),
    ("fdiv", "00011", "DIV", "fs1, fs2, 0", "fs1 / fs2"),
]
_FUSED = [
    ("fmadd", "1000011", "MADD", "fs1 * fs2 + fs3"),
    ("fmsub", "1000111", "MSUB", "fs1 * fs2 - fs3"),
    ("fnmsub", "1001011", "NMSUB", "-(fs1 * fs2) + fs3"),
    ("fnmadd", "1001111", "NMADD", "-(fs1 * fs2) - fs3"),
]
_SIGN = [
    ("fsgnj", "000", "SGNJ", "fs1 with fs2's sign"),
    ("fsgnjn", "001", "SGNJN", "fs1 with the opposite of fs2's sign"),
    ("fsgnjx", "010", "SGNJX", "fs1 with the sign of fs1 times fs2's"),
]
_COMPARE = [
    ("feq", "010", "EQ", "equal (quiet: only a signalling NaN raises NV)"),
    ("flt", "001", "LT", "less (any NaN raises NV)"),
    ("fle", "000", "LE", "less or equal (any NaN raises NV)"),
]
# integer type suffix, rs2 field, to-integer operation, from-integer operation, what the integer is
_INTEGERS = [
    ("w", "00000", "CVT_W", "CVT_FROM_W", "signed 32-bit"),
    ("wu", "00001", "CVT_WU", "CVT_FROM_WU", "unsigned 32-bit"),
    ("l", "00010", "CVT_L", "CVT_FROM_L", "signed 64-bit"),
    ("lu", "00011", "CVT_LU", "CVT_FROM_LU", "unsigned 64-bit"),
]


def _f(mnemonic: str, pattern: str, operands: str, semantics: str, doc: str, ext: str, **kw) -> RvInstruction:
    return instruction(mnemonic, pattern, operands, semantics, doc, extension=ext, **kw)


def instructions() -> list[RvInstruction]:
    out = []
    for s, fmt_bits, fmt, size, kind in _FORMATS:
        ext = "F" if fmt == "S" else "D"
        f3 = "010" if size == 4 else "011"
        loaded = f"t = load(rs1 + imm, 4, 0)\nfd = t | {_BOX}" if size == 4 else "fd = load(rs1 + imm, 8, 1)"
        load_name, store_name = ("flw", "fsw") if size == 4 else ("fld", "fsd")
        out += [
            _f(load_name, f"............ ..... {f3} ..... 0000111", "fd rs1 imm=imm_i", loaded,
               f"load a {kind} from rs1 + imm", ext, syntax="{fd}, {imm}({rs1})"),
            _f(store_name, f"....... ..... ..... {f3} ..... 0100111", "fs2 rs1 imm=imm_s",
               f"store(rs1 + imm, {size}, fs2)",
               f"store the low {size} bytes of fs2 at rs1 + imm", ext, syntax="{fs2}, {imm}({rs1})"),
        ]
        for name, f5, op, args, doc in _ARITHMETIC:
            out.append(_f(f"{name}.{s}", f"{f5}{fmt_bits} ..... ..... ... ..... 1010011", "fd fs1 fs2 rm",
                          f"fd = fp({op}, {fmt}, {args}, rm)", f"fd = {doc}, rounded", ext, valid=_VALID_RM))
        out.append(_f(f"fsqrt.{s}", f"01011{fmt_bits} 00000 ..... ... ..... 1010011", "fd fs1 rm",
                      f"fd = fp(SQRT, {fmt}, fs1, 0, 0, rm)", "fd = the square root of fs1, rounded", ext,
                      valid=_VALID_RM))
        for name, opcode, op, doc in _FUSED:
            out.append(_f(f"{name}.{s}", f"..... {fmt_bits} ..... ..... ... ..... {opcode}", "fd fs1 fs2 fs3 rm",
                          f"fd = fp({op}, {fmt}, fs1, fs2, fs3, rm)", f"fd = {doc}, rounded once", ext,
                          valid=_VALID_RM))
        for name, f3s, op, doc in _SIGN:
            out.append(_f(f"{name}.{s}", f"00100{fmt_bits} ..... ..... {f3s} ..... 1010011", "fd fs1 fs2",
                          f"fd = fp({op}, {fmt}, fs1, fs2, 0, 0)", f"fd = {doc}", ext))
        for name, f3s, op in (("fmin", "000", "MIN"), ("fmax", "001", "MAX")):
            out.append(_f(f"{name}.{s}", f"00101{fmt_bits} ..... ..... {f3s} ..... 1010011", "fd fs1 fs2",
                          f"fd = fp({op}, {fmt}, fs1, fs2, 0, 0)",
                          f"fd = the {name[1:]}imum; a NaN operand gives the other; -0.0 < +0.0", ext))
        for name, f3s, op, doc in _COMPARE:
            out.append(_f(f"{name}.{s}", f"10100{fmt_bits} ..... ..... {f3s} ..... 1010011", "rd fs1 fs2",
                          f"rd = fp({op}, {fmt}, fs1, fs2, 0, 0)", f"rd = 1 if fs1 and fs2 are {doc}, else 0", ext))
        out.append(_f(f"fclass.{s}", f"11100{fmt_bits} 00000 ..... 001 ..... 1010011", "rd fs1",
                      f"rd = fp(CLASS, {fmt}, fs1, 0, 0, 0)", "rd = the class of fs1, one bit of ten", ext))
        for suffix, rs2, to_int, from_int, kind_int in _INTEGERS:
            out.append(_f(f"fcvt.{suffix}.{s}", f"11000{fmt_bits} {rs2} ..... ... ..... 1010011", "rd fs1 rm",
                          f"rd = fp({to_int}, {fmt}, fs1, 0, 0, rm)",
                          f"rd = fs1 rounded to a {kind_int} integer, saturating", ext, valid=_VALID_RM))
            exact = size == 8 and suffix in ("w", "wu")  # every 32-bit integer is a double: rm is not shown
            out.append(_f(f"fcvt.{s}.{suffix}", f"11010{fmt_bits} {rs2} ..... ... ..... 1010011", "fd rs1 rm",
                          f"fd = fp({from_int}, {fmt}, rs1, 0, 0, rm)",
                          f"fd = the {kind_int} integer rs1, {'exactly' if exact else 'rounded'}", ext,
                          valid=_VALID_RM, syntax="{fd}, {rs1}" if exact else None))
        if size == 4:
            moves = [("fmv.x.w", "rd fs1", "rd = sext32(fs1)", "rd = the low 32 bits of fs1, sign-extended"),
                     ("fmv.w.x", "fd rs1", f"fd = zext32(rs1) | {_BOX}", "fd = the low 32 bits of rs1, NaN-boxed")]
        else:
            moves = [("fmv.x.d", "rd fs1", "rd = fs1", "rd = the 64 bits of fs1"),
                     ("fmv.d.x", "fd rs1", "fd = rs1", "fd = the 64 bits of rs1")]
        for (name, operands, sem, doc), f5 in zip(moves, ("11100", "11110"), strict=True):
            out.append(_f(name, f"{f5}{fmt_bits} 00000 ..... 000 ..... 1010011", operands, sem, doc, ext))
    out += [
        _f("fcvt.s.d", "0100000 00001 ..... ... ..... 1010011", "fd fs1 rm", "fd = fp(CVT_S_D, D, fs1, 0, 0, rm)",
           "fd = the double fs1 rounded to a single", "D", valid=_VALID_RM),
        _f("fcvt.d.s", "0100001 00000 ..... ... ..... 1010011", "fd fs1 rm", "fd = fp(CVT_D_S, S, fs1, 0, 0, rm)",
           "fd = the single fs1 as a double (exact)", "D", valid=_VALID_RM, syntax="{fd}, {fs1}"),
    ]
    return out
