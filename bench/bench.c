/*
 * bench.c -- diffstruc benchmark through the C ABI (not a test). Workloads: ../shared/workloads.md
 *
 *   W1 elementwise-reverse  f = x**2 + y*x + exp(x*0.01), x and y of shape [1000] x batch 100;
 *                           build, reverse (seed NULL), read and zero the gradients, release
 *   W2 forward-second-order the same f built each iteration, df = grad_forward(f, x) (direction
 *                           ones), d2f = grad_forward(df, x); read both, release
 *   W3 scalar-overhead      f = x**3 + 2*x**2 + x - 5 on one number, then grad_forward
 *   W4 mlp-train-step       h = tanh(W1 X + b1), y = W2 h + b2, loss = mean((y - T)**2) with
 *                           W1 [256,784], W2 [10,256], X [784] x batch 128; reverse, SGD in
 *                           place through the zero-copy pointers (lr 0.01), zero the gradients
 *   W5 zero-copy-wrap       wrap a caller-owned buffer of 1e8 floats (400 MB) vs copying it
 *   W6 deep-shared-dag      y(k+1) = y(k)*y(k)*0.5 + y(k), D levels, reverse from sum(y(D))
 *   W7 hessian              f = sum(tanh(x)**2 * x), x [64]: build f, then 64 Hessian-vector
 *                           products by reverse over forward (row i: grad_forward along e_i,
 *                           then reverse mode from it), release. Also batched: f evaluated on
 *                           a batch of 64 copies of x (the same expression), one grad_forward
 *                           with direction e_s for copy s, one reverse pass: copy s's gradient
 *                           is row s
 *
 * In-run references, timed in the same repetitions as the workload they belong to (library
 * loop, then reference loop), so that a ratio library / reference is taken per repetition and
 * machine noise mostly cancels:
 *   W1  the same forward and reverse arithmetic written by hand in C: op by op (one pass per
 *       operation and per reverse step, with temporaries allocated once, outside the timing)
 *       and fused (one loop). Their exp is a polynomial the compiler vectorises (libm's expf is
 *       a scalar call, which would dominate the loops), and this file is built with
 *       -O3 -march=native where the compiler accepts it: the library picks the host's vector
 *       unit at run time too
 *   W3  an empty call across the C ABI (ds_live_handles)
 *   W4  the five GEMMs of a step (W1 X, W2 h; W2^T g2, g2 h^T, g1 X^T) as forward-only
 *       ds_matmul calls on plain arrays (no requires_grad, so no graph): the library's own
 *       GEMM kernel on the same shapes (there is no BLAS dependency); and the core's peak
 *       multiply-add rate (a loop of independent vector FMAs on registers, where the compiler
 *       targets AVX-512 or FMA), from which the step's GEMM flops give a floor no W4 step can
 *       beat at one thread on this machine
 *
 * Every measurement is repeated (11 times, 5 with --quick, 1 with --smoke) and printed as one
 * row:  name  median  min  max  unit.  Then a "ratios" section (library / reference, median of
 * the per-repetition ratios) and a "targets" section: measured median / target (<= 1 meets
 * the target). --quick also uses fewer iterations per repetition and skips D = 100000;
 * --smoke (for ctest) runs each workload about once, W5 on 1e6 floats, to check that
 * everything runs and every result is right; its times mean nothing.
 *
 * Times come from clock_gettime(CLOCK_MONOTONIC); memory from /proc/self/status (VmHWM, the
 * peak RSS, which is reset through /proc/self/clear_refs before each memory measurement; the
 * process's overall peak is tracked across resets, with getrusage as a fallback). Results are
 * checked once per workload against closed forms (W4: against the same network computed in
 * double precision here). Exit status: 0, or 1 if a result check failed or something leaked,
 * or 2 if a diffstruc call failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "diffstruc.h"

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

/* ---- harness ------------------------------------------------------------------------------ */

#define CK(call)                                       \
    do {                                               \
        ds_status st_ = (call);                        \
        if (st_ != DS_OK) {                            \
            die(#call, st_, __LINE__);                 \
        }                                              \
    } while (0)

static void die(const char *call, ds_status st, int line)
{
    fprintf(stderr, "bench.c:%d: %s failed: %s: %s\n", line, call,
            ds_status_name((int32_t)st), ds_last_error());
    exit(2);
}

static bool checks_ok = true;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "CHECK FAILED: %s\n", what);
        checks_ok = false;
    }
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

#define MAX_REPS 32
static int reps = 11; /* repetitions per measurement */
enum mode { FULL, QUICK, SMOKE };
static enum mode mode = FULL;

/* An iteration count for the current mode. */
static int count(int full, int quick, int smoke)
{
    return mode == FULL ? full : mode == QUICK ? quick : smoke;
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "bench: cannot allocate %zu bytes\n", bytes);
        exit(2);
    }
    return p;
}

typedef struct {
    double v[MAX_REPS];
    int n;
} samples;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_row(const char *name, double median, double min, double max, const char *unit)
{
    printf("%-44s %14.3f %14.3f %14.3f  %s\n", name, median, min, max, unit);
}

/* Sorts the samples and returns their median. */
static double median_of(samples *s)
{
    qsort(s->v, (size_t)s->n, sizeof s->v[0], cmp_double);
    return s->n % 2 ? s->v[s->n / 2] : 0.5 * (s->v[s->n / 2 - 1] + s->v[s->n / 2]);
}

/* Prints one row and returns the median. */
static double row(const char *name, samples *s, const char *unit)
{
    double median = median_of(s);
    print_row(name, median, s->v[0], s->v[s->n - 1], unit);
    return median;
}

static void add(samples *s, double v)
{
    if (s->n < MAX_REPS) {
        s->v[s->n++] = v;
    }
}

/* The ratios section is printed after the workloads: its rows are kept here. */
#define MAX_RATIOS 8
static struct {
    char name[64];
    samples s;
} ratios[MAX_RATIOS];
static int n_ratios;

static void add_ratio(const char *name, const samples *s)
{
    if (n_ratios < MAX_RATIOS) {
        snprintf(ratios[n_ratios].name, sizeof ratios[n_ratios].name, "%s", name);
        ratios[n_ratios++].s = *s;
    }
}

/* A field of /proc/self/status in KiB ("VmHWM", "VmRSS"), or -1. */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, k) == 0 && line[k] == ':') {
            v = strtol(line + k + 1, NULL, 10);
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return v;
}

