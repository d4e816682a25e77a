; exit_status: end the program with hypercall 0 (EXIT) and status 42
;
; `hcall 0` stops the machine with exit status r1 (unlike `halt`, whose
; status is r0). r0 is deliberately set to 7 to show that it is ignored.
;
; expect: exit=42

        .text
main:   la   r1, s_msg
        call puts
        li   r0, 7              ; not the exit status
        li   r1, 42             ; the exit status
        hcall 0                 ; EXIT
        la   r1, s_never        ; never reached
        call puts
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
s_msg:   .asciz "exiting with status 42\n"
s_never: .asciz "not reached\n"
