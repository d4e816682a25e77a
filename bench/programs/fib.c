/* fib: recursive Fibonacci; see fib.asm. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t fib(long n)
{
    if (n < 2)
        return (uint64_t)n;
    return fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 27;
    printf("%lld\n", (long long)fib(n));
    return 0;
}
