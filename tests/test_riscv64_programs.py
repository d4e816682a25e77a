"""The RISC-V guest programs (guest_programs/riscv64) do under qemu-riscv64 exactly what programs.toml and
their NAME.out files say, and each committed executable is a static RV64 Linux ELF file."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from riscv64_support import PROGRAMS_DIR, elf_summary, guest_programs, require_compiler, run_reference

PROGRAMS = guest_programs()
BY_NAME = {program.name: program for program in PROGRAMS}


def test_every_source_is_listed():
    sources = {path.stem for path in PROGRAMS_DIR.glob("*.c")}
    assert sources == set(BY_NAME)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_program_output_and_exit_status(name):
    program = BY_NAME[name]
    stdout, status = run_reference(program.path, program.args, program.stdin)
    assert stdout == program.expected_stdout
    assert status == program.expected_exit


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_executable_is_static_riscv64(name):
    summary = elf_summary(BY_NAME[name].path)
    assert summary.elf_class == 64, "not ELFCLASS64"
    assert summary.machine == "EM_RISCV", "e_machine is not RISC-V (243)"
    assert "PT_LOAD" in summary.segment_types
    assert "PT_INTERP" not in summary.segment_types, "has a PT_INTERP: not static"
    assert summary.is_static_riscv64


@pytest.mark.parametrize(("name", "args", "expected"), [pytest.param(*case, id=f"{case[0]}-{case[1][0]}") for case in [
    ("hello", ["3"], b"Hello from RISC-V!\n" * 3),
    ("fib", ["25"], b"fib(25) = 75025\n"),
    ("fib", ["1"], b"fib(1) = 1\n"),
    ("sieve", ["100"], b"primes below 100: count 25, sum 1060, largest 97\n"),
    ("sieve", ["2"], b"no primes below 2\n"),
    ("sha256", ["0"], b"sha256 of 0 bytes: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"),
]])
def test_size_argument(name, args, expected):
    """The size argument a benchmark uses to run a program bigger; answers known independently."""
    stdout, _ = run_reference(BY_NAME[name].path, args)
    assert stdout == expected


def test_sha256_matches_hashlib():
    for size in (55, 56, 64, 1000):  # the padding's edges: one block, a second block, exact blocks
        data = bytes((i * 7 + i // 256) & 0xFF for i in range(size))
        stdout, status = run_reference(BY_NAME["sha256"].path, [str(size)])
        assert (stdout, status) == (f"sha256 of {size} bytes: {hashlib.sha256(data).hexdigest()}\n".encode(), 0)


def test_args_stdin_empty_input():
    stdout, status = run_reference(BY_NAME["args_stdin"].path, [], b"")
    assert (stdout, status) == (b"argc = 1\n", 0)


def test_elf_summary_tells_a_dynamic_or_foreign_executable(tmp_path):
    """The check can fail: a dynamically linked RISC-V program and a host program are not accepted."""
    source = PROGRAMS_DIR / "hello.c"
    dynamic = tmp_path / "hello-dynamic"
    subprocess.run([require_compiler(), "-O2", "-o", str(dynamic), str(source)], check=True)
    assert "PT_INTERP" in elf_summary(dynamic).segment_types
    assert not elf_summary(dynamic).is_static_riscv64
    assert elf_summary(Path(sys.executable).resolve()).machine != "EM_RISCV"


def test_elf_summary_rejects_a_non_elf(tmp_path):
    text = tmp_path / "hello.c"
    text.write_text("int main(void) { return 0; }\n")
    with pytest.raises(ValueError, match="not an ELF file"):
        elf_summary(text)
