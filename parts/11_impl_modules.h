/* ==== modules and layers ==== */

struct nn__mod_slot { char *name; nn_tensor *t; int is_buffer; };   /* a registered parameter or buffer */
struct nn__mod_child { char *name; nn_module *m; };                  /* a registered child */

/* A layer's own struct starts with its nn_module. */
#define NN__LAYER(T, m) NN__CAST(T *, NN__CAST(void *, (m)))

static char *nn__mod_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = NN__CAST(char *, NN_MALLOC(n));
    if (p) memcpy(p, s, n);
    return p;
}

/* p (maybe moved) with room for need elements of elem bytes, or NULL (p untouched) on failure. */
static void *nn__mod_grow(nn_ctx *ctx, const char *fn, void *p, int *cap, int need, size_t elem) {
    int c = *cap ? *cap : 4;
    void *q;
    if (need <= *cap) return p;
    while (c < need) {
        if (c > INT_MAX / 2) { nn__err(ctx, "%s: more than %d entries", fn, INT_MAX / 2); return NULL; }
        c *= 2;
    }
    q = NN_REALLOC(p, (size_t)c * elem);
    if (!q) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    *cap = c;
    return q;
}

/* ---- module objects ---- */

/* A module of size bytes (a layer's struct), its type string copied after it. */
static nn_module *nn__module_alloc(nn_ctx *ctx, const char *fn, const char *type, size_t size) {
    nn_module *m; size_t tl;
    if (!ctx) return NULL;
    if (!type) type = "Module";
    tl = strlen(type) + 1;
    m = NN__CAST(nn_module *, NN_MALLOC(size + tl));
    if (!m) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    memset(m, 0, size);
    memcpy(NN__CAST(char *, NN__CAST(void *, m)) + size, type, tl);
    m->type = NN__CAST(char *, NN__CAST(void *, m)) + size;
    m->ctx = ctx;
    m->training = 1;
    m->refs = 1;
    m->floating = 1;
    m->stamp = 1;
    return m;
}

/* The forward of a module made with a one-input forward. */
static int nn__mod_forward_1(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    nn_tensor *y;
    if (nin != 1) { nn__err(m->ctx, "nn_forward_n: %s takes 1 input; %d were given", m->type, nin); return -1; }
    if (!in[0]) {
        if (!nn_error(m->ctx)) nn__err(m->ctx, "nn_forward: the input of %s is NULL", m->type);
        return -1;
    }
    y = m->forward1(m, in[0]);
    if (!y) return -1;
    if (nout > 0) out[0] = y;
    return 1;
}

/* A built-in layer: size bytes of its struct, its one-input forward. */
static nn_module *nn__mod_layer(nn_ctx *ctx, const char *fn, const char *type, size_t size, nn_forward_fn forward) {
    nn_module *m = nn__module_alloc(ctx, fn, type, size);
    if (m) { m->forward1 = forward; m->forward_n = nn__mod_forward_1; }
    return m;
}

NN_API nn_module *nn_module_new(nn_ctx *ctx, const char *type, nn_forward_fn forward, void *user) {
    nn_module *m = nn__mod_layer(ctx, "nn_module_new", type, sizeof(nn_module), forward);
    if (m) { m->user = user; if (!forward) m->forward_n = NULL; }
    return m;
}

NN_API nn_module *nn_module_new_n(nn_ctx *ctx, const char *type, nn_forward_n_fn forward, void *user) {
    nn_module *m = nn__module_alloc(ctx, "nn_module_new_n", type, sizeof(nn_module));
    if (m) { m->forward_n = forward; m->user = user; }
    return m;
}

/* Drops one reference; at the last one frees m, its references to its children and tensors. */
static void nn__module_release(nn_module *m) {
    int k;
    if (--m->refs > 0) return;
    for (k = 0; k < m->nkid; k++) {
        m->kid[k].m->nparents--;
        nn__module_release(m->kid[k].m);
        NN_FREE(m->kid[k].name);
    }
    for (k = 0; k < m->nslot; k++) {
        nn_free(m->slot[k].t);
        NN_FREE(m->slot[k].name);
    }
    NN_FREE(m->kid);
    NN_FREE(m->slot);
    NN_FREE(m->state);
    NN_FREE(m->state_names);
    NN_FREE(m);
}

NN_API nn_module *nn_module_retain(nn_module *m) {
    if (m) m->refs++;
    return m;
}

NN_API void nn_module_free(nn_module *m) {
    if (!m) return;
    if (m->refs <= m->nparents) {
        nn__err(m->ctx, "nn_module_free: this %s belongs to %d parent module%s and to no one else; free the model it "
                "is in (or nn_module_retain it first to keep a reference of your own)",
                m->type, m->nparents, m->nparents == 1 ? "" : "s");
        return;
    }
    nn__module_release(m);
}

/* ---- names ---- */

static nn__mod_slot *nn__mod_find_slot(const nn_module *m, const char *name, size_t len) {
    int k;
    for (k = 0; k < m->nslot; k++)
        if (strlen(m->slot[k].name) == len && !memcmp(m->slot[k].name, name, len)) return &m->slot[k];
    return NULL;
}

static nn__mod_child *nn__mod_find_kid(const nn_module *m, const char *name, size_t len) {
    int k;
    for (k = 0; k < m->nkid; k++)
        if (strlen(m->kid[k].name) == len && !memcmp(m->kid[k].name, name, len)) return &m->kid[k];
    return NULL;
}

/* A module's own tensor by name, or NULL (the layers' forwards read their parameters so). */
static nn_tensor *nn__mod_own(const nn_module *m, const char *name) {
    nn__mod_slot *s = nn__mod_find_slot(m, name, strlen(name));
    return s ? s->t : NULL;
}

/* The module holding the last part of a dotted name ("features.0.weight"), or NULL. */
static nn_module *nn__mod_resolve(nn_module *m, const char *name, const char **last) {
    const char *dot;
    while (m && (dot = strchr(name, '.')) != NULL) {
        nn__mod_child *c = nn__mod_find_kid(m, name, (size_t)(dot - name));
        m = c ? c->m : NULL;
        name = dot + 1;
    }
    *last = name;
    return m;
}

/* A new name in m: non-empty, no '.', not yet a parameter, buffer or child of m. */
static int nn__mod_check_name(nn_module *m, const char *fn, const char *name) {
    size_t len;
    if (!name || !name[0] || strchr(name, '.')) {
        nn__err(m->ctx, "%s: the name \"%s\" must be non-empty and hold no '.'", fn, name ? name : "(NULL)");
        return 0;
    }
    len = strlen(name);
    if (nn__mod_find_slot(m, name, len) || nn__mod_find_kid(m, name, len)) {
        nn__mod_slot *s = nn__mod_find_slot(m, name, len);
        nn__err(m->ctx, "%s: %s already has a %s named \"%s\"; names must be unique", fn, m->type,
                s ? (s->is_buffer ? "buffer" : "parameter") : "child module", name);
        return 0;
    }
    return 1;
}

/* ---- registering parameters, buffers and children ---- */

static int nn__mod_check_tensor(nn_module *m, const char *fn, const char *name, const nn_tensor *t, int is_buffer) {
    if (!name) name = "(NULL)";
    if (!t) { nn__err(m->ctx, "%s: the tensor for \"%s\" is NULL", fn, name); return 0; }
    if (t->ctx != m->ctx) {
        nn__err(m->ctx, "%s: \"%s\" belongs to another nn_ctx than %s", fn, name, m->type);
        return 0;
    }
    if (!(t->flags & NN__PERSISTENT)) {
        nn__err(m->ctx, "%s: \"%s\" is an op result, freed at nn_arena_reset; register a tensor you created "
                "(nn_empty, nn_zeros, nn_keep, ...)", fn, name);
        return 0;
    }
    if (!is_buffer && t->dtype != NN_FLOAT32) {
        nn__err(m->ctx, "%s: \"%s\" is %s; a parameter must be float32", fn, name, nn_dtype_name(t->dtype));
        return 0;
    }
    return 1;
}

static nn_tensor *nn__mod_register(nn_module *m, const char *fn, const char *name, nn_tensor *t, int is_buffer) {
    void *p; char *copy;
    if (!m) return NULL;
    if (!nn__mod_check_tensor(m, fn, name, t, is_buffer) || !nn__mod_check_name(m, fn, name)) return NULL;
    p = nn__mod_grow(m->ctx, fn, m->slot, &m->slot_cap, m->nslot + 1, sizeof(nn__mod_slot));
    if (!p) return NULL;
    m->slot = NN__CAST(nn__mod_slot *, p);
    copy = nn__mod_strdup(name);
    if (!copy) { nn__err(m->ctx, "%s: out of memory", fn); return NULL; }
    m->slot[m->nslot].name = copy;
    m->slot[m->nslot].t = nn__retain(t);
    m->slot[m->nslot].is_buffer = is_buffer;
    m->nslot++;
    if (!is_buffer) t->requires_grad = 1;
    m->stamp++;
    return t;
}

NN_API nn_tensor *nn_module_register_parameter(nn_module *m, const char *name, nn_tensor *t) {
    return nn__mod_register(m, "nn_module_register_parameter", name, t, 0);
}

NN_API nn_tensor *nn_module_register_buffer(nn_module *m, const char *name, nn_tensor *t) {
    return nn__mod_register(m, "nn_module_register_buffer", name, t, 1);
}

/* Constructors' helper: registers a tensor the module alone will own (or frees it on failure). */
static int nn__mod_adopt(nn_module *m, const char *name, nn_tensor *t, int is_buffer) {
    nn_tensor *r = t ? nn__mod_register(m, "nn_module_register", name, t, is_buffer) : NULL;
    nn_free(t);
    return r != NULL;
}

NN_API nn_tensor *nn_module_set_parameter(nn_module *m, const char *name, nn_tensor *t) {
    static const char *fn = "nn_module_set_parameter";
    const char *last; nn_module *owner; nn__mod_slot *s = NULL;
    if (!m) return NULL;
    if (!name) { nn__err(m->ctx, "%s: name is NULL", fn); return NULL; }
    owner = nn__mod_resolve(m, name, &last);
    if (owner) s = nn__mod_find_slot(owner, last, strlen(last));
    if (!s || s->is_buffer) { nn__err(m->ctx, "%s: %s has no parameter \"%s\"", fn, m->type, name); return NULL; }
    if (!nn__mod_check_tensor(owner, fn, name, t, 0)) return NULL;
    nn__retain(t);
    nn_free(s->t);
    s->t = t;
    t->requires_grad = 1;
    owner->stamp++;
    return t;
}

/* 1 when target is from itself or one of its descendants. */
static int nn__mod_reaches(const nn_module *from, const nn_module *target) {
    int k;
    if (from == target) return 1;
    for (k = 0; k < from->nkid; k++) if (nn__mod_reaches(from->kid[k].m, target)) return 1;
    return 0;
}

/* Records child under name (memory already reserved); the first parent takes the creator's reference. */
static void nn__mod_link(nn_module *parent, char *name, nn_module *child) {
    parent->kid[parent->nkid].name = name;
    parent->kid[parent->nkid].m = child;
    parent->nkid++;
    if (child->floating) child->floating = 0;
    else child->refs++;
    child->nparents++;
    parent->stamp++;
}

NN_API nn_module *nn_module_add(nn_module *parent, const char *name, nn_module *child) {
    static const char *fn = "nn_module_add";
    void *p; char *copy;
    if (!parent) {
        if (child) nn__err(child->ctx, "%s: the parent of \"%s\" is NULL", fn, name ? name : "(NULL)");
        return NULL;
    }
    if (!child) { nn__err(parent->ctx, "%s: the child \"%s\" is NULL", fn, name ? name : "(NULL)"); return NULL; }
    if (child->ctx != parent->ctx) {
        nn__err(parent->ctx, "%s: the child \"%s\" belongs to another nn_ctx", fn, name ? name : "(NULL)");
        return NULL;
    }
    if (!nn__mod_check_name(parent, fn, name)) return NULL;
    if (nn__mod_reaches(child, parent)) {
        nn__err(parent->ctx, "%s: adding %s as \"%s\" would make a cycle: the parent %s is that module or inside it",
                fn, child->type, name, parent->type);
        return NULL;
    }
    p = nn__mod_grow(parent->ctx, fn, parent->kid, &parent->kid_cap, parent->nkid + 1, sizeof(nn__mod_child));
    if (!p) return NULL;
    parent->kid = NN__CAST(nn__mod_child *, p);
    copy = nn__mod_strdup(name);
    if (!copy) { nn__err(parent->ctx, "%s: out of memory", fn); return NULL; }
    nn__mod_link(parent, copy, child);
    return child;
}

/* ---- Sequential ---- */

