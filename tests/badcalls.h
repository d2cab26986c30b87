/* The fixture and runner of the bad-argument test: build/test_badcalls.c, generated from nn.h's
   declarations by tests/gen_badcalls.py, includes this file. Each call gets a fresh fixture (a
   context, tensors, modules, an optimizer, a dataset, ... all valid); calls run in batches, each
   batch in a forked child with an alarm, its output in a log; a batch that fails is re-run one
   call per child to name the call. Run from the repository root (it reads data/).
   Usage: test_badcalls [--case K] [--list]   Ends with "N passed, N failed". */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/resource.h>
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"

/* sanitizer settings: leaks are errors; a huge allocation returns NULL (the library must cope) */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=1:allocator_may_return_null=1"; }
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "print_stacktrace=1:halt_on_error=1"; }

#define FX_ALARM_S 10     /* one call that runs longer than this is a hang */

typedef struct fx {
    nn_ctx *ctx;
    nn_tensor *t, *t2, *t32, *w43, *v3, *v4, *rm, *rv, *x4, *cw, *ctw, *scalar, *idx, *idx23;
    nn_tensor *xs[4], *xs_null[4], *params[8], *touts[8], *tout, *tout2;
    nn_module *mod, *mod2, *mod3, *mods[4], *mods_null[4];
    nn_optim *opt;
    nn_scheduler *sched;
    nn_dataset *ds;
    nn_dataloader *dl;
    nn_safetensors *st;
    nn_checkpoint ck;
    nn_progress prog;
    nn_dist *dist;
    nn_ddp *ddp;
    nn_ddpm *ddpm;
    nn_transform tf[2];
    const nn_state_entry *entries;
    const char *cstr;
    const char *names[4], *names_null[4];
    const float *ys[2], *ys_null[2];
    float ya[8], yb[8], fin[64], img[3 * 8 * 8];
    float fout[65536];
    int dims[4];
    int64_t shape[4], shape_neg[2], shape_big[2], ishape[3], labels[16], cm[4], iout[64];
    double dout[16];
    uint64_t rng;
    char cbuf[4096], path[96], csvpath[96], dir[96];
} fx;

typedef struct fx_case { int (*run)(fx *f); const char *fn; const char *what; } fx_case;

static void fx_log(void *user, const char *msg) { (void)user; (void)msg; }
static nn_tensor *fx_forward(nn_module *m, nn_tensor *x) { (void)m; return x; }
static int fx_forward_n(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    (void)m; (void)nin;
    if (nout > 0) out[0] = in[0];
    return 1;
}
static nn_tensor *fx_gradfn(nn_tensor **inputs, void *user) { (void)user; return nn_sum(inputs[0], NN_ALL, 0); }
static int fx_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    int k;
    (void)user; (void)y;
    for (k = 0; k < 3; k++) x[k] = (float)(i + k);
    if (label) *label = i % 2;
    return 1;
}

static nn_tensor *fx_tensor(nn_ctx *ctx, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, int grad) {
    int64_t shape[4] = { a, b, c, d };
    nn_tensor *t = nn_rand(ctx, ndim, shape);
    return grad ? nn_set_requires_grad(t, 1) : t;
}

