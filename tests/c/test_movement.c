/*
 * test_movement.c -- the data-movement and selection functions through the C ABI: ds_spread,
 * ds_unspread, ds_sum_pad, ds_concat, ds_slice (every kind), ds_index, ds_reverse_index,
 * ds_pack_mask, ds_pack_indices, ds_unpack_mask, ds_unpack_indices, ds_reshape and the four
 * merges.
 *
 * For each of them: values against hand-worked results (dim 1 and dim 2, batches > 1); the
 * gradients of op(x)^2 (so that the result is not linear) in forward mode (a per-sample and a
 * shared direction) and reverse mode (a non-trivial seed) against central finite differences,
 * and forward-over-forward against the closed form 2 (L v)^2, where L v = op(x + v) - op(x) is
 * the linear part of op along v; and the errors (status and the words of ds_last_error()).
 *
 * Positions are 1-based and dim is 1 (the elements of a sample) or 2 (the batch).
 *
 * Errors raised by the operation itself name it ("spread: ...", "concat: ..."); a negative
 * count or position is refused by the C layer before the operation runs, and a NULL pointer by
 * the handle lookup: those messages name the argument ("index = -1 must not be negative",
 * "source is NULL"), so for them the argument name is checked instead.
 */
#include <stdint.h>
#include <string.h>

#include "test_util.h"

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Central-difference step and the tolerance of the derivative checks. Every operation here is
 * linear, so op(x)^2 is quadratic and the central difference is exact up to float rounding
 * (about 1e-5 with this step); a wrong routing of a single value is off by O(0.1). */
#define FD_STEP 1e-2
#define GRAD_TOL 1e-3
/* Largest E * S of an input or a result in the gradient cases. */
#define MAXV 64

/* `a` has per-sample shape `...` and batch `batch`: CHECK_SHAPE(a, 2, 4) is [4] with batch 2. */
static int tu_shape(const ds_array *a, const int64_t *shape, size_t rank, int64_t batch,
                    const char *file, int line)
{
    int64_t got[8] = {0}, s = 0;
    size_t got_rank = 0;
    if (!tu_status(ds_array_shape(a, got, 8, &got_rank), DS_OK, "ds_array_shape", file, line) ||
        !tu_status(ds_array_extents(a, NULL, &s), DS_OK, "ds_array_extents", file, line)) {
        return 0;
    }
    int ok = got_rank == rank && s == batch;
    for (size_t i = 0; ok && i < rank; i++) {
        ok = got[i] == shape[i];
    }
    if (!tu_record(ok, file, line, "CHECK_SHAPE")) {
        printf("    got rank %zu [", got_rank);
        for (size_t i = 0; i < got_rank && i < 8; i++) {
            printf("%s%lld", i ? ", " : "", (long long)got[i]);
        }
        printf("] with batch %lld, expected rank %zu [", (long long)s, rank);
        for (size_t i = 0; i < rank; i++) {
            printf("%s%lld", i ? ", " : "", (long long)shape[i]);
        }
        printf("] with batch %lld\n", (long long)batch);
    }
    return ok;
}
#define CHECK_SHAPE(a, batch, ...)                                                           \
    tu_shape((a), (const int64_t[]){__VA_ARGS__},                                            \
             sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (batch), __FILE__, \
             __LINE__)

/* `call` fails with `want` and ds_last_error() contains `w1` and `w2` (NULL: not checked). */
static int tu_error(ds_status got, ds_status want, const char *call, const char *w1,
                    const char *w2, const char *file, int line)
{
    if (!tu_status(got, want, call, file, line)) {
        return 0;
    }
    const char *m = ds_last_error();
    int ok = 1;
    const char *words[2] = {w1, w2};
    for (int i = 0; i < 2; i++) {
        if (words[i] == NULL) {
            continue;
        }
        char what[256];
        snprintf(what, sizeof what, "ds_last_error() of %s mentions \"%s\"", call, words[i]);
        int found = m != NULL && strstr(m, words[i]) != NULL;
        if (!tu_record(found, file, line, what)) {
            printf("    ds_last_error(): \"%s\"\n", m ? m : "(null)");
        }
        ok &= found;
    }
    return ok;
}
#define CHECK_ERROR(call, want, w1) tu_error((call), (want), #call, (w1), NULL, __FILE__, __LINE__)
#define CHECK_ERROR2(call, want, w1, w2) \
    tu_error((call), (want), #call, (w1), (w2), __FILE__, __LINE__)

/* The operation name the array reports (recorded only when an input requires a gradient;
 * results computed from constants report "none"). */
static int tu_op_name(const ds_array *a, const char *want, const char *file, int line)
{
    char buf[64] = "";
    size_t len = 0;
    if (!tu_status(ds_array_operation(a, buf, sizeof buf, &len), DS_OK, "ds_array_operation",
                   file, line)) {
        return 0;
    }
    int ok = tu_record(strcmp(buf, want) == 0, file, line, "CHECK_OPERATION");
    if (!ok) {
        printf("    operation \"%s\", expected \"%s\"\n", buf, want);
    }
    return ok;
}
#define CHECK_OPERATION(a, want) tu_op_name((a), (want), __FILE__, __LINE__)

/* Infrastructure calls of the finite-difference evaluations: a failure is recorded (and
 * reported), a success is not counted as a check (there are thousands of them). */
static int quiet_ok(ds_status st, const char *call, int line)
{
    return st == DS_OK || tu_status(st, DS_OK, call, __FILE__, line);
}
#define QUIET_OK(call) quiet_ok((call), #call, __LINE__)

static int64_t values_in(const ds_array *a)
{
    int64_t e = 0, s = 0;
    QUIET_OK(ds_array_extents(a, &e, &s));
    return e * s;
}

static int64_t elements_in(const ds_array *a)
{
    int64_t e = 0;
    QUIET_OK(ds_array_extents(a, &e, NULL));
    return e;
}

/* Deterministic values in [-1, 1), multiples of 2^-15 (exact in float). */
static uint32_t rng_state = 12345u;
static double rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (double)((rng_state >> 8) & 0xFFFFu) / 32768.0 - 1.0;
}

/* A differentiable input of per-sample `shape` and `batch` with random values; `shared`: one
 * sample shared by the batch (not sample dependent). */
static ds_array *grad_input(const int64_t *shape, size_t rank, int64_t batch, bool shared)
{
    float v[MAXV];
    int64_t n = batch;
    for (size_t i = 0; i < rank; i++) {
        n *= shape[i];
    }
    for (int64_t i = 0; i < n; i++) {
        v[i] = (float)rnd();
    }
    ds_array *a = new_array(shape, rank, batch, v, (size_t)n, true);
    if (a && shared) {
        CHECK_OK(ds_array_set_flag(a, DS_FLAG_SAMPLE_DEPENDENT, false));
    }
    return a;
}

/* The operation under test applied to its inputs. */
typedef ds_status (*op_fn)(ds_array *const *x, ds_array **out);

/* op(x) (or op(x)^2 with `square`) evaluated on copies of the inputs, input `j` moved by
 * `h * dir` (`dir` NULL: not moved); the values go to `vals`. Returns their number (0 on
 * failure). */
static size_t eval_op(op_fn op, ds_array *const *xs, size_t nx, size_t j, const double *dir,
                      double h, bool square, double *vals)
{
    ds_array *c[2] = {NULL, NULL}, *y = NULL, *f = NULL;
    size_t n = 0;
    int ok = 1;
    for (size_t i = 0; i < nx && ok; i++) {
        ok = QUIET_OK(ds_array_copy(xs[i], &c[i]));
    }
    if (ok && dir) {
        float *p = NULL;
        ok = QUIET_OK(ds_array_data(c[j], &p));
        for (int64_t k = 0; ok && k < values_in(c[j]); k++) {
            p[k] = (float)((double)p[k] + h * dir[k]);
        }
    }
    ok = ok && QUIET_OK(op(c, &y));
    ok = ok && (!square || QUIET_OK(ds_binary(DS_MUL, y, y, &f)));
    if (ok) {
        const ds_array *r = square ? f : y;
        float *p = NULL;
        int64_t m = values_in(r);
        if (m > MAXV || !QUIET_OK(ds_array_data(r, &p))) {
            tu_record(0, __FILE__, __LINE__, "eval_op: result too large or unreadable");
        } else {
            for (int64_t k = 0; k < m; k++) {
                vals[k] = p[k];
            }
            n = (size_t)m;
        }
    }
    for (size_t i = 0; i < nx; i++) {
        if (c[i]) {
            QUIET_OK(ds_array_free(c[i]));
        }
    }
    if (y) {
        QUIET_OK(ds_array_free(y));
    }
    if (f) {
        QUIET_OK(ds_array_free(f));
    }
    return n;
}

