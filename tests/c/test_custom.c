/*
 * test_custom.c -- custom operations from C: y = c * x^3 (one input, user data holding c) and
 * y = a * b (two inputs, one shared by the batch), checked against closed forms in forward
 * mode, reverse mode, forward-over-forward and reverse-over-forward; the user data destructor
 * runs exactly once, after the last array using the operation is gone; every error path.
 */
#include "test_util.h"

typedef struct {
    float c;
    int destroyed;
} cube_data;

/* 3 c x^2, as a graph (differentiable again). */
static ds_status cube_slope(const cube_data *d, const ds_array *x, ds_array **out)
{
    ds_array *x2 = NULL;
    ds_status st = ds_binary_scalar(DS_POW, x, 2.0f, &x2);
    if (st != DS_OK) {
        return st;
    }
    st = ds_binary_scalar(DS_MUL, x2, 3.0f * d->c, out);
    ds_array_free(x2);
    return st;
}

static ds_status cube_jvp(void *user, const ds_array *out, const ds_array *const *inputs,
                          size_t n, size_t k, const ds_array *tangent, ds_array **contribution)
{
    (void)out;
    if (n != 1 || k != 0) {
        return DS_ERR_INTERNAL;
    }
    ds_array *slope = NULL;
    ds_status st = cube_slope(user, inputs[0], &slope);
    if (st != DS_OK) {
        return st;
    }
    st = ds_binary(DS_MUL, tangent, slope, contribution);
    ds_array_free(slope);
    return st;
}

static ds_status cube_vjp(void *user, const ds_array *out, const ds_array *const *inputs,
                          size_t n, size_t k, const float *upstream, float *grad,
                          size_t grad_batch)
{
    const cube_data *d = user;
    int64_t e = 0, s = 0;
    float *x = NULL;
    (void)out;
    if (n != 1 || k != 0 || ds_array_extents(inputs[0], &e, &s) != DS_OK ||
        ds_array_data(inputs[0], &x) != DS_OK || (size_t)s != grad_batch) {
        return DS_ERR_INTERNAL;
    }
    for (int64_t i = 0; i < e * s; i++) {
        grad[i] = upstream[i] * 3.0f * d->c * x[i] * x[i];
    }
    return DS_OK;
}

static void cube_destroy(void *user) { ((cube_data *)user)->destroyed++; }

/* c * x^3 through the custom operation. */
static ds_array *cube(const ds_custom_op *op, const cube_data *d, const ds_array *x)
{
    int64_t e = 0, s = 0;
    float *xv = NULL;
    ds_array *y = NULL;
    if (!CHECK_OK(ds_array_extents(x, &e, &s)) || !CHECK_OK(ds_array_data(x, &xv))) {
        return NULL;
    }
    float *v = malloc(sizeof(float) * (size_t)(e * s));
    for (int64_t i = 0; i < e * s; i++) {
        v[i] = d->c * xv[i] * xv[i] * xv[i];
    }
    CHECK_OK(ds_custom_apply(op, (const ds_array *const[]){x}, 1, (int64_t[]){e}, 1, s, v, &y));
    free(v);
    return y;
}

static void test_one_input(void)
{
    cube_data d = {0.5f, 0};
    ds_custom_rules rules = {&d, cube_jvp, cube_vjp, cube_destroy};
    ds_custom_op *op = NULL;
    CHECK_OK(ds_custom_op_create("cube", &rules, &op));

    const float xs[] = {1.0f, -2.0f, 0.5f, 3.0f};
    ds_array *x = new_array((int64_t[]){2}, 1, 2, xs, 4, true);
    ds_array *y = cube(op, &d, x);
    CHECK_OK(ds_custom_op_free(op)); /* the node keeps the operation alive */
    CHECK(d.destroyed == 0);

    char name[40];
    size_t len = 0;
    CHECK_OK(ds_array_operation(y, name, sizeof name, &len));
    CHECK(strcmp(name, "cube") == 0);
    double want_y[4], want_d1[4], want_d2[4];
    for (int i = 0; i < 4; i++) {
        want_y[i] = 0.5 * xs[i] * xs[i] * xs[i];
        want_d1[i] = 1.5 * xs[i] * xs[i];
        want_d2[i] = 3.0 * xs[i];
    }
    CHECK_VALUES(y, want_y, 4, 1e-6);

    /* reverse: the seed is ones */
    CHECK_OK(ds_grad_reverse(y, NULL, 0));
    ds_array *g = NULL;
    CHECK_OK(ds_array_grad(x, &g));
    CHECK_VALUES(g, want_d1, 4, 1e-5);
    ds_array_free(g);

    /* forward, then forward over forward and reverse over forward */
    ds_array *dy = NULL, *d2 = NULL;
    CHECK_OK(ds_grad_forward(y, x, &dy));
    CHECK_VALUES(dy, want_d1, 4, 1e-5);
    CHECK_OK(ds_grad_forward(dy, x, &d2));
    CHECK_VALUES(d2, want_d2, 4, 1e-5);
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_grad_reverse(dy, NULL, 0));
    CHECK_OK(ds_array_grad(x, &g));
    CHECK_VALUES(g, want_d2, 4, 1e-5);
    ds_array_free(g);

    FREE_ALL(d2, dy, y);
    CHECK(d.destroyed == 1);
    FREE_ALL(x);
}

