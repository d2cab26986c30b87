/* ==== memory ==== */
/* the context, the step arena, the RNG, tensor storage and creation */

/* tensor flags: who owns it; a non-leaf's grad kept (retain_grad); its graph used by a backward */
enum { NN__PERSISTENT = 1u, NN__ARENA = 2u, NN__RETAIN_GRAD = 4u, NN__GRAPH_FREED = 8u };

typedef struct nn__block {
    struct nn__block *next;
    size_t cap, used;
    char *mem;
} nn__block;

static nn_tensor *nn__retain(nn_tensor *t);
static int nn__finite(double v) { return v == v && v - v == 0.0; }   /* not NaN, not inf */

typedef struct nn__rng { uint64_t state, inc; int has_spare; float spare; } nn__rng;

/* a gradient buffer given back during backward, reused by the next one of a fitting size */
typedef struct nn__free_grad { struct nn__free_grad *next; size_t bytes; } nn__free_grad;

struct nn_ctx {
    nn__block *head, *cur;       /* step arena: blocks after cur are empty */
    nn__block *retired;          /* blocks merged away at the last reset, freed at the next one */
    size_t min_block;
    size_t in_use, peak;         /* arena bytes held now and at most since nn_ctx_new */
    size_t warn_at;              /* the next arena size that logs a "forgot nn_arena_reset?" warning */
    nn__free_grad *free_grads;
    int64_t n_nodes;             /* graph nodes and edges made since the last reset */
    uint64_t gen;                /* arena generation: arena tensors carry the one they were made in */
    unsigned visit_epoch;
    int grad_enabled;
    int summary;                 /* nn_module_summary is printing */
    nn__rng rng;
    int has_error;
    char error[512];
    nn_log_fn log;
    void *log_user;
};

typedef struct nn__mark { nn__block *block; size_t used, in_use; int64_t n_nodes; } nn__mark;

#ifndef NN_NO_STDIO
static void nn__stderr_logger(void *user, const char *msg) { (void)user; fprintf(stderr, "nn: %s\n", msg); }
#endif

/* Records an error: the first one sticks, every one goes to the logger. */
static void nn__err(nn_ctx *ctx, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    if (!ctx) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!ctx->has_error) { memcpy(ctx->error, buf, sizeof buf); ctx->has_error = 1; }
    if (ctx->log) ctx->log(ctx->log_user, buf);
}

/* "(64, 784)" */
static const char *nn__shape_str(const nn_tensor *t, char *buf, size_t n) {
    size_t k = 0; int i;
    if (!t) { snprintf(buf, n, "NULL"); return buf; }
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, t->ndim == 1 ? ",)" : ")");
    return buf;
}
#define NN__SHAPE(t, buf) nn__shape_str((t), (buf), sizeof(buf))

NN_API nn_ctx *nn_ctx_new(void) {
    nn_ctx *ctx = NN__CAST(nn_ctx *, NN_MALLOC(sizeof(nn_ctx)));
    if (!ctx) return NULL;
    memset(ctx, 0, sizeof *ctx);
    ctx->min_block = (size_t)1 << 20;
    ctx->warn_at = (size_t)1 << 30;
    ctx->gen = 1;
    ctx->grad_enabled = 1;
#ifndef NN_NO_STDIO
    ctx->log = nn__stderr_logger;
#endif
    nn_manual_seed(ctx, 0);
    return ctx;
}

NN_API void nn_ctx_free(nn_ctx *ctx) {
    nn__block *b, *next;
    if (!ctx) return;
    (void)nn__retain;
    for (b = ctx->head; b; b = next) { next = b->next; NN_FREE(b); }
    for (b = ctx->retired; b; b = next) { next = b->next; NN_FREE(b); }
    NN_FREE(ctx);
}

static void nn__arena_note(nn_ctx *ctx, size_t need) {
    ctx->in_use += need;
    if (ctx->in_use > ctx->peak) ctx->peak = ctx->in_use;
    if (ctx->in_use > ctx->warn_at && ctx->log) {
        char msg[256];
        snprintf(msg, sizeof msg, "warning: the step arena holds %.0f MB since the last nn_arena_reset; "
                 "call nn_arena_reset(ctx) once per training step, or memory grows without bound", ctx->in_use / 1e6);
        ctx->log(ctx->log_user, msg);
        ctx->warn_at *= 2;
    }
}

/* Arena allocation, 64-byte aligned. A block too small for a step is chained;
   the next reset merges the chain into one block, so steps after the first
   allocate nothing. */
static void *nn__arena_alloc(nn_ctx *ctx, size_t bytes) {
    nn__block *b;
    size_t need = (bytes + 63) & ~(size_t)63, cap;
    if (need < bytes) return NULL;
    for (b = ctx->cur; b; b = b->next) {
        if (b->used + need <= b->cap) {
            void *p = b->mem + b->used;
            b->used += need;
            ctx->cur = b;
            nn__arena_note(ctx, need);
            return p;
        }
        if (b != ctx->cur) break;     /* empty blocks after cur: only try the next one */
    }
    cap = ctx->min_block;
    if (ctx->cur && cap < 2 * ctx->cur->cap) cap = 2 * ctx->cur->cap;
    if (cap < need) cap = need;
    b = NN__CAST(nn__block *, NN_MALLOC(sizeof(nn__block) + cap + 64));
    if (!b) return NULL;
    b->cap = cap; b->used = need;
    b->mem = NN__CAST(char *, NN__CAST(void *, b + 1));
    b->mem += (64 - ((uintptr_t)b->mem & 63)) & 63;
    if (ctx->cur) { b->next = ctx->cur->next; ctx->cur->next = b; } else { b->next = NULL; ctx->head = b; }
    ctx->cur = b;
    nn__arena_note(ctx, need);
    return b->mem;
}

/* Every reset starts a new generation: tensors of the last one are refused by the ops
   (nn__stale). Even generations start 64 bytes in, so a stale header never lines up with
   a new one; merged blocks are freed one reset late, so a stale header is still readable. */
NN_API void nn_arena_reset(nn_ctx *ctx) {
    nn__block *b, *next;
    size_t total = 0;
    if (!ctx) return;
    ctx->n_nodes = 0;
    ctx->gen++;
    ctx->in_use = 0;
    ctx->free_grads = NULL;
    if (ctx->warn_at > ((size_t)1 << 30)) ctx->warn_at = (size_t)1 << 30;
    for (b = ctx->retired; b; b = next) { next = b->next; NN_FREE(b); }
    ctx->retired = NULL;
    if (ctx->head && ctx->head->next) {       /* merge the chain into one block */
        for (b = ctx->head; b; b = b->next) total += b->cap;
        ctx->retired = ctx->head;
        ctx->head = ctx->cur = NULL;
        ctx->min_block = total + 64;
        if (nn__arena_alloc(ctx, 1)) ctx->head->used = 0;
    }
    if (ctx->head) ctx->head->used = (ctx->gen & 1) ? 0 : 64;
    ctx->in_use = ctx->head ? ctx->head->used : 0;
    ctx->cur = ctx->head;
}

NN_API size_t nn_arena_peak(const nn_ctx *ctx) { return ctx ? ctx->peak : 0; }

/* Gradient buffers of intermediate results: taken when backward first needs one, given back
   once the node's backward has run, and reused within the step (peak = live gradients). */
static void *nn__grad_take(nn_ctx *ctx, size_t bytes) {
    nn__free_grad **pp, *f;
    size_t need = (bytes + 63) & ~(size_t)63;
    for (pp = &ctx->free_grads; (f = *pp) != NULL; pp = &f->next)
        if (f->bytes >= need && f->bytes <= 2 * need) { *pp = f->next; return (void *)f; }
    return nn__arena_alloc(ctx, need);
}
static void nn__grad_give(nn_ctx *ctx, void *p, size_t bytes) {
    nn__free_grad *f = NN__CAST(nn__free_grad *, p);
    f->bytes = (bytes + 63) & ~(size_t)63;
    f->next = ctx->free_grads;
    ctx->free_grads = f;
}

