/*
 * test_errors_catalogue.c -- the C side of docs/errors.md: one check (status and a distinctive
 * part of ds_last_error()) for every error of the catalogue that no other C test covers with
 * its message, and the IEEE behaviour of NaN and Inf inputs.
 *
 * Sections follow docs/errors.md: shapes (every binary operation, linear algebra), dims,
 * positions, sizes, handles (NULL, use after free, double free, invented) for the functions
 * test_errors.c does not reach, differentiation (no requires_grad, a non-scalar root without a
 * seed, seed and direction lengths), custom operations (failing callbacks), graph cycles, and
 * NaN / Inf through values, forward mode and reverse mode.
 *
 * On failure, outputs must keep their previous value: every `out` starts as SENTINEL.
 */
#include <stdint.h>
#include <string.h>

#include "test_util.h"

/* A recognisable value that no library output can be: out-parameters must keep it on failure. */
#define SENTINEL ((ds_array *)(uintptr_t)0xdeadbeef)

/* `call` fails with `want` and ds_last_error() contains `text`. */
static int tu_error(ds_status got, ds_status want, const char *call, const char *text,
                    const char *file, int line)
{
    if (!tu_status(got, want, call, file, line)) {
        return 0;
    }
    const char *m = ds_last_error();
    char what[320];
    snprintf(what, sizeof what, "ds_last_error() of %s mentions \"%s\"", call, text);
    int ok = tu_record(m != NULL && strstr(m, text) != NULL, file, line, what);
    if (!ok) {
        printf("    ds_last_error(): \"%s\"\n", m ? m : "(null)");
    }
    return ok;
}
#define CHECK_ERROR(call, want, text) tu_error((call), (want), #call, (text), __FILE__, __LINE__)

static const float VALUES[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* A copy of VALUES with per-sample shape `shape` (rank extents) and batch `batch`. */
static ds_array *make(const int64_t *shape, size_t rank, int64_t batch, bool requires_grad)
{
    int64_t e = 1;
    for (size_t i = 0; i < rank; i++) {
        e *= shape[i];
    }
    return new_array(shape, rank, batch, VALUES, (size_t)(e * batch), requires_grad);
}
#define MAKE(batch, ...)                                                                   \
    make((const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t), \
         (batch), false)

/* ------------------------------------------------------------------------------------------ */
/* Shapes                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Every binary operation: per-sample extents that differ, and batch sizes that differ. */
static void test_binary_shapes(void)
{
    const ds_binary_op ops[] = {DS_ADD, DS_SUB, DS_MUL, DS_DIV, DS_POW, DS_MAX};
    const char *names[] = {"add", "subtract", "multiply", "divide", "power", "max"};
    ds_array *a2 = MAKE(1, 2), *a3 = MAKE(1, 3), *b2 = MAKE(2, 3), *b3 = MAKE(3, 3);
    ds_array *shared = MAKE(1, 3);
    char text[128];
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        ds_array *out = SENTINEL, *ok = NULL;
        snprintf(text, sizeof text, "%s: shapes do not conform: [2] with batch 1 and [3] with batch 1",
                 names[i]);
        CHECK_ERROR(ds_binary(ops[i], a2, a3, &out), DS_ERR_SHAPE, text);
        snprintf(text, sizeof text, "%s: shapes do not conform: [3] with batch 3 and [3] with batch 2",
                 names[i]);
        CHECK_ERROR(ds_binary(ops[i], b3, b2, &out), DS_ERR_SHAPE, text);
        CHECK(out == SENTINEL);
        /* control: one sample shared by a batch of 3 broadcasts */
        CHECK_OK(ds_binary(ops[i], b3, shared, &ok));
        FREE_ALL(ok);
    }
    /* The real-operand forms name their operand and the expected length. */
    ds_array *out = SENTINEL;
    CHECK_ERROR(ds_binary_real1d(DS_ADD, b2, VALUES, 2, &out), DS_ERR_SHAPE,
                "add: the 1-D real operand has length 2, expected 3 (one value per element) for an "
                "array [3] with batch 2");
    CHECK_ERROR(ds_binary_real1d(DS_DIV, b2, VALUES, 3, &out), DS_ERR_SHAPE,
                "divide: the 1-D real operand has length 3, expected 2 (one value per sample)");
    /* named after the operator written, not diffstruc's node name (subtract_scalar) */
    CHECK_ERROR(ds_binary_real1d(DS_SUB, b2, VALUES, 3, &out), DS_ERR_SHAPE,
                "subtract: the 1-D real operand has length 3, expected 2 (one value per sample)");
    CHECK_ERROR(ds_binary_real2d(DS_MUL, b2, VALUES, 2, 3, &out), DS_ERR_SHAPE,
                "multiply: the 2-D real operand is 2x3 (6 values), expected 3x2");
    CHECK_ERROR(ds_binary_real1d(DS_POW, b2, VALUES, 3, &out), DS_ERR_ARGUMENT,
                "power: no form with a 1-D real array");
    CHECK(out == SENTINEL);
    FREE_ALL(a2, a3, b2, b3, shared);
    CHECK_NO_LEAKS();
}

