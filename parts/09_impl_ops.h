/* ==== ops ==== */
/* Every op: a front end that checks its arguments, computes the output shape and fills
   the op's parameters (it never reads or writes tensor data), then a forward kernel and
   a backward kernel side by side, reached through the registry (NN__OP_LIST). Kernels
   return 1, or 0 after an error; backward kernels accumulate (+=) into the gradients of
   the inputs that require them. */

static int nn__forward(nn_tensor *y);   /* runs y's forward kernel for y's device */

static nn_ctx *nn__ctx_of(nn_tensor **xs, int n) {
    int i;
    for (i = 0; i < n; i++) if (xs[i]) return xs[i]->ctx;
    return NULL;
}

/* A tensor from the step arena used after nn_arena_reset: its memory now holds other tensors. */
static int nn__stale(const nn_tensor *t) { return (t->flags & NN__ARENA) && t->gen != t->ctx->gen; }

/* NULL inputs: returns 0. An input that is NULL because an earlier op failed
   adds no second message; the first error is already recorded. dtype: what the
   inputs must be (NN_DTYPE_COUNT: any). */
static int nn__check_inputs_dtype(const char *fn, nn_tensor **xs, const char **names, int n, nn_dtype dtype) {
    nn_ctx *ctx = nn__ctx_of(xs, n);
    int i;
    for (i = 0; i < n; i++) {
        if (!xs[i]) {
            if (ctx && !ctx->has_error) nn__err(ctx, "%s: %s is NULL", fn, names[i]);
            return 0;
        }
        if (xs[i]->ctx != ctx) { nn__err(ctx, "%s: %s belongs to another nn_ctx; all inputs must share one", fn, names[i]); return 0; }
        if (nn__stale(xs[i])) {
            nn__err(ctx, "%s: %s was made before the last nn_arena_reset and no longer exists; keep it with nn_keep", fn, names[i]);
            return 0;
        }
        if (xs[i]->device != xs[0]->device) { nn__err(ctx, "%s: %s is on device %d and %s on device %d", fn, names[0], (int)xs[0]->device, names[i], (int)xs[i]->device); return 0; }
        if (dtype != NN_DTYPE_COUNT && xs[i]->dtype != dtype) {
            nn__err(ctx, "%s: %s is %s; expected %s", fn, names[i], nn_dtype_name(xs[i]->dtype), nn_dtype_name(dtype));
            return 0;
        }
    }
    return 1;
}
static int nn__check_inputs(const char *fn, nn_tensor **xs, const char **names, int n) {
    return nn__check_inputs_dtype(fn, xs, names, n, NN_FLOAT32);
}
/* An index input: int64, on x's context and device. */
static int nn__check_index(const char *fn, const nn_tensor *x, nn_tensor *index, const char *name) {
    if (!index) { if (!x->ctx->has_error) nn__err(x->ctx, "%s: %s is NULL", fn, name); return 0; }
    if (index->ctx != x->ctx) { nn__err(x->ctx, "%s: %s belongs to another nn_ctx", fn, name); return 0; }
    if (nn__stale(index)) { nn__err(x->ctx, "%s: %s was made before the last nn_arena_reset and no longer exists", fn, name); return 0; }
    if (index->dtype != NN_INT64) {
        nn__err(x->ctx, "%s: %s is %s; indices are int64 (make them with nn_from_i64 or nn_to_dtype(t, NN_INT64))", fn, name, nn_dtype_name(index->dtype));
        return 0;
    }
    if (index->device != x->device) { nn__err(x->ctx, "%s: %s is on device %d, the input on %d", fn, name, (int)index->device, (int)x->device); return 0; }
    return 1;
}

/* The node an op returns: arena tensor, inputs recorded, requires_grad
   spread from the inputs when grad mode is on. */
static nn_tensor *nn__node_dtype(int op, const char *fn, int ndim, const int64_t *shape, nn_tensor **srcs, int nsrc,
                                 int with_data, nn_dtype dtype) {
    nn_ctx *ctx = srcs[0]->ctx;
    nn_tensor *t = nn__new_arena_dtype(ctx, fn, ndim, shape, with_data, dtype);
    int i;
    if (!t) return NULL;
    t->op = op;
    t->device = srcs[0]->device;
    if (nsrc > 3) {
        t->src = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)nsrc * sizeof(nn_tensor *)));
        if (!t->src) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    }
    t->nsrc = nsrc;
    for (i = 0; i < nsrc; i++) {
        t->src[i] = srcs[i];
        if (srcs[i] && srcs[i]->requires_grad && ctx->grad_enabled) t->requires_grad = 1;
    }
    if (dtype != NN_FLOAT32) t->requires_grad = 0;    /* only floating-point results have gradients */
    ctx->n_nodes += 1 + nsrc;    /* bounds the tensors a graph walk can meet */
    return t;
}
static nn_tensor *nn__node(int op, const char *fn, int ndim, const int64_t *shape, nn_tensor **srcs, int nsrc, int with_data) {
    return nn__node_dtype(op, fn, ndim, shape, srcs, nsrc, with_data, NN_FLOAT32);
}

/* The gradient buffer of an input, or NULL when it needs none. */
static float *nn__gbuf(const nn_tensor *x) { return x && x->requires_grad && x->grad ? NN__F32(x->grad) : NULL; }

/* ---- broadcasting ---- */

typedef struct nn__bcast {
    int nd;
    int64_t shape[NN_MAX_DIMS];
    int64_t st[3][NN_MAX_DIMS];   /* per input, contiguous strides with 0 on broadcast dims */
} nn__bcast;

static int nn__broadcast_shape(const char *fn, nn_tensor **xs, int n, int *nd, int64_t *shape) {
    int i, d;
    char s1[128], s2[128];
    *nd = 0;
    for (i = 0; i < n; i++) if (xs[i]->ndim > *nd) *nd = xs[i]->ndim;
    for (d = 0; d < *nd; d++) shape[d] = 1;
    for (i = 0; i < n; i++) {
        int off = *nd - xs[i]->ndim;
        for (d = 0; d < xs[i]->ndim; d++) {
            int64_t s = xs[i]->shape[d];
            if (s == shape[off + d] || s == 1) continue;
            if (shape[off + d] == 1) { shape[off + d] = s; continue; }
            nn__err(xs[0]->ctx, "%s: shapes %s and %s cannot be broadcast (size %lld vs %lld at dim %d of the result)", fn,
                    NN__SHAPE(xs[i == 0 ? 1 : 0], s1), NN__SHAPE(xs[i], s2), (long long)shape[off + d], (long long)s, off + d);
            return 0;
        }
    }
    return 1;
}

/* Strides of each input over the result's shape, then adjacent dims merged
   where every input allows it, so the common cases run as one flat loop. */
static void nn__bcast_plan(nn__bcast *p, const nn_tensor *y, nn_tensor **xs, int n) {
    int i, d, k;
    int64_t st[NN_MAX_DIMS];
    memset(p, 0, sizeof *p);
    for (i = 0; i < n; i++) {
        int off = y->ndim - xs[i]->ndim;
        nn__contig_strides(xs[i]->ndim, xs[i]->shape, st);
        for (d = 0; d < y->ndim; d++)
            p->st[i][d] = (d < off || xs[i]->shape[d - off] == 1) ? 0 : st[d - off];
    }
    p->nd = 0;
    for (d = 0; d < y->ndim; d++) {
        if (y->shape[d] == 1) continue;
        if (p->nd > 0) {
            int ok = 1, last = p->nd - 1;
            for (i = 0; i < n; i++) if (p->st[i][last] != p->st[i][d] * y->shape[d]) ok = 0;
            if (ok) {
                p->shape[last] *= y->shape[d];
                for (i = 0; i < n; i++) p->st[i][last] = p->st[i][d];
                continue;
            }
        }
        p->shape[p->nd] = y->shape[d];
        for (k = 0; k < n; k++) p->st[k][p->nd] = p->st[k][d];
        p->nd++;
    }
    if (p->nd == 0) { p->nd = 1; p->shape[0] = 1; for (i = 0; i < 3; i++) p->st[i][0] = 0; }
}

/* Rows of the merged shape: the last dim is the inner loop. */
typedef struct nn__rows { nn__walk w; int64_t rows, len, s[3]; } nn__rows;
static void nn__rows_init(nn__rows *r, const nn__bcast *p) {
    int d, last = p->nd - 1;
    r->len = p->shape[last];
    r->rows = 1;
    for (d = 0; d < last; d++) r->rows *= p->shape[d];
    for (d = 0; d < 3; d++) r->s[d] = p->st[d][last];
    nn__walk_init(&r->w, last, p->shape, p->st[0], p->st[1], p->st[2]);
}

static nn_tensor *nn__contig_input(nn_tensor *x) { return nn_is_contiguous(x) ? x : nn_contiguous(x); }

/* ---- binary elementwise: add, sub, mul, div, pow, maximum, minimum, where ---- */

static int nn__binary_forward(nn_tensor *y) {
    nn__bcast p; nn__rows r; int64_t i, j;
    int ternary = y->op == NN_OP_WHERE;
    nn_tensor *xs[3];
    xs[0] = y->src[0]; xs[1] = y->src[1]; xs[2] = ternary ? y->src[2] : NULL;
    nn__bcast_plan(&p, y, xs, ternary ? 3 : 2);
    nn__rows_init(&r, &p);
    for (i = 0; i < r.rows; i++, nn__walk_next(&r.w)) {
        float *o = NN__F32(y) + i * r.len;                      /* (len) */
        const float *a = NN__F32(xs[0]) + r.w.off[0], *b = NN__F32(xs[1]) + r.w.off[1];
        int64_t sa = r.s[0], sb = r.s[1];
        switch (y->op) {
        case NN_OP_ADD: for (j = 0; j < r.len; j++) o[j] = a[j * sa] + b[j * sb]; break;
        case NN_OP_SUB: for (j = 0; j < r.len; j++) o[j] = a[j * sa] - b[j * sb]; break;
        case NN_OP_MUL: for (j = 0; j < r.len; j++) o[j] = a[j * sa] * b[j * sb]; break;
        case NN_OP_DIV: for (j = 0; j < r.len; j++) o[j] = a[j * sa] / b[j * sb]; break;
        case NN_OP_POW: for (j = 0; j < r.len; j++) o[j] = powf(a[j * sa], b[j * sb]); break;
        case NN_OP_MAXIMUM:   /* NaN wins, as PyTorch */
            for (j = 0; j < r.len; j++) { float u = a[j * sa], v = b[j * sb]; o[j] = (u != u || v != v) ? NAN : (u > v ? u : v); }
            break;
        case NN_OP_MINIMUM:
            for (j = 0; j < r.len; j++) { float u = a[j * sa], v = b[j * sb]; o[j] = (u != u || v != v) ? NAN : (u < v ? u : v); }
            break;
        case NN_OP_WHERE: {   /* src: cond, a, b */
            const float *c = a, *u = b, *v = NN__F32(xs[2]) + r.w.off[2];
            int64_t sc = sa, su = sb, sv = r.s[2];
            for (j = 0; j < r.len; j++) o[j] = c[j * sc] != 0.0f ? u[j * su] : v[j * sv];
        } break;
        default: NN_ASSERT(0);
        }
    }
    return 1;
}

/* d out / d input k times g, for one element: u, v, w are the inputs' values, o the output's. */
static float nn__binary_dval(int op, int k, float g, float u, float v, float w, float o) {
    (void)w;
    switch (op) {
    case NN_OP_ADD: return g;
    case NN_OP_SUB: return k == 0 ? g : -g;
    case NN_OP_MUL: return k == 0 ? g * v : g * u;
    case NN_OP_DIV: return k == 0 ? g / v : -g * u / (v * v);
    case NN_OP_POW:   /* d/du u^v = v u^(v-1); d/dv u^v = u^v log u (0 where u == 0, v >= 0) */
        if (k == 0) return v == 0.0f ? 0.0f : g * v * powf(u, v - 1.0f);
        return (u == 0.0f && v >= 0.0f) ? 0.0f : g * o * logf(u);
    case NN_OP_MAXIMUM: case NN_OP_MINIMUM: {   /* the larger (smaller) input takes it all; ties split it; NaN: both */
        float mine = k == 0 ? u : v, other = k == 0 ? v : u;
        if (mine == other) return 0.5f * g;
        if (op == NN_OP_MAXIMUM) return mine < other ? 0.0f : g;
        return mine > other ? 0.0f : g;
    }
    case NN_OP_WHERE: return (k == 1) == (u != 0.0f) ? g : 0.0f;   /* u is cond; no gradient for cond */
    default: NN_ASSERT(0); return 0.0f;
    }
}

/* An input broadcast over the output sums many terms into each element: those sums
   are accumulated in double (a batch-65536 bias gradient is exact to float rounding). */
static int nn__binary_backward(nn_tensor *y) {
    nn__bcast p; nn__rows r; int64_t i, j;
    int ternary = y->op == NN_OP_WHERE, n = ternary ? 3 : 2, k;
    nn_tensor *xs[3];
    xs[0] = y->src[0]; xs[1] = y->src[1]; xs[2] = ternary ? y->src[2] : NULL;
    nn__bcast_plan(&p, y, xs, n);
    for (k = ternary ? 1 : 0; k < n; k++) {
        float *gk = nn__gbuf(xs[k]);
        double *acc = NULL;
        nn__mark mark;
        if (!gk) continue;
        mark = nn__arena_mark(y->ctx);
        if (xs[k]->numel < y->numel) {
            acc = NN__CAST(double *, nn__arena_alloc(y->ctx, (size_t)(xs[k]->numel + 1) * sizeof(double)));
            if (!acc) { nn__err(y->ctx, "nn_backward: out of memory in %s", nn_op_name(y->op)); return 0; }
            memset(acc, 0, (size_t)xs[k]->numel * sizeof(double));
        }
        nn__rows_init(&r, &p);
        for (i = 0; i < r.rows; i++, nn__walk_next(&r.w)) {
            const float *g = NN__F32(y->grad) + i * r.len, *o = NN__F32(y) + i * r.len;   /* (len) */
            const float *u = NN__F32(xs[0]) + r.w.off[0], *v = NN__F32(xs[1]) + r.w.off[1];
            const float *w = ternary ? NN__F32(xs[2]) + r.w.off[2] : NULL;
            int64_t su = r.s[0], sv = r.s[1], sw = r.s[2], sk = r.s[k], ok = r.w.off[k];
            for (j = 0; j < r.len; j++) {
                float d = nn__binary_dval(y->op, k, g[j], u[j * su], v[j * sv], w ? w[j * sw] : 0.0f, o[j]);
                if (acc) acc[ok + j * sk] += d;
                else gk[ok + j * sk] += d;
            }
        }
        if (acc) for (i = 0; i < xs[k]->numel; i++) gk[i] += (float)acc[i];
        nn__arena_rewind(y->ctx, mark);
    }
    return 1;
}

static nn_tensor *nn__binary(int op, const char *fn, nn_tensor *a, nn_tensor *b, nn_tensor *c) {
    static const char *names2[] = { "a", "b" };
    static const char *names3[] = { "cond", "a", "b" };
    nn_tensor *xs[3]; int n = op == NN_OP_WHERE ? 3 : 2, nd, i;
    int64_t shape[NN_MAX_DIMS];
    nn_tensor *y;
    xs[0] = a; xs[1] = b; xs[2] = c;
    if (!nn__check_inputs(fn, xs, n == 3 ? names3 : names2, n)) return NULL;
    if (!nn__broadcast_shape(fn, xs, n, &nd, shape)) return NULL;
    for (i = 0; i < n; i++) if (!(xs[i] = nn__contig_input(xs[i]))) return NULL;
    y = nn__node(op, fn, nd, shape, xs, n, 1);
    if (!y) return NULL;
    if (n == 3 && xs[0]->requires_grad && !xs[1]->requires_grad && !xs[2]->requires_grad) y->requires_grad = 0;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_add(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_ADD, "nn_add", a, b, NULL); }
NN_API nn_tensor *nn_sub(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_SUB, "nn_sub", a, b, NULL); }
NN_API nn_tensor *nn_mul(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_MUL, "nn_mul", a, b, NULL); }
NN_API nn_tensor *nn_div(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_DIV, "nn_div", a, b, NULL); }
NN_API nn_tensor *nn_pow(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_POW, "nn_pow", a, b, NULL); }
NN_API nn_tensor *nn_maximum(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_MAXIMUM, "nn_maximum", a, b, NULL); }
NN_API nn_tensor *nn_minimum(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_MINIMUM, "nn_minimum", a, b, NULL); }
NN_API nn_tensor *nn_where(nn_tensor *cond, nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_WHERE, "nn_where", cond, a, b); }

/* ---- unary elementwise and activations ---- */
/* fp[0], fp[1]: the op's scalars (s, exponent, min/max, slope, beta/threshold) */

static float nn__sigmoidf(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    { float e = expf(x); return e / (1.0f + e); }
}

static int nn__unary_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);   /* (n) */
    float *o = NN__F32(y), s = y->fp[0], t = y->fp[1];
    int64_t i, n = y->numel;
    switch (y->op) {
    case NN_OP_ADD_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] + s; break;
    case NN_OP_MUL_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] * s; break;
    case NN_OP_DIV_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] / s; break;
    case NN_OP_POW_SCALAR:
        if (s == 2.0f) for (i = 0; i < n; i++) o[i] = x[i] * x[i];
        else for (i = 0; i < n; i++) o[i] = powf(x[i], s);
        break;
    case NN_OP_NEG: for (i = 0; i < n; i++) o[i] = -x[i]; break;
    case NN_OP_EXP: for (i = 0; i < n; i++) o[i] = expf(x[i]); break;
    case NN_OP_LOG: for (i = 0; i < n; i++) o[i] = logf(x[i]); break;
    case NN_OP_SQRT: for (i = 0; i < n; i++) o[i] = sqrtf(x[i]); break;
    case NN_OP_ABS: for (i = 0; i < n; i++) o[i] = fabsf(x[i]); break;
    case NN_OP_CLAMP: for (i = 0; i < n; i++) { float v = x[i]; o[i] = v != v ? v : (v < s ? s : (v > t ? t : v)); } break;
    case NN_OP_RELU: for (i = 0; i < n; i++) o[i] = x[i] <= 0.0f ? 0.0f : x[i]; break;   /* NaN stays NaN */
    case NN_OP_LEAKY_RELU: for (i = 0; i < n; i++) o[i] = x[i] > 0.0f ? x[i] : x[i] * s; break;
    case NN_OP_SIGMOID: for (i = 0; i < n; i++) o[i] = nn__sigmoidf(x[i]); break;
    case NN_OP_TANH: for (i = 0; i < n; i++) o[i] = tanhf(x[i]); break;
    case NN_OP_GELU: for (i = 0; i < n; i++) o[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f)); break;
    case NN_OP_SILU: for (i = 0; i < n; i++) o[i] = x[i] * nn__sigmoidf(x[i]); break;
    case NN_OP_SOFTPLUS:   /* s = beta, t = threshold: linear above it, as PyTorch */
        for (i = 0; i < n; i++) o[i] = x[i] * s > t ? x[i] : log1pf(expf(x[i] * s)) / s;
        break;
    default: NN_ASSERT(0);
    }
    return 1;
}

static int nn__unary_backward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *o = NN__F32(y), *g = NN__F32(y->grad);   /* (n) */
    float *d = nn__gbuf(y->src[0]), s = y->fp[0], t = y->fp[1];
    int64_t i, n = y->numel;
    if (!d) return 1;
    switch (y->op) {
    case NN_OP_ADD_SCALAR: for (i = 0; i < n; i++) d[i] += g[i]; break;
    case NN_OP_MUL_SCALAR: for (i = 0; i < n; i++) d[i] += g[i] * s; break;
    case NN_OP_DIV_SCALAR: for (i = 0; i < n; i++) d[i] += g[i] / s; break;
    case NN_OP_POW_SCALAR:
        if (s != 0.0f) for (i = 0; i < n; i++) d[i] += g[i] * s * powf(x[i], s - 1.0f);
        break;
    case NN_OP_NEG: for (i = 0; i < n; i++) d[i] -= g[i]; break;
    case NN_OP_EXP: for (i = 0; i < n; i++) d[i] += g[i] * o[i]; break;
    case NN_OP_LOG: for (i = 0; i < n; i++) d[i] += g[i] / x[i]; break;
    case NN_OP_SQRT: for (i = 0; i < n; i++) d[i] += g[i] / (2.0f * o[i]); break;
    case NN_OP_ABS: for (i = 0; i < n; i++) d[i] += x[i] > 0.0f ? g[i] : (x[i] < 0.0f ? -g[i] : 0.0f); break;
    case NN_OP_CLAMP: for (i = 0; i < n; i++) if (x[i] >= s && x[i] <= t) d[i] += g[i]; break;
    case NN_OP_RELU: for (i = 0; i < n; i++) if (x[i] > 0.0f) d[i] += g[i]; break;
    case NN_OP_LEAKY_RELU: for (i = 0; i < n; i++) d[i] += x[i] > 0.0f ? g[i] : g[i] * s; break;
    case NN_OP_SIGMOID: for (i = 0; i < n; i++) d[i] += g[i] * o[i] * (1.0f - o[i]); break;
    case NN_OP_TANH: for (i = 0; i < n; i++) d[i] += g[i] * (1.0f - o[i] * o[i]); break;
    case NN_OP_GELU:
        for (i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * 0.70710678118654752f));
            float pdf = expf(-0.5f * x[i] * x[i]) * 0.39894228040143268f;
            d[i] += g[i] * (cdf + x[i] * pdf);
        }
        break;
    case NN_OP_SILU:
        for (i = 0; i < n; i++) { float sg = nn__sigmoidf(x[i]); d[i] += g[i] * sg * (1.0f + x[i] * (1.0f - sg)); }
        break;
    case NN_OP_SOFTPLUS:
        for (i = 0; i < n; i++) d[i] += x[i] * s > t ? g[i] : g[i] * nn__sigmoidf(x[i] * s);
        break;
    default: NN_ASSERT(0);
    }
    return 1;
}

static nn_tensor *nn__unary(int op, const char *fn, nn_tensor *x, float s, float t) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(op, fn, x->ndim, x->shape, &x, 1, 1);
    if (!y) return NULL;
    y->fp[0] = s; y->fp[1] = t;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_add_scalar(nn_tensor *x, float s) { return nn__unary(NN_OP_ADD_SCALAR, "nn_add_scalar", x, s, 0); }
NN_API nn_tensor *nn_sub_scalar(nn_tensor *x, float s) { return nn__unary(NN_OP_ADD_SCALAR, "nn_sub_scalar", x, -s, 0); }
NN_API nn_tensor *nn_mul_scalar(nn_tensor *x, float s) { return nn__unary(NN_OP_MUL_SCALAR, "nn_mul_scalar", x, s, 0); }
NN_API nn_tensor *nn_div_scalar(nn_tensor *x, float s) { return nn__unary(NN_OP_DIV_SCALAR, "nn_div_scalar", x, s, 0); }
NN_API nn_tensor *nn_pow_scalar(nn_tensor *x, float e) { return nn__unary(NN_OP_POW_SCALAR, "nn_pow_scalar", x, e, 0); }
NN_API nn_tensor *nn_neg(nn_tensor *x) { return nn__unary(NN_OP_NEG, "nn_neg", x, 0, 0); }
NN_API nn_tensor *nn_exp(nn_tensor *x) { return nn__unary(NN_OP_EXP, "nn_exp", x, 0, 0); }
NN_API nn_tensor *nn_log(nn_tensor *x) { return nn__unary(NN_OP_LOG, "nn_log", x, 0, 0); }
NN_API nn_tensor *nn_sqrt(nn_tensor *x) { return nn__unary(NN_OP_SQRT, "nn_sqrt", x, 0, 0); }
NN_API nn_tensor *nn_abs(nn_tensor *x) { return nn__unary(NN_OP_ABS, "nn_abs", x, 0, 0); }
NN_API nn_tensor *nn_clamp(nn_tensor *x, float lo, float hi) {
    if (x && lo > hi) { nn__err(x->ctx, "nn_clamp: min %g is greater than max %g", lo, hi); return NULL; }
    return nn__unary(NN_OP_CLAMP, "nn_clamp", x, lo, hi);
}
NN_API nn_tensor *nn_relu(nn_tensor *x) { return nn__unary(NN_OP_RELU, "nn_relu", x, 0, 0); }
NN_API nn_tensor *nn_leaky_relu(nn_tensor *x, float slope) { return nn__unary(NN_OP_LEAKY_RELU, "nn_leaky_relu", x, slope, 0); }
NN_API nn_tensor *nn_sigmoid(nn_tensor *x) { return nn__unary(NN_OP_SIGMOID, "nn_sigmoid", x, 0, 0); }
NN_API nn_tensor *nn_tanh(nn_tensor *x) { return nn__unary(NN_OP_TANH, "nn_tanh", x, 0, 0); }
NN_API nn_tensor *nn_gelu(nn_tensor *x) { return nn__unary(NN_OP_GELU, "nn_gelu", x, 0, 0); }
NN_API nn_tensor *nn_silu(nn_tensor *x) { return nn__unary(NN_OP_SILU, "nn_silu", x, 0, 0); }
NN_API nn_tensor *nn_softplus(nn_tensor *x, float beta, float threshold) {
    if (x && beta == 0.0f) { nn__err(x->ctx, "nn_softplus: beta is 0; it must be non-zero"); return NULL; }
    return nn__unary(NN_OP_SOFTPLUS, "nn_softplus", x, beta, threshold);
}

/* ---- along one dim: (outer, D, inner) ---- */
/* ip[0] = outer, ip[1] = D, ip[2] = inner. NN_ALL is outer = inner = 1. */

static int nn__split_dim(const char *fn, nn_tensor *x, int dim, int keepdim, int64_t *oi, int *nd, int64_t *shape) {
    int d, i;
    if (dim == NN_ALL) {
        oi[0] = 1; oi[1] = x->numel; oi[2] = 1;
        *nd = keepdim ? x->ndim : 0;
        for (i = 0; i < *nd; i++) shape[i] = 1;
        return 1;
    }
    if (!nn__norm_dim(x->ctx, fn, x, dim, 0, &d)) return 0;
    if (x->ndim == 0) { oi[0] = oi[1] = oi[2] = 1; *nd = 0; return 1; }
    oi[0] = 1; oi[2] = 1; oi[1] = x->shape[d];
    for (i = 0; i < d; i++) oi[0] *= x->shape[i];
    for (i = d + 1; i < x->ndim; i++) oi[2] *= x->shape[i];
    *nd = 0;
    for (i = 0; i < x->ndim; i++) {
        if (i == d) { if (keepdim) shape[(*nd)++] = 1; }
        else shape[(*nd)++] = x->shape[i];
    }
    return 1;
}

static int nn__softmax_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);          /* (outer, D, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, d, i;
    int logsm = y->op == NN_OP_LOG_SOFTMAX;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        const float *xp = x + o * D * I + i;
        float *yp = NN__F32(y) + o * D * I + i, m = -INFINITY;
        double s = 0;
        for (d = 0; d < D; d++) if (xp[d * I] > m) m = xp[d * I];
        for (d = 0; d < D; d++) s += exp((double)(xp[d * I] - m));
        if (logsm) { float ls = (float)log(s); for (d = 0; d < D; d++) yp[d * I] = xp[d * I] - m - ls; }
        else for (d = 0; d < D; d++) yp[d * I] = (float)(exp((double)(xp[d * I] - m)) / s);
    }
    return 1;
}
static int nn__softmax_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);            /* (outer, D, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, d, i;
    if (!dx) return 1;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        int64_t base = o * D * I + i;
        const float *yp = NN__F32(y) + base, *gp = g + base;
        float *dp = dx + base;
        double s = 0;
        if (y->op == NN_OP_SOFTMAX) {   /* dx = y (g - sum(g y)) */
            for (d = 0; d < D; d++) s += (double)gp[d * I] * yp[d * I];
            for (d = 0; d < D; d++) dp[d * I] += yp[d * I] * (gp[d * I] - (float)s);
        } else {                        /* dx = g - exp(y) sum(g) */
            for (d = 0; d < D; d++) s += gp[d * I];
            for (d = 0; d < D; d++) dp[d * I] += gp[d * I] - expf(yp[d * I]) * (float)s;
        }
    }
    return 1;
}
static nn_tensor *nn__softmax(int op, const char *fn, nn_tensor *x, int dim) {
    static const char *names[] = { "x" };
    int64_t oi[3], shape[NN_MAX_DIMS]; int nd; nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (dim == NN_ALL) { nn__err(x->ctx, "%s: needs one dim, not NN_ALL", fn); return NULL; }
    if (!nn__split_dim(fn, x, dim, 1, oi, &nd, shape)) return NULL;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(op, fn, x->ndim, x->shape, &x, 1, 1);
    if (!y) return NULL;
    memcpy(y->ip, oi, sizeof oi);
    return nn__forward(y) ? y : NULL;
}
NN_API nn_tensor *nn_softmax(nn_tensor *x, int dim) { return nn__softmax(NN_OP_SOFTMAX, "nn_softmax", x, dim); }
NN_API nn_tensor *nn_log_softmax(nn_tensor *x, int dim) { return nn__softmax(NN_OP_LOG_SOFTMAX, "nn_log_softmax", x, dim); }

/* ---- reductions: sum, mean, var, std, max, min, logsumexp ---- */
/* ip[3] = correction (var, std); ip[4] = 1 for a reduction over every element;
   out2 = the int64 positions of max/min along the dim */

static int nn__reduce_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);          /* (outer, D, inner) -> (outer, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, d, i;
    int64_t *arg = y->out2 ? NN__I64(y->out2) : NULL;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        const float *xp = x + o * D * I + i;
        float *yp = NN__F32(y) + o * I + i;
        switch (y->op) {
        case NN_OP_SUM: case NN_OP_MEAN: {
            double s = 0;
            for (d = 0; d < D; d++) s += xp[d * I];
            *yp = (float)(y->op == NN_OP_MEAN ? s / (double)D : s);
        } break;
        case NN_OP_VAR: case NN_OP_STD: {   /* divisor max(0, D - correction): inf or NaN at 0, as PyTorch */
            double m = 0, s = 0, den = (double)(D - y->ip[3]);
            for (d = 0; d < D; d++) m += xp[d * I];
            m /= (double)D;
            for (d = 0; d < D; d++) s += ((double)xp[d * I] - m) * ((double)xp[d * I] - m);
            s = s / (den > 0 ? den : 0.0);
            *yp = (float)(y->op == NN_OP_STD ? sqrt(s) : s);
        } break;
        case NN_OP_MAX: case NN_OP_MIN: {
            int64_t best = 0; int is_max = y->op == NN_OP_MAX;
            for (d = 1; d < D; d++) {
                float v = xp[d * I], b = xp[best * I];
                if (b != b) break;                              /* NaN wins, as PyTorch */
                if (v != v || (is_max ? v > b : v < b)) best = d;
            }
            *yp = xp[best * I];
            arg[o * I + i] = best;
        } break;
        case NN_OP_LOGSUMEXP: {
            float m = -INFINITY; double s = 0;
            for (d = 0; d < D; d++) if (xp[d * I] > m) m = xp[d * I];
            if (m == -INFINITY || m == INFINITY) { *yp = m; break; }
            for (d = 0; d < D; d++) s += exp((double)(xp[d * I] - m));
            *yp = m + (float)log(s);
        } break;
        default: NN_ASSERT(0);
        }
    }
    return 1;
}

