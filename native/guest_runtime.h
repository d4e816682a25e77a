/* The runtime of the os engine's generated C: the semantics language's functions and guest memory
 * access. Each function gives exactly what the hw engine's does (vm/engines/hw.py), bit for bit. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hostcalls.h"
#include "vm_state.h"

#define VM_GUARD 0x1000u

static inline int64_t vm_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t vm_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t vm_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
/* A zero divisor never reaches these (the semantics trap first); -1 is the one that overflows. */
static inline int64_t vm_sdiv(int64_t a, int64_t b) { return b == -1 ? vm_sub(0, a) : b ? a / b : 0; }
static inline int64_t vm_srem(int64_t a, int64_t b) { return b == -1 || b == 0 ? 0 : a % b; }
static inline int64_t vm_shl(int64_t a, int64_t n) { return (int64_t)((uint64_t)a << (n & 63)); }
static inline int64_t vm_lshr(int64_t a, int64_t n) { return (int64_t)((uint64_t)a >> (n & 63)); }
static inline int64_t vm_ashr(int64_t a, int64_t n) { return a >> (n & 63); }
static inline int64_t vm_ult(int64_t a, int64_t b) { return (uint64_t)a < (uint64_t)b; }

static inline int64_t vm_f2bits(double x) { int64_t b; memcpy(&b, &x, 8); return b; }
static inline double vm_bits2f(int64_t b) { double x; memcpy(&x, &b, 8); return x; }
#define VM_CANONICAL_NAN vm_bits2f(0x7FF8000000000000)

/* A NaN result is rare: the canonical one comes from a cold call, so the compiler branches on it
 * (predicted not taken) instead of moving every result through a conditional move, which would put
 * the check on each float operation's chain of dependencies. */
__attribute__((cold, noinline)) static double vm_canonical_nan(void) { return VM_CANONICAL_NAN; }
static inline double vm_fcanon(double x) { return __builtin_expect(x != x, 0) ? vm_canonical_nan() : x; }
static inline double vm_fsqrt(double x) {
    return __builtin_expect(x != x || x < 0, 0) ? vm_canonical_nan() : sqrt(x);
}
static inline double vm_fmin(double a, double b) {
    if (a != a || b != b) return VM_CANONICAL_NAN;
    if (a == b) return signbit(a) ? a : b; /* -0.0 orders below +0.0 */
    return a < b ? a : b;
}
static inline double vm_fmax(double a, double b) {
    if (a != a || b != b) return VM_CANONICAL_NAN;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}
static inline double vm_fdiv(double a, double b) {
    if (__builtin_expect(b == 0.0, 0) && (a != a || a == 0.0)) return vm_canonical_nan();
    return a / b;
}
static inline double vm_fma_inline(double a, double b, double c) { return fma(a, b, c); }
static inline int64_t vm_isnan(double x) { return x != x; }
static inline int64_t vm_ftoi_ok(double x) { return x >= -9223372036854775808.0 && x < 9223372036854775808.0; }
static inline int64_t vm_ftoi(double x) { return vm_ftoi_ok(x) ? (int64_t)x : INT64_MIN; }
static inline double vm_itof(int64_t a) { return (double)a; }

static inline int64_t vm_load_i8(const uint8_t *p) { return (int8_t)*p; }
static inline int64_t vm_load_u8(const uint8_t *p) { return *p; }
static inline int64_t vm_load_i16(const uint8_t *p) { int16_t v; memcpy(&v, p, 2); return v; }
static inline int64_t vm_load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline int64_t vm_load_i32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }
static inline int64_t vm_load_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline int64_t vm_load_i64(const uint8_t *p) { int64_t v; memcpy(&v, p, 8); return v; }
static inline double vm_load_f64(const uint8_t *p) { double v; memcpy(&v, p, 8); return v; }
static inline void vm_store_8(uint8_t *p, int64_t v) { *p = (uint8_t)v; }
static inline void vm_store_16(uint8_t *p, int64_t v) { uint16_t w = (uint16_t)v; memcpy(p, &w, 2); }
static inline void vm_store_32(uint8_t *p, int64_t v) { uint32_t w = (uint32_t)v; memcpy(p, &w, 4); }
static inline void vm_store_64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }
static inline void vm_store_f64(uint8_t *p, double v) { memcpy(p, &v, 8); }

/* Stop the run at `at`: the block took `unused` instructions from the budget that do not retire. */
#define VM_STOP(kind, value, at, unused) \
    do { pc = (at); budget += (unused); stop = (kind); code = (value); goto leave; } while (0)
#define VM_TRAP(trap, at, unused) VM_STOP(VM_STOP_TRAP, trap, at, unused)
#define VM_HALT(status, at, unused) VM_STOP(VM_STOP_EXIT, status, at, (unused) - 1)
#define VM_REFUSE(cause, address, at, unused) \
    do { refusal = (cause); refusal_address = (address); VM_TRAP(VM_TRAP_UNSUPPORTED, at, unused); } while (0)
