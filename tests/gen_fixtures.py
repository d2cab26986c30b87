#!/usr/bin/env python3
"""Writes tests/fixtures/ops.txt: forward values and input gradients of every
nn.h op, computed by PyTorch. Run with Debian's python3-torch:

    /usr/bin/python3 tests/gen_fixtures.py

Inputs are float32 values; PyTorch computes in float64 from them, so the
fixtures hold the exact answer that nn.h's float32 result is measured against.
Each case: its inputs, the op and its parameters, the output, an upstream
gradient g, and the gradient of sum(out * g) for every input that needs one.
Format 2 (version line first; every array carries its dtype, f32 or i64, as
PyTorch: indices, class targets, argmax and max/min indices are i64):
    nnfix 2
    case NAME OP NPARAMS p1 p2 ...
    nofd                                   (optional: no finite-difference check)
    in REQUIRES_GRAD DTYPE NDIM d1 .. dn : v1 v2 ...
    out DTYPE NDIM d1 .. dn : ...
    gout DTYPE NDIM ... : ...
    grad INPUT_INDEX DTYPE NDIM ... : ...
    end
Values may be nan, inf and -inf (the numerics/ cases at the edges).
"""
import os
import torch

torch.manual_seed(1234)
ALL = 1024
cases = []


def vals(*shape, lo=-1.0, hi=1.0, away=0.1):
    """float32 values in [lo, hi], at least `away` from 0 (kinks of relu, abs, ...)."""
    x = torch.rand(*shape) * (hi - lo) + lo
    if away and lo < 0 < hi:
        x = torch.sign(x) * (away + (1 - away) * x.abs())
    return x.float()


def pos(*shape, lo=0.5, hi=2.0):
    return (torch.rand(*shape) * (hi - lo) + lo).float()


def idx(high, *shape):
    """whole numbers as float32 (where's condition, BCE targets)."""
    return torch.randint(0, high, shape).float()


def lidx(high, *shape):
    """int64 class indices, as PyTorch's gather, index_select, embedding, one_hot and losses take."""
    return torch.randint(0, high, shape)


def add(name, op, fn, inputs, grads, params=(), fd=True):
    """inputs: float32 or int64 tensors; grads: which need a gradient; fn maps float64 (and int64)
    tensors to the output. fd=False: no finite-difference check in C (kinks, ties, p at 0 or 1)."""
    xs = [x.clone() if x.dtype == torch.int64 else x.double().clone().requires_grad_(bool(g)) for x, g in zip(inputs, grads)]
    out = fn(*xs)
    if out.dtype not in (torch.float64, torch.int64):
        out = out.double()
    g = vals(*out.shape, away=0.2).double() if out.dim() else torch.tensor(0.75, dtype=torch.float64)
    if any(grads):
        out.backward(g)
    cases.append((name, op, params, inputs, grads, out.detach(), g, [x.grad for x in xs], fd))


def dimarg(d):
    return None if d == ALL else d


# ---- elementwise with broadcasting ----
add("add_same", "add", torch.add, [vals(2, 3), vals(2, 3)], [1, 1])
add("add_bcast", "add", torch.add, [vals(2, 3, 1), vals(1, 4)], [1, 1])
add("add_row", "add", torch.add, [vals(3), vals(2, 3)], [1, 1])
add("add_6d", "add", torch.add, [vals(2, 1, 2, 1, 2, 3), vals(2, 4, 1, 3)], [1, 1])
add("sub_rowwise", "sub", torch.sub, [vals(3, 3), vals(3, 1)], [1, 1])
add("sub_bcast", "sub", torch.sub, [vals(4), vals(2, 4)], [1, 1])
add("mul_bngain", "mul", torch.mul, [vals(1, 16), vals(8, 16)], [1, 1])
add("mul_bcast", "mul", torch.mul, [vals(2, 1, 3), vals(4, 1)], [1, 1])
add("div_bcast", "div", torch.div, [vals(2, 3), pos(3)], [1, 1])
add("pow_same", "pow", torch.pow, [pos(2, 3), vals(2, 3, lo=-1, hi=2)], [1, 1])
add("pow_bcast", "pow", torch.pow, [pos(2, 3), pos(1)], [1, 1])
add("maximum", "maximum", torch.maximum, [vals(3, 4), vals(4)], [1, 1])
add("minimum", "minimum", torch.minimum, [vals(3, 4), vals(4)], [1, 1])
add("where", "where", lambda c, a, b: torch.where(c != 0, a, b), [idx(2, 3, 4), vals(3, 4), vals(4)], [0, 1, 1])
add("add_scalar", "add_scalar", lambda x: x + 2.5, [vals(2, 3)], [1], [2.5])
add("sub_scalar", "sub_scalar", lambda x: x - 1.5, [vals(2, 3)], [1], [1.5])
add("mul_scalar", "mul_scalar", lambda x: x * -3.0, [vals(2, 3)], [1], [-3.0])
add("div_scalar", "div_scalar", lambda x: x / 4.0, [vals(2, 3)], [1], [4.0])
add("pow_scalar_3", "pow_scalar", lambda x: x ** 3.0, [vals(2, 3)], [1], [3.0])
add("pow_scalar_2", "pow_scalar", lambda x: x ** 2.0, [vals(2, 3)], [1], [2.0])
add("pow_scalar_half", "pow_scalar", lambda x: x ** 0.5, [pos(2, 3)], [1], [0.5])
add("neg", "neg", torch.neg, [vals(2, 3)], [1])
add("exp", "exp", torch.exp, [vals(2, 3)], [1])
add("log", "log", torch.log, [pos(2, 3)], [1])
add("sqrt", "sqrt", torch.sqrt, [pos(2, 3)], [1])
add("abs", "abs", torch.abs, [vals(2, 3)], [1])
add("clamp", "clamp", lambda x: torch.clamp(x, -0.5, 0.5), [vals(3, 4, away=0.0) * 0.9 + 0.01], [1], [-0.5, 0.5])

# ---- activations ----
add("relu", "relu", torch.relu, [vals(3, 4)], [1])
add("leaky_relu", "leaky_relu", lambda x: torch.nn.functional.leaky_relu(x, 0.1), [vals(3, 4)], [1], [0.1])
add("sigmoid", "sigmoid", torch.sigmoid, [vals(3, 4) * 4], [1])
add("tanh", "tanh", torch.tanh, [vals(3, 4) * 2], [1])
add("gelu", "gelu", torch.nn.functional.gelu, [vals(3, 4) * 3], [1])
add("silu", "silu", torch.nn.functional.silu, [vals(3, 4) * 3], [1])
add("softplus", "softplus", lambda x: torch.nn.functional.softplus(x, 1.0, 20.0), [vals(3, 4) * 3], [1], [1.0, 20.0])
add("softplus_thr", "softplus", lambda x: torch.nn.functional.softplus(x, 2.0, 1.0), [vals(3, 4) * 2], [1], [2.0, 1.0])
for d, shape in ((1, (3, 5)), (0, (3, 5)), (-1, (2, 3, 4)), (1, (2, 3, 4))):
    add("softmax_d%d_%dd" % (d, len(shape)), "softmax", lambda x, d=d: torch.softmax(x, d), [vals(*shape) * 3], [1], [d])
    add("log_softmax_d%d_%dd" % (d, len(shape)), "log_softmax", lambda x, d=d: torch.log_softmax(x, d), [vals(*shape) * 3], [1], [d])

