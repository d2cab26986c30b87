/* Training throughput and single-image inference latency of nn.h on synthetic data, the
   nn.h half of `make bench` (bench/torch_bench.py is the PyTorch half: same models, same
   work). Built with README's line: cc -std=c99 -O2 bench/train.c -o train -lm

   Usage: train {train|infer} {mlp|cnn28|cnn48} THREADS SECONDS [cpu|cuda]
     train: batch 64 of random inputs and labels (the speed does not depend on the values),
            Adam(lr 1e-3), cross-entropy, train mode (dropout on). A few warm-up steps
            (at least one, about a tenth of SECONDS), then steps until about SECONDS have
            passed (at least one). Prints: train nn <model> <threads> <threads used> <img/s>
     infer: one image per call, eval mode, grad disabled, nn_arena_reset after each call;
            warm-up, then calls for about SECONDS. Prints the median call time:
            infer nn <model> <threads> <threads used> <microseconds>
   Models:
     mlp    Linear(784, 128) -> ReLU -> Linear(128, 10), input (B, 784)
     cnn28  MY_NET of examples/mnist_cnn.c at 28x28x1 (conv 1->32->64, pool, conv 64->128,
            pool, dropout, fc1 6272->512, ReLU, dropout, fc2 512->10)
     cnn48  the seed's exact MY_NET at 48x48x3 (conv1 3->32, fc1 18432->512)
   On a GPU (the device argument cuda, in a build by nvcc with NN_CUDA: make build/bench/train_cuda,
   run by bench/gpu.sh): train mode only. The model moved with nn_module_to(model, NN_CUDA) before
   its optimizer is made, the one batch copied to the GPU once (nn_to); each step's nn_item(loss)
   waits for the GPU, as PyTorch's loss.item() does. Prints: train nn_cuda <model> <threads>
   <threads used> <img/s>. Exits 3, with nn_cuda_device_count's error, where no GPU is present
   (bench/gpu.sh then skips its table); 2 for cuda in a build without NN_CUDA or with infer.
   Data parallel: built with mpicc -DNN_MPI and run as mpirun -np N, train mode runs
   DistributedDataParallel, batch 64 on each rank (64 N in all), and also prints
       ddp nn <model> <ranks> <img/s, all ranks> <ms per step in nn_ddp_sync_grads>
   The step count is fixed by rank 0 from its warm-up, so every rank runs the same.
   Timings are for comparison on one machine, never assertions. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime under -std=c99 */
#define NN_IMPLEMENTATION
#include "../nn.h"
#ifdef NN_CUDA
#include "../nn_cuda.h"   /* the CUDA kernels: this file compiled by nvcc as CUDA C++ with NN_CUDA */
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>


static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* MLP 784-128-10 */
typedef struct { nn_module *fc1, *fc2; } mlp;

static nn_tensor *mlp_forward(nn_module *self, nn_tensor *x) {
    mlp *m = (mlp *)self->user;
    return nn_forward(m->fc2, nn_relu(nn_forward(m->fc1, x)));
}

static nn_module *mlp_new(nn_ctx *ctx, mlp *m) {
    nn_module *model = nn_module_new(ctx, "MLP", mlp_forward, m);
    m->fc1 = nn_module_add(model, "fc1", nn_linear_new(ctx, 784, 128, 1));
    m->fc2 = nn_module_add(model, "fc2", nn_linear_new(ctx, 128, 10, 1));
    return model;
}

/* MY_NET, exactly as examples/mnist_cnn.c builds it (dropout after the flatten and after fc1) */
typedef struct { nn_module *conv1, *conv2, *pool1, *conv3, *pool2, *fc1, *fc2, *dropout; } my_net;

static nn_tensor *my_net_forward(nn_module *self, nn_tensor *x) {
    my_net *n = (my_net *)self->user;
    x = nn_relu(nn_forward(n->conv1, x));
    x = nn_relu(nn_forward(n->conv2, x));
    x = nn_forward(n->pool1, x);
    x = nn_relu(nn_forward(n->conv3, x));
    x = nn_forward(n->pool2, x);
    x = nn_flatten(x, 1, -1);
    x = nn_forward(n->dropout, x);
    x = nn_relu(nn_forward(n->fc1, x));
    x = nn_forward(n->dropout, x);
    return nn_forward(n->fc2, x);
}

