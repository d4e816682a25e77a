; nbody: the Computer Language Benchmarks Game n-body simulation
;
; Five bodies (the Sun and the four gas giants) as in the Benchmarks Game's
; C program (Christoph Bauer's, gcc #1). offset_momentum, print energy,
; advance(0.01) N times, print energy; both with "%.9f\n" (PUTFLOAT, 9
; decimals). Every float operation follows the reference C program's order:
;   advance, for each pair (b, b2):
;     dx = b.x - b2.x (dy, dz alike); distance = sqrt((dx*dx + dy*dy) + dz*dz)
;     mag = dt / ((distance*distance) * distance)
;     b.vx = b.vx - (dx*b2.mass)*mag  ...   b2.vx = b2.vx + (dx*b.mass)*mag ...
;   then for each body: x = x + dt*vx ...
;   energy: e = e + (0.5*mass) * ((vx*vx + vy*vy) + vz*vz);
;           for each pair: e = e - (b.mass*b2.mass) / distance
; Published output for N = 1000: -0.169075164 and -0.169087605.
; A body is 7 doubles (56 bytes): x, y, z, vx, vy, vz, mass.

        .equ N, 10000
        .equ PUTFLOAT, 4
        .equ NBODIES, 5
        .equ BSIZE, 56

        .text
main:   la   r9, bodies
        addi r9, r9, NBODIES*BSIZE ; r9 = end of the bodies (kept in every routine)
        ; solar_mass = 4*pi*pi; velocities are given per day: v *= days_per_year
        fli  f14, 3.141592653589793
        fli  f13, 4.0
        fmul f13, f13, f14
        fmul f13, f13, f14      ; f13 = solar_mass
        fli  f12, 365.24        ; f12 = days_per_year
        la   r1, bodies
init:   fld  f1, [r1+24]
        fmul f1, f1, f12
        fsd  f1, [r1+24]
        fld  f1, [r1+32]
        fmul f1, f1, f12
        fsd  f1, [r1+32]
        fld  f1, [r1+40]
        fmul f1, f1, f12
        fsd  f1, [r1+40]
        fld  f1, [r1+48]
        fmul f1, f1, f13
        fsd  f1, [r1+48]
        addi r1, r1, BSIZE
        blt  r1, r9, init

        ; offset_momentum
        fli  f1, 0.0            ; px
        fli  f2, 0.0            ; py
        fli  f3, 0.0            ; pz
        la   r1, bodies
om:     fld  f5, [r1+48]
        fld  f4, [r1+24]
        fmul f4, f4, f5
        fadd f1, f1, f4
        fld  f4, [r1+32]
        fmul f4, f4, f5
        fadd f2, f2, f4
        fld  f4, [r1+40]
        fmul f4, f4, f5
        fadd f3, f3, f4
        addi r1, r1, BSIZE
        blt  r1, r9, om
        la   r1, bodies
        fneg f1, f1
        fdiv f1, f1, f13
        fsd  f1, [r1+24]        ; sun.vx = -px / solar_mass
        fneg f2, f2
        fdiv f2, f2, f13
        fsd  f2, [r1+32]
        fneg f3, f3
        fdiv f3, f3, f13
        fsd  f3, [r1+40]

        call energy
        call print9
        li   r10, N             ; r10 = steps left
        fli  f15, 0.01          ; f15 = dt
        li   r2, 0
        bge  r2, r10, final
steps:  call advance
        subi r10, r10, 1
        bnez r10, steps
final:  call energy
        call print9
        li   r0, 0
        halt

; print9: print f0 with 9 decimals and a newline. Clobbers r1.
print9: li   r1, 9
        hcall PUTFLOAT
        li   r1, '\n'
        out  0, r1
        ret

; energy: f0 = the system's energy. Clobbers r1, r2, f1..f6.
energy: fli  f0, 0.0
        la   r1, bodies         ; r1 = b
e_i:    fli  f1, 0.5
        fld  f2, [r1+48]
        fmul f1, f1, f2         ; 0.5 * mass
        fld  f3, [r1+24]
        fmul f3, f3, f3         ; vx*vx
        fld  f4, [r1+32]
        fmul f4, f4, f4
        fadd f3, f3, f4         ; + vy*vy
        fld  f4, [r1+40]
        fmul f4, f4, f4
        fadd f3, f3, f4         ; + vz*vz
        fmul f1, f1, f3
        fadd f0, f0, f1
        addi r2, r1, BSIZE      ; r2 = b2
        bge  r2, r9, e_next
e_j:    fld  f3, [r1]
        fld  f4, [r2]
        fsub f3, f3, f4         ; dx
        fld  f4, [r1+8]
        fld  f5, [r2+8]
        fsub f4, f4, f5         ; dy
        fld  f5, [r1+16]
        fld  f6, [r2+16]
        fsub f5, f5, f6         ; dz
        fmul f3, f3, f3
        fmul f4, f4, f4
        fadd f3, f3, f4
        fmul f5, f5, f5
        fadd f3, f3, f5
        fsqrt f3, f3            ; distance
        fld  f4, [r1+48]
        fld  f5, [r2+48]
        fmul f4, f4, f5
        fdiv f4, f4, f3
        fsub f0, f0, f4         ; e -= (b.mass * b2.mass) / distance
        addi r2, r2, BSIZE
        blt  r2, r9, e_j
e_next: addi r1, r1, BSIZE
        blt  r1, r9, e_i
        ret

; advance: one step of dt = f15. Clobbers r1, r2, f1..f8.
advance:
        la   r1, bodies         ; r1 = b
a_i:    addi r2, r1, BSIZE      ; r2 = b2
        bge  r2, r9, a_next
a_j:    fld  f1, [r1]
        fld  f2, [r2]
        fsub f1, f1, f2         ; dx
        fld  f2, [r1+8]
        fld  f3, [r2+8]
        fsub f2, f2, f3         ; dy
        fld  f3, [r1+16]
        fld  f4, [r2+16]
        fsub f3, f3, f4         ; dz
        fmul f4, f1, f1
        fmul f5, f2, f2
        fadd f4, f4, f5
        fmul f5, f3, f3
        fadd f4, f4, f5
        fsqrt f4, f4            ; distance
        fmul f5, f4, f4
        fmul f5, f5, f4
        fdiv f5, f15, f5        ; mag = dt / (distance^3)
        fld  f6, [r2+48]        ; b2.mass
        fmul f7, f1, f6
        fmul f7, f7, f5
        fld  f8, [r1+24]
        fsub f8, f8, f7
        fsd  f8, [r1+24]        ; b.vx -= dx * b2.mass * mag
        fmul f7, f2, f6
        fmul f7, f7, f5
        fld  f8, [r1+32]
        fsub f8, f8, f7
        fsd  f8, [r1+32]        ; b.vy
        fmul f7, f3, f6
        fmul f7, f7, f5
        fld  f8, [r1+40]
        fsub f8, f8, f7
        fsd  f8, [r1+40]        ; b.vz
        fld  f6, [r1+48]        ; b.mass
        fmul f7, f1, f6
        fmul f7, f7, f5
        fld  f8, [r2+24]
        fadd f8, f8, f7
        fsd  f8, [r2+24]        ; b2.vx += dx * b.mass * mag
        fmul f7, f2, f6
        fmul f7, f7, f5
        fld  f8, [r2+32]
        fadd f8, f8, f7
        fsd  f8, [r2+32]        ; b2.vy
        fmul f7, f3, f6
        fmul f7, f7, f5
        fld  f8, [r2+40]
        fadd f8, f8, f7
        fsd  f8, [r2+40]        ; b2.vz
        addi r2, r2, BSIZE
        blt  r2, r9, a_j
a_next: addi r1, r1, BSIZE
        blt  r1, r9, a_i
        la   r1, bodies
a_pos:  fld  f1, [r1+24]
        fmul f1, f15, f1
        fld  f2, [r1]
        fadd f2, f2, f1
        fsd  f2, [r1]           ; x += dt * vx
        fld  f1, [r1+32]
        fmul f1, f15, f1
        fld  f2, [r1+8]
        fadd f2, f2, f1
        fsd  f2, [r1+8]         ; y += dt * vy
        fld  f1, [r1+40]
        fmul f1, f15, f1
        fld  f2, [r1+16]
        fadd f2, f2, f1
        fsd  f2, [r1+16]        ; z += dt * vz
        addi r1, r1, BSIZE
        blt  r1, r9, a_pos
        ret

        .data
        .align 8
; x, y, z, vx, vy, vz (per day, scaled at start), mass (in solar masses, scaled at start)
bodies: .double 0, 0, 0, 0, 0, 0, 1                                         ; sun
        .double 4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01 ; jupiter
        .double 1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05
        .double 9.54791938424326609e-04
        .double 8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01  ; saturn
        .double -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05
        .double 2.85885980666130812e-04
        .double 1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01 ; uranus
        .double 2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05
        .double 4.36624404335156298e-05
        .double 1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01  ; neptune
        .double 2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05
        .double 5.15138902046611451e-05
