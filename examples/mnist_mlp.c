/* A small MLP on Fashion-MNIST (or MNIST): Flatten -> Linear(784, 256) -> ReLU
   -> Dropout(0.2) -> Linear(256, 10), Adam(lr 1e-3), batch 64, as an
   nn.Sequential. Prints per-epoch loss/accuracy, test accuracy and the report.
   --save writes the trained weights as safetensors (the microcontroller demo's
   examples/mcu/export_model turns them into C arrays).
   ./mnist_mlp [--data DIR] [--epochs N] [--limit N] [--seed N] [--hidden N] [--save PATH] [--help] */
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PROG "mnist_mlp"
#define SYNOPSIS "Trains a 784-256-10 MLP (784-N-10 with --hidden N) on Fashion-MNIST (or MNIST) and prints the test accuracy and report.\n"
#include "args.h"   /* the command line: a table of flags, --help, checked numbers */

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
    const char *dir = "/usr/share/datasets/fashion-mnist", *save = NULL;
    int64_t epochs = 5, limit = 0, seed = 0, hidden = 256, cm[100], i;
    const arg_spec args[] = {
        { "--data", ARG_STR, &dir, 0, 0, "DIR", "Fashion-MNIST or MNIST IDX files, plain or .gz" },
        { "--epochs", ARG_INT, &epochs, 0, 1e6, "N", "epochs to train (default 5)" },
        { "--limit", ARG_INT, &limit, 0, 1e12, "N", "train on the first N images (default 0: all)" },
        { "--seed", ARG_INT, &seed, 0, 9e18, "N", "seed of the weights, dropout and shuffling (default 0)" },
        { "--hidden", ARG_INT, &hidden, 1, 65536, "N", "hidden units (default 256)" },
        { "--save", ARG_STR, &save, 0, 0, "PATH", "write the trained weights there as safetensors" },
    };
    int parsed = parse_args(argc, argv, args, (int)(sizeof args / sizeof args[0]));
    nn_ctx *ctx;
    nn_dataset *train, *test, *train_set;
    const float mean[1] = { 0.2860f }, std[1] = { 0.3530f };
    nn_transform tf[1];
    nn_dataloader *train_loader, *test_loader;
    nn_dataloader_opts o = nn_dataloader_opts_default();
    nn_module *layers[5], *model;
    nn_tensor *params[8];
    nn_optim *opt;
    nn_adam_opts adam = nn_adam_opts_default();          /* Adam(lr=1e-3): PyTorch's defaults */
    nn_cross_entropy_opts ce = nn_cross_entropy_opts_default();
    static char report[4096];
    const char *err;
    int epoch;

    if (parsed) return parsed == 1 ? 0 : 2;
    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines in order with the progress bar on stderr */
    ctx = nn_ctx_new();
    train = load(ctx, dir, "train");
    test = load(ctx, dir, "t10k");
    if (!train || !test) { err = nn_error(ctx); fprintf(stderr, "cannot load the data: %s\n", err ? err : "?"); return 1; }
    train_set = limit > 0 && limit < nn_dataset_len(train) ? nn_subset(train, 0, limit) : train;
    tf[0] = nn_normalize(1, mean, std);
    o.batch_size = 64; o.shuffle = 1; o.seed = (uint64_t)seed; o.transforms = tf; o.ntransforms = 1;
    train_loader = nn_dataloader_new(train_set, o);
    o.batch_size = 256; o.shuffle = 0;
    test_loader = nn_dataloader_new(test, o);
    nn_manual_seed(ctx, (uint64_t)seed);
    layers[0] = nn_flatten_new(ctx, 1, -1);
    layers[1] = nn_linear_new(ctx, 784, hidden, 1);
    layers[2] = nn_relu_new(ctx);
    layers[3] = nn_dropout_new(ctx, 0.2f);
    layers[4] = nn_linear_new(ctx, hidden, 10, 1);
    model = nn_sequential_new(ctx, layers, 5);
    opt = nn_adam(params, nn_module_parameters(model, params, 8), adam);
    if (!model || !opt || !train_loader || !test_loader) {
        err = nn_error(ctx);
        fprintf(stderr, "setup failed: %s\n", err ? err : "?");
        return 1;
    }
    printf("MLP: %lld parameters, %lld training samples\n", (long long)nn_module_num_parameters(model),
           (long long)nn_dataset_len(train_set));
    for (epoch = 1; epoch <= epochs; epoch++) {
        nn_tensor *x, *y; double total_loss = 0; int64_t correct = 0, n = 0;
        nn_progress bar; char desc[32];
        snprintf(desc, sizeof desc, "Epoch %d", epoch);
        nn_progress_begin(&bar, desc, nn_dataloader_len(train_loader));
        nn_module_train(model, 1);
        while (nn_dataloader_next(train_loader, &x, &y)) {        /* y: int64 class labels (B) */
            nn_tensor *logits = nn_forward(model, x), *loss = nn_cross_entropy(logits, y, ce), *pred;
            nn_optim_zero_grad(opt);
            nn_backward(loss, NULL, 0);
            nn_optim_step(opt);
            total_loss += nn_item(loss) * (double)y->numel;
            pred = nn_argmax(logits, 1, 0);                         /* int64 (B) */
            for (i = 0; i < y->numel; i++) correct += nn_i64(pred)[i] == nn_i64(y)[i];
            n += y->numel;
            nn_progress_update(&bar, 1, nn_item(loss));
            nn_arena_reset(ctx);
        }
        nn_progress_end(&bar);
        if (n == 0) break;                                          /* an error stopped the epoch */
        printf("[Epoch %d] loss = %.4f | accuracy = %.2f%%\n", epoch, total_loss / (double)n,
               100.0 * (double)correct / (double)n);
    }
    nn_module_eval(model);
    {
        nn_tensor *x, *y;
        int64_t *t = (int64_t *)malloc((size_t)nn_dataset_len(test) * sizeof(int64_t));
        int64_t *p = (int64_t *)malloc((size_t)nn_dataset_len(test) * sizeof(int64_t)), n = 0;
        if (!t || !p) { fprintf(stderr, "out of memory\n"); return 1; }
        NN_NO_GRAD(ctx) {                                           /* with torch.no_grad(): */
            while (nn_dataloader_next(test_loader, &x, &y)) {
                nn_tensor *pred = nn_argmax(nn_forward(model, x), 1, 0);
                for (i = 0; i < y->numel; i++, n++) { t[n] = nn_i64(y)[i]; p[n] = nn_i64(pred)[i]; }
                nn_arena_reset(ctx);
            }
        }
        nn_confusion_matrix(t, p, n, 10, cm);
        printf("Test accuracy: %.2f%%\n\n", 100.0 * nn_accuracy(cm, 10));
        if (nn_classification_report(cm, 10, NULL, 2, report, sizeof report) > 0) printf("%s", report);
        free(t); free(p);
    }
    if (save && nn_save_model(model, save)) printf("weights saved to %s\n", save);
    err = nn_error(ctx);
    if (err) { fprintf(stderr, "error: %s\n", err); return 1; }
    nn_dataloader_free(train_loader); nn_dataloader_free(test_loader);
    if (train_set != train) nn_dataset_free(train_set);
    nn_dataset_free(train); nn_dataset_free(test);
    nn_optim_free(opt); nn_module_free(model);
    nn_ctx_free(ctx);
    return 0;
}
