/* Fuzz targets, one per reader in nn.h. Each takes the input bytes as one file and reads it:
     idx          nn_mnist, the bytes as the images file and (again) as the labels file
     idx_gz       the same through a .gz name (stb_image's zlib)
     csv          nn_csv with and without a header and label column
     image_folder nn_image_folder over root/c/<file> (stb_image picks the decoder by content,
                  never by name: PNG, JPEG, BMP, PPM/PGM, GIF, ...), then a sample is read
     safetensors  nn_safetensors_open, every tensor and a metadata key, nn_load_model
     checkpoint   nn_load_checkpoint into a real model (Linear-BatchNorm-ReLU-Linear), Adam,
                  ReduceLROnPlateau and a shuffling DataLoader, then one training step
   A reader may refuse the input (with a message), never crash, leak or read out of bounds.

   Three builds of this one file:
     clang -fsanitize=fuzzer,address,undefined -DFUZZ_LIBFUZZER     libFuzzer; NN_FUZZ_TARGET=<name> picks
                                      the target at run time, so one build serves all (make fuzz)
     cc -DFUZZ_REPLAY                 replays the corpora: fuzz_replay DIR... runs every file in
                                      DIR/<target>/ through that target (make test, make sanitize)
     cc -DFUZZ_MAKE_SEEDS             writes the seed corpora (make fuzz-seeds; tests/corpus/) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#endif
#ifdef FUZZ_MAKE_SEEDS
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#endif
#ifndef NN_MAX_IMAGE_PIXELS
#define NN_MAX_IMAGE_PIXELS ((int64_t)1 << 22)   /* a smaller cap than the default keeps the fuzzer fast */
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"

static void quiet(void *u, const char *m) { (void)u; (void)m; }

static char g_dir[64];                 /* this process's scratch folder */
static void scratch(void) {
    char cmd[128];
    if (g_dir[0]) return;
    snprintf(g_dir, sizeof g_dir, "/tmp/nn_fuzz_%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s/img/c", g_dir);
    if (system(cmd) != 0) abort();
}
static void put(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}
static nn_ctx *quiet_ctx(void) { nn_ctx *ctx = nn_ctx_new(); nn_set_logger(ctx, quiet, NULL); return ctx; }

/* every sample of a dataset (up to 64) read once, then one batch of a DataLoader */
static void use_dataset(nn_dataset *d) {
    int64_t i, xs[3] = { 1, 1, 1 }, n = 1, k, label; float *x, y[1]; nn_dataloader *dl; nn_tensor *bx, *by;
    int xd;
    if (!d) return;
    xd = nn_dataset_xshape(d, xs);
    for (k = 0; k < xd; k++) n *= xs[k];
    x = (float *)malloc((size_t)n * sizeof(float));
    for (i = 0; x && i < nn_dataset_len(d) && i < 64; i++) nn_dataset_get(d, i, x, y, &label);
    free(x);
    dl = nn_dataloader_new(d, nn_dataloader_opts_default());
    nn_dataloader_next(dl, &bx, &by);
    nn_dataloader_free(dl);
}

/* ---- IDX ---- */
static const uint8_t g_lab4[12] = { 0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4 };
static const uint8_t g_img4[16 + 4 * 2 * 3] = { 0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 3,
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24 };
/* each target returns how many of its reads accepted the input */
static int idx_pair(const uint8_t *data, size_t size, const char *ext) {
    char in[96], lab[96], img[96]; int loaded = 0;
    nn_ctx *ctx = quiet_ctx();
    scratch();
    snprintf(in, sizeof in, "%s/in.idx%s", g_dir, ext);
    snprintf(lab, sizeof lab, "%s/lab.idx", g_dir);
    snprintf(img, sizeof img, "%s/img.idx", g_dir);
    put(in, data, size); put(lab, g_lab4, sizeof g_lab4); put(img, g_img4, sizeof g_img4);
    { nn_dataset *d = nn_mnist(ctx, in, lab); loaded += d != NULL; use_dataset(d); nn_dataset_free(d); }   /* the bytes as images */
    nn_clear_error(ctx);
    { nn_dataset *d = nn_mnist(ctx, img, in); loaded += d != NULL; use_dataset(d); nn_dataset_free(d); }   /* as labels */
    nn_ctx_free(ctx);
    return loaded;
}
static int fuzz_idx(const uint8_t *data, size_t size) { return idx_pair(data, size, ""); }
static int fuzz_idx_gz(const uint8_t *data, size_t size) { return idx_pair(data, size, ".gz"); }

