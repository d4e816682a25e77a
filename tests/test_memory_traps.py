"""Memory rules, fetch rules, traps, fuel, devices and hypercalls (docs/isa.md).

A trap stops the machine, so each trap case is its own small program; every one checks that the trap
is precise: pc on the trapping instruction, the retired count excludes it, and it changed nothing.
"""

from __future__ import annotations

import math

import pytest
from conftest import (
    INT64_MIN,
    TEST_MEM,
    assert_exit,
    assert_trap,
    build,
    f2b,
    mem_bytes,
    mem_q,
    regs,
    run_asm,
    run_image_in,
    stdout,
    sym,
    u64,
    word,
)

from vm.isa import DEFAULT_FUEL, Trap

MEM = TEST_MEM  # 64 KiB


def _access(insn: str, setup: str = "", mode: str = "hw", mem_size: int = MEM):
    """Run `insn` (labelled `here`) after `setup`, with canaries in r1..r3 and a data cell."""
    src = f"""
main:   li r1, 0x1111
        li r2, 0x2222
        li r3, 0x3333
        {setup}
here:   {insn}
        li r0, 0
        halt
        .data
        .align 8
cell:   .quad 0x0123456789abcdef
"""
    return run_asm(src, mode, mem_size=mem_size)


# -- data accesses ------------------------------------------------------------------------------------------
ACCESS_TRAPS = [
    # misaligned is checked before the range
    ("ld r1, [0x3]", Trap.MISALIGNED), ("lw r1, [0x2]", Trap.MISALIGNED), ("lh r1, [0x1]", Trap.MISALIGNED),
    (f"ld r1, [{MEM + 4}]", Trap.MISALIGNED), (f"sw r1, [{MEM + 2}]", Trap.MISALIGNED),
    ("ld r1, [cell+4]", Trap.MISALIGNED), ("lwu r1, [cell+2]", Trap.MISALIGNED), ("lhu r1, [cell+1]", Trap.MISALIGNED),
    ("sd r1, [cell+1]", Trap.MISALIGNED), ("sh r1, [cell+3]", Trap.MISALIGNED), ("fld f1, [cell+4]", Trap.MISALIGNED),
    ("fsd f1, [cell+2]", Trap.MISALIGNED),
    # the guard page
    ("ld r1, [0]", Trap.MEMFAULT), ("lb r1, [0xfff]", Trap.MEMFAULT), ("sb r1, [0xfff]", Trap.MEMFAULT),
    ("ld r1, [0xff8]", Trap.MEMFAULT), ("sd r1, [0x800]", Trap.MEMFAULT), ("fsd f1, [0x8]", Trap.MEMFAULT),
    # beyond the end of memory
    (f"ld r1, [{MEM}]", Trap.MEMFAULT), (f"lb r1, [{MEM}]", Trap.MEMFAULT), (f"sw r1, [{MEM}]", Trap.MEMFAULT),
    (f"fld f1, [{MEM + 8}]", Trap.MEMFAULT), ("ld r1, [0x7ffffff8]", Trap.MEMFAULT),
    # negative addresses are huge unsigned ones, never an index from the end
    ("ld r1, [-8]", Trap.MEMFAULT), ("sb r1, [-1]", Trap.MEMFAULT), ("lh r1, [-2]", Trap.MEMFAULT),
]


@pytest.mark.parametrize(("insn", "trap"), ACCESS_TRAPS, ids=[i for i, _ in ACCESS_TRAPS])
def test_bad_access_traps_precisely(mode, insn, trap):
    r = _access(insn, mode=mode)
    assert_trap(r, trap, pc=sym(r, "here"), retired=3)
    assert regs(r)[1:4] == [0x1111, 0x2222, 0x3333]
    assert mem_q(r, sym(r, "cell")) == 0x0123456789ABCDEF
    assert f2b(r.machine.fregs[1]) == 0


