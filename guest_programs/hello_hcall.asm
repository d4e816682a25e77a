; hello_hcall: print "Hello, world!" with a single WRITE hypercall
;
; Instead of a byte loop, the whole buffer is handed to the monitor with
; hypercall 1 (WRITE): r1 = file descriptor (1 = stdout), r2 = address,
; r3 = length in bytes. The length is computed by the assembler as the
; difference of two labels. WRITE returns the number of bytes written in r0;
; the program checks it and exits with 0 on success (1 otherwise).
;
; expect: exit=0

        .equ STDOUT, 1
        .equ WRITE, 1

        .text
main:   li    r1, STDOUT        ; fd
        la    r2, msg           ; buffer address
        li    r3, msg_end-msg   ; buffer length (14)
        hcall WRITE             ; r0 = bytes written
        li    r4, msg_end-msg
        bne   r0, r4, failed    ; WRITE should report the full length
        li    r0, 0
        halt
failed: li    r0, 1
        halt

        .data
msg:    .ascii "Hello, world!\n"
msg_end:
