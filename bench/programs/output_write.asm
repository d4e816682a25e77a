; output_write: output-heavy, one WRITE hypercall per line
;
; Prints the same N lines "line <i>\n" (i = 1..N) as output_out, but each
; line is built in a buffer (the decimal digits by repeated division by 10)
; and written with hypercall 1 (WRITE, fd 1): one hypercall per line.

        .equ N, 50000
        .equ WRITE, 1

        .text
main:   li   r10, N
        li   r4, 1              ; r4 = i
        la   r11, buf           ; buf holds "line " followed by the digits
        bgt  r4, r10, done
line:   ; digits of i, backwards into digits[], then forwards after "line "
        la   r5, dend           ; r5 = write pointer, moving down
        mov  r6, r4
digit:  remi r7, r6, 10
        addi r7, r7, '0'
        subi r5, r5, 1
        sb   r7, [r5]
        divi r6, r6, 10
        bnez r6, digit
        addi r8, r11, 5         ; r8 = &buf[5]
        la   r9, dend
copy:   lbu  r7, [r5]
        sb   r7, [r8]
        addi r5, r5, 1
        addi r8, r8, 1
        blt  r5, r9, copy
        li   r7, '\n'
        sb   r7, [r8]
        addi r8, r8, 1
        li   r1, 1              ; fd 1
        mov  r2, r11
        sub  r3, r8, r11        ; length
        hcall WRITE
        addi r4, r4, 1
        ble  r4, r10, line
done:   li   r0, 0
        halt

        .data
buf:    .ascii "line "
        .zero 27                ; room for 20 digits and the newline
digits: .zero 24
dend:
