"""Snapshots: a machine stopped after N instructions in one engine and resumed in any other ends as an
uninterrupted run does (state, output, input); a damaged snapshot, one of another format version, or
one that needs an extension that is not loaded is refused with the reason."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ISA

from vm.arch.vm64 import core_isa
from vm.extensions import load_extensions
from vm.isa import DEFAULT_FUEL
from vm.machine import Machine
from vm.run import load_program, run_image, run_loaded
from vm.snapshot import FORMAT_VERSION, SnapshotError, read_snapshot, write_snapshot

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("hw", "para", "os")


def _stdin(name: str) -> bytes:
    given = ROOT / "guest_programs" / f"{name}.in"
    return given.read_bytes() if given.exists() else b""


def snapshot_after(image, mode: str, at: int, stdin: bytes, isa=ISA) -> tuple[bytes, bytes]:
    """The snapshot after `at` instructions run in `mode`, and the output written until then."""
    result = run_loaded(Machine.load(image), mode, isa, at, stdin=stdin, capture=True)
    assert result.outcome.trap.name == "FUEL" and result.outcome.retired == at
    data = write_snapshot(result.machine, isa, result.stats["input_consumed"], DEFAULT_FUEL - at)
    return data, result.output.stdout


@pytest.mark.parametrize("name", ["echo_upper", "fib_rec", "floats", "sort", "wc"])
def test_a_snapshot_taken_in_one_engine_resumes_in_every_engine_as_if_never_stopped(name: str) -> None:
    image = load_program(ROOT / "guest_programs" / f"{name}.asm")
    stdin = _stdin(name)
    whole = run_image(image, "hw", stdin=stdin, capture=True)
    for taken_in, at in zip(ENGINES, (1, whole.outcome.retired // 2, whole.outcome.retired - 1), strict=True):
        data, before = snapshot_after(image, taken_in, at, stdin)
        for resumed_in in ENGINES:
            snapshot = read_snapshot(data, "s", ISA)
            rest = run_loaded(snapshot.machine, resumed_in, ISA, snapshot.budget,
                              stdin=stdin[snapshot.input_consumed:], capture=True)
            assert rest.state() == whole.state(), (taken_in, at, resumed_in)
            assert before + rest.output.stdout == whole.output.stdout


def test_the_budget_left_carries_over() -> None:
    image = load_program(ROOT / "guest_programs" / "collatz.asm")
    capped = run_image(image, "hw", fuel=500, capture=True)
    result = run_loaded(Machine.load(image), "hw", ISA, 200, capture=True)
    snapshot = read_snapshot(write_snapshot(result.machine, ISA, 0, 500 - 200), "s", ISA)
    assert run_loaded(snapshot.machine, "para", ISA, snapshot.budget, capture=True).state() == capped.state()


def _damaged(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1 :]


def _with_version(data: bytes, version: int) -> bytes:
    body = data[:8] + struct.pack("<I", version) + data[12:-32]
    return body + hashlib.sha256(body).digest()


def test_a_damaged_or_foreign_snapshot_is_refused_with_the_reason() -> None:
    image = load_program(ROOT / "guest_programs" / "fib_rec.asm")
    data, _ = snapshot_after(image, "hw", 100, b"")
    for bad, reason in ((_damaged(data, len(data) // 2), "is damaged: its checksum does not match"),
                        (data[:-1], "is damaged"),
                        (_with_version(data, FORMAT_VERSION + 1), f"format version {FORMAT_VERSION + 1}; this vm "
                                                                  f"reads version {FORMAT_VERSION}"),
                        (b"VMI1" + data[4:], "is not a vm snapshot"),
                        (b"", "is not a vm snapshot")):
        with pytest.raises(SnapshotError, match=reason):
            read_snapshot(bad, "s.snap", ISA)


def test_a_snapshot_needs_the_extensions_it_ran_with() -> None:
    ext = ROOT / "extensions" / "bitops.py"
    isa = load_extensions(core_isa(), [str(ext)])
    image = load_program(ROOT / "extensions" / "bitops_demo.asm", isa)
    data, _ = snapshot_after(image, "hw", 10, b"", isa)
    with pytest.raises(SnapshotError, match=r"needs the extension\(s\) bitops: load them with --ext FILE"):
        read_snapshot(data, "s.snap", core_isa())
    assert read_snapshot(data, "s.snap", isa).extensions.keys() == {"bitops"}


def vm(*args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], input=stdin, capture_output=True,
                          timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def test_the_command_line_snapshots_and_resumes_with_the_same_input(tmp_path: Path) -> None:
    program, stdin = ROOT / "guest_programs" / "echo_upper.asm", _stdin("echo_upper")
    whole = vm("run", program, "--state-out", tmp_path / "whole.json", stdin=stdin)
    snap = tmp_path / "s.snap"
    first = vm("run", program, "--mode", "os", "--snapshot-at", "300", "--snapshot-out", snap, stdin=stdin)
    assert first.returncode == 0 and b"snapshot after 300 instructions, at 0x" in first.stderr
    rest = vm("resume", snap, "--mode", "para", "--state-out", tmp_path / "rest.json", stdin=stdin)
    assert (first.stdout + rest.stdout, rest.returncode) == (whole.stdout, whole.returncode)
    assert (tmp_path / "rest.json").read_text() == (tmp_path / "whole.json").read_text()


def test_the_command_line_says_why_there_is_no_snapshot(tmp_path: Path) -> None:
    program = ROOT / "guest_programs" / "gcd.asm"
    proc = vm("run", program, "--snapshot-at", "10000000", "--snapshot-out", tmp_path / "s.snap")
    assert b"the guest ended before instruction 10000000: no snapshot written" in proc.stderr
    assert proc.returncode == vm("run", program).returncode and not (tmp_path / "s.snap").exists()
    proc = vm("run", program, "--snapshot-at", "5")
    assert proc.returncode == 2 and b"go together" in proc.stderr
    (tmp_path / "bad.snap").write_bytes(b"VMSNAPSH" + bytes(100))
    proc = vm("resume", tmp_path / "bad.snap")
    assert proc.returncode == 2 and b"vm: " in proc.stderr and b"bad.snap" in proc.stderr
    proc = vm("resume", tmp_path / "missing.snap")
    assert proc.returncode == 2 and b"cannot read" in proc.stderr
