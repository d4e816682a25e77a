"""RISC-V (RV64GC) Linux guest programs and their reference runs under qemu-riscv64.

Shared by the reference tests, which check the test material against QEMU, and by the hw engine's
RISC-V tests, which run the same files and compare: the programs of guest_programs/riscv64, the
riscv-tests ISA tests built as static user programs, and the register dump of a random program.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from vm.fuzz import riscv64 as random_program
from vm.fuzz.riscv64 import CC, CC_PACKAGE, QEMU, QEMU_PACKAGE

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS_DIR = ROOT / "guest_programs" / "riscv64"
ISA_ENV_DIR = Path(__file__).resolve().parent / "riscv64" / "env"

RUN_SECONDS = 60.0  # a reference run; the largest default-size program takes well under a second


# -- tools -----------------------------------------------------------------------------------------------
def missing_tool(reason: str) -> NoReturn:
    """Skip the calling test for want of a tool, or fail it where CI runs (VM_REQUIRE_TOOLS=1), which must
    run every test: .ci/run installs the tools."""
    if os.environ.get("VM_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{reason} (VM_REQUIRE_TOOLS=1: every test must run here)")
    pytest.skip(reason)


def require_qemu() -> str:
    """The path of qemu-riscv64, or the calling test is skipped with the package that provides it."""
    path = shutil.which(QEMU)
    if path is None:
        missing_tool(f"{QEMU} not found: install Debian's {QEMU_PACKAGE} package")
    return path


def require_compiler() -> str:
    """The path of the RISC-V cross compiler, or the calling test is skipped with its package."""
    path = shutil.which(CC)
    if path is None:
        missing_tool(f"{CC} not found: install Debian's {CC_PACKAGE} package")
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
    """The parts of an ELF file's headers that say what kind of executable it is."""

    elf_class: int  # 64 for ELFCLASS64
    machine: str  # e_machine as pyelftools names it: "EM_RISCV" is 243
    segment_types: tuple[str, ...]  # each program header's p_type, like "PT_LOAD"

    @property
    def is_static_riscv64(self) -> bool:
        return self.elf_class == 64 and self.machine == "EM_RISCV" and "PT_INTERP" not in self.segment_types


def elf_summary(path: Path) -> ElfSummary:
    """Class, machine and segment types of an ELF file; ValueError if it is not one."""
    with path.open("rb") as file:
        try:
            elf = ELFFile(file)
        except ELFError as error:
            raise ValueError(f"{path}: not an ELF file ({error})") from None
        return ElfSummary(elf.elfclass, elf["e_machine"], tuple(segment["p_type"] for segment in elf.iter_segments()))


def symbol_address(path: Path, name: str) -> int:
    """The value of a symbol in an executable's symbol table (the executables are not stripped)."""
    with path.open("rb") as file:
        table = ELFFile(file).get_section_by_name(".symtab")
        symbols = table.get_symbol_by_name(name) if table is not None else None
        if not symbols:
            raise KeyError(f"{path}: no symbol {name}")
        return symbols[0]["st_value"]


# -- riscv-tests ----------------------------------------------------------------------------------------------
ISA_SUITES = ("rv64ui", "rv64um", "rv64ua", "rv64uf", "rv64ud", "rv64uc")
# As riscv-tests' own Makefile builds them: rv64g, so a test of `add` runs the 32-bit instruction (rvc
# turns compression on itself); -N puts text and data in one writable, executable segment, which
# fence_i (runs code it stores in .data) and rvc (stores into data inside .text) need, as on bare metal.
ISA_CFLAGS = ("-march=rv64g", "-mabi=lp64d", "-static", "-nostdlib", "-nostartfiles", "-mno-relax",
              "-Wl,--no-relax", "-Wl,-N", "-Wl,--no-warn-rwx-segments")


