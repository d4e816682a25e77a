"""Every core instruction, table-driven, against an oracle written here from docs/isa.md.

Each table is ONE guest program per engine (a guest loop over a data table of inputs, or an unrolled
batch), so an engine that compiles programs compiles a few programs, not thousands. Every row is
compared with a Python model of the spec written in this file; nothing here calls vm's semantics.
Traps stop the machine, so each trap case is its own (small) program.
"""

from __future__ import annotations

import math

import pytest
from conftest import (
    CANON_NAN,
    INT64_MAX,
    INT64_MIN,
    ISA,
    Batch,
    LoopTable,
    assert_exit,
    assert_trap,
    b2f,
    check_rows,
    f2b,
    mem_bytes,
    mem_q,
    regs,
    run_asm,
    s64,
    stdout,
    sym,
    u64,
)

from vm.isa import Trap

# Mnemonics with at least one test row or test in this file; test_every_instruction_is_tested checks it.
COVERED: set[str] = set()


def covers(*mnemonics: str):
    COVERED.update(mnemonics)
    return lambda f: f


# -- the oracle: integer rules ---------------------------------------------------------------------------
def _trunc_div(a: int, b: int) -> int:
    """Division truncating toward zero, unbounded (C's rule)."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def _shift(b: int) -> int:
    return b & 63  # "Shift amounts use their low 6 bits"


INT_OPS = {
    "add": lambda a, b: s64(a + b),
    "sub": lambda a, b: s64(a - b),
    "mul": lambda a, b: s64(a * b),  # "mul keeps the low 64 bits"
    "div": lambda a, b: s64(_trunc_div(a, b)),  # INT64_MIN / -1 wraps to INT64_MIN
    "rem": lambda a, b: s64(a - b * _trunc_div(a, b)),  # the dividend's sign; INT64_MIN % -1 = 0
    "and": lambda a, b: s64(a & b),
    "or": lambda a, b: s64(a | b),
    "xor": lambda a, b: s64(a ^ b),
    "shl": lambda a, b: s64(a << _shift(b)),
    "shr": lambda a, b: s64(u64(a) >> _shift(b)),  # logical
    "sar": lambda a, b: s64(a >> _shift(b)),  # arithmetic (Python's >> on a signed value)
    "slt": lambda a, b: int(a < b),
    "sltu": lambda a, b: int(u64(a) < u64(b)),
}

INT_VALUES = [0, 1, -1, 2, -2, 3, -3, 7, 63, 64, 65, 127, -64, 0x7FFFFFFF, -0x80000000, 0x80000000, 0xFFFFFFFF,
              0x100000000, INT64_MAX, INT64_MIN, INT64_MIN + 1, s64(0x0123456789ABCDEF), s64(0xFEDCBA9876543210)]
IMM_NAMES = {name: "sltiu" if name == "sltu" else name + "i" for name in INT_OPS}  # spec: `slti sltiu`
IMM_VALUES = [0, 1, -1, -3, 64, 65, 0x7FFFFFFF, -0x80000000]


def _int_pairs(name: str, a_values, b_values) -> list[tuple[int, int]]:
    return [(a, b) for a in a_values for b in b_values if not (name in ("div", "rem") and b == 0)]


def test_int_oracle_matches_hand_computed_spec_examples():
    """The oracle itself, on examples computed by hand from the spec text."""
    examples = [
        ("div", INT64_MIN, -1, INT64_MIN), ("rem", INT64_MIN, -1, 0), ("div", -7, 2, -3), ("rem", -7, 2, -1),
        ("div", 7, -2, -3), ("rem", 7, -2, 1), ("shl", 1, 64, 1), ("shl", 1, 65, 2), ("shl", 1, -1, INT64_MIN),
        ("shr", -1, 1, INT64_MAX), ("sar", -1, 1, -1), ("shr", INT64_MIN, 63, 1), ("sar", INT64_MIN, 63, -1),
        ("sltu", -1, 1, 0), ("slt", -1, 1, 1), ("mul", INT64_MAX, 2, -2), ("add", INT64_MAX, 1, INT64_MIN),
        ("sub", INT64_MIN, 1, INT64_MAX), ("mul", 1 << 32, 1 << 32, 0),
    ]
    for name, a, b, want in examples:
        assert INT_OPS[name](a, b) == want, (name, a, b)


# -- integer instructions ------------------------------------------------------------------------------------
@covers(*INT_OPS)
def test_integer_register_forms(mode):
    table = LoopTable()
    for name in INT_OPS:
        table.add(name, [f"{name} r3, r1, r2"], _int_pairs(name, INT_VALUES, INT_VALUES))
    got = table.run(mode)
    for name, f in INT_OPS.items():
        pairs = _int_pairs(name, INT_VALUES, INT_VALUES)
        check_rows([(name, a, b) for a, b in pairs], got[name], [u64(f(a, b)) for a, b in pairs])


@covers(*IMM_NAMES.values())
def test_integer_immediate_forms(mode):
    """`opi rd, rs1, imm`: the immediate is a sign-extended 32-bit value."""
    body, cols = [], []
    for name in INT_OPS:
        for imm in IMM_VALUES:
            if not (name in ("div", "rem") and imm == 0):
                body += [f"{IMM_NAMES[name]} r3, r1, {imm}", "sd r3, @out"]
                cols.append((name, imm))
    table = LoopTable()
    table.add("imm", body, [(a, 0) for a in INT_VALUES])
    got = table.run(mode)["imm"]
    rows = [(IMM_NAMES[name], a, imm) for a in INT_VALUES for name, imm in cols]
    check_rows(rows, got, [u64(INT_OPS[name](a, imm)) for a in INT_VALUES for name, imm in cols])


def test_integer_ops_with_aliased_registers(mode):
    """Operands are read before the result is written: rd may be a source."""
    body = []
    for name in INT_OPS:
        body += ["mov r4, r1", "mov r5, r2", f"{name} r4, r4, r5", "sd r4, @out",  # rd = rs1
                 "mov r4, r1", "mov r5, r2", f"{name} r5, r4, r5", "sd r5, @out",  # rd = rs2
                 "mov r4, r1", f"{name} r4, r4, r4", "sd r4, @out"]  # rd = rs1 = rs2
    pairs = [(7, 3), (-9, 2), (INT64_MIN, -1), (0x123456789, 61), (-1, 65), (INT64_MAX, INT64_MIN)]
    table = LoopTable()
    table.add("alias", body, pairs)
    got = table.run(mode)["alias"]
    rows, expected = [], []
    for a, b in pairs:
        for name, f in INT_OPS.items():
            rows += [(name, "rd=rs1", a, b), (name, "rd=rs2", a, b), (name, "all", a, a)]
            expected += [u64(f(a, b)), u64(f(a, b)), u64(f(a, a))]
    check_rows(rows, got, expected)


@covers("mov", "neg", "not")
def test_mov_neg_not(mode):
    ops = {"mov": lambda a: a, "neg": lambda a: s64(-a), "not": lambda a: s64(~a)}
    table = LoopTable()
    for name in ops:
        table.add(name, [f"{name} r3, r1"], [(a, 0) for a in INT_VALUES])
    got = table.run(mode)
    for name, f in ops.items():
        check_rows([(name, a) for a in INT_VALUES], got[name], [u64(f(a)) for a in INT_VALUES])
    assert ops["neg"](INT64_MIN) == INT64_MIN  # wraps


@covers("li", "liw")
def test_li_and_liw_load_the_value(mode):
    values = [0, 1, -1, 0x7FFFFFFF, -0x80000000, 0x80000000, 0xFFFFFFFF, -0x80000001, INT64_MAX, INT64_MIN,
              (1 << 64) - 1, 1 << 63, s64(0xDEADBEEFCAFEF00D), 12345678901234]
    batch, rows = Batch(), []
    for v in values:
        batch.case([f"li r3, {v}"])
        rows.append(("li", v))
        batch.case([f"liw r3, {v}"])
        rows.append(("liw", v))
    got = batch.run(mode)
    check_rows(rows, got, [u64(v) for _, v in rows])  # li/liw take the value modulo 2^64


# -- division by zero ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("insn", ["div r1, r2, r3", "rem r1, r2, r3", "divi r1, r2, 0", "remi r1, r2, 0"])
def test_divide_by_zero_traps_precisely(mode, insn):
    src = f"""
