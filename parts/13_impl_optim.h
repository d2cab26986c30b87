/* ==== optimizers ==== */

enum { NN__SGD, NN__ADAM, NN__ADAMW, NN__RMSPROP, NN__ADAGRAD };
#define NN__MAX_GROUPS 16

typedef struct nn__group {
    nn_tensor **params;
    int n;
    double lr, weight_decay, momentum;      /* momentum: SGD/RMSprop momentum, or Adam's beta1 */
    double initial_lr, max_lr, min_lr;      /* set by schedulers */
    nn_tensor **state;                      /* 3 per parameter, created at the first step */
    int64_t *step;
} nn__group;

struct nn_optim {
    int kind;
    nn_ctx *ctx;
    double dampening, beta2, eps, alpha, lr_decay, initial_acc;
    int nesterov, amsgrad, centered;
    int ngroups;
    nn__group groups[NN__MAX_GROUPS];
};

static nn_optim *nn__optim_new(const char *fn, int kind, nn_tensor **params, int n, double lr, double wd, double mom) {
    nn_ctx *ctx = (params && n > 0 && params[0]) ? params[0]->ctx : NULL;
    nn_optim *o;
    if (!ctx) return NULL;
    if (!(lr >= 0.0) || !(wd >= 0.0)) { nn__err(ctx, "%s: lr %g and weight_decay %g must be >= 0", fn, lr, wd); return NULL; }
    o = NN__CAST(nn_optim *, NN_MALLOC(sizeof(nn_optim)));
    if (!o) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    memset(o, 0, sizeof *o);
    o->kind = kind; o->ctx = ctx;
    if (nn_optim_add_param_group(o, params, n, (float)lr, (float)wd) < 0) { nn_optim_free(o); return NULL; }
    o->groups[0].lr = lr; o->groups[0].initial_lr = lr; o->groups[0].weight_decay = wd; o->groups[0].momentum = mom;
    return o;
}

NN_API int nn_optim_add_param_group(nn_optim *o, nn_tensor **params, int n, float lr, float weight_decay) {
    nn__group *g; int k;
    if (!o) return -1;
    if (o->ngroups == NN__MAX_GROUPS) { nn__err(o->ctx, "nn_optim_add_param_group: at most %d groups", NN__MAX_GROUPS); return -1; }
    if (!params || n <= 0) { nn__err(o->ctx, "nn_optim_add_param_group: no parameters given"); return -1; }
    for (k = 0; k < n; k++) if (!params[k] || !(params[k]->flags & NN__PERSISTENT) || !params[k]->requires_grad) {
        nn__err(o->ctx, "nn_optim: parameter %d is %s; parameters must be tensors you created with requires_grad", k,
                !params[k] ? "NULL" : !(params[k]->flags & NN__PERSISTENT) ? "an op result" : "without requires_grad");
        return -1;
    }
    g = &o->groups[o->ngroups];
    memset(g, 0, sizeof *g);
    g->params = NN__CAST(nn_tensor **, NN_MALLOC((size_t)n * sizeof(nn_tensor *)));
    g->state = NN__CAST(nn_tensor **, NN_MALLOC((size_t)n * 3 * sizeof(nn_tensor *)));
    g->step = NN__CAST(int64_t *, NN_MALLOC((size_t)n * sizeof(int64_t)));
    if (!g->params || !g->state || !g->step) {
        NN_FREE(g->params); NN_FREE(g->state); NN_FREE(g->step);
        nn__err(o->ctx, "nn_optim_add_param_group: out of memory");
        return -1;
    }
    memcpy(g->params, params, (size_t)n * sizeof(nn_tensor *));
    memset(g->state, 0, (size_t)n * 3 * sizeof(nn_tensor *));
    memset(g->step, 0, (size_t)n * sizeof(int64_t));
    g->n = n; g->lr = g->initial_lr = lr; g->weight_decay = weight_decay;
    g->momentum = o->ngroups ? o->groups[0].momentum : 0;
    return o->ngroups++;
}

