/* Seed 001: saving and loading a checkpoint (epoch, model state, optimizer
   state, loss) and resuming. Trains 6 epochs saving checkpoint.safetensors
   after each; then a fresh model, optimizer and scheduler load the epoch-3
   checkpoint and train epochs 4-6 again. The resumed weights equal the
   uninterrupted ones exactly (dropout's RNG is in the checkpoint too). */
#define NN_IMPLEMENTATION
#include "../nn.h"

typedef struct { nn_module *fc1, *drop, *fc2; } net;
static nn_tensor *net_forward(nn_module *self, nn_tensor *x) {
    net *n = (net *)self->user;
    return nn_forward(n->fc2, nn_forward(n->drop, nn_relu(nn_forward(n->fc1, x))));
}
typedef struct { nn_module *model; net n; nn_optim *opt; nn_scheduler *sched; } trainer;
static void trainer_new(nn_ctx *ctx, trainer *t) {
    nn_tensor *params[4];
    nn_adam_opts ao = { 0.01f, 0, 0, 0, 1e-4f, 0 };
    nn_manual_seed(ctx, 1);
    t->model = nn_module_new(ctx, "Net", net_forward, &t->n);
    t->n.fc1 = nn_module_add(t->model, "fc1", nn_linear_new(ctx, 8, 32, 1));
    t->n.drop = nn_module_add(t->model, "drop", nn_dropout_new(ctx, 0.2f));
    t->n.fc2 = nn_module_add(t->model, "fc2", nn_linear_new(ctx, 32, 4, 1));
    t->opt = nn_adam(params, nn_module_parameters(t->model, params, 4), ao);
    t->sched = nn_step_lr(t->opt, 2, 0.5f);
}
static void trainer_free(trainer *t) { nn_scheduler_free(t->sched); nn_optim_free(t->opt); nn_module_free(t->model); }

static float train_epoch(nn_ctx *ctx, trainer *t, nn_tensor *x, nn_tensor *y) {
    float total = 0; int b;
    nn_cross_entropy_opts ce = { 0 };
    nn_module_train(t->model, 1);
    for (b = 0; b < 4; b++) {                            /* 4 batches of 16 */
        nn_tensor *loss;
        nn_optim_zero_grad(t->opt);
        loss = nn_cross_entropy(nn_forward(t->model, nn_slice(x, 0, 16 * b, 16 * b + 16, 1)), nn_slice(y, 0, 16 * b, 16 * b + 16, 1), ce);
        nn_backward(loss, NULL, 0);
        nn_optim_step(t->opt);
        total += nn_item(loss);
        nn_arena_reset(ctx);
    }
    nn_scheduler_step(t->sched);
    return total / 4;
}

int main(void) {
    nn_ctx *ctx = nn_ctx_new();
    int64_t sx[2] = { 64, 8 }, sy[1] = { 64 }, i;
    nn_tensor *x, *y, *final_w;
    trainer a, b;
    nn_checkpoint ck;
    int epoch, same;

    nn_manual_seed(ctx, 0);
    x = nn_randn(ctx, 2, sx); y = nn_empty(ctx, 1, sy);
    for (i = 0; i < 64; i++) nn_f32(y)[i] = (float)((nn_f32(x)[8 * i] > 0) * 2 + (nn_f32(x)[8 * i + 1] > 0));

    trainer_new(ctx, &a);
    nn_manual_seed(ctx, 100);
    for (epoch = 1; epoch <= 6; epoch++) {
        ck.model = a.model; ck.optim = a.opt; ck.scheduler = a.sched; ck.epoch = epoch;
        ck.loss = train_epoch(ctx, &a, x, y);
        printf("epoch %d  loss %.5f  lr %.5f\n", epoch, ck.loss, nn_optim_lr(a.opt, 0));
        if (epoch == 3 && !nn_save_checkpoint(&ck, "checkpoint_epoch3.safetensors")) return 1;
        if (!nn_save_checkpoint(&ck, "checkpoint.safetensors")) return 1;   /* atomic: old file intact on failure */
    }
    final_w = nn_keep(a.n.fc2->weight);

    trainer_new(ctx, &b);                                /* a fresh process would start here */
    ck.model = b.model; ck.optim = b.opt; ck.scheduler = b.sched;
    if (!nn_load_checkpoint(&ck, "checkpoint_epoch3.safetensors")) { printf("error: %s\n", nn_error(ctx)); return 1; }
    printf("resumed from epoch %lld (loss %.5f, lr %.5f)\n", (long long)ck.epoch, ck.loss, nn_optim_lr(b.opt, 0));
    for (epoch = (int)ck.epoch + 1; epoch <= 6; epoch++)
        printf("epoch %d  loss %.5f  (resumed)\n", epoch, train_epoch(ctx, &b, x, y));
    same = memcmp(nn_f32(final_w), nn_f32(b.n.fc2->weight), (size_t)final_w->numel * sizeof(float)) == 0;
    printf("resumed weights %s the uninterrupted run's\n", same ? "equal" : "DIFFER FROM");
    if (nn_error(ctx)) { printf("error: %s\n", nn_error(ctx)); return 1; }
    nn_free(final_w); nn_free(x); nn_free(y);
    trainer_free(&a); trainer_free(&b);
    nn_ctx_free(ctx);
    return same ? 0 : 1;
}
