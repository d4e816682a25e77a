; halt_status: halt with a status that does not fit in 8 bits
;
; `halt` stops the machine with exit status r0. The machine keeps the full
; 64-bit value (here 300); a command-line tool reports only its low 8 bits
; (300 mod 256 = 44) as the process exit code.
; There is no `main` label, so execution starts at the first instruction
; (address 0x1000).
;
; expect: exit=300

        .text
        li   r1, 300
        hcall 3                 ; PUTINT: "300"
        li   r2, '\n'
        out  0, r2
        mov  r0, r1             ; exit status = 300
        halt
