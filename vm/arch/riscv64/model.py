"""How a RISC-V instruction is described: its encoding pattern, the fields its operands come from,
its semantics in the shared statement language, and a line of documentation.

The encoding is written as QEMU's decodetree writes it: a pattern of fixed bits and don't-cares
(`0000000 ..... ..... 000 ..... 0110011`), and each field, scattered immediates included, defined
once as a list of bit ranges (`FIELDS`). The decoder, disassembler and hw's handlers read these.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum

from vm.isa import IsaError, Kind
from vm.isa.semantics import EFFECTS, PURE_FUNCTIONS, Language, Semantics, SemanticsError, parse_semantics

# The floating-point operations of fp(); their numbers are the C library's (native/riscv_fp.h).
FP_OPERATIONS = ("ADD SUB MUL DIV SQRT MIN MAX MADD MSUB NMSUB NMADD SGNJ SGNJN SGNJX EQ LT LE CLASS "
                 "CVT_W CVT_WU CVT_L CVT_LU CVT_FROM_W CVT_FROM_WU CVT_FROM_L CVT_FROM_LU CVT_S_D CVT_D_S").split()
FP_FORMATS = {"S": 0, "D": 1}

RV64 = Language(
    "riscv64",
    pure_functions={
        **{name: PURE_FUNCTIONS[name] for name in ("sdiv", "srem", "shl", "lshr", "ashr", "ult")},
        "udiv": (2, "quotient of a and b as unsigned 64-bit numbers (b != 0)"),
        "urem": (2, "remainder of a and b as unsigned 64-bit numbers (b != 0)"),
        "mulh": (2, "the high 64 bits of the 128-bit product, both signed"),
        "mulhu": (2, "the high 64 bits of the 128-bit product, both unsigned"),
        "mulhsu": (2, "the high 64 bits of the 128-bit product, a signed and b unsigned"),
        "sext32": (1, "the low 32 bits, sign-extended"),
        "zext32": (1, "the low 32 bits, zero-extended"),
    },
    effects={
        **{name: EFFECTS[name] for name in ("load", "store", "goto", "trap")},
        "syscall": (0, False, "syscall(): ecall, a system call handled by the monitor (number in a7, "
                              "arguments in a0..a5, result in a0)"),
        "csr_read": (1, True, "x = csr_read(csr): read a CSR; an unknown one traps ILLEGAL"),
        "csr_write": (2, False, "csr_write(csr, value): write a CSR; a read-only or unknown one traps ILLEGAL"),
        "fp": (6, True, "x = fp(OP, FMT, a, b, c, rm): a floating-point operation on register bits, "
                        "IEEE 754 in rounding mode rm (7: frm), its exceptions accrued in fflags"),
        "load_reserved": (2, True, "x = load_reserved(addr, size): a signed load that reserves addr"),
        "store_conditional": (3, True, "x = store_conditional(addr, size, value): store if addr is still "
                                       "reserved; 0 if it stored, 1 if not; the reservation ends"),
    },
    fixed_int={},
    fixed_float={},
    constants={name: i for i, name in enumerate(FP_OPERATIONS)} | FP_FORMATS,
)


class OperandKind(Enum):
    """What an operand is, for the disassembler; hw reads X and F registers and the rest as numbers."""

    X = "integer register"
    F = "float register"
    INT = "immediate"
    OFFSET = "pc-relative offset"
    CSR = "CSR number"
    RM = "rounding mode"
    FENCE = "fence set (i, o, r, w)"
    ORDER = "memory ordering bit (aq or rl)"


OPERAND_KINDS = {
    **{n: OperandKind.X for n in ("rd", "rs1", "rs2", "rs3")},
    **{n: OperandKind.F for n in ("fd", "fs1", "fs2", "fs3")},
    "imm": OperandKind.INT, "shamt": OperandKind.INT, "uimm": OperandKind.INT,
    "offset": OperandKind.OFFSET, "csr": OperandKind.CSR, "rm": OperandKind.RM,
    "pred": OperandKind.FENCE, "succ": OperandKind.FENCE, "aq": OperandKind.ORDER, "rl": OperandKind.ORDER,
}


@dataclass(frozen=True)
class Field:
    """An instruction field: bit ranges concatenated most significant first, then shifted and offset.

    Written `pos:len` for each range (`31:s1` for a sign bit), then `<<n` and `+n`:
    the B-type immediate is `31:s1 7:1 25:6 8:4 <<1`, a compressed register `2:3 +8`."""

    spec: str
    ranges: tuple[tuple[int, int], ...]
    signed: bool
    shift: int
    offset: int

    @classmethod
    def parse(cls, spec: str) -> Field:
        ranges, signed, shift, offset = [], False, 0, 0
        for part in spec.split():
            if part.startswith("<<"):
                shift = int(part[2:])
            elif part.startswith("+"):
                offset = int(part[1:])
            else:
                pos, length = part.split(":")
                if length.startswith("s"):
                    if ranges:
                        raise IsaError(f"field {spec!r}: only the first range can hold the sign")
                    signed, length = True, length[1:]
                ranges.append((int(pos), int(length)))
        return cls(spec, tuple(ranges), signed, shift, offset)

    @property
    def width(self) -> int:
        return sum(length for _, length in self.ranges)

    def extract(self, word: int) -> int:
        value = 0
        for pos, length in self.ranges:
            value = value << length | (word >> pos) & ((1 << length) - 1)
        if self.signed and value >> (self.width - 1):
            value -= 1 << self.width
        return (value << self.shift) + self.offset


FIELDS: dict[str, Field] = {name: Field.parse(spec) for name, spec in {
    # the 32-bit formats
    "rd": "7:5", "rs1": "15:5", "rs2": "20:5", "rs3": "27:5",
    "fd": "7:5", "fs1": "15:5", "fs2": "20:5", "fs3": "27:5",
    "rm": "12:3", "csr": "20:12", "uimm": "15:5", "shamt": "20:6", "shamtw": "20:5",
    "pred": "24:4", "succ": "20:4", "aq": "26:1", "rl": "25:1",
    "imm_i": "20:s12", "imm_s": "25:s7 7:5", "imm_u": "12:s20 <<12",
    "imm_b": "31:s1 7:1 25:6 8:4 <<1", "imm_j": "31:s1 12:8 20:1 21:10 <<1",
    # the 16-bit formats: registers x8..x15 in three bits, or any in five
    "rd_c": "2:3 +8", "rs1_c": "7:3 +8", "rs2_c": "2:3 +8", "rd_full": "7:5", "rs2_full": "2:5",
    "fd_c": "2:3 +8", "fs2_c": "2:3 +8", "fs2_full": "2:5",
    "imm_ci": "12:s1 2:5", "uimm_ci": "12:1 2:5", "imm_lui": "12:s1 2:5 <<12",
    "imm_addi16sp": "12:s1 3:2 5:1 2:1 6:1 <<4", "uimm_addi4spn": "7:4 11:2 5:1 6:1 <<2",
    "uimm_lw": "5:1 10:3 6:1 <<2", "uimm_ld": "5:2 10:3 <<3",
    "uimm_lwsp": "2:2 12:1 4:3 <<2", "uimm_ldsp": "2:3 12:1 5:2 <<3",
    "uimm_swsp": "7:2 9:4 <<2", "uimm_sdsp": "7:3 10:3 <<3",
    "imm_cj": "12:s1 8:1 9:2 6:1 7:1 2:1 11:1 3:3 <<1", "imm_cb": "12:s1 5:2 2:1 10:2 3:2 <<1",
}.items()}


@dataclass(frozen=True)
class Pattern:
    """The fixed bits of an encoding: a word is this instruction when word & mask == match."""

    text: str
    size: int  # 2 or 4 bytes
    mask: int
    match: int

    @classmethod
    def parse(cls, text: str) -> Pattern:
        bits = text.replace(" ", "")
        if len(bits) not in (16, 32) or set(bits) - set("01."):
            raise IsaError(f"pattern {text!r}: 16 or 32 characters of 0, 1 and . (a field's bit)")
        mask = int("".join("0" if b == "." else "1" for b in bits), 2)
        match = int(bits.replace(".", "0"), 2)
        return cls(text, len(bits) // 8, mask, match)

    @property
    def fixed_bits(self) -> int:
        return bin(self.mask).count("1")


@dataclass(frozen=True)
class Operand:
    name: str
    kind: OperandKind
    field: Field | None  # None: the constant `value` (a compressed form's implied sp, say)
    value: int = 0

    def extract(self, word: int) -> int:
        return self.field.extract(word) if self.field is not None else self.value

    @property
    def lowering_kind(self) -> Kind:
        """Registers are integers in the shared lowering (F registers hold raw bits); the rest immediates."""
        return Kind.REG if self.kind in (OperandKind.X, OperandKind.F) else Kind.IMM


@dataclass(frozen=True, eq=False)
class RvInstruction:
    """One RISC-V instruction, described once."""

    mnemonic: str
    pattern: Pattern
    operands: tuple[Operand, ...]
    source: str  # the semantics' text
    doc: str
    extension: str
    syntax: str  # the disassembly of its operands, as a format string over their names
    valid: str | None  # a condition on the decoded operands (`rd != 0`); where false, the word is not this

    @property
    def size(self) -> int:
        return self.pattern.size

    @functools.cached_property
    def semantics(self) -> Semantics:
        """Parsed and checked when first needed: a run uses a third of the instructions, and parsing all
        of them would be most of a short program's start-up (`isa.check()` parses every one)."""
        try:
            return parse_semantics(self.source, [o.name for o in self.operands], RV64)
        except SemanticsError as e:
            raise IsaError(f"instruction {self.mnemonic!r} ({self.extension}): semantics: {e}") from None

    @functools.cached_property
    def _condition(self):
        return compile(self.valid, f"<valid {self.mnemonic}>", "eval") if self.valid else None

    def decode_operands(self, word: int) -> dict[str, int]:
        return {op.name: op.extract(word) for op in self.operands}

    def accepts(self, values: dict[str, int]) -> bool:
        return self._condition is None or bool(eval(self._condition, {}, values))  # noqa: S307 - our own table


