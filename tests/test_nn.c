/* nn.h test suite: every op against PyTorch's numbers (tests/fixtures/ops.txt,
   made by tests/gen_fixtures.py), finite-difference gradient checks, the seed
   notes' worked examples, the memory model and the error model.
   Ends with "N passed, N failed" and exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L   /* strtok_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* count every heap allocation the library makes */
static long g_mallocs, g_frees;
static void *count_malloc(size_t n) { g_mallocs++; return malloc(n); }
void *count_realloc(void *p, size_t n);
void *count_realloc(void *p, size_t n) { if (!p) g_mallocs++; return realloc(p, n); }
static void count_free(void *p) { if (p) g_frees++; free(p); }
#define NN_MALLOC(n) count_malloc(n)
#define NN_REALLOC(p, n) count_realloc(p, n)
#define NN_FREE(p) count_free(p)
#ifdef NN_HAVE_STB            /* image folders, gzip'd IDX and PNGs use Debian's libstb-dev */
#define STBI_MALLOC(n) count_malloc(n)
#define STBI_REALLOC(p, n) count_realloc(p, n)
#define STBI_FREE(p) count_free(p)
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"

/* ---- a small test harness ---- */
static int g_passed, g_failed, g_case_failed;
static const char *g_case;
static double g_worst_rel;           /* worst relative error against PyTorch, |want| >= 0.1 */
static double g_worst_abs;           /* worst absolute error against PyTorch, all elements */
static double g_case_worst_rel;      /* the same, for the current fixture case (NN_TEST_VERBOSE=1 lists them) */
static char g_worst_where[160];

#define CHECK(cond, ...) do { if (!(cond)) { \
    printf("FAIL %s (%s:%d): ", g_case, __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); \
    g_case_failed = 1; } } while (0)

static void begin(const char *name) { g_case = name; g_case_failed = 0; }
static void end(void) { if (g_case_failed) g_failed++; else g_passed++; }

#define ERRS(ctx) (nn_error(ctx) ? nn_error(ctx) : "(none)")

/* error messages caught by a logger instead of stderr */
static char g_log[1024];
static int g_log_count;
static void capture_log(void *user, const char *msg) {
    (void)user;
    g_log_count++;
    strncpy(g_log, msg, sizeof g_log - 1);
}

/* |got - want| <= 1e-5 |want| + 1e-6 */
static int close_to(float got, double want, double *rel) {
    double err = fabs((double)got - want);
    *rel = fabs(want) >= 0.1 ? err / fabs(want) : 0;
    if (err > g_worst_abs) g_worst_abs = err;
    return err <= 1e-5 * fabs(want) + 1e-6 && got == got;
}

