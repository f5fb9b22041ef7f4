/* Minimal STREAM triad (McCalpin's rules) for the harness self-check: a[i] = b[i] + q*c[i].
 * Usage: stream_triad N NTIMES   (N doubles per array). Prints best and median GB/s (1e9 B/s),
 * counting 3 arrays x 8 bytes per element, and excluding the first pass, as STREAM does.
 * Build: gcc -O3 -fopenmp -march=native stream_triad.c -o stream_triad */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s N NTIMES\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]);
    int ntimes = atoi(argv[2]);
    if (n <= 0 || ntimes < 2) return 2;
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
    double *t = malloc(ntimes * sizeof(double));
    const double q = 3.0;
    if (!a || !b || !c || !t) return 3;
#pragma omp parallel for
    for (long i = 0; i < n; i++) { a[i] = 1.0; b[i] = 2.0; c[i] = 0.0; } /* first touch by the worker threads */
    for (int k = 0; k < ntimes; k++) {
        double t0 = omp_get_wtime();
#pragma omp parallel for
        for (long i = 0; i < n; i++) a[i] = b[i] + q * c[i];
        t[k] = omp_get_wtime() - t0;
    }
    qsort(t + 1, ntimes - 1, sizeof(double), cmp); /* pass 0 excluded */
    double bytes = 3.0 * sizeof(double) * (double)n;
    int m = ntimes - 1;
    double median = (m % 2) ? t[1 + m / 2] : 0.5 * (t[m / 2] + t[1 + m / 2]);
    printf("best_gbps %.3f\nmedian_gbps %.3f\nthreads %d\ncheck %.1f\n", bytes / t[1] / 1e9, bytes / median / 1e9,
           omp_get_max_threads(), a[n / 2]);
    free(a); free(b); free(c); free(t);
    return 0;
}
