/* The state file of a guest run in a child process: this header, then guest memory.
 *
 * The monitor writes the machine into it and hands the child its descriptor; the child maps it,
 * runs the guest on that memory and writes the final state back into the header. A child that a
 * limit stops still leaves its memory there, and says which limit where it can.
 */
#include <stdint.h>

#define VM_STATE_MAGIC 0x3145544154534d56 /* "VMSTATE1", little-endian */
#define VM_STATE_BYTES 4096               /* the header's room: guest memory starts here */

/* How the run stopped (vm_state.stop). */
#define VM_STOP_RUNNING 0 /* the child never reported: it was killed, or crashed */
#define VM_STOP_EXIT 1    /* code: the exit status */
#define VM_STOP_TRAP 2    /* code: the trap (vm.isa.traps.Trap) */
#define VM_STOP_FUEL 3
#define VM_STOP_LIMIT 4   /* code: VM_LIMIT_* */
#define VM_STOP_ERROR 5   /* the engine failed: detail says why */

/* How the child treats its console (vm_state.console). */
#define VM_CONSOLE_LINES 1 /* someone watches it live (a daemon's logs): standard output is flushed at each newline */

/* The cage's limits, as vm_state.code of a VM_STOP_LIMIT. */
#define VM_LIMIT_CPU 1
#define VM_LIMIT_MEMORY 2
#define VM_LIMIT_OUTPUT 3
#define VM_LIMIT_SYSCALL 4 /* seccomp refused a system call; detail names its number */

/* What the os engine refused (vm_state.refusal, with VM_STOP_TRAP and UNSUPPORTED). */
#define VM_REFUSE_CODE_WRITE 1 /* a store into translated code at refusal_address */
#define VM_REFUSE_OUTSIDE 2    /* a jump outside the translated text, to pc */
#define VM_REFUSE_LITERAL 3    /* an instruction whose literal lies beyond the text */

typedef struct {
    uint64_t magic;
    uint64_t mem_size;
    int64_t fuel;             /* the budget of instructions (DEFAULT_FUEL where none is given) */
    uint64_t pc;
    int64_t retired;
    int64_t r[16];
    uint64_t f[16];           /* the float registers' bits */
    int64_t stop;             /* VM_STOP_* */
    int64_t code;
    int64_t refusal;          /* VM_REFUSE_* */
    uint64_t refusal_address;
    int64_t hypercalls;
    int64_t vm_exits;
    int64_t run_ns;           /* the guest's run time, measured in the child */
    uint64_t protections;     /* VM_CAGE_* bits that were in force */
    uint64_t console;         /* VM_CONSOLE_* bits, set by the monitor */
    int64_t input_consumed;   /* bytes of input the guest read in the child */
    char detail[512];
} vm_state;
