"""The assembler: exact encodings, numbers, expressions, directives, layout, and every kind of error.

Expected bytes come from the spec's encoding (byte 0 opcode, bytes 1-3 fields A B C, bytes 4-7 the
signed immediate, LIW/FLI followed by a 64-bit literal), written here with `enc`, not with vm's encoder.
"""

from __future__ import annotations

import re
import struct

import pytest
from conftest import INT64_MIN, ISA, b2f, f2b, word
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vm.arch.vm64.asm.assembler import AssemblyError, assemble
from vm.arch.vm64.image import Image

LOAD = 0x1000


def asm(source: str) -> Image:
    return assemble(source, "prog.asm", ISA)


def code(source: str) -> bytes:
    return asm(source).memory


def enc(opcode: int, a: int = 0, b: int = 0, c: int = 0, imm: int = 0, literal: int | None = None) -> bytes:
    out = word(opcode, a, b, c, imm).to_bytes(8, "little")
    if literal is not None:
        out += (literal % (1 << 64)).to_bytes(8, "little")
    return out


def errors(source: str, filename: str = "prog.asm") -> list:
    with pytest.raises(AssemblyError) as info:
        assemble(source, filename, ISA)
    return info.value.diagnostics


def one_error(source: str) -> tuple[int, int, str]:
    diags = errors(source)
    assert len(diags) == 1, [str(d) for d in diags]
    d = diags[0]
    return d.line, d.col, d.message


# -- encoding formats ---------------------------------------------------------------------------------------
ENCODINGS = [
    # A B C
    ("add r1, r2, r3", enc(0x10, 1, 2, 3)),
    ("sltu r15, r0, r14", enc(0x1C, 15, 0, 14)),
    ("fadd f1, f2, f3", enc(0x50, 1, 2, 3)),
    ("fmax f15, f0, f9", enc(0x55, 15, 0, 9)),
    ("feq r4, f5, f6", enc(0x61, 4, 5, 6)),
    ("fle r1, f2, f3", enc(0x63, 1, 2, 3)),
    # A B I
    ("addi r1, r2, -5", enc(0x20, 1, 2, 0, -5)),
    ("sltiu r3, r4, 2147483647", enc(0x2C, 3, 4, 0, 0x7FFFFFFF)),
    ("sari r3, r4, -2147483648", enc(0x2A, 3, 4, 0, -(2**31))),
    ("beq r1, r2, 0x1000", enc(0x48, 1, 2, 0, 0x1000)),
    ("bgeu r7, r8, 16", enc(0x4D, 7, 8, 0, 16)),
    # A B
    ("mov r1, r2", enc(0x03, 1, 2)),
    ("neg r3, sp", enc(0x0E, 3, 15)),
    ("not r0, r9", enc(0x0F, 0, 9)),
    ("fsqrt f1, f2", enc(0x56, 1, 2)),
    ("fneg f3, f4", enc(0x57, 3, 4)),
    ("fabs f5, f6", enc(0x58, 5, 6)),
    ("fmov f7, f8", enc(0x59, 7, 8)),
    ("itof f1, r2", enc(0x5D, 1, 2)),
    ("ftoi r3, f4", enc(0x5E, 3, 4)),
    ("fmvi r5, f6", enc(0x5F, 5, 6)),
    ("imvf f7, r8", enc(0x60, 7, 8)),
    # A I
    ("li r5, 0x12345678", enc(0x04, 5, 0, 0, 0x12345678)),
    ("beqz r3, 0x1000", enc(0x4E, 3, 0, 0, 0x1000)),
    ("bnez r3, 8", enc(0x4F, 3, 0, 0, 8)),
    ("out 1, r7", enc(0x70, 7, 0, 0, 1)),
    ("in r2, 2", enc(0x71, 2, 0, 0, 2)),
    # A
    ("jr r4", enc(0x41, 4)),
    ("callr r5", enc(0x43, 5)),
    ("push sp", enc(0x45, 15)),
    ("pop r6", enc(0x46, 6)),
    # I
    ("jmp 0x1008", enc(0x40, imm=0x1008)),
    ("call 0x2000", enc(0x42, imm=0x2000)),
    ("hcall 7", enc(0x72, imm=7)),
    # none
    ("halt", enc(0x01)),
    ("nop", enc(0x02)),
    ("ret", enc(0x44)),
    ("brk", enc(0x7F)),
    # A + literal
    ("liw r3, 0x1122334455667788", enc(0x05, 3, literal=0x1122334455667788)),
    ("liw r3, 5", enc(0x05, 3, literal=5)),
    ("fli f2, 1.5", enc(0x5A, 2, literal=f2b(1.5))),
    ("fli f15, -0.0", enc(0x5A, 15, literal=1 << 63)),
    # memory operands
    ("ld r1, [r2]", enc(0x30, 1, 2)),
    ("ld r1, [r2+8]", enc(0x30, 1, 2, 0, 8)),
    ("ld r1, [r2-8]", enc(0x30, 1, 2, 0, -8)),
    ("ld r1, [ r2 + 8 ]", enc(0x30, 1, 2, 0, 8)),
    ("lw r1, [r2+(2+3)*4]", enc(0x31, 1, 2, 0, 20)),
    ("lbu r1, [0x2000]", enc(0x36, 1, 0xFF, 0, 0x2000)),
    ("lhu r1, [-16]", enc(0x34, 1, 0xFF, 0, -16)),
    ("lwu r1, [4+4]", enc(0x32, 1, 0xFF, 0, 8)),
    ("lh r9, [r10+2147483647]", enc(0x33, 9, 10, 0, 0x7FFFFFFF)),
    ("lb r9, [r10-2147483648]", enc(0x35, 9, 10, 0, -(2**31))),
    ("sd r3, [sp-16]", enc(0x38, 3, 15, 0, -16)),
    ("sw r3, [r0]", enc(0x39, 3, 0)),
    ("sh r3, [0x1000]", enc(0x3A, 3, 0xFF, 0, 0x1000)),
    ("sb r3, [r1+1]", enc(0x3B, 3, 1, 0, 1)),
    ("fld f1, [r2+8]", enc(0x5B, 1, 2, 0, 8)),
    ("fsd f1, [0x3000]", enc(0x5C, 1, 0xFF, 0, 0x3000)),
]


