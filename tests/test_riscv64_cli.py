"""`vm run`, `vm compare` and `vm disasm` of RISC-V executables as a user types them: arguments,
environment, files under --dir, the state and statistics, the engines that refuse such a program, a
guest's fault, and files that are not a static RISC-V executable (one line, exit 2, no traceback)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from riscv64_programs import build_probe
from riscv64_support import PROGRAMS_DIR, missing_tool

HELLO = PROGRAMS_DIR / "hello"


def vm(*args: str | Path, stdin: bytes = b"", cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm", *map(str, args)], input=stdin, capture_output=True,
                          timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    return build_probe(tmp_path_factory.mktemp("probe"))


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_hello_prints_and_exits_with_mains_status():
    proc = vm("run", HELLO)
    assert (proc.stdout, proc.returncode, proc.stderr) == (b"Hello from RISC-V!\n", 3, b"")


def test_arguments_and_input_reach_the_program():
    proc = vm("run", PROGRAMS_DIR / "args_stdin", "one", "--", "-two", stdin=b"abc\ndef\n")
    expected = subprocess.run(["cat", PROGRAMS_DIR / "args_stdin.c"], capture_output=True).returncode
    assert expected == 0
    assert b"one" in proc.stdout and b"-two" in proc.stdout and b"ABC\nDEF\n" in proc.stdout
    assert proc.returncode == 2  # its exit status is the number of lines it read


@pytest.mark.parametrize("mode", ["para", "os"])
def test_para_and_os_refuse_it_with_the_reason(mode):
    proc = vm("run", HELLO, "--mode", mode)
    assert proc.returncode == 64 + 10 and proc.stdout == b""
    err = proc.stderr.decode()
    assert err.startswith("vm: trap UNSUPPORTED at 0x") and err.count("\n") == 1
    assert f"{mode} runs vm64 code on the host's own processor; hello is a riscv64 program: run it in hw" in err


def test_auto_runs_it_in_hw():
    proc = vm("run", HELLO, "--mode", "auto", "--stats")
    assert proc.returncode == 3 and proc.stdout == b"Hello from RISC-V!\n"
    assert b"engine:           hw" in proc.stderr and b"system calls:" in proc.stderr


def test_state_out_holds_the_riscv_registers(tmp_path):
    out = tmp_path / "state.json"
    assert vm("run", HELLO, "--state-out", out).returncode == 3
    state = json.loads(out.read_text())
    assert state["arch"] == "riscv64" and state["exit"] == 3 and state["trap"] is None
    assert len(state["x"]) == 32 and state["x"][0] == 0 and state["x"][10] == 3  # a0: the status passed to exit
    assert len(state["f"]) == 32 and all(len(bits) == 16 for bits in state["f"])
    assert state["retired"] > 1000 and 0 <= state["fcsr"] < 256 and len(state["mem_sha256"]) == 64


def test_a_budget_stops_it_with_fuel():
    proc = vm("run", HELLO, "--fuel", "1000", "--stats")
    assert proc.returncode == 64 + 9
    assert b"vm: trap FUEL" in proc.stderr and b"retired:          1000\n" in proc.stderr


def test_the_environment_is_empty_unless_given(probe):
    assert vm("run", probe, "env", "GREETING").stdout == b"GREETING=(unset)\n"
    assert vm("run", probe, "env", "GREETING", "--env", "GREETING=hi there").stdout == b"GREETING=hi there\n"
    assert b"expected NAME=VALUE" in one_line_error(vm("run", probe, "env", "X", "--env", "X")).encode()


def test_files_come_only_from_the_directory_given(probe, tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    (box / "data.txt").write_text("inside\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    (box / "link.txt").symlink_to(tmp_path / "secret.txt")
    assert vm("run", probe, "cat", "data.txt").stdout == b"cannot open data.txt\n"
    assert vm("run", probe, "cat", "data.txt", "--dir", box).stdout == b"inside\n"
    assert vm("run", probe, "cat", "/data.txt", "--dir", box).stdout == b"inside\n"
    for escape in ("../secret.txt", "/../secret.txt", "link.txt", str(tmp_path / "secret.txt")):
        assert vm("run", probe, "cat", escape, "--dir", box).stdout == f"cannot open {escape}\n".encode(), escape


def test_a_fault_names_the_trap_the_function_and_the_instruction(probe):
    proc = vm("run", probe, "null")
    assert proc.returncode == 64 + 2
    err = proc.stderr.decode()
    assert err.startswith("vm: trap MEMFAULT at 0x") and "(main+0x" in err and "read from 0x0" in err, err


def test_an_unemulated_system_call_is_enosys_or_with_strict_a_trap(probe):
    proc = vm("run", probe, "syscall", "--stats")
    assert proc.stdout == b"syscall 1000 gave -38\n" and proc.returncode == 0
    assert b"refused calls:    syscall 1000 x1" in proc.stderr
    strict = vm("run", probe, "syscall", "--strict-syscalls")
    assert strict.returncode == 64 + 10
    assert b"vm: trap UNSUPPORTED" in strict.stderr and b"system call 1000" in strict.stderr


def test_compare_agrees_with_qemu_on_output_and_on_a_fault(probe):
    if shutil.which("qemu-riscv64") is None:
        missing_tool("qemu-riscv64 not found: install Debian's qemu-user package")
    same = vm("compare", PROGRAMS_DIR / "sort")
    assert same.returncode == 0 and b"identical: standard output, standard error and exit 0" in same.stdout
    fault = vm("compare", probe, "null")
    assert fault.returncode == 0, fault.stdout.decode()
    assert b"signal SIGSEGV (trap MEMFAULT)" in fault.stdout


def test_files_that_are_not_a_static_riscv_executable(tmp_path, probe):
    ls = shutil.which("ls")
    assert "x86-64" in one_line_error(vm("run", ls)) or "AArch64" in one_line_error(vm("run", ls))
    cut = tmp_path / "cut"
    cut.write_bytes(HELLO.read_bytes()[:200])
    assert "truncated" in one_line_error(vm("run", cut))
    dynamic = build_probe(tmp_path, static=False)
    assert "build with -static" in one_line_error(vm("run", dynamic))
    assert "arguments are for Linux executables" in one_line_error(
        vm("run", PROGRAMS_DIR.parent / "hello_out.asm", "extra"))
    assert "--ext: extensions are vm64 instructions" in one_line_error(vm("run", "--ext", "x.py", HELLO))
