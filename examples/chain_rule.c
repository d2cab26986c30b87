/* Seed 003: the chain rule on f(x, y, z) = (x + y) * z at x=-2, y=5, z=-4.
   Prints the forward values and the gradients, and writes the computation
   graph as chain_rule.dot (render it with: dot -Tpng chain_rule.dot -o g.png).
   ./chain_rule [--help] */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>

static void usage(FILE *out) {
    fprintf(out, "usage: chain_rule [--help]\n"
                 "  f = (x + y) * z at x=-2, y=5, z=-4: prints the values and gradients, writes chain_rule.dot\n");
}

static nn_tensor *scalar(nn_ctx *ctx, const char *name, float v) {
    int64_t one[1] = { 1 };
    return nn_set_name(nn_set_requires_grad(nn_from_array(ctx, 1, one, &v), 1), name);
}

int main(int argc, char **argv) {
    nn_ctx *ctx;
    nn_tensor *x, *y, *z, *q, *f;
    const char *err;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "chain_rule: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }

    ctx = nn_ctx_new();
    x = scalar(ctx, "x", -2); y = scalar(ctx, "y", 5); z = scalar(ctx, "z", -4);
    q = nn_set_name(nn_add(x, y), "q");                 /* q = x + y = 3   */
    f = nn_set_name(nn_mul(q, z), "f");                 /* f = q * z = -12 */
    nn_retain_grad(q);                                  /* q.retain_grad(): q is not a leaf, so
                                                           its gradient is released after backward
                                                           unless we ask to keep it, as in PyTorch */
    nn_backward(f, NULL, 0);                            /* f.backward()    */
    printf("forward:  q = x + y = %g,  f = q * z = %g\n", nn_item(q), nn_item(f));
    printf("backward: df/dq = %g  df/dz = %g  df/dx = %g  df/dy = %g\n",
           nn_f32(q->grad)[0], nn_f32(z->grad)[0], nn_f32(x->grad)[0], nn_f32(y->grad)[0]);
    if (nn_graph_dot(f, "chain_rule.dot")) printf("graph written to chain_rule.dot\n");
    err = nn_error(ctx);
    if (err) { printf("error: %s\n", err); return 1; }

    nn_arena_reset(ctx);
    nn_free(x); nn_free(y); nn_free(z);
    nn_ctx_free(ctx);
    return 0;
}
