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

   --save-checkpoint writes the model, optimizer and DataLoader state after each
   epoch; --resume continues from such a file up to --epochs, ending bit-identical
   to a run that never stopped.

   Data parallel, as PyTorch's DistributedDataParallel: built with mpicc -DNN_MPI
   (make build/mnist_cnn_mpi) and started as mpirun -np N, every process trains on its
   shard of each epoch with batch --batch-size (N times that in all) and the gradients
   are averaged after backward. Rank 0 prints, saves checkpoints and evaluates; a
   checkpoint resumes on any number of processes. Built plainly, it is one process.

   On a GPU, as PyTorch's model.to(device) and X.to(device): built by nvcc with NN_CUDA
   (make build/mnist_cnn_cuda), --device cuda moves the model to the GPU once and each batch
   as it arrives; nothing else in the loop changes. Checkpoints saved on one device resume on
   either. (make build/mnist_cnn_emu runs the same CUDA kernels emulated on the CPU, for tests.)

   ./mnist_cnn [--data DIR] [--epochs N] [--batch-size N] [--limit N]
               [--test-limit N] [--lr X] [--seed N] [--seed-exact] [--device cpu|cuda]
               [--save-checkpoint PATH] [--resume PATH] [--help] */
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#ifdef NN_CUDA
#include "../nn_cuda.h"   /* the CUDA kernels: this file compiled by nvcc (or emulated) with NN_CUDA */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PROG "mnist_cnn"
#define SYNOPSIS "Trains MY_NET (three convolutions, two linear layers) on Fashion-MNIST or MNIST and prints\n" \
                 "the test accuracy, the classification report, the confusion matrix and the training curves.\n"

#include "args.h"   /* the command line: a table of flags, --help, checked numbers */

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
    nn_conv_opts pad1 = nn_conv_opts_default();          /* Conv2d(..., kernel_size=3, padding=1) */
    nn_pool_opts pool = nn_pool_opts_default(2);         /* MaxPool2d(2): kernel 2, stride 2 */
    pad1.padding = 1;
    n->conv1 = nn_module_add(m, "conv1", nn_conv2d_new(ctx, in_channels, 32, 3, pad1, 1));
    n->conv2 = nn_module_add(m, "conv2", nn_conv2d_new(ctx, 32, 64, 3, pad1, 1));
    n->pool1 = nn_module_add(m, "pool1", nn_max_pool2d_new(ctx, pool));
    n->conv3 = nn_module_add(m, "conv3", nn_conv2d_new(ctx, 64, 128, 3, pad1, 1));
    n->pool2 = nn_module_add(m, "pool2", nn_max_pool2d_new(ctx, pool));
    n->fc1 = nn_module_add(m, "fc1", nn_linear_new(ctx, 128 * (size / 4) * (size / 4), 512, 1));
    n->fc2 = nn_module_add(m, "fc2", nn_linear_new(ctx, 512, num_classes, 1));
    n->dropout = nn_module_add(m, "dropout", nn_dropout_new(ctx, 0.5f));
    if (!n->conv1 || !n->conv2 || !n->pool1 || !n->conv3 || !n->pool2 || !n->fc1 || !n->fc2 || !n->dropout) {
        nn_module_free(m);
        return NULL;
    }
    return m;
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist", *save = NULL, *resume = NULL, *device_name = "cpu";
    nn_device device = NN_CPU;
    int64_t epochs = 5, batch = 64, limit = 0, test_limit = 0, seed = 0;
    double lr = 1e-3;
    int seed_exact = 0;
    const arg_spec args[] = {
        { "--data", ARG_STR, &dir, 0, 0, "DIR", "Fashion-MNIST or MNIST IDX files, plain or .gz" },
        { "--epochs", ARG_INT, &epochs, 0, 1e6, "N", "train up to epoch N (default 5)" },
        { "--batch-size", ARG_INT, &batch, 1, 1e6, "N", "training batch size (default 64)" },
        { "--limit", ARG_INT, &limit, 0, 1e12, "N", "train on the first N images (default 0: all)" },
        { "--test-limit", ARG_INT, &test_limit, 0, 1e12, "N", "test on the first N images (default 0: all)" },
        { "--lr", ARG_REAL, &lr, 0, 1e3, "X", "Adam's learning rate (default 1e-3)" },
        { "--seed", ARG_INT, &seed, 0, 9e18, "N", "seed of the weights, dropout and shuffling (default 0)" },
        { "--seed-exact", ARG_SWITCH, &seed_exact, 0, 0, NULL, "the seed note's 48x48x3 configuration" },
        { "--device", ARG_STR, &device_name, 0, 0, "NAME", "cpu (default) or cuda (a build with NN_CUDA)" },
        { "--save-checkpoint", ARG_STR, &save, 0, 0, "PATH", "save a checkpoint after each epoch" },
        { "--resume", ARG_STR, &resume, 0, 0, "PATH", "continue from a checkpoint saved with the same options" },
    };
    int parsed = parse_args(argc, argv, args, (int)(sizeof args / sizeof args[0]));
    const char *class_names[10] = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };
    int is_fashion;
    char p1[1024], p2[1024];
    nn_ctx *ctx;
    nn_dataset *train_full, *test_full, *train_set, *test_set;
    nn_dataloader *train_loader, *test_loader;
    nn_transform train_tf[6], test_tf[3];
    int ntrain_tf, ntest_tf, k;
    int64_t size, channels, cm[100], i, epoch, start_epoch = 1;
    my_net net;
    nn_module *model;
    nn_tensor *params[16];
    nn_optim *optimizer;
    nn_adam_opts adam = nn_adam_opts_default();
    nn_cross_entropy_opts criterion = nn_cross_entropy_opts_default();   /* nn.CrossEntropyLoss() */
    float *loss_curve, *acc_curve;
    static char report[8192];
    const char *gz = ".gz", *err;
    nn_dist *dist;                                           /* the processes training together */
    nn_ddp *ddp;                                             /* DistributedDataParallel(model) */
    int rank, world;
    double sums[3];

    if (parsed) return parsed == 1 ? 0 : 2;
    if (!strcmp(device_name, "cuda")) device = NN_CUDA;
    else if (strcmp(device_name, "cpu")) { fprintf(stderr, "%s: --device is cpu or cuda, not %s\n", PROG, device_name); return 2; }
