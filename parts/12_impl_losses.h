/* ==== losses ==== */
/* Front ends only: the loss kernels (bce, huber, nll, bce_with_logits) are ops, in the ops section. */

static int nn__check_reduction(nn_ctx *ctx, const char *fn, nn_reduction r) {
    if ((int)r == NN_MEAN || (int)r == NN_SUM || (int)r == NN_NONE) return 1;
    nn__err(ctx, "%s: reduction is %d; expected NN_MEAN, NN_SUM or NN_NONE", fn, (int)r);
    return 0;
}
static nn_tensor *nn__reduce_loss(nn_tensor *l, nn_reduction r) {
    if (r == NN_SUM) return nn_sum(l, NN_ALL, 0);
    if (r == NN_NONE) return l;
    return nn_mean(l, NN_ALL, 0);
}
static int nn__loss_pair(const char *fn, nn_tensor *a, nn_tensor *b, nn_reduction r) {
    static const char *names[] = { "input", "target" };
    nn_tensor *xs[2]; char s1[128], s2[128];
    xs[0] = a; xs[1] = b;
    if (!nn__check_inputs(fn, xs, names, 2)) return 0;
    if (!nn__check_reduction(a->ctx, fn, r)) return 0;
    if (!nn__same_shape(a, b)) {
        nn__err(a->ctx, "%s: input is %s and target is %s; they must have the same shape", fn, NN__SHAPE(a, s1), NN__SHAPE(b, s2));
        return 0;
    }
    return 1;
}

NN_API nn_tensor *nn_mse_loss(nn_tensor *input, nn_tensor *target, nn_reduction r) {
    if (!nn__loss_pair("nn_mse_loss", input, target, r)) return NULL;
    return nn__reduce_loss(nn_pow_scalar(nn_sub(input, target), 2.0f), r);
}
NN_API nn_tensor *nn_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r) {
    if (!nn__loss_pair("nn_l1_loss", input, target, r)) return NULL;
    return nn__reduce_loss(nn_abs(nn_sub(input, target)), r);
}
/* smooth L1 (beta) and Huber (delta): quadratic inside the threshold, linear outside */
static nn_tensor *nn__huber(const char *fn, nn_tensor *input, nn_tensor *target, nn_reduction r, float t, int smooth) {
    nn_tensor *xs[2], *y;
    if (!nn__loss_pair(fn, input, target, r)) return NULL;
    if (!(t >= 0.0f) || t == INFINITY) { nn__err(input->ctx, "%s: %s is %g; it must be >= 0 and finite", fn, smooth ? "beta" : "delta", t); return NULL; }
    if (!smooth && t == 0.0f) { nn__err(input->ctx, "%s: delta is 0; it must be > 0", fn); return NULL; }
    if (smooth && t == 0.0f) return nn_l1_loss(input, target, r);   /* PyTorch: beta 0 is L1 */
    if (!(xs[0] = nn__contig_input(input)) || !(xs[1] = nn__contig_input(target))) return NULL;
    y = nn__node(NN_OP_HUBER, fn, input->ndim, input->shape, xs, 2, 1);
    if (!y) return NULL;
    y->fp[0] = t; y->ip[0] = smooth;
    return nn__forward(y) ? nn__reduce_loss(y, r) : NULL;
}
NN_API nn_tensor *nn_smooth_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float beta) { return nn__huber("nn_smooth_l1_loss", input, target, r, beta, 1); }
NN_API nn_tensor *nn_huber_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float delta) { return nn__huber("nn_huber_loss", input, target, r, delta, 0); }

NN_API nn_cross_entropy_opts nn_cross_entropy_opts_default(void) {
    nn_cross_entropy_opts o;
    o.weight = NULL; o.ignore_index = -100; o.reduction = NN_MEAN; o.label_smoothing = 0.0f;
    return o;
}

/* logp (R, C), target (R) int64: the nll op, reduced as o.reduction says */
static nn_tensor *nn__nll(const char *fn, nn_tensor *logp, nn_tensor *target, nn_cross_entropy_opts o) {
    nn_tensor *xs[3], *y; int64_t R = logp->shape[0];
    xs[0] = logp; xs[1] = target; xs[2] = o.weight;
    y = nn__node(NN_OP_NLL_LOSS, fn, o.reduction == NN_NONE ? 1 : 0, &R, xs, o.weight ? 3 : 2, 1);
    if (!y) return NULL;
    y->saved = nn__arena_alloc(logp->ctx, 2 * sizeof(double));
    if (!y->saved) { nn__err(logp->ctx, "%s: out of memory", fn); return NULL; }
    y->ip[0] = o.reduction; y->ip[1] = o.ignore_index; y->fp[0] = o.label_smoothing;
    return nn__forward(y) ? y : NULL;
}

