/*
 * test_linalg.c -- matmul (every layout), the real-matrix forms, dot, outer and transpose
 * through the C ABI: values against hand-computed results, reverse-mode gradients against
 * closed forms, forward mode, and the shape errors.
 */
#include "test_util.h"

/* W = [[1 2 3], [4 5 6]] (2x3, column-major), shared by the batch; x = two samples of 3. */
static const float w_vals[6] = {1, 4, 2, 5, 3, 6};
static const float x_vals[6] = {1, 0, -1, 2, 1, 0};

static void test_matrix_times_batch(void)
{
    const int64_t sw[2] = {2, 3}, sx[1] = {3};
    ds_array *w = new_array(sw, 2, 1, w_vals, 6, true);
    ds_array *x = new_array(sx, 1, 2, x_vals, 6, true);
    CHECK_OK(ds_array_set_flag(w, DS_FLAG_SAMPLE_DEPENDENT, false));
    ds_array *y = NULL, *s = NULL, *dy = NULL;
    CHECK_OK(ds_matmul(w, x, &y));
    /* W x1 = [1-3, 4-6] = [-2, -2]; W x2 = [2+2, 8+5] = [4, 13] */
    const double want[4] = {-2, -2, 4, 13};
    CHECK_VALUES(y, want, 4, 1e-6);
    int64_t rank_shape[2];
    size_t rank = 0;
    CHECK_OK(ds_array_shape(y, rank_shape, 2, &rank));
    CHECK(rank == 1 && rank_shape[0] == 2);
    /* reverse of sum(y): dW = sum_s 1 x_s^T = [[3 1 -1], [3 1 -1]]; dx_s = W^T 1 = [5 7 9] */
    CHECK_OK(ds_sum_all(y, &s));
    CHECK_OK(ds_grad_reverse(s, NULL, 0));
    const float want_dw[6] = {3, 3, 1, 1, -1, -1};
    const float want_dx[6] = {5, 7, 9, 5, 7, 9};
    const float *gw = grad_data_of(w), *gx = grad_data_of(x);
    for (int i = 0; i < 6; i++) {
        CHECK_CLOSE(gw[i], want_dw[i], 1e-6);
        CHECK_CLOSE(gx[i], want_dx[i], 1e-6);
    }
    /* forward along x: d(W x)/dx . ones = W 1 = [6, 15] per sample */
    CHECK_OK(ds_grad_forward(y, x, &dy));
    const double want_fwd[4] = {6, 15, 6, 15};
    CHECK_VALUES(dy, want_fwd, 4, 1e-6);
    FREE_ALL(w, x, y, s, dy);
}

static void test_real_matrix_forms(void)
{
    const int64_t sx[1] = {3};
    ds_array *x = new_array(sx, 1, 2, x_vals, 6, true);
    ds_array *a = NULL, *b = NULL;
    /* x^T M with M = W^T (3x2): each sample gives [W x_s] again */
    const float mt[6] = {1, 2, 3, 4, 5, 6}; /* 3x2 column-major = W^T */
    CHECK_OK(ds_matmul_real2d(x, mt, 3, 2, &a));
    const double want[4] = {-2, -2, 4, 13};
    CHECK_VALUES(a, want, 4, 1e-6);
    CHECK_OK(ds_real2d_matmul(w_vals, 2, 3, x, &b));
    CHECK_VALUES(b, want, 4, 1e-6);
    CHECK_STATUS(ds_matmul_real2d(x, mt, 2, 2, &a), DS_ERR_SHAPE); /* 2 rows for 3 values */
    FREE_ALL(x, a, b);
}

static void test_vector_products_and_transpose(void)
{
    const int64_t s3[1] = {3}, s2[1] = {2}, s23[2] = {2, 3};
    const float u_vals[3] = {1, 2, 3}, v_vals[3] = {4, 5, 6}, p_vals[2] = {1, -1};
    ds_array *u = new_array(s3, 1, 1, u_vals, 3, true), *v = new_array(s3, 1, 1, v_vals, 3, true);
    ds_array *p = new_array(s2, 1, 1, p_vals, 2, false);
    ds_array *d = NULL, *o = NULL, *w = new_array(s23, 2, 1, w_vals, 6, true), *t = NULL;
    CHECK_OK(ds_dot_product(u, v, &d));
    const double want_dot[1] = {32};
    CHECK_VALUES(d, want_dot, 1, 1e-6);
    CHECK_OK(ds_grad_reverse(d, NULL, 0)); /* d(u.v)/du = v */
    const float *gu = grad_data_of(u);
    CHECK_CLOSE(gu[0], 4, 1e-6);
    CHECK_CLOSE(gu[2], 6, 1e-6);
    CHECK_OK(ds_outer_product(p, u, &o)); /* [2, 3]: o(i,j) = p(i) u(j) */
    const double want_outer[6] = {1, -1, 2, -2, 3, -3};
    CHECK_VALUES(o, want_outer, 6, 1e-6);
    CHECK_OK(ds_transpose(w, &t));
    const double want_t[6] = {1, 2, 3, 4, 5, 6};
    CHECK_VALUES(t, want_t, 6, 1e-6);
    CHECK_STATUS(ds_dot_product(u, p, &d), DS_ERR_SHAPE);
    CHECK_STATUS(ds_transpose(u, &t), DS_ERR_SHAPE);
    CHECK_STATUS(ds_matmul(u, v, &t), DS_ERR_SHAPE); /* two vectors */
    CHECK(strstr(ds_last_error(), "matmul") != NULL);
    CHECK_STATUS(ds_matmul(w, p, &t), DS_ERR_SHAPE); /* inner extents 3 and 2 */
    CHECK_STATUS(ds_matmul(NULL, p, &t), DS_ERR_NULL);
    FREE_ALL(u, v, p, d, o, w, t);
}

int main(void)
{
    test_matrix_times_batch();
    test_real_matrix_forms();
    test_vector_products_and_transpose();
    return test_summary();
}