def instruction(mnemonic: str, pattern: str, operands: str, semantics: str, doc: str, *, extension: str,
                syntax: str | None = None, valid: str | None = None) -> RvInstruction:
    """Build a description from its text: operands are `name`, `name=field` or `name=constant`."""
    where = f"instruction {mnemonic!r} ({extension})"
    pat = Pattern.parse(pattern)
    ops = []
    for item in operands.split():
        name, _, source = item.partition("=")
        kind = OPERAND_KINDS.get(name)
        if kind is None:
            raise IsaError(f"{where}: unknown operand {name!r}; use one of: {', '.join(OPERAND_KINDS)}")
        source = source or name
        if source.isdigit():
            ops.append(Operand(name, kind, None, int(source)))
            continue
        fld = FIELDS.get(source)
        if fld is None:
            raise IsaError(f"{where}: unknown field {source!r}")
        for pos, length in fld.ranges:
            if pat.mask >> pos & ((1 << length) - 1):
                raise IsaError(f"{where}: field {source!r} overlaps the pattern's fixed bits")
        ops.append(Operand(name, kind, fld))
    shown = syntax if syntax is not None else ", ".join("{" + o.name + "}" for o in ops)
    return RvInstruction(mnemonic, pat, tuple(ops), semantics.strip(), doc, extension, shown, valid)
