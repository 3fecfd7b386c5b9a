/*
 * test_threads.c -- the thread-safety contract from C, with pthreads:
 *
 *   - independent graphs (matmul, broadcasting, tanh/sigmoid/exp, concat/pack/spread/merge, a
 *     custom operation, reductions) built and differentiated (forward, second order, reverse,
 *     reverse over forward) on several threads at once equal the serial results bit for bit;
 *     every thread also reads one shared constant, which stays untouched;
 *   - ds_last_error() is per thread: threads that fail see their own message, which survives
 *     other threads' failures and their own successful calls; threads that never fail see "";
 *   - one custom operation used by every thread at once (its callbacks run concurrently: the
 *     call counts are exact), and operations created and freed per thread (each destructor runs
 *     once);
 *   - graphs built on one thread are differentiated and freed on another;
 *   - the same handles freed by several threads at once: exactly one free of each succeeds;
 *   - nothing leaks (test_summary checks that no array or handle is alive).
 *
 * The check counters of test_util.h are not thread-safe: workers record failures in their own
 * struct, checked on the main thread after pthread_join. Under valgrind (detected from
 * LD_PRELOAD) fewer iterations run; DS_THREADS_ITERATIONS overrides the count.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

#define THREADS 6
#define SEEDS 4
#define BATCH 3
#define XN (4 * BATCH)

/* ---------------------------------------------------------------------------------------------
 * Per-thread failure records
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    int id;
    int iterations;
    int failures;       /* unexpected statuses or failed checks inside the thread */
    char first[512];    /* the first of them */
    int mismatches;     /* results that differ from the serial run */
    int runs;           /* results compared */
} worker;

static void w_fail(worker *w, int line, const char *what, const char *detail)
{
    if (w->failures++ == 0) {
        snprintf(w->first, sizeof w->first, "line %d: %s (%s)", line, what, detail);
    }
}

static int w_status(worker *w, ds_status got, ds_status want, const char *call, int line)
{
    if (got == want) {
        return 1;
    }
    char detail[400];
    snprintf(detail, sizeof detail, "got %s, ds_last_error() \"%s\"",
             ds_status_name((int32_t)got), ds_last_error());
    w_fail(w, line, call, detail);
    return 0;
}

#define W_OK(w, call) w_status((w), (call), DS_OK, #call, __LINE__)
#define W_STATUS(w, call, want) w_status((w), (call), (want), #call, __LINE__)
#define W_CHECK(w, cond) ((cond) ? 1 : (w_fail((w), __LINE__, #cond, "false"), 0))

/* Deterministic pseudo-random values in [lo, hi]. */
static void fill(float *v, int n, float lo, float hi, unsigned seed)
{
    unsigned long long s = 6364136223846793005ULL * (seed + 1) + 1442695040888963407ULL;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = lo + (hi - lo) * (float)(s >> 40) / (float)(1 << 24);
    }
}

/* ---------------------------------------------------------------------------------------------
 * The custom operation: y = c * x^3, with call counters updated from every thread
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    float c;
    atomic_long jvp_calls, vjp_calls;
    atomic_int destroyed;
} cube_data;

static ds_status cube_jvp(void *user, const ds_array *out, const ds_array *const *inputs,
                          size_t n, size_t k, const ds_array *tangent, ds_array **contribution)
{
    cube_data *d = user;
    ds_array *x2 = NULL, *slope = NULL;
    (void)out;
    atomic_fetch_add(&d->jvp_calls, 1);
    if (n != 1 || k != 0) {
        return DS_ERR_INTERNAL;
    }
    /* 3 c x^2 t, as a graph (differentiable again) */
    ds_status st = ds_binary_scalar(DS_POW, inputs[0], 2.0f, &x2);
    if (st == DS_OK) {
        st = ds_binary_scalar(DS_MUL, x2, 3.0f * d->c, &slope);
    }
    if (st == DS_OK) {
        st = ds_binary(DS_MUL, tangent, slope, contribution);
    }
    ds_array_free(x2);
    ds_array_free(slope);
    return st;
}

static ds_status cube_vjp(void *user, const ds_array *out, const ds_array *const *inputs,
                          size_t n, size_t k, const float *upstream, float *grad,
                          size_t grad_batch)
{
    cube_data *d = user;
    int64_t e = 0, s = 0;
    float *x = NULL;
    (void)out;
    atomic_fetch_add(&d->vjp_calls, 1);
    if (n != 1 || k != 0 || ds_array_extents(inputs[0], &e, &s) != DS_OK ||
        ds_array_data(inputs[0], &x) != DS_OK || (size_t)s != grad_batch) {
        return DS_ERR_INTERNAL;
    }
    for (int64_t i = 0; i < e * s; i++) {
        grad[i] = upstream[i] * 3.0f * d->c * x[i] * x[i];
    }
    return DS_OK;
}

static void cube_destroy(void *user) { atomic_fetch_add(&((cube_data *)user)->destroyed, 1); }

static ds_custom_op *cube_create(worker *w, cube_data *d, float c)
{
    ds_custom_op *op = NULL;
    d->c = c;
    atomic_init(&d->jvp_calls, 0);
    atomic_init(&d->vjp_calls, 0);
    atomic_init(&d->destroyed, 0);
    ds_custom_rules rules = {d, cube_jvp, cube_vjp, cube_destroy};
    W_OK(w, ds_custom_op_create("cube", &rules, &op));
    return op;
}

/* ---------------------------------------------------------------------------------------------
 * The computation
 * ------------------------------------------------------------------------------------------- */

static ds_array *shared_s; /* [4, 4] constant shared by the batch and by every thread */

typedef struct {
    ds_array *x, *w, *b, *loss;
} graph;

/* Every number one run produces; only floats, so memcmp compares them bit for bit. */
typedef struct {
    float loss, d1, d2;
    float gx[XN], gw[20], gb[5];
    float hx[XN]; /* reverse over forward: the Hessian of the loss times x's direction */
} result;

static ds_array *leaf(worker *w, const int64_t *shape, size_t rank, int64_t batch, int n,
                      float lo, float hi, unsigned seed, bool sample_dependent)
{
    float v[XN > 20 ? XN : 20];
    ds_array *a = NULL;
    fill(v, n, lo, hi, seed);
    if (W_OK(w, ds_array_from_data(shape, rank, batch, v, (size_t)n, &a))) {
        W_OK(w, ds_array_set_flag(a, DS_FLAG_REQUIRES_GRAD, true));
        W_OK(w, ds_array_set_flag(a, DS_FLAG_SAMPLE_DEPENDENT, sample_dependent));
    }
    return a;
}

/* loss = sum(k * h) + 0.25 sum(mean over samples 1, 3 of k * h) + mean(sum(e, 1)) where
 * h = tanh(W (S x) + b), e = exp(x / 2), k = cube(merge(pack(concat(sigmoid(h), e)),
 * spread(x))). Returns 1 on success. */