NN_API size_t nn_arena_capacity(const nn_ctx *ctx) {
    size_t total = 0; const nn__block *b;
    if (!ctx) return 0;
    for (b = ctx->head; b; b = b->next) total += b->cap;
    return total;
}

static nn__mark nn__arena_mark(nn_ctx *ctx) {
    nn__mark m;
    m.block = ctx->cur; m.used = ctx->cur ? ctx->cur->used : 0; m.n_nodes = ctx->n_nodes; m.in_use = ctx->in_use;
    return m;
}

static void nn__arena_rewind(nn_ctx *ctx, nn__mark m) {
    nn__block *b;
    if (!m.block) { nn_arena_reset(ctx); return; }
    for (b = m.block->next; b; b = b->next) b->used = 0;
    m.block->used = m.used;
    ctx->cur = m.block;
    ctx->n_nodes = m.n_nodes;
    ctx->in_use = m.in_use;
    ctx->free_grads = NULL;   /* buffers given back after the mark may lie in the memory rewound */
}

NN_API const char *nn_error(const nn_ctx *ctx) { return ctx && ctx->has_error ? ctx->error : NULL; }
NN_API void nn_clear_error(nn_ctx *ctx) { if (ctx) { ctx->has_error = 0; ctx->error[0] = 0; } }
NN_API void nn_set_logger(nn_ctx *ctx, nn_log_fn fn, void *user) { if (ctx) { ctx->log = fn; ctx->log_user = user; } }
NN_API int nn_set_grad_enabled(nn_ctx *ctx, int enabled) {
    int old;
    if (!ctx) return 0;
    old = ctx->grad_enabled; ctx->grad_enabled = enabled != 0;
    return old;
}
NN_API int nn_is_grad_enabled(const nn_ctx *ctx) { return ctx ? ctx->grad_enabled : 0; }

/* PCG32 (O'Neill), one stream per context. */
static uint32_t nn__rng_u32(nn__rng *r) {
    uint64_t old = r->state;
    uint32_t xs, rot;
    r->state = old * 6364136223846793005ULL + r->inc;
    xs = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    rot = (uint32_t)(old >> 59u);
    return (xs >> rot) | (xs << ((32u - rot) & 31u));
}
static float nn__rng_uniform(nn__rng *r) { return (float)(nn__rng_u32(r) >> 8) * (1.0f / 16777216.0f); }
static float nn__rng_normal(nn__rng *r) {
    double u1, u2, rad;
    if (r->has_spare) { r->has_spare = 0; return r->spare; }
    do { u1 = (nn__rng_u32(r) + 0.5) / 4294967296.0; } while (u1 <= 0.0);
    u2 = nn__rng_u32(r) / 4294967296.0;
    rad = sqrt(-2.0 * log(u1));
    r->spare = (float)(rad * sin(6.283185307179586 * u2));
    r->has_spare = 1;
    return (float)(rad * cos(6.283185307179586 * u2));
}
NN_API void nn_manual_seed(nn_ctx *ctx, uint64_t seed) {
    if (!ctx) return;
    ctx->rng.state = 0; ctx->rng.inc = (seed << 1u) | 1u; ctx->rng.has_spare = 0;
    nn__rng_u32(&ctx->rng);
    ctx->rng.state += 0x853c49e6748fea9bULL ^ seed;
    nn__rng_u32(&ctx->rng);
}

static void nn__contig_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1; int i;
    for (i = ndim - 1; i >= 0; i--) { stride[i] = s; s *= shape[i] > 0 ? shape[i] : 1; }
}

/* Checks a shape and returns its element count, or -1 (after an error). */
static int64_t nn__check_shape(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape) {
    int64_t n = 1; int i;
    if (ndim < 0 || ndim > NN_MAX_DIMS) { nn__err(ctx, "%s: %d dims requested; a tensor has 0 to %d dims", fn, ndim, NN_MAX_DIMS); return -1; }
    if (ndim > 0 && !shape) { nn__err(ctx, "%s: shape is NULL for %d dims", fn, ndim); return -1; }
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0) { nn__err(ctx, "%s: size %lld at dim %d is negative", fn, (long long)shape[i], i); return -1; }
        if (shape[i] > 0 && n > (INT64_MAX / 8) / shape[i]) { nn__err(ctx, "%s: shape overflows 64-bit sizes at dim %d", fn, i); return -1; }
        n *= shape[i];
    }
    return n;
}