# ---- reductions ----
def red(name, op, fn, x, dim, keepdim, extra=()):
    add(name, op, fn, [x], [1], [dim, keepdim] + list(extra))

red("sum_rows_keepdim", "sum", lambda x: x.sum(1, keepdim=True), vals(3, 3), 1, 1)
red("sum_d0", "sum", lambda x: x.sum(0), vals(4, 3), 0, 0)
red("sum_mid_3d", "sum", lambda x: x.sum(1), vals(2, 3, 4), 1, 0)
red("sum_all", "sum", lambda x: x.sum(), vals(3, 4), ALL, 0)
red("mean_d1", "mean", lambda x: x.mean(1), vals(3, 4), 1, 0)
red("mean_all", "mean", lambda x: x.mean(), vals(2, 3, 4), ALL, 0)
red("var_d1", "var", lambda x: x.var(1), vals(3, 5), 1, 0, [1])
red("var_all_biased", "var", lambda x: x.var(unbiased=False), vals(3, 4), ALL, 0, [0])
red("std_d0_keep", "std", lambda x: x.std(0, keepdim=True), vals(5, 3), 0, 1, [1])
red("max_d1_keep", "max", lambda x: x.max(1, keepdim=True).values, vals(4, 5), 1, 1)
red("max_d0", "max", lambda x: x.max(0).values, vals(4, 5), 0, 0)
red("max_all", "max", lambda x: x.max(), vals(4, 5), ALL, 0)
red("min_d1", "min", lambda x: x.min(1).values, vals(4, 5), 1, 0)
red("logsumexp_d1", "logsumexp", lambda x: torch.logsumexp(x, 1), vals(3, 5) * 3, 1, 0)
red("logsumexp_d0_keep", "logsumexp", lambda x: torch.logsumexp(x, 0, keepdim=True), vals(3, 5) * 3, 0, 1)
add("max_indices", "max_indices", lambda x: x.max(1).indices, [vals(4, 5)], [0], [1, 0])
add("argmax_d0", "argmax", lambda x: x.argmax(0), [vals(4, 5)], [0], [0, 0])
add("argmax_all", "argmax", lambda x: x.argmax(), [vals(4, 5)], [0], [ALL, 0])

# ---- matmul ----
add("matmul_2d", "matmul", torch.matmul, [vals(4, 5), vals(5, 3)], [1, 1])
add("matmul_seed", "matmul", torch.matmul, [vals(32, 64), vals(64, 27)], [1, 1])
add("matmul_vec_mat", "matmul", torch.matmul, [vals(5), vals(5, 3)], [1, 1])
add("matmul_mat_vec", "matmul", torch.matmul, [vals(4, 5), vals(5)], [1, 1])
add("matmul_dot", "matmul", torch.matmul, [vals(5), vals(5)], [1, 1])
add("matmul_batched", "matmul", torch.matmul, [vals(2, 4, 5), vals(2, 5, 3)], [1, 1])
add("matmul_bcast_batch", "matmul", torch.matmul, [vals(2, 1, 4, 5), vals(3, 5, 2)], [1, 1])
add("matmul_mat_batch", "matmul", torch.matmul, [vals(4, 5), vals(2, 5, 3)], [1, 1])
add("matmul_bt", "matmul_bt", lambda a, b: a @ b.t(), [vals(4, 5), vals(3, 5)], [1, 1])
add("matmul_at", "matmul_at", lambda a, b: a.t() @ b, [vals(5, 4), vals(5, 3)], [1, 1])

# ---- indexing ----
add("gather_d1", "gather", lambda x, i: torch.gather(x, 1, i.long()), [vals(3, 4), lidx(4, 3, 2)], [1, 0], [1])
add("gather_d0", "gather", lambda x, i: torch.gather(x, 0, i.long()), [vals(3, 4), lidx(3, 2, 4)], [1, 0], [0])
add("index_select_d0", "index_select", lambda x, i: torch.index_select(x, 0, i.long()), [vals(4, 3), torch.tensor([2, 0, 2])], [1, 0], [0])
add("index_select_d1", "index_select", lambda x, i: torch.index_select(x, 1, i.long()), [vals(2, 4, 3), torch.tensor([3, 1])], [1, 0], [1])
add("embedding", "embedding", lambda w, i: torch.nn.functional.embedding(i.long(), w), [vals(5, 3), lidx(5, 2, 3)], [1, 0])
add("one_hot", "one_hot", lambda i: torch.nn.functional.one_hot(i.long(), 5), [lidx(5, 2, 3)], [0], [5])

# ---- views and copies ----
add("transpose", "transpose", lambda x: x.transpose(0, 1), [vals(2, 3)], [1], [0, 1])
add("transpose_3d", "transpose", lambda x: x.transpose(0, 2), [vals(2, 3, 4)], [1], [0, 2])
add("permute", "permute", lambda x: x.permute(2, 0, 1), [vals(2, 3, 4)], [1], [2, 0, 1])
add("slice_step", "slice", lambda x: x[:, 1:4:2], [vals(3, 5)], [1], [1, 1, 4, 2])
add("slice_neg", "slice", lambda x: x[-2:], [vals(4, 3)], [1], [0, -2, 1 << 40, 1])
add("select", "select", lambda x: x[:, 1], [vals(3, 4)], [1], [1, 1])
add("reshape", "reshape", lambda x: x.reshape(3, -1), [vals(2, 6)], [1], [3, -1])
add("reshape_of_transpose", "reshape_t", lambda x: x.t().reshape(-1), [vals(2, 3)], [1], [-1])
add("flatten", "flatten", lambda x: torch.flatten(x, 1), [vals(2, 3, 4)], [1], [1, -1])
add("unsqueeze", "unsqueeze", lambda x: x.unsqueeze(1), [vals(2, 3)], [1], [1])
add("squeeze", "squeeze", lambda x: x.squeeze(1), [vals(2, 1, 3)], [1], [1])
add("contiguous_t", "contiguous_t", lambda x: x.t().contiguous(), [vals(3, 4)], [1])
add("clone", "clone", lambda x: x.clone(), [vals(3, 4)], [1])
add("cat_d0", "cat", lambda a, b: torch.cat([a, b], 0), [vals(2, 3), vals(1, 3)], [1, 1], [0])
add("cat_d1", "cat", lambda a, b: torch.cat([a, b], 1), [vals(2, 3), vals(2, 2)], [1, 1], [1])
add("stack_d1", "stack", lambda a, b: torch.stack([a, b], 1), [vals(2, 3), vals(2, 3)], [1, 1], [1])

