; intmath: the corner cases of integer arithmetic
;
; Shows C-like division (`div` truncates toward zero, `rem` takes the sign of
; the dividend), the one overflowing division INT64_MIN / -1 (= INT64_MIN,
; remainder 0, no trap), shift amounts taken modulo 64, logical `shr` versus
; arithmetic `sar`, signed `slt` versus unsigned `sltu`, and wrap-around of
; `mul`, `add` and `neg`. Each line is "expression = value".
;
; expect: exit=0

        .equ INT64_MIN, -9223372036854775808
        .equ INT64_MAX, 9223372036854775807

        .text
main:   li   r4, 7
        li   r5, -7
        li   r6, 2
        li   r7, -2
        div  r3, r4, r6
        la   r1, s_d1
        call show               ; 7 / 2 = 3
        div  r3, r5, r6
        la   r1, s_d2
        call show               ; -7 / 2 = -3
        div  r3, r4, r7
        la   r1, s_d3
        call show               ; 7 / -2 = -3
        div  r3, r5, r7
        la   r1, s_d4
        call show               ; -7 / -2 = 3
        rem  r3, r4, r6
        la   r1, s_r1
        call show               ; 7 rem 2 = 1
        rem  r3, r5, r6
        la   r1, s_r2
        call show               ; -7 rem 2 = -1
        rem  r3, r4, r7
        la   r1, s_r3
        call show               ; 7 rem -2 = 1
        rem  r3, r5, r7
        la   r1, s_r4
        call show               ; -7 rem -2 = -1

        li   r8, INT64_MIN      ; needs the 16-byte liw form
        li   r9, -1
        div  r3, r8, r9
        la   r1, s_ovf_d
        call show               ; INT64_MIN / -1 = INT64_MIN
        rem  r3, r8, r9
        la   r1, s_ovf_r
        call show               ; INT64_MIN rem -1 = 0
        neg  r3, r8
        la   r1, s_neg
        call show               ; -INT64_MIN = INT64_MIN
        li   r10, INT64_MAX
        addi r3, r10, 1
        la   r1, s_add
        call show               ; INT64_MAX + 1 = INT64_MIN
        li   r10, 0x100000001
        mul  r3, r10, r10
        la   r1, s_mul
        call show               ; (2^32 + 1)^2 mod 2^64 = 2^33 + 1

        li   r10, 1
        li   r11, 65
        shl  r3, r10, r11
        la   r1, s_shl
        call show               ; 1 shl 65 = 2 (the amount is 65 mod 64 = 1)
        li   r10, -16
        shri r3, r10, 60
        la   r1, s_shr
        call show               ; -16 shr 60 = 15 (zeros shifted in)
        sari r3, r10, 2
        la   r1, s_sar
        call show               ; -16 sar 2 = -4 (sign bits shifted in)
        li   r10, -1
        li   r11, 1
        slt  r3, r10, r11
        la   r1, s_slt
        call show               ; -1 slt 1 = 1
        sltu r3, r10, r11
        la   r1, s_sltu
        call show               ; -1 sltu 1 = 0 (-1 is 2^64 - 1 unsigned)
        li   r0, 0
        halt

; show: print the string at r1, then r3 in decimal and a newline.
; Clobbers r1 and r2.
show:   lbu  r2, [r1]
        beqz r2, show_val
        out  0, r2
        addi r1, r1, 1
        jmp  show
show_val:
        out  1, r3
        li   r2, '\n'
        out  0, r2
        ret

        .data
s_d1:   .asciz "7 / 2 = "
s_d2:   .asciz "-7 / 2 = "
s_d3:   .asciz "7 / -2 = "
s_d4:   .asciz "-7 / -2 = "
s_r1:   .asciz "7 rem 2 = "
s_r2:   .asciz "-7 rem 2 = "
s_r3:   .asciz "7 rem -2 = "
s_r4:   .asciz "-7 rem -2 = "
s_ovf_d: .asciz "INT64_MIN / -1 = "
s_ovf_r: .asciz "INT64_MIN rem -1 = "
s_neg:  .asciz "-INT64_MIN = "
s_add:  .asciz "INT64_MAX + 1 = "
s_mul:  .asciz "(2^32 + 1) * (2^32 + 1) = "
s_shl:  .asciz "1 shl 65 = "
s_shr:  .asciz "-16 shr 60 = "
s_sar:  .asciz "-16 sar 2 = "
s_slt:  .asciz "-1 slt 1 = "
s_sltu: .asciz "-1 sltu 1 = "
