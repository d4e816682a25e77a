/* RISC-V F and D arithmetic: see riscv_fp.h.
 *
 * The four rounding modes the host has (RNE, RTZ, RDN, RUP) run on the host's own arithmetic under
 * <fenv.h>, whose exception flags match the spec's (x86 and RISC-V both detect tininess after rounding).
 * RMM, which the host lacks, is computed in binary128 with round-to-odd (truncate, then set the last
 * bit if anything was lost): 113 bits is more than two bits wider than a double, so rounding that value
 * once more, to nearest with ties away, gives the correctly rounded result (Boldo and Melquiond).
 * NaN operands, the sign-injections, compares, min/max and fclass work on the bits.
 */
#pragma STDC FENV_ACCESS ON

#include "riscv_fp.h"

#include <fenv.h>
#include <math.h>
#include <string.h>

typedef unsigned __int128 u128;

#define BOX_BITS 0xFFFFFFFF00000000ull
#define CANONICAL_NAN_S 0x7fc00000ull
#define CANONICAL_NAN_D 0x7ff8000000000000ull

/* The layout of binary32 and binary64, indexed by fmt. */
static const int PRECISION[2] = {24, 53}; /* significand bits, the hidden one included */
static const int EXP_MAX[2] = {127, 1023};
static const uint64_t SIGN_BIT[2] = {1ull << 31, 1ull << 63};
static const uint64_t EXP_MASK[2] = {0x7f800000ull, 0x7ff0000000000000ull};
static const uint64_t QUIET_BIT[2] = {1ull << 22, 1ull << 51};

static const int HOST_MODE[4] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};

/* A float register's bits in format fmt: an unboxed single reads as the canonical NaN. */
static uint64_t operand_bits(int fmt, int64_t reg) {
    uint64_t bits = (uint64_t)reg;
    if (fmt == VM_RV_FP_FMT_D) return bits;
    return (bits & BOX_BITS) == BOX_BITS ? (bits & 0xFFFFFFFFull) : CANONICAL_NAN_S;
}

/* The register value of a result with bits in format fmt: singles NaN-boxed. */
static int64_t register_value(int fmt, uint64_t bits) {
    return (int64_t)(fmt == VM_RV_FP_FMT_D ? bits : BOX_BITS | bits);
}

static int64_t canonical_nan(int fmt) {
    return register_value(fmt, fmt == VM_RV_FP_FMT_D ? CANONICAL_NAN_D : CANONICAL_NAN_S);
}

static int is_nan(int fmt, uint64_t bits) {
    uint64_t fraction = bits & ((QUIET_BIT[fmt] << 1) - 1);
    return (bits & EXP_MASK[fmt]) == EXP_MASK[fmt] && fraction != 0;
}

static int is_signalling(int fmt, uint64_t bits) { return is_nan(fmt, bits) && !(bits & QUIET_BIT[fmt]); }