/* ---- CSV ---- */
static int fuzz_csv(const uint8_t *data, size_t size) {
    char in[96]; nn_ctx *ctx = quiet_ctx(); nn_dataset *d; int loaded = 0;
    scratch();
    snprintf(in, sizeof in, "%s/in.csv", g_dir);
    put(in, data, size);
    d = nn_csv(ctx, in, 0, 0); loaded += d != NULL; use_dataset(d); nn_dataset_free(d);
    nn_clear_error(ctx);
    d = nn_csv(ctx, in, -1, 1); loaded += d != NULL; use_dataset(d); nn_dataset_free(d);
    nn_ctx_free(ctx);
    return loaded;
}

/* ---- image folders ---- */
static int fuzz_image_folder(const uint8_t *data, size_t size) {
    static const char *const names[] = { "x.png", "x.jpg", "x.bmp", "x.ppm", "x.img" };
    char p[128]; const char *name = "x.img"; size_t k; nn_ctx *ctx = quiet_ctx(); nn_dataset *d;
    scratch();
    for (k = 0; k < sizeof names / sizeof names[0]; k++) { snprintf(p, sizeof p, "%s/img/c/%s", g_dir, names[k]); remove(p); }
    if (size >= 4 && data[0] == 0x89 && data[1] == 'P') name = "x.png";          /* the name a user would give it */
    else if (size >= 2 && data[0] == 0xFF && data[1] == 0xD8) name = "x.jpg";
    else if (size >= 2 && data[0] == 'B' && data[1] == 'M') name = "x.bmp";
    else if (size >= 2 && data[0] == 'P') name = "x.ppm";
    snprintf(p, sizeof p, "%s/img/c/%s", g_dir, name);
    put(p, data, size);
    snprintf(p, sizeof p, "%s/img", g_dir);
    d = nn_image_folder(ctx, p, size % 2 ? 1 : 3, 5, 7);
    k = d != NULL;
    use_dataset(d); nn_dataset_free(d);
    nn_ctx_free(ctx);
    return (int)k;
}

/* ---- safetensors and models ---- */
static int fuzz_safetensors(const uint8_t *data, size_t size) {
    char in[96]; nn_ctx *ctx = quiet_ctx(); nn_safetensors *st; nn_module *m; int loaded;
    scratch();
    snprintf(in, sizeof in, "%s/in.safetensors", g_dir);
    put(in, data, size);
    st = nn_safetensors_open(ctx, in);
    loaded = st != NULL;
    if (st) {
        int i;
        for (i = 0; i < nn_safetensors_count(st); i++) nn_free(nn_safetensors_get(st, nn_safetensors_name(st, i)));
        nn_safetensors_meta(st, "format");
        nn_safetensors_close(st);
    }
    nn_clear_error(ctx);
    m = nn_linear_new(ctx, 2, 2, 1);
    loaded += nn_load_model(m, in);
    nn_module_free(m);
    nn_ctx_free(ctx);
    return loaded;
}

/* ---- checkpoints: a real model, optimizer, scheduler and DataLoader, then one step ---- */
static int two_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    (void)user; (void)y; x[0] = (float)i * 0.5f; x[1] = 1.0f - (float)i; *label = i % 2; return 1;
}
typedef struct { nn_ctx *ctx; nn_module *model; nn_tensor *params[8]; nn_optim *opt; nn_scheduler *sched;
                 nn_dataset *data; nn_dataloader *loader; double best; nn_tensor *ema; } trainer;
static void trainer_new(trainer *t, nn_ctx *ctx) {
    nn_module *layers[4]; int64_t two = 2; nn_dataloader_opts o = nn_dataloader_opts_default(); int64_t sh[1] = { 3 };
    t->ctx = ctx;
    layers[0] = nn_linear_new(ctx, 2, 3, 1); layers[1] = nn_batch_norm1d_new(ctx, 3, 1e-5f, 0.1f, 1);
    layers[2] = nn_relu_new(ctx); layers[3] = nn_linear_new(ctx, 3, 2, 1);
    t->model = nn_sequential_new(ctx, layers, 4);
    t->opt = nn_adam(t->params, nn_module_parameters(t->model, t->params, 8), nn_adam_opts_default());
    t->sched = nn_reduce_lr_on_plateau(t->opt, nn_plateau_opts_default());
    t->data = nn_dataset_new(ctx, 5, 1, &two, 0, two_get, NULL, NULL);
    o.batch_size = 2; o.shuffle = 1; o.seed = 7; o.drop_last = 1;   /* BatchNorm needs 2 samples a batch */
    t->loader = nn_dataloader_new(t->data, o);
    t->best = 0;
    t->ema = nn_zeros(ctx, 1, sh);
}
static int trainer_step(trainer *t) {
    nn_tensor *x, *y, *loss; int ok = 0;
    if (!nn_dataloader_next(t->loader, &x, &y) && !nn_dataloader_next(t->loader, &x, &y)) return 0;
    loss = nn_cross_entropy(nn_forward(t->model, x), y, nn_cross_entropy_opts_default());
    if (loss && nn_backward(loss, NULL, 0)) {
        nn_optim_step(t->opt); nn_optim_zero_grad(t->opt);
        nn_scheduler_step_metric(t->sched, nn_item(loss));
        ok = 1;
    }
    nn_arena_reset(t->ctx);
    return ok;
}
static nn_checkpoint trainer_checkpoint(trainer *t) {
    static const char *const names[1] = { "best" }, *const tnames[1] = { "ema" };
    nn_checkpoint ck = nn_checkpoint_default();
    ck.model = t->model; ck.optim = t->opt; ck.scheduler = t->sched; ck.loader = t->loader; ck.epoch = 3;
    ck.extra_names = names; ck.extra_values = &t->best; ck.nextra = 1;
    ck.extra_tensor_names = tnames; ck.extra_tensors = &t->ema; ck.nextra_tensors = 1;
    return ck;
}
static void trainer_free(trainer *t) {
    nn_free(t->ema); nn_dataloader_free(t->loader); nn_dataset_free(t->data);
    nn_scheduler_free(t->sched); nn_optim_free(t->opt); nn_module_free(t->model);
}
/* a hash of everything a checkpoint load may change: the model's state, the optimizer's steps and
   state tensors, the scheduler, the loader, the RNG, epoch, loss and the extras */
