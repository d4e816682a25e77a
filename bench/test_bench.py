"""pytest-benchmark timings of the benchmark programs in every engine and in C and Python.

Run with `pytest bench/ --benchmark-only` (outside the default test run). The sizes are the quick
ones of `vm bench --quick`; `vm bench` itself prints the full comparison with ratios.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vm.asm.assembler import assemble
from vm.benchmarks import PROGRAMS, SIZES, build_c, with_size
from vm.isa import core_isa
from vm.run import run_image

ISA = core_isa()
NAMES = [name for name in SIZES if (PROGRAMS / f"{name}.asm").exists()]


def _image(name: str, n: int):
    return assemble(with_size((PROGRAMS / f"{name}.asm").read_text(), n), f"{name}.asm", ISA)


@pytest.fixture(scope="session")
def c_programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | None]:
    workdir = tmp_path_factory.mktemp("c")
    return {name: build_c(name, workdir) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_para(benchmark, name: str) -> None:
    image = _image(name, SIZES[name].quick_native)
    run_image(image, "para", isa=ISA, capture=True)  # compile (or load) once, outside the timing
    result = benchmark(run_image, image, "para", isa=ISA, capture=True)
    assert result.outcome.exit == 0


@pytest.mark.parametrize("name", NAMES)
def test_os(benchmark, name: str) -> None:
    image = _image(name, SIZES[name].quick_native)
    run_image(image, "os", isa=ISA, capture=True)  # compile (or find in the cache) once, outside the timing
    result = benchmark(run_image, image, "os", isa=ISA, capture=True)
    assert result.outcome.exit == 0


@pytest.mark.parametrize("name", NAMES)
def test_hw(benchmark, name: str) -> None:
    image = _image(name, SIZES[name].quick_slow)
    result = benchmark.pedantic(run_image, args=(image, "hw"), kwargs={"isa": ISA, "capture": True}, rounds=2)
    assert result.outcome.exit == 0


@pytest.mark.parametrize("name", NAMES)
def test_c(benchmark, name: str, c_programs: dict) -> None:
    exe = c_programs[name]
    if exe is None:
        pytest.skip("no C compiler")
    benchmark(subprocess.run, [str(exe), str(SIZES[name].quick_native)], check=True, capture_output=True)


@pytest.mark.parametrize("name", NAMES)
def test_python(benchmark, name: str) -> None:
    argv = [sys.executable, str(PROGRAMS / f"{name}.py"), str(SIZES[name].quick_slow)]
    benchmark.pedantic(subprocess.run, args=(argv,), kwargs={"check": True, "capture_output": True}, rounds=2)
