/* Seed 000/001: the same problem trained with SGD, SGD with momentum, Adam and
   AdamW from the same initial weights; prints each one's loss curve side by
   side. The problem: a 1-16-1 MLP fitting y = sin(3x) on 64 points.
   Options start from PyTorch's defaults (nn_x_opts_default) and set what differs.
   ./optimizers [--help] */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>

static void usage(FILE *out) {
    fprintf(out, "usage: optimizers [--help]\n"
                 "  trains one MLP with SGD, SGD+momentum, Adam and AdamW and prints the loss curves\n");
}

#define NOPT 4
#define STEPS 300

static nn_module *make_model(nn_ctx *ctx) {
    nn_module *mods[3];
    nn_manual_seed(ctx, 7);                              /* same initial weights for every optimizer */
    mods[0] = nn_linear_new(ctx, 1, 16, 1);
    mods[1] = nn_tanh_new(ctx);
    mods[2] = nn_linear_new(ctx, 16, 1, 1);
    return nn_sequential_new(ctx, mods, 3);
}

int main(int argc, char **argv) {
    nn_ctx *ctx;
    const char *names[NOPT] = { "SGD", "SGD+momentum", "Adam", "AdamW" };
    float curve[NOPT][STEPS];
    int64_t shape[2] = { 64, 1 }, i;
    nn_tensor *x, *y;
    const char *err;
    int k, step;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "optimizers: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }
    ctx = nn_ctx_new();
    x = nn_empty(ctx, 2, shape);
    y = nn_empty(ctx, 2, shape);
    for (i = 0; i < 64; i++) { nn_f32(x)[i] = -1.0f + 2.0f * (float)i / 63.0f; nn_f32(y)[i] = sinf(3.0f * nn_f32(x)[i]); }
    for (k = 0; k < NOPT; k++) {
        nn_module *model = make_model(ctx);
        nn_tensor *params[4];
        int n = nn_module_parameters(model, params, 4);
        nn_optim *opt;
        if (k == 0) {                                    /* SGD(params, lr=0.1) */
            opt = nn_sgd(params, n, nn_sgd_opts_default(0.1));
        } else if (k == 1) {                             /* SGD(params, lr=0.1, momentum=0.9) */
            nn_sgd_opts o = nn_sgd_opts_default(0.1);
            o.momentum = 0.9;
            opt = nn_sgd(params, n, o);
        } else if (k == 2) {                             /* Adam(params, lr=0.01) */
            nn_adam_opts o = nn_adam_opts_default();
            o.lr = 0.01;
            opt = nn_adam(params, n, o);
        } else {                                         /* AdamW(params, lr=0.01), weight_decay 0.01 */
            nn_adam_opts o = nn_adamw_opts_default();
            o.lr = 0.01;
            opt = nn_adamw(params, n, o);
        }
        if (!opt) { nn_module_free(model); break; }   /* the error is reported below */
        for (step = 0; step < STEPS; step++) {
            nn_tensor *loss;
            nn_optim_zero_grad(opt);                     /* optimizer.zero_grad() */
            loss = nn_mse_loss(nn_forward(model, x), y, NN_MEAN);
            nn_backward(loss, NULL, 0);                     /* loss.backward() */
            nn_optim_step(opt);                          /* optimizer.step() */
            curve[k][step] = nn_item(loss);
            nn_arena_reset(ctx);
        }
        nn_optim_free(opt);
        nn_module_free(model);
    }
    err = nn_error(ctx);
    if (err) { printf("error: %s\n", err); return 1; }
    printf("%6s", "step");
    for (k = 0; k < NOPT; k++) printf(" %14s", names[k]);
    printf("\n");
    for (step = 0; step < STEPS; step += (step < 20 ? 5 : 30)) {
        printf("%6d", step + 1);
        for (k = 0; k < NOPT; k++) printf(" %14.6f", curve[k][step]);
        printf("\n");
    }
    printf("%6d", STEPS);
    for (k = 0; k < NOPT; k++) printf(" %14.6f", curve[k][STEPS - 1]);
    printf("\n");
    nn_free(x); nn_free(y);
    nn_ctx_free(ctx);
    for (k = 0; k < NOPT; k++) if (!(curve[k][STEPS - 1] < curve[k][0])) return 1;
    return 0;
}
