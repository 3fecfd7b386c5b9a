/*
 * test_real64.c -- real64 (double) arrays through the C ABI:
 *  - every element-wise function and binary operation, in double: values against libm, reverse
 *    and forward mode and forward over forward against central differences of the values the
 *    library computes (h = 1e-5, so agreement to 1e-8 is only possible in double precision);
 *  - a matrix product and a reduction with a double seed (ds_grad_reverse_f64);
 *  - ds_array_dtype, the _f64 buffer functions (from_data, wrap, data, grad_data, direction,
 *    partial), and DS_ERR_TYPE for mixed operands and for a float accessor on a double array.
 */
#include "test_util.h"

#define N 5
static const int64_t SHAPE[1] = {N};

static ds_array *new64(const double *v, bool grad)
{
    ds_array *a = NULL;
    CHECK_OK(ds_array_from_data_f64(SHAPE, 1, 1, v, N, &a));
    if (a && grad) {
        CHECK_OK(ds_array_set_flag(a, DS_FLAG_REQUIRES_GRAD, true));
    }
    return a;
}

static double *data64(const ds_array *a)
{
    double *p = NULL;
    if (!CHECK_OK(ds_array_data_f64(a, &p))) {
        test_summary();
        exit(EXIT_FAILURE);
    }
    return p;
}

/* f(x) element-wise for unary op `op`, or x op y (y fixed) for binary op `op` (op < 100). */
static void apply(int op, const double *x, const double *y, double *out)
{
    ds_array *a = new64(x, false), *b = new64(y, false), *f = NULL;
    if (op < 100) {
        CHECK_OK(ds_binary(op, a, b, &f));
    } else {
        CHECK_OK(ds_unary(op, a, &f));
    }
    memcpy(out, data64(f), sizeof(double) * N);
    FREE_ALL(a, b, f);
}

/* Derivatives of f(x) (or x op y) with respect to x by the library, in both modes and to second
 * order, against central differences of `apply`. */
static void check_op(int op, const char *name, const double *x, const double *y)
{
    const double h = 1e-5;
    double xp[N], xm[N], fp[N], fm[N], fd[N], want[N];
    ds_array *a = new64(x, true), *b = new64(y, false), *f = NULL, *df = NULL, *d2f = NULL;
    printf("  %s\n", name);
    if (op < 100) {
        CHECK_OK(ds_binary(op, a, b, &f));
    } else {
        CHECK_OK(ds_unary(op, a, &f));
    }
    /* values against a separate evaluation */
    apply(op, x, y, want);
    double *v = data64(f);
    for (int i = 0; i < N; i++) {
        CHECK(v[i] == want[i]);
    }
    /* first derivative by central differences (element-wise: one perturbation of every x) */
    for (int i = 0; i < N; i++) {
        xp[i] = x[i] + h;
        xm[i] = x[i] - h;
    }
    apply(op, xp, y, fp);
    apply(op, xm, y, fm);
    for (int i = 0; i < N; i++) {
        fd[i] = (fp[i] - fm[i]) / (2.0 * h);
    }
    CHECK_OK(ds_grad_reverse_f64(f, NULL, 0));
    double *g = NULL;
    CHECK_OK(ds_array_grad_data_f64(a, &g));
    CHECK_OK(ds_grad_forward(f, a, &df));
    double *t = data64(df);
    for (int i = 0; g && i < N; i++) {
        CHECK_CLOSE(g[i], fd[i], 1e-8);
        CHECK_CLOSE(t[i], fd[i], 1e-8);
    }
    /* second derivative: forward over forward against differences of the first derivative */
    CHECK_OK(ds_grad_forward(df, a, &d2f));
    double *t2 = data64(d2f);
    double d1p[N], d1m[N];
    for (int s = 0; s < 2; s++) {
        ds_array *ax = new64(s == 0 ? xp : xm, true), *fx = NULL, *dfx = NULL;
        if (op < 100) {
            CHECK_OK(ds_binary(op, ax, b, &fx));
        } else {
            CHECK_OK(ds_unary(op, ax, &fx));
        }
        CHECK_OK(ds_grad_forward(fx, ax, &dfx));
        memcpy(s == 0 ? d1p : d1m, data64(dfx), sizeof d1p);
        FREE_ALL(ax, fx, dfx);
    }
    for (int i = 0; i < N; i++) {
        CHECK_CLOSE(t2[i], (d1p[i] - d1m[i]) / (2.0 * h), 1e-7);
    }
    FREE_ALL(a, b, f, df, d2f);
}

static void test_every_operation(void)
{
    const double x[N] = {-0.7, -0.2, 0.3, 0.55, 0.8};
    const double xpos[N] = {0.3, 0.7, 1.1, 1.6, 2.5};
    const double y[N] = {1.3, -0.4, 0.9, 2.1, -1.7};
    const double ypos[N] = {1.3, 0.4, 0.9, 2.1, 1.7};
    const struct { int op; const char *name; bool positive; } ops[] = {
        {DS_NEG, "neg", false}, {DS_EXP, "exp", false}, {DS_LOG, "log", true},
        {DS_LOG10, "log10", true}, {DS_SQRT, "sqrt", true}, {DS_ABS, "abs", false},
        {DS_SIGMOID, "sigmoid", false}, {DS_SIN, "sin", false}, {DS_COS, "cos", false},
        {DS_TAN, "tan", false}, {DS_TANH, "tanh", false}, {DS_ASIN, "asin", false},
        {DS_ACOS, "acos", false}, {DS_ATAN, "atan", false}, {DS_SINH, "sinh", false},
        {DS_COSH, "cosh", false}, {DS_ADD, "add", false}, {DS_SUB, "sub", false},
        {DS_MUL, "mul", false}, {DS_DIV, "div", false}, {DS_POW, "pow", true},
        {DS_MAX, "max", false},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        check_op(ops[k].op, ops[k].name, ops[k].positive ? xpos : x,
                 ops[k].op == DS_POW ? ypos : y);
    }
    /* closed forms in double */
    ds_array *a = new64(x, false), *e = NULL;
    CHECK_OK(ds_unary(DS_EXP, a, &e));
    double *ev = data64(e);
    for (int i = 0; i < N; i++) {
        CHECK_CLOSE(ev[i], exp(x[i]), 1e-15);
    }
    FREE_ALL(a, e);
}

static void test_products_and_seeds(void)
{
    /* W (2x3, shared) . x (3, batch 2), loss = sum(seed * (W x)): dW = seed x^T summed */
    const int64_t ws[2] = {2, 3}, xs[1] = {3};
    const double w[6] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6};
    const double xv[6] = {1.0, 2.0, 3.0, -1.0, 0.5, 0.25};
    const double seed[4] = {1.0, 1e-9, -2.0, 0.5};
    ds_array *W = NULL, *X = NULL, *Y = NULL;
    CHECK_OK(ds_array_from_data_f64(ws, 2, 1, w, 6, &W));
    CHECK_OK(ds_array_from_data_f64(xs, 1, 2, xv, 6, &X));
    CHECK_OK(ds_array_set_flag(W, DS_FLAG_REQUIRES_GRAD, true));
    CHECK_OK(ds_array_set_flag(W, DS_FLAG_SAMPLE_DEPENDENT, false));
    CHECK_OK(ds_matmul(W, X, &Y));
    CHECK_OK(ds_grad_reverse_f64(Y, seed, 4));
    double *g = NULL;
    CHECK_OK(ds_array_grad_data_f64(W, &g));
    for (int r = 0; g && r < 2; r++) {
        for (int c = 0; c < 3; c++) {
            double want = seed[r] * xv[c] + seed[2 + r] * xv[3 + c];
            CHECK_CLOSE(g[r + 2 * c], want, 1e-15);
        }
    }
    /* the partial of the product for W, as diffstruc's get_partial computes it */
    double part[6] = {0};
    CHECK_OK(ds_array_partial_f64(Y, 0, seed, 4, part, 6));
    for (int i = 0; g && i < 6; i++) {
        CHECK_CLOSE(part[i], g[i], 1e-15);
    }
    /* a float seed for a double array is a type error */
    const float fseed[4] = {1, 1, 1, 1};
    CHECK_STATUS(ds_grad_reverse(Y, fseed, 4), DS_ERR_TYPE);
    CHECK(strstr(ds_last_error(), "ds_grad_reverse_f64") != NULL);
    FREE_ALL(W, X, Y);
}

