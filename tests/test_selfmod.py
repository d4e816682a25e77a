"""Self-modifying code: code and data share one memory, so a write over an instruction takes effect at
its next fetch, whoever writes it (a store, or a hypercall that writes memory).

These run in `code_mode` engines: a paravirtual engine may refuse such programs with UNSUPPORTED.
"""

from __future__ import annotations

from conftest import assert_exit, assert_trap, mem_q, regs, run_asm, stdout, sym, word

from vm.isa import Trap


def test_store_over_a_later_instruction(code_mode):
    src = """
main:   li r2, 7
        sw r2, [next+4]         ; the immediate of the very next instruction
next:   li r3, 0                ; runs as li r3, 7
        li r0, 0
        halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert regs(r)[3] == 7


def test_store_into_a_loop_body_that_already_ran(code_mode):
    src = """
main:   li r4, 0                ; i
        li r5, 0                ; sum
        li r6, 10
loop:   li r7, 2
        bne r4, r7, step
        sw r6, [step+4]         ; at i = 2 the increment becomes 10
step:   addi r5, r5, 1
        addi r4, r4, 1
        slti r7, r4, 5
        bnez r7, loop
        li r0, 0
        halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert regs(r)[5] == 1 + 1 + 10 + 10 + 10


def test_store_over_a_subroutine_between_calls(code_mode):
    src = f"""
main:   call get
        mov r8, r0
        li r1, {word(0x04, 0, 0, 0, 42)}     ; the word of `li r0, 42`
        sd r1, [get]
        call get
        mov r9, r0
        li r0, 0
        halt
get:    li r0, 1
        ret
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert regs(r)[8:10] == [1, 42]


def test_store_over_the_literal_of_liw_and_fli(code_mode):
    src = """
main:   li r10, 0               ; pass
again:
lw_:    liw r3, 0x1111111111111111
lf_:    fli f3, 1.5
        bnez r10, done
        mov r11, r3
        fmov f11, f3
        li r1, 0x2222222222222222
        sd r1, [lw_+8]          ; the literal word of the liw
        li r1, 0x4004000000000000   ; 2.5
        sd r1, [lf_+8]
        li r10, 1
        jmp again
done:   li r0, 0
        halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert regs(r)[11] == 0x1111111111111111 and r.machine.fregs[11] == 1.5
    assert regs(r)[3] == 0x2222222222222222 and r.machine.fregs[3] == 2.5


def test_byte_store_into_the_high_byte_of_a_literal(code_mode):
    src = """
main:   li r10, 0
again:
lw_:    liw r3, 0x0011223344556677
        bnez r10, done
        li r1, 0x7f
        sb r1, [lw_+15]         ; the last byte of the literal
        li r10, 1
        jmp again
done:   li r0, 0
        halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert regs(r)[3] == 0x7F11223344556677


def test_byte_store_over_an_opcode(code_mode):
    src = """
main:   li r1, 2                ; opcode of nop
        sb r1, [trapdoor]
trapdoor:
        brk
        li r0, 5
        halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 5)


def test_instruction_rewrites_itself_in_a_loop(code_mode):
    """The store changes its own word; the new instruction runs at the next fetch of that address."""
    src = f"""
main:   li r1, {word(0x04, 9, 0, 0, 99)}    ; li r9, 99
        li r4, 0
loop:
self:   sd r1, [self]
        addi r4, r4, 1
        slti r5, r4, 3
        bnez r5, loop
        li r0, 0
        halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert regs(r)[9] == 99 and regs(r)[4] == 3
    assert mem_q(r, sym(r, "self")) == word(0x04, 9, 0, 0, 99)


def test_store_over_a_device_instruction_that_already_ran(code_mode):
    src = """
main:   li r4, 0
        li r1, 65
loop:
dev:    out 1, r1               ; prints 65, then (port patched to 0) the byte 'A'
        li r2, 0
        sw r2, [dev+4]
        addi r4, r4, 1
        slti r5, r4, 2
        bnez r5, loop
        li r0, 0
        halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert stdout(r) == b"65A"


def test_memset_over_code(code_mode):
    """MEMSET with 0x02 turns a brk into a nop (opcode 02; its other fields are ignored)."""
    src = """
main:   la r1, trapdoor
        li r2, 0x102            ; the low byte: 0x02
        li r3, 8
        hcall 7
trapdoor:
        brk
        li r0, 3
        halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 3)


def test_memmove_over_code_that_already_ran(code_mode):
    src = """
main:   call get
        mov r8, r0
        la r1, get
        la r2, template
        li r3, 8
        hcall 6
        call get
        mov r9, r0
        li r0, 0
        halt
get:    li r0, 1
        ret
template:
        li r0, 77               ; never run here: copied over `get`
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 0)
    assert regs(r)[8:10] == [1, 77]


def test_read_over_code(code_mode):
    src = """
main:   call get
        mov r8, r0
        li r1, 0
        la r2, get
        li r3, 8
        hcall 2
        call get
        mov r9, r0
        li r0, 0
        halt
get:    li r0, 1
        ret
"""
    code = word(0x04, 0, 0, 0, -1234).to_bytes(8, "little")  # li r0, -1234
    r = run_asm(src, code_mode, stdin=code)
    assert_exit(r, 0)
    assert regs(r)[8:10] == [1, -1234]


def test_memset_over_code_can_make_it_illegal(code_mode):
    src = """
main:   call get
        la r1, get
        li r2, 0
        li r3, 8
        hcall 7
        call get
        halt
get:    li r0, 1
        ret
"""
    r = run_asm(src, code_mode)
    assert_trap(r, Trap.ILLEGAL, pc=sym(r, "get"))


def test_code_in_the_data_section(code_mode):
    src = f"""
main:   la r1, code
        jr r1
        .data
        .align 8
code:   .quad {word(0x04, 0, 0, 0, 12)}   ; li r0, 12
        .quad {word(0x01)}                ; halt
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 12)


def test_code_written_at_run_time(code_mode):
    src = f"""
main:   li r1, {word(0x04, 0, 0, 0, 21)}
        sd r1, [0x8000]
        li r1, {word(0x01)}
        sd r1, [0x8008]
        jmp 0x8000
"""
    r = run_asm(src, code_mode)
    assert_exit(r, 21)
    assert r.outcome.pc == 0x8008
