/* ---- optimizers and schedulers: 100-step trajectories against PyTorch ---- */
#include <unistd.h>   /* dup, dup2: the stderr of a call with no context */

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

static void test_optim_trajectories(nn_ctx *ctx) {
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
                    for (k = 0; k < p[idx]->numel; k++) nn_f32(p[idx])[k] = strtof(r, &r);
                    nn_set_requires_grad(p[idx], 1);
                    p[idx]->grad = nn_zeros_like(p[idx]);
                } else if (!strncmp(line, "coef ", 5) || !strncmp(line, "bias ", 5)) {
                    nn_tensor **dst = line[0] == 'c' ? c : d;
                    idx = atoi(line + 5);
                    dst[idx] = nn_zeros_like(p[idx]);
                    r = strchr(line, ':') + 1;
                    for (k = 0; k < dst[idx]->numel; k++) nn_f32(dst[idx])[k] = strtof(r, &r);
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
                double lr = cfg_get(cfg, nc, "lr", 0);
                if (!strcmp(opt, "sgd")) {
                    nn_sgd_opts so = nn_sgd_opts_default(lr);
                    so.momentum = cfg_get(cfg, nc, "momentum", so.momentum);
                    so.dampening = cfg_get(cfg, nc, "dampening", so.dampening);
                    so.weight_decay = cfg_get(cfg, nc, "wd", so.weight_decay);
                    so.nesterov = (int)cfg_get(cfg, nc, "nesterov", so.nesterov);
                    o = nn_sgd(p, np, so);
                } else if (!strcmp(opt, "adam") || !strcmp(opt, "adamw")) {
                    nn_adam_opts ao = !strcmp(opt, "adam") ? nn_adam_opts_default() : nn_adamw_opts_default();
                    ao.lr = lr;
                    ao.weight_decay = cfg_get(cfg, nc, "wd", ao.weight_decay);
                    ao.amsgrad = (int)cfg_get(cfg, nc, "amsgrad", ao.amsgrad);
                    ao.betas[0] = cfg_get(cfg, nc, "beta1", ao.betas[0]);
                    ao.betas[1] = cfg_get(cfg, nc, "beta2", ao.betas[1]);
                    o = !strcmp(opt, "adam") ? nn_adam(p, np, ao) : nn_adamw(p, np, ao);
                } else if (!strcmp(opt, "rmsprop")) {
                    nn_rmsprop_opts ro = nn_rmsprop_opts_default();
                    ro.lr = lr;
                    ro.weight_decay = cfg_get(cfg, nc, "wd", ro.weight_decay);
                    ro.momentum = cfg_get(cfg, nc, "momentum", ro.momentum);
                    ro.centered = (int)cfg_get(cfg, nc, "centered", ro.centered);
                    ro.alpha = cfg_get(cfg, nc, "alpha", ro.alpha);
                    o = nn_rmsprop(p, np, ro);
                } else {
                    nn_adagrad_opts ag = nn_adagrad_opts_default();
                    ag.lr = lr;
                    ag.weight_decay = cfg_get(cfg, nc, "wd", ag.weight_decay);
                    ag.lr_decay = cfg_get(cfg, nc, "lr_decay", ag.lr_decay);
                    ag.initial_accumulator_value = cfg_get(cfg, nc, "init_acc", ag.initial_accumulator_value);
                    o = nn_adagrad(p, np, ag);
                }
                if (groups == 2) nn_optim_add_param_group(o, &p[1], 1, cfg_get(cfg, nc, "lr1", NAN), cfg_get(cfg, nc, "wd1", NAN));
            }
            /* the scheduler, with PyTorch's defaults for what the case does not give (as gen_fixtures.py) */
            if (!strcmp(sched, "step")) s = nn_step_lr(o, (int64_t)cfg_get(cfg, nc, "step_size", 0), cfg_get(cfg, nc, "gamma", 0.1));
            else if (!strcmp(sched, "multistep")) {
                int64_t ms[3] = { 10, 30, 60 };
                s = nn_multi_step_lr(o, ms, 3, cfg_get(cfg, nc, "gamma", 0.1));
            } else if (!strcmp(sched, "exp")) s = nn_exponential_lr(o, cfg_get(cfg, nc, "gamma", 0));
            else if (!strcmp(sched, "cos"))
                s = nn_cosine_annealing_lr(o, (int64_t)cfg_get(cfg, nc, "t_max", 0), cfg_get(cfg, nc, "eta_min", 0));
            else if (!strcmp(sched, "linear")) s = nn_linear_lr(o, 1.0 / 3.0, 1.0, 5);
            else if (!strcmp(sched, "onecycle"))
                s = nn_one_cycle_lr(o, cfg_get(cfg, nc, "max_lr", 0), 100, nn_one_cycle_opts_default());
            else if (!strcmp(sched, "plateau")) {
                nn_plateau_opts po = nn_plateau_opts_default();
                po.patience = 3;
                po.cooldown = 2;
                po.factor = 0.5;
                s = nn_reduce_lr_on_plateau(o, po);
            }
            CHECK(o != NULL && (sched[0] == 0 || s != NULL), "could not build %s/%s: %s", opt, sched, ERRS(ctx));
            for (t = 0; t < 100 && o && !g_case_failed; t++) {
                double lr_rel;
                for (i = 0; i < 2; i++) { int64_t k; for (k = 0; k < p[i]->numel; k++) nn_f32(p[i]->grad)[k] = nn_f32(c[i])[k] * nn_f32(p[i])[k] + nn_f32(d[i])[k]; }
                lr_rel = fabs(nn_optim_lr(o, 0) - lrs[t]) / fabs(lrs[t]);
                if (lr_rel > worst_lr) worst_lr = lr_rel;
                CHECK(lr_rel <= 1e-5, "step %d: lr %.10g, PyTorch %.10g", t + 1, nn_optim_lr(o, 0), lrs[t]);
                nn_optim_step(o);
                if (s) { if (!strcmp(sched, "plateau")) nn_scheduler_step_metric(s, (float)metric[t]); else nn_scheduler_step(s); }
                for (i = 0; i < 2; i++) {
                    int64_t k, n = i ? 5 : 12;
                    for (k = 0; k < n; k++) {
                        double want = traj[i][t * n + k], got = nn_f32(p[i])[k], err = fabs(got - want);
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

static void test_step_lr_seed000(nn_ctx *ctx) {
    /* seed 000: lr_0 = 1e-4, step_size 7, gamma 0.1: 1e-4 for epochs 1-7, 1e-5 for 8-14, 1e-6 for 15-21 */
    int64_t one = 1; int epoch;
    nn_tensor *w = nn_set_requires_grad(nn_zeros(ctx, 1, &one), 1);
    nn_optim *o = nn_sgd(&w, 1, nn_sgd_opts_default(1e-4f));
    nn_scheduler *s = nn_step_lr(o, 7, 0.1f);
    begin("seed000 StepLR table: 1e-4 (epochs 1-7), 1e-5 (8-14), 1e-6 (15-21)");
    for (epoch = 1; epoch <= 21; epoch++) {
        double want = epoch <= 7 ? 1e-4 : epoch <= 14 ? 1e-5 : 1e-6, got = nn_scheduler_last_lr(s, 0);
        CHECK(fabs(got - want) <= 1e-6 * want, "epoch %d: lr %g, expected %g", epoch, got, want);
        nn_scheduler_step(s);
    }
    end();
    nn_scheduler_free(s); nn_optim_free(o); nn_free(w);
}


/* ---- core v2 regressions: options taken verbatim, refused with a message naming them; groups; caps ---- */

/* a 4-element parameter; opt_run sets its gradient to c * p + d before each step */
static nn_tensor *opt_param(nn_ctx *ctx) {
    static const float init[4] = { 0.5f, -0.3f, 0.2f, 1.5f };
    int64_t four = 4;
    nn_tensor *p = nn_from_array(ctx, 1, &four, init);
    nn_set_requires_grad(p, 1);
    p->grad = nn_zeros_like(p);
    return p;
}
static void opt_run(nn_optim *o, nn_tensor *p, int steps, float sign) {
    static const float c[4] = { 2.0f, 1.0f, 0.5f, 3.0f }, d[4] = { 0.1f, -0.2f, 0.05f, 0.0f };
    int t, k;
    for (t = 0; t < steps; t++) {
        for (k = 0; k < 4; k++) nn_f32(p->grad)[k] = sign * (c[k] * nn_f32(p)[k] + d[k]);
        nn_optim_step(o);
    }
}
static void check_params(const nn_tensor *p, const double *want, const char *what) {
    int k;
    for (k = 0; k < 4; k++) {
        double got = nn_f32(p)[k];
        CHECK(fabs(got - want[k]) <= 2e-6 * fabs(want[k]) + 1e-7, "%s[%d]: nn.h %.9g, PyTorch %.9g", what, k, got, want[k]);
    }
}

/* Ten steps of p.grad = c * p + d against torch 1.13:
     p = torch.tensor([0.5, -0.3, 0.2, 1.5], requires_grad=True); o = torch.optim.X([p], ...)
     for t in range(10): p.grad = (torch.tensor([2., 1., .5, 3.]) * p + torch.tensor([.1, -.2, .05, 0.])).detach(); o.step() */
typedef struct { const char *name; const char *args; double want[4]; } opt_case;
static const opt_case g_opt_cases[] = {
    { "Adam(lr=0.01)", "adam lr=0.01", { 0.400680602, -0.200760156, 0.101418853, 1.40022659 } },
    { "AdamW(lr=0.01, weight_decay=0)", "adamw lr=0.01 weight_decay=0", { 0.400680602, -0.200760156, 0.101418853, 1.40022659 } },
    { "Adam(lr=0.01, betas=(0, 0.999))", "adam lr=0.01 betas[0]=0", { 0.404238254, -0.204678565, 0.107993826, 1.40151882 } },
    { "Adam(lr=0.01, betas=(0.9, 0))", "adam lr=0.01 betas[1]=0", { 0.39589709, -0.195404336, 0.0910995454, 1.3986454 } },
    { "Adam(lr=0.01, maximize=True)", "adam lr=0.01 maximize=1", { 0.600506186, -0.400548905, 0.300824642, 1.60020339 } },
    { "SGD(lr=0.01, momentum=0.9, maximize=True)", "sgd lr=0.01 momentum=0.9 maximize=1",
      { 1.04049838, -0.52562207, 0.264830112, 3.90440011 } },
    { "RMSprop(lr=0.01, maximize=True)", "rmsprop lr=0.01 maximize=1", { 1.07430089, -0.879217684, 0.808355868, 2.03590059 } },
    { "Adagrad(lr=0.01, maximize=True)", "adagrad lr=0.01 maximize=1", { 0.551068723, -0.351152062, 0.251749426, 1.55053031 } },
};

static int parse_args(const char *args, kv *c, int max) {
    int n = 0;
    const char *q = args;
    while (q && *q && n < max) {
        const char *eq = strchr(q, '='), *sp;
        if (!eq) break;
        while (*q == ' ') q++;
        snprintf(c[n].key, sizeof c[n].key, "%.*s", (int)(eq - q), q);
        c[n].v = strtod(eq + 1, NULL);
        n++;
        sp = strchr(eq, ' ');
        q = sp ? sp + 1 : NULL;
    }
    return n;
}

/* an optimizer over p[0..np-1] from "kind key=value ...", each option PyTorch's default unless given */
static nn_optim *optim_from(nn_tensor **p, int np, const char *kind, const char *args) {
    kv c[16];
    int nc = parse_args(args, c, 16);
    if (!strcmp(kind, "sgd") || !strcmp(kind, "nn_sgd")) {
        nn_sgd_opts o = nn_sgd_opts_default(cfg_get(c, nc, "lr", 0.1));
        o.momentum = cfg_get(c, nc, "momentum", o.momentum);
        o.dampening = cfg_get(c, nc, "dampening", o.dampening);
        o.weight_decay = cfg_get(c, nc, "weight_decay", o.weight_decay);
        o.nesterov = (int)cfg_get(c, nc, "nesterov", o.nesterov);
        o.maximize = (int)cfg_get(c, nc, "maximize", o.maximize);
        return nn_sgd(p, np, o);
    }
    if (strstr(kind, "adam")) {
        int w = strstr(kind, "adamw") != NULL;
        nn_adam_opts o = w ? nn_adamw_opts_default() : nn_adam_opts_default();
        o.lr = cfg_get(c, nc, "lr", o.lr);
        o.betas[0] = cfg_get(c, nc, "betas[0]", o.betas[0]);
        o.betas[1] = cfg_get(c, nc, "betas[1]", o.betas[1]);
        o.eps = cfg_get(c, nc, "eps", o.eps);
        o.weight_decay = cfg_get(c, nc, "weight_decay", o.weight_decay);
        o.amsgrad = (int)cfg_get(c, nc, "amsgrad", o.amsgrad);
        o.maximize = (int)cfg_get(c, nc, "maximize", o.maximize);
        return w ? nn_adamw(p, np, o) : nn_adam(p, np, o);
    }
    if (strstr(kind, "rmsprop")) {
        nn_rmsprop_opts o = nn_rmsprop_opts_default();
        o.lr = cfg_get(c, nc, "lr", o.lr);
        o.alpha = cfg_get(c, nc, "alpha", o.alpha);
        o.eps = cfg_get(c, nc, "eps", o.eps);
        o.weight_decay = cfg_get(c, nc, "weight_decay", o.weight_decay);
        o.momentum = cfg_get(c, nc, "momentum", o.momentum);
        o.centered = (int)cfg_get(c, nc, "centered", o.centered);
        o.maximize = (int)cfg_get(c, nc, "maximize", o.maximize);
        return nn_rmsprop(p, np, o);
    } else {
        nn_adagrad_opts o = nn_adagrad_opts_default();
        o.lr = cfg_get(c, nc, "lr", o.lr);
        o.lr_decay = cfg_get(c, nc, "lr_decay", o.lr_decay);
        o.weight_decay = cfg_get(c, nc, "weight_decay", o.weight_decay);
        o.initial_accumulator_value = cfg_get(c, nc, "initial_accumulator_value", o.initial_accumulator_value);
        o.eps = cfg_get(c, nc, "eps", o.eps);
        o.maximize = (int)cfg_get(c, nc, "maximize", o.maximize);
        return nn_adagrad(p, np, o);
    }
}

static void test_optim_options(nn_ctx *ctx) {
    size_t i;
    nn_adam_opts a = nn_adam_opts_default(), aw = nn_adamw_opts_default();
    nn_rmsprop_opts r = nn_rmsprop_opts_default();
    nn_adagrad_opts g = nn_adagrad_opts_default();
    nn_sgd_opts s = nn_sgd_opts_default(0.5);
    begin("optim: nn_x_opts_default() gives PyTorch 1.13's defaults");
    CHECK(a.lr == 1e-3 && a.betas[0] == 0.9 && a.betas[1] == 0.999 && a.eps == 1e-8 && a.weight_decay == 0 && !a.amsgrad,
          "Adam defaults: lr %g betas (%g, %g) eps %g weight_decay %g", a.lr, a.betas[0], a.betas[1], a.eps, a.weight_decay);
    CHECK(aw.lr == 1e-3 && aw.weight_decay == 1e-2 && aw.betas[1] == 0.999, "AdamW weight_decay %g", aw.weight_decay);
    CHECK(r.lr == 1e-2 && r.alpha == 0.99 && r.eps == 1e-8 && r.momentum == 0 && !r.centered, "RMSprop defaults");
    CHECK(g.lr == 1e-2 && g.eps == 1e-10 && g.lr_decay == 0 && g.initial_accumulator_value == 0, "Adagrad defaults");
    CHECK(s.lr == 0.5 && s.momentum == 0 && s.dampening == 0 && s.weight_decay == 0 && !s.nesterov && !s.maximize, "SGD defaults");
    end();
    for (i = 0; i < sizeof g_opt_cases / sizeof g_opt_cases[0]; i++) {
        const opt_case *c = &g_opt_cases[i];
        char name[128], kind[16];
        nn_tensor *p = opt_param(ctx);
        nn_optim *o;
        sscanf(c->args, "%15s", kind);
        o = optim_from(&p, 1, kind, c->args + strlen(kind));
        snprintf(name, sizeof name, "optim: %s, 10 steps against PyTorch", c->name);
        begin(name);
        CHECK(o != NULL, "refused: %s", ERRS(ctx));
        if (o) { opt_run(o, p, 10, 1.0f); check_params(p, c->want, "p"); }
        end();
        nn_optim_free(o);
        nn_free(p);
    }
}

/* AdamW(weight_decay=0) is Adam, and maximize is minimizing -grad, both bit for bit */
static void test_optim_equivalences(nn_ctx *ctx) {
    static const char *kinds[] = { "sgd momentum=0.9 nesterov=1", "adam amsgrad=1", "adamw", "rmsprop centered=1 momentum=0.5",
                                   "adagrad lr_decay=0.01" };
    nn_tensor *p = opt_param(ctx), *q = opt_param(ctx);
    nn_adam_opts ao = nn_adamw_opts_default();
    nn_optim *o1, *o2;
    size_t i;
    begin("optim: AdamW with weight_decay 0 equals Adam bit for bit (was 0.01: 0 meant the default)");
    ao.weight_decay = 0.0;
    o1 = nn_adamw(&p, 1, ao);
    o2 = nn_adam(&q, 1, nn_adam_opts_default());
    opt_run(o1, p, 50, 1.0f);
    opt_run(o2, q, 50, 1.0f);
    CHECK(memcmp(nn_f32(p), nn_f32(q), 4 * sizeof(float)) == 0, "AdamW(wd=0) %.9g, Adam %.9g", nn_f32(p)[0], nn_f32(q)[0]);
    end();
    nn_optim_free(o1); nn_optim_free(o2); nn_free(p); nn_free(q);
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char kind[16], args[96], name[160];
        sscanf(kinds[i], "%15s", kind);
        snprintf(args, sizeof args, "%s maximize=1", kinds[i] + strlen(kind));
        snprintf(name, sizeof name, "optim: %s with maximize equals it minimizing -grad", kinds[i]);
        begin(name);
        p = opt_param(ctx); q = opt_param(ctx);
        o1 = optim_from(&p, 1, kind, args);
        o2 = optim_from(&q, 1, kind, kinds[i] + strlen(kind));
        opt_run(o1, p, 20, 1.0f);
        opt_run(o2, q, 20, -1.0f);
        CHECK(o1 && o2 && memcmp(nn_f32(p), nn_f32(q), 4 * sizeof(float)) == 0, "maximize %.9g, -grad %.9g: %s",
              nn_f32(p)[0], nn_f32(q)[0], ERRS(ctx));
        end();
        nn_optim_free(o1); nn_optim_free(o2); nn_free(p); nn_free(q);
    }
}

/* a scheduler from "kind key=value ..." over an SGD (lr 0.1, momentum 0.9), or Adagrad with adagrad=1 */
static nn_scheduler *sched_from(nn_optim *o, const char *kind, const kv *c, int nc) {
    int64_t ms[3] = { 10, 30, 60 }, bad[3] = { 30, 10, 60 };
    if (!strcmp(kind, "nn_step_lr")) return nn_step_lr(o, (int64_t)cfg_get(c, nc, "step_size", 3), cfg_get(c, nc, "gamma", 0.1));
    if (!strcmp(kind, "nn_multi_step_lr"))
        return nn_multi_step_lr(o, cfg_get(c, nc, "unsorted", 0) ? bad : ms, (int)cfg_get(c, nc, "n", 3), cfg_get(c, nc, "gamma", 0.1));
    if (!strcmp(kind, "nn_exponential_lr")) return nn_exponential_lr(o, cfg_get(c, nc, "gamma", 0.9));
    if (!strcmp(kind, "nn_cosine_annealing_lr"))
        return nn_cosine_annealing_lr(o, (int64_t)cfg_get(c, nc, "T_max", 10), cfg_get(c, nc, "eta_min", 0));
    if (!strcmp(kind, "nn_linear_lr"))
        return nn_linear_lr(o, cfg_get(c, nc, "start_factor", 1.0 / 3.0), cfg_get(c, nc, "end_factor", 1.0),
                            (int64_t)cfg_get(c, nc, "total_iters", 5));
    if (!strcmp(kind, "nn_one_cycle_lr")) {
        nn_one_cycle_opts oc = nn_one_cycle_opts_default();
        oc.pct_start = cfg_get(c, nc, "pct_start", oc.pct_start);
        oc.anneal_strategy = (nn_anneal_strategy)(int)cfg_get(c, nc, "anneal_strategy", oc.anneal_strategy);
        oc.cycle_momentum = (int)cfg_get(c, nc, "cycle_momentum", oc.cycle_momentum);
        oc.div_factor = cfg_get(c, nc, "div_factor", oc.div_factor);
        oc.final_div_factor = cfg_get(c, nc, "final_div_factor", oc.final_div_factor);
        return nn_one_cycle_lr(o, cfg_get(c, nc, "max_lr", 1.0), (int64_t)cfg_get(c, nc, "total_steps", 100), oc);
    } else {
        nn_plateau_opts po = nn_plateau_opts_default();
        po.mode = (nn_plateau_mode)(int)cfg_get(c, nc, "mode", po.mode);
        po.factor = cfg_get(c, nc, "factor", po.factor);
        po.patience = (int64_t)cfg_get(c, nc, "patience", (double)po.patience);
        po.threshold_mode = (nn_threshold_mode)(int)cfg_get(c, nc, "threshold_mode", po.threshold_mode);
        po.cooldown = (int64_t)cfg_get(c, nc, "cooldown", (double)po.cooldown);
        po.min_lr = cfg_get(c, nc, "min_lr", po.min_lr);
        return nn_reduce_lr_on_plateau(o, po);
    }
}

/* every invalid value refused, with a message naming the option and the value; want NULL: accepted */
typedef struct { const char *ctor, *args, *want; } bad_case;
static const bad_case g_bad_cases[] = {
    { "nn_sgd", "", NULL },
    { "nn_sgd", "lr=nan", "nn_sgd: lr is nan; it must be finite and >= 0" },
    { "nn_sgd", "lr=-0.1", "nn_sgd: lr is -0.1; it must be finite and >= 0" },
    { "nn_sgd", "lr=inf", "nn_sgd: lr is inf" },
    { "nn_sgd", "momentum=-0.5", "nn_sgd: momentum is -0.5" },
    { "nn_sgd", "weight_decay=-1", "nn_sgd: weight_decay is -1" },
    { "nn_sgd", "dampening=nan", "nn_sgd: dampening is nan" },
    { "nn_sgd", "nesterov=1", "nn_sgd: nesterov with momentum 0 and dampening 0; Nesterov momentum requires a momentum" },
    { "nn_sgd", "nesterov=1 momentum=0.9 dampening=0.1", "momentum 0.9 and dampening 0.1; Nesterov momentum requires" },
    { "nn_sgd", "nesterov=1 momentum=0.9", NULL },
    { "nn_adam", "", NULL },
    { "nn_adam", "betas[0]=0 betas[1]=0 eps=0", NULL },
    { "nn_adam", "betas[0]=1", "nn_adam: betas[0] is 1; it must be in [0, 1)" },
    { "nn_adam", "betas[0]=-0.1", "nn_adam: betas[0] is -0.1; it must be in [0, 1)" },
    { "nn_adam", "betas[1]=1.5", "nn_adam: betas[1] is 1.5" },
    { "nn_adam", "betas[1]=nan", "nn_adam: betas[1] is nan" },
    { "nn_adam", "eps=-1e-8", "nn_adam: eps is -1e-08" },
    { "nn_adam", "lr=nan", "nn_adam: lr is nan" },
    { "nn_adamw", "weight_decay=-0.01", "nn_adamw: weight_decay is -0.01" },
    { "nn_adamw", "betas[0]=0.999999", NULL },
    { "nn_rmsprop", "", NULL },
    { "nn_rmsprop", "alpha=-0.5", "nn_rmsprop: alpha is -0.5" },
    { "nn_rmsprop", "momentum=-1", "nn_rmsprop: momentum is -1" },
    { "nn_rmsprop", "eps=inf", "nn_rmsprop: eps is inf" },
    { "nn_adagrad", "", NULL },
    { "nn_adagrad", "lr_decay=-1", "nn_adagrad: lr_decay is -1" },
    { "nn_adagrad", "initial_accumulator_value=-1", "nn_adagrad: initial_accumulator_value is -1" },
    { "nn_adagrad", "weight_decay=nan", "nn_adagrad: weight_decay is nan" },
    { "nn_step_lr", "", NULL },
    { "nn_step_lr", "gamma=0", NULL },
    { "nn_step_lr", "step_size=0", "nn_step_lr: step_size is 0; it must be > 0" },
    { "nn_step_lr", "gamma=nan", "nn_step_lr: gamma is nan; it must be finite" },
    { "nn_multi_step_lr", "", NULL },
    { "nn_multi_step_lr", "unsorted=1", "nn_multi_step_lr: milestones[1] is 10 after 30; milestones must be increasing" },
    { "nn_multi_step_lr", "n=-1", "nn_multi_step_lr: -1 milestones" },
    { "nn_multi_step_lr", "gamma=nan", "nn_multi_step_lr: gamma is nan" },
    { "nn_exponential_lr", "gamma=inf", "nn_exponential_lr: gamma is inf" },
    { "nn_cosine_annealing_lr", "", NULL },
    { "nn_cosine_annealing_lr", "T_max=0", "nn_cosine_annealing_lr: T_max is 0; it must be > 0" },
    { "nn_cosine_annealing_lr", "eta_min=nan", "nn_cosine_annealing_lr: eta_min is nan" },
    { "nn_linear_lr", "", NULL },
    { "nn_linear_lr", "end_factor=0 total_iters=0", NULL },
    { "nn_linear_lr", "start_factor=0", "nn_linear_lr: start_factor is 0; it must be in (0, 1]" },
    { "nn_linear_lr", "start_factor=1.5", "nn_linear_lr: start_factor is 1.5" },
    { "nn_linear_lr", "end_factor=-0.5", "nn_linear_lr: end_factor is -0.5; it must be in [0, 1]" },
    { "nn_linear_lr", "total_iters=-1", "nn_linear_lr: total_iters is -1; it must be >= 0" },
    { "nn_one_cycle_lr", "", NULL },
    { "nn_one_cycle_lr", "adagrad=1 cycle_momentum=0", NULL },
    { "nn_one_cycle_lr", "total_steps=0", "nn_one_cycle_lr: total_steps is 0; it must be > 0" },
    { "nn_one_cycle_lr", "max_lr=nan", "nn_one_cycle_lr: max_lr is nan" },
    { "nn_one_cycle_lr", "pct_start=1.5", "nn_one_cycle_lr: pct_start is 1.5; it must be in [0, 1]" },
    { "nn_one_cycle_lr", "anneal_strategy=7", "nn_one_cycle_lr: anneal_strategy is 7" },
    { "nn_one_cycle_lr", "div_factor=0", "nn_one_cycle_lr: div_factor is 0" },
    { "nn_one_cycle_lr", "final_div_factor=-1", "nn_one_cycle_lr: final_div_factor is -1" },
    { "nn_one_cycle_lr", "adagrad=1", "nn_one_cycle_lr: cycle_momentum is on but Adagrad has no momentum" },
    { "nn_reduce_lr_on_plateau", "", NULL },
    { "nn_reduce_lr_on_plateau", "patience=0 factor=0", NULL },
    { "nn_reduce_lr_on_plateau", "factor=1", "nn_reduce_lr_on_plateau: factor is 1; it must be in [0, 1)" },
    { "nn_reduce_lr_on_plateau", "factor=nan", "nn_reduce_lr_on_plateau: factor is nan" },
    { "nn_reduce_lr_on_plateau", "patience=-1", "nn_reduce_lr_on_plateau: patience is -1; it must be >= 0" },
    { "nn_reduce_lr_on_plateau", "cooldown=-2", "nn_reduce_lr_on_plateau: cooldown is -2" },
    { "nn_reduce_lr_on_plateau", "mode=2", "nn_reduce_lr_on_plateau: mode is 2" },
    { "nn_reduce_lr_on_plateau", "threshold_mode=-1", "nn_reduce_lr_on_plateau: threshold_mode is -1" },
    { "nn_reduce_lr_on_plateau", "min_lr=nan", "nn_reduce_lr_on_plateau: min_lr is nan" },
};

static void test_optim_invalid(nn_ctx *ctx) {
    size_t i;
    for (i = 0; i < sizeof g_bad_cases / sizeof g_bad_cases[0]; i++) {
        const bad_case *b = &g_bad_cases[i];
        char name[160];
        kv c[16];
        int nc = parse_args(b->args, c, 16), made;
        nn_tensor *p = opt_param(ctx);
        nn_optim *o = NULL, *base = NULL;
        nn_scheduler *s = NULL;
        snprintf(name, sizeof name, "optim: %s(%s) is %s", b->ctor, b->args, b->want ? "refused, naming the option" : "accepted");
        begin(name);
        nn_clear_error(ctx);
        if (!strstr(b->ctor, "_lr") && strcmp(b->ctor, "nn_reduce_lr_on_plateau")) {
            o = optim_from(&p, 1, b->ctor, b->args);
            made = o != NULL;
        } else {
            base = cfg_get(c, nc, "adagrad", 0) ? optim_from(&p, 1, "adagrad", "") : optim_from(&p, 1, "sgd", "momentum=0.9");
            s = sched_from(base, b->ctor, c, nc);
            made = s != NULL;
        }
        if (b->want) {
            CHECK(!made, "accepted");
            CHECK(nn_error(ctx) && strstr(nn_error(ctx), b->want), "message \"%s\", expected it to contain \"%s\"", ERRS(ctx), b->want);
        } else {
            CHECK(made && !nn_error(ctx), "refused: %s", ERRS(ctx));
        }
        end();
        nn_clear_error(ctx);
        nn_scheduler_free(s);
        nn_optim_free(o);
        nn_optim_free(base);
        nn_free(p);
    }
}

/* what nn_adam(NULL, ...) prints: with no tensor there is no context to hold the message */
static void stderr_of_null_params(char *buf, size_t n) {
    FILE *tmp = tmpfile();
    int saved = dup(2);
    size_t got = 0;
    nn_optim *o;
    buf[0] = 0;
    if (!tmp || saved < 0) return;
    fflush(stderr);
    dup2(fileno(tmp), 2);
    o = nn_adam(NULL, 2, nn_adam_opts_default());
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    got = fread(buf, 1, n - 1, tmp);
    buf[got] = 0;
    fclose(tmp);
    if (o) snprintf(buf, n, "returned an optimizer");
    nn_optim_free(o);
}

static void test_optim_bad_count(nn_ctx *ctx) {
    nn_tensor *p = opt_param(ctx);
    nn_optim *o;
    char out[256];
    begin("optim: nn_adam(params, -1) returns NULL with a message (was silent); NULL params too");
    nn_clear_error(ctx);
    o = nn_adam(&p, -1, nn_adam_opts_default());
    CHECK(o == NULL && nn_error(ctx) && strstr(nn_error(ctx), "nn_adam: n is -1"), "got %p, message %s", (void *)o, ERRS(ctx));
    nn_clear_error(ctx);
    o = nn_sgd(&p, -3, nn_sgd_opts_default(0.1));
    CHECK(o == NULL && nn_error(ctx) && strstr(nn_error(ctx), "nn_sgd: n is -3"), "nn_sgd: message %s", ERRS(ctx));
    nn_clear_error(ctx);
    {
        nn_tensor *two[2];
        two[0] = p;
        two[1] = NULL;
        o = nn_adam(two, 2, nn_adam_opts_default());
        CHECK(o == NULL && strstr(ERRS(ctx), "nn_adam: parameter 1 is NULL"), "a NULL parameter: %s", ERRS(ctx));
        nn_clear_error(ctx);
    }
    stderr_of_null_params(out, sizeof out);
    CHECK(strstr(out, "nn_adam: params is NULL") != NULL, "nn_adam(NULL, 2): stderr \"%s\"", out);
    end();
    nn_clear_error(ctx);
    nn_free(p);
}

static void test_optim_duplicates(nn_ctx *ctx) {
    nn_tensor *p[3], *twice[2];
    nn_optim *o;
    int k;
    for (k = 0; k < 3; k++) p[k] = opt_param(ctx);
    begin("optim: add_param_group refuses a parameter already in a group, or listed twice");
    o = nn_sgd(p, 2, nn_sgd_opts_default(0.1));
    CHECK(nn_optim_add_param_group(o, &p[1], 1, 0.01, NAN) == -1, "p[1] added twice");
    CHECK(nn_error(ctx) && strstr(nn_error(ctx), "nn_optim_add_param_group: parameter 0 is already in group 0; some parameters "
                                  "appear in more than one parameter group"), "message %s", ERRS(ctx));
    nn_clear_error(ctx);
    twice[0] = p[2];
    twice[1] = p[2];
    CHECK(nn_optim_add_param_group(o, twice, 2, 0.01, NAN) == -1, "a group with p[2] twice accepted");
    CHECK(nn_error(ctx) && strstr(nn_error(ctx), "parameter 1 is parameter 0 again"), "message %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(o->ngroups == 1, "%d groups after the refusals", o->ngroups);
    end();
    nn_optim_free(o);
    for (k = 0; k < 3; k++) nn_free(p[k]);
}

static void test_optim_group_values(nn_ctx *ctx) {
    nn_tensor *p[3];
    nn_adam_opts ao = nn_adamw_opts_default();
    nn_optim *o;
    int k;
    for (k = 0; k < 3; k++) p[k] = opt_param(ctx);
    begin("optim: add_param_group takes lr and weight_decay verbatim, NAN meaning the constructor's; bad values named");
    ao.lr = 0.02;
    o = nn_adamw(p, 1, ao);
    CHECK(nn_optim_add_param_group(o, &p[1], 1, NAN, NAN) == 1, "%s", ERRS(ctx));
    CHECK(nn_optim_add_param_group(o, &p[2], 1, 0.0, 0.0) == 2, "%s", ERRS(ctx));
    CHECK(o->groups[1].lr == 0.02 && o->groups[1].weight_decay == 0.01, "NAN: lr %g weight_decay %g", o->groups[1].lr,
          o->groups[1].weight_decay);
    CHECK(o->groups[2].lr == 0.0 && o->groups[2].weight_decay == 0.0, "0: lr %g weight_decay %g", o->groups[2].lr,
          o->groups[2].weight_decay);
    nn_optim_free(o);
    o = nn_sgd(p, 1, nn_sgd_opts_default(0.1));
    CHECK(nn_optim_add_param_group(o, &p[2], 1, -1.0, NAN) == -1 && strstr(ERRS(ctx), "nn_optim_add_param_group: lr is -1"),
          "lr -1: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(nn_optim_add_param_group(o, &p[2], 1, 0.01, INFINITY) == -1 && strstr(ERRS(ctx), "weight_decay is inf"),
          "weight_decay inf: %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(isnan(nn_optim_lr(o, 5)) && strstr(ERRS(ctx), "nn_optim_lr: group 5 does not exist"), "nn_optim_lr(o, 5): %s", ERRS(ctx));
    nn_clear_error(ctx);
    nn_optim_set_lr(o, 0, NAN);
    CHECK(nn_optim_lr(o, 0) == 0.1 && strstr(ERRS(ctx), "nn_optim_set_lr: lr is nan"), "set_lr(NAN): %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    nn_optim_free(o);
    for (k = 0; k < 3; k++) nn_free(p[k]);
}

static void test_optim_many_groups(nn_ctx *ctx) {
    nn_tensor *p[24];
    nn_optim *o;
    nn_scheduler *s;
    int k, g;
    for (k = 0; k < 24; k++) p[k] = opt_param(ctx);
    begin("optim: 24 param groups (16 was a fixed cap), each with its own lr, scheduled together");
    o = nn_sgd(p, 1, nn_sgd_opts_default(0.01));
    for (g = 1; g < 24; g++) CHECK(nn_optim_add_param_group(o, &p[g], 1, 0.01 * (g + 1), NAN) == g, "group %d: %s", g, ERRS(ctx));
    s = nn_step_lr(o, 1, 0.5);
    for (k = 0; k < 24; k++) nn_fill_(p[k]->grad, 1.0f);
    nn_optim_step(o);
    for (g = 0; g < 24 && !g_case_failed; g++) {
        double want = 0.5 - 0.01 * (g + 1);
        CHECK(fabs(nn_f32(p[g])[0] - want) < 1e-6, "group %d: p %.9g, expected %.9g", g, nn_f32(p[g])[0], want);
    }
    nn_scheduler_step(s);
    CHECK(nn_scheduler_last_lr(s, 23) == 0.24 * 0.5, "group 23 lr %g after one StepLR step", nn_scheduler_last_lr(s, 23));
    end();
    nn_scheduler_free(s);
    nn_optim_free(o);
    for (k = 0; k < 24; k++) nn_free(p[k]);
}

/* lr after each step of a scheduler over SGD(lr=0.1), against torch 1.13's param_groups[0]['lr'] */
static void check_lrs(nn_optim *o, nn_scheduler *s, const double *want, int n, const float *metrics) {
    int t;
    CHECK(s != NULL, "no scheduler");
    for (t = 0; t < n && s; t++) {
        double got = nn_optim_lr(o, 0);
        CHECK(fabs(got - want[t]) <= 1e-12 + 1e-12 * fabs(want[t]), "after %d steps: lr %.17g, PyTorch %.17g", t, got, want[t]);
        if (metrics) nn_scheduler_step_metric(s, metrics[t]);
        else nn_scheduler_step(s);
    }
}
static nn_tensor *sched_param(nn_ctx *ctx) {
    int64_t one = 1;
    return nn_set_requires_grad(nn_zeros(ctx, 1, &one), 1);
}

static void test_sched_plateau_patience0(nn_ctx *ctx) {
    /* torch: ReduceLROnPlateau(SGD([p], lr=0.1), patience=0).step(m) for m in 1, 2, 0.5, 0.6 */
    static const float metrics[4] = { 1.0f, 2.0f, 0.5f, 0.6f };
    static const double want[5] = { 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002 };
    nn_tensor *w = sched_param(ctx);
    nn_plateau_opts po = nn_plateau_opts_default();
    nn_optim *o = nn_sgd(&w, 1, nn_sgd_opts_default(0.1));
    nn_scheduler *s;
    begin("sched: ReduceLROnPlateau(patience=0) reduces on the first bad epoch (0 meant 10)");
    po.patience = 0;
    s = nn_reduce_lr_on_plateau(o, po);
    check_lrs(o, s, want, 4, metrics);
    CHECK(fabs(nn_optim_lr(o, 0) - want[4]) < 1e-15, "final lr %.17g", nn_optim_lr(o, 0));
    end();
    nn_scheduler_free(s); nn_optim_free(o); nn_free(w);
}

static void test_sched_linear_to_zero(nn_ctx *ctx) {
    /* torch: LinearLR(SGD([p], lr=0.1), start_factor=1.0, end_factor=0.0, total_iters=4) */
    static const double want[7] = { 0.1, 0.07500000000000001, 0.05000000000000001, 0.025000000000000005, 0.0, 0.0, 0.0 };
    nn_tensor *w = sched_param(ctx);
    nn_optim *o = nn_sgd(&w, 1, nn_sgd_opts_default(0.1));
    nn_scheduler *s;
    begin("sched: LinearLR(start_factor=1, end_factor=0, total_iters=4) reaches lr 0 (0 meant 1)");
    s = nn_linear_lr(o, 1.0, 0.0, 4);
    check_lrs(o, s, want, 7, NULL);
    end();
    nn_scheduler_free(s); nn_optim_free(o); nn_free(w);
}

static void test_sched_initial_lr(nn_ctx *ctx) {
    /* torch: o = SGD([p], lr=0.1); o.param_groups[0]['lr'] = 0.2; CosineAnnealingLR(o, 10), 12 steps */
    static const double want[13] = { 0.2, 0.19510565162951538, 0.18090169943749476, 0.15877852522924735,
        0.13090169943749477, 0.10000000000000002, 0.06909830056250528, 0.041221474770752706, 0.01909830056250527,
        0.004894348370484648, 0.0, 0.004894348370484647, 0.019098300562505333 };
    nn_tensor *w = sched_param(ctx);
    nn_optim *o = nn_sgd(&w, 1, nn_sgd_opts_default(0.1));
    nn_scheduler *s;
    begin("sched: a scheduler's base lr is the lr when it is made (PyTorch's setdefault('initial_lr'))");
    nn_optim_set_lr(o, 0, 0.2);
    s = nn_cosine_annealing_lr(o, 10, 0.0);
    check_lrs(o, s, want, 13, NULL);
    end();
    nn_scheduler_free(s); nn_optim_free(o); nn_free(w);
}

static void test_sched_many_milestones(nn_ctx *ctx) {
    int64_t ms[100];
    nn_tensor *w = sched_param(ctx);
    nn_optim *o = nn_sgd(&w, 1, nn_sgd_opts_default(0.1));
    nn_scheduler *s;
    double want = 0.1 * pow(0.9, 100);
    int k;
    begin("sched: MultiStepLR with 100 milestones (64 was a fixed cap)");
    for (k = 0; k < 100; k++) ms[k] = k + 1;
    s = nn_multi_step_lr(o, ms, 100, 0.9);
    CHECK(s != NULL, "refused: %s", ERRS(ctx));
    for (k = 0; k < 120 && s; k++) nn_scheduler_step(s);
    CHECK(fabs(nn_optim_lr(o, 0) - want) <= 1e-12 * want, "lr %.17g after 120 steps, expected %.17g", nn_optim_lr(o, 0), want);
    end();
    nn_scheduler_free(s); nn_optim_free(o); nn_free(w);
}

static void test_sched_one_cycle_errors(nn_ctx *ctx) {
    nn_tensor *w = sched_param(ctx), *v = sched_param(ctx);
    nn_optim *o = nn_sgd(&w, 1, nn_sgd_opts_default(0.1));
    nn_scheduler *s = nn_one_cycle_lr(o, 1.0, 3, nn_one_cycle_opts_default());
    int k;
    begin("sched: OneCycleLR past total_steps is an error naming it");
    for (k = 0; k < 3; k++) nn_scheduler_step(s);                  /* PyTorch allows last_epoch == total_steps */
    CHECK(nn_error(ctx) == NULL, "error at step 3 of 3: %s", ERRS(ctx));
    nn_scheduler_step(s);
    CHECK(nn_error(ctx) && strstr(nn_error(ctx), "OneCycleLR tried to step 5 times (the constructor's step counts); "
                                  "total_steps is 3"), "message %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    nn_scheduler_free(s); nn_optim_free(o);
    begin("sched: OneCycleLR refuses to step a param group added after it (PyTorch: KeyError 'max_lr')");
    o = nn_sgd(&w, 1, nn_sgd_opts_default(0.1));
    s = nn_one_cycle_lr(o, 1.0, 10, nn_one_cycle_opts_default());
    CHECK(nn_optim_add_param_group(o, &v, 1, 0.1, NAN) == 1, "%s", ERRS(ctx));
    nn_scheduler_step(s);
    CHECK(nn_error(ctx) && strstr(nn_error(ctx), "OneCycleLR was made for 1 param groups and the optimizer now has 2"),
          "message %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    nn_scheduler_free(s); nn_optim_free(o); nn_free(w); nn_free(v);
}

/* test_nn.c lists two entries, "optim/trajectories" and "optim/step_lr_table"; each runs its side's cases */
typedef void (*optim_case_fn)(nn_ctx *ctx);
/* A step that would write NaN or inf is refused and changes nothing (parameters, state, counters);
   the next good step gives exactly what a run without the bad one gives. On every kernel set (the
   bad element sits in the vector part: 37 elements, element 21), with the skip policy (no error),
   for an overflow from finite gradients, and while the context holds an error. */
#define NF_N 37
#define NF_BAD 21
static nn_tensor *nf_param(nn_ctx *ctx) {
    int64_t n = NF_N; int i;
    nn_tensor *p = nn_zeros(ctx, 1, &n);
    for (i = 0; i < NF_N; i++) nn_f32(p)[i] = 0.1f * (float)(i % 7) - 0.3f;
    nn_set_requires_grad(p, 1);
    p->grad = nn_zeros_like(p);
    return p;
}
static nn_optim *nf_make(int kind, nn_tensor *p) {
    nn_sgd_opts so = nn_sgd_opts_default(0.1); nn_adam_opts ao = nn_adam_opts_default();
    nn_rmsprop_opts ro = nn_rmsprop_opts_default(); nn_adagrad_opts go = nn_adagrad_opts_default();
    so.momentum = 0.9; ao.amsgrad = 1; ro.momentum = 0.5; ro.centered = 1;
    switch (kind) {
    case 0: return nn_sgd(&p, 1, so);
    case 1: return nn_adam(&p, 1, ao);
    case 2: return nn_adamw(&p, 1, nn_adamw_opts_default());
    case 3: return nn_rmsprop(&p, 1, ro);
    default: return nn_adagrad(&p, 1, go);
    }
}
static void nf_grad(nn_tensor *p, float a, float b) {
    int i;
    for (i = 0; i < NF_N; i++) nn_f32(p->grad)[i] = i == NF_BAD ? b : a * (float)(i % 5 + 1);
}
static int nf_same_state(const nn_optim *a, const nn_optim *b) {
    int s;
    if (a->groups[0].step[0] != b->groups[0].step[0]) return 0;
    for (s = 0; s < 3; s++) {
        const nn_tensor *x = a->groups[0].state[s], *y = b->groups[0].state[s];
        if (!x != !y || (x && memcmp(nn_f32(x), nn_f32(y), NF_N * sizeof(float)))) return 0;
    }
    return 1;
}
static void test_optim_nonfinite(nn_ctx *ctx) {
    static const char *names[5] = { "SGD", "Adam", "AdamW", "RMSprop", "Adagrad" };
    static const char *caps[3] = { "default", "avx2", "avx512" };
    const char *best = nn_get_cpu_capability();
    int kind, first, c;
    nn_set_logger(ctx, capture_log, NULL);     /* the refusals and warnings are read from g_log */
    for (c = 0; c < 3; c++) {
        if (!nn_set_cpu_capability(ctx, caps[c])) { nn_clear_error(ctx); continue; }
        for (kind = 0; kind < 5; kind++) for (first = 0; first < 2; first++) {
            nn_tensor *p = nf_param(ctx), *q = nf_param(ctx);
            nn_optim *o = nf_make(kind, p), *ref = nf_make(kind, q);
            float before[NF_N]; char label[200], want[160];
            snprintf(label, sizeof label, "optim [%s]: %s refuses a NaN gradient %s; nothing changes, the next step is a clean run's",
                     caps[c], names[kind], first ? "at the first step" : "after two steps");
            begin(label);
            if (!first) {
                int t;
                for (t = 0; t < 2; t++) {
                    nf_grad(p, 0.5f, -1.0f); nf_grad(q, 0.5f, -1.0f);
                    CHECK(nn_optim_step(o) == 1 && nn_optim_step(ref) == 1, "good step %d: %s", t, ERRS(ctx));
                }
            }
            memcpy(before, nn_f32(p), sizeof before);
            nf_grad(p, 0.5f, first ? INFINITY : NAN);
            CHECK(nn_optim_step(o) == 0, "a non-finite gradient was applied");
            snprintf(want, sizeof want, "nn_optim_step: refused: parameter 0 (%d,) of group 0 would become NaN or infinite at element %d",
                     NF_N, NF_BAD);
            CHECK(strstr(ERRS(ctx), want) && strstr(ERRS(ctx), first ? "gradient there is inf" : "gradient there is nan"),
                  "error: %s", ERRS(ctx));
            CHECK(memcmp(before, nn_f32(p), sizeof before) == 0, "the parameter changed");
            CHECK(nf_same_state(o, ref), "the state or step counter changed (step %lld, reference %lld)",
                  (long long)o->groups[0].step[0], (long long)ref->groups[0].step[0]);
            nn_clear_error(ctx);
            nf_grad(p, 0.25f, 2.0f); nf_grad(q, 0.25f, 2.0f);
            CHECK(nn_optim_step(o) == 1 && nn_optim_step(ref) == 1, "good step after: %s", ERRS(ctx));
            CHECK(memcmp(nn_f32(p), nn_f32(q), NF_N * sizeof(float)) == 0 && nf_same_state(o, ref),
                  "after the refused step the run differs from one without it: %g vs %g", nn_f32(p)[0], nn_f32(q)[0]);
            end();
            nn_optim_free(o); nn_optim_free(ref); nn_free(p); nn_free(q);
        }
    }
    nn_set_cpu_capability(ctx, best);
    {   /* an overflow from a finite gradient; the skip policy; a context holding an error */
        nn_tensor *p = nf_param(ctx);
        nn_optim *o = nn_sgd(&p, 1, nn_sgd_opts_default(1e30));
        nn_scheduler *s = nn_step_lr(o, 1, 0.5);
        float before[NF_N];
        begin("optim: a finite gradient that overflows a parameter is refused; skip policy; refused while an error is held");
        memcpy(before, nn_f32(p), sizeof before);
        nf_grad(p, 0.0f, 1e10f);
        CHECK(nn_optim_step(o) == 0 && strstr(ERRS(ctx), "would become NaN or infinite at element 21 (its gradient there is 1e+10)"),
              "overflow: %s", ERRS(ctx));
        CHECK(memcmp(before, nn_f32(p), sizeof before) == 0 && o->groups[0].step[0] == 0, "the overflowing step changed p or step");
        nn_scheduler_step(s);
        CHECK(nn_optim_lr(o, 0) == 1e30, "the scheduler stepped while the context held an error: lr %g", nn_optim_lr(o, 0));
        nf_grad(p, 0.0f, 0.0f);        /* a harmless gradient: still refused while the error is held */
        CHECK(nn_optim_step(o) == 0 && strstr(g_log, "nn_optim_step: refused: the context holds an error"), "log: %s", g_log);
        CHECK(memcmp(before, nn_f32(p), sizeof before) == 0 && o->groups[0].step[0] == 0, "a step was taken while the context held an error");
        nn_clear_error(ctx);
        nn_optim_set_skip_nonfinite(o, 1);
        nf_grad(p, 0.0f, 1e10f);
        CHECK(nn_optim_step(o) == 0 && nn_error(ctx) == NULL && nn_optim_skipped_steps(o) == 1,
              "skip policy: error %s, skipped %lld", ERRS(ctx), (long long)nn_optim_skipped_steps(o));
        CHECK(strstr(g_log, "warning: nn_optim_step: skipped: parameter 0 of group 0"), "skip warning: %s", g_log);
        nf_grad(p, 0.0f, 0.0f);
        CHECK(nn_optim_step(o) == 1 && o->groups[0].step[0] == 1 && memcmp(before, nn_f32(p), sizeof before) == 0,
              "a zero-gradient step after a skip: %s", ERRS(ctx));
        nn_scheduler_step(s);
        CHECK(nn_optim_lr(o, 0) == 5e29, "the scheduler after clearing: lr %g", nn_optim_lr(o, 0));
        nn_optim_set_skip_nonfinite(o, 2);
        CHECK(strstr(ERRS(ctx), "nn_optim_set_skip_nonfinite: skip is 2"), "skip 2: %s", ERRS(ctx));
        nn_clear_error(ctx);
        end();
        nn_scheduler_free(s); nn_optim_free(o); nn_free(p);
    }
}

/* A momentum a scheduler sets to 0 leaves SGD's buffer unread (PyTorch: `if momentum != 0`):
   the step is p -= lr d, not p -= lr (1 - dampening) d through the old buffer */
static void test_optim_momentum_to_zero(nn_ctx *ctx) {
    nn_tensor *p = nf_param(ctx);
    nn_sgd_opts so = nn_sgd_opts_default(0.5);
    nn_optim *o;
    float before[NF_N];
    int i, bad = 0;
    so.momentum = 0.9; so.dampening = 0.5;
    o = nn_sgd(&p, 1, so);
    begin("optim: SGD whose momentum became 0 (OneCycleLR's cycle_momentum can) ignores its old buffer");
    nf_grad(p, 0.5f, 1.0f);
    CHECK(nn_optim_step(o) == 1, "%s", ERRS(ctx));
    o->groups[0].momentum = 0.0;
    memcpy(before, nn_f32(p), sizeof before);
    CHECK(nn_optim_step(o) == 1, "%s", ERRS(ctx));
    for (i = 0; i < NF_N; i++) if (nn_f32(p)[i] != before[i] - 0.5f * nn_f32(p->grad)[i]) bad++;
    CHECK(bad == 0, "%d elements are not p - lr g (element 0: %g, expected %g)", bad, nn_f32(p)[0],
          before[0] - 0.5f * nn_f32(p->grad)[0]);
    end();
    nn_optim_free(o); nn_free(p);
}

/* A refused step frees only the state it made itself: Adam holding exp_avg (as a checkpoint
   without exp_avg_sq leaves it) keeps it when the step that would make exp_avg_sq is refused */
static void test_optim_refused_keeps_old_state(nn_ctx *ctx) {
    nn_tensor *p = nf_param(ctx);
    nn_optim *o = nn_adam(&p, 1, nn_adam_opts_default());
    int64_t n = NF_N;
    nn_tensor *m = nn_full(ctx, 1, &n, 0.25f);
    begin("optim: a refused step frees the state it created, not the state that was there");
    o->groups[0].state[0] = m;
    nf_grad(p, 0.5f, NAN);
    CHECK(nn_optim_step(o) == 0, "a NaN gradient was applied");
    CHECK(o->groups[0].state[0] == m && nn_f32(m)[3] == 0.25f, "the existing exp_avg was freed or changed");
    CHECK(o->groups[0].state[1] == NULL, "the exp_avg_sq the refused step made was kept");
    nn_clear_error(ctx);
    end();
    nn_optim_free(o); nn_free(p);
}

static const optim_case_fn g_optim_cases[] = {
    test_optim_trajectories, test_optim_options, test_optim_equivalences, test_optim_invalid, test_optim_bad_count,
    test_optim_duplicates, test_optim_group_values, test_optim_many_groups, test_optim_nonfinite,
    test_optim_momentum_to_zero, test_optim_refused_keeps_old_state,
};
static const optim_case_fn g_sched_cases[] = {
    test_step_lr_seed000, test_sched_plateau_patience0, test_sched_linear_to_zero, test_sched_initial_lr,
    test_sched_many_milestones, test_sched_one_cycle_errors,
};
static void test_optimizers(nn_ctx *ctx) {
    size_t i;
    for (i = 0; i < sizeof g_optim_cases / sizeof g_optim_cases[0]; i++) g_optim_cases[i](ctx);
}
static void test_step_lr_table(nn_ctx *ctx) {
    size_t i;
    for (i = 0; i < sizeof g_sched_cases / sizeof g_sched_cases[0]; i++) g_sched_cases[i](ctx);
}
