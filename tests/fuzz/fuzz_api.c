/*
 * fuzz_api.c -- a fuzz target for the diffstruc C ABI.
 *
 * The input bytes are a program. Each step reads an opcode byte and then the bytes of its
 * parameters, and makes one C ABI call (occasionally two, e.g. a query then the call). The
 * program works on a small pool of handle slots; a handle argument can be a live handle, a freed
 * (stale) one, NULL, or an invented pointer value that the library never returned. Parameters
 * are mostly plausible (extents 1-6, batch 1-4, dims 1-2, positions 1-9, valid operation codes)
 * and sometimes not (zero, negative, INT64_MAX and friends, invalid codes, wrong lengths, NULL
 * pointers, NaN and infinities).
 *
 * After every call the target checks the C API contract (README.md, "C API conventions"):
 *   - the status is a known ds_status, and never DS_ERR_INTERNAL (a caught panic is a bug);
 *   - the status is one the arguments allow: an argument known to be bad (NULL, a stale or
 *     invented handle, a negative position, an unknown code, a wrong length...) must make the
 *     call fail with the status documented for it, and a call with good arguments must succeed
 *     where the API promises it (creation, element-wise operations, broadcasting rules...);
 *   - on failure ds_last_error() is a non-empty string and outputs are left untouched; on
 *     success outputs are written (a new, live handle; a text of the announced length; ...);
 *   - the number of live handles equals the number the program holds;
 *   - custom-operation callbacks receive what the header promises (live handles, k < n,
 *     grad_batch = S_k, or S_out when S_k = 1), and each user-data destructor runs exactly once.
 * At the end of the input every live handle and custom operation is freed in an order taken
 * from the data, and ds_live_arrays() and ds_live_handles() must both be 0.
 * A violated check prints what happened and calls abort(), so that libFuzzer, the sanitizers,
 * valgrind or ctest report it.
 *
 * Lengths given with caller buffers are always honest (the buffer holds at least that many
 * elements): the target tests the library, not C's ability to read out of bounds. Sizes stay
 * small so that each input runs in milliseconds.
 *
 * Builds:
 *   libFuzzer:   clang -fsanitize=fuzzer,address,undefined fuzz_api.c -ldiffstruc ...
 *   standalone:  cc -DFUZZ_STANDALONE fuzz_api.c ...   (see main() at the end and README.md)
 *
 * Environment (to look past known, unfixed bugs during a campaign, and to debug):
 *   FUZZ_SKIP_OPS=SPREAD,SET_CUSTOM    opcodes (names as in OPCODES) not to run;
 *   FUZZ_ALLOW=GRAD_FORWARD:SHAPE,...  (opcode, status) pairs reported but not fatal ('*' for
 *                                      any opcode); FUZZ_ALLOW_INTERNAL=1 means *:INTERNAL;
 *   FUZZ_TRACE=1                       prints every call to stderr (standalone: --trace).
 */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffstruc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------------------------------------ */
/* Limits                                                                                     */
/* ------------------------------------------------------------------------------------------ */

#define NSLOTS 16          /* handle slots the program addresses */
#define MAXENT 1024        /* handles created by one input (later creations are skipped) */
#define NCOPS 16           /* custom operations created by one input */
#define CAP 65536          /* values in the largest array an operation may be asked to make */
#define OPERAND_CAP 8192   /* operands larger than this are not used to build new arrays */
#define LIVE_SOFT 20000    /* above this many live nodes, graph-growing calls are skipped */
#define WRAP_REGIONS 32    /* caller buffers for ds_array_wrap, one per wrapped array */
#define WRAP_REGION 1024   /* floats in each */
#define MAX_STEPS 4000     /* steps per input */
#define MAX_PRINTS 8       /* ds_graph_print calls per input (a DAG printed as a tree is big) */
#define MAX_FORWARD 12     /* ds_grad_forward calls per input (each one can triple a graph) */
#define NSTATUS 10

/* ------------------------------------------------------------------------------------------ */
/* Opcodes                                                                                    */
/* ------------------------------------------------------------------------------------------ */

#define OPCODES(X)                                                                            \
    X(CREATE) X(FULL) X(FROM_DATA) X(WRAP) X(SHARE) X(COPY) X(FREE) X(SHAPE) X(EXTENTS)       \
    X(DATA) X(GRAD_DATA) X(GRAD) X(GET_FLAG) X(SET_FLAG) X(FLAGS) X(SET_FLAGS)                \
    X(SET_DIRECTION) X(CLEAR_DIRECTION) X(SAME) X(UNARY) X(BINARY) X(BINARY_SCALAR)           \
    X(SCALAR_BINARY) X(BINARY_REAL1D) X(BINARY_REAL2D) X(REAL2D_BINARY) X(GAUSSIAN) X(SIGN)   \
    X(SUM) X(MEAN) X(SUM_ALL) X(MEAN_ALL) X(MATMUL) X(MATMUL_REAL2D) X(REAL2D_MATMUL) X(DOT)  \
    X(OUTER) X(TRANSPOSE) X(SPREAD) X(UNSPREAD) X(SUM_PAD) X(CONCAT) X(SLICE) X(INDEX)        \
    X(REVERSE_INDEX) X(PACK_MASK) X(PACK_INDICES) X(UNPACK_MASK) X(UNPACK_INDICES)            \
    X(RESHAPE) X(MERGE) X(MERGE_SCALAR) X(SCALAR_MERGE) X(MERGE_REAL2D) X(GRAD_FORWARD)       \
    X(GRAD_REVERSE) X(ZERO_GRAD) X(NULLIFY) X(DUPLICATE) X(DETACH) X(ID) X(SET_ID)            \
    X(FIND_ID) X(GRAPH_PRINT) X(OPERATION) X(SET_OPERATION) X(NUM_INPUTS) X(INPUT)            \
    X(ZERO_ALL_GRADS) X(CUSTOM_CREATE) X(CUSTOM_FREE) X(CUSTOM_APPLY) X(SET_CUSTOM) X(ADOPT)  \
    X(IS_LIVE) X(CLAIM) X(ERRORS) X(LIVE_COUNTS) X(MOVE_SLOT) X(DATA_MUT) X(MARK_WRITTEN)       \
    X(VERSION)

#define AS_ENUM(n) OP_##n,
#define AS_NAME(n) #n,
enum { OPCODES(AS_ENUM) NUM_OPS };
static const char *const op_names[NUM_OPS] = {OPCODES(AS_NAME)};

/* Statistics, read by the standalone driver. */
static uint64_t stat_calls[NUM_OPS][NSTATUS];  /* calls by opcode and status, all inputs */
static uint64_t stat_skipped;                  /* steps skipped by the size governors */
static uint8_t run_features[NUM_OPS][NSTATUS]; /* (opcode, status) pairs seen in this input */

/* ------------------------------------------------------------------------------------------ */
/* Failure reporting and tracing                                                              */
/* ------------------------------------------------------------------------------------------ */

static int g_trace = -1;          /* -1: not read from the environment yet */
static bool op_disabled[NUM_OPS]; /* FUZZ_SKIP_OPS: opcodes not run (known, unfixed bugs) */
static bool op_allowed[NUM_OPS][NSTATUS]; /* FUZZ_ALLOW: (opcode, status) reported, not fatal */
static int g_allow_internal = -1;
static int g_cur_op = -1;
static size_t g_step;
static char g_call[512];          /* description of the current call, for messages */

static void (*g_fail_hook)(void); /* the standalone driver saves the input here */
static volatile int g_failing;    /* a check failed: the abort() that follows is ours */

static void fail(const char *fmt, ...)
{
    va_list ap;
    g_failing = 1;
    fflush(stdout);
    fprintf(stderr, "\nfuzz_api: CHECK FAILED at step %zu (%s): ", g_step,
            g_cur_op >= 0 ? op_names[g_cur_op] : "cleanup");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  call: %s\n  ds_last_error(): \"%s\"\n", g_call, ds_last_error());
    fprintf(stderr, "  (replay the input with FUZZ_TRACE=1 or --trace to see every call)\n");
    if (g_fail_hook) {
        g_fail_hook();
    }
    abort();
}

#define CALL(...) snprintf(g_call, sizeof g_call, __VA_ARGS__)
#define OUTS(dst) ((dst) < 0 ? "NULL" : "&out")

static const char *sname(ds_status st)
{
    return ds_status_name((int32_t)st);
}

/* ------------------------------------------------------------------------------------------ */
/* Input reader                                                                               */
/* ------------------------------------------------------------------------------------------ */

static const uint8_t *in_p;
static size_t in_n, in_i;

static uint8_t rd8(void)
{
    return in_i < in_n ? in_p[in_i++] : 0;
}

static bool rdbool(void)
{
    return rd8() & 1;
}

/* Special values. Sizes that may be allocated are either small, zero or negative, or at least
 * 2^61 (more than the library accepts), never "large but allowed" (which would only test the
 * machine's memory). Positions (bounds-checked, never allocated) also get 2^32-ish values that
 * would alias small ones if truncated to 32 bits. */
static const int64_t ext_specials[16] = {
    0, -1, -5, 7, 8, 0, INT64_MAX, INT64_MIN, INT64_C(1) << 61, INT64_C(1) << 62,
    (INT64_C(1) << 62) + 1, /* 4 * (2^62 + 1) wraps to 4 in unchecked 64-bit arithmetic */
    INT64_MAX - 1, -(INT64_C(1) << 32), (INT64_C(1) << 61) + 3, -2, INT64_C(3) << 61};

static const int64_t pos_specials[16] = {
    -1, -2, INT64_MIN, INT64_MAX, INT64_C(1) << 32, (INT64_C(1) << 32) + 1, INT64_C(1) << 31,
    INT64_C(1) << 62, 4294967295, 65536, 255, 256, 1000000, -(INT64_C(1) << 32),
    INT64_C(1) << 61, INT64_MAX - 1};

static const int64_t size_specials[16] = {
    -1, INT64_MIN, INT64_MAX, INT64_C(1) << 61, INT64_C(1) << 62, -(INT64_C(1) << 32),
    INT64_MAX - 7, 0, -2, (INT64_C(1) << 62) + 1, INT64_C(3) << 61, -(INT64_C(1) << 62),
    (INT64_C(1) << 61) + 1, 0, INT64_MIN / 2, -3};

static const int32_t dim_specials[8] = {0, 3, -1, INT32_MAX, INT32_MIN, 255, 65536, 4};

static float fspecial(unsigned i)
{
    static const float tiny = 1e-45f; /* denormal */
    switch (i % 16) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return 1.0f;
    case 3: return -1.0f;
    case 4: return NAN;
    case 5: return -NAN;
    case 6: return INFINITY;
    case 7: return -INFINITY;
    case 8: return FLT_MAX;
    case 9: return -FLT_MAX;
    case 10: return FLT_MIN;
    case 11: return tiny;
    case 12: return 1e30f;
    case 13: return -1e30f;
    case 14: return 0.5f;
    default: return 100.0f;
    }
}

static float rd_float(void)
{
    uint8_t b = rd8();
    if (b < 208) {
        return ((int)b - 104) / 16.0f;
    }
    return fspecial(b - 208u);
}

static int64_t rd_ext(void) /* an extent or batch size: 1..6 mostly */
{
    uint8_t b = rd8();
    return b < 232 ? 1 + b % 6 : ext_specials[b % 16];
}

static int64_t rd_batch(void)
{
    uint8_t b = rd8();
    return b < 232 ? 1 + b % 4 : ext_specials[b % 16];
}

static int64_t rd_pos(void) /* a 1-based position: 0..9 mostly */
{
    uint8_t b = rd8();
    return b < 224 ? b % 10 : pos_specials[b % 16];
}

static int64_t rd_size(void) /* a count or new size: 0..8 mostly */
{
    uint8_t b = rd8();
    return b < 224 ? b % 9 : size_specials[b % 16];
}

static int32_t rd_dim(void)
{
    uint8_t b = rd8();
    return b < 216 ? 1 + (b & 1) : dim_specials[b % 8];
}

/* ------------------------------------------------------------------------------------------ */
/* Buffers (static: every length passed with them is at most their size)                     */
/* ------------------------------------------------------------------------------------------ */

#define FBUF 65536
static float fbuf[FBUF];      /* values, seeds, directions, real operands */
static uint8_t mbuf[FBUF];    /* masks (read by the library as bytes) */
static int64_t ibuf[16];      /* indices and shapes */
static char tbuf[65536];      /* texts */
static float wrap_arena[WRAP_REGIONS][WRAP_REGION];
static int wrap_next;

/* n floats into fbuf: a pseudo-random pattern from two bytes, with NaN/Inf sometimes. */
static float *fill_floats(size_t n)
{
    uint32_t x = rd8() * 2654435761u + 1;
    uint8_t mode = rd8();
    if (n > FBUF) {
        n = FBUF;
    }
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        float v = ((int)((x >> 16) & 0xff) - 128) / 32.0f;
        if (mode >= 224 && i % 7 == mode % 7u) {
            v = fspecial(x >> 8);
        }
        fbuf[i] = v;
    }
    return fbuf;
}

static uint8_t *fill_mask(size_t n)
{
    uint32_t x = rd8() * 2246822519u + 7;
    uint8_t mode = rd8();
    if (n > FBUF) {
        n = FBUF;
    }
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        uint8_t v = (x >> 16) & 1;
        if (mode >= 240 && v) {
            v = (uint8_t)(x >> 24) | 1; /* any non-zero byte is true */
        } else if (mode < 16) {
            v = mode & 1; /* all false or all true */
        }
        mbuf[i] = v;
    }
    return mbuf;
}

/* ------------------------------------------------------------------------------------------ */
/* Handles                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    ds_array *h;
    bool live;
    bool claimed;  /* claimed by ds_array_adopt or ds_array_claim */
} ent_t;

static ent_t ents[MAXENT];
static int nents;
static int nlive;            /* live handles the program holds: must equal ds_live_handles() */
static int slots[NSLOTS];    /* entry index, or -1 */

/* Adoption boxes: the "caller object" of entry i is &boxes[i]. */
typedef struct {
    int ent;
} box_t;
static box_t boxes[MAXENT];
static box_t dummy_box = {-1};

typedef enum { H_VALID, H_NULL, H_STALE, H_INVENTED } hkind;
typedef struct {
    ds_array *h;
    hkind k;
    int ent; /* entry index for H_VALID and H_STALE */
} href;

/* Values that are never live handles: a handle encodes (generation << 32) | (slot + 1) with a
 * generation >= 1 and far fewer than 2^24 slots. */
static const uintptr_t invented_values[15] = {
    0x1, 0x2, 0x7, 0x8, 0xdeadbeef, 0xffffffff, 0x100000000u, 0xffffffff00000000u,
    0x7fffffff00000000u, 0xfffffffffffffff0u, 0x00000005fffffff0u, 0x0000000100f00000u,
    0x5e5e5e5e5e5e5e5eu, 0x00000001ff000001u, 0xffffffffffffffffu};

static uintptr_t invented_pointer(unsigned i)
{
    i %= 16;
    if (i < 15) {
        return invented_values[i];
    }
    /* the address of a real object: its low 32 bits name a slot, made out of range */
    return ((uintptr_t)(void *)&dummy_box) | 0xff000000u;
}

static char *hname(href r)
{
    static char buf[8][40];
    static int k;
    char *s = buf[k++ % 8];
    switch (r.k) {
    case H_VALID: snprintf(s, 40, "h%d", r.ent); break;
    case H_STALE: snprintf(s, 40, "h%d(freed)", r.ent); break;
    case H_NULL: snprintf(s, 40, "NULL"); break;
    default: snprintf(s, 40, "invented(%#" PRIxPTR ")", (uintptr_t)r.h); break;
    }
    return s;
}

static href ref_of_ent(int e)
{
    href r = {ents[e].h, ents[e].live ? H_VALID : H_STALE, e};
    return r;
}

static href pick(void)
{
    uint8_t b = rd8();
    href r = {NULL, H_NULL, -1};
    if (b < 192) {
        int e = slots[b % NSLOTS];
        if (e < 0 && nents > 0) {
            e = nents - 1 - (b / NSLOTS) % (nents < 4 ? nents : 4); /* empty: a recent one */
        }
        if (e >= 0) {
            r = ref_of_ent(e);
        }
    } else if (b < 208) {
        /* NULL */
    } else if (b < 224) {
        int e = nents - 1 - (b - 208);
        if (e >= 0) {
            r = ref_of_ent(e);
        }
    } else if (b < 240) {
        /* the k-th most recently created handle that is no longer live */
        int k = b - 224;
        for (int e = nents - 1; e >= 0; e--) {
            if (!ents[e].live && k-- == 0) {
                r = ref_of_ent(e);
                break;
            }
        }
        if (r.k == H_NULL) {
            r.h = (ds_array *)invented_pointer(b);
            r.k = H_INVENTED;
        }
    } else {
        r.h = (ds_array *)invented_pointer(b);
        r.k = H_INVENTED;
    }
    return r;
}

/* The destination of a new handle: a slot, or -1 for a NULL `out` pointer. */
static int rd_dst(void)
{
    uint8_t b = rd8();
    return b >= 248 ? -1 : b % NSLOTS;
}

#define SENTINEL ((ds_array *)(uintptr_t)0x5e5e5e5e5e5e5e5eu)

static bool room(void)
{
    return nents < MAXENT;
}

static int add_entry(ds_array *h)
{
    int e = nents++;
    ents[e].h = h;
    ents[e].live = true;
    ents[e].claimed = false;
    boxes[e].ent = e;
    nlive++;
    return e;
}

static bool is_live_h(const ds_array *h)
{
    bool live = false;
    ds_status st = ds_array_is_live(h, &live);
    if (st != DS_OK) {
        fail("ds_array_is_live returned %s", sname(st));
    }
    return live;
}

/* E and S of a valid handle (0 otherwise). */
static bool extents(href r, int64_t *e, int64_t *s)
{
    *e = *s = 0;
    if (r.k != H_VALID) {
        return false;
    }
    ds_status st = ds_array_extents(r.h, e, s);
    if (st != DS_OK || *e < 1 || *s < 1 || *e > INT64_C(1) << 40 || *s > INT64_C(1) << 40) {
        fail("ds_array_extents(%s) on a live handle: %s, E=%" PRId64 " S=%" PRId64, hname(r),
             sname(st), *e, *s);
    }
    return true;
}

static int64_t count_of(href r)
{
    int64_t e, s;
    return extents(r, &e, &s) ? e * s : 0;
}

static bool too_big(href r)
{
    return count_of(r) > OPERAND_CAP;
}

static bool requires_grad(href r)
{
    bool v = false;
    if (r.k == H_VALID && ds_array_get_flag(r.h, DS_FLAG_REQUIRES_GRAD, &v) != DS_OK) {
        fail("ds_array_get_flag on a live handle failed");
    }
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Expected statuses                                                                          */
/* ------------------------------------------------------------------------------------------ */

#define M(s) (1u << (s))
#define M_ANY_ERR (M(DS_ERR_SHAPE) | M(DS_ERR_ARGUMENT))

/* `bad`: statuses called for by arguments known to be bad (any of them may be reported, in any
 * order of checks); `ok`: statuses allowed when no argument is known to be bad. */
typedef struct {
    unsigned bad, ok;
} expect_t;

static expect_t expect(unsigned ok)
{
    expect_t x = {0, ok};
    return x;
}

static void bad_if(expect_t *x, bool cond, ds_status st)
{
    if (cond) {
        x->bad |= M(st);
    }
}

static void bad_handle(expect_t *x, href r)
{
    if (r.k == H_NULL) {
        x->bad |= M(DS_ERR_NULL);
    } else if (r.k != H_VALID) {
        x->bad |= M(DS_ERR_HANDLE);
    }
}

/* Extra statuses allowed for calls that may run custom-operation callbacks which fail on
 * purpose (set when such an operation has been applied in this input). */
static unsigned callback_statuses;

static void record(ds_status st)
{
    unsigned s = (unsigned)st < NSTATUS ? (unsigned)st : NSTATUS - 1;
    stat_calls[g_cur_op][s]++;
    run_features[g_cur_op][s] = 1;
}

static void trace_result(ds_status st)
{
    if (g_trace > 0) {
        fprintf(stderr, "[%zu] %s -> %s\n", g_step, g_call, sname(st));
    }
}

/* The checks common to every status-returning call. */
static void check(ds_status st, expect_t x)
{
    unsigned s = (unsigned)st;
    trace_result(st);
    if (s >= NSTATUS) {
        fail("unknown status %d", (int)st);
    }
    record(st);
    unsigned allowed = x.bad ? x.bad : x.ok;
    bool expected = st != DS_ERR_INTERNAL && (allowed & M(s));
    bool tolerated = !expected && op_allowed[g_cur_op][s]; /* FUZZ_ALLOW */
    if (tolerated) {
        fprintf(stderr, "fuzz_api: %s (allowed): %s: %s\n", sname(st), g_call, ds_last_error());
    } else if (st == DS_ERR_INTERNAL) {
        fail("DS_ERR_INTERNAL (a caught panic: a library bug)");
    }
    if (st != DS_OK) {
        const char *msg = ds_last_error();
        if (msg == NULL) {
            fail("ds_last_error() is NULL after %s", sname(st));
        }
        if (msg[0] == '\0') {
            fail("ds_last_error() is empty after %s", sname(st));
        }
    }
    if (!expected && !tolerated) {
        char want[160] = "";
        for (unsigned i = 0; i < NSTATUS; i++) {
            if (allowed & M(i)) {
                strcat(want, " ");
                strcat(want, ds_status_name((int32_t)i));
            }
        }
        fail("status %s, expected one of:%s", sname(st), want);
    }
}

/* For calls that return a new handle in *out (out_ptr NULL when the program passed NULL). */
static void check_out(ds_status st, expect_t x, ds_array *out, int dst, bool may_be_null)
{
    check(st, x);
    if (dst < 0) {
        return;
    }
    if (st != DS_OK) {
        if (out != SENTINEL) {
            fail("*out was written (%p) although the call failed", (void *)out);
        }
        return;
    }
    if (out == SENTINEL) {
        fail("*out was not written although the call succeeded");
    }
    if (out == NULL) {
        if (!may_be_null) {
            fail("*out is NULL after DS_OK");
        }
        return;
    }
    if (!is_live_h(out)) {
        fail("*out = %p is not a live handle", (void *)out);
    }
    for (int e = 0; e < nents; e++) {
        if (ents[e].live && ents[e].h == out) {
            fail("*out = %p is the live handle h%d again", (void *)out, e);
        }
    }
    if (!room()) {
        fail("internal: no room for a new handle (the program should have skipped the call)");
    }
    slots[dst] = add_entry(out);
}

static void check_counts(void)
{
    size_t handles = ds_live_handles();
    if (handles != (size_t)nlive) {
        fail("ds_live_handles() = %zu, the program holds %d live handles", handles, nlive);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Custom operations                                                                          */
/* ------------------------------------------------------------------------------------------ */

enum {
    V_SCALE,      /* out = 2 * input; jvp 2 * tangent, vjp 2 * upstream */
    V_SUMALL,     /* jvp sum_all(tangent) (broadcasts to anything), vjp sum of upstream */
    V_NORULES,    /* no jvp, no vjp */
    V_FAILS,      /* both rules fail with a message */
    V_ZERO,       /* jvp: NULL contribution; vjp: zeros */
    V_STALE,      /* jvp returns a freed handle */
    V_WRONGSHAPE, /* jvp returns an array of unrelated extents */
    V_NODESTROY,  /* like V_SCALE, without a destructor */
    NVARIANTS
};
static const char *const variant_names[NVARIANTS] = {
    "scale", "sumall", "norules", "fails", "zero", "stale", "wrongshape", "nodestroy"};

typedef struct {
    int variant;
    int destroyed;
} oprec_t;

static oprec_t oprecs[NCOPS];
static struct {
    ds_custom_op *p;
    bool live;
} cops[NCOPS];
static int ncops;

static void check_callback_args(const ds_array *out, const ds_array *const *inputs, size_t n,
                                size_t k)
{
    if (out == NULL || inputs == NULL || n == 0 || k >= n) {
        fail("custom callback called with out=%p inputs=%p n=%zu k=%zu", (const void *)out,
             (const void *)inputs, n, k);
    }
    if (!is_live_h(out)) {
        fail("custom callback: `out` is not a live handle");
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_live_h(inputs[i])) {
            fail("custom callback: inputs[%zu] is not a live handle", i);
        }
    }
}

static ds_status cb_jvp(void *user, const ds_array *out, const ds_array *const *inputs,
                        size_t n, size_t k, const ds_array *tangent, ds_array **contribution)
{
    const oprec_t *rec = user;
    check_callback_args(out, inputs, n, k);
    if (tangent == NULL || contribution == NULL || !is_live_h(tangent)) {
        fail("custom jvp: bad tangent %p or contribution %p", (const void *)tangent,
             (void *)contribution);
    }
    switch (rec->variant) {
    case V_SCALE:
    case V_NODESTROY:
        return ds_binary_scalar(DS_MUL, tangent, 2.0f, contribution);
    case V_SUMALL:
        return ds_sum_all(tangent, contribution);
    case V_FAILS:
        ds_set_last_error("fuzz: this forward rule always fails");
        return DS_ERR_ARGUMENT;
    case V_ZERO:
        *contribution = NULL;
        return DS_OK;
    case V_STALE: {
        ds_array *a = NULL;
        const int64_t shape[1] = {1};
        ds_status st = ds_array_create(shape, 1, 1, &a);
        if (st != DS_OK || ds_array_free(a) != DS_OK) {
            fail("custom jvp: could not create and free an array");
        }
        *contribution = a;
        return DS_OK;
    }
    case V_WRONGSHAPE: {
        const int64_t shape[1] = {7};
        return ds_array_full(shape, 1, 3, 1.0f, contribution);
    }
    default:
        fail("custom jvp of variant %d called", rec->variant);
        return DS_ERR_INTERNAL;
    }
}

static ds_status cb_vjp(void *user, const ds_array *out, const ds_array *const *inputs,
                        size_t n, size_t k, const float *upstream, float *grad,
                        size_t grad_batch)
{
    const oprec_t *rec = user;
    int64_t eo, so, ek, sk;
    check_callback_args(out, inputs, n, k);
    if (upstream == NULL || grad == NULL || ds_array_extents(out, &eo, &so) != DS_OK ||
        ds_array_extents(inputs[k], &ek, &sk) != DS_OK) {
        fail("custom vjp: bad buffers or extents");
    }
    if ((int64_t)grad_batch != (sk == 1 ? so : sk)) {
        fail("custom vjp: grad_batch = %zu, input has S=%" PRId64 ", out S=%" PRId64, grad_batch,
             sk, so);
    }
    size_t nup = (size_t)(eo * so), ng = (size_t)ek * grad_batch;
    for (size_t j = 0; j < ng; j++) {
        if (grad[j] != 0.0f) {
            fail("custom vjp: grad[%zu] = %g is not zero on entry", j, (double)grad[j]);
        }
    }
    switch (rec->variant) {
    case V_SCALE:
    case V_NODESTROY:
    case V_STALE:
    case V_WRONGSHAPE:
        for (size_t j = 0; j < ng; j++) {
            grad[j] = 2.0f * upstream[j % nup];
        }
        return DS_OK;
    case V_SUMALL: {
        float total = 0.0f;
        for (size_t j = 0; j < nup; j++) {
            total += upstream[j];
        }
        for (size_t j = 0; j < ng; j++) {
            grad[j] = total;
        }
        return DS_OK;
    }
    case V_FAILS:
        ds_set_last_error("fuzz: this reverse rule always fails");
        return DS_ERR_SHAPE;
    case V_ZERO:
        return DS_OK;
    default:
        fail("custom vjp of variant %d called", rec->variant);
        return DS_ERR_INTERNAL;
    }
}

static void cb_destroy(void *user)
{
    oprec_t *rec = user;
    if (rec < oprecs || rec >= oprecs + NCOPS) {
        fail("custom destroy called with unknown user data %p", user);
    }
    if (++rec->destroyed > 1) {
        fail("custom destroy called %d times for operation %d", rec->destroyed,
             (int)(rec - oprecs));
    }
}

/* A custom operation argument: a created one (live or freed), NULL or an invented value. */
static const ds_custom_op *pick_op(bool *bad, bool *null)
{
    static const uintptr_t invented_ops[4] = {0x1, 0x3, 0xdeadbeef, 0xfffffffffffffff8u};
    uint8_t b = rd8();
    *bad = *null = false;
    if (b < 176 && ncops > 0) {
        int i = b % ncops;
        *bad = !cops[i].live;
        return cops[i].p;
    }
    if (b < 208) {
        *null = true;
        return NULL;
    }
    *bad = true;
    return (const ds_custom_op *)invented_ops[b % 4];
}

/* Adoption: the destructor of the caller object that holds entry box->ent's handle. */
static void adopt_destroy(void *object)
{
    box_t *box = object;
    if (box == &dummy_box || box < boxes || box >= boxes + MAXENT || box->ent < 0 ||
        box->ent >= nents) {
        fail("adoption destructor called with an object that was never adopted (%p)", object);
    }
    ent_t *e = &ents[box->ent];
    if (!e->live) {
        fail("adoption destructor called for h%d, whose handle was already freed", box->ent);
    }
    ds_status st = ds_array_free(e->h);
    if (st != DS_OK) {
        fail("adoption destructor: ds_array_free(h%d) = %s", box->ent, sname(st));
    }
    e->live = false;
    nlive--;
}

/* ------------------------------------------------------------------------------------------ */
/* Shapes                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    int64_t ext[8];
    size_t rank;
    int64_t batch;
    bool null_ptr; /* pass NULL as the shape pointer */
    bool valid;    /* every extent and the batch positive (then E*S <= CAP) */
    int64_t e;     /* E when valid */
} shape_t;

static shape_t rd_shape(void)
{
    shape_t s;
    memset(&s, 0, sizeof s);
    uint8_t b = rd8();
    s.rank = b < 240 ? b % 4 : (size_t)4 + b % 5; /* 0..3 mostly, up to 8 */
    s.null_ptr = b >= 236 && b < 240 && s.rank > 0;
    for (size_t i = 0; i < s.rank; i++) {
        s.ext[i] = rd_ext();
    }
    s.batch = rd_batch();
    s.valid = s.batch > 0 && s.batch < (INT64_C(1) << 40);
    for (size_t i = 0; i < s.rank; i++) {
        s.valid = s.valid && s.ext[i] > 0 && s.ext[i] < (INT64_C(1) << 40);
    }
    if (s.valid) {
        /* keep it small: replace extents by 1 from the last until E * S <= CAP */
        for (size_t i = s.rank; i-- > 0;) {
            int64_t e = 1;
            for (size_t j = 0; j < s.rank; j++) {
                e *= s.ext[j];
            }
            if (e * s.batch <= CAP) {
                break;
            }
            s.ext[i] = 1;
        }
        s.e = 1;
        for (size_t j = 0; j < s.rank; j++) {
            s.e *= s.ext[j];
        }
        if (s.e * s.batch > CAP) {
            s.batch = 1;
        }
    }
    return s;
}

static const int64_t *shape_ptr(const shape_t *s)
{
    return s->null_ptr ? NULL : s->ext;
}

static bool shape_null_error(const shape_t *s)
{
    return s->null_ptr && s->rank > 0;
}

static char *shape_str(const shape_t *s)
{
    static char buf[4][200];
    static int k;
    char *p = buf[k++ % 4];
    size_t n = 0;
    n += (size_t)snprintf(p + n, 200 - n, "%s[", s->null_ptr ? "NULL:" : "");
    for (size_t i = 0; i < s->rank && n < 180; i++) {
        n += (size_t)snprintf(p + n, 200 - n, "%s%" PRId64, i ? "," : "", s->ext[i]);
    }
    snprintf(p + n, 200 - n, "] rank %zu batch %" PRId64, s->rank, s->batch);
    return p;
}

/* Reads the values of a live handle (a checksum, so valgrind sees every value used). */
static void touch_values(const float *v, int64_t n)
{
    unsigned nan = 0;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] != v[i]) {
            nan++;
        }
    }
    if (nan > (unsigned)n) {
        fail("impossible");
    }
}

static bool same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* A step not taken (a size or count limit): counted, no call made. */
static void skip(void)
{
    stat_skipped++;
}

/* ------------------------------------------------------------------------------------------ */
/* Steps                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static int n_prints, n_forward;

/* After a creation: often make the new array a variable (requires_grad), sometimes a weight
 * shared by the batch (not sample-dependent), so that graphs are recorded. */
static void new_leaf_flags(int dst, ds_status st)
{
    uint8_t g = rd8();
    if (st != DS_OK || dst < 0) {
        return;
    }
    ds_array *h = ents[slots[dst]].h;
    if (g < 128 && ds_array_set_flag(h, DS_FLAG_REQUIRES_GRAD, true) != DS_OK) {
        fail("ds_array_set_flag(requires_grad) on a new array failed");
    }
    if ((g & 0x70) == 0x70 && ds_array_set_flag(h, DS_FLAG_SAMPLE_DEPENDENT, false) != DS_OK) {
        fail("ds_array_set_flag(sample_dependent) on a new array failed");
    }
    if (g_trace > 0 && (g < 128 || (g & 0x70) == 0x70)) {
        fprintf(stderr, "[%zu]   h%d: requires_grad %d, sample_dependent %d\n", g_step,
                slots[dst], g < 128, (g & 0x70) != 0x70);
    }
}

static void op_create(int which)
{
    shape_t s = rd_shape();
    float value = which == OP_FULL ? rd_float() : 0.0f;
    int dst = rd_dst();
    ds_array *out = SENTINEL;
    ds_status st;
    expect_t x = expect(M(DS_OK));
    bad_if(&x, dst < 0 || shape_null_error(&s), DS_ERR_NULL);
    bad_if(&x, !s.valid, DS_ERR_ARGUMENT);
    if (which == OP_CREATE) {
        CALL("ds_array_create(%s, out=%s)", shape_str(&s), dst < 0 ? "NULL" : "&");
        st = ds_array_create(shape_ptr(&s), s.rank, s.batch, dst < 0 ? NULL : &out);
    } else {
        CALL("ds_array_full(%s, %g, out=%s)", shape_str(&s), (double)value,
             dst < 0 ? "NULL" : "&");
        st = ds_array_full(shape_ptr(&s), s.rank, s.batch, value, dst < 0 ? NULL : &out);
    }
    check_out(st, x, out, dst, false);
    new_leaf_flags(dst, st);
    if (st == DS_OK && dst >= 0) {
        int64_t e, b;
        float *v;
        href r = ref_of_ent(slots[dst]);
        extents(r, &e, &b);
        if (e != s.e || b != s.batch || ds_array_data(out, &v) != DS_OK) {
            fail("new array has E=%" PRId64 " S=%" PRId64 ", expected %" PRId64 " and %" PRId64, e,
                 b, s.e, s.batch);
        }
        for (int64_t i = 0; i < e * b; i++) {
            if (!same_bits(&v[i], &value, 1) && !(value != value && v[i] != v[i])) {
                fail("value %" PRId64 " is %g, expected %g", i, (double)v[i], (double)value);
            }
        }
    }
}

static void op_from_data(bool wrap)
{
    shape_t s = rd_shape();
    uint8_t mode = rd8();
    int dst = rd_dst();
    size_t limit = wrap ? WRAP_REGION : FBUF;
    size_t want = s.valid ? (size_t)(s.e * s.batch) : 0;
    size_t len = mode < 192 && s.valid && want <= limit ? want : (size_t)(mode % 64) % (limit + 1);
    bool null_data = mode >= 248 || (wrap && wrap_next >= WRAP_REGIONS);
    float *data = NULL;
    if (!null_data) {
        fill_floats(len);
        if (wrap) {
            data = wrap_arena[wrap_next];
            memcpy(data, fbuf, len * sizeof(float));
        } else {
            data = fbuf;
        }
    }
    ds_array *out = SENTINEL;
    ds_status st;
    expect_t x = expect(M(DS_OK));
    bad_if(&x, dst < 0 || null_data || shape_null_error(&s), DS_ERR_NULL);
    if (!s.valid) {
        /* from_data: the shape is checked before the length; wrap compares the length with the
         * (unchecked) product first. */
        x.bad |= M(DS_ERR_ARGUMENT) | (wrap ? M(DS_ERR_SHAPE) : 0);
    } else {
        bad_if(&x, len != want, DS_ERR_SHAPE);
    }
    CALL("%s(%s, data=%s, len=%zu, out=%s)", wrap ? "ds_array_wrap" : "ds_array_from_data",
         shape_str(&s), data ? "buf" : "NULL", len, dst < 0 ? "NULL" : "&");
    if (wrap) {
        st = ds_array_wrap(shape_ptr(&s), s.rank, s.batch, data, len, dst < 0 ? NULL : &out);
    } else {
        st = ds_array_from_data(shape_ptr(&s), s.rank, s.batch, data, len,
                                dst < 0 ? NULL : &out);
    }
    check_out(st, x, out, dst, false);
    new_leaf_flags(dst, st);
    if (st == DS_OK && dst >= 0) {
        float *v = NULL;
        if (ds_array_data(out, &v) != DS_OK || !same_bits(v, fbuf, len)) {
            fail("the new array does not hold the data given");
        }
        if (wrap) {
            if (v != data) {
                fail("ds_array_data of a wrapped array is %p, the caller's buffer is %p",
                     (void *)v, (void *)data);
            }
            wrap_next++;
        }
    }
}

static void op_share_copy(bool copy)
{
    href a = pick();
    int dst = rd_dst();
    ds_array *out = SENTINEL;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    CALL("%s(%s, out=%s)", copy ? "ds_array_copy" : "ds_array_share", hname(a),
         dst < 0 ? "NULL" : "&");
    ds_status st = copy ? ds_array_copy(a.h, dst < 0 ? NULL : &out)
                        : ds_array_share(a.h, dst < 0 ? NULL : &out);
    check_out(st, x, out, dst, false);
    if (st == DS_OK && dst >= 0) {
        bool same = !copy;
        float *va, *vb;
        if (ds_array_same(a.h, out, &same) != DS_OK || same == copy) {
            fail("ds_array_same(a, %s) = %d", copy ? "copy" : "share", same);
        }
        if (ds_array_data(a.h, &va) != DS_OK || ds_array_data(out, &vb) != DS_OK ||
            !same_bits(va, vb, (size_t)count_of(a))) {
            fail("the %s does not hold the same values", copy ? "copy" : "share");
        }
    }
}

static void op_free(void)
{
    href a = pick();
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    CALL("ds_array_free(%s)", hname(a));
    ds_status st = ds_array_free(a.h);
    check(st, x);
    if (st == DS_OK) {
        ents[a.ent].live = false;
        nlive--;
        if (is_live_h(a.h)) {
            fail("the freed handle is still live");
        }
    }
}

static void op_shape(void)
{
    href a = pick();
    uint8_t mode = rd8();
    int64_t shape[8];
    size_t cap = mode % 9, rank = 12345;
    bool null_shape = mode >= 224, null_rank = (mode & 0x70) == 0x70;
    size_t real_rank = 0;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    if (a.k == H_VALID) {
        if (ds_array_shape(a.h, NULL, 0, &real_rank) != DS_OK) {
            fail("ds_array_shape(a, NULL, 0, &rank) failed on a live handle");
        }
        bad_if(&x, null_rank, DS_ERR_NULL);
        bad_if(&x, !null_rank && !null_shape && cap < real_rank, DS_ERR_ARGUMENT);
    }
    CALL("ds_array_shape(%s, %s, %zu, %s)", hname(a), null_shape ? "NULL" : "buf", cap,
         null_rank ? "NULL" : "&rank");
    ds_status st = ds_array_shape(a.h, null_shape ? NULL : shape, cap, null_rank ? NULL : &rank);
    check(st, x);
    if (st == DS_OK || (st == DS_ERR_ARGUMENT && !null_rank)) {
        if (rank != real_rank) {
            fail("rank %zu, expected %zu", rank, real_rank);
        }
    }
    if (st == DS_OK && !null_shape) {
        int64_t e, s, p = 1;
        extents(a, &e, &s);
        for (size_t i = 0; i < rank; i++) {
            p *= shape[i];
        }
        if (p != e) {
            fail("the product of the shape is %" PRId64 ", E is %" PRId64, p, e);
        }
    }
}

static void op_extents(void)
{
    href a = pick();
    uint8_t mode = rd8();
    int64_t e = -7, s = -7;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    CALL("ds_array_extents(%s, %s, %s)", hname(a), mode & 1 ? "NULL" : "&e",
         mode & 2 ? "NULL" : "&s");
    ds_status st = ds_array_extents(a.h, mode & 1 ? NULL : &e, mode & 2 ? NULL : &s);
    check(st, x);
    if (st == DS_OK && ((!(mode & 1) && e < 1) || (!(mode & 2) && s < 1))) {
        fail("extents E=%" PRId64 " S=%" PRId64, e, s);
    }
    if (st != DS_OK && (e != -7 || s != -7)) {
        fail("outputs written although the call failed");
    }
}

static void op_data(bool grad)
{
    href a = pick();
    uint8_t mode = rd8();
    float *v = (float *)SENTINEL;
    bool null_out = mode >= 240;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    bad_if(&x, null_out, DS_ERR_NULL);
    CALL("%s(%s, %s)", grad ? "ds_array_grad_data" : "ds_array_data", hname(a),
         null_out ? "NULL" : "&p");
    ds_status st = grad ? ds_array_grad_data(a.h, null_out ? NULL : &v)
                        : ds_array_data(a.h, null_out ? NULL : &v);
    check(st, x);
    if (st != DS_OK) {
        if (!null_out && v != (float *)SENTINEL) {
            fail("output written although the call failed");
        }
        return;
    }
    if (null_out) {
        return;
    }
    int64_t n = count_of(a);
    if (v == NULL || v == (float *)SENTINEL) {
        fail("data pointer %p after DS_OK", (void *)v);
    }
    touch_values(v, n);
    /* write a few values in place, as a caller may */
    int k = mode % 4;
    for (int i = 0; i < k; i++) {
        int64_t at = rd8() % n;
        v[at] = rd_float();
    }
}

static void op_grad(void)
{
    href a = pick();
    int dst = rd_dst();
    ds_array *out = SENTINEL;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    CALL("ds_array_grad(%s, %s)", hname(a), dst < 0 ? "NULL" : "&out");
    ds_status st = ds_array_grad(a.h, dst < 0 ? NULL : &out);
    check_out(st, x, out, dst, true);
    if (st == DS_OK && dst >= 0 && out != NULL) {
        int64_t e1, s1, e2, s2;
        extents(a, &e1, &s1);
        extents(ref_of_ent(slots[dst]), &e2, &s2);
        if (e1 != e2 || s1 != s2) {
            fail("the gradient has extents (%" PRId64 ", %" PRId64 "), the array (%" PRId64
                 ", %" PRId64 ")", e2, s2, e1, s1);
        }
    }
}

static int32_t rd_flag(void)
{
    static const int32_t bad_flags[8] = {0, 8, -1, INT32_MIN, INT32_MAX, 100, 9, 32};
    uint8_t b = rd8();
    return b < 224 ? 1 + b % 7 : bad_flags[b % 8];
}

static void op_flags(int which)
{
    href a = pick();
    expect_t x = expect(M(DS_OK));
    ds_status st;
    bad_handle(&x, a);
    if (which == OP_GET_FLAG || which == OP_SET_FLAG) {
        int32_t flag = rd_flag();
        uint8_t mode = rd8();
        bad_if(&x, flag < 1 || flag > 7, DS_ERR_ARGUMENT);
        if (which == OP_GET_FLAG) {
            bool value = false;
            bad_if(&x, mode >= 240, DS_ERR_NULL);
            CALL("ds_array_get_flag(%s, %d, %s)", hname(a), flag, mode >= 240 ? "NULL" : "&v");
            st = ds_array_get_flag(a.h, flag, mode >= 240 ? NULL : &value);
        } else {
            CALL("ds_array_set_flag(%s, %d, %d)", hname(a), flag, mode & 1);
            st = ds_array_set_flag(a.h, flag, mode & 1);
        }
        check(st, x);
    } else if (which == OP_FLAGS) {
        uint32_t f = 0xabcdu;
        uint8_t mode = rd8();
        bad_if(&x, mode >= 240, DS_ERR_NULL);
        CALL("ds_array_flags(%s, %s)", hname(a), mode >= 240 ? "NULL" : "&f");
        st = ds_array_flags(a.h, mode >= 240 ? NULL : &f);
        check(st, x);
        if (st != DS_OK && f != 0xabcdu) {
            fail("output written although the call failed");
        }
    } else {
        static const uint32_t masks[8] = {0xffffffffu, 0x80u, 0x80000000u, 0x7fu,
                                          0xffffff80u, 0x100u, 0x40u, 0};
        uint8_t b1 = rd8(), b2 = rd8();
        uint32_t mask = b1 < 224 ? (uint32_t)b1 & 0x7f : masks[b1 % 8];
        uint32_t values = b2 < 224 ? (uint32_t)b2 & 0x7f : masks[b2 % 8];
        CALL("ds_array_set_flags(%s, %#x, %#x)", hname(a), mask, values);
        st = ds_array_set_flags(a.h, mask, values);
        check(st, x);
    }
}

static void op_set_direction(void)
{
    href a = pick();
    uint8_t mode = rd8();
    int64_t e, s;
    bool valid = extents(a, &e, &s);
    size_t len = mode % 4 == 0 && valid ? (size_t)e
               : mode % 4 == 1 && valid ? (size_t)(e * s)
                                        : (size_t)(mode / 4) % 33;
    bool null_dir = mode >= 248;
    expect_t x = expect(M(DS_OK));
    if (len > FBUF) {
        skip();
        return;
    }
    if (!null_dir) {
        fill_floats(len);
    }
    bad_handle(&x, a);
    bad_if(&x, null_dir, DS_ERR_NULL);
    bad_if(&x, valid && len != (size_t)e && len != (size_t)(e * s), DS_ERR_SHAPE);
    CALL("ds_array_set_direction(%s, %s, %zu)", hname(a), null_dir ? "NULL" : "buf", len);
    check(ds_array_set_direction(a.h, null_dir ? NULL : fbuf, len), x);
}

static void op_simple(int which) /* one handle argument, status only */
{
    href a = pick();
    expect_t x = expect(M(DS_OK));
    ds_status st;
    bad_handle(&x, a);
    switch (which) {
    case OP_CLEAR_DIRECTION:
        CALL("ds_array_clear_direction(%s)", hname(a));
        st = ds_array_clear_direction(a.h);
        break;
    case OP_ZERO_GRAD:
        CALL("ds_zero_grad(%s)", hname(a));
        st = ds_zero_grad(a.h);
        break;
    case OP_NULLIFY:
        CALL("ds_nullify_graph(%s)", hname(a));
        st = ds_nullify_graph(a.h);
        break;
    case OP_DETACH:
        CALL("ds_detach(%s)", hname(a));
        st = ds_detach(a.h);
        break;
    default: /* OP_ZERO_ALL_GRADS */
        x.ok |= M(DS_ERR_GRAPH);
        CALL("ds_zero_all_grads(%s)", hname(a));
        st = ds_zero_all_grads(a.h);
        break;
    }
    check(st, x);
}

static void op_same(void)
{
    href a = pick(), b = pick();
    uint8_t mode = rd8();
    bool same = false;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    bad_handle(&x, b);
    bad_if(&x, mode >= 240, DS_ERR_NULL);
    CALL("ds_array_same(%s, %s, %s)", hname(a), hname(b), mode >= 240 ? "NULL" : "&same");
    ds_status st = ds_array_same(a.h, b.h, mode >= 240 ? NULL : &same);
    check(st, x);
    if (st == DS_OK && a.ent == b.ent && !same) {
        fail("ds_array_same(h, h) is false");
    }
}

static const int32_t bad_codes[8] = {0, -1, 7, 100, 117, INT32_MIN, INT32_MAX, 201};

static int32_t rd_unary_code(void)
{
    uint8_t b = rd8();
    return b < 232 ? DS_NEG + b % 16 : bad_codes[b % 8];
}

static int32_t rd_binary_code(void)
{
    uint8_t b = rd8();
    return b < 232 ? DS_ADD + b % 6 : (b % 8 == 7 ? DS_EXP : bad_codes[b % 8]);
}

static bool unary_code_ok(int32_t c)
{
    return c >= DS_NEG && c <= DS_COSH;
}

static bool binary_code_ok(int32_t c)
{
    return c >= DS_ADD && c <= DS_MAX;
}

static bool bcast(int64_t a, int64_t b)
{
    return a == b || a == 1 || b == 1;
}

/* A step that makes a new array from array operands. */
#define PRODUCER_PROLOGUE                                                                     \
    ds_array *out = SENTINEL;                                                                 \
    expect_t x = expect(M(DS_OK));                                                            \
    (void)x

static void op_unary_like(int which)
{
    int32_t code = which == OP_UNARY ? rd_unary_code() : 0;
    href a = pick();
    float p1 = which == OP_GAUSSIAN || which == OP_SIGN ? rd_float() : 0.0f;
    float p2 = which == OP_GAUSSIAN ? rd_float() : 0.0f;
    int dst = rd_dst();
    ds_status st;
    PRODUCER_PROLOGUE;
    if (!room() || too_big(a)) {
        skip();
        return;
    }
    bad_handle(&x, a);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    ds_array **o = dst < 0 ? NULL : &out;
    switch (which) {
    case OP_UNARY:
        bad_if(&x, !unary_code_ok(code), DS_ERR_ARGUMENT);
        CALL("ds_unary(%d, %s, %s)", code, hname(a), OUTS(dst));
        st = ds_unary(code, a.h, o);
        break;
    case OP_GAUSSIAN:
        x.ok = !(p2 > 0.0f) ? M(DS_ERR_ARGUMENT) : M(DS_OK); /* sigma <= 0 or NaN */
        CALL("ds_gaussian(%s, %g, %g, %s)", hname(a), (double)p1, (double)p2, OUTS(dst));
        st = ds_gaussian(a.h, p1, p2, o);
        break;
    case OP_SIGN:
        CALL("ds_sign(%g, %s, %s)", (double)p1, hname(a), OUTS(dst));
        st = ds_sign(p1, a.h, o);
        break;
    case OP_SUM_ALL:
        CALL("ds_sum_all(%s, %s)", hname(a), OUTS(dst));
        st = ds_sum_all(a.h, o);
        break;
    case OP_MEAN_ALL:
        CALL("ds_mean_all(%s, %s)", hname(a), OUTS(dst));
        st = ds_mean_all(a.h, o);
        break;
    default: /* OP_TRANSPOSE */
        x.ok |= M_ANY_ERR;
        CALL("ds_transpose(%s, %s)", hname(a), OUTS(dst));
        st = ds_transpose(a.h, o);
        break;
    }
    check_out(st, x, out, dst, false);
    if (st == DS_OK && dst >= 0) {
        int64_t e1, s1, e2, s2;
        extents(a, &e1, &s1);
        extents(ref_of_ent(slots[dst]), &e2, &s2);
        bool ok = which == OP_SUM_ALL || which == OP_MEAN_ALL ? e2 == 1 && s2 == 1
                                                              : e1 == e2 && s1 == s2;
        if (!ok) {
            fail("result extents (%" PRId64 ", %" PRId64 ") for an operand (%" PRId64
                 ", %" PRId64 ")", e2, s2, e1, s1);
        }
    }
}

static void op_binary(int which)
{
    int32_t code = which == OP_DOT || which == OP_MATMUL || which == OP_OUTER ||
                           which == OP_CONCAT
                       ? 0
                       : rd_binary_code();
    href a = pick(), b = pick();
    int32_t dim = which == OP_CONCAT ? rd_dim() : 0;
    int dst = rd_dst();
    ds_status st;
    int64_t ea, sa, eb, sb;
    bool va = extents(a, &ea, &sa), vb = extents(b, &eb, &sb);
    PRODUCER_PROLOGUE;
    /* bound on the result: products for outer/matmul, sums (broadcasting, joining) else */
    bool product = which == OP_OUTER || which == OP_MATMUL;
    if (!room() || too_big(a) || too_big(b) ||
        (va && vb && (product ? ea * eb * (sa + sb) : (ea + eb) * (sa + sb)) > CAP)) {
        skip();
        return;
    }
    bad_handle(&x, a);
    bad_handle(&x, b);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    ds_array **o = dst < 0 ? NULL : &out;
    switch (which) {
    case OP_BINARY:
        bad_if(&x, !binary_code_ok(code), DS_ERR_ARGUMENT);
        x.ok = va && vb && bcast(ea, eb) && bcast(sa, sb) ? M(DS_OK) : M(DS_ERR_SHAPE);
        CALL("ds_binary(%d, %s, %s, %s)", code, hname(a), hname(b), OUTS(dst));
        st = ds_binary(code, a.h, b.h, o);
        break;
    case OP_MATMUL:
        x.ok |= M_ANY_ERR;
        CALL("ds_matmul(%s, %s, %s)", hname(a), hname(b), OUTS(dst));
        st = ds_matmul(a.h, b.h, o);
        break;
    case OP_DOT:
        x.ok |= M_ANY_ERR;
        CALL("ds_dot_product(%s, %s, %s)", hname(a), hname(b), OUTS(dst));
        st = ds_dot_product(a.h, b.h, o);
        break;
    case OP_OUTER:
        x.ok |= M_ANY_ERR;
        CALL("ds_outer_product(%s, %s, %s)", hname(a), hname(b), OUTS(dst));
        st = ds_outer_product(a.h, b.h, o);
        break;
    default: /* OP_CONCAT */
        x.ok |= M_ANY_ERR;
        CALL("ds_concat(%s, %s, %d, %s)", hname(a), hname(b), dim, OUTS(dst));
        st = ds_concat(a.h, b.h, dim, o);
        break;
    }
    check_out(st, x, out, dst, false);
    if (st == DS_OK && dst >= 0 && which == OP_BINARY) {
        int64_t e, s;
        extents(ref_of_ent(slots[dst]), &e, &s);
        if (e != (ea > eb ? ea : eb) || s != (sa > sb ? sa : sb)) {
            fail("broadcast result has extents (%" PRId64 ", %" PRId64 ")", e, s);
        }
    }
}

static void op_binary_scalar(bool scalar_left)
{
    int32_t code = rd_binary_code();
    href a = pick();
    float s = rd_float();
    int dst = rd_dst();
    PRODUCER_PROLOGUE;
    if (!room() || too_big(a)) {
        skip();
        return;
    }
    bad_handle(&x, a);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    bad_if(&x, !binary_code_ok(code), DS_ERR_ARGUMENT);
    ds_status st;
    if (scalar_left) {
        CALL("ds_scalar_binary(%d, %g, %s, %s)", code, (double)s, hname(a), OUTS(dst));
        st = ds_scalar_binary(code, s, a.h, dst < 0 ? NULL : &out);
    } else {
        CALL("ds_binary_scalar(%d, %s, %g, %s)", code, hname(a), (double)s, OUTS(dst));
        st = ds_binary_scalar(code, a.h, s, dst < 0 ? NULL : &out);
    }
    check_out(st, x, out, dst, false);
}

/* rows x cols for a real matrix operand, with rows * cols <= FBUF (honest). */
static void rd_matrix(href a, size_t *rows, size_t *cols)
{
    static const size_t specials[8] = {0, SIZE_MAX, (size_t)1 << 32, (size_t)1 << 63, 1, 65536,
                                       7, 3};
    uint8_t mode = rd8();
    int64_t e, s;
    if (mode < 128 && extents(a, &e, &s)) { /* the operand's extents, often what is needed */
        *rows = (size_t)e;
        *cols = (size_t)s;
        if (mode & 1) {
            *cols = (size_t)e;
            *rows = mode & 2 ? (size_t)s : (size_t)(1 + mode % 5);
        }
    } else if (mode < 224) {
        *rows = 1 + mode % 6;
        *cols = 1 + (mode / 6) % 6;
    } else {
        *rows = specials[mode % 8];
        *cols = specials[rd8() % 8];
    }
    size_t n;
    if (__builtin_mul_overflow(*rows, *cols, &n) || n > FBUF) {
        /* keep the odd value on one side, with an honest product of 0 */
        if (*rows > *cols) {
            *cols = 0;
        } else {
            *rows = 0;
        }
    }
}

static size_t sat_mul(size_t a, size_t b)
{
    size_t n;
    return __builtin_mul_overflow(a, b, &n) ? SIZE_MAX : n;
}

static void op_real(int which)
{
    int32_t code = which == OP_MATMUL_REAL2D || which == OP_REAL2D_MATMUL ? 0 : rd_binary_code();
    href a = pick();
    uint8_t nullb = rd8();
    int dst = rd_dst();
    size_t rows = 0, cols = 0, len = 0;
    PRODUCER_PROLOGUE;
    if (!room() || too_big(a)) {
        skip();
        return;
    }
    if (which == OP_BINARY_REAL1D) {
        int64_t e, s;
        uint8_t mode = rd8();
        bool v = extents(a, &e, &s);
        len = mode % 4 == 0 && v ? (size_t)e : mode % 4 == 1 && v ? (size_t)s : mode % 16;
    } else {
        rd_matrix(a, &rows, &cols);
        len = rows * cols;
    }
    if (which != OP_BINARY_REAL1D && rows * cols > 0) {
        int64_t e = 1, s = 1;
        extents(a, &e, &s);
        size_t est = which == OP_MATMUL_REAL2D   ? sat_mul(cols, (size_t)s)
                   : which == OP_REAL2D_MATMUL   ? sat_mul(rows, (size_t)s)
                                                 : sat_mul(rows > (size_t)e ? rows : (size_t)e,
                                                           cols > (size_t)s ? cols : (size_t)s);
        if (est > CAP) {
            skip();
            return;
        }
    }
    bool null_m = nullb >= 240;
    float *m = null_m ? NULL : fill_floats(len);
    bad_handle(&x, a);
    bad_if(&x, dst < 0 || null_m, DS_ERR_NULL);
    if (which != OP_MATMUL_REAL2D && which != OP_REAL2D_MATMUL) {
        bad_if(&x, !binary_code_ok(code), DS_ERR_ARGUMENT);
    }
    x.ok |= M_ANY_ERR;
    ds_array **o = dst < 0 ? NULL : &out;
    ds_status st;
    const char *mname = null_m ? "NULL" : "m";
    switch (which) {
    case OP_BINARY_REAL1D:
        CALL("ds_binary_real1d(%d, %s, %s, %zu, %s)", code, hname(a), mname, len, OUTS(dst));
        st = ds_binary_real1d(code, a.h, m, len, o);
        break;
    case OP_BINARY_REAL2D:
        CALL("ds_binary_real2d(%d, %s, %s, %zu, %zu, %s)", code, hname(a), mname, rows, cols, OUTS(dst));
        st = ds_binary_real2d(code, a.h, m, rows, cols, o);
        break;
    case OP_REAL2D_BINARY:
        CALL("ds_real2d_binary(%d, %s, %zu, %zu, %s, %s)", code, mname, rows, cols, hname(a), OUTS(dst));
        st = ds_real2d_binary(code, m, rows, cols, a.h, o);
        break;
    case OP_MATMUL_REAL2D:
        CALL("ds_matmul_real2d(%s, %s, %zu, %zu, %s)", hname(a), mname, rows, cols, OUTS(dst));
        st = ds_matmul_real2d(a.h, m, rows, cols, o);
        break;
    default: /* OP_REAL2D_MATMUL */
        CALL("ds_real2d_matmul(%s, %zu, %zu, %s, %s)", mname, rows, cols, hname(a), OUTS(dst));
        st = ds_real2d_matmul(m, rows, cols, a.h, o);
        break;
    }
    check_out(st, x, out, dst, false);
}

static void op_reduce(bool mean)
{
    href a = pick();
    int32_t dim = rd_dim();
    int dst = rd_dst();
    PRODUCER_PROLOGUE;
    if (!room()) {
        skip();
        return;
    }
    bad_handle(&x, a);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    x.ok = dim == 1 || dim == 2 ? M(DS_OK) : M(DS_ERR_ARGUMENT);
    CALL("%s(%s, %d, %s)", mean ? "ds_mean" : "ds_sum", hname(a), dim, OUTS(dst));
    ds_status st = mean ? ds_mean(a.h, dim, dst < 0 ? NULL : &out)
                        : ds_sum(a.h, dim, dst < 0 ? NULL : &out);
    check_out(st, x, out, dst, false);
}

/* An index list into ibuf: n entries, or NULL. */
static const int64_t *rd_indices(size_t *n, bool *null_list, bool *negative)
{
    uint8_t b = rd8();
    *n = b % 9;
    *null_list = b >= 248;
    *negative = false;
    if (*null_list) {
        *n = b % 3; /* NULL with n == 0 is allowed where a list is expected */
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        ibuf[i] = rd_pos();
        *negative = *negative || ibuf[i] < 0;
    }
    return ibuf;
}

