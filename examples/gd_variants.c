/* Seed 004: full-batch gradient descent vs stochastic (one sample per update)
   vs mini-batch (32) on the same problem and the same number of epochs: a
   2-16-1 MLP regressing y = sin(x0) + x1^2 / 2 on 512 points. Prints loss per
   epoch, updates made and time taken for each.
   ./gd_variants [--help] */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>
#include <time.h>

static void usage(FILE *out) {
    fprintf(out, "usage: gd_variants [--help]\n"
                 "  full-batch vs stochastic vs mini-batch gradient descent on one regression problem\n");
}

#define EPOCHS 20

static nn_module *model_new(nn_ctx *ctx) {
    nn_module *l[3];
    nn_manual_seed(ctx, 5);                       /* same start for the three */
    l[0] = nn_linear_new(ctx, 2, 16, 1); l[1] = nn_tanh_new(ctx); l[2] = nn_linear_new(ctx, 16, 1, 1);
    return nn_sequential_new(ctx, l, 3);
}

int main(int argc, char **argv) {
    nn_ctx *ctx;
    int64_t sx[2] = { 512, 2 }, sy[2] = { 512, 1 }, i;
    const int64_t batch[3] = { 512, 1, 32 };
    const float lr[3] = { 0.05f, 0.01f, 0.05f };
    const char *names[3] = { "full batch (GD)", "stochastic (SGD)", "mini-batch (32)" };
    float curve[3][EPOCHS]; long updates[3]; double secs[3];
    nn_tensor *x, *y;
    const char *err;
    int v, e;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "gd_variants: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }
    ctx = nn_ctx_new();
    nn_manual_seed(ctx, 0);
    x = nn_randn(ctx, 2, sx); y = nn_empty(ctx, 2, sy);
    for (i = 0; i < 512; i++) nn_f32(y)[i] = sinf(nn_f32(x)[2 * i]) + 0.5f * nn_f32(x)[2 * i + 1] * nn_f32(x)[2 * i + 1];
    for (v = 0; v < 3; v++) {
        nn_module *m = model_new(ctx);
        nn_tensor *ps[4];
        nn_optim *opt = nn_sgd(ps, nn_module_parameters(m, ps, 4), nn_sgd_opts_default(lr[v]));   /* SGD(lr) */
        clock_t t0 = clock();
        if (!opt) { nn_module_free(m); break; }   /* the error is reported below */
        updates[v] = 0;
        for (e = 0; e < EPOCHS; e++) {
            double total = 0;
            int64_t start;
            for (start = 0; start < 512; start += batch[v]) {   /* rows [start, start + batch) */
                nn_tensor *loss = nn_mse_loss(nn_forward(m, nn_slice(x, 0, start, start + batch[v], 1)), nn_slice(y, 0, start, start + batch[v], 1), NN_MEAN);
                nn_optim_zero_grad(opt);
                nn_backward(loss, NULL, 0);
                nn_optim_step(opt);
                updates[v]++;
                nn_arena_reset(ctx);
            }
            NN_NO_GRAD(ctx) {                    /* loss on all points after the epoch */
                total = nn_item(nn_mse_loss(nn_forward(m, x), y, NN_MEAN));
            }
            nn_arena_reset(ctx);
            curve[v][e] = (float)total;
        }
        secs[v] = (double)(clock() - t0) / CLOCKS_PER_SEC;
        nn_optim_free(opt); nn_module_free(m);
    }
    err = nn_error(ctx);
    if (err) { printf("error: %s\n", err); return 1; }
    printf("%5s %18s %18s %18s\n", "epoch", names[0], names[1], names[2]);
    for (e = 0; e < EPOCHS; e++) printf("%5d %18.5f %18.5f %18.5f\n", e + 1, curve[0][e], curve[1][e], curve[2][e]);
    printf("%5s %18ld %18ld %18ld\n%5s %17.2fs %17.2fs %17.2fs\n", "steps", updates[0], updates[1], updates[2], "time", secs[0], secs[1], secs[2]);
    printf("one epoch = one pass over the 512 points: GD makes 1 update, SGD 512 noisy ones, mini-batch 16\n");
    nn_free(x); nn_free(y);
    nn_ctx_free(ctx);
    return curve[2][EPOCHS - 1] < curve[2][0] && curve[1][EPOCHS - 1] < curve[1][0] ? 0 : 1;
}