NN_API nn_optim *nn_sgd(nn_tensor **params, int n, nn_sgd_opts s) {
    nn_optim *o;
    if (params && n > 0 && params[0] && !(s.lr > 0.0f)) { nn__err(params[0]->ctx, "nn_sgd: lr is %g; SGD needs a positive lr", s.lr); return NULL; }
    if (params && n > 0 && params[0] && s.nesterov && (s.momentum <= 0.0f || s.dampening != 0.0f)) {
        nn__err(params[0]->ctx, "nn_sgd: nesterov needs a momentum and zero dampening"); return NULL;
    }
    o = nn__optim_new("nn_sgd", NN__SGD, params, n, s.lr, s.weight_decay, s.momentum);
    if (o) { o->dampening = s.dampening; o->nesterov = s.nesterov; }
    return o;
}
static nn_optim *nn__adam_new(const char *fn, int kind, nn_tensor **params, int n, nn_adam_opts a) {
    nn_optim *o;
    double wd = kind == NN__ADAMW && a.weight_decay == 0.0f ? 0.01 : a.weight_decay;
    o = nn__optim_new(fn, kind, params, n, a.lr ? a.lr : 1e-3, wd, a.beta1 ? a.beta1 : 0.9);
    if (!o) return NULL;
    o->beta2 = a.beta2 ? a.beta2 : 0.999; o->eps = a.eps ? a.eps : 1e-8; o->amsgrad = a.amsgrad;
    if (o->groups[0].momentum >= 1.0 || o->beta2 >= 1.0 || o->groups[0].momentum < 0 || o->beta2 < 0) {
        nn__err(o->ctx, "%s: betas (%g, %g) must be in [0, 1)", fn, o->groups[0].momentum, o->beta2);
        nn_optim_free(o);
        return NULL;
    }
    return o;
}
NN_API nn_optim *nn_adam(nn_tensor **params, int n, nn_adam_opts a) { return nn__adam_new("nn_adam", NN__ADAM, params, n, a); }
NN_API nn_optim *nn_adamw(nn_tensor **params, int n, nn_adam_opts a) { return nn__adam_new("nn_adamw", NN__ADAMW, params, n, a); }
NN_API nn_optim *nn_rmsprop(nn_tensor **params, int n, nn_rmsprop_opts r) {
    nn_optim *o = nn__optim_new("nn_rmsprop", NN__RMSPROP, params, n, r.lr ? r.lr : 1e-2, r.weight_decay, r.momentum);
    if (o) { o->alpha = r.alpha ? r.alpha : 0.99; o->eps = r.eps ? r.eps : 1e-8; o->centered = r.centered; }
    return o;
}
NN_API nn_optim *nn_adagrad(nn_tensor **params, int n, nn_adagrad_opts a) {
    nn_optim *o = nn__optim_new("nn_adagrad", NN__ADAGRAD, params, n, a.lr ? a.lr : 1e-2, a.weight_decay, 0);
    if (o) { o->lr_decay = a.lr_decay; o->initial_acc = a.initial_accumulator_value; o->eps = a.eps ? a.eps : 1e-10; }
    return o;
}

NN_API void nn_optim_free(nn_optim *o) {
    int g, k;
    if (!o) return;
    for (g = 0; g < o->ngroups; g++) {
        for (k = 0; k < 3 * o->groups[g].n; k++) nn_free(o->groups[g].state[k]);
        NN_FREE(o->groups[g].params); NN_FREE(o->groups[g].state); NN_FREE(o->groups[g].step);
    }
    NN_FREE(o);
}
NN_API double nn_optim_lr(const nn_optim *o, int group) { return o && group >= 0 && group < o->ngroups ? o->groups[group].lr : 0.0; }
NN_API void nn_optim_set_lr(nn_optim *o, int group, double lr) { if (o && group >= 0 && group < o->ngroups) o->groups[group].lr = lr; }
NN_API void nn_optim_zero_grad(nn_optim *o) {
    int g, k;
    if (!o) return;
    for (g = 0; g < o->ngroups; g++) for (k = 0; k < o->groups[g].n; k++) nn_zero_grad(o->groups[g].params[k]);
}

