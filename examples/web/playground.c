/* The browser playground (issue 11): nn.h compiled to WebAssembly by emscripten.
   Two things for examples/web/index.html to call:
   - pg_*: an MLP (Linear, Tanh or ReLU, Linear, ..., CrossEntropyLoss, Adam) trained on a 2-D
     dataset made here from a seed (two moons or two spirals), a few full-batch steps per
     animation frame, and the class-1 probability over the plane for the heatmap.
   - pg_graph: seed 003's computation graph for an expression the user types, built with nn.h
     tensors (leaves with requires_grad, nn_add/nn_mul/...), differentiated by nn_backward, and
     handed to the page as JSON (nodes with value and gradient, edges).
   Built natively (make test-web does, with -Wall -Wextra -Werror) it is a command-line check:
   ./web_playground [--steps N] [--dataset spirals|moons] ... trains and prints the loss,
   then prints the graph JSON for --expr. */
#define NN_IMPLEMENTATION
#include "../../nn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#define PG_API EMSCRIPTEN_KEEPALIVE
#else
#define PG_API
#endif

/* ==== the training half ==== */

enum { PG_MOONS = 0, PG_SPIRALS = 1 };
#define PG_MAX_POINTS 2000
#define PG_LAYERS 2                     /* hidden layers, each of width hidden */
#define PG_EXTENT 2.0f                  /* the plane shown is [-2, 2] x [-2, 2] */

typedef struct pg_state {
    nn_ctx *ctx;
    nn_tensor *x;                       /* (N, 2) points */
    nn_tensor *y;                       /* (N) int64 labels 0 or 1 */
    nn_module *model;                   /* Sequential(Linear(2, H), act, Linear(H, H), act, Linear(H, 2)) */
    nn_optim *opt;                      /* Adam over the model's parameters */
    float *grid;                        /* (res, res) class-1 probability, row 0 at the top */
    int grid_res;
    int hidden, activation;             /* activation 0: tanh, 1: relu */
    double lr;
    int64_t steps;
    float loss;                         /* loss of the last step (before its update) */
    char error[256];
} pg_state;

static pg_state pg;

/* n uniform numbers in [0, 1) (torch.rand) or normal ones (torch.randn) from the context's RNG */
static int pg_random(nn_ctx *ctx, int64_t n, int normal, float *out) {
    nn_tensor *t = normal ? nn_randn(ctx, 1, &n) : nn_rand(ctx, 1, &n);
    if (t) memcpy(out, nn_f32(t), (size_t)n * sizeof(float));
    nn_free(t);
    return t != NULL;
}

/* Two moons (sklearn's make_moons) or two spirals (TensorFlow Playground's), n points,
   half per class, scaled into the plane; noise is the normal noise's standard deviation. */
static int pg_make_data(int dataset, int64_t n, float noise, float *xy, int64_t *label) {
    float *u = (float *)malloc((size_t)n * sizeof(float)), *g = (float *)malloc((size_t)n * 2 * sizeof(float));
    int64_t i, half = n / 2;
    if (!u || !g || !pg_random(pg.ctx, n, 0, u) || !pg_random(pg.ctx, 2 * n, 1, g)) { free(u); free(g); return 0; }
    for (i = 0; i < n; i++) {
        int64_t c = i < half ? 0 : 1, k = c ? i - half : i, m = c ? n - half : half;
        float px, py;
        if (dataset == PG_MOONS) {
            float t = 3.14159265f * u[i];
            px = c ? 1.0f - cosf(t) : cosf(t);
            py = c ? 0.5f - sinf(t) : sinf(t);
            px = 1.2f * (px - 0.5f);
            py = 1.2f * (py - 0.25f);
        } else {
            float r = 1.8f * (float)k / (float)m + 0.05f;
            float t = 1.75f * (float)k / (float)m * 2.0f * 3.14159265f + (c ? 3.14159265f : 0.0f);
            px = r * sinf(t);
            py = r * cosf(t);
        }
        xy[2 * i] = px + noise * g[i];
        xy[2 * i + 1] = py + noise * g[n + i];
        label[i] = c;
    }
    free(u);
    free(g);
    return 1;
}

static void pg_note_error(void) {
    const char *e = nn_error(pg.ctx);
    if (e && !pg.error[0]) {
        strncpy(pg.error, e, sizeof pg.error - 1);
        pg.error[sizeof pg.error - 1] = 0;
    }
}

