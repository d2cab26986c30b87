/* The CUDA parity suite: every op, layer, loss and optimizer on NN_CPU and on NN_CUDA, compared.
   One source, two builds:
     - make test-cuda-emu: the host C compiler (cc -std=c99) with NN_CUDA_EMULATE, so nn_cuda.h's
       kernels run on the CPU through the grid-loop shim. Nothing runs on a GPU.
     - make test-cuda (part of make cuda-build): nvcc compiles this file as CUDA C++ (-x cu) and the
       kernels run on the GPU. With no GPU present it says so, checks that device requests fail
       with a clear error, lists every part it skipped, and exits 0.
   For every fixture case whose ops all have a CUDA kernel (tests/fixtures/ops.txt):
     1. the case on NN_CPU and on NN_CUDA: output and input gradients compared with the CPU kernels,
        with the tolerance stated per op below (emulated: the same NN_HD rules and the same libm, so
        most ops are bit for bit; on a GPU, CUDA's libm and FMA contraction round differently, so
        every comparison is within GPU_REL of the largest value, or each op's own rel if larger);
     2. the case on NN_CUDA through test_ops.c's runner (run_case with the device parameter), against
        PyTorch's numbers as the CPU suite checks them.
   Then the caching allocator (a steady state makes no device malloc), the errors for an op with no
   CUDA kernel and for operands on different devices, and the list of kernels: which ran emulated
   (with their launch counts) and which only run on a real GPU. Ends with "N passed, N failed". */
#define NN_CUDA
#ifndef __CUDACC__
#define NN_CUDA_EMULATE
#endif
#define NN__CUDA_COL_FLOATS 2000   /* im2col in chunks of a few samples, so the tests run the chunked path */
#include "harness.h"
#include "../nn_cuda.h"
#include "test_ops.c"

#ifdef NN_CUDA_EMULATE
#define DEV "emulated CUDA"
#define GPU_REL 0.0
#define TRAIN_REL 1e-5
#else
#define DEV "CUDA on the GPU"
#define GPU_REL 1e-5   /* on a GPU: every CPU-vs-CUDA comparison within this much of the largest value (never run yet) */
#define TRAIN_REL 1e-4 /* on a GPU: losses and weights after 6 optimizer steps (never run yet) */
#endif
/* one element of the CUDA result against the CPU's: within ulps ULPs, or (rel > 0) within rel of scale */
static int emu_close(float cpu, float cuda, int ulps, double rel, double scale);

/* the fixture ops the slice covers, and the tolerance against the CPU kernels (ULPs; 0: bit for bit) */
typedef struct { const char *op; int ulps; const char *why; double rel; } emu_op;   /* rel > 0: |d| <= rel * max |CPU value| instead of ULPs */
static const emu_op g_emu_ops[] = {
    { "add", 0, "same NN_HD rule; broadcast gradients summed in double in the CPU's order", 0 },
    { "sub", 0, "as add", 0 }, { "mul", 0, "as add", 0 }, { "div", 0, "as add", 0 }, { "pow", 0, "as add", 0 },
    { "maximum", 0, "as add", 0 }, { "minimum", 0, "as add", 0 }, { "where", 0, "as add", 0 },
    { "add_scalar", 0, "same NN_HD rule, same libm", 0 }, { "sub_scalar", 0, "as add_scalar", 0 },
    { "mul_scalar", 0, "as add_scalar", 0 }, { "div_scalar", 0, "as add_scalar", 0 }, { "pow_scalar", 0, "as add_scalar", 0 },
    { "neg", 0, "as add_scalar", 0 }, { "exp", 0, "as add_scalar", 0 }, { "log", 0, "as add_scalar", 0 },
    { "sqrt", 0, "as add_scalar", 0 }, { "abs", 0, "as add_scalar", 0 }, { "clamp", 0, "as add_scalar", 0 },
    { "relu", 0, "the CPU may take its AVX path; relu is exact either way", 0 }, { "leaky_relu", 0, "as add_scalar", 0 },
    { "sigmoid", 0, "as add_scalar", 0 }, { "tanh", 0, "as add_scalar", 0 }, { "gelu", 0, "as add_scalar", 0 },
    { "silu", 0, "as add_scalar", 0 }, { "softplus", 0, "as add_scalar", 0 }, { "sin", 0, "as add_scalar", 0 },
    { "cos", 0, "as add_scalar", 0 },
    { "sum", 0, "double accumulation in the same order", 0 }, { "mean", 0, "as sum", 0 },
    { "used_twice", 0, "add and mul", 0 },
    { "softmax", 0, "one thread per row running nn.h's nn__softmax_row_f/_b, the CPU's own row rule", 0 },
    { "log_softmax", 0, "as softmax", 0 },
    { "var", 0, "one thread per row running nn.h's nn__reduce_row_f/_b, the CPU's own row rule", 0 },
    { "std", 0, "as var", 0 }, { "logsumexp", 0, "as var", 0 },
    { "max", 0, "as var; over every element, ties share the gradient in one serial pass as on the CPU", 0 },
    { "min", 0, "as max", 0 }, { "max_indices", 0, "as max", 0 }, { "argmax", 0, "as max", 0 },
    { "transpose", 0, "a view (no kernel) then copy: a strided gather, exact; view backward scatters exactly", 0 },
    { "permute", 0, "as transpose", 0 }, { "slice", 0, "as transpose", 0 }, { "select", 0, "as transpose", 0 },
    { "squeeze", 0, "as transpose", 0 }, { "unsqueeze", 0, "as transpose", 0 }, { "reshape", 0, "as transpose", 0 },
    { "reshape_t", 0, "as transpose", 0 }, { "flatten", 0, "as transpose", 0 }, { "contiguous_t", 0, "as transpose", 0 },
    { "clone", 0, "as transpose", 0 },
    { "tril", 0, "a copy or the fill per element, exact", 0 }, { "triu", 0, "as tril", 0 },
    { "masked_fill", 0, "as tril", 0 },
    { "gather", 0, "forward: a copy; backward: one thread per x element adding its readers in the CPU's order, no atomics", 0 },
    { "index_select", 0, "as gather", 0 }, { "embedding", 0, "reshape + index_select", 0 },
    { "matmul", -1, "cuBLAS (emulated: nn__k_gemm, float sums in k order) vs the CPU's blocked FMA GEMM: rounding differs", 1e-5 },
    { "matmul_at", -1, "as matmul", 1e-5 }, { "matmul_bt", -1, "as matmul", 1e-5 }, { "addmm", -1, "as matmul", 1e-5 },
    { "linear", -1, "as matmul; the bias gradient is a double column sum in the CPU's order", 1e-5 },
    { "mse_loss", 0, "sub, mul, mean: as those", 0 }, { "l1_loss", 0, "sub, abs, mean: as those", 0 },
    { "sdpa", -1, "matmul, softmax, masked_fill: as matmul", 1e-5 },
    { "batch_norm", 0, "one thread per channel running nn.h's nn__bn_stats_c/nn__bn_sums_c (double sums in the CPU's order), one per element nn__bn_apply/nn__bn_dx", 0 },
    { "batch_norm_eval", 0, "as batch_norm; the running statistics are read on the device", 0 },
    { "bn_running_mean", 0, "as batch_norm; the running statistics are updated in place on the device by nn__bn_stats_c", 0 },
    { "bn_running_var", 0, "as bn_running_mean", 0 },
    { "layer_norm", 0, "one thread per row (nn__ln_stats_row, nn__ln_sums_row), one per element (nn__ln_apply, nn__ln_dx), one per column for the weight and bias gradients (double, rows in order as the CPU)", 0 },
    { "layer_norm_plain", 0, "as layer_norm", 0 },
    { "huber_loss", 0, "elementwise nn__huber_f/_k, then sum/mean", 0 }, { "smooth_l1_loss", 0, "as huber_loss", 0 },
    { "nll_loss", 0, "one thread per row (nn__nll_row_f/_b); the reduction one serial thread adding rows in double in the CPU's order", 0 },
    { "cross_entropy", 0, "log_softmax, permute/reshape copies, nll: as those", 0 },
    { "bce_loss", 0, "elementwise nn__bce_f/_dp/_dt (double logs, same libm), then mul/sum/mean", 0 },
    { "bce_with_logits", 0, "elementwise nn__bce_logits_f/_b, then sum/mean", 0 },
    { "conv2d", -1, "im2col kernel + GEMM (cuBLAS; emulated: nn__k_gemm, float sums in k order) vs the CPU's blocked FMA GEMM: "
      "rounding differs; the bias gradient is a double sum in the CPU's chunk order", 1e-5 },
    { "conv_transpose2d", -1, "GEMM + col2im gather (no atomics) as conv2d", 1e-5 },
    { "max_pool2d", 0, "one thread per output running nn.h's nn__maxpool_at (the CPU's rule, NaN wins); backward: one "
      "thread per input element adding the outputs whose argmax it is, in the CPU's order", 0 },
    { "avg_pool2d", 0, "nn.h's nn__pool_window_at/nn__avgpool_at (double window sum); backward gathers the shares in the CPU's order", 0 },
    { "adaptive_avg_pool2d", 0, "as avg_pool2d", 0 },
    { "cat", 0, "copies; backward adds the slice, exact", 0 }, { "stack", 0, "unsqueeze + cat: as cat", 0 },
    { "one_hot", 0, "int64 (compared as values): exact", 0 },
    { "topk", 0, "one thread per line running nn.h's nn__topk_sort (the CPU's stable merge sort), then gather: exact", 0 },
    { "topk_indices", 0, "as topk", 0 },
    { "timestep_embedding", 0, "frequencies made on the host and moved to the device, then mul, cos, sin, cat: as those", 0 },
};
static const emu_op *emu_find(const char *op) {
    size_t i;
    for (i = 0; i < sizeof g_emu_ops / sizeof g_emu_ops[0]; i++) if (!strcmp(g_emu_ops[i].op, op)) return &g_emu_ops[i];
    return NULL;
}

/* a tensor's values (row-major, read through its strides) copied out, so they outlive the arena */
typedef struct { int present; int64_t n; float *v; } emu_vals;
static void emu_take(emu_vals *e, const nn_tensor *t) {
    int64_t i;
    e->present = t != NULL && (t->dtype == NN_FLOAT32 || t->dtype == NN_INT64);   /* int64 as float values (small ones: exact) */
    e->n = e->present ? t->numel : 0;
    e->v = (float *)malloc((size_t)(e->n ? e->n : 1) * sizeof(float));
    for (i = 0; i < e->n; i++)
        e->v[i] = t->dtype == NN_INT64 ? (float)((const int64_t *)t->data)[fx_offset(t, i)] : nn_f32(t)[fx_offset(t, i)];
}
static int64_t emu_ulps(float a, float b) {
    int32_t ia, ib;
    if (a != a && b != b) return 0;
    if (a == b) { memcpy(&ia, &a, 4); memcpy(&ib, &b, 4); return ia == ib ? 0 : 1; }   /* 0.0 vs -0.0: 1 */
    memcpy(&ia, &a, 4); memcpy(&ib, &b, 4);
    if ((ia < 0) != (ib < 0)) return INT64_MAX;
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}
static int emu_close(float cpu, float cuda, int ulps, double rel, double scale) {
    if (cpu == cuda || (cpu != cpu && cuda != cuda)) return 1;   /* equal (infinities too), or both NaN */
    if (rel > 0) return fabs((double)cpu - cuda) <= rel * scale;
    return emu_ulps(cpu, cuda) <= ulps;
}

/* the case on one device: out and every input gradient, as host values */
static void emu_run(nn_ctx *ctx, const fx_case *c, nn_device device, emu_vals *vals) {
    nn_tensor *in[6] = { 0 }, *y, *g = NULL;
    int k;
    memset(vals, 0, 7 * sizeof *vals);
    for (k = 0; k < c->nin; k++) {
        in[k] = fx_on(tensor_of(ctx, &c->in[k]), device);
        nn_set_requires_grad(in[k], c->in_rg[k]);
    }
    y = c->run(c, in);
    CHECK(y != NULL, "device %d: op %s returned NULL: %s", (int)device, c->op, ERRS(ctx));
    if (y) {
        CHECK(y->device == device, "the result is on device %d, expected %d", (int)y->device, (int)device);
        emu_take(&vals[0], fx_host(y));
        if (y->requires_grad) {
            g = fx_on(tensor_of(ctx, &c->gout), device);
            CHECK(nn_backward(y, g, 0), "device %d: backward failed: %s", (int)device, ERRS(ctx));
            for (k = 0; k < c->nin; k++) if (in[k]->grad) emu_take(&vals[1 + k], fx_host(in[k]->grad));
        }
    }
    nn_arena_reset(ctx);
    CHECK(nn_error(ctx) == NULL, "device %d: unexpected error: %s", (int)device, ERRS(ctx));
    nn_clear_error(ctx);
    nn_free(g);
    for (k = 0; k < c->nin; k++) nn_free(in[k]);
}

static void emu_compare_case(nn_ctx *ctx, const fx_case *c, const emu_op *e) {
    emu_vals cpu[7], emu[7];
    int k;
    int64_t i, worst = 0;
    emu_run(ctx, c, NN_CPU, cpu);
    emu_run(ctx, c, NN_CUDA, emu);
    for (k = 0; k < 7 && !g_case_failed; k++) {
        CHECK(cpu[k].present == emu[k].present && cpu[k].n == emu[k].n, "%s %d: present/size differ (CPU %d/%lld, " DEV " %d/%lld)",
              k ? "grad" : "out", k - 1, cpu[k].present, (long long)cpu[k].n, emu[k].present, (long long)emu[k].n);
        for (i = 0; i < cpu[k].n && !g_case_failed; i++) {
            if (e->rel > 0 || GPU_REL > 0) {
                double rel = e->rel > GPU_REL ? e->rel : GPU_REL, scale = 1e-30, d = fabs((double)cpu[k].v[i] - emu[k].v[i]);
                int64_t j;
                for (j = 0; j < cpu[k].n; j++) if (fabs(cpu[k].v[j]) > scale) scale = fabs(cpu[k].v[j]);
                CHECK(emu_close(cpu[k].v[i], emu[k].v[i], 0, rel, scale),
                      "%s[%lld]: CPU %.9g, " DEV " %.9g: off by %.3g of the largest |value| %.3g, allowed %g", k ? "grad" : "out",
                      (long long)i, cpu[k].v[i], emu[k].v[i], d / scale, scale, rel);
                continue;
            }
            {
                int64_t u = emu_ulps(cpu[k].v[i], emu[k].v[i]);
                if (u > worst) worst = u;
                CHECK(u <= e->ulps, "%s[%lld]: CPU %.9g, " DEV " %.9g: %lld ULPs, allowed %d", k ? "grad" : "out",
                      (long long)i, cpu[k].v[i], emu[k].v[i], (long long)u, e->ulps);
            }
        }
    }
    for (k = 0; k < 7; k++) { free(cpu[k].v); free(emu[k].v); }
}

static void emu_fixtures(nn_ctx *ctx) {
    fx_case *cs;
    int n = load_fixtures("tests/fixtures/ops.txt", &cs), i, ran = 0, skipped = 0;
    char label[128];
    begin("fixtures load");
    CHECK(n > 0, "cannot read tests/fixtures/ops.txt (code %d); run from the repository root", n);
    end();
    for (i = 0; i < n; i++) {
        const fx_case *c = &cs[i];
        const emu_op *e = emu_find(c->op);
        if (!e || !c->run) { skipped++; continue; }
        if (!selected(c->name) && !selected(c->op)) continue;
        if (e->rel > 0 || GPU_REL > 0)
            snprintf(label, sizeof label, "%s: " DEV " vs CPU kernels (%g of the largest value)", c->name, e->rel > GPU_REL ? e->rel : GPU_REL);
        else snprintf(label, sizeof label, "%s: " DEV " vs CPU kernels (%d ULPs)", c->name, e->ulps);
        begin(label);
        emu_compare_case(ctx, c, e);
        end();
        snprintf(label, sizeof label, "%s [" DEV "] vs PyTorch", c->name);
        begin(label);
        g_fx_numerics = strncmp(c->name, "numerics/", 9) == 0;
        run_case(ctx, c, NN_CUDA);
        end();
        ran++;
    }
    printf("  fixtures: %d cases run on " DEV "; %d cases left out (op not in g_emu_ops)\n", ran, skipped);
    begin("fixtures: every case ran on CUDA (each op has a tolerance in g_emu_ops)");
    CHECK(skipped == 0, "%d fixture cases have no entry in g_emu_ops", skipped);
    end();
    if (cs) free_fixtures(cs, n > 0 ? n : 0);
}

/* a steady-state "step" of allocations and frees makes no device malloc after the first */
static void emu_allocator(nn_ctx *ctx) {
    static const size_t sizes[] = { 4, 1000, 4096, 100000, 4096, 1 << 20 };
    void *p[6];
    int64_t after_first = 0, hits0 = nn_cuda_mem_stats_of(ctx).cache_hits, mallocs0 = nn_cuda_mem_stats_of(ctx).device_mallocs;
    size_t held0 = nn_cuda_mem_stats_of(ctx).bytes_held;
    int step, i;
    begin("cuda/allocator: a steady-state step makes no device malloc");   /* counts relative to the kernels' own use before */
    for (step = 0; step < 5; step++) {
        for (i = 0; i < 6; i++) { p[i] = nn_cuda_malloc(ctx, sizes[i]); CHECK(p[i] != NULL, "nn_cuda_malloc failed: %s", ERRS(ctx)); }
        for (i = 0; i < 6; i++) if (p[i]) nn__dev_memset(ctx, p[i], 0, sizes[i]);   /* device memory: host code may not touch it */
        for (i = 5; i >= 0; i--) nn_cuda_free(ctx, p[i], sizes[i]);
        if (step == 0) { after_first = nn_cuda_mem_stats_of(ctx).device_mallocs; hits0 = nn_cuda_mem_stats_of(ctx).cache_hits; }
    }
    CHECK(nn_cuda_mem_stats_of(ctx).device_mallocs == after_first, "device mallocs grew from %lld to %lld",
          (long long)after_first, (long long)nn_cuda_mem_stats_of(ctx).device_mallocs);
    CHECK(nn_cuda_mem_stats_of(ctx).cache_hits - hits0 == 4 * 6, "cache hits in steps 2-5: %lld, expected 24",
          (long long)(nn_cuda_mem_stats_of(ctx).cache_hits - hits0));
    CHECK(nn_cuda_mem_stats_of(ctx).bytes_held == held0, "%zu bytes held, %zu before (the device step arena's)",
          nn_cuda_mem_stats_of(ctx).bytes_held, held0);
    printf("  allocator: %lld device mallocs in the first step, %lld in the next 4; %lld cache hits in those 4\n", (long long)(after_first - mallocs0),
           (long long)(nn_cuda_mem_stats_of(ctx).device_mallocs - after_first), (long long)(nn_cuda_mem_stats_of(ctx).cache_hits - hits0));
    end();
}

/* ---- direct cases: what the fixtures do not reach (chunked im2col, NaN and ties in pooling and
   topk, adaptive windows that overlap, to_dtype), CPU kernels vs emulated CUDA ---- */
typedef struct { int nd; int64_t shape[4]; int kind; int rg; } emu_in;   /* kind 0: floats; 1: steps of 0.1 (ties); 2: with NaN/inf; 3: int64 */
static nn_tensor *emu_input(nn_ctx *ctx, const emu_in *s, int k) {
    int64_t n = 1, i, *iv;
    float *v;
    uint32_t r = 12345u + 7919u * (uint32_t)k;
    nn_tensor *t;
    for (i = 0; i < s->nd; i++) n *= s->shape[i];
    v = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
    iv = (int64_t *)malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    for (i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        v[i] = s->kind == 0 ? (float)((r >> 8) % 2001) / 1000.0f - 1.0f : (float)((r >> 8) % 21) / 10.0f - 1.0f;
        if (s->kind == 2 && i % 11 == 4) v[i] = NAN;
        if (s->kind == 2 && i % 13 == 6) v[i] = -INFINITY;
        iv[i] = (int64_t)((r >> 8) % 5) - 1;
    }
    t = s->kind == 3 ? nn_from_i64(ctx, s->nd, s->shape, iv) : nn_from_array(ctx, s->nd, s->shape, v);
    free(v); free(iv);
    return t;
}
typedef nn_tensor *(*emu_fn)(nn_tensor **in);
/* rel > 0: outputs/gradients compared within rel of the largest value, except those in exact (bit k: 0 out, 1 + i input i's gradient) */
static void emu_direct(nn_ctx *ctx, const char *label, emu_fn f, int nin, const emu_in *ins, int ulps, double rel, unsigned exact) {
    emu_vals v[2][7];
    int dev, k;
    int64_t i;
    begin(label);
    for (dev = 0; dev < 2; dev++) {
        nn_device device = dev ? NN_CUDA : NN_CPU;
        nn_tensor *in[6] = { 0 }, *y, *g = NULL;
        memset(v[dev], 0, sizeof v[dev]);
        for (k = 0; k < nin; k++) { in[k] = fx_on(emu_input(ctx, &ins[k], k), device); nn_set_requires_grad(in[k], ins[k].rg); }
        y = f(in);
        CHECK(y != NULL && y->device == device, "device %d: NULL or on the wrong device: %s", (int)device, ERRS(ctx));
        if (y) {
            emu_take(&v[dev][0], fx_host(y));
            if (y->requires_grad) {
                emu_in gs;
                memset(&gs, 0, sizeof gs);
                gs.nd = y->ndim;
                for (k = 0; k < y->ndim; k++) gs.shape[k] = y->shape[k];
                g = fx_on(emu_input(ctx, &gs, 9), device);
                CHECK(nn_backward(y, g, 0), "device %d: backward failed: %s", (int)device, ERRS(ctx));
                for (k = 0; k < nin; k++) if (in[k]->grad) emu_take(&v[dev][1 + k], fx_host(in[k]->grad));
            }
        }
        nn_arena_reset(ctx);
        CHECK(nn_error(ctx) == NULL, "device %d: unexpected error: %s", (int)device, ERRS(ctx));
        nn_clear_error(ctx);
        nn_free(g);
        for (k = 0; k < nin; k++) nn_free(in[k]);
    }
    for (k = 0; k < 7; k++) {
        CHECK(v[0][k].present == v[1][k].present && v[0][k].n == v[1][k].n, "%d: present/size differ", k);
        if (v[0][k].present && k > 0 && !ins[k - 1].rg) CHECK(0, "input %d has a gradient but does not require one", k - 1);
        for (i = 0; i < v[0][k].n && i < v[1][k].n && !g_case_failed; i++) {
            float a = v[0][k].v[i], b = v[1][k].v[i];
            double r = rel > 0 && !(exact >> k & 1u) ? rel : 0.0, scale = 1e-30;
            int64_t j;
            if (GPU_REL > r) r = GPU_REL;
            for (j = 0; r > 0 && j < v[0][k].n; j++) if (fabs(v[0][k].v[j]) > scale) scale = fabs(v[0][k].v[j]);
            CHECK(emu_close(a, b, ulps, r, scale), "%d[%lld]: CPU %.9g, " DEV " %.9g", k, (long long)i, a, b);
        }
        free(v[0][k].v); free(v[1][k].v);
    }
    end();
}
static nn_conv_opts emu_copts(int64_t stride, int64_t padding, int64_t dilation, int64_t groups, int64_t output_padding) {
    nn_conv_opts o = nn_conv_opts_default();
    o.stride = stride; o.padding = padding; o.dilation = dilation; o.groups = groups; o.output_padding = output_padding;
    return o;
}
static nn_tensor *emu_f_conv(nn_tensor **in) { return nn_conv2d(in[0], in[1], in[2], emu_copts(2, 1, 1, 2, 0)); }
static nn_tensor *emu_f_conv_nb(nn_tensor **in) { return nn_conv2d(in[0], in[1], NULL, emu_copts(1, 2, 2, 1, 0)); }
static nn_tensor *emu_f_convt(nn_tensor **in) { return nn_conv_transpose2d(in[0], in[1], in[2], emu_copts(2, 1, 1, 2, 1)); }
static nn_tensor *emu_f_convt_d(nn_tensor **in) { return nn_conv_transpose2d(in[0], in[1], NULL, emu_copts(1, 0, 2, 1, 0)); }
static nn_tensor *emu_f_maxpool(nn_tensor **in) {
    nn_pool_opts o = nn_pool_opts_default(3);
    o.stride = 1; o.padding = 1; o.dilation = 2;
    return nn_max_pool2d(in[0], o);
}
static nn_tensor *emu_f_maxpool_ceil(nn_tensor **in) {
    nn_pool_opts o = nn_pool_opts_default(2);
    o.ceil_mode = 1;
    return nn_max_pool2d(in[0], o);
}
static nn_tensor *emu_f_avgpool(nn_tensor **in) {
    nn_pool_opts o = nn_pool_opts_default(3);
    o.stride = 2; o.padding = 1; o.ceil_mode = 1; o.count_include_pad = 0;
    return nn_avg_pool2d(in[0], o);
}
static nn_tensor *emu_f_adaptive_down(nn_tensor **in) { return nn_adaptive_avg_pool2d(in[0], 3, 4); }
static nn_tensor *emu_f_adaptive_up(nn_tensor **in) { return nn_adaptive_avg_pool2d(in[0], 7, 6); }
static nn_tensor *emu_f_topk_large(nn_tensor **in) { return nn_topk(in[0], 4, 1, 1, NULL); }
static nn_tensor *emu_f_topk_small(nn_tensor **in) { nn_tensor *ix = NULL; return nn_topk(in[0], 9, -1, 0, &ix) ? ix : NULL; }
static nn_tensor *emu_f_cat3(nn_tensor **in) { return nn_cat(in, 3, 2); }
static nn_tensor *emu_f_f2i(nn_tensor **in) { return nn_to_dtype(nn_mul_scalar(in[0], 7.5f), NN_INT64); }
static nn_tensor *emu_f_i2f(nn_tensor **in) { return nn_to_dtype(in[0], NN_FLOAT32); }
static nn_tensor *emu_f_one_hot(nn_tensor **in) {   /* the classes 0..4 made on the device */
    return nn_one_hot(nn_to_dtype(nn_add_scalar(nn_to_dtype(in[0], NN_FLOAT32), 1.0f), NN_INT64), 6);
}
static nn_tensor *emu_f_one_hot_auto(nn_tensor **in) {   /* num_classes -1: max + 1 read back from the device */
    return nn_one_hot(nn_to_dtype(nn_add_scalar(nn_to_dtype(in[0], NN_FLOAT32), 1.0f), NN_INT64), -1);
}
/* a small CNN: conv, relu, max_pool, conv, adaptive_avg_pool, flatten, linear */
static nn_tensor *emu_f_cnn(nn_tensor **in) {
    int64_t flat[2] = { 4, 24 };
    nn_tensor *h = nn_max_pool2d(nn_relu(nn_conv2d(in[0], in[1], in[2], emu_copts(1, 1, 1, 1, 0))), nn_pool_opts_default(2));
    h = nn_adaptive_avg_pool2d(nn_conv2d(h, in[3], NULL, emu_copts(1, 1, 1, 1, 0)), 2, 2);
    return nn_linear(nn_reshape(h, 2, flat), in[4], in[5]);
}
static void emu_directs(nn_ctx *ctx) {
    emu_in cnn[6] = { { 4, { 4, 2, 8, 8 }, 0, 0 }, { 4, { 4, 2, 3, 3 }, 0, 1 }, { 1, { 4 }, 0, 1 }, { 4, { 6, 4, 3, 3 }, 0, 1 },
                      { 2, { 5, 24 }, 0, 1 }, { 1, { 5 }, 0, 1 } };
    emu_in conv[3] = { { 4, { 17, 4, 7, 6 }, 0, 1 }, { 4, { 6, 2, 3, 2 }, 0, 1 }, { 1, { 6 }, 0, 1 } };
    emu_in conv_nb[2] = { { 4, { 2, 3, 6, 7 }, 0, 1 }, { 4, { 5, 3, 3, 3 }, 0, 0 } };
    emu_in convt[3] = { { 4, { 3, 4, 5, 4 }, 0, 1 }, { 4, { 4, 3, 3, 2 }, 0, 1 }, { 1, { 6 }, 0, 1 } };
    emu_in convt_d[2] = { { 4, { 2, 3, 4, 5 }, 0, 0 }, { 4, { 3, 2, 2, 3 }, 0, 1 } };
    emu_in pool_nan[1] = { { 4, { 2, 3, 9, 8 }, 2, 1 } }, pool_ties[1] = { { 4, { 2, 2, 7, 9 }, 1, 1 } };
    emu_in adapt[1] = { { 4, { 2, 3, 7, 5 }, 0, 1 } };
    emu_in topk_nan[1] = { { 3, { 2, 13, 3 }, 2, 1 } }, topk_ties[1] = { { 2, { 3, 17 }, 1, 0 } };
    emu_in cat3[3] = { { 3, { 2, 3, 4 }, 0, 1 }, { 3, { 2, 3, 1 }, 0, 0 }, { 3, { 2, 3, 5 }, 0, 1 } };
    emu_in f2i[1] = { { 2, { 5, 7 }, 0, 0 } }, i2f[1] = { { 2, { 4, 9 }, 3, 0 } };
    emu_direct(ctx, "cuda/direct: conv2d batch 17, groups 2, stride 2, padding 1, bias (its gradient bit for bit); im2col in chunks of samples", emu_f_conv, 3, conv, 0, 1e-5, 1u << 3);
    emu_direct(ctx, "cuda/direct: conv2d dilation 2, padding 2, no bias, weight without gradient", emu_f_conv_nb, 2, conv_nb, 0, 1e-5, 0u);
    emu_direct(ctx, "cuda/direct: conv_transpose2d groups 2, stride 2, output_padding 1, bias (its gradient bit for bit)", emu_f_convt, 3, convt, 0, 1e-5, 1u << 3);
    emu_direct(ctx, "cuda/direct: conv_transpose2d dilation 2, input without gradient", emu_f_convt_d, 2, convt_d, 0, 1e-5, 0u);
    emu_direct(ctx, "cuda/direct: max_pool2d k3 dilation 2 padding 1 with NaN and -inf (0 ULPs)", emu_f_maxpool, 1, pool_nan, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: max_pool2d ceil_mode with ties (0 ULPs)", emu_f_maxpool_ceil, 1, pool_ties, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: avg_pool2d ceil_mode, count_include_pad 0 (0 ULPs)", emu_f_avgpool, 1, pool_ties, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: adaptive_avg_pool2d 7x5 -> 3x4, overlapping windows (0 ULPs)", emu_f_adaptive_down, 1, adapt, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: adaptive_avg_pool2d 7x5 -> 7x6, upsampling (0 ULPs)", emu_f_adaptive_up, 1, adapt, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: topk largest along a middle dim with NaN and -inf, and its gradient (0 ULPs)", emu_f_topk_large, 1, topk_nan, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: topk smallest indices with ties (stable)", emu_f_topk_small, 1, topk_ties, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: cat of 3 along the last dim, one input without gradient", emu_f_cat3, 3, cat3, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: to_dtype float32 -> int64 (truncation toward zero)", emu_f_f2i, 1, f2i, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: to_dtype int64 -> float32", emu_f_i2f, 1, i2f, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: a small CNN (conv, relu, max_pool, conv, adaptive_avg_pool, flatten, linear), forward and backward",
               emu_f_cnn, 6, cnn, 0, 1e-5, 0u);
    emu_direct(ctx, "cuda/direct: one_hot of a device index", emu_f_one_hot, 1, i2f, 0, 0, 0u);
    emu_direct(ctx, "cuda/direct: one_hot of a device index, num_classes -1 (max + 1)", emu_f_one_hot_auto, 1, i2f, 0, 0, 0u);
}