main:   li r1, 77
        li r2, 5
        li r3, 0
        sd r2, [cell]
trap:   {insn}
        li r1, 99
        halt
        .data
cell:   .quad 0
"""
    r = run_asm(src, mode)
    assert_trap(r, Trap.DIVZERO, pc=sym(r, "trap"), retired=4)  # the div does not retire
    assert regs(r)[1:4] == [77, 5, 0]
    assert mem_q(r, sym(r, "cell")) == 5


def test_int64_min_divided_by_minus_one_does_not_trap(mode):
    src = f"""
main:   li r1, {INT64_MIN}
        li r2, -1
        div r3, r1, r2
        rem r4, r1, r2
        divi r5, r1, -1
        remi r6, r1, -1
        li r0, 0
        halt
"""
    r = run_asm(src, mode)
    assert_exit(r, 0)
    assert regs(r)[3:7] == [INT64_MIN, 0, INT64_MIN, 0]


# -- loads and stores ---------------------------------------------------------------------------------------
LOAD_DATA = bytes([0x81, 0x02, 0xF3, 0x04, 0x85, 0x86, 0x07, 0xF8, 0x7F, 0xFF, 0x80, 0x00, 0x01, 0xFE, 0x10, 0x9A])
LOADS = {"ld": (8, True), "lw": (4, True), "lwu": (4, False), "lh": (2, True), "lhu": (2, False),
         "lb": (1, True), "lbu": (1, False)}


def _load_oracle(name: str, offset: int) -> int:
    size, signed = LOADS[name]
    return int.from_bytes(LOAD_DATA[offset : offset + size], "little", signed=signed)


@covers(*LOADS)
def test_loads_extend_by_sign_or_zero(mode):
    table = LoopTable()
    for name, (size, _) in LOADS.items():
        table.add(name, [
            "la r4, lddata", "add r4, r4, r1",  # r4 = lddata + offset
            f"{name} r3, [r4]", "sd r3, @out",
            "subi r5, r4, 16", f"{name} r3, [r5+16]", "sd r3, @out",
            "addi r5, r4, 1000", f"{name} r3, [r5-1000]", "sd r3, @out",
            "mov r6, r4", f"{name} r6, [r6]", "sd r6, @out",  # rd = base
        ], [(offset, 0) for offset in range(0, 16, size)])
        table.add(name + " no base", [f"{name} r3, [lddata+{16 - size}]"], [(0, 0)])
    source = table.source() + ".align 8\nlddata: .byte " + ", ".join(f"{b:#04x}" for b in LOAD_DATA) + "\n"
    result = run_asm(source, mode, mem_size=1 << 20)
    assert_exit(result, 0)
    for k, (name, (size, _)) in enumerate(LOADS.items()):
        offsets = list(range(0, 16, size))
        base = sym(result, f"out_t{2 * k}")
        got = [mem_q(result, base + 8 * i) for i in range(4 * len(offsets))]
        rows = [(name, form, off) for off in offsets for form in ("[r]", "[r+16]", "[r-1000]", "rd=base")]
        check_rows(rows, got, [u64(_load_oracle(name, off)) for _, _, off in rows])
        assert mem_q(result, sym(result, f"out_t{2 * k + 1}")) == u64(_load_oracle(name, 16 - size))


STORES = {"sd": 8, "sw": 4, "sh": 2, "sb": 1}


@covers(*STORES)
def test_stores_write_the_low_bytes(mode):
    value = s64(0x8877665544332211)
    lines, expected = [], bytearray(b"\xaa" * 64)
    plan = [("sd", 8, value), ("sw", 16, value), ("sw", 20, ~value), ("sh", 24, value), ("sh", 26, -2),
            ("sh", 30, 0x12345), ("sb", 32, value), ("sb", 33, -1), ("sb", 34, 0x1FF), ("sb", 39, 0x80),
            ("sd", 40, -2), ("sw", 48, INT64_MIN + 0x7F), ("sh", 52, 0x8000), ("sb", 56, 0)]
    for k, (name, offset, v) in enumerate(plan):
        reg = f"r{1 + k % 7}"
        lines.append(f"li {reg}, {v}")
        # alternate addressing forms: no base, base+offset, base-offset
        if k % 3 == 0:
            lines.append(f"{name} {reg}, [area+{offset}]")
        elif k % 3 == 1:
            lines += ["la r12, area", f"{name} {reg}, [r12+{offset}]"]
        else:
            lines += ["la r12, area+64", f"{name} {reg}, [r12-{64 - offset}]"]
        size = STORES[name]
        expected[offset : offset + size] = (v % (1 << 64)).to_bytes(8, "little")[:size]
    src = "main:\n" + "\n".join("    " + x for x in lines) + """
    li r0, 0
    halt
    .data
    .align 8
