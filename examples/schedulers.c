/* Seed 000: learning-rate schedulers. First StepLR's worked table
   (lr_0 = 1e-4, step_size = 7, gamma = 0.1: lr_t = lr_0 * gamma^floor(epoch / 7)),
   then ReduceLROnPlateau fed a validation loss while a model trains.
   ./schedulers [--help] */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>

static void usage(FILE *out) {
    fprintf(out, "usage: schedulers [--help]\n"
                 "  prints StepLR's learning rates, then trains a model under ReduceLROnPlateau\n");
}

int main(int argc, char **argv) {
    nn_ctx *ctx;
    int64_t one = 1, sx[2] = { 96, 4 }, sy[2] = { 96, 1 }, i;
    nn_tensor *w, *x, *y, *params[2];
    nn_optim *opt;
    nn_scheduler *sched;
    nn_module *model;
    nn_adam_opts ao = nn_adam_opts_default();
    nn_plateau_opts po = nn_plateau_opts_default();     /* mode 'min', threshold 1e-4 'rel', ... */
    const char *err;
    int epoch;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "schedulers: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }
    ctx = nn_ctx_new();
    w = nn_set_requires_grad(nn_zeros(ctx, 1, &one), 1);
    opt = nn_sgd(&w, 1, nn_sgd_opts_default(1e-4));    /* SGD([w], lr=1e-4) */
    sched = nn_step_lr(opt, 7, 0.1);                    /* StepLR(opt, step_size=7, gamma=0.1) */
    if (!sched) { err = nn_error(ctx); printf("error: %s\n", err ? err : "?"); return 1; }
    printf("StepLR(step_size=7, gamma=0.1), lr_0 = 1e-4\n epoch  lr\n");
    for (epoch = 1; epoch <= 21; epoch++) {
        printf(" %5d  %.0e\n", epoch, nn_scheduler_last_lr(sched, 0));
        /* train(...) would go here */
        nn_scheduler_step(sched);                        /* scheduler.step() once per epoch */
    }
    nn_scheduler_free(sched); nn_optim_free(opt); nn_free(w);

    /* ReduceLROnPlateau: y = x . [1, -2, 3, 0.5] + noise; first 64 rows train, last 32 validate */
    nn_manual_seed(ctx, 3);
    x = nn_randn(ctx, 2, sx); y = nn_randn(ctx, 2, sy);
    for (i = 0; i < 96; i++) {
        const float *r = nn_f32(x) + 4 * i;
        nn_f32(y)[i] = r[0] - 2 * r[1] + 3 * r[2] + 0.5f * r[3] + 0.3f * nn_f32(y)[i];
    }
    model = nn_linear_new(ctx, 4, 1, 1);
    ao.lr = 0.5;                                        /* Adam(model.parameters(), lr=0.5) */
    opt = nn_adam(params, nn_module_parameters(model, params, 2), ao);
    po.factor = 0.5;                                    /* ReduceLROnPlateau(opt, factor=0.5, patience=3) */
    po.patience = 3;
    sched = nn_reduce_lr_on_plateau(opt, po);
    if (!sched) { err = nn_error(ctx); printf("error: %s\n", err ? err : "?"); return 1; }
    printf("\nReduceLROnPlateau(mode='min', factor=0.5, patience=3) on the validation loss\n epoch  train loss  val loss  lr\n");
    for (epoch = 1; epoch <= 80; epoch++) {
        nn_tensor *loss, *val = NULL;
        double lr_before = nn_optim_lr(opt, 0);
        nn_optim_zero_grad(opt);
        loss = nn_mse_loss(nn_forward(model, nn_slice(x, 0, 0, 64, 1)), nn_slice(y, 0, 0, 64, 1), NN_MEAN);
        nn_backward(loss, NULL, 0);
        nn_optim_step(opt);
        NN_NO_GRAD(ctx) {                                /* with torch.no_grad(): */
            val = nn_mse_loss(nn_forward(model, nn_slice(x, 0, 64, 96, 1)), nn_slice(y, 0, 64, 96, 1), NN_MEAN);
        }
        nn_scheduler_step_metric(sched, nn_item(val));   /* scheduler.step(val_loss) */
        if (epoch <= 3 || epoch % 10 == 0 || lr_before != nn_optim_lr(opt, 0))
            printf(" %5d  %10.5f  %8.5f  %.5f%s\n", epoch, nn_item(loss), nn_item(val), nn_optim_lr(opt, 0),
                   lr_before != nn_optim_lr(opt, 0) ? "  <- reduced" : "");
        nn_arena_reset(ctx);
    }
    printf("final lr %.6f (started at 0.5)\n", nn_optim_lr(opt, 0));
    err = nn_error(ctx);
    if (err) { printf("error: %s\n", err); return 1; }
    epoch = nn_optim_lr(opt, 0) < 0.5;
    nn_scheduler_free(sched); nn_optim_free(opt); nn_module_free(model);
    nn_free(x); nn_free(y);
    nn_ctx_free(ctx);
    return epoch ? 0 : 1;
}
