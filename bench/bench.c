/*
 * bench.c -- diffstruc benchmark through the C ABI (not a test).
 *
 *   W1 elementwise-reverse  f = x**2 + y*x + exp(x*0.01), x and y of shape [1000] x batch 100;
 *                           build, reverse (seed NULL), read and zero the gradients, release
 *   W3 scalar-overhead      f = x**3 + 2*x**2 + x - 5 on one number, then grad_forward; plus the
 *                           cost of an empty ABI call for reference
 *   W4 mlp-train-step       h = tanh(W1 X + b1), y = W2 h + b2, loss = mean((y - T)**2) with
 *                           W1 [256,784], W2 [10,256], X [784] x batch 128; reverse, SGD in
 *                           place through the zero-copy pointers (lr 0.01), zero the gradients
 *   W5 zero-copy-wrap       wrap a caller-owned buffer of 1e8 floats (400 MB) vs copying it
 *   W6 deep-shared-dag      y(k+1) = y(k)*y(k)*0.5 + y(k), D levels, reverse from sum(y(D))
 *
 * Every measurement is repeated (11 times, 5 with --quick) and printed as one row:
 *   name  median  min  max  unit
 * followed by a "targets" section: measured median / target (<= 1 meets the target).
 * --quick also uses fewer iterations per repetition and skips D = 100000.
 *
 * Times come from clock_gettime(CLOCK_MONOTONIC); memory from /proc/self/status (VmHWM, the
 * peak RSS, which is reset through /proc/self/clear_refs before each memory measurement; the
 * process's overall peak is tracked across resets, with getrusage as a fallback). Results are
 * checked once per workload. Exit status: 0, or 1 if a result check failed or something leaked,
 * or 2 if a diffstruc call failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "diffstruc.h"

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
static int reps = 11;     /* repetitions per measurement */
static bool quick = false;

typedef struct {
    double v[MAX_REPS];
    int n;
} samples;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints one row and returns the median. */
static double row(const char *name, samples *s, const char *unit)
{
    qsort(s->v, (size_t)s->n, sizeof s->v[0], cmp_double);
    double median = s->n % 2 ? s->v[s->n / 2] : 0.5 * (s->v[s->n / 2 - 1] + s->v[s->n / 2]);
    printf("%-44s %14.3f %14.3f %14.3f  %s\n", name, median, s->v[0], s->v[s->n - 1], unit);
    return median;
}

static void add(samples *s, double v)
{
    if (s->n < MAX_REPS) {
        s->v[s->n++] = v;
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

/* Results for the targets section. */
static double t_w1_us, t_w3_ns, t_w4_ms, t_w5_wrap_us, t_w5_wrap_mib, t_w6_ratio = -1;

/* Sink for values read from the library, so the reads are not optimised away. */
static volatile double sink;

static void free_all(ds_array **hs, int n)
{
    for (int i = 0; i < n; i++) {
        CK(ds_array_free(hs[i]));
    }
}

/* ---- W1 elementwise-reverse --------------------------------------------------------------- */

static double w1_iteration(ds_array *x, ds_array *y)
{
    ds_array *x2, *yx, *xs, *ex, *s, *f;
    CK(ds_binary_scalar(DS_POW, x, 2.0f, &x2));
    CK(ds_binary(DS_MUL, y, x, &yx));
    CK(ds_binary_scalar(DS_MUL, x, 0.01f, &xs));
    CK(ds_unary(DS_EXP, xs, &ex));
    CK(ds_binary(DS_ADD, x2, yx, &s));
    CK(ds_binary(DS_ADD, s, ex, &f));
    free_all((ds_array *[]){x2, yx, xs, ex, s}, 5); /* f's graph keeps them */
    CK(ds_grad_reverse(f, NULL, 0));
    float *gx, *gy;
    CK(ds_array_grad_data(x, &gx));
    CK(ds_array_grad_data(y, &gy));
    double r = (double)gx[1] + (double)gy[1];
    CK(ds_zero_grad(x));
    CK(ds_zero_grad(y));
    CK(ds_array_free(f)); /* releases the whole graph */
    return r;
}

static void w1(void)
{
    const int64_t shape[] = {1000}, batch = 100;
    const size_t n = 1000 * 100;
    float *xv = malloc(n * sizeof *xv), *yv = malloc(n * sizeof *yv);
    if (!xv || !yv) {
        exit(2);
    }
    for (size_t i = 0; i < n; i++) {
        xv[i] = (float)((long)(i % 2001) - 1000) / 1000.0f; /* [-1, 1] */
        yv[i] = (float)(i % 7) * 0.25f - 0.75f;
    }
    ds_array *x, *y;
    CK(ds_array_from_data(shape, 1, batch, xv, n, &x));
    CK(ds_array_from_data(shape, 1, batch, yv, n, &y));
    CK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    CK(ds_array_set_flag(y, DS_FLAG_REQUIRES_GRAD, true));

    /* Correctness once: d/dx = 2x + y + 0.01 exp(0.01 x), d/dy = x. */
    double r = w1_iteration(x, y);
    double want = 2.0 * xv[1] + yv[1] + 0.01 * exp(0.01 * xv[1]) + xv[1];
    check(fabs(r - want) <= 1e-5 * (1.0 + fabs(want)), "W1 gradient");

    int iters = quick ? 50 : 200;
    for (int i = 0; i < 20; i++) { /* warm-up: allocator caches */
        sink = w1_iteration(x, y);
    }
    samples s = {.n = 0};
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            sink = w1_iteration(x, y);
        }
        add(&s, (now_us() - t0) / iters);
    }
    t_w1_us = row("W1 elementwise-reverse [1000]x100", &s, "us/iteration");
    free_all((ds_array *[]){x, y}, 2);
    free(xv);
    free(yv);
}