before: .quad 0x1111111111111111
area:   .zero 0
""" + "\n".join(["    .quad 0xaaaaaaaaaaaaaaaa"] * 8) + "\nafter: .quad 0x2222222222222222\n"
    r = run_asm(src, mode)
    assert_exit(r, 0)
    area = sym(r, "area")
    assert mem_bytes(r, area, 64) == bytes(expected)
    assert mem_q(r, sym(r, "before")) == 0x1111111111111111
    assert mem_q(r, sym(r, "after")) == 0x2222222222222222


# -- branches and jumps -----------------------------------------------------------------------------------
BRANCHES = {
    "beq": lambda a, b: a == b, "bne": lambda a, b: a != b, "blt": lambda a, b: a < b,
    "bge": lambda a, b: a >= b, "bltu": lambda a, b: u64(a) < u64(b), "bgeu": lambda a, b: u64(a) >= u64(b),
    # pseudo-instructions: operands swapped
    "bgt": lambda a, b: a > b, "ble": lambda a, b: a <= b,
    "bgtu": lambda a, b: u64(a) > u64(b), "bleu": lambda a, b: u64(a) <= u64(b),
}
BRANCH_VALUES = [0, 1, -1, 2, 5, INT64_MIN, INT64_MAX, 0x80000000, -0x80000000]


@covers("beq", "bne", "blt", "bge", "bltu", "bgeu", "beqz", "bnez")
def test_branch_conditions(mode):
    pairs = [(a, b) for a in BRANCH_VALUES for b in BRANCH_VALUES]
    table = LoopTable()
    for name in BRANCHES:
        table.add(name, ["li r3, 1", f"{name} r1, r2, taken{{L}}", "li r3, 0", "taken{L}:"], pairs)
    singles = [(a, 0) for a in BRANCH_VALUES]
    for name in ("beqz", "bnez"):
        table.add(name, ["li r3, 1", f"{name} r1, taken{{L}}", "li r3, 0", "taken{L}:"], singles)
    got = table.run(mode)
    for name, f in BRANCHES.items():
        check_rows([(name, a, b) for a, b in pairs], got[name], [int(f(a, b)) for a, b in pairs])
    check_rows(singles, got["beqz"], [int(a == 0) for a, _ in singles])
    check_rows(singles, got["bnez"], [int(a != 0) for a, _ in singles])


@covers("jmp", "jr", "nop")
def test_jumps_and_nop(mode):
    src = """
