"""The os engine: every guest program gives what hw gives (output, exit, trap, pc, retired, registers,
float bits, memory), at every instruction budget, with traps at the exact instruction; what it cannot
run is refused with the reason; the executable is cached."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ISA, build, run_image_in
from test_para import HOSTILE

from vm.engines.os.translate import translate_to_c
from vm.isa import Trap
from vm.run import load_program, run_image

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((ROOT / "guest_programs").glob("*.asm")) + sorted((ROOT / "bench" / "programs").glob("*.asm"))
REFUSED_BY_OS = {"selfmod", "data_exec", "trap_illegal"}  # they store into their code or run data


def _stdin(path: Path) -> bytes:
    given = path.with_suffix(".in")
    return given.read_bytes() if given.exists() else b""


def _observables(result) -> dict:
    state = result.state()
    return {"stdout": result.output.stdout, **{k: state[k] for k in ("exit", "trap", "limit", "pc", "retired", "r",
                                                                    "f", "mem_sha256")}}


@pytest.mark.parametrize("path", PROGRAMS, ids=[f"{p.parent.name}-{p.stem}" for p in PROGRAMS])
def test_os_agrees_with_hw(path: Path) -> None:
    image = load_program(path)
    fuel = 3_000_000 if path.parent.name == "programs" else None  # benchmarks at full size are for bench/
    hw = run_image(image, "hw", stdin=_stdin(path), capture=True, fuel=fuel)
    os_ = run_image(image, "os", stdin=_stdin(path), capture=True, fuel=fuel)
    if path.stem in REFUSED_BY_OS:
        assert os_.outcome.trap is Trap.UNSUPPORTED
        assert os_.outcome.detail.startswith("os cannot run") and "--mode hw" in os_.outcome.detail
    else:
        assert _observables(os_) == _observables(hw)


LOOPS_CALLS_AND_DEVICES = """
main:   li   r1, 0
        li   r5, 4
loop:   call twice
        out  1, r2
        li   r3, 10
        out  0, r3
        addi r1, r1, 1
        in   r6, 2
        blt  r1, r5, loop
        la   r7, table
        add  r7, r7, r1
        ld   r8, [r7]
        halt
twice:  add  r2, r1, r1
        ret
.data
table: .quad 1, 2, 3
"""


def test_every_fuel_value_stops_os_where_hw_stops() -> None:
    image = build(LOOPS_CALLS_AND_DEVICES)
    total = run_image_in(image, "hw").outcome.retired
    for fuel in range(total + 2):
        hw, os_ = run_image_in(image, "hw", fuel=fuel), run_image_in(image, "os", fuel=fuel)
        assert _observables(os_) == _observables(hw), fuel
        assert os_.outcome.trap is (Trap.FUEL if fuel <= total else Trap.MISALIGNED), fuel  # the last load traps


def test_a_trap_in_the_middle_of_a_block_leaves_the_state_of_hw() -> None:
    source = "main: li r1, 5\n li r2, 0\n addi r3, r1, 1\n div r4, r1, r2\n li r5, 9\n halt\n"
    hw, os_ = run_image_in(build(source), "hw"), run_image_in(build(source), "os")
    assert os_.outcome.trap is Trap.DIVZERO and os_.outcome.retired == 3
    assert _observables(os_) == _observables(hw)


def test_a_jump_into_the_middle_of_a_block_runs_from_there() -> None:
    source = "main: la r1, start\n addi r1, r1, 8\n jr r1\nstart: li r2, 1\n li r3, 2\n li r4, 3\n halt\n"
    hw, os_ = run_image_in(build(source), "hw"), run_image_in(build(source), "os")
    assert os_.machine.regs[2] == 0 and os_.machine.regs[3] == 2
    assert _observables(os_) == _observables(hw)


def test_a_jump_outside_memory_traps_as_a_fetch_would() -> None:
    for target, trap in (("0x2004", Trap.MISALIGNED), ("0x100000", Trap.MEMFAULT), ("8", Trap.MEMFAULT)):
        source = f"main: li r1, {target}\n jr r1\n"
        hw, os_ = run_image_in(build(source), "hw"), run_image_in(build(source), "os")
        assert os_.outcome.trap is trap
        assert _observables(os_) == _observables(hw)


@pytest.mark.parametrize("name", HOSTILE, ids=list(HOSTILE))
def test_hostile_programs_trap_like_hw(name: str) -> None:
    image = build(HOSTILE[name])
    hw, os_ = run_image_in(image, "hw", fuel=100_000), run_image_in(image, "os", fuel=100_000)
    if os_.outcome.trap is Trap.UNSUPPORTED:
        assert "into translated code at 0x" in os_.outcome.detail  # the memset writes over the text
    else:
        assert _observables(os_) == _observables(hw)


def test_hypercalls_and_devices_write_the_same_bytes_in_the_same_order() -> None:
    source = """
