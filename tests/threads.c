/* Two models in two threads must not interfere (GUIDE: no mutable globals), and results do not
   depend on the thread count (nn.h's worker pool). An MLP (Linear-ReLU-Linear, cross entropy,
   Adam) and a CNN (Conv2d-ReLU-MaxPool2d-Flatten-Linear, cross entropy, SGD with momentum) are
   trained, each in its own nn_ctx, first one after the other on the main thread (1 thread: the
   reference; then 2 and 3 threads), then at the same time in two pthreads:
     - each context on 1 thread; on a pool of 2; on a pool of 3 (six threads at once);
     - the thread count changed between steps (1, 2, 3, 2, 3, 1, ...);
     - an error in one context while the other trains: the other's nn_error and logger stay clean,
       and the first error of each context is its own;
     - one context freed (its pool stopped and joined), and new pooled contexts made and freed,
       while the other trains on its pool.
   Every run's parameters and per-step losses must be the reference's, byte for byte (memcmp).
   make test-threads builds it with gcc and with clang -fsanitize=thread and runs both.
   Ends with "threads: N checks, N failed" and exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#define NN_IMPLEMENTATION
#include "../nn.h"

enum { STEPS = 20, MLP_B = 96, MLP_IN = 96, MLP_H = 704, CLASSES = 10, CNN_B = 16, CNN_HW = 16, CNN_CH = 16 };
enum { MLP = 0, CNN = 1 };
static const char *const g_model[2] = { "MLP", "CNN" };

/* ---- checks, from any thread ---- */
static pthread_mutex_t g_check_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_checks, g_failed;
static int failed_now(void) { int f; pthread_mutex_lock(&g_check_mu); f = g_failed; pthread_mutex_unlock(&g_check_mu); return f; }
static void check(int ok, const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&g_check_mu);
    g_checks++;
    if (!ok) {
        g_failed++;
        printf("FAIL ");
        va_start(ap, fmt); vprintf(fmt, ap); va_end(ap);
        printf("\n");
        fflush(stdout);
    }
    pthread_mutex_unlock(&g_check_mu);
}

/* ---- events one thread sets and another waits for ---- */
enum { EV_A_ERR, EV_B_SAW_A, EV_B_ERR, EV_A_SAW_B, EV_A_AT_STEP, EV_B_FREED, EV_COUNT };
static pthread_mutex_t g_ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ev_cv = PTHREAD_COND_INITIALIZER;
static int g_ev[EV_COUNT];
static void ev_reset(void) { int i; pthread_mutex_lock(&g_ev_mu); for (i = 0; i < EV_COUNT; i++) g_ev[i] = 0; pthread_mutex_unlock(&g_ev_mu); }
static void ev_set(int e) { pthread_mutex_lock(&g_ev_mu); g_ev[e] = 1; pthread_cond_broadcast(&g_ev_cv); pthread_mutex_unlock(&g_ev_mu); }
static void ev_wait(int e) { pthread_mutex_lock(&g_ev_mu); while (!g_ev[e]) pthread_cond_wait(&g_ev_cv, &g_ev_mu); pthread_mutex_unlock(&g_ev_mu); }

/* ---- one training run ---- */
enum { SC_NONE, SC_ERRORS, SC_FREE };   /* what the two threads do besides training */
typedef struct run {
    int model;            /* MLP or CNN */
    int threads;          /* 1..3; 0: changes every step */
    int scenario, role;   /* role 0: thread A (the MLP), 1: thread B (the CNN) */
    const char *cap;      /* nn_set_cpu_capability, or NULL: the context's default (the best) */
    float *params; int64_t nparams;
    float losses[STEPS];
    char log[1024];       /* what this context's logger got */
    char err[600];        /* the context's error at the end, if any */
    int bad_threads;      /* nn_set_num_threads calls that did not give the count asked for */
} run;

static void capture(void *user, const char *msg) {
    run *r = (run *)user;
    size_t n = strlen(r->log);
    snprintf(r->log + n, sizeof r->log - n, "%s\n", msg);
}