#define NN__F32(t) NN__CAST(float *, (t)->data)
#define NN__I64(t) NN__CAST(int64_t *, (t)->data)

static const size_t nn__dtype_bytes[NN_DTYPE_COUNT] = { 4, 8, 2, 2 };
static const char *const nn__dtype_str[NN_DTYPE_COUNT] = { "float32", "int64", "float16", "bfloat16" };
NN_API size_t nn_dtype_size(nn_dtype dtype) { return (int)dtype >= 0 && dtype < NN_DTYPE_COUNT ? nn__dtype_bytes[dtype] : 0; }
NN_API const char *nn_dtype_name(nn_dtype dtype) { return (int)dtype >= 0 && dtype < NN_DTYPE_COUNT ? nn__dtype_str[dtype] : "?"; }

static void nn__init_header(nn_tensor *t, nn_ctx *ctx, int ndim, const int64_t *shape, int64_t numel) {
    memset(t, 0, sizeof *t);
    t->ctx = ctx; t->ndim = ndim; t->numel = numel; t->device = NN_CPU; t->dtype = NN_FLOAT32;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    nn__contig_strides(ndim, t->shape, t->stride);
    t->src = t->src_inline;
    t->op = NN_OP_LEAF;
    t->storage = &t->storage_inline;
}

/* A persistent tensor: header, storage and data in one allocation. */
static nn_tensor *nn__new_persistent_dtype(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, nn_dtype dtype) {
    int64_t n; size_t head = (sizeof(nn_tensor) + 63) & ~(size_t)63, bytes, es = nn_dtype_size(dtype); char *mem; nn_tensor *t;
    if (!ctx) return NULL;
    if (!es) { nn__err(ctx, "%s: unknown dtype %d", fn, (int)dtype); return NULL; }
    n = nn__check_shape(ctx, fn, ndim, shape);
    if (n < 0) return NULL;
    bytes = head + (size_t)n * es + 64;
    mem = NN__CAST(char *, NN_MALLOC(bytes));
    if (!mem) { nn__err(ctx, "%s: out of memory allocating %lld elements", fn, (long long)n); return NULL; }
    t = NN__CAST(nn_tensor *, (void *)mem);
    nn__init_header(t, ctx, ndim, shape, n);
    t->dtype = dtype;
    t->data = (void *)(mem + head);
    t->storage->ptr = t->data; t->storage->bytes = (size_t)n * es; t->storage->owner = NN_OWNER_LIBRARY;
    t->flags = NN__PERSISTENT;
    t->refs = 1;
    return t;
}
static nn_tensor *nn__new_persistent(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape) {
    return nn__new_persistent_dtype(ctx, fn, ndim, shape, NN_FLOAT32);
}

/* A tensor in the step arena; data NULL when it will be a view. */
static nn_tensor *nn__new_arena_dtype(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, int with_data, nn_dtype dtype) {
    int64_t n; nn_tensor *t; size_t es = nn_dtype_size(dtype);
    n = nn__check_shape(ctx, fn, ndim, shape);
    if (n < 0) return NULL;
    t = NN__CAST(nn_tensor *, nn__arena_alloc(ctx, sizeof(nn_tensor)));
    if (!t) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    nn__init_header(t, ctx, ndim, shape, n);
    t->dtype = dtype;
    t->flags = NN__ARENA;
    t->gen = ctx->gen;
    if (with_data) {
        t->data = nn__arena_alloc(ctx, (size_t)(n ? n : 1) * es);
        if (!t->data) { nn__err(ctx, "%s: out of memory allocating %lld elements", fn, (long long)n); return NULL; }
        t->storage->ptr = t->data; t->storage->bytes = (size_t)n * es; t->storage->owner = NN_OWNER_ARENA;
    }
    return t;
}
static nn_tensor *nn__new_arena(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, int with_data) {
    return nn__new_arena_dtype(ctx, fn, ndim, shape, with_data, NN_FLOAT32);
}

