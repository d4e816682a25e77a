"""sieve: the sieve of Eratosthenes below N, prints the count of primes; see sieve.asm."""

import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500000
    flags = bytearray(max(n, 0))
    i = 2
    while i * i < n:
        if not flags[i]:
            j = i * i
            while j < n:
                flags[j] = 1
                j += i
        i += 1
    count = 0
    i = 2
    while i < n:
        if not flags[i]:
            count += 1
        i += 1
    print(count)


main()
