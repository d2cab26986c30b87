/* ops: every op against PyTorch (tests/fixtures/ops.txt), finite differences, the GEMM paths */
/* ---- fixtures ---- */
typedef struct { int ndim; int64_t shape[NN_MAX_DIMS]; int64_t n; double *v; } fx_arr;
typedef struct {
    char name[64], op[32];
    int nparams; double params[8];
    int nin; int in_rg[6]; fx_arr in[6];
    fx_arr out, gout;
    int has_grad[6]; fx_arr grad[6];
} fx_case;

static char *g_tok;
static char *next_tok(void) {
    char *t;
    while (*g_tok == ' ' || *g_tok == '\n' || *g_tok == '\r' || *g_tok == '\t') g_tok++;
    if (!*g_tok) return NULL;
    t = g_tok;
    while (*g_tok && *g_tok != ' ' && *g_tok != '\n') g_tok++;
    if (*g_tok) *g_tok++ = 0;
    return t;
}
static void read_arr(fx_arr *a) {
    int d; int64_t i;
    a->ndim = atoi(next_tok());
    a->n = 1;
    for (d = 0; d < a->ndim; d++) { a->shape[d] = atoll(next_tok()); a->n *= a->shape[d]; }
    next_tok(); /* ":" */
    a->v = (double *)malloc((size_t)(a->n ? a->n : 1) * sizeof(double));
    for (i = 0; i < a->n; i++) a->v[i] = strtod(next_tok(), NULL);
}

static int load_fixtures(const char *path, fx_case **out) {
    FILE *f = fopen(path, "rb"); long size; char *buf, *t; int n = 0, cap = 256;
    fx_case *cs, *c = NULL;
    if (!f) return -1;
    fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) { fclose(f); free(buf); return -1; }
    buf[size] = 0; fclose(f);
    /* drop comment lines */
    for (t = buf; *t; t++) if (*t == '#') while (*t && *t != '\n') *t++ = ' ';
    g_tok = buf;
    t = next_tok();
    if (!t || strcmp(t, "nnfix") != 0 || atoi(next_tok()) != 1) { free(buf); return -2; }
    cs = (fx_case *)calloc((size_t)cap, sizeof(fx_case));
    while ((t = next_tok())) {
        if (!strcmp(t, "case")) {
            int i;
            c = &cs[n++];
            strncpy(c->name, next_tok(), sizeof c->name - 1);
            strncpy(c->op, next_tok(), sizeof c->op - 1);
            c->nparams = atoi(next_tok());
            for (i = 0; i < c->nparams; i++) c->params[i] = strtod(next_tok(), NULL);
        } else if (!strcmp(t, "in")) { c->in_rg[c->nin] = atoi(next_tok()); read_arr(&c->in[c->nin++]); }
        else if (!strcmp(t, "out")) read_arr(&c->out);
        else if (!strcmp(t, "gout")) read_arr(&c->gout);
        else if (!strcmp(t, "grad")) { int i = atoi(next_tok()); c->has_grad[i] = 1; read_arr(&c->grad[i]); }
    }
    free(buf);
    *out = cs;
    return n;
}

static void free_fixtures(fx_case *cs, int n) {
    int i, k;
    for (i = 0; i < n; i++) {
        for (k = 0; k < cs[i].nin; k++) { free(cs[i].in[k].v); free(cs[i].grad[k].v); }
        free(cs[i].out.v); free(cs[i].gout.v);
    }
    free(cs);
}

static nn_tensor *tensor_of(nn_ctx *ctx, const fx_arr *a) {
    nn_tensor *t = nn_empty(ctx, a->ndim, a->shape);
    int64_t i;
    for (i = 0; i < a->n; i++) nn_f32(t)[i] = (float)a->v[i];
    return t;
}

