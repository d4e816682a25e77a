"""Random RV64GC instruction sequences as static Linux programs, run in hw and under qemu-riscv64 and compared:
what `vm fuzz --arch riscv64` does, and what the RISC-V reference tests build.

`generate(seed, length)` writes GNU assembler source: _start sets every register to an edge value, runs
`length` random items (one instruction each, or a short sequence where an instruction needs its
operands prepared: an address for an AMO, a forward label for a branch), then writes x1..x31, f0..f31,
fcsr and the scratch buffer with one write system call (the layout parse_dump reads)
and exits 0. The first items are one of each class, so every class of RV64GC appears in every program
of at least that length.

Two registers are never written by the random items: x2 (sp) and x9, the base of the scratch buffer
that every load, store and AMO goes through. sp is not read either, since its value is the loader's
choice: the sp-relative compressed forms borrow it, pointed at the scratch buffer for one instruction,
then restored, so only the dumped x2 differs between loaders. x9 is in x8..x15, so compressed loads and
stores can use it as their base too.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

QEMU = "qemu-riscv64"
QEMU_PACKAGE = "qemu-user"
CC = "riscv64-linux-gnu-gcc"
CC_PACKAGE = "gcc-riscv64-linux-gnu"
CFLAGS = ("-march=rv64gc", "-mabi=lp64d", "-nostdlib", "-static", "-mno-relax", "-Wl,--no-relax")
FUEL = 50_000_000  # far above any generated program (a few thousand instructions): a hang ends as a difference
REFERENCE_SECONDS = 60.0

SCRATCH_BYTES = 256  # the random program's load/store buffer, dumped after the registers
DUMP_FORMAT = "<31Q32QQ"  # x1..x31, f0..f31 as raw 64-bit patterns, fcsr; then the scratch buffer
DUMP_BYTES = struct.calcsize(DUMP_FORMAT) + SCRATCH_BYTES


class ToolMissing(Exception):
    """The cross compiler or qemu-riscv64 is not installed; the message names the Debian package."""


def tool(name: str, package: str) -> str:
    """The path of a tool, or ToolMissing naming the package that has it."""
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} not found: install Debian's {package} package")
    return path


def parse_dump(data: bytes) -> dict:
    """A random program's output as {"x": [x0..x31], "f": [f0..f31], "fcsr": int, "scratch": bytes}:
    x0 is included as 0 so x[i] is register i; every value is unsigned."""
    if len(data) != DUMP_BYTES:
        raise ValueError(f"a register dump has {DUMP_BYTES} bytes, not {len(data)}")
    values = struct.unpack_from(DUMP_FORMAT, data)
    return {"x": [0, *values[:31]], "f": list(values[31:63]), "fcsr": values[63],
            "scratch": data[struct.calcsize(DUMP_FORMAT):]}

REGISTERS_BYTES = struct.calcsize(DUMP_FORMAT)  # the dump's register part, right before the scratch buffer
BASE = "x9"
SAVED_SP = -(REGISTERS_BYTES + 8)  # from BASE: a doubleword before the dump where sp waits meanwhile

X_WRITABLE = [f"x{i}" for i in range(32) if i not in (2, 9)]  # x0 included: a write there is dropped
X_READABLE = [f"x{i}" for i in range(32) if i != 2]
X_TEMPORARY = [r for r in X_WRITABLE if r != "x0"]  # holds an address or operand for the next instruction
C_WRITABLE = ["x8", *(f"x{i}" for i in range(10, 16))]  # the compressed forms' x8..x15, less the base
C_READABLE = [f"x{i}" for i in range(8, 16)]
C_WRITABLE_FULL = X_TEMPORARY  # c.li, c.addi, c.mv ... take any rd but x0
F_REGS = [f"f{i}" for i in range(32)]
C_F_REGS = [f"f{i}" for i in range(8, 16)]

M64 = (1 << 64) - 1
X_EDGES = [0, M64, 1, 1 << 63, (1 << 63) - 1, (-(1 << 31)) & M64, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32,
           2, 31, 32, 33, 63, 64, 65, 0x7FF0000000000000, 0xFFFFFFFF80000001, 0x8000000000000001,
           0x00000000FFFF8000, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA]


def _double(bits_of: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", bits_of))[0]


def _boxed_single(bits_of: float | int) -> int:
    """A single NaN-boxed in a 64-bit register: its 32 bits under 32 ones."""
    single = bits_of if isinstance(bits_of, int) else struct.unpack("<I", struct.pack("<f", bits_of))[0]
    return 0xFFFFFFFF_00000000 | single


F_EDGES = [
    _double(0.0), 1 << 63, _double(1.0), _double(-1.0), _double(0.1), _double(0.5), _double(-0.5), _double(1.5),
    _double(2.5), _double(float("inf")), _double(float("-inf")),
    0x7FF8000000000000, 0xFFF8000000000123, 0x7FF0000000000001, 0x7FF4000000000000,  # quiet, quiet, signalling x2
    1, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF,  # subnormals, smallest and largest normal
    _double(2.0**31), _double(2.0**31 - 0.5), _double(-(2.0**31) - 1), _double(-(2.0**31)), _double(2.0**32),
    _double(2.0**32 - 0.5), _double(2.0**63), _double(-(2.0**63)), _double(2.0**64), _double(-(2.0**64)),
    _double(9007199254740993.0), _double(-1e300),
    _boxed_single(1.0), _boxed_single(-0.0), _boxed_single(0.1), _boxed_single(float("inf")),
    _boxed_single(0x7FC00000), _boxed_single(0x7F800001), _boxed_single(0xFFC00001),  # quiet, signalling, -quiet
    _boxed_single(0x00000001), _boxed_single(0x007FFFFF), _boxed_single(2.0**31), _boxed_single(-(2.0**31)),
    _boxed_single(2.0**63), _boxed_single(4294967040.0), _boxed_single(1.5),
    0x000000003F800000, 0x7FF000003F800000, 0xFFFFFFFE3F800000,  # 1.0f not boxed: reads as the canonical NaN
]

ROUNDING = ["rne", "rtz", "rdn", "rup", "rmm", "dyn"]


class _Writer:
    """The random choices and the source lines of one program."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lines: list[str] = []
        self.labels = 0

    def emit(self, *lines: str) -> None:
        self.lines += [f"    {line}" for line in lines]

    def emit_compressed(self, *lines: str) -> None:
        """Lines with c. mnemonics: the assembler takes them only under .option rvc, which is on just
        for them, so no other instruction is compressed behind the generator's back."""
        self.lines.append(".option push\n.option rvc")
        self.emit(*lines)
        self.lines.append(".option pop")

    def label(self) -> str:
        self.labels += 1
        return f".Lskip{self.labels}"

    def pick(self, choices):
        return self.rng.choice(choices)

    def immediate12(self) -> int:
        return self.pick([0, 1, -1, 2047, -2048, self.rng.randint(-2048, 2047)])

    def offset(self, width: int, aligned: bool, limit: int = SCRATCH_BYTES) -> int:
        """An offset below limit into the scratch buffer for an access of width bytes, misaligned unless asked."""
        if aligned:
            return self.rng.randrange(0, limit - width + 1, width)
        return self.rng.randint(0, limit - width)

    def rounding(self) -> str:
        return f", {self.pick(ROUNDING)}"


