#!/usr/bin/env python3
"""Writes tests/fixtures/ops.txt: forward values and input gradients of every
nn.h op, computed by PyTorch. Run with Debian's python3-torch:

    /usr/bin/python3 tests/gen_fixtures.py

Inputs are float32 values; PyTorch computes in float64 from them, so the
fixtures hold the exact answer that nn.h's float32 result is measured against.
Each case: its inputs, the op and its parameters, the output, an upstream
gradient g, and the gradient of sum(out * g) for every input that needs one.
Format (version line first):
    nnfix 1
    case NAME OP NPARAMS p1 p2 ...
    in REQUIRES_GRAD NDIM d1 .. dn : v1 v2 ...
    out NDIM d1 .. dn : ...
    gout NDIM ... : ...
    grad INPUT_INDEX NDIM ... : ...
    end
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
    return torch.randint(0, high, shape).float()


def add(name, op, fn, inputs, grads, params=()):
    """inputs: float32 tensors; grads: which need a gradient; fn maps float64 tensors to the output."""
    xs = [x.double().clone().requires_grad_(bool(g)) for x, g in zip(inputs, grads)]
    out = fn(*xs)
    if out.dtype != torch.float64:
        out = out.double()
    g = vals(*out.shape, away=0.2).double() if out.dim() else torch.tensor(0.75, dtype=torch.float64)
    if any(grads):
        out.backward(g)
    cases.append((name, op, params, inputs, grads, out.detach(), g, [x.grad for x in xs]))


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
add("gather_d1", "gather", lambda x, i: torch.gather(x, 1, i.long()), [vals(3, 4), idx(4, 3, 2)], [1, 0], [1])
add("gather_d0", "gather", lambda x, i: torch.gather(x, 0, i.long()), [vals(3, 4), idx(3, 2, 4)], [1, 0], [0])
add("index_select_d0", "index_select", lambda x, i: torch.index_select(x, 0, i.long()), [vals(4, 3), torch.tensor([2.0, 0.0, 2.0])], [1, 0], [0])
add("index_select_d1", "index_select", lambda x, i: torch.index_select(x, 1, i.long()), [vals(2, 4, 3), torch.tensor([3.0, 1.0])], [1, 0], [1])
add("embedding", "embedding", lambda w, i: torch.nn.functional.embedding(i.long(), w), [vals(5, 3), idx(5, 2, 3)], [1, 0])
add("one_hot", "one_hot", lambda i: torch.nn.functional.one_hot(i.long(), 5), [idx(5, 2, 3)], [0], [5])

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


def fmt(t):
    t = t.detach().double().reshape(-1)
    return " ".join("%.9g" % v for v in t.tolist())


def shape_of(t):
    return "%d %s" % (t.dim(), " ".join(str(s) for s in t.shape))


here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "fixtures", "ops.txt")
with open(path, "w") as f:
    f.write("nnfix 1\n# generated by tests/gen_fixtures.py with torch %s; do not edit\n" % torch.__version__)
    for name, op, params, inputs, grads, out, g, xgrads in cases:
        f.write("case %s %s %d %s\n" % (name, op, len(params), " ".join("%.9g" % p for p in params)))
        for x, rg in zip(inputs, grads):
            f.write("in %d %s : %s\n" % (rg, shape_of(x), fmt(x)))
        f.write("out %s : %s\n" % (shape_of(out), fmt(out)))
        f.write("gout %s : %s\n" % (shape_of(g), fmt(g)))
        for i, (xg, rg) in enumerate(zip(xgrads, grads)):
            if rg:
                f.write("grad %d %s : %s\n" % (i, shape_of(xg), fmt(xg)))
        f.write("end\n")
print("wrote %d cases to %s" % (len(cases), path))
