/* sieve: the sieve of Eratosthenes below N, prints the count of primes; see sieve.asm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 500000;
    unsigned char *flags = malloc(n > 0 ? (size_t)n : 1);
    memset(flags, 0, n > 0 ? (size_t)n : 1);
    for (long i = 2; i * i < n; i++) {
        if (flags[i])
            continue;
        for (long j = i * i; j < n; j += i)
            flags[j] = 1;
    }
    long count = 0;
    for (long i = 2; i < n; i++)
        if (!flags[i])
            count++;
    printf("%ld\n", count);
    free(flags);
    return 0;
}
