/* Seed 003: the chain rule on f(x, y, z) = (x + y) * z at x=-2, y=5, z=-4.
   Prints the forward values and the gradients, and writes the computation
   graph as chain_rule.dot (render it with: dot -Tpng chain_rule.dot -o g.png). */
#define NN_IMPLEMENTATION
#include "../nn.h"

static nn_tensor *scalar(nn_ctx *ctx, const char *name, float v) {
    int64_t one[1] = { 1 };
    return nn_set_name(nn_set_requires_grad(nn_from_array(ctx, 1, one, &v), 1), name);
}

int main(void) {
    nn_ctx *ctx = nn_ctx_new();
    nn_tensor *x = scalar(ctx, "x", -2), *y = scalar(ctx, "y", 5), *z = scalar(ctx, "z", -4);
    nn_tensor *q = nn_set_name(nn_add(x, y), "q");      /* q = x + y = 3   */
    nn_tensor *f = nn_set_name(nn_mul(q, z), "f");      /* f = q * z = -12 */

    nn_backward(f, NULL, 0);                               /* f.backward()    */
    printf("forward:  q = x + y = %g,  f = q * z = %g\n", nn_item(q), nn_item(f));
    printf("backward: df/dq = %g  df/dz = %g  df/dx = %g  df/dy = %g\n",
           nn_f32(q->grad)[0], nn_f32(z->grad)[0], nn_f32(x->grad)[0], nn_f32(y->grad)[0]);
    if (nn_graph_dot(f, "chain_rule.dot")) printf("graph written to chain_rule.dot\n");
    if (nn_error(ctx)) { printf("error: %s\n", nn_error(ctx)); return 1; }

    nn_arena_reset(ctx);
    nn_free(x); nn_free(y); nn_free(z);
    nn_ctx_free(ctx);
    return 0;
}
