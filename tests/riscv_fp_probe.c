/* Runs RISC-V F and D instructions for tests/test_riscv64_fp.py, to compare vm_rv_fp with a reference.
 *
 * Built for riscv64 and run under qemu-riscv64. Each input line is "op fmt a b c rm" (op, fmt and rm
 * in decimal as in native/riscv_fp.h, the operands as 64-bit hex register values); each output line
 * is "result fflags" in hex. The rounding mode is static in the instruction, so every (op, rm) pair
 * is its own piece of inline assembly.
 */
#include <stdint.h>
#include <stdio.h>

#include "riscv_fp.h"

/* Shapes: the kinds of registers read and written. fflags is cleared just before the instruction. */
#define F_FF(insn, rms)                                                                                 \
    __asm__ volatile("fmv.d.x ft1, %2\n\tfmv.d.x ft2, %3\n\tcsrw fflags, zero\n\t" insn " ft0, ft1, ft2" rms \
                     "\n\tcsrr %1, fflags\n\tfmv.x.d %0, ft0"                                            \
                     : "=&r"(result), "=&r"(flags)                                                       \
                     : "r"(a), "r"(b)                                                                    \
                     : "ft0", "ft1", "ft2")
#define F_FFF(insn, rms)                                                                                \
    __asm__ volatile("fmv.d.x ft1, %2\n\tfmv.d.x ft2, %3\n\tfmv.d.x ft3, %4\n\tcsrw fflags, zero\n\t" insn  \
                     " ft0, ft1, ft2, ft3" rms "\n\tcsrr %1, fflags\n\tfmv.x.d %0, ft0"                  \
                     : "=&r"(result), "=&r"(flags)                                                       \
                     : "r"(a), "r"(b), "r"(c)                                                            \
                     : "ft0", "ft1", "ft2", "ft3")
#define F_F(insn, rms)                                                                                  \
    __asm__ volatile("fmv.d.x ft1, %2\n\tcsrw fflags, zero\n\t" insn " ft0, ft1" rms                     \
                     "\n\tcsrr %1, fflags\n\tfmv.x.d %0, ft0"                                            \
                     : "=&r"(result), "=&r"(flags)                                                       \
                     : "r"(a)                                                                            \
                     : "ft0", "ft1")
#define X_FF(insn, rms)                                                                                 \
    __asm__ volatile("fmv.d.x ft1, %2\n\tfmv.d.x ft2, %3\n\tcsrw fflags, zero\n\t" insn " %0, ft1, ft2" rms \
                     "\n\tcsrr %1, fflags"                                                               \
                     : "=&r"(result), "=&r"(flags)                                                       \
                     : "r"(a), "r"(b)                                                                    \
                     : "ft1", "ft2")
#define X_F(insn, rms)                                                                                  \
    __asm__ volatile("fmv.d.x ft1, %2\n\tcsrw fflags, zero\n\t" insn " %0, ft1" rms "\n\tcsrr %1, fflags" \
                     : "=&r"(result), "=&r"(flags)                                                       \
                     : "r"(a)                                                                            \
                     : "ft1")
#define F_X(insn, rms)                                                                                  \
    __asm__ volatile("csrw fflags, zero\n\t" insn " ft0, %2" rms "\n\tcsrr %1, fflags\n\tfmv.x.d %0, ft0" \
                     : "=&r"(result), "=&r"(flags)                                                       \
                     : "r"(a)                                                                            \
                     : "ft0")

#define WITH_RM(SHAPE, insn)                                                                            \
    switch (rm) {                                                                                       \
    case VM_RV_FP_RNE: SHAPE(insn, ", rne"); break;                                                     \
    case VM_RV_FP_RTZ: SHAPE(insn, ", rtz"); break;                                                     \
    case VM_RV_FP_RDN: SHAPE(insn, ", rdn"); break;                                                     \
    case VM_RV_FP_RUP: SHAPE(insn, ", rup"); break;                                                     \
    default: SHAPE(insn, ", rmm"); break;                                                               \
    }
#define NO_RM(SHAPE, insn) SHAPE(insn, "")
#define BY_FMT(SHAPE, RM, single, dbl)                                                                  \
    if (fmt == VM_RV_FP_FMT_D) {                                                                        \
        RM(SHAPE, dbl);                                                                                 \
    } else {                                                                                            \
        RM(SHAPE, single);                                                                              \
    }
