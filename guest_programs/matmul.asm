; matmul: multiply two 3x3 matrices of doubles and print the product
;
; Shows the float unit: `fld`/`fsd` to move doubles between memory and the
; float registers, `fmul`/`fadd` for the dot products, and hypercall 4
; (PUTFLOAT), which prints f0 like C's printf("%.*f", r1, f0).
; C = A * B with C[i][j] = sum over k of A[i][k] * B[k][j], the sum taken in
; order k = 0, 1, 2 starting from 0.0. Each row of C is printed with 4
; decimals; then C[0][0] is printed again with 17 decimals to show that the
; result is the exact binary64 value (0.1 and friends are not exact).
;
; expect: exit=0

        .equ N, 3               ; matrices are N x N, stored row by row
        .equ PUTFLOAT, 4

        .text
main:   li   r4, 0              ; r4 = i
row:    li   r5, 0              ; r5 = j
col:    fli  f1, 0.0            ; f1 = running sum
        li   r6, 0              ; r6 = k
dot:    muli r7, r4, N
        add  r7, r7, r6
        shli r7, r7, 3          ; r7 = byte offset of A[i][k]
        fld  f2, [r7+mat_a]
        muli r7, r6, N
        add  r7, r7, r5
        shli r7, r7, 3          ; r7 = byte offset of B[k][j]
        fld  f3, [r7+mat_b]
        fmul f2, f2, f3
        fadd f1, f1, f2         ; sum += A[i][k] * B[k][j]
        addi r6, r6, 1
        slti r8, r6, N
        bnez r8, dot
        muli r7, r4, N
        add  r7, r7, r5
        shli r7, r7, 3          ; r7 = byte offset of C[i][j]
        fsd  f1, [r7+mat_c]
        addi r5, r5, 1
        slti r8, r5, N
        bnez r8, col
        addi r4, r4, 1
        slti r8, r4, N
        bnez r8, row

        ; print C, one row per line, values separated by spaces
        la   r9, mat_c          ; r9 = pointer to the next element
        li   r4, 0              ; r4 = i
prow:   li   r5, 0              ; r5 = j
pcol:   beqz r5, nosep
        li   r2, ' '
        out  0, r2
nosep:  fld  f0, [r9]
        li   r1, 4              ; 4 decimals
        hcall PUTFLOAT
        addi r9, r9, 8
        addi r5, r5, 1
        slti r8, r5, N
        bnez r8, pcol
        li   r2, '\n'
        out  0, r2
        addi r4, r4, 1
        slti r8, r4, N
        bnez r8, prow

        ; C[0][0] once more, with 17 decimals
        fld  f0, [mat_c]
        li   r1, 17
        hcall PUTFLOAT
        li   r2, '\n'
        out  0, r2
        li   r0, 0
        halt

        .data
mat_a:  .double 0.1, 0.2, 0.3
        .double 1.5, -2.25, 4
        .double -7.125, 3.3, 1e-3
mat_b:  .double 2, 0.5, -1
        .double 0.7, 10, 1.1
        .double -3.5, 0.25, 100.0
mat_c:  .zero N*N*8