static nn_tensor *nn__mod_sequential_forward(nn_module *m, nn_tensor *x) {
    int k;
    for (k = 0; k < m->nkid && x; k++) x = nn_forward(m->kid[k].m, x);
    return x;
}

/* Validates every argument first, so that an error takes none of the modules. */
static int nn__mod_sequential_check(nn_ctx *ctx, nn_module **mods, int n) {
    int k;
    if (n < 0) { nn__err(ctx, "nn_sequential_new: n is %d; it must be 0 or more", n); return 0; }
    if (n > 0 && !mods) { nn__err(ctx, "nn_sequential_new: mods is NULL for %d modules", n); return 0; }
    for (k = 0; k < n; k++) {
        if (!mods[k]) { nn__err(ctx, "nn_sequential_new: mods[%d] is NULL", k); return 0; }
        if (mods[k]->ctx != ctx) { nn__err(ctx, "nn_sequential_new: mods[%d] belongs to another nn_ctx", k); return 0; }
    }
    return 1;
}

NN_API nn_module *nn_sequential_new(nn_ctx *ctx, nn_module **mods, int n) {
    static const char *fn = "nn_sequential_new";
    nn_module *m; void *p; int k; char nm[16];
    if (!ctx || !nn__mod_sequential_check(ctx, mods, n)) return NULL;
    m = nn__mod_layer(ctx, fn, "Sequential", sizeof(nn_module), nn__mod_sequential_forward);
    if (!m || n == 0) return m;
    p = nn__mod_grow(ctx, fn, NULL, &m->kid_cap, n, sizeof(nn__mod_child));
    if (!p) { nn__module_release(m); return NULL; }
    m->kid = NN__CAST(nn__mod_child *, p);
    for (k = 0; k < n; k++) {   /* names first: nothing can fail once a module is linked */
        snprintf(nm, sizeof nm, "%d", k);
        m->kid[k].name = nn__mod_strdup(nm);
        if (!m->kid[k].name) {
            nn__err(ctx, "%s: out of memory", fn);
            while (k-- > 0) NN_FREE(m->kid[k].name);
            nn__module_release(m);
            return NULL;
        }
    }
    for (k = 0; k < n; k++) nn__mod_link(m, m->kid[k].name, mods[k]);
    return m;
}

/* ---- running ---- */

static int nn__mod_call_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    int k, n = m->forward_n(m, in, nin, out, nout);
    if (n >= 0 && n < nout) {
        nn__err(m->ctx, "nn_forward_n: %s gives %d output%s; %d were asked for", m->type, n, n == 1 ? "" : "s", nout);
        n = -1;
    }
    if (n < 0) {
        if (!nn_error(m->ctx)) nn__err(m->ctx, "nn_forward: the forward of %s failed", m->type);
        for (k = 0; k < nout; k++) out[k] = NULL;
    }
    return n;
}

#ifndef NN_NO_STDIO
static int nn__mod_summary_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout);
#endif

NN_API int nn_forward_n(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    int k;
    if (!m) return -1;
    if (nin < 0 || (nin > 0 && !in) || nout < 0 || (nout > 0 && !out)) {
        nn__err(m->ctx, "nn_forward_n: %s got nin %d (in %s) and nout %d (out %s); counts must be 0 or more, "
                "with an array when more than 0", m->type, nin, in ? "set" : "NULL", nout, out ? "set" : "NULL");
        return -1;
    }
    for (k = 0; k < nout; k++) out[k] = NULL;
    if (!m->forward_n) { nn__err(m->ctx, "nn_forward: module %s has no forward function", m->type); return -1; }
#ifndef NN_NO_STDIO
    if (m->summary) return nn__mod_summary_forward(m, in, nin, out, nout);
#endif
    return nn__mod_call_forward(m, in, nin, out, nout);
}

NN_API nn_tensor *nn_forward(nn_module *m, nn_tensor *x) {
    nn_tensor *y = NULL;
    return nn_forward_n(m, &x, 1, &y, 1) >= 1 ? y : NULL;
}

NN_API void nn_module_train(nn_module *m, int mode) {
    int k;
    if (!m) return;
    m->training = mode != 0;
    for (k = 0; k < m->nkid; k++) nn_module_train(m->kid[k].m, mode);
}
NN_API void nn_module_eval(nn_module *m) { nn_module_train(m, 0); }

/* ---- state dict, parameters, lookups ---- */

/* Every registration bumps its module's stamp, so this sum changes whenever the tree does. */
static uint64_t nn__mod_tree_stamp(const nn_module *m) {
    uint64_t s = m->stamp; int k;
    for (k = 0; k < m->nkid; k++) s += nn__mod_tree_stamp(m->kid[k].m);
    return s;
}

typedef struct nn__mod_state_walk {
    nn_state_entry *e;
    char *names, *prefix;
    int n;
    size_t bytes, max_prefix;
} nn__mod_state_walk;

/* First pass: entries, bytes of names, longest prefix. */
static void nn__mod_state_count(const nn_module *m, size_t plen, nn__mod_state_walk *w) {
    int k;
    for (k = 0; k < m->nslot; k++) { w->n++; w->bytes += plen + strlen(m->slot[k].name) + 1; }
    for (k = 0; k < m->nkid; k++) {
        size_t cl = plen + strlen(m->kid[k].name) + 1;
        if (cl > w->max_prefix) w->max_prefix = cl;
        nn__mod_state_count(m->kid[k].m, cl, w);
    }
}

/* Second pass, in state_dict order: own parameters, own buffers, then each child under its name. */
static void nn__mod_state_fill(const nn_module *m, size_t plen, nn__mod_state_walk *w) {
    int k, pass;
    for (pass = 0; pass < 2; pass++) for (k = 0; k < m->nslot; k++) if (m->slot[k].is_buffer == pass) {
        char *dst = w->names + w->bytes;
        size_t nl = strlen(m->slot[k].name) + 1;
        memcpy(dst, w->prefix, plen);
        memcpy(dst + plen, m->slot[k].name, nl);
        w->e[w->n].name = dst;
        w->e[w->n].tensor = m->slot[k].t;
        w->e[w->n].is_buffer = pass;
        w->n++;
        w->bytes += plen + nl;
    }
    for (k = 0; k < m->nkid; k++) {
        size_t l = strlen(m->kid[k].name);
        memcpy(w->prefix + plen, m->kid[k].name, l);
        w->prefix[plen + l] = '.';
        nn__mod_state_fill(m->kid[k].m, plen + l + 1, w);
    }
}

