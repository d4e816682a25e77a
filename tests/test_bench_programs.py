"""The benchmark programs: at a small size, the guest (in hw, para and os), its C twin and its Python
twin print the same output; the Benchmarks Game programs print the published results. And the
report `vm bench` makes of its measurements."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import ISA

from vm.arch.vm64.asm.assembler import assemble
from vm.benchmarks import (
    COMPUTE,
    HW_ROUNDS,
    PROGRAMS,
    SIZES,
    ProgramResult,
    Progress,
    Timing,
    _run_c,
    build_c,
    compatibility_table,
    finish,
    geomeans,
    native_rounds,
    prepare,
    report_json,
    table,
    with_size,
)
from vm.run import run_image

SMALL = {"intloop": 1000, "fib": 12, "ackermann": 3, "binary_trees": 6, "sieve": 1000, "quicksort": 300,
         "matmul": 6, "nbody": 100,
         "spectralnorm": 10, "fannkuch": 5, "mandelbrot": 12, "crc32": 1000, "output_out": 20, "output_write": 20,
         "sha256": 1000}
PUBLISHED = {  # the Computer Language Benchmarks Game's outputs
    ("nbody", 1000): b"-0.169075164\n-0.169087605\n",
    ("spectralnorm", 100): b"1.274219991\n",
    ("fannkuch", 7): b"228\nPfannkuchen(7) = 16\n",
    ("binary_trees", 10): b"stretch tree of depth 11\t check: 4095\n1024\t trees of depth 4\t check: 31744\n"
                          b"256\t trees of depth 6\t check: 32512\n64\t trees of depth 8\t check: 32704\n"
                          b"16\t trees of depth 10\t check: 32752\nlong lived tree of depth 10\t check: 2047\n",
}


def _guest(name: str, n: int, mode: str) -> bytes:
    image = assemble(with_size((PROGRAMS / f"{name}.asm").read_text(), n), f"{name}.asm", ISA)
    result = run_image(image, mode, isa=ISA, capture=True)
    assert result.outcome.exit == 0, result.outcome
    return result.output.stdout


def test_every_benchmark_has_a_size_and_three_twins() -> None:
    assert set(SIZES) == set(SMALL)
    for name in SIZES:
        for suffix in (".asm", ".c", ".py"):
            assert (PROGRAMS / f"{name}{suffix}").exists(), name + suffix


@pytest.fixture(scope="module")
def c_twins(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not (shutil.which("gcc") or shutil.which("cc")):
        pytest.skip("no C compiler")
    workdir = tmp_path_factory.mktemp("twins")
    return {name: build_c(name, workdir) for name in SIZES}


@pytest.mark.parametrize("name", list(SMALL))
def test_twins_print_the_same_output(name: str, c_twins: dict) -> None:
    n = SMALL[name]
    expected = subprocess.run([str(c_twins[name]), str(n)], capture_output=True, check=True).stdout
    python = subprocess.run([sys.executable, str(PROGRAMS / f"{name}.py"), str(n)], capture_output=True,
                            check=True).stdout
    assert python == expected
    assert _guest(name, n, "hw") == expected
    assert _guest(name, n, "para") == expected
    assert _guest(name, n, "os") == expected


def test_c_twins_time_their_own_run(c_twins: dict) -> None:
    """C's time is main's, from the run clock linked in; standard output stays the program's own."""
    quick, output = _run_c([str(c_twins["fib"]), "5"])
    slow, _ = _run_c([str(c_twins["fib"]), "30"])
    assert output == b"5\n"
    assert 0 < quick < slow < 5.0


@pytest.mark.parametrize(("name", "n"), list(PUBLISHED))
def test_benchmarks_game_programs_print_the_published_output(name: str, n: int, c_twins: dict) -> None:
    assert subprocess.run([str(c_twins[name]), str(n)], capture_output=True, check=True).stdout == PUBLISHED[name, n]
    assert _guest(name, n, "para") == PUBLISHED[name, n]
    assert _guest(name, n, "os") == PUBLISHED[name, n]


def test_crc32_agrees_with_zlib() -> None:
    n = 5000
    data = bytes((i * 31 + 7) & 255 for i in range(n))
    assert _guest("crc32", n, "para") == f"{zlib.crc32(data)}\n".encode()


def test_sizes_are_in_the_programs() -> None:
    source = (PROGRAMS / "fib.asm").read_text()
    assert ".equ N, 7" in with_size(source, 7)
    with pytest.raises(ValueError):
        with_size("main: halt\n", 3)


def test_plot_without_matplotlib_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        proc = subprocess.run([sys.executable, "-m", "vm", "bench", "--plot", str(tmp_path / "x.png")],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and "matplotlib" in proc.stderr
    else:
        pytest.skip("matplotlib is installed")


def _measured(name: str, para: float, os: float, c: float) -> ProgramResult:
    """A program's figures as if measured: hw at 1e6 instructions/s; the native times in seconds."""
    def flat(t: float) -> Timing:
        return Timing(t, t, t)

    return ProgramResult(name, 1_000_000, 1_000_000, 10, 1, flat(1.0), {"para": flat(para), "os": flat(os)},
                         flat(c), flat(2.0), {"para": 0.5, "os": 0.25}, True)


def test_the_report_puts_os_beside_para_and_c() -> None:
    results = [_measured("fib", 0.004, 0.002, 0.001), _measured("sieve", 0.001, 0.001, 0.001),
               _measured("output_out", 0.5, 0.01, 0.01)]  # not a compute program: outside the means
    assert results[0].time_over_c("os") == pytest.approx(2.0) and results[0].speedup_over_hw("para") == 250
    means = geomeans(results)
    assert means["para_time_over_c"] == pytest.approx(2.0) and means["os_time_over_c"] == pytest.approx(2 ** 0.5)
    assert means["os_speedup_over_hw"] == pytest.approx((500 * 1000) ** 0.5)
    text = table(results)
    head, _, fib = text.splitlines()[:3]
    assert head.split() == ["program", "retired", "hw", "ips", "para", "ips", "os", "ips", "para/hw", "os/hw",
                            "para/C", "os/C", "compile", "s", "para", "os"]
    assert fib.split()[-6:] == ["250x", "500x", "4.00x", "2.00x", "0.50", "0.25"]
    assert "para/C 2.00x, os/C 1.41x" in text.splitlines()[-1]
    report = report_json(results, [], {})
    assert report["programs"][0]["os_time_over_c"] == pytest.approx(2.0)
    assert set(report["programs"][0]["timings"]) == {"hw", "para", "os", "c", "python"}
    assert "fib" in COMPUTE and "output_out" not in COMPUTE


def test_the_compatibility_table_gives_the_reasons_for_refusals() -> None:
    matrix = [{"program": "guest_programs/selfmod.asm", "hw": "runs, agrees", "auto": "runs, agrees",
               "para": "refused: a store into translated code", "os": "refused: a store into translated code"},
              {"program": "guest_programs/odd.asm", "hw": "runs, agrees", "para": "runs, agrees", "os": "DIFFERENT",
               "auto": "runs, agrees"}]
    lines = compatibility_table(matrix).splitlines()
    assert lines[1].split() == ["hw", "para", "os", "auto"]
    assert lines[2].split() == ["guest_programs/selfmod.asm", "agrees", "refused", "refused", "agrees"]
    assert lines[3].split() == ["guest_programs/odd.asm", "agrees", "agrees", "DIFFERENT", "agrees"]
    assert lines[4:] == ["  para refuses guest_programs/selfmod.asm: a store into translated code",
                         "  os refuses guest_programs/selfmod.asm: a store into translated code"]


@pytest.mark.parametrize("rounds", [3, 15])
def test_hw_is_measured_in_the_rounds_as_the_native_engines_are(tmp_path: Path, rounds: int) -> None:
    """hw's figure is the best of several runs spread over the rounds, not one short run."""
    subject = prepare("fib", ISA, True, tmp_path)
    subject.slow_image = subject.native_image = assemble(with_size((PROGRAMS / "fib.asm").read_text(), 8),
                                                         "fib.asm", ISA)  # cheap runs, the same code
    subject.c_argv = None
    native_rounds([subject], ISA, rounds, Progress(rounds))
    result = finish(subject, ISA, 0.0, Progress(1))
    assert result.native["para"].runs == result.native["os"].runs == rounds
    assert result.hw.runs == min(rounds, HW_ROUNDS)
    assert report_json([result], [], {})["programs"][0]["timings"]["hw"]["runs"] == min(rounds, HW_ROUNDS)