static int build(worker *w, const ds_custom_op *op, const cube_data *cd, unsigned seed,
                 graph *g)
{
    const int64_t s4[1] = {4}, s5[1] = {5}, s54[2] = {5, 4};
    const int64_t pick[5] = {1, 3, 5, 7, 9};
    bool mask[5 * BATCH], keep[BATCH];
    float dir[4], kv[5 * BATCH];
    for (int i = 0; i < 5 * BATCH; i++) {
        mask[i] = i % 3 != 1;
    }
    for (int s = 0; s < BATCH; s++) {
        keep[s] = s % 2 == 0;
    }
    g->x = leaf(w, s4, 1, BATCH, XN, -1.5f, 1.5f, seed, true);
    g->w = leaf(w, s54, 2, 1, 20, -0.8f, 0.8f, seed + 202, false);
    g->b = leaf(w, s5, 1, 1, 5, -0.5f, 0.5f, seed + 303, false);
    g->loss = NULL;
    fill(dir, 4, -1.0f, 1.0f, seed + 101);
    W_OK(w, ds_array_set_direction(g->x, dir, 4));

    ds_array *u = NULL, *a0 = NULL, *a = NULL, *h = NULL, *gs = NULL, *xh = NULL, *e = NULL;
    ds_array *c = NULL, *p = NULL, *sp = NULL, *m = NULL, *k = NULL, *q = NULL, *kept = NULL;
    ds_array *r = NULL, *s1 = NULL, *s2 = NULL, *s2q = NULL, *t = NULL, *se = NULL, *me = NULL;
    int ok = W_OK(w, ds_matmul(shared_s, g->x, &u)) && W_OK(w, ds_matmul(g->w, u, &a0)) &&
             W_OK(w, ds_binary(DS_ADD, a0, g->b, &a)) && W_OK(w, ds_unary(DS_TANH, a, &h)) &&
             W_OK(w, ds_unary(DS_SIGMOID, h, &gs)) &&
             W_OK(w, ds_binary_scalar(DS_MUL, g->x, 0.5f, &xh)) &&
             W_OK(w, ds_unary(DS_EXP, xh, &e)) && W_OK(w, ds_concat(gs, e, 1, &c)) &&
             W_OK(w, ds_pack_indices(c, pick, 5, 1, &p)) &&
             W_OK(w, ds_spread(g->x, 1, 2, 5, &sp)) &&
             W_OK(w, ds_merge(p, sp, mask, 5 * BATCH, &m));
    float *mv = NULL;
    ok = ok && W_OK(w, ds_array_data(m, &mv));
    if (ok) {
        for (int i = 0; i < 5 * BATCH; i++) {
            kv[i] = cd->c * mv[i] * mv[i] * mv[i];
        }
    }
    ok = ok &&
         W_OK(w, ds_custom_apply(op, (const ds_array *const[]){m}, 1, s5, 1, BATCH, kv, &k)) &&
         W_OK(w, ds_binary(DS_MUL, k, h, &q)) &&
         W_OK(w, ds_pack_mask(q, 2, keep, BATCH, &kept)) && W_OK(w, ds_mean(kept, 2, &r)) &&
         W_OK(w, ds_sum_all(q, &s1)) && W_OK(w, ds_sum_all(r, &s2)) &&
         W_OK(w, ds_binary_scalar(DS_MUL, s2, 0.25f, &s2q)) &&
         W_OK(w, ds_binary(DS_ADD, s1, s2q, &t)) && W_OK(w, ds_sum(e, 1, &se)) &&
         W_OK(w, ds_mean_all(se, &me)) && W_OK(w, ds_binary(DS_ADD, t, me, &g->loss));
    /* results keep their inputs alive: the intermediate handles can go */
    ds_array *tmp[] = {u, a0, a, h, gs, xh, e, c, p, sp, m, k, q, kept, r, s1, s2, s2q, t, se, me};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) {
        if (tmp[i]) {
            W_OK(w, ds_array_free(tmp[i]));
        }
    }
    return ok;
}

static int copy_grad(worker *w, const ds_array *a, float *to, int n)
{
    float *gv = NULL;
    if (!W_OK(w, ds_array_grad_data(a, &gv))) {
        return 0;
    }
    memcpy(to, gv, sizeof(float) * (size_t)n);
    return 1;
}

static float first_value(worker *w, const ds_array *a)
{
    float *v = NULL;
    return W_OK(w, ds_array_data(a, &v)) ? v[0] : -1.0f;
}

/* Forward (first and second order), reverse, reverse over forward. Returns 1 on success. */
static int differentiate(worker *w, const graph *g, result *r)
{
    ds_array *d1 = NULL, *d2 = NULL;
    memset(r, 0, sizeof *r);
    int ok = W_OK(w, ds_grad_forward(g->loss, g->x, &d1)) &&
             W_OK(w, ds_grad_forward(d1, g->x, &d2)) && W_OK(w, ds_grad_reverse(g->loss, NULL, 0));
    if (ok) {
        r->loss = first_value(w, g->loss);
        r->d1 = first_value(w, d1);
        r->d2 = first_value(w, d2);
        ok = copy_grad(w, g->x, r->gx, XN) && copy_grad(w, g->w, r->gw, 20) &&
             copy_grad(w, g->b, r->gb, 5) && W_OK(w, ds_zero_grad(g->x)) &&
             W_OK(w, ds_grad_reverse(d1, NULL, 0)) && copy_grad(w, g->x, r->hx, XN);
    }
    if (d1) {
        W_OK(w, ds_array_free(d1));
    }
    if (d2) {
        W_OK(w, ds_array_free(d2));
    }
    return ok;
}

