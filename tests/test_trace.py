"""`--trace`: a line per retired instruction (number, pc, source line, disassembly, registers written),
in hw; para and os hand the traced span to hw and end exactly as an untraced run does."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ISA, build
from test_os import REFUSED_BY_OS

from vm.run import load_program, run_image
from vm.trace import TraceSpan, run_traced

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((ROOT / "guest_programs").glob("*.asm"))
LINE = re.compile(r"^ *(\d+)  (0x[0-9a-f]{6})  (\S*) +(.+?)(?:  +((?:[rf]\d+=\S+ ?)+))?$")


def _stdin(path: Path) -> bytes:
    given = path.with_suffix(".in")
    return given.read_bytes() if given.exists() else b""


def traced(image, mode: str, first: int = 1, last: int | None = None, stdin: bytes = b""):
    out = io.StringIO()
    result = run_traced(image, mode, ISA, 1 << 20, None, TraceSpan(out, first, last), stdin=stdin, capture=True)
    return result, out.getvalue().splitlines()


def observables(result) -> tuple:
    return result.output, result.state()


@pytest.mark.parametrize("path", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_every_retired_instruction_has_one_line_and_the_run_is_unchanged(path: Path) -> None:
    image = load_program(path)
    plain = run_image(image, "hw", stdin=_stdin(path), capture=True)
    result, lines = traced(image, "hw", stdin=_stdin(path))
    assert observables(result) == observables(plain)
    assert len(lines) == plain.outcome.retired
    numbers = [int(LINE.match(line).group(1)) for line in lines]
    assert numbers == list(range(1, len(lines) + 1))


def test_a_line_names_the_instruction_and_the_registers_it_wrote() -> None:
    source = "main: li r1, 5\n addi r2, r1, 3\n push r2\n itof f3, r2\n sd r2, [r15]\n li r0, 7\n halt\n"
    _, lines = traced(build(source, "t.asm"), "hw")
    fields = [LINE.match(line).groups() for line in lines]
    assert fields == [
        ("1", "0x001000", "t.asm:1", "li r1, 5", "r1=5"),
        ("2", "0x001008", "t.asm:2", "addi r2, r1, 3", "r2=8"),
        ("3", "0x001010", "t.asm:3", "push r2", "r15=1048568"),
        ("4", "0x001018", "t.asm:4", "itof f3, r2", "f3=8.0"),
        ("5", "0x001020", "t.asm:5", "sd r2, [r15]", None),
        ("6", "0x001028", "t.asm:6", "li r0, 7", "r0=7"),
        ("7", "0x001030", "t.asm:7", "halt", None),
    ]


def test_a_trapping_instruction_did_not_retire_and_has_no_line() -> None:
    result, lines = traced(build("main: li r1, 0\n ld r2, [r1]\n halt\n"), "hw")
    assert result.outcome.trap.name == "MEMFAULT" and len(lines) == 1


def test_self_modified_code_is_traced_as_it_runs() -> None:
    image = load_program(ROOT / "guest_programs" / "selfmod.asm")
    _, lines = traced(image, "hw")
    texts = [LINE.match(line).group(4) for line in lines]
    assert "li r0, 1" in texts and "li r0, 42" in texts  # the same address, before and after the patch


@pytest.mark.parametrize("mode", ["para", "os"])
@pytest.mark.parametrize("name", ["fib_rec", "echo_upper", "sort", "floats"])
def test_para_and_os_trace_the_span_in_hw_and_end_as_untraced(mode: str, name: str) -> None:
    path = ROOT / "guest_programs" / f"{name}.asm"
    image = load_program(path)
    plain = run_image(image, "hw", stdin=_stdin(path), capture=True)
    _, reference = traced(image, "hw", stdin=_stdin(path))
    first, last = 40, 40 + plain.outcome.retired // 3
    result, lines = traced(image, mode, first, last, stdin=_stdin(path))
    assert observables(result) == observables(plain)
    assert lines == reference[first - 1 : last]
    assert result.stats["traced"] == last - first + 1


def test_a_span_past_the_end_traces_nothing_and_changes_nothing() -> None:
    image = load_program(ROOT / "guest_programs" / "gcd.asm")
    plain = run_image(image, "para", capture=True)
    result, lines = traced(image, "para", plain.outcome.retired + 10)
    assert lines == [] and observables(result) == observables(plain)


def vm(*args) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], capture_output=True, timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def test_the_command_line_writes_the_trace_to_stderr_or_a_file(tmp_path: Path) -> None:
    program = ROOT / "guest_programs" / "gcd.asm"
    proc = vm("run", program, "--trace-from", "2", "--trace-to", "4")
    assert [int(LINE.match(line).group(1)) for line in proc.stderr.decode().splitlines()] == [2, 3, 4]
    assert proc.stdout == vm("run", program).stdout
    out = tmp_path / "trace.txt"
    proc = vm("run", program, "--mode", "os", "--trace-out", out)
    assert proc.stderr == b"" and len(out.read_text().splitlines()) > 10


@pytest.mark.parametrize("args, message", [
    (["--trace", "--isolate"], b"not with --isolate"),
    (["--trace-from", "5", "--trace-to", "4"], b"--trace-to 4 is before --trace-from 5"),
    (["--trace-from", "0"], b"numbered from 1"),
])
def test_bad_trace_options_are_one_line(args: list[str], message: bytes) -> None:
    proc = vm("run", ROOT / "guest_programs" / "gcd.asm", *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_what_os_refuses_it_still_refuses_outside_the_traced_span() -> None:
    for name in sorted(REFUSED_BY_OS):
        result, lines = traced(load_program(ROOT / "guest_programs" / f"{name}.asm"), "os", 1, 2)
        assert len(lines) == 2 and result.outcome.trap.name == "UNSUPPORTED", name


@pytest.mark.parametrize("part_at", [1, 2, 777, 4000])
def test_trace_diff_bisects_to_the_first_instruction_after_which_the_engines_part(part_at: int) -> None:
    """An engine made to go wrong at one instruction (r5 flipped after it): the bisection names it."""
    from vm.compare import first_divergence
    from vm.run import run_loaded

    image = load_program(ROOT / "guest_programs" / "fib_rec.asm")
    probes = []

    def wrong_from_part_at(machine, mode, isa, fuel, **options):
        start = machine.retired
        result = run_loaded(machine, mode, isa, fuel, **options)
        probes.append(fuel)
        if mode == "para" and start < part_at <= result.machine.retired:
            result.machine.regs[5] ^= 1
        return result

    found = first_divergence(image, ISA, "para", run=wrong_from_part_at)
    hw_before = run_image(image, "hw", fuel=part_at - 1, capture=True).machine
    assert (found.number, found.pc, found.differences) == (part_at, hw_before.pc, [f"r5: hw {hw_before.regs[5]} / "
                                                                                    f"para {hw_before.regs[5] ^ 1}"])
    assert found.where == image.where(hw_before.pc)
    assert len(probes) < 2 * 22 + 4  # a bisection: about log2(205,000) probes per engine
    # Each probe runs from the last agreeing state, halving the distance: about one whole run per engine.
    assert sum(fuel for fuel in probes if fuel is not None) <= 2 * 204_762 + 2


def test_compare_trace_diff_reports_nothing_more_when_the_engines_agree() -> None:
    proc = vm("compare", ROOT / "guest_programs" / "gcd.asm", "--trace-diff")
    assert proc.returncode == 0 and b"identical:" in proc.stdout and b"part at" not in proc.stdout
    proc = vm("compare", ROOT / "guest_programs" / "selfmod.asm", "--trace-diff")
    assert proc.returncode == 1 and b"para refused the program" in proc.stdout
