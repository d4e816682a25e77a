"""Access windows: a block's accesses at one base register are checked once, at the block's start.

Which accesses share a window is worked out from the semantics (windows.py); where a window might
fault, the interpreter runs the block, and everything observable must stay as in hw.
"""

from __future__ import annotations

import pytest
from conftest import ISA, TEST_MEM, build, run_image_in

from vm.arch.vm64 import core_isa, instruction
from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.model import InstructionSet
from vm.engines.para.translate import marked_semantics, translate_image
from vm.engines.para.windows import LoopAccesses, LoopWindow, Stride, Window, block_accesses, loop_accesses
from vm.isa import Trap
from vm.run import run_image


def _windows(body: str) -> tuple[list[Window], int]:
    """The windows of the block at label `blk` of a program whose main is `body`, and the number of
    accesses they cover."""
    image = build(f"main:   li r9, 0\n{body}\n        halt\n")
    start = image.symbols["blk"]
    block = next(b for region in translate_image(image, ISA).regions for b in region.blocks if b[0].pc == start)
    found = block_accesses(block, marked_semantics)
    return found.windows, len(found.covered)


WINDOWS = [
    # a function's prologue: three stores below sp
    ("blk: push r1\n push r2\n call main", [Window(15, -24, 24, 8, -24)], 3),
    # its epilogue: three loads from sp up
    ("blk: pop r2\n pop r1\n ret", [Window(15, 0, 24, 8, None)], 3),
    # a record's fields through a copy of the base, and a store among them
    ("blk: mov r3, r1\n ld r4, [r3+8]\n lw r5, [r1+20]\n sd r4, [r3+-8]\n addi r1, r1, 32\n ld r6, [r1]",
     [Window(1, -8, 48, 8, -8)], 4),
    # two bases, each with two accesses; byte accesses need no alignment
    ("blk: lbu r4, [r2+3]\n lbu r5, [r2+1]\n fld f1, [r7+16]\n fsd f1, [r7]",
     [Window(2, 1, 3, 1, None), Window(7, 0, 24, 8, 0)], 4),
    # an offset that is not a multiple of the access's size keeps its own check
    ("blk: lw r4, [r1+2]\n lw r5, [r1+4]\n lw r6, [r1+8]", [Window(1, 4, 8, 4, None)], 2),
    # one access for a base: no window
    ("blk: ld r4, [r1]\n ld r5, [r2]", [], 0),
    # a base whose value is unknown between its accesses: a load into it, a product, a hypercall
    ("blk: ld r1, [r1]\n ld r2, [r1]", [], 0),
    ("blk: ld r4, [r1]\n muli r1, r1, 1\n ld r5, [r1]", [], 0),
    ("blk: ld r4, [r1]\n hcall 3\n ld r5, [r1+8]", [], 0),
    # an absolute address has no base register
    ("blk: ld r4, [0x2000]\n ld r5, [0x2008]", [], 0),
]


@pytest.mark.parametrize(("body", "windows", "covered"), WINDOWS, ids=[w[0].split("\n")[0] for w in WINDOWS])
def test_windows_come_from_the_semantics(body: str, windows: list[Window], covered: int) -> None:
    assert _windows(body) == (windows, covered)


END = TEST_MEM
# Programs whose block `blk` has a window; each runs once with a window inside memory and then with
# ones that are not, where an access faults, or stores into the text, or an earlier instruction
# of the block traps before any access.
WINDOW_PROGRAMS = {
    "pushes": ("li sp, {sp}", "push r1\n push r2\n push r3"),
    "pops": ("li sp, {sp}", "pop r1\n pop r2\n pop r3"),
    "fields": ("li r4, {sp}", "ld r1, [r4+-16]\n sd r1, [r4+-8]\n lw r2, [r4+-4]\n addi r4, r4, 8\n sd r2, [r4+-8]"),
    "divide first": ("li sp, {sp}", "div r5, r1, r6\n push r1\n push r2"),
}
STACKS = {
    "inside": 0x8000,
    "the first access faults": END + 8,
    "the last access faults": END - 8,
    "misaligned": 0x8004,
    "wrapping below zero": 8,
    "into the text": 0,  # replaced by the text's end: the stores' window reaches into the text
}


