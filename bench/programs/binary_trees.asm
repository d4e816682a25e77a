; binary_trees: the Benchmarks Game's binary-trees, allocation and recursive tree walks
;
; With max = max(6, N): a "stretch" tree of depth max + 1 is built and checked (its node count), then
; a long-lived tree of depth max; then, for each depth d = 4, 6, ... max, 2^(max - d + 4) trees of
; depth d are built and checked; last, the long-lived tree is checked. N = 10 prints the published
; output. Nodes are two words (left, right; 0 in a leaf) taken from a bump heap after the program,
; which is rewound once a tree is checked: the memory of a tree is reused, as a collector would.
; make and check take the depth or node in r1 and preserve it; r14 is the heap's top.

        .equ N, 10
        .equ MIN_DEPTH, 4
        .equ STDOUT, 1
        .equ WRITE, 1
        .equ PUTINT, 3

        .text
main:   li   r8, N                      ; r8 = max depth
        li   r1, MIN_DEPTH + 2
        bge  r8, r1, sized
        mov  r8, r1
sized:  la   r14, heap
        mov  r13, r14                   ; r13 = where the heap rewinds to
        ; the stretch tree
        addi r1, r8, 1
        call make
        mov  r1, r0
        call check
        mov  r9, r0
        la   r2, s_stretch
        li   r3, s_stretch_end - s_stretch
        call puts
        addi r1, r8, 1
        hcall PUTINT
        call put_check
        mov  r1, r9
        hcall PUTINT
        call newline
        mov  r14, r13
        ; the long-lived tree
        mov  r1, r8
        call make
        mov  r12, r0                    ; r12 = its root
        mov  r13, r14                   ; the others rewind to above it
        li   r4, MIN_DEPTH              ; r4 = d
depths: li   r5, 1
        sub  r2, r8, r4
        addi r2, r2, MIN_DEPTH
        shl  r5, r5, r2                 ; r5 = iterations = 2^(max - d + min)
        li   r6, 0                      ; r6 = i
        li   r7, 0                      ; r7 = sum of the checks
trees:  mov  r14, r13
        mov  r1, r4
        call make
        mov  r1, r0
        call check
        add  r7, r7, r0
        addi r6, r6, 1
        blt  r6, r5, trees
        mov  r1, r5
        hcall PUTINT
        la   r2, s_trees
        li   r3, s_trees_end - s_trees
        call puts
        mov  r1, r4
        hcall PUTINT
        call put_check
        mov  r1, r7
        hcall PUTINT
        call newline
        addi r4, r4, 2
        ble  r4, r8, depths
        ; the long-lived tree, checked last
        mov  r1, r12
        call check
        mov  r9, r0
        la   r2, s_long
        li   r3, s_long_end - s_long
        call puts
        mov  r1, r8
        hcall PUTINT
        call put_check
        mov  r1, r9
        hcall PUTINT
        call newline
        li   r0, 0
        halt

; make(depth = r1) -> r0 = a new tree of that depth. Preserves r1; clobbers r2.
make:   mov  r0, r14
        addi r14, r14, 16
        beqz r1, leaf
        push r0
        push r1
        subi r1, r1, 1
        call make                       ; the left subtree
        ld   r2, [sp+8]
        sd   r0, [r2]
        call make                       ; the right subtree (r1 is still depth - 1)
        ld   r2, [sp+8]
        sd   r0, [r2+8]
        pop  r1
        pop  r0
        ret
leaf:   sd   r1, [r0]                   ; r1 = 0: no children
        sd   r1, [r0+8]
        ret

; check(node = r1) -> r0 = the number of nodes in the tree. Preserves r1; clobbers r2.
check:  ld   r2, [r1]
        beqz r2, one
        push r1
        mov  r1, r2
        call check                      ; the left subtree's count
        ld   r1, [sp]
        push r0
        ld   r1, [r1+8]
        call check                      ; the right subtree's count
        pop  r2
        add  r0, r0, r2
        addi r0, r0, 1
        pop  r1
        ret
one:    li   r0, 1
        ret

; puts(r2 = text, r3 = length); clobbers r0, r1.
puts:   li   r1, STDOUT
        hcall WRITE
        ret
put_check:
        la   r2, s_check
        li   r3, s_check_end - s_check
        jmp  puts
newline:
        li   r1, '\n'
        out  0, r1
        ret

        .data
s_stretch:      .ascii "stretch tree of depth "
s_stretch_end:
s_trees:        .ascii "\t trees of depth "
s_trees_end:
s_check:        .ascii "\t check: "
s_check_end:
s_long:         .ascii "long lived tree of depth "
s_long_end:
        .align 8
heap:
