/* ---- checkpoints ---- */
#include <unistd.h>    /* dup, dup2: capturing what the terminal plot prints */

static void test_transform_options(nn_ctx *ctx);
static void test_plot_and_report(nn_ctx *ctx);

static int files_equal_weights(nn_module *a, nn_module *b) {
    const nn_state_entry *ea, *eb; int n = nn_module_state(a, &ea), k;
    if (n != nn_module_state(b, &eb)) return 0;
    for (k = 0; k < n; k++) if (memcmp(nn_f32(ea[k].tensor), nn_f32(eb[k].tensor), (size_t)ea[k].tensor->numel * sizeof(float))) return 0;
    return 1;
}

/* the tensor a module's state dict names `name` (module API independent) */
static nn_tensor *state_tensor(nn_module *m, const char *name) {
    const nn_state_entry *es; int n = nn_module_state(m, &es), k;
    for (k = 0; k < n; k++) if (!strcmp(es[k].name, name)) return es[k].tensor;
    return NULL;
}

typedef struct { nn_module *fc1, *drop, *fc2; } small_t;
static nn_tensor *small_forward(nn_module *self, nn_tensor *x) {
    small_t *s = (small_t *)self->user;
    return nn_forward(s->fc2, nn_forward(s->drop, nn_relu(nn_forward(s->fc1, x))));
}
static nn_module *small_new(nn_ctx *ctx, small_t *s) {
    nn_module *m = nn_module_new(ctx, "Small", small_forward, s);
    s->fc1 = nn_module_add(m, "fc1", nn_linear_new(ctx, 6, 16, 1));
    s->drop = nn_module_add(m, "drop", nn_dropout_new(ctx, 0.3f));   /* draws from the RNG each step */
    s->fc2 = nn_module_add(m, "fc2", nn_linear_new(ctx, 16, 3, 1));
    return m;
}
/* trains steps [from, to) with Adam + StepLR, one step per "epoch" */
static float small_train(nn_ctx *ctx, nn_module *m, nn_optim *o, nn_scheduler *s, nn_tensor *x, nn_tensor *y, int from, int to) {
    int t; float last = 0; nn_cross_entropy_opts co = nn_cross_entropy_opts_default();
    for (t = from; t < to; t++) {
        nn_tensor *loss;
        nn_optim_zero_grad(o);
        loss = nn_cross_entropy(nn_forward(m, x), y, co);
        nn_backward(loss, NULL, 0);
        nn_optim_step(o);
        nn_scheduler_step(s);
        last = nn_item(loss);
        nn_arena_reset(ctx);
    }
    return last;
}

