"""Servers of `vm` (registry, daemon) started as real processes for the tests, and always stopped."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

START_SECONDS = 20.0  # how long a server may take to say it listens
STOP_SECONDS = 10.0  # how long it may take to stop once asked, before it is killed


@dataclass
class Server:
    """A running server: its process, the first line it printed (where it listens) and its stderr file."""

    process: subprocess.Popen
    ready_line: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def vm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vm", *args]


@contextlib.contextmanager
def serve(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Start `vm ARGS`, wait for its first line on stdout, and stop it (SIGTERM, then SIGKILL) afterwards."""
    environment = {**os.environ, **(env or {})}
    with open(log, "ab") as stderr:
        process = subprocess.Popen(vm_command(*args), stdout=subprocess.PIPE, stderr=stderr, env=environment)
    try:
        line = _first_line(process, log)
        yield Server(process, line, log, env or {})
    finally:
        stop(process)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    """Stop a process and reap it; its exit status."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_SECONDS)
    if process.stdout:
        process.stdout.close()
    return process.returncode


def _first_line(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(deadline - time.monotonic()):
                line = process.stdout.readline().decode()
                if line:
                    return line.strip()
                break
    raise AssertionError(f"`{' '.join(process.args)}` did not start: {log.read_text(errors='replace')}")
