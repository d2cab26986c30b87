/* ==== optimizers ==== */

enum { NN__SGD, NN__ADAM, NN__ADAMW, NN__RMSPROP, NN__ADAGRAD };   /* order indexes nn__optim_state_names */

typedef struct nn__group {
    nn_tensor **params;
    int n;
    double lr, weight_decay, momentum;      /* momentum: SGD/RMSprop momentum, or Adam's beta1 */
    double initial_lr, max_lr, min_lr;      /* set by schedulers */
    int has_initial_lr;                     /* a scheduler set initial_lr (PyTorch's setdefault) */
    nn_tensor **state;                      /* 3 per parameter, created at the first step */
    int64_t *step;
} nn__group;

struct nn_optim {
    int kind;
    nn_ctx *ctx;
    double lr, weight_decay, momentum;      /* the constructor's values, which a new group inherits */
    double dampening, beta2, eps, alpha, lr_decay, initial_acc;
    int nesterov, amsgrad, centered, maximize;
    int ngroups, cap_groups;
    nn__group *groups;                      /* ngroups of them */
};

/* ---- options: PyTorch's defaults, and the checks PyTorch 1.13 makes (NaN and inf refused too) ---- */

NN_API nn_sgd_opts nn_sgd_opts_default(double lr) {
    nn_sgd_opts o;
    memset(&o, 0, sizeof o);
    o.lr = lr;
    return o;
}
NN_API nn_adam_opts nn_adam_opts_default(void) {
    nn_adam_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-3;
    o.betas[0] = 0.9;
    o.betas[1] = 0.999;
    o.eps = 1e-8;
    return o;
}
NN_API nn_adam_opts nn_adamw_opts_default(void) {
    nn_adam_opts o = nn_adam_opts_default();
    o.weight_decay = 1e-2;
    return o;
}
NN_API nn_rmsprop_opts nn_rmsprop_opts_default(void) {
    nn_rmsprop_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-2;
    o.alpha = 0.99;
    o.eps = 1e-8;
    return o;
}
NN_API nn_adagrad_opts nn_adagrad_opts_default(void) {
    nn_adagrad_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-2;
    o.eps = 1e-10;
    return o;
}

static int nn__finite(double v) { return v == v && v - v == 0.0; }

/* name must be finite and >= 0 */
static int nn__opt_nonneg(nn_ctx *ctx, const char *fn, const char *name, double v) {
    if (nn__finite(v) && v >= 0.0) return 1;
    nn__err(ctx, "%s: %s is %g; it must be finite and >= 0", fn, name, v);
    return 0;
}
/* name must be finite */
static int nn__opt_finite(nn_ctx *ctx, const char *fn, const char *name, double v) {
    if (nn__finite(v)) return 1;
    nn__err(ctx, "%s: %s is %g; it must be finite", fn, name, v);
    return 0;
}
/* name must be in [0, 1) */
static int nn__opt_unit(nn_ctx *ctx, const char *fn, const char *name, double v) {
    if (v >= 0.0 && v < 1.0) return 1;
    nn__err(ctx, "%s: %s is %g; it must be in [0, 1)", fn, name, v);
    return 0;
}

static void nn__err_noctx(const char *fn, const char *what) {
#ifndef NN_NO_STDIO
    fprintf(stderr, "nn: %s: %s\n", fn, what);
#else
    (void)fn; (void)what;
#endif
}

/* The context of the parameters, or NULL (with a message) when there is none to be found. */
static nn_ctx *nn__params_ctx(const char *fn, nn_tensor **params, int n) {
    int k;
    if (!params) { nn__err_noctx(fn, "params is NULL; give an array of parameters"); return NULL; }
    if (n == 0) { nn__err_noctx(fn, "n is 0; the optimizer got an empty parameter list"); return NULL; }
    if (n < 0) {
        if (params[0]) nn__err(params[0]->ctx, "%s: n is %d; it must be the number of parameters (>= 1)", fn, n);
        else nn__err_noctx(fn, "n is negative; it must be the number of parameters (>= 1)");
        return NULL;
    }
    for (k = 0; k < n; k++) if (params[k]) return params[k]->ctx;
    nn__err_noctx(fn, "every parameter is NULL");
    return NULL;
}

/* ---- optimizer objects and param groups ---- */

/* parameter k of a new group: a float32 tensor you made with requires_grad, in no group yet */
static int nn__check_param(nn_optim *o, const char *fn, nn_tensor **params, int k) {
    nn_tensor *p = params[k];
    int g, j;
    if (!p) { nn__err(o->ctx, "%s: parameter %d is NULL", fn, k); return 0; }
    if (!(p->flags & NN__PERSISTENT) || !p->requires_grad || p->dtype != NN_FLOAT32) {
        nn__err(o->ctx, "%s: parameter %d is %s; parameters must be float32 tensors you created with requires_grad",
                fn, k, !(p->flags & NN__PERSISTENT) ? "an op result" : !p->requires_grad ? "without requires_grad"
                : nn_dtype_name(p->dtype));
        return 0;
    }
    for (j = 0; j < k; j++) if (params[j] == p) {
        nn__err(o->ctx, "%s: parameter %d is parameter %d again; list each parameter once", fn, k, j);
        return 0;
    }
    for (g = 0; g < o->ngroups; g++) for (j = 0; j < o->groups[g].n; j++) if (o->groups[g].params[j] == p) {
        nn__err(o->ctx, "%s: parameter %d is already in group %d; "
                "some parameters appear in more than one parameter group", fn, k, g);
        return 0;
    }
    return 1;
}

