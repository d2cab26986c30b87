/* Data parallel pieces that run in one process: the DataLoader's DistributedSampler shards
   (checked against PyTorch's index lists), their checkpoints across rank counts, and the
   distributed API as a world of one (nn.h built without NN_MPI). The MPI runs themselves
   are tests/test_mpi.c (make test-mpi). */

/* sample i is x = (i), label i */
static int dist_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    (void)user; (void)y;
    x[0] = (float)i; *label = i;
    return 1;
}

/* one epoch of rank r's loader: the sample indices in order, returns how many */
static int64_t dist_epoch(nn_dataloader *dl, int64_t *out, int64_t max) {
    nn_tensor *x, *y;
    int64_t n = 0, i;
    while (nn_dataloader_next(dl, &x, &y))
        for (i = 0; i < y->numel; i++) { if (n < max) out[n] = nn_i64(y)[i]; n++; }
    return n;
}

static nn_dataloader *dist_loader(nn_dataset *d, int64_t batch, int shuffle, int replicas, int rank, int drop) {
    nn_dataloader_opts o = nn_dataloader_opts_default();
    o.batch_size = batch; o.shuffle = shuffle; o.seed = 7;
    o.num_replicas = replicas; o.rank = rank; o.sampler_drop_last = drop;
    return nn_dataloader_new(d, o);
}