@pytest.mark.parametrize(("text", "expected"), ENCODINGS, ids=[t for t, _ in ENCODINGS])
def test_encoding(text, expected):
    assert code(text) == expected


def test_memory_operand_with_label():
    image = asm("ld r1, [cell]\nsd r1, [r2+cell]\nld r1, [r3+cell-8]\n.data\ncell: .quad 1\n")
    cell = image.symbols["cell"]
    assert cell == 0x1018
    assert image.memory[:24] == enc(0x30, 1, 0xFF, 0, cell) + enc(0x38, 1, 2, 0, cell) + enc(0x30, 1, 3, 0, cell - 8)


# -- numbers and expressions ------------------------------------------------------------------------------
NUMBERS = [
    ("42", 42), ("-42", -42), ("0x2A", 42), ("0X2a", 42), ("-0x10", -16), ("0b101010", 42), ("-0b1", -1),
    ("0", 0), ("'a'", 97), ("'\\n'", 10), ("'\\t'", 9), ("'\\r'", 13), ("'\\0'", 0), ("'\\\\'", 92),
    ("'\\''", 39), ("'\\\"'", 34), ("'\"'", 34), ("'\\x41'", 65), ("'\\xff'", 255), ("'\\x7F'", 127),
    ("';'", 59), ("' '", 32), ("-'a'", -97),
]


@pytest.mark.parametrize(("text", "value"), NUMBERS, ids=[t for t, _ in NUMBERS])
def test_numbers(text, value):
    assert code(f"li r1, {text}  ; comment") == enc(0x04, 1, imm=value)