static void test_linalg_shapes(void)
{
    ds_array *m23 = MAKE(1, 2, 3), *m22 = MAKE(1, 2, 2), *t3 = MAKE(1, 1, 2, 3);
    ds_array *v3 = MAKE(1, 3), *v2 = MAKE(1, 2), *v3b2 = MAKE(2, 3), *v3b3 = MAKE(3, 3);
    ds_array *m23b2 = MAKE(2, 2, 3);
    ds_array *out = SENTINEL;

    CHECK_ERROR(ds_matmul(m23, m22, &out), DS_ERR_SHAPE,
                "matmul: cannot multiply [2, 3] with batch 1 by [2, 2] with batch 1: inner "
                "extents 3 and 2 differ");
    CHECK_ERROR(ds_matmul(t3, m23, &out), DS_ERR_SHAPE, "operands must have rank 1 or 2");
    CHECK_ERROR(ds_matmul(v3, v3, &out), DS_ERR_SHAPE,
                "both are vectors (use dot_product or outer_product)");
    CHECK_ERROR(ds_matmul(m23b2, v3b3, &out), DS_ERR_SHAPE, "batch sizes differ");
    CHECK_ERROR(ds_matmul_real2d(v3, VALUES, 2, 2, &out), DS_ERR_SHAPE,
                "inner extents 3 and 2 differ");
    CHECK_ERROR(ds_real2d_matmul(VALUES, 2, 2, v3, &out), DS_ERR_SHAPE,
                "inner extents 2 and 3 differ");
    /* A real matrix with no rows is a shape error here (merge_real2d: an argument error). */
    CHECK_ERROR(ds_matmul_real2d(v3, VALUES, 0, 2, &out), DS_ERR_SHAPE,
                "the real matrix is 0x2 but holds 0 values");
    CHECK_ERROR(ds_dot_product(v2, v3, &out), DS_ERR_SHAPE,
                "dot_product: vector lengths differ: [2] with batch 1 and [3] with batch 1");
    CHECK_ERROR(ds_dot_product(m23, v3, &out), DS_ERR_SHAPE,
                "dot_product: both operands must be vectors (rank 1)");
    CHECK_ERROR(ds_dot_product(v3b2, v3b3, &out), DS_ERR_SHAPE, "dot_product: batch sizes differ");
    CHECK_ERROR(ds_outer_product(m23, v3, &out), DS_ERR_SHAPE,
                "outer_product: both operands must be vectors (rank 1), got [2, 3] with batch 1");
    CHECK_ERROR(ds_outer_product(v3b2, v3b3, &out), DS_ERR_SHAPE,
                "outer_product: batch sizes differ");
    CHECK_ERROR(ds_transpose(v3, &out), DS_ERR_SHAPE,
                "transpose: only rank-2 arrays can be transposed, got [3] with batch 1");
    CHECK_ERROR(ds_transpose(t3, &out), DS_ERR_SHAPE, "only rank-2 arrays");
    CHECK(out == SENTINEL);

    /* controls: the same operations with conforming operands */
    ds_array *r[5] = {NULL, NULL, NULL, NULL, NULL};
    CHECK_OK(ds_matmul(m23, v3b3, &r[0]));
    CHECK_OK(ds_dot_product(v3, v3b3, &r[1]));
    CHECK_OK(ds_outer_product(v2, v3b3, &r[2]));
    CHECK_OK(ds_transpose(m23, &r[3]));
    CHECK_OK(ds_matmul_real2d(v3, VALUES, 3, 2, &r[4]));
    FREE_ALL(m23, m22, t3, v3, v2, v3b2, v3b3, m23b2, r[0], r[1], r[2], r[3], r[4]);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* Dims                                                                                       */
/* ------------------------------------------------------------------------------------------ */

enum { N_DIM_OPS = 11 };
static const char *const DIM_OP_NAMES[N_DIM_OPS] = {
    "sum_array", "mean_array", "spread", "unspread", "sum_and_pad_array", "concat",
    "slice_left", "pack_mask", "pack_indices", "unpack_mask", "unpack_indices"};

/* Calls operation `which` (DIM_OP_NAMES) on `a` ([3] with batch 2) with `dim`, every other
 * argument valid for dim 1 and dim 2. */
static ds_status call_with_dim(int which, const ds_array *a, int32_t dim, ds_array **out)
{
    static const int64_t one[1] = {1}, shape[2] = {3, 2};
    switch (which) {
    case 0: return ds_sum(a, dim, out);
    case 1: return ds_mean(a, dim, out);
    case 2: return ds_spread(a, dim, 1, 2, out);
    case 3: return ds_unspread(a, 1, dim, 2, out);
    case 4: return ds_sum_pad(a, dim, 1, 2, out);
    case 5: return ds_concat(a, a, dim, out);
    case 6: return ds_slice(DS_SLICE_LEFT, a, 1, dim, out);
    case 7: return ds_pack_mask(a, dim, NULL, 0, out);
    case 8: return ds_pack_indices(a, one, 1, dim, out);
    case 9: return ds_unpack_mask(a, shape, 2, dim, NULL, 0, out);
    default: return ds_unpack_indices(a, one, 1, dim, 3, out);
    }
}

static void test_invalid_dims(void)
{
    ds_array *a = MAKE(2, 3);
    const int32_t bad[] = {0, 3, -1, INT32_MAX, INT32_MIN};
    char text[160];
    for (int op = 0; op < N_DIM_OPS; op++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            ds_array *out = SENTINEL;
            snprintf(text, sizeof text,
                     "%s: dim must be 1 (elements) or 2 (batch), got %ld for an array [3] with "
                     "batch 2",
                     DIM_OP_NAMES[op], (long)bad[i]);
            CHECK_ERROR(call_with_dim(op, a, bad[i], &out), DS_ERR_ARGUMENT, text);
            CHECK(out == SENTINEL);
        }
        /* controls: both valid dims work */
        for (int32_t dim = 1; dim <= 2; dim++) {
            ds_array *out = NULL;
            if (CHECK_OK(call_with_dim(op, a, dim, &out))) {
                FREE_ALL(out);
            }
        }
    }
    FREE_ALL(a);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* Indices and positions (1-based)                                                            */
/* ------------------------------------------------------------------------------------------ */

static void test_positions(void)
{
    ds_array *a = MAKE(2, 3); /* [3] with batch 2 */
    ds_array *out = SENTINEL;
    const int64_t i0[1] = {0}, i3[1] = {3}, i4[1] = {4}, i5[1] = {5}, im1[1] = {-1};
    const int64_t i12[2] = {1, 2}, i13[2] = {1, 3}, i1234[4] = {1, 2, 3, 4};

    CHECK_ERROR(ds_spread(a, 1, 4, 2, &out), DS_ERR_ARGUMENT,
                "spread: index (an element) 4 is out of range 1..3");
    CHECK_ERROR(ds_spread(a, 2, 3, 2, &out), DS_ERR_ARGUMENT,
                "spread: index (a sample) 3 is out of range 1..2");
    CHECK_ERROR(ds_spread(a, 1, 0, 2, &out), DS_ERR_ARGUMENT, "index (an element) 0 is out of range");
    CHECK_ERROR(ds_unspread(a, 5, 1, 4, &out), DS_ERR_ARGUMENT,
                "unspread: index 5 is out of range 1..4");
    CHECK_ERROR(ds_sum_pad(a, 2, 3, 2, &out), DS_ERR_ARGUMENT,
                "sum_and_pad_array: index 3 is out of range 1..2");
    CHECK_ERROR(ds_index(a, i13, 2, &out), DS_ERR_ARGUMENT,
                "index: index 3 (entry 2 of the list) is out of range 1..2");
    CHECK_ERROR(ds_index(a, i0, 1, &out), DS_ERR_ARGUMENT,
                "index: index 0 (entry 1 of the list) is out of range 1..2");
    CHECK_ERROR(ds_index(a, im1, 1, &out), DS_ERR_ARGUMENT, "index: indices = -1 must not be negative");
    CHECK_ERROR(ds_reverse_index(a, i3, 1, true, 2, &out), DS_ERR_ARGUMENT,
                "reverse_index: index 3 (entry 1 of the list) is out of range 1..2");
    CHECK_ERROR(ds_reverse_index(a, i5, 1, false, 4, &out), DS_ERR_ARGUMENT,
                "reverse_index: index 5 (entry 1 of the list) is out of range 1..4");
    CHECK_ERROR(ds_reverse_index(a, i1234, 3, true, 2, &out), DS_ERR_ARGUMENT,
                "reverse_index: 3 indices do not fit in new_index_size 2");
    CHECK_ERROR(ds_pack_indices(a, i4, 1, 1, &out), DS_ERR_ARGUMENT,
                "pack_indices: index 4 (entry 1 of the list) is out of range 1..3");
    CHECK_ERROR(ds_pack_indices(a, i3, 1, 2, &out), DS_ERR_ARGUMENT, "out of range 1..2");
    CHECK_ERROR(ds_unpack_indices(a, i5, 1, 1, 4, &out), DS_ERR_ARGUMENT,
                "unpack_indices: index 5 (entry 1 of the list) is out of range 1..4");
    CHECK_ERROR(ds_unpack_indices(a, i1234, 4, 1, 5, &out), DS_ERR_ARGUMENT,
                "unpack_indices: 4 indices for 3 positions of the array [3] with batch 2");
    CHECK_ERROR(ds_unpack_mask(a, (const int64_t[]){4, 2}, 2, 1, i5, 1, &out), DS_ERR_ARGUMENT,
                "unpack_mask: index 5 (entry 1 of the list) is out of range 1..4");
    CHECK_ERROR(ds_slice(DS_SLICE_LEFT, a, 4, 1, &out), DS_ERR_ARGUMENT,
                "slice_left: cannot keep 4 of 3 along dim 1 (b = 4)");
    CHECK_ERROR(ds_slice(DS_RTRIM, a, 2, 2, &out), DS_ERR_ARGUMENT,
                "rtrim: cannot keep 0 of 2 along dim 2 (b = 2)");
    CHECK_ERROR(ds_slice(DS_LTRIM, a, -1, 1, &out), DS_ERR_ARGUMENT,
                "ltrim: b = -1 must not be negative");
    CHECK(out == SENTINEL);

    /* Input positions of ds_array_input are 0-based and checked against the inputs. */
    ds_array *x = MAKE(1, 2), *f = NULL;
    CHECK_OK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    CHECK_OK(ds_unary(DS_EXP, x, &f));
    CHECK_ERROR(ds_array_input(f, 1, &out, NULL), DS_ERR_ARGUMENT, "input 1 requested, the array has 1");
    CHECK(out == SENTINEL);

    /* control: in range */
    CHECK_OK(ds_index(a, i12, 2, &out));
    FREE_ALL(a, x, f, out);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* Sizes: zero, negative, empty, too large                                                    */
/* ------------------------------------------------------------------------------------------ */

static void test_sizes(void)
{
    ds_array *out = SENTINEL;
    float buf[4] = {0};

    /* creation: zero and negative extents and batches, in each creating function */
    CHECK_ERROR(ds_array_create((const int64_t[]){2, 0}, 2, 1, &out), DS_ERR_ARGUMENT,
                "array shape [2, 0] with batch 1: every extent must be positive");
    CHECK_ERROR(ds_array_create((const int64_t[]){2}, 1, 0, &out), DS_ERR_ARGUMENT,
                "array shape [2] with batch 0: every extent must be positive");
    CHECK_ERROR(ds_array_create((const int64_t[]){-2}, 1, 1, &out), DS_ERR_ARGUMENT,
                "array shape [-2] with batch 1: negative extent");
    CHECK_ERROR(ds_array_create((const int64_t[]){2}, 1, -4, &out), DS_ERR_ARGUMENT,
                "array shape [2] with batch -4: negative extent");
    CHECK_ERROR(ds_array_full((const int64_t[]){0}, 1, 1, 1.0f, &out), DS_ERR_ARGUMENT,
                "every extent must be positive");
    CHECK_ERROR(ds_array_full((const int64_t[]){3}, 1, -1, 1.0f, &out), DS_ERR_ARGUMENT,
                "negative extent");
    CHECK_ERROR(ds_array_from_data((const int64_t[]){0}, 1, 1, buf, 0, &out), DS_ERR_ARGUMENT,
                "every extent must be positive");
    CHECK_ERROR(ds_array_from_data((const int64_t[]){-1}, 1, 1, buf, 1, &out), DS_ERR_ARGUMENT,
                "negative extent");
    CHECK_ERROR(ds_array_wrap((const int64_t[]){2}, 1, 0, buf, 0, &out), DS_ERR_ARGUMENT,
                "every extent must be positive");
    CHECK_ERROR(ds_array_create((const int64_t[]){INT64_MAX, 2}, 2, 1, &out), DS_ERR_ARGUMENT,
                "is too large");
    CHECK_ERROR(ds_array_from_data((const int64_t[]){2}, 1, 2, buf, 3, &out), DS_ERR_SHAPE,
                "array shape [2] with batch 2 needs 4 values, got 3");

    /* sizes given to operations */
    ds_array *a = MAKE(2, 3);
    CHECK_ERROR(ds_reshape(a, (const int64_t[]){0}, 1, &out), DS_ERR_ARGUMENT,
                "reshape: array shape [0] with batch 2: every extent must be positive");
    CHECK_ERROR(ds_reshape(a, (const int64_t[]){3, -1}, 2, &out), DS_ERR_ARGUMENT,
                "reshape: new_shape = -1 must not be negative");
    CHECK_ERROR(ds_reshape(a, (const int64_t[]){2}, 1, &out), DS_ERR_SHAPE,
                "reshape: new shape [2] has 2 elements, the array [3] with batch 2 has 3");
    CHECK_ERROR(ds_spread(a, 1, 1, 0, &out), DS_ERR_ARGUMENT, "spread: ncopies must be positive");
    CHECK_ERROR(ds_spread(a, 2, 1, -2, &out), DS_ERR_ARGUMENT,
                "spread: ncopies = -2 must not be negative");
    CHECK_ERROR(ds_unspread(a, 1, 2, 0, &out), DS_ERR_ARGUMENT,
                "unspread: the new size must be positive");
    CHECK_ERROR(ds_sum_pad(a, 1, 1, -1, &out), DS_ERR_ARGUMENT,
                "sum_and_pad_array: new_dim_size = -1 must not be negative");
    CHECK_ERROR(ds_reverse_index(a, (const int64_t[]){1}, 1, true, 0, &out), DS_ERR_ARGUMENT,
                "reverse_index: new_index_size must be positive");
    CHECK_ERROR(ds_unpack_indices(a, (const int64_t[]){1}, 1, 1, 0, &out), DS_ERR_ARGUMENT,
                "unpack_indices: new_size must be positive");
    CHECK_ERROR(ds_unpack_mask(a, (const int64_t[]){0, 2}, 2, 1, NULL, 0, &out), DS_ERR_ARGUMENT,
                "unpack_mask: array shape [0] with batch 2: every extent must be positive");
    CHECK_ERROR(ds_unpack_mask(a, NULL, 0, 1, NULL, 0, &out), DS_ERR_ARGUMENT,
                "unpack_mask: array_shape is empty (it must end with the batch size)");
    CHECK_ERROR(ds_merge_real2d(a, VALUES, 0, 2, (const bool[]){1, 1, 1, 1, 1, 1}, 6, &out),
                DS_ERR_ARGUMENT, "merge: array shape [0] with batch 2: every extent must be positive");
    /* empty selections: arrays with no elements are not supported */
    CHECK_ERROR(ds_index(a, NULL, 0, &out), DS_ERR_ARGUMENT,
                "index: the number of samples must be positive");
    CHECK_ERROR(ds_pack_indices(a, NULL, 0, 1, &out), DS_ERR_ARGUMENT,
                "pack_indices: the number of indices must be positive");
    CHECK_ERROR(ds_pack_mask(a, 2, (const bool[]){0, 0}, 2, &out), DS_ERR_ARGUMENT,
                "pack_mask: the mask selects nothing (empty arrays are not supported)");
    CHECK(out == SENTINEL);
    FREE_ALL(a);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* Handles: NULL, use after free, double free, invented -- for the functions test_errors.c     */
/* does not call with a bad handle                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Every call takes `bad` as an array handle, all other arguments valid. */
static void graph_calls_reject(const ds_array *bad, const ds_array *good, ds_status want,
                               const char *text)
{
    ds_array *out = SENTINEL;
    int64_t id = 77;
    bool flag = true;
    CHECK_ERROR(ds_dot_product(bad, good, &out), want, text);
    CHECK_ERROR(ds_outer_product(good, bad, &out), want, text);
    CHECK_ERROR(ds_transpose(bad, &out), want, text);
    CHECK_ERROR(ds_matmul(good, bad, &out), want, text);
    CHECK_ERROR(ds_matmul_real2d(bad, VALUES, 2, 1, &out), want, text);
    CHECK_ERROR(ds_real2d_matmul(VALUES, 1, 2, bad, &out), want, text);
    CHECK_ERROR(ds_duplicate_graph(bad, &out), want, text);
    CHECK_ERROR(ds_detach(bad), want, text);
    CHECK_ERROR(ds_array_id(bad, &id), want, text);
    CHECK_ERROR(ds_array_set_id(bad, 5), want, text);
    CHECK_ERROR(ds_graph_find_id(bad, 5, &out), want, text);
    CHECK_ERROR(ds_array_claim(bad, &flag), want, text);
    CHECK_ERROR(ds_reshape(bad, (const int64_t[]){2}, 1, &out), want, text);
    CHECK_ERROR(ds_merge(bad, good, (const bool[]){1, 0}, 2, &out), want, text);
    CHECK(out == SENTINEL && id == 77 && flag);
}

static void test_handles(void)
{
    ds_array *good = MAKE(1, 2);
    ds_array *gone = NULL, *out = SENTINEL;

    /* NULL */
    graph_calls_reject(NULL, good, DS_ERR_NULL, " is NULL");
    CHECK_ERROR(ds_array_free(NULL), DS_ERR_NULL, "a is NULL");
    CHECK_ERROR(ds_grad_forward(good, NULL, &out), DS_ERR_NULL, "x is NULL");
    CHECK_ERROR(ds_grad_reverse(NULL, NULL, 0), DS_ERR_NULL, "f is NULL");
    CHECK_ERROR(ds_graph_find_id(NULL, 1, &out), DS_ERR_NULL, "root is NULL");

    /* use after free */
    CHECK_OK(ds_array_share(good, &gone));
    CHECK_OK(ds_array_free(gone));
    const char *stale =
        "is not a live array handle (already freed, or not created by diffstruc)";
    graph_calls_reject(gone, good, DS_ERR_HANDLE, stale);
    CHECK_ERROR(ds_unary(DS_EXP, gone, &out), DS_ERR_HANDLE, "a is not a live array handle");
    CHECK_ERROR(ds_grad_forward(good, gone, &out), DS_ERR_HANDLE, "x is not a live array handle");

    /* double free: the second free fails, and changes nothing */
    CHECK_ERROR(ds_array_free(gone), DS_ERR_HANDLE, stale);
    CHECK_ERROR(ds_array_free(gone), DS_ERR_HANDLE, stale);
    int64_t e = 0;
    CHECK_OK(ds_array_extents(good, &e, NULL)); /* `good` shared the node: still fine */
    CHECK(e == 2);

    /* an invented value */
    const ds_array *invented = (const ds_array *)(uintptr_t)0x4242;
    graph_calls_reject(invented, good, DS_ERR_HANDLE, stale);

    /* an input freed before its result is not an error: the result keeps it alive */
    ds_array *x = MAKE(1, 2), *f = NULL;
    CHECK_OK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    CHECK_OK(ds_unary(DS_EXP, x, &f));
    ds_array *x_again = NULL;
    CHECK_OK(ds_array_input(f, 0, &x_again, NULL));
    FREE_ALL(x);
    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    const float *g = grad_data_of(x_again);
    CHECK_CLOSE(g[0], 2.718281828, 1e-6); /* d exp(1) */
    CHECK(out == SENTINEL);

    /* custom operations: NULL, double free, invented */
    ds_custom_rules none = {NULL, NULL, NULL, NULL};
    ds_custom_op *op = NULL;
    CHECK_ERROR(ds_custom_op_free(NULL), DS_ERR_NULL, "op is NULL");
    CHECK_OK(ds_custom_op_create("once", &none, &op));
    CHECK_OK(ds_custom_op_free(op));
    CHECK_ERROR(ds_custom_op_free(op), DS_ERR_HANDLE, "op is not a live custom operation");
    CHECK_ERROR(ds_array_set_custom(f, op, (const ds_array *const[]){good}, 1), DS_ERR_HANDLE,
                "op is not a live custom operation (freed, or not created by ds_custom_op_create)");
    FREE_ALL(good, f, x_again);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* Differentiation                                                                            */
/* ------------------------------------------------------------------------------------------ */

static void test_no_requires_grad(void)
{
    ds_array *x = MAKE(2, 3), *f = NULL, *out = SENTINEL;
    CHECK_OK(ds_binary(DS_MUL, x, x, &f));
    CHECK_ERROR(ds_grad_forward(f, x, &out), DS_ERR_NO_GRAD,
                "grad_forward: the variable does not require a gradient (set requires_grad "
                "first)");
    CHECK(out == SENTINEL);
    /* reverse mode from a result that needs no gradient is not an error: nothing to do */
    ds_array *g = SENTINEL;
    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    CHECK_OK(ds_array_grad(x, &g));
    CHECK(g == NULL);
    /* control: with the flag set (before f is computed) forward mode works: d(x*x) = 2x */
    ds_array *f2 = NULL;
    CHECK_OK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    CHECK_OK(ds_binary(DS_MUL, x, x, &f2));
    CHECK_OK(ds_grad_forward(f2, x, &out));
    const double want[6] = {2, 4, 6, 8, 10, 12};
    CHECK_VALUES(out, want, 6, 1e-6);
    /* f was computed before the flag was set: it does not depend on x (zeros, no error) */
    ds_array *d0 = NULL;
    CHECK_OK(ds_grad_forward(f, x, &d0));
    const double zeros[6] = {0, 0, 0, 0, 0, 0};
    CHECK_VALUES(d0, zeros, 6, 0.0);
    FREE_ALL(x, f, f2, out, d0);
    CHECK_NO_LEAKS();
}

/* A non-scalar root without a seed: the seed is all ones, so the result is the gradient of the
 * sum of the root's values. */
static void test_nonscalar_root_without_seed(void)
{
    ds_array *x = new_array((const int64_t[]){3}, 1, 2, VALUES, 6, true);
    ds_array *w = new_array((const int64_t[]){3}, 1, 1, VALUES + 6, 3, true); /* shared */
    ds_array *xx = NULL, *f = NULL, *s = NULL;
    /* f = x*x + w*x: [3] with batch 2, df/dx = 2x + w, df/dw = x summed over the batch */
    ds_array *wx = NULL;
    CHECK_OK(ds_binary(DS_MUL, x, x, &xx));
    CHECK_OK(ds_binary(DS_MUL, w, x, &wx));
    CHECK_OK(ds_binary(DS_ADD, xx, wx, &f));

    CHECK_OK(ds_grad_reverse(f, NULL, 0));
    float gx_null[6], gw_null[3];
    memcpy(gx_null, grad_data_of(x), sizeof gx_null);
    memcpy(gw_null, grad_data_of(w), sizeof gw_null);

    /* the gradient of the sum, computed explicitly */
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_zero_grad(w));
    CHECK_OK(ds_sum_all(f, &s));
    CHECK_OK(ds_grad_reverse(s, NULL, 0));
    const float *gx_sum = grad_data_of(x), *gw_sum = grad_data_of(w);
    for (int i = 0; i < 6; i++) {
        CHECK_CLOSE(gx_null[i], gx_sum[i], 1e-6);
        CHECK_CLOSE(gx_null[i], 2.0 * VALUES[i] + VALUES[6 + i % 3], 1e-6);
    }
    for (int i = 0; i < 3; i++) {
        CHECK_CLOSE(gw_null[i], gw_sum[i], 1e-6);
        CHECK_CLOSE(gw_null[i], VALUES[i] + VALUES[3 + i], 1e-6);
    }

    /* an explicit seed of ones gives the same; seed_len is ignored when the seed is NULL */
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_grad_reverse(f, ones, 6));
    const float *gx_ones = grad_data_of(x);
    for (int i = 0; i < 6; i++) {
        CHECK_CLOSE(gx_ones[i], gx_null[i], 0.0);
    }
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_grad_reverse(f, NULL, 12345));
    const float *gx_any = grad_data_of(x);
    for (int i = 0; i < 6; i++) {
        CHECK_CLOSE(gx_any[i], gx_null[i], 0.0);
    }
    FREE_ALL(x, w, xx, wx, f, s);
    CHECK_NO_LEAKS();
}

static void test_seed_and_direction_lengths(void)
{
    ds_array *x = new_array((const int64_t[]){3}, 1, 2, VALUES, 6, true), *f = NULL;
    CHECK_OK(ds_unary(DS_SIN, x, &f));
    CHECK_ERROR(ds_grad_reverse(f, VALUES, 5), DS_ERR_SHAPE,
                "grad_reverse: seed has 5 values, the result has 6 ([3] with batch 2)");
    CHECK_ERROR(ds_grad_reverse(f, VALUES, 3), DS_ERR_SHAPE, "seed has 3 values");
    ds_array *g = SENTINEL;
    CHECK_OK(ds_array_grad(x, &g));
    CHECK(g == NULL); /* nothing was accumulated */

    CHECK_ERROR(ds_array_set_direction(x, VALUES, 4), DS_ERR_SHAPE,
                "set_direction: direction has 4 values, array has 3 per sample (6 in all)");
    CHECK_ERROR(ds_array_set_direction(x, VALUES, 7), DS_ERR_SHAPE, "direction has 7 values");
    /* a rejected direction leaves the previous one (none: ones) in place */
    ds_array *d = NULL;
    CHECK_OK(ds_grad_forward(x, x, &d));
    const double ones[6] = {1, 1, 1, 1, 1, 1};
    CHECK_VALUES(d, ones, 6, 0.0);
    /* controls: E and E*S values are accepted */
    CHECK_OK(ds_array_set_direction(x, VALUES, 3));
    CHECK_OK(ds_array_set_direction(x, VALUES, 6));
    CHECK_OK(ds_grad_reverse(f, VALUES, 6));
    FREE_ALL(x, f, d);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* Custom operations: failing callbacks                                                       */
/* ------------------------------------------------------------------------------------------ */

static ds_status refusing_vjp(void *user, const ds_array *out, const ds_array *const *inputs,
                              size_t n, size_t k, const float *upstream, float *grad,
                              size_t grad_batch)
{
    (void)user, (void)out, (void)inputs, (void)n, (void)k, (void)upstream, (void)grad,
        (void)grad_batch;
    ds_set_last_error("the reverse rule refuses");
    return DS_ERR_ARGUMENT;
}

static ds_status buggy_vjp(void *user, const ds_array *out, const ds_array *const *inputs,
                           size_t n, size_t k, const float *upstream, float *grad,
                           size_t grad_batch)
{
    (void)user, (void)out, (void)inputs, (void)n, (void)k, (void)upstream, (void)grad,
        (void)grad_batch;
    ds_set_last_error("callback bug");
    return DS_ERR_INTERNAL;
}

/* Returns a handle it has already freed. */
static ds_status stale_jvp(void *user, const ds_array *out, const ds_array *const *inputs,
                           size_t n, size_t k, const ds_array *tangent, ds_array **contribution)
{
    (void)user, (void)out, (void)inputs, (void)n, (void)k;
    ds_array *c = NULL;
    if (ds_array_copy(tangent, &c) != DS_OK || ds_array_free(c) != DS_OK) {
        return DS_ERR_INTERNAL;
    }
    *contribution = c;
    return DS_OK;
}

static void test_custom_callbacks(void)
{
    ds_custom_rules refusing = {NULL, NULL, refusing_vjp, NULL};
    ds_custom_rules buggy = {NULL, NULL, buggy_vjp, NULL};
    ds_custom_rules stale = {NULL, stale_jvp, NULL, NULL};
    ds_custom_op *op1 = NULL, *op2 = NULL, *op3 = NULL;
    CHECK_OK(ds_custom_op_create("refusing", &refusing, &op1));
    CHECK_OK(ds_custom_op_create("buggy", &buggy, &op2));
    CHECK_OK(ds_custom_op_create("stale", &stale, &op3));
    ds_array *x = new_array((const int64_t[]){2}, 1, 1, VALUES, 2, true);
    const ds_array *in[] = {x};
    ds_array *y1 = NULL, *y2 = NULL, *y3 = NULL, *out = SENTINEL;
    const int64_t shape[1] = {2};
    CHECK_OK(ds_custom_apply(op1, in, 1, shape, 1, 1, NULL, &y1));
    CHECK_OK(ds_custom_apply(op2, in, 1, shape, 1, 1, NULL, &y2));
    CHECK_OK(ds_custom_apply(op3, in, 1, shape, 1, 1, NULL, &y3));

    /* the callback's status is returned, its message follows the library's context */
    CHECK_ERROR(ds_grad_reverse(y1, NULL, 0), DS_ERR_ARGUMENT,
                "custom operation 'refusing': reverse rule for input 1 failed: the reverse rule "
                "refuses");
    CHECK_ERROR(ds_grad_reverse(y2, NULL, 0), DS_ERR_INTERNAL,
                "custom operation 'buggy': reverse rule for input 1 failed: callback bug");
    CHECK_ERROR(ds_grad_forward(y3, x, &out), DS_ERR_HANDLE,
                "custom operation 'stale': forward rule for input 1 returned an invalid array: "
                "contribution is not a live array handle");
    /* missing rules of these operations */
    CHECK_ERROR(ds_grad_forward(y1, x, &out), DS_ERR_NO_GRAD,
                "custom operation 'refusing' has no forward rule");
    CHECK_ERROR(ds_grad_reverse(y3, NULL, 0), DS_ERR_NO_GRAD,
                "custom operation 'stale' has no reverse rule");
    CHECK(out == SENTINEL);
    ds_array *g = SENTINEL;
    CHECK_OK(ds_array_grad(x, &g));
    CHECK(g == NULL); /* failed passes accumulate nothing */
    FREE_ALL(x, y1, y2, y3);
    CHECK_OK(ds_custom_op_free(op1));
    CHECK_OK(ds_custom_op_free(op2));
    CHECK_OK(ds_custom_op_free(op3));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* Graph cycles (refused by ds_array_set_custom)                                               */
/* ------------------------------------------------------------------------------------------ */

static ds_status share_jvp(void *user, const ds_array *out, const ds_array *const *inputs,
                           size_t n, size_t k, const ds_array *tangent, ds_array **contribution)
{
    (void)user, (void)out, (void)inputs, (void)n, (void)k;
    return ds_array_share(tangent, contribution);
}

static void test_cycles(void)
{
    ds_custom_rules rules = {NULL, share_jvp, NULL, NULL};
    ds_custom_op *op = NULL;
    CHECK_OK(ds_custom_op_create("loop", &rules, &op));
    ds_array *x = new_array((const int64_t[]){2}, 1, 1, VALUES, 2, true);
    ds_array *y = new_array((const int64_t[]){2}, 1, 1, VALUES, 2, true);
    ds_array *z = NULL, *out = SENTINEL;

    /* a node cannot be its own input */
    CHECK_ERROR(ds_array_set_custom(y, op, (const ds_array *const[]){y}, 1), DS_ERR_GRAPH,
                "custom operation 'loop': an array cannot be its own input");
    /* z = loop(y), then y = loop(z, x) would close a cycle y -> z -> y: refused, so no cycle
     * (and no leak) can exist */
    CHECK_OK(ds_custom_apply(op, (const ds_array *const[]){y}, 1, (const int64_t[]){2}, 1, 1,
                             NULL, &z));
    CHECK_ERROR(ds_array_set_custom(y, op, (const ds_array *const[]){z, x}, 2), DS_ERR_GRAPH,
                "custom operation 'loop': linking these inputs would make a cycle");
    /* the graph is still a DAG: z = loop(y) */
    ds_array *dz = NULL;
    CHECK_OK(ds_grad_forward(z, y, &dz));
    const double ones[2] = {1, 1};
    CHECK_VALUES(dz, ones, 2, 0.0);
    CHECK(out == SENTINEL);
    FREE_ALL(x, y, z, dz);
    CHECK_OK(ds_custom_op_free(op));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* Other arguments                                                                            */
/* ------------------------------------------------------------------------------------------ */

static void test_other_arguments(void)
{
    ds_array *x = MAKE(1, 2), *out = SENTINEL;
    CHECK_ERROR(ds_gaussian(x, 0.0f, NAN, &out), DS_ERR_ARGUMENT,
                "gaussian: sigma must be positive (got NaN)");
    CHECK_ERROR(ds_gaussian(x, 0.0f, 0.0f, &out), DS_ERR_ARGUMENT, "sigma must be positive (got 0)");
    CHECK_ERROR(ds_gaussian(x, 0.0f, -1.0f, &out), DS_ERR_ARGUMENT, "sigma must be positive (got -1)");
    CHECK_ERROR(ds_unary(DS_ADD, x, &out), DS_ERR_ARGUMENT, "unknown unary operation code 1");
    CHECK_ERROR(ds_binary(DS_TANH, x, x, &out), DS_ERR_ARGUMENT, "unknown binary operation code 111");
    CHECK_ERROR(ds_slice(0, x, 1, 1, &out), DS_ERR_ARGUMENT, "slice: unknown slice code 0");
    CHECK_ERROR(ds_real2d_binary(DS_DIV, VALUES, 2, 1, x, &out), DS_ERR_ARGUMENT,
                "divide: no form with a 2-D real array on the left");
    CHECK(out == SENTINEL);
    FREE_ALL(x);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------------------------------ */
/* NaN and Inf: IEEE values, never a trap or an error                                         */
/* ------------------------------------------------------------------------------------------ */

/* Value i of `a` (stops the test if `a` cannot be read). */
static float at(const ds_array *a, int i)
{
    return data_of(a)[i];
}

static float grad_at(const ds_array *a, int i)
{
    return grad_data_of(a)[i];
}

#define IS_POS_INF(v) (isinf(v) && (v) > 0)
#define IS_NEG_INF(v) (isinf(v) && (v) < 0)

/* x = [NaN, +Inf, -Inf, 0, -1, 2] */
static const float SPECIAL[6] = {NAN, INFINITY, -INFINITY, 0.0f, -1.0f, 2.0f};

static void test_ieee_unary(void)
{
    ds_array *x = new_array((const int64_t[]){6}, 1, 1, SPECIAL, 6, true);
    ds_array *y = NULL, *d = NULL;

    /* exp: exp(NaN) = NaN, exp(Inf) = Inf, exp(-Inf) = 0; d exp = exp */
    CHECK_OK(ds_unary(DS_EXP, x, &y));
    CHECK(isnan(at(y, 0)) && IS_POS_INF(at(y, 1)) && at(y, 2) == 0.0f && at(y, 3) == 1.0f);
    CHECK_OK(ds_grad_forward(y, x, &d));
    CHECK(isnan(at(d, 0)) && IS_POS_INF(at(d, 1)) && at(d, 2) == 0.0f);
    CHECK_OK(ds_grad_reverse(y, NULL, 0));
    CHECK(isnan(grad_at(x, 0)) && IS_POS_INF(grad_at(x, 1)) && grad_at(x, 2) == 0.0f);
    FREE_ALL(y, d);

    /* log: log(0) = -Inf, log(-1) = NaN, log(-Inf) = NaN, log(Inf) = Inf; d log = 1/x */
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_unary(DS_LOG, x, &y));
    CHECK(isnan(at(y, 0)) && IS_POS_INF(at(y, 1)) && isnan(at(y, 2)));
    CHECK(IS_NEG_INF(at(y, 3)) && isnan(at(y, 4)));
    CHECK_CLOSE(at(y, 5), 0.6931471806, 1e-6);
    CHECK_OK(ds_grad_forward(y, x, &d));
    CHECK(isnan(at(d, 0)) && at(d, 1) == 0.0f && IS_POS_INF(at(d, 3)) && at(d, 4) == -1.0f);
    CHECK_OK(ds_grad_reverse(y, NULL, 0));
    CHECK(isnan(grad_at(x, 0)) && grad_at(x, 1) == 0.0f && IS_POS_INF(grad_at(x, 3)));
    FREE_ALL(y, d);

    /* sqrt: sqrt(-1) = NaN, sqrt(-Inf) = NaN, sqrt(0) = 0 with slope +Inf */
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_unary(DS_SQRT, x, &y));
    CHECK(isnan(at(y, 0)) && IS_POS_INF(at(y, 1)) && isnan(at(y, 2)) && at(y, 3) == 0.0f &&
          isnan(at(y, 4)));
    CHECK_OK(ds_grad_forward(y, x, &d));
    CHECK(IS_POS_INF(at(d, 3)) && isnan(at(d, 4)) && at(d, 1) == 0.0f);
    CHECK_OK(ds_grad_reverse(y, NULL, 0));
    CHECK(IS_POS_INF(grad_at(x, 3)) && isnan(grad_at(x, 4)));
    FREE_ALL(y, d);

    /* tanh and sigmoid saturate at +-Inf with zero slope; NaN stays NaN */
    const ds_unary_op sat[2] = {DS_TANH, DS_SIGMOID};
    const float low[2] = {-1.0f, 0.0f};
    for (int k = 0; k < 2; k++) {
        CHECK_OK(ds_zero_grad(x));
        CHECK_OK(ds_unary(sat[k], x, &y));
        CHECK(isnan(at(y, 0)) && at(y, 1) == 1.0f && at(y, 2) == low[k]);
        CHECK_OK(ds_grad_forward(y, x, &d));
        CHECK(isnan(at(d, 0)) && at(d, 1) == 0.0f && at(d, 2) == 0.0f);
        CHECK_OK(ds_grad_reverse(y, NULL, 0));
        CHECK(isnan(grad_at(x, 0)) && grad_at(x, 1) == 0.0f && grad_at(x, 2) == 0.0f);
        FREE_ALL(y, d);
    }

    /* sin of +-Inf is NaN; abs keeps Inf */
    CHECK_OK(ds_unary(DS_SIN, x, &y));
    CHECK(isnan(at(y, 1)) && isnan(at(y, 2)) && at(y, 3) == 0.0f);
    FREE_ALL(y);
    CHECK_OK(ds_unary(DS_ABS, x, &y));
    CHECK(isnan(at(y, 0)) && IS_POS_INF(at(y, 1)) && IS_POS_INF(at(y, 2)));
    FREE_ALL(y, x);
    CHECK_NO_LEAKS();
}

static void test_ieee_binary(void)
{
    /* x = [NaN, Inf, -Inf, 0, -1, 2], z = [1, 0, 0, 0, NaN, 2] */
    const float zv[6] = {1.0f, 0.0f, 0.0f, 0.0f, NAN, 2.0f};
    ds_array *x = new_array((const int64_t[]){6}, 1, 1, SPECIAL, 6, true);
    ds_array *z = new_array((const int64_t[]){6}, 1, 1, zv, 6, true);
    ds_array *y = NULL, *d = NULL;

    /* division: Inf/0 = Inf, -Inf/0 = -Inf, 0/0 = NaN, -1/NaN = NaN */
    CHECK_OK(ds_binary(DS_DIV, x, z, &y));
    CHECK(isnan(at(y, 0)) && IS_POS_INF(at(y, 1)) && IS_NEG_INF(at(y, 2)) && isnan(at(y, 3)) &&
          isnan(at(y, 4)) && at(y, 5) == 1.0f);
    CHECK_OK(ds_grad_forward(y, x, &d)); /* d/dx = 1/z: 1/0 = Inf */
    CHECK(IS_POS_INF(at(d, 1)) && IS_POS_INF(at(d, 3)) && at(d, 5) == 0.5f);
    FREE_ALL(d);
    CHECK_OK(ds_grad_reverse(y, NULL, 0)); /* d/dz = -x/z^2: -Inf/0 = -Inf, 0/0 = NaN */
    CHECK(IS_NEG_INF(grad_at(z, 1)) && IS_POS_INF(grad_at(z, 2)) && isnan(grad_at(z, 3)));
    CHECK(IS_POS_INF(grad_at(x, 1)) && grad_at(x, 5) == 0.5f);
    FREE_ALL(y);

    /* a real scalar divisor of 0 */
    CHECK_OK(ds_binary_scalar(DS_DIV, x, 0.0f, &y));
    CHECK(isnan(at(y, 0)) && IS_POS_INF(at(y, 1)) && isnan(at(y, 3)) && IS_NEG_INF(at(y, 4)) &&
          IS_POS_INF(at(y, 5)));
    FREE_ALL(y);

    /* multiplication: 0 * Inf = NaN, NaN * anything = NaN */
    CHECK_OK(ds_zero_grad(x));
    CHECK_OK(ds_zero_grad(z));
    CHECK_OK(ds_binary(DS_MUL, x, z, &y));
    CHECK(isnan(at(y, 0)) && isnan(at(y, 1)) && isnan(at(y, 2)) && at(y, 3) == 0.0f &&
          isnan(at(y, 4)) && at(y, 5) == 4.0f);
    CHECK_OK(ds_grad_forward(y, z, &d)); /* d/dz = x */
    CHECK(isnan(at(d, 0)) && IS_POS_INF(at(d, 1)) && IS_NEG_INF(at(d, 2)));
    FREE_ALL(d);
    CHECK_OK(ds_grad_reverse(y, NULL, 0)); /* d/dx = z, d/dz = x */
    CHECK(grad_at(x, 1) == 0.0f && isnan(grad_at(x, 4)) && IS_POS_INF(grad_at(z, 1)));
    FREE_ALL(y);
    CHECK_OK(ds_scalar_binary(DS_MUL, 0.0f, x, &y));
    CHECK(isnan(at(y, 0)) && isnan(at(y, 1)) && isnan(at(y, 2)) && at(y, 5) == 0.0f);
    FREE_ALL(y);

    /* max propagates NaN from either side */
    CHECK_OK(ds_binary(DS_MAX, x, z, &y));
    CHECK(isnan(at(y, 0)) && IS_POS_INF(at(y, 1)) && at(y, 2) == 0.0f && isnan(at(y, 4)));
    FREE_ALL(y);
    CHECK_OK(ds_binary_scalar(DS_MAX, x, 1.0f, &y));
    CHECK(isnan(at(y, 0)) && IS_POS_INF(at(y, 1)) && at(y, 2) == 1.0f);
    FREE_ALL(y);

    /* power: pow(x, 0) = 1 even for NaN and Inf */
    CHECK_OK(ds_binary_scalar(DS_POW, x, 0.0f, &y));
    for (int i = 0; i < 6; i++) {
        CHECK(at(y, i) == 1.0f);
    }
    FREE_ALL(y, x, z);
    CHECK_NO_LEAKS();
}

static void test_ieee_reductions_and_matmul(void)
{
    /* sums: Inf + finite = Inf, Inf + -Inf = NaN; gradients stay finite (ones) */
    const float v[4] = {INFINITY, 1.0f, 2.0f, -INFINITY};
    ds_array *a = new_array((const int64_t[]){2}, 1, 2, v, 4, true);
    ds_array *s = NULL, *m = NULL, *s1 = NULL;
    CHECK_OK(ds_sum(a, 1, &s1)); /* per sample: [Inf + 1, 2 - Inf] */
    CHECK(IS_POS_INF(at(s1, 0)) && IS_NEG_INF(at(s1, 1)));
    CHECK_OK(ds_sum_all(a, &s));
    CHECK(isnan(at(s, 0)));
    CHECK_OK(ds_mean(a, 2, &m)); /* over the batch: [(Inf + 2)/2, (1 - Inf)/2] */
    CHECK(IS_POS_INF(at(m, 0)) && IS_NEG_INF(at(m, 1)));
    CHECK_OK(ds_grad_reverse(s, NULL, 0));
    for (int i = 0; i < 4; i++) {
        CHECK(grad_at(a, i) == 1.0f);
    }
    FREE_ALL(a, s, m, s1);

    /* matmul: M = [[Inf, 0], [1, 1]], u = [0, 1]: M u = [Inf*0 + 0, 1] = [NaN, 1] */
    static const int64_t SHAPE22[2] = {2, 2};
    const float mv[4] = {INFINITY, 1.0f, 0.0f, 1.0f}, uv[2] = {0.0f, 1.0f};
    ds_array *M = new_array(SHAPE22, 2, 1, mv, 4, true);
    ds_array *u = new_array((const int64_t[]){2}, 1, 1, uv, 2, true);
    ds_array *r = NULL, *d = NULL;
    CHECK_OK(ds_matmul(M, u, &r));
    CHECK(isnan(at(r, 0)) && at(r, 1) == 1.0f);
    CHECK_OK(ds_grad_forward(r, u, &d)); /* M [1, 1] = [Inf, 2] */
    CHECK(IS_POS_INF(at(d, 0)) && at(d, 1) == 2.0f);
    CHECK_OK(ds_grad_reverse(r, NULL, 0)); /* du = M^T 1 = [Inf, 1]; dM = 1 u^T */
    CHECK(IS_POS_INF(grad_at(u, 0)) && grad_at(u, 1) == 1.0f);
    CHECK(grad_at(M, 0) == 0.0f && grad_at(M, 1) == 0.0f && grad_at(M, 2) == 1.0f &&
          grad_at(M, 3) == 1.0f);
    FREE_ALL(M, u, r, d);

    /* a NaN seed propagates into the gradients */
    const float nan_seed[2] = {NAN, 1.0f};
    ds_array *x = new_array((const int64_t[]){2}, 1, 1, VALUES, 2, true), *y = NULL;
    CHECK_OK(ds_binary_scalar(DS_MUL, x, 3.0f, &y));
    CHECK_OK(ds_grad_reverse(y, nan_seed, 2));
    CHECK(isnan(grad_at(x, 0)) && grad_at(x, 1) == 3.0f);
    /* and a NaN direction into forward mode */
    CHECK_OK(ds_array_set_direction(x, nan_seed, 2));
    CHECK_OK(ds_grad_forward(y, x, &d));
    CHECK(isnan(at(d, 0)) && at(d, 1) == 3.0f);
    FREE_ALL(x, y, d);
    CHECK_NO_LEAKS();
}

int main(void)
{
    test_binary_shapes();
    test_linalg_shapes();
    test_invalid_dims();
    test_positions();
    test_sizes();
    test_handles();
    test_no_requires_grad();
    test_nonscalar_root_without_seed();
    test_seed_and_direction_lengths();
    test_custom_callbacks();
    test_cycles();
    test_other_arguments();
    test_ieee_unary();
    test_ieee_binary();
    test_ieee_reductions_and_matmul();
    return test_summary();
}
