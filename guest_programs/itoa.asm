; itoa: convert integers to decimal and hexadecimal text in memory
;
; Instead of letting port 1 or PUTINT format numbers, this program does it
; itself: it builds the text in a buffer and writes it with hypercall 1
; (WRITE). Decimal conversion runs on the non-positive value so that it also
; works for INT64_MIN, which has no positive counterpart (`rem` takes the
; dividend's sign, so each remainder is a digit 0..-9). Hexadecimal uses
; logical shifts (`shr`) and a digit table. Each line is "decimal = 0xhex".
;
; expect: exit=0

        .equ WRITE, 1
        .equ STDOUT, 1
        .equ BUFLEN, 32

        .text
main:   la   r8, values         ; r8 = pointer into the table
        la   r9, values_end
next:   ld   r1, [r8]
        call print_dec
        la   r2, s_eq
        li   r3, 5              ; length of " = 0x"
        call write
        ld   r1, [r8]
        call print_hex
        la   r2, s_nl
        li   r3, 1
        call write
        addi r8, r8, 8
        bltu r8, r9, next
        li   r0, 0
        halt

; print_dec: print r1 in signed decimal. Clobbers r0..r7.
print_dec:
        la   r4, buf+BUFLEN     ; r4 = write pointer, filled backwards
        mov  r5, r1             ; r5 = v, made non-positive
        li   r6, 0
        bge  r6, r5, pd_loop    ; v <= 0 already
        neg  r5, r5             ; v > 0: v = -v
pd_loop:
        rem  r6, r5, 10         ; r6 = v rem 10, in -9..0
        li   r7, '0'
        sub  r7, r7, r6         ; digit character '0' - r6
        subi r4, r4, 1
        sb   r7, [r4]
        div  r5, r5, 10
        bnez r5, pd_loop
        li   r6, 0
        bge  r1, r6, pd_out     ; non-negative: no sign
        li   r7, '-'
        subi r4, r4, 1
        sb   r7, [r4]
pd_out: mov  r2, r4
        la   r3, buf+BUFLEN
        sub  r3, r3, r4         ; length = end - start
        jmp  write              ; tail call: write returns to our caller

; print_hex: print r1 as 16 hexadecimal digits. Clobbers r0..r7.
print_hex:
        la   r4, buf            ; r4 = write pointer, filled forwards
        li   r5, 60             ; r5 = shift amount: 60, 56, ..., 0
ph_loop:
        shr  r6, r1, r5         ; logical shift: no sign bits come in
        andi r6, r6, 15
        lbu  r7, [r6+hexdigits]
        sb   r7, [r4]
        addi r4, r4, 1
        subi r5, r5, 4
        li   r6, 0
        bge  r5, r6, ph_loop
        la   r2, buf
        li   r3, 16
        ; fall through into write

; write: WRITE r3 bytes at r2 to stdout. Clobbers r0 and r1.
write:  li   r1, STDOUT
        hcall WRITE
        ret

        .data
s_eq:   .ascii " = 0x"
s_nl:   .ascii "\n"
hexdigits: .ascii "0123456789abcdef"
buf:    .zero BUFLEN
        .align 8
values: .quad 0, 7, -7, 255, 1234567890, -1000000000000
        .quad 9223372036854775807, -9223372036854775808, -1
values_end:
