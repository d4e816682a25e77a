; memops: the MEMMOVE and MEMSET hypercalls, and WRITE's return values
;
; hcall 6 (MEMMOVE) copies r3 bytes from r2 to r1 and handles overlapping
; ranges in both directions; hcall 7 (MEMSET) fills r3 bytes at r1 with the
; low byte of r2. Both return r1 in r0. A 26-byte buffer holding the alphabet
; is printed after each step with hcall 1 (WRITE). Finally two edge cases:
; a zero-length MEMMOVE never faults, even with null pointers (r0 = r1 = 0),
; and WRITE to an fd other than 1 or 2 writes nothing and returns -1.
;
; expect: exit=0

        .equ WRITE, 1
        .equ MEMMOVE, 6
        .equ MEMSET, 7
        .equ LEN, 26

        .text
main:   call show                       ; abcdefghijklmnopqrstuvwxyz
        la   r1, buf+3                  ; destination
        la   r2, buf                    ; source (overlaps the destination)
        li   r3, 10
        hcall MEMMOVE                   ; copy "abcdefghij" 3 bytes to the right
        call show
        la   r1, buf                    ; destination
        la   r2, buf+5                  ; source (overlaps, copying leftwards)
        li   r3, 10
        hcall MEMMOVE
        call show
        la   r1, buf+20
        li   r2, 0x72a                  ; only the low byte, 0x2a = '*', is used
        li   r3, 6
        hcall MEMSET                    ; fill the last 6 bytes with '*'
        la   r4, buf+20
        bne  r0, r4, fail               ; MEMSET returns r1
        call show
        ; zero length: no fault, r0 = r1
        li   r1, 0
        li   r2, 0
        li   r3, 0
        hcall MEMMOVE
        hcall 3                         ; PUTINT r1: "0"
        li   r2, ' '
        out  0, r2
        out  1, r0                      ; r0 = r1 = 0
        li   r2, '\n'
        out  0, r2
        ; WRITE to fd 5: nothing written, r0 = -1
        li   r1, 5
        la   r2, buf
        li   r3, LEN
        hcall WRITE
        out  1, r0                      ; -1
        li   r2, '\n'
        out  0, r2
        li   r0, 0
        halt
fail:   li   r0, 1
        halt

; show: print the buffer and a newline. Clobbers r0..r3.
show:   li   r1, 1
        la   r2, buf
        li   r3, LEN
        hcall WRITE
        li   r2, '\n'
        out  0, r2
        ret

        .data
buf:    .ascii "abcdefghijklmnopqrstuvwxyz"
