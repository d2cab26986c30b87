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

static void test_step_lr_table(nn_ctx *ctx) {
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

