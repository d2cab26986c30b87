/* nn.h's data parallel layer over MPI, run by make test-mpi as
       mpirun -np 2 build/test_mpi [data dir]
   (any number of ranks works; the equivalence case needs 2). Every rank runs every case;
   rank 0 prints, and the run fails when a case failed on any rank.
   Ends with "N passed, N failed". Two more modes show that a failing rank stops the job:
       test_mpi --die RANK       that rank exits at once; mpirun must end the others
*/
#include "harness.h"
#ifndef NN_MPI
#error "build with mpicc -DNN_MPI"
#endif

static nn_dist *g_d;
static int g_rank, g_size;
static const char *g_data = "data/fashion-mnist-sample";

/* a case passes only if it passed on every rank */
static void end_all(void) {
    int bad = g_case_failed;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (g_rank == 0) printf("%s %s\n", bad ? "FAIL" : "ok  ", g_case);
    if (bad) g_failed++;
    else g_passed++;
}

/* the same bits on every rank */
static int same_on_all(const void *p, size_t bytes) {
    uint64_t h = 0xcbf29ce484222325ULL, v[2];
    size_t i;
    for (i = 0; i < bytes; i++) { h ^= ((const unsigned char *)p)[i]; h *= 0x100000001b3ULL; }
    v[0] = h; v[1] = ~h;
    MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_BAND, MPI_COMM_WORLD);
    return v[0] == ~v[1];
}

static int module_same_on_all(nn_module *m) {
    const nn_state_entry *e;
    int n = nn_module_state(m, &e), k, ok = 1;
    for (k = 0; k < n; k++) ok &= same_on_all(e[k].tensor->data, (size_t)e[k].tensor->numel * (e[k].tensor->dtype == NN_INT64 ? 8 : 4));
    return ok;
}

/* three linear layers and a BatchNorm1d: 7 parameters, 3 buffers */
static nn_module *mlp_new(nn_ctx *ctx) {
    nn_module *l[5];
    l[0] = nn_linear_new(ctx, 6, 40, 1);
    l[1] = nn_batch_norm1d_new(ctx, 40, 1e-5f, 0.1f, 1);
    l[2] = nn_linear_new(ctx, 40, 30, 1);
    l[3] = nn_relu_new(ctx);
    l[4] = nn_linear_new(ctx, 30, 3, 0);
    return nn_sequential_new(ctx, l, 5);
}

static void test_collectives(nn_ctx *ctx) {
    int64_t shape[1] = { 5 };
    nn_tensor *f = nn_zeros(ctx, 1, shape), *i = nn_empty_dtype(ctx, 1, shape, NN_INT64);
    double v[3];
    int k;
    begin("collectives: all_reduce SUM/AVG/MAX/MIN over float32, int64 and doubles; broadcast from the last rank");
    for (k = 0; k < 5; k++) { nn_f32(f)[k] = (float)(g_rank + 1) * (float)(k + 1); nn_i64(i)[k] = (int64_t)g_rank * 1000000000000LL + k; }
    CHECK(nn_dist_all_reduce(g_d, f, NN_REDUCE_SUM), "SUM: %s", ERRS(ctx));
    for (k = 0; k < 5; k++) CHECK(nn_f32(f)[k] == (float)(g_size * (g_size + 1) / 2 * (k + 1)), "SUM[%d] = %g", k, nn_f32(f)[k]);
    CHECK(nn_dist_all_reduce(g_d, f, NN_REDUCE_AVG), "AVG: %s", ERRS(ctx));
    for (k = 0; k < 5; k++) CHECK(nn_f32(f)[k] == (float)(g_size * (g_size + 1) / 2 * (k + 1)), "AVG of equal values changed them: %g", nn_f32(f)[k]);
    CHECK(nn_dist_all_reduce(g_d, i, NN_REDUCE_MAX) && nn_i64(i)[2] == (int64_t)(g_size - 1) * 1000000000000LL + 2, "int64 MAX: %lld", (long long)nn_i64(i)[2]);
    CHECK(!nn_dist_all_reduce(g_d, i, NN_REDUCE_AVG) && strstr(ERRS(ctx), "AVG of an int64"), "int64 AVG: %s", ERRS(ctx));
    nn_clear_error(ctx);
    v[0] = g_rank; v[1] = 1; v[2] = -g_rank;
    CHECK(nn_dist_all_reduce_scalars(g_d, v, 3, NN_REDUCE_SUM) && v[0] == g_size * (g_size - 1) / 2 && v[1] == g_size, "scalar SUM");
    v[0] = g_rank;
    CHECK(nn_dist_all_reduce_scalars(g_d, v, 1, NN_REDUCE_MIN) && v[0] == 0, "scalar MIN");
    for (k = 0; k < 5; k++) nn_f32(f)[k] = (float)g_rank + 0.25f * (float)k;
    CHECK(nn_dist_broadcast(g_d, f, g_size - 1) && nn_f32(f)[3] == (float)(g_size - 1) + 0.75f, "broadcast: %g", nn_f32(f)[3]);
    CHECK(nn_dist_barrier(g_d), "barrier: %s", ERRS(ctx));
    end_all();

    begin("collectives: ranks that disagree on a tensor's size, or one rank's bad argument, give an error on every rank, not a hang");
    {
        int64_t s2[1] = { 4 + g_rank % 2 };
        nn_tensor *t = nn_zeros(ctx, 1, s2);
        int ok = nn_dist_all_reduce(g_d, t, NN_REDUCE_SUM);
        if (g_size > 1) CHECK(!ok && strstr(ERRS(ctx), "the ranks disagree on t's shape or dtype"), "sizes 4 and 5: %s", ERRS(ctx));
        nn_clear_error(ctx);
        ok = nn_dist_broadcast(g_d, g_rank == g_size - 1 ? NULL : f, 0);   /* the last rank's argument is bad */
        CHECK(!ok, "a broadcast with a NULL on rank %d passed", g_size - 1);
        if (g_rank != g_size - 1) CHECK(strstr(ERRS(ctx), "failed: nn_dist_broadcast: t is NULL"), "rank %d: %s", g_rank, ERRS(ctx));
        nn_clear_error(ctx);
        nn_free(t);
    }
    end_all();
    nn_free(f); nn_free(i);
}

