/* args_stdin: prints argc, each argument, then standard input upper-cased; exits with the number of
 * input lines, so a test sees arguments, input and exit status arrive.  Its size is its input. */
#include <ctype.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("argc = %d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d] = \"%s\"\n", i, argv[i]);
    int c, lines = 0;
    while ((c = getchar()) != EOF) {
        putchar(toupper(c));
        lines += c == '\n';
    }
    return lines;
}