/* Central difference of op(x)^2 along `dir` on input `j`. */
static size_t central_difference(op_fn op, ds_array *const *xs, size_t nx, size_t j,
                                 const double *dir, double *out)
{
    double plus[MAXV], minus[MAXV];
    size_t n = eval_op(op, xs, nx, j, dir, FD_STEP, true, plus);
    size_t m = eval_op(op, xs, nx, j, dir, -FD_STEP, true, minus);
    if (n != m) {
        tu_record(0, __FILE__, __LINE__, "central_difference: extents differ");
        return 0;
    }
    for (size_t o = 0; o < n; o++) {
        out[o] = (plus[o] - minus[o]) / (2 * FD_STEP);
    }
    return n;
}

/* The derivatives of f = op(x)^2 with respect to every input xs[0..nx):
 *  - forward mode along a random per-sample direction, and along a random direction of E
 *    values shared by every sample, against central differences;
 *  - forward over forward along the per-sample direction v against 2 (L v)^2;
 *  - reverse mode with a random seed w against <w, central difference along e_k> for every k.
 * The inputs must require a gradient; `name` is printed if any check here fails. */
static void gradcheck(const char *name, op_fn op, ds_array *const *xs, size_t nx)
{
    int failed_before = tu_failed;
    ds_array *y = NULL, *f = NULL;
    double y0[MAXV], want[MAXV];
    CHECK_OK(op(xs, &y));
    CHECK_OK(ds_binary(DS_MUL, y, y, &f));
    if (!y || !f) {
        printf("    (in gradcheck \"%s\")\n", name);
        return;
    }
    size_t nf = (size_t)values_in(f);
    CHECK(nf > 0 && nf <= MAXV);
    CHECK(eval_op(op, xs, nx, 0, NULL, 0, false, y0) == nf);

    for (size_t j = 0; j < nx; j++) {
        size_t n = (size_t)values_in(xs[j]), e = (size_t)elements_in(xs[j]);
        double v[MAXV], lv[MAXV];
        float vf[MAXV];
        for (size_t k = 0; k < n; k++) {
            v[k] = rnd();
            vf[k] = (float)v[k];
        }
        ds_array *d1 = NULL, *d2 = NULL, *d3 = NULL;

        /* forward, one direction per sample */
        CHECK_OK(ds_array_set_direction(xs[j], vf, n));
        CHECK_OK(ds_grad_forward(f, xs[j], &d1));
        CHECK(central_difference(op, xs, nx, j, v, want) == nf);
        CHECK_VALUES(d1, want, nf, GRAD_TOL);

        /* forward over forward: d2/dt2 op(x + t v)^2 = 2 (L v)^2 */
        CHECK_OK(ds_grad_forward(d1, xs[j], &d2));
        CHECK(eval_op(op, xs, nx, j, v, 1.0, false, lv) == nf);
        for (size_t o = 0; o < nf; o++) {
            lv[o] -= y0[o];
            want[o] = 2 * lv[o] * lv[o];
        }
        CHECK_VALUES(d2, want, nf, GRAD_TOL);

        /* forward, one direction of E values shared by the samples */
        if (n > e) {
            double vs[MAXV];
            for (size_t k = 0; k < n; k++) {
                vs[k] = (double)vf[k % e];
            }
            CHECK_OK(ds_array_set_direction(xs[j], vf, e));
            CHECK_OK(ds_grad_forward(f, xs[j], &d3));
            CHECK(central_difference(op, xs, nx, j, vs, want) == nf);
            CHECK_VALUES(d3, want, nf, GRAD_TOL);
        }
        CHECK_OK(ds_array_clear_direction(xs[j]));
        FREE_ALL(d1, d2);
        if (d3) {
            FREE_ALL(d3);
        }
    }

    /* reverse with a seed */
    float w[MAXV];
    for (size_t o = 0; o < nf; o++) {
        w[o] = (float)rnd();
    }
    for (size_t j = 0; j < nx; j++) {
        CHECK_OK(ds_zero_grad(xs[j]));
    }
    CHECK_OK(ds_grad_reverse(f, w, nf));
    for (size_t j = 0; j < nx; j++) {
        size_t n = (size_t)values_in(xs[j]);
        const float *g = grad_data_of(xs[j]);
        for (size_t k = 0; k < n; k++) {
            double unit[MAXV] = {0}, dot = 0;
            unit[k] = 1;
            if (central_difference(op, xs, nx, j, unit, want) != nf) {
                tu_record(0, __FILE__, __LINE__, "reverse: central difference");
                continue;
            }
            for (size_t o = 0; o < nf; o++) {
                dot += (double)w[o] * want[o];
            }
            CHECK_CLOSE(g[k], dot, GRAD_TOL);
        }
    }
    FREE_ALL(y, f);
    if (tu_failed > failed_before) {
        printf("    (in gradcheck \"%s\")\n", name);
    }
}

