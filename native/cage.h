/* The cage: OS limits around one guest process, entered by the process itself before it runs the
 * guest (the os engine's executable, or a Python engine's child). */
#include <stdint.h>

#include "vm_state.h"

/* Protections, as bits of vm_state.protections. */
#define VM_CAGE_RLIMITS 1      /* CPU, address space, file size and open files limited */
#define VM_CAGE_NO_NEW_PRIVS 2 /* PR_SET_NO_NEW_PRIVS */
#define VM_CAGE_SECCOMP 4      /* system calls outside the runtime's list are refused */
#define VM_CAGE_USER_NS 8
#define VM_CAGE_NET_NS 16
#define VM_CAGE_PID_NS 32

/* Which runtime the system-call list is for. */
#define VM_CAGE_NATIVE 0 /* the os engine's executable: read, write, memory, signals, exit */
#define VM_CAGE_PYTHON 1 /* a CPython process that has imported everything it runs */

typedef struct {
    int64_t cpu_seconds;  /* 0: no limit */
    int64_t memory_bytes; /* RLIMIT_AS; 0: no limit */
    int64_t output_bytes; /* RLIMIT_FSIZE (the monitor also counts the pipe); 0: no limit */
    int64_t open_files;   /* RLIMIT_NOFILE; 0: no limit */
    int64_t runtime;      /* VM_CAGE_NATIVE or VM_CAGE_PYTHON */
} vm_cage_limits;

/* Enter the cage; returns the VM_CAGE_* bits in force. Limits that stop the guest later are
 * reported in `report` (stop VM_STOP_LIMIT) before the process ends. With a PID namespace the
 * caller continues as the first process of the namespace, and a waiting parent outside it passes
 * on how it ended. */
uint64_t vm_cage_enter(const vm_cage_limits *limits, vm_state *report);