main:   li   r1, 72
        out  0, r1
        li   r1, -12345
        hcall 3
        li   r1, 3
        fli  f0, 2.5
        hcall 4
        li   r1, 1
        la   r2, text
        li   r3, 4
        hcall 1
        li   r1, 2
        hcall 1
        in   r4, 0
        out  1, r4
        li   r1, 7
        hcall 0
.data
text: .ascii "abcd"
"""
    hw = run_image_in(build(source), "hw", stdin=b"Z")
    os_ = run_image_in(build(source), "os", stdin=b"Z")
    assert os_.output.stdout == b"H-123452.500abcd90" and os_.output.stderr == b"abcd"
    assert _observables(os_) == _observables(hw)


def test_nan_bits_and_float_rules_are_those_of_hw() -> None:
    source = """
main:   fli  f1, 0.0
        fdiv f2, f1, f1
        fli  f3, -0.0
        fsqrt f4, f3
        fli  f5, -1.0
        fsqrt f6, f5
        fmin f7, f3, f1
        fmax f8, f3, f1
        fli  f9, inf
        fsub f10, f9, f9
        fli  f11, 9.3e18
        ftoi r1, f3
        fmvi r2, f2
        halt
"""
    hw, os_ = run_image_in(build(source), "hw"), run_image_in(build(source), "os")
    assert _observables(os_) == _observables(hw)
    assert os_.state()["f"][2] == "7ff8000000000000" and os_.state()["f"][4] == "8000000000000000"


def test_the_executable_is_cached_and_its_source_names_every_instruction(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path))
    image = build(LOOPS_CALLS_AND_DEVICES)
    first, second = run_image_in(image, "os"), run_image_in(image, "os")
    assert (first.stats["cache"], second.stats["cache"]) == ("miss", "hit")
    assert _observables(first) == _observables(second)
    source = translate_to_c(image, ISA).source
    assert "/* 0x1010: loop:   call twice (line 4) */" in source
    assert source.count("case INT64_C(") == 15  # one step case per instruction


def test_image_metadata_cannot_end_a_comment_of_the_generated_source() -> None:
    image = build("main: halt ; */ int evil;\n", filename="x*/y.asm")
    source = translate_to_c(image, ISA).source
    assert "*/ int evil" not in source and "x*/y" not in source


def test_without_a_compiler_os_refuses_with_the_reason(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    result = run_image_in(build("main: li r1, 42\n li r0, 3\n halt\n"), "os")
    assert result.outcome.trap is Trap.UNSUPPORTED
    assert "no C compiler" in result.outcome.detail and "--mode hw" in result.outcome.detail


EDGE_OF_MEMORY = """
main:   mov  r1, r15            ; r15 = the memory's size at entry
        subi r2, r1, 8
        li   r3, 77
        sd   r3, [r2]           ; the last word: stored and read back
        ld   r4, [r2]
        subi r2, r1, 4
        lw   r5, [r2]           ; the last half word
        sw   r3, [r2]
        sd   r3, [r1]           ; one past the end
        halt
"""


@pytest.mark.parametrize("mem_size", [64 * 1024, 1 << 20])
def test_each_memory_size_gets_its_own_executable_with_the_same_bounds_as_hw(mem_size: int) -> None:
    image = build(EDGE_OF_MEMORY)
    hw, os_ = (run_image_in(image, mode, mem_size=mem_size) for mode in ("hw", "os"))
    assert os_.outcome.trap is Trap.MEMFAULT and os_.machine.regs[4] == 77
    assert _observables(os_) == _observables(hw)
    assert f"vm_guest_mem_size = UINT64_C({mem_size})" in translate_to_c(image, ISA, mem_size).source