static void pg_free_net(void) {
    nn_optim_free(pg.opt);
    nn_module_free(pg.model);
    pg.opt = NULL;
    pg.model = NULL;
}

/* the model and its optimizer, from the context's RNG as it stands */
static int pg_build_net(void) {
    nn_module *mods[2 * PG_LAYERS + 1];
    nn_tensor *params[2 * (PG_LAYERS + 1)];
    int64_t in = 2;
    int l, k = 0, np;
    nn_adam_opts o = nn_adam_opts_default();
    pg_free_net();
    for (l = 0; l < PG_LAYERS; l++) {
        mods[k++] = nn_linear_new(pg.ctx, in, pg.hidden, 1);
        mods[k++] = pg.activation ? nn_relu_new(pg.ctx) : nn_tanh_new(pg.ctx);
        in = pg.hidden;
    }
    mods[k++] = nn_linear_new(pg.ctx, in, 2, 1);
    pg.model = nn_sequential_new(pg.ctx, mods, k);
    if (!pg.model) {
        for (l = 0; l < k; l++) nn_module_free(mods[l]);
        pg_note_error();
        return 0;
    }
    np = nn_module_parameters(pg.model, params, 2 * (PG_LAYERS + 1));
    o.lr = pg.lr;
    pg.opt = nn_adam(params, np, o);
    pg.steps = 0;
    pg.loss = NAN;
    pg_note_error();
    return pg.opt != NULL;
}

/* (Re)starts everything: the dataset from seed, then the net (same seed, so a run is
   reproducible). dataset: 0 moons, 1 spirals. Returns 1, or 0 with pg_error() set. */
PG_API int pg_init(int seed, int dataset, int n, float noise, int hidden, int activation, double lr) {
    float *xy;
    int64_t *lab, shape[2];
    if (n < 2 || n > PG_MAX_POINTS || hidden < 1 || hidden > 256 || !(lr > 0)) {
        snprintf(pg.error, sizeof pg.error, "pg_init: n %d must be in [2, %d], hidden %d in [1, 256], lr %g > 0",
                 n, PG_MAX_POINTS, hidden, lr);
        return 0;
    }
    pg_free_net();
    nn_free(pg.x);
    nn_free(pg.y);
    pg.x = pg.y = NULL;
    if (!pg.ctx) pg.ctx = nn_ctx_new();
    if (!pg.ctx) { snprintf(pg.error, sizeof pg.error, "pg_init: out of memory"); return 0; }
    nn_clear_error(pg.ctx);
    pg.error[0] = 0;
    pg.hidden = hidden;
    pg.activation = activation;
    pg.lr = lr;
    nn_manual_seed(pg.ctx, (uint64_t)seed);
    xy = (float *)malloc((size_t)n * 2 * sizeof(float));
    lab = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    if (xy && lab && pg_make_data(dataset, n, noise, xy, lab)) {
        shape[0] = n;
        shape[1] = 2;
        pg.x = nn_from_array(pg.ctx, 2, shape, xy);
        pg.y = nn_from_i64(pg.ctx, 1, shape, lab);
    }
    free(xy);
    free(lab);
    if (!pg.x || !pg.y) { pg_note_error(); return 0; }
    return pg_build_net();
}

/* a new net of another width (or activation) on the same data; the lr is kept */
PG_API int pg_set_hidden(int hidden, int activation) {
    if (!pg.ctx || hidden < 1 || hidden > 256) return 0;
    pg.hidden = hidden;
    pg.activation = activation;
    return pg_build_net();
}

/* optimizer.param_groups[0]['lr'] = lr; the Adam state is kept */
PG_API void pg_set_lr(double lr) {
    if (!pg.opt || !(lr > 0)) return;
    pg.lr = lr;
    nn_optim_set_lr(pg.opt, 0, lr);
}

/* k full-batch steps: zero_grad, forward, loss, backward, step. Returns the last loss
   (NaN on error: pg_error() says why). */
PG_API float pg_train(int k) {
    int i;
    if (!pg.opt) return NAN;
    for (i = 0; i < k; i++) {
        nn_tensor *logits = nn_forward(pg.model, pg.x);                     /* (N, 2) */
        nn_tensor *loss = nn_cross_entropy(logits, pg.y, nn_cross_entropy_opts_default());
        nn_optim_zero_grad(pg.opt);
        nn_backward(loss, NULL, 0);
        nn_optim_step(pg.opt);
        pg.loss = nn_item(loss);
        nn_arena_reset(pg.ctx);
        if (nn_error(pg.ctx)) { pg_note_error(); return NAN; }
        pg.steps++;
    }
    return pg.loss;
}