/* max()/min() over every element: the gradient is shared evenly by the tied elements (PyTorch's
   evenly_distribute_backward); along a dim it goes to the one index returned. */
static void nn__reduce_ties_backward(nn_tensor *y, float *dx) {
    const float *x = NN__F32(y->src[0]);
    float v = NN__F32(y)[0], g = NN__F32(y->grad)[0];
    int64_t i, n = y->src[0]->numel, ties = 0;
    int isnan_v = v != v;
    for (i = 0; i < n; i++) ties += isnan_v ? x[i] != x[i] : x[i] == v;
    for (i = 0; i < n; i++) if (isnan_v ? x[i] != x[i] : x[i] == v) dx[i] += g / (float)ties;
}

static int nn__reduce_backward(nn_tensor *y) {
    const nn_tensor *xt = y->src[0];
    const float *x = NN__F32(xt), *g = NN__F32(y->grad);   /* x (outer, D, inner), g (outer, inner) */
    float *dx = nn__gbuf(xt);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, d, i;
    const int64_t *arg = y->out2 ? NN__I64(y->out2) : NULL;
    if (!dx) return 1;
    if ((y->op == NN_OP_MAX || y->op == NN_OP_MIN) && y->ip[4]) { nn__reduce_ties_backward(y, dx); return 1; }
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        const float *xp = x + o * D * I + i;
        float *dp = dx + o * D * I + i, gv = g[o * I + i], yv = NN__F32(y)[o * I + i];
        switch (y->op) {
        case NN_OP_SUM: for (d = 0; d < D; d++) dp[d * I] += gv; break;
        case NN_OP_MEAN: { float k = gv / (float)D; for (d = 0; d < D; d++) dp[d * I] += k; } break;
        case NN_OP_VAR: case NN_OP_STD: {   /* dvar/dx = 2 (x - m) / (D - c); dstd = dvar / (2 std) */
            double m = 0, den = (double)(D - y->ip[3]);
            float k;   /* the raw D - correction, as PyTorch's backward */
            for (d = 0; d < D; d++) m += xp[d * I];
            m /= (double)D;
            k = (float)(y->op == NN_OP_VAR ? 2.0 * gv / den : gv / (den * yv));
            for (d = 0; d < D; d++) dp[d * I] += k * (float)((double)xp[d * I] - m);
        } break;
        case NN_OP_MAX: case NN_OP_MIN: dp[arg[o * I + i] * I] += gv; break;   /* routed to the winner */
        case NN_OP_LOGSUMEXP: for (d = 0; d < D; d++) dp[d * I] += gv * expf(xp[d * I] - yv); break;
        default: NN_ASSERT(0);
        }
    }
    return 1;
}

static nn_tensor *nn__reduce(int op, const char *fn, nn_tensor *x, int dim, int keepdim, int correction) {
    static const char *names[] = { "x" };
    int64_t oi[3], shape[NN_MAX_DIMS]; int nd; nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (!nn__split_dim(fn, x, dim, keepdim, oi, &nd, shape)) return NULL;
    if (oi[1] == 0 && (op == NN_OP_MAX || op == NN_OP_MIN)) {
        char s[128];
        nn__err(x->ctx, "%s: the reduced dim of %s is empty; max and min need at least one element", fn, NN__SHAPE(x, s));
        return NULL;
    }
    if ((op == NN_OP_VAR || op == NN_OP_STD) && correction < 0) {
        nn__err(x->ctx, "%s: correction is %d; it must be >= 0", fn, correction);
        return NULL;
    }
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(op, fn, nd, shape, &x, 1, 1);
    if (!y) return NULL;
    memcpy(y->ip, oi, sizeof oi);
    y->ip[3] = correction;
    y->ip[4] = dim == NN_ALL;
    if (op == NN_OP_MAX || op == NN_OP_MIN) {
        y->out2 = nn__new_arena_dtype(x->ctx, fn, nd, shape, 1, NN_INT64);
        if (!y->out2) return NULL;
    }
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_sum(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_SUM, "nn_sum", x, dim, keepdim, 0); }
NN_API nn_tensor *nn_mean(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_MEAN, "nn_mean", x, dim, keepdim, 0); }
NN_API nn_tensor *nn_var(nn_tensor *x, int dim, int correction, int keepdim) { return nn__reduce(NN_OP_VAR, "nn_var", x, dim, keepdim, correction); }
NN_API nn_tensor *nn_std(nn_tensor *x, int dim, int correction, int keepdim) { return nn__reduce(NN_OP_STD, "nn_std", x, dim, keepdim, correction); }
NN_API nn_tensor *nn_logsumexp(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_LOGSUMEXP, "nn_logsumexp", x, dim, keepdim, 0); }

NN_API nn_tensor *nn_max(nn_tensor *x, int dim, int keepdim, nn_tensor **indices) {
    nn_tensor *y = nn__reduce(NN_OP_MAX, "nn_max", x, dim, keepdim, 0);
    if (indices) *indices = y ? y->out2 : NULL;
    return y;
}
NN_API nn_tensor *nn_min(nn_tensor *x, int dim, int keepdim, nn_tensor **indices) {
    nn_tensor *y = nn__reduce(NN_OP_MIN, "nn_min", x, dim, keepdim, 0);
    if (indices) *indices = y ? y->out2 : NULL;
    return y;
}
NN_API nn_tensor *nn_argmax(nn_tensor *x, int dim, int keepdim) {
    nn_tensor *idx = NULL;
    int old;
    if (!x) return NULL;
    old = nn_set_grad_enabled(x->ctx, 0);
    nn_max(x, dim, keepdim, &idx);
    nn_set_grad_enabled(x->ctx, old);
    return idx;
}

/* ---- matmul ---- */

/* The plain reference kernel: C (M, N) = A (M, K) @ B (K, N), any row/col strides
   for A and B, C rows contiguous with row stride ldc. accumulate: C += instead of
   C =. Transposed operands are read in place through their strides; sums in double. */
static void nn__gemm_ref(int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t ars, int64_t acs,
                     const float *B, int64_t brs, int64_t bcs,
                     float *C, int64_t ldc, int accumulate) {
    int64_t i, j, k;
    for (i = 0; i < M; i++) for (j = 0; j < N; j++) {   /* each dot product in double */
        const float *a = A + i * ars, *b = B + j * bcs;
        double s = accumulate ? (double)C[i * ldc + j] : 0.0;
        for (k = 0; k < K; k++) s += (double)a[k * acs] * b[k * brs];
        C[i * ldc + j] = (float)s;
    }
}

/* The fast kernel (checked against nn__gemm_ref by the tests): B is packed
   block by block into NR-wide column panels, so every stride case becomes a
   contiguous stream, and a MR x NR tile of C is accumulated in registers.
   Row blocks run in parallel when compiled with OpenMP (-fopenmp). The panel
   lives in the step arena only for the call. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(NN_NO_SIMD)
#define NN__VEC 1
typedef float nn__v8 __attribute__((vector_size(32)));   /* 8 floats: one AVX register, two SSE */
#endif
#define NN__NR 16
#define NN__MR 4
#define NN__KC 256
#define NN__NC 512
#if defined(_OPENMP)
#define NN__OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define NN__OMP_FOR
#endif

/* C (mr x nr of a MR x NR tile, row stride ldc) += Ap (kc, MR) . Bp (kc, NR) */
static void nn__gemm_tile(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, int64_t mr, int64_t nr) {
    float acc[NN__MR][NN__NR];
    int64_t k; int r, c;
#ifdef NN__VEC
    nn__v8 c00 = { 0 }, c01 = { 0 }, c10 = { 0 }, c11 = { 0 }, c20 = { 0 }, c21 = { 0 }, c30 = { 0 }, c31 = { 0 };
    for (k = 0; k < kc; k++) {
        const float *a = Ap + k * NN__MR;
        nn__v8 b0, b1;
        memcpy(&b0, Bp + k * NN__NR, sizeof b0);
        memcpy(&b1, Bp + k * NN__NR + 8, sizeof b1);
        c00 += a[0] * b0; c01 += a[0] * b1;
        c10 += a[1] * b0; c11 += a[1] * b1;
        c20 += a[2] * b0; c21 += a[2] * b1;
        c30 += a[3] * b0; c31 += a[3] * b1;
    }
    memcpy(acc[0], &c00, 32); memcpy(acc[0] + 8, &c01, 32);
    memcpy(acc[1], &c10, 32); memcpy(acc[1] + 8, &c11, 32);
    memcpy(acc[2], &c20, 32); memcpy(acc[2] + 8, &c21, 32);
    memcpy(acc[3], &c30, 32); memcpy(acc[3] + 8, &c31, 32);
#else
    for (r = 0; r < NN__MR; r++) for (c = 0; c < NN__NR; c++) acc[r][c] = 0.0f;
    for (k = 0; k < kc; k++) {
        const float *a = Ap + k * NN__MR, *b = Bp + k * NN__NR;
        for (r = 0; r < NN__MR; r++) for (c = 0; c < NN__NR; c++) acc[r][c] += a[r] * b[c];
    }
#endif
    for (r = 0; r < mr; r++) for (c = 0; c < nr; c++) C[r * ldc + c] += acc[r][c];
}

static void nn__gemm(nn_ctx *ctx, int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t ars, int64_t acs,
                     const float *B, int64_t brs, int64_t bcs,
                     float *C, int64_t ldc, int accumulate) {
    nn__mark mark; float *Bp; int64_t i, j0, k0;
    if (M * N * K < 32768 || M < NN__MR || !ctx) { nn__gemm_ref(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate); return; }
    mark = nn__arena_mark(ctx);
    Bp = NN__CAST(float *, nn__arena_alloc(ctx, (size_t)NN__KC * (NN__NC + NN__NR) * sizeof(float)));
    if (!Bp) { nn__arena_rewind(ctx, mark); nn__gemm_ref(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate); return; }
    if (!accumulate) for (i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float));
    for (j0 = 0; j0 < N; j0 += NN__NC) {
        int64_t nc = N - j0 < NN__NC ? N - j0 : NN__NC, nb = (nc + NN__NR - 1) / NN__NR;
        for (k0 = 0; k0 < K; k0 += NN__KC) {
            int64_t kc = K - k0 < NN__KC ? K - k0 : NN__KC, jb, k, ib, mb = (M + NN__MR - 1) / NN__MR;
            for (jb = 0; jb < nb; jb++) {          /* pack B (kc, nc) into panels (nb, kc, NR) */
                float *dst = Bp + jb * kc * NN__NR;
                int64_t c, jn = nc - jb * NN__NR < NN__NR ? nc - jb * NN__NR : NN__NR;
                for (k = 0; k < kc; k++) {
                    const float *src = B + (k0 + k) * brs + (j0 + jb * NN__NR) * bcs;
                    for (c = 0; c < jn; c++) dst[k * NN__NR + c] = src[c * bcs];
                    for (; c < NN__NR; c++) dst[k * NN__NR + c] = 0.0f;
                }
            }
            NN__OMP_FOR
            for (ib = 0; ib < mb; ib++) {
                float Ap[NN__KC * NN__MR];             /* rows i..i+MR of A (kc, MR) */
                int64_t r, kk, jj, i0 = ib * NN__MR, mr = M - i0 < NN__MR ? M - i0 : NN__MR;
                for (kk = 0; kk < kc; kk++) for (r = 0; r < NN__MR; r++)
                    Ap[kk * NN__MR + r] = r < mr ? A[(i0 + r) * ars + (k0 + kk) * acs] : 0.0f;
                for (jj = 0; jj < nb; jj++) {
                    int64_t nr = nc - jj * NN__NR < NN__NR ? nc - jj * NN__NR : NN__NR;
                    nn__gemm_tile(kc, Ap, Bp + jj * kc * NN__NR, C + i0 * ldc + j0 + jj * NN__NR, ldc, mr, nr);
                }
            }
        }
    }
    nn__arena_rewind(ctx, mark);
}

/* Shapes of a matmul: matrices (M, K) @ (K, N) over broadcast batch dims. */
typedef struct nn__mm {
    int64_t M, N, K, nbatch;
    int64_t ars, acs, brs, bcs;
    int bnd;
    int64_t bshape[NN_MAX_DIMS];
    int64_t a_st[NN_MAX_DIMS], b_st[NN_MAX_DIMS];      /* data strides over batch dims (0 = broadcast) */
    int64_t ag_st[NN_MAX_DIMS], bg_st[NN_MAX_DIMS];    /* the same in the contiguous gradients */
} nn__mm;

static int nn__mm_plan(nn__mm *p, const nn_tensor *a, const nn_tensor *b, int *ynd, int64_t *yshape) {
    int and_ = a->ndim >= 2 ? a->ndim - 2 : 0, bnd_ = b->ndim >= 2 ? b->ndim - 2 : 0, d;
    int64_t ag[NN_MAX_DIMS], bg[NN_MAX_DIMS];
    char s1[128], s2[128];
    memset(p, 0, sizeof *p);
    if (a->ndim == 0 || b->ndim == 0) {
        nn__err(a->ctx, "nn_matmul: a is %s and b is %s; both must have at least 1 dim", NN__SHAPE(a, s1), NN__SHAPE(b, s2));
        return 0;
    }
    p->M = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1;
    p->K = a->shape[a->ndim - 1];
    p->N = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
    if (b->shape[b->ndim >= 2 ? b->ndim - 2 : 0] != p->K) {
        nn__err(a->ctx, "nn_matmul: a is %s and b is %s; a's last dim must equal b's %s dim", NN__SHAPE(a, s1), NN__SHAPE(b, s2),
                b->ndim >= 2 ? "second-to-last" : "only");
        return 0;
    }
    p->ars = a->ndim >= 2 ? a->stride[a->ndim - 2] : 0; p->acs = a->stride[a->ndim - 1];
    p->brs = b->stride[b->ndim >= 2 ? b->ndim - 2 : 0]; p->bcs = b->ndim >= 2 ? b->stride[b->ndim - 1] : 1;
    nn__contig_strides(a->ndim, a->shape, ag);
    nn__contig_strides(b->ndim, b->shape, bg);
    p->bnd = and_ > bnd_ ? and_ : bnd_;
    p->nbatch = 1;
    for (d = 0; d < p->bnd; d++) {
        int da = d - (p->bnd - and_), db = d - (p->bnd - bnd_);
        int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            nn__err(a->ctx, "nn_matmul: batch dims of a %s and b %s cannot be broadcast", NN__SHAPE(a, s1), NN__SHAPE(b, s2));
            return 0;
        }
        p->bshape[d] = sa > sb ? sa : sb;
        p->a_st[d] = (da >= 0 && sa != 1) ? a->stride[da] : 0;
        p->ag_st[d] = (da >= 0 && sa != 1) ? ag[da] : 0;
        p->b_st[d] = (db >= 0 && sb != 1) ? b->stride[db] : 0;
        p->bg_st[d] = (db >= 0 && sb != 1) ? bg[db] : 0;
        p->nbatch *= p->bshape[d];
    }
    *ynd = 0;
    for (d = 0; d < p->bnd; d++) yshape[(*ynd)++] = p->bshape[d];
    if (a->ndim >= 2) yshape[(*ynd)++] = p->M;
    if (b->ndim >= 2) yshape[(*ynd)++] = p->N;
    return 1;
}