static void emu_errors(nn_ctx *ctx) {
    int64_t sh[2] = { 2, 3 };
    nn_tensor *a = nn_ones(ctx, 2, sh), *b = fx_on(nn_ones(ctx, 2, sh), NN_CUDA), *y;
    begin("cuda/errors: a dtype with no CUDA kernel is an error naming it, not a crash");
    {   /* every op has a CUDA kernel now; float16 has no kernels on either device */
        nn_tensor *h = fx_on(nn_empty_dtype(ctx, 2, sh, NN_FLOAT16), NN_CUDA);
        CHECK(h != NULL && h->device == NN_CUDA, "nn_to(float16): %s", ERRS(ctx));
        nn_fill_(h, 1.0f);
        CHECK(nn_error(ctx) && strstr(nn_error(ctx), "no kernel for float16"), "got %s", ERRS(ctx));
        printf("  no kernel: \"%s\"\n", ERRS(ctx));
        nn_free(h);
    }
    y = NULL;
    nn_clear_error(ctx);
    end();
    begin("cuda/errors: one_hot with a class out of range on the device: an error, not a crash");
    {
        int64_t one = 4, cls[4] = { 0, 2, 7, 1 };
        nn_tensor *ix = fx_on(nn_from_i64(ctx, 1, &one, cls), NN_CUDA);
        y = nn_one_hot(ix, 3);
        CHECK(y == NULL && nn_error(ctx) && strstr(nn_error(ctx), "nn_one_hot: class 7 is not in [0, 3)"), "got %p, error %s", (void *)y, ERRS(ctx));
        printf("  one_hot: \"%s\"\n", ERRS(ctx));
        nn_clear_error(ctx);
        y = nn_one_hot(ix, -1);   /* now 8 classes: fine */
        CHECK(y && y->device == NN_CUDA && y->ndim == 2 && y->shape[1] == 8 && nn_i64(fx_host(y))[2 * 8 + 7] == 1,
              "num_classes -1 on a device index: %s", ERRS(ctx));
        nn_clear_error(ctx);
        nn_arena_reset(ctx);
        nn_free(ix);
    }
    end();
    begin("cuda/errors: to_dtype of a float with no int64 value on the device: an error, not a crash");
    {
        int64_t three = 3;
        float vals[3] = { 1.0f, 3e19f, 2.0f };
        nn_tensor *x = fx_on(nn_from_array(ctx, 1, &three, vals), NN_CUDA);
        y = nn_to_dtype(x, NN_INT64);
        CHECK(y == NULL && nn_error(ctx) && strstr(nn_error(ctx), "at position 1 has no int64 value"), "got %p, error %s", (void *)y, ERRS(ctx));
        printf("  to_dtype: \"%s\"\n", ERRS(ctx));
        nn_clear_error(ctx);
        nn_arena_reset(ctx);
        nn_free(x);
    }
    end();
    begin("cuda/errors: operands on different devices");
    y = nn_add(a, b);
    CHECK(y == NULL && nn_error(ctx) && strstr(nn_error(ctx), "device"), "got %p, error %s", (void *)y, ERRS(ctx));
    printf("  mixed devices: \"%s\"\n", ERRS(ctx));
    nn_clear_error(ctx);
    end();
#ifdef NN_CUDA_EMULATE
    begin("cuda/errors: nn_cuda_device_count in the emulated build");
    CHECK(nn_cuda_device_count(ctx) == 1, "expected the one emulated device");
#else
    begin("cuda/errors: nn_cuda_device_count on the GPU machine");
    CHECK(nn_cuda_device_count(ctx) >= 1, "no device: %s", ERRS(ctx));
#endif
    end();
    nn_arena_reset(ctx);
    nn_free(a); nn_free(b);
}


/* ---- device tensors: what nn.h does with them beyond the op kernels ---- */
static nn_tensor *emu_rand(nn_ctx *ctx, int nd, const int64_t *sh, unsigned seed) {
    nn_tensor *t = nn_empty(ctx, nd, sh);
    int64_t i;
    for (i = 0; i < t->numel; i++) nn_f32(t)[i] = (float)(((i * 2654435761u + seed * 40503u) % 2001) / 1000.0 - 1.0);
    return t;
}
/* largest |a - b| over the largest |a|, both read on the host (b may be on the device) */
static double emu_rel_diff(nn_tensor *a, nn_tensor *b) {
    nn_tensor *h = fx_host(b);
    double worst = 0, scale = 1e-30;
    int64_t i;
    if (!h || h->numel != a->numel) return 1e30;
    for (i = 0; i < a->numel; i++) if (fabs(nn_f32(a)[fx_offset(a, i)]) > scale) scale = fabs(nn_f32(a)[fx_offset(a, i)]);
    for (i = 0; i < a->numel; i++) {
        double d = fabs((double)nn_f32(a)[fx_offset(a, i)] - nn_f32(h)[fx_offset(h, i)]);
        if (!(d <= worst)) worst = d;   /* NaN: counts as the worst */
    }
    return worst / scale;
}

/* nn_linear (one op: bias rows, two GEMMs, the bias gradient's column sums) on both devices */
static void emu_linear(nn_ctx *ctx) {
    int64_t xs[3] = { 2, 5, 7 }, ws[2] = { 4, 7 }, bs[1] = { 4 };
    int bias;
    for (bias = 0; bias < 2; bias++) {
        nn_tensor *x[2], *w[2], *b[2], *y[2];
        int d;
        begin(bias ? "cuda/linear: nn_linear with bias, CPU vs " DEV " (1e-5 of the largest value)"
                   : "cuda/linear: nn_linear without bias, CPU vs " DEV " (1e-5 of the largest value)");
        for (d = 0; d < 2; d++) {
            nn_device dev = d ? NN_CUDA : NN_CPU;
            x[d] = nn_set_requires_grad(fx_on(emu_rand(ctx, 3, xs, 1), dev), 1);
            w[d] = nn_set_requires_grad(fx_on(emu_rand(ctx, 2, ws, 2), dev), 1);
            b[d] = bias ? nn_set_requires_grad(fx_on(emu_rand(ctx, 1, bs, 3), dev), 1) : NULL;
            y[d] = nn_linear(x[d], w[d], b[d]);
            CHECK(y[d] != NULL && y[d]->device == dev, "device %d: %s", d, ERRS(ctx));
            if (y[d]) CHECK(nn_backward(nn_sum(nn_mul(y[d], y[d]), NN_ALL, 0), NULL, 0), "backward: %s", ERRS(ctx));
        }
        if (y[0] && y[1]) {
            CHECK(emu_rel_diff(y[0], y[1]) <= 1e-5, "out differs by %g", emu_rel_diff(y[0], y[1]));
            CHECK(emu_rel_diff(x[0]->grad, x[1]->grad) <= 1e-5, "x.grad differs by %g", emu_rel_diff(x[0]->grad, x[1]->grad));
            CHECK(emu_rel_diff(w[0]->grad, w[1]->grad) <= 1e-5, "w.grad differs by %g", emu_rel_diff(w[0]->grad, w[1]->grad));
            if (bias) CHECK(emu_rel_diff(b[0]->grad, b[1]->grad) <= 1e-5, "b.grad differs by %g", emu_rel_diff(b[0]->grad, b[1]->grad));
        }
        nn_arena_reset(ctx);
        for (d = 0; d < 2; d++) { nn_free(x[d]); nn_free(w[d]); nn_free(b[d]); }
        end();
    }
}

/* nn_item, nn_to of strided device tensors, nn_keep, nn_fill_, backward with a strided gradient,
   nn_zero_grad and anomaly mode, all on the device */
static void emu_plumbing(nn_ctx *ctx) {
    int64_t sh[2] = { 3, 4 }, i;
    nn_tensor *a = emu_rand(ctx, 2, sh, 5), *d = fx_on(nn_keep(a), NN_CUDA), *t, *h, *k, *g, *y;
    nn_clear_error(ctx);
    begin("cuda/plumbing: nn_item copies one element back; nn_to of a transposed device tensor");
    CHECK(d && d->device == NN_CUDA, "nn_to: %s", ERRS(ctx));
    CHECK(nn_item(nn_sum(d, NN_ALL, 0)) == nn_item(nn_sum(a, NN_ALL, 0)), "sum: %g vs %g", nn_item(nn_sum(d, NN_ALL, 0)),
          nn_item(nn_sum(a, NN_ALL, 0)));
    t = nn_transpose(d, 0, 1);
    h = nn_to(t, NN_CPU);
    CHECK(h && h->device == NN_CPU && h->shape[0] == 4 && nn_is_contiguous(h), "nn_to(transposed): %s", ERRS(ctx));
    for (i = 0; h && i < 12; i++) CHECK(nn_f32(h)[i] == nn_f32(a)[(i % 3) * 4 + i / 3], "element %lld", (long long)i);
    end();
    begin("cuda/plumbing: nn_keep and nn_fill_ on a device tensor");
    k = nn_keep(t);
    CHECK(k && k->device == NN_CUDA && nn_is_contiguous(k), "nn_keep: %s", ERRS(ctx));
    nn_arena_reset(ctx);
    h = k ? nn_to(k, NN_CPU) : NULL;   /* k outlived the reset */
    for (i = 0; h && i < 12; i++) CHECK(nn_f32(h)[i] == nn_f32(a)[(i % 3) * 4 + i / 3], "kept element %lld", (long long)i);
    nn_free(h);
    nn_fill_(k, 2.5f);
    CHECK(nn_item(nn_mean(k, NN_ALL, 0)) == 2.5f, "fill: mean %g", nn_item(nn_mean(k, NN_ALL, 0)));
    nn_free(k);
    end();
    begin("cuda/plumbing: backward with a strided device gradient; nn_zero_grad on the device");
    nn_set_requires_grad(d, 1);
    {
        int64_t gs[2] = { 4, 3 };
        nn_tensor *gc = fx_on(emu_rand(ctx, 2, gs, 9), NN_CUDA), *gh;
        g = nn_transpose(gc, 0, 1);           /* (3, 4), strided */
        y = nn_mul_scalar(d, 3.0f);
        CHECK(nn_backward(y, g, 0), "backward: %s", ERRS(ctx));
        gh = d->grad ? nn_to(nn_detach(d->grad), NN_CPU) : NULL;
        for (i = 0; gh && i < 12; i++) {
            float want = 3.0f * nn_f32(nn_to(nn_detach(gc), NN_CPU))[(i % 4) * 3 + i / 4];
            CHECK(nn_f32(gh)[i] == want, "grad element %lld: %g, expected %g", (long long)i, nn_f32(gh)[i], want);
        }
        nn_zero_grad(d);
        CHECK(nn_item(nn_sum(nn_abs(d->grad), NN_ALL, 0)) == 0.0f, "zero_grad left %g", nn_item(nn_sum(nn_abs(d->grad), NN_ALL, 0)));
        nn_arena_reset(ctx);
        nn_free(gc);
    }
    end();
    begin("cuda/plumbing: anomaly mode finds a NaN made on the device");
    nn_set_detect_anomaly(ctx, 1);
    y = nn_log(nn_sub_scalar(d, 5.0f));       /* log of negatives: NaN */
    CHECK(y == NULL && nn_error(ctx) && strstr(nn_error(ctx), "anomaly") && strstr(nn_error(ctx), "log"), "got %s", ERRS(ctx));
    nn_set_detect_anomaly(ctx, 0);
    nn_clear_error(ctx);
    nn_arena_reset(ctx);
    end();
    begin("cuda/plumbing: host-only functions refuse device tensors with a message");
    nn_print(d);
    CHECK(nn_error(ctx) && strstr(nn_error(ctx), "nn_print") && strstr(nn_error(ctx), "GPU"), "got %s", ERRS(ctx));
    nn_clear_error(ctx);
    CHECK(!nn_copy_(d, d) && nn_error(ctx) && strstr(nn_error(ctx), "nn_copy_") && strstr(nn_error(ctx), "GPU"), "got %s", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    nn_free(d); nn_free(a);
}

#if defined(NN__EMU_GUARD)
#include <sys/wait.h>
/* the guard itself: a child process reads a device tensor's data on the host and must die of it */
static void emu_guard(nn_ctx *ctx) {
    int64_t sh[1] = { 4 };
    nn_tensor *d = fx_on(nn_ones(ctx, 1, sh), NN_CUDA);
    pid_t pid;
    int status = 0;
    begin("cuda/guard: host code reading device memory faults (as it would crash on a GPU)");
    fflush(stdout);
    pid = fork();
    if (pid == 0) { volatile float v = nn_f32(d)[0]; (void)v; _exit(0); }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/waitpid failed");
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "the child was not stopped by SIGSEGV (status %d)", status);
    end();
    nn_free(d);
}
#endif

