"""Snapshots: the whole machine after N retired instructions, in a file any engine resumes from.

The format (docs/snapshot-format.md), version 1, little-endian:

    magic "VMSNAPSH" | u32 version | u32 header length | header (UTF-8 JSON)
    | the program's image (.vmi) | guest memory, zlib-compressed | sha256 of everything before it

The header holds the registers, pc, retired count, memory size, the input the guest had read, the
instruction budget left, and each extension the program uses with a digest of its descriptions: a
snapshot resumes only with the same instructions it was taken with.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass

from vm.image import Image, ImageError
from vm.isa import InstructionSet
from vm.isa.encoding import bits_float, float_bits
from vm.machine import Machine, check_memory_size

MAGIC = b"VMSNAPSH"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sII")
_DIGEST_BYTES = 32


class SnapshotError(Exception):
    """A file that is not a snapshot this vm can resume; the message says why."""


@dataclass
class Snapshot:
    """A machine between two instructions, with what its run needs to go on exactly as it would have."""

    machine: Machine
    input_consumed: int  # bytes of input the guest had read: a resumed run skips them
    budget: int  # instructions left of the run's budget
    extensions: dict[str, str]  # name -> digest of its instruction descriptions


def extension_digest(isa: InstructionSet, name: str) -> str:
    """What identifies an extension's instructions: their descriptions, not the file they came from."""
    described = sorted((i.opcode, i.mnemonic, i.syntax(), i.semantics.source) for i in isa.instructions
                       if i.origin == name)
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def write_snapshot(machine: Machine, isa: InstructionSet, input_consumed: int, budget: int) -> bytes:
    """The snapshot file's bytes."""
    image = machine.image.to_bytes()
    memory = zlib.compress(bytes(machine.mem), 1)
    header = {
        "pc": machine.pc, "retired": machine.retired, "r": list(machine.regs),
        "f": [f"{float_bits(x) & (2**64 - 1):016x}" for x in machine.fregs],
        "mem_size": machine.mem_size, "input_consumed": input_consumed, "budget": budget,
        "extensions": {name: extension_digest(isa, name) for name in machine.image.extensions},
        "source": machine.image.source, "image_bytes": len(image), "memory_bytes": len(memory),
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text + image + memory
    return body + hashlib.sha256(body).digest()


def read_snapshot(data: bytes, name: str, isa: InstructionSet) -> Snapshot:
    """The snapshot in `data` (from the file `name`), checked whole before anything is used."""
    if len(data) < _PREFIX.size + _DIGEST_BYTES or data[:8] != MAGIC:
        raise SnapshotError(f"{name} is not a vm snapshot")
    _, version, header_length = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION:
        raise SnapshotError(f"{name} is snapshot format version {version}; this vm reads version {FORMAT_VERSION}")
    body, digest = data[:-_DIGEST_BYTES], data[-_DIGEST_BYTES:]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotError(f"{name} is damaged: its checksum does not match its contents")
    try:
        h = json.loads(body[_PREFIX.size : _PREFIX.size + header_length])
        start = _PREFIX.size + header_length
        image = Image.from_bytes(body[start : start + h["image_bytes"]], h["source"])
        memory = zlib.decompress(body[start + h["image_bytes"] :])
        check_memory_size(h["mem_size"])
        regs = [int(v) for v in h["r"]]
        fregs = [bits_float(int(v, 16) - (int(v, 16) >> 63 << 64)) for v in h["f"]]
        pc, retired, budget, consumed = (int(h[k]) for k in ("pc", "retired", "budget", "input_consumed"))
        extensions = {str(k): str(v) for k, v in h["extensions"].items()}
    except (ValueError, KeyError, TypeError, AttributeError, zlib.error, ImageError) as e:
        raise SnapshotError(f"{name}: a snapshot of version {version} with a malformed header or body: {e}") from None
    if len(memory) != h["mem_size"] or len(regs) != 16 or len(fregs) != 16:
        raise SnapshotError(f"{name}: its memory or registers do not have the sizes its header gives")
    missing = [n for n in extensions if n not in isa.extensions]
    if missing:
        raise SnapshotError(f"{name} needs the extension(s) {', '.join(missing)}: load them with --ext FILE")
    changed = [n for n, d in extensions.items() if extension_digest(isa, n) != d]
    if changed:
        raise SnapshotError(f"{name} was taken with other instructions of {', '.join(changed)} than the ones "
                            "loaded: resume it with the extension it ran with")
    machine = Machine(image, bytearray(memory), regs, fregs, pc, retired)
    return Snapshot(machine, consumed, budget, extensions)