# -- the classes of items: each writes one instruction, or the few it needs -------------------------------------------
def _alu_register(w: _Writer) -> None:
    op = w.pick(["add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and",
                 "addw", "subw", "sllw", "srlw", "sraw"])
    w.emit(f"{op} {w.pick(X_WRITABLE)}, {w.pick(X_READABLE)}, {w.pick(X_READABLE)}")


def _alu_immediate(w: _Writer) -> None:
    op = w.pick(["addi", "slti", "sltiu", "xori", "ori", "andi", "addiw"])
    w.emit(f"{op} {w.pick(X_WRITABLE)}, {w.pick(X_READABLE)}, {w.immediate12()}")


def _shift_immediate(w: _Writer) -> None:
    op = w.pick(["slli", "srli", "srai", "slliw", "srliw", "sraiw"])
    amount = w.rng.randrange(32 if op.endswith("w") else 64)
    w.emit(f"{op} {w.pick(X_WRITABLE)}, {w.pick(X_READABLE)}, {amount}")


def _upper_immediate(w: _Writer) -> None:
    value = w.pick([0, 1, 0x7FFFF, 0x80000, 0xFFFFF, w.rng.randrange(1 << 20)])
    w.emit(f"{w.pick(['lui', 'auipc'])} {w.pick(X_WRITABLE)}, {value:#x}")