static const float iota12[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* ---------------------------------------------------------------------------------------- */
/* spread, unspread, sum_pad                                                                 */
/* ---------------------------------------------------------------------------------------- */

static ds_status op_spread_1(ds_array *const *x, ds_array **out)
{
    return ds_spread(x[0], 1, 2, 3, out);
}
static ds_status op_spread_2(ds_array *const *x, ds_array **out)
{
    return ds_spread(x[0], 2, 2, 3, out);
}
static ds_status op_spread_shared(ds_array *const *x, ds_array **out)
{
    return ds_spread(x[0], 2, 1, 4, out);
}
static ds_status op_unspread_1(ds_array *const *x, ds_array **out)
{
    return ds_unspread(x[0], 2, 1, 3, out);
}
static ds_status op_unspread_2(ds_array *const *x, ds_array **out)
{
    return ds_unspread(x[0], 2, 2, 3, out);
}
static ds_status op_sum_pad_1(ds_array *const *x, ds_array **out)
{
    return ds_sum_pad(x[0], 1, 2, 4, out);
}
static ds_status op_sum_pad_2(ds_array *const *x, ds_array **out)
{
    return ds_sum_pad(x[0], 2, 2, 4, out);
}

static void test_spread_unspread_sum_pad(void)
{
    const int64_t s3[1] = {3};
    ds_array *a = new_array(s3, 1, 2, iota12, 6, true); /* [1 2 3], [4 5 6] */
    ds_array *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL, *r6 = NULL,
             *r7 = NULL;

    /* spread dim 1: 4 copies of element 2 of each sample */
    CHECK_OK(ds_spread(a, 1, 2, 4, &r1));
    const double want1[8] = {2, 2, 2, 2, 5, 5, 5, 5};
    CHECK_SHAPE(r1, 2, 4);
    CHECK_VALUES(r1, want1, 8, 0);
    CHECK_OPERATION(r1, "spread");
    /* spread dim 2: 3 copies of sample 2 */
    CHECK_OK(ds_spread(a, 2, 2, 3, &r2));
    const double want2[9] = {4, 5, 6, 4, 5, 6, 4, 5, 6};
    CHECK_SHAPE(r2, 3, 3);
    CHECK_VALUES(r2, want2, 9, 0);
    /* unspread dim 1: element 2 of [new_size 3] = the sum of each sample (6, 15) */
    CHECK_OK(ds_unspread(a, 2, 1, 3, &r3));
    const double want3[6] = {0, 6, 0, 0, 15, 0};
    CHECK_SHAPE(r3, 2, 3);
    CHECK_VALUES(r3, want3, 6, 0);
    /* unspread dim 2: sample 3 of a batch of 4 = the sum over the batch */
    CHECK_OK(ds_unspread(a, 3, 2, 4, &r4));
    const double want4[12] = {0, 0, 0, 0, 0, 0, 5, 7, 9, 0, 0, 0};
    CHECK_SHAPE(r4, 4, 3);
    CHECK_VALUES(r4, want4, 12, 0);
    CHECK_OPERATION(r4, "unspread");
    /* sum_pad dim 1: the sum of each sample at position 3 of 3 */
    CHECK_OK(ds_sum_pad(a, 1, 3, 3, &r5));
    const double want5[6] = {0, 0, 6, 0, 0, 15};
    CHECK_SHAPE(r5, 2, 3);
    CHECK_VALUES(r5, want5, 6, 0);
    CHECK_OPERATION(r5, "sum_and_pad_array");
    /* sum_pad dim 2: the batch sum as sample 2 of 3 */
    CHECK_OK(ds_sum_pad(a, 2, 2, 3, &r6));
    const double want6[9] = {0, 0, 0, 5, 7, 9, 0, 0, 0};
    CHECK_SHAPE(r6, 3, 3);
    CHECK_VALUES(r6, want6, 9, 0);
    /* a shared source spread over a batch */
    const float c_vals[2] = {7, -1};
    const int64_t s2[1] = {2};
    ds_array *c = new_array(s2, 1, 1, c_vals, 2, false);
    CHECK_OK(ds_array_set_flag(c, DS_FLAG_SAMPLE_DEPENDENT, false));
    CHECK_OK(ds_spread(c, 2, 1, 3, &r7));
    const double want7[6] = {7, -1, 7, -1, 7, -1};
    CHECK_SHAPE(r7, 3, 2);
    CHECK_VALUES(r7, want7, 6, 0);
    bool sd = false;
    CHECK_OK(ds_array_get_flag(r7, DS_FLAG_SAMPLE_DEPENDENT, &sd));
    CHECK(sd); /* three samples now */

    /* errors */
    ds_array *out = NULL, *gone = NULL;
    CHECK_ERROR2(ds_spread(a, 3, 1, 2, &out), DS_ERR_ARGUMENT, "spread", "dim");
    CHECK_ERROR2(ds_spread(a, 0, 1, 2, &out), DS_ERR_ARGUMENT, "spread", "dim");
    CHECK_ERROR2(ds_spread(a, 1, 0, 2, &out), DS_ERR_ARGUMENT, "spread", "index (an element) 0");
    CHECK_ERROR2(ds_spread(a, 1, 4, 2, &out), DS_ERR_ARGUMENT, "spread", "1..3");
    CHECK_ERROR2(ds_spread(a, 2, 3, 2, &out), DS_ERR_ARGUMENT, "spread", "1..2");
    CHECK_ERROR2(ds_spread(a, 1, 1, 0, &out), DS_ERR_ARGUMENT, "spread", "ncopies");
    CHECK_ERROR2(ds_spread(a, 1, -1, 2, &out), DS_ERR_ARGUMENT, "index", "negative");
    CHECK_ERROR2(ds_spread(a, 2, 1, -2, &out), DS_ERR_ARGUMENT, "ncopies", "negative");
    CHECK_ERROR(ds_spread(NULL, 1, 1, 2, &out), DS_ERR_NULL, "source");
    CHECK_ERROR(ds_spread(a, 1, 1, 2, NULL), DS_ERR_NULL, "out");
    CHECK_OK(ds_array_share(a, &gone));
    CHECK_OK(ds_array_free(gone));
    CHECK_ERROR(ds_spread(gone, 1, 1, 2, &out), DS_ERR_HANDLE, "source");

    CHECK_ERROR2(ds_unspread(a, 1, 3, 2, &out), DS_ERR_ARGUMENT, "unspread", "dim");
    CHECK_ERROR2(ds_unspread(a, 0, 1, 2, &out), DS_ERR_ARGUMENT, "unspread", "index 0");
    CHECK_ERROR2(ds_unspread(a, 3, 1, 2, &out), DS_ERR_ARGUMENT, "unspread", "1..2");
    CHECK_ERROR2(ds_unspread(a, 5, 2, 4, &out), DS_ERR_ARGUMENT, "unspread", "1..4");
    CHECK_ERROR2(ds_unspread(a, 1, 1, 0, &out), DS_ERR_ARGUMENT, "unspread", "positive");
    CHECK_ERROR2(ds_unspread(a, 1, 1, -1, &out), DS_ERR_ARGUMENT, "new_size", "negative");
    CHECK_ERROR2(ds_unspread(a, -2, 2, 2, &out), DS_ERR_ARGUMENT, "index", "negative");
    CHECK_ERROR(ds_unspread(NULL, 1, 1, 2, &out), DS_ERR_NULL, "source");

    CHECK_ERROR2(ds_sum_pad(a, 0, 1, 2, &out), DS_ERR_ARGUMENT, "sum_and_pad_array", "dim");
    CHECK_ERROR2(ds_sum_pad(a, 3, 1, 2, &out), DS_ERR_ARGUMENT, "sum_and_pad_array", "dim");
    CHECK_ERROR2(ds_sum_pad(a, 1, 0, 2, &out), DS_ERR_ARGUMENT, "sum_and_pad_array", "index 0");
    CHECK_ERROR2(ds_sum_pad(a, 2, 5, 4, &out), DS_ERR_ARGUMENT, "sum_and_pad_array", "1..4");
    CHECK_ERROR2(ds_sum_pad(a, 1, 1, 0, &out), DS_ERR_ARGUMENT, "sum_and_pad_array", "positive");
    CHECK_ERROR2(ds_sum_pad(a, 1, 1, -3, &out), DS_ERR_ARGUMENT, "new_dim_size", "negative");
    CHECK_ERROR2(ds_sum_pad(a, 1, -1, 3, &out), DS_ERR_ARGUMENT, "new_dim_index", "negative");
    CHECK_ERROR(ds_sum_pad(NULL, 1, 1, 2, &out), DS_ERR_NULL, "a is NULL");
    CHECK(out == NULL); /* no failed call wrote its output */
    FREE_ALL(a, c, r1, r2, r3, r4, r5, r6, r7);

    /* gradients */
    ds_array *x = grad_input(s3, 1, 2, false), *xs = grad_input(s3, 1, 1, true);
    gradcheck("spread dim 1", op_spread_1, &x, 1);
    gradcheck("spread dim 2", op_spread_2, &x, 1);
    gradcheck("spread of a shared source", op_spread_shared, &xs, 1);
    gradcheck("unspread dim 1", op_unspread_1, &x, 1);
    gradcheck("unspread dim 2", op_unspread_2, &x, 1);
    gradcheck("sum_pad dim 1", op_sum_pad_1, &x, 1);
    gradcheck("sum_pad dim 2", op_sum_pad_2, &x, 1);
    FREE_ALL(x, xs);
}

/* ---------------------------------------------------------------------------------------- */
/* concat                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static ds_status op_concat_1(ds_array *const *x, ds_array **out)
{
    return ds_concat(x[0], x[1], 1, out);
}
static ds_status op_concat_2(ds_array *const *x, ds_array **out)
{
    return ds_concat(x[0], x[1], 2, out);
}
static ds_status op_concat_self(ds_array *const *x, ds_array **out)
{
    return ds_concat(x[0], x[0], 2, out);
}

static void test_concat(void)
{
    const int64_t s22[2] = {2, 2}, s21[2] = {2, 1}, s31[2] = {3, 1}, s3[1] = {3}, s2[1] = {2},
                  s1[1] = {1};
    const float b_vals[4] = {10, 11, 12, 13}, q_vals[3] = {7, 8, 9}, c_vals[1] = {9};
    ds_array *a = new_array(s22, 2, 2, iota12, 8, true);
    ds_array *b = new_array(s21, 2, 2, b_vals, 4, false);
    ds_array *p = new_array(s3, 1, 2, iota12, 6, false);
    ds_array *q = new_array(s3, 1, 1, q_vals, 3, false);
    ds_array *c = new_array(s1, 1, 1, c_vals, 1, false);
    CHECK_OK(ds_array_set_flag(c, DS_FLAG_SAMPLE_DEPENDENT, false));
    ds_array *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL;

    /* dim 1: [2,2] and [2,1] per sample join along the last dimension into [2,3] */
    CHECK_OK(ds_concat(a, b, 1, &r1));
    const double want1[12] = {1, 2, 3, 4, 10, 11, 5, 6, 7, 8, 12, 13};
    CHECK_SHAPE(r1, 2, 2, 3);
    CHECK_VALUES(r1, want1, 12, 0);
    CHECK_OPERATION(r1, "concat");
    /* dim 2: the batches join */
    CHECK_OK(ds_concat(b, b, 2, &r2));
    const double want2[8] = {10, 11, 12, 13, 10, 11, 12, 13};
    CHECK_SHAPE(r2, 4, 2, 1);
    CHECK_VALUES(r2, want2, 8, 0);
    CHECK_OPERATION(r2, "none"); /* b does not require a gradient: no graph */
    CHECK_OK(ds_concat(p, q, 2, &r3));
    const double want3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_SHAPE(r3, 3, 3);
    CHECK_VALUES(r3, want3, 9, 0);
    /* dim 1 with a one-sample operand shared by the batch, on either side */
    CHECK_OK(ds_concat(p, c, 1, &r4));
    const double want4[8] = {1, 2, 3, 9, 4, 5, 6, 9};
    CHECK_SHAPE(r4, 2, 4);
    CHECK_VALUES(r4, want4, 8, 0);
    CHECK_OK(ds_concat(c, p, 1, &r5));
    const double want5[8] = {9, 1, 2, 3, 9, 4, 5, 6};
    CHECK_SHAPE(r5, 2, 4);
    CHECK_VALUES(r5, want5, 8, 0);

    /* errors */
    ds_array *out = NULL;
    ds_array *r = new_array(s2, 1, 2, iota12, 4, false);
    ds_array *t31 = new_array(s31, 2, 2, iota12, 6, false);
    ds_array *p3 = new_array(s3, 1, 3, iota12, 9, false);
    CHECK_ERROR2(ds_concat(p, p, 3, &out), DS_ERR_ARGUMENT, "concat", "dim");
    CHECK_ERROR2(ds_concat(p, p, 0, &out), DS_ERR_ARGUMENT, "concat", "dim");
    CHECK_ERROR2(ds_concat(p, r, 2, &out), DS_ERR_SHAPE, "concat", "[3] with batch 2 and [2]");
    CHECK_ERROR2(ds_concat(p, t31, 1, &out), DS_ERR_SHAPE, "concat", "number of dimensions");
    CHECK_ERROR2(ds_concat(p, p3, 1, &out), DS_ERR_SHAPE, "concat", "batch");
    CHECK_ERROR2(ds_concat(a, t31, 1, &out), DS_ERR_SHAPE, "concat", "non-concat dimension");
    CHECK_ERROR(ds_concat(NULL, p, 1, &out), DS_ERR_NULL, "a is NULL");
    CHECK_ERROR(ds_concat(p, NULL, 1, &out), DS_ERR_NULL, "b is NULL");
    CHECK(out == NULL);
    FREE_ALL(a, b, p, q, c, r, t31, p3, r1, r2, r3, r4, r5);

    /* gradients */
    ds_array *x[2] = {grad_input(s22, 2, 2, false), grad_input(s21, 2, 2, false)};
    gradcheck("concat dim 1", op_concat_1, x, 2);
    ds_array *y[2] = {x[0], grad_input(s22, 2, 3, false)};
    gradcheck("concat dim 2", op_concat_2, y, 2);
    ds_array *z[2] = {x[0], grad_input(s21, 2, 1, true)};
    gradcheck("concat dim 1, shared second operand", op_concat_1, z, 2);
    gradcheck("concat of an array with itself", op_concat_self, x, 1);
    FREE_ALL(x[0], x[1], y[1], z[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* slices and trims                                                                          */
/* ---------------------------------------------------------------------------------------- */

/* The slice of the current gradient case. */
static ds_slice_kind slice_kind;
static int32_t slice_dim;
static ds_status op_slice(ds_array *const *x, ds_array **out)
{
    return ds_slice(slice_kind, x[0], 2, slice_dim, out);
}

static void test_slices(void)
{
    const int64_t s4[1] = {4}, s2[1] = {2};
    ds_array *a = new_array(s4, 1, 2, iota12, 8, true); /* [1 2 3 4], [5 6 7 8] */
    ds_array *c = new_array(s2, 1, 3, iota12, 6, false); /* [1 2], [3 4], [5 6] */
    ds_array *r[10] = {NULL};

    CHECK_OK(ds_slice(DS_SLICE_LEFT, a, 2, 1, &r[0]));
    const double want0[4] = {1, 2, 5, 6};
    CHECK_SHAPE(r[0], 2, 2);
    CHECK_VALUES(r[0], want0, 4, 0);
    CHECK_OPERATION(r[0], "slice_left");
    CHECK_OK(ds_slice(DS_SLICE_RIGHT, a, 1, 1, &r[1]));
    const double want1[2] = {4, 8};
    CHECK_SHAPE(r[1], 2, 1);
    CHECK_VALUES(r[1], want1, 2, 0);
    CHECK_OK(ds_slice(DS_LTRIM, a, 1, 1, &r[2]));
    const double want2[6] = {2, 3, 4, 6, 7, 8};
    CHECK_SHAPE(r[2], 2, 3);
    CHECK_VALUES(r[2], want2, 6, 0);
    CHECK_OPERATION(r[2], "slice_right"); /* ltrim is recorded as the slice it is */
    CHECK_OK(ds_slice(DS_RTRIM, a, 3, 1, &r[3]));
    const double want3[2] = {1, 5};
    CHECK_SHAPE(r[3], 2, 1);
    CHECK_VALUES(r[3], want3, 2, 0);
    CHECK_OPERATION(r[3], "slice_left");
    /* dim 2 */
    CHECK_OK(ds_slice(DS_SLICE_RIGHT, a, 1, 2, &r[4]));
    const double want4[4] = {5, 6, 7, 8};
    CHECK_SHAPE(r[4], 1, 4);
    CHECK_VALUES(r[4], want4, 4, 0);
    CHECK_OK(ds_slice(DS_LTRIM, a, 0, 2, &r[5]));
    const double want5[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_SHAPE(r[5], 2, 4);
    CHECK_VALUES(r[5], want5, 8, 0);
    CHECK_OK(ds_slice(DS_SLICE_LEFT, c, 2, 2, &r[6]));
    const double want6[4] = {1, 2, 3, 4};
    CHECK_SHAPE(r[6], 2, 2);
    CHECK_VALUES(r[6], want6, 4, 0);
    CHECK_OK(ds_slice(DS_RTRIM, c, 2, 2, &r[7]));
    const double want7[2] = {1, 2};
    CHECK_SHAPE(r[7], 1, 2);
    CHECK_VALUES(r[7], want7, 2, 0);
    CHECK_OK(ds_slice(DS_LTRIM, c, 2, 2, &r[8]));
    const double want8[2] = {5, 6};
    CHECK_SHAPE(r[8], 1, 2);
    CHECK_VALUES(r[8], want8, 2, 0);
    CHECK_OK(ds_slice(DS_SLICE_RIGHT, c, 2, 2, &r[9]));
    const double want9[4] = {3, 4, 5, 6};
    CHECK_SHAPE(r[9], 2, 2);
    CHECK_VALUES(r[9], want9, 4, 0);

    /* errors */
    ds_array *out = NULL;
    CHECK_ERROR(ds_slice(0, a, 1, 1, &out), DS_ERR_ARGUMENT, "unknown slice code 0");
    CHECK_ERROR(ds_slice(5, a, 1, 1, &out), DS_ERR_ARGUMENT, "unknown slice code 5");
    CHECK_ERROR2(ds_slice(DS_SLICE_LEFT, a, 5, 1, &out), DS_ERR_ARGUMENT, "slice_left",
                 "5 of 4");
    CHECK_ERROR2(ds_slice(DS_SLICE_LEFT, a, 3, 2, &out), DS_ERR_ARGUMENT, "slice_left",
                 "3 of 2");
    CHECK_ERROR2(ds_slice(DS_SLICE_RIGHT, a, 0, 2, &out), DS_ERR_ARGUMENT, "slice_right",
                 "0 of 2");
    CHECK_ERROR2(ds_slice(DS_LTRIM, a, 4, 1, &out), DS_ERR_ARGUMENT, "ltrim", "0 of 4");
    CHECK_ERROR2(ds_slice(DS_RTRIM, c, 3, 2, &out), DS_ERR_ARGUMENT, "rtrim", "0 of 3");
    CHECK_ERROR2(ds_slice(DS_RTRIM, a, 1, 5, &out), DS_ERR_ARGUMENT, "rtrim", "dim");
    CHECK_ERROR2(ds_slice(DS_LTRIM, a, 1, 0, &out), DS_ERR_ARGUMENT, "ltrim", "dim");
    CHECK_ERROR2(ds_slice(DS_SLICE_LEFT, a, -1, 1, &out), DS_ERR_ARGUMENT, "b = -1", "negative");
    CHECK_ERROR(ds_slice(DS_SLICE_LEFT, NULL, 1, 1, &out), DS_ERR_NULL, "a is NULL");
    CHECK_ERROR(ds_slice(DS_SLICE_LEFT, a, 1, 1, NULL), DS_ERR_NULL, "out");
    CHECK(out == NULL);
    FREE_ALL(a, c, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]);

    /* gradients: every kind along both dims, by 2, of [4] x 3 */
    ds_array *x = grad_input(s4, 1, 3, false);
    const ds_slice_kind kinds[4] = {DS_SLICE_LEFT, DS_SLICE_RIGHT, DS_LTRIM, DS_RTRIM};
    const char *names[4][2] = {{"slice_left dim 1", "slice_left dim 2"},
                               {"slice_right dim 1", "slice_right dim 2"},
                               {"ltrim dim 1", "ltrim dim 2"},
                               {"rtrim dim 1", "rtrim dim 2"}};
    for (int k = 0; k < 4; k++) {
        for (int32_t dim = 1; dim <= 2; dim++) {
            slice_kind = kinds[k];
            slice_dim = dim;
            gradcheck(names[k][dim - 1], op_slice, &x, 1);
        }
    }
    FREE_ALL(x);
}

/* ---------------------------------------------------------------------------------------- */
/* index and reverse_index                                                                   */
/* ---------------------------------------------------------------------------------------- */

static ds_status op_index(ds_array *const *x, ds_array **out)
{
    const int64_t idx[4] = {3, 1, 3, 2};
    return ds_index(x[0], idx, 4, out);
}
static ds_status op_reverse_index_from(ds_array *const *x, ds_array **out)
{
    const int64_t idx[2] = {2, 2};
    return ds_reverse_index(x[0], idx, 2, true, 3, out);
}
static ds_status op_reverse_index_to(ds_array *const *x, ds_array **out)
{
    const int64_t idx[3] = {4, 1, 4};
    return ds_reverse_index(x[0], idx, 3, false, 4, out);
}

static void test_index(void)
{
    const int64_t s2[1] = {2};
    ds_array *a = new_array(s2, 1, 3, iota12, 6, true); /* [1 2], [3 4], [5 6] */
    ds_array *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;

    const int64_t i313[3] = {3, 1, 3}, i2[1] = {2}, i21[2] = {2, 1}, i414[3] = {4, 1, 4};
    CHECK_OK(ds_index(a, i313, 3, &r1));
    const double want1[6] = {5, 6, 1, 2, 5, 6};
    CHECK_SHAPE(r1, 3, 2);
    CHECK_VALUES(r1, want1, 6, 0);
    CHECK_OPERATION(r1, "index");
    CHECK_OK(ds_index(a, i2, 1, &r2));
    const double want2[2] = {3, 4};
    CHECK_SHAPE(r2, 1, 2);
    CHECK_VALUES(r2, want2, 2, 0);
    /* from: sample s = sample indices[s] of a, the rest zero */
    CHECK_OK(ds_reverse_index(a, i21, 2, true, 3, &r3));
    const double want3[6] = {3, 4, 1, 2, 0, 0};
    CHECK_SHAPE(r3, 3, 2);
    CHECK_VALUES(r3, want3, 6, 0);
    /* to: samples 1, 2, 3 go to 4, 1, 4; the last write to 4 wins */
    CHECK_OK(ds_reverse_index(a, i414, 3, false, 4, &r4));
    const double want4[8] = {3, 4, 0, 0, 0, 0, 5, 6};
    CHECK_SHAPE(r4, 4, 2);
    CHECK_VALUES(r4, want4, 8, 0);
    CHECK_OPERATION(r4, "index");

    /* errors */
    ds_array *out = NULL;
    const int64_t i14[2] = {1, 4}, i0[1] = {0}, im2[1] = {-2}, i121[3] = {1, 2, 1}, i4[1] = {4},
                  i5[1] = {5}, i1234[4] = {1, 2, 3, 4};
    CHECK_ERROR2(ds_index(a, i14, 2, &out), DS_ERR_ARGUMENT, "index", "4 (entry 2 of the list)");
    CHECK_ERROR2(ds_index(a, i14, 2, &out), DS_ERR_ARGUMENT, "index", "1..3");
    CHECK_ERROR2(ds_index(a, i0, 1, &out), DS_ERR_ARGUMENT, "index", "index 0");
    CHECK_ERROR2(ds_index(a, i313, 0, &out), DS_ERR_ARGUMENT, "index", "number of samples");
    CHECK_ERROR2(ds_index(a, im2, 1, &out), DS_ERR_ARGUMENT, "indices", "negative");
    CHECK_ERROR(ds_index(a, NULL, 2, &out), DS_ERR_NULL, "indices is NULL");
    CHECK_ERROR(ds_index(NULL, i2, 1, &out), DS_ERR_NULL, "a is NULL");

    CHECK_ERROR2(ds_reverse_index(a, i121, 3, true, 2, &out), DS_ERR_ARGUMENT, "reverse_index",
                 "do not fit");
    CHECK_ERROR2(ds_reverse_index(a, i4, 1, true, 4, &out), DS_ERR_ARGUMENT, "reverse_index",
                 "1..3");
    CHECK_ERROR2(ds_reverse_index(a, i5, 1, false, 4, &out), DS_ERR_ARGUMENT, "reverse_index",
                 "1..4");
    CHECK_ERROR2(ds_reverse_index(a, i1234, 4, false, 4, &out), DS_ERR_ARGUMENT,
                 "reverse_index", "3 samples");
    CHECK_ERROR2(ds_reverse_index(a, i0, 1, false, 4, &out), DS_ERR_ARGUMENT, "reverse_index",
                 "index 0");
    CHECK_ERROR2(ds_reverse_index(a, i2, 1, true, 0, &out), DS_ERR_ARGUMENT, "reverse_index",
                 "positive");
    CHECK_ERROR2(ds_reverse_index(a, i2, 1, true, -1, &out), DS_ERR_ARGUMENT, "new_index_size",
                 "negative");
    CHECK_ERROR2(ds_reverse_index(a, im2, 1, false, 3, &out), DS_ERR_ARGUMENT, "indices",
                 "negative");
    CHECK_ERROR(ds_reverse_index(NULL, i2, 1, true, 3, &out), DS_ERR_NULL, "a is NULL");
    CHECK(out == NULL);
    FREE_ALL(a, r1, r2, r3, r4);

    /* gradients */
    ds_array *x = grad_input(s2, 1, 3, false);
    gradcheck(".index.", op_index, &x, 1);
    gradcheck("reverse_index from", op_reverse_index_from, &x, 1);
    gradcheck("reverse_index to", op_reverse_index_to, &x, 1);
    FREE_ALL(x);
}

/* ---------------------------------------------------------------------------------------- */
/* pack                                                                                      */
/* ---------------------------------------------------------------------------------------- */

static ds_status op_pack_mask_1(ds_array *const *x, ds_array **out)
{
    const bool m[3] = {true, false, true};
    return ds_pack_mask(x[0], 1, m, 3, out);
}
static ds_status op_pack_mask_2(ds_array *const *x, ds_array **out)
{
    const bool m[4] = {true, false, true, true};
    return ds_pack_mask(x[0], 2, m, 4, out);
}
static ds_status op_pack_no_mask(ds_array *const *x, ds_array **out)
{
    return ds_pack_mask(x[0], 1, NULL, 0, out);
}
static ds_status op_pack_indices_1(ds_array *const *x, ds_array **out)
{
    const int64_t idx[3] = {3, 1, 3};
    return ds_pack_indices(x[0], idx, 3, 1, out);
}
static ds_status op_pack_indices_2(ds_array *const *x, ds_array **out)
{
    const int64_t idx[2] = {4, 2};
    return ds_pack_indices(x[0], idx, 2, 2, out);
}

static void test_pack(void)
{
    const int64_t s3[1] = {3};
    ds_array *a = new_array(s3, 1, 2, iota12, 6, true); /* [1 2 3], [4 5 6] */
    ds_array *r[7] = {NULL};
    const bool tft[3] = {true, false, true}, ft[2] = {false, true};

    CHECK_OK(ds_pack_mask(a, 1, tft, 3, &r[0]));
    const double want0[4] = {1, 3, 4, 6};
    CHECK_SHAPE(r[0], 2, 2);
    CHECK_VALUES(r[0], want0, 4, 0);
    CHECK_OPERATION(r[0], "pack_mask");
    CHECK_OK(ds_pack_mask(a, 2, ft, 2, &r[1]));
    const double want1[3] = {4, 5, 6};
    CHECK_SHAPE(r[1], 1, 3);
    CHECK_VALUES(r[1], want1, 3, 0);
    /* no mask: a copy, along either dim */
    const double want_copy[6] = {1, 2, 3, 4, 5, 6};
    CHECK_OK(ds_pack_mask(a, 1, NULL, 0, &r[2]));
    CHECK_SHAPE(r[2], 2, 3);
    CHECK_VALUES(r[2], want_copy, 6, 0);
    CHECK_OK(ds_pack_mask(a, 2, NULL, 0, &r[3]));
    CHECK_SHAPE(r[3], 2, 3);
    CHECK_VALUES(r[3], want_copy, 6, 0);
    /* indices: dim 1 picks elements, dim 2 samples (repeats allowed) */
    const int64_t i331[3] = {3, 3, 1}, i2[1] = {2}, i212[3] = {2, 1, 2};
    CHECK_OK(ds_pack_indices(a, i331, 3, 1, &r[4]));
    const double want4[6] = {3, 3, 1, 6, 6, 4};
    CHECK_SHAPE(r[4], 2, 3);
    CHECK_VALUES(r[4], want4, 6, 0);
    CHECK_OPERATION(r[4], "pack_indices");
    CHECK_OK(ds_pack_indices(a, i2, 1, 2, &r[5]));
    const double want5[3] = {4, 5, 6};
    CHECK_SHAPE(r[5], 1, 3);
    CHECK_VALUES(r[5], want5, 3, 0);
    CHECK_OK(ds_pack_indices(a, i212, 3, 2, &r[6]));
    const double want6[9] = {4, 5, 6, 1, 2, 3, 4, 5, 6};
    CHECK_SHAPE(r[6], 3, 3);
    CHECK_VALUES(r[6], want6, 9, 0);

    /* errors */
    ds_array *out = NULL;
    const bool none[3] = {false, false, false}, tff[3] = {true, false, false};
    const int64_t i0[1] = {0}, i4[1] = {4}, i3[1] = {3}, im1[1] = {-1};
    CHECK_ERROR2(ds_pack_mask(a, 1, tft, 1, &out), DS_ERR_SHAPE, "pack_mask", "mask has 1");
    CHECK_ERROR2(ds_pack_mask(a, 2, tff, 3, &out), DS_ERR_SHAPE, "pack_mask", "mask has 3");
    CHECK_ERROR2(ds_pack_mask(a, 1, none, 3, &out), DS_ERR_ARGUMENT, "pack_mask",
                 "selects nothing");
    CHECK_ERROR2(ds_pack_mask(a, 3, tft, 3, &out), DS_ERR_ARGUMENT, "pack_mask", "dim");
    CHECK_ERROR(ds_pack_mask(NULL, 1, tft, 3, &out), DS_ERR_NULL, "a is NULL");
    CHECK_ERROR2(ds_pack_indices(a, i0, 1, 1, &out), DS_ERR_ARGUMENT, "pack_indices", "index 0");
    CHECK_ERROR2(ds_pack_indices(a, i4, 1, 1, &out), DS_ERR_ARGUMENT, "pack_indices", "1..3");
    CHECK_ERROR2(ds_pack_indices(a, i3, 1, 2, &out), DS_ERR_ARGUMENT, "pack_indices", "1..2");
    CHECK_ERROR2(ds_pack_indices(a, i331, 0, 1, &out), DS_ERR_ARGUMENT, "pack_indices",
                 "number of indices");
    CHECK_ERROR2(ds_pack_indices(a, im1, 1, 1, &out), DS_ERR_ARGUMENT, "indices", "negative");
    CHECK_ERROR2(ds_pack_indices(a, i3, 1, 0, &out), DS_ERR_ARGUMENT, "pack_indices", "dim");
    CHECK_ERROR(ds_pack_indices(a, NULL, 1, 1, &out), DS_ERR_NULL, "indices is NULL");
    CHECK_ERROR(ds_pack_indices(NULL, i3, 1, 1, &out), DS_ERR_NULL, "a is NULL");
    CHECK(out == NULL);
    FREE_ALL(a, r[0], r[1], r[2], r[3], r[4], r[5], r[6]);

    /* gradients */
    ds_array *x = grad_input(s3, 1, 4, false);
    gradcheck("pack_mask dim 1", op_pack_mask_1, &x, 1);
    gradcheck("pack_mask dim 2", op_pack_mask_2, &x, 1);
    gradcheck("pack_mask without a mask", op_pack_no_mask, &x, 1);
    gradcheck("pack_indices dim 1", op_pack_indices_1, &x, 1);
    gradcheck("pack_indices dim 2", op_pack_indices_2, &x, 1);
    FREE_ALL(x);
}

/* ---------------------------------------------------------------------------------------- */
/* unpack                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static ds_status op_unpack_mask_1(ds_array *const *x, ds_array **out)
{
    const int64_t shape[2] = {5, 4}, idx[3] = {5, 1, 2};
    return ds_unpack_mask(x[0], shape, 2, 1, idx, 3, out);
}
static ds_status op_unpack_mask_copy(ds_array *const *x, ds_array **out)
{
    const int64_t shape[2] = {4, 4};
    return ds_unpack_mask(x[0], shape, 2, 1, NULL, 0, out);
}
static ds_status op_unpack_mask_2(ds_array *const *x, ds_array **out)
{
    const int64_t shape[2] = {3, 6}, idx[4] = {6, 1, 3, 2};
    return ds_unpack_mask(x[0], shape, 2, 2, idx, 4, out);
}
static ds_status op_unpack_indices_1(ds_array *const *x, ds_array **out)
{
    const int64_t idx[3] = {2, 4, 1};
    return ds_unpack_indices(x[0], idx, 3, 1, 4, out);
}
static ds_status op_unpack_indices_2(ds_array *const *x, ds_array **out)
{
    const int64_t idx[4] = {5, 1, 2, 3};
    return ds_unpack_indices(x[0], idx, 4, 2, 5, out);
}

static void test_unpack(void)
{
    const int64_t s2[1] = {2}, s3[1] = {3};
    ds_array *b = new_array(s2, 1, 2, iota12, 4, true); /* [1 2], [3 4] */
    ds_array *r[7] = {NULL};

    const int64_t sh42[2] = {4, 2}, sh32[2] = {3, 2}, sh23[2] = {2, 3}, sh222[3] = {2, 2, 2};
    const int64_t i42[2] = {4, 2}, i31[2] = {3, 1}, i41[2] = {4, 1}, i23[2] = {2, 3};
    /* dim 1: element 4 <- element 1, element 2 <- element 2 */
    CHECK_OK(ds_unpack_mask(b, sh42, 2, 1, i42, 2, &r[0]));
    const double want0[8] = {0, 2, 0, 1, 0, 4, 0, 3};
    CHECK_SHAPE(r[0], 2, 4);
    CHECK_VALUES(r[0], want0, 8, 0);
    CHECK_OPERATION(r[0], "unpack_mask");
    /* no indices: copied into the first positions */
    CHECK_OK(ds_unpack_mask(b, sh32, 2, 1, NULL, 0, &r[1]));
    const double want1[6] = {1, 2, 0, 3, 4, 0};
    CHECK_SHAPE(r[1], 2, 3);
    CHECK_VALUES(r[1], want1, 6, 0);
    /* dim 2: sample 3 <- sample 1, sample 1 <- sample 2 */
    CHECK_OK(ds_unpack_mask(b, sh23, 2, 2, i31, 2, &r[2]));
    const double want2[6] = {3, 4, 0, 0, 1, 2};
    CHECK_SHAPE(r[2], 3, 2);
    CHECK_VALUES(r[2], want2, 6, 0);
    CHECK_OK(ds_unpack_mask(b, sh23, 2, 2, NULL, 0, &r[3]));
    const double want3[6] = {1, 2, 3, 4, 0, 0};
    CHECK_SHAPE(r[3], 3, 2);
    CHECK_VALUES(r[3], want3, 6, 0);
    /* a rank-2 per-sample result [2,2]: flat element 4 <- 1, element 1 <- 2 */
    CHECK_OK(ds_unpack_mask(b, sh222, 3, 1, i41, 2, &r[4]));
    const double want4[8] = {2, 0, 0, 1, 4, 0, 0, 3};
    CHECK_SHAPE(r[4], 2, 2, 2);
    CHECK_VALUES(r[4], want4, 8, 0);
    /* unpack_indices */
    CHECK_OK(ds_unpack_indices(b, i31, 2, 1, 3, &r[5]));
    const double want5[6] = {2, 0, 1, 4, 0, 3};
    CHECK_SHAPE(r[5], 2, 3);
    CHECK_VALUES(r[5], want5, 6, 0);
    CHECK_OPERATION(r[5], "unpack_indices");
    CHECK_OK(ds_unpack_indices(b, i23, 2, 2, 3, &r[6]));
    const double want6[6] = {0, 0, 1, 2, 3, 4};
    CHECK_SHAPE(r[6], 3, 2);
    CHECK_VALUES(r[6], want6, 6, 0);

    /* errors, on a = [3] x 2 */
    ds_array *out = NULL;
    ds_array *a = new_array(s3, 1, 2, iota12, 6, false);
    const int64_t sh22[2] = {2, 2}, sh43[2] = {4, 3}, shm[2] = {-4, 2}, sh02[2] = {0, 2};
    const int64_t i5[1] = {5}, i0[1] = {0}, i1[1] = {1}, i1234[4] = {1, 2, 3, 4};
    CHECK_ERROR2(ds_unpack_mask(a, sh22, 2, 1, NULL, 0, &out), DS_ERR_SHAPE, "unpack_mask",
                 "does not fit");
    CHECK_ERROR2(ds_unpack_mask(a, sh42, 0, 1, NULL, 0, &out), DS_ERR_ARGUMENT, "unpack_mask",
                 "array_shape is empty");
    CHECK_ERROR2(ds_unpack_mask(a, sh42, 2, 1, i5, 1, &out), DS_ERR_ARGUMENT, "unpack_mask",
                 "1..4");
    CHECK_ERROR2(ds_unpack_mask(a, sh42, 2, 1, i0, 1, &out), DS_ERR_ARGUMENT, "unpack_mask",
                 "index 0");
    CHECK_ERROR2(ds_unpack_mask(a, sh43, 2, 1, NULL, 0, &out), DS_ERR_SHAPE, "unpack_mask",
                 "batch 3");
    CHECK_ERROR2(ds_unpack_mask(a, sh23, 2, 2, NULL, 0, &out), DS_ERR_SHAPE, "unpack_mask",
                 "2 elements per sample");
    CHECK_ERROR2(ds_unpack_mask(a, sh42, 2, 1, i1234, 4, &out), DS_ERR_ARGUMENT, "unpack_mask",
                 "4 indices");
    CHECK_ERROR2(ds_unpack_mask(a, sh42, 2, 3, NULL, 0, &out), DS_ERR_ARGUMENT, "unpack_mask",
                 "dim");
    CHECK_ERROR2(ds_unpack_mask(a, shm, 2, 1, NULL, 0, &out), DS_ERR_ARGUMENT, "array_shape",
                 "negative");
    CHECK_ERROR(ds_unpack_mask(a, sh02, 2, 1, NULL, 0, &out), DS_ERR_ARGUMENT, "positive");
    CHECK_ERROR(ds_unpack_mask(a, NULL, 2, 1, NULL, 0, &out), DS_ERR_NULL, "array_shape is NULL");
    CHECK_ERROR(ds_unpack_mask(NULL, sh42, 2, 1, NULL, 0, &out), DS_ERR_NULL, "a is NULL");

    CHECK_ERROR2(ds_unpack_indices(a, i1234, 4, 1, 4, &out), DS_ERR_ARGUMENT, "unpack_indices",
                 "4 indices");
    CHECK_ERROR2(ds_unpack_indices(a, i5, 1, 1, 4, &out), DS_ERR_ARGUMENT, "unpack_indices",
                 "1..4");
    CHECK_ERROR2(ds_unpack_indices(a, i0, 1, 2, 4, &out), DS_ERR_ARGUMENT, "unpack_indices",
                 "index 0");
    CHECK_ERROR2(ds_unpack_indices(a, i1, 1, 1, 0, &out), DS_ERR_ARGUMENT, "unpack_indices",
                 "positive");
    CHECK_ERROR2(ds_unpack_indices(a, i1, 1, 1, -1, &out), DS_ERR_ARGUMENT, "new_size",
                 "negative");
    CHECK_ERROR2(ds_unpack_indices(a, i1, 1, 3, 4, &out), DS_ERR_ARGUMENT, "unpack_indices",
                 "dim");
    CHECK_ERROR(ds_unpack_indices(a, NULL, 1, 1, 4, &out), DS_ERR_NULL, "indices is NULL");
    CHECK_ERROR(ds_unpack_indices(NULL, i1, 1, 1, 4, &out), DS_ERR_NULL, "a is NULL");
    CHECK(out == NULL);
    FREE_ALL(a, b, r[0], r[1], r[2], r[3], r[4], r[5], r[6]);

    /* gradients */
    ds_array *x = grad_input(s3, 1, 4, false);
    gradcheck("unpack_mask dim 1", op_unpack_mask_1, &x, 1);
    gradcheck("unpack_mask dim 1 without indices", op_unpack_mask_copy, &x, 1);
    gradcheck("unpack_mask dim 2", op_unpack_mask_2, &x, 1);
    gradcheck("unpack_indices dim 1", op_unpack_indices_1, &x, 1);
    gradcheck("unpack_indices dim 2", op_unpack_indices_2, &x, 1);
    FREE_ALL(x);
}

/* ---------------------------------------------------------------------------------------- */
/* reshape                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static ds_status op_reshape(ds_array *const *x, ds_array **out)
{
    const int64_t shape[2] = {3, 2};
    return ds_reshape(x[0], shape, 2, out);
}

/* reshape to [3, 2], then times a shared [2] vector: the new shape decides the result. */
static ds_status op_reshape_matmul(ds_array *const *x, ds_array **out)
{
    const int64_t shape[2] = {3, 2}, s2[1] = {2};
    const float w_vals[2] = {0.5f, -2.0f};
    ds_array *r = NULL, *w = NULL;
    ds_status st = ds_reshape(x[0], shape, 2, &r);
    if (st == DS_OK) {
        st = ds_array_from_data(s2, 1, 1, w_vals, 2, &w);
    }
    if (st == DS_OK) {
        st = ds_array_set_flag(w, DS_FLAG_SAMPLE_DEPENDENT, false);
    }
    if (st == DS_OK) {
        st = ds_matmul(r, w, out);
    }
    if (r) {
        QUIET_OK(ds_array_free(r));
    }
    if (w) {
        QUIET_OK(ds_array_free(w));
    }
    return st;
}

static void test_reshape(void)
{
    const int64_t s6[1] = {6}, s23[2] = {2, 3}, s132[3] = {1, 3, 2};
    ds_array *a = new_array(s6, 1, 2, iota12, 12, true);
    ds_array *r1 = NULL, *r2 = NULL, *d = NULL;
    const double want[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CHECK_OK(ds_reshape(a, s23, 2, &r1));
    CHECK_SHAPE(r1, 2, 2, 3);
    CHECK_VALUES(r1, want, 12, 0);
    CHECK_OPERATION(r1, "reshape");
    CHECK_OK(ds_reshape(a, s132, 3, &r2));
    CHECK_SHAPE(r2, 2, 1, 3, 2);
    CHECK_VALUES(r2, want, 12, 0);
    /* the tangent has the new shape (default direction: ones) */
    CHECK_OK(ds_grad_forward(r1, a, &d));
    CHECK_SHAPE(d, 2, 2, 3);
    const double ones[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_VALUES(d, ones, 12, 0);

    /* errors */
    ds_array *out = NULL;
    const int64_t s22[2] = {2, 2}, s0[1] = {0}, sm6[1] = {-6};
    CHECK_ERROR2(ds_reshape(a, s22, 2, &out), DS_ERR_SHAPE, "reshape", "[2, 2] has 4 elements");
    CHECK_ERROR2(ds_reshape(a, NULL, 0, &out), DS_ERR_SHAPE, "reshape", "has 1 elements");
    CHECK_ERROR(ds_reshape(a, s0, 1, &out), DS_ERR_ARGUMENT, "positive");
    CHECK_ERROR2(ds_reshape(a, sm6, 1, &out), DS_ERR_ARGUMENT, "new_shape", "negative");
    CHECK_ERROR(ds_reshape(a, NULL, 1, &out), DS_ERR_NULL, "new_shape is NULL");
    CHECK_ERROR(ds_reshape(NULL, s23, 2, &out), DS_ERR_NULL, "a is NULL");
    CHECK(out == NULL);
    FREE_ALL(a, r1, r2, d);

    /* gradients */
    ds_array *x = grad_input(s6, 1, 2, false);
    gradcheck("reshape", op_reshape, &x, 1);
    gradcheck("reshape then matmul", op_reshape_matmul, &x, 1);
    FREE_ALL(x);
}

/* ---------------------------------------------------------------------------------------- */
/* merge                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static const bool merge_mask[6] = {true, false, false, true, true, false};
static const float merge_matrix[6] = {1, 2, 3, 4, 5, 6};

static ds_status op_merge(ds_array *const *x, ds_array **out)
{
    return ds_merge(x[0], x[1], merge_mask, 6, out);
}
static ds_status op_merge_scalar(ds_array *const *x, ds_array **out)
{
    return ds_merge_scalar(x[0], 0.5f, merge_mask, 6, out);
}
static ds_status op_scalar_merge(ds_array *const *x, ds_array **out)
{
    return ds_scalar_merge(0.5f, x[0], merge_mask, 6, out);
}
static ds_status op_merge_real2d(ds_array *const *x, ds_array **out)
{
    return ds_merge_real2d(x[0], merge_matrix, 3, 2, merge_mask, 6, out);
}

static void test_merge(void)
{
    const int64_t s3[1] = {3}, s2[1] = {2};
    const float a_vals[3] = {1, 2, 3}, b_vals[3] = {10, 20, 30};
    const float y_vals[6] = {10, 20, 30, 40, 50, 60}, f_vals[3] = {7, 8, 9};
    const bool m3[3] = {true, false, true};
    ds_array *a = new_array(s3, 1, 1, a_vals, 3, true);
    ds_array *b = new_array(s3, 1, 1, b_vals, 3, false);
    ds_array *x = new_array(s3, 1, 2, iota12, 6, false); /* [1 2 3], [4 5 6] */
    ds_array *y = new_array(s3, 1, 2, y_vals, 6, false);
    ds_array *sh = new_array(s3, 1, 1, b_vals, 3, false);
    CHECK_OK(ds_array_set_flag(sh, DS_FLAG_SAMPLE_DEPENDENT, false));
    ds_array *r[10] = {NULL};

    /* one sample */
    CHECK_OK(ds_merge(a, b, m3, 3, &r[0]));
    const double want0[3] = {1, 20, 3};
    CHECK_SHAPE(r[0], 1, 3);
    CHECK_VALUES(r[0], want0, 3, 0);
    CHECK_OPERATION(r[0], "merge");
    CHECK_OK(ds_merge_scalar(a, -1.0f, m3, 3, &r[1]));
    const double want1[3] = {1, -1, 3};
    CHECK_VALUES(r[1], want1, 3, 0);
    CHECK_OPERATION(r[1], "merge_scalar");
    CHECK_OK(ds_scalar_merge(-1.0f, a, m3, 3, &r[2]));
    const double want2[3] = {-1, 2, -1};
    CHECK_VALUES(r[2], want2, 3, 0);
    CHECK_OK(ds_merge_real2d(a, f_vals, 3, 1, m3, 3, &r[3]));
    const double want3[3] = {1, 8, 3};
    CHECK_VALUES(r[3], want3, 3, 0);
    /* a batch of 2, mask column-major over (E, S) */
    CHECK_OK(ds_merge(x, y, merge_mask, 6, &r[4]));
    const double want4[6] = {1, 20, 30, 4, 5, 60};
    CHECK_SHAPE(r[4], 2, 3);
    CHECK_VALUES(r[4], want4, 6, 0);
    CHECK_OK(ds_merge(x, sh, merge_mask, 6, &r[5])); /* fsource shared by the batch */
    const double want5[6] = {1, 20, 30, 4, 5, 30};
    CHECK_SHAPE(r[5], 2, 3);
    CHECK_VALUES(r[5], want5, 6, 0);
    CHECK_OK(ds_merge(sh, x, merge_mask, 6, &r[6])); /* tsource shared by the batch */
    const double want6[6] = {10, 2, 3, 10, 20, 6};
    CHECK_SHAPE(r[6], 2, 3);
    CHECK_VALUES(r[6], want6, 6, 0);
    CHECK_OK(ds_merge_scalar(x, -1.0f, merge_mask, 6, &r[7]));
    const double want7[6] = {1, -1, -1, 4, 5, -1};
    CHECK_SHAPE(r[7], 2, 3);
    CHECK_VALUES(r[7], want7, 6, 0);
    CHECK_OK(ds_scalar_merge(-1.0f, x, merge_mask, 6, &r[8]));
    const double want8[6] = {-1, 2, 3, -1, -1, 6};
    CHECK_SHAPE(r[8], 2, 3);
    CHECK_VALUES(r[8], want8, 6, 0);
    const float m6[6] = {7, 8, 9, 10, 11, 12};
    CHECK_OK(ds_merge_real2d(x, m6, 3, 2, merge_mask, 6, &r[9]));
    const double want9[6] = {1, 8, 9, 4, 5, 12};
    CHECK_SHAPE(r[9], 2, 3);
    CHECK_VALUES(r[9], want9, 6, 0);

    /* errors */
    ds_array *out = NULL;
    ds_array *p = new_array(s2, 1, 2, iota12, 4, false);
    CHECK_ERROR2(ds_merge(x, p, merge_mask, 6, &out), DS_ERR_SHAPE, "merge", "do not conform");
    CHECK_ERROR2(ds_merge(x, y, merge_mask, 5, &out), DS_ERR_SHAPE, "merge", "mask has 5");
    CHECK_ERROR2(ds_merge(x, y, merge_mask, 0, &out), DS_ERR_SHAPE, "merge", "mask has 0");
    CHECK_ERROR(ds_merge(x, y, NULL, 6, &out), DS_ERR_NULL, "mask is NULL");
    CHECK_ERROR(ds_merge(NULL, y, merge_mask, 6, &out), DS_ERR_NULL, "tsource is NULL");
    CHECK_ERROR(ds_merge(x, NULL, merge_mask, 6, &out), DS_ERR_NULL, "fsource is NULL");
    CHECK_ERROR2(ds_merge_scalar(x, 1.0f, merge_mask, 5, &out), DS_ERR_SHAPE, "merge",
                 "mask has 5");
    CHECK_ERROR(ds_merge_scalar(x, 1.0f, NULL, 6, &out), DS_ERR_NULL, "mask is NULL");
    CHECK_ERROR(ds_merge_scalar(NULL, 1.0f, merge_mask, 6, &out), DS_ERR_NULL, "tsource");
    CHECK_ERROR2(ds_scalar_merge(1.0f, x, m3, 3, &out), DS_ERR_SHAPE, "merge", "mask has 3");
    CHECK_ERROR(ds_scalar_merge(1.0f, x, NULL, 6, &out), DS_ERR_NULL, "mask is NULL");
    CHECK_ERROR(ds_scalar_merge(1.0f, NULL, merge_mask, 6, &out), DS_ERR_NULL, "fsource");
    CHECK_ERROR2(ds_merge_real2d(x, m6, 2, 2, merge_mask, 6, &out), DS_ERR_SHAPE, "merge",
                 "do not conform");
    CHECK_ERROR2(ds_merge_real2d(x, m6, 3, 2, merge_mask, 4, &out), DS_ERR_SHAPE, "merge",
                 "mask has 4");
    CHECK_ERROR(ds_merge_real2d(x, NULL, 3, 2, merge_mask, 6, &out), DS_ERR_NULL,
                "fsource is NULL");
    CHECK_ERROR(ds_merge_real2d(x, m6, 0, 2, merge_mask, 6, &out), DS_ERR_ARGUMENT, "positive");
    CHECK_ERROR(ds_merge_real2d(x, m6, 3, 2, NULL, 6, &out), DS_ERR_NULL, "mask is NULL");
    CHECK_ERROR(ds_merge_real2d(NULL, m6, 3, 2, merge_mask, 6, &out), DS_ERR_NULL, "tsource");
    CHECK(out == NULL);
    FREE_ALL(a, b, x, y, sh, p, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]);

    /* gradients */
    ds_array *u[2] = {grad_input(s3, 1, 2, false), grad_input(s3, 1, 2, false)};
    gradcheck("merge of two arrays", op_merge, u, 2);
    ds_array *v[2] = {u[0], grad_input(s3, 1, 1, true)};
    gradcheck("merge with a shared fsource", op_merge, v, 2);
    ds_array *w[2] = {v[1], u[1]};
    gradcheck("merge with a shared tsource", op_merge, w, 2);
    gradcheck("merge_scalar", op_merge_scalar, u, 1);
    gradcheck("scalar_merge", op_scalar_merge, u, 1);
    gradcheck("merge_real2d", op_merge_real2d, u, 1);
    FREE_ALL(u[0], u[1], v[1]);
}

int main(void)
{
    test_spread_unspread_sum_pad();
    test_concat();
    test_slices();
    test_index();
    test_pack();
    test_unpack();
    test_reshape();
    test_merge();
    return test_summary();
}