static void op_movement(int which)
{
    href a = pick();
    int dst = rd_dst();
    int32_t dim = rd_dim();
    ds_status st;
    PRODUCER_PROLOGUE;
    if (!room() || too_big(a)) {
        skip();
        return;
    }
    bad_handle(&x, a);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    x.ok |= M_ANY_ERR;
    ds_array **o = dst < 0 ? NULL : &out;
    switch (which) {
    case OP_SPREAD: {
        int64_t index = rd_pos(), ncopies = rd_size();
        bad_if(&x, index < 0 || ncopies < 0, DS_ERR_ARGUMENT);
        CALL("ds_spread(%s, %d, %" PRId64 ", %" PRId64 ", %s)", hname(a), dim, index, ncopies, OUTS(dst));
        st = ds_spread(a.h, dim, index, ncopies, o);
        break;
    }
    case OP_UNSPREAD: {
        int64_t index = rd_pos(), size = rd_size();
        bad_if(&x, index < 0 || size < 0, DS_ERR_ARGUMENT);
        CALL("ds_unspread(%s, %" PRId64 ", %d, %" PRId64 ", %s)", hname(a), index, dim, size, OUTS(dst));
        st = ds_unspread(a.h, index, dim, size, o);
        break;
    }
    case OP_SUM_PAD: {
        int64_t index = rd_pos(), size = rd_size();
        bad_if(&x, index < 0 || size < 0, DS_ERR_ARGUMENT);
        CALL("ds_sum_pad(%s, %d, %" PRId64 ", %" PRId64 ", %s)", hname(a), dim, index, size, OUTS(dst));
        st = ds_sum_pad(a.h, dim, index, size, o);
        break;
    }
    case OP_SLICE: {
        static const int32_t bad_kinds[4] = {0, 5, -1, INT32_MAX};
        uint8_t kb = rd8();
        int32_t kind = kb < 224 ? DS_SLICE_LEFT + kb % 4 : bad_kinds[kb % 4];
        int64_t b = rd_pos();
        bad_if(&x, kind < 1 || kind > 4, DS_ERR_ARGUMENT);
        bad_if(&x, b < 0, DS_ERR_ARGUMENT);
        CALL("ds_slice(%d, %s, %" PRId64 ", %d, %s)", kind, hname(a), b, dim, OUTS(dst));
        st = ds_slice(kind, a.h, b, dim, o);
        break;
    }
    case OP_INDEX:
    case OP_PACK_INDICES: {
        size_t n;
        bool null_list, negative;
        const int64_t *idx = rd_indices(&n, &null_list, &negative);
        bad_if(&x, null_list && n > 0, DS_ERR_NULL);
        bad_if(&x, negative, DS_ERR_ARGUMENT);
        if (which == OP_INDEX) {
            CALL("ds_index(%s, %s, %zu, %s)", hname(a), idx ? "idx" : "NULL", n, OUTS(dst));
            st = ds_index(a.h, idx, n, o);
        } else {
            CALL("ds_pack_indices(%s, %s, %zu, %d, %s)", hname(a), idx ? "idx" : "NULL", n, dim, OUTS(dst));
            st = ds_pack_indices(a.h, idx, n, dim, o);
        }
        break;
    }
    case OP_REVERSE_INDEX: {
        size_t n;
        bool null_list, negative, from = rdbool();
        const int64_t *idx = rd_indices(&n, &null_list, &negative);
        int64_t size = rd_size();
        bad_if(&x, null_list && n > 0, DS_ERR_NULL);
        bad_if(&x, negative || size < 0, DS_ERR_ARGUMENT);
        CALL("ds_reverse_index(%s, %s, %zu, %d, %" PRId64 ", %s)", hname(a),
             idx ? "idx" : "NULL", n, from, size, OUTS(dst));
        st = ds_reverse_index(a.h, idx, n, from, size, o);
        break;
    }
    case OP_UNPACK_INDICES: {
        size_t n;
        bool null_list, negative;
        const int64_t *idx = rd_indices(&n, &null_list, &negative);
        int64_t size = rd_size();
        bad_if(&x, null_list && n > 0, DS_ERR_NULL);
        bad_if(&x, negative || size < 0, DS_ERR_ARGUMENT);
        CALL("ds_unpack_indices(%s, %s, %zu, %d, %" PRId64 ", %s)", hname(a),
             idx ? "idx" : "NULL", n, dim, size, OUTS(dst));
        st = ds_unpack_indices(a.h, idx, n, dim, size, o);
        break;
    }
    case OP_PACK_MASK: {
        uint8_t mode = rd8();
        int64_t e, s;
        bool v = extents(a, &e, &s);
        size_t n = mode % 4 == 0 && v ? (size_t)e : mode % 4 == 1 && v ? (size_t)s : mode % 13;
        bool null_mask = mode >= 240;
        const uint8_t *m = null_mask ? NULL : fill_mask(n);
        CALL("ds_pack_mask(%s, %d, %s, %zu, %s)", hname(a), dim, m ? "mask" : "NULL", n, OUTS(dst));
        st = ds_pack_mask(a.h, dim, (const bool *)(const void *)m, n, o);
        break;
    }
    case OP_UNPACK_MASK: {
        /* array_shape: rank entries (the per-sample shape, then the batch), kept small */
        uint8_t rb = rd8();
        size_t rank = rb % 5;
        bool null_shape = rb >= 248, neg = false;
        int64_t shape[8], prod = 1;
        for (size_t i = 0; i < rank; i++) {
            shape[i] = rd_size();
            neg = neg || shape[i] < 0;
            if (shape[i] > 0 && shape[i] < 64) {
                prod *= shape[i];
            }
        }
        if (prod > CAP) {
            shape[0] = 1;
        }
        size_t n;
        bool null_list, negative;
        const int64_t *idx = rd_indices(&n, &null_list, &negative);
        bad_if(&x, null_shape && rank > 0, DS_ERR_NULL);
        bad_if(&x, (!null_shape && neg) || negative, DS_ERR_ARGUMENT);
        CALL("ds_unpack_mask(%s, %s rank %zu, %d, %s, %zu, %s)", hname(a),
             null_shape ? "NULL" : "shape", rank, dim, idx ? "idx" : "NULL", n, OUTS(dst));
        st = ds_unpack_mask(a.h, null_shape ? NULL : shape, rank, dim, idx, n, o);
        break;
    }
    default: { /* OP_RESHAPE */
        shape_t s = rd_shape();
        bool neg = false;
        for (size_t i = 0; i < s.rank; i++) {
            neg = neg || s.ext[i] < 0;
        }
        bad_if(&x, shape_null_error(&s), DS_ERR_NULL);
        bad_if(&x, !s.null_ptr && neg, DS_ERR_ARGUMENT);
        CALL("ds_reshape(%s, %s, %s)", hname(a), shape_str(&s), OUTS(dst));
        st = ds_reshape(a.h, shape_ptr(&s), s.rank, o);
        break;
    }
    }
    check_out(st, x, out, dst, false);
}

static void op_merge(int which)
{
    /* the array operands: t and f for ds_merge, t alone otherwise (f = t) */
    href t = pick();
    href f = which == OP_MERGE ? pick() : t;
    float s = rd_float();
    uint8_t mode = rd8();
    int dst = rd_dst();
    size_t rows = 0, cols = 0;
    PRODUCER_PROLOGUE;
    if (!room() || too_big(t) || too_big(f)) {
        skip();
        return;
    }
    if (which == OP_MERGE_REAL2D) {
        rd_matrix(t, &rows, &cols);
    }
    int64_t et, st_, ef, sf;
    bool vt = extents(t, &et, &st_);
    bool vf = extents(f, &ef, &sf);
    if (vt && vf && (et + ef) * (st_ + sf) > CAP) {
        skip();
        return;
    }
    if (which == OP_MERGE_REAL2D && vt && rows * cols > 0 &&
        sat_mul(rows > (size_t)et ? rows : (size_t)et, cols > (size_t)st_ ? cols : (size_t)st_) >
            CAP) {
        skip();
        return;
    }
    int64_t e = vt && vf ? (et > ef ? et : ef) : et, sb = vt && vf ? (st_ > sf ? st_ : sf) : st_;
    size_t n = mode % 4 <= 1 && vt ? (size_t)(e * sb) : mode % 17;
    bool null_mask = mode >= 248;
    uint8_t *m = null_mask ? NULL : fill_mask(n);
    bool null_f = which == OP_MERGE_REAL2D && (mode & 0xf0) == 0xe0;
    float *fm = which == OP_MERGE_REAL2D && !null_f ? fill_floats(rows * cols) : NULL;
    const bool *mb = (const bool *)(const void *)m;
    bad_handle(&x, t);
    if (which == OP_MERGE) {
        bad_handle(&x, f);
    }
    bad_if(&x, dst < 0 || (null_mask && n > 0) || null_f, DS_ERR_NULL);
    x.ok |= M_ANY_ERR;
    ds_array **o = dst < 0 ? NULL : &out;
    ds_status st;
    switch (which) {
    case OP_MERGE:
        CALL("ds_merge(%s, %s, %s, %zu, %s)", hname(t), hname(f), m ? "mask" : "NULL", n, OUTS(dst));
        st = ds_merge(t.h, f.h, mb, n, o);
        break;
    case OP_MERGE_SCALAR:
        CALL("ds_merge_scalar(%s, %g, %s, %zu, %s)", hname(t), (double)s, m ? "mask" : "NULL", n, OUTS(dst));
        st = ds_merge_scalar(t.h, s, mb, n, o);
        break;
    case OP_SCALAR_MERGE:
        CALL("ds_scalar_merge(%g, %s, %s, %zu, %s)", (double)s, hname(f), m ? "mask" : "NULL", n, OUTS(dst));
        st = ds_scalar_merge(s, f.h, mb, n, o);
        break;
    default:
        CALL("ds_merge_real2d(%s, %s, %zu, %zu, %s, %zu, %s)", hname(t), fm ? "m" : "NULL", rows,
             cols, m ? "mask" : "NULL", n, OUTS(dst));
        st = ds_merge_real2d(t.h, fm, rows, cols, mb, n, o);
        break;
    }
    check_out(st, x, out, dst, false);
}

/* ds_array_data_mut (writes a few values and must increment the version), ds_array_mark_written
 * (increments it) and ds_array_version (reads it): DATA_MUT, MARK_WRITTEN, VERSION. */
static void op_version(int which)
{
    href a = pick();
    uint8_t mode = rd8();
    bool null_out = which != OP_MARK_WRITTEN && mode >= 240;
    uint32_t before = 0, after = (uint32_t)-7;
    bool known = a.k == H_VALID && ds_array_version(a.h, &before) == DS_OK;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    bad_if(&x, null_out, DS_ERR_NULL);
    ds_status st;
    if (which == OP_DATA_MUT) {
        float *v = (float *)SENTINEL;
        CALL("ds_array_data_mut(%s, %s)", hname(a), null_out ? "NULL" : "&p");
        st = ds_array_data_mut(a.h, null_out ? NULL : &v);
        check(st, x);
        if (st == DS_OK && !null_out) {
            int64_t n = count_of(a);
            if (v == NULL || v == (float *)SENTINEL) {
                fail("data pointer %p after DS_OK", (void *)v);
            }
            for (int i = 0; i < mode % 4; i++) {
                v[rd8() % n] = rd_float();
            }
        } else if (st != DS_OK && !null_out && v != (float *)SENTINEL) {
            fail("output written although the call failed");
        }
    } else if (which == OP_MARK_WRITTEN) {
        CALL("ds_array_mark_written(%s)", hname(a));
        st = ds_array_mark_written(a.h);
        check(st, x);
    } else {
        CALL("ds_array_version(%s, %s)", hname(a), null_out ? "NULL" : "&v");
        st = ds_array_version(a.h, null_out ? NULL : &after);
        check(st, x);
        if (st == DS_OK && !null_out && known && after != before) {
            fail("ds_array_version changed from %u to %u by reading it", before, after);
        }
        return;
    }
    if (st == DS_OK && known && ds_array_version(a.h, &after) == DS_OK && after != before + 1) {
        fail("a write took the version from %u to %u (expected +1)", before, after);
    }
}

static void op_grad_forward(void)
{
    href f = pick(), v = pick();
    int dst = rd_dst();
    PRODUCER_PROLOGUE;
    if (!room() || n_forward >= MAX_FORWARD || ds_live_arrays() > LIVE_SOFT) {
        skip();
        return;
    }
    n_forward++;
    bad_handle(&x, f);
    bad_handle(&x, v);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    bad_if(&x, v.k == H_VALID && !requires_grad(v), DS_ERR_NO_GRAD);
    /* DS_ERR_MODIFIED: a value a rule reads was written (OP_DATA_MUT, OP_MARK_WRITTEN);
     * DS_ERR_NO_GRAD: requires_grad cleared on an intermediate the graph used (OP_SET_FLAG) */
    x.ok = M(DS_OK) | M(DS_ERR_GRAPH) | M(DS_ERR_MODIFIED) | M(DS_ERR_NO_GRAD) | callback_statuses;
    CALL("ds_grad_forward(%s, %s, %s)", hname(f), hname(v), OUTS(dst));
    ds_status st = ds_grad_forward(f.h, v.h, dst < 0 ? NULL : &out);
    check_out(st, x, out, dst, false);
}

static void op_grad_reverse(void)
{
    href f = pick();
    uint8_t mode = rd8();
    int64_t e, s;
    bool v = extents(f, &e, &s);
    size_t len = (mode & 3) != 3 && v ? (size_t)(e * s) : (size_t)mode % 20;
    bool null_seed = mode < 64;
    expect_t x = expect(M(DS_OK) | M(DS_ERR_GRAPH) | M(DS_ERR_MODIFIED) | M(DS_ERR_NO_GRAD) |
                        callback_statuses);
    if (ds_live_arrays() > 4 * LIVE_SOFT || len > FBUF) {
        skip();
        return;
    }
    if (!null_seed) {
        fill_floats(len);
    }
    bad_handle(&x, f);
    bad_if(&x, v && !null_seed && len != (size_t)(e * s), DS_ERR_SHAPE);
    CALL("ds_grad_reverse(%s, %s, %zu)", hname(f), null_seed ? "NULL" : "seed", len);
    check(ds_grad_reverse(f.h, null_seed ? NULL : fbuf, len), x);
}

static void op_duplicate(void)
{
    href a = pick();
    int dst = rd_dst();
    PRODUCER_PROLOGUE;
    if (!room() || ds_live_arrays() > LIVE_SOFT) {
        skip();
        return;
    }
    bad_handle(&x, a);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    x.ok |= M(DS_ERR_GRAPH);
    CALL("ds_duplicate_graph(%s, %s)", hname(a), OUTS(dst));
    ds_status st = ds_duplicate_graph(a.h, dst < 0 ? NULL : &out);
    check_out(st, x, out, dst, false);
}

static void op_id(bool set)
{
    static const int64_t ids[8] = {-1, 0, 1, 2, 3, INT64_MAX, INT64_MIN, 42};
    href a = pick();
    uint8_t b = rd8();
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    if (set) {
        CALL("ds_array_set_id(%s, %" PRId64 ")", hname(a), ids[b % 8]);
        check(ds_array_set_id(a.h, ids[b % 8]), x);
    } else {
        int64_t id = 7777;
        bad_if(&x, b >= 240, DS_ERR_NULL);
        CALL("ds_array_id(%s, %s)", hname(a), b >= 240 ? "NULL" : "&id");
        ds_status st = ds_array_id(a.h, b >= 240 ? NULL : &id);
        check(st, x);
        if (st != DS_OK && id != 7777) {
            fail("output written although the call failed");
        }
    }
}

static void op_find_id(void)
{
    static const int64_t ids[8] = {-1, 0, 1, 2, 3, INT64_MAX, INT64_MIN, 42};
    href a = pick();
    uint8_t b = rd8();
    int dst = rd_dst();
    PRODUCER_PROLOGUE;
    if (!room()) {
        skip();
        return;
    }
    bad_handle(&x, a);
    bad_if(&x, dst < 0, DS_ERR_NULL);
    x.ok |= M(DS_ERR_GRAPH);
    CALL("ds_graph_find_id(%s, %" PRId64 ", %s)", hname(a), ids[b % 8], OUTS(dst));
    ds_status st = ds_graph_find_id(a.h, ids[b % 8], dst < 0 ? NULL : &out);
    check_out(st, x, out, dst, true);
    if (st == DS_OK && dst >= 0 && out != NULL) {
        int64_t id = 0;
        if (ds_array_id(out, &id) != DS_OK || id != ids[b % 8]) {
            fail("ds_graph_find_id found an array whose id is %" PRId64, id);
        }
    }
}

