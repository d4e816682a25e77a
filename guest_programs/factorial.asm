; factorial: print 1! through 20!, then show that 21! wraps around
;
; Shows 64-bit multiplication (`mul` keeps the low 64 bits, signed two's
; complement). 20! = 2432902008176640000 is the largest factorial that fits
; in a signed 64-bit register; 21! overflows and wraps modulo 2^64, which the
; last line shows as a negative number.
;
; expect: exit=0

        .equ LAST, 20

        .text
main:   li   r4, 1              ; r4 = n
        li   r5, 1              ; r5 = n!
        li   r6, '\n'
loop:   mul  r5, r5, r4         ; r5 = n! = (n-1)! * n
        out  1, r4              ; "n"
        la   r1, s_fact
        call puts               ; "! = "
        out  1, r5              ; n!
        out  0, r6
        addi r4, r4, 1
        li   r7, LAST
        ble  r4, r7, loop       ; while n <= LAST
        ; here r4 = 21 and r5 = 20!
        mul  r5, r5, r4         ; 21! mod 2^64
        la   r1, s_wrap
        call puts               ; "21! wraps to "
        out  1, r5
        out  0, r6
        li   r0, 0
        halt

; puts: print the zero-terminated string at r1. Clobbers r1 and r2.
puts:   lbu  r2, [r1]
        beqz r2, puts_end
        out  0, r2
        addi r1, r1, 1
        jmp  puts
puts_end:
        ret

        .data
s_fact: .asciz "! = "
s_wrap: .asciz "21! wraps to "
