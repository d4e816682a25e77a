; ackermann: the Ackermann function A(2, N) and A(3, N), deeply recursive calls
;
; A(0, n) = n + 1; A(m, 0) = A(m - 1, 1); A(m, n) = A(m - 1, A(m, n - 1)).
; A(3, N) = 2^(N+3) - 3 makes about 4^N * 42 calls, nested up to 2^(N+3) deep.
; Calling convention: m in r1, n in r2, result in r0; the callee preserves r1.
; Prints A(2, N) and A(3, N), one per line.

        .equ N, 7

        .text
main:   li   r1, 2
        li   r2, N
        call ack
        out  1, r0
        li   r3, '\n'
        out  0, r3
        li   r1, 3
        li   r2, N
        call ack
        out  1, r0
        out  0, r3
        li   r0, 0
        halt

; ack(m = r1, n = r2) -> r0. Preserves r1; clobbers r2.
ack:    bnez r1, m_pos
        addi r0, r2, 1          ; A(0, n) = n + 1
        ret
m_pos:  bnez r2, n_pos
        push r1                 ; A(m, 0) = A(m - 1, 1)
        subi r1, r1, 1
        li   r2, 1
        call ack
        pop  r1
        ret
n_pos:  subi r2, r2, 1          ; A(m, n) = A(m - 1, A(m, n - 1))
        call ack                ; r0 = A(m, n - 1); r1 is still m
        push r1
        subi r1, r1, 1
        mov  r2, r0
        call ack
        pop  r1
        ret