/* nn_module_to there and back, and a few training steps of each optimizer on both devices: an MLP
   (Linear 6-16, tanh, Linear 16-3, MSE) from the same weights; losses and weights compared */
static nn_tensor *emu_mlp_loss(nn_module *m, nn_tensor *x, nn_tensor *t) { return nn_mse_loss(nn_forward(m, x), t, NN_MEAN); }
static nn_module *emu_mlp(nn_ctx *ctx) {
    nn_module *mods[3];
    nn_manual_seed(ctx, 11);
    mods[0] = nn_linear_new(ctx, 6, 16, 1); mods[1] = nn_tanh_new(ctx); mods[2] = nn_linear_new(ctx, 16, 3, 1);
    return nn_sequential_new(ctx, mods, 3);
}
static nn_optim *emu_optim(int kind, nn_tensor **ps, int np) {
    switch (kind) {
    case 0: { nn_sgd_opts o = nn_sgd_opts_default(0.05); o.momentum = 0.9; o.nesterov = 1; o.weight_decay = 1e-3; return nn_sgd(ps, np, o); }
    case 1: { nn_adam_opts o = nn_adam_opts_default(); o.lr = 1e-2; return nn_adam(ps, np, o); }
    case 2: { nn_adam_opts o = nn_adamw_opts_default(); o.lr = 1e-2; o.amsgrad = 1; return nn_adamw(ps, np, o); }
    case 3: { nn_rmsprop_opts o = nn_rmsprop_opts_default(); o.lr = 1e-3; o.centered = 1; o.momentum = 0.5; return nn_rmsprop(ps, np, o); }
    default: { nn_adagrad_opts o = nn_adagrad_opts_default(); o.lr = 0.05; return nn_adagrad(ps, np, o); }
    }
}
static void emu_training(nn_ctx *ctx) {
    static const char *names[] = { "SGD (momentum, nesterov, weight decay)", "Adam", "AdamW (amsgrad)", "RMSprop (centered, momentum)", "Adagrad" };
    int64_t xs[2] = { 8, 6 }, ts[2] = { 8, 3 };
    int kind;
    {
        nn_module *m = emu_mlp(ctx);
        nn_tensor *ps[4], *before;
        int np = nn_module_parameters(m, ps, 4);
        begin("cuda/module_to: to the GPU and back, values unchanged, pointers kept");
        before = nn_clone(ps[0]); before = nn_keep(before);
        CHECK(nn_module_to(m, NN_CUDA) && ps[0]->device == NN_CUDA && ps[3]->device == NN_CUDA, "to CUDA: %s", ERRS(ctx));
        CHECK(nn_module_to(m, NN_CPU) && ps[0]->device == NN_CPU, "back: %s", ERRS(ctx));
        CHECK(np == 4 && memcmp(nn_f32(before), nn_f32(ps[0]), (size_t)before->numel * sizeof(float)) == 0, "values changed");
        nn_arena_reset(ctx);
        nn_free(before);
        nn_module_free(m);
        end();
    }
    for (kind = 0; kind < 5; kind++) {
        double lossd[2][6], worst_loss = 0, worst_w = 0;
        nn_tensor *final[2][4];
        int d, step, p;
        char label[160];
        snprintf(label, sizeof label, "cuda/training: 6 %s steps of an MLP on both devices (%g of the largest value)", names[kind], TRAIN_REL);
        begin(label);
        for (d = 0; d < 2; d++) {
            nn_device dev = d ? NN_CUDA : NN_CPU;
            nn_module *m = emu_mlp(ctx);
            nn_tensor *ps[4], *x = fx_on(emu_rand(ctx, 2, xs, 21), dev), *t = fx_on(emu_rand(ctx, 2, ts, 22), dev);
            int np = nn_module_parameters(m, ps, 4);
            nn_optim *o;
            CHECK(nn_module_to(m, dev), "module_to: %s", ERRS(ctx));
            o = emu_optim(kind, ps, np);
            for (step = 0; step < 6; step++) {
                nn_tensor *loss;
                nn_optim_zero_grad(o);
                loss = emu_mlp_loss(m, x, t);
                CHECK(loss && nn_backward(loss, NULL, 0) && nn_optim_step(o), "device %d step %d: %s", d, step, ERRS(ctx));
                lossd[d][step] = loss ? nn_item(loss) : NAN;
                nn_arena_reset(ctx);
            }
            for (p = 0; p < 4; p++) final[d][p] = nn_keep(nn_to(nn_detach(ps[p]), NN_CPU));
            nn_optim_free(o);
            nn_module_free(m);
            nn_free(x); nn_free(t);
        }
        for (step = 0; step < 6; step++) {
            double r = fabs(lossd[0][step] - lossd[1][step]) / fabs(lossd[0][step]);
            if (!(r <= worst_loss)) worst_loss = r;
        }
        for (p = 0; p < 4; p++) { double r = emu_rel_diff(final[0][p], final[1][p]); if (!(r <= worst_w)) worst_w = r; }
        CHECK(worst_loss <= TRAIN_REL && worst_w <= TRAIN_REL, "losses differ by %g, weights by %g", worst_loss, worst_w);
        CHECK(lossd[0][5] < lossd[0][0], "the CPU's loss did not fall (%g -> %g)", lossd[0][0], lossd[0][5]);
        printf("  %s: loss %.6f -> %.6f (CPU) and %.6f -> %.6f (" DEV "); worst relative difference: losses %.2g, weights %.2g\n",
               names[kind], lossd[0][0], lossd[0][5], lossd[1][0], lossd[1][5], worst_loss, worst_w);
        nn_arena_reset(ctx);
        for (d = 0; d < 2; d++) for (p = 0; p < 4; p++) nn_free(final[d][p]);
        end();
    }
}

/* clip_grad_norm_ (2 and infinity) and clip_grad_value_ of device gradients against the CPU's:
   the totals and the clipped gradients */
static void emu_clip(nn_ctx *ctx) {
    int64_t xs[2] = { 8, 6 }, ts[2] = { 8, 3 };
    float totals[2][2];
    nn_tensor *grads[2][3][4];
    int d, p, stage;
    double rel = GPU_REL > 1e-6 ? GPU_REL : 1e-6;
    begin("cuda/clip: clip_grad_norm (2, then infinity) and clip_grad_value of device gradients, against the CPU (1e-6 of the largest value)");
    for (d = 0; d < 2; d++) {
        nn_device dev = d ? NN_CUDA : NN_CPU;
        nn_module *m = emu_mlp(ctx);
        nn_tensor *ps[4], *x = fx_on(emu_rand(ctx, 2, xs, 21), dev), *t = fx_on(emu_rand(ctx, 2, ts, 22), dev);
        int np = nn_module_parameters(m, ps, 4);
        CHECK(np == 4 && nn_module_to(m, dev), "module_to: %s", ERRS(ctx));
        CHECK(nn_backward(emu_mlp_loss(m, x, t), NULL, 0), "backward: %s", ERRS(ctx));
        for (stage = 0; stage < 3; stage++) {
            if (stage < 2) totals[d][stage] = nn_clip_grad_norm(ps, 4, stage ? 0.01f : 0.1f, stage ? INFINITY : 2.0f);
            else nn_clip_grad_value(ps, 4, 0.001f);
            CHECK(nn_error(ctx) == NULL, "device %d stage %d: %s", d, stage, ERRS(ctx));
            for (p = 0; p < 4; p++) grads[d][stage][p] = nn_keep(nn_to(nn_detach(ps[p]->grad), NN_CPU));
        }
        nn_arena_reset(ctx);
        nn_module_free(m);
        nn_free(x); nn_free(t);
    }
    for (stage = 0; stage < 2; stage++)
        CHECK(fabs((double)totals[0][stage] - totals[1][stage]) <= rel * fabs((double)totals[0][stage]), "total norm %d: CPU %.9g, " DEV " %.9g",
              stage, totals[0][stage], totals[1][stage]);
    CHECK(totals[0][0] > 0.1f && totals[0][1] > 0.01f, "the norms (%g, %g) are too small to clip: the test checks nothing", totals[0][0], totals[0][1]);
    for (stage = 0; stage < 3; stage++) for (p = 0; p < 4; p++)
        CHECK(emu_rel_diff(grads[0][stage][p], grads[1][stage][p]) <= rel, "stage %d, gradient %d: differs by %g", stage, p,
              emu_rel_diff(grads[0][stage][p], grads[1][stage][p]));
    {   /* clip_grad_value really clamped */
        float mx = 0;
        int64_t i;
        for (p = 0; p < 4; p++) for (i = 0; i < grads[1][2][p]->numel; i++) if (fabsf(nn_f32(grads[1][2][p])[i]) > mx) mx = fabsf(nn_f32(grads[1][2][p])[i]);
        CHECK(mx == 0.001f, "after clip_grad_value(0.001) the largest |gradient| is %g", mx);
    }
    printf("  clip: total 2-norm %.7g (CPU) and %.7g (" DEV "); infinity norm %.7g and %.7g\n", totals[0][0], totals[1][0], totals[0][1], totals[1][1]);
    nn_arena_reset(ctx);
    for (d = 0; d < 2; d++) for (stage = 0; stage < 3; stage++) for (p = 0; p < 4; p++) nn_free(grads[d][stage][p]);
    end();
}

