"""Running a static Linux executable of another architecture (RISC-V): read the ELF, lay out the
process as Linux would, and run hw's CPU with the monitor's system calls.

para and os run vm64 code on the host's own processor, so they refuse such a program with the trap
UNSUPPORTED and the reason; auto runs it in hw.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from vm.address_space import MAPPED, PAGE, PAGE_SHIFT
from vm.arch.riscv64.disassembler import Symbols, disassemble_word
from vm.arch.riscv64.isa import instruction_length
from vm.elf import read_executable
from vm.engines.hw_riscv64 import RiscvCpu, RiscvMachine
from vm.isa import Trap
from vm.machine import GuestTrap, Outcome
from vm.monitor.host import Captured, Host
from vm.monitor.linux import Linux
from vm.monitor.linux_process import Process, new_process

DEFAULT_LINUX_MEMORY = 256 << 20  # what a Linux program may map in all, its stack's 8 MiB included


@dataclass
class LinuxRun:
    """What a run of a Linux executable produced; the same questions as a vm64 RunResult answers."""

    outcome: Outcome
    machine: RiscvMachine
    process: Process
    mode: str
    output: Captured | None
    stats: dict = field(default_factory=dict)

    def where(self, pc: int) -> str | None:
        """The function and the instruction at pc: `main+0x12: lw a0, 0(a1)`."""
        symbols = Symbols([(s.addr + self.process.load_base, s.size, s.name)
                           for s in self.process.program.symbols])
        name = symbols.at(pc)
        try:
            word, size = _word_at(self.machine, pc)
        except GuestTrap:
            return name
        text = disassemble_word(word, size, pc)
        return f"{name}: {text}" if name else text

    def state(self) -> dict:
        """The final state in the JSON form of `vm run --state-out`."""
        m, o = self.machine, self.outcome
        return {
            "arch": "riscv64",
            "exit": o.exit,
            "trap": o.trap.name if o.trap else None,
            "limit": o.limit,
            "pc": o.pc,
            "source": self.where(o.pc) if o.trap else None,
            "retired": o.retired,
            "x": m.x[:32],
            "f": [f"{v & (1 << 64) - 1:016x}" for v in m.f],
            "fcsr": m.frm << 5 | m.fflags,
            "mem_mapped": m.space.mapped,
            "mem_sha256": memory_digest(m),
        }


def _word_at(machine: RiscvMachine, pc: int) -> tuple[int, int]:
    space = machine.space
    if not space.fetch_ok(pc, 2):
        raise GuestTrap(Trap.MEMFAULT)
    half = int.from_bytes(space.read(pc, 2), "little")
    size = instruction_length(half)
    if size == 2:
        return half, 2
    if not space.fetch_ok(pc, 4):
        raise GuestTrap(Trap.MEMFAULT)
    return int.from_bytes(space.read(pc, 4), "little"), 4


def memory_digest(machine: RiscvMachine) -> str:
    """SHA-256 over the mapped pages, each as its address and bytes: equal memory, equal digest."""
    digest = hashlib.sha256()
    space = machine.space
    for page, bits in enumerate(space.perm):
        if bits & MAPPED:
            addr = page << PAGE_SHIFT
            digest.update(addr.to_bytes(8, "little"))
            digest.update(space.mem[addr:addr + PAGE])
    return digest.hexdigest()


def run_executable(path: str | Path, args: list[str] | tuple[str, ...] = (), *, mode: str = "hw",
                   env: list[str] | tuple[str, ...] = (), mem_limit: int = DEFAULT_LINUX_MEMORY,
                   fuel: int | None = None, stdin: bytes | None = None, capture: bool = False,
                   root: str | Path | None = None, strict: bool = False) -> LinuxRun:
    """Run a static RISC-V Linux executable to its end (raises ElfError for a file it cannot load)."""
    program = read_executable(path)
    argv = [str(path).encode(), *(a.encode() for a in args)]
    process = new_process(program, argv, [e.encode() for e in env], mem_limit)
    machine = RiscvMachine(process.space, process.entry, process.sp)
    stats: dict = {"engine": mode, "arch": "riscv64"}
    if mode in ("para", "os"):
        reason = (f"{mode} runs vm64 code on the host's own processor; {Path(path).name} is a riscv64 program: "
                  "run it in hw (--mode hw or auto)")
        outcome = Outcome(None, Trap.UNSUPPORTED, process.entry, 0, reason)
        stats.update(retired=0, run_seconds=0.0, vm_exits=0, hypercalls=0, input_consumed=0)
        return LinuxRun(outcome, machine, process, mode, Captured(b"", b"") if capture else None, stats)
    host = Host(stdin=stdin, capture=capture)
    linux = Linux(process, host, root=Path(root) if root is not None else None, strict=strict)
    calls = [0]

    def syscall(x: list[int]) -> None:
        calls[0] += 1
        linux.syscall(x)

    cpu = RiscvCpu(machine, syscall)
    start = time.perf_counter()
    try:
        outcome = cpu.run(fuel) or Outcome(None, Trap.FUEL, machine.pc, machine.retired,
                                           "the instruction budget is spent")
    finally:
        host.flush()
    stats.update(
        run_seconds=time.perf_counter() - start,
        retired=outcome.retired,
        vm_exits=calls[0],
        hypercalls=0,
        syscalls=calls[0],
        input_consumed=host.input_consumed(),
    )
    if linux.refused:
        stats["refused_syscalls"] = ", ".join(f"{name} x{n}" for name, n in sorted(linux.refused.items()))
    output = host.captured() if capture else None
    host.close()
    return LinuxRun(outcome, machine, process, "hw" if mode == "auto" else mode, output, stats)