/* The state tensor s of parameter k, created (filled with v) on first use. */
static float *nn__ostate(nn_optim *o, nn__group *g, int k, int s, float v) {
    nn_tensor **t = &g->state[3 * k + s];
    if (!*t) {
        *t = nn_full(o->ctx, g->params[k]->ndim, g->params[k]->shape, v);
        if (!*t) return NULL;
    }
    return NN__F32(*t);
}

/* One update per PyTorch 1.13's single-tensor rules; scalars in double, tensors in float. */
NN_API void nn_optim_step(nn_optim *o) {
    int gi, k; int64_t i;
    if (!o) return;
    for (gi = 0; gi < o->ngroups; gi++) {
        nn__group *g = &o->groups[gi];
        float lr = (float)g->lr, wd = (float)g->weight_decay;
        for (k = 0; k < g->n; k++) {
            nn_tensor *pt = g->params[k];
            float *p = NN__F32(pt), *m1, *m2, *m3;
            const float *gr;
            int64_t n = pt->numel;
            if (!pt->grad) continue;                      /* no gradient: PyTorch skips it too */
            gr = NN__F32(pt->grad);
            g->step[k]++;
            switch (o->kind) {
            case NN__SGD: {
                float mom = (float)g->momentum, odamp = (float)(1.0 - o->dampening);
                int first = g->state[3 * k] == NULL;
                m1 = mom != 0.0f ? nn__ostate(o, g, k, 0, 0.0f) : NULL;
                if (mom != 0.0f && !m1) { nn__err(o->ctx, "nn_optim_step: out of memory"); return; }
                for (i = 0; i < n; i++) {
                    float d = gr[i] + wd * p[i];
                    if (m1) {
                        m1[i] = first ? d : mom * m1[i] + odamp * d;
                        d = o->nesterov ? d + mom * m1[i] : m1[i];
                    }
                    p[i] -= lr * d;
                }
            } break;
            case NN__ADAM: case NN__ADAMW: {
                double b1 = g->momentum, b2 = o->beta2, bc1 = 1.0 - pow(b1, (double)g->step[k]), bc2 = 1.0 - pow(b2, (double)g->step[k]);
                float step_size = (float)(g->lr / bc1), bc2s = (float)sqrt(bc2), eps = (float)o->eps;
                float fb1 = (float)b1, fb2 = (float)b2, ob1 = (float)(1.0 - b1), ob2 = (float)(1.0 - b2);
                float wdecay = o->kind == NN__ADAMW ? (float)(1.0 - g->lr * g->weight_decay) : 1.0f;
                m1 = nn__ostate(o, g, k, 0, 0.0f); m2 = nn__ostate(o, g, k, 1, 0.0f);
                m3 = o->amsgrad ? nn__ostate(o, g, k, 2, 0.0f) : NULL;
                if (!m1 || !m2 || (o->amsgrad && !m3)) { nn__err(o->ctx, "nn_optim_step: out of memory"); return; }
                for (i = 0; i < n; i++) {
                    float d = gr[i], den;
                    if (o->kind == NN__ADAMW) p[i] *= wdecay;
                    else if (wd != 0.0f) d += wd * p[i];
                    m1[i] = m1[i] * fb1 + d * ob1;
                    m2[i] = m2[i] * fb2 + ob2 * d * d;
                    if (m3) { if (m2[i] > m3[i]) m3[i] = m2[i]; den = sqrtf(m3[i]) / bc2s + eps; }
                    else den = sqrtf(m2[i]) / bc2s + eps;
                    p[i] -= step_size * (m1[i] / den);
                }
            } break;
            case NN__RMSPROP: {
                float a = (float)o->alpha, oa = (float)(1.0 - o->alpha), eps = (float)o->eps, mom = (float)g->momentum;
                m1 = nn__ostate(o, g, k, 0, 0.0f);
                m2 = mom > 0.0f ? nn__ostate(o, g, k, 1, 0.0f) : NULL;
                m3 = o->centered ? nn__ostate(o, g, k, 2, 0.0f) : NULL;
                if (!m1 || (mom > 0.0f && !m2) || (o->centered && !m3)) { nn__err(o->ctx, "nn_optim_step: out of memory"); return; }
                for (i = 0; i < n; i++) {
                    float d = gr[i] + wd * p[i], avg;
                    m1[i] = m1[i] * a + oa * d * d;
                    if (m3) { m3[i] = m3[i] * a + oa * d; avg = sqrtf(m1[i] - m3[i] * m3[i]) + eps; }
                    else avg = sqrtf(m1[i]) + eps;
                    if (m2) { m2[i] = m2[i] * mom + d / avg; p[i] -= lr * m2[i]; }
                    else p[i] -= lr * (d / avg);
                }
            } break;
            case NN__ADAGRAD: {
                float clr = (float)(g->lr / (1.0 + (double)(g->step[k] - 1) * o->lr_decay)), eps = (float)o->eps;
                m1 = nn__ostate(o, g, k, 0, (float)o->initial_acc);
                if (!m1) { nn__err(o->ctx, "nn_optim_step: out of memory"); return; }
                for (i = 0; i < n; i++) {
                    float d = gr[i] + wd * p[i];
                    m1[i] += d * d;
                    p[i] -= clr * (d / (sqrtf(m1[i]) + eps));
                }
            } break;
            default: NN_ASSERT(0);
            }
        }
    }
}

