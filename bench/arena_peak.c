/* Peak step-arena bytes of one MY_NET training step (28x28x1, batch 64, Adam):
   forward, cross entropy, backward, optimizer step. Core v2 gives each intermediate
   gradient back once used, so the peak is the activations plus the live gradients.
   Build and run: make bench-memory */
#define NN_IMPLEMENTATION
#include "../nn.h"

typedef struct { nn_module *conv1, *conv2, *pool1, *conv3, *pool2, *fc1, *fc2, *dropout; } my_net;

static nn_tensor *my_net_forward(nn_module *self, nn_tensor *x) {
    my_net *n = (my_net *)self->user;
    x = nn_relu(nn_forward(n->conv1, x));
    x = nn_relu(nn_forward(n->conv2, x));
    x = nn_forward(n->pool1, x);
    x = nn_relu(nn_forward(n->conv3, x));
    x = nn_forward(n->pool2, x);
    x = nn_flatten(x, 1, -1);
    x = nn_forward(n->dropout, x);
    x = nn_relu(nn_forward(n->fc1, x));
    x = nn_forward(n->dropout, x);
    return nn_forward(n->fc2, x);
}

int main(void) {
    nn_ctx *ctx = nn_ctx_new();
    my_net n;
    nn_module *m = nn_module_new(ctx, "MY_NET", my_net_forward, &n);
    nn_conv_opts pad1 = nn_conv_opts_default();
    nn_pool_opts pool = nn_pool_opts_default(2);
    nn_adam_opts ao = nn_adam_opts_default();
    int64_t xs[4] = { 64, 1, 28, 28 }, ys[1] = { 64 }, k;
    nn_tensor *x, *y, *params[16];
    nn_optim *o;
    int np, step;
    pad1.padding = 1;
    n.conv1 = nn_module_add(m, "conv1", nn_conv2d_new(ctx, 1, 32, 3, pad1, 1));
    n.conv2 = nn_module_add(m, "conv2", nn_conv2d_new(ctx, 32, 64, 3, pad1, 1));
    n.pool1 = nn_module_add(m, "pool1", nn_max_pool2d_new(ctx, pool));
    n.conv3 = nn_module_add(m, "conv3", nn_conv2d_new(ctx, 64, 128, 3, pad1, 1));
    n.pool2 = nn_module_add(m, "pool2", nn_max_pool2d_new(ctx, pool));
    n.fc1 = nn_module_add(m, "fc1", nn_linear_new(ctx, 128 * 7 * 7, 512, 1));
    n.fc2 = nn_module_add(m, "fc2", nn_linear_new(ctx, 512, 10, 1));
    n.dropout = nn_module_add(m, "dropout", nn_dropout_new(ctx, 0.5f));
    x = nn_randn(ctx, 4, xs);
    y = nn_zeros_dtype(ctx, 1, ys, NN_INT64);
    for (k = 0; k < 64; k++) nn_i64(y)[k] = k % 10;
    np = nn_module_parameters(m, params, 16);
    o = nn_adam(params, np, ao);
    for (step = 0; step < 3; step++) {
        nn_tensor *loss;
        nn_optim_zero_grad(o);
        loss = nn_cross_entropy(nn_forward(m, x), y, nn_cross_entropy_opts_default());
        nn_backward(loss, NULL, 0);
        nn_optim_step(o);
        printf("step %d: loss %.4f, peak arena bytes %zu (%.1f MB)\n", step, nn_item(loss), nn_arena_peak(ctx),
               nn_arena_peak(ctx) / 1e6);
        nn_arena_reset(ctx);
    }
    if (nn_error(ctx)) { printf("error: %s\n", nn_error(ctx)); return 1; }
    nn_optim_free(o);
    nn_module_free(m);
    nn_free(x); nn_free(y);
    nn_ctx_free(ctx);
    return 0;
}
