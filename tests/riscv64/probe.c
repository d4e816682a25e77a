/* A RISC-V program for the CLI tests, built at test time: argv[1] says what it does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "env") == 0) {
        const char *value = getenv(argv[2]);
        printf("%s=%s\n", argv[2], value ? value : "(unset)");
        return 0;
    }
    if (strcmp(what, "cat") == 0) {
        FILE *f = fopen(argv[2], "r");
        if (!f) {
            printf("cannot open %s\n", argv[2]);
            return 1;
        }
        int c;
        while ((c = fgetc(f)) != EOF)
            putchar(c);
        fclose(f);
        return 0;
    }
    if (strcmp(what, "null") == 0)
        return *(volatile int *)(argc > 99 ? argv : 0);
    if (strcmp(what, "syscall") == 0) {
        register long a7 asm("a7") = 1000;
        register long a0 asm("a0") = 0;
        asm volatile("ecall" : "+r"(a0) : "r"(a7));
        printf("syscall 1000 gave %ld\n", a0);
        return 0;
    }
    if (strcmp(what, "spin") == 0)
        for (;;)
            asm volatile("");
    printf("usage: probe env NAME | cat FILE | null | syscall | spin\n");
    return 2;
}