static void free_graph(worker *w, graph *g)
{
    ds_array *hs[] = {g->x, g->w, g->b, g->loss};
    for (int i = 0; i < 4; i++) {
        if (hs[i]) {
            W_OK(w, ds_array_free(hs[i]));
        }
    }
    memset(g, 0, sizeof *g);
}

static unsigned seed_of(int thread, int k) { return 1000u * (unsigned)thread + (unsigned)k; }

/* ---------------------------------------------------------------------------------------------
 * Test 1: concurrent independent graphs; last error per thread; custom operations
 * ------------------------------------------------------------------------------------------- */

static result reference[THREADS][SEEDS];
static ds_custom_op *shared_op;
static cube_data shared_cube;
static pthread_barrier_t start_line;

static int compute(worker *w, const ds_custom_op *op, const cube_data *cd, unsigned seed,
                   result *r)
{
    graph g;
    int ok = build(w, op, cd, seed, &g) && differentiate(w, &g, r);
    free_graph(w, &g);
    return ok;
}

/* Odd threads fail on purpose every iteration; even threads never fail. */
static void *concurrent_worker(void *arg)
{
    worker *w = arg;
    char expected[160];
    /* a shape error naming this thread's own extents */
    snprintf(expected, sizeof expected,
             "add: shapes do not conform: [%d] with batch 1 and [%d] with batch 1", w->id + 2,
             w->id + 3);
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < w->iterations; i++) {
        const char *before = NULL;
        if (w->id % 2 == 1) {
            ds_array *a = NULL, *b = NULL, *c = NULL;
            W_OK(w, ds_array_full((int64_t[]){w->id + 2}, 1, 1, 1.0f, &a));
            W_OK(w, ds_array_full((int64_t[]){w->id + 3}, 1, 1, 1.0f, &b));
            W_STATUS(w, ds_binary(DS_ADD, a, b, &c), DS_ERR_SHAPE);
            W_CHECK(w, c == NULL);
            W_CHECK(w, strcmp(ds_last_error(), expected) == 0);
            before = ds_last_error();
            W_OK(w, ds_array_free(a));
            W_OK(w, ds_array_free(b));
        }

        /* every fourth iteration with an operation of this thread's own */
        int k = (i + w->id) % SEEDS;
        result r;
        if (i % 4 == 3) {
            cube_data own;
            ds_custom_op *op = cube_create(w, &own, shared_cube.c);
            graph g;
            int ok = build(w, op, &own, seed_of(w->id, k), &g);
            W_OK(w, ds_custom_op_free(op));
            W_CHECK(w, atomic_load(&own.destroyed) == 0); /* the graph still uses it */
            ok = ok && differentiate(w, &g, &r);
            free_graph(w, &g);
            W_CHECK(w, atomic_load(&own.destroyed) == 1);
            W_CHECK(w, atomic_load(&own.jvp_calls) > 0 && atomic_load(&own.vjp_calls) > 0);
            w->mismatches += !ok || memcmp(&r, &reference[w->id][k], sizeof r) != 0;
        } else {
            int ok = compute(w, shared_op, &shared_cube, seed_of(w->id, k), &r);
            w->mismatches += !ok || memcmp(&r, &reference[w->id][k], sizeof r) != 0;
        }
        w->runs++;

        if (w->id % 2 == 1) {
            /* successful calls and other threads' failures left this thread's message alone */
            W_CHECK(w, ds_last_error() == before && strcmp(before, expected) == 0);
            char mine[64];
            snprintf(mine, sizeof mine, "thread %d iteration %d", w->id, i);
            ds_set_last_error(mine);
            W_CHECK(w, strcmp(ds_last_error(), mine) == 0);
        } else {
            W_CHECK(w, strcmp(ds_last_error(), "") == 0);
        }
    }
    return NULL;
}

