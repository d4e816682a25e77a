/* matmul: N x N double matrix product, prints a checksum; see matmul.asm.
   Every float operation is done in the same order as the guest program. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100;
    size_t cells = n > 0 ? (size_t)(n * n) : 1;
    double *a = malloc(cells * sizeof(double));
    double *b = malloc(cells * sizeof(double));
    double *c = malloc(cells * sizeof(double));
    for (long i = 0; i < n; i++)
        for (long j = 0; j < n; j++) {
            a[i * n + j] = (double)((i + 2 * j) % 11) * 0.125 - 0.5;
            b[i * n + j] = (double)((3 * i + j) % 13) * 0.0625 + 0.1;
        }
    for (long i = 0; i < n; i++)
        for (long j = 0; j < n; j++) {
            double s = 0.0;
            for (long k = 0; k < n; k++) {
                double t = a[i * n + k] * b[k * n + j];
                s = s + t;
            }
            c[i * n + j] = s;
        }
    double total = 0.0;
    for (long i = 0; i < n * n; i++)
        total = total + c[i];
    printf("%.*f\n", 10, total);
    free(a);
    free(b);
    free(c);
    return 0;
}
