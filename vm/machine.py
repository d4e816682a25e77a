"""Machine state, shared by every engine, and the outcome of a run: vm64's machine, and a RISC-V hart
with its process's address space."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vm.arch.riscv64.registers import X_ZERO_SINK
from vm.arch.vm64.encoding import float_bits
from vm.arch.vm64.image import LOAD_ADDRESS, Image
from vm.isa import Trap

if TYPE_CHECKING:
    from vm.address_space import AddressSpace

DEFAULT_MEMORY = 1 << 20
MIN_MEMORY = 64 * 1024
MAX_MEMORY = 4 << 30
PAGE = 4096


class GuestTrap(Exception):
    """A trap raised while executing an instruction; the instruction has changed nothing."""

    def __init__(self, trap: Trap, detail: str = "") -> None:
        super().__init__(trap.name)
        self.trap = trap
        self.detail = detail


class Halted(Exception):
    """HALT or EXIT: the machine stops with this exit status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class LoadError(ValueError):
    """An image that does not fit the machine it is loaded into."""


def check_memory_size(size: int) -> None:
    if not MIN_MEMORY <= size <= MAX_MEMORY or size % PAGE:
        raise LoadError(f"memory size {size} must be a multiple of {PAGE} from {MIN_MEMORY} to {MAX_MEMORY}")


@dataclass
class CagedMemory:
    """Guest memory this process never holds: it exists only in a caged run's state file and child process
    (the daemon's guests, so that a 4 GiB guest cannot grow the daemon). Known here are its size and, once
    the run has ended, its SHA-256; the image's bytes are written into the state file at load."""

    size: int
    sha256: str | None = None

    def __len__(self) -> int:
        return self.size


@dataclass
class Machine:
    """Registers, memory, pc and the retired-instruction counter of one guest."""

    image: Image
    mem: bytearray | CagedMemory
    regs: list[int] = field(default_factory=lambda: [0] * 16)
    fregs: list[float] = field(default_factory=lambda: [0.0] * 16)
    pc: int = 0
    retired: int = 0

    @classmethod
    def load(cls, image: Image, mem_size: int = DEFAULT_MEMORY, *, caged: bool = False) -> Machine:
        """The image loaded into fresh memory; `caged`: memory that only a caged run will hold (CagedMemory)."""
        check_memory_size(mem_size)
        if image.end > mem_size:
            raise LoadError(f"the program needs {image.end} bytes of memory; --mem is {mem_size}")
        if caged:
            mem: bytearray | CagedMemory = CagedMemory(mem_size)
        else:
            mem = bytearray(mem_size)
            mem[LOAD_ADDRESS : image.end] = image.memory
        machine = cls(image, mem, pc=image.entry)
        machine.regs[15] = mem_size
        return machine

    @property
    def mem_size(self) -> int:
        return len(self.mem)


class RiscvMachine:
    """The state of one RISC-V hart in user mode: registers, fcsr, pc, the count of retired
    instructions and the address space. x has 33 entries: x[32] takes the writes to x0."""

    def __init__(self, space: AddressSpace, pc: int, sp: int) -> None:
        self.space = space
        self.x = [0] * (X_ZERO_SINK + 1)
        self.x[2] = sp
        self.f = [0] * 32
        self.fflags = 0
        self.frm = 0
        self.pc = pc
        self.retired = 0
        self.reservation: tuple[int, int, int] | None = None  # (address, size, value loaded)


@dataclass
class Outcome:
    """How a run ended: an exit status, a trap, or (in the cage) a limit, and where."""

    exit: int | None
    trap: Trap | None
    pc: int
    retired: int
    detail: str = ""
    limit: str | None = None  # a caged guest that an OS limit stopped: "cpu", "memory", "output", ...

    def source(self, image: Image) -> str | None:
        info = image.line_at(self.pc)
        return f"{image.source}:{info.line}" if info else None


def fuel_outcome(machine: Machine | RiscvMachine) -> Outcome:
    """The run's instruction budget is spent: FUEL, at the instruction that would come next."""
    return Outcome(None, Trap.FUEL, machine.pc, machine.retired, "the instruction budget is spent")


def state_dict(machine: Machine, outcome: Outcome) -> dict:
    """The final state in the JSON form of `vm run --state-out`."""
    return {
        "exit": outcome.exit,
        "trap": outcome.trap.name if outcome.trap else None,
        "limit": outcome.limit,
        "pc": outcome.pc,
        "source": outcome.source(machine.image),
        "retired": outcome.retired,
        "r": list(machine.regs),
        "f": [f"{float_bits(x) & (2**64 - 1):016x}" for x in machine.fregs],
        "mem_size": machine.mem_size,
        "mem_sha256": machine.mem.sha256 if isinstance(machine.mem, CagedMemory)
        else hashlib.sha256(machine.mem).hexdigest(),
    }
