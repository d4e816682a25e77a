; sieve: the sieve of Eratosthenes for the numbers below N, prints the count of primes
;
; One byte per number (0 = maybe prime, 1 = composite) in memory after the
; program's data, cleared with MEMSET. For i = 2, 3, ... while i*i < N: if i
; is unmarked, mark i*i, i*i+i, ... below N. Then count the unmarked bytes in
; 2..N-1. Needs N bytes of memory beyond the program (N <= ~1,000,000 with
; the default 1 MiB memory).

        .equ N, 500000
        .equ MEMSET, 7

        .text
main:   la   r9, flags          ; r9 = base of the flag bytes
        mov  r1, r9
        li   r2, 0
        li   r3, N
        hcall MEMSET            ; flags[0..N) = 0
        li   r10, N             ; r10 = N
        add  r11, r9, r10       ; r11 = end of the flags
        li   r4, 2              ; r4 = i
outer:  mul  r5, r4, r4         ; r5 = i*i
        bge  r5, r10, count     ; while i*i < N
        add  r6, r9, r4
        lbu  r6, [r6]
        bnez r6, nexti          ; i is composite
        add  r5, r9, r5         ; r5 = &flags[i*i]
        li   r7, 1
mark:   sb   r7, [r5]
        add  r5, r5, r4
        blt  r5, r11, mark
nexti:  addi r4, r4, 1
        jmp  outer

count:  li   r0, 0              ; r0 = number of primes
        li   r4, 2
        bge  r4, r10, print     ; N <= 2: no primes
        addi r5, r9, 2          ; r5 = &flags[2]
cloop:  lbu  r6, [r5]
        addi r5, r5, 1
        bnez r6, ccomp
        addi r0, r0, 1
ccomp:  blt  r5, r11, cloop

print:  out  1, r0
        li   r1, '\n'
        out  0, r1
        li   r0, 0
        halt

        .data
        .align 8
flags:                          ; N bytes from here on (beyond the image)
