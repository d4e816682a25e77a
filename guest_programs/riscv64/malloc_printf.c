/* malloc_printf: grows an array of N doubles (default 2000) with realloc, frees it, prints floats in
 * several printf formats and parses a few strings with strtod; the heap and libc's number conversions. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000;
    long capacity = 1;
    double *values = malloc(capacity * sizeof *values);
    if (!values)
        return 1;
    for (long i = 0; i < n; i++) {
        if (i == capacity) {
            capacity *= 2;
            double *grown = realloc(values, capacity * sizeof *values);
            if (!grown)
                return 1;
            values = grown;
        }
        values[i] = 1.0 / (i + 1);
    }
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += values[i];
    free(values);
    printf("harmonic(%ld) = %.15f, capacity %ld\n", n, sum, capacity);

    const double samples[] = {0.0, -0.0, 1.0, -2.5, 0.1, 3.141592653589793, 1e-300, 6.02214076e23, 1.0 / 3};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        double x = samples[i];
        printf("%f|%.3e|%g|%10.4f|%-12.2E|%+.0f|%a\n", x, x, x, x, x, x, x);
    }

    const char *texts[] = {"3.14159", "-2.5e-3", "1e308", "1e309", "0x1.8p1", "inf", "-nan", "  42abc", "", ".5e"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        char *end;
        double x = strtod(texts[i], &end);
        printf("strtod(\"%s\") = %.17g, %d chars read\n", texts[i], x, (int)(end - texts[i]));
    }
    return 0;
}