/* The process's peak RSS in KiB over the whole run: resetting VmHWM (below) also resets
 * getrusage's ru_maxrss, so the peak is tracked here across resets. */
static long overall_peak_kib;

static long process_peak_kib(void)
{
    long hwm = status_kib("VmHWM");
    if (hwm > overall_peak_kib) {
        overall_peak_kib = hwm;
    }
    struct rusage ru; /* fallback without /proc */
    if (overall_peak_kib <= 0 && getrusage(RUSAGE_SELF, &ru) == 0) {
        return ru.ru_maxrss;
    }
    return overall_peak_kib;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0), so that the next VmHWM reading is the peak
 * of what follows. Returns false if unavailable: then peaks below are lower bounds. */
static bool reset_peak(void)
{
    process_peak_kib();
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) {
        return false;
    }
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Extra peak RSS in MiB since `base_kib` was read just after reset_peak(). */
static double peak_extra_mib(long base_kib)
{
    return (double)(status_kib("VmHWM") - base_kib) / 1024.0;
}

/* Results for the targets section (-1: not measured). */
static double t_w1_us = -1, t_w2_us = -1, t_w3_ns = -1, t_w4_ms = -1, t_w5_wrap_us = -1,
              t_w5_wrap_mib = -1, t_w6_ratio = -1, t_w7_ms = -1, t_w7b_ms = -1;

/* Sink for values read from the library, so the reads are not optimised away. */
static volatile double sink;

static void free_all(ds_array **hs, int n)
{
    for (int i = 0; i < n; i++) {
        CK(ds_array_free(hs[i]));
    }
}

static bool close_to(double got, double want, double rel)
{
    return fabs(got - want) <= rel * (1.0 + fabs(want));
}

/* ---- W1 elementwise-reverse and W2 forward-second-order ------------------------------------ */

#define W1_E 1000
#define W1_S 100
#define W1_N ((size_t)W1_E * W1_S)

/* f = x**2 + y*x + exp(x*0.01), its intermediate handles freed (f's graph keeps them). */
static ds_array *w1_build(ds_array *x, ds_array *y)
{
    ds_array *x2, *yx, *xs, *ex, *s, *f;
    CK(ds_binary_scalar(DS_POW, x, 2.0f, &x2));
    CK(ds_binary(DS_MUL, y, x, &yx));
    CK(ds_binary_scalar(DS_MUL, x, 0.01f, &xs));
    CK(ds_unary(DS_EXP, xs, &ex));
    CK(ds_binary(DS_ADD, x2, yx, &s));
    CK(ds_binary(DS_ADD, s, ex, &f));
    free_all((ds_array *[]){x2, yx, xs, ex, s}, 5);
    return f;
}

/* Writes gx[1] and gy[1] to g. */
static void w1_iteration(ds_array *x, ds_array *y, double g[2])
{
    ds_array *f = w1_build(x, y);
    CK(ds_grad_reverse(f, NULL, 0));
    float *gx, *gy;
    CK(ds_array_grad_data(x, &gx));
    CK(ds_array_grad_data(y, &gy));
    g[0] = gx[1];
    g[1] = gy[1];
    CK(ds_zero_grad(x));
    CK(ds_zero_grad(y));
    CK(ds_array_free(f)); /* releases the whole graph */
}

/* Writes df[1] and d2f[1] to d. */
static void w2_iteration(ds_array *x, ds_array *y, double d[2])
{
    ds_array *f = w1_build(x, y), *df, *d2f;
    CK(ds_grad_forward(f, x, &df));
    CK(ds_grad_forward(df, x, &d2f));
    float *v1, *v2;
    CK(ds_array_data(df, &v1));
    CK(ds_array_data(d2f, &v2));
    d[0] = v1[1];
    d[1] = v2[1];
    free_all((ds_array *[]){f, df, d2f}, 3);
}

/* e^x for |x| < 87 (relative error about 2.4e-7), written so that compilers vectorise loops
 * calling it: x = n ln2 + r with n = round(x / ln2) (by adding 1.5 * 2^23), e^r by its Taylor
 * polynomial of degree 7 on |r| <= ln2 / 2, times 2^n added to the exponent bits. */
static inline float ref_expf(float x)
{
    const float shifter = 12582912.0f, log2e = 1.44269504f;
    const float ln2_hi = 0.693145752f, ln2_lo = 1.42860677e-6f;
    float k = x * log2e + shifter;
    float n = k - shifter;
    float r = x - n * ln2_hi - n * ln2_lo;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f +
                      r * (0.00833333377f + r * (0.00138888892f + r * 0.000198412701f))))));
    uint32_t kb, pb;
    memcpy(&kb, &k, sizeof kb);
    memcpy(&pb, &p, sizeof pb);
    pb += (kb - 0x4b400000u) << 23; /* 0x4b400000: the bits of the shifter */
    memcpy(&p, &pb, sizeof p);
    return p;
}

/* Buffers of the hand-written references, allocated once. */
typedef struct {
    float *x2, *yx, *xs, *ex, *s, *f, *seed, *gxs, *gx, *gy;
} w1_ref_buffers;

/* Op by op, as a graph library without fusion does it: one pass per operation into a
 * temporary, then one pass per reverse step (seed, d/dxs, and one accumulation per use of x and
 * y); read and zero the gradients. Writes gx[1] and gy[1] to g. */
static void w1_ref_ops(const float *restrict x, const float *restrict y, w1_ref_buffers *b,
                       double g[2])
{
    const size_t n = W1_N;
    float *restrict x2 = b->x2, *restrict yx = b->yx, *restrict xs = b->xs, *restrict ex = b->ex,
                    *restrict s = b->s, *restrict f = b->f, *restrict seed = b->seed,
                    *restrict gxs = b->gxs, *restrict gx = b->gx, *restrict gy = b->gy;
    for (size_t i = 0; i < n; i++) x2[i] = x[i] * x[i];
    for (size_t i = 0; i < n; i++) yx[i] = y[i] * x[i];
    for (size_t i = 0; i < n; i++) xs[i] = x[i] * 0.01f;
    for (size_t i = 0; i < n; i++) ex[i] = ref_expf(xs[i]);
    for (size_t i = 0; i < n; i++) s[i] = x2[i] + yx[i];
    for (size_t i = 0; i < n; i++) f[i] = s[i] + ex[i];
    /* reverse: d(sum f) with the seed all ones */
    for (size_t i = 0; i < n; i++) seed[i] = 1.0f;
    for (size_t i = 0; i < n; i++) gxs[i] = seed[i] * ex[i];        /* exp */
    for (size_t i = 0; i < n; i++) gx[i] += 0.01f * gxs[i];         /* x*0.01 */
    for (size_t i = 0; i < n; i++) gy[i] += seed[i] * x[i];         /* y*x, to y */
    for (size_t i = 0; i < n; i++) gx[i] += seed[i] * y[i];         /* y*x, to x */
    for (size_t i = 0; i < n; i++) gx[i] += seed[i] * 2.0f * x[i];  /* x**2 */
    sink = f[1];
    g[0] = gx[1];
    g[1] = gy[1];
    memset(gx, 0, n * sizeof *gx);
    memset(gy, 0, n * sizeof *gy);
}