static void op_text(bool print)
{
    href a = pick();
    uint8_t mode = rd8();
    size_t cap = mode % 4 == 0 ? 0 : mode % 4 == 1 ? (size_t)(mode / 4) % 16 : sizeof tbuf;
    bool null_buf = mode % 4 == 0 && (mode & 4);
    bool null_len = mode >= 248;
    bool loc = mode & 8;
    size_t len = 999999999;
    expect_t x = expect(M(DS_OK) | M(DS_ERR_ARGUMENT));
    if (print && n_prints >= MAX_PRINTS) {
        skip();
        return;
    }
    if (print) {
        n_prints++;
        x.ok |= M(DS_ERR_GRAPH);
    }
    if (!print && cap > 64) {
        cap = 64;
    }
    bad_handle(&x, a);
    bad_if(&x, null_len, DS_ERR_NULL);
    memset(tbuf, 'x', cap < sizeof tbuf ? cap + 1 : sizeof tbuf);
    ds_status st;
    char *buf = null_buf ? NULL : tbuf;
    if (print) {
        CALL("ds_graph_print(%s, %d, %s, %zu, %s)", hname(a), loc, buf ? "buf" : "NULL", cap,
             null_len ? "NULL" : "&len");
        st = ds_graph_print(a.h, loc, buf, cap, null_len ? NULL : &len);
    } else {
        CALL("ds_array_operation(%s, %s, %zu, %s)", hname(a), buf ? "buf" : "NULL", cap,
             null_len ? "NULL" : "&len");
        st = ds_array_operation(a.h, buf, cap, null_len ? NULL : &len);
    }
    check(st, x);
    if (st == DS_OK) {
        if (buf == NULL || len >= cap || strlen(buf) != len) {
            fail("text of length %zu (announced %zu) in a buffer of %zu", buf ? strlen(buf) : 0,
                 len, cap);
        }
    } else if (st == DS_ERR_ARGUMENT && !null_len && a.k == H_VALID) {
        if (len == 999999999) {
            fail("length not written with DS_ERR_ARGUMENT");
        }
        if (buf != NULL && cap > len) {
            fail("DS_ERR_ARGUMENT although the buffer (%zu bytes) holds the text (%zu)", cap, len);
        }
        /* retry with an exact buffer, as a caller would */
        if (len < ((size_t)1 << 24)) {
            char *big = malloc(len + 1);
            size_t len2 = 0;
            if (big == NULL) {
                return;
            }
            st = print ? ds_graph_print(a.h, loc, big, len + 1, &len2)
                       : ds_array_operation(a.h, big, len + 1, &len2);
            if (st != DS_OK || len2 != len || strlen(big) != len) {
                free(big);
                fail("retry with a buffer of %zu bytes: %s, length %zu", len + 1, sname(st), len2);
            }
            free(big);
        }
    }
}

static void op_set_operation(void)
{
    href a = pick();
    uint8_t b = rd8();
    /* At most MAX_NAME characters and the NUL: the buffer is exactly that long, so that the
     * compiler knows the (vectorised) loop cannot run past it. */
    enum { MAX_NAME = 39 };
    char name[MAX_NAME + 1];
    size_t n = b % (MAX_NAME + 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = rd8();
        name[i] = (char)(c ? c : 'z');
    }
    name[n] = '\0';
    bool null_name = b >= 240;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    bad_if(&x, null_name, DS_ERR_NULL);
    CALL("ds_array_set_operation(%s, %s)", hname(a), null_name ? "NULL" : "name");
    check(ds_array_set_operation(a.h, null_name ? NULL : name), x);
}

static void op_num_inputs(void)
{
    href a = pick();
    uint8_t b = rd8();
    size_t n = 777;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    bad_if(&x, b >= 240, DS_ERR_NULL);
    CALL("ds_array_num_inputs(%s, %s)", hname(a), b >= 240 ? "NULL" : "&n");
    ds_status st = ds_array_num_inputs(a.h, b >= 240 ? NULL : &n);
    check(st, x);
    if (st != DS_OK && n != 777) {
        fail("output written although the call failed");
    }
}

static void op_input(void)
{
    static const size_t big[4] = {SIZE_MAX, (size_t)1 << 32, 64, 1000};
    href a = pick();
    uint8_t b = rd8(), mode = rd8();
    int dst = rd_dst();
    size_t i = b < 240 ? (size_t)b % 3 / 2 + (b & 0x40 ? 1 : 0) : big[b % 4];
    size_t n = 0;
    bool owned = false;
    PRODUCER_PROLOGUE;
    if (!room()) {
        skip();
        return;
    }
    if (a.k == H_VALID && ds_array_num_inputs(a.h, &n) != DS_OK) {
        fail("ds_array_num_inputs failed on a live handle");
    }
    bad_handle(&x, a);
    bad_if(&x, a.k == H_VALID && i >= n, DS_ERR_ARGUMENT);
    CALL("ds_array_input(%s, %zu, %s, %s)", hname(a), i, dst < 0 ? "NULL" : "&out",
         mode & 1 ? "NULL" : "&owned");
    ds_status st = ds_array_input(a.h, i, dst < 0 ? NULL : &out, mode & 1 ? NULL : &owned);
    check_out(st, x, out, dst, false);
}

static void op_custom_create(void)
{
    uint8_t b = rd8();
    uint8_t nb = rd8();
    int variant = b % NVARIANTS;
    char name[48];
    size_t n = nb < 224 ? 1 + nb % 12 : (nb % 2 ? 0 : 33 + nb % 8);
    ds_custom_rules rules;
    ds_custom_op *out = (ds_custom_op *)(uintptr_t)0x5e5e;
    bool null_name = b >= 240 && b < 244, null_rules = b >= 244 && b < 248, null_out = b >= 248;
    expect_t x = expect(M(DS_OK));
    if (ncops >= NCOPS) {
        skip();
        return;
    }
    snprintf(name, sizeof name, "%s", variant_names[variant]);
    for (size_t i = strlen(name); i < n; i++) {
        name[i] = (char)('a' + i % 26);
    }
    name[n] = '\0';
    oprec_t *rec = &oprecs[ncops];
    rec->variant = variant;
    rec->destroyed = 0;
    rules.user_data = rec;
    rules.jvp = variant == V_NORULES ? NULL : cb_jvp;
    rules.vjp = variant == V_NORULES ? NULL : cb_vjp;
    rules.destroy = variant == V_NODESTROY ? NULL : cb_destroy;
    bad_if(&x, null_name || null_rules || null_out, DS_ERR_NULL);
    bad_if(&x, n == 0 || n > 32, DS_ERR_ARGUMENT);
    CALL("ds_custom_op_create(\"%s\", %s rules, %s)", null_name ? "(NULL)" : name,
         null_rules ? "NULL" : variant_names[variant], null_out ? "NULL" : "&op");
    ds_status st = ds_custom_op_create(null_name ? NULL : name, null_rules ? NULL : &rules,
                                       null_out ? NULL : &out);
    check(st, x);
    if (st == DS_OK) {
        if (out == NULL || out == (ds_custom_op *)(uintptr_t)0x5e5e) {
            fail("no operation written");
        }
        cops[ncops].p = out;
        cops[ncops].live = true;
        ncops++;
    } else if (!null_out && out != (ds_custom_op *)(uintptr_t)0x5e5e) {
        fail("output written although the call failed");
    } else if (rec->destroyed) {
        fail("destroy was called although the creation failed");
    }
}

static void op_custom_free(void)
{
    bool bad, null;
    const ds_custom_op *op = pick_op(&bad, &null);
    expect_t x = expect(M(DS_OK));
    bad_if(&x, null, DS_ERR_NULL);
    bad_if(&x, bad, DS_ERR_HANDLE);
    CALL("ds_custom_op_free(%p)", (const void *)op);
    ds_status st = ds_custom_op_free((ds_custom_op *)(uintptr_t)op);
    check(st, x);
    if (st == DS_OK) {
        for (int i = 0; i < ncops; i++) {
            if (cops[i].p == op) {
                cops[i].live = false;
            }
        }
    }
}

/* Reads n (0..4) array inputs into `hs`; returns the pointer to pass (or NULL). */
static char inputs_desc[200];

static const ds_array *const *rd_inputs(const ds_array **hs, size_t *n, expect_t *x, bool *big)
{
    uint8_t b = rd8();
    *n = b % 5;
    *big = false;
    inputs_desc[0] = '\0';
    for (size_t i = 0; i < *n; i++) {
        href r = pick();
        hs[i] = r.h;
        strcat(inputs_desc, i ? ", " : "");
        strcat(inputs_desc, hname(r));
        bad_handle(x, r);
        *big = *big || too_big(r);
    }
    if (b >= 248 && *n > 0) {
        x->bad |= M(DS_ERR_NULL);
        snprintf(inputs_desc, sizeof inputs_desc, "NULL");
        return NULL;
    }
    bad_if(x, *n == 0, DS_ERR_ARGUMENT);
    return hs;
}

static int op_variant(const ds_custom_op *op)
{
    for (int i = 0; i < ncops; i++) {
        if (cops[i].p == op) {
            return oprecs[i].variant;
        }
    }
    return -1;
}

static void note_variant(int v)
{
    /* statuses that differentiating through this operation may legitimately produce */
    switch (v) {
    case V_NORULES: callback_statuses |= M(DS_ERR_NO_GRAD); break;
    case V_FAILS: callback_statuses |= M(DS_ERR_ARGUMENT) | M(DS_ERR_SHAPE); break;
    case V_STALE: callback_statuses |= M(DS_ERR_HANDLE); break;
    case V_WRONGSHAPE: callback_statuses |= M(DS_ERR_SHAPE); break;
    default: /* the rules build their contribution with ds_ calls, which check extents */
        callback_statuses |= M(DS_ERR_SHAPE);
        break;
    }
}

static void op_custom_apply(void)
{
    bool bad, null, big;
    const ds_custom_op *op = pick_op(&bad, &null);
    const ds_array *hs[8];
    size_t n;
    PRODUCER_PROLOGUE;
    const ds_array *const *inputs = rd_inputs(hs, &n, &x, &big);
    uint8_t mode = rd8();
    shape_t s = rd_shape();
    int dst = rd_dst();
    if (!room() || big) {
        skip();
        return;
    }
    if (mode < 128 && n > 0 && is_live_h(hs[0])) {
        /* often the shape of the first input, so that the rules' contributions conform */
        size_t rank = 0;
        ds_status st = ds_array_shape(hs[0], s.ext, 8, &rank);
        if (st == DS_OK) {
            if (ds_array_extents(hs[0], &s.e, &s.batch) != DS_OK) {
                fail("extents of a live handle failed");
            }
            s.rank = rank;
            s.null_ptr = false;
            s.valid = true;
        } else if (st != DS_ERR_ARGUMENT || rank <= 8) {
            fail("shape query of a live handle failed: %s", sname(st));
        }
    }
    bool values = (mode & 1) && s.valid;
    if (values) {
        fill_floats((size_t)(s.e * s.batch));
    }
    bad_if(&x, null || dst < 0 || shape_null_error(&s), DS_ERR_NULL);
    bad_if(&x, bad, DS_ERR_HANDLE);
    bad_if(&x, !s.valid, DS_ERR_ARGUMENT);
    /* every input must have the result's batch or one sample */
    for (size_t i = 0; s.valid && i < n; i++) {
        int64_t ie = 0, ib = 0;
        if (is_live_h(hs[i]) && ds_array_extents(hs[i], &ie, &ib) == DS_OK) {
            bad_if(&x, ib != 1 && ib != s.batch, DS_ERR_SHAPE);
        }
    }
    CALL("ds_custom_apply(%p, {%s}, %zu, %s, %s, %s)", (const void *)op, inputs_desc, n,
         shape_str(&s),
         values ? "values" : "NULL", OUTS(dst));
    ds_status st = ds_custom_apply(op, inputs, n, shape_ptr(&s), s.rank, s.batch,
                                   values ? fbuf : NULL, dst < 0 ? NULL : &out);
    check_out(st, x, out, dst, false);
    if (st == DS_OK) {
        note_variant(op_variant(op));
    }
}

static void op_set_custom(void)
{
    href a = pick();
    bool bad, null, big;
    const ds_custom_op *op = pick_op(&bad, &null);
    const ds_array *hs[8];
    size_t n;
    expect_t x = expect(M(DS_OK) | M(DS_ERR_ARGUMENT) | M(DS_ERR_GRAPH) | M(DS_ERR_SHAPE));
    const ds_array *const *inputs = rd_inputs(hs, &n, &x, &big);
    bad_handle(&x, a);
    bad_if(&x, null, DS_ERR_NULL);
    bad_if(&x, bad, DS_ERR_HANDLE);
    CALL("ds_array_set_custom(%s, %p, {%s}, %zu)", hname(a), (const void *)op, inputs_desc, n);
    ds_status st = ds_array_set_custom(a.h, op, inputs, n);
    check(st, x);
    if (st == DS_OK) {
        note_variant(op_variant(op));
    }
}

static void op_adopt(void)
{
    href owner = pick(), obj = pick();
    uint8_t mode = rd8();
    bool adopted = false;
    bool null_object = mode >= 240 && mode < 244, null_destroy = mode >= 244 && mode < 248;
    bool null_adopted = mode >= 248;
    void *object = obj.k == H_VALID ? (void *)&boxes[obj.ent] : (void *)&dummy_box;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, owner);
    bad_handle(&x, obj);
    bad_if(&x, null_object || null_destroy || null_adopted, DS_ERR_NULL);
    CALL("ds_array_adopt(%s, %s, %s, %s, %s)", hname(owner), hname(obj),
         null_object ? "NULL" : "box", null_destroy ? "NULL" : "destroy",
         null_adopted ? "NULL" : "&adopted");
    bool before = obj.k == H_VALID && ents[obj.ent].claimed;
    ds_status st = ds_array_adopt(owner.h, obj.h, null_object ? NULL : object,
                                  null_destroy ? NULL : adopt_destroy,
                                  null_adopted ? NULL : &adopted);
    check(st, x);
    if (st == DS_OK) {
        if (adopted == before) {
            fail("adopted = %d, but the object was %sclaimed before", adopted,
                 before ? "" : "not ");
        }
        ents[obj.ent].claimed = true;
    }
}

static void op_is_live(void)
{
    href a = pick();
    uint8_t b = rd8();
    bool live = !(a.k == H_VALID);
    expect_t x = expect(M(DS_OK));
    bad_if(&x, b >= 240, DS_ERR_NULL);
    CALL("ds_array_is_live(%s, %s)", hname(a), b >= 240 ? "NULL" : "&live");
    ds_status st = ds_array_is_live(a.h, b >= 240 ? NULL : &live);
    check(st, x);
    if (st == DS_OK && live != (a.k == H_VALID)) {
        fail("ds_array_is_live(%s) = %d", hname(a), live);
    }
}

static void op_claim(void)
{
    href a = pick();
    uint8_t b = rd8();
    bool claimed = false;
    expect_t x = expect(M(DS_OK));
    bad_handle(&x, a);
    bad_if(&x, b >= 240, DS_ERR_NULL);
    CALL("ds_array_claim(%s, %s)", hname(a), b >= 240 ? "NULL" : "&claimed");
    ds_status st = ds_array_claim(a.h, b >= 240 ? NULL : &claimed);
    check(st, x);
    if (st == DS_OK) {
        if (claimed == ents[a.ent].claimed) {
            fail("claimed = %d for a handle %sclaimed before", claimed,
                 ents[a.ent].claimed ? "" : "not ");
        }
        ents[a.ent].claimed = true;
    }
}

