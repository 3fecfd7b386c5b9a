/*
 * test_tutorial.c -- the tutorial, end to end through the C ABI.
 *
 * Every derivative is checked twice: against its closed form, and against central finite
 * differences computed here in C, by perturbing a variable's values in place (through
 * ds_array_data) and rebuilding the function. Sections:
 *   polynomial     f = x**3 + 2 x**2 + x: values, 1st/2nd/3rd forward derivatives, reverse
 *                  gradient, accumulation and ds_zero_grad, reverse-over-forward (Hessian
 *                  diagonal), a custom reverse seed
 *   mixed partial  f = x y y: d/dy (d/dx f) = d/dx (d/dy f) = 2y, also by reverse over forward
 *   direction      a coupled vector function, forward mode along e_k gives column k of the
 *                  Jacobian; without a direction, the Jacobian times ones
 *   batch          x of shape [2] with batch 3 times a shared weight w (batch 1, not
 *                  sample-dependent): w's gradient is the sum over the batch; per-sample seeds
 *                  and directions
 */
#include <string.h>

#include "test_util.h"

/* Finite-difference step: a power of two, so that x +- H is exact for the small-integer and
 * half-integer values used here and the step really taken is exactly H. */
#define H (1.0f / 128.0f)
/* Tolerance (relative above 1, absolute below) for finite differences; closed forms are
 * checked to TOL_EXACT (f32 rounding only). */
#define TOL_FD 2e-3
#define TOL_EXACT 1e-5
#define MAXN 16 /* values per array in this file, at most */

static const int64_t SHAPE3[] = {3};
static const int64_t SHAPE2[] = {2};

/* ---------------------------------------------------------------------------------------------
 * Finite differences. A model builds a function of its variables through the C ABI and
 * returns a new handle to the result; it frees its own intermediate handles (the graph keeps
 * the nodes it needs).
 */
typedef ds_array *(*model_fn)(ds_array *const vars[]);

/* Number of values (E*S) of an array. */
static size_t count(const ds_array *a)
{
    int64_t e = 0, s = 0;
    CHECK_OK(ds_array_extents(a, &e, &s));
    return (size_t)(e * s);
}

/* Evaluates build(vars) with vars[which] shifted by eps*dir, writing its values to out (as
 * doubles, at most MAXN) and returning their number. The variable is shifted in place through
 * its value pointer and restored exactly afterwards. */
static size_t eval_shifted(model_fn build, ds_array *const vars[], int which, const float *dir,
                           float eps, double out[MAXN])
{
    size_t n = count(vars[which]);
    float *v = data_of(vars[which]), saved[MAXN];
    memcpy(saved, v, n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = saved[i] + eps * dir[i];
    }
    ds_array *f = build(vars);
    size_t m = count(f);
    const float *fv = data_of(f);
    for (size_t i = 0; i < m && i < MAXN; i++) {
        out[i] = fv[i];
    }
    FREE_ALL(f);
    memcpy(v, saved, n * sizeof *v);
    return m;
}

/* The directional derivative of build(vars) along dir for vars[which], element-wise:
 * (f(v + H dir) - f(v - H dir)) / 2H. Returns the number of values. */
static size_t fd_directional(model_fn build, ds_array *const vars[], int which, const float *dir,
                             double out[MAXN])
{
    double plus[MAXN], minus[MAXN];
    size_t m = eval_shifted(build, vars, which, dir, H, plus);
    eval_shifted(build, vars, which, dir, -H, minus);
    for (size_t i = 0; i < m; i++) {
        out[i] = (plus[i] - minus[i]) / (2.0 * H);
    }
    return m;
}

/* The gradient of sum(seed * build(vars)) with respect to every value of vars[which]
 * (seed NULL: ones), one directional difference along each unit vector. */
static void fd_gradient(model_fn build, ds_array *const vars[], int which, const float *seed,
                        double out[MAXN])
{
    size_t n = count(vars[which]);
    float unit[MAXN] = {0};
    for (size_t i = 0; i < n; i++) {
        double d[MAXN];
        unit[i] = 1.0f;
        size_t m = fd_directional(build, vars, which, unit, d);
        unit[i] = 0.0f;
        out[i] = 0.0;
        for (size_t j = 0; j < m; j++) {
            out[i] += (seed ? seed[j] : 1.0) * d[j];
        }
    }
}