static nn_module *my_net_new(nn_ctx *ctx, my_net *n, int64_t in_channels, int64_t size) {
    nn_module *m = nn_module_new(ctx, "MY_NET", my_net_forward, n);
    nn_conv_opts pad1 = nn_conv_opts_default();
    nn_pool_opts pool = nn_pool_opts_default(2);
    pad1.padding = 1;
    n->conv1 = nn_module_add(m, "conv1", nn_conv2d_new(ctx, in_channels, 32, 3, pad1, 1));
    n->conv2 = nn_module_add(m, "conv2", nn_conv2d_new(ctx, 32, 64, 3, pad1, 1));
    n->pool1 = nn_module_add(m, "pool1", nn_max_pool2d_new(ctx, pool));
    n->conv3 = nn_module_add(m, "conv3", nn_conv2d_new(ctx, 64, 128, 3, pad1, 1));
    n->pool2 = nn_module_add(m, "pool2", nn_max_pool2d_new(ctx, pool));
    n->fc1 = nn_module_add(m, "fc1", nn_linear_new(ctx, 128 * (size / 4) * (size / 4), 512, 1));
    n->fc2 = nn_module_add(m, "fc2", nn_linear_new(ctx, 512, 10, 1));
    n->dropout = nn_module_add(m, "dropout", nn_dropout_new(ctx, 0.5f));
    return m;
}

static int fail(nn_ctx *ctx, const char *what) {
    const char *err = nn_error(ctx);
    fprintf(stderr, "train: %s: %s\n", what, err ? err : "failed");
    return 1;
}

int main(int argc, char **argv) {
    const char *mode, *model_name;
    int threads, used, infer;
    double seconds;
    nn_ctx *ctx;
    nn_module *model;
    mlp m;
    my_net n;
    int64_t xshape[4], yshape[1], k;
    int xdim, cuda = 0;
    nn_tensor *x, *y, *xs, *ys;   /* xs, ys: the batch on the device that trains (x, y on the CPU) */
    nn_dist *dist;

    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s {train|infer} {mlp|cnn28|cnn48} THREADS SECONDS [cpu|cuda]\n", argv[0]);
        return 2;
    }
    mode = argv[1]; model_name = argv[2];
    threads = atoi(argv[3]); seconds = atof(argv[4]);
    infer = strcmp(mode, "infer") == 0;
    if (argc == 6) {
        cuda = strcmp(argv[5], "cuda") == 0;
        if (!cuda && strcmp(argv[5], "cpu") != 0) { fprintf(stderr, "train: the device is cpu or cuda, not %s\n", argv[5]); return 2; }
    }
    if ((!infer && strcmp(mode, "train") != 0) || threads < 1 || !(seconds > 0)) {
        fprintf(stderr, "train: bad arguments\n");
        return 2;
    }
#ifndef NN_CUDA
    if (cuda) {
        fprintf(stderr, "train: this build has no CUDA backend; build it with nvcc and NN_CUDA (make build/bench/train_cuda)\n");
        return 2;
    }
#endif
    if (cuda && infer) {
        fprintf(stderr, "train: infer runs on the CPU only; cuda is for train\n");
        return 2;
    }

    ctx = nn_ctx_new();
    if (!ctx) { fprintf(stderr, "train: no context\n"); return 1; }
    used = nn_set_num_threads(ctx, threads);   /* torch.set_num_threads; returns the count in effect */
    nn_manual_seed(ctx, 0);
    dist = nn_dist_init(ctx, &argc, &argv);     /* rank 0 of 1 unless built with NN_MPI and run by mpirun */
    if (!dist) return fail(ctx, "nn_dist_init");
#ifdef NN_CUDA
    if (cuda) {
        if (nn_dist_world_size(dist) > 1) {
            fprintf(stderr, "train: cuda runs in one process (data parallel is on the CPU only)\n");
            return 2;
        }
        if (nn_cuda_device_count(ctx) < 1) {    /* 0 and an error where no GPU (or no driver) is present */
            const char *err = nn_error(ctx);
            fprintf(stderr, "train: %s\n", err ? err : "no CUDA GPU is present");
            return 3;
        }
    }
