#!/usr/bin/env python3
"""Writes a C test that calls every public function of nn.h with bad arguments.

    python3 tests/gen_badcalls.py nn.h build/test_badcalls.c

It reads every NN_API declaration before the implementation banner of nn.h and, for each
function and each parameter, emits calls with one bad value in that parameter while the
others hold valid values. The bad values come from the parameter's type (NULL for pointers;
-1, 0, INT_MAX, INT_MIN for ints; NaN, +Inf, -Inf, -1 for floats; out-of-range enums; each
numeric field of an options struct set bad in turn; shapes that are negative or whose product
overflows). The valid values come from the TYPES table (a fixture built fresh for every call).
A parameter type that the table lacks stops the generator with a message naming the function:
a new function cannot be forgotten.

What the generated test asserts, per call (each batch of calls runs in a forked child under
ASan + UBSan, a batch that fails is re-run one call per child to name the call):
  (a) no crash, no sanitizer report, no leak (LSan at the child's exit);
  (b) no hang (an alarm per call; runaway output is cut at 64 MiB and counts as a hang);
  (c) a NULL for a required pointer (or a NULL entry in a pointer array), a NaN/infinity for a
      number, an out-of-range enum, a value past a documented limit (EXTRA_BAD) or an options
      field in MUST_REFUSE, with a context reachable from another argument: the context holds an
      error whose text starts with the function's name. Transforms take no context: each one
      made with a bad value is applied, and for NaN/inf and TRANSFORM_REFUSE the error of
      nn_apply_transforms must name the constructor.
      The allowlists below say where NULL or a non-finite number is a documented value.
Functions taking no argument are called once. Free functions get only NULL (their one argument).
Standard library only.
"""
import re
import sys

# ---- what is skipped, and why ----

# Only in a build with -DNN_MPI (the test runs the plain build, a world of one process).
MPI_ONLY = {"nn_dist_new_comm"}

# ---- allowlists (fn, param): where NULL is documented as allowed (no error expected) ----
NULL_OK = {
    ("nn_set_logger", "fn"): "NULL fn: silent",
    ("nn_use_buffer", "buf"): "NULL and 0: back to the heap",
    ("nn_set_logger", "user"): "the logger's own pointer",
    ("nn_module_new", "type"): '"Module" when NULL',
    ("nn_module_new_n", "type"): '"Module" when NULL',
    ("nn_module_new", "forward"): "a holder of parameters that is never called",
    ("nn_module_new_n", "forward"): "a holder of parameters that is never called",
    ("nn_module_new", "user"): "yours, never read",
    ("nn_module_new_n", "user"): "yours, never read",
    ("nn_linear", "bias"): "bias or NULL",
    ("nn_conv2d", "bias"): "bias or NULL",
    ("nn_conv_transpose2d", "bias"): "bias or NULL",
    ("nn_batch_norm", "running_mean"): "may be NULL when training",
    ("nn_batch_norm", "running_var"): "may be NULL when training",
    ("nn_batch_norm", "weight"): "affine=False",
    ("nn_batch_norm", "bias"): "affine=False",
    ("nn_layer_norm", "weight"): "weight and bias may be NULL",
    ("nn_layer_norm", "bias"): "weight and bias may be NULL",
    ("nn_bce_loss", "weight"): "weight or NULL",
    ("nn_bce_with_logits", "weight"): "weight or NULL",
    ("nn_bce_with_logits", "pos_weight"): "pos_weight or NULL",
    ("nn_max", "indices"): "optional",
    ("nn_min", "indices"): "optional",
    ("nn_backward", "grad"): "NULL for a one-element t (the error, if any, names nn_backward anyway)",
    ("nn_gradcheck", "max_err"): "may be NULL",
    ("nn_gradcheck", "user"): "yours",
    ("nn_module_parameters", "out"): "may be NULL (count only)",
    ("nn_module_buffers", "out"): "may be NULL (count only)",
    ("nn_module_child_at", "name"): "may be NULL",
    ("nn_forward_n", "out"): "nout may be 0 (out NULL); with nout > 0 an error is expected but not required",
    ("nn_dataset_new", "free_user"): "NULL keeps user yours",
    ("nn_dataset_new", "user"): "yours",
    ("nn_dataset_get", "y"): "NULL for a class dataset",
    ("nn_dataset_get", "label"): "NULL for a dataset with ydim > 0",
    ("nn_apply_transforms", "rng_state"): "NULL for deterministic transforms",
    ("nn_classification_report", "names"): "classes are numbered",
    ("nn_class_scores", "precision"): "any pointer may be NULL",
    ("nn_class_scores", "recall"): "any pointer may be NULL",
    ("nn_class_scores", "f1"): "any pointer may be NULL",
    ("nn_class_scores", "support"): "any pointer may be NULL",
    ("nn_plot_terminal", "title"): "no title",
    ("nn_plot_terminal", "labels"): "no legend",
    ("nn_plot_png", "labels"): "no legend",
    ("nn_progress_begin", "desc"): "no description",
    ("nn_dist_init", "argc"): "argc and argv may be NULL",
    ("nn_dist_init", "argv"): "argc and argv may be NULL",
    ("nn_set_name", "name"): "clears the label",
    ("nn_set_cpu_capability", "name"): "NULL: the best this CPU runs (an error is fine too)",
    ("nn_module_state", "entries"): "NULL: the count only, as nn_module_parameters' out",
    ("nn_dataset_xshape", "shape"): "NULL: xdim only (as it always has been; kept so no caller changes)",
    ("nn_topk", "indices"): "optional",
    ("nn_scaled_dot_product_attention", "attn_mask"): "no mask",
}
# Arrays whose entries may be NULL (a NULL entry is still tried, but no error is expected).
NULLENTRY_OK = {
    ("nn_forward_n", "in"): "in[k] may be NULL for an optional input (PyTorch's None)",
}
# Functions whose NULL argument is a documented no-op (free functions, queries that give 0 for
# NULL): no error is expected, only no crash.
NULL_NOOP_FNS = {
    "nn_ctx_free", "nn_free", "nn_module_free", "nn_optim_free", "nn_scheduler_free", "nn_dataset_free",
    "nn_dataloader_free", "nn_safetensors_close", "nn_dist_free", "nn_ddp_free", "nn_dataset_len",
    "nn_error", "nn_clear_error", "nn_arena_reset", "nn_arena_capacity", "nn_arena_peak", "nn_ddpm_free",
}

