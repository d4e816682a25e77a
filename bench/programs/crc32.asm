; crc32: CRC-32 (zlib's: reflected polynomial 0xEDB88320, init and final
; xor 0xFFFFFFFF) of N bytes, table-driven; prints the CRC as unsigned decimal
;
; The bytes are generated in memory after the program's data:
; byte i = (i*31 + 7) & 255 (N bytes; N <= ~1,000,000 with the default 1 MiB
; memory). Then the 256-entry table is built bit by bit
; (c = c >> 1 ^ (0xEDB88320 if c & 1 else 0), 8 times from c = n) and
; crc = table[(crc ^ byte) & 255] ^ (crc >> 8) for every byte.

        .equ N, 500000

        .text
main:   li   r10, N
        la   r11, table         ; r11 = table (256 quads)
        addi r12, r11, 256*8    ; r12 = data
        add  r13, r12, r10      ; r13 = end of data
        ; generate the bytes
        li   r4, 7              ; r4 = i*31 + 7
        mov  r5, r12            ; r5 = &data[i]
        bge  r5, r13, mktab
gen:    sb   r4, [r5]           ; sb keeps the low 8 bits
        addi r4, r4, 31
        addi r5, r5, 1
        blt  r5, r13, gen
        ; build the table
mktab:  li   r9, 0xEDB88320     ; r9 = polynomial
        li   r4, 0              ; r4 = n
        mov  r5, r11            ; r5 = &table[n]
tabn:   mov  r1, r4             ; r1 = c
        li   r6, 8
tabk:   andi r2, r1, 1
        neg  r2, r2             ; all ones if c & 1
        and  r2, r2, r9
        shri r1, r1, 1
        xor  r1, r1, r2
        subi r6, r6, 1
        bnez r6, tabk
        sd   r1, [r5]
        addi r5, r5, 8
        addi r4, r4, 1
        slti r2, r4, 256
        bnez r2, tabn
        ; the CRC
        li   r1, 0xFFFFFFFF     ; r1 = crc
        mov  r5, r12
        bge  r5, r13, final
crc:    lbu  r2, [r5]
        xor  r2, r2, r1
        andi r2, r2, 255
        shli r2, r2, 3
        add  r2, r11, r2
        ld   r2, [r2]
        shri r1, r1, 8
        xor  r1, r1, r2
        addi r5, r5, 1
        blt  r5, r13, crc
final:  li   r2, 0xFFFFFFFF
        xor  r1, r1, r2
        out  1, r1
        li   r1, '\n'
        out  0, r1
        li   r0, 0
        halt

        .data
        .align 8
table:                          ; 2048 bytes of table, then N bytes of data (beyond the image)
