/* ---- whole models: seed 004's mynet and seed 002's MY_NET ---- */

typedef struct { nn_module *m0, *m1, *m2; } mynet_t;
static nn_tensor *mynet_forward(nn_module *self, nn_tensor *x) {
    mynet_t *n = (mynet_t *)self->user;
    int64_t flat = -1;
    nn_tensor *z0 = nn_view(x, 1, &flat);                    /* x.view(-1) */
    nn_tensor *z1 = nn_relu(nn_forward(n->m0, z0));
    nn_tensor *z2 = nn_relu(nn_forward(n->m1, z1));
    return nn_forward(n->m2, z2);
}
typedef struct { nn_module *conv1, *conv2, *pool1, *conv3, *pool2, *fc1, *fc2, *dropout; } my_net_t;
static nn_tensor *my_net_forward(nn_module *self, nn_tensor *x) {
    my_net_t *n = (my_net_t *)self->user;
    x = nn_forward(n->pool1, nn_relu(nn_forward(n->conv2, nn_relu(nn_forward(n->conv1, x)))));
    x = nn_forward(n->pool2, nn_relu(nn_forward(n->conv3, x)));
    x = nn_forward(n->dropout, nn_flatten(x, 1, -1));
    x = nn_forward(n->dropout, nn_relu(nn_forward(n->fc1, x)));
    return nn_forward(n->fc2, x);
}
static nn_module *build_my_net(nn_ctx *ctx, my_net_t *n, int64_t size, int64_t classes) {
    nn_module *m = nn_module_new(ctx, "MY_NET", my_net_forward, n);
    nn_conv_opts pad1; nn_pool_opts p2;
    memset(&pad1, 0, sizeof pad1); pad1.padding = 1;
    memset(&p2, 0, sizeof p2); p2.kernel_size = 2; p2.stride = 2;
    n->conv1 = nn_module_add(m, "conv1", nn_conv2d_new(ctx, 3, 32, 3, pad1, 1));
    n->conv2 = nn_module_add(m, "conv2", nn_conv2d_new(ctx, 32, 64, 3, pad1, 1));
    n->pool1 = nn_module_add(m, "pool1", nn_max_pool2d_new(ctx, p2));
    n->conv3 = nn_module_add(m, "conv3", nn_conv2d_new(ctx, 64, 128, 3, pad1, 1));
    n->pool2 = nn_module_add(m, "pool2", nn_max_pool2d_new(ctx, p2));
    n->fc1 = nn_module_add(m, "fc1", nn_linear_new(ctx, 128 * (size / 4) * (size / 4), 512, 1));
    n->fc2 = nn_module_add(m, "fc2", nn_linear_new(ctx, 512, classes, 1));
    n->dropout = nn_module_add(m, "dropout", nn_dropout_new(ctx, 0.5f));
    return m;
}

static void compare_tensor(const char *what, const nn_tensor *got, const nn_tensor *want, double rtol, double *worst) {
    int64_t i;
    if (!got || !want) { CHECK(0, "%s: missing tensor", what); return; }
    CHECK(got->numel == want->numel, "%s: %lld elements, expected %lld", what, (long long)got->numel, (long long)want->numel);
    if (got->numel != want->numel) return;
    for (i = 0; i < got->numel; i++) {
        double w = nn_f32(want)[i], err = fabs((double)nn_f32(got)[i] - w);
        if (fabs(w) >= 1e-2 && err / fabs(w) > *worst) *worst = err / fabs(w);
        if (!(err <= rtol * fabs(w) + 1e-6)) { CHECK(0, "%s[%lld]: PyTorch %.9g, nn.h %.9g", what, (long long)i, w, nn_f32(got)[i]); return; }
    }
}

