; floats: special float values and the formatting of hypercall 4 (PUTFLOAT)
;
; PUTFLOAT prints f0 like C's printf("%.*f", r1, f0), with r1 clamped to
; 0..17, and prints NaN as "nan" and infinities as "inf" / "-inf".
; Part 1 prints a table of (decimals, value) pairs, one "value" per line:
; exact rounding of the binary value (2.5 -> "2", 0.125 -> "0.12" since
; ties go to even and 0.125 is exact; 0.1 -> "0.10000000000000001"), clamping
; (r1 = 30 acts as 17, r1 = -5 as 0), negative zero, and large integers.
; Part 2 computes special values: float division by zero does not trap
; (1/0 = inf, -1/0 = -inf, 0/0 = nan), sqrt(-1) = nan, sqrt(-0.0) = -0.0,
; then `ftoi` truncation toward zero and `itof` rounding of 2^53 + 1.
;
; expect: exit=0

        .equ PUTFLOAT, 4

        .text
main:   la   r8, table
        la   r9, table_end
row:    ld   r1, [r8]           ; decimals
        fld  f0, [r8+8]         ; value
        hcall PUTFLOAT
        call newline
        addi r8, r8, 16
        bltu r8, r9, row

        li   r1, 3              ; 3 decimals for the computed values
        fli  f1, 1.0
        fli  f2, 0.0
        fdiv f0, f1, f2         ; 1/0
        hcall PUTFLOAT          ; inf
        call newline
        fneg f1, f1
        fdiv f0, f1, f2         ; -1/0
        hcall PUTFLOAT          ; -inf
        call newline
        fdiv f0, f2, f2         ; 0/0
        hcall PUTFLOAT          ; nan
        call newline
        fsqrt f0, f1            ; sqrt(-1)
        hcall PUTFLOAT          ; nan
        call newline
        fneg f3, f2             ; -0.0
        fsqrt f0, f3            ; sqrt(-0.0) = -0.0
        hcall PUTFLOAT          ; -0.000
        call newline
        fli  f0, 2
        fsqrt f0, f0
        li   r1, 17
        hcall PUTFLOAT          ; sqrt(2) = 1.41421356237309515
        call newline

        fli  f4, -2.7
        ftoi r4, f4             ; truncates toward zero: -2
        out  1, r4
        call newline
        li   r4, 9007199254740993  ; 2^53 + 1 is not representable ...
        itof f0, r4             ; ... so itof rounds it (to even) to 2^53
        li   r1, 0
        hcall PUTFLOAT          ; 9007199254740992
        call newline
        li   r0, 0
        halt

; newline: print '\n'. Clobbers r2.
newline:
        li   r2, '\n'
        out  0, r2
        ret

        .data
        .align 8
table:  .quad 0
        .double 2.5             ; "2"  (tie, rounds to even)
        .quad 0
        .double 3.5             ; "4"
        .quad 2
        .double 0.125           ; "0.12"
        .quad 2
        .double 0.375           ; "0.38"
        .quad 17
        .double 0.1             ; "0.10000000000000001"
        .quad 30
        .double 0.1             ; clamped to 17 decimals
        .quad -5
        .double 2.75            ; clamped to 0 decimals: "3"
        .quad 3
        .double -0.0            ; "-0.000"
        .quad 1
        .double -0.04           ; rounds to "-0.0"
        .quad 6
        .double 3.14159265358979
        .quad 0
        .double 1e23            ; the nearest double is 99999999999999991611392
        .quad 2
        .double 1180591620717411303424    ; 2^70, exact
        .quad 4
        .double inf
        .quad 4
        .double -nan            ; every NaN prints as "nan"
table_end:
