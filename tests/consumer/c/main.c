/* Consumer of the installed package: d/dx (x*x) at x = 3 must be 6, and nothing may leak. */
#include <diffstruc.h>
#include <stdio.h>

int main(void)
{
    const int64_t shape[1] = {1};
    const float three = 3.0f;
    ds_array *x = NULL, *f = NULL, *df = NULL;
    float *value = NULL;
    int ok = ds_array_from_data(shape, 1, 1, &three, 1, &x) == DS_OK
        && ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true) == DS_OK
        && ds_binary(DS_MUL, x, x, &f) == DS_OK
        && ds_grad_forward(f, x, &df) == DS_OK
        && ds_array_data(df, &value) == DS_OK
        && *value == 6.0f;
    ds_array_free(df);
    ds_array_free(f);
    ds_array_free(x);
    ok = ok && ds_live_arrays() == 0;
    printf("consumer (C): %s\n", ok ? "ok" : ds_last_error());
    return ok ? 0 : 1;
}