M_OPS = ["mul", "mulh", "mulhsu", "mulhu", "mulw", "div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw"]


def _multiply_divide(w: _Writer) -> None:
    w.emit(f"{w.pick(M_OPS)} {w.pick(X_WRITABLE)}, {w.pick(X_READABLE)}, {w.pick(X_READABLE)}")


def _divide_edge(w: _Writer) -> None:
    """A division by zero, or the one overflow (the most negative number by -1), of either width."""
    op = w.pick(["div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw"])
    dividend, divisor = w.rng.sample(X_TEMPORARY, 2)
    if w.rng.random() < 0.5:
        w.emit(f"li {dividend}, {-(1 << 31) if op.endswith('w') else -(1 << 63)}", f"li {divisor}, -1")
    else:
        w.emit(f"li {divisor}, {w.pick([0, 1 << 32])}")  # 1 << 32 is zero to a W form
    w.emit(f"{op} {w.pick(X_WRITABLE)}, {dividend}, {divisor}")


AMO_OPS = ["amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax", "amominu", "amomaxu"]
ORDERINGS = ["", ".aq", ".rl", ".aqrl"]


def _atomic(w: _Writer) -> None:
    width = w.pick(["w", "d"])
    address = w.pick(X_TEMPORARY)
    w.emit(f"addi {address}, {BASE}, {w.offset(4 if width == 'w' else 8, aligned=True)}")
    w.emit(f"{w.pick(AMO_OPS)}.{width}{w.pick(ORDERINGS)} {w.pick(X_WRITABLE)}, {w.pick(X_READABLE)}, ({address})")


def _load_reserved_store_conditional(w: _Writer) -> None:
    """An lr and the sc that follows it at once, to the same address: qemu's sc then succeeds (writes 0)."""
    width = w.pick(["w", "d"])
    address = w.pick(X_TEMPORARY)
    loaded = w.pick([r for r in X_WRITABLE if r != address])
    w.emit(f"addi {address}, {BASE}, {w.offset(4 if width == 'w' else 8, aligned=True)}",
           f"lr.{width}{w.pick(ORDERINGS)} {loaded}, ({address})",
           f"sc.{width}{w.pick(ORDERINGS)} {w.pick(X_WRITABLE)}, {w.pick(X_READABLE)}, ({address})")


LOADS = {"lb": 1, "lbu": 1, "lh": 2, "lhu": 2, "lw": 4, "lwu": 4, "ld": 8}
STORES = {"sb": 1, "sh": 2, "sw": 4, "sd": 8}


def _load(w: _Writer) -> None:
    op = w.pick(sorted(LOADS))
    w.emit(f"{op} {w.pick(X_WRITABLE)}, {w.offset(LOADS[op], aligned=w.rng.random() < 0.6)}({BASE})")


def _store(w: _Writer) -> None:
    op = w.pick(sorted(STORES))
    w.emit(f"{op} {w.pick(X_READABLE)}, {w.offset(STORES[op], aligned=w.rng.random() < 0.6)}({BASE})")


def _float_load_store(w: _Writer) -> None:
    op = w.pick(["flw", "fld", "fsw", "fsd"])
    width = 4 if op.endswith("w") else 8
    w.emit(f"{op} {w.pick(F_REGS)}, {w.offset(width, aligned=w.rng.random() < 0.6)}({BASE})")


def _float_arithmetic(w: _Writer) -> None:
    p = w.pick(["s", "d"])
    f = lambda: w.pick(F_REGS)  # noqa: E731
    kind = w.rng.randrange(5)
    if kind == 0:
        w.emit(f"{w.pick(['fadd', 'fsub', 'fmul', 'fdiv'])}.{p} {f()}, {f()}, {f()}{w.rounding()}")
    elif kind == 1:
        w.emit(f"fsqrt.{p} {f()}, {f()}{w.rounding()}")
    elif kind == 2:
        w.emit(f"{w.pick(['fmadd', 'fmsub', 'fnmsub', 'fnmadd'])}.{p} {f()}, {f()}, {f()}, {f()}{w.rounding()}")
    elif kind == 3:
        w.emit(f"{w.pick(['fmin', 'fmax'])}.{p} {f()}, {f()}, {f()}")
    else:
        w.emit(f"{w.pick(['fsgnj', 'fsgnjn', 'fsgnjx'])}.{p} {f()}, {f()}, {f()}")


