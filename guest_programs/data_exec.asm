; data_exec: run machine code that lives in the data section
;
; Code and data share one memory, and any 8-byte aligned address can be
; executed. Part 1 calls a subroutine written directly as encoded bytes in
; .data (opcode, three register fields, then a 32-bit immediate).
; Part 2 generates code at run time, like a tiny JIT: it stores the words
; for `li r0, K` and `ret` into a zeroed buffer and calls it, then rewrites
; the same buffer with a different K and calls it again.
;
; Encodings used (byte 0 opcode, bytes 1-3 fields A B C, bytes 4-7 imm32):
;   li  rA, imm  = 0x04     out port, rA = 0x70 (port in imm)     ret = 0x44
;
; expect: exit=0

        .equ OP_LI, 0x04
        .equ OP_RET, 0x44

        .text
main:   ; --- 1. call the hand-encoded routine in .data
        la   r3, dcode
        callr r3                ; prints 1234
        li   r2, '\n'
        out  0, r2

        ; --- 2. generate `li r0, K; ret` and call it, for K = 100 then K = 200
        li   r4, 100            ; r4 = K
gen:    shli r5, r4, 32         ; imm32 goes in bytes 4..7
        ori  r5, r5, OP_LI      ; opcode in byte 0; fields A = r0, B = C = 0
        sd   r5, [jitbuf]
        li   r5, OP_RET
        sd   r5, [jitbuf+8]
        la   r3, jitbuf
        callr r3                ; r0 = K
        out  1, r0
        li   r2, '\n'
        out  0, r2
        addi r4, r4, 100
        li   r6, 200
        ble  r4, r6, gen
        li   r0, 0
        halt

        .data
        .align 8
dcode:  .byte 0x04, 1, 0, 0     ; li r1, 1234
        .word 1234
        .byte 0x70, 1, 0, 0     ; out 1, r1
        .word 1
        .byte 0x44, 0, 0, 0     ; ret
        .word 0
jitbuf: .zero 16                ; room for two instruction words
