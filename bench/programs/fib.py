"""fib: recursive Fibonacci; see fib.asm."""

import sys


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 27
    r = fib(n) & ((1 << 64) - 1)
    if r >= 1 << 63:
        r -= 1 << 64
    print(r)


main()