def _float_compare_classify(w: _Writer) -> None:
    p = w.pick(["s", "d"])
    if w.rng.random() < 0.7:
        w.emit(f"{w.pick(['feq', 'flt', 'fle'])}.{p} {w.pick(X_WRITABLE)}, {w.pick(F_REGS)}, {w.pick(F_REGS)}")
    else:
        w.emit(f"fclass.{p} {w.pick(X_WRITABLE)}, {w.pick(F_REGS)}")


def _float_convert(w: _Writer) -> None:
    integer = w.pick(["w", "wu", "l", "lu"])
    p = w.pick(["s", "d"])
    kind = w.rng.randrange(3)
    if kind == 0:  # to an integer, saturating
        w.emit(f"fcvt.{integer}.{p} {w.pick(X_WRITABLE)}, {w.pick(F_REGS)}{w.rounding()}")
    elif kind == 1:  # from an integer; a 32-bit one is exact in a double, so that form takes no rounding mode
        exact = p == "d" and integer in ("w", "wu")
        w.emit(f"fcvt.{p}.{integer} {w.pick(F_REGS)}, {w.pick(X_READABLE)}{'' if exact else w.rounding()}")
    elif w.rng.random() < 0.5:
        w.emit(f"fcvt.s.d {w.pick(F_REGS)}, {w.pick(F_REGS)}{w.rounding()}")
    else:
        w.emit(f"fcvt.d.s {w.pick(F_REGS)}, {w.pick(F_REGS)}")


def _float_move(w: _Writer) -> None:
    op = w.pick(["fmv.x.w", "fmv.x.d", "fmv.w.x", "fmv.d.x"])
    if op.startswith("fmv.x"):
        w.emit(f"{op} {w.pick(X_WRITABLE)}, {w.pick(F_REGS)}")
    else:
        w.emit(f"{op} {w.pick(F_REGS)}, {w.pick(X_READABLE)}")


def _float_status(w: _Writer) -> None:
    """frm set to a valid mode only (5..7 would make every dynamic-rounding instruction illegal)."""
    kind = w.rng.randrange(4)
    if kind == 0:
        w.emit(f"fsrmi {w.rng.randrange(5)}")
    elif kind == 1:
        w.emit(f"fsflagsi {w.rng.randrange(32)}")
    elif kind == 2:
        w.emit(f"fsflags {w.pick(X_WRITABLE)}, {w.pick(X_READABLE)}")
    else:
        w.emit(f"{w.pick(['frflags', 'frrm', 'frcsr'])} {w.pick(X_WRITABLE)}")


def _compressed(w: _Writer) -> None:
    kind = w.rng.randrange(9)
    rd, rs = w.pick(C_WRITABLE), w.pick(C_READABLE)
    if kind == 0:
        w.emit_compressed(f"c.li {w.pick(C_WRITABLE_FULL)}, {w.rng.randint(-32, 31)}")
    elif kind == 1:
        value = w.pick([*range(1, 32), *range(0xFFFE0, 0x100000)])
        w.emit_compressed(f"c.lui {w.pick(C_WRITABLE_FULL)}, {value:#x}")
    elif kind == 2:
        w.emit_compressed(f"c.addi {w.pick(C_WRITABLE_FULL)}, {w.pick([i for i in range(-32, 32) if i])}")
    elif kind == 3:
        w.emit_compressed(f"c.addiw {w.pick(C_WRITABLE_FULL)}, {w.rng.randint(-32, 31)}")
    elif kind == 4:
        w.emit_compressed(f"c.slli {w.pick(C_WRITABLE_FULL)}, {w.rng.randint(1, 63)}")
    elif kind == 5:
        op = w.pick(["c.srli", "c.srai", "c.andi"])
        w.emit_compressed(f"{op} {rd}, {w.rng.randint(-32, 31) if op == 'c.andi' else w.rng.randint(1, 63)}")
    elif kind == 6:
        op = w.pick(["c.mv", "c.add"])
        w.emit_compressed(f"{op} {w.pick(C_WRITABLE_FULL)}, {w.pick([r for r in X_READABLE if r != 'x0'])}")
    elif kind == 7:
        w.emit_compressed(f"{w.pick(['c.and', 'c.or', 'c.xor', 'c.sub', 'c.addw', 'c.subw'])} {rd}, {rs}")
    else:
        op = w.pick(["c.lw", "c.ld", "c.sw", "c.sd", "c.fld", "c.fsd"])
        width = 4 if op.endswith("w") else 8  # c.lw and c.sw reach 124 bytes, the others 248
        register = w.pick(C_F_REGS) if "f" in op else w.pick(C_WRITABLE if op in ("c.lw", "c.ld") else C_READABLE)
        offset = w.offset(width, aligned=True, limit=min(SCRATCH_BYTES, 32 * width))
        w.emit_compressed(f"{op} {register}, {offset}({BASE})")
    if w.rng.random() < 0.1:
        w.emit_compressed("c.nop")