/* y = a * b with `b` shared by the batch: forward rule t_a * b + a * t_b, reverse rule
 * g * b (for a) and g * a summed over the batch by the library (for b). */
static ds_status prod_jvp(void *user, const ds_array *out, const ds_array *const *inputs,
                          size_t n, size_t k, const ds_array *tangent, ds_array **contribution)
{
    (void)user;
    (void)out;
    if (n != 2 || k > 1) {
        return DS_ERR_INTERNAL;
    }
    return ds_binary(DS_MUL, tangent, inputs[1 - k], contribution);
}

static ds_status prod_vjp(void *user, const ds_array *out, const ds_array *const *inputs,
                          size_t n, size_t k, const float *upstream, float *grad,
                          size_t grad_batch)
{
    int64_t e = 0, s_other = 0;
    float *other = NULL;
    (void)user;
    (void)out;
    if (n != 2 || ds_array_extents(inputs[1 - k], &e, &s_other) != DS_OK ||
        ds_array_data(inputs[1 - k], &other) != DS_OK) {
        return DS_ERR_INTERNAL;
    }
    for (size_t s = 0; s < grad_batch; s++) {
        for (int64_t i = 0; i < e; i++) {
            size_t so = s_other == 1 ? 0 : s;
            grad[s * (size_t)e + (size_t)i] =
                upstream[s * (size_t)e + (size_t)i] * other[so * (size_t)e + (size_t)i];
        }
    }
    return DS_OK;
}

static void test_two_inputs_broadcast(void)
{
    ds_custom_rules rules = {NULL, prod_jvp, prod_vjp, NULL};
    ds_custom_op *op = NULL;
    CHECK_OK(ds_custom_op_create("product", &rules, &op));
    const float av[] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, bv[] = {-1.0f, 0.5f, 2.0f};
    ds_array *a = new_array((int64_t[]){3}, 1, 2, av, 6, true);
    ds_array *b = new_array((int64_t[]){3}, 1, 1, bv, 3, true);
    CHECK_OK(ds_array_set_flag(b, DS_FLAG_SAMPLE_DEPENDENT, false));

    /* diffstruc's pattern: create the result, fill it in place, then link it */
    ds_array *y = NULL;
    CHECK_OK(ds_array_create((int64_t[]){3}, 1, 2, &y));
    float *yv = data_of(y);
    for (int i = 0; i < 6; i++) {
        yv[i] = av[i] * bv[i % 3];
    }
    CHECK_OK(ds_array_set_custom(y, op, (const ds_array *const[]){a, b}, 2));
    CHECK_STATUS(ds_array_set_custom(y, op, (const ds_array *const[]){a}, 1),
                 DS_ERR_ARGUMENT); /* already linked */
    CHECK(strstr(ds_last_error(), "already the result of 'product'") != NULL);

    const float seed[] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
    CHECK_OK(ds_grad_reverse(y, seed, 6));
    ds_array *ga = NULL, *gb = NULL;
    CHECK_OK(ds_array_grad(a, &ga));
    CHECK_OK(ds_array_grad(b, &gb));
    double want_ga[6], want_gb[3] = {0, 0, 0};
    for (int i = 0; i < 6; i++) {
        want_ga[i] = seed[i] * bv[i % 3];
        want_gb[i % 3] += seed[i] * av[i];
    }
    CHECK_VALUES(ga, want_ga, 6, 1e-6);
    CHECK_VALUES(gb, want_gb, 3, 1e-6);

    /* forward along b (ones): dy = a; second order along a: d/da (a) = ones */
    ds_array *dy = NULL, *d2 = NULL;
    CHECK_OK(ds_grad_forward(y, b, &dy));
    double want_dy[6], ones[6];
    for (int i = 0; i < 6; i++) {
        want_dy[i] = av[i];
        ones[i] = 1.0;
    }
    CHECK_VALUES(dy, want_dy, 6, 1e-6);
    CHECK_OK(ds_grad_forward(dy, a, &d2));
    CHECK_VALUES(d2, ones, 6, 1e-6);
    FREE_ALL(d2, dy, ga, gb, y, a, b);
    CHECK_OK(ds_custom_op_free(op));
}

/* Rules that fail, are missing, or return a wrongly shaped array. */
static ds_status failing_jvp(void *user, const ds_array *out, const ds_array *const *inputs,
                             size_t n, size_t k, const ds_array *tangent, ds_array **contribution)
{
    (void)user, (void)out, (void)inputs, (void)n, (void)k, (void)tangent;
    /* a failing library call sets the message the library reports */
    return ds_sum(NULL, 1, contribution);
}