static uint64_t mix(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p; size_t i;
    for (i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
static uint64_t trainer_hash(trainer *t, const nn_checkpoint *ck) {
    const nn_state_entry *es; int n = nn_module_state(t->model, &es), k, g, q; uint64_t h = 0xcbf29ce484222325ULL;
    nn__loader_state ls = nn__dataloader_state(t->loader);
    for (k = 0; k < n; k++) h = mix(h, es[k].tensor->data, (size_t)es[k].tensor->numel * nn_dtype_size(es[k].tensor->dtype));
    for (g = 0; g < t->opt->ngroups; g++) {
        nn__group *gr = &t->opt->groups[g];
        h = mix(h, &gr->lr, sizeof gr->lr); h = mix(h, &gr->initial_lr, sizeof gr->initial_lr);
        for (k = 0; k < gr->n; k++) {
            h = mix(h, &gr->step[k], sizeof gr->step[k]);
            for (q = 0; q < 3; q++) if (gr->state[3 * k + q]) h = mix(h, gr->state[3 * k + q]->data, (size_t)gr->state[3 * k + q]->numel * 4);
        }
    }
    h = mix(h, &t->sched->last_epoch, sizeof t->sched->last_epoch); h = mix(h, &t->sched->best, sizeof t->sched->best);
    h = mix(h, &ls.pos, sizeof ls.pos); h = mix(h, &ls.epoch, sizeof ls.epoch); h = mix(h, &ls.rng, sizeof ls.rng);
    h = mix(h, ls.order, (size_t)ls.len * sizeof(int64_t));
    h = mix(h, &t->ctx->rng.state, sizeof t->ctx->rng.state); h = mix(h, &t->ctx->rng.inc, sizeof t->ctx->rng.inc);
    h = mix(h, &ck->epoch, sizeof ck->epoch); h = mix(h, &ck->loss, sizeof ck->loss);
    h = mix(h, &t->best, sizeof t->best); h = mix(h, t->ema->data, 3 * sizeof(float));
    return h;
}
static int fuzz_checkpoint(const uint8_t *data, size_t size) {
    char in[96]; nn_ctx *ctx = quiet_ctx(); trainer t; nn_checkpoint ck; int loaded = 0; uint64_t before;
    scratch();
    snprintf(in, sizeof in, "%s/in.safetensors", g_dir);
    put(in, data, size);
    trainer_new(&t, ctx);
    trainer_step(&t);                                                 /* optimizer state to keep or lose */
    ck = trainer_checkpoint(&t);
    before = trainer_hash(&t, &ck);
    if (nn_load_checkpoint(&ck, in)) loaded = 1 + trainer_step(&t);    /* whatever loaded must train */
    else if (trainer_hash(&t, &ck) != before) {
        fprintf(stderr, "fuzz_checkpoint: a refused checkpoint changed the training state (%s)\n", nn_error(ctx));
        abort();
    }
    else { nn_clear_error(ctx); ck = nn_checkpoint_default(); ck.model = t.model; if (nn_load_checkpoint(&ck, in)) loaded = trainer_step(&t); }
    trainer_free(&t);
    nn_ctx_free(ctx);
    return loaded;
}

typedef struct { const char *name; int (*run)(const uint8_t *, size_t); } fuzz_target;
static const fuzz_target g_targets[] = {
    { "idx", fuzz_idx }, { "idx_gz", fuzz_idx_gz }, { "csv", fuzz_csv }, { "image_folder", fuzz_image_folder },
    { "safetensors", fuzz_safetensors }, { "checkpoint", fuzz_checkpoint },
};
#define NTARGETS ((int)(sizeof g_targets / sizeof g_targets[0]))

#if defined(FUZZ_LIBFUZZER)
/* the target named by NN_FUZZ_TARGET (one binary for all: one build in CI) */
static int (*g_run)(const uint8_t *, size_t);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *name = getenv("NN_FUZZ_TARGET"); int k;
    (void)argc; (void)argv;
    for (k = 0; name && k < NTARGETS; k++) if (!strcmp(name, g_targets[k].name)) g_run = g_targets[k].run;
    if (!g_run) { fprintf(stderr, "NN_FUZZ_TARGET must name a target: idx idx_gz csv image_folder safetensors checkpoint\n"); exit(2); }
    return 0;
}
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { g_run(data, size); return 0; }

#elif defined(FUZZ_REPLAY)
#include <dirent.h>
/* fuzz_replay DIR...: every file in DIR/<target>/ through that target; prints a count per target
   (FUZZ_VERBOSE=1: each file and what its target returned: the number of reads that accepted it;
   checkpoint: 2 loaded whole and trained a step, 1 loaded as a model only and trained, 0 refused).
   What each file must do: under tests/corpus (seeds) and files named ok_*, be accepted; every other
   file under a directory named regress, be refused (checkpoint: the whole-trainer load refused). */
int main(int argc, char **argv) {
    int a, k, files = 0, wrong = 0;
    for (a = 1; a < argc; a++) for (k = 0; k < NTARGETS; k++) {
        char dir[512]; DIR *dp; struct dirent *e; int n = 0, accepted = 0;
        snprintf(dir, sizeof dir, "%s/%s", argv[a], g_targets[k].name);
        if (!(dp = opendir(dir))) continue;
        while ((e = readdir(dp))) {
            char path[1024]; FILE *f; long len; uint8_t *buf; int r;
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (!(f = fopen(path, "rb"))) continue;
            fseek(f, 0, SEEK_END); len = ftell(f); fseek(f, 0, SEEK_SET);
            buf = (uint8_t *)malloc((size_t)len + 1);
            if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) { printf("fuzz_replay: cannot read %s\n", path); return 1; }
            fclose(f);
            r = g_targets[k].run(buf, (size_t)len);
            accepted += r > 0;
            if (getenv("FUZZ_VERBOSE")) printf("fuzz_replay: %s: %d\n", path, r);
            if (strstr(argv[a], "regress") && strncmp(e->d_name, "ok_", 3) ? r >= (strcmp(g_targets[k].name, "checkpoint") ? 1 : 2) : r == 0) {
                printf("fuzz_replay: %s was %s; expected the opposite\n", path, r ? "accepted" : "refused");
                wrong++;
            }
            free(buf);
            n++;
        }
        closedir(dp);
        printf("fuzz_replay: %-12s %3d files from %s (%d accepted by a read, the rest refused), no crash\n", g_targets[k].name, n, dir, accepted);
        files += n;
    }
    if (g_dir[0]) { char cmd[128]; snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir); if (system(cmd) != 0) return 1; }
    printf("fuzz_replay: %d files, no crash, %d accepted or refused wrongly\n", files, wrong);
    return wrong != 0;
}

