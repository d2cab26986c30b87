/* Allocation failure anywhere is survived. For each scenario (a first training step of an MLP
   and of a CNN, checkpoint save, checkpoint load, and every loader), the k-th allocation that
   nn.h (or stb_image under it) makes fails, for every k from 1 until the scenario completes
   with no failure left to inject. At each point:
     - the failure is reported (the context holds an error) unless the scenario succeeded whole;
     - nothing is half-applied: a failed step leaves every parameter and the optimizer as they
       were, a failed save leaves the previous file, a failed load changes nothing;
     - the program goes on: the same work done again without failure gives exactly the result
       of a run that never failed;
     - nothing leaks (every allocation is freed once the scenario's objects are freed).
   Usage: alloc_fail --files (writes the input files under build/), then alloc_fail [scenario-filter]
   (make test-alloc: a plain build writes the files, a build with ASan + UBSan runs the scenarios)
   Ends with "N scenarios, N failure points: N survived, N failed" and exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long g_count, g_fail_at, g_live, g_hit;   /* allocations so far, which one fails (0: none), live blocks, failures injected */
static void *fail_malloc(size_t n) {
    void *p;
    if (g_fail_at && ++g_count == g_fail_at) { g_hit++; return NULL; }
    p = malloc(n);
    if (p) g_live++;
    return p;
}
static void *fail_realloc(void *p, size_t n) {
    void *q;
    if (g_fail_at && ++g_count == g_fail_at) { g_hit++; return NULL; }
    q = realloc(p, n);
    if (q && !p) g_live++;
    return q;
}
static void fail_free(void *p) { if (p) g_live--; free(p); }
#define NN_MALLOC(n) fail_malloc(n)
#define NN_REALLOC(p, n) fail_realloc(p, n)
#define NN_FREE(p) fail_free(p)
#ifdef NN_HAVE_STB
#define STBI_MALLOC(n) fail_malloc(n)
#define STBI_REALLOC(p, n) fail_realloc(p, n)
#define STBI_FREE(p) fail_free(p)
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"

static void quiet(void *u, const char *m) { (void)u; (void)m; }
static void arm(long k) { g_count = 0; g_hit = 0; g_fail_at = k; }
static void disarm(void) { g_fail_at = 0; }

static int g_points, g_survived, g_bad, g_absorbed;   /* absorbed: a failure the work went on without, same result */
static const char *g_scen;
static char g_why[1024];
#define FAILIF(cond, ...) do { if (cond) { snprintf(g_why, sizeof g_why, __VA_ARGS__); return 0; } } while (0)

/* ---- files ---- */
static unsigned char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb"); unsigned char *b; long sz;
    *n = -1;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); sz = ftell(f); fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    *n = sz;
    return b;
}
static int same_file(const char *a, const char *b) {
    long na, nb; unsigned char *x = slurp(a, &na), *y = slurp(b, &nb); int same = x && y && na == nb && !memcmp(x, y, (size_t)na);
    free(x); free(y);
    return same;
}
static int exists(const char *p) { FILE *f = fopen(p, "rb"); if (f) fclose(f); return f != NULL; }

/* ---- models ---- */
static nn_module *mlp(nn_ctx *ctx) {
    nn_module *l[3];
    l[0] = nn_linear_new(ctx, 12, 16, 1); l[1] = nn_relu_new(ctx); l[2] = nn_linear_new(ctx, 16, 4, 1);
    return nn_sequential_new(ctx, l, 3);
}
static nn_module *cnn(nn_ctx *ctx) {
    nn_module *l[6]; nn_conv_opts co = nn_conv_opts_default(); co.padding = 1;
    l[0] = nn_conv2d_new(ctx, 1, 3, 3, co, 1); l[1] = nn_relu_new(ctx); l[2] = nn_max_pool2d_new(ctx, nn_pool_opts_default(2));
    l[3] = nn_flatten_new(ctx, 1, -1); l[4] = nn_linear_new(ctx, 3 * 4 * 4, 4, 1); l[5] = nn_dropout_new(ctx, 0.25);
    return nn_sequential_new(ctx, l, 6);
}

/* the model's parameters, optimizer, scheduler and inputs: everything a step touches */
typedef struct { nn_ctx *ctx; nn_module *m; nn_optim *o; nn_scheduler *s; nn_tensor *x, *y; int np; nn_tensor *p[16]; } rig;

static int rig_new(rig *r, int kind, uint64_t seed) {
    int64_t xs_m[2] = { 6, 12 }, xs_c[4] = { 6, 1, 8, 8 }, ys[1] = { 6 }, i;
    memset(r, 0, sizeof *r);
    r->ctx = nn_ctx_new();
    if (!r->ctx) return 0;
    nn_set_logger(r->ctx, quiet, NULL);
    nn_manual_seed(r->ctx, seed);
    r->m = kind ? cnn(r->ctx) : mlp(r->ctx);
    r->np = nn_module_parameters(r->m, r->p, 16);
    if (kind) { nn_sgd_opts so = nn_sgd_opts_default(0.1); so.momentum = 0.9; so.dampening = 0.1; r->o = nn_sgd(r->p, r->np, so); }
    else { nn_adam_opts ao = nn_adam_opts_default(); ao.lr = 0.01; ao.amsgrad = 1; r->o = nn_adam(r->p, r->np, ao); }
    r->s = nn_step_lr(r->o, 1, 0.5);
    r->x = kind ? nn_randn(r->ctx, 4, xs_c) : nn_randn(r->ctx, 2, xs_m);
    r->y = nn_zeros_dtype(r->ctx, 1, ys, NN_INT64);
    for (i = 0; i < 6; i++) nn_i64(r->y)[i] = i % 4;
    return r->m && r->o && r->s && r->x && r->y && !nn_error(r->ctx);
}
static void rig_free(rig *r) {
    nn_scheduler_free(r->s); nn_optim_free(r->o); nn_module_free(r->m); nn_free(r->x); nn_free(r->y); nn_ctx_free(r->ctx);
}
/* one training step, every call made whatever happened before (a loop that checks once, at the end) */
static int train_step(rig *r) {
    nn_tensor *out, *loss;
    nn_optim_zero_grad(r->o);
    out = nn_forward(r->m, r->x);
    loss = nn_cross_entropy(out, r->y, nn_cross_entropy_opts_default());
    nn_backward(loss, NULL, 0);
    nn_optim_step(r->o);
    nn_scheduler_step(r->s);
    nn_arena_reset(r->ctx);
    return nn_error(r->ctx) == NULL;
}
/* the rig's whole state (parameters, optimizer, scheduler, RNG) as a checkpoint file, for comparisons */
static int rig_snapshot(rig *r, const char *path) {
    nn_checkpoint ck = nn_checkpoint_default();
    ck.model = r->m; ck.optim = r->o; ck.scheduler = r->s;
    return nn_save_checkpoint(&ck, path);
}

/* ---- scenarios: each runs with the k-th allocation failing; 1 if every property held ---- */

static int scen_step(long k, int kind) {
    rig r, ref; int ok, okr;
    if (!rig_new(&ref, kind, 7) || !rig_new(&r, kind, 7)) { snprintf(g_why, sizeof g_why, "setup failed"); return 0; }
    nn_manual_seed(ref.ctx, 11);
    FAILIF(!train_step(&ref), "reference step: %s", nn_error(ref.ctx));
    rig_snapshot(&ref, "build/af_ref.ckpt");
    nn_manual_seed(r.ctx, 11);
    rig_snapshot(&r, "build/af_before.ckpt");
    arm(k); ok = train_step(&r); disarm();
    if (g_hit && ok) g_absorbed++;     /* a reservation for later steps (nn_arena_reset): the step itself went through */
    else if (g_hit) {
        FAILIF(!nn_error(r.ctx), "allocation %ld failed and no error was reported", k);
        nn_manual_seed(r.ctx, 11);     /* the draws the failed forward made (dropout) are spent, as in PyTorch */
        rig_snapshot(&r, "build/af_after.ckpt");          /* (the error stays; nn_save_checkpoint still runs) */
        FAILIF(!same_file("build/af_before.ckpt", "build/af_after.ckpt"), "the failed step changed parameters, optimizer or scheduler state (%s)", nn_error(r.ctx));
        nn_clear_error(r.ctx);
        okr = train_step(&r);
        FAILIF(!okr, "the step again, without failure: %s", nn_error(r.ctx));
    } else FAILIF(!ok, "no allocation failed but the step reported: %s", nn_error(r.ctx));
    rig_snapshot(&r, "build/af_after.ckpt");
    FAILIF(!same_file("build/af_ref.ckpt", "build/af_after.ckpt"), "after %s the state differs from a run that never failed", g_hit ? "recovering" : "the step");
    rig_free(&r); rig_free(&ref);
    return 1;
}
static int scen_mlp_step(long k) { return scen_step(k, 0); }
static int scen_cnn_step(long k) { return scen_step(k, 1); }

/* a checkpoint with everything: model, optimizer state, scheduler, loader mid-epoch, extras */
static int get12(void *u, int64_t i, float *x, float *y, int64_t *label) { int j; (void)u; (void)y; for (j = 0; j < 12; j++) x[j] = (float)(i * j % 7); *label = i % 4; return 1; }
typedef struct { rig r; nn_dataset *d; nn_dataloader *dl; double vals[2]; nn_tensor *et; } full;
static int full_new(full *f, uint64_t seed, int steps) {
    int64_t xs[1] = { 12 }, es[1] = { 3 }; nn_dataloader_opts lo = nn_dataloader_opts_default(); nn_tensor *bx, *by; int i;
    memset(f, 0, sizeof *f);
    if (!rig_new(&f->r, 0, seed)) return 0;
    f->d = nn_dataset_new(f->r.ctx, 20, 1, xs, 0, get12, NULL, NULL);
    lo.batch_size = 3; lo.shuffle = 1; lo.seed = seed;
    f->dl = nn_dataloader_new(f->d, lo);
    f->et = nn_zeros(f->r.ctx, 1, es);
    for (i = 0; i < steps; i++) { train_step(&f->r); nn_dataloader_next(f->dl, &bx, &by); nn_f32(f->et)[0] += 1; }
    f->vals[0] = 0.25 * steps; f->vals[1] = -1.5;
    return f->d && f->dl && f->et && !nn_error(f->r.ctx);
}
static void full_free(full *f) { nn_dataloader_free(f->dl); nn_dataset_free(f->d); nn_free(f->et); rig_free(&f->r); }
static const char *g_enames[2] = { "best", "worst" }, *g_tnames[1] = { "ema" };
static nn_checkpoint full_ck(full *f) {
    nn_checkpoint ck = nn_checkpoint_default();
    ck.model = f->r.m; ck.optim = f->r.o; ck.scheduler = f->r.s; ck.loader = f->dl; ck.epoch = 3; ck.loss = 0.5;
    ck.extra_names = g_enames; ck.extra_values = f->vals; ck.nextra = 2;
    ck.extra_tensor_names = g_tnames; ck.extra_tensors = &f->et; ck.nextra_tensors = 1;
    return ck;
}

static int scen_save(long k) {
    full a; nn_checkpoint ck; int ok;
    if (!full_new(&a, 3, 1)) { snprintf(g_why, sizeof g_why, "setup failed"); return 0; }
    ck = full_ck(&a);
    FAILIF(!nn_save_checkpoint(&ck, "build/af_v1.ckpt"), "save v1: %s", nn_error(a.r.ctx));
    FAILIF(!nn_save_checkpoint(&ck, "build/af_save.ckpt"), "save v1 (target): %s", nn_error(a.r.ctx));
    train_step(&a.r);
    ck = full_ck(&a);
    FAILIF(!nn_save_checkpoint(&ck, "build/af_v2.ckpt"), "save v2: %s", nn_error(a.r.ctx));
    arm(k); ok = nn_save_checkpoint(&ck, "build/af_save.ckpt"); disarm();
    if (g_hit && ok) g_absorbed++;
    FAILIF(exists("build/af_save.ckpt.tmp"), "a .tmp file was left behind");
    if (g_hit && !ok) {
        FAILIF(!nn_error(a.r.ctx), "the save failed without an error");
        FAILIF(!same_file("build/af_save.ckpt", "build/af_v1.ckpt"), "a failed save changed the previous file");
        nn_clear_error(a.r.ctx);
        FAILIF(!nn_save_checkpoint(&ck, "build/af_save.ckpt"), "the save again: %s", nn_error(a.r.ctx));
    } else FAILIF(!ok, "no allocation failed but the save reported: %s", nn_error(a.r.ctx));
    FAILIF(!same_file("build/af_save.ckpt", "build/af_v2.ckpt"), "the saved file differs from one saved without failure");
    full_free(&a);
    return 1;
}

