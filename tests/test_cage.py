"""The cage: hostile guests in every engine, caged (os always, hw, para and auto with `isolate`). Each
is stopped by its limit, the host survives, the message names the limit; and a caged run gives
exactly what an uncaged one gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build, run_image_in

from vm.monitor.cage import Limits
from vm.run import load_program, run_image

ROOT = Path(__file__).resolve().parent.parent
CAGED = ["hw", "para", "auto", "os"]
# A loop that never ends (para's budget without --fuel is 2^62: a loop of additions, LLVM counts in closed form)
FOREVER = "main: liw r2, 6364136223846793005\nloop: mul r1, r1, r2\n addi r1, r1, 1\n j loop\n"
FLOOD = "main: li r1, 65\nloop: out 0, r1\n j loop\n"


def _caged(source: str, mode: str, limits: Limits, **kwargs):
    return run_image(build(source), mode, isolate=True, limits=limits, capture=True, **kwargs)


def _observables(result) -> dict:
    return {"stdout": result.output.stdout, "stderr": result.output.stderr, **result.state()}


@pytest.mark.parametrize("mode", CAGED)
def test_a_guest_that_loops_forever_is_stopped_by_its_cpu_limit(mode: str) -> None:
    result = _caged(FOREVER, mode, Limits(cpu_seconds=1))
    assert result.outcome.limit == "cpu" and result.outcome.trap is None and result.outcome.exit is None
    assert "rlimits" in result.stats["cage"]
    assert run_image_in(build("main: li r0, 4\n halt\n"), "hw").outcome.exit == 4  # the host goes on


@pytest.mark.parametrize("mode", CAGED)
def test_a_guest_that_floods_output_is_stopped_at_its_output_limit(mode: str) -> None:
    result = _caged(FLOOD, mode, Limits(output_bytes=100_000))
    assert result.outcome.limit == "output"
    assert result.output.stdout == b"A" * 100_000  # exactly up to the limit, nothing after it


@pytest.mark.parametrize("mode", CAGED)
def test_guest_memory_beyond_the_memory_limit_is_refused(mode: str) -> None:
    result = _caged("main: halt\n", mode, Limits(memory_bytes=96 << 20), mem_size=256 << 20)
    assert result.outcome.limit == "memory"
    assert "256" in result.outcome.detail or str(256 << 20) in result.outcome.detail


REACHING_OUT = {
    "below memory": "main: li r1, -8\n ld r2, [r1]\n halt\n",
    "past the end": "main: li r1, 0x10000\n ld r2, [r1]\n halt\n",
    "the guard page": "main: li r1, 16\n sd r1, [r1]\n halt\n",
    "an address that wraps": "main: liw r1, 0x7ffffffffffffff8\n ld r2, [r1+16]\n halt\n",
    "a hypercall buffer past the end": "main: li r1, 1\n li r2, 0xff00\n li r3, 0x200\n hcall 1\n halt\n",
    "a copy from outside": "main: li r1, 0x2000\n liw r2, -4096\n li r3, 64\n hcall 6\n halt\n",
    "a jump to the host": "main: liw r1, 0x7f0000000000\n jr r1\n",
}


@pytest.mark.parametrize("name", REACHING_OUT, ids=list(REACHING_OUT))
def test_a_guest_cannot_reach_memory_outside_its_own(name: str) -> None:
    image = build(REACHING_OUT[name])
    hw = run_image_in(image, "hw")
    assert hw.outcome.trap is not None and hw.outcome.trap.name == "MEMFAULT"
    for mode in CAGED:
        result = run_image(image, mode, isolate=True, capture=True, mem_size=64 * 1024)
        assert _observables(result) == _observables(hw), mode


@pytest.mark.parametrize("mode", ["hw", "para"])
@pytest.mark.parametrize("program", ["fib_rec", "echo_upper", "floats", "trap_divzero"])
def test_an_isolated_run_gives_what_a_run_in_process_gives(mode: str, program: str) -> None:
    path = ROOT / "guest_programs" / f"{program}.asm"
    stdin = path.with_suffix(".in").read_bytes() if path.with_suffix(".in").exists() else b""
    image = load_program(path)
    plain = run_image(image, mode, stdin=stdin, capture=True)
    caged = run_image(image, mode, stdin=stdin, capture=True, isolate=True)
    assert _observables(caged) == _observables(plain)
    assert {"rlimits", "no-new-privs", "seccomp"} <= set(caged.stats["cage"])


def test_the_system_call_filter_stops_a_call_outside_its_list() -> None:
    """A CPython process that entered the cage cannot open a file: the filter ends it (status 125)."""
    code = (
        "import os\n"
        "from vm.monitor.host import ffi, lib\n"
        "state = ffi.new('vm_state *')\n"
        "limits = ffi.new('vm_cage_limits *', [0, 0, 0, 32, lib.VM_CAGE_PYTHON])\n"
        "os.close(os.open('/dev/null', os.O_RDONLY))\n"
        "bits = lib.vm_cage_enter(limits, state)\n"
        "assert bits & lib.VM_CAGE_SECCOMP, bits\n"
        "os.write(1, b'caged\\n')\n"
        "os.open('/dev/null', os.O_RDONLY)\n"
        "os.write(1, b'escaped\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.stdout == b"caged\n" and done.returncode == 125, done.stderr


def _vm(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm", *args], capture_output=True, text=True, timeout=timeout)


def test_the_command_line_names_the_limit_and_exits_with_its_own_status(tmp_path: Path) -> None:
    program = tmp_path / "forever.asm"
    program.write_text(FOREVER)
    done = _vm("run", str(program), "--mode", "os", "--cpu-limit", "1", "--stats")
    assert done.returncode == 80
    assert "the cage stopped the guest at its CPU time limit (1 s, --cpu-limit)" in done.stderr
    assert "seccomp" in done.stderr and "Traceback" not in done.stderr
    flood = tmp_path / "flood.asm"
    flood.write_text(FLOOD)
    done = _vm("run", str(flood), "--isolate", "--output-limit", "1K")
    assert done.returncode == 80 and done.stdout == "A" * 1024
    assert "its output limit (1,024 bytes, --output-limit)" in done.stderr


def test_the_cpu_limit_counts_from_the_cage_not_from_the_engines_compile(tmp_path: Path) -> None:
    """An empty cache: para compiles in the child before it cages itself, for longer than the limit."""
    program = tmp_path / "forever.asm"
    program.write_text(FOREVER)
    proc = subprocess.run([sys.executable, "-m", "vm", "run", str(program), "--mode", "para", "--isolate",
                           "--cpu-limit", "1", "--stats"], capture_output=True, timeout=300,
                          env={**os.environ, "VM_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path)})
    assert proc.returncode == 80 and b"its CPU time limit (1 s, --cpu-limit)" in proc.stderr
    assert b"cage:             rlimits" in proc.stderr
