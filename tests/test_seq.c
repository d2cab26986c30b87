/* seq: recurrent layers, attention and transformers (issue 9) against PyTorch, from tests/fixtures/seq
   (made by tests/gen_seq_fixtures.py): every layer case's outputs, input and parameter gradients; a tiny
   GPT and an LSTM language model (logits, gradients, 10 AdamW steps); trained models loaded with
   nn_load_model; PyTorch's init bounds, dropout between layers, the error messages. */

#define SEQ_DIR "tests/fixtures/seq/"

/* ---- comparing with PyTorch: relative 1e-4 with an absolute floor of 1e-5 of the tensor's largest value ---- */
static double seq_maxabs(const nn_tensor *want) {
    double m = 0;
    int64_t i;
    for (i = 0; i < want->numel; i++) if (fabs(nn_f32(want)[i]) > m) m = fabs(nn_f32(want)[i]);
    return m;
}

/* got (any strides) against want (contiguous float32) of the same shape; *worst gets the worst relative
   error over elements with |want| >= 1e-2 of the largest */
static int seq_compare(const char *what, const nn_tensor *got, const nn_tensor *want, double rtol, double *worst) {
    double scale, atol;
    int64_t i;
    int d;
    if (!want) { CHECK(0, "%s: not in the fixture", what); return 0; }
    if (!got) { CHECK(0, "%s: got NULL", what); return 0; }
    CHECK(got->dtype == NN_FLOAT32, "%s: got dtype %s", what, nn_dtype_name(got->dtype));
    CHECK(got->ndim == want->ndim, "%s: got %d dims, expected %d", what, got->ndim, want->ndim);
    for (d = 0; d < got->ndim && d < want->ndim; d++)
        CHECK(got->shape[d] == want->shape[d], "%s: dim %d is %lld, expected %lld", what, d, (long long)got->shape[d],
              (long long)want->shape[d]);
    if (got->dtype != NN_FLOAT32 || got->ndim != want->ndim || got->numel != want->numel) return 0;
    for (d = 0; d < got->ndim; d++) if (got->shape[d] != want->shape[d]) return 0;
    scale = seq_maxabs(want);
    atol = 1e-5 * scale + 1e-7;
    for (i = 0; i < want->numel; i++) {
        double w = nn_f32(want)[i], g = nn_f32(got)[fx_offset(got, i)], err = fabs(g - w);
        if (fabs(w) >= 1e-2 * scale && fabs(w) > 0 && err / fabs(w) > *worst) *worst = err / fabs(w);
        if (!(err <= rtol * fabs(w) + atol)) {
            CHECK(0, "%s[%lld]: PyTorch %.9g, nn.h %.9g (|err| %.3g, allowed %.3g)", what, (long long)i, w, g, err,
                  rtol * fabs(w) + atol);
            return 0;
        }
    }
    return 1;
}

/* ---- the fixture files ---- */
static int seq_has(const nn_safetensors *st, const char *name) {
    int i, n = nn_safetensors_count(st);
    for (i = 0; i < n; i++) if (!strcmp(nn_safetensors_name(st, i), name)) return 1;
    return 0;
}
static nn_tensor *seq_get(nn_safetensors *st, const char *name) { return seq_has(st, name) ? nn_safetensors_get(st, name) : NULL; }
static long seq_meta_i(const nn_safetensors *st, const char *key, long dflt) {
    const char *v = nn_safetensors_meta(st, key);
    return v ? atol(v) : dflt;
}
static double seq_meta_f(const nn_safetensors *st, const char *key, double dflt) {
    const char *v = nn_safetensors_meta(st, key);
    return v ? atof(v) : dflt;
}
static int seq_meta_is(const nn_safetensors *st, const char *key, const char *want) {
    const char *v = nn_safetensors_meta(st, key);
    return v && !strcmp(v, want);
}
static int seq_is_state_key(const char *name) {
    return strncmp(name, "in.", 3) && strncmp(name, "out.", 4) && strncmp(name, "gout.", 5) && strncmp(name, "grad.", 5);
}

/* the nn.h module a case's metadata describes */
static nn_module *seq_build(nn_ctx *ctx, const nn_safetensors *st, const char *type) {
    if (!strcmp(type, "RNN") || !strcmp(type, "LSTM") || !strcmp(type, "GRU")) {
        nn_rnn_opts o = nn_rnn_opts_default();
        int64_t in = seq_meta_i(st, "input_size", 0), h = seq_meta_i(st, "hidden_size", 0);
        o.num_layers = seq_meta_i(st, "num_layers", 1);
        o.nonlinearity = seq_meta_is(st, "nonlinearity", "relu") ? NN_RNN_RELU : NN_RNN_TANH;
        o.bias = (int)seq_meta_i(st, "bias", 1);
        o.batch_first = (int)seq_meta_i(st, "batch_first", 0);
        o.bidirectional = (int)seq_meta_i(st, "bidirectional", 0);
        o.dropout = (float)seq_meta_f(st, "dropout", 0);
        if (!strcmp(type, "RNN")) return nn_rnn_new(ctx, in, h, o);
        if (!strcmp(type, "LSTM")) return nn_lstm_new(ctx, in, h, o);
        return nn_gru_new(ctx, in, h, o);
    }
    if (!strcmp(type, "RNNCell") || !strcmp(type, "LSTMCell") || !strcmp(type, "GRUCell")) {
        int64_t in = seq_meta_i(st, "input_size", 0), h = seq_meta_i(st, "hidden_size", 0);
        int bias = (int)seq_meta_i(st, "bias", 1);
        if (!strcmp(type, "RNNCell"))
            return nn_rnn_cell_new(ctx, in, h, bias, seq_meta_is(st, "nonlinearity", "relu") ? NN_RNN_RELU : NN_RNN_TANH);
        if (!strcmp(type, "LSTMCell")) return nn_lstm_cell_new(ctx, in, h, bias);
        return nn_gru_cell_new(ctx, in, h, bias);
    }
    if (!strcmp(type, "MultiheadAttention")) {
        nn_mha_opts o = nn_mha_opts_default();
        o.dropout = (float)seq_meta_f(st, "dropout", 0);
        o.bias = (int)seq_meta_i(st, "bias", 1);
        o.batch_first = (int)seq_meta_i(st, "batch_first", 0);
        o.average_attn_weights = (int)seq_meta_i(st, "average_attn_weights", 1);
        return nn_multihead_attention_new(ctx, seq_meta_i(st, "embed_dim", 0), seq_meta_i(st, "num_heads", 0), o);
    }
    if (!strcmp(type, "TransformerEncoderLayer")) {
        nn_transformer_opts o = nn_transformer_opts_default();
        o.dim_feedforward = seq_meta_i(st, "dim_feedforward", 2048);
        o.dropout = (float)seq_meta_f(st, "dropout", 0.1);
        o.activation = seq_meta_is(st, "activation", "gelu") ? NN_ACT_GELU : NN_ACT_RELU;
        o.layer_norm_eps = (float)seq_meta_f(st, "layer_norm_eps", 1e-5);
        o.batch_first = (int)seq_meta_i(st, "batch_first", 0);
        o.norm_first = (int)seq_meta_i(st, "norm_first", 0);
        return nn_transformer_encoder_layer_new(ctx, seq_meta_i(st, "d_model", 0), seq_meta_i(st, "nhead", 0), o);
    }
    if (!strcmp(type, "GPTBlock"))
        return nn_gpt_block_new(ctx, seq_meta_i(st, "n_embd", 0), seq_meta_i(st, "n_head", 0), (float)seq_meta_f(st, "dropout", 0));
    if (!strcmp(type, "PositionalEncoding"))
        return nn_positional_encoding_new(ctx, seq_meta_i(st, "d_model", 0), (float)seq_meta_f(st, "dropout", 0),
                                          seq_meta_i(st, "max_len", 0), (int)seq_meta_i(st, "batch_first", 0));
    return NULL;
}

/* the worst errors per module type, for the summary */
typedef struct { char type[32]; int cases, failed; double fwd, grad; char fwd_at[64], grad_at[64]; } seq_stat;
static seq_stat g_seq_stats[16];
static int g_seq_nstats;
static seq_stat *seq_stat_of(const char *type) {
    int i;
    for (i = 0; i < g_seq_nstats; i++) if (!strcmp(g_seq_stats[i].type, type)) return &g_seq_stats[i];
    if (g_seq_nstats == 16) return &g_seq_stats[15];
    memset(&g_seq_stats[g_seq_nstats], 0, sizeof g_seq_stats[0]);
    strncpy(g_seq_stats[g_seq_nstats].type, type, sizeof g_seq_stats[0].type - 1);
    return &g_seq_stats[g_seq_nstats++];
}

/* one layer case: build, load PyTorch's state, forward, compare, backward of sum(out_k * gout_k), compare */
static void seq_layer_case(nn_ctx *ctx, const char *name) {
    char path[256], key[256];
    nn_safetensors *st;
    nn_module *m = NULL;
    nn_tensor *in[8] = { 0 }, *out[4] = { 0 }, *gout[4] = { 0 }, *loss = NULL;
    const nn_state_entry *es;
    const char *type;
    seq_stat *s;
    double fwd = 0, grad = 0;
    int nin, nout, same, n, k, nfile = 0, ns;
    snprintf(path, sizeof path, SEQ_DIR "%s.safetensors", name);
    st = nn_safetensors_open(ctx, path);
    CHECK(st != NULL, "cannot open %s: %s", path, ERRS(ctx));
    if (!st) return;
    type = nn_safetensors_meta(st, "module");
    CHECK(type != NULL, "no \"module\" in the metadata");
    if (!type) { nn_safetensors_close(st); return; }
    s = seq_stat_of(type);
    s->cases++;
    nin = (int)seq_meta_i(st, "nin", 1);
    nout = (int)seq_meta_i(st, "nout", 1);
    same = (int)seq_meta_i(st, "same_qkv", 0);
    m = seq_build(ctx, st, type);
    CHECK(m != NULL, "building %s failed: %s", type, ERRS(ctx));
    if (!m) goto done;
    nn_module_train(m, 1);
    /* PyTorch's state, under its names: every key of the module in the file, and nothing else there */
    ns = nn_module_state(m, &es);
    for (k = 0; k < nn_safetensors_count(st); k++) nfile += seq_is_state_key(nn_safetensors_name(st, k));
    CHECK(ns == nfile, "the module has %d state entries, PyTorch's state_dict %d", ns, nfile);
    for (k = 0; k < ns; k++) {
        nn_tensor *w = seq_get(st, es[k].name);
        CHECK(w != NULL, "state entry \"%s\" is not in PyTorch's state_dict", es[k].name);
        if (!w) continue;
        if (es[k].is_buffer) {          /* a computed buffer (the sinusoidal table): nn.h's own values */
            snprintf(key, sizeof key, "buffer %s", es[k].name);
            seq_compare(key, es[k].tensor, w, 1e-4, &fwd);
        }
        CHECK(nn_copy_(es[k].tensor, w), "copying %s: %s", es[k].name, ERRS(ctx));
        nn_free(w);
    }
    if (g_case_failed) goto done;
    for (k = 0; k < nin && k < 8; k++) {
        snprintf(key, sizeof key, "in.%d", k);
        in[k] = seq_get(st, key);
        snprintf(key, sizeof key, "grad.in.%d", k);
        if (in[k] && seq_has(st, key)) nn_set_requires_grad(in[k], 1);
    }
    if (same) {                          /* PyTorch's attn(x, x, x): one tensor in the three places */
        in[1] = in[2] = in[0];
        if (nin < 3) nin = 3;
    }
    n = nn_forward_n(m, in, nin, out, nout);
    CHECK(n >= nout, "nn_forward_n gave %d outputs, expected %d: %s", n, nout, ERRS(ctx));
    if (n < nout) goto done;
    for (k = 0; k < nout; k++) {
        nn_tensor *w, *t;
        snprintf(key, sizeof key, "out.%d", k);
        w = seq_get(st, key);
        seq_compare(key, out[k], w, 1e-4, &fwd);
        nn_free(w);
        snprintf(key, sizeof key, "gout.%d", k);
        gout[k] = seq_get(st, key);
        if (!gout[k] || !out[k]) continue;
        t = nn_sum(nn_mul(out[k], gout[k]), NN_ALL, 0);
        loss = loss ? nn_add(loss, t) : t;
    }
    if (g_case_failed) goto done;
    CHECK(loss && nn_backward(loss, NULL, 0), "backward failed: %s", ERRS(ctx));
    if (g_case_failed) goto done;
    for (k = 0; k < nin && k < 8; k++) {
        nn_tensor *w;
        if (same && (k == 1 || k == 2)) continue;
        snprintf(key, sizeof key, "grad.in.%d", k);
        if (!(w = seq_get(st, key))) continue;
        CHECK(in[k]->grad != NULL, "%s was not computed", key);
        if (in[k]->grad) seq_compare(key, in[k]->grad, w, 1e-4, &grad);
        nn_free(w);
    }
    for (k = 0; k < ns; k++) if (!es[k].is_buffer) {
        nn_tensor *w;
        snprintf(key, sizeof key, "grad.%s", es[k].name);
        w = seq_get(st, key);
        /* a parameter that only met zeros (weight_hh of a cell given no hx): PyTorch's gradient is zeros;
           nn.h may leave it NULL, as PyTorch does for a parameter that took no part */
        if (!es[k].tensor->grad && w && seq_maxabs(w) == 0) { nn_free(w); continue; }
        CHECK(es[k].tensor->grad != NULL, "%s was not computed", key);
        if (es[k].tensor->grad) seq_compare(key, es[k].tensor->grad, w, 1e-4, &grad);
        nn_free(w);
    }
done:
    CHECK(nn_error(ctx) == NULL, "unexpected error: %s", ERRS(ctx));
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
    for (k = 0; k < 8; k++) if (!(same && (k == 1 || k == 2))) nn_free(in[k]);
    for (k = 0; k < 4; k++) nn_free(gout[k]);
    nn_module_free(m);
    nn_safetensors_close(st);
    if (getenv("NN_TEST_VERBOSE")) printf("  seq %-36s forward %.2g, gradients %.2g%s\n", name, fwd, grad, g_case_failed ? " FAILED" : "");
    if (g_case_failed) s->failed++;
    if (fwd > s->fwd) { s->fwd = fwd; snprintf(s->fwd_at, sizeof s->fwd_at, "%s", name); }
    if (grad > s->grad) { s->grad = grad; snprintf(s->grad_at, sizeof s->grad_at, "%s", name); }
}

static void test_seq_layers(nn_ctx *ctx) {
    char *list = read_text(SEQ_DIR "cases.txt"), *p, *line;
    char label[128];
    int i;
    g_seq_nstats = 0;
    begin("seq fixtures load");
    CHECK(list != NULL, "cannot read " SEQ_DIR "cases.txt; run from the repository root");
    end();
    if (!list) return;
    for (p = list; (line = strtok(p, "\n")) != NULL; p = NULL) {
        if (!*line) continue;
        snprintf(label, sizeof label, "seq/%s", line);
        begin(label);
        seq_layer_case(ctx, line);
        end();
    }
    free(list);
    for (i = 0; i < g_seq_nstats; i++) {
        seq_stat *s = &g_seq_stats[i];
        printf("  seq %-24s %2d cases%s: worst relative error forward %.2g (%s), gradients %.2g (%s)\n", s->type, s->cases,
               s->failed ? " (some FAILED)" : "", s->fwd, s->fwd_at[0] ? s->fwd_at : "-", s->grad, s->grad_at[0] ? s->grad_at : "-");
    }
}

