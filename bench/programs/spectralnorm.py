"""spectralnorm: the Computer Language Benchmarks Game spectral-norm; see spectralnorm.asm."""

import sys
from math import sqrt


def eval_A(i, j):
    return 1.0 / float((i + j) * (i + j + 1) // 2 + i + 1)


def eval_A_times_u(n, u, Au):
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += eval_A(i, j) * u[j]
        Au[i] = s


def eval_At_times_u(n, u, Au):
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += eval_A(j, i) * u[j]
        Au[i] = s


def eval_AtA_times_u(n, u, AtAu, tmp):
    eval_A_times_u(n, u, tmp)
    eval_At_times_u(n, tmp, AtAu)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    u = [1.0] * n
    v = [0.0] * n
    tmp = [0.0] * n
    for _ in range(10):
        eval_AtA_times_u(n, u, v, tmp)
        eval_AtA_times_u(n, v, u, tmp)
    vBv = vv = 0.0
    for i in range(n):
        vBv += u[i] * v[i]
        vv += v[i] * v[i]
    sys.stdout.write("%.9f\n" % sqrt(vBv / vv))  # noqa: UP031 (printf formatting, as in C)


main()
