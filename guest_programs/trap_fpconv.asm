; trap_fpconv: converting a too-large float to an integer traps FPCONV
;
; `ftoi` truncates toward zero. It works for any double inside the int64
; range, but NaN, the infinities and values outside [-2^63, 2^63) trap
; FPCONV. The program converts 3.99, -3.99 and 1e18 (printing 3, -3 and
; 1000000000000000000), then tries 1e19, which is above 2^63 (about 9.22e18).
;
; expect: trap=FPCONV

        .text
main:   la   r8, inputs         ; r8 = pointer into the table of doubles
        li   r2, '\n'
loop:   fld  f1, [r8]
        ftoi r5, f1             ; traps on the fourth value
        out  1, r5
        out  0, r2
        addi r8, r8, 8
        jmp  loop

        .data
inputs: .double 3.99, -3.99, 1e18, 1e19
