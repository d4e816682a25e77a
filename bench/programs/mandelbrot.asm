; mandelbrot: iteration counts of an N x N Mandelbrot grid, prints two checksums
;
; The grid of the Benchmarks Game's mandelbrot (without the bitmap): for
; y, x in 0..N-1: ci = (2.0*y)/N - 1.0; cr = (2.0*x)/N - 1.5;
; zr = zi = tr = ti = 0.0; i = 0;
; while i < MAXITER and tr + ti <= 4.0:
;     zi = (2.0*zr)*zi + ci; zr = (tr - ti) + cr; tr = zr*zr; ti = zi*zi; i += 1
; Prints the sum of i over all points and, on a second line, the number of
; points that did not escape (tr + ti <= 4.0 at the end).

        .equ N, 200
        .equ MAXITER, 50

        .text
main:   li   r10, N
        li   r11, MAXITER
        itof f10, r10           ; f10 = N as a double
        fli  f11, 2.0
        fli  f12, 1.0
        fli  f13, 1.5
        fli  f14, 4.0
        li   r12, 0             ; r12 = total iterations
        li   r13, 0             ; r13 = points inside
        li   r4, 0              ; r4 = y
        bge  r4, r10, print
row:    itof f1, r4
        fmul f1, f11, f1
        fdiv f1, f1, f10
        fsub f1, f1, f12        ; f1 = ci
        li   r5, 0              ; r5 = x
col:    itof f2, r5
        fmul f2, f11, f2
        fdiv f2, f2, f10
        fsub f2, f2, f13        ; f2 = cr
        fli  f3, 0.0            ; zr
        fli  f4, 0.0            ; zi
        fli  f5, 0.0            ; tr
        fli  f6, 0.0            ; ti
        li   r6, 0              ; r6 = i
iter:   bge  r6, r11, stop      ; i < MAXITER
        fadd f7, f5, f6
        fle  r1, f7, f14
        beqz r1, stop           ; tr + ti <= 4.0
        fmul f7, f11, f3
        fmul f7, f7, f4
        fadd f4, f7, f1         ; zi = 2.0*zr*zi + ci
        fsub f7, f5, f6
        fadd f3, f7, f2         ; zr = tr - ti + cr
        fmul f5, f3, f3         ; tr = zr*zr
        fmul f6, f4, f4         ; ti = zi*zi
        addi r6, r6, 1
        jmp  iter
stop:   add  r12, r12, r6
        fadd f7, f5, f6
        fle  r1, f7, f14
        add  r13, r13, r1       ; inside if tr + ti <= 4.0
        addi r5, r5, 1
        blt  r5, r10, col
        addi r4, r4, 1
        blt  r4, r10, row
print:  out  1, r12
        li   r1, '\n'
        out  0, r1
        out  1, r13
        out  0, r1
        li   r0, 0
        halt
