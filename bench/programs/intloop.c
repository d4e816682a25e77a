/* intloop: a tight integer loop; see intloop.asm. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    uint64_t a = 0, b = 0x9E3779B97F4A7C15ULL;
    for (uint64_t i = (uint64_t)n; i != 0; i--) {
        a += i;
        b ^= a;
        a += b >> 5;
    }
    printf("%lld\n", (long long)(a ^ b));
    return 0;
}
