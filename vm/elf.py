"""Reading a static Linux executable (ELF) with pyelftools, and refusing in one line what vm cannot run."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

_SYMBOL = struct.Struct("<IBBHQQ")  # Elf64_Sym: name, info, other, shndx, value, size
STT_FUNC = 2

EM_RISCV = 243
MAGIC = b"\x7fELF"

# The names people know machines by; anything else gets pyelftools' description.
_MACHINE_NAMES = {
    "EM_X86_64": "x86-64",
    "EM_386": "32-bit x86",
    "EM_AARCH64": "AArch64 (64-bit ARM)",
    "EM_ARM": "32-bit ARM",
    "EM_PPC64": "64-bit PowerPC",
    "EM_S390": "s390",
    "EM_MIPS": "MIPS",
    "EM_LOONGARCH": "LoongArch",
}

PF_X, PF_W, PF_R = 1, 2, 4


class ElfError(ValueError):
    """An executable vm cannot load; the message is one line naming the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class Segment:
    """A PT_LOAD segment: memsz bytes at vaddr, the first len(data) of them from the file."""

    vaddr: int
    memsz: int
    data: bytes
    flags: int  # PF_R | PF_W | PF_X
    offset: int  # where data starts in the file: the loader finds the program headers through it

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz


@dataclass(frozen=True)
class Symbol:
    addr: int
    size: int
    name: str


@dataclass(frozen=True)
class ElfProgram:
    path: str
    machine: int  # e_machine
    elf_class: int  # 32 or 64
    entry: int
    pie: bool  # ET_DYN: loaded at a base the loader chooses
    segments: tuple[Segment, ...]
    phoff: int
    phentsize: int
    phnum: int
    symbols: tuple[Symbol, ...]  # function symbols from .symtab, by address

    @property
    def low(self) -> int:
        return min(s.vaddr for s in self.segments)

    @property
    def high(self) -> int:
        return max(s.end for s in self.segments)


def is_executable(path: str | Path) -> bool:
    """An ELF file (of any machine: reading it names a wrong one), as opposed to vm64 assembly or an image.
    pyelftools is imported only to read one, so that vm64 runs do not pay for it."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def _machine_name(elf: ELFFile) -> str:
    from elftools.elf.descriptions import describe_e_machine

    machine = elf.header.e_machine
    if machine == "EM_RISCV":
        return f"{elf.elfclass}-bit RISC-V"
    if machine in _MACHINE_NAMES:
        return _MACHINE_NAMES[machine]
    return describe_e_machine(machine) if isinstance(machine, str) else f"machine {machine}"


def read_executable(path: str | Path) -> ElfProgram:
    """Read a static 64-bit RISC-V Linux executable, or raise ElfError saying why it is not one."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ElfError(path, f"cannot read it ({e.strerror})") from None
    if data[:4] != MAGIC:
        raise ElfError(path, "not an ELF file (it does not start with \\x7fELF)")
    try:
        elf = ELFFile(io.BytesIO(data))
        header = elf.header
    except ELFError:
        raise ElfError(path, f"truncated: the ELF header is cut short ({len(data)} bytes)") from None
    if header.e_machine != "EM_RISCV" or elf.elfclass != 64 or not elf.little_endian:
        raise ElfError(path, f"an ELF for {_machine_name(elf)}; vm runs 64-bit RISC-V (riscv64) executables")
    if header.e_type not in ("ET_EXEC", "ET_DYN"):
        kind = {"ET_REL": "a relocatable object (.o): link it", "ET_CORE": "a core dump"}.get(header.e_type)
        raise ElfError(path, f"not an executable: {kind or header.e_type}")
    _check_table(path, data, "program header table", header.e_phoff, header.e_phnum, header.e_phentsize)
    segments = []
    for index, segment in enumerate(elf.iter_segments()):
        ph = segment.header
        if ph.p_type == "PT_INTERP":
            interp = data[ph.p_offset : ph.p_offset + ph.p_filesz].rstrip(b"\0").decode(errors="replace")
            raise ElfError(
                path,
                f"dynamically linked (it has an interpreter, {interp}); vm runs static executables: build with -static",
            )
        if ph.p_type != "PT_LOAD":
            continue
        if (end := ph.p_offset + ph.p_filesz) > len(data):
            raise ElfError(path, f"truncated: segment {index} ends at byte {end}, past the file's {len(data)}")
        if ph.p_filesz > ph.p_memsz:
            raise ElfError(path, f"segment {index} has more file bytes ({ph.p_filesz}) than memory ({ph.p_memsz})")
        if ph.p_memsz:
            segments.append(Segment(ph.p_vaddr, ph.p_memsz, data[ph.p_offset : end], ph.p_flags, ph.p_offset))
    if not segments:
        raise ElfError(path, "no loadable (PT_LOAD) segment")
    _check_table(path, data, "section header table", header.e_shoff, header.e_shnum, header.e_shentsize)
    segments.sort(key=lambda s: s.vaddr)
    for lower, upper in zip(segments, segments[1:], strict=False):
        if upper.vaddr < lower.end:
            ranges = f"[{lower.vaddr:#x}, {lower.end:#x}) and [{upper.vaddr:#x}, {upper.end:#x})"
            raise ElfError(path, f"overlapping PT_LOAD segments: {ranges}")
    if not any(s.flags & PF_X and s.vaddr <= header.e_entry < s.end for s in segments):
        raise ElfError(path, f"the entry point {header.e_entry:#x} is outside every executable segment")

    return ElfProgram(
        path=str(path),
        machine=EM_RISCV,
        elf_class=elf.elfclass,
        entry=header.e_entry,
        pie=header.e_type == "ET_DYN",
        segments=tuple(segments),
        phoff=header.e_phoff,
        phentsize=header.e_phentsize,
        phnum=header.e_phnum,
        symbols=_function_symbols(elf, data),
    )


def _check_table(path: str | Path, data: bytes, what: str, offset: int, count: int, size: int) -> None:
    if count and offset + count * size > len(data):
        raise ElfError(path, f"truncated: the {what} ends at byte {offset + count * size}, past the file's {len(data)}")


def _function_symbols(elf: ELFFile, data: bytes) -> tuple[Symbol, ...]:
    """Function symbols from .symtab. pyelftools finds the tables; their entries are unpacked with
    struct, since parsing thousands of them one by one through pyelftools takes a quarter second."""
    from elftools.common.exceptions import ELFError

    try:
        table = elf.get_section_by_name(".symtab")
        strings = elf.get_section(table["sh_link"]) if table is not None else None
    except ELFError:  # damaged section headers: the program still runs, without names
        return ()
    if table is None or strings is None:
        return ()
    names = strings.data()
    entries = data[table["sh_offset"] : table["sh_offset"] + table["sh_size"]]
    found = set()
    for name, info, _other, _shndx, value, size in _SYMBOL.iter_unpack(entries[: len(entries) // 24 * 24]):
        if info & 0xF == STT_FUNC and value and name:
            found.add((value, size, names[name : names.index(b"\0", name)].decode(errors="replace")))
    return tuple(Symbol(*entry) for entry in sorted(found))
