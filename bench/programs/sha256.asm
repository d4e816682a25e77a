; sha256: the SHA-256 digest (FIPS 180-4) of an N-byte generated message;
; prints it as 64 lowercase hex digits and a newline
;
; The message: x = 1; for each byte, x = x*6364136223846793005 +
; 1442695040888963407 (mod 2^64, Knuth's MMIX LCG) and the byte is x >> 56.
; It is generated 64 bytes at a time into one block buffer (so any N fits in
; memory): every full block is compressed as it is made, then the last 0..63
; bytes get the padding (0x80, zeros, the bit length 8N as a big-endian
; 64-bit number at the end of the block), which takes one block, or two
; when 56..63 bytes are left. compress is the textbook one: W[0..15] from
; the block (big-endian), W[16..63] = s1(W[i-2]) + W[i-7] + s0(W[i-15]) +
; W[i-16], then 64 rounds (unrolled by 4) on a..h, added into H.
; The 32-bit words live zero-extended in 64-bit registers: a rotation
; rotr(x, n) is the low 32 bits of (x | x << 32) >> n, and sums are masked
; with 0xFFFFFFFF when they become a..h (sw stores only the low 32 bits).
; N >= 0 (the memory use does not grow with N); about 61
; instructions retired per byte.

        .equ N, 100000
        .equ WRITE, 1

        .text
main:   li   r2, N
        sd   r2, [left]
blocks: ld   r2, [left]         ; r2 = bytes not yet generated
        slti r0, r2, 64
        bnez r0, tail
        subi r2, r2, 64
        sd   r2, [left]
        la   r1, blk
        li   r2, 64
        call gen
        call compress
        jmp  blocks
tail:   la   r1, blk            ; the last r2 = 0..63 bytes
        call gen                ; r1 = &blk[r2]
        li   r0, 0x80
        sb   r0, [r1]
        addi r1, r1, 1
        la   r2, blk+56
        bge  r2, r1, last       ; the length fits after the 0x80
        la   r2, blk+64
        call clear
        call compress           ; a block of message and padding, then one of padding
        la   r1, blk
        la   r2, blk+56
last:   call clear
        li   r3, N
        shli r3, r3, 3          ; the length in bits, big-endian in blk[56..64)
        la   r1, blk+63
        la   r2, blk+55
len:    sb   r3, [r1]
        shri r3, r3, 8
        subi r1, r1, 1
        bne  r1, r2, len
        call compress
        call hex
        li   r0, 0
        halt

; gen: write the next r2 (>= 0) bytes of the message from r1 on; r1 ends
; after them. The LCG state is in `seed`. Clobbers r0, r2-r5.
gen:    ld   r3, [seed]
        li   r4, 6364136223846793005
        li   r5, 1442695040888963407
        beqz r2, gen_end
gen_lp: mul  r3, r3, r4
        add  r3, r3, r5
        shri r0, r3, 56
        sb   r0, [r1]
        addi r1, r1, 1
        subi r2, r2, 1
        bnez r2, gen_lp
gen_end:
        sd   r3, [seed]
        ret

; clear: zero the bytes from r1 up to r2. Clobbers r0, r1.
clear:  bge  r1, r2, clr_end
        li   r0, 0
clr_lp: sb   r0, [r1]
        addi r1, r1, 1
        blt  r1, r2, clr_lp
clr_end:
        ret

; compress: H = H + the compression of the block at blk. Clobbers r0-r14.
compress:
        li   r14, 0xFFFFFFFF    ; r14 = the 32-bit mask
        li   r9, 0              ; r9 = 4*i
wload:  lbu  r1, [r9+blk]       ; W[i] = the big-endian word at blk[4i]
        lbu  r2, [r9+blk+1]
        lbu  r3, [r9+blk+2]
        lbu  r4, [r9+blk+3]
        shli r1, r1, 24
        shli r2, r2, 16
        shli r3, r3, 8
        or   r1, r1, r2
        or   r3, r3, r4
        or   r1, r1, r3
        sw   r1, [r9+w]
        addi r9, r9, 4
        slti r0, r9, 16*4
        bnez r0, wload
wsched: lwu  r1, [r9+w-15*4]    ; r1 = W[i-15]
        shli r2, r1, 32
        or   r2, r2, r1
        shri r3, r2, 7
        shri r4, r2, 18
        xor  r3, r3, r4
        shri r4, r1, 3
        xor  r3, r3, r4         ; r3 = s0(W[i-15]) = rotr 7 ^ rotr 18 ^ shr 3
        lwu  r1, [r9+w-2*4]     ; r1 = W[i-2]
        shli r2, r1, 32
        or   r2, r2, r1
        shri r4, r2, 17
        shri r5, r2, 19
        xor  r4, r4, r5
        shri r5, r1, 10
        xor  r4, r4, r5         ; r4 = s1(W[i-2]) = rotr 17 ^ rotr 19 ^ shr 10
        add  r3, r3, r4
        lwu  r4, [r9+w-16*4]
        add  r3, r3, r4
        lwu  r4, [r9+w-7*4]
        add  r3, r3, r4
        sw   r3, [r9+w]         ; W[i] (the low 32 bits)
        addi r9, r9, 4
        slti r0, r9, 64*4
        bnez r0, wsched
        lwu  r1, [hs]           ; a..h = H
        lwu  r2, [hs+4]
        lwu  r3, [hs+8]
        lwu  r4, [hs+12]
        lwu  r5, [hs+16]
        lwu  r6, [hs+20]
        lwu  r7, [hs+24]
        lwu  r8, [hs+28]
        li   r9, 0              ; r9 = 4*i
; Four rounds: T1 = h + Sigma1(e) + Ch(e, f, g) + K[i] + W[i],
; T2 = Sigma0(a) + Maj(a, b, c), with Ch = g ^ (e & (f ^ g)) and
; Maj = (c & (a | b)) | (a & b); e = d + T1, a = T1 + T2, the rest shift
; down one place (by renaming the registers, so after four rounds the
; halves a..d and e..h are swapped back). r9 = 4*i, r10-r12 temporaries.
rounds:
        shli r10, r5, 32        ; round 0: a..h = r1 r2 r3 r4 r5 r6 r7 r8
        or   r10, r10, r5       ; r10 = e | e << 32
        shri r11, r10, 6
        shri r12, r10, 11
        xor  r11, r11, r12
        shri r12, r10, 25
        xor  r11, r11, r12      ; Sigma1(e)
        add  r8, r8, r11
        xor  r12, r6, r7
        and  r12, r12, r5
        xor  r12, r12, r7       ; Ch(e, f, g)
        add  r8, r8, r12
        lwu  r10, [r9+ktab+0]
        add  r8, r8, r10
        lwu  r10, [r9+w+0]
        add  r8, r8, r10        ; T1
        add  r4, r4, r8
        and  r4, r4, r14        ; new e = d + T1
        shli r10, r1, 32
        or   r10, r10, r1       ; r10 = a | a << 32
        shri r11, r10, 2
        shri r12, r10, 13
        xor  r11, r11, r12
        shri r12, r10, 22
        xor  r11, r11, r12      ; Sigma0(a)
        add  r8, r8, r11
        or   r12, r1, r2
        and  r12, r12, r3
        and  r10, r1, r2
        or   r12, r12, r10      ; Maj(a, b, c)
        add  r8, r8, r12
        and  r8, r8, r14        ; new a = T1 + T2
        shli r10, r4, 32        ; round 1: a..h = r8 r1 r2 r3 r4 r5 r6 r7
        or   r10, r10, r4       ; r10 = e | e << 32
        shri r11, r10, 6
        shri r12, r10, 11
        xor  r11, r11, r12
        shri r12, r10, 25
        xor  r11, r11, r12      ; Sigma1(e)
        add  r7, r7, r11
        xor  r12, r5, r6
        and  r12, r12, r4
        xor  r12, r12, r6       ; Ch(e, f, g)
        add  r7, r7, r12
        lwu  r10, [r9+ktab+4]
        add  r7, r7, r10
        lwu  r10, [r9+w+4]
        add  r7, r7, r10        ; T1
        add  r3, r3, r7
        and  r3, r3, r14        ; new e = d + T1
        shli r10, r8, 32
        or   r10, r10, r8       ; r10 = a | a << 32
        shri r11, r10, 2
        shri r12, r10, 13
        xor  r11, r11, r12
        shri r12, r10, 22
        xor  r11, r11, r12      ; Sigma0(a)
        add  r7, r7, r11
        or   r12, r8, r1
        and  r12, r12, r2
        and  r10, r8, r1
        or   r12, r12, r10      ; Maj(a, b, c)
        add  r7, r7, r12
        and  r7, r7, r14        ; new a = T1 + T2
        shli r10, r3, 32        ; round 2: a..h = r7 r8 r1 r2 r3 r4 r5 r6
        or   r10, r10, r3       ; r10 = e | e << 32
        shri r11, r10, 6
        shri r12, r10, 11
        xor  r11, r11, r12
        shri r12, r10, 25
        xor  r11, r11, r12      ; Sigma1(e)
        add  r6, r6, r11
        xor  r12, r4, r5
        and  r12, r12, r3
        xor  r12, r12, r5       ; Ch(e, f, g)
        add  r6, r6, r12
        lwu  r10, [r9+ktab+8]
        add  r6, r6, r10
        lwu  r10, [r9+w+8]
        add  r6, r6, r10        ; T1
        add  r2, r2, r6
        and  r2, r2, r14        ; new e = d + T1
        shli r10, r7, 32
        or   r10, r10, r7       ; r10 = a | a << 32
        shri r11, r10, 2
        shri r12, r10, 13
        xor  r11, r11, r12
        shri r12, r10, 22
        xor  r11, r11, r12      ; Sigma0(a)
        add  r6, r6, r11
        or   r12, r7, r8
        and  r12, r12, r1
        and  r10, r7, r8
        or   r12, r12, r10      ; Maj(a, b, c)
        add  r6, r6, r12
        and  r6, r6, r14        ; new a = T1 + T2
        shli r10, r2, 32        ; round 3: a..h = r6 r7 r8 r1 r2 r3 r4 r5
        or   r10, r10, r2       ; r10 = e | e << 32
        shri r11, r10, 6
        shri r12, r10, 11
        xor  r11, r11, r12
        shri r12, r10, 25
        xor  r11, r11, r12      ; Sigma1(e)
        add  r5, r5, r11
        xor  r12, r3, r4
        and  r12, r12, r2
        xor  r12, r12, r4       ; Ch(e, f, g)
        add  r5, r5, r12
        lwu  r10, [r9+ktab+12]
        add  r5, r5, r10
        lwu  r10, [r9+w+12]
        add  r5, r5, r10        ; T1
        add  r1, r1, r5
        and  r1, r1, r14        ; new e = d + T1
        shli r10, r6, 32
        or   r10, r10, r6       ; r10 = a | a << 32
        shri r11, r10, 2
        shri r12, r10, 13
        xor  r11, r11, r12
        shri r12, r10, 22
        xor  r11, r11, r12      ; Sigma0(a)
        add  r5, r5, r11
        or   r12, r6, r7
        and  r12, r12, r8
        and  r10, r6, r7
        or   r12, r12, r10      ; Maj(a, b, c)
        add  r5, r5, r12
        and  r5, r5, r14        ; new a = T1 + T2

        mov  r0, r1             ; swap r1..r4 and r5..r8 back into a..h order
        mov  r1, r5
        mov  r5, r0
        mov  r0, r2
        mov  r2, r6
        mov  r6, r0
        mov  r0, r3
        mov  r3, r7
        mov  r7, r0
        mov  r0, r4
        mov  r4, r8
        mov  r8, r0
        addi r9, r9, 4*4
        slti r0, r9, 64*4
        bnez r0, rounds
        lwu  r0, [hs]           ; H += a..h (sw keeps the low 32 bits)
        add  r1, r1, r0
        sw   r1, [hs]
        lwu  r0, [hs+4]
        add  r2, r2, r0
        sw   r2, [hs+4]
        lwu  r0, [hs+8]
        add  r3, r3, r0
        sw   r3, [hs+8]
        lwu  r0, [hs+12]
        add  r4, r4, r0
        sw   r4, [hs+12]
        lwu  r0, [hs+16]
        add  r5, r5, r0
        sw   r5, [hs+16]
        lwu  r0, [hs+20]
        add  r6, r6, r0
        sw   r6, [hs+20]
        lwu  r0, [hs+24]
        add  r7, r7, r0
        sw   r7, [hs+24]
        lwu  r0, [hs+28]
        add  r8, r8, r0
        sw   r8, [hs+28]
        ret

; hex: print H as 64 hex digits and a newline (one WRITE of out[]).
hex:    la   r1, hs
        la   r2, out
        la   r6, hs+32
hx_w:   lwu  r3, [r1]           ; r3 = H[j]
        li   r4, 32             ; r4 = shift + 4, from 32 down to 4
hx_d:   subi r4, r4, 4
        shr  r5, r3, r4
        andi r5, r5, 15
        lbu  r5, [r5+digits]
        sb   r5, [r2]
        addi r2, r2, 1
        bnez r4, hx_d
        addi r1, r1, 4
        blt  r1, r6, hx_w
        li   r0, '\n'
        sb   r0, [r2]
        li   r1, 1              ; fd 1
        la   r2, out
        li   r3, 65
        hcall WRITE
        ret

        .data
        .align 8
seed:   .quad 1                 ; the LCG state x
left:   .quad 0                 ; bytes of the message not yet generated
hs:                             ; H, the hash value, initially FIPS 180-4's H(0)
        .word 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
        .word 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
ktab:                           ; K, the 64 round constants
        .word 0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
        .word 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
        .word 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
        .word 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
        .word 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
        .word 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
        .word 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
        .word 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
w:      .zero 64*4              ; W, the message schedule
blk:    .zero 64                ; the block being hashed
digits: .ascii "0123456789abcdef"
out:    .zero 65                ; the digest in hex and a newline