static int scen_load(long k) {
    full src, dst; nn_checkpoint ck; int ok;
    if (!full_new(&src, 3, 2) || !full_new(&dst, 9, 0)) { snprintf(g_why, sizeof g_why, "setup failed"); return 0; }
    ck = full_ck(&src);
    FAILIF(!nn_save_checkpoint(&ck, "build/af_src.ckpt"), "save: %s", nn_error(src.r.ctx));
    ck = full_ck(&dst);
    FAILIF(!nn_save_checkpoint(&ck, "build/af_before.ckpt"), "save: %s", nn_error(dst.r.ctx));
    arm(k); ok = nn_load_checkpoint(&ck, "build/af_src.ckpt"); disarm();
    if (g_hit && ok) g_absorbed++;
    if (g_hit && !ok) {
        FAILIF(!nn_error(dst.r.ctx), "the load failed without an error");
        nn_clear_error(dst.r.ctx);
        FAILIF(!nn_save_checkpoint(&ck, "build/af_after.ckpt"), "save: %s", nn_error(dst.r.ctx));
        FAILIF(!same_file("build/af_before.ckpt", "build/af_after.ckpt"), "a failed load changed the model, optimizer, scheduler, loader or extras");
        FAILIF(!nn_load_checkpoint(&ck, "build/af_src.ckpt"), "the load again: %s", nn_error(dst.r.ctx));
    } else FAILIF(!ok, "no allocation failed but the load reported: %s", nn_error(dst.r.ctx));
    FAILIF(!nn_save_checkpoint(&ck, "build/af_after.ckpt"), "save: %s", nn_error(dst.r.ctx));
    FAILIF(!same_file("build/af_src.ckpt", "build/af_after.ckpt"), "after the load the state differs from the file's (optimizer state dropped?)");
    full_free(&src); full_free(&dst);
    return 1;
}

/* ---- loaders: NULL with an error, or exactly what a load without failure gives ---- */
static unsigned long long digest(nn_dataset *d) {
    unsigned long long h = 1469598103934665603ULL; int64_t i, j, n = 1, sh[3] = { 1, 1, 1 }, lab = 0;
    int nd = nn_dataset_xshape(d, sh), q; float x[4096], y[16];
    for (q = 0; q < nd; q++) n *= sh[q];
    if (n > 4096 || nn_dataset_ydim(d) > 16) return 0;
    for (i = 0; i < nn_dataset_len(d); i++) {
        nn_dataset_get(d, i, x, nn_dataset_ydim(d) ? y : NULL, nn_dataset_ydim(d) ? NULL : &lab);
        for (j = 0; j < n; j++) { unsigned u; memcpy(&u, &x[j], 4); h = (h ^ u) * 1099511628211ULL; }
        h = (h ^ (unsigned long long)lab) * 1099511628211ULL;
    }
    return h ^ (unsigned long long)nn_dataset_len(d);
}
typedef nn_dataset *(*loader_fn)(nn_ctx *ctx);
static nn_dataset *ld_mnist(nn_ctx *ctx) { return nn_mnist(ctx, "build/af_img.idx", "build/af_lab.idx"); }
static nn_dataset *ld_mnist_gz(nn_ctx *ctx) { return nn_mnist(ctx, "build/af_img.idx.gz", "build/af_lab.idx.gz"); }
static nn_dataset *ld_csv(nn_ctx *ctx) { return nn_csv(ctx, "build/af.csv", 3, 1); }
static nn_dataset *ld_folder(nn_ctx *ctx) { return nn_image_folder(ctx, "build/af_folder", 3, 6, 5); }
static nn_dataset *ld_folder_gray(nn_ctx *ctx) { return nn_image_folder(ctx, "build/af_folder", 1, 4, 4); }

static int scen_loader(long k, loader_fn fn) {
    nn_ctx *ctx = nn_ctx_new(); nn_dataset *d; unsigned long long want, got;
    nn_set_logger(ctx, quiet, NULL);
    d = fn(ctx);
    FAILIF(!d, "the loader fails without injected failures: %s", nn_error(ctx));
    want = digest(d); nn_dataset_free(d);
    arm(k); d = fn(ctx); disarm();
    if (g_hit && d) g_absorbed++;
    if (!d) {
        FAILIF(!g_hit, "no allocation failed but the loader returned NULL: %s", nn_error(ctx));
        FAILIF(!nn_error(ctx), "the loader returned NULL without an error");
        nn_clear_error(ctx);
        d = fn(ctx);
        FAILIF(!d, "the loader again: %s", nn_error(ctx));
    }
    got = digest(d);
    FAILIF(got != want, "the loaded dataset differs from one loaded without failure%s", nn_error(ctx) ? "" : " (and no error)");
    nn_dataset_free(d); nn_ctx_free(ctx);
    return 1;
}
static int scen_mnist(long k) { return scen_loader(k, ld_mnist); }
static int scen_mnist_gz(long k) { return scen_loader(k, ld_mnist_gz); }
static int scen_csv(long k) { return scen_loader(k, ld_csv); }
static int scen_folder(long k) { return scen_loader(k, ld_folder); }
static int scen_folder_gray(long k) { return scen_loader(k, ld_folder_gray); }

