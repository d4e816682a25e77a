"""The RISC-V decoder and disassembler, derived from the descriptions, read every instruction of the
guest programs and the riscv-tests as GNU objdump (-M no-aliases) does: over 300,000 instructions of
every RV64GC extension, from a disassembler nobody here wrote."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from riscv64_support import PROGRAMS_DIR, build_isa_tests, guest_programs, missing_tool

from vm.arch.riscv64.disassembler import disassemble_word
from vm.arch.riscv64.isa import riscv64_isa
from vm.arch.riscv64.model import Field, Pattern
from vm.engines.caching import engine_cache_dir
from vm.isa import IsaError

OBJDUMP = "riscv64-linux-gnu-objdump"
_LINE = re.compile(r"\s+([0-9a-f]+):\t([0-9a-f]+)\s+\t(\S+)\s*(.*)$")
# Where objdump names an encoding by what it is for rather than by the instruction: c.nop is
# `c.addi zero,0` to it, and the canonical illegal word `csrrw zero, cycle, zero` is `unimp`.
_OBJDUMP_NAMES = {"c.nop": "c.addi zero,0", "csrrw zero,cycle,zero": "unimp"}


def _objdump(path: Path) -> list[tuple[int, int, int, str]]:
    tool = shutil.which(OBJDUMP) or missing_tool(f"{OBJDUMP} not found: install Debian's gcc-riscv64-linux-gnu")
    text = subprocess.run([tool, "-d", "-M", "no-aliases", str(path)], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m[3] not in (".word", ".short"):
            operands = re.sub(r"\s*<.*>", "", m[4]).split("#")[0].strip()
            out.append((int(m[1], 16), int(m[2], 16), len(m[2]) // 2, f"{m[3]} {operands}".strip()))
    return out


def _normal(text: str) -> str:
    mnemonic, _, operands = text.partition(" ")
    ours = f"{mnemonic} {operands.replace(' ', '')}".strip()
    return _OBJDUMP_NAMES.get(ours, ours)


def _corpus() -> list[Path]:
    return [p.path for p in guest_programs()] + sorted(build_isa_tests(engine_cache_dir("riscv64-isa-tests")).values())


def test_every_instruction_reads_as_objdump_reads_it():
    seen: set[str] = set()
    wrong = []
    read: set[tuple[int, int, str]] = set()  # a word objdump reads alike at two addresses reads alike in vm too:
    for path in _corpus():  # where it names an address (a branch target), the same text means the same pc
        for pc, word, size, theirs in _objdump(path):
            if (word, size, theirs) in read:
                continue
            read.add((word, size, theirs))
            ours = disassemble_word(word, size, pc)
            seen.add(ours.split()[0].split(".aq")[0].split(".rl")[0])
            if _normal(ours) != theirs:
                wrong.append(f"{path.name} {pc:#x} {word:#x}: objdump {theirs!r}, vm {ours!r}")
    assert not wrong, f"{len(wrong)} differ, first: " + "\n".join(wrong[:10])
    described = {i.mnemonic for i in riscv64_isa().instructions}
    assert len(described - seen) <= 12, f"not in the corpus: {sorted(described - seen)}"


@pytest.mark.parametrize(("word", "size", "text"), [
    (0x00B50533, 4, "add a0, a0, a1"),
    (0x4501, 2, "c.li a0, 0"),
    (0x1141, 2, "c.addi sp, -16"),
    (0x6105, 2, "c.addi16sp sp, 32"),
    (0x0001, 2, "c.nop"),
    (0x8082, 2, "c.jr ra"),
    (0x100527AF, 4, "lr.w a5, (a0)"),
    (0x1CE9A6AF, 4, "sc.w.aq a3, a4, (s3)"),
    (0x02A5F5D3, 4, "fadd.d fa1, fa1, fa0"),
    (0x02A5A5D3, 4, "fadd.d fa1, fa1, fa0, rdn"),
    (0xC0002573, 4, "csrrs a0, cycle, zero"),
    (0x0FF0000F, 4, "fence iorw, iorw"),
    (0x6005, 2, "c.lui zero, 0x1"),  # rd = x0 is a hint, not reserved (spec 16.5): it runs, as in QEMU
])
def test_known_encodings(word, size, text):
    assert disassemble_word(word, size, 0x10000) == text


@pytest.mark.parametrize(("word", "size", "why"), [
    (0x0000, 2, "all zeros: c.addi4spn with a zero immediate"),
    (0x6101, 2, "c.addi16sp with a zero immediate"),
    (0x4002, 2, "c.lwsp into x0"),
    (0x8002, 2, "c.jr x0"),
    (0x9C41, 2, "100 1 11 .. 10: a reserved compressed ALU form"),
    (0x02A5E5D3, 4, "fadd.d with rounding mode 6"),
    (0xFFFFFFFF, 4, "all ones"),
    (0x0200101B, 4, "slliw with shamt[5] set"),
])
def test_reserved_encodings_do_not_decode(word, size, why):
    assert riscv64_isa().decode(word, size) is None, why


@pytest.mark.parametrize(("spec", "word", "value"), [
    ("20:s12", 0xFFF00000, -1),
    ("31:s1 7:1 25:6 8:4 <<1", 0x80000000, -4096),
    ("31:s1 7:1 25:6 8:4 <<1", 0x00000080, 2048),
    ("12:s20 <<12", 0x80000000, -(1 << 31)),
    ("2:3 +8", 0b11100, 15),
])
def test_fields_assemble_their_bits(spec, word, value):
    assert Field.parse(spec).extract(word) == value


def test_every_description_is_whole():
    isa = riscv64_isa()
    isa.check()  # every semantics parses and names only its operands and the language's words
    assert len(isa.instructions) == 193
    assert {i.extension for i in isa.instructions} == {"I", "M", "A", "F", "D", "C", "Zicsr", "Zifencei"}


def test_a_bad_description_is_refused_with_its_reason():
    with pytest.raises(IsaError, match="16 or 32 characters"):
        Pattern.parse("0101")
    from vm.arch.riscv64.model import instruction

    with pytest.raises(IsaError, match="overlaps the pattern's fixed bits"):
        instruction("bad", "0000000 ..... ..... 000 ..... 0110011", "rd imm=imm_i", "rd = imm", "", extension="I")
    bad = instruction("bad", "0000000 ..... ..... 000 ..... 0110011", "rd rs1 rs2", "rd = nope", "", extension="I")
    with pytest.raises(IsaError, match="unknown name 'nope'"):
        _ = bad.semantics


def test_the_listing_names_functions():
    listing = subprocess.run(["python", "-m", "vm", "disasm", str(PROGRAMS_DIR / "hello")], capture_output=True,
                             text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "<main>:" in listing.stdout and "ecall" in listing.stdout


def test_the_reference_is_current():
    root = PROGRAMS_DIR.parent.parent
    proc = subprocess.run(["python", "-m", "vm", "isa", "--arch", "riscv64"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "`fmadd.d`" in proc.stdout and "`c.addi16sp`" in proc.stdout
    assert (root / "docs" / "riscv64-isa.md").read_text() == proc.stdout, \
        "docs/riscv64-isa.md is stale: run `python -m vm isa --arch riscv64 > docs/riscv64-isa.md`"