#endif

    /* the model and one batch of random data: B = 64 to train, 1 to infer */
    xshape[0] = infer ? 1 : 64;
    if (strcmp(model_name, "mlp") == 0) {
        model = mlp_new(ctx, &m);
        xshape[1] = 784; xdim = 2;
    } else if (strcmp(model_name, "cnn28") == 0 || strcmp(model_name, "cnn48") == 0) {
        int64_t c = model_name[3] == '2' ? 1 : 3, s = model_name[3] == '2' ? 28 : 48;
        model = my_net_new(ctx, &n, c, s);
        xshape[1] = c; xshape[2] = s; xshape[3] = s; xdim = 4;
    } else {
        fprintf(stderr, "train: unknown model %s\n", model_name);
        return 2;
    }
    yshape[0] = xshape[0];
    x = nn_randn(ctx, xdim, xshape);
    y = nn_zeros_dtype(ctx, 1, yshape, NN_INT64);
    if (!model || !x || !y || nn_error(ctx)) return fail(ctx, "setup");
    for (k = 0; k < yshape[0]; k++) nn_i64(y)[k] = k % 10;
    xs = x; ys = y;
    if (cuda) {
        /* model.to("cuda") before the optimizer is made; the batch copied to the GPU once
           (nn_to of a persistent tensor is persistent: it outlives nn_arena_reset) */
        if (!nn_module_to(model, NN_CUDA)) return fail(ctx, "nn_module_to(model, NN_CUDA)");
        xs = nn_to(x, NN_CUDA); ys = nn_to(y, NN_CUDA);
        if (!xs || !ys) return fail(ctx, "nn_to(batch, NN_CUDA)");
    }

    if (!infer) {
        nn_tensor *params[16];
        nn_adam_opts ao = nn_adam_opts_default();          /* Adam(lr=1e-3) */
        nn_cross_entropy_opts ce = nn_cross_entropy_opts_default();
        nn_optim *opt = nn_adam(params, nn_module_parameters(model, params, 16), ao);
        nn_ddp *ddp = cuda ? NULL : nn_ddp_new(dist, model, nn_ddp_opts_default());   /* cuda: one process, no DDP */
        double t0, elapsed = 0, loss_sum = 0, sync = 0, plan, world = nn_dist_world_size(dist);
        int step, steps = 0;
        if (!opt || (!ddp && !cuda)) return fail(ctx, "optimizer");
        nn_module_train(model, 1);
        /* one training step, as in README: zero_grad, forward, loss, backward, step, reset */
#define STEP() do { \
            nn_tensor *loss; \
            double s0; \
            nn_optim_zero_grad(opt); \
            loss = nn_cross_entropy(ddp ? nn_ddp_forward(ddp, xs) : nn_forward(model, xs), ys, ce); \
            nn_backward(loss, NULL, 0); \
            s0 = now(); \
            if (ddp) nn_ddp_sync_grads(ddp); \
            sync += now() - s0; \
            nn_optim_step(opt); \
            loss_sum += nn_item(loss); \
            nn_arena_reset(ctx); \
        } while (0)
        t0 = now();
        /* warm-up: one step, then as many as fill a tenth of SECONDS; each rank runs rank 0's
           counts (a step holds a collective: every rank must run the same number) */
        STEP();
        plan = nn_dist_rank(dist) == 0 ? 0.1 * seconds / (now() - t0) : 0.0;
        nn_dist_all_reduce_scalars(dist, &plan, 1, NN_REDUCE_MAX);
        t0 = now();
        for (step = 0; step < (int)plan + 1; step++) STEP();
        plan = nn_dist_rank(dist) == 0 ? 1.0 + seconds / ((now() - t0) / step) : 0.0;
        nn_dist_all_reduce_scalars(dist, &plan, 1, NN_REDUCE_MAX);   /* rank 0's count, on every rank */
        nn_dist_barrier(dist);
        sync = 0;
        t0 = now();
        while (steps < (int)plan) {
            STEP();
            steps++;
        }
        nn_dist_barrier(dist);
        elapsed = now() - t0;
#undef STEP
        if (nn_error(ctx)) return fail(ctx, "training step");
        if (nn_dist_rank(dist) == 0) {
            if (world > 1) printf("ddp nn %s %d %.1f %.3f\n", model_name, (int)world, world * steps * (double)xshape[0] / elapsed, 1e3 * sync / steps);
            else printf("train %s %s %d %d %.1f\n", cuda ? "nn_cuda" : "nn", model_name, threads, used, (double)steps * (double)xshape[0] / elapsed);
        }
        if (nn_dist_rank(dist) == 0) fprintf(stderr, "train %s %-6s threads %d: %d steps in %.2f s, %.1f img/s (mean loss %.3f)\n", cuda ? "nn_cuda" : "nn",
                model_name, threads, steps, elapsed, (double)steps * (double)xshape[0] / elapsed, loss_sum / (steps + step));
        nn_ddp_free(ddp);
        nn_optim_free(opt);
    } else {
        static double t[200000];
        int i, calls = 0;
        double t0;
        nn_module_eval(model);                              /* model.eval(): dropout off */
        nn_set_grad_enabled(ctx, 0);                        /* torch.no_grad() */
        t0 = now();
        for (i = 0; i < 10 || now() - t0 < 0.1 * seconds; i++) { nn_forward(model, x); nn_arena_reset(ctx); }
        t0 = now();
        while (calls < 200000 && (calls < 5 || now() - t0 < seconds)) {
            double a = now();
            nn_forward(model, x);
            nn_arena_reset(ctx);
            t[calls++] = now() - a;
        }
        if (nn_error(ctx)) return fail(ctx, "inference");
        qsort(t, (size_t)calls, sizeof t[0], cmp_double);
        printf("infer nn %s %d %d %.1f\n", model_name, threads, used, t[calls / 2] * 1e6);
        fprintf(stderr, "infer nn %-6s threads %d: %d calls, median %.1f us\n", model_name, threads, calls,
                t[calls / 2] * 1e6);
    }
    nn_module_free(model);
    if (xs != x) nn_free(xs);
    if (ys != y) nn_free(ys);
    nn_free(x); nn_free(y);
    nn_dist_free(dist);
    nn_ctx_free(ctx);
    return 0;
}
