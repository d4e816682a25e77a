/* Host services of the vm monitor. See hostcalls.h. */
#define _GNU_SOURCE /* pthread_getattr_np */
#include "hostcalls.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GUARD 0x1000u
#define OUT_CHUNK 65536

typedef struct {
    int fd;           /* < 0: captured in memory */
    uint8_t *data;    /* pending (fd mode) or everything written (captured mode) */
    int64_t len, cap;
    int64_t total;    /* bytes written by the guest */
} stream;

struct vm_host {
    int in_fd;
    uint8_t *in_data;
    int64_t in_len, in_pos, in_cap;
    int64_t in_consumed; /* bytes the guest has read */
    int in_eof;
    stream out[3];    /* index 1 stdout, 2 stderr */
    uint64_t protect_lo, protect_hi;
    int64_t hypercalls;
    int flush_lines;
};

static int write_all(int fd, const uint8_t *p, int64_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, (size_t)n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE) { /* the reader is gone: end as any Unix tool does (Python ignores SIGPIPE) */
                signal(SIGPIPE, SIG_DFL);
                raise(SIGPIPE);
            }
            return -1;
        }
        p += w;
        n -= w;
    }
    return 0;
}

static int reserve(uint8_t **data, int64_t *cap, int64_t need) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    uint8_t *p = realloc(*data, (size_t)c);
    if (!p) return -1;
    *data = p;
    *cap = c;
    return 0;
}

static int stream_flush(stream *s) {
    if (s->fd < 0 || s->len == 0) return 0;
    int r = write_all(s->fd, s->data, s->len);
    s->len = 0;
    return r;
}

static void stream_write(vm_host *h, int fd, const uint8_t *p, int64_t n) {
    stream *s = &h->out[fd];
    s->total += n;
    if (s->fd >= 0 && fd == 2) { /* stderr is unbuffered; stdout first keeps the interleaving */
        stream_flush(&h->out[1]);
        write_all(s->fd, p, n);
        return;
    }
    if (s->fd >= 0 && s->len + n > OUT_CHUNK) {
        stream_flush(s);
        if (n > OUT_CHUNK) {
            write_all(s->fd, p, n);
            return;
        }
    }
    if (reserve(&s->data, &s->cap, s->len + n) != 0) return;
    memcpy(s->data + s->len, p, (size_t)n);
    s->len += n;
    if (h->flush_lines && memchr(p, '\n', (size_t)n)) stream_flush(s);
}

void vm_host_flush_lines(vm_host *h, int on) { h->flush_lines = on; }

vm_host *vm_host_new(int in_fd, int out_fd, int err_fd) {
    vm_host *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->in_fd = in_fd;
    h->in_eof = in_fd < 0;
    h->out[1].fd = out_fd;
    h->out[2].fd = err_fd;
    return h;
}

void vm_host_free(vm_host *h) {
    if (!h) return;
    free(h->in_data);
    free(h->out[1].data);
    free(h->out[2].data);
    free(h);
}

void vm_host_feed(vm_host *h, const uint8_t *data, int64_t n) {
    if (reserve(&h->in_data, &h->in_cap, h->in_len + n) != 0) return;
    memcpy(h->in_data + h->in_len, data, (size_t)n);
    h->in_len += n;
}

void vm_host_protect(vm_host *h, uint64_t lo, uint64_t hi) {
    h->protect_lo = lo;
    h->protect_hi = hi;
}

int vm_host_flush(vm_host *h) { return stream_flush(&h->out[1]) | stream_flush(&h->out[2]); }

int64_t vm_host_captured(vm_host *h, int fd, const uint8_t **data) {
    *data = h->out[fd].data;
    return h->out[fd].len;
}

int64_t vm_host_written(vm_host *h, int fd) { return h->out[fd].total; }

int64_t vm_host_hypercalls(vm_host *h) { return h->hypercalls; }

int64_t vm_host_input_consumed(vm_host *h) { return h->in_consumed; }

int vm_host_rewind_input(vm_host *h, int64_t consumed) {
    int64_t back = h->in_consumed - consumed;
    if (h->in_fd >= 0 || back < 0 || back > h->in_pos) return -1; /* only input fed whole is kept */
    h->in_pos -= back;
    h->in_consumed = consumed;
    return 0;
}

/* Make at least one more input byte available; 0 at end of input. */
static int fill_input(vm_host *h) {
    if (h->in_pos < h->in_len) return 1;
    if (h->in_eof) return 0;
    stream_flush(&h->out[1]); /* a prompt appears before the guest waits for its answer */
    h->in_pos = h->in_len = 0;
    if (reserve(&h->in_data, &h->in_cap, OUT_CHUNK) != 0) return 0;
    for (;;) {
        ssize_t r = read(h->in_fd, h->in_data, OUT_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            h->in_eof = 1;
            return 0;
        }
        h->in_len = r;
        return 1;
    }
}

void vm_put_byte(vm_host *h, int64_t value) {
    uint8_t b = (uint8_t)value;
    stream_write(h, 1, &b, 1);
}

void vm_put_int(vm_host *h, int64_t value) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64, value);
    stream_write(h, 1, (const uint8_t *)buf, n);
}

int64_t vm_get_byte(vm_host *h) {
    if (!fill_input(h)) return -1;
    h->in_consumed++;
    return h->in_data[h->in_pos++];
}

