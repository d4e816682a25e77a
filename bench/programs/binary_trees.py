"""binary_trees: the Benchmarks Game's binary-trees; see binary_trees.asm. A node is (left, right)."""

import sys


def make(depth):
    if depth == 0:
        return (None, None)
    return (make(depth - 1), make(depth - 1))


def check(node):
    left, right = node
    if left is None:
        return 1
    return 1 + check(left) + check(right)


def main():
    min_depth = 4
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    max_depth = max(min_depth + 2, n)
    print(f"stretch tree of depth {max_depth + 1}\t check: {check(make(max_depth + 1))}")
    long_lived = make(max_depth)
    for d in range(min_depth, max_depth + 1, 2):
        iterations = 1 << (max_depth - d + min_depth)
        total = sum(check(make(d)) for _ in range(iterations))
        print(f"{iterations}\t trees of depth {d}\t check: {total}")
    print(f"long lived tree of depth {max_depth}\t check: {check(long_lived)}")


main()
