/* ==== losses ==== */

static nn_tensor *nn__reduce_loss(nn_tensor *l, nn_reduction r) {
    if (r == NN_SUM) return nn_sum(l, NN_ALL, 0);
    if (r == NN_NONE) return l;
    return nn_mean(l, NN_ALL, 0);
}
static int nn__loss_pair(const char *fn, nn_tensor *a, nn_tensor *b) {
    static const char *names[] = { "input", "target" };
    nn_tensor *xs[2]; char s1[128], s2[128];
    xs[0] = a; xs[1] = b;
    if (!nn__check_inputs(fn, xs, names, 2)) return 0;
    if (!nn__same_shape(a, b)) {
        nn__err(a->ctx, "%s: input is %s and target is %s; they must have the same shape", fn, NN__SHAPE(a, s1), NN__SHAPE(b, s2));
        return 0;
    }
    return 1;
}
/* a constant arena tensor (no graph) */
static nn_tensor *nn__const(nn_ctx *ctx, const char *fn, int nd, const int64_t *shape) { return nn__new_arena(ctx, fn, nd, shape, 1); }

NN_API nn_tensor *nn_mse_loss(nn_tensor *input, nn_tensor *target, nn_reduction r) {
    if (!nn__loss_pair("nn_mse_loss", input, target)) return NULL;
    return nn__reduce_loss(nn_pow_scalar(nn_sub(input, target), 2.0f), r);
}
NN_API nn_tensor *nn_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r) {
    if (!nn__loss_pair("nn_l1_loss", input, target)) return NULL;
    return nn__reduce_loss(nn_abs(nn_sub(input, target)), r);
}
/* smooth L1 (beta) and Huber (delta): quadratic inside the threshold, linear outside */
static nn_tensor *nn__huber(const char *fn, nn_tensor *input, nn_tensor *target, nn_reduction r, float t, int smooth) {
    nn_tensor *d, *ad, *inside, *quad, *lin; int64_t i;
    if (!nn__loss_pair(fn, input, target)) return NULL;
    if (!(t >= 0.0f)) { nn__err(input->ctx, "%s: the threshold is %g; it must be >= 0", fn, t); return NULL; }
    d = nn_sub(input, target);
    ad = nn_abs(d);
    if (!ad) return NULL;
    inside = nn__const(input->ctx, fn, ad->ndim, ad->shape);
    if (!inside) return NULL;
    for (i = 0; i < ad->numel; i++) NN__F32(inside)[i] = NN__F32(ad)[i] < t ? 1.0f : 0.0f;
    if (smooth) {   /* 0.5 d^2 / beta, |d| - 0.5 beta */
        if (t == 0.0f) return nn__reduce_loss(ad, r);
        quad = nn_div_scalar(nn_mul_scalar(nn_pow_scalar(d, 2.0f), 0.5f), t);
        lin = nn_sub_scalar(ad, 0.5f * t);
    } else {        /* 0.5 d^2, delta (|d| - 0.5 delta) */
        quad = nn_mul_scalar(nn_pow_scalar(d, 2.0f), 0.5f);
        lin = nn_mul_scalar(nn_sub_scalar(ad, 0.5f * t), t);
    }
    return nn__reduce_loss(nn_where(inside, quad, lin), r);
}
NN_API nn_tensor *nn_smooth_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float beta) { return nn__huber("nn_smooth_l1_loss", input, target, r, beta, 1); }
NN_API nn_tensor *nn_huber_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float delta) { return nn__huber("nn_huber_loss", input, target, r, delta, 0); }

/* NLL over log-probabilities (N, C) with class targets (N); label smoothing as PyTorch:
   loss_i = (1 - e) w[t_i] (-logp[i, t_i]) + e / C * sum_c w_c (-logp[i, c]); mean divides by sum_i w[t_i]. */
