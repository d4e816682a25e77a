; trap_badhcall: an unknown hypercall number traps BADHCALL
;
; Hypercalls 0..7 exist (EXIT, WRITE, READ, PUTINT, PUTFLOAT, CLOCK,
; MEMMOVE, MEMSET). The program prints a number with hypercall 3 (PUTINT,
; argument in r1), then issues hypercall 99, which traps BADHCALL.
;
; expect: trap=BADHCALL

        .text
main:   li   r1, -17
        hcall 3                 ; PUTINT: "-17"
        li   r2, '\n'
        out  0, r2
        hcall 99                ; no such hypercall: BADHCALL
        halt
