"""`vm run --isolate` and `vm resume --isolate` of RISC-V executables: hw in a caged child gives what it
gives in this process (output, exit status, the state JSON, the trap's message), and the cage's limits
stop it with the messages vm64's caged runs give."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from riscv64_programs import build_probe
from riscv64_support import PROGRAMS_DIR

from vm.isolate_linux import run_executable_isolated
from vm.monitor.cage import Limits
from vm.run_linux import run_executable

HELLO = PROGRAMS_DIR / "hello"
PROGRAMS = tomllib.loads((PROGRAMS_DIR / "programs.toml").read_text())["program"]
SPIN_VM64 = "main: jmp main\n"
HELLO_VM64 = 'main: li r1, 1\n la r2, text\n li r3, 19\n hcall 1\n halt\ntext: .ascii "Hello from vm64!!!\\n"\n'


def vm(*args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], input=stdin, capture_output=True,
                          timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return proc


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    return build_probe(tmp_path_factory.mktemp("probe"))


def _state(path: Path) -> dict:
    state = json.loads(path.read_text())
    del state["mem_sha256"]  # AT_RANDOM's bytes are the host's: memory differs from run to run (seeded below)
    return state


@pytest.mark.parametrize("program", PROGRAMS, ids=[p["name"] for p in PROGRAMS])
def test_a_caged_run_gives_what_an_uncaged_one_gives(program, tmp_path) -> None:
    path = PROGRAMS_DIR / program["name"]
    stdin = (PROGRAMS_DIR / program["stdin"]).read_bytes() if "stdin" in program else b""
    runs = {}
    for how in ("plain", "caged"):
        flags = ["--isolate"] if how == "caged" else []
        runs[how] = vm("run", *flags, "--state-out", tmp_path / f"{how}.json", path, "--", *program.get("args", []),
                       stdin=stdin)
    plain, caged = runs["plain"], runs["caged"]
    assert (caged.stdout, caged.stderr, caged.returncode) == (plain.stdout, plain.stderr, plain.returncode)
    assert caged.stdout == (PROGRAMS_DIR / f"{program['name']}.out").read_bytes()
    assert caged.returncode == program["exit"]
    assert _state(tmp_path / "caged.json") == _state(tmp_path / "plain.json")


def test_with_a_seed_the_caged_process_ends_with_the_same_memory() -> None:
    seed = b"the same random bytes"
    plain = run_executable(PROGRAMS_DIR / "malloc_printf", seed=seed, capture=True)
    caged = run_executable_isolated(PROGRAMS_DIR / "malloc_printf", seed=seed, capture=True, limits=Limits())
    assert caged.state() == plain.state()
    assert caged.output == plain.output and caged.output.stdout
    assert caged.stats["cage"] and caged.stats["syscalls"] == plain.stats["syscalls"]


def test_a_trap_is_said_with_its_pc_and_instruction_as_uncaged(probe, tmp_path) -> None:
    plain = vm("run", "--state-out", tmp_path / "plain.json", probe, "null")
    caged = vm("run", "--isolate", "--state-out", tmp_path / "caged.json", probe, "null")
    assert caged.returncode == plain.returncode == 64 + 2  # MEMFAULT
    assert caged.stderr == plain.stderr
    assert caged.stderr.startswith(b"vm: trap MEMFAULT at 0x") and b"(main" in caged.stderr
    assert _state(tmp_path / "caged.json") == _state(tmp_path / "plain.json")


@pytest.mark.parametrize("flags", [["--fuel", "1000", "{probe}", "spin"], ["--env", "A=bee", "{probe}", "env", "A"],
                                   ["--strict-syscalls", "{probe}", "syscall"], ["--mode", "os", "{probe}"]],
                         ids=["fuel", "env", "strict", "os"])
def test_the_run_options_work_in_the_cage_as_out_of_it(probe, tmp_path, flags) -> None:
    flags = [f.format(probe=probe) for f in flags]
    plain = vm("run", "--state-out", tmp_path / "plain.json", *flags)
    caged = vm("run", "--isolate", "--state-out", tmp_path / "caged.json", *flags)
    assert (caged.stdout, caged.stderr, caged.returncode) == (plain.stdout, plain.stderr, plain.returncode)
    assert plain.returncode != 1, plain.stderr
    caged_state, plain_state = _state(tmp_path / "caged.json"), _state(tmp_path / "plain.json")
    if "--fuel" in flags:  # stopped while glibc's start still holds AT_RANDOM's bytes in registers
        del caged_state["x"], plain_state["x"]
    assert caged_state == plain_state


def test_refused_system_calls_and_the_cage_are_in_the_statistics(probe) -> None:
    caged = vm("run", "--isolate", "--stats", probe, "syscall")
    assert caged.returncode == 0 and caged.stdout == b"syscall 1000 gave -38\n"
    err = caged.stderr.decode()
    assert "refused calls:    syscall 1000 x1" in err
    vm64 = vm("run", "--isolate", "--stats", PROGRAMS_DIR.parent / "hello_out.asm").stderr.decode()
    cage_line = [line for line in vm64.splitlines() if line.startswith("cage:")]
    assert cage_line and cage_line[0] in err.splitlines()  # the same protections, said the same way


def _limit_lines(proc: subprocess.CompletedProcess) -> list[str]:
    assert proc.returncode == 80, proc.stderr.decode()
    return [line for line in proc.stderr.decode().splitlines() if line.startswith("vm: the cage stopped")]


def test_the_cpu_limit_stops_a_spinning_guest_as_it_stops_vm64s(probe, tmp_path) -> None:
    spin = tmp_path / "spin.asm"
    spin.write_text(SPIN_VM64)
    caged = vm("run", "--isolate", "--cpu-limit", "1", "--state-out", tmp_path / "state.json", probe, "spin")
    assert _limit_lines(caged) == _limit_lines(vm("run", "--isolate", "--cpu-limit", "1", spin)) == [
        "vm: the cage stopped the guest at its CPU time limit (1 s, --cpu-limit): CPU time"]
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["limit"] == "cpu" and state["exit"] is None and state["x"] is None  # it never reported them


def test_the_output_limit_stops_hello_after_ten_bytes_as_vm64s(tmp_path) -> None:
    hello = tmp_path / "hello.asm"
    hello.write_text(HELLO_VM64)
    caged = vm("run", "--isolate", "--output-limit", "10", HELLO)
    vm64 = vm("run", "--isolate", "--output-limit", "10", hello)
    assert caged.stdout == b"Hello from" and vm64.stdout == b"Hello from"
    assert _limit_lines(caged) == _limit_lines(vm64) == [
        "vm: the cage stopped the guest at its output limit (10 bytes, --output-limit)"]


def test_a_memory_limit_too_small_for_the_address_space_stops_it() -> None:
    lines = _limit_lines(vm("run", "--isolate", "--mem-limit", "64M", HELLO))
    assert len(lines) == 1
    assert lines[0].startswith("vm: the cage stopped the guest at its memory limit (67,108,864 bytes, --mem-limit): ")
    assert "cannot reserve" in lines[0]
    assert vm("run", "--isolate", "--mem-limit", "100M", "--mem", "16M", HELLO).returncode == 3  # a smaller one fits


def test_resume_isolated_goes_on_as_resume_does(tmp_path) -> None:
    snapshot = tmp_path / "fib.snap"
    assert vm("run", "--snapshot-at", "5000", "--snapshot-out", snapshot, PROGRAMS_DIR / "fib", "20").returncode == 0
    plain = vm("resume", "--state-out", tmp_path / "plain.json", snapshot)
    caged = vm("resume", "--isolate", "--state-out", tmp_path / "caged.json", snapshot)
    assert (caged.stdout, caged.returncode) == (plain.stdout, plain.returncode) == (b"fib(20) = 6765\n", 0)
    assert json.loads((tmp_path / "caged.json").read_text()) == json.loads((tmp_path / "plain.json").read_text())
    assert _limit_lines(vm("resume", "--isolate", "--cpu-limit", "1", "--mem-limit", "100M", snapshot))[0].startswith(
        "vm: the cage stopped the guest at its memory limit (104,857,600 bytes, --mem-limit)")


def test_a_snapshot_of_a_process_with_files_is_not_resumed_in_the_cage(tmp_path) -> None:
    snapshot = tmp_path / "dir.snap"
    made = vm("run", "--dir", tmp_path, "--snapshot-at", "5000", "--snapshot-out", snapshot, HELLO)
    assert made.returncode == 0, made.stderr
    proc = vm("resume", "--isolate", snapshot)
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert proc.stderr.decode() == (f"vm: {snapshot} is a process with --dir files: the cage opens no file; resume it "
                                    "without --isolate\n")


@pytest.mark.parametrize(("flags", "said"), [
    (["--dir", "."], "--dir with --isolate: the cage opens no file: run it without --isolate"),
    (["--trace"], "--trace with --isolate: a trace is written by an uncaged run: run it without --isolate"),
    (["--cpu-limit", "1"], "--cpu-limit is enforced by the cage: add --isolate"),
    (["--mode", "os", "--output-limit", "1"], "--output-limit is enforced by the cage: add --isolate"),
])
def test_what_a_caged_run_cannot_do_is_one_line(flags, said) -> None:
    isolate = [] if any(f.endswith("-limit") for f in flags) else ["--isolate"]
    proc = vm("run", *isolate, *flags, HELLO)
    assert (proc.returncode, proc.stdout, proc.stderr.decode()) == (2, b"", f"vm: {said}\n")
