/* quicksort: sort N pseudo-random 64-bit integers; see quicksort.asm. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void qs(int64_t *a, long lo, long hi)
{
    while (lo < hi) {
        int64_t p = a[lo + (hi - lo) / 2];
        long i = lo - 1, j = hi + 1;
        for (;;) {
            do i++; while (a[i] < p);
            do j--; while (a[j] > p);
            if (i >= j)
                break;
            int64_t t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        qs(a, lo, j);
        lo = j + 1;
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 50000;
    int64_t *a = malloc((n > 0 ? (size_t)n : 1) * sizeof *a);
    uint64_t x = 88172645463325252ULL;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        a[i] = (int64_t)x;
    }
    qs(a, 0, n - 1);
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        if (i > 0 && a[i] < a[i - 1]) {
            printf("unsorted\n");
            return 1;
        }
        sum += (uint64_t)a[i] * (uint64_t)(i + 1);
    }
    printf("%lld\n", (long long)sum);
    free(a);
    return 0;
}