static void op_errors(void)
{
    static const int32_t codes[8] = {0, 7, 8, -1, INT32_MIN, INT32_MAX, 3, 100};
    uint8_t b = rd8();
    const char *name = ds_status_name(codes[b % 8]);
    char msg[40];
    size_t n = b % 24;
    CALL("ds_status_name(%d) / ds_set_last_error", codes[b % 8]);
    if (name == NULL || name[0] == '\0') {
        fail("ds_status_name(%d) is NULL or empty", codes[b % 8]);
    }
    for (size_t i = 0; i < n; i++) {
        msg[i] = (char)(' ' + rd8() % 95); /* printable ASCII */
    }
    msg[n] = '\0';
    ds_set_last_error(b >= 240 ? NULL : msg);
    const char *got = ds_last_error();
    if (got == NULL || strcmp(got, b >= 240 ? "" : msg) != 0) {
        fail("ds_last_error() = \"%s\" after ds_set_last_error(\"%s\")", got ? got : "(NULL)",
             b >= 240 ? "(NULL)" : msg);
    }
    record(DS_OK);
}

static void op_live_counts(void)
{
    CALL("ds_live_arrays() / ds_live_handles()");
    size_t arrays = ds_live_arrays();
    check_counts();
    if (nlive > 0 && arrays == 0) {
        fail("ds_live_arrays() = 0 with %d live handles", nlive);
    }
    record(DS_OK);
}

static void op_move_slot(void)
{
    uint8_t a = rd8(), b = rd8();
    slots[a % NSLOTS] = b >= 240 ? -1 : slots[b % NSLOTS];
    record(DS_OK);
}

static void step(void)
{
    uint8_t b = rd8();
    /* one step in eight creates an array, so that most programs have something to work on */
    int op = b < 32 ? b % 4 : b % NUM_OPS;
    g_cur_op = op;
    g_call[0] = '\0';
    if (op_disabled[op]) {
        skip();
        return;
    }
    switch (op) {
    case OP_CREATE: op_create(OP_CREATE); break;
    case OP_FULL: op_create(OP_FULL); break;
    case OP_FROM_DATA: op_from_data(false); break;
    case OP_WRAP: op_from_data(true); break;
    case OP_SHARE: op_share_copy(false); break;
    case OP_COPY: op_share_copy(true); break;
    case OP_FREE: op_free(); break;
    case OP_SHAPE: op_shape(); break;
    case OP_EXTENTS: op_extents(); break;
    case OP_DATA: op_data(false); break;
    case OP_DATA_MUT:
    case OP_MARK_WRITTEN:
    case OP_VERSION: op_version(op); break;
    case OP_GRAD_DATA: op_data(true); break;
    case OP_GRAD: op_grad(); break;
    case OP_GET_FLAG:
    case OP_SET_FLAG:
    case OP_FLAGS:
    case OP_SET_FLAGS: op_flags(op); break;
    case OP_SET_DIRECTION: op_set_direction(); break;
    case OP_CLEAR_DIRECTION:
    case OP_ZERO_GRAD:
    case OP_NULLIFY:
    case OP_DETACH:
    case OP_ZERO_ALL_GRADS: op_simple(op); break;
    case OP_SAME: op_same(); break;
    case OP_UNARY:
    case OP_GAUSSIAN:
    case OP_SIGN:
    case OP_SUM_ALL:
    case OP_MEAN_ALL:
    case OP_TRANSPOSE: op_unary_like(op); break;
    case OP_BINARY:
    case OP_MATMUL:
    case OP_DOT:
    case OP_OUTER:
    case OP_CONCAT: op_binary(op); break;
    case OP_BINARY_SCALAR: op_binary_scalar(false); break;
    case OP_SCALAR_BINARY: op_binary_scalar(true); break;
    case OP_BINARY_REAL1D:
    case OP_BINARY_REAL2D:
    case OP_REAL2D_BINARY:
    case OP_MATMUL_REAL2D:
    case OP_REAL2D_MATMUL: op_real(op); break;
    case OP_SUM: op_reduce(false); break;
    case OP_MEAN: op_reduce(true); break;
    case OP_SPREAD:
    case OP_UNSPREAD:
    case OP_SUM_PAD:
    case OP_SLICE:
    case OP_INDEX:
    case OP_REVERSE_INDEX:
    case OP_PACK_MASK:
    case OP_PACK_INDICES:
    case OP_UNPACK_MASK:
    case OP_UNPACK_INDICES:
    case OP_RESHAPE: op_movement(op); break;
    case OP_MERGE:
    case OP_MERGE_SCALAR:
    case OP_SCALAR_MERGE:
    case OP_MERGE_REAL2D: op_merge(op); break;
    case OP_GRAD_FORWARD: op_grad_forward(); break;
    case OP_GRAD_REVERSE: op_grad_reverse(); break;
    case OP_DUPLICATE: op_duplicate(); break;
    case OP_ID: op_id(false); break;
    case OP_SET_ID: op_id(true); break;
    case OP_FIND_ID: op_find_id(); break;
    case OP_GRAPH_PRINT: op_text(true); break;
    case OP_OPERATION: op_text(false); break;
    case OP_SET_OPERATION: op_set_operation(); break;
    case OP_NUM_INPUTS: op_num_inputs(); break;
    case OP_INPUT: op_input(); break;
    case OP_CUSTOM_CREATE: op_custom_create(); break;
    case OP_CUSTOM_FREE: op_custom_free(); break;
    case OP_CUSTOM_APPLY: op_custom_apply(); break;
    case OP_SET_CUSTOM: op_set_custom(); break;
    case OP_ADOPT: op_adopt(); break;
    case OP_IS_LIVE: op_is_live(); break;
    case OP_CLAIM: op_claim(); break;
    case OP_ERRORS: op_errors(); break;
    case OP_LIVE_COUNTS: op_live_counts(); break;
    default: op_move_slot(); break;
    }
    check_counts();
}

/* ------------------------------------------------------------------------------------------ */
/* One input                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void reset(void)
{
    nents = nlive = ncops = wrap_next = n_prints = n_forward = 0;
    callback_statuses = 0;
    for (int i = 0; i < NSLOTS; i++) {
        slots[i] = -1;
    }
    memset(run_features, 0, sizeof run_features);
}

/* Frees every live handle and custom operation, in an order taken from the data. */
static void cleanup(uint64_t h)
{
    g_cur_op = -1;
    int order[MAXENT + NCOPS];
    int n = 0;
    for (int e = 0; e < nents; e++) {
        order[n++] = e;
    }
    for (int i = 0; i < ncops; i++) {
        order[n++] = MAXENT + i;
    }
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates with a generator seeded by the data */
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        int j = (int)(h % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < n; i++) {
        int k = order[i];
        if (k >= MAXENT) {
            k -= MAXENT;
            if (cops[k].live) {
                CALL("cleanup: ds_custom_op_free(%p)", (void *)cops[k].p);
                ds_status st = ds_custom_op_free(cops[k].p);
                trace_result(st);
                if (st != DS_OK) {
                    fail("freeing a live custom operation: %s", sname(st));
                }
                cops[k].live = false;
            }
        } else if (ents[k].live) {
            CALL("cleanup: ds_array_free(h%d)", k);
            ds_status st = ds_array_free(ents[k].h);
            trace_result(st);
            if (st != DS_OK) {
                fail("freeing a live handle: %s", sname(st));
            }
            ents[k].live = false;
            nlive--;
        }
    }
    CALL("after cleanup");
    size_t arrays = ds_live_arrays(), handles = ds_live_handles();
    if (arrays != 0 || handles != 0 || nlive != 0) {
        fail("leak: ds_live_arrays() = %zu, ds_live_handles() = %zu after freeing everything",
             arrays, handles);
    }
    for (int i = 0; i < ncops; i++) {
        if (oprecs[i].variant != V_NODESTROY && oprecs[i].destroyed != 1) {
            fail("custom operation %d (%s): destroy called %d times, expected once", i,
                 variant_names[oprecs[i].variant], oprecs[i].destroyed);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_trace < 0) {
        const char *t = getenv("FUZZ_TRACE");
        g_trace = t && *t && *t != '0';
    }
    if (g_allow_internal < 0) {
        const char *t = getenv("FUZZ_ALLOW_INTERNAL");
        g_allow_internal = t && *t && *t != '0';
        for (int o = 0; o < NUM_OPS; o++) {
            op_allowed[o][DS_ERR_INTERNAL] = g_allow_internal;
        }
        /* FUZZ_ALLOW=GRAD_FORWARD:SHAPE,*:INTERNAL: statuses reported but not fatal */
        const char *allow = getenv("FUZZ_ALLOW");
        while (allow && *allow) {
            size_t len = strcspn(allow, ", ");
            const char *colon = memchr(allow, ':', len);
            bool known = false;
            if (colon) {
                size_t olen = (size_t)(colon - allow), slen = len - olen - 1;
                for (int st = 1; st < NSTATUS; st++) {
                    const char *name = ds_status_name(st) + strlen("DS_ERR_");
                    if (strlen(name) != slen || strncmp(name, colon + 1, slen) != 0) {
                        continue;
                    }
                    for (int o = 0; o < NUM_OPS; o++) {
                        if ((olen == 1 && allow[0] == '*') ||
                            (strlen(op_names[o]) == olen && !strncmp(op_names[o], allow, olen))) {
                            op_allowed[o][st] = known = true;
                        }
                    }
                }
            }
            if (!known && len > 0) {
                fprintf(stderr, "fuzz_api: FUZZ_ALLOW: expected OPCODE:STATUS (e.g. "
                                "GRAD_FORWARD:SHAPE, *:INTERNAL), got %.*s\n", (int)len, allow);
                exit(2);
            }
            allow += len;
            allow += strspn(allow, ", ");
        }
        /* FUZZ_SKIP_OPS=SPREAD,REVERSE_INDEX: opcodes (names as in op_names) not to run */
        const char *skip_ops = getenv("FUZZ_SKIP_OPS");
        while (skip_ops && *skip_ops) {
            size_t len = strcspn(skip_ops, ", ");
            bool known = false;
            for (int o = 0; o < NUM_OPS; o++) {
                if (strlen(op_names[o]) == len && strncmp(op_names[o], skip_ops, len) == 0) {
                    op_disabled[o] = known = true;
                }
            }
            if (!known && len > 0) {
                fprintf(stderr, "fuzz_api: FUZZ_SKIP_OPS: unknown opcode %.*s\n", (int)len,
                        skip_ops);
                exit(2);
            }
            skip_ops += len;
            skip_ops += strspn(skip_ops, ", ");
        }
    }
    if (ds_live_arrays() != 0 || ds_live_handles() != 0) {
        fail("arrays or handles alive before the input started");
    }
    in_p = data;
    in_n = size;
    in_i = 0;
    reset();
    uint64_t h = 0x9e3779b97f4a7c15u; /* FNV-style hash of the input: the cleanup order */
    for (size_t i = 0; i < size; i++) {
        h = (h ^ data[i]) * 0x100000001b3u;
    }
    h |= 1;
    for (g_step = 0; in_i < in_n && g_step < MAX_STEPS; g_step++) {
        step();
    }
    cleanup(h);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Standalone driver (no libFuzzer): replay files, run deterministic random inputs            */
/* ------------------------------------------------------------------------------------------ */
#ifdef FUZZ_STANDALONE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const uint8_t *cur_data;
static size_t cur_size;
static char crash_path[4096] = "fuzz-crash.bin";
static char crash_base[4000] = "fuzz-crash.bin";
static const char *cur_name = "";

/* Saves the input being run (async-signal-safe: called from signal handlers too). */
static void save_current(void)
{
    static const char m1[] = "fuzz_api: input that failed saved to ";
    static volatile sig_atomic_t saved;
    if (saved || crash_path[0] == '\0') {
        return;
    }
    saved = 1;
    int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t off = 0;
        while (off < cur_size) {
            ssize_t w = write(fd, cur_data + off, cur_size - off);
            if (w <= 0) {
                break;
            }
            off += (size_t)w;
        }
        close(fd);
        if (write(2, m1, sizeof m1 - 1) > 0 && write(2, crash_path, strlen(crash_path)) > 0 &&
            write(2, " (", 2) > 0 && write(2, cur_name, strlen(cur_name)) > 0) {
            (void)!write(2, ")\n", 2);
        }
    }
}

static void on_signal(int sig)
{
    static volatile sig_atomic_t once;
    static const char msg[] = "\nfuzz_api: fatal signal (crash, abort or timeout)\n";
    if (!once && !g_failing) {
        once = 1;
        (void)!write(2, msg, sizeof msg - 1);
        if (g_call[0] && write(2, "  last call started: ", 21) > 0 &&
            write(2, g_call, strnlen(g_call, sizeof g_call)) > 0) {
            (void)!write(2, "\n", 1);
        }
        save_current();
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Sanitizer runtimes call this before exiting with a report. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x * 0x2545f4914f6cdd1du;
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

typedef struct {
    uint8_t *data;
    size_t size;
    char *name;
    uint8_t features[NUM_OPS][NSTATUS];
    unsigned nfeat;
} input_t;

static input_t *inputs;
static size_t ninputs, cap_inputs;
static uint8_t seen[NUM_OPS][NSTATUS];
static unsigned timeout_s = 20;

static void add_input(const uint8_t *d, size_t n, const char *name)
{
    if (ninputs == cap_inputs) {
        cap_inputs = cap_inputs ? 2 * cap_inputs : 64;
        inputs = realloc(inputs, cap_inputs * sizeof *inputs);
        if (!inputs) {
            perror("realloc");
            exit(2);
        }
    }
    input_t *in = &inputs[ninputs++];
    memset(in, 0, sizeof *in);
    in->data = malloc(n ? n : 1);
    in->size = n;
    in->name = strdup(name);
    if (!in->data || !in->name) {
        perror("malloc");
        exit(2);
    }
    memcpy(in->data, d, n);
}

static void free_inputs(void)
{
    for (size_t i = 0; i < ninputs; i++) {
        free(inputs[i].data);
        free(inputs[i].name);
    }
    free(inputs);
    inputs = NULL;
    ninputs = cap_inputs = 0;
}

static int read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_api: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) {
            break;
        }
        n += r;
    }
    fclose(f);
    add_input(buf, n, path);
    free(buf);
    return 0;
}