def third_party_dir() -> Path:
    """$VM_THIRD_PARTY, else the folder shared/third_party beside the project's root."""
    configured = os.environ.get("VM_THIRD_PARTY")
    return Path(configured) if configured else ROOT.parent / "shared" / "third_party"


def riscv_tests_missing() -> str | None:
    """Why the riscv-tests checkout cannot be used, or None when it can."""
    path = third_party_dir() / "riscv-tests"
    if (path / "isa" / "macros" / "scalar" / "test_macros.h").is_file():
        return None
    return f"riscv-tests not found at {path}: put a checkout there or set VM_THIRD_PARTY"


def riscv_tests_dir() -> Path:
    """The unmodified riscv-tests checkout, or the calling test is skipped saying where it was looked for."""
    missing = riscv_tests_missing()
    if missing:
        missing_tool(missing)
    return third_party_dir() / "riscv-tests"


def isa_test_names(riscv_tests: Path) -> list[str]:
    """Every test of ISA_SUITES as SUITE-NAME, in the order of each suite's Makefrag list."""
    names = []
    for suite in ISA_SUITES:
        makefrag = riscv_tests / "isa" / suite / "Makefrag"
        found = re.search(rf"^{suite}_sc_tests\s*=((?:.*\\\n)*.*)$", makefrag.read_text(), re.MULTILINE)
        if found is None:
            raise ValueError(f"{makefrag}: no {suite}_sc_tests list")
        names += [f"{suite}-{test}" for test in found.group(1).replace("\\", " ").split()]
    return names


def _isa_source(riscv_tests: Path, name: str) -> Path:
    suite, test = name.split("-", 1)
    return riscv_tests / "isa" / suite / f"{test}.S"


def build_isa_tests(out_dir: Path, riscv_tests: Path | None = None) -> dict[str, Path]:
    """Build every ISA test as a static user program in out_dir: name (like rv64ui-add) -> executable.

    A build is kept while its inputs (source, both headers, flags, the compiler's version) hash the same,
    so a second call only hashes; the builds that are needed run in parallel. Each file is written under
    a temporary name and renamed, so a run that reads out_dir meanwhile never sees half of one."""
    cc = require_compiler()
    riscv_tests = riscv_tests or riscv_tests_dir()
    macros = riscv_tests / "isa" / "macros" / "scalar"
    version = subprocess.run([cc, "--version"], capture_output=True, check=True).stdout
    common = hashlib.sha256()
    for part in (version, " ".join(ISA_CFLAGS).encode(), (ISA_ENV_DIR / "riscv_test.h").read_bytes(),
                 (macros / "test_macros.h").read_bytes()):
        common.update(hashlib.sha256(part).digest())
    out_dir.mkdir(parents=True, exist_ok=True)

    def build(name: str) -> Path:
        source = _isa_source(riscv_tests, name)
        key = hashlib.sha256(common.digest() + source.read_bytes()).hexdigest()
        executable, stamp = out_dir / name, out_dir / f"{name}.sha256"
        if executable.exists() and stamp.exists() and stamp.read_text() == key:
            return executable
        partial = out_dir / f".{name}.{os.getpid()}.{threading.get_ident()}"
        completed = subprocess.run([cc, *ISA_CFLAGS, f"-I{ISA_ENV_DIR}", f"-I{macros}", "-o", str(partial),
                                    str(source)], capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"{source}: the build failed:\n{completed.stderr}")
        os.replace(partial, executable)
        partial.with_suffix(".sha256").write_text(key)
        os.replace(partial.with_suffix(".sha256"), stamp)
        return executable

    names = isa_test_names(riscv_tests)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(zip(names, pool.map(build, names), strict=True))


# -- random programs (vm/fuzz/riscv64.py) ------------------------------------------------------------------------
def build_random(seed: int, out_dir: Path, length: int = 200) -> Path:
    """random_program.build_random, the calling test skipped without the cross compiler."""
    require_compiler()
    return random_program.build_random(seed, out_dir, length)
