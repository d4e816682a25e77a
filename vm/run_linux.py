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
from vm.elf import ElfProgram, read_executable
from vm.engines.hw_riscv64 import RiscvCpu, fetch_word
from vm.isa import Trap
from vm.machine import GuestTrap, Outcome, RiscvMachine, fuel_outcome
from vm.monitor.host import Captured, Host
from vm.monitor.linux import Linux
from vm.monitor.linux_process import Process, SeededRandom, new_process
from vm.snapshot import ProcessSnapshot, SnapshotError
from vm.trace import TraceSpan, run_riscv_traced

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
    linux: dict = field(default_factory=dict)  # the system calls' state at the end (Linux.save)
    root: Path | None = None  # the run's --dir and --strict-syscalls, which a resumed run keeps
    strict: bool = False

    def where(self, pc: int) -> str | None:
        """The function and the instruction at pc: `main+0x12: lw a0, 0(a1)`."""
        name = process_symbols(self.process).at(pc)
        try:
            word, size = fetch_word(self.machine.space, pc)
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

    def snapshot(self, budget: int) -> ProcessSnapshot:
        """The process as this run left it, to go on with `budget` more instructions."""
        return ProcessSnapshot(self.machine, self.process, self.linux, self.stats.get("input_consumed", 0), budget,
                               self.root, self.strict)


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


def process_symbols(process: Process) -> Symbols:
    """The program's function symbols where the process has them (its load base added)."""
    return Symbols([(s.addr + process.load_base, s.size, s.name) for s in process.program.symbols])


def run_executable(path: str | Path, args: list[str] | tuple[str, ...] = (), *, mode: str = "hw",
                   env: list[str] | tuple[str, ...] = (), mem_limit: int = DEFAULT_LINUX_MEMORY,
                   fuel: int | None = None, stdin: bytes | None = None, capture: bool = False,
                   root: str | Path | None = None, strict: bool = False, trace: TraceSpan | None = None,
                   seed: bytes | None = None) -> LinuxRun:
    """Run a static RISC-V Linux executable to its end (raises ElfError for a file it cannot load).

    With a `seed`, the guest's random bytes (AT_RANDOM, getrandom) come from it, not from the host:
    two runs with the same seed and input are the same, to the last byte of memory."""
    return run_program(read_executable(path), args, mode=mode, env=env, mem_limit=mem_limit, fuel=fuel,
                       stdin=stdin, capture=capture, root=root, strict=strict, trace=trace, seed=seed)


def load_process(program: ElfProgram, args: list[str] | tuple[str, ...], env: list[str] | tuple[str, ...],
                 mem_limit: int, seed: bytes | None) -> tuple[Process, SeededRandom | None]:
    """The program laid out as a new process (argv[0] its path), and the seeded random stream it drew
    AT_RANDOM from (None: the host's). Raises ElfError for a program that does not fit `mem_limit`."""
    argv = [program.path.encode(), *(a.encode() for a in args)]
    random = SeededRandom(seed) if seed is not None else None
    process = new_process(program, argv, [e.encode() for e in env], mem_limit,
                          random.take(16) if random is not None else None)
    return process, random


def refusal_reason(mode: str, name: str) -> str:
    """Why para and os do not run a RISC-V program: what `vm run` and `vm image build` say."""
    return (f"{mode} runs vm64 code on the host's own processor; {name} is a riscv64 program: "
            "run it in hw (--mode hw or auto)")


def run_program(program: ElfProgram, args: list[str] | tuple[str, ...] = (), *, mode: str = "hw",
                env: list[str] | tuple[str, ...] = (), mem_limit: int = DEFAULT_LINUX_MEMORY,
                fuel: int | None = None, stdin: bytes | None = None, capture: bool = False,
                root: str | Path | None = None, strict: bool = False, trace: TraceSpan | None = None,
                seed: bytes | None = None, host: Host | None = None, exe: str | None = None) -> LinuxRun:
    """Run a program read by read_executable, as run_executable does; `host` (if given) has the streams,
    `exe` is its absolute path (by default its path from this process's working directory)."""
    process, random = load_process(program, args, env, mem_limit, seed)
    machine = RiscvMachine(process.space, process.entry, process.sp)
    if mode in ("para", "os"):
        outcome = Outcome(None, Trap.UNSUPPORTED, process.entry, 0, refusal_reason(mode, Path(program.path).name))
        stats = {"engine": mode, "arch": "riscv64", "retired": 0, "run_seconds": 0.0, "vm_exits": 0,
                 "hypercalls": 0, "input_consumed": 0}
        return LinuxRun(outcome, machine, process, mode, Captured(b"", b"") if capture else None, stats)
    host = host or Host(stdin=stdin, capture=capture)
    linux = Linux(process, host, root=Path(root) if root is not None else None, strict=strict, random=random,
                  exe=exe)
    return _run(machine, linux, "hw" if mode == "auto" else mode, fuel, capture, trace)


def resume_executable(snapshot: ProcessSnapshot, *, fuel: int | None = None, stdin: bytes | None = None,
                      capture: bool = False, host: Host | None = None, exe: str | None = None) -> LinuxRun:
    """Go on with a snapshot's process, in hw, for `fuel` more instructions (by default the budget it had
    left). `stdin` is the input from where the snapshotted run had read to; None reads this process's own.
    `host` and `exe` are as run_program's."""
    host = host or Host(stdin=stdin, capture=capture)
    try:
        linux = Linux.restore(snapshot.process, host, snapshot.linux, root=snapshot.root, strict=snapshot.strict,
                              exe=exe)
    except OSError as e:
        host.close()
        raise SnapshotError(f"{snapshot.source}: {e.strerror}: give it its files as they were") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        host.close()
        raise SnapshotError(f"{snapshot.source}: the snapshot's system call state is malformed: {e!r}") from None
    return _run(snapshot.machine, linux, "hw", snapshot.budget if fuel is None else fuel, capture, None,
                snapshot.input_consumed)


def _run(machine: RiscvMachine, linux: Linux, mode: str, fuel: int | None, capture: bool,
         trace: TraceSpan | None, input_before: int = 0) -> LinuxRun:
    """Run the process's CPU with its system calls to a stop or the end of `fuel`; the run's record."""
    host, calls = linux.host, [0]

    def syscall(x: list[int]) -> None:
        calls[0] += 1
        linux.syscall(x)

    stats: dict = {"engine": mode, "arch": "riscv64"}
    start = time.perf_counter()
    try:
        if trace is None:
            outcome = RiscvCpu(machine, syscall).run(fuel)
        else:
            outcome, stats["traced"] = run_riscv_traced(machine, syscall, fuel, trace, process_symbols(linux.process))
        outcome = outcome or fuel_outcome(machine)
    finally:
        host.flush()
        linux_state = linux.save()
        linux.close()
    stats.update(
        run_seconds=time.perf_counter() - start,
        retired=outcome.retired,
        vm_exits=calls[0],
        hypercalls=0,
        syscalls=calls[0],
        input_consumed=input_before + host.input_consumed(),
    )
    if linux.refused:
        stats["refused_syscalls"] = ", ".join(f"{name} x{n}" for name, n in sorted(linux.refused.items()))
    output = host.captured() if capture else None
    host.close()
    return LinuxRun(outcome, machine, linux.process, mode, output, stats, linux_state, linux.root, linux.strict)
