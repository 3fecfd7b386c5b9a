/*
 * test_inverse_trig.c -- asin, acos, atan, sinh and cosh (diffstruc documents them; v1.1.1 does
 * not ship them) through the C ABI: values against libm, reverse and forward mode against the
 * closed-form derivatives, and forward over forward against the closed-form second derivatives.
 */
#include "test_util.h"

#define N 4

static double d1(ds_unary_op op, double x)
{
    switch (op) {
    case DS_ASIN: return 1.0 / sqrt(1.0 - x * x);
    case DS_ACOS: return -1.0 / sqrt(1.0 - x * x);
    case DS_ATAN: return 1.0 / (1.0 + x * x);
    case DS_SINH: return cosh(x);
    default: return sinh(x);
    }
}

static double d2(ds_unary_op op, double x)
{
    switch (op) {
    case DS_ASIN: return x / pow(1.0 - x * x, 1.5);
    case DS_ACOS: return -x / pow(1.0 - x * x, 1.5);
    case DS_ATAN: return -2.0 * x / ((1.0 + x * x) * (1.0 + x * x));
    case DS_SINH: return sinh(x);
    default: return cosh(x);
    }
}

static double value(ds_unary_op op, double x)
{
    switch (op) {
    case DS_ASIN: return asin(x);
    case DS_ACOS: return acos(x);
    case DS_ATAN: return atan(x);
    case DS_SINH: return sinh(x);
    default: return cosh(x);
    }
}

static void test_op(ds_unary_op op, const char *name)
{
    const float xs[N] = {-0.7f, -0.2f, 0.3f, 0.8f};
    const int64_t shape[1] = {N};
    ds_array *x = NULL, *f = NULL, *df = NULL, *d2f = NULL;
    float *v = NULL, *g = NULL, *t = NULL, *t2 = NULL;
    printf("  %s\n", name);
    CHECK_OK(ds_array_from_data(shape, 1, 1, xs, N, &x));
    CHECK_OK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    CHECK_OK(ds_unary(op, x, &f));
    CHECK_OK(ds_array_data(f, &v));
    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    CHECK_OK(ds_array_grad_data(x, &g));
    CHECK_OK(ds_grad_forward(f, x, &df));
    CHECK_OK(ds_array_data(df, &t));
    CHECK_OK(ds_grad_forward(df, x, &d2f));
    CHECK_OK(ds_array_data(d2f, &t2));
    for (int i = 0; v && g && t && t2 && i < N; i++) {
        CHECK_CLOSE(v[i], value(op, xs[i]), 1e-6);
        CHECK_CLOSE(g[i], d1(op, xs[i]), 2e-6);
        CHECK_CLOSE(t[i], d1(op, xs[i]), 2e-6);
        CHECK(t[i] == g[i]); /* forward and reverse evaluate the same expression */
        CHECK_CLOSE(t2[i], d2(op, xs[i]), 1e-5);
    }
    FREE_ALL(d2f, df, f, x);
    CHECK_NO_LEAKS();
}

int main(void)
{
    test_op(DS_ASIN, "asin");
    test_op(DS_ACOS, "acos");
    test_op(DS_ATAN, "atan");
    test_op(DS_SINH, "sinh");
    test_op(DS_COSH, "cosh");
    return test_summary();
}