/* (N, C, d...) -> (N*d..., C) and (N, d...) -> (N*d...), or (N, C) as is */
static nn_tensor *nn__class_loss(const char *fn, nn_tensor *x, nn_tensor *target, nn_cross_entropy_opts o, int from_logits) {
    static const char *names[] = { "input" };
    nn_tensor *logp, *flat_t, *in = x, *tg = target; int d, perm[NN_MAX_DIMS]; int64_t C, rows, sh[2]; char s1[128], s2[128];
    if (!nn__check_inputs(fn, &x, names, 1) || !nn__check_index(fn, x, target, "target")) return NULL;
    if (!nn__check_reduction(x->ctx, fn, o.reduction)) return NULL;
    if (x->ndim < 1 || target->ndim != (x->ndim >= 2 ? x->ndim - 1 : 0)) goto bad;
    if (x->ndim == 1) { x = nn_unsqueeze(x, 0); sh[0] = 1; target = nn_reshape(target, 1, sh); if (!x || !target) return NULL; }
    for (d = 0; d < target->ndim; d++) if (target->shape[d] != x->shape[d == 0 ? 0 : d + 1]) goto bad;
    C = x->shape[1];
    if (o.weight) {
        if (!nn__check_inputs(fn, &o.weight, names, 1)) return NULL;
        if (o.weight->numel != C) { nn__err(x->ctx, "%s: weight is %s; expected (%lld,) for %lld classes", fn, NN__SHAPE(o.weight, s1), (long long)C, (long long)C); return NULL; }
        if (!(o.weight = nn__contig_input(o.weight))) return NULL;
    }
    if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f)) { nn__err(x->ctx, "%s: label_smoothing %g must be in [0, 1]", fn, o.label_smoothing); return NULL; }
    if (!from_logits && o.label_smoothing != 0.0f) { nn__err(x->ctx, "%s: label_smoothing is for cross entropy", fn); return NULL; }
    if (x->ndim > 2) {   /* move the class dim last */
        perm[0] = 0;
        for (d = 1; d < x->ndim - 1; d++) perm[d] = d + 1;
        perm[x->ndim - 1] = 1;
        x = nn_permute(x, perm);
    }
    rows = x ? x->numel / (C ? C : 1) : 0;
    sh[0] = rows; sh[1] = C;
    x = nn_contiguous(nn_reshape(x, 2, sh));
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
    nn__err(x->ctx, "%s: input is %s and target is %s; expected (N, C) with (N), or (N, C, d...) with (N, d...)", fn, NN__SHAPE(in, s1), NN__SHAPE(tg, s2));
    return NULL;
}
NN_API nn_tensor *nn_cross_entropy(nn_tensor *logits, nn_tensor *target, nn_cross_entropy_opts o) { return nn__class_loss("nn_cross_entropy", logits, target, o, 1); }
NN_API nn_tensor *nn_nll_loss(nn_tensor *log_probs, nn_tensor *target, nn_cross_entropy_opts o) { return nn__class_loss("nn_nll_loss", log_probs, target, o, 0); }

NN_API nn_tensor *nn_bce_loss(nn_tensor *p, nn_tensor *target, nn_tensor *weight, nn_reduction r) {
    nn_tensor *xs[2], *l;
    if (!nn__loss_pair("nn_bce_loss", p, target, r)) return NULL;
    if (!(xs[0] = nn__contig_input(p)) || !(xs[1] = nn__contig_input(target))) return NULL;
    l = nn__node(NN_OP_BCE, "nn_bce_loss", p->ndim, p->shape, xs, 2, 1);
    if (!l || !nn__forward(l)) return NULL;
    if (weight) l = nn_mul(l, weight);
    return nn__reduce_loss(l, r);
}

NN_API nn_tensor *nn_bce_with_logits(nn_tensor *logits, nn_tensor *target, nn_tensor *weight, nn_reduction r, nn_tensor *pos_weight) {
    nn_tensor *xs[3], *y; char s1[128], s2[128];
    if (!nn__loss_pair("nn_bce_with_logits", logits, target, r)) return NULL;
    if (pos_weight && (pos_weight->dtype != NN_FLOAT32 || pos_weight->numel != (logits->ndim ? logits->shape[logits->ndim - 1] : 1))) {
        nn__err(logits->ctx, "nn_bce_with_logits: pos_weight is %s %s and logits are %s; pos_weight needs one float per class (last dim)",
                nn_dtype_name(pos_weight->dtype), NN__SHAPE(pos_weight, s1), NN__SHAPE(logits, s2));
        return NULL;
    }
    xs[0] = nn__contig_input(logits); xs[1] = nn__contig_input(target); xs[2] = pos_weight ? nn__contig_input(pos_weight) : NULL;
    if (!xs[0] || !xs[1] || (pos_weight && !xs[2])) return NULL;
    y = nn__node(NN_OP_BCE_WITH_LOGITS, "nn_bce_with_logits", logits->ndim, logits->shape, xs, 3, 1);
    if (!y || !nn__forward(y)) return NULL;
    if (weight) y = nn_mul(y, weight);
    return nn__reduce_loss(y, r);
}

