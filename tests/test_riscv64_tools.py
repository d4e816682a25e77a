"""--trace and snapshots for RISC-V Linux executables: a line per retired instruction with the registers
it wrote, spans that run the rest at full speed and change nothing; a process stopped after N
instructions and resumed (in a new process, too) ends exactly as an uninterrupted run; a damaged
snapshot is refused in one line."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from riscv64_support import CC, PROGRAMS_DIR, require_compiler, symbol_address

from vm.isa import DEFAULT_FUEL
from vm.run_linux import resume_executable, run_executable
from vm.snapshot import PROCESS_MAGIC, SnapshotError, is_process_snapshot, read_process_snapshot
from vm.trace import TraceSpan

SEED = b"vm"  # the guest's random bytes from a seed: the same memory in every run
SORT = PROGRAMS_DIR / "sort"
ARGS_STDIN = PROGRAMS_DIR / "args_stdin"
ARGS = ("first", "two words", "", "--flag=x")
INPUT = (PROGRAMS_DIR / "args_stdin.in").read_bytes()

# Written without compression but for one c.mv, so that each instruction's address is known.
TRACED_S = """
    .option norvc
    .text
    .globl _start
    .type _start, @function
_start:
    addi a0, zero, 5
    addi a1, a0, 3
    fcvt.d.l fa0, a1
    addi t0, zero, 3
    fcvt.d.l fa1, t0
    fdiv.d fa2, fa0, fa1
    addi t1, zero, 104
    sb t1, -8(sp)
    addi t1, zero, 10
    sb t1, -7(sp)
    addi a1, sp, -8
    addi a0, zero, 1
    addi a2, zero, 2
    addi a7, zero, 64
    ecall
    .option rvc
    c.mv a3, a0
    .option norvc
    rdinstret a5
    frflags a4
    fsflags zero
    addi a0, zero, 7
    addi a7, zero, 93
    ecall
    .size _start, .-_start
