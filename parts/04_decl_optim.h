
/* ==== optimizers (torch.optim) ==== */

/* Options follow one rule: nn_x_opts_default() returns PyTorch's defaults, and every field holds
   PyTorch's value verbatim (0 means 0). Numbers are double, as Python's floats, so 0.999 is 0.999
   (the update itself runs in float). Set what you need and pass the struct:
       nn_adam_opts o = nn_adamw_opts_default();
       o.lr = 3e-4; o.weight_decay = 0.0;
       nn_optim *opt = nn_adamw(params, n, o);
   Invalid values (NaN or infinite numbers, a negative lr/eps/weight_decay/momentum, betas outside
   [0, 1), nesterov without momentum or with dampening) are refused: the constructor returns NULL
   and the context's error names the option and its value.
   The optimizer keeps its own copy of params (the array, not the tensors: free them after the
   optimizer). Errors in the arguments are reported to the context of the parameters; with
   params NULL or n == 0 there is no tensor to find a context in, and the message goes to stderr
   (n < 0 is reported to params[0]'s context when params[0] is a tensor). */

typedef struct nn_optim nn_optim;
/* torch.optim.SGD(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False) */
typedef struct nn_sgd_opts {
    double lr, momentum, dampening, weight_decay;
    int nesterov, maximize;
} nn_sgd_opts;
/* torch.optim.Adam / AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0 (AdamW: 1e-2),
   amsgrad=False, maximize=False) */
typedef struct nn_adam_opts {
    double lr, betas[2], eps, weight_decay;
    int amsgrad, maximize;
} nn_adam_opts;
/* torch.optim.RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False) */
typedef struct nn_rmsprop_opts {
    double lr, alpha, eps, weight_decay, momentum;
    int centered, maximize;
} nn_rmsprop_opts;
/* torch.optim.Adagrad(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, maximize=False) */
typedef struct nn_adagrad_opts {
    double lr, lr_decay, weight_decay, initial_accumulator_value, eps;
    int maximize;
} nn_adagrad_opts;

NN_API nn_sgd_opts nn_sgd_opts_default(double lr);       /* SGD has no default lr: give it */
NN_API nn_adam_opts nn_adam_opts_default(void);         /* Adam's defaults (weight_decay 0) */
NN_API nn_adam_opts nn_adamw_opts_default(void);        /* AdamW's defaults (weight_decay 1e-2) */
NN_API nn_rmsprop_opts nn_rmsprop_opts_default(void);
NN_API nn_adagrad_opts nn_adagrad_opts_default(void);

/* Each returns a new optimizer over params[0..n-1] (one param group), or NULL with an error. */
NN_API nn_optim *nn_sgd(nn_tensor **params, int n, nn_sgd_opts o);
NN_API nn_optim *nn_adam(nn_tensor **params, int n, nn_adam_opts o);
NN_API nn_optim *nn_adamw(nn_tensor **params, int n, nn_adam_opts o);   /* decoupled weight decay */
NN_API nn_optim *nn_rmsprop(nn_tensor **params, int n, nn_rmsprop_opts o);
NN_API nn_optim *nn_adagrad(nn_tensor **params, int n, nn_adagrad_opts o);
/* optimizer.add_param_group({'params': ..., 'lr': lr, 'weight_decay': weight_decay}); returns the group's
   index, or -1 with an error. lr and weight_decay are taken verbatim; NAN (math.h) means "not given":
   the group takes the value given to the constructor, as PyTorch's omitted keys do. Every other option
   (momentum, betas, eps, ...) is the constructor's. A parameter already in a group, or listed twice, is
   refused. No limit on the number of groups. */
NN_API int nn_optim_add_param_group(nn_optim *o, nn_tensor **params, int n, double lr, double weight_decay);
NN_API void nn_optim_step(nn_optim *o);                 /* optimizer.step(); parameters with no grad are skipped */
NN_API void nn_optim_zero_grad(nn_optim *o);            /* optimizer.zero_grad() (zeros, not None) */
NN_API double nn_optim_lr(const nn_optim *o, int group); /* param_groups[group]['lr']; NAN and an error if none */
NN_API void nn_optim_set_lr(nn_optim *o, int group, double lr); /* param_groups[group]['lr'] = lr (lr finite, >= 0) */
NN_API void nn_optim_free(nn_optim *o);                 /* frees the optimizer and its state, not the parameters */
/* torch.nn.utils.clip_grad_norm_ (norm_type 2, or INFINITY) and clip_grad_value_; returns the total norm */
NN_API float nn_clip_grad_norm(nn_tensor **params, int n, float max_norm, float norm_type);
NN_API void nn_clip_grad_value(nn_tensor **params, int n, float clip_value);