# ---- (fn, param): where NaN or infinity is a valid number (no error expected) ----
NONFINITE_OK = {
    ("nn_full", "value"): "torch.full(..., nan) is valid",
    ("nn_fill_", "value"): "t.fill_(nan) is valid",
    ("nn_init_constant_", "value"): "nn.init.constant_(t, nan) is valid",
    ("nn_clamp", "min"): "-INFINITY / INFINITY for no bound (NaN as PyTorch's clamp)",
    ("nn_clamp", "max"): "-INFINITY / INFINITY for no bound (NaN as PyTorch's clamp)",
    ("nn_progress_update", "loss"): "NAN hides the postfix; a diverged loss is shown as it is",
    ("nn_scheduler_step_metric", "metric"): "a NaN metric is never an improvement, as PyTorch",
    ("nn_optim_add_param_group", "lr"): "NAN means 'not given' (an infinity is an error, not checked here)",
    ("nn_optim_add_param_group", "weight_decay"): "NAN means 'not given'",
    ("nn_clip_grad_norm", "norm_type"): "INFINITY is the max norm (NaN is an error, not checked here)",
    ("nn_softplus", "threshold"): "F.softplus(threshold=inf) is valid",
    ("nn_masked_fill", "value"): "masked_fill(mask, -inf) is how attention masks",
    ("nn_scaled_dot_product_attention", "scale"): "NAN means None: 1/sqrt(E)",
}
# Elementwise ops take any float, as torch does with x + nan.
for _f in ("nn_add_scalar", "nn_sub_scalar", "nn_mul_scalar", "nn_div_scalar"):
    NONFINITE_OK[(_f, "s")] = "x + nan is valid"
NONFINITE_OK[("nn_pow_scalar", "exponent")] = "x ** nan is valid"
NONFINITE_OK[("nn_leaky_relu", "negative_slope")] = "any slope, as PyTorch"
NONFINITE_OK[("nn_leaky_relu_new", "negative_slope")] = "any slope, as PyTorch"
# Constructors of transforms take no context: their values are checked when applied (the
# generated test applies every transform it builds and checks for no crash).

# Options fields whose huge values must be refused (their int64 size arithmetic would overflow), not
# only survived: (fn, "field = value").
MUST_REFUSE = {
    ("nn_conv2d", "padding = INT64_MAX"), ("nn_conv2d", "dilation = INT64_MAX"), ("nn_conv2d", "groups = INT64_MAX"),
    ("nn_conv_transpose2d", "stride = INT64_MAX"), ("nn_conv_transpose2d", "padding = INT64_MAX"),
    ("nn_conv_transpose2d", "dilation = INT64_MAX"),
    ("nn_max_pool2d", "padding = INT64_MAX"), ("nn_avg_pool2d", "padding = INT64_MAX"),
    ("nn_max_pool2d", "dilation = INT64_MAX"), ("nn_max_pool2d", "kernel_size = INT64_MAX"),
}
# Transforms take no context: the test applies each one (nn_apply_transforms) and, for these bad values and
# for NaN/inf, expects the error to name the constructor.
TRANSFORM_REFUSE = {("nn_normalize", "NN_NORMALIZE_MAX_CHANNELS + 1"), ("nn_grayscale", "2"), ("nn_grayscale", "-1"),
                    ("nn_grayscale", "0"), ("nn_resize", "-1"), ("nn_resize", "0"), ("nn_resize", "INT64_MAX"),
                    ("nn_random_crop", "INT64_MAX"), ("nn_random_horizontal_flip", "-1"), ("nn_random_rotation", "-1"),
                    ("nn_color_jitter", "-1")}

