"""The disassembler: an image back to assembly text that reassembles to identical bytes.

Each instruction line carries its address and bytes in a comment. A word that is not an instruction,
or that would not encode back to the same bytes (nonzero unused fields, NaN payloads), is written as
`.quad`, so the round trip is exact for any image.
"""

from __future__ import annotations

import math
from collections import defaultdict

from vm.arch.vm64 import InstructionSet, core_isa
from vm.arch.vm64.encoding import (
    Fields,
    bad_register_field,
    bits_float,
    decode_word,
    encode,
    operand_values,
    with_literal,
)
from vm.arch.vm64.image import LOAD_ADDRESS, Image
from vm.arch.vm64.model import NO_BASE, WORD, Instruction
from vm.isa import Kind

CANONICAL_NAN_BITS = 0x7FF8000000000000


def _float_text(bits: int) -> str | None:
    """Assembly text for a binary64 that parses back to the same bits, or None if there is none."""
    value = bits_float(bits)
    if math.isnan(value):
        return {CANONICAL_NAN_BITS: "nan", (CANONICAL_NAN_BITS | 1 << 63) - 2**64: "-nan"}.get(bits)
    return repr(value)


class Disassembler:
    def __init__(self, image: Image, isa: InstructionSet | None = None) -> None:
        self.image = image
        self.isa = isa or core_isa()
        self.labels: dict[int, list[str]] = defaultdict(list)
        for name, addr in sorted(image.symbols.items(), key=lambda kv: (kv[1], kv[0])):
            self.labels[addr].append(name)

    def name_of(self, addr: int) -> str:
        names = self.labels.get(addr)
        return names[0] if names else f"{addr:#x}"

    def operand_texts(self, ins: Instruction, f: Fields) -> list[str] | None:
        values = operand_values(ins, f)
        out = []
        if bad_register_field(ins, f):
            return None
        for op in ins.operands:
            if op.kind is Kind.REG:
                out.append(f"r{values[op.name]}")
            elif op.kind is Kind.FREG:
                out.append(f"f{values[op.name]}")
            elif op.kind is Kind.MEM:
                base, off = values["mem.base"], values["mem.off"]
                if base == NO_BASE:
                    out.append(f"[{self.name_of(off) if off in self.labels else off}]")
                else:
                    out.append(f"[r{base}{off:+d}]" if off else f"[r{base}]")
            elif op.kind is Kind.TARGET:
                if values[op.name] < 0:
                    return None
                out.append(self.name_of(values[op.name]) if values[op.name] in self.labels else str(values[op.name]))
            elif op.kind is Kind.FLIT:
                text = _float_text(values[op.name])
                if text is None:
                    return None
                out.append(text)
            else:
                out.append(str(values[op.name]))
        return out

    def instruction_at(self, addr: int) -> tuple[Instruction, Fields, str] | None:
        """The instruction at addr and its text, if its bytes round-trip; else None."""
        mem = self.image.memory
        offset = addr - LOAD_ADDRESS
        word = mem[offset : offset + WORD]
        if len(word) < WORD:
            return None
        f = decode_word(word)
        ins = self.isa.by_opcode.get(f.opcode)
        if ins is None:
            return None
        if ins.size > WORD:
            literal = mem[offset + WORD : offset + 2 * WORD]
            if len(literal) < WORD or addr + ins.size > self.image.text_end:
                return None
            f = with_literal(f, literal)
        texts = self.operand_texts(ins, f)
        if texts is None:
            return None
        expected = encode(_canonical(ins, f), ins.size)
        if expected != mem[offset : offset + ins.size]:
            return None
        return ins, f, f"{ins.mnemonic} {', '.join(texts)}".strip()

    def lines(self) -> list[str]:
        image = self.image
        out = [f"; disassembly of {image.source}", ".text"]
        addr = LOAD_ADDRESS
        entry_named = image.entry in self.labels
        while addr < image.text_end:
            out += [f"{name}:" for name in self.labels.get(addr, [])]
            found = self.instruction_at(addr) if addr % WORD == 0 and addr + WORD <= image.text_end else None
            if found:
                ins, _, text = found
                size = ins.size
            else:
                size = WORD if addr % WORD == 0 and addr + WORD <= image.text_end else 1
                text = self._data(addr, size)
            inner = min((a for a in self.labels if addr < a < addr + size), default=None)
            if inner is not None:  # a label inside the item: split the item so that the label is defined
                size = inner - addr
                text = self._data(addr, size)
            raw = image.memory[addr - LOAD_ADDRESS : addr - LOAD_ADDRESS + size]
            out.append(f"    {text:<32} ; {addr:#07x}: {raw.hex(' ')}")
            addr += size
        data_start = (image.text_end + 7) & ~7
        if data_start != image.text_end:  # labels right after text that does not end at a multiple of 8
            out += [f"{name}:" for name in self.labels.get(image.text_end, [])]
        if data_start < image.end or any(a >= image.text_end for a in self.labels):
            out.append(".data")
        addr = data_start
        while addr < image.end:
            out += [f"{name}:" for name in self.labels.get(addr, [])]
            nxt = min([a for a in self.labels if a > addr] + [image.end, (addr & ~7) + WORD])
            out.append(f"    {self._data(addr, nxt - addr)}")
            addr = nxt
        out += [f"{name}:" for a, names in sorted(self.labels.items()) if a >= image.end for name in names]
        if not entry_named and image.entry != LOAD_ADDRESS:
            out.append(f"; entry point {image.entry:#x} has no label: it cannot be reassembled as is")
        return out

    def _data(self, addr: int, size: int) -> str:
        raw = self.image.memory[addr - LOAD_ADDRESS : addr - LOAD_ADDRESS + size]
        if size == WORD and addr % WORD == 0:
            return f".quad {int.from_bytes(raw, 'little'):#018x}"
        return ".byte " + ", ".join(f"{b:#04x}" for b in raw)


def _canonical(ins: Instruction, f: Fields) -> Fields:
    """The fields the assembler would write for this instruction (unused fields zero)."""
    used = {"opcode": f.opcode}
    for op in ins.operands:
        if op.field == "BI":
            used["b"], used["imm"] = f.b, f.imm
        elif op.field == "X":
            used["literal"] = f.literal
        else:
            key = {"A": "a", "B": "b", "C": "c", "I": "imm"}[op.field]
            used[key] = getattr(f, key)
    return Fields(**used)


def disassemble(image: Image, isa: InstructionSet | None = None) -> str:
    return "\n".join(Disassembler(image, isa).lines()) + "\n"
