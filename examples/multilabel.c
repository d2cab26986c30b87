/* Seed 000's multi-label case: K independent yes/no labels per image, logits
   (B, K), multi-hot float targets, BCEWithLogitsLoss computed stably from the
   logits. The labels are derived from a real dataset's class c (Fashion-MNIST
   or MNIST): "c is even", "c > 4", "c is prime" -- for MNIST digits these read
   as stated. The dataset is your own (nn_dataset_new with a get callback) that
   wraps nn_mnist and turns its int64 class into the multi-hot vector.
   ./multilabel [--data DIR] [--epochs N] [--limit N] [--help] */
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PROG "multilabel"
#define SYNOPSIS "Trains a 784-128-3 MLP with BCEWithLogitsLoss on three yes/no labels per image\n" \
                 "(class is even, class > 4, class is prime) and prints per-label test metrics.\n"
#include "args.h"   /* the command line: a table of flags, --help, checked numbers */

#define K 3
static const char *label_names[K] = { "even", "> 4", "prime" };

/* your own dataset's get: x from the wrapped class dataset, y the K-vector made from its class */
static int multihot_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    nn_dataset *base = (nn_dataset *)user;
    int64_t c;
    (void)label;                                     /* ydim K: the target is y */
    if (!nn_dataset_get(base, i, x, NULL, &c)) return 0;
    y[0] = c % 2 == 0 ? 1.0f : 0.0f;
    y[1] = c > 4 ? 1.0f : 0.0f;
    y[2] = c == 2 || c == 3 || c == 5 || c == 7 ? 1.0f : 0.0f;
    return 1;
}
static nn_dataset *multihot_new(nn_ctx *ctx, nn_dataset *base) {
    int64_t xshape[3];
    int xdim = nn_dataset_xshape(base, xshape);
    /* the new dataset reads base and does not own it (free_user NULL): free base yourself */
    return nn_dataset_new(ctx, nn_dataset_len(base), xdim, xshape, K, multihot_get, NULL, base);
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
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int64_t epochs = 2, limit = 20000, i, tp[K] = { 0, 0, 0 }, fp[K] = { 0, 0, 0 }, fn[K] = { 0, 0, 0 };
    int64_t right[K] = { 0, 0, 0 }, n = 0, kk = K;
    const arg_spec args[] = {
        { "--data", ARG_STR, &dir, 0, 0, "DIR", "Fashion-MNIST or MNIST IDX files, plain or .gz" },
        { "--epochs", ARG_INT, &epochs, 0, 1e6, "N", "epochs to train (default 2)" },
        { "--limit", ARG_INT, &limit, 0, 1e12, "N", "train on the first N images (default 20000; 0: all)" },
    };
    int parsed = parse_args(argc, argv, args, (int)(sizeof args / sizeof args[0]));
    nn_ctx *ctx;
    nn_dataset *train, *test, *base, *mh_train, *mh_test;
    nn_dataloader_opts o = nn_dataloader_opts_default();
    nn_dataloader *tl, *vl;
    nn_module *layers[4], *model;
    nn_tensor *params[4], *x, *y, *pos_weight;
    nn_optim *opt;
    const char *err;
    int epoch, k;

    if (parsed) return parsed == 1 ? 0 : 2;
    ctx = nn_ctx_new();
    train = load(ctx, dir, "train");
    test = load(ctx, dir, "t10k");
    if (!train || !test) { err = nn_error(ctx); fprintf(stderr, "cannot load the data: %s\n", err ? err : "?"); return 1; }
    base = limit > 0 && limit < nn_dataset_len(train) ? nn_subset(train, 0, limit) : train;
    mh_train = multihot_new(ctx, base);
    mh_test = multihot_new(ctx, test);
    o.batch_size = 64; o.shuffle = 1; o.seed = 1;
    tl = nn_dataloader_new(mh_train, o);                 /* y: float32 (B, K) multi-hot */
    o.batch_size = 500; o.shuffle = 0;
    vl = nn_dataloader_new(mh_test, o);
    nn_manual_seed(ctx, 1);
    layers[0] = nn_flatten_new(ctx, 1, -1); layers[1] = nn_linear_new(ctx, 784, 128, 1);
    layers[2] = nn_relu_new(ctx); layers[3] = nn_linear_new(ctx, 128, K, 1);
    model = nn_sequential_new(ctx, layers, 4);
    opt = nn_adam(params, nn_module_parameters(model, params, 4), nn_adam_opts_default());   /* Adam(lr=1e-3) */
    pos_weight = nn_full(ctx, 1, &kk, 1.0f);
    if (!tl || !vl || !model || !opt || !pos_weight) {
        err = nn_error(ctx);
        fprintf(stderr, "setup failed: %s\n", err ? err : "?");
        return 1;
    }
    nn_f32(pos_weight)[2] = 1.5f;                     /* "prime" is rarer: weigh its positives up */
    printf("multi-label: %lld training images, %d labels per image (%s, %s, %s), BCEWithLogitsLoss(pos_weight=[1, 1, 1.5])\n",
           (long long)nn_dataset_len(mh_train), K, label_names[0], label_names[1], label_names[2]);
    for (epoch = 1; epoch <= epochs; epoch++) {
        double total = 0; int64_t seen = 0;
        while (nn_dataloader_next(tl, &x, &y)) {
            nn_tensor *logits = nn_forward(model, x);                     /* (B, K) */
            nn_tensor *loss = nn_bce_with_logits(logits, y, NULL, NN_MEAN, pos_weight);   /* weight=None */
            nn_optim_zero_grad(opt);
            nn_backward(loss, NULL, 0);
            nn_optim_step(opt);
            total += nn_item(loss) * (double)x->shape[0]; seen += x->shape[0];
            nn_arena_reset(ctx);
        }
        if (seen == 0) break;                                             /* an error stopped the epoch */
        printf("[Epoch %d] BCEWithLogits loss = %.4f\n", epoch, total / (double)seen);
    }
    NN_NO_GRAD(ctx) {                                                     /* with torch.no_grad(): */
        while (nn_dataloader_next(vl, &x, &y)) {
            nn_tensor *p = nn_sigmoid(nn_forward(model, x));
            for (i = 0; i < p->numel; i++) {
                int pred = nn_f32(p)[i] > 0.5f, truth = nn_f32(y)[i] > 0.5f;
                k = (int)(i % K);
                right[k] += pred == truth; tp[k] += pred && truth; fp[k] += pred && !truth; fn[k] += !pred && truth;
            }
            n += x->shape[0];
            nn_arena_reset(ctx);
        }
    }
    err = nn_error(ctx);
    if (err || n == 0) { fprintf(stderr, "error: %s\n", err ? err : "no test images"); return 1; }
    printf("\ntest set (%lld images), threshold 0.5 on sigmoid(logits):\n%-8s %9s %9s %9s %9s\n", (long long)n,
           "label", "accuracy", "precision", "recall", "f1");
    for (k = 0; k < K; k++) {
        double p = tp[k] + fp[k] ? (double)tp[k] / (double)(tp[k] + fp[k]) : 0;
        double r = tp[k] + fn[k] ? (double)tp[k] / (double)(tp[k] + fn[k]) : 0;
        printf("%-8s %8.2f%% %9.3f %9.3f %9.3f\n", label_names[k], 100.0 * (double)right[k] / (double)n, p, r,
               p + r > 0 ? 2 * p * r / (p + r) : 0);
    }
    nn_free(pos_weight); nn_dataloader_free(tl); nn_dataloader_free(vl);
    nn_dataset_free(mh_train); nn_dataset_free(mh_test);  /* before the datasets they read */
    if (base != train) nn_dataset_free(base);
    nn_dataset_free(train); nn_dataset_free(test); nn_optim_free(opt); nn_module_free(model);
    nn_ctx_free(ctx);
    return 0;
}