def _compressed_stack(w: _Writer) -> None:
    """One sp-relative compressed instruction, with sp pointed at the scratch buffer meanwhile."""
    kind = w.rng.randrange(5)
    w.emit(f"sd x2, {SAVED_SP}({BASE})", f"addi x2, {BASE}, 0")
    if kind == 0:
        op = w.pick(["c.lwsp", "c.ldsp"])
        w.emit_compressed(f"{op} {w.pick(C_WRITABLE_FULL)}, {w.offset(4 if op == 'c.lwsp' else 8, aligned=True)}(x2)")
    elif kind == 1:
        op = w.pick(["c.swsp", "c.sdsp"])
        w.emit_compressed(f"{op} {w.pick(X_READABLE)}, {w.offset(4 if op == 'c.swsp' else 8, aligned=True)}(x2)")
    elif kind == 2:
        op = w.pick(["c.fldsp", "c.fsdsp"])
        w.emit_compressed(f"{op} {w.pick(F_REGS)}, {w.offset(8, aligned=True)}(x2)")
    elif kind == 3:
        w.emit_compressed(f"c.addi4spn {w.pick(C_WRITABLE)}, x2, {w.rng.randrange(4, 1024, 4)}")
    else:
        w.emit_compressed(f"c.addi16sp x2, {w.pick([i for i in range(-512, 512, 16) if i])}",
                          f"c.mv {w.pick(C_WRITABLE_FULL)}, x2")
    w.emit(f"ld x2, {SAVED_SP}({BASE})")


BRANCHES = ["beq", "bne", "blt", "bge", "bltu", "bgeu"]


def _skip_over(w: _Writer, target: str) -> None:
    """A few simple instructions that a taken jump or branch skips, then its target."""
    for _ in range(w.rng.randint(1, 3)):
        w.pick(FILLERS)(w)
    w.lines.append(f"{target}:")


def _branch(w: _Writer) -> None:
    target = w.label()
    if w.rng.random() < 0.75:
        w.emit(f"{w.pick(BRANCHES)} {w.pick(X_READABLE)}, {w.pick(X_READABLE)}, {target}")
    else:
        w.emit_compressed(f"{w.pick(['c.beqz', 'c.bnez'])} {w.pick(C_READABLE)}, {target}")
    _skip_over(w, target)


def _jump(w: _Writer) -> None:
    target = w.label()
    kind = w.rng.randrange(5)
    if kind == 0:
        w.emit(f"jal {w.pick(X_WRITABLE)}, {target}")
    elif kind == 1:
        w.emit_compressed(f"c.j {target}")
    elif kind == 2:
        address, offset = w.pick(X_TEMPORARY), w.pick([0, 4, -4, 2, -2])
        w.emit(f"lla {address}, {target}{-offset:+d}", f"jalr {w.pick(X_WRITABLE)}, {offset}({address})")
    else:  # c.jr and c.jalr (which links in x1) take no offset
        address = w.pick(X_TEMPORARY)
        w.emit(f"lla {address}, {target}")
        w.emit_compressed(f"{w.pick(['c.jr', 'c.jalr'])} {address}")
    _skip_over(w, target)


FILLERS: list[Callable[[_Writer], None]] = [_alu_register, _alu_immediate, _shift_immediate, _float_arithmetic,
                                            _compressed]
CLASSES: list[Callable[[_Writer], None]] = [
    _alu_register, _alu_immediate, _shift_immediate, _upper_immediate, _multiply_divide, _divide_edge, _atomic,
    _load_reserved_store_conditional, _load, _store, _float_load_store, _float_arithmetic, _float_compare_classify,
    _float_convert, _float_move, _float_status, _compressed, _compressed_stack, _branch, _jump,
]
WEIGHTS = [6, 5, 4, 2, 4, 1, 2, 1, 3, 3, 2, 8, 3, 4, 2, 1, 5, 1, 2, 2]


