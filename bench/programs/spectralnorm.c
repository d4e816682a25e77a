/* spectralnorm: the Computer Language Benchmarks Game spectral-norm
   (Sebastien Loisel's C program); see spectralnorm.asm. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double eval_A(long i, long j)
{
    return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1);
}

static void eval_A_times_u(long n, const double *u, double *Au)
{
    for (long i = 0; i < n; i++) {
        double s = 0.0;
        for (long j = 0; j < n; j++)
            s += eval_A(i, j) * u[j];
        Au[i] = s;
    }
}

static void eval_At_times_u(long n, const double *u, double *Au)
{
    for (long i = 0; i < n; i++) {
        double s = 0.0;
        for (long j = 0; j < n; j++)
            s += eval_A(j, i) * u[j];
        Au[i] = s;
    }
}

static void eval_AtA_times_u(long n, const double *u, double *AtAu, double *tmp)
{
    eval_A_times_u(n, u, tmp);
    eval_At_times_u(n, tmp, AtAu);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100;
    size_t cells = n > 0 ? (size_t)n : 1;
    double *u = malloc(cells * sizeof(double));
    double *v = malloc(cells * sizeof(double));
    double *tmp = malloc(cells * sizeof(double));
    for (long i = 0; i < n; i++)
        u[i] = 1.0;
    for (int i = 0; i < 10; i++) {
        eval_AtA_times_u(n, u, v, tmp);
        eval_AtA_times_u(n, v, u, tmp);
    }
    double vBv = 0.0, vv = 0.0;
    for (long i = 0; i < n; i++) {
        vBv += u[i] * v[i];
        vv += v[i] * v[i];
    }
    printf("%.9f\n", sqrt(vBv / vv));
    free(u);
    free(v);
    free(tmp);
    return 0;
}
