/* The outside probe of issue 10, re-run against this nn.h: zero-sized images, images that
   claim huge sizes, allocation failure injected into nn_image_folder, and crafted checkpoint
   metadata. Each case runs in a child process (ASan/UBSan end a child, not the probe) and is
   counted as crash, wrong (loaded but garbage, or NULL with no message) or refused.
   Build and run: make probe  (clang, ASan, UBSan; make sanitize runs it). Prints one line per case and a
   summary, and exits 1 if any case crashed, loaded garbage or failed without a message. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static long g_fail_at = -1, g_count;   /* the g_fail_at-th allocation fails (-1: none) */
static void *probe_malloc(size_t n) { if (++g_count == g_fail_at) return NULL; return malloc(n); }
static void *probe_realloc(void *p, size_t n) { if (++g_count == g_fail_at) return NULL; return realloc(p, n); }
#define NN_MALLOC(n) probe_malloc(n)
#define NN_REALLOC(p, n) probe_realloc(p, n)
#define NN_FREE(p) free(p)
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define NN_IMPLEMENTATION
#include "../nn.h"

static void quiet(void *u, const char *m) { (void)u; (void)m; }
static void put(const char *path, const void *b, size_t n) { FILE *f = fopen(path, "wb"); fwrite(b, 1, n, f); fclose(f); }

/* child: 0 refused with a message, 1 loaded (garbage unless want_ok), 2 NULL without a message */
typedef int (*probe_fn)(void *arg);
static int run_child(probe_fn fn, void *arg) {
    pid_t pid = fork();
    int st;
    if (pid == 0) _exit(10 + fn(arg));   /* ASan and UBSan exit 1 */
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) >= 10 && WEXITSTATUS(st) <= 12) return WEXITSTATUS(st) - 10;
    return 3;                          /* crash: ASan/UBSan report, signal */
}
static const char *verdict[] = { "refused", "LOADED", "NULL-no-message", "CRASH" };
static int g_bad;                      /* cases that crashed, loaded garbage or gave no message */

/* ---- images ---- */
static const char *g_root = "/tmp/nn_probe/folder";
static int load_folder(void *arg) {
    nn_ctx *ctx = nn_ctx_new(); nn_dataset *d; int r;
    (void)arg;
    nn_set_logger(ctx, quiet, NULL);
    d = nn_image_folder(ctx, g_root, 3, 8, 8);
    r = d ? 1 : nn_error(ctx) ? 0 : 2;
    if (!d && nn_error(ctx)) fprintf(stderr, "    %s\n", nn_error(ctx));
    nn_dataset_free(d); nn_ctx_free(ctx);
    return r;
}
static void one_image(const char *name, const void *b, size_t n) {
    char p[256];
    if (system("rm -rf /tmp/nn_probe/folder && mkdir -p /tmp/nn_probe/folder/a")) exit(1);
    snprintf(p, sizeof p, "/tmp/nn_probe/folder/a/%s", name);
    put(p, b, n);
}
static void le32(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24); }
/* a 24-bit BMP header claiming w x h, with `pad` bytes of pixels after it */
static size_t bmp(unsigned char *b, int32_t w, int32_t h, size_t pad) {
    memset(b, 0, 54 + pad);
    b[0] = 'B'; b[1] = 'M'; le32(b + 2, (uint32_t)(54 + pad)); le32(b + 10, 54); le32(b + 14, 40);
    le32(b + 18, (uint32_t)w); le32(b + 22, (uint32_t)h); b[26] = 1; b[28] = 24;
    return 54 + pad;
}

/* allocation failure: the folder of two classes, three PNG-free PPMs; the k-th allocation fails */
static int folder_with_failure(void *arg) {
    long k = *(long *)arg;
    nn_ctx *ctx = nn_ctx_new(); nn_dataset *d; int r = 0; int64_t i; float x[3 * 8 * 8]; int64_t y;
    nn_set_logger(ctx, quiet, NULL);
    g_count = 0; g_fail_at = k;
    d = nn_image_folder(ctx, "/tmp/nn_probe/ok", 3, 8, 8);
    g_fail_at = -1;
    if (!d) r = nn_error(ctx) ? 0 : 2;
    else {                             /* must be the whole folder, as without the failure */
        r = 0;
        if (nn_dataset_len(d) != 3 || nn_dataset_num_classes(d) != 2) r = 1;
        for (i = 0; r == 0 && i < 3; i++) {
            if (!nn_dataset_get(d, i, x, NULL, &y) || y != (i < 2 ? 0 : 1) || x[0] < (i == 2 ? 0.7f : 0.3f)) r = 1;
        }
        r = r ? 1 : 4;                 /* 4: loaded correctly */
    }
    nn_dataset_free(d); nn_ctx_free(ctx);
    return r == 4 ? 0 : r == 0 ? 0 : r;
}

