/* Seed 002's complete training script in C: MY_NET on MNIST-style images with
   transforms, a shuffling DataLoader, CrossEntropyLoss, Adam with weight decay,
   a tqdm-like progress bar, per-epoch loss/accuracy, evaluation under no_grad,
   the classification report and the confusion matrix, and the loss/accuracy
   curves (terminal and mnist_cnn_curve.png).

   Default: MY_NET at 28x28x1 on Fashion-MNIST, ToTensor and
   Normalize((0.2860,), (0.3530,)) (Fashion-MNIST's mean and std). --seed-exact runs the
   note's configuration: Resize(48), Grayscale(3), RandomRotation(10),
   ColorJitter(0.2, 0.2), Normalize((0.1307,)*3, (0.3081,)*3), batch 64,
   Adam(lr 1e-3, weight_decay 1e-4), Dropout(0.5).

   ./mnist_cnn [--data DIR] [--epochs N] [--batch-size N] [--limit N]
               [--test-limit N] [--lr X] [--seed N] [--seed-exact]
               [--save-checkpoint PATH] [--resume PATH] */
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <stdlib.h>
#include <string.h>

typedef struct { nn_module *conv1, *conv2, *pool1, *conv3, *pool2, *fc1, *fc2, *dropout; } my_net;

static nn_tensor *my_net_forward(nn_module *self, nn_tensor *x) {
    my_net *n = (my_net *)self->user;
    x = nn_relu(nn_forward(n->conv1, x));               /* Conv1 -> ReLU */
    x = nn_relu(nn_forward(n->conv2, x));               /* Conv2 -> ReLU */
    x = nn_forward(n->pool1, x);                         /* Pool1 */
    x = nn_relu(nn_forward(n->conv3, x));               /* Conv3 -> ReLU */
    x = nn_forward(n->pool2, x);                         /* Pool2 */
    x = nn_flatten(x, 1, -1);                            /* torch.flatten(x, 1) */
    x = nn_forward(n->dropout, x);
    x = nn_relu(nn_forward(n->fc1, x));
    x = nn_forward(n->dropout, x);
    return nn_forward(n->fc2, x);                        /* logits (B, num_classes) */
}

static nn_module *my_net_new(nn_ctx *ctx, my_net *n, int64_t in_channels, int64_t size, int64_t num_classes) {
    nn_module *m = nn_module_new(ctx, "MY_NET", my_net_forward, n);
    nn_conv_opts pad1 = { 0 };
    nn_pool_opts pool = { 0 };
    pad1.padding = 1; pool.kernel_size = 2; pool.stride = 2;
    n->conv1 = nn_module_add(m, "conv1", nn_conv2d_new(ctx, in_channels, 32, 3, pad1, 1));
    n->conv2 = nn_module_add(m, "conv2", nn_conv2d_new(ctx, 32, 64, 3, pad1, 1));
    n->pool1 = nn_module_add(m, "pool1", nn_max_pool2d_new(ctx, pool));
    n->conv3 = nn_module_add(m, "conv3", nn_conv2d_new(ctx, 64, 128, 3, pad1, 1));
    n->pool2 = nn_module_add(m, "pool2", nn_max_pool2d_new(ctx, pool));
    n->fc1 = nn_module_add(m, "fc1", nn_linear_new(ctx, 128 * (size / 4) * (size / 4), 512, 1));
    n->fc2 = nn_module_add(m, "fc2", nn_linear_new(ctx, 512, num_classes, 1));
    n->dropout = nn_module_add(m, "dropout", nn_dropout_new(ctx, 0.5f));
    return m;
}

