/* Seed 004: the PyTorch `mynet` (three nn.Linear with ReLU on a 3x10x20 input
   flattened with view(-1)), written as a struct plus a forward function.
   Prints the summary and the output, then a vector-Jacobian product through
   autograd (gradients for the input state and for every weight), and saves the
   model as mynet_model.safetensors (loads in PyTorch with load_state_dict) with
   its input and output in mynet_io.safetensors.
   ./mynet [--help] */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>

static void usage(FILE *out) {
    fprintf(out, "usage: mynet [--help]\n"
                 "  runs mynet on a random 3x10x20 image, prints a vector-Jacobian product, saves the model\n");
}

typedef struct { nn_module *m0, *m1, *m2; } mynet;     /* class mynet(nn.Module) */

static nn_tensor *mynet_forward(nn_module *self, nn_tensor *x) {
    mynet *n = (mynet *)self->user;
    int64_t flat = -1;
    nn_tensor *z0 = nn_view(x, 1, &flat);               /* z0 = x.view(-1) */
    nn_tensor *s1 = nn_forward(n->m0, z0);               /* s1 = self.m0(z0) */
    nn_tensor *z1 = nn_relu(s1);
    nn_tensor *s2 = nn_forward(n->m1, z1);
    nn_tensor *z2 = nn_relu(s2);
    return nn_forward(n->m2, z2);                        /* s3 */
}

int main(int argc, char **argv) {
    nn_ctx *ctx;
    int64_t shape[3] = { 3, 10, 20 }, d0 = 3 * 10 * 20;
    mynet net;
    nn_module *model;
    nn_tensor *image, *out, *v, *m2_bias, *io[2];
    const char *io_names[2] = { "input", "output" };
    const char *err;
    int64_t i;

    if (argc == 2 && !strcmp(argv[1], "--help")) { usage(stdout); return 0; }
    if (argc > 1) { fprintf(stderr, "mynet: unknown argument '%s'\n", argv[1]); usage(stderr); return 2; }
    ctx = nn_ctx_new();
    nn_manual_seed(ctx, 0);
    image = nn_set_requires_grad(nn_rand(ctx, 3, shape), 1);   /* image = torch.rand(3, 10, 20) */
    model = nn_module_new(ctx, "mynet", mynet_forward, &net);
    net.m0 = nn_module_add(model, "m0", nn_linear_new(ctx, d0, 60, 1));
    net.m1 = nn_module_add(model, "m1", nn_linear_new(ctx, 60, 40, 1));
    net.m2 = nn_module_add(model, "m2", nn_linear_new(ctx, 40, 10, 1));
    nn_module_summary(model, image);
    m2_bias = nn_module_parameter(net.m2, "bias");       /* model.m2.bias (or "m2.bias" from model) */

    out = nn_forward(model, image);                      /* out = model(image) */
    printf("out = ");
    nn_print(out);

    /* a vector-Jacobian product: v^T (d out / d image) and v^T (d out / d weights) */
    v = nn_zeros(ctx, 1, &m2_bias->numel);
    nn_f32(v)[3] = 1.0f;                                    /* picks row 3 of the Jacobian */
    nn_backward(out, v, 0);
    {
        double s = 0;
        for (i = 0; i < image->numel; i++) s += fabs(nn_f32(image->grad)[i]);
        printf("d out[3] / d image: shape (3, 10, 20), sum |.| = %.6f\n", s);
        printf("d out[3] / d m2.bias = ");
        nn_print(m2_bias->grad);
    }

    if (!nn_save_model(model, "mynet_model.safetensors")) return 1;
    io[0] = image; io[1] = out;
    if (!nn_safetensors_save(ctx, "mynet_io.safetensors", io_names, io, 2, NULL, NULL, 0)) return 1;
    printf("saved mynet_model.safetensors and mynet_io.safetensors\n");
    err = nn_error(ctx);
    if (err) { printf("error: %s\n", err); return 1; }

    nn_arena_reset(ctx);
    nn_free(image); nn_free(v); nn_module_free(model);
    nn_ctx_free(ctx);
    return 0;
}