EXPRESSIONS = [
    ("2+3*4", 14), ("(2+3)*4", 20), ("10-2-3", 5), ("2*3-4*5", -14), ("-2*-3", 6), ("-(1+2)*3", -9),
    ("2*(3+(4-1))", 12), ("((((7))))", 7), ("- -5", 5), ("0x10*0b10+'a'", 129), ("1 + 2 * 3 - 4", 3),
    ("N*8", 24), ("(ROWS+1)*COLS", 15), ("END-START", 16), ("buf+8", 0x1018 + 8), ("buf-buf", 0),
    ("LATER*2", 14), ("CHAIN", 15), ("-N", -3), ("N*N*N", 27),
]


def test_expressions():
    lines = [f".quad {text}" for text, _ in EXPRESSIONS]
    src = "\n".join([".equ N, 3", ".equ ROWS, 4", ".equ COLS, 3", ".equ CHAIN, LATER+8", "nop", ".data",
                     "START: .quad 0, 0", "END:", "buf: .quad 0", *lines, ".equ LATER, 7"])
    image = asm(src)
    data = image.memory[8 + 24:]
    got = [int.from_bytes(data[8 * i : 8 * i + 8], "little", signed=True) for i in range(len(EXPRESSIONS))]
    assert got == [v for _, v in EXPRESSIONS]
    assert image.symbols["START"] == 0x1008 and image.symbols["END"] == 0x1018 and image.symbols["buf"] == 0x1018


def test_equ_forward_reference_and_use_in_operands():
    image = asm("main: li r1, SIZE\n addi r2, r1, SIZE*2\n ld r3, [r4+OFF]\n.equ SIZE, OFF+1\n.equ OFF, 8\n")
    assert image.memory == enc(0x04, 1, imm=9) + enc(0x20, 2, 1, imm=18) + enc(0x30, 3, 4, imm=8)


# -- labels, entry, case --------------------------------------------------------------------------------------
def test_labels_and_entry_main():
    image = asm("start: nop\nloop: jmp loop\nmain:\nend: jmp start\n")
    assert image.symbols == {"start": 0x1000, "loop": 0x1008, "main": 0x1010, "end": 0x1010}
    assert image.entry == 0x1010
    assert image.memory[8:] == enc(0x40, imm=0x1008) + enc(0x40, imm=0x1000)


def test_entry_without_main_is_0x1000():
    assert asm("start: nop\nMain: nop\n").entry == 0x1000


def test_two_labels_on_one_line_and_label_alone():
    image = asm("a: b: nop\nc:\n\nd: ; comment\n nop\n")
    assert image.symbols == {"a": 0x1000, "b": 0x1000, "c": 0x1008, "d": 0x1008}


def test_mnemonics_and_registers_are_case_insensitive():
    upper = "ADD R1, R2, R3\nLd R4, [SP-8]\nFADD F1, F2, F15\nMov r1, Sp\nADDI r1, R2, 3\nJMP 0x1000\nLI R1, 1\n"
    lower = "add r1, r2, r3\nld r4, [sp-8]\nfadd f1, f2, f15\nmov r1, sp\naddi r1, r2, 3\njmp 0x1000\nli r1, 1\n"
    assert code(upper) == code(lower)
    assert code("add r1, r2, r15") == code("add r1, r2, sp")


def test_labels_are_case_sensitive():
    image = asm("loop: nop\nLoop: nop\nLOOP: jmp Loop\n")
    assert image.symbols == {"loop": 0x1000, "Loop": 0x1008, "LOOP": 0x1010}
    assert image.memory[16:] == enc(0x40, imm=0x1008)
    line, col, msg = one_error("loop: nop\n jmp LOOP\n")
    assert (line, col) == (2, 6) and "undefined" in msg and "LOOP" in msg


def test_equ_names_are_case_sensitive():
    assert code(".equ K, 1\n.equ k, 2\nli r1, K\nli r2, k\n") == enc(0x04, 1, imm=1) + enc(0x04, 2, imm=2)


