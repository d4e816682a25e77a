/* output_out: N lines "line <i>\n", one stdio call per byte or number; see output_out.asm. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 50000;
    for (long i = 1; i <= n; i++) {
        putchar('l');
        putchar('i');
        putchar('n');
        putchar('e');
        putchar(' ');
        printf("%ld", i);
        putchar('\n');
    }
    return 0;
}
