"""The RV64GC instruction set: every description collected, and the decoder built from their patterns."""

from __future__ import annotations

import functools
from collections import defaultdict

from vm.arch.riscv64 import rv64a, rv64c, rv64fd, rv64i, rv64m, zicsr
from vm.arch.riscv64.model import RvInstruction
from vm.isa import IsaError

EXTENSIONS = (rv64i, rv64m, rv64a, rv64fd, rv64c, zicsr)


def instruction_length(low_half: int) -> int:
    """Bytes in the instruction whose first 16 bits are these: 4 when the low two bits are 11, else 2."""
    return 4 if low_half & 3 == 3 else 2


class RiscvIsa:
    """All instructions, indexed for decoding: by major opcode (32-bit) or quadrant and funct3 (16-bit),
    most specific pattern first, so a reserved or special case (c.nop, c.addi16sp) wins over the general."""

    name = "riscv64"

    def __init__(self, instructions: list[RvInstruction]) -> None:
        self.instructions = instructions
        self.by_mnemonic: dict[str, RvInstruction] = {}
        self._groups: dict[tuple[int, int], list[RvInstruction]] = defaultdict(list)
        seen: dict[tuple[int, int, int], RvInstruction] = {}
        for ins in instructions:
            if ins.mnemonic in self.by_mnemonic:
                raise IsaError(f"instruction {ins.mnemonic!r} is described twice")
            self.by_mnemonic[ins.mnemonic] = ins
            key = (ins.size, ins.pattern.mask, ins.pattern.match)
            if key in seen and ins.valid is None and seen[key].valid is None:
                raise IsaError(f"instructions {seen[key].mnemonic!r} and {ins.mnemonic!r} have the same encoding")
            seen[key] = ins
            self._groups[self._group(ins.pattern.match, ins.size)].append(ins)
        for group in self._groups.values():
            group.sort(key=lambda i: -i.pattern.fixed_bits)

    def check(self) -> None:
        """Parse and check every instruction's semantics (a run parses only those it decodes)."""
        for ins in self.instructions:
            _ = ins.semantics

    @staticmethod
    def _group(word: int, size: int) -> tuple[int, int]:
        return (size, word & 0x7F) if size == 4 else (size, (word >> 13) << 2 | word & 3)

    def decode(self, word: int, size: int) -> tuple[RvInstruction, dict[str, int]] | None:
        """The instruction a 16- or 32-bit word encodes and its operands' values, or None (illegal)."""
        for ins in self._groups.get(self._group(word, size), ()):
            if word & ins.pattern.mask == ins.pattern.match:
                values = ins.decode_operands(word)
                if ins.accepts(values):
                    return ins, values
        return None


@functools.cache
def riscv64_isa() -> RiscvIsa:
    return RiscvIsa([ins for ext in EXTENSIONS for ins in ext.instructions()])
