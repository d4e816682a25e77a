"""`vm compare`: run one program in hw, para and os, check every observable agrees with hw, and show the speed."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.image import Image
from vm.machine import DEFAULT_MEMORY, Machine
from vm.run import RunResult, run_image, run_loaded
from vm.run_linux import DEFAULT_LINUX_MEMORY, LinuxRun, run_executable

OBSERVABLES = ("exit", "trap", "pc", "retired", "r", "f", "mem_sha256")
ENGINES = ("hw", "para", "os")  # hw is the reference the others are checked against


def _ips(r: RunResult) -> float:
    return r.stats["retired"] / r.stats["run_seconds"] if r.stats["run_seconds"] > 0 else float("inf")


def _result(r: RunResult) -> str:
    if r.outcome.limit is not None:
        return f"limit {r.outcome.limit}"
    return f"trap {r.outcome.trap.name}" if r.outcome.trap else f"exit {r.outcome.exit}"


@dataclass
class Comparison:
    runs: dict[str, RunResult]

    def differences(self, engine: str) -> list[str]:
        """What differs between `engine`'s run and hw's: output streams first, then the machine state."""
        reference, run = self.runs["hw"], self.runs[engine]
        a, b = reference.state(), run.state()
        streams = [name for name in ("stdout", "stderr")
                   if getattr(reference.output, name) != getattr(run.output, name)]
        return streams + [key for key in OBSERVABLES if a[key] != b[key]]

    @property
    def same(self) -> bool:
        return not any(self.differences(engine) for engine in self.runs)

    def table(self) -> str:
        hw = self.runs["hw"].stats

        def row(label: str, value) -> tuple:
            return (label, *(value(engine, r, r.stats) for engine, r in self.runs.items()))

        def compile_time(engine: str, r: RunResult, s: dict) -> str:
            return "-" if "compile_seconds" not in s else f"{s['compile_seconds']:.3f} ({s.get('cache', '-')})"

        def speedup(engine: str, r: RunResult, s: dict) -> str:
            return f"{hw['run_seconds'] / s['run_seconds']:,.1f}x" if s["run_seconds"] > 0 else "-"

        def interpreted(engine: str, r: RunResult, s: dict) -> str:
            return f"{s['retired'] if engine == 'hw' else s.get('hw_instructions', 0):,}"

        rows = [
            ("", *self.runs),
            row("result", lambda e, r, s: _result(r)),
            row("retired instructions", lambda e, r, s: f"{s['retired']:,}"),
            row("compile time (s)", compile_time),
            row("run time (s)", lambda e, r, s: f"{s['run_seconds']:.6f}"),
            row("guest instructions/s", lambda e, r, s: f"{_ips(r):,.0f}"),
            row("speedup (run time)", speedup),
            row("VM exits", lambda e, r, s: f"{s['vm_exits']:,}"),
            row("hypercalls", lambda e, r, s: f"{s['hypercalls']:,}"),
            row("run by the interpreter", interpreted),
            row("caged", lambda e, r, s: "yes" if "cage" in s else "no"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = ["  ".join([f"{r[0]:<{width}}", *(f"{cell:>22}" for cell in r[1:])]) for r in rows]
        if "cage" in self.runs["os"].stats:
            lines.append(f"os cage: {', '.join(self.runs['os'].stats['cage']) or 'no protections in force'}")
        if self.same:
            lines.append(f"identical: output, {_result(self.runs['hw'])}, pc, registers, memory and instruction count")
            return "\n".join(lines)
        a = self.runs["hw"].state()
        for engine, run in self.runs.items():
            differences = self.differences(engine)
            if not differences:
                continue
            lines.append(f"DIFFERENT in {engine}: " + ", ".join(differences))
            if run.outcome.trap is not None and run.outcome.trap.name == "UNSUPPORTED":
                lines.append(f"  {engine} refused the program: {run.outcome.detail}")
            b = run.state()
            lines.extend(f"  {key}: hw {shown(key, a[key])} / {engine} {shown(key, b[key])}" for key in differences
                         if key in a)
        return "\n".join(lines)


def shown(key: str, value: object) -> str:
    """A value of a run's state in words, not Python's: none, a trap's name, pc in hex, output quoted."""
    if value is None:
        return "none"
    if key == "pc" and isinstance(value, int):
        return f"{value:#x}"
    if isinstance(value, bytes):
        return json.dumps(value.decode("utf-8", "backslashreplace"))
    if isinstance(value, list):
        return "[" + ", ".join(shown(key, v) for v in value) + "]"
    return str(value)