static int threads_at(const run *r, int step) {
    static const int cycle[6] = { 1, 2, 3, 2, 3, 1 };
    return r->threads ? r->threads : cycle[(step + 3 * r->model) % 6];   /* the two models out of phase */
}

static nn_module *make_model(nn_ctx *ctx, int model) {
    nn_module *mods[5];
    if (model == MLP) {
        mods[0] = nn_linear_new(ctx, MLP_IN, MLP_H, 1);   /* 67,584 weights: Adam's update runs on the pool */
        mods[1] = nn_relu_new(ctx);                       /* (96, 704): ReLU too */
        mods[2] = nn_linear_new(ctx, MLP_H, CLASSES, 1);
        return nn_sequential_new(ctx, mods, 3);
    } else {
        nn_conv_opts pad1 = nn_conv_opts_default();
        pad1.padding = 1;
        mods[0] = nn_conv2d_new(ctx, 3, CNN_CH, 3, pad1, 1);
        mods[1] = nn_relu_new(ctx);
        mods[2] = nn_max_pool2d_new(ctx, nn_pool_opts_default(2));
        mods[3] = nn_flatten_new(ctx, 1, -1);
        mods[4] = nn_linear_new(ctx, CNN_CH * (CNN_HW / 2) * (CNN_HW / 2), CLASSES, 1);
        return nn_sequential_new(ctx, mods, 5);
    }
}

/* Thread A's (MLP) and thread B's (CNN) side of the scenarios, between steps. */
static void errors_hook(nn_ctx *ctx, run *r, int step) {
    int64_t s23[2] = { 2, 3 }, s45[2] = { 4, 5 };
    nn_tensor *a, *b;
    if (step != STEPS / 2) return;
    a = nn_zeros(ctx, 2, s23); b = nn_zeros(ctx, 2, s45);
    if (r->role == 0) {
        check(nn_matmul(a, b) == NULL, "errors: nn_matmul of (2, 3) and (4, 5) did not fail in thread A");
        ev_set(EV_A_ERR);
        ev_wait(EV_B_SAW_A);
        ev_wait(EV_B_ERR);
        check(nn_error(ctx) && strstr(nn_error(ctx), "nn_matmul") && !strstr(nn_error(ctx), "nn_add"),
              "errors: thread A's error after both failed is not its own nn_matmul one: %s", nn_error(ctx) ? nn_error(ctx) : "(none)");
        check(strstr(r->log, "nn_matmul") && !strstr(r->log, "nn_add"), "errors: thread A's logger got \"%s\"", r->log);
        nn_clear_error(ctx);
        check(nn_error(ctx) == NULL, "errors: nn_clear_error left thread A's error");
        ev_set(EV_A_SAW_B);
    } else {
        ev_wait(EV_A_ERR);
        check(nn_error(ctx) == NULL, "errors: thread A's error shows in thread B's context: %s", nn_error(ctx) ? nn_error(ctx) : "");
        check(r->log[0] == 0, "errors: thread B's logger got thread A's message: %s", r->log);
        ev_set(EV_B_SAW_A);
        check(nn_add(a, b) == NULL, "errors: nn_add of (2, 3) and (4, 5) did not fail in thread B");
        ev_set(EV_B_ERR);
        ev_wait(EV_A_SAW_B);
        check(nn_error(ctx) && strstr(nn_error(ctx), "nn_add") && !strstr(nn_error(ctx), "nn_matmul"),
              "errors: thread B's error is not its own nn_add one after thread A cleared its own: %s", nn_error(ctx) ? nn_error(ctx) : "(none)");
        check(strstr(r->log, "nn_add") && !strstr(r->log, "nn_matmul"), "errors: thread B's logger got \"%s\"", r->log);
        nn_clear_error(ctx);
    }
    nn_free(a); nn_free(b);
    nn_arena_reset(ctx);
}

/* thread A trains on; thread B, done, frees its context once A is at step 2, then makes and
   frees pooled contexts while A goes on; A waits for the first free before its last steps */
static void free_hook(run *r, int step) {
    if (r->role != 0) return;
    if (step == 2) ev_set(EV_A_AT_STEP);
    if (step == STEPS - 2) ev_wait(EV_B_FREED);
}