static void compare(const char *what, const nn_tensor *t, int ndim, const int64_t *shape, const double *want) {
    int64_t i, n = 1; int d;
    if (!t) { CHECK(0, "%s: got NULL", what); return; }
    CHECK(t->ndim == ndim, "%s: got %d dims, expected %d", what, t->ndim, ndim);
    for (d = 0; d < ndim && d < t->ndim; d++) {
        CHECK(t->shape[d] == shape[d], "%s: dim %d is %lld, expected %lld", what, d, (long long)t->shape[d], (long long)shape[d]);
        n *= shape[d];
    }
    if (g_case_failed) return;
    for (i = 0; i < n; i++) {
        /* t may be a strided view: read through its strides */
        int64_t off = 0, rem = i;
        double rel;
        for (d = t->ndim - 1; d >= 0; d--) { off += (rem % t->shape[d]) * t->stride[d]; rem /= t->shape[d]; }
        if (!close_to(t->data[off], want[i], &rel)) {
            CHECK(0, "%s[%lld]: expected %.9g, got %.9g", what, (long long)i, want[i], t->data[off]);
            return;
        }
        if (rel > g_case_worst_rel) g_case_worst_rel = rel;
        if (rel > g_worst_rel) { g_worst_rel = rel; snprintf(g_worst_where, sizeof g_worst_where, "%s %s[%lld]", g_case, what, (long long)i); }
    }
}

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
    for (i = 0; i < a->n; i++) t->data[i] = (float)a->v[i];
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
    g_fixture_cases = n;
    for (i = 0; i < n; i++) {
        fx_case *c = &cs[i];
        nn_tensor *in[6] = { 0 }, *y, *g;
        int any_grad = 0;
        char what[32];
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
                CHECK(nn_backward(y, g), "backward failed: %s", ERRS(ctx));
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

/* ---- seed 003's worked examples ---- */

static nn_tensor *scalar(nn_ctx *ctx, float v) {
    int64_t one = 1;
    return nn_set_requires_grad(nn_from_array(ctx, 1, &one, &v), 1);
}

static void test_chain_rule(nn_ctx *ctx) {
    nn_tensor *x = scalar(ctx, -2), *y = scalar(ctx, 5), *z = scalar(ctx, -4), *q, *f;
    begin("seed003 chain rule x=-2 y=5 z=-4");
    q = nn_add(x, y);
    f = nn_mul(q, z);
    CHECK(nn_item(q) == 3.0f && nn_item(f) == -12.0f, "q=%g f=%g, expected 3 and -12", nn_item(q), nn_item(f));
    CHECK(nn_backward(f, NULL), "backward failed");
    CHECK(x->grad->data[0] == -4.0f, "df/dx = %g, expected -4", x->grad->data[0]);
    CHECK(y->grad->data[0] == -4.0f, "df/dy = %g, expected -4", y->grad->data[0]);
    CHECK(z->grad->data[0] == 3.0f, "df/dz = %g, expected 3", z->grad->data[0]);
    CHECK(q->grad->data[0] == -4.0f, "df/dq = %g, expected -4", q->grad->data[0]);
    end();
    nn_arena_reset(ctx);

    begin("seed003 max(4, 2) routes the gradient to x");
    {
        nn_tensor *a = scalar(ctx, 4), *b = scalar(ctx, 2), *m = nn_maximum(a, b);
        CHECK(nn_item(m) == 4.0f, "max = %g", nn_item(m));
        nn_backward(m, NULL);
        CHECK(a->grad->data[0] == 1.0f && b->grad->data[0] == 0.0f, "grads %g %g, expected 1 0", a->grad->data[0], b->grad->data[0]);
        nn_free(a); nn_free(b);
    }
    end();
    begin("seed003 x*y at x=4 y=-5 gives x.grad=-5 y.grad=4; x+y gives 1 1");
    {
        nn_tensor *a = scalar(ctx, 4), *b = scalar(ctx, -5);
        nn_backward(nn_mul(a, b), NULL);
        CHECK(a->grad->data[0] == -5.0f && b->grad->data[0] == 4.0f, "mul grads %g %g", a->grad->data[0], b->grad->data[0]);
        nn_zero_grad(a); nn_zero_grad(b);
        nn_backward(nn_add(a, b), NULL);
        CHECK(a->grad->data[0] == 1.0f && b->grad->data[0] == 1.0f, "add grads %g %g", a->grad->data[0], b->grad->data[0]);
        nn_free(a); nn_free(b);
    }
    end();
    nn_free(x); nn_free(y); nn_free(z);
    nn_arena_reset(ctx);
}

static float max_abs_diff(const float *a, const float *b, int64_t n) {
    float m = 0; int64_t i;
    for (i = 0; i < n; i++) if (fabsf(a[i] - b[i]) > m) m = fabsf(a[i] - b[i]);
    return m;
}

/* d = a @ b + c and the other hand-derived gradients of seed 003 */
static void test_manual_backprop(nn_ctx *ctx) {
    int64_t sa[2] = { 32, 64 }, sb[2] = { 64, 27 }, sc[1] = { 27 }, sd[2] = { 32, 27 };
    nn_tensor *a, *b, *c, *d, *dd, *da, *db, *dc;
    nn_manual_seed(ctx, 7);
    a = nn_set_requires_grad(nn_randn(ctx, 2, sa), 1);
    b = nn_set_requires_grad(nn_randn(ctx, 2, sb), 1);
    c = nn_set_requires_grad(nn_randn(ctx, 1, sc), 1);
    dd = nn_randn(ctx, 2, sd);
    begin("seed003 d = a @ b + c: da = dd @ b.T, db = a.T @ dd, dc = dd.sum(0)");
    d = nn_add(nn_matmul(a, b), c);
    CHECK(d && d->shape[0] == 32 && d->shape[1] == 27, "d has the wrong shape");
    nn_backward(d, dd);
    {
        int old = nn_set_grad_enabled(ctx, 0);
        da = nn_matmul(dd, nn_transpose(b, 0, 1));
        db = nn_matmul(nn_transpose(a, 0, 1), dd);
        dc = nn_sum(dd, 0, 0);
        nn_set_grad_enabled(ctx, old);
    }
    CHECK(max_abs_diff(da->data, a->grad->data, 32 * 64) < 1e-5f, "da differs by %g", max_abs_diff(da->data, a->grad->data, 32 * 64));
    CHECK(max_abs_diff(db->data, b->grad->data, 64 * 27) < 1e-5f, "db differs by %g", max_abs_diff(db->data, b->grad->data, 64 * 27));
    CHECK(max_abs_diff(dc->data, c->grad->data, 27) < 1e-5f, "dc differs by %g", max_abs_diff(dc->data, c->grad->data, 27));
    end();
    nn_free(a); nn_free(b); nn_free(c); nn_free(dd);
    nn_arena_reset(ctx);

    begin("seed003 broadcast multiply a = b * c: db = (c * da).sum(0, keepdim)");
    {
        int64_t s1[2] = { 1, 64 }, s2[2] = { 32, 64 };
        nn_tensor *bg = nn_set_requires_grad(nn_randn(ctx, 2, s1), 1), *raw = nn_set_requires_grad(nn_randn(ctx, 2, s2), 1);
        nn_tensor *g = nn_randn(ctx, 2, s2), *out = nn_mul(bg, raw), *want_b, *want_c;
        nn_backward(out, g);
        want_b = nn_sum(nn_mul(raw, g), 0, 1);
        want_c = nn_mul(bg, g);
        CHECK(bg->grad->shape[0] == 1 && bg->grad->shape[1] == 64, "db has the wrong shape");
        CHECK(max_abs_diff(want_b->data, bg->grad->data, 64) < 1e-5f, "db differs by %g", max_abs_diff(want_b->data, bg->grad->data, 64));
        CHECK(max_abs_diff(want_c->data, raw->grad->data, 32 * 64) < 1e-6f, "dc differs");
        nn_free(bg); nn_free(raw); nn_free(g);
    }
    end();
    nn_arena_reset(ctx);

    begin("seed003 row sum b = a.sum(1, keepdim): da = ones; row-wise c = a - b: db = -dc.sum(1)");
    {
        int64_t s33[2] = { 3, 3 }, s31[2] = { 3, 1 }; int64_t i;
        nn_tensor *a3 = nn_set_requires_grad(nn_randn(ctx, 2, s33), 1), *b3 = nn_set_requires_grad(nn_randn(ctx, 2, s31), 1);
        nn_tensor *rs = nn_sum(a3, 1, 1), *g;
        CHECK(rs->ndim == 2 && rs->shape[0] == 3 && rs->shape[1] == 1, "row sum keeps dim");
        nn_backward(nn_sum(rs, NN_ALL, 0), NULL);
        for (i = 0; i < 9; i++) CHECK(a3->grad->data[i] == 1.0f, "da[%lld] = %g, expected 1", (long long)i, a3->grad->data[i]);
        nn_zero_grad(a3);
        g = nn_randn(ctx, 2, s33);
        nn_backward(nn_sub(a3, b3), g);
        for (i = 0; i < 3; i++) {
            float want = -(g->data[3 * i] + g->data[3 * i + 1] + g->data[3 * i + 2]);
            CHECK(fabsf(b3->grad->data[i] - want) < 1e-6f, "db[%lld] = %g, expected %g", (long long)i, b3->grad->data[i], want);
        }
        nn_free(a3); nn_free(b3); nn_free(g);
    }
    end();
    nn_arena_reset(ctx);

    begin("seed003 max along dim routes through one_hot(argmax)");
    {
        int64_t s[2] = { 4, 6 }; int64_t i;
        nn_tensor *x = nn_set_requires_grad(nn_randn(ctx, 2, s), 1), *idx = NULL, *m, *oh;
        m = nn_max(x, 1, 1, &idx);
        nn_backward(nn_sum(m, NN_ALL, 0), NULL);
        oh = nn_one_hot(nn_argmax(x, 1, 0), 6);
        for (i = 0; i < 24; i++) CHECK(x->grad->data[i] == oh->data[i], "grad[%lld] = %g, one_hot %g", (long long)i, x->grad->data[i], oh->data[i]);
        for (i = 0; i < 4; i++) CHECK(idx->data[i] == nn_argmax(x, 1, 0)->data[i], "indices differ from argmax");
        nn_free(x);
    }
    end();
    nn_arena_reset(ctx);
}

/* ---- autograd semantics ---- */

static void test_autograd(nn_ctx *ctx) {
    int64_t s[2] = { 2, 3 }, i;
    nn_tensor *x = nn_set_requires_grad(nn_randn(ctx, 2, s), 1), *y, *d;

    begin("gradients accumulate across backward calls until zeroed");
    nn_backward(nn_sum(nn_mul_scalar(x, 2), NN_ALL, 0), NULL);
    nn_backward(nn_sum(nn_mul_scalar(x, 2), NN_ALL, 0), NULL);
    for (i = 0; i < 6; i++) CHECK(x->grad->data[i] == 4.0f, "grad %g, expected 4", x->grad->data[i]);
    nn_zero_grad(x);
    for (i = 0; i < 6; i++) CHECK(x->grad->data[i] == 0.0f, "grad not zeroed");
    end();

    begin("no_grad: results do not require grad; mode restores");
    {
        int old = nn_set_grad_enabled(ctx, 0);
        y = nn_mul(x, x);
        CHECK(old == 1 && !y->requires_grad, "no_grad result requires grad");
        nn_set_grad_enabled(ctx, old);
        CHECK(nn_is_grad_enabled(ctx) && nn_mul(x, x)->requires_grad, "grad mode not restored");
    }
    end();

    begin("requires_grad spreads; detach cuts the graph and shares data");
    y = nn_exp(x);
    d = nn_detach(y);
    CHECK(y->requires_grad && !d->requires_grad && d->data == y->data, "detach wrong");
    CHECK(nn_mul(d, d)->requires_grad == 0, "op on detached tensor requires grad");
    end();

    begin("backward with an explicit gradient gives a vector-Jacobian product");
    {
        /* y = x^2 elementwise: J = diag(2x); v^T J = 2 x v */
        nn_tensor *v = nn_randn(ctx, 2, s);
        nn_zero_grad(x);
        nn_backward(nn_mul(x, x), v);
        for (i = 0; i < 6; i++) CHECK(fabsf(x->grad->data[i] - 2 * x->data[i] * v->data[i]) < 1e-6f, "vjp wrong at %lld", (long long)i);
        nn_free(v);
    }
    end();

    begin("views share storage: writes through a view reach the base");
    {
        nn_tensor *t = nn_transpose(x, 0, 1), *r = nn_reshape(x, 1, &x->numel);
        CHECK(t->data == x->data && r->data == x->data, "view copied data");
        CHECK(!nn_is_contiguous(t) && nn_is_contiguous(r), "contiguity wrong");
        t->data[t->stride[0] * 2 + t->stride[1] * 1] = 42.0f;  /* t[2][1] = x[1][2] */
        CHECK(x->data[1 * 3 + 2] == 42.0f, "write through view lost");
        CHECK(nn_size(t, 0) == 3 && nn_size(t, -1) == 2, "sizes of the transpose");
    }
    end();
    nn_free(x);
    nn_arena_reset(ctx);

    begin("op table: every op's name matches the op list");
    {
#define NAME_OF(e, s) s,
        static const char *names[] = { NN__OP_LIST(NAME_OF) };
        int k;
        for (k = 0; k < NN_OP_COUNT; k++) CHECK(!strcmp(nn_op_name(k), names[k]), "op %d is %s in the table, %s in the list", k, nn_op_name(k), names[k]);
    }
    end();

    begin("creation: zeros, ones, full, arange, from_array, rand in [0,1), seeded randn repeats");
    {
        int64_t s6[6] = { 2, 1, 3, 1, 2, 2 };
        nn_tensor *z = nn_zeros(ctx, 6, s6), *o = nn_ones(ctx, 6, s6), *f = nn_full(ctx, 2, s, 7.5f);
        nn_tensor *ar = nn_arange(ctx, 0, 1, 0.25f), *r = nn_rand(ctx, 2, s), *n1, *n2;
        CHECK(z->numel == 24 && z->ndim == 6 && z->data[23] == 0 && o->data[5] == 1 && f->data[5] == 7.5f, "zeros/ones/full");
        CHECK(ar->numel == 4 && ar->data[3] == 0.75f, "arange(0,1,0.25) has %lld elements", (long long)ar->numel);
        for (i = 0; i < 6; i++) CHECK(r->data[i] >= 0 && r->data[i] < 1, "rand out of range");
        nn_manual_seed(ctx, 99); n1 = nn_randn(ctx, 2, s);
        nn_manual_seed(ctx, 99); n2 = nn_randn(ctx, 2, s);
        CHECK(memcmp(n1->data, n2->data, 6 * sizeof(float)) == 0, "same seed, different numbers");
        nn_free(z); nn_free(o); nn_free(f); nn_free(ar); nn_free(r); nn_free(n1); nn_free(n2);
    }
    end();

    begin("two contexts are independent: RNG streams and errors");
    {
        nn_ctx *c2 = nn_ctx_new();
        nn_tensor *a, *b;
        nn_set_logger(c2, capture_log, NULL);
        nn_manual_seed(ctx, 5); nn_manual_seed(c2, 5);
        a = nn_randn(ctx, 2, s); b = nn_randn(c2, 2, s);
        CHECK(memcmp(a->data, b->data, 6 * sizeof(float)) == 0, "same seed in two contexts differs");
        nn_matmul(b, b);
        CHECK(nn_error(c2) != NULL && nn_error(ctx) == NULL, "error leaked between contexts");
        CHECK(nn_add(a, b) == NULL && nn_error(ctx) && strstr(nn_error(ctx), "another nn_ctx"), "mixing contexts not caught");
        nn_clear_error(ctx);
        nn_free(a); nn_free(b); nn_ctx_free(c2);
    }
    end();
    nn_arena_reset(ctx);
}

/* ---- errors: wrong shapes, NULLs, bad backward: a message, no crash ---- */

static void expect_error(nn_ctx *ctx, const void *result, const char *needle) {
    CHECK(result == NULL, "expected NULL for a bad call");
    CHECK(nn_error(ctx) != NULL && strstr(nn_error(ctx), needle) != NULL, "error \"%s\" does not mention \"%s\"", nn_error(ctx) ? nn_error(ctx) : "(none)", needle);
    CHECK(strstr(g_log, needle) != NULL, "logger got \"%s\"", g_log);
    nn_clear_error(ctx);
    g_log[0] = 0;
}

static void test_errors(nn_ctx *ctx) {
    int64_t s1[2] = { 64, 784 }, s2[2] = { 128, 10 }, s3[2] = { 2, 3 }, s4[2] = { 4, 3 };
    nn_tensor *a = nn_zeros(ctx, 2, s1), *b = nn_zeros(ctx, 2, s2), *c = nn_zeros(ctx, 2, s3), *d = nn_zeros(ctx, 2, s4), *r;
    nn_set_logger(ctx, capture_log, NULL);

    begin("error: matmul shapes named in the message");
    expect_error(ctx, nn_matmul(a, b), "nn_matmul: a is (64, 784) and b is (128, 10)");
    end();
    begin("error: broadcast mismatch");
    expect_error(ctx, nn_add(c, d), "nn_add: shapes (2, 3) and (4, 3) cannot be broadcast");
    end();
    begin("error: NULL input named");
    expect_error(ctx, nn_mul(c, NULL), "nn_mul: b is NULL");
    end();
    begin("error: dim out of range");
    expect_error(ctx, nn_sum(c, 2, 0), "nn_sum: dim 2 is out of range");
    expect_error(ctx, nn_softmax(c, -3), "nn_softmax: dim -3 is out of range");
    end();
    begin("error: reshape element count");
    { int64_t sh[2] = { 4, 2 }; expect_error(ctx, nn_reshape(c, 2, sh), "nn_reshape: (2, 3) has 6 elements; the new shape has 8"); }
    end();
    begin("error: view of a non-contiguous tensor");
    { int64_t sh[1] = { 6 }; expect_error(ctx, nn_view(nn_transpose(c, 0, 1), 1, sh), "nn_view: x (3, 2) is not contiguous"); }
    end();
    begin("error: backward on a non-scalar without a gradient");
    {
        nn_set_requires_grad(c, 1);
        r = nn_mul_scalar(c, 2);
        CHECK(nn_backward(r, NULL) == 0, "backward succeeded");
        CHECK(nn_error(ctx) && strstr(nn_error(ctx), "nn_backward: the tensor is (2, 3); a gradient can be implied only for one-element outputs"), "message: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(nn_backward(r, d) == 0 && nn_error(ctx) && strstr(nn_error(ctx), "grad is (4, 3)"), "wrong-shape grad: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(nn_backward(b, NULL) == 0 && nn_error(ctx) && strstr(nn_error(ctx), "does not require grad"), "no-grad tensor: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_set_requires_grad(c, 0);
    }
    end();
    begin("error: sticky; later ops on a failed result are harmless no-ops");
    {
        nn_tensor *bad = nn_matmul(a, b), *more;
        g_log_count = 0;
        more = nn_relu(nn_sum(nn_add(bad, c), 0, 0));
        CHECK(more == NULL, "op on NULL returned a tensor");
        CHECK(g_log_count == 0, "a NULL from a failed op logged %d more messages", g_log_count);
        CHECK(nn_error(ctx) && strstr(nn_error(ctx), "nn_matmul"), "the first error was not kept: %s", ERRS(ctx));
        CHECK(nn_add(c, c) != NULL, "good ops must still work after an error");
        CHECK(nn_backward(NULL, NULL) == 0 && isnan(nn_item(NULL)), "NULL backward/item not harmless");
        nn_clear_error(ctx);
        CHECK(nn_error(ctx) == NULL, "clear_error did not clear");
    }
    end();
    begin("error: index out of range, bad creation arguments, item of many, bad device");
    {
        float iv[2] = { 0, 5 }; int64_t s[1] = { 2 }, neg[2] = { 2, -1 };
        nn_tensor *ix = nn_from_array(ctx, 1, s, iv);
        expect_error(ctx, nn_index_select(d, 0, ix), "nn_index_select: index 5 is out of range for a dim of size 4");
        ix->data[1] = 1e30f;
        expect_error(ctx, nn_index_select(d, 0, ix), "nn_index_select: index 1e+30 is not a whole number in range");
        ix->data[1] = 0.5f;
        expect_error(ctx, nn_index_select(d, 0, ix), "nn_index_select: index 0.5 is not a whole number");
        expect_error(ctx, nn_zeros(ctx, 2, neg), "nn_zeros: size -1 at dim 1 is negative");
        expect_error(ctx, nn_arange(ctx, 0, 1, 0), "nn_arange: step 0");
        CHECK(isnan(nn_item(c)) && strstr(nn_error(ctx), "nn_item: tensor of shape (2, 3) has 6 elements"), "item: %s", ERRS(ctx));
        nn_clear_error(ctx);
        expect_error(ctx, nn_to(c, NN_CUDA), "nn_to: device 1 is not available");
        nn_free(ix);
    }
    end();
    begin("error: cat/stack/gather shape mismatches");
    {
        nn_tensor *two[2]; two[0] = c; two[1] = d;
        expect_error(ctx, nn_cat(two, 2, 1), "nn_cat: tensor 0 is (2, 3) and tensor 1 is (4, 3)");
        expect_error(ctx, nn_stack(two, 2, 0), "nn_stack: tensor 0 is (2, 3) and tensor 1 is (4, 3)");
        expect_error(ctx, nn_gather(c, 0, a), "nn_gather: index (64, 784) is larger than x (2, 3)");
        expect_error(ctx, nn_clamp(c, 1, 0), "nn_clamp: min 1 is greater than max 0");
    }
    end();
    nn_set_logger(ctx, NULL, NULL);
    nn_free(a); nn_free(b); nn_free(c); nn_free(d);
    nn_arena_reset(ctx);
}

/* ---- memory: a steady-state MLP step makes no heap allocation ---- */

static void test_zero_alloc_step(nn_ctx *ctx) {
    int64_t sx[2] = { 16, 8 }, sy[2] = { 16, 4 }, s1[2] = { 8, 32 }, sb1[1] = { 32 }, s2[2] = { 32, 4 }, sb2[1] = { 4 };
    nn_tensor *x, *yt, *p[4];
    float first = 0, last = 0;
    long before = 0, during = 0;
    int step, k; int64_t i;
    nn_manual_seed(ctx, 3);
    x = nn_randn(ctx, 2, sx); yt = nn_randn(ctx, 2, sy);
    p[0] = nn_randn(ctx, 2, s1); p[1] = nn_zeros(ctx, 1, sb1); p[2] = nn_randn(ctx, 2, s2); p[3] = nn_zeros(ctx, 1, sb2);
    for (k = 0; k < 4; k++) {
        for (i = 0; i < p[k]->numel; i++) p[k]->data[i] *= 0.3f;
        nn_set_requires_grad(p[k], 1);
    }
    begin("memory: after the first step, forward+backward+update makes 0 heap allocations");
    for (step = 0; step < 50; step++) {
        nn_tensor *h, *out, *loss;
        if (step == 1) before = g_mallocs;
        h = nn_relu(nn_add(nn_matmul(x, p[0]), p[1]));
        out = nn_add(nn_matmul(h, p[2]), p[3]);
        loss = nn_mean(nn_pow_scalar(nn_sub(out, yt), 2), NN_ALL, 0);
        nn_backward(loss, NULL);
        for (k = 0; k < 4; k++) {          /* plain gradient descent, written by hand */
            for (i = 0; i < p[k]->numel; i++) p[k]->data[i] -= 0.1f * p[k]->grad->data[i];
            nn_zero_grad(p[k]);
        }
        if (step == 0) first = nn_item(loss);
        last = nn_item(loss);
        nn_arena_reset(ctx);
    }
    during = g_mallocs - before;
    printf("  steady-state MLP step: %ld heap allocations over 49 steps (%.2f per step); loss %.4f -> %.4f\n",
           during, during / 49.0, first, last);
    CHECK(during == 0, "%ld allocations in 49 steady-state steps", during);
    CHECK(last < first * 0.8f, "loss did not fall: %g -> %g", first, last);
    end();
    nn_free(x); nn_free(yt);
    for (k = 0; k < 4; k++) nn_free(p[k]);
}

static void test_graph_dot(nn_ctx *ctx) {
    nn_tensor *x = nn_set_name(scalar(ctx, -2), "x"), *y = nn_set_name(scalar(ctx, 5), "y"), *z = nn_set_name(scalar(ctx, -4), "z");
    nn_tensor *f = nn_set_name(nn_mul(nn_set_name(nn_add(x, y), "q"), z), "f");
    FILE *fp; char buf[4096]; size_t n;
    begin("graph picture: DOT with op, value and gradient per node");
    nn_backward(f, NULL);
    CHECK(nn_graph_dot(f, "test_graph.dot"), "nn_graph_dot failed");
    fp = fopen("test_graph.dot", "r");
    n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    buf[n] = 0;
    if (fp) fclose(fp);
    CHECK(strstr(buf, "digraph") && strstr(buf, "f = mul") && strstr(buf, "q = add"), "nodes missing:\n%s", buf);
    CHECK(strstr(buf, "data -12 | grad 1") && strstr(buf, "x = leaf | (1,) | data -2 | grad -4") && strstr(buf, "z = leaf | (1,) | data -4 | grad 3"), "values missing:\n%s", buf);
    remove("test_graph.dot");
    end();
    nn_free(x); nn_free(y); nn_free(z);
    nn_arena_reset(ctx);
}

/* ---- optimizers and schedulers: 100-step trajectories against PyTorch ---- */

typedef struct { char key[32]; double v; } kv;
static double cfg_get(const kv *c, int n, const char *key, double dflt) {
    int i;
    for (i = 0; i < n; i++) if (!strcmp(c[i].key, key)) return c[i].v;
    return dflt;
}
static const char *cfg_str(const char *line, const char *key, char *out, size_t n) {
    const char *p = strstr(line, key);
    size_t k = 0;
    out[0] = 0;
    if (!p) return out;
    p += strlen(key);
    while (*p && *p != ' ' && *p != '\n' && k + 1 < n) out[k++] = *p++;
    out[k] = 0;
    return out;
}

static void test_optimizers(nn_ctx *ctx) {
    FILE *f = fopen("tests/fixtures/optim.txt", "rb");
    char *buf, *line, *save = NULL; long size; int ncases = 0;
    begin("optimizer fixtures load");
    CHECK(f != NULL, "cannot read tests/fixtures/optim.txt");
    end();
    if (!f) return;
    fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) size = 0;
    buf[size] = 0; fclose(f);
    line = strtok_r(buf, "\n", &save);
    while (line) {
        if (!strncmp(line, "case ", 5)) {
            char name[64], opt[16], sched[16];
            kv cfg[32]; int nc = 0, i, t;
            nn_tensor *p[2] = { 0 }, *c[2] = { 0 }, *d[2] = { 0 };
            double metric[100], lrs[100], worst = 0, worst_lr = 0;
            float *traj[2] = { 0 };
            nn_optim *o = NULL; nn_scheduler *s = NULL;
            const char *q;
            sscanf(line + 5, "%63s", name);
            cfg_str(line, " opt=", opt, sizeof opt);
            cfg_str(line, " sched=", sched, sizeof sched);
            for (q = strchr(line + 5, ' '); q && nc < 32; q = strchr(q + 1, ' ')) {
                const char *eq = strchr(q + 1, '=');
                char *end;
                if (!eq) break;
                snprintf(cfg[nc].key, sizeof cfg[nc].key, "%.*s", (int)(eq - q - 1), q + 1);
                cfg[nc].v = strtod(eq + 1, &end);
                if (end != eq + 1) nc++;
            }
            begin(name);
            /* read the case body */
            traj[0] = (float *)calloc(100 * 12, sizeof(float)); traj[1] = (float *)calloc(100 * 5, sizeof(float));
            while ((line = strtok_r(NULL, "\n", &save)) && strcmp(line, "end")) {
                int idx, step, k, nd; int64_t shape[2]; char *r;
                if (!strncmp(line, "param ", 6)) {
                    sscanf(line + 6, "%d %d", &idx, &nd);
                    r = line + 6; strtol(r, &r, 10); strtol(r, &r, 10);
                    for (k = 0; k < nd; k++) shape[k] = strtol(r, &r, 10);
                    r = strchr(r, ':') + 1;
                    p[idx] = nn_empty(ctx, nd, shape);
                    for (k = 0; k < p[idx]->numel; k++) p[idx]->data[k] = strtof(r, &r);
                    nn_set_requires_grad(p[idx], 1);
                    p[idx]->grad = nn_zeros_like(p[idx]);
                } else if (!strncmp(line, "coef ", 5) || !strncmp(line, "bias ", 5)) {
                    nn_tensor **dst = line[0] == 'c' ? c : d;
                    idx = atoi(line + 5);
                    dst[idx] = nn_zeros_like(p[idx]);
                    r = strchr(line, ':') + 1;
                    for (k = 0; k < dst[idx]->numel; k++) dst[idx]->data[k] = strtof(r, &r);
                } else if (!strncmp(line, "metric", 6) || !strncmp(line, "lr ", 3)) {
                    double *dst = line[0] == 'm' ? metric : lrs;
                    r = strchr(line, ':') + 1;
                    for (k = 0; k < 100; k++) dst[k] = strtod(r, &r);
                } else if (!strncmp(line, "traj ", 5)) {
                    sscanf(line + 5, "%d %d", &step, &idx);
                    r = strchr(line, ':') + 1;
                    for (k = 0; k < (idx ? 5 : 12); k++) traj[idx][(step - 1) * (idx ? 5 : 12) + k] = strtof(r, &r);
                }
            }
            /* the optimizer, as configured */
            {
                int groups = (int)cfg_get(cfg, nc, "groups", 1);
                int np = groups == 2 ? 1 : 2;
                float lr = (float)cfg_get(cfg, nc, "lr", 0), wd = (float)cfg_get(cfg, nc, "wd", 0);
                if (!strcmp(opt, "sgd")) {
                    nn_sgd_opts so; memset(&so, 0, sizeof so);
                    so.lr = lr; so.momentum = (float)cfg_get(cfg, nc, "momentum", 0); so.dampening = (float)cfg_get(cfg, nc, "dampening", 0);
                    so.weight_decay = wd; so.nesterov = (int)cfg_get(cfg, nc, "nesterov", 0);
                    o = nn_sgd(p, np, so);
                } else if (!strcmp(opt, "adam") || !strcmp(opt, "adamw")) {
                    nn_adam_opts ao; memset(&ao, 0, sizeof ao);
                    ao.lr = lr; ao.weight_decay = wd; ao.amsgrad = (int)cfg_get(cfg, nc, "amsgrad", 0);
                    ao.beta1 = (float)cfg_get(cfg, nc, "beta1", 0); ao.beta2 = (float)cfg_get(cfg, nc, "beta2", 0);
                    o = !strcmp(opt, "adam") ? nn_adam(p, np, ao) : nn_adamw(p, np, ao);
                } else if (!strcmp(opt, "rmsprop")) {
                    nn_rmsprop_opts ro; memset(&ro, 0, sizeof ro);
                    ro.lr = lr; ro.weight_decay = wd; ro.momentum = (float)cfg_get(cfg, nc, "momentum", 0);
                    ro.centered = (int)cfg_get(cfg, nc, "centered", 0); ro.alpha = (float)cfg_get(cfg, nc, "alpha", 0);
                    o = nn_rmsprop(p, np, ro);
                } else {
                    nn_adagrad_opts ag; memset(&ag, 0, sizeof ag);
                    ag.lr = lr; ag.weight_decay = wd; ag.lr_decay = (float)cfg_get(cfg, nc, "lr_decay", 0);
                    ag.initial_accumulator_value = (float)cfg_get(cfg, nc, "init_acc", 0);
                    o = nn_adagrad(p, np, ag);
                }
                if (groups == 2) nn_optim_add_param_group(o, &p[1], 1, (float)cfg_get(cfg, nc, "lr1", 0), (float)cfg_get(cfg, nc, "wd1", 0));
            }
            if (!strcmp(sched, "step")) s = nn_step_lr(o, (int64_t)cfg_get(cfg, nc, "step_size", 0), (float)cfg_get(cfg, nc, "gamma", 0));
            else if (!strcmp(sched, "multistep")) { int64_t ms[3] = { 10, 30, 60 }; s = nn_multi_step_lr(o, ms, 3, (float)cfg_get(cfg, nc, "gamma", 0)); }
            else if (!strcmp(sched, "exp")) s = nn_exponential_lr(o, (float)cfg_get(cfg, nc, "gamma", 0));
            else if (!strcmp(sched, "cos")) s = nn_cosine_annealing_lr(o, (int64_t)cfg_get(cfg, nc, "t_max", 0), (float)cfg_get(cfg, nc, "eta_min", 0));
            else if (!strcmp(sched, "linear")) s = nn_linear_lr(o, 0, 0, 0);
            else if (!strcmp(sched, "onecycle")) { nn_one_cycle_opts oc; memset(&oc, 0, sizeof oc); s = nn_one_cycle_lr(o, (float)cfg_get(cfg, nc, "max_lr", 0), 100, oc); }
            else if (!strcmp(sched, "plateau")) { nn_plateau_opts po; memset(&po, 0, sizeof po); po.patience = 3; po.cooldown = 2; po.factor = 0.5f; s = nn_reduce_lr_on_plateau(o, po); }
            CHECK(o != NULL && (sched[0] == 0 || s != NULL), "could not build %s/%s: %s", opt, sched, ERRS(ctx));
            for (t = 0; t < 100 && o && !g_case_failed; t++) {
                double lr_rel;
                for (i = 0; i < 2; i++) { int64_t k; for (k = 0; k < p[i]->numel; k++) p[i]->grad->data[k] = c[i]->data[k] * p[i]->data[k] + d[i]->data[k]; }
                lr_rel = fabs(nn_optim_lr(o, 0) - lrs[t]) / fabs(lrs[t]);
                if (lr_rel > worst_lr) worst_lr = lr_rel;
                CHECK(lr_rel <= 1e-5, "step %d: lr %.10g, PyTorch %.10g", t + 1, nn_optim_lr(o, 0), lrs[t]);
                nn_optim_step(o);
                if (s) { if (!strcmp(sched, "plateau")) nn_scheduler_step_metric(s, (float)metric[t]); else nn_scheduler_step(s); }
                for (i = 0; i < 2; i++) {
                    int64_t k, n = i ? 5 : 12;
                    for (k = 0; k < n; k++) {
                        double want = traj[i][t * n + k], got = p[i]->data[k], err = fabs(got - want);
                        if (fabs(want) >= 1e-2 && err / fabs(want) > worst) worst = err / fabs(want);
                        if (!(err <= 1e-5 * fabs(want) + 1e-6)) {
                            CHECK(0, "step %d param %d[%lld]: PyTorch %.9g, nn.h %.9g", t + 1, i, (long long)k, want, got);
                            break;
                        }
                    }
                }
            }
            printf("  %-26s worst relative error %.2g (params), %.2g (lr) over 100 steps\n", name, worst, worst_lr);
            CHECK(nn_error(ctx) == NULL, "error: %s", ERRS(ctx));
            nn_clear_error(ctx);
            nn_scheduler_free(s); nn_optim_free(o);
            for (i = 0; i < 2; i++) { nn_free(p[i]); nn_free(c[i]); nn_free(d[i]); free(traj[i]); }
            end();
            ncases++;
        }
        line = strtok_r(NULL, "\n", &save);
    }
    free(buf);
    begin("optimizer fixtures: all cases ran");
    CHECK(ncases >= 18, "only %d optimizer cases", ncases);
    end();
}

static void test_step_lr_table(nn_ctx *ctx) {
    /* seed 000: lr_0 = 1e-4, step_size 7, gamma 0.1: 1e-4 for epochs 1-7, 1e-5 for 8-14, 1e-6 for 15-21 */
    int64_t one = 1; int epoch;
    nn_tensor *w = nn_set_requires_grad(nn_zeros(ctx, 1, &one), 1);
    nn_sgd_opts so; nn_optim *o; nn_scheduler *s;
    memset(&so, 0, sizeof so); so.lr = 1e-4f;
    o = nn_sgd(&w, 1, so); s = nn_step_lr(o, 7, 0.1f);
    begin("seed000 StepLR table: 1e-4 (epochs 1-7), 1e-5 (8-14), 1e-6 (15-21)");
    for (epoch = 1; epoch <= 21; epoch++) {
        double want = epoch <= 7 ? 1e-4 : epoch <= 14 ? 1e-5 : 1e-6, got = nn_scheduler_last_lr(s, 0);
        CHECK(fabs(got - want) <= 1e-6 * want, "epoch %d: lr %g, expected %g", epoch, got, want);
        nn_scheduler_step(s);
    }
    end();
    nn_scheduler_free(s); nn_optim_free(o); nn_free(w);
}

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
    nn_conv_opts pad1; nn_pool_opts p2;
    memset(&pad1, 0, sizeof pad1); pad1.padding = 1;
    memset(&p2, 0, sizeof p2); p2.kernel_size = 2; p2.stride = 2;
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
        double w = want->data[i], err = fabs((double)got->data[i] - w);
        if (fabs(w) >= 1e-2 && err / fabs(w) > *worst) *worst = err / fabs(w);
        if (!(err <= rtol * fabs(w) + 1e-6)) { CHECK(0, "%s[%lld]: PyTorch %.9g, nn.h %.9g", what, (long long)i, w, got->data[i]); return; }
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
    memset(&co, 0, sizeof co);
    out = nn_forward(m, x);
    loss = ce ? nn_cross_entropy(out, target, co) : nn_mse_loss(out, target, NN_MEAN);
    CHECK(loss && nn_backward(loss, NULL), "forward/backward failed: %s", ERRS(ctx));
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
    memset(&ao, 0, sizeof ao); ao.lr = 1e-3f; if (ce) ao.weight_decay = 1e-4f;
    n = nn_module_parameters(m, params, 16);
    o = nn_adam(params, n, ao);
    nn_optim_zero_grad(o);
    for (step = 0; step < 20 && !g_case_failed; step++) {
        double err;
        nn_optim_zero_grad(o);
        out = nn_forward(m, x);
        loss = ce ? nn_cross_entropy(out, target, co) : nn_mse_loss(out, target, NN_MEAN);
        nn_backward(loss, NULL);
        nn_optim_step(o);
        err = fabs(nn_item(loss) - want_losses->data[step]) / fabs(want_losses->data[step]);
        if (err > worst_curve) worst_curve = err;
        CHECK(err <= 1e-4, "Adam step %d: loss %.7g, PyTorch %.7g", step + 1, nn_item(loss), want_losses->data[step]);
        nn_arena_reset(ctx);
    }
    printf("  %-8s forward/gradients worst relative error %.2g; 20 Adam steps loss %.5f -> %.5f (PyTorch %.5f -> %.5f), worst %.2g\n",
           name, worst, want_losses->data[0], want_losses->data[19], want_losses->data[0], want_losses->data[19], worst_curve);
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

static void test_modules(nn_ctx *ctx) {
    my_net_t net; nn_module *m, *c; const nn_state_entry *es; int n; nn_conv_opts pad1;
    /* The note says (64*24*24 + 1) * 512 = 3,221,504, but that product is 18,874,880,
       which is what PyTorch 1.13 counts for nn.Linear(64*24*24, 512); nn.h matches PyTorch. */
    begin("seed002 parameter counts: 896, 18,496, and PyTorch's 18,874,880 for Linear(64*24*24, 512)");
    memset(&pad1, 0, sizeof pad1); pad1.padding = 1;
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
        mods[0] = nn_linear_new(ctx, 4, 8, 1); mods[1] = nn_batch_norm1d_new(ctx, 8, 0, 0, 1); mods[2] = nn_relu_new(ctx);
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
        for (i = 0; i < lin->weight->numel; i++) { float v = fabsf(lin->weight->data[i]); if (v > mx) mx = v; s2 += (double)v * v; }
        for (i = 0; i < lin->bias->numel; i++) if (fabsf(lin->bias->data[i]) > mxb) mxb = fabsf(lin->bias->data[i]);
        CHECK(mx <= 0.1f && mx > 0.09f && mxb <= 0.1f, "weight max %g, bias max %g, bound 0.1", mx, mxb);
        /* U(-b, b) has variance b^2/3 */
        CHECK(fabs(s2 / (double)lin->weight->numel - 0.01 / 3) < 0.0005, "weight variance %g, expected %g", s2 / (double)lin->weight->numel, 0.01 / 3);
        nn_init_kaiming_normal_(lin->weight, 0, 0);
        s2 = 0; for (i = 0; i < lin->weight->numel; i++) s2 += (double)lin->weight->data[i] * lin->weight->data[i];
        CHECK(fabs(s2 / (double)lin->weight->numel - 2.0 / 100) < 0.002, "kaiming_normal variance %g, expected 0.02", s2 / (double)lin->weight->numel);
        nn_init_xavier_uniform_(lin->weight, 1);
        mx = 0; for (i = 0; i < lin->weight->numel; i++) if (fabsf(lin->weight->data[i]) > mx) mx = fabsf(lin->weight->data[i]);
        CHECK(mx <= sqrtf(6.0f / 150) && mx > 0.9f * sqrtf(6.0f / 150), "xavier bound %g vs %g", mx, sqrtf(6.0f / 150));
        nn_module_free(lin);
    }
    end();

    begin("Dropout: scales kept values by 1/(1-p), drops about p, identity in eval");
    {
        nn_module *dr = nn_dropout_new(ctx, 0.25f); int64_t sh[1] = { 20000 }, i, zeros = 0; int ok = 1;
        nn_tensor *x = nn_ones(ctx, 1, sh), *y = nn_forward(dr, x);
        for (i = 0; i < 20000; i++) { if (y->data[i] == 0) zeros++; else if (fabsf(y->data[i] - 1.0f / 0.75f) > 1e-6f) ok = 0; }
        CHECK(ok && fabs(zeros / 20000.0 - 0.25) < 0.02, "kept values scaled wrong or %lld of 20000 dropped", (long long)zeros);
        nn_module_eval(dr);
        CHECK(nn_forward(dr, x) == x, "eval-mode dropout is not the identity");
        nn_free(x); nn_module_free(dr);
    }
    end();

    begin("BatchNorm2d module: train updates running stats and num_batches_tracked; eval uses them");
    {
        nn_module *bn = nn_batch_norm2d_new(ctx, 2, 0, 0, 1); int64_t s4[4] = { 4, 2, 3, 3 };
        nn_tensor *x = nn_randn(ctx, 4, s4), *y1, *y2;
        nn_forward(bn, x);
        CHECK(bn->num_batches_tracked->data[0] == 1.0f && bn->running_mean->data[0] != 0.0f, "running stats not updated");
        nn_module_eval(bn);
        y1 = nn_forward(bn, x);
        CHECK(bn->num_batches_tracked->data[0] == 1.0f, "eval changed num_batches_tracked");
        y2 = nn_batch_norm(x, bn->running_mean, bn->running_var, bn->weight, bn->bias, 0, 0.1f, 1e-5f);
        CHECK(y1 && y2 && memcmp(y1->data, y2->data, (size_t)y1->numel * sizeof(float)) == 0, "eval output differs from running-stat normalization");
        nn_free(x); nn_module_free(bn);
    }
    end();
    nn_arena_reset(ctx);

    begin("gradient accumulation: two half-batches (loss/2 each) equal one full batch");
    {
        int64_t sx[2] = { 8, 3 }, sy[2] = { 8, 1 }, half[2] = { 4, 3 };
        nn_module *lin = nn_linear_new(ctx, 3, 1, 1);
        nn_tensor *x = nn_randn(ctx, 2, sx), *y = nn_randn(ctx, 2, sy), *full_w;
        float fb;
        nn_backward(nn_mse_loss(nn_forward(lin, x), y, NN_MEAN), NULL);
        full_w = nn_keep(lin->weight->grad); fb = lin->bias->grad->data[0];
        nn_zero_grad(lin->weight); nn_zero_grad(lin->bias);
        for (int k2 = 0; k2 < 2; k2++) {
            nn_tensor *xs = nn_slice(x, 0, 4 * k2, 4 * k2 + 4, 1), *ys = nn_slice(y, 0, 4 * k2, 4 * k2 + 4, 1);
            nn_backward(nn_div_scalar(nn_mse_loss(nn_forward(lin, xs), ys, NN_MEAN), 2.0f), NULL);
        }
        (void)half;
        CHECK(max_abs_diff(full_w->data, lin->weight->grad->data, 3) < 1e-6f && fabsf(fb - lin->bias->grad->data[0]) < 1e-6f, "accumulated gradient differs");
        nn_free(full_w); nn_free(x); nn_free(y); nn_module_free(lin);
    }
    end();

    begin("gradient clipping by norm and by value");
    {
        int64_t s2[1] = { 2 };
        nn_tensor *a = nn_set_requires_grad(nn_zeros(ctx, 1, s2), 1), *b = nn_set_requires_grad(nn_zeros(ctx, 1, s2), 1), *ps[2];
        float norm;
        a->grad = nn_zeros_like(a); b->grad = nn_zeros_like(b);
        a->grad->data[0] = 3; a->grad->data[1] = 0; b->grad->data[0] = 0; b->grad->data[1] = 4;   /* norm 5 */
        ps[0] = a; ps[1] = b;
        norm = nn_clip_grad_norm(ps, 2, 1.0f, 2.0f);
        CHECK(fabsf(norm - 5.0f) < 1e-6f && fabsf(a->grad->data[0] - 0.6f) < 1e-5f && fabsf(b->grad->data[1] - 0.8f) < 1e-5f, "norm %g, grads %g %g", norm, a->grad->data[0], b->grad->data[1]);
        b->grad->data[1] = -4;
        nn_clip_grad_value(ps, 2, 0.5f);
        CHECK(a->grad->data[0] == 0.5f && b->grad->data[1] == -0.5f, "clip by value: %g %g", a->grad->data[0], b->grad->data[1]);
        nn_free(a); nn_free(b);
    }
    end();
    nn_arena_reset(ctx);
}

/* ---- checkpoints ---- */

static int files_equal_weights(nn_module *a, nn_module *b) {
    const nn_state_entry *ea, *eb; int n = nn_module_state(a, &ea), k;
    if (n != nn_module_state(b, &eb)) return 0;
    for (k = 0; k < n; k++) if (memcmp(ea[k].tensor->data, eb[k].tensor->data, (size_t)ea[k].tensor->numel * sizeof(float))) return 0;
    return 1;
}

typedef struct { nn_module *fc1, *drop, *fc2; } small_t;
static nn_tensor *small_forward(nn_module *self, nn_tensor *x) {
    small_t *s = (small_t *)self->user;
    return nn_forward(s->fc2, nn_forward(s->drop, nn_relu(nn_forward(s->fc1, x))));
}
static nn_module *small_new(nn_ctx *ctx, small_t *s) {
    nn_module *m = nn_module_new(ctx, "Small", small_forward, s);
    s->fc1 = nn_module_add(m, "fc1", nn_linear_new(ctx, 6, 16, 1));
    s->drop = nn_module_add(m, "drop", nn_dropout_new(ctx, 0.3f));   /* draws from the RNG each step */
    s->fc2 = nn_module_add(m, "fc2", nn_linear_new(ctx, 16, 3, 1));
    return m;
}
/* trains steps [from, to) with Adam + StepLR, one step per "epoch" */
static float small_train(nn_ctx *ctx, nn_module *m, nn_optim *o, nn_scheduler *s, nn_tensor *x, nn_tensor *y, int from, int to) {
    int t; float last = 0; nn_cross_entropy_opts co; memset(&co, 0, sizeof co);
    for (t = from; t < to; t++) {
        nn_tensor *loss;
        nn_optim_zero_grad(o);
        loss = nn_cross_entropy(nn_forward(m, x), y, co);
        nn_backward(loss, NULL);
        nn_optim_step(o);
        nn_scheduler_step(s);
        last = nn_item(loss);
        nn_arena_reset(ctx);
    }
    return last;
}

static void test_checkpoints(nn_ctx *ctx) {
    small_t s1, s2; nn_module *a, *b; nn_tensor *pa[8], *pb[8], *x, *y; nn_optim *oa, *ob; nn_scheduler *sa, *sb;
    nn_adam_opts ao; int64_t sx[2] = { 10, 6 }, sy[1] = { 10 }, i; nn_checkpoint ck;
    const char *path = "test_ckpt.safetensors";
    memset(&ao, 0, sizeof ao); ao.lr = 0.01f;

    begin("checkpoint: model round trip through safetensors");
    nn_manual_seed(ctx, 11);
    a = small_new(ctx, &s1); b = small_new(ctx, &s2);
    CHECK(!files_equal_weights(a, b), "two fresh models are equal");
    CHECK(nn_save_model(a, "test_model.safetensors") && nn_load_model(b, "test_model.safetensors"), "save/load: %s", ERRS(ctx));
    CHECK(files_equal_weights(a, b), "weights differ after the round trip");
    end();

    begin("checkpoint: resume from a checkpoint ends with the same weights as an uninterrupted run");
    nn_manual_seed(ctx, 5);
    x = nn_randn(ctx, 2, sx); y = nn_empty(ctx, 1, sy);
    for (i = 0; i < 10; i++) y->data[i] = (float)(i % 3);
    nn_module_free(b);
    nn_manual_seed(ctx, 21); b = small_new(ctx, &s2);
    nn_module_free(a);
    nn_manual_seed(ctx, 21); a = small_new(ctx, &s1);
    oa = nn_adam(pa, nn_module_parameters(a, pa, 8), ao); sa = nn_step_lr(oa, 4, 0.5f);
    ob = nn_adam(pb, nn_module_parameters(b, pb, 8), ao); sb = nn_step_lr(ob, 4, 0.5f);
    nn_manual_seed(ctx, 99);
    small_train(ctx, a, oa, sa, x, y, 0, 12);        /* uninterrupted: 12 steps */
    {
        nn_tensor *ref[8]; int k, n = nn_module_parameters(a, ref, 8), same = 1;
        nn_tensor *keep[8];
        for (k = 0; k < n; k++) keep[k] = nn_keep(ref[k]);
        /* interrupted: 5 steps, save, a fresh model/optimizer/scheduler loads it, 7 more steps */
        nn_manual_seed(ctx, 99);
        ck.model = b; ck.optim = ob; ck.scheduler = sb; ck.epoch = 5;
        ck.loss = small_train(ctx, b, ob, sb, x, y, 0, 5);
        CHECK(nn_save_checkpoint(&ck, path), "save_checkpoint: %s", ERRS(ctx));
        nn_scheduler_free(sb); nn_optim_free(ob); nn_module_free(b);
        nn_manual_seed(ctx, 12345);                 /* disturb the RNG: the checkpoint must restore it */
        b = small_new(ctx, &s2);
        ob = nn_adam(pb, nn_module_parameters(b, pb, 8), ao); sb = nn_step_lr(ob, 4, 0.5f);
        ck.model = b; ck.optim = ob; ck.scheduler = sb; ck.epoch = 0; ck.loss = 0;
        CHECK(nn_load_checkpoint(&ck, path), "load_checkpoint: %s", ERRS(ctx));
        CHECK(ck.epoch == 5 && ck.loss > 0, "epoch %lld loss %g not restored", (long long)ck.epoch, ck.loss);
        small_train(ctx, b, ob, sb, x, y, 5, 12);
        for (k = 0; k < n; k++) if (memcmp(keep[k]->data, pb[k]->data, (size_t)pb[k]->numel * sizeof(float))) same = 0;
        CHECK(same, "resumed run ended with different weights");
        CHECK(nn_optim_lr(oa, 0) == nn_optim_lr(ob, 0), "lr differs: %g vs %g", nn_optim_lr(oa, 0), nn_optim_lr(ob, 0));
        for (k = 0; k < n; k++) nn_free(keep[k]);
    }
    end();

    begin("checkpoint: bad files are rejected with the tensor named, and the model is untouched");
    {
        nn_tensor *before = nn_keep(s2.fc1->weight);
        FILE *f; long size; unsigned char *bytes;
        const char *bad = "test_bad.safetensors";
        /* a truncated file */
        f = fopen(path, "rb"); fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
        bytes = (unsigned char *)malloc((size_t)size);
        CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size, "read");
        fclose(f);
        f = fopen(bad, "wb"); fwrite(bytes, 1, (size_t)size - 100, f); fclose(f);
        CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "past the end of the file"), "truncated: %s", ERRS(ctx));
        nn_clear_error(ctx);
        f = fopen(bad, "wb"); fwrite(bytes, 1, 6, f); fclose(f);
        CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "too short"), "6 bytes: %s", ERRS(ctx));
        nn_clear_error(ctx);
        /* a corrupt header */
        f = fopen(bad, "wb"); bytes[20] = '#'; fwrite(bytes, 1, (size_t)size, f); fclose(f);
        CHECK(!nn_load_checkpoint(&ck, bad) && strstr(ERRS(ctx), "corrupt"), "corrupt: %s", ERRS(ctx));
        nn_clear_error(ctx);
        free(bytes);
        /* wrong names, wrong shapes, wrong dtype */
        {
            int64_t s3[2] = { 16, 6 }, s4[2] = { 6, 16 };
            nn_tensor *t1 = nn_zeros(ctx, 2, s3), *t2 = nn_zeros(ctx, 2, s4);
            const char *n1[1] = { "fc9.weight" }, *n2[1] = { "fc1.weight" };
            nn_safetensors_save(ctx, bad, n1, &t1, 1, NULL, NULL, 0);
            CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "no tensor \"fc1.weight\" (missing key)"), "missing: %s", ERRS(ctx));
            nn_clear_error(ctx);
            nn_safetensors_save(ctx, bad, n2, &t2, 1, NULL, NULL, 0);
            CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "tensor \"fc1.weight\"") && strstr(ERRS(ctx), "is (6, 16) but the model's is (16, 6)"), "shape: %s", ERRS(ctx));
            nn_clear_error(ctx);
            nn_free(t1); nn_free(t2);
            f = fopen(bad, "wb");
            {
                const char *h = "{\"fc1.weight\":{\"dtype\":\"U8\",\"shape\":[16,6],\"data_offsets\":[0,96]}}";
                unsigned char len[8] = { 0 }; char zeros[96] = { 0 };
                len[0] = (unsigned char)strlen(h);
                fwrite(len, 1, 8, f); fwrite(h, 1, strlen(h), f); fwrite(zeros, 1, 96, f);
            }
            fclose(f);
            CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "tensor \"fc1.weight\" has dtype U8"), "dtype: %s", ERRS(ctx));
            nn_clear_error(ctx);
        }
        /* an extra tensor */
        {
            const nn_state_entry *es; int n = nn_module_state(b, &es), k;
            const char *names[8]; nn_tensor *ts[8];
            for (k = 0; k < n; k++) { names[k] = es[k].name; ts[k] = es[k].tensor; }
            names[n] = "extra.weight"; ts[n] = es[0].tensor;
            nn_safetensors_save(ctx, bad, names, ts, n + 1, NULL, NULL, 0);
            CHECK(!nn_load_model(b, bad) && strstr(ERRS(ctx), "\"extra.weight\", which the model does not have"), "unexpected: %s", ERRS(ctx));
            nn_clear_error(ctx);
        }
        CHECK(memcmp(before->data, s2.fc1->weight->data, (size_t)before->numel * sizeof(float)) == 0, "a failed load changed the model");
        nn_free(before);
        remove(bad);
    }
    end();

    begin("checkpoint: a failed save leaves the previous file intact");
    {
        FILE *f = fopen(path, "rb"); long before, after;
        fseek(f, 0, SEEK_END); before = ftell(f); fclose(f);
        /* the temporary file cannot be created: a directory is in its place */
        CHECK(system("mkdir -p test_ckpt.safetensors.tmp") == 0, "mkdir");
        CHECK(!nn_save_checkpoint(&ck, path), "save succeeded");
        CHECK(nn_error(ctx) && strstr(nn_error(ctx), "cannot create"), "message: %s", ERRS(ctx));
        nn_clear_error(ctx);
        f = fopen(path, "rb"); fseek(f, 0, SEEK_END); after = ftell(f); fclose(f);
        CHECK(before == after && nn_load_checkpoint(&ck, path), "the previous checkpoint was damaged: %s", ERRS(ctx));
        CHECK(system("rmdir test_ckpt.safetensors.tmp") == 0, "rmdir");
    }
    end();
    remove(path); remove("test_model.safetensors");
    nn_scheduler_free(sa); nn_scheduler_free(sb); nn_optim_free(oa); nn_optim_free(ob);
    nn_module_free(a); nn_module_free(b); nn_free(x); nn_free(y);
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
}

