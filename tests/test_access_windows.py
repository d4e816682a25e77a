"""Access windows: a block's accesses at one base register are checked once, at the block's start.

Which accesses share a window is worked out from the semantics (windows.py); where a window might
fault, the interpreter runs the block, and everything observable must stay as in hw.
"""

from __future__ import annotations

import pytest
from conftest import ISA, TEST_MEM, build, run_image_in

from vm.engines.para.translate import marked_semantics, translate_image
from vm.engines.para.windows import Window, block_accesses
from vm.isa import Trap


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
