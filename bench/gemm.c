/* GEMM throughput (GFLOP/s): nn.h's nn_matmul next to OpenBLAS's cblas_sgemm on the
   same shapes and the same thread count. Part of `make bench` (bench/bench.sh).

   One source, two backends chosen when compiling:
     cc -std=c99 -O2 bench/gemm.c -o gemm_nn -lm                       nn.h (README's line)
     cc -std=c99 -O3 -march=native bench/gemm.c -o gemm_nn_native -lm  nn.h, tuned build
     cc -std=c99 -O2 -DBENCH_OPENBLAS -I<openblas include> bench/gemm.c -o gemm_blas -lopenblas -lm

   Usage: gemm THREADS SECONDS [MxKxN ...]     (no shapes: the default list below)
          gemm list                           prints the default shapes, one a line
   Each shape is C (M x N) = A (M x K) @ B (K x N), row-major float32. nn.h goes through its
   public API: persistent A and B, C = nn_matmul(A, B) with grad disabled, then
   nn_arena_reset(ctx) after each call (so the output allocation is counted, as a user sees it).
   Each shape is warmed up, then timed call by call for about SECONDS; the figure is
   2*M*N*K / median call time. One line per shape on stdout:
     gemm <backend> <threads requested> <threads used> <MxKxN> <GFLOP/s>
   after one "info" line (nn.h's CPU capability, or the OpenBLAS kernel set).
   Timings are for comparison on one machine, never assertions. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime under -std=c99 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef BENCH_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int num_threads);   /* OpenBLAS's own calls (also in its cblas.h) */
int openblas_get_num_threads(void);
char *openblas_get_corename(void);                 /* the kernel set it picked, e.g. "SkylakeX" */
#else
#define NN_IMPLEMENTATION
#include "../nn.h"
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The default shapes: square, then the MLP's (784-128-10, batch 64) forward and backward
   GEMMs, MY_NET's per-sample convolution GEMMs (Og x K) @ (K x P), and its fc1. */
static const char *default_shapes[] = {
    "256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048",
    "64x784x128", "64x128x784", "128x64x784",
    "32x9x784", "64x288x784", "128x576x196",
    "64x6272x512",
};

#define MAX_SAMPLES 100000

int main(int argc, char **argv) {
    int threads, used, s, nshapes;
    double seconds;
    const char **shapes;
    static double t[MAX_SAMPLES];
#ifdef BENCH_OPENBLAS
    const char *backend = "openblas";
#else
    const char *backend = "nn";
    nn_ctx *ctx;
#endif
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        for (s = 0; s < (int)(sizeof default_shapes / sizeof default_shapes[0]); s++) printf("%s\n", default_shapes[s]);
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: %s THREADS SECONDS [MxKxN ...] | %s list\n", argv[0], argv[0]);
        return 2;
    }
    threads = atoi(argv[1]);
    seconds = atof(argv[2]);
    if (threads < 1 || !(seconds > 0)) { fprintf(stderr, "gemm: bad THREADS or SECONDS\n"); return 2; }
    shapes = argc > 3 ? (const char **)(argv + 3) : default_shapes;
    nshapes = argc > 3 ? argc - 3 : (int)(sizeof default_shapes / sizeof default_shapes[0]);

#ifdef BENCH_OPENBLAS
    openblas_set_num_threads(threads);
    used = openblas_get_num_threads();
    printf("info openblas_core %s\n", openblas_get_corename());
#else
    ctx = nn_ctx_new();
    if (!ctx) { fprintf(stderr, "gemm: no context\n"); return 1; }
    used = nn_set_num_threads(ctx, threads);   /* torch.set_num_threads; returns the count in effect */
    nn_set_grad_enabled(ctx, 0);                       /* torch.no_grad(): no graph is recorded */
    printf("info nn_capability %s\n", nn_get_cpu_capability());
#endif

    for (s = 0; s < nshapes; s++) {
        long long M, K, N;
        int n = 0, i;
        double t0, flops, med;
        if (sscanf(shapes[s], "%lldx%lldx%lld", &M, &K, &N) != 3 || M < 1 || K < 1 || N < 1) {
            fprintf(stderr, "gemm: bad shape %s (want MxKxN)\n", shapes[s]);
            return 2;
        }
        flops = 2.0 * (double)M * (double)N * (double)K;
#ifdef BENCH_OPENBLAS
        {
            float *A = (float *)malloc((size_t)(M * K) * sizeof(float));
            float *B = (float *)malloc((size_t)(K * N) * sizeof(float));
            float *C = (float *)malloc((size_t)(M * N) * sizeof(float));
            long long j;
            if (!A || !B || !C) { fprintf(stderr, "gemm: out of memory\n"); return 1; }
            for (j = 0; j < M * K; j++) A[j] = (float)rand() / (float)RAND_MAX - 0.5f;
            for (j = 0; j < K * N; j++) B[j] = (float)rand() / (float)RAND_MAX - 0.5f;
#define CALL() cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B, (int)N, \
                           0.0f, C, (int)N)
#else
        {
            int64_t sa[2], sb[2];
            nn_tensor *A, *B;
            sa[0] = M; sa[1] = K; sb[0] = K; sb[1] = N;
            A = nn_randn(ctx, 2, sa);
            B = nn_randn(ctx, 2, sb);
            if (!A || !B) { fprintf(stderr, "gemm: %s\n", nn_error(ctx) ? nn_error(ctx) : "no tensors"); return 1; }
#define CALL() do { nn_matmul(A, B); nn_arena_reset(ctx); } while (0)
#endif
            /* warm-up: the first call grows the arena / starts the thread pool; at least one
               call and about a tenth of the time box */
            t0 = now();
            for (i = 0; i < 1 || now() - t0 < 0.1 * seconds; i++) CALL();
            /* timed: call by call until the time box is spent (at least one call, so a slow
               build on 2048^3 costs one call, not several) */
            t0 = now();
            while (n < MAX_SAMPLES && (n < 1 || now() - t0 < seconds)) {
                double a = now();
                CALL();
                t[n++] = now() - a;
            }
#undef CALL
#ifdef BENCH_OPENBLAS
            free(A); free(B); free(C);
#else
            if (nn_error(ctx)) { fprintf(stderr, "gemm: nn.h error: %s\n", nn_error(ctx)); return 1; }
            nn_free(A); nn_free(B);
#endif
        }
        qsort(t, (size_t)n, sizeof t[0], cmp_double);
        med = t[n / 2];
        printf("gemm %s %d %d %s %.1f\n", backend, threads, used, shapes[s], flops / med * 1e-9);
        fflush(stdout);
        fprintf(stderr, "gemm %-8s threads %d  %-16s %9.2f GFLOP/s  (%d calls, median %.1f us)\n", backend, threads,
                shapes[s], flops / med * 1e-9, n, med * 1e6);
    }
#ifndef BENCH_OPENBLAS
    nn_ctx_free(ctx);
#endif
    return 0;
}