def _window_program(name: str, sp: int | None) -> str:
    setup, block = WINDOW_PROGRAMS[name]
    return f"""
main:   li r1, 0x1111
        li r2, 0x2222
        li r3, 0x3333
        li r6, {0 if name == "divide first" else 1}
        {setup.format(sp="SP")}
blk:    {block}
        li r0, 7
        halt
end:
""".replace("SP", str(sp) if sp is not None else "end + 8")


@pytest.mark.parametrize("stack", list(STACKS), ids=list(STACKS))
@pytest.mark.parametrize("name", list(WINDOW_PROGRAMS))
def test_a_window_that_may_fault_runs_the_block_in_the_interpreter(name: str, stack: str) -> None:
    image = build(_window_program(name, None if stack == "into the text" else STACKS[stack]))
    hw, para, auto = (run_image_in(image, mode) for mode in ("hw", "para", "auto"))
    assert auto.state() == hw.state()
    interpreted = para.stats["hw_instructions"]
    if para.outcome.trap is Trap.UNSUPPORTED:  # the second push stores into the text: refused there
        assert stack == "into the text" and name == "pushes"
        assert (para.outcome.pc, para.outcome.retired) == (image.symbols["blk"] + 8, 6)
        return
    assert para.state() == hw.state()
    if stack == "inside":  # the block ran natively, its accesses unchecked
        assert interpreted == 0
        assert hw.outcome.trap is Trap.DIVZERO if name == "divide first" else hw.outcome.exit == 7


def test_the_interpreter_runs_the_block_up_to_the_faulting_access() -> None:
    image = build(_window_program("pops", END - 8))
    para, hw = run_image_in(image, "para"), run_image_in(image, "hw")
    assert hw.outcome.trap is Trap.MEMFAULT and hw.outcome.pc == image.symbols["blk"] + 8
    assert para.state() == hw.state()
    assert para.stats["hw_instructions"] == 1  # the first pop, in the interpreter


@pytest.mark.parametrize("name", list(WINDOW_PROGRAMS))
def test_a_window_that_may_fault_stops_on_fuel_as_in_hw(name: str) -> None:
    image = build(_window_program(name, END - 8))
    retired = run_image_in(image, "hw").outcome.retired
    for fuel in range(1, retired + 2):
        assert run_image_in(image, "para", fuel=fuel).state() == run_image_in(image, "hw", fuel=fuel).state()


# -- loops of one block --------------------------------------------------------------------------------
def _loop(body: str) -> LoopAccesses | None:
    image = build(f"main:   li r9, 0\nblk:    {body}\n        halt\n")
    start = image.symbols["blk"]
    block = next(b for region in translate_image(image, ISA).regions for b in region.blocks if b[0].pc == start)
    return loop_accesses(block, marked_semantics)


LOOPS = [
    # matmul's dot product: a counter that is also a base, and a base moving by a register's value
    ("fld f2, [r3]\n fld f3, [r6]\n fmul f2, f2, f3\n fadd f1, f1, f2\n addi r3, r3, 8\n add r6, r6, r8\n"
     " blt r3, r14, blk",
     LoopAccesses(3, Stride(8), 14, [LoopWindow(Window(3, 0, 8, 8, None), Stride(8)),
                                     LoopWindow(Window(6, 0, 8, 8, None), Stride(0, 8))], {(0, 0), (1, 0)})),
    # sieve's marking: the counter moves by a register's value; bltu compares unsigned
    ("sb r7, [r5]\n add r5, r5, r4\n bltu r5, r11, blk",
     LoopAccesses(5, Stride(0, 4), 11, [LoopWindow(Window(5, 0, 1, 1, 0), Stride(0, 4))], {(0, 0)})),
    # bases that do not move, one that moves down, and one whose change is unknown (r5)
    ("ld r1, [r2+8]\n sd r1, [r3]\n lw r4, [r5]\n ld r5, [r6]\n subi r3, r3, 8\n addi r7, r7, 1\n blt r7, r8, blk",
     LoopAccesses(7, Stride(1), 8, [LoopWindow(Window(2, 8, 8, 8, None), Stride(0)),
                                    LoopWindow(Window(3, 0, 8, 8, 0), Stride(-8)),
                                    LoopWindow(Window(6, 0, 8, 8, None), Stride(0))], {(0, 0), (1, 0), (3, 0)})),
]


