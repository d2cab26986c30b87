/* Seed 001: ManualLinearRegression. Two parameters w and b, y_hat = x * w + b,
   MSE loss, plain gradient descent written by hand from .grad. The data is
   y = 1 + 2 x + 0.1 noise, so training should recover w = 2, b = 1.
   ./linear_regression [--help] */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>

static void usage(FILE *out) {
    fprintf(out, "usage: linear_regression [--help]\n"
                 "  fits y = 1 + 2x + noise with two parameters and hand-written gradient descent\n");
}

typedef struct { nn_tensor *w, *b; } manual_linear_regression;

static nn_tensor *forward(manual_linear_regression *m, nn_tensor *x) { return nn_add(nn_mul(x, m->w), m->b); }

int main(int argc, char **argv) {
    nn_ctx *ctx;
    int64_t n[2] = { 100, 1 }, one[1] = { 1 }, i;
    nn_tensor *x, *y, *noise;
    manual_linear_regression model;
    const float lr = 0.1f;
    const char *err;
    int epoch, k;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "linear_regression: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }
    ctx = nn_ctx_new();
    nn_manual_seed(ctx, 42);
    x = nn_rand(ctx, 2, n);                                  /* x = np.random.rand(100, 1) */
    noise = nn_randn(ctx, 2, n);
    y = nn_empty(ctx, 2, n);
    for (i = 0; i < 100; i++) nn_f32(y)[i] = 1.0f + 2.0f * nn_f32(x)[i] + 0.1f * nn_f32(noise)[i];

    model.b = nn_set_requires_grad(nn_randn(ctx, 1, one), 1);   /* nn.Parameter(torch.randn(1)) */
    model.w = nn_set_requires_grad(nn_randn(ctx, 1, one), 1);
    printf("start: w = %.4f  b = %.4f\n", nn_f32(model.w)[0], nn_f32(model.b)[0]);

    for (epoch = 1; epoch <= 1000; epoch++) {
        nn_tensor *yhat = forward(&model, x);
        nn_tensor *loss = nn_mean(nn_pow_scalar(nn_sub(y, yhat), 2), NN_ALL, 0);
        nn_backward(loss, NULL, 0);                              /* loss.backward() */
        for (k = 0; k < 2; k++) {                             /* with torch.no_grad(): p -= lr * p.grad */
            nn_tensor *p = k ? model.b : model.w;
            nn_f32(p)[0] -= lr * nn_f32(p->grad)[0];
            nn_zero_grad(p);                                  /* p.grad.zero_() */
        }
        if (epoch == 1 || epoch % 200 == 0) printf("epoch %4d  loss %.6f\n", epoch, nn_item(loss));
        nn_arena_reset(ctx);
    }
    printf("learned: w = %.4f  b = %.4f   (true w = 2, b = 1)\n", nn_f32(model.w)[0], nn_f32(model.b)[0]);
    err = nn_error(ctx);
    if (err) { printf("error: %s\n", err); return 1; }
    k = fabsf(nn_f32(model.w)[0] - 2.0f) < 0.1f && fabsf(nn_f32(model.b)[0] - 1.0f) < 0.1f;
    nn_free(x); nn_free(y); nn_free(noise); nn_free(model.w); nn_free(model.b);
    nn_ctx_free(ctx);
    return k ? 0 : 1;
}