main:   li r1, 0
        jmp over
        li r1, 1            ; skipped
over:   la r2, there
        jr r2
        li r1, 2            ; skipped
there:  nop
        j   done            ; pseudo for jmp
        li r1, 3
done:   mov r0, r1
        halt
"""
    r = run_asm(src, mode)
    assert_exit(r, 0)
    assert r.outcome.retired == 8  # li jmp la jr nop j mov halt


@covers("halt")
def test_halt_status_is_full_r0_and_pc_stays_on_halt(mode):
    r = run_asm("main: li r0, 300\n nop\nstop: halt\n li r0, 1\n halt\n", mode)
    assert r.outcome.exit == 300 and r.outcome.trap is None
    assert r.outcome.pc == sym(r, "stop") and r.outcome.retired == 3
    r = run_asm("main: li r0, -2\n halt\n", mode)
    assert u64(r.outcome.exit) == u64(-2)


# -- stack, calls -------------------------------------------------------------------------------------------
@covers("push", "pop", "call", "callr", "ret")
def test_stack_and_calls(mode):
    batch = Batch()
    batch.case(["mov r3, sp"])  # 0: sp starts at the memory size
    batch.case(["li r1, -5", "push r1", "mov r3, sp"])  # 1: sp - 8
    batch.case(["ld r3, [sp]"])  # 2: the pushed value
    batch.case(["pop r3"])  # 3: popped
    batch.case(["mov r3, sp"])  # 4: back at the top
    batch.case(["mov r4, sp", "push sp", "ld r3, [sp]", "sub r3, r4, r3"])  # 5: push sp stores the OLD sp -> 0
    batch.case(["mov r3, sp", "sub r3, r4, r3"])  # 6: 8
    batch.case(["pop r3"])  # 7: old sp
    batch.case(["li r1, 0x2000", "push r1", "pop sp", "mov r3, sp"])  # 8: pop sp = the loaded value
    batch.case(["mov sp, r4", "call sub1", "after_call:", "mov r3, r5"])  # 9: the return address call pushed
    batch.case(["mov r3, r6"])  # 10: sp inside the callee
    batch.case(["mov r3, sp"])  # 11: sp restored by ret
    batch.case(["la r7, sub1", "callr r7", "after_callr:", "mov r3, r5"])  # 12
    batch.case(["la r7, sub2", "mov r3, r7", "callr r3", "after_callr3:"], result="r5")  # 13 (rs aliases r3)
    batch.case(["la r1, ret_here", "push r1", "li r3, 0", "ret", "brk", "ret_here:", "mov r3, sp",
                "sub r3, r4, r3"])  # 14: ret pops: sp back to where it was
    batch.lines += ["li r0, 0", "halt",
                    "sub1:", "ld r5, [sp]", "mov r6, sp", "ret",
                    "sub2:", "ld r5, [sp]", "ret"]
    got = batch.run(mode)
    s = batch.result.machine.image.symbols
    top = 64 * 1024
    expected = [top, top - 8, u64(-5), u64(-5), top, 0, 8, top, 0x2000, s["after_call"], top - 8, top,
                s["after_callr"], s["after_callr3"], 0]
    check_rows(list(range(len(expected))), got, expected)


def test_callr_sp_jumps_to_the_old_sp(code_mode):
    """`callr sp` jumps to the old sp; its return address lands just below, here over a word of code
    that never runs (so an engine that refuses stores into its code is excused: see code_mode)."""
    src = """