static void fx_new(fx *f) {
    int64_t two[1] = { 2 }, none[1] = { 1 };
    int64_t lab[2] = { 0, 1 };
    int64_t zeros6[6] = { 0, 0, 0, 0, 0, 0 };
    float one = 1.0f;
    int k;
    memset(f, 0, sizeof *f);
    f->ctx = nn_ctx_new();
    nn_set_logger(f->ctx, fx_log, NULL);
    f->t = fx_tensor(f->ctx, 2, 2, 3, 0, 0, 1);
    f->t2 = fx_tensor(f->ctx, 2, 2, 3, 0, 0, 1);
    f->t32 = fx_tensor(f->ctx, 2, 3, 2, 0, 0, 1);
    f->w43 = fx_tensor(f->ctx, 2, 4, 3, 0, 0, 1);
    f->v3 = fx_tensor(f->ctx, 1, 3, 0, 0, 0, 1);
    f->v4 = fx_tensor(f->ctx, 1, 4, 0, 0, 0, 1);
    f->rm = nn_zeros(f->ctx, 1, f->v3->shape);
    f->rv = nn_ones(f->ctx, 1, f->v3->shape);
    f->x4 = fx_tensor(f->ctx, 4, 1, 2, 5, 5, 1);
    f->cw = fx_tensor(f->ctx, 4, 3, 2, 3, 3, 1);
    f->ctw = fx_tensor(f->ctx, 4, 2, 3, 3, 3, 1);
    f->scalar = nn_set_requires_grad(nn_from_array(f->ctx, 0, none, &one), 1);
    f->idx = nn_from_i64(f->ctx, 1, two, lab);
    f->idx23 = nn_from_i64(f->ctx, 2, f->t->shape, zeros6);
    f->xs[0] = f->t;
    f->xs[1] = f->t2;
    f->xs_null[0] = f->t;
    f->mod = nn_linear_new(f->ctx, 3, 4, 1);
    f->mod2 = nn_relu_new(f->ctx);
    f->mod3 = nn_relu_new(f->ctx);
    f->mods[0] = f->mod2;
    f->mods[1] = f->mod3;
    f->mods_null[0] = f->mod2;
    nn_module_parameters(f->mod, f->params, 8);
    f->opt = nn_sgd(f->params, 2, nn_sgd_opts_default(0.1));
    f->sched = nn_step_lr(f->opt, 2, 0.5);
    f->shape[0] = 2; f->shape[1] = 3; f->shape[2] = 4; f->shape[3] = 5;
    f->shape_neg[0] = -1; f->shape_neg[1] = 3;
    f->shape_big[0] = (int64_t)1 << 62; f->shape_big[1] = 4;
    f->ishape[0] = 3; f->ishape[1] = 8; f->ishape[2] = 8;
    f->ds = nn_dataset_new(f->ctx, 4, 1, f->shape + 1, 0, fx_get, NULL, NULL);
    {
        nn_dataloader_opts o = nn_dataloader_opts_default();
        o.batch_size = 2;
        f->dl = nn_dataloader_new(f->ds, o);
    }
    snprintf(f->path, sizeof f->path, "/tmp/nn_badcalls_%ld.safetensors", (long)getpid());
    snprintf(f->csvpath, sizeof f->csvpath, "/tmp/nn_badcalls_%ld.csv", (long)getpid());
    snprintf(f->dir, sizeof f->dir, "/tmp/nn_badcalls_%ld", (long)getpid());
    nn_save_model(f->mod, f->path);
    f->st = nn_safetensors_open(f->ctx, f->path);
    {
        FILE *fp = fopen(f->csvpath, "w");
        if (fp) { fputs("1,2,0\n3,4,1\n", fp); fclose(fp); }
    }
    mkdir(f->dir, 0700);
#ifdef NN_HAVE_STB
    {
        char sub[128], png[160];
        unsigned char px[4 * 4 * 3];
        memset(px, 128, sizeof px);
        snprintf(sub, sizeof sub, "%s/a", f->dir);
        mkdir(sub, 0700);
        snprintf(png, sizeof png, "%s/0.png", sub);
        stbi_write_png(png, 4, 4, 3, px, 12);
    }
#endif
    f->ck = nn_checkpoint_default();
    f->ck.model = f->mod;
    f->ck.optim = f->opt;
    nn_progress_begin(&f->prog, "x", 10);
    f->dist = nn_dist_init(f->ctx, NULL, NULL);
    f->ddp = nn_ddp_new(f->dist, f->mod, nn_ddp_opts_default());
    f->ddpm = nn_ddpm_new(f->ctx, 10, NN_BETA_LINEAR, 1e-4f, 0.02f);
    f->tf[0] = nn_random_horizontal_flip(0.5f);
    f->tf[1] = nn_grayscale(1);
    f->names[0] = "a"; f->names[1] = "b"; f->names[2] = "c"; f->names[3] = "d";
    for (k = 0; k < 8; k++) { f->ya[k] = (float)k; f->yb[k] = (float)(8 - k); }
    f->ys[0] = f->ya;
    f->ys[1] = f->yb;
    f->ys_null[0] = f->ya;
    f->names_null[0] = "a";
    for (k = 0; k < 64; k++) f->fin[k] = 1.0f;
    for (k = 0; k < 3 * 8 * 8; k++) f->img[k] = (float)(k % 7) / 7.0f;
    f->dims[0] = 1; f->dims[1] = 0; f->dims[2] = 2; f->dims[3] = 3;
    for (k = 0; k < 16; k++) f->labels[k] = k % 2;
    f->cm[0] = 2; f->cm[1] = 1; f->cm[2] = 0; f->cm[3] = 3;
    f->rng = 1;
    if (nn_error(f->ctx) || !f->st || !f->ddp || !f->dl || !f->sched || !f->ddpm) {
        printf("FAIL the fixture itself: %s\n", nn_error(f->ctx) ? nn_error(f->ctx) : "an object is NULL");
        exit(4);
    }
}