static void test_distributed_sampler(nn_ctx *ctx) {
    /* DistributedSampler(range(n), num_replicas=R, rank=r, shuffle=False, drop_last=dl), from PyTorch 1.13 */
    static const struct { int n, R, drop; int64_t want[4][4]; int len; } cases[] = {
        { 10, 3, 0, { { 0, 3, 6, 9 }, { 1, 4, 7, 0 }, { 2, 5, 8, 1 } }, 4 },
        { 10, 3, 1, { { 0, 3, 6 }, { 1, 4, 7 }, { 2, 5, 8 } }, 3 },
        { 10, 4, 0, { { 0, 4, 8 }, { 1, 5, 9 }, { 2, 6, 0 }, { 3, 7, 1 } }, 3 },
        { 2, 3, 0, { { 0 }, { 1 }, { 0 } }, 1 },
        { 7, 2, 1, { { 0, 2, 4 }, { 1, 3, 5 } }, 3 },
        { 12, 3, 0, { { 0, 3, 6, 9 }, { 1, 4, 7, 10 }, { 2, 5, 8, 11 } }, 4 },
    };
    int64_t one = 1, got[64], seen[40];
    size_t c;
    int r, k;
    begin("DistributedSampler shards (shuffle off): each rank's indices as PyTorch's, padding and drop_last included");
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nn_dataset *d = nn_dataset_new(ctx, cases[c].n, 1, &one, 0, dist_get, NULL, NULL);
        for (r = 0; r < cases[c].R; r++) {
            nn_dataloader *dl = dist_loader(d, 2, 0, cases[c].R, r, cases[c].drop);
            int64_t n = dl ? dist_epoch(dl, got, 64) : -1;
            CHECK(n == cases[c].len, "n=%d R=%d drop=%d rank %d: %lld samples, expected %d (%s)", cases[c].n, cases[c].R,
                  cases[c].drop, r, (long long)n, cases[c].len, ERRS(ctx));
            CHECK(nn_dataloader_len(dl) == (cases[c].len + 1) / 2, "len() is %lld", (long long)nn_dataloader_len(dl));
            for (k = 0; k < cases[c].len && n == cases[c].len; k++)
                CHECK(got[k] == cases[c].want[r][k], "n=%d R=%d drop=%d rank %d sample %d: %lld, expected %lld", cases[c].n,
                      cases[c].R, cases[c].drop, r, k, (long long)got[k], (long long)cases[c].want[r][k]);
            nn_dataloader_free(dl);
        }
        nn_dataset_free(d);
    }
    end();

    begin("DistributedSampler shards (shuffled): the same order on every rank, disjoint shards covering every sample, a new order each epoch");
    {
        nn_dataset *d = nn_dataset_new(ctx, 37, 1, &one, 0, dist_get, NULL, NULL);
        nn_dataloader *full = dist_loader(d, 6, 1, 1, 0, 0), *rk[3];
        int64_t order[2][40], shard[3][2][16], e;
        for (r = 0; r < 3; r++) rk[r] = dist_loader(d, 4, 1, 3, r, 0);
        for (e = 0; e < 2; e++) {
            CHECK(dist_epoch(full, order[e], 40) == 37, "the one-rank loader's epoch");
            for (r = 0; r < 3; r++) CHECK(dist_epoch(rk[r], shard[r][e], 16) == 13, "rank %d: not 13 samples (ceil(37 / 3))", r);
            memset(seen, 0, sizeof seen);
            for (r = 0; r < 3; r++) for (k = 0; k < 13; k++) {
                int64_t j = (r + 3 * k) % 37;
                CHECK(shard[r][e][k] == order[e][j], "epoch %lld rank %d sample %d is %lld; the shared order has %lld there",
                      (long long)e, r, k, (long long)shard[r][e][k], (long long)order[e][j]);
                seen[shard[r][e][k]]++;
            }
            for (k = 0; k < 37; k++) CHECK(seen[k] == 1 + (k == order[e][0] || k == order[e][1]), "sample %d seen %lld times", k, (long long)seen[k]);
        }
        CHECK(memcmp(order[0], order[1], sizeof order[0]) != 0, "epoch 2 has epoch 1's order");
        for (r = 0; r < 3; r++) nn_dataloader_free(rk[r]);
        nn_dataloader_free(full);
        nn_dataset_free(d);
    }
    end();

    begin("DistributedSampler options: a bad num_replicas, rank or sampler_drop_last is refused by name");
    {
        nn_dataset *d = nn_dataset_new(ctx, 5, 1, &one, 0, dist_get, NULL, NULL);
        nn_dataloader *dl;
        dl = dist_loader(d, 2, 0, 0, 0, 0);
        CHECK(!dl && strstr(ERRS(ctx), "num_replicas is 0"), "num_replicas 0: %s", ERRS(ctx));
        nn_clear_error(ctx);
        dl = dist_loader(d, 2, 0, 2, 2, 0);
        CHECK(!dl && strstr(ERRS(ctx), "rank is 2; it must be in [0, 1]"), "rank 2 of 2: %s", ERRS(ctx));
        nn_clear_error(ctx);
        dl = dist_loader(d, 2, 0, 2, -1, 0);
        CHECK(!dl && strstr(ERRS(ctx), "rank is -1"), "rank -1: %s", ERRS(ctx));
        nn_clear_error(ctx);
        dl = dist_loader(d, 2, 0, 2, 0, 2);
        CHECK(!dl && strstr(ERRS(ctx), "sampler_drop_last is 2"), "sampler_drop_last 2: %s", ERRS(ctx));
        nn_clear_error(ctx);
        dl = dist_loader(d, 2, 0, 8, 0, 1);
        CHECK(!dl && strstr(ERRS(ctx), "leave each rank none"), "5 samples, 8 replicas, drop_last: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_dataset_free(d);
    }
    end();

    begin("DistributedSampler checkpoint: saved on 2 ranks mid-epoch, resumed on 1 and on 3, no sample skipped");
    {
        /* 2 ranks took 3 batches of 4: the first 24 samples of the order; one rank goes on at the 25th,
           three ranks at the 8th sample each (24 / 3) */
        nn_dataset *d = nn_dataset_new(ctx, 50, 1, &one, 0, dist_get, NULL, NULL);
        nn_dataloader *two = dist_loader(d, 4, 1, 2, 0, 0), *ref = dist_loader(d, 50, 1, 1, 0, 0);
        nn_dataloader *onel = dist_loader(d, 4, 1, 1, 0, 0), *three = dist_loader(d, 4, 1, 3, 1, 0);
        nn_checkpoint ck = nn_checkpoint_default();
        nn_tensor *x, *y;
        int64_t order[50];
        const char *path = "test_dist_ck.safetensors";
        nn_module *lin = nn_linear_new(ctx, 1, 1, 1);     /* a checkpoint holds a model */
        ck.model = lin;
        CHECK(dist_epoch(ref, order, 50) == 50, "reference epoch");
        for (k = 0; k < 3; k++) CHECK(nn_dataloader_next(two, &x, &y), "batch %d", k);
        ck.loader = two;
        CHECK(nn_save_checkpoint(&ck, path), "save: %s", ERRS(ctx));
        ck.loader = onel;
        CHECK(nn_load_checkpoint(&ck, path), "load on 1 rank: %s", ERRS(ctx));
        CHECK(nn_dataloader_next(onel, &x, &y) && nn_i64(y)[0] == order[24] && nn_i64(y)[3] == order[27],
              "1 rank resumes at %lld, expected order[24] = %lld", (long long)nn_i64(y)[0], (long long)order[24]);
        ck.loader = three;
        CHECK(nn_load_checkpoint(&ck, path), "load on 3 ranks: %s", ERRS(ctx));
        CHECK(nn_dataloader_next(three, &x, &y) && nn_i64(y)[0] == order[1 + 3 * 8], "rank 1 of 3 resumes at %lld, expected order[25] = %lld",
              (long long)nn_i64(y)[0], (long long)order[25]);
        remove(path);
        nn_module_free(lin);
        nn_dataloader_free(two); nn_dataloader_free(ref); nn_dataloader_free(onel); nn_dataloader_free(three);
        nn_dataset_free(d);
    }
    end();
}

