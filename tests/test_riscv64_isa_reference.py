"""Every riscv-tests ISA test of rv64ui/um/ua/uf/ud/uc, built with our user-mode environment
(tests/riscv64/env/riscv_test.h), passes under qemu-riscv64: the reference for the hw engine's run of
the same executables. A test's exit status is the number of its failing case, 0 when all pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from riscv64_support import (
    ISA_CFLAGS,
    ISA_ENV_DIR,
    build_isa_tests,
    isa_test_names,
    require_compiler,
    riscv_tests_dir,
    riscv_tests_missing,
    run_reference,
)

from vm.engines.caching import engine_cache_dir

MISSING = riscv_tests_missing()
NAMES = ["riscv-tests"] if MISSING else isa_test_names(riscv_tests_dir())  # missing: the fixture skips or fails


@pytest.fixture(scope="module")
def executables() -> dict[str, Path]:
    return build_isa_tests(engine_cache_dir("riscv64-isa-tests"))


def test_all_110_tests_are_listed():
    riscv_tests_dir()
    assert len(NAMES) == 110
    assert {name.split("-")[0] for name in NAMES} == {"rv64ui", "rv64um", "rv64ua", "rv64uf", "rv64ud", "rv64uc"}
    assert {"rv64ui-fence_i", "rv64ui-ma_data", "rv64uc-rvc", "rv64ud-structural", "rv64ua-lrsc"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_isa_test_passes(name, executables):
    stdout, status = run_reference(executables[name])
    assert status == 0, f"{name}: case {status} failed" if status > 0 else f"{name}: ended by signal {-status}"
    assert stdout == b""


def test_second_build_reuses_the_first(executables):
    again = build_isa_tests(engine_cache_dir("riscv64-isa-tests"))
    assert again == executables
    assert all(path.stat().st_mtime_ns == executables[name].stat().st_mtime_ns for name, path in again.items())


@pytest.mark.parametrize(("case", "expected_status"), [(7, 7), (77, 77), (256, 255)])
def test_a_failing_case_exits_with_its_number(tmp_path, case, expected_status):
    """The environment's RVTEST_FAIL: a wrong result is reported, never read as a pass (256 would be 0)."""
    source = tmp_path / "fails.S"
    source.write_text(f"""#include "riscv_test.h"
#include "test_macros.h"
RVTEST_RV64U
RVTEST_CODE_BEGIN
  TEST_CASE(2, a0, 5, li a0, 5)
  TEST_CASE({case}, a0, 1, li a0, 2)
  TEST_PASSFAIL
RVTEST_CODE_END
  .data
RVTEST_DATA_BEGIN
  TEST_DATA
RVTEST_DATA_END
""")
    executable = tmp_path / "fails"
    subprocess.run([require_compiler(), *ISA_CFLAGS, f"-I{ISA_ENV_DIR}",
                    f"-I{riscv_tests_dir() / 'isa' / 'macros' / 'scalar'}", "-o", str(executable), str(source)],
                   check=True, capture_output=True)
    assert run_reference(executable) == (b"", expected_status)
