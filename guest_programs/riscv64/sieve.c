/* sieve: the primes below N (default 30000) by Eratosthenes; prints their count, sum and the last one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long limit = argc > 1 ? atol(argv[1]) : 30000;
    if (limit <= 2) {
        printf("no primes below %ld\n", limit);
        return 0;
    }
    unsigned char *composite = calloc(limit, 1);
    if (!composite)
        return 1;
    for (long i = 2; i * i < limit; i++)
        if (!composite[i])
            for (long j = i * i; j < limit; j += i)
                composite[j] = 1;
    long count = 0, sum = 0, last = 0;
    for (long i = 2; i < limit; i++)
        if (!composite[i]) {
            count++;
            sum += i;
            last = i;
        }
    printf("primes below %ld: count %ld, sum %ld, largest %ld\n", limit, count, sum, last);
    free(composite);
    return 0;
}