/* a 1 x 1 x 4 image per sample: 10 i + k */
static int dist_img_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    int k;
    (void)user; (void)y;
    for (k = 0; k < 4; k++) x[k] = (float)(10 * i + k);
    *label = i;
    return 1;
}

/* rank r of 2 with a random flip: nb batches of 4 into out (4 floats a sample) */
static void dist_flip_batches(nn_dataloader *dl, int nb, float *out) {
    nn_tensor *x, *y;
    int b;
    for (b = 0; b < nb; b++) {
        if (!nn_dataloader_next(dl, &x, &y) && !nn_dataloader_next(dl, &x, &y)) return;
        memcpy(out + 16 * b, nn_f32(x), (size_t)x->numel * sizeof(float));
    }
}

static void test_distributed_transforms(nn_ctx *ctx) {
    int64_t shape[3] = { 1, 1, 4 };
    nn_dataset *d = nn_dataset_new(ctx, 40, 3, shape, 0, dist_img_get, NULL, NULL);
    nn_transform flip[1];
    nn_dataloader_opts o = nn_dataloader_opts_default();
    nn_dataloader *r0, *r1, *a, *b;
    nn_checkpoint ck = nn_checkpoint_default();
    nn_module *lin = nn_linear_new(ctx, 1, 1, 1);
    float f0[16 * 8], f1[16 * 8], g[16 * 8];
    int flipped = 0, k;
    begin("DistributedSampler with random transforms: each rank draws its own; resumed mid-epoch, the same draws");
    flip[0] = nn_random_horizontal_flip(0.5f);
    o.batch_size = 4; o.shuffle = 1; o.seed = 5; o.transforms = flip; o.ntransforms = 1; o.num_replicas = 2;
    o.rank = 0; r0 = nn_dataloader_new(d, o);
    o.rank = 1; r1 = nn_dataloader_new(d, o); a = nn_dataloader_new(d, o); b = nn_dataloader_new(d, o);
    memset(f0, 0, sizeof f0); memset(f1, 0, sizeof f1); memset(g, 0, sizeof g);
    dist_flip_batches(r0, 8, f0);
    dist_flip_batches(r1, 8, f1);          /* 8 batches: epoch 1 (5 batches) and 3 of epoch 2 */
    for (k = 0; k < 32 * 4; k += 4) {
        CHECK(fabsf(f1[k] - f1[k + 3]) == 3.0f, "sample %d is not an image of the dataset", k / 4);
        flipped += f1[k] > f1[k + 3];
    }
    CHECK(flipped > 4 && flipped < 28, "rank 1 flipped %d of 32 images", flipped);
    {   /* the ranks' samples differ, so compare the flip decisions of rank 0 and rank 1 */
        int same = 0;
        for (k = 0; k < 32 * 4; k += 4) same += (f0[k] > f0[k + 3]) == (f1[k] > f1[k + 3]);
        CHECK(same < 32, "rank 0 and rank 1 flipped alike, sample by sample");
    }
    dist_flip_batches(a, 6, g);            /* stop after 6 batches (epoch 2, batch 1), save, resume in b */
    ck.model = lin; ck.loader = a;
    CHECK(nn_save_checkpoint(&ck, "test_dist_flip.safetensors"), "save: %s", ERRS(ctx));
    ck.loader = b;
    CHECK(nn_load_checkpoint(&ck, "test_dist_flip.safetensors"), "load: %s", ERRS(ctx));
    dist_flip_batches(b, 2, g + 16 * 6);
    CHECK(memcmp(g, f1, sizeof(float) * 16 * 8) == 0, "the resumed batches differ from the uninterrupted ones");
    remove("test_dist_flip.safetensors");
    nn_dataloader_free(r0); nn_dataloader_free(r1); nn_dataloader_free(a); nn_dataloader_free(b);
    nn_module_free(lin);
    nn_dataset_free(d);
    end();
}

