/*
 * test_memory.c -- results that do not fit in memory are errors (DS_ERR_MEMORY), never an abort.
 *
 * 1. Impossible sizes (issue 10, item 1): shape-valid operations whose result needs 64 GiB,
 *    more than this machine has (the test limits the address space to 16 GiB first when the
 *    machine has more than that, so that nothing is actually filled).
 * 2. Under setrlimit(RLIMIT_AS), in a child process (fork): operations, array creation, reverse
 *    and forward mode with the address space nearly full. Each call must return DS_OK or
 *    DS_ERR_MEMORY, a failed differentiation must change no gradient, and the child must exit
 *    normally (the parent checks it was not killed by SIGABRT).
 *
 * Under valgrind (memcheck) both parts are skipped: valgrind needs its own address space.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define CHECK_MEMORY(call, what)                                                                  \
    do {                                                                                          \
        ds_status st_ = (call);                                                                   \
        CHECK_STATUS(st_, DS_ERR_MEMORY);                                                         \
        if (st_ == DS_ERR_MEMORY) {                                                               \
            const char *m_ = ds_last_error();                                                     \
            if (!CHECK(strstr(m_, what) != NULL) || !CHECK(strstr(m_, "bytes") != NULL))          \
                printf("    message: \"%s\"\n", m_);                                              \
        }                                                                                         \
    } while (0)

static bool under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}

static ds_array *filled(const int64_t *shape, size_t rank, int64_t batch, float v, bool grad)
{
    ds_array *a = NULL;
    if (!CHECK_OK(ds_array_full(shape, rank, batch, v, &a)))
        return NULL;
    if (grad)
        CHECK_OK(ds_array_set_flag(a, DS_FLAG_REQUIRES_GRAD, true));
    return a;
}

/* Part 1: the reproducers of the issue. */
static void impossible_sizes(void)
{
    const int64_t n17[] = {1 << 17}, one[] = {1}, col[] = {1 << 17, 1}, row[] = {1, 1 << 17};
    for (int g = 0; g < 2; g++) {
        ds_array *a = filled(n17, 1, 1, 1.0f, g), *b = filled(n17, 1, 1, 2.0f, g);
        ds_array *s = filled(one, 1, 1 << 17, 3.0f, g);
        ds_array *c = filled(col, 2, 1, 1.0f, g), *r = filled(row, 2, 1, 1.0f, g);
        ds_array *out = NULL;
        CHECK_MEMORY(ds_outer_product(a, b, &out), "outer_product ([131072] with batch 1 and "
                                                   "[131072] with batch 1)");
        CHECK_MEMORY(ds_binary(DS_ADD, a, s, &out), "add ([131072] with batch 1 and [1] with "
                                                   "batch 131072)");
        CHECK_MEMORY(ds_binary(DS_MUL, a, s, &out), "multiply");
        CHECK_MEMORY(ds_binary(DS_MAX, s, a, &out), "max");
        CHECK_MEMORY(ds_matmul(c, r, &out), "matmul ([131072, 1] with batch 1 and [1, 131072]");
        CHECK(out == NULL);
        /* the process goes on: a small operation still works */
        CHECK_OK(ds_outer_product(s, s, &out));
        FREE_ALL(out, a, b, s, c, r);
    }
    /* creation: a plain array of 64 GiB */
    const int64_t big[] = {(int64_t)1 << 34};
    ds_array *out = NULL;
    CHECK_MEMORY(ds_array_create(big, 1, 1, &out), "[17179869184] with batch 1");
    CHECK_MEMORY(ds_array_full(big, 1, 1, 1.0f, &out), "[17179869184] with batch 1");
    CHECK(out == NULL);
    CHECK_NO_LEAKS();
}

static size_t address_space_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

static bool limit_address_space(size_t bytes)
{
    struct rlimit rl = {bytes, bytes};
    return setrlimit(RLIMIT_AS, &rl) == 0;
}

/* Fills the address space with arrays of `chunk` values until creation fails, then frees one
 * (so that small allocations keep working). Returns the number kept in `ballast`. */
static size_t fill_memory(ds_array **ballast, size_t max, int64_t chunk)
{
    size_t n = 0;
    while (n < max) {
        ds_array *a = NULL;
        ds_status st = ds_array_create(&chunk, 1, 1, &a);
        if (st != DS_OK) {
            CHECK_STATUS(st, DS_ERR_MEMORY);
            break;
        }
        ballast[n++] = a;
    }
    CHECK(n > 1 && n < max);
    if (n > 0)
        CHECK_OK(ds_array_free(ballast[--n]));
    return n;
}

