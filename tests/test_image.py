"""The .vmi image format: a round trip keeps everything; anything else is an ImageError, never another
exception."""

from __future__ import annotations

import json
import struct

import pytest
from conftest import ISA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.image import Image, ImageError, LineInfo

HEADER = struct.Struct("<4sHHQQQQQ")  # magic, version, reserved, entry, load, text size, image size, meta size

SOURCE = """
main:   la r1, msg
        call puts
        halt
puts:   ret
        .data
msg:    .asciz "hi"
"""


def sample() -> Image:
    return assemble(SOURCE, "dir/sample.asm", ISA)


def with_meta(meta: bytes, memory: bytes = bytes(16), text_size: int = 8) -> bytes:
    return HEADER.pack(b"VMI\x1a", 1, 0, 0x1000, 0x1000, text_size, len(memory), len(meta)) + memory + meta


def fields(image: Image) -> tuple:
    return (image.entry, image.text_end, image.memory, image.symbols, image.lines, image.source, image.extensions)


def test_roundtrip_keeps_everything():
    image = sample()
    image.extensions = ["bitops"]
    again = Image.from_bytes(image.to_bytes())
    assert fields(again) == fields(image)
    assert again.where(0x1008) == image.where(0x1008) == "dir/sample.asm:3: call puts"


def test_roundtrip_of_an_empty_program_and_odd_sizes():
    for image in [Image(entry=0x1000, text_end=0x1000, memory=b""),
                  Image(entry=0x1234, text_end=0x1003, memory=b"\x01\x02\x03", symbols={"ü": 0x1001},
                        lines=[LineInfo(0x1000, 7, "nop ; é")], source="ünï.asm")]:
        assert fields(Image.from_bytes(image.to_bytes())) == fields(image)


def test_header_layout():
    data = sample().to_bytes()
    magic, version, _, entry, load, text_size, size, meta_size = HEADER.unpack_from(data)
    assert (magic, version, entry, load) == (b"VMI\x1a", 1, 0x1000, 0x1000)
    assert text_size == sample().text_end - 0x1000 and size == len(sample().memory)
    assert len(data) == HEADER.size + size + meta_size
    json.loads(data[HEADER.size + size :])


def _broken(data: bytes, match: str) -> None:
    with pytest.raises(ImageError, match=match):
        Image.from_bytes(data, "x.vmi")


def test_wrong_magic():
    data = bytearray(sample().to_bytes())
    data[0:4] = b"VMI\x1b"
    _broken(bytes(data), "magic")
    _broken(b"\x7fELF" + bytes(100), "magic")
    _broken(b"", "x.vmi: ")
    _broken(b"main: nop\n", "x.vmi: ")


def test_every_truncation_is_an_image_error():
    data = sample().to_bytes()
    for n in range(len(data)):
        with pytest.raises(ImageError):
            Image.from_bytes(data[:n], "x.vmi")
    _broken(data + b"\0", "padded|truncated")


def test_wrong_version():
    data = bytearray(sample().to_bytes())
    struct.pack_into("<H", data, 4, 2)
    _broken(bytes(data), "version")
    struct.pack_into("<H", data, 4, 0)
    _broken(bytes(data), "version")


def test_wrong_load_address_and_text_size():
    data = bytearray(sample().to_bytes())
    struct.pack_into("<Q", data, 16, 0x2000)
    _broken(bytes(data), "load address")
    data = bytearray(sample().to_bytes())
    struct.pack_into("<Q", data, 24, 1 << 40)
    _broken(bytes(data), "text size")


CORRUPT_META = [
    b"", b"{", b"\xff\xfe", b"null", b"[]", b"3", b'"x"', b"{}",
    b'{"source": "a", "symbols": {}, "lines": []}',  # no extensions
    b'{"source": "a", "symbols": [], "lines": [], "extensions": []}',
    b'{"source": "a", "symbols": {"x": "y"}, "lines": [], "extensions": []}',
    b'{"source": "a", "symbols": {}, "lines": [[1, 2]], "extensions": []}',
    b'{"source": "a", "symbols": {}, "lines": [5], "extensions": []}',
    b'{"source": "a", "symbols": {}, "lines": [[1e400, 1, "x"]], "extensions": []}',
    b'{"source": "a", "symbols": {"x": 1e400}, "lines": [], "extensions": []}',
    b'{"source": "a", "symbols": {"x": NaN}, "lines": [], "extensions": []}',
    b'{"source": "a", "symbols": {"x": null}, "lines": [], "extensions": []}',
    b'{"source": "a", "symbols": {}, "lines": [], "extensions": 5}',
    b'{"source": ' + b"[" * 100000 + b"]" * 100000 + b', "symbols": {}, "lines": [], "extensions": []}',
]


@pytest.mark.parametrize("meta", CORRUPT_META, ids=[repr(m[:40]) for m in CORRUPT_META])
def test_corrupt_metadata(meta):
    _broken(with_meta(meta), "metadata")


def test_valid_handmade_metadata_loads():
    meta = json.dumps({"source": "h.asm", "symbols": {"main": 4096}, "lines": [[4096, 1, "nop"]],
                       "extensions": []}).encode()
    image = Image.from_bytes(with_meta(meta, (2).to_bytes(8, "little") * 2), "h.vmi")
    assert image.symbols == {"main": 4096} and image.where(0x1000) == "h.asm:1: nop"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_are_an_image_error(data):
    with pytest.raises(ImageError):
        Image.from_bytes(data, "junk.vmi")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, 10_000))
def test_damaged_images_load_or_raise_image_error(edits, cut):
    """Flip bytes (header, memory or metadata) and maybe truncate: an Image or an ImageError."""
    data = bytearray(sample().to_bytes())
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut % 3 == 0:
        data = data[: cut % len(data)]
    try:
        image = Image.from_bytes(bytes(data), "damaged.vmi")
    except ImageError as e:
        assert str(e).startswith("damaged.vmi: ")
    else:
        assert isinstance(image, Image)
