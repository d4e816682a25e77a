"""Inputs that try to break the host: untrusted image metadata, semantics the engines would run
differently, budgets at the edges, a reader that goes away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ISA, build, run_image_in

from vm.arch.vm64 import core_isa, instruction
from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.image import Image
from vm.extensions import load_extensions
from vm.isa import IsaError, Trap
from vm.run import run_image


def _vm(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm", *args], capture_output=True, timeout=300, **kwargs)


def test_image_metadata_cannot_inject_code_into_the_translation(tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    payload = f'x"""\nimport pathlib; pathlib.Path({str(marker)!r}).write_text("ran")\n"""'
    image = assemble("main: li r1, 65\n out 0, r1\n halt\n", "p.asm", ISA)
    meta_image = Image(image.entry, image.text_end, image.memory, image.symbols,
                       [type(line)(line.address, line.line, payload) for line in image.lines], payload, [])
    path = tmp_path / "evil.vmi"
    path.write_bytes(meta_image.to_bytes())
    result = _vm("run", str(path), "--mode", "para", env=None)
    assert result.stdout == b"A" and result.returncode == 0
    assert not marker.exists()


@pytest.mark.parametrize(("semantics", "message"), [
    ("s = 0\nfor i in range(2):\n    v = load(addr + 8 * i, 8, 1)\n    s = s + v\nrd = s", "inside a loop"),
    ("rd = rs and rs", "join comparisons"),
    ("rd = rs >> 3", "ashr(a, n) or lshr(a, n)"),
    ("rd = rs << 3", "shl(a, n)"),
])
def test_semantics_that_engines_would_run_differently_are_refused(semantics: str, message: str) -> None:
    operands = "rd, mem" if "addr" in semantics else "rd, rs"
    with pytest.raises(IsaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        instruction("odd", 0xC5, operands, semantics, "refused")


def test_bitwise_operators_on_floats_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "finv.py"
    path.write_text('from vm.arch.vm64 import instruction\nINSTRUCTIONS = [instruction("finv", 0xC5, "fd, fs", '
                    '"fd = ~fs", "x")]\n')
    with pytest.raises(IsaError, match="bitwise operators take integers"):
        load_extensions(core_isa(), [str(path)])


def test_two_extensions_with_one_name_are_an_error(tmp_path: Path) -> None:
    for folder, mnemonic, opcode in (("a", "inc1", 0xC6), ("b", "dec1", 0xC7)):
        (tmp_path / folder).mkdir()
        entry = f'instruction("{mnemonic}", {opcode}, "rd", "rd = 1", "x")'
        (tmp_path / folder / "ops.py").write_text(f"from vm.arch.vm64 import instruction\nINSTRUCTIONS = [{entry}]\n")
    with pytest.raises(IsaError, match="another extension named 'ops'"):
        load_extensions(core_isa(), [str(tmp_path / "a" / "ops.py"), str(tmp_path / "b" / "ops.py")])
    same = load_extensions(core_isa(), [str(tmp_path / "a" / "ops.py")] * 2)
    assert same.extensions == ("ops",)


@pytest.mark.parametrize("mode", ["hw", "para"])
def test_a_spent_budget_stops_before_a_fetch_that_would_fail(mode: str) -> None:
    entry_in_data = build(".data\n.zero 16\nmain:\n")  # main labels the end of the data: not code
    result = run_image_in(entry_in_data, mode, fuel=0)
    assert result.outcome.trap is Trap.FUEL and result.outcome.retired == 0
    jump = build("main: li r1, 0x1004\n li r2, 0\n jr r1\n halt\n")
    spent = run_image_in(jump, mode, fuel=3)
    assert spent.outcome.trap is Trap.FUEL and spent.outcome.pc == 0x1004 and spent.outcome.retired == 3
    more = run_image_in(jump, mode, fuel=4)
    assert more.outcome.trap is Trap.MISALIGNED and more.outcome.pc == 0x1004 and more.outcome.retired == 3


def test_fuel_beyond_int64_is_a_usage_error(tmp_path: Path) -> None:
    program = tmp_path / "p.asm"
    program.write_text("main: halt\n")
    result = _vm("run", str(program), "--mode", "para", "--fuel", str(2**64))
    assert result.returncode == 2 and b"fuel must be" in result.stderr and b"Traceback" not in result.stderr


def test_a_closed_stdout_ends_the_run(tmp_path: Path) -> None:
    program = tmp_path / "yes.asm"
    program.write_text("main: li r1, 121\nloop: out 0, r1\n jmp loop\n")
    proc = subprocess.Popen([sys.executable, "-m", "vm", "run", str(program)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.read(5) == b"yyyyy"
    proc.stdout.close()
    assert proc.wait(timeout=60) != 0  # ended by SIGPIPE, as `yes | head` ends, instead of running on
    assert b"Traceback" not in proc.stderr.read()


def test_unreadable_and_unwritable_paths_are_usage_errors(tmp_path: Path) -> None:
    program = tmp_path / "p.asm"
    program.write_text("main: halt\n")
    compared = _vm("compare", str(program), "--stdin", str(tmp_path / "missing.in"))
    assert compared.returncode == 2 and b"cannot read" in compared.stderr
    bench = _vm("bench", "--json", str(tmp_path / "missing" / "x.json"))
    assert bench.returncode == 2 and b"cannot write" in bench.stderr and b"Traceback" not in bench.stderr


def test_state_out_is_json_for_a_refused_program(tmp_path: Path) -> None:
    image = build("main: la r1, buf\n jr r1\n.data\n.align 8\nbuf: .quad 1\n")
    result = run_image(image, "para", isa=ISA, capture=True)
    assert result.outcome.trap is Trap.UNSUPPORTED
    assert json.loads(json.dumps(result.state()))["trap"] == "UNSUPPORTED"