/* Fused: one loop computing f and both gradients; read and zero the gradients. */
static void w1_ref_fused(const float *restrict x, const float *restrict y, w1_ref_buffers *b,
                         double g[2])
{
    const size_t n = W1_N;
    float *restrict f = b->f, *restrict gx = b->gx, *restrict gy = b->gy;
    for (size_t i = 0; i < n; i++) {
        float e = ref_expf(x[i] * 0.01f);
        f[i] = x[i] * x[i] + y[i] * x[i] + e;
        gx[i] += 2.0f * x[i] + y[i] + 0.01f * e;
        gy[i] += x[i];
    }
    sink = f[1];
    g[0] = gx[1];
    g[1] = gy[1];
    memset(gx, 0, n * sizeof *gx);
    memset(gy, 0, n * sizeof *gy);
}

static void w1_w2(void)
{
    const int64_t shape[] = {W1_E}, batch = W1_S;
    const size_t n = W1_N;
    float *xv = xmalloc(n * sizeof *xv), *yv = xmalloc(n * sizeof *yv);
    for (size_t i = 0; i < n; i++) {
        xv[i] = (float)((long)(i % 2001) - 1000) / 1000.0f; /* [-1, 1] */
        yv[i] = (float)(i % 7) * 0.25f - 0.75f;
    }
    ds_array *x, *y;
    CK(ds_array_from_data(shape, 1, batch, xv, n, &x));
    CK(ds_array_from_data(shape, 1, batch, yv, n, &y));
    CK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    CK(ds_array_set_flag(y, DS_FLAG_REQUIRES_GRAD, true));
    w1_ref_buffers b;
    float **bufs[] = {&b.x2, &b.yx, &b.xs, &b.ex, &b.s, &b.f, &b.seed, &b.gxs, &b.gx, &b.gy};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) {
        *bufs[k] = xmalloc(n * sizeof(float));
        memset(*bufs[k], 0, n * sizeof(float));
    }

    /* Correctness once: df/dx = 2x + y + 0.01 exp(0.01 x), df/dy = x, d2f/dx2 = 2 +
     * 1e-4 exp(0.01 x); the references must agree too. */
    double x1 = xv[1], y1 = yv[1], g[2], d[2];
    double dfdx = 2.0 * x1 + y1 + 0.01 * exp(0.01 * x1), d2f = 2.0 + 1e-4 * exp(0.01 * x1);
    w1_iteration(x, y, g);
    check(close_to(g[0], dfdx, 1e-5) && close_to(g[1], x1, 1e-6), "W1 gradient");
    w1_ref_ops(xv, yv, &b, g);
    check(close_to(g[0], dfdx, 1e-5) && close_to(g[1], x1, 1e-6), "W1 op-by-op reference");
    w1_ref_fused(xv, yv, &b, g);
    check(close_to(g[0], dfdx, 1e-5) && close_to(g[1], x1, 1e-6), "W1 fused reference");
    w2_iteration(x, y, d);
    check(close_to(d[0], dfdx, 1e-5) && close_to(d[1], d2f, 1e-5), "W2 first and second derivative");

    /* W1 with its references, interleaved per repetition. */
    int iters = count(200, 50, 2);
    for (int i = 0; i < count(20, 20, 1); i++) { /* warm-up: allocator caches */
        w1_iteration(x, y, g);
        w1_ref_ops(xv, yv, &b, g);
        w1_ref_fused(xv, yv, &b, g);
    }
    samples lib = {.n = 0}, ops = {.n = 0}, fused = {.n = 0}, r_ops = {.n = 0}, r_fused = {.n = 0};
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            w1_iteration(x, y, g);
        }
        double t1 = now_us();
        for (int i = 0; i < iters; i++) {
            w1_ref_ops(xv, yv, &b, g);
        }
        double t2 = now_us();
        for (int i = 0; i < iters; i++) {
            w1_ref_fused(xv, yv, &b, g);
        }
        double t3 = now_us();
        sink = g[0] + g[1];
        add(&lib, (t1 - t0) / iters);
        add(&ops, (t2 - t1) / iters);
        add(&fused, (t3 - t2) / iters);
        add(&r_ops, (t1 - t0) / (t2 - t1));
        add(&r_fused, (t1 - t0) / (t3 - t2));
    }
    t_w1_us = row("W1 elementwise-reverse [1000]x100", &lib, "us/iteration");
    row("W1 reference: op-by-op C, 12 passes", &ops, "us/iteration");
    row("W1 reference: fused C loop", &fused, "us/iteration");
    add_ratio("W1 / op-by-op C", &r_ops);
    add_ratio("W1 / fused C loop", &r_fused);

    /* W2 */
    iters = count(100, 25, 2);
    for (int i = 0; i < count(10, 10, 1); i++) {
        w2_iteration(x, y, d);
    }
    samples s2 = {.n = 0};
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            w2_iteration(x, y, d);
        }
        add(&s2, (now_us() - t0) / iters);
        sink = d[0] + d[1];
    }
    t_w2_us = row("W2 forward-second-order [1000]x100", &s2, "us/iteration");

    free_all((ds_array *[]){x, y}, 2);
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) {
        free(*bufs[k]);
    }
    free(xv);
    free(yv);
}

/* ---- W4 mlp-train-step -------------------------------------------------------------------- */

#define W4_IN 784
#define W4_HID 256
#define W4_OUT 10
#define W4_BATCH 128

