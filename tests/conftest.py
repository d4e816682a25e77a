"""Helpers shared by the whole test suite.

`run_asm` assembles and runs a program in one engine. `Batch` builds ONE guest program that computes
many table rows and stores one 64-bit result per row in memory, so a table costs one run per engine
(a para engine compiles each program, so tests that run in every engine batch their cases).

Oracles are written in the tests from the text of docs/isa.md; they never call vm's semantics.
"""

from __future__ import annotations

import struct

import pytest

from vm.arch.vm64 import core_isa
from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.image import Image
from vm.isa import Trap
from vm.run import RunResult, run_image

# Every engine the behaviour tests run in.
ENGINES = ["hw", "para", "os"]
TRANSLATING_ENGINES = ("para", "os")  # they translate the text ahead of time, and may refuse code they did not see

ISA = core_isa()  # shared: the hw engine caches its handler factories per instruction set
TEST_MEM = 64 * 1024  # the smallest legal memory: fast to set up, and its end is easy to reach

M64 = (1 << 64) - 1
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
CANON_NAN = 0x7FF8000000000000


# -- numbers ------------------------------------------------------------------------------------------
def s64(x: int) -> int:
    """x wrapped to a signed 64-bit value."""
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def u64(x: int) -> int:
    return x & M64


def f2b(x: float) -> int:
    """The bits of a binary64, unsigned."""
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def b2f(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits & M64))[0]


# -- running --------------------------------------------------------------------------------------------
def build(source: str, filename: str = "test.asm") -> Image:
    return assemble(source, filename, ISA)


def run_image_in(image: Image, mode: str = "hw", *, stdin: bytes = b"", fuel: int | None = None,
                 mem_size: int = TEST_MEM) -> RunResult:
    return run_image(image, mode, isa=ISA, mem_size=mem_size, fuel=fuel, stdin=stdin, capture=True)


def run_asm(source: str, mode: str = "hw", stdin: bytes = b"", fuel: int | None = None,
            mem_size: int = TEST_MEM) -> RunResult:
    """Assemble `source` and run it with captured output; `result.machine.image` is the image."""
    return run_image_in(build(source), mode, stdin=stdin, fuel=fuel, mem_size=mem_size)


def sym(result: RunResult, name: str) -> int:
    return result.machine.image.symbols[name]


def mem_bytes(result: RunResult, addr: int, n: int) -> bytes:
    return bytes(result.machine.mem[addr : addr + n])


def mem_q(result: RunResult, addr: int) -> int:
    """The unsigned 64-bit little-endian word at addr."""
    return int.from_bytes(result.machine.mem[addr : addr + 8], "little")


def regs(result: RunResult) -> list[int]:
    return list(result.machine.regs)


def stdout(result: RunResult) -> bytes:
    return result.output.stdout


def assert_exit(result: RunResult, status: int = 0) -> None:
    o = result.outcome
    assert o.trap is None, f"unexpected trap {o.trap.name} at {o.pc:#x} ({o.detail})"
    assert o.exit == status


def assert_trap(result: RunResult, trap: Trap, pc: int | None = None, retired: int | None = None) -> None:
    o = result.outcome
    assert o.trap is trap, f"expected {trap.name}, got {o.trap.name if o.trap else f'exit {o.exit}'}"
    assert o.exit is None
    if pc is not None:
        assert u64(o.pc) == pc, f"trap pc {o.pc:#x}, expected {pc:#x}"
        assert u64(result.machine.pc) == pc
    if retired is not None:
        assert o.retired == retired
        assert result.machine.retired == retired


# -- batched tables ---------------------------------------------------------------------------------------
SENTINEL = 0x5EED_5EED_5EED_5EED