/* The nn.h call for each fixture op. */
static nn_tensor *run_op(const fx_case *c, nn_tensor **in) {
    const char *op = c->op;
    const double *p = c->params;
    int d0 = (int)p[0], d1 = (int)p[1];
    if (!strcmp(op, "add")) return nn_add(in[0], in[1]);
    if (!strcmp(op, "sub")) return nn_sub(in[0], in[1]);
    if (!strcmp(op, "mul")) return nn_mul(in[0], in[1]);
    if (!strcmp(op, "div")) return nn_div(in[0], in[1]);
    if (!strcmp(op, "pow")) return nn_pow(in[0], in[1]);
    if (!strcmp(op, "maximum")) return nn_maximum(in[0], in[1]);
    if (!strcmp(op, "minimum")) return nn_minimum(in[0], in[1]);
    if (!strcmp(op, "where")) return nn_where(in[0], in[1], in[2]);
    if (!strcmp(op, "add_scalar")) return nn_add_scalar(in[0], (float)p[0]);
    if (!strcmp(op, "sub_scalar")) return nn_sub_scalar(in[0], (float)p[0]);
    if (!strcmp(op, "mul_scalar")) return nn_mul_scalar(in[0], (float)p[0]);
    if (!strcmp(op, "div_scalar")) return nn_div_scalar(in[0], (float)p[0]);
    if (!strcmp(op, "pow_scalar")) return nn_pow_scalar(in[0], (float)p[0]);
    if (!strcmp(op, "neg")) return nn_neg(in[0]);
    if (!strcmp(op, "exp")) return nn_exp(in[0]);
    if (!strcmp(op, "log")) return nn_log(in[0]);
    if (!strcmp(op, "sqrt")) return nn_sqrt(in[0]);
    if (!strcmp(op, "abs")) return nn_abs(in[0]);
    if (!strcmp(op, "clamp")) return nn_clamp(in[0], (float)p[0], (float)p[1]);
    if (!strcmp(op, "relu")) return nn_relu(in[0]);
    if (!strcmp(op, "leaky_relu")) return nn_leaky_relu(in[0], (float)p[0]);
    if (!strcmp(op, "sigmoid")) return nn_sigmoid(in[0]);
    if (!strcmp(op, "tanh")) return nn_tanh(in[0]);
    if (!strcmp(op, "gelu")) return nn_gelu(in[0]);
    if (!strcmp(op, "silu")) return nn_silu(in[0]);
    if (!strcmp(op, "softplus")) return nn_softplus(in[0], (float)p[0], (float)p[1]);
    if (!strcmp(op, "softmax")) return nn_softmax(in[0], d0);
    if (!strcmp(op, "log_softmax")) return nn_log_softmax(in[0], d0);
    if (!strcmp(op, "sum")) return nn_sum(in[0], d0, d1);
    if (!strcmp(op, "mean")) return nn_mean(in[0], d0, d1);
    if (!strcmp(op, "var")) return nn_var(in[0], d0, (int)p[2], d1);
    if (!strcmp(op, "std")) return nn_std(in[0], d0, (int)p[2], d1);
    if (!strcmp(op, "max")) return nn_max(in[0], d0, d1, NULL);
    if (!strcmp(op, "min")) return nn_min(in[0], d0, d1, NULL);
    if (!strcmp(op, "logsumexp")) return nn_logsumexp(in[0], d0, d1);
    if (!strcmp(op, "max_indices")) { nn_tensor *i = NULL; nn_max(in[0], d0, d1, &i); return i; }
    if (!strcmp(op, "argmax")) return nn_argmax(in[0], d0, d1);
    if (!strcmp(op, "matmul")) return nn_matmul(in[0], in[1]);
    if (!strcmp(op, "matmul_bt")) return nn_matmul(in[0], nn_transpose(in[1], 0, 1));
    if (!strcmp(op, "matmul_at")) return nn_matmul(nn_transpose(in[0], 0, 1), in[1]);
    if (!strcmp(op, "gather")) return nn_gather(in[0], d0, in[1]);
    if (!strcmp(op, "index_select")) return nn_index_select(in[0], d0, in[1]);
    if (!strcmp(op, "embedding")) return nn_embedding(in[0], in[1]);
    if (!strcmp(op, "one_hot")) return nn_one_hot(in[0], (int64_t)p[0]);
    if (!strcmp(op, "transpose")) return nn_transpose(in[0], d0, d1);
    if (!strcmp(op, "permute")) { int dims[3]; dims[0] = d0; dims[1] = d1; dims[2] = (int)p[2]; return nn_permute(in[0], dims); }
    if (!strcmp(op, "slice")) return nn_slice(in[0], d0, (int64_t)p[1], (int64_t)p[2], (int64_t)p[3]);
    if (!strcmp(op, "select")) return nn_select(in[0], d0, (int64_t)p[1]);
    if (!strcmp(op, "reshape")) { int64_t s[2]; s[0] = (int64_t)p[0]; s[1] = (int64_t)p[1]; return nn_reshape(in[0], c->nparams, s); }
    if (!strcmp(op, "reshape_t")) { int64_t s[1]; s[0] = -1; return nn_reshape(nn_transpose(in[0], 0, 1), 1, s); }
    if (!strcmp(op, "flatten")) return nn_flatten(in[0], d0, d1);
    if (!strcmp(op, "unsqueeze")) return nn_unsqueeze(in[0], d0);
    if (!strcmp(op, "squeeze")) return nn_squeeze(in[0], d0);
    if (!strcmp(op, "contiguous_t")) return nn_contiguous(nn_transpose(in[0], 0, 1));
    if (!strcmp(op, "clone")) return nn_clone(in[0]);
    if (!strcmp(op, "cat")) return nn_cat(in, 2, d0);
    if (!strcmp(op, "stack")) return nn_stack(in, 2, d0);
    if (!strcmp(op, "used_twice")) return nn_add(nn_mul(in[0], in[0]), in[0]);
    if (!strcmp(op, "addmm")) return nn_add(nn_matmul(in[0], in[1]), in[2]);
    if (!strcmp(op, "linear")) return nn_add(nn_matmul(in[0], nn_transpose(in[1], 0, 1)), in[2]);
    if (!strcmp(op, "conv2d") || !strcmp(op, "conv_transpose2d")) {
        nn_conv_opts o; memset(&o, 0, sizeof o);
        o.stride = (int64_t)p[0]; o.padding = (int64_t)p[1];
        if (!strcmp(op, "conv2d")) { o.dilation = (int64_t)p[2]; o.groups = (int64_t)p[3]; return nn_conv2d(in[0], in[1], p[4] ? in[2] : NULL, o); }
        o.output_padding = (int64_t)p[2]; o.groups = (int64_t)p[3]; o.dilation = (int64_t)p[4];
        return nn_conv_transpose2d(in[0], in[1], in[2], o);
    }
    if (!strcmp(op, "max_pool2d") || !strcmp(op, "avg_pool2d")) {
        nn_pool_opts o; memset(&o, 0, sizeof o);
        o.kernel_size = (int64_t)p[0]; o.stride = (int64_t)p[1]; o.padding = (int64_t)p[2]; o.ceil_mode = (int)p[3]; o.count_exclude_pad = !(int)p[4];
        return !strcmp(op, "max_pool2d") ? nn_max_pool2d(in[0], o) : nn_avg_pool2d(in[0], o);
    }
    if (!strcmp(op, "adaptive_avg_pool2d")) return nn_adaptive_avg_pool2d(in[0], (int64_t)p[0], (int64_t)p[1]);
    if (!strcmp(op, "batch_norm")) return nn_batch_norm(in[0], NULL, NULL, in[1], in[2], 1, (float)p[1], (float)p[2]);
    if (!strcmp(op, "batch_norm_eval")) return nn_batch_norm(in[0], in[3], in[4], in[1], in[2], 0, (float)p[1], (float)p[2]);
    if (!strcmp(op, "bn_running_mean") || !strcmp(op, "bn_running_var")) {
        int64_t c = in[0]->shape[1];
        nn_tensor *rm = nn_zeros(in[0]->ctx, 1, &c), *rv = nn_ones(in[0]->ctx, 1, &c), *r;
        nn_batch_norm(in[0], rm, rv, NULL, NULL, 1, (float)p[0], 1e-5f);
        r = nn_clone(!strcmp(op, "bn_running_mean") ? rm : rv);
        r->src[0] = NULL; r->nsrc = 0;         /* rm, rv are freed next */
        nn_free(rm); nn_free(rv);
        return r;
    }
    if (!strcmp(op, "layer_norm")) return nn_layer_norm(in[0], d0, in[1], in[2], 1e-5f);
    if (!strcmp(op, "layer_norm_plain")) return nn_layer_norm(in[0], d0, NULL, NULL, 1e-5f);
    if (!strcmp(op, "mse_loss")) return nn_mse_loss(in[0], in[1], (nn_reduction)d0);
    if (!strcmp(op, "l1_loss")) return nn_l1_loss(in[0], in[1], (nn_reduction)d0);
    if (!strcmp(op, "smooth_l1_loss")) return nn_smooth_l1_loss(in[0], in[1], (nn_reduction)d0, (float)p[1]);
    if (!strcmp(op, "huber_loss")) return nn_huber_loss(in[0], in[1], (nn_reduction)d0, (float)p[1]);
    if (!strcmp(op, "cross_entropy") || !strcmp(op, "nll_loss")) {
        nn_cross_entropy_opts o; memset(&o, 0, sizeof o);
        o.reduction = (nn_reduction)d0; o.weight = p[1] ? in[2] : NULL; o.use_ignore_index = (int)p[2];
        o.ignore_index = (int64_t)p[3]; o.label_smoothing = (float)p[4];
        return !strcmp(op, "cross_entropy") ? nn_cross_entropy(in[0], in[1], o) : nn_nll_loss(in[0], in[1], o);
    }
    if (!strcmp(op, "bce_loss")) return nn_bce_loss(in[0], in[1], p[1] ? in[2] : NULL, (nn_reduction)d0);
    if (!strcmp(op, "bce_with_logits")) return nn_bce_with_logits(in[0], in[1], p[1] ? in[2] : NULL, (nn_reduction)d0);
    return NULL;
}