#ifndef NN_CUDA
    if (device == NN_CUDA) {
        fprintf(stderr, "%s: this build has no CUDA backend; build it with nvcc and NN_CUDA (make build/mnist_cnn_cuda)\n", PROG);
        return 2;
    }
#endif
    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines in order with the progress bar on stderr */
    is_fashion = strstr(dir, "fashion") != NULL;
    ctx = nn_ctx_new();
    dist = nn_dist_init(ctx, &argc, &argv);                 /* dist.init_process_group("mpi"): rank 0 of 1 unless mpirun */
    if (!dist) { err = nn_error(ctx); fprintf(stderr, "%s\n", err ? err : "out of memory"); return 1; }
    rank = nn_dist_rank(dist); world = nn_dist_world_size(dist);

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
    if (!nn_dist_check(dist, train_full && test_full)) {    /* every rank stops if one could not read */
        err = nn_error(ctx); fprintf(stderr, "cannot load the data: %s\n", err ? err : "?"); nn_dist_free(dist); return 1;
    }
    train_set = limit > 0 && limit < nn_dataset_len(train_full) ? nn_subset(train_full, 0, limit) : train_full;
    test_set = test_limit > 0 && test_limit < nn_dataset_len(test_full) ? nn_subset(test_full, 0, test_limit) : test_full;
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
        nn_dataloader_opts o = nn_dataloader_opts_default();
        o.batch_size = batch; o.shuffle = 1; o.seed = (uint64_t)seed; o.transforms = train_tf; o.ntransforms = ntrain_tf;
        o.num_replicas = world; o.rank = rank;             /* DistributedSampler: this rank's shard */
        train_loader = nn_dataloader_new(train_set, o);   /* y: int64 class labels (B) */
        o.batch_size = 256; o.shuffle = 0; o.transforms = test_tf; o.ntransforms = ntest_tf;
        o.num_replicas = 1; o.rank = 0;                    /* rank 0 evaluates the whole test set */
        test_loader = nn_dataloader_new(test_set, o);
    }
    if (rank == 0) printf("Training on %lld samples, validating on %lld samples (%s, %lldx%lldx%lld).\n", (long long)nn_dataset_len(train_set),
           (long long)nn_dataset_len(test_set), is_fashion ? "Fashion-MNIST" : "MNIST", (long long)channels, (long long)size,
           (long long)size);
    if (world > 1 && rank == 0) printf("%d processes, batch %lld each (%lld in all).\n", world, (long long)batch, (long long)batch * world);

    /* 4. model, loss, optimiser */
    nn_manual_seed(ctx, (uint64_t)seed);
    model = my_net_new(ctx, &net, channels, size, 10);
    adam.lr = lr; adam.weight_decay = 1e-4;                  /* Adam(lr=lr, weight_decay=1e-4) */
    optimizer = model ? nn_adam(params, nn_module_parameters(model, params, 16), adam) : NULL;
    loss_curve = (float *)malloc((size_t)(epochs + 1) * sizeof(float));
    acc_curve = (float *)malloc((size_t)(epochs + 1) * sizeof(float));
    if (!nn_dist_check(dist, model && optimizer && train_loader && test_loader && loss_curve && acc_curve)
        || !(ddp = nn_ddp_new(dist, model, nn_ddp_opts_default()))) {   /* every rank starts from rank 0's weights */
        err = nn_error(ctx);
        fprintf(stderr, "setup failed: %s\n", err ? err : "out of memory");
        nn_dist_free(dist);
        return 1;
    }
    if (device == NN_CUDA && !nn_module_to(model, NN_CUDA)) {   /* model.to(device) */
        err = nn_error(ctx); fprintf(stderr, "cannot move the model to the GPU: %s\n", err ? err : "?"); nn_dist_free(dist); return 1;
    }
    if (rank == 0) printf("MY_NET: %lld parameters%s\n", (long long)nn_module_num_parameters(model), device == NN_CUDA ? ", on the GPU" : "");
    if (resume) {
        /* the model, the optimizer, the RNG (dropout) and the loader's epoch, order and RNG: the
           epochs after this run exactly as they would have without the stop */
        nn_checkpoint ck = nn_checkpoint_default();
        ck.model = model; ck.optim = optimizer; ck.loader = train_loader;
        if (!nn_dist_load_checkpoint(dist, &ck, resume)) {
            err = nn_error(ctx); fprintf(stderr, "cannot resume: %s\n", err ? err : "?"); nn_dist_free(dist); return 1;
        }
        start_epoch = ck.epoch + 1;
        if (rank == 0) printf("Resumed from %s after epoch %lld (loss %.4f).\n", resume, (long long)ck.epoch, ck.loss);
    }

    /* 5. training loop */
    for (epoch = start_epoch; epoch <= epochs; epoch++) {
        double running_loss = 0; int64_t correct = 0, total = 0;
        nn_tensor *X, *y;
        nn_progress bar;
        char desc[32];
        nn_module_train(model, 1);
        snprintf(desc, sizeof desc, "Epoch %lld", (long long)epoch);
        if (rank == 0) nn_progress_begin(&bar, desc, nn_dataloader_len(train_loader));
        while (nn_dataloader_next(train_loader, &X, &y)) {
            nn_tensor *Xd = nn_to(X, device), *yd = nn_to(y, device);   /* X_batch.to(device), y_batch.to(device) */
            nn_tensor *logits = nn_ddp_forward(ddp, Xd);            /* logits = model(X_batch) */
            nn_tensor *loss = nn_cross_entropy(logits, yd, criterion);
            nn_tensor *preds;
            nn_optim_zero_grad(optimizer);                           /* optimizer.zero_grad() */
            nn_backward(loss, NULL, 0);                              /* loss.backward() */
            nn_ddp_sync_grads(ddp);                                  /* DDP: gradients averaged over the ranks */
            nn_optim_step(optimizer);                                /* optimizer.step() */
            running_loss += nn_item(loss) * (double)X->shape[0];
            preds = nn_to(nn_argmax(logits, 1, 0), NN_CPU);          /* int64, as y, read on the host */
            for (i = 0; preds && i < y->numel; i++) correct += nn_i64(preds)[i] == nn_i64(y)[i];   /* (NULL after an error) */
            total += y->numel;
            if (rank == 0) nn_progress_update(&bar, 1, nn_item(loss));
            if (!nn_dist_check(dist, nn_error(ctx) == NULL)) {      /* a step that failed on any rank stops them all */
                err = nn_error(ctx); fprintf(stderr, "training failed: %s\n", err ? err : "?"); nn_dist_free(dist); return 1;
            }
            nn_arena_reset(ctx);
        }
        if (rank == 0) nn_progress_end(&bar);
        sums[0] = running_loss; sums[1] = (double)correct; sums[2] = (double)total;
        nn_dist_all_reduce_scalars(dist, sums, 3, NN_REDUCE_SUM);       /* the epoch's figures over every rank */
        running_loss = sums[0]; correct = (int64_t)sums[1]; total = (int64_t)sums[2];
        err = nn_error(ctx);
        if (err || total == 0) { fprintf(stderr, "training failed: %s\n", err ? err : "no batches"); nn_dist_free(dist); return 1; }
        loss_curve[epoch - start_epoch] = (float)(running_loss / (double)total);
        acc_curve[epoch - start_epoch] = (float)(100.0 * (double)correct / (double)total);
        if (rank == 0) printf("[Epoch %lld] loss = %.4f | accuracy = %.2f%%\n", (long long)epoch, running_loss / (double)total,
                              100.0 * (double)correct / (double)total);
        if (save) {
            nn_checkpoint ck = nn_checkpoint_default();
            ck.model = model; ck.optim = optimizer; ck.loader = train_loader;
            ck.epoch = epoch; ck.loss = running_loss / (double)total;
            if (!nn_dist_save_checkpoint(dist, &ck, save)) {   /* rank 0 writes it */
                err = nn_error(ctx);
                fprintf(stderr, "checkpoint not saved: %s\n", err ? err : "?");
                nn_clear_error(ctx);
            }
        }
    }
    nn_ddp_free(ddp);
    if (rank != 0) {                                             /* rank 0 evaluates and draws */
        nn_dataloader_free(train_loader); nn_dataloader_free(test_loader);
        if (train_set != train_full) nn_dataset_free(train_set);
        if (test_set != test_full) nn_dataset_free(test_set);
        nn_dataset_free(train_full); nn_dataset_free(test_full);
        nn_optim_free(optimizer); nn_module_free(model); free(loss_curve); free(acc_curve);
        nn_dist_free(dist); nn_ctx_free(ctx);
        return 0;
    }
    printf("\nTraining finished.\n\n");

    /* 6. evaluation on the test set */
    nn_module_eval(model);
    {
        int64_t *y_true = (int64_t *)malloc((size_t)nn_dataset_len(test_set) * sizeof(int64_t));
        int64_t *y_pred = (int64_t *)malloc((size_t)nn_dataset_len(test_set) * sizeof(int64_t)), n = 0;
        double loss_sum = 0;
        nn_cross_entropy_opts sum = nn_cross_entropy_opts_default();
        nn_tensor *X, *y;
        if (!y_true || !y_pred) { fprintf(stderr, "out of memory\n"); return 1; }
        sum.reduction = NN_SUM;                                     /* CrossEntropyLoss(reduction='sum') */
        NN_NO_GRAD(ctx) {                                           /* with torch.no_grad(): */
            while (nn_dataloader_next(test_loader, &X, &y)) {
                nn_tensor *logits = nn_forward(model, nn_to(X, device)), *preds = nn_to(nn_argmax(logits, 1, 0), NN_CPU);
                loss_sum += nn_item(nn_cross_entropy(logits, nn_to(y, device), sum));
                for (i = 0; preds && i < y->numel; i++, n++) { y_true[n] = nn_i64(y)[i]; y_pred[n] = nn_i64(preds)[i]; }
                nn_arena_reset(ctx);
            }
        }
        err = nn_error(ctx);
        if (err || n == 0) { fprintf(stderr, "evaluation failed: %s\n", err ? err : "no test images"); return 1; }
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
        int n = (int)(epoch - start_epoch);
        for (k = 0; k < n; k++) acc_curve[k] /= 100.0f;
        curves[0] = loss_curve; curves[1] = acc_curve;
        nn_plot_terminal("\nTraining curves", curves, labels, 2, n, 8);
        if (nn_plot_png(ctx, "mnist_cnn_curve.png", curves, labels, 2, n)) printf("Curves written to mnist_cnn_curve.png\n");
        else { const char *why = nn_error(ctx); printf("(no PNG: %s)\n", why ? why : "?"); nn_clear_error(ctx); }
    }
    free(loss_curve); free(acc_curve);
    nn_dataloader_free(train_loader); nn_dataloader_free(test_loader);
    if (train_set != train_full) nn_dataset_free(train_set);
    if (test_set != test_full) nn_dataset_free(test_set);
    nn_dataset_free(train_full); nn_dataset_free(test_full);
    nn_optim_free(optimizer); nn_module_free(model);
    nn_dist_free(dist);
    nn_ctx_free(ctx);
    return 0;
}
