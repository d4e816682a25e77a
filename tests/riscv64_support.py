"""RISC-V (RV64GC) Linux guest programs and their reference runs under qemu-riscv64.

Shared by the reference tests, which check the test material against QEMU, and by the hw engine's
RISC-V tests, which run the same files and compare: the programs of guest_programs/riscv64.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS_DIR = ROOT / "guest_programs" / "riscv64"

QEMU = "qemu-riscv64"
QEMU_PACKAGE = "qemu-user"
CC = "riscv64-linux-gnu-gcc"
CC_PACKAGE = "gcc-riscv64-linux-gnu"
RUN_SECONDS = 60.0  # a reference run; the largest default-size program takes well under a second

EM_RISCV = 243
PT_INTERP = 3


# -- tools -----------------------------------------------------------------------------------------------
def require_qemu() -> str:
    """The path of qemu-riscv64, or the calling test is skipped with the package that provides it."""
    path = shutil.which(QEMU)
    if path is None:
        pytest.skip(f"{QEMU} not found: install Debian's {QEMU_PACKAGE} package")
    return path


def require_compiler() -> str:
    """The path of the RISC-V cross compiler, or the calling test is skipped with its package."""
    path = shutil.which(CC)
    if path is None:
        pytest.skip(f"{CC} not found: install Debian's {CC_PACKAGE} package")
    return path


def run_reference(path: Path, args: tuple[str, ...] | list[str] = (), stdin: bytes = b"") -> tuple[bytes, int]:
    """Run a static RISC-V executable under qemu-riscv64: its standard output and exit status (the
    negated signal number if a signal ended it, as subprocess reports it)."""
    completed = subprocess.run([require_qemu(), str(path), *args], input=stdin, capture_output=True,
                               timeout=RUN_SECONDS, check=False)
    return completed.stdout, completed.returncode


# -- guest_programs/riscv64 ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Program:
    """One entry of programs.toml with what it is expected to do."""

    name: str
    path: Path
    args: tuple[str, ...]
    stdin: bytes
    expected_stdout: bytes
    expected_exit: int


def guest_programs(directory: Path = PROGRAMS_DIR) -> list[Program]:
    """Every program listed in the directory's programs.toml, its input and expected output read in."""
    listing = directory / "programs.toml"
    with listing.open("rb") as file:
        entries = tomllib.load(file).get("program", [])
    programs = []
    for entry in entries:
        unknown = set(entry) - {"name", "args", "stdin", "exit"}
        if "name" not in entry or "exit" not in entry or unknown:
            raise ValueError(f"{listing}: each [[program]] needs name and exit, and may have args and stdin; "
                             f"got {sorted(entry)}")
        name = entry["name"]
        stdin_file = entry.get("stdin")
        programs.append(Program(
            name=name,
            path=directory / name,
            args=tuple(entry.get("args", ())),
            stdin=(directory / stdin_file).read_bytes() if stdin_file else b"",
            expected_stdout=(directory / f"{name}.out").read_bytes(),
            expected_exit=entry["exit"],
        ))
    return programs


@dataclass(frozen=True)
class ElfSummary:
    """The parts of an ELF header and program headers that say what kind of executable it is."""

    elf_class: int  # 2: ELFCLASS64
    machine: int  # e_machine; 243: RISC-V
    segment_types: tuple[int, ...]

    @property
    def is_static_riscv64(self) -> bool:
        return self.elf_class == 2 and self.machine == EM_RISCV and PT_INTERP not in self.segment_types


def elf_summary(path: Path) -> ElfSummary:
    """Read the ELF identification, e_machine and every program header's p_type (little-endian ELF64)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path}: not an ELF file")
    elf_class = data[4]
    machine = struct.unpack_from("<H", data, 18)[0]
    if elf_class != 2:
        return ElfSummary(elf_class, machine, ())
    phoff = struct.unpack_from("<Q", data, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    types = tuple(struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum))
    return ElfSummary(elf_class, machine, types)
