/* sort: merge sort of N (default 4000) pseudo-random 64-bit numbers from a fixed xorshift seed;
 * checks the order and prints a position-weighted checksum, so any misplaced element changes it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state = 0x9E3779B97F4A7C15u;

static uint64_t next_random(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static void merge_sort(int64_t *a, int64_t *tmp, long n)
{
    if (n < 2)
        return;
    long half = n / 2;
    merge_sort(a, tmp, half);
    merge_sort(a + half, tmp, n - half);
    long i = 0, j = half, k = 0;
    while (i < half && j < n)
        tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
    while (i < half)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    for (k = 0; k < n; k++)
        a[k] = tmp[k];
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 4000;
    int64_t *a = malloc(n * sizeof *a), *tmp = malloc(n * sizeof *tmp);
    if (!a || !tmp)
        return 1;
    for (long i = 0; i < n; i++)
        a[i] = (int64_t)next_random();
    merge_sort(a, tmp, n);
    uint64_t checksum = 0;
    for (long i = 0; i < n; i++) {
        if (i > 0 && a[i - 1] > a[i]) {
            printf("not sorted at %ld\n", i);
            return 2;
        }
        checksum = checksum * 31 + (uint64_t)a[i];
    }
    printf("sorted %ld numbers: min %lld, max %lld, checksum %016llx\n", n, (long long)a[0],
           (long long)a[n - 1], (unsigned long long)checksum);
    free(a);
    free(tmp);
    return 0;
}