def test_accesses_at_the_edges_of_memory(mode):
    src = f"""
main:   li r1, -1
        sd r1, [{MEM - 8}]
        ld r2, [{MEM - 8}]
        lbu r3, [0x1000]        ; the first byte above the guard page: the opcode of our `li`
        lb r4, [{MEM - 1}]
        lw r5, [{MEM - 4}]
        li r0, 0
        halt
"""
    r = run_asm(src, mode)
    assert_exit(r, 0)
    assert regs(r)[2:6] == [-1, 0x04, -1, -1]


def test_base_plus_offset_wraps_modulo_2_64(mode):
    src = """
main:   li r2, -16
        ld r1, [r2+cell+16]      ; (2^64 - 16) + (cell + 16) = cell
        li r3, -1
        li r4, 0x55
        sd r4, [r3+cell+1]       ; (2^64 - 1) + cell + 1 = cell
        ld r5, [cell]
        li r6, 0x7fffffffffffffff
        ld r7, [r6-0x7fffffff]   ; positive but far beyond memory: the access must fault
        halt
        .data
        .align 8
cell:   .quad 77
"""
    r = run_asm(src, mode)
    assert_trap(r, Trap.MEMFAULT)
    assert regs(r)[1] == 77 and regs(r)[5] == 0x55


def test_no_base_address_is_the_immediate_alone(mode):
    src = """
main:   li r0, 0
        ld r1, [cell]
        la r2, cell
        ld r3, [r2]
        ld r4, [cell-8+8]
        sd r1, [cell+8]
        ld r5, [cell+8]
        halt
        .data
        .align 8
cell:   .quad -3
        .quad 0
"""
    r = run_asm(src, mode)
    assert_exit(r, 0)
    assert regs(r)[1] == regs(r)[3] == regs(r)[4] == regs(r)[5] == -3


# -- instruction fetch -----------------------------------------------------------------------------------------
FETCH_TRAPS = [
    ("li r4, 0x1004\n jr r4", 0x1004, Trap.MISALIGNED),
    ("li r4, 0x3\n jr r4", 0x3, Trap.MISALIGNED),  # misaligned and in the guard page: MISALIGNED first
    ("li r4, 0x800\n jr r4", 0x800, Trap.MEMFAULT),
    ("li r4, 0\n jr r4", 0, Trap.MEMFAULT),
    (f"li r4, {MEM}\n jr r4", MEM, Trap.MEMFAULT),
    ("li r4, -8\n jr r4", u64(-8), Trap.MEMFAULT),  # 2^64 - 8: far beyond memory
    ("li r4, -4\n jr r4", u64(-4), Trap.MISALIGNED),
    ("nop\n jmp 0xff8", 0xFF8, Trap.MEMFAULT),
    (f"nop\n jmp {MEM}", MEM, Trap.MEMFAULT),
    ("nop\n jmp 0x1002", 0x1002, Trap.MISALIGNED),
    ("li r4, 0x800\n callr r4", 0x800, Trap.MEMFAULT),
    ("nop\n call 0x1001", 0x1001, Trap.MISALIGNED),
    ("li r4, 0x1004\n beq r4, r4, 0x1004", 0x1004, Trap.MISALIGNED),
    ("li r4, 0\n beqz r4, 0x10", 0x10, Trap.MEMFAULT),
]


@pytest.mark.parametrize(("code", "target", "trap"), FETCH_TRAPS, ids=[c.split("\n")[-1] + f"@{t:#x}"
                                                                       for c, t, _ in FETCH_TRAPS])
def test_jump_to_unfetchable_address_retires_then_traps_at_target(mode, code, target, trap):
    r = run_asm(f"main:   li r1, 5\n {code}\n halt\n", mode)
    assert_trap(r, trap, pc=target, retired=3)  # the jump itself retired
    assert r.outcome.pc == target  # the address, unsigned
    assert regs(r)[1] == 5


