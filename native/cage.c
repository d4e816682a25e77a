/* The cage. See cage.h. */
#define _GNU_SOURCE
#include "cage.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAGE_EXIT 125 /* the exit status of a guest process that a limit stopped */

static vm_state *cage_report;

/* Async-signal-safe: what a handler may call. */
static void report_limit(int64_t limit, const char *what, long number) {
    if (!cage_report) return;
    char *d = cage_report->detail;
    size_t n = strlen(what);
    if (n > 400) n = 400;
    memcpy(d, what, n);
    if (number >= 0) {
        char digits[24];
        int k = 0;
        do { digits[k++] = (char)('0' + number % 10); number /= 10; } while (number && k < 23);
        d[n++] = ' ';
        while (k) d[n++] = digits[--k];
    }
    d[n] = 0;
    cage_report->code = limit;
    cage_report->stop = VM_STOP_LIMIT;
}

static void on_limit(int sig, siginfo_t *info, void *context) {
    (void)context;
    if (sig == SIGXCPU) report_limit(VM_LIMIT_CPU, "CPU time", -1);
    else if (sig == SIGXFSZ) report_limit(VM_LIMIT_OUTPUT, "output size", -1);
    else report_limit(VM_LIMIT_SYSCALL, "system call", info ? info->si_syscall : -1);
    _exit(CAGE_EXIT);
}

static int limit(int resource, int64_t soft, int64_t hard) {
    struct rlimit r = {(rlim_t)soft, (rlim_t)hard};
    return setrlimit(resource, &r);
}

/* Whole seconds of CPU the process has used so far (loading an engine, compiling), rounded up: the
   guest's CPU limit counts from the moment it enters the cage. */
static int64_t cpu_seconds_used(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    int64_t micros = (int64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
    return (micros + 999999) / 1000000;
}

static int set_limits(const vm_cage_limits *l) {
    int failed = limit(RLIMIT_CORE, 0, 0);
    int64_t cpu = l->cpu_seconds + cpu_seconds_used();
    if (l->cpu_seconds > 0) failed |= limit(RLIMIT_CPU, cpu, cpu + 1);
    if (l->memory_bytes > 0) failed |= limit(RLIMIT_AS, l->memory_bytes, l->memory_bytes);
    if (l->output_bytes > 0) failed |= limit(RLIMIT_FSIZE, l->output_bytes, l->output_bytes);
    if (l->open_files > 0) failed |= limit(RLIMIT_NOFILE, l->open_files, l->open_files);
    return failed == 0;
}

/* The parent outside a new PID namespace: wait for the guest and end as it ended. */
static void relay(pid_t child) {
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR) _exit(CAGE_EXIT);
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
}

static uint64_t enter_namespaces(void) {
    uint64_t bits = 0;
    if (geteuid() != 0 && unshare(CLONE_NEWUSER) == 0) bits |= VM_CAGE_USER_NS;
    if (unshare(CLONE_NEWNET) == 0) bits |= VM_CAGE_NET_NS;
    if (unshare(CLONE_NEWPID) == 0) {
        /* The relay holds the write end for its life: the guest sees it hang up if the relay was
           killed before the guest could ask to die with it. */
        int relay_alive[2];
        int watched = pipe2(relay_alive, O_CLOEXEC) == 0;
        pid_t child = fork();
        if (child > 0) {
            if (watched) close(relay_alive[0]);
            relay(child);
        }
        if (child == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* the relay is killed: so is the guest */
            if (watched) {
                close(relay_alive[1]);
                struct pollfd hangup = {relay_alive[0], 0, 0};
                if (poll(&hangup, 1, 0) != 0) _exit(CAGE_EXIT); /* killed before the line above (this is init: no SIGKILL) */
                close(relay_alive[0]);
            }
            bits |= VM_CAGE_PID_NS;
        }
        if (child < 0 && watched) {
            close(relay_alive[0]);
            close(relay_alive[1]);
        }
    }
    return bits;
}

#if defined(__x86_64__)
#define CAGE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CAGE_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef CAGE_ARCH
/* The system calls each runtime makes once it runs the guest. */
static const long NATIVE_CALLS[] = {
    SYS_read, SYS_write, SYS_exit, SYS_exit_group, SYS_rt_sigreturn, SYS_rt_sigaction,
    SYS_rt_sigprocmask, SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_clock_gettime,
    SYS_getpid, SYS_gettid, SYS_tgkill, SYS_restart_syscall, SYS_getrandom,
};
static const long PYTHON_CALLS[] = {
    SYS_close, SYS_fstat, SYS_lseek, SYS_ioctl, SYS_fcntl, SYS_futex, SYS_madvise, SYS_mprotect,
    SYS_sigaltstack, SYS_sched_yield, SYS_sched_getaffinity, SYS_getcwd,
    SYS_pread64, SYS_pwrite64, SYS_readv, SYS_writev, SYS_clock_nanosleep, SYS_getrusage,
    SYS_prlimit64, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid, SYS_dup, SYS_newfstatat,
    SYS_statx, SYS_ppoll, SYS_set_robust_list, SYS_rseq, SYS_membarrier, SYS_clock_getres,
    SYS_gettimeofday, SYS_uname,
#ifdef SYS_poll
    SYS_poll,
#endif
};

static int allow(struct sock_filter *f, int n, long nr) {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    return n;
}

static int enter_seccomp(int64_t runtime) {
    struct sock_filter f[256];
    int n = 0;
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CAGE_ARCH, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < sizeof NATIVE_CALLS / sizeof *NATIVE_CALLS; i++) n = allow(f, n, NATIVE_CALLS[i]);
    if (runtime == VM_CAGE_PYTHON)
        for (size_t i = 0; i < sizeof PYTHON_CALLS / sizeof *PYTHON_CALLS; i++) n = allow(f, n, PYTHON_CALLS[i]);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP); /* SIGSYS: on_limit */
    struct sock_fprog program = {(unsigned short)n, f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}
#else
static int enter_seccomp(int64_t runtime) {
    (void)runtime;
    return 0;
}
#endif

uint64_t vm_cage_enter(const vm_cage_limits *limits, vm_state *report) {
    uint64_t bits = 0;
    cage_report = report;
    /* The guest ends with the monitor that started it (`vm run`, a daemon's container thread): a killed
       daemon leaves no guest running that no one watches. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_limit;
    action.sa_flags = SA_SIGINFO;
    sigfillset(&action.sa_mask);
    sigaction(SIGXCPU, &action, NULL);
    sigaction(SIGXFSZ, &action, NULL);
    sigaction(SIGSYS, &action, NULL);
    if (set_limits(limits)) bits |= VM_CAGE_RLIMITS;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) bits |= VM_CAGE_NO_NEW_PRIVS;
    bits |= enter_namespaces();
    if (enter_seccomp(limits->runtime)) bits |= VM_CAGE_SECCOMP;
    if (report) report->protections = bits;
    return bits;
}
