"""`vm debug`: commands driven through scripts (-x) and a pseudo-terminal; going back N instructions
and forward N again gives the identical machine (registers, memory, pc, count, input)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from conftest import ISA
from debugging import debug_script, said
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.debugger.session import DebugError
from vm.debugger.vm64 import Vm64Session
from vm.run import load_program, run_image

ROOT = Path(__file__).resolve().parent.parent
GUEST = ROOT / "guest_programs"


def session(name: str, stdin: bytes = b"") -> Vm64Session:
    return Vm64Session(load_program(GUEST / f"{name}.asm"), ISA, 1 << 20, stdin, io.StringIO())


def state(s: Vm64Session) -> tuple:
    m = s.machine
    return (m.pc, m.retired, list(m.regs), [repr(f) for f in m.fregs], hashlib.sha256(m.mem).hexdigest(),
            s.host.input_consumed())


def test_break_continue_next_and_finish_stop_where_they_should() -> None:
    s = session("fib_rec")
    fib = s.image.symbols["fib"]
    assert said(s, "break fib").startswith(f"breakpoint 1 at {fib:#x}")
    out = said(s, "continue")
    assert "breakpoint 1" in out and s.machine.pc == fib
    depth = s.machine.regs[15]
    s.command("finish")  # back in the caller, the frame popped
    assert s.machine.regs[15] == depth + 8 and s.machine.pc != fib
    while s.isa.by_opcode[s.machine.mem[s.machine.pc]].flow != "call":
        s.command("step")
    before, after_call = s.machine.regs[15], s.machine.pc + 8
    s.command("delete 1")
    s.command("next")  # the whole call, however deep
    assert (s.machine.pc, s.machine.regs[15]) == (after_call, before)


def test_breakpoints_by_address_and_source_line() -> None:
    s = session("gcd")
    line = next(info for info in s.image.lines if info.address > s.image.entry + 16)
    s.command(f"break gcd.asm:{line.line}")
    s.command("continue")
    assert s.machine.pc == line.address
    s.command(f"break {line.address + 8:#x}")
    s.command("continue")
    assert s.machine.pc == line.address + 8
    for bad, message in (("break nowhere", "neither a label"), ("break 0x1003", "not an instruction address"),
                         ("break gcd.asm:99999", "no instruction on line 99999")):
        with pytest.raises(DebugError, match=message):
            s.command(bad)


def test_a_watch_stops_at_the_change_and_reverse_continue_goes_back_to_it() -> None:
    s = session("sort")
    s.command("watch r1")
    out = said(s, "continue")
    assert "watch 1: r1 0 -> " in out
    changed_at = s.machine.retired
    s.command("step 50")
    out = said(s, "reverse-continue")
    assert "watch 1: r1" in out and s.machine.retired < changed_at + 50


def test_memory_registers_and_code_are_shown() -> None:
    s = session("hello_hcall")
    msg = s.image.symbols["msg"]
    assert said(s, "x msg 14 s").strip() == f"{msg:#08x}: 'Hello, world!\\n'"
    assert said(s, "x msg 4 b").strip() == f"{msg:#08x}: 48 65 6c 6c"
    word = int.from_bytes(b"Hello, w", "little")
    assert said(s, f"x {msg} 1").strip() == f"{msg:#08x}: {word:#018x}"  # hex, as gdb's x
    assert said(s, f"x {msg} 1 d").strip() == said(s, f"x/d {msg}").strip() == f"{msg:#08x}: {word}"
    second = int.from_bytes(s.machine.mem[msg + 8 : msg + 16], "little")
    assert said(s, "x/2x msg").splitlines() == [f"{msg:#08x}: {word:#018x}", f"{msg + 8:#08x}: {second:#018x}"]
    assert said(s, "x/s msg").strip() == f"{msg:#08x}: 'Hello, world!\\n'"
    s.command("step 2")
    assert f" r2 {msg:>20}" in said(s, "regs")
    assert said(s, "floats").count("0.0") == 16
    shown = said(s, "disasm 1").splitlines()
    assert len(shown) == 3 and shown[1].startswith("=> ") and "hello_hcall.asm:" in shown[1]
    assert "=>" in said(s, "list")
    with pytest.raises(DebugError, match="outside guest memory"):
        s.command("x 0xfffffff 1")
    with pytest.raises(DebugError, match="unknown command"):
        s.command("frobnicate")


def test_the_end_is_reported_and_going_back_from_it_works() -> None:
    s = session("trap_divzero")
    out = said(s, "continue")
    assert "trap DIVZERO at" in out and "trap_divzero.asm:" in out
    with pytest.raises(DebugError, match="the guest has ended"):
        s.command("step")
    s.command("reverse-step")
    assert s.ended is None
    s.command("continue")
    assert s.ended.trap.name == "DIVZERO"


@pytest.mark.parametrize("name, stdin", [("sort", b""), ("memops", b""), ("echo_upper", b"Hello there\nx"),
                                         ("selfmod", b""), ("floats", b""), ("wc", b"one two\nthree\n")])
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_back_n_then_forward_n_is_the_identical_machine(name: str, stdin: bytes, data) -> None:
    s = session(name, stdin)
    total = run_image(s.image, "hw", stdin=stdin, capture=True).outcome.retired
    first = data.draw(st.integers(1, total - 1), label="run")
    back = data.draw(st.integers(1, first), label="back")
    s.command(f"step {first}")
    expected = state(s)
    s.command(f"reverse-step {back}")
    middle = state(s)
    s.command(f"step {back}")
    assert state(s) == expected
    s.command(f"reverse-step {back}")
    assert state(s) == middle


def test_going_back_to_the_start_gives_the_loaded_machine() -> None:
    s = session("memops")
    start = state(s)
    s.command("continue")
    s.command(f"reverse-step {s.machine.retired}")
    assert state(s) == start
    with pytest.raises(DebugError, match="only 0 instructions have run"):
        s.command("reverse-step")
    assert "at the start" in said(s, "reverse-continue")


def test_a_script_echoes_each_command_and_says_what_failed(tmp_path: Path) -> None:
    proc = debug_script(tmp_path, "break fib\ncontinue\nbogus\nwhere\nquit\nstep\n", GUEST / "fib_rec.asm")
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "(vm) break fib" and lines[1].startswith("breakpoint 1 at 0x")
    assert "(vm) bogus" in lines and "vm: unknown command 'bogus'; `help` lists them" in lines
    assert lines[-1] == "(vm) quit" and proc.returncode == 2  # a command failed; nothing after quit ran


def test_without_a_terminal_or_a_script_it_says_how(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vm", "debug", str(GUEST / "gcd.asm")], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 2 and b"needs a terminal; give it commands with -x FILE" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "vm", "debug", str(GUEST / "gcd.asm"), "-x", str(tmp_path / "no")],
                          capture_output=True, timeout=60)
    assert proc.returncode == 2 and b"cannot read" in proc.stderr


def test_the_prompt_in_a_pseudo_terminal(tmp_path: Path) -> None:
    child = pexpect.spawn(sys.executable, ["-m", "vm", "debug", str(GUEST / "gcd.asm")], timeout=30,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb",
                               "PYTHONPATH": str(ROOT)}, dimensions=(40, 200))
    try:
        child.expect_exact("(vm) ")
        child.sendline("step")
        child.expect("gcd.asm:")
        child.expect_exact("(vm) ")
        child.sendline("regs")
        child.expect("retired 1")
        child.expect_exact("(vm) ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert "regs" in (tmp_path / ".local" / "share" / "vm" / "debug_history").read_text()


def test_ctrl_c_during_continue_stops_the_guest_and_returns_to_the_prompt(tmp_path) -> None:
    """As in gdb: the guest stops before its next instruction, and the session goes on from there."""
    program = tmp_path / "spin.asm"
    program.write_text("main:   addi r1, r1, 1\n        jmp  main\n")
    child = pexpect.spawn(sys.executable, ["-m", "vm", "debug", str(program)], timeout=30,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb",
                               "PYTHONPATH": str(ROOT)}, dimensions=(40, 200))
    try:
        child.expect_exact("(vm) ")
        child.sendline("continue")
        time.sleep(1)
        child.sendintr()
        child.expect_exact("interrupted")
        child.expect(r"0x100[08] .*spin\.asm:[12]:")
        child.expect_exact("(vm) ")
        child.sendintr()  # at the prompt: a new prompt
        child.expect_exact("(vm) ")
        child.sendline("step")
        child.expect(r"spin\.asm:[12]:")
        child.expect_exact("(vm) ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_a_memory_watch_stops_when_the_sort_moves_a_value() -> None:
    s = session("sort")
    first = s.image.symbols["values"]
    before = int.from_bytes(s.machine.mem[first : first + 8], "little", signed=True)
    out = said(s, "watch values", "continue")
    assert f"watch 1: [{first:#x}] {before} -> " in out
    assert said(s, "info watch").startswith(f"1: [{first:#x}] = ")


def test_backtrace_names_each_return_address_and_its_function() -> None:
    s = session("fib_rec")
    said(s, "break fib", "continue", "continue", "continue")  # fib(5), called from fib(5): two deep
    lines = said(s, "bt").splitlines()
    assert lines[0].startswith(f"#0  {s.image.symbols['fib']:#x} ")
    assert [line.split()[0] for line in lines] == ["#0", "#1", "#2"]
    inner, outer = lines[1].split(), lines[2].split()
    assert inner[2:4] == ["in", f"fib+{int(inner[1], 16) - 8 - s.image.symbols['fib']:#x},"]  # the call's place
    assert outer[3].startswith("next+")  # main's loop called the first fib
    sp = s.machine.regs[15]
    assert lines[1].endswith(f"(stack {sp:#x})") and int(inner[1], 16) == int.from_bytes(s.machine.mem[sp:sp + 8],
                                                                                          "little")


@pytest.mark.parametrize(("command", "expected"), [
    ("p r1", "r1 = 4 (0x4)"), ("print r1 * 2 + 1", "r1 * 2 + 1 = 9 (0x9)"),
    ("p r1 - 5", "r1 - 5 = -1 (0xffffffffffffffff)"), ("p f0", "f0 = 0.0"),
])
def test_print_evaluates_registers_labels_and_arithmetic(command, expected) -> None:
    s = session("fib_rec")
    said(s, "break fib", "continue", "continue", "continue")
    assert said(s, command).strip() == expected
    assert said(s, "p fib").strip() == f"fib = {s.image.symbols['fib']} ({s.image.symbols['fib']:#x})"
    with pytest.raises(DebugError, match="neither a register"):
        s.command("p nowhere + 1")


def test_gdb_names_info_registers_si_ni_and_help_lists_the_aliases() -> None:
    s, t = session("fib_rec"), session("fib_rec")
    assert said(s, "info registers") == said(s, "regs")
    said(s, "si", "ni 3")
    said(t, "step", "next 3")
    assert state(s) == state(t)
    helped = said(s, "help")
    assert "[also s, si, stepi]" in helped and "[also n, ni, nexti]" in helped and "[also p]" in helped
    assert "[also bt]" in helped and "Enter repeats the last command" in helped


def test_a_stop_is_said_after_the_guest_output_before_it(tmp_path) -> None:
    """The guest's buffered output is out before the debugger says where it stopped."""
    done = debug_script(tmp_path, "break fib\ncontinue\n", GUEST / "fib_rec.asm")
    assert b"(vm) continue\nfib(0) = breakpoint 1\n" in done.stdout, done.stdout


def test_enter_repeats_the_last_command_at_the_prompt(tmp_path) -> None:
    child = pexpect.spawn(sys.executable, ["-m", "vm", "debug", str(GUEST / "gcd.asm")], timeout=30,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb",
                               "PYTHONPATH": str(ROOT)}, dimensions=(40, 200))
    try:
        child.expect_exact("(vm) ")
        child.sendline("step")
        child.expect_exact("(vm) ")
        child.sendline("")  # step again
        child.expect_exact("(vm) ")
        child.sendline("info registers")
        child.expect("retired 2")
        child.expect_exact("(vm) ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