static void test_types_and_errors(void)
{
    const double xv[N] = {1, 2, 3, 4, 5};
    const float fv[N] = {1, 2, 3, 4, 5};
    ds_array *d = new64(xv, true), *f = NULL, *out = NULL;
    ds_dtype t = 0;
    CHECK_OK(ds_array_dtype(d, &t));
    CHECK(t == DS_REAL64);
    CHECK_OK(ds_array_from_data(SHAPE, 1, 1, fv, N, &f));
    CHECK_OK(ds_array_dtype(f, &t));
    CHECK(t == DS_REAL32);
    /* mixed precision is refused, naming both operands */
    CHECK_STATUS(ds_binary(DS_ADD, d, f, &out), DS_ERR_TYPE);
    CHECK(out == NULL);
    CHECK(strstr(ds_last_error(), "real64 [5] with batch 1") != NULL);
    CHECK(strstr(ds_last_error(), "real32 [5] with batch 1") != NULL);
    CHECK_STATUS(ds_matmul(f, d, &out), DS_ERR_TYPE);
    /* the float accessors refuse a double array and name the right function */
    float *p = NULL;
    CHECK_STATUS(ds_array_data(d, &p), DS_ERR_TYPE);
    CHECK(strstr(ds_last_error(), "use ds_array_data_f64") != NULL);
    double *q = NULL;
    CHECK_STATUS(ds_array_data_f64(f, &q), DS_ERR_TYPE);
    CHECK(strstr(ds_last_error(), "use ds_array_data") != NULL);
    CHECK_STATUS(ds_array_grad_data(d, &p), DS_ERR_TYPE);
    /* scalars are doubles: 0.1 is not rounded to float for a double array */
    CHECK_OK(ds_binary_scalar(DS_ADD, d, 0.1, &out));
    CHECK(data64(out)[0] == 1.1);
    ds_array_free(out);
    /* a double direction seeds forward mode */
    const double dir[N] = {1, 0, 0, 0, 2};
    CHECK_OK(ds_array_set_direction_f64(d, dir, N));
    CHECK_STATUS(ds_array_set_direction(d, fv, N), DS_ERR_TYPE);
    ds_array *sq = NULL, *dsq = NULL;
    CHECK_OK(ds_binary(DS_MUL, d, d, &sq));
    CHECK_OK(ds_grad_forward(sq, d, &dsq));
    double *dv = data64(dsq);
    CHECK(dv[0] == 2.0 && dv[1] == 0.0 && dv[4] == 20.0);
    /* wrapping caller doubles in place */
    double buf[N] = {0.5, 0.25, 0.125, 0.0625, 1e-300};
    ds_array *w = NULL;
    CHECK_OK(ds_array_wrap_f64(SHAPE, 1, 1, buf, N, &w));
    CHECK(data64(w) == buf);
    CHECK_OK(ds_array_dtype(w, &t));
    CHECK(t == DS_REAL64);
    FREE_ALL(d, f, sq, dsq, w);
    CHECK(strcmp(ds_status_name(DS_ERR_TYPE), "DS_ERR_TYPE") == 0);
}

int main(void)
{
    test_every_operation();
    test_products_and_seeds();
    test_types_and_errors();
    return test_summary();
}
