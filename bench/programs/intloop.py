"""intloop: a tight integer loop; see intloop.asm."""

import sys

M = (1 << 64) - 1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000000
    a = 0
    b = 0x9E3779B97F4A7C15
    i = n
    while i != 0:
        a = (a + i) & M
        b ^= a
        a = (a + (b >> 5)) & M
        i -= 1
    r = a ^ b
    if r >= 1 << 63:
        r -= 1 << 64
    print(r)


main()