static void check_model(nn_ctx *ctx, const char *name, nn_module *m, int ce) {
    char path[128]; nn_safetensors *ex; nn_tensor *x, *target, *out, *loss, *want_losses, *params[16];
    const nn_state_entry *es; int n, k, step; double worst = 0, worst_curve = 0;
    nn_adam_opts ao; nn_optim *o; nn_cross_entropy_opts co;
    snprintf(path, sizeof path, "tests/fixtures/%s.safetensors", name);
    CHECK(nn_load_model(m, path), "loading PyTorch's state_dict failed: %s", ERRS(ctx));
    snprintf(path, sizeof path, "tests/fixtures/%s_expect.safetensors", name);
    ex = nn_safetensors_open(ctx, path);
    CHECK(ex != NULL, "cannot open %s: %s", path, ERRS(ctx));
    if (!ex || g_case_failed) { nn_safetensors_close(ex); return; }
    x = nn_safetensors_get(ex, "input"); target = nn_safetensors_get(ex, "target"); want_losses = nn_safetensors_get(ex, "losses");
    memset(&co, 0, sizeof co);
    out = nn_forward(m, x);
    loss = ce ? nn_cross_entropy(out, target, co) : nn_mse_loss(out, target, NN_MEAN);
    CHECK(loss && nn_backward(loss, NULL, 0), "forward/backward failed: %s", ERRS(ctx));
    if (!g_case_failed) {
        nn_tensor *w_out = nn_safetensors_get(ex, "output"), *w_loss = nn_safetensors_get(ex, "loss");
        compare_tensor("output", out, w_out, 1e-5, &worst);
        compare_tensor("loss", loss, w_loss, 1e-5, &worst);
        n = nn_module_state(m, &es);
        for (k = 0; k < n; k++) if (!es[k].is_buffer) {
            char gname[200]; nn_tensor *wg;
            snprintf(gname, sizeof gname, "grad.%s", es[k].name);
            wg = nn_safetensors_get(ex, gname);
            compare_tensor(gname, es[k].tensor->grad, wg, 1e-4, &worst);
            nn_free(wg);
        }
        nn_free(w_out); nn_free(w_loss);
    }
    nn_arena_reset(ctx);
    /* 20 Adam steps: PyTorch's loss curve */
    memset(&ao, 0, sizeof ao); ao.lr = 1e-3f; if (ce) ao.weight_decay = 1e-4f;
    n = nn_module_parameters(m, params, 16);
    o = nn_adam(params, n, ao);
    nn_optim_zero_grad(o);
    for (step = 0; step < 20 && !g_case_failed; step++) {
        double err;
        nn_optim_zero_grad(o);
        out = nn_forward(m, x);
        loss = ce ? nn_cross_entropy(out, target, co) : nn_mse_loss(out, target, NN_MEAN);
        nn_backward(loss, NULL, 0);
        nn_optim_step(o);
        err = fabs(nn_item(loss) - nn_f32(want_losses)[step]) / fabs(nn_f32(want_losses)[step]);
        if (err > worst_curve) worst_curve = err;
        CHECK(err <= 1e-4, "Adam step %d: loss %.7g, PyTorch %.7g", step + 1, nn_item(loss), nn_f32(want_losses)[step]);
        nn_arena_reset(ctx);
    }
    printf("  %-8s forward/gradients worst relative error %.2g; 20 Adam steps loss %.5f -> %.5f (PyTorch %.5f -> %.5f), worst %.2g\n",
           name, worst, nn_f32(want_losses)[0], nn_f32(want_losses)[19], nn_f32(want_losses)[0], nn_f32(want_losses)[19], worst_curve);
    nn_optim_free(o);
    nn_free(x); nn_free(target); nn_free(want_losses);
    nn_safetensors_close(ex);
}

static void test_models(nn_ctx *ctx) {
    mynet_t mn; my_net_t net; nn_module *m;
    begin("seed004 mynet: PyTorch's weights, output, loss, gradients, 20 Adam steps");
    m = nn_module_new(ctx, "mynet", mynet_forward, &mn);
    mn.m0 = nn_module_add(m, "m0", nn_linear_new(ctx, 600, 60, 1));
    mn.m1 = nn_module_add(m, "m1", nn_linear_new(ctx, 60, 40, 1));
    mn.m2 = nn_module_add(m, "m2", nn_linear_new(ctx, 40, 10, 1));
    check_model(ctx, "mynet", m, 0);
    nn_module_free(m);
    end();
    begin("seed002 MY_NET (8x8, eval mode): PyTorch's weights, output, loss, gradients, 20 Adam steps");
    m = build_my_net(ctx, &net, 8, 10);
    nn_module_eval(m);
    check_model(ctx, "my_net", m, 1);
    nn_module_free(m);
    end();
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
}