main:   la r1, target
        mov sp, r1
        callr sp
back:   li r0, 0
        halt
        brk
scratch:
        nop                 ; overwritten by the return address
target: mov r5, sp
        ld r6, [sp]
        jmp back
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert regs(r)[5] == sym(r, "scratch") == sym(r, "target") - 8
    assert regs(r)[6] == sym(r, "back")


# -- floats: the oracle ----------------------------------------------------------------------------------
INF = math.inf
SNAN = 0x7FF0000000000001
NEG_QNAN = 0xFFF8000000000000
PAYLOAD_NAN = 0x7FF8DEADBEEF0001
ALL_ONES_NAN = 0xFFFFFFFFFFFFFFFF
FLOAT_VALUES = [f2b(x) for x in [0.0, -0.0, 1.0, -1.0, 1.5, -2.5, 0.1, 1 / 3, 2.0, 3.0, 1e308, -1e308, 5e-324,
                                 -5e-324, 2.2250738585072014e-308, INF, -INF, 2.0**53, 2.0**63, -(2.0**63), 1e-300]]
FLOAT_VALUES += [CANON_NAN, SNAN, NEG_QNAN, PAYLOAD_NAN, ALL_ONES_NAN]


def _canon(x: float) -> int:
    """NaN rule: a NaN produced by arithmetic is always the canonical quiet NaN."""
    return CANON_NAN if math.isnan(x) else f2b(x)


