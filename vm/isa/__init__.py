"""The description language every architecture's instructions are written in (vm.isa.semantics), with
its operand kinds and errors, and the traps a guest stops with. Imports nothing else of vm."""

from vm.isa.semantics import IsaError, Kind
from vm.isa.traps import DEFAULT_FUEL, MAX_FUEL, Trap

__all__ = ["DEFAULT_FUEL", "MAX_FUEL", "IsaError", "Kind", "Trap"]