/* int32 -> single rounds; int32 -> double is always exact, and the assembler takes no mode there. */
#define BY_FMT_SINGLE_ROUNDS(SHAPE, single, dbl)                                                        \
    if (fmt == VM_RV_FP_FMT_D) {                                                                        \
        NO_RM(SHAPE, dbl);                                                                              \
    } else {                                                                                            \
        WITH_RM(SHAPE, single);                                                                         \
    }

int main(void) {
    int op, fmt, rm;
    uint64_t a, b, c;
    while (scanf("%d %d %lx %lx %lx %d", &op, &fmt, &a, &b, &c, &rm) == 6) {
        uint64_t result = 0, flags = 0;
        switch (op) {
        case VM_RV_FP_ADD: BY_FMT(F_FF, WITH_RM, "fadd.s", "fadd.d") break;
        case VM_RV_FP_SUB: BY_FMT(F_FF, WITH_RM, "fsub.s", "fsub.d") break;
        case VM_RV_FP_MUL: BY_FMT(F_FF, WITH_RM, "fmul.s", "fmul.d") break;
        case VM_RV_FP_DIV: BY_FMT(F_FF, WITH_RM, "fdiv.s", "fdiv.d") break;
        case VM_RV_FP_SQRT: BY_FMT(F_F, WITH_RM, "fsqrt.s", "fsqrt.d") break;
        case VM_RV_FP_MIN: BY_FMT(F_FF, NO_RM, "fmin.s", "fmin.d") break;
        case VM_RV_FP_MAX: BY_FMT(F_FF, NO_RM, "fmax.s", "fmax.d") break;
        case VM_RV_FP_MADD: BY_FMT(F_FFF, WITH_RM, "fmadd.s", "fmadd.d") break;
        case VM_RV_FP_MSUB: BY_FMT(F_FFF, WITH_RM, "fmsub.s", "fmsub.d") break;
        case VM_RV_FP_NMSUB: BY_FMT(F_FFF, WITH_RM, "fnmsub.s", "fnmsub.d") break;
        case VM_RV_FP_NMADD: BY_FMT(F_FFF, WITH_RM, "fnmadd.s", "fnmadd.d") break;
        case VM_RV_FP_SGNJ: BY_FMT(F_FF, NO_RM, "fsgnj.s", "fsgnj.d") break;
        case VM_RV_FP_SGNJN: BY_FMT(F_FF, NO_RM, "fsgnjn.s", "fsgnjn.d") break;
        case VM_RV_FP_SGNJX: BY_FMT(F_FF, NO_RM, "fsgnjx.s", "fsgnjx.d") break;
        case VM_RV_FP_EQ: BY_FMT(X_FF, NO_RM, "feq.s", "feq.d") break;
        case VM_RV_FP_LT: BY_FMT(X_FF, NO_RM, "flt.s", "flt.d") break;
        case VM_RV_FP_LE: BY_FMT(X_FF, NO_RM, "fle.s", "fle.d") break;
        case VM_RV_FP_CLASS: BY_FMT(X_F, NO_RM, "fclass.s", "fclass.d") break;
        case VM_RV_FP_CVT_W: BY_FMT(X_F, WITH_RM, "fcvt.w.s", "fcvt.w.d") break;
        case VM_RV_FP_CVT_WU: BY_FMT(X_F, WITH_RM, "fcvt.wu.s", "fcvt.wu.d") break;
        case VM_RV_FP_CVT_L: BY_FMT(X_F, WITH_RM, "fcvt.l.s", "fcvt.l.d") break;
        case VM_RV_FP_CVT_LU: BY_FMT(X_F, WITH_RM, "fcvt.lu.s", "fcvt.lu.d") break;
        case VM_RV_FP_CVT_FROM_W: BY_FMT_SINGLE_ROUNDS(F_X, "fcvt.s.w", "fcvt.d.w") break;
        case VM_RV_FP_CVT_FROM_WU: BY_FMT_SINGLE_ROUNDS(F_X, "fcvt.s.wu", "fcvt.d.wu") break;
        case VM_RV_FP_CVT_FROM_L: BY_FMT(F_X, WITH_RM, "fcvt.s.l", "fcvt.d.l") break;
        case VM_RV_FP_CVT_FROM_LU: BY_FMT(F_X, WITH_RM, "fcvt.s.lu", "fcvt.d.lu") break;
        case VM_RV_FP_CVT_S_D: WITH_RM(F_F, "fcvt.s.d") break;
        case VM_RV_FP_CVT_D_S: NO_RM(F_F, "fcvt.d.s"); break;
        default: return 2;
        }
        printf("%016lx %lx\n", (unsigned long)result, (unsigned long)flags);
    }
    return 0;
}