/* ---- W4 mlp-train-step -------------------------------------------------------------------- */

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
    for (int64_t i = 0; i < n; i++) {
        v[i] = scale * sinf(0.37f * (float)i);
    }
    CK(ds_array_set_flag(p, DS_FLAG_SAMPLE_DEPENDENT, false));
    CK(ds_array_set_flag(p, DS_FLAG_REQUIRES_GRAD, true));
    return p;
}

/* One step: h = tanh(W1 X + b1), y = W2 h + b2, loss = mean((y - T)^2), reverse mode, SGD
 * W -= 0.01 grad in place through the zero-copy pointers, gradients zeroed. Returns the loss. */
static double w4_step(ds_array *p[4], ds_array *x, ds_array *t)
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
        CK(ds_array_data(p[k], &v));
        CK(ds_array_grad_data(p[k], &g));
        CK(ds_array_extents(p[k], &e, NULL));
        for (int64_t i = 0; i < e; i++) {
            v[i] -= 0.01f * g[i];
        }
        CK(ds_zero_grad(p[k]));
    }
    free_all((ds_array *[]){a1, z1, h, a2, y, d, d2, loss}, 8);
    return l;
}

static void w4(void)
{
    const int64_t s_w1[] = {256, 784}, s_b1[] = {256}, s_w2[] = {10, 256}, s_b2[] = {10};
    const int64_t s_x[] = {784}, s_t[] = {10}, batch = 128;
    ds_array *p[4] = {w4_parameter(s_w1, 2, 0.01f), w4_parameter(s_b1, 1, 0.1f),
                      w4_parameter(s_w2, 2, 0.1f), w4_parameter(s_b2, 1, 0.1f)};
    ds_array *x, *t;
    CK(ds_array_create(s_x, 1, batch, &x));
    CK(ds_array_create(s_t, 1, batch, &t));
    float *xv, *tv;
    CK(ds_array_data(x, &xv));
    CK(ds_array_data(t, &tv));
    for (int64_t i = 0; i < 784 * batch; i++) {
        xv[i] = 0.5f * sinf(1.7f * (float)i);
    }
    for (int64_t i = 0; i < 10 * batch; i++) {
        tv[i] = cosf(0.1f * (float)i) * 0.5f;
    }
    double first = w4_step(p, x, t), last = first;
    int iters = quick ? 5 : 20;
    samples s = {.n = 0};
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            last = w4_step(p, x, t);
        }
        add(&s, (now_us() - t0) / iters / 1000.0);
    }
    check(last < first, "W4 loss falls");
    t_w4_ms = row("W4 mlp-train-step 784-256-10, batch 128", &s, "ms/step");
    free_all((ds_array *[]){p[0], p[1], p[2], p[3], x, t}, 6);
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

    int iters = quick ? 5000 : 50000;
    for (int i = 0; i < 1000; i++) {
        sink = w3_iteration(x);
    }
    samples s = {.n = 0}, per_op = {.n = 0}, empty = {.n = 0}, extents = {.n = 0};
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            sink = w3_iteration(x);
        }
        double ns = (now_us() - t0) * 1e3 / iters;
        add(&s, ns);
        add(&per_op, ns / W3_OPS);
    }
    t_w3_ns = row("W3 scalar-overhead build+forward", &s, "ns/iteration");
    row("W3 scalar-overhead per graph op (/6)", &per_op, "ns/op");

    /* Reference: the cheapest ABI calls. */
    int calls = quick ? 200000 : 2000000;
    for (int rep = 0; rep < reps; rep++) {
        size_t acc = 0;
        double t0 = now_us();
        for (int i = 0; i < calls; i++) {
            acc += ds_live_handles();
        }
        add(&empty, (now_us() - t0) * 1e3 / calls);
        int64_t e = 0;
        t0 = now_us();
        for (int i = 0; i < calls; i++) {
            ds_array_extents(x, &e, NULL);
            acc += (size_t)e;
        }
        add(&extents, (now_us() - t0) * 1e3 / calls);
        sink = (double)acc;
    }
    row("ABI empty call ds_live_handles()", &empty, "ns/call");
    row("ABI call ds_array_extents(handle)", &extents, "ns/call");
    CK(ds_array_free(x));
}

