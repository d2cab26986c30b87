/* ==== autograd engine ==== */

/* Nodes reachable from t through inputs that require grad, inputs first.
   Iterative depth-first search; visit marks avoid a hash set. */
static nn_tensor **nn__topo(nn_tensor *t, int64_t *count) {
    nn_ctx *ctx = t->ctx;
    int64_t cap = ctx->n_nodes + 2, n = 0, sp = 0;
    nn_tensor **order = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)cap * 2 * sizeof(nn_tensor *)));
    int *next = NN__CAST(int *, nn__arena_alloc(ctx, (size_t)cap * sizeof(int)));
    nn_tensor **stack;
    unsigned epoch = ++ctx->visit_epoch;
    if (!order || !next) return NULL;
    stack = order + cap;
    stack[sp] = t; next[sp++] = 0; t->visit = epoch;
    while (sp > 0) {
        nn_tensor *u = stack[sp - 1];
        if (next[sp - 1] < u->nsrc) {
            nn_tensor *v = u->src[next[sp - 1]++];
            if (v && v->requires_grad && v->visit != epoch && sp < cap) {
                v->visit = epoch;
                stack[sp] = v; next[sp++] = 0;
            }
        } else {
            order[n++] = u;
            sp--;
        }
    }
    *count = n;
    return order;
}

/* The gradient of t, zeroed when new: persistent for your tensors (kept across steps), from the
   arena for other leaves, and from the step's gradient pool for intermediate results. */
static int nn__ensure_grad(nn_tensor *t) {
    nn_tensor *g;
    if (t->grad) return 1;
    if (t->flags & NN__PERSISTENT) g = nn__new_persistent(t->ctx, "nn_backward", t->ndim, t->shape);
    else if (t->op == NN_OP_LEAF || (t->flags & NN__RETAIN_GRAD)) g = nn__new_arena(t->ctx, "nn_backward", t->ndim, t->shape, 1);
    else {
        g = nn__new_arena(t->ctx, "nn_backward", t->ndim, t->shape, 0);
        if (g) g->data = nn__grad_take(t->ctx, (size_t)(t->numel ? t->numel : 1) * sizeof(float));
        if (g && !g->data) g = NULL;
        if (g) { g->storage->ptr = g->data; g->storage->bytes = (size_t)t->numel * sizeof(float); g->storage->owner = NN_OWNER_ARENA; }
    }
    if (!g) return 0;
    memset(g->data, 0, (size_t)t->numel * sizeof(float));
    t->grad = g;
    return 1;
}

/* After u's backward nothing adds to u's gradient again: give it back unless retain_grad. */
static void nn__release_grad(nn_tensor *u) {
    if (u->op == NN_OP_LEAF || (u->flags & NN__RETAIN_GRAD) || !u->grad) return;
    nn__grad_give(u->ctx, u->grad->data, (size_t)(u->numel ? u->numel : 1) * sizeof(float));
    u->grad = NULL;
}

static int nn__backward_check(nn_tensor *t, nn_tensor *grad) {
    char s1[128], s2[128];
    if (nn__stale(t)) { nn__err(t->ctx, "nn_backward: the tensor was made before the last nn_arena_reset and no longer exists"); return 0; }
    if (!t->requires_grad) {
        nn__err(t->ctx, "nn_backward: the tensor %s does not require grad and has no grad history", NN__SHAPE(t, s1));
        return 0;
    }
    if (!grad && t->numel != 1) {
        nn__err(t->ctx, "nn_backward: the tensor is %s; a gradient can be implied only for one-element outputs, so pass grad", NN__SHAPE(t, s1));
        return 0;
    }
    if (grad && (grad->numel != t->numel || grad->dtype != NN_FLOAT32 || nn__stale(grad))) {
        nn__err(t->ctx, "nn_backward: grad is %s (%s) and the tensor is %s; grad must be float32 of the same shape",
                NN__SHAPE(grad, s2), nn_dtype_name(grad->dtype), NN__SHAPE(t, s1));
        return 0;
    }
    return 1;
}

