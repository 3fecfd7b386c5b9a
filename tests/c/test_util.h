/*
 * test_util.h -- the assertion helpers shared by every tests/c/test_*.c.
 *
 *   CHECK(cond)                     cond is true
 *   CHECK_OK(call)                  call returns DS_OK
 *   CHECK_STATUS(call, expected)    call returns `expected` (error-path tests)
 *   CHECK_CLOSE(a, b, tol)          |a - b| <= tol * max(1, |b|): absolute near 0, relative above
 *   CHECK_VALUES(a, exp, n, tol)    array a holds n values (E*S), each CHECK_CLOSE to exp[i]
 *   CHECK_NO_LEAKS()                no array node and no handle is alive
 *   new_array(shape, rank, batch, values, len, requires_grad)   a copy of `values` as an array
 *   FREE_ALL(a, b, ...)             frees every handle (each free must succeed)
 *   data_of(a), grad_data_of(a)     zero-copy value / gradient pointer (stops the test on failure)
 *   test_summary()                  final live-count check, prints "N passed, M failed",
 *                                   returns the exit code: `return test_summary();`
 *
 * A failed check prints its file and line (and, for status checks, the status name and
 * ds_last_error()) and the test goes on. Each CHECK* macro also evaluates to 1 on success,
 * 0 on failure.
 *
 * Only libm-free C is used (fabs is a compiler builtin): the tests link to nothing but diffstruc.
 * Everything is `static inline` so that a test using only some helpers compiles warning-free.
 */
#ifndef DIFFSTRUC_TEST_UTIL_H
#define DIFFSTRUC_TEST_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffstruc.h"

static int tu_passed, tu_failed;

static inline int tu_record(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        tu_passed++;
    } else {
        tu_failed++;
        printf("%s:%d: FAILED: %s\n", file, line, what);
    }
    return ok;
}

static inline int tu_status(ds_status got, ds_status want, const char *call, const char *file,
                            int line)
{
    int ok = tu_record(got == want, file, line, call);
    if (!ok) {
        printf("    expected %s, got %s; ds_last_error(): \"%s\"\n",
                ds_status_name((int32_t)want), ds_status_name((int32_t)got), ds_last_error());
    }
    return ok;
}

static inline int tu_close(double a, double b, double tol, const char *what, const char *file,
                           int line)
{
    double scale = fabs(b) > 1.0 ? fabs(b) : 1.0;
    /* Written so that a NaN on either side fails. */
    int ok = tu_record(fabs(a - b) <= tol * scale, file, line, what);
    if (!ok) {
        printf("    got %.9g, expected %.9g (tolerance %g)\n", a, b, tol);
    }
    return ok;
}

#define CHECK(cond) tu_record((cond) ? 1 : 0, __FILE__, __LINE__, "CHECK(" #cond ")")
#define CHECK_OK(call) tu_status((call), DS_OK, #call, __FILE__, __LINE__)
#define CHECK_STATUS(call, expected) tu_status((call), (expected), #call, __FILE__, __LINE__)
#define CHECK_CLOSE(a, b, tol) \
    tu_close((double)(a), (double)(b), (tol), "CHECK_CLOSE(" #a ", " #b ")", __FILE__, __LINE__)

static inline int tu_no_leaks(const char *file, int line)
{
    size_t arrays = ds_live_arrays(), handles = ds_live_handles();
    int ok = tu_record(arrays == 0 && handles == 0, file, line, "CHECK_NO_LEAKS()");
    if (!ok) {
        printf("    %zu array nodes and %zu handles still alive\n", arrays, handles);
    }
    return ok;
}
#define CHECK_NO_LEAKS() tu_no_leaks(__FILE__, __LINE__)

static inline int test_summary(void)
{
    CHECK_NO_LEAKS();
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Pointers the test is about to dereference: without them it cannot go on, so a failure
 * ends the test (summary printed, nonzero exit) instead of crashing on a NULL pointer. */
static inline float *tu_require(ds_status st, float *p, const char *call, const char *file,
                                int line)
{
    if (!tu_status(st, DS_OK, call, file, line)) {
        printf("    cannot continue\n");
        test_summary();
        exit(EXIT_FAILURE);
    }
    return p;
}

static inline float *tu_data(const ds_array *a, const char *file, int line)
{
    float *p = NULL;
    ds_status st = ds_array_data(a, &p);
    return tu_require(st, p, "ds_array_data", file, line);
}

static inline float *tu_grad_data(const ds_array *a, const char *file, int line)
{
    float *p = NULL;
    ds_status st = ds_array_grad_data(a, &p);
    return tu_require(st, p, "ds_array_grad_data", file, line);
}

#define data_of(a) tu_data((a), __FILE__, __LINE__)
#define grad_data_of(a) tu_grad_data((a), __FILE__, __LINE__)

/* A new array of per-sample `shape` (rank extents) and `batch` samples holding a copy of
 * `values` (column-major (E, S), E*S values); NULL (and a failed check) on error. */
static inline ds_array *tu_array(const int64_t *shape, size_t rank, int64_t batch,
                                 const float *values, size_t len, bool requires_grad,
                                 const char *file, int line)
{
    ds_array *a = NULL;
    tu_status(ds_array_from_data(shape, rank, batch, values, len, &a), DS_OK,
              "ds_array_from_data", file, line);
    if (a && requires_grad) {
        tu_status(ds_array_set_flag(a, DS_FLAG_REQUIRES_GRAD, true), DS_OK,
                  "ds_array_set_flag", file, line);
    }
    return a;
}
#define new_array(shape, rank, batch, values, len, requires_grad) \
    tu_array((shape), (rank), (batch), (values), (len), (requires_grad), __FILE__, __LINE__)

/* Frees every handle given (each free must succeed): FREE_ALL(a, b, c). */
static inline void tu_free_all(ds_array *const *hs, size_t n, const char *file, int line)
{
    for (size_t i = 0; i < n; i++) {
        tu_status(ds_array_free(hs[i]), DS_OK, "ds_array_free", file, line);
    }
}
#define FREE_ALL(...)                                                       \
    tu_free_all((ds_array *const[]){__VA_ARGS__},                          \
                sizeof((ds_array *const[]){__VA_ARGS__}) / sizeof(ds_array *), \
                __FILE__, __LINE__)

/* `a` holds exactly n values (E*S), each CHECK_CLOSE to expected[i]. */
static inline int tu_values(const ds_array *a, const char *name, const double *expected, size_t n,
                            double tol, const char *file, int line)
{
    int64_t e = 0, s = 0;
    char what[160];
    snprintf(what, sizeof what, "CHECK_VALUES(%s): E*S == %zu", name, n);
    if (!tu_status(ds_array_extents(a, &e, &s), DS_OK, "ds_array_extents", file, line) ||
        !tu_record(e * s == (int64_t)n, file, line, what)) {
        return 0;
    }
    const float *v = tu_data(a, file, line);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "CHECK_VALUES(%s)[%zu]", name, i);
        ok &= tu_close(v[i], expected[i], tol, what, file, line);
    }
    return ok;
}
#define CHECK_VALUES(a, expected, n, tol) \
    tu_values((a), #a, (expected), (n), (tol), __FILE__, __LINE__)

#endif /* DIFFSTRUC_TEST_UTIL_H */
