/* ==== modules and layers ==== */

enum { NN__M_CUSTOM, NN__M_SEQUENTIAL, NN__M_LINEAR, NN__M_CONV2D, NN__M_CONVT2D, NN__M_MAXPOOL, NN__M_AVGPOOL,
       NN__M_ADAPTIVE, NN__M_DROPOUT, NN__M_BATCHNORM, NN__M_LAYERNORM, NN__M_FLATTEN, NN__M_EMBEDDING,
       NN__M_RELU, NN__M_LEAKY_RELU, NN__M_SIGMOID, NN__M_TANH, NN__M_GELU, NN__M_SILU, NN__M_SOFTMAX, NN__M_LOG_SOFTMAX };
/* cfg[9] holds the kind above; the rest of cfg and fcfg are the layer's options */

static nn_tensor *nn__module_forward(nn_module *m, nn_tensor *x);

static nn_module *nn__module_alloc(nn_ctx *ctx, const char *type, int kind) {
    nn_module *m;
    if (!ctx) return NULL;
    m = NN__CAST(nn_module *, NN_MALLOC(sizeof(nn_module)));
    if (!m) { nn__err(ctx, "nn_module_new: out of memory"); return NULL; }
    memset(m, 0, sizeof *m);
    m->type = type; m->ctx = ctx; m->training = 1; m->cfg[9] = kind; m->dirty = 1;
    m->forward = nn__module_forward;
    return m;
}

NN_API nn_module *nn_module_new(nn_ctx *ctx, const char *type, nn_forward_fn forward, void *user) {
    nn_module *m = nn__module_alloc(ctx, type ? type : "Module", NN__M_CUSTOM);
    if (m) { m->forward = forward; m->user = user; }
    return m;
}

NN_API nn_module *nn_module_add(nn_module *parent, const char *name, nn_module *child) {
    int k;
    if (!parent) { nn_module_free(child); return NULL; }
    if (!child) { nn__err(parent->ctx, "nn_module_add: child \"%s\" is NULL", name ? name : "?"); return NULL; }
    if (!name || !name[0] || strlen(name) >= sizeof parent->child_name[0] || strchr(name, '.')) {
        nn__err(parent->ctx, "nn_module_add: child name \"%s\" must be 1 to 47 characters with no '.'", name ? name : "(NULL)");
        nn_module_free(child);
        return NULL;
    }
    for (k = 0; k < parent->nchild; k++) if (!strcmp(parent->child_name[k], name)) {
        nn__err(parent->ctx, "nn_module_add: %s already has a child named \"%s\"", parent->type, name);
        nn_module_free(child);
        return NULL;
    }
    if (parent->nchild == parent->child_cap) {
        int cap = parent->child_cap ? 2 * parent->child_cap : 8;
        nn_module **c = NN__CAST(nn_module **, NN_REALLOC(parent->child, (size_t)cap * sizeof(nn_module *)));
        char (*nm)[48];
        if (c) parent->child = c;
        nm = NN__CAST(char (*)[48], NN_REALLOC(parent->child_name, (size_t)cap * sizeof(parent->child_name[0])));
        if (nm) parent->child_name = nm;
        if (!c || !nm) { nn__err(parent->ctx, "nn_module_add: out of memory"); nn_module_free(child); return NULL; }
        parent->child_cap = cap;
    }
    parent->child[parent->nchild] = child;
    strcpy(parent->child_name[parent->nchild++], name);
    parent->dirty = 1;
    return child;
}

NN_API nn_module *nn_module_child(nn_module *m, const char *name) {
    int k;
    if (!m || !name) return NULL;
    for (k = 0; k < m->nchild; k++) if (!strcmp(m->child_name[k], name)) return m->child[k];
    return NULL;
}

NN_API nn_module *nn_sequential_new(nn_ctx *ctx, nn_module **mods, int n) {
    nn_module *m = nn__module_alloc(ctx, "Sequential", NN__M_SEQUENTIAL);
    int k; char nm[16];
    for (k = 0; k < n; k++) {
        if (!m) { nn_module_free(mods[k]); continue; }
        snprintf(nm, sizeof nm, "%d", k);
        if (!nn_module_add(m, nm, mods[k])) { nn_module_free(m); m = NULL; }
    }
    return m;
}

