/* ==== optimizers (torch.optim) ==== */

typedef struct nn_optim nn_optim;
/* zero means PyTorch's default; SGD has no default lr and needs one */
typedef struct nn_sgd_opts { float lr, momentum, dampening, weight_decay; int nesterov; } nn_sgd_opts;
/* lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8; AdamW's weight_decay 0 means 0.01 */
typedef struct nn_adam_opts { float lr, beta1, beta2, eps, weight_decay; int amsgrad; } nn_adam_opts;
/* lr 1e-2, alpha 0.99, eps 1e-8 */
typedef struct nn_rmsprop_opts { float lr, alpha, eps, weight_decay, momentum; int centered; } nn_rmsprop_opts;
/* lr 1e-2, eps 1e-10 */
typedef struct nn_adagrad_opts { float lr, lr_decay, weight_decay, initial_accumulator_value, eps; } nn_adagrad_opts;

NN_API nn_optim *nn_sgd(nn_tensor **params, int n, nn_sgd_opts o);
NN_API nn_optim *nn_adam(nn_tensor **params, int n, nn_adam_opts o);
NN_API nn_optim *nn_adamw(nn_tensor **params, int n, nn_adam_opts o);
NN_API nn_optim *nn_rmsprop(nn_tensor **params, int n, nn_rmsprop_opts o);
NN_API nn_optim *nn_adagrad(nn_tensor **params, int n, nn_adagrad_opts o);
NN_API int nn_optim_add_param_group(nn_optim *o, nn_tensor **params, int n, float lr, float weight_decay); /* group index or -1 */
NN_API void nn_optim_step(nn_optim *o);                 /* optimizer.step() */
NN_API void nn_optim_zero_grad(nn_optim *o);            /* optimizer.zero_grad() (zeros, not None) */
NN_API double nn_optim_lr(const nn_optim *o, int group);
NN_API void nn_optim_set_lr(nn_optim *o, int group, double lr);
NN_API void nn_optim_free(nn_optim *o);
/* torch.nn.utils.clip_grad_norm_ (norm_type 2, or INFINITY) and clip_grad_value_; returns the total norm */
NN_API float nn_clip_grad_norm(nn_tensor **params, int n, float max_norm, float norm_type);
NN_API void nn_clip_grad_value(nn_tensor **params, int n, float clip_value);

/* ==== schedulers (torch.optim.lr_scheduler) ==== */

typedef struct nn_scheduler nn_scheduler;
/* pct_start 0.3, div_factor 25, final_div_factor 1e4, base_momentum 0.85, max_momentum 0.95;
   anneal_linear is anneal_strategy='linear'; no_cycle_momentum is cycle_momentum=False */
typedef struct nn_one_cycle_opts {
    float pct_start, div_factor, final_div_factor, base_momentum, max_momentum;
    int anneal_linear, three_phase, no_cycle_momentum;
} nn_one_cycle_opts;
/* factor 0.1, patience 10, threshold 1e-4, eps 1e-8; mode_max is mode='max';
   threshold_abs is threshold_mode='abs' */
typedef struct nn_plateau_opts {
    int mode_max, threshold_abs, patience, cooldown;
    float factor, threshold, min_lr, eps;
} nn_plateau_opts;

NN_API nn_scheduler *nn_step_lr(nn_optim *o, int64_t step_size, float gamma);           /* gamma 0 means 0.1 */
NN_API nn_scheduler *nn_multi_step_lr(nn_optim *o, const int64_t *milestones, int n, float gamma);
NN_API nn_scheduler *nn_exponential_lr(nn_optim *o, float gamma);
NN_API nn_scheduler *nn_cosine_annealing_lr(nn_optim *o, int64_t t_max, float eta_min);
NN_API nn_scheduler *nn_linear_lr(nn_optim *o, float start_factor, float end_factor, int64_t total_iters); /* 0s mean 1/3, 1, 5 */
NN_API nn_scheduler *nn_one_cycle_lr(nn_optim *o, float max_lr, int64_t total_steps, nn_one_cycle_opts opts);
NN_API nn_scheduler *nn_reduce_lr_on_plateau(nn_optim *o, nn_plateau_opts opts);
NN_API void nn_scheduler_step(nn_scheduler *s);                    /* scheduler.step() */
NN_API void nn_scheduler_step_metric(nn_scheduler *s, float metric); /* ReduceLROnPlateau.step(metric) */
NN_API double nn_scheduler_last_lr(const nn_scheduler *s, int group);
NN_API void nn_scheduler_free(nn_scheduler *s);

