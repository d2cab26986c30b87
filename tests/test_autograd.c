/* autograd: seed 003's worked examples, semantics, errors, memory, graph picture */
/* ---- seed 003's worked examples ---- */

static nn_tensor *scalar(nn_ctx *ctx, float v) {
    int64_t one = 1;
    return nn_set_requires_grad(nn_from_array(ctx, 1, &one, &v), 1);
}

static void test_chain_rule(nn_ctx *ctx) {
    nn_tensor *x = scalar(ctx, -2), *y = scalar(ctx, 5), *z = scalar(ctx, -4), *q, *f;
    begin("seed003 chain rule x=-2 y=5 z=-4");
    q = nn_retain_grad(nn_add(x, y));             /* q.retain_grad(): q is not a leaf */
    f = nn_mul(q, z);
    CHECK(nn_item(q) == 3.0f && nn_item(f) == -12.0f, "q=%g f=%g, expected 3 and -12", nn_item(q), nn_item(f));
    CHECK(nn_backward(f, NULL, 0), "backward failed");
    CHECK(f->grad == NULL, "f is not a leaf and did not retain_grad: its grad is released, as PyTorch's is None");
    CHECK(nn_f32(x->grad)[0] == -4.0f, "df/dx = %g, expected -4", nn_f32(x->grad)[0]);
    CHECK(nn_f32(y->grad)[0] == -4.0f, "df/dy = %g, expected -4", nn_f32(y->grad)[0]);
    CHECK(nn_f32(z->grad)[0] == 3.0f, "df/dz = %g, expected 3", nn_f32(z->grad)[0]);
    CHECK(nn_f32(q->grad)[0] == -4.0f, "df/dq = %g, expected -4", nn_f32(q->grad)[0]);
    end();
    nn_arena_reset(ctx);

    begin("seed003 max(4, 2) routes the gradient to x");
    {
        nn_tensor *a = scalar(ctx, 4), *b = scalar(ctx, 2), *m = nn_maximum(a, b);
        CHECK(nn_item(m) == 4.0f, "max = %g", nn_item(m));
        nn_backward(m, NULL, 0);
        CHECK(nn_f32(a->grad)[0] == 1.0f && nn_f32(b->grad)[0] == 0.0f, "grads %g %g, expected 1 0", nn_f32(a->grad)[0], nn_f32(b->grad)[0]);
        nn_free(a); nn_free(b);
    }
    end();
    begin("seed003 x*y at x=4 y=-5 gives x.grad=-5 y.grad=4; x+y gives 1 1");
    {
        nn_tensor *a = scalar(ctx, 4), *b = scalar(ctx, -5);
        nn_backward(nn_mul(a, b), NULL, 0);
        CHECK(nn_f32(a->grad)[0] == -5.0f && nn_f32(b->grad)[0] == 4.0f, "mul grads %g %g", nn_f32(a->grad)[0], nn_f32(b->grad)[0]);
        nn_zero_grad(a); nn_zero_grad(b);
        nn_backward(nn_add(a, b), NULL, 0);
        CHECK(nn_f32(a->grad)[0] == 1.0f && nn_f32(b->grad)[0] == 1.0f, "add grads %g %g", nn_f32(a->grad)[0], nn_f32(b->grad)[0]);
        nn_free(a); nn_free(b);
    }
    end();
    nn_free(x); nn_free(y); nn_free(z);
    nn_arena_reset(ctx);
}

static float max_abs_diff(const float *a, const float *b, int64_t n) {
    float m = 0; int64_t i;
    for (i = 0; i < n; i++) if (fabsf(a[i] - b[i]) > m) m = fabsf(a[i] - b[i]);
    return m;
}

/* d = a @ b + c and the other hand-derived gradients of seed 003 */
static void test_manual_backprop(nn_ctx *ctx) {
    int64_t sa[2] = { 32, 64 }, sb[2] = { 64, 27 }, sc[1] = { 27 }, sd[2] = { 32, 27 };
    nn_tensor *a, *b, *c, *d, *dd, *da, *db, *dc;
    nn_manual_seed(ctx, 7);
    a = nn_set_requires_grad(nn_randn(ctx, 2, sa), 1);
    b = nn_set_requires_grad(nn_randn(ctx, 2, sb), 1);
    c = nn_set_requires_grad(nn_randn(ctx, 1, sc), 1);
    dd = nn_randn(ctx, 2, sd);
    begin("seed003 d = a @ b + c: da = dd @ b.T, db = a.T @ dd, dc = dd.sum(0)");
    d = nn_add(nn_matmul(a, b), c);
    CHECK(d && d->shape[0] == 32 && d->shape[1] == 27, "d has the wrong shape");
    nn_backward(d, dd, 0);
    {
        int old = nn_set_grad_enabled(ctx, 0);
        da = nn_matmul(dd, nn_transpose(b, 0, 1));
        db = nn_matmul(nn_transpose(a, 0, 1), dd);
        dc = nn_sum(dd, 0, 0);
        nn_set_grad_enabled(ctx, old);
    }
    CHECK(max_abs_diff(nn_f32(da), nn_f32(a->grad), 32 * 64) < 1e-5f, "da differs by %g", max_abs_diff(nn_f32(da), nn_f32(a->grad), 32 * 64));
    CHECK(max_abs_diff(nn_f32(db), nn_f32(b->grad), 64 * 27) < 1e-5f, "db differs by %g", max_abs_diff(nn_f32(db), nn_f32(b->grad), 64 * 27));
    CHECK(max_abs_diff(nn_f32(dc), nn_f32(c->grad), 27) < 1e-5f, "dc differs by %g", max_abs_diff(nn_f32(dc), nn_f32(c->grad), 27));
    end();
    nn_free(a); nn_free(b); nn_free(c); nn_free(dd);
    nn_arena_reset(ctx);

    begin("seed003 broadcast multiply a = b * c: db = (c * da).sum(0, keepdim)");
    {
        int64_t s1[2] = { 1, 64 }, s2[2] = { 32, 64 };
        nn_tensor *bg = nn_set_requires_grad(nn_randn(ctx, 2, s1), 1), *raw = nn_set_requires_grad(nn_randn(ctx, 2, s2), 1);
        nn_tensor *g = nn_randn(ctx, 2, s2), *out = nn_mul(bg, raw), *want_b, *want_c;
        nn_backward(out, g, 0);
        want_b = nn_sum(nn_mul(raw, g), 0, 1);
        want_c = nn_mul(bg, g);
        CHECK(bg->grad->shape[0] == 1 && bg->grad->shape[1] == 64, "db has the wrong shape");
        CHECK(max_abs_diff(nn_f32(want_b), nn_f32(bg->grad), 64) < 1e-5f, "db differs by %g", max_abs_diff(nn_f32(want_b), nn_f32(bg->grad), 64));
        CHECK(max_abs_diff(nn_f32(want_c), nn_f32(raw->grad), 32 * 64) < 1e-6f, "dc differs");
        nn_free(bg); nn_free(raw); nn_free(g);
    }
    end();
    nn_arena_reset(ctx);

    begin("seed003 row sum b = a.sum(1, keepdim): da = ones; row-wise c = a - b: db = -dc.sum(1)");
    {
        int64_t s33[2] = { 3, 3 }, s31[2] = { 3, 1 }; int64_t i;
        nn_tensor *a3 = nn_set_requires_grad(nn_randn(ctx, 2, s33), 1), *b3 = nn_set_requires_grad(nn_randn(ctx, 2, s31), 1);
        nn_tensor *rs = nn_sum(a3, 1, 1), *g;
        CHECK(rs->ndim == 2 && rs->shape[0] == 3 && rs->shape[1] == 1, "row sum keeps dim");
        nn_backward(nn_sum(rs, NN_ALL, 0), NULL, 0);
        for (i = 0; i < 9; i++) CHECK(nn_f32(a3->grad)[i] == 1.0f, "da[%lld] = %g, expected 1", (long long)i, nn_f32(a3->grad)[i]);
        nn_zero_grad(a3);
        g = nn_randn(ctx, 2, s33);
        nn_backward(nn_sub(a3, b3), g, 0);
        for (i = 0; i < 3; i++) {
            float want = -(nn_f32(g)[3 * i] + nn_f32(g)[3 * i + 1] + nn_f32(g)[3 * i + 2]);
            CHECK(fabsf(nn_f32(b3->grad)[i] - want) < 1e-6f, "db[%lld] = %g, expected %g", (long long)i, nn_f32(b3->grad)[i], want);
        }
        nn_free(a3); nn_free(b3); nn_free(g);
    }
    end();
    nn_arena_reset(ctx);

    begin("seed003 max along dim routes through one_hot(argmax)");
    {
        int64_t s[2] = { 4, 6 }; int64_t i;
        nn_tensor *x = nn_set_requires_grad(nn_randn(ctx, 2, s), 1), *idx = NULL, *m, *oh;
        m = nn_max(x, 1, 1, &idx);
        nn_backward(nn_sum(m, NN_ALL, 0), NULL, 0);
        oh = nn_one_hot(nn_argmax(x, 1, 0), 6);
        CHECK(oh && oh->dtype == NN_INT64 && idx && idx->dtype == NN_INT64, "one_hot and the indices are int64, as PyTorch");
        if (oh && idx) {
            for (i = 0; i < 24; i++) CHECK(nn_f32(x->grad)[i] == (float)nn_i64(oh)[i], "grad[%lld] = %g, one_hot %lld", (long long)i, nn_f32(x->grad)[i], (long long)nn_i64(oh)[i]);
            for (i = 0; i < 4; i++) CHECK(nn_i64(idx)[i] == nn_i64(nn_argmax(x, 1, 0))[i], "indices differ from argmax");
        }
        nn_free(x);
    }
    end();
    nn_arena_reset(ctx);
}