# (fn, param): an out-of-range enum value that is documented as harmless (no error expected).
ENUM_OK = {}

# Counts of caller arrays with no documented limit: INT_MAX would read past the caller's own
# array, which no library can detect, so only -1, 0 and INT_MIN are tried.
ARRAY_COUNTS = {
    ("nn_cat", "n"), ("nn_stack", "n"), ("nn_sequential_new", "n"), ("nn_forward_n", "nin"), ("nn_forward_n", "nout"),
    ("nn_module_parameters", "max"), ("nn_module_buffers", "max"), ("nn_sgd", "n"), ("nn_adam", "n"),
    ("nn_adamw", "n"), ("nn_rmsprop", "n"), ("nn_adagrad", "n"), ("nn_optim_add_param_group", "n"),
    ("nn_clip_grad_norm", "n"), ("nn_clip_grad_value", "n"), ("nn_multi_step_lr", "n"), ("nn_gradcheck", "n"),
    ("nn_safetensors_save", "n"), ("nn_safetensors_save", "nmeta"), ("nn_apply_transforms", "n"),
    ("nn_confusion_matrix", "n"), ("nn_confusion_matrix", "k"), ("nn_accuracy", "k"),
    ("nn_classification_report", "k"), ("nn_class_scores", "k"), ("nn_print_confusion_matrix", "k"),
    ("nn_plot_terminal", "ncurves"), ("nn_plot_terminal", "n"), ("nn_plot_png", "ncurves"), ("nn_plot_png", "n"),
    ("nn_dist_all_reduce_scalars", "n"), ("nn_classification_report", "size"),
}

# ---- valid values: type -> C expression over the fixture f (then name/function overrides) ----
TYPES = {
    "nn_ctx *": "f->ctx", "const nn_ctx *": "f->ctx",
    "nn_tensor *": "f->t", "const nn_tensor *": "f->t",
    "nn_tensor **": "f->xs", "nn_tensor *const *": "f->xs",
    "nn_module *": "f->mod", "const nn_module *": "f->mod", "nn_module **": "f->mods",
    "nn_optim *": "f->opt", "const nn_optim *": "f->opt",
    "nn_scheduler *": "f->sched", "const nn_scheduler *": "f->sched",
    "nn_dataset *": "f->ds", "const nn_dataset *": "f->ds",
    "nn_dataloader *": "f->dl", "const nn_dataloader *": "f->dl",
    "nn_safetensors *": "f->st", "const nn_safetensors *": "f->st",
    "nn_checkpoint *": "&f->ck", "const nn_checkpoint *": "&f->ck",
    "nn_progress *": "&f->prog",
    "nn_dist *": "f->dist", "const nn_dist *": "f->dist",
    "nn_ddp *": "f->ddp", "const nn_ddp *": "f->ddp",
    "const nn_transform *": "f->tf",
    "const nn_state_entry **": "&f->entries",
    "const char *": '"x"', "const char **": "&f->cstr", "const char *const *": "f->names",
    "char *": "f->cbuf", "size_t": "sizeof f->cbuf",
    "const float *": "f->fin", "float *": "f->fout", "const float *const *": "f->ys",
    "const int *": "f->dims", "int *": "NULL",
    "const int64_t *": "f->shape", "int64_t *": "f->iout",
    "double *": "f->dout", "uint64_t *": "&f->rng", "char ***": "NULL", "void *": "NULL",
    "int": "1", "int64_t": "2", "uint64_t": "1", "float": "0.5f", "double": "0.1",
    "nn_dtype": "NN_FLOAT32", "nn_device": "NN_CPU", "nn_fan_mode": "NN_FAN_IN", "nn_reduction": "NN_MEAN",
    "nn_reduce_op": "NN_REDUCE_SUM",
    "nn_log_fn": "fx_log", "nn_forward_fn": "fx_forward", "nn_forward_n_fn": "fx_forward_n",
    "nn_gradcheck_fn": "fx_gradfn", "nn_dataset_get_fn": "fx_get", "nn_dataset_free_fn": "NULL",
    "nn_conv_opts": "nn_conv_opts_default()", "nn_pool_opts": "nn_pool_opts_default(2)",
    "nn_sgd_opts": "nn_sgd_opts_default(0.1)", "nn_adam_opts": "nn_adam_opts_default()",
    "nn_rmsprop_opts": "nn_rmsprop_opts_default()", "nn_adagrad_opts": "nn_adagrad_opts_default()",
    "nn_one_cycle_opts": "nn_one_cycle_opts_default()", "nn_plateau_opts": "nn_plateau_opts_default()",
    "nn_cross_entropy_opts": "nn_cross_entropy_opts_default()",
    "nn_dataloader_opts": "nn_dataloader_opts_default()", "nn_ddp_opts": "nn_ddp_opts_default()",
    "nn_rnn_opts": "nn_rnn_opts_default()", "nn_mha_opts": "nn_mha_opts_default()",
    "nn_transformer_opts": "nn_transformer_opts_default()",
    "nn_rnn_nonlinearity": "NN_RNN_TANH", "nn_activation": "NN_ACT_RELU", "nn_beta_schedule": "NN_BETA_LINEAR",
    "nn_ddpm *": "f->ddpm", "const nn_ddpm *": "f->ddpm",
}
ENUM_BAD = ["-1", "99"]
ENUMS = {"nn_dtype", "nn_device", "nn_fan_mode", "nn_reduction", "nn_reduce_op", "nn_rnn_nonlinearity", "nn_activation",
         "nn_beta_schedule"}