static int nn__mod_state_build(nn_module *m) {
    nn__mod_state_walk w;
    memset(&w, 0, sizeof w);
    nn__mod_state_count(m, 0, &w);
    NN_FREE(m->state); NN_FREE(m->state_names);
    m->state = NN__CAST(nn_state_entry *, NN_MALLOC((size_t)(w.n ? w.n : 1) * sizeof(nn_state_entry)));
    m->state_names = NN__CAST(char *, NN_MALLOC(w.bytes + 1));
    w.prefix = NN__CAST(char *, NN_MALLOC(w.max_prefix + 1));
    if (!m->state || !m->state_names || !w.prefix) {
        nn__err(m->ctx, "nn_module_state: out of memory");
        NN_FREE(m->state); NN_FREE(m->state_names); NN_FREE(w.prefix);
        m->state = NULL; m->state_names = NULL; m->nstate = 0;
        return 0;
    }
    w.e = m->state; w.names = m->state_names; w.n = 0; w.bytes = 0;
    nn__mod_state_fill(m, 0, &w);
    NN_FREE(w.prefix);
    m->nstate = w.n;
    return 1;
}

NN_API int nn_module_state(nn_module *m, const nn_state_entry **entries) {
    uint64_t st;
    if (entries) *entries = NULL;
    if (!m) return 0;
    st = nn__mod_tree_stamp(m);
    if (!m->state || st != m->state_stamp) {
        if (!nn__mod_state_build(m)) return 0;
        m->state_stamp = st;
    }
    if (entries) *entries = m->state;
    return m->nstate;
}

/* parameters() or buffers(): state-dict order, each tensor once. */
static int nn__mod_unique_tensors(nn_module *m, int buffers, nn_tensor **out, int max) {
    const nn_state_entry *e; int n = nn_module_state(m, &e), k, j, c = 0;
    for (k = 0; k < n; k++) {
        if (e[k].is_buffer != buffers) continue;
        for (j = 0; j < k; j++) if (e[j].is_buffer == buffers && e[j].tensor == e[k].tensor) break;
        if (j < k) continue;
        if (out && c < max) out[c] = e[k].tensor;
        c++;
    }
    return c;
}

NN_API int nn_module_parameters(nn_module *m, nn_tensor **out, int max) {
    return nn__mod_unique_tensors(m, 0, out, max);
}
NN_API int nn_module_buffers(nn_module *m, nn_tensor **out, int max) {
    return nn__mod_unique_tensors(m, 1, out, max);
}

NN_API int64_t nn_module_num_parameters(nn_module *m) {
    const nn_state_entry *e; int n = nn_module_state(m, &e), k, j; int64_t c = 0;
    for (k = 0; k < n; k++) {
        if (e[k].is_buffer) continue;
        for (j = 0; j < k; j++) if (!e[j].is_buffer && e[j].tensor == e[k].tensor) break;
        if (j == k) c += e[k].tensor->numel;
    }
    return c;
}

static nn_tensor *nn__mod_lookup_tensor(nn_module *m, const char *name, int is_buffer) {
    const char *last; nn__mod_slot *s;
    if (!m || !name) return NULL;
    m = nn__mod_resolve(m, name, &last);
    s = m ? nn__mod_find_slot(m, last, strlen(last)) : NULL;
    return s && s->is_buffer == is_buffer ? s->t : NULL;
}

NN_API nn_tensor *nn_module_parameter(nn_module *m, const char *name) { return nn__mod_lookup_tensor(m, name, 0); }
NN_API nn_tensor *nn_module_buffer(nn_module *m, const char *name) { return nn__mod_lookup_tensor(m, name, 1); }

NN_API nn_module *nn_module_child(nn_module *m, const char *name) {
    const char *last; nn__mod_child *c;
    if (!m || !name) return NULL;
    m = nn__mod_resolve(m, name, &last);
    if (!m || !last[0]) return m;
    c = nn__mod_find_kid(m, last, strlen(last));
    return c ? c->m : NULL;
}

NN_API int nn_module_num_children(const nn_module *m) { return m ? m->nkid : 0; }

NN_API nn_module *nn_module_child_at(nn_module *m, int k, const char **name) {
    if (name) *name = NULL;
    if (!m || k < 0 || k >= m->nkid) return NULL;
    if (name) *name = m->kid[k].name;
    return m->kid[k].m;
}

/* ---- summary ---- */

#ifndef NN_NO_STDIO
typedef struct nn__mod_summary_frame { nn_module *m; char *path; int cursor; } nn__mod_summary_frame;
typedef struct nn__mod_summary { nn__mod_summary_frame *f; int n, cap; } nn__mod_summary;

static void nn__mod_summary_mark(nn_module *m, void *s) {
    int k;
    m->summary = s;
    for (k = 0; k < m->nkid; k++) nn__mod_summary_mark(m->kid[k].m, s);
}

/* m's path: its name in the running parent, searched from the child used last (Sequential's order). */
static char *nn__mod_summary_path(nn__mod_summary *s, const nn_module *m) {
    nn__mod_summary_frame *f; const char *name = "?"; char *p; size_t len; int j;
    if (s->n == 0) return nn__mod_strdup("");
    f = &s->f[s->n - 1];
    for (j = 0; j < f->m->nkid; j++) {
        int k = (f->cursor + j) % f->m->nkid;
        if (f->m->kid[k].m == m) { name = f->m->kid[k].name; f->cursor = k + 1; break; }
    }
    len = strlen(f->path) + strlen(name) + 2;
    p = NN__CAST(char *, NN_MALLOC(len));
    if (p) snprintf(p, len, "%s%s%s", f->path, f->path[0] ? "." : "", name);
    return p;
}

static void nn__mod_summary_line(const nn_module *m, const char *path, nn_tensor *const *out, int nout) {
    char s[128], label[256]; int64_t np = 0; int k;
    for (k = 0; k < m->nslot; k++) if (!m->slot[k].is_buffer) np += m->slot[k].t->numel;
    snprintf(label, sizeof label, "%s (%s)", path[0] ? path : "-", m->type);
    printf("%-32s %-24s %12lld\n", label, nout > 0 ? NN__SHAPE(out[0], s) : "-", (long long)np);
}

/* nn_forward_n while nn_module_summary runs: a line for each leaf layer. */
static int nn__mod_summary_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    nn__mod_summary *s = NN__CAST(nn__mod_summary *, m->summary);
    void *p = nn__mod_grow(m->ctx, "nn_module_summary", s->f, &s->cap, s->n + 1, sizeof(nn__mod_summary_frame));
    char *path; int n;
    if (!p) return nn__mod_call_forward(m, in, nin, out, nout);
    s->f = NN__CAST(nn__mod_summary_frame *, p);
    path = nn__mod_summary_path(s, m);
    if (!path) return nn__mod_call_forward(m, in, nin, out, nout);
    s->f[s->n].m = m; s->f[s->n].path = path; s->f[s->n].cursor = 0;
    s->n++;
    n = nn__mod_call_forward(m, in, nin, out, nout);
    s->n--;
    if (m->nkid == 0 && n >= 0) nn__mod_summary_line(m, path, out, nout);
    NN_FREE(path);
    return n;
}

NN_API void nn_module_summary(nn_module *m, nn_tensor *example_input) {
    nn__mod_summary s; int old; nn_tensor *y = NULL; char sh[128]; int64_t total;
    if (!m) return;
    total = nn_module_num_parameters(m);
    printf("%-32s %-24s %12s\n", "Layer (type)", "Output Shape", "Param #");
    memset(&s, 0, sizeof s);
    nn__mod_summary_mark(m, &s);
    old = nn_set_grad_enabled(m->ctx, 0);
    nn_forward_n(m, &example_input, 1, &y, 1);
    nn_set_grad_enabled(m->ctx, old);
    nn__mod_summary_mark(m, NULL);
    NN_FREE(s.f);
    printf("%s: output %s\nTotal params: %lld\n", m->type, NN__SHAPE(y, sh), (long long)total);
}
#endif

/* ---- initialisers ---- */

static int nn__mod_init_check(nn_tensor *t, const char *fn, int need_fans) {
    char s[128];
    if (!t) return 0;
    if (t->dtype != NN_FLOAT32) {
        nn__err(t->ctx, "%s: the tensor is %s; it must be float32", fn, nn_dtype_name(t->dtype));
        return 0;
    }
    if (!nn_is_contiguous(t)) {
        nn__err(t->ctx, "%s: the tensor %s is strided; it must be contiguous", fn, NN__SHAPE(t, s));
        return 0;
    }
    if (need_fans && t->ndim < 2) {
        nn__err(t->ctx, "%s: the tensor is %s; fan in and fan out need 2 or more dims", fn, NN__SHAPE(t, s));
        return 0;
    }
    return 1;
}

static void nn__mod_fans(const nn_tensor *t, double *fan_in, double *fan_out) {
    double rf = 1; int d;
    for (d = 2; d < t->ndim; d++) rf *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * rf;
    *fan_out = (double)t->shape[0] * rf;
}

static void nn__mod_fill_uniform(nn_tensor *t, float a, float b) {
    int64_t i;
    for (i = 0; i < t->numel; i++) NN__F32(t)[i] = a + (b - a) * nn__rng_uniform(&t->ctx->rng);
}

static void nn__mod_fill_normal(nn_tensor *t, float mean, float std) {
    int64_t i;
    for (i = 0; i < t->numel; i++) NN__F32(t)[i] = mean + std * nn__rng_normal(&t->ctx->rng);
}

NN_API void nn_init_uniform_(nn_tensor *t, float a, float b) {
    if (nn__mod_init_check(t, "nn_init_uniform_", 0)) nn__mod_fill_uniform(t, a, b);
}
NN_API void nn_init_normal_(nn_tensor *t, float mean, float std) {
    if (nn__mod_init_check(t, "nn_init_normal_", 0)) nn__mod_fill_normal(t, mean, std);
}
NN_API void nn_init_constant_(nn_tensor *t, float value) { nn_fill_(t, value); }
NN_API void nn_init_zeros_(nn_tensor *t) { nn_fill_(t, 0.0f); }

NN_API void nn_init_xavier_uniform_(nn_tensor *t, float gain) {
    double fi, fo, a;
    if (!nn__mod_init_check(t, "nn_init_xavier_uniform_", 1)) return;
    nn__mod_fans(t, &fi, &fo);
    a = (double)gain * sqrt(6.0 / (fi + fo));
    nn__mod_fill_uniform(t, (float)-a, (float)a);
}
NN_API void nn_init_xavier_normal_(nn_tensor *t, float gain) {
    double fi, fo;
    if (!nn__mod_init_check(t, "nn_init_xavier_normal_", 1)) return;
    nn__mod_fans(t, &fi, &fo);
    nn__mod_fill_normal(t, 0.0f, (float)((double)gain * sqrt(2.0 / (fi + fo))));
}

/* kaiming's std: leaky_relu's gain over sqrt(fan); 0 (with an error) for a bad mode */
static double nn__mod_kaiming_std(nn_tensor *t, const char *fn, float a, nn_fan_mode mode) {
    double fi, fo;
    if (!nn__mod_init_check(t, fn, 1)) return 0;
    if (mode != NN_FAN_IN && mode != NN_FAN_OUT) {
        nn__err(t->ctx, "%s: mode is %d; it must be NN_FAN_IN or NN_FAN_OUT", fn, (int)mode);
        return 0;
    }
    nn__mod_fans(t, &fi, &fo);
    return sqrt(2.0 / (1.0 + (double)a * a)) / sqrt(mode == NN_FAN_OUT ? fo : fi);
}
NN_API void nn_init_kaiming_uniform_(nn_tensor *t, float a, nn_fan_mode mode) {
    double std = nn__mod_kaiming_std(t, "nn_init_kaiming_uniform_", a, mode), bound = sqrt(3.0) * std;
    if (std > 0) nn__mod_fill_uniform(t, (float)-bound, (float)bound);
}
NN_API void nn_init_kaiming_normal_(nn_tensor *t, float a, nn_fan_mode mode) {
    double std = nn__mod_kaiming_std(t, "nn_init_kaiming_normal_", a, mode);
    if (std > 0) nn__mod_fill_normal(t, 0.0f, (float)std);
}

/* ---- Linear, Conv2d, ConvTranspose2d ---- */

