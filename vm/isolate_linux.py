"""`--isolate` of a RISC-V executable: hw in a caged child process, as vm/isolate.py runs vm64's engines.

A RISC-V process's memory is a sparse address space that the child lays out itself, so the state
file holds no guest memory: the parent writes the executable (or a process snapshot) into the
cage's working directory, the child runs hw on it as an uncaged run does, and it reports its end
(the state `--state-out` writes, where it trapped, its statistics) as JSON in the state file's room
after the header. The limits stop it, and are reported, as they stop vm64's caged runs.
"""

from __future__ import annotations

import json
import mmap
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vm.isolate import (
    REQUEST,
    child_command,
    child_main,
    child_request,
    console_host,
    enter_cage,
    limit_reached,
    report_outcome,
)
from vm.machine import Outcome
from vm.monitor.cage import STATE_BYTES, Attachment, CagedRun, Limits, run_caged
from vm.monitor.host import Captured, lib

if TYPE_CHECKING:
    from vm.run_linux import LinuxRun
    from vm.snapshot import ProcessSnapshot

PROGRAM, SNAPSHOT = "program.elf", "process.snapshot"
REPORT_BYTES = 1 << 18  # the child's report: its state and statistics are a few KiB


@dataclass
class CagedLinuxRun:
    """A RISC-V executable's caged run, as its child reported it: the questions a LinuxRun answers
    (its state, where it trapped, its statistics) without the process, which lived in the cage."""

    outcome: Outcome
    mode: str
    output: Captured | None
    stats: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    source: str | None = None  # the function and instruction at the outcome's pc

    def state(self) -> dict:
        """The final state in the JSON form of `vm run --state-out`; a guest that a limit stopped never
        reported its registers and memory: they are null."""
        return self.final

    def where(self, pc: int) -> str | None:
        return self.source if pc == self.outcome.pc else None


def run_executable_isolated(path: str | Path, args: list[str] | tuple[str, ...] = (), *, mode: str = "hw",
                            env: list[str] | tuple[str, ...] = (), mem_limit: int | None = None,
                            fuel: int | None = None, stdin: bytes | None = None, capture: bool = False,
                            strict: bool = False, seed: bytes | None = None, limits: Limits,
                            attach: Attachment | None = None) -> CagedLinuxRun | LinuxRun:
    """Run a static RISC-V executable in hw in a caged child, as run_executable runs it in this process
    (no --dir: the cage opens no file). para and os refuse it here, as they do uncaged."""
    from vm.run_linux import DEFAULT_LINUX_MEMORY, load_process, read_executable, run_program

    mem_limit = mem_limit or DEFAULT_LINUX_MEMORY
    program = read_executable(path)
    if mode in ("para", "os"):
        return run_program(program, args, mode=mode, env=env, mem_limit=mem_limit, capture=capture)
    entry = load_process(program, args, env, mem_limit, seed)[0].entry  # a mistake in them is said here, uncaged
    request = {"path": program.path, "exe": os.path.abspath(program.path), "args": list(args),
               "env": list(env), "mem_limit": mem_limit, "strict": strict,
               "seed": seed.hex() if seed is not None else None, "entry": entry, **child_request(limits)}
    files = {REQUEST: json.dumps(request).encode(), PROGRAM: Path(path).read_bytes()}
    return _caged_executable(files, fuel, stdin, capture, limits, attach)


def resume_executable_isolated(data: bytes, snapshot: ProcessSnapshot, *, fuel: int | None = None,
                               stdin: bytes | None = None, capture: bool = False, limits: Limits,
                               attach: Attachment | None = None) -> CagedLinuxRun:
    """Go on with a RISC-V process's snapshot (`data`, read here as `snapshot`) in a caged child, as
    resume_executable does in this process (not one with --dir: the cage opens no file)."""
    request = {"snapshot": snapshot.source, "exe": os.path.abspath(snapshot.source),
               "entry": snapshot.machine.pc, **child_request(limits)}
    files = {REQUEST: json.dumps(request).encode(), SNAPSHOT: data}
    return _caged_executable(files, snapshot.budget if fuel is None else fuel, stdin, capture, limits, attach)