NN_API float nn_clip_grad_norm(nn_tensor **params, int n, float max_norm, float norm_type) {
    double total = 0; int k; int64_t i; float coef;
    for (k = 0; k < n; k++) if (params[k] && params[k]->grad) for (i = 0; i < params[k]->numel; i++) {
        double v = fabs((double)NN__F32(params[k]->grad)[i]);
        if (norm_type == INFINITY) { if (v > total) total = v; }
        else total += pow(v, (double)norm_type);
    }
    if (norm_type != INFINITY) total = pow(total, 1.0 / (double)norm_type);
    coef = (float)((double)max_norm / (total + 1e-6));
    if (coef < 1.0f)
        for (k = 0; k < n; k++) if (params[k] && params[k]->grad) for (i = 0; i < params[k]->numel; i++) NN__F32(params[k]->grad)[i] *= coef;
    return (float)total;
}
NN_API void nn_clip_grad_value(nn_tensor **params, int n, float clip) {
    int k; int64_t i;
    for (k = 0; k < n; k++) if (params[k] && params[k]->grad) for (i = 0; i < params[k]->numel; i++) {
        float *v = &NN__F32(params[k]->grad)[i];
        if (*v > clip) *v = clip; else if (*v < -clip) *v = -clip;
    }
}

/* ==== schedulers ==== */

enum { NN__STEP_LR, NN__MULTI_STEP_LR, NN__EXPONENTIAL_LR, NN__COSINE_LR, NN__LINEAR_LR, NN__ONE_CYCLE_LR, NN__PLATEAU };

struct nn_scheduler {
    int kind;
    nn_optim *o;
    int64_t last_epoch, step_size, t_max, total;
    int64_t milestones[64]; int nmilestones;
    double gamma, eta_min, start_factor, end_factor;
    nn_one_cycle_opts oc;
    nn_plateau_opts pl;
    double best; int64_t num_bad, cooldown_counter;
    double base_lr[NN__MAX_GROUPS];
};

static double nn__cos_anneal(double start, double end, double pct) { return end + (start - end) / 2.0 * (cos(3.141592653589793 * pct) + 1.0); }