def test_fetch_past_the_end_of_memory(code_mode):
    """A nop in the last word of memory runs; the fetch after it traps at the memory size."""
    src = f"""
main:   li r1, {word(0x02)}
        sd r1, [{MEM - 8}]
        li r2, {MEM - 8}
        jr r2
"""
    r = run_asm(src, code_mode)
    assert_trap(r, Trap.MEMFAULT, pc=MEM, retired=5)


def test_wide_instruction_whose_literal_is_beyond_memory(code_mode):
    """A liw in the last word: its literal word lies outside memory, so its fetch traps at the liw."""
    src = f"""
main:   li r1, {word(0x05, 3)}
        sd r1, [{MEM - 8}]
        li r2, {MEM - 8}
        jr r2
"""
    r = run_asm(src, code_mode)
    assert_trap(r, Trap.MEMFAULT, pc=MEM - 8, retired=4)
    assert regs(r)[3] == 0


def test_entry_without_main_is_0x1000_and_text_runs_into_zeroed_memory(code_mode):
    r = run_asm("li r1, 1\n nop\n", code_mode)
    assert_trap(r, Trap.ILLEGAL, pc=0x1010, retired=2)  # opcode 0x00 is not an instruction
    assert regs(r)[1] == 1


# -- ILLEGAL --------------------------------------------------------------------------------------------------
ILLEGAL_WORDS = {
    "opcode 00": word(0x00),
    "opcode 06": word(0x06, 1, 2, 3),
    "opcode 1D": word(0x1D, 1, 2, 3),
    "opcode 37": word(0x37, 1, 2),
    "opcode 64": word(0x64),
    "opcode 80 (reserved)": word(0x80),
    "opcode C0 (extension)": word(0xC0),
    "opcode FF": word(0xFF),
    "mov A=16": word(0x03, 16, 1),
    "mov B=16": word(0x03, 1, 16),
    "add C=16": word(0x10, 1, 2, 16),
    "add B=255": word(0x10, 1, 255, 2),
    "mov B=255": word(0x03, 1, 255),
    "ld A=16": word(0x30, 16, 2),
    "ld B=16": word(0x30, 1, 16),
    "sd A=255": word(0x38, 255, 0xFF, 0, 0x2000),
    "fadd A=16": word(0x50, 16, 1, 2),
    "fld B=200": word(0x5B, 1, 200),
    "jr A=16": word(0x41, 16),
    "push A=16": word(0x45, 16),
    "ftoi B=16": word(0x5E, 1, 16),
    "out A=16": word(0x70, 16, 0, 0, 1),
    "feq C=16": word(0x61, 1, 2, 16),
}


@pytest.mark.parametrize("value", list(ILLEGAL_WORDS.values()), ids=list(ILLEGAL_WORDS))
def test_illegal_words(mode, value):
    src = f"main: li r1, 9\nbad: .quad {value:#x}\n halt\n"
    r = run_asm(src, mode)
    assert_trap(r, Trap.ILLEGAL, pc=sym(r, "bad"), retired=1)
    assert regs(r)[1] == 9 and regs(r)[15] == MEM


def test_unused_fields_are_ignored(mode):
    src = f"""
main:   .quad {word(0x02, 0xFF, 0xFF, 0xFF, -1)}   ; nop with every field set
        .quad {word(0x04, 1, 0xEE, 0xDD, 1234)}    ; li r1, 1234 with junk in B and C
        .quad {word(0x03, 2, 1, 0x99, 777)}        ; mov r2, r1 with junk in C and I
        .quad {word(0x30, 3, 0xFF, 0x77, 0)}      ; ld r3, [no base + cell] (offset patched below)
        .quad {word(0x40, 0x42, 0x43, 0x44, 0)}   ; jmp with junk register fields (target patched below)
        brk
ok:     .quad {word(0x01, 0x10, 0x20, 0x30, 5)}   ; halt with junk
        .data
        .align 8
cell:   .quad 31337
"""
    image = build(src)  # then patch the two immediates that need label values
    mem = bytearray(image.memory)
    mem[3 * 8 + 4 : 3 * 8 + 8] = image.symbols["cell"].to_bytes(4, "little")
    mem[4 * 8 + 4 : 4 * 8 + 8] = image.symbols["ok"].to_bytes(4, "little")
    image.memory = bytes(mem)
    r = run_image_in(image, mode)
    assert_exit(r, 0)
    assert regs(r)[1:4] == [1234, 1234, 31337]
    assert r.outcome.retired == 6


