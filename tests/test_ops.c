/* ops: every op against PyTorch (tests/fixtures/ops.txt), finite differences, the numerics at the edges,
   the GEMM paths */
/* ---- fixtures (format 2: see tests/gen_fixtures.py) ---- */
typedef struct {
    nn_dtype dtype;                  /* NN_FLOAT32 or NN_INT64, as PyTorch's tensor */
    int ndim; int64_t shape[NN_MAX_DIMS]; int64_t n;
    double *v;                       /* float32 values (nan, inf allowed) */
    int64_t *iv;                     /* int64 values */
} fx_arr;
typedef struct fx_case fx_case;
typedef nn_tensor *(*fx_op_fn)(const fx_case *c, nn_tensor **in);
struct fx_case {
    char name[64], op[32];
    fx_op_fn run;                    /* looked up once, when the file is read */
    int nparams; double params[8];
    int nin; int in_rg[6]; fx_arr in[6];
    fx_arr out, gout;
    int has_grad[6]; fx_arr grad[6];
    int no_fd;                       /* "nofd": no finite-difference check (ties, p at 0 or 1) */
};

/* ---- the nn.h call for each fixture op: one function per op, found by name in g_fx_ops ---- */
#define FX_OP(name) static nn_tensor *fx_##name(const fx_case *c, nn_tensor **in)
#define P(i) (c->params[i])
#define D(i) ((int)c->params[i])
FX_OP(add) { (void)c; return nn_add(in[0], in[1]); }
FX_OP(sub) { (void)c; return nn_sub(in[0], in[1]); }
FX_OP(mul) { (void)c; return nn_mul(in[0], in[1]); }
FX_OP(div) { (void)c; return nn_div(in[0], in[1]); }
FX_OP(pow) { (void)c; return nn_pow(in[0], in[1]); }
FX_OP(maximum) { (void)c; return nn_maximum(in[0], in[1]); }
FX_OP(minimum) { (void)c; return nn_minimum(in[0], in[1]); }
FX_OP(where) { (void)c; return nn_where(in[0], in[1], in[2]); }
FX_OP(add_scalar) { return nn_add_scalar(in[0], (float)P(0)); }
FX_OP(sub_scalar) { return nn_sub_scalar(in[0], (float)P(0)); }
FX_OP(mul_scalar) { return nn_mul_scalar(in[0], (float)P(0)); }
FX_OP(div_scalar) { return nn_div_scalar(in[0], (float)P(0)); }
FX_OP(pow_scalar) { return nn_pow_scalar(in[0], (float)P(0)); }
FX_OP(neg) { (void)c; return nn_neg(in[0]); }
FX_OP(exp) { (void)c; return nn_exp(in[0]); }
FX_OP(log) { (void)c; return nn_log(in[0]); }
FX_OP(sqrt) { (void)c; return nn_sqrt(in[0]); }
FX_OP(abs) { (void)c; return nn_abs(in[0]); }
FX_OP(clamp) { return nn_clamp(in[0], (float)P(0), (float)P(1)); }
FX_OP(relu) { (void)c; return nn_relu(in[0]); }
FX_OP(leaky_relu) { return nn_leaky_relu(in[0], (float)P(0)); }
FX_OP(sigmoid) { (void)c; return nn_sigmoid(in[0]); }
FX_OP(tanh) { (void)c; return nn_tanh(in[0]); }
FX_OP(gelu) { (void)c; return nn_gelu(in[0]); }
FX_OP(silu) { (void)c; return nn_silu(in[0]); }
FX_OP(softplus) { return nn_softplus(in[0], (float)P(0), (float)P(1)); }
FX_OP(softmax) { return nn_softmax(in[0], D(0)); }
FX_OP(log_softmax) { return nn_log_softmax(in[0], D(0)); }
FX_OP(sum) { return nn_sum(in[0], D(0), D(1)); }
FX_OP(mean) { return nn_mean(in[0], D(0), D(1)); }
FX_OP(var) { return nn_var(in[0], D(0), D(2), D(1)); }
FX_OP(std) { return nn_std(in[0], D(0), D(2), D(1)); }
FX_OP(max) { return nn_max(in[0], D(0), D(1), NULL); }
FX_OP(min) { return nn_min(in[0], D(0), D(1), NULL); }
FX_OP(logsumexp) { return nn_logsumexp(in[0], D(0), D(1)); }
FX_OP(max_indices) {
    nn_tensor *i = NULL;
    nn_max(in[0], D(0), D(1), &i);
    return i;
}
FX_OP(argmax) { return nn_argmax(in[0], D(0), D(1)); }
FX_OP(matmul) { (void)c; return nn_matmul(in[0], in[1]); }
FX_OP(matmul_bt) { (void)c; return nn_matmul(in[0], nn_transpose(in[1], 0, 1)); }
FX_OP(matmul_at) { (void)c; return nn_matmul(nn_transpose(in[0], 0, 1), in[1]); }
FX_OP(gather) { return nn_gather(in[0], D(0), in[1]); }
FX_OP(index_select) { return nn_index_select(in[0], D(0), in[1]); }
FX_OP(embedding) { (void)c; return nn_embedding(in[0], in[1]); }
FX_OP(one_hot) { return nn_one_hot(in[0], (int64_t)P(0)); }
FX_OP(transpose) { return nn_transpose(in[0], D(0), D(1)); }
FX_OP(permute) {
    int dims[3];
    dims[0] = D(0); dims[1] = D(1); dims[2] = D(2);
    return nn_permute(in[0], dims);
}
FX_OP(slice) { return nn_slice(in[0], D(0), (int64_t)P(1), (int64_t)P(2), (int64_t)P(3)); }
FX_OP(select) { return nn_select(in[0], D(0), (int64_t)P(1)); }
FX_OP(reshape) {
    int64_t s[2];
    s[0] = (int64_t)P(0); s[1] = (int64_t)P(1);
    return nn_reshape(in[0], c->nparams, s);
}
FX_OP(reshape_t) {
    int64_t s[1];
    (void)c;
    s[0] = -1;
    return nn_reshape(nn_transpose(in[0], 0, 1), 1, s);
}
FX_OP(flatten) { return nn_flatten(in[0], D(0), D(1)); }
FX_OP(unsqueeze) { return nn_unsqueeze(in[0], D(0)); }
FX_OP(squeeze) { return nn_squeeze(in[0], D(0)); }
FX_OP(contiguous_t) { (void)c; return nn_contiguous(nn_transpose(in[0], 0, 1)); }
FX_OP(clone) { (void)c; return nn_clone(in[0]); }
FX_OP(cat) { return nn_cat(in, 2, D(0)); }
FX_OP(stack) { return nn_stack(in, 2, D(0)); }
FX_OP(used_twice) { (void)c; return nn_add(nn_mul(in[0], in[0]), in[0]); }
FX_OP(addmm) { (void)c; return nn_add(nn_matmul(in[0], in[1]), in[2]); }
FX_OP(linear) {
    (void)c;
    return nn_add(nn_matmul(in[0], nn_transpose(in[1], 0, 1)), in[2]);
}
/* conv2d params: stride, padding, dilation, groups, has_bias */
FX_OP(conv2d) {
    nn_conv_opts o = nn_conv_opts_default();
    o.stride = (int64_t)P(0); o.padding = (int64_t)P(1); o.dilation = (int64_t)P(2); o.groups = (int64_t)P(3);
    return nn_conv2d(in[0], in[1], P(4) != 0 ? in[2] : NULL, o);
}
/* conv_transpose2d params: stride, padding, output_padding, groups, dilation */
FX_OP(conv_transpose2d) {
    nn_conv_opts o = nn_conv_opts_default();
    o.stride = (int64_t)P(0); o.padding = (int64_t)P(1); o.output_padding = (int64_t)P(2);
    o.groups = (int64_t)P(3); o.dilation = (int64_t)P(4);
    return nn_conv_transpose2d(in[0], in[1], in[2], o);
}
/* pool params: kernel, stride, padding, ceil_mode, count_include_pad */
static nn_pool_opts fx_pool_opts(const fx_case *c) {
    nn_pool_opts o = nn_pool_opts_default((int64_t)P(0));
    o.stride = (int64_t)P(1); o.padding = (int64_t)P(2);
    o.ceil_mode = D(3); o.count_include_pad = D(4);
    return o;
}
FX_OP(max_pool2d) { return nn_max_pool2d(in[0], fx_pool_opts(c)); }
FX_OP(avg_pool2d) { return nn_avg_pool2d(in[0], fx_pool_opts(c)); }
FX_OP(adaptive_avg_pool2d) {
    return nn_adaptive_avg_pool2d(in[0], (int64_t)P(0), (int64_t)P(1));
}
/* batch norm params: training, momentum, eps */
FX_OP(batch_norm) {
    return nn_batch_norm(in[0], NULL, NULL, in[1], in[2], 1, (float)P(1), (float)P(2));
}
FX_OP(batch_norm_eval) {
    return nn_batch_norm(in[0], in[3], in[4], in[1], in[2], 0, (float)P(1), (float)P(2));
}
/* a CPU tensor moved to device (the CPU copy freed); the tensor itself on the CPU */
static nn_tensor *fx_on(nn_tensor *t, nn_device device) {
    nn_tensor *d;
    if (!t || device == NN_CPU) return t;
    d = nn_to(t, device);
    nn_free(t);
    return d;
}
/* the running statistics after one training step, from zeros and ones (params: momentum) */
static nn_tensor *fx_bn_running(const fx_case *c, nn_tensor **in, int want_var) {
    int64_t ch = in[0]->shape[1];
    nn_tensor *rm = fx_on(nn_zeros(in[0]->ctx, 1, &ch), in[0]->device);
    nn_tensor *rv = fx_on(nn_ones(in[0]->ctx, 1, &ch), in[0]->device), *r;
    nn_batch_norm(in[0], rm, rv, NULL, NULL, 1, (float)P(0), 1e-5f);
    r = nn_clone(want_var ? rv : rm);
    r->src[0] = NULL; r->nsrc = 0;         /* rm, rv are freed next */
    nn_free(rm); nn_free(rv);
    return r;
}
FX_OP(bn_running_mean) { return fx_bn_running(c, in, 0); }
FX_OP(bn_running_var) { return fx_bn_running(c, in, 1); }
FX_OP(layer_norm) { return nn_layer_norm(in[0], D(0), in[1], in[2], 1e-5f); }
FX_OP(layer_norm_plain) { return nn_layer_norm(in[0], D(0), NULL, NULL, 1e-5f); }
/* losses: params[0] is the reduction (0 mean, 1 sum, 2 none) */
FX_OP(mse_loss) { return nn_mse_loss(in[0], in[1], (nn_reduction)D(0)); }
FX_OP(l1_loss) { return nn_l1_loss(in[0], in[1], (nn_reduction)D(0)); }
FX_OP(smooth_l1_loss) {
    return nn_smooth_l1_loss(in[0], in[1], (nn_reduction)D(0), (float)P(1));
}
FX_OP(huber_loss) {
    return nn_huber_loss(in[0], in[1], (nn_reduction)D(0), (float)P(1));
}
/* cross entropy params: reduction, use_weight, use_ignore, ignore_index, label_smoothing; targets are int64 */
static nn_cross_entropy_opts fx_ce_opts(const fx_case *c, nn_tensor **in) {
    nn_cross_entropy_opts o = nn_cross_entropy_opts_default();
    o.reduction = (nn_reduction)D(0); o.weight = P(1) != 0 ? in[2] : NULL;
    o.ignore_index = D(2) ? (int64_t)P(3) : -100; o.label_smoothing = (float)P(4);
    return o;
}
FX_OP(cross_entropy) { return nn_cross_entropy(in[0], in[1], fx_ce_opts(c, in)); }
FX_OP(nll_loss) { return nn_nll_loss(in[0], in[1], fx_ce_opts(c, in)); }
/* bce params: reduction, has_weight */
FX_OP(bce_loss) {
    return nn_bce_loss(in[0], in[1], P(1) != 0 ? in[2] : NULL, (nn_reduction)D(0));
}
FX_OP(bce_with_logits) {
    return nn_bce_with_logits(in[0], in[1], NULL, (nn_reduction)D(0), P(1) != 0 ? in[2] : NULL);   /* in[2]: pos_weight */
}
/* issue 9: sin/cos, masks and selection, the timestep embedding, attention */
FX_OP(sin) { (void)c; return nn_sin(in[0]); }
FX_OP(cos) { (void)c; return nn_cos(in[0]); }
FX_OP(tril) { return nn_tril(in[0], (int64_t)P(0)); }
FX_OP(triu) { return nn_triu(in[0], (int64_t)P(0)); }
FX_OP(masked_fill) { return nn_masked_fill(in[0], in[1], (float)P(0)); }
/* topk params: k, dim, largest */
FX_OP(topk) { return nn_topk(in[0], (int64_t)P(0), D(1), D(2), NULL); }
FX_OP(topk_indices) {
    nn_tensor *i = NULL;
    nn_topk(in[0], (int64_t)P(0), D(1), D(2), &i);
    return i;
}
FX_OP(timestep_embedding) { return nn_timestep_embedding(in[0], (int64_t)P(0), (float)P(1)); }
/* sdpa params: is_causal, scale (nan: 1/sqrt(E)); inputs q, k, v and an optional attn_mask */
FX_OP(sdpa) {
    return nn_scaled_dot_product_attention(in[0], in[1], in[2], c->nin > 3 ? in[3] : NULL, 0.0f, D(0), (float)P(1));
}
#undef P
#undef D
#undef FX_OP