static int nn__matmul_forward(nn_tensor *y) {
    const nn_tensor *a = y->src[0], *b = y->src[1];
    nn__mm p; nn__walk w; int64_t t, ysh[NN_MAX_DIMS]; int ynd;
    nn__mm_plan(&p, a, b, &ynd, ysh);
    nn__walk_init(&w, p.bnd, p.bshape, p.a_st, p.b_st, NULL);
    for (t = 0; t < p.nbatch; t++, nn__walk_next(&w))   /* y (batch, M, N) = a (batch, M, K) @ b (batch, K, N) */
        nn__gemm(y->ctx, p.M, p.N, p.K, NN__F32(a) + w.off[0], p.ars, p.acs, NN__F32(b) + w.off[1], p.brs, p.bcs,
                 NN__F32(y) + t * p.M * p.N, p.N, 0);
    return 1;
}

static int nn__matmul_backward(nn_tensor *y) {
    const nn_tensor *a = y->src[0], *b = y->src[1];
    float *da = nn__gbuf(a), *db = nn__gbuf(b);
    nn__mm p; nn__walk wd, wg; int64_t t, ysh[NN_MAX_DIMS]; int ynd;
    nn__mm_plan(&p, a, b, &ynd, ysh);
    /* da (M, K) += dy (M, N) @ b^T;  db (K, N) += a^T @ dy: transposes by strides */
    nn__walk_init(&wd, p.bnd, p.bshape, p.a_st, p.b_st, NULL);
    nn__walk_init(&wg, p.bnd, p.bshape, p.ag_st, p.bg_st, NULL);
    for (t = 0; t < p.nbatch; t++, nn__walk_next(&wd), nn__walk_next(&wg)) {
        const float *g = NN__F32(y->grad) + t * p.M * p.N;
        if (da) nn__gemm(y->ctx, p.M, p.K, p.N, g, p.N, 1, NN__F32(b) + wd.off[1], p.bcs, p.brs, da + wg.off[0], p.K, 1);
        if (db) nn__gemm(y->ctx, p.K, p.N, p.M, NN__F32(a) + wd.off[0], p.acs, p.ars, g, p.N, 1, db + wg.off[1], p.N, 1);
    }
    return 1;
}

NN_API nn_tensor *nn_matmul(nn_tensor *a, nn_tensor *b) {
    static const char *names[] = { "a", "b" };
    nn_tensor *xs[2], *y; nn__mm p; int ynd; int64_t ysh[NN_MAX_DIMS];
    xs[0] = a; xs[1] = b;
    if (!nn__check_inputs("nn_matmul", xs, names, 2)) return NULL;
    if (!nn__mm_plan(&p, a, b, &ynd, ysh)) return NULL;
    y = nn__node(NN_OP_MATMUL, "nn_matmul", ynd, ysh, xs, 2, 1);
    if (!y) return NULL;
    return nn__forward(y) ? y : NULL;
}

/* ---- indexing: gather, index_select (embedding), one_hot ---- */
/* Indices are int64, negative ones count from the end; the kernels check the range. */

static int nn__index_ok(nn_tensor *y, int64_t k, int64_t size, int64_t *out) {
    if (k < -size || k >= size) {
        nn__err(y->ctx, "nn_%s: index %lld is out of range for a dim of size %lld", nn_op_name(y->op), (long long)k, (long long)size);
        return 0;
    }
    *out = k < 0 ? k + size : k;
    return 1;
}

/* gather: y (index's shape) = x[i0, .., index[i], .., in] along dim ip[0]; src: x, index (both contiguous).
   pos gets each output's position in x. */
static int nn__gather_positions(nn_tensor *y, int64_t *pos) {
    const nn_tensor *x = y->src[0], *index = y->src[1];
    const int64_t *ix = NN__I64(index);
    int64_t i, xst[NN_MAX_DIMS]; int k, d = (int)y->ip[0];
    nn__contig_strides(x->ndim, x->shape, xst);
    for (i = 0; i < y->numel; i++) {
        int64_t at, p = 0, rem = i, j;
        if (!nn__index_ok(y, ix[i], x->ndim ? x->shape[d] : 1, &at)) return 0;
        for (k = index->ndim - 1; k >= 0; k--) {    /* position of y's element i in x */
            j = rem % index->shape[k]; rem /= index->shape[k];
            p += (k == d ? at : j) * xst[k];
        }
        pos[i] = p;
    }
    return 1;
}
static int nn__gather_forward(nn_tensor *y) {
    int64_t *pos = NN__CAST(int64_t *, y->saved);   /* (numel of y) */
    const float *x = NN__F32(y->src[0]);
    int64_t i;
    if (!nn__gather_positions(y, pos)) return 0;
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = x[pos[i]];
    return 1;
}
static int nn__gather_backward(nn_tensor *y) {
    const int64_t *pos = NN__CAST(const int64_t *, y->saved);
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[pos[i]] += g[i];     /* scatter-add */
    return 1;
}

NN_API nn_tensor *nn_gather(nn_tensor *x, int dim, nn_tensor *index) {
    static const char *names[] = { "x" };
    nn_tensor *xs[2], *y; int d, k;
    char s1[128], s2[128];
    if (!nn__check_inputs("nn_gather", &x, names, 1) || !nn__check_index("nn_gather", x, index, "index")) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_gather", x, dim, 0, &d)) return NULL;
    if (index->ndim != x->ndim) {
        nn__err(x->ctx, "nn_gather: x is %s and index is %s; they must have the same number of dims", NN__SHAPE(x, s1), NN__SHAPE(index, s2));
        return NULL;
    }
    for (k = 0; k < x->ndim; k++) if (k != d && index->shape[k] > x->shape[k]) {
        nn__err(x->ctx, "nn_gather: index %s is larger than x %s at dim %d", NN__SHAPE(index, s2), NN__SHAPE(x, s1), k);
        return NULL;
    }
    if (!(xs[0] = nn__contig_input(x)) || !(xs[1] = nn__contig_input(index))) return NULL;
    y = nn__node(NN_OP_GATHER, "nn_gather", index->ndim, index->shape, xs, 2, 1);
    if (!y) return NULL;
    y->saved = nn__arena_alloc(x->ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(int64_t));
    if (!y->saved) { nn__err(x->ctx, "nn_gather: out of memory"); return NULL; }
    y->ip[0] = d;
    return nn__forward(y) ? y : NULL;
}

/* index_select: y (outer, n, inner) = x (outer, D, inner)[:, index, :]; src: x, index (n) */
static int nn__index_select_forward(nn_tensor *y) {
    const int64_t *ix = NN__I64(y->src[1]);
    const float *x = NN__F32(y->src[0]);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], n = y->ip[3], o, r, row;
    for (r = 0; r < n; r++) if (!nn__index_ok(y, ix[r], D, &row)) return 0;
    for (o = 0; o < O; o++) for (r = 0; r < n; r++) {
        nn__index_ok(y, ix[r], D, &row);
        memcpy(NN__F32(y) + (o * n + r) * I, x + (o * D + row) * I, (size_t)I * sizeof(float));
    }
    return 1;
}
static int nn__index_select_backward(nn_tensor *y) {
    const int64_t *ix = NN__I64(y->src[1]);
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], n = y->ip[3], o, r, i, row;
    if (!dx) return 1;
    for (o = 0; o < O; o++) for (r = 0; r < n; r++) {
        float *dp; const float *gp = g + (o * n + r) * I;
        nn__index_ok(y, ix[r], D, &row);
        dp = dx + (o * D + row) * I;
        for (i = 0; i < I; i++) dp[i] += gp[i];
    }
    return 1;
}

NN_API nn_tensor *nn_index_select(nn_tensor *x, int dim, nn_tensor *index) {
    static const char *names[] = { "x" };
    nn_tensor *xs[2], *y; int d, nd; int64_t oi[3], shape[NN_MAX_DIMS];
    char s[128];
    if (!nn__check_inputs("nn_index_select", &x, names, 1) || !nn__check_index("nn_index_select", x, index, "index")) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_index_select", x, dim, 0, &d)) return NULL;
    if (index->ndim > 1) { nn__err(x->ctx, "nn_index_select: index is %s; it must be 1-D", NN__SHAPE(index, s)); return NULL; }
    if (!nn__split_dim("nn_index_select", x, d, 1, oi, &nd, shape)) return NULL;
    if (x->ndim) shape[d] = index->numel;
    if (!(xs[0] = nn__contig_input(x)) || !(xs[1] = nn__contig_input(index))) return NULL;
    y = nn__node(NN_OP_INDEX_SELECT, "nn_index_select", x->ndim, shape, xs, 2, 1);
    if (!y) return NULL;
    memcpy(y->ip, oi, sizeof oi);
    y->ip[3] = index->numel;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_embedding(nn_tensor *weight, nn_tensor *index) {
    static const char *names[] = { "weight" };
    nn_tensor *flat, *rows; int64_t shape[NN_MAX_DIMS], n; char s[128];
    if (!nn__check_inputs("nn_embedding", &weight, names, 1) || !nn__check_index("nn_embedding", weight, index, "index")) return NULL;
    if (weight->ndim != 2) { nn__err(weight->ctx, "nn_embedding: weight is %s; it must be (num_embeddings, embedding_dim)", NN__SHAPE(weight, s)); return NULL; }
    if (index->ndim + 1 > NN_MAX_DIMS) { nn__err(weight->ctx, "nn_embedding: index has %d dims; at most %d", index->ndim, NN_MAX_DIMS - 1); return NULL; }
    n = index->numel;
    flat = nn_reshape(index, 1, &n);
    rows = nn_index_select(weight, 0, flat);
    if (!rows) return NULL;
    memcpy(shape, index->shape, (size_t)index->ndim * sizeof(int64_t));
    shape[index->ndim] = weight->shape[1];
    return nn_reshape(rows, index->ndim + 1, shape);
}

/* one_hot: y (index's shape, C) int64; src: index (contiguous) */
static int nn__one_hot_forward(nn_tensor *y) {
    const int64_t *ix = NN__I64(y->src[0]);
    int64_t C = y->shape[y->ndim - 1], i, n = y->src[0]->numel;
    memset(y->data, 0, (size_t)y->numel * sizeof(int64_t));
    for (i = 0; i < n; i++) {
        if (ix[i] < 0 || ix[i] >= C) {
            nn__err(y->ctx, "nn_one_hot: class %lld at position %lld is not in [0, %lld)", (long long)ix[i], (long long)i, (long long)C);
            return 0;
        }
        NN__I64(y)[i * C + ix[i]] = 1;
    }
    return 1;
}
static int nn__one_hot_backward(nn_tensor *y) { (void)y; return 1; }   /* int64: no gradient */

/* num_classes -1 is max(index) + 1, as PyTorch: the one front end whose output shape depends on
   the data, so it reads the index (PyTorch synchronises with the device here too). */
NN_API nn_tensor *nn_one_hot(nn_tensor *index, int64_t num_classes) {
    nn_tensor *y, *ix; int64_t shape[NN_MAX_DIMS], i;
    if (!index) return NULL;
    if (!nn__check_index("nn_one_hot", index, index, "index")) return NULL;
    if (index->ndim + 1 > NN_MAX_DIMS) { nn__err(index->ctx, "nn_one_hot: index has %d dims; at most %d", index->ndim, NN_MAX_DIMS - 1); return NULL; }
    if (num_classes < -1) { nn__err(index->ctx, "nn_one_hot: num_classes is %lld; it must be -1 or >= 0", (long long)num_classes); return NULL; }
    if (!(ix = nn__contig_input(index))) return NULL;
    if (num_classes == -1) {
        if (ix->device != NN_CPU) { nn__err(index->ctx, "nn_one_hot: num_classes -1 needs the index on the CPU"); return NULL; }
        num_classes = 0;
        for (i = 0; i < ix->numel; i++) if (NN__I64(ix)[i] + 1 > num_classes) num_classes = NN__I64(ix)[i] + 1;
    }
    memcpy(shape, index->shape, (size_t)index->ndim * sizeof(int64_t));
    shape[index->ndim] = num_classes;
    y = nn__node_dtype(NN_OP_ONE_HOT, "nn_one_hot", index->ndim + 1, shape, &ix, 1, 1, NN_INT64);
    if (!y) return NULL;
    return nn__forward(y) ? y : NULL;
}

/* ---- views: reshape, transpose, permute, slice, select, squeeze, unsqueeze ---- */
/* A view shares its input's data through its own strides. Its backward needs
   the same geometry in the input's contiguous gradient: ip[0..nd) are those
   strides, ip[NN_MAX_DIMS] the offset. */

typedef int (*nn__geom_fn)(const nn_tensor *x, const int64_t *st, const int64_t *args,
                           int *nd, int64_t *shape, int64_t *ost, int64_t *off);

static nn_tensor *nn__view(int op, const char *fn, nn_tensor *x, nn__geom_fn geom, const int64_t *args) {
    static const char *names[] = { "x" };
    int nd, nd2, i; int64_t shape[NN_MAX_DIMS], st[NN_MAX_DIMS], off, lst[NN_MAX_DIMS], lstride[NN_MAX_DIMS], loff;
    nn_tensor *y;
    if (!nn__check_inputs_dtype(fn, &x, names, 1, NN_DTYPE_COUNT)) return NULL;
    if (!geom(x, x->stride, args, &nd, shape, st, &off)) return NULL;
    nn__contig_strides(x->ndim, x->shape, lst);
    geom(x, lst, args, &nd2, shape, lstride, &loff);
    y = nn__node_dtype(op, fn, nd, shape, &x, 1, 0, x->dtype);
    if (!y) return NULL;
    y->data = NN__CAST(char *, x->data) + (size_t)off * nn_dtype_size(x->dtype);   /* geometry only: no data is read */
    y->storage = x->storage;
    for (i = 0; i < nd; i++) { y->stride[i] = st[i]; y->ip[i] = lstride[i]; }
    y->ip[NN_MAX_DIMS] = loff;
    return nn__forward(y) ? y : NULL;
}

static int nn__view_forward(nn_tensor *y) { (void)y; return 1; }   /* the view reads its input's storage */

static int nn__view_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    nn__walk w; int64_t i;
    if (!dx) return 1;
    dx += y->ip[NN_MAX_DIMS];
    nn__walk_init(&w, y->ndim, y->shape, y->ip, NULL, NULL);
    for (i = 0; i < y->numel; i++, nn__walk_next(&w)) dx[w.off[0]] += g[i];
    return 1;
}