def test_load_store_no_base_field(mode):
    """B = 0xFF in a load or store means no base: the address is I alone."""
    src = f"""
main:   li r5, 99
        .quad {word(0x38, 5, 0xFF, 0, 0x2000)}  ; sd r5, [0x2000]
        .quad {word(0x30, 6, 0xFF, 0, 0x2000)}  ; ld r6, [0x2000]
        .quad {word(0x5B, 1, 0xFF, 0, 0x2000)}  ; fld f1, [0x2000]
        .quad {word(0x36, 7, 0xFF, 0, 0x2000)}  ; lbu r7, [0x2000]
        li r0, 0
        halt
"""
    r = run_asm(src, mode)
    assert_exit(r, 0)
    assert regs(r)[6] == 99 and regs(r)[7] == 99 and f2b(r.machine.fregs[1]) == 99


# -- stack faults ------------------------------------------------------------------------------------------
STACK_FAULTS = [
    ("li sp, 0x1000", "push r1", Trap.MEMFAULT),
    ("li sp, 0x2004", "push r1", Trap.MISALIGNED),
    ("li sp, 0", "push r1", Trap.MEMFAULT),  # 0 - 8 wraps to 2^64 - 8
    (f"li sp, {MEM}", "pop r1", Trap.MEMFAULT),
    ("li sp, 0xff8", "pop r1", Trap.MEMFAULT),
    ("li sp, 0x2001", "pop r1", Trap.MISALIGNED),
    ("li sp, 0x2001", "pop sp", Trap.MISALIGNED),
    ("li sp, 0x1000", "call main", Trap.MEMFAULT),
    ("li sp, 0x1000", "callr r2", Trap.MEMFAULT),
    ("li sp, 0x2002", "callr sp", Trap.MISALIGNED),
    (f"li sp, {MEM}", "ret", Trap.MEMFAULT),
    ("li sp, 0x2004", "ret", Trap.MISALIGNED),
]


@pytest.mark.parametrize(("setup", "insn", "trap"), STACK_FAULTS, ids=[f"{s}; {i}" for s, i, _ in STACK_FAULTS])
def test_faulting_stack_instruction_leaves_sp_unchanged(mode, setup, insn, trap):
    r = _access(insn, setup, mode)
    assert_trap(r, trap, pc=sym(r, "here"), retired=4)
    sp = int(setup.split(",")[1], 0)
    assert u64(regs(r)[15]) == u64(sp)
    assert regs(r)[1:4] == [0x1111, 0x2222, 0x3333]


# -- precise traps change nothing -------------------------------------------------------------------------------
def test_trapping_store_writes_nothing(mode):
    """An 8-byte store that is aligned but straddles the end of memory writes none of its bytes."""
    src = f"""
main:   li r1, -1
        li r2, {MEM - 8}
        li r3, 0x1234
        sd r3, [r2]
        sd r1, [r2+8]       ; beyond the end
        halt
"""
    r = run_asm(src, mode)
    assert_trap(r, Trap.MEMFAULT, pc=0x1020, retired=4)
    assert mem_q(r, MEM - 8) == 0x1234


def test_trap_keeps_the_full_state(mode):
    src = """
main:   li r1, 1
        li r2, 2
        fli f3, 2.5
        push r2
        sd r1, [cell]
bad:    ld r9, [0]
        halt
        .data
        .align 8
cell:   .quad 0
"""
    r = run_asm(src, mode)
    assert_trap(r, Trap.MEMFAULT, pc=sym(r, "bad"), retired=5)
    assert regs(r)[1:3] == [1, 2] and regs(r)[9] == 0 and regs(r)[15] == MEM - 8
    assert r.machine.fregs[3] == 2.5
    assert mem_q(r, sym(r, "cell")) == 1 and mem_q(r, MEM - 8) == 2