/* The value of non-NaN bits in format fmt (a single widens exactly). */
static double value_of(int fmt, uint64_t bits) {
    if (fmt == VM_RV_FP_FMT_D) {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    uint32_t b32 = (uint32_t)bits;
    float f;
    memcpy(&f, &b32, sizeof f);
    return f;
}

static uint64_t bits_of_double(double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

static uint64_t bits_of_float(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static int32_t host_flags(void) {
    int raised = fetestexcept(FE_ALL_EXCEPT);
    return (raised & FE_INVALID ? VM_RV_FP_NV : 0) | (raised & FE_DIVBYZERO ? VM_RV_FP_DZ : 0)
           | (raised & FE_OVERFLOW ? VM_RV_FP_OF : 0) | (raised & FE_UNDERFLOW ? VM_RV_FP_UF : 0)
           | (raised & FE_INEXACT ? VM_RV_FP_NX : 0);
}

/* One arithmetic operation in type T under the current rounding mode. Operands and result are volatile:
 * the compiler folds nothing, and the operation happens before the caller reads the flags (GCC does not
 * otherwise keep float operations in place around fenv calls). */
#define DEFINE_ARITHMETIC(name, T, FMA)                                                                       \
    static T name(int op, volatile T x, volatile T y, volatile T z) {                                        \
        volatile T result;                                                                                    \
        switch (op) {                                                                                         \
        case VM_RV_FP_ADD: result = x + y; break;                                                             \
        case VM_RV_FP_SUB: result = x - y; break;                                                             \
        case VM_RV_FP_MUL: result = x * y; break;                                                             \
        case VM_RV_FP_DIV: result = x / y; break;                                                             \
        case VM_RV_FP_MADD: result = FMA(x, y, z); break;                                                     \
        case VM_RV_FP_MSUB: result = FMA(x, y, -z); break;                                                    \
        case VM_RV_FP_NMSUB: result = FMA(-x, y, z); break;                                                   \
        default: result = FMA(-x, y, -z); break; /* VM_RV_FP_NMADD */                                         \
        }                                                                                                     \
        return result;                                                                                        \
    }

/* binary128's fma is exact in two steps: the product of two 53-bit significands fits in 113 bits. */
static __float128 fma_by_exact_product(__float128 x, __float128 y, __float128 z) {
    volatile __float128 product = x * y;
    return product + z;
}

DEFINE_ARITHMETIC(arithmetic_s, float, fmaf)
DEFINE_ARITHMETIC(arithmetic_d, double, fma)
DEFINE_ARITHMETIC(arithmetic_q, __float128, fma_by_exact_product)

/* sqrt in format fmt under the current rounding mode, on the host only: a square root is never halfway
 * between two floats, and never subnormal, so RNE's result and flags are RMM's too. */
static uint64_t sqrt_bits(int fmt, volatile double x) {
    if (fmt == VM_RV_FP_FMT_D) {
        volatile double root = sqrt(x);
        return bits_of_double(root);
    }
    volatile float root = sqrtf((float)x);
    return bits_of_float(root);
}

/* Round a binary128 value (exact, or round-to-odd) to format fmt, to nearest with ties away (RMM). */
static uint64_t round_rmm(int fmt, __float128 q, int32_t *flags) {
    u128 qbits;
    memcpy(&qbits, &q, sizeof qbits);
    uint64_t sign = (qbits >> 127) ? SIGN_BIT[fmt] : 0;
    int qexp = (int)((qbits >> 112) & 0x7fff);
    u128 sig = qbits & (((u128)1 << 112) - 1);
    uint64_t inf = EXP_MASK[fmt];
    if (qexp == 0x7fff) return sig ? (fmt == VM_RV_FP_FMT_D ? CANONICAL_NAN_D : CANONICAL_NAN_S) : sign | inf;
    if (qexp == 0 && sig == 0) return sign;
    /* Values reaching here are products, quotients and sums of singles, doubles and integers: never
     * subnormal in binary128, whose exponent reaches down to -16382. */
    sig |= (u128)1 << 112;
    int exp = qexp - 16383; /* value = sig * 2^(exp - 112), sig in [2^112, 2^113) */
    int p = PRECISION[fmt], emax = EXP_MAX[fmt], emin = 1 - emax;
    int quantum = (exp < emin ? emin : exp) - (p - 1); /* the exponent of the result's last bit */
    int shift = quantum - (exp - 112);
    int inexact = 0;
    uint64_t kept;
    if (shift > 113) {
        kept = 0, inexact = 1;
    } else {
        u128 lost = sig & (((u128)1 << shift) - 1);
        kept = (uint64_t)(sig >> shift) + (uint64_t)((lost >> (shift - 1)) & 1);
        inexact = lost != 0;
    }
    /* Tininess after rounding: tiny unless rounding to p bits with an unbounded exponent reaches 2^emin. */
    int tiny = exp < emin;
    if (exp == emin - 1) {
        int unbounded_shift = 113 - p;
        u128 rounded = (sig >> unbounded_shift) + ((sig >> (unbounded_shift - 1)) & 1);
        tiny = rounded < ((u128)1 << p);
    }
    if (inexact) *flags |= VM_RV_FP_NX | (tiny ? VM_RV_FP_UF : 0);
    if (kept == 1ull << p) kept >>= 1, quantum++;
    if (kept < 1ull << (p - 1)) return sign | kept; /* subnormal or zero */
    int result_exp = quantum + p - 1;
    if (result_exp > emax) {
        *flags |= VM_RV_FP_OF | VM_RV_FP_NX;
        return sign | inf;
    }
    return sign | ((uint64_t)(result_exp + emax) << (p - 1)) | (kept - (1ull << (p - 1)));
}

/* op on non-NaN values of format fmt, rounded by rm. */
static int64_t arithmetic(int op, int fmt, double x, double y, double z, int rm, int32_t *flags) {
    uint64_t bits;
    if (rm == VM_RV_FP_RMM && op != VM_RV_FP_SQRT) {
        /* Truncated in binary128 with the last bit set if inexact (round-to-odd), then rounded once. */
        fesetround(FE_TOWARDZERO);
        __float128 truncated = arithmetic_q(op, x, y, z);
        int lost = fetestexcept(FE_INEXACT);
        *flags |= host_flags() & (VM_RV_FP_NV | VM_RV_FP_DZ);
        if (lost) {
            u128 qbits;
            memcpy(&qbits, &truncated, sizeof qbits);
            qbits |= 1;
            memcpy(&truncated, &qbits, sizeof qbits);
        }
        bits = round_rmm(fmt, truncated, flags);
    } else {
        fesetround(HOST_MODE[rm == VM_RV_FP_RMM ? VM_RV_FP_RNE : rm]);
        if (op == VM_RV_FP_SQRT) bits = sqrt_bits(fmt, x);
        else if (fmt == VM_RV_FP_FMT_D) bits = bits_of_double(arithmetic_d(op, x, y, z));
        else bits = bits_of_float(arithmetic_s(op, (float)x, (float)y, (float)z));
        *flags |= host_flags();
        if (is_nan(fmt, bits)) return canonical_nan(fmt);
    }
    return register_value(fmt, bits);
}

/* An integer converted to format fmt, rounded by rm. */
static int64_t from_integer(int fmt, int is_signed, int64_t value, int rm, int32_t *flags) {
    if (rm == VM_RV_FP_RMM) {
        __float128 exact = is_signed ? (__float128)value : (__float128)(uint64_t)value;
        return register_value(fmt, round_rmm(fmt, exact, flags));
    }
    fesetround(HOST_MODE[rm]);
    volatile int64_t v = value;
    volatile uint64_t u = (uint64_t)value;
    uint64_t bits;
    if (fmt == VM_RV_FP_FMT_D) {
        volatile double converted = is_signed ? (double)v : (double)u;
        bits = bits_of_double(converted);
    } else {
        volatile float converted = is_signed ? (float)v : (float)u;
        bits = bits_of_float(converted);
    }
    *flags |= host_flags();
    return register_value(fmt, bits);
}

/* A float of format fmt converted to an integer of `width` bits, rounded by rm, saturating. */
static int64_t to_integer(int fmt, uint64_t bits, int width, int is_signed, int rm, int32_t *flags) {
    /* The limits as doubles, exact: powers of two. */
    double low = is_signed ? -ldexp(1.0, width - 1) : 0.0;
    double high = is_signed ? ldexp(1.0, width - 1) : ldexp(1.0, width); /* first value out of range */
    uint64_t min_result = is_signed ? (uint64_t)1 << (width - 1) : 0;
    uint64_t max_result = is_signed ? ((uint64_t)1 << (width - 1)) - 1
                                    : (width == 64 ? UINT64_MAX : ((uint64_t)1 << width) - 1);
    uint64_t result;
    if (is_nan(fmt, bits)) {
        *flags |= VM_RV_FP_NV;
        result = max_result;
    } else {
        double x = value_of(fmt, bits);
        double r;
        if (rm == VM_RV_FP_RMM) {
            r = round(x);
        } else {
            fesetround(HOST_MODE[rm]);
            volatile double vx = x, rounded = nearbyint(vx);
            r = rounded;
        }
        if (r < low || r >= high) { /* -0.0 is in range of the unsigned conversions */
            *flags |= VM_RV_FP_NV;
            result = x < 0 ? min_result : max_result;
        } else {
            if (r != x) *flags |= VM_RV_FP_NX;
            result = r < 0 ? (uint64_t)(int64_t)r : (uint64_t)r;
        }
    }
    if (width == 32) return (int64_t)(int32_t)(uint32_t)result; /* 32-bit results sign-extended */
    return (int64_t)result;
}

/* fclass's ten classes, one bit each. */
static int64_t classify(int fmt, uint64_t bits) {
    int negative = (bits & SIGN_BIT[fmt]) != 0;
    uint64_t magnitude = bits & ~SIGN_BIT[fmt];
    if (is_nan(fmt, bits)) return is_signalling(fmt, bits) ? 1 << 8 : 1 << 9;
    if (magnitude == EXP_MASK[fmt]) return negative ? 1 << 0 : 1 << 7;
    if (magnitude == 0) return negative ? 1 << 3 : 1 << 4;
    if ((magnitude & EXP_MASK[fmt]) == 0) return negative ? 1 << 2 : 1 << 5;
    return negative ? 1 << 1 : 1 << 6;
}

/* minimumNumber / maximumNumber of IEEE 754-2019, with -0.0 below +0.0. */
static int64_t min_max(int fmt, uint64_t x, uint64_t y, int want_max, int32_t *flags) {
    if (is_signalling(fmt, x) || is_signalling(fmt, y)) *flags |= VM_RV_FP_NV;
    if (is_nan(fmt, x) && is_nan(fmt, y)) return canonical_nan(fmt);
    if (is_nan(fmt, x)) return register_value(fmt, y);
    if (is_nan(fmt, y)) return register_value(fmt, x);
    double vx = value_of(fmt, x), vy = value_of(fmt, y);
    int x_below = vx < vy || (vx == vy && (x & SIGN_BIT[fmt]));
    return register_value(fmt, x_below != want_max ? x : y);
}

static int64_t compare(int op, int fmt, uint64_t x, uint64_t y, int32_t *flags) {
    if (is_nan(fmt, x) || is_nan(fmt, y)) {
        /* feq is a quiet compare; flt and fle signal on any NaN. */
        if (op != VM_RV_FP_EQ || is_signalling(fmt, x) || is_signalling(fmt, y)) *flags |= VM_RV_FP_NV;
        return 0;
    }
    double vx = value_of(fmt, x), vy = value_of(fmt, y);
    if (op == VM_RV_FP_EQ) return vx == vy;
    return op == VM_RV_FP_LT ? vx < vy : vx <= vy;
}

static int64_t sign_inject(int op, int fmt, uint64_t x, uint64_t y) {
    uint64_t sign = SIGN_BIT[fmt];
    uint64_t new_sign = op == VM_RV_FP_SGNJ ? y & sign : op == VM_RV_FP_SGNJN ? ~y & sign : (x ^ y) & sign;
    return register_value(fmt, (x & ~sign) | new_sign);
}

static int64_t operate(int op, int fmt, int64_t a, int64_t b, int64_t c, int rm, int32_t *flags) {
    uint64_t x = operand_bits(fmt, a), y = operand_bits(fmt, b), z = operand_bits(fmt, c);
    switch (op) {
    case VM_RV_FP_ADD:
    case VM_RV_FP_SUB:
    case VM_RV_FP_MUL:
    case VM_RV_FP_DIV:
    case VM_RV_FP_SQRT:
    case VM_RV_FP_MADD:
    case VM_RV_FP_MSUB:
    case VM_RV_FP_NMSUB:
    case VM_RV_FP_NMADD: {
        int fused = op >= VM_RV_FP_MADD;
        int uses_y = op != VM_RV_FP_SQRT;
        if (fused) {
            /* inf * 0 is invalid even when the addend is a quiet NaN. */
            uint64_t mx = x & ~SIGN_BIT[fmt], my = y & ~SIGN_BIT[fmt];
            if ((mx == EXP_MASK[fmt] && my == 0) || (mx == 0 && my == EXP_MASK[fmt])) *flags |= VM_RV_FP_NV;
        }
        int nan_in = is_nan(fmt, x) || (uses_y && is_nan(fmt, y)) || (fused && is_nan(fmt, z));
        if (nan_in) {
            if (is_signalling(fmt, x) || (uses_y && is_signalling(fmt, y)) || (fused && is_signalling(fmt, z)))
                *flags |= VM_RV_FP_NV;
            return canonical_nan(fmt);
        }
        return arithmetic(op, fmt, value_of(fmt, x), uses_y ? value_of(fmt, y) : 0.0,
                          fused ? value_of(fmt, z) : 0.0, rm, flags);
    }
    case VM_RV_FP_MIN:
    case VM_RV_FP_MAX: return min_max(fmt, x, y, op == VM_RV_FP_MAX, flags);
    case VM_RV_FP_SGNJ:
    case VM_RV_FP_SGNJN:
    case VM_RV_FP_SGNJX: return sign_inject(op, fmt, x, y);
    case VM_RV_FP_EQ:
    case VM_RV_FP_LT:
    case VM_RV_FP_LE: return compare(op, fmt, x, y, flags);
    case VM_RV_FP_CLASS: return classify(fmt, x);
    case VM_RV_FP_CVT_W: return to_integer(fmt, x, 32, 1, rm, flags);
    case VM_RV_FP_CVT_WU: return to_integer(fmt, x, 32, 0, rm, flags);
    case VM_RV_FP_CVT_L: return to_integer(fmt, x, 64, 1, rm, flags);
    case VM_RV_FP_CVT_LU: return to_integer(fmt, x, 64, 0, rm, flags);
    case VM_RV_FP_CVT_FROM_W: return from_integer(fmt, 1, (int32_t)a, rm, flags);
    case VM_RV_FP_CVT_FROM_WU: return from_integer(fmt, 0, (uint32_t)a, rm, flags);
    case VM_RV_FP_CVT_FROM_L: return from_integer(fmt, 1, a, rm, flags);
    case VM_RV_FP_CVT_FROM_LU: return from_integer(fmt, 0, a, rm, flags);
    case VM_RV_FP_CVT_S_D: {
        uint64_t d = operand_bits(VM_RV_FP_FMT_D, a);
        if (is_nan(VM_RV_FP_FMT_D, d)) {
            if (is_signalling(VM_RV_FP_FMT_D, d)) *flags |= VM_RV_FP_NV;
            return canonical_nan(VM_RV_FP_FMT_S);
        }
        double value = value_of(VM_RV_FP_FMT_D, d);
        if (rm == VM_RV_FP_RMM) return register_value(VM_RV_FP_FMT_S, round_rmm(VM_RV_FP_FMT_S, value, flags));
        fesetround(HOST_MODE[rm]);
        volatile double v = value;
        volatile float converted = (float)v;
        uint64_t bits = bits_of_float(converted);
        *flags |= host_flags();
        return register_value(VM_RV_FP_FMT_S, bits);
    }
    case VM_RV_FP_CVT_D_S: {
        uint64_t s = operand_bits(VM_RV_FP_FMT_S, a);
        if (is_nan(VM_RV_FP_FMT_S, s)) {
            if (is_signalling(VM_RV_FP_FMT_S, s)) *flags |= VM_RV_FP_NV;
            return canonical_nan(VM_RV_FP_FMT_D);
        }
        return register_value(VM_RV_FP_FMT_D, bits_of_double(value_of(VM_RV_FP_FMT_S, s)));
    }
    default: return 0;
    }
}

#if defined(__x86_64__)
/* The state an operation touches, on x86-64: SSE's MXCSR (rounding, flush-to-zero, flags) and x87's
 * control word (fesetround sets its rounding too) and flags (binary128's soft-float raises some there).
 * Saving these three costs a few nanoseconds; fegetenv/fesetenv save the whole environment, 0.3 us. */
typedef struct {
    unsigned int mxcsr;
    unsigned short x87_control;
} host_state;

static void enter(host_state *host) {
    unsigned int fresh = 0x1F80; /* every exception masked, round to nearest, no flush-to-zero, flags clear */
    __asm__ volatile("stmxcsr %0" : "=m"(host->mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(host->x87_control));
    __asm__ volatile("ldmxcsr %0\n\tfnclex" : : "m"(fresh));
}

static void leave(const host_state *host) {
    __asm__ volatile("fnclex\n\tfldcw %0\n\tldmxcsr %1" : : "m"(host->x87_control), "m"(host->mxcsr));
}
#else
typedef fenv_t host_state;

static void enter(host_state *host) {
    fegetenv(host);
    fesetenv(FE_DFL_ENV);
}

static void leave(const host_state *host) { fesetenv(host); }
#endif

int64_t vm_rv_fp(int32_t op, int32_t fmt, int64_t a, int64_t b, int64_t c, int32_t rm, int32_t *fflags) {
    if ((fmt != VM_RV_FP_FMT_S && fmt != VM_RV_FP_FMT_D) || rm < VM_RV_FP_RNE || rm > VM_RV_FP_RMM) return 0;
    /* A known host state (no flush-to-zero, flags clear), and the caller's back after. Every operation
     * sets the rounding mode it needs and reads the flags after its one host computation. */
    host_state host;
    enter(&host);
    int32_t flags = 0;
    int64_t result = operate(op, fmt, a, b, c, rm, &flags);
    leave(&host);
    *fflags |= flags;
    return result;
}
