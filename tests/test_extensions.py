"""Extending the instruction set: one edit for the core, a file (or entry point) for an extension."""

from __future__ import annotations

import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from vm.arch.vm64 import core_isa, instruction
from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.asm.disassembler import disassemble
from vm.arch.vm64.model import InstructionSet
from vm.arch.vm64.reference import markdown
from vm.extensions import load_extensions
from vm.isa import IsaError, Trap
from vm.run import run_image

ROOT = Path(__file__).resolve().parent.parent
BITOPS = ROOT / "extensions" / "bitops.py"
M64 = (1 << 64) - 1


def _run(source: str, isa: InstructionSet, mode: str):
    return run_image(assemble(source, "ext.asm", isa), mode, isa=isa, capture=True, mem_size=64 * 1024)


def test_a_core_instruction_is_one_entry_in_the_description() -> None:
    """Add `avg` to a copy of the core description: every product follows with no other change."""
    core = core_isa()
    avg = instruction("avg", 0x80, "rd, rs1, rs2", "rd = ashr(rs1 + rs2, 1)", "rd = (rs1 + rs2) / 2, rounding down")
    isa = InstructionSet([*core.instructions, avg], core.pseudos)
    source = "main: li r1, 7\n li r2, -2\n avg r0, r1, r2\n halt\n"
    image = assemble(source, "avg.asm", isa)
    assert image.memory[16:24] == bytes([0x80, 0, 1, 2, 0, 0, 0, 0])
    assert "avg r0, r1, r2" in disassemble(image, isa)
    assert "| 80 | `avg rd, rs1, rs2` |" in markdown(isa)
    for mode in ("hw", "para"):
        assert _run(source, isa, mode).outcome.exit == 2  # (7 - 2) >> 1


def test_float_semantics_with_a_loop_see_each_turn_s_nan_as_hw_does() -> None:
    """para defers NaN canonicalisation and tracks what it deferred while translating; a loop in an
    instruction's semantics reads, on its second turn, what its first turn assigned."""
    fcl = instruction("fcl", 0xC5, "rd, fd, fs", "x = 0\nfor i in range(2):\n    x = f2bits(fd)\n"
                      "    fd = fcanon(fd + fs)\nrd = x", "rd = fd's bits before the second fd += fs")
    core = core_isa()
    isa = InstructionSet([*core.instructions, fcl], core.pseudos)
    source = "main: liw r1, 0x7ff0000000000001\n imvf f2, r1\n fli f1, 1.0\n fcl r3, f1, f2\n halt\n"
    hw, para = (_run(source, isa, mode) for mode in ("hw", "para"))
    assert hw.machine.regs[3] & M64 == 0x7FF8000000000000  # 1.0 + a NaN, canonical
    assert para.state() == hw.state()


@pytest.fixture(scope="module")
def bitops() -> InstructionSet:
    return load_extensions(core_isa(), [str(BITOPS)])


EDGE = [0, 1, -1, 2, 0x80, 0xFF, 0x0102030405060708, -(2**63), 2**63 - 1, 0x00F0000000000F00, 0x5555555555555555]


def _s64(x: int) -> int:
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def test_bitops_edge_values_agree_with_an_oracle_in_both_engines(bitops: InstructionSet) -> None:
    lines, expected = ["main: la r10, out"], []
    for value in EDGE:
        for op in ("popcnt", "clz", "bswap"):
            lines += [f"liw r1, {value}", f"{op} r2, r1", f"sd r2, [r10+{8 * len(expected)}]"]
            u = value & M64
            expected.append({"popcnt": bin(u).count("1"), "clz": 64 - u.bit_length(),
                             "bswap": _s64(int.from_bytes(u.to_bytes(8, "little"), "big"))}[op])
    source = "\n".join(lines) + f"\n halt\n.data\n.align 8\nout: .zero {8 * len(expected)}\n"
    for mode in ("hw", "para"):
        result = _run(source, bitops, mode)
        base = result.machine.image.symbols["out"]
        got = [_s64(int.from_bytes(result.machine.mem[base + 8 * i : base + 8 * i + 8], "little"))
               for i in range(len(expected))]
        assert got == expected, mode


@pytest.mark.parametrize("a, b, c", [(0.1, 10.0, -1.0), (1e308, 10.0, -1e308), (-0.0, 0.0, -0.0), (3.0, 1 / 3, -1.0)])
def test_fmadd_rounds_once(bitops: InstructionSet, a: float, b: float, c: float) -> None:
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    try:
        expected = float(exact) if exact != 0 else (-0.0 if a * b == 0 and str(c).startswith("-") and
                                                     str(a * b).startswith("-") else 0.0)
    except OverflowError:
        expected = float("inf") if exact > 0 else float("-inf")
    source = f"main: fli f1, {a!r}\n fli f2, {b!r}\n fli f0, {c!r}\n fmadd f0, f1, f2\n fmvi r0, f0\n halt\n"
    results = [_run(source, bitops, mode).machine.fregs[0] for mode in ("hw", "para")]
    bits = [struct.pack("<d", x) for x in results]
    assert bits[0] == bits[1] == struct.pack("<d", expected)