/* ---- W5 zero-copy-wrap -------------------------------------------------------------------- */

static void w5(void)
{
    const int64_t shape[] = {1000}, batch = 100000;
    const size_t n = 100000000; /* 1e8 floats, 400 MB */
    float *buf = malloc(n * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "W5: cannot allocate 400 MB\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++) { /* touch every page: the buffer is resident */
        buf[i] = (float)(i % 1000);
    }
    const size_t probe = n - 12345;
    bool exact_peak = reset_peak();

    /* wrap: time per wrap + read + free (many per repetition: it is fast) and its extra peak. */
    samples wt = {.n = 0}, wm = {.n = 0}, ct = {.n = 0}, cm = {.n = 0};
    int iters = quick ? 1000 : 10000;
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
    t_w5_wrap_us = row("W5 wrap 1e8 floats: wrap+read+free", &wt, "us");
    t_w5_wrap_mib = row("W5 wrap 1e8 floats: extra peak RSS", &wm, "MiB");
    row("W5 from_data 1e8 floats: copy+read+free", &ct, "us");
    row("W5 from_data 1e8 floats: extra peak RSS", &cm, "MiB");
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
        if (quick && depth > 1000) {
            continue;
        }
        /* Small graphs are timed over several runs per repetition. */
        long inner = depth >= 10000 ? 1 : 10000 / depth;
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

/* ---- main --------------------------------------------------------------------------------- */

static void target(const char *name, double value, double goal, const char *unit)
{
    printf("%-44s %14.3f %14.3f %14.3f  %s%s\n", name, value, goal, value / goal, unit,
           value <= goal ? "" : "  (missed)");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
            reps = 5;
        } else {
            fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
            return 2;
        }
    }
    printf("# diffstruc benchmark (%s): %d repetitions per row unless noted\n",
           quick ? "quick" : "full", reps);
    printf("%-44s %14s %14s %14s  %s\n", "name", "median", "min", "max", "unit");
    w1();
    w4();
    w3();
    w5();
    w6();

    printf("%-44s %14.1f %14s %14s  %s\n", "process peak RSS", process_peak_kib() / 1024.0,
           "-", "-", "MiB");

    printf("\n# targets: measured median / target (<= 1 meets it)\n");
    printf("%-44s %14s %14s %14s  %s\n", "name", "measured", "target", "ratio", "unit");
    target("W1 elementwise-reverse", t_w1_us, 100.0, "us/iteration");
    target("W3 scalar-overhead", t_w3_ns, 1000.0, "ns/iteration");
    target("W4 mlp-train-step", t_w4_ms, 1.2, "ms/step");
    target("W5 wrap time", t_w5_wrap_us, 1.0, "us");
    /* A target of 0 MiB has no ratio: compare with 1 MiB (far more than one node's header). */
    target("W5 wrap extra peak RSS (target 0, vs 1 MiB)", t_w5_wrap_mib, 1.0, "MiB");
    if (t_w6_ratio >= 0) {
        target("W6 time(100000)/time(1000)", t_w6_ratio, 100.0, "ratio");
    } else {
        printf("%-44s %14s\n", "W6 time(100000)/time(1000)", "skipped (--quick)");
    }
    if (ds_live_arrays() != 0 || ds_live_handles() != 0) {
        fprintf(stderr, "leak: %zu arrays, %zu handles alive\n", ds_live_arrays(),
                ds_live_handles());
        return 1;
    }
    return checks_ok ? 0 : 1;
}