static void test_broadcast_and_buffers(nn_ctx *ctx) {
    nn_module *m;
    nn_ddp *ddp;
    nn_tensor *w, *rm, *x;
    float w0[240];
    int64_t xs[2] = { 8, 6 };
    begin("nn_ddp_new: every rank starts from rank 0's weights (seeded differently per rank)");
    nn_manual_seed(ctx, 100 + (uint64_t)g_rank);
    m = mlp_new(ctx);
    w = nn_module_parameter(m, "0.weight");
    memcpy(w0, nn_f32(w), sizeof w0);
    MPI_Bcast(w0, 240, MPI_FLOAT, 0, MPI_COMM_WORLD);          /* rank 0's values, by hand */
    CHECK(g_size == 1 || !module_same_on_all(m), "the ranks started equal: the test cannot fail");
    ddp = nn_ddp_new(g_d, m, nn_ddp_opts_default());
    CHECK(ddp, "nn_ddp_new: %s", ERRS(ctx));
    CHECK(module_same_on_all(m), "parameters and buffers differ after nn_ddp_new");
    CHECK(memcmp(w0, nn_f32(w), sizeof w0) == 0, "the weights are not rank 0's");
    end_all();

    begin("nn_ddp_forward: the buffers (BatchNorm's running stats) are rank 0's before each forward, in training and in eval");
    rm = nn_module_buffer(m, "1.running_mean");
    nn_f32(rm)[0] = (float)g_rank;                               /* the ranks' stats drift apart */
    nn_manual_seed(ctx, 7 + (uint64_t)g_rank);
    x = nn_randn(ctx, 2, xs);
    CHECK(nn_ddp_forward(ddp, x), "forward: %s", ERRS(ctx));
    /* after the broadcast, each rank's forward moved the stats by its own batch: undo that by hand
       (running = 0.9 old + 0.1 batch mean) and the old value must be rank 0's, 0 */
    {
        double mean = 0, old;
        int64_t b;
        nn_tensor *h = nn_forward(nn_module_child(m, "0"), x);
        for (b = 0; b < 8; b++) mean += nn_f32(h)[b * 40];
        mean /= 8;
        old = ((double)nn_f32(rm)[0] - 0.1 * mean) / 0.9;
        CHECK(fabs(old) < 1e-5, "rank %d: running_mean[0] before the forward was %g, not rank 0's 0", g_rank, old);
    }
    nn_module_eval(m);                                           /* eval: the stats stay as the broadcast left them */
    nn_f32(rm)[0] = (float)g_rank + 0.5f;
    NN_NO_GRAD(ctx) { CHECK(nn_ddp_forward(ddp, x), "eval forward"); }
    CHECK(nn_f32(rm)[0] == 0.5f, "rank %d: after an eval forward running_mean[0] is %g, not rank 0's 0.5", g_rank, nn_f32(rm)[0]);
    nn_arena_reset(ctx);
    nn_free(x);
    nn_ddp_free(ddp);
    end_all();

    begin("nn_ddp_new: ranks with different options, or a float16 buffer, get an error on every rank");
    {
        nn_ddp_opts o = nn_ddp_opts_default();
        int64_t two = 2;
        nn_tensor *h = nn_empty_dtype(ctx, 1, &two, NN_FLOAT16);   /* a tensor of yours */
        o.bucket_cap_mb = g_rank == 0 ? 25.0 : 1.0;
        ddp = nn_ddp_new(g_d, m, o);
        if (g_size > 1) CHECK(!ddp && strstr(ERRS(ctx), "the ranks disagree on bucket_cap_mb or broadcast_buffers"), "options: %s", ERRS(ctx));
        nn_ddp_free(ddp);
        nn_clear_error(ctx);
        CHECK(h && nn_module_register_buffer(nn_module_child(m, "1"), "half", h), "a float16 buffer: %s", ERRS(ctx));
        ddp = nn_ddp_new(g_d, m, nn_ddp_opts_default());
        CHECK(!ddp && strstr(ERRS(ctx), "it must be contiguous float32 or int64"), "float16 buffer: %s", ERRS(ctx));
        nn_ddp_free(ddp);
        nn_free(h);
        nn_clear_error(ctx);
        nn_arena_reset(ctx);
    }
    nn_module_free(m);
    end_all();
}