static int iterations(int native, int under_valgrind)
{
    const char *n = getenv("DS_THREADS_ITERATIONS");
    if (n && atoi(n) > 0) {
        return atoi(n);
    }
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload") ? under_valgrind : native;
}

static void check_worker(const worker *w)
{
    if (!CHECK(w->failures == 0)) {
        printf("    thread %d: %d failures, the first: %s\n", w->id, w->failures, w->first);
    }
    if (!CHECK(w->mismatches == 0)) {
        printf("    thread %d: %d of %d results differ from the serial run\n", w->id,
               w->mismatches, w->runs);
    }
    CHECK(w->runs == w->iterations);
}

static void test_concurrent_graphs(void)
{
    worker main_w = {.id = -1};
    pthread_t tid[THREADS];
    worker ws[THREADS];
    int n = iterations(1000, 40);

    /* serial reference on this thread, which also counts the custom rules' calls per run */
    for (int t = 0; t < THREADS; t++) {
        for (int k = 0; k < SEEDS; k++) {
            CHECK(compute(&main_w, shared_op, &shared_cube, seed_of(t, k), &reference[t][k]));
        }
    }
    if (!CHECK(main_w.failures == 0)) {
        printf("    serial run: %s\n", main_w.first);
    }
    long runs = THREADS * SEEDS;
    long jvp_serial = atomic_load(&shared_cube.jvp_calls);
    long vjp_serial = atomic_load(&shared_cube.vjp_calls);
    CHECK(jvp_serial > 0 && jvp_serial % runs == 0);
    CHECK(vjp_serial > 0 && vjp_serial % runs == 0);
    /* different inputs give different numbers, so the comparisons below can fail */
    CHECK(memcmp(&reference[0][0], &reference[0][1], sizeof(result)) != 0);
    CHECK(memcmp(&reference[0][0], &reference[1][0], sizeof(result)) != 0);
    CHECK(reference[0][0].hx[0] != 0.0f && reference[0][0].d2 != 0.0f);

    float s_before[16];
    memcpy(s_before, data_of(shared_s), sizeof s_before);

    pthread_barrier_init(&start_line, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        ws[t] = (worker){.id = t, .iterations = n};
        CHECK(pthread_create(&tid[t], NULL, concurrent_worker, &ws[t]) == 0);
    }
    long shared_runs = 0;
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(tid[t], NULL) == 0);
        check_worker(&ws[t]);
        for (int i = 0; i < n; i++) {
            shared_runs += i % 4 != 3;
        }
    }
    pthread_barrier_destroy(&start_line);

    /* the shared operation's rules ran exactly as often as in serial runs */
    CHECK(atomic_load(&shared_cube.jvp_calls) - jvp_serial == jvp_serial / runs * shared_runs);
    CHECK(atomic_load(&shared_cube.vjp_calls) - vjp_serial == vjp_serial / runs * shared_runs);
    CHECK(atomic_load(&shared_cube.destroyed) == 0);

    /* the shared constant was only read */
    CHECK(memcmp(s_before, data_of(shared_s), sizeof s_before) == 0);
    bool has_grad = true;
    ds_array *sg = NULL;
    CHECK_OK(ds_array_get_flag(shared_s, DS_FLAG_REQUIRES_GRAD, &has_grad));
    CHECK(!has_grad);
    CHECK_OK(ds_array_grad(shared_s, &sg));
    CHECK(sg == NULL);
    /* this thread never failed since the serial run */
    CHECK(strcmp(ds_last_error(), "") == 0);
}

/* ---------------------------------------------------------------------------------------------
 * Test 2: graphs built on one thread, differentiated and freed on another
 * ------------------------------------------------------------------------------------------- */

static graph handoff[THREADS];

