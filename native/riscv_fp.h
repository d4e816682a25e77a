/* RISC-V F and D arithmetic (unprivileged spec 20191213, chapters 11 and 12) for the hw engine.
 *
 * Python's float has one rounding mode and no exception flags; the guest needs binary32 and
 * binary64 in all five rounding modes with fcsr's flags, so the hw engine calls this instead.
 * Operands and results are register values: a float register's raw 64 bits (singles NaN-boxed)
 * or an integer register's value. The flags an operation raises are ORed into *fflags.
 * An op, fmt or rm out of range gives 0 and raises nothing: the caller decodes and traps those.
 */
#include <stdint.h>

/* fmt: the format of the floating-point operands (for CVT_FROM_*, of the result). */
#define VM_RV_FP_FMT_S 0
#define VM_RV_FP_FMT_D 1

/* rm: the static or already resolved dynamic rounding mode, as encoded in the instruction. */
#define VM_RV_FP_RNE 0
#define VM_RV_FP_RTZ 1
#define VM_RV_FP_RDN 2
#define VM_RV_FP_RUP 3
#define VM_RV_FP_RMM 4

/* fflags bits, in fcsr's order. */
#define VM_RV_FP_NV 0x10
#define VM_RV_FP_DZ 0x08
#define VM_RV_FP_OF 0x04
#define VM_RV_FP_UF 0x02
#define VM_RV_FP_NX 0x01

/* op: the operation. */
#define VM_RV_FP_ADD 0
#define VM_RV_FP_SUB 1
#define VM_RV_FP_MUL 2
#define VM_RV_FP_DIV 3
#define VM_RV_FP_SQRT 4
#define VM_RV_FP_MIN 5
#define VM_RV_FP_MAX 6
#define VM_RV_FP_MADD 7         /* a*b+c */
#define VM_RV_FP_MSUB 8         /* a*b-c */
#define VM_RV_FP_NMSUB 9        /* -(a*b)+c */
#define VM_RV_FP_NMADD 10       /* -(a*b)-c */
#define VM_RV_FP_SGNJ 11
#define VM_RV_FP_SGNJN 12
#define VM_RV_FP_SGNJX 13
#define VM_RV_FP_EQ 14
#define VM_RV_FP_LT 15
#define VM_RV_FP_LE 16
#define VM_RV_FP_CLASS 17
#define VM_RV_FP_CVT_W 18       /* float of format fmt -> integer */
#define VM_RV_FP_CVT_WU 19
#define VM_RV_FP_CVT_L 20
#define VM_RV_FP_CVT_LU 21
#define VM_RV_FP_CVT_FROM_W 22  /* integer a -> float of format fmt */
#define VM_RV_FP_CVT_FROM_WU 23
#define VM_RV_FP_CVT_FROM_L 24
#define VM_RV_FP_CVT_FROM_LU 25
#define VM_RV_FP_CVT_S_D 26     /* double a -> single; fmt ignored */
#define VM_RV_FP_CVT_D_S 27     /* single a -> double; fmt ignored */

int64_t vm_rv_fp(int32_t op, int32_t fmt, int64_t a, int64_t b, int64_t c, int32_t rm, int32_t *fflags);
