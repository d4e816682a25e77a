; fannkuch: the Computer Language Benchmarks Game fannkuch-redux
;
; For every permutation of 0..N-1 (in the order of the C program by Ledrug
; Katz, gcc #1): count the flips (reverse the first perm[0]+1 elements until
; perm[0] == 0); track the maximum and a checksum (+flips for even, -flips
; for odd permutation indices). Prints "<checksum>\nPfannkuchen(N) = <max>\n".
; Published output for N = 7: 228 and Pfannkuchen(7) = 16. Needs N >= 1.
; perm, perm1 and count are arrays of N quads after the program's data.

        .equ N, 8

        .text
main:   li   r10, N             ; r10 = n
        shli r14, r10, 3        ; r14 = n*8
        la   r11, arrays        ; r11 = perm
        add  r12, r11, r14      ; r12 = perm1
        add  r13, r12, r14      ; r13 = count
        li   r5, 0              ; r5 = maxFlipsCount
        li   r6, 0              ; r6 = permCount
        li   r7, 0              ; r7 = checksum
        li   r1, 0
p1init: shli r2, r1, 3
        add  r2, r12, r2
        sd   r1, [r2]           ; perm1[i] = i
        addi r1, r1, 1
        blt  r1, r10, p1init
        mov  r4, r10            ; r4 = r = n

perm:   li   r1, 1
cinit:  beq  r4, r1, copy       ; while r != 1
        shli r2, r4, 3
        add  r2, r13, r2
        sd   r4, [r2-8]         ; count[r-1] = r
        subi r4, r4, 1
        jmp  cinit
copy:   li   r1, 0              ; perm = perm1
cloop:  add  r2, r12, r1
        ld   r3, [r2]
        add  r2, r11, r1
        sd   r3, [r2]
        addi r1, r1, 8
        blt  r1, r14, cloop

        li   r8, 0              ; r8 = flipsCount
flip:   ld   r9, [r11]          ; k = perm[0]
        beqz r9, flipped
        mov  r1, r11            ; r1 = &perm[i], i = 0
        shli r2, r9, 3
        add  r2, r11, r2        ; r2 = &perm[k-i]
swap:   ld   r3, [r1]
        ld   r9, [r2]
        sd   r9, [r1]
        sd   r3, [r2]
        addi r1, r1, 8
        subi r2, r2, 8
        blt  r1, r2, swap       ; for i < (k+1)>>1
        addi r8, r8, 1
        jmp  flip
flipped:
        bge  r5, r8, nomax
        mov  r5, r8             ; maxFlipsCount = max(maxFlipsCount, flipsCount)
nomax:  andi r1, r6, 1
        bnez r1, odd
        add  r7, r7, r8         ; even permCount: checksum += flipsCount
        jmp  next
odd:    sub  r7, r7, r8         ; odd: checksum -= flipsCount

next:   beq  r4, r10, done      ; r == n: all permutations seen
        ld   r9, [r12]          ; perm0 = perm1[0]
        mov  r1, r12            ; r1 = &perm1[i]
        shli r3, r4, 3
        add  r3, r12, r3        ; r3 = &perm1[r]
        bge  r1, r3, rot_end
rot:    ld   r2, [r1+8]
        sd   r2, [r1]           ; perm1[i] = perm1[i+1]
        addi r1, r1, 8
        blt  r1, r3, rot
rot_end:
        sd   r9, [r3]           ; perm1[r] = perm0
        shli r3, r4, 3
        add  r3, r13, r3
        ld   r2, [r3]
        subi r2, r2, 1
        sd   r2, [r3]           ; count[r] -= 1
        li   r1, 0
        blt  r1, r2, advanced   ; count[r] > 0
        addi r4, r4, 1          ; r++
        jmp  next
advanced:
        addi r6, r6, 1          ; permCount++
        jmp  perm

done:   out  1, r7
        li   r1, '\n'
        out  0, r1
        la   r1, s_pf
        call puts
        out  1, r10
        la   r1, s_eq
        call puts
        out  1, r5
        li   r1, '\n'
        out  0, r1
        li   r0, 0
        halt

; puts: print the zero-terminated string at r1. Clobbers r1 and r2.
puts:   lbu  r2, [r1]
        beqz r2, puts_end
        out  0, r2
        addi r1, r1, 1
        jmp  puts
puts_end:
        ret

        .data
s_pf:   .asciz "Pfannkuchen("
s_eq:   .asciz ") = "
        .align 8
arrays:                         ; perm, perm1, count: 24*N bytes from here on (beyond the image)