# -- ports -----------------------------------------------------------------------------------------------------
BAD_PORTS = ["in r1, 1", "out 2, r2", "out 3, r2", "in r1, 3", "out -1, r2", "in r1, 256", "out 0x10000, r2"]


@pytest.mark.parametrize("insn", BAD_PORTS)
def test_bad_port_traps(mode, insn):
    r = _access(insn, mode=mode)
    assert_trap(r, Trap.BADPORT, pc=sym(r, "here"), retired=3)
    assert regs(r)[1] == 0x1111 and stdout(r) == b""


def test_counter_port_reads_retired_count_before_the_in(mode):
    src = """
main:   in r1, 2
        nop
        nop
        in r2, 2
        in r3, 2
        li r0, 0
        halt
"""
    r = run_asm(src, mode)
    assert_exit(r, 0)
    assert regs(r)[1:4] == [0, 3, 4]
    r = run_asm(src, mode, fuel=100)
    assert regs(r)[1:4] == [0, 3, 4]


def test_console_input_and_end_of_input(mode):
    r = run_asm("main: in r1, 0\n in r2, 0\n in r3, 0\n li r0, 0\n halt\n", mode, stdin=b"\x00\xff")
    assert regs(r)[1:4] == [0, 255, -1]


# -- BADHCALL, BREAK --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [8, 9, 100, -1, 0x7FFFFFFF])
def test_unknown_hypercall_traps_badhcall(mode, n):
    r = _access(f"hcall {n}", "li r0, 5", mode)
    assert_trap(r, Trap.BADHCALL, pc=sym(r, "here"), retired=4)
    assert regs(r)[0] == 5


def test_break(mode):
    r = _access("brk", mode=mode)
    assert_trap(r, Trap.BREAK, pc=sym(r, "here"), retired=3)


# -- FUEL -----------------------------------------------------------------------------------------------------
FUEL_PROGRAM = """
        nop
main:   li r1, 0
loop:   addi r1, r1, 1
        out 1, r1
        jmp loop
"""


@pytest.mark.parametrize("fuel", [1, 2, 3, 4, 5, 10, 101, 1000])
def test_fuel_stops_after_exactly_n_retired(mode, fuel):
    r = run_asm(FUEL_PROGRAM, mode, fuel=fuel)
    # retired sequence: li, then (addi, out, jmp) repeated
    assert_trap(r, Trap.FUEL, retired=fuel)
    after_li = fuel - 1
    loops, step = divmod(after_li, 3)
    next_pc = {0: 0x1010, 1: 0x1018, 2: 0x1020}[step]  # addi, out, jmp
    assert r.outcome.pc == next_pc == r.machine.pc
    adds = loops + (step >= 1)
    assert regs(r)[1] == adds
    outs = loops + (step >= 2)
    assert stdout(r) == "".join(str(i) for i in range(1, outs + 1)).encode()


def test_fuel_zero_stops_at_entry(mode):
    r = run_asm(FUEL_PROGRAM, mode, fuel=0)
    assert_trap(r, Trap.FUEL, pc=0x1008, retired=0)
    assert stdout(r) == b""


def test_fuel_enough_to_finish(mode):
    src = "main: li r0, 3\n nop\n halt\n"
    r = run_asm(src, mode, fuel=3)
    assert_exit(r, 3)
    assert r.outcome.retired == 3
    r = run_asm(src, mode, fuel=2)
    assert_trap(r, Trap.FUEL, pc=0x1010, retired=2)


def test_without_a_budget_a_run_has_the_default_one(mode, monkeypatch):
    """docs/isa.md: no budget is a budget of DEFAULT_FUEL (2^62) instructions in every engine. para's
    and os's compiled code runs a loop that does nothing in closed form: FUEL at once, after exactly
    2^62; hw, which would take years to get there, is shown the same rule with a smaller default."""
    if mode == "hw":
        monkeypatch.setattr("vm.engines.hw.DEFAULT_FUEL", 1001)
    r = run_asm("main: j main\n", mode)
    assert_trap(r, Trap.FUEL, pc=0x1000, retired=1001 if mode == "hw" else DEFAULT_FUEL)


