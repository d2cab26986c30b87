/* Seed 000's multi-label case: K independent yes/no labels per image, logits
   (B, K), multi-hot float targets, BCEWithLogitsLoss computed stably from the
   logits. The labels are derived from a real dataset's class c (Fashion-MNIST
   or MNIST): "c is even", "c > 4", "c is prime" -- for MNIST digits these read
   as stated. The dataset is written here as your own nn_dataset that wraps
   nn_mnist and turns its class into the multi-hot vector.
   ./multilabel [--data DIR] [--epochs N] [--limit N] */
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <stdlib.h>
#include <string.h>

#define K 3
static const char *label_names[K] = { "even", "> 4", "prime" };

/* your own dataset: get() fills x and the K-vector y */
static int multihot_get(nn_dataset *d, int64_t i, float *x, float *y) {
    nn_dataset *base = (nn_dataset *)d->user;
    float c;
    if (!base->get(base, i, x, &c)) return 0;
    y[0] = (int)c % 2 == 0;
    y[1] = c > 4;
    y[2] = c == 2 || c == 3 || c == 5 || c == 7;
    return 1;
}

static const char *arg(int argc, char **argv, const char *name, const char *dflt) {
    int i;
    for (i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], name)) return argv[i + 1];
    return dflt;
}
static nn_dataset *load(nn_ctx *ctx, const char *dir, const char *split) {
    char im[1024], lb[1024]; nn_dataset *d;
    snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte.gz", dir, split); snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    if ((d = nn_mnist(ctx, im, lb))) return d;
    nn_clear_error(ctx);
    snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte", dir, split); snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte", dir, split);
    return nn_mnist(ctx, im, lb);
}

int main(int argc, char **argv) {
    const char *dir = arg(argc, argv, "--data", "/usr/share/datasets/fashion-mnist");
    int epochs = atoi(arg(argc, argv, "--epochs", "2")), epoch, k;
    int64_t limit = atoll(arg(argc, argv, "--limit", "20000")), i, tp[K] = { 0 }, fp[K] = { 0 }, fn[K] = { 0 }, right[K] = { 0 }, n = 0;
    nn_ctx *ctx = nn_ctx_new();
    nn_dataset *train = load(ctx, dir, "train"), *test = load(ctx, dir, "t10k"), *base, mh_train, mh_test;
    nn_dataloader_opts o = { 0 };
    nn_dataloader *tl, *vl;
    nn_module *layers[4], *model;
    nn_tensor *params[4], *x, *y, *pos_weight;
    nn_optim *opt;
    nn_adam_opts adam = { 0 };
    int64_t kk = K;

    if (!train || !test) { fprintf(stderr, "cannot load the data: %s\n", nn_error(ctx)); return 1; }
    base = limit > 0 && limit < train->len ? nn_subset(train, 0, limit) : train;
    memset(&mh_train, 0, sizeof mh_train);
    mh_train.len = base->len; mh_train.xdim = 3; memcpy(mh_train.xshape, base->xshape, sizeof mh_train.xshape);
    mh_train.ydim = K; mh_train.get = multihot_get; mh_train.user = base; mh_train.ctx = ctx;
    mh_test = mh_train; mh_test.len = test->len; mh_test.user = test;
    o.batch_size = 64; o.shuffle = 1; o.seed = 1;
    tl = nn_dataloader_new(&mh_train, o);
    o.batch_size = 500; o.shuffle = 0;
    vl = nn_dataloader_new(&mh_test, o);
    nn_manual_seed(ctx, 1);
    layers[0] = nn_flatten_new(ctx, 1, -1); layers[1] = nn_linear_new(ctx, 784, 128, 1);
    layers[2] = nn_relu_new(ctx); layers[3] = nn_linear_new(ctx, 128, K, 1);
    model = nn_sequential_new(ctx, layers, 4);
    adam.lr = 1e-3f;
    opt = nn_adam(params, nn_module_parameters(model, params, 4), adam);
    pos_weight = nn_full(ctx, 1, &kk, 1.0f);
    nn_f32(pos_weight)[2] = 1.5f;                     /* "prime" is rarer: weigh its positives up */
    printf("multi-label: %lld training images, %d labels per image (%s, %s, %s), BCEWithLogitsLoss(pos_weight=[1, 1, 1.5])\n",
           (long long)mh_train.len, K, label_names[0], label_names[1], label_names[2]);
    for (epoch = 1; epoch <= epochs; epoch++) {
        double total = 0; int64_t seen = 0;
        while (nn_dataloader_next(tl, &x, &y)) {
            nn_tensor *logits = nn_forward(model, x);                     /* (B, K) */
            nn_tensor *loss = nn_bce_with_logits(logits, y, pos_weight, NN_MEAN);
            nn_optim_zero_grad(opt);
            nn_backward(loss, NULL, 0);
            nn_optim_step(opt);
            total += nn_item(loss) * (double)x->shape[0]; seen += x->shape[0];
            nn_arena_reset(ctx);
        }
        printf("[Epoch %d] BCEWithLogits loss = %.4f\n", epoch, total / (double)seen);
    }
    {
        int old = nn_set_grad_enabled(ctx, 0);
        while (nn_dataloader_next(vl, &x, &y)) {
            nn_tensor *p = nn_sigmoid(nn_forward(model, x));
            for (i = 0; i < p->numel; i++) {
                int pred = nn_f32(p)[i] > 0.5f, truth = nn_f32(y)[i] > 0.5f; k = (int)(i % K);
                right[k] += pred == truth; tp[k] += pred && truth; fp[k] += pred && !truth; fn[k] += !pred && truth;
            }
            n += x->shape[0];
            nn_arena_reset(ctx);
        }
        nn_set_grad_enabled(ctx, old);
    }
    printf("\ntest set (%lld images), threshold 0.5 on sigmoid(logits):\n%-8s %9s %9s %9s %9s\n", (long long)n, "label", "accuracy", "precision", "recall", "f1");
    for (k = 0; k < K; k++) {
        double p = tp[k] + fp[k] ? (double)tp[k] / (double)(tp[k] + fp[k]) : 0, r = tp[k] + fn[k] ? (double)tp[k] / (double)(tp[k] + fn[k]) : 0;
        printf("%-8s %8.2f%% %9.3f %9.3f %9.3f\n", label_names[k], 100.0 * (double)right[k] / (double)n, p, r, p + r > 0 ? 2 * p * r / (p + r) : 0);
    }
    if (nn_error(ctx)) { fprintf(stderr, "error: %s\n", nn_error(ctx)); return 1; }
    nn_free(pos_weight); nn_dataloader_free(tl); nn_dataloader_free(vl);
    if (base != train) nn_dataset_free(base);
    nn_dataset_free(train); nn_dataset_free(test); nn_optim_free(opt); nn_module_free(model);
    nn_ctx_free(ctx);
    return 0;
}