/* each rank's gradients, known to every rank: N(0, 1) from seed 1000 + rank */
static void fill_grads(nn_ctx *ctx, nn_tensor **ps, int n, int rank, float *out) {
    int k;
    int64_t j, o = 0;
    nn_manual_seed(ctx, 1000 + (uint64_t)rank);
    for (k = 0; k < n; k++) {
        nn_tensor *r = nn_randn(ctx, ps[k]->ndim, ps[k]->shape);
        for (j = 0; j < ps[k]->numel; j++) out[o++] = nn_f32(r)[j];
        nn_free(r);
    }
}

static void test_grad_all_reduce(nn_ctx *ctx) {
    nn_module *m;
    nn_ddp *ddp;
    nn_ddp_opts o = nn_ddp_opts_default();
    nn_tensor *ps[8];
    float *mine, *other, *want;
    int n, k, r;
    int64_t j, off, total = 0;
    begin("nn_ddp_sync_grads: several buckets, each grad the exact serial sum over ranks / N (bit for bit)");
    nn_manual_seed(ctx, 5);
    m = mlp_new(ctx);
    n = nn_module_parameters(m, ps, 8);
    for (k = 0; k < n; k++) total += ps[k]->numel;
    o.bucket_cap_mb = 4000.0 / 1048576.0;                        /* 4000 bytes: 1000 floats a bucket */
    ddp = nn_ddp_new(g_d, m, o);
    CHECK(ddp && nn_ddp_num_buckets(ddp) >= 3, "%d buckets (%s)", nn_ddp_num_buckets(ddp), ERRS(ctx));
    mine = (float *)malloc((size_t)total * 4); other = (float *)malloc((size_t)total * 4); want = (float *)calloc((size_t)total, 4);
    for (r = 0; r < g_size; r++) {                               /* the serial sum, in rank order */
        fill_grads(ctx, ps, n, r, other);
        for (j = 0; j < total; j++) want[j] += other[j];
    }
    for (j = 0; j < total; j++) want[j] /= (float)g_size;
    fill_grads(ctx, ps, n, g_rank, mine);
    {   /* give every parameter a grad: a backward through all of them, then overwrite */
        int64_t xs[2] = { 4, 6 };
        nn_tensor *x = nn_randn(ctx, 2, xs);
        nn_backward(nn_sum(nn_forward(m, x), NN_ALL, 0), NULL, 0);
        nn_arena_reset(ctx);
        nn_free(x);
    }
    for (k = 0, off = 0; k < n; k++) { memcpy(nn_f32(ps[k]->grad), mine + off, (size_t)ps[k]->numel * 4); off += ps[k]->numel; }
    CHECK(nn_ddp_sync_grads(ddp), "sync: %s", ERRS(ctx));
    for (k = 0, off = 0; k < n && !g_case_failed; k++) {
        CHECK(memcmp(nn_f32(ps[k]->grad), want + off, (size_t)ps[k]->numel * 4) == 0, "parameter %d differs from the serial sum (first: %.9g vs %.9g)",
              k, nn_f32(ps[k]->grad)[0], want[off]);
        off += ps[k]->numel;
    }
    end_all();

    begin("nn_ddp_sync_grads: a parameter with a grad on rank 0 only gets rank 0's / N everywhere");
    off = 0;
    for (k = 0; k < n - 1; k++) off += ps[k]->numel;
    if (g_rank != 0) { nn_free(ps[n - 1]->grad); ps[n - 1]->grad = NULL; }     /* p.grad = None */
    else memcpy(nn_f32(ps[n - 1]->grad), mine + off, (size_t)ps[n - 1]->numel * 4);
    CHECK(ps[n - 1]->numel == 90, "the last parameter has %lld elements", (long long)ps[n - 1]->numel);
    {
        float want0[90];
        memcpy(want0, mine + off, sizeof want0);
        MPI_Bcast(want0, 90, MPI_FLOAT, 0, MPI_COMM_WORLD);
        CHECK(nn_ddp_sync_grads(ddp), "sync: %s", ERRS(ctx));
        CHECK(ps[n - 1]->grad && nn_f32(ps[n - 1]->grad)[7] == want0[7] / (float)g_size, "got %g, expected %g",
              ps[n - 1]->grad ? nn_f32(ps[n - 1]->grad)[7] : -1.0f, want0[7] / (float)g_size);
    }
    end_all();

    begin("nn_ddp_sync_grads: a rank whose step failed makes every rank fail with its message, and no grad changes");
    {
        float g0 = nn_f32(ps[0]->grad)[0];
        int64_t bad[2] = { 2, 3 };
        nn_tensor *a = nn_zeros(ctx, 2, bad);
        if (g_rank == g_size - 1) CHECK(!nn_matmul(a, a), "a bad matmul passed");
        CHECK(!nn_ddp_sync_grads(ddp), "the sync passed");
        CHECK(g_size == 1 || strstr(ERRS(ctx), "nn_matmul"), "rank %d's error: %s", g_rank, ERRS(ctx));
        if (g_rank != g_size - 1) CHECK(strstr(ERRS(ctx), "failed: nn_matmul"), "rank %d: %s", g_rank, ERRS(ctx));
        CHECK(nn_f32(ps[0]->grad)[0] == g0, "a grad changed");
        nn_clear_error(ctx);
        nn_arena_reset(ctx);
        nn_free(a);
    }
    end_all();
    free(mine); free(other); free(want);
    nn_ddp_free(ddp);
    nn_module_free(m);
}