def test_fuel_does_not_count_a_trapping_instruction(mode):
    r = run_asm("main: nop\n nop\n brk\n", mode, fuel=2)
    assert_trap(r, Trap.FUEL, pc=0x1010, retired=2)
    r = run_asm("main: nop\n nop\n brk\n", mode, fuel=3)
    assert_trap(r, Trap.BREAK, pc=0x1010, retired=2)


# -- hypercalls -----------------------------------------------------------------------------------------------
def _hcall_program(body: str) -> str:
    return f"""
main:
{body}
        li r0, 0
        halt
        .data
        .align 8
msg:    .ascii "hello"
        .align 8
buf:    .zero 32
"""


@pytest.mark.parametrize("fd", [0, 3, -1, 1 << 40])
def test_write_to_bad_fd_gives_minus_one_and_nothing_else(mode, fd):
    src = f"""
main:   li r1, {fd}
        li r2, 0           ; a null buffer: the fd is checked first
        li r3, 5
        li r0, 7
        hcall 1
        mov r4, r0
        la r2, msg
        li r0, 7
        hcall 1
        li r0, 0
        halt
        .data
msg:    .ascii "hello"
"""
    r = run_asm(src, mode)
    assert_exit(r, 0)
    assert regs(r)[4] == -1
    assert stdout(r) == b"" and r.output.stderr == b""


def test_write_stdout_stderr_and_result(mode):
    r = run_asm(_hcall_program("""
        li r1, 1
        la r2, msg
        li r3, 5
        hcall 1
        mov r5, r0
        li r1, 2
        li r3, 3
        hcall 1
        mov r6, r0
        li r1, 1
        la r2, msg+1
        li r3, 2
        hcall 1
"""), mode)
    assert_exit(r, 0)
    assert stdout(r) == b"helloel" and r.output.stderr == b"hel"
    assert regs(r)[5:7] == [5, 3]


ZERO_LENGTH = [
    ("li r1, 1\n li r2, 0", 1, 0),  # WRITE from null
    (f"li r1, 1\n li r2, {MEM + 100}", 1, 0),
    ("li r1, 0\n li r2, -5", 2, 0),  # READ into a wild address
    ("li r1, 0\n li r2, 8", 6, 0),  # MEMMOVE to the guard page: r0 = r1
    ("li r1, -8\n li r2, 0", 6, -8),
    ("li r1, 0\n li r2, 0x41", 7, 0),  # MEMSET of the guard page
    (f"li r1, {MEM}\n li r2, 0x41", 7, MEM),
]


@pytest.mark.parametrize(("setup", "n", "r0"), ZERO_LENGTH, ids=[f"hcall{n}-{i}" for i, (_, n, _) in
                                                                 enumerate(ZERO_LENGTH)])
def test_zero_length_never_faults(mode, setup, n, r0):
    r = run_asm(f"main: {setup}\n li r3, 0\n li r0, 99\n hcall {n}\n mov r4, r0\n li r0, 0\n halt\n", mode,
                stdin=b"abc")
    assert_exit(r, 0)
    assert regs(r)[4] == r0
    assert stdout(r) == b""


def test_zero_length_read_consumes_nothing(mode):
    r = run_asm("main: li r1, 0\n li r2, 0\n li r3, 0\n hcall 2\n in r5, 0\n li r0, 0\n halt\n", mode, stdin=b"Z")
    assert regs(r)[5] == ord("Z")


