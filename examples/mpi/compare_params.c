/*
 * compare_params.c -- the check of the MPI agreement tests (cmake/MpiAgreement.cmake).
 *
 *   compare_params <reference> <other> <rel_tol> <abs_tol>
 *
 * Reads two files of numbers, one per line (the parameters train_mpi writes), and checks that
 * they have as many values and that every pair agrees: |a - b| <= abs_tol + rel_tol * max(|a|,
 * |b|). Prints the largest absolute and relative differences; exits 0 when all agree, 1 when
 * not, 2 on a usage or read error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_VALUES = 4096 };

/* Reads up to MAX_VALUES numbers; returns their count, or -1 (with a message) on failure. */
static int read_values(const char *path, double *values)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "compare_params: cannot open %s\n", path);
        return -1;
    }
    int n = 0;
    double v;
    int got;
    while ((got = fscanf(f, "%lf", &v)) == 1) {
        if (n == MAX_VALUES) {
            fprintf(stderr, "compare_params: more than %d values in %s\n", MAX_VALUES, path);
            fclose(f);
            return -1;
        }
        values[n++] = v;
    }
    int bad = got != EOF || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "compare_params: %s: value %d is not a number\n", path, n + 1);
        return -1;
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: compare_params <reference> <other> <rel_tol> <abs_tol>\n");
        return 2;
    }
    static double ref[MAX_VALUES], other[MAX_VALUES];
    int n = read_values(argv[1], ref), m = read_values(argv[2], other);
    if (n < 0 || m < 0) {
        return 2;
    }
    if (n == 0 || n != m) {
        fprintf(stderr, "compare_params: %s has %d values, %s has %d\n", argv[1], n, argv[2], m);
        return 1;
    }
    double rel_tol = strtod(argv[3], NULL), abs_tol = strtod(argv[4], NULL);
    double max_abs = 0.0, max_rel = 0.0;
    int worst = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(ref[i] - other[i]);
        double scale = fmax(fabs(ref[i]), fabs(other[i]));
        /* written so that a NaN on either side fails */
        if (!(d <= abs_tol + rel_tol * scale)) {
            failed++;
            printf("value %d differs: %.9e vs %.9e\n", i + 1, ref[i], other[i]);
        }
        if (d > max_abs || isnan(d)) {
            max_abs = d;
            worst = i;
        }
        if (scale > 0.0 && d / scale > max_rel) {
            max_rel = d / scale;
        }
    }
    printf("%d values, max abs diff %.3e (value %d), max rel diff %.3e; tolerance rel %g abs %g: "
           "%s\n",
           n, max_abs, worst + 1, max_rel, rel_tol, abs_tol, failed ? "DISAGREE" : "agree");
    return failed ? 1 : 0;
}
