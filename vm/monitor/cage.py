"""The cage: a guest run in a child host process under OS limits, and the monitor's side of it.

The monitor writes the machine into a state file (native/vm_state.h: a header, then guest memory),
starts the child with an empty environment in a working directory of its own, and hands it the
file's descriptor. The child enters the cage itself (native/cage.c: rlimits, no new privileges,
namespaces where the host allows them, a seccomp filter), runs the guest on the file's memory and
writes its final state into the header. The monitor counts the child's output as it passes it on
(the output limit) and reads the final state back: nothing about the run is guessed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vm.arch.vm64.encoding import bits_float, float_bits
from vm.arch.vm64.image import LOAD_ADDRESS
from vm.isa import DEFAULT_FUEL, Trap
from vm.machine import CagedMemory, Machine, Outcome, fuel_outcome
from vm.monitor.host import Captured, ffi, lib

STATE_BYTES = lib.VM_STATE_BYTES
_CHUNK = 16 << 20  # guest memory is copied to and from the state file this much at a time
ATTACHED_PIPE_BYTES = 1 << 20  # an attached guest's output pipes: what it may write ahead of its reader
ATTACHED_PACE_SECONDS = 0.005  # an attached guest's output is read at most this often: larger chunks, fewer
ATTACHED_NICE = 10  # an attached guest's priority: the host's CPU goes to its caller's answers first
LIMIT_EXIT_STATUS = 125  # what a caged process that a limit stopped exits with (native/cage.c)

LIMIT_NAMES = {lib.VM_LIMIT_CPU: "cpu", lib.VM_LIMIT_MEMORY: "memory", lib.VM_LIMIT_OUTPUT: "output",
               lib.VM_LIMIT_SYSCALL: "syscall"}
PROTECTIONS = [
    (lib.VM_CAGE_RLIMITS, "rlimits"), (lib.VM_CAGE_NO_NEW_PRIVS, "no-new-privs"), (lib.VM_CAGE_SECCOMP, "seccomp"),
    (lib.VM_CAGE_USER_NS, "user-namespace"), (lib.VM_CAGE_NET_NS, "net-namespace"),
    (lib.VM_CAGE_PID_NS, "pid-namespace"),
]
RUNTIMES = {"native": lib.VM_CAGE_NATIVE, "python": lib.VM_CAGE_PYTHON}


MAX_CPU_SECONDS = (1 << 31) - 1  # 68 years: the cage adds the seconds already used, in a signed 64-bit word
MAX_LIMIT_BYTES = (1 << 63) - 1  # memory and output limits are signed 64-bit words in the cage


@dataclass(frozen=True)
class Limits:
    """What the cage allows one guest process; None is no limit."""

    cpu_seconds: int | None = None
    memory_bytes: int | None = None  # the child's whole address space (RLIMIT_AS)
    output_bytes: int | None = None  # standard output and error together
    open_files: int = 32

    def describe(self, limit: str) -> str:
        """The message for a guest that this limit stopped."""
        if limit == "cpu":
            return f"its CPU time limit ({self.cpu_seconds} s, --cpu-limit)"
        if limit == "memory":
            shown = f"{self.memory_bytes:,} bytes" if self.memory_bytes else "the host's"
            return f"its memory limit ({shown}, --mem-limit)"
        if limit == "output":
            return f"its output limit ({self.output_bytes:,} bytes, --output-limit)"
        if limit == "syscall":
            return "the cage's system-call filter (seccomp)"
        return "the host (its process was killed)"

    def arguments(self) -> list[str]:
        """The limits as the caged process's arguments: CPU, memory, output, open files (0: none)."""
        return [str(v or 0) for v in (self.cpu_seconds, self.memory_bytes, self.output_bytes, self.open_files)]


@dataclass(frozen=True)
class Attachment:
    """A caged guest whose output goes to a caller other than this process's streams (the daemon's
    containers): `write(stream, chunk)` gets each chunk of standard output (1) and error (2) as it
    passes, and `started(process)` the child process as soon as it runs, to stop or kill it."""

    write: Callable[[int, bytes], None]
    started: Callable[[subprocess.Popen], None]
    cages: Path | None = None  # where the cage's working directory is made (else the system's temporary one)


@dataclass
class CagedRun:
    """How a caged run ended, as the child's state file and exit status tell."""

    outcome: Outcome
    protections: list[str]
    output: Captured | None
    stats: dict = field(default_factory=dict)
    refusal: int = 0
    refusal_address: int = 0
    report: bytes = b""  # a machine-less run's report of its end (StateFile.report), empty if it never made one


