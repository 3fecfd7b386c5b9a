/*
 * train_mpi.c -- data-parallel training with MPI through diffstruc's C ABI.
 *
 * A 1-hidden-layer tanh regression y = W2 tanh(W1 x + b1) + b2 (2 inputs, 6 hidden units, 1
 * output) is fitted to 64 samples by plain gradient descent (SGD on the full batch) for 20
 * steps. The data and the initial parameters are given by formulas: no random numbers.
 *
 * Each rank takes a contiguous shard of the batch (shards differ by at most one sample when
 * the batch does not divide evenly), builds the graph of its part of the loss and runs reverse
 * mode. The loss is the sum of squared errors over the shard divided by the *total* batch size,
 * so the shards' gradients add up to the full batch's: MPI_Allreduce(MPI_IN_PLACE, ...) sums
 * them directly in the library's gradient buffers (ds_array_grad_data, zero copy). Every rank
 * then applies the same update to its parameters in place (ds_array_data_mut). Run with one
 * rank, the program is the single-process reference.
 *
 *   mpirun -np 2 ./train_mpi [params.txt]
 *
 * Rank 0 prints the loss and the final parameters and, given a path, writes the parameters
 * there, one value per line (W1, b1, W2, b2, each column-major).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include "diffstruc.h"

enum { N_TOTAL = 64, N_IN = 2, N_HIDDEN = 6, N_STEPS = 20, N_PARAMS = 4 };
static const float LEARNING_RATE = 0.2f;

/* Every ds_ call returns a status; on failure, ds_last_error() says why. One rank failing
 * stops them all. */
#define TRY(call)                                                                           \
    do {                                                                                    \
        ds_status st_ = (call);                                                             \
        if (st_ != DS_OK) {                                                                 \
            fprintf(stderr, "%s failed: %s: %s\n", #call, ds_status_name((int32_t)st_),     \
                    ds_last_error());                                                       \
            MPI_Abort(MPI_COMM_WORLD, EXIT_FAILURE);                                        \
        }                                                                                   \
    } while (0)

/* Sample i of the data set (0-based, global numbering): inputs on a grid, a smooth target. */
static void sample(int i, float x[N_IN], float *target)
{
    double u = -1.0 + 2.0 * i / (N_TOTAL - 1);
    double v = cos(3.0 * u + 0.5);
    x[0] = (float)u;
    x[1] = (float)v;
    *target = (float)(sin(2.0 * u) + 0.5 * u * v);
}

/* The parameters W1 [6,2], b1 [6], W2 [1,6], b2 [1]: one sample each (batch 1), shared by the
 * whole batch (not sample-dependent), so reverse mode sums their gradient over the samples. */
static const char *const param_names[N_PARAMS] = {"W1", "b1", "W2", "b2"};

static ds_array *new_param(const int64_t *shape, size_t rank, double phase)
{
    int64_t n = 1;
    for (size_t d = 0; d < rank; d++) {
        n *= shape[d];
    }
    float v[N_HIDDEN * N_IN]; /* the largest parameter, W1 */
    if (n > (int64_t)(sizeof v / sizeof v[0])) {
        MPI_Abort(MPI_COMM_WORLD, EXIT_FAILURE);
    }
    for (int64_t k = 0; k < n; k++) {
        v[k] = (float)(0.5 * sin(1.7 * (double)k + phase));
    }
    ds_array *p;
    TRY(ds_array_from_data(shape, rank, 1, v, (size_t)n, &p));
    TRY(ds_array_set_flag(p, DS_FLAG_REQUIRES_GRAD, true));
    TRY(ds_array_set_flag(p, DS_FLAG_SAMPLE_DEPENDENT, false));
    return p;
}

/* This shard's loss, sum over its samples of (y - t)^2, divided by N_TOTAL. Intermediate
 * handles are freed at once: the returned loss keeps its graph alive. */
static ds_array *shard_loss(ds_array *const p[N_PARAMS], const ds_array *x, const ds_array *t)
{
    ds_array *z1, *a1, *h, *z2, *y, *e, *e2, *s, *loss;
    TRY(ds_matmul(p[0], x, &z1));                 /* W1 x: [6] per sample */
    TRY(ds_binary(DS_ADD, z1, p[1], &a1));        /* + b1 */
    TRY(ds_unary(DS_TANH, a1, &h));               /* h = tanh(...) */
    TRY(ds_matmul(p[2], h, &z2));                 /* W2 h: [1] per sample */
    TRY(ds_binary(DS_ADD, z2, p[3], &y));         /* y = ... + b2 */
    TRY(ds_binary(DS_SUB, y, t, &e));             /* y - t */
    TRY(ds_binary_scalar(DS_POW, e, 2.0f, &e2));  /* (y - t)^2 */
    TRY(ds_sum_all(e2, &s));                      /* summed over the shard */
    TRY(ds_binary_scalar(DS_MUL, s, 1.0f / (float)N_TOTAL, &loss));
    ds_array *const temps[] = {z1, a1, h, z2, y, e, e2, s};
    for (size_t k = 0; k < sizeof temps / sizeof temps[0]; k++) {
        TRY(ds_array_free(temps[k]));
    }
    return loss;
}

