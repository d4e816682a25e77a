"""ackermann: A(2, N) and A(3, N); see ackermann.asm."""

import sys


def ack(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ack(m - 1, 1)
    return ack(m - 1, ack(m, n - 1))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    sys.setrecursionlimit(max(1000, 4 * 2 ** (n + 3)))  # A(3, n) nests 2^(n+3) calls deep
    print(ack(2, n))
    print(ack(3, n))


main()
