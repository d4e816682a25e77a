; bitops_demo: the bitops extension at work (run with --ext extensions/bitops.py)
;
; Prints popcnt, clz and bswap of a few values, a fused multiply-add, then divides by zero
; with the checked division, which traps DIVZERO.
;
; expect: trap=DIVZERO
main:   la    r10, values
        li    r11, 4            ; four values
next:   ld    r1, [r10]
        popcnt r2, r1
        out   1, r2
        li    r9, ' '
        out   0, r9
        clz   r2, r1
        out   1, r2
        out   0, r9
        bswap r2, r1
        out   1, r2
        li    r9, '\n'
        out   0, r9
        addi  r10, r10, 8
        subi  r11, r11, 1
        bnez  r11, next
        fli   f0, 0.1
        fli   f1, 10.0
        fli   f2, -1.0
        fmadd f2, f0, f1        ; 0.1 * 10 - 1 with one rounding: 5.551115123125783e-17, not 0
        fmvi  r1, f2
        out   1, r1
        li    r9, '\n'
        out   0, r9
        li    r1, 7
        li    r2, 0
        divchk r3, r1, r2       ; traps DIVZERO
        halt
        .data
        .align 8
values: .quad 0, -1, 0x0102030405060708, 0x8000000000000001