/* The class-1 probability at res x res points of the plane (row 0 at y = +2, the top),
   into a buffer the page reads through HEAPF32; NULL on error. */
PG_API float *pg_grid(int res) {
    int64_t shape[2], i, j, n;
    nn_tensor *pts, *prob = NULL;
    float *p;
    if (!pg.model || res < 2 || res > 512) return NULL;
    if (res != pg.grid_res) {
        free(pg.grid);
        pg.grid = (float *)malloc((size_t)res * (size_t)res * sizeof(float));
        pg.grid_res = pg.grid ? res : 0;
        if (!pg.grid) return NULL;
    }
    n = (int64_t)res * res;
    shape[0] = n;
    shape[1] = 2;
    pts = nn_empty(pg.ctx, 2, shape);
    if (!pts) { pg_note_error(); return NULL; }
    p = nn_f32(pts);
    for (i = 0; i < res; i++)
        for (j = 0; j < res; j++) {
            p[2 * (i * res + j)] = PG_EXTENT * (2.0f * ((float)j + 0.5f) / (float)res - 1.0f);
            p[2 * (i * res + j) + 1] = PG_EXTENT * (1.0f - 2.0f * ((float)i + 0.5f) / (float)res);
        }
    NN_NO_GRAD(pg.ctx) {
        prob = nn_softmax(nn_forward(pg.model, pts), 1);                      /* (res*res, 2) */
    }
    if (prob) {
        const float *q = nn_f32(prob);
        for (i = 0; i < n; i++) pg.grid[i] = q[2 * i + 1];
    }
    nn_arena_reset(pg.ctx);
    nn_free(pts);
    if (!prob) { pg_note_error(); return NULL; }
    return pg.grid;
}

/* fraction of the training points on the right side of the boundary */
PG_API float pg_accuracy(void) {
    nn_tensor *pred = NULL;
    int64_t i, right = 0, n;
    if (!pg.model) return NAN;
    n = pg.x->shape[0];
    NN_NO_GRAD(pg.ctx) {
        pred = nn_argmax(nn_forward(pg.model, pg.x), 1, 0);                  /* (N) int64 */
    }
    if (pred)
        for (i = 0; i < n; i++) right += nn_i64(pred)[i] == nn_i64(pg.y)[i];
    nn_arena_reset(pg.ctx);
    return pred ? (float)right / (float)n : NAN;
}

PG_API float *pg_points(void) { return pg.x ? nn_f32(pg.x) : NULL; }                /* (N, 2) */
PG_API int pg_label(int i) { return pg.y && i >= 0 && i < pg.y->numel ? (int)nn_i64(pg.y)[i] : -1; }
PG_API int pg_num_points(void) { return pg.x ? (int)pg.x->shape[0] : 0; }
PG_API float pg_loss(void) { return pg.loss; }
PG_API double pg_steps(void) { return (double)pg.steps; }
PG_API int pg_num_parameters(void) { return pg.model ? (int)nn_module_num_parameters(pg.model) : 0; }
PG_API float pg_extent(void) { return PG_EXTENT; }
PG_API const char *pg_error(void) { return pg.error; }

/* ==== the graph half (seed 003) ==== */

/* Grammar (spaces anywhere):
     input   := [name '='] expr
     expr    := term (('+' | '-') term)*
     term    := unary (('*' | '/') unary)*
     unary   := '-' unary | power
     power   := primary ['^' number]
     primary := number | variable | function '(' expr ')' | '(' expr ')'
   functions: tanh relu exp log sigmoid. Variables take their values from a list such as
   "x=-2, y=5, z=-4"; a variable used twice is one leaf (its gradient sums both uses). */
#define G_MAX_NODES 64
#define G_MAX_VARS 16

typedef struct g_node {
    nn_tensor *t;
    char label[24];                     /* the variable's name, the number, or the op's symbol */
    char expr[48];                      /* the source text this node computes */
    int kind;                           /* 0 variable, 1 constant, 2 op */
    int in[2];                          /* input node ids, -1 when none */
} g_node;

