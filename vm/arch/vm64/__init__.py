"""vm64, the project's own architecture: its instruction descriptions (instructions.py), their model and
8-byte encoding, the generated reference, its assembly language (asm/) and its image format (image.py)."""

from vm.arch.vm64.instructions import core_isa
from vm.arch.vm64.model import Instruction, InstructionSet, instruction

__all__ = ["Instruction", "InstructionSet", "core_isa", "instruction"]