typedef struct { const char *name; fx_op_fn run; } fx_op;
#define FX(name) { #name, fx_##name }
static const fx_op g_fx_ops[] = {
    FX(add), FX(sub), FX(mul), FX(div), FX(pow), FX(maximum), FX(minimum), FX(where),
    FX(add_scalar), FX(sub_scalar), FX(mul_scalar), FX(div_scalar), FX(pow_scalar),
    FX(neg), FX(exp), FX(log), FX(sqrt), FX(abs), FX(clamp),
    FX(relu), FX(leaky_relu), FX(sigmoid), FX(tanh), FX(gelu), FX(silu), FX(softplus), FX(softmax), FX(log_softmax),
    FX(sum), FX(mean), FX(var), FX(std), FX(max), FX(min), FX(logsumexp), FX(max_indices), FX(argmax),
    FX(matmul), FX(matmul_bt), FX(matmul_at), FX(gather), FX(index_select), FX(embedding), FX(one_hot),
    FX(transpose), FX(permute), FX(slice), FX(select), FX(reshape), FX(reshape_t), FX(flatten),
    FX(unsqueeze), FX(squeeze), FX(contiguous_t), FX(clone), FX(cat), FX(stack),
    FX(used_twice), FX(addmm), FX(linear), FX(conv2d), FX(conv_transpose2d),
    FX(max_pool2d), FX(avg_pool2d), FX(adaptive_avg_pool2d),
    FX(batch_norm), FX(batch_norm_eval), FX(bn_running_mean), FX(bn_running_var), FX(layer_norm), FX(layer_norm_plain),
    FX(mse_loss), FX(l1_loss), FX(smooth_l1_loss), FX(huber_loss), FX(cross_entropy), FX(nll_loss),
    FX(bce_loss), FX(bce_with_logits),
    FX(sin), FX(cos), FX(tril), FX(triu), FX(masked_fill), FX(topk), FX(topk_indices), FX(timestep_embedding), FX(sdpa),
};
#undef FX

static fx_op_fn fx_lookup(const char *name) {
    size_t i;
    for (i = 0; i < sizeof g_fx_ops / sizeof g_fx_ops[0]; i++)
        if (!strcmp(g_fx_ops[i].name, name)) return g_fx_ops[i].run;
    return NULL;
}

/* ---- reading tests/fixtures/ops.txt ---- */
static char *g_tok;
static char *next_tok(void) {
    char *t;
    while (*g_tok == ' ' || *g_tok == '\n' || *g_tok == '\r' || *g_tok == '\t') g_tok++;
    if (!*g_tok) return NULL;
    t = g_tok;
    while (*g_tok && *g_tok != ' ' && *g_tok != '\n' && *g_tok != '\r' && *g_tok != '\t') g_tok++;
    if (*g_tok) *g_tok++ = 0;
    return t;
}
static const char *tok_or_empty(void) { const char *t = next_tok(); return t ? t : ""; }

/* DTYPE NDIM d1 .. dn : v1 .. vn; 0 on a malformed array */
static int read_arr(fx_arr *a) {
    const char *dt = tok_or_empty();
    int d; int64_t i;
    if (!strcmp(dt, "f32")) a->dtype = NN_FLOAT32;
    else if (!strcmp(dt, "i64")) a->dtype = NN_INT64;
    else return 0;
    a->ndim = atoi(tok_or_empty());
    if (a->ndim < 0 || a->ndim > NN_MAX_DIMS) return 0;
    a->n = 1;
    for (d = 0; d < a->ndim; d++) { a->shape[d] = atoll(tok_or_empty()); a->n *= a->shape[d]; }
    if (strcmp(tok_or_empty(), ":") != 0 || a->n < 0) return 0;
    a->v = (double *)malloc((size_t)(a->n ? a->n : 1) * sizeof(double));
    a->iv = (int64_t *)malloc((size_t)(a->n ? a->n : 1) * sizeof(int64_t));
    for (i = 0; i < a->n; i++) {
        const char *t = tok_or_empty();
        a->v[i] = strtod(t, NULL);          /* "nan", "inf", "-inf" included */
        a->iv[i] = strtoll(t, NULL, 10);
    }
    return 1;
}

static void free_arr(fx_arr *a) { free(a->v); free(a->iv); a->v = NULL; a->iv = NULL; }

