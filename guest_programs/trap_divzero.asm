; trap_divzero: integer division by zero traps DIVZERO
;
; Divides 60 by 3, 2, 1 and then 0, printing "60 / d = " before each
; division. Integer `div` and `rem` trap DIVZERO on a zero divisor (float
; `fdiv` never traps). The last line is cut off after "60 / 0 = ", which
; shows that output written before a trap is not lost.
;
; expect: trap=DIVZERO

        .text
main:   li   r4, 60             ; dividend
        li   r5, 3              ; divisor, counting down to 0
loop:   out  1, r4
        la   r1, s_div
        call puts               ; " / "
        out  1, r5
        la   r1, s_eq
        call puts               ; " = "
        div  r6, r4, r5         ; traps when r5 = 0
        out  1, r6
        li   r2, '\n'
        out  0, r2
        subi r5, r5, 1
        jmp  loop

; puts: print the zero-terminated string at r1. Clobbers r1 and r2.
puts:   lbu  r2, [r1]
        beqz r2, puts_end
        out  0, r2
        addi r1, r1, 1
        jmp  puts
puts_end:
        ret

        .data
s_div:  .asciz " / "
s_eq:   .asciz " = "
