/* Seed 003: gradients of tensor ops derived by hand, next to autograd's.
   d = a @ b + c with a (32, 64), b (64, 27), c (27): da = dd @ b.T,
   db = a.T @ dd, dc = dd.sum(0); then broadcast multiply, row sum,
   row-wise subtraction and max along a dim. Prints the largest difference.
   The hand-derived versions run under NN_NO_GRAD (with torch.no_grad():).
   ./manual_backprop [--help] */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>

static void usage(FILE *out) {
    fprintf(out, "usage: manual_backprop [--help]\n"
                 "  compares hand-derived gradients of matmul, broadcasting, sums and max with autograd's\n");
}

static float maxdiff(const nn_tensor *want, const nn_tensor *got) {
    float m = 0; int64_t i;
    for (i = 0; i < want->numel; i++) if (fabsf(nn_f32(want)[i] - nn_f32(got)[i]) > m) m = fabsf(nn_f32(want)[i] - nn_f32(got)[i]);
    return m;
}
static void report(const char *what, const nn_tensor *by_hand, const nn_tensor *autograd, float *worst) {
    float d = maxdiff(by_hand, autograd);
    printf("  %-34s max |by hand - autograd| = %.3g\n", what, d);
    if (d > *worst) *worst = d;
}

int main(int argc, char **argv) {
    nn_ctx *ctx;
    int64_t sa[2] = { 32, 64 }, sb[2] = { 64, 27 }, sc[1] = { 27 }, sd[2] = { 32, 27 };
    int64_t s1[2] = { 1, 64 }, s2[2] = { 32, 64 }, s33[2] = { 3, 3 }, s31[2] = { 3, 1 };
    nn_tensor *a, *b, *c, *dd, *g, *gain, *raw, *m, *sub, *x, *idx;
    float worst = 0;
    const char *err;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "manual_backprop: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }
    ctx = nn_ctx_new();
    nn_manual_seed(ctx, 1);
    a = nn_set_requires_grad(nn_randn(ctx, 2, sa), 1);
    b = nn_set_requires_grad(nn_randn(ctx, 2, sb), 1);
    c = nn_set_requires_grad(nn_randn(ctx, 1, sc), 1);
    dd = nn_randn(ctx, 2, sd);                          /* the gradient arriving at d */

    printf("d = a @ b + c\n");
    nn_backward(nn_add(nn_matmul(a, b), c), dd, 0);
    NN_NO_GRAD(ctx) {                                   /* the hand-derived versions */
        report("da = dd @ b.T        (32, 64)", nn_matmul(dd, nn_transpose(b, 0, 1)), a->grad, &worst);
        report("db = a.T @ dd        (64, 27)", nn_matmul(nn_transpose(a, 0, 1), dd), b->grad, &worst);
        report("dc = dd.sum(0)       (27,)", nn_sum(dd, 0, 0), c->grad, &worst);
    }

    printf("a = gain * raw, gain (1, 64) broadcast over raw (32, 64)\n");
    gain = nn_set_requires_grad(nn_randn(ctx, 2, s1), 1);
    raw = nn_set_requires_grad(nn_randn(ctx, 2, s2), 1);
    g = nn_randn(ctx, 2, s2);
    nn_backward(nn_mul(gain, raw), g, 0);
    NN_NO_GRAD(ctx) {
        report("dgain = (raw * g).sum(0, keepdim)", nn_sum(nn_mul(raw, g), 0, 1), gain->grad, &worst);
        report("draw = gain * g", nn_mul(gain, g), raw->grad, &worst);
    }

    printf("b = x.sum(1, keepdim); c = x - m (row-wise); max along dim 1\n");
    x = nn_set_requires_grad(nn_randn(ctx, 2, s33), 1);
    m = nn_set_requires_grad(nn_randn(ctx, 2, s31), 1);
    nn_backward(nn_sum(nn_sum(x, 1, 1), NN_ALL, 0), NULL, 0);
    NN_NO_GRAD(ctx) {
        int64_t o[2] = { 3, 3 };
        nn_tensor *ones = nn_ones(ctx, 2, o);
        report("dx = ones_like(x)", ones, x->grad, &worst);
        nn_free(ones);
    }
    nn_zero_grad(x);
    sub = nn_sub(x, m);
    g = nn_keep(nn_mul_scalar(sub, 0.5f));              /* any upstream gradient */
    nn_backward(sub, g, 0);
    NN_NO_GRAD(ctx) {
        report("dm = (-g).sum(1, keepdim)", nn_sum(nn_neg(g), 1, 1), m->grad, &worst);
    }
    nn_free(g);
    nn_zero_grad(x);
    nn_backward(nn_sum(nn_max(x, 1, 1, &idx), NN_ALL, 0), NULL, 0);
    NN_NO_GRAD(ctx) {   /* argmax is int64 as in PyTorch, and so is one_hot: .float() it */
        report("dx = one_hot(x.max(1).indices)", nn_to_dtype(nn_one_hot(nn_argmax(x, 1, 0), 3), NN_FLOAT32), x->grad, &worst);
    }

    printf("largest difference: %.3g\n", worst);
    err = nn_error(ctx);
    if (err) { printf("error: %s\n", err); return 1; }
    nn_arena_reset(ctx);
    nn_free(a); nn_free(b); nn_free(c); nn_free(dd); nn_free(gain); nn_free(raw); nn_free(x); nn_free(m);
    nn_ctx_free(ctx);
    return worst < 1e-4f ? 0 : 1;
}