/* one line of a case (after "case"); 0 when the file is malformed */
static int read_line(fx_case *c, const char *t) {
    if (!strcmp(t, "nofd")) { c->no_fd = 1; return 1; }
    if (!strcmp(t, "in")) {
        if (c->nin >= 6) return 0;
        c->in_rg[c->nin] = atoi(tok_or_empty());
        return read_arr(&c->in[c->nin++]);
    }
    if (!strcmp(t, "out")) return read_arr(&c->out);
    if (!strcmp(t, "gout")) return read_arr(&c->gout);
    if (!strcmp(t, "grad")) {
        int i = atoi(tok_or_empty());
        if (i < 0 || i >= 6) return 0;
        c->has_grad[i] = 1;
        return read_arr(&c->grad[i]);
    }
    return !strcmp(t, "end");
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb"); long size; char *buf;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) { fclose(f); free(buf); return NULL; }
    buf[size] = 0;
    fclose(f);
    return buf;
}

/* the number of cases, or -1 (no file), -2 (not format 2), -3 (malformed) */
static int load_fixtures(const char *path, fx_case **out) {
    char *buf = read_text(path), *t; int n = 0, cap = 256, ok = 1;
    fx_case *cs, *c = NULL;
    *out = NULL;
    if (!buf) return -1;
    for (t = buf; *t; t++) if (*t == '#') while (*t && *t != '\n') *t++ = ' ';   /* drop comments */
    g_tok = buf;
    t = next_tok();
    if (!t || strcmp(t, "nnfix") != 0 || atoi(tok_or_empty()) != 2) { free(buf); return -2; }
    cs = (fx_case *)calloc((size_t)cap, sizeof(fx_case));
    while (ok && (t = next_tok())) {
        if (!strcmp(t, "case")) {
            int i;
            if (n == cap) {
                cs = (fx_case *)realloc(cs, (size_t)(2 * cap) * sizeof(fx_case));
                memset(cs + cap, 0, (size_t)cap * sizeof(fx_case));
                cap *= 2;
            }
            c = &cs[n++];
            strncpy(c->name, tok_or_empty(), sizeof c->name - 1);
            strncpy(c->op, tok_or_empty(), sizeof c->op - 1);
            c->run = fx_lookup(c->op);
            c->nparams = atoi(tok_or_empty());
            if (c->nparams < 0 || c->nparams > 8) { ok = 0; break; }
            for (i = 0; i < c->nparams; i++) c->params[i] = strtod(tok_or_empty(), NULL);
        } else ok = c != NULL && read_line(c, t);
    }
    free(buf);
    *out = cs;
    return ok ? n : -3;
}

static void free_fixtures(fx_case *cs, int n) {
    int i, k;
    for (i = 0; i < n; i++) {
        for (k = 0; k < 6; k++) { free_arr(&cs[i].in[k]); free_arr(&cs[i].grad[k]); }
        free_arr(&cs[i].out); free_arr(&cs[i].gout);
    }
    free(cs);
}

/* a fixture array as a CPU tensor of its dtype */
static nn_tensor *tensor_of(nn_ctx *ctx, const fx_arr *a) {
    nn_tensor *t;
    int64_t i;
    if (a->dtype == NN_INT64) return nn_from_i64(ctx, a->ndim, a->shape, a->iv);
    t = nn_empty(ctx, a->ndim, a->shape);
    for (i = 0; i < a->n; i++) nn_f32(t)[i] = (float)a->v[i];
    return t;
}

/* ---- comparing with PyTorch ---- */
static int g_fx_numerics;            /* the current case is numerics/...: its errors are reported on its own line */
static const char *g_fx_tag;         /* the kernels and threads a rerun of the fixtures uses, for its labels */
static double g_fx_case_abs;         /* worst absolute error of the current case (finite expected values) */

/* float32 against PyTorch: |got - want| <= 1e-5 |want| + 1e-6 (harness.h's close_to); an expected NaN
   needs a NaN and an expected inf the same inf */
static int fx_close(float got, double want, double *rel) {
    double err = fabs((double)got - want);
    *rel = 0;
    if (want != want) return got != got;
    if (isinf(want)) return (double)got == want;
    if (err > g_fx_case_abs) g_fx_case_abs = err;
    if (g_fx_numerics) {             /* not folded into the suite's worst errors: values up to 1e12 */
        *rel = fabs(want) >= 0.1 ? err / fabs(want) : 0;
        return err <= 1e-5 * fabs(want) + 1e-6 && got == got;
    }
    return close_to(got, want, rel);
}

/* element i of t in row-major order, read through t's strides */
static int64_t fx_offset(const nn_tensor *t, int64_t i) {
    int64_t off = 0;
    int d;
    for (d = t->ndim - 1; d >= 0; d--) { off += (i % t->shape[d]) * t->stride[d]; i /= t->shape[d]; }
    return off;
}

static int fx_all_finite(const fx_arr *a) {
    int64_t i;
    for (i = 0; i < a->n; i++) if (a->v[i] != a->v[i] || isinf(a->v[i])) return 0;
    return 1;
}

/* t (on the CPU) against an expected array: dtype, shape, values. Finite float32 values of the
   ordinary cases go through harness.h's compare; int64 values must be equal; NaN and inf (and
   the numerics/ cases) are read here. */
static void fx_compare(const char *what, const nn_tensor *t, const fx_arr *want) {
    int64_t i;
    int d;
    if (!t) { CHECK(0, "%s: got NULL", what); return; }
    CHECK(t->dtype == want->dtype, "%s: got dtype %s, expected %s", what, nn_dtype_name(t->dtype),
          nn_dtype_name(want->dtype));
    if (g_case_failed) return;
    if (want->dtype == NN_FLOAT32 && !g_fx_numerics && fx_all_finite(want)) {
        compare(what, t, want->ndim, want->shape, want->v);
        return;
    }
    CHECK(t->ndim == want->ndim, "%s: got %d dims, expected %d", what, t->ndim, want->ndim);
    for (d = 0; d < want->ndim && d < t->ndim; d++)
        CHECK(t->shape[d] == want->shape[d], "%s: dim %d is %lld, expected %lld", what, d,
              (long long)t->shape[d], (long long)want->shape[d]);
    if (g_case_failed) return;
    for (i = 0; i < want->n; i++) {
        int64_t off = fx_offset(t, i);
        double rel;
        if (want->dtype == NN_INT64) {
            CHECK(nn_i64(t)[off] == want->iv[i], "%s[%lld]: expected %lld, got %lld", what, (long long)i,
                  (long long)want->iv[i], (long long)nn_i64(t)[off]);
        } else {
            CHECK(fx_close(nn_f32(t)[off], want->v[i], &rel), "%s[%lld]: expected %.9g, got %.9g", what, (long long)i,
                  want->v[i], nn_f32(t)[off]);
            if (rel > g_case_worst_rel) g_case_worst_rel = rel;
        }
        if (g_case_failed) return;
    }
}

/* ---- running the cases on a device ---- */
static int g_fixture_cases, g_gradchecks;
static double g_gradcheck_worst;
static const fx_case *g_fd_case;     /* the case nn_gradcheck re-runs */

static nn_tensor *gradcheck_fn(nn_tensor **in, void *user) { (void)user; return g_fd_case->run(g_fd_case, in); }

/* the result of an op on device, as a CPU tensor to read */
/* (through nn_detach, a step tensor, so the copy is one too and goes at the reset) */
static nn_tensor *fx_host(nn_tensor *t) { return t && t->device != NN_CPU ? nn_to(nn_detach(t), NN_CPU) : t; }

/* forward, then backward with the fixture's upstream gradient; compares out and every grad */
static void fx_forward_backward(nn_ctx *ctx, const fx_case *c, nn_tensor **in, int any_grad, nn_device device) {
    nn_tensor *y = c->run(c, in), *g;
    char what[32];
    int k;
    CHECK(y != NULL, "op %s returned NULL: %s", c->op, ERRS(ctx));
    if (!y) return;
    fx_compare("out", fx_host(y), &c->out);
    if (!any_grad || c->out.dtype != NN_FLOAT32) return;
    g = fx_on(tensor_of(ctx, &c->gout), device);
    CHECK(nn_backward(y, g, 0), "backward failed: %s", ERRS(ctx));
    for (k = 0; k < c->nin; k++) if (c->has_grad[k]) {
        snprintf(what, sizeof what, "grad[%d]", k);
        CHECK(in[k]->grad != NULL, "%s was not computed", what);
        if (in[k]->grad) fx_compare(what, fx_host(in[k]->grad), &c->grad[k]);
    }
    nn_free(g);
}

/* the same op by central finite differences (on the CPU: nn_gradcheck reads and writes the inputs) */
static void fx_finite_differences(const fx_case *c, nn_tensor **in) {
    double err = 0;
    int ok;
    g_fd_case = c;
    ok = nn_gradcheck(gradcheck_fn, NULL, in, c->nin, 1e-3f, 2e-3f, 1e-2f, &err);
    CHECK(ok, "finite differences disagree with autograd: max abs error %g", err);
    g_gradchecks++;
    if (err > g_gradcheck_worst) g_gradcheck_worst = err;
}

