/* Seed 001's learning-rate lesson: gradient descent on the same linear
   regression (y = 1 + 2x + noise, MSE) with a learning rate too small (slow),
   right, and too large (the loss grows: divergence). Prints the curves side by
   side, plots them in the terminal and, with stb_image_write, in lr_demo.png. */
#ifdef NN_HAVE_STB
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>

#define EPOCHS 40

static void usage(FILE *out) {
    fprintf(out, "usage: lr_demo [--help]\n"
                 "  gradient descent with a learning rate too small, right and too large; plots the curves\n");
}

int main(int argc, char **argv) {
    nn_ctx *ctx;
    const float lrs[3] = { 0.01f, 0.5f, 1.0f };
    const char *names[3] = { "lr=0.01 (too small)", "lr=0.5 (right)", "lr=1.0 (too large)" };
    float curve[3][EPOCHS], logc[3][EPOCHS];
    int64_t n[2] = { 100, 1 }, one = 1, i;
    nn_tensor *x, *y, *noise;
    const char *err;
    int r, e;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "lr_demo: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }
    ctx = nn_ctx_new();
    nn_manual_seed(ctx, 42);
    x = nn_rand(ctx, 2, n); noise = nn_randn(ctx, 2, n); y = nn_empty(ctx, 2, n);
    for (i = 0; i < 100; i++) nn_f32(y)[i] = 1.0f + 2.0f * nn_f32(x)[i] + 0.1f * nn_f32(noise)[i];
    for (r = 0; r < 3; r++) {
        nn_tensor *w = nn_set_requires_grad(nn_zeros(ctx, 1, &one), 1), *b = nn_set_requires_grad(nn_zeros(ctx, 1, &one), 1), *ps[2];
        nn_optim *opt;
        ps[0] = w; ps[1] = b;
        opt = nn_sgd(ps, 2, nn_sgd_opts_default(lrs[r]));    /* SGD([w, b], lr) */
        if (!opt) { nn_free(w); nn_free(b); break; }        /* the error is reported below */
        for (e = 0; e < EPOCHS; e++) {
            nn_tensor *loss = nn_mse_loss(nn_add(nn_mul(x, w), b), y, NN_MEAN);
            nn_optim_zero_grad(opt);
            nn_backward(loss, NULL, 0);
            nn_optim_step(opt);
            curve[r][e] = nn_item(loss);
            logc[r][e] = log10f(curve[r][e]);
            nn_arena_reset(ctx);
        }
        printf("%-20s final w = %9.4g  b = %9.4g\n", names[r], nn_f32(w)[0], nn_f32(b)[0]);
        nn_optim_free(opt); nn_free(w); nn_free(b);
    }
    err = nn_error(ctx);
    if (err) { printf("error: %s\n", err); return 1; }
    printf("\n%5s %22s %22s %22s\n", "epoch", names[0], names[1], names[2]);
    for (e = 0; e < EPOCHS; e += (e < 10 ? 1 : 5)) printf("%5d %22.6g %22.6g %22.6g\n", e + 1, curve[0][e], curve[1][e], curve[2][e]);
    {
        const float *ys[3] = { logc[0], logc[1], logc[2] };
        nn_plot_terminal("\nlog10(MSE loss) per epoch", ys, names, 3, EPOCHS, 12);
        if (nn_plot_png(ctx, "lr_demo.png", ys, names, 3, EPOCHS)) printf("curves written to lr_demo.png\n");
        else nn_clear_error(ctx);
    }
    r = curve[1][EPOCHS - 1] < curve[0][EPOCHS - 1] && curve[2][EPOCHS - 1] > curve[2][0];
    printf("%s\n", r ? "as expected: the small rate is slow, the right one converges, the large one diverges" : "unexpected curves");
    nn_free(x); nn_free(y); nn_free(noise);
    nn_ctx_free(ctx);
    return r ? 0 : 1;
}
