/*
 * test_versions.c -- values written after an operation used them are detected (issue 10, item 3).
 *
 * Arrays carry a version; operations record the versions of the arrays their derivative rules
 * read; reverse and forward mode fail with DS_ERR_MODIFIED (and change nothing) when one was
 * written since. ds_array_data is the read accessor; ds_array_data_mut and
 * ds_array_mark_written count as writes.
 */
#include "test_util.h"

static ds_array *leaf(float v)
{
    const int64_t shape[] = {1};
    ds_array *x = new_array(shape, 1, 1, &v, 1, true);
    return x;
}

/* y = x * exp(x) * x: the rules of both products read x, the rule of exp reads its result */
static ds_array *build(ds_array *x)
{
    ds_array *e = NULL, *p = NULL, *y = NULL;
    CHECK_OK(ds_unary(DS_EXP, x, &e));
    CHECK_OK(ds_binary(DS_MUL, x, e, &p));
    CHECK_OK(ds_binary(DS_MUL, p, x, &y));
    FREE_ALL(e, p);
    return y;
}

static uint32_t version(const ds_array *a)
{
    uint32_t v = 0;
    CHECK_OK(ds_array_version(a, &v));
    return v;
}

/* The example: a write through the data pointer after the graph was built gave a
 * gradient that was neither the old nor the new one; now it is an error. */
static void test_write_through_pointer(void)
{
    ds_array *x = leaf(1.0f);
    ds_array *y = build(x);
    float *p = NULL;
    uint32_t v0 = version(x);
    CHECK_OK(ds_array_data_mut(x, &p));
    CHECK(version(x) == v0 + 1);
    p[0] = 3.0f;
    CHECK_STATUS(ds_grad_reverse(y, NULL, 0), DS_ERR_MODIFIED);
    const char *m = ds_last_error();
    if (!CHECK(strstr(m, "a value needed for gradient computation was modified in place")
               && strstr(m, "'multiply'") && strstr(m, "version")))
        printf("    message: \"%s\"\n", m);
    ds_array *g = NULL;
    CHECK_OK(ds_array_grad(x, &g));
    CHECK(g == NULL); /* nothing was accumulated */
    ds_array *d = NULL;
    CHECK_STATUS(ds_grad_forward(y, x, &d), DS_ERR_MODIFIED);
    CHECK(d == NULL);
    /* built again from the new values: d/dx x^2 e^x = (2x + x^2) e^x at 3 */
    ds_array *y2 = build(x);
    CHECK_OK(ds_grad_reverse(y2, NULL, 0));
    CHECK_CLOSE(grad_data_of(x)[0], 15.0 * exp(3.0), 1e-5);
    FREE_ALL(x, y, y2);
}

/* Reading is not a write; a write through the read pointer must be declared. */
static void test_read_pointer_and_mark_written(void)
{
    ds_array *x = leaf(2.0f);
    ds_array *y = build(x);
    const float *c = NULL;
    float *p = NULL;
    uint32_t v0 = version(x);
    CHECK_OK(ds_array_data_const(x, &c));
    CHECK_OK(ds_array_data(x, &p));
    CHECK(c == p && c[0] == 2.0f);
    CHECK(version(x) == v0);
    CHECK_OK(ds_grad_reverse(y, NULL, 0));
    CHECK_CLOSE(grad_data_of(x)[0], 8.0 * exp(2.0), 1e-5);
    p[0] = 5.0f;
    CHECK_OK(ds_array_mark_written(x));
    CHECK_STATUS(ds_grad_reverse(y, NULL, 0), DS_ERR_MODIFIED);
    CHECK_CLOSE(grad_data_of(x)[0], 8.0 * exp(2.0), 1e-5); /* unchanged */
    CHECK_STATUS(ds_array_mark_written(NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_version(x, NULL), DS_ERR_NULL);
    FREE_ALL(x, y);
}

/* ds_array_sync (a language layer's copy-in) is not counted as a write: perturbing values and
 * restoring them exactly, as a finite-difference check does, leaves the graph usable. */
static void test_sync(void)
{
    ds_array *x = leaf(2.0f);
    ds_array *y = build(x);
    float other = 4.0f, same = 2.0f;
    bool changed = false;
    uint32_t v0 = version(x);
    CHECK_OK(ds_array_sync(x, &other, 1, &changed));
    CHECK(changed);
    CHECK_OK(ds_array_sync(x, &same, 1, &changed));
    CHECK(changed && version(x) == v0);
    CHECK_OK(ds_grad_reverse(y, NULL, 0));
    CHECK_CLOSE(grad_data_of(x)[0], 8.0 * exp(2.0), 1e-5);
    FREE_ALL(x, y);
}

/* ds_array_sync compares bit for bit: the same NaN is no change, -0 against +0 is one, and
 * a difference in the last of many values is found. */
static void test_sync_bitwise(void)
{
    enum { N = 1000 };
    float v[N], w[N];
    for (int i = 0; i < N; i++) {
        v[i] = (float)i * 0.5f;
    }
    v[3] = NAN;
    v[4] = 0.0f;
    const int64_t shape[] = {N};
    ds_array *x = NULL;
    CHECK_OK(ds_array_from_data(shape, 1, 1, v, N, &x));
    bool changed = true;
    memcpy(w, v, sizeof w);
    CHECK_OK(ds_array_sync(x, w, N, &changed));
    CHECK(!changed); /* a NaN that stays the same NaN */
    w[4] = -0.0f;
    CHECK_OK(ds_array_sync(x, w, N, &changed));
    CHECK(changed);
    CHECK_OK(ds_array_sync(x, w, N, &changed));
    CHECK(!changed);
    w[N - 1] += 1.0f;
    CHECK_OK(ds_array_sync(x, w, N, &changed));
    CHECK(changed);
    float *d = NULL;
    CHECK_OK(ds_array_data(x, &d));
    CHECK(d[N - 1] == w[N - 1] && signbit(d[4]));
    CHECK_STATUS(ds_array_sync(x, w, N - 1, &changed), DS_ERR_SHAPE);
    FREE_ALL(x);
}

/* A write to a value no rule reads is fine (add), and a written result that a rule reads
 * (exp's) is caught like an input. */
static void test_what_is_checked(void)
{
    ds_array *x = leaf(2.0f), *y = NULL, *e = NULL, *f = NULL;
    float *p = NULL;
    CHECK_OK(ds_binary_scalar(DS_ADD, x, 1.0f, &y));
    CHECK_OK(ds_array_data_mut(x, &p));
    CHECK_OK(ds_grad_reverse(y, NULL, 0));
    CHECK_CLOSE(grad_data_of(x)[0], 1.0, 0);
    CHECK_OK(ds_unary(DS_EXP, x, &e));
    CHECK_OK(ds_sum_all(e, &f));
    CHECK_OK(ds_array_mark_written(e));
    CHECK_STATUS(ds_grad_reverse(f, NULL, 0), DS_ERR_MODIFIED);
    if (!CHECK(strstr(ds_last_error(), "'exp' its result")))
        printf("    message: \"%s\"\n", ds_last_error());
    FREE_ALL(x, y, e, f);
}

int main(void)
{
    test_write_through_pointer();
    test_read_pointer_and_mark_written();
    test_sync();
    test_sync_bitwise();
    test_what_is_checked();
    CHECK_NO_LEAKS();
    return test_summary();
}
