; wc: count the lines, words and bytes of standard input, like `wc`
;
; Shows hypercall 2 (READ): r1 = fd (0 = stdin), r2 = buffer, r3 = size;
; it returns in r0 the number of bytes read, fewer than asked only at the end
; of input, and 0 once the input is exhausted. The input is read in 64-byte
; chunks, so words can span two chunks. A word is a maximal run of bytes
; other than space, \t, \n, \v, \f and \r. Prints "lines words bytes".
; Reads wc.in.
;
; expect: exit=0

        .equ READ, 2
        .equ STDIN, 0
        .equ CHUNK, 64

        .text
main:   li   r8, 0              ; r8 = lines
        li   r9, 0              ; r9 = words
        li   r10, 0             ; r10 = bytes
        li   r11, 0             ; r11 = 1 while inside a word
chunk:  li   r1, STDIN
        la   r2, buf
        li   r3, CHUNK
        hcall READ              ; r0 = bytes read
        beqz r0, report         ; end of input
        add  r10, r10, r0
        la   r4, buf            ; r4 = pointer to the next byte
        add  r5, r4, r0         ; r5 = end of the valid bytes
byte:   lbu  r6, [r4]
        li   r7, '\n'
        bne  r6, r7, not_nl
        addi r8, r8, 1          ; count a line
not_nl: li   r7, ' '
        beq  r6, r7, space
        subi r7, r6, 9          ; \t \n \v \f \r are 9..13
        sltiu r7, r7, 5         ; r7 = 1 if 0 <= byte-9 < 5 (unsigned)
        bnez r7, space
        bnez r11, advance       ; continuing a word
        li   r11, 1             ; a word starts here
        addi r9, r9, 1
        jmp  advance
space:  li   r11, 0
advance:
        addi r4, r4, 1
        bltu r4, r5, byte
        jmp  chunk
report: li   r2, ' '
        out  1, r8
        out  0, r2
        out  1, r9
        out  0, r2
        out  1, r10
        li   r2, '\n'
        out  0, r2
        li   r0, 0
        halt

        .data
buf:    .zero CHUNK
