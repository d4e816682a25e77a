"""vm64, the project's own architecture: its instruction descriptions (instructions.py), their model and
8-byte encoding, and the generated reference. Its assembler is vm.asm, its image format vm.image."""

from vm.arch.vm64.instructions import core_isa
from vm.arch.vm64.model import Instruction, InstructionSet, instruction

__all__ = ["Instruction", "InstructionSet", "core_isa", "instruction"]
