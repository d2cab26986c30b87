/* ---- checkpoints ---- */

static int files_equal_weights(nn_module *a, nn_module *b) {
    const nn_state_entry *ea, *eb; int n = nn_module_state(a, &ea), k;
    if (n != nn_module_state(b, &eb)) return 0;
    for (k = 0; k < n; k++) if (memcmp(nn_f32(ea[k].tensor), nn_f32(eb[k].tensor), (size_t)ea[k].tensor->numel * sizeof(float))) return 0;
    return 1;
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
    int t; float last = 0; nn_cross_entropy_opts co; memset(&co, 0, sizeof co);
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

static void test_checkpoints(nn_ctx *ctx) {
    small_t s1, s2; nn_module *a, *b; nn_tensor *pa[8], *pb[8], *x, *y; nn_optim *oa, *ob; nn_scheduler *sa, *sb;
    nn_adam_opts ao; int64_t sx[2] = { 10, 6 }, sy[1] = { 10 }, i; nn_checkpoint ck;
    const char *path = "test_ckpt.safetensors";
    memset(&ao, 0, sizeof ao); ao.lr = 0.01f;

    begin("checkpoint: model round trip through safetensors");
    nn_manual_seed(ctx, 11);
    a = small_new(ctx, &s1); b = small_new(ctx, &s2);
    CHECK(!files_equal_weights(a, b), "two fresh models are equal");
    CHECK(nn_save_model(a, "test_model.safetensors") && nn_load_model(b, "test_model.safetensors"), "save/load: %s", ERRS(ctx));
    CHECK(files_equal_weights(a, b), "weights differ after the round trip");
    end();

    begin("checkpoint: resume from a checkpoint ends with the same weights as an uninterrupted run");
    nn_manual_seed(ctx, 5);
    x = nn_randn(ctx, 2, sx); y = nn_empty(ctx, 1, sy);
    for (i = 0; i < 10; i++) nn_f32(y)[i] = (float)(i % 3);
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
        nn_tensor *before = nn_keep(s2.fc1->weight);
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
        CHECK(memcmp(nn_f32(before), nn_f32(s2.fc1->weight), (size_t)before->numel * sizeof(float)) == 0, "a failed load changed the model");
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
    nn_dataset *d; float x[15], y[1];
    for (i = 0; i < 60; i++) px[i] = (unsigned char)(i * 4);
    CHECK(system("rm -rf test_data_tmp && mkdir -p test_data_tmp/folder/cat test_data_tmp/folder/dog test_data_tmp/bad/x") == 0, "mkdir");
    write_idx("test_data_tmp/img.idx", 3, dims, px, 60);
    write_idx("test_data_tmp/lab.idx", 1, ldims, lab, 4);

    begin("data: IDX images and labels read, scaled to [0, 1] as ToTensor");
    d = nn_mnist(ctx, "test_data_tmp/img.idx", "test_data_tmp/lab.idx");
    CHECK(d && d->len == 4 && d->xshape[0] == 1 && d->xshape[1] == 3 && d->xshape[2] == 5 && d->num_classes == 5, "shape/len wrong: %s", ERRS(ctx));
    if (d) {
        CHECK(d->get(d, 2, x, y) && y[0] == 4.0f && fabsf(x[1] - (float)(31 * 4) / 255.0f) < 1e-7f, "sample 2: y %g x[1] %g", y[0], x[1]);
        CHECK(!d->get(d, 4, x, y) && strstr(ERRS(ctx), "index 4 is out of range"), "out of range: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    nn_dataset_free(d);
    end();

#ifdef NN_HAVE_STB
    begin("data: gzip'd IDX decoded with stb_image's zlib");
    write_gzip("test_data_tmp/img.idx", "test_data_tmp/img.idx.gz");
    write_gzip("test_data_tmp/lab.idx", "test_data_tmp/lab.idx.gz");
    d = nn_mnist(ctx, "test_data_tmp/img.idx.gz", "test_data_tmp/lab.idx.gz");
    CHECK(d && d->len == 4 && d->get(d, 3, x, y) && y[0] == 1.0f && fabsf(x[14] - (float)(59 * 4) / 255.0f) < 1e-7f, "gz read: %s", ERRS(ctx));
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
    CHECK(d && d->len == 3 && d->xshape[0] == 3 && d->num_classes == 3, "csv shape: %s", ERRS(ctx));
    if (d) { CHECK(d->get(d, 1, x, y) && x[0] == 4.5f && x[1] == -5.0f && fabsf(x[2] - 0.6f) < 1e-7f && y[0] == 1.0f, "row 1: %g %g %g | %g", x[0], x[1], x[2], y[0]); }
    nn_dataset_free(d);
    write_bytes("test_data_tmp/bad.csv", "1,2,3\n4,5,6\n7,8\n", 16);
    CHECK(!nn_csv(ctx, "test_data_tmp/bad.csv", 2, 0) && strstr(ERRS(ctx), "test_data_tmp/bad.csv line 3 has 2 columns; the first row has 3"), "missing column: %s", ERRS(ctx));
    nn_clear_error(ctx);
    write_bytes("test_data_tmp/huge.csv", "1,2,1e40\n", 9);   /* found by the fuzzer: was undefined behaviour */
    CHECK(!nn_csv(ctx, "test_data_tmp/huge.csv", 2, 0) && strstr(ERRS(ctx), "1e40 is not a finite float32 number"), "huge: %s", ERRS(ctx));
    nn_clear_error(ctx);
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
        CHECK(d && d->len == 3 && d->num_classes == 2 && d->xshape[0] == 3, "folder: %s", ERRS(ctx));
        if (d) {
            float xi[72], yi[1];
            CHECK(d->get(d, 0, xi, yi) && yi[0] == 0.0f && fabsf(xi[1] - 9.0f / 255.0f) < 1e-6f && fabsf(xi[24] - 3.0f / 255.0f) < 1e-6f, "pixel: %g %g", xi[1], xi[24]);
            CHECK(d->get(d, 2, xi, yi) && yi[0] == 1.0f && fabsf(xi[5] - 200.0f / 255.0f) < 1e-6f, "dog: %g %g", yi[0], xi[5]);
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

/* a dataset you write yourself: 10 samples, x = (i, -i), y = i % 3 */
static int toy_get(nn_dataset *d, int64_t i, float *x, float *y) { (void)d; x[0] = (float)i; x[1] = -(float)i; y[0] = (float)(i % 3); return 1; }

static void test_dataloader(nn_ctx *ctx) {
    nn_dataset toy; nn_dataloader_opts o; nn_dataloader *a, *b, *c; nn_tensor *xa, *ya, *xb, *yb; int64_t seen[10], i, nb = 0; int same = 1, differs = 0;
    memset(&toy, 0, sizeof toy);
    toy.len = 10; toy.xdim = 1; toy.xshape[0] = 2; toy.get = toy_get; toy.ctx = ctx;
    memset(&o, 0, sizeof o);
    o.batch_size = 4; o.shuffle = 1; o.seed = 42;
    begin("DataLoader: same seed, same batches; another seed, another order; every sample once per epoch");
    a = nn_dataloader_new(&toy, o); b = nn_dataloader_new(&toy, o);
    o.seed = 43; c = nn_dataloader_new(&toy, o);
    CHECK(nn_dataloader_len(a) == 3, "len %lld", (long long)nn_dataloader_len(a));
    memset(seen, 0, sizeof seen);
    while (nn_dataloader_next(a, &xa, &ya)) {
        CHECK(nn_dataloader_next(b, &xb, &yb), "b ended early");
        nb++;
        if (xa->numel != xb->numel || memcmp(nn_f32(xa), nn_f32(xb), (size_t)xa->numel * sizeof(float))) same = 0;
        for (i = 0; i < xa->shape[0]; i++) { seen[(int64_t)nn_f32(xa)[2 * i]]++; CHECK(nn_f32(ya)[i] == (float)((int64_t)nn_f32(xa)[2 * i] % 3), "label mismatch"); }
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
    a = nn_dataloader_new(&toy, o);
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
}