static void test_failing_rank(nn_ctx *ctx) {
    char p1[512], p2[512];
    nn_dataset *d;
    begin("nn_dist_check: a bad file on the last rank stops every rank with that rank's message");
    snprintf(p1, sizeof p1, "%s/%s", g_data, g_rank == g_size - 1 ? "no-such-file" : "train-images-idx3-ubyte");
    snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte", g_data);
    d = nn_mnist(ctx, p1, p2);
    if (g_size > 1) {
        char want[64];
        snprintf(want, sizeof want, "rank %d of %d failed: nn_mnist", g_size - 1, g_size);
        CHECK(!nn_dist_check(g_d, d != NULL), "the check passed");
        CHECK(g_rank == g_size - 1 || strstr(ERRS(ctx), want), "rank %d: %s", g_rank, ERRS(ctx));
        CHECK(strstr(ERRS(ctx), "no-such-file"), "rank %d: the message does not name the file: %s", g_rank, ERRS(ctx));
    }
    nn_clear_error(ctx);
    CHECK(nn_dist_check(g_d, 1), "a check where all went well failed");
    nn_dataset_free(d);
    end_all();
}

/* a conv net without dropout or BatchNorm (whose batch statistics are per rank, as in PyTorch) */
typedef struct { nn_module *conv, *pool, *fc; } small_cnn;
static nn_tensor *small_cnn_forward(nn_module *self, nn_tensor *x) {
    small_cnn *n = (small_cnn *)self->user;
    x = nn_forward(n->pool, nn_relu(nn_forward(n->conv, x)));
    return nn_forward(n->fc, nn_flatten(x, 1, -1));
}
static nn_module *small_cnn_new(nn_ctx *ctx, small_cnn *n) {
    nn_module *m = nn_module_new(ctx, "SmallCNN", small_cnn_forward, n);
    nn_conv_opts c = nn_conv_opts_default();
    c.padding = 1;
    n->conv = nn_module_add(m, "conv", nn_conv2d_new(ctx, 1, 8, 3, c, 1));
    n->pool = nn_module_add(m, "pool", nn_max_pool2d_new(ctx, nn_pool_opts_default(2)));
    n->fc = nn_module_add(m, "fc", nn_linear_new(ctx, 8 * 14 * 14, 10, 1));
    return m;
}

