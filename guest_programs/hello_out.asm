; hello_out: print "Hello, world!" one byte at a time through the console port
;
; The first program to try. It walks a zero-terminated string in the data
; section with a byte load (lbu) and writes each byte with `out 0, rs`
; (port 0 is the console). It stops at the terminating zero and halts;
; halt's exit status is r0, which we set to 0.
;
; expect: exit=0

        .text
main:   la   r1, msg            ; r1 = address of the next byte to print
loop:   lbu  r2, [r1]           ; r2 = that byte, zero-extended
        beqz r2, done           ; the terminating zero ends the string
        out  0, r2              ; console: write the low byte of r2
        addi r1, r1, 1          ; advance to the next byte
        jmp  loop
done:   li   r0, 0              ; exit status 0
        halt

        .data
msg:    .asciz "Hello, world!\n"