static void run_case(nn_ctx *ctx, const fx_case *c, nn_device device) {
    nn_tensor *in[6] = { 0 };
    int any_grad = 0, k;
    CHECK(c->run != NULL, "no op named \"%s\" in g_fx_ops", c->op);
    if (!c->run) return;
    for (k = 0; k < c->nin; k++) {
        in[k] = fx_on(tensor_of(ctx, &c->in[k]), device);    /* made on the CPU, moved to device */
        CHECK(in[k] != NULL, "input %d: %s", k, ERRS(ctx));
        if (!in[k]) break;
        nn_set_requires_grad(in[k], c->in_rg[k]);
        any_grad |= c->in_rg[k];
    }
    if (k == c->nin) fx_forward_backward(ctx, c, in, any_grad, device);
    nn_arena_reset(ctx);
    if (k == c->nin && any_grad && !c->no_fd && !g_case_failed && device == NN_CPU) fx_finite_differences(c, in);
    CHECK(nn_error(ctx) == NULL, "unexpected error: %s", ERRS(ctx));
    nn_clear_error(ctx);
    for (k = 0; k < c->nin; k++) nn_free(in[k]);
    nn_arena_reset(ctx);
}

/* Every fixture case on one device: inputs made on the CPU and moved there with nn_to, results
   moved back to be compared with PyTorch. nn.h calls it with NN_CPU; a CUDA build calls it with
   NN_CUDA and checks its kernels against the same numbers. */
static void run_fixtures(nn_ctx *ctx, nn_device device) {
    fx_case *cs;
    char label[96];
    int n, i;
    n = load_fixtures("tests/fixtures/ops.txt", &cs);
    begin("fixtures load");
    CHECK(n > 0, "cannot read tests/fixtures/ops.txt (code %d: -1 no file, -2 not nnfix 2, -3 malformed); "
                 "run from the repository root", n);
    end();
    for (i = 0; i < n; i++) {
        const fx_case *c = &cs[i];
        if (!selected("ops/fixtures") && !selected(c->name) && !selected(c->op)) continue;
        g_fixture_cases++;
        if (g_fx_tag) snprintf(label, sizeof label, "%s [%s]", c->name, g_fx_tag);
        else if (device == NN_CPU) snprintf(label, sizeof label, "%s", c->name);
        else snprintf(label, sizeof label, "%s [device %d]", c->name, (int)device);
        begin(label);
        g_case_worst_rel = 0;
        g_fx_case_abs = 0;
        g_fx_numerics = strncmp(c->name, "numerics/", 9) == 0;
        run_case(ctx, c, device);
        if (getenv("NN_TEST_VERBOSE"))
            printf("  %-26s %-20s worst relative error %.2g\n", c->name, c->op, g_case_worst_rel);
        if (g_fx_numerics)
            printf("  numerics %s: worst abs error %.3g, worst relative error %.3g (against PyTorch)%s\n", c->name + 9,
                   g_fx_case_abs, g_case_worst_rel, g_case_failed ? " FAILED" : "");
        end();
    }
    if (cs) free_fixtures(cs, n > 0 ? n : 0);
}

/* ---- numerics: long same-sign sums (10^6 terms), built in C, against the exact double result ---- */
/* PyTorch, computing in float64 from the same float32 inputs, gives these exact values; nn.h must be
   within 1e-6 relative (issue 7: accumulate in double or pairwise). */
static void numerics_report(const char *name, double got, double exact, const char *what) {
    double rel = fabs(got - exact) / fabs(exact);
    printf("  numerics %s: %s %.9g, exact %.9g, relative error %.3g%s\n", name, what, got, exact, rel,
           rel <= 1e-6 ? "" : " FAILED");
    CHECK(rel <= 1e-6, "%s: got %.9g, exact %.9g (relative error %.3g > 1e-6)", what, got, exact, rel);
}

/* the worst element of a float32 tensor against one exact value */
static double numerics_worst(const nn_tensor *t, double exact) {
    double worst = nn_f32(t)[0];
    int64_t i;
    for (i = 1; i < t->numel; i++)
        if (fabs(nn_f32(t)[i] - exact) > fabs(worst - exact)) worst = nn_f32(t)[i];
    return worst;
}

/* sum and mean of 10^6 x 0.1f, over all dims and along a dim (strided) */
static void numerics_sum(nn_ctx *ctx) {
    int64_t n1[1] = { 1000000 }, n2[2] = { 1000000, 2 };
    nn_tensor *x = nn_full(ctx, 1, n1, 0.1f), *x2 = nn_full(ctx, 2, n2, 0.1f), *s;
    double exact = 1e6 * (double)0.1f;
    s = nn_sum(x, NN_ALL, 0);
    CHECK(s != NULL, "nn_sum: %s", ERRS(ctx));
    if (s) numerics_report("sum_1e6", nn_item(s), exact, "sum of 10^6 x 0.1f");
    s = nn_mean(x, NN_ALL, 0);
    CHECK(s != NULL, "nn_mean: %s", ERRS(ctx));
    if (s) numerics_report("mean_1e6", nn_item(s), (double)0.1f, "mean of 10^6 x 0.1f");
    s = nn_sum(x2, 0, 0);
    CHECK(s != NULL, "nn_sum dim 0: %s", ERRS(ctx));
    if (s) numerics_report("sum_dim0_1e6", numerics_worst(s, exact), exact, "sum over dim 0 of (10^6, 2), worst of 2");
    nn_arena_reset(ctx);
    nn_free(x); nn_free(x2);
}

/* (1, 10^6) @ (10^6, 1) of 0.1f and 1: a dot product of 10^6 terms */
static void numerics_matmul(nn_ctx *ctx) {
    int64_t sa[2] = { 1, 1000000 }, sb[2] = { 1000000, 1 };
    nn_tensor *a = nn_full(ctx, 2, sa, 0.1f), *b = nn_ones(ctx, 2, sb), *y = nn_matmul(a, b);
    CHECK(y != NULL, "nn_matmul: %s", ERRS(ctx));
    if (y) numerics_report("matmul_k1e6", nn_f32(y)[0], 1e6 * (double)0.1f, "(1, 10^6) @ (10^6, 1) of 0.1f and 1");
    nn_arena_reset(ctx);
    nn_free(a); nn_free(b);
}

/* Linear's bias gradient over a batch of 65536: y = x W^T + b, upstream gradient 0.1f everywhere */
static void numerics_linear_bias(nn_ctx *ctx) {
    int64_t sx[2] = { 65536, 4 }, sw[2] = { 3, 4 }, sb[1] = { 3 }, sy[2] = { 65536, 3 };
    nn_tensor *x = nn_full(ctx, 2, sx, 0.5f), *w = nn_full(ctx, 2, sw, 0.25f), *b = nn_zeros(ctx, 1, sb);
    nn_tensor *g = nn_full(ctx, 2, sy, 0.1f), *y;
    double exact = 65536 * (double)0.1f;
    nn_set_requires_grad(w, 1);
    nn_set_requires_grad(b, 1);
    y = nn_add(nn_matmul(x, nn_transpose(w, 0, 1)), b);
    CHECK(y != NULL && nn_backward(y, g, 0), "linear: %s", ERRS(ctx));
    CHECK(b->grad != NULL, "the bias gradient was not computed");
    if (b->grad) numerics_report("linear_bias_grad_b65536", numerics_worst(b->grad, exact), exact,
                                 "bias gradient over batch 65536, worst of 3");
    nn_arena_reset(ctx);
    nn_free(x); nn_free(w); nn_free(b); nn_free(g);
}

/* conv2d's bias gradient over 10^6 output elements per channel: x (4, 1, 500, 500), 1x1 kernel, 2 channels */
static void numerics_conv_bias(nn_ctx *ctx) {
    int64_t sx[4] = { 4, 1, 500, 500 }, sw[4] = { 2, 1, 1, 1 }, sb[1] = { 2 }, sy[4] = { 4, 2, 500, 500 };
    nn_tensor *x = nn_full(ctx, 4, sx, 0.5f), *w = nn_full(ctx, 4, sw, 0.25f), *b = nn_zeros(ctx, 1, sb);
    nn_tensor *g = nn_full(ctx, 4, sy, 0.1f), *y;
    double exact = 1e6 * (double)0.1f;
    nn_conv_opts o = nn_conv_opts_default();
    nn_set_requires_grad(b, 1);
    y = nn_conv2d(x, w, b, o);
    CHECK(y != NULL && nn_backward(y, g, 0), "conv2d: %s", ERRS(ctx));
    CHECK(b->grad != NULL, "the bias gradient was not computed");
    if (b->grad) numerics_report("conv_bias_grad_1e6", numerics_worst(b->grad, exact), exact,
                                 "conv2d bias gradient over 10^6 elements, worst of 2");
    nn_arena_reset(ctx);
    nn_free(x); nn_free(w); nn_free(b); nn_free(g);
}