/* The lr of group g at s->last_epoch, from the current one (PyTorch's chainable forms). */
static double nn__sched_lr(nn_scheduler *s, int g) {
    nn__group *gr = &s->o->groups[g];
    double lr = gr->lr; int64_t e = s->last_epoch; int k, hits;
    switch (s->kind) {
    case NN__STEP_LR: return (e == 0 || e % s->step_size) ? lr : lr * s->gamma;
    case NN__MULTI_STEP_LR:
        for (hits = 0, k = 0; k < s->nmilestones; k++) if (s->milestones[k] == e) hits++;
        return hits ? lr * pow(s->gamma, hits) : lr;
    case NN__EXPONENTIAL_LR: return e == 0 ? lr : lr * s->gamma;
    case NN__COSINE_LR: {
        double T = (double)s->t_max, pi = 3.141592653589793;
        if (e == 0) return lr;
        if ((e - 1 - s->t_max) % (2 * s->t_max) == 0) return lr + (s->base_lr[g] - s->eta_min) * (1.0 - cos(pi / T)) / 2.0;
        return (1.0 + cos(pi * e / T)) / (1.0 + cos(pi * (e - 1) / T)) * (lr - s->eta_min) + s->eta_min;
    }
    case NN__LINEAR_LR:
        if (e == 0) return lr * s->start_factor;
        if (e > s->total) return lr;
        return lr * (1.0 + (s->end_factor - s->start_factor) /
                     (s->total * s->start_factor + (e - 1) * (s->end_factor - s->start_factor)));
    case NN__ONE_CYCLE_LR: {
        double ends[3], lrs[4], moms[4], pct, start = 0; int nph = s->oc.three_phase ? 3 : 2, i;
        double mx = gr->max_lr, init = gr->initial_lr, mn = gr->min_lr, bm = s->oc.base_momentum, xm = s->oc.max_momentum;
        if (s->oc.three_phase) {
            ends[0] = s->oc.pct_start * s->total - 1; ends[1] = 2 * s->oc.pct_start * s->total - 2; ends[2] = s->total - 1;
            lrs[0] = init; lrs[1] = mx; lrs[2] = init; lrs[3] = mn; moms[0] = xm; moms[1] = bm; moms[2] = xm; moms[3] = xm;
        } else {
            ends[0] = s->oc.pct_start * s->total - 1; ends[1] = s->total - 1;
            lrs[0] = init; lrs[1] = mx; lrs[2] = mn; moms[0] = xm; moms[1] = bm; moms[2] = xm;
        }
        for (i = 0; i < nph; i++) {
            if ((double)e <= ends[i] || i == nph - 1) {
                pct = ((double)e - start) / (ends[i] - start);
                if (!s->oc.no_cycle_momentum)
                    gr->momentum = s->oc.anneal_linear ? (moms[i + 1] - moms[i]) * pct + moms[i] : nn__cos_anneal(moms[i], moms[i + 1], pct);
                return s->oc.anneal_linear ? (lrs[i + 1] - lrs[i]) * pct + lrs[i] : nn__cos_anneal(lrs[i], lrs[i + 1], pct);
            }
            start = ends[i];
        }
        return lr;
    }
    default: return lr;
    }
}

static nn_scheduler *nn__sched_new(const char *fn, int kind, nn_optim *o) {
    nn_scheduler *s; int g;
    if (!o) return NULL;
    s = NN__CAST(nn_scheduler *, NN_MALLOC(sizeof(nn_scheduler)));
    if (!s) { nn__err(o->ctx, "%s: out of memory", fn); return NULL; }
    memset(s, 0, sizeof *s);
    s->kind = kind; s->o = o; s->last_epoch = -1;
    for (g = 0; g < o->ngroups; g++) s->base_lr[g] = o->groups[g].initial_lr;
    return s;
}
/* the constructor's first step (last_epoch -1 -> 0), as PyTorch */
static nn_scheduler *nn__sched_start(nn_scheduler *s) { if (s) nn_scheduler_step(s); return s; }

