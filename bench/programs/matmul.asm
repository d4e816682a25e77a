; matmul: multiply two N x N matrices of doubles, prints a checksum with PUTFLOAT
;
; A, B and C are stored row by row in memory after the program's data
; (24*N*N bytes; N <= ~200 with the default 1 MiB memory). Exact operations:
;   A[i][j] = double((i + 2*j) rem 11) * 0.125 - 0.5
;   B[i][j] = double((3*i + j) rem 13) * 0.0625 + 0.1
;   C[i][j] = s, where s = 0.0; for k = 0..N-1: s = s + A[i][k] * B[k][j]
;   total = 0.0; for i, for j (row by row): total = total + C[i][j]
; Prints total with 10 decimals (hypercall 4, PUTFLOAT) and a newline.

        .equ N, 100
        .equ PUTFLOAT, 4

        .text
main:   la   r9, mats           ; r9 = A
        li   r10, N
        mul  r11, r10, r10
        shli r11, r11, 3        ; r11 = bytes per matrix
        add  r12, r9, r11       ; r12 = B
        add  r13, r12, r11      ; r13 = C
        fli  f10, 0.125
        fli  f11, 0.5
        fli  f12, 0.0625
        fli  f13, 0.1
        ; initialise A and B
        mov  r6, r9             ; r6 = &A[i][j]
        mov  r7, r12            ; r7 = &B[i][j]
        li   r4, 0              ; r4 = i
        bge  r4, r10, mult
irow:   li   r5, 0              ; r5 = j
icol:   shli r1, r5, 1
        add  r1, r1, r4
        remi r1, r1, 11
        itof f1, r1
        fmul f1, f1, f10
        fsub f1, f1, f11
        fsd  f1, [r6]           ; A[i][j]
        muli r1, r4, 3
        add  r1, r1, r5
        remi r1, r1, 13
        itof f1, r1
        fmul f1, f1, f12
        fadd f1, f1, f13
        fsd  f1, [r7]           ; B[i][j]
        addi r6, r6, 8
        addi r7, r7, 8
        addi r5, r5, 1
        blt  r5, r10, icol
        addi r4, r4, 1
        blt  r4, r10, irow

        ; C = A * B
mult:   shli r8, r10, 3         ; r8 = bytes per row
        mov  r1, r9             ; r1 = &A[i][0]
        mov  r7, r13            ; r7 = &C[i][j]
        li   r4, 0              ; r4 = i
        bge  r4, r10, sum
mrow:   mov  r2, r12            ; r2 = &B[0][j]
        add  r14, r1, r8        ; r14 = &A[i][N]
        li   r5, 0              ; r5 = j
mcol:   fli  f1, 0.0            ; s
        mov  r3, r1             ; r3 = &A[i][k]
        mov  r6, r2             ; r6 = &B[k][j]
dot:    fld  f2, [r3]
        fld  f3, [r6]
        fmul f2, f2, f3
        fadd f1, f1, f2         ; s = s + A[i][k] * B[k][j]
        addi r3, r3, 8
        add  r6, r6, r8
        blt  r3, r14, dot
        fsd  f1, [r7]
        addi r7, r7, 8
        addi r2, r2, 8
        addi r5, r5, 1
        blt  r5, r10, mcol
        mov  r1, r14            ; next row of A
        addi r4, r4, 1
        blt  r4, r10, mrow

        ; total of C, row by row
sum:    fli  f0, 0.0
        mov  r3, r13
        add  r14, r13, r11      ; r14 = end of C
        bge  r3, r14, print
sloop:  fld  f1, [r3]
        fadd f0, f0, f1
        addi r3, r3, 8
        blt  r3, r14, sloop
print:  li   r1, 10
        hcall PUTFLOAT
        li   r1, '\n'
        out  0, r1
        li   r0, 0
        halt

        .data
        .align 8
mats:                           ; A, B, C: 24*N*N bytes from here on (beyond the image)