/* args: [0] = ndim, [1..] = shape (already resolved, x contiguous) */
static int nn__geom_reshape(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    (void)x; (void)st;
    *nd = (int)args[0];
    memcpy(shape, args + 1, (size_t)*nd * sizeof(int64_t));
    nn__contig_strides(*nd, shape, ost);
    *off = 0;
    return 1;
}
NN_API nn_tensor *nn_reshape(nn_tensor *x, int ndim, const int64_t *shape) {
    int64_t args[NN_MAX_DIMS + 1], known = 1, n; int i, infer = -1;
    char s[128];
    if (!x) return NULL;
    if (ndim < 0 || ndim > NN_MAX_DIMS || (ndim && !shape)) { nn__err(x->ctx, "nn_reshape: %d dims requested; a tensor has 0 to %d", ndim, NN_MAX_DIMS); return NULL; }
    for (i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (infer >= 0) { nn__err(x->ctx, "nn_reshape: more than one -1 in the new shape"); return NULL; }
            infer = i;
        } else if (shape[i] < 0) { nn__err(x->ctx, "nn_reshape: size %lld at dim %d is invalid", (long long)shape[i], i); return NULL; }
        else known *= shape[i];
        args[i + 1] = shape[i];
    }
    n = x->numel;
    if (infer >= 0) {
        if (known == 0 || n % known) { nn__err(x->ctx, "nn_reshape: cannot infer the -1 of the new shape for %s (%lld elements)", NN__SHAPE(x, s), (long long)n); return NULL; }
        args[infer + 1] = n / known; known = n;
    }
    if (known != n) {
        nn__err(x->ctx, "nn_reshape: %s has %lld elements; the new shape has %lld", NN__SHAPE(x, s), (long long)n, (long long)known);
        return NULL;
    }
    args[0] = ndim;
    if (!(x = nn__contig_input(x))) return NULL;
    return nn__view(NN_OP_RESHAPE, "nn_reshape", x, nn__geom_reshape, args);
}
NN_API nn_tensor *nn_view(nn_tensor *x, int ndim, const int64_t *shape) {
    char s[128];
    if (x && !nn_is_contiguous(x)) {
        nn__err(x->ctx, "nn_view: x %s is not contiguous; use nn_reshape or nn_contiguous first", NN__SHAPE(x, s));
        return NULL;
    }
    return nn_reshape(x, ndim, shape);
}
NN_API nn_tensor *nn_flatten(nn_tensor *x, int start_dim, int end_dim) {
    int s, e, i, nd = 0; int64_t shape[NN_MAX_DIMS];
    if (!x) return NULL;
    if (x->ndim == 0) { int64_t one = 1; return nn_reshape(x, 1, &one); }
    if (!nn__norm_dim(x->ctx, "nn_flatten", x, start_dim, 0, &s) || !nn__norm_dim(x->ctx, "nn_flatten", x, end_dim, 0, &e)) return NULL;
    if (s > e) { nn__err(x->ctx, "nn_flatten: start_dim %d comes after end_dim %d", start_dim, end_dim); return NULL; }
    for (i = 0; i < s; i++) shape[nd++] = x->shape[i];
    shape[nd] = 1;
    for (i = s; i <= e; i++) shape[nd] *= x->shape[i];
    nd++;
    for (i = e + 1; i < x->ndim; i++) shape[nd++] = x->shape[i];
    return nn_reshape(x, nd, shape);
}

/* args: the permutation */
static int nn__geom_permute(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    int i;
    *nd = x->ndim; *off = 0;
    for (i = 0; i < x->ndim; i++) { shape[i] = x->shape[args[i]]; ost[i] = st[args[i]]; }
    return 1;
}
NN_API nn_tensor *nn_transpose(nn_tensor *x, int dim0, int dim1) {
    int64_t perm[NN_MAX_DIMS]; int a, b, i;
    if (!x) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_transpose", x, dim0, 0, &a) || !nn__norm_dim(x->ctx, "nn_transpose", x, dim1, 0, &b)) return NULL;
    for (i = 0; i < x->ndim; i++) perm[i] = i;
    if (x->ndim) { perm[a] = b; perm[b] = a; }
    return nn__view(NN_OP_TRANSPOSE, "nn_transpose", x, nn__geom_permute, perm);
}
NN_API nn_tensor *nn_permute(nn_tensor *x, const int *dims) {
    int64_t perm[NN_MAX_DIMS]; int i, d, seen[NN_MAX_DIMS];
    if (!x) return NULL;
    if (!dims) { nn__err(x->ctx, "nn_permute: dims is NULL"); return NULL; }
    memset(seen, 0, sizeof seen);
    for (i = 0; i < x->ndim; i++) {
        if (!nn__norm_dim(x->ctx, "nn_permute", x, dims[i], 0, &d)) return NULL;
        if (seen[d]++) { nn__err(x->ctx, "nn_permute: dim %d appears twice in dims", d); return NULL; }
        perm[i] = d;
    }
    return nn__view(NN_OP_PERMUTE, "nn_permute", x, nn__geom_permute, perm);
}

/* args: dim, start, length, step (resolved) */
static int nn__geom_slice(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    int i, d = (int)args[0];
    *nd = x->ndim;
    for (i = 0; i < x->ndim; i++) { shape[i] = x->shape[i]; ost[i] = st[i]; }
    shape[d] = args[2]; ost[d] = st[d] * args[3];
    *off = args[1] * st[d];
    return 1;
}
NN_API nn_tensor *nn_slice(nn_tensor *x, int dim, int64_t start, int64_t end, int64_t step) {
    int64_t args[4], size; int d;
    if (!x) return NULL;
    if (x->ndim == 0) { nn__err(x->ctx, "nn_slice: cannot slice a 0-dim tensor"); return NULL; }
    if (!nn__norm_dim(x->ctx, "nn_slice", x, dim, 0, &d)) return NULL;
    if (step <= 0) { nn__err(x->ctx, "nn_slice: step %lld must be positive", (long long)step); return NULL; }
    size = x->shape[d];
    if (start < 0) start += size;
    if (end < 0) end += size;
    if (start < 0) start = 0;
    if (start > size) start = size;
    if (end > size) end = size;
    if (end < start) end = start;
    args[0] = d; args[1] = start; args[2] = (end - start + step - 1) / step; args[3] = step;
    return nn__view(NN_OP_SLICE, "nn_slice", x, nn__geom_slice, args);
}

/* args: dim, index (resolved) */
static int nn__geom_select(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    int i, d = (int)args[0];
    *nd = 0;
    for (i = 0; i < x->ndim; i++) if (i != d) { shape[*nd] = x->shape[i]; ost[(*nd)++] = st[i]; }
    *off = args[1] * st[d];
    return 1;
}
NN_API nn_tensor *nn_select(nn_tensor *x, int dim, int64_t index) {
    int64_t args[2]; int d;
    if (!x) return NULL;
    if (x->ndim == 0) { nn__err(x->ctx, "nn_select: cannot index a 0-dim tensor"); return NULL; }
    if (!nn__norm_dim(x->ctx, "nn_select", x, dim, 0, &d)) return NULL;
    if (index < -x->shape[d] || index >= x->shape[d]) {
        nn__err(x->ctx, "nn_select: index %lld is out of range for dim %d of size %lld", (long long)index, d, (long long)x->shape[d]);
        return NULL;
    }
    args[0] = d; args[1] = index < 0 ? index + x->shape[d] : index;
    return nn__view(NN_OP_SELECT, "nn_select", x, nn__geom_select, args);
}

/* args: dim to drop (-1: none) or, for unsqueeze, dim to insert + 1000 */
static int nn__geom_squeeze(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    int i, ins = args[0] >= 1000 ? (int)args[0] - 1000 : -1, drop = args[0] < 1000 ? (int)args[0] : -1;
    *nd = 0; *off = 0;
    for (i = 0; i <= x->ndim; i++) {
        if (i == ins) { shape[*nd] = 1; ost[(*nd)++] = i < x->ndim ? st[i] * x->shape[i] : 1; }
        if (i < x->ndim && i != drop) { shape[*nd] = x->shape[i]; ost[(*nd)++] = st[i]; }
    }
    return 1;
}
NN_API nn_tensor *nn_squeeze(nn_tensor *x, int dim) {
    int64_t args[1]; int d;
    if (!x) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_squeeze", x, dim, 0, &d)) return NULL;
    args[0] = (x->ndim && x->shape[d] == 1) ? d : -1;
    return nn__view(NN_OP_SQUEEZE, "nn_squeeze", x, nn__geom_squeeze, args);
}
NN_API nn_tensor *nn_unsqueeze(nn_tensor *x, int dim) {
    int64_t args[1]; int d;
    if (!x) return NULL;
    if (x->ndim >= NN_MAX_DIMS) { nn__err(x->ctx, "nn_unsqueeze: x already has %d dims, the most a tensor can have", x->ndim); return NULL; }
    if (!nn__norm_dim(x->ctx, "nn_unsqueeze", x, dim, 1, &d)) return NULL;
    args[0] = 1000 + d;
    return nn__view(NN_OP_UNSQUEEZE, "nn_unsqueeze", x, nn__geom_squeeze, args);
}

/* ---- copy (contiguous, clone), to_dtype, detach ---- */

static int nn__copy_forward(nn_tensor *y) { nn__gather_strided(y->data, y->src[0]); return 1; }
static int nn__copy_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);     /* x's gradient is contiguous: a plain add */
    const float *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[i] += g[i];
    return 1;
}
static nn_tensor *nn__copy(const char *fn, nn_tensor *x) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    if (!nn__check_inputs_dtype(fn, &x, names, 1, NN_DTYPE_COUNT)) return NULL;
    y = nn__node_dtype(NN_OP_COPY, fn, x->ndim, x->shape, &x, 1, 1, x->dtype);
    return y && nn__forward(y) ? y : NULL;
}
NN_API nn_tensor *nn_contiguous(nn_tensor *x) { return x && nn_is_contiguous(x) ? x : nn__copy("nn_contiguous", x); }
NN_API nn_tensor *nn_clone(nn_tensor *x) { return nn__copy("nn_clone", x); }

/* y (x's shape, contiguous) = x converted: float32 -> int64 truncates toward zero, as PyTorch */
static int nn__to_dtype_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    int64_t i;
    if (x->dtype == NN_FLOAT32 && y->dtype == NN_INT64) {
        for (i = 0; i < y->numel; i++) {
            float v = NN__F32(x)[i];
            if (!(v > -9.2e18f && v < 9.2e18f)) { nn__err(y->ctx, "nn_to_dtype: %g at position %lld has no int64 value", v, (long long)i); return 0; }
            NN__I64(y)[i] = (int64_t)v;
        }
    } else if (x->dtype == NN_INT64 && y->dtype == NN_FLOAT32) {
        for (i = 0; i < y->numel; i++) NN__F32(y)[i] = (float)NN__I64(x)[i];
    } else {
        nn__err(y->ctx, "nn_to_dtype: no conversion from %s to %s yet", nn_dtype_name(x->dtype), nn_dtype_name(y->dtype));
        return 0;
    }
    return 1;
}
static int nn__to_dtype_backward(nn_tensor *y) { (void)y; return 1; }   /* casts are not differentiable here */

NN_API nn_tensor *nn_to_dtype(nn_tensor *x, nn_dtype dtype) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    if (!nn__check_inputs_dtype("nn_to_dtype", &x, names, 1, NN_DTYPE_COUNT)) return NULL;
    if (!nn_dtype_size(dtype)) { nn__err(x->ctx, "nn_to_dtype: unknown dtype %d", (int)dtype); return NULL; }
    if (dtype == x->dtype) return x;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node_dtype(NN_OP_TO_DTYPE, "nn_to_dtype", x->ndim, x->shape, &x, 1, 1, dtype);
    if (!y) return NULL;
    y->requires_grad = 0;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_detach(nn_tensor *x) {
    nn_tensor *y;
    if (!x) return NULL;
    y = nn__new_arena(x->ctx, "nn_detach", x->ndim, x->shape, 0);
    if (!y) return NULL;
    y->data = x->data;
    y->dtype = x->dtype;
    y->storage = x->storage;
    memcpy(y->stride, x->stride, sizeof y->stride);
    return y;
}

/* ---- cat, stack ---- */
/* ip[0] = outer (product of dims before dim), ip[1] = inner (product after) */

static int nn__cat_forward(nn_tensor *y) {
    int64_t O = y->ip[0], I = y->ip[1], o, at = 0; int k;
    int64_t Y = y->ndim ? y->shape[y->ip[2]] * I : I;    /* (outer, sum of D_k * inner) */
    for (k = 0; k < y->nsrc; k++) {
        const nn_tensor *x = y->src[k];
        int64_t X = x->shape[y->ip[2]] * I;
        for (o = 0; o < O; o++) memcpy(NN__F32(y) + o * Y + at, NN__F32(x) + o * X, (size_t)X * sizeof(float));
        at += X;
    }
    return 1;
}
static int nn__cat_backward(nn_tensor *y) {
    int64_t O = y->ip[0], I = y->ip[1], o, i, at = 0; int k;
    int64_t Y = y->shape[y->ip[2]] * I;
    for (k = 0; k < y->nsrc; k++) {
        const nn_tensor *x = y->src[k];
        int64_t X = x->shape[y->ip[2]] * I;
        float *dx = nn__gbuf(x);
        if (dx) for (o = 0; o < O; o++) for (i = 0; i < X; i++) dx[o * X + i] += NN__F32(y->grad)[o * Y + at + i];
        at += X;
    }
    return 1;
}

NN_API nn_tensor *nn_cat(nn_tensor **xs, int n, int dim) {
    nn_ctx *ctx; int d, k, i; int64_t shape[NN_MAX_DIMS], O = 1, I = 1; nn_tensor *y, **cs;
    char s1[128], s2[128];
    if (!xs || n <= 0) return NULL;
    ctx = nn__ctx_of(xs, n);
    for (k = 0; k < n; k++) if (!xs[k]) { if (ctx && !ctx->has_error) nn__err(ctx, "nn_cat: tensor %d is NULL", k); return NULL; }
    if (xs[0]->ndim == 0) { nn__err(ctx, "nn_cat: tensors must have at least 1 dim; tensor 0 is a scalar"); return NULL; }
    if (!nn__norm_dim(ctx, "nn_cat", xs[0], dim, 0, &d)) return NULL;
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[d] = 0;
    for (k = 0; k < n; k++) {
        if (xs[k]->ctx != ctx) { nn__err(ctx, "nn_cat: tensor %d belongs to another nn_ctx", k); return NULL; }
        if (nn__stale(xs[k])) { nn__err(ctx, "nn_cat: tensor %d was made before the last nn_arena_reset and no longer exists", k); return NULL; }
        if (xs[k]->dtype != NN_FLOAT32) { nn__err(ctx, "nn_cat: tensor %d is %s; expected float32", k, nn_dtype_name(xs[k]->dtype)); return NULL; }
        for (i = 0; i < xs[0]->ndim; i++)
            if (xs[k]->ndim != xs[0]->ndim || (i != d && xs[k]->shape[i] != xs[0]->shape[i])) {
                nn__err(ctx, "nn_cat: tensor 0 is %s and tensor %d is %s; all sizes but dim %d must match", NN__SHAPE(xs[0], s1), k, NN__SHAPE(xs[k], s2), d);
                return NULL;
            }
        shape[d] += xs[k]->shape[d];
    }
    cs = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)n * sizeof(nn_tensor *)));
    if (!cs) { nn__err(ctx, "nn_cat: out of memory"); return NULL; }
    for (k = 0; k < n; k++) if (!(cs[k] = nn__contig_input(xs[k]))) return NULL;
    y = nn__node(NN_OP_CAT, "nn_cat", xs[0]->ndim, shape, cs, n, 1);
    if (!y) return NULL;
    for (i = 0; i < d; i++) O *= shape[i];
    for (i = d + 1; i < xs[0]->ndim; i++) I *= shape[i];
    y->ip[0] = O; y->ip[1] = I; y->ip[2] = d;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_stack(nn_tensor **xs, int n, int dim) {
    nn_ctx *ctx; nn_tensor **us; int k, d; char s1[128], s2[128];
    if (!xs || n <= 0) return NULL;
    ctx = nn__ctx_of(xs, n);
    for (k = 0; k < n; k++) if (!xs[k]) { if (ctx && !ctx->has_error) nn__err(ctx, "nn_stack: tensor %d is NULL", k); return NULL; }
    if (!nn__norm_dim(ctx, "nn_stack", xs[0], dim, 1, &d)) return NULL;
    us = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)n * sizeof(nn_tensor *)));
    if (!us) { nn__err(ctx, "nn_stack: out of memory"); return NULL; }
    for (k = 0; k < n; k++) {
        if (!nn__same_shape(xs[k], xs[0])) {
            nn__err(ctx, "nn_stack: tensor 0 is %s and tensor %d is %s; all must have the same shape", NN__SHAPE(xs[0], s1), k, NN__SHAPE(xs[k], s2));
            return NULL;
        }
        if (!(us[k] = nn_unsqueeze(xs[k], d))) return NULL;
    }
    return nn_cat(us, n, d);
}

