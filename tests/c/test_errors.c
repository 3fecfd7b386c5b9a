/*
 * test_errors.c -- every error path of the C ABI, and freeing in every order.
 *
 * Contract under test (include/diffstruc.h): every function returns a ds_status; on failure
 * ds_last_error() describes it and outputs are not written; NULL, freed, stale and invented
 * handles are reported (DS_ERR_NULL, DS_ERR_HANDLE), never dereferenced; nodes are reference
 * counted, so handles may be freed in any order.
 *
 * Length mismatches (data, seed, direction, real operands) are reported as DS_ERR_SHAPE, which
 * is what the implementation does throughout (and what core::grad_reverse documents for the
 * seed).
 */
#include <stdint.h>
#include <string.h>

#include "test_util.h"

#if !defined(__STDC_NO_THREADS__)
#include <threads.h>
#endif

static const int64_t SHAPE2[] = {2};
static const int64_t SHAPE3[] = {3};
static const float VALUES6[6] = {1, 2, 3, 4, 5, 6};

/* A recognisable value that no library output can be: out-parameters must keep it on failure. */
#define SENTINEL ((ds_array *)(uintptr_t)0xdeadbeef)

/* The last error message contains `needle`. */
static int error_mentions(const char *needle)
{
    const char *m = ds_last_error();
    int ok = CHECK(m != NULL && strstr(m, needle) != NULL);
    if (!ok) {
        printf("    \"%s\" does not mention \"%s\"\n", m ? m : "(null)", needle);
    }
    return ok;
}

/* A destructor for ds_array_adopt that counts its calls on an int. */
static void count_destroy(void *object)
{
    ++*(int *)object;
}

/* Calls every function that takes an array handle with `bad` in that position (all other
 * arguments valid) and checks that each returns `want` and leaves its output alone. */
static void every_call_rejects(ds_array *bad, const ds_array *good, ds_status want)
{
    ds_array *out = SENTINEL;
    float *p = (float *)VALUES6;
    int64_t e = -7, shape[4];
    size_t rank = 99;
    bool flag = true;
    const float m[2] = {1, 2};

    CHECK_STATUS(ds_array_share(bad, &out), want);
    CHECK_STATUS(ds_array_copy(bad, &out), want);
    CHECK_STATUS(ds_array_shape(bad, shape, 4, &rank), want);
    CHECK_STATUS(ds_array_extents(bad, &e, &e), want);
    CHECK_STATUS(ds_array_data(bad, &p), want);
    CHECK_STATUS(ds_array_grad_data(bad, &p), want);
    CHECK_STATUS(ds_array_grad(bad, &out), want);
    CHECK_STATUS(ds_array_get_flag(bad, DS_FLAG_REQUIRES_GRAD, &flag), want);
    CHECK_STATUS(ds_array_set_flag(bad, DS_FLAG_REQUIRES_GRAD, true), want);
    CHECK_STATUS(ds_array_set_direction(bad, m, 2), want);
    CHECK_STATUS(ds_array_clear_direction(bad), want);
    CHECK_STATUS(ds_array_same(bad, good, &flag), want);
    CHECK_STATUS(ds_array_same(good, bad, &flag), want);
    CHECK_STATUS(ds_grad_forward(bad, good, &out), want);
    CHECK_STATUS(ds_grad_forward(good, bad, &out), want);
    CHECK_STATUS(ds_grad_reverse(bad, NULL, 0), want);
    CHECK_STATUS(ds_zero_grad(bad), want);
    CHECK_STATUS(ds_nullify_graph(bad), want);
    CHECK_STATUS(ds_unary(DS_EXP, bad, &out), want);
    CHECK_STATUS(ds_binary(DS_ADD, bad, good, &out), want);
    CHECK_STATUS(ds_binary(DS_ADD, good, bad, &out), want);
    CHECK_STATUS(ds_binary_scalar(DS_MUL, bad, 2.0f, &out), want);
    CHECK_STATUS(ds_scalar_binary(DS_MUL, 2.0f, bad, &out), want);
    CHECK_STATUS(ds_binary_real1d(DS_ADD, bad, m, 2, &out), want);
    CHECK_STATUS(ds_binary_real2d(DS_ADD, bad, m, 2, 1, &out), want);
    CHECK_STATUS(ds_real2d_binary(DS_ADD, m, 2, 1, bad, &out), want);
    CHECK_STATUS(ds_gaussian(bad, 0.0f, 1.0f, &out), want);
    CHECK_STATUS(ds_sign(1.0f, bad, &out), want);
    CHECK_STATUS(ds_sum(bad, 1, &out), want);
    CHECK_STATUS(ds_mean(bad, 1, &out), want);
    CHECK_STATUS(ds_sum_all(bad, &out), want);
    CHECK_STATUS(ds_mean_all(bad, &out), want);
    /* Graph inspection, flag masks and adoption. */
    uint32_t bits = 77;
    size_t len = 99, n = 99;
    char text[64] = "untouched";
    int object = 0;
    CHECK_STATUS(ds_array_flags(bad, &bits), want);
    CHECK_STATUS(ds_array_set_flags(bad, 1u, 1u), want);
    CHECK_STATUS(ds_array_operation(bad, text, sizeof text, &len), want);
    CHECK_STATUS(ds_array_set_operation(bad, "renamed"), want);
    CHECK_STATUS(ds_array_num_inputs(bad, &n), want);
    CHECK_STATUS(ds_array_input(bad, 0, &out, NULL), want);
    CHECK_STATUS(ds_graph_print(bad, false, text, sizeof text, &len), want);
    CHECK_STATUS(ds_zero_all_grads(bad), want);
    CHECK_STATUS(ds_array_adopt(bad, good, &object, count_destroy, &flag), want);
    CHECK_STATUS(ds_array_adopt(good, bad, &object, count_destroy, &flag), want);
    CHECK(bits == 77 && len == 99 && n == 99 && strcmp(text, "untouched") == 0);

    CHECK_STATUS(ds_array_free(bad), want);
    CHECK(out == SENTINEL && p == VALUES6 && e == -7 && rank == 99 && flag);
    CHECK(ds_last_error() != NULL && ds_last_error()[0] != '\0');
}