NN_API int nn_backward(nn_tensor *t, nn_tensor *grad, int retain_graph) {
    nn_tensor **order; int64_t n, i; int k;
    if (!t) return 0;
    if (!nn__backward_check(t, grad)) return 0;
    order = nn__topo(t, &n);
    if (!order) { nn__err(t->ctx, "nn_backward: out of memory"); return 0; }
    for (i = 0; i < n; i++) if (order[i]->flags & NN__GRAPH_FREED) {
        nn__err(t->ctx, "nn_backward: trying to backward through the graph a second time (its %s node was used by an "
                "earlier backward); pass retain_graph = 1 to the first nn_backward if you need to", nn_op_name(order[i]->op));
        return 0;
    }
    if (!nn__ensure_grad(t)) { nn__err(t->ctx, "nn_backward: out of memory"); return 0; }
    if (grad) {
        float *g = NN__F32(t->grad);
        nn__walk w;
        nn__walk_init(&w, grad->ndim, grad->shape, grad->stride, NULL, NULL);
        for (i = 0; i < t->numel; i++, nn__walk_next(&w)) g[i] += NN__F32(grad)[w.off[0]];
    } else NN__F32(t->grad)[0] += 1.0f;
    for (i = n - 1; i >= 0; i--) {     /* every consumer of a node runs before the node */
        nn_tensor *u = order[i];
        if (u->op == NN_OP_LEAF) continue;
        for (k = 0; k < u->nsrc; k++) {
            nn_tensor *v = u->src[k];
            if (v && v->requires_grad && !nn__ensure_grad(v)) { nn__err(t->ctx, "nn_backward: out of memory"); return 0; }
        }
        if (!nn__backward_node(u)) return 0;
        nn__release_grad(u);
        if (!retain_graph) u->flags |= NN__GRAPH_FREED;
    }
    return 1;
}

NN_API nn_tensor *nn_retain_grad(nn_tensor *t) {
    if (t && t->op != NN_OP_LEAF) t->flags |= NN__RETAIN_GRAD;
    return t;
}
NN_API void nn_zero_grad(nn_tensor *t) { if (t && t->grad) memset(t->grad->data, 0, (size_t)t->numel * sizeof(float)); }

/* Sum of y * v in double, v a fixed pattern. */
static double nn__probe(const nn_tensor *y, const float *v) {
    double s = 0; nn__walk w; int64_t i;
    nn__walk_init(&w, y->ndim, y->shape, y->stride, NULL, NULL);
    for (i = 0; i < y->numel; i++, nn__walk_next(&w)) s += (double)NN__F32(y)[w.off[0]] * v[i];
    return s;
}

NN_API int nn_gradcheck(nn_gradcheck_fn fn, void *user, nn_tensor **inputs, int n,
                        float eps, float atol, float rtol, double *max_err) {
    nn_ctx *ctx; nn__mark mark; nn_tensor *y, *vt; float *v; int k, ok = 1; int64_t i; double worst = 0;
    if (max_err) *max_err = 0;
    if (!fn || !inputs || n <= 0 || !inputs[0]) return 0;
    ctx = inputs[0]->ctx;
    for (k = 0; k < n; k++) {
        if (!inputs[k] || !(inputs[k]->flags & NN__PERSISTENT)) { nn__err(ctx, "nn_gradcheck: input %d must be a tensor you created", k); return 0; }
        nn_zero_grad(inputs[k]);
    }
    mark = nn__arena_mark(ctx);
    y = fn(inputs, user);
    if (!y) { nn__err(ctx, "nn_gradcheck: the function returned NULL"); nn__arena_rewind(ctx, mark); return 0; }
    vt = nn__new_arena(ctx, "nn_gradcheck", y->ndim, y->shape, 1);
    if (!vt) { nn__arena_rewind(ctx, mark); return 0; }
    v = NN__F32(vt);
    for (i = 0; i < y->numel; i++) v[i] = 0.5f + (float)((i * 7919) % 13) / 13.0f;   /* fixed weights */
    if (!y->requires_grad || !nn_backward(y, vt, 0)) { nn__err(ctx, "nn_gradcheck: the output does not depend on any input with requires_grad"); nn__arena_rewind(ctx, mark); return 0; }
    nn__arena_rewind(ctx, mark);
    for (k = 0; k < n; k++) {
        nn_tensor *x = inputs[k];
        if (!x->requires_grad || !x->grad) continue;
        for (i = 0; i < x->numel; i++) {
            float keep = NN__F32(x)[i]; double lp, lm, num, ana = NN__F32(x->grad)[i], err;
            NN__F32(x)[i] = keep + eps;
            y = fn(inputs, user);
            if (!y) { NN__F32(x)[i] = keep; nn__arena_rewind(ctx, mark); return 0; }
            vt = nn__new_arena(ctx, "nn_gradcheck", y->ndim, y->shape, 1);
            if (!vt) { NN__F32(x)[i] = keep; nn__arena_rewind(ctx, mark); return 0; }
            { int64_t j; for (j = 0; j < y->numel; j++) NN__F32(vt)[j] = 0.5f + (float)((j * 7919) % 13) / 13.0f; }
            lp = nn__probe(y, NN__F32(vt));
            NN__F32(x)[i] = keep - eps;
            y = fn(inputs, user);
            if (!y) { NN__F32(x)[i] = keep; nn__arena_rewind(ctx, mark); return 0; }
            lm = nn__probe(y, NN__F32(vt));
            NN__F32(x)[i] = keep;
            nn__arena_rewind(ctx, mark);
            num = (lp - lm) / (2.0 * eps);
            err = fabs(num - ana);
            if (err > worst) worst = err;
            if (err > atol + rtol * fabs(num)) ok = 0;
        }
    }
    if (max_err) *max_err = worst;
    return ok;
}