OPTS = {t for t in TYPES if t.endswith("_opts")}

# by parameter name, whatever the function
BY_NAME = {
    ("nn_tensor *", "index"): "f->idx", ("nn_tensor *", "target"): "f->t",
    ("nn_tensor **", "indices"): "&f->tout", ("nn_tensor **", "out"): "f->touts", ("nn_tensor **", "x"): "&f->tout",
    ("nn_tensor **", "y"): "&f->tout2", ("nn_tensor **", "params"): "f->params",
    ("nn_module *", "child"): "f->mod2",
    ("const int64_t *", "cm"): "f->cm", ("int64_t *", "cm"): "f->iout", ("const int64_t *", "y_true"): "f->labels",
    ("const int64_t *", "y_pred"): "f->labels", ("const int64_t *", "milestones"): "f->labels",
    ("const int64_t *", "values"): "f->labels", ("const int64_t *", "normalized_shape"): "f->shape + 1",
    ("const int64_t *", "xshape"): "f->shape + 1",
    ("const char *", "path"): "f->path", ("const char *", "images_path"): '"data/fashion-mnist-sample/t10k-images-idx3-ubyte"',
    ("const char *", "labels_path"): '"data/fashion-mnist-sample/t10k-labels-idx1-ubyte"', ("const char *", "root"): "f->dir",
    ("const char *", "name"): '"weight"', ("const char *", "key"): '"k"',
    ("const float *", "x"): "f->img",
    ("int", "dim"): "0", ("int", "dim0"): "0", ("int", "dim1"): "1", ("int", "ndim"): "2", ("int", "n"): "2",
    ("int", "keepdim"): "0", ("int", "k"): "2", ("int", "group"): "0", ("int", "i"): "0", ("int", "max"): "2",
    ("int", "ncurves"): "2", ("int", "height"): "5", ("int", "digits"): "2", ("int", "label_column"): "-1",
    ("int", "header"): "0", ("int", "src"): "0", ("int", "nmeta"): "2", ("int", "nin"): "1", ("int", "nout"): "1",
    ("int", "channels"): "3", ("int", "normalized_ndim"): "1", ("int", "start_dim"): "0", ("int", "end_dim"): "-1",
    ("int", "correction"): "1", ("int", "xdim"): "1", ("int", "num_output_channels"): "1",
    ("int64_t", "in_features"): "3", ("int64_t", "out_features"): "4", ("int64_t", "num_features"): "3",
    ("int64_t", "kernel_size"): "3", ("int64_t", "len"): "4", ("int64_t", "ydim"): "0", ("int64_t", "i"): "0",
    ("int64_t", "start"): "0", ("int64_t", "end"): "2", ("int64_t", "step"): "1", ("int64_t", "index"): "1",
    ("int64_t", "n"): "4", ("int64_t", "total"): "10", ("int64_t", "h"): "4", ("int64_t", "w"): "4",
    ("int64_t", "size"): "4", ("int64_t", "padding"): "1", ("int64_t", "num_classes"): "3",
    ("int64_t", "total_steps"): "10", ("int64_t", "T_max"): "10", ("int64_t", "total_iters"): "5",
    ("int64_t", "step_size"): "2", ("int64_t", "out_h"): "2", ("int64_t", "out_w"): "2",
    ("float", "eps"): "1e-5f", ("float", "momentum"): "0.1f", ("float", "p"): "0.5f", ("float", "end"): "3.0f",
    ("float", "step"): "1.0f", ("float", "start"): "0.0f", ("float", "max"): "1.0f", ("float", "min"): "-1.0f",
    ("float", "beta"): "1.0f", ("float", "threshold"): "20.0f", ("float", "atol"): "1e-2f", ("float", "rtol"): "1e-2f",
    ("float", "eps"): "1e-3f", ("float", "norm_type"): "2.0f", ("float", "degrees"): "10.0f", ("float", "std"): "1.0f",
    ("double", "gamma"): "0.5", ("double", "start_factor"): "0.5", ("double", "end_factor"): "1.0",
    ("double", "max_lr"): "0.1",
}
# by function and parameter: shapes that fit together, so the call reaches the code after its checks
BY_FN = {
    ("nn_matmul", "b"): "f->t32", ("nn_linear", "weight"): "f->w43", ("nn_linear", "bias"): "f->v4",
    ("nn_linear", "x"): "f->t",
    ("nn_permute", "dims"): "f->dims",
    ("nn_gather", "index"): "f->idx23", ("nn_one_hot", "index"): "f->idx",
    ("nn_embedding", "weight"): "f->t", ("nn_layer_norm", "weight"): "f->v3", ("nn_layer_norm", "bias"): "f->v3",
    ("nn_batch_norm", "running_mean"): "f->rm", ("nn_batch_norm", "running_var"): "f->rv",
    ("nn_batch_norm", "weight"): "f->v3", ("nn_batch_norm", "bias"): "f->v3",
    ("nn_cross_entropy", "target"): "f->idx", ("nn_nll_loss", "target"): "f->idx",
    ("nn_backward", "t"): "f->scalar", ("nn_backward", "grad"): "NULL", ("nn_item", "t"): "f->scalar",
    ("nn_module_register_parameter", "t"): "f->t", ("nn_module_set_parameter", "t"): "f->w43",
    ("nn_module_summary", "example_input"): "f->t",
    ("nn_module_add", "name"): '"kid"', ("nn_module_register_parameter", "name"): '"p"',
    ("nn_module_register_buffer", "name"): '"b"',
    ("nn_dataset_get", "y"): "NULL", ("nn_dataset_get", "label"): "f->iout",
    ("nn_dataset_new", "xdim"): "1", ("nn_dataloader_next", "x"): "&f->tout",
    ("nn_normalize", "channels"): "3", ("nn_image_folder", "channels"): "1",
    ("nn_random_crop", "size"): "4", ("nn_random_crop", "padding"): "1",
    ("nn_safetensors_get", "name"): '"weight"', ("nn_safetensors_name", "i"): "0",
    ("nn_set_cpu_capability", "name"): '"default"', ("nn_optim_add_param_group", "params"): "f->xs",
    ("nn_optim_add_param_group", "lr"): "0.1", ("nn_optim_add_param_group", "weight_decay"): "0.0",
    ("nn_optim_set_lr", "lr"): "0.1", ("nn_gradcheck", "inputs"): "f->xs",
    ("nn_gradcheck", "eps"): "1e-3f", ("nn_gradcheck", "n"): "2", ("nn_dist_broadcast", "t"): "f->t", ("nn_dist_all_reduce_scalars", "values"): "f->dout",
    ("nn_classification_report", "names"): "f->names", ("nn_confusion_matrix", "n"): "4",
    ("nn_apply_transforms", "n"): "1", ("nn_apply_transforms", "shape"): "f->ishape",
    ("nn_apply_transforms", "out_shape"): "f->iout", ("nn_apply_transforms", "out"): "f->fout",
    ("nn_dataset_xshape", "shape"): "f->iout", ("nn_forward_n", "in"): "f->xs",
    ("nn_slice", "end"): "2", ("nn_conv2d_new", "kernel_size"): "3", ("nn_conv_transpose2d_new", "kernel_size"): "3",
    ("nn_conv2d_new", "in_channels"): "2", ("nn_conv2d_new", "out_channels"): "3",
    ("nn_conv_transpose2d_new", "in_channels"): "2", ("nn_conv_transpose2d_new", "out_channels"): "3",
    ("nn_plot_terminal", "n"): "8", ("nn_plot_png", "n"): "8", ("nn_dist_broadcast", "src"): "0",
    ("nn_dist_broadcast_module", "src"): "0", ("nn_dist_check", "ok"): "1",
    ("nn_csv", "path"): "f->csvpath",
    ("nn_arange", "start"): "0.0f", ("nn_arange", "end"): "3.0f", ("nn_arange", "step"): "1.0f",
    ("nn_sequential_new", "mods"): "f->mods", ("nn_module_child_at", "k"): "0",
    ("nn_masked_fill", "mask"): "f->idx23", ("nn_scaled_dot_product_attention", "attn_mask"): "NULL",
    ("nn_ddpm_add_noise", "t"): "f->idx", ("nn_timestep_embedding", "t"): "f->idx",
}
for _fn in ("nn_conv2d", "nn_conv_transpose2d", "nn_max_pool2d", "nn_avg_pool2d", "nn_adaptive_avg_pool2d"):
    BY_FN[(_fn, "x")] = "f->x4"