/* safetensors open + read every tensor, and nn_load_model */
static int scen_safetensors(long k) {
    nn_ctx *ctx = nn_ctx_new(); nn_module *m = mlp(ctx), *n2; nn_safetensors *st; int i, ok;
    nn_set_logger(ctx, quiet, NULL);
    FAILIF(!nn_save_model(m, "build/af_model.st"), "save: %s", nn_error(ctx));
    nn_manual_seed(ctx, 99); n2 = mlp(ctx);
    FAILIF(!nn_save_model(n2, "build/af_before.st"), "save: %s", nn_error(ctx));
    arm(k);
    st = nn_safetensors_open(ctx, "build/af_model.st");
    if (st) { for (i = 0; i < nn_safetensors_count(st); i++) nn_free(nn_safetensors_get(st, nn_safetensors_name(st, i))); nn_safetensors_close(st); }
    ok = nn_load_model(n2, "build/af_model.st");
    disarm();
    if (g_hit && ok) g_absorbed++;
    if (g_hit && !ok) {
        FAILIF(!nn_error(ctx), "failure without an error");
        nn_clear_error(ctx);
        FAILIF(!nn_save_model(n2, "build/af_after.st"), "save: %s", nn_error(ctx));
        FAILIF(!same_file("build/af_before.st", "build/af_after.st"), "a failed nn_load_model changed the model");
        FAILIF(!nn_load_model(n2, "build/af_model.st"), "the load again: %s", nn_error(ctx));
    }
    nn_clear_error(ctx);
    FAILIF(!nn_save_model(n2, "build/af_after.st"), "save: %s", nn_error(ctx));
    FAILIF(!same_file("build/af_model.st", "build/af_after.st"), "the loaded model differs");
    nn_module_free(m); nn_module_free(n2); nn_ctx_free(ctx);
    return 1;
}

/* a DataLoader made and iterated for an epoch with random transforms */
static int scen_dataloader(long k) {
    nn_ctx *ctx = nn_ctx_new(); nn_dataset *d; nn_dataloader *dl; nn_dataloader_opts lo = nn_dataloader_opts_default();
    nn_transform ts[2]; nn_tensor *x, *y; unsigned long long h[2] = { 1, 1 }; int pass, hit = 0, errs = 0;
    int64_t xs[3] = { 1, 3, 4 }, i;
    nn_set_logger(ctx, quiet, NULL);
    d = nn_dataset_new(ctx, 10, 3, xs, 0, get12, NULL, NULL);
    ts[0] = nn_random_crop(3, 1); ts[1] = nn_random_horizontal_flip(0.5f);
    lo.batch_size = 4; lo.shuffle = 1; lo.seed = 5; lo.transforms = ts; lo.ntransforms = 2;
    for (pass = 0; pass < 2; pass++) {
        if (pass) arm(k);
        dl = nn_dataloader_new(d, lo);
        while (dl && nn_dataloader_next(dl, &x, &y)) for (i = 0; i < x->numel; i++) { unsigned u; memcpy(&u, &nn_f32(x)[i], 4); h[pass] = (h[pass] ^ u) * 1099511628211ULL; }
        if (pass) { disarm(); hit = (int)g_hit; errs = nn_error(ctx) != NULL; }
        nn_dataloader_free(dl);
    }
    if (hit) FAILIF(!errs, "allocation failed without an error");
    else FAILIF(h[0] != h[1] || errs, "no failure, yet the batches differ or an error: %s", nn_error(ctx));
    nn_dataset_free(d); nn_ctx_free(ctx);
    return 1;
}