static const char *exclude; /* --exclude: file names containing this are not read */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "fuzz_api: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        return read_file(path);
    }
    DIR *d = opendir(path);
    if (!d) {
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (exclude && strstr(de->d_name, exclude))) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names) {
                closedir(d);
                return -1;
            }
        }
        size_t len = strlen(path) + strlen(de->d_name) + 2;
        names[n] = malloc(len);
        snprintf(names[n], len, "%s/%s", path, de->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat fs;
        if (stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode) && read_file(names[i]) != 0) {
            rc = -1;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Runs one input; returns the number of (opcode, status) pairs never seen before. */
static bool keep_going;       /* --keep-going: each input in a child process */
static unsigned long failures; /* inputs that failed (with --keep-going) */

/* Runs one input in a forked child, which sends back the statistics; false if it failed. */
static bool run_in_child(const uint8_t *d, size_t n, const char *name, bool save)
{
    struct report {
        uint64_t calls[NUM_OPS][NSTATUS];
        uint64_t skipped;
        uint8_t features[NUM_OPS][NSTATUS];
    };
    static struct report rep;
    int fds[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(2);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        if (!save) {
            crash_path[0] = '\0';
        }
        cur_data = d;
        cur_size = n;
        cur_name = name;
        alarm(timeout_s);
        LLVMFuzzerTestOneInput(d, n);
        alarm(0);
        memcpy(rep.calls, stat_calls, sizeof rep.calls);
        rep.skipped = stat_skipped;
        memcpy(rep.features, run_features, sizeof rep.features);
        const char *p = (const char *)&rep;
        size_t left = sizeof rep;
        while (left > 0) {
            ssize_t w = write(fds[1], p, left);
            if (w <= 0) {
                _exit(3);
            }
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    char *p = (char *)&rep;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fds[0], p + got, sizeof rep - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof rep || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        failures++;
        fprintf(stderr, "fuzz_api: FAILED: %s (%s %d)\n", name,
                WIFSIGNALED(status) ? "signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        memset(run_features, 0, sizeof run_features);
        return false;
    }
    memcpy(stat_calls, rep.calls, sizeof rep.calls);
    stat_skipped = rep.skipped;
    memcpy(run_features, rep.features, sizeof rep.features);
    return true;
}

/* Runs one input; returns the number of (opcode, status) pairs never seen before (-1: the input
 * failed, with --keep-going). */
static int run(const uint8_t *d, size_t n, const char *name, uint8_t (*feat)[NSTATUS], bool save)
{
    if (keep_going) {
        if (!run_in_child(d, n, name, save)) {
            return -1;
        }
    } else {
        cur_data = d;
        cur_size = n;
        cur_name = name;
        alarm(timeout_s);
        LLVMFuzzerTestOneInput(d, n);
        alarm(0);
    }
    int fresh = 0;
    for (int o = 0; o < NUM_OPS; o++) {
        for (int s = 0; s < NSTATUS; s++) {
            if (run_features[o][s]) {
                if (!seen[o][s]) {
                    seen[o][s] = 1;
                    fresh++;
                }
                if (feat) {
                    feat[o][s] = 1;
                }
            }
        }
    }
    return fresh;
}

static size_t mutate(uint8_t *buf, size_t n, size_t max_len)
{
    int k = 1 + (int)rnd_below(4);
    for (int i = 0; i < k; i++) {
        switch (rnd_below(8)) {
        case 0: /* flip a bit */
            if (n) {
                buf[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
            }
            break;
        case 1: /* set a byte */
        case 2:
            if (n) {
                static const uint8_t interesting[8] = {0, 255, 248, 240, 224, 232, 1, 128};
                buf[rnd_below(n)] = rnd_below(2) ? (uint8_t)rnd() : interesting[rnd_below(8)];
            }
            break;
        case 3: /* insert random bytes */
            if (n < max_len) {
                size_t at = rnd_below(n + 1), m = 1 + rnd_below(8);
                if (m > max_len - n) {
                    m = max_len - n;
                }
                memmove(buf + at + m, buf + at, n - at);
                for (size_t j = 0; j < m; j++) {
                    buf[at + j] = (uint8_t)rnd();
                }
                n += m;
            }
            break;
        case 4: /* delete a range */
            if (n > 1) {
                size_t at = rnd_below(n), m = 1 + rnd_below(16);
                if (m > n - at) {
                    m = n - at;
                }
                memmove(buf + at, buf + at + m, n - at - m);
                n -= m;
            }
            break;
        case 5: /* duplicate a chunk */
            if (n > 1 && n < max_len) {
                size_t from = rnd_below(n), m = 1 + rnd_below(32);
                if (m > n - from) {
                    m = n - from;
                }
                if (m > max_len - n) {
                    m = max_len - n;
                }
                size_t at = rnd_below(n + 1);
                uint8_t tmp[32];
                memcpy(tmp, buf + from, m);
                memmove(buf + at + m, buf + at, n - at);
                memcpy(buf + at, tmp, m);
                n += m;
            }
            break;
        default: /* splice in part of another input */
            if (ninputs > 0) {
                const input_t *o = &inputs[rnd_below(ninputs)];
                if (o->size > 0) {
                    size_t from = rnd_below(o->size), at = rnd_below(n + 1);
                    size_t m = o->size - from;
                    if (m > max_len - at) {
                        m = max_len - at;
                    }
                    memcpy(buf + at, o->data + from, m);
                    if (at + m > n) {
                        n = at + m;
                    }
                }
            }
            break;
        }
    }
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: fuzz_api [--seed S] [--runs N] [--max-len L] [--timeout SECONDS]\n"
            "                [--crash-file PATH] [--memory-limit-mb MB] [--skip-ops A,B]\n"
            "                [--keep-going] [--exclude SUBSTRING] [--trace] [--stats] [--quiet]\n"
            "                [--write-corpus DIR --count K] [files or directories...]\n"
            "  Replays every input file given (directories: every file in them whose name does\n"
            "  not contain the --exclude substring, in name order), then runs N\n"
            "  deterministic pseudo-random inputs derived from the seed (fresh ones and\n"
            "  mutations of the inputs given or found). Exit status 0 when every check holds;\n"
            "  a failed check or crash saves the input to --crash-file (default\n"
            "  ./fuzz-crash.bin) and aborts. The address space is limited to --memory-limit-mb\n"
            "  (default 2048, 0: no limit; not in sanitizer builds). --skip-ops (or the\n"
            "  environment variable FUZZ_SKIP_OPS) names opcodes not to run, e.g. while a known\n"
            "  bug is being fixed; FUZZ_ALLOW=OPCODE:STATUS,... (e.g. GRAD_FORWARD:SHAPE,\n"
            "  *:INTERNAL) reports those statuses and goes on.\n"
            "  --keep-going: run each input in a child process, go on after a failure, list the\n"
            "  inputs that failed (random ones saved as <crash-file>.<run>), exit status 1.\n"
            "  --write-corpus DIR --count K: generate inputs (N runs, default 200 * K) and write\n"
            "  the K that together reach the most (opcode, status) pairs to DIR/gen-NNN.bin.\n");
}

static int cmp_nfeat(const void *a, const void *b)
{
    const input_t *x = a, *y = b;
    return (y->nfeat > x->nfeat) - (y->nfeat < x->nfeat);
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    long long runs = -1;
    size_t max_len = 1024;
    const char *corpus_out = NULL;
    long count = 40;
    bool quiet = false, stats = false;
    int nfiles = 0;
    long rss_limit_mb = 2048;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seed") && v) {
            seed = strtoull(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--runs") && v) {
            runs = strtoll(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--max-len") && v) {
            max_len = (size_t)strtoull(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--timeout") && v) {
            timeout_s = (unsigned)strtoul(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--memory-limit-mb") && v) {
            rss_limit_mb = strtol(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--skip-ops") && v) {
            setenv("FUZZ_SKIP_OPS", v, 1);
            i++;
        } else if (!strcmp(a, "--crash-file") && v) {
            snprintf(crash_path, sizeof crash_path, "%s", v);
            snprintf(crash_base, sizeof crash_base, "%s", v);
            i++;
        } else if (!strcmp(a, "--exclude") && v) {
            exclude = v;
            i++;
        } else if (!strcmp(a, "--keep-going")) {
            keep_going = true;
        } else if (!strcmp(a, "--write-corpus") && v) {
            corpus_out = v;
            i++;
        } else if (!strcmp(a, "--count") && v) {
            count = strtol(v, NULL, 0);
            i++;
        } else if (!strcmp(a, "--trace")) {
            g_trace = 1;
        } else if (!strcmp(a, "--stats")) {
            stats = true;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (a[0] == '-') {
            usage();
            return 2;
        } else {
            argv[nfiles++] = argv[i]; /* read once every option is known */
        }
    }
    for (int i = 0; i < nfiles; i++) {
        if (read_path(argv[i]) != 0) {
            return 2;
        }
    }
    if (max_len < 16) {
        max_len = 16;
    }
    if (runs < 0) {
        runs = corpus_out ? 200LL * count : (nfiles ? 0 : 1000);
    }
    if (corpus_out) {
        keep_going = true; /* candidates that fail (known bugs) are left out */
    }
    if (corpus_out && count <= 0) {
        usage();
        return 2;
    }

    /* A runaway allocation must fail (and abort, reported) rather than exhaust the machine.
     * Not under AddressSanitizer, which reserves terabytes of address space for its shadow
     * (use ASAN_OPTIONS=max_allocation_size_mb=... there). */
#ifdef __SANITIZE_ADDRESS__
    (void)rss_limit_mb;
#else
    if (rss_limit_mb > 0) {
        struct rlimit rl = {(rlim_t)rss_limit_mb << 20, (rlim_t)rss_limit_mb << 20};
        setrlimit(RLIMIT_AS, &rl);
    }
#endif
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        signal(sigs[i], on_signal);
    }
    g_fail_hook = save_current;
    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(save_current);
    }

    double t0 = now();
    size_t replayed = ninputs;
    for (size_t i = 0; i < replayed; i++) {
        if (g_trace > 0) {
            fprintf(stderr, "=== %s (%zu bytes)\n", inputs[i].name, inputs[i].size);
        }
        int fresh = run(inputs[i].data, inputs[i].size, inputs[i].name, inputs[i].features, false);
        inputs[i].nfeat = fresh > 0 ? (unsigned)fresh : 0;
    }
    double t1 = now();

    /* Random runs: half fresh inputs, half mutations of known ones. Inputs that reach a new
     * (opcode, status) pair join the pool (a crude, deterministic form of coverage guidance). */
    rng_state = seed * 0x9e3779b97f4a7c15u + 0x632be59bd9b4e019u;
    if (rng_state == 0) {
        rng_state = 1;
    }
    uint8_t *buf = malloc(max_len);
    char name[96];
    if (!buf) {
        return 2;
    }
    for (long long r = 0; r < runs; r++) {
        size_t n;
        if (ninputs > 0 && rnd_below(2)) {
            const input_t *base = &inputs[rnd_below(ninputs)];
            n = base->size < max_len ? base->size : max_len;
            memcpy(buf, base->data, n);
            n = mutate(buf, n, max_len);
        } else {
            n = 8 + rnd_below(max_len - 7);
            for (size_t j = 0; j < n; j++) {
                buf[j] = (uint8_t)rnd();
            }
        }
        snprintf(name, sizeof name, "seed %" PRIu64 " run %lld", seed, r);
        uint8_t feat[NUM_OPS][NSTATUS];
        memset(feat, 0, sizeof feat);
        if (keep_going) {
            snprintf(crash_path, sizeof crash_path, "%s.%lld", crash_base, r);
        }
        if (run(buf, n, name, feat, true) > 0 && ninputs < 4096) {
            add_input(buf, n, name);
            memcpy(inputs[ninputs - 1].features, feat, sizeof feat);
        }
        if (!quiet && runs >= 100000 && (r + 1) % 100000 == 0) {
            fprintf(stderr, "fuzz_api: %lld runs, %.1f s\n", r + 1, now() - t0);
        }
    }
    free(buf);
    double t2 = now();

    uint64_t calls = 0, per_status[NSTATUS] = {0};
    int reached = 0, pairs = 0;
    for (int o = 0; o < NUM_OPS; o++) {
        uint64_t c = 0;
        for (int s = 0; s < NSTATUS; s++) {
            c += stat_calls[o][s];
            per_status[s] += stat_calls[o][s];
            pairs += seen[o][s];
        }
        calls += c;
        reached += c > 0;
    }
    printf("fuzz_api: %zu inputs replayed (%.2f s), %lld random runs with seed %" PRIu64
           " (%.2f s)\n",
           replayed, t1 - t0, runs, seed, t2 - t1);
    printf("fuzz_api: %" PRIu64 " steps, %d/%d opcodes reached, %d (opcode, status) pairs, %" PRIu64
           " steps skipped by size limits\n",
           calls, reached, NUM_OPS, pairs, stat_skipped);
    printf("fuzz_api: statuses:");
    for (int s = 0; s < NSTATUS; s++) {
        printf(" %s=%" PRIu64, ds_status_name(s), per_status[s]);
    }
    printf("\n");
    if (stats) {
        printf("%-16s %10s %10s %10s %10s %10s %10s %10s %10s\n", "opcode", "OK", "NULL", "HANDLE",
               "SHAPE", "ARGUMENT", "NO_GRAD", "GRAPH", "INTERNAL");
        for (int o = 0; o < NUM_OPS; o++) {
            printf("%-16s", op_names[o]);
            for (int s = 0; s < NSTATUS; s++) {
                printf(" %10" PRIu64, stat_calls[o][s]);
            }
            printf("\n");
        }
    }
    if (!quiet && reached < NUM_OPS) {
        printf("fuzz_api: opcodes not reached:");
        for (int o = 0; o < NUM_OPS; o++) {
            uint64_t c = 0;
            for (int s = 0; s < NSTATUS; s++) {
                c += stat_calls[o][s];
            }
            if (!c) {
                printf(" %s", op_names[o]);
            }
        }
        printf("\n");
    }

    if (corpus_out) {
        /* Greedy cover of the (opcode, status) pairs, then the richest remaining inputs. */
        uint8_t covered[NUM_OPS][NSTATUS];
        memset(covered, 0, sizeof covered);
        for (size_t i = 0; i < ninputs; i++) {
            inputs[i].nfeat = 0;
            for (int o = 0; o < NUM_OPS; o++) {
                for (int s = 0; s < NSTATUS; s++) {
                    inputs[i].nfeat += inputs[i].features[o][s];
                }
            }
        }
        qsort(inputs + replayed, ninputs - replayed, sizeof *inputs, cmp_nfeat);
        bool *chosen = calloc(ninputs, sizeof *chosen);
        long written = 0;
        mkdir(corpus_out, 0755);
        while (written < count) {
            size_t best = SIZE_MAX;
            unsigned best_gain = 0;
            for (size_t i = replayed; i < ninputs; i++) {
                unsigned gain = 0;
                if (chosen[i]) {
                    continue;
                }
                for (int o = 0; o < NUM_OPS; o++) {
                    for (int s = 0; s < NSTATUS; s++) {
                        gain += inputs[i].features[o][s] && !covered[o][s];
                    }
                }
                if (best == SIZE_MAX || gain > best_gain) {
                    best = i;
                    best_gain = gain;
                }
            }
            if (best == SIZE_MAX) {
                break;
            }
            chosen[best] = true;
            for (int o = 0; o < NUM_OPS; o++) {
                for (int s = 0; s < NSTATUS; s++) {
                    covered[o][s] |= inputs[best].features[o][s];
                }
            }
            char path[4096];
            snprintf(path, sizeof path, "%s/gen-%03ld.bin", corpus_out, written);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(inputs[best].data, 1, inputs[best].size, f) != inputs[best].size) {
                fprintf(stderr, "fuzz_api: cannot write %s\n", path);
                return 2;
            }
            fclose(f);
            written++;
        }
        int cov = 0;
        for (int o = 0; o < NUM_OPS; o++) {
            for (int s = 0; s < NSTATUS; s++) {
                cov += covered[o][s];
            }
        }
        printf("fuzz_api: wrote %ld inputs to %s, covering %d (opcode, status) pairs\n", written,
               corpus_out, cov);
        free(chosen);
    }
    free_inputs();
    if (failures > 0 && corpus_out) {
        printf("fuzz_api: %lu candidate inputs failed (listed above) and were left out\n",
               failures);
    } else if (failures > 0) {
        printf("fuzz_api: %lu inputs FAILED (listed above)\n", failures);
        return 1;
    }
    if (ds_live_arrays() != 0 || ds_live_handles() != 0) {
        fprintf(stderr, "fuzz_api: arrays alive at exit\n");
        return 1;
    }
    printf("fuzz_api: OK\n");
    return 0;
}

#endif /* FUZZ_STANDALONE */