def compare_file(image: Image, isa: InstructionSet, *, mem_size: int = DEFAULT_MEMORY, fuel: int | None = None,
                 stdin: bytes = b"") -> Comparison:
    """Run hw, then para, then os, on the same input, each with its output captured."""
    return Comparison({mode: run_image(image, mode, isa=isa, mem_size=mem_size, fuel=fuel, stdin=stdin, capture=True)
                       for mode in ENGINES})


@dataclass
class Divergence:
    """The first instruction after which an engine's state is not hw's."""

    engine: str
    number: int  # the instruction's number: the first retired is 1
    pc: int
    where: str | None
    differences: list[str]  # "r5: hw 3 / para 4", "stdout: ..."

    def describe(self) -> str:
        at = f"{self.pc:#x}" + (f" ({self.where})" if self.where else "")
        return (f"hw and {self.engine} part at instruction {self.number:,}, at {at}; after it:\n"
                + "\n".join(f"  {d}" for d in self.differences))


Runner = Callable[..., RunResult]


def first_divergence(image: Image, isa: InstructionSet, engine: str, *, mem_size: int = DEFAULT_MEMORY,
                     stdin: bytes = b"", fuel: int | None = None, run: Runner = run_loaded) -> Divergence | None:
    """Bisect on the instruction count for the first instruction after which `engine` and hw differ.

    Each probe starts both engines from the last state they were seen to agree on (a snapshot of it
    taken from hw, with the input it had not yet read) and runs them the same number of
    instructions, so a probe costs the distance it covers, not the whole run."""
    base = Machine.load(image, mem_size)
    consumed = 0
    full = {mode: run(_copy(base), mode, isa, fuel, stdin=stdin, capture=True) for mode in ("hw", engine)}
    if not _parted(full["hw"], full[engine]):
        return None
    lo, hi = 0, max(r.outcome.retired for r in full.values())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        probe = {mode: run(_copy(base), mode, isa, mid - lo, stdin=stdin[consumed:], capture=True)
                 for mode in ("hw", engine)}
        if _parted(probe["hw"], probe[engine]):
            hi = mid
        else:
            base, lo = probe["hw"].machine, mid
            consumed += probe["hw"].stats.get("input_consumed", 0)
    probe = {mode: run(_copy(base), mode, isa, 1, stdin=stdin[consumed:], capture=True) for mode in ("hw", engine)}
    return Divergence(engine, hi, base.pc, image.where(base.pc), _parted(probe["hw"], probe[engine]))


def _copy(machine: Machine) -> Machine:
    return Machine(machine.image, bytearray(machine.mem), list(machine.regs), list(machine.fregs), machine.pc,
                   machine.retired)


def _parted(reference: RunResult, run: RunResult) -> list[str]:
    """What differs between two runs of the same stretch: output, how it ended, registers, memory."""
    out = [f"{name}: hw {shown(name, getattr(reference.output, name))} / {run.mode} "
           f"{shown(name, getattr(run.output, name))}"
           for name in ("stdout", "stderr") if getattr(reference.output, name) != getattr(run.output, name)]
    a, b = reference.state(), run.state()
    for key in OBSERVABLES:
        if a[key] == b[key]:
            continue
        if key in ("r", "f"):
            pairs = enumerate(zip(a[key], b[key], strict=True))
            out += [f"{key}{i}: hw {shown(key, x)} / {run.mode} {shown(key, y)}" for i, (x, y) in pairs if x != y]
        else:
            out.append(f"{key}: hw {shown(key, a[key])} / {run.mode} {shown(key, b[key])}")
    return out


