/* nn_cuda.h's real (not emulated) path, compiled and linked by nvcc (make cuda-build). On a machine
   with no GPU it must report that clearly through nn.h's error model and exit 0; with a GPU it
   reports the device count and that device tensors are not wired yet (the first slice). */
#define NN_CUDA
#define NN_IMPLEMENTATION
#include "../nn.h"
#include "../nn_cuda.h"

int main(void) {
    nn_ctx *ctx = nn_ctx_new();
    int64_t sh[1] = { 4 };
    nn_tensor *x = nn_ones(ctx, 1, sh), *d;
    int n;
    nn_set_logger(ctx, NULL, NULL);
    n = nn_cuda_device_count(ctx);
    printf("nn_cuda_device_count: %d%s%s\n", n, n ? "" : "; error: ", n ? "" : (nn_error(ctx) ? nn_error(ctx) : "(none)"));
    nn_clear_error(ctx);
    d = nn_to(x, NN_CUDA);
    printf("nn_to(x, NN_CUDA): %s; error: %s\n", d ? "a tensor" : "NULL", nn_error(ctx) ? nn_error(ctx) : "(none)");
    n = d == NULL && nn_error(ctx) != NULL;   /* this slice: always refused, with a message */
    nn_free(x);
    nn_ctx_free(ctx);
    return n ? 0 : 1;
}
