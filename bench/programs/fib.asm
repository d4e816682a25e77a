; fib: recursive Fibonacci fib(N) with call/ret and push/pop, prints fib(N)
;
; fib(n) = n for n < 2, else fib(n-1) + fib(n-2); the result wraps mod 2^64.
; Calling convention: argument in r1, result in r0; the callee preserves r1
; and r2. fib(N) makes 2*fib(N+1) - 1 calls.

        .equ N, 27

        .text
main:   li   r1, N
        call fib
        out  1, r0
        li   r1, '\n'
        out  0, r1
        li   r0, 0
        halt

; fib(n): r1 = n, returns r0 = fib(n). Preserves r1 and r2.
fib:    slti r0, r1, 2
        bnez r0, small          ; n < 2: fib(n) = n
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