static void fx_free(fx *f) {
    char sub[128], png[160];
    nn_ddp_free(f->ddp);
    nn_ddpm_free(f->ddpm);
    nn_dist_free(f->dist);
    nn_safetensors_close(f->st);
    nn_dataloader_free(f->dl);
    nn_dataset_free(f->ds);
    nn_scheduler_free(f->sched);
    nn_optim_free(f->opt);
    nn_module_free(f->mod);
    nn_module_free(f->mod2);
    nn_module_free(f->mod3);
    nn_free(f->t); nn_free(f->t2); nn_free(f->t32); nn_free(f->w43); nn_free(f->v3); nn_free(f->v4);
    nn_free(f->rm); nn_free(f->rv); nn_free(f->x4); nn_free(f->cw); nn_free(f->ctw); nn_free(f->scalar);
    nn_free(f->idx); nn_free(f->idx23);
    nn_ctx_free(f->ctx);
    snprintf(sub, sizeof sub, "%s/a", f->dir);
    snprintf(png, sizeof png, "%s/0.png", sub);
    remove(png);
    rmdir(sub);
    rmdir(f->dir);
    remove(f->path);
    remove(f->csvpath);
}

static int fx_own_tensor(const fx *f, const nn_tensor *r) {
    const nn_tensor *own[] = { f->t, f->t2, f->t32, f->w43, f->v3, f->v4, f->rm, f->rv, f->x4, f->cw, f->ctw,
                               f->scalar, f->idx, f->idx23 };
    size_t k;
    for (k = 0; k < sizeof own / sizeof own[0]; k++) if (own[k] == r) return 1;
    return 0;
}
/* a result the call made: nn_free (a no-op on op results, which go with the arena) */
static void fx_drop_tensor(fx *f, nn_tensor *r) { if (r && !fx_own_tensor(f, r)) nn_free(r); }
static void fx_drop_module(fx *f, nn_module *r) { if (r && r != f->mod && r != f->mod2 && r != f->mod3) nn_module_free(r); }
static void fx_drop_dataset(fx *f, nn_dataset *r) { if (r && r != f->ds) nn_dataset_free(r); }
/* (c): an error in the context whose text starts with the function's name */
static int fx_check(fx *f, const char *fn, int expect) {
    const char *e = nn_error(f->ctx);
    size_t n = strlen(fn);
    if (expect && !e) {
        printf("FAIL %s: no error in the context\n", fn);
        return 3;
    }
    if (expect && (strncmp(e, fn, n) != 0 || (e[n] != ':' && e[n] != ' '))) {
        printf("FAIL %s: the error does not start with the function's name: \"%s\"\n", fn, e);
        return 3;
    }
    nn_clear_error(f->ctx);
    return 0;
}

/* a transform made with a bad value, applied: with expect, the error must name its constructor */
static int fx_apply_check(fx *f, nn_transform tr, const char *fn, int expect) {
    int64_t out_shape[3];
    nn_apply_transforms(f->ctx, &tr, 1, f->img, f->ishape, f->fout, out_shape, &f->rng);
    return fx_check(f, fn, expect);
}

/* ---- the runner ---- */

enum { FX_OK, FX_CRASH, FX_UB, FX_LEAK, FX_HANG, FX_CHECK, FX_FIXTURE };
static const char *const fx_kind_name[] = { "ok", "crash", "undefined behaviour", "leak", "hang", "check", "fixture" };

static int fx_run_range(const fx_case *cases, int lo, int hi) {
    int k;
    for (k = lo; k < hi; k++) {
        fx f;
        int rc;
        alarm(FX_ALARM_S);
        fx_new(&f);
        rc = cases[k].run(&f);
        fx_free(&f);
        if (rc) { printf("in case %d: %s(%s)\n", k, cases[k].fn, cases[k].what); fflush(stdout); return rc; }
    }
    alarm(0);
    return 0;
}

static pid_t fx_spawn(const fx_case *cases, int lo, int hi, const char *log) {
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        struct rlimit rl;
        FILE *o = freopen(log, "w", stdout);
        (void)o;
        dup2(fileno(stdout), 2);
        rl.rlim_cur = rl.rlim_max = 64 << 20;   /* runaway output is a failure, not a full disk */
        setrlimit(RLIMIT_FSIZE, &rl);
        exit(fx_run_range(cases, lo, hi));
    }
    return pid;
}