BY_FN[("nn_conv2d", "weight")] = "f->cw"
BY_FN[("nn_conv2d", "bias")] = "f->v3"
BY_FN[("nn_conv_transpose2d", "weight")] = "f->ctw"
BY_FN[("nn_conv_transpose2d", "bias")] = "f->v3"
for _fn in ("nn_bce_loss", "nn_bce_with_logits"):
    BY_FN[(_fn, "weight")] = "f->t"
    BY_FN[(_fn, "pos_weight")] = "f->v3"

# Output pointers whose NULL is an error but that carry no context themselves; and objects
# that carry a context (a call with another of these valid can report to it).
CTX_CARRIERS = {"nn_ctx *", "const nn_ctx *", "nn_tensor *", "const nn_tensor *", "nn_module *", "const nn_module *",
                "nn_optim *", "const nn_optim *", "nn_scheduler *", "const nn_scheduler *", "nn_dataset *",
                "const nn_dataset *", "nn_dataloader *", "const nn_dataloader *", "nn_safetensors *",
                "const nn_safetensors *", "nn_dist *", "const nn_dist *", "nn_ddp *", "const nn_ddp *",
                "nn_checkpoint *", "const nn_checkpoint *", "nn_module **"}
CTX_CARRIER_ARRAYS = {("nn_tensor **", "params"), ("nn_tensor **", "xs"), ("nn_tensor **", "inputs"),
                      ("nn_tensor *const *", "in"), ("nn_tensor *const *", "tensors")}