/* ==== schedulers (torch.optim.lr_scheduler) ==== */

/* A scheduler changes its optimizer's lr (and OneCycleLR its momentum); free it before the
   optimizer. Constructors take PyTorch's arguments in PyTorch's order, verbatim, and make the
   first step as PyTorch's do (so the lr is the epoch-0 lr at once). Invalid values are refused
   with NULL and an error naming the option; a NULL optimizer (an earlier failure) gives NULL.
   Beyond PyTorch's own checks, nn.h refuses what PyTorch accepts and then fails on or silently
   misuses: NaN/inf numbers, step_size or T_max <= 0, div_factor or final_div_factor <= 0,
   max_lr < 0, factor < 0, negative patience, cooldown or total_iters, decreasing milestones. */
typedef struct nn_scheduler nn_scheduler;

typedef enum nn_anneal_strategy { NN_ANNEAL_COS, NN_ANNEAL_LINEAR } nn_anneal_strategy; /* 'cos', 'linear' */
/* torch.optim.lr_scheduler.OneCycleLR(..., pct_start=0.3, anneal_strategy='cos', cycle_momentum=True,
   base_momentum=0.85, max_momentum=0.95, div_factor=25, final_div_factor=1e4, three_phase=False) */
typedef struct nn_one_cycle_opts {
    double pct_start;
    nn_anneal_strategy anneal_strategy;
    int cycle_momentum;
    double base_momentum, max_momentum, div_factor, final_div_factor;
    int three_phase;
} nn_one_cycle_opts;

typedef enum nn_plateau_mode { NN_MODE_MIN, NN_MODE_MAX } nn_plateau_mode;                /* 'min', 'max' */
typedef enum nn_threshold_mode { NN_THRESHOLD_REL, NN_THRESHOLD_ABS } nn_threshold_mode;  /* 'rel', 'abs' */
/* torch.optim.lr_scheduler.ReduceLROnPlateau(mode='min', factor=0.1, patience=10, threshold=1e-4,
   threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8) */
typedef struct nn_plateau_opts {
    nn_plateau_mode mode;
    double factor;
    int64_t patience;
    double threshold;
    nn_threshold_mode threshold_mode;
    int64_t cooldown;
    double min_lr, eps;
} nn_plateau_opts;

NN_API nn_one_cycle_opts nn_one_cycle_opts_default(void);
NN_API nn_plateau_opts nn_plateau_opts_default(void);

/* StepLR(step_size, gamma): step_size > 0 */
NN_API nn_scheduler *nn_step_lr(nn_optim *o, int64_t step_size, double gamma);
/* MultiStepLR(milestones, gamma): n >= 0 milestones in increasing order (a repeated one multiplies twice) */
NN_API nn_scheduler *nn_multi_step_lr(nn_optim *o, const int64_t *milestones, int n, double gamma);
NN_API nn_scheduler *nn_exponential_lr(nn_optim *o, double gamma);                    /* ExponentialLR(gamma) */
NN_API nn_scheduler *nn_cosine_annealing_lr(nn_optim *o, int64_t T_max, double eta_min); /* T_max > 0 */
/* LinearLR(start_factor, end_factor, total_iters); PyTorch's defaults are 1/3, 1, 5. start_factor in (0, 1],
   end_factor in [0, 1], total_iters >= 0 */
NN_API nn_scheduler *nn_linear_lr(nn_optim *o, double start_factor, double end_factor, int64_t total_iters);
/* OneCycleLR(max_lr, total_steps, ...): total_steps > 0; cycle_momentum needs SGD, Adam(W) or RMSprop */
NN_API nn_scheduler *nn_one_cycle_lr(nn_optim *o, double max_lr, int64_t total_steps, nn_one_cycle_opts opts);
NN_API nn_scheduler *nn_reduce_lr_on_plateau(nn_optim *o, nn_plateau_opts opts); /* factor in [0, 1) */
NN_API void nn_scheduler_step(nn_scheduler *s);                    /* scheduler.step() */
NN_API void nn_scheduler_step_metric(nn_scheduler *s, float metric); /* ReduceLROnPlateau.step(metric) */
NN_API double nn_scheduler_last_lr(const nn_scheduler *s, int group); /* get_last_lr()[group] */
NN_API void nn_scheduler_free(nn_scheduler *s);
