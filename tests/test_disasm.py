"""The disassembler: its text reassembles to the identical image, whatever the image holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ISA, word
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.asm.disassembler import disassemble
from vm.arch.vm64.image import Image

ROOT = Path(__file__).resolve().parent.parent
GUEST_PROGRAMS = sorted((ROOT / "guest_programs").glob("*.asm"))


def roundtrip(image: Image) -> tuple[str, Image]:
    text = disassemble(image, ISA)
    return text, assemble(text, "disassembly.asm", ISA)


def assert_same(image: Image, again: Image, text: str = "") -> None:
    assert again.memory == image.memory, text
    assert again.entry == image.entry, text
    assert again.text_end == image.text_end, text


@pytest.mark.parametrize("path", GUEST_PROGRAMS, ids=[p.stem for p in GUEST_PROGRAMS])
def test_guest_program_disassembly_reassembles_identically(path):
    image = assemble(path.read_text(), str(path), ISA)
    text, again = roundtrip(image)
    assert_same(image, again, text)
    assert again.symbols == image.symbols


def test_disassembly_text():
    src = """
main:   add r1, r2, r3
        addi r1, r2, -5
        ld r4, [r5-8]
        sd r4, [sp+16]
        lbu r6, [cell]
        fli f1, 1.5
        liw r7, 0x123456789
        beq r1, r2, main
        call main
        halt
        .data
cell:   .quad 7
"""
    text = disassemble(assemble(src, "t.asm", ISA), ISA)
    body = [line.split(";")[0].strip() for line in text.splitlines()]
    for expected in ["add r1, r2, r3", "addi r1, r2, -5", "ld r4, [r5-8]", "sd r4, [r15+16]", "lbu r6, [cell]",
                     "fli f1, 1.5", f"liw r7, {0x123456789}", "beq r1, r2, main", "call main", "halt"]:
        assert expected in body, text
    assert "main:" in body and "cell:" in body


def test_fli_with_nan_payload_and_canonical_nan():
    image = assemble("fli f1, nan\nfli f2, -nan\nfli f3, inf\nnop\n", "t.asm", ISA)
    mem = bytearray(image.memory)
    mem[8:16] = (0x7FF8000000000001).to_bytes(8, "little")  # a payload the literal syntax cannot write
    mem[24:32] = (0xFFF0000000000001).to_bytes(8, "little")  # a signalling NaN
    image.memory = bytes(mem)
    text, again = roundtrip(image)
    assert_same(image, again, text)
    assert again.memory[8:16] == (0x7FF8000000000001).to_bytes(8, "little")
    plain = assemble("fli f1, nan\nfli f3, -inf\n", "t.asm", ISA)
    text, again = roundtrip(plain)
    assert "fli f1, nan" in text and "fli f3, -inf" in text
    assert_same(plain, again, text)


UNUSED_FIELDS = [
    word(0x02, 1), word(0x02, 0, 0, 0, 5), word(0x01, 0, 0xFF), word(0x03, 1, 2, 3), word(0x03, 1, 2, 0, -1),
    word(0x10, 1, 2, 3, 9), word(0x20, 1, 2, 3, 9), word(0x40, 1, 0, 0, 0x1000), word(0x41, 1, 2),
    word(0x04, 1, 2, 0, 7), word(0x30, 1, 2, 3, 8), word(0x72, 0, 0, 1, 3), word(0x44, 0, 0, 0, 1),
]


@pytest.mark.parametrize("value", UNUSED_FIELDS, ids=[f"{v:016x}" for v in UNUSED_FIELDS])
def test_words_with_nonzero_unused_fields_roundtrip(value):
    image = Image(entry=0x1000, text_end=0x1010, memory=value.to_bytes(8, "little") + bytes(8))
    text, again = roundtrip(image)
    assert_same(image, again, text)
    assert ".quad" in text.splitlines()[2]


def test_junk_in_text():
    words = [word(0x00), word(0x06, 1), word(0xFF, 0xFF, 0xFF, 0xFF, -1), word(0x03, 16, 1), word(0x10, 1, 2, 99),
             word(0x30, 1, 0xFF), word(0x30, 1, 0xFE), word(0x40, 0, 0, 0, -8)]
    mem = b"".join(w.to_bytes(8, "little") for w in words) + word(0x05, 1).to_bytes(8, "little")  # liw, no literal
    image = Image(entry=0x1000, text_end=0x1000 + len(mem), memory=mem)
    text, again = roundtrip(image)
    assert_same(image, again, text)


def test_labels_inside_and_right_after_odd_text():
    """Labels at byte offsets the assembler can produce survive: inside what would decode as one word,
    and just after text that does not end at a multiple of 8."""
    src = """
main:   jmp inner
        .byte 2
inner:  .byte 0, 0, 0, 0, 0, 0, 0
lw:     liw r1, 0x1234567890
        beq r1, r1, tail
        .byte 1
tail:
        .data
        .quad lw+8, tail
"""
    image = assemble(src, "t.asm", ISA)
    text, again = roundtrip(image)
    assert_same(image, again, text)
    assert again.symbols == image.symbols


def test_entry_label_that_is_not_main():
    image = Image(entry=0x1008, text_end=0x1010, memory=word(0x02).to_bytes(8, "little") * 2,
                  symbols={"main": 0x1008})
    text, again = roundtrip(image)
    assert_same(image, again, text)


_OPCODES = [ins.opcode for ins in ISA.instructions]


@st.composite
def images(draw):
    chunks = []
    for _ in range(draw(st.integers(0, 16))):
        if draw(st.booleans()):  # something close to an instruction
            chunks.append(bytes([draw(st.sampled_from(_OPCODES)), draw(st.sampled_from([0, 1, 15, 16, 0xFF])),
                                 draw(st.sampled_from([0, 3, 15, 16, 0xFF])), draw(st.sampled_from([0, 2, 0xFF]))])
                          + draw(st.integers(-(2**31), 2**31 - 1)).to_bytes(4, "little", signed=True))
        else:
            chunks.append(draw(st.binary(min_size=8, max_size=8)))
    text = b"".join(chunks) + draw(st.binary(max_size=7))
    pad = bytes(-len(text) % 8)
    data = draw(st.binary(max_size=40))
    memory = text + pad + data
    assume(memory)  # an image of nothing is no program: the assembler refuses to make one
    text_end = 0x1000 + len(text)
    end = 0x1000 + len(memory)
    # labels where an assembler could put them: anywhere in text, at its end, anywhere in data
    places = draw(st.lists(st.integers(0x1000, end), max_size=6))
    places = [a for a in places if a <= text_end or a >= text_end + len(pad)]
    symbols = {f"L{i}_{a:x}": a for i, a in enumerate(places)}
    return Image(entry=0x1000, text_end=text_end, memory=memory, symbols=symbols)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images())
def test_any_image_roundtrips(image):
    text, again = roundtrip(image)
    assert_same(image, again, text)
    assert again.symbols == image.symbols