# -- another architecture: hw against QEMU's user mode -------------------------------------------------------
QEMU_USER = "qemu-riscv64"
_SIGNAL_OF_TRAP = {"MEMFAULT": signal.SIGSEGV, "ILLEGAL": signal.SIGILL, "BREAK": signal.SIGTRAP,
                   "MISALIGNED": signal.SIGBUS}  # what Linux does to a program where hw traps


class ReferenceMissing(Exception):
    """The reference emulator is not installed; the message says which package has it."""


@dataclass
class ReferenceRun:
    stdout: bytes
    stderr: bytes
    status: int  # the exit status, or minus the signal that ended it
    seconds: float


@dataclass
class ExecutableComparison:
    """hw's run of a RISC-V executable beside qemu-riscv64's: what a user sees (output, how it ended)."""

    hw: LinuxRun
    qemu: ReferenceRun

    def ending(self) -> tuple[str, str]:
        """How each run ended, in words; a trap in hw reads as the signal Linux would have sent."""
        outcome = self.hw.outcome
        if outcome.trap is not None:
            sig = _SIGNAL_OF_TRAP.get(outcome.trap.name)
            ours = f"signal {sig.name} (trap {outcome.trap.name})" if sig else f"trap {outcome.trap.name}"
        else:
            ours = f"exit {outcome.exit}"
        status = self.qemu.status
        theirs = f"signal {signal.Signals(-status).name}" if status < 0 else f"exit {status}"
        return ours, theirs

    def differences(self) -> list[str]:
        out = [name for name in ("stdout", "stderr")
               if getattr(self.hw.output, name) != getattr(self.qemu, name)]
        ours, theirs = self.ending()
        if ours.split(" (")[0] != theirs:
            out.append("ending")
        return out

    @property
    def same(self) -> bool:
        return not self.differences()

    def table(self) -> str:
        ours, theirs = self.ending()
        hw_seconds = self.hw.stats["run_seconds"]
        retired = self.hw.outcome.retired
        rows = [
            ("", "hw", QEMU_USER),
            ("result", ours, theirs),
            ("retired instructions", f"{retired:,}", "-"),
            ("time (s)", f"{hw_seconds:.6f}", f"{self.qemu.seconds:.6f} (wall, with start-up)"),
            ("guest instructions/s", f"{retired / hw_seconds:,.0f}" if hw_seconds > 0 else "-", "-"),
            ("system calls", f"{self.hw.stats.get('syscalls', 0):,}", "-"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = ["  ".join([f"{r[0]:<{width}}", f"{r[1]:>24}", f"{r[2]:>32}"]) for r in rows]
        if hw_seconds > 0 and self.qemu.seconds > 0:
            lines.append(f"hw takes {hw_seconds / self.qemu.seconds:,.1f}x qemu's time: hw interprets each "
                         "instruction, qemu translates blocks to host code")
        differences = self.differences()
        if not differences:
            lines.append(f"identical: standard output, standard error and {ours.split(' (')[0]}")
        else:
            lines.append("DIFFERENT: " + ", ".join(differences))
            for name in ("stdout", "stderr"):
                if name in differences:
                    lines.append(f"  {name}: hw {getattr(self.hw.output, name)[:200]!r} / "
                                 f"qemu {getattr(self.qemu, name)[:200]!r}")
        return "\n".join(lines)


def compare_executable(path: str | Path, args: list[str], *, stdin: bytes = b"", fuel: int | None = None,
                       mem_limit: int = DEFAULT_LINUX_MEMORY, timeout: float = 600.0) -> ExecutableComparison:
    """Run a static RISC-V executable in hw, then under qemu-riscv64 on the same arguments and input."""
    qemu = shutil.which(QEMU_USER)
    if qemu is None:
        raise ReferenceMissing(f"{QEMU_USER} is not installed (Debian's qemu-user has it): nothing to compare "
                               "hw's run with")
    hw = run_executable(path, args, stdin=stdin, capture=True, fuel=fuel, mem_limit=mem_limit)
    start = time.perf_counter()
    done = subprocess.run([qemu, str(path), *args], input=stdin, capture_output=True, timeout=timeout, check=False)
    return ExecutableComparison(hw, ReferenceRun(done.stdout, done.stderr, done.returncode,
                                                 time.perf_counter() - start))
