/* Seed 000/001: the same problem trained with SGD, SGD with momentum, Adam and
   AdamW from the same initial weights; prints each one's loss curve side by
   side. The problem: a 1-16-1 MLP fitting y = sin(3x) on 64 points. */
#define NN_IMPLEMENTATION
#include "../nn.h"

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

int main(void) {
    nn_ctx *ctx = nn_ctx_new();
    const char *names[NOPT] = { "SGD", "SGD+momentum", "Adam", "AdamW" };
    float curve[NOPT][STEPS];
    int64_t shape[2] = { 64, 1 }, i;
    nn_tensor *x = nn_empty(ctx, 2, shape), *y = nn_empty(ctx, 2, shape);
    int k, step;

    for (i = 0; i < 64; i++) { nn_f32(x)[i] = -1.0f + 2.0f * (float)i / 63.0f; nn_f32(y)[i] = sinf(3.0f * nn_f32(x)[i]); }
    for (k = 0; k < NOPT; k++) {
        nn_module *model = make_model(ctx);
        nn_tensor *params[4];
        int n = nn_module_parameters(model, params, 4);
        nn_optim *opt;
        if (k == 0) { nn_sgd_opts o = { 0.1f, 0, 0, 0, 0 }; opt = nn_sgd(params, n, o); }
        else if (k == 1) { nn_sgd_opts o = { 0.1f, 0.9f, 0, 0, 0 }; opt = nn_sgd(params, n, o); }
        else if (k == 2) { nn_adam_opts o = { 0.01f, 0, 0, 0, 0, 0 }; opt = nn_adam(params, n, o); }
        else { nn_adam_opts o = { 0.01f, 0, 0, 0, 0.01f, 0 }; opt = nn_adamw(params, n, o); }
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
    if (nn_error(ctx)) { printf("error: %s\n", nn_error(ctx)); return 1; }
    nn_free(x); nn_free(y);
    nn_ctx_free(ctx);
    for (k = 0; k < NOPT; k++) if (!(curve[k][STEPS - 1] < curve[k][0])) return 1;
    return 0;
}
