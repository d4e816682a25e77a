"""Property tests: random programs against a Python model of the spec; random instructions through the
assembler and the disassembler."""

from __future__ import annotations

import math

from conftest import INT64_MIN, ISA, assert_exit, build, mem_bytes, run_image_in, s64, sym, u64
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.asm.disassembler import disassemble
from vm.isa import Kind, Trap

# -- a model of the integer part of the spec, written from its text --------------------------------------------


def _tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


ALU = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": _tdiv, "rem": lambda a, b: a - b * _tdiv(a, b),
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "shl": lambda a, b: a << (b & 63), "shr": lambda a, b: u64(a) >> (b & 63), "sar": lambda a, b: a >> (b & 63),
    "slt": lambda a, b: int(a < b), "sltu": lambda a, b: int(u64(a) < u64(b)),
}
IMM_NAME = {name: "sltiu" if name == "sltu" else name + "i" for name in ALU}
LOADS = {"ld": (8, True), "lw": (4, True), "lwu": (4, False), "lh": (2, True), "lhu": (2, False),
         "lb": (1, True), "lbu": (1, False)}
STORES = {"sd": 8, "sw": 4, "sh": 2, "sb": 1}
SCRATCH = 256  # bytes at `scratch`, addressed through r13 (= scratch + 128), which no random instruction writes
BASE = 13
EDGES = [0, 1, -1, 2, -2, 63, 64, 65, 0x7FFFFFFF, -(2**31), 2**31, 2**32 - 1, 2**63 - 1, INT64_MIN, INT64_MIN + 1]

dest = st.sampled_from([r for r in range(15) if r != BASE])
source = st.integers(0, 14)
int64 = st.one_of(st.sampled_from(EDGES), st.integers(INT64_MIN, 2**63 - 1))
imm32 = st.one_of(st.sampled_from([v for v in EDGES if -(2**31) <= v < 2**31]), st.integers(-(2**31), 2**31 - 1))


