; output_out: output-heavy, one device write (a VM exit) per byte or number
;
; Prints N lines "line <i>\n" for i = 1..N: the five bytes of "line " and the
; newline each with `out 0` (console port), the number with `out 1` (decimal
; port), so 7 port writes per line. output_write prints the same text with
; one WRITE hypercall per line.

        .equ N, 50000

        .text
main:   li   r10, N
        li   r4, 1              ; r4 = i
        bgt  r4, r10, done
line:   li   r1, 'l'
        out  0, r1
        li   r1, 'i'
        out  0, r1
        li   r1, 'n'
        out  0, r1
        li   r1, 'e'
        out  0, r1
        li   r1, ' '
        out  0, r1
        out  1, r4
        li   r1, '\n'
        out  0, r1
        addi r4, r4, 1
        ble  r4, r10, line
done:   li   r0, 0
        halt
