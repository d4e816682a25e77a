"""The guest ISA: instruction descriptions, traps and the generated reference. Imports nothing else of vm."""

from vm.isa.core import core_isa
from vm.isa.model import Instruction, InstructionSet, IsaError, Kind, instruction
from vm.isa.traps import DEFAULT_FUEL, MAX_FUEL, Trap

__all__ = ["DEFAULT_FUEL", "MAX_FUEL", "Instruction", "InstructionSet", "IsaError", "Kind", "Trap", "core_isa",
           "instruction"]
