/*
 * test_wrap.c -- zero-copy data exchange with the caller.
 *
 *   ds_array_wrap        the array reads and writes the caller's buffer in place, and never
 *                        frees it (the caller frees it, after the array and its results)
 *   ds_array_from_data   copies: the source can change or go away afterwards
 *   ds_array_grad_data   the gradient buffer exists before reverse mode and receives it in place
 *   an SGD loop          updates a wrapped weight in place through its value pointer
 *
 * Buffers are malloc'd: if the library wrote past them or freed them, valgrind (and glibc's
 * double-free check on our own free()) would report it.
 */
#include <stdint.h>
#include <string.h>

#include "test_util.h"

static const int64_t SHAPE3[] = {3};

static float *new_buffer(size_t n, float first)
{
    float *b = malloc(n * sizeof *b);
    if (!CHECK(b != NULL)) {
        exit(EXIT_FAILURE);
    }
    for (size_t i = 0; i < n; i++) {
        b[i] = first + (float)i;
    }
    return b;
}

/* The array reads the caller's buffer in place; writes through ds_array_data reach it. */
static void test_wrap_in_place(void)
{
    float *buf = new_buffer(6, 1.0f); /* 1..6, shape [3] x batch 2 */
    ds_array *x = NULL, *y1 = NULL, *y2 = NULL;
    CHECK_OK(ds_array_wrap(SHAPE3, 1, 2, buf, 6, &x));
    CHECK(data_of(x) == buf);
    int64_t e = 0, s = 0;
    CHECK_OK(ds_array_extents(x, &e, &s));
    CHECK(e == 3 && s == 2);

    CHECK_OK(ds_binary_scalar(DS_MUL, x, 2.0f, &y1));
    const double doubled[6] = {2, 4, 6, 8, 10, 12};
    CHECK_VALUES(y1, doubled, 6, 0.0);

    /* The caller changes its buffer: new results see the change, old results keep theirs. */
    buf[0] = 10.0f;
    buf[5] = -1.0f;
    CHECK_OK(ds_binary_scalar(DS_MUL, x, 2.0f, &y2));
    const double changed[6] = {20, 4, 6, 8, 10, -2};
    CHECK_VALUES(y2, changed, 6, 0.0);
    CHECK_VALUES(y1, doubled, 6, 0.0);

    /* Writes through the library's pointer land in the caller's buffer. */
    float *p = data_of(x);
    p[1] = 42.0f;
    CHECK(buf[1] == 42.0f);

    /* A result's own values are not the caller's buffer. */
    CHECK(data_of(y1) != buf);

    FREE_ALL(x, y1, y2);
    CHECK_NO_LEAKS();
    /* Untouched by the library and still ours: its contents, then free() (no double free). */
    const float after[6] = {10, 42, 3, 4, 5, -1};
    CHECK(memcmp(buf, after, sizeof after) == 0);
    free(buf);
}

/* A wrapped array that is a graph input lives on in its result's graph after its handle is
 * freed, still reading the caller's buffer; freeing the result releases it without freeing the
 * buffer. */
static void test_wrap_lifetime(void)
{
    float *buf = new_buffer(3, 1.0f); /* 1 2 3 */
    const float ones[3] = {1, 1, 1};
    ds_array *x = NULL, *c = new_array(SHAPE3, 1, 1, ones, 3, true), *f = NULL;
    CHECK_OK(ds_array_wrap(SHAPE3, 1, 1, buf, 3, &x));
    CHECK_OK(ds_binary(DS_MUL, x, c, &f)); /* f keeps x as an input: c requires a gradient */
    FREE_ALL(x);
    CHECK(ds_live_handles() == 2 && ds_live_arrays() == 3); /* x, c, f */

    /* The caller may still write its buffer; reverse mode reads x from it: d sum(x c)/dc = x. */
    buf[0] = 5.0f;
    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    const float *g = grad_data_of(c);
    CHECK(g[0] == 5.0f && g[1] == 2.0f && g[2] == 3.0f);
    const double computed[3] = {1, 2, 3}; /* f's values were computed before the write */
    CHECK_VALUES(f, computed, 3, 0.0);

    FREE_ALL(f, c);
    CHECK_NO_LEAKS();
    const float after[3] = {5, 2, 3};
    CHECK(memcmp(buf, after, sizeof after) == 0);
    free(buf);

    /* Wrapping rejects a pointer misaligned for float (and creates nothing). */
    float aligned[4] = {0};
    ds_array *out = NULL;
    /* Made from an integer: converting a misaligned char pointer would be undefined in C. */
    float *odd = (float *)((uintptr_t)aligned + 1);
    CHECK_STATUS(ds_array_wrap(SHAPE3, 1, 1, odd, 3, &out), DS_ERR_ARGUMENT);
    CHECK(out == NULL);
    CHECK_NO_LEAKS();
}