/* PyTorch's reset_parameters: kaiming_uniform(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
static void nn__mod_reset_parameters(nn_module *m) {
    nn_tensor *w = nn__mod_own(m, "weight"), *b = nn__mod_own(m, "bias");
    double fi, fo, bound;
    nn_init_kaiming_uniform_(w, sqrtf(5.0f), NN_FAN_IN);
    nn__mod_fans(w, &fi, &fo);
    bound = fi > 0 ? 1.0 / sqrt(fi) : 0;
    if (b) nn_init_uniform_(b, (float)-bound, (float)bound);
}

/* A layer with weight of the given shape and bias (n_out) when bias != 0, PyTorch's initialisation. */
static nn_module *nn__mod_weighted(nn_module *m, int ndim, const int64_t *ws, int64_t n_out, int bias) {
    if (!m) return NULL;
    if (!nn__mod_adopt(m, "weight", nn_empty(m->ctx, ndim, ws), 0)
        || (bias && !nn__mod_adopt(m, "bias", nn_empty(m->ctx, 1, &n_out), 0))) {
        nn__module_release(m);
        return NULL;
    }
    nn__mod_reset_parameters(m);
    return m;
}

/* y = x @ W^T + b; W^T is read in place through its strides */
static nn_tensor *nn__mod_linear_forward(nn_module *m, nn_tensor *x) {
    nn_tensor *b = nn__mod_own(m, "bias"), *y = nn_matmul(x, nn_transpose(nn__mod_own(m, "weight"), 0, 1));
    return b ? nn_add(y, b) : y;
}

NN_API nn_module *nn_linear_new(nn_ctx *ctx, int64_t in_f, int64_t out_f, int bias) {
    nn_module *m; int64_t ws[2];
    if (!ctx) return NULL;
    if (in_f <= 0 || out_f <= 0) {
        nn__err(ctx, "nn_linear_new: in_features %lld and out_features %lld must be positive",
                (long long)in_f, (long long)out_f);
        return NULL;
    }
    ws[0] = out_f; ws[1] = in_f;
    m = nn__mod_layer(ctx, "nn_linear_new", "Linear", sizeof(nn_module), nn__mod_linear_forward);
    return nn__mod_weighted(m, 2, ws, out_f, bias);
}

typedef struct nn__mod_conv { nn_module base; nn_conv_opts o; } nn__mod_conv;

static nn_tensor *nn__mod_conv2d_forward(nn_module *m, nn_tensor *x) {
    return nn_conv2d(x, nn__mod_own(m, "weight"), nn__mod_own(m, "bias"), NN__LAYER(nn__mod_conv, m)->o);
}
static nn_tensor *nn__mod_conv_transpose2d_forward(nn_module *m, nn_tensor *x) {
    return nn_conv_transpose2d(x, nn__mod_own(m, "weight"), nn__mod_own(m, "bias"), NN__LAYER(nn__mod_conv, m)->o);
}

static nn_module *nn__mod_conv_new(nn_ctx *ctx, const char *fn, int transposed, int64_t in_c, int64_t out_c, int64_t k,
                               nn_conv_opts o, int bias) {
    nn_module *m; int64_t ws[4], g = o.groups;
    if (!ctx) return NULL;
    if (in_c <= 0 || out_c <= 0 || k <= 0 || g <= 0 || in_c % g || out_c % g) {
        nn__err(ctx, "%s: in_channels %lld, out_channels %lld, kernel_size %lld, groups %lld; all must be positive "
                "and both channel counts divisible by groups",
                fn, (long long)in_c, (long long)out_c, (long long)k, (long long)g);
        return NULL;
    }
    m = transposed ? nn__mod_layer(ctx, fn, "ConvTranspose2d", sizeof(nn__mod_conv), nn__mod_conv_transpose2d_forward)
                   : nn__mod_layer(ctx, fn, "Conv2d", sizeof(nn__mod_conv), nn__mod_conv2d_forward);
    if (!m) return NULL;
    NN__LAYER(nn__mod_conv, m)->o = o;
    ws[0] = transposed ? in_c : out_c; ws[1] = transposed ? out_c / g : in_c / g; ws[2] = ws[3] = k;
    return nn__mod_weighted(m, 4, ws, out_c, bias);
}
NN_API nn_module *nn_conv2d_new(nn_ctx *ctx, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o, int bias) {
    return nn__mod_conv_new(ctx, "nn_conv2d_new", 0, in_c, out_c, k, o, bias);
}
NN_API nn_module *nn_conv_transpose2d_new(nn_ctx *ctx, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o,
                                          int bias) {
    return nn__mod_conv_new(ctx, "nn_conv_transpose2d_new", 1, in_c, out_c, k, o, bias);
}

/* ---- pooling, dropout, flatten ---- */

typedef struct nn__mod_pool { nn_module base; nn_pool_opts o; } nn__mod_pool;
static nn_tensor *nn__mod_max_pool2d_forward(nn_module *m, nn_tensor *x) {
    return nn_max_pool2d(x, NN__LAYER(nn__mod_pool, m)->o);
}
static nn_tensor *nn__mod_avg_pool2d_forward(nn_module *m, nn_tensor *x) {
    return nn_avg_pool2d(x, NN__LAYER(nn__mod_pool, m)->o);
}

NN_API nn_module *nn_max_pool2d_new(nn_ctx *ctx, nn_pool_opts o) {
    nn_module *m = nn__mod_layer(ctx, "nn_max_pool2d_new", "MaxPool2d", sizeof(nn__mod_pool),
                                 nn__mod_max_pool2d_forward);
    if (m) NN__LAYER(nn__mod_pool, m)->o = o;
    return m;
}
NN_API nn_module *nn_avg_pool2d_new(nn_ctx *ctx, nn_pool_opts o) {
    nn_module *m = nn__mod_layer(ctx, "nn_avg_pool2d_new", "AvgPool2d", sizeof(nn__mod_pool),
                                 nn__mod_avg_pool2d_forward);
    if (m) NN__LAYER(nn__mod_pool, m)->o = o;
    return m;
}

typedef struct nn__mod_adaptive_pool { nn_module base; int64_t out_h, out_w; } nn__mod_adaptive_pool;
static nn_tensor *nn__mod_adaptive_avg_pool2d_forward(nn_module *m, nn_tensor *x) {
    nn__mod_adaptive_pool *p = NN__LAYER(nn__mod_adaptive_pool, m);
    return nn_adaptive_avg_pool2d(x, p->out_h, p->out_w);
}
NN_API nn_module *nn_adaptive_avg_pool2d_new(nn_ctx *ctx, int64_t oh, int64_t ow) {
    nn_module *m = nn__mod_layer(ctx, "nn_adaptive_avg_pool2d_new", "AdaptiveAvgPool2d", sizeof(nn__mod_adaptive_pool),
                             nn__mod_adaptive_avg_pool2d_forward);
    if (m) { NN__LAYER(nn__mod_adaptive_pool, m)->out_h = oh; NN__LAYER(nn__mod_adaptive_pool, m)->out_w = ow; }
    return m;
}