static void test_checkpoint_extras(nn_ctx *ctx) {
    nn_module *m; nn_checkpoint ck = nn_checkpoint_default(); const char *path = "test_extra.safetensors";
    const char *names[2] = { "best_accuracy", "a \"quoted\" name of some length, longer than sixty-four characters, to be sure" };
    const char *tnames[1] = { "ema.fc.weight" }, *missing[1] = { "not_saved" };
    double vals[2] = { 0.9171, -3.25e-7 }, back[2] = { 0, 0 };
    int64_t sh[2] = { 2, 3 }, ish[1] = { 4 }, big[4] = { 1, -2, (int64_t)1 << 40, 7 };
    nn_tensor *t, *it, *t2, *it2, *ts[2], *ts2[2]; int ok;
    const char *tn2[2] = { "ema.fc.weight", "counts" };
    nn_manual_seed(ctx, 4);
    m = nn_linear_new(ctx, 3, 2, 1);
    t = nn_randn(ctx, 2, sh); it = nn_from_i64(ctx, 1, ish, big);
    t2 = nn_zeros(ctx, 2, sh); it2 = nn_zeros_dtype(ctx, 1, ish, NN_INT64);
    ts[0] = t; ts[1] = it; ts2[0] = t2; ts2[1] = it2;
    begin("checkpoint: your own numbers and tensors are saved and given back (any name length)");
    ck.model = m; ck.epoch = 3;
    ck.extra_names = names; ck.extra_values = vals; ck.nextra = 2;
    ck.extra_tensor_names = tn2; ck.extra_tensors = ts; ck.nextra_tensors = 2;
    CHECK(nn_save_checkpoint(&ck, path), "save: %s", ERRS(ctx));
    ck.extra_values = back; ck.extra_tensors = ts2; ck.epoch = 0;
    CHECK(nn_load_checkpoint(&ck, path), "load: %s", ERRS(ctx));
    CHECK(back[0] == vals[0] && back[1] == vals[1] && ck.epoch == 3, "numbers: %.17g %.17g", back[0], back[1]);
    CHECK(memcmp(nn_f32(t), nn_f32(t2), 6 * sizeof(float)) == 0, "float tensor differs");
    CHECK(memcmp(nn_i64(it), nn_i64(it2), 4 * sizeof(int64_t)) == 0, "int64 tensor differs: %lld", (long long)nn_i64(it2)[2]);
    end();
    (void)tnames;
    begin("checkpoint: a missing extra is refused by name and nothing changes");
    back[0] = 42; ck.extra_names = missing; ck.nextra = 1; ck.nextra_tensors = 0; ck.epoch = 11;
    ok = nn_load_checkpoint(&ck, path);
    CHECK(!ok && strstr(ERRS(ctx), "lacks \"extra.not_saved\"") && back[0] == 42 && ck.epoch == 11, "missing: %s", ERRS(ctx));
    nn_clear_error(ctx);
    ck.nextra = -1;
    CHECK(!nn_save_checkpoint(&ck, path) && strstr(ERRS(ctx), "nextra is -1"), "negative count: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    remove(path);
    nn_free(t); nn_free(it); nn_free(t2); nn_free(it2); nn_module_free(m);
}

/* Saving never removes the old file first: path.tmp is synced, then renamed over it. A full disk
   (here: a file-size limit, EFBIG) fails with the system's reason and leaves the old file; a
   path.bak left by a save interrupted where rename cannot replace a file is read back. */
static float first_weight(nn_module *m) { nn_tensor *p[2]; nn_module_parameters(m, p, 2); return nn_f32(p[0])[0]; }
static void test_checkpoint_durability(nn_ctx *ctx) {
    const char *path = "test_durable.safetensors"; nn_module *m = nn_linear_new(ctx, 64, 64, 1);
    nn_checkpoint ck = nn_checkpoint_default(); nn_tensor *p[2]; FILE *f; struct rlimit old, lim; int ok;
    char want[128];
    nn_module_parameters(m, p, 2);
    ck.model = m;
    nn_set_logger(ctx, capture_log, NULL);              /* the .bak warning is checked in g_log */
    begin("checkpoint: a save replaces the old file and leaves no .tmp or .bak behind");
    nn_f32(p[0])[0] = 1.0f; ck.epoch = 1;
    CHECK(nn_save_checkpoint(&ck, path), "save 1: %s", ERRS(ctx));
    nn_f32(p[0])[0] = 2.0f; ck.epoch = 2;
    CHECK(nn_save_checkpoint(&ck, path), "save 2: %s", ERRS(ctx));
    nn_f32(p[0])[0] = 0.0f; ck.epoch = 0;
    CHECK(nn_load_checkpoint(&ck, path) && ck.epoch == 2 && first_weight(m) == 2.0f, "load: %s", ERRS(ctx));
    f = fopen("test_durable.safetensors.tmp", "rb"); CHECK(!f, ".tmp left behind"); if (f) fclose(f);
    f = fopen("test_durable.safetensors.bak", "rb"); CHECK(!f, ".bak left behind"); if (f) fclose(f);
    end();

    begin("checkpoint: a full disk fails with the system's reason and the old file stays");
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old; lim.rlim_cur = 4096;                     /* the checkpoint is ~17 KB */
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    nn_f32(p[0])[0] = 3.0f; ck.epoch = 3;
    ok = nn_save_checkpoint(&ck, path);
    setrlimit(RLIMIT_FSIZE, &old);
    snprintf(want, sizeof want, "%s", strerror(EFBIG));
    CHECK(!ok && strstr(ERRS(ctx), want) && strstr(ERRS(ctx), "previous file"), "save past the limit: ok %d, %s", ok, ERRS(ctx));
    nn_clear_error(ctx);
    f = fopen("test_durable.safetensors.tmp", "rb"); CHECK(!f, ".tmp left behind"); if (f) fclose(f);
    CHECK(nn_load_checkpoint(&ck, path) && ck.epoch == 2 && first_weight(m) == 2.0f, "old file: epoch %lld, %s", (long long)ck.epoch, ERRS(ctx));
    end();

    begin("checkpoint: a missing file with a .bak (an interrupted non-replacing rename) loads the .bak with a warning");
    CHECK(rename(path, "test_durable.safetensors.bak") == 0, "rename");
    g_log[0] = 0; ck.epoch = 0;
    CHECK(nn_load_checkpoint(&ck, path) && ck.epoch == 2 && strstr(g_log, "warning") && strstr(g_log, ".bak"), "load: %s; log %s", ERRS(ctx), g_log);
    remove("test_durable.safetensors.bak");
    ok = nn_load_checkpoint(&ck, path);
    CHECK(!ok && strstr(ERRS(ctx), strerror(ENOENT)), "no file: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    remove(path);
    nn_module_free(m);
}

/* 300 Linear(2, 2) layers: 600 parameter tensors, 1800 tensors with Adam's state (the old cap was 512 entries) */
static void test_checkpoint_many_tensors(nn_ctx *ctx) {
    enum { L = 300 };
    nn_module *layers[L], *a, *b; nn_tensor **pa, **pb, *x, *loss; nn_optim *oa, *ob; nn_adam_opts ao;
    nn_checkpoint ck = nn_checkpoint_default(); int k, na, nb, same = 1; int64_t xs[2] = { 4, 2 };
    const char *path = "test_many.safetensors";
    pa = (nn_tensor **)malloc(2 * L * sizeof(nn_tensor *)); pb = (nn_tensor **)malloc(2 * L * sizeof(nn_tensor *));
    nn_manual_seed(ctx, 8);
    for (k = 0; k < L; k++) layers[k] = nn_linear_new(ctx, 2, 2, 1);
    a = nn_sequential_new(ctx, layers, L);
    for (k = 0; k < L; k++) layers[k] = nn_linear_new(ctx, 2, 2, 1);
    b = nn_sequential_new(ctx, layers, L);
    na = nn_module_parameters(a, pa, 2 * L); nb = nn_module_parameters(b, pb, 2 * L);
    ao = nn_adam_opts_default(); ao.lr = 1e-3;
    oa = nn_adam(pa, na, ao); ob = nn_adam(pb, nb, ao);
    x = nn_randn(ctx, 2, xs);
    nn_optim_zero_grad(oa);
    loss = nn_sum(nn_forward(a, x), NN_ALL, 0);
    nn_backward(loss, NULL, 0);
    nn_optim_step(oa);
    nn_arena_reset(ctx);
    begin("checkpoint: a model with 600 parameter tensors (Adam state: 1800 tensors) saves and loads");
    CHECK(na == 2 * L && nb == 2 * L, "%d and %d parameters", na, nb);
    ck.model = a; ck.optim = oa; ck.epoch = 1;
    CHECK(nn_save_checkpoint(&ck, path), "save: %s", ERRS(ctx));
    ck.model = b; ck.optim = ob;
    CHECK(nn_load_checkpoint(&ck, path), "load: %s", ERRS(ctx));
    for (k = 0; k < na && k < nb; k++) if (memcmp(nn_f32(pa[k]), nn_f32(pb[k]), (size_t)pa[k]->numel * sizeof(float))) same = 0;
    CHECK(same, "weights differ after loading");
    nn_optim_zero_grad(oa); nn_optim_zero_grad(ob);
    nn_backward(nn_sum(nn_forward(a, x), NN_ALL, 0), NULL, 0); nn_optim_step(oa); nn_arena_reset(ctx);
    nn_backward(nn_sum(nn_forward(b, x), NN_ALL, 0), NULL, 0); nn_optim_step(ob); nn_arena_reset(ctx);
    for (k = 0; k < na && k < nb; k++) if (memcmp(nn_f32(pa[k]), nn_f32(pb[k]), (size_t)pa[k]->numel * sizeof(float))) same = 0;
    CHECK(same, "the next Adam step differs: the optimizer state was not restored");
    CHECK(nn_save_model(a, path) && nn_load_model(b, path), "model round trip: %s", ERRS(ctx));
    end();
    remove(path);
    nn_optim_free(oa); nn_optim_free(ob); nn_module_free(a); nn_module_free(b); nn_free(x);
    free(pa); free(pb);
}

/* a file's bytes, malloc'd */
static unsigned char *read_all(const char *path, long *size) {
    FILE *f = fopen(path, "rb"); unsigned char *b;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); *size = ftell(f); fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc((size_t)*size + 1);
    if (fread(b, 1, (size_t)*size, f) != (size_t)*size) *size = 0;
    fclose(f);
    b[*size] = 0;
    return b;
}
/* a safetensors file with one tensor: header h, then n data bytes */
static void write_st(const char *path, const char *h, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb"); unsigned char len[8] = { 0 }; size_t hl = strlen(h);
    if (!f) return;
    len[0] = (unsigned char)hl; len[1] = (unsigned char)(hl >> 8);
    fwrite(len, 1, 8, f); fwrite(h, 1, hl, f); fwrite(data, 1, n, f); fclose(f);
}

static void test_safetensors_int64(nn_ctx *ctx) {
    const char *path = "test_i64.safetensors"; int64_t one = 1, v = ((int64_t)1 << 40) + 1, three = 3; long size = 0;
    nn_tensor *t = nn_from_i64(ctx, 0, &one, &v), *back; const char *names[1] = { "num_batches_tracked" };
    unsigned char *bytes; nn_safetensors *st;
    begin("safetensors: an int64 tensor is written as I64 (8 little-endian bytes, shape [] for a scalar) as PyTorch writes it");
    CHECK(nn_safetensors_save(ctx, path, names, &t, 1, NULL, NULL, 0), "save: %s", ERRS(ctx));
    bytes = read_all(path, &size);
    CHECK(bytes && strstr((char *)bytes + 8, "\"num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}"), "header: %s", bytes ? (char *)bytes + 8 : "");
    CHECK(bytes && size >= 8 && bytes[size - 8] == 1 && bytes[size - 3] == 1 && bytes[size - 1] == 0, "data bytes");
    free(bytes);
    end();
    begin("safetensors: I64 reads back as an int64 tensor, exactly (2^40 + 1); I32 also gives int64; F32 gives float32");
    st = nn_safetensors_open(ctx, path);
    back = st ? nn_safetensors_get(st, "num_batches_tracked") : NULL;
    CHECK(back && back->dtype == NN_INT64 && back->ndim == 0 && nn_i64(back)[0] == v, "get: %s", ERRS(ctx));
    nn_free(back); nn_safetensors_close(st);
    {
        const unsigned char i32[12] = { 5, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0x80 };
        write_st(path, "{\"c\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[0,12]}}", i32, 12);
        st = nn_safetensors_open(ctx, path);
        back = st ? nn_safetensors_get(st, "c") : NULL;
        CHECK(back && back->dtype == NN_INT64 && nn_i64(back)[0] == 5 && nn_i64(back)[1] == -2 && nn_i64(back)[2] == INT32_MIN, "I32: %s", ERRS(ctx));
        nn_free(back); nn_safetensors_close(st);
    }
    {   /* F64 beyond float's range saturates to inf (was an undefined cast) */
        unsigned char f64[8]; double big = 1e300;
        memcpy(f64, &big, 8);
        write_st(path, "{\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", f64, 8);
        st = nn_safetensors_open(ctx, path);
        back = st ? nn_safetensors_get(st, "d") : NULL;
        CHECK(back && back->dtype == NN_FLOAT32 && isinf(nn_f32(back)[0]), "F64 1e300: %s", ERRS(ctx));
        nn_free(back); nn_safetensors_close(st);
    }
    end();
    begin("nn_load_model: num_batches_tracked as I64 (PyTorch's) loads; a fraction into an int64 tensor is refused by name");
    {
        nn_module *bn = nn_batch_norm1d_new(ctx, 3, 1e-5f, 0.1f, 1);
        const nn_state_entry *es; int n = bn ? nn_module_state(bn, &es) : 0, k, nbt = -1;
        const char *nm[8]; nn_tensor *ts[8];
        for (k = 0; k < n && k < 8; k++) { nm[k] = es[k].name; ts[k] = es[k].tensor; if (!strcmp(es[k].name, "num_batches_tracked")) nbt = k; }
        CHECK(nbt >= 0, "no num_batches_tracked: %s", ERRS(ctx));
        if (nbt >= 0) {
            nn_tensor *keep = ts[nbt], *i64 = nn_from_i64(ctx, 0, &one, &three), *frac;
            ts[nbt] = i64;
            CHECK(nn_safetensors_save(ctx, path, nm, ts, n, NULL, NULL, 0) && nn_load_model(bn, path), "I64 load: %s", ERRS(ctx));
            CHECK(nn_item(keep) == 3.0f, "num_batches_tracked is %g, expected 3", nn_item(keep));
            CHECK(nn_save_model(bn, path), "save: %s", ERRS(ctx));
            bytes = read_all(path, &size);
            if (keep->dtype == NN_INT64)
                CHECK(bytes && strstr((char *)bytes + 8, "\"num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[]"), "saved as: %s", bytes ? (char *)bytes + 8 : "");
            free(bytes);
            frac = nn_full(ctx, 0, &one, 2.5f);
            ts[nbt] = frac;
            nn_safetensors_save(ctx, path, nm, ts, n, NULL, NULL, 0);
            if (keep->dtype == NN_INT64) {
                CHECK(!nn_load_model(bn, path) && strstr(ERRS(ctx), "tensor \"num_batches_tracked\"") && strstr(ERRS(ctx), "dtype mismatch"), "fraction: %s", ERRS(ctx));
                CHECK(nn_item(keep) == 3.0f, "a refused load changed the model");
                nn_clear_error(ctx);
                nn_fill_(frac, 2.0f);       /* a whole float (an nn.h 0.1 file) converts, as PyTorch's copy_ */
                nn_safetensors_save(ctx, path, nm, ts, n, NULL, NULL, 0);
                CHECK(nn_load_model(bn, path) && nn_item(keep) == 2.0f, "whole float into int64: %s", ERRS(ctx));
            }
            nn_free(i64); nn_free(frac);
        }
        nn_module_free(bn);
    }
    end();
    remove(path);
    nn_free(t);
    nn_clear_error(ctx);
}

static void test_checkpoints(nn_ctx *ctx) {
    small_t s1, s2; nn_module *a, *b; nn_tensor *pa[8], *pb[8], *x, *y; nn_optim *oa, *ob; nn_scheduler *sa, *sb;
    nn_adam_opts ao; int64_t sx[2] = { 10, 6 }, sy[1] = { 10 }, i; nn_checkpoint ck = nn_checkpoint_default();
    const char *path = "test_ckpt.safetensors";
    ao = nn_adam_opts_default(); ao.lr = 0.01;

    begin("checkpoint: model round trip through safetensors");
    nn_manual_seed(ctx, 11);
    a = small_new(ctx, &s1); b = small_new(ctx, &s2);
    CHECK(!files_equal_weights(a, b), "two fresh models are equal");
    CHECK(nn_save_model(a, "test_model.safetensors") && nn_load_model(b, "test_model.safetensors"), "save/load: %s", ERRS(ctx));
    CHECK(files_equal_weights(a, b), "weights differ after the round trip");
    end();

    begin("checkpoint: resume from a checkpoint ends with the same weights as an uninterrupted run");
    nn_manual_seed(ctx, 5);
    x = nn_randn(ctx, 2, sx); y = nn_zeros_dtype(ctx, 1, sy, NN_INT64);
    for (i = 0; i < 10; i++) nn_i64(y)[i] = i % 3;
    nn_module_free(b);
    nn_manual_seed(ctx, 21); b = small_new(ctx, &s2);
    nn_module_free(a);
    nn_manual_seed(ctx, 21); a = small_new(ctx, &s1);
    oa = nn_adam(pa, nn_module_parameters(a, pa, 8), ao); sa = nn_step_lr(oa, 4, 0.5f);
    ob = nn_adam(pb, nn_module_parameters(b, pb, 8), ao); sb = nn_step_lr(ob, 4, 0.5f);
    nn_manual_seed(ctx, 99);
    small_train(ctx, a, oa, sa, x, y, 0, 12);        /* uninterrupted: 12 steps */
    {
        nn_tensor *ref[8]; int k, n = nn_module_parameters(a, ref, 8), same = 1;
        nn_tensor *keep[8];
        for (k = 0; k < n; k++) keep[k] = nn_keep(ref[k]);
        /* interrupted: 5 steps, save, a fresh model/optimizer/scheduler loads it, 7 more steps */
        nn_manual_seed(ctx, 99);
        ck.model = b; ck.optim = ob; ck.scheduler = sb; ck.epoch = 5;
        ck.loss = small_train(ctx, b, ob, sb, x, y, 0, 5);
        CHECK(nn_save_checkpoint(&ck, path), "save_checkpoint: %s", ERRS(ctx));
        nn_scheduler_free(sb); nn_optim_free(ob); nn_module_free(b);
        nn_manual_seed(ctx, 12345);                 /* disturb the RNG: the checkpoint must restore it */
        b = small_new(ctx, &s2);
        ob = nn_adam(pb, nn_module_parameters(b, pb, 8), ao); sb = nn_step_lr(ob, 4, 0.5f);
        ck.model = b; ck.optim = ob; ck.scheduler = sb; ck.epoch = 0; ck.loss = 0;
        CHECK(nn_load_checkpoint(&ck, path), "load_checkpoint: %s", ERRS(ctx));
        CHECK(ck.epoch == 5 && ck.loss > 0, "epoch %lld loss %g not restored", (long long)ck.epoch, ck.loss);
        small_train(ctx, b, ob, sb, x, y, 5, 12);
        for (k = 0; k < n; k++) if (memcmp(nn_f32(keep[k]), nn_f32(pb[k]), (size_t)pb[k]->numel * sizeof(float))) same = 0;
        CHECK(same, "resumed run ended with different weights");
        CHECK(nn_optim_lr(oa, 0) == nn_optim_lr(ob, 0), "lr differs: %g vs %g", nn_optim_lr(oa, 0), nn_optim_lr(ob, 0));
        for (k = 0; k < n; k++) nn_free(keep[k]);
    }
    end();

    begin("checkpoint: bad files are rejected with the tensor named, and the model is untouched");
    {
        nn_tensor *before = nn_keep(state_tensor(s2.fc1, "weight"));
        FILE *f; long size; unsigned char *bytes;
        const char *bad = "test_bad.safetensors";
        /* a truncated file */
        f = fopen(path, "rb"); fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
        bytes = (unsigned char *)malloc((size_t)size);
        CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size, "read");
        fclose(f);
        f = fopen(bad, "wb"); fwrite(bytes, 1, (size_t)size - 100, f); fclose(f);
        CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "past the end of the file"), "truncated: %s", ERRS(ctx));
        nn_clear_error(ctx);
        f = fopen(bad, "wb"); fwrite(bytes, 1, 6, f); fclose(f);
        CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "too short"), "6 bytes: %s", ERRS(ctx));
        nn_clear_error(ctx);
        /* a corrupt header */
        f = fopen(bad, "wb"); bytes[20] = '#'; fwrite(bytes, 1, (size_t)size, f); fclose(f);
        CHECK(!nn_load_checkpoint(&ck, bad) && strstr(ERRS(ctx), "corrupt"), "corrupt: %s", ERRS(ctx));
        nn_clear_error(ctx);
        free(bytes);
        /* wrong names, wrong shapes, wrong dtype */
        {
            int64_t s3[2] = { 16, 6 }, s4[2] = { 6, 16 };
            nn_tensor *t1 = nn_zeros(ctx, 2, s3), *t2 = nn_zeros(ctx, 2, s4);
            const char *n1[1] = { "fc9.weight" }, *n2[1] = { "fc1.weight" };
            nn_safetensors_save(ctx, bad, n1, &t1, 1, NULL, NULL, 0);
            CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "no tensor \"fc1.weight\" (missing key)"), "missing: %s", ERRS(ctx));
            nn_clear_error(ctx);
            nn_safetensors_save(ctx, bad, n2, &t2, 1, NULL, NULL, 0);
            CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "tensor \"fc1.weight\"") && strstr(ERRS(ctx), "is (6, 16) but the model's is (16, 6)"), "shape: %s", ERRS(ctx));
            nn_clear_error(ctx);
            nn_free(t1); nn_free(t2);
            f = fopen(bad, "wb");
            {
                const char *h = "{\"fc1.weight\":{\"dtype\":\"U8\",\"shape\":[16,6],\"data_offsets\":[0,96]}}";
                unsigned char len[8] = { 0 }; char zeros[96] = { 0 };
                len[0] = (unsigned char)strlen(h);
                fwrite(len, 1, 8, f); fwrite(h, 1, strlen(h), f); fwrite(zeros, 1, 96, f);
            }
            fclose(f);
            CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "tensor \"fc1.weight\" has dtype U8"), "dtype: %s", ERRS(ctx));
            nn_clear_error(ctx);
        }
        /* an extra tensor */
        {
            const nn_state_entry *es; int n = nn_module_state(b, &es), k;
            const char *names[8]; nn_tensor *ts[8];
            for (k = 0; k < n; k++) { names[k] = es[k].name; ts[k] = es[k].tensor; }
            names[n] = "extra.weight"; ts[n] = es[0].tensor;
            nn_safetensors_save(ctx, bad, names, ts, n + 1, NULL, NULL, 0);
            CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "\"extra.weight\", which the model does not have"), "unexpected: %s", ERRS(ctx));
            nn_clear_error(ctx);
        }
        CHECK(memcmp(nn_f32(before), nn_f32(state_tensor(s2.fc1, "weight")), (size_t)before->numel * sizeof(float)) == 0, "a failed load changed the model");
        nn_free(before);
        remove(bad);
    }
    end();

    begin("checkpoint: a failed save leaves the previous file intact");
    {
        FILE *f = fopen(path, "rb"); long before, after;
        fseek(f, 0, SEEK_END); before = ftell(f); fclose(f);
        /* the temporary file cannot be created: a directory is in its place */
        CHECK(system("mkdir -p test_ckpt.safetensors.tmp") == 0, "mkdir");
        CHECK(!nn_save_checkpoint(&ck, path), "save succeeded");
        CHECK(nn_error(ctx) && strstr(nn_error(ctx), "cannot create"), "message: %s", ERRS(ctx));
        nn_clear_error(ctx);
        f = fopen(path, "rb"); fseek(f, 0, SEEK_END); after = ftell(f); fclose(f);
        CHECK(before == after && nn_load_checkpoint(&ck, path), "the previous checkpoint was damaged: %s", ERRS(ctx));
        CHECK(system("rmdir test_ckpt.safetensors.tmp") == 0, "rmdir");
    }
    end();
    remove(path); remove("test_model.safetensors");
    nn_scheduler_free(sa); nn_scheduler_free(sb); nn_optim_free(oa); nn_optim_free(ob);
    nn_module_free(a); nn_module_free(b); nn_free(x); nn_free(y);
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
    test_checkpoint_extras(ctx);
    test_checkpoint_many_tensors(ctx);
    test_checkpoint_durability(ctx);
    test_safetensors_int64(ctx);
}