#elif defined(FUZZ_MAKE_SEEDS)
/* fuzz_seeds OUT: small valid files (and a few near-misses) for each target under OUT/<target>/ */
static const char *g_out;
static void seed(const char *target, const char *name, const void *data, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "mkdir -p %s/%s", g_out, target);
    if (system(path) != 0) abort();
    snprintf(path, sizeof path, "%s/%s/%s", g_out, target, name);
    put(path, (const uint8_t *)data, size);
}
static void seed_file(const char *target, const char *name, const char *from) {
    FILE *f = fopen(from, "rb"); long n; uint8_t *b;
    if (!f) abort();
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    b = (uint8_t *)malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) abort();
    fclose(f);
    seed(target, name, b, (size_t)n);
    free(b);
}
static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu; size_t i; int k;
    for (i = 0; i < n; i++) { c ^= p[i]; for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u))); }
    return ~c;
}
/* gzip (RFC 1952) around stb_image_write's deflate; flags 8 adds a file name */
static void seed_gz(const char *name, const uint8_t *data, size_t size, int fname) {
    int zlen; unsigned char *z = stbi_zlib_compress((unsigned char *)data, (int)size, &zlen, 8);
    uint8_t *g = (uint8_t *)malloc((size_t)zlen + 64); size_t n = 0; uint32_t crc = crc32_of(data, size); int k;
    static const uint8_t head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
    memcpy(g, head, 10); n = 10;
    if (fname) { g[3] = 8; memcpy(g + n, "x.idx", 6); n += 6; }
    memcpy(g + n, z + 2, (size_t)zlen - 6); n += (size_t)zlen - 6;          /* raw deflate: no zlib header or adler */
    for (k = 0; k < 4; k++) g[n++] = (uint8_t)(crc >> (8 * k));
    for (k = 0; k < 4; k++) g[n++] = (uint8_t)(size >> (8 * k));
    seed("idx_gz", name, g, n);
    STBIW_FREE(z); free(g);
}
static void write_to_mem(void *ctx, void *data, int size) {
    uint8_t **b = (uint8_t **)ctx; size_t have; memcpy(&have, *b, sizeof have);
    *b = (uint8_t *)realloc(*b, sizeof have + have + (size_t)size);
    memcpy(*b + sizeof have + have, data, (size_t)size); have += (size_t)size; memcpy(*b, &have, sizeof have);
}
/* an image written by stb_image_write into a seed */
static void seed_image(const char *name, int kind, int w, int h, int comp) {
    uint8_t px[16 * 16 * 4], *b = (uint8_t *)calloc(1, sizeof(size_t)); size_t n; int i;
    for (i = 0; i < w * h * comp; i++) px[i] = (uint8_t)(i * 37 + 11);
    if (kind == 0) stbi_write_png_to_func(write_to_mem, &b, w, h, comp, px, w * comp);
    if (kind == 1) stbi_write_jpg_to_func(write_to_mem, &b, w, h, comp, px, 80);
    if (kind == 2) stbi_write_bmp_to_func(write_to_mem, &b, w, h, comp, px);
    memcpy(&n, b, sizeof n);
    seed("image_folder", name, b + sizeof n, n);
    free(b);
}