typedef struct nn__mod_dropout { nn_module base; float p; } nn__mod_dropout;
static nn_tensor *nn__mod_dropout_forward(nn_module *m, nn_tensor *x) {
    return nn_dropout(x, NN__LAYER(nn__mod_dropout, m)->p, m->training);
}
NN_API nn_module *nn_dropout_new(nn_ctx *ctx, float p) {
    nn_module *m;
    if (!ctx) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) {
        nn__err(ctx, "nn_dropout_new: p is %g; it must be between 0 and 1", p);
        return NULL;
    }
    m = nn__mod_layer(ctx, "nn_dropout_new", "Dropout", sizeof(nn__mod_dropout), nn__mod_dropout_forward);
    if (m) NN__LAYER(nn__mod_dropout, m)->p = p;
    return m;
}

typedef struct nn__mod_flatten { nn_module base; int start_dim, end_dim; } nn__mod_flatten;
static nn_tensor *nn__mod_flatten_forward(nn_module *m, nn_tensor *x) {
    nn__mod_flatten *f = NN__LAYER(nn__mod_flatten, m);
    return nn_flatten(x, f->start_dim, f->end_dim);
}
NN_API nn_module *nn_flatten_new(nn_ctx *ctx, int start_dim, int end_dim) {
    nn_module *m = nn__mod_layer(ctx, "nn_flatten_new", "Flatten", sizeof(nn__mod_flatten), nn__mod_flatten_forward);
    if (m) { NN__LAYER(nn__mod_flatten, m)->start_dim = start_dim; NN__LAYER(nn__mod_flatten, m)->end_dim = end_dim; }
    return m;
}

/* ---- normalisation ---- */

static int nn__mod_finite(float v) { return v - v == 0.0f; }   /* NaN and inf give NaN */

static int nn__mod_check_eps(nn_ctx *ctx, const char *fn, float eps) {
    if (eps >= 0.0f && nn__mod_finite(eps)) return 1;
    nn__err(ctx, "%s: eps is %g; it must be finite and 0 or more", fn, eps);
    return 0;
}

typedef struct nn__mod_batch_norm { nn_module base; float eps, momentum; int dims; } nn__mod_batch_norm;

static nn_tensor *nn__mod_batch_norm_forward(nn_module *m, nn_tensor *x) {
    nn__mod_batch_norm *bn = NN__LAYER(nn__mod_batch_norm, m);
    nn_tensor *y, *nbt; char s[128];
    if (x->ndim != (bn->dims == 1 ? 2 : 4) && !(bn->dims == 1 && x->ndim == 3)) {
        nn__err(m->ctx, "%s: input is %s; expected %s", m->type, NN__SHAPE(x, s),
                bn->dims == 1 ? "(N, C) or (N, C, L)" : "(N, C, H, W)");
        return NULL;
    }
    y = nn_batch_norm(x, nn__mod_own(m, "running_mean"), nn__mod_own(m, "running_var"), nn__mod_own(m, "weight"),
                      nn__mod_own(m, "bias"), m->training, bn->momentum, bn->eps);
    nbt = nn__mod_own(m, "num_batches_tracked");
    if (y && m->training && nbt) NN__I64(nbt)[0] += 1;   /* the module's counter, as in PyTorch */
    return y;
}

static nn_module *nn__mod_bn_new(nn_ctx *ctx, const char *fn, const char *type, int dims, int64_t c, float eps,
                                 float momentum, int affine) {
    nn_module *m; int ok;
    if (!ctx) return NULL;
    if (c <= 0) { nn__err(ctx, "%s: num_features is %lld; it must be positive", fn, (long long)c); return NULL; }
    if (!nn__mod_check_eps(ctx, fn, eps)) return NULL;
    if (!nn__mod_finite(momentum)) { nn__err(ctx, "%s: momentum is %g; it must be finite", fn, momentum); return NULL; }
    m = nn__mod_layer(ctx, fn, type, sizeof(nn__mod_batch_norm), nn__mod_batch_norm_forward);
    if (!m) return NULL;
    NN__LAYER(nn__mod_batch_norm, m)->eps = eps;
    NN__LAYER(nn__mod_batch_norm, m)->momentum = momentum;
    NN__LAYER(nn__mod_batch_norm, m)->dims = dims;
    ok = !affine || (nn__mod_adopt(m, "weight", nn_ones(ctx, 1, &c), 0)
                     && nn__mod_adopt(m, "bias", nn_zeros(ctx, 1, &c), 0));
    ok = ok && nn__mod_adopt(m, "running_mean", nn_zeros(ctx, 1, &c), 1)
         && nn__mod_adopt(m, "running_var", nn_ones(ctx, 1, &c), 1)
         && nn__mod_adopt(m, "num_batches_tracked", nn_zeros_dtype(ctx, 0, NULL, NN_INT64), 1);
    if (!ok) { nn__module_release(m); return NULL; }
    return m;
}
NN_API nn_module *nn_batch_norm1d_new(nn_ctx *ctx, int64_t c, float eps, float momentum, int affine) {
    return nn__mod_bn_new(ctx, "nn_batch_norm1d_new", "BatchNorm1d", 1, c, eps, momentum, affine);
}
NN_API nn_module *nn_batch_norm2d_new(nn_ctx *ctx, int64_t c, float eps, float momentum, int affine) {
    return nn__mod_bn_new(ctx, "nn_batch_norm2d_new", "BatchNorm2d", 2, c, eps, momentum, affine);
}

typedef struct nn__mod_layer_norm { nn_module base; int nd; int64_t shape[NN_MAX_DIMS]; float eps; } nn__mod_layer_norm;

static nn_tensor *nn__mod_layer_norm_forward(nn_module *m, nn_tensor *x) {
    nn__mod_layer_norm *ln = NN__LAYER(nn__mod_layer_norm, m);
    char s[128]; int d;
    for (d = 0; d < ln->nd; d++)
        if (x->ndim < ln->nd || x->shape[x->ndim - ln->nd + d] != ln->shape[d]) {
            nn__err(m->ctx, "LayerNorm: input is %s; its last %d dims must be the normalized_shape",
                    NN__SHAPE(x, s), ln->nd);
            return NULL;
        }
    return nn_layer_norm(x, ln->nd, nn__mod_own(m, "weight"), nn__mod_own(m, "bias"), ln->eps);
}