/* steps of Adam on batches from loader, into the next epoch at an epoch's end; ddp NULL: a plain process */
static void train(nn_ctx *ctx, nn_module *m, nn_ddp *ddp, nn_optim *opt, nn_dataloader *dl, int steps) {
    int s;
    for (s = 0; s < steps; s++) {
        nn_tensor *x, *y, *loss;
        if (!nn_dataloader_next(dl, &x, &y) && !nn_dataloader_next(dl, &x, &y)) { CHECK(0, "no batch at step %d: %s", s, ERRS(ctx)); return; }
        loss = nn_cross_entropy(ddp ? nn_ddp_forward(ddp, x) : nn_forward(m, x), y, nn_cross_entropy_opts_default());
        nn_optim_zero_grad(opt);
        nn_backward(loss, NULL, 0);
        if (ddp) CHECK(nn_ddp_sync_grads(ddp), "sync at step %d: %s", s, ERRS(ctx));
        nn_optim_step(opt);
        CHECK(!nn_error(ctx), "step %d: %s", s, ERRS(ctx));
        nn_arena_reset(ctx);
    }
}

static void test_equivalence(nn_ctx *ctx) {
    char p1[512], p2[512];
    nn_dataset *d;
    nn_dataloader_opts lo = nn_dataloader_opts_default();
    nn_adam_opts ao = nn_adam_opts_default();
    small_cnn net, ref_net;
    nn_module *m, *ref = NULL;
    nn_ddp *ddp;
    nn_dataloader *dl, *ref_dl = NULL;
    nn_optim *opt, *ref_opt = NULL;
    nn_tensor *ps[4], *rps[4];
    int n, k, steps = 60;
    double worst = 0, scale = 0;
    if (g_size != 2) { if (g_rank == 0) printf("skipped: 2 ranks x 32 against 1 x 64 needs 2 ranks, got %d\n", g_size); return; }
    begin("2 ranks x batch 32 train as 1 process x batch 64: Adam, 60 steps over 2 epochs (a last batch of 56), weights within 1e-6 of the largest");
    snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte", g_data);
    snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte", g_data);
    d = nn_mnist(ctx, p1, p2);
    if (!nn_dist_check(g_d, d != NULL)) { CHECK(0, "data: %s", ERRS(ctx)); end_all(); return; }
    lo.batch_size = 32; lo.shuffle = 1; lo.seed = 11; lo.num_replicas = g_size; lo.rank = g_rank;
    dl = nn_dataloader_new(d, lo);
    ao.lr = 1e-3;
    nn_manual_seed(ctx, 3);
    m = small_cnn_new(ctx, &net);
    ddp = nn_ddp_new(g_d, m, nn_ddp_opts_default());
    n = nn_module_parameters(m, ps, 4);
    opt = nn_adam(ps, n, ao);
    if (g_rank == 0) {          /* the reference: one process, batch 64, the same seeds */
        nn_dataloader_opts ro = lo;
        ro.batch_size = 64; ro.num_replicas = 1; ro.rank = 0;
        ref_dl = nn_dataloader_new(d, ro);
        nn_manual_seed(ctx, 3);
        ref = small_cnn_new(ctx, &ref_net);
        nn_module_parameters(ref, rps, 4);
        ref_opt = nn_adam(rps, n, ao);
    }
    CHECK(dl && ddp && opt && (g_rank || (ref_dl && ref_opt)), "setup: %s", ERRS(ctx));
    if (!g_case_failed) {
        train(ctx, m, ddp, opt, dl, steps);
        if (g_rank == 0) {
            int64_t j;
            train(ctx, ref, NULL, ref_opt, ref_dl, steps);
            for (k = 0; k < n; k++) for (j = 0; j < ps[k]->numel; j++) {
                double e = fabs((double)nn_f32(ps[k])[j] - (double)nn_f32(rps[k])[j]);
                if (e > worst) worst = e;
                if (fabs((double)nn_f32(rps[k])[j]) > scale) scale = fabs((double)nn_f32(rps[k])[j]);
            }
            printf("  2 x 32 vs 1 x 64 after %d Adam steps: largest weight difference %.3g (largest weight %.3g, ratio %.3g)\n",
                   steps, worst, scale, worst / scale);
            CHECK(worst <= 1e-6 * scale, "weights differ by %.3g (largest weight %.3g)", worst, scale);
        }
        CHECK(module_same_on_all(m), "the ranks' weights drifted apart");
    }
    nn_ddp_free(ddp); nn_optim_free(opt); nn_module_free(m); nn_dataloader_free(dl);
    if (g_rank == 0) { nn_optim_free(ref_opt); nn_module_free(ref); nn_dataloader_free(ref_dl); }
    nn_dataset_free(d);
    end_all();
}

static void test_checkpoints(nn_ctx *ctx) {
    nn_module *m;
    nn_ddp *ddp;
    nn_checkpoint ck = nn_checkpoint_default();
    const char *path = "build/test_mpi_ck.safetensors";
    float w;
    begin("checkpoints: rank 0 saves, every rank loads the same weights; a missing file fails on every rank");
    nn_manual_seed(ctx, 9);
    m = mlp_new(ctx);
    ddp = nn_ddp_new(g_d, m, nn_ddp_opts_default());
    ck.model = m; ck.epoch = 4;
    CHECK(nn_dist_save_checkpoint(g_d, &ck, path), "save: %s", ERRS(ctx));
    w = nn_f32(nn_module_parameter(m, "2.weight"))[3];
    nn_f32(nn_module_parameter(m, "2.weight"))[3] = (float)(g_rank + 17);
    ck.epoch = 0;
    CHECK(nn_dist_load_checkpoint(g_d, &ck, path), "load: %s", ERRS(ctx));
    CHECK(ck.epoch == 4 && nn_f32(nn_module_parameter(m, "2.weight"))[3] == w, "rank %d did not load rank 0's file", g_rank);
    CHECK(module_same_on_all(m), "the ranks differ after loading");
    CHECK(!nn_dist_load_checkpoint(g_d, &ck, "build/no-such-checkpoint.safetensors"), "a missing file loaded");
    nn_clear_error(ctx);
    if (g_rank == 0) remove(path);
    nn_ddp_free(ddp); nn_module_free(m);
    end_all();
}

int main(int argc, char **argv) {
    nn_ctx *ctx = nn_ctx_new();
    int k, bad;
    (void)selected; (void)compare; (void)end;    /* the harness's single-process helpers */
    g_d = nn_dist_init(ctx, &argc, &argv);
    if (!g_d) { fprintf(stderr, "nn_dist_init: %s\n", ERRS(ctx)); return 1; }
    g_rank = nn_dist_rank(g_d); g_size = nn_dist_world_size(g_d);
    for (k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--die") && k + 1 < argc) {   /* one rank dies; the others wait in a barrier */
            if (g_rank == atoi(argv[k + 1])) { fprintf(stderr, "rank %d: exiting with status 3\n", g_rank); exit(3); }
            nn_dist_barrier(g_d);
            printf("rank %d: the barrier returned\n", g_rank);
            nn_dist_free(g_d); nn_ctx_free(ctx);
            return 0;
        }
        g_data = argv[k];
    }
    nn_set_logger(ctx, capture_log, NULL);
    if (g_rank == 0) printf("test_mpi: %d ranks\n", g_size);
    test_collectives(ctx);
    test_broadcast_and_buffers(ctx);
    test_grad_all_reduce(ctx);
    test_failing_rank(ctx);
    test_equivalence(ctx);
    test_checkpoints(ctx);
    nn_dist_free(g_d);
    nn_ctx_free(ctx);
    bad = g_mallocs != g_frees;
    if (bad) printf("FAIL rank %d: %ld allocations never freed\n", g_rank, g_mallocs - g_frees);
    else g_passed += g_rank == 0;
    if (g_rank == 0) printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed || bad ? 1 : 0;
}