/* ---- convolution: conv2d, conv_transpose2d (im2col + gemm) ---- */
/* ip: 0 sh, 1 sw, 2 ph, 3 pw, 4 dh, 5 dw, 6 groups, 7 oph, 8 opw */

/* img (C, H, W) -> col (C*kh*kw, OH*OW): the patch under each output position */
static void nn__im2col(float *col, const float *img, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       const int64_t *ip, int64_t OH, int64_t OW) {
    int64_t c, i, j, oh, ow, P = OH * OW;
    for (c = 0; c < C; c++) for (i = 0; i < kh; i++) for (j = 0; j < kw; j++) {
        float *dst = col + ((c * kh + i) * kw + j) * P;
        for (oh = 0; oh < OH; oh++) {
            int64_t ih = oh * ip[0] - ip[2] + i * ip[4];
            const float *src = img + (c * H + ih) * W;
            if (ih < 0 || ih >= H) { memset(dst + oh * OW, 0, (size_t)OW * sizeof(float)); continue; }
            for (ow = 0; ow < OW; ow++) {
                int64_t iw = ow * ip[1] - ip[3] + j * ip[5];
                dst[oh * OW + ow] = (iw >= 0 && iw < W) ? src[iw] : 0.0f;
            }
        }
    }
}
/* the adjoint: img (C, H, W) += col (C*kh*kw, OH*OW) scattered back */
static void nn__col2im(float *img, const float *col, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       const int64_t *ip, int64_t OH, int64_t OW) {
    int64_t c, i, j, oh, ow, P = OH * OW;
    for (c = 0; c < C; c++) for (i = 0; i < kh; i++) for (j = 0; j < kw; j++) {
        const float *src = col + ((c * kh + i) * kw + j) * P;
        for (oh = 0; oh < OH; oh++) {
            int64_t ih = oh * ip[0] - ip[2] + i * ip[4];
            float *dst = img + (c * H + ih) * W;
            if (ih < 0 || ih >= H) continue;
            for (ow = 0; ow < OW; ow++) {
                int64_t iw = ow * ip[1] - ip[3] + j * ip[5];
                if (iw >= 0 && iw < W) dst[iw] += src[oh * OW + ow];
            }
        }
    }
}

static float *nn__scratch(nn_ctx *ctx, int64_t n) { return NN__CAST(float *, nn__arena_alloc(ctx, (size_t)(n ? n : 1) * sizeof(float))); }
/* zeroed doubles for long sums (bias gradients) */
static double *nn__dscratch(nn_ctx *ctx, int64_t n) {
    double *d = NN__CAST(double *, nn__arena_alloc(ctx, (size_t)(n ? n : 1) * sizeof(double)));
    if (d) memset(d, 0, (size_t)n * sizeof(double));
    return d;
}

static int nn__conv2d_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], kh = w->shape[2], kw = w->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = O / G, K = Cg * kh * kw, P = OH * OW, n, g, o, q;
    float *col = NN__CAST(float *, y->saved);                     /* (K, P) */
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        float *yo = NN__F32(y) + (n * O + g * Og) * P;                /* (Og, P) */
        nn__im2col(col, NN__F32(x) + (n * C + g * Cg) * H * W, Cg, H, W, kh, kw, y->ip, OH, OW);
        nn__gemm(y->ctx, Og, P, K, NN__F32(w) + g * Og * K, K, 1, col, P, 1, yo, P, 0);
        if (b) for (o = 0; o < Og; o++) { float bv = NN__F32(b)[g * Og + o]; for (q = 0; q < P; q++) yo[o * P + q] += bv; }
    }
    return 1;
}
static int nn__conv2d_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], kh = w->shape[2], kw = w->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = O / G, K = Cg * kh * kw, P = OH * OW, n, g, o, q;
    float *col = NN__CAST(float *, y->saved), *dcol = dx ? nn__scratch(y->ctx, K * P) : NULL;   /* (K, P) */
    double *dbsum = db ? nn__dscratch(y->ctx, O) : NULL;                                           /* (O) */
    if ((dx && !dcol) || (db && !dbsum)) { nn__err(y->ctx, "nn_backward: out of memory in conv2d"); return 0; }
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        const float *gy = NN__F32(y->grad) + (n * O + g * Og) * P;    /* (Og, P) */
        if (dw) {   /* dw (Og, K) += gy (Og, P) @ col^T */
            nn__im2col(col, NN__F32(x) + (n * C + g * Cg) * H * W, Cg, H, W, kh, kw, y->ip, OH, OW);
            nn__gemm(y->ctx, Og, K, P, gy, P, 1, col, 1, P, dw + g * Og * K, K, 1);
        }
        if (dx) {   /* dcol (K, P) = w^T (K, Og) @ gy; dx += col2im(dcol) */
            nn__gemm(y->ctx, K, P, Og, NN__F32(w) + g * Og * K, 1, K, gy, P, 1, dcol, P, 0);
            nn__col2im(dx + (n * C + g * Cg) * H * W, dcol, Cg, H, W, kh, kw, y->ip, OH, OW);
        }
        if (db) for (o = 0; o < Og; o++) { double s = 0; for (q = 0; q < P; q++) s += gy[o * P + q]; dbsum[g * Og + o] += s; }
    }
    if (db) for (o = 0; o < O; o++) db[o] += (float)dbsum[o];
    return 1;
}

static int nn__conv_transpose2d_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = w->shape[1], O = Og * G, kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], K = Og * kh * kw, P = H * W, n, g, o, q;
    float *col = NN__CAST(float *, y->saved);                     /* (K, P) */
    memset(NN__F32(y), 0, (size_t)y->numel * sizeof(float));
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        float *yo = NN__F32(y) + (n * O + g * Og) * OH * OW;          /* (Og, OH, OW) */
        /* col (K, P) = w_g^T (K, Cg) @ x_g (Cg, P), then scattered into the output */
        nn__gemm(y->ctx, K, P, Cg, NN__F32(w) + g * Cg * K, 1, K, NN__F32(x) + (n * C + g * Cg) * P, P, 1, col, P, 0);
        nn__col2im(yo, col, Og, OH, OW, kh, kw, y->ip, H, W);
        if (b) for (o = 0; o < Og; o++) { float bv = NN__F32(b)[g * Og + o]; for (q = 0; q < OH * OW; q++) yo[o * OH * OW + q] += bv; }
    }
    return 1;
}
static int nn__conv_transpose2d_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = w->shape[1], O = Og * G, kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], K = Og * kh * kw, P = H * W, n, g, o, q;
    float *col = NN__CAST(float *, y->saved);                     /* (K, P) */
    double *dbsum = db ? nn__dscratch(y->ctx, O) : NULL;          /* (O) */
    if (db && !dbsum) { nn__err(y->ctx, "nn_backward: out of memory in conv_transpose2d"); return 0; }
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        const float *gy = NN__F32(y->grad) + (n * O + g * Og) * OH * OW;
        nn__im2col(col, gy, Og, OH, OW, kh, kw, y->ip, H, W);      /* dcol (K, P) */
        if (dx) nn__gemm(y->ctx, Cg, P, K, NN__F32(w) + g * Cg * K, K, 1, col, P, 1, dx + (n * C + g * Cg) * P, P, 1);
        if (dw) nn__gemm(y->ctx, Cg, K, P, NN__F32(x) + (n * C + g * Cg) * P, P, 1, col, 1, P, dw + g * Cg * K, K, 1);
        if (db) for (o = 0; o < Og; o++) { double s = 0; for (q = 0; q < OH * OW; q++) s += gy[o * OH * OW + q]; dbsum[g * Og + o] += s; }
    }
    if (db) for (o = 0; o < O; o++) db[o] += (float)dbsum[o];
    return 1;
}

static nn_tensor *nn__conv(int op, const char *fn, nn_tensor *x, nn_tensor *w, nn_tensor *b, const int64_t *ip) {
    static const char *names[] = { "input", "weight" };
    nn_tensor *xs[3], *y; int64_t shape[4], C, G = ip[6], kh, kw, outc, OH, OW, K, P;
    char s1[128], s2[128], s3[128];
    int transposed = op == NN_OP_CONV_TRANSPOSE2D;
    xs[0] = x; xs[1] = w; xs[2] = b;
    if (!nn__check_inputs(fn, xs, names, 2)) return NULL;
    if (x->ndim != 4 || w->ndim != 4) {
        nn__err(x->ctx, "%s: input is %s and weight is %s; both must be 4-D (N, C, H, W) and (%s, kH, kW)", fn,
                NN__SHAPE(x, s1), NN__SHAPE(w, s2), transposed ? "C_in, C_out/groups" : "C_out, C_in/groups");
        return NULL;
    }
    if (G < 1 || ip[0] < 1 || ip[1] < 1 || ip[4] < 1 || ip[5] < 1 || ip[2] < 0 || ip[3] < 0) {
        nn__err(x->ctx, "%s: stride %lldx%lld, padding %lldx%lld, dilation %lldx%lld, groups %lld; stride, dilation and groups must be >= 1, padding >= 0",
                fn, (long long)ip[0], (long long)ip[1], (long long)ip[2], (long long)ip[3], (long long)ip[4], (long long)ip[5], (long long)G);
        return NULL;
    }
    C = x->shape[1]; kh = w->shape[2]; kw = w->shape[3];
    if (transposed ? (w->shape[0] != C || C % G) : (w->shape[1] * G != C || w->shape[0] % G)) {
        nn__err(x->ctx, "%s: input is %s and weight is %s with groups %lld; the input's channels do not match the weight", fn,
                NN__SHAPE(x, s1), NN__SHAPE(w, s2), (long long)G);
        return NULL;
    }
    outc = transposed ? w->shape[1] * G : w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != outc)) {
        nn__err(x->ctx, "%s: bias is %s; expected (%lld,)", fn, NN__SHAPE(b, s3), (long long)outc);
        return NULL;
    }
    if (transposed) {
        if (ip[7] >= ip[0] && ip[7] >= ip[4]) { nn__err(x->ctx, "%s: output_padding %lld must be smaller than stride or dilation", fn, (long long)ip[7]); return NULL; }
        OH = (x->shape[2] - 1) * ip[0] - 2 * ip[2] + ip[4] * (kh - 1) + ip[7] + 1;
        OW = (x->shape[3] - 1) * ip[1] - 2 * ip[3] + ip[5] * (kw - 1) + ip[8] + 1;
    } else {
        OH = (x->shape[2] + 2 * ip[2] - ip[4] * (kh - 1) - 1) / ip[0] + 1;
        OW = (x->shape[3] + 2 * ip[3] - ip[5] * (kw - 1) - 1) / ip[1] + 1;
        if (x->shape[2] + 2 * ip[2] < ip[4] * (kh - 1) + 1 || x->shape[3] + 2 * ip[3] < ip[5] * (kw - 1) + 1) OH = 0;
    }
    if (OH <= 0 || OW <= 0) {
        nn__err(x->ctx, "%s: input %s with kernel %lldx%lld gives an empty output", fn, NN__SHAPE(x, s1), (long long)kh, (long long)kw);
        return NULL;
    }
    shape[0] = x->shape[0]; shape[1] = outc; shape[2] = OH; shape[3] = OW;
    for (K = 0; K < 2; K++) if (!(xs[K] = nn__contig_input(xs[K]))) return NULL;
    if (b && !(xs[2] = nn__contig_input(b))) return NULL;
    y = nn__node(op, fn, 4, shape, xs, 3, 1);
    if (!y) return NULL;
    memcpy(y->ip, ip, 9 * sizeof(int64_t));
    K = transposed ? w->shape[1] * kh * kw : (C / G) * kh * kw;
    P = transposed ? x->shape[2] * x->shape[3] : OH * OW;
    y->saved = nn__scratch(x->ctx, K * P);
    if (!y->saved) { nn__err(x->ctx, "%s: out of memory", fn); return NULL; }
    return nn__forward(y) ? y : NULL;
}

NN_API nn_conv_opts nn_conv_opts_default(void) {
    nn_conv_opts o;
    o.stride = 1; o.padding = 0; o.dilation = 1; o.groups = 1; o.output_padding = 0;
    return o;
}
NN_API nn_tensor *nn_conv2d(nn_tensor *x, nn_tensor *w, nn_tensor *b, nn_conv_opts o) {
    int64_t ip[9];
    if (x && o.output_padding != 0) { nn__err(x->ctx, "nn_conv2d: output_padding is %lld; it is for nn_conv_transpose2d only", (long long)o.output_padding); return NULL; }
    ip[0] = ip[1] = o.stride; ip[2] = ip[3] = o.padding;
    ip[4] = ip[5] = o.dilation; ip[6] = o.groups; ip[7] = ip[8] = 0;
    return nn__conv(NN_OP_CONV2D, "nn_conv2d", x, w, b, ip);
}
NN_API nn_tensor *nn_conv_transpose2d(nn_tensor *x, nn_tensor *w, nn_tensor *b, nn_conv_opts o) {
    int64_t ip[9];
    ip[0] = ip[1] = o.stride; ip[2] = ip[3] = o.padding;
    ip[4] = ip[5] = o.dilation; ip[6] = o.groups; ip[7] = ip[8] = o.output_padding;
    if (x && o.output_padding < 0) { nn__err(x->ctx, "nn_conv_transpose2d: output_padding is %lld; it must be >= 0", (long long)o.output_padding); return NULL; }
    return nn__conv(NN_OP_CONV_TRANSPOSE2D, "nn_conv_transpose2d", x, w, b, ip);
}

/* ---- pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d ---- */
/* ip: 0 kernel, 1 stride, 2 padding, 3 dilation, 4 count_include_pad; saved = argmax (max) */

/* PyTorch's pooling_output_shape: floor division rounding toward -inf; with ceil_mode the
   last window must start inside the input or its left padding. */
static int64_t nn__pool_out(int64_t H, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode) {
    int64_t num = H + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), o;
    o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (o - 1) * s >= H + p) o--;
    return o;
}

/* The input window [h0, h1) x [w0, w1) of output (oh, ow) for average pooling
   (padding clipped; divisor counts the padding unless count_include_pad is off)
   and adaptive pooling ([floor(o*H/OH), ceil((o+1)*H/OH))). Returns the divisor. */