static int nn__grow_groups(nn_optim *o) {
    int cap = o->cap_groups ? 2 * o->cap_groups : 4;
    nn__group *gs;
    if (o->ngroups < o->cap_groups) return 1;
    gs = NN__CAST(nn__group *, NN_REALLOC(o->groups, (size_t)cap * sizeof(nn__group)));
    if (!gs) return 0;
    o->groups = gs;
    o->cap_groups = cap;
    return 1;
}

/* a new group of params (checked) with lr glr and weight_decay gwd; its index, or -1 with an error from fn */
static int nn__add_group(nn_optim *o, const char *fn, nn_tensor **params, int n, double glr, double gwd) {
    nn__group *g;
    int k;
    if (!params || n <= 0) {
        nn__err(o->ctx, "%s: %s; give at least one parameter", fn, !params ? "params is NULL" : "n < 1");
        return -1;
    }
    if (!nn__opt_nonneg(o->ctx, fn, "lr", glr) || !nn__opt_nonneg(o->ctx, fn, "weight_decay", gwd)) return -1;
    for (k = 0; k < n; k++) if (!nn__check_param(o, fn, params, k)) return -1;
    if (!nn__grow_groups(o)) { nn__err(o->ctx, "%s: out of memory", fn); return -1; }
    g = &o->groups[o->ngroups];
    memset(g, 0, sizeof *g);
    g->params = NN__CAST(nn_tensor **, NN_MALLOC((size_t)n * sizeof(nn_tensor *)));
    g->state = NN__CAST(nn_tensor **, NN_MALLOC((size_t)n * 3 * sizeof(nn_tensor *)));
    g->step = NN__CAST(int64_t *, NN_MALLOC((size_t)n * sizeof(int64_t)));
    if (!g->params || !g->state || !g->step) {
        NN_FREE(g->params); NN_FREE(g->state); NN_FREE(g->step);
        nn__err(o->ctx, "%s: out of memory", fn);
        return -1;
    }
    memcpy(g->params, params, (size_t)n * sizeof(nn_tensor *));
    memset(g->state, 0, (size_t)n * 3 * sizeof(nn_tensor *));
    memset(g->step, 0, (size_t)n * sizeof(int64_t));
    g->n = n;
    g->lr = g->initial_lr = glr;
    g->weight_decay = gwd;
    g->momentum = o->momentum;
    return o->ngroups++;
}

NN_API int nn_optim_add_param_group(nn_optim *o, nn_tensor **params, int n, double lr, double weight_decay) {
    if (!o) return -1;
    if (lr != lr) lr = o->lr;                                 /* NAN: the constructor's value */
    if (weight_decay != weight_decay) weight_decay = o->weight_decay;
    return nn__add_group(o, "nn_optim_add_param_group", params, n, lr, weight_decay);
}

static nn_optim *nn__optim_new(const char *fn, int kind, nn_tensor **params, int n, double lr, double wd, double mom) {
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx) return NULL;
    o = NN__CAST(nn_optim *, NN_MALLOC(sizeof(nn_optim)));
    if (!o) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->ctx = ctx;
    o->lr = lr;
    o->weight_decay = wd;
    o->momentum = mom;
    if (nn__add_group(o, fn, params, n, lr, wd) < 0) { nn_optim_free(o); return NULL; }
    return o;
}

static int nn__check_lr_wd(nn_ctx *ctx, const char *fn, double lr, double wd) {
    return nn__opt_nonneg(ctx, fn, "lr", lr) && nn__opt_nonneg(ctx, fn, "weight_decay", wd);
}

NN_API nn_optim *nn_sgd(nn_tensor **params, int n, nn_sgd_opts s) {
    const char *fn = "nn_sgd";
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx || !nn__check_lr_wd(ctx, fn, s.lr, s.weight_decay)) return NULL;
    if (!nn__opt_nonneg(ctx, fn, "momentum", s.momentum)) return NULL;
    if (!nn__opt_finite(ctx, fn, "dampening", s.dampening)) return NULL;
    if (s.nesterov && (s.momentum <= 0.0 || s.dampening != 0.0)) {
        nn__err(ctx, "%s: nesterov with momentum %g and dampening %g; "
                "Nesterov momentum requires a momentum and zero dampening", fn, s.momentum, s.dampening);
        return NULL;
    }
    o = nn__optim_new(fn, NN__SGD, params, n, s.lr, s.weight_decay, s.momentum);
    if (!o) return NULL;
    o->dampening = s.dampening;
    o->nesterov = s.nesterov;
    o->maximize = s.maximize;
    return o;
}