/* The full-batch loss: every shard's part, summed over the ranks. */
static float global_loss(const ds_array *loss)
{
    float *v;
    TRY(ds_array_data(loss, &v));
    float total = v[0];
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return total;
}

static int64_t count(const ds_array *a)
{
    int64_t e, s;
    TRY(ds_array_extents(a, &e, &s));
    return e * s;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > N_TOTAL) {
        if (rank == 0) {
            fprintf(stderr, "train_mpi: at most %d ranks (one sample each at least)\n", N_TOTAL);
        }
        MPI_Abort(MPI_COMM_WORLD, EXIT_FAILURE);
    }

    /* This rank's shard: samples first .. first+n-1; the first N_TOTAL % size ranks take one
     * more than the others. */
    int base = N_TOTAL / size, extra = N_TOTAL % size;
    int n = base + (rank < extra ? 1 : 0);
    int first = rank * base + (rank < extra ? rank : extra);

    float xs[N_IN * N_TOTAL], ts[N_TOTAL];
    for (int i = 0; i < n; i++) {
        sample(first + i, &xs[N_IN * i], &ts[i]);
    }
    const int64_t in_shape[] = {N_IN}, out_shape[] = {1};
    ds_array *x, *t; /* data: no gradient */
    TRY(ds_array_from_data(in_shape, 1, n, xs, (size_t)(N_IN * n), &x));
    TRY(ds_array_from_data(out_shape, 1, n, ts, (size_t)n, &t));

    const int64_t w1_shape[] = {N_HIDDEN, N_IN}, b1_shape[] = {N_HIDDEN};
    const int64_t w2_shape[] = {1, N_HIDDEN}, b2_shape[] = {1};
    ds_array *p[N_PARAMS] = {
        new_param(w1_shape, 2, 0.3), new_param(b1_shape, 1, 1.1),
        new_param(w2_shape, 2, 2.3), new_param(b2_shape, 1, 0.0),
    };

    if (rank == 0) {
        printf("train_mpi (C): %d samples on %d rank(s), %d steps of SGD, learning rate %g\n",
               N_TOTAL, size, N_STEPS, (double)LEARNING_RATE);
    }
    for (int step = 1; step <= N_STEPS; step++) {
        for (int k = 0; k < N_PARAMS; k++) {
            TRY(ds_zero_grad(p[k]));
        }
        ds_array *loss = shard_loss(p, x, t);
        TRY(ds_grad_reverse(loss, NULL, 0));
        float total = global_loss(loss);
        /* The graph is no longer needed; the gradients stay with the parameters. */
        TRY(ds_array_free(loss));

        for (int k = 0; k < N_PARAMS; k++) {
            float *g, *w;
            int m = (int)count(p[k]);
            /* Sum the shards' gradients in the library's own buffer: no copy. */
            TRY(ds_array_grad_data(p[k], &g));
            MPI_Allreduce(MPI_IN_PLACE, g, m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            /* The same update on every rank, in place. */
            TRY(ds_array_data_mut(p[k], &w));
            for (int j = 0; j < m; j++) {
                w[j] -= LEARNING_RATE * g[j];
            }
        }
        if (rank == 0 && (step == 1 || step % 5 == 0)) {
            printf("step %3d  loss %.6e\n", step, (double)total);
        }
    }

    /* The loss of the final parameters (forward only). */
    ds_array *loss = shard_loss(p, x, t);
    float final_loss = global_loss(loss);
    TRY(ds_array_free(loss));

    if (rank == 0) {
        printf("final loss %.9e\n", (double)final_loss);
        FILE *out = NULL;
        if (argc > 1 && (out = fopen(argv[1], "w")) == NULL) {
            fprintf(stderr, "train_mpi: cannot write %s\n", argv[1]);
            MPI_Abort(MPI_COMM_WORLD, EXIT_FAILURE);
        }
        for (int k = 0; k < N_PARAMS; k++) {
            const float *w;
            TRY(ds_array_data_const(p[k], &w));
            printf("%s:", param_names[k]);
            for (int64_t j = 0; j < count(p[k]); j++) {
                printf(" %.9e", (double)w[j]);
                if (out) {
                    fprintf(out, "%.9e\n", (double)w[j]);
                }
            }
            printf("\n");
        }
        if (out && fclose(out) != 0) {
            fprintf(stderr, "train_mpi: cannot write %s\n", argv[1]);
            MPI_Abort(MPI_COMM_WORLD, EXIT_FAILURE);
        }
    }

    for (int k = 0; k < N_PARAMS; k++) {
        TRY(ds_array_free(p[k]));
    }
    TRY(ds_array_free(x));
    TRY(ds_array_free(t));
    int leaked = ds_live_arrays() != 0 || ds_live_handles() != 0;
    if (leaked) {
        fprintf(stderr, "rank %d: %zu arrays and %zu handles still alive\n", rank,
                ds_live_arrays(), ds_live_handles());
    }
    MPI_Allreduce(MPI_IN_PLACE, &leaked, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    MPI_Finalize();
    return leaked ? EXIT_FAILURE : EXIT_SUCCESS;
}
