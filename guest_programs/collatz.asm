; collatz: the Collatz (3n+1) problem
;
; Repeatedly replace n by n/2 if n is even, else by 3n+1, until n = 1.
; Prints the number of steps and the peak value for n = 27, then finds the
; start below 1000 with the longest chain. Shows a subroutine returning two
; results (r0 = steps, r1 = peak), `andi` to test parity and `shri` to halve.
;
; expect: exit=0

        .equ LIMIT, 1000

        .text
main:   li   r1, 27
        call collatz
        mov  r4, r0             ; steps
        mov  r5, r1             ; peak
        la   r1, s_27
        call puts               ; "27: "
        out  1, r4
        la   r1, s_peak
        call puts               ; " steps, peak "
        out  1, r5
        li   r2, '\n'
        out  0, r2

        li   r6, 1              ; r6 = n
        li   r7, 0              ; r7 = best step count so far
        li   r8, 0              ; r8 = start with the best count
        li   r9, LIMIT
search: mov  r1, r6
        call collatz
        bge  r7, r0, not_better ; keep the first (smallest) start on ties
        mov  r7, r0
        mov  r8, r6
not_better:
        addi r6, r6, 1
        blt  r6, r9, search
        la   r1, s_best
        call puts               ; "longest chain below 1000 starts at "
        out  1, r8
        la   r1, s_with
        call puts               ; " with "
        out  1, r7
        la   r1, s_steps
        call puts               ; " steps\n"
        li   r0, 0
        halt

; collatz: r1 = n >= 1. Returns r0 = number of steps to reach 1, r1 = the
; largest value seen. Clobbers r2 and r3.
collatz:
        li   r0, 0
        mov  r2, r1             ; r2 = current value
        li   r3, 1
c_loop: beq  r2, r3, c_done
        andi r3, r2, 1
        beqz r3, c_even
        muli r2, r2, 3          ; odd: 3n + 1
        addi r2, r2, 1
        ble  r2, r1, c_step     ; new peak?
        mov  r1, r2
        jmp  c_step
c_even: shri r2, r2, 1          ; even: n / 2
c_step: addi r0, r0, 1
        li   r3, 1
        jmp  c_loop
c_done: ret

; puts: print the zero-terminated string at r1. Clobbers r1 and r2.
puts:   lbu  r2, [r1]
        beqz r2, puts_end
        out  0, r2
        addi r1, r1, 1
        jmp  puts
puts_end:
        ret

        .data
s_27:   .asciz "27: "
s_peak: .asciz " steps, peak "
s_best: .asciz "longest chain below 1000 starts at "
s_with: .asciz " with "
s_steps: .asciz " steps\n"
