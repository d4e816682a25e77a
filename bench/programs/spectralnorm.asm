; spectralnorm: the Computer Language Benchmarks Game spectral-norm
;
; The spectral norm of the infinite matrix A(i,j) = 1.0 / ((i+j)*(i+j+1)/2 + i + 1)
; cut to N x N, by 10 rounds of the power method (as the C program by
; Sebastien Loisel): u = 1.0...; 10 times { v = At*(A*u); u = At*(A*v) };
; then vBv = sum u[i]*v[i], vv = sum v[i]*v[i] (in index order, from 0.0);
; prints sqrt(vBv / vv) with "%.9f\n". A row sum is s = 0.0; s = s + A*x[j]
; for j = 0..N-1. u, v and a temporary vector live after the program's data
; (24*N bytes). Published output for N = 100: 1.274219991.

        .equ N, 100
        .equ PUTFLOAT, 4

        .text
main:   li   r10, N             ; r10 = N (kept)
        la   r11, vecs          ; r11 = u
        shli r12, r10, 3
        add  r12, r11, r12      ; r12 = v
        shli r13, r10, 3
        add  r13, r12, r13      ; r13 = tmp
        fli  f14, 1.0           ; f14 = 1.0 (kept)
        li   r4, 0
        bge  r4, r10, power
uinit:  shli r5, r4, 3
        add  r5, r11, r5
        fsd  f14, [r5]          ; u[i] = 1.0
        addi r4, r4, 1
        blt  r4, r10, uinit
power:  li   r14, 10            ; r14 = rounds left
round:  mov  r1, r11
        mov  r2, r12
        call atav               ; v = AtA u
        mov  r1, r12
        mov  r2, r11
        call atav               ; u = AtA v
        subi r14, r14, 1
        bnez r14, round
        fli  f1, 0.0            ; vBv
        fli  f2, 0.0            ; vv
        li   r4, 0
        bge  r4, r10, result
dots:   shli r5, r4, 3
        add  r6, r11, r5
        fld  f3, [r6]           ; u[i]
        add  r6, r12, r5
        fld  f4, [r6]           ; v[i]
        fmul f3, f3, f4
        fadd f1, f1, f3
        fmul f4, f4, f4
        fadd f2, f2, f4
        addi r4, r4, 1
        blt  r4, r10, dots
result: fdiv f0, f1, f2
        fsqrt f0, f0
        li   r1, 9
        hcall PUTFLOAT
        li   r1, '\n'
        out  0, r1
        li   r0, 0
        halt

; atav: r2 = At * (A * r1), through tmp (r13). Clobbers r1..r9, f1..f3.
atav:   push r2
        mov  r2, r13
        call av                 ; tmp = A * src
        pop  r2
        mov  r1, r13
        jmp  atv                ; dst = At * tmp (atv returns to our caller)

; av: r2[i] = sum_j A(i,j) * r1[j]. Clobbers r3..r9, f1..f3.
av:     li   r4, 0              ; r4 = i
        bge  r4, r10, av_end
av_i:   fli  f1, 0.0            ; s
        li   r5, 0              ; r5 = j
        mov  r6, r1             ; r6 = &x[j]
        addi r9, r4, 1          ; r9 = i + 1
av_j:   add  r7, r4, r5         ; k = i + j
        addi r8, r7, 1
        mul  r7, r7, r8
        divi r7, r7, 2
        add  r7, r7, r9         ; k*(k+1)/2 + i + 1
        itof f2, r7
        fdiv f2, f14, f2        ; A(i,j)
        fld  f3, [r6]
        fmul f2, f2, f3
        fadd f1, f1, f2
        addi r6, r6, 8
        addi r5, r5, 1
        blt  r5, r10, av_j
        shli r7, r4, 3
        add  r7, r2, r7
        fsd  f1, [r7]
        addi r4, r4, 1
        blt  r4, r10, av_i
av_end: ret

; atv: r2[i] = sum_j A(j,i) * r1[j]. Clobbers r3..r9, f1..f3.
atv:    li   r4, 0              ; r4 = i
        bge  r4, r10, atv_end
atv_i:  fli  f1, 0.0            ; s
        li   r5, 0              ; r5 = j
        mov  r6, r1             ; r6 = &x[j]
atv_j:  add  r7, r4, r5         ; k = j + i
        addi r8, r7, 1
        mul  r7, r7, r8
        divi r7, r7, 2
        add  r7, r7, r5
        addi r7, r7, 1          ; k*(k+1)/2 + j + 1
        itof f2, r7
        fdiv f2, f14, f2        ; A(j,i)
        fld  f3, [r6]
        fmul f2, f2, f3
        fadd f1, f1, f2
        addi r6, r6, 8
        addi r5, r5, 1
        blt  r5, r10, atv_j
        shli r7, r4, 3
        add  r7, r2, r7
        fsd  f1, [r7]
        addi r4, r4, 1
        blt  r4, r10, atv_i
atv_end:
        ret

        .data
        .align 8
vecs:                           ; u, v, tmp: 24*N bytes from here on (beyond the image)