class StateFile:
    """The header and guest memory shared with the child: an anonymous file (memfd). Only the header is
    mapped here; memory is written and read through the file, so a page the guest never touched is never
    allocated, and none is resident in this process (CagedMemory: not even a copy).

    Without a machine (a RISC-V process, whose memory is a sparse address space the child makes itself)
    the room after the header is `report_bytes` for the child's report of its end (`report`)."""

    def __init__(self, machine: Machine | None, fuel: int | None, report_bytes: int = 0) -> None:
        mem_size = machine.mem_size if machine is not None else report_bytes
        self.size = STATE_BYTES + mem_size
        self.fd = os.memfd_create("vm-guest-state", 0)
        os.ftruncate(self.fd, self.size)  # reads as zeros, allocated page by page as the guest writes
        self.map = mmap.mmap(self.fd, STATE_BYTES)
        self.header = ffi.cast("vm_state *", ffi.from_buffer(self.map))
        h = self.header
        h.magic, h.mem_size, h.fuel = lib.VM_STATE_MAGIC, mem_size, DEFAULT_FUEL if fuel is None else fuel
        if machine is None:
            return
        h.pc, h.retired = machine.pc, machine.retired
        for i in range(16):
            h.r[i] = machine.regs[i]
            h.f[i] = float_bits(machine.fregs[i]) & (2**64 - 1)
        if isinstance(machine.mem, CagedMemory):
            self._write(LOAD_ADDRESS, machine.image.memory)
        else:
            self._write(0, machine.mem)

    def _write(self, address: int, data: bytes | bytearray) -> None:
        view, done = memoryview(data), 0
        while done < len(view):
            done += os.pwrite(self.fd, view[done : done + _CHUNK], STATE_BYTES + address + done)

    def report(self) -> bytes:
        """What the child wrote after the header, up to its first NUL (nothing if it never reported)."""
        data = os.pread(self.fd, self.size - STATE_BYTES, STATE_BYTES)
        return data.split(b"\0", 1)[0]

    def read_back(self, machine: Machine) -> None:
        """The final machine: memory always (the guest's, as it left it; of CagedMemory its digest only),
        registers where it reported."""
        if isinstance(machine.mem, CagedMemory):
            digest = hashlib.sha256()
            for offset in range(0, machine.mem_size, _CHUNK):
                digest.update(os.pread(self.fd, min(_CHUNK, machine.mem_size - offset), STATE_BYTES + offset))
            machine.mem.sha256 = digest.hexdigest()
        else:
            view, done = memoryview(machine.mem), 0
            while done < len(view):
                done += os.preadv(self.fd, [view[done : done + _CHUNK]], STATE_BYTES + done)
        h = self.header
        if h.stop != lib.VM_STOP_RUNNING:
            machine.regs[:] = [h.r[i] for i in range(16)]
            machine.fregs[:] = [bits_float(h.f[i] - (h.f[i] >> 63 << 64)) for i in range(16)]
            machine.pc, machine.retired = h.pc, h.retired

    def close(self) -> None:
        del self.header
        self.map.close()
        os.close(self.fd)


def _input_file(stdin: bytes) -> int:
    fd = os.memfd_create("vm-guest-input", 0)
    os.write(fd, stdin)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class _Output:
    """The child's standard output and error, counted as they pass: past the limit, nothing more
    is passed on and the child is killed."""

    def __init__(self, process: subprocess.Popen, limit: int | None, capture: bool,
                 attach: Attachment | None) -> None:
        self.process, self.limit, self.capture, self.attach = process, limit, capture, attach
        self.total = 0
        self.exceeded = False
        self.data: dict[int, list[bytes]] = {1: [], 2: []}

    def pump(self) -> None:
        streams = {self.process.stdout.fileno(): 1, self.process.stderr.fileno(): 2}
        with selectors.DefaultSelector() as selector:
            for fd in streams:
                selector.register(fd, selectors.EVENT_READ)
            while streams:
                for key, _ in selector.select():
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fd)
                        del streams[key.fd]
                        continue
                    self.deliver(streams[key.fd], chunk)
                if self.attach is not None:  # a chatty guest fills its pipe meanwhile, or waits on it
                    time.sleep(ATTACHED_PACE_SECONDS)

    def deliver(self, stream: int, chunk: bytes) -> None:
        if self.exceeded:
            return
        if self.limit is not None and self.total + len(chunk) > self.limit:
            chunk = chunk[: self.limit - self.total]
            self.exceeded = True
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        self.total += len(chunk)
        if self.attach is not None:
            self.attach.write(stream, chunk)
        elif self.capture:
            self.data[stream].append(chunk)
        elif chunk:
            out = sys.stdout.buffer if stream == 1 else sys.stderr.buffer
            out.write(chunk)
            out.flush()

    def captured(self) -> Captured | None:
        return Captured(b"".join(self.data[1]), b"".join(self.data[2])) if self.capture else None