static void fill(float *v, int64_t n, float scale, float freq)
{
    for (int64_t i = 0; i < n; i++) {
        v[i] = scale * sinf(freq * (float)i);
    }
}

/* A parameter shared by the batch: one sample, not sample-dependent, requires_grad. */
static ds_array *w4_parameter(const int64_t *shape, size_t rank, float scale)
{
    int64_t n = 1;
    for (size_t i = 0; i < rank; i++) {
        n *= shape[i];
    }
    ds_array *p;
    CK(ds_array_create(shape, rank, 1, &p));
    float *v;
    CK(ds_array_data(p, &v));
    fill(v, n, scale, 0.37f);
    CK(ds_array_set_flag(p, DS_FLAG_SAMPLE_DEPENDENT, false));
    CK(ds_array_set_flag(p, DS_FLAG_REQUIRES_GRAD, true));
    return p;
}

/* One step: h = tanh(W1 X + b1), y = W2 h + b2, loss = mean((y - T)^2), reverse mode, SGD
 * W -= 0.01 grad in place through the zero-copy pointers, gradients zeroed. Returns the loss;
 * with gb2, also copies b2's gradient there (before the update). */
static double w4_step(ds_array *p[4], ds_array *x, ds_array *t, float *gb2)
{
    ds_array *a1, *z1, *h, *a2, *y, *d, *d2, *loss;
    CK(ds_matmul(p[0], x, &a1));
    CK(ds_binary(DS_ADD, a1, p[1], &z1));
    CK(ds_unary(DS_TANH, z1, &h));
    CK(ds_matmul(p[2], h, &a2));
    CK(ds_binary(DS_ADD, a2, p[3], &y));
    CK(ds_binary(DS_SUB, y, t, &d));
    CK(ds_binary_scalar(DS_POW, d, 2.0f, &d2));
    CK(ds_mean_all(d2, &loss));
    CK(ds_grad_reverse(loss, NULL, 0));
    float *lv;
    CK(ds_array_data(loss, &lv));
    double l = lv[0];
    for (int k = 0; k < 4; k++) {
        float *v, *g;
        int64_t e;
        CK(ds_array_data_mut(p[k], &v)); /* a write: the array's version changes */
        CK(ds_array_grad_data(p[k], &g));
        CK(ds_array_extents(p[k], &e, NULL));
        if (k == 3 && gb2) {
            memcpy(gb2, g, (size_t)e * sizeof *g);
        }
        for (int64_t i = 0; i < e; i++) {
            v[i] -= 0.01f * g[i];
        }
        CK(ds_zero_grad(p[k]));
    }
    free_all((ds_array *[]){a1, z1, h, a2, y, d, d2, loss}, 8);
    return l;
}

/* The loss and d loss / d b2 of the network, in double precision, from the arrays' values. */
static double w4_closed_form(ds_array *p[4], ds_array *x, ds_array *t, double gb2[W4_OUT])
{
    float *w1, *b1, *w2, *b2, *xv, *tv;
    CK(ds_array_data(p[0], &w1));
    CK(ds_array_data(p[1], &b1));
    CK(ds_array_data(p[2], &w2));
    CK(ds_array_data(p[3], &b2));
    CK(ds_array_data(x, &xv));
    CK(ds_array_data(t, &tv));
    double loss = 0, h[W4_HID];
    for (int i = 0; i < W4_OUT; i++) {
        gb2[i] = 0;
    }
    for (int s = 0; s < W4_BATCH; s++) {
        for (int j = 0; j < W4_HID; j++) {
            double a = b1[j];
            for (int k = 0; k < W4_IN; k++) {
                a += (double)w1[j + W4_HID * k] * xv[k + W4_IN * s];
            }
            h[j] = tanh(a);
        }
        for (int i = 0; i < W4_OUT; i++) {
            double yv = b2[i];
            for (int j = 0; j < W4_HID; j++) {
                yv += (double)w2[i + W4_OUT * j] * h[j];
            }
            double r = yv - tv[i + W4_OUT * s];
            loss += r * r;
            gb2[i] += 2.0 * r;
        }
    }
    for (int i = 0; i < W4_OUT; i++) {
        gb2[i] /= (double)(W4_OUT * W4_BATCH);
    }
    return loss / (double)(W4_OUT * W4_BATCH);
}

/* A plain array (no requires_grad) of deterministic values. */
static ds_array *plain(const int64_t *shape, size_t rank, int64_t batch, float freq)
{
    int64_t n = batch;
    for (size_t i = 0; i < rank; i++) {
        n *= shape[i];
    }
    ds_array *a;
    CK(ds_array_create(shape, rank, batch, &a));
    float *v;
    CK(ds_array_data(a, &v));
    fill(v, n, 0.1f, freq);
    return a;
}

/* The reference: a step's five GEMMs, forward only on plain arrays. */
typedef struct {
    ds_array *w1, *x, *w2, *h, *g1, *xt, *g2, *ht, *w2t, *g2b;
} w4_gemms;

static double w4_reference(const w4_gemms *m)
{
    ds_array *c[5];
    CK(ds_matmul(m->w1, m->x, &c[0]));   /* [256,784] . [784] x128: W1 X     */
    CK(ds_matmul(m->w2, m->h, &c[1]));   /* [10,256] . [256] x128:  W2 h     */
    CK(ds_matmul(m->w2t, m->g2b, &c[2])); /* [256,10] . [10] x128:  W2^T g2  */
    CK(ds_matmul(m->g2, m->ht, &c[3]));  /* [10,128] . [128,256]:   g2 h^T   */
    CK(ds_matmul(m->g1, m->xt, &c[4]));  /* [256,128] . [128,784]:  g1 X^T   */
    float *v;
    CK(ds_array_data(c[4], &v));
    double r = v[0];
    free_all(c, 5);
    return r;
}

/* The core's peak single-precision rate in GFLOP/s: 12 independent chains of vector FMAs kept
 * in registers (enough to cover the FMA latency on current x86 cores), or -1 if this file was
 * not compiled for a vector FMA unit. */
