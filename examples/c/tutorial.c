/*
 * tutorial.c -- diffstruc from C in a few steps.
 *
 * f(x) = x**3 + 2 x**2 + x for x = 1, 2, 3 (one array of shape [3], batch 1):
 *   forward mode  f'(x) = 3x^2 + 4x + 1, and again for f''(x) = 6x + 4
 *   reverse mode  the gradient of sum(f) with respect to x (the same f' here)
 */
#include <stdio.h>
#include <stdlib.h>

#include "diffstruc.h"

/* Every ds_ call returns a status; on failure, ds_last_error() says why. */
#define TRY(call)                                                                     \
    do {                                                                              \
        ds_status st_ = (call);                                                       \
        if (st_ != DS_OK) {                                                           \
            fprintf(stderr, "%s failed: %s: %s\n", #call, ds_status_name((int32_t)st_), \
                    ds_last_error());                                                 \
            exit(EXIT_FAILURE);                                                       \
        }                                                                             \
    } while (0)

static void print(const char *label, const float *v, int n)
{
    printf("%-22s", label);
    for (int i = 0; i < n; i++) {
        printf(" %8.3f", v[i]);
    }
    printf("\n");
}

int main(void)
{
    /* An array: a per-sample shape ({3}) and a batch size (1); values are copied in. */
    const int64_t shape[] = {3};
    const float values[] = {1.0f, 2.0f, 3.0f};
    ds_array *x;
    TRY(ds_array_from_data(shape, 1, 1, values, 3, &x));
    /* Variables we differentiate with respect to must require a gradient. */
    TRY(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));

    /* Build f: each operation returns a new handle. Intermediate handles can be freed at once:
     * the graph keeps the nodes it needs alive (they are reference counted). */
    ds_array *x3, *x2, *two_x2, *sum, *f;
    TRY(ds_binary_scalar(DS_POW, x, 3.0f, &x3));       /* x**3 */
    TRY(ds_binary_scalar(DS_POW, x, 2.0f, &x2));       /* x**2 */
    TRY(ds_scalar_binary(DS_MUL, 2.0f, x2, &two_x2));  /* 2 * x**2 */
    TRY(ds_binary(DS_ADD, x3, two_x2, &sum));          /* x**3 + 2 x**2 */
    TRY(ds_binary(DS_ADD, sum, x, &f));                /* ... + x */
    TRY(ds_array_free(x3));
    TRY(ds_array_free(x2));
    TRY(ds_array_free(two_x2));
    TRY(ds_array_free(sum));

    /* Values are read (and written) in place: column-major (elements, batch). */
    float *v;
    print("x", values, 3);
    TRY(ds_array_data(f, &v));
    print("f(x)", v, 3);

    /* Forward mode returns the derivative as a new, differentiable array... */
    ds_array *df, *d2f;
    TRY(ds_grad_forward(f, x, &df));
    TRY(ds_array_data(df, &v));
    print("forward  f'(x)", v, 3);
    /* ...so applying it again gives the second derivative. */
    TRY(ds_grad_forward(df, x, &d2f));
    TRY(ds_array_data(d2f, &v));
    print("forward  f''(x)", v, 3);

    /* Reverse mode accumulates d sum(f) / dx into x's gradient (seed NULL = all ones). */
    TRY(ds_grad_reverse(f, NULL, 0));
    TRY(ds_array_grad_data(x, &v));
    print("reverse  df/dx", v, 3);

    /* Free every handle, in any order. Nothing is left alive afterwards. */
    TRY(ds_array_free(f));
    TRY(ds_array_free(df));
    TRY(ds_array_free(d2f));
    TRY(ds_array_free(x));
    printf("live arrays: %zu, live handles: %zu\n", ds_live_arrays(), ds_live_handles());
    return ds_live_arrays() == 0 && ds_live_handles() == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