/* Another owner of a persistent tensor (a module sharing it): nn_free drops one. */
static nn_tensor *nn__retain(nn_tensor *t) { if (t && (t->flags & NN__PERSISTENT)) t->refs++; return t; }

NN_API void nn_free(nn_tensor *t) {
    if (!t || !(t->flags & NN__PERSISTENT)) return;
    if (--t->refs > 0) return;
    nn_free(t->grad);
    NN_FREE(t);
}

NN_API float *nn_f32(const nn_tensor *t) {
    if (!t) return NULL;
    if (t->dtype != NN_FLOAT32) { nn__err(t->ctx, "nn_f32: the tensor is %s, not float32", nn_dtype_name(t->dtype)); return NULL; }
    return NN__F32(t);
}
NN_API int64_t *nn_i64(const nn_tensor *t) {
    if (!t) return NULL;
    if (t->dtype != NN_INT64) { nn__err(t->ctx, "nn_i64: the tensor is %s, not int64", nn_dtype_name(t->dtype)); return NULL; }
    return NN__I64(t);
}
NN_API nn_tensor *nn_empty_dtype(nn_ctx *ctx, int ndim, const int64_t *shape, nn_dtype dtype) {
    return nn__new_persistent_dtype(ctx, "nn_empty_dtype", ndim, shape, dtype);
}
NN_API nn_tensor *nn_zeros_dtype(nn_ctx *ctx, int ndim, const int64_t *shape, nn_dtype dtype) {
    nn_tensor *t = nn__new_persistent_dtype(ctx, "nn_zeros_dtype", ndim, shape, dtype);
    if (t && t->numel) memset(t->data, 0, (size_t)t->numel * nn_dtype_size(dtype));
    return t;
}
NN_API nn_tensor *nn_from_i64(nn_ctx *ctx, int ndim, const int64_t *shape, const int64_t *values) {
    nn_tensor *t;
    if (ctx && !values) { nn__err(ctx, "nn_from_i64: values is NULL"); return NULL; }
    t = nn__new_persistent_dtype(ctx, "nn_from_i64", ndim, shape, NN_INT64);
    if (t && t->numel) memcpy(t->data, values, (size_t)t->numel * sizeof(int64_t));
    return t;
}
NN_API nn_tensor *nn_empty(nn_ctx *ctx, int ndim, const int64_t *shape) { return nn__new_persistent(ctx, "nn_empty", ndim, shape); }
NN_API nn_tensor *nn_full(nn_ctx *ctx, int ndim, const int64_t *shape, float value) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_full", ndim, shape);
    nn_fill_(t, value);
    return t;
}
NN_API nn_tensor *nn_zeros(nn_ctx *ctx, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_zeros", ndim, shape);
    nn_fill_(t, 0.0f);
    return t;
}
NN_API nn_tensor *nn_ones(nn_ctx *ctx, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_ones", ndim, shape);
    nn_fill_(t, 1.0f);
    return t;
}
NN_API nn_tensor *nn_arange(nn_ctx *ctx, float start, float end, float step) {
    int64_t n, i; nn_tensor *t;
    if (!ctx) return NULL;
    if (step == 0.0f || !(step == step) || !(start == start) || !(end == end)) {
        nn__err(ctx, "nn_arange: step %g with start %g and end %g; step must be non-zero and all finite", step, start, end);
        return NULL;
    }
    if ((step > 0 && end < start) || (step < 0 && end > start)) {
        nn__err(ctx, "nn_arange: step %g goes away from end %g starting at %g", step, end, start);
        return NULL;
    }
    n = (int64_t)ceil(((double)end - start) / step);
    t = nn__new_persistent(ctx, "nn_arange", 1, &n);
    if (t) for (i = 0; i < n; i++) NN__F32(t)[i] = (float)(start + (double)i * step);
    return t;
}
NN_API nn_tensor *nn_from_array(nn_ctx *ctx, int ndim, const int64_t *shape, const float *values) {
    nn_tensor *t;
    if (ctx && !values) { nn__err(ctx, "nn_from_array: values is NULL"); return NULL; }
    t = nn__new_persistent(ctx, "nn_from_array", ndim, shape);
    if (t && t->numel) memcpy(NN__F32(t), values, (size_t)t->numel * sizeof(float));
    return t;
}
NN_API nn_tensor *nn_rand(nn_ctx *ctx, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_rand", ndim, shape); int64_t i;
    if (t) for (i = 0; i < t->numel; i++) NN__F32(t)[i] = nn__rng_uniform(&ctx->rng);
    return t;
}
NN_API nn_tensor *nn_randn(nn_ctx *ctx, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_randn", ndim, shape); int64_t i;
    if (t) for (i = 0; i < t->numel; i++) NN__F32(t)[i] = nn__rng_normal(&ctx->rng);
    return t;
}