static nn_tensor *gradcheck_fn(nn_tensor **in, void *user) { return run_op((const fx_case *)user, in); }

static int g_fixture_cases, g_gradchecks;
static double g_gradcheck_worst;

static void test_fixtures(nn_ctx *ctx) {
    fx_case *cs; int n, i, k;
    n = load_fixtures("tests/fixtures/ops.txt", &cs);
    begin("fixtures load");
    CHECK(n > 0, "cannot read tests/fixtures/ops.txt (code %d); run from the repository root", n);
    end();
    if (n <= 0) return;
    for (i = 0; i < n; i++) {
        fx_case *c = &cs[i];
        nn_tensor *in[6] = { 0 }, *y, *g;
        int any_grad = 0;
        char what[32];
        if (!selected("ops/fixtures") && !selected(c->name) && !selected(c->op)) continue;
        g_fixture_cases++;
        begin(c->name);
        g_case_worst_rel = 0;
        for (k = 0; k < c->nin; k++) {
            in[k] = tensor_of(ctx, &c->in[k]);
            nn_set_requires_grad(in[k], c->in_rg[k]);
            any_grad |= c->in_rg[k];
        }
        y = run_op(c, in);
        CHECK(y != NULL, "op %s returned NULL: %s", c->op, nn_error(ctx) ? nn_error(ctx) : "(no error)");
        if (y) {
            compare("out", y, c->out.ndim, c->out.shape, c->out.v);
            if (any_grad) {
                g = tensor_of(ctx, &c->gout);
                CHECK(nn_backward(y, g, 0), "backward failed: %s", ERRS(ctx));
                for (k = 0; k < c->nin; k++) if (c->has_grad[k]) {
                    snprintf(what, sizeof what, "grad[%d]", k);
                    CHECK(in[k]->grad != NULL, "%s was not computed", what);
                    if (in[k]->grad) compare(what, in[k]->grad, c->grad[k].ndim, c->grad[k].shape, c->grad[k].v);
                }
                nn_free(g);
            }
        }
        nn_arena_reset(ctx);
        /* the same op by central finite differences */
        if (any_grad && !g_case_failed) {
            double err = 0;
            int ok = nn_gradcheck(gradcheck_fn, c, in, c->nin, 1e-3f, 2e-3f, 1e-2f, &err);
            CHECK(ok, "finite differences disagree with autograd: max abs error %g", err);
            g_gradchecks++;
            if (err > g_gradcheck_worst) g_gradcheck_worst = err;
        }
        CHECK(nn_error(ctx) == NULL, "unexpected error: %s", ERRS(ctx));
        nn_clear_error(ctx);
        for (k = 0; k < c->nin; k++) nn_free(in[k]);
        nn_arena_reset(ctx);
        if (getenv("NN_TEST_VERBOSE")) printf("  %-26s %-20s worst relative error %.2g\n", c->name, c->op, g_case_worst_rel);
        end();
    }
    free_fixtures(cs, n);
}


