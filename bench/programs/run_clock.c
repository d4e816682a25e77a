/* run_clock.c: linked into every C twin by `vm bench`. It writes the time from just before main to
   just after it (output flushed) to standard error, so that the C timings leave out starting and
   ending the process, as the engines' run times do. Standard output is untouched. */
#include <stdio.h>
#include <time.h>

static struct timespec started;

__attribute__((constructor)) static void start_clock(void)
{
    clock_gettime(CLOCK_MONOTONIC, &started);
}

__attribute__((destructor)) static void report_run_time(void)
{
    struct timespec ended;
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &ended);
    long long ns = (ended.tv_sec - started.tv_sec) * 1000000000LL + (ended.tv_nsec - started.tv_nsec);
    fprintf(stderr, "run_clock_ns %lld\n", ns);
}