@pytest.mark.parametrize(("body", "expected"), LOOPS, ids=["dot product", "marking", "three bases"])
def test_loop_windows_come_from_the_semantics(body: str, expected: LoopAccesses) -> None:
    found = _loop(body)
    start = build(f"main:   li r9, 0\nblk:    {body}\n        halt\n").symbols["blk"]
    expected.covered = {(start + 8 * k, n) for k, n in expected.covered}
    assert found == expected


@pytest.mark.parametrize("body", [
    "ld r1, [r2]\n addi r3, r3, 1\n bge r3, r4, blk",  # not `below`
    "ld r1, [r2]\n addi r3, r3, 1\n blt r3, r3, blk",  # counter and bound the same register
    "ld r1, [r2]\n addi r3, r3, 1\n addi r4, r4, 1\n blt r3, r4, blk",  # a bound that moves
    "ld r1, [r2]\n subi r3, r3, 1\n blt r3, r4, blk",  # a counter that goes down
    "ld r1, [r2]\n muli r3, r3, 2\n blt r3, r4, blk",  # a counter that does not move by a stride
    "ld r1, [r2]\n addi r3, r3, 1\n blt r3, r4, main",  # a branch elsewhere
    "ld r1, [r2]\n ld r2, [r1]\n addi r3, r3, 1\n blt r3, r4, blk",  # no base with a known stride
])
def test_loops_without_known_windows(body: str) -> None:
    assert _loop(body) is None


LOOP_PROGRAM = """
main:   la r2, data
        li r3, {counter}
        li r4, {bound}
        li r5, {base}
        li r8, {stride}
        li r10, 0
blk:    ld r6, [r2]
        lw r7, [r5+4]
        sw r3, [r5+-4]
        sb r3, [r2+{byte}]
        add r10, r10, r7
        add r5, r5, r8
        addi r3, r3, {step}
        blt r3, r4, blk
        mov r0, r10
        halt
        .data
data:   .quad 1, 2, 3
"""
END_OF_TEXT = "data - 8"
LOOP_CASES = {
    "inside": dict(counter=0, bound=100, base="0x8000", stride=8, byte=9, step=1),
    "inside, moving down": dict(counter=0, bound=100, base="0x9000", stride=-16, byte=0, step=3),
    "runs off the end of memory": dict(counter=0, bound=100, base=TEST_MEM - 400, stride=8, byte=0, step=1),
    "ends at the end of memory": dict(counter=0, bound=100, base=TEST_MEM - 800, stride=8, byte=0, step=1),
    "the last turn faults": dict(counter=0, bound=100, base=TEST_MEM - 792, stride=8, byte=0, step=1),
    "the last of 25 turns faults": dict(counter=1, bound=100, base=TEST_MEM - 192, stride=8, byte=0, step=4),
    "runs into the text": dict(counter=0, bound=100, base=f"{END_OF_TEXT} + 800", stride=-8, byte=0, step=1),
    "misaligned base": dict(counter=0, bound=100, base="0x8002", stride=8, byte=0, step=1),
    "misaligned stride": dict(counter=0, bound=100, base="0x8000", stride=6, byte=0, step=1),
    "stride too large": dict(counter=0, bound=3, base="0x2000", stride=1 << 31, byte=0, step=1),
    "negative counter": dict(counter=-5, bound=100, base="0x8000", stride=8, byte=0, step=1),
    "counter near 2^62": dict(counter=(1 << 62) - 3, bound=(1 << 62) + 2, base="0x8000", stride=8, byte=0, step=1),
    "bound below the counter": dict(counter=50, bound=-7, base="0x8000", stride=8, byte=0, step=1),
    "one turn": dict(counter=0, bound=1, base="0x8000", stride=8, byte=0, step=1),
}