/* ---- checkpoints ---- */
typedef struct { const char *key, *value; } meta_edit;
static int load_crafted(void *arg) {
    const char *path = (const char *)arg;
    nn_ctx *ctx = nn_ctx_new();
    nn_module *m = nn_linear_new(ctx, 2, 2, 1);
    nn_tensor *params[2];
    nn_optim *o = nn_sgd(params, nn_module_parameters(m, params, 2), nn_sgd_opts_default(0.1));
    nn_checkpoint ck = nn_checkpoint_default();
    int ok, r;
    nn_set_logger(ctx, quiet, NULL);
    ck.model = m; ck.optim = o;
    ok = nn_load_checkpoint(&ck, path);
    if (!ok && nn_error(ctx)) fprintf(stderr, "    %s\n", nn_error(ctx));
    r = ok ? 1 : nn_error(ctx) ? 0 : 2;
    nn_optim_free(o); nn_module_free(m); nn_ctx_free(ctx);
    return r;
}
/* a good checkpoint, then one metadata value replaced (in the JSON header, padding kept) */
static void craft(const char *good, const char *out, const char *key, const char *value) {
    FILE *f = fopen(good, "rb"); long n; unsigned char *b; char *h, *at, *end, pat[128]; uint64_t hl = 0; int k;
    size_t oldlen, newlen;
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc((size_t)n + 256); if (fread(b, 1, (size_t)n, f) != (size_t)n) exit(1); fclose(f);
    for (k = 7; k >= 0; k--) hl = (hl << 8) | b[k];
    h = (char *)b + 8;
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    at = strstr(h, pat);
    if (!at || at > h + hl) { fprintf(stderr, "no key %s\n", key); exit(1); }
    at += strlen(pat); end = strchr(at, '"');
    oldlen = (size_t)(end - at); newlen = strlen(value);
    memmove(at + newlen, end, (size_t)n - (size_t)(end - (char *)b));
    memcpy(at, value, newlen);
    n += (long)newlen - (long)oldlen; hl += newlen - oldlen;
    for (k = 0; k < 8; k++) b[k] = (unsigned char)(hl >> (8 * k));
    put(out, b, (size_t)n);
    free(b);
}

