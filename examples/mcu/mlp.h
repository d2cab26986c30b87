/* The microcontroller demo's model, shared by the desktop exporter and the firmware so both
   build it and scale its input the same way: examples/mnist_mlp's MLP, Flatten -> Linear(784, H)
   -> ReLU -> Dropout(0.2) -> Linear(H, 10), its state names "1.weight" ... "4.bias". */
#ifndef MCU_MLP_H
#define MCU_MLP_H

static nn_module *mlp_new(nn_ctx *ctx, int64_t hidden) {
    nn_module *layers[5];
    layers[0] = nn_flatten_new(ctx, 1, -1);
    layers[1] = nn_linear_new(ctx, 784, hidden, 1);
    layers[2] = nn_relu_new(ctx);
    layers[3] = nn_dropout_new(ctx, 0.2f);
    layers[4] = nn_linear_new(ctx, hidden, 10, 1);
    return nn_sequential_new(ctx, layers, 5);
}

/* one 28x28 image of bytes into 784 floats, scaled as mnist_mlp trains (ToTensor, then
   Normalize(0.2860, 0.3530)) */
static void mlp_input(float *v, const unsigned char *pixels) {
    int j;
    for (j = 0; j < 784; j++) v[j] = ((float)pixels[j] / 255.0f - 0.2860f) / 0.3530f;
}

/* the class of one image (eval mode, no grad) through x, a (1, 784) tensor of yours, or -1 on
   error; leaves its tensors in the arena */
static int64_t mlp_classify(nn_module *model, nn_tensor *x, const unsigned char *pixels) {
    nn_tensor *pred;
    if (!nn_f32(x)) return -1;
    mlp_input(nn_f32(x), pixels);
    pred = nn_argmax(nn_forward(model, x), 1, 0);
    return pred ? nn_i64(pred)[0] : -1;
}
#endif