class Batch:
    """One guest program computing many cases; each case stores one 64-bit result in `results`.

    `case(lines, result)` appends assembly lines for one case and the store of its result register
    (`rN` stored with sd, `fN` with fsd: raw bits). `run(mode)` runs the program once and returns the
    results as unsigned 64-bit integers, in case order. Result slots start as SENTINEL, so a case whose
    store never ran is noticed.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0
        self.data: list[str] = []

    def case(self, lines: list[str] | str, result: str = "r3") -> int:
        index = self.count
        self.count += 1
        if isinstance(lines, str):
            lines = [line for line in lines.splitlines() if line.strip()]
        self.lines += lines
        store = "fsd" if result.lower().startswith("f") else "sd"
        self.lines.append(f"{store} {result}, [results+{8 * index}]")
        return index

    def source(self) -> str:
        body = "\n".join("        " + line if not line.rstrip().endswith(":") else line for line in self.lines)
        slots = "\n".join(f"        .quad {SENTINEL:#x}" for _ in range(self.count))
        data = "\n".join(self.data)
        return (f"        .text\nmain:\n{body}\n        li r0, 0\n        halt\n"
                f"        .data\n        .align 8\nresults:\n{slots}\n{data}\n")

    def run(self, mode: str = "hw", mem_size: int = TEST_MEM) -> list[int]:
        result = self.result = run_asm(self.source(), mode, mem_size=mem_size)
        assert_exit(result, 0)
        base = sym(result, "results")
        return [mem_q(result, base + 8 * i) for i in range(self.count)]


def check_rows(rows: list, got: list[int], expected: list[int], fmt=lambda v: f"{v:#018x}") -> None:
    """Compare every row; report all mismatches at once."""
    assert len(got) == len(expected) == len(rows)
    bad = [f"{row!r}: got {fmt(g)}, expected {fmt(e)}" for row, g, e in zip(rows, got, expected, strict=True)
           if g != e]
    assert not bad, f"{len(bad)} of {len(rows)} rows differ:\n" + "\n".join(bad[:40])


@pytest.fixture(params=ENGINES)
def mode(request) -> str:
    """The engine a behaviour test runs in; every test using it runs once per engine."""
    return request.param


class LoopTable:
    """One guest program that runs each table's body over all its input pairs in a guest loop.

    For each pair (a, b) of 64-bit patterns, the loop loads r1 = a, r2 = b (with ld) and f1, f2 with
    the same bits (with fld), runs the body, and stores the result register (sd for rN, fsd for fN:
    raw bits). A body that computes several results per row stores them itself, writing `@out` for
    the address of each (the first `@out` of the body is result 0 of the row, the next result 1...).
    The body may use labels written `name{L}` (made unique) and any register except r8, r9, r10,
    which drive the loop. The code is small however many rows there are.
    """

    def __init__(self) -> None:
        self.tables: list[tuple[str, list[str], list[tuple[int, int]], str, int]] = []

    def add(self, key: str, body: list[str] | str, pairs: list[tuple[int, int]], result: str = "r3") -> None:
        if isinstance(body, str):
            body = [line.strip() for line in body.splitlines() if line.strip()]
        assert pairs, "a table needs at least one row"
        per_row = sum(line.count("@out") for line in body) or 1
        self.tables.append((key, body, list(pairs), result, per_row))

    def source(self) -> str:
        text, data = [".text", "main:"], [".data", ".align 8"]
        for k, (_key, body, pairs, result, per_row) in enumerate(self.tables):
            label = f"_t{k}"
            text += [f"    la r8, in{label}", f"    la r9, out{label}", f"    li r10, {len(pairs)}", f"loop{label}:",
                     "    ld r1, [r8]", "    ld r2, [r8+8]", "    fld f1, [r8]", "    fld f2, [r8+8]"]
            outs = 0
            for line in body:
                while "@out" in line:
                    line = line.replace("@out", f"[r9+{8 * outs}]", 1)
                    outs += 1
                text.append(("" if line.endswith(":") else "    ") + line.replace("{L}", label))
            if not outs:
                text.append(f"    {'fsd' if result.lower().startswith('f') else 'sd'} {result}, [r9]")
            text += ["    addi r8, r8, 16", f"    addi r9, r9, {8 * per_row}", "    subi r10, r10, 1",
                     f"    bnez r10, loop{label}"]
            data.append(f"in{label}:")
            data += [f"    .quad {u64(a):#x}, {u64(b):#x}" for a, b in pairs]
            data.append(f"out{label}:")
            data += [f"    .quad {SENTINEL:#x}"] * (len(pairs) * per_row)
        text += ["    li r0, 0", "    halt"]
        return "\n".join(text + data) + "\n"

    def run(self, mode: str = "hw") -> dict[str, list[int]]:
        """The results of every table, by key, as unsigned 64-bit values (row by row)."""
        result = run_asm(self.source(), mode, mem_size=1 << 20)
        assert_exit(result, 0)
        out = {}
        for k, (key, _body, pairs, _result, per_row) in enumerate(self.tables):
            base = sym(result, f"out_t{k}")
            out[key] = [mem_q(result, base + 8 * i) for i in range(len(pairs) * per_row)]
        return out


def word(opcode: int, a: int = 0, b: int = 0, c: int = 0, imm: int = 0) -> int:
    """An instruction word by the spec's layout (byte 0 opcode, bytes 1-3 A B C, bytes 4-7 signed I),
    as the unsigned value a `.quad` directive writes."""
    raw = bytes([opcode, a, b, c]) + imm.to_bytes(4, "little", signed=True)
    return int.from_bytes(raw, "little")


# Engines that run code they did not see at load time: stores into code, code in data, running past the
# text. The spec lets an engine refuse such a program with UNSUPPORTED ("code that a paravirtual engine
# did not translate"), so tests of that behaviour use `code_mode` and skip the translating engines.
CODE_WRITING_ENGINES = [e for e in ENGINES if e not in TRANSLATING_ENGINES]


@pytest.fixture(params=CODE_WRITING_ENGINES)
def code_mode(request) -> str:
    """The engine for a test that writes code or runs code outside the assembled text."""
    return request.param