/* saving and loading a model on the GPU: a checkpoint (model and Adam's state) saved from the
   device and loaded into a fresh model and optimizer on the device; one more step on each gives
   the same loss and weights. Then nn_save_model from the device into a CPU model, and a checkpoint
   saved after the model went back to the CPU while Adam's state stayed on the GPU. */
static void emu_save_load(nn_ctx *ctx) {
    const char *path = "build/test_cuda_ck.safetensors";
    int64_t xs[2] = { 8, 6 }, ts[2] = { 8, 3 };
    nn_module *m = emu_mlp(ctx), *m2, *m3;
    nn_tensor *ps[4], *ps2[4], *ps3[4], *x = fx_on(emu_rand(ctx, 2, xs, 21), NN_CUDA), *t = fx_on(emu_rand(ctx, 2, ts, 22), NN_CUDA);
    nn_optim *o, *o2;
    nn_checkpoint ck = nn_checkpoint_default(), ck2 = nn_checkpoint_default();
    float l1 = 0, l2 = 0;
    int p, step;
    begin("cuda/save_load: a checkpoint of a GPU model and its Adam state, saved and loaded on the device, resumes exactly");
    nn_module_parameters(m, ps, 4);
    CHECK(nn_module_to(m, NN_CUDA), "module_to: %s", ERRS(ctx));
    o = emu_optim(1, ps, 4);
    for (step = 0; step < 2; step++) {
        nn_optim_zero_grad(o);
        CHECK(nn_backward(emu_mlp_loss(m, x, t), NULL, 0) && nn_optim_step(o), "step: %s", ERRS(ctx));
        nn_arena_reset(ctx);
    }
    ck.model = m; ck.optim = o; ck.epoch = 3;
    CHECK(nn_save_checkpoint(&ck, path), "nn_save_checkpoint from the GPU: %s", ERRS(ctx));
    m2 = emu_mlp(ctx);
    nn_module_parameters(m2, ps2, 4);
    nn_fill_(ps2[0], 0.5f);                 /* not the saved values */
    CHECK(nn_module_to(m2, NN_CUDA), "module_to: %s", ERRS(ctx));
    o2 = emu_optim(1, ps2, 4);
    ck2.model = m2; ck2.optim = o2;
    CHECK(nn_load_checkpoint(&ck2, path) && ck2.epoch == 3, "nn_load_checkpoint into the GPU: %s", ERRS(ctx));
    CHECK(ps2[0]->device == NN_CUDA, "the loaded weight left the GPU");
    CHECK(o2->groups[0].state[0] && o2->groups[0].state[0]->device == NN_CUDA && o2->groups[0].state[1] &&
          o2->groups[0].state[1]->device == NN_CUDA, "Adam's loaded state is not on the GPU");
    for (p = 0; p < 4; p++) CHECK(emu_rel_diff(nn_to(nn_detach(ps[p]), NN_CPU), ps2[p]) == 0, "parameter %d differs after loading", p);
    {
        nn_tensor *a, *b;
        nn_optim_zero_grad(o); nn_optim_zero_grad(o2);
        a = emu_mlp_loss(m, x, t); b = emu_mlp_loss(m2, x, t);
        CHECK(a && b && nn_backward(a, NULL, 0) && nn_backward(b, NULL, 0) && nn_optim_step(o) && nn_optim_step(o2), "step 3: %s", ERRS(ctx));
        l1 = a ? nn_item(a) : NAN; l2 = b ? nn_item(b) : NAN;
        CHECK(l1 == l2, "step 3's losses: %.9g, resumed %.9g", l1, l2);
        for (p = 0; p < 4; p++) CHECK(emu_rel_diff(nn_to(nn_detach(ps[p]), NN_CPU), ps2[p]) == 0, "parameter %d differs after step 3 (Adam's state not restored?)", p);
        nn_arena_reset(ctx);
    }
    printf("  save_load: step 3's loss %.9g, resumed from the checkpoint %.9g\n", l1, l2);
    end();
    begin("cuda/save_load: nn_save_model from the GPU, nn_load_model into a CPU model");
    CHECK(nn_save_model(m, path), "nn_save_model from the GPU: %s", ERRS(ctx));
    m3 = emu_mlp(ctx);
    nn_module_parameters(m3, ps3, 4);
    CHECK(nn_load_model(m3, path), "nn_load_model: %s", ERRS(ctx));
    for (p = 0; p < 4; p++) CHECK(emu_rel_diff(ps3[p], ps[p]) == 0, "parameter %d differs", p);
    nn_arena_reset(ctx);
    end();
    begin("cuda/save_load: a checkpoint with the model back on the CPU and Adam's state still on the GPU");
    CHECK(nn_module_to(m, NN_CPU), "module_to CPU: %s", ERRS(ctx));
    CHECK(nn_save_checkpoint(&ck, path), "nn_save_checkpoint: %s", ERRS(ctx));
    CHECK(nn_load_checkpoint(&ck2, path), "nn_load_checkpoint: %s", ERRS(ctx));
    for (p = 0; p < 4; p++) CHECK(emu_rel_diff(ps[p], ps2[p]) == 0, "parameter %d differs", p);
    nn_arena_reset(ctx);
    end();
    remove(path);
    nn_optim_free(o); nn_optim_free(o2);
    nn_module_free(m); nn_module_free(m2); nn_module_free(m3);
    nn_free(x); nn_free(t);
}

/* dropout has no fixture: training mode on both devices with the same seed gives the same mask (drawn
   on the host from the context's RNG in the CPU's order), the same output and the same gradient */
static void emu_dropout(nn_ctx *ctx) {
    int64_t sh[2] = { 7, 45 }, i, n = 7 * 45;
    emu_vals out[2], grad[2];
    int d, zeros = 0;
    begin(GPU_REL > 0 ? "cuda/dropout: training mode, same seed: CPU and CUDA give the same mask, outputs and gradients within GPU_REL"
                      : "cuda/dropout: training mode, same seed: CPU and emulated CUDA give identical outputs and gradients (0 ULPs)");
    for (d = 0; d < 2; d++) {
        nn_device dev = d ? NN_CUDA : NN_CPU;
        nn_tensor *x, *y, *g;
        nn_manual_seed(ctx, 1234);
        x = fx_on(nn_randn(ctx, 2, sh), dev);
        g = fx_on(nn_randn(ctx, 2, sh), dev);
        nn_set_requires_grad(x, 1);
        y = nn_dropout(x, 0.3f, 1);
        CHECK(y != NULL && y->device == dev, "device %d: nn_dropout failed: %s", d, ERRS(ctx));
        memset(&out[d], 0, sizeof out[d]); memset(&grad[d], 0, sizeof grad[d]);
        if (y) {
            emu_take(&out[d], fx_host(y));
            CHECK(nn_backward(y, g, 0), "device %d: backward failed: %s", d, ERRS(ctx));
            if (x->grad) emu_take(&grad[d], fx_host(x->grad));
        }
        nn_arena_reset(ctx);
        CHECK(nn_error(ctx) == NULL, "device %d: unexpected error: %s", d, ERRS(ctx));
        nn_clear_error(ctx);
        nn_free(g); nn_free(x);
    }
    CHECK(out[0].present && out[1].present && out[0].n == n && out[1].n == n, "outputs missing");
    CHECK(grad[0].present && grad[1].present && grad[0].n == n && grad[1].n == n, "gradients missing");
    for (i = 0; i < n && !g_case_failed; i++) {
        CHECK(emu_close(out[0].v[i], out[1].v[i], 0, GPU_REL, fabs(out[0].v[i])), "out[%lld]: CPU %.9g, " DEV " %.9g", (long long)i, out[0].v[i],
              out[1].v[i]);
        CHECK(emu_close(grad[0].v[i], grad[1].v[i], 0, GPU_REL, fabs(grad[0].v[i])), "grad[%lld]: CPU %.9g, " DEV " %.9g", (long long)i, grad[0].v[i],
              grad[1].v[i]);
        zeros += out[1].v[i] == 0.0f;
    }
    CHECK(zeros > n / 10 && zeros < n / 2, "%d of %lld dropped at p = 0.3", zeros, (long long)n);
    printf("  dropout: %d of %lld elements dropped, identical on both devices\n", zeros, (long long)n);
    for (d = 0; d < 2; d++) { free(out[d].v); free(grad[d].v); }
    end();
}

