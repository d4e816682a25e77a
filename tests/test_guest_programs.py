"""Every guest program gives its documented result: the bytes of NAME.out and the `; expect:` header
(see guest_programs/README.md), whose values were computed independently of the emulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import CODE_WRITING_ENGINES, ENGINES, ISA, run_image_in, u64

from vm.run import load_program

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((ROOT / "guest_programs").glob("*.asm"))
# Programs that store into their code or run code outside their text: see conftest.code_mode.
WRITES_OR_RUNS_DATA = {"selfmod", "data_exec", "trap_illegal"}
CASES = [pytest.param(mode, path, id=f"{mode}-{path.stem}") for path in PROGRAMS
         for mode in (CODE_WRITING_ENGINES if path.stem in WRITES_OR_RUNS_DATA else ENGINES)]


def expectation(path: Path) -> tuple[str, str]:
    found = re.findall(r"^; expect: (exit|trap)=(\S+)\s*$", path.read_text(), re.MULTILINE)
    assert len(found) == 1, f"{path.name}: needs exactly one `; expect:` header line"
    return found[0]


def test_there_are_guest_programs():
    assert len(PROGRAMS) >= 10
    assert WRITES_OR_RUNS_DATA <= {p.stem for p in PROGRAMS}


@pytest.mark.parametrize(("mode", "path"), CASES)
def test_guest_program(mode, path):
    stdin = path.with_suffix(".in")
    result = run_image_in(load_program(path, ISA), mode, stdin=stdin.read_bytes() if stdin.exists() else b"",
                          mem_size=1 << 20)
    kind, value = expectation(path)
    outcome = result.outcome
    if kind == "exit":
        assert outcome.trap is None, f"trap {outcome.trap} at {outcome.pc:#x}: {outcome.detail}"
        assert u64(outcome.exit) == u64(int(value))
    else:
        assert outcome.trap is not None and outcome.trap.name == value
    assert result.output.stdout == path.with_suffix(".out").read_bytes()