# How a returned object is given back (only when it is not one of the fixture's own).
RET_FREE = {
    "nn_tensor *": "fx_drop_tensor(f, r)", "nn_module *": "fx_drop_module(f, r)", "nn_optim *": "nn_optim_free(r)",
    "nn_scheduler *": "nn_scheduler_free(r)", "nn_dataset *": "fx_drop_dataset(f, r)",
    "nn_dataloader *": "nn_dataloader_free(r)", "nn_safetensors *": "nn_safetensors_close(r)",
    "nn_dist *": "nn_dist_free(r)", "nn_ddp *": "nn_ddp_free(r)", "nn_ctx *": "nn_ctx_free(r)",
    "nn_ddpm *": "nn_ddpm_free(r)",
}
# Values past a documented limit, or sizes whose products overflow, for some parameters.
EXTRA_BAD = {
    ("nn_normalize", "channels"): ["NN_NORMALIZE_MAX_CHANNELS + 1"],
    ("nn_grayscale", "num_output_channels"): ["2"],
    ("nn_image_folder", "channels"): ["2"],
    ("nn_image_folder", "h"): ["(int64_t)1 << 32"], ("nn_image_folder", "w"): ["(int64_t)1 << 32"],
    ("nn_resize", "h"): ["(int64_t)1 << 32"], ("nn_resize", "w"): ["(int64_t)1 << 32"],
    ("nn_random_crop", "size"): ["(int64_t)1 << 32"], ("nn_random_crop", "padding"): ["(int64_t)1 << 32"],
}
for _fn, _p in (("nn_empty", "ndim"), ("nn_zeros", "ndim"), ("nn_reshape", "ndim"), ("nn_view", "ndim"),
                ("nn_layer_norm_new", "normalized_ndim"), ("nn_layer_norm", "normalized_ndim")):
    EXTRA_BAD[(_fn, _p)] = ["NN_MAX_DIMS + 1"]
# Pointer arrays also get one with a NULL entry (f->xs_null: { t, NULL }, ...).
NULL_ENTRY = {"nn_tensor **": "f->xs_null", "nn_tensor *const *": "f->xs_null", "nn_module **": "f->mods_null",
              "const char *const *": "f->names_null", "const float *const *": "f->ys_null"}
# A NULL explicit context (the one a function reports to) has nowhere to report but stderr.
# +infinity is documented where it means "no limit".
INF_OK = {
    ("nn_clip_grad_norm", "max_norm"): "clip_grad_norm_(params, inf) only measures the norm, as PyTorch",
    ("nn_clip_grad_value", "clip_value"): "clamping at +-inf changes nothing, as PyTorch",
}
INT_BAD = ["-1", "0", "INT_MAX", "INT_MIN"]
INT64_BAD = ["-1", "0", "INT64_MAX", "INT64_MIN"]
FLOAT_BAD = ["NAN", "INFINITY", "-INFINITY", "-1"]
NONFINITE = {"NAN", "INFINITY", "-INFINITY"}


def die(msg):
    sys.stderr.write("gen_badcalls.py: " + msg + "\n")
    sys.exit(1)


