/*
 * test_abi.c -- the public header as a C user sees it.
 *
 *   namespace   every macro the header defines is prefixed (DS_, DIFFSTRUC_), so including it
 *               cannot clash with the caller's own names (ALL, SCALAR, FORWARD, ...)
 *   flag masks  ds_array_flags / ds_array_set_flags use bit n-1 for flag DS_FLAG_* number n,
 *               in agreement with ds_array_get_flag / ds_array_set_flag
 */
#include "test_util.h"

/* Fails if the header defined an unprefixed macro (checked by name: C cannot list macros). */
static void check_not_defined(bool defined, const char *name)
{
    if (!CHECK(!defined)) {
        printf("    diffstruc.h defines the unprefixed macro %s\n", name);
    }
}

static void test_namespace(void)
{
#ifdef REQUIRES_GRAD
    check_not_defined(true, "REQUIRES_GRAD");
#endif
#ifdef SAMPLE_DEPENDENT
    check_not_defined(true, "SAMPLE_DEPENDENT");
#endif
#ifdef SCALAR
    check_not_defined(true, "SCALAR");
#endif
#ifdef FORWARD
    check_not_defined(true, "FORWARD");
#endif
#ifdef TEMPORARY
    check_not_defined(true, "TEMPORARY");
#endif
#ifdef RETAIN_GRAD
    check_not_defined(true, "RETAIN_GRAD");
#endif
#ifdef FIXED
    check_not_defined(true, "FIXED");
#endif
#ifdef ALL
    check_not_defined(true, "ALL");
#endif
    check_not_defined(false, "(control)");
}

static void test_flag_masks(void)
{
    static const ds_flag flags[] = {
        DS_FLAG_REQUIRES_GRAD, DS_FLAG_SAMPLE_DEPENDENT, DS_FLAG_SCALAR, DS_FLAG_FORWARD,
        DS_FLAG_TEMPORARY,     DS_FLAG_RETAIN_GRAD,      DS_FLAG_FIXED,
    };
    ds_array *a = NULL;
    CHECK_OK(ds_array_create(NULL, 0, 1, &a));
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        uint32_t bit = 1u << (flags[i] - 1), mask = 0;
        bool value = false;
        /* set_flag shows in the mask... */
        CHECK_OK(ds_array_set_flag(a, flags[i], true));
        CHECK_OK(ds_array_flags(a, &mask));
        CHECK((mask & bit) != 0);
        CHECK_OK(ds_array_set_flag(a, flags[i], false));
        CHECK_OK(ds_array_flags(a, &mask));
        CHECK((mask & bit) == 0);
        /* ...and set_flags shows in get_flag, leaving the other flags alone. */
        uint32_t before = mask;
        CHECK_OK(ds_array_set_flags(a, bit, bit));
        CHECK_OK(ds_array_get_flag(a, flags[i], &value));
        CHECK(value);
        CHECK_OK(ds_array_flags(a, &mask));
        CHECK(mask == (before | bit));
        CHECK_OK(ds_array_set_flags(a, bit, 0));
        CHECK_OK(ds_array_get_flag(a, flags[i], &value));
        CHECK(!value);
    }
    FREE_ALL(a);
    CHECK_NO_LEAKS();
}

int main(void)
{
    test_namespace();
    test_flag_masks();
    return test_summary();
}