/* ---- the fast GEMM against the plain reference kernel ---- */
static void test_gemm_paths(nn_ctx *ctx) {
    static const int64_t dims[6][3] = { { 64, 784, 288 }, { 37, 130, 300 }, { 288, 784, 64 }, { 5, 17, 2000 }, { 130, 9, 513 }, { 4, 1000, 70 } };
    int t, tr; int64_t i;
    begin("GEMM: the packed vector kernel equals the reference kernel for every transpose and odd sizes");
    for (t = 0; t < 6; t++) for (tr = 0; tr < 4; tr++) {
        int64_t M = dims[t][0], N = dims[t][1], K = dims[t][2];
        float *A = (float *)malloc((size_t)(M * K) * sizeof(float)), *B = (float *)malloc((size_t)(K * N) * sizeof(float));
        float *C1 = (float *)malloc((size_t)(M * N) * sizeof(float)), *C2 = (float *)malloc((size_t)(M * N) * sizeof(float));
        float *Aa = (float *)malloc((size_t)(M * K) * sizeof(float)), *Ba = (float *)malloc((size_t)(K * N) * sizeof(float));
        float *Cb = (float *)calloc((size_t)(M * N), sizeof(float));
        int64_t ars = tr & 1 ? 1 : K, acs = tr & 1 ? M : 1, brs = tr & 2 ? 1 : N, bcs = tr & 2 ? K : 1;
        double worst = 0;
        for (i = 0; i < M * K; i++) A[i] = (float)((i * 7919) % 201 - 100) / 100.0f;
        for (i = 0; i < K * N; i++) B[i] = (float)((i * 104729) % 199 - 99) / 99.0f;
        for (i = 0; i < M * N; i++) C1[i] = C2[i] = (float)(i % 5);
        nn__gemm(ctx, M, N, K, A, ars, acs, B, brs, bcs, C1, N, 1);
        nn__gemm_ref(M, N, K, A, ars, acs, B, brs, bcs, C2, N, 1);
        /* both orders of summation are within float's error bound K * eps * sum |a||b| (+ the start value) */
        for (i = 0; i < M * K; i++) Aa[i] = fabsf(A[i]);
        for (i = 0; i < K * N; i++) Ba[i] = fabsf(B[i]);
        nn__gemm_ref(M, N, K, Aa, ars, acs, Ba, brs, bcs, Cb, N, 1);
        for (i = 0; i < M * N; i++) {
            double bound = 2.0 * (double)K * 5.96e-8 * ((double)Cb[i] + 4.0), e = fabs((double)C1[i] - C2[i]) / bound;
            if (e > worst) worst = e;
        }
        CHECK(worst <= 1.0, "%lldx%lldx%lld transposes %d: a difference %.3g times the float error bound", (long long)M, (long long)N, (long long)K, tr, worst);
        free(A); free(B); free(C1); free(C2); free(Aa); free(Ba); free(Cb);
    }
    nn_arena_reset(ctx);
    end();
}
