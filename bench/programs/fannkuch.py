"""fannkuch: the Computer Language Benchmarks Game fannkuch-redux; see fannkuch.asm."""

import sys


def fannkuchredux(n):
    perm = [0] * n
    perm1 = list(range(n))
    count = [0] * n
    max_flips = 0
    perm_count = 0
    checksum = 0
    r = n
    while True:
        while r != 1:
            count[r - 1] = r
            r -= 1
        perm[:] = perm1
        flips = 0
        k = perm[0]
        while k != 0:
            k2 = (k + 1) >> 1
            for i in range(k2):
                perm[i], perm[k - i] = perm[k - i], perm[i]
            flips += 1
            k = perm[0]
        if flips > max_flips:
            max_flips = flips
        checksum += flips if perm_count % 2 == 0 else -flips
        while True:
            if r == n:
                return checksum, max_flips
            perm0 = perm1[0]
            i = 0
            while i < r:
                j = i + 1
                perm1[i] = perm1[j]
                i = j
            perm1[r] = perm0
            count[r] -= 1
            if count[r] > 0:
                break
            r += 1
        perm_count += 1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    checksum, max_flips = fannkuchredux(n)
    sys.stdout.write("%d\nPfannkuchen(%d) = %d\n" % (checksum, n, max_flips))  # noqa: UP031 (printf formatting, as in C)


main()