static void train(run *r) {
    nn_ctx *ctx = nn_ctx_new();
    nn_module *m;
    nn_optim *opt;
    nn_tensor *ps[16], *x, *t;
    int64_t xs4[4] = { CNN_B, 3, CNN_HW, CNN_HW }, xs2[2] = { MLP_B, MLP_IN }, ls[1], lab[MLP_B], i, k;
    int np, p, step, n = r->model == MLP ? MLP_B : CNN_B;
    if (!ctx) {   /* fail, and release the other thread from any wait on this one */
        check(0, "%s: nn_ctx_new failed", g_model[r->model]);
        for (i = 0; i < EV_COUNT; i++) ev_set((int)i);
        return;
    }
    nn_set_logger(ctx, capture, r);
    if (r->cap && !nn_set_cpu_capability(ctx, r->cap)) r->bad_threads++;
    nn_manual_seed(ctx, r->model == MLP ? 11 : 22);
    m = make_model(ctx, r->model);
    np = nn_module_parameters(m, ps, 16);
    if (r->model == MLP) opt = nn_adam(ps, np, nn_adam_opts_default());
    else { nn_sgd_opts o = nn_sgd_opts_default(0.01); o.momentum = 0.9; opt = nn_sgd(ps, np, o); }
    x = r->model == MLP ? nn_randn(ctx, 2, xs2) : nn_randn(ctx, 4, xs4);
    for (i = 0; i < n; i++) lab[i] = (i * 7) % CLASSES;
    ls[0] = n;
    t = nn_from_i64(ctx, 1, ls, lab);
    for (step = 0; step < STEPS; step++) {
        nn_tensor *loss;
        int want = threads_at(r, step);
        if (nn_set_num_threads(ctx, want) != want || nn_get_num_threads(ctx) != want) r->bad_threads++;
        nn_optim_zero_grad(opt);
        loss = nn_cross_entropy(nn_forward(m, x), t, nn_cross_entropy_opts_default());
        nn_backward(loss, NULL, 0);
        nn_optim_step(opt);
        r->losses[step] = nn_item(loss);
        nn_arena_reset(ctx);
        if (r->scenario == SC_ERRORS) errors_hook(ctx, r, step);
        if (r->scenario == SC_FREE) free_hook(r, step);
    }
    for (p = 0, r->nparams = 0; p < np; p++) r->nparams += ps[p]->numel;
    r->params = (float *)malloc((size_t)r->nparams * sizeof(float));
    for (p = 0, k = 0; p < np && r->params; p++) { memcpy(r->params + k, nn_f32(ps[p]), (size_t)ps[p]->numel * sizeof(float)); k += ps[p]->numel; }
    snprintf(r->err, sizeof r->err, "%s", nn_error(ctx) ? nn_error(ctx) : "");
    if (r->scenario == SC_FREE && r->role == 1) ev_wait(EV_A_AT_STEP);   /* A is training: free this context now */
    nn_optim_free(opt);
    nn_module_free(m);
    nn_free(x); nn_free(t);
    nn_ctx_free(ctx);
    if (r->scenario == SC_FREE && r->role == 1) {
        int c;
        ev_set(EV_B_FREED);
        for (c = 0; c < 6; c++) {   /* pools started and stopped beside A's */
            nn_ctx *c2 = nn_ctx_new();
            int64_t s[2] = { 64, 300 };
            nn_tensor *a, *y;
            nn_set_logger(c2, capture, r);
            check(nn_set_num_threads(c2, 2 + c % 2) == 2 + c % 2, "free: a new context beside thread A did not start %d threads", 2 + c % 2);
            a = nn_randn(c2, 2, s);
            y = nn_relu(nn_matmul(a, nn_transpose(a, 0, 1)));   /* (64, 64): a GEMM on the new pool */
            check(y && nn_error(c2) == NULL, "free: a pooled context made beside thread A failed: %s", nn_error(c2) ? nn_error(c2) : "");
            nn_free(a);
            nn_ctx_free(c2);   /* with y still in its arena */
        }
    }
}

static void free_run(run *r) { free(r->params); r->params = NULL; }

