/*
 * test_num_threads.c -- the thread setting from C: ds_set_num_threads / ds_get_num_threads,
 * out-of-range numbers refused with a message, and element-wise values and gradients
 * bit-identical with 1 and 2 threads.
 */
#include "test_util.h"

enum { E = 1000, S = 300, N = E * S };

/* f = tanh(x * y) + exp(x); values of f and the gradient of sum(f) with respect to x. */
static void run(float *f, float *g)
{
    int64_t shape[1] = {E};
    float *xv = malloc(sizeof(float) * N), *yv = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        xv[i] = (float)((i % 97) - 48) * 0.03f;
        yv[i] = (float)((i % 13) + 1) * 0.2f;
    }
    ds_array *x = new_array(shape, 1, S, xv, N, true), *y = new_array(shape, 1, S, yv, N, false);
    ds_array *p = NULL, *t = NULL, *e = NULL, *h = NULL, *s = NULL;
    CHECK_OK(ds_binary(DS_MUL, x, y, &p));
    CHECK_OK(ds_unary(DS_TANH, p, &t));
    CHECK_OK(ds_unary(DS_EXP, x, &e));
    CHECK_OK(ds_binary(DS_ADD, t, e, &h));
    CHECK_OK(ds_sum_all(h, &s));
    CHECK_OK(ds_grad_reverse(s, NULL, 0));
    memcpy(f, data_of(h), sizeof(float) * N);
    memcpy(g, grad_data_of(x), sizeof(float) * N);
    CHECK_OK(ds_nullify_graph(s));
    FREE_ALL(x, y, p, t, e, h, s);
    free(xv);
    free(yv);
}

int main(void)
{
    float *f1 = malloc(sizeof(float) * N), *g1 = malloc(sizeof(float) * N);
    float *f2 = malloc(sizeof(float) * N), *g2 = malloc(sizeof(float) * N);

    CHECK_OK(ds_set_num_threads(1));
    CHECK(ds_get_num_threads() == 1);
    run(f1, g1);
    CHECK_OK(ds_set_num_threads(2));
    CHECK(ds_get_num_threads() == 2);
    run(f2, g2);
    CHECK(memcmp(f1, f2, sizeof(float) * N) == 0);
    CHECK(memcmp(g1, g2, sizeof(float) * N) == 0);

    CHECK_STATUS(ds_set_num_threads(0), DS_ERR_ARGUMENT);
    CHECK(strstr(ds_last_error(), "between 1 and 1024") != NULL);
    CHECK_STATUS(ds_set_num_threads(-3), DS_ERR_ARGUMENT);
    CHECK_STATUS(ds_set_num_threads(1025), DS_ERR_ARGUMENT);
    CHECK(ds_get_num_threads() == 2);
    CHECK_OK(ds_set_num_threads(1));

    free(f1);
    free(g1);
    free(f2);
    free(g2);
    return test_summary();
}