static nn_tensor *nn__nll(const char *fn, nn_tensor *logp, nn_tensor *target, nn_cross_entropy_opts o) {
    nn_ctx *ctx = logp->ctx;
    int64_t N = logp->shape[0], C = logp->shape[1], i, col[2];
    nn_tensor *idx, *wt, *picked, *loss, *wsum;
    double total_w = 0;
    col[0] = N; col[1] = 1;
    idx = nn__const(ctx, fn, 2, col);
    wt = nn__const(ctx, fn, 1, &N);
    if (!idx || !wt) return NULL;
    for (i = 0; i < N; i++) {
        float t = NN__F32(target)[i]; int64_t k;
        if (o.use_ignore_index && t == (float)o.ignore_index) { NN__F32(idx)[i] = 0; NN__F32(wt)[i] = 0; continue; }
        if (!nn__index_at(ctx, fn, t, C, &k) || t < 0) {
            if (t < 0) nn__err(ctx, "%s: target %g at position %lld is not a class in [0, %lld)", fn, t, (long long)i, (long long)C);
            return NULL;
        }
        NN__F32(idx)[i] = (float)k;
        NN__F32(wt)[i] = o.weight ? NN__F32(o.weight)[k] : 1.0f;
        total_w += NN__F32(wt)[i];
    }
    picked = nn_reshape(nn_gather(logp, 1, idx), 1, &N);                 /* logp[i, t_i] (N) */
    loss = nn_neg(nn_mul(picked, wt));
    if (o.label_smoothing > 0.0f) {
        nn_tensor *rowmask = nn__const(ctx, fn, 1, &N), *smooth, *wrow = o.weight;
        if (!rowmask) return NULL;
        for (i = 0; i < N; i++) NN__F32(rowmask)[i] = (o.use_ignore_index && NN__F32(target)[i] == (float)o.ignore_index) ? 0.0f : 1.0f;
        smooth = wrow ? nn_sum(nn_mul(logp, wrow), 1, 0) : nn_sum(logp, 1, 0);
        smooth = nn_neg(nn_mul(smooth, rowmask));
        loss = nn_add(nn_mul_scalar(loss, 1.0f - o.label_smoothing), nn_mul_scalar(smooth, o.label_smoothing / (float)C));
    }
    if (o.reduction == NN_NONE) return loss;
    if (o.reduction == NN_SUM) return nn_sum(loss, NN_ALL, 0);
    wsum = nn_sum(loss, NN_ALL, 0);
    return nn_div_scalar(wsum, (float)total_w);    /* total_w 0 (all ignored) gives NaN, as PyTorch */
}

/* (N, C, d...) -> (N*d..., C) and (N, d...) -> (N*d...), or (N, C) as is */
static nn_tensor *nn__class_loss(const char *fn, nn_tensor *x, nn_tensor *target, nn_cross_entropy_opts o, int from_logits) {
    static const char *names[] = { "input", "target" };
    nn_tensor *xs[2], *logp, *flat_t; int d, perm[NN_MAX_DIMS]; int64_t C, rows, sh[2]; char s1[128], s2[128];
    xs[0] = x; xs[1] = target;
    if (!nn__check_inputs(fn, xs, names, 2)) return NULL;
    if (x->ndim < 1 || target->ndim != (x->ndim >= 2 ? x->ndim - 1 : 0)) goto bad;
    if (x->ndim == 1) { x = nn_unsqueeze(x, 0); sh[0] = 1; target = nn_reshape(target, 1, sh); }
    for (d = 0; d < target->ndim; d++) if (target->shape[d] != x->shape[d == 0 ? 0 : d + 1]) goto bad;
    C = x->shape[1];
    if (o.weight && o.weight->numel != C) { nn__err(x->ctx, "%s: weight is %s; expected (%lld,) for %lld classes", fn, NN__SHAPE(o.weight, s1), (long long)C, (long long)C); return NULL; }
    if (o.label_smoothing < 0.0f || o.label_smoothing > 1.0f) { nn__err(x->ctx, "%s: label_smoothing %g must be in [0, 1]", fn, o.label_smoothing); return NULL; }
    if (!from_logits && o.label_smoothing != 0.0f) { nn__err(x->ctx, "%s: label_smoothing is for cross entropy", fn); return NULL; }
    if (x->ndim > 2) {   /* move the class dim last */
        perm[0] = 0;
        for (d = 1; d < x->ndim - 1; d++) perm[d] = d + 1;
        perm[x->ndim - 1] = 1;
        x = nn_permute(x, perm);
    }
    rows = x ? x->numel / (C ? C : 1) : 0;
    sh[0] = rows; sh[1] = C;
    x = nn_reshape(x, 2, sh);
    flat_t = nn_contiguous(nn_reshape(target, 1, &rows));
    if (!x || !flat_t) return NULL;
    logp = from_logits ? nn_log_softmax(x, 1) : x;
    if (!logp) return NULL;
    {
        nn_tensor *l = nn__nll(fn, logp, flat_t, o);
        if (o.reduction == NN_NONE && l && target->ndim != 1) return nn_reshape(l, target->ndim, target->shape);
        return l;
    }
bad:
    nn__err(x->ctx, "%s: input is %s and target is %s; expected (N, C) with (N), or (N, C, d...) with (N, d...)", fn, NN__SHAPE(xs[0], s1), NN__SHAPE(xs[1], s2));
    return NULL;
}
NN_API nn_tensor *nn_cross_entropy(nn_tensor *logits, nn_tensor *target, nn_cross_entropy_opts o) { return nn__class_loss("nn_cross_entropy", logits, target, o, 1); }
NN_API nn_tensor *nn_nll_loss(nn_tensor *log_probs, nn_tensor *target, nn_cross_entropy_opts o) { return nn__class_loss("nn_nll_loss", log_probs, target, o, 0); }