static double fma_peak_gflops(void)
{
#if defined(__AVX512F__) || defined(__FMA__)
#if defined(__AVX512F__)
    typedef __m512 vec;
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VSET(x) _mm512_set1_ps(x)
#define VSUM(v) _mm512_reduce_add_ps(v)
    const int lanes = 16;
#else
    typedef __m256 vec;
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VSET(x) _mm256_set1_ps(x)
#define VSUM(v) (((float *)&(v))[0])
    const int lanes = 8;
#endif
    enum { CHAINS = 12 };
    const long steps = 2000000;
    vec acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) {
        acc[i] = VSET(1.0f + 0.001f * (float)i);
    }
    const vec m = VSET(0.999999f), a = VSET(1e-7f);
    double t0 = now_us();
    for (long s = 0; s < steps; s++) {
        for (int i = 0; i < CHAINS; i++) {
            acc[i] = VFMA(acc[i], m, a);
        }
    }
    double t1 = now_us();
    double keep = 0;
    for (int i = 0; i < CHAINS; i++) {
        keep += VSUM(acc[i]);
    }
    sink = keep;
#undef VFMA
#undef VSET
#undef VSUM
    return 2.0 * lanes * CHAINS * (double)steps / (t1 - t0) * 1e-3;
#else
    return -1.0;
#endif
}

static void w4(void)
{
    const int64_t s_w1[] = {W4_HID, W4_IN}, s_b1[] = {W4_HID}, s_w2[] = {W4_OUT, W4_HID},
                  s_b2[] = {W4_OUT};
    const int64_t s_x[] = {W4_IN}, s_t[] = {W4_OUT}, batch = W4_BATCH;
    ds_array *p[4] = {w4_parameter(s_w1, 2, 0.01f), w4_parameter(s_b1, 1, 0.1f),
                      w4_parameter(s_w2, 2, 0.1f), w4_parameter(s_b2, 1, 0.1f)};
    ds_array *x, *t;
    CK(ds_array_create(s_x, 1, batch, &x));
    CK(ds_array_create(s_t, 1, batch, &t));
    float *xv, *tv;
    CK(ds_array_data(x, &xv));
    CK(ds_array_data(t, &tv));
    fill(xv, W4_IN * batch, 0.5f, 1.7f);
    for (int64_t i = 0; i < W4_OUT * batch; i++) {
        tv[i] = cosf(0.1f * (float)i) * 0.5f;
    }

    /* Correctness once: the loss and b2's gradient of the first step vs double precision. */
    double want_gb2[W4_OUT];
    double want_loss = w4_closed_form(p, x, t, want_gb2);
    float gb2[W4_OUT];
    double first = w4_step(p, x, t, gb2), last = first;
    bool ok = close_to(first, want_loss, 1e-4);
    for (int i = 0; i < W4_OUT; i++) {
        ok = ok && fabs(gb2[i] - want_gb2[i]) <= 1e-4 * (1e-2 + fabs(want_gb2[i]));
    }
    check(ok, "W4 loss and d loss / d b2 of the first step");

    const int64_t s_g1[] = {W4_HID, W4_BATCH}, s_xt[] = {W4_BATCH, W4_IN},
                  s_g2[] = {W4_OUT, W4_BATCH}, s_ht[] = {W4_BATCH, W4_HID},
                  s_w2t[] = {W4_HID, W4_OUT};
    w4_gemms m = {plain(s_w1, 2, 1, 0.37f), plain(s_x, 1, batch, 1.7f),
                  plain(s_w2, 2, 1, 0.37f), plain(s_b1, 1, batch, 0.3f),
                  plain(s_g1, 2, 1, 0.11f), plain(s_xt, 2, 1, 0.7f),
                  plain(s_g2, 2, 1, 0.13f), plain(s_ht, 2, 1, 0.5f),
                  plain(s_w2t, 2, 1, 0.37f), plain(s_b2, 1, batch, 0.9f)};
    sink = w4_reference(&m);

    int iters = count(20, 5, 1);
    samples s = {.n = 0}, ref = {.n = 0}, flops = {.n = 0}, r = {.n = 0};
    samples fma_peak = {.n = 0}, floor_ms = {.n = 0}, r_floor = {.n = 0};
    const double gemm_flop = 2.0 * ((double)W4_HID * W4_IN * W4_BATCH * 2 +
                                    (double)W4_OUT * W4_HID * W4_BATCH * 3);
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            last = w4_step(p, x, t, NULL);
        }
        double t1 = now_us();
        for (int i = 0; i < iters; i++) {
            sink = w4_reference(&m);
        }
        double t2 = now_us();
        add(&s, (t1 - t0) / iters / 1000.0);
        add(&ref, (t2 - t1) / iters / 1000.0);
        add(&flops, gemm_flop * iters / (t2 - t1) * 1e-3);
        add(&r, (t1 - t0) / (t2 - t1));
        double peak = fma_peak_gflops();
        if (peak > 0) {
            add(&fma_peak, peak);
            add(&floor_ms, gemm_flop / peak * 1e-6);
            add(&r_floor, (t1 - t0) / iters / 1000.0 / (gemm_flop / peak * 1e-6));
        }
    }
    check(last < first, "W4 loss falls");
    t_w4_ms = row("W4 mlp-train-step 784-256-10, batch 128", &s, "ms/step");
    row("W4 reference: its 5 GEMMs, ds_matmul fwd", &ref, "ms/step");
    row("W4 reference GEMM throughput", &flops, "GFLOP/s");
    if (fma_peak.n > 0) {
        row("W4 reference: core's FMA peak", &fma_peak, "GFLOP/s");
        row("W4 floor: its GEMM flops at that peak", &floor_ms, "ms/step");
    }
    add_ratio("W4 / its 5 GEMMs (ds_matmul, no graph)", &r);
    if (r_floor.n > 0) {
        add_ratio("W4 / its GEMM flops at the FMA peak", &r_floor);
    }
    free_all((ds_array *[]){p[0], p[1], p[2], p[3], x, t}, 6);
    free_all((ds_array *[]){m.w1, m.x, m.w2, m.h, m.g1, m.xt, m.g2, m.ht, m.w2t, m.g2b}, 10);
}

/* ---- W3 scalar-overhead ------------------------------------------------------------------- */

#define W3_OPS 6 /* x**3, x**2, 2*(.), +, +, -5 */