/* bad values found on the device come back as a clear error, not a crash */
static void emu_loss_errors(nn_ctx *ctx) {
    int64_t sh[2] = { 3, 4 }, tv[3] = { 1, 7, 0 }, three = 3;
    nn_tensor *x = fx_on(nn_randn(ctx, 2, sh), NN_CUDA), *t = fx_on(nn_from_i64(ctx, 1, &three, tv), NN_CUDA), *y;
    nn_tensor *p = fx_on(nn_full(ctx, 2, sh, 0.5f), NN_CUDA), *q = fx_on(nn_full(ctx, 2, sh, 1.5f), NN_CUDA);
    begin("cuda/errors: an nll/cross_entropy target out of range on the device is an error naming it");
    y = nn_cross_entropy(x, t, nn_cross_entropy_opts_default());
    CHECK(y == NULL && nn_error(ctx) && strstr(nn_error(ctx), "target 7 at position 1 is not a class in [0, 4)"), "got %p, error %s",
          (void *)y, ERRS(ctx));
    printf("  nll target: \"%s\"\n", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    begin("cuda/errors: binary_cross_entropy input outside [0, 1] on the device is an error naming it");
    y = nn_bce_loss(q, p, NULL, NN_MEAN);
    CHECK(y == NULL && nn_error(ctx) && strstr(nn_error(ctx), "input 1.5 at position 0 is not a probability"), "got %p, error %s",
          (void *)y, ERRS(ctx));
    printf("  bce input: \"%s\"\n", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    begin("cuda/errors: layer_norm on the device with its weight on the CPU is an error (the front end checks only the input)");
    {
        int64_t four = 4;
        nn_tensor *w = nn_ones(ctx, 1, &four);
        y = nn_layer_norm(x, 1, w, NULL, 1e-5f);
        CHECK(y == NULL && nn_error(ctx) && strstr(nn_error(ctx), "input 1 is on device 0"), "got %p, error %s", (void *)y, ERRS(ctx));
        printf("  mixed-device weight: \"%s\"\n", ERRS(ctx));
        nn_clear_error(ctx);
        nn_free(w);
    }
    end();
    nn_arena_reset(ctx);
    nn_free(x); nn_free(t); nn_free(p); nn_free(q);
}

static void emu_report(void) {
    int i, op;
    printf("  kernels (" NN__CUDA_MODE "):\n");
    for (i = 0; i < NN__CUDA_NKERNELS; i++) {
        const nn__cuda_kernel_info *k = &nn__cuda_kernel_list[i];
        if (k->gpu_only) printf("    %-24s GPU-only (needs __syncthreads, shared memory or warp ops): NOT run here\n", k->name);
        else printf("    %-24s ran " NN__CUDA_MODE ": %lld launches\n", k->name, (long long)k->launches);
    }
#ifdef NN_CUDA_EMULATE
    printf("  GPU-only kernels in this build: none. Nothing in this program ran on a GPU.\n");
#else
    printf("  every kernel above with launches ran on the GPU.\n");
#endif
    printf("  ops with a CUDA kernel:");
    for (op = 0; op < NN_OP_COUNT; op++) if (op != NN_OP_LEAF && nn__cuda_kernels[op].forward) printf(" %s", nn_op_name(op));
    printf("\n  ops with no CUDA kernel yet:");
    for (op = 0; op < NN_OP_COUNT; op++) if (!nn__cuda_kernels[op].forward) printf(" %s", nn_op_name(op));
    if (GPU_REL > 0) printf("\n  tolerance against the CPU kernels: %g of the largest value for every op (CUDA's libm and FMA contraction), training %g; against PyTorch as test_nn\n", GPU_REL, TRAIN_REL);
    else printf("\n  tolerance against the CPU kernels: per op as g_emu_ops states (matmul, linear, conv2d, conv_transpose2d: 1e-5 of the largest value, GEMM rounding; every other op 0 ULPs); against PyTorch as test_nn\n");
    begin("cuda/report: every listed kernel launched at least once");
    for (i = 0; i < NN__CUDA_NKERNELS; i++)
        CHECK(nn__cuda_kernel_list[i].gpu_only || nn__cuda_kernel_list[i].launches > 0, "%s never ran", nn__cuda_kernel_list[i].name);
    end();
}

#ifndef NN_CUDA_EMULATE
/* the nvcc build on a machine with no GPU: the requests that need one fail with a clear error
   (no crash, no abort), and the suite says what it skipped */
static void emu_no_gpu(nn_ctx *ctx, const char *why) {
    static const char *skipped[] = { "fixtures (every op, forward and backward, CPU vs CUDA and CUDA vs PyTorch)",
        "direct cases (convolution, pooling, topk, cat, to_dtype, one_hot, a small CNN)", "the caching allocator",
        "device-side errors", "nn_linear", "plumbing (nn_item, nn_to, nn_keep, nn_fill_, backward, anomaly mode)",
        "nn_module_to and 6 training steps of each optimizer", "clip_grad_norm and clip_grad_value of device gradients",
        "saving and loading models and checkpoints on the device", "dropout", "loss errors on the device", "the kernel report" };
    int64_t sh[2] = { 2, 3 };
    size_t i;
    nn_tensor *x = nn_ones(ctx, 2, sh), *d;
    nn_module *m;
    printf("NO GPU: nn_cuda_device_count is 0: %s\n", why);
    begin("cuda/no-gpu: nn_to(x, NN_CUDA) fails with an error naming the missing GPU");
    d = nn_to(x, NN_CUDA);
    CHECK(d == NULL && nn_error(ctx) && strstr(nn_error(ctx), "GPU"), "got %p, error %s", (void *)d, ERRS(ctx));
    printf("  nn_to: \"%s\"\n", ERRS(ctx));
    nn_clear_error(ctx);
    end();
    begin("cuda/no-gpu: nn_module_to(m, NN_CUDA) fails and leaves the module on the CPU");
    m = nn_linear_new(ctx, 3, 2, 1);
    CHECK(m != NULL && !nn_module_to(m, NN_CUDA) && nn_error(ctx), "nn_module_to succeeded with no GPU");
    printf("  nn_module_to: \"%s\"\n", ERRS(ctx));
    nn_clear_error(ctx);
    {
        nn_tensor *ps[2];
        int np = nn_module_parameters(m, ps, 2);
        CHECK(np == 2 && ps[0]->device == NN_CPU && ps[1]->device == NN_CPU, "the parameters moved");
        CHECK(nn_forward(m, x) != NULL, "the module no longer runs on the CPU: %s", ERRS(ctx));
    }
    nn_arena_reset(ctx);
    nn_module_free(m);
    end();
    nn_free(x);
    printf("SKIPPED (no GPU present), not run:\n");
    for (i = 0; i < sizeof skipped / sizeof skipped[0]; i++) printf("  - %s\n", skipped[i]);
    printf("Run this program on a machine with an NVIDIA GPU and its driver for the parity results.\n");
}
#endif

int main(int argc, char **argv) {
    nn_ctx *ctx = nn_ctx_new();
    long live;
    g_filter = argc > 1 ? argv[1] : NULL;
    nn_set_logger(ctx, capture_log, NULL);
#ifndef NN_CUDA_EMULATE
    if (nn_cuda_device_count(ctx) == 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", ERRS(ctx));
        nn_clear_error(ctx);
        emu_no_gpu(ctx, why);
        nn_ctx_free(ctx);
        printf("%d passed, %d failed; the GPU parity suite was SKIPPED: no GPU\n", g_passed, g_failed);
        return g_failed ? 1 : 0;
    }
    nn_clear_error(ctx);
    printf("nn_cuda_device_count: %d; every CPU-vs-CUDA comparison within %g of the largest value (training %g)\n",
           nn_cuda_device_count(ctx), GPU_REL, TRAIN_REL);
#endif
    emu_fixtures(ctx);
    emu_directs(ctx);
    emu_allocator(ctx);
    emu_errors(ctx);
    emu_linear(ctx);
    emu_plumbing(ctx);
#if defined(NN__EMU_GUARD)
    emu_guard(ctx);
#endif
    emu_training(ctx);
    emu_clip(ctx);
    emu_save_load(ctx);
    emu_dropout(ctx);
    emu_loss_errors(ctx);
    emu_report();
    nn_ctx_free(ctx);
    live = g_mallocs - g_frees;
    begin("memory: every allocation freed (the allocator's cache included)");
    CHECK(live == 0, "%ld allocations never freed", live);
    end();
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