"""

# (the instruction's offset from _start, its text, the registers it wrote); {sp} is the initial sp
TRACED_LINES = [
    (0x0, "addi a0, zero, 5", "a0=5"),
    (0x4, "addi a1, a0, 3", "a1=8"),
    (0x8, "fcvt.d.l fa0, a1", "fa0=0x4020000000000000"),
    (0xC, "addi t0, zero, 3", "t0=3"),
    (0x10, "fcvt.d.l fa1, t0", "fa1=0x4008000000000000"),
    (0x14, "fdiv.d fa2, fa0, fa1", "fa2=0x4005555555555555 fcsr=0x01"),  # 8/3 is inexact
    (0x18, "addi t1, zero, 104", "t1=104"),
    (0x1C, "sb t1, -8(sp)", ""),
    (0x20, "addi t1, zero, 10", "t1=10"),
    (0x24, "sb t1, -7(sp)", ""),
    (0x28, "addi a1, sp, -8", "a1={sp_minus_8}"),
    (0x2C, "addi a0, zero, 1", "a0=1"),
    (0x30, "addi a2, zero, 2", "a2=2"),
    (0x34, "addi a7, zero, 64", "a7=64"),
    (0x38, "ecall", "a0=2"),  # write's result
    (0x3C, "c.mv a3, a0", "a3=2"),
    (0x3E, "csrrs a5, instret, zero", "a5=16"),  # the instructions retired before it
    (0x42, "csrrs a4, fflags, zero", "a4=1"),
    (0x46, "csrrw zero, fflags, zero", "fcsr=0x00"),  # x0 is not shown: it never changes
    (0x4A, "addi a0, zero, 7", "a0=7"),
    (0x4E, "addi a7, zero, 93", "a7=93"),
    (0x52, "ecall", ""),  # exit: a0 is not written
]


def assemble(directory: Path, name: str, source: str) -> Path:
    """A static executable of RISC-V assembly, linked without a C library."""
    compiler = require_compiler()
    (directory / f"{name}.s").write_text(source)
    subprocess.run([compiler, "-nostdlib", "-static", "-o", str(directory / name), str(directory / f"{name}.s")],
                   check=True, capture_output=True, timeout=120)
    return directory / name


@pytest.fixture(scope="module")
def traced_program(tmp_path_factory) -> Path:
    return assemble(tmp_path_factory.mktemp("rv-trace"), "traced", TRACED_S)


def traced(path: Path, args=(), first: int = 1, last: int | None = None, **options):
    out = io.StringIO()
    run = run_executable(path, args, capture=True, seed=SEED, trace=TraceSpan(out, first, last), **options)
    return run, out.getvalue().splitlines()


def expected_line(number: int, start: int, offset: int, text: str, writes: str, sp: int) -> str:
    where = "_start" if offset == 0 else f"_start+{offset:#x}"
    head = f"{number:10d}  {start + offset:#012x}  {where:<24} {text:<28}"
    return f"{head} {writes.format(sp_minus_8=sp - 8)}" if writes else head.rstrip()


# -- trace ----------------------------------------------------------------------------------------------------
def test_each_retired_instruction_is_one_line_with_the_registers_it_wrote(traced_program: Path) -> None:
    run, lines = traced(traced_program)
    start = symbol_address(traced_program, "_start")
    assert lines == [expected_line(n, start, *line, run.process.sp) for n, line in enumerate(TRACED_LINES, 1)]
    assert (run.output.stdout, run.outcome.exit, run.outcome.retired) == (b"h\n", 7, len(TRACED_LINES))


def test_an_instruction_that_traps_did_not_retire_and_has_no_line(tmp_path: Path) -> None:
    program = assemble(tmp_path, "faults", "    .globl _start\n_start:\n    addi a0, zero, 1\n    ld a1, 0(zero)\n")
    run, lines = traced(program)
    assert run.outcome.trap.name == "MEMFAULT" and run.outcome.retired == 1
    assert len(lines) == 1 and lines[0].split()[2:] == ["c.li", "a0,", "1", "a0=1"]  # no function symbol here


@pytest.mark.parametrize(("first", "last"), [(1, 1), (3, 6), (15, 17), (20, None), (22, 22), (23, None), (5, 100)])
def test_trace_from_and_to_bound_the_lines(traced_program: Path, first: int, last: int | None) -> None:
    _, whole = traced(traced_program)
    run, lines = traced(traced_program, first=first, last=last)
    assert lines == whole[first - 1 : last]
    assert run.stats["traced"] == len(lines)
    assert run.state() == run_executable(traced_program, capture=True, seed=SEED).state()


def test_a_traced_span_leaves_the_run_as_an_untraced_one() -> None:
    plain = run_executable(SORT, capture=True, seed=SEED)
    run, lines = traced(SORT, first=200_000, last=200_499)
    assert (run.output, run.state()) == (plain.output, plain.state())
    assert [int(line.split()[0]) for line in lines] == list(range(200_000, 200_500))
    stopped = run_executable(SORT, capture=True, seed=SEED, fuel=199_999)
    assert lines[0].split()[1] == f"{stopped.machine.pc:#012x}"  # the 200000th is where 199999 left off


def test_a_trace_of_input_and_arguments_ends_as_the_untraced_run(tmp_path: Path) -> None:
    plain = run_executable(ARGS_STDIN, ARGS, stdin=INPUT, capture=True, seed=SEED)
    run, lines = traced(ARGS_STDIN, ARGS, first=5000, last=5999, stdin=INPUT)
    assert (run.output, run.state()) == (plain.output, plain.state())
    assert len(lines) == 1000


def vm(*args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], input=stdin, capture_output=True,
                          timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def test_the_command_line_traces_a_span_to_stderr_or_a_file(traced_program: Path, tmp_path: Path) -> None:
    proc = vm("run", traced_program, "--trace-from", "2", "--trace-to", "4")
    assert [int(line.split()[0]) for line in proc.stderr.decode().splitlines()] == [2, 3, 4]
    assert (proc.stdout, proc.returncode) == (b"h\n", 7)
    out = tmp_path / "trace.txt"
    proc = vm("run", "--trace-out", out, traced_program)
    assert proc.stderr == b"" and len(out.read_text().splitlines()) == len(TRACED_LINES)


# -- snapshots ------------------------------------------------------------------------------------------------
def snapshot_and_resume(path: Path, args, stdin: bytes, at: int):
    """Stop after `at` instructions, go through the snapshot's bytes, resume: (output before, the resumed run)."""
    first = run_executable(path, args, stdin=stdin, capture=True, seed=SEED, fuel=at)
    assert first.outcome.trap.name == "FUEL" and first.outcome.retired == at
    data = first.snapshot(DEFAULT_FUEL - at).to_bytes()
    snapshot = read_process_snapshot(data, "s")
    rest = resume_executable(snapshot, stdin=stdin[snapshot.input_consumed:], capture=True)
    return first.output.stdout, rest