static int64_t nn__pool_window(const nn_tensor *y, int64_t H, int64_t W, int64_t oh, int64_t ow,
                               int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1) {
    int64_t k = y->ip[0], s = y->ip[1], p = y->ip[2], OH = y->shape[2], OW = y->shape[3], div;
    if (y->op == NN_OP_ADAPTIVE_AVG_POOL2D) {
        *h0 = oh * H / OH; *h1 = ((oh + 1) * H + OH - 1) / OH; *w0 = ow * W / OW; *w1 = ((ow + 1) * W + OW - 1) / OW;
        return (*h1 - *h0) * (*w1 - *w0);
    }
    *h0 = oh * s - p; *w0 = ow * s - p; *h1 = *h0 + k; *w1 = *w0 + k;
    if (*h1 > H + p) *h1 = H + p;
    if (*w1 > W + p) *w1 = W + p;
    div = (*h1 - *h0) * (*w1 - *w0);
    if (*h0 < 0) *h0 = 0;
    if (*w0 < 0) *w0 = 0;
    if (*h1 > H) *h1 = H;
    if (*w1 > W) *w1 = W;
    if (!y->ip[4]) div = (*h1 - *h0) * (*w1 - *w0);
    return div > 0 ? div : 1;
}

static int nn__pool_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    int64_t NC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t k = y->ip[0], s = y->ip[1], p = y->ip[2], d = y->ip[3], c, oh, ow, i, j;
    int64_t *arg = NN__CAST(int64_t *, y->saved);
    for (c = 0; c < NC; c++) {
        const float *xp = NN__F32(x) + c * H * W;                        /* (H, W) */
        float *yp = NN__F32(y) + c * OH * OW;                            /* (OH, OW) */
        for (oh = 0; oh < OH; oh++) for (ow = 0; ow < OW; ow++) {
            int64_t o = oh * OW + ow;
            if (y->op == NN_OP_MAX_POOL2D) {
                float best = -INFINITY; int64_t at = -1;
                for (i = 0; i < k; i++) for (j = 0; j < k; j++) {
                    int64_t ih = oh * s - p + i * d, iw = ow * s - p + j * d;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    if (at < 0 || xp[ih * W + iw] > best || xp[ih * W + iw] != xp[ih * W + iw]) { best = xp[ih * W + iw]; at = ih * W + iw; }
                    if (best != best) break;
                }
                yp[o] = best; arg[c * OH * OW + o] = at;
            } else {   /* average and adaptive average */
                int64_t h0, h1, w0, w1, div = nn__pool_window(y, H, W, oh, ow, &h0, &h1, &w0, &w1); double sum = 0;
                for (i = h0; i < h1; i++) for (j = w0; j < w1; j++) sum += xp[i * W + j];
                yp[o] = (float)(sum / (double)div);
            }
        }
    }
    return 1;
}
static int nn__pool_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    float *dx = nn__gbuf(x);
    int64_t NC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t c, oh, ow, i, j;
    const int64_t *arg = NN__CAST(const int64_t *, y->saved);
    if (!dx) return 1;
    for (c = 0; c < NC; c++) {
        float *dp = dx + c * H * W;
        const float *gp = NN__F32(y->grad) + c * OH * OW;
        for (oh = 0; oh < OH; oh++) for (ow = 0; ow < OW; ow++) {
            int64_t o = oh * OW + ow;
            if (y->op == NN_OP_MAX_POOL2D) { if (arg[c * OH * OW + o] >= 0) dp[arg[c * OH * OW + o]] += gp[o]; }
            else {
                int64_t h0, h1, w0, w1, div = nn__pool_window(y, H, W, oh, ow, &h0, &h1, &w0, &w1);
                float share = gp[o] / (float)div;
                for (i = h0; i < h1; i++) for (j = w0; j < w1; j++) dp[i * W + j] += share;
            }
        }
    }
    return 1;
}

static nn_tensor *nn__pool(int op, const char *fn, nn_tensor *x, int64_t OH, int64_t OW, const int64_t *ip) {
    static const char *names[] = { "input" };
    nn_tensor *y; int64_t shape[4]; char s[128];
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (x->ndim != 4) { nn__err(x->ctx, "%s: input is %s; expected 4-D (N, C, H, W)", fn, NN__SHAPE(x, s)); return NULL; }
    if (OH <= 0 || OW <= 0) { nn__err(x->ctx, "%s: input %s gives an empty output (%lld x %lld)", fn, NN__SHAPE(x, s), (long long)OH, (long long)OW); return NULL; }
    if (!(x = nn__contig_input(x))) return NULL;
    shape[0] = x->shape[0]; shape[1] = x->shape[1]; shape[2] = OH; shape[3] = OW;
    y = nn__node(op, fn, 4, shape, &x, 1, 1);
    if (!y) return NULL;
    memcpy(y->ip, ip, 5 * sizeof(int64_t));
    if (op == NN_OP_MAX_POOL2D) {
        y->saved = nn__arena_alloc(x->ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(int64_t));
        if (!y->saved) { nn__err(x->ctx, "%s: out of memory", fn); return NULL; }
    }
    return nn__forward(y) ? y : NULL;
}

NN_API nn_pool_opts nn_pool_opts_default(int64_t kernel_size) {
    nn_pool_opts o;
    memset(&o, 0, sizeof o);
    o.kernel_size = kernel_size; o.stride = kernel_size; o.padding = 0; o.dilation = 1;
    o.ceil_mode = 0; o.count_include_pad = 1;
    return o;
}

static int nn__pool_args(nn_tensor *x, const char *fn, nn_pool_opts o, int64_t *ip) {
    ip[0] = o.kernel_size; ip[1] = o.stride; ip[2] = o.padding;
    ip[3] = o.dilation; ip[4] = o.count_include_pad != 0;
    if (ip[0] < 1 || ip[1] < 1 || ip[2] < 0 || ip[3] < 1 || 2 * ip[2] > ip[0]) {
        if (x) nn__err(x->ctx, "%s: kernel_size %lld, stride %lld, padding %lld, dilation %lld; kernel, stride, dilation must be >= 1 and padding at most half the kernel",
                       fn, (long long)ip[0], (long long)ip[1], (long long)ip[2], (long long)ip[3]);
        return 0;
    }
    return 1;
}
NN_API nn_tensor *nn_max_pool2d(nn_tensor *x, nn_pool_opts o) {
    int64_t ip[5];
    if (!x || !nn__pool_args(x, "nn_max_pool2d", o, ip)) return NULL;
    if (x->ndim != 4) return nn__pool(NN_OP_MAX_POOL2D, "nn_max_pool2d", x, 1, 1, ip);
    return nn__pool(NN_OP_MAX_POOL2D, "nn_max_pool2d", x, nn__pool_out(x->shape[2], ip[0], ip[1], ip[2], ip[3], o.ceil_mode),
                    nn__pool_out(x->shape[3], ip[0], ip[1], ip[2], ip[3], o.ceil_mode), ip);
}
NN_API nn_tensor *nn_avg_pool2d(nn_tensor *x, nn_pool_opts o) {
    int64_t ip[5];
    if (!x || !nn__pool_args(x, "nn_avg_pool2d", o, ip)) return NULL;
    if (x->ndim != 4) return nn__pool(NN_OP_AVG_POOL2D, "nn_avg_pool2d", x, 1, 1, ip);
    return nn__pool(NN_OP_AVG_POOL2D, "nn_avg_pool2d", x, nn__pool_out(x->shape[2], ip[0], ip[1], ip[2], 1, o.ceil_mode),
                    nn__pool_out(x->shape[3], ip[0], ip[1], ip[2], 1, o.ceil_mode), ip);
}
NN_API nn_tensor *nn_adaptive_avg_pool2d(nn_tensor *x, int64_t out_h, int64_t out_w) {
    int64_t ip[5] = { 0, 0, 0, 0, 0 };
    return nn__pool(NN_OP_ADAPTIVE_AVG_POOL2D, "nn_adaptive_avg_pool2d", x, out_h, out_w, ip);
}

/* ---- dropout ---- */
/* fp[0] = p; saved = the mask the forward draws from the context's RNG: 0 or 1/(1-p) per element */

static int nn__dropout_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);
    float *m = NN__CAST(float *, y->saved), p = y->fp[0], scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    int64_t i;
    for (i = 0; i < y->numel; i++) m[i] = nn__rng_uniform(&y->ctx->rng) < p ? 0.0f : scale;
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = x[i] * m[i];
    return 1;
}
static int nn__dropout_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *m = NN__CAST(const float *, y->saved), *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[i] += g[i] * m[i];
    return 1;
}
NN_API nn_tensor *nn_dropout(nn_tensor *x, float p, int training) {
    static const char *names[] = { "input" };
    nn_tensor *y;
    if (!nn__check_inputs("nn_dropout", &x, names, 1)) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) { nn__err(x->ctx, "nn_dropout: p is %g; it must be between 0 and 1", p); return NULL; }
    if (!training || p == 0.0f) return x;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(NN_OP_DROPOUT, "nn_dropout", x->ndim, x->shape, &x, 1, 1);
    if (!y) return NULL;
    y->saved = nn__scratch(x->ctx, x->numel);
    if (!y->saved) { nn__err(x->ctx, "nn_dropout: out of memory"); return NULL; }
    y->fp[0] = p;
    return nn__forward(y) ? y : NULL;
}

/* ---- normalisation: batch_norm (over N and spatial dims), layer_norm (over the last dims) ---- */
/* batch_norm: x (N, C, S); src: x, weight, bias; ip[0] training; saved: mean (C), invstd (C)
   layer_norm: x (R, M); src: x, weight, bias; saved: mean (R), invstd (R) */

/* The statistics: saved = mean (C or R), then invstd. Batch norm in training mode uses the
   batch's and updates running_mean/running_var (src 3, 4) in place, as F.batch_norm does. */
static void nn__norm_stats(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    float *mean = NN__CAST(float *, y->saved);
    int64_t n, c, s;
    double eps = y->fp[0], momentum = y->fp[1];
    if (y->op == NN_OP_BATCH_NORM) {
        nn_tensor *rm = y->nsrc > 3 ? y->src[3] : NULL, *rv = y->nsrc > 4 ? y->src[4] : NULL;
        int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C > 0 ? N * C : 1);
        double M = (double)(N * S);
        for (c = 0; c < C; c++) {
            double m = 0, v = 0;
            if (y->ip[0]) {
                for (n = 0; n < N; n++) for (s = 0; s < S; s++) m += NN__F32(x)[(n * C + c) * S + s];
                m /= M;
                for (n = 0; n < N; n++) for (s = 0; s < S; s++) { double d = NN__F32(x)[(n * C + c) * S + s] - m; v += d * d; }
                v /= M;
                if (rm) NN__F32(rm)[c] = (float)((1.0 - momentum) * NN__F32(rm)[c] + momentum * m);
                if (rv) NN__F32(rv)[c] = (float)((1.0 - momentum) * NN__F32(rv)[c] + momentum * v * M / (M - 1));
            } else { m = NN__F32(rm)[c]; v = NN__F32(rv)[c]; }
            mean[c] = (float)m; mean[C + c] = (float)(1.0 / sqrt(v + eps));
        }
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        for (n = 0; n < R; n++) {
            double m = 0, v = 0;
            for (s = 0; s < M; s++) m += NN__F32(x)[n * M + s];
            m /= (double)M;
            for (s = 0; s < M; s++) { double d = NN__F32(x)[n * M + s] - m; v += d * d; }
            v /= (double)M;
            mean[n] = (float)m; mean[R + n] = (float)(1.0 / sqrt(v + eps));
        }
    }
}

static int nn__norm_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const float *mean = NN__CAST(const float *, y->saved), *inv;
    int64_t n, c, s;
    nn__norm_stats(y);
    if (y->op == NN_OP_BATCH_NORM) {
        int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, S = x->numel / (N * C > 0 ? N * C : 1);
        inv = mean + C;
        for (n = 0; n < N; n++) for (c = 0; c < C; c++) {
            float sc = inv[c] * (w ? NN__F32(w)[c] : 1.0f), sh = b ? NN__F32(b)[c] : 0.0f;
            const float *xp = NN__F32(x) + (n * C + c) * S; float *yp = NN__F32(y) + (n * C + c) * S;
            for (s = 0; s < S; s++) yp[s] = (xp[s] - mean[c]) * sc + sh;
        }
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        inv = mean + R;
        for (n = 0; n < R; n++) {
            const float *xp = NN__F32(x) + n * M; float *yp = NN__F32(y) + n * M;
            for (s = 0; s < M; s++) yp[s] = (xp[s] - mean[n]) * inv[n] * (w ? NN__F32(w)[s] : 1.0f) + (b ? NN__F32(b)[s] : 0.0f);
        }
    }
    return 1;
}
static int nn__norm_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    const float *mean = NN__CAST(const float *, y->saved), *inv, *g = NN__F32(y->grad);
    int64_t n, c, s;
    if (y->op == NN_OP_BATCH_NORM) {
        int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, S = x->numel / (N * C > 0 ? N * C : 1);
        double M = (double)(N * S);
        inv = mean + C;
        for (c = 0; c < C; c++) {
            double sg = 0, sgx = 0; float wc = w ? NN__F32(w)[c] : 1.0f;
            for (n = 0; n < N; n++) for (s = 0; s < S; s++) {
                int64_t at = (n * C + c) * S + s;
                sg += g[at]; sgx += (double)g[at] * (NN__F32(x)[at] - mean[c]) * inv[c];
            }
            if (dw) dw[c] += (float)sgx;
            if (db) db[c] += (float)sg;
            if (!dx) continue;
            for (n = 0; n < N; n++) for (s = 0; s < S; s++) {
                int64_t at = (n * C + c) * S + s;
                if (y->ip[0]) {   /* training: the batch statistics depend on x too */
                    float xh = (NN__F32(x)[at] - mean[c]) * inv[c];
                    dx[at] += wc * inv[c] * (float)((g[at] * M - sg - xh * sgx) / M);
                } else dx[at] += g[at] * wc * inv[c];
            }
        }
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        double *acc = (dw || db) ? nn__dscratch(y->ctx, 2 * M) : NULL;   /* dw, db sums over rows (2, M) */
        if ((dw || db) && !acc) { nn__err(y->ctx, "nn_backward: out of memory in layer_norm"); return 0; }
        inv = mean + R;
        for (n = 0; n < R; n++) {
            const float *xp = NN__F32(x) + n * M, *gp = g + n * M;
            double sd = 0, sdx = 0;
            for (s = 0; s < M; s++) {
                float xh = (xp[s] - mean[n]) * inv[n], d = gp[s] * (w ? NN__F32(w)[s] : 1.0f);
                sd += d; sdx += (double)d * xh;
                if (acc) { acc[s] += (double)gp[s] * xh; acc[M + s] += gp[s]; }
            }
            if (dx) for (s = 0; s < M; s++) {
                float xh = (xp[s] - mean[n]) * inv[n], d = gp[s] * (w ? NN__F32(w)[s] : 1.0f);
                dx[n * M + s] += inv[n] * (float)((d * (double)M - sd - xh * sdx) / (double)M);
            }
        }
        if (dw) for (s = 0; s < M; s++) dw[s] += (float)acc[s];
        if (db) for (s = 0; s < M; s++) db[s] += (float)acc[M + s];
    }
    return 1;
}

