"""Random RV64GC programs (vm/fuzz/riscv64.py) build, run under qemu-riscv64 and write one
register dump of the documented size; a program with no random items dumps exactly what its prologue
set, which pins the dump's layout that parse_dump reads."""

from __future__ import annotations

import re
import struct

import pytest
from riscv64_support import build_random, require_compiler, run_reference, symbol_address

from vm.fuzz.riscv64 import (
    AMO_OPS,
    BASE,
    DUMP_BYTES,
    F_EDGES,
    LOADS,
    M_OPS,
    ROUNDING,
    SAVED_SP,
    SCRATCH_BYTES,
    STORES,
    build,
    generate,
    parse_dump,
    program,
)

SEEDS = [0, 1, 2, 3, 12345]


@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_runs_and_dumps(tmp_path, seed):
    executable = build_random(seed, tmp_path)
    stdout, status = run_reference(executable)
    assert status == 0
    assert len(stdout) == DUMP_BYTES
    dump = parse_dump(stdout)
    assert dump["x"][9] == symbol_address(executable, "scratch"), "the scratch base register was overwritten"
    assert dump["x"][2] % 16 == 0 and dump["x"][2] > dump["x"][9], "sp is not the loader's stack pointer"
    assert dump["fcsr"] < 256, "fcsr has bits above frm and fflags"
    assert len(dump["scratch"]) == SCRATCH_BYTES


def test_only_sp_depends_on_the_loader(tmp_path):
    """With a longer argument list the stack starts elsewhere: x2 moves, and nothing else may follow it."""
    executable = build_random(7, tmp_path, length=400)
    first = parse_dump(run_reference(executable)[0])
    second = parse_dump(run_reference(executable, ["x" * 3000])[0])
    assert first["x"][2] != second["x"][2]
    first["x"][2] = second["x"][2] = 0
    assert first == second


def test_a_fuzz_program_writes_the_same_bytes_wherever_the_stack_is(tmp_path):
    """vm fuzz compares output byte for byte: with dump_sp=False x2 is dumped as 0, all else as before."""
    require_compiler()
    executable = build(program(7, 400, dump_sp=False).source(), tmp_path / "fuzz-7")
    output, status = run_reference(executable)
    assert status == 0 and output == run_reference(executable, ["x" * 3000])[0]
    reference = parse_dump(run_reference(build_random(7, tmp_path, length=400))[0])
    assert reference["x"][2] != 0
    reference["x"][2] = 0
    assert parse_dump(output) == reference


def test_an_empty_program_dumps_its_prologue(tmp_path):
    source = generate(5, length=0)
    executable = build_random(5, tmp_path, length=0)
    dump = parse_dump(run_reference(executable)[0])

    set_x = {int(r): int(v, 0) & ((1 << 64) - 1) for r, v in re.findall(r"^\s+li x(\d+), (\S+)$", source, re.M)}
    assert set(set_x) == set(range(32)) - {0, 2, 9}
    assert all(dump["x"][r] == value for r, value in set_x.items())
    loaded_f = {int(r): F_EDGES[int(offset) // 8] for r, offset in re.findall(r"^\s+fld f(\d+), (\d+)\(x1\)$",
                                                                                 source, re.M)}
    assert dump["f"] == [loaded_f[i] for i in range(32)]
    assert dump["fcsr"] == 0
    scratch = source.split("scratch:\n", 1)[1]
    assert dump["scratch"] == struct.pack("<32Q", *(int(v, 0) for v in re.findall(r"\.dword (\S+)", scratch)))


@pytest.mark.parametrize("seed", SEEDS)
def test_every_class_appears(seed):
    source = generate(seed)
    for mnemonic in ["amo", "lr.", "sc.", "div", "fcvt.", "fmadd.|fmsub.|fnmsub.|fnmadd.|fsqrt.|fadd.|fdiv.",
                     "c.", "jal|c.j", "fsrmi|fsflags|frflags|frrm|frcsr", r"\b(lb|lh|lw|ld|lbu|lhu|lwu)\b",
                     r"\b(sb|sh|sw|sd)\b", r"\bf(lw|ld|sw|sd)\b", "fmv.", "feq.|flt.|fle.|fclass.", "lui|auipc"]:
        assert re.search(rf"^\s+({mnemonic})", source, re.M), f"seed {seed}: no {mnemonic}"


@pytest.mark.parametrize("seed", range(30))
def test_sp_and_the_base_are_left_alone(seed):
    """Outside the prologue and the dump, x2 appears only where the sp-relative compressed forms borrow
    it (saved, pointed at the scratch buffer, restored), and x9 is never a destination."""
    body = generate(seed).split("    li x31,", 1)[1].split("    sd x1, ", 1)[0]
    lines = [line.strip() for line in body.splitlines() if line.startswith("    ")]
    borrowed = False
    for line in lines:
        if line == f"sd x2, {SAVED_SP}({BASE})":
            borrowed = True
        elif line == f"ld x2, {SAVED_SP}({BASE})":
            borrowed = False
        elif re.search(r"\bx2\b", line):
            assert borrowed, line
        mnemonic, _, operands = line.partition(" ")
        writes_first = not re.match(r"(s[bhwd]|fs[wd]|c\.s[wd]|c\.fsd|b\w+|c\.b\w+|c\.j\w*|c\.s[wd]sp|c\.fsdsp)$",
                                    mnemonic)
        if writes_first and operands.split(",")[0] == BASE:
            pytest.fail(f"writes the base: {line}")


def test_parse_dump_rejects_a_short_dump():
    with pytest.raises(ValueError, match=f"{DUMP_BYTES} bytes"):
        parse_dump(b"\0" * (DUMP_BYTES - 1))


def test_two_hundred_programs_cover_every_form():
    """Over seeds 0..199, every AMO of both widths, every M, load and store op, every shift amount and every
    rounding mode of the rounding F/D operations appears: what a differential run of those seeds checks."""
    source = "".join(generate(seed) for seed in range(200))
    instructions = re.findall(r"^\s+([a-z][\w.]*) ?(.*)$", source, re.M)
    mnemonics = {mnemonic for mnemonic, _ in instructions}
    for op in AMO_OPS:
        assert {f"{op}.w", f"{op}.d"} <= {m.removesuffix(".aqrl").removesuffix(".aq").removesuffix(".rl")
                                          for m in mnemonics}, op
    assert set(M_OPS) | set(LOADS) | set(STORES) <= mnemonics
    shifts = {(m, int(operands.rsplit(",", 1)[1])) for m, operands in instructions
              if m in ("slli", "srli", "srai", "slliw", "srliw", "sraiw")}
    for op in ("slli", "srli", "srai"):
        assert {amount for m, amount in shifts if m == op} == set(range(64)), op
    for op in ("slliw", "srliw", "sraiw"):
        assert {amount for m, amount in shifts if m == op} == set(range(32)), op
    rounded = {(m.split(".")[0], operands.rsplit(", ", 1)[1]) for m, operands in instructions
               if re.match(r"f(add|sub|mul|div|sqrt|madd|msub|nmsub|nmadd)\.", m)}
    for op in ("fadd", "fsub", "fmul", "fdiv", "fsqrt", "fmadd", "fmsub", "fnmsub", "fnmadd"):
        assert {mode for name, mode in rounded if name == op} == set(ROUNDING), op