static nn_optim *nn__adam_new(const char *fn, int kind, nn_tensor **params, int n, nn_adam_opts a) {
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx || !nn__check_lr_wd(ctx, fn, a.lr, a.weight_decay) || !nn__opt_nonneg(ctx, fn, "eps", a.eps)) return NULL;
    if (!nn__opt_unit(ctx, fn, "betas[0]", a.betas[0]) || !nn__opt_unit(ctx, fn, "betas[1]", a.betas[1])) return NULL;
    o = nn__optim_new(fn, kind, params, n, a.lr, a.weight_decay, a.betas[0]);
    if (!o) return NULL;
    o->beta2 = a.betas[1];
    o->eps = a.eps;
    o->amsgrad = a.amsgrad;
    o->maximize = a.maximize;
    return o;
}
NN_API nn_optim *nn_adam(nn_tensor **params, int n, nn_adam_opts a) {
    return nn__adam_new("nn_adam", NN__ADAM, params, n, a);
}
NN_API nn_optim *nn_adamw(nn_tensor **params, int n, nn_adam_opts a) {
    return nn__adam_new("nn_adamw", NN__ADAMW, params, n, a);
}

NN_API nn_optim *nn_rmsprop(nn_tensor **params, int n, nn_rmsprop_opts r) {
    const char *fn = "nn_rmsprop";
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx || !nn__check_lr_wd(ctx, fn, r.lr, r.weight_decay) || !nn__opt_nonneg(ctx, fn, "eps", r.eps)) return NULL;
    if (!nn__opt_nonneg(ctx, fn, "momentum", r.momentum) || !nn__opt_nonneg(ctx, fn, "alpha", r.alpha)) return NULL;
    o = nn__optim_new(fn, NN__RMSPROP, params, n, r.lr, r.weight_decay, r.momentum);
    if (!o) return NULL;
    o->alpha = r.alpha;
    o->eps = r.eps;
    o->centered = r.centered;
    o->maximize = r.maximize;
    return o;
}

NN_API nn_optim *nn_adagrad(nn_tensor **params, int n, nn_adagrad_opts a) {
    const char *fn = "nn_adagrad";
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx || !nn__check_lr_wd(ctx, fn, a.lr, a.weight_decay) || !nn__opt_nonneg(ctx, fn, "eps", a.eps)) return NULL;
    if (!nn__opt_nonneg(ctx, fn, "lr_decay", a.lr_decay)) return NULL;
    if (!nn__opt_nonneg(ctx, fn, "initial_accumulator_value", a.initial_accumulator_value)) return NULL;
    o = nn__optim_new(fn, NN__ADAGRAD, params, n, a.lr, a.weight_decay, 0);
    if (!o) return NULL;
    o->lr_decay = a.lr_decay;
    o->initial_acc = a.initial_accumulator_value;
    o->eps = a.eps;
    o->maximize = a.maximize;
    return o;
}

NN_API void nn_optim_free(nn_optim *o) {
    int g, k;
    if (!o) return;
    for (g = 0; g < o->ngroups; g++) {
        for (k = 0; k < 3 * o->groups[g].n; k++) nn_free(o->groups[g].state[k]);
        NN_FREE(o->groups[g].params);
        NN_FREE(o->groups[g].state);
        NN_FREE(o->groups[g].step);
    }
    NN_FREE(o->groups);
    NN_FREE(o);
}

static int nn__group_ok(const nn_optim *o, const char *fn, int group) {
    if (group >= 0 && group < o->ngroups) return 1;
    nn__err(o->ctx, "%s: group %d does not exist; the optimizer has groups 0 to %d", fn, group, o->ngroups - 1);
    return 0;
}
NN_API double nn_optim_lr(const nn_optim *o, int group) {
    if (!o || !nn__group_ok(o, "nn_optim_lr", group)) return NAN;
    return o->groups[group].lr;
}
NN_API void nn_optim_set_lr(nn_optim *o, int group, double lr) {
    if (!o || !nn__group_ok(o, "nn_optim_set_lr", group)) return;
    if (!nn__opt_nonneg(o->ctx, "nn_optim_set_lr", "lr", lr)) return;
    o->groups[group].lr = lr;
}
NN_API void nn_optim_zero_grad(nn_optim *o) {
    int g, k;
    if (!o) return;
    for (g = 0; g < o->ngroups; g++) for (k = 0; k < o->groups[g].n; k++) nn_zero_grad(o->groups[g].params[k]);
}

/* ---- update rules: PyTorch 1.13's single-tensor loops; scalars in double, tensors in float ---- */

/* The state tensor s of parameter k, created (filled with v) on first use; NULL with an error when out of memory. */
static float *nn__ostate(nn_optim *o, nn__group *g, int k, int s, float v) {
    nn_tensor **t = &g->state[3 * k + s];
    if (!*t) *t = nn_full(o->ctx, g->params[k]->ndim, g->params[k]->shape, v);
    if (!*t) { nn__err(o->ctx, "nn_optim_step: out of memory for the optimizer's state"); return NULL; }
    return NN__F32(*t);
}