# ---- composite: the same tensor used twice, chains ----
add("used_twice", "used_twice", lambda x: x * x + x, [vals(3, 4)], [1])
add("seed_addmm", "addmm", lambda a, b, c: a @ b + c, [vals(32, 64), vals(64, 27), vals(27)], [1, 1, 1])

# ---- layers (functional forms, weights as inputs) ----
F = torch.nn.functional
add("linear", "linear", lambda x, w, b: F.linear(x, w, b), [vals(4, 5), vals(3, 5), vals(3)], [1, 1, 1])
add("linear_1d", "linear", lambda x, w, b: F.linear(x, w, b), [vals(5), vals(3, 5), vals(3)], [1, 1, 1])
# conv2d params: stride, padding, dilation, groups, has_bias
add("conv2d_pad1", "conv2d", lambda x, w, b: F.conv2d(x, w, b, 1, 1), [vals(2, 3, 5, 5), vals(4, 3, 3, 3), vals(4)], [1, 1, 1], [1, 1, 1, 1, 1])
add("conv2d_stride2", "conv2d", lambda x, w, b: F.conv2d(x, w, b, 2, 0), [vals(1, 2, 7, 6), vals(3, 2, 3, 3), vals(3)], [1, 1, 1], [2, 0, 1, 1, 1])
add("conv2d_dilation2", "conv2d", lambda x, w: F.conv2d(x, w, None, 1, 2, 2), [vals(1, 2, 6, 6), vals(3, 2, 3, 3)], [1, 1], [1, 2, 2, 1, 0])
add("conv2d_groups2", "conv2d", lambda x, w, b: F.conv2d(x, w, b, 1, 1, 1, 2), [vals(2, 4, 5, 5), vals(6, 2, 3, 3), vals(6)], [1, 1, 1], [1, 1, 1, 2, 1])
add("conv2d_1x1", "conv2d", lambda x, w, b: F.conv2d(x, w, b), [vals(2, 3, 4, 4), vals(5, 3, 1, 1), vals(5)], [1, 1, 1], [1, 0, 1, 1, 1])
# conv_transpose2d params: stride, padding, output_padding, groups, dilation
add("conv_transpose2d", "conv_transpose2d", lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1), [vals(1, 3, 4, 4), vals(3, 2, 3, 3), vals(2)], [1, 1, 1], [2, 1, 1, 1, 1])
add("conv_transpose2d_groups", "conv_transpose2d", lambda x, w, b: F.conv_transpose2d(x, w, b, 1, 0, 0, 2), [vals(2, 4, 3, 3), vals(4, 3, 2, 2), vals(6)], [1, 1, 1], [1, 0, 0, 2, 1])
# pools params: kernel, stride, padding, ceil_mode, count_include_pad
add("max_pool2d_2", "max_pool2d", lambda x: F.max_pool2d(x, 2, 2), [vals(2, 3, 6, 6)], [1], [2, 2, 0, 0, 1])
add("max_pool2d_3s2p1", "max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1), [vals(1, 2, 7, 7)], [1], [3, 2, 1, 0, 1])
add("max_pool2d_ceil", "max_pool2d", lambda x: F.max_pool2d(x, 2, 2, 0, 1, True), [vals(1, 2, 5, 5)], [1], [2, 2, 0, 1, 1])
add("avg_pool2d_2", "avg_pool2d", lambda x: F.avg_pool2d(x, 2, 2), [vals(2, 3, 6, 6)], [1], [2, 2, 0, 0, 1])
add("avg_pool2d_pad_incl", "avg_pool2d", lambda x: F.avg_pool2d(x, 3, 1, 1), [vals(1, 2, 5, 5)], [1], [3, 1, 1, 0, 1])
add("avg_pool2d_pad_excl", "avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, False, False), [vals(1, 2, 5, 5)], [1], [3, 2, 1, 0, 0])
add("adaptive_avg_pool2d", "adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [vals(2, 2, 5, 7)], [1], [2, 3])
# batch norm params: training, momentum, eps
rm, rv = vals(4, away=0) * 0.1, pos(4)
add("batch_norm2d_train", "batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5), [vals(3, 4, 2, 2) * 2 + 0.5, pos(4), vals(4)], [1, 1, 1], [1, 0.1, 1e-5])
add("batch_norm1d_train", "batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5), [vals(6, 3), pos(3), vals(3)], [1, 1, 1], [1, 0.1, 1e-5])
add("batch_norm1d_train_3d", "batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5), [vals(2, 3, 4), pos(3), vals(3)], [1, 1, 1], [1, 0.1, 1e-5])
add("batch_norm2d_eval", "batch_norm_eval", lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, False, 0.1, 1e-5), [vals(3, 4, 2, 2), pos(4), vals(4), rm, rv], [1, 1, 1, 0, 0], [0, 0.1, 1e-5])
x_bn = vals(5, 3, 2, 2) + 0.3
rm_t, rv_t = torch.zeros(3), torch.ones(3)
F.batch_norm(x_bn.double(), rm_t.double(), rv_t.double(), None, None, True, 0.1, 1e-5)
add("batch_norm_running_mean", "bn_running_mean", lambda x: (0.9 * torch.zeros(3) + 0.1 * x.mean((0, 2, 3))).double(), [x_bn], [0], [0.1])
add("batch_norm_running_var", "bn_running_var", lambda x: (0.9 * torch.ones(3) + 0.1 * x.var((0, 2, 3), unbiased=True)).double(), [x_bn], [0], [0.1])
add("layer_norm_last", "layer_norm", lambda x, w, b: F.layer_norm(x, (5,), w, b, 1e-5), [vals(3, 5), pos(5), vals(5)], [1, 1, 1], [1])
add("layer_norm_last2", "layer_norm", lambda x, w, b: F.layer_norm(x, (3, 4), w, b, 1e-5), [vals(2, 3, 4), pos(3, 4), vals(3, 4)], [1, 1, 1], [2])
add("layer_norm_noaffine", "layer_norm_plain", lambda x: F.layer_norm(x, (6,)), [vals(4, 6)], [1], [1])

# ---- losses; reduction 0 mean, 1 sum, 2 none ----
RED = ["mean", "sum", "none"]
for r in range(3):
    add("mse_%s" % RED[r], "mse_loss", lambda a, b, r=r: F.mse_loss(a, b, reduction=RED[r]), [vals(3, 4), vals(3, 4)], [1, 1], [r])
    add("l1_%s" % RED[r], "l1_loss", lambda a, b, r=r: F.l1_loss(a, b, reduction=RED[r]), [vals(3, 4), vals(3, 4) * 0.3], [1, 1], [r])
add("smooth_l1_b1", "smooth_l1_loss", lambda a, b: F.smooth_l1_loss(a, b, beta=1.0), [vals(3, 4) * 2, vals(3, 4) * 0.2], [1, 1], [0, 1.0])
add("smooth_l1_b05_sum", "smooth_l1_loss", lambda a, b: F.smooth_l1_loss(a, b, reduction="sum", beta=0.5), [vals(3, 4) * 2, vals(3, 4) * 0.2], [1, 1], [1, 0.5])
add("huber_d1", "huber_loss", lambda a, b: F.huber_loss(a, b, delta=1.0), [vals(3, 4) * 2, vals(3, 4) * 0.2], [1, 1], [0, 1.0])
add("huber_d2_none", "huber_loss", lambda a, b: F.huber_loss(a, b, reduction="none", delta=2.0), [vals(3, 4) * 4, vals(3, 4) * 0.2], [1, 1], [2, 2.0])
# cross entropy params: reduction, use_weight, use_ignore, ignore_index, label_smoothing
def ce(x, t, w=None, r=0, ign=None, ls=0.0):
    return F.cross_entropy(x, t.long(), weight=w, reduction=RED[r], ignore_index=-100 if ign is None else ign, label_smoothing=ls)
tgt = torch.tensor([1, 0, 4, 2, 2, 3])
add("cross_entropy", "cross_entropy", lambda x, t: ce(x, t), [vals(6, 5) * 3, tgt], [1, 0], [0, 0, 0, 0, 0])
add("cross_entropy_sum", "cross_entropy", lambda x, t: ce(x, t, r=1), [vals(6, 5) * 3, tgt], [1, 0], [1, 0, 0, 0, 0])
add("cross_entropy_none", "cross_entropy", lambda x, t: ce(x, t, r=2), [vals(6, 5) * 3, tgt], [1, 0], [2, 0, 0, 0, 0])
add("cross_entropy_weight", "cross_entropy", lambda x, t, w: ce(x, t, w), [vals(6, 5) * 3, tgt, pos(5)], [1, 0, 0], [0, 1, 0, 0, 0])
add("cross_entropy_ignore", "cross_entropy", lambda x, t: ce(x, t, ign=2), [vals(6, 5) * 3, tgt], [1, 0], [0, 0, 1, 2, 0])
add("cross_entropy_smooth", "cross_entropy", lambda x, t: ce(x, t, ls=0.1), [vals(6, 5) * 3, tgt], [1, 0], [0, 0, 0, 0, 0.1])
add("cross_entropy_all", "cross_entropy", lambda x, t, w: ce(x, t, w, 0, 2, 0.2), [vals(6, 5) * 3, tgt, pos(5)], [1, 0, 0], [0, 1, 1, 2, 0.2])
add("cross_entropy_all_sum", "cross_entropy", lambda x, t, w: ce(x, t, w, 1, 2, 0.2), [vals(6, 5) * 3, tgt, pos(5)], [1, 0, 0], [1, 1, 1, 2, 0.2])
add("cross_entropy_kdim", "cross_entropy", lambda x, t: ce(x, t), [vals(2, 4, 3, 2) * 3, lidx(4, 2, 3, 2)], [1, 0], [0, 0, 0, 0, 0])
add("nll_loss", "nll_loss", lambda x, t: F.nll_loss(x, t.long()), [torch.log_softmax(vals(6, 5) * 3, 1), tgt], [1, 0], [0, 0, 0, 0, 0])
add("nll_loss_weight_ignore", "nll_loss", lambda x, t, w: F.nll_loss(x, t.long(), w, ignore_index=2), [torch.log_softmax(vals(6, 5) * 3, 1), tgt, pos(5)], [1, 0, 0], [0, 1, 1, 2, 0])
add("bce", "bce_loss", lambda p, t: F.binary_cross_entropy(p, t), [pos(4, 3, lo=0.05, hi=0.95), idx(2, 4, 3)], [1, 0], [0, 0])
add("bce_weight_sum", "bce_loss", lambda p, t, w: F.binary_cross_entropy(p, t, w, reduction="sum"), [pos(4, 3, lo=0.05, hi=0.95), idx(2, 4, 3), pos(3)], [1, 0, 0], [1, 1])
add("bce_logits_multihot", "bce_with_logits", lambda x, t: F.binary_cross_entropy_with_logits(x, t), [vals(4, 5) * 4, idx(2, 4, 5)], [1, 0], [0, 0])
add("bce_logits_pos_weight", "bce_with_logits", lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw), [vals(4, 5) * 4, idx(2, 4, 5), pos(5)], [1, 0, 0], [0, 1])
add("bce_logits_extreme", "bce_with_logits", lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"), [torch.tensor([[100.0, -100.0, 30.0, -30.0], [100.0, -100.0, 0.0, 1e-3]]), torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])], [1, 0], [2, 0])


# ---- numerics at the edges (issue 7, item 7); named numerics/... so `test_nn numerics` runs them ----
# No random draws here, so the cases above keep their values. The long same-sign sums (10^6
# elements) are C cases in tests/test_ops.c: too large to store element by element.
NAN, INF = float("nan"), float("inf")
T = torch.tensor
# BCE at p = 0 and 1: PyTorch clamps the log at -100 (loss 100, not inf) and its gradient divides
# by max(p (1 - p), 1e-12): 0 where p equals the target, -/+1e12 where it is the other end.
# p = 1e-30 is inside the clamp for the log but not for the gradient's denominator.
p01 = T([[0.0, 1.0, 0.0, 1.0], [1e-30, 1.0 - 2.0 ** -24, 0.5, 0.25]])
t01 = T([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
add("numerics/bce_p0_p1", "bce_loss", lambda p, t: F.binary_cross_entropy(p, t, reduction="none"), [p01, t01], [1, 0], [2, 0], fd=False)
add("numerics/bce_p0_p1_mean", "bce_loss", lambda p, t: F.binary_cross_entropy(p, t), [p01, t01], [1, 0], [0, 0], fd=False)
# full-tensor max()/min() split the gradient evenly among ties (three ties: 1/3 each, which finite
# differences cannot see; two ties: 1/2 each, which they can); max over a dim picks the first index
add("numerics/max_all_ties3", "max", lambda x: x.max(), [T([[1.0, 3.0, 3.0], [3.0, 0.5, -1.0]])], [1], [ALL, 0], fd=False)
add("numerics/min_all_ties2", "min", lambda x: x.min(), [T([[-2.0, 1.0, 0.5], [0.25, -2.0, 3.0]])], [1], [ALL, 0])
add("numerics/max_d1_ties", "max", lambda x: x.max(1).values, [T([[2.0, 2.0, 1.0], [0.0, 2.0, 2.0]])], [1], [1, 0], fd=False)
add("numerics/max_indices_ties", "max_indices", lambda x: x.max(1).indices, [T([[2.0, 2.0, 1.0], [0.0, 2.0, 2.0]])], [0], [1, 0])
# pooling with ceil_mode on an input smaller than the window (params: kernel, stride, padding, ceil_mode, count_include_pad)
xs2 = T([[[[0.25, -0.5], [0.75, 0.125]], [[-1.0, -0.25], [-0.75, -0.125]]]])
xs23 = T([[[[0.25, -0.5, 0.375], [0.75, 0.125, -0.625]]]])
add("numerics/max_pool2d_ceil_small", "max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 0, 1, True), [xs2], [1], [3, 2, 0, 1, 1])
add("numerics/max_pool2d_ceil_small_pad", "max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1, 1, True), [xs23], [1], [3, 2, 1, 1, 1])
add("numerics/max_pool2d_ceil_1x1", "max_pool2d", lambda x: F.max_pool2d(x, 2, 2, 0, 1, True), [T([[[[0.5]], [[-0.5]]]])], [1], [2, 2, 0, 1, 1])
add("numerics/avg_pool2d_ceil_small", "avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 0, True, True), [xs2], [1], [3, 2, 0, 1, 1])
add("numerics/avg_pool2d_ceil_small_pad_incl", "avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, True, True), [xs23], [1], [3, 2, 1, 1, 1])
add("numerics/avg_pool2d_ceil_small_pad_excl", "avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), [xs23], [1], [3, 2, 1, 1, 0])
add("numerics/avg_pool2d_ceil_1x1", "avg_pool2d", lambda x: F.avg_pool2d(x, 2, 2, 0, True, True), [T([[[[0.5]], [[-0.5]]]])], [1], [2, 2, 0, 1, 1])
# NaN (and inf) propagate forward through relu, maximum, minimum and clamp
xn = T([NAN, 1.0, -1.0, INF, -INF, 0.5])
yn = T([0.0, NAN, NAN, 1.0, 2.0, 0.25])
add("numerics/nan_relu", "relu", torch.relu, [xn], [0])
add("numerics/nan_maximum", "maximum", torch.maximum, [xn, yn], [0, 0])
add("numerics/nan_minimum", "minimum", torch.minimum, [xn, yn], [0, 0])
add("numerics/nan_clamp", "clamp", lambda x: torch.clamp(x, -0.5, 0.5), [T([NAN, INF, -INF, 0.25, 2.0, -2.0])], [0], [-0.5, 0.5])
# var and std with correction >= n: PyTorch divides by max(0, n - correction), so inf, or NaN when
# the squares sum to 0 (constant rows; one element with correction 1). params: dim, keepdim, correction
xv = T([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])
xc = T([[2.0, 2.0, 2.0], [-0.5, -0.5, -0.5]])
add("numerics/var_correction_eq_n", "var", lambda x: torch.var(x, 1, correction=3), [xv], [0], [1, 0, 3])
add("numerics/var_correction_gt_n", "var", lambda x: torch.var(x, 1, correction=4), [xv], [0], [1, 0, 4])
add("numerics/std_correction_eq_n", "std", lambda x: torch.std(x, 1, correction=3), [xv], [0], [1, 0, 3])
add("numerics/std_correction_gt_n", "std", lambda x: torch.std(x, 1, correction=4), [xv], [0], [1, 0, 4])
add("numerics/var_const_correction_eq_n", "var", lambda x: torch.var(x, 1, correction=3), [xc], [0], [1, 0, 3])
add("numerics/var_one_element", "var", lambda x: torch.var(x, 1, correction=1), [xv[:, :1].contiguous()], [0], [1, 0, 1])
add("numerics/std_one_element_all", "std", lambda x: torch.std(x, None, correction=1), [T([0.75])], [0], [ALL, 0, 1])


# ---- issue 9: sin/cos, masks and selection, the timestep embedding, attention ----
# Appended after every earlier case, so the draws above (and their fixtures) are unchanged.
add("sin", "sin", torch.sin, [vals(3, 4) * 3], [1])
add("cos", "cos", torch.cos, [vals(3, 4) * 3], [1])
# tril/triu params: diagonal
for fn in ("tril", "triu"):
    tfn = getattr(torch, fn)
    for dg, tag in ((0, "0"), (1, "1"), (-1, "m1")):
        add("%s_d%s" % (fn, tag), fn, lambda x, dg=dg, tfn=tfn: tfn(x, dg), [vals(4, 5)], [1], [dg])
    add("%s_3d" % fn, fn, lambda x, tfn=tfn: tfn(x, 1), [vals(2, 3, 4)], [1], [1])
    add("%s_wide_m2" % fn, fn, lambda x, tfn=tfn: tfn(x, -2), [vals(3, 6)], [1], [-2])
    add("%s_i64" % fn, fn, lambda x, tfn=tfn: tfn(x, 0), [lidx(9, 2, 4, 4) + 1], [0], [0])
# masked_fill params: value; the mask is int64 (nonzero = fill) and broadcasts to x
add("masked_fill_neg_inf_like", "masked_fill", lambda x, m: x.masked_fill(m != 0, -1e9), [vals(2, 3, 4), lidx(2, 3, 1)], [1, 0], [-1e9])
add("masked_fill_half", "masked_fill", lambda x, m: x.masked_fill(m != 0, 0.5), [vals(2, 3, 4), lidx(2, 1, 4)], [1, 0], [0.5])
add("masked_fill_same_shape", "masked_fill", lambda x, m: x.masked_fill(m != 0, 0.0), [vals(3, 5), lidx(2, 3, 5)], [1, 0], [0.0])


def distinct(*shape):
    """float32 values 0.1 or more apart (topk's order never flips under finite differences)."""
    n = 1
    for s in shape:
        n *= s
    return ((torch.randperm(n).float() - n / 2) / n * 4).reshape(*shape) + torch.rand(*shape) * 0.01


# topk params: k, dim, largest (sorted=True)
add("topk_last_largest", "topk", lambda x: torch.topk(x, 3, -1, True).values, [distinct(4, 6)], [1], [3, -1, 1])
add("topk_last_smallest", "topk", lambda x: torch.topk(x, 2, -1, False).values, [distinct(4, 6)], [1], [2, -1, 0])
add("topk_d0_largest", "topk", lambda x: torch.topk(x, 2, 0, True).values, [distinct(5, 3)], [1], [2, 0, 1])
add("topk_d0_smallest_3d", "topk", lambda x: torch.topk(x, 3, 0, False).values, [distinct(4, 2, 3)], [1], [3, 0, 0])
add("topk_mid_3d", "topk", lambda x: torch.topk(x, 2, 1, True).values, [distinct(2, 5, 3)], [1], [2, 1, 1])
add("topk_all_k", "topk", lambda x: torch.topk(x, 5, -1, True).values, [distinct(2, 5)], [1], [5, -1, 1])
add("topk_indices_last", "topk_indices", lambda x: torch.topk(x, 3, -1, True).indices, [distinct(4, 6)], [0], [3, -1, 1])
add("topk_indices_d0_smallest", "topk_indices", lambda x: torch.topk(x, 2, 0, False).indices, [distinct(5, 3)], [0], [2, 0, 0])


# timestep_embedding params: dim, max_period. t is float32 (no gradient); small t keeps the float32
# arguments t * f_i within the fixtures' tolerance (large t: tests/test_seq.c)
def timestep_embedding(t, dim, max_period=10000.0):
    import math
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
    args = t[:, None].double() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], -1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], -1)
    return emb


tt = torch.tensor([0.0, 0.25, 1.0, 1.5, 2.0])
add("timestep_embedding_even", "timestep_embedding", lambda t: timestep_embedding(t, 8), [tt], [0], [8, 10000])
add("timestep_embedding_odd", "timestep_embedding", lambda t: timestep_embedding(t, 7), [tt], [0], [7, 10000])
add("timestep_embedding_period100", "timestep_embedding", lambda t: timestep_embedding(t, 6, 100.0), [tt[:3].contiguous()], [0], [6, 100])


# scaled_dot_product_attention params: is_causal, scale (nan: 1/sqrt(E)); inputs q, k, v[, attn_mask].
# PyTorch 1.13 has no F.scaled_dot_product_attention: the reference is its documented formula.
def sdpa(q, k, v, mask=None, causal=False, scale=None):
    import math
    L, S = q.shape[-2], k.shape[-2]
    s = (1.0 / math.sqrt(q.shape[-1])) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * s
    if causal:
        mask = torch.ones(L, S, dtype=torch.int64).tril()
    if mask is not None:
        if mask.dtype == torch.int64:
            scores = scores.masked_fill(mask == 0, float("-inf"))
        else:
            scores = scores + mask
    return torch.softmax(scores, -1) @ v


def boolmask(L, S):
    m = torch.randint(0, 2, (L, S))
    m[:, 0] = 1                       # every query sees at least one key
    return m


NANP = float("nan")
add("sdpa_nomask", "sdpa", lambda q, k, v: sdpa(q, k, v), [vals(2, 2, 3, 4), vals(2, 2, 5, 4), vals(2, 2, 5, 6)], [1, 1, 1], [0, NANP])
add("sdpa_3d", "sdpa", lambda q, k, v: sdpa(q, k, v), [vals(3, 4, 8), vals(3, 4, 8), vals(3, 4, 8)], [1, 1, 1], [0, NANP])
add("sdpa_bcast_batch", "sdpa", lambda q, k, v: sdpa(q, k, v), [vals(2, 1, 3, 4), vals(1, 2, 5, 4), vals(1, 2, 5, 4)], [1, 1, 1], [0, NANP])
add("sdpa_bool_mask", "sdpa", lambda q, k, v, m: sdpa(q, k, v, m), [vals(2, 2, 3, 4), vals(2, 2, 5, 4), vals(2, 2, 5, 6), boolmask(3, 5)], [1, 1, 1, 0], [0, NANP])
add("sdpa_bool_mask_4d", "sdpa", lambda q, k, v, m: sdpa(q, k, v, m), [vals(2, 2, 3, 4), vals(2, 2, 5, 4), vals(2, 2, 5, 6), torch.stack([boolmask(3, 5), boolmask(3, 5)]).unsqueeze(1)], [1, 1, 1, 0], [0, NANP])
add("sdpa_float_mask", "sdpa", lambda q, k, v, m: sdpa(q, k, v, m), [vals(2, 2, 3, 4), vals(2, 2, 5, 4), vals(2, 2, 5, 6), vals(2, 1, 3, 5, away=0) * 2], [1, 1, 1, 0], [0, NANP])
add("sdpa_causal_square", "sdpa", lambda q, k, v: sdpa(q, k, v, causal=True), [vals(2, 2, 4, 4), vals(2, 2, 4, 4), vals(2, 2, 4, 3)], [1, 1, 1], [1, NANP])
add("sdpa_causal_l_lt_s", "sdpa", lambda q, k, v: sdpa(q, k, v, causal=True), [vals(2, 3, 4), vals(2, 5, 4), vals(2, 5, 4)], [1, 1, 1], [1, NANP])
add("sdpa_scale", "sdpa", lambda q, k, v: sdpa(q, k, v, scale=0.3), [vals(2, 3, 4), vals(2, 5, 4), vals(2, 5, 2)], [1, 1, 1], [0, 0.3])
add("sdpa_scale_bool_mask", "sdpa", lambda q, k, v, m: sdpa(q, k, v, m, scale=1.25), [vals(2, 3, 4), vals(2, 5, 4), vals(2, 5, 2), boolmask(3, 5)], [1, 1, 1, 0], [0, 1.25])



def fmt(t):
    if t.dtype == torch.int64:
        return " ".join("%d" % v for v in t.reshape(-1).tolist())
    t = t.detach().double().reshape(-1)
    return " ".join("%.9g" % v for v in t.tolist())


def dtype_of(t):
    return "i64" if t.dtype == torch.int64 else "f32"


def shape_of(t):
    return "%d %s" % (t.dim(), " ".join(str(s) for s in t.shape))


def arr(t):
    return "%s %s : %s" % (dtype_of(t), shape_of(t), fmt(t))


here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "fixtures", "ops.txt")
with open(path, "w") as f:
    f.write("nnfix 2\n# generated by tests/gen_fixtures.py with torch %s; do not edit\n" % torch.__version__)
    for name, op, params, inputs, grads, out, g, xgrads, fd in cases:
        f.write("case %s %s %d %s\n" % (name, op, len(params), " ".join("%.9g" % p for p in params)))
        if not fd:
            f.write("nofd\n")
        for x, rg in zip(inputs, grads):
            f.write("in %d %s\n" % (rg, arr(x)))
        f.write("out %s\n" % arr(out))
        f.write("gout %s\n" % arr(g))
        for i, (xg, rg) in enumerate(zip(xgrads, grads)):
            if rg:
                f.write("grad %d %s\n" % (i, arr(xg)))
        f.write("end\n")
print("wrote %d cases to %s" % (len(cases), path))


# ======================================================================
# Optimizers and schedulers: 100-step trajectories (tests/fixtures/optim.txt)
# Two parameters p0 (3, 4) and p1 (5,); each step the gradient is c * p + d,
# computed in float32 as nn.h does; then optimizer.step() and scheduler.step().
# ======================================================================
def run_optim(cfg, steps=100):
    g = torch.Generator().manual_seed(sum(map(ord, cfg["name"])))
    ps = [(torch.rand(3, 4, generator=g) * 2 - 1).float(), (torch.rand(5, generator=g) * 2 - 1).float()]
    cs = [(torch.rand(3, 4, generator=g) * 2 + 0.5).float(), (torch.rand(5, generator=g) * 2 + 0.5).float()]
    ds = [(torch.rand(3, 4, generator=g) - 0.5).float(), (torch.rand(5, generator=g) - 0.5).float()]
    params = [p.clone().requires_grad_(True) for p in ps]
    opt = cfg["opt"]
    hp = {}
    if opt == "sgd":
        hp = dict(lr=cfg["lr"], momentum=cfg.get("momentum", 0), dampening=cfg.get("dampening", 0),
                  weight_decay=cfg.get("wd", 0), nesterov=bool(cfg.get("nesterov", 0)))
        cls = torch.optim.SGD
    elif opt in ("adam", "adamw"):
        hp = dict(lr=cfg["lr"], betas=(cfg.get("beta1", 0.9), cfg.get("beta2", 0.999)), eps=cfg.get("eps", 1e-8),
                  weight_decay=cfg.get("wd", 0 if opt == "adam" else 0.01), amsgrad=bool(cfg.get("amsgrad", 0)))
        cls = torch.optim.Adam if opt == "adam" else torch.optim.AdamW
    elif opt == "rmsprop":
        hp = dict(lr=cfg["lr"], alpha=cfg.get("alpha", 0.99), eps=cfg.get("eps", 1e-8), weight_decay=cfg.get("wd", 0),
                  momentum=cfg.get("momentum", 0), centered=bool(cfg.get("centered", 0)))
        cls = torch.optim.RMSprop
    else:
        hp = dict(lr=cfg["lr"], lr_decay=cfg.get("lr_decay", 0), weight_decay=cfg.get("wd", 0),
                  initial_accumulator_value=cfg.get("init_acc", 0), eps=cfg.get("eps", 1e-10))
        cls = torch.optim.Adagrad
    if cfg.get("groups", 1) == 2:
        o = cls([{"params": [params[0]]}, {"params": [params[1]], "lr": cfg["lr1"], "weight_decay": cfg["wd1"]}], **hp)
    else:
        o = cls(params, **hp)
    sched = cfg.get("sched")
    S = torch.optim.lr_scheduler
    if sched == "step": sc = S.StepLR(o, int(cfg["step_size"]), cfg["gamma"])
    elif sched == "multistep": sc = S.MultiStepLR(o, [10, 30, 60], cfg["gamma"])
    elif sched == "exp": sc = S.ExponentialLR(o, cfg["gamma"])
    elif sched == "cos": sc = S.CosineAnnealingLR(o, int(cfg["t_max"]), cfg["eta_min"])
    elif sched == "linear": sc = S.LinearLR(o)
    elif sched == "onecycle": sc = S.OneCycleLR(o, cfg["max_lr"], total_steps=steps)
    elif sched == "plateau": sc = S.ReduceLROnPlateau(o, patience=3, cooldown=2, factor=0.5)
    else: sc = None
    metrics = [1.0 / (1 + t // 7) + 0.01 * ((t * 37) % 5) for t in range(steps)]
    lrs, traj = [], []
    for t in range(steps):
        for p, c, d in zip(params, cs, ds):
            p.grad = (c * p.detach() + d).float()
        lrs.append(o.param_groups[0]["lr"])
        o.step()
        if sc is not None:
            sc.step(metrics[t]) if sched == "plateau" else sc.step()
        traj.append([p.detach().clone() for p in params])
    return ps, cs, ds, metrics, lrs, traj


optim_cases = [
    dict(name="sgd", opt="sgd", lr=0.1),
    dict(name="sgd_momentum_wd", opt="sgd", lr=0.05, momentum=0.9, dampening=0.1, wd=0.01),
    dict(name="sgd_nesterov", opt="sgd", lr=0.05, momentum=0.9, nesterov=1),
    dict(name="adam", opt="adam", lr=0.01),
    dict(name="adam_amsgrad_wd", opt="adam", lr=0.01, amsgrad=1, wd=0.01, beta1=0.8, beta2=0.99),
    dict(name="adamw", opt="adamw", lr=0.01, wd=0.1),
    dict(name="rmsprop", opt="rmsprop", lr=0.01),
    dict(name="rmsprop_centered_momentum", opt="rmsprop", lr=0.005, centered=1, momentum=0.9, wd=0.01, alpha=0.9),
    dict(name="adagrad", opt="adagrad", lr=0.1, lr_decay=0.001, wd=0.01, init_acc=0.1),
    dict(name="adam_groups", opt="adam", lr=0.01, groups=2, lr1=0.001, wd1=0.1),
    dict(name="seed000_step_lr", opt="sgd", lr=1e-4, sched="step", step_size=7, gamma=0.1),
    dict(name="multistep_lr", opt="sgd", lr=0.1, momentum=0.9, sched="multistep", gamma=0.5),
    dict(name="exponential_lr", opt="sgd", lr=0.1, sched="exp", gamma=0.95),
    dict(name="cosine_lr", opt="sgd", lr=0.1, sched="cos", t_max=20, eta_min=0.001),
    dict(name="linear_lr", opt="adam", lr=0.01, sched="linear"),
    dict(name="one_cycle_adam", opt="adam", lr=0.01, sched="onecycle", max_lr=0.05),
    dict(name="one_cycle_sgd", opt="sgd", lr=0.01, momentum=0.9, sched="onecycle", max_lr=0.1),
    dict(name="plateau", opt="sgd", lr=0.1, sched="plateau"),
]
with open(os.path.join(here, "fixtures", "optim.txt"), "w") as f:
    f.write("nnoptim 1\n# generated by tests/gen_fixtures.py with torch %s; do not edit\n" % torch.__version__)
    for cfg in optim_cases:
        ps, cs, ds, metrics, lrs, traj = run_optim(cfg)
        f.write("case %s %s\n" % (cfg["name"], " ".join("%s=%s" % (k, v) for k, v in cfg.items() if k != "name")))
        for i in range(2):
            f.write("param %d %s : %s\n" % (i, shape_of(ps[i]), fmt(ps[i])))
            f.write("coef %d : %s\n" % (i, fmt(cs[i])))
            f.write("bias %d : %s\n" % (i, fmt(ds[i])))
        f.write("metric : %s\n" % " ".join("%.17g" % m for m in metrics))
        f.write("lr : %s\n" % " ".join("%.17g" % v for v in lrs))
        for t, ts in enumerate(traj):
            for i in range(2):
                f.write("traj %d %d : %s\n" % (t + 1, i, fmt(ts[i])))
        f.write("end\n")
print("wrote %d optimizer cases" % len(optim_cases))


# ======================================================================
# Whole models: seed 004's mynet and seed 002's MY_NET (at 8x8 input).
# PyTorch's initial weights go to <name>.safetensors as a state_dict; the input,
# target, output, loss, every parameter gradient and 20 Adam losses go to
# <name>_expect.safetensors. Written by the format's spec (no safetensors package).
# ======================================================================
import json
import struct


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = t.detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class MyNet(torch.nn.Module):            # seed 004
    def __init__(self, d0, d1, d2, d3):
        super().__init__()
        self.m0 = torch.nn.Linear(d0, d1)
        self.m1 = torch.nn.Linear(d1, d2)
        self.m2 = torch.nn.Linear(d2, d3)

    def forward(self, x):
        z0 = x.view(-1)
        z1 = torch.relu(self.m0(z0))
        z2 = torch.relu(self.m1(z1))
        return self.m2(z2)


class MY_NET(torch.nn.Module):           # seed 002
    def __init__(self, num_classes=10, size=8):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.pool1 = torch.nn.MaxPool2d(2, 2)
        self.conv3 = torch.nn.Conv2d(64, 128, 3, padding=1)
        self.pool2 = torch.nn.MaxPool2d(2, 2)
        self.fc1 = torch.nn.Linear(128 * (size // 4) * (size // 4), 512)
        self.fc2 = torch.nn.Linear(512, num_classes)
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv2(F.relu(self.conv1(x)))))
        x = self.pool2(F.relu(self.conv3(x)))
        x = self.dropout(torch.flatten(x, 1))
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def model_fixture(name, model, x, target, lossfn, opt_kwargs):
    torch.manual_seed(0)
    save_safetensors(os.path.join(here, "fixtures", name + ".safetensors"), model.state_dict())
    exp = {"input": x, "target": target}
    out = model(x)
    loss = lossfn(out, target)
    loss.backward()
    exp["output"] = out.detach()
    exp["loss"] = loss.detach().reshape(1)
    for k, p in model.named_parameters():
        exp["grad." + k] = p.grad.detach().clone()
    model.zero_grad()
    opt = torch.optim.Adam(model.parameters(), **opt_kwargs)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        l = lossfn(model(x), target)
        l.backward()
        opt.step()
        losses.append(l.item())
    exp["losses"] = torch.tensor(losses)
    save_safetensors(os.path.join(here, "fixtures", name + "_expect.safetensors"), exp)
    print("wrote %s: %d parameters, loss %.6f -> %.6f" % (name, sum(p.numel() for p in model.parameters()), losses[0], losses[-1]))


torch.manual_seed(42)
image = torch.rand(3, 10, 20)
model_fixture("mynet", MyNet(image.nelement(), 60, 40, 10), image, torch.rand(10),
              lambda o, t: F.mse_loss(o, t), dict(lr=1e-3))
torch.manual_seed(43)
net = MY_NET(10, 8)
net.eval()   # dropout off, so the comparison is deterministic (MY_NET has no batch norm)
model_fixture("my_net", net, torch.randn(4, 3, 8, 8), torch.tensor([3.0, 7.0, 0.0, 7.0]),
              lambda o, t: F.cross_entropy(o, t.long()), dict(lr=1e-3, weight_decay=1e-4))


# ======================================================================
# Data: transforms against torchvision, the report against scikit-learn
# (tests/fixtures/data.txt)
# ======================================================================
import torchvision.transforms.functional as TF
from sklearn.metrics import classification_report, confusion_matrix

g = torch.Generator().manual_seed(7)
img3 = torch.rand(3, 5, 7, generator=g)
img1 = torch.rand(1, 6, 6, generator=g)
tcases = [
    ("resize_down", img3, [("resize", 3, 4)], TF.resize(img3, [3, 4], antialias=False)),
    ("resize_up", img1, [("resize", 9, 11)], TF.resize(img1, [9, 11], antialias=False)),
    ("resize_48", img1, [("resize", 48, 48)], TF.resize(img1, [48, 48], antialias=False)),
    ("normalize", img3, [("normalize", 0.5, 0.4, 0.3, 0.2, 0.25, 0.3)], TF.normalize(img3, [0.5, 0.4, 0.3], [0.2, 0.25, 0.3])),
    ("grayscale_rgb_to_1", img3, [("grayscale", 1)], TF.rgb_to_grayscale(img3, 1)),
    ("grayscale_1_to_3", img1, [("grayscale", 3)], img1.repeat(3, 1, 1)),
    ("hflip", img3, [("hflip",)], TF.hflip(img3)),
    ("pad_crop_full", img1, [("crop", 10, 2)], TF.pad(img1, [2, 2, 2, 2])),
    ("seed_test_pipeline", img1, [("resize", 48, 48), ("grayscale", 3), ("normalize", 0.1307, 0.1307, 0.1307, 0.3081, 0.3081, 0.3081)],
     TF.normalize(TF.resize(img1, [48, 48], antialias=False).repeat(3, 1, 1), [0.1307] * 3, [0.3081] * 3)),
]
yt = torch.tensor([0, 1, 2, 2, 1, 0, 3, 3, 3, 1, 2, 0, 1, 3, 2, 2, 0, 1, 3, 3])
yp = torch.tensor([0, 2, 2, 2, 1, 0, 3, 1, 3, 1, 0, 0, 1, 3, 2, 1, 3, 1, 3, 0])
report = classification_report(yt.numpy(), yp.numpy(), zero_division=0)
report4 = classification_report(yt.numpy(), yp.numpy(), zero_division=0, digits=4, target_names=["T-shirt/top", "Trouser", "Pullover", "Ankle boot"])
cm = confusion_matrix(yt.numpy(), yp.numpy())
with open(os.path.join(here, "fixtures", "data.txt"), "w") as f:
    f.write("nndata 1\n# generated by tests/gen_fixtures.py with torchvision and scikit-learn; do not edit\n")
    for name, x, ops, y in tcases:
        f.write("transform %s %d %s\n" % (name, len(ops), " ; ".join(" ".join(str(v) for v in op) for op in ops)))
        f.write("in %s : %s\n" % (shape_of(x), fmt(x)))
        f.write("out %s : %s\n" % (shape_of(y), fmt(y)))
    f.write("labels %d : %s\n" % (len(yt), " ".join(str(v) for v in yt.tolist())))
    f.write("preds %d : %s\n" % (len(yp), " ".join(str(v) for v in yp.tolist())))
    f.write("confusion %s\n" % " ".join(str(v) for v in cm.reshape(-1).tolist()))
    for tag, text in (("report", report), ("report4", report4)):
        lines = text.split("\n")
        f.write("%s %d\n" % (tag, len(lines)))
        for line in lines:
            f.write("|%s\n" % line)
print("wrote data fixtures: %d transforms, 2 reports" % len(tcases))
