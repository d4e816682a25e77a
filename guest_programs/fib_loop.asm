; fib_loop: print the first 25 Fibonacci numbers, computed iteratively
;
; Shows a counted loop with registers only, and the two ways of printing a
; number: port 1 (`out 1, rs` writes rs as signed decimal) for the index, and
; hypercall 3 (PUTINT, prints r1 as signed decimal) for the value.
; Each line is "i: fib(i)", with fib(0) = 0 and fib(1) = 1.
;
; expect: exit=0

        .equ COUNT, 25          ; how many numbers to print
        .equ PUTINT, 3

        .text
main:   li   r4, 0              ; r4 = i
        li   r5, 0              ; r5 = fib(i)
        li   r6, 1              ; r6 = fib(i+1)
        li   r7, ':'            ; constants for the punctuation
        li   r8, ' '
        li   r9, '\n'
loop:   out  1, r4              ; "i"
        out  0, r7              ; ":"
        out  0, r8              ; " "
        mov  r1, r5
        hcall PUTINT            ; "fib(i)"
        out  0, r9              ; newline
        add  r10, r5, r6        ; step: (a, b) = (b, a + b)
        mov  r5, r6
        mov  r6, r10
        addi r4, r4, 1
        slti r11, r4, COUNT     ; r11 = 1 while i < COUNT
        bnez r11, loop
        li   r0, 0
        halt