# -- the program ---------------------------------------------------------------------------------------------------
def _prologue(w: _Writer) -> None:
    w.lines += [".option norvc", ".text", ".globl _start", "_start:"]
    w.emit(f"lla {BASE}, scratch", "fscsr x0", "lla x1, float_edges")
    for i, bits in enumerate(w.rng.sample(F_EDGES, len(F_REGS))):
        w.lines.append(f"    fld f{i}, {8 * F_EDGES.index(bits)}(x1)")
    values = w.rng.sample(X_EDGES, len(X_EDGES)) + [w.rng.getrandbits(64) for _ in range(len(X_WRITABLE))]
    for register, value in zip(X_WRITABLE[1:], values, strict=False):
        w.emit(f"li {register}, {value:#x}")


def _epilogue(w: _Writer, dump_sp: bool) -> None:
    """Everything into the dump (right before the scratch buffer), one write of it, exit 0; x2 as 0
    unless dump_sp, since where the stack is is the loader's choice."""
    dump = -REGISTERS_BYTES
    w.emit(*(f"sd x{i if i != 2 or dump_sp else 0}, {dump + 8 * (i - 1)}({BASE})" for i in range(1, 32)))
    w.emit(*(f"fsd f{i}, {dump + 8 * (31 + i)}({BASE})" for i in range(32)))
    w.emit("frcsr x5", f"sd x5, {dump + 8 * 63}({BASE})")
    w.emit("li a0, 1", f"addi a1, {BASE}, {dump}", f"li a2, {DUMP_BYTES}", "li a7, 64", "ecall",
           "li a0, 0", "li a7, 93", "ecall")


