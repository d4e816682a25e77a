/* binary_trees: the Benchmarks Game's binary-trees with the guest's bump heap; see binary_trees.asm. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct node {
    struct node *left, *right;
} node;

static node *heap, *top;

static node *make(long depth)
{
    node *n = top++;
    if (depth == 0) {
        n->left = n->right = NULL;
        return n;
    }
    n->left = make(depth - 1);
    n->right = make(depth - 1);
    return n;
}

static long check(const node *n)
{
    if (!n->left)
        return 1;
    return 1 + check(n->left) + check(n->right);
}

int main(int argc, char **argv)
{
    const long min_depth = 4;
    long n = argc > 1 ? atol(argv[1]) : 10;
    long max_depth = n > min_depth + 2 ? n : min_depth + 2;
    heap = top = malloc(sizeof(node) * ((size_t)4 << (max_depth + 1)));
    if (!heap)
        return 1;
    printf("stretch tree of depth %ld\t check: %ld\n", max_depth + 1, check(make(max_depth + 1)));
    top = heap;
    node *long_lived = make(max_depth);
    node *mark = top;
    for (long d = min_depth; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + min_depth), sum = 0;
        for (long i = 0; i < iterations; i++) {
            top = mark;
            sum += check(make(d));
        }
        printf("%ld\t trees of depth %ld\t check: %ld\n", iterations, d, sum);
    }
    printf("long lived tree of depth %ld\t check: %ld\n", max_depth, check(long_lived));
    free(heap);
    return 0;
}