/* Reverse (mode 0) or forward (mode 1) mode with the address space nearly full: fails with
 * DS_ERR_MEMORY and changes nothing, then succeeds once enough memory is freed. */
static void differentiate_when_full(int mode, int64_t n)
{
    const int64_t shape[] = {n};
    ds_array *x = filled(shape, 1, 1, 0.5f, true);
    ds_array *y = NULL, *z = NULL, *f = NULL;
    CHECK_OK(ds_binary(DS_MUL, x, x, &y));
    CHECK_OK(ds_unary(DS_EXP, y, &z));
    CHECK_OK(ds_sum_all(z, &f));
    ds_array *ballast[4096];
    size_t kept = fill_memory(ballast, 4096, n / 16);
    int failed = 0, succeeded = 0;
    while (!succeeded) {
        ds_array *d = NULL;
        ds_status st = mode == 0 ? ds_grad_reverse(f, NULL, 0) : ds_grad_forward(f, x, &d);
        if (st == DS_OK) {
            succeeded = 1;
            float *g = NULL;
            if (mode == 0) {
                CHECK_OK(ds_array_grad_data(x, &g));
                /* d/dx sum(exp(x^2)) = 2 x exp(x^2) */
                CHECK_CLOSE(g[0], 2 * 0.5 * exp(0.25), 1e-5);
                CHECK_CLOSE(g[n - 1], 2 * 0.5 * exp(0.25), 1e-5);
            } else {
                CHECK_OK(ds_array_data(d, &g));
                CHECK_CLOSE(g[0], n * 2 * 0.5 * exp(0.25), 0.1); /* an f32 sum of 2^24 values */
                CHECK_OK(ds_array_free(d));
            }
        } else {
            CHECK_STATUS(st, DS_ERR_MEMORY);
            const char *m = ds_last_error();
            if (!CHECK(strstr(m, mode == 0 ? "grad_reverse" : "grad_forward") && strstr(m, "bytes")))
                printf("    message: \"%s\"\n", m);
            failed++;
            if (mode == 0) {
                /* all or nothing: no gradient was created or changed */
                ds_array *g = NULL;
                CHECK_OK(ds_array_grad(x, &g));
                CHECK(g == NULL);
                if (g)
                    ds_array_free(g);
            }
            if (kept == 0)
                break;
            CHECK_OK(ds_array_free(ballast[--kept]));
        }
    }
    printf("    %s mode: %d failure(s) before it fitted\n", mode == 0 ? "reverse" : "forward",
           failed);
    CHECK(failed > 0 && succeeded);
    while (kept > 0)
        CHECK_OK(ds_array_free(ballast[--kept]));
    FREE_ALL(x, y, z, f);
    CHECK_NO_LEAKS();
}

/* Part 2, in the child process. */
static void under_limit(void)
{
    size_t limit = address_space_now() + ((size_t)768 << 20);
    if (!CHECK(limit_address_space(limit)))
        return;
    printf("    address space limited to %zu MiB\n", limit >> 20);
    /* operations whose results need more than the limit allows */
    const int64_t n14[] = {1 << 14}, one[] = {1};
    ds_array *a = filled(n14, 1, 1, 1.0f, true), *s = filled(one, 1, 1 << 16, 1.0f, false);
    ds_array *out = NULL;
    CHECK_MEMORY(ds_outer_product(a, a, &out), "outer_product ([16384] with batch 1 and "
                                               "[16384] with batch 1)");
    CHECK_MEMORY(ds_binary(DS_ADD, a, s, &out), "add");
    CHECK(out == NULL);
    FREE_ALL(a, s);
    /* gradients that do not fit next to the graph */
    differentiate_when_full(0, (int64_t)1 << 24);
    differentiate_when_full(1, (int64_t)1 << 24);
}

int main(void)
{
    if (under_valgrind()) {
        printf("under valgrind: the memory-limit tests are skipped\n");
        return test_summary();
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && (double)pages * page > 16.0 * (1 << 30)) {
        /* make sure the 64 GiB results cannot be granted (and then filled) */
        CHECK(limit_address_space((size_t)16 << 30));
    }
    impossible_sizes();

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        under_limit();
        printf("child: ");
        int rc = test_summary();
        fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        printf("child killed by signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return test_summary();
}
