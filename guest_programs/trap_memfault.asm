; trap_memfault: dereference a null pointer and trap MEMFAULT
;
; Addresses below 0x1000 are a guard page: any access there traps MEMFAULT,
; so a null pointer faults instead of reading garbage. The program first loads
; through a valid pointer and prints the value, then loads through address 0.
; (The address 0 is 8-byte aligned, so the alignment check passes and the
; bounds check fails.)
;
; expect: trap=MEMFAULT

        .text
main:   la   r4, value
        ld   r5, [r4]           ; a valid load
        out  1, r5              ; "12345"
        li   r2, '\n'
        out  0, r2
        li   r4, 0              ; a null pointer
        ld   r5, [r4]           ; address 0 is in the guard page: MEMFAULT
        out  1, r5              ; never reached
        halt

        .data
value:  .quad 12345