int main(int argc, char **argv) {
    nn_ctx *ctx = nn_ctx_new(); char tmp[256]; int k;
    (void)g_targets;
    if (argc != 2) { printf("usage: fuzz_seeds OUT\n"); return 2; }
    g_out = argv[1];
    scratch();
    /* IDX: images and labels, plain and gzip'd */
    seed("idx", "images4", g_img4, sizeof g_img4);
    seed("idx", "labels4", g_lab4, sizeof g_lab4);
    { static const uint8_t one[20] = { 0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 90, 180, 255 }; seed("idx", "images4_1x1", one, sizeof one); }
    seed_gz("images4", g_img4, sizeof g_img4, 0);
    seed_gz("labels4_fname", g_lab4, sizeof g_lab4, 1);
    /* CSV */
    seed("csv", "labels", "a,b,label\n1,2,0\n3.5,-4,1\n\n5e-1,6,2\n", 35);
    seed("csv", "plain", "1,2,3\n4,5,6\n", 12);
    seed("csv", "spaces_crlf", " 1 ,\t2\r\n3,4\r\n", 14);
    /* images: every format stb_image reads that a folder is likely to hold */
    seed_image("rgb.png", 0, 6, 4, 3); seed_image("gray.png", 0, 5, 3, 1); seed_image("rgba.png", 0, 3, 3, 4);
    seed_image("rgb.jpg", 1, 16, 8, 3); seed_image("gray.jpg", 1, 9, 7, 1);
    seed_image("rgb.bmp", 2, 4, 3, 3); seed_image("rgba.bmp", 2, 3, 2, 4);
    seed("image_folder", "one.gif", "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00\x21\xf9\x04\x01\x00\x00\x00\x00"
         "\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b", 43);
    seed("image_folder", "gray16.pgm", "P5\n2 1\n65535\n\x12\x34\xff\xff", 18);
    seed("image_folder", "rgb.ppm", "P6\n2 2\n255\n\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0", 23);
    seed("image_folder", "gray.pgm", "P5\n# comment\n3 1\n255\n\x00\x80\xff", 24);
    /* safetensors: a model's state, every dtype nn.h writes, metadata */
    {
        nn_module *m = nn_linear_new(ctx, 2, 2, 1);
        int64_t sh[2] = { 2, 3 }; nn_tensor *ts[2]; const char *names[2] = { "f32", "i64" };
        const char *mk[1] = { "format" }, *mv[1] = { "pt" };
        snprintf(tmp, sizeof tmp, "%s/seed.safetensors", g_dir);
        nn_save_model(m, tmp); seed_file("safetensors", "linear_2_2", tmp);
        ts[0] = nn_randn(ctx, 2, sh); ts[1] = nn_zeros_dtype(ctx, 2, sh, NN_INT64);
        nn_safetensors_save(ctx, tmp, names, ts, 2, mk, mv, 1); seed_file("safetensors", "dtypes_meta", tmp);
        nn_free(ts[0]); nn_free(ts[1]); nn_module_free(m);
    }
    {   /* F64, F16, BF16 and I32 written by hand */
        static const char h[] = "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                                "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                                "\"c\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[12,14]},"
                                "\"d\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[14,18]}}";
        uint8_t b[512]; size_t hl = sizeof h - 1, n = 0; double one = 1.0;
        for (k = 0; k < 8; k++) b[n++] = (uint8_t)(hl >> (8 * k));
        memcpy(b + n, h, hl); n += hl;
        memcpy(b + n, &one, 8); n += 8;
        b[n++] = 0x00; b[n++] = 0x3c; b[n++] = 0x00; b[n++] = 0xc0;       /* F16 1, -2 */
        b[n++] = 0x80; b[n++] = 0x3f;                                     /* BF16 1 */
        b[n++] = 7; b[n++] = 0; b[n++] = 0; b[n++] = 0;                   /* I32 7 */
        seed("safetensors", "f64_f16_bf16_i32", b, n);
    }
    /* checkpoints of the target's own trainer: fresh, after steps, model only */
    {
        trainer t; nn_checkpoint ck;
        trainer_new(&t, ctx);
        ck = trainer_checkpoint(&t);
        snprintf(tmp, sizeof tmp, "%s/seed.safetensors", g_dir);
        nn_save_checkpoint(&ck, tmp); seed_file("checkpoint", "fresh", tmp);
        for (k = 0; k < 4; k++) trainer_step(&t);
        ck.epoch = 9; t.best = 0.25;
        nn_save_checkpoint(&ck, tmp); seed_file("checkpoint", "after_4_steps", tmp);
        ck = nn_checkpoint_default(); ck.model = t.model;
        nn_save_checkpoint(&ck, tmp); seed_file("checkpoint", "model_only", tmp);
        trainer_free(&t);
    }
    if (nn_error(ctx)) { printf("fuzz_seeds: %s\n", nn_error(ctx)); return 1; }
    nn_ctx_free(ctx);
    snprintf(tmp, sizeof tmp, "rm -rf %s", g_dir);
    if (system(tmp) != 0) return 1;
    printf("fuzz_seeds: seeds written under %s\n", g_out);
    return 0;
}
#endif