/* ---- data: readers, bad files, transforms, DataLoader, metrics ---- */

static void write_bytes(const char *path, const void *p, size_t n) { FILE *f = fopen(path, "wb"); if (f) { fwrite(p, 1, n, f); fclose(f); } }

/* an IDX file of unsigned bytes: magic, big-endian dims, data (claimed dims may lie) */
static void write_idx(const char *path, int nd, const int64_t *dims, const unsigned char *data, size_t n) {
    unsigned char h[4 + 4 * 3]; int d;
    h[0] = h[1] = 0; h[2] = 8; h[3] = (unsigned char)nd;
    for (d = 0; d < nd; d++) { h[4 + 4 * d] = (unsigned char)(dims[d] >> 24); h[5 + 4 * d] = (unsigned char)(dims[d] >> 16); h[6 + 4 * d] = (unsigned char)(dims[d] >> 8); h[7 + 4 * d] = (unsigned char)dims[d]; }
    {
        FILE *f = fopen(path, "wb");
        if (!f) return;
        fwrite(h, 1, (size_t)(4 + 4 * nd), f); fwrite(data, 1, n, f); fclose(f);
    }
}

#ifdef NN_HAVE_STB
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu; size_t i; int k;
    for (i = 0; i < n; i++) { c ^= p[i]; for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u))); }
    return ~c;
}
/* gzip = 10-byte header + raw deflate (stb's zlib stream without its 2-byte header and adler32) + crc32 + size */
static void write_gzip(const char *src, const char *dst) {
    FILE *f = fopen(src, "rb"); long n; unsigned char *b, *z, hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff }, tail[8]; int zl; uint32_t crc;
    if (!f) return;
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    z = stbi_zlib_compress(b, (int)n, &zl, 8);
    crc = crc32_of(b, (size_t)n);
    tail[0] = (unsigned char)crc; tail[1] = (unsigned char)(crc >> 8); tail[2] = (unsigned char)(crc >> 16); tail[3] = (unsigned char)(crc >> 24);
    tail[4] = (unsigned char)n; tail[5] = (unsigned char)(n >> 8); tail[6] = (unsigned char)(n >> 16); tail[7] = (unsigned char)(n >> 24);
    f = fopen(dst, "wb");
    fwrite(hdr, 1, 10, f); fwrite(z + 2, 1, (size_t)zl - 6, f); fwrite(tail, 1, 8, f); fclose(f);
    STBIW_FREE(z); free(b);
}
#endif