static int fx_classify(int status, const char *log) {
    char buf[4096];
    FILE *fp;
    int kind = FX_OK;
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGALRM || WTERMSIG(status) == SIGXFSZ)) return FX_HANG;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return FX_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) return FX_CHECK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 4) return FX_FIXTURE;
    kind = FX_CRASH;
    fp = fopen(log, "r");
    while (fp && fgets(buf, sizeof buf, fp)) {
        if (strstr(buf, "runtime error:")) { kind = FX_UB; break; }
        if (strstr(buf, "LeakSanitizer")) { kind = FX_LEAK; break; }
        if (strstr(buf, "AddressSanitizer")) { kind = FX_CRASH; break; }
    }
    if (fp) fclose(fp);
    return kind;
}

static void fx_show(const char *log) {
    char buf[512];
    int lines = 0;
    FILE *fp = fopen(log, "r");
    while (fp && fgets(buf, sizeof buf, fp) && lines < 14) {
        if (strncmp(buf, "FAIL", 4) == 0 || strstr(buf, "ERROR") || strstr(buf, "runtime error") ||
            strstr(buf, "SUMMARY") || strstr(buf, "    #") || strstr(buf, "leak of")) {
            fputs("    ", stdout);
            fputs(buf, stdout);
            lines++;
        }
    }
    if (fp) fclose(fp);
}

#define FX_BATCH 24

static int fx_main(const fx_case *cases, int ncases, int nfns, int argc, char **argv) {
    int counts[7] = { 0 };
    int *status;
    char logdir[64];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int jobs = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    int nbatch = (ncases + FX_BATCH - 1) / FX_BATCH, next = 0, running = 0, failed = 0, k;
    pid_t pids[16];
    int which[16];
    if (argc == 3 && strcmp(argv[1], "--case") == 0) {
        k = atoi(argv[2]);
        if (k < 0 || k >= ncases) { printf("no case %d (0 .. %d)\n", k, ncases - 1); return 2; }
        printf("case %d: %s(%s)\n", k, cases[k].fn, cases[k].what);
        return fx_run_range(cases, k, k + 1);
    }
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (k = 0; k < ncases; k++) printf("%d %s(%s)\n", k, cases[k].fn, cases[k].what);
        return 0;
    }
    snprintf(logdir, sizeof logdir, "/tmp/nn_badcalls_logs_%ld", (long)getpid());
    mkdir(logdir, 0700);
    status = (int *)calloc((size_t)nbatch, sizeof *status);
    printf("test_badcalls: %d functions, %d calls with one bad argument each (%d at a time, batches of %d)\n",
           nfns, ncases, jobs, FX_BATCH);
    /* batches first, on every CPU */
    while (next < nbatch || running > 0) {
        while (next < nbatch && running < jobs) {
            char log[128];
            int hi = (next + 1) * FX_BATCH < ncases ? (next + 1) * FX_BATCH : ncases;
            snprintf(log, sizeof log, "%s/b%d", logdir, next);
            pids[running] = fx_spawn(cases, next * FX_BATCH, hi, log);
            which[running++] = next++;
        }
        {
            int st = 0, j;
            pid_t p = wait(&st);
            for (j = 0; j < running; j++) {
                if (pids[j] == p) {
                    char log[128];
                    snprintf(log, sizeof log, "%s/b%d", logdir, which[j]);
                    status[which[j]] = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
                    remove(log);
                    pids[j] = pids[running - 1];
                    which[j] = which[running - 1];
                    running--;
                    break;
                }
            }
        }
    }
    /* a failed batch: each of its calls alone, to name it */
    for (k = 0; k < nbatch; k++) {
        int c, hi = (k + 1) * FX_BATCH < ncases ? (k + 1) * FX_BATCH : ncases;
        if (!status[k]) { counts[FX_OK] += hi - k * FX_BATCH; continue; }
        for (c = k * FX_BATCH; c < hi; c++) {
            char log[128];
            int st = 0, kind;
            pid_t p;
            snprintf(log, sizeof log, "%s/c%d", logdir, c);
            p = fx_spawn(cases, c, c + 1, log);
            waitpid(p, &st, 0);
            kind = fx_classify(st, log);
            counts[kind]++;
            if (kind != FX_OK) {
                failed++;
                printf("FAIL %s(%s) [case %d]: %s\n", cases[c].fn, cases[c].what, c, fx_kind_name[kind]);
                fx_show(log);
            }
            remove(log);
        }
    }
    rmdir(logdir);
    free(status);
    printf("crashes %d, undefined behaviour %d, leaks %d, hangs %d, missing or misnamed errors %d, fixture %d\n",
           counts[FX_CRASH], counts[FX_UB], counts[FX_LEAK], counts[FX_HANG], counts[FX_CHECK], counts[FX_FIXTURE]);
    printf("%d passed, %d failed\n", ncases - failed, failed);
    return failed ? 1 : 0;
}