static void make_files(void) {
    FILE *f = fopen("build/af.csv", "w"); int i, c;
    long n; unsigned char *img = slurp("data/fashion-mnist-sample/t10k-images-idx3-ubyte", &n);
    if (img && n > 16 + 784 * 10) {                 /* the first 10 images of the sample */
        img[4] = img[5] = img[6] = 0; img[7] = 10;
        if (f) fprintf(f, "a,b,c,label\n");
        { FILE *g = fopen("build/af_img.idx", "wb"); fwrite(img, 1, 16 + 784 * 10, g); fclose(g); }
    }
    free(img);
    for (i = 0; f && i < 12; i++) fprintf(f, "%d.5,%d,-%d,%d\n", i, i * 2, i, i % 3);
    if (f) fclose(f);
    if (system("gzip -kf build/af_img.idx && head -c 18 data/fashion-mnist-sample/t10k-labels-idx1-ubyte > build/af_lab.idx"
               " && printf '\\000\\000\\010\\001\\000\\000\\000\\012' | dd of=build/af_lab.idx bs=1 count=8 conv=notrunc 2>/dev/null"
               " && gzip -kf build/af_lab.idx") != 0) fprintf(stderr, "alloc_fail: gzip failed\n");
#ifdef NN_HAVE_STB
    if (system("rm -rf build/af_folder && mkdir -p build/af_folder/cat build/af_folder/dog") != 0) return;
    for (c = 0; c < 2; c++) for (i = 0; i < 3; i++) {
        unsigned char px[7 * 5 * 3]; char p[96]; int j;
        for (j = 0; j < 7 * 5 * 3; j++) px[j] = (unsigned char)(j * 7 + i * 31 + c * 90);
        snprintf(p, sizeof p, "build/af_folder/%s/%d.%s", c ? "dog" : "cat", i, i == 0 ? "png" : i == 1 ? "bmp" : "jpg");
        if (i == 0) stbi_write_png(p, 5, 7, 3, px, 15);
        else if (i == 1) stbi_write_bmp(p, 5, 7, 3, px);
        else stbi_write_jpg(p, 5, 7, 3, px, 90);
    }
    f = fopen("build/af_folder/dog/3.ppm", "wb");
    if (f) { fprintf(f, "P6\n4 3\n255\n"); for (i = 0; i < 36; i++) fputc(i * 7, f); fclose(f); }
#else
    (void)c;
#endif
}

typedef struct { const char *name; int (*run)(long k); } scenario;
static const scenario g_scens[] = {
    { "mlp_step", scen_mlp_step }, { "cnn_step", scen_cnn_step }, { "checkpoint_save", scen_save },
    { "checkpoint_load", scen_load }, { "mnist", scen_mnist }, { "mnist_gz", scen_mnist_gz }, { "csv", scen_csv },
#ifdef NN_HAVE_STB
    { "image_folder", scen_folder }, { "image_folder_gray", scen_folder_gray },
#endif
    { "safetensors_model", scen_safetensors }, { "dataloader", scen_dataloader },
};

int main(int argc, char **argv) {
    size_t s; int nscen = 0;
    if (argc > 1 && !strcmp(argv[1], "--files")) { make_files(); return 0; }
    /* the sanitized build reads the files a plain build wrote (stb_image_write shifts into the
       sign bit, which UBSan reports): make test-alloc runs "--files" first */
    if (!exists("build/af.csv")) make_files();
    for (s = 0; s < sizeof g_scens / sizeof g_scens[0]; s++) {
        long k, live0, points = 0, bad = 0;
        if (argc > 1 && !strstr(g_scens[s].name, argv[1])) continue;
        g_scen = g_scens[s].name; nscen++;
        for (k = 1; k < 100000; k++) {
            int ok;
            live0 = g_live;
            g_why[0] = 0;
            ok = g_scens[s].run(k);
            if (ok && g_live != live0) { ok = 0; snprintf(g_why, sizeof g_why, "%ld allocations leaked", g_live - live0); }
            points++;
            if (!ok) { bad++; printf("FAIL %s, allocation %ld: %s\n", g_scen, k, g_why); g_live = live0; }
            if (!g_hit) break;                        /* the scenario made fewer than k allocations: done */
        }
        printf("%-18s %5ld failure points, %ld failed\n", g_scen, points - 1, bad);
        g_points += (int)points - 1; g_survived += (int)(points - bad) - 1; g_bad += (int)bad;
    }
    printf("%d scenarios, %d failure points: %d survived (%d of them absorbed: the work succeeded with the same result), %d failed\n",
           nscen, g_points, g_survived, g_absorbed, g_bad);
    return g_bad ? 1 : 0;
}
