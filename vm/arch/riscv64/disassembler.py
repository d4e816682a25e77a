"""RISC-V disassembly, derived from the descriptions: one instruction, or an objdump-like listing of
an executable's code sections with its function symbols."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from vm.arch.riscv64.isa import RiscvIsa, instruction_length, riscv64_isa
from vm.arch.riscv64.model import Operand, OperandKind, RvInstruction
from vm.arch.riscv64.registers import CSR_NAMES, F_NAMES, ROUNDING_MODES, X_NAMES


def operand_text(op: Operand, value: int, pc: int) -> str:
    """An operand as GNU objdump writes it (with -M no-aliases), so listings compare line by line."""
    kind = op.kind
    if kind is OperandKind.X:
        return X_NAMES[value]
    if kind is OperandKind.F:
        return F_NAMES[value]
    if kind is OperandKind.OFFSET:
        return f"{(pc + value) & (1 << 64) - 1:x}"
    if kind is OperandKind.CSR:
        return CSR_NAMES.get(value, f"{value:#x}")
    if kind is OperandKind.RM:
        return ROUNDING_MODES[value]
    if kind is OperandKind.FENCE:
        return "".join(letter for bit, letter in zip((8, 4, 2, 1), "iorw", strict=True) if value & bit) or "0"
    if op.name == "shamt" or op.field is not None and op.field.shift == 12:  # an upper immediate: its 20 bits
        return f"{value >> op.field.shift & 0xFFFFF if op.field.shift == 12 else value:#x}"
    return str(value)


def instruction_text(ins: RvInstruction, values: dict[str, int], pc: int) -> str:
    """`mnemonic operands`; an AMO's ordering bits as its suffix, and the rounding mode left out where
    it is the dynamic one, as objdump writes them."""
    shown = {op.name: operand_text(op, values[op.name], pc) for op in ins.operands}
    syntax = ins.syntax
    if shown.get("rm") == "dyn":
        syntax = syntax.replace(", {rm}", "")
    order = "".join(name for name in ("aq", "rl") if values.get(name))
    mnemonic = ins.mnemonic + ("." + order if order else "")
    return f"{mnemonic} {syntax.format(**shown)}".rstrip()


def disassemble_word(word: int, size: int, pc: int, isa: RiscvIsa | None = None) -> str:
    found = (isa or riscv64_isa()).decode(word, size)
    if found is None:
        return f".insn {size}, {word:#0{2 + 2 * size}x}  # not an RV64GC instruction"
    return instruction_text(*found, pc)


class Symbols:
    """Function symbols by address, for `<name+offset>` labels."""

    def __init__(self, symbols: list[tuple[int, int, str]]) -> None:
        self.entries = sorted(symbols)
        self.starts = [s[0] for s in self.entries]

    def at(self, addr: int) -> str | None:
        """`name+0x12` for an address inside a known function."""
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0:
            return None
        start, size, name = self.entries[i]
        if addr >= start + max(size, 1) and size:
            return None
        return name if addr == start else f"{name}+{addr - start:#x}"

    def starting(self, addr: int) -> list[str]:
        i = bisect.bisect_left(self.starts, addr)
        names = []
        while i < len(self.entries) and self.entries[i][0] == addr:
            names.append(self.entries[i][2])
            i += 1
        return names


def listing(code: list[tuple[str, int, bytes]], symbols: Symbols, isa: RiscvIsa | None = None) -> Iterator[str]:
    """objdump-like lines for code sections given as (name, address, bytes)."""
    isa = isa or riscv64_isa()
    for name, base, data in code:
        yield f"\nDisassembly of section {name}:\n"
        pos = 0
        while pos + 2 <= len(data):
            pc = base + pos
            for label in symbols.starting(pc):
                yield f"\n{pc:016x} <{label}>:"
            half = int.from_bytes(data[pos:pos + 2], "little")
            size = instruction_length(half)
            if pos + size > len(data):
                size = 2
            word = int.from_bytes(data[pos:pos + size], "little")
            yield f"{pc:8x}:\t{word:0{2 * size}x}{' ' * (10 - 2 * size)}\t{disassemble_word(word, size, pc, isa)}"
            pos += size


def executable_listing(path: str) -> str:
    """The listing of an ELF executable's code sections (raises ElfError for a file vm cannot run)."""
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    from vm.elf import read_executable

    program = read_executable(path)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        code = [(s.name, s["sh_addr"], s.data()) for s in elf.iter_sections()
                if s["sh_flags"] & SH_FLAGS.SHF_EXECINSTR and s["sh_type"] == "SHT_PROGBITS"]
    if not code:  # no section headers: the executable segments
        code = [(f"segment at {s.vaddr:#x}", s.vaddr, s.data) for s in program.segments if s.flags & 1]
    symbols = Symbols([(s.addr, s.size, s.name) for s in program.symbols])
    header = f"{path}:     file format elf64-littleriscv\n"
    return header + "\n".join(listing(code, symbols)) + "\n"
