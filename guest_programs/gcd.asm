; gcd: greatest common divisor of several pairs with Euclid's algorithm
;
; Shows 64-bit loads from a table of .quad pairs in the data section, a
; subroutine, and the `rem` instruction: gcd(a, b) = gcd(b, a rem b) until
; b = 0. The loop walks the table with a pointer until it reaches the label
; that ends the table. Each line is "gcd(a, b) = g".
; The subroutines come first in the text: execution starts at `main`, not at
; the first instruction.
;
; expect: exit=0

        .text
; gcd(a, b): r1 = a, r2 = b (both >= 0), returns r0. Clobbers r1, r2, r3.
gcd:    beqz r2, gcd_end
        rem  r3, r1, r2         ; r3 = a mod b
        mov  r1, r2
        mov  r2, r3
        jmp  gcd
gcd_end:
        mov  r0, r1
        ret

; puts: print the zero-terminated string at r1. Clobbers r1 and r2.
puts:   lbu  r2, [r1]
        beqz r2, puts_end
        out  0, r2
        addi r1, r1, 1
        jmp  puts
puts_end:
        ret

main:   la   r8, pairs          ; r8 = pointer to the current pair
        la   r9, pairs_end
loop:   ld   r4, [r8]           ; a
        ld   r5, [r8+8]         ; b
        la   r1, s_gcd
        call puts               ; "gcd("
        out  1, r4
        la   r1, s_comma
        call puts               ; ", "
        out  1, r5
        la   r1, s_eq
        call puts               ; ") = "
        mov  r1, r4
        mov  r2, r5
        call gcd
        out  1, r0
        li   r2, '\n'
        out  0, r2
        addi r8, r8, 16         ; next pair
        bltu r8, r9, loop
        li   r0, 0
        halt

        .data
s_gcd:  .asciz "gcd("
s_comma: .asciz ", "
s_eq:   .asciz ") = "
        .align 8                ; the strings above leave the address unaligned
pairs:  .quad 48, 18
        .quad 1071, 462
        .quad 17, 5
        .quad 0, 7
        .quad 7, 0
        .quad 144, 144
        .quad 832040, 514229            ; consecutive Fibonacci numbers: the slowest case
        .quad 123456789012, 9876543210
        .quad 999999943999999559, 3000000021     ; 1000000007 * 999999937 and 1000000007 * 3
pairs_end:
