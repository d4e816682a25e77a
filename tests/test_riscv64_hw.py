"""hw runs RISC-V: every riscv-tests ISA test passes, every guest program gives the output and exit
status QEMU gives (guest_programs/riscv64/*.out), and random RV64GC programs end with the registers,
fcsr and memory that qemu-riscv64 leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from riscv64.random_program import build_random
from riscv64_support import (
    build_isa_tests,
    guest_programs,
    isa_test_names,
    parse_dump,
    riscv_tests_dir,
    riscv_tests_missing,
    run_reference,
)

from vm.engines.caching import engine_cache_dir
from vm.run_linux import run_executable

MISSING = riscv_tests_missing()
NAMES = ["riscv-tests"] if MISSING else isa_test_names(riscv_tests_dir())  # missing: the fixture skips or fails
PROGRAMS = guest_programs()
FUEL = 50_000_000  # far above any of these runs: a hang is a failure, not a stuck suite


@pytest.fixture(scope="module")
def isa_tests() -> dict[str, Path]:
    return build_isa_tests(engine_cache_dir("riscv64-isa-tests"))


@pytest.mark.parametrize("name", NAMES)
def test_riscv_test_passes_in_hw(name, isa_tests):
    run = run_executable(isa_tests[name], capture=True, fuel=FUEL)
    assert run.outcome.trap is None, f"{name}: trap {run.outcome.trap.name} at {run.where(run.outcome.pc)}: " \
                                     f"{run.outcome.detail}"
    assert run.outcome.exit == 0, f"{name}: case {run.outcome.exit} failed"


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_guest_program_gives_qemus_output(program):
    run = run_executable(program.path, program.args, stdin=program.stdin, capture=True, fuel=FUEL)
    assert run.outcome.trap is None, f"trap {run.outcome.trap.name} at {run.where(run.outcome.pc)}"
    assert (run.output.stdout, run.outcome.exit) == (program.expected_stdout, program.expected_exit)
    assert run.output.stderr == b""
    assert "refused_syscalls" not in run.stats


@pytest.mark.parametrize("seed", range(24))
def test_random_program_ends_as_in_qemu(tmp_path, seed):
    """Every register but sp (where the loader put the stack), fcsr and the scratch memory agree."""
    executable = build_random(seed, tmp_path)
    expected, status = run_reference(executable)
    assert status == 0
    run = run_executable(executable, capture=True, fuel=FUEL)
    assert run.outcome.exit == 0, f"trap {run.outcome.trap} at {run.where(run.outcome.pc)}: {run.outcome.detail}"
    ours, theirs = parse_dump(run.output.stdout), parse_dump(expected)
    ours["x"][2] = theirs["x"][2] = 0
    for key in ("x", "f"):
        wrong = [i for i, (a, b) in enumerate(zip(ours[key], theirs[key], strict=True)) if a != b]
        assert not wrong, f"{key}{wrong}: hw {[hex(ours[key][i]) for i in wrong]}, " \
                          f"qemu {[hex(theirs[key][i]) for i in wrong]}"
    assert ours == theirs