NN_API nn_scheduler *nn_step_lr(nn_optim *o, int64_t step_size, float gamma) {
    nn_scheduler *s;
    if (o && step_size <= 0) { nn__err(o->ctx, "nn_step_lr: step_size %lld must be positive", (long long)step_size); return NULL; }
    s = nn__sched_new("nn_step_lr", NN__STEP_LR, o);
    if (s) { s->step_size = step_size; s->gamma = gamma ? gamma : 0.1; }
    return nn__sched_start(s);
}
NN_API nn_scheduler *nn_multi_step_lr(nn_optim *o, const int64_t *milestones, int n, float gamma) {
    nn_scheduler *s;
    if (o && (n < 0 || n > 64 || (n && !milestones))) { nn__err(o->ctx, "nn_multi_step_lr: %d milestones; 0 to 64 allowed", n); return NULL; }
    s = nn__sched_new("nn_multi_step_lr", NN__MULTI_STEP_LR, o);
    if (s) { if (n) memcpy(s->milestones, milestones, (size_t)n * sizeof(int64_t)); s->nmilestones = n; s->gamma = gamma ? gamma : 0.1; }
    return nn__sched_start(s);
}
NN_API nn_scheduler *nn_exponential_lr(nn_optim *o, float gamma) {
    nn_scheduler *s = nn__sched_new("nn_exponential_lr", NN__EXPONENTIAL_LR, o);
    if (s) s->gamma = gamma;
    return nn__sched_start(s);
}
NN_API nn_scheduler *nn_cosine_annealing_lr(nn_optim *o, int64_t t_max, float eta_min) {
    nn_scheduler *s;
    if (o && t_max <= 0) { nn__err(o->ctx, "nn_cosine_annealing_lr: T_max %lld must be positive", (long long)t_max); return NULL; }
    s = nn__sched_new("nn_cosine_annealing_lr", NN__COSINE_LR, o);
    if (s) { s->t_max = t_max; s->eta_min = eta_min; }
    return nn__sched_start(s);
}
NN_API nn_scheduler *nn_linear_lr(nn_optim *o, float start_factor, float end_factor, int64_t total_iters) {
    nn_scheduler *s;
    double sf = start_factor ? start_factor : 1.0 / 3.0, ef = end_factor ? end_factor : 1.0;
    if (o && (sf > 1.0 || sf <= 0 || ef > 1.0 || ef < 0)) { nn__err(o->ctx, "nn_linear_lr: start_factor %g must be in (0, 1] and end_factor %g in [0, 1]", sf, ef); return NULL; }
    s = nn__sched_new("nn_linear_lr", NN__LINEAR_LR, o);
    if (s) { s->start_factor = sf; s->end_factor = ef; s->total = total_iters ? total_iters : 5; }
    return nn__sched_start(s);
}
NN_API nn_scheduler *nn_one_cycle_lr(nn_optim *o, float max_lr, int64_t total_steps, nn_one_cycle_opts oc) {
    nn_scheduler *s; int g;
    if (o && (total_steps <= 0 || !(max_lr > 0))) { nn__err(o->ctx, "nn_one_cycle_lr: total_steps %lld and max_lr %g must be positive", (long long)total_steps, max_lr); return NULL; }
    if (o && !oc.no_cycle_momentum && o->kind != NN__SGD && o->kind != NN__ADAM && o->kind != NN__ADAMW && o->kind != NN__RMSPROP) {
        nn__err(o->ctx, "nn_one_cycle_lr: this optimizer has no momentum to cycle; set no_cycle_momentum"); return NULL;
    }
    s = nn__sched_new("nn_one_cycle_lr", NN__ONE_CYCLE_LR, o);
    if (!s) return NULL;
    oc.pct_start = oc.pct_start ? oc.pct_start : 0.3f; oc.div_factor = oc.div_factor ? oc.div_factor : 25.0f;
    oc.final_div_factor = oc.final_div_factor ? oc.final_div_factor : 1e4f;
    oc.base_momentum = oc.base_momentum ? oc.base_momentum : 0.85f; oc.max_momentum = oc.max_momentum ? oc.max_momentum : 0.95f;
    s->oc = oc; s->total = total_steps;
    for (g = 0; g < o->ngroups; g++) {
        nn__group *gr = &o->groups[g];
        gr->initial_lr = (double)max_lr / oc.div_factor; gr->max_lr = max_lr; gr->min_lr = gr->initial_lr / oc.final_div_factor;
        gr->lr = gr->initial_lr; s->base_lr[g] = gr->initial_lr;
        if (!oc.no_cycle_momentum) gr->momentum = oc.max_momentum;
    }
    return nn__sched_start(s);
}
NN_API nn_scheduler *nn_reduce_lr_on_plateau(nn_optim *o, nn_plateau_opts p) {
    nn_scheduler *s;
    if (o && (p.factor >= 1.0f || p.factor < 0 || p.patience < 0 || p.cooldown < 0)) {
        nn__err(o->ctx, "nn_reduce_lr_on_plateau: factor %g must be < 1, patience and cooldown >= 0", p.factor); return NULL;
    }
    s = nn__sched_new("nn_reduce_lr_on_plateau", NN__PLATEAU, o);
    if (!s) return NULL;
    p.factor = p.factor ? p.factor : 0.1f; p.patience = p.patience ? p.patience : 10;
    p.threshold = p.threshold ? p.threshold : 1e-4f; p.eps = p.eps ? p.eps : 1e-8f;
    s->pl = p; s->last_epoch = 0;
    s->best = p.mode_max ? -INFINITY : INFINITY;
    return s;
}