def run_caged(command: Callable[[int], list[str]], machine: Machine | None, fuel: int | None, limits: Limits, *,
              stdin: bytes | None, capture: bool, files: dict[str, bytes] | None = None,
              attach: Attachment | None = None, report_bytes: int = 0) -> CagedRun:
    """Run a guest in a caged child: `command(fd)` is its command line, given the state file's
    descriptor; `files` are put in its working directory. The machine is updated to the final state;
    without one, the child reports its end in `report_bytes` after the header (CagedRun.report)."""
    sys.stdout.flush()
    sys.stderr.flush()
    state = StateFile(machine, fuel, report_bytes)
    if attach is not None:
        state.header.console = lib.VM_CONSOLE_LINES
    input_fd = _input_file(stdin) if stdin is not None else None
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="vm-cage-", dir=attach.cages if attach else None) as home:
            for name, data in (files or {}).items():
                (Path(home) / name).write_bytes(data)
            detached = capture or attach is not None  # no console: the guest reads end of input
            guest_input = input_fd if input_fd is not None else (subprocess.DEVNULL if detached else None)
            process = subprocess.Popen(
                command(state.fd), stdin=guest_input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={},
                cwd=home, pass_fds=(state.fd,),
                close_fds=True, process_group=0 if attach is not None else None,
            )
            if attach is not None:
                with contextlib.suppress(OSError):  # the group: a process the cage forked already is in it
                    os.setpriority(os.PRIO_PGRP, process.pid, ATTACHED_NICE)
                for pipe in (process.stdout, process.stderr):
                    with contextlib.suppress(OSError):  # the host's pipe-max-size may be smaller
                        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, ATTACHED_PIPE_BYTES)
                attach.started(process)
            output = _Output(process, limits.output_bytes, capture, attach)
            try:
                output.pump()
            finally:
                returncode = process.wait()
        if machine is not None:
            state.read_back(machine)
        return _ending(state, machine, returncode, output, limits, fuel, time.perf_counter() - started)
    finally:
        if input_fd is not None:
            os.close(input_fd)
        state.close()


def _ending(state: StateFile, machine: Machine | None, returncode: int, output: _Output, limits: Limits,
            fuel: int | None, wall: float) -> CagedRun:
    h = state.header
    detail = ffi.string(h.detail).decode("utf-8", "replace")
    protections = [name for bit, name in PROTECTIONS if h.protections & bit]
    stats = {"run_seconds": h.run_ns / 1e9 if h.run_ns else wall, "hypercalls": h.hypercalls,
             "vm_exits": h.vm_exits, "cage": protections, "input_consumed": h.input_consumed}
    pc, retired = (machine.pc, machine.retired) if machine is not None else (h.pc, h.retired)
    limit = None
    if output.exceeded:
        limit = "output"
    elif h.stop == lib.VM_STOP_LIMIT:
        limit = LIMIT_NAMES.get(h.code, "killed")
    elif h.stop == lib.VM_STOP_RUNNING or returncode != 0:
        limit = _limit_of_signal(-returncode, limits) if returncode < 0 else "killed"
        if not detail:
            detail = f"the guest process ended with status {returncode}"
    if limit is not None:
        outcome = Outcome(None, None, pc, retired, detail, limit=limit)
    elif h.stop == lib.VM_STOP_EXIT:
        outcome = Outcome(h.code, None, pc, retired)
    elif h.stop == lib.VM_STOP_TRAP:
        outcome = Outcome(None, Trap(h.code), pc, retired, detail)
    elif h.stop == lib.VM_STOP_FUEL:
        outcome = fuel_outcome(machine) if machine is not None else Outcome(None, Trap.FUEL, pc, retired, detail)
    else:
        raise RuntimeError(f"the caged engine failed: {detail or 'no reason given'}")
    report = state.report() if machine is None and limit is None else b""
    return CagedRun(outcome, protections, output.captured(), stats, h.refusal, h.refusal_address, report)


def _limit_of_signal(sig: int, limits: Limits) -> str:
    if sig == signal.SIGXCPU or sig == signal.SIGKILL and limits.cpu_seconds:
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "output"
    if sig == signal.SIGSYS:
        return "syscall"
    return "killed"
