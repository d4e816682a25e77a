/* mandelbrot: iteration counts of an N x N Mandelbrot grid; see mandelbrot.asm. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <stdio.h>
#include <stdlib.h>

#define MAXITER 50

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200;
    long total = 0, inside = 0;
    for (long y = 0; y < n; y++) {
        double ci = 2.0 * (double)y / (double)n - 1.0;
        for (long x = 0; x < n; x++) {
            double cr = 2.0 * (double)x / (double)n - 1.5;
            double zr = 0.0, zi = 0.0, tr = 0.0, ti = 0.0;
            long i = 0;
            while (i < MAXITER && tr + ti <= 4.0) {
                zi = 2.0 * zr * zi + ci;
                zr = tr - ti + cr;
                tr = zr * zr;
                ti = zi * zi;
                i++;
            }
            total += i;
            inside += tr + ti <= 4.0;
        }
    }
    printf("%ld\n%ld\n", total, inside);
    return 0;
}
