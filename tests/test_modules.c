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
    nn_conv_opts pad1 = nn_conv_opts_default(); nn_pool_opts p2 = nn_pool_opts_default(2);
    pad1.padding = 1;
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
    if (ce && target && target->dtype != NN_INT64) {   /* class indices are int64, as in PyTorch */
        nn_tensor *t64 = nn_keep(nn_to_dtype(target, NN_INT64));
        nn_free(target);
        target = t64;
    }
    co = nn_cross_entropy_opts_default();
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
    ao = nn_adam_opts_default(); ao.lr = 1e-3; if (ce) ao.weight_decay = 1e-4;
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

/* ---- named parameters, buffers and children; ownership; several inputs and outputs ---- */

#define LIVE_ALLOCS() (g_mallocs - g_frees)

static int has_error(nn_ctx *ctx, const char *part) { return nn_error(ctx) && strstr(nn_error(ctx), part) != NULL; }

/* after == before - lr * after.grad: the optimizer updated the tensor exactly once */
static float sgd_once_error(const nn_tensor *before, const nn_tensor *after, float lr) {
    float worst = 0; int64_t i;
    for (i = 0; i < after->numel; i++) {
        float e = fabsf(nn_f32(after)[i] - (nn_f32(before)[i] - lr * nn_f32(after->grad)[i]));
        if (e > worst) worst = e;
    }
    return worst;
}

/* one SGD step (lr 0.1) on sum(model(x)); the worst distance of a parameter from one update */
static float train_once(nn_ctx *ctx, nn_module *model, nn_tensor *x) {
    nn_tensor *ps[8], *before[8]; int n = nn_module_parameters(model, ps, 8), k; float worst = 0;
    nn_optim *o = nn_sgd(ps, n, nn_sgd_opts_default(0.1));
    CHECK(o != NULL, "nn_sgd over parameters(): %s", ERRS(ctx));
    for (k = 0; k < n && k < 8; k++) before[k] = nn_keep(ps[k]);
    nn_optim_zero_grad(o);
    nn_backward(nn_sum(nn_forward(model, x), NN_ALL, 0), NULL, 0);
    nn_optim_step(o);
    for (k = 0; k < n && k < 8; k++) {
        float e = ps[k]->grad ? sgd_once_error(before[k], ps[k], 0.1f) : 1.0f;
        if (e > worst) worst = e;
        nn_free(before[k]);
    }
    nn_optim_free(o);
    nn_arena_reset(ctx);
    return worst;
}

typedef struct { nn_module *a, *b; } two_lin_t;
static nn_tensor *two_lin_forward(nn_module *self, nn_tensor *x) {
    two_lin_t *t = (two_lin_t *)self->user;
    return nn_forward(t->b, nn_relu(nn_forward(t->a, x)));
}

/* user modules nested two deep: outer(alpha) -> block(w, steps) -> inner(scale, running) */
static nn_tensor *inner_forward(nn_module *self, nn_tensor *x) { return nn_mul(x, nn_module_parameter(self, "scale")); }
static nn_tensor *block_forward(nn_module *self, nn_tensor *x) {
    return nn_forward(nn_module_child(self, "inner"), nn_add(x, nn_module_parameter(self, "w")));
}
static nn_tensor *outer_forward(nn_module *self, nn_tensor *x) {
    return nn_mul(nn_forward(nn_module_child(self, "block"), x), nn_module_parameter(self, "alpha"));
}
static nn_module *build_outer(nn_ctx *ctx) {
    int64_t three = 3, one = 1;
    float xw[3] = { 0.5f, 0.5f, 0.5f }, xs[3] = { 2, 2, 2 }, xa[1] = { 3 };
    nn_module *outer = nn_module_new(ctx, "Outer", outer_forward, NULL);
    nn_module *block = nn_module_new(ctx, "Block", block_forward, NULL);
    nn_module *inner = nn_module_new(ctx, "Inner", inner_forward, NULL);
    nn_tensor *t;
    t = nn_from_array(ctx, 1, &three, xs); nn_module_register_parameter(inner, "scale", t); nn_free(t);
    t = nn_zeros(ctx, 1, &three); nn_module_register_buffer(inner, "running", t); nn_free(t);
    t = nn_zeros_dtype(ctx, 0, NULL, NN_INT64); nn_module_register_buffer(block, "steps", t); nn_free(t);  /* before w */
    t = nn_from_array(ctx, 1, &three, xw); nn_module_register_parameter(block, "w", t); nn_free(t);
    nn_module_add(block, "inner", inner);
    t = nn_from_array(ctx, 1, &one, xa); nn_module_register_parameter(outer, "alpha", t); nn_free(t);
    nn_module_add(outer, "block", block);
    return outer;
}