/* ---- data: readers, bad files, transforms, DataLoader, metrics ---- */

static void write_bytes(const char *path, const void *p, size_t n) { FILE *f = fopen(path, "wb"); if (f) { fwrite(p, 1, n, f); fclose(f); } }

/* an IDX file of unsigned bytes: magic, big-endian dims, data (claimed dims may lie) */
static void write_idx(const char *path, int nd, const int64_t *dims, const unsigned char *data, size_t n) {
    unsigned char h[4 + 4 * 3]; int d;
    h[0] = h[1] = 0; h[2] = 8; h[3] = (unsigned char)nd;
    for (d = 0; d < nd; d++) { h[4 + 4 * d] = (unsigned char)(dims[d] >> 24); h[5 + 4 * d] = (unsigned char)(dims[d] >> 16); h[6 + 4 * d] = (unsigned char)(dims[d] >> 8); h[7 + 4 * d] = (unsigned char)dims[d]; }
    {
        FILE *f = fopen(path, "wb");
        if (!f) return;
        fwrite(h, 1, (size_t)(4 + 4 * nd), f); fwrite(data, 1, n, f); fclose(f);
    }
}

#ifdef NN_HAVE_STB
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu; size_t i; int k;
    for (i = 0; i < n; i++) { c ^= p[i]; for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u))); }
    return ~c;
}
/* gzip = 10-byte header + raw deflate (stb's zlib stream without its 2-byte header and adler32) + crc32 + size */
static void write_gzip(const char *src, const char *dst) {
    FILE *f = fopen(src, "rb"); long n; unsigned char *b, *z, hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff }, tail[8]; int zl; uint32_t crc;
    if (!f) return;
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    z = stbi_zlib_compress(b, (int)n, &zl, 8);
    crc = crc32_of(b, (size_t)n);
    tail[0] = (unsigned char)crc; tail[1] = (unsigned char)(crc >> 8); tail[2] = (unsigned char)(crc >> 16); tail[3] = (unsigned char)(crc >> 24);
    tail[4] = (unsigned char)n; tail[5] = (unsigned char)(n >> 8); tail[6] = (unsigned char)(n >> 16); tail[7] = (unsigned char)(n >> 24);
    f = fopen(dst, "wb");
    fwrite(hdr, 1, 10, f); fwrite(z + 2, 1, (size_t)zl - 6, f); fwrite(tail, 1, 8, f); fclose(f);
    STBIW_FREE(z); free(b);
}
#endif