static void test_null_handles(void)
{
    ds_array *x = new_array(SHAPE2, 1, 1, VALUES6, 2, true);
    every_call_rejects(NULL, x, DS_ERR_NULL);
    FREE_ALL(x);
    CHECK_NO_LEAKS();
}

/* NULL out-pointers and NULL data pointers: DS_ERR_NULL, and no handle is created. */
static void test_null_outputs(void)
{
    ds_array *x = new_array(SHAPE2, 1, 1, VALUES6, 2, true);
    ds_array *out = SENTINEL;
    float buf[2] = {1, 2};
    const float m[2] = {1, 2};
    size_t handles = ds_live_handles(), arrays = ds_live_arrays();

    CHECK_STATUS(ds_array_create(SHAPE2, 1, 1, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_full(SHAPE2, 1, 1, 1.0f, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_from_data(SHAPE2, 1, 1, VALUES6, 2, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_wrap(SHAPE2, 1, 1, buf, 2, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_share(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_copy(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_shape(x, NULL, 0, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_data(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_grad_data(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_grad(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_get_flag(x, DS_FLAG_SCALAR, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_same(x, x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_grad_forward(x, x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_unary(DS_EXP, x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_binary(DS_ADD, x, x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_binary_scalar(DS_ADD, x, 1.0f, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_scalar_binary(DS_ADD, 1.0f, x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_binary_real1d(DS_ADD, x, m, 2, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_binary_real2d(DS_ADD, x, m, 2, 1, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_real2d_binary(DS_ADD, m, 2, 1, x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_gaussian(x, 0.0f, 1.0f, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_sign(1.0f, x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_sum(x, 1, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_mean(x, 1, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_sum_all(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_mean_all(x, NULL), DS_ERR_NULL);

    /* NULL inputs other than handles. */
    CHECK_STATUS(ds_array_create(NULL, 1, 1, &out), DS_ERR_NULL); /* rank 1 needs a shape */
    CHECK_STATUS(ds_array_from_data(SHAPE2, 1, 1, NULL, 2, &out), DS_ERR_NULL);
    CHECK_STATUS(ds_array_wrap(SHAPE2, 1, 1, NULL, 2, &out), DS_ERR_NULL);
    CHECK_STATUS(ds_array_set_direction(x, NULL, 2), DS_ERR_NULL);
    CHECK_STATUS(ds_binary_real1d(DS_ADD, x, NULL, 2, &out), DS_ERR_NULL);
    CHECK_STATUS(ds_binary_real2d(DS_ADD, x, NULL, 2, 1, &out), DS_ERR_NULL);
    CHECK_STATUS(ds_real2d_binary(DS_ADD, NULL, 2, 1, x, &out), DS_ERR_NULL);
    char text[16];
    int object = 0;
    bool adopted = false;
    CHECK_STATUS(ds_array_flags(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_num_inputs(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_operation(x, text, sizeof text, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_graph_print(x, false, text, sizeof text, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_set_operation(x, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_array_adopt(x, x, NULL, count_destroy, &adopted), DS_ERR_NULL);
    CHECK_STATUS(ds_array_adopt(x, x, &object, NULL, &adopted), DS_ERR_NULL);
    CHECK_STATUS(ds_array_is_live(x, NULL), DS_ERR_NULL);
    CHECK(out == SENTINEL);
    CHECK(ds_live_handles() == handles && ds_live_arrays() == arrays);

    /* Optional outputs really are optional. */
    int64_t e = 0;
    size_t rank = 0;
    CHECK_OK(ds_array_extents(x, NULL, NULL));
    CHECK_OK(ds_array_extents(x, &e, NULL));
    CHECK(e == 2);
    CHECK_OK(ds_array_shape(x, NULL, 0, &rank));
    CHECK(rank == 1);
    /* A rank-0 shape needs no shape pointer: one element per sample. */
    CHECK_OK(ds_array_create(NULL, 0, 3, &out));
    CHECK_OK(ds_array_extents(out, &e, NULL));
    CHECK(e == 1);
    FREE_ALL(x, out);
    CHECK_NO_LEAKS();
}

/* Freed, stale and invented handles: DS_ERR_HANDLE, including a second free. */
static void test_bad_handles(void)
{
    ds_array *good = new_array(SHAPE2, 1, 1, VALUES6, 2, true);
    ds_array *x = new_array(SHAPE2, 1, 1, VALUES6, 2, true);
    CHECK_OK(ds_array_free(x));
    CHECK_STATUS(ds_array_free(x), DS_ERR_HANDLE); /* double free */
    error_mentions("handle");
    every_call_rejects(x, good, DS_ERR_HANDLE);

    /* The freed handle stays invalid when its slot is reused by a new array. */
    ds_array *y = new_array(SHAPE3, 1, 1, VALUES6, 3, false);
    int64_t e = 0;
    CHECK(y != x);
    CHECK_STATUS(ds_array_extents(x, &e, NULL), DS_ERR_HANDLE);
    CHECK_OK(ds_array_extents(y, &e, NULL));
    CHECK(e == 3);
    CHECK_STATUS(ds_array_free(x), DS_ERR_HANDLE);
    CHECK_OK(ds_array_extents(y, &e, NULL)); /* the failed free did not touch y */

    /* A value that was never returned by the library. */
    ds_array *invented = (ds_array *)(uintptr_t)0x12345;
    every_call_rejects(invented, good, DS_ERR_HANDLE);

    /* ds_array_is_live tells them apart without failing. */
    bool live = false;
    CHECK_OK(ds_array_is_live(y, &live));
    CHECK(live);
    const ds_array *dead[] = {x, invented, NULL};
    for (size_t i = 0; i < sizeof dead / sizeof dead[0]; i++) {
        live = true;
        CHECK_OK(ds_array_is_live(dead[i], &live));
        CHECK(!live);
    }

    FREE_ALL(good, y);
    CHECK_NO_LEAKS();
}

static void test_shape_mismatch(void)
{
    ds_array *a = new_array(SHAPE2, 1, 1, VALUES6, 2, true);  /* [2], batch 1 */
    ds_array *b = new_array(SHAPE3, 1, 1, VALUES6, 3, false); /* [3], batch 1 */
    ds_array *a2 = new_array(SHAPE2, 1, 2, VALUES6, 4, true); /* [2], batch 2 */
    ds_array *a3 = new_array(SHAPE2, 1, 3, VALUES6, 6, true); /* [2], batch 3 */
    ds_array *out = SENTINEL;

    CHECK_STATUS(ds_binary(DS_ADD, a, b, &out), DS_ERR_SHAPE);
    error_mentions("add");
    error_mentions("[2]");
    error_mentions("[3]");
    CHECK_STATUS(ds_binary(DS_MUL, b, a, &out), DS_ERR_SHAPE);
    error_mentions("multiply");
    CHECK_STATUS(ds_binary(DS_SUB, a2, a3, &out), DS_ERR_SHAPE); /* batch 2 vs 3 */
    error_mentions("subtract");
    error_mentions("batch 2");
    error_mentions("batch 3");
    CHECK(out == SENTINEL);

    /* Broadcasting controls: one sample against three, and a [1] per-sample scalar. */
    ds_array *s = new_array((const int64_t[]){1}, 1, 3, VALUES6, 3, false);
    ds_array *r1 = NULL, *r2 = NULL;
    CHECK_OK(ds_binary(DS_ADD, a, a3, &r1));
    CHECK_OK(ds_binary(DS_MUL, a3, s, &r2));
    const double sum[6] = {2, 4, 4, 6, 6, 8}, prod[6] = {1, 2, 6, 8, 15, 18};
    CHECK_VALUES(r1, sum, 6, 0.0);
    CHECK_VALUES(r2, prod, 6, 0.0);
    FREE_ALL(a, b, a2, a3, s, r1, r2);
    CHECK_NO_LEAKS();
}

/* Real 1-D / 2-D operands: lengths must match the array's extents; each form has its ops. */
static void test_real_operands(void)
{
    ds_array *x = new_array(SHAPE2, 1, 3, VALUES6, 6, true); /* E = 2, S = 3 */
    ds_array *out = SENTINEL, *ok1 = NULL, *ok2 = NULL, *ok3 = NULL;
    const float v[6] = {10, 20, 30, 40, 50, 60};

    CHECK_STATUS(ds_binary_real1d(DS_ADD, x, v, 3, &out), DS_ERR_SHAPE); /* needs E = 2 */
    error_mentions("length");
    CHECK_STATUS(ds_binary_real1d(DS_SUB, x, v, 2, &out), DS_ERR_SHAPE); /* needs S = 3 */
    CHECK_STATUS(ds_binary_real1d(DS_DIV, x, v, 6, &out), DS_ERR_SHAPE);
    CHECK_STATUS(ds_binary_real1d(DS_MUL, x, v, 2, &out), DS_ERR_ARGUMENT); /* no such form */
    CHECK_STATUS(ds_binary_real2d(DS_ADD, x, v, 3, 2, &out), DS_ERR_SHAPE); /* 2x3 expected */
    CHECK_STATUS(ds_binary_real2d(DS_MUL, x, v, 2, 2, &out), DS_ERR_SHAPE);
    CHECK_STATUS(ds_binary_real2d(DS_DIV, x, v, 2, 3, &out), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_real2d_binary(DS_MUL, v, 6, 1, x, &out), DS_ERR_SHAPE);
    CHECK_STATUS(ds_real2d_binary(DS_SUB, v, 2, 3, x, &out), DS_ERR_ARGUMENT);
    CHECK(out == SENTINEL);

    /* Controls with the right lengths. */
    CHECK_OK(ds_binary_real1d(DS_ADD, x, v, 2, &ok1));
    CHECK_OK(ds_binary_real1d(DS_SUB, x, v, 3, &ok2));
    CHECK_OK(ds_binary_real2d(DS_MUL, x, v, 2, 3, &ok3));
    const double w1[6] = {11, 22, 13, 24, 15, 26}, w2[6] = {-9, -8, -17, -16, -25, -24},
                 w3[6] = {10, 40, 90, 160, 250, 360};
    CHECK_VALUES(ok1, w1, 6, 0.0);
    CHECK_VALUES(ok2, w2, 6, 0.0);
    CHECK_VALUES(ok3, w3, 6, 0.0);
    FREE_ALL(x, ok1, ok2, ok3);
    CHECK_NO_LEAKS();
}

static void test_arguments(void)
{
    ds_array *x = new_array(SHAPE2, 1, 3, VALUES6, 6, false);
    ds_array *out = SENTINEL;
    bool flag = false;

    /* Invalid reduction dims. */
    const int32_t dims[] = {0, 3, -1, 100};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        CHECK_STATUS(ds_sum(x, dims[i], &out), DS_ERR_ARGUMENT);
        error_mentions("dim");
        CHECK_STATUS(ds_mean(x, dims[i], &out), DS_ERR_ARGUMENT);
        error_mentions("dim");
    }

    /* Unknown operation codes, including codes of the other family. */
    const int32_t unary_bad[] = {0, 100, 1000, -1, DS_ADD, DS_MAX};
    for (size_t i = 0; i < sizeof unary_bad / sizeof unary_bad[0]; i++) {
        CHECK_STATUS(ds_unary(unary_bad[i], x, &out), DS_ERR_ARGUMENT);
        error_mentions("unknown");
    }
    const int32_t binary_bad[] = {0, 100, -1, DS_NEG, DS_EXP};
    for (size_t i = 0; i < sizeof binary_bad / sizeof binary_bad[0]; i++) {
        int32_t op = binary_bad[i];
        CHECK_STATUS(ds_binary(op, x, x, &out), DS_ERR_ARGUMENT);
        error_mentions("unknown");
        CHECK_STATUS(ds_binary_scalar(op, x, 1.0f, &out), DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_scalar_binary(op, 1.0f, x, &out), DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_binary_real1d(op, x, VALUES6, 2, &out), DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_binary_real2d(op, x, VALUES6, 2, 3, &out), DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_real2d_binary(op, VALUES6, 2, 3, x, &out), DS_ERR_ARGUMENT);
    }

    /* Unknown flags (far from the defined ones, which may grow). */
    const ds_flag flags_bad[] = {0, -1, 1000, INT32_MIN};
    for (size_t i = 0; i < sizeof flags_bad / sizeof flags_bad[0]; i++) {
        CHECK_STATUS(ds_array_get_flag(x, flags_bad[i], &flag), DS_ERR_ARGUMENT);
        error_mentions("unknown");
        CHECK_STATUS(ds_array_set_flag(x, flags_bad[i], true), DS_ERR_ARGUMENT);
    }
    CHECK_OK(ds_array_get_flag(x, DS_FLAG_REQUIRES_GRAD, &flag));
    CHECK(!flag); /* the failed set_flag changed nothing */

    /* A shape buffer too small for the rank: DS_ERR_ARGUMENT, the rank is still written. */
    ds_array *r2 = NULL;
    int64_t shape[2] = {-1, -1};
    size_t rank = 0;
    CHECK_OK(ds_array_create((const int64_t[]){2, 3}, 2, 1, &r2));
    CHECK_STATUS(ds_array_shape(r2, shape, 1, &rank), DS_ERR_ARGUMENT);
    CHECK(rank == 2);
    CHECK_OK(ds_array_shape(r2, shape, 2, &rank));
    CHECK(shape[0] == 2 && shape[1] == 3);

    /* gaussian with sigma 0. */
    CHECK_STATUS(ds_gaussian(x, 0.0f, 0.0f, &out), DS_ERR_ARGUMENT);
    CHECK(out == SENTINEL);
    FREE_ALL(x, r2);
    CHECK_NO_LEAKS();
}

/* Zero and negative extents, and data of the wrong length, at creation. */
static void test_creation(void)
{
    ds_array *out = SENTINEL;
    float buf[6] = {0};
    const int64_t bad_shapes[][2] = {{0, 2}, {2, 0}, {-1, 2}, {2, -3}, {INT64_MIN, 1}};
    const int64_t bad_batches[] = {0, -1, INT64_MIN};

    for (size_t i = 0; i < sizeof bad_shapes / sizeof bad_shapes[0]; i++) {
        CHECK_STATUS(ds_array_create(bad_shapes[i], 2, 1, &out), DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_array_full(bad_shapes[i], 2, 1, 1.0f, &out), DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_array_from_data(bad_shapes[i], 2, 1, buf, 0, &out), DS_ERR_ARGUMENT);
    }
    for (size_t i = 0; i < sizeof bad_batches / sizeof bad_batches[0]; i++) {
        CHECK_STATUS(ds_array_create(SHAPE2, 1, bad_batches[i], &out), DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_array_full(SHAPE2, 1, bad_batches[i], 1.0f, &out), DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_array_from_data(SHAPE2, 1, bad_batches[i], buf, 0, &out),
                     DS_ERR_ARGUMENT);
        CHECK_STATUS(ds_array_wrap(SHAPE2, 1, bad_batches[i], buf, 0, &out), DS_ERR_ARGUMENT);
    }
    CHECK_STATUS(ds_array_create((const int64_t[]){-5}, 1, 1, &out), DS_ERR_ARGUMENT);
    error_mentions("-5"); /* names the bad shape */
    CHECK_STATUS(ds_array_create((const int64_t[]){0}, 1, 1, &out), DS_ERR_ARGUMENT);
    error_mentions("[0]");
    CHECK_STATUS(ds_array_wrap((const int64_t[]){-2}, 1, 1, buf, 2, &out), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_array_wrap((const int64_t[]){0}, 1, 1, buf, 0, &out), DS_ERR_ARGUMENT);
    /* Too large to address. */
    CHECK_STATUS(ds_array_create((const int64_t[]){INT64_MAX, INT64_MAX}, 2, 1, &out),
                 DS_ERR_ARGUMENT);

    /* Wrong data lengths ([2] x batch 3 needs 6 values). */
    CHECK_STATUS(ds_array_from_data(SHAPE2, 1, 3, buf, 5, &out), DS_ERR_SHAPE);
    error_mentions("6"); /* both lengths */
    error_mentions("5");
    CHECK_STATUS(ds_array_from_data(SHAPE2, 1, 3, buf, 0, &out), DS_ERR_SHAPE);
    CHECK_STATUS(ds_array_wrap(SHAPE2, 1, 3, buf, 5, &out), DS_ERR_SHAPE);
    error_mentions("6");
    error_mentions("5");
    CHECK_STATUS(ds_array_wrap(SHAPE2, 1, 2, buf, 6, &out), DS_ERR_SHAPE);
    CHECK(out == SENTINEL);
    CHECK_NO_LEAKS();
}

/* Differentiation errors: no gradient, wrong seed length, wrong direction length. */
static void test_autodiff_errors(void)
{
    ds_array *x = new_array(SHAPE2, 1, 3, VALUES6, 6, false);
    ds_array *y = new_array(SHAPE2, 1, 3, VALUES6, 6, true);
    ds_array *f = NULL, *out = SENTINEL;
    CHECK_OK(ds_binary(DS_MUL, x, y, &f));

    CHECK_STATUS(ds_grad_forward(f, x, &out), DS_ERR_NO_GRAD);
    error_mentions("gradient");
    CHECK(out == SENTINEL);

    const float seed[7] = {1, 1, 1, 1, 1, 1, 1};
    CHECK_STATUS(ds_grad_reverse(f, seed, 5), DS_ERR_SHAPE);
    error_mentions("seed");
    CHECK_STATUS(ds_grad_reverse(f, seed, 7), DS_ERR_SHAPE);
    CHECK_STATUS(ds_grad_reverse(f, seed, 2), DS_ERR_SHAPE); /* E values are not enough */
    ds_array *g = SENTINEL;
    CHECK_OK(ds_array_grad(y, &g));
    CHECK(g == NULL); /* the failed passes left no gradient behind */

    /* Directions: E = 2 or E*S = 6 values. */
    CHECK_STATUS(ds_array_set_direction(y, seed, 3), DS_ERR_SHAPE);
    error_mentions("direction");
    CHECK_STATUS(ds_array_set_direction(y, seed, 0), DS_ERR_SHAPE);
    CHECK_STATUS(ds_array_set_direction(y, seed, 7), DS_ERR_SHAPE);
    CHECK_OK(ds_array_set_direction(y, seed, 2));
    CHECK_OK(ds_array_set_direction(y, seed, 6));

    FREE_ALL(x, y, f);
    CHECK_NO_LEAKS();
}

/* Handles freed in every order: nothing dangles, nothing leaks. */
static void test_free_orders(void)
{
    const float xv[2] = {2, 3}, yv[2] = {5, 7};
    const double prod[2] = {10, 21};

    /* Inputs before results: the result stays readable and differentiable. */
    {
        ds_array *x = new_array(SHAPE2, 1, 1, xv, 2, true);
        ds_array *y = new_array(SHAPE2, 1, 1, yv, 2, false);
        ds_array *f = NULL, *g = NULL;
        CHECK_OK(ds_binary(DS_MUL, x, y, &f));
        FREE_ALL(x, y);
        CHECK(ds_live_handles() == 1);
        CHECK_VALUES(f, prod, 2, 0.0);
        CHECK_OK(ds_grad_reverse(f, NULL, 0)); /* reaches x, which only f still holds */
        CHECK_OK(ds_unary(DS_NEG, f, &g));
        const double neg[2] = {-10, -21};
        CHECK_VALUES(g, neg, 2, 0.0);
        FREE_ALL(g, f);
        CHECK_NO_LEAKS();
    }
    /* Results before their derivatives, and derivatives of derivatives. */
    {
        ds_array *x = new_array(SHAPE2, 1, 1, xv, 2, true);
        ds_array *f = NULL, *df = NULL, *d2 = NULL;
        CHECK_OK(ds_binary_scalar(DS_POW, x, 3.0f, &f));
        CHECK_OK(ds_grad_forward(f, x, &df));
        FREE_ALL(f, x);
        const double want1[2] = {12, 27}, want2[2] = {12, 18};
        CHECK_VALUES(df, want1, 2, 1e-6);
        /* x is reachable only through df's graph now; differentiate with a fresh handle. */
        CHECK(ds_live_handles() == 1);
        FREE_ALL(df);
        CHECK_NO_LEAKS();

        x = new_array(SHAPE2, 1, 1, xv, 2, true);
        CHECK_OK(ds_binary_scalar(DS_POW, x, 3.0f, &f));
        CHECK_OK(ds_grad_forward(f, x, &df));
        CHECK_OK(ds_grad_forward(df, x, &d2));
        FREE_ALL(f, df);
        CHECK_VALUES(d2, want2, 2, 1e-6);
        CHECK_OK(ds_grad_reverse(d2, NULL, 0)); /* d/dx sum(6x) = 6 */
        const double six[2] = {6, 6};
        ds_array *g = NULL;
        CHECK_OK(ds_array_grad(x, &g));
        CHECK_VALUES(g, six, 2, 1e-6);
        FREE_ALL(x, g, d2);
        CHECK_NO_LEAKS();
    }
    /* Derivatives before results. */
    {
        ds_array *x = new_array(SHAPE2, 1, 1, xv, 2, true);
        ds_array *f = NULL, *df = NULL;
        CHECK_OK(ds_binary_scalar(DS_POW, x, 2.0f, &f));
        CHECK_OK(ds_grad_forward(f, x, &df));
        FREE_ALL(df);
        CHECK_OK(ds_grad_reverse(f, NULL, 0));
        const double squares[2] = {4, 9};
        CHECK_VALUES(f, squares, 2, 0.0);
        FREE_ALL(f);
        const float *g = grad_data_of(x); /* 2x */
        CHECK(g[0] == 4 && g[1] == 6);
        FREE_ALL(x);
        CHECK_NO_LEAKS();
    }
    /* Gradient handles outlive their arrays; shared handles free independently. */
    {
        ds_array *x = new_array(SHAPE2, 1, 1, xv, 2, true);
        ds_array *f = NULL, *g = NULL, *x2 = NULL;
        bool same = false;
        CHECK_OK(ds_array_share(x, &x2));
        CHECK_OK(ds_array_same(x, x2, &same));
        CHECK(same);
        CHECK_OK(ds_binary(DS_MUL, x, x, &f));
        CHECK_OK(ds_grad_reverse(f, NULL, 0));
        CHECK_OK(ds_array_grad(x2, &g));
        FREE_ALL(x, f, x2);
        const double twice[2] = {4, 6};
        CHECK_VALUES(g, twice, 2, 0.0);
        FREE_ALL(g);
        CHECK_NO_LEAKS();
    }
    /* Nullify: twice is harmless, the result keeps its values and becomes a leaf, unreferenced
     * intermediates are freed at once, and freeing afterwards works. */
    {
        ds_array *x = new_array(SHAPE2, 1, 1, xv, 2, true);
        ds_array *t = NULL, *f = NULL;
        CHECK_OK(ds_unary(DS_NEG, x, &t));
        CHECK_OK(ds_binary_scalar(DS_MUL, t, 2.0f, &f)); /* f = (-x) * 2: inputs t, constant 2 */
        FREE_ALL(t);
        size_t before = ds_live_arrays();
        CHECK_OK(ds_nullify_graph(f));
        CHECK(ds_live_arrays() == before - 2); /* t and the constant 2 are gone */
        CHECK_OK(ds_nullify_graph(f));
        CHECK(ds_live_arrays() == before - 2);
        const double want[2] = {-4, -6};
        CHECK_VALUES(f, want, 2, 0.0);
        CHECK_OK(ds_grad_reverse(f, NULL, 0)); /* a leaf now: nothing reaches x */
        ds_array *g = SENTINEL;
        CHECK_OK(ds_array_grad(x, &g));
        CHECK(g == NULL);
        FREE_ALL(f);
        CHECK_STATUS(ds_nullify_graph(f), DS_ERR_HANDLE);
        CHECK_OK(ds_nullify_graph(x)); /* on a leaf: no-op */
        FREE_ALL(x);
        CHECK_NO_LEAKS();
    }
}

/* Text buffers, input indices and adoption: the entry points for language layers. */
static void test_inspection_and_adoption(void)
{
    ds_array *x = new_array(SHAPE2, 1, 1, VALUES6, 2, true);
    ds_array *f = NULL, *g = NULL, *h = NULL, *in = SENTINEL;
    CHECK_OK(ds_binary(DS_MUL, x, x, &f));

    /* A text buffer too small (or NULL): DS_ERR_ARGUMENT with the needed length written, so
     * that the caller can retry. */
    char text[64];
    size_t len = 0;
    CHECK_STATUS(ds_array_operation(f, NULL, 0, &len), DS_ERR_ARGUMENT);
    CHECK(len == strlen("multiply"));
    CHECK_STATUS(ds_array_operation(f, text, len, &len), DS_ERR_ARGUMENT); /* no room for NUL */
    CHECK_OK(ds_array_operation(f, text, len + 1, &len));
    CHECK(strcmp(text, "multiply") == 0);
    len = 0;
    CHECK_STATUS(ds_graph_print(f, false, text, 1, &len), DS_ERR_ARGUMENT);
    CHECK(len > 0);

    /* Input indices: f has two inputs, the leaf x none. */
    size_t n = 0;
    CHECK_OK(ds_array_num_inputs(f, &n));
    CHECK(n == 2);
    CHECK_STATUS(ds_array_input(f, 2, &in, NULL), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_array_input(f, SIZE_MAX, &in, NULL), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_array_input(x, 0, &in, NULL), DS_ERR_ARGUMENT);
    CHECK(in == SENTINEL);

    /* Adoption. A failed call must change nothing: here, claim no object and register no
     * destructor (the header: "outputs are written only on success"). */
    int destroyed = 0;
    bool adopted = false;
    CHECK_OK(ds_array_share(x, &h)); /* the handle a caller object holds */
    CHECK_STATUS(ds_array_adopt(f, h, &destroyed, count_destroy, NULL), DS_ERR_NULL);
    FREE_ALL(f); /* the owner is released while h is live */
    CHECK(destroyed == 0);
    /* A successful adoption runs the destructor once, when the owner is released. */
    CHECK_OK(ds_unary(DS_NEG, x, &g));
    CHECK_OK(ds_array_adopt(g, h, &destroyed, count_destroy, &adopted));
    CHECK(adopted); /* never claimed before */
    CHECK_OK(ds_array_adopt(g, h, &destroyed, count_destroy, &adopted));
    CHECK(!adopted); /* an object is claimed only once */
    FREE_ALL(g);
    CHECK(destroyed == 1);
    FREE_ALL(h, x);
    CHECK(destroyed == 1);
    CHECK_NO_LEAKS();
}

#if !defined(__STDC_NO_THREADS__)
/* Runs on a second thread: its last error is its own. */
static int other_thread(void *arg)
{
    int *ok = arg;
    ok[0] = ds_last_error() != NULL && ds_last_error()[0] == '\0';
    ok[1] = ds_array_free(NULL) == DS_ERR_NULL && strstr(ds_last_error(), "NULL") != NULL;
    return 0;
}
#endif

static void test_last_error(void)
{
    /* Failure messages are never NULL and survive successful calls. */
    ds_array *x = NULL;
    CHECK_STATUS(ds_sum(NULL, 1, &x), DS_ERR_NULL);
    const char *m = ds_last_error();
    CHECK(m != NULL && strstr(m, "NULL") != NULL);
    CHECK_OK(ds_array_create(SHAPE2, 1, 1, &x));
    CHECK(ds_last_error() != NULL && strstr(ds_last_error(), "NULL") != NULL);
    ds_array *out = SENTINEL;
    CHECK_STATUS(ds_sum(x, 9, &out), DS_ERR_ARGUMENT);
    CHECK(out == SENTINEL);
    error_mentions("9");

#if !defined(__STDC_NO_THREADS__)
    int ok[2] = {0, 0};
    thrd_t t;
    if (CHECK(thrd_create(&t, other_thread, ok) == thrd_success)) {
        CHECK(thrd_join(t, NULL) == thrd_success);
        CHECK(ok[0]); /* a new thread starts with "" */
        CHECK(ok[1]);
        error_mentions("dim"); /* this thread's message is unchanged */
    }
#endif

    /* Status names. */
    const char *names[] = {"DS_OK",           "DS_ERR_NULL",    "DS_ERR_HANDLE",
                           "DS_ERR_SHAPE",    "DS_ERR_ARGUMENT", "DS_ERR_NO_GRAD",
                           "DS_ERR_GRAPH",    "DS_ERR_INTERNAL"};
    for (int32_t i = 0; i < 8; i++) {
        CHECK(strcmp(ds_status_name(i), names[i]) == 0);
    }
    CHECK(ds_status_name(8) != NULL && ds_status_name(-1) != NULL &&
          ds_status_name(INT32_MAX) != NULL);
    FREE_ALL(x);
    CHECK_NO_LEAKS();
}

int main(void)
{
    /* Before any failure the message is empty, not NULL. */
    CHECK(ds_last_error() != NULL && ds_last_error()[0] == '\0');
    test_null_handles();
    test_null_outputs();
    test_bad_handles();
    test_shape_mismatch();
    test_real_operands();
    test_arguments();
    test_creation();
    test_autodiff_errors();
    test_free_orders();
    test_inspection_and_adoption();
    test_last_error();
    return test_summary();
}
