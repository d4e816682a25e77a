"""The instruction word: byte 0 opcode, bytes 1-3 fields A B C, bytes 4-7 the signed immediate I.

`LIW` and `FLI` carry a second word: the 64-bit literal. Both directions live here, so the assembler,
the disassembler and the engines agree on every bit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vm.arch.vm64.model import NO_BASE, WORD, Instruction, Kind

_WORD = struct.Struct("<BBBBi")
_QWORD = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")


@dataclass(frozen=True)
class Fields:
    """The raw fields of one instruction word (and its literal, if it has one)."""

    opcode: int
    a: int = 0
    b: int = 0
    c: int = 0
    imm: int = 0
    literal: int = 0  # the second word as a signed 64-bit integer (float literals: their bits)


def encode(fields: Fields, size: int = WORD) -> bytes:
    word = _WORD.pack(fields.opcode, fields.a, fields.b, fields.c, fields.imm)
    return word + _QWORD.pack(fields.literal) if size > WORD else word


def decode_word(word: bytes) -> Fields:
    opcode, a, b, c, imm = _WORD.unpack(word)
    return Fields(opcode, a, b, c, imm)


def with_literal(fields: Fields, literal_word: bytes) -> Fields:
    return Fields(fields.opcode, fields.a, fields.b, fields.c, fields.imm, _QWORD.unpack(literal_word)[0])


def float_bits(value: float) -> int:
    """The bits of a binary64 as a signed 64-bit integer."""
    return _QWORD.unpack(_DOUBLE.pack(value))[0]


def bits_float(bits: int) -> float:
    return _DOUBLE.unpack(_QWORD.pack(bits))[0]


def operand_values(ins: Instruction, f: Fields) -> dict[str, int]:
    """Each operand's raw value: a register number, an immediate, or a literal's bits.

    A memory operand yields two entries, `mem.base` and `mem.off`.
    """
    values: dict[str, int] = {}
    for op in ins.operands:
        if op.kind is Kind.MEM:
            values["mem.base"], values["mem.off"] = f.b, f.imm
        elif op.field == "X":
            values[op.name] = f.literal
        else:
            values[op.name] = {"A": f.a, "B": f.b, "C": f.c, "I": f.imm}[op.field]
    return values


def bad_register_field(ins: Instruction, f: Fields) -> str | None:
    """The register field that makes this word ILLEGAL (not 0..15, and not a load or store's
    "no base" 0xFF), or None. The engines and the disassembler all decide with this."""
    for fld in ins.register_fields():
        value = getattr(f, fld.lower())
        if value > 15 and not (fld == "B" and value == NO_BASE and has_memory_operand(ins)):
            return f"register field {fld} = {value}"
    return None


def has_memory_operand(ins: Instruction) -> bool:
    return any(o.kind is Kind.MEM for o in ins.operands)