static const char *arg_str(int argc, char **argv, const char *name, const char *dflt) {
    int i;
    for (i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], name)) return argv[i + 1];
    return dflt;
}
static int has_flag(int argc, char **argv, const char *name) {
    int i;
    for (i = 1; i < argc; i++) if (!strcmp(argv[i], name)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = arg_str(argc, argv, "--data", "/usr/share/datasets/fashion-mnist");
    int seed_exact = has_flag(argc, argv, "--seed-exact");
    int epochs = atoi(arg_str(argc, argv, "--epochs", "5"));
    int64_t batch = atoll(arg_str(argc, argv, "--batch-size", "64"));
    int64_t limit = atoll(arg_str(argc, argv, "--limit", "0")), test_limit = atoll(arg_str(argc, argv, "--test-limit", "0"));
    float lr = (float)atof(arg_str(argc, argv, "--lr", "1e-3"));
    uint64_t seed = (uint64_t)atoll(arg_str(argc, argv, "--seed", "0"));
    const char *save = arg_str(argc, argv, "--save-checkpoint", NULL), *resume = arg_str(argc, argv, "--resume", NULL);
    const char *class_names[10] = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };
    int is_fashion = strstr(dir, "fashion") != NULL;
    char p1[1024], p2[1024];
    nn_ctx *ctx = nn_ctx_new();
    nn_dataset *train_full, *test_full, *train_set, *test_set;
    nn_dataloader *train_loader, *test_loader;
    nn_transform train_tf[6], test_tf[3];
    int ntrain_tf, ntest_tf, epoch, start_epoch = 1, k;
    int64_t size, channels, cm[100], i;
    my_net net;
    nn_module *model;
    nn_tensor *params[16];
    nn_optim *optimizer;
    nn_adam_opts adam = { 0 };
    nn_cross_entropy_opts criterion = { 0 };               /* nn.CrossEntropyLoss() */
    float loss_curve[1000], acc_curve[1000];
    static char report[8192];
    const char *gz = ".gz";

    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines in order with the progress bar on stderr */

    /* 1-3. data, transforms, loaders */
    snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte%s", dir, gz);
    snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte%s", dir, gz);
    train_full = nn_mnist(ctx, p1, p2);
    if (!train_full) {   /* not gzip'd, or no stb_image: try the plain files */
        nn_clear_error(ctx); gz = "";
        snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte", dir);
        snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte", dir);
        train_full = nn_mnist(ctx, p1, p2);
    }
    snprintf(p1, sizeof p1, "%s/t10k-images-idx3-ubyte%s", dir, gz);
    snprintf(p2, sizeof p2, "%s/t10k-labels-idx1-ubyte%s", dir, gz);
    test_full = nn_mnist(ctx, p1, p2);
    if (!train_full || !test_full) { fprintf(stderr, "cannot load the data: %s\n", nn_error(ctx)); return 1; }
    train_set = limit > 0 && limit < train_full->len ? nn_subset(train_full, 0, limit) : train_full;
    test_set = test_limit > 0 && test_limit < test_full->len ? nn_subset(test_full, 0, test_limit) : test_full;
    if (seed_exact) {
        const float mean[3] = { 0.1307f, 0.1307f, 0.1307f }, std[3] = { 0.3081f, 0.3081f, 0.3081f };
        size = 48; channels = 3;
        train_tf[0] = nn_resize(48, 48); train_tf[1] = nn_grayscale(3); train_tf[2] = nn_random_rotation(10);
        train_tf[3] = nn_color_jitter(0.2f, 0.2f); train_tf[4] = nn_normalize(3, mean, std); ntrain_tf = 5;
        test_tf[0] = nn_resize(48, 48); test_tf[1] = nn_grayscale(3); test_tf[2] = nn_normalize(3, mean, std); ntest_tf = 3;
    } else {
        const float mean[1] = { 0.2860f }, std[1] = { 0.3530f };
        size = 28; channels = 1;
        train_tf[0] = nn_normalize(1, mean, std); ntrain_tf = 1;
        test_tf[0] = nn_normalize(1, mean, std); ntest_tf = 1;
    }
    {
        nn_dataloader_opts o = { 0 };
        o.batch_size = batch; o.shuffle = 1; o.seed = seed; o.transforms = train_tf; o.ntransforms = ntrain_tf;
        train_loader = nn_dataloader_new(train_set, o);
        o.batch_size = 256; o.shuffle = 0; o.transforms = test_tf; o.ntransforms = ntest_tf;
        test_loader = nn_dataloader_new(test_set, o);
    }
    printf("Training on %lld samples, validating on %lld samples (%s, %lldx%lldx%lld).\n", (long long)train_set->len,
           (long long)test_set->len, is_fashion ? "Fashion-MNIST" : "MNIST", (long long)channels, (long long)size, (long long)size);

    /* 4. model, loss, optimiser */
    nn_manual_seed(ctx, seed);
    model = my_net_new(ctx, &net, channels, size, 10);
    adam.lr = lr; adam.weight_decay = 1e-4f;
    optimizer = nn_adam(params, nn_module_parameters(model, params, 16), adam);
    if (!model || !optimizer || !train_loader || !test_loader) { fprintf(stderr, "setup failed: %s\n", nn_error(ctx)); return 1; }
    printf("MY_NET: %lld parameters\n", (long long)nn_module_num_parameters(model));
    if (resume) {
        nn_checkpoint ck = { 0 };
        ck.model = model; ck.optim = optimizer;
        if (!nn_load_checkpoint(&ck, resume)) { fprintf(stderr, "cannot resume: %s\n", nn_error(ctx)); return 1; }
        start_epoch = (int)ck.epoch + 1;
        printf("Resumed from %s after epoch %lld (loss %.4f).\n", resume, (long long)ck.epoch, ck.loss);
    }

    /* 5. training loop */
    for (epoch = start_epoch; epoch <= epochs && epoch - start_epoch < 1000; epoch++) {
        double running_loss = 0; int64_t correct = 0, total = 0;
        nn_tensor *X, *y;
        nn_progress bar;
        char desc[32];
        nn_module_train(model, 1);
        snprintf(desc, sizeof desc, "Epoch %d", epoch);
        nn_progress_begin(&bar, desc, nn_dataloader_len(train_loader));
        while (nn_dataloader_next(train_loader, &X, &y)) {
            nn_tensor *logits = nn_forward(model, X);               /* logits = model(X_batch) */
            nn_tensor *loss = nn_cross_entropy(logits, y, criterion);
            nn_tensor *preds;
            nn_optim_zero_grad(optimizer);                           /* optimizer.zero_grad() */
            nn_backward(loss, NULL, 0);                                 /* loss.backward() */
            nn_optim_step(optimizer);                                /* optimizer.step() */
            running_loss += nn_item(loss) * (double)X->shape[0];
            preds = nn_argmax(logits, 1, 0);
            for (i = 0; i < y->numel; i++) correct += nn_f32(preds)[i] == nn_f32(y)[i];
            total += y->numel;
            nn_progress_update(&bar, 1, nn_item(loss));
            if (nn_error(ctx)) { fprintf(stderr, "training failed: %s\n", nn_error(ctx)); return 1; }
            nn_arena_reset(ctx);
        }
        nn_progress_end(&bar);
        loss_curve[epoch - start_epoch] = (float)(running_loss / (double)total);
        acc_curve[epoch - start_epoch] = (float)(100.0 * (double)correct / (double)total);
        printf("[Epoch %d] loss = %.4f | accuracy = %.2f%%\n", epoch, running_loss / (double)total, 100.0 * (double)correct / (double)total);
        if (save) {
            nn_checkpoint ck = { 0 };
            ck.model = model; ck.optim = optimizer; ck.epoch = epoch; ck.loss = running_loss / (double)total;
            if (!nn_save_checkpoint(&ck, save)) fprintf(stderr, "checkpoint not saved: %s\n", nn_error(ctx));
        }
    }
    printf("\nTraining finished.\n\n");

    /* 6. evaluation on the test set */
    nn_module_eval(model);
    {
        int old = nn_set_grad_enabled(ctx, 0);                      /* with torch.no_grad(): */
        int64_t *y_true = (int64_t *)malloc((size_t)test_set->len * sizeof(int64_t)), *y_pred = (int64_t *)malloc((size_t)test_set->len * sizeof(int64_t)), n = 0;
        double loss_sum = 0;
        nn_cross_entropy_opts sum = { 0 };
        nn_tensor *X, *y;
        sum.reduction = NN_SUM;
        while (nn_dataloader_next(test_loader, &X, &y)) {
            nn_tensor *logits = nn_forward(model, X), *preds = nn_argmax(logits, 1, 0);
            loss_sum += nn_item(nn_cross_entropy(logits, y, sum));
            for (i = 0; i < y->numel; i++, n++) { y_true[n] = (int64_t)nn_f32(y)[i]; y_pred[n] = (int64_t)nn_f32(preds)[i]; }
            nn_arena_reset(ctx);
        }
        nn_set_grad_enabled(ctx, old);
        nn_confusion_matrix(y_true, y_pred, n, 10, cm);
        printf("Test loss: %.4f\n", loss_sum / (double)n);
        printf("Test accuracy: %.2f%%\n\n", 100.0 * nn_accuracy(cm, 10));
        printf("Classification report (precision / recall / F1):\n");
        if (nn_classification_report(cm, 10, is_fashion ? class_names : NULL, 2, report, sizeof report) > 0) printf("%s\n", report);
        printf("Confusion matrix (rows = true, cols = pred):\n");
        nn_print_confusion_matrix(cm, 10);
        free(y_true); free(y_pred);
    }
    if (epoch > start_epoch) {
        const float *curves[2]; const char *labels[2] = { "train loss", "train accuracy / 100" };
        int n = epoch - start_epoch;
        for (k = 0; k < n; k++) acc_curve[k] /= 100.0f;
        curves[0] = loss_curve; curves[1] = acc_curve;
        nn_plot_terminal("\nTraining curves", curves, labels, 2, n, 8);
        if (nn_plot_png(ctx, "mnist_cnn_curve.png", curves, labels, 2, n)) printf("Curves written to mnist_cnn_curve.png\n");
        else { const char *why = nn_error(ctx); printf("(no PNG: %s)\n", why ? why : "?"); nn_clear_error(ctx); }
    }
    nn_dataloader_free(train_loader); nn_dataloader_free(test_loader);
    if (train_set != train_full) nn_dataset_free(train_set);
    if (test_set != test_full) nn_dataset_free(test_set);
    nn_dataset_free(train_full); nn_dataset_free(test_full);
    nn_optim_free(optimizer); nn_module_free(model);
    nn_ctx_free(ctx);
    return 0;
}