static double w3_iteration(ds_array *x)
{
    ds_array *x3, *x2, *t, *s1, *s2, *f, *df;
    CK(ds_binary_scalar(DS_POW, x, 3.0f, &x3));
    CK(ds_binary_scalar(DS_POW, x, 2.0f, &x2));
    CK(ds_scalar_binary(DS_MUL, 2.0f, x2, &t));
    CK(ds_binary(DS_ADD, x3, t, &s1));
    CK(ds_binary(DS_ADD, s1, x, &s2));
    CK(ds_binary_scalar(DS_SUB, s2, 5.0f, &f));
    CK(ds_grad_forward(f, x, &df));
    float *v;
    CK(ds_array_data(df, &v));
    double r = v[0];
    free_all((ds_array *[]){x3, x2, t, s1, s2, f, df}, 7);
    return r;
}

static void w3(void)
{
    const int64_t shape[] = {1};
    ds_array *x;
    CK(ds_array_full(shape, 1, 1, 1.5f, &x));
    CK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    check(fabs(w3_iteration(x) - 13.75) < 1e-5, "W3 derivative"); /* 3x^2 + 4x + 1 at 1.5 */

    int iters = count(50000, 5000, 10);
    int calls = count(2000000, 200000, 1000);
    for (int i = 0; i < count(1000, 1000, 1); i++) {
        sink = w3_iteration(x);
    }
    samples s = {.n = 0}, per_op = {.n = 0}, empty = {.n = 0}, extents = {.n = 0}, r = {.n = 0};
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            sink = w3_iteration(x);
        }
        double ns = (now_us() - t0) * 1e3 / iters;
        add(&s, ns);
        add(&per_op, ns / W3_OPS);

        /* Reference: the cheapest ABI calls. */
        size_t acc = 0;
        t0 = now_us();
        for (int i = 0; i < calls; i++) {
            acc += ds_live_handles();
        }
        double empty_ns = (now_us() - t0) * 1e3 / calls;
        add(&empty, empty_ns);
        add(&r, ns / empty_ns);
        int64_t e = 0;
        t0 = now_us();
        for (int i = 0; i < calls; i++) {
            ds_array_extents(x, &e, NULL);
            acc += (size_t)e;
        }
        add(&extents, (now_us() - t0) * 1e3 / calls);
        sink = (double)acc;
    }
    t_w3_ns = row("W3 scalar-overhead build+forward", &s, "ns/iteration");
    row("W3 scalar-overhead per graph op (/6)", &per_op, "ns/op");
    row("ABI empty call ds_live_handles()", &empty, "ns/call");
    row("ABI call ds_array_extents(handle)", &extents, "ns/call");
    add_ratio("W3 / empty ABI call (ds_live_handles)", &r);
    CK(ds_array_free(x));
}

/* ---- W5 zero-copy-wrap -------------------------------------------------------------------- */

static void w5(void)
{
    /* 1e8 floats (400 MB); 1e6 with --smoke */
    const int64_t shape[] = {1000}, batch = mode == SMOKE ? 1000 : 100000;
    const size_t n = (size_t)(1000 * batch);
    const char *size_name = mode == SMOKE ? "1e6" : "1e8";
    float *buf = xmalloc(n * sizeof *buf);
    for (size_t i = 0; i < n; i++) { /* touch every page: the buffer is resident */
        buf[i] = (float)(i % 1000);
    }
    const size_t probe = n - 12345;
    bool exact_peak = reset_peak();

    /* wrap: time per wrap + read + free (many per repetition: it is fast) and its extra peak. */
    samples wt = {.n = 0}, wm = {.n = 0}, ct = {.n = 0}, cm = {.n = 0};
    int iters = count(10000, 1000, 10);
    for (int rep = 0; rep < reps; rep++) {
        reset_peak();
        long base = status_kib("VmHWM");
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            ds_array *a;
            float *p;
            CK(ds_array_wrap(shape, 1, batch, buf, n, &a));
            CK(ds_array_data(a, &p));
            sink = p[probe];
            if (i == 0) {
                check(p == buf && p[probe] == buf[probe], "W5 wrap reads the caller's buffer");
            }
            CK(ds_array_free(a));
        }
        add(&wt, (now_us() - t0) / iters);
        add(&wm, peak_extra_mib(base));
    }
    /* from_data: the same on a copy. */
    int copy_reps = reps < 5 ? reps : 5; /* each one copies 400 MB */
    for (int rep = 0; rep < copy_reps; rep++) {
        reset_peak();
        long base = status_kib("VmHWM");
        double t0 = now_us();
        ds_array *a;
        float *p;
        CK(ds_array_from_data(shape, 1, batch, buf, n, &a));
        CK(ds_array_data(a, &p));
        sink = p[probe];
        check(p != buf && p[probe] == buf[probe], "W5 from_data copies the buffer");
        CK(ds_array_free(a));
        add(&ct, now_us() - t0);
        add(&cm, peak_extra_mib(base));
    }
    char name[64];
    snprintf(name, sizeof name, "W5 wrap %s floats: wrap+read+free", size_name);
    t_w5_wrap_us = row(name, &wt, "us");
    snprintf(name, sizeof name, "W5 wrap %s floats: extra peak RSS", size_name);
    t_w5_wrap_mib = row(name, &wm, "MiB");
    snprintf(name, sizeof name, "W5 from_data %s floats: copy+read+free", size_name);
    row(name, &ct, "us");
    snprintf(name, sizeof name, "W5 from_data %s floats: extra peak RSS", size_name);
    row(name, &cm, "MiB");
    if (!exact_peak) {
        printf("# W5: /proc/self/clear_refs unavailable, peak RSS deltas are lower bounds\n");
    }
    free(buf);
}

/* ---- W6 deep-shared-dag ------------------------------------------------------------------- */

/* Builds y(D) from x (freeing each level's handles: only the graph keeps the nodes), runs
 * reverse mode from sum(y(D)); returns the time in ms. Then checks, zeroes and releases. */
static double w6_run(ds_array *x, long depth, double *release_ms)
{
    double t0 = now_us();
    ds_array *y = x;
    for (long k = 0; k < depth; k++) {
        ds_array *yy, *half, *next;
        CK(ds_binary(DS_MUL, y, y, &yy));
        CK(ds_binary_scalar(DS_MUL, yy, 0.5f, &half));
        CK(ds_binary(DS_ADD, half, y, &next));
        CK(ds_array_free(yy));
        CK(ds_array_free(half));
        if (y != x) {
            CK(ds_array_free(y));
        }
        y = next;
    }
    ds_array *s;
    CK(ds_sum_all(y, &s));
    CK(ds_grad_reverse(s, NULL, 0));
    double t1 = now_us();

    /* dy(k+1)/dy(k) = 1 + y(k), so every gradient element is prod_k (1 + y(k)). */
    float *g;
    CK(ds_array_grad_data(x, &g));
    double yk = 1e-6, want = 1.0;
    for (long k = 0; k < depth; k++) {
        want *= 1.0 + yk;
        yk = yk * yk * 0.5 + yk;
    }
    check(isfinite(g[0]) && isfinite(g[999]), "W6 gradient is finite");
    check(fabs(g[0] - want) <= 1e-2 * want, "W6 gradient value");
    CK(ds_zero_grad(x));

    double t2 = now_us();
    CK(ds_array_free(s));
    if (y != x) {
        CK(ds_array_free(y)); /* the last handle on the chain: frees every level */
    }
    *release_ms = (now_us() - t2) * 1e-3;
    return (t1 - t0) * 1e-3;
}

