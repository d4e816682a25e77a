; fib_rec: recursive Fibonacci with call/ret and push/pop, up to fib(20) = 6765
;
; Shows subroutines and the stack: `call` pushes the return address, `ret`
; pops it, and `push`/`pop` save registers across the recursive calls.
; fib(20) takes 21891 calls. Calling convention used here: argument in r1,
; result in r0, every other register is preserved by the callee.
; At the end the program checks that sp is back where it started and exits
; with 0 if so (1 if the stack is unbalanced).
;
; expect: exit=0

        .equ LAST, 20           ; largest n to compute
        .equ STEP, 5

        .text
main:   mov  r13, sp            ; remember the initial stack pointer
        li   r4, 0              ; r4 = n
next:   la   r1, s_fib
        call puts               ; "fib("
        out  1, r4              ; n
        la   r1, s_eq
        call puts               ; ") = "
        mov  r1, r4
        call fib                ; r0 = fib(n)
        out  1, r0
        li   r2, '\n'
        out  0, r2
        addi r4, r4, STEP
        li   r2, LAST
        ble  r4, r2, next       ; while n <= LAST
        li   r0, 0
        beq  sp, r13, done      ; balanced stack: exit 0
        li   r0, 1
done:   halt

; fib(n): r1 = n, returns r0 = fib(n). Preserves r1 and r2.
fib:    li   r0, 2
        blt  r1, r0, small      ; n < 2: fib(n) = n
        push r1
        push r2
        subi r1, r1, 1
        call fib                ; r0 = fib(n-1)
        mov  r2, r0
        subi r1, r1, 1
        call fib                ; r0 = fib(n-2)
        add  r0, r0, r2
        pop  r2
        pop  r1
        ret
small:  mov  r0, r1
        ret

; puts: print the zero-terminated string at r1. Clobbers r1 and r2.
puts:   lbu  r2, [r1]
        beqz r2, puts_end
        out  0, r2
        addi r1, r1, 1
        jmp  puts
puts_end:
        ret

        .data
s_fib:  .asciz "fib("
s_eq:   .asciz ") = "
