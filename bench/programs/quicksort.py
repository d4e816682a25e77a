"""quicksort: sort N pseudo-random 64-bit integers; see quicksort.asm."""

import sys

M = (1 << 64) - 1


def qs(a, lo, hi):
    while lo < hi:
        p = a[lo + (hi - lo) // 2]
        i = lo - 1
        j = hi + 1
        while True:
            i += 1
            while a[i] < p:
                i += 1
            j -= 1
            while a[j] > p:
                j -= 1
            if i >= j:
                break
            a[i], a[j] = a[j], a[i]
        qs(a, lo, j)
        lo = j + 1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    a = [0] * max(n, 0)
    x = 88172645463325252
    for i in range(n):
        x ^= (x << 13) & M
        x ^= x >> 7
        x ^= (x << 17) & M
        a[i] = x - (1 << 64) if x >> 63 else x
    qs(a, 0, n - 1)
    s = 0
    for i in range(n):
        if i > 0 and a[i] < a[i - 1]:
            sys.stdout.write("unsorted\n")
            sys.exit(1)
        s = (s + a[i] * (i + 1)) & M
    if s >> 63:
        s -= 1 << 64
    print(s)


main()