/* ---- whole models: a tiny GPT and an LSTM language model, as llm.c's test_gpt2.c ---- */
typedef struct { nn_module *wte, *wpe, *h, *ln_f, *lm_head; nn_tensor *pos; } seq_gpt;
static nn_tensor *seq_gpt_forward(nn_module *self, nn_tensor *idx) {
    seq_gpt *g = (seq_gpt *)self->user;
    int64_t T = idx->shape[1];
    nn_tensor *pos = nn_slice(g->pos, 0, 0, T, 1);
    nn_tensor *x = nn_add(nn_forward(g->wte, idx), nn_forward(g->wpe, pos));
    return nn_forward(g->lm_head, nn_forward(g->ln_f, nn_forward(g->h, x)));
}
static nn_module *seq_build_gpt(nn_ctx *ctx, seq_gpt *g, int64_t V, int64_t E, int64_t H, int64_t block, int n_layer) {
    nn_module *m = nn_module_new(ctx, "TinyGPT", seq_gpt_forward, g), *blocks[8];
    int64_t pos[64], i;
    int k;
    for (i = 0; i < block; i++) pos[i] = i;
    g->pos = nn_from_i64(ctx, 1, &block, pos);
    g->wte = nn_module_add(m, "wte", nn_embedding_new(ctx, V, E));
    g->wpe = nn_module_add(m, "wpe", nn_embedding_new(ctx, block, E));
    for (k = 0; k < n_layer; k++) blocks[k] = nn_gpt_block_new(ctx, E, H, 0.0f);
    g->h = nn_module_add(m, "h", nn_sequential_new(ctx, blocks, n_layer));
    g->ln_f = nn_module_add(m, "ln_f", nn_layer_norm_new(ctx, 1, &E, 1e-5f, 1));
    g->lm_head = nn_module_add(m, "lm_head", nn_linear_new(ctx, E, V, 0));
    return m;
}
typedef struct { nn_module *embed, *lstm, *head; } seq_lstm_lm;
static nn_tensor *seq_lstm_lm_forward(nn_module *self, nn_tensor *idx) {
    seq_lstm_lm *l = (seq_lstm_lm *)self->user;
    return nn_forward(l->head, nn_forward(l->lstm, nn_forward(l->embed, idx)));
}
static nn_module *seq_build_lstm_lm(nn_ctx *ctx, seq_lstm_lm *l, int64_t V, int64_t E, int64_t H) {
    nn_module *m = nn_module_new(ctx, "LSTMLM", seq_lstm_lm_forward, l);
    nn_rnn_opts o = nn_rnn_opts_default();
    o.num_layers = 2; o.batch_first = 1;
    l->embed = nn_module_add(m, "embed", nn_embedding_new(ctx, V, E));
    l->lstm = nn_module_add(m, "lstm", nn_lstm_new(ctx, E, H, o));
    l->head = nn_module_add(m, "head", nn_linear_new(ctx, H, V, 1));
    return m;
}

static nn_tensor *seq_lm_loss(nn_module *m, nn_tensor *x, nn_tensor *target, nn_tensor **logits) {
    int64_t flat2[2] = { -1, 0 }, flat1 = -1;
    nn_tensor *y = nn_forward(m, x);
    if (logits) *logits = y;
    if (!y) return NULL;
    flat2[1] = y->shape[y->ndim - 1];
    return nn_cross_entropy(nn_reshape(y, 2, flat2), nn_reshape(target, 1, &flat1), nn_cross_entropy_opts_default());
}

static void seq_whole_model(nn_ctx *ctx, const char *name, nn_module *m) {
    char path[256];
    nn_safetensors *ex;
    nn_tensor *x, *target, *want_losses, *logits = NULL, *loss, *params[64];
    const nn_state_entry *es;
    nn_adam_opts ao;
    nn_optim *o;
    double worst_f = 0, worst_g = 0, worst_curve = 0;
    int n, k, step;
    snprintf(path, sizeof path, SEQ_DIR "%s.safetensors", name);
    CHECK(m != NULL && nn_load_model(m, path), "building or loading PyTorch's state_dict failed: %s", ERRS(ctx));
    snprintf(path, sizeof path, SEQ_DIR "%s_expect.safetensors", name);
    ex = nn_safetensors_open(ctx, path);
    CHECK(ex != NULL, "cannot open %s: %s", path, ERRS(ctx));
    if (!ex || g_case_failed) { if (ex) nn_safetensors_close(ex); return; }
    x = nn_safetensors_get(ex, "input"); target = nn_safetensors_get(ex, "target"); want_losses = nn_safetensors_get(ex, "losses");
    loss = seq_lm_loss(m, x, target, &logits);
    CHECK(loss && nn_backward(loss, NULL, 0), "forward/backward failed: %s", ERRS(ctx));
    if (!g_case_failed) {
        nn_tensor *w = nn_safetensors_get(ex, "logits");
        seq_compare("logits", logits, w, 1e-4, &worst_f);
        nn_free(w);
        w = nn_safetensors_get(ex, "loss");
        CHECK(fabs(nn_item(loss) - nn_f32(w)[0]) <= 1e-4 * fabs(nn_f32(w)[0]), "loss: nn.h %.9g, PyTorch %.9g", nn_item(loss), nn_f32(w)[0]);
        if (fabs(nn_item(loss) - nn_f32(w)[0]) / fabs(nn_f32(w)[0]) > worst_f) worst_f = fabs(nn_item(loss) - nn_f32(w)[0]) / fabs(nn_f32(w)[0]);
        nn_free(w);
        n = nn_module_state(m, &es);
        for (k = 0; k < n; k++) if (!es[k].is_buffer) {
            char gname[200];
            snprintf(gname, sizeof gname, "grad.%s", es[k].name);
            w = seq_get(ex, gname);
            CHECK(es[k].tensor->grad != NULL, "%s was not computed", gname);
            if (es[k].tensor->grad) seq_compare(gname, es[k].tensor->grad, w, 1e-4, &worst_g);
            nn_free(w);
        }
    }
    nn_arena_reset(ctx);
    /* 10 AdamW steps (lr 1e-3, weight_decay 0.1) from the same weights on the same batch: PyTorch's float32 losses */
    ao = nn_adamw_opts_default(); ao.lr = 1e-3; ao.weight_decay = 0.1;
    n = nn_module_parameters(m, params, 64);
    o = nn_adamw(params, n < 64 ? n : 64, ao);
    CHECK(o != NULL, "nn_adamw: %s", ERRS(ctx));
    for (step = 0; o && step < 10 && !g_case_failed; step++) {
        double err, want = nn_f32(want_losses)[step];
        nn_optim_zero_grad(o);
        loss = seq_lm_loss(m, x, target, NULL);
        CHECK(loss && nn_backward(loss, NULL, 0), "step %d: %s", step + 1, ERRS(ctx));
        if (g_case_failed) break;
        nn_optim_step(o);
        err = fabs(nn_item(loss) - want) / fabs(want);
        if (err > worst_curve) worst_curve = err;
        CHECK(err <= 1e-5, "AdamW step %d: loss %.9g, PyTorch %.9g (relative error %.3g > 1e-5)", step + 1, nn_item(loss), want, err);
        nn_arena_reset(ctx);
    }
    printf("  seq %-9s logits/loss worst relative error %.2g, gradients %.2g; 10 AdamW steps loss %.6f -> %.6f (PyTorch %.6f -> %.6f), worst %.2g\n",
           name, worst_f, worst_g, nn_f32(want_losses)[0], nn_f32(want_losses)[9], nn_f32(want_losses)[0], nn_f32(want_losses)[9], worst_curve);
    nn_optim_free(o);
    nn_arena_reset(ctx);
    nn_clear_error(ctx);
    nn_free(x); nn_free(target); nn_free(want_losses);
    nn_safetensors_close(ex);
}

