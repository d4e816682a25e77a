"""`--isolate`: hw, para or auto in a caged child process, as the os engine's executable runs.

The parent writes the image and a request into the cage's working directory and starts a Python
process (`python -I`, an empty environment) on this module. The child loads what it needs while it
still may (the instruction set, para's compiled code), enters the cage (native/cage.c, with the
system calls of a CPython runtime), maps guest memory from the state file, runs the engine with
the process's own streams and writes the final state back (vm/monitor/cage.py reads it).
A RISC-V executable's child goes the same way (vm/isolate_linux.py); what the two share is here.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import vm
from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.image import Image
from vm.engines.caching import engine_cache_dir
from vm.machine import Machine, Outcome
from vm.monitor.cage import RUNTIMES, STATE_BYTES, Attachment, CagedRun, Limits, run_caged
from vm.monitor.host import ffi, lib

REQUEST, IMAGE = "request.json", "image.vmi"
# The child ends with os._exit once it has reported: tearing down an interpreter with native code loaded
# needs nothing the cage allows, and reports nothing. Its module (argv[3]) has the `main` it runs.
_BOOTSTRAP = ("import importlib, os, sys; sys.path.insert(0, sys.argv[2]); "
              "status = importlib.import_module(sys.argv[3]).main(sys.argv[1]); "
              "sys.stdout.flush(); sys.stderr.flush(); os._exit(status)")


def run_isolated(isa: InstructionSet, machine: Machine, mode: str, fuel: int | None, *, limits: Limits,
                 stdin: bytes | None, capture: bool, stats: dict, attach: Attachment | None = None) -> CagedRun:
    """Run hw, para or auto on the machine in a caged child; the machine is updated to the final state."""
    request = {"mode": mode, "extensions": list(isa.extension_files), **child_request(limits)}
    files = {REQUEST: json.dumps(request).encode(), IMAGE: machine.image.to_bytes()}
    return run_caged(child_command(__name__), machine, fuel, limits, stdin=stdin, capture=capture, files=files,
                     attach=attach)


def child_request(limits: Limits) -> dict:
    """What every child is told: where the engines' caches are (it has no $HOME to find them by), its limits."""
    return {"cache_dir": str(engine_cache_dir("para").parent),
            "limits": [limits.cpu_seconds or 0, limits.memory_bytes or 0, limits.output_bytes or 0,
                       limits.open_files or 0]}


def child_command(module: str) -> Callable[[int], list[str]]:
    """The command line of a caged child that runs `module.main` on the state file's descriptor."""
    root = str(Path(vm.__file__).resolve().parent.parent)
    return lambda fd: [sys.executable, "-I", "-c", _BOOTSTRAP, str(fd), root, module]


def _prepare(mode: str, image: Image, isa: InstructionSet) -> None:
    """What the engine would read from files, read before the cage closes: para's compiled code."""
    if mode != "hw":
        from vm.engines.para.cache import CompileError, compile_image
        from vm.engines.para.engine import stack_floor

        stack_floor()  # the main thread's stack comes from /proc/self/maps, once
        try:
            compile_image(image, isa)
        except CompileError:
            pass  # the run reports it as para would


def main(fd_text: str) -> int:
    """The child: run the requested engine on the state file at descriptor `fd_text`."""
    return child_main(fd_text, _run_machine)


def child_main(fd_text: str, run: Callable[[int, object, dict], int]) -> int:
    """A caged child's frame: the header mapped and the request read, `run(fd, header, request)` called,
    and what it raises reported (MemoryError as the memory limit, anything else as an engine bug)."""
    fd = int(fd_text)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # SIGINT ends the guest as it ends os's executable, traceback-free
    header_map = mmap.mmap(fd, STATE_BYTES)
    header = ffi.cast("vm_state *", ffi.from_buffer(header_map))
    try:
        request = json.loads(Path(REQUEST).read_text())
        if request["cache_dir"]:
            os.environ["VM_CACHE_DIR"] = request["cache_dir"]
        return run(fd, header, request)
    except MemoryError:
        return limit_reached(header, lib.VM_LIMIT_MEMORY, "the engine's memory")
    except Exception:  # an engine bug: the parent says so with this traceback
        header.stop = lib.VM_STOP_ERROR
        header.detail = traceback.format_exc()[-500:].encode()
    return 0


def _run_machine(fd: int, header, request: dict) -> int:
    from vm.arch.vm64 import core_isa
    from vm.extensions import load_extensions
    from vm.in_process import run_machine

    isa = load_extensions(core_isa(), request["extensions"])
    image = Image.from_bytes(Path(IMAGE).read_bytes(), IMAGE)
    mode = request["mode"]
    _prepare(mode, image, isa)
    enter_cage(request, header)
    try:
        whole = mmap.mmap(fd, STATE_BYTES + header.mem_size)  # inside the cage: it counts against the limit
    except OSError as e:
        return limit_reached(header, lib.VM_LIMIT_MEMORY, f"guest memory of {header.mem_size} bytes: {e.strerror}")
    mem = memoryview(whole)[STATE_BYTES:]
    machine = Machine(image, mem, [header.r[i] for i in range(16)], [0.0] * 16, header.pc, header.retired)
    from vm.arch.vm64.encoding import bits_float

    machine.fregs[:] = [bits_float(header.f[i]) for i in range(16)]
    host = console_host(header)
    start = time.perf_counter_ns()
    result = run_machine(machine, mode, isa, header.fuel, host)
    header.run_ns = time.perf_counter_ns() - start
    header.input_consumed = host.input_consumed()
    host.close()
    _report(header, result)
    return 0


def enter_cage(request: dict, header) -> None:
    """Enter the cage with the request's limits and the system calls of a CPython runtime."""
    limits = ffi.new("vm_cage_limits *", [*request["limits"], RUNTIMES["python"]])
    lib.vm_cage_enter(limits, header)


def console_host(header):  # -> vm.monitor.host.Host
    """The guest's streams: this process's own, flushed at each line where someone watches them live."""
    from vm.monitor.host import Host

    host = Host()
    if header.console & lib.VM_CONSOLE_LINES:
        host.flush_lines()
    return host


def limit_reached(header, limit: int, detail: str) -> int:
    """Report that a cage's limit stopped the guest; the child's exit status."""
    header.stop, header.code, header.detail = lib.VM_STOP_LIMIT, limit, detail.encode()[:500]
    return 125


def _report(header, result) -> None:
    from vm.arch.vm64.encoding import float_bits

    machine = result.machine
    for i in range(16):
        header.r[i] = machine.regs[i]
        header.f[i] = float_bits(machine.fregs[i]) & (2**64 - 1)
    header.pc = machine.pc & (2**64 - 1)
    report_outcome(header, result.outcome, result.stats)


def report_outcome(header, outcome: Outcome, stats: dict) -> None:
    """How the run ended, in the header: the same for vm64's engines and a RISC-V process."""
    header.retired = outcome.retired
    header.hypercalls, header.vm_exits = stats["hypercalls"], stats["vm_exits"]
    header.detail = outcome.detail.encode()[:500]
    if outcome.trap is not None and outcome.trap.name == "FUEL":
        header.stop = lib.VM_STOP_FUEL
    elif outcome.trap is not None:
        header.stop, header.code = lib.VM_STOP_TRAP, int(outcome.trap)
    else:
        header.stop, header.code = lib.VM_STOP_EXIT, outcome.exit