def parse(path):
    src = open(path).read()
    cut = src.find("/*                              IMPLEMENTATION")
    if cut < 0:
        die("no implementation banner in " + path)
    decl = src[:cut]
    decl = re.sub(r"/\*.*?\*/", " ", decl, flags=re.S)
    decl = re.sub(r"//[^\n]*", " ", decl)
    # which declarations sit under #ifdef NN_MPI
    mpi = set()
    depth_mpi = []
    for line in decl.split("\n"):
        s = line.strip()
        if s.startswith("#if"):
            depth_mpi.append(s.startswith("#ifdef NN_MPI"))
        elif s.startswith("#endif"):
            depth_mpi.pop()
        elif any(depth_mpi):
            m = re.search(r"NN_API[^(]*?(\w+)\s*\(", s)
            if m:
                mpi.add(m.group(1))
    structs = {}
    for body, name in re.findall(r"typedef struct \w+ \{(.*?)\} (\w+);", decl, flags=re.S):
        fields = []
        for stmt in body.split(";"):
            stmt = " ".join(stmt.split())
            if not stmt:
                continue
            m = re.match(r"((?:const )?[\w]+(?: \*+| \*const \*)?)\s*(.*)$", stmt)
            typ, names = m.group(1).strip(), m.group(2)
            if "*" in names or "*" in typ:
                continue   # pointer fields are not varied
            for nm in names.split(","):
                nm = nm.strip()
                am = re.match(r"(\w+)\[(\d+)\]$", nm)
                if am:
                    fields += [(typ, "%s[%d]" % (am.group(1), k)) for k in range(int(am.group(2)))]
                else:
                    fields.append((typ, nm))
        structs[name] = fields
    fns = []
    for ret, name, args in re.findall(r"NN_API\s+([\w\s\*]*?)\s*\b(\w+)\s*\(([^;]*?)\)\s*;", decl, flags=re.S):
        ret = " ".join(ret.replace("*", " * ").split()).replace("* *", "**")
        params = []
        args = " ".join(args.split())
        if args != "void":
            for a in args.split(","):
                a = a.strip()
                m = re.match(r"(.*?)(\w+)$", a)
                t = " ".join(m.group(1).replace("*", " * ").split())
                t = re.sub(r"\* \*", "**", t).replace("* * *", "***").replace("** *", "***")
                params.append((t.strip().replace("* const *", "*const *"), m.group(2)))
        fns.append((name, ret.strip(), params))
    return fns, mpi, structs


def valid(fn, typ, name):
    if (fn, name) in BY_FN:
        return BY_FN[(fn, name)]
    if (typ, name) in BY_NAME:
        return BY_NAME[(typ, name)]
    if typ in TYPES:
        return TYPES[typ]
    die("%s: parameter '%s' has type '%s', which the TYPES table lacks: add a valid value and its bad values"
        % (fn, name, typ))


def bad_values(fn, typ, name, structs):
    """[(C expression or None, label, kind)], kind: 'null', 'nonfinite', 'other';
    for options structs the expression is a field assignment."""
    out = []
    extra = [(v, v, "limit") for v in EXTRA_BAD.get((fn, name), [])]
    if "*" in typ or typ.endswith("_fn"):
        out.append(("NULL", "NULL", "null"))
        if typ in NULL_ENTRY and not (typ == "nn_tensor **" and name not in ("params", "xs", "inputs")):
            out.append((NULL_ENTRY[typ], "{ ..., NULL }", "nullentry"))
        if typ == "const int64_t *" and name == "shape":
            out.append(("f->shape_neg", "{-1, 3}", "other"))
            out.append(("f->shape_big", "{2^62, 4}", "other"))
        return out
    if typ in ("int",):
        vals = ["-1", "0", "INT_MIN"] if (fn, name) in ARRAY_COUNTS else INT_BAD
        return [(v, v, "other") for v in vals] + extra
    if typ == "int64_t":
        vals = ["-1", "0", "INT64_MIN"] if (fn, name) in ARRAY_COUNTS else INT64_BAD
        return [(v, v, "other") for v in vals] + extra
    if typ == "uint64_t":
        return [("UINT64_MAX", "UINT64_MAX", "other"), ("0", "0", "other")]
    if typ == "size_t":
        return [("0", "0", "other"), ("1", "1", "other")]
    if typ in ("float", "double"):
        return [(v, v, "nonfinite" if v in NONFINITE else "other") for v in FLOAT_BAD]
    if typ in ENUMS:
        return [("(%s)%s" % (typ, v), v, "enum") for v in ENUM_BAD]
    if typ in OPTS:
        for ftyp, field in structs[typ]:
            if ftyp == "int64_t":
                vals = INT64_BAD
            elif ftyp == "int":
                vals = INT_BAD
            elif ftyp in ("float", "double"):
                vals = FLOAT_BAD
            elif ftyp == "uint64_t":
                vals = ["UINT64_MAX"]
            elif ftyp.startswith("nn_"):
                vals = ["(%s)99" % ftyp, "(%s)-1" % ftyp]
            else:
                die("%s: field %s.%s has type '%s', which the generator lacks" % (fn, typ, field, ftyp))
            for v in vals:
                out.append((".%s = %s" % (field, v), "%s.%s = %s" % (name, field, v),
                            "nonfinite" if v in NONFINITE else "other"))
        return out
    die("%s: parameter '%s' has type '%s', which has no bad values in the generator" % (fn, name, typ))