NN_API nn_module *nn_layer_norm_new(nn_ctx *ctx, int nd, const int64_t *shape, float eps, int affine) {
    static const char *fn = "nn_layer_norm_new";
    nn_module *m; int d;
    if (!ctx) return NULL;
    if (nd < 1 || nd > NN_MAX_DIMS || !shape) {
        nn__err(ctx, "%s: normalized_shape has %d dims%s; it must have 1 to %d",
                fn, nd, shape ? "" : " (NULL)", NN_MAX_DIMS);
        return NULL;
    }
    for (d = 0; d < nd; d++) if (shape[d] <= 0) {
        nn__err(ctx, "%s: normalized_shape[%d] is %lld; it must be positive", fn, d, (long long)shape[d]);
        return NULL;
    }
    if (!nn__mod_check_eps(ctx, fn, eps)) return NULL;
    m = nn__mod_layer(ctx, fn, "LayerNorm", sizeof(nn__mod_layer_norm), nn__mod_layer_norm_forward);
    if (!m) return NULL;
    NN__LAYER(nn__mod_layer_norm, m)->nd = nd;
    memcpy(NN__LAYER(nn__mod_layer_norm, m)->shape, shape, (size_t)nd * sizeof(int64_t));
    NN__LAYER(nn__mod_layer_norm, m)->eps = eps;
    if (affine && !(nn__mod_adopt(m, "weight", nn_ones(ctx, nd, shape), 0)
                    && nn__mod_adopt(m, "bias", nn_zeros(ctx, nd, shape), 0))) {
        nn__module_release(m);
        return NULL;
    }
    return m;
}

/* ---- Embedding ---- */

static nn_tensor *nn__mod_embedding_forward(nn_module *m, nn_tensor *x) {
    return nn_embedding(nn__mod_own(m, "weight"), x);
}

NN_API nn_module *nn_embedding_new(nn_ctx *ctx, int64_t num, int64_t dim) {
    nn_module *m; int64_t ws[2];
    if (!ctx) return NULL;
    if (num <= 0 || dim <= 0) {
        nn__err(ctx, "nn_embedding_new: num_embeddings %lld and embedding_dim %lld must be positive",
                (long long)num, (long long)dim);
        return NULL;
    }
    m = nn__mod_layer(ctx, "nn_embedding_new", "Embedding", sizeof(nn_module), nn__mod_embedding_forward);
    if (!m) return NULL;
    ws[0] = num; ws[1] = dim;
    if (!nn__mod_adopt(m, "weight", nn_empty(ctx, 2, ws), 0)) { nn__module_release(m); return NULL; }
    nn_init_normal_(nn__mod_own(m, "weight"), 0.0f, 1.0f);
    return m;
}

/* ---- activations ---- */

static nn_tensor *nn__mod_relu_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_relu(x); }
static nn_tensor *nn__mod_sigmoid_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_sigmoid(x); }
static nn_tensor *nn__mod_tanh_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_tanh(x); }
static nn_tensor *nn__mod_gelu_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_gelu(x); }
static nn_tensor *nn__mod_silu_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_silu(x); }

/* a layer with no options and no parameters */
static nn_module *nn__mod_plain(nn_ctx *ctx, const char *fn, const char *type, nn_forward_fn forward) {
    return nn__mod_layer(ctx, fn, type, sizeof(nn_module), forward);
}
NN_API nn_module *nn_relu_new(nn_ctx *ctx) { return nn__mod_plain(ctx, "nn_relu_new", "ReLU", nn__mod_relu_forward); }
NN_API nn_module *nn_sigmoid_new(nn_ctx *ctx) {
    return nn__mod_plain(ctx, "nn_sigmoid_new", "Sigmoid", nn__mod_sigmoid_forward);
}
NN_API nn_module *nn_tanh_new(nn_ctx *ctx) { return nn__mod_plain(ctx, "nn_tanh_new", "Tanh", nn__mod_tanh_forward); }
NN_API nn_module *nn_gelu_new(nn_ctx *ctx) { return nn__mod_plain(ctx, "nn_gelu_new", "GELU", nn__mod_gelu_forward); }
NN_API nn_module *nn_silu_new(nn_ctx *ctx) { return nn__mod_plain(ctx, "nn_silu_new", "SiLU", nn__mod_silu_forward); }

typedef struct nn__mod_leaky_relu { nn_module base; float negative_slope; } nn__mod_leaky_relu;
static nn_tensor *nn__mod_leaky_relu_forward(nn_module *m, nn_tensor *x) {
    return nn_leaky_relu(x, NN__LAYER(nn__mod_leaky_relu, m)->negative_slope);
}
NN_API nn_module *nn_leaky_relu_new(nn_ctx *ctx, float slope) {
    nn_module *m = nn__mod_layer(ctx, "nn_leaky_relu_new", "LeakyReLU", sizeof(nn__mod_leaky_relu),
                                 nn__mod_leaky_relu_forward);
    if (m) NN__LAYER(nn__mod_leaky_relu, m)->negative_slope = slope;
    return m;
}

typedef struct nn__mod_softmax { nn_module base; int dim; } nn__mod_softmax;
static nn_tensor *nn__mod_softmax_forward(nn_module *m, nn_tensor *x) {
    return nn_softmax(x, NN__LAYER(nn__mod_softmax, m)->dim);
}
static nn_tensor *nn__mod_log_softmax_forward(nn_module *m, nn_tensor *x) {
    return nn_log_softmax(x, NN__LAYER(nn__mod_softmax, m)->dim);
}
NN_API nn_module *nn_softmax_new(nn_ctx *ctx, int dim) {
    nn_module *m = nn__mod_layer(ctx, "nn_softmax_new", "Softmax", sizeof(nn__mod_softmax), nn__mod_softmax_forward);
    if (m) NN__LAYER(nn__mod_softmax, m)->dim = dim;
    return m;
}
NN_API nn_module *nn_log_softmax_new(nn_ctx *ctx, int dim) {
    nn_module *m = nn__mod_layer(ctx, "nn_log_softmax_new", "LogSoftmax", sizeof(nn__mod_softmax),
                                 nn__mod_log_softmax_forward);
    if (m) NN__LAYER(nn__mod_softmax, m)->dim = dim;
    return m;
}