static void w6(void)
{
    const int64_t shape[] = {1000};
    const long depths[] = {10, 20, 1000, 100000};
    double median_ms[4] = {0};
    ds_array *x;
    CK(ds_array_full(shape, 1, 1, 1e-6f, &x));
    CK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));

    for (int d = 0; d < 4; d++) {
        long depth = depths[d];
        if (mode != FULL && depth > 1000) {
            continue;
        }
        /* Small graphs are timed over several runs per repetition. */
        long inner = depth >= 10000 || mode == SMOKE ? 1 : 10000 / depth;
        int r = depth >= 100000 ? 5 : reps; /* ~1 s and ~1.2 GB per run */
        samples t = {.n = 0}, level = {.n = 0}, rel = {.n = 0};
        double release_ms;
        /* Warm-up run, which also gives the graph's memory: the extra peak RSS of a first run
         * (later runs reuse the memory the allocator kept, and add no new peak). */
        reset_peak();
        long base = status_kib("VmHWM");
        w6_run(x, depth, &release_ms);
        double mib = peak_extra_mib(base);
        for (int rep = 0; rep < r; rep++) {
            double ms = 0, rms = 0;
            for (long i = 0; i < inner; i++) {
                ms += w6_run(x, depth, &release_ms);
                rms += release_ms;
            }
            add(&t, ms / inner);
            add(&level, ms / inner / depth * 1e3);
            add(&rel, rms / inner);
        }
        char name[64];
        snprintf(name, sizeof name, "W6 deep-dag D=%ld build+reverse", depth);
        median_ms[d] = row(name, &t, "ms");
        snprintf(name, sizeof name, "W6 deep-dag D=%ld per level", depth);
        row(name, &level, "us/level");
        snprintf(name, sizeof name, "W6 deep-dag D=%ld release", depth);
        row(name, &rel, "ms");
        if (depth >= 1000) { /* smaller graphs fit in memory the allocator already holds */
            printf("# W6 D=%ld: first run's extra peak RSS %.1f MiB (%.0f bytes/level)\n", depth,
                   mib, mib * 1048576.0 / (double)depth);
        }
    }
    if (median_ms[3] > 0) {
        t_w6_ratio = median_ms[3] / median_ms[2];
        printf("%-44s %14.3f %14s %14s  %s\n", "W6 time(D=100000)/time(D=1000)", t_w6_ratio, "-",
               "-", "ratio (ideal 100)");
    }
    CK(ds_array_free(x));
}

/* ---- W7 hessian --------------------------------------------------------------------------- */

#define W7_N 64

/* The full Hessian of f = sum(tanh(x)**2 * x) into hess (row-major, row i = d/dx of df/dx_i):
 * f is built once, then for each i, d1 = grad_forward(f, x) along e_i (a differentiable
 * graph), reverse mode from d1 gives row i in x's gradient. */
static void w7_iteration(ds_array *x, const float *eye, float *hess)
{
    ds_array *t, *t2, *p, *f;
    CK(ds_unary(DS_TANH, x, &t));
    CK(ds_binary_scalar(DS_POW, t, 2.0f, &t2));
    CK(ds_binary(DS_MUL, t2, x, &p));
    CK(ds_sum_all(p, &f));
    free_all((ds_array *[]){t, t2, p}, 3);
    for (int i = 0; i < W7_N; i++) {
        ds_array *d1;
        CK(ds_array_set_direction(x, eye + (size_t)i * W7_N, W7_N));
        CK(ds_grad_forward(f, x, &d1));
        CK(ds_grad_reverse(d1, NULL, 0));
        float *g;
        CK(ds_array_grad_data(x, &g));
        memcpy(hess + (size_t)i * W7_N, g, W7_N * sizeof *g);
        CK(ds_zero_grad(x));
        CK(ds_array_free(d1));
    }
    CK(ds_array_free(f));
}

/* The same Hessian from one forward and one reverse pass: xb holds 64 copies of x (a batch of
 * 64 samples, copied from x's values here), f = sum(tanh(xb)**2 * xb) is the sum of f over the
 * copies, the direction of copy s is e_s (xb's direction is the identity), so d1 = grad_forward
 * is the sum over s of df/dx_s at copy s, and reverse mode from d1 leaves row s of the Hessian
 * in the gradient of copy s. */
static void w7_batched_iteration(ds_array *x, ds_array *xb, float *hess)
{
    const float *xv;
    float *bv;
    CK(ds_array_data_const(x, &xv));
    CK(ds_array_data_mut(xb, &bv));
    for (int s = 0; s < W7_N; s++) {
        memcpy(bv + (size_t)s * W7_N, xv, W7_N * sizeof *xv);
    }
    ds_array *t, *t2, *p, *f, *d1;
    CK(ds_unary(DS_TANH, xb, &t));
    CK(ds_binary_scalar(DS_POW, t, 2.0f, &t2));
    CK(ds_binary(DS_MUL, t2, xb, &p));
    CK(ds_sum_all(p, &f));
    CK(ds_grad_forward(f, xb, &d1));
    CK(ds_grad_reverse(d1, NULL, 0));
    float *g;
    CK(ds_array_grad_data(xb, &g));
    memcpy(hess, g, W7_N * W7_N * sizeof *g); /* sample s = row s */
    CK(ds_zero_grad(xb));
    free_all((ds_array *[]){t, t2, p, f, d1}, 5);
}

/* Max |H - closed form| small: f is a sum of g(x_k) = tanh(x_k)^2 x_k, so the Hessian is
 * diagonal with g'' = 2 s^2 x - 4 t^2 s x + 4 t s, where t = tanh x and s = 1 - t^2. */