NN_API void nn_module_free(nn_module *m) {
    int k;
    if (!m) return;
    for (k = 0; k < m->nchild; k++) nn_module_free(m->child[k]);
    NN_FREE(m->child); NN_FREE(m->child_name);
    NN_FREE(m->state); NN_FREE(m->state_name);
    nn_free(m->weight); nn_free(m->bias);
    nn_free(m->running_mean); nn_free(m->running_var); nn_free(m->num_batches_tracked);
    NN_FREE(m);
}

NN_API void nn_module_train(nn_module *m, int mode) {
    int k;
    if (!m) return;
    m->training = mode != 0;
    for (k = 0; k < m->nchild; k++) nn_module_train(m->child[k], mode);
}
NN_API void nn_module_eval(nn_module *m) { nn_module_train(m, 0); }

static int nn__tree_dirty(const nn_module *m) {
    int k;
    if (m->dirty) return 1;
    for (k = 0; k < m->nchild; k++) if (nn__tree_dirty(m->child[k])) return 1;
    return 0;
}

/* Walks the tree in state_dict order: own parameters, own buffers, then children. */
static int nn__collect(nn_module *m, const char *prefix, nn_state_entry *out, char (*names)[160], int at) {
    nn_tensor *own[5]; int k, j;
    own[0] = m->weight; own[1] = m->bias; own[2] = m->running_mean; own[3] = m->running_var; own[4] = m->num_batches_tracked;
    static const char *own_names[5] = { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" };
    snprintf(m->path, sizeof m->path, "%s", prefix);
    for (j = 0; j < 5; j++) if (own[j]) {
        if (out) {
            snprintf(names[at], sizeof names[0], "%s%s%s", prefix, prefix[0] ? "." : "", own_names[j]);
            out[at].name = names[at]; out[at].tensor = own[j]; out[at].is_buffer = j >= 2;
        }
        at++;
    }
    for (k = 0; k < m->nchild; k++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s%s", prefix, prefix[0] ? "." : "", m->child_name[k]);
        at = nn__collect(m->child[k], p, out, names, at);
    }
    return at;
}
static void nn__clear_dirty(nn_module *m) { int k; m->dirty = 0; for (k = 0; k < m->nchild; k++) nn__clear_dirty(m->child[k]); }

NN_API int nn_module_state(nn_module *m, const nn_state_entry **entries) {
    int n;
    if (entries) *entries = NULL;
    if (!m) return 0;
    if (nn__tree_dirty(m) || !m->state) {
        n = nn__collect(m, "", NULL, NULL, 0);
        NN_FREE(m->state); NN_FREE(m->state_name);
        m->state = NN__CAST(nn_state_entry *, NN_MALLOC((size_t)(n ? n : 1) * sizeof(nn_state_entry)));
        m->state_name = NN__CAST(char (*)[160], NN_MALLOC((size_t)(n ? n : 1) * sizeof(m->state_name[0])));
        if (!m->state || !m->state_name) { nn__err(m->ctx, "nn_module_state: out of memory"); NN_FREE(m->state); NN_FREE(m->state_name); m->state = NULL; m->state_name = NULL; return 0; }
        m->nstate = nn__collect(m, "", m->state, m->state_name, 0);
        nn__clear_dirty(m);
    }
    if (entries) *entries = m->state;
    return m->nstate;
}

NN_API int nn_module_parameters(nn_module *m, nn_tensor **out, int max) {
    const nn_state_entry *e; int n = nn_module_state(m, &e), k, c = 0;
    for (k = 0; k < n; k++) if (!e[k].is_buffer) { if (out && c < max) out[c] = e[k].tensor; c++; }
    return c;
}

NN_API int64_t nn_module_num_parameters(nn_module *m) {
    const nn_state_entry *e; int n = nn_module_state(m, &e), k; int64_t c = 0;
    for (k = 0; k < n; k++) if (!e[k].is_buffer) c += e[k].tensor->numel;
    return c;
}

NN_API nn_tensor *nn_forward(nn_module *m, nn_tensor *x) {
    nn_tensor *y;
    if (!m) return NULL;
    if (!m->forward) { nn__err(m->ctx, "nn_forward: module %s has no forward function", m->type); return NULL; }
    y = m->forward(m, x);
#ifndef NN_NO_STDIO
    if (m->ctx->summary && m->nchild == 0 && y) {   /* nn_module_summary's line for this layer */
        char s[128]; int64_t np = (m->weight ? m->weight->numel : 0) + (m->bias ? m->bias->numel : 0);
        char label[200];
        snprintf(label, sizeof label, "%s (%s)", m->path[0] ? m->path : "-", m->type);
        printf("%-32s %-24s %12lld\n", label, NN__SHAPE(y, s), (long long)np);
    }
#endif
    return y;
}

#ifndef NN_NO_STDIO
NN_API void nn_module_summary(nn_module *m, nn_tensor *example_input) {
    int old; nn_tensor *y; char s[128]; int64_t total;
    if (!m) return;
    nn_module_state(m, NULL);   /* refreshes every layer's path */
    total = nn_module_num_parameters(m);
    printf("%-32s %-24s %12s\n", "Layer (type)", "Output Shape", "Param #");
    old = nn_set_grad_enabled(m->ctx, 0);
    m->ctx->summary = 1;
    y = nn_forward(m, example_input);
    m->ctx->summary = 0;
    nn_set_grad_enabled(m->ctx, old);
    printf("%s: output %s\nTotal params: %lld\n", m->type, NN__SHAPE(y, s), (long long)total);
}
#endif

/* ---- initialisers ---- */

static void nn__fans(const nn_tensor *t, double *fan_in, double *fan_out) {
    double rf = 1; int d;
    for (d = 2; d < t->ndim; d++) rf *= (double)t->shape[d];
    *fan_in = (t->ndim > 1 ? (double)t->shape[1] : (double)t->numel) * rf;
    *fan_out = (t->ndim > 0 ? (double)t->shape[0] : 1.0) * rf;
}
NN_API void nn_init_uniform_(nn_tensor *t, float a, float b) {
    int64_t i;
    if (!t) return;
    for (i = 0; i < t->numel; i++) NN__F32(t)[i] = a + (b - a) * nn__rng_uniform(&t->ctx->rng);
}
NN_API void nn_init_normal_(nn_tensor *t, float mean, float std) {
    int64_t i;
    if (!t) return;
    for (i = 0; i < t->numel; i++) NN__F32(t)[i] = mean + std * nn__rng_normal(&t->ctx->rng);
}
NN_API void nn_init_constant_(nn_tensor *t, float value) { nn_fill_(t, value); }
NN_API void nn_init_zeros_(nn_tensor *t) { nn_fill_(t, 0.0f); }
NN_API void nn_init_xavier_uniform_(nn_tensor *t, float gain) {
    double fi, fo, a;
    if (!t) return;
    nn__fans(t, &fi, &fo);
    a = (gain ? gain : 1.0) * sqrt(6.0 / (fi + fo));
    nn_init_uniform_(t, (float)-a, (float)a);
}
NN_API void nn_init_xavier_normal_(nn_tensor *t, float gain) {
    double fi, fo;
    if (!t) return;
    nn__fans(t, &fi, &fo);
    nn_init_normal_(t, 0.0f, (float)((gain ? gain : 1.0) * sqrt(2.0 / (fi + fo))));
}
NN_API void nn_init_kaiming_uniform_(nn_tensor *t, float a, int fan_out) {
    double fi, fo, bound;
    if (!t) return;
    nn__fans(t, &fi, &fo);
    bound = sqrt(2.0 / (1.0 + (double)a * a)) * sqrt(3.0 / (fan_out ? fo : fi));
    nn_init_uniform_(t, (float)-bound, (float)bound);
}
NN_API void nn_init_kaiming_normal_(nn_tensor *t, float a, int fan_out) {
    double fi, fo;
    if (!t) return;
    nn__fans(t, &fi, &fo);
    nn_init_normal_(t, 0.0f, (float)(sqrt(2.0 / (1.0 + (double)a * a)) / sqrt(fan_out ? fo : fi)));
}

/* A parameter: persistent, requires grad. */
static nn_tensor *nn__param(nn_ctx *ctx, int ndim, const int64_t *shape) { return nn_set_requires_grad(nn_empty(ctx, ndim, shape), 1); }

/* PyTorch's reset_parameters for Linear and Conv: kaiming_uniform(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
static int nn__default_init(nn_module *m) {
    double fi, fo, bound;
    if (!m->weight || (m->cfg[8] && !m->bias)) { nn_module_free(m); return 0; }
    nn_init_kaiming_uniform_(m->weight, sqrtf(5.0f), 0);
    nn__fans(m->weight, &fi, &fo);
    bound = fi > 0 ? 1.0 / sqrt(fi) : 0;
    if (m->bias) nn_init_uniform_(m->bias, (float)-bound, (float)bound);
    return 1;
}

NN_API nn_module *nn_linear_new(nn_ctx *ctx, int64_t in_f, int64_t out_f, int bias) {
    nn_module *m; int64_t ws[2];
    if (ctx && (in_f <= 0 || out_f <= 0)) { nn__err(ctx, "nn_linear_new: in_features %lld and out_features %lld must be positive", (long long)in_f, (long long)out_f); return NULL; }
    m = nn__module_alloc(ctx, "Linear", NN__M_LINEAR);
    if (!m) return NULL;
    ws[0] = out_f; ws[1] = in_f;
    m->weight = nn__param(ctx, 2, ws);
    if (bias) m->bias = nn__param(ctx, 1, &out_f);
    m->cfg[8] = bias != 0;
    return nn__default_init(m) ? m : NULL;
}

static nn_module *nn__conv_new(nn_ctx *ctx, const char *fn, int kind, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o, int bias) {
    nn_module *m; int64_t ws[4], g = o.groups ? o.groups : 1;
    if (!ctx) return NULL;
    if (in_c <= 0 || out_c <= 0 || k <= 0 || g <= 0 || in_c % g || out_c % g) {
        nn__err(ctx, "%s: in_channels %lld, out_channels %lld, kernel_size %lld, groups %lld; all positive and channels divisible by groups",
                fn, (long long)in_c, (long long)out_c, (long long)k, (long long)g);
        return NULL;
    }
    m = nn__module_alloc(ctx, kind == NN__M_CONV2D ? "Conv2d" : "ConvTranspose2d", kind);
    if (!m) return NULL;
    ws[0] = kind == NN__M_CONV2D ? out_c : in_c; ws[1] = kind == NN__M_CONV2D ? in_c / g : out_c / g; ws[2] = ws[3] = k;
    m->weight = nn__param(ctx, 4, ws);
    if (bias) m->bias = nn__param(ctx, 1, &out_c);
    m->cfg[0] = o.stride; m->cfg[1] = o.padding; m->cfg[2] = o.dilation; m->cfg[3] = o.groups; m->cfg[4] = o.output_padding;
    m->cfg[8] = bias != 0;
    return nn__default_init(m) ? m : NULL;
}
NN_API nn_module *nn_conv2d_new(nn_ctx *ctx, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o, int bias) {
    return nn__conv_new(ctx, "nn_conv2d_new", NN__M_CONV2D, in_c, out_c, k, o, bias);
}
NN_API nn_module *nn_conv_transpose2d_new(nn_ctx *ctx, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o, int bias) {
    return nn__conv_new(ctx, "nn_conv_transpose2d_new", NN__M_CONVT2D, in_c, out_c, k, o, bias);
}

static nn_module *nn__pool_new(nn_ctx *ctx, const char *type, int kind, nn_pool_opts o) {
    nn_module *m = nn__module_alloc(ctx, type, kind);
    if (!m) return NULL;
    m->cfg[0] = o.kernel_size; m->cfg[1] = o.stride; m->cfg[2] = o.padding; m->cfg[3] = o.dilation;
    m->cfg[4] = o.ceil_mode; m->cfg[5] = o.count_exclude_pad;
    return m;
}
NN_API nn_module *nn_max_pool2d_new(nn_ctx *ctx, nn_pool_opts o) { return nn__pool_new(ctx, "MaxPool2d", NN__M_MAXPOOL, o); }
NN_API nn_module *nn_avg_pool2d_new(nn_ctx *ctx, nn_pool_opts o) { return nn__pool_new(ctx, "AvgPool2d", NN__M_AVGPOOL, o); }
NN_API nn_module *nn_adaptive_avg_pool2d_new(nn_ctx *ctx, int64_t oh, int64_t ow) {
    nn_module *m = nn__module_alloc(ctx, "AdaptiveAvgPool2d", NN__M_ADAPTIVE);
    if (m) { m->cfg[0] = oh; m->cfg[1] = ow; }
    return m;
}
NN_API nn_module *nn_dropout_new(nn_ctx *ctx, float p) {
    nn_module *m;
    if (ctx && !(p >= 0.0f && p <= 1.0f)) { nn__err(ctx, "nn_dropout_new: p is %g; it must be between 0 and 1", p); return NULL; }
    m = nn__module_alloc(ctx, "Dropout", NN__M_DROPOUT);
    if (m) m->fcfg[0] = p;
    return m;
}
static nn_module *nn__bn_new(nn_ctx *ctx, const char *type, int64_t c, float momentum, float eps, int affine, int dims) {
    nn_module *m; int64_t one = 1;
    if (ctx && c <= 0) { nn__err(ctx, "nn_%s_new: num_features %lld must be positive", dims == 1 ? "batch_norm1d" : "batch_norm2d", (long long)c); return NULL; }
    m = nn__module_alloc(ctx, type, NN__M_BATCHNORM);
    if (!m) return NULL;
    m->fcfg[0] = momentum ? momentum : 0.1f; m->fcfg[1] = eps ? eps : 1e-5f; m->cfg[0] = dims;
    if (affine) { m->weight = nn_set_requires_grad(nn_ones(ctx, 1, &c), 1); m->bias = nn_set_requires_grad(nn_zeros(ctx, 1, &c), 1); }
    m->running_mean = nn_zeros(ctx, 1, &c);
    m->running_var = nn_ones(ctx, 1, &c);
    m->num_batches_tracked = nn_zeros(ctx, 0, &one);
    if (!m->running_mean || !m->running_var || !m->num_batches_tracked || (affine && (!m->weight || !m->bias))) { nn_module_free(m); return NULL; }
    return m;
}
NN_API nn_module *nn_batch_norm1d_new(nn_ctx *ctx, int64_t c, float momentum, float eps, int affine) { return nn__bn_new(ctx, "BatchNorm1d", c, momentum, eps, affine, 1); }
NN_API nn_module *nn_batch_norm2d_new(nn_ctx *ctx, int64_t c, float momentum, float eps, int affine) { return nn__bn_new(ctx, "BatchNorm2d", c, momentum, eps, affine, 2); }
NN_API nn_module *nn_layer_norm_new(nn_ctx *ctx, int nd, const int64_t *shape, float eps, int affine) {
    nn_module *m;
    if (!ctx) return NULL;
    if (nd < 1 || nd > NN_MAX_DIMS || !shape) { nn__err(ctx, "nn_layer_norm_new: normalized_shape must have 1 to %d dims", NN_MAX_DIMS); return NULL; }
    m = nn__module_alloc(ctx, "LayerNorm", NN__M_LAYERNORM);
    if (!m) return NULL;
    m->cfg[0] = nd; m->fcfg[0] = eps ? eps : 1e-5f;
    if (affine) {
        m->weight = nn_set_requires_grad(nn_ones(ctx, nd, shape), 1);
        m->bias = nn_set_requires_grad(nn_zeros(ctx, nd, shape), 1);
        if (!m->weight || !m->bias) { nn_module_free(m); return NULL; }
    }
    return m;
}
NN_API nn_module *nn_flatten_new(nn_ctx *ctx, int start_dim, int end_dim) {
    nn_module *m = nn__module_alloc(ctx, "Flatten", NN__M_FLATTEN);
    if (m) { m->cfg[0] = start_dim; m->cfg[1] = end_dim; }
    return m;
}
NN_API nn_module *nn_embedding_new(nn_ctx *ctx, int64_t num, int64_t dim) {
    nn_module *m; int64_t ws[2];
    if (ctx && (num <= 0 || dim <= 0)) { nn__err(ctx, "nn_embedding_new: num_embeddings %lld and embedding_dim %lld must be positive", (long long)num, (long long)dim); return NULL; }
    m = nn__module_alloc(ctx, "Embedding", NN__M_EMBEDDING);
    if (!m) return NULL;
    ws[0] = num; ws[1] = dim;
    m->weight = nn__param(ctx, 2, ws);
    if (!m->weight) { nn_module_free(m); return NULL; }
    nn_init_normal_(m->weight, 0.0f, 1.0f);
    return m;
}
NN_API nn_module *nn_relu_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "ReLU", NN__M_RELU); }
NN_API nn_module *nn_leaky_relu_new(nn_ctx *ctx, float slope) { nn_module *m = nn__module_alloc(ctx, "LeakyReLU", NN__M_LEAKY_RELU); if (m) m->fcfg[0] = slope; return m; }
NN_API nn_module *nn_sigmoid_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "Sigmoid", NN__M_SIGMOID); }
NN_API nn_module *nn_tanh_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "Tanh", NN__M_TANH); }
NN_API nn_module *nn_gelu_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "GELU", NN__M_GELU); }
NN_API nn_module *nn_silu_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "SiLU", NN__M_SILU); }
NN_API nn_module *nn_softmax_new(nn_ctx *ctx, int dim) { nn_module *m = nn__module_alloc(ctx, "Softmax", NN__M_SOFTMAX); if (m) m->cfg[0] = dim; return m; }
NN_API nn_module *nn_log_softmax_new(nn_ctx *ctx, int dim) { nn_module *m = nn__module_alloc(ctx, "LogSoftmax", NN__M_LOG_SOFTMAX); if (m) m->cfg[0] = dim; return m; }

/* The forward of every built-in layer. */
static nn_tensor *nn__module_forward(nn_module *m, nn_tensor *x) {
    nn_conv_opts co; nn_pool_opts po; int k;
    switch ((int)m->cfg[9]) {
    case NN__M_SEQUENTIAL:
        for (k = 0; k < m->nchild && x; k++) x = nn_forward(m->child[k], x);
        return x;
    case NN__M_LINEAR: {   /* y = x @ W^T + b; W^T is read in place through its strides */
        nn_tensor *y = nn_matmul(x, nn_transpose(m->weight, 0, 1));
        return m->bias ? nn_add(y, m->bias) : y;
    }
    case NN__M_CONV2D: case NN__M_CONVT2D:
        co.stride = m->cfg[0]; co.padding = m->cfg[1]; co.dilation = m->cfg[2]; co.groups = m->cfg[3]; co.output_padding = m->cfg[4];
        return m->cfg[9] == NN__M_CONV2D ? nn_conv2d(x, m->weight, m->bias, co) : nn_conv_transpose2d(x, m->weight, m->bias, co);
    case NN__M_MAXPOOL: case NN__M_AVGPOOL:
        po.kernel_size = m->cfg[0]; po.stride = m->cfg[1]; po.padding = m->cfg[2]; po.dilation = m->cfg[3];
        po.ceil_mode = (int)m->cfg[4]; po.count_exclude_pad = (int)m->cfg[5];
        return m->cfg[9] == NN__M_MAXPOOL ? nn_max_pool2d(x, po) : nn_avg_pool2d(x, po);
    case NN__M_ADAPTIVE: return nn_adaptive_avg_pool2d(x, m->cfg[0], m->cfg[1]);
    case NN__M_DROPOUT: return nn_dropout(x, m->fcfg[0], m->training);
    case NN__M_BATCHNORM: {
        char s[128];
        if (x && x->ndim != (m->cfg[0] == 1 ? 2 : 4) && !(m->cfg[0] == 1 && x->ndim == 3)) {
            nn__err(m->ctx, "%s: input is %s; expected %s", m->type, NN__SHAPE(x, s), m->cfg[0] == 1 ? "(N, C) or (N, C, L)" : "(N, C, H, W)");
            return NULL;
        }
        if (x && m->training && m->num_batches_tracked) NN__F32(m->num_batches_tracked)[0] += 1.0f;
        return nn_batch_norm(x, m->running_mean, m->running_var, m->weight, m->bias, m->training, m->fcfg[0], m->fcfg[1]);
    }
    case NN__M_LAYERNORM: {
        char s[128]; int d;
        if (x && m->weight) for (d = 0; d < (int)m->cfg[0]; d++)
            if (x->ndim < m->cfg[0] || x->shape[x->ndim - m->cfg[0] + d] != m->weight->shape[d]) {
                nn__err(m->ctx, "LayerNorm: input is %s; its last dims must be the normalized_shape", NN__SHAPE(x, s));
                return NULL;
            }
        return nn_layer_norm(x, (int)m->cfg[0], m->weight, m->bias, m->fcfg[0]);
    }
    case NN__M_FLATTEN: return nn_flatten(x, (int)m->cfg[0], (int)m->cfg[1]);
    case NN__M_EMBEDDING: return nn_embedding(m->weight, x);
    case NN__M_RELU: return nn_relu(x);
    case NN__M_LEAKY_RELU: return nn_leaky_relu(x, m->fcfg[0]);
    case NN__M_SIGMOID: return nn_sigmoid(x);
    case NN__M_TANH: return nn_tanh(x);
    case NN__M_GELU: return nn_gelu(x);
    case NN__M_SILU: return nn_silu(x);
    case NN__M_SOFTMAX: return nn_softmax(x, (int)m->cfg[0]);
    case NN__M_LOG_SOFTMAX: return nn_log_softmax(x, (int)m->cfg[0]);
    default:
        nn__err(m->ctx, "nn_forward: module %s has no forward function", m->type);
        return NULL;
    }
}

