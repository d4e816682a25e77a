"""os: the guest's text as a host executable (translate.py, build.py), run in the cage.

No monitor runs beside the guest: its devices and hypercalls are direct calls of the C host services
linked into it. The monitor's part is to start it caged and read back the final state it reports.
"""

from __future__ import annotations

import time

from vm.arch.vm64 import InstructionSet
from vm.engines.os.build import CompileError, build_executable
from vm.engines.os.translate import translate_to_c
from vm.engines.text import code_write
from vm.isa import Trap
from vm.machine import Machine, Outcome
from vm.monitor.cage import Attachment, CagedRun, Limits, run_caged
from vm.monitor.host import lib

_HINT = "run it with --mode hw"
_REFUSALS = {
    lib.VM_REFUSE_OUTSIDE: "a jump to {address:#x}, outside the translated text (code in data)",
    lib.VM_REFUSE_LITERAL: "the instruction at {address:#x}, whose literal lies beyond the text",
}
DEFAULT_HEADROOM = 64 << 20  # address space the executable needs besides guest memory


def default_limits(limits: Limits | None, machine: Machine) -> Limits:
    """The caller's limits, with a memory limit of guest memory plus the runtime's own if none is set."""
    limits = limits or Limits()
    if limits.memory_bytes is None:
        return Limits(limits.cpu_seconds, machine.mem_size + DEFAULT_HEADROOM, limits.output_bytes, limits.open_files)
    return limits


def run_os(isa: InstructionSet, machine: Machine, fuel: int | None, *, limits: Limits | None, stdin: bytes | None,
           capture: bool, stats: dict, attach: Attachment | None = None) -> CagedRun:
    """Translate, compile (or find in the cache) and run the machine's program as a caged process."""
    start = time.perf_counter()
    try:
        executable, cache_state = build_executable(translate_to_c(machine.image, isa, machine.mem_size))
    except CompileError as e:
        stats["compile_seconds"] = time.perf_counter() - start
        outcome = Outcome(None, Trap.UNSUPPORTED, machine.pc, machine.retired,
                          f"os cannot compile this program: {e}; {_HINT}")
        return CagedRun(outcome, [], None)
    stats["compile_seconds"] = time.perf_counter() - start
    stats["cache"] = cache_state
    limits = default_limits(limits, machine)
    run = run_caged(lambda fd: [str(executable), str(fd), *limits.arguments()], machine, fuel, limits,
                    stdin=stdin, capture=capture, attach=attach)
    if run.refusal:
        cause = code_write(run.outcome.pc, run.refusal_address) if run.refusal == lib.VM_REFUSE_CODE_WRITE else \
            _REFUSALS[run.refusal].format(address=run.refusal_address)
        run.outcome.detail = f"os cannot run {cause}; {_HINT}"
    return run