typedef struct g_parser {
    nn_ctx *ctx;
    const char *s;
    int pos;
    g_node node[G_MAX_NODES];
    int nnode;
    char var_name[G_MAX_VARS][16];
    float var_value[G_MAX_VARS];
    int var_node[G_MAX_VARS];
    int nvar;
    char err[160];
} g_parser;

static char *g_json;                    /* the last answer, freed by the next call */
static nn_ctx *g_ctx;

static void g_skip(g_parser *p) { while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t') p->pos++; }
static int g_isalpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int g_isdigit(char c) { return c >= '0' && c <= '9'; }

static void g_fail(g_parser *p, const char *what) {
    if (!p->err[0]) snprintf(p->err, sizeof p->err, "%.120s at column %d", what, p->pos + 1);
}

static int g_add_node(g_parser *p, nn_tensor *t, int kind, const char *label, int a, int b, int from) {
    g_node *n;
    int len;
    if (!t) { g_fail(p, nn_error(p->ctx) ? nn_error(p->ctx) : "nn.h returned no tensor"); return -1; }
    if (!p->err[0] && p->nnode == G_MAX_NODES) g_fail(p, "expression too long (more than 64 nodes)");
    if (p->err[0]) {
        if (kind != 2) nn_free(t);      /* a leaf not in the list would never be freed */
        return -1;
    }
    n = &p->node[p->nnode];
    n->t = t;
    n->kind = kind;
    n->in[0] = a;
    n->in[1] = b;
    snprintf(n->label, sizeof n->label, "%s", label);
    while (p->s[from] == ' ') from++;
    len = p->pos - from;
    while (len > 0 && p->s[from + len - 1] == ' ') len--;
    if (len > (int)sizeof n->expr - 1) len = (int)sizeof n->expr - 1;
    memcpy(n->expr, p->s + from, (size_t)(len > 0 ? len : 0));
    n->expr[len > 0 ? len : 0] = 0;
    if (kind == 2) nn_retain_grad(t);   /* q.retain_grad(): keep the gradient of a non-leaf */
    return p->nnode++;
}

static nn_tensor *g_scalar(g_parser *p, float v, int requires_grad) {
    int64_t one = 1;
    return nn_set_requires_grad(nn_from_array(p->ctx, 1, &one, &v), requires_grad);
}

static int g_expr(g_parser *p);

static int g_primary(g_parser *p) {
    int from, k, a;
    char name[16];
    g_skip(p);
    from = p->pos;
    if (p->s[p->pos] == '(') {
        p->pos++;
        a = g_expr(p);
        g_skip(p);
        if (p->s[p->pos] != ')') { g_fail(p, "expected ')'"); return -1; }
        p->pos++;
        return a;
    }
    if (g_isdigit(p->s[p->pos]) || p->s[p->pos] == '.') {
        char *end;
        double v = strtod(p->s + p->pos, &end);
        char lab[24];
        if (end == p->s + p->pos) { g_fail(p, "bad number"); return -1; }
        p->pos = (int)(end - p->s);
        snprintf(lab, sizeof lab, "%g", v);
        return g_add_node(p, g_scalar(p, (float)v, 0), 1, lab, -1, -1, from);
    }
    if (!g_isalpha(p->s[p->pos])) { g_fail(p, p->s[p->pos] ? "expected a number, a name or '('" : "unexpected end"); return -1; }
    for (k = 0; g_isalpha(p->s[p->pos]) || g_isdigit(p->s[p->pos]); p->pos++)
        if (k < (int)sizeof name - 1) name[k++] = p->s[p->pos];
    name[k] = 0;
    g_skip(p);
    if (p->s[p->pos] == '(') {                                  /* a function */
        static const char *fn[] = { "tanh", "relu", "exp", "log", "sigmoid" };
        int f;
        nn_tensor *t = NULL;
        for (f = 0; f < 5 && strcmp(name, fn[f]); f++) {}
        if (f == 5) { g_fail(p, "unknown function (tanh, relu, exp, log, sigmoid)"); return -1; }
        p->pos++;
        a = g_expr(p);
        g_skip(p);
        if (p->s[p->pos] != ')') { g_fail(p, "expected ')'"); return -1; }
        p->pos++;
        if (a < 0) return -1;
        switch (f) {
        case 0: t = nn_tanh(p->node[a].t); break;
        case 1: t = nn_relu(p->node[a].t); break;
        case 2: t = nn_exp(p->node[a].t); break;
        case 3: t = nn_log(p->node[a].t); break;
        default: t = nn_sigmoid(p->node[a].t); break;
        }
        return g_add_node(p, t, 2, fn[f], a, -1, from);
    }
    for (k = 0; k < p->nvar && strcmp(p->var_name[k], name); k++) {}
    if (k == p->nvar) {
        char msg[64];
        snprintf(msg, sizeof msg, "no value for '%s' (give it one: %s=1)", name, name);
        g_fail(p, msg);
        return -1;
    }
    if (p->var_node[k] < 0)
        p->var_node[k] = g_add_node(p, nn_set_name(g_scalar(p, p->var_value[k], 1), name), 0, name, -1, -1, from);
    return p->var_node[k];
}

static int g_power(g_parser *p) {
    int from = p->pos, a = g_primary(p);
    g_skip(p);
    if (a >= 0 && p->s[p->pos] == '^') {
        char *end, lab[24];
        double e;
        p->pos++;
        g_skip(p);
        e = strtod(p->s + p->pos, &end);
        if (end == p->s + p->pos) { g_fail(p, "'^' takes a number"); return -1; }
        p->pos = (int)(end - p->s);
        snprintf(lab, sizeof lab, "^%g", e);
        return g_add_node(p, nn_pow_scalar(p->node[a].t, (float)e), 2, lab, a, -1, from);
    }
    return a;
}

static int g_unary(g_parser *p) {
    int from, a;
    g_skip(p);
    from = p->pos;
    if (p->s[p->pos] == '-') {
        p->pos++;
        a = g_unary(p);
        return a < 0 ? -1 : g_add_node(p, nn_neg(p->node[a].t), 2, "neg", a, -1, from);
    }
    return g_power(p);
}

static int g_term(g_parser *p) {
    int from, a, b;
    g_skip(p);
    from = p->pos;
    a = g_unary(p);
    for (;;) {
        char c;
        g_skip(p);
        c = p->s[p->pos];
        if (a < 0 || (c != '*' && c != '/')) return a;
        p->pos++;
        b = g_unary(p);
        if (b < 0) return -1;
        a = g_add_node(p, c == '*' ? nn_mul(p->node[a].t, p->node[b].t) : nn_div(p->node[a].t, p->node[b].t), 2,
                       c == '*' ? "*" : "/", a, b, from);
    }
}

static int g_expr(g_parser *p) {
    int from, a, b;
    g_skip(p);
    from = p->pos;
    a = g_term(p);
    for (;;) {
        char c;
        g_skip(p);
        c = p->s[p->pos];
        if (a < 0 || (c != '+' && c != '-')) return a;
        p->pos++;
        b = g_term(p);
        if (b < 0) return -1;
        a = g_add_node(p, c == '+' ? nn_add(p->node[a].t, p->node[b].t) : nn_sub(p->node[a].t, p->node[b].t), 2,
                       c == '+' ? "+" : "-", a, b, from);
    }
}

/* "x=-2, y=5, z=-4" (commas or spaces between) into the variable table */
static void g_read_vars(g_parser *p, const char *vars) {
    const char *s = vars;
    while (*s && !p->err[0]) {
        char name[16];
        int k = 0;
        char *end;
        while (*s == ' ' || *s == ',' || *s == ';' || *s == '\t') s++;
        if (!*s) break;
        if (!g_isalpha(*s)) { snprintf(p->err, sizeof p->err, "values: expected a name at '%.12s'", s); return; }
        while (g_isalpha(*s) || g_isdigit(*s)) { if (k < 15) name[k++] = *s; s++; }
        name[k] = 0;
        while (*s == ' ') s++;
        if (*s != '=') { snprintf(p->err, sizeof p->err, "values: expected '=' after '%s'", name); return; }
        s++;
        p->var_value[p->nvar] = (float)strtod(s, &end);
        if (end == s) { snprintf(p->err, sizeof p->err, "values: '%s' needs a number", name); return; }
        s = end;
        if (p->nvar == G_MAX_VARS) { snprintf(p->err, sizeof p->err, "values: more than %d variables", G_MAX_VARS); return; }
        snprintf(p->var_name[p->nvar], sizeof p->var_name[0], "%s", name);
        p->var_node[p->nvar++] = -1;
    }
}

/* the JSON answer: appended to a buffer sized for 64 nodes (never overrun: what does not fit is cut) */
typedef struct g_out { char *o; size_t k, cap; } g_out;

static void g_cat(g_out *w, const char *s) {
    size_t n = strlen(s);
    if (n > w->cap - 1 - w->k) n = w->cap - 1 - w->k;
    memcpy(w->o + w->k, s, n);
    w->k += n;
    w->o[w->k] = 0;
}

/* a JSON number, or a string for NaN and infinities (JSON has no such numbers) */
static void g_num(g_out *w, double v) {
    char b[32];
    if (v != v) g_cat(w, "\"nan\"");
    else if (isinf(v)) g_cat(w, v > 0 ? "\"inf\"" : "\"-inf\"");
    else { snprintf(b, sizeof b, "%.6g", v); g_cat(w, b); }
}

/* a JSON string of s (names and source text: printable ASCII; others become '?') */
static void g_str(g_out *w, const char *s) {
    char b[3];
    g_cat(w, "\"");
    for (; *s; s++) {
        b[0] = '\\';
        b[1] = (*s >= 32 && *s < 127) ? *s : '?';
        b[2] = 0;
        g_cat(w, (*s == '"' || *s == '\\') ? b : b + 1);
    }
    g_cat(w, "\"");
}

static void g_write_json(g_parser *p, int root, const char *root_name, g_out *w) {
    static const char *kind[3] = { "variable", "constant", "op" };
    char b[64];
    int i;
    g_cat(w, "{\"error\":");
    if (p->err[0]) g_str(w, p->err);
    else g_cat(w, "null");
    snprintf(b, sizeof b, ",\"root\":%d,\"name\":", p->err[0] ? -1 : root);
    g_cat(w, b);
    g_str(w, root_name);
    g_cat(w, ",\"nodes\":[");
    for (i = 0; !p->err[0] && i < p->nnode; i++) {
        g_node *n = &p->node[i];
        snprintf(b, sizeof b, "%s{\"id\":%d,\"kind\":\"%s\",\"label\":", i ? "," : "", i, kind[n->kind]);
        g_cat(w, b);
        g_str(w, i == root && root_name[0] && n->kind == 2 ? root_name : n->label);
        g_cat(w, ",\"op\":");
        g_str(w, n->kind == 2 ? n->label : "");
        g_cat(w, ",\"expr\":");
        g_str(w, n->expr);
        g_cat(w, ",\"value\":");
        g_num(w, nn_item(n->t));
        g_cat(w, ",\"grad\":");
        if (n->t->grad) g_num(w, nn_f32(n->t->grad)[0]);
        else g_cat(w, "null");
        snprintf(b, sizeof b, ",\"inputs\":[%d,%d]}", n->in[0], n->in[1]);
        g_cat(w, b);
    }
    g_cat(w, "]}");
}

/* Parses input ("f = (x + y) * z"), builds it from nn.h tensors, runs nn_backward from the
   result and returns JSON: {"error", "root", "name", "nodes": [{"id", "kind", "label", "op",
   "expr", "value", "grad", "inputs": [a, b]}]}; the string stays valid until the next call. */
PG_API const char *pg_graph(const char *input, const char *vars) {
    static g_parser p;
    char root_name[16] = "";
    int i, root = -1;
    g_out w;
    memset(&p, 0, sizeof p);
    if (!g_ctx) g_ctx = nn_ctx_new();   /* its own context: the graph never touches training's errors */
    p.ctx = g_ctx;
    p.s = input ? input : "";
    free(g_json);
    w.cap = 512 + G_MAX_NODES * 512;
    w.k = 0;
    g_json = w.o = (char *)malloc(w.cap);
    if (!g_json || !p.ctx) return "{\"error\":\"out of memory\",\"root\":-1,\"name\":\"\",\"nodes\":[]}";
    nn_clear_error(p.ctx);
    g_read_vars(&p, vars ? vars : "");
    {                                   /* an optional "name =" in front */
        int k = 0, q;
        g_skip(&p);
        q = p.pos;
        while (g_isalpha(p.s[q]) || (k && g_isdigit(p.s[q]))) { if (k < 15) root_name[k++] = p.s[q]; q++; }
        root_name[k] = 0;
        while (p.s[q] == ' ') q++;
        if (k && p.s[q] == '=') p.pos = q + 1;
        else root_name[0] = 0;
    }
    if (!p.err[0]) root = g_expr(&p);
    g_skip(&p);
    if (!p.err[0] && p.s[p.pos]) g_fail(&p, "unexpected character");
    if (!p.err[0] && root >= 0 && p.node[root].t->requires_grad)
        if (!nn_backward(p.node[root].t, NULL, 0)) g_fail(&p, nn_error(p.ctx) ? nn_error(p.ctx) : "nn_backward failed");
    g_write_json(&p, root, root_name, &w);
    nn_arena_reset(p.ctx);              /* frees the op results and the graph */
    for (i = 0; i < p.nnode; i++)
        if (p.node[i].kind != 2) nn_free(p.node[i].t);       /* the leaves are ours */
    nn_clear_error(p.ctx);
    return g_json;
}

/* ==== the command-line check (not built for the browser) ==== */
#ifndef __EMSCRIPTEN__
#define PROG "web_playground"
#define SYNOPSIS "  the browser playground's C side, natively: trains the MLP, prints the loss, then the graph JSON"
#include "../args.h"
#include <time.h>

int main(int argc, char **argv) {
    int64_t steps = 1000, seed = 1, hidden = 16, npts = 200, relu = 0, every = 100, s;
    double lr = 0.03, noise = 0.1;
    const char *dataset = "spirals", *expr = "f = (x + y) * z", *vars = "x=-2, y=5, z=-4";
    arg_spec a[] = {
        { "--steps", ARG_INT, &steps, 0, 1e7, "N", "full-batch Adam steps (1000)" },
        { "--every", ARG_INT, &every, 1, 1e7, "N", "print the loss every N steps (100)" },
        { "--seed", ARG_INT, &seed, 0, 2147483647, "N", "dataset and init seed (1)" },
        { "--hidden", ARG_INT, &hidden, 1, 256, "N", "width of the two hidden layers (16)" },
        { "--points", ARG_INT, &npts, 2, PG_MAX_POINTS, "N", "points in the dataset (200)" },
        { "--relu", ARG_SWITCH, &relu, 0, 1, NULL, "ReLU instead of Tanh" },
        { "--lr", ARG_REAL, &lr, 1e-9, 10, "LR", "Adam's learning rate (0.03)" },
        { "--noise", ARG_REAL, &noise, 0, 10, "SD", "noise added to the points (0.1)" },
        { "--dataset", ARG_STR, &dataset, 0, 0, "NAME", "spirals or moons (spirals)" },
        { "--expr", ARG_STR, &expr, 0, 0, "TEXT", "expression for the graph (\"f = (x + y) * z\")" },
        { "--vars", ARG_STR, &vars, 0, 0, "TEXT", "its values (\"x=-2, y=5, z=-4\")" },
    };
    int r = parse_args(argc, argv, a, (int)(sizeof a / sizeof a[0]));
    clock_t t0;
    if (r) return r == 1 ? 0 : 2;
    if (strcmp(dataset, "spirals") && strcmp(dataset, "moons")) {
        fprintf(stderr, "%s: --dataset is spirals or moons, not '%s'\n", PROG, dataset);
        return 2;
    }
    if (!pg_init((int)seed, strcmp(dataset, "moons") ? PG_SPIRALS : PG_MOONS, (int)npts, (float)noise, (int)hidden,
                 (int)relu, lr)) {
        printf("error: %s\n", pg_error());
        return 1;
    }
    printf("%s, %d points, MLP 2-%d-%d-2 (%s), %d parameters, Adam lr %g\n", dataset, pg_num_points(), (int)hidden,
           (int)hidden, relu ? "relu" : "tanh", pg_num_parameters(), lr);
    t0 = clock();
    for (s = 0; s < steps; s += every) {
        float loss = pg_train((int)(steps - s < every ? steps - s : every));
        if (loss != loss) { printf("error: %s\n", pg_error()); return 1; }
        printf("step %6lld  loss %.4f  accuracy %.3f\n", (long long)pg_steps(), loss, pg_accuracy());
    }
    printf("%lld steps in %.2f s\n", (long long)steps, (double)(clock() - t0) / CLOCKS_PER_SEC);
    if (!pg_grid(64)) { printf("error: %s\n", pg_error()); return 1; }
    printf("%s\n", pg_graph(expr, vars));
    return 0;
}
#endif
