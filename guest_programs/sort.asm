; sort: insertion sort of a .quad array, printed before and after sorting
;
; Shows indexed 64-bit loads and stores (address = base + 8*i, with `shli`),
; signed comparison (`blt`/`bge`, so negative numbers sort first) and nested
; loops. The array includes duplicates and the extreme int64 values.
;
; expect: exit=0

        .equ COUNT, 16          ; number of values in the array

        .text
main:   la   r1, s_before
        call puts
        call print_array
        call isort
        la   r1, s_after
        call puts
        call print_array
        li   r0, 0
        halt

; isort: sort the array `values` (COUNT quads) in place, ascending, signed.
;   for i = 1 .. COUNT-1:
;       key = a[i]; j = i - 1
;       while j >= 0 and a[j] > key: a[j+1] = a[j]; j -= 1
;       a[j+1] = key
isort:  la   r8, values         ; r8 = base address
        li   r9, COUNT
        li   r4, 1              ; r4 = i
is_outer:
        bge  r4, r9, is_done
        shli r5, r4, 3
        add  r5, r8, r5         ; r5 = &a[i]
        ld   r6, [r5]           ; r6 = key
        subi r5, r5, 8          ; r5 = &a[j], j = i - 1
is_inner:
        bltu r5, r8, is_place   ; j < 0: pointer went below the base
        ld   r7, [r5]           ; r7 = a[j]
        bge  r6, r7, is_place   ; key >= a[j]: stop shifting
        sd   r7, [r5+8]         ; a[j+1] = a[j]
        subi r5, r5, 8          ; j -= 1
        jmp  is_inner
is_place:
        sd   r6, [r5+8]         ; a[j+1] = key
        addi r4, r4, 1
        jmp  is_outer
is_done:
        ret

; print_array: print the COUNT values separated by spaces, then a newline.
; Clobbers r2, r3, r4.
print_array:
        la   r3, values
        li   r4, COUNT
pa_loop:
        ld   r2, [r3]
        out  1, r2
        addi r3, r3, 8
        subi r4, r4, 1
        beqz r4, pa_end
        li   r2, ' '
        out  0, r2
        jmp  pa_loop
pa_end: li   r2, '\n'
        out  0, r2
        ret

; puts: print the zero-terminated string at r1. Clobbers r1 and r2.
puts:   lbu  r2, [r1]
        beqz r2, puts_end
        out  0, r2
        addi r1, r1, 1
        jmp  puts
puts_end:
        ret

        .data
s_before: .asciz "before: "
s_after:  .asciz "after:  "
        .align 8
values: .quad 31, -4, 159, 26, -535, 8979, 0, 3238, 46, -26
        .quad 433, 9223372036854775807, 7, -9223372036854775808, 26, 1
