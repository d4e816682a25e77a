; trap_misaligned: an 8-byte load from an address that is not a multiple of 8
;
; Every access of n bytes must be at a multiple of n. The program loads a
; quad (8 bytes) from an aligned address, then the upper word (4 bytes at
; +4, which is 4-byte aligned, so allowed), printing both; then it tries an
; 8-byte load at +4, which traps MISALIGNED.
; The quad 0x0000000500000007 is stored little-endian: the word at +0 is 7
; and the word at +4 is 5.
;
; expect: trap=MISALIGNED

        .text
main:   la   r4, value
        li   r2, '\n'
        ld   r5, [r4]           ; 8 bytes at an 8-byte aligned address
        out  1, r5              ; 21474836487 = 5 * 2^32 + 7
        out  0, r2
        lw   r5, [r4+4]         ; 4 bytes at a 4-byte aligned address
        out  1, r5              ; 5
        out  0, r2
        ld   r5, [r4+4]         ; 8 bytes at an address = 4 (mod 8): MISALIGNED
        out  1, r5              ; never reached
        halt

        .data
        .align 8
value:  .quad 0x0000000500000007
