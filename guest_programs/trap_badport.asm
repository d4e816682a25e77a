; trap_badport: writing to a port with no device traps BADPORT
;
; Port 0 is the console and port 1 prints decimal numbers; port 3 has no
; device at all, so `out 3, rs` traps BADPORT. (So do `out 2`, since the
; counter on port 2 can only be read, and `in rd, 1`.) The program prints
; a number through port 1 first.
;
; expect: trap=BADPORT

        .text
main:   li   r1, 2024
        out  1, r1              ; "2024"
        li   r2, '\n'
        out  0, r2
        out  3, r1              ; no device on port 3: BADPORT
        halt
