"""matmul: N x N double matrix product, prints a checksum; see matmul.asm."""

import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    a = [0.0] * (n * n)
    b = [0.0] * (n * n)
    c = [0.0] * (n * n)
    for i in range(n):
        for j in range(n):
            a[i * n + j] = float((i + 2 * j) % 11) * 0.125 - 0.5
            b[i * n + j] = float((3 * i + j) % 13) * 0.0625 + 0.1
    for i in range(n):
        for j in range(n):
            s = 0.0
            for k in range(n):
                s = s + a[i * n + k] * b[k * n + j]
            c[i * n + j] = s
    total = 0.0
    for i in range(n * n):
        total = total + c[i]
    sys.stdout.write("%.*f\n" % (10, total))  # noqa: UP031 (printf formatting, as in C)


main()
