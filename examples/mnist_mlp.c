/* A small MLP on Fashion-MNIST (or MNIST): Flatten -> Linear(784, 256) -> ReLU
   -> Dropout(0.2) -> Linear(256, 10), Adam(lr 1e-3), batch 64, as an
   nn.Sequential. Prints per-epoch loss/accuracy, test accuracy and the report.
   ./mnist_mlp [--data DIR] [--epochs N] [--limit N] [--seed N] */
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <stdlib.h>
#include <string.h>

static const char *arg(int argc, char **argv, const char *name, const char *dflt) {
    int i;
    for (i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], name)) return argv[i + 1];
    return dflt;
}

static nn_dataset *load(nn_ctx *ctx, const char *dir, const char *split) {
    char im[1024], lb[1024];
    nn_dataset *d;
    snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    if ((d = nn_mnist(ctx, im, lb))) return d;
    nn_clear_error(ctx);
    snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte", dir, split);
    snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte", dir, split);
    return nn_mnist(ctx, im, lb);
}

int main(int argc, char **argv) {
    const char *dir = arg(argc, argv, "--data", "/usr/share/datasets/fashion-mnist");
    int epochs = atoi(arg(argc, argv, "--epochs", "5")), epoch;
    int64_t limit = atoll(arg(argc, argv, "--limit", "0")), cm[100], i;
    uint64_t seed = (uint64_t)atoll(arg(argc, argv, "--seed", "0"));
    nn_ctx *ctx = nn_ctx_new();
    nn_dataset *train = load(ctx, dir, "train"), *test = load(ctx, dir, "t10k"), *train_set;
    const float mean[1] = { 0.2860f }, std[1] = { 0.3530f };
    nn_transform tf[1];
    nn_dataloader *train_loader, *test_loader;
    nn_dataloader_opts o = { 0 };
    nn_module *layers[5], *model;
    nn_tensor *params[8];
    nn_optim *opt;
    nn_adam_opts adam = { 0 };
    nn_cross_entropy_opts ce = { 0 };
    static char report[4096];

    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines in order with the progress bar on stderr */
    if (!train || !test) { fprintf(stderr, "cannot load the data: %s\n", nn_error(ctx)); return 1; }
    train_set = limit > 0 && limit < train->len ? nn_subset(train, 0, limit) : train;
    tf[0] = nn_normalize(1, mean, std);
    o.batch_size = 64; o.shuffle = 1; o.seed = seed; o.transforms = tf; o.ntransforms = 1;
    train_loader = nn_dataloader_new(train_set, o);
    o.batch_size = 256; o.shuffle = 0;
    test_loader = nn_dataloader_new(test, o);
    nn_manual_seed(ctx, seed);
    layers[0] = nn_flatten_new(ctx, 1, -1);
    layers[1] = nn_linear_new(ctx, 784, 256, 1);
    layers[2] = nn_relu_new(ctx);
    layers[3] = nn_dropout_new(ctx, 0.2f);
    layers[4] = nn_linear_new(ctx, 256, 10, 1);
    model = nn_sequential_new(ctx, layers, 5);
    adam.lr = 1e-3f;
    opt = nn_adam(params, nn_module_parameters(model, params, 8), adam);
    if (!model || !opt || !train_loader || !test_loader) { fprintf(stderr, "setup failed: %s\n", nn_error(ctx)); return 1; }
    printf("MLP: %lld parameters, %lld training samples\n", (long long)nn_module_num_parameters(model), (long long)train_set->len);
    for (epoch = 1; epoch <= epochs; epoch++) {
        nn_tensor *x, *y; double total_loss = 0; int64_t correct = 0, n = 0;
        nn_progress bar; char desc[32];
        snprintf(desc, sizeof desc, "Epoch %d", epoch);
        nn_progress_begin(&bar, desc, nn_dataloader_len(train_loader));
        nn_module_train(model, 1);
        while (nn_dataloader_next(train_loader, &x, &y)) {
            nn_tensor *logits = nn_forward(model, x), *loss = nn_cross_entropy(logits, y, ce), *pred;
            nn_optim_zero_grad(opt);
            nn_backward(loss, NULL, 0);
            nn_optim_step(opt);
            total_loss += nn_item(loss) * (double)y->numel;
            pred = nn_argmax(logits, 1, 0);
            for (i = 0; i < y->numel; i++) correct += nn_f32(pred)[i] == nn_f32(y)[i];
            n += y->numel;
            nn_progress_update(&bar, 1, nn_item(loss));
            nn_arena_reset(ctx);
        }
        nn_progress_end(&bar);
        printf("[Epoch %d] loss = %.4f | accuracy = %.2f%%\n", epoch, total_loss / (double)n, 100.0 * (double)correct / (double)n);
    }
    nn_module_eval(model);
    {
        nn_tensor *x, *y; int64_t *t = (int64_t *)malloc((size_t)test->len * sizeof(int64_t)), *p = (int64_t *)malloc((size_t)test->len * sizeof(int64_t)), n = 0;
        int old = nn_set_grad_enabled(ctx, 0);
        while (nn_dataloader_next(test_loader, &x, &y)) {
            nn_tensor *pred = nn_argmax(nn_forward(model, x), 1, 0);
            for (i = 0; i < y->numel; i++, n++) { t[n] = (int64_t)nn_f32(y)[i]; p[n] = (int64_t)nn_f32(pred)[i]; }
            nn_arena_reset(ctx);
        }
        nn_set_grad_enabled(ctx, old);
        nn_confusion_matrix(t, p, n, 10, cm);
        printf("Test accuracy: %.2f%%\n\n", 100.0 * nn_accuracy(cm, 10));
        if (nn_classification_report(cm, 10, NULL, 2, report, sizeof report) > 0) printf("%s", report);
        free(t); free(p);
    }
    if (nn_error(ctx)) { fprintf(stderr, "error: %s\n", nn_error(ctx)); return 1; }
    nn_dataloader_free(train_loader); nn_dataloader_free(test_loader);
    if (train_set != train) nn_dataset_free(train_set);
    nn_dataset_free(train); nn_dataset_free(test);
    nn_optim_free(opt); nn_module_free(model);
    nn_ctx_free(ctx);
    return 0;
}