static void test_module_tree(nn_ctx *ctx) {
    const nn_state_entry *es; int n;

    begin("shared module: Sequential(lin, relu, lin) gives its parameters once and every state key; free is clean");
    {
        long live0 = LIVE_ALLOCS();
        nn_module *lin = nn_linear_new(ctx, 4, 4, 1), *mods[3], *seq; nn_tensor *ps[4];
        mods[0] = lin; mods[1] = nn_relu_new(ctx); mods[2] = lin;
        seq = nn_sequential_new(ctx, mods, 3);
        n = nn_module_state(seq, &es);
        CHECK(n == 4 && !strcmp(es[0].name, "0.weight") && !strcmp(es[1].name, "0.bias") && !strcmp(es[2].name, "2.weight")
              && !strcmp(es[3].name, "2.bias") && es[0].tensor == es[2].tensor, "state: %d keys (%s ...)", n, n ? es[0].name : "");
        n = nn_module_parameters(seq, ps, 4);
        CHECK(n == 2 && ps[0] == nn_module_parameter(lin, "weight") && ps[1] == nn_module_parameter(lin, "bias"),
              "parameters() gave %d tensors, expected the 2 of the shared Linear", n);
        CHECK(nn_module_num_parameters(seq) == 20, "num_parameters %lld, expected 20", (long long)nn_module_num_parameters(seq));
        CHECK(nn_module_child(seq, "0") == lin && nn_module_child(seq, "2") == lin, "children 0 and 2 are not the shared Linear");
        nn_module_free(seq);
        CHECK(LIVE_ALLOCS() == live0, "%ld allocations left after freeing the Sequential", LIVE_ALLOCS() - live0);
    }
    end();

    begin("shared module: one SGD step updates the shared Linear once; summary runs");
    {
        int64_t sx[2] = { 5, 3 };
        nn_module *lin = nn_linear_new(ctx, 3, 3, 1), *mods[3], *seq; nn_tensor *x = nn_randn(ctx, 2, sx);
        float err;
        mods[0] = lin; mods[1] = nn_tanh_new(ctx); mods[2] = lin;
        seq = nn_sequential_new(ctx, mods, 3);
        err = train_once(ctx, seq, x);
        CHECK(err < 1e-6f, "parameters moved %g away from one SGD update", err);
        nn_clear_error(ctx);
        nn_module_summary(seq, x);
        CHECK(!nn_error(ctx), "summary: %s", ERRS(ctx));
        nn_module_free(seq); nn_free(x);
        nn_arena_reset(ctx);
    }
    end();

    begin("tied weights: b.weight = a.weight gives 3 parameters, 4 state keys, one update, a clean free");
    {
        long live0 = LIVE_ALLOCS();
        two_lin_t t; nn_module *m = nn_module_new(ctx, "Tied", two_lin_forward, &t); nn_tensor *ps[4];
        t.a = nn_module_add(m, "a", nn_linear_new(ctx, 4, 4, 1));
        t.b = nn_module_add(m, "b", nn_linear_new(ctx, 4, 4, 1));
        CHECK(nn_module_set_parameter(m, "b.weight", nn_module_parameter(m, "a.weight")) != NULL, "tie: %s", ERRS(ctx));
        n = nn_module_state(m, &es);
        CHECK(n == 4 && !strcmp(es[2].name, "b.weight") && es[2].tensor == es[0].tensor, "state: %d keys", n);
        CHECK(nn_module_parameters(m, ps, 4) == 3 && ps[0] == es[0].tensor && ps[1] == es[1].tensor && ps[2] == es[3].tensor,
              "parameters() should give a.weight, a.bias, b.bias");
        CHECK(nn_module_parameter(t.b, "weight") == nn_module_parameter(t.a, "weight"), "b.weight is not a.weight");
        nn_clear_error(ctx);
        CHECK(!nn_module_set_parameter(m, "b.running", es[0].tensor) && has_error(ctx, "no parameter \"b.running\""),
              "setting a missing parameter: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_module_free(m);
        CHECK(LIVE_ALLOCS() == live0, "%ld allocations left after freeing tied modules", LIVE_ALLOCS() - live0);
    }
    {
        int64_t sx[2] = { 2, 4 };
        two_lin_t t; nn_module *m = nn_module_new(ctx, "Tied", two_lin_forward, &t); nn_tensor *x = nn_randn(ctx, 2, sx);
        float err;
        t.a = nn_module_add(m, "a", nn_linear_new(ctx, 4, 4, 1));
        t.b = nn_module_add(m, "b", nn_linear_new(ctx, 4, 4, 1));
        nn_module_set_parameter(t.b, "weight", nn_module_parameter(t.a, "weight"));
        err = train_once(ctx, m, x);
        CHECK(err < 1e-6f, "the tied weight moved %g away from one SGD update", err);
        nn_module_free(m); nn_free(x);
    }
    end();

    begin("tied weights: one tensor registered in two user modules; parameters once, both keys, freed with the last");
    {
        long live0 = LIVE_ALLOCS(); int64_t four = 4;
        nn_module *root = nn_module_new(ctx, "Root", NULL, NULL), *u1 = nn_module_new(ctx, "U", NULL, NULL);
        nn_module *u2 = nn_module_new(ctx, "U", NULL, NULL);
        nn_tensor *w = nn_randn(ctx, 1, &four);
        CHECK(nn_module_register_parameter(u1, "w", w) == w && nn_module_register_parameter(u2, "w", w) == w, "%s", ERRS(ctx));
        CHECK(w->requires_grad, "a registered parameter must require grad");
        nn_free(w);   /* the modules hold it now */
        nn_module_add(root, "u1", u1); nn_module_add(root, "u2", u2);
        n = nn_module_state(root, &es);
        CHECK(n == 2 && !strcmp(es[0].name, "u1.w") && !strcmp(es[1].name, "u2.w"), "state: %d keys", n);
        CHECK(nn_module_parameters(root, NULL, 0) == 1 && nn_module_num_parameters(root) == 4, "parameters() should give w once");
        nn_module_free(root);
        CHECK(LIVE_ALLOCS() == live0, "%ld allocations left", LIVE_ALLOCS() - live0);
    }
    end();

    begin("user modules nested two deep: own parameters and buffers give PyTorch's keys; dotted lookups; gradients");
    {
        long live0 = LIVE_ALLOCS();
        nn_module *m = build_outer(ctx), *inner = nn_module_child(m, "block.inner");
        static const char *want[5] = { "alpha", "block.w", "block.steps", "block.inner.scale", "block.inner.running" };
        static const int buf[5] = { 0, 0, 1, 0, 1 };
        const char *name; nn_module *c;
        int k, ok;
        n = nn_module_state(m, &es);
        ok = n == 5;
        for (k = 0; ok && k < 5; k++) ok = !strcmp(es[k].name, want[k]) && es[k].is_buffer == buf[k];
        CHECK(ok, "state: %d keys, first %s", n, n ? es[0].name : "");
        CHECK(inner && nn_module_parameter(m, "block.inner.scale") == nn_module_parameter(inner, "scale")
              && nn_module_buffer(m, "block.inner.running") == nn_module_buffer(inner, "running"), "dotted lookups failed");
        CHECK(!nn_module_parameter(m, "block.steps") && !nn_module_buffer(m, "block.w") && !nn_module_parameter(m, "nope.w")
              && !nn_module_child(m, "block.nope") && nn_module_child(m, "") == m, "lookups found the wrong kind");
        CHECK(nn_module_parameters(m, NULL, 0) == 3 && nn_module_buffers(m, NULL, 0) == 2, "3 parameters and 2 buffers expected");
        CHECK(nn_module_num_children(m) == 1 && nn_module_num_children(nn_module_child(m, "block")) == 1, "children counts");
        c = nn_module_child_at(m, 0, &name);
        CHECK(c == nn_module_child(m, "block") && name && !strcmp(name, "block"), "child_at(0)");
        CHECK(!nn_module_child_at(m, 1, &name) && !name, "child_at(1) of one child");
        nn_module_free(m);
        CHECK(LIVE_ALLOCS() == live0, "%ld allocations left", LIVE_ALLOCS() - live0);
    }
    {
        int64_t three = 3, one = 1; float xv[3] = { 1, 2, 3 };
        double wy[3] = { 9, 15, 21 }, ws[3] = { 4.5, 7.5, 10.5 }, ww[3] = { 6, 6, 6 }, wa[1] = { 15 };
        nn_module *m = build_outer(ctx); nn_tensor *x = nn_from_array(ctx, 1, &three, xv), *y = nn_forward(m, x);
        compare("y", y, 1, &three, wy);
        CHECK(nn_backward(nn_sum(y, NN_ALL, 0), NULL, 0), "backward: %s", ERRS(ctx));
        compare("scale.grad", nn_module_parameter(m, "block.inner.scale")->grad, 1, &three, ws);
        compare("w.grad", nn_module_parameter(m, "block.w")->grad, 1, &three, ww);
        compare("alpha.grad", nn_module_parameter(m, "alpha")->grad, 1, &one, wa);
        nn_module_free(m); nn_free(x);
        nn_arena_reset(ctx);
    }
    end();
}

static void test_module_errors(nn_ctx *ctx) {
    begin("duplicate child name: refused, nothing freed, the model still runs (was a use-after-free)");
    {
        mynet_t mn; nn_module *m = nn_module_new(ctx, "mynet", mynet_forward, &mn), *extra; int64_t sx[1] = { 600 };
        nn_tensor *x, *y, *p; const nn_state_entry *es;
        mn.m0 = nn_module_add(m, "m0", nn_linear_new(ctx, 600, 60, 1));
        mn.m1 = nn_module_add(m, "m1", nn_linear_new(ctx, 60, 40, 1));
        mn.m2 = nn_module_add(m, "m2", nn_linear_new(ctx, 40, 10, 1));
        extra = nn_linear_new(ctx, 600, 60, 1);
        nn_clear_error(ctx);
        CHECK(!nn_module_add(m, "m0", extra) && has_error(ctx, "already has a child module named \"m0\""), "%s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_module_add(m, "m1", mn.m1) && !nn_module_add(m, "m2", mn.m0), "re-adding a registered child under a taken name");
        p = nn_zeros(ctx, 1, sx);
        CHECK(nn_module_register_parameter(m, "p", p) && !nn_module_add(m, "p", extra) && !nn_module_register_buffer(m, "m0", p),
              "names are shared by parameters, buffers and children");
        nn_clear_error(ctx);
        CHECK(!nn_module_add(m, "a.b", extra) && has_error(ctx, "no '.'"), "a dotted name: %s", ERRS(ctx));
        CHECK(!nn_module_add(m, "", extra) && !nn_module_add(m, NULL, extra), "empty and NULL names");
        nn_clear_error(ctx);
        CHECK(nn_module_state(m, &es) == 7, "state changed by the failed calls");
        x = nn_randn(ctx, 1, sx);
        y = nn_forward(m, x);
        CHECK(y && y->numel == 10 && !nn_error(ctx), "forward after the failed adds: %s", ERRS(ctx));
        nn_module_free(extra);   /* a child that failed to be added is still ours */
        nn_module_free(m); nn_free(x); nn_free(p);
        nn_arena_reset(ctx);
    }
    end();

    begin("cycles refused (a module added to itself or under its descendant); freeing a child its parent owns is refused");
    {
        long live0 = LIVE_ALLOCS();
        nn_module *a = nn_module_new(ctx, "A", NULL, NULL), *b = nn_module_new(ctx, "B", NULL, NULL), *c = nn_relu_new(ctx);
        nn_module_add(a, "b", b); nn_module_add(b, "c", c);
        nn_clear_error(ctx);
        CHECK(!nn_module_add(a, "self", a) && has_error(ctx, "cycle"), "a module added to itself: %s", ERRS(ctx));
        CHECK(!nn_module_add(c, "a", a) && !nn_module_add(b, "a", a), "a module added under its descendant");
        nn_clear_error(ctx);
        nn_module_free(b);
        CHECK(has_error(ctx, "belongs to 1 parent"), "freeing an owned child: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(nn_module_child(a, "b.c") == c && nn_module_num_children(b) == 1, "the tree changed");
        nn_module_retain(b);   /* a reference of our own: b outlives a */
        nn_module_free(a);
        CHECK(nn_module_num_children(b) == 1 && nn_module_child(b, "c") == c && !nn_error(ctx), "b after its parent went");
        nn_module_free(b);
        CHECK(LIVE_ALLOCS() == live0, "%ld allocations left", LIVE_ALLOCS() - live0);
    }
    end();

    begin("nn_sequential_new(ctx, NULL, 2), n < 0 and a NULL entry are errors that take none of the modules");
    {
        long live0 = LIVE_ALLOCS();
        nn_module *mods[2], *seq; int64_t s2[1] = { 2 }; nn_tensor *x;
        nn_clear_error(ctx);
        CHECK(!nn_sequential_new(ctx, NULL, 2) && has_error(ctx, "mods is NULL"), "NULL mods: %s", ERRS(ctx));
        nn_clear_error(ctx);
        mods[0] = nn_relu_new(ctx); mods[1] = NULL;
        CHECK(!nn_sequential_new(ctx, mods, -1) && has_error(ctx, "n is -1"), "n -1: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_sequential_new(ctx, mods, 2) && has_error(ctx, "mods[1] is NULL"), "NULL entry: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_module_free(mods[0]);   /* still ours */
        CHECK(!nn_error(ctx), "mods[0] was taken by the failed call: %s", ERRS(ctx));
        seq = nn_sequential_new(ctx, NULL, 0);   /* nn.Sequential() is the identity */
        x = nn_ones(ctx, 1, s2);
        CHECK(seq && nn_forward(seq, x) == x, "an empty Sequential is the identity");
        nn_module_free(seq); nn_free(x);
        CHECK(LIVE_ALLOCS() == live0, "%ld allocations left", LIVE_ALLOCS() - live0);
    }
    end();

    begin("registering: an op result, an int64 parameter, a NULL tensor are refused and retain nothing");
    {
        long live0 = LIVE_ALLOCS(); int64_t s2[1] = { 2 };
        nn_module *m = nn_module_new(ctx, "M", NULL, NULL);
        nn_tensor *t = nn_ones(ctx, 1, s2), *i64 = nn_zeros_dtype(ctx, 1, s2, NN_INT64);
        nn_clear_error(ctx);
        CHECK(!nn_module_register_parameter(m, "r", nn_add(t, t)) && has_error(ctx, "op result"), "arena tensor: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_module_register_parameter(m, "i", i64) && has_error(ctx, "must be float32"), "int64 parameter: %s", ERRS(ctx));
        CHECK(nn_module_register_buffer(m, "i", i64) == i64, "an int64 buffer is fine: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_module_register_parameter(m, "n", NULL) && has_error(ctx, "is NULL"), "NULL: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_forward(m, t) && has_error(ctx, "no forward"), "a module without forward: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_free(t); nn_free(i64);
        nn_module_free(m);
        nn_arena_reset(ctx);
        CHECK(LIVE_ALLOCS() == live0, "%ld allocations left", LIVE_ALLOCS() - live0);
    }
    end();
}

/* (a, b) -> (a + b, a * b) */
static int sum_prod_forward(nn_module *self, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    (void)self;
    if (nin != 2) return -1;
    if (nout > 0) out[0] = nn_add(in[0], in[1]);
    if (nout > 1) out[1] = nn_mul(in[0], in[1]);
    return 2;
}
/* x -> s + p where (s, p) = sp(x, x) */
static nn_tensor *use_sum_prod_forward(nn_module *self, nn_tensor *x) {
    nn_tensor *in[2], *out[2];
    in[0] = x; in[1] = x;
    if (nn_forward_n(nn_module_child(self, "sp"), in, 2, out, 2) != 2) return NULL;
    return nn_add(out[0], out[1]);
}

static void test_module_forward_n(nn_ctx *ctx) {
    begin("forward with two inputs and two outputs (nn_forward_n), also nested in a one-input model");
    {
        int64_t s2[1] = { 2 }; float av[2] = { 1, 2 }, bv[2] = { 3, 5 };
        double want_sum[2] = { 4, 7 }, want_prod[2] = { 3, 10 }, want_y[2] = { 3, 8 }, want_g[2] = { 4, 6 };
        nn_module *sp = nn_module_new_n(ctx, "SumProd", sum_prod_forward, NULL), *outer, *lin = nn_linear_new(ctx, 2, 2, 1);
        nn_tensor *a = nn_from_array(ctx, 1, s2, av), *b = nn_from_array(ctx, 1, s2, bv), *in[2], *out[3], *y;
        in[0] = a; in[1] = b;
        CHECK(nn_forward_n(sp, in, 2, out, 2) == 2, "two outputs: %s", ERRS(ctx));
        compare("a + b", out[0], 1, s2, want_sum);
        compare("a * b", out[1], 1, s2, want_prod);
        CHECK(nn_forward_n(sp, in, 2, out, 1) == 2 && out[0], "asking for the first output only");
        nn_clear_error(ctx);
        CHECK(nn_forward_n(sp, in, 2, out, 3) == -1 && !out[0] && !out[2] && has_error(ctx, "gives 2 outputs; 3 were asked for"),
              "three outputs of two: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_forward(sp, a) && nn_error(ctx), "one input to a two-input module");
        nn_clear_error(ctx);
        CHECK(nn_forward_n(lin, in, 2, out, 1) == -1 && has_error(ctx, "takes 1 input; 2 were given"), "%s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(nn_forward_n(lin, NULL, 1, out, 1) == -1 && has_error(ctx, "counts must be"), "%s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_forward(lin, NULL) && has_error(ctx, "input of Linear is NULL"), "%s", ERRS(ctx));
        nn_clear_error(ctx);
        outer = nn_module_new(ctx, "UseSumProd", use_sum_prod_forward, NULL);
        nn_module_add(outer, "sp", sp);
        nn_set_requires_grad(a, 1);
        y = nn_forward(outer, a);   /* 2a + a^2 */
        compare("2a + a^2", y, 1, s2, want_y);
        CHECK(nn_backward(nn_sum(y, NN_ALL, 0), NULL, 0), "backward: %s", ERRS(ctx));
        compare("d/da", a->grad, 1, s2, want_g);
        nn_module_free(outer); nn_module_free(lin); nn_free(a); nn_free(b);
        nn_arena_reset(ctx);
    }
    end();
}

static void test_module_embedding(nn_ctx *ctx) {
    begin("Embedding module: int64 indices pick weight rows; the gradient lands on those rows");
    {
        int64_t s3[1] = { 3 }, idx[3] = { 4, 1, 4 }, k, d; int ok = 1;
        nn_module *e = nn_embedding_new(ctx, 5, 2);
        nn_tensor *w = nn_module_parameter(e, "weight"), *ix = nn_from_i64(ctx, 1, s3, idx), *y = nn_forward(e, ix);
        CHECK(y && y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 2, "output shape: %s", ERRS(ctx));
        for (k = 0; y && k < 3; k++) for (d = 0; d < 2; d++) if (nn_f32(y)[k * 2 + d] != nn_f32(w)[idx[k] * 2 + d]) ok = 0;
        CHECK(ok, "rows differ from weight[indices]");
        CHECK(y && nn_backward(nn_sum(y, NN_ALL, 0), NULL, 0), "backward: %s", ERRS(ctx));
        CHECK(w->grad && nn_f32(w->grad)[8] == 2.0f && nn_f32(w->grad)[2] == 1.0f && nn_f32(w->grad)[0] == 0.0f,
              "weight.grad rows 4, 1, 0: %g %g %g", w->grad ? nn_f32(w->grad)[8] : -1.0f, w->grad ? nn_f32(w->grad)[2] : -1.0f,
              w->grad ? nn_f32(w->grad)[0] : -1.0f);
        nn_module_free(e); nn_free(ix);
        nn_arena_reset(ctx);
    }
    end();
}

static void test_module_norm_options(nn_ctx *ctx) {
    begin("BatchNorm(num_features, eps, momentum, affine) verbatim: momentum 0 keeps the running stats; bad eps refused");
    {
        int64_t sx[2] = { 8, 3 }, i; int ok = 1, n; const nn_state_entry *es;
        nn_module *bn = nn_batch_norm1d_new(ctx, 3, 1e-5f, 0.0f, 1);
        nn_tensor *x = nn_randn(ctx, 2, sx), *rm = nn_module_buffer(bn, "running_mean"), *rv = nn_module_buffer(bn, "running_var");
        nn_tensor *nbt = nn_module_buffer(bn, "num_batches_tracked");
        CHECK(nn_forward(bn, x) && nn_forward(bn, x), "forward: %s", ERRS(ctx));
        for (i = 0; i < 3; i++) if (nn_f32(rm)[i] != 0.0f || nn_f32(rv)[i] != 1.0f) ok = 0;
        CHECK(ok, "momentum 0 changed the running stats: mean %g var %g", nn_f32(rm)[0], nn_f32(rv)[0]);
        CHECK(nbt->dtype == NN_INT64 && nbt->ndim == 0 && nn_i64(nbt)[0] == 2, "num_batches_tracked after 2 steps");
        n = nn_module_state(bn, &es);
        CHECK(n == 5 && !strcmp(es[4].name, "num_batches_tracked") && es[4].is_buffer && es[4].tensor->dtype == NN_INT64,
              "state: %d entries", n);
        nn_module_free(bn);
        bn = nn_batch_norm2d_new(ctx, 3, 1e-5f, 0.1f, 0);   /* affine=False: buffers only */
        CHECK(bn && nn_module_state(bn, &es) == 3 && nn_module_parameters(bn, NULL, 0) == 0 && !strcmp(es[0].name, "running_mean"),
              "affine=False state");
        nn_module_free(bn);
        bn = nn_batch_norm1d_new(ctx, 3, 0.0f, 0.1f, 1);
        CHECK(bn != NULL, "eps 0 is a valid eps: %s", ERRS(ctx));
        nn_module_free(bn);
        nn_clear_error(ctx);
        CHECK(!nn_batch_norm1d_new(ctx, 3, -1.0f, 0.1f, 1) && has_error(ctx, "eps is -1"), "eps -1: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_batch_norm2d_new(ctx, 3, NAN, 0.1f, 1) && has_error(ctx, "eps is nan"), "eps NaN: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_batch_norm2d_new(ctx, 3, 1e-5f, NAN, 1) && has_error(ctx, "momentum is nan"), "momentum NaN: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_free(x);
        nn_arena_reset(ctx);
    }
    end();

    begin("LayerNorm eps verbatim: eps 0 normalizes (1, -1) to exactly (1, -1); negative eps refused");
    {
        int64_t s2[2] = { 1, 2 }, two = 2; float xv[2] = { 1, -1 };
        nn_module *ln0 = nn_layer_norm_new(ctx, 1, &two, 0.0f, 1), *ln5 = nn_layer_norm_new(ctx, 1, &two, 1e-5f, 1);
        nn_tensor *x = nn_from_array(ctx, 2, s2, xv), *y0 = nn_forward(ln0, x), *y5 = nn_forward(ln5, x);
        CHECK(y0 && y5 && nn_f32(y0)[0] == 1.0f && nn_f32(y0)[1] == -1.0f && nn_f32(y5)[0] < 0.999999f,
              "eps 0 gave %.9g, eps 1e-5 gave %.9g", y0 ? nn_f32(y0)[0] : 0.0f, y5 ? nn_f32(y5)[0] : 0.0f);
        nn_clear_error(ctx);
        CHECK(!nn_layer_norm_new(ctx, 1, &two, -1e-5f, 1) && has_error(ctx, "eps is"), "eps < 0: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_module_free(ln0); nn_module_free(ln5); nn_free(x);
        nn_arena_reset(ctx);
    }
    end();
}

static void test_modules(nn_ctx *ctx) {
    my_net_t net; nn_module *m, *c; const nn_state_entry *es; int n; nn_conv_opts pad1;
    /* The note says (64*24*24 + 1) * 512 = 3,221,504, but that product is 18,874,880,
       which is what PyTorch 1.13 counts for nn.Linear(64*24*24, 512); nn.h matches PyTorch. */
    begin("seed002 parameter counts: 896, 18,496, and PyTorch's 18,874,880 for Linear(64*24*24, 512)");
    pad1 = nn_conv_opts_default(); pad1.padding = 1;
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
        mods[0] = nn_linear_new(ctx, 4, 8, 1); mods[1] = nn_batch_norm1d_new(ctx, 8, 1e-5f, 0.1f, 1); mods[2] = nn_relu_new(ctx);
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
        nn_tensor *W = nn_module_parameter(lin, "weight"), *B = nn_module_parameter(lin, "bias");
        for (i = 0; i < W->numel; i++) { float v = fabsf(nn_f32(W)[i]); if (v > mx) mx = v; s2 += (double)v * v; }
        for (i = 0; i < B->numel; i++) if (fabsf(nn_f32(B)[i]) > mxb) mxb = fabsf(nn_f32(B)[i]);
        CHECK(mx <= 0.1f && mx > 0.09f && mxb <= 0.1f, "weight max %g, bias max %g, bound 0.1", mx, mxb);
        /* U(-b, b) has variance b^2/3 */
        CHECK(fabs(s2 / (double)W->numel - 0.01 / 3) < 0.0005, "weight variance %g, expected %g", s2 / (double)W->numel, 0.01 / 3);
        nn_init_kaiming_normal_(W, 0, NN_FAN_IN);
        s2 = 0; for (i = 0; i < W->numel; i++) s2 += (double)nn_f32(W)[i] * nn_f32(W)[i];
        CHECK(fabs(s2 / (double)W->numel - 2.0 / 100) < 0.002, "kaiming_normal variance %g, expected 0.02", s2 / (double)W->numel);
        nn_init_kaiming_normal_(W, 0, NN_FAN_OUT);   /* fan_out 50: variance 2/50 */
        s2 = 0; for (i = 0; i < W->numel; i++) s2 += (double)nn_f32(W)[i] * nn_f32(W)[i];
        CHECK(fabs(s2 / (double)W->numel - 2.0 / 50) < 0.004, "kaiming_normal fan_out variance %g, expected 0.04", s2 / (double)W->numel);
        nn_init_xavier_uniform_(W, 1);
        mx = 0; for (i = 0; i < W->numel; i++) if (fabsf(nn_f32(W)[i]) > mx) mx = fabsf(nn_f32(W)[i]);
        CHECK(mx <= sqrtf(6.0f / 150) && mx > 0.9f * sqrtf(6.0f / 150), "xavier bound %g vs %g", mx, sqrtf(6.0f / 150));
        nn_init_xavier_uniform_(W, 0);   /* gain 0 is 0, not "the default" */
        mx = 0; for (i = 0; i < W->numel; i++) if (fabsf(nn_f32(W)[i]) > mx) mx = fabsf(nn_f32(W)[i]);
        CHECK(mx == 0.0f, "xavier_uniform_ with gain 0 left %g", mx);
        nn_clear_error(ctx);
        nn_init_kaiming_uniform_(B, 0, NN_FAN_IN);
        CHECK(nn_error(ctx) && strstr(nn_error(ctx), "2 or more dims"), "kaiming on a 1-D tensor: %s", ERRS(ctx));
        nn_clear_error(ctx);
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
        nn_module *bn = nn_batch_norm2d_new(ctx, 2, 1e-5f, 0.1f, 1); int64_t s4[4] = { 4, 2, 3, 3 };
        nn_tensor *x = nn_randn(ctx, 4, s4), *y1, *y2;
        nn_tensor *rm = nn_module_buffer(bn, "running_mean"), *rv = nn_module_buffer(bn, "running_var");
        nn_tensor *nbt = nn_module_buffer(bn, "num_batches_tracked");
        nn_forward(bn, x);
        CHECK(nbt && nbt->dtype == NN_INT64 && nbt->ndim == 0, "num_batches_tracked is not a 0-dim int64 buffer");
        CHECK(nbt && nn_i64(nbt)[0] == 1 && nn_f32(rm)[0] != 0.0f, "running stats not updated");
        nn_module_eval(bn);
        y1 = nn_forward(bn, x);
        CHECK(nbt && nn_i64(nbt)[0] == 1, "eval changed num_batches_tracked");
        y2 = nn_batch_norm(x, rm, rv, nn_module_parameter(bn, "weight"), nn_module_parameter(bn, "bias"), 0, 0.1f, 1e-5f);
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
        nn_tensor *W = nn_module_parameter(lin, "weight"), *B = nn_module_parameter(lin, "bias");
        float fb;
        nn_backward(nn_mse_loss(nn_forward(lin, x), y, NN_MEAN), NULL, 0);
        full_w = nn_keep(W->grad); fb = nn_f32(B->grad)[0];
        nn_zero_grad(W); nn_zero_grad(B);
        for (int k2 = 0; k2 < 2; k2++) {
            nn_tensor *xs = nn_slice(x, 0, 4 * k2, 4 * k2 + 4, 1), *ys = nn_slice(y, 0, 4 * k2, 4 * k2 + 4, 1);
            nn_backward(nn_div_scalar(nn_mse_loss(nn_forward(lin, xs), ys, NN_MEAN), 2.0f), NULL, 0);
        }
        (void)half;
        CHECK(max_abs_diff(nn_f32(full_w), nn_f32(W->grad), 3) < 1e-6f && fabsf(fb - nn_f32(B->grad)[0]) < 1e-6f, "accumulated gradient differs");
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
    test_module_tree(ctx);
    test_module_errors(ctx);
    test_module_forward_n(ctx);
    test_module_norm_options(ctx);
    test_module_embedding(ctx);
}