BAD_BUFFERS = [
    ("WRITE prefix inside", 1, "li r1, 1", f"li r2, {MEM - 4}", "li r3, 8"),
    ("WRITE guard", 1, "li r1, 1", "li r2, 0xfff", "li r3, 2"),
    ("WRITE huge length", 1, "li r1, 2", "la r2, msg", "li r3, -1"),
    ("READ end", 2, "li r1, 0", f"li r2, {MEM - 4}", "li r3, 8"),
    ("READ guard", 2, "li r1, 0", "li r2, 0xffc", "li r3, 8"),
    ("MEMMOVE dst", 6, f"li r1, {MEM - 4}", "la r2, msg", "li r3, 8"),
    ("MEMMOVE src", 6, "la r1, buf", f"li r2, {MEM - 4}", "li r3, 8"),
    ("MEMMOVE src guard", 6, "la r1, buf", "li r2, 0xffc", "li r3, 8"),
    ("MEMMOVE wrap", 6, "la r1, buf", "li r2, -4", "li r3, 8"),
    ("MEMSET end", 7, f"li r1, {MEM - 4}", "li r2, 0x41", "li r3, 8"),
    ("MEMSET guard", 7, "li r1, 0xffc", "li r2, 0x41", "li r3, 8"),
    ("MEMSET huge", 7, "la r1, buf", "li r2, 0x41", "li r3, 0x8000000000000000"),
]


@pytest.mark.parametrize(("name", "n", "s1", "s2", "s3"), BAD_BUFFERS, ids=[b[0] for b in BAD_BUFFERS])
def test_buffer_outside_memory_traps_and_moves_nothing(mode, name, n, s1, s2, s3):
    src = f"""
main:   li r1, {MEM - 8}
        li r2, 0x5a5a
        sd r2, [r1]          ; a canary in the last word
        {s1}
        {s2}
        {s3}
        li r0, 123
here:   hcall {n}
        halt
        .data
        .align 8
msg:    .ascii "hello"
        .align 8
buf:    .quad 0x1111111111111111
"""
    r = run_asm(src, mode, stdin=b"abcdefgh")
    assert_trap(r, Trap.MEMFAULT, pc=sym(r, "here"), retired=7)
    assert regs(r)[0] == 123
    assert stdout(r) == b"" and r.output.stderr == b""
    assert mem_q(r, MEM - 8) == 0x5A5A
    assert mem_q(r, sym(r, "buf")) == 0x1111111111111111
    image = r.machine.image
    assert mem_bytes(r, 0x1000, len(image.memory)) == image.memory  # code and data untouched


def test_read_until_count_or_eof_and_shares_stream_with_in(mode):
    r = run_asm(_hcall_program("""
        li r1, 0
        la r2, buf
        li r3, 4
        hcall 2
        mov r5, r0          ; 4
        in r6, 0            ; the 5th byte
        la r2, buf+8
        li r3, 100
        hcall 2
        mov r7, r0          ; the 5 bytes left
        li r3, 10
        hcall 2
        mov r8, r0          ; 0 at end of input
        in r9, 0            ; -1
        li r1, 1
        hcall 2
        mov r10, r0         ; READ from fd 1: -1
"""), mode, stdin=b"0123456789")
    assert_exit(r, 0)
    assert regs(r)[5:11] == [4, ord("4"), 5, 0, -1, -1]
    buf = sym(r, "buf")
    assert mem_bytes(r, buf, 16) == b"0123" + bytes(4) + b"56789" + bytes(3)


def test_memmove_overlap_and_memset(mode):
    r = run_asm(_hcall_program("""
        la r2, msg
        la r1, buf
        li r3, 5
        hcall 6             ; buf = "hello"
        mov r5, r0
        la r1, buf+2
        la r2, buf
        li r3, 5
        hcall 6             ; forward overlap: buf = "hehello"
        la r1, buf+8
        la r2, msg
        li r3, 5
        hcall 6             ; buf+8 = "hello"
        la r1, buf+8
        la r2, buf+10
        li r3, 3
        hcall 6             ; backward overlap: buf+8 = "llolo"
        la r1, buf+16
        li r2, 0x1ff        ; the low byte: 0xff
        li r3, 6
        hcall 7
        mov r6, r0
        la r1, buf+24
        li r2, 0x41
        li r3, 1
        hcall 7
"""), mode)
    assert_exit(r, 0)
    buf = sym(r, "buf")
    assert mem_bytes(r, buf, 32) == (b"hehello\0" + b"llolo\0\0\0" + b"\xff" * 6 + b"\0\0" + b"A" + b"\0" * 7)
    assert regs(r)[5] == buf and regs(r)[6] == buf + 16


