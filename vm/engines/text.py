"""The guest's text as translating engines see it: decoded words, cut into basic blocks.

para and os both translate the text ahead of time; they decode it and cut it into blocks here, so
they agree on what a block is.
"""

from __future__ import annotations

from dataclasses import dataclass

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.encoding import Fields, bad_register_field, decode_word, with_literal
from vm.arch.vm64.image import LOAD_ADDRESS, Image
from vm.arch.vm64.model import WORD, Instruction
from vm.isa import Kind, Trap


def code_write(pc: int, address: int | None) -> str:
    """What para and os say of a store the guest would make into their translated text: the store's
    pc and (where known) the address it writes."""
    at = f" at {address:#x}" if address is not None else ""
    return f"a store at {pc:#x} into translated code{at} (self-modifying code)"


@dataclass
class Decoded:
    """One word of the text: an instruction with its fields, or something that traps or needs hw."""

    pc: int
    ins: Instruction | None
    fields: Fields | None
    size: int = WORD
    trap: Trap | None = None  # decodes to a trap (ILLEGAL)
    untranslated: bool = False  # a literal beyond the text: left to the interpreter

    @property
    def ends_block(self) -> bool:
        return self.ins is None or self.untranslated or self.ins.semantics.ends_block


def decode_text(image: Image, isa: InstructionSet) -> list[Decoded]:
    out: list[Decoded] = []
    pc, mem = LOAD_ADDRESS, image.memory
    text_end = image.text_end - (image.text_end - LOAD_ADDRESS) % WORD
    while pc < text_end:
        off = pc - LOAD_ADDRESS
        fields = decode_word(mem[off : off + WORD])
        ins = isa.by_opcode.get(fields.opcode)
        if ins is None or bad_register_field(ins, fields):
            out.append(Decoded(pc, None, None, trap=Trap.ILLEGAL))
            pc += WORD
            continue
        if ins.size > WORD:
            if pc + ins.size > text_end:
                out.append(Decoded(pc, ins, fields, ins.size, untranslated=True))
                break
            fields = with_literal(fields, mem[off + WORD : off + 2 * WORD])
        out.append(Decoded(pc, ins, fields, ins.size))
        pc += ins.size
    return out


def static_target(d: Decoded) -> int | None:
    if d.ins is None:
        return None
    for op in d.ins.operands:
        if op.kind is Kind.TARGET:
            return d.fields.imm
    return None



def cut_blocks(image: Image, words: list[Decoded]) -> tuple[list[list[Decoded]], set[int]]:
    """The text's basic blocks, and the addresses where functions start (the entry and call targets).

    A block starts at the first word, a label, the entry, a jump target and after every instruction
    that ends a block; every engine that translates the text cuts it here."""
    if not words:
        return [], set()
    starts = {d.pc for d in words}
    leaders = {words[0].pc} | {a for a in image.symbols.values() if a in starts}
    if image.entry in starts:
        leaders.add(image.entry)
    entries = {words[0].pc} | ({image.entry} & starts)
    for d in words:
        target = static_target(d)
        if target in starts:
            leaders.add(target)
            if d.ins.flow == "call":
                entries.add(target)
        if d.ends_block:
            leaders.add(d.pc + d.size)
    blocks: list[list[Decoded]] = []
    for d in words:
        if d.pc in leaders or not blocks or blocks[-1][-1].ends_block:
            blocks.append([])
        blocks[-1].append(d)
    return blocks, entries
