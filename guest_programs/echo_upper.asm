; echo_upper: copy standard input to standard output, upper-casing letters
;
; Shows console input: `in rd, 0` reads one byte of standard input (0..255),
; or -1 once the input is exhausted. Bytes 'a'..'z' are turned into 'A'..'Z'
; by subtracting 32; every other byte (digits, punctuation, newlines, bytes
; above 127) is copied unchanged. Uses unsigned compares for the range test.
; Reads echo_upper.in.
;
; expect: exit=0

        .text
main:   li   r5, 'z'-'a'        ; width of the lower-case range
loop:   in   r1, 0              ; r1 = next byte, or -1 at end of input
        li   r2, -1
        beq  r1, r2, done
        subi r3, r1, 'a'        ; r3 = offset from 'a' (huge unsigned if below 'a')
        bgtu r3, r5, emit       ; not a lower-case letter
        subi r1, r1, 'a'-'A'    ; to upper case
emit:   out  0, r1
        jmp  loop
done:   li   r0, 0
        halt
