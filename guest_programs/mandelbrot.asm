; mandelbrot: a 64x24 ASCII picture of the Mandelbrot set
;
; A float-heavy loop: for every character cell, c = cr + ci*i is the cell's
; point and z = z*z + c is iterated from z = 0 until |z|^2 > 4 or MAXITER
; iterations. The escape count picks a character from a palette; points that
; never escape print as '#'. Shows `itof`, `fli` float literals, `fmul`,
; `fadd`, `fsub` and the float compare `flt`.
; Exact operation order (a reference implementation must mirror it):
;   ci = row*DY + YMIN; cr = col*DX + XMIN; zr = zi = 0.0; n = 0
;   loop: zr2 = zr*zr; zi2 = zi*zi
;         if 4.0 < zr2 + zi2: stop;  if n == MAXITER: stop
;         t = zr*zi; t = t + t; zi = t + ci; zr = zr2 - zi2; zr = zr + cr; n += 1
;   character = '#' if n == MAXITER else palette[min(n, 13)]
;
; expect: exit=0

        .equ WIDTH, 64
        .equ HEIGHT, 24
        .equ MAXITER, 64
        .equ LASTPAL, 13        ; index of the last palette character

        .text
main:   fli  f10, 0.05          ; DX: real step per column
        fli  f11, -2.2          ; XMIN: real part of column 0
        fli  f12, 0.1           ; DY: imaginary step per row
        fli  f13, -1.2          ; YMIN: imaginary part of row 0
        fli  f14, 4.0           ; escape radius squared
        li   r7, MAXITER
        li   r8, LASTPAL
        la   r9, palette
        li   r4, 0              ; r4 = row
row:    itof f1, r4
        fmul f1, f1, f12
        fadd f1, f1, f13        ; f1 = ci
        li   r5, 0              ; r5 = col
col:    itof f2, r5
        fmul f2, f2, f10
        fadd f2, f2, f11        ; f2 = cr
        fli  f3, 0.0            ; f3 = zr
        fli  f4, 0.0            ; f4 = zi
        li   r6, 0              ; r6 = n
iter:   fmul f5, f3, f3         ; f5 = zr^2
        fmul f6, f4, f4         ; f6 = zi^2
        fadd f7, f5, f6
        flt  r10, f14, f7       ; r10 = 1 if 4.0 < |z|^2
        bnez r10, escaped
        beq  r6, r7, inside     ; n == MAXITER: assume the point is in the set
        fmul f7, f3, f4
        fadd f7, f7, f7         ; t = 2*zr*zi
        fadd f4, f7, f1         ; zi = t + ci
        fsub f3, f5, f6
        fadd f3, f3, f2         ; zr = zr^2 - zi^2 + cr
        addi r6, r6, 1
        jmp  iter
inside: li   r11, '#'
        jmp  plot
escaped:
        ble  r6, r8, pick       ; palette index = min(n, LASTPAL)
        mov  r6, r8
pick:   add  r11, r9, r6
        lbu  r11, [r11]
plot:   out  0, r11
        addi r5, r5, 1
        slti r10, r5, WIDTH
        bnez r10, col
        li   r11, '\n'
        out  0, r11
        addi r4, r4, 1
        slti r10, r4, HEIGHT
        bnez r10, row
        li   r0, 0
        halt

        .data
palette: .ascii " .,:;-=+*oO%&$"  ; escape after 0, 1, 2, ... 13 or more iterations