typedef struct { const char *name; void (*run)(nn_ctx *ctx); } numerics_case;
static const numerics_case g_numerics[] = {
    { "numerics/sum_1e6", numerics_sum },
    { "numerics/matmul_k1e6", numerics_matmul },
    { "numerics/linear_bias_grad_b65536", numerics_linear_bias },
    { "numerics/conv_bias_grad_1e6", numerics_conv_bias },
};

static void run_numerics(nn_ctx *ctx) {
    size_t i;
    for (i = 0; i < sizeof g_numerics / sizeof g_numerics[0]; i++) {
        if (!selected("ops/numerics") && !selected(g_numerics[i].name)) continue;
        begin(g_numerics[i].name);
        g_numerics[i].run(ctx);
        CHECK(nn_error(ctx) == NULL, "unexpected error: %s", ERRS(ctx));
        nn_clear_error(ctx);
        end();
    }
}

/* the runner's entry (tests/test_nn.c): every fixture on the CPU, then the long sums */
static void test_fixtures(nn_ctx *ctx) {
    run_fixtures(ctx, NN_CPU);
    run_numerics(ctx);
}


/* The capabilities this CPU and build run: "default" always, then avx2 / avx512 / neon. */
static const char *const g_caps[] = { "default", "neon", "avx2", "avx512" };
static int cap_available(const char *name) {
    nn_ctx *c = nn_ctx_new(); int ok;
    nn_set_logger(c, NULL, NULL);
    ok = nn_set_cpu_capability(c, name);
    nn_ctx_free(c);
    return ok;
}

/* Every PyTorch fixture again with each available kernel set, on 1 and 2 threads: the fast
   paths give PyTorch's numbers, and the plain C kernels stay tested on their own. */
static void test_fixtures_fast_paths(nn_ctx *unused) {
    int c, th;
    char tag[64];
    (void)unused;
    for (c = 0; c < 4; c++) for (th = 1; th <= 2; th++) {
        nn_ctx *ctx;
        if (!cap_available(g_caps[c])) continue;
        ctx = nn_ctx_new();
        begin("fast paths: set kernels and threads");
        CHECK(nn_set_cpu_capability(ctx, g_caps[c]) == 1, "nn_set_cpu_capability(%s) failed: %s", g_caps[c], ERRS(ctx));
        CHECK(nn_set_num_threads(ctx, th) == th, "nn_set_num_threads(%d) gave %d", th, nn_get_num_threads(ctx));
        end();
        snprintf(tag, sizeof tag, "%s, %d thread%s", g_caps[c], th, th > 1 ? "s" : "");
        g_fx_tag = tag;
        run_fixtures(ctx, NN_CPU);
        g_fx_tag = NULL;
        nn_ctx_free(ctx);
    }
}