static bool w7_hessian_ok(const float *xv, const float *hess)
{
    bool ok = true;
    for (int i = 0; i < W7_N; i++) {
        double tt = tanh((double)xv[i]), s = 1.0 - tt * tt;
        double gpp = 2.0 * s * s * xv[i] - 4.0 * tt * tt * s * xv[i] + 4.0 * tt * s;
        for (int j = 0; j < W7_N; j++) {
            double want = i == j ? gpp : 0.0;
            ok = ok && fabs(hess[i * W7_N + j] - want) <= 1e-5 * (1.0 + fabs(want));
        }
    }
    return ok;
}

static void w7(void)
{
    const int64_t shape[] = {W7_N};
    float xv[W7_N], *eye = xmalloc(W7_N * W7_N * sizeof *eye),
                    *hess = xmalloc(W7_N * W7_N * sizeof *hess);
    for (int i = 0; i < W7_N; i++) {
        xv[i] = -1.5f + 3.0f * (float)i / (W7_N - 1);
        for (int j = 0; j < W7_N; j++) {
            eye[i * W7_N + j] = i == j ? 1.0f : 0.0f;
        }
    }
    ds_array *x, *xb;
    CK(ds_array_from_data(shape, 1, 1, xv, W7_N, &x));
    CK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    CK(ds_array_create(shape, 1, W7_N, &xb));
    CK(ds_array_set_flag(xb, DS_FLAG_REQUIRES_GRAD, true));
    CK(ds_array_set_direction(xb, eye, W7_N * W7_N));

    /* Correctness once, for both. */
    w7_iteration(x, eye, hess);
    check(w7_hessian_ok(xv, hess), "W7 Hessian");
    memset(hess, 0, W7_N * W7_N * sizeof *hess);
    w7_batched_iteration(x, xb, hess);
    check(w7_hessian_ok(xv, hess), "W7 Hessian, batched directions");

    int iters = count(200, 50, 1), iters_b = count(2000, 500, 1);
    for (int i = 0; i < count(20, 10, 0); i++) {
        w7_iteration(x, eye, hess);
        w7_batched_iteration(x, xb, hess);
    }
    samples s = {.n = 0}, sb = {.n = 0};
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            w7_iteration(x, eye, hess);
        }
        double t1 = now_us();
        for (int i = 0; i < iters_b; i++) {
            w7_batched_iteration(x, xb, hess);
        }
        double t2 = now_us();
        add(&s, (t1 - t0) / iters / 1000.0);
        add(&sb, (t2 - t1) / iters_b / 1000.0);
        sink = hess[W7_N + 1];
    }
    t_w7_ms = row("W7 hessian 64x64, 64 reverse-over-forward", &s, "ms/hessian");
    t_w7b_ms = row("W7 hessian 64x64, batched directions", &sb, "ms/hessian");
    free_all((ds_array *[]){x, xb}, 2);
    free(eye);
    free(hess);
}

/* ---- main --------------------------------------------------------------------------------- */

static void target(const char *name, double value, double goal, const char *unit)
{
    if (value < 0) {
        printf("%-44s %14s %14.3f %14s  %s\n", name, "not measured", goal, "-", unit);
        return;
    }
    printf("%-44s %14.3f %14.3f %14.3f  %s%s\n", name, value, goal, value / goal, unit,
           value <= goal ? "" : "  (missed)");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            mode = QUICK;
            reps = 5;
        } else if (strcmp(argv[i], "--smoke") == 0) {
            mode = SMOKE;
            reps = 1;
        } else {
            fprintf(stderr, "usage: %s [--quick | --smoke]\n", argv[0]);
            return 2;
        }
    }
    printf("# diffstruc benchmark, C ABI (%s): %d repetitions per row unless noted\n",
           mode == FULL ? "full" : mode == QUICK ? "quick" : "smoke: checks only, times mean nothing",
           reps);
    printf("%-44s %14s %14s %14s  %s\n", "name", "median", "min", "max", "unit");
    w1_w2();
    w4();
    w3();
    w7();
    w5();
    w6();

    printf("%-44s %14.1f %14s %14s  %s\n", "process peak RSS", process_peak_kib() / 1024.0,
           "-", "-", "MiB");

    printf("\n# ratios: library / in-run reference, median of the per-repetition ratios\n");
    printf("%-44s %14s %14s %14s  %s\n", "name", "median", "min", "max", "unit");
    for (int i = 0; i < n_ratios; i++) {
        row(ratios[i].name, &ratios[i].s, "ratio");
    }

    printf("\n# targets (1 thread): measured median / target (<= 1 meets it)\n");
    printf("%-44s %14s %14s %14s  %s\n", "name", "measured", "target", "ratio", "unit");
    target("W1 elementwise-reverse", t_w1_us, 150.0, "us/iteration");
    target("W1 elementwise-reverse (stretch)", t_w1_us, 120.0, "us/iteration");
    target("W2 forward-second-order", t_w2_us, 200.0, "us/iteration");
    target("W3 scalar-overhead", t_w3_ns, 1000.0, "ns/iteration");
    target("W4 mlp-train-step", t_w4_ms, 0.70, "ms/step");
    target("W5 wrap time", t_w5_wrap_us, 1.0, "us");
    /* A target of 0 MiB has no ratio: compare with 1 MiB (far more than one node's header). */
    target("W5 wrap extra peak RSS (target 0, vs 1 MiB)", t_w5_wrap_mib, 1.0, "MiB");
    if (t_w6_ratio >= 0) {
        target("W6 time(100000)/time(1000)", t_w6_ratio, 120.0, "ratio");
    } else {
        printf("%-44s %14s\n", "W6 time(100000)/time(1000)", "skipped (--quick/--smoke)");
    }
    target("W7 hessian 64x64 (64 reverse-over-forward)", t_w7_ms, 0.1, "ms/hessian");
    target("W7 hessian 64x64 (batched directions)", t_w7b_ms, 0.1, "ms/hessian");
    if (ds_live_arrays() != 0 || ds_live_handles() != 0) {
        fprintf(stderr, "leak: %zu arrays, %zu handles alive\n", ds_live_arrays(),
                ds_live_handles());
        return 1;
    }
    if (!checks_ok) {
        fprintf(stderr, "bench: a result check failed\n");
    }
    return checks_ok ? 0 : 1;
}