static void test_seq_whole_models(nn_ctx *ctx) {
    seq_gpt g; seq_lstm_lm l; nn_module *m;
    begin("seq tiny GPT (2 GPT blocks, V 27, E 32, 4 heads, T 16): logits, loss, every gradient, 10 AdamW steps");
    memset(&g, 0, sizeof g);
    m = seq_build_gpt(ctx, &g, 27, 32, 4, 16, 2);
    seq_whole_model(ctx, "tiny_gpt", m);
    nn_module_free(m);
    nn_free(g.pos);
    end();
    begin("seq LSTM language model (2 layers, batch_first): logits, loss, every gradient, 10 AdamW steps");
    m = seq_build_lstm_lm(ctx, &l, 27, 16, 32);
    seq_whole_model(ctx, "lstm_lm", m);
    nn_module_free(m);
    end();
    nn_clear_error(ctx);
}

/* ---- trained models: PyTorch's trained weights through nn_load_model, eval mode ---- */
static void test_seq_trained(nn_ctx *ctx) {
    nn_safetensors *ex;
    nn_module *m;
    nn_tensor *out[3] = { 0 }, *in[3] = { 0 }, *w;
    double worst = 0;
    begin("seq trained nn.LSTM (2 layers, batch_first, sine next-sample): nn_load_model, eval outputs");
    {
        nn_rnn_opts o = nn_rnn_opts_default();
        o.num_layers = 2; o.batch_first = 1;
        m = nn_lstm_new(ctx, 1, 16, o);
        CHECK(m && nn_load_model(m, SEQ_DIR "trained_lstm.safetensors"), "loading: %s", ERRS(ctx));
        ex = nn_safetensors_open(ctx, SEQ_DIR "trained_lstm_expect.safetensors");
        CHECK(ex != NULL, "cannot open trained_lstm_expect: %s", ERRS(ctx));
        if (m && ex && !g_case_failed) {
            nn_tensor *x = nn_safetensors_get(ex, "input"), *hw = nn_safetensors_get(ex, "head.weight");
            nn_tensor *hb = nn_safetensors_get(ex, "head.bias"), *y = nn_safetensors_get(ex, "target");
            nn_tensor *pl = nn_safetensors_get(ex, "pred_loss"), *mse;
            nn_module_eval(m);
            in[0] = x;
            CHECK(nn_forward_n(m, in, 1, out, 3) >= 3, "forward: %s", ERRS(ctx));
            if (!g_case_failed) {
                w = nn_safetensors_get(ex, "output"); seq_compare("output", out[0], w, 1e-4, &worst); nn_free(w);
                w = nn_safetensors_get(ex, "h_n"); seq_compare("h_n", out[1], w, 1e-4, &worst); nn_free(w);
                w = nn_safetensors_get(ex, "c_n"); seq_compare("c_n", out[2], w, 1e-4, &worst); nn_free(w);
                mse = nn_mse_loss(nn_linear(out[0], hw, hb), y, NN_MEAN);
                CHECK(mse && fabs(nn_item(mse) - nn_f32(pl)[0]) <= 1e-3 * nn_f32(pl)[0], "prediction MSE %.6g, PyTorch %.6g",
                      mse ? nn_item(mse) : -1.0, nn_f32(pl)[0]);
                printf("  seq trained_lstm: outputs worst relative error %.2g; next-sample MSE %.5f (PyTorch %.5f)\n", worst,
                       mse ? nn_item(mse) : -1.0, nn_f32(pl)[0]);
            }
            nn_free(x); nn_free(hw); nn_free(hb); nn_free(y); nn_free(pl);
        }
        nn_arena_reset(ctx);
        if (ex) nn_safetensors_close(ex);
        nn_module_free(m);
    }
    end();
    begin("seq trained nn.TransformerEncoderLayer (d 16, 2 heads, ff 32, batch_first): nn_load_model, eval outputs");
    {
        nn_transformer_opts o = nn_transformer_opts_default();
        o.dim_feedforward = 32; o.dropout = 0; o.batch_first = 1;
        worst = 0;
        m = nn_transformer_encoder_layer_new(ctx, 16, 2, o);
        CHECK(m && nn_load_model(m, SEQ_DIR "trained_encoder.safetensors"), "loading: %s", ERRS(ctx));
        ex = nn_safetensors_open(ctx, SEQ_DIR "trained_encoder_expect.safetensors");
        CHECK(ex != NULL, "cannot open trained_encoder_expect: %s", ERRS(ctx));
        if (m && ex && !g_case_failed) {
            nn_tensor *x = nn_safetensors_get(ex, "input"), *mask = nn_safetensors_get(ex, "src_mask");
            nn_module_eval(m);
            in[0] = x; in[1] = NULL;
            CHECK(nn_forward_n(m, in, 1, out, 1) >= 1, "forward: %s", ERRS(ctx));
            w = nn_safetensors_get(ex, "output"); seq_compare("output", out[0], w, 1e-4, &worst); nn_free(w);
            in[1] = mask;
            CHECK(nn_forward_n(m, in, 2, out, 1) >= 1, "forward with src_mask: %s", ERRS(ctx));
            w = nn_safetensors_get(ex, "output_causal"); seq_compare("output_causal", out[0], w, 1e-4, &worst); nn_free(w);
            printf("  seq trained_encoder: outputs worst relative error %.2g (eval mode; with and without a causal mask)\n", worst);
            nn_free(x); nn_free(mask);
        }
        nn_arena_reset(ctx);
        if (ex) nn_safetensors_close(ex);
        nn_module_free(m);
    }
    end();
    nn_clear_error(ctx);
}