/* nn.h without NN_MPI: the distributed calls give a world of one process */
static void test_dist_world_of_one(nn_ctx *ctx) {
#ifndef NN_MPI
    nn_dist *d;
    nn_ddp *ddp;
    nn_module *lin;
    nn_tensor *x, *w, *out, *p[2];
    int64_t shape[2] = { 3, 4 };
    double v[2] = { 1.5, -2.0 };
    float before[12];
    begin("distributed, built without NN_MPI: rank 0 of 1; collectives leave the data; DDP is the module itself");
    d = nn_dist_init(ctx, NULL, NULL);
    CHECK(d && nn_dist_rank(d) == 0 && nn_dist_world_size(d) == 1, "world of one: %s", ERRS(ctx));
    nn_manual_seed(ctx, 1);
    lin = nn_linear_new(ctx, 4, 3, 1);
    x = nn_randn(ctx, 2, shape);
    CHECK(nn_dist_all_reduce_scalars(d, v, 2, NN_REDUCE_AVG) && v[0] == 1.5 && v[1] == -2.0, "scalars changed");
    CHECK(nn_dist_all_reduce(d, x, NN_REDUCE_SUM) && nn_dist_broadcast(d, x, 0) && nn_dist_barrier(d) && nn_dist_check(d, 1), "collectives: %s", ERRS(ctx));
    ddp = nn_ddp_new(d, lin, nn_ddp_opts_default());
    CHECK(ddp && nn_ddp_num_buckets(ddp) == 1, "nn_ddp_new: %s", ERRS(ctx));
    out = nn_ddp_forward(ddp, x);
    nn_backward(nn_sum(out, NN_ALL, 0), NULL, 0);
    w = nn_module_parameter(lin, "weight");
    memcpy(before, nn_f32(w->grad), sizeof before);
    CHECK(nn_ddp_sync_grads(ddp) && memcmp(before, nn_f32(w->grad), sizeof before) == 0, "sync changed the grads: %s", ERRS(ctx));
    CHECK(nn_module_parameters(lin, p, 2) == 2 && p[1]->grad, "bias grad");
    nn_arena_reset(ctx);
    end();

    begin("distributed, errors: bad arguments are named; a failed step fails the sync; mpirun without NN_MPI is refused");
    CHECK(!nn_dist_check(d, 0), "nn_dist_check(0) passed");
    CHECK(!nn_dist_broadcast(d, x, 1) && strstr(ERRS(ctx), "src is 1; the ranks are 0 .. 0"), "src 1: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dist_all_reduce(d, NULL, NN_REDUCE_SUM) && strstr(ERRS(ctx), "nn_dist_all_reduce: t is NULL"), "NULL: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dist_all_reduce(d, x, (nn_reduce_op)9) && strstr(ERRS(ctx), "op is 9"), "op 9: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dist_all_reduce_scalars(d, NULL, 2, NN_REDUCE_SUM) && strstr(ERRS(ctx), "n is 2 with values NULL"), "NULL values: %s", ERRS(ctx));
    nn_clear_error(ctx);
    {
        nn_ddp_opts o = nn_ddp_opts_default();
        o.bucket_cap_mb = 0;
        CHECK(!nn_ddp_new(d, lin, o) && strstr(ERRS(ctx), "bucket_cap_mb is 0"), "bucket_cap_mb 0: %s", ERRS(ctx));
        nn_clear_error(ctx);
        o = nn_ddp_opts_default(); o.broadcast_buffers = 3;
        CHECK(!nn_ddp_new(d, lin, o) && strstr(ERRS(ctx), "broadcast_buffers is 3"), "broadcast_buffers 3: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_ddp_new(d, NULL, nn_ddp_opts_default()) && strstr(ERRS(ctx), "m is NULL"), "m NULL: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    CHECK(!nn_matmul(x, x), "a bad matmul passed");
    CHECK(!nn_ddp_sync_grads(ddp), "the sync after a failed step passed");
    nn_clear_error(ctx);
    CHECK(!nn_ddp_forward(NULL, x) && !nn_ddp_sync_grads(NULL) && nn_dist_world_size(NULL) == 0 && !nn_dist_barrier(NULL), "NULL handles");
    nn_clear_error(ctx);   /* nn_ddp_forward(NULL, x) reported the NULL to x's context */
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    CHECK(!nn_dist_init(ctx, NULL, NULL) && strstr(ERRS(ctx), "built without NN_MPI"), "under mpirun: %s", ERRS(ctx));
    unsetenv("OMPI_COMM_WORLD_SIZE");
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
    nn_ddp_free(ddp); nn_ddp_free(NULL);
    nn_dist_free(d); nn_dist_free(NULL);
    nn_free(x); nn_module_free(lin);
    end();
#else
    (void)ctx;
#endif
}