#ifndef NN_NO_STDIO
static double nn__value_at(const nn_tensor *t, int64_t off) {
    return t->dtype == NN_INT64 ? (double)NN__I64(t)[off] : (double)NN__F32(t)[off];
}
static void nn__dot_values(FILE *f, const char *what, const nn_tensor *t) {
    int64_t i, n = t->numel < 6 ? t->numel : 6;
    nn__walk w;
    fprintf(f, "%s", what);
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < n; i++, nn__walk_next(&w)) fprintf(f, "%s%.4g", i ? " " : "", nn__value_at(t, w.off[0]));
    if (t->numel > n) fprintf(f, " ...");
}

NN_API int nn_graph_dot(nn_tensor *t, const char *path) {
    nn_tensor **stack, **seen; int64_t sp = 0, ns = 0, cap; int k; FILE *f; unsigned epoch; char s[128];
    if (!t) return 0;
    if (!path) { nn__err(t->ctx, "nn_graph_dot: path is NULL"); return 0; }
    f = fopen(path, "w");
    if (!f) { nn__err(t->ctx, "nn_graph_dot: cannot open %s for writing", path); return 0; }
    cap = t->ctx->n_nodes + 64;
    stack = NN__CAST(nn_tensor **, nn__arena_alloc(t->ctx, (size_t)cap * 4 * sizeof(nn_tensor *)));
    if (!stack) { fclose(f); nn__err(t->ctx, "nn_graph_dot: out of memory"); return 0; }
    seen = stack + cap * 2;
    epoch = ++t->ctx->visit_epoch;
    fprintf(f, "digraph nn {\n  rankdir=LR;\n  node [shape=record, fontname=\"Helvetica\"];\n");
    stack[sp++] = t;
    t->visit = epoch;
    while (sp > 0) {
        nn_tensor *u = stack[--sp];
        seen[ns++] = u;
        fprintf(f, "  n%p [label=\"{%s%s%s | %s", (void *)u, u->name[0] ? u->name : "", u->name[0] ? " = " : "",
                u->op == NN_OP_LEAF ? "leaf" : nn_op_name(u->op), NN__SHAPE(u, s));
        if (u->numel <= 64) nn__dot_values(f, " | data ", u);
        if (u->grad && u->numel <= 64) nn__dot_values(f, " | grad ", u->grad);
        fprintf(f, "}\"%s];\n", u->requires_grad ? "" : ", style=dashed");
        for (k = 0; k < u->nsrc; k++) {
            nn_tensor *v = u->src[k];
            if (!v) continue;
            fprintf(f, "  n%p -> n%p;\n", (void *)v, (void *)u);
            if (v->visit != epoch && sp < cap * 2 && ns + sp < cap * 2) { v->visit = epoch; stack[sp++] = v; }
        }
    }
    fprintf(f, "}\n");
    if (fclose(f) != 0) { nn__err(t->ctx, "nn_graph_dot: writing %s failed", path); return 0; }
    return 1;
}

static void nn__print_rec(const nn_tensor *t, int d, int64_t off, int indent, int summarize) {
    int64_t i, n = t->shape[d];
    printf("[");
    for (i = 0; i < n; i++) {
        if (summarize && n > 6 && i == 3) { printf(d == t->ndim - 1 ? "..., " : "...,\n%*s", d == t->ndim - 1 ? 0 : indent + d + 1, ""); i = n - 3; }
        if (d == t->ndim - 1 && t->dtype == NN_INT64) printf("%lld", (long long)NN__I64(t)[off + i * t->stride[d]]);
        else if (d == t->ndim - 1) printf("%.4f", NN__F32(t)[off + i * t->stride[d]]);
        else nn__print_rec(t, d + 1, off + i * t->stride[d], indent, summarize);
        if (i < n - 1) {
            if (d == t->ndim - 1) printf(", ");
            else { int b; printf(","); for (b = d; b < t->ndim - 1; b++) printf("\n"); printf("%*s", indent + d + 1, ""); }
        }
    }
    printf("]");
}

NN_API void nn_print(const nn_tensor *t) {
    if (!t) { printf("NULL\n"); return; }
    printf("tensor(");
    if (t->ndim == 0 && t->dtype == NN_INT64) printf("%lld", (long long)NN__I64(t)[0]);
    else if (t->ndim == 0) printf("%.4f", NN__F32(t)[0]);
    else nn__print_rec(t, 0, 0, 7, t->numel > 1000);
    if (t->dtype == NN_INT64) printf(", dtype=torch.int64");
    if (t->requires_grad) printf(t->op == NN_OP_LEAF ? ", requires_grad=True" : ", grad_fn=<%s>", nn_op_name(t->op));
    printf(")\n");
}
#endif /* NN_NO_STDIO */