def _sign(x: float) -> float:
    return math.copysign(1.0, x)


def _fdiv(x: float, y: float) -> float:
    if y == 0:  # "fdiv by zero gives an infinity or NaN, never a trap" (IEEE: sign is the xor of signs)
        return math.nan if math.isnan(x) or x == 0 else math.copysign(INF, _sign(x) * _sign(y))
    return x / y


def _fmin(x: float, y: float) -> float:
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x == y:  # "-0.0 below +0.0"
        return x if _sign(x) < 0 else y
    return min(x, y)


def _fmax(x: float, y: float) -> float:
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x == y:
        return y if _sign(x) < 0 else x
    return max(x, y)


def _fsqrt(x: float) -> float:
    if math.isnan(x) or x < 0:
        return math.nan
    return x if x == 0 or x == INF else math.sqrt(x)  # sqrt(-0.0) = -0.0


FLOAT_BINARY = {
    "fadd": lambda x, y: x + y, "fsub": lambda x, y: x - y, "fmul": lambda x, y: x * y, "fdiv": _fdiv,
    "fmin": _fmin, "fmax": _fmax,
}
FLOAT_COMPARE = {"feq": lambda x, y: x == y, "flt": lambda x, y: x < y, "fle": lambda x, y: x <= y}
SIGN = 1 << 63
FLOAT_UNARY = {  # on bits: moves keep NaN payloads, arithmetic canonicalises
    "fsqrt": lambda b: _canon(_fsqrt(b2f(b))),
    "fneg": lambda b: b ^ SIGN,
    "fabs": lambda b: b & ~SIGN,
    "fmov": lambda b: b,
}


def test_float_oracle_matches_hand_computed_spec_examples():
    z, nz = f2b(0.0), f2b(-0.0)
    assert FLOAT_UNARY["fsqrt"](nz) == nz
    assert FLOAT_UNARY["fsqrt"](f2b(-1.0)) == CANON_NAN
    assert FLOAT_UNARY["fneg"](SNAN) == 0xFFF0000000000001
    assert _canon(_fdiv(1.0, 0.0)) == f2b(INF) and _canon(_fdiv(-1.0, 0.0)) == f2b(-INF)
    assert _canon(_fdiv(1.0, -0.0)) == f2b(-INF) and _canon(_fdiv(0.0, 0.0)) == CANON_NAN
    assert _canon(_fmin(-0.0, 0.0)) == nz and _canon(_fmin(0.0, -0.0)) == nz
    assert _canon(_fmax(-0.0, 0.0)) == z and _canon(_fmax(0.0, -0.0)) == z
    assert _canon(_fmin(b2f(SNAN), 1.0)) == CANON_NAN and _canon(_fmax(1.0, b2f(PAYLOAD_NAN))) == CANON_NAN


# -- float instructions --------------------------------------------------------------------------------------
@covers(*FLOAT_BINARY)
def test_float_arithmetic(mode):
    pairs = [(a, b) for a in FLOAT_VALUES for b in FLOAT_VALUES]
    table = LoopTable()
    for name in FLOAT_BINARY:
        table.add(name, [f"{name} f3, f1, f2"], pairs, result="f3")
    got = table.run(mode)
    for name, f in FLOAT_BINARY.items():
        expected = [_canon(f(b2f(a), b2f(b))) for a, b in pairs]
        check_rows([(name, b2f(a), hex(a), b2f(b), hex(b)) for a, b in pairs], got[name], expected)