/* ---- PyTorch's init: U(-1/sqrt(H), 1/sqrt(H)) for every recurrent parameter; attention's xavier and zeros ---- */
static void seq_check_bound(nn_module *m, const char *what, double bound) {
    nn_tensor *ps[64];
    int n = nn_module_parameters(m, ps, 64), k;
    int64_t i;
    CHECK(n > 0, "%s has no parameters", what);
    for (k = 0; k < n && k < 64; k++) {
        float lo = INFINITY, hi = -INFINITY;
        for (i = 0; i < ps[k]->numel; i++) {
            float v = nn_f32(ps[k])[i];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        CHECK(lo >= -bound && hi <= bound, "%s parameter %d: values in [%g, %g], expected within +-%g", what, k, lo, hi, bound);
        CHECK(hi > lo, "%s parameter %d: all %lld values equal %g", what, k, (long long)ps[k]->numel, lo);
        CHECK(hi > 0.5 * bound && lo < -0.5 * bound, "%s parameter %d: [%g, %g] does not look like U(-%g, %g)", what, k, lo, hi, bound, bound);
    }
}

static void test_seq_init(nn_ctx *ctx) {
    nn_rnn_opts o = nn_rnn_opts_default();
    nn_mha_opts mo = nn_mha_opts_default();
    nn_transformer_opts to = nn_transformer_opts_default();
    nn_module *m;
    int64_t H = 16;
    double b = 1.0 / sqrt((double)H);
    begin("seq defaults: nn_rnn_opts_default, nn_mha_opts_default, nn_transformer_opts_default are PyTorch's");
    CHECK(o.num_layers == 1 && o.nonlinearity == NN_RNN_TANH && o.bias == 1 && o.batch_first == 0 && o.dropout == 0 &&
          o.bidirectional == 0, "nn_rnn_opts_default");
    CHECK(mo.dropout == 0 && mo.bias == 1 && mo.batch_first == 0 && mo.average_attn_weights == 1, "nn_mha_opts_default");
    CHECK(to.dim_feedforward == 2048 && fabsf(to.dropout - 0.1f) < 1e-7f && to.activation == NN_ACT_RELU &&
          fabsf(to.layer_norm_eps - 1e-5f) < 1e-12f && to.batch_first == 0 && to.norm_first == 0, "nn_transformer_opts_default");
    end();
    begin("seq init: RNN/LSTM/GRU (2 layers, bidirectional) and cells, every parameter U(-1/sqrt(H), 1/sqrt(H))");
    o.num_layers = 2; o.bidirectional = 1;
    m = nn_rnn_new(ctx, 5, H, o); CHECK(m != NULL, "nn_rnn_new: %s", ERRS(ctx));
    if (m) { CHECK(nn_module_num_parameters(m) == 2 * (16 * 5 + 16 * 16 + 32) + 2 * (16 * 32 + 16 * 16 + 32), "RNN parameter count %lld", (long long)nn_module_num_parameters(m)); seq_check_bound(m, "RNN", b); }
    nn_module_free(m);
    m = nn_lstm_new(ctx, 5, H, o); CHECK(m != NULL, "nn_lstm_new: %s", ERRS(ctx));
    if (m) { CHECK(nn_module_num_parameters(m) == 4 * (2 * (16 * 5 + 16 * 16 + 32) + 2 * (16 * 32 + 16 * 16 + 32)), "LSTM parameter count %lld", (long long)nn_module_num_parameters(m)); seq_check_bound(m, "LSTM", b); }
    nn_module_free(m);
    m = nn_gru_new(ctx, 5, H, o); CHECK(m != NULL, "nn_gru_new: %s", ERRS(ctx));
    if (m) seq_check_bound(m, "GRU", b);
    nn_module_free(m);
    m = nn_rnn_cell_new(ctx, 5, H, 1, NN_RNN_TANH); CHECK(m != NULL, "nn_rnn_cell_new: %s", ERRS(ctx));
    if (m) seq_check_bound(m, "RNNCell", b);
    nn_module_free(m);
    m = nn_lstm_cell_new(ctx, 5, H, 1); CHECK(m != NULL, "nn_lstm_cell_new: %s", ERRS(ctx));
    if (m) seq_check_bound(m, "LSTMCell", b);
    nn_module_free(m);
    m = nn_gru_cell_new(ctx, 5, H, 1); CHECK(m != NULL, "nn_gru_cell_new: %s", ERRS(ctx));
    if (m) seq_check_bound(m, "GRUCell", b);
    nn_module_free(m);
    end();
    begin("seq init: MultiheadAttention in_proj_weight xavier_uniform, in_proj_bias and out_proj.bias zeros");
    m = nn_multihead_attention_new(ctx, 16, 4, mo);
    CHECK(m != NULL, "nn_multihead_attention_new: %s", ERRS(ctx));
    if (m) {
        nn_tensor *w = nn_module_parameter(m, "in_proj_weight"), *bi = nn_module_parameter(m, "in_proj_bias");
        nn_tensor *ob = nn_module_parameter(m, "out_proj.bias"), *ow = nn_module_parameter(m, "out_proj.weight");
        double xb = sqrt(6.0 / (16 + 48));
        int64_t i; float lo = 0, hi = 0; int zeros = 1;
        CHECK(w && bi && ob && ow, "missing parameters (in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias)");
        if (w && bi && ob && ow) {
            CHECK(w->ndim == 2 && w->shape[0] == 48 && w->shape[1] == 16, "in_proj_weight shape");
            for (i = 0; i < w->numel; i++) { if (nn_f32(w)[i] < lo) lo = nn_f32(w)[i]; if (nn_f32(w)[i] > hi) hi = nn_f32(w)[i]; }
            CHECK(lo >= -xb && hi <= xb && hi > 0.5 * xb && lo < -0.5 * xb, "in_proj_weight in [%g, %g], xavier bound %g", lo, hi, xb);
            for (i = 0; i < bi->numel; i++) zeros &= nn_f32(bi)[i] == 0;
            for (i = 0; i < ob->numel; i++) zeros &= nn_f32(ob)[i] == 0;
            CHECK(zeros, "in_proj_bias and out_proj.bias are not all zeros");
            for (i = 0, lo = hi = 0; i < ow->numel; i++) { if (nn_f32(ow)[i] < lo) lo = nn_f32(ow)[i]; if (nn_f32(ow)[i] > hi) hi = nn_f32(ow)[i]; }
            CHECK(lo >= -0.25 && hi <= 0.25 && hi > lo, "out_proj.weight in [%g, %g], Linear's bound 1/sqrt(16)", lo, hi);
        }
    }
    nn_module_free(m);
    end();
    nn_clear_error(ctx);
}

/* ---- dropout between recurrent layers ---- */
static void test_seq_dropout(nn_ctx *ctx) {
    static const char *kinds[3] = { "RNN", "LSTM", "GRU" };
    int kind;
    for (kind = 0; kind < 3; kind++) {
        char label[128];
        nn_rnn_opts o = nn_rnn_opts_default();
        nn_module *mp, *m0;
        nn_tensor *x, *y_train, *y_train2, *y_eval, *y0, *ps[32], *qs[32];
        int64_t xs[3] = { 6, 4, 8 };
        int n, k;
        int64_t i;
        double d_train_eval = 0, d_train_p0 = 0, d_eval_p0 = 0, d_train_train = 0;
        snprintf(label, sizeof label, "seq %s dropout 0.5 between 3 layers: training differs from eval and from p = 0; eval equals p = 0", kinds[kind]);
        begin(label);
        o.num_layers = 3; o.dropout = 0.5f;
        mp = kind == 0 ? nn_rnn_new(ctx, 8, 8, o) : kind == 1 ? nn_lstm_new(ctx, 8, 8, o) : nn_gru_new(ctx, 8, 8, o);
        o.dropout = 0;
        m0 = kind == 0 ? nn_rnn_new(ctx, 8, 8, o) : kind == 1 ? nn_lstm_new(ctx, 8, 8, o) : nn_gru_new(ctx, 8, 8, o);
        CHECK(mp && m0, "constructors: %s", ERRS(ctx));
        if (mp && m0) {
            n = nn_module_parameters(mp, ps, 32);
            CHECK(nn_module_parameters(m0, qs, 32) == n, "parameter counts differ");
            for (k = 0; k < n && k < 32; k++) nn_copy_(qs[k], ps[k]);
            x = nn_randn(ctx, 3, xs);
            y_train = nn_forward(mp, x);
            y_train2 = nn_forward(mp, x);
            y0 = nn_forward(m0, x);
            nn_module_eval(mp);
            y_eval = nn_forward(mp, x);
            CHECK(y_train && y_train2 && y_eval && y0, "forward: %s", ERRS(ctx));
            if (y_train && y_train2 && y_eval && y0) {
                for (i = 0; i < y0->numel; i++) {
                    double a = nn_f32(y_train)[fx_offset(y_train, i)], b2 = nn_f32(y_train2)[fx_offset(y_train2, i)];
                    double e = nn_f32(y_eval)[fx_offset(y_eval, i)], z = nn_f32(y0)[fx_offset(y0, i)];
                    d_train_eval = fmax(d_train_eval, fabs(a - e));
                    d_train_p0 = fmax(d_train_p0, fabs(a - z));
                    d_eval_p0 = fmax(d_eval_p0, fabs(e - z));
                    d_train_train = fmax(d_train_train, fabs(a - b2));
                }
                CHECK(d_train_eval > 1e-3, "training output equals eval output (max diff %g): no dropout between layers", d_train_eval);
                CHECK(d_train_p0 > 1e-3, "training output equals the p = 0 output (max diff %g)", d_train_p0);
                CHECK(d_train_train > 1e-3, "two training passes give the same output (max diff %g): the mask is not redrawn", d_train_train);
                CHECK(d_eval_p0 <= 1e-6, "eval output differs from the p = 0 output by %g", d_eval_p0);
            }
            nn_free(x);
        }
        nn_arena_reset(ctx);
        nn_module_free(mp);
        nn_module_free(m0);
        CHECK(nn_error(ctx) == NULL, "unexpected error: %s", ERRS(ctx));
        nn_clear_error(ctx);
        end();
    }
}

/* ---- clear errors, no crash ---- */
/* the call failed and nn_error names one of the given functions or module types */
static void seq_expect_error(nn_ctx *ctx, int failed, const char *what, const char *names) {
    const char *e = nn_error(ctx);
    char buf[256], *tok, *save = NULL;
    int named = 0;
    CHECK(failed, "%s: not refused", what);
    CHECK(e != NULL, "%s: refused without an error message", what);
    if (e) {
        snprintf(buf, sizeof buf, "%s", names);
        for (tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) if (strstr(e, tok)) named = 1;
        CHECK(named, "%s: the message \"%s\" names none of %s", what, e, names);
        if (getenv("NN_TEST_VERBOSE")) printf("  seq error %-40s %s\n", what, e);
    }
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
}

static void test_seq_errors(nn_ctx *ctx) {
    nn_rnn_opts o = nn_rnn_opts_default();
    nn_mha_opts mo = nn_mha_opts_default();
    nn_transformer_opts to = nn_transformer_opts_default();
    nn_module *m;
    nn_tensor *in[5] = { 0 }, *out[3] = { 0 }, *x, *h0, *mask;
    int64_t xs[3] = { 5, 2, 4 }, bad_x[3] = { 5, 2, 3 }, hs[3] = { 1, 3, 6 }, ms[2] = { 5, 4 };
    int r;
    begin("seq errors: wrong input size, wrong h0 shape, embed_dim % num_heads, bool mask of the wrong shape; nn_error names the function");
    nn_clear_error(ctx);
    /* an LSTM(4, 6) given input size 3 */
    m = nn_lstm_new(ctx, 4, 6, o);
    CHECK(m != NULL, "nn_lstm_new: %s", ERRS(ctx));
    if (m) {
        x = nn_randn(ctx, 3, bad_x);
        in[0] = x;
        r = nn_forward_n(m, in, 1, out, 3);
        seq_expect_error(ctx, r < 0 && !out[0], "LSTM(4, 6) on input size 3", "nn_lstm|LSTM|nn_forward_n");
        CHECK(nn_forward(m, x) == NULL, "nn_forward accepted input size 3");
        nn_clear_error(ctx);
        nn_free(x);
        /* h0 (1, 3, 6) for a batch of 2 */
        x = nn_randn(ctx, 3, xs);
        h0 = nn_zeros(ctx, 3, hs);
        in[0] = x; in[1] = h0; in[2] = h0;
        r = nn_forward_n(m, in, 3, out, 3);
        seq_expect_error(ctx, r < 0, "LSTM h0 (1, 3, 6) for batch 2", "nn_lstm|LSTM|nn_forward_n");
        nn_free(h0);
        hs[1] = 2; hs[2] = 5;        /* hidden size 5, not 6 */
        h0 = nn_zeros(ctx, 3, hs);
        in[1] = h0; in[2] = NULL;
        r = nn_forward_n(m, in, 2, out, 3);
        seq_expect_error(ctx, r < 0, "LSTM h0 (1, 2, 5), hidden 6", "nn_lstm|LSTM|nn_forward_n");
        nn_free(h0);
        nn_free(x);
    }
    nn_module_free(m);
    m = nn_gru_new(ctx, 4, 6, o);
    if (m) {
        int64_t h2[2] = { 2, 6 };    /* a 2-D h0 for a batched input */
        x = nn_randn(ctx, 3, xs);
        h0 = nn_zeros(ctx, 2, h2);
        in[0] = x; in[1] = h0;
        r = nn_forward_n(m, in, 2, out, 2);
        seq_expect_error(ctx, r < 0, "GRU batched input with 2-D h0", "nn_gru|GRU|nn_forward_n");
        nn_free(h0); nn_free(x);
    }
    nn_module_free(m);
    /* zero or negative sizes */
    m = nn_rnn_new(ctx, 4, 0, o);
    seq_expect_error(ctx, m == NULL, "nn_rnn_new hidden_size 0", "nn_rnn_new");
    nn_module_free(m);
    o.num_layers = 0;
    m = nn_lstm_new(ctx, 4, 6, o);
    seq_expect_error(ctx, m == NULL, "nn_lstm_new num_layers 0", "nn_lstm_new");
    nn_module_free(m);
    o = nn_rnn_opts_default(); o.dropout = 1.5f;
    m = nn_gru_new(ctx, 4, 6, o);
    seq_expect_error(ctx, m == NULL, "nn_gru_new dropout 1.5", "nn_gru_new");
    nn_module_free(m);
    /* embed_dim not divisible by num_heads */
    m = nn_multihead_attention_new(ctx, 10, 3, mo);
    seq_expect_error(ctx, m == NULL, "MultiheadAttention(10, 3)", "nn_multihead_attention_new");
    nn_module_free(m);
    to.dim_feedforward = 16;
    m = nn_transformer_encoder_layer_new(ctx, 10, 4, to);
    seq_expect_error(ctx, m == NULL, "TransformerEncoderLayer(10, 4)", "nn_transformer_encoder_layer_new");
    nn_module_free(m);
    m = nn_gpt_block_new(ctx, 10, 4, 0);
    seq_expect_error(ctx, m == NULL, "GPT block (10, 4)", "nn_gpt_block_new|nn_multihead_attention_new");
    nn_module_free(m);
    /* a bool attn_mask (5, 4) for L = S = 5, and a key_padding_mask of the wrong shape */
    m = nn_multihead_attention_new(ctx, 4, 2, mo);
    CHECK(m != NULL, "nn_multihead_attention_new: %s", ERRS(ctx));
    if (m) {
        int64_t ks[2] = { 3, 5 };
        x = nn_randn(ctx, 3, xs);     /* (L 5, N 2, E 4) */
        mask = nn_zeros_dtype(ctx, 2, ms, NN_INT64);
        in[0] = in[1] = in[2] = x; in[3] = NULL; in[4] = mask;
        r = nn_forward_n(m, in, 5, out, 1);
        seq_expect_error(ctx, r < 0, "MultiheadAttention attn_mask (5, 4) for L = S = 5", "nn_multihead_attention|MultiheadAttention|nn_forward_n");
        nn_free(mask);
        mask = nn_zeros_dtype(ctx, 2, ks, NN_INT64);
        in[3] = mask; in[4] = NULL;
        r = nn_forward_n(m, in, 4, out, 1);
        seq_expect_error(ctx, r < 0, "MultiheadAttention key_padding_mask (3, 5) for N 2", "nn_multihead_attention|MultiheadAttention|nn_forward_n");
        nn_free(mask);
        in[3] = NULL;
        {
            int64_t qs[3] = { 5, 2, 6 };
            nn_tensor *q = nn_randn(ctx, 3, qs);
            in[0] = q;
            r = nn_forward_n(m, in, 3, out, 1);
            seq_expect_error(ctx, r < 0, "MultiheadAttention query of embed 6 for embed_dim 4", "nn_multihead_attention|MultiheadAttention|nn_forward_n");
            nn_free(q);
        }
        nn_free(x);
    }
    nn_module_free(m);
    /* the ops */
    {
        int64_t qs[3] = { 2, 3, 4 }, bm[2] = { 3, 6 }, one[1] = { 5 };
        nn_tensor *q = nn_randn(ctx, 3, qs), *bmask = nn_ones(ctx, 2, bm), *v1 = nn_randn(ctx, 1, one), *bm64;
        bm64 = nn_zeros_dtype(ctx, 2, bm, NN_INT64);
        seq_expect_error(ctx, nn_scaled_dot_product_attention(q, q, q, bm64, 0, 0, NAN) == NULL,
                         "sdpa bool mask (3, 6) for L = S = 3", "nn_scaled_dot_product_attention");
        seq_expect_error(ctx, nn_scaled_dot_product_attention(q, q, q, bmask, 0, 1, NAN) == NULL,
                         "sdpa is_causal with a mask", "nn_scaled_dot_product_attention");
        seq_expect_error(ctx, nn_topk(q, 5, -1, 1, NULL) == NULL, "topk k 5 of 4", "nn_topk");
        seq_expect_error(ctx, nn_tril(v1, 0) == NULL, "tril of a 1-D tensor", "nn_tril");
        seq_expect_error(ctx, nn_masked_fill(q, bmask, 0) == NULL, "masked_fill with a float mask (3, 6)", "nn_masked_fill");
        seq_expect_error(ctx, nn_timestep_embedding(q, 8, 10000) == NULL, "timestep_embedding of a 3-D t", "nn_timestep_embedding");
        nn_free(q); nn_free(bmask); nn_free(v1); nn_free(bm64);
    }
    {
        nn_module *pe = nn_positional_encoding_new(ctx, 8, 0, 4, 0);
        int64_t ps[3] = { 6, 2, 8 };
        CHECK(pe != NULL, "nn_positional_encoding_new: %s", ERRS(ctx));
        if (pe) {
            x = nn_randn(ctx, 3, ps);
            seq_expect_error(ctx, nn_forward(pe, x) == NULL, "PositionalEncoding max_len 4 on L 6",
                             "nn_positional_encoding|PositionalEncoding|nn_forward");
            nn_free(x);
        }
        nn_module_free(pe);
    }
    end();
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
}

/* ---- the timestep embedding at diffusion's step counts (t up to 999), against the double formula ---- */
static void test_seq_timestep_embedding(nn_ctx *ctx) {
    static const int64_t ts[5] = { 0, 1, 17, 500, 999 };
    int64_t n = 5, dims[2] = { 16, 9 };
    int di;
    begin("seq timestep_embedding: t up to 999 (int64 and float32), dim 16 and 9, against the double formula (abs 1e-4; PyTorch's float32 is off by 8.6e-6)");
    for (di = 0; di < 2; di++) {
        int64_t dim = dims[di], half = dim / 2, i, j;
        nn_tensor *t64 = nn_from_i64(ctx, 1, &n, ts), *t32 = nn_empty(ctx, 1, &n), *e64, *e32;
        double worst = 0;
        for (i = 0; i < n; i++) nn_f32(t32)[i] = (float)ts[i];
        e64 = nn_timestep_embedding(t64, dim, 10000);
        e32 = nn_timestep_embedding(t32, dim, 10000);
        CHECK(e64 && e32, "nn_timestep_embedding: %s", ERRS(ctx));
        if (e64 && e32) {
            CHECK(e64->ndim == 2 && e64->shape[0] == 5 && e64->shape[1] == dim, "shape (%lld, %lld)", (long long)e64->shape[0],
                  (long long)(e64->ndim > 1 ? e64->shape[1] : -1));
            for (i = 0; i < n && !g_case_failed; i++)
                for (j = 0; j < dim; j++) {
                    double f = exp(-log(10000.0) * (double)(j % half) / (double)half), a = (double)ts[i] * f;
                    double want = j >= 2 * half ? 0.0 : j < half ? cos(a) : sin(a);
                    double g1 = nn_f32(e64)[i * dim + j], g2 = nn_f32(e32)[i * dim + j];
                    worst = fmax(worst, fmax(fabs(g1 - want), fabs(g2 - want)));
                    CHECK(fabs(g1 - want) <= 1e-4 && fabs(g2 - want) <= 1e-4, "t %lld col %lld: want %.6f, int64 %.6f, float32 %.6f",
                          (long long)ts[i], (long long)j, want, g1, g2);
                    if (g_case_failed) break;
                }
        }
        if (!g_case_failed && getenv("NN_TEST_VERBOSE")) printf("  seq timestep_embedding dim %lld: worst abs error %.3g\n", (long long)dim, worst);
        nn_free(t64); nn_free(t32);
        nn_arena_reset(ctx);
    }
    CHECK(nn_error(ctx) == NULL, "unexpected error: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
}

/* ---- nn_sinusoidal_encoding against the double formula, even and odd d_model ---- */
static void test_seq_sinusoidal(nn_ctx *ctx) {
    static const int64_t ds[2] = { 16, 7 };
    int k;
    begin("seq sinusoidal_encoding: (max_len 50, d 16 and 7) against the double formula (abs 1e-5; PyTorch's float32 table is off by 5e-7)");
    for (k = 0; k < 2; k++) {
        int64_t d = ds[k], p, c;
        nn_tensor *pe = nn_sinusoidal_encoding(ctx, 50, d);
        CHECK(pe != NULL, "nn_sinusoidal_encoding: %s", ERRS(ctx));
        if (!pe) continue;
        CHECK(pe->ndim == 2 && pe->shape[0] == 50 && pe->shape[1] == d, "shape");
        for (p = 0; p < 50 && !g_case_failed; p++)
            for (c = 0; c < d; c++) {
                double a = (double)p / pow(10000.0, (double)(c - c % 2) / (double)d), want = c % 2 ? cos(a) : sin(a);
                CHECK(fabs(nn_f32(pe)[p * d + c] - want) <= 1e-5, "pe[%lld, %lld] (d %lld): want %.7f, got %.7f", (long long)p,
                      (long long)c, (long long)d, want, nn_f32(pe)[p * d + c]);
                if (g_case_failed) break;
            }
        nn_free(pe);
    }
    end();
}

/* ---- DDPM: schedules, q(x_t | x_0), a reverse step at t = 0, against tests/fixtures/seq/ddpm_expect ---- */
static void seq_compare_sched(const char *what, const nn_tensor *got, nn_safetensors *ex, const char *key, double rtol) {
    nn_tensor *w = nn_safetensors_get(ex, key);
    double worst = 0;
    seq_compare(what, got, w, rtol, &worst);
    if (getenv("NN_TEST_VERBOSE")) printf("  seq ddpm %-22s worst relative error %.2g\n", what, worst);
    nn_free(w);
}

static void test_seq_ddpm(nn_ctx *ctx) {
    nn_safetensors *ex = nn_safetensors_open(ctx, SEQ_DIR "ddpm_expect.safetensors");
    nn_ddpm *lin = NULL, *cs = NULL;
    begin("seq DDPM: linear and cosine schedules (T 1000, relative 1e-4), add_noise, step at t = 0");
    CHECK(ex != NULL, "cannot open ddpm_expect: %s", ERRS(ctx));
    if (ex) {
        lin = nn_ddpm_new(ctx, 1000, NN_BETA_LINEAR, 1e-4f, 0.02f);
        cs = nn_ddpm_new(ctx, 1000, NN_BETA_COSINE, 0, 0);
        CHECK(lin && cs, "nn_ddpm_new: %s", ERRS(ctx));
    }
    if (lin && cs) {
        nn_tensor *x0 = nn_safetensors_get(ex, "x0"), *noise = nn_safetensors_get(ex, "noise"), *t = nn_safetensors_get(ex, "t");
        nn_tensor *xt = nn_safetensors_get(ex, "x_t"), *eps = nn_safetensors_get(ex, "eps"), *y;
        int64_t i, ok = 1;
        seq_compare_sched("linear betas", lin->betas, ex, "linear.betas", 1e-5);
        seq_compare_sched("linear alphas_cumprod", lin->alphas_cumprod, ex, "linear.alphas_cumprod", 1e-4);
        seq_compare_sched("cosine betas", cs->betas, ex, "cosine.betas", 1e-4);
        seq_compare_sched("cosine alphas_cumprod", cs->alphas_cumprod, ex, "cosine.alphas_cumprod", 1e-4);
        for (i = 0; i < 1000; i++) ok &= fabsf(nn_f32(lin->alphas)[i] - (1.0f - nn_f32(lin->betas)[i])) <= 1e-7f;
        CHECK(ok, "alphas is not 1 - betas");
        y = nn_ddpm_add_noise(lin, x0, noise, t);
        seq_compare_sched("add_noise", y, ex, "add_noise", 1e-4);
        y = nn_ddpm_step(lin, eps, 0, xt);
        seq_compare_sched("step at t = 0", y, ex, "step0", 1e-4);
        nn_free(x0); nn_free(noise); nn_free(t); nn_free(xt); nn_free(eps);
    }
    nn_arena_reset(ctx);
    nn_ddpm_free(lin);
    nn_ddpm_free(cs);
    if (ex) nn_safetensors_close(ex);
    CHECK(nn_error(ctx) == NULL, "unexpected error: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
}

/* ---- nn_sample_logits: top_k 1 is the argmax; top_k 2 draws only the two largest, in softmax(logits / T) proportions ---- */
static void test_seq_sample_logits(nn_ctx *ctx) {
    static const float row[4] = { 1.0f, 2.0f, 0.5f, -1.0f };
    int64_t s3[2] = { 3, 5 }, sn[2] = { 4000, 4 }, i, counts[4] = { 0 };
    nn_tensor *a = nn_randn(ctx, 2, s3), *b = nn_empty(ctx, 2, sn), *y;
    double p1;
    begin("seq sample_logits: top_k 1 = argmax, (N, 1) int64; top_k 2 at temperature 0.5 draws 1 and 0 in softmax's proportions");
    y = nn_sample_logits(a, 0.7f, 1);
    CHECK(y && y->dtype == NN_INT64 && y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 1, "top_k 1: %s", ERRS(ctx));
    if (y && y->dtype == NN_INT64) {
        nn_tensor *am = nn_argmax(a, 1, 0);
        for (i = 0; i < 3; i++) CHECK(nn_i64(y)[i] == nn_i64(am)[i], "row %lld: drew %lld, argmax %lld", (long long)i,
                                      (long long)nn_i64(y)[i], (long long)nn_i64(am)[i]);
    }
    for (i = 0; i < 4000 * 4; i++) nn_f32(b)[i] = row[i % 4];
    y = nn_sample_logits(b, 0.5f, 2);
    CHECK(y && y->dtype == NN_INT64 && y->numel == 4000, "top_k 2: %s", ERRS(ctx));
    if (y && y->dtype == NN_INT64) {
        for (i = 0; i < 4000; i++) if (nn_i64(y)[i] >= 0 && nn_i64(y)[i] < 4) counts[nn_i64(y)[i]]++;
        p1 = 1.0 / (1.0 + exp(-2.0));   /* softmax([2, 1] / 0.5)[0] */
        CHECK(counts[2] == 0 && counts[3] == 0, "drew outside the top 2: %lld, %lld", (long long)counts[2], (long long)counts[3]);
        CHECK(fabs(counts[1] / 4000.0 - p1) < 0.03, "index 1 drawn %.3f of the time, expected %.3f", counts[1] / 4000.0, p1);
    }
    y = nn_sample_logits(a, 0.0f, 0);
    CHECK(y == NULL && nn_error(ctx) && strstr(nn_error(ctx), "nn_sample_logits"), "temperature 0 was not refused by name: %s", ERRS(ctx));
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
    nn_free(a); nn_free(b);
    end();
}

/* ---- regressions from the review of issue 9 ---- */
static void test_seq_review_regressions(nn_ctx *ctx) {
    begin("seq: topk smallest puts NaN last; stale unbatched masks and states are refused; LSTM h0 needs c0");
    {   /* torch.topk([1, nan, 0, 2], 2, largest=False) is [0, 1] at [2, 0]; largest: [nan, 2] at [1, 3] */
        float v[4] = { 1.0f, NAN, 0.0f, 2.0f }; int64_t n = 4; nn_tensor *x = nn_from_array(ctx, 1, &n, v), *i = NULL, *t;
        t = nn_topk(x, 2, 0, 0, &i);
        CHECK(t && i && nn_f32(t)[0] == 0.0f && nn_f32(t)[1] == 1.0f && nn_i64(i)[0] == 2 && nn_i64(i)[1] == 0,
              "topk smallest of [1, nan, 0, 2]: got %g %g", t ? nn_f32(t)[0] : -1.0, t ? nn_f32(t)[1] : -1.0);
        t = nn_topk(x, 2, 0, 1, &i);
        CHECK(t && i && nn_f32(t)[0] != nn_f32(t)[0] && nn_f32(t)[1] == 2.0f && nn_i64(i)[0] == 1 && nn_i64(i)[1] == 3,
              "topk largest of [1, nan, 0, 2]: got %g %g", t ? nn_f32(t)[0] : -1.0, t ? nn_f32(t)[1] : -1.0);
        nn_free(x);
        nn_arena_reset(ctx);
    }
    {   /* an unbatched MultiheadAttention with a key_padding_mask made before the reset */
        int64_t qs[2] = { 3, 8 }, ms[1] = { 3 }; nn_tensor *q = nn_randn(ctx, 2, qs), *in[4], *out[2] = { NULL, NULL };
        nn_module *mha = nn_multihead_attention_new(ctx, 8, 2, nn_mha_opts_default());
        nn_tensor *z = nn_zeros(ctx, 1, ms), *stale = nn_to_dtype(z, NN_INT64);   /* nn_to_dtype's copy is an op result */
        nn_arena_reset(ctx);
        in[0] = in[1] = in[2] = q; in[3] = stale;
        seq_expect_error(ctx, nn_forward_n(mha, in, 4, out, 2) < 0, "unbatched MHA with a stale key_padding_mask",
                         "MultiheadAttention");
        nn_module_free(mha);
        nn_free(q); nn_free(z);
    }
    {   /* a GRU on a 2-D input with a stale h0; an LSTM with h0 and no c0 */
        int64_t xs[2] = { 4, 3 }, hs[2] = { 1, 5 }, hb[3] = { 1, 2, 5 }, x3[3] = { 4, 2, 3 };
        nn_module *gru = nn_gru_new(ctx, 3, 5, nn_rnn_opts_default()), *lstm = nn_lstm_new(ctx, 3, 5, nn_rnn_opts_default());
        nn_tensor *x = nn_randn(ctx, 2, xs), *xb = nn_randn(ctx, 3, x3), *h = nn_zeros(ctx, 3, hb), *in[3], *out[3];
        nn_tensor *h1 = nn_randn(ctx, 2, hs), *stale = nn_clone(h1);   /* an op result: gone at the reset */
        nn_arena_reset(ctx);
        in[0] = x; in[1] = stale;
        seq_expect_error(ctx, nn_forward_n(gru, in, 2, out, 2) < 0, "unbatched GRU with a stale h0", "GRU");
        nn_free(h1);
        in[0] = xb; in[1] = h; in[2] = NULL;
        seq_expect_error(ctx, nn_forward_n(lstm, in, 3, out, 3) < 0, "LSTM with h0 and no c0", "LSTM");
        nn_module_free(gru); nn_module_free(lstm);
        nn_free(x); nn_free(xb); nn_free(h);
    }
    end();
}