/* Walks a shape in row-major order, keeping the offsets of up to 3 strided
   layouts of it. */
typedef struct nn__walk {
    int nd;
    int64_t shape[NN_MAX_DIMS], idx[NN_MAX_DIMS], st[3][NN_MAX_DIMS], off[3];
} nn__walk;

static void nn__walk_init(nn__walk *w, int nd, const int64_t *shape, const int64_t *s0, const int64_t *s1, const int64_t *s2) {
    int d;
    memset(w, 0, sizeof *w);
    w->nd = nd;
    for (d = 0; d < nd; d++) {
        w->shape[d] = shape[d];
        w->st[0][d] = s0 ? s0[d] : 0; w->st[1][d] = s1 ? s1[d] : 0; w->st[2][d] = s2 ? s2[d] : 0;
    }
}
static void nn__walk_next(nn__walk *w) {
    int d, k;
    for (d = w->nd - 1; d >= 0; d--) {
        for (k = 0; k < 3; k++) w->off[k] += w->st[k][d];
        if (++w->idx[d] < w->shape[d]) return;
        for (k = 0; k < 3; k++) w->off[k] -= w->st[k][d] * w->shape[d];
        w->idx[d] = 0;
    }
}

NN_API int nn_is_contiguous(const nn_tensor *t) {
    int64_t s = 1; int i;
    if (!t) return 0;
    for (i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

/* Copies any strided tensor into a contiguous buffer. */
static void nn__gather_strided(void *dst, const nn_tensor *t) {
    nn__walk w; int64_t i; size_t es = nn_dtype_size(t->dtype);
    const char *src = NN__CAST(const char *, t->data);
    if (nn_is_contiguous(t)) { if (t->numel) memcpy(dst, src, (size_t)t->numel * es); return; }
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < t->numel; i++, nn__walk_next(&w)) memcpy(NN__CAST(char *, dst) + (size_t)i * es, src + (size_t)w.off[0] * es, es);
}

NN_API nn_tensor *nn_zeros_like(const nn_tensor *t) { return t ? nn_zeros(t->ctx, t->ndim, t->shape) : NULL; }
NN_API nn_tensor *nn_keep(const nn_tensor *t) {
    nn_tensor *k;
    if (!t) return NULL;
    k = nn__new_persistent_dtype(t->ctx, "nn_keep", t->ndim, t->shape, t->dtype);
    if (k) nn__gather_strided(k->data, t);
    return k;
}

static int nn__norm_dim(nn_ctx *ctx, const char *fn, const nn_tensor *t, int dim, int ndim_plus, int *out) {
    int nd = t->ndim + ndim_plus;
    char s[128];
    if (dim < -nd || dim >= nd || (nd == 0 && dim != 0 && dim != -1)) {
        nn__err(ctx, "%s: dim %d is out of range for a tensor of shape %s (expected %d to %d)", fn, dim,
                NN__SHAPE(t, s), -(nd ? nd : 1), (nd ? nd : 1) - 1);
        return 0;
    }
    *out = dim < 0 ? dim + nd : dim;
    return 1;
}

NN_API int64_t nn_size(const nn_tensor *t, int dim) {
    int d;
    if (!t || !nn__norm_dim(t->ctx, "nn_size", t, dim, 0, &d)) return -1;
    return t->ndim ? t->shape[d] : 1;
}
NN_API float nn_item(const nn_tensor *t) {
    char s[128];
    if (!t) return NAN;
    if (t->numel != 1) { nn__err(t->ctx, "nn_item: tensor of shape %s has %lld elements; item needs exactly one", NN__SHAPE(t, s), (long long)t->numel); return NAN; }
    return t->dtype == NN_INT64 ? (float)NN__I64(t)[0] : NN__F32(t)[0];
}
NN_API nn_tensor *nn_set_requires_grad(nn_tensor *t, int flag) {
    if (!t) return NULL;
    if (flag && t->op != NN_OP_LEAF) {
        nn__err(t->ctx, "nn_set_requires_grad: only leaf tensors (made by you or by nn_detach) can change requires_grad; this one comes from %s", nn_op_name(t->op));
        return t;
    }
    if (flag && t->dtype != NN_FLOAT32) {
        nn__err(t->ctx, "nn_set_requires_grad: only floating-point tensors can require gradients; this one is %s", nn_dtype_name(t->dtype));
        return t;
    }
    t->requires_grad = flag != 0;
    return t;
}
NN_API nn_tensor *nn_set_name(nn_tensor *t, const char *name) {
    if (t && name) { strncpy(t->name, name, sizeof t->name - 1); t->name[sizeof t->name - 1] = 0; }
    return t;
}
NN_API void nn_fill_(nn_tensor *t, float value) {
    nn__walk w; int64_t i;
    if (!t) return;
    if (t->dtype == NN_INT64) {
        nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
        for (i = 0; i < t->numel; i++, nn__walk_next(&w)) NN__I64(t)[w.off[0]] = (int64_t)value;
        return;
    }
    if (t->dtype != NN_FLOAT32) { nn__err(t->ctx, "nn_fill_: no kernel for %s", nn_dtype_name(t->dtype)); return; }
    if (nn_is_contiguous(t)) { for (i = 0; i < t->numel; i++) NN__F32(t)[i] = value; return; }
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < t->numel; i++, nn__walk_next(&w)) NN__F32(t)[w.off[0]] = value;
}
static int nn__same_shape(const nn_tensor *a, const nn_tensor *b) {
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(int64_t)) == 0;
}
NN_API int nn_copy_(nn_tensor *dst, const nn_tensor *src) {
    char s1[128], s2[128]; nn__walk w; int64_t i;
    if (!dst || !src) { if (dst) nn__err(dst->ctx, "nn_copy_: src is NULL"); return 0; }
    if (!nn__same_shape(dst, src) && dst->numel != src->numel) {
        nn__err(dst->ctx, "nn_copy_: dst is %s and src is %s; the shapes must match", NN__SHAPE(dst, s1), NN__SHAPE(src, s2));
        return 0;
    }
    if (dst->dtype != src->dtype) {
        nn__err(dst->ctx, "nn_copy_: dst is %s and src is %s; convert with nn_to_dtype first", nn_dtype_name(dst->dtype), nn_dtype_name(src->dtype));
        return 0;
    }
    if (nn_is_contiguous(dst)) { nn__gather_strided(dst->data, src); return 1; }
    if (dst->dtype != NN_FLOAT32) { nn__err(dst->ctx, "nn_copy_: a strided %s dst is not supported", nn_dtype_name(dst->dtype)); return 0; }
    if (!nn_is_contiguous(src)) { nn__err(dst->ctx, "nn_copy_: dst and src are both strided; make one contiguous first"); return 0; }
    nn__walk_init(&w, dst->ndim, dst->shape, dst->stride, NULL, NULL);
    for (i = 0; i < dst->numel; i++, nn__walk_next(&w)) NN__F32(dst)[w.off[0]] = NN__F32(src)[i];
    return 1;
}
NN_API nn_tensor *nn_to(nn_tensor *t, nn_device device) {
    if (!t) return NULL;
    if (device == t->device) return t;
    nn__err(t->ctx, "nn_to: device %d is not available; this build has the CPU only", (int)device);
    return NULL;
}

