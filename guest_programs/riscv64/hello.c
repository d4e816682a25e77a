/* hello: print a greeting N times (default 1) and return 3, so a test sees main's status reach exit. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int times = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < times; i++)
        printf("Hello from RISC-V!\n");
    return 3;
}