/* nn_set_num_threads, nn_set_cpu_capability: answers and errors */
static void test_threads_api(nn_ctx *unused) {
    nn_ctx *ctx = nn_ctx_new();
    const char *best = nn_get_cpu_capability();
    (void)unused;
    begin("threads and capability: defaults, errors, bounds");
    printf("  cpu capability: %s\n", best);
    nn_set_logger(ctx, NULL, NULL);
    CHECK(nn_get_num_threads(ctx) == 1, "a new context runs %d threads; the default is 1", nn_get_num_threads(ctx));
    CHECK(cap_available(best), "nn_get_cpu_capability() says %s, which nn_set_cpu_capability refuses", best);
    CHECK(nn_set_num_threads(ctx, 0) == 1 && nn_error(ctx) && strstr(nn_error(ctx), "nn_set_num_threads"),
          "n = 0 must be an error that keeps 1 thread: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(nn_set_num_threads(ctx, 100000) == 1 && nn_error(ctx), "n = 100000 must be an error: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(nn_set_num_threads(ctx, 3) == 3 && nn_get_num_threads(ctx) == 3 && !nn_error(ctx), "3 threads: %s", ERRS(ctx));
    CHECK(nn_set_num_threads(ctx, 1) == 1 && nn_get_num_threads(ctx) == 1, "back to 1 thread");
    CHECK(nn_set_cpu_capability(ctx, "sse9") == 0 && nn_error(ctx) && strstr(nn_error(ctx), "sse9"),
          "an unknown capability must be an error naming it: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(nn_set_cpu_capability(ctx, NULL) == 0 && nn_error(ctx), "a NULL capability must be an error");
    nn_clear_error(ctx);
    CHECK(nn_set_cpu_capability(NULL, "default") == 0 && nn_set_num_threads(NULL, 2) == 0 && nn_get_num_threads(NULL) == 1,
          "a NULL context is refused quietly");
    nn_ctx_free(ctx);
    end();
}

/* ---- the fast GEMM against the plain reference kernel ---- */
/* For every available kernel set and 1 and 2 threads: every transpose, odd sizes, single
   rows (the GEMV path), a single column, K = 0, and C = as well as C +=. */
static void test_gemm_paths(nn_ctx *unused) {
    static const int64_t dims[14][3] = { { 64, 784, 288 }, { 37, 130, 300 }, { 288, 784, 64 }, { 5, 17, 2000 }, { 130, 9, 513 },
                                         { 4, 1000, 70 }, { 1, 128, 784 }, { 3, 70, 33 }, { 1, 1, 3000 }, { 50, 1, 40 },
                                         { 7, 5, 0 }, { 9, 33, 1 }, { 2, 301, 1000 }, { 600, 70, 300 } };
    nn_ctx *ctxs[8]; const char *cname[8]; int cth[8], nc = 0, k;
    double worst[8];
    int t, tr, c, th; int64_t i;
    char what[128];
    (void)unused;
    for (c = 0; c < 4; c++) for (th = 1; th <= 2; th++) {    /* every kernel set the machine has, 1 and 2 threads */
        if (!cap_available(g_caps[c])) continue;
        ctxs[nc] = nn_ctx_new();
        nn_set_cpu_capability(ctxs[nc], g_caps[c]);
        nn_set_num_threads(ctxs[nc], th);
        cname[nc] = g_caps[c]; cth[nc] = th; worst[nc] = 0; nc++;
    }
    for (t = 0; t < 14; t++) for (tr = 0; tr < 8; tr++) {    /* the references once, every path against them */
        int64_t M = dims[t][0], N = dims[t][1], K = dims[t][2];
        size_t na = (size_t)(M * K > 0 ? M * K : 1), nb = (size_t)(K * N > 0 ? K * N : 1);
        float *A = (float *)malloc(na * sizeof(float)), *B = (float *)malloc(nb * sizeof(float));
        float *C1 = (float *)malloc((size_t)(M * N) * sizeof(float)), *C2 = (float *)malloc((size_t)(M * N) * sizeof(float));
        float *Aa = (float *)malloc(na * sizeof(float)), *Ba = (float *)malloc(nb * sizeof(float));
        float *Cb = (float *)calloc((size_t)(M * N), sizeof(float));
        int64_t ars = tr & 1 ? 1 : K, acs = tr & 1 ? M : 1, brs = tr & 2 ? 1 : N, bcs = tr & 2 ? K : 1;
        for (i = 0; i < M * K; i++) A[i] = (float)((i * 7919) % 201 - 100) / 100.0f;
        for (i = 0; i < K * N; i++) B[i] = (float)((i * 104729) % 199 - 99) / 99.0f;
        for (i = 0; i < M * N; i++) C2[i] = (float)(i % 5);
        nn__gemm_ref(M, N, K, A, ars, acs, B, brs, bcs, C2, N, tr < 4);
        /* both orders of summation are within float's error bound K * eps * sum |a||b| (+ the start value) */
        for (i = 0; i < M * K; i++) Aa[i] = fabsf(A[i]);
        for (i = 0; i < K * N; i++) Ba[i] = fabsf(B[i]);
        nn__gemm_ref(M, N, K, Aa, ars, acs, Ba, brs, bcs, Cb, N, 1);
        for (k = 0; k < nc; k++) {
            double w = 0;
            for (i = 0; i < M * N; i++) C1[i] = (float)(i % 5);
            nn__gemm(ctxs[k], M, N, K, A, ars, acs, B, brs, bcs, C1, N, tr < 4);
            for (i = 0; i < M * N; i++) {
                double bound = 2.0 * (double)K * 5.96e-8 * ((double)Cb[i] + 4.0), e = fabs((double)C1[i] - C2[i]) / bound;
                if (e > w) w = e;
            }
            if (w > 1.0 && worst[k] <= 1.0)
                printf("  GEMM [%s, %d threads] %lldx%lldx%lld transposes %d: %.3g times the float error bound\n", cname[k], cth[k],
                       (long long)M, (long long)N, (long long)K, tr, w);
            if (w > worst[k]) worst[k] = w;
        }
        free(A); free(B); free(C1); free(C2); free(Aa); free(Ba); free(Cb);
    }
    for (k = 0; k < nc; k++) {
        snprintf(what, sizeof what, "GEMM [%s, %d thread%s]: equals the reference kernel for every transpose and odd sizes",
                 cname[k], cth[k], cth[k] > 1 ? "s" : "");
        begin(what);
        CHECK(worst[k] <= 1.0, "a difference %.3g times the float error bound (the first shape is printed above)", worst[k]);
        CHECK(nn_error(ctxs[k]) == NULL, "unexpected error: %s", ERRS(ctxs[k]));
        nn_ctx_free(ctxs[k]);
        end();
    }
}

/* A conv net's training steps give the same bits on 1, 2 and 3 threads: every output
   element is summed by one thread in one order, and the weight gradients of a convolution
   are summed over a fixed number of batch chunks. */
static void train_steps(int threads, float *out, int64_t nout) {
    nn_ctx *ctx = nn_ctx_new();
    nn_conv_opts pad1 = nn_conv_opts_default();
    nn_module *m, *mods[6];
    nn_optim *opt;
    nn_tensor *ps[16];
    int np, p;
    int64_t xs[4] = { 10, 3, 12, 12 }, i, k = 0;
    int step;
    nn_manual_seed(ctx, 7);
    nn_set_num_threads(ctx, threads);
    pad1.padding = 1;
    mods[0] = nn_conv2d_new(ctx, 3, 16, 3, pad1, 1);
    mods[1] = nn_relu_new(ctx);
    mods[2] = nn_max_pool2d_new(ctx, nn_pool_opts_default(2));
    mods[3] = nn_flatten_new(ctx, 1, -1);
    mods[4] = nn_linear_new(ctx, 16 * 6 * 6, 40, 1);
    mods[5] = nn_linear_new(ctx, 40, 5, 1);
    m = nn_sequential_new(ctx, mods, 6);
    np = nn_module_parameters(m, ps, 16);
    opt = nn_adam(ps, np, nn_adam_opts_default());
    for (step = 0; step < 3; step++) {
        nn_tensor *x = nn_randn(ctx, 4, xs), *y;
        int64_t lab[10]; int64_t ls[1] = { 10 };
        nn_tensor *t;
        for (i = 0; i < 10; i++) lab[i] = (i * 3 + step) % 5;
        t = nn_from_i64(ctx, 1, ls, lab);
        nn_optim_zero_grad(opt);
        y = nn_cross_entropy(nn_forward(m, x), t, nn_cross_entropy_opts_default());
        nn_backward(y, NULL, 0);
        nn_optim_step(opt);
        nn_arena_reset(ctx);
        nn_free(x); nn_free(t);
    }
    for (p = 0; p < np; p++) for (i = 0; i < ps[p]->numel && k < nout; i++) out[k++] = nn_f32(ps[p])[i];
    while (k < nout) out[k++] = -1.0f;
    if (nn_error(ctx)) printf("  train_steps: %s\n", nn_error(ctx));
    nn_optim_free(opt);
    nn_module_free(m);
    nn_ctx_free(ctx);
}
static void test_thread_determinism(nn_ctx *unused) {
    enum { NOUT = 30000 };
    float *a = (float *)malloc(NOUT * sizeof(float)), *b = (float *)malloc(NOUT * sizeof(float));
    int th;
    (void)unused;
    begin("threads: three training steps of a conv net give the same bits on 1, 2 and 3 threads");
    train_steps(1, a, NOUT);
    for (th = 2; th <= 3; th++) {
        int64_t i, diff = 0;
        train_steps(th, b, NOUT);
        for (i = 0; i < NOUT; i++) if (memcmp(&a[i], &b[i], sizeof(float)) != 0) diff++;
        CHECK(diff == 0, "%lld of %d parameter values differ between 1 and %d threads", (long long)diff, NOUT, th);
    }
    CHECK(a[0] != -1.0f, "no parameters were read");
    {   /* a batch of 2 on 3 threads: fewer conv chunks than threads */
        nn_ctx *c1 = nn_ctx_new(), *c3 = nn_ctx_new();
        int64_t xs[4] = { 2, 3, 9, 9 }, ws[4] = { 5, 3, 3, 3 };
        nn_tensor *x1, *w1, *x3, *w3, *y1, *y3;
        nn_conv_opts o = nn_conv_opts_default();
        int64_t i, diff = 0;
        nn_set_num_threads(c3, 3);
        nn_manual_seed(c1, 3); nn_manual_seed(c3, 3);
        x1 = nn_set_requires_grad(nn_randn(c1, 4, xs), 1); w1 = nn_set_requires_grad(nn_randn(c1, 4, ws), 1);
        x3 = nn_set_requires_grad(nn_randn(c3, 4, xs), 1); w3 = nn_set_requires_grad(nn_randn(c3, 4, ws), 1);
        y1 = nn_conv2d(x1, w1, NULL, o); y3 = nn_conv2d(x3, w3, NULL, o);
        nn_backward(nn_sum(nn_mul(y1, y1), NN_ALL, 0), NULL, 0);
        nn_backward(nn_sum(nn_mul(y3, y3), NN_ALL, 0), NULL, 0);
        for (i = 0; i < w1->numel; i++) diff += memcmp(&nn_f32(w1->grad)[i], &nn_f32(w3->grad)[i], sizeof(float)) != 0;
        for (i = 0; i < x1->numel; i++) diff += memcmp(&nn_f32(x1->grad)[i], &nn_f32(x3->grad)[i], sizeof(float)) != 0;
        CHECK(diff == 0 && !nn_error(c1) && !nn_error(c3), "conv2d gradients of a batch of 2: %lld values differ between 1 and 3 threads", (long long)diff);
        nn_arena_reset(c1); nn_arena_reset(c3);
        nn_free(x1); nn_free(w1); nn_free(x3); nn_free(w3);
        nn_ctx_free(c1); nn_ctx_free(c3);
    }
    free(a); free(b);
    end();
}

/* The worker pool under a storm of small jobs with different task counts and functions:
   every task of every job runs once, with its own job's function and argument, and nothing
   past a job's task count is touched (a late worker must never claim a task of the wrong job). */
typedef struct { int64_t job; int64_t slot[16]; } pool_probe;
static void pool_mark_a(void *arg, int64_t t, int tid) { pool_probe *p = (pool_probe *)arg; (void)tid; p->slot[t] = p->job; }
static void pool_mark_b(void *arg, int64_t t, int tid) { pool_probe *p = (pool_probe *)arg; (void)tid; p->slot[t] = -p->job; }
static void test_pool_storm(nn_ctx *unused) {
    int th;
    (void)unused;
    begin("threads: 20,000 small jobs in a row each run every task once, with their own function");
    for (th = 2; th <= 3; th++) {
        nn_ctx *ctx = nn_ctx_new();
        pool_probe a, b;
        int64_t j, i, bad = 0;
        nn_set_num_threads(ctx, th);
        for (j = 1; j <= 10000 && !bad; j++) {
            int64_t na = 2 + j % 7, nb = 2 + (j * 5) % 13;
            for (i = 0; i < 16; i++) a.slot[i] = b.slot[i] = 0;
            a.job = j; b.job = j;
            nn__parallel(ctx, na, pool_mark_a, &a);
            nn__parallel(ctx, nb, pool_mark_b, &b);
            for (i = 0; i < 16; i++) {
                if (a.slot[i] != (i < na ? j : 0)) bad++;
                if (b.slot[i] != (i < nb ? -j : 0)) bad++;
            }
        }
        CHECK(bad == 0, "%d threads: job %lld ran a task wrongly", th, (long long)(j - 1));
        nn_ctx_free(ctx);
    }
    end();
}

/* The vector kernels against their plain C twins, bit for bit: MaxPool2d(2) with ties and
   NaNs (values and indices), im2col/col2im rows, the Adam and AMSGrad update. */
static void test_vector_kernels(nn_ctx *unused) {
    int c;
    (void)unused;
    begin("vector kernels: MaxPool2d(2), im2col rows, Adam, SGD give the plain C kernels' bits");
    for (c = 0; c < 4; c++) {
        int cap = c == 0 ? NN__CAP_DEFAULT : c == 1 ? NN__CAP_NEON : c == 2 ? NN__CAP_AVX2 : NN__CAP_AVX512;
        int64_t H = 9, W = 37, OH = 4, OW = 18, i, n = 1000, lo, hi;
        float x[9 * 37], y1[4 * 18], y2[4 * 18], r1[40], r2[40];
        int64_t a1[4 * 18], a2[4 * 18];
        if (!nn__cap_supported(cap)) continue;
        for (i = 0; i < H * W; i++) x[i] = (float)((i * 7 + (i / 37) * 3) % 3);   /* three values: many ties */
        x[5] = NAN; x[W + 8] = NAN; x[2 * W + 2] = NAN; x[2 * W + 3] = NAN;   /* NaNs at several window places */
        nn__maxpool2_c(x, W, OH, OW, y1, a1);
        nn__maxpool2(cap, x, H, W, OH, OW, y2, a2);
        CHECK(memcmp(a1, a2, sizeof a1) == 0, "[%s] MaxPool2d(2) indices differ", nn__cap_names[cap]);
        for (i = 0; i < OH * OW; i++)
            if (!((y1[i] != y1[i] && y2[i] != y2[i]) || memcmp(&y1[i], &y2[i], sizeof(float)) == 0)) {
                CHECK(0, "[%s] MaxPool2d(2) value %lld: %g vs %g", nn__cap_names[cap], (long long)i, y1[i], y2[i]);
                break;
            }
        for (lo = -3; lo <= 40; lo += 7) for (hi = lo; hi <= 44; hi += 9) {
            int64_t a = lo < 0 ? 0 : lo, b = hi > 37 ? 37 : hi;
            for (i = 0; i < 40; i++) r1[i] = r2[i] = (float)i;
            nn__row_shift_c(r1, x + 0, 37, a, b);
            nn__row_shift(cap, r2, x + 0, 37, a, b);
            CHECK(memcmp(r1, r2, sizeof r1) == 0, "[%s] row shift [%lld, %lld)", nn__cap_names[cap], (long long)a, (long long)b);
            nn__row_add_c(r1, x + 40, a, b);
            nn__row_add(cap, r2, x + 40, a, b);
            CHECK(memcmp(r1, r2, sizeof r1) == 0, "[%s] row add [%lld, %lld)", nn__cap_names[cap], (long long)a, (long long)b);
        }
        {
            float *buf = (float *)malloc(10 * (size_t)n * sizeof(float));
            nn__adam_args A1, A2;
            int ams;
            for (ams = 0; ams <= 1; ams++) {
                for (i = 0; i < 10 * n; i++) buf[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
                for (i = 0; i < 2 * n; i++) { buf[2 * n + i] = fabsf(buf[2 * n + i]); buf[7 * n + i] = fabsf(buf[7 * n + i]); }
                memset(&A1, 0, sizeof A1);
                A1.p = buf; A1.m = buf + n; A1.v = buf + 2 * n; A1.vmax = ams ? buf + 3 * n : NULL; A1.g = buf + 4 * n;
                A1.sign = 1.0f; A1.wd = ams ? 0.01f : 0.0f; A1.decay = 1.0f; A1.fb1 = 0.9f; A1.ob1 = 0.1f; A1.fb2 = 0.999f;
                A1.ob2 = 0.001f; A1.bc2s = 0.3f; A1.eps = 1e-8f; A1.step_size = 0.01f; A1.decoupled = 0; A1.cap = cap;
                A2 = A1; A2.p = buf + 5 * n; A2.m = buf + 6 * n; A2.v = buf + 7 * n; A2.vmax = ams ? buf + 8 * n : NULL; A2.g = buf + 9 * n;
                memcpy(buf + 5 * n, buf, 5 * (size_t)n * sizeof(float));
                buf[4 * n + 3] = NAN; buf[9 * n + 3] = NAN;
                nn__adam_c(&A1, 0, n - 3);
                nn__adam_range(&A2, 0, n - 3);
                CHECK(memcmp(buf, buf + 5 * n, 4 * (size_t)n * sizeof(float)) == 0,
                      "[%s] Adam%s state differs from the scalar rule", nn__cap_names[cap], ams ? " (amsgrad)" : "");
            }
            for (ams = 0; ams < 4; ams++) {          /* SGD: plain, momentum (first step and later), nesterov */
                nn__sgd_args S1, S2;
                for (i = 0; i < 10 * n; i++) buf[i] = (float)((i * 104729) % 1000) / 250.0f - 2.0f;
                memset(&S1, 0, sizeof S1);
                S1.p = buf; S1.buf = ams ? buf + n : NULL; S1.g = buf + 2 * n; S1.sign = -1.0f; S1.wd = 0.001f;
                S1.mom = 0.9f; S1.odamp = 0.8f; S1.lr = 0.05f; S1.first = ams == 1; S1.nesterov = ams == 3; S1.cap = cap;
                S2 = S1; S2.p = buf + 5 * n; S2.buf = ams ? buf + 6 * n : NULL; S2.g = buf + 7 * n;
                memcpy(buf + 5 * n, buf, 5 * (size_t)n * sizeof(float));
                nn__sgd_c(&S1, 1, n);
                nn__sgd_range(&S2, 1, n);
                CHECK(memcmp(buf, buf + 5 * n, 2 * (size_t)n * sizeof(float)) == 0, "[%s] SGD case %d differs from the scalar rule",
                      nn__cap_names[cap], ams);
            }
            free(buf);
        }
    }
    end();
}

/* nn_linear (F.linear) against matmul with the transposed weight plus the bias: values and
   every gradient, 2-D and 3-D inputs, with and without bias; and its shape errors */
static void test_linear_op(nn_ctx *ctx) {
    int64_t xs3[3] = { 2, 5, 7 }, ws[2] = { 6, 7 }, bs[1] = { 6 }, bad[2] = { 6, 8 };
    int withb, nd;
    begin("nn_linear: equals x @ w^T + b, values and gradients; shape errors");
    for (nd = 2; nd <= 3; nd++) for (withb = 0; withb <= 1; withb++) {
        nn_tensor *x = nn_set_requires_grad(nn_randn(ctx, nd, nd == 3 ? xs3 : xs3 + 1), 1);
        nn_tensor *w = nn_set_requires_grad(nn_randn(ctx, 2, ws), 1), *b = nn_set_requires_grad(nn_randn(ctx, 1, bs), 1);
        nn_tensor *y1 = nn_linear(x, w, withb ? b : NULL), *y2, *g1[3], *g2[3];
        int64_t i; int k; double worst = 0;
        nn_backward(nn_sum(nn_mul(y1, y1), NN_ALL, 0), NULL, 0);
        for (k = 0; k < 3; k++) { nn_tensor *t = k == 0 ? x : k == 1 ? w : b; g1[k] = t->grad ? nn_keep(t->grad) : NULL; nn_zero_grad(t); }
        y2 = nn_matmul(x, nn_transpose(w, 0, 1));
        if (withb) y2 = nn_add(y2, b);
        nn_backward(nn_sum(nn_mul(y2, y2), NN_ALL, 0), NULL, 0);
        for (k = 0; k < 3; k++) { nn_tensor *t = k == 0 ? x : k == 1 ? w : b; g2[k] = t->grad ? nn_keep(t->grad) : NULL; }
        CHECK(y1 && y2 && y1->ndim == nd && y1->shape[nd - 1] == 6 && y1->numel == y2->numel, "shapes differ");
        for (i = 0; y1 && y2 && i < y1->numel; i++) worst = fmax(worst, fabs(nn_f32(y1)[i] - nn_f32(y2)[i]));
        for (k = 0; k < 3; k++) {
            if (k == 2 && !withb) { CHECK(g1[2] == NULL || nn_f32(g1[2])[0] == 0.0f, "bias got a gradient without being used"); continue; }
            CHECK(g1[k] && g2[k], "gradient %d missing", k);
            for (i = 0; g1[k] && g2[k] && i < g1[k]->numel; i++) worst = fmax(worst, fabs(nn_f32(g1[k])[i] - nn_f32(g2[k])[i]));
        }
        CHECK(worst < 1e-4, "nn_linear differs from matmul + add by %.3g (%d-D, bias %d)", worst, nd, withb);
        for (k = 0; k < 3; k++) nn_free(g1[k]), nn_free(g2[k]);
        nn_arena_reset(ctx);
        nn_free(x); nn_free(w); nn_free(b);
    }
    {
        nn_tensor *x = nn_randn(ctx, 2, xs3 + 1), *w = nn_randn(ctx, 2, bad), *b = nn_randn(ctx, 1, bs + 0);
        nn_set_logger(ctx, NULL, NULL);
        CHECK(nn_linear(x, w, NULL) == NULL && nn_error(ctx) && strstr(nn_error(ctx), "nn_linear"), "in 8 vs 7 must be an error: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(nn_linear(x, b, NULL) == NULL && nn_error(ctx), "a 1-D weight must be an error");
        nn_clear_error(ctx);
        CHECK(nn_linear(NULL, w, NULL) == NULL, "a NULL input gives NULL");
        nn_clear_error(ctx);
        nn_free(x); nn_free(w); nn_free(b);
    }
    end();
}

/* nn.h's text (read from the repository root), or NULL after a failed check; free it */
static char *read_nn_h(void) {
    FILE *f = fopen("nn.h", "rb");
    char *src = NULL; long n = 0;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) src = (char *)malloc((size_t)n + 1);
    if (src && fread(src, 1, (size_t)n, f) != (size_t)n) { free(src); src = NULL; }
    if (f) fclose(f);
    CHECK(src != NULL, "cannot read nn.h from the repository root");
    if (src) src[n] = 0;
    return src;
}

/* ---- the registry's rule: front ends never read or write tensor data ---- */
/* Reads nn.h's ops and losses sections and checks every function that is not a kernel
   (nn__<family>_forward/_backward or a helper only kernels call) for data access. */
static void test_frontends_touch_no_data(nn_ctx *ctx) {
    static const char *kernel_helpers[] = { "nn__gather_positions", "nn__norm_stats", "nn__nll_check", "nn__index_ok",
                                            "nn__pool_planes", "nn__im2col", "nn__col2im",
                                            "nn__binary_dval", "nn__pool_window", "nn__sigmoidf", "nn__gbuf", "nn__masked_fill_at" };
    static const char *sections[2][2] = { { "/* ==== ops ==== */", "/* ==== autograd ==== */" },
                                          { "/* ==== losses ==== */", "/* ==== optimizers ==== */" } };
    char *src; int sct, fronts = 0, bad = 0;
    (void)ctx;
    begin("registry: no op front end reads or writes tensor data (kernels only)");
    if (!(src = read_nn_h())) { end(); return; }
    CHECK(NN_OP_COUNT >= 60, "the registry lists %d ops", NN_OP_COUNT);
    for (sct = 0; sct < 2; sct++) {
        char *impl = strstr(src, "#ifdef NN_IMPLEMENTATION");
        char *p = impl ? strstr(impl, sections[sct][0]) : NULL, *stop = p ? strstr(p, sections[sct][1]) : NULL;
        CHECK(p && stop, "section %s not found", sections[sct][0]);
        while (p && stop && (p = strstr(p, "\n")) && p < stop) {
            char name[96], *open, *close, *body; size_t k; int helper = 0; size_t len;
            p++;
            if (strncmp(p, "static ", 7) && strncmp(p, "NN_API ", 7)) continue;
            open = strchr(p, '(');
            if (!open || open > stop || strchr(p, '\n') < open) continue;
            body = strchr(p, '{');
            if (!body || strchr(p, ';') < body) continue;           /* a declaration */
            {   /* a one-line function ends on its own line */
                char *eol = strchr(p, '\n');
                if (eol && body < eol && eol[-1] == '}') close = eol - 2;
                else close = strstr(body, "\n}");
            }
            if (!close || close > stop) break;
            { char *b = open; while (b > p && (b[-1] == '_' || isalnum((unsigned char)b[-1]))) b--;
              len = (size_t)(open - b); if (len >= sizeof name) len = sizeof name - 1; memcpy(name, b, len); name[len] = 0; }
            for (k = 0; k < sizeof kernel_helpers / sizeof kernel_helpers[0]; k++) if (!strcmp(name, kernel_helpers[k])) helper = 1;
            len = strlen(name);
            if (!helper && !(len > 8 && !strcmp(name + len - 8, "_forward")) && !(len > 9 && !strcmp(name + len - 9, "_backward"))
                && strcmp(name, "nn_one_hot")) {   /* one_hot(-1) reads the classes for its shape, as PyTorch does */
                char save = close[1]; close[1] = 0;
                fronts++;
                if (strstr(body, "NN__F32(") || strstr(body, "NN__I64(") || strstr(body, "nn_f32(") || strstr(body, "nn_i64(")) {
                    CHECK(0, "front end %s touches tensor data", name);
                    bad++;
                }
                close[1] = save;
            }
            p = close;
        }
    }
    CHECK(fronts > 60, "only %d front ends found: the parser lost its way", fronts);
    if (!bad) printf("  registry: %d ops; %d front-end functions read, none touches tensor data\n", NN_OP_COUNT, fronts);
    free(src);
    end();
}

/* ---- the doc block's section list names the real banners ---- */
static void test_doc_sections(nn_ctx *ctx) {
    static const char *decl_only[] = { "config", "public types", "context", "tensors" };
    char *src, *list, *stop, *impl; int found = 0;
    (void)ctx;
    begin("docs: the doc block's SECTIONS list matches the banners, declarations and implementation");
    if (!(src = read_nn_h())) { end(); return; }
    list = strstr(src, "the implementation in the same order:");
    stop = list ? strstr(list, "(the implementation adds") : NULL;
    impl = strstr(src, "#ifdef NN_IMPLEMENTATION");
    CHECK(list && stop && impl, "SECTIONS list or implementation not found");
    if (list && stop && impl) {
        char *p = strchr(list, ':') + 1;
        while (p < stop) {
            char name[64], banner[96]; size_t k = 0, d; int decl_only_ = 0; char *at;
            while (p < stop && (*p == ' ' || *p == '\n' || *p == ',')) p++;
            while (p < stop && *p != ',' && *p != '\n' && k + 1 < sizeof name) name[k++] = *p++;
            while (k > 0 && name[k - 1] == ' ') k--;
            name[k] = 0;
            if (!k) continue;
            found++;
            snprintf(banner, sizeof banner, "/* ==== %s ==== */", name);
            at = strstr(src, banner);
            CHECK(at && at < impl, "no banner \"%s\" in the declarations", banner);
            for (d = 0; d < sizeof decl_only / sizeof decl_only[0]; d++) if (!strcmp(name, decl_only[d])) decl_only_ = 1;
            if (!decl_only_) CHECK(strstr(impl, banner) != NULL, "no banner \"%s\" in the implementation", banner);
        }
        CHECK(strstr(impl, "/* ==== memory ==== */") != NULL, "no memory banner in the implementation");
    }
    CHECK(found == 14, "%d sections listed, expected 14", found);
    free(src);
    end();
}

/* torch.multinomial: frequencies follow the weights (unnormalised), without replacement every
   index comes once, a seed repeats the draws, and wrong input is an error naming it */
static void test_multinomial(nn_ctx *ctx) {
    const float wv[4] = { 1.0f, 0.0f, 3.0f, 6.0f };       /* probabilities 0.1, 0, 0.3, 0.6 */
    const int64_t s1[1] = { 4 }, s2[2] = { 2, 4 };
    float w2v[8] = { 0, 0, 5, 0, 1, 1, 1, 1 };
    nn_tensor *w = nn_from_array(ctx, 1, s1, wv), *w2 = nn_from_array(ctx, 2, s2, w2v), *a, *b;
    int64_t counts[4] = { 0, 0, 0, 0 }, i, n = 20000;
    begin("ops/multinomial: frequencies, no replacement, seeds, errors");
    nn_manual_seed(ctx, 7);
    a = nn_multinomial(w, n, 1);
    CHECK(a && a->dtype == NN_INT64 && a->ndim == 1 && a->shape[0] == n, "shape (20000,) int64: %s", ERRS(ctx));
    if (a) for (i = 0; i < n; i++) if (nn_i64(a)[i] >= 0 && nn_i64(a)[i] < 4) counts[nn_i64(a)[i]]++;
    /* 5 standard deviations of a binomial: sqrt(20000 * 0.3 * 0.7) = 65 */
    CHECK(counts[1] == 0, "a zero weight was drawn %lld times", (long long)counts[1]);
    CHECK(llabs(counts[0] - 2000) < 5 * 43 && llabs(counts[2] - 6000) < 5 * 65 && llabs(counts[3] - 12000) < 5 * 70,
          "counts %lld %lld %lld for expected 2000 6000 12000", (long long)counts[0], (long long)counts[2], (long long)counts[3]);
    nn_manual_seed(ctx, 7);
    b = nn_multinomial(w, n, 1);
    CHECK(a && b && memcmp(nn_i64(a), nn_i64(b), (size_t)n * sizeof(int64_t)) == 0, "the same seed gave other draws");
    b = nn_multinomial(w, 3, 0);
    CHECK(b && b->shape[0] == 3, "3 without replacement: %s", ERRS(ctx));
    if (b) {
        int64_t x = nn_i64(b)[0], y = nn_i64(b)[1], z = nn_i64(b)[2];
        CHECK(x != y && y != z && x != z && x != 1 && y != 1 && z != 1, "without replacement: %lld %lld %lld", (long long)x, (long long)y, (long long)z);
    }
    b = nn_multinomial(w2, 1, 0);
    CHECK(b && b->ndim == 2 && b->shape[0] == 2 && b->shape[1] == 1 && nn_i64(b)[0] == 2, "2-D rows: %s", ERRS(ctx));
    nn_set_logger(ctx, NULL, NULL);
    CHECK(!nn_multinomial(w, 4, 0) && nn_error(ctx) && strstr(nn_error(ctx), "nn_multinomial"), "4 draws from 3 weights > 0 without replacement: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_multinomial(w, 5, 0) && strstr(ERRS(ctx), "categories"), "5 from 4 categories: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_multinomial(w, 0, 1) && strstr(ERRS(ctx), "num_samples"), "num_samples 0: %s", ERRS(ctx));
    nn_clear_error(ctx);
    w2v[0] = -1.0f;
    { nn_tensor *bad = nn_from_array(ctx, 2, s2, w2v);
      CHECK(!nn_multinomial(bad, 1, 1) && strstr(ERRS(ctx), "probs[0] is -1"), "a negative weight: %s", ERRS(ctx));
      nn_clear_error(ctx); nn_free(bad); }
    w2v[0] = 0.0f; w2v[2] = 0.0f;
    { nn_tensor *zero = nn_from_array(ctx, 2, s2, w2v);
      CHECK(!nn_multinomial(zero, 1, 1) && strstr(ERRS(ctx), "row 0 of probs sums to 0"), "a zero row: %s", ERRS(ctx));
      nn_clear_error(ctx); nn_free(zero); }
    nn_set_logger(ctx, capture_log, NULL);
    nn_free(w); nn_free(w2);
    nn_arena_reset(ctx);
    end();
}
