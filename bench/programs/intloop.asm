; intloop: a tight integer loop (add, xor, shri, addi, bnez), prints a checksum
;
; The loop runs N times with i counting down from N to 1:
;   a += i; b ^= a; a += b >> 5 (logical shift)
; starting from a = 0, b = 0x9E3779B97F4A7C15; all arithmetic wraps mod 2^64.
; Prints a ^ b as signed decimal and a newline. 6 instructions per iteration.

        .equ N, 2000000

        .text
main:   li   r1, N              ; r1 = i
        li   r2, 0              ; r2 = a
        li   r3, 0x9E3779B97F4A7C15 ; r3 = b
        beqz r1, done
loop:   add  r2, r2, r1         ; a += i
        xor  r3, r3, r2         ; b ^= a
        shri r4, r3, 5
        add  r2, r2, r4         ; a += b >> 5
        addi r1, r1, -1
        bnez r1, loop
done:   xor  r1, r2, r3
        out  1, r1
        li   r1, '\n'
        out  0, r1
        li   r0, 0
        halt
