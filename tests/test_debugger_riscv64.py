"""`vm debug` of the committed RISC-V executables: breakpoints at their functions, stepping, registers by
their ABI names, memory of the process, finish and next by RISC-V's call convention, a backtrace from
the prologues, going back by re-running from checkpoints, and every mistake as one line."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pexpect
import pytest
from debugging import debug_script, said
from riscv64_support import PROGRAMS_DIR

from vm.debugger import riscv64
from vm.debugger.riscv64 import RiscvSession
from vm.debugger.session import DebugError
from vm.run_linux import memory_digest, run_executable

ROOT = Path(__file__).resolve().parent.parent
HELLO, FIB, ARGS_STDIN, NBODY = (PROGRAMS_DIR / name for name in ("hello", "fib", "args_stdin", "nbody"))


def session(program: Path, *args: str, stdin: bytes = b"") -> RiscvSession:
    return RiscvSession(program, list(args), [], stdin, io.StringIO(), capture=True)


def state(s: RiscvSession) -> tuple:
    m = s.machine
    return m.pc, m.retired, m.x[:32], list(m.f), m.fflags, m.frm, memory_digest(m), s.host.input_consumed()


def test_break_at_main_step_regs_memory_finish_and_continue_to_the_exit() -> None:
    s = session(HELLO)
    main = s.symbols["main"]
    assert said(s, "break main").startswith(f"breakpoint 1 at {main:#x} main: ")
    assert "breakpoint 1" in said(s, "continue") and s.pc == main
    ra, sp = s.machine.x[1], s.machine.x[2]
    shown = said(s, "regs")
    assert f"  ra {ra:#018x}" in shown and f"  sp {sp:#018x}" in shown and f"pc {main:#x}  retired" in shown
    retired = s.machine.retired
    assert said(s, "step").startswith(f"{main + 2:#x} main+0x2: ") and s.machine.retired == retired + 1
    sp = s.machine.x[2]  # moved down by main's first instruction
    words = [int.from_bytes(s.machine.space.mem[a : a + 8], "little") for a in (sp, sp + 8)]
    assert said(s, "x/2x sp").splitlines() == [f"{sp:#x}: {words[0]:#018x}", f"{sp + 8:#x}: {words[1]:#018x}"]
    assert said(s, "x sp 1 d").strip() == f"{sp:#x}: {words[0] - (words[0] >> 63 << 64)}"
    assert said(s, "x sp 2 b").strip() == f"{sp:#x}: {words[0] & 0xFF:02x} {words[0] >> 8 & 0xFF:02x}"
    argv0 = int.from_bytes(s.machine.space.mem[s.machine.x[11] : s.machine.x[11] + 8], "little")
    assert said(s, f"x/s {argv0}").strip() == f"{argv0:#x}: {str(HELLO)!r}"
    sp = s.machine.x[2] + 32
    s.command("finish")  # back in __libc_start_call_main, main's frame gone and its status in a0
    assert (s.pc, s.machine.x[2], s.machine.x[10]) == (ra, sp, 3)
    out = said(s, "continue")
    assert "exited with status 3" in out and s.ended.exit == 3
    assert s.host.captured().stdout == b"Hello from RISC-V!\n"
    with pytest.raises(DebugError, match="the guest has ended"):
        s.command("step")


@pytest.mark.parametrize(("command", "expected"), [
    ("p a0", "a0 = 1 (0x1)"), ("p x10", "x10 = 1 (0x1)"), ("print a0 * 8 - 9", "a0 * 8 - 9 = -1 (0xffffffffffffffff)"),
    ("p zero", "zero = 0 (0x0)"), ("p fa0", "fa0 = 0.0"), ("p f10", "f10 = 0.0"),
])
def test_print_knows_the_abi_names_the_x_and_f_numbers_and_arithmetic(command: str, expected: str) -> None:
    s = session(HELLO)
    said(s, "break main", "continue")  # argc = 1 in a0
    assert said(s, command).strip() == expected
    assert said(s, "p fp").strip() == said(s, "p s0").strip().replace("s0", "fp")
    assert said(s, "p main").strip() == f"main = {s.symbols['main']} ({s.symbols['main']:#x})"


def test_next_runs_a_call_whole_and_bt_names_the_callers() -> None:
    s = session(FIB, "10")
    said(s, "break main", "continue")
    while s.call_return(s.pc) is None:
        s.command("step")
    call, sp, retired = s.pc, s.machine.x[2], s.machine.retired
    s.command("next")  # atol, however many instructions
    assert (s.pc, s.machine.x[2]) == (call + 4, sp) and s.machine.retired > retired + 10
    said(s, "break fib", "continue")
    lines = said(s, "bt").splitlines()
    assert lines[0].startswith(f"#0  {s.symbols['fib']:#x} fib: ")
    assert lines[1].split()[:4] == ["#1", f"{s.machine.x[1]:#x}", "in", lines[1].split()[3]]
    assert lines[1].split()[3].startswith("main+") and lines[1].endswith("(ra)")
    assert "in __libc_start_call_main+" in lines[2] and "in _start+" in lines[-1]
    ra, sp = s.machine.x[1], s.machine.x[2]
    said(s, "step 4")  # ra saved on the stack by fib's prologue: found there now
    after = said(s, "bt").splitlines()
    assert after[1].split()[:4] == lines[1].split()[:4] and "(stack 0x" in after[1]
    said(s, "reverse-step 4", "delete 2", "finish")  # from fib's first instruction: sp back where it was, pc at ra
    assert (s.pc, s.machine.x[2], s.machine.x[10]) == (ra, sp, 55)


def test_a_register_watch_and_a_memory_watch_stop_at_the_change() -> None:
    s = session(HELLO)
    said(s, "break main", "continue")
    s0 = s.machine.x[8]
    out = said(s, "watch s0", "continue")
    assert out.startswith(f"watch 2: s0 = {s0}\nwatch 2: s0 {s0} -> {s.machine.x[8]}\n") and s.machine.x[8] != s0
    sp = s.machine.x[2]
    before = int.from_bytes(s.machine.space.mem[sp - 8 : sp], "little", signed=True)
    s.command("delete 2")
    out = said(s, f"watch {sp - 8:#x}", "continue")
    assert f"watch 3: [{sp - 8:#x}] {before} -> " in out
    assert said(s, "info watch").startswith(f"3: [{sp - 8:#x}] = ")


@pytest.mark.parametrize(("command", "message"), [
    ("x 0x10 1", "0x10 is not mapped in the guest's address space"),
    ("x/s 0", "0x0 is not mapped"),
    ("break nowhere", "neither a label, a register nor a number"),
    ("break *0x10001", "not an instruction address"),
    ("break 0x10", "not an instruction address"),
    ("break fib.c:7", "no source lines"),
    ("list", "no source lines"),
    ("watch 0x10", "not mapped"),
    ("p nowhere + 1", "neither a register"),
    ("frobnicate", "unknown command"),
    ("reverse-step", "only 0 instructions have run"),
])
def test_each_mistake_is_one_clear_error(command: str, message: str) -> None:
    with pytest.raises(DebugError, match=message):
        session(HELLO).command(command)


@pytest.mark.parametrize(("program", "first", "back"), [
    (HELLO, 1, 1), (HELLO, 700, 1), (HELLO, 3000, 2999), (HELLO, 5000, 1200), (HELLO, 6000, 10),
    (NBODY, 100_000, 4321), (NBODY, 100_000, 3),  # the float registers and fcsr too, 1 after a checkpoint
])
def test_back_n_then_forward_n_is_the_identical_process(monkeypatch, program: Path, first: int, back: int) -> None:
    monkeypatch.setattr(riscv64, "CHECKPOINT_EVERY", max(first // 6, 100))  # several checkpoints, however long the run
    s = session(program)
    s.command(f"step {first}")
    expected = state(s)
    assert program != NBODY or any(s.machine.f)
    s.command(f"reverse-step {back}")
    middle = state(s)
    assert middle[1] == first - back
    s.command(f"step {back}")
    assert state(s) == expected
    s.command(f"reverse-step {back}")
    assert state(s) == middle


def test_a_fault_ends_the_guest_with_its_trap_and_where() -> None:
    s = session(HELLO)
    said(s, "break main", "continue")
    s.machine.x[1] = 0x10  # main returns to an address nothing is mapped at
    out = said(s, "delete 1", "finish", "continue")
    assert "trap MEMFAULT at 0x10: fetch from 0x10: not mapped\n0x10 (no instruction)\n" in out
    assert s.ended.trap.name == "MEMFAULT"
    with pytest.raises(DebugError, match=r"the guest has ended \(trap MEMFAULT at 0x10"):
        s.command("continue")


def test_going_back_over_reads_of_the_input_reads_it_again() -> None:
    stdin = (PROGRAMS_DIR / "args_stdin.in").read_bytes()
    args = ["first", "two words", "", "--flag=x"]
    plain = run_executable(ARGS_STDIN, args, stdin=stdin, capture=True)
    s = session(ARGS_STDIN, *args, stdin=stdin)
    s.command("continue")
    assert s.ended.exit == plain.outcome.exit and s.machine.retired == plain.outcome.retired
    end = state(s)
    s.command(f"reverse-step {s.machine.retired}")
    assert s.machine.retired == 0 and s.host.input_consumed() == 0
    s.command("continue")
    assert state(s) == end
    assert s.host.captured().stdout == 2 * plain.output.stdout  # run twice: output written stays written


def test_reverse_continue_goes_back_to_the_breakpoint_then_to_the_start(monkeypatch) -> None:
    monkeypatch.setattr(riscv64, "CHECKPOINT_EVERY", 1000)
    s = session(HELLO)
    said(s, "break puts", "continue")
    at_puts = state(s)
    said(s, "continue")
    assert s.ended is not None
    assert said(s, "reverse-continue").startswith("breakpoint 1\n") and state(s) == at_puts
    assert said(s, "reverse-continue").startswith("at the start\n") and s.machine.retired == 0


def test_a_script_on_an_executable_with_arguments(tmp_path: Path) -> None:
    proc = debug_script(tmp_path, "break main\ncontinue\np a0\nbogus\nx 0x10\ncontinue\n", str(HELLO), "2")
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "(vm) break main" and lines[1].startswith("breakpoint 1 at 0x") and " main: " in lines[1]
    assert lines[5:7] == ["(vm) p a0", "a0 = 2 (0x2)"]  # argc: the program and its argument
    assert "vm: unknown command 'bogus'; `help` lists them" in lines
    assert "vm: 0x10 is not mapped in the guest's address space" in lines
    assert proc.stdout.decode().count("Hello from RISC-V!\n") == 2 and "exited with status 3" in lines
    assert proc.returncode == 2  # a command failed


@pytest.mark.parametrize(("args", "message"), [
    (["--env", "NOVALUE"], b"vm: --env NOVALUE: expected NAME=VALUE"),
    (["--ext", "x.py"], b"vm: --ext is for vm64 programs"),
])
def test_options_a_linux_executable_cannot_take_are_one_line(tmp_path: Path, args: list[str], message: bytes) -> None:
    proc = debug_script(tmp_path, "quit\n", str(HELLO), *args)
    assert proc.returncode == 2 and proc.stderr.strip() == message


def test_a_vm64_program_takes_no_linux_arguments(tmp_path: Path) -> None:
    proc = debug_script(tmp_path, "quit\n", str(ROOT / "guest_programs" / "gcd.asm"), "5")
    assert proc.returncode == 2
    assert b"is a vm64 program: arguments, --env, --dir and --strict-syscalls are for Linux" in proc.stderr


def test_the_prompt_on_an_executable(tmp_path: Path) -> None:
    child = pexpect.spawn(sys.executable, ["-m", "vm", "debug", str(HELLO)], timeout=30,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb",
                               "PYTHONPATH": str(ROOT)}, dimensions=(40, 200))
    try:
        child.expect_exact("(vm) ")
        child.sendline("break main")
        child.expect_exact("(vm) ")
        child.sendline("continue")
        child.expect(r"0x[0-9a-f]+ main: ")
        child.expect_exact("(vm) ")
        child.sendline("info registers")
        child.expect(r"retired \d+")
        child.expect_exact("(vm) ")
        child.sendline("continue")
        child.expect_exact("Hello from RISC-V!")
        child.expect_exact("exited with status 3")
        child.expect_exact("(vm) ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_ctrl_c_during_continue_stops_the_executable_and_steps_on_from_there(tmp_path: Path) -> None:
    child = pexpect.spawn(sys.executable, ["-m", "vm", "debug", str(PROGRAMS_DIR / "sort")], timeout=30,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb",
                               "PYTHONPATH": str(ROOT)}, dimensions=(40, 200))
    try:
        child.expect_exact("(vm) ")
        child.sendline("continue")
        time.sleep(1.5)  # sort runs for seconds under the debugger
        child.sendintr()
        child.expect_exact("interrupted")
        child.expect_exact("(vm) ")
        child.sendline("info registers")
        child.expect(r"retired (\d+)")
        stopped = int(child.match.group(1))
        child.expect_exact("(vm) ")
        child.sendline("step")
        child.expect_exact("(vm) ")
        child.sendline("regs")
        child.expect(f"retired {stopped + 1}")
        child.expect_exact("(vm) ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0 and stopped > 1000