static void *builder(void *arg)
{
    worker *w = arg;
    build(w, shared_op, &shared_cube, seed_of(w->id, 2), &handoff[w->id]);
    return NULL;
}

static void *consumer(void *arg)
{
    worker *w = arg;
    int from = (w->id + 1) % THREADS;
    result r;
    int ok = differentiate(w, &handoff[from], &r);
    w->mismatches += !ok || memcmp(&r, &reference[from][2], sizeof r) != 0;
    w->runs++;
    free_graph(w, &handoff[from]);
    return NULL;
}

static void test_handoff(void)
{
    pthread_t tid[THREADS];
    worker ws[THREADS];
    for (int t = 0; t < THREADS; t++) {
        ws[t] = (worker){.id = t, .iterations = 1};
        CHECK(pthread_create(&tid[t], NULL, builder, &ws[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(tid[t], NULL) == 0);
        CHECK(handoff[t].loss != NULL);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_create(&tid[t], NULL, consumer, &ws[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(tid[t], NULL) == 0);
        check_worker(&ws[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(handoff[t].x == NULL && handoff[t].loss == NULL); /* freed by its consumer */
    }
}

/* ---------------------------------------------------------------------------------------------
 * Test 3: racing frees of the same handles: exactly one free of each succeeds
 * ------------------------------------------------------------------------------------------- */

#define RACED 64

static ds_array *raced[RACED];

typedef struct {
    worker w;
    int freed[RACED];
} racer;

static void *free_all(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < RACED; i++) {
        /* start at different handles so that the threads collide on each one in turn */
        int j = (i + r->w.id * 7) % RACED;
        ds_status st = ds_array_free(raced[j]);
        if (st == DS_OK) {
            r->freed[j]++;
        } else {
            W_STATUS(&r->w, st, DS_ERR_HANDLE);
        }
    }
    return NULL;
}

static void test_racing_frees(void)
{
    pthread_t tid[THREADS];
    racer rs[THREADS];
    ds_array *x = NULL;
    CHECK_OK(ds_array_full((int64_t[]){3}, 1, 2, 1.5f, &x));
    for (int i = 0; i < RACED; i++) {
        CHECK_OK(ds_array_share(x, &raced[i])); /* 64 handles to one array */
    }
    CHECK_OK(ds_array_free(x));
    pthread_barrier_init(&start_line, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        memset(&rs[t], 0, sizeof rs[t]);
        rs[t].w.id = t;
        CHECK(pthread_create(&tid[t], NULL, free_all, &rs[t]) == 0);
    }
    int total[RACED] = {0};
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(tid[t], NULL) == 0);
        if (!CHECK(rs[t].w.failures == 0)) {
            printf("    thread %d: %s\n", t, rs[t].w.first);
        }
        for (int i = 0; i < RACED; i++) {
            total[i] += rs[t].freed[i];
        }
    }
    pthread_barrier_destroy(&start_line);
    int exactly_once = 0;
    for (int i = 0; i < RACED; i++) {
        exactly_once += total[i] == 1;
    }
    CHECK(exactly_once == RACED);
    CHECK(ds_live_arrays() == 0 && ds_live_handles() == 0);
}

int main(void)
{
    worker main_w = {.id = -1};
    CHECK(strcmp(ds_last_error(), "") == 0);
    float s_vals[16];
    fill(s_vals, 16, -1.0f, 1.0f, 7);
    const int64_t s44[2] = {4, 4};
    shared_s = new_array(s44, 2, 1, s_vals, 16, false);
    CHECK_OK(ds_array_set_flag(shared_s, DS_FLAG_SAMPLE_DEPENDENT, false));
    shared_op = cube_create(&main_w, &shared_cube, 0.5f);
    CHECK(main_w.failures == 0 && shared_op != NULL);

    test_concurrent_graphs();
    test_handoff();

    /* the shared operation's user data goes when the operation and every array using it do */
    CHECK_OK(ds_custom_op_free(shared_op));
    CHECK(atomic_load(&shared_cube.destroyed) == 1);
    CHECK_OK(ds_array_free(shared_s));

    test_racing_frees();
    return test_summary();
}