def test_putint_and_putfloat_do_not_set_r0(mode):
    r = run_asm("main: li r0, 77\n li r1, -12\n hcall 3\n mov r5, r0\n fli f0, 1.5\n li r1, 2\n hcall 4\n"
                " mov r6, r0\n li r0, 0\n halt\n", mode)
    assert stdout(r) == b"-121.50"
    assert regs(r)[5:7] == [77, 77]


PUTFLOAT_CASES = [
    (2, 3.14159), (0, 2.5), (0, 3.5), (0, -0.4), (3, 0.125), (2, 0.125), (17, 0.1), (30, 0.1), (-5, 2.75),
    (INT64_MIN, 1.5), (1 << 40, 1.0), (6, -0.0), (0, -0.0), (1, 1e20), (0, 1.7976931348623157e308), (5, 5e-324),
    (3, math.inf), (0, -math.inf), (4, math.nan), (2, -math.nan), (17, 123456.789),
]


def _putfloat_oracle(precision: int, x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    p = min(max(precision, 0), 17)
    return "%.*f" % (p, x)  # Python's %f rounds exactly, like C's printf  # noqa: UP031


def test_putfloat_formatting(mode):
    lines = []
    for p, x in PUTFLOAT_CASES:
        lines += [f"li r2, {f2b(x)}", "imvf f0, r2", f"li r1, {p}", "hcall 4", "li r1, 10", "out 0, r1"]
    # NaNs with payloads and signs: every NaN prints as "nan"
    for bits in (0x7FF0000000000001, 0xFFF8000000000000, 0xFFFFFFFFFFFFFFFF):
        lines += [f"li r2, {bits}", "imvf f0, r2", "li r1, 3", "hcall 4", "li r1, 10", "out 0, r1"]
    r = run_asm("main:\n" + "\n".join(lines) + "\nli r0, 0\nhalt\n", mode)
    assert_exit(r, 0)
    expected = [_putfloat_oracle(p, x) for p, x in PUTFLOAT_CASES] + ["nan"] * 3
    assert stdout(r).decode().split("\n")[:-1] == expected
    assert expected[:4] == ["3.14", "2", "4", "-0"] and expected[6] == expected[7] == "0.10000000000000001"


def test_clock_sets_r0_monotonic(mode):
    r = run_asm("main: li r0, -1\n hcall 5\n mov r1, r0\n hcall 5\n mov r2, r0\n li r0, 0\n halt\n", mode)
    assert_exit(r, 0)
    assert 0 < regs(r)[1] <= regs(r)[2]


def test_output_of_out_and_hypercalls_interleaves_in_program_order(mode):
    r = run_asm(_hcall_program("""
        li r4, 'A'
        out 0, r4
        li r1, 1
        la r2, msg
        li r3, 2
        hcall 1
        li r4, 7
        out 1, r4
        li r1, -3
        hcall 3
        li r4, 'B'
        out 0, r4
        fli f0, 0.5
        li r1, 1
        hcall 4
        li r1, 1
        la r2, msg+4
        li r3, 1
        hcall 1
"""), mode)
    assert stdout(r) == b"Ahe7-3B0.5o"


def test_exit_hypercall_status_and_retires(mode):
    r = run_asm(f"main: li r1, {INT64_MIN + 5}\n li r0, 1\nx: hcall 0\n halt\n", mode)
    assert r.outcome.trap is None and u64(r.outcome.exit) == u64(INT64_MIN + 5)
    assert r.outcome.pc == sym(r, "x") and r.outcome.retired == 3
