"""Running a guest: load an image into a machine, pick an engine, collect the outcome and statistics.

This is the API under the CLI, the tests and the benchmarks.
"""

from __future__ import annotations

from pathlib import Path

from vm.arch.vm64 import InstructionSet, core_isa
from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.image import Image, ImageError
from vm.in_process import RunResult, run_machine
from vm.machine import DEFAULT_MEMORY, Machine, Outcome
from vm.monitor.cage import Attachment, Limits
from vm.monitor.host import Captured, Host

__all__ = ["MODES", "RunResult", "exit_status", "load_program", "outcome_message", "run_caged_machine", "run_image",
           "run_loaded", "run_machine"]

MODES = ("hw", "para", "auto", "os")
TRAP_EXIT_BASE = 64  # a trap exits with 64 + its code (ILLEGAL 65 ... UNSUPPORTED 74)
LIMIT_EXIT = 80  # the cage stopped the guest at one of its limits


def exit_status(outcome: Outcome) -> int:
    """The host exit status of a run that ended so: the guest's status, or one that names the trap or limit."""
    if outcome.limit is not None:
        return LIMIT_EXIT
    if outcome.trap is not None:
        return TRAP_EXIT_BASE + outcome.trap.value
    return outcome.exit & 0xFF


def outcome_message(result: RunResult, limits: Limits) -> str | None:
    """What `vm run` says on stderr of a run that did not end by exiting: the trap, pc and source line,
    or the limit that stopped it (the one the user set, as `limits` has it)."""
    outcome = result.outcome
    if outcome.limit is not None:
        text = f"vm: the cage stopped the guest at {limits.describe(outcome.limit)}"
    elif outcome.trap is not None:
        where = result.where(outcome.pc)
        text = f"vm: trap {outcome.trap.name} at {outcome.pc:#x}" + (f" ({where})" if where else "")
    else:
        return None
    return text + (f": {outcome.detail}" if outcome.detail else "")


def load_program(path: str | Path, isa: InstructionSet | None = None) -> Image:
    """An image from a `.vmi` file, or assembled from any other file (raises AssemblyError, ImageError)."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix == ".vmi":
        return Image.from_bytes(data, str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImageError(f"{path}: neither a vm image nor UTF-8 assembly text") from None
    return assemble(text, str(path), isa or core_isa())


def run_image(
    image: Image,
    mode: str = "hw",
    *,
    isa: InstructionSet | None = None,
    mem_size: int = DEFAULT_MEMORY,
    fuel: int | None = None,
    stdin: bytes | None = None,
    capture: bool = False,
    isolate: bool = False,
    limits: Limits | None = None,
    attach: Attachment | None = None,
    hold_memory: bool = True,
) -> RunResult:
    """Run an image to its end in the given mode; with `capture`, output is returned, not printed.

    os always runs the guest in the cage, under `limits`; `isolate` cages the other engines too (the
    guest then runs in a child process of its own, vm/isolate.py); `attach` (caged runs only) takes
    the guest's output and process instead of this process's streams; without `hold_memory` (caged runs
    only) guest memory exists only in the cage, and the result's machine has its digest, not its bytes."""
    isa = isa or core_isa()
    caged = mode == "os" or isolate
    if not (hold_memory or caged):
        raise ValueError("only a caged run (os, or isolate) can leave guest memory to the cage")
    return run_loaded(Machine.load(image, mem_size, caged=not hold_memory), mode, isa, fuel, stdin=stdin,
                      capture=capture, isolate=isolate, limits=limits, attach=attach)


def run_loaded(machine: Machine, mode: str, isa: InstructionSet, fuel: int | None, *, stdin: bytes | None = None,
               capture: bool = False, isolate: bool = False, limits: Limits | None = None,
               attach: Attachment | None = None) -> RunResult:
    """Run a machine from the state it is in (a fresh load, or a resumed snapshot) to its end."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "os" or isolate:
        return run_caged_machine(machine, mode, isa, fuel, stdin=stdin, capture=capture, limits=limits,
                                 attach=attach)
    if attach is not None:
        raise ValueError("only a caged run (os, or isolate) can be attached")
    host = Host(stdin=stdin, capture=capture)
    result = run_machine(machine, mode, isa, fuel, host)
    result.output = host.captured() if capture else None
    host.close()
    return result


def run_caged_machine(machine: Machine, mode: str, isa: InstructionSet, fuel: int | None, *, stdin: bytes | None,
                      capture: bool, limits: Limits | None, attach: Attachment | None = None) -> RunResult:
    """Run a loaded machine in a caged child process: the os engine's executable, or (isolated) a
    Python process running hw, para or auto."""
    stats: dict = {"engine": mode}
    if mode == "os":
        from vm.engines.os.engine import run_os

        run = run_os(isa, machine, fuel, limits=limits, stdin=stdin, capture=capture, stats=stats, attach=attach)
    else:
        from vm.isolate import run_isolated

        run = run_isolated(isa, machine, mode, fuel, limits=limits or Limits(), stdin=stdin, capture=capture,
                           stats=stats, attach=attach)
    stats.update(run.stats)
    stats["retired"] = run.outcome.retired
    stats.setdefault("vm_exits", 0)
    stats.setdefault("hypercalls", 0)
    stats.setdefault("run_seconds", 0.0)
    stats["cage"] = run.protections
    output = run.output if capture else None
    if capture and output is None:
        output = Captured(b"", b"")
    return RunResult(run.outcome, machine, mode, output, stats)
