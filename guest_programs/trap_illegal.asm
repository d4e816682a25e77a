; trap_illegal: jump into zeroed memory and trap ILLEGAL
;
; Opcode 0x00 is not an instruction, so running into zero-filled memory
; traps ILLEGAL instead of silently executing garbage. The program prints a
; line, then jumps (with `jr`) to an 8-byte zero word in the data section.
; The trap is reported at that word's address; nothing after it runs.
;
; expect: trap=ILLEGAL

        .text
main:   la   r1, s_msg
        call puts
        la   r3, zeros
        jr   r3                 ; fetches the word 0: ILLEGAL
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
s_msg:  .asciz "jumping into zeroed memory\n"
s_never: .asciz "not reached\n"
        .align 8                ; an instruction fetch must be 8-byte aligned
zeros:  .zero 8