/* ---- autograd semantics ---- */

static void test_autograd(nn_ctx *ctx) {
    int64_t s[2] = { 2, 3 }, i;
    nn_tensor *x = nn_set_requires_grad(nn_randn(ctx, 2, s), 1), *y, *d;

    begin("gradients accumulate across backward calls until zeroed");
    nn_backward(nn_sum(nn_mul_scalar(x, 2), NN_ALL, 0), NULL, 0);
    nn_backward(nn_sum(nn_mul_scalar(x, 2), NN_ALL, 0), NULL, 0);
    for (i = 0; i < 6; i++) CHECK(nn_f32(x->grad)[i] == 4.0f, "grad %g, expected 4", nn_f32(x->grad)[i]);
    nn_zero_grad(x);
    for (i = 0; i < 6; i++) CHECK(nn_f32(x->grad)[i] == 0.0f, "grad not zeroed");
    end();

    begin("no_grad: results do not require grad; mode restores");
    {
        int old = nn_set_grad_enabled(ctx, 0);
        y = nn_mul(x, x);
        CHECK(old == 1 && !y->requires_grad, "no_grad result requires grad");
        nn_set_grad_enabled(ctx, old);
        CHECK(nn_is_grad_enabled(ctx) && nn_mul(x, x)->requires_grad, "grad mode not restored");
    }
    end();

    begin("requires_grad spreads; detach cuts the graph and shares data");
    y = nn_exp(x);
    d = nn_detach(y);
    CHECK(y->requires_grad && !d->requires_grad && nn_f32(d) == nn_f32(y), "detach wrong");
    CHECK(nn_mul(d, d)->requires_grad == 0, "op on detached tensor requires grad");
    end();

    begin("backward with an explicit gradient gives a vector-Jacobian product");
    {
        /* y = x^2 elementwise: J = diag(2x); v^T J = 2 x v */
        nn_tensor *v = nn_randn(ctx, 2, s);
        nn_zero_grad(x);
        nn_backward(nn_mul(x, x), v, 0);
        for (i = 0; i < 6; i++) CHECK(fabsf(nn_f32(x->grad)[i] - 2 * nn_f32(x)[i] * nn_f32(v)[i]) < 1e-6f, "vjp wrong at %lld", (long long)i);
        nn_free(v);
    }
    end();

    begin("views share storage: writes through a view reach the base");
    {
        nn_tensor *t = nn_transpose(x, 0, 1), *r = nn_reshape(x, 1, &x->numel);
        CHECK(nn_f32(t) == nn_f32(x) && nn_f32(r) == nn_f32(x), "view copied data");
        CHECK(!nn_is_contiguous(t) && nn_is_contiguous(r), "contiguity wrong");
        nn_f32(t)[t->stride[0] * 2 + t->stride[1] * 1] = 42.0f;  /* t[2][1] = x[1][2] */
        CHECK(nn_f32(x)[1 * 3 + 2] == 42.0f, "write through view lost");
        CHECK(nn_size(t, 0) == 3 && nn_size(t, -1) == 2, "sizes of the transpose");
    }
    end();
    nn_free(x);
    nn_arena_reset(ctx);

    begin("op table: every op's name matches the op list");
    {
#define NAME_OF(e, s, family) s,
        static const char *names[] = { NN__OP_LIST(NAME_OF) };
        int k;
        for (k = 0; k < NN_OP_COUNT; k++) CHECK(!strcmp(nn_op_name(k), names[k]), "op %d is %s in the table, %s in the list", k, nn_op_name(k), names[k]);
    }
    end();

    begin("creation: zeros, ones, full, arange, from_array, rand in [0,1), seeded randn repeats");
    {
        int64_t s6[6] = { 2, 1, 3, 1, 2, 2 };
        nn_tensor *z = nn_zeros(ctx, 6, s6), *o = nn_ones(ctx, 6, s6), *f = nn_full(ctx, 2, s, 7.5f);
        nn_tensor *ar = nn_arange(ctx, 0, 1, 0.25f), *r = nn_rand(ctx, 2, s), *n1, *n2;
        CHECK(z->numel == 24 && z->ndim == 6 && nn_f32(z)[23] == 0 && nn_f32(o)[5] == 1 && nn_f32(f)[5] == 7.5f, "zeros/ones/full");
        CHECK(ar->numel == 4 && nn_f32(ar)[3] == 0.75f, "arange(0,1,0.25) has %lld elements", (long long)ar->numel);
        for (i = 0; i < 6; i++) CHECK(nn_f32(r)[i] >= 0 && nn_f32(r)[i] < 1, "rand out of range");
        nn_manual_seed(ctx, 99); n1 = nn_randn(ctx, 2, s);
        nn_manual_seed(ctx, 99); n2 = nn_randn(ctx, 2, s);
        CHECK(memcmp(nn_f32(n1), nn_f32(n2), 6 * sizeof(float)) == 0, "same seed, different numbers");
        nn_free(z); nn_free(o); nn_free(f); nn_free(ar); nn_free(r); nn_free(n1); nn_free(n2);
    }
    end();

    begin("two contexts are independent: RNG streams and errors");
    {
        nn_ctx *c2 = nn_ctx_new();
        nn_tensor *a, *b;
        nn_set_logger(c2, capture_log, NULL);
        nn_manual_seed(ctx, 5); nn_manual_seed(c2, 5);
        a = nn_randn(ctx, 2, s); b = nn_randn(c2, 2, s);
        CHECK(memcmp(nn_f32(a), nn_f32(b), 6 * sizeof(float)) == 0, "same seed in two contexts differs");
        nn_matmul(b, b);
        CHECK(nn_error(c2) != NULL && nn_error(ctx) == NULL, "error leaked between contexts");
        CHECK(nn_add(a, b) == NULL && nn_error(ctx) && strstr(nn_error(ctx), "another nn_ctx"), "mixing contexts not caught");
        nn_clear_error(ctx);
        nn_free(a); nn_free(b); nn_ctx_free(c2);
    }
    end();
    nn_arena_reset(ctx);
}

