; selfmod: a program that rewrites its own code while it runs
;
; Code and data share one memory, so a store into the text changes the
; instructions that are fetched afterwards. Every instruction is one 8-byte
; word: byte 0 the opcode, bytes 1-3 the register fields, bytes 4-7 the
; signed 32-bit immediate. Four patches, each proven by the output:
;  1. the immediate of `li r0, 1` in a subroutine is overwritten with 42
;     (a 4-byte `sw` to label+4), so a second call returns 42;
;  2. the instruction right after the store (same straight-line run of code)
;     has its immediate patched before it executes;
;  3. a loop body's `addi` immediate is changed from 1 to 10 in the middle of
;     the loop, so the sum is 1 + 1 + 10 + 10 + 10 = 32;
;  4. a whole `brk` word is replaced with the encoding of `nop` (opcode 0x02,
;     all other bytes 0) before execution reaches it, so no trap happens.
;
; expect: exit=0

        .equ NOP_WORD, 0x02

        .text
main:   ; --- 1. patch a subroutine's immediate
        call getval             ; r0 = 1
        la   r1, s_p1
        call puts
        out  1, r0
        call newline
        li   r2, 42
        sw   r2, [getval+4]     ; the immediate field of `li r0, 1`
        call getval             ; r0 = 42 now
        la   r1, s_p1b
        call puts
        out  1, r0
        call newline

        ; --- 2. patch the very next instruction
        li   r2, 7
        sw   r2, [next_insn+4]
next_insn:
        li   r3, 0              ; executes as `li r3, 7`
        la   r1, s_p2
        call puts
        out  1, r3
        call newline

        ; --- 3. patch a loop body halfway through the loop
        li   r4, 0              ; r4 = i
        li   r5, 0              ; r5 = sum
        li   r6, 10             ; the new increment
loop:   li   r7, 2
        bne  r4, r7, step       ; at the start of iteration i = 2 ...
        sw   r6, [step+4]       ; ... the increment becomes 10
step:   addi r5, r5, 1
        addi r4, r4, 1
        slti r7, r4, 5
        bnez r7, loop
        la   r1, s_p3
        call puts
        out  1, r5              ; 32
        call newline

        ; --- 4. overwrite a brk with a nop before reaching it
        li   r2, NOP_WORD
        sd   r2, [trapdoor]     ; a full 8-byte instruction word
trapdoor:
        brk                     ; would trap BREAK if still here
        la   r1, s_p4
        call puts
        li   r0, 0
        halt

; getval: returns r0 = 1 (until patched)
getval: li   r0, 1
        ret

; puts: print the zero-terminated string at r1. Clobbers r1 and r2.
puts:   lbu  r2, [r1]
        beqz r2, puts_end
        out  0, r2
        addi r1, r1, 1
        jmp  puts
puts_end:
        ret

; newline: print '\n'. Clobbers r2.
newline:
        li   r2, '\n'
        out  0, r2
        ret

        .data
s_p1:   .asciz "getval() before patch: "
s_p1b:  .asciz "getval() after patch: "
s_p2:   .asciz "next instruction patched to load: "
s_p3:   .asciz "loop sum with increment patched from 1 to 10 at i=2: "
s_p4:   .asciz "brk replaced by nop: no trap\n"