# -- li: 04 or 05 -------------------------------------------------------------------------------------------
LI_VALUES = [
    ("0", 0, False), ("-1", -1, False), ("0x7FFFFFFF", 0x7FFFFFFF, False), ("-0x80000000", -(2**31), False),
    ("0x80000000", 0x80000000, True), ("0xFFFFFFFF", 0xFFFFFFFF, True), ("-0x80000001", -(2**31) - 1, True),
    ("0x8000000000000000", INT64_MIN, True), ("-0x8000000000000000", INT64_MIN, True),
    ("0xFFFFFFFFFFFFFFFF", -1, False),  # wrapped to 64 bits: -1 fits
    ("0xFFFFFFFF80000000", -(2**31), False), ("0x7FFFFFFFFFFFFFFF", 2**63 - 1, True),
    ("BIG", 2**32, True), ("SMALL", -7, False),
]


@pytest.mark.parametrize(("text", "value", "wide"), LI_VALUES, ids=[t for t, _, _ in LI_VALUES])
def test_li_picks_short_or_wide_form(text, value, wide):
    got = code(f".equ BIG, 0x100000000\n.equ SMALL, -7\nli r7, {text}\n")
    assert got == (enc(0x05, 7, literal=value) if wide else enc(0x04, 7, imm=value))


def test_li_and_la_with_labels():
    image = asm("main: la r1, data\n li r2, here\n la r3, data+4\nhere: nop\n.data\ndata: .quad 0\n")
    data = image.symbols["data"]
    assert image.memory[:24] == enc(0x04, 1, imm=data) + enc(0x04, 2, imm=0x1018) + enc(0x04, 3, imm=data + 4)


def test_li_growing_to_liw_moves_later_labels():
    image = asm("li r1, BIG\nafter: li r2, after\n.equ BIG, 0x123456789\n")
    assert image.symbols["after"] == 0x1010
    assert image.memory == enc(0x05, 1, literal=0x123456789) + enc(0x04, 2, imm=0x1010)


