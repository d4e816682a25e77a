; sieve: the sieve of Eratosthenes for the primes below 1000
;
; Shows byte memory access: one byte per number in a zero-filled array
; (.zero), marked with `sb` and tested with `lbu`. Prints the primes below
; 100 on one line, then how many primes there are below 1000 (168).
;
; expect: exit=0

        .equ N, 1000            ; sieve the numbers 0 .. N-1
        .equ SHOW, 100          ; print the primes below SHOW

        .text
main:   la   r8, composite      ; r8 = base of the array; composite[k] = 1 if k is not prime
        li   r9, N
        li   r10, 1             ; the value stored to mark a number
        ; --- mark the multiples of every prime i with i*i < N
        li   r4, 2              ; r4 = i
outer:  mul  r5, r4, r4         ; r5 = i*i
        bge  r5, r9, count      ; done once i*i >= N
        add  r6, r8, r4
        lbu  r6, [r6]
        bnez r6, next_i         ; i is composite: its multiples are already marked
inner:  add  r6, r8, r5         ; mark j = i*i, i*i + i, ... below N
        sb   r10, [r6]
        add  r5, r5, r4
        blt  r5, r9, inner
next_i: addi r4, r4, 1
        jmp  outer
        ; --- count the primes, printing the small ones
count:  li   r11, 0             ; r11 = number of primes found
        li   r12, 0             ; r12 = separator to print before the next prime (none yet)
        li   r13, SHOW
        li   r4, 2              ; r4 = k
scan:   add  r6, r8, r4
        lbu  r6, [r6]
        bnez r6, next_k         ; not a prime
        addi r11, r11, 1
        bge  r4, r13, next_k    ; too large to print
        beqz r12, nosep
        out  0, r12
nosep:  out  1, r4
        li   r12, ' '
next_k: addi r4, r4, 1
        blt  r4, r9, scan
        li   r2, '\n'
        out  0, r2
        out  1, r11             ; "168"
        la   r1, s_below
        call puts               ; " primes below 1000\n"
        li   r0, 0
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
s_below: .asciz " primes below 1000\n"
composite: .zero N