static void test_readers(nn_ctx *ctx) {
    int64_t dims[3] = { 4, 3, 5 }, ldims[1] = { 4 }, i;
    unsigned char px[60], lab[4] = { 3, 1, 4, 1 };
    nn_dataset *d; float x[15]; int64_t y[1], xs[3];
    for (i = 0; i < 60; i++) px[i] = (unsigned char)(i * 4);
    CHECK(system("rm -rf test_data_tmp && mkdir -p test_data_tmp/folder/cat test_data_tmp/folder/dog test_data_tmp/bad/x") == 0, "mkdir");
    write_idx("test_data_tmp/img.idx", 3, dims, px, 60);
    write_idx("test_data_tmp/lab.idx", 1, ldims, lab, 4);

    begin("data: IDX images and labels read, scaled to [0, 1] as ToTensor");
    d = nn_mnist(ctx, "test_data_tmp/img.idx", "test_data_tmp/lab.idx");
    CHECK(d && nn_dataset_len(d) == 4 && nn_dataset_xshape(d, xs) == 3 && xs[0] == 1 && xs[1] == 3 && xs[2] == 5 && nn_dataset_num_classes(d) == 5
          && nn_dataset_ydim(d) == 0, "shape/len wrong: %s", ERRS(ctx));
    if (d) {
        CHECK(nn_dataset_get(d, 2, x, NULL, y) && y[0] == 4 && fabsf(x[1] - (float)(31 * 4) / 255.0f) < 1e-7f, "sample 2: y %lld x[1] %g", (long long)y[0], x[1]);
        CHECK(!nn_dataset_get(d, 4, x, NULL, y) && strstr(ERRS(ctx), "index 4 is out of range"), "out of range: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    nn_dataset_free(d);
    end();

#ifdef NN_HAVE_STB
    begin("data: gzip'd IDX decoded with stb_image's zlib");
    write_gzip("test_data_tmp/img.idx", "test_data_tmp/img.idx.gz");
    write_gzip("test_data_tmp/lab.idx", "test_data_tmp/lab.idx.gz");
    d = nn_mnist(ctx, "test_data_tmp/img.idx.gz", "test_data_tmp/lab.idx.gz");
    CHECK(d && nn_dataset_len(d) == 4 && nn_dataset_get(d, 3, x, NULL, y) && y[0] == 1 && fabsf(x[14] - (float)(59 * 4) / 255.0f) < 1e-7f, "gz read: %s", ERRS(ctx));
    nn_dataset_free(d);
    nn_clear_error(ctx);
    end();
#endif

    begin("bad data: truncated IDX, a header that lies, wrong label count, missing file; each named, nothing crashes");
    write_idx("test_data_tmp/trunc.idx", 3, dims, px, 50);
    CHECK(!nn_mnist(ctx, "test_data_tmp/trunc.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "test_data_tmp/trunc.idx's header says 60 bytes of data but the file has 50 (truncated)"), "truncated: %s", ERRS(ctx));
    nn_clear_error(ctx);
    { int64_t big[3] = { 2, 3, 5 }; write_idx("test_data_tmp/lie.idx", 3, big, px, 60); }
    CHECK(!nn_mnist(ctx, "test_data_tmp/lie.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "lie.idx's header says 30 bytes of data but the file has 60 (trailing bytes)"), "lying header: %s", ERRS(ctx));
    nn_clear_error(ctx);
    { int64_t l3[1] = { 3 }; write_idx("test_data_tmp/lab3.idx", 1, l3, lab, 3); }
    CHECK(!nn_mnist(ctx, "test_data_tmp/img.idx", "test_data_tmp/lab3.idx") && strstr(ERRS(ctx), "has 4 images but test_data_tmp/lab3.idx has 3 labels"), "count: %s", ERRS(ctx));
    nn_clear_error(ctx);
    {   /* found by the fuzzer: three huge dims overflowed the size product */
        int64_t huge[3] = { 0x7fffffff, 0x7fffffff, 0x7fffffff };
        write_idx("test_data_tmp/huge.idx", 3, huge, px, 60);
        CHECK(!nn_mnist(ctx, "test_data_tmp/huge.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "huge.idx's header says") && strstr(ERRS(ctx), "(truncated)"), "huge dims: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    write_bytes("test_data_tmp/junk.idx", "hello world, not idx", 20);
    CHECK(!nn_mnist(ctx, "test_data_tmp/junk.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "junk.idx is not an IDX file"), "junk: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_mnist(ctx, "test_data_tmp/nope.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "cannot open test_data_tmp/nope.idx"), "missing: %s", ERRS(ctx));
    nn_clear_error(ctx);
#ifdef NN_HAVE_STB
    write_bytes("test_data_tmp/cut.idx.gz", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x01\x02\x03\x04\x05\x06\x07\x08\x09", 19);
    CHECK(!nn_mnist(ctx, "test_data_tmp/cut.idx.gz", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "cut.idx.gz"), "bad gzip: %s", ERRS(ctx));
    nn_clear_error(ctx);
#endif
    end();

    begin("data: CSV of numbers with a label column; a missing column is named by line");
    write_bytes("test_data_tmp/good.csv", "a,b,label,c\n1,2,0,3\n4.5,-5,1,6e-1\n\n7,8,2,9\n", 43);
    d = nn_csv(ctx, "test_data_tmp/good.csv", 2, 1);
    CHECK(d && nn_dataset_len(d) == 3 && nn_dataset_xshape(d, xs) == 1 && xs[0] == 3 && nn_dataset_num_classes(d) == 3, "csv shape: %s", ERRS(ctx));
    if (d) { CHECK(nn_dataset_get(d, 1, x, NULL, y) && x[0] == 4.5f && x[1] == -5.0f && fabsf(x[2] - 0.6f) < 1e-7f && y[0] == 1, "row 1: %g %g %g | %lld", x[0], x[1], x[2], (long long)y[0]); }
    nn_dataset_free(d);
    write_bytes("test_data_tmp/bad.csv", "1,2,3\n4,5,6\n7,8\n", 16);
    CHECK(!nn_csv(ctx, "test_data_tmp/bad.csv", 2, 0) && strstr(ERRS(ctx), "test_data_tmp/bad.csv line 3 has 2 columns; the first row has 3"), "missing column: %s", ERRS(ctx));
    nn_clear_error(ctx);
    write_bytes("test_data_tmp/huge.csv", "1,2,1e40\n", 9);   /* found by the fuzzer: was undefined behaviour */
    CHECK(!nn_csv(ctx, "test_data_tmp/huge.csv", 2, 0) && strstr(ERRS(ctx), "1e40 is not a finite float32 number"), "huge: %s", ERRS(ctx));
    nn_clear_error(ctx);
    write_bytes("test_data_tmp/frac.csv", "1,2,0.5\n", 8);
    CHECK(!nn_csv(ctx, "test_data_tmp/frac.csv", 2, 0) && strstr(ERRS(ctx), "line 1, column 3: label 0.5 is not a class index"), "fraction: %s", ERRS(ctx));
    nn_clear_error(ctx);
    write_bytes("test_data_tmp/big.csv", "1,16777217\n", 11);   /* a label beyond float's 2^24 arrives exactly */
    d = nn_csv(ctx, "test_data_tmp/big.csv", 1, 0);
    CHECK(d && nn_dataset_get(d, 0, x, NULL, y) && y[0] == 16777217, "big label: %s", ERRS(ctx));
    nn_dataset_free(d);
    write_bytes("test_data_tmp/text.csv", "1,2,x\n", 6);
    CHECK(!nn_csv(ctx, "test_data_tmp/text.csv", -1, 0) && strstr(ERRS(ctx), "line 1, column 3: \"x"), "not a number: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();

#ifdef NN_HAVE_STB
    begin("data: image folder (PNGs written by stb_image_write), classes sorted, resized; a non-image is named");
    {
        unsigned char rgb[4 * 6 * 3]; int k;
        for (k = 0; k < 72; k++) rgb[k] = (unsigned char)(k * 3);
        stbi_write_png("test_data_tmp/folder/cat/a.png", 6, 4, 3, rgb, 18);
        stbi_write_png("test_data_tmp/folder/cat/b.png", 6, 4, 3, rgb, 18);
        for (k = 0; k < 72; k++) rgb[k] = 200;
        stbi_write_png("test_data_tmp/folder/dog/c.png", 6, 4, 3, rgb, 18);
        d = nn_image_folder(ctx, "test_data_tmp/folder", 3, 4, 6);
        CHECK(d && nn_dataset_len(d) == 3 && nn_dataset_num_classes(d) == 2 && nn_dataset_xshape(d, xs) == 3 && xs[0] == 3, "folder: %s", ERRS(ctx));
        if (d) {
            float xi[72]; int64_t yi[1];
            CHECK(nn_dataset_get(d, 0, xi, NULL, yi) && yi[0] == 0 && fabsf(xi[1] - 9.0f / 255.0f) < 1e-6f && fabsf(xi[24] - 3.0f / 255.0f) < 1e-6f, "pixel: %g %g", xi[1], xi[24]);
            CHECK(nn_dataset_get(d, 2, xi, NULL, yi) && yi[0] == 1 && fabsf(xi[5] - 200.0f / 255.0f) < 1e-6f, "dog: %lld %g", (long long)yi[0], xi[5]);
        }
        nn_dataset_free(d);
        write_bytes("test_data_tmp/bad/x/notes.png", "this is not a png", 17);
        CHECK(!nn_image_folder(ctx, "test_data_tmp/bad", 1, 4, 4) && strstr(ERRS(ctx), "test_data_tmp/bad/x/notes.png is not an image"), "non-image: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_image_folder(ctx, "test_data_tmp/none", 1, 4, 4) && strstr(ERRS(ctx), "test_data_tmp/none is not a folder"), "no folder: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    end();
#endif
    CHECK(system("rm -rf test_data_tmp") == 0, "cleanup");
}

static void test_transforms_and_metrics(nn_ctx *ctx) {
    FILE *f = fopen("tests/fixtures/data.txt", "rb");
    char line[20000]; int ntf = 0;
    int64_t labels[64], preds[64], cm_want[64], cm[64]; int nl = 0, k;
    begin("data fixtures load");
    CHECK(f != NULL, "cannot read tests/fixtures/data.txt");
    end();
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "transform ", 10)) {
            char name[64], *ops, *tok, *save = NULL; nn_transform ts[8]; int nt = 0, nops;
            char inl[20000], outl[200000];
            static char outbuf[200000];
            float *x, *want, *got; int64_t xs[3], ws[3], gs[3], n = 1, m = 1; char *r; int d, nd;
            sscanf(line + 10, "%63s %d", name, &nops);
            ops = strchr(strchr(line + 10, ' ') + 1, ' ') + 1;
            for (tok = strtok_r(ops, ";\n", &save); tok && nt < 8; tok = strtok_r(NULL, ";\n", &save)) {
                char op[32]; float a[6] = { 0 };
                int c = sscanf(tok, " %31s %f %f %f %f %f %f", op, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5]);
                if (!strcmp(op, "resize")) ts[nt++] = nn_resize((int64_t)a[0], (int64_t)a[1]);
                else if (!strcmp(op, "normalize")) { int ch = (c - 1) / 2; ts[nt++] = nn_normalize(ch, a, a + ch); }
                else if (!strcmp(op, "grayscale")) ts[nt++] = nn_grayscale((int)a[0]);
                else if (!strcmp(op, "hflip")) ts[nt++] = nn_random_horizontal_flip(1.0f);
                else if (!strcmp(op, "crop")) ts[nt++] = nn_random_crop((int64_t)a[0], (int64_t)a[1]);
            }
            if (!fgets(inl, sizeof inl, f) || !fgets(outl, sizeof outl, f)) break;
            begin(name);
            r = inl + 3; nd = (int)strtol(r, &r, 10);
            for (d = 0; d < 3; d++) { xs[d] = d < nd ? strtol(r, &r, 10) : 1; n *= xs[d]; }
            r = strchr(r, ':') + 1;
            x = (float *)malloc((size_t)n * sizeof(float));
            for (d = 0; d < n; d++) x[d] = strtof(r, &r);
            r = outl + 4; nd = (int)strtol(r, &r, 10);
            for (d = 0; d < 3; d++) { ws[d] = d < nd ? strtol(r, &r, 10) : 1; m *= ws[d]; }
            r = strchr(r, ':') + 1;
            want = (float *)malloc((size_t)m * sizeof(float));
            for (d = 0; d < m; d++) want[d] = strtof(r, &r);
            got = (float *)outbuf;
            CHECK(nn_apply_transforms(ctx, ts, nt, x, xs, got, gs, NULL), "apply failed: %s", ERRS(ctx));
            CHECK(gs[0] == ws[0] && gs[1] == ws[1] && gs[2] == ws[2], "shape (%lld, %lld, %lld), torchvision (%lld, %lld, %lld)",
                  (long long)gs[0], (long long)gs[1], (long long)gs[2], (long long)ws[0], (long long)ws[1], (long long)ws[2]);
            for (d = 0; d < m && !g_case_failed; d++)
                if (!(fabsf(got[d] - want[d]) <= 1e-5f * fabsf(want[d]) + 1e-6f)) CHECK(0, "[%d]: torchvision %.8g, nn.h %.8g", d, want[d], got[d]);
            free(x); free(want);
            nn_arena_reset(ctx);
            end();
            ntf++;
        } else if (!strncmp(line, "labels ", 7) || !strncmp(line, "preds ", 6)) {
            int64_t *dst = line[0] == 'l' ? labels : preds; char *r = strchr(line, ':') + 1;
            for (nl = 0; nl < 64; nl++) { char *e; long v = strtol(r, &e, 10); if (e == r) break; dst[nl] = v; r = e; }
        } else if (!strncmp(line, "confusion ", 10)) {
            char *r = line + 10;
            for (k = 0; k < 16; k++) cm_want[k] = strtol(r, &r, 10);
        } else if (!strncmp(line, "report", 6)) {
            int lines = atoi(strchr(line, ' ') + 1), i, four = line[6] == '4';
            static char want[8192], got[8192];
            const char *names[4] = { "T-shirt/top", "Trouser", "Pullover", "Ankle boot" };
            want[0] = 0;
            for (i = 0; i < lines; i++) {
                char l2[512];
                if (!fgets(l2, sizeof l2, f)) break;
                strcat(want, l2 + 1);
            }
            want[strlen(want) - 1] = 0;      /* the fixture's last line has no newline in sklearn's string */
            begin(four ? "classification report (target names, digits=4) equals scikit-learn's" : "confusion matrix and classification report equal scikit-learn's");
            nn_confusion_matrix(labels, preds, nl, 4, cm);
            CHECK(memcmp(cm, cm_want, 16 * sizeof(int64_t)) == 0, "confusion matrix differs from sklearn's");
            CHECK(nn_classification_report(cm, 4, four ? names : NULL, four ? 4 : 2, got, sizeof got) > 0, "report did not fit");
            CHECK(!strcmp(got, want), "report differs.\nscikit-learn:\n%s\nnn.h:\n%s", want, got);
            CHECK(fabs(nn_accuracy(cm, 4) - 0.7) < 1e-12, "accuracy %g", nn_accuracy(cm, 4));
            end();
        }
    }
    fclose(f);
    begin("transform fixtures: all cases ran");
    CHECK(ntf >= 9, "%d transform cases", ntf);
    end();
}

/* ---- your own datasets, DataLoader options, resuming a shuffling loader ---- */

/* a user's data: a struct on the stack, its own free counted */
typedef struct { float scale; int64_t n; int frees; } user_data;
static int user_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    user_data *u = (user_data *)user;
    x[0] = u->scale * (float)i; x[1] = 1.0f; x[2] = -1.0f;
    if (y) { y[0] = (float)(i & 1); y[1] = (float)((i >> 1) & 1); }
    if (label) *label = i * 1000000007LL;      /* beyond float's 2^24: must arrive exactly */
    return i != 5 || u->scale != 7.0f;         /* scale 7 makes sample 5 fail */
}
static void user_free(void *user) { ((user_data *)user)->frees++; }

static void test_dataset_api(nn_ctx *ctx) {
    user_data u; nn_dataset *d; int64_t shape[3] = { 3, 1, 1 }, bad[1] = { -2 }, label, xs[3]; float x[3], y[2];
    nn_dataloader_opts o = nn_dataloader_opts_default(); nn_dataloader *dl; nn_tensor *bx, *by;
    u.scale = 0.5f; u.n = 6; u.frees = 0;

    begin("dataset: nn_dataset_new builds your dataset; nn_dataset_get gives x and an int64 label exactly");
    d = nn_dataset_new(ctx, 6, 1, shape, 0, user_get, NULL, &u);
    CHECK(d && nn_dataset_len(d) == 6 && nn_dataset_xshape(d, xs) == 1 && xs[0] == 3 && nn_dataset_ydim(d) == 0, "new: %s", ERRS(ctx));
    CHECK(nn_dataset_get(d, 4, x, NULL, &label) && x[0] == 2.0f && label == 4000000028LL, "get: x %g label %lld", x[0], (long long)label);
    CHECK(!nn_dataset_get(d, 6, x, NULL, &label) && strstr(ERRS(ctx), "index 6 is out of range for 6 samples"), "range: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();

    begin("dataset: the DataLoader works on it with no private field; y is int64 (B) and exact");
    dl = nn_dataloader_new(d, o);
    CHECK(dl && nn_dataloader_next(dl, &bx, &by) && by->dtype == NN_INT64 && by->ndim == 1 && by->shape[0] == 1 && nn_i64(by)[0] == 0,
          "loader: %s", ERRS(ctx));
    CHECK(dl && nn_dataloader_next(dl, &bx, &by) && nn_i64(by)[0] == 1000000007LL && bx->ndim == 2 && bx->shape[1] == 3, "second batch");
    nn_dataloader_free(dl);
    end();

    begin("dataset: nn_dataset_free frees only the library's part; your data stays yours unless you pass free_user");
    nn_dataset_free(d);                          /* u is on the stack: freeing it would crash under ASan */
    CHECK(u.frees == 0 && u.scale == 0.5f, "your data was touched: frees %d", u.frees);
    d = nn_dataset_new(ctx, 6, 1, shape, 0, user_get, user_free, &u);
    nn_dataset_free(d);
    CHECK(u.frees == 1, "free_user called %d times, expected once", u.frees);
    nn_dataset_free(NULL);
    end();

    begin("dataset: multi-hot targets stay float32 (B, ydim); a failing get stops the epoch with a message");
    u.scale = 7.0f;
    d = nn_dataset_new(ctx, 6, 3, shape, 2, user_get, NULL, &u);
    o.batch_size = 4;
    dl = nn_dataloader_new(d, o);
    CHECK(dl && nn_dataloader_next(dl, &bx, &by) && by->dtype == NN_FLOAT32 && by->ndim == 2 && by->shape[0] == 4 && by->shape[1] == 2
          && nn_f32(by)[2 * 3] == 1.0f && nn_f32(by)[2 * 3 + 1] == 1.0f && bx->ndim == 4, "multi-hot: %s", ERRS(ctx));
    CHECK(!nn_dataloader_next(dl, &bx, &by) && strstr(ERRS(ctx), "get failed for sample 5"), "failing get: %s", ERRS(ctx));
    nn_clear_error(ctx);
    nn_dataloader_free(dl);
    end();

    begin("dataset: nn_subset reads its base and does not own it");
    {
        nn_dataset *sub = nn_subset(d, 2, 3);
        CHECK(sub && nn_dataset_len(sub) == 3 && nn_dataset_get(sub, 1, x, y, NULL) && x[0] == 21.0f && y[0] == 1.0f && y[1] == 1.0f, "subset: %s", ERRS(ctx));
        CHECK(!nn_subset(d, 4, 3) && strstr(ERRS(ctx), "[4, 7) is outside the dataset's 6 samples"), "range: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_dataset_free(sub);
        CHECK(nn_dataset_get(d, 0, x, y, NULL), "the base was freed with its subset");
    }
    nn_dataset_free(d);
    end();

    begin("dataset: nn_dataset_new names each missing or wrong argument");
    CHECK(!nn_dataset_new(ctx, 6, 1, shape, 0, NULL, NULL, &u) && strstr(ERRS(ctx), "get is NULL"), "get: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dataset_new(ctx, 6, 0, shape, 0, user_get, NULL, &u) && strstr(ERRS(ctx), "xdim is 0"), "xdim: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dataset_new(ctx, 6, 1, NULL, 0, user_get, NULL, &u) && strstr(ERRS(ctx), "xshape is NULL"), "xshape: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dataset_new(ctx, 6, 1, bad, 0, user_get, NULL, &u) && strstr(ERRS(ctx), "xshape[0] is -2"), "size: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dataset_new(ctx, -1, 1, shape, 0, user_get, NULL, &u) && strstr(ERRS(ctx), "len is -1"), "len: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dataset_new(ctx, 6, 1, shape, -3, user_get, NULL, &u) && strstr(ERRS(ctx), "ydim is -3"), "ydim: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
}

static void test_dataloader_opts(nn_ctx *ctx) {
    user_data u; nn_dataset *d, *empty; int64_t shape[3] = { 1, 2, 2 }; nn_dataloader_opts o = nn_dataloader_opts_default(); nn_transform t;
    u.scale = 1.0f; u.n = 4; u.frees = 0;
    d = nn_dataset_new(ctx, 4, 3, shape, 0, user_get, NULL, &u);
    empty = nn_dataset_new(ctx, 0, 3, shape, 0, user_get, NULL, &u);
    begin("DataLoader options: defaults are PyTorch's; batch_size 0 is an error, not 1; each bad option named");
    CHECK(o.batch_size == 1 && o.shuffle == 0 && o.drop_last == 0 && o.seed == 0 && o.transforms == NULL && o.ntransforms == 0, "defaults");
    o.batch_size = 0;
    CHECK(!nn_dataloader_new(d, o) && strstr(ERRS(ctx), "batch_size is 0; it must be >= 1"), "batch_size 0: %s", ERRS(ctx));
    nn_clear_error(ctx);
    o.batch_size = -2;
    CHECK(!nn_dataloader_new(d, o) && strstr(ERRS(ctx), "batch_size is -2"), "batch_size -2: %s", ERRS(ctx));
    nn_clear_error(ctx);
    o.batch_size = 2; o.shuffle = 2;
    CHECK(!nn_dataloader_new(d, o) && strstr(ERRS(ctx), "shuffle is 2"), "shuffle: %s", ERRS(ctx));
    nn_clear_error(ctx);
    o.shuffle = 0; o.ntransforms = 1;
    CHECK(!nn_dataloader_new(d, o) && strstr(ERRS(ctx), "ntransforms is 1 with transforms NULL"), "transforms: %s", ERRS(ctx));
    nn_clear_error(ctx);
    t = nn_grayscale(0); o.transforms = &t;
    CHECK(!nn_dataloader_new(d, o) && strstr(ERRS(ctx), "nn_grayscale: num_output_channels is 0; it must be 1 or 3"), "grayscale 0: %s", ERRS(ctx));
    nn_clear_error(ctx);
    o.ntransforms = 0; o.transforms = NULL;
    CHECK(!nn_dataloader_new(empty, o) && strstr(ERRS(ctx), "the dataset has 0 samples"), "empty: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_dataloader_new(NULL, o), "a NULL dataset gave a loader");
    end();
    begin("DataLoader: the transforms are copied (your array may go away)");
    {
        nn_transform ts[1]; nn_dataloader *dl; nn_tensor *x, *y;
        ts[0] = nn_grayscale(3); o.transforms = ts; o.ntransforms = 1;
        dl = nn_dataloader_new(d, o);
        ts[0] = nn_resize(9, 9);
        CHECK(dl && nn_dataloader_next(dl, &x, &y) && x->shape[1] == 3 && x->shape[2] == 2, "grayscale(3) not applied: %s", ERRS(ctx));
        nn_dataloader_free(dl);
    }
    end();
    nn_dataset_free(d); nn_dataset_free(empty);
}

/* 13 images (1, 2, 3) and 3 float targets each: regression through flatten-linear-dropout-linear */
static int img_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    int k;
    (void)user; (void)label;
    for (k = 0; k < 6; k++) x[k] = (float)((i * 7 + k * 3) % 11) / 11.0f;
    for (k = 0; k < 3; k++) y[k] = (float)((i + k) % 3 == 0);
    return 1;
}
typedef struct { nn_module *model; nn_optim *opt; nn_dataloader *loader; nn_tensor *params[8]; int nparams; } run_t;
static void run_new(nn_ctx *ctx, run_t *r, nn_dataset *d, uint64_t loader_seed) {
    nn_module *layers[4]; nn_adam_opts ao; nn_dataloader_opts o = nn_dataloader_opts_default();
    static nn_transform flip[1];
    flip[0] = nn_random_horizontal_flip(0.5f);
    nn_manual_seed(ctx, 3);
    layers[0] = nn_flatten_new(ctx, 1, -1); layers[1] = nn_linear_new(ctx, 6, 8, 1);
    layers[2] = nn_dropout_new(ctx, 0.25f); layers[3] = nn_linear_new(ctx, 8, 3, 1);
    r->model = nn_sequential_new(ctx, layers, 4);
    r->nparams = nn_module_parameters(r->model, r->params, 8);
    ao = nn_adam_opts_default(); ao.lr = 0.02;
    r->opt = nn_adam(r->params, r->nparams, ao);
    o.batch_size = 4; o.shuffle = 1; o.seed = loader_seed; o.transforms = flip; o.ntransforms = 1;
    r->loader = nn_dataloader_new(d, o);
}
static void run_free(run_t *r) { nn_dataloader_free(r->loader); nn_optim_free(r->opt); nn_module_free(r->model); }
/* n steps; an epoch's end starts the next */
static void run_steps(nn_ctx *ctx, run_t *r, int n) {
    int t;
    for (t = 0; t < n; t++) {
        nn_tensor *x, *y, *loss;
        if (!nn_dataloader_next(r->loader, &x, &y) && !nn_dataloader_next(r->loader, &x, &y)) return;
        nn_optim_zero_grad(r->opt);
        loss = nn_mse_loss(nn_forward(r->model, x), y, NN_MEAN);
        nn_backward(loss, NULL, 0);
        nn_optim_step(r->opt);
        nn_arena_reset(ctx);
    }
}
static int run_same(run_t *a, run_t *b) {
    int k;
    if (a->nparams != b->nparams) return 0;
    for (k = 0; k < a->nparams; k++) if (memcmp(nn_f32(a->params[k]), nn_f32(b->params[k]), (size_t)a->params[k]->numel * sizeof(float))) return 0;
    return 1;
}

/* train `total` steps in one go, and again stopped after `at` steps, saved (with or without
   the loader), resumed in fresh objects: 1 when the weights end bit-identical */
static int resume_matches(nn_ctx *ctx, nn_dataset *d, int at, int total, int with_loader, int64_t *epoch_after_load) {
    run_t ref, r; nn_checkpoint ck = nn_checkpoint_default(); const char *path = "test_resume.safetensors"; int same;
    run_new(ctx, &ref, d, 17); run_steps(ctx, &ref, total);
    run_new(ctx, &r, d, 17); run_steps(ctx, &r, at);
    ck.model = r.model; ck.optim = r.opt; ck.loader = with_loader ? r.loader : NULL;
    CHECK(nn_save_checkpoint(&ck, path), "save: %s", ERRS(ctx));
    run_free(&r);
    run_new(ctx, &r, d, 99);                     /* fresh objects, another loader seed, a disturbed RNG */
    nn_manual_seed(ctx, 12345);
    ck.model = r.model; ck.optim = r.opt; ck.loader = with_loader ? r.loader : NULL;
    CHECK(nn_load_checkpoint(&ck, path), "load: %s", ERRS(ctx));
    *epoch_after_load = nn_dataloader_epoch(r.loader);
    run_steps(ctx, &r, total - at);
    same = run_same(&ref, &r);
    run_free(&ref); run_free(&r);
    remove(path);
    return same;
}

static void test_loader_resume(nn_ctx *ctx) {
    int64_t shape[3] = { 1, 2, 3 }, ep; nn_dataset *d = nn_dataset_new(ctx, 13, 3, shape, 3, img_get, NULL, NULL);
    begin("checkpoint with a shuffling DataLoader: resumed mid-epoch, the run ends bit-identical (memcmp)");
    CHECK(resume_matches(ctx, d, 6, 15, 1, &ep), "mid-epoch resume (step 6 of 15, 4 batches an epoch) differs");
    CHECK(ep == 2, "the loader's epoch after loading is %lld, expected 2", (long long)ep);
    end();
    begin("checkpoint with a shuffling DataLoader: resumed at an epoch's end and in the first epoch, bit-identical");
    CHECK(resume_matches(ctx, d, 8, 15, 1, &ep), "resume at the end of epoch 2 differs");
    CHECK(resume_matches(ctx, d, 1, 9, 1, &ep), "resume after one step differs");
    end();
    begin("checkpoint without the loader: the resumed run differs (the test above can fail)");
    CHECK(!resume_matches(ctx, d, 6, 15, 0, &ep), "a resumed run matched without the loader's state");
    end();
    begin("checkpoint: a loader over another dataset length is refused by name, nothing changes");
    {
        run_t r; nn_checkpoint ck = nn_checkpoint_default(); nn_dataset *d2 = nn_dataset_new(ctx, 12, 3, shape, 3, img_get, NULL, NULL);
        nn_dataloader *other = nn_dataloader_new(d2, nn_dataloader_opts_default());
        run_new(ctx, &r, d, 17); run_steps(ctx, &r, 3);
        ck.model = r.model; ck.optim = r.opt; ck.loader = r.loader;
        CHECK(nn_save_checkpoint(&ck, "test_resume.safetensors"), "save: %s", ERRS(ctx));
        ck.loader = other;
        CHECK(!nn_load_checkpoint(&ck, "test_resume.safetensors") && strstr(ERRS(ctx), "had 13 samples; this one has 12"), "length: %s", ERRS(ctx));
        CHECK(nn_dataloader_epoch(other) == 0, "the other loader changed");
        nn_clear_error(ctx);
        remove("test_resume.safetensors");
        run_free(&r); nn_dataloader_free(other); nn_dataset_free(d2);
    }
    end();
    nn_dataset_free(d);
}

/* a dataset you write yourself: 10 samples, x = (i, -i), label i % 3 (int64) */
static int toy_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    (void)user; (void)y;
    x[0] = (float)i; x[1] = -(float)i; *label = i % 3;
    return 1;
}

static void test_dataloader(nn_ctx *ctx) {
    nn_dataset *toy; nn_dataloader_opts o; nn_dataloader *a, *b, *c; nn_tensor *xa, *ya, *xb, *yb; int64_t seen[10], i, nb = 0, two = 2;
    int same = 1, differs = 0;
    toy = nn_dataset_new(ctx, 10, 1, &two, 0, toy_get, NULL, NULL);
    o = nn_dataloader_opts_default();
    o.batch_size = 4; o.shuffle = 1; o.seed = 42;
    begin("DataLoader: same seed, same batches; another seed, another order; every sample once per epoch");
    a = nn_dataloader_new(toy, o); b = nn_dataloader_new(toy, o);
    o.seed = 43; c = nn_dataloader_new(toy, o);
    CHECK(nn_dataloader_len(a) == 3, "len %lld", (long long)nn_dataloader_len(a));
    memset(seen, 0, sizeof seen);
    while (nn_dataloader_next(a, &xa, &ya)) {
        CHECK(nn_dataloader_next(b, &xb, &yb), "b ended early");
        nb++;
        if (xa->numel != xb->numel || memcmp(nn_f32(xa), nn_f32(xb), (size_t)xa->numel * sizeof(float))) same = 0;
        CHECK(ya->dtype == NN_INT64 && ya->ndim == 1 && ya->shape[0] == xa->shape[0], "class labels are not int64 (B): %s", nn_dtype_name(ya->dtype));
        for (i = 0; i < xa->shape[0]; i++) { seen[(int64_t)nn_f32(xa)[2 * i]]++; CHECK(nn_i64(ya)[i] == (int64_t)nn_f32(xa)[2 * i] % 3, "label mismatch"); }
    }
    CHECK(nb == 3 && xa->shape[0] == 2, "%lld batches, last of %lld", (long long)nb, (long long)xa->shape[0]);
    for (i = 0; i < 10; i++) CHECK(seen[i] == 1, "sample %lld seen %lld times", (long long)i, (long long)seen[i]);
    CHECK(same, "same seed gave different batches");
    nn_dataloader_next(a, &xa, &ya); nn_dataloader_next(c, &xb, &yb);
    for (i = 0; i < 8; i++) if (nn_f32(xa)[i] != nn_f32(xb)[i]) differs = 1;
    CHECK(differs, "seeds 42 and 43 gave the same first batch");
    nn_dataloader_free(a); nn_dataloader_free(b); nn_dataloader_free(c);
    end();

    begin("DataLoader: drop_last, no shuffle keeps order, and no allocation per batch after the first");
    o.shuffle = 0; o.drop_last = 1; o.seed = 0;
    a = nn_dataloader_new(toy, o);
    CHECK(nn_dataloader_len(a) == 2, "drop_last len %lld", (long long)nn_dataloader_len(a));
    nb = 0;
    {
        long before = 0;
        int epoch;
        for (epoch = 0; epoch < 3; epoch++) {
            while (nn_dataloader_next(a, &xa, &ya)) {
                if (epoch == 0 && nb == 0) CHECK(nn_f32(xa)[0] == 0 && nn_f32(xa)[6] == 3, "order changed without shuffle");
                if (epoch == 0 && nb == 0) before = g_mallocs;
                nb++;
            }
        }
        CHECK(nb == 6, "%lld batches over 3 epochs, expected 6", (long long)nb);
        CHECK(g_mallocs == before, "%ld allocations after the first batch", g_mallocs - before);
    }
    nn_dataloader_free(a);
    end();
    nn_dataset_free(toy);
    test_dataset_api(ctx);
    test_dataloader_opts(ctx);
    test_loader_resume(ctx);
}



static void test_random_transforms(nn_ctx *ctx) {
    int64_t shape[3] = { 1, 6, 6 }, os[3], i;
    float x[36], a[64], b[64];
    nn_transform ts[4];
    uint64_t s1 = 7, s2 = 7, s3 = 8;
    int differ = 0;
    for (i = 0; i < 36; i++) x[i] = (float)i / 36.0f;
    begin("random transforms: zero strength is the identity; one RNG state repeats; another differs");
    ts[0] = nn_random_rotation(0); ts[1] = nn_color_jitter(0, 0); ts[2] = nn_random_horizontal_flip(0);
    CHECK(nn_apply_transforms(ctx, ts, 3, x, shape, a, os, &s1) && memcmp(a, x, sizeof x) == 0, "not the identity");
    ts[0] = nn_random_rotation(30); ts[1] = nn_color_jitter(0.4f, 0.4f); ts[2] = nn_random_crop(6, 2); ts[3] = nn_random_horizontal_flip(0.5f);
    s1 = 7;
    nn_apply_transforms(ctx, ts, 4, x, shape, a, os, &s1);
    nn_apply_transforms(ctx, ts, 4, x, shape, b, os, &s2);
    CHECK(memcmp(a, b, 36 * sizeof(float)) == 0, "same RNG state, different results");
    nn_apply_transforms(ctx, ts, 4, x, shape, b, os, &s3);
    for (i = 0; i < 36; i++) if (a[i] != b[i]) differ = 1;
    CHECK(differ, "another RNG state gave the same result");
    for (i = 0; i < 36; i++) CHECK(a[i] >= 0.0f && a[i] <= 1.0f, "jitter left [0, 1]: %g", a[i]);
    end();
    nn_arena_reset(ctx);
    test_transform_options(ctx);
    test_plot_and_report(ctx);
}

/* every transform value torchvision refuses is an error naming it; no zero means "the default" */
static void test_transform_options(nn_ctx *ctx) {
    int64_t shape[3] = { 3, 2, 2 }, os[3]; float x[12], out[64]; nn_transform t; int k;
    const float mean[5] = { 0, 0, 0, 0, 0 }, sd[5] = { 1, 1, 0, 1, 1 };
    struct { nn_transform t; const char *msg; } bad[7];
    for (k = 0; k < 12; k++) x[k] = (float)k / 12.0f;
    bad[0].t = nn_grayscale(0); bad[0].msg = "nn_grayscale: num_output_channels is 0; it must be 1 or 3";
    bad[1].t = nn_grayscale(2); bad[1].msg = "num_output_channels is 2";
    bad[2].t = nn_random_rotation(-5); bad[2].msg = "nn_random_rotation: degrees is -5";
    bad[3].t = nn_random_horizontal_flip(1.5f); bad[3].msg = "nn_random_horizontal_flip: p is 1.5";
    bad[4].t = nn_normalize(5, mean, sd); bad[4].msg = "nn_normalize: 5 channels; 1 to 4 (NN_NORMALIZE_MAX_CHANNELS)";
    bad[5].t = nn_normalize(3, mean, sd); bad[5].msg = "nn_normalize: std[2] is 0";
    bad[6].t = nn_color_jitter(-0.1f, 0); bad[6].msg = "nn_color_jitter: brightness -0.1";
    begin("transforms: values torchvision refuses are errors naming them (nn_grayscale(0) is not 1)");
    for (k = 0; k < 7; k++) {
        CHECK(!nn_apply_transforms(ctx, &bad[k].t, 1, x, shape, out, os, NULL) && strstr(ERRS(ctx), bad[k].msg), "case %d: %s", k, ERRS(ctx));
        nn_clear_error(ctx);
    }
    t = nn_grayscale(1);
    CHECK(nn_apply_transforms(ctx, &t, 1, x, shape, out, os, NULL) && os[0] == 1, "grayscale(1): %s", ERRS(ctx));
    CHECK(!nn_apply_transforms(ctx, NULL, 1, x, shape, out, os, NULL) && strstr(ERRS(ctx), "must not be NULL"), "NULL ts: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    nn_arena_reset(ctx);
}

/* what f(...) printed to stdout, into buf */
static void capture_stdout(char *buf, size_t size, void (*f)(const float *const *, int), const float *const *ys, int n) {
    FILE *tmp = tmpfile(); int saved; size_t got;
    buf[0] = 0;
    if (!tmp) return;
    fflush(stdout);
    saved = dup(1);
    dup2(fileno(tmp), 1);
    f(ys, n);
    fflush(stdout);
    dup2(saved, 1); close(saved);
    rewind(tmp);
    got = fread(buf, 1, size - 1, tmp);
    buf[got] = 0;
    fclose(tmp);
}
static void plot_one(const float *const *ys, int n) { const char *labels[1] = { "loss" }; nn_plot_terminal("t", ys, labels, 1, n, 4); }

static void test_plot_and_report(nn_ctx *ctx) {
    static char out[8192]; float v[3] = { 0.5f, 0.4f, 0.3f }; const float *ys[1]; int k = 300, i, len;
    int64_t *cm; char *buf;
    ys[0] = v;
    begin("terminal plot: a one-epoch plot labels its axis \"1\", not \"11\"; two epochs read \"1 2\"");
    capture_stdout(out, sizeof out, plot_one, ys, 1);
    CHECK(strstr(out, "  1 (epoch)") && !strstr(out, "11 (epoch)"), "one epoch:\n%s", out);
    capture_stdout(out, sizeof out, plot_one, ys, 2);
    CHECK(strstr(out, " 1 2 (epoch)") && !strstr(out, "12 (epoch)"), "two epochs:\n%s", out);
    capture_stdout(out, sizeof out, plot_one, ys, 3);
    CHECK(strstr(out, "  1 3 (epoch)") || strstr(out, "  1  3 (epoch)"), "three epochs:\n%s", out);
    end();
    begin("classification report: 300 classes (the old cap was 256)");
    cm = (int64_t *)calloc((size_t)k * k, sizeof(int64_t));
    buf = (char *)malloc(1 << 16);
    for (i = 0; i < k; i++) cm[i * k + i] = 1 + i % 3;
    len = nn_classification_report(cm, k, NULL, 2, buf, 1 << 16);
    CHECK(len > 0 && strstr(buf, "\n         299       1.00      1.00      1.00         3\n"), "report: %d", len);
    CHECK(nn_classification_report(cm, k, NULL, 2, buf, 100) == -1, "a small buffer is not -1");
    free(cm); free(buf);
    end();
    (void)ctx;
}
