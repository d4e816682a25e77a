"""Running a loaded vm64 machine in this process: the monitor beside hw, para or auto, on this
process's host streams. Both a plain run (vm.run) and a caged child (vm.isolate) end here."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vm.arch.vm64 import InstructionSet
from vm.engines.hw import run_in_hw
from vm.machine import Machine, Outcome, state_dict
from vm.monitor.host import Captured, Host
from vm.monitor.monitor import Monitor


@dataclass
class RunResult:
    """Everything a run produced: its outcome, final machine, output (if captured) and statistics."""

    outcome: Outcome
    machine: Machine
    mode: str
    output: Captured | None
    stats: dict = field(default_factory=dict)

    def state(self) -> dict:
        return state_dict(self.machine, self.outcome)

    def where(self, pc: int) -> str | None:
        return self.machine.image.where(pc)


def run_machine(machine: Machine, mode: str, isa: InstructionSet, fuel: int | None, host: Host) -> RunResult:
    """Run a loaded machine in this process, in hw, para or auto, with this host's streams."""
    monitor = Monitor(machine, host)
    stats: dict = {"engine": mode}
    if mode != "hw":
        start = time.perf_counter()
        from vm.engines.para.engine import run_para  # imports Numba: a cost of its own

        stats["load_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        if mode == "hw":
            outcome = run_in_hw(isa, machine, monitor, fuel)
        else:
            outcome = run_para(isa, machine, monitor, fuel, fallback=(mode == "auto"), stats=stats)
    finally:
        host.flush()
    stats["run_seconds"] = time.perf_counter() - start - stats.get("compile_seconds", 0.0)
    stats["retired"] = outcome.retired
    stats["vm_exits"] = monitor.vm_exits
    stats["hypercalls"] = host.hypercalls
    stats["input_consumed"] = host.input_consumed()
    return RunResult(outcome, machine, mode, None, stats)