NN_API void nn_scheduler_step(nn_scheduler *s) {
    int g; double lrs[NN__MAX_GROUPS];
    if (!s) return;
    if (s->kind == NN__PLATEAU) { nn__err(s->o->ctx, "nn_scheduler_step: ReduceLROnPlateau needs a metric; use nn_scheduler_step_metric"); return; }
    if (s->kind == NN__ONE_CYCLE_LR && s->last_epoch + 1 > s->total) {
        nn__err(s->o->ctx, "nn_scheduler_step: OneCycleLR stepped %lld times; total_steps is %lld", (long long)(s->last_epoch + 2), (long long)s->total);
        return;
    }
    s->last_epoch++;
    for (g = 0; g < s->o->ngroups; g++) lrs[g] = nn__sched_lr(s, g);
    for (g = 0; g < s->o->ngroups; g++) s->o->groups[g].lr = lrs[g];
}

NN_API void nn_scheduler_step_metric(nn_scheduler *s, float metric) {
    double a = metric, b, th; int better, g;
    if (!s) return;
    if (s->kind != NN__PLATEAU) { nn_scheduler_step(s); return; }
    s->last_epoch++;
    b = s->best; th = s->pl.threshold;
    if (s->pl.mode_max) better = s->pl.threshold_abs ? a > b + th : a > b * (1.0 + th);
    else better = s->pl.threshold_abs ? a < b - th : a < b * (1.0 - th);
    if (better) { s->best = a; s->num_bad = 0; } else s->num_bad++;
    if (s->cooldown_counter > 0) { s->cooldown_counter--; s->num_bad = 0; }
    if (s->num_bad > s->pl.patience) {
        for (g = 0; g < s->o->ngroups; g++) {
            double old = s->o->groups[g].lr, nw = old * s->pl.factor;
            if (nw < s->pl.min_lr) nw = s->pl.min_lr;
            if (old - nw > s->pl.eps) s->o->groups[g].lr = nw;
        }
        s->cooldown_counter = s->pl.cooldown;
        s->num_bad = 0;
    }
}
NN_API double nn_scheduler_last_lr(const nn_scheduler *s, int group) { return s ? nn_optim_lr(s->o, group) : 0.0; }
NN_API void nn_scheduler_free(nn_scheduler *s) { if (s) NN_FREE(s); }

