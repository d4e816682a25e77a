/* ackermann: A(2, N) and A(3, N); see ackermann.asm. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int64_t ack(int64_t m, int64_t n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 7;
    printf("%lld\n%lld\n", (long long)ack(2, n), (long long)ack(3, n));
    return 0;
}