int64_t vm_host_write(vm_host *h, int64_t fd, const uint8_t *data, int64_t n) {
    if (fd != 1 && fd != 2) return -1;
    if (n > 0) stream_write(h, (int)fd, data, n);
    return n;
}

int64_t vm_host_read(vm_host *h, uint8_t *buf, int64_t n) {
    /* at most one read of the host's input: a line typed at a terminal is returned as it comes */
    if (n <= 0 || !fill_input(h)) return 0;
    int64_t avail = h->in_len - h->in_pos;
    int64_t take = avail < n ? avail : n;
    memcpy(buf, h->in_data + h->in_pos, (size_t)take);
    h->in_pos += take;
    h->in_consumed += take;
    return take;
}

int64_t vm_format_float(double value, int64_t precision, char *out, int64_t cap) {
    if (precision < 0) precision = 0;
    if (precision > 17) precision = 17;
    if (isnan(value)) return snprintf(out, (size_t)cap, "nan");
    if (isinf(value)) return snprintf(out, (size_t)cap, value < 0 ? "-inf" : "inf");
    return snprintf(out, (size_t)cap, "%.*f", (int)precision, value);
}

double vm_fma(double a, double b, double c) { return fma(a, b, c); }

/* Is [addr, addr+len) wholly inside guest memory above the guard page? len > 0. */
static int in_guest(uint64_t addr, uint64_t len, uint64_t mem_size) {
    return addr >= GUARD && addr <= mem_size && len <= mem_size - addr;
}

static int protected(vm_host *h, uint64_t addr, uint64_t len) {
    return addr < h->protect_hi && addr + len > h->protect_lo;
}

int64_t vm_hypercall(int64_t host, int64_t n, int64_t r1, int64_t r2, int64_t r3, double f0,
                     int64_t mem_addr, int64_t mem_size, int64_t r0_addr) {
    vm_host *h = (vm_host *)(intptr_t)host;
    uint8_t *mem = (uint8_t *)(intptr_t)mem_addr;
    int64_t *r0 = (int64_t *)(intptr_t)r0_addr;
    uint64_t size = (uint64_t)mem_size, len = (uint64_t)r3;
    h->hypercalls++;
    switch (n) {
    case 0: /* EXIT */
        *r0 = r1;
        return VM_HC_EXIT;
    case 1: /* WRITE */
        if (r1 != 1 && r1 != 2) {
            *r0 = -1;
            return VM_HC_RESULT;
        }
        if (len) {
            if (!in_guest((uint64_t)r2, len, size)) return VM_TRAP_MEMFAULT;
            stream_write(h, (int)r1, mem + r2, (int64_t)len);
        }
        *r0 = r3;
        return VM_HC_RESULT;
    case 2: { /* READ */
        if (r1 != 0) {
            *r0 = -1;
            return VM_HC_RESULT;
        }
        uint64_t got = 0;
        if (len) {
            if (!in_guest((uint64_t)r2, len, size)) return VM_TRAP_MEMFAULT;
            if (protected(h, (uint64_t)r2, len)) return VM_TRAP_UNSUPPORTED;
            while (got < len && fill_input(h)) {
                uint64_t avail = (uint64_t)(h->in_len - h->in_pos);
                uint64_t take = avail < len - got ? avail : len - got;
                memcpy(mem + r2 + got, h->in_data + h->in_pos, (size_t)take);
                h->in_pos += (int64_t)take;
                h->in_consumed += (int64_t)take;
                got += take;
            }
        }
        *r0 = (int64_t)got;
        return VM_HC_RESULT;
    }
    case 3: /* PUTINT */
        vm_put_int(h, r1);
        return VM_HC_DONE;
    case 4: { /* PUTFLOAT */
        char buf[400];
        int64_t k = vm_format_float(f0, r1, buf, sizeof buf);
        stream_write(h, 1, (const uint8_t *)buf, k);
        return VM_HC_DONE;
    }
    case 5: { /* CLOCK */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        *r0 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        return VM_HC_RESULT;
    }
    case 6: /* MEMMOVE: r3 bytes from r2 to r1 */
        if (len) {
            if (!in_guest((uint64_t)r1, len, size) || !in_guest((uint64_t)r2, len, size))
                return VM_TRAP_MEMFAULT;
            if (protected(h, (uint64_t)r1, len)) return VM_TRAP_UNSUPPORTED;
            memmove(mem + r1, mem + r2, (size_t)len);
        }
        *r0 = r1;
        return VM_HC_RESULT;
    case 7: /* MEMSET: r3 bytes at r1 with the low byte of r2 */
        if (len) {
            if (!in_guest((uint64_t)r1, len, size)) return VM_TRAP_MEMFAULT;
            if (protected(h, (uint64_t)r1, len)) return VM_TRAP_UNSUPPORTED;
            memset(mem + r1, (int)(uint8_t)r2, (size_t)len);
        }
        *r0 = r1;
        return VM_HC_RESULT;
    default:
        h->hypercalls--;
        return VM_TRAP_BADHCALL;
    }
}

uint64_t vm_stack_low(void)
{
#if defined(__linux__)
    pthread_attr_t attr;
    void *low;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
    int found = pthread_attr_getstack(&attr, &low, &size) == 0;
    pthread_attr_destroy(&attr);
    return found ? (uint64_t)(uintptr_t)low : 0;
#elif defined(__APPLE__)
    pthread_t self = pthread_self();
    return (uint64_t)(uintptr_t)pthread_get_stackaddr_np(self) - pthread_get_stacksize_np(self);
#else
    return 0;
#endif
}