/* ---- errors: wrong shapes, NULLs, bad backward: a message, no crash ---- */

static void expect_error(nn_ctx *ctx, const void *result, const char *needle) {
    CHECK(result == NULL, "expected NULL for a bad call");
    CHECK(nn_error(ctx) != NULL && strstr(nn_error(ctx), needle) != NULL, "error \"%s\" does not mention \"%s\"", nn_error(ctx) ? nn_error(ctx) : "(none)", needle);
    CHECK(strstr(g_log, needle) != NULL, "logger got \"%s\"", g_log);
    nn_clear_error(ctx);
    g_log[0] = 0;
}

static void test_errors(nn_ctx *ctx) {
    int64_t s1[2] = { 64, 784 }, s2[2] = { 128, 10 }, s3[2] = { 2, 3 }, s4[2] = { 4, 3 };
    nn_tensor *a = nn_zeros(ctx, 2, s1), *b = nn_zeros(ctx, 2, s2), *c = nn_zeros(ctx, 2, s3), *d = nn_zeros(ctx, 2, s4), *r;
    nn_set_logger(ctx, capture_log, NULL);

    begin("error: matmul shapes named in the message");
    expect_error(ctx, nn_matmul(a, b), "nn_matmul: a is (64, 784) and b is (128, 10)");
    end();
    begin("error: broadcast mismatch");
    expect_error(ctx, nn_add(c, d), "nn_add: shapes (2, 3) and (4, 3) cannot be broadcast");
    end();
    begin("error: NULL input named");
    expect_error(ctx, nn_mul(c, NULL), "nn_mul: b is NULL");
    end();
    begin("error: dim out of range");
    expect_error(ctx, nn_sum(c, 2, 0), "nn_sum: dim 2 is out of range");
    expect_error(ctx, nn_softmax(c, -3), "nn_softmax: dim -3 is out of range");
    end();
    begin("error: reshape element count");
    { int64_t sh[2] = { 4, 2 }; expect_error(ctx, nn_reshape(c, 2, sh), "nn_reshape: (2, 3) has 6 elements; the new shape has 8"); }
    end();
    begin("error: view of a non-contiguous tensor");
    { int64_t sh[1] = { 6 }; expect_error(ctx, nn_view(nn_transpose(c, 0, 1), 1, sh), "nn_view: x (3, 2) is not contiguous"); }
    end();
    begin("error: backward on a non-scalar without a gradient");
    {
        nn_set_requires_grad(c, 1);
        r = nn_mul_scalar(c, 2);
        CHECK(nn_backward(r, NULL, 0) == 0, "backward succeeded");
        CHECK(nn_error(ctx) && strstr(nn_error(ctx), "nn_backward: the tensor is (2, 3); a gradient can be implied only for one-element outputs"), "message: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(nn_backward(r, d, 0) == 0 && nn_error(ctx) && strstr(nn_error(ctx), "grad is (4, 3)"), "wrong-shape grad: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(nn_backward(b, NULL, 0) == 0 && nn_error(ctx) && strstr(nn_error(ctx), "does not require grad"), "no-grad tensor: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_set_requires_grad(c, 0);
    }
    end();
    begin("error: sticky; later ops on a failed result are harmless no-ops");
    {
        nn_tensor *bad = nn_matmul(a, b), *more;
        g_log_count = 0;
        more = nn_relu(nn_sum(nn_add(bad, c), 0, 0));
        CHECK(more == NULL, "op on NULL returned a tensor");
        CHECK(g_log_count == 0, "a NULL from a failed op logged %d more messages", g_log_count);
        CHECK(nn_error(ctx) && strstr(nn_error(ctx), "nn_matmul"), "the first error was not kept: %s", ERRS(ctx));
        CHECK(nn_add(c, c) != NULL, "good ops must still work after an error");
        CHECK(nn_backward(NULL, NULL, 0) == 0 && isnan(nn_item(NULL)), "NULL backward/item not harmless");
        nn_clear_error(ctx);
        CHECK(nn_error(ctx) == NULL, "clear_error did not clear");
    }
    end();
    begin("error: index out of range, bad creation arguments, item of many, bad device");
    {
        int64_t iv[2] = { 0, 5 }, s[1] = { 2 }, neg[2] = { 2, -1 };
        float fv[2] = { 0, 1 };
        nn_tensor *ix = nn_from_i64(ctx, 1, s, iv), *fx = nn_from_array(ctx, 1, s, fv);
        expect_error(ctx, nn_index_select(d, 0, ix), "nn_index_select: index 5 is out of range for a dim of size 4");
        nn_i64(ix)[1] = -5;
        expect_error(ctx, nn_index_select(d, 0, ix), "nn_index_select: index -5 is out of range for a dim of size 4");
        expect_error(ctx, nn_index_select(d, 0, fx), "nn_index_select: index is float32; indices are int64");
        expect_error(ctx, nn_set_requires_grad(ix, 1) && ix->requires_grad ? ix : NULL, "only floating-point tensors can require gradients");
        nn_free(fx);
        expect_error(ctx, nn_zeros(ctx, 2, neg), "nn_zeros: size -1 at dim 1 is negative");
        expect_error(ctx, nn_arange(ctx, 0, 1, 0), "nn_arange: step 0");
        CHECK(isnan(nn_item(c)) && strstr(nn_error(ctx), "nn_item: tensor of shape (2, 3) has 6 elements"), "item: %s", ERRS(ctx));
        nn_clear_error(ctx);
        expect_error(ctx, nn_to(c, NN_CUDA), "nn_to: device 1 is not available");
        nn_free(ix);
    }
    end();
    begin("error: cat/stack/gather shape mismatches");
    {
        nn_tensor *two[2]; two[0] = c; two[1] = d;
        expect_error(ctx, nn_cat(two, 2, 1), "nn_cat: tensor 0 is (2, 3) and tensor 1 is (4, 3)");
        expect_error(ctx, nn_stack(two, 2, 0), "nn_stack: tensor 0 is (2, 3) and tensor 1 is (4, 3)");
        nn_tensor *big = nn_to_dtype(a, NN_INT64);
        expect_error(ctx, nn_gather(c, 0, big), "nn_gather: index (64, 784) is larger than x (2, 3)");
        expect_error(ctx, nn_clamp(c, 1, 0), "nn_clamp: min 1 is greater than max 0");
    }
    end();
    nn_set_logger(ctx, NULL, NULL);
    nn_free(a); nn_free(b); nn_free(c); nn_free(d);
    nn_arena_reset(ctx);
}

/* ---- memory: a steady-state MLP step makes no heap allocation ---- */

static void test_zero_alloc_step(nn_ctx *ctx) {
    int64_t sx[2] = { 16, 8 }, sy[2] = { 16, 4 }, s1[2] = { 8, 32 }, sb1[1] = { 32 }, s2[2] = { 32, 4 }, sb2[1] = { 4 };
    nn_tensor *x, *yt, *p[4];
    float first = 0, last = 0;
    long before = 0, during = 0;
    int step, k; int64_t i;
    nn_manual_seed(ctx, 3);
    x = nn_randn(ctx, 2, sx); yt = nn_randn(ctx, 2, sy);
    p[0] = nn_randn(ctx, 2, s1); p[1] = nn_zeros(ctx, 1, sb1); p[2] = nn_randn(ctx, 2, s2); p[3] = nn_zeros(ctx, 1, sb2);
    for (k = 0; k < 4; k++) {
        for (i = 0; i < p[k]->numel; i++) nn_f32(p[k])[i] *= 0.3f;
        nn_set_requires_grad(p[k], 1);
    }
    begin("memory: after the first step, forward+backward+update makes 0 heap allocations");
    for (step = 0; step < 50; step++) {
        nn_tensor *h, *out, *loss;
        if (step == 1) before = g_mallocs;
        h = nn_relu(nn_add(nn_matmul(x, p[0]), p[1]));
        out = nn_add(nn_matmul(h, p[2]), p[3]);
        loss = nn_mean(nn_pow_scalar(nn_sub(out, yt), 2), NN_ALL, 0);
        nn_backward(loss, NULL, 0);
        for (k = 0; k < 4; k++) {          /* plain gradient descent, written by hand */
            for (i = 0; i < p[k]->numel; i++) nn_f32(p[k])[i] -= 0.1f * nn_f32(p[k]->grad)[i];
            nn_zero_grad(p[k]);
        }
        if (step == 0) first = nn_item(loss);
        last = nn_item(loss);
        nn_arena_reset(ctx);
    }
    during = g_mallocs - before;
    printf("  steady-state MLP step: %ld heap allocations over 49 steps (%.2f per step); loss %.4f -> %.4f\n",
           during, during / 49.0, first, last);
    CHECK(during == 0, "%ld allocations in 49 steady-state steps", during);
    CHECK(last < first * 0.8f, "loss did not fall: %g -> %g", first, last);
    end();
    nn_free(x); nn_free(yt);
    for (k = 0; k < 4; k++) nn_free(p[k]);
}

static void test_graph_dot(nn_ctx *ctx) {
    nn_tensor *x = nn_set_name(scalar(ctx, -2), "x"), *y = nn_set_name(scalar(ctx, 5), "y"), *z = nn_set_name(scalar(ctx, -4), "z");
    nn_tensor *f = nn_set_name(nn_mul(nn_retain_grad(nn_set_name(nn_add(x, y), "q")), z), "f");
    nn_retain_grad(f);   /* the picture shows the gradients of q and f too */
    FILE *fp; char buf[4096]; size_t n;
    begin("graph picture: DOT with op, value and gradient per node");
    nn_backward(f, NULL, 0);
    CHECK(nn_graph_dot(f, "test_graph.dot"), "nn_graph_dot failed");
    fp = fopen("test_graph.dot", "r");
    n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    buf[n] = 0;
    if (fp) fclose(fp);
    CHECK(strstr(buf, "digraph") && strstr(buf, "f = mul") && strstr(buf, "q = add"), "nodes missing:\n%s", buf);
    CHECK(strstr(buf, "data -12 | grad 1") && strstr(buf, "x = leaf | (1,) | data -2 | grad -4") && strstr(buf, "z = leaf | (1,) | data -4 | grad 3"), "values missing:\n%s", buf);
    remove("test_graph.dot");
    end();
    nn_free(x); nn_free(y); nn_free(z);
    nn_arena_reset(ctx);
}


/* ---- core v2: backward and arena semantics as PyTorch's ---- */
static void test_backward_semantics(nn_ctx *ctx) {
    int64_t s[2] = { 64, 64 }, k;
    nn_tensor *w = nn_set_requires_grad(nn_randn(ctx, 2, s), 1), *y, *h, *stale;
    size_t before, peak_chain;
    int mode;

    nn_set_logger(ctx, capture_log, NULL);
    begin("backward: a second backward through a used graph is an error; retain_graph allows it");
    y = nn_sum(nn_mul(w, w), NN_ALL, 0);
    CHECK(nn_backward(y, NULL, 0), "first backward: %s", ERRS(ctx));
    expect_error(ctx, nn_backward(y, NULL, 0) ? y : NULL, "nn_backward: trying to backward through the graph a second time");
    nn_zero_grad(w);
    y = nn_sum(nn_mul(w, w), NN_ALL, 0);
    CHECK(nn_backward(y, NULL, 1) && nn_backward(y, NULL, 0), "retain_graph: %s", ERRS(ctx));
    CHECK(fabsf(nn_f32(w->grad)[5] - 4.0f * nn_f32(w)[5]) < 1e-5f, "two backwards accumulate 2 * 2w: %g vs %g", nn_f32(w->grad)[5], 4.0f * nn_f32(w)[5]);
    end();
    nn_arena_reset(ctx);

    begin("backward: intermediate gradients are released once used (peak = live gradients)");
    /* 40 chained (64, 64) ops: keeping every gradient would hold 40 x 16 KB more */
    h = w;
    for (k = 0; k < 40; k++) h = nn_tanh(h);
    y = nn_sum(h, NN_ALL, 0);
    before = nn_arena_peak(ctx);
    nn_zero_grad(w);
    CHECK(nn_backward(y, NULL, 0), "backward: %s", ERRS(ctx));
    peak_chain = nn_arena_peak(ctx) - before;
    CHECK(peak_chain < 8 * 64 * 64 * sizeof(float), "backward through 40 ops raised the peak by %zu bytes; at most a few gradients should be live", peak_chain);
    CHECK(h->grad == NULL, "an intermediate gradient was kept");
    CHECK(w->grad != NULL, "the leaf lost its gradient");
    end();
    nn_arena_reset(ctx);

    begin("arena: a tensor used after nn_arena_reset is refused with a message");
    stale = nn_mul_scalar(w, 2.0f);
    nn_arena_reset(ctx);
    expect_error(ctx, nn_relu(stale), "was made before the last nn_arena_reset");
    stale = nn_mul_scalar(w, 2.0f);
    nn_arena_reset(ctx);
    expect_error(ctx, nn_backward(stale, NULL, 0) ? stale : NULL, "made before the last nn_arena_reset");
    CHECK(isnan(nn_item(stale)) && nn_error(ctx) && strstr(nn_error(ctx), "nn_item: the tensor was made before"), "nn_item of a stale tensor: %s", ERRS(ctx));
    nn_clear_error(ctx);
    expect_error(ctx, nn_f32(stale), "nn_f32: the tensor was made before the last nn_arena_reset");
    end();

    begin("arena: a loop that never resets gets a warning, long before memory runs away");
    {
        int64_t big[1] = { 1 << 22 };   /* 16 MB per op result */
        nn_tensor *x = nn_zeros(ctx, 1, big);
        g_log[0] = 0; g_log_count = 0;
        for (k = 0; k < 80 && !strstr(g_log, "warning"); k++) nn_add_scalar(x, 1.0f);
        CHECK(strstr(g_log, "warning: the step arena holds") && strstr(g_log, "nn_arena_reset"), "no warning after %lld steps (%s)", (long long)k, g_log);
        CHECK(nn_error(ctx) == NULL, "the warning is not an error: %s", ERRS(ctx));
        CHECK(k * 16 < 1200, "warned only after %lld MB", (long long)(k * 16));
        nn_free(x);
        g_log[0] = 0;
    }
    end();
    nn_arena_reset(ctx);

    begin("NN_NO_GRAD: a scoped torch.no_grad()");
    mode = nn_is_grad_enabled(ctx);
    NN_NO_GRAD(ctx) {
        y = nn_mul(w, w);
        CHECK(!y->requires_grad && !nn_is_grad_enabled(ctx), "grad mode is on inside NN_NO_GRAD");
    }
    CHECK(nn_is_grad_enabled(ctx) == mode, "grad mode not restored");
    y = nn_mul(w, w);
    CHECK(y->requires_grad, "ops after the block do not record");
    end();
    nn_arena_reset(ctx);

    begin("dtype: int64 tensors, nn_f32/nn_i64 check the dtype, to_dtype converts");
    {
        int64_t v[3] = { 3, -1, 7 }, three = 3;
        nn_tensor *i = nn_from_i64(ctx, 1, &three, v), *f = nn_to_dtype(i, NN_FLOAT32), *back = nn_to_dtype(f, NN_INT64);
        CHECK(i->dtype == NN_INT64 && nn_i64(i)[2] == 7 && nn_item(nn_select(i, 0, 1)) == -1.0f, "int64 values");
        CHECK(f && f->dtype == NN_FLOAT32 && nn_f32(f)[0] == 3.0f && back && nn_i64(back)[1] == -1, "to_dtype round trip");
        expect_error(ctx, nn_f32(i), "nn_f32: the tensor is int64, not float32");
        expect_error(ctx, nn_relu(i), "nn_relu: x is int64; expected float32");
        CHECK(nn_dtype_size(NN_INT64) == 8 && nn_dtype_size(NN_BFLOAT16) == 2 && !strcmp(nn_dtype_name(NN_FLOAT16), "float16"), "dtype table");
        CHECK(nn_select(i, 0, 2)->storage == i->storage, "a view shares its input's storage");
        nn_free(i);
    }
    end();
    nn_free(w);
    nn_arena_reset(ctx);
    nn_set_logger(ctx, NULL, NULL);
}

/* ---- review findings: stale tensors across several resets, views of freed tensors, bad arguments ---- */
static void test_review_regressions(nn_ctx *ctx) {
    int64_t s[2] = { 4, 3 }, k;
    nn_tensor *x = nn_randn(ctx, 2, s), *old, *v, *y;
    float first;
    nn_set_logger(ctx, capture_log, NULL);

    begin("stale: a tensor kept across 1, 2 and 5 resets is refused, whatever reused its memory");
    for (k = 1; k <= 5; k++) {
        int r;
        old = nn_mul_scalar(x, 2.0f);
        for (r = 0; r < k; r++) {
            int j;
            nn_arena_reset(ctx);
            for (j = 0; j < 40; j++) nn_add_scalar(nn_mul_scalar(x, 3.0f), 1.0f);   /* the same layout again */
        }
        if (k == 1 || k == 2 || k == 5) expect_error(ctx, nn_add(old, x), "was made before the last nn_arena_reset");
        nn_arena_reset(ctx);
    }
    end();

    begin("views and graph nodes keep a freed persistent tensor's memory until the reset");
    {
        nn_tensor *p = nn_randn(ctx, 2, s);
        first = nn_f32(p)[0];
        v = nn_transpose(p, 0, 1);
        nn_free(p);                                   /* the view still reads it */
        y = nn_add_scalar(v, 0.0f);
        CHECK(y && nn_f32(nn_contiguous(y))[0] == first, "the view read freed memory");
        nn_arena_reset(ctx);                          /* now p's memory goes (the suite counts every free) */
    }
    end();

    begin("bad arguments: backward grad shape, negative index, clip norm, flags, plateau eps, arange");
    {
        int64_t t23[2] = { 2, 3 }, t32[2] = { 3, 2 }, neg[1] = { -1 }, one[1] = { 1 };
        nn_tensor *w = nn_set_requires_grad(nn_randn(ctx, 2, t23), 1), *g = nn_ones(ctx, 2, t32), *ix = nn_from_i64(ctx, 1, one, neg);
        nn_tensor *params[1];
        nn_adam_opts ao = nn_adam_opts_default();
        nn_pool_opts po = nn_pool_opts_default(2);
        nn_plateau_opts pl = nn_plateau_opts_default();
        nn_optim *o;
        params[0] = w;
        expect_error(ctx, nn_backward(nn_mul_scalar(w, 2.0f), g, 0) ? w : NULL, "nn_backward: grad is (3, 2)");
        expect_error(ctx, nn_index_select(w, 0, ix), "nn_index_select: index -1 is out of range for a dim of size 2");
        expect_error(ctx, nn_embedding(w, ix), "index -1 is out of range");
        CHECK(isnan(nn_clip_grad_norm(params, 1, 1.0f, 0.0f)) && nn_error(ctx) && strstr(nn_error(ctx), "norm_type"), "clip norm_type 0: %s", ERRS(ctx));
        nn_clear_error(ctx);
        ao.amsgrad = 2;
        expect_error(ctx, nn_adam(params, 1, ao), "nn_adam: amsgrad is 2; it must be 0 or 1");
        po.ceil_mode = 3;
        expect_error(ctx, nn_max_pool2d(w, po), "ceil_mode 3");
        ao.amsgrad = 0;
        o = nn_adam(params, 1, ao);
        pl.eps = -1.0;
        expect_error(ctx, nn_reduce_lr_on_plateau(o, pl), "eps is -1");
        expect_error(ctx, nn_arange(ctx, 0.0f, INFINITY, 1.0f), "nn_arange: step 1 with start 0 and end inf");
        {
            const char *names[2] = { "a", "a" };
            nn_tensor *ts[2]; ts[0] = w; ts[1] = g;
            CHECK(!nn_safetensors_save(ctx, "never_written.safetensors", names, ts, 2, NULL, NULL, 0)
                  && nn_error(ctx) && strstr(nn_error(ctx), "the name \"a\" appears twice"), "duplicate names: %s", ERRS(ctx));
            nn_clear_error(ctx);
        }
        nn_optim_free(o);
        nn_free(w); nn_free(g); nn_free(ix);
    }
    end();
    begin("training utilities: NULL progress bars and metric arrays are no-ops");
    {
        int64_t yt[2] = { 0, 1 };
        nn_progress_begin(NULL, "x", 10);
        nn_progress_update(NULL, 1, 0.5f);
        nn_progress_end(NULL);
        nn_confusion_matrix(yt, NULL, 2, 2, NULL);
        nn_print_confusion_matrix(NULL, 2);
        nn_class_scores(NULL, 2, NULL, NULL, NULL, NULL);
        CHECK(nn_accuracy(NULL, 3) == 0.0, "accuracy of NULL");
    }
    end();
    nn_free(x);
    nn_arena_reset(ctx);
    nn_set_logger(ctx, NULL, NULL);
}

/* ---- anomaly mode (nn_set_detect_anomaly) ---- */

static int has(const char *s, const char *needle) { return s && strstr(s, needle) != NULL; }

static void test_anomaly(nn_ctx *unused) {
    nn_ctx *ctx = nn_ctx_new();
    int64_t s2[1] = { 2 }, s3[1] = { 3 };
    float xv[3] = { 1, -1, 2 }, zero[2] = { 0, 1 }, sq[2] = { 0, 4 }, nanv[2] = { NAN, 1 };
    nn_tensor *x, *a, *b, *r, *y;
    (void)unused;
    nn_set_logger(ctx, capture_log, NULL);
    x = nn_set_name(nn_from_array(ctx, 1, s3, xv), "x");
    a = nn_set_name(nn_from_array(ctx, 1, s2, zero), "num");
    b = nn_from_array(ctx, 1, s2, zero);

    begin("anomaly: off by default; nn_set_detect_anomaly returns the old mode; NULL ctx is harmless");
    CHECK(nn_is_anomaly_enabled(ctx) == 0, "on by default");
    CHECK(nn_set_detect_anomaly(ctx, 1) == 0, "old mode: not 0");
    CHECK(nn_is_anomaly_enabled(ctx) == 1, "not on after set 1");
    CHECK(nn_set_detect_anomaly(ctx, 7) == 1, "old mode: not 1");
    CHECK(nn_set_detect_anomaly(ctx, 0) == 1 && nn_is_anomaly_enabled(ctx) == 0, "not off after set 0");
    CHECK(nn_set_detect_anomaly(NULL, 1) == 0 && nn_is_anomaly_enabled(NULL) == 0, "NULL ctx");
    end();

    begin("anomaly: log of a negative number names log, its input's shape and name, and its place in the step");
    nn_set_detect_anomaly(ctx, 1);
    r = nn_add_scalar(x, 0.0f);                  /* op #1 */
    CHECK(r != NULL, "add_scalar failed: %s", ERRS(ctx));
    y = nn_log(x);                               /* op #2 */
    CHECK(y == NULL, "log of -1 returned a tensor in anomaly mode");
    CHECK(has(nn_error(ctx), "nn_log: anomaly: log returned nan values (element 1 of its output (3,))"), "message: %s", ERRS(ctx));
    CHECK(has(nn_error(ctx), "input 0 (3,) \"x\", a leaf") && has(nn_error(ctx), "op #2 since the last nn_arena_reset"),
          "message: %s", ERRS(ctx));
    g_log_count = 0;
    CHECK(nn_relu(nn_sum(y, NN_ALL, 0)) == NULL && g_log_count == 0, "later ops on the NULL: %d more messages", g_log_count);
    nn_clear_error(ctx);
    y = nn_log(nn_set_name(r, "shifted"));       /* an input made by an op: named with its op and number */
    CHECK(y == NULL && has(nn_error(ctx), "input 0 (3,) \"shifted\", made by add_scalar (op #1)"), "message: %s", ERRS(ctx));
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
    end();

    begin("anomaly: 0/0 in div names div and both inputs; inf counts too");
    y = nn_div(a, b);
    CHECK(y == NULL, "0/0 returned a tensor");
    CHECK(has(nn_error(ctx), "nn_div: anomaly: div returned nan values (element 0 of its output (2,))")
          && has(nn_error(ctx), "input 0 (2,) \"num\", a leaf; input 1 (2,), a leaf") && has(nn_error(ctx), "op #1"),
          "message: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(nn_div_scalar(a, 0.0f) == NULL && has(nn_error(ctx), "nn_div_scalar: anomaly: div_scalar returned nan"), "div_scalar: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(nn_log(b) == NULL && has(nn_error(ctx), "nn_log: anomaly: log returned inf values"), "log(0): %s", ERRS(ctx));
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
    end();

    begin("anomaly: an input that already holds NaN is not the op's fault");
    {
        nn_tensor *n = nn_from_array(ctx, 1, s2, nanv);
        y = nn_exp(n);
        CHECK(y != NULL && nn_error(ctx) == NULL, "exp of a NaN input: %s", ERRS(ctx));
        CHECK(y && isnan(nn_f32(y)[0]) && nn_f32(y)[1] > 2.7f, "values not passed through");
        nn_free(n);
        nn_arena_reset(ctx);
    }
    end();

    begin("anomaly: sqrt at 0 (finite forward, inf gradient) stops backward naming sqrt's backward");
    {
        nn_tensor *s = nn_set_name(nn_set_requires_grad(nn_from_array(ctx, 1, s2, sq), 1), "s"), *loss;
        loss = nn_sum(nn_sqrt(s), NN_ALL, 0);
        CHECK(loss != NULL && nn_error(ctx) == NULL, "forward failed: %s", ERRS(ctx));
        CHECK(nn_backward(loss, NULL, 0) == 0, "backward succeeded");
        CHECK(has(nn_error(ctx), "nn_backward: anomaly: function 'sqrt' backward returned inf values in its 0th output")
              && has(nn_error(ctx), "the gradient of input 0, (2,) \"s\", a leaf, at element 0")
              && has(nn_error(ctx), "op #1 of the step, made by nn_sqrt with output (2,)"), "message: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_arena_reset(ctx);
        nn_zero_grad(s);

        begin("anomaly: a NaN seed gradient is refused by name");
        {
            nn_tensor *g = nn_from_array(ctx, 1, s2, nanv), *out = nn_mul_scalar(s, 2.0f);
            CHECK(nn_backward(out, g, 0) == 0 && has(nn_error(ctx), "nn_backward: anomaly: grad (2,) holds nan values (element 0)"),
                  "message: %s", ERRS(ctx));
            nn_clear_error(ctx);
            nn_free(g);
            nn_arena_reset(ctx);
        }
        end();

        begin("anomaly: off, no error: NaN and inf flow as before");
        nn_set_detect_anomaly(ctx, 0);
        y = nn_log(x);
        CHECK(y && isnan(nn_f32(y)[1]) && nn_error(ctx) == NULL, "log(-1) off: %s", ERRS(ctx));
        y = nn_div(a, b);
        CHECK(y && isnan(nn_f32(y)[0]) && nn_error(ctx) == NULL, "0/0 off: %s", ERRS(ctx));
        nn_zero_grad(s);
        loss = nn_sum(nn_sqrt(s), NN_ALL, 0);
        CHECK(nn_backward(loss, NULL, 0) == 1 && nn_error(ctx) == NULL, "backward off: %s", ERRS(ctx));
        CHECK(s->grad && isinf(nn_f32(s->grad)[0]) && fabsf(nn_f32(s->grad)[1] - 0.25f) < 1e-6f, "sqrt grads not (inf, 0.25)");
        nn_arena_reset(ctx);
        end();

        begin("anomaly: a gradient left non-finite by an earlier backward is not blamed on an op");
        nn_set_detect_anomaly(ctx, 1);       /* s->grad[0] is inf from the step above */
        loss = nn_sum(nn_mul_scalar(s, 3.0f), NN_ALL, 0);
        CHECK(nn_backward(loss, NULL, 0) == 1 && nn_error(ctx) == NULL, "blamed: %s", ERRS(ctx));
        nn_arena_reset(ctx);
        nn_free(s);
    }
    end();
    nn_free(x); nn_free(a); nn_free(b);
    nn_ctx_free(ctx);
}

/* ---- the memory cap (nn_set_memory_limit, nn_memory_in_use) ---- */

static void test_memory_limit(nn_ctx *unused) {
    nn_ctx *ctx = nn_ctx_new();
    int64_t s1k[1] = { 1000 }, s10k[1] = { 10000 }, huge[2] = { 1000000, 1000000 };
    size_t base, with, lim;
    nn_tensor *t, *u, *v, *w;
    char want[160];
    (void)unused;
    nn_set_logger(ctx, capture_log, NULL);

    begin("memory: nn_memory_in_use counts a tensor you create and gives it back when freed");
    base = nn_memory_in_use(ctx);
    t = nn_zeros(ctx, 1, s1k);
    with = nn_memory_in_use(ctx);
    CHECK(with >= base + 4000 && with < base + 4000 + 1024, "nn_zeros of 1000 floats: %zu -> %zu", base, with);
    nn_free(t);
    CHECK(nn_memory_in_use(ctx) == base, "after nn_free: %zu, was %zu", nn_memory_in_use(ctx), base);
    CHECK(nn_memory_in_use(NULL) == 0 && nn_set_memory_limit(NULL, 1) == 0, "NULL ctx");
    end();

    begin("memory: the step arena counts its blocks, not only the part in use");
    t = nn_ones(ctx, 1, s1k);
    u = nn_relu(t);
    CHECK(u && nn_memory_in_use(ctx) >= nn_arena_capacity(ctx) + with - base, "in use %zu, arena %zu",
          nn_memory_in_use(ctx), nn_arena_capacity(ctx));
    nn_arena_reset(ctx);
    nn_free(t);
    end();

    begin("memory: past the limit an allocation fails before it is made, naming the limit; freeing makes room");
    base = nn_memory_in_use(ctx);
    lim = base + 100000;
    CHECK(nn_set_memory_limit(ctx, lim) == 1, "set failed");
    t = nn_zeros(ctx, 1, s10k);
    u = nn_zeros(ctx, 1, s10k);
    CHECK(t && u, "two tensors of 40 KB under a 100 KB cap: %s", ERRS(ctx));
    with = nn_memory_in_use(ctx);
    v = nn_zeros(ctx, 1, s10k);
    CHECK(v == NULL, "a third 40 KB tensor fit under the cap");
    snprintf(want, sizeof want, "the limit is %zu (nn_set_memory_limit)", lim);
    CHECK(has(nn_error(ctx), "nn_zeros: cannot allocate 10000 elements of float32: memory limit: ") && has(nn_error(ctx), want),
          "message: %s", ERRS(ctx));
    CHECK(nn_memory_in_use(ctx) == with, "a refused allocation changed the count: %zu -> %zu", with, nn_memory_in_use(ctx));
    nn_clear_error(ctx);
    nn_free(u);
    CHECK(nn_memory_in_use(ctx) < with, "freeing did not lower the count");
    v = nn_zeros(ctx, 1, s10k);
    CHECK(v != NULL && nn_error(ctx) == NULL, "allocation after a free failed: %s", ERRS(ctx));
    end();

    begin("memory: a limit below what is in use is allowed; allocations fail until it is raised");
    CHECK(nn_set_memory_limit(ctx, 1) == 1, "set 1 failed");
    CHECK(nn_memory_in_use(ctx) == with, "setting a limit changed the count");
    w = nn_full(ctx, 1, s1k, 2.0f);
    CHECK(w == NULL && has(nn_error(ctx), "nn_full: cannot allocate 1000 elements of float32: memory limit:"), "message: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(nn_relu(t) != NULL && nn_error(ctx) == NULL, "an op in the arena's existing block: %s", ERRS(ctx));
    {   /* an op whose result needs a new arena block (the first is 1 MB) */
        int64_t s2m[1] = { 500000 };
        nn_set_memory_limit(ctx, 0);
        u = nn_zeros(ctx, 1, s2m);
        nn_set_memory_limit(ctx, 1);
        CHECK(u && nn_relu(u) == NULL && has(nn_error(ctx), "nn_relu: cannot allocate 500000 elements of float32: memory limit: "),
              "an op past the cap: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_free(u);
    }
    nn_set_memory_limit(ctx, 0);
    w = nn_full(ctx, 1, s1k, 2.0f);
    CHECK(w != NULL && nn_relu(w) != NULL && nn_error(ctx) == NULL, "no limit: %s", ERRS(ctx));
    nn_arena_reset(ctx);
    nn_free(t); nn_free(v); nn_free(w);
    end();

    begin("memory: a huge request (10^12 elements) is refused before any allocation, with or without a limit");
    with = nn_memory_in_use(ctx);
    t = nn_zeros(ctx, 2, huge);
    CHECK(t == NULL && has(nn_error(ctx), "nn_zeros: cannot allocate 1000000000000 elements of float32: "), "message: %s", ERRS(ctx));
#if defined(__linux__)
    CHECK(has(nn_error(ctx), "more than this machine's memory"), "message: %s", ERRS(ctx));
#endif
    nn_clear_error(ctx);
    {   /* an op's result, as large by broadcasting: refused the same way */
        int64_t col[2] = { 1000000, 1 }, row[2] = { 1, 1000000 };
        u = nn_zeros(ctx, 2, col); v = nn_zeros(ctx, 2, row);
        CHECK(u && v && nn_add(u, v) == NULL && has(nn_error(ctx), "nn_add: "), "message: %s", ERRS(ctx));
#if defined(__linux__)
        CHECK(has(nn_error(ctx), "nn_add: cannot allocate 1000000000000 elements of float32: "), "message: %s", ERRS(ctx));
#endif
        nn_clear_error(ctx);
        nn_free(u); nn_free(v);
    }
    nn_set_memory_limit(ctx, (size_t)1 << 30);
    t = nn_zeros(ctx, 2, huge);
    CHECK(t == NULL && has(nn_error(ctx), "nn_zeros: cannot allocate 1000000000000 elements of float32: "), "message: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(nn_memory_in_use(ctx) == with, "refusals changed the count");
    nn_set_memory_limit(ctx, 0);
    end();

    begin("memory: a training step under a cap that is too small fails with an error, then works with room");
    {
        nn_ctx *main_ctx = ctx;
        nn_module *layers[3];
        nn_module *net;
        nn_optim *opt;
        nn_tensor *params[8], *x, *target, *loss;
        int64_t sx[2] = { 64, 8 }, sy[2] = { 64, 4 };
        int np, step;
        ctx = nn_ctx_new();
        nn_set_logger(ctx, capture_log, NULL);
        nn_manual_seed(ctx, 5);
        layers[0] = nn_linear_new(ctx, 8, 256, 1);
        layers[1] = nn_relu_new(ctx);
        layers[2] = nn_linear_new(ctx, 256, 4, 1);
        net = nn_sequential_new(ctx, layers, 3);
        np = nn_module_parameters(net, params, 8);
        opt = nn_sgd(params, np, nn_sgd_opts_default(0.05));
        x = nn_randn(ctx, 2, sx);
        target = nn_randn(ctx, 2, sy);
        nn_arena_reset(ctx);
        CHECK(nn_arena_capacity(ctx) == 0, "the arena holds %zu bytes before the first step", nn_arena_capacity(ctx));
        nn_set_memory_limit(ctx, nn_memory_in_use(ctx) + 40000);   /* the hidden layer alone is 64 KB */
        for (step = 0; step < 2; step++) {
            nn_optim_zero_grad(opt);
            loss = nn_mse_loss(nn_forward(net, x), target, NN_MEAN);
            CHECK(loss == NULL, "the step fit under the cap");
            CHECK(nn_backward(loss, NULL, 0) == 0, "backward of NULL succeeded");
            nn_optim_step(opt);
            CHECK(has(nn_error(ctx), "memory limit: ") && has(nn_error(ctx), "(nn_set_memory_limit)"), "message: %s", ERRS(ctx));
            nn_clear_error(ctx);
            nn_arena_reset(ctx);
        }
        nn_set_memory_limit(ctx, nn_memory_in_use(ctx) + ((size_t)8 << 20));
        loss = nn_mse_loss(nn_forward(net, x), target, NN_MEAN);
        CHECK(loss && nn_backward(loss, NULL, 0) == 1 && nn_error(ctx) == NULL, "the step with room: %s", ERRS(ctx));
        nn_optim_step(opt);
        CHECK(nn_error(ctx) == NULL && nn_memory_in_use(ctx) <= nn_memory_in_use(ctx) + ((size_t)8 << 20), "%s", ERRS(ctx));
        nn_arena_reset(ctx);
        nn_optim_free(opt);
        nn_module_free(net);
        nn_free(x); nn_free(target);
        /* what stays is the arena: its blocks, their headers and the ring of tensor headers */
        printf("  memory: after a step and freeing everything: %zu bytes in use, the arena's blocks hold %zu\n",
               nn_memory_in_use(ctx), nn_arena_capacity(ctx));
        CHECK(nn_memory_in_use(ctx) >= nn_arena_capacity(ctx) && nn_memory_in_use(ctx) - nn_arena_capacity(ctx) < ((size_t)1 << 20),
              "after freeing everything: %zu in use, arena %zu", nn_memory_in_use(ctx), nn_arena_capacity(ctx));
        nn_ctx_free(ctx);
        ctx = main_ctx;
    }
    end();

    begin("memory: a tensor freed after its context is freed (no leak, no use after free)");
    t = nn_zeros(ctx, 1, s1k);
    nn_ctx_free(ctx);
    nn_fill_(t, 1.0f);
    nn_free(t);
    end();
}