/* r against the reference: same parameters and losses, bit for bit */
static void compare(const char *what, const run *r, const run *ref) {
    int64_t i, diff = 0, first = -1;
    int s, ldiff = 0;
    check(r->err[0] == 0, "%s, %s: error: %s", what, g_model[r->model], r->err);
    check(r->bad_threads == 0, "%s, %s: nn_set_num_threads (or nn_set_cpu_capability) failed %d times", what, g_model[r->model], r->bad_threads);
    check(r->params && ref->params && r->nparams == ref->nparams, "%s, %s: %lld parameters, the reference has %lld", what,
          g_model[r->model], (long long)r->nparams, (long long)ref->nparams);
    if (r->params && ref->params && r->nparams == ref->nparams)
        for (i = 0; i < r->nparams; i++) if (memcmp(&r->params[i], &ref->params[i], sizeof(float)) != 0) { diff++; if (first < 0) first = i; }
    check(diff == 0, "%s, %s: %lld of %lld parameters differ from the sequential 1-thread run (the first, #%lld: %.9g vs %.9g)",
          what, g_model[r->model], (long long)diff, (long long)r->nparams, (long long)first,
          first >= 0 ? r->params[first] : 0.0, first >= 0 ? ref->params[first] : 0.0);
    for (s = 0; s < STEPS; s++) if (memcmp(&r->losses[s], &ref->losses[s], sizeof(float)) != 0) { if (!ldiff) printf("  %s, %s: step %d loss %.9g vs %.9g\n", what, g_model[r->model], s, r->losses[s], ref->losses[s]); ldiff++; }
    check(ldiff == 0, "%s, %s: the losses of %d of %d steps differ from the sequential 1-thread run", what, g_model[r->model], ldiff, STEPS);
}

static void *thread_main(void *arg) { train((run *)arg); return NULL; }

/* both models at once, one pthread each; threads: each context's count (0: changing);
   caps: each context's kernels (NULL: the default) */
static void concurrent(const char *what, int threads, int scenario, const char *const caps[2], const run *const ref[2]) {
    run r[2];
    pthread_t th[2];
    int k, started[2], failed0 = failed_now();
    memset(r, 0, sizeof r);
    ev_reset();
    for (k = 0; k < 2; k++) { r[k].model = k; r[k].threads = threads; r[k].scenario = scenario; r[k].role = k; r[k].cap = caps ? caps[k] : NULL; }
    for (k = 0; k < 2; k++) started[k] = pthread_create(&th[k], NULL, thread_main, &r[k]) == 0;
    check(started[0] && started[1], "%s: pthread_create failed", what);
    for (k = 0; k < 2; k++) if (started[k]) pthread_join(th[k], NULL);
    if (!started[0] || !started[1]) { free_run(&r[0]); free_run(&r[1]); return; }
    for (k = 0; k < 2; k++) compare(what, &r[k], ref[k]);
    printf("%s %s\n", failed_now() == failed0 ? "ok  " : "FAIL", what);
    free_run(&r[0]); free_run(&r[1]);
}

static const char *const g_caps[4] = { "default", "neon", "avx2", "avx512" };
static int cap_available(const char *name) {
    nn_ctx *c = nn_ctx_new(); int ok;
    nn_set_logger(c, NULL, NULL);
    ok = nn_set_cpu_capability(c, name);
    nn_ctx_free(c);
    return ok;
}

int main(void) {
    static run refc[4][2];       /* the references: each kernel set, each model, 1 thread */
    const run *ref[2], *mixed_ref[2];
    const char *best = nn_get_cpu_capability(), *mixed[2] = { "default", NULL };
    run seq;
    int c, k, th, s, failed0, nbest = -1;
    char what[160];
    /* 1. the references: each model alone on the main thread on 1 thread, with every kernel
       set this CPU runs; then again on 1 (it repeats), 2 and 3 threads, one after the other */
    for (c = 0; c < 4; c++) {
        if (!cap_available(g_caps[c])) continue;
        if (strcmp(g_caps[c], best) == 0) nbest = c;
        failed0 = failed_now();
        for (k = 0; k < 2; k++) {
            run *r = &refc[c][k];
            r->model = k; r->threads = 1; r->cap = g_caps[c];
            train(r);
            check(r->err[0] == 0 && r->bad_threads == 0 && r->params != NULL, "reference %s [%s]: %s", g_model[k], g_caps[c],
                  r->err[0] ? r->err : r->params ? "nn_set_cpu_capability failed" : "out of memory");
            for (s = 0; s < STEPS; s++) if (!isfinite(r->losses[s])) break;
            check(s == STEPS && r->losses[STEPS - 1] < 0.9f * r->losses[0], "reference %s [%s]: loss %g -> %g over %d steps: not training",
                  g_model[k], g_caps[c], r->losses[0], r->losses[STEPS - 1], STEPS);
            printf("     reference %s [%s] (%lld parameters): loss %.4f -> %.4f in %d steps\n", g_model[k], g_caps[c],
                   (long long)r->nparams, r->losses[0], r->losses[STEPS - 1], STEPS);
            if (!r->params) return 1;
            for (th = 1; th <= 3; th++) {
                memset(&seq, 0, sizeof seq);
                seq.model = k; seq.threads = th; seq.cap = g_caps[c];
                train(&seq);
                snprintf(what, sizeof what, "sequential [%s], %d thread%s", g_caps[c], th, th > 1 ? "s" : "");
                compare(what, &seq, r);
                free_run(&seq);
            }
        }
        printf("%s sequential runs [%s] on the main thread on 1, 2 and 3 threads\n", failed_now() == failed0 ? "ok  " : "FAIL", g_caps[c]);
        if (c > 0 && refc[0][0].params)   /* information: whether the kernel sets differ (the mixed run below tells them apart only if they do) */
            for (k = 0; k < 2; k++) {
                int64_t i, d = 0;
                for (i = 0; i < refc[c][k].nparams && i < refc[0][k].nparams; i++) d += memcmp(&refc[c][k].params[i], &refc[0][k].params[i], sizeof(float)) != 0;
                printf("     %s [%s] vs [default]: %lld of %lld parameters differ\n", g_model[k], g_caps[c], (long long)d, (long long)refc[c][k].nparams);
            }
        if (c > 0 && !mixed[1]) mixed[1] = g_caps[c];
    }
    check(nbest >= 0, "nn_get_cpu_capability() says %s, which nn_set_cpu_capability refuses", best);
    if (nbest < 0) return 1;
    ref[0] = &refc[nbest][0]; ref[1] = &refc[nbest][1];
    /* 2. and 3. both at once: one context per pthread, each on 1, 2 and 3 threads */
    concurrent("two pthreads, 1 thread each", 1, SC_NONE, NULL, ref);
    concurrent("two pthreads, a pool of 2 each (4 threads)", 2, SC_NONE, NULL, ref);
    concurrent("two pthreads, a pool of 3 each (6 threads)", 3, SC_NONE, NULL, ref);
    /* 4. the thread count changed between steps; an error in each; a context freed */
    concurrent("two pthreads, thread counts changed every step", 0, SC_NONE, NULL, ref);
    concurrent("two pthreads, an error in each context mid-training (pools of 2)", 2, SC_ERRORS, NULL, ref);
    concurrent("two pthreads, one context freed and new pooled ones made while the other trains (pools of 3)", 3, SC_FREE, NULL, ref);
    /* each context its own kernels: the MLP on plain C, the CNN on a vector set (when the CPU has one) */
    if (mixed[1]) {
        for (c = 0; c < 4; c++) if (strcmp(g_caps[c], mixed[1]) == 0) break;
        mixed_ref[0] = &refc[0][0]; mixed_ref[1] = &refc[c][1];
        snprintf(what, sizeof what, "two pthreads, the MLP on [default] kernels and the CNN on [%s], pools of 2", mixed[1]);
        concurrent(what, 2, SC_NONE, mixed, mixed_ref);
    }
    for (c = 0; c < 4; c++) { free_run(&refc[c][0]); free_run(&refc[c][1]); }
    printf("threads: %d checks, %d failed\n", g_checks, g_failed);
    return g_failed ? 1 : 0;
}
