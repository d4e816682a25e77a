"""pytest-benchmark timings of the benchmark programs in every engine and in C and Python.

Run with `pytest bench/ --benchmark-only` (outside the default test run). The sizes are the quick
ones of `vm bench --quick`; `vm bench` itself prints the full comparison with ratios. The RISC-V
section runs once, at its quick sizes, and its figures and outputs are checked.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vm.arch.vm64 import core_isa
from vm.arch.vm64.asm.assembler import assemble
from vm.benchmarks import (
    PROGRAMS,
    QEMU_RISCV,
    RISCV_BENCHMARKS,
    SIZES,
    RiscvReport,
    build_c,
    riscv64,
    riscv64_json,
    riscv64_table,
    with_size,
)
from vm.run import run_image

ISA = core_isa()
M64 = (1 << 64) - 1
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


def _xorshift(count: int) -> list[int]:
    state, values = 0x9E3779B97F4A7C15, []
    for _ in range(count):
        state ^= state << 13 & M64
        state ^= state >> 7
        state ^= state << 17 & M64
        values.append(state - (1 << 64) if state >> 63 else state)
    return values


def _sorted_line(n: int) -> bytes:
    numbers, checksum = sorted(_xorshift(n)), 0
    for value in numbers:
        checksum = (checksum * 31 + value) & M64
    return f"sorted {n} numbers: min {numbers[0]}, max {numbers[-1]}, checksum {checksum:016x}\n".encode()


def _sieve_line(n: int) -> bytes:
    composite = bytearray(n)
    for i in range(2, math.isqrt(n - 1) + 1):
        if not composite[i]:
            composite[i * i::i] = b"\x01" * len(range(i * i, n, i))
    primes = [i for i in range(2, n) if not composite[i]]
    return f"primes below {n}: count {len(primes)}, sum {sum(primes)}, largest {primes[-1]}\n".encode()


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _sha256_line(n: int) -> bytes:
    data = bytes((i * 7 + i // 256) & 0xFF for i in range(n))
    return f"sha256 of {n} bytes: {hashlib.sha256(data).hexdigest()}\n".encode()


# What each RISC-V program prints at a size, worked out here in Python; nbody's is qemu's to judge.
RISCV_EXPECTED = {
    "fib": lambda n: f"fib({n}) = {_fib(n)}\n".encode(),
    "sieve": _sieve_line,
    "sort": _sorted_line,
    "sha256": _sha256_line,
}


def _check_riscv_report(report: RiscvReport, with_qemu: bool) -> str:
    """Every figure positive and finite, every output right; the table as printed."""
    assert [r.name for r in report.results] == [b.name for b in RISCV_BENCHMARKS]
    for r, bench in zip(report.results, RISCV_BENCHMARKS, strict=True):
        assert r.n == bench.quick
        assert r.retired > 10_000 and r.twin_retired > 1_000  # glibc's start alone is thousands
        assert 0 < r.hw_run.low <= r.hw_run.high and r.hw_run.low <= r.hw_wall.low
        assert 0 < r.twin_run.low and math.isfinite(r.hw_ips) and math.isfinite(r.twin_ips)
        assert 0.01 < r.rate_of_vm64 < 100
        if r.name in RISCV_EXPECTED:
            assert r.output == RISCV_EXPECTED[r.name](r.n)
        assert r.output  # nbody: two energies
        if with_qemu:
            assert r.outputs_agree is True and r.qemu.low > 0
            assert r.hw_over_qemu > 1  # interpreting every instruction in Python is slower than translating
        else:
            assert r.outputs_agree is None and r.qemu is None and r.hw_over_qemu is None
    figures = json.loads(json.dumps(riscv64_json(report)))
    assert [p["hw_ips"] for p in figures["programs"]] == [r.hw_ips for r in report.results]
    assert figures["geomean"]["rate_of_vm64"] > 0
    table = riscv64_table(report)
    assert all(f"\n{r.name} " in table for r in report.results)
    return table


def test_riscv64(benchmark) -> None:
    """The quick RISC-V section once, beside qemu-riscv64 where it is installed."""
    with_qemu = shutil.which(QEMU_RISCV) is not None
    report = benchmark.pedantic(riscv64, args=(ISA, True, 1), rounds=1, iterations=1)
    table = _check_riscv_report(report, with_qemu)
    assert ("hw/qemu" in table) == with_qemu


def test_riscv64_without_qemu(benchmark, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With no qemu-riscv64 on PATH the section says so in one line and measures hw alone."""
    monkeypatch.setenv("PATH", str(tmp_path))
    report = benchmark.pedantic(riscv64, args=(ISA, True, 1), rounds=1, iterations=1)
    table = _check_riscv_report(report, with_qemu=False)
    assert f"{QEMU_RISCV} not found (Debian's qemu-user package): hw alone" in table
    assert "hw/qemu" not in table and "qemu s" not in table
