/* output_write: N lines "line <i>\n", each built in a buffer and written with
   one fwrite; see output_write.asm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 50000;
    char buf[32] = "line ";
    char digits[24];
    for (long i = 1; i <= n; i++) {
        char *d = digits + sizeof digits;
        long v = i;
        do {
            *--d = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        size_t len = (size_t)(digits + sizeof digits - d);
        memcpy(buf + 5, d, len);
        buf[5 + len] = '\n';
        fwrite(buf, 1, 6 + len, stdout);
    }
    return 0;
}