static void test_readers(nn_ctx *ctx) {
    int64_t dims[3] = { 4, 3, 5 }, ldims[1] = { 4 }, i;
    unsigned char px[60], lab[4] = { 3, 1, 4, 1 };
    nn_dataset *d; float x[15], y[1];
    for (i = 0; i < 60; i++) px[i] = (unsigned char)(i * 4);
    CHECK(system("rm -rf test_data_tmp && mkdir -p test_data_tmp/folder/cat test_data_tmp/folder/dog test_data_tmp/bad/x") == 0, "mkdir");
    write_idx("test_data_tmp/img.idx", 3, dims, px, 60);
    write_idx("test_data_tmp/lab.idx", 1, ldims, lab, 4);

    begin("data: IDX images and labels read, scaled to [0, 1] as ToTensor");
    d = nn_mnist(ctx, "test_data_tmp/img.idx", "test_data_tmp/lab.idx");
    CHECK(d && d->len == 4 && d->xshape[0] == 1 && d->xshape[1] == 3 && d->xshape[2] == 5 && d->num_classes == 5, "shape/len wrong: %s", ERRS(ctx));
    if (d) {
        CHECK(d->get(d, 2, x, y) && y[0] == 4.0f && fabsf(x[1] - (float)(31 * 4) / 255.0f) < 1e-7f, "sample 2: y %g x[1] %g", y[0], x[1]);
        CHECK(!d->get(d, 4, x, y) && strstr(ERRS(ctx), "index 4 is out of range"), "out of range: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    nn_dataset_free(d);
    end();

#ifdef NN_HAVE_STB
    begin("data: gzip'd IDX decoded with stb_image's zlib");
    write_gzip("test_data_tmp/img.idx", "test_data_tmp/img.idx.gz");
    write_gzip("test_data_tmp/lab.idx", "test_data_tmp/lab.idx.gz");
    d = nn_mnist(ctx, "test_data_tmp/img.idx.gz", "test_data_tmp/lab.idx.gz");
    CHECK(d && d->len == 4 && d->get(d, 3, x, y) && y[0] == 1.0f && fabsf(x[14] - (float)(59 * 4) / 255.0f) < 1e-7f, "gz read: %s", ERRS(ctx));
    nn_dataset_free(d);
    nn_clear_error(ctx);
    end();
#endif

    begin("bad data: truncated IDX, a header that lies, wrong label count, missing file; each named, nothing crashes");
    write_idx("test_data_tmp/trunc.idx", 3, dims, px, 50);
    CHECK(!nn_mnist(ctx, "test_data_tmp/trunc.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "test_data_tmp/trunc.idx's header says 60 bytes of data but the file has 50 (truncated)"), "truncated: %s", ERRS(ctx));
    nn_clear_error(ctx);
    { int64_t big[3] = { 2, 3, 5 }; write_idx("test_data_tmp/lie.idx", 3, big, px, 60); }
    CHECK(!nn_mnist(ctx, "test_data_tmp/lie.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "lie.idx's header says 30 bytes of data but the file has 60 (trailing bytes)"), "lying header: %s", ERRS(ctx));
    nn_clear_error(ctx);
    { int64_t l3[1] = { 3 }; write_idx("test_data_tmp/lab3.idx", 1, l3, lab, 3); }
    CHECK(!nn_mnist(ctx, "test_data_tmp/img.idx", "test_data_tmp/lab3.idx") && strstr(ERRS(ctx), "has 4 images but test_data_tmp/lab3.idx has 3 labels"), "count: %s", ERRS(ctx));
    nn_clear_error(ctx);
    {   /* found by the fuzzer: three huge dims overflowed the size product */
        int64_t huge[3] = { 0x7fffffff, 0x7fffffff, 0x7fffffff };
        write_idx("test_data_tmp/huge.idx", 3, huge, px, 60);
        CHECK(!nn_mnist(ctx, "test_data_tmp/huge.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "huge.idx's header says") && strstr(ERRS(ctx), "(truncated)"), "huge dims: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    write_bytes("test_data_tmp/junk.idx", "hello world, not idx", 20);
    CHECK(!nn_mnist(ctx, "test_data_tmp/junk.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "junk.idx is not an IDX file"), "junk: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_mnist(ctx, "test_data_tmp/nope.idx", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "cannot open test_data_tmp/nope.idx"), "missing: %s", ERRS(ctx));
    nn_clear_error(ctx);
#ifdef NN_HAVE_STB
    write_bytes("test_data_tmp/cut.idx.gz", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x01\x02\x03\x04\x05\x06\x07\x08\x09", 19);
    CHECK(!nn_mnist(ctx, "test_data_tmp/cut.idx.gz", "test_data_tmp/lab.idx") && strstr(ERRS(ctx), "cut.idx.gz"), "bad gzip: %s", ERRS(ctx));
    nn_clear_error(ctx);
#endif
    end();

    begin("data: CSV of numbers with a label column; a missing column is named by line");
    write_bytes("test_data_tmp/good.csv", "a,b,label,c\n1,2,0,3\n4.5,-5,1,6e-1\n\n7,8,2,9\n", 43);
    d = nn_csv(ctx, "test_data_tmp/good.csv", 2, 1);
    CHECK(d && d->len == 3 && d->xshape[0] == 3 && d->num_classes == 3, "csv shape: %s", ERRS(ctx));
    if (d) { CHECK(d->get(d, 1, x, y) && x[0] == 4.5f && x[1] == -5.0f && fabsf(x[2] - 0.6f) < 1e-7f && y[0] == 1.0f, "row 1: %g %g %g | %g", x[0], x[1], x[2], y[0]); }
    nn_dataset_free(d);
    write_bytes("test_data_tmp/bad.csv", "1,2,3\n4,5,6\n7,8\n", 16);
    CHECK(!nn_csv(ctx, "test_data_tmp/bad.csv", 2, 0) && strstr(ERRS(ctx), "test_data_tmp/bad.csv line 3 has 2 columns; the first row has 3"), "missing column: %s", ERRS(ctx));
    nn_clear_error(ctx);
    write_bytes("test_data_tmp/huge.csv", "1,2,1e40\n", 9);   /* found by the fuzzer: was undefined behaviour */
    CHECK(!nn_csv(ctx, "test_data_tmp/huge.csv", 2, 0) && strstr(ERRS(ctx), "1e40 is not a finite float32 number"), "huge: %s", ERRS(ctx));
    nn_clear_error(ctx);
    write_bytes("test_data_tmp/text.csv", "1,2,x\n", 6);
    CHECK(!nn_csv(ctx, "test_data_tmp/text.csv", -1, 0) && strstr(ERRS(ctx), "line 1, column 3: \"x"), "not a number: %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();

#ifdef NN_HAVE_STB
    begin("data: image folder (PNGs written by stb_image_write), classes sorted, resized; a non-image is named");
    {
        unsigned char rgb[4 * 6 * 3]; int k;
        for (k = 0; k < 72; k++) rgb[k] = (unsigned char)(k * 3);
        stbi_write_png("test_data_tmp/folder/cat/a.png", 6, 4, 3, rgb, 18);
        stbi_write_png("test_data_tmp/folder/cat/b.png", 6, 4, 3, rgb, 18);
        for (k = 0; k < 72; k++) rgb[k] = 200;
        stbi_write_png("test_data_tmp/folder/dog/c.png", 6, 4, 3, rgb, 18);
        d = nn_image_folder(ctx, "test_data_tmp/folder", 3, 4, 6);
        CHECK(d && d->len == 3 && d->num_classes == 2 && d->xshape[0] == 3, "folder: %s", ERRS(ctx));
        if (d) {
            float xi[72], yi[1];
            CHECK(d->get(d, 0, xi, yi) && yi[0] == 0.0f && fabsf(xi[1] - 9.0f / 255.0f) < 1e-6f && fabsf(xi[24] - 3.0f / 255.0f) < 1e-6f, "pixel: %g %g", xi[1], xi[24]);
            CHECK(d->get(d, 2, xi, yi) && yi[0] == 1.0f && fabsf(xi[5] - 200.0f / 255.0f) < 1e-6f, "dog: %g %g", yi[0], xi[5]);
        }
        nn_dataset_free(d);
        write_bytes("test_data_tmp/bad/x/notes.png", "this is not a png", 17);
        CHECK(!nn_image_folder(ctx, "test_data_tmp/bad", 1, 4, 4) && strstr(ERRS(ctx), "test_data_tmp/bad/x/notes.png is not an image"), "non-image: %s", ERRS(ctx));
        nn_clear_error(ctx);
        CHECK(!nn_image_folder(ctx, "test_data_tmp/none", 1, 4, 4) && strstr(ERRS(ctx), "test_data_tmp/none is not a folder"), "no folder: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    end();
#endif
    CHECK(system("rm -rf test_data_tmp") == 0, "cleanup");
}

static void test_transforms_and_metrics(nn_ctx *ctx) {
    FILE *f = fopen("tests/fixtures/data.txt", "rb");
    char line[20000]; int ntf = 0;
    int64_t labels[64], preds[64], cm_want[64], cm[64]; int nl = 0, k;
    begin("data fixtures load");
    CHECK(f != NULL, "cannot read tests/fixtures/data.txt");
    end();
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "transform ", 10)) {
            char name[64], *ops, *tok, *save = NULL; nn_transform ts[8]; int nt = 0, nops;
            char inl[20000], outl[200000];
            static char outbuf[200000];
            float *x, *want, *got; int64_t xs[3], ws[3], gs[3], n = 1, m = 1; char *r; int d, nd;
            sscanf(line + 10, "%63s %d", name, &nops);
            ops = strchr(strchr(line + 10, ' ') + 1, ' ') + 1;
            for (tok = strtok_r(ops, ";\n", &save); tok && nt < 8; tok = strtok_r(NULL, ";\n", &save)) {
                char op[32]; float a[6] = { 0 };
                int c = sscanf(tok, " %31s %f %f %f %f %f %f", op, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5]);
                if (!strcmp(op, "resize")) ts[nt++] = nn_resize((int64_t)a[0], (int64_t)a[1]);
                else if (!strcmp(op, "normalize")) { int ch = (c - 1) / 2; ts[nt++] = nn_normalize(ch, a, a + ch); }
                else if (!strcmp(op, "grayscale")) ts[nt++] = nn_grayscale((int)a[0]);
                else if (!strcmp(op, "hflip")) ts[nt++] = nn_random_horizontal_flip(1.0f);
                else if (!strcmp(op, "crop")) ts[nt++] = nn_random_crop((int64_t)a[0], (int64_t)a[1]);
            }
            if (!fgets(inl, sizeof inl, f) || !fgets(outl, sizeof outl, f)) break;
            begin(name);
            r = inl + 3; nd = (int)strtol(r, &r, 10);
            for (d = 0; d < 3; d++) { xs[d] = d < nd ? strtol(r, &r, 10) : 1; n *= xs[d]; }
            r = strchr(r, ':') + 1;
            x = (float *)malloc((size_t)n * sizeof(float));
            for (d = 0; d < n; d++) x[d] = strtof(r, &r);
            r = outl + 4; nd = (int)strtol(r, &r, 10);
            for (d = 0; d < 3; d++) { ws[d] = d < nd ? strtol(r, &r, 10) : 1; m *= ws[d]; }
            r = strchr(r, ':') + 1;
            want = (float *)malloc((size_t)m * sizeof(float));
            for (d = 0; d < m; d++) want[d] = strtof(r, &r);
            got = (float *)outbuf;
            CHECK(nn_apply_transforms(ctx, ts, nt, x, xs, got, gs, NULL), "apply failed: %s", ERRS(ctx));
            CHECK(gs[0] == ws[0] && gs[1] == ws[1] && gs[2] == ws[2], "shape (%lld, %lld, %lld), torchvision (%lld, %lld, %lld)",
                  (long long)gs[0], (long long)gs[1], (long long)gs[2], (long long)ws[0], (long long)ws[1], (long long)ws[2]);
            for (d = 0; d < m && !g_case_failed; d++)
                if (!(fabsf(got[d] - want[d]) <= 1e-5f * fabsf(want[d]) + 1e-6f)) CHECK(0, "[%d]: torchvision %.8g, nn.h %.8g", d, want[d], got[d]);
            free(x); free(want);
            nn_arena_reset(ctx);
            end();
            ntf++;
        } else if (!strncmp(line, "labels ", 7) || !strncmp(line, "preds ", 6)) {
            int64_t *dst = line[0] == 'l' ? labels : preds; char *r = strchr(line, ':') + 1;
            for (nl = 0; nl < 64; nl++) { char *e; long v = strtol(r, &e, 10); if (e == r) break; dst[nl] = v; r = e; }
        } else if (!strncmp(line, "confusion ", 10)) {
            char *r = line + 10;
            for (k = 0; k < 16; k++) cm_want[k] = strtol(r, &r, 10);
        } else if (!strncmp(line, "report", 6)) {
            int lines = atoi(strchr(line, ' ') + 1), i, four = line[6] == '4';
            static char want[8192], got[8192];
            const char *names[4] = { "T-shirt/top", "Trouser", "Pullover", "Ankle boot" };
            want[0] = 0;
            for (i = 0; i < lines; i++) {
                char l2[512];
                if (!fgets(l2, sizeof l2, f)) break;
                strcat(want, l2 + 1);
            }
            want[strlen(want) - 1] = 0;      /* the fixture's last line has no newline in sklearn's string */
            begin(four ? "classification report (target names, digits=4) equals scikit-learn's" : "confusion matrix and classification report equal scikit-learn's");
            nn_confusion_matrix(labels, preds, nl, 4, cm);
            CHECK(memcmp(cm, cm_want, 16 * sizeof(int64_t)) == 0, "confusion matrix differs from sklearn's");
            CHECK(nn_classification_report(cm, 4, four ? names : NULL, four ? 4 : 2, got, sizeof got) > 0, "report did not fit");
            CHECK(!strcmp(got, want), "report differs.\nscikit-learn:\n%s\nnn.h:\n%s", want, got);
            CHECK(fabs(nn_accuracy(cm, 4) - 0.7) < 1e-12, "accuracy %g", nn_accuracy(cm, 4));
            end();
        }
    }
    fclose(f);
    begin("transform fixtures: all cases ran");
    CHECK(ntf >= 9, "%d transform cases", ntf);
    end();
}

/* a dataset you write yourself: 10 samples, x = (i, -i), y = i % 3 */
static int toy_get(nn_dataset *d, int64_t i, float *x, float *y) { (void)d; x[0] = (float)i; x[1] = -(float)i; y[0] = (float)(i % 3); return 1; }

static void test_dataloader(nn_ctx *ctx) {
    nn_dataset toy; nn_dataloader_opts o; nn_dataloader *a, *b, *c; nn_tensor *xa, *ya, *xb, *yb; int64_t seen[10], i, nb = 0; int same = 1, differs = 0;
    memset(&toy, 0, sizeof toy);
    toy.len = 10; toy.xdim = 1; toy.xshape[0] = 2; toy.get = toy_get; toy.ctx = ctx;
    memset(&o, 0, sizeof o);
    o.batch_size = 4; o.shuffle = 1; o.seed = 42;
    begin("DataLoader: same seed, same batches; another seed, another order; every sample once per epoch");
    a = nn_dataloader_new(&toy, o); b = nn_dataloader_new(&toy, o);
    o.seed = 43; c = nn_dataloader_new(&toy, o);
    CHECK(nn_dataloader_len(a) == 3, "len %lld", (long long)nn_dataloader_len(a));
    memset(seen, 0, sizeof seen);
    while (nn_dataloader_next(a, &xa, &ya)) {
        CHECK(nn_dataloader_next(b, &xb, &yb), "b ended early");
        nb++;
        if (xa->numel != xb->numel || memcmp(xa->data, xb->data, (size_t)xa->numel * sizeof(float))) same = 0;
        for (i = 0; i < xa->shape[0]; i++) { seen[(int64_t)xa->data[2 * i]]++; CHECK(ya->data[i] == (float)((int64_t)xa->data[2 * i] % 3), "label mismatch"); }
    }
    CHECK(nb == 3 && xa->shape[0] == 2, "%lld batches, last of %lld", (long long)nb, (long long)xa->shape[0]);
    for (i = 0; i < 10; i++) CHECK(seen[i] == 1, "sample %lld seen %lld times", (long long)i, (long long)seen[i]);
    CHECK(same, "same seed gave different batches");
    nn_dataloader_next(a, &xa, &ya); nn_dataloader_next(c, &xb, &yb);
    for (i = 0; i < 8; i++) if (xa->data[i] != xb->data[i]) differs = 1;
    CHECK(differs, "seeds 42 and 43 gave the same first batch");
    nn_dataloader_free(a); nn_dataloader_free(b); nn_dataloader_free(c);
    end();

    begin("DataLoader: drop_last, no shuffle keeps order, and no allocation per batch after the first");
    o.shuffle = 0; o.drop_last = 1; o.seed = 0;
    a = nn_dataloader_new(&toy, o);
    CHECK(nn_dataloader_len(a) == 2, "drop_last len %lld", (long long)nn_dataloader_len(a));
    nb = 0;
    {
        long before = 0;
        int epoch;
        for (epoch = 0; epoch < 3; epoch++) {
            while (nn_dataloader_next(a, &xa, &ya)) {
                if (epoch == 0 && nb == 0) CHECK(xa->data[0] == 0 && xa->data[6] == 3, "order changed without shuffle");
                if (epoch == 0 && nb == 0) before = g_mallocs;
                nb++;
            }
        }
        CHECK(nb == 6, "%lld batches over 3 epochs, expected 6", (long long)nb);
        CHECK(g_mallocs == before, "%ld allocations after the first batch", g_mallocs - before);
    }
    nn_dataloader_free(a);
    end();
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

static void test_random_transforms(nn_ctx *ctx) {
    int64_t shape[3] = { 1, 6, 6 }, os[3], i;
    float x[36], a[64], b[64];
    nn_transform ts[4];
    uint64_t s1 = 7, s2 = 7, s3 = 8;
    int differ = 0;
    for (i = 0; i < 36; i++) x[i] = (float)i / 36.0f;
    begin("random transforms: zero strength is the identity; one RNG state repeats; another differs");
    ts[0] = nn_random_rotation(0); ts[1] = nn_color_jitter(0, 0); ts[2] = nn_random_horizontal_flip(0);
    CHECK(nn_apply_transforms(ctx, ts, 3, x, shape, a, os, &s1) && memcmp(a, x, sizeof x) == 0, "not the identity");
    ts[0] = nn_random_rotation(30); ts[1] = nn_color_jitter(0.4f, 0.4f); ts[2] = nn_random_crop(6, 2); ts[3] = nn_random_horizontal_flip(0.5f);
    s1 = 7;
    nn_apply_transforms(ctx, ts, 4, x, shape, a, os, &s1);
    nn_apply_transforms(ctx, ts, 4, x, shape, b, os, &s2);
    CHECK(memcmp(a, b, 36 * sizeof(float)) == 0, "same RNG state, different results");
    nn_apply_transforms(ctx, ts, 4, x, shape, b, os, &s3);
    for (i = 0; i < 36; i++) if (a[i] != b[i]) differ = 1;
    CHECK(differ, "another RNG state gave the same result");
    for (i = 0; i < 36; i++) CHECK(a[i] >= 0.0f && a[i] <= 1.0f, "jitter left [0, 1]: %g", a[i]);
    end();
    nn_arena_reset(ctx);
}

int main(void) {
    nn_ctx *ctx = nn_ctx_new();
    long live;
    nn_set_logger(ctx, capture_log, NULL);   /* messages checked by the tests, not printed */
    test_fixtures(ctx);
    test_chain_rule(ctx);
    test_manual_backprop(ctx);
    test_autograd(ctx);
    test_errors(ctx);
    test_zero_alloc_step(ctx);
    test_graph_dot(ctx);
    test_optimizers(ctx);
    test_step_lr_table(ctx);
    test_models(ctx);
    test_modules(ctx);
    test_checkpoints(ctx);
    test_readers(ctx);
    test_transforms_and_metrics(ctx);
    test_dataloader(ctx);
    test_gemm_paths(ctx);
    test_random_transforms(ctx);
    nn_ctx_free(ctx);
    live = g_mallocs - g_frees;
    begin("memory: every allocation freed (tensors freed, context freed)");
    CHECK(live == 0, "%ld allocations never freed", live);
    end();
    printf("  fixtures: %d cases against PyTorch, %d finite-difference checks (worst abs error %.3g)\n",
           g_fixture_cases, g_gradchecks, g_gradcheck_worst);
    printf("  against PyTorch: worst relative error %.3g where |expected| >= 0.1 (%s); worst absolute error %.3g\n",
           g_worst_rel, g_worst_where, g_worst_abs);
#ifndef NN_HAVE_STB
    printf("  (stb_image not installed: the gzip, image-folder and PNG tests were not built)\n");
#endif
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