@covers(*FLOAT_UNARY)
def test_float_unary_ops_and_nan_payloads(mode):
    """fsqrt canonicalises NaN; fneg, fabs and fmov keep every bit, NaN payloads included."""
    singles = [(a, 0) for a in FLOAT_VALUES + [f2b(4.0), f2b(2.0), f2b(1e-310), f2b(-4.0), 0x8000000000000001]]
    table = LoopTable()
    for name in FLOAT_UNARY:
        table.add(name, [f"{name} f3, f1"], singles, result="f3")
    got = table.run(mode)
    for name, f in FLOAT_UNARY.items():
        check_rows([(name, b2f(a), hex(a)) for a, _ in singles], got[name], [f(a) for a, _ in singles])


@covers(*FLOAT_COMPARE)
def test_float_compares(mode):
    """feq, flt, fle: 1 or 0; any NaN gives 0; -0.0 == +0.0."""
    pairs = [(a, b) for a in FLOAT_VALUES for b in FLOAT_VALUES]
    table = LoopTable()
    for name in FLOAT_COMPARE:
        table.add(name, [f"{name} r3, f1, f2"], pairs)
    got = table.run(mode)
    for name, f in FLOAT_COMPARE.items():
        check_rows([(name, b2f(a), b2f(b)) for a, b in pairs], got[name], [int(f(b2f(a), b2f(b))) for a, b in pairs])


@covers("fmvi", "imvf")
def test_raw_bit_moves(mode):
    values = [(v, 0) for v in FLOAT_VALUES + [u64(v) for v in INT_VALUES]]
    table = LoopTable()
    table.add("fmvi", ["fmvi r3, f1"], values)
    table.add("imvf", ["imvf f3, r1"], values, result="f3")
    table.add("both", ["imvf f5, r1", "fmvi r3, f5"], values)
    got = table.run(mode)
    for key in ("fmvi", "imvf", "both"):
        check_rows([(key, hex(v)) for v, _ in values], got[key], [v for v, _ in values])


ITOF_VALUES = INT_VALUES + [(1 << 53) + 1, (1 << 53) + 3, -(1 << 53) - 1, (1 << 62) + 1, INT64_MAX - 511,
                            INT64_MAX - 512, 12345678901234567, -987654321987654321]


@covers("itof")
def test_itof_rounds_to_nearest_even(mode):
    table = LoopTable()
    table.add("itof", ["itof f3, r1"], [(v, 0) for v in ITOF_VALUES], result="f3")
    got = table.run(mode)
    check_rows(ITOF_VALUES, got["itof"], [f2b(float(v)) for v in ITOF_VALUES])  # Python rounds exactly
    assert float((1 << 53) + 1) == 2.0**53 and float(INT64_MAX) == 2.0**63  # the ties the table covers


FTOI_OK = [0.0, -0.0, 0.5, -0.5, 0.9999, -0.9999, 1.5, -1.5, 2.5, -2.5, 1e18, -1e18, 2.0**62, 9223372036854774784.0,
           -(2.0**63), 123456789.987, -123456789.987, 5e-324, 4503599627370497.0]


@covers("ftoi")
def test_ftoi_truncates_toward_zero(mode):
    table = LoopTable()
    table.add("ftoi", ["ftoi r3, f1"], [(f2b(x), 0) for x in FTOI_OK])
    got = table.run(mode)
    check_rows(FTOI_OK, got["ftoi"], [u64(math.trunc(x)) for x in FTOI_OK])
    assert math.trunc(-(2.0**63)) == INT64_MIN  # -2^63 is in range


FTOI_TRAPS = [CANON_NAN, SNAN, NEG_QNAN, f2b(INF), f2b(-INF), f2b(2.0**63), f2b(-9223372036854777856.0),
              f2b(1e19), f2b(-1e300)]


@pytest.mark.parametrize("bits", FTOI_TRAPS, ids=[hex(b) for b in FTOI_TRAPS])
def test_ftoi_out_of_range_traps_fpconv(mode, bits):
    src = f"""
main:   li r1, {bits}
        imvf f1, r1
        li r3, 55
conv:   ftoi r3, f1
        halt
"""
    r = run_asm(src, mode)
    assert_trap(r, Trap.FPCONV, pc=sym(r, "conv"), retired=3)
    assert regs(r)[3] == 55


