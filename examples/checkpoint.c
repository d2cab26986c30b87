/* Seed 001: saving and loading a checkpoint (epoch, model state, optimizer
   state, scheduler, DataLoader, loss, and a number of your own) and resuming.
   A 8-32-4 classifier with dropout trains 6 epochs on your own dataset through a
   shuffling DataLoader, saving checkpoint.safetensors after each; then a fresh
   model, optimizer, scheduler and loader load the epoch-3 checkpoint and train
   epochs 4-6 again. The resumed weights equal the uninterrupted ones exactly:
   the checkpoint holds dropout's RNG and the loader's epoch, order and RNG, so
   epochs 4-6 see the same batches in the same order.
   ./checkpoint [--help] */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>

static void usage(FILE *out) {
    fprintf(out, "usage: checkpoint [--help]\n"
                 "  trains 6 epochs saving checkpoints, resumes from epoch 3 and checks the weights match\n");
}

/* your own dataset: 64 rows of 8 features; the class of a row is (x0 > 0) * 2 + (x1 > 0) */
typedef struct { const float *x; } rows;
static int rows_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    const rows *r = (const rows *)user;
    (void)y;                                             /* a class dataset: the target is *label */
    memcpy(x, r->x + 8 * i, 8 * sizeof(float));
    *label = (x[0] > 0) * 2 + (x[1] > 0);
    return 1;
}

typedef struct { nn_module *fc1, *drop, *fc2; } net;
static nn_tensor *net_forward(nn_module *self, nn_tensor *x) {
    net *n = (net *)self->user;
    return nn_forward(n->fc2, nn_forward(n->drop, nn_relu(nn_forward(n->fc1, x))));
}
typedef struct { nn_module *model; net n; nn_optim *opt; nn_scheduler *sched; nn_dataloader *loader; } trainer;
static int trainer_new(nn_ctx *ctx, trainer *t, nn_dataset *data) {
    nn_tensor *params[4];
    nn_adam_opts ao = nn_adam_opts_default();
    nn_dataloader_opts lo = nn_dataloader_opts_default();
    ao.lr = 0.01; ao.weight_decay = 1e-4;                /* Adam(lr=0.01, weight_decay=1e-4) */
    lo.batch_size = 16; lo.shuffle = 1; lo.seed = 7;     /* DataLoader(data, batch_size=16, shuffle=True) */
    nn_manual_seed(ctx, 1);
    t->model = nn_module_new(ctx, "Net", net_forward, &t->n);
    t->n.fc1 = nn_module_add(t->model, "fc1", nn_linear_new(ctx, 8, 32, 1));
    t->n.drop = nn_module_add(t->model, "drop", nn_dropout_new(ctx, 0.2f));
    t->n.fc2 = nn_module_add(t->model, "fc2", nn_linear_new(ctx, 32, 4, 1));
    t->opt = nn_adam(params, nn_module_parameters(t->model, params, 4), ao);
    t->sched = nn_step_lr(t->opt, 2, 0.5);
    t->loader = nn_dataloader_new(data, lo);
    return t->n.fc1 && t->n.drop && t->n.fc2 && t->opt && t->sched && t->loader;
}
static void trainer_free(trainer *t) {
    nn_dataloader_free(t->loader); nn_scheduler_free(t->sched); nn_optim_free(t->opt); nn_module_free(t->model);
}

static float train_epoch(nn_ctx *ctx, trainer *t) {
    float total = 0; int batches = 0;
    nn_cross_entropy_opts ce = nn_cross_entropy_opts_default();
    nn_tensor *x, *y;
    nn_module_train(t->model, 1);
    while (nn_dataloader_next(t->loader, &x, &y)) {      /* 4 shuffled batches of 16; y is int64 */
        nn_tensor *loss;
        nn_optim_zero_grad(t->opt);
        loss = nn_cross_entropy(nn_forward(t->model, x), y, ce);
        nn_backward(loss, NULL, 0);
        nn_optim_step(t->opt);
        total += nn_item(loss);
        batches++;
        nn_arena_reset(ctx);
    }
    nn_scheduler_step(t->sched);
    return batches ? total / (float)batches : 0.0f;
}

static int fail(nn_ctx *ctx) {
    const char *err = nn_error(ctx);
    printf("error: %s\n", err ? err : "unknown");
    return 1;
}

int main(int argc, char **argv) {
    nn_ctx *ctx;
    int64_t sx[2] = { 64, 8 }, eight = 8;
    nn_tensor *x, *final_w;
    nn_dataset *data;
    rows r;
    trainer a, b;
    nn_checkpoint ck;
    const char *extra_names[1] = { "best_loss" };        /* a number of your own in the checkpoint */
    double best_loss = 1e30;
    int epoch, same;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "checkpoint: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }
    ctx = nn_ctx_new();
    nn_manual_seed(ctx, 0);
    x = nn_randn(ctx, 2, sx);
    r.x = nn_f32(x);
    data = nn_dataset_new(ctx, 64, 1, &eight, 0, rows_get, NULL, &r);   /* ydim 0: int64 class labels */
    if (!data || !trainer_new(ctx, &a, data)) return fail(ctx);
    nn_manual_seed(ctx, 100);

    ck = nn_checkpoint_default();
    ck.model = a.model; ck.optim = a.opt; ck.scheduler = a.sched; ck.loader = a.loader;
    ck.extra_names = extra_names; ck.extra_values = &best_loss; ck.nextra = 1;
    for (epoch = 1; epoch <= 6; epoch++) {
        ck.epoch = epoch;
        ck.loss = train_epoch(ctx, &a);
        if (ck.loss < best_loss) best_loss = ck.loss;
        printf("epoch %d  loss %.5f  lr %.5f\n", epoch, ck.loss, nn_optim_lr(a.opt, 0));
        if (epoch == 3 && !nn_save_checkpoint(&ck, "checkpoint_epoch3.safetensors")) return fail(ctx);
        if (!nn_save_checkpoint(&ck, "checkpoint.safetensors")) return fail(ctx);   /* atomic: old file intact on failure */
    }
    final_w = nn_keep(nn_module_parameter(a.model, "fc2.weight"));

    if (!trainer_new(ctx, &b, data)) return fail(ctx);  /* a fresh process would start here */
    ck = nn_checkpoint_default();
    ck.model = b.model; ck.optim = b.opt; ck.scheduler = b.sched; ck.loader = b.loader;
    ck.extra_names = extra_names; ck.extra_values = &best_loss; ck.nextra = 1;
    best_loss = 0;
    if (!nn_load_checkpoint(&ck, "checkpoint_epoch3.safetensors")) return fail(ctx);
    printf("resumed from epoch %lld (loss %.5f, best loss %.5f, lr %.5f, loader in epoch %lld)\n", (long long)ck.epoch,
           ck.loss, best_loss, nn_optim_lr(b.opt, 0), (long long)nn_dataloader_epoch(b.loader));
    for (epoch = (int)ck.epoch + 1; epoch <= 6; epoch++)
        printf("epoch %d  loss %.5f  (resumed)\n", epoch, train_epoch(ctx, &b));
    same = memcmp(nn_f32(final_w), nn_f32(nn_module_parameter(b.model, "fc2.weight")),
                  (size_t)final_w->numel * sizeof(float)) == 0;
    printf("resumed weights %s the uninterrupted run's\n", same ? "equal" : "DIFFER FROM");
    if (nn_error(ctx)) return fail(ctx);
    nn_free(final_w);
    trainer_free(&a); trainer_free(&b);
    nn_dataset_free(data); nn_free(x);
    nn_ctx_free(ctx);
    return same ? 0 : 1;
}
