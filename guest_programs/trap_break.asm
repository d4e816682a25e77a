; trap_break: the brk instruction stops the machine with trap BREAK
;
; `brk` is a breakpoint: it traps BREAK so that a debugger (or the user)
; can inspect the machine. The program prints a line, stops at `brk`, and
; never prints the second line.
;
; expect: trap=BREAK

        .text
main:   la   r1, s_before
        call puts
        li   r4, 7              ; some state to inspect at the breakpoint
        brk                     ; trap BREAK here
        la   r1, s_after        ; never reached
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
s_before: .asciz "before the breakpoint\n"
s_after:  .asciz "after the breakpoint\n"