# -- register form with an immediate, pseudo-instructions -------------------------------------------------------
ALU = ["add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "sar", "slt", "sltu"]


@pytest.mark.parametrize("k", range(len(ALU)), ids=ALU)
def test_register_form_with_immediate_is_the_immediate_form(k):
    name = ALU[k]
    imm_name = "sltiu" if name == "sltu" else name + "i"
    assert code(f"{name} r1, r2, r3") == enc(0x10 + k, 1, 2, 3)
    assert code(f"{name} r1, r2, -5") == enc(0x20 + k, 1, 2, 0, -5)
    assert code(f"{name} r1, r2, -5") == code(f"{imm_name} r1, r2, -5")
    assert code(f"{name} r1, r2, L\nL:") == enc(0x20 + k, 1, 2, 0, 0x1008)


PSEUDOS = [
    ("la r1, 0x2000", "li r1, 0x2000"),
    ("j 0x1000", "jmp 0x1000"),
    ("bgt r1, r2, 0x1000", "blt r2, r1, 0x1000"),
    ("ble r1, r2, 0x1000", "bge r2, r1, 0x1000"),
    ("bgtu r3, r4, 0x1000", "bltu r4, r3, 0x1000"),
    ("bleu r3, r4, 0x1000", "bgeu r4, r3, 0x1000"),
    ("BGT R1, SP, 0x1000", "blt r15, r1, 0x1000"),
]


@pytest.mark.parametrize(("pseudo", "real"), PSEUDOS, ids=[p for p, _ in PSEUDOS])
def test_pseudo_instructions(pseudo, real):
    assert code(pseudo) == code(real)


def test_bgt_encoding_swaps_operands():
    assert code("bgt r1, r2, 0x1000") == enc(0x4A, 2, 1, 0, 0x1000)


# -- directives and layout ---------------------------------------------------------------------------------
def test_integer_data_directives():
    image = asm(".data\n.byte 1, -1, 0xff, 'A'\n.half 0x1234, -2\n.word 0xdeadbeef, -1\n"
                ".quad 0x1122334455667788, -1, 0xffffffffffffffff\n")
    assert image.memory == (bytes([1, 255, 255, 65]) + struct.pack("<Hh", 0x1234, -2)
                            + struct.pack("<Ii", 0xDEADBEEF, -1)
                            + struct.pack("<QqQ", 0x1122334455667788, -1, 2**64 - 1))
    assert image.text_end == 0x1000  # no text: the data starts at 0x1000


def test_double_directive():
    image = asm(".data\n.double 1.5, -2e-3, 1, -7, inf, -inf, nan, -nan, 0.1, 1e308, 5e-324, -0.0, .5, 2.\n")
    bits = [int.from_bytes(image.memory[i : i + 8], "little") for i in range(0, len(image.memory), 8)]
    assert bits == [f2b(1.5), f2b(-2e-3), f2b(1.0), f2b(-7.0), 0x7FF0000000000000, 0xFFF0000000000000,
                    0x7FF8000000000000, 0xFFF8000000000000, f2b(0.1), f2b(1e308), 1, 1 << 63, f2b(0.5), f2b(2.0)]
    assert b2f(bits[8]) == 0.1


def test_string_directives_and_escapes():
    image = asm('.data\n.ascii "a\\tb\\nc\\r\\0\\\\\\"\\\'\\x7f\\xFF;"\n.asciz "hi"\n.asciz ""\n.ascii "x, y"\n')
    assert image.memory == b"a\tb\nc\r\0\\\"'\x7f\xff;" + b"hi\0" + b"\0" + b"x, y"


def test_zero_and_align():
    image = asm(".data\n.byte 1\n.align 8\n.byte 2\n.zero 3\n.byte 3\n.align 4\n.byte 4\n.align 1\n.byte 5\n"
                ".align 16\nmark: .byte 6\n.zero 0\n")
    assert image.memory == bytes([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 5]) + bytes(14) + bytes([6])
    assert image.symbols["mark"] == 0x1020


def test_align_is_absolute_and_pads_with_zeros_in_text():
    image = asm("nop\n.byte 0x7f\n.align 8\nafter: nop\n")
    assert image.symbols["after"] == 0x1010
    assert image.memory == enc(0x02) + b"\x7f" + bytes(7) + enc(0x02)


def test_data_is_placed_after_all_text_at_the_next_multiple_of_8():
    src = ".data\nd1: .byte 1\n.text\nmain: nop\n.data\nd2: .half 2\n.text\nt2: .byte 9\n"
    image = asm(src)
    assert image.symbols == {"main": 0x1000, "t2": 0x1008, "d1": 0x1010, "d2": 0x1011}
    assert image.text_end == 0x1009
    assert image.memory == enc(0x02) + b"\x09" + bytes(7) + b"\x01" + b"\x02\x00"


def test_labels_after_the_last_statement():
    image = asm("nop\nend_text:\n.data\n.quad 1\nend_data:\n")
    assert image.symbols == {"end_text": 0x1008, "end_data": 0x1010}


def test_comments_and_blank_lines():
    src = "; a comment\n\n   \t\nmain: nop ; trailing\n  ;; more\n.data\n.ascii \"a;b\" ; c\n"
    assert asm(src).memory == enc(0x02) + b"a;b"


# -- errors ------------------------------------------------------------------------------------------------------
ERRORS = [
    # (source, line, col, words the message must contain)
    ("  addx r1, r2\n", 1, 3, ["unknown", "addx"]),
    ("nop\n  mov r1\n", 2, 3, ["2 operand"]),
    ("  add r1, r2\n", 1, 3, ["3 operand"]),
    ("  halt r1\n", 1, 3, ["0 operand"]),
    ("  bgt r1, r2\n", 1, 3, ["3 operand"]),
    ("  mov r1, r16\n", 1, 11, ["register", "r16"]),
    ("  mov r1, f2\n", 1, 11, ["register"]),
    ("  fadd f1, f2, r3\n", 1, 16, ["float register"]),
    ("  ld r1, [f1+4]\n", 1, 11, ["float register"]),
    ("  ld r1, r2\n", 1, 10, ["memory operand"]),
    ("  addi r1, r2, r3\n", 1, 16, ["register"]),
    ("  addi r1, r2, 2147483648\n", 1, 16, ["32-bit"]),
    ("  subi r1, r2, -2147483649\n", 1, 16, ["32-bit"]),
    ("  ld r1, [r2+0x80000000]\n", 1, 10, ["32-bit"]),
    ("  jmp 0x80000000\n", 1, 7, ["target"]),
    ("  jmp -8\n", 1, 7, ["target"]),
    ("  hcall 0x100000000\n", 1, 9, ["32-bit"]),
    ("  jmp nowhere\n", 1, 7, ["undefined", "nowhere"]),
    ("  li r1, 2 + missing * 3\n", 1, 14, ["undefined", "missing"]),
    ("  ld r1, [r2+gone]\n", 1, 14, ["undefined", "gone"]),
    ("x: nop\nx: nop\n", 2, 1, ["already defined", "x"]),
    ("x: nop\n .equ x, 1\n", 2, 7, ["already defined"]),
    ("r1: nop\n", 1, 1, ["register"]),
    ("  SP: nop\n", 1, 3, ["register"]),
    ("f3: nop\n", 1, 1, ["register"]),
    (" .equ r2, 1\n", 1, 7, ["register"]),
    ('  .ascii "a\\q"\n', 1, 12, ["escape"]),
    ('  .ascii "\\x4"\n', 1, 11, ["\\x"]),
    ("  li r1, '\\q'\n", 1, 10, ["escape"]),
    ('  .ascii "abc\n', 1, 10, ["unterminated"]),
    ('  .ascii "abc ; not a comment\n', 1, 10, ["unterminated"]),
    ("  li r1, 'a\n", 1, 10, ["unterminated"]),
    (".byte 1\n  nop\n", 2, 3, ["multiple of 8"]),
    (".half 1\nlabel: li r1, 5\n", 2, 8, ["multiple of 8"]),
    ("  .align 3\n", 1, 10, ["power of two"]),
    ("  .align 0\n", 1, 10, ["power of two"]),
    ("  .align -8\n", 1, 10, ["power of two"]),
    ("  .zero -1\n", 1, 9, ["0 or more"]),
    ("  .byte 256\n", 1, 9, ["1 byte"]),
    ("  .byte 1, -129\n", 1, 12, ["1 byte"]),
    ("  .half 65536\n", 1, 9, ["2 byte"]),
    ("  .word 0x100000000\n", 1, 9, ["4 byte"]),
    ("  .quad 0x10000000000000000\n", 1, 9, ["8 byte"]),
    ("  .double 1.5x\n", 1, 11, ["float"]),
    ("  fli f1, abc\n", 1, 11, ["float"]),
    ("  .foo 1\n", 1, 3, ["directive", ".foo"]),
    ("  .text r1\n", 1, 9, ["no operands"]),
    ("  .equ Y\n", 1, 8, [".equ"]),
    ("  li r1, 5 6\n", 1, 12, ["unexpected"]),
    ("  li r1, 1+\n", 1, 12, ["expected"]),
    ("  li r1, (1+2\n", 1, 10, ["not closed"]),
    ("  ld r1, [r2+8\n", 1, 10, ["not closed"]),
    ("  li r1, 1)\n", 1, 11, ["unexpected"]),
    ("  li r1, 08x\n", 1, 12, ["unexpected"]),
    ("  li r1, 0x_\n", 1, 10, ["not a number"]),
    ("  add r1, r2,\n", 1, 14, ["expected"]),
    ("  .zero 0x7fffffffffffffff\n", 1, 3, ["memory"]),
    ("  .ascii\n", 1, 9, ["operand"]),
    ("main: adi r1, r1, 1\n", 1, 7, ["unknown instruction 'adi'; did you mean addi?"]),
    ("  hlt\n", 1, 3, ["unknown instruction 'hlt'; did you mean halt?"]),
    ("  jmpp main\n", 1, 3, ["did you mean jmp?"]),
    ("  xyzzy\n", 1, 3, ["unknown instruction 'xyzzy'"]),
    ("  bogus r1\n", 1, 3, ["unknown instruction 'bogus'"]),
    ("", 1, 1, ["no instructions"]),
    ("; only a comment\n\n", 1, 1, ["no instructions"]),
    ("main:\n", 1, 1, ["no instructions"]),
]


@pytest.mark.parametrize(("source", "line", "col", "words"), ERRORS, ids=[e[0].strip()[:40] for e in ERRORS])
def test_error_position_and_message(source, line, col, words):
    got_line, got_col, message = one_error(source)
    assert (got_line, got_col) == (line, col), message
    for w in words:
        assert w.lower() in message.lower(), message


@pytest.mark.parametrize("word", ["xyzzy", "bogus"])
def test_an_unknown_word_far_from_every_mnemonic_suggests_none(word):
    assert one_error(f"  {word} r1\n")[2] == f"unknown instruction '{word}'"


def test_cyclic_equ_is_reported_at_every_constant_and_use():
    diags = errors(".equ A, B\n.equ B, A\n  li r1, A\n.equ C, C+1\n")
    assert [(d.line, d.col) for d in diags] == [(1, 9), (2, 9), (3, 10), (4, 9)]
    assert all("itself" in d.message for d in diags)


def test_bad_equ_is_reported_even_when_unused():
    diags = errors(".equ A, 1+B\n.equ B, 2*missing\n.equ C, 5 +\nnop\n")
    assert [(d.line, d.col) for d in diags] == [(1, 11), (2, 11), (3, 12)]
    assert "missing" in diags[0].message and "missing" in diags[1].message


def test_error_format_has_file_line_col_source_and_caret():
    src = "main: nop\n    add r1, r2, r99x\n"
    diags = errors(src, "dir/my prog.asm")
    assert len(diags) == 1
    text = str(diags[0])
    first, shown, caret = text.split("\n")
    assert re.match(r"^dir/my prog\.asm:2:17: (error: )?\S", first), first
    assert shown.endswith("    add r1, r2, r99x")
    indent = len(shown) - len("    add r1, r2, r99x")
    assert caret == " " * (indent + 16) + "^"


def test_all_errors_of_a_file_are_reported():
    src = "\n".join([
        "main: nop",
        "  addx r1, r2",  # 2: unknown mnemonic
        "  li r1, 5",
        "  mov r1, r99",  # 4: bad register
        "  jmp nowhere",  # 5: undefined symbol
        "ok: nop",
        "ok: nop",  # 7: duplicate label
        '  .ascii "\\q"',  # 8: bad escape
        "  addi r1, r1, 0x80000000",  # 9: out of range
        "  .zero -3",  # 10
        "  nop",
    ]) + "\n"
    with pytest.raises(AssemblyError) as info:
        assemble(src, "many.asm", ISA)
    diags = info.value.diagnostics
    assert [d.line for d in diags] == [2, 4, 5, 7, 8, 9, 10]
    text = str(info.value)
    for d in diags:
        assert f"many.asm:{d.line}:{d.col}: " in text
        assert d.source == src.splitlines()[d.line - 1]


def test_errors_do_not_stop_at_the_first_bad_line_in_data_either():
    diags = errors(".data\n.byte 300\n.half 1, 70000\n.quad undefined_thing\n.double what\n")
    assert [d.line for d in diags] == [2, 3, 4, 5]


# -- robustness ----------------------------------------------------------------------------------------------
_TOKENS = ["li", "r1", "r16", ",", "[", "]", "(", ")", "+", "-", "*", "0x", "08", "1e5", "'", '"', "\\", "x:",
           "main:", ".byte", ".equ", ".align", ".zero", ".double", ".ascii", ".quad", "fli", "f1", "sp", "ld", "sd",
           "jmp", "nan", "inf", "9" * 25, ";", " ", "\n", "\t", "-nan", "0b", "_", "$", ".", "lab", "lab:", "hcall",
           "liw", "\x00", "é", "\r", ".data", "add", "bgt"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join), st.text(max_size=60)))
def test_any_text_assembles_or_raises_assembly_error(text):
    try:
        image = assemble(text, "fuzz.asm", ISA)
    except AssemblyError as e:
        assert e.diagnostics
        for d in e.diagnostics:
            assert d.line >= 1 and d.col >= 1 and str(d).startswith(f"fuzz.asm:{d.line}:{d.col}: ")
    else:
        assert isinstance(image, Image) and len(image.memory) == image.end - LOAD
