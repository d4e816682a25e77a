"""mandelbrot: iteration counts of an N x N Mandelbrot grid; see mandelbrot.asm."""

import sys

MAXITER = 50


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    fn = float(n)
    total = 0
    inside = 0
    for y in range(n):
        ci = 2.0 * float(y) / fn - 1.0
        for x in range(n):
            cr = 2.0 * float(x) / fn - 1.5
            zr = zi = tr = ti = 0.0
            i = 0
            while i < MAXITER and tr + ti <= 4.0:
                zi = 2.0 * zr * zi + ci
                zr = tr - ti + cr
                tr = zr * zr
                ti = zi * zi
                i += 1
            total += i
            if tr + ti <= 4.0:
                inside += 1
    sys.stdout.write("%d\n%d\n" % (total, inside))  # noqa: UP031 (printf formatting, as in C)


main()