def _caged_executable(files: dict[str, bytes], fuel: int | None, stdin: bytes | None, capture: bool, limits: Limits,
                      attach: Attachment | None) -> CagedLinuxRun:
    run = run_caged(child_command(__name__), None, fuel, limits, stdin=stdin, capture=capture, files=files,
                    attach=attach, report_bytes=REPORT_BYTES)
    outcome = run.outcome
    stats = {"engine": "hw", "arch": "riscv64", **run.stats, "retired": outcome.retired}
    if not run.report:  # a limit stopped it
        final = {"arch": "riscv64", "exit": None, "trap": None, "limit": outcome.limit, "pc": outcome.pc,
                 "source": None, "retired": outcome.retired, "x": None, "f": None, "fcsr": None,
                 "mem_mapped": None, "mem_sha256": None}
        return CagedLinuxRun(outcome, "hw", _captured(run, capture), stats, final)
    report = json.loads(run.report)
    stats.update(report["stats"], cage=run.protections)
    return CagedLinuxRun(outcome, "hw", _captured(run, capture), stats, report["state"], report["where"])


def _captured(run: CagedRun, capture: bool) -> Captured | None:
    return (run.output or Captured(b"", b"")) if capture else None


def main(fd_text: str) -> int:
    """The child: run the requested executable or snapshot on the state file at descriptor `fd_text`."""
    return child_main(fd_text, _run_executable)


def _run_executable(fd: int, header, request: dict) -> int:
    """The child of a RISC-V executable or process snapshot: load it (named as the parent named it) and
    run it in hw in the cage; report its end."""
    from vm.address_space import OutOfMemory
    from vm.elf import ElfError, read_executable
    from vm.engines.hw_riscv64 import prepare_handlers
    from vm.run_linux import resume_executable, run_program
    from vm.snapshot import read_process_snapshot

    resuming = "snapshot" in request
    data = Path(SNAPSHOT).read_bytes() if resuming else None
    program = None if resuming else replace(read_executable(PROGRAM), path=request["path"])
    prepare_handlers()  # before the cage closes: the CPU would read them from the cache on disk
    whole = mmap.mmap(fd, STATE_BYTES + header.mem_size)
    header.pc = request["entry"]
    enter_cage(request, header)
    host = console_host(header)
    start = time.perf_counter_ns()
    try:  # the process's memory is made in the cage: it counts against the limit
        if resuming:
            snapshot = read_process_snapshot(data, request["snapshot"])
            del data
            run = resume_executable(snapshot, fuel=header.fuel, host=host, exe=request["exe"])
        else:
            seed = bytes.fromhex(request["seed"]) if request["seed"] is not None else None
            run = run_program(program, request["args"], env=request["env"], mem_limit=request["mem_limit"],
                              fuel=header.fuel, strict=request["strict"], seed=seed, host=host, exe=request["exe"])
    except ElfError as e:  # the parent laid it out: here it is the cage's memory that is short
        return limit_reached(header, lib.VM_LIMIT_MEMORY, e.problem)
    except OutOfMemory as e:
        return limit_reached(header, lib.VM_LIMIT_MEMORY, str(e))
    header.run_ns = time.perf_counter_ns() - start
    outcome = run.outcome
    header.pc, header.input_consumed = outcome.pc, run.stats["input_consumed"]
    report = json.dumps({"state": run.state(), "where": run.where(outcome.pc) if outcome.trap else None,
                         "stats": run.stats}).encode()
    if len(report) >= REPORT_BYTES:
        raise RuntimeError(f"the run's report takes {len(report)} bytes; there is room for {REPORT_BYTES - 1}")
    whole[STATE_BYTES : STATE_BYTES + len(report)] = report
    report_outcome(header, outcome, run.stats)
    return 0
