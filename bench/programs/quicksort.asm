; quicksort: sort N pseudo-random 64-bit integers with a recursive quicksort
;
; The array a[0..N) lives in memory after the program's data (8*N bytes;
; N <= ~120,000 with the default 1 MiB memory). It is filled by xorshift64
; (x ^= x << 13; x ^= x >> 7 (logical); x ^= x << 17; a[i] = x as signed),
; starting from x = 88172645463325252, then sorted in signed order by
; Hoare's partition with the middle element as pivot:
;   qs(lo, hi):  while lo < hi:
;     p = a[lo + (hi-lo)/2]; i = lo-1; j = hi+1
;     loop: do i++ while a[i] < p; do j-- while a[j] > p
;           if i >= j: break; swap a[i], a[j]
;     qs(lo, j); lo = j+1            (the second half is a loop, not a call)
; Then it checks the order and prints sum(a[i] * (i+1)) mod 2^64 as signed
; decimal. If the array is not sorted it prints "unsorted" and exits with 1.

        .equ N, 50000

        .text
main:   la   r9, array          ; r9 = &a[0]
        li   r10, N             ; r10 = N
        ; fill
        li   r3, 88172645463325252 ; r3 = x
        mov  r4, r9             ; r4 = &a[i]
        shli r5, r10, 3
        add  r11, r9, r5        ; r11 = &a[N]
        bge  r4, r11, sort
fill:   shli r6, r3, 13
        xor  r3, r3, r6
        shri r6, r3, 7
        xor  r3, r3, r6
        shli r6, r3, 17
        xor  r3, r3, r6
        sd   r3, [r4]
        addi r4, r4, 8
        blt  r4, r11, fill
sort:   mov  r1, r9
        subi r2, r11, 8         ; hi = &a[N-1]
        call qs
        ; check the order and compute the checksum
        li   r0, 0              ; r0 = checksum
        li   r4, 1              ; r4 = i + 1
        mov  r5, r9             ; r5 = &a[i]
        bge  r5, r11, print
        ld   r7, [r5]           ; r7 = a[i-1] (for i = 0: a[0] itself)
check:  ld   r6, [r5]
        blt  r6, r7, unsorted
        mul  r8, r6, r4
        add  r0, r0, r8
        mov  r7, r6
        addi r4, r4, 1
        addi r5, r5, 8
        blt  r5, r11, check
print:  out  1, r0
        li   r1, '\n'
        out  0, r1
        li   r0, 0
        halt
unsorted:
        li   r2, 'u'
        out  0, r2
        li   r2, 'n'
        out  0, r2
        li   r2, 's'
        out  0, r2
        li   r2, 'o'
        out  0, r2
        li   r2, 'r'
        out  0, r2
        li   r2, 't'
        out  0, r2
        li   r2, 'e'
        out  0, r2
        li   r2, 'd'
        out  0, r2
        li   r2, '\n'
        out  0, r2
        li   r0, 1
        halt

; qs(lo, hi): sort the inclusive range of pointers r1 = &a[lo], r2 = &a[hi].
; Clobbers r1..r7.
qs:     bge  r1, r2, qs_ret     ; while lo < hi
        sub  r3, r2, r1
        shri r3, r3, 4          ; (hi-lo)/2 elements
        shli r3, r3, 3
        add  r3, r1, r3
        ld   r3, [r3]           ; r3 = p = a[lo + (hi-lo)/2]
        subi r4, r1, 8          ; r4 = &a[i], i = lo-1
        addi r5, r2, 8          ; r5 = &a[j], j = hi+1
iloop:  addi r4, r4, 8          ; do i++
        ld   r6, [r4]
        blt  r6, r3, iloop      ; while a[i] < p
jloop:  subi r5, r5, 8          ; do j--
        ld   r7, [r5]
        blt  r3, r7, jloop      ; while a[j] > p
        bge  r4, r5, pdone      ; i >= j: partitioned
        sd   r7, [r4]           ; swap a[i], a[j]
        sd   r6, [r5]
        jmp  iloop
pdone:  push r2
        push r5
        mov  r2, r5
        call qs                 ; qs(lo, j)
        pop  r5
        pop  r2
        addi r1, r5, 8          ; lo = j+1
        jmp  qs
qs_ret: ret

        .data
        .align 8
array:                          ; 8*N bytes from here on (beyond the image)