@covers("fli")
def test_fli_loads_exact_bits(mode):
    literals = {"1.5": f2b(1.5), "-0.0": f2b(-0.0), "0.1": f2b(0.1), "inf": f2b(INF), "-inf": f2b(-INF),
                "nan": CANON_NAN, "-nan": CANON_NAN | SIGN, "1e308": f2b(1e308), "4.9e-324": 1, "7": f2b(7.0),
                "-3": f2b(-3.0), "2.5e-3": f2b(2.5e-3), "0x10": f2b(16.0)}
    batch, rows = Batch(), []
    for text, bits in literals.items():
        batch.case([f"fli f3, {text}"], result="f3")
        rows.append((text, bits))
    got = batch.run(mode)
    check_rows([t for t, _ in rows], got, [b for _, b in rows])


@covers("fld", "fsd")
def test_fld_fsd_keep_bits(mode):
    values = [SNAN, NEG_QNAN, PAYLOAD_NAN, ALL_ONES_NAN, f2b(-0.0), f2b(1.25), 1]
    batch = Batch()
    batch.data += [".align 8", "fdata: .quad " + ", ".join(hex(v) for v in values)]
    for k in range(len(values)):
        batch.case([f"fld f3, [fdata+{8 * k}]"], result="f3")  # fld then fsd (the batch's store)
    for k in range(len(values)):
        batch.case([f"la r4, fdata+{8 * k + 8}", "fld f4, [r4-8]", "fsd f4, [copy]", "ld r3, [copy]"])
    batch.data += ["copy: .quad 0"]
    got = batch.run(mode)
    check_rows(values * 2, got, values * 2)


def test_float_registers_start_at_plus_zero_and_integers_at_zero(mode):
    r = run_asm("main: halt\n", mode)
    assert all(f2b(x) == 0 for x in r.machine.fregs)
    assert regs(r)[:15] == [0] * 15 and regs(r)[15] == 64 * 1024


# -- devices and hypercalls (details in test_memory_traps.py) --------------------------------------------------
@covers("out", "in")
def test_ports(mode):
    src = f"""
main:   li r1, 0x1241
        out 0, r1           ; low byte: 'A'
        li r1, -1
        out 0, r1           ; 0xff
        li r1, {INT64_MIN}
        out 1, r1
        li r1, 0
        out 1, r1
        in r4, 0
        in r5, 0
        in r6, 0
        in r7, 0
        in r9, 0
count:  in r10, 2
        li r0, 0
        halt
"""
    r = run_asm(src, mode, stdin=b"a\xff\n")
    assert_exit(r, 0)
    assert stdout(r) == b"A\xff-92233720368547758080"
    assert regs(r)[4:8] == [97, 255, 10, -1]
    assert regs(r)[9] == -1  # still end of input
    assert regs(r)[10] == 13  # instructions retired before the `in`


@covers("hcall")
def test_hcall_putint_and_exit(mode):
    r = run_asm(f"main: li r1, {INT64_MIN}\n hcall 3\n li r1, 42\n hcall 3\n li r1, 7\nx: hcall 0\n halt\n", mode)
    assert r.outcome.exit == 7 and r.outcome.trap is None
    assert stdout(r) == b"-922337203685477580842"
    assert r.outcome.retired == 6  # EXIT retires and stays on itself
    assert r.outcome.pc == sym(r, "x")


@covers("brk")
def test_brk_traps_break(mode):
    r = run_asm("main: li r1, 3\nb: brk\n li r1, 4\n halt\n", mode)
    assert_trap(r, Trap.BREAK, pc=0x1008, retired=1)
    assert regs(r)[1] == 3


# -- completeness ----------------------------------------------------------------------------------------------
def test_every_instruction_is_tested():
    """A new core instruction without a test row fails here."""
    mnemonics = {ins.mnemonic for ins in ISA.instructions}
    assert COVERED <= mnemonics | set(ISA.pseudo_by_mnemonic), COVERED - mnemonics
    assert not mnemonics - COVERED, f"instructions without a test: {sorted(mnemonics - COVERED)}"
