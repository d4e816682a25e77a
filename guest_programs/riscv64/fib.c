/* fib: recursive Fibonacci of N (default 20); deep call/return traffic through ra and the stack. */
#include <stdio.h>
#include <stdlib.h>

static long fib(long n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20;
    long result = fib(n);
    printf("fib(%ld) = %ld\n", n, result);
    return 0;
}