static ds_status wrong_shape_jvp(void *user, const ds_array *out, const ds_array *const *inputs,
                                 size_t n, size_t k, const ds_array *tangent,
                                 ds_array **contribution)
{
    (void)user, (void)out, (void)inputs, (void)n, (void)k;
    return ds_array_create((int64_t[]){7}, 1, 1, contribution) == DS_OK && tangent ? DS_OK
                                                                                  : DS_ERR_INTERNAL;
}

static void test_errors(void)
{
    ds_custom_rules none = {NULL, NULL, NULL, NULL};
    ds_custom_rules failing = {NULL, failing_jvp, NULL, NULL};
    ds_custom_rules wrong = {NULL, wrong_shape_jvp, NULL, NULL};
    ds_custom_op *op = NULL, *bad = NULL, *shape_op = NULL;
    CHECK_STATUS(ds_custom_op_create(NULL, &none, &op), DS_ERR_NULL);
    CHECK_STATUS(ds_custom_op_create("x", NULL, &op), DS_ERR_NULL);
    CHECK_STATUS(ds_custom_op_create("x", &none, NULL), DS_ERR_NULL);
    CHECK_STATUS(ds_custom_op_create("", &none, &op), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_custom_op_create("a_name_longer_than_thirty_two_chars", &none, &op),
                 DS_ERR_ARGUMENT);
    CHECK_OK(ds_custom_op_create("norules", &none, &op));
    CHECK_OK(ds_custom_op_create("failing", &failing, &bad));
    CHECK_OK(ds_custom_op_create("wrongshape", &wrong, &shape_op));

    const float xs[] = {1.0f, 2.0f};
    ds_array *x = new_array((int64_t[]){2}, 1, 1, xs, 2, true);
    ds_array *y = NULL, *z = NULL, *w = NULL, *dy = NULL;
    const ds_array *in[] = {x};
    CHECK_STATUS(ds_custom_apply(op, in, 0, (int64_t[]){2}, 1, 1, NULL, &y), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_custom_apply(op, NULL, 1, (int64_t[]){2}, 1, 1, NULL, &y), DS_ERR_NULL);
    CHECK_STATUS(ds_custom_apply(op, in, 1, (int64_t[]){-2}, 1, 1, NULL, &y), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_custom_apply(op, in, 1, (int64_t[]){2}, 1, 0, NULL, &y), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_custom_apply(NULL, in, 1, (int64_t[]){2}, 1, 1, NULL, &y), DS_ERR_NULL);
    CHECK_STATUS(ds_custom_apply((ds_custom_op *)(uintptr_t)12345, in, 1, (int64_t[]){2}, 1, 1,
                                 NULL, &y),
                 DS_ERR_HANDLE);

    CHECK_OK(ds_custom_apply(op, in, 1, (int64_t[]){2}, 1, 1, NULL, &y));
    CHECK_STATUS(ds_grad_reverse(y, NULL, 0), DS_ERR_NO_GRAD);
    CHECK(strstr(ds_last_error(), "'norules' has no reverse rule") != NULL);
    CHECK_STATUS(ds_grad_forward(y, x, &dy), DS_ERR_NO_GRAD);
    CHECK(strstr(ds_last_error(), "'norules' has no forward rule") != NULL);

    CHECK_OK(ds_custom_apply(bad, in, 1, (int64_t[]){2}, 1, 1, NULL, &z));
    CHECK_STATUS(ds_grad_forward(z, x, &dy), DS_ERR_NULL);
    CHECK(strstr(ds_last_error(), "custom operation 'failing': forward rule for input 1 failed") !=
          NULL);
    CHECK_OK(ds_custom_apply(shape_op, in, 1, (int64_t[]){2}, 1, 1, NULL, &w));
    CHECK_STATUS(ds_grad_forward(w, x, &dy), DS_ERR_SHAPE);
    CHECK(strstr(ds_last_error(), "'wrongshape'") != NULL);

    CHECK_STATUS(ds_array_set_custom(x, op, (const ds_array *const[]){x}, 1), DS_ERR_GRAPH);
    CHECK_OK(ds_custom_op_free(op));
    CHECK_STATUS(ds_custom_op_free(op), DS_ERR_HANDLE); /* double free */
    CHECK_STATUS(ds_custom_apply(op, in, 1, (int64_t[]){2}, 1, 1, NULL, &y), DS_ERR_HANDLE);
    FREE_ALL(y, z, w, x);
    CHECK_OK(ds_custom_op_free(bad));
    CHECK_OK(ds_custom_op_free(shape_op));
}

int main(void)
{
    test_one_input();
    test_two_inputs_broadcast();
    test_errors();
    return test_summary();
}
