/* Host services of the vm monitor: hypercalls and guest I/O, shared by every engine.
 *
 * All guest output (device port writes and hypercalls alike) goes through one buffer per stream,
 * so it reaches the host in program order; all guest input comes from one input stream.
 * The hw engine calls these through cffi; the para engine's native code calls them by address.
 */
#include <stdint.h>

typedef struct vm_host vm_host;

/* Results of vm_hypercall. Trap numbers match vm.isa.traps.Trap. */
#define VM_HC_DONE 0        /* completed; r0 unchanged */
#define VM_HC_RESULT 1      /* completed; *r0 holds the result */
#define VM_HC_EXIT 100      /* the guest asked to stop; *r0 holds the exit status */
#define VM_TRAP_MEMFAULT 2
#define VM_TRAP_BADHCALL 7
#define VM_TRAP_UNSUPPORTED 10 /* a write into protected (translated) memory */

/* in_fd < 0: input comes only from vm_host_feed; out_fd < 0: output is captured in memory. */
vm_host *vm_host_new(int in_fd, int out_fd, int err_fd);
void vm_host_free(vm_host *host);
void vm_host_feed(vm_host *host, const uint8_t *data, int64_t n); /* preload input (captured mode) */
void vm_host_protect(vm_host *host, uint64_t lo, uint64_t hi);    /* guest writes here are refused */
int vm_host_flush(vm_host *host);
void vm_host_flush_lines(vm_host *host, int on); /* flush standard output at each newline */
int64_t vm_host_captured(vm_host *host, int fd, const uint8_t **data);
int64_t vm_host_written(vm_host *host, int fd); /* bytes the guest wrote to fd 1 or 2 so far */
int64_t vm_host_hypercalls(vm_host *host);
int64_t vm_host_input_consumed(vm_host *host); /* bytes of input the guest has read so far */
int vm_host_rewind_input(vm_host *host, int64_t consumed); /* fed input only: read again from there */

/* Device port helpers for the monitor. */
void vm_put_byte(vm_host *host, int64_t value);
void vm_put_int(vm_host *host, int64_t value);
int64_t vm_get_byte(vm_host *host);

/* A system call's write to fd 1 or 2 (-1 for another fd) and read of the input stream: the same
 * buffers and input as the hypercalls. vm_host_read returns what one read gives, 0 at end of input. */
int64_t vm_host_write(vm_host *host, int64_t fd, const uint8_t *data, int64_t n);
int64_t vm_host_read(vm_host *host, uint8_t *buf, int64_t n);

/* hypercall n with arguments r1, r2, r3 and f0, on guest memory mem[0 .. mem_size).
 * Addresses are guest addresses; buffers must lie wholly inside [0x1000, mem_size). */
int64_t vm_hypercall(int64_t host, int64_t n, int64_t r1, int64_t r2, int64_t r3, double f0,
                     int64_t mem, int64_t mem_size, int64_t r0_out);

/* Fused multiply-add (one rounding), the `fma` function of the semantics language. */
double vm_fma(double a, double b, double c);

/* The float formatting of PUTFLOAT, exposed for tests: writes at most cap bytes, returns length. */
int64_t vm_format_float(double value, int64_t precision, char *out, int64_t cap);

/* The lowest address of the calling thread's stack, or 0 where the platform cannot tell: native
 * code must not nest its calls below it (the para engine keeps a margin above it). */
uint64_t vm_stack_low(void);