NN_API nn_tensor *nn_bce_loss(nn_tensor *p, nn_tensor *target, nn_tensor *weight, nn_reduction r) {
    nn_tensor *l; int64_t i;
    if (!nn__loss_pair("nn_bce_loss", p, target)) return NULL;
    for (i = 0; i < p->numel; i++) if (!(NN__F32(p)[i] >= 0.0f && NN__F32(p)[i] <= 1.0f)) {
        nn__err(p->ctx, "nn_bce_loss: input %g at position %lld is not a probability in [0, 1]; use nn_bce_with_logits for logits", NN__F32(p)[i], (long long)i);
        return NULL;
    }
    /* -(t log p + (1 - t) log(1 - p)), each log clamped at -100 as PyTorch */
    l = nn_neg(nn_add(nn_mul(target, nn_clamp(nn_log(p), -100.0f, INFINITY)),
                      nn_mul(nn_sub_scalar(nn_neg(target), -1.0f), nn_clamp(nn_log(nn_sub_scalar(nn_neg(p), -1.0f)), -100.0f, INFINITY))));
    if (weight) l = nn_mul(l, weight);
    return nn__reduce_loss(l, r);
}

NN_API nn_tensor *nn_bce_with_logits(nn_tensor *logits, nn_tensor *target, nn_tensor *pos_weight, nn_reduction r) {
    nn_tensor *xs[3], *y; char s1[128], s2[128];
    if (!nn__loss_pair("nn_bce_with_logits", logits, target)) return NULL;
    if (pos_weight && (pos_weight->numel != (logits->ndim ? logits->shape[logits->ndim - 1] : 1))) {
        nn__err(logits->ctx, "nn_bce_with_logits: pos_weight is %s and logits are %s; pos_weight needs one value per class (last dim)",
                NN__SHAPE(pos_weight, s1), NN__SHAPE(logits, s2));
        return NULL;
    }
    xs[0] = nn__contig_input(logits); xs[1] = nn__contig_input(target); xs[2] = pos_weight ? nn__contig_input(pos_weight) : NULL;
    if (!xs[0] || !xs[1] || (pos_weight && !xs[2])) return NULL;
    y = nn__node(NN_OP_BCE_WITH_LOGITS, "nn_bce_with_logits", logits->ndim, logits->shape, xs, 3, 1);
    if (!y) return NULL;
    nn__bce_logits_forward(y);
    return nn__reduce_loss(y, r);
}