/* ds_array_from_data and ds_array_copy copy. */
static void test_copies(void)
{
    float src[3] = {1, 2, 3};
    ds_array *a = NULL, *b = NULL, *w = NULL;
    CHECK_OK(ds_array_from_data(SHAPE3, 1, 1, src, 3, &a));
    CHECK(data_of(a) != src);
    src[0] = 100.0f; /* the array does not see it */
    const double orig[3] = {1, 2, 3};
    CHECK_VALUES(a, orig, 3, 0.0);
    data_of(a)[1] = -5.0f; /* nor does the source see writes to the array */
    CHECK(src[1] == 2.0f);

    /* ds_array_copy of a wrapped array owns its values too. */
    CHECK_OK(ds_array_wrap(SHAPE3, 1, 1, src, 3, &w));
    CHECK_OK(ds_array_copy(w, &b));
    CHECK(data_of(b) != src);
    src[2] = 7.0f;
    CHECK(data_of(b)[2] == 3.0f && data_of(w)[2] == 7.0f);
    FREE_ALL(a, b, w);
    CHECK_NO_LEAKS();
}

/* The gradient buffer taken before reverse mode is the one that receives the gradient. */
static void test_zero_copy_grad(void)
{
    float *buf = new_buffer(3, 1.0f); /* 1 2 3 */
    ds_array *x = NULL, *f = NULL, *g = NULL;
    CHECK_OK(ds_array_wrap(SHAPE3, 1, 1, buf, 3, &x));
    CHECK_OK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    float *grad = grad_data_of(x);
    CHECK(grad != NULL && grad != buf);
    CHECK(grad[0] == 0.0f && grad[1] == 0.0f && grad[2] == 0.0f);

    CHECK_OK(ds_binary(DS_MUL, x, x, &f)); /* d sum(x^2) = 2x */
    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    CHECK(grad[0] == 2.0f && grad[1] == 4.0f && grad[2] == 6.0f);
    CHECK(grad_data_of(x) == grad); /* same address, asked again */
    CHECK_OK(ds_array_grad(x, &g));
    CHECK(data_of(g) == grad); /* the gradient's handle shares it too */

    CHECK_OK(ds_grad_reverse(f, NULL, 0)); /* accumulates in place */
    CHECK(grad[0] == 4.0f && grad[2] == 12.0f);
    CHECK_OK(ds_zero_grad(x)); /* zeroes in place */
    CHECK(grad[0] == 0.0f && grad[1] == 0.0f && grad[2] == 0.0f);
    CHECK(grad_data_of(x) == grad);

    FREE_ALL(x, f, g);
    CHECK_NO_LEAKS();
    free(buf);
}

/* Gradient descent on a wrapped weight, updated in place through its value pointer:
 * loss = sum((w - t)^2), gradient 2 (w - t); with lr = 0.25 each step halves w - t. */
static void test_sgd_in_place(void)
{
    enum { N = 4, STEPS = 30 };
    const float target[N] = {1.0f, -2.0f, 0.5f, 3.0f};
    const float lr = 0.25f;
    float *w = new_buffer(N, 0.0f); /* 0 1 2 3 */
    ds_array *wa = NULL, *t = NULL;
    CHECK_OK(ds_array_wrap((const int64_t[]){N}, 1, 1, w, N, &wa));
    CHECK_OK(ds_array_set_flag(wa, DS_FLAG_REQUIRES_GRAD, true));
    CHECK_OK(ds_array_from_data((const int64_t[]){N}, 1, 1, target, N, &t));
    float *value = data_of(wa), *grad = grad_data_of(wa);
    CHECK(value == w);

    double previous = 1e30;
    int decreasing = 1;
    for (int step = 0; step < STEPS; step++) {
        ds_array *d = NULL, *d2 = NULL, *loss = NULL;
        CHECK_OK(ds_binary(DS_SUB, wa, t, &d));
        CHECK_OK(ds_binary_scalar(DS_POW, d, 2.0f, &d2));
        CHECK_OK(ds_sum_all(d2, &loss));
        double l = data_of(loss)[0];
        decreasing &= l < previous || l == 0.0; /* until it is exactly 0 */
        previous = l;
        CHECK_OK(ds_zero_grad(wa));
        CHECK_OK(ds_grad_reverse(loss, NULL, 0));
        for (int i = 0; i < N; i++) {
            value[i] -= lr * grad[i]; /* in place: this is the caller's buffer w */
        }
        FREE_ALL(d, d2, loss);
    }
    CHECK(decreasing);
    CHECK(previous < 1e-12); /* initial loss 1+9+2.25+0 = 12.25, halved error every step */
    for (int i = 0; i < N; i++) {
        CHECK_CLOSE(w[i], target[i], 1e-6);
    }
    CHECK(grad_data_of(wa) == grad); /* the same gradient buffer throughout */
    FREE_ALL(wa, t);
    CHECK_NO_LEAKS();
    free(w);
}

int main(void)
{
    test_wrap_in_place();
    test_wrap_lifetime();
    test_copies();
    test_zero_copy_grad();
    test_sgd_in_place();
    return test_summary();
}