def _data(w: _Writer) -> None:
    w.lines += [".data", ".balign 16", "float_edges:"]
    w.lines += [f"    .dword {bits:#x}" for bits in F_EDGES]
    w.lines += [".balign 16", "saved_sp:", "    .dword 0", "dump:", f"    .skip {REGISTERS_BYTES}", "scratch:"]
    pool = X_EDGES + F_EDGES
    w.lines += [f"    .dword {w.pick(pool) if w.rng.random() < 0.5 else w.rng.getrandbits(64):#x}"
                for _ in range(SCRATCH_BYTES // 8)]


@dataclass
class Program:
    """A generated program in three parts: the shrinker drops items and keeps the prologue and the dump."""

    seed: int
    prologue: list[str]
    items: list[list[str]]  # each random item's lines: its labels are its own, so any subset assembles
    epilogue: list[str]  # the dump, the exit and the data

    def source(self) -> str:
        return "\n".join([*self.prologue, *(line for item in self.items for line in item), *self.epilogue]) + "\n"


def program(seed: int, length: int = 200, *, dump_sp: bool = True) -> Program:
    """A static RV64GC program (no libc): edge values, `length` random items, the dump (x2 in it as 0
    unless dump_sp, so that the program's output is the same wherever a loader puts the stack)."""
    w = _Writer(seed)
    _prologue(w)
    prologue, w.lines = w.lines, []
    items = list(CLASSES)[:length]
    w.rng.shuffle(items)
    items += w.rng.choices(CLASSES, WEIGHTS, k=length - len(items))
    written = []
    for item in items:
        item(w)
        written.append(w.lines)
        w.lines = []
    _epilogue(w, dump_sp)
    _data(w)
    return Program(seed, prologue, written, w.lines)


def generate(seed: int, length: int = 200) -> str:
    """GNU assembler source of program(seed, length)."""
    return program(seed, length).source()


def build(source: str, executable: Path) -> Path:
    """Assemble and link GNU assembler source into a static executable (ToolMissing without the compiler)."""
    executable.parent.mkdir(parents=True, exist_ok=True)
    asm = executable.with_suffix(".S")
    asm.write_text(source)
    completed = subprocess.run([tool(CC, CC_PACKAGE), *CFLAGS, "-o", str(executable), str(asm)],
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{asm}: the build failed:\n{completed.stderr}")
    return executable


def build_random(seed: int, out_dir: Path, length: int = 200) -> Path:
    """Write random-SEED.S into out_dir and assemble and link it there: the executable's path."""
    return build(generate(seed, length), out_dir / f"random-{seed}")


# -- hw against qemu-riscv64 ----------------------------------------------------------------------------------------
@dataclass
class Verdict:
    """What hw and qemu-riscv64 made of one program."""

    differences: list[str]  # the registers, "fcsr", "scratch", "stdout" or "exit" that differ
    answers: dict[str, dict]  # "hw" and "qemu-riscv64" -> its exit status and dump, in words
    seconds: dict[str, float]


def _answer(stdout: bytes, status: int | None, detail: str | None = None) -> dict:
    out: dict = {"exit": status}
    try:
        dump = parse_dump(stdout)
    except ValueError:
        out["stdout"] = stdout.hex()
    else:
        out.update({f"x{i}": f"{v:#x}" for i, v in enumerate(dump["x"]) if i != 0})
        out.update({f"f{i}": f"{v:#x}" for i, v in enumerate(dump["f"])})
        out["fcsr"] = f"{dump['fcsr']:#x}"
        out["scratch"] = dump["scratch"].hex()
    if detail:
        out["detail"] = detail
    return out


def check(executable: Path) -> Verdict:
    """Run the executable in hw and under qemu-riscv64 and compare how each ended and what it wrote."""
    from vm.run_linux import run_executable

    qemu = tool(QEMU, QEMU_PACKAGE)
    start = time.perf_counter()
    try:
        run = run_executable(executable, capture=True, fuel=FUEL)
        hw = _answer(run.output.stdout, run.outcome.exit,
                     None if run.outcome.exit is not None else f"trap {run.outcome.trap}: {run.outcome.detail}")
    except Exception as e:  # an engine's bug: a finding like any other, and the campaign goes on
        hw = {"exit": None, "crash": f"{type(e).__name__}: {e}"}
    middle = time.perf_counter()
    done = subprocess.run([qemu, str(executable)], capture_output=True, timeout=REFERENCE_SECONDS, check=False)
    reference = _answer(done.stdout, done.returncode)
    seconds = {"hw": middle - start, QEMU: time.perf_counter() - middle}
    differences = [key for key in dict.fromkeys([*hw, *reference]) if hw.get(key) != reference.get(key)]
    return Verdict(differences, {"hw": hw, QEMU: reference}, seconds)


def shrink(found: Program, work: Path, max_tests: int) -> tuple[Program, int]:
    """The fewest random items found (prologue and dump kept) with which hw still differs from qemu,
    by delta debugging within max_tests builds and runs; and the runs it took."""
    from vm.fuzz.shrink import ddmin

    tests = 0

    def differs(items: list[list[str]]) -> bool:
        nonlocal tests
        tests += 1
        candidate = Program(found.seed, found.prologue, items, found.epilogue)
        return bool(check(build(candidate.source(), work / f"shrink-{tests}")).differences)

    items = ddmin(found.items, differs, lambda: tests >= max_tests)
    return Program(found.seed, found.prologue, items, found.epilogue), tests


def run_batch(seeds: list[int], length: int, max_tests: int) -> dict:
    """One batch of seeds (on a worker), as campaign.run_batch reports it: each program's verdict, and
    each disagreement shrunk, its executable carried along so the campaign can save it."""
    records, findings = [], []
    with tempfile.TemporaryDirectory(prefix="vm-fuzz-riscv64-") as temporary:
        work = Path(temporary)
        for seed in seeds:
            generated = program(seed, length, dump_sp=False)
            verdict = check(build(generated.source(), work / f"seed-{seed}"))
            records.append({"seed": seed, "agrees": not verdict.differences, "seconds": verdict.seconds,
                            "compile_seconds": dict.fromkeys(verdict.seconds, 0.0), "refusals": {}})
            if not verdict.differences:
                continue
            small, tests = shrink(generated, work, max_tests)
            executable = build(small.source(), work / f"small-{seed}")
            again = check(executable)
            findings.append({"seed": seed, "engine": QEMU, "differences": verdict.differences,
                             "answers": verdict.answers,
                             "shrunk": {"source": small.source(), "executable": executable.read_bytes().hex(),
                                        "fuel": FUEL, "instructions": len(small.items),
                                        "from_instructions": len(generated.items), "tests": tests,
                                        "differences": again.differences, "answers": again.answers}})
    return {"seeds": seeds, "records": records, "findings": findings, "worker": os.getpid()}
