/* Prints the bits of every fixture case's CPU output and input gradients (one line per tensor), so
   two versions of nn.h can be compared bit for bit:
       cc -std=c99 -O2 -Wno-unused-function -o build/cpu_bits tests/cpu_bits.c -lm && ./build/cpu_bits > a.txt
   (issue 13 used it to show the NN_HD math section left the CPU results unchanged) */
#include "harness.h"
#include "test_ops.c"

static void dump(const char *what, const nn_tensor *t) {
    int64_t i;
    uint32_t u;
    printf("%s", what);
    if (!t) { printf(" NULL\n"); return; }
    for (i = 0; i < t->numel; i++) {
        int64_t off = fx_offset(t, i);
        if (t->dtype == NN_INT64) { printf(" %lld", (long long)nn_i64(t)[off]); continue; }
        memcpy(&u, &nn_f32(t)[off], 4);
        printf(" %08x", (unsigned)u);
    }
    printf("\n");
}

int main(void) {
    nn_ctx *ctx = nn_ctx_new();
    fx_case *cs;
    int n = load_fixtures("tests/fixtures/ops.txt", &cs), i, k;
    nn_set_logger(ctx, NULL, NULL);
    for (i = 0; i < n; i++) {
        const fx_case *c = &cs[i];
        nn_tensor *in[6] = { 0 }, *y, *g;
        if (!c->run) continue;
        for (k = 0; k < c->nin; k++) { in[k] = tensor_of(ctx, &c->in[k]); nn_set_requires_grad(in[k], c->in_rg[k]); }
        printf("case %s\n", c->name);
        y = c->run(c, in);
        dump("out", y);
        if (y && y->requires_grad && c->out.dtype == NN_FLOAT32) {
            g = tensor_of(ctx, &c->gout);
            nn_backward(y, g, 0);
            for (k = 0; k < c->nin; k++) if (in[k]->grad) dump("grad", in[k]->grad);
            nn_free(g);
        }
        nn_arena_reset(ctx);
        nn_clear_error(ctx);
        for (k = 0; k < c->nin; k++) nn_free(in[k]);
    }
    free_fixtures(cs, n > 0 ? n : 0);
    nn_ctx_free(ctx);
    return 0;
}