@st.composite
def instruction(draw):
    kind = draw(st.sampled_from(["alu", "alu", "imm", "imm", "unary", "li", "load", "store"]))
    if kind == "alu":
        return ("alu", draw(st.sampled_from(list(ALU))), draw(dest), draw(source), draw(source))
    if kind == "imm":
        return ("imm", draw(st.sampled_from(list(ALU))), draw(dest), draw(source), draw(imm32))
    if kind == "unary":
        return ("unary", draw(st.sampled_from(["mov", "neg", "not"])), draw(dest), draw(source))
    if kind == "li":
        return ("li", draw(dest), draw(int64))
    if kind == "load":
        name = draw(st.sampled_from(list(LOADS)))
        size = LOADS[name][0]
        return ("load", name, draw(dest), draw(st.integers(0, SCRATCH // size - 1)) * size)
    name = draw(st.sampled_from(list(STORES)))
    size = STORES[name]
    return ("store", name, draw(source), draw(st.integers(0, SCRATCH // size - 1)) * size)


def text_of(ins) -> str:
    kind = ins[0]
    if kind == "alu":
        _, name, d, a, b = ins
        return f"{name} r{d}, r{a}, r{b}"
    if kind == "imm":
        _, name, d, a, imm = ins
        return f"{IMM_NAME[name]} r{d}, r{a}, {imm}"
    if kind == "unary":
        _, name, d, a = ins
        return f"{name} r{d}, r{a}"
    if kind == "li":
        return f"li r{ins[1]}, {ins[2]}"
    if kind == "load":
        _, name, d, off = ins
        return f"{name} r{d}, {_mem(off)}"
    _, name, s, off = ins
    return f"{name} r{s}, {_mem(off)}"


def _mem(off: int) -> str:
    """The memory operand for scratch+off: r13 points at the middle, so offsets are negative or positive."""
    rel = off - SCRATCH // 2
    return f"[r{BASE}-{-rel}]" if rel < 0 else f"[r{BASE}+{rel}]"


def model(program, regs: list[int], mem: bytearray) -> int | None:
    """Run the program on the model; returns the index of the instruction that traps DIVZERO, or None."""
    for k, ins in enumerate(program):
        kind = ins[0]
        if kind in ("alu", "imm"):
            _, name, d, a, b = ins
            x, y = regs[a], (regs[b] if kind == "alu" else b)
            if name in ("div", "rem") and y == 0:
                return k  # precise: nothing changes
            regs[d] = s64(ALU[name](x, y))
        elif kind == "unary":
            _, name, d, a = ins
            regs[d] = {"mov": regs[a], "neg": s64(-regs[a]), "not": s64(~regs[a])}[name]
        elif kind == "li":
            regs[ins[1]] = s64(ins[2])
        elif kind == "load":
            _, name, d, off = ins
            size, signed = LOADS[name]
            regs[d] = int.from_bytes(mem[off : off + size], "little", signed=signed)
        else:
            _, name, s, off = ins
            size = STORES[name]
            mem[off : off + size] = u64(regs[s]).to_bytes(8, "little")[:size]
    return None


@st.composite
def programs(draw):
    init = [draw(int64) for _ in range(15)]
    scratch = draw(st.binary(min_size=SCRATCH, max_size=SCRATCH))
    body = draw(st.lists(instruction(), min_size=1, max_size=60))
    return init, scratch, body


def _check_program(mode: str, init, scratch, body) -> None:
    lines = ["main:"] + [f"    li r{r}, {init[r]}" for r in range(15) if r != BASE]
    lines += [f"    la r{BASE}, scratch+{SCRATCH // 2}"]
    lines += [f"i{k}: {text_of(ins)}" for k, ins in enumerate(body)]
    lines += ["end: halt", ".data", ".align 8", "scratch:", "    .byte " + ", ".join(map(str, scratch))]
    image = build("\n".join(lines) + "\n")
    result = run_image_in(image, mode)

    regs = [s64(v) for v in init] + [64 * 1024]  # sp starts at the memory size
    regs[BASE] = image.symbols["scratch"] + SCRATCH // 2
    mem = bytearray(scratch)
    trap_at = model(body, regs, mem)
    setup = 15
    if trap_at is None:
        assert_exit(result, regs[0])
        assert result.outcome.pc == sym(result, "end")
        assert result.outcome.retired == setup + len(body) + 1
    else:
        o = result.outcome
        assert o.trap is Trap.DIVZERO, (o, body[trap_at])
        assert o.pc == sym(result, f"i{trap_at}")
        assert o.retired == setup + trap_at
    assert list(result.machine.regs) == regs
    assert mem_bytes(result, image.symbols["scratch"], SCRATCH) == bytes(mem)


_EXAMPLES = {"hw": 150}  # engines that compile each program get few, long programs


def test_model_sanity():
    regs, mem = [0] * 16, bytearray(SCRATCH)
    regs[1], regs[2] = INT64_MIN, -1
    assert model([("alu", "div", 3, 1, 2), ("alu", "rem", 4, 1, 2), ("imm", "shl", 5, 2, 65),
                  ("store", "sw", 2, 8), ("load", "lhu", 6, 10), ("alu", "div", 7, 1, 0)], regs, mem) == 5
    assert regs[3:7] == [INT64_MIN, 0, -2, 0xFFFF] and regs[7] == 0


def _property(mode: str):
    @settings(max_examples=_EXAMPLES.get(mode, 10), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(programs())
    def check(program):
        _check_program(mode, *program)

    return check


def test_random_integer_programs_match_the_model(mode):
    _property(mode)()


# -- assembler -> disassembler -> assembler ---------------------------------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=True)


@st.composite
def operand_text(draw, kind: Kind) -> str:
    if kind is Kind.REG:
        return draw(st.sampled_from([f"r{i}" for i in range(16)] + ["sp", "R3", "Sp"]))
    if kind is Kind.FREG:
        return draw(st.sampled_from([f"f{i}" for i in range(16)] + ["F7"]))
    if kind is Kind.IMM:
        return str(draw(imm32))
    if kind is Kind.TARGET:
        return str(draw(st.one_of(st.integers(0, 2**31 - 1), st.sampled_from([0x1000, 0x1008]))))
    if kind is Kind.MEM:
        off = draw(imm32)
        base = draw(st.sampled_from([None, *range(16)]))
        if base is None:
            return f"[{off}]"
        return f"[r{base}{'+' if off >= 0 else '-'}{abs(off)}]" if off else f"[r{base}]"
    if kind is Kind.LIT:
        return str(draw(st.integers(INT64_MIN, 2**64 - 1)))
    value = draw(st.one_of(finite, st.sampled_from([math.nan, -math.nan])))
    return "nan" if math.isnan(value) and math.copysign(1, value) > 0 else "-nan" if math.isnan(value) else repr(value)


@st.composite
def instruction_text(draw) -> str:
    ins = draw(st.sampled_from(ISA.instructions))
    ops = [draw(operand_text(op.kind)) for op in ins.operands]
    mnemonic = draw(st.sampled_from([ins.mnemonic, ins.mnemonic.upper()]))
    return f"{mnemonic} {', '.join(ops)}".strip()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(instruction_text(), min_size=1, max_size=12))
def test_assembler_disassembler_roundtrip(lines):
    image = assemble("\n".join(lines) + "\n", "r.asm", ISA)
    text = disassemble(image, ISA)
    again = assemble(text, "d.asm", ISA)
    assert again.memory == image.memory, text
    assert (again.entry, again.text_end) == (image.entry, image.text_end)
    # each instruction's first byte is its opcode, and the disassembly shows it as an instruction, not data
    shown = [line.split(";")[0].strip() for line in text.splitlines()[2:]]
    assert not any(s.startswith((".quad", ".byte")) for s in shown), text

