/* fannkuch: the Computer Language Benchmarks Game fannkuch-redux
   (Ledrug Katz's C program, gcc #1); see fannkuch.asm. */
#include <stdio.h>
#include <stdlib.h>

static long checksum;

static long fannkuchredux(long n)
{
    long *perm = malloc(n * sizeof(long));
    long *perm1 = malloc(n * sizeof(long));
    long *count = malloc(n * sizeof(long));
    long maxFlipsCount = 0, permCount = 0;
    long i, r;

    checksum = 0;
    for (i = 0; i < n; i += 1)
        perm1[i] = i;
    r = n;

    for (;;) {
        while (r != 1) {
            count[r - 1] = r;
            r -= 1;
        }
        for (i = 0; i < n; i += 1)
            perm[i] = perm1[i];
        long flipsCount = 0;
        long k;
        while (!((k = perm[0]) == 0)) {
            long k2 = (k + 1) >> 1;
            for (i = 0; i < k2; i++) {
                long temp = perm[i];
                perm[i] = perm[k - i];
                perm[k - i] = temp;
            }
            flipsCount += 1;
        }
        if (flipsCount > maxFlipsCount)
            maxFlipsCount = flipsCount;
        checksum += permCount % 2 == 0 ? flipsCount : -flipsCount;

        /* Use incremental change to generate another permutation */
        for (;;) {
            if (r == n) {
                free(perm);
                free(perm1);
                free(count);
                return maxFlipsCount;
            }
            long perm0 = perm1[0];
            i = 0;
            while (i < r) {
                long j = i + 1;
                perm1[i] = perm1[j];
                i = j;
            }
            perm1[r] = perm0;
            count[r] = count[r] - 1;
            if (count[r] > 0)
                break;
            r++;
        }
        permCount++;
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 8;
    long maxflips = fannkuchredux(n);
    printf("%ld\nPfannkuchen(%ld) = %ld\n", checksum, n, maxflips);
    return 0;
}
