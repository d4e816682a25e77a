"""Snapshots: the whole machine after N retired instructions, in a file any engine resumes from.

The format (docs/snapshot-format.md), version 1, little-endian:

    magic "VMSNAPSH" | u32 version | u32 header length | header (UTF-8 JSON)
    | the program's image (.vmi) | guest memory, zlib-compressed | sha256 of everything before it

The header holds the registers, pc, retired count, memory size, the input the guest had read, the
instruction budget left, and each extension the program uses with a digest of its descriptions: a
snapshot resumes only with the same instructions it was taken with.

A RISC-V Linux process has a kind of its own, magic "VMSNAPRV", laid out the same way: its header holds
the hart's registers, the process's layout, the system calls' state (open files with their offsets,
brk, signals) and the address space's mapped runs, whose permissions and zlib'd bytes follow it.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.encoding import bits_float, float_bits
from vm.arch.vm64.image import Image, ImageError
from vm.machine import Machine, check_memory_size

if TYPE_CHECKING:
    from vm.machine import RiscvMachine
    from vm.monitor.linux_process import Process

MAGIC = b"VMSNAPSH"
FORMAT_VERSION = 1
PROCESS_MAGIC = b"VMSNAPRV"
PROCESS_FORMAT_VERSION = 1
M64 = (1 << 64) - 1
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


def _checked_body(data: bytes, name: str, magic: bytes, reads: int) -> tuple[bytes, int, int]:
    """Either kind's file with its magic, version and checksum checked: (body, version, header length)."""
    if len(data) < _PREFIX.size + _DIGEST_BYTES or data[:8] != magic:
        raise SnapshotError(f"{name} is not a vm snapshot")
    _, version, header_length = _PREFIX.unpack_from(data)
    if version != reads:
        raise SnapshotError(f"{name} is snapshot format version {version}; this vm reads version {reads}")
    body, digest = data[:-_DIGEST_BYTES], data[-_DIGEST_BYTES:]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotError(f"{name} is damaged: its checksum does not match its contents")
    return body, version, header_length


def read_snapshot(data: bytes, name: str, isa: InstructionSet) -> Snapshot:
    """The snapshot in `data` (from the file `name`), checked whole before anything is used."""
    body, version, header_length = _checked_body(data, name, MAGIC, FORMAT_VERSION)
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


# -- a RISC-V Linux process ---------------------------------------------------------------------------------
def is_process_snapshot(data: bytes) -> bool:
    """Is this a RISC-V process's snapshot (as opposed to a vm64 machine's)? By its magic alone."""
    return data[:8] == PROCESS_MAGIC


@dataclass
class ProcessSnapshot:
    """A RISC-V Linux process between two instructions, with what its run needs to go on as it would have."""

    machine: RiscvMachine
    process: Process
    linux: dict  # the system calls' state (Linux.save)
    input_consumed: int  # bytes of input the guest had read: a resumed run skips them
    budget: int  # instructions left of the run's budget
    root: Path | None  # the directory its files come from (--dir), None for none
    strict: bool  # --strict-syscalls

    @property
    def source(self) -> str:
        return self.process.program.path

    def to_bytes(self) -> bytes:
        """The snapshot file's bytes."""
        m = self.machine
        space = m.space.save()
        runs, parts = [], []
        for run in space["runs"]:
            runs.append({"addr": run["addr"], "pages": len(run["perm"]), "data_bytes": len(run["data"])})
            parts += [run["perm"], run["data"]]
        header = {
            "arch": "riscv64", "source": self.source, "pc": m.pc, "retired": m.retired, "x": m.x[:32],
            "f": [f"{v & M64:016x}" for v in m.f], "fcsr": m.frm << 5 | m.fflags,
            "reservation": list(m.reservation) if m.reservation is not None else None,
            "space": {"size": space["size"], "limit": space["limit"], "runs": runs},
            "process": self.process.save(), "linux": self.linux, "input_consumed": self.input_consumed,
            "budget": self.budget, "root": str(self.root.absolute()) if self.root is not None else None,
            "strict": self.strict,
        }
        text = json.dumps(header, separators=(",", ":")).encode()
        body = _PREFIX.pack(PROCESS_MAGIC, PROCESS_FORMAT_VERSION, len(text)) + text + b"".join(parts)
        return body + hashlib.sha256(body).digest()


def read_process_snapshot(data: bytes, name: str) -> ProcessSnapshot:
    """The RISC-V process snapshot in `data` (from the file `name`), checked whole before anything is used."""
    from vm.address_space import PAGE, AddressSpace  # here: a vm64 command does not load the RISC-V machine
    from vm.machine import RiscvMachine
    from vm.monitor.linux_process import Process

    body, version, header_length = _checked_body(data, name, PROCESS_MAGIC, PROCESS_FORMAT_VERSION)
    try:
        h = json.loads(body[_PREFIX.size : _PREFIX.size + header_length])
        at = _PREFIX.size + header_length
        runs = []
        for run in h["space"]["runs"]:
            pages, data_bytes = int(run["pages"]), int(run["data_bytes"])
            runs.append({"addr": int(run["addr"]), "perm": body[at : at + pages],
                         "data": body[at + pages : at + pages + data_bytes]})
            at += pages + data_bytes
        size = int(h["space"]["size"])
        if at != len(body) or size & (size - 1) or size < PAGE:
            raise ValueError("the memory runs do not fill the file, or the space is not a power of two in size")
        space = AddressSpace.restore({"size": size, "limit": int(h["space"]["limit"]), "runs": runs})
        process = Process.restore(h["process"], space)
        machine = RiscvMachine(space, int(h["pc"]), process.sp)
        f = [(bits := int(v, 16)) - (bits >> 63 << 64) for v in h["f"]]  # signed, as the engine holds them
        x = [int(v) for v in h["x"]]
        if len(x) != 32 or len(f) != 32 or x[0] != 0:
            raise ValueError("x needs 32 registers with x0 = 0, f 32")
        machine.x[:32], machine.f[:] = x, f
        fcsr = int(h["fcsr"])
        machine.fflags, machine.frm, machine.retired = fcsr & 0x1F, fcsr >> 5 & 7, int(h["retired"])
        held = h["reservation"]
        machine.reservation = None if held is None else (int(held[0]), int(held[1]), int(held[2]))
        linux = dict(h["linux"])
        root = Path(h["root"]) if h["root"] is not None else None
        snapshot = ProcessSnapshot(machine, process, linux, int(h["input_consumed"]), int(h["budget"]), root,
                                   bool(h["strict"]))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, zlib.error) as e:
        raise SnapshotError(f"{name}: a snapshot of version {version} with a malformed header or body: {e}") from None
    return snapshot
