"""The assembly's Pygments lexer, its entry point, and `vm disasm --color`."""

from __future__ import annotations

import re
from pathlib import Path

import pygments.lexers
import pytest
from pygments.token import Comment, Error, Keyword, Name, Number, String
from test_cli import vm

from vm.arch.vm64 import core_isa
from vm.arch.vm64.asm.highlight import VmAsmLexer, highlight
from vm.extensions import load_extensions

ROOT = Path(__file__).resolve().parent.parent
BITOPS = ROOT / "extensions" / "bitops.py"
PROGRAMS = sorted([*ROOT.glob("guest_programs/*.asm"), *ROOT.glob("bench/programs/*.asm"),
                   *ROOT.glob("extensions/*.asm")])
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def bitops_isa():
    return load_extensions(core_isa(), [str(BITOPS)])


def tokens(text: str, lexer: VmAsmLexer | None = None) -> list[tuple]:
    return [(tok, value) for tok, value in (lexer or VmAsmLexer()).get_tokens(text) if value.strip()]


def first_token(line: str, lexer: VmAsmLexer | None = None):
    return tokens(line + "\n", lexer)[0][0]


def test_every_core_mnemonic_is_a_keyword():
    isa = core_isa()
    mnemonics = [*isa.by_mnemonic, *isa.pseudo_by_mnemonic]
    assert {"li", "la", "mov", "push", "pop", "call", "ret", "jmp", "hcall"} <= set(mnemonics)
    for mnemonic in mnemonics:
        for spelled in (mnemonic, mnemonic.upper()):  # the assembler ignores case
            assert first_token(spelled) in Keyword, spelled


def test_pseudo_instructions_are_pseudo_keywords():
    assert first_token("la r1, msg") in Keyword.Pseudo
    assert first_token("li r1, 1") not in Keyword.Pseudo


def test_unknown_mnemonic_is_an_error():
    assert first_token("frobnicate r1") in Error


def test_sample_program_tokens():
    found = tokens((ROOT / "guest_programs" / "floats.asm").read_text())
    for expected in [
        (Name.Label, "main"), (Name.Label, "newline"),
        (Name.Builtin, "r8"), (Name.Builtin, "f0"),
        (Name.Attribute, ".text"), (Name.Attribute, ".data"), (Name.Attribute, ".double"), (Name.Attribute, ".equ"),
        (Name.Constant, "PUTFLOAT"), (Name, "table"),
        (Number.Integer, "16"), (Number.Float, "2.5"), (Number.Float, "1e23"), (String.Char, "'\\n'"),
        (Comment.Single, "; decimals"),
    ]:
        assert expected in found, expected


def test_hex_numbers_and_strings():
    found = tokens((ROOT / "guest_programs" / "data_exec.asm").read_text())
    assert (Number.Hex, "0x04") in found
    found = tokens((ROOT / "guest_programs" / "hello_out.asm").read_text())
    assert (Name.Builtin, "r1") in found
    assert (String.Double, "Hello, world!") in found
    assert (String.Escape, "\\n") in found


def test_sp_and_memory_operands():
    found = tokens("ld r1, [sp-8]\n")
    assert (Name.Builtin, "sp") in found and (Number.Integer, "8") in found


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_error_tokens_in_shipped_programs(path):
    source = path.read_text()
    lexer = VmAsmLexer(bitops_isa() if path.parent.name == "extensions" else None)
    pairs = list(lexer.get_tokens(source))
    assert "".join(value for _, value in pairs) == source  # the lexer keeps every character
    assert [value for tok, value in pairs if tok in Error] == []


def test_extension_mnemonics_need_the_extension():
    assert first_token("popcnt r1, r2") in Error
    lexer = VmAsmLexer(isa=bitops_isa())
    for mnemonic in ("popcnt", "clz", "bswap", "fmadd", "divchk"):
        assert first_token(f"{mnemonic} r1, r2", lexer) in Keyword


def test_entry_point_finds_the_lexer():
    lexer = pygments.lexers.get_lexer_by_name("vmasm")
    assert isinstance(lexer, VmAsmLexer)
    assert first_token("popcnt r1, r2", pygments.lexers.get_lexer_by_name("vmasm", isa=bitops_isa())) in Keyword


def test_highlight_only_adds_colour():
    for source in ("\n\nmain:  li r1, 'x'  ; c\n  halt\n\n", "li r1, 1"):
        coloured = highlight(source)
        assert ANSI.search(coloured)
        assert ANSI.sub("", coloured) == source


def test_disasm_color_always_is_the_plain_text_highlighted():
    program = ROOT / "guest_programs" / "floats.asm"
    plain = vm("disasm", program, "--color", "never")
    coloured = vm("disasm", program, "--color", "always")
    assert plain.returncode == coloured.returncode == 0
    assert not ANSI.search(plain.stdout.decode())
    assert ANSI.search(coloured.stdout.decode())
    assert ANSI.sub("", coloured.stdout.decode()) == plain.stdout.decode()
    assert vm("disasm", program).stdout == plain.stdout  # auto, into a pipe: no colour


def test_disasm_color_uses_the_extensions():
    program = ROOT / "extensions" / "bitops_demo.asm"
    plain = vm("disasm", program, "--ext", BITOPS, "--color", "never").stdout.decode()
    coloured = vm("disasm", program, "--ext", BITOPS, "--color", "always").stdout.decode()
    assert coloured == highlight(plain, bitops_isa())