@pytest.mark.parametrize(("path", "args", "stdin"), [(SORT, (), b""), (ARGS_STDIN, ARGS, INPUT)],
                         ids=["sort", "args_stdin"])
def test_a_snapshot_resumes_to_the_end_of_an_uninterrupted_run(path: Path, args, stdin: bytes) -> None:
    whole = run_executable(path, args, stdin=stdin, capture=True, seed=SEED)
    total = whole.outcome.retired
    for at in (1, 2, total // 7, total // 2, total - 100, total - 1):
        before, rest = snapshot_and_resume(path, args, stdin, at)
        assert before + rest.output.stdout == whole.output.stdout, at
        assert rest.state() == whole.state(), at
        assert rest.stats["input_consumed"] == whole.stats["input_consumed"], at


def test_a_snapshot_of_a_resumed_run_resumes_too() -> None:
    whole = run_executable(ARGS_STDIN, ARGS, stdin=INPUT, capture=True, seed=SEED)
    first = run_executable(ARGS_STDIN, ARGS, stdin=INPUT, capture=True, seed=SEED, fuel=3000)
    second = resume_executable(read_process_snapshot(first.snapshot(DEFAULT_FUEL - 3000).to_bytes(), "s"),
                               stdin=INPUT[first.stats["input_consumed"]:], capture=True, fuel=9000)
    snapshot = read_process_snapshot(second.snapshot(DEFAULT_FUEL - 12000).to_bytes(), "s")
    assert snapshot.machine.retired == 12000
    rest = resume_executable(snapshot, stdin=INPUT[snapshot.input_consumed:], capture=True)
    assert first.output.stdout + second.output.stdout + rest.output.stdout == whole.output.stdout
    assert rest.state() == whole.state()


def test_a_snapshot_keeps_fcsr_and_the_reservation(traced_program: Path, tmp_path: Path) -> None:
    whole = run_executable(traced_program, capture=True, seed=SEED)
    first = run_executable(traced_program, capture=True, seed=SEED, fuel=6)  # just after the inexact fdiv.d
    first.machine.reservation = (0x1234, 8, -5)  # as an lr.d would leave it
    saved = first.snapshot(DEFAULT_FUEL - 6)
    snapshot = read_process_snapshot(saved.to_bytes(), "s")
    m, n = snapshot.machine, saved.machine
    assert (m.x, m.f, m.fflags, m.frm, m.pc, m.retired, m.reservation) == (n.x, n.f, 1, 0, n.pc, 6, (0x1234, 8, -5))
    assert m.space.save() == n.space.save() and snapshot.process.save() == saved.process.save()
    assert (snapshot.linux, snapshot.input_consumed, snapshot.budget, snapshot.root, snapshot.strict) == (
        saved.linux, saved.input_consumed, saved.budget, saved.root, saved.strict)
    rest = resume_executable(snapshot, capture=True)
    assert rest.state() == whole.state() and rest.state()["x"][14] == 1  # frflags read what the fdiv.d raised


READER_C = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    char c;
    int n = 0, fd = open("/data.txt", O_RDONLY);
    if (fd < 0)
        return 99;
    while (read(fd, &c, 1) == 1) {
        write(1, &c, 1);
        n++;
    }
    return n;
}
"""


def test_open_files_resume_at_their_offsets(tmp_path: Path) -> None:
    require_compiler()
    (tmp_path / "reader.c").write_text(READER_C)
    reader = tmp_path / "reader"
    subprocess.run([CC, "-O1", "-static", "-o", str(reader), str(tmp_path / "reader.c")], check=True,
                   capture_output=True, timeout=120)
    root = tmp_path / "root"
    root.mkdir()
    (root / "data.txt").write_bytes(b"0123456789" * 3)
    whole, lines = traced(reader, root=root)
    assert (whole.output.stdout, whole.outcome.exit) == (b"0123456789" * 3, 30)
    syscalls = whole.stats["syscalls"]
    ecalls = [int(line.split()[0]) for line in lines if " ecall " in line]  # a read and a write per byte, then exit
    for at in (ecalls[-50], ecalls[-31], ecalls[-10]):
        first = run_executable(reader, capture=True, seed=SEED, root=root, fuel=at)
        snapshot = read_process_snapshot(first.snapshot(DEFAULT_FUEL - at).to_bytes(), "s")
        offsets = [f["offset"] for f in snapshot.linux["files"].values() if isinstance(f, dict)]
        written = len(first.output.stdout)
        assert 0 < written < 30 and offsets in ([written], [written + 1])  # a byte read for each written
        rest = resume_executable(snapshot, capture=True)
        assert first.output.stdout + rest.output.stdout == whole.output.stdout
        assert rest.state() == whole.state()
        assert first.stats["syscalls"] + rest.stats["syscalls"] == syscalls
    (root / "data.txt").unlink()
    with pytest.raises(SnapshotError, match="cannot reopen /data.txt"):
        resume_executable(snapshot, capture=True)


def test_the_command_line_snapshots_and_resumes_in_a_new_process(tmp_path: Path) -> None:
    expected = (PROGRAMS_DIR / "args_stdin.out").read_bytes()
    whole_state = tmp_path / "whole.json"
    whole = vm("run", "--state-out", whole_state, ARGS_STDIN, "--", *ARGS, stdin=INPUT)
    assert (whole.stdout, whole.returncode) == (expected, 3)
    for at in (1000, 9000, 18000):
        snap, state = tmp_path / f"{at}.snap", tmp_path / f"{at}.json"
        first = vm("run", "--snapshot-at", at, "--snapshot-out", snap, ARGS_STDIN, "--", *ARGS, stdin=INPUT)
        assert first.returncode == 0 and f"snapshot after {at} instructions".encode() in first.stderr
        rest = vm("resume", "--state-out", state, snap, stdin=INPUT)
        assert (first.stdout + rest.stdout, rest.returncode, rest.stderr) == (expected, 3, b"")
        resumed, uninterrupted = json.loads(state.read_text()), json.loads(whole_state.read_text())
        for fresh in (resumed, uninterrupted):
            del fresh["mem_sha256"]  # each process's AT_RANDOM bytes are its own
        assert resumed == uninterrupted


def test_a_guest_that_ends_first_writes_no_snapshot(tmp_path: Path) -> None:
    snap = tmp_path / "s.snap"
    proc = vm("run", "--snapshot-at", 10**9, "--snapshot-out", snap, PROGRAMS_DIR / "hello")
    assert proc.returncode == 3 and b"ended before instruction 1000000000: no snapshot written" in proc.stderr
    assert not snap.exists()


def _resealed(data: bytes) -> bytes:
    """The body with a correct checksum again: damage the checksum alone would not show."""
    import hashlib

    return data + hashlib.sha256(data).digest()


def _damaged(data: bytes, how: str) -> bytes:
    body = data[:-32]
    header_length = struct.unpack_from("<I", data, 12)[0]
    if how == "flipped byte":
        return data[:5000] + bytes([data[5000] ^ 1]) + data[5001:]
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "too short":
        return data[:20]
    if how == "other version":
        return _resealed(body[:8] + struct.pack("<I", 2) + body[12:])
    if how == "not json":
        return _resealed(body[:16] + b"{" * header_length + body[16 + header_length :])
    if how == "memory cut":
        return _resealed(body[:-10])
    raise ValueError(how)


@pytest.mark.parametrize(("how", "message"), [
    ("flipped byte", "is damaged: its checksum does not match its contents"),
    ("truncated", "is damaged: its checksum does not match its contents"),
    ("too short", "is not a vm snapshot"),
    ("other version", "is snapshot format version 2; this vm reads version 1"),
    ("not json", "a snapshot of version 1 with a malformed header or body"),
    ("memory cut", "a snapshot of version 1 with a malformed header or body"),
])
def test_a_damaged_snapshot_is_refused_in_one_line(tmp_path: Path, how: str, message: str) -> None:
    first = run_executable(ARGS_STDIN, ARGS, stdin=INPUT, capture=True, seed=SEED, fuel=5000)
    data = first.snapshot(DEFAULT_FUEL - 5000).to_bytes()
    assert is_process_snapshot(data) and data.startswith(PROCESS_MAGIC)
    bad = _damaged(data, how)
    with pytest.raises(SnapshotError, match=message):
        read_process_snapshot(bad, "s")
    path = tmp_path / "bad.snap"
    path.write_bytes(bad)
    proc = vm("resume", path)
    lines = proc.stderr.decode().splitlines()
    assert (proc.returncode, proc.stdout, len(lines)) == (2, b"", 1)
    assert lines[0].startswith(f"vm: {path}") and message in lines[0]


def test_a_snapshot_whose_system_call_state_is_malformed_is_refused_in_one_line(tmp_path: Path) -> None:
    first = run_executable(ARGS_STDIN, ARGS, stdin=INPUT, capture=True, seed=SEED, fuel=5000)
    data = first.snapshot(DEFAULT_FUEL - 5000).to_bytes()
    assert data.count(b'"brk":') == 1
    path = tmp_path / "bad.snap"
    path.write_bytes(_resealed(data[:-32].replace(b'"brk":', b'"brx":')))
    proc = vm("resume", path)
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert proc.stderr.decode().splitlines() == [
        f"vm: {ARGS_STDIN}: the snapshot's system call state is malformed: KeyError('brk')"]


@pytest.mark.parametrize(("args", "message"), [
    (["--trace", "--snapshot-at", "10", "--snapshot-out", "s"], b"--trace and --snapshot-at: one or the other"),
    (["--snapshot-at", "10"], b"--snapshot-at N and --snapshot-out FILE go together"),
    (["--trace-from", "5", "--trace-to", "4"], b"--trace-to 4 is before --trace-from 5"),
])
def test_bad_trace_and_snapshot_options_are_one_line(args: list[str], message: bytes) -> None:
    proc = vm("run", *args, PROGRAMS_DIR / "hello")
    lines = proc.stderr.splitlines()
    assert (proc.returncode, len(lines)) == (2, 1) and lines[0].startswith(b"vm: " + message)


NEGATIVE_FLOAT = """
    .option norvc
    .globl _start
_start:
    li t0, 0xbff0000000000000   # -1.0: a register value with its top bit set
    fmv.d.x fs1, t0
    nop
    nop
    fadd.d fs2, fs1, fs1
    fcvt.l.d a0, fs2
    neg a0, a0
    li a7, 93
    ecall
"""


def test_a_snapshot_with_a_negative_float_register_resumes(tmp_path):
    """f registers hold signed 64-bit values in the engine: a snapshot read them back unsigned, and the
    resumed run's first float instruction failed with OverflowError."""
    from riscv64_programs import build_assembly

    program = build_assembly(tmp_path, "negative", NEGATIVE_FLOAT)
    snap = tmp_path / "snap"
    taken = subprocess.run([sys.executable, "-m", "vm", "run", str(program), "--snapshot-at", "4", "--snapshot-out",
                            str(snap)], capture_output=True, timeout=120)
    assert taken.returncode == 0, taken.stderr
    resumed = subprocess.run([sys.executable, "-m", "vm", "resume", str(snap)], capture_output=True, timeout=120)
    assert (resumed.returncode, resumed.stderr) == (2, b"")