int main(void) {
    int counts[2][4]; int r, i; long k; unsigned char b[4096]; size_t n;
    memset(counts, 0, sizeof counts);
    if (system("rm -rf /tmp/nn_probe && mkdir -p /tmp/nn_probe/ok/a /tmp/nn_probe/ok/b")) return 1;

    printf("== images (classes of one crafted file, loaded at 3 x 8 x 8)\n");
    {
        struct { const char *what, *name; const char *bytes; size_t n; } ppm[] = {
            { "PPM 0 x 4", "z.ppm", "P6\n0 4\n255\n", 11 }, { "PPM 4 x 0", "z.ppm", "P6\n4 0\n255\n", 11 },
            { "PGM 0 x 0", "z.pgm", "P5\n0 0\n255\n", 11 },
            { "PPM 60000 x 60000, 12 bytes", "h.ppm", "P6\n60000 60000\n255\nabcdefghijkl", 31 },
        };
        for (i = 0; i < (int)(sizeof ppm / sizeof ppm[0]); i++) {
            one_image(ppm[i].name, ppm[i].bytes, ppm[i].n);
            r = run_child(load_folder, NULL); counts[i < 3 ? 0 : 1][r]++;
            printf("  %-40s %s\n", ppm[i].what, verdict[r]);
        }
        n = bmp(b, 0, 4, 16); one_image("z.bmp", b, n); r = run_child(load_folder, NULL); counts[0][r]++; printf("  %-40s %s\n", "BMP 0 x 4", verdict[r]);
        n = bmp(b, 4, 0, 16); one_image("z.bmp", b, n); r = run_child(load_folder, NULL); counts[0][r]++; printf("  %-40s %s\n", "BMP 4 x 0", verdict[r]);
        n = bmp(b, 327680, 1792, 76); one_image("h.bmp", b, n); r = run_child(load_folder, NULL); counts[1][r]++; printf("  %-40s %s\n", "BMP 327680 x 1792 in 130 bytes", verdict[r]);
        n = bmp(b, 16000, -16000, 76); one_image("h.bmp", b, n); r = run_child(load_folder, NULL); counts[1][r]++; printf("  %-40s %s\n", "BMP 16000 x 16000 (top-down) in 130 bytes", verdict[r]);
    }
    g_bad += counts[0][1] + counts[0][2] + counts[0][3] + counts[1][1] + counts[1][2] + counts[1][3];
    printf("  zero-sized: %d refused, %d loaded, %d NULL without message, %d crashed\n", counts[0][0], counts[0][1], counts[0][2], counts[0][3]);
    printf("  huge:       %d refused, %d loaded, %d NULL without message, %d crashed\n", counts[1][0], counts[1][1], counts[1][2], counts[1][3]);

    printf("== allocation failure injected in nn_image_folder (k-th allocation fails)\n");
    {
        static const char p1[] = "P6\n2 2\n255\n" "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80";
        static const char p2[] = "P6\n2 2\n255\n" "\xf0\xf0\xf0\xf0\xf0\xf0\xf0\xf0\xf0\xf0\xf0\xf0";
        int crash = 0, wrong = 0, nomsg = 0, fine = 0; long total;
        put("/tmp/nn_probe/ok/a/1.ppm", p1, sizeof p1 - 1); put("/tmp/nn_probe/ok/a/2.ppm", p1, sizeof p1 - 1);
        put("/tmp/nn_probe/ok/b/3.ppm", p2, sizeof p2 - 1);
        {   /* how many allocations a good load makes */
            nn_ctx *ctx = nn_ctx_new(); long before; nn_dataset *d;
            before = g_count; d = nn_image_folder(ctx, "/tmp/nn_probe/ok", 3, 8, 8); total = g_count - before;
            if (!d) { printf("  the good folder did not load: %s\n", nn_error(ctx)); return 1; }
            nn_dataset_free(d); nn_ctx_free(ctx);
        }
        for (k = 1; k <= total; k++) {
            r = run_child(folder_with_failure, &k);
            if (r == 3) crash++; else if (r == 1) wrong++; else if (r == 2) nomsg++; else fine++;
            if (r) printf("  allocation %ld of %ld fails: %s\n", k, total, r == 1 ? "loaded, wrong contents" : verdict[r]);
        }
        g_bad += crash + wrong + nomsg;
        printf("  %ld allocations: %d crashes, %d silently wrong, %d NULL without message, %d refused or correct\n", total, crash, wrong, nomsg, fine);
    }

    printf("== crafted checkpoint metadata (Linear(2, 2) + SGD, one value replaced)\n");
    {
        nn_ctx *ctx = nn_ctx_new(); nn_module *m = nn_linear_new(ctx, 2, 2, 1); nn_tensor *params[2];
        nn_optim *o = nn_sgd(params, nn_module_parameters(m, params, 2), nn_sgd_opts_default(0.1));
        nn_checkpoint ck = nn_checkpoint_default();
        static const meta_edit edits[] = {
            { "epoch", "1e300" }, { "epoch", "nan" }, { "epoch", "-inf" }, { "epoch", "2.5" },
            { "rng.state_hi", "1e300" }, { "rng.state_lo", "-1" }, { "rng.inc_lo", "4" }, { "rng.has_spare", "nan" },
            { "rng.spare", "1e300" }, { "rng.spare", "nan" }, { "optim.0.lr", "nan" }, { "optim.0.lr", "-inf" },
            { "optim.0.momentum", "1e999" }, { "optim.state.0.step", "1e300" }, { "optim.state.1.step", "-3" }, { "optim.0.params", "1e300" },
        };
        int loaded = 0, refused = 0, crashed = 0;
        ck.model = m; ck.optim = o;
        if (!nn_save_checkpoint(&ck, "/tmp/nn_probe/good.safetensors")) { printf("  save failed\n"); return 1; }
        nn_optim_free(o); nn_module_free(m); nn_ctx_free(ctx);
        r = run_child(load_crafted, (void *)"/tmp/nn_probe/good.safetensors");
        printf("  %-40s %s (the unedited file)\n", "good", verdict[r]);
        for (i = 0; i < (int)(sizeof edits / sizeof edits[0]); i++) {
            char out[128], what[128];
            snprintf(out, sizeof out, "/tmp/nn_probe/crafted_%d.safetensors", i);
            craft("/tmp/nn_probe/good.safetensors", out, edits[i].key, edits[i].value);
            r = run_child(load_crafted, out);
            if (r == 1) loaded++; else if (r == 3) crashed++; else refused++;
            snprintf(what, sizeof what, "\"%s\": \"%s\"", edits[i].key, edits[i].value);
            printf("  %-40s %s\n", what, verdict[r]);
        }
        printf("  %d crafted files: %d loaded garbage, %d crashed, %d refused\n", (int)(sizeof edits / sizeof edits[0]), loaded, crashed, refused);
        g_bad += loaded + crashed;
    }
    printf("%s\n", g_bad ? "probe: FAILED (a crash, a garbage load or a wrong result above)" : "probe: every case refused with a message or loaded correctly");
    return g_bad != 0;
}