/* SGD: d = g + wd p; buf = first ? d : mom buf + (1 - dampening) d; d = nesterov ? d + mom buf : buf; p -= lr d */
static int nn__sgd_update(nn_optim *o, nn__group *g, int k) {
    nn_tensor *pt = g->params[k];
    float *p = NN__F32(pt), *buf = NULL;
    const float *gr = NN__F32(pt->grad);
    float lr = (float)g->lr, wd = (float)g->weight_decay, mom = (float)g->momentum, odamp = (float)(1.0 - o->dampening);
    float sign = o->maximize ? -1.0f : 1.0f;
    int first = g->state[3 * k] == NULL;
    int64_t i;
    if (mom != 0.0f && !(buf = nn__ostate(o, g, k, 0, 0.0f))) return 0;
    for (i = 0; i < pt->numel; i++) {
        float d = sign * gr[i] + wd * p[i];
        if (buf) {
            buf[i] = first ? d : mom * buf[i] + odamp * d;
            d = o->nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
    return 1;
}

/* Adam/AdamW: m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2; vmax = max(vmax, v) with amsgrad;
   p -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps). Adam adds wd p to d; AdamW scales p by 1 - lr wd. */
static int nn__adam_update(nn_optim *o, nn__group *g, int k) {
    nn_tensor *pt = g->params[k];
    float *p = NN__F32(pt), *m, *v, *vmax = NULL;
    const float *gr = NN__F32(pt->grad);
    double b1 = g->momentum, b2 = o->beta2, t = (double)g->step[k];
    double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
    float step_size = (float)(g->lr / bc1), bc2s = (float)sqrt(bc2), eps = (float)o->eps;
    float fb1 = (float)b1, fb2 = (float)b2, ob1 = (float)(1.0 - b1), ob2 = (float)(1.0 - b2);
    float wd = (float)g->weight_decay, decay = (float)(1.0 - g->lr * g->weight_decay);
    float sign = o->maximize ? -1.0f : 1.0f;
    int decoupled = o->kind == NN__ADAMW;
    int64_t i;
    if (!(m = nn__ostate(o, g, k, 0, 0.0f)) || !(v = nn__ostate(o, g, k, 1, 0.0f))) return 0;
    if (o->amsgrad && !(vmax = nn__ostate(o, g, k, 2, 0.0f))) return 0;
    for (i = 0; i < pt->numel; i++) {
        float d = sign * gr[i], den;
        if (decoupled) p[i] *= decay;
        else if (wd != 0.0f) d += wd * p[i];
        m[i] = m[i] * fb1 + d * ob1;
        v[i] = v[i] * fb2 + ob2 * d * d;
        if (vmax && v[i] > vmax[i]) vmax[i] = v[i];
        den = sqrtf(vmax ? vmax[i] : v[i]) / bc2s + eps;
        p[i] -= step_size * (m[i] / den);
    }
    return 1;
}

/* RMSprop: sq = a sq + (1-a) d^2; avg = sqrt(sq - ga^2) + eps (centered: ga = a ga + (1-a) d) or sqrt(sq) + eps;
   buf = mom buf + d / avg, p -= lr buf (momentum > 0), else p -= lr d / avg */
static int nn__rmsprop_update(nn_optim *o, nn__group *g, int k) {
    nn_tensor *pt = g->params[k];
    float *p = NN__F32(pt), *sq, *buf = NULL, *ga = NULL;
    const float *gr = NN__F32(pt->grad);
    float a = (float)o->alpha, oa = (float)(1.0 - o->alpha), eps = (float)o->eps, mom = (float)g->momentum;
    float lr = (float)g->lr, wd = (float)g->weight_decay, sign = o->maximize ? -1.0f : 1.0f;
    int64_t i;
    if (!(sq = nn__ostate(o, g, k, 0, 0.0f))) return 0;
    if (mom > 0.0f && !(buf = nn__ostate(o, g, k, 1, 0.0f))) return 0;
    if (o->centered && !(ga = nn__ostate(o, g, k, 2, 0.0f))) return 0;
    for (i = 0; i < pt->numel; i++) {
        float d = sign * gr[i] + wd * p[i], avg;
        sq[i] = sq[i] * a + oa * d * d;
        if (ga) {
            ga[i] = ga[i] * a + oa * d;
            avg = sqrtf(sq[i] - ga[i] * ga[i]) + eps;
        } else {
            avg = sqrtf(sq[i]) + eps;
        }
        if (buf) {
            buf[i] = buf[i] * mom + d / avg;
            p[i] -= lr * buf[i];
        } else {
            p[i] -= lr * (d / avg);
        }
    }
    return 1;
}

/* Adagrad: clr = lr / (1 + (t-1) lr_decay); sum += d^2; p -= clr d / (sqrt(sum) + eps) */
static int nn__adagrad_update(nn_optim *o, nn__group *g, int k) {
    nn_tensor *pt = g->params[k];
    float *p = NN__F32(pt), *sum;
    const float *gr = NN__F32(pt->grad);
    float clr = (float)(g->lr / (1.0 + (double)(g->step[k] - 1) * o->lr_decay)), eps = (float)o->eps;
    float wd = (float)g->weight_decay, sign = o->maximize ? -1.0f : 1.0f;
    int64_t i;
    if (!(sum = nn__ostate(o, g, k, 0, (float)o->initial_acc))) return 0;
    for (i = 0; i < pt->numel; i++) {
        float d = sign * gr[i] + wd * p[i];
        sum[i] += d * d;
        p[i] -= clr * (d / (sqrtf(sum[i]) + eps));
    }
    return 1;
}

typedef int (*nn__update_fn)(nn_optim *o, nn__group *g, int k);
static const nn__update_fn nn__updates[] = { nn__sgd_update, nn__adam_update, nn__adam_update, nn__rmsprop_update,
                                             nn__adagrad_update };

NN_API void nn_optim_step(nn_optim *o) {
    int gi, k;
    if (!o) return;
    for (gi = 0; gi < o->ngroups; gi++) {
        nn__group *g = &o->groups[gi];
        for (k = 0; k < g->n; k++) {
            if (!g->params[k]->grad) continue;          /* no gradient: PyTorch skips it too */
            g->step[k]++;
            if (!nn__updates[o->kind](o, g, k)) return;
        }
    }
}

NN_API float nn_clip_grad_norm(nn_tensor **params, int n, float max_norm, float norm_type) {
    double total = 0; int k; int64_t i; float coef;
    if (!params) return 0.0f;
    for (k = 0; k < n; k++) if (params[k] && params[k]->grad) for (i = 0; i < params[k]->numel; i++) {
        double v = fabs((double)NN__F32(params[k]->grad)[i]);
        if (norm_type == INFINITY) { if (v > total) total = v; }
        else total += pow(v, (double)norm_type);
    }
    if (norm_type != INFINITY) total = pow(total, 1.0 / (double)norm_type);
    coef = (float)((double)max_norm / (total + 1e-6));
    if (coef < 1.0f)
        for (k = 0; k < n; k++) if (params[k] && params[k]->grad)
            for (i = 0; i < params[k]->numel; i++) NN__F32(params[k]->grad)[i] *= coef;
    return (float)total;
}
NN_API void nn_clip_grad_value(nn_tensor **params, int n, float clip) {
    int k; int64_t i;
    if (!params) return;
    for (k = 0; k < n; k++) if (params[k] && params[k]->grad) for (i = 0; i < params[k]->numel; i++) {
        float *v = &NN__F32(params[k]->grad)[i];
        if (*v > clip) *v = clip;
        else if (*v < -clip) *v = -clip;
    }
}

/* ==== schedulers ==== */

enum { NN__STEP_LR, NN__MULTI_STEP_LR, NN__EXPONENTIAL_LR, NN__COSINE_LR, NN__LINEAR_LR, NN__ONE_CYCLE_LR,
       NN__PLATEAU };   /* order indexes nn__sched_lr_at; the checkpoint saves it */

struct nn_scheduler {
    int kind;
    nn_optim *o;
    int64_t last_epoch, step_size, t_max, total;
    int64_t *milestones;                    /* nmilestones of them, increasing */
    int nmilestones;
    int ngroups;                            /* the optimizer's groups when the scheduler was made */
    double gamma, eta_min, start_factor, end_factor;
    nn_one_cycle_opts oc;
    nn_plateau_opts pl;
    double best;                            /* ReduceLROnPlateau's state */
    int64_t num_bad, cooldown_counter;
};

NN_API nn_one_cycle_opts nn_one_cycle_opts_default(void) {
    nn_one_cycle_opts o;
    memset(&o, 0, sizeof o);
    o.pct_start = 0.3;
    o.anneal_strategy = NN_ANNEAL_COS;
    o.cycle_momentum = 1;
    o.base_momentum = 0.85;
    o.max_momentum = 0.95;
    o.div_factor = 25.0;
    o.final_div_factor = 1e4;
    o.three_phase = 0;
    return o;
}
NN_API nn_plateau_opts nn_plateau_opts_default(void) {
    nn_plateau_opts o;
    memset(&o, 0, sizeof o);
    o.mode = NN_MODE_MIN;
    o.factor = 0.1;
    o.patience = 10;
    o.threshold = 1e-4;
    o.threshold_mode = NN_THRESHOLD_REL;
    o.cooldown = 0;
    o.min_lr = 0.0;
    o.eps = 1e-8;
    return o;
}

/* ---- the lr of a group at s->last_epoch, from its current lr: PyTorch's chainable get_lr, one per scheduler ---- */

static double nn__step_lr_at(nn_scheduler *s, nn__group *g) {
    int64_t e = s->last_epoch;
    return (e == 0 || e % s->step_size) ? g->lr : g->lr * s->gamma;
}
static double nn__multi_step_lr_at(nn_scheduler *s, nn__group *g) {
    int k, hits = 0;
    for (k = 0; k < s->nmilestones; k++) hits += s->milestones[k] == s->last_epoch;
    return hits ? g->lr * pow(s->gamma, hits) : g->lr;
}
static double nn__exponential_lr_at(nn_scheduler *s, nn__group *g) {
    return s->last_epoch == 0 ? g->lr : g->lr * s->gamma;
}
static double nn__cosine_lr_at(nn_scheduler *s, nn__group *g) {
    double T = (double)s->t_max, pi = 3.141592653589793, e = (double)s->last_epoch;
    if (s->last_epoch == 0) return g->lr;
    if ((s->last_epoch - 1 - s->t_max) % (2 * s->t_max) == 0)
        return g->lr + (g->initial_lr - s->eta_min) * (1.0 - cos(pi / T)) / 2.0;
    return (1.0 + cos(pi * e / T)) / (1.0 + cos(pi * (e - 1.0) / T)) * (g->lr - s->eta_min) + s->eta_min;
}
static double nn__linear_lr_at(nn_scheduler *s, nn__group *g) {
    int64_t e = s->last_epoch;
    double d = s->end_factor - s->start_factor;
    if (e == 0) return g->lr * s->start_factor;
    if (e > s->total) return g->lr;
    return g->lr * (1.0 + d / ((double)s->total * s->start_factor + (double)(e - 1) * d));
}
static double nn__anneal(const nn_scheduler *s, double start, double end, double pct) {
    if (s->oc.anneal_strategy == NN_ANNEAL_LINEAR) return (end - start) * pct + start;
    return end + (start - end) / 2.0 * (cos(3.141592653589793 * pct) + 1.0);
}
/* OneCycleLR: phases (initial -> max -> min) or three (initial -> max -> initial -> min); momentum the other way */
static double nn__one_cycle_lr_at(nn_scheduler *s, nn__group *g) {
    double ends[3], lrs[4], moms[4], pct, start = 0, total = (double)s->total, pct_start = s->oc.pct_start;
    double xm = s->oc.max_momentum, bm = s->oc.base_momentum;
    int nph = s->oc.three_phase ? 3 : 2, i;
    ends[0] = pct_start * total - 1;
    lrs[0] = g->initial_lr; lrs[1] = g->max_lr; moms[0] = xm; moms[1] = bm;
    if (s->oc.three_phase) {
        ends[1] = 2 * pct_start * total - 2; ends[2] = total - 1;
        lrs[2] = g->initial_lr; lrs[3] = g->min_lr; moms[2] = xm; moms[3] = xm;
    } else {
        ends[1] = total - 1;
        lrs[2] = g->min_lr; moms[2] = xm;
    }
    for (i = 0; i < nph; i++) {
        if ((double)s->last_epoch <= ends[i] || i == nph - 1) {
            pct = ((double)s->last_epoch - start) / (ends[i] - start);
            if (s->oc.cycle_momentum) g->momentum = nn__anneal(s, moms[i], moms[i + 1], pct);
            return nn__anneal(s, lrs[i], lrs[i + 1], pct);
        }
        start = ends[i];
    }
    return g->lr;
}

typedef double (*nn__sched_fn)(nn_scheduler *s, nn__group *g);
static const nn__sched_fn nn__sched_lr_at[] = { nn__step_lr_at, nn__multi_step_lr_at, nn__exponential_lr_at,
                                                nn__cosine_lr_at, nn__linear_lr_at, nn__one_cycle_lr_at };

/* ---- constructors ---- */

static nn_scheduler *nn__sched_new(const char *fn, int kind, nn_optim *o) {
    nn_scheduler *s;
    int g;
    s = NN__CAST(nn_scheduler *, NN_MALLOC(sizeof(nn_scheduler)));
    if (!s) { nn__err(o->ctx, "%s: out of memory", fn); return NULL; }
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->o = o;
    s->last_epoch = -1;
    s->ngroups = o->ngroups;
    for (g = 0; g < o->ngroups; g++) {         /* group.setdefault('initial_lr', group['lr']) */
        if (o->groups[g].has_initial_lr) continue;
        o->groups[g].initial_lr = o->groups[g].lr;
        o->groups[g].has_initial_lr = 1;
    }
    return s;
}
/* the constructor's first step (last_epoch -1 -> 0), as PyTorch */
static nn_scheduler *nn__sched_start(nn_scheduler *s) { if (s) nn_scheduler_step(s); return s; }

NN_API nn_scheduler *nn_step_lr(nn_optim *o, int64_t step_size, double gamma) {
    const char *fn = "nn_step_lr";
    nn_scheduler *s;
    if (!o || !nn__opt_finite(o->ctx, fn, "gamma", gamma)) return NULL;
    if (step_size <= 0) {
        nn__err(o->ctx, "%s: step_size is %lld; it must be > 0", fn, (long long)step_size);
        return NULL;
    }
    if (!(s = nn__sched_new(fn, NN__STEP_LR, o))) return NULL;
    s->step_size = step_size;
    s->gamma = gamma;
    return nn__sched_start(s);
}

static int nn__check_milestones(nn_ctx *ctx, const char *fn, const int64_t *milestones, int n) {
    int k;
    if (n < 0 || (n > 0 && !milestones)) {
        nn__err(ctx, "%s: %d milestones at %s; give n >= 0 and an array of n", fn, n, milestones ? "an array" : "NULL");
        return 0;
    }
    for (k = 1; k < n; k++) if (milestones[k] < milestones[k - 1]) {
        nn__err(ctx, "%s: milestones[%d] is %lld after %lld; milestones must be increasing", fn, k,
                (long long)milestones[k], (long long)milestones[k - 1]);
        return 0;
    }
    return 1;
}
NN_API nn_scheduler *nn_multi_step_lr(nn_optim *o, const int64_t *milestones, int n, double gamma) {
    const char *fn = "nn_multi_step_lr";
    nn_scheduler *s;
    if (!o || !nn__check_milestones(o->ctx, fn, milestones, n)) return NULL;
    if (!nn__opt_finite(o->ctx, fn, "gamma", gamma)) return NULL;
    if (!(s = nn__sched_new(fn, NN__MULTI_STEP_LR, o))) return NULL;
    s->milestones = NN__CAST(int64_t *, NN_MALLOC((size_t)(n ? n : 1) * sizeof(int64_t)));
    if (!s->milestones) { nn__err(o->ctx, "%s: out of memory", fn); nn_scheduler_free(s); return NULL; }
    if (n) memcpy(s->milestones, milestones, (size_t)n * sizeof(int64_t));
    s->nmilestones = n;
    s->gamma = gamma;
    return nn__sched_start(s);
}

NN_API nn_scheduler *nn_exponential_lr(nn_optim *o, double gamma) {
    nn_scheduler *s;
    if (!o || !nn__opt_finite(o->ctx, "nn_exponential_lr", "gamma", gamma)) return NULL;
    if (!(s = nn__sched_new("nn_exponential_lr", NN__EXPONENTIAL_LR, o))) return NULL;
    s->gamma = gamma;
    return nn__sched_start(s);
}

NN_API nn_scheduler *nn_cosine_annealing_lr(nn_optim *o, int64_t T_max, double eta_min) {
    const char *fn = "nn_cosine_annealing_lr";
    nn_scheduler *s;
    if (!o || !nn__opt_finite(o->ctx, fn, "eta_min", eta_min)) return NULL;
    if (T_max <= 0) { nn__err(o->ctx, "%s: T_max is %lld; it must be > 0", fn, (long long)T_max); return NULL; }
    if (!(s = nn__sched_new(fn, NN__COSINE_LR, o))) return NULL;
    s->t_max = T_max;
    s->eta_min = eta_min;
    return nn__sched_start(s);
}

NN_API nn_scheduler *nn_linear_lr(nn_optim *o, double start_factor, double end_factor, int64_t total_iters) {
    const char *fn = "nn_linear_lr";
    nn_scheduler *s;
    if (!o) return NULL;
    if (!(start_factor > 0.0 && start_factor <= 1.0)) {
        nn__err(o->ctx, "%s: start_factor is %g; it must be in (0, 1]", fn, start_factor);
        return NULL;
    }
    if (!(end_factor >= 0.0 && end_factor <= 1.0)) {
        nn__err(o->ctx, "%s: end_factor is %g; it must be in [0, 1]", fn, end_factor);
        return NULL;
    }
    if (total_iters < 0) {
        nn__err(o->ctx, "%s: total_iters is %lld; it must be >= 0", fn, (long long)total_iters);
        return NULL;
    }
    if (!(s = nn__sched_new(fn, NN__LINEAR_LR, o))) return NULL;
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total = total_iters;
    return nn__sched_start(s);
}

static int nn__check_one_cycle(nn_optim *o, double max_lr, int64_t total_steps, const nn_one_cycle_opts *oc) {
    const char *fn = "nn_one_cycle_lr";
    nn_ctx *ctx = o->ctx;
    if (total_steps <= 0) {
        nn__err(ctx, "%s: total_steps is %lld; it must be > 0", fn, (long long)total_steps);
        return 0;
    }
    if (!nn__opt_nonneg(ctx, fn, "max_lr", max_lr)) return 0;
    if (!(oc->pct_start >= 0.0 && oc->pct_start <= 1.0)) {
        nn__err(ctx, "%s: pct_start is %g; it must be in [0, 1]", fn, oc->pct_start);
        return 0;
    }
    if (oc->anneal_strategy != NN_ANNEAL_COS && oc->anneal_strategy != NN_ANNEAL_LINEAR) {
        nn__err(ctx, "%s: anneal_strategy is %d; it must be NN_ANNEAL_COS or NN_ANNEAL_LINEAR", fn,
                (int)oc->anneal_strategy);
        return 0;
    }
    if (!(nn__finite(oc->div_factor) && oc->div_factor > 0.0)) {
        nn__err(ctx, "%s: div_factor is %g; it must be finite and > 0", fn, oc->div_factor);
        return 0;
    }
    if (!(nn__finite(oc->final_div_factor) && oc->final_div_factor > 0.0)) {
        nn__err(ctx, "%s: final_div_factor is %g; it must be finite and > 0", fn, oc->final_div_factor);
        return 0;
    }
    if (!oc->cycle_momentum) return 1;
    if (o->kind == NN__ADAGRAD) {
        nn__err(ctx, "%s: cycle_momentum is on but Adagrad has no momentum; the optimizer must support momentum", fn);
        return 0;
    }
    return nn__opt_finite(ctx, fn, "base_momentum", oc->base_momentum) &&
           nn__opt_finite(ctx, fn, "max_momentum", oc->max_momentum);
}
NN_API nn_scheduler *nn_one_cycle_lr(nn_optim *o, double max_lr, int64_t total_steps, nn_one_cycle_opts oc) {
    nn_scheduler *s;
    int g;
    if (!o || !nn__check_one_cycle(o, max_lr, total_steps, &oc)) return NULL;
    for (g = 0; g < o->ngroups; g++) {
        nn__group *gr = &o->groups[g];
        gr->initial_lr = max_lr / oc.div_factor;
        gr->has_initial_lr = 1;
        gr->max_lr = max_lr;
        gr->min_lr = gr->initial_lr / oc.final_div_factor;
        if (oc.cycle_momentum) gr->momentum = oc.max_momentum;
    }
    if (!(s = nn__sched_new("nn_one_cycle_lr", NN__ONE_CYCLE_LR, o))) return NULL;
    s->oc = oc;
    s->total = total_steps;
    return nn__sched_start(s);
}

static int nn__check_plateau(nn_ctx *ctx, const nn_plateau_opts *p) {
    const char *fn = "nn_reduce_lr_on_plateau";
    if (p->mode != NN_MODE_MIN && p->mode != NN_MODE_MAX) {
        nn__err(ctx, "%s: mode is %d; it must be NN_MODE_MIN or NN_MODE_MAX", fn, (int)p->mode);
        return 0;
    }
    if (p->threshold_mode != NN_THRESHOLD_REL && p->threshold_mode != NN_THRESHOLD_ABS) {
        nn__err(ctx, "%s: threshold_mode is %d; it must be NN_THRESHOLD_REL or NN_THRESHOLD_ABS", fn,
                (int)p->threshold_mode);
        return 0;
    }
    if (!(p->factor >= 0.0 && p->factor < 1.0)) {
        nn__err(ctx, "%s: factor is %g; it must be in [0, 1)", fn, p->factor);
        return 0;
    }
    if (p->patience < 0 || p->cooldown < 0) {
        nn__err(ctx, "%s: %s is %lld; it must be >= 0", fn, p->patience < 0 ? "patience" : "cooldown",
                (long long)(p->patience < 0 ? p->patience : p->cooldown));
        return 0;
    }
    return nn__opt_finite(ctx, fn, "threshold", p->threshold) && nn__opt_finite(ctx, fn, "min_lr", p->min_lr) &&
           nn__opt_finite(ctx, fn, "eps", p->eps);
}
NN_API nn_scheduler *nn_reduce_lr_on_plateau(nn_optim *o, nn_plateau_opts p) {
    nn_scheduler *s;
    if (!o || !nn__check_plateau(o->ctx, &p)) return NULL;
    if (!(s = nn__sched_new("nn_reduce_lr_on_plateau", NN__PLATEAU, o))) return NULL;
    s->pl = p;
    s->last_epoch = 0;
    s->best = p.mode == NN_MODE_MAX ? -INFINITY : INFINITY;
    return s;
}

/* ---- stepping ---- */

NN_API void nn_scheduler_step(nn_scheduler *s) {
    int g;
    if (!s) return;
    if (s->kind == NN__PLATEAU) {
        nn__err(s->o->ctx, "nn_scheduler_step: ReduceLROnPlateau needs a metric; use nn_scheduler_step_metric");
        return;
    }
    if (s->kind == NN__ONE_CYCLE_LR && s->last_epoch + 1 > s->total) {
        nn__err(s->o->ctx, "nn_scheduler_step: OneCycleLR tried to step %lld times (the constructor's step counts); "
                "total_steps is %lld",
                (long long)(s->last_epoch + 2), (long long)s->total);
        return;
    }
    if (s->kind == NN__ONE_CYCLE_LR && s->o->ngroups != s->ngroups) {
        nn__err(s->o->ctx, "nn_scheduler_step: OneCycleLR was made for %d param groups and the optimizer now has %d; "
                "a group added later has no max_lr", s->ngroups, s->o->ngroups);
        return;
    }
    s->last_epoch++;
    for (g = 0; g < s->o->ngroups; g++) s->o->groups[g].lr = nn__sched_lr_at[s->kind](s, &s->o->groups[g]);
}

static int nn__plateau_better(const nn_scheduler *s, double a) {
    double b = s->best, th = s->pl.threshold;
    if (s->pl.mode == NN_MODE_MAX) return s->pl.threshold_mode == NN_THRESHOLD_ABS ? a > b + th : a > b * (1.0 + th);
    return s->pl.threshold_mode == NN_THRESHOLD_ABS ? a < b - th : a < b * (1.0 - th);
}
static void nn__plateau_reduce(nn_scheduler *s) {
    int g;
    for (g = 0; g < s->o->ngroups; g++) {
        double old = s->o->groups[g].lr, nw = old * s->pl.factor;
        if (nw < s->pl.min_lr) nw = s->pl.min_lr;
        if (old - nw > s->pl.eps) s->o->groups[g].lr = nw;
    }
}
NN_API void nn_scheduler_step_metric(nn_scheduler *s, float metric) {
    if (!s) return;
    if (s->kind != NN__PLATEAU) { nn_scheduler_step(s); return; }
    s->last_epoch++;
    if (nn__plateau_better(s, metric)) {
        s->best = metric;
        s->num_bad = 0;
    } else {
        s->num_bad++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad = 0;
    }
    if (s->num_bad > s->pl.patience) {
        nn__plateau_reduce(s);
        s->cooldown_counter = s->pl.cooldown;
        s->num_bad = 0;
    }
}
NN_API double nn_scheduler_last_lr(const nn_scheduler *s, int group) { return s ? nn_optim_lr(s->o, group) : NAN; }
NN_API void nn_scheduler_free(nn_scheduler *s) {
    if (!s) return;
    NN_FREE(s->milestones);
    NN_FREE(s);
}
