"""What the debugger's tests (vm64's and RISC-V's) share: a session's answer to commands, and a
`vm debug ... -x FILE` script run as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vm.debugger.session import Session


def said(s: Session, *commands: str) -> str:
    """What the session printed for these commands."""
    start = s.out.tell()
    for command in commands:
        s.command(command)
    return s.out.getvalue()[start:]


def debug_script(tmp_path: Path, commands: str, *args: str | Path) -> subprocess.CompletedProcess:
    """`vm debug ARGS... -x FILE` with the commands in FILE: a traceback on either stream fails the test."""
    path = tmp_path / "commands.txt"
    path.write_text(commands)
    proc = subprocess.run([sys.executable, "-m", "vm", "debug", *map(str, args), "-x", str(path)],
                          capture_output=True, timeout=120)
    assert b"Traceback" not in proc.stderr + proc.stdout, (proc.stdout + proc.stderr).decode(errors="replace")
    return proc