NN_API nn_tensor *nn_batch_norm(nn_tensor *x, nn_tensor *running_mean, nn_tensor *running_var, nn_tensor *weight,
                                nn_tensor *bias, int training, float momentum, float eps) {
    static const char *names[] = { "input" };
    static const char *pnames[4] = { "running_mean", "running_var", "weight", "bias" };
    nn_tensor *xs[5], *y, *ps[4]; int64_t N, C, S, k; char s1[128], s2[128];
    if (!nn__check_inputs("nn_batch_norm", &x, names, 1)) return NULL;
    if (x->ndim < 2) { nn__err(x->ctx, "nn_batch_norm: input is %s; expected (N, C) or (N, C, ...)", NN__SHAPE(x, s1)); return NULL; }
    N = x->shape[0]; C = x->shape[1]; S = x->numel / (N * C > 0 ? N * C : 1);
    ps[0] = running_mean; ps[1] = running_var; ps[2] = weight; ps[3] = bias;
    for (k = 0; k < 4; k++) if (ps[k]) {
        if (!nn__check_inputs(pnames[k] ? "nn_batch_norm" : "", &ps[k], &pnames[k], 1)) return NULL;
        if (ps[k]->numel != C) {
            nn__err(x->ctx, "nn_batch_norm: input %s has %lld channels but %s is %s", NN__SHAPE(x, s1), (long long)C, pnames[k], NN__SHAPE(ps[k], s2));
            return NULL;
        }
        if (k < 2 && !nn_is_contiguous(ps[k])) { nn__err(x->ctx, "nn_batch_norm: %s must be contiguous (it is updated in place)", pnames[k]); return NULL; }
    }
    if (!training && (!running_mean || !running_var)) { nn__err(x->ctx, "nn_batch_norm: eval mode needs running_mean and running_var"); return NULL; }
    if (training && N * S <= 1) { nn__err(x->ctx, "nn_batch_norm: input %s has one value per channel; training needs more than one", NN__SHAPE(x, s1)); return NULL; }
    if (!(momentum >= 0.0f && momentum <= 1.0f)) { nn__err(x->ctx, "nn_batch_norm: momentum is %g; it must be in [0, 1]", momentum); return NULL; }
    if (!(eps >= 0.0f)) { nn__err(x->ctx, "nn_batch_norm: eps is %g; it must be >= 0", eps); return NULL; }
    if (!(xs[0] = nn__contig_input(x))) return NULL;
    xs[1] = weight ? nn__contig_input(weight) : NULL; xs[2] = bias ? nn__contig_input(bias) : NULL;
    xs[3] = running_mean; xs[4] = running_var;
    if ((weight && !xs[1]) || (bias && !xs[2])) return NULL;
    y = nn__node(NN_OP_BATCH_NORM, "nn_batch_norm", x->ndim, x->shape, xs, 5, 1);
    if (!y) return NULL;
    y->saved = nn__scratch(x->ctx, 2 * C);
    if (!y->saved) { nn__err(x->ctx, "nn_batch_norm: out of memory"); return NULL; }
    y->ip[0] = training; y->fp[0] = eps; y->fp[1] = momentum;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_layer_norm(nn_tensor *x, int normalized_ndim, nn_tensor *weight, nn_tensor *bias, float eps) {
    static const char *names[] = { "input" };
    nn_tensor *xs[3], *y; int64_t M = 1, R; int k; char s1[128], s2[128];
    if (!nn__check_inputs("nn_layer_norm", &x, names, 1)) return NULL;
    if (normalized_ndim < 1 || normalized_ndim > x->ndim) {
        nn__err(x->ctx, "nn_layer_norm: input is %s; normalized_ndim %d must be between 1 and %d", NN__SHAPE(x, s1), normalized_ndim, x->ndim);
        return NULL;
    }
    if (!(eps >= 0.0f)) { nn__err(x->ctx, "nn_layer_norm: eps is %g; it must be >= 0", eps); return NULL; }
    for (k = x->ndim - normalized_ndim; k < x->ndim; k++) M *= x->shape[k];
    xs[0] = weight; xs[1] = bias;
    for (k = 0; k < 2; k++) if (xs[k] && xs[k]->numel != M) {
        nn__err(x->ctx, "nn_layer_norm: input is %s, normalizing the last %d dims (%lld values), but %s is %s",
                NN__SHAPE(x, s1), normalized_ndim, (long long)M, k ? "bias" : "weight", NN__SHAPE(xs[k], s2));
        return NULL;
    }
    if (!(xs[0] = nn__contig_input(x))) return NULL;
    xs[1] = weight ? nn__contig_input(weight) : NULL; xs[2] = bias ? nn__contig_input(bias) : NULL;
    if ((weight && !xs[1]) || (bias && !xs[2])) return NULL;
    y = nn__node(NN_OP_LAYER_NORM, "nn_layer_norm", x->ndim, x->shape, xs, 3, 1);
    if (!y) return NULL;
    R = x->numel / (M ? M : 1);
    y->saved = nn__scratch(x->ctx, 2 * R);
    if (!y->saved) { nn__err(x->ctx, "nn_layer_norm: out of memory"); return NULL; }
    y->ip[1] = M; y->fp[0] = eps;
    return nn__forward(y) ? y : NULL;
}

/* ---- binary cross-entropy from logits, elementwise and stable ---- */
/* l = (1 - t) x + L (log(1 + e^-|x|) + max(-x, 0)), L = 1 + (pw - 1) t; dl/dx = L sigmoid(x) - pw t.
   src: x, target, pos_weight (broadcast over the last dim) */

static int nn__bce_logits_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *t = NN__F32(y->src[1]);
    const nn_tensor *pw = y->src[2];
    int64_t i, K = pw ? pw->numel : 1;
    for (i = 0; i < y->numel; i++) {
        float p = pw ? NN__F32(pw)[i % K] : 1.0f, L = 1.0f + (p - 1.0f) * t[i];
        NN__F32(y)[i] = (1.0f - t[i]) * x[i] + L * (log1pf(expf(-fabsf(x[i]))) + (x[i] < 0 ? -x[i] : 0.0f));
    }
    return 1;
}
static int nn__bce_logits_backward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *t = NN__F32(y->src[1]), *g = NN__F32(y->grad);
    const nn_tensor *pw = y->src[2];
    float *dx = nn__gbuf(y->src[0]);
    int64_t i, K = pw ? pw->numel : 1;
    if (dx) for (i = 0; i < y->numel; i++) {
        float p = pw ? NN__F32(pw)[i % K] : 1.0f, L = 1.0f + (p - 1.0f) * t[i];
        dx[i] += g[i] * (L * nn__sigmoidf(x[i]) - p * t[i]);
    }
    return 1;
}

/* ---- binary cross-entropy on probabilities ---- */
/* l = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)), as PyTorch clamps the logs;
   dl/dp = (p - t) / max(p (1 - p), 1e-12); dl/dt = max(log(1 - p), -100) - max(log p, -100).
   src: p, t. p outside [0, 1] is an error. */

static int nn__bce_forward(nn_tensor *y) {
    const float *p = NN__F32(y->src[0]), *t = NN__F32(y->src[1]);
    int64_t i;
    for (i = 0; i < y->numel; i++) {
        double lp, lq;
        if (!(p[i] >= 0.0f && p[i] <= 1.0f)) {
            nn__err(y->ctx, "nn_bce_loss: input %g at position %lld is not a probability in [0, 1]; use nn_bce_with_logits for logits",
                    p[i], (long long)i);
            return 0;
        }
        lp = p[i] > 0.0f ? log((double)p[i]) : -100.0;
        lq = p[i] < 1.0f ? log1p(-(double)p[i]) : -100.0;
        NN__F32(y)[i] = (float)-(t[i] * (lp > -100.0 ? lp : -100.0) + (1.0 - t[i]) * (lq > -100.0 ? lq : -100.0));
    }
    return 1;
}
static int nn__bce_backward(nn_tensor *y) {
    const float *p = NN__F32(y->src[0]), *t = NN__F32(y->src[1]), *g = NN__F32(y->grad);
    float *dp = nn__gbuf(y->src[0]), *dt = nn__gbuf(y->src[1]);
    int64_t i;
    for (i = 0; i < y->numel; i++) {
        double pq = (double)p[i] * (1.0 - p[i]);
        if (dp) dp[i] += (float)(g[i] * ((double)p[i] - t[i]) / (pq > 1e-12 ? pq : 1e-12));
        if (dt) {
            double lp = p[i] > 0.0f ? log((double)p[i]) : -100.0, lq = p[i] < 1.0f ? log1p(-(double)p[i]) : -100.0;
            dt[i] += (float)(g[i] * ((lq > -100.0 ? lq : -100.0) - (lp > -100.0 ? lp : -100.0)));
        }
    }
    return 1;
}

/* ---- Huber and smooth L1, elementwise ---- */
/* d = input - target; |d| < t: 0.5 d^2 (/ t for smooth L1), else |d| - 0.5 t (times t for Huber).
   fp[0] = t (delta or beta), ip[0] = 1 for smooth L1. src: input, target. */

static int nn__huber_forward(nn_tensor *y) {
    const float *a = NN__F32(y->src[0]), *b = NN__F32(y->src[1]);
    float t = y->fp[0];
    int64_t i;
    for (i = 0; i < y->numel; i++) {
        float d = a[i] - b[i], ad = fabsf(d);
        if (y->ip[0]) NN__F32(y)[i] = ad < t ? 0.5f * d * d / t : ad - 0.5f * t;
        else NN__F32(y)[i] = ad < t ? 0.5f * d * d : t * (ad - 0.5f * t);
    }
    return 1;
}
static int nn__huber_backward(nn_tensor *y) {
    const float *a = NN__F32(y->src[0]), *b = NN__F32(y->src[1]), *g = NN__F32(y->grad);
    float *da = nn__gbuf(y->src[0]), *db = nn__gbuf(y->src[1]), t = y->fp[0];
    int64_t i;
    for (i = 0; i < y->numel; i++) {
        float d = a[i] - b[i], sign = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f), k;
        if (fabsf(d) < t) k = y->ip[0] ? d / t : d;
        else k = y->ip[0] ? sign : t * sign;
        if (da) da[i] += g[i] * k;
        if (db) db[i] -= g[i] * k;
    }
    return 1;
}

/* ---- negative log-likelihood with class weights, ignore_index and label smoothing ---- */
/* src: logp (R, C), target int64 (R), weight (C) or NULL. ip[0] = reduction, ip[1] = ignore_index;
   fp[0] = label_smoothing e. Per row i (not ignored): (1 - e) w[t_i] (-logp[i, t_i]) + e / C sum_c w_c (-logp[i, c]).
   Mean divides the first term by sum_i w[t_i] and the second by the same sum with weights, by R without
   (PyTorch's cross_entropy_loss_label_smoothing). saved (2 doubles): those two divisors. */

static int nn__nll_check(nn_tensor *y, int64_t i, int64_t *k) {
    int64_t t = NN__I64(y->src[1])[i], C = y->src[0]->shape[1];
    if (t == y->ip[1]) return 0;
    if (t < 0 || t >= C) {
        nn__err(y->ctx, "nn_nll_loss: target %lld at position %lld is not a class in [0, %lld)", (long long)t, (long long)i, (long long)C);
        return -1;
    }
    *k = t;
    return 1;
}
static int nn__nll_forward(nn_tensor *y) {
    const nn_tensor *lp = y->src[0], *w = y->nsrc > 2 ? y->src[2] : NULL;
    int64_t R = lp->shape[0], C = lp->shape[1], i, c, k = 0;
    double e = y->fp[0], total = 0, nll = 0, smooth = 0, *div = NN__CAST(double *, y->saved);
    for (i = 0; i < R; i++) {
        const float *row = NN__F32(lp) + i * C;
        double li = 0, sm = 0;
        int ok = nn__nll_check(y, i, &k);
        if (ok < 0) return 0;
        if (ok) {
            double wt = w ? NN__F32(w)[k] : 1.0;
            total += wt;
            li = -(1.0 - e) * wt * row[k];
            if (e > 0) for (c = 0; c < C; c++) sm -= e / (double)C * (w ? NN__F32(w)[c] : 1.0) * row[c];
        }
        if (y->ip[0] == NN_NONE) NN__F32(y)[i] = (float)(li + sm);
        nll += li; smooth += sm;
    }
    div[0] = total;                          /* total 0 (all ignored): NaN, as PyTorch */
    div[1] = w ? total : (double)R;
    if (y->ip[0] == NN_SUM) NN__F32(y)[0] = (float)(nll + smooth);
    if (y->ip[0] == NN_MEAN) NN__F32(y)[0] = (float)(nll / div[0] + (e > 0 ? smooth / div[1] : 0.0));
    return 1;
}
static int nn__nll_backward(nn_tensor *y) {
    const nn_tensor *lp = y->src[0], *w = y->nsrc > 2 ? y->src[2] : NULL;
    float *dx = nn__gbuf(lp);
    const double *div = NN__CAST(const double *, y->saved);
    int64_t R = lp->shape[0], C = lp->shape[1], i, c, k = 0;
    double e = y->fp[0];
    if (!dx) return 1;
    for (i = 0; i < R; i++) {
        double g = y->ip[0] == NN_NONE ? NN__F32(y->grad)[i] : NN__F32(y->grad)[0], gn = g, gs = g;
        if (nn__nll_check(y, i, &k) <= 0) continue;
        if (y->ip[0] == NN_MEAN) { gn = g / div[0]; gs = g / div[1]; }
        dx[i * C + k] -= (float)((1.0 - e) * (w ? NN__F32(w)[k] : 1.0) * gn);
        if (e > 0) for (c = 0; c < C; c++) dx[i * C + c] -= (float)(e / (double)C * (w ? NN__F32(w)[c] : 1.0) * gs);
    }
    return 1;
}

/* ---- the registry's CPU column and the dispatcher ---- */

static int nn__leaf_forward(nn_tensor *y) { (void)y; return 1; }
static int nn__leaf_backward(nn_tensor *y) { (void)y; return 1; }

typedef struct nn__kernels { int (*forward)(nn_tensor *y); int (*backward)(nn_tensor *y); } nn__kernels;

#define NN__CPU_ROW(name, str, family) { nn__##family##_forward, nn__##family##_backward },
static const nn__kernels nn__cpu_kernels[NN_OP_COUNT] = { NN__OP_LIST(NN__CPU_ROW) };
#undef NN__CPU_ROW
#define NN__NAME_ROW(name, str, family) str,
static const char *const nn__op_names[NN_OP_COUNT] = { NN__OP_LIST(NN__NAME_ROW) };
#undef NN__NAME_ROW

/* One kernel table per device, each built from NN__OP_LIST. A device backend compiled in
   with NN_CUDA defined supplies nn__cuda_table(), and no front end changes. */
#ifdef NN_CUDA
static const nn__kernels *nn__cuda_table(void);
#endif
static const nn__kernels *nn__device_table(nn_device device) {
    if (device == NN_CPU) return nn__cpu_kernels;
#ifdef NN_CUDA
    if (device == NN_CUDA) return nn__cuda_table();
#endif
    return NULL;
}

static const nn__kernels *nn__kernels_for(nn_tensor *y) {
    const nn__kernels *table = nn__device_table(y->device);
    if (!table || !table[y->op].forward) {
        nn__err(y->ctx, "nn_%s: no kernel for device %d in this build", nn_op_name(y->op), (int)y->device);
        return NULL;
    }
    return &table[y->op];
}
static int nn__forward(nn_tensor *y) {
    const nn__kernels *k = nn__kernels_for(y);
    return k && k->forward(y);
}
static int nn__backward_node(nn_tensor *y) {
    const nn__kernels *k = nn__kernels_for(y);
    return k && k->backward(y);
}

NN_API const char *nn_op_name(int op) { return op >= 0 && op < NN_OP_COUNT ? nn__op_names[op] : "?"; }