/* Checks that the gradient accumulated in v equals expected[] (n values). */
static void check_grad(const ds_array *v, const double *expected, size_t n, double tol)
{
    ds_array *g = NULL;
    CHECK_OK(ds_array_grad(v, &g));
    if (CHECK(g != NULL)) {
        CHECK_VALUES(g, expected, n, tol);
        FREE_ALL(g);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Models
 */

/* f = x**3 + 2*x**2 + x, built exactly as the tutorial writes it. */
static ds_array *poly(ds_array *const vars[])
{
    ds_array *x = vars[0], *x3 = NULL, *x2 = NULL, *t = NULL, *s = NULL, *f = NULL;
    CHECK_OK(ds_binary_scalar(DS_POW, x, 3.0f, &x3));
    CHECK_OK(ds_binary_scalar(DS_POW, x, 2.0f, &x2));
    CHECK_OK(ds_scalar_binary(DS_MUL, 2.0f, x2, &t));
    CHECK_OK(ds_binary(DS_ADD, x3, t, &s));
    CHECK_OK(ds_binary(DS_ADD, s, x, &f));
    FREE_ALL(x3, x2, t, s); /* f keeps them alive as its graph */
    return f;
}

/* df/dx of poly, by forward mode: finite differences of it check the 2nd derivative. */
static ds_array *poly_dx(ds_array *const vars[])
{
    ds_array *f = poly(vars), *df = NULL;
    CHECK_OK(ds_grad_forward(f, vars[0], &df));
    FREE_ALL(f);
    return df;
}

/* f = x * y * y. */
static ds_array *xyy(ds_array *const vars[])
{
    ds_array *xy = NULL, *f = NULL;
    CHECK_OK(ds_binary(DS_MUL, vars[0], vars[1], &xy));
    CHECK_OK(ds_binary(DS_MUL, xy, vars[1], &f));
    FREE_ALL(xy);
    return f;
}

/* d/dx (x y y) by forward mode, as a function of (x, y). */
static ds_array *xyy_dx(ds_array *const vars[])
{
    ds_array *f = xyy(vars), *df = NULL;
    CHECK_OK(ds_grad_forward(f, vars[0], &df));
    FREE_ALL(f);
    return df;
}

/* A vector function whose outputs all depend on every input:
 * f_i = x_i * sum_j x_j + x_i**3, Jacobian J_ik = delta_ik (sum x + 3 x_k^2) + x_i. */
static ds_array *coupled(ds_array *const vars[])
{
    ds_array *x = vars[0], *s = NULL, *xs = NULL, *x3 = NULL, *f = NULL;
    CHECK_OK(ds_sum(x, 1, &s)); /* per-sample sum: shape [1], broadcast against x */
    CHECK_OK(ds_binary(DS_MUL, x, s, &xs));
    CHECK_OK(ds_binary_scalar(DS_POW, x, 3.0f, &x3));
    CHECK_OK(ds_binary(DS_ADD, xs, x3, &f));
    FREE_ALL(s, xs, x3);
    return f;
}

/* f = (x * w)**2 with x sample-dependent and w one sample shared by the batch. */
static ds_array *weighted(ds_array *const vars[])
{
    ds_array *xw = NULL, *f = NULL;
    CHECK_OK(ds_binary(DS_MUL, vars[0], vars[1], &xw));
    CHECK_OK(ds_binary_scalar(DS_POW, xw, 2.0f, &f));
    FREE_ALL(xw);
    return f;
}

/* ---------------------------------------------------------------------------------------------
 * Sections
 */

static void test_polynomial(void)
{
    const float xv[3] = {1, 2, 3};
    const float ones[3] = {1, 1, 1};
    ds_array *x = new_array(SHAPE3, 1, 1, xv, 3, true);
    ds_array *vars[] = {x};
    double want[3], fd[MAXN];

    ds_array *f = poly(vars);
    for (int i = 0; i < 3; i++) {
        want[i] = xv[i] * xv[i] * xv[i] + 2 * xv[i] * xv[i] + xv[i]; /* 4 18 48 */
    }
    CHECK_VALUES(f, want, 3, TOL_EXACT);

    /* Forward mode: f' = 3x^2 + 4x + 1, f'' = 6x + 4, f''' = 6, f'''' = 0. */
    ds_array *d1 = NULL, *d2 = NULL, *d3 = NULL, *d4 = NULL;
    bool fwd = false;
    CHECK_OK(ds_grad_forward(f, x, &d1));
    CHECK_OK(ds_array_get_flag(d1, DS_FLAG_FORWARD, &fwd));
    CHECK(fwd);
    for (int i = 0; i < 3; i++) {
        want[i] = 3 * xv[i] * xv[i] + 4 * xv[i] + 1; /* 8 21 40 */
    }
    CHECK_VALUES(d1, want, 3, TOL_EXACT);
    CHECK(fd_directional(poly, vars, 0, ones, fd) == 3);
    CHECK_VALUES(d1, fd, 3, TOL_FD);

    CHECK_OK(ds_grad_forward(d1, x, &d2));
    for (int i = 0; i < 3; i++) {
        want[i] = 6 * xv[i] + 4; /* 10 16 22 */
    }
    CHECK_VALUES(d2, want, 3, TOL_EXACT);
    fd_directional(poly_dx, vars, 0, ones, fd); /* differences of the 1st derivative */
    CHECK_VALUES(d2, fd, 3, TOL_FD);

    CHECK_OK(ds_grad_forward(d2, x, &d3));
    const double six[3] = {6, 6, 6}, zero[3] = {0, 0, 0};
    CHECK_VALUES(d3, six, 3, TOL_EXACT);
    CHECK_OK(ds_grad_forward(d3, x, &d4));
    CHECK_VALUES(d4, zero, 3, TOL_EXACT);

    /* Reverse mode. No gradient exists before the first pass. */
    ds_array *g = NULL;
    CHECK_OK(ds_array_grad(x, &g));
    CHECK(g == NULL);
    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    for (int i = 0; i < 3; i++) {
        want[i] = 3 * xv[i] * xv[i] + 4 * xv[i] + 1;
    }
    check_grad(x, want, 3, TOL_EXACT);
    fd_gradient(poly, vars, 0, NULL, fd);
    check_grad(x, fd, 3, TOL_FD);

    /* Gradients accumulate across passes until ds_zero_grad. */
    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    double twice[3];
    for (int i = 0; i < 3; i++) {
        twice[i] = 2 * want[i];
    }
    check_grad(x, twice, 3, TOL_EXACT);
    CHECK_OK(ds_zero_grad(x));
    check_grad(x, zero, 3, 0.0);

    /* Reverse over forward: the gradient of sum(f') is the Hessian diagonal (f is separable),
     * 6x + 4. */
    CHECK_OK(ds_grad_reverse(d1, NULL, 0));
    for (int i = 0; i < 3; i++) {
        want[i] = 6 * xv[i] + 4;
    }
    check_grad(x, want, 3, TOL_EXACT);

    /* A custom seed: the gradient of sum(seed * f) is seed_i f'(x_i). */
    const float seed[3] = {1.0f, -2.0f, 0.5f};
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_grad_reverse(f, seed, 3));
    for (int i = 0; i < 3; i++) {
        want[i] = seed[i] * (3 * xv[i] * xv[i] + 4 * xv[i] + 1); /* 8 -42 20 */
    }
    check_grad(x, want, 3, TOL_EXACT);
    fd_gradient(poly, vars, 0, seed, fd);
    check_grad(x, fd, 3, TOL_FD);

    /* Finite differences restored x exactly. */
    double xd[3] = {1, 2, 3};
    CHECK_VALUES(x, xd, 3, 0.0);

    FREE_ALL(x, f, d1, d2, d3, d4);
    CHECK_NO_LEAKS();
}

static void test_mixed_partial(void)
{
    const float xv[3] = {1, 2, 3}, yv[3] = {0.5f, -1.0f, 2.0f};
    const float ones[3] = {1, 1, 1};
    ds_array *x = new_array(SHAPE3, 1, 1, xv, 3, true);
    ds_array *y = new_array(SHAPE3, 1, 1, yv, 3, true);
    ds_array *vars[] = {x, y};
    double want[3], fd[MAXN];

    ds_array *f = xyy(vars), *fx = NULL, *fxy = NULL, *fy = NULL, *fyx = NULL;
    CHECK_OK(ds_grad_forward(f, x, &fx)); /* y^2 */
    for (int i = 0; i < 3; i++) {
        want[i] = yv[i] * yv[i];
    }
    CHECK_VALUES(fx, want, 3, TOL_EXACT);

    CHECK_OK(ds_grad_forward(fx, y, &fxy)); /* 2y */
    for (int i = 0; i < 3; i++) {
        want[i] = 2 * yv[i];
    }
    CHECK_VALUES(fxy, want, 3, TOL_EXACT);
    fd_directional(xyy_dx, vars, 1, ones, fd); /* differences in y of d/dx f */
    CHECK_VALUES(fxy, fd, 3, TOL_FD);

    /* The other order: d/dy f = 2xy, then d/dx gives 2y again. */
    CHECK_OK(ds_grad_forward(f, y, &fy));
    double fy_want[3];
    for (int i = 0; i < 3; i++) {
        fy_want[i] = 2 * xv[i] * yv[i];
    }
    CHECK_VALUES(fy, fy_want, 3, TOL_EXACT);
    CHECK_OK(ds_grad_forward(fy, x, &fyx));
    CHECK_VALUES(fyx, want, 3, TOL_EXACT);

    /* Reverse over forward: the gradient of sum(d/dx f) = sum(y^2) in y is 2y. */
    CHECK_OK(ds_grad_reverse(fx, NULL, 0));
    check_grad(y, want, 3, TOL_EXACT);

    FREE_ALL(x, y, f, fx, fxy, fy, fyx);
    CHECK_NO_LEAKS();
}

static void test_direction(void)
{
    const float xv[3] = {1, 2, 3};
    const double sum = 6;
    ds_array *x = new_array(SHAPE3, 1, 1, xv, 3, true);
    ds_array *vars[] = {x};
    ds_array *f = coupled(vars);
    double want[3], fd[MAXN];

    for (int k = 0; k < 3; k++) {
        float e[3] = {0, 0, 0};
        e[k] = 1;
        ds_array *df = NULL;
        CHECK_OK(ds_array_set_direction(x, e, 3));
        CHECK_OK(ds_grad_forward(f, x, &df));
        for (int i = 0; i < 3; i++) { /* column k of the Jacobian */
            want[i] = (i == k ? sum + 3 * xv[k] * xv[k] : 0) + xv[i];
        }
        CHECK_VALUES(df, want, 3, TOL_EXACT);
        fd_directional(coupled, vars, 0, e, fd);
        CHECK_VALUES(df, fd, 3, TOL_FD);
        FREE_ALL(df);
    }

    /* Without a direction, forward mode seeds with ones: row sums of the Jacobian. */
    ds_array *df = NULL;
    CHECK_OK(ds_array_clear_direction(x));
    CHECK_OK(ds_grad_forward(f, x, &df));
    for (int i = 0; i < 3; i++) {
        want[i] = sum + 3 * xv[i] * xv[i] + 3 * xv[i];
    }
    CHECK_VALUES(df, want, 3, TOL_EXACT);

    FREE_ALL(x, f, df);
    CHECK_NO_LEAKS();
}

static void test_batch(void)
{
    /* x: shape [2], batch 3, column-major (E, S): sample s is xv[2s], xv[2s+1]. */
    const float xv[6] = {1, 2, 3, 4, -1, 0.5f};
    const float wv[2] = {0.5f, -1.5f};
    ds_array *x = new_array(SHAPE2, 1, 3, xv, 6, true);
    ds_array *w = new_array(SHAPE2, 1, 1, wv, 2, true);
    CHECK_OK(ds_array_set_flag(w, DS_FLAG_SAMPLE_DEPENDENT, false));
    bool dep = true;
    CHECK_OK(ds_array_get_flag(w, DS_FLAG_SAMPLE_DEPENDENT, &dep));
    CHECK(!dep);
    ds_array *vars[] = {x, w};
    double want[6], fd[MAXN];

    ds_array *f = weighted(vars); /* (x w)^2, extents (2, 3) */
    int64_t e = 0, s = 0;
    CHECK_OK(ds_array_extents(f, &e, &s));
    CHECK(e == 2 && s == 3);
    for (int j = 0; j < 6; j++) {
        double xw = (double)xv[j] * wv[j % 2];
        want[j] = xw * xw;
    }
    CHECK_VALUES(f, want, 6, TOL_EXACT);

    /* Reverse: x's gradient is per sample, 2 x w^2; w's is summed over the batch,
     * sum_s 2 x_s^2 w, and has w's extents (2, 1). */
    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    for (int j = 0; j < 6; j++) {
        want[j] = 2.0 * xv[j] * wv[j % 2] * wv[j % 2];
    }
    check_grad(x, want, 6, TOL_EXACT);
    double wg[2] = {0, 0};
    for (int j = 0; j < 6; j++) {
        wg[j % 2] += 2.0 * xv[j] * xv[j] * wv[j % 2];
    }
    check_grad(w, wg, 2, TOL_EXACT);
    fd_gradient(weighted, vars, 1, NULL, fd);
    check_grad(w, fd, 2, TOL_FD);
    fd_gradient(weighted, vars, 0, NULL, fd);
    check_grad(x, fd, 6, TOL_FD);

    /* A custom seed with one value per element and sample. */
    const float seed[6] = {1, 0, -1, 2, 0.5f, 3};
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_zero_grad(w));
    CHECK_OK(ds_grad_reverse(f, seed, 6));
    wg[0] = wg[1] = 0;
    for (int j = 0; j < 6; j++) {
        wg[j % 2] += seed[j] * 2.0 * xv[j] * xv[j] * wv[j % 2];
    }
    check_grad(w, wg, 2, TOL_EXACT);
    fd_gradient(weighted, vars, 1, seed, fd);
    check_grad(w, fd, 2, TOL_FD);

    /* Forward in the shared weight (seed: ones, shared by every sample): per sample
     * d/dw (xw)^2 = 2 x^2 w, a result with the batch. */
    ds_array *dw = NULL;
    CHECK_OK(ds_grad_forward(f, w, &dw));
    for (int j = 0; j < 6; j++) {
        want[j] = 2.0 * xv[j] * xv[j] * wv[j % 2];
    }
    CHECK_VALUES(dw, want, 6, TOL_EXACT);

    /* Forward in x along a per-sample direction (E*S values) and a shared one (E values). */
    const float dir6[6] = {1, -1, 0, 2, 0.5f, 1};
    const float dir2[2] = {2, -1};
    ds_array *dx6 = NULL, *dx2 = NULL;
    CHECK_OK(ds_array_set_direction(x, dir6, 6));
    CHECK_OK(ds_grad_forward(f, x, &dx6));
    for (int j = 0; j < 6; j++) {
        want[j] = 2.0 * xv[j] * wv[j % 2] * wv[j % 2] * dir6[j];
    }
    CHECK_VALUES(dx6, want, 6, TOL_EXACT);
    fd_directional(weighted, vars, 0, dir6, fd);
    CHECK_VALUES(dx6, fd, 6, TOL_FD);
    CHECK_OK(ds_array_set_direction(x, dir2, 2));
    CHECK_OK(ds_grad_forward(f, x, &dx2));
    for (int j = 0; j < 6; j++) {
        want[j] = 2.0 * xv[j] * wv[j % 2] * wv[j % 2] * dir2[j % 2];
    }
    CHECK_VALUES(dx2, want, 6, TOL_EXACT);

    FREE_ALL(x, w, f, dw, dx6, dx2);
    CHECK_NO_LEAKS();
}

int main(void)
{
    test_polynomial();
    test_mixed_partial();
    test_direction();
    test_batch();
    return test_summary();
}