@pytest.mark.parametrize("case", list(LOOP_CASES), ids=list(LOOP_CASES))
def test_a_loop_runs_unchecked_only_where_its_windows_fit(case: str) -> None:
    image = build(LOOP_PROGRAM.format(**LOOP_CASES[case]))
    assert "loop_window_fits" in translate_image(image, ISA).source
    hw, para = run_image_in(image, "hw"), run_image_in(image, "para")
    assert para.state() == hw.state() or para.outcome.trap is Trap.UNSUPPORTED
    if para.outcome.trap is Trap.UNSUPPORTED:  # its store reaches the text: refused there, as hw's run shows
        assert case == "runs into the text" and hw.outcome.exit is not None
        assert run_image_in(image, "auto").state() == hw.state()
    if case.startswith("inside"):
        assert hw.outcome.exit is not None


@pytest.mark.parametrize("case", ["runs off the end of memory", "inside, moving down"])
def test_a_loop_with_windows_stops_on_fuel_as_in_hw(case: str) -> None:
    image = build(LOOP_PROGRAM.format(**LOOP_CASES[case]))
    retired = run_image_in(image, "hw").outcome.retired
    for fuel in [*range(1, 40), *range(retired - 20, retired + 2)]:
        assert run_image_in(image, "para", fuel=fuel).state() == run_image_in(image, "hw", fuel=fuel).state()


EDGE_LOOP = """
main:   li r3, 5
        li r4, 8
        li r8, {stride}
        {base}
blk:    ld r6, [r5+8]
        sw r3, [r5+-8]
        add r5, r5, r8
        addi r3, r3, 1
        blt r3, r4, blk
        mov r0, r6
        halt
textend:
        .data
"""


@pytest.mark.parametrize("stride", [8, -8])
def test_a_loop_whose_windows_just_fit_or_just_do_not(stride: int) -> None:
    """Three turns, the base placed word by word around where the last turn's accesses just fit at
    the end of memory (stride 8) or just above the text (stride -8): an error of one in the turns or
    the window's length shows here."""
    for d in range(-16, 17, 8):
        base = f"li r5, {TEST_MEM - 16 - 2 * stride + d}" if stride > 0 else f"la r5, textend + {8 - 2 * stride + d}"
        image = build(EDGE_LOOP.format(stride=stride, base=base))
        hw, para = run_image_in(image, "hw"), run_image_in(image, "para")
        if para.outcome.trap is Trap.UNSUPPORTED:  # a store into the text, refused before it
            assert d < 0 and run_image_in(image, "auto").state() == hw.state()
        else:
            assert para.state() == hw.state()
            assert (hw.outcome.trap is None) == (d <= 0 if stride > 0 else d >= 0)


# -- extension instructions -----------------------------------------------------------------------------------
def _with(*instructions) -> InstructionSet:
    core = core_isa()
    return InstructionSet([*core.instructions, *instructions], core.pseudos)


def test_an_access_that_a_jump_may_skip_is_not_in_a_window() -> None:
    """The store after `bzst`'s conditional jump never happens here: a window over it would fail on
    every turn and send the loop to the interpreter each time."""
    isa = _with(instruction("bzst", 0xC9, "rs1, rs2, target", "if rs1 == 0:\n    goto(target)\n"
                            "store(rs2 + 8, 8, rs1)", "jump if rs1 is zero, else store rs1 at rs2 + 8"))
    source = (f"main: li r2, {TEST_MEM - 8}\n li r3, 0\n li r4, 1000\n li r0, 0\n"
              "loop: sd r3, [r2+0]\n addi r3, r3, 1\n bzst r0, r2, next\nnext: blt r3, r4, loop\n halt\n")
    image = assemble(source, "skip.asm", isa)
    hw, para = (run_image(image, mode, isa=isa, capture=True, mem_size=TEST_MEM) for mode in ("hw", "para"))
    assert para.state() == hw.state() and hw.outcome.exit == 0
    assert para.stats["hw_instructions"] == 0
