"""The `.vmi` image: what the assembler produces and every engine loads. See docs/image-format.md."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

MAGIC = b"VMI\x1a"
FORMAT_VERSION = 1
LOAD_ADDRESS = 0x1000
_HEADER = struct.Struct("<4sHHQQQQQ")  # magic, version, reserved, entry, load, text size, image, meta


class ImageError(ValueError):
    """A file that is not a valid image; the message says what is wrong with it."""


@dataclass(frozen=True)
class LineInfo:
    """The source line an instruction came from."""

    address: int
    line: int
    text: str


@dataclass
class Image:
    """A loadable program: bytes placed at LOAD_ADDRESS, an entry point, and its debug tables."""

    entry: int
    text_end: int  # the first address after the instructions; data starts at the next multiple of 8
    memory: bytes
    symbols: dict[str, int] = field(default_factory=dict)
    lines: list[LineInfo] = field(default_factory=list)
    source: str = "<input>"
    extensions: list[str] = field(default_factory=list)

    @property
    def end(self) -> int:
        return LOAD_ADDRESS + len(self.memory)

    def line_at(self, address: int) -> LineInfo | None:
        return self._line_index().get(address)

    def _line_index(self) -> dict[int, LineInfo]:
        index = self.__dict__.get("_lines_by_address")
        if index is None:
            index = self.__dict__["_lines_by_address"] = {info.address: info for info in self.lines}
        return index

    def where(self, address: int) -> str | None:
        """`file:line: text` for an instruction address, if the image knows it."""
        info = self.line_at(address)
        return f"{self.source}:{info.line}: {info.text}" if info else None

    def to_bytes(self) -> bytes:
        meta = json.dumps(
            {
                "source": self.source,
                "symbols": self.symbols,
                "lines": [[i.address, i.line, i.text] for i in self.lines],
                "extensions": self.extensions,
            },
            separators=(",", ":"),
        ).encode()
        text_size = self.text_end - LOAD_ADDRESS
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, self.entry, LOAD_ADDRESS, text_size,
                              len(self.memory), len(meta))
        return header + self.memory + meta

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "image") -> Image:
        if len(data) < _HEADER.size:
            if not data.startswith(MAGIC[: len(data)]) or not data:
                raise ImageError(f"{name}: not a vm image (no {MAGIC!r} magic)")
            raise ImageError(f"{name}: truncated image ({len(data)} bytes, header needs {_HEADER.size})")
        magic, version, _, entry, load, text_size, size, meta_size = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise ImageError(f"{name}: not a vm image (magic {magic!r}, expected {MAGIC!r})")
        if version != FORMAT_VERSION:
            raise ImageError(f"{name}: image format version {version}; this vm reads version {FORMAT_VERSION}")
        if load != LOAD_ADDRESS:
            raise ImageError(f"{name}: load address {load:#x}; images load at {LOAD_ADDRESS:#x}")
        if len(data) != _HEADER.size + size + meta_size:
            raise ImageError(f"{name}: truncated or padded image: {len(data)} bytes, header says "
                             f"{_HEADER.size + size + meta_size}")
        if text_size > size:
            raise ImageError(f"{name}: text size {text_size} exceeds the image size {size}")
        memory = data[_HEADER.size : _HEADER.size + size]
        try:
            meta = json.loads(data[_HEADER.size + size :].decode())
            lines = [LineInfo(int(a), int(n), str(t)) for a, n, t in meta["lines"]]
            symbols = {str(k): int(v) for k, v in meta["symbols"].items()}
            image = cls(entry, LOAD_ADDRESS + text_size, memory, symbols, lines, str(meta["source"]),
                        [str(e) for e in meta["extensions"]])
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as e:
            raise ImageError(f"{name}: corrupt metadata ({e})") from None
        return image