static void test_modules(nn_ctx *ctx) {
    my_net_t net; nn_module *m, *c; const nn_state_entry *es; int n; nn_conv_opts pad1;
    /* The note says (64*24*24 + 1) * 512 = 3,221,504, but that product is 18,874,880,
       which is what PyTorch 1.13 counts for nn.Linear(64*24*24, 512); nn.h matches PyTorch. */
    begin("seed002 parameter counts: 896, 18,496, and PyTorch's 18,874,880 for Linear(64*24*24, 512)");
    memset(&pad1, 0, sizeof pad1); pad1.padding = 1;
    c = nn_conv2d_new(ctx, 3, 32, 3, pad1, 1);
    CHECK(nn_module_num_parameters(c) == 896, "Conv2d(3,32,3): %lld", (long long)nn_module_num_parameters(c));
    nn_module_free(c);
    c = nn_conv2d_new(ctx, 32, 64, 3, pad1, 1);
    CHECK(nn_module_num_parameters(c) == 18496, "Conv2d(32,64,3): %lld", (long long)nn_module_num_parameters(c));
    nn_module_free(c);
    c = nn_linear_new(ctx, 64 * 24 * 24, 512, 1);
    CHECK(nn_module_num_parameters(c) == 18874880, "Linear(64*24*24, 512): %lld", (long long)nn_module_num_parameters(c));
    nn_module_free(c);
    end();

    begin("state_dict names and order as PyTorch; summary; train/eval");
    m = build_my_net(ctx, &net, 48, 10);
    n = nn_module_state(m, &es);
    CHECK(n == 10, "%d state entries, expected 10", n);
    CHECK(n == 10 && !strcmp(es[0].name, "conv1.weight") && !strcmp(es[1].name, "conv1.bias") && !strcmp(es[6].name, "fc1.weight") && !strcmp(es[9].name, "fc2.bias"),
          "names: %s %s ... %s", n ? es[0].name : "", n > 1 ? es[1].name : "", n > 9 ? es[9].name : "");
    CHECK(nn_module_num_parameters(m) == 896 + 18496 + 73856 + 128 * 12 * 12 * 512 + 512 + 5130, "MY_NET count %lld", (long long)nn_module_num_parameters(m));
    {
        int64_t s4[4] = { 1, 3, 48, 48 };
        nn_tensor *x = nn_randn(ctx, 4, s4);
        nn_module_summary(m, x);
        nn_free(x);
    }
    nn_module_eval(m);
    CHECK(!m->training && !net.dropout->training, "eval did not reach the children");
    nn_module_train(m, 1);
    CHECK(m->training && net.dropout->training, "train did not reach the children");
    nn_module_free(m);
    nn_arena_reset(ctx);
    end();

    begin("Sequential names children 0, 1, ...; BatchNorm buffers in the state dict");
    {
        nn_module *mods[3];
        mods[0] = nn_linear_new(ctx, 4, 8, 1); mods[1] = nn_batch_norm1d_new(ctx, 8, 0, 0, 1); mods[2] = nn_relu_new(ctx);
        m = nn_sequential_new(ctx, mods, 3);
        n = nn_module_state(m, &es);
        CHECK(n == 7 && !strcmp(es[0].name, "0.weight") && !strcmp(es[2].name, "1.weight") && !strcmp(es[4].name, "1.running_mean")
              && !strcmp(es[6].name, "1.num_batches_tracked") && es[4].is_buffer && !es[3].is_buffer, "names wrong (%d entries)", n);
        CHECK(nn_module_parameters(m, NULL, 0) == 4, "parameters() should hold 4 tensors");
        nn_module_free(m);
    }
    end();

    begin("default init: Linear and Conv2d weights and biases within 1/sqrt(fan_in)");
    {
        nn_module *lin = nn_linear_new(ctx, 100, 50, 1); int64_t i; float mx = 0, mxb = 0; double s2 = 0;
        for (i = 0; i < lin->weight->numel; i++) { float v = fabsf(nn_f32(lin->weight)[i]); if (v > mx) mx = v; s2 += (double)v * v; }
        for (i = 0; i < lin->bias->numel; i++) if (fabsf(nn_f32(lin->bias)[i]) > mxb) mxb = fabsf(nn_f32(lin->bias)[i]);
        CHECK(mx <= 0.1f && mx > 0.09f && mxb <= 0.1f, "weight max %g, bias max %g, bound 0.1", mx, mxb);
        /* U(-b, b) has variance b^2/3 */
        CHECK(fabs(s2 / (double)lin->weight->numel - 0.01 / 3) < 0.0005, "weight variance %g, expected %g", s2 / (double)lin->weight->numel, 0.01 / 3);
        nn_init_kaiming_normal_(lin->weight, 0, 0);
        s2 = 0; for (i = 0; i < lin->weight->numel; i++) s2 += (double)nn_f32(lin->weight)[i] * nn_f32(lin->weight)[i];
        CHECK(fabs(s2 / (double)lin->weight->numel - 2.0 / 100) < 0.002, "kaiming_normal variance %g, expected 0.02", s2 / (double)lin->weight->numel);
        nn_init_xavier_uniform_(lin->weight, 1);
        mx = 0; for (i = 0; i < lin->weight->numel; i++) if (fabsf(nn_f32(lin->weight)[i]) > mx) mx = fabsf(nn_f32(lin->weight)[i]);
        CHECK(mx <= sqrtf(6.0f / 150) && mx > 0.9f * sqrtf(6.0f / 150), "xavier bound %g vs %g", mx, sqrtf(6.0f / 150));
        nn_module_free(lin);
    }
    end();

    begin("Dropout: scales kept values by 1/(1-p), drops about p, identity in eval");
    {
        nn_module *dr = nn_dropout_new(ctx, 0.25f); int64_t sh[1] = { 20000 }, i, zeros = 0; int ok = 1;
        nn_tensor *x = nn_ones(ctx, 1, sh), *y = nn_forward(dr, x);
        for (i = 0; i < 20000; i++) { if (nn_f32(y)[i] == 0) zeros++; else if (fabsf(nn_f32(y)[i] - 1.0f / 0.75f) > 1e-6f) ok = 0; }
        CHECK(ok && fabs(zeros / 20000.0 - 0.25) < 0.02, "kept values scaled wrong or %lld of 20000 dropped", (long long)zeros);
        nn_module_eval(dr);
        CHECK(nn_forward(dr, x) == x, "eval-mode dropout is not the identity");
        nn_free(x); nn_module_free(dr);
    }
    end();

    begin("BatchNorm2d module: train updates running stats and num_batches_tracked; eval uses them");
    {
        nn_module *bn = nn_batch_norm2d_new(ctx, 2, 0, 0, 1); int64_t s4[4] = { 4, 2, 3, 3 };
        nn_tensor *x = nn_randn(ctx, 4, s4), *y1, *y2;
        nn_forward(bn, x);
        CHECK(nn_f32(bn->num_batches_tracked)[0] == 1.0f && nn_f32(bn->running_mean)[0] != 0.0f, "running stats not updated");
        nn_module_eval(bn);
        y1 = nn_forward(bn, x);
        CHECK(nn_f32(bn->num_batches_tracked)[0] == 1.0f, "eval changed num_batches_tracked");
        y2 = nn_batch_norm(x, bn->running_mean, bn->running_var, bn->weight, bn->bias, 0, 0.1f, 1e-5f);
        CHECK(y1 && y2 && memcmp(nn_f32(y1), nn_f32(y2), (size_t)y1->numel * sizeof(float)) == 0, "eval output differs from running-stat normalization");
        nn_free(x); nn_module_free(bn);
    }
    end();
    nn_arena_reset(ctx);

    begin("gradient accumulation: two half-batches (loss/2 each) equal one full batch");
    {
        int64_t sx[2] = { 8, 3 }, sy[2] = { 8, 1 }, half[2] = { 4, 3 };
        nn_module *lin = nn_linear_new(ctx, 3, 1, 1);
        nn_tensor *x = nn_randn(ctx, 2, sx), *y = nn_randn(ctx, 2, sy), *full_w;
        float fb;
        nn_backward(nn_mse_loss(nn_forward(lin, x), y, NN_MEAN), NULL, 0);
        full_w = nn_keep(lin->weight->grad); fb = nn_f32(lin->bias->grad)[0];
        nn_zero_grad(lin->weight); nn_zero_grad(lin->bias);
        for (int k2 = 0; k2 < 2; k2++) {
            nn_tensor *xs = nn_slice(x, 0, 4 * k2, 4 * k2 + 4, 1), *ys = nn_slice(y, 0, 4 * k2, 4 * k2 + 4, 1);
            nn_backward(nn_div_scalar(nn_mse_loss(nn_forward(lin, xs), ys, NN_MEAN), 2.0f), NULL, 0);
        }
        (void)half;
        CHECK(max_abs_diff(nn_f32(full_w), nn_f32(lin->weight->grad), 3) < 1e-6f && fabsf(fb - nn_f32(lin->bias->grad)[0]) < 1e-6f, "accumulated gradient differs");
        nn_free(full_w); nn_free(x); nn_free(y); nn_module_free(lin);
    }
    end();

    begin("gradient clipping by norm and by value");
    {
        int64_t s2[1] = { 2 };
        nn_tensor *a = nn_set_requires_grad(nn_zeros(ctx, 1, s2), 1), *b = nn_set_requires_grad(nn_zeros(ctx, 1, s2), 1), *ps[2];
        float norm;
        a->grad = nn_zeros_like(a); b->grad = nn_zeros_like(b);
        nn_f32(a->grad)[0] = 3; nn_f32(a->grad)[1] = 0; nn_f32(b->grad)[0] = 0; nn_f32(b->grad)[1] = 4;   /* norm 5 */
        ps[0] = a; ps[1] = b;
        norm = nn_clip_grad_norm(ps, 2, 1.0f, 2.0f);
        CHECK(fabsf(norm - 5.0f) < 1e-6f && fabsf(nn_f32(a->grad)[0] - 0.6f) < 1e-5f && fabsf(nn_f32(b->grad)[1] - 0.8f) < 1e-5f, "norm %g, grads %g %g", norm, nn_f32(a->grad)[0], nn_f32(b->grad)[1]);
        nn_f32(b->grad)[1] = -4;
        nn_clip_grad_value(ps, 2, 0.5f);
        CHECK(nn_f32(a->grad)[0] == 0.5f && nn_f32(b->grad)[1] == -0.5f, "clip by value: %g %g", nn_f32(a->grad)[0], nn_f32(b->grad)[1]);
        nn_free(a); nn_free(b);
    }
    end();
    nn_arena_reset(ctx);
}