def carries_ctx(typ, name):
    return typ in CTX_CARRIERS or (typ, name) in CTX_CARRIER_ARRAYS


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    if len(sys.argv) != 3:
        die("usage: gen_badcalls.py nn.h out.c")
    fns, mpi, structs = parse(sys.argv[1])
    names = {f[0] for f in fns}
    for m in MPI_ONLY:
        if m not in names:
            die("MPI_ONLY names %s, which nn.h no longer declares" % m)
    unexpected = mpi - MPI_ONLY
    if unexpected:
        die("%s: declared under #ifdef NN_MPI but not in MPI_ONLY (add it, or handle it)" % ", ".join(sorted(unexpected)))
    for key in list(NULL_OK) + list(NONFINITE_OK) + list(INF_OK) + list(NULLENTRY_OK) + list(EXTRA_BAD) + list(BY_FN) + list(ARRAY_COUNTS):
        if key[0] not in names:
            die("allowlist names %s, which nn.h does not declare" % key[0])
    cases = []      # (fn, label, C body)
    covered = 0
    for fn, ret, params in fns:
        if fn in MPI_ONLY:
            continue
        if not params:
            # no argument to make bad: called once with nothing, must not crash
            covered += 1
            body = "    (void)f;\n    %s%s();\n" % ("" if ret == "void" else "%s r = " % ret, fn)
            if ret in RET_FREE:
                body += "    %s;\n" % RET_FREE[ret]
            elif ret != "void":
                body += "    (void)r;\n"
            body += "    return 0;\n"
            cases.append((fn, "", body))
            continue
        covered += 1
        vals = [valid(fn, t, n) for t, n in params]
        for i, (typ, name) in enumerate(params):
            for expr, label, kind in bad_values(fn, typ, name, structs):
                args = list(vals)
                pre = ""
                if typ in OPTS:
                    if (fn, expr[1:]) in MUST_REFUSE:
                        kind = "limit"
                    pre = "    %s o_ = %s;\n    o_%s;\n" % (typ, vals[i], expr)
                    args[i] = "o_"
                else:
                    args[i] = expr
                ctx_other = any(carries_ctx(t, n) and vals[j] != "NULL" for j, (t, n) in enumerate(params) if j != i)
                expect = False
                why = ""
                if kind == "null":
                    if fn in NULL_NOOP_FNS:
                        why = "documented no-op"
                    elif (fn, name) in NULL_OK:
                        why = "NULL allowed"
                    elif typ == "nn_ctx *" and name == "ctx":
                        why = "the context to report to is NULL: the message goes to stderr"
                    else:
                        expect = ctx_other
                elif kind == "nullentry":
                    if (fn, name) in NULLENTRY_OK or (fn, name) in NULL_OK:
                        why = NULLENTRY_OK.get((fn, name), "NULL allowed")
                    else:
                        expect = ctx_other or carries_ctx(typ, name)
                elif kind in ("enum", "limit"):
                    expect = ctx_other and (fn, name) not in ENUM_OK
                elif kind == "nonfinite":
                    if (fn, name) in NONFINITE_OK:
                        why = "non-finite allowed"
                    elif (fn, name) in INF_OK and label == "INFINITY":
                        why = "+infinity allowed"
                    else:
                        expect = ctx_other
                if ret == "nn_transform":
                    expect = ((kind == "nonfinite" and (fn, name) not in NONFINITE_OK) or (fn, expr) in TRANSFORM_REFUSE)
                call = "%s(%s)" % (fn, ", ".join(args))
                body = pre
                check = "fx_check(f, %s, %d)" % (c_str(fn), 1 if expect else 0)
                if ret == "nn_transform":
                    body += "    return fx_apply_check(f, %s, %s, %d);\n" % (call, c_str(fn), 1 if expect else 0)
                elif ret == "void":
                    body += "    %s;\n    return %s;\n" % (call, check)
                else:
                    body += "    %s r = %s;\n    int rc = %s;\n" % (ret, call, check)
                    body += "    %s;\n" % (RET_FREE[ret] if ret in RET_FREE else "(void)r")
                    body += "    return rc;\n"
                cases.append((fn, "%s = %s" % (name, label), body))
    out = []
    out.append("/* Generated by tests/gen_badcalls.py from nn.h: do not edit. */\n")
    out.append('#include "badcalls.h"\n\n')
    for k, (fn, label, body) in enumerate(cases):
        out.append("static int case_%d(fx *f) { /* %s(%s) */\n%s}\n" % (k, fn, label.replace("*/", "* /"), body))
    out.append("\nstatic const fx_case CASES[] = {\n")
    for k, (fn, label, body) in enumerate(cases):
        out.append("    { case_%d, %s, %s },\n" % (k, c_str(fn), c_str(label)))
    out.append("};\n\nint main(int argc, char **argv) { return fx_main(CASES, (int)(sizeof CASES / sizeof CASES[0]), %d, argc, argv); }\n"
               % covered)
    open(sys.argv[2], "w").write("".join(out))
    print("gen_badcalls: %d functions (%d skipped: MPI only: %s), %d calls -> %s"
          % (covered, len(MPI_ONLY), ", ".join(sorted(MPI_ONLY)), len(cases), sys.argv[2]))


if __name__ == "__main__":
    main()