def test_an_extension_instruction_traps_precisely(bitops: InstructionSet) -> None:
    source = "main: li r3, 5\n liw r1, -9223372036854775808\n li r2, -1\n divchk r3, r1, r2\n halt\n"
    for mode in ("hw", "para"):
        result = _run(source, bitops, mode)
        assert result.outcome.trap is Trap.DIVZERO
        assert result.outcome.pc == 0x1020 and result.outcome.retired == 3
        assert result.machine.regs[3] == 5


def test_the_worked_example_prints_its_expected_output() -> None:
    demo = ROOT / "extensions" / "bitops_demo.asm"
    for mode in ("hw", "para", "auto"):
        proc = subprocess.run([sys.executable, "-m", "vm", "run", str(demo), "--ext", str(BITOPS), "--mode", mode],
                              capture_output=True, timeout=300)
        assert proc.stdout == demo.with_suffix(".out").read_bytes(), mode
        assert proc.returncode == 64 + Trap.DIVZERO.value
        assert b"trap DIVZERO" in proc.stderr and b"Traceback" not in proc.stderr


def test_an_image_records_its_extensions(tmp_path: Path) -> None:
    image = tmp_path / "demo.vmi"
    demo = ROOT / "extensions" / "bitops_demo.asm"
    subprocess.run([sys.executable, "-m", "vm", "asm", str(demo), "--ext", str(BITOPS), "-o", str(image)], check=True)
    without = subprocess.run([sys.executable, "-m", "vm", "run", str(image)], capture_output=True, text=True)
    assert without.returncode == 2
    assert "needs the extension(s) bitops" in without.stderr and "--ext" in without.stderr
    listing = subprocess.run([sys.executable, "-m", "vm", "disasm", str(image), "--ext", str(BITOPS)],
                             capture_output=True, text=True, check=True).stdout
    assert "popcnt r2, r1" in listing
    reference = subprocess.run([sys.executable, "-m", "vm", "isa", "--ext", str(BITOPS)], capture_output=True,
                               text=True, check=True).stdout
    assert "## Extension `bitops`" in reference and "`fmadd fd, fs1, fs2`" in reference


BAD_EXTENSIONS = {
    "opcode taken": ('instruction("dup", 0xC0, "rd", "rd = 1", "x"), instruction("dup2", 0xC0, "rd", "rd = 2", "y")',
                     "opcode 0xc0 is already taken by 'dup'"),
    "core opcode": ('instruction("low", 0x90, "rd", "rd = 1", "x")', "extensions use opcodes 0xC0..0xFF"),
    "mnemonic clash": ('instruction("add", 0xC1, "rd", "rd = 1", "x")', "the mnemonic is already used"),
    "operand kind": ('instruction("odd", 0xC1, "rd, weird", "rd = 1", "x")', "unknown operand kind 'weird'"),
    "untyped semantics": ('instruction("mix", 0xC1, "rd, fs", "rd = fs + 1.0", "x")',
                          "convert with ftoi() or f2bits()"),
    "outside the language": ('instruction("imp", 0xC1, "rd", "import os", "x")', "Import statements are not part"),
    # the lowering would read the loop's variable where the semantics mean the register
    "loop variable": ('instruction("lv", 0xC1, "rd, rs", "for rd in range(rs):\\n    pass\\nrd = rs", "x")',
                      "the loop variable 'rd' must be a temporary"),
}


@pytest.mark.parametrize("case", BAD_EXTENSIONS, ids=list(BAD_EXTENSIONS))
def test_bad_extensions_are_clear_errors(tmp_path: Path, case: str) -> None:
    body, message = BAD_EXTENSIONS[case]
    path = tmp_path / "mine.py"
    path.write_text(f"from vm.arch.vm64 import instruction\nINSTRUCTIONS = [{body}]\n")
    with pytest.raises(IsaError) as error:
        load_extensions(core_isa(), [str(path)])
    assert str(path) in str(error.value) and message in str(error.value)
    proc = subprocess.run([sys.executable, "-m", "vm", "isa", "--ext", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_extensions_from_installed_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    import vm.extensions as extensions

    class EntryPoint:
        name, value = "bitops", "bitops:INSTRUCTIONS"

        @staticmethod
        def load():
            import importlib.util

            spec = importlib.util.spec_from_file_location("bitops_installed", BITOPS)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module

    monkeypatch.setattr(extensions, "entry_points", lambda group: [EntryPoint()] if group == "vm.extensions" else [])
    isa = extensions.load_extensions(core_isa(), [])
    assert "popcnt" in isa.by_mnemonic and isa.extensions == ("bitops",)
