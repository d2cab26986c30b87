/* nn.h - neural networks in one C header: tensors, reverse-mode autograd, and
   the ops PyTorch users know, with PyTorch's names, defaults and numbers.

   Do this:
       #define NN_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation. Every other file just does #include "nn.h".

   QUICK START

       #define NN_IMPLEMENTATION
       #include "nn.h"

       int main(void) {
           nn_ctx *ctx = nn_ctx_new();                 // RNG, step arena, errors
           float xs[] = { -2.0f }, ys[] = { 5.0f }, zs[] = { -4.0f };
           int64_t one[] = { 1 };
           nn_tensor *x = nn_set_requires_grad(nn_from_array(ctx, 1, one, xs), 1);
           nn_tensor *y = nn_set_requires_grad(nn_from_array(ctx, 1, one, ys), 1);
           nn_tensor *z = nn_set_requires_grad(nn_from_array(ctx, 1, one, zs), 1);
           nn_tensor *q = nn_add(x, y);                // q = x + y   (3)
           nn_tensor *f = nn_mul(q, z);                // f = q * z   (-12)
           nn_backward(f, NULL, 0);                       // f.backward()
           printf("%g %g %g\n", x->grad->data[0], y->grad->data[0], z->grad->data[0]);
           if (nn_error(ctx)) printf("error: %s\n", nn_error(ctx));
           nn_arena_reset(ctx);                        // once per step: frees q, f
           nn_free(x); nn_free(y); nn_free(z);         // tensors you created
           nn_ctx_free(ctx);
           return 0;
       }

   MEMORY MODEL
       Tensors you create (nn_zeros, nn_from_array, nn_randn, ...) are yours
       until nn_free. Tensors that ops return (nn_add, nn_matmul, views, the
       autograd graph, gradients of intermediate results) live in the
       context's step arena until nn_arena_reset(ctx), which you call once per
       training step. After the first step the arena is big enough and a step
       makes no heap allocation. To keep a value past the reset, copy it out:
       nn_item() for a scalar, nn_keep() for a tensor.

   ERROR MODEL
       Nothing aborts your program because of what you passed. A bad shape,
       a NULL, a wrong dim: the function returns NULL (or 0), the message
       ("nn_matmul: a is (64, 784) and b is (128, 10); ...") goes to the
       context's logger (stderr by default, replace it with nn_set_logger),
       and the first error sticks in the context until nn_clear_error.
       Ops given a NULL input return NULL, so a step can be checked once.

   CONFIG MACROS (define before including)
       NN_STATIC                 make every function static (private copy)
       NN_API                    linkage of public functions (default extern)
       NN_MALLOC/NN_REALLOC/NN_FREE  your allocator: define all three or none
       NN_ASSERT(x)              check of the library's own invariants
       NN_NO_STDIO               no printing or files (logger, print, dot, loaders)
       NN_NO_SIMD                plain C GEMM kernel instead of vector extensions
       NN_MAX_DIMS               most dims a tensor can have (default 8)
     Switched on by what you include before nn.h (Debian's libstb-dev):
       stb_image.h               image folders and gzip'd IDX files
       stb_image_write.h         PNG plots (stb_easy_font.h adds their text)
     Compile with -fopenmp to split the GEMM's row blocks across threads.

   SECTIONS (grep "==== name ===="): tensors, ops, autograd, modules and
   layers, losses, optimizers, schedulers, serialisation (safetensors), data
   (datasets, transforms, DataLoader), training utilities (progress bar,
   metrics, plots). Declarations first, implementation after, same order.

   LICENSE: MIT or public domain (Unlicense), your choice; see the end of
   this file. Version history: CHANGELOG.md.
*/

/* ==== config ==== */
#ifndef NN_H
#define NN_H
#define NN_VERSION "0.1.0"
#define NN_H_INCLUDED 1 /* nn_cuda.h checks this to know nn.h came first */

#include <stddef.h>
#include <stdint.h>
#ifndef NN_NO_STDIO
#include <stdio.h>
#endif

#ifndef NN_API
#ifdef NN_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define NN_API static __attribute__((unused))
#else
#define NN_API static
#endif
#else
#define NN_API extern
#endif
#endif

#ifndef NN_MAX_DIMS
#define NN_MAX_DIMS 8
#endif

/* reduce over every dim: nn_sum(x, NN_ALL, 0) is PyTorch's x.sum() */
#define NN_ALL 1024

#ifdef __cplusplus
extern "C" {
#endif

/* ==== public types ==== */

typedef enum nn_device { NN_CPU = 0, NN_CUDA = 1 } nn_device;

typedef struct nn_ctx nn_ctx;
typedef struct nn_tensor nn_tensor;

/* The list of ops that build the graph: enum name, printed name. The engine,
   the graph printer and (later) the CUDA backend all read this one list. */
#define NN__OP_LIST(X) \
    X(LEAF, "leaf") X(ADD, "add") X(SUB, "sub") X(MUL, "mul") X(DIV, "div") \
    X(POW, "pow") X(MAXIMUM, "maximum") X(MINIMUM, "minimum") X(WHERE, "where") \
    X(ADD_SCALAR, "add_scalar") X(MUL_SCALAR, "mul_scalar") X(DIV_SCALAR, "div_scalar") \
    X(POW_SCALAR, "pow_scalar") X(NEG, "neg") X(EXP, "exp") X(LOG, "log") X(SQRT, "sqrt") \
    X(ABS, "abs") X(CLAMP, "clamp") X(RELU, "relu") X(LEAKY_RELU, "leaky_relu") \
    X(SIGMOID, "sigmoid") X(TANH, "tanh") X(GELU, "gelu") X(SILU, "silu") \
    X(SOFTPLUS, "softplus") X(SOFTMAX, "softmax") X(LOG_SOFTMAX, "log_softmax") \
    X(SUM, "sum") X(MEAN, "mean") X(VAR, "var") X(STD, "std") X(MAX, "max") X(MIN, "min") \
    X(LOGSUMEXP, "logsumexp") X(MATMUL, "matmul") X(GATHER, "gather") \
    X(INDEX_SELECT, "index_select") X(RESHAPE, "reshape") X(TRANSPOSE, "transpose") \
    X(PERMUTE, "permute") X(SLICE, "slice") X(SELECT, "select") X(SQUEEZE, "squeeze") \
    X(UNSQUEEZE, "unsqueeze") X(COPY, "copy") X(CAT, "cat") X(CONV2D, "conv2d") \
    X(CONV_TRANSPOSE2D, "conv_transpose2d") X(MAX_POOL2D, "max_pool2d") X(AVG_POOL2D, "avg_pool2d") \
    X(ADAPTIVE_AVG_POOL2D, "adaptive_avg_pool2d") X(DROPOUT, "dropout") X(BATCH_NORM, "batch_norm") \
    X(LAYER_NORM, "layer_norm") X(BCE_WITH_LOGITS, "bce_with_logits")

#define NN__OP_ENUM(name, str) NN_OP_##name,
typedef enum nn_op { NN__OP_LIST(NN__OP_ENUM) NN_OP_COUNT } nn_op;
#undef NN__OP_ENUM

/* Element types. float32 and int64 have kernels; float16 and bfloat16 have their
   sizes and names (safetensors reads them as float32) and wait for kernels. */
typedef enum nn_dtype { NN_FLOAT32 = 0, NN_INT64 = 1, NN_FLOAT16 = 2, NN_BFLOAT16 = 3, NN_DTYPE_COUNT } nn_dtype;

/* Who frees a storage's memory. */
typedef enum nn_owner { NN_OWNER_LIBRARY = 0, NN_OWNER_ARENA = 1 } nn_owner;

/* The memory behind tensors: a tensor and all its views share one storage.
   Library-owned storage is freed with the last tensor made on it (nn_free);
   arena storage lives until nn_arena_reset. */
typedef struct nn_storage {
    void *ptr;                      /* first byte */
    size_t bytes;
    nn_device device;
    nn_owner owner;
} nn_storage;

/* A tensor: PyTorch's dim order, row-major, int64 sizes, a dtype. The fields
   above the line are yours to read (and the data to write); the rest is the
   graph and belongs to the library. Read values through nn_f32(t) or nn_i64(t):
       float v = nn_f32(t)[i];            int64_t k = nn_i64(labels)[i];    */
struct nn_tensor {
    void *data;                     /* first element (storage->ptr + offset), typed by dtype */
    nn_dtype dtype;
    int ndim;                       /* 0 for a scalar */
    int64_t shape[NN_MAX_DIMS];
    int64_t stride[NN_MAX_DIMS];    /* in elements; views may be strided */
    int64_t numel;
    nn_device device;
    int requires_grad;
    nn_tensor *grad;                /* same shape, contiguous; NULL until backward (kept for leaves) */
    nn_ctx *ctx;
    nn_storage *storage;            /* shared by views */
    char name[24];                  /* label for nn_graph_dot, set by nn_set_name */
    /* ---- private ---- */
    int op;                         /* nn_op; NN_OP_LEAF for tensors with no history */
    int nsrc;
    nn_tensor **src;                /* inputs of the op that made this tensor */
    nn_tensor *src_inline[3];
    float fp[4];                    /* float parameters of the op */
    int64_t ip[NN_MAX_DIMS + 4];    /* integer parameters of the op */
    void *saved;                    /* values the backward needs (indices, ...) */
    nn_tensor *out2;                /* a second output (max/min indices) */
    unsigned flags;
    unsigned visit;
    int refs;                       /* owners of a persistent tensor (modules sharing it) */
    uint64_t gen;                   /* arena generation check (see nn_arena_reset) */
    nn_storage storage_inline;
};

typedef void (*nn_log_fn)(void *user, const char *message);

/* ==== context: arena, RNG, errors, grad mode ==== */

NN_API nn_ctx *nn_ctx_new(void);                     /* a new context, or NULL when out of memory */
NN_API void nn_ctx_free(nn_ctx *ctx);                /* frees the arena; your tensors stay yours */
NN_API void nn_arena_reset(nn_ctx *ctx);             /* once per step: frees every op result and graph */
NN_API size_t nn_arena_capacity(const nn_ctx *ctx);  /* bytes the arena holds (for stats) */
NN_API const char *nn_error(const nn_ctx *ctx);      /* first error since the last clear, or NULL */
NN_API void nn_clear_error(nn_ctx *ctx);             /* forget the sticky error */
NN_API void nn_set_logger(nn_ctx *ctx, nn_log_fn fn, void *user); /* NULL fn: silent */
NN_API int nn_set_grad_enabled(nn_ctx *ctx, int enabled); /* torch.set_grad_enabled; returns the old mode */
NN_API int nn_is_grad_enabled(const nn_ctx *ctx);   /* 1 when ops record the graph */
NN_API void nn_manual_seed(nn_ctx *ctx, uint64_t seed); /* torch.manual_seed for this context's RNG */

/* ==== tensor creation (persistent: free with nn_free) ==== */

NN_API nn_tensor *nn_empty(nn_ctx *ctx, int ndim, const int64_t *shape);  /* float32, uninitialised */
NN_API nn_tensor *nn_empty_dtype(nn_ctx *ctx, int ndim, const int64_t *shape, nn_dtype dtype);  /* uninitialised */
NN_API nn_tensor *nn_zeros_dtype(nn_ctx *ctx, int ndim, const int64_t *shape, nn_dtype dtype);
NN_API nn_tensor *nn_from_i64(nn_ctx *ctx, int ndim, const int64_t *shape, const int64_t *values); /* int64 copy */
NN_API nn_tensor *nn_zeros(nn_ctx *ctx, int ndim, const int64_t *shape);
NN_API nn_tensor *nn_ones(nn_ctx *ctx, int ndim, const int64_t *shape);
NN_API nn_tensor *nn_full(nn_ctx *ctx, int ndim, const int64_t *shape, float value);
NN_API nn_tensor *nn_arange(nn_ctx *ctx, float start, float end, float step); /* (ceil((end-start)/step)) */
NN_API nn_tensor *nn_from_array(nn_ctx *ctx, int ndim, const int64_t *shape, const float *values); /* copies */
NN_API nn_tensor *nn_rand(nn_ctx *ctx, int ndim, const int64_t *shape);   /* uniform [0, 1) */
NN_API nn_tensor *nn_randn(nn_ctx *ctx, int ndim, const int64_t *shape);  /* standard normal */
NN_API nn_tensor *nn_zeros_like(const nn_tensor *t);
NN_API nn_tensor *nn_keep(const nn_tensor *t);       /* persistent, detached copy of any tensor */
NN_API void nn_free(nn_tensor *t);                   /* frees a tensor you created; no-op on op results and NULL */

/* ==== tensor queries and in-place helpers (no graph) ==== */

NN_API float *nn_f32(const nn_tensor *t);            /* t's float32 elements, or NULL (with an error) for another dtype */
NN_API int64_t *nn_i64(const nn_tensor *t);          /* t's int64 elements, or NULL (with an error) for another dtype */
NN_API size_t nn_dtype_size(nn_dtype dtype);         /* bytes per element, 0 for an unknown dtype */
NN_API const char *nn_dtype_name(nn_dtype dtype);    /* "float32", "int64", ... */
NN_API nn_tensor *nn_to_dtype(nn_tensor *x, nn_dtype dtype); /* x.to(dtype): x itself or a converted copy (no gradient) */
NN_API int64_t nn_size(const nn_tensor *t, int dim);  /* t.size(dim), negative dims count from the end */
NN_API int nn_is_contiguous(const nn_tensor *t);
NN_API float nn_item(const nn_tensor *t);            /* the value of a one-element tensor (NAN on error) */
NN_API nn_tensor *nn_set_requires_grad(nn_tensor *t, int flag); /* t.requires_grad_(flag); returns t */
NN_API nn_tensor *nn_set_name(nn_tensor *t, const char *name);  /* label for the graph picture; returns t */
NN_API void nn_fill_(nn_tensor *t, float value);     /* t.fill_(value), no graph */
NN_API int nn_copy_(nn_tensor *dst, const nn_tensor *src); /* dst.copy_(src), same shape, no graph; 1 on success */
NN_API nn_tensor *nn_to(nn_tensor *t, nn_device device); /* t.to(device); same tensor when already there */
#ifndef NN_NO_STDIO
NN_API void nn_print(const nn_tensor *t);            /* print(t) in PyTorch's format */
#endif

/* ==== shape ops (views share storage with their input) ==== */

NN_API nn_tensor *nn_reshape(nn_tensor *x, int ndim, const int64_t *shape); /* one -1 allowed; copies only when x is strided */
NN_API nn_tensor *nn_view(nn_tensor *x, int ndim, const int64_t *shape);    /* like reshape, but x must be contiguous */
NN_API nn_tensor *nn_flatten(nn_tensor *x, int start_dim, int end_dim);    /* torch.flatten */
NN_API nn_tensor *nn_transpose(nn_tensor *x, int dim0, int dim1);          /* view with two dims swapped */
NN_API nn_tensor *nn_permute(nn_tensor *x, const int *dims);                /* view, dims has x->ndim entries */
NN_API nn_tensor *nn_slice(nn_tensor *x, int dim, int64_t start, int64_t end, int64_t step); /* x[start:end:step] along dim; end INT64_MAX = to the end */
NN_API nn_tensor *nn_select(nn_tensor *x, int dim, int64_t index);         /* x[..., index, ...], drops dim */
NN_API nn_tensor *nn_squeeze(nn_tensor *x, int dim);                        /* drops dim if its size is 1 */
NN_API nn_tensor *nn_unsqueeze(nn_tensor *x, int dim);                      /* inserts a size-1 dim */
NN_API nn_tensor *nn_contiguous(nn_tensor *x);                              /* x itself if contiguous, else a copy */
NN_API nn_tensor *nn_clone(nn_tensor *x);                                   /* a copy, with gradient */
NN_API nn_tensor *nn_detach(nn_tensor *x);                                  /* same data, no history, no grad */
NN_API nn_tensor *nn_cat(nn_tensor **xs, int n, int dim);                   /* torch.cat */
NN_API nn_tensor *nn_stack(nn_tensor **xs, int n, int dim);                 /* torch.stack */

/* ==== elementwise ops (full broadcasting) ==== */

NN_API nn_tensor *nn_add(nn_tensor *a, nn_tensor *b);
NN_API nn_tensor *nn_sub(nn_tensor *a, nn_tensor *b);
NN_API nn_tensor *nn_mul(nn_tensor *a, nn_tensor *b);
NN_API nn_tensor *nn_div(nn_tensor *a, nn_tensor *b);
NN_API nn_tensor *nn_pow(nn_tensor *a, nn_tensor *b);
NN_API nn_tensor *nn_maximum(nn_tensor *a, nn_tensor *b);   /* ties share the gradient, as PyTorch */
NN_API nn_tensor *nn_minimum(nn_tensor *a, nn_tensor *b);
NN_API nn_tensor *nn_where(nn_tensor *cond, nn_tensor *a, nn_tensor *b); /* cond != 0 ? a : b */
NN_API nn_tensor *nn_add_scalar(nn_tensor *x, float s);
NN_API nn_tensor *nn_sub_scalar(nn_tensor *x, float s);
NN_API nn_tensor *nn_mul_scalar(nn_tensor *x, float s);
NN_API nn_tensor *nn_div_scalar(nn_tensor *x, float s);
NN_API nn_tensor *nn_pow_scalar(nn_tensor *x, float exponent);
NN_API nn_tensor *nn_neg(nn_tensor *x);
NN_API nn_tensor *nn_exp(nn_tensor *x);
NN_API nn_tensor *nn_log(nn_tensor *x);
NN_API nn_tensor *nn_sqrt(nn_tensor *x);
NN_API nn_tensor *nn_abs(nn_tensor *x);
NN_API nn_tensor *nn_clamp(nn_tensor *x, float min, float max);   /* -INFINITY / INFINITY for no bound */

/* ==== activations ==== */

NN_API nn_tensor *nn_relu(nn_tensor *x);
NN_API nn_tensor *nn_leaky_relu(nn_tensor *x, float negative_slope);   /* PyTorch default 0.01 */
NN_API nn_tensor *nn_sigmoid(nn_tensor *x);
NN_API nn_tensor *nn_tanh(nn_tensor *x);
NN_API nn_tensor *nn_gelu(nn_tensor *x);                               /* exact (erf) form */
NN_API nn_tensor *nn_silu(nn_tensor *x);
NN_API nn_tensor *nn_softplus(nn_tensor *x, float beta, float threshold); /* PyTorch defaults 1, 20 */
NN_API nn_tensor *nn_softmax(nn_tensor *x, int dim);
NN_API nn_tensor *nn_log_softmax(nn_tensor *x, int dim);

/* ==== reductions (dim may be NN_ALL; keepdim as PyTorch) ==== */

NN_API nn_tensor *nn_sum(nn_tensor *x, int dim, int keepdim);
NN_API nn_tensor *nn_mean(nn_tensor *x, int dim, int keepdim);
NN_API nn_tensor *nn_var(nn_tensor *x, int dim, int correction, int keepdim); /* correction 1 = unbiased (PyTorch default) */
NN_API nn_tensor *nn_std(nn_tensor *x, int dim, int correction, int keepdim);
NN_API nn_tensor *nn_max(nn_tensor *x, int dim, int keepdim, nn_tensor **indices); /* values; indices (float, optional) */
NN_API nn_tensor *nn_min(nn_tensor *x, int dim, int keepdim, nn_tensor **indices);
NN_API nn_tensor *nn_argmax(nn_tensor *x, int dim, int keepdim);      /* float indices, no gradient */
NN_API nn_tensor *nn_logsumexp(nn_tensor *x, int dim, int keepdim);

/* ==== matmul and indexing ==== */

NN_API nn_tensor *nn_matmul(nn_tensor *a, nn_tensor *b);  /* torch.matmul: 1-D, 2-D, batched, broadcast batch dims */
NN_API nn_tensor *nn_gather(nn_tensor *x, int dim, nn_tensor *index);      /* torch.gather; index holds whole numbers */
NN_API nn_tensor *nn_index_select(nn_tensor *x, int dim, nn_tensor *index); /* index is 1-D */
NN_API nn_tensor *nn_one_hot(nn_tensor *index, int64_t num_classes);      /* index.shape + (num_classes,); -1 = max+1 */
NN_API nn_tensor *nn_embedding(nn_tensor *weight, nn_tensor *index);       /* F.embedding: index.shape + (D,) */

/* ==== neural-network functions (torch.nn.functional) ==== */

/* Options: zero means PyTorch's default (stride 1, padding 0, dilation 1, groups 1). */
typedef struct nn_conv_opts { int64_t stride, padding, dilation, groups, output_padding; } nn_conv_opts;
/* stride 0 means kernel_size; count_exclude_pad is PyTorch's count_include_pad=False. */
typedef struct nn_pool_opts { int64_t kernel_size, stride, padding, dilation; int ceil_mode, count_exclude_pad; } nn_pool_opts;

NN_API nn_tensor *nn_conv2d(nn_tensor *x, nn_tensor *weight, nn_tensor *bias, nn_conv_opts o);  /* x (N, C, H, W), weight (O, C/groups, kH, kW), bias (O) or NULL */
NN_API nn_tensor *nn_conv_transpose2d(nn_tensor *x, nn_tensor *weight, nn_tensor *bias, nn_conv_opts o); /* weight (C, O/groups, kH, kW) */
NN_API nn_tensor *nn_max_pool2d(nn_tensor *x, nn_pool_opts o);           /* (N, C, H, W) -> (N, C, OH, OW) */
NN_API nn_tensor *nn_avg_pool2d(nn_tensor *x, nn_pool_opts o);
NN_API nn_tensor *nn_adaptive_avg_pool2d(nn_tensor *x, int64_t out_h, int64_t out_w);
NN_API nn_tensor *nn_dropout(nn_tensor *x, float p, int training);      /* x itself when not training */
/* F.batch_norm: x (N, C, ...); running stats updated in place when training (may be NULL then) */
NN_API nn_tensor *nn_batch_norm(nn_tensor *x, nn_tensor *running_mean, nn_tensor *running_var, nn_tensor *weight,
                                nn_tensor *bias, int training, float momentum, float eps);
/* F.layer_norm over the last normalized_ndim dims; weight and bias may be NULL */
NN_API nn_tensor *nn_layer_norm(nn_tensor *x, int normalized_ndim, nn_tensor *weight, nn_tensor *bias, float eps);

/* ==== autograd ==== */

/* t.backward(grad, retain_graph): grad NULL for a one-element t. Gradients of intermediate
   results are released once used (nn_retain_grad keeps one); a second backward through the
   same graph is an error unless the first passed retain_graph = 1. 1 on success. */
NN_API int nn_backward(nn_tensor *t, nn_tensor *grad, int retain_graph);
NN_API nn_tensor *nn_retain_grad(nn_tensor *t);        /* t.retain_grad(): keep t->grad after backward; returns t */
NN_API void nn_zero_grad(nn_tensor *t);                /* sets t->grad to zeros (if it has one) */
typedef nn_tensor *(*nn_gradcheck_fn)(nn_tensor **inputs, void *user);
/* Central finite differences against autograd for every input with
   requires_grad. Inputs must be tensors you created. Returns 1 when all
   |numeric - analytic| <= atol + rtol * |numeric|; *max_err gets the worst
   absolute difference (may be NULL). */
NN_API int nn_gradcheck(nn_gradcheck_fn fn, void *user, nn_tensor **inputs, int n,
                        float eps, float atol, float rtol, double *max_err);
#ifndef NN_NO_STDIO
/* Writes the graph behind t as Graphviz DOT: one node per tensor with its op,
   shape, value and gradient (small tensors). 1 on success. */
NN_API int nn_graph_dot(nn_tensor *t, const char *path);
#endif

NN_API const char *nn_op_name(int op);                 /* "add", "matmul", ... */

/* ==== modules and layers (torch.nn) ==== */

typedef struct nn_module nn_module;
typedef nn_tensor *(*nn_forward_fn)(nn_module *m, nn_tensor *x);

/* One entry of a state dict: parameters and buffers in PyTorch's order and names. */
typedef struct nn_state_entry { const char *name; nn_tensor *tensor; int is_buffer; } nn_state_entry;

/* A layer, a container, or a model you define (nn_module_new with your forward).
   Fields above the line are yours to read; the rest belongs to the library. */
struct nn_module {
    const char *type;              /* "Linear", "Conv2d", ..., or your model's name */
    nn_ctx *ctx;
    nn_forward_fn forward;
    void *user;                    /* yours, for the models you define */
    int training;                  /* 1 in train mode (the default), 0 in eval mode */
    nn_tensor *weight, *bias;      /* parameters; NULL when the layer has none */
    nn_tensor *running_mean, *running_var, *num_batches_tracked;   /* batch-norm buffers */
    /* ---- private ---- */
    int64_t cfg[10];
    float fcfg[4];
    char path[128];                /* name in the model, e.g. "features.0" */
    int nchild, child_cap;
    nn_module **child;
    char (*child_name)[48];
    nn_state_entry *state;
    char (*state_name)[160];
    int nstate, dirty;
};

NN_API nn_module *nn_module_new(nn_ctx *ctx, const char *type, nn_forward_fn forward, void *user); /* your model */
NN_API nn_module *nn_module_add(nn_module *parent, const char *name, nn_module *child); /* self.name = child; returns child */
NN_API nn_module *nn_sequential_new(nn_ctx *ctx, nn_module **mods, int n);   /* nn.Sequential: children "0", "1", ... */
NN_API nn_tensor *nn_forward(nn_module *m, nn_tensor *x);                    /* m(x) */
NN_API void nn_module_train(nn_module *m, int mode);                         /* m.train(mode): 0 is m.eval() */
NN_API void nn_module_eval(nn_module *m);                                    /* m.eval() */
NN_API int nn_module_state(nn_module *m, const nn_state_entry **entries);    /* state_dict(): count, entries owned by m */
NN_API int nn_module_parameters(nn_module *m, nn_tensor **out, int max);     /* parameters(): total count, first max written */
NN_API int64_t nn_module_num_parameters(nn_module *m);                       /* sum of p.numel() */
NN_API nn_module *nn_module_child(nn_module *m, const char *name);           /* a direct child by name, or NULL */
#ifndef NN_NO_STDIO
NN_API void nn_module_summary(nn_module *m, nn_tensor *example_input);       /* each layer's output shape and parameter count */
#endif
NN_API void nn_module_free(nn_module *m);                                     /* frees m, its children and its tensors */

/* Layers, with PyTorch's default initialisation from the context's RNG. */
NN_API nn_module *nn_linear_new(nn_ctx *ctx, int64_t in_features, int64_t out_features, int bias);
NN_API nn_module *nn_conv2d_new(nn_ctx *ctx, int64_t in_channels, int64_t out_channels, int64_t kernel_size, nn_conv_opts o, int bias);
NN_API nn_module *nn_conv_transpose2d_new(nn_ctx *ctx, int64_t in_channels, int64_t out_channels, int64_t kernel_size, nn_conv_opts o, int bias);
NN_API nn_module *nn_max_pool2d_new(nn_ctx *ctx, nn_pool_opts o);
NN_API nn_module *nn_avg_pool2d_new(nn_ctx *ctx, nn_pool_opts o);
NN_API nn_module *nn_adaptive_avg_pool2d_new(nn_ctx *ctx, int64_t out_h, int64_t out_w);
NN_API nn_module *nn_dropout_new(nn_ctx *ctx, float p);
/* momentum 0 means 0.1 and eps 0 means 1e-5 (PyTorch's defaults); affine: weight and bias */
NN_API nn_module *nn_batch_norm1d_new(nn_ctx *ctx, int64_t num_features, float momentum, float eps, int affine);
NN_API nn_module *nn_batch_norm2d_new(nn_ctx *ctx, int64_t num_features, float momentum, float eps, int affine);
NN_API nn_module *nn_layer_norm_new(nn_ctx *ctx, int normalized_ndim, const int64_t *normalized_shape, float eps, int elementwise_affine);
NN_API nn_module *nn_flatten_new(nn_ctx *ctx, int start_dim, int end_dim);   /* nn.Flatten() is (1, -1) */
NN_API nn_module *nn_embedding_new(nn_ctx *ctx, int64_t num_embeddings, int64_t embedding_dim);
NN_API nn_module *nn_relu_new(nn_ctx *ctx);
NN_API nn_module *nn_leaky_relu_new(nn_ctx *ctx, float negative_slope);
NN_API nn_module *nn_sigmoid_new(nn_ctx *ctx);
NN_API nn_module *nn_tanh_new(nn_ctx *ctx);
NN_API nn_module *nn_gelu_new(nn_ctx *ctx);
NN_API nn_module *nn_silu_new(nn_ctx *ctx);
NN_API nn_module *nn_softmax_new(nn_ctx *ctx, int dim);
NN_API nn_module *nn_log_softmax_new(nn_ctx *ctx, int dim);

/* torch.nn.init: in place, no graph, from the tensor's context RNG. gain 0 means 1.
   kaiming: a is the leaky_relu slope (0 = relu), fan_out 0 uses fan_in (PyTorch's default). */
NN_API void nn_init_uniform_(nn_tensor *t, float a, float b);
NN_API void nn_init_normal_(nn_tensor *t, float mean, float std);
NN_API void nn_init_constant_(nn_tensor *t, float value);
NN_API void nn_init_zeros_(nn_tensor *t);
NN_API void nn_init_xavier_uniform_(nn_tensor *t, float gain);
NN_API void nn_init_xavier_normal_(nn_tensor *t, float gain);
NN_API void nn_init_kaiming_uniform_(nn_tensor *t, float a, int fan_out);
NN_API void nn_init_kaiming_normal_(nn_tensor *t, float a, int fan_out);

/* ==== losses ==== */

typedef enum nn_reduction { NN_MEAN = 0, NN_SUM = 1, NN_NONE = 2 } nn_reduction;  /* reduction='mean' is the default */

/* CrossEntropyLoss / NLLLoss options. weight: per-class (C) or NULL; ignore_index is
   used only when use_ignore_index is set (PyTorch's -100 matches no class). */
typedef struct nn_cross_entropy_opts {
    nn_tensor *weight;
    int use_ignore_index;
    int64_t ignore_index;
    float label_smoothing;
    nn_reduction reduction;
} nn_cross_entropy_opts;

NN_API nn_tensor *nn_mse_loss(nn_tensor *input, nn_tensor *target, nn_reduction r);
NN_API nn_tensor *nn_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r);
NN_API nn_tensor *nn_smooth_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float beta);  /* PyTorch's beta is 1 */
NN_API nn_tensor *nn_huber_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float delta);     /* PyTorch's delta is 1 */
/* logits (N, C) or (N, C, d...), target class indices (N) or (N, d...) */
NN_API nn_tensor *nn_cross_entropy(nn_tensor *logits, nn_tensor *target, nn_cross_entropy_opts o);
NN_API nn_tensor *nn_nll_loss(nn_tensor *log_probs, nn_tensor *target, nn_cross_entropy_opts o);
NN_API nn_tensor *nn_bce_loss(nn_tensor *probs, nn_tensor *target, nn_tensor *weight, nn_reduction r);  /* weight broadcast or NULL */
/* logits and multi-hot float targets of one shape, e.g. (B, K); pos_weight (K) or NULL */
NN_API nn_tensor *nn_bce_with_logits(nn_tensor *logits, nn_tensor *target, nn_tensor *pos_weight, nn_reduction r);

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

/* ==== serialisation: safetensors ==== */

#ifndef NN_NO_STDIO
typedef struct nn_safetensors nn_safetensors;
NN_API nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path);   /* reads and checks the whole file */
NN_API int nn_safetensors_count(const nn_safetensors *st);
NN_API const char *nn_safetensors_name(const nn_safetensors *st, int i);
NN_API nn_tensor *nn_safetensors_get(nn_safetensors *st, const char *name);  /* a new tensor (F32; F64/F16/BF16/I64/I32 converted) */
NN_API const char *nn_safetensors_meta(const nn_safetensors *st, const char *key); /* __metadata__ value or NULL */
NN_API void nn_safetensors_close(nn_safetensors *st);
/* Writes tensors (and metadata pairs, may be 0) atomically: a temporary file, then rename. */
NN_API int nn_safetensors_save(nn_ctx *ctx, const char *path, const char *const *names, nn_tensor *const *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_values, int nmeta);

NN_API int nn_save_model(nn_module *m, const char *path);     /* torch.save(m.state_dict()) as safetensors */
NN_API int nn_load_model(nn_module *m, const char *path);     /* m.load_state_dict(strict=True); m untouched on error */

/* The whole training state: model, optimizer, scheduler (each may be NULL but the
   model), epoch, last loss, and the model context's RNG. */
typedef struct nn_checkpoint { nn_module *model; nn_optim *optim; nn_scheduler *scheduler; int64_t epoch; double loss; } nn_checkpoint;
NN_API int nn_save_checkpoint(const nn_checkpoint *ck, const char *path);
NN_API int nn_load_checkpoint(nn_checkpoint *ck, const char *path);  /* nothing changes unless the whole file fits */
#endif


/* ==== data: datasets, transforms, DataLoader ==== */
/* Image folders and gzip'd IDX need stb_image: include stb_image.h before nn.h
   (and define STB_IMAGE_IMPLEMENTATION in one file). Plain IDX and CSV need nothing. */

/* A dataset: len samples, each x of shape xshape (C, H, W for images, F for rows),
   scaled as ToTensor does (pixels / 255), and y: one number (ydim 0, e.g. a class
   index) or ydim numbers (e.g. multi-hot). Implement get (and free) for your own data. */
typedef struct nn_dataset nn_dataset;
struct nn_dataset {
    int64_t len;
    int xdim;
    int64_t xshape[3];
    int64_t ydim;
    int64_t num_classes;                 /* for class datasets, else 0 */
    int (*get)(nn_dataset *d, int64_t i, float *x, float *y);   /* 1 on success */
    void (*free)(nn_dataset *d);         /* may be NULL */
    void *user;
    /* ---- private (built-in datasets) ---- */
    nn_ctx *ctx;
    unsigned char *u8;                   /* (len, prod(xshape)) pixels */
    float *f32;                          /* (len, prod(xshape)) values */
    float *labels;                       /* (len, max(ydim, 1)) */
};

#ifndef NN_NO_STDIO
/* MNIST-format IDX files, plain or .gz: images (N, H, W) uint8, labels (N) uint8 */
NN_API nn_dataset *nn_mnist(nn_ctx *ctx, const char *images_path, const char *labels_path);
/* A CSV of numbers; label_column is the class column (-1: none, y = 0); header: skip the first line */
NN_API nn_dataset *nn_csv(nn_ctx *ctx, const char *path, int label_column, int header);
/* root/<class>/<image>: PNG/JPEG/BMP, classes in sorted order, every image converted to
   `channels` (1 or 3) and resized (bilinear) to h x w when loaded. Needs stb_image. */
NN_API nn_dataset *nn_image_folder(nn_ctx *ctx, const char *root, int channels, int64_t h, int64_t w);
#endif
NN_API nn_dataset *nn_subset(nn_dataset *base, int64_t start, int64_t len);  /* samples [start, start+len) of base, shares it */
NN_API void nn_dataset_free(nn_dataset *d);

/* Transforms on one image (C, H, W) in [0, 1] after ToTensor, as torchvision.transforms. */
typedef enum nn_transform_kind {
    NN_RESIZE, NN_GRAYSCALE, NN_RANDOM_ROTATION, NN_COLOR_JITTER, NN_RANDOM_CROP,
    NN_RANDOM_HORIZONTAL_FLIP, NN_NORMALIZE
} nn_transform_kind;
typedef struct nn_transform { nn_transform_kind kind; int64_t size[2]; float f[8]; } nn_transform;
NN_API nn_transform nn_resize(int64_t h, int64_t w);                 /* bilinear, as F.interpolate(align_corners=False) */
NN_API nn_transform nn_grayscale(int num_output_channels);           /* 0.2989 R + 0.587 G + 0.114 B, repeated */
NN_API nn_transform nn_random_rotation(float degrees);               /* angle in [-degrees, degrees], nearest, fill 0 */
NN_API nn_transform nn_color_jitter(float brightness, float contrast);
NN_API nn_transform nn_random_crop(int64_t size, int64_t padding);   /* zero padding, then a random size x size crop */
NN_API nn_transform nn_random_horizontal_flip(float p);
NN_API nn_transform nn_normalize(int channels, const float *mean, const float *std);  /* up to 4 channels */
/* Applies ts in order (Compose) to x (C, H, W); writes (C', H', W') to out; rng_state may be
   NULL for deterministic transforms. Returns 1, or 0 with an error. out needs room for the result. */
NN_API int nn_apply_transforms(nn_ctx *ctx, const nn_transform *ts, int n, const float *x, const int64_t *shape,
                               float *out, int64_t *out_shape, uint64_t *rng_state);

typedef struct nn_dataloader nn_dataloader;
typedef struct nn_dataloader_opts {
    int64_t batch_size;                  /* 0 means 1, as PyTorch */
    int shuffle, drop_last;
    uint64_t seed;                       /* shuffling and random transforms */
    const nn_transform *transforms;      /* Compose(...), applied per sample */
    int ntransforms;
} nn_dataloader_opts;
NN_API nn_dataloader *nn_dataloader_new(nn_dataset *d, nn_dataloader_opts o);
/* The next batch: *x (B, ...) and *y (B) or (B, ydim), owned by the loader and reused
   (no allocation per batch). Returns 0 at the end of an epoch; the next call starts
   the next epoch (reshuffled). */
NN_API int nn_dataloader_next(nn_dataloader *dl, nn_tensor **x, nn_tensor **y);
NN_API int64_t nn_dataloader_len(const nn_dataloader *dl);         /* batches per epoch */
NN_API void nn_dataloader_free(nn_dataloader *dl);

/* ==== training utilities: progress bar, metrics, plots ==== */

#ifndef NN_NO_STDIO
/* A tqdm-like bar on stderr: "desc:  45%|####5     | 423/938 [00:12<00:15, 34.5it/s, loss=0.412]".
   When stderr is not a terminal it prints a plain line every 10% instead. */
typedef struct nn_progress {
    char desc[48];
    int64_t total, n;
    double start, last_print;
    int tty, last_decile;
    float postfix;                       /* shown as loss=...; NAN hides it */
} nn_progress;
NN_API void nn_progress_begin(nn_progress *p, const char *desc, int64_t total);
NN_API void nn_progress_update(nn_progress *p, int64_t n, float loss);   /* n more done */
NN_API void nn_progress_end(nn_progress *p);
#endif

/* cm (k, k): rows are true classes, columns predictions (sklearn's confusion_matrix) */
NN_API void nn_confusion_matrix(const int64_t *y_true, const int64_t *y_pred, int64_t n, int k, int64_t *cm);
NN_API double nn_accuracy(const int64_t *cm, int k);
/* sklearn.metrics.classification_report(digits=digits) as text into buf (names may be NULL:
   classes are numbered). Returns the length written, or -1 when buf is too small. */
NN_API int nn_classification_report(const int64_t *cm, int k, const char *const *names, int digits, char *buf, size_t size);
/* per-class precision, recall, f1 (zero_division=0) and support; any pointer may be NULL */
NN_API void nn_class_scores(const int64_t *cm, int k, double *precision, double *recall, double *f1, int64_t *support);
#ifndef NN_NO_STDIO
NN_API void nn_print_confusion_matrix(const int64_t *cm, int k);
/* Curves (e.g. loss and accuracy per epoch) drawn in the terminal, n points each. */
NN_API void nn_plot_terminal(const char *title, const float *const *ys, const char *const *labels, int ncurves, int n, int height);
/* The same as a PNG (needs stb_image_write.h included before nn.h; with stb_easy_font.h
   too, the legend and axis ranges are written as text); 1 on success. */
#if defined(INCLUDE_STB_IMAGE_WRITE_H) && defined(INCLUDE_STB_EASY_FONT_H)
/* stb_easy_font gives text as quads; fill each (axis-aligned) quad in black */
static void nn__draw_text(unsigned char *img, int W, int H, float x, float y, char *text) {
    float quads[4 * 4 * 600];                 /* x, y, z, colour per vertex (stb: about 270 bytes a character) */
    unsigned char black[4] = { 0, 0, 0, 255 };
    int nq = stb_easy_font_print(x, y, text, black, quads, (int)sizeof quads), q, px, py;
    for (q = 0; q < nq; q++) {
        const float *v = quads + q * 16;
        int x0 = (int)v[0], y0 = (int)v[1], x1 = (int)v[8], y1 = (int)v[9];
        for (py = y0; py < y1; py++) for (px = x0; px < x1; px++)
            if (px >= 0 && px < W && py >= 0 && py < H) memset(img + (py * W + px) * 3, 0, 3);
    }
}
#endif

NN_API int nn_plot_png(nn_ctx *ctx, const char *path, const float *const *ys, const char *const *labels, int ncurves, int n);
#endif

#ifdef __cplusplus
}
#endif
#endif /* NN_H */

/* ======================================================================== */
/*                              IMPLEMENTATION                              */
/* ======================================================================== */
#ifdef NN_IMPLEMENTATION
#ifndef NN_IMPLEMENTATION_DONE
#define NN_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <limits.h>
#include <stdio.h>      /* snprintf for messages; with NN_NO_STDIO nothing is printed or opened */

#if defined(NN_MALLOC) && defined(NN_REALLOC) && defined(NN_FREE)
#elif !defined(NN_MALLOC) && !defined(NN_REALLOC) && !defined(NN_FREE)
#include <stdlib.h>
#define NN_MALLOC(sz) malloc(sz)
#define NN_REALLOC(p, sz) realloc(p, sz)
#define NN_FREE(p) free(p)
#else
#error "nn.h: define all of NN_MALLOC, NN_REALLOC and NN_FREE, or none of them"
#endif

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(x) assert(x)
#endif

#ifndef NAN
#define NAN (0.0f / 0.0f)
#endif

#ifdef __cplusplus
#define NN__CAST(T, x) (static_cast<T>(x))
#else
#define NN__CAST(T, x) ((T)(x))
#endif

/* ==== tensor storage and memory ==== */

enum { NN__PERSISTENT = 1u, NN__ARENA = 2u };

typedef struct nn__block {
    struct nn__block *next;
    size_t cap, used;
    char *mem;
} nn__block;

static nn_tensor *nn__retain(nn_tensor *t);

typedef struct nn__rng { uint64_t state, inc; int has_spare; float spare; } nn__rng;

struct nn_ctx {
    nn__block *head, *cur;       /* step arena: blocks after cur are empty */
    size_t min_block;
    int64_t n_nodes;             /* graph nodes and edges made since the last reset */
    uint64_t gen;                /* arena generation: arena tensors carry the one they were made in */
    unsigned visit_epoch;
    int grad_enabled;
    int summary;                 /* nn_module_summary is printing */
    nn__rng rng;
    int has_error;
    char error[512];
    nn_log_fn log;
    void *log_user;
};

typedef struct nn__mark { nn__block *block; size_t used; int64_t n_nodes; } nn__mark;

#ifndef NN_NO_STDIO
static void nn__stderr_logger(void *user, const char *msg) { (void)user; fprintf(stderr, "nn: %s\n", msg); }
#endif

/* Records an error: the first one sticks, every one goes to the logger. */
static void nn__err(nn_ctx *ctx, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    if (!ctx) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!ctx->has_error) { memcpy(ctx->error, buf, sizeof buf); ctx->has_error = 1; }
    if (ctx->log) ctx->log(ctx->log_user, buf);
}

/* "(64, 784)" */
static const char *nn__shape_str(const nn_tensor *t, char *buf, size_t n) {
    size_t k = 0; int i;
    if (!t) { snprintf(buf, n, "NULL"); return buf; }
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, t->ndim == 1 ? ",)" : ")");
    return buf;
}
#define NN__SHAPE(t, buf) nn__shape_str((t), (buf), sizeof(buf))

NN_API nn_ctx *nn_ctx_new(void) {
    nn_ctx *ctx = NN__CAST(nn_ctx *, NN_MALLOC(sizeof(nn_ctx)));
    if (!ctx) return NULL;
    memset(ctx, 0, sizeof *ctx);
    ctx->min_block = (size_t)1 << 20;
    ctx->grad_enabled = 1;
#ifndef NN_NO_STDIO
    ctx->log = nn__stderr_logger;
#endif
    nn_manual_seed(ctx, 0);
    return ctx;
}

NN_API void nn_ctx_free(nn_ctx *ctx) {
    nn__block *b, *next;
    if (!ctx) return;
    (void)nn__retain;
    for (b = ctx->head; b; b = next) { next = b->next; NN_FREE(b); }
    NN_FREE(ctx);
}

/* Arena allocation, 64-byte aligned. A block too small for a step is chained;
   the next reset merges the chain into one block, so steps after the first
   allocate nothing. */
static void *nn__arena_alloc(nn_ctx *ctx, size_t bytes) {
    nn__block *b;
    size_t need = (bytes + 63) & ~(size_t)63, cap;
    if (need < bytes) return NULL;
    for (b = ctx->cur; b; b = b->next) {
        if (b->used + need <= b->cap) {
            void *p = b->mem + b->used;
            b->used += need;
            ctx->cur = b;
            return p;
        }
        if (b != ctx->cur) break;     /* empty blocks after cur: only try the next one */
    }
    cap = ctx->min_block;
    if (ctx->cur && cap < 2 * ctx->cur->cap) cap = 2 * ctx->cur->cap;
    if (cap < need) cap = need;
    b = NN__CAST(nn__block *, NN_MALLOC(sizeof(nn__block) + cap + 64));
    if (!b) return NULL;
    b->cap = cap; b->used = need;
    b->mem = NN__CAST(char *, NN__CAST(void *, b + 1));
    b->mem += (64 - ((uintptr_t)b->mem & 63)) & 63;
    if (ctx->cur) { b->next = ctx->cur->next; ctx->cur->next = b; } else { b->next = NULL; ctx->head = b; }
    ctx->cur = b;
    return b->mem;
}

NN_API void nn_arena_reset(nn_ctx *ctx) {
    nn__block *b, *next;
    size_t total = 0;
    if (!ctx) return;
    ctx->n_nodes = 0;
    if (ctx->head && ctx->head->next) {       /* merge the chain into one block */
        for (b = ctx->head; b; b = next) { next = b->next; total += b->cap; NN_FREE(b); }
        ctx->head = ctx->cur = NULL;
        ctx->min_block = total;
        if (nn__arena_alloc(ctx, 1)) ctx->head->used = 0;
        return;
    }
    if (ctx->head) ctx->head->used = 0;
    ctx->cur = ctx->head;
}

NN_API size_t nn_arena_capacity(const nn_ctx *ctx) {
    size_t total = 0; const nn__block *b;
    if (!ctx) return 0;
    for (b = ctx->head; b; b = b->next) total += b->cap;
    return total;
}

static nn__mark nn__arena_mark(nn_ctx *ctx) {
    nn__mark m;
    m.block = ctx->cur; m.used = ctx->cur ? ctx->cur->used : 0; m.n_nodes = ctx->n_nodes;
    return m;
}

static void nn__arena_rewind(nn_ctx *ctx, nn__mark m) {
    nn__block *b;
    if (!m.block) { nn_arena_reset(ctx); return; }
    for (b = m.block->next; b; b = b->next) b->used = 0;
    m.block->used = m.used;
    ctx->cur = m.block;
    ctx->n_nodes = m.n_nodes;
}

NN_API const char *nn_error(const nn_ctx *ctx) { return ctx && ctx->has_error ? ctx->error : NULL; }
NN_API void nn_clear_error(nn_ctx *ctx) { if (ctx) { ctx->has_error = 0; ctx->error[0] = 0; } }
NN_API void nn_set_logger(nn_ctx *ctx, nn_log_fn fn, void *user) { if (ctx) { ctx->log = fn; ctx->log_user = user; } }
NN_API int nn_set_grad_enabled(nn_ctx *ctx, int enabled) {
    int old;
    if (!ctx) return 0;
    old = ctx->grad_enabled; ctx->grad_enabled = enabled != 0;
    return old;
}
NN_API int nn_is_grad_enabled(const nn_ctx *ctx) { return ctx ? ctx->grad_enabled : 0; }

/* PCG32 (O'Neill), one stream per context. */
static uint32_t nn__rng_u32(nn__rng *r) {
    uint64_t old = r->state;
    uint32_t xs, rot;
    r->state = old * 6364136223846793005ULL + r->inc;
    xs = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    rot = (uint32_t)(old >> 59u);
    return (xs >> rot) | (xs << ((32u - rot) & 31u));
}
static float nn__rng_uniform(nn__rng *r) { return (float)(nn__rng_u32(r) >> 8) * (1.0f / 16777216.0f); }
static float nn__rng_normal(nn__rng *r) {
    double u1, u2, rad;
    if (r->has_spare) { r->has_spare = 0; return r->spare; }
    do { u1 = (nn__rng_u32(r) + 0.5) / 4294967296.0; } while (u1 <= 0.0);
    u2 = nn__rng_u32(r) / 4294967296.0;
    rad = sqrt(-2.0 * log(u1));
    r->spare = (float)(rad * sin(6.283185307179586 * u2));
    r->has_spare = 1;
    return (float)(rad * cos(6.283185307179586 * u2));
}
NN_API void nn_manual_seed(nn_ctx *ctx, uint64_t seed) {
    if (!ctx) return;
    ctx->rng.state = 0; ctx->rng.inc = (seed << 1u) | 1u; ctx->rng.has_spare = 0;
    nn__rng_u32(&ctx->rng);
    ctx->rng.state += 0x853c49e6748fea9bULL ^ seed;
    nn__rng_u32(&ctx->rng);
}

static void nn__contig_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1; int i;
    for (i = ndim - 1; i >= 0; i--) { stride[i] = s; s *= shape[i] > 0 ? shape[i] : 1; }
}

/* Checks a shape and returns its element count, or -1 (after an error). */
static int64_t nn__check_shape(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape) {
    int64_t n = 1; int i;
    if (ndim < 0 || ndim > NN_MAX_DIMS) { nn__err(ctx, "%s: %d dims requested; a tensor has 0 to %d dims", fn, ndim, NN_MAX_DIMS); return -1; }
    if (ndim > 0 && !shape) { nn__err(ctx, "%s: shape is NULL for %d dims", fn, ndim); return -1; }
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0) { nn__err(ctx, "%s: size %lld at dim %d is negative", fn, (long long)shape[i], i); return -1; }
        if (shape[i] > 0 && n > (INT64_MAX / 8) / shape[i]) { nn__err(ctx, "%s: shape overflows 64-bit sizes at dim %d", fn, i); return -1; }
        n *= shape[i];
    }
    return n;
}

#define NN__F32(t) NN__CAST(float *, (t)->data)
#define NN__I64(t) NN__CAST(int64_t *, (t)->data)

static const size_t nn__dtype_bytes[NN_DTYPE_COUNT] = { 4, 8, 2, 2 };
static const char *const nn__dtype_str[NN_DTYPE_COUNT] = { "float32", "int64", "float16", "bfloat16" };
NN_API size_t nn_dtype_size(nn_dtype dtype) { return (int)dtype >= 0 && dtype < NN_DTYPE_COUNT ? nn__dtype_bytes[dtype] : 0; }
NN_API const char *nn_dtype_name(nn_dtype dtype) { return (int)dtype >= 0 && dtype < NN_DTYPE_COUNT ? nn__dtype_str[dtype] : "?"; }

static void nn__init_header(nn_tensor *t, nn_ctx *ctx, int ndim, const int64_t *shape, int64_t numel) {
    memset(t, 0, sizeof *t);
    t->ctx = ctx; t->ndim = ndim; t->numel = numel; t->device = NN_CPU; t->dtype = NN_FLOAT32;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    nn__contig_strides(ndim, t->shape, t->stride);
    t->src = t->src_inline;
    t->op = NN_OP_LEAF;
    t->storage = &t->storage_inline;
}

/* A persistent tensor: header, storage and data in one allocation. */
static nn_tensor *nn__new_persistent_dtype(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, nn_dtype dtype) {
    int64_t n; size_t head = (sizeof(nn_tensor) + 63) & ~(size_t)63, bytes, es = nn_dtype_size(dtype); char *mem; nn_tensor *t;
    if (!ctx) return NULL;
    if (!es) { nn__err(ctx, "%s: unknown dtype %d", fn, (int)dtype); return NULL; }
    n = nn__check_shape(ctx, fn, ndim, shape);
    if (n < 0) return NULL;
    bytes = head + (size_t)n * es + 64;
    mem = NN__CAST(char *, NN_MALLOC(bytes));
    if (!mem) { nn__err(ctx, "%s: out of memory allocating %lld elements", fn, (long long)n); return NULL; }
    t = NN__CAST(nn_tensor *, (void *)mem);
    nn__init_header(t, ctx, ndim, shape, n);
    t->dtype = dtype;
    t->data = (void *)(mem + head);
    t->storage->ptr = t->data; t->storage->bytes = (size_t)n * es; t->storage->owner = NN_OWNER_LIBRARY;
    t->flags = NN__PERSISTENT;
    t->refs = 1;
    return t;
}
static nn_tensor *nn__new_persistent(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape) {
    return nn__new_persistent_dtype(ctx, fn, ndim, shape, NN_FLOAT32);
}

/* A tensor in the step arena; data NULL when it will be a view. */
static nn_tensor *nn__new_arena_dtype(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, int with_data, nn_dtype dtype) {
    int64_t n; nn_tensor *t; size_t es = nn_dtype_size(dtype);
    n = nn__check_shape(ctx, fn, ndim, shape);
    if (n < 0) return NULL;
    t = NN__CAST(nn_tensor *, nn__arena_alloc(ctx, sizeof(nn_tensor)));
    if (!t) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    nn__init_header(t, ctx, ndim, shape, n);
    t->dtype = dtype;
    t->flags = NN__ARENA;
    t->gen = ctx->gen;
    if (with_data) {
        t->data = nn__arena_alloc(ctx, (size_t)(n ? n : 1) * es);
        if (!t->data) { nn__err(ctx, "%s: out of memory allocating %lld elements", fn, (long long)n); return NULL; }
        t->storage->ptr = t->data; t->storage->bytes = (size_t)n * es; t->storage->owner = NN_OWNER_ARENA;
    }
    return t;
}
static nn_tensor *nn__new_arena(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, int with_data) {
    return nn__new_arena_dtype(ctx, fn, ndim, shape, with_data, NN_FLOAT32);
}

/* Another owner of a persistent tensor (a module sharing it): nn_free drops one. */
static nn_tensor *nn__retain(nn_tensor *t) { if (t && (t->flags & NN__PERSISTENT)) t->refs++; return t; }

NN_API void nn_free(nn_tensor *t) {
    if (!t || !(t->flags & NN__PERSISTENT)) return;
    if (--t->refs > 0) return;
    nn_free(t->grad);
    NN_FREE(t);
}

NN_API float *nn_f32(const nn_tensor *t) {
    if (!t) return NULL;
    if (t->dtype != NN_FLOAT32) { nn__err(t->ctx, "nn_f32: the tensor is %s, not float32", nn_dtype_name(t->dtype)); return NULL; }
    return NN__F32(t);
}
NN_API int64_t *nn_i64(const nn_tensor *t) {
    if (!t) return NULL;
    if (t->dtype != NN_INT64) { nn__err(t->ctx, "nn_i64: the tensor is %s, not int64", nn_dtype_name(t->dtype)); return NULL; }
    return NN__I64(t);
}
NN_API nn_tensor *nn_empty_dtype(nn_ctx *ctx, int ndim, const int64_t *shape, nn_dtype dtype) {
    return nn__new_persistent_dtype(ctx, "nn_empty_dtype", ndim, shape, dtype);
}
NN_API nn_tensor *nn_zeros_dtype(nn_ctx *ctx, int ndim, const int64_t *shape, nn_dtype dtype) {
    nn_tensor *t = nn__new_persistent_dtype(ctx, "nn_zeros_dtype", ndim, shape, dtype);
    if (t && t->numel) memset(t->data, 0, (size_t)t->numel * nn_dtype_size(dtype));
    return t;
}
NN_API nn_tensor *nn_from_i64(nn_ctx *ctx, int ndim, const int64_t *shape, const int64_t *values) {
    nn_tensor *t;
    if (ctx && !values) { nn__err(ctx, "nn_from_i64: values is NULL"); return NULL; }
    t = nn__new_persistent_dtype(ctx, "nn_from_i64", ndim, shape, NN_INT64);
    if (t && t->numel) memcpy(t->data, values, (size_t)t->numel * sizeof(int64_t));
    return t;
}
NN_API nn_tensor *nn_empty(nn_ctx *ctx, int ndim, const int64_t *shape) { return nn__new_persistent(ctx, "nn_empty", ndim, shape); }
NN_API nn_tensor *nn_full(nn_ctx *ctx, int ndim, const int64_t *shape, float value) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_full", ndim, shape);
    nn_fill_(t, value);
    return t;
}
NN_API nn_tensor *nn_zeros(nn_ctx *ctx, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_zeros", ndim, shape);
    nn_fill_(t, 0.0f);
    return t;
}
NN_API nn_tensor *nn_ones(nn_ctx *ctx, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_ones", ndim, shape);
    nn_fill_(t, 1.0f);
    return t;
}
NN_API nn_tensor *nn_arange(nn_ctx *ctx, float start, float end, float step) {
    int64_t n, i; nn_tensor *t;
    if (!ctx) return NULL;
    if (step == 0.0f || !(step == step) || !(start == start) || !(end == end)) {
        nn__err(ctx, "nn_arange: step %g with start %g and end %g; step must be non-zero and all finite", step, start, end);
        return NULL;
    }
    if ((step > 0 && end < start) || (step < 0 && end > start)) {
        nn__err(ctx, "nn_arange: step %g goes away from end %g starting at %g", step, end, start);
        return NULL;
    }
    n = (int64_t)ceil(((double)end - start) / step);
    t = nn__new_persistent(ctx, "nn_arange", 1, &n);
    if (t) for (i = 0; i < n; i++) NN__F32(t)[i] = (float)(start + (double)i * step);
    return t;
}
NN_API nn_tensor *nn_from_array(nn_ctx *ctx, int ndim, const int64_t *shape, const float *values) {
    nn_tensor *t;
    if (ctx && !values) { nn__err(ctx, "nn_from_array: values is NULL"); return NULL; }
    t = nn__new_persistent(ctx, "nn_from_array", ndim, shape);
    if (t && t->numel) memcpy(NN__F32(t), values, (size_t)t->numel * sizeof(float));
    return t;
}
NN_API nn_tensor *nn_rand(nn_ctx *ctx, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_rand", ndim, shape); int64_t i;
    if (t) for (i = 0; i < t->numel; i++) NN__F32(t)[i] = nn__rng_uniform(&ctx->rng);
    return t;
}
NN_API nn_tensor *nn_randn(nn_ctx *ctx, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_persistent(ctx, "nn_randn", ndim, shape); int64_t i;
    if (t) for (i = 0; i < t->numel; i++) NN__F32(t)[i] = nn__rng_normal(&ctx->rng);
    return t;
}

/* Walks a shape in row-major order, keeping the offsets of up to 3 strided
   layouts of it. */
typedef struct nn__walk {
    int nd;
    int64_t shape[NN_MAX_DIMS], idx[NN_MAX_DIMS], st[3][NN_MAX_DIMS], off[3];
} nn__walk;

static void nn__walk_init(nn__walk *w, int nd, const int64_t *shape, const int64_t *s0, const int64_t *s1, const int64_t *s2) {
    int d;
    memset(w, 0, sizeof *w);
    w->nd = nd;
    for (d = 0; d < nd; d++) {
        w->shape[d] = shape[d];
        w->st[0][d] = s0 ? s0[d] : 0; w->st[1][d] = s1 ? s1[d] : 0; w->st[2][d] = s2 ? s2[d] : 0;
    }
}
static void nn__walk_next(nn__walk *w) {
    int d, k;
    for (d = w->nd - 1; d >= 0; d--) {
        for (k = 0; k < 3; k++) w->off[k] += w->st[k][d];
        if (++w->idx[d] < w->shape[d]) return;
        for (k = 0; k < 3; k++) w->off[k] -= w->st[k][d] * w->shape[d];
        w->idx[d] = 0;
    }
}

NN_API int nn_is_contiguous(const nn_tensor *t) {
    int64_t s = 1; int i;
    if (!t) return 0;
    for (i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

/* Copies any strided tensor into a contiguous buffer. */
static void nn__gather_strided(void *dst, const nn_tensor *t) {
    nn__walk w; int64_t i; size_t es = nn_dtype_size(t->dtype);
    const char *src = NN__CAST(const char *, t->data);
    if (nn_is_contiguous(t)) { if (t->numel) memcpy(dst, src, (size_t)t->numel * es); return; }
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < t->numel; i++, nn__walk_next(&w)) memcpy(NN__CAST(char *, dst) + (size_t)i * es, src + (size_t)w.off[0] * es, es);
}

NN_API nn_tensor *nn_zeros_like(const nn_tensor *t) { return t ? nn_zeros(t->ctx, t->ndim, t->shape) : NULL; }
NN_API nn_tensor *nn_keep(const nn_tensor *t) {
    nn_tensor *k;
    if (!t) return NULL;
    k = nn__new_persistent_dtype(t->ctx, "nn_keep", t->ndim, t->shape, t->dtype);
    if (k) nn__gather_strided(k->data, t);
    return k;
}

static int nn__norm_dim(nn_ctx *ctx, const char *fn, const nn_tensor *t, int dim, int ndim_plus, int *out) {
    int nd = t->ndim + ndim_plus;
    char s[128];
    if (dim < -nd || dim >= nd || (nd == 0 && dim != 0 && dim != -1)) {
        nn__err(ctx, "%s: dim %d is out of range for a tensor of shape %s (expected %d to %d)", fn, dim,
                NN__SHAPE(t, s), -(nd ? nd : 1), (nd ? nd : 1) - 1);
        return 0;
    }
    *out = dim < 0 ? dim + nd : dim;
    return 1;
}

NN_API int64_t nn_size(const nn_tensor *t, int dim) {
    int d;
    if (!t || !nn__norm_dim(t->ctx, "nn_size", t, dim, 0, &d)) return -1;
    return t->ndim ? t->shape[d] : 1;
}
NN_API float nn_item(const nn_tensor *t) {
    char s[128];
    if (!t) return NAN;
    if (t->numel != 1) { nn__err(t->ctx, "nn_item: tensor of shape %s has %lld elements; item needs exactly one", NN__SHAPE(t, s), (long long)t->numel); return NAN; }
    return t->dtype == NN_INT64 ? (float)NN__I64(t)[0] : NN__F32(t)[0];
}
NN_API nn_tensor *nn_set_requires_grad(nn_tensor *t, int flag) {
    if (!t) return NULL;
    if (flag && t->op != NN_OP_LEAF) {
        nn__err(t->ctx, "nn_set_requires_grad: only leaf tensors (made by you or by nn_detach) can change requires_grad; this one comes from %s", nn_op_name(t->op));
        return t;
    }
    t->requires_grad = flag != 0;
    return t;
}
NN_API nn_tensor *nn_set_name(nn_tensor *t, const char *name) {
    if (t && name) { strncpy(t->name, name, sizeof t->name - 1); t->name[sizeof t->name - 1] = 0; }
    return t;
}
NN_API void nn_fill_(nn_tensor *t, float value) {
    nn__walk w; int64_t i;
    if (!t) return;
    if (t->dtype == NN_INT64) {
        nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
        for (i = 0; i < t->numel; i++, nn__walk_next(&w)) NN__I64(t)[w.off[0]] = (int64_t)value;
        return;
    }
    if (t->dtype != NN_FLOAT32) { nn__err(t->ctx, "nn_fill_: no kernel for %s", nn_dtype_name(t->dtype)); return; }
    if (nn_is_contiguous(t)) { for (i = 0; i < t->numel; i++) NN__F32(t)[i] = value; return; }
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < t->numel; i++, nn__walk_next(&w)) NN__F32(t)[w.off[0]] = value;
}
static int nn__same_shape(const nn_tensor *a, const nn_tensor *b) {
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(int64_t)) == 0;
}
NN_API int nn_copy_(nn_tensor *dst, const nn_tensor *src) {
    char s1[128], s2[128]; nn__walk w; int64_t i;
    if (!dst || !src) { if (dst) nn__err(dst->ctx, "nn_copy_: src is NULL"); return 0; }
    if (!nn__same_shape(dst, src) && dst->numel != src->numel) {
        nn__err(dst->ctx, "nn_copy_: dst is %s and src is %s; the shapes must match", NN__SHAPE(dst, s1), NN__SHAPE(src, s2));
        return 0;
    }
    if (dst->dtype != src->dtype) {
        nn__err(dst->ctx, "nn_copy_: dst is %s and src is %s; convert with nn_to_dtype first", nn_dtype_name(dst->dtype), nn_dtype_name(src->dtype));
        return 0;
    }
    if (nn_is_contiguous(dst)) { nn__gather_strided(dst->data, src); return 1; }
    if (dst->dtype != NN_FLOAT32) { nn__err(dst->ctx, "nn_copy_: a strided %s dst is not supported", nn_dtype_name(dst->dtype)); return 0; }
    if (!nn_is_contiguous(src)) { nn__err(dst->ctx, "nn_copy_: dst and src are both strided; make one contiguous first"); return 0; }
    nn__walk_init(&w, dst->ndim, dst->shape, dst->stride, NULL, NULL);
    for (i = 0; i < dst->numel; i++, nn__walk_next(&w)) NN__F32(dst)[w.off[0]] = NN__F32(src)[i];
    return 1;
}
NN_API nn_tensor *nn_to(nn_tensor *t, nn_device device) {
    if (!t) return NULL;
    if (device == t->device) return t;
    nn__err(t->ctx, "nn_to: device %d is not available; this build has the CPU only (include nn_cuda.h for CUDA)", (int)device);
    return NULL;
}

/* ==== ops ==== */
/* Every op: a front end that checks its arguments and makes the result node,
   then a forward kernel and a backward kernel side by side. Backward kernels
   accumulate (+=) into the gradients of the inputs that require them. */

static nn_ctx *nn__ctx_of(nn_tensor **xs, int n) {
    int i;
    for (i = 0; i < n; i++) if (xs[i]) return xs[i]->ctx;
    return NULL;
}

/* NULL inputs: returns 0. An input that is NULL because an earlier op failed
   adds no second message; the first error is already recorded. */
static int nn__check_inputs(const char *fn, nn_tensor **xs, const char **names, int n) {
    nn_ctx *ctx = nn__ctx_of(xs, n);
    int i;
    for (i = 0; i < n; i++) {
        if (!xs[i]) {
            if (ctx && !ctx->has_error) nn__err(ctx, "%s: %s is NULL", fn, names[i]);
            return 0;
        }
        if (xs[i]->ctx != ctx) { nn__err(ctx, "%s: %s belongs to another nn_ctx; all inputs must share one", fn, names[i]); return 0; }
        if (xs[i]->device != NN_CPU) { nn__err(ctx, "%s: %s is on device %d; this build runs the CPU only", fn, names[i], (int)xs[i]->device); return 0; }
    }
    return 1;
}

/* The node an op returns: arena tensor, inputs recorded, requires_grad
   spread from the inputs when grad mode is on. */
static nn_tensor *nn__node(int op, const char *fn, int ndim, const int64_t *shape, nn_tensor **srcs, int nsrc, int with_data) {
    nn_ctx *ctx = srcs[0]->ctx;
    nn_tensor *t = nn__new_arena(ctx, fn, ndim, shape, with_data);
    int i;
    if (!t) return NULL;
    t->op = op;
    if (nsrc > 3) {
        t->src = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)nsrc * sizeof(nn_tensor *)));
        if (!t->src) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    }
    t->nsrc = nsrc;
    for (i = 0; i < nsrc; i++) {
        t->src[i] = srcs[i];
        if (srcs[i] && srcs[i]->requires_grad && ctx->grad_enabled) t->requires_grad = 1;
    }
    ctx->n_nodes += 1 + nsrc;    /* bounds the tensors a graph walk can meet */
    return t;
}

/* The gradient buffer of an input, or NULL when it needs none. */
static float *nn__gbuf(const nn_tensor *x) { return x && x->requires_grad && x->grad ? NN__F32(x->grad) : NULL; }

/* ---- broadcasting ---- */

typedef struct nn__bcast {
    int nd;
    int64_t shape[NN_MAX_DIMS];
    int64_t st[3][NN_MAX_DIMS];   /* per input, contiguous strides with 0 on broadcast dims */
} nn__bcast;

static int nn__broadcast_shape(const char *fn, nn_tensor **xs, int n, int *nd, int64_t *shape) {
    int i, d;
    char s1[128], s2[128];
    *nd = 0;
    for (i = 0; i < n; i++) if (xs[i]->ndim > *nd) *nd = xs[i]->ndim;
    for (d = 0; d < *nd; d++) shape[d] = 1;
    for (i = 0; i < n; i++) {
        int off = *nd - xs[i]->ndim;
        for (d = 0; d < xs[i]->ndim; d++) {
            int64_t s = xs[i]->shape[d];
            if (s == shape[off + d] || s == 1) continue;
            if (shape[off + d] == 1) { shape[off + d] = s; continue; }
            nn__err(xs[0]->ctx, "%s: shapes %s and %s cannot be broadcast (size %lld vs %lld at dim %d of the result)", fn,
                    NN__SHAPE(xs[i == 0 ? 1 : 0], s1), NN__SHAPE(xs[i], s2), (long long)shape[off + d], (long long)s, off + d);
            return 0;
        }
    }
    return 1;
}

/* Strides of each input over the result's shape, then adjacent dims merged
   where every input allows it, so the common cases run as one flat loop. */
static void nn__bcast_plan(nn__bcast *p, const nn_tensor *y, nn_tensor **xs, int n) {
    int i, d, k;
    int64_t st[NN_MAX_DIMS];
    memset(p, 0, sizeof *p);
    for (i = 0; i < n; i++) {
        int off = y->ndim - xs[i]->ndim;
        nn__contig_strides(xs[i]->ndim, xs[i]->shape, st);
        for (d = 0; d < y->ndim; d++)
            p->st[i][d] = (d < off || xs[i]->shape[d - off] == 1) ? 0 : st[d - off];
    }
    p->nd = 0;
    for (d = 0; d < y->ndim; d++) {
        if (y->shape[d] == 1) continue;
        if (p->nd > 0) {
            int ok = 1, last = p->nd - 1;
            for (i = 0; i < n; i++) if (p->st[i][last] != p->st[i][d] * y->shape[d]) ok = 0;
            if (ok) {
                p->shape[last] *= y->shape[d];
                for (i = 0; i < n; i++) p->st[i][last] = p->st[i][d];
                continue;
            }
        }
        p->shape[p->nd] = y->shape[d];
        for (k = 0; k < n; k++) p->st[k][p->nd] = p->st[k][d];
        p->nd++;
    }
    if (p->nd == 0) { p->nd = 1; p->shape[0] = 1; for (i = 0; i < 3; i++) p->st[i][0] = 0; }
}

/* Rows of the merged shape: the last dim is the inner loop. */
typedef struct nn__rows { nn__walk w; int64_t rows, len, s[3]; } nn__rows;
static void nn__rows_init(nn__rows *r, const nn__bcast *p) {
    int d, last = p->nd - 1;
    r->len = p->shape[last];
    r->rows = 1;
    for (d = 0; d < last; d++) r->rows *= p->shape[d];
    for (d = 0; d < 3; d++) r->s[d] = p->st[d][last];
    nn__walk_init(&r->w, last, p->shape, p->st[0], p->st[1], p->st[2]);
}

static nn_tensor *nn__contig_input(nn_tensor *x) { return nn_is_contiguous(x) ? x : nn_contiguous(x); }

/* ---- binary elementwise: add, sub, mul, div, pow, maximum, minimum, where ---- */

static void nn__binary_forward(nn_tensor *y) {
    nn__bcast p; nn__rows r; int64_t i, j;
    int ternary = y->op == NN_OP_WHERE;
    nn_tensor *xs[3];
    xs[0] = y->src[0]; xs[1] = y->src[1]; xs[2] = ternary ? y->src[2] : NULL;
    nn__bcast_plan(&p, y, xs, ternary ? 3 : 2);
    nn__rows_init(&r, &p);
    for (i = 0; i < r.rows; i++, nn__walk_next(&r.w)) {
        float *o = NN__F32(y) + i * r.len;                      /* (len) */
        const float *a = NN__F32(xs[0]) + r.w.off[0], *b = NN__F32(xs[1]) + r.w.off[1];
        int64_t sa = r.s[0], sb = r.s[1];
        switch (y->op) {
        case NN_OP_ADD: for (j = 0; j < r.len; j++) o[j] = a[j * sa] + b[j * sb]; break;
        case NN_OP_SUB: for (j = 0; j < r.len; j++) o[j] = a[j * sa] - b[j * sb]; break;
        case NN_OP_MUL: for (j = 0; j < r.len; j++) o[j] = a[j * sa] * b[j * sb]; break;
        case NN_OP_DIV: for (j = 0; j < r.len; j++) o[j] = a[j * sa] / b[j * sb]; break;
        case NN_OP_POW: for (j = 0; j < r.len; j++) o[j] = powf(a[j * sa], b[j * sb]); break;
        case NN_OP_MAXIMUM: for (j = 0; j < r.len; j++) { float u = a[j * sa], v = b[j * sb]; o[j] = (u != u || v != v) ? NAN : (u > v ? u : v); } break;
        case NN_OP_MINIMUM: for (j = 0; j < r.len; j++) { float u = a[j * sa], v = b[j * sb]; o[j] = (u != u || v != v) ? NAN : (u < v ? u : v); } break;
        case NN_OP_WHERE: {   /* src: cond, a, b */
            const float *c = a, *u = b, *v = NN__F32(xs[2]) + r.w.off[2];
            int64_t sc = sa, su = sb, sv = r.s[2];
            for (j = 0; j < r.len; j++) o[j] = c[j * sc] != 0.0f ? u[j * su] : v[j * sv];
        } break;
        default: NN_ASSERT(0);
        }
    }
}

static void nn__binary_backward(nn_tensor *y) {
    nn__bcast p; nn__rows r; int64_t i, j;
    int ternary = y->op == NN_OP_WHERE;
    nn_tensor *xs[3];
    float *ga, *gb;
    xs[0] = y->src[0]; xs[1] = y->src[1]; xs[2] = ternary ? y->src[2] : NULL;
    nn__bcast_plan(&p, y, xs, ternary ? 3 : 2);
    nn__rows_init(&r, &p);
    ga = nn__gbuf(xs[0]); gb = nn__gbuf(xs[1]);
    for (i = 0; i < r.rows; i++, nn__walk_next(&r.w)) {
        const float *g = NN__F32(y->grad) + i * r.len, *o = NN__F32(y) + i * r.len;   /* (len) */
        const float *a = NN__F32(xs[0]) + r.w.off[0], *b = NN__F32(xs[1]) + r.w.off[1];
        float *da = ga ? ga + r.w.off[0] : NULL, *db = gb ? gb + r.w.off[1] : NULL;
        int64_t sa = r.s[0], sb = r.s[1];
        switch (y->op) {
        case NN_OP_ADD:
            if (da) for (j = 0; j < r.len; j++) da[j * sa] += g[j];
            if (db) for (j = 0; j < r.len; j++) db[j * sb] += g[j];
            break;
        case NN_OP_SUB:
            if (da) for (j = 0; j < r.len; j++) da[j * sa] += g[j];
            if (db) for (j = 0; j < r.len; j++) db[j * sb] -= g[j];
            break;
        case NN_OP_MUL:
            if (da) for (j = 0; j < r.len; j++) da[j * sa] += g[j] * b[j * sb];
            if (db) for (j = 0; j < r.len; j++) db[j * sb] += g[j] * a[j * sa];
            break;
        case NN_OP_DIV:
            if (da) for (j = 0; j < r.len; j++) da[j * sa] += g[j] / b[j * sb];
            if (db) for (j = 0; j < r.len; j++) db[j * sb] -= g[j] * a[j * sa] / (b[j * sb] * b[j * sb]);
            break;
        case NN_OP_POW:       /* d/da a^b = b a^(b-1); d/db a^b = a^b log a (0 where a == 0, b >= 0) */
            if (da) for (j = 0; j < r.len; j++) { float e = b[j * sb]; da[j * sa] += e == 0.0f ? 0.0f : g[j] * e * powf(a[j * sa], e - 1.0f); }
            if (db) for (j = 0; j < r.len; j++) { float u = a[j * sa]; db[j * sb] += (u == 0.0f && b[j * sb] >= 0.0f) ? 0.0f : g[j] * o[j] * logf(u); }
            break;
        case NN_OP_MAXIMUM: case NN_OP_MINIMUM:   /* the larger (smaller) input takes it all; ties split it */
            for (j = 0; j < r.len; j++) {
                float u = a[j * sa], v = b[j * sb], wa;
                wa = u == v ? 0.5f : ((u > v) == (y->op == NN_OP_MAXIMUM) ? 1.0f : 0.0f);
                if (da) da[j * sa] += g[j] * wa;
                if (db) db[j * sb] += g[j] * (1.0f - wa);
            }
            break;
        case NN_OP_WHERE: {   /* src: cond, a, b; no gradient for cond */
            const float *c = a;
            float *du = db, *dv = nn__gbuf(xs[2]) ? nn__gbuf(xs[2]) + r.w.off[2] : NULL;
            int64_t sc = sa, su = sb, sv = r.s[2];
            for (j = 0; j < r.len; j++) {
                if (c[j * sc] != 0.0f) { if (du) du[j * su] += g[j]; }
                else if (dv) dv[j * sv] += g[j];
            }
        } break;
        default: NN_ASSERT(0);
        }
    }
}

static nn_tensor *nn__binary(int op, const char *fn, nn_tensor *a, nn_tensor *b, nn_tensor *c) {
    static const char *names2[] = { "a", "b" };
    static const char *names3[] = { "cond", "a", "b" };
    nn_tensor *xs[3]; int n = op == NN_OP_WHERE ? 3 : 2, nd, i;
    int64_t shape[NN_MAX_DIMS];
    nn_tensor *y;
    xs[0] = a; xs[1] = b; xs[2] = c;
    if (!nn__check_inputs(fn, xs, n == 3 ? names3 : names2, n)) return NULL;
    if (!nn__broadcast_shape(fn, xs, n, &nd, shape)) return NULL;
    for (i = 0; i < n; i++) if (!(xs[i] = nn__contig_input(xs[i]))) return NULL;
    y = nn__node(op, fn, nd, shape, xs, n, 1);
    if (!y) return NULL;
    if (n == 3 && xs[0]->requires_grad && !xs[1]->requires_grad && !xs[2]->requires_grad) y->requires_grad = 0;
    nn__binary_forward(y);
    return y;
}

NN_API nn_tensor *nn_add(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_ADD, "nn_add", a, b, NULL); }
NN_API nn_tensor *nn_sub(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_SUB, "nn_sub", a, b, NULL); }
NN_API nn_tensor *nn_mul(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_MUL, "nn_mul", a, b, NULL); }
NN_API nn_tensor *nn_div(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_DIV, "nn_div", a, b, NULL); }
NN_API nn_tensor *nn_pow(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_POW, "nn_pow", a, b, NULL); }
NN_API nn_tensor *nn_maximum(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_MAXIMUM, "nn_maximum", a, b, NULL); }
NN_API nn_tensor *nn_minimum(nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_MINIMUM, "nn_minimum", a, b, NULL); }
NN_API nn_tensor *nn_where(nn_tensor *cond, nn_tensor *a, nn_tensor *b) { return nn__binary(NN_OP_WHERE, "nn_where", cond, a, b); }

/* ---- unary elementwise and activations ---- */
/* fp[0], fp[1]: the op's scalars (s, exponent, min/max, slope, beta/threshold) */

static float nn__sigmoidf(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    { float e = expf(x); return e / (1.0f + e); }
}

static void nn__unary_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);   /* (n) */
    float *o = NN__F32(y), s = y->fp[0], t = y->fp[1];
    int64_t i, n = y->numel;
    switch (y->op) {
    case NN_OP_ADD_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] + s; break;
    case NN_OP_MUL_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] * s; break;
    case NN_OP_DIV_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] / s; break;
    case NN_OP_POW_SCALAR:
        if (s == 2.0f) for (i = 0; i < n; i++) o[i] = x[i] * x[i];
        else for (i = 0; i < n; i++) o[i] = powf(x[i], s);
        break;
    case NN_OP_NEG: for (i = 0; i < n; i++) o[i] = -x[i]; break;
    case NN_OP_EXP: for (i = 0; i < n; i++) o[i] = expf(x[i]); break;
    case NN_OP_LOG: for (i = 0; i < n; i++) o[i] = logf(x[i]); break;
    case NN_OP_SQRT: for (i = 0; i < n; i++) o[i] = sqrtf(x[i]); break;
    case NN_OP_ABS: for (i = 0; i < n; i++) o[i] = fabsf(x[i]); break;
    case NN_OP_CLAMP: for (i = 0; i < n; i++) { float v = x[i]; o[i] = v != v ? v : (v < s ? s : (v > t ? t : v)); } break;
    case NN_OP_RELU: for (i = 0; i < n; i++) o[i] = x[i] > 0.0f ? x[i] : 0.0f; break;
    case NN_OP_LEAKY_RELU: for (i = 0; i < n; i++) o[i] = x[i] > 0.0f ? x[i] : x[i] * s; break;
    case NN_OP_SIGMOID: for (i = 0; i < n; i++) o[i] = nn__sigmoidf(x[i]); break;
    case NN_OP_TANH: for (i = 0; i < n; i++) o[i] = tanhf(x[i]); break;
    case NN_OP_GELU: for (i = 0; i < n; i++) o[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f)); break;
    case NN_OP_SILU: for (i = 0; i < n; i++) o[i] = x[i] * nn__sigmoidf(x[i]); break;
    case NN_OP_SOFTPLUS:   /* s = beta, t = threshold: linear above it, as PyTorch */
        for (i = 0; i < n; i++) o[i] = x[i] * s > t ? x[i] : log1pf(expf(x[i] * s)) / s;
        break;
    default: NN_ASSERT(0);
    }
}

static void nn__unary_backward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *o = NN__F32(y), *g = NN__F32(y->grad);   /* (n) */
    float *d = nn__gbuf(y->src[0]), s = y->fp[0], t = y->fp[1];
    int64_t i, n = y->numel;
    if (!d) return;
    switch (y->op) {
    case NN_OP_ADD_SCALAR: for (i = 0; i < n; i++) d[i] += g[i]; break;
    case NN_OP_MUL_SCALAR: for (i = 0; i < n; i++) d[i] += g[i] * s; break;
    case NN_OP_DIV_SCALAR: for (i = 0; i < n; i++) d[i] += g[i] / s; break;
    case NN_OP_POW_SCALAR:
        if (s != 0.0f) for (i = 0; i < n; i++) d[i] += g[i] * s * powf(x[i], s - 1.0f);
        break;
    case NN_OP_NEG: for (i = 0; i < n; i++) d[i] -= g[i]; break;
    case NN_OP_EXP: for (i = 0; i < n; i++) d[i] += g[i] * o[i]; break;
    case NN_OP_LOG: for (i = 0; i < n; i++) d[i] += g[i] / x[i]; break;
    case NN_OP_SQRT: for (i = 0; i < n; i++) d[i] += g[i] / (2.0f * o[i]); break;
    case NN_OP_ABS: for (i = 0; i < n; i++) d[i] += x[i] > 0.0f ? g[i] : (x[i] < 0.0f ? -g[i] : 0.0f); break;
    case NN_OP_CLAMP: for (i = 0; i < n; i++) if (x[i] >= s && x[i] <= t) d[i] += g[i]; break;
    case NN_OP_RELU: for (i = 0; i < n; i++) if (x[i] > 0.0f) d[i] += g[i]; break;
    case NN_OP_LEAKY_RELU: for (i = 0; i < n; i++) d[i] += x[i] > 0.0f ? g[i] : g[i] * s; break;
    case NN_OP_SIGMOID: for (i = 0; i < n; i++) d[i] += g[i] * o[i] * (1.0f - o[i]); break;
    case NN_OP_TANH: for (i = 0; i < n; i++) d[i] += g[i] * (1.0f - o[i] * o[i]); break;
    case NN_OP_GELU:
        for (i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * 0.70710678118654752f));
            float pdf = expf(-0.5f * x[i] * x[i]) * 0.39894228040143268f;
            d[i] += g[i] * (cdf + x[i] * pdf);
        }
        break;
    case NN_OP_SILU:
        for (i = 0; i < n; i++) { float sg = nn__sigmoidf(x[i]); d[i] += g[i] * sg * (1.0f + x[i] * (1.0f - sg)); }
        break;
    case NN_OP_SOFTPLUS:
        for (i = 0; i < n; i++) d[i] += x[i] * s > t ? g[i] : g[i] * nn__sigmoidf(x[i] * s);
        break;
    default: NN_ASSERT(0);
    }
}

static nn_tensor *nn__unary(int op, const char *fn, nn_tensor *x, float s, float t) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(op, fn, x->ndim, x->shape, &x, 1, 1);
    if (!y) return NULL;
    y->fp[0] = s; y->fp[1] = t;
    nn__unary_forward(y);
    return y;
}

NN_API nn_tensor *nn_add_scalar(nn_tensor *x, float s) { return nn__unary(NN_OP_ADD_SCALAR, "nn_add_scalar", x, s, 0); }
NN_API nn_tensor *nn_sub_scalar(nn_tensor *x, float s) { return nn__unary(NN_OP_ADD_SCALAR, "nn_sub_scalar", x, -s, 0); }
NN_API nn_tensor *nn_mul_scalar(nn_tensor *x, float s) { return nn__unary(NN_OP_MUL_SCALAR, "nn_mul_scalar", x, s, 0); }
NN_API nn_tensor *nn_div_scalar(nn_tensor *x, float s) { return nn__unary(NN_OP_DIV_SCALAR, "nn_div_scalar", x, s, 0); }
NN_API nn_tensor *nn_pow_scalar(nn_tensor *x, float e) { return nn__unary(NN_OP_POW_SCALAR, "nn_pow_scalar", x, e, 0); }
NN_API nn_tensor *nn_neg(nn_tensor *x) { return nn__unary(NN_OP_NEG, "nn_neg", x, 0, 0); }
NN_API nn_tensor *nn_exp(nn_tensor *x) { return nn__unary(NN_OP_EXP, "nn_exp", x, 0, 0); }
NN_API nn_tensor *nn_log(nn_tensor *x) { return nn__unary(NN_OP_LOG, "nn_log", x, 0, 0); }
NN_API nn_tensor *nn_sqrt(nn_tensor *x) { return nn__unary(NN_OP_SQRT, "nn_sqrt", x, 0, 0); }
NN_API nn_tensor *nn_abs(nn_tensor *x) { return nn__unary(NN_OP_ABS, "nn_abs", x, 0, 0); }
NN_API nn_tensor *nn_clamp(nn_tensor *x, float lo, float hi) {
    if (x && lo > hi) { nn__err(x->ctx, "nn_clamp: min %g is greater than max %g", lo, hi); return NULL; }
    return nn__unary(NN_OP_CLAMP, "nn_clamp", x, lo, hi);
}
NN_API nn_tensor *nn_relu(nn_tensor *x) { return nn__unary(NN_OP_RELU, "nn_relu", x, 0, 0); }
NN_API nn_tensor *nn_leaky_relu(nn_tensor *x, float slope) { return nn__unary(NN_OP_LEAKY_RELU, "nn_leaky_relu", x, slope, 0); }
NN_API nn_tensor *nn_sigmoid(nn_tensor *x) { return nn__unary(NN_OP_SIGMOID, "nn_sigmoid", x, 0, 0); }
NN_API nn_tensor *nn_tanh(nn_tensor *x) { return nn__unary(NN_OP_TANH, "nn_tanh", x, 0, 0); }
NN_API nn_tensor *nn_gelu(nn_tensor *x) { return nn__unary(NN_OP_GELU, "nn_gelu", x, 0, 0); }
NN_API nn_tensor *nn_silu(nn_tensor *x) { return nn__unary(NN_OP_SILU, "nn_silu", x, 0, 0); }
NN_API nn_tensor *nn_softplus(nn_tensor *x, float beta, float threshold) {
    if (x && beta == 0.0f) { nn__err(x->ctx, "nn_softplus: beta is 0; it must be non-zero"); return NULL; }
    return nn__unary(NN_OP_SOFTPLUS, "nn_softplus", x, beta, threshold);
}

/* ---- along one dim: (outer, D, inner) ---- */
/* ip[0] = outer, ip[1] = D, ip[2] = inner. NN_ALL is outer = inner = 1. */

static int nn__split_dim(const char *fn, nn_tensor *x, int dim, int keepdim, int64_t *oi, int *nd, int64_t *shape) {
    int d, i;
    if (dim == NN_ALL) {
        oi[0] = 1; oi[1] = x->numel; oi[2] = 1;
        *nd = keepdim ? x->ndim : 0;
        for (i = 0; i < *nd; i++) shape[i] = 1;
        return 1;
    }
    if (!nn__norm_dim(x->ctx, fn, x, dim, 0, &d)) return 0;
    if (x->ndim == 0) { oi[0] = oi[1] = oi[2] = 1; *nd = 0; return 1; }
    oi[0] = 1; oi[2] = 1; oi[1] = x->shape[d];
    for (i = 0; i < d; i++) oi[0] *= x->shape[i];
    for (i = d + 1; i < x->ndim; i++) oi[2] *= x->shape[i];
    *nd = 0;
    for (i = 0; i < x->ndim; i++) {
        if (i == d) { if (keepdim) shape[(*nd)++] = 1; }
        else shape[(*nd)++] = x->shape[i];
    }
    return 1;
}

static void nn__softmax_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);          /* (outer, D, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, d, i;
    int logsm = y->op == NN_OP_LOG_SOFTMAX;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        const float *xp = x + o * D * I + i;
        float *yp = NN__F32(y) + o * D * I + i, m = -INFINITY;
        double s = 0;
        for (d = 0; d < D; d++) if (xp[d * I] > m) m = xp[d * I];
        for (d = 0; d < D; d++) s += exp((double)(xp[d * I] - m));
        if (logsm) { float ls = (float)log(s); for (d = 0; d < D; d++) yp[d * I] = xp[d * I] - m - ls; }
        else for (d = 0; d < D; d++) yp[d * I] = (float)(exp((double)(xp[d * I] - m)) / s);
    }
}
static void nn__softmax_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);            /* (outer, D, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, d, i;
    if (!dx) return;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        int64_t base = o * D * I + i;
        const float *yp = NN__F32(y) + base, *gp = g + base;
        float *dp = dx + base;
        double s = 0;
        if (y->op == NN_OP_SOFTMAX) {   /* dx = y (g - sum(g y)) */
            for (d = 0; d < D; d++) s += (double)gp[d * I] * yp[d * I];
            for (d = 0; d < D; d++) dp[d * I] += yp[d * I] * (gp[d * I] - (float)s);
        } else {                        /* dx = g - exp(y) sum(g) */
            for (d = 0; d < D; d++) s += gp[d * I];
            for (d = 0; d < D; d++) dp[d * I] += gp[d * I] - expf(yp[d * I]) * (float)s;
        }
    }
}
static nn_tensor *nn__softmax(int op, const char *fn, nn_tensor *x, int dim) {
    static const char *names[] = { "x" };
    int64_t oi[3], shape[NN_MAX_DIMS]; int nd; nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (dim == NN_ALL) { nn__err(x->ctx, "%s: needs one dim, not NN_ALL", fn); return NULL; }
    if (!nn__split_dim(fn, x, dim, 1, oi, &nd, shape)) return NULL;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(op, fn, x->ndim, x->shape, &x, 1, 1);
    if (!y) return NULL;
    memcpy(y->ip, oi, sizeof oi);
    nn__softmax_forward(y);
    return y;
}
NN_API nn_tensor *nn_softmax(nn_tensor *x, int dim) { return nn__softmax(NN_OP_SOFTMAX, "nn_softmax", x, dim); }
NN_API nn_tensor *nn_log_softmax(nn_tensor *x, int dim) { return nn__softmax(NN_OP_LOG_SOFTMAX, "nn_log_softmax", x, dim); }

/* ---- reductions: sum, mean, var, std, max, min, logsumexp ---- */
/* ip[3] = correction (var, std); saved = argmax/argmin positions (max, min) */

static void nn__reduce_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);          /* (outer, D, inner) -> (outer, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, d, i;
    int64_t *arg = NN__CAST(int64_t *, y->saved);
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        const float *xp = x + o * D * I + i;
        float *yp = NN__F32(y) + o * I + i;
        switch (y->op) {
        case NN_OP_SUM: case NN_OP_MEAN: {
            double s = 0;
            for (d = 0; d < D; d++) s += xp[d * I];
            *yp = (float)(y->op == NN_OP_MEAN ? s / (double)D : s);
        } break;
        case NN_OP_VAR: case NN_OP_STD: {
            double m = 0, s = 0, den = (double)(D - y->ip[3]);
            for (d = 0; d < D; d++) m += xp[d * I];
            m /= (double)D;
            for (d = 0; d < D; d++) s += ((double)xp[d * I] - m) * ((double)xp[d * I] - m);
            s = den > 0 ? s / den : NAN;
            *yp = (float)(y->op == NN_OP_STD ? sqrt(s) : s);
        } break;
        case NN_OP_MAX: case NN_OP_MIN: {
            int64_t best = 0; int is_max = y->op == NN_OP_MAX;
            for (d = 1; d < D; d++) {
                float v = xp[d * I], b = xp[best * I];
                if (b != b) break;                              /* NaN wins, as PyTorch */
                if (v != v || (is_max ? v > b : v < b)) best = d;
            }
            *yp = xp[best * I];
            arg[o * I + i] = best;
        } break;
        case NN_OP_LOGSUMEXP: {
            float m = -INFINITY; double s = 0;
            for (d = 0; d < D; d++) if (xp[d * I] > m) m = xp[d * I];
            if (m == -INFINITY || m == INFINITY) { *yp = m; break; }
            for (d = 0; d < D; d++) s += exp((double)(xp[d * I] - m));
            *yp = m + (float)log(s);
        } break;
        default: NN_ASSERT(0);
        }
    }
}

static void nn__reduce_backward(nn_tensor *y) {
    const nn_tensor *xt = y->src[0];
    const float *x = NN__F32(xt), *g = NN__F32(y->grad);   /* x (outer, D, inner), g (outer, inner) */
    float *dx = nn__gbuf(xt);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, d, i;
    const int64_t *arg = NN__CAST(const int64_t *, y->saved);
    if (!dx) return;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        const float *xp = x + o * D * I + i;
        float *dp = dx + o * D * I + i, gv = g[o * I + i], yv = NN__F32(y)[o * I + i];
        switch (y->op) {
        case NN_OP_SUM: for (d = 0; d < D; d++) dp[d * I] += gv; break;
        case NN_OP_MEAN: { float k = gv / (float)D; for (d = 0; d < D; d++) dp[d * I] += k; } break;
        case NN_OP_VAR: case NN_OP_STD: {   /* dvar/dx = 2 (x - m) / (D - c); dstd = dvar / (2 std) */
            double m = 0, den = (double)(D - y->ip[3]);
            float k;
            for (d = 0; d < D; d++) m += xp[d * I];
            m /= (double)D;
            k = (float)(y->op == NN_OP_VAR ? 2.0 * gv / den : gv / (den * yv));
            for (d = 0; d < D; d++) dp[d * I] += k * (float)((double)xp[d * I] - m);
        } break;
        case NN_OP_MAX: case NN_OP_MIN: dp[arg[o * I + i] * I] += gv; break;   /* routed to the winner */
        case NN_OP_LOGSUMEXP: for (d = 0; d < D; d++) dp[d * I] += gv * expf(xp[d * I] - yv); break;
        default: NN_ASSERT(0);
        }
    }
}

static nn_tensor *nn__reduce(int op, const char *fn, nn_tensor *x, int dim, int keepdim, int correction) {
    static const char *names[] = { "x" };
    int64_t oi[3], shape[NN_MAX_DIMS]; int nd; nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (!nn__split_dim(fn, x, dim, keepdim, oi, &nd, shape)) return NULL;
    if (oi[1] == 0 && (op == NN_OP_MAX || op == NN_OP_MIN)) {
        char s[128];
        nn__err(x->ctx, "%s: the reduced dim of %s is empty; max and min need at least one element", fn, NN__SHAPE(x, s));
        return NULL;
    }
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(op, fn, nd, shape, &x, 1, 1);
    if (!y) return NULL;
    memcpy(y->ip, oi, sizeof oi);
    y->ip[3] = correction;
    if (op == NN_OP_MAX || op == NN_OP_MIN) {
        y->saved = nn__arena_alloc(x->ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(int64_t));
        if (!y->saved) { nn__err(x->ctx, "%s: out of memory", fn); return NULL; }
    }
    nn__reduce_forward(y);
    return y;
}

NN_API nn_tensor *nn_sum(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_SUM, "nn_sum", x, dim, keepdim, 0); }
NN_API nn_tensor *nn_mean(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_MEAN, "nn_mean", x, dim, keepdim, 0); }
NN_API nn_tensor *nn_var(nn_tensor *x, int dim, int correction, int keepdim) { return nn__reduce(NN_OP_VAR, "nn_var", x, dim, keepdim, correction); }
NN_API nn_tensor *nn_std(nn_tensor *x, int dim, int correction, int keepdim) { return nn__reduce(NN_OP_STD, "nn_std", x, dim, keepdim, correction); }
NN_API nn_tensor *nn_logsumexp(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_LOGSUMEXP, "nn_logsumexp", x, dim, keepdim, 0); }

/* Indices of a max/min as a float tensor, detached. */
static nn_tensor *nn__indices_of(nn_tensor *y) {
    nn_tensor *t = nn__new_arena(y->ctx, "nn_max", y->ndim, y->shape, 1);
    const int64_t *arg = NN__CAST(const int64_t *, y->saved);
    int64_t i;
    if (!t) return NULL;
    for (i = 0; i < y->numel; i++) NN__F32(t)[i] = (float)arg[i];
    return t;
}
NN_API nn_tensor *nn_max(nn_tensor *x, int dim, int keepdim, nn_tensor **indices) {
    nn_tensor *y = nn__reduce(NN_OP_MAX, "nn_max", x, dim, keepdim, 0);
    if (indices) *indices = y ? nn__indices_of(y) : NULL;
    return y;
}
NN_API nn_tensor *nn_min(nn_tensor *x, int dim, int keepdim, nn_tensor **indices) {
    nn_tensor *y = nn__reduce(NN_OP_MIN, "nn_min", x, dim, keepdim, 0);
    if (indices) *indices = y ? nn__indices_of(y) : NULL;
    return y;
}
NN_API nn_tensor *nn_argmax(nn_tensor *x, int dim, int keepdim) {
    nn_tensor *idx = NULL;
    int old;
    if (!x) return NULL;
    old = nn_set_grad_enabled(x->ctx, 0);
    nn_max(x, dim, keepdim, &idx);
    nn_set_grad_enabled(x->ctx, old);
    return idx;
}

/* ---- matmul ---- */

/* The plain reference kernel: C (M, N) = A (M, K) @ B (K, N), any row/col strides
   for A and B, C rows contiguous with row stride ldc. accumulate: C += instead of
   C =. Transposed operands are read in place through their strides. */
static void nn__gemm_ref(int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t ars, int64_t acs,
                     const float *B, int64_t brs, int64_t bcs,
                     float *C, int64_t ldc, int accumulate) {
    int64_t i, j, k;
    if (!accumulate) for (i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float));
    if (bcs == 1 || N == 1) {
        /* rows of B are contiguous: C[i, :] += A[i, k] * B[k, :], four rows of C at a time */
        for (i = 0; i + 4 <= M; i += 4) {
            float *c0 = C + i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
            for (k = 0; k < K; k++) {
                const float *b = B + k * brs;
                float a0 = A[i * ars + k * acs], a1 = A[(i + 1) * ars + k * acs];
                float a2 = A[(i + 2) * ars + k * acs], a3 = A[(i + 3) * ars + k * acs];
                for (j = 0; j < N; j++) { float bv = b[j]; c0[j] += a0 * bv; c1[j] += a1 * bv; c2[j] += a2 * bv; c3[j] += a3 * bv; }
            }
        }
        for (; i < M; i++) {
            float *c = C + i * ldc;
            for (k = 0; k < K; k++) {
                const float *b = B + k * brs; float a = A[i * ars + k * acs];
                for (j = 0; j < N; j++) c[j] += a * b[j];
            }
        }
    } else if (brs == 1 && acs == 1) {
        /* columns of B and rows of A are contiguous: dot products */
        for (i = 0; i < M; i++) for (j = 0; j < N; j++) {
            const float *a = A + i * ars, *b = B + j * bcs;
            float s = 0;
            for (k = 0; k < K; k++) s += a[k] * b[k];
            C[i * ldc + j] += s;
        }
    } else {
        for (i = 0; i < M; i++) for (k = 0; k < K; k++) {
            float a = A[i * ars + k * acs];
            for (j = 0; j < N; j++) C[i * ldc + j] += a * B[k * brs + j * bcs];
        }
    }
}

/* The fast kernel (checked against nn__gemm_ref by the tests): B is packed
   block by block into NR-wide column panels, so every stride case becomes a
   contiguous stream, and a MR x NR tile of C is accumulated in registers.
   Row blocks run in parallel when compiled with OpenMP (-fopenmp). The panel
   lives in the step arena only for the call. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(NN_NO_SIMD)
#define NN__VEC 1
typedef float nn__v8 __attribute__((vector_size(32)));   /* 8 floats: one AVX register, two SSE */
#endif
#define NN__NR 16
#define NN__MR 4
#define NN__KC 256
#define NN__NC 512
#if defined(_OPENMP)
#define NN__OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define NN__OMP_FOR
#endif

/* C (mr x nr of a MR x NR tile, row stride ldc) += Ap (kc, MR) . Bp (kc, NR) */
static void nn__gemm_tile(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, int64_t mr, int64_t nr) {
    float acc[NN__MR][NN__NR];
    int64_t k; int r, c;
#ifdef NN__VEC
    nn__v8 c00 = { 0 }, c01 = { 0 }, c10 = { 0 }, c11 = { 0 }, c20 = { 0 }, c21 = { 0 }, c30 = { 0 }, c31 = { 0 };
    for (k = 0; k < kc; k++) {
        const float *a = Ap + k * NN__MR;
        nn__v8 b0, b1;
        memcpy(&b0, Bp + k * NN__NR, sizeof b0);
        memcpy(&b1, Bp + k * NN__NR + 8, sizeof b1);
        c00 += a[0] * b0; c01 += a[0] * b1;
        c10 += a[1] * b0; c11 += a[1] * b1;
        c20 += a[2] * b0; c21 += a[2] * b1;
        c30 += a[3] * b0; c31 += a[3] * b1;
    }
    memcpy(acc[0], &c00, 32); memcpy(acc[0] + 8, &c01, 32);
    memcpy(acc[1], &c10, 32); memcpy(acc[1] + 8, &c11, 32);
    memcpy(acc[2], &c20, 32); memcpy(acc[2] + 8, &c21, 32);
    memcpy(acc[3], &c30, 32); memcpy(acc[3] + 8, &c31, 32);
#else
    for (r = 0; r < NN__MR; r++) for (c = 0; c < NN__NR; c++) acc[r][c] = 0.0f;
    for (k = 0; k < kc; k++) {
        const float *a = Ap + k * NN__MR, *b = Bp + k * NN__NR;
        for (r = 0; r < NN__MR; r++) for (c = 0; c < NN__NR; c++) acc[r][c] += a[r] * b[c];
    }
#endif
    for (r = 0; r < mr; r++) for (c = 0; c < nr; c++) C[r * ldc + c] += acc[r][c];
}

static void nn__gemm(nn_ctx *ctx, int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t ars, int64_t acs,
                     const float *B, int64_t brs, int64_t bcs,
                     float *C, int64_t ldc, int accumulate) {
    nn__mark mark; float *Bp; int64_t i, j0, k0;
    if (M * N * K < 32768 || M < NN__MR || !ctx) { nn__gemm_ref(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate); return; }
    mark = nn__arena_mark(ctx);
    Bp = NN__CAST(float *, nn__arena_alloc(ctx, (size_t)NN__KC * (NN__NC + NN__NR) * sizeof(float)));
    if (!Bp) { nn__arena_rewind(ctx, mark); nn__gemm_ref(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate); return; }
    if (!accumulate) for (i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float));
    for (j0 = 0; j0 < N; j0 += NN__NC) {
        int64_t nc = N - j0 < NN__NC ? N - j0 : NN__NC, nb = (nc + NN__NR - 1) / NN__NR;
        for (k0 = 0; k0 < K; k0 += NN__KC) {
            int64_t kc = K - k0 < NN__KC ? K - k0 : NN__KC, jb, k, ib, mb = (M + NN__MR - 1) / NN__MR;
            for (jb = 0; jb < nb; jb++) {          /* pack B (kc, nc) into panels (nb, kc, NR) */
                float *dst = Bp + jb * kc * NN__NR;
                int64_t c, jn = nc - jb * NN__NR < NN__NR ? nc - jb * NN__NR : NN__NR;
                for (k = 0; k < kc; k++) {
                    const float *src = B + (k0 + k) * brs + (j0 + jb * NN__NR) * bcs;
                    for (c = 0; c < jn; c++) dst[k * NN__NR + c] = src[c * bcs];
                    for (; c < NN__NR; c++) dst[k * NN__NR + c] = 0.0f;
                }
            }
            NN__OMP_FOR
            for (ib = 0; ib < mb; ib++) {
                float Ap[NN__KC * NN__MR];             /* rows i..i+MR of A (kc, MR) */
                int64_t r, kk, jj, i0 = ib * NN__MR, mr = M - i0 < NN__MR ? M - i0 : NN__MR;
                for (kk = 0; kk < kc; kk++) for (r = 0; r < NN__MR; r++)
                    Ap[kk * NN__MR + r] = r < mr ? A[(i0 + r) * ars + (k0 + kk) * acs] : 0.0f;
                for (jj = 0; jj < nb; jj++) {
                    int64_t nr = nc - jj * NN__NR < NN__NR ? nc - jj * NN__NR : NN__NR;
                    nn__gemm_tile(kc, Ap, Bp + jj * kc * NN__NR, C + i0 * ldc + j0 + jj * NN__NR, ldc, mr, nr);
                }
            }
        }
    }
    nn__arena_rewind(ctx, mark);
}

/* Shapes of a matmul: matrices (M, K) @ (K, N) over broadcast batch dims. */
typedef struct nn__mm {
    int64_t M, N, K, nbatch;
    int64_t ars, acs, brs, bcs;
    int bnd;
    int64_t bshape[NN_MAX_DIMS];
    int64_t a_st[NN_MAX_DIMS], b_st[NN_MAX_DIMS];      /* data strides over batch dims (0 = broadcast) */
    int64_t ag_st[NN_MAX_DIMS], bg_st[NN_MAX_DIMS];    /* the same in the contiguous gradients */
} nn__mm;

static int nn__mm_plan(nn__mm *p, const nn_tensor *a, const nn_tensor *b, int *ynd, int64_t *yshape) {
    int and_ = a->ndim >= 2 ? a->ndim - 2 : 0, bnd_ = b->ndim >= 2 ? b->ndim - 2 : 0, d;
    int64_t ag[NN_MAX_DIMS], bg[NN_MAX_DIMS];
    char s1[128], s2[128];
    memset(p, 0, sizeof *p);
    if (a->ndim == 0 || b->ndim == 0) {
        nn__err(a->ctx, "nn_matmul: a is %s and b is %s; both must have at least 1 dim", NN__SHAPE(a, s1), NN__SHAPE(b, s2));
        return 0;
    }
    p->M = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1;
    p->K = a->shape[a->ndim - 1];
    p->N = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
    if (b->shape[b->ndim >= 2 ? b->ndim - 2 : 0] != p->K) {
        nn__err(a->ctx, "nn_matmul: a is %s and b is %s; a's last dim must equal b's %s dim", NN__SHAPE(a, s1), NN__SHAPE(b, s2),
                b->ndim >= 2 ? "second-to-last" : "only");
        return 0;
    }
    p->ars = a->ndim >= 2 ? a->stride[a->ndim - 2] : 0; p->acs = a->stride[a->ndim - 1];
    p->brs = b->stride[b->ndim >= 2 ? b->ndim - 2 : 0]; p->bcs = b->ndim >= 2 ? b->stride[b->ndim - 1] : 1;
    nn__contig_strides(a->ndim, a->shape, ag);
    nn__contig_strides(b->ndim, b->shape, bg);
    p->bnd = and_ > bnd_ ? and_ : bnd_;
    p->nbatch = 1;
    for (d = 0; d < p->bnd; d++) {
        int da = d - (p->bnd - and_), db = d - (p->bnd - bnd_);
        int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            nn__err(a->ctx, "nn_matmul: batch dims of a %s and b %s cannot be broadcast", NN__SHAPE(a, s1), NN__SHAPE(b, s2));
            return 0;
        }
        p->bshape[d] = sa > sb ? sa : sb;
        p->a_st[d] = (da >= 0 && sa != 1) ? a->stride[da] : 0;
        p->ag_st[d] = (da >= 0 && sa != 1) ? ag[da] : 0;
        p->b_st[d] = (db >= 0 && sb != 1) ? b->stride[db] : 0;
        p->bg_st[d] = (db >= 0 && sb != 1) ? bg[db] : 0;
        p->nbatch *= p->bshape[d];
    }
    *ynd = 0;
    for (d = 0; d < p->bnd; d++) yshape[(*ynd)++] = p->bshape[d];
    if (a->ndim >= 2) yshape[(*ynd)++] = p->M;
    if (b->ndim >= 2) yshape[(*ynd)++] = p->N;
    return 1;
}

static void nn__matmul_forward(nn_tensor *y) {
    const nn_tensor *a = y->src[0], *b = y->src[1];
    nn__mm p; nn__walk w; int64_t t, ysh[NN_MAX_DIMS]; int ynd;
    nn__mm_plan(&p, a, b, &ynd, ysh);
    nn__walk_init(&w, p.bnd, p.bshape, p.a_st, p.b_st, NULL);
    for (t = 0; t < p.nbatch; t++, nn__walk_next(&w))   /* y (batch, M, N) = a (batch, M, K) @ b (batch, K, N) */
        nn__gemm(y->ctx, p.M, p.N, p.K, NN__F32(a) + w.off[0], p.ars, p.acs, NN__F32(b) + w.off[1], p.brs, p.bcs,
                 NN__F32(y) + t * p.M * p.N, p.N, 0);
}

static void nn__matmul_backward(nn_tensor *y) {
    const nn_tensor *a = y->src[0], *b = y->src[1];
    float *da = nn__gbuf(a), *db = nn__gbuf(b);
    nn__mm p; nn__walk wd, wg; int64_t t, ysh[NN_MAX_DIMS]; int ynd;
    nn__mm_plan(&p, a, b, &ynd, ysh);
    /* da (M, K) += dy (M, N) @ b^T;  db (K, N) += a^T @ dy: transposes by strides */
    nn__walk_init(&wd, p.bnd, p.bshape, p.a_st, p.b_st, NULL);
    nn__walk_init(&wg, p.bnd, p.bshape, p.ag_st, p.bg_st, NULL);
    for (t = 0; t < p.nbatch; t++, nn__walk_next(&wd), nn__walk_next(&wg)) {
        const float *g = NN__F32(y->grad) + t * p.M * p.N;
        if (da) nn__gemm(y->ctx, p.M, p.K, p.N, g, p.N, 1, NN__F32(b) + wd.off[1], p.bcs, p.brs, da + wg.off[0], p.K, 1);
        if (db) nn__gemm(y->ctx, p.K, p.N, p.M, NN__F32(a) + wd.off[0], p.acs, p.ars, g, p.N, 1, db + wg.off[1], p.N, 1);
    }
}

NN_API nn_tensor *nn_matmul(nn_tensor *a, nn_tensor *b) {
    static const char *names[] = { "a", "b" };
    nn_tensor *xs[2], *y; nn__mm p; int ynd; int64_t ysh[NN_MAX_DIMS];
    xs[0] = a; xs[1] = b;
    if (!nn__check_inputs("nn_matmul", xs, names, 2)) return NULL;
    if (!nn__mm_plan(&p, a, b, &ynd, ysh)) return NULL;
    y = nn__node(NN_OP_MATMUL, "nn_matmul", ynd, ysh, xs, 2, 1);
    if (!y) return NULL;
    nn__matmul_forward(y);
    return y;
}

/* ---- indexing: gather, index_select (embedding), one_hot ---- */

static int nn__index_at(nn_ctx *ctx, const char *fn, float v, int64_t size, int64_t *out) {
    int64_t k;
    if (!(v > -9.0e18f && v < 9.0e18f)) { nn__err(ctx, "%s: index %g is not a whole number in range", fn, v); return 0; }
    k = (int64_t)v;
    if ((float)k != v) { nn__err(ctx, "%s: index %g is not a whole number", fn, v); return 0; }
    if (k < -size || k >= size) { nn__err(ctx, "%s: index %lld is out of range for a dim of size %lld", fn, (long long)k, (long long)size); return 0; }
    *out = k < 0 ? k + size : k;
    return 1;
}

/* gather: y[i0..id..in] = x[i0..index[i]..in] along ip[0]; saved = positions in x */
static void nn__gather_forward(nn_tensor *y) {
    const int64_t *pos = NN__CAST(const int64_t *, y->saved);   /* (numel of y) */
    const float *x = NN__F32(y->src[0]);
    int64_t i;
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = x[pos[i]];
}
static void nn__gather_backward(nn_tensor *y) {
    const int64_t *pos = NN__CAST(const int64_t *, y->saved);
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[pos[i]] += g[i];     /* scatter-add */
}

NN_API nn_tensor *nn_gather(nn_tensor *x, int dim, nn_tensor *index) {
    static const char *names[] = { "x", "index" };
    nn_tensor *xs[2], *y; int d, k; int64_t *pos, i, xst[NN_MAX_DIMS];
    char s1[128], s2[128]; nn__walk w;
    xs[0] = x; xs[1] = index;
    if (!nn__check_inputs("nn_gather", xs, names, 2)) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_gather", x, dim, 0, &d)) return NULL;
    if (index->ndim != x->ndim) {
        nn__err(x->ctx, "nn_gather: x is %s and index is %s; they must have the same number of dims", NN__SHAPE(x, s1), NN__SHAPE(index, s2));
        return NULL;
    }
    for (k = 0; k < x->ndim; k++) if (k != d && index->shape[k] > x->shape[k]) {
        nn__err(x->ctx, "nn_gather: index %s is larger than x %s at dim %d", NN__SHAPE(index, s2), NN__SHAPE(x, s1), k);
        return NULL;
    }
    if (!(xs[0] = nn__contig_input(x))) return NULL;
    y = nn__node(NN_OP_GATHER, "nn_gather", index->ndim, index->shape, xs, 1, 1);
    if (!y) return NULL;
    pos = NN__CAST(int64_t *, nn__arena_alloc(x->ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(int64_t)));
    if (!pos) { nn__err(x->ctx, "nn_gather: out of memory"); return NULL; }
    nn__contig_strides(x->ndim, x->shape, xst);
    nn__walk_init(&w, index->ndim, index->shape, index->stride, NULL, NULL);
    for (i = 0; i < y->numel; i++, nn__walk_next(&w)) {
        int64_t at, p = 0, rem = i, j;
        if (!nn__index_at(x->ctx, "nn_gather", NN__F32(index)[w.off[0]], x->ndim ? x->shape[d] : 1, &at)) return NULL;
        for (k = index->ndim - 1; k >= 0; k--) {    /* position of y's element i in x */
            j = rem % index->shape[k]; rem /= index->shape[k];
            p += (k == d ? at : j) * xst[k];
        }
        pos[i] = p;
    }
    y->saved = pos;
    y->ip[0] = d;
    nn__gather_forward(y);
    return y;
}

/* index_select: y (outer, n, inner) = x (outer, D, inner)[:, index, :]; saved = the n rows */
static void nn__index_select_forward(nn_tensor *y) {
    const int64_t *rows = NN__CAST(const int64_t *, y->saved);
    const float *x = NN__F32(y->src[0]);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], n = y->ip[3], o, r;
    for (o = 0; o < O; o++) for (r = 0; r < n; r++)
        memcpy(NN__F32(y) + (o * n + r) * I, x + (o * D + rows[r]) * I, (size_t)I * sizeof(float));
}
static void nn__index_select_backward(nn_tensor *y) {
    const int64_t *rows = NN__CAST(const int64_t *, y->saved);
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], n = y->ip[3], o, r, i;
    if (!dx) return;
    for (o = 0; o < O; o++) for (r = 0; r < n; r++) {
        float *dp = dx + (o * D + rows[r]) * I; const float *gp = g + (o * n + r) * I;
        for (i = 0; i < I; i++) dp[i] += gp[i];
    }
}

NN_API nn_tensor *nn_index_select(nn_tensor *x, int dim, nn_tensor *index) {
    static const char *names[] = { "x", "index" };
    nn_tensor *xs[2], *y; int d, nd; int64_t oi[3], shape[NN_MAX_DIMS], *rows, r;
    char s[128]; nn__walk w;
    xs[0] = x; xs[1] = index;
    if (!nn__check_inputs("nn_index_select", xs, names, 2)) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_index_select", x, dim, 0, &d)) return NULL;
    if (index->ndim > 1) { nn__err(x->ctx, "nn_index_select: index is %s; it must be 1-D", NN__SHAPE(index, s)); return NULL; }
    if (!nn__split_dim("nn_index_select", x, d, 1, oi, &nd, shape)) return NULL;
    if (x->ndim) shape[d] = index->numel;
    if (!(xs[0] = nn__contig_input(x))) return NULL;
    y = nn__node(NN_OP_INDEX_SELECT, "nn_index_select", x->ndim, shape, xs, 1, 1);
    if (!y) return NULL;
    rows = NN__CAST(int64_t *, nn__arena_alloc(x->ctx, (size_t)(index->numel + 1) * sizeof(int64_t)));
    if (!rows) { nn__err(x->ctx, "nn_index_select: out of memory"); return NULL; }
    nn__walk_init(&w, index->ndim, index->shape, index->stride, NULL, NULL);
    for (r = 0; r < index->numel; r++, nn__walk_next(&w))
        if (!nn__index_at(x->ctx, "nn_index_select", NN__F32(index)[w.off[0]], oi[1], &rows[r])) return NULL;
    y->saved = rows;
    memcpy(y->ip, oi, sizeof oi);
    y->ip[3] = index->numel;
    nn__index_select_forward(y);
    return y;
}

NN_API nn_tensor *nn_embedding(nn_tensor *weight, nn_tensor *index) {
    static const char *names[] = { "weight", "index" };
    nn_tensor *xs[2], *flat, *rows; int64_t shape[NN_MAX_DIMS], n; char s[128];
    xs[0] = weight; xs[1] = index;
    if (!nn__check_inputs("nn_embedding", xs, names, 2)) return NULL;
    if (weight->ndim != 2) { nn__err(weight->ctx, "nn_embedding: weight is %s; it must be (num_embeddings, embedding_dim)", NN__SHAPE(weight, s)); return NULL; }
    if (index->ndim + 1 > NN_MAX_DIMS) { nn__err(weight->ctx, "nn_embedding: index has %d dims; at most %d", index->ndim, NN_MAX_DIMS - 1); return NULL; }
    n = index->numel;
    flat = nn_reshape(index, 1, &n);
    rows = nn_index_select(weight, 0, flat);
    if (!rows) return NULL;
    memcpy(shape, index->shape, (size_t)index->ndim * sizeof(int64_t));
    shape[index->ndim] = weight->shape[1];
    return nn_reshape(rows, index->ndim + 1, shape);
}

NN_API nn_tensor *nn_one_hot(nn_tensor *index, int64_t num_classes) {
    static const char *names[] = { "index" };
    nn_tensor *y; int64_t shape[NN_MAX_DIMS], i, k; nn__walk w;
    if (!nn__check_inputs("nn_one_hot", &index, names, 1)) return NULL;
    if (index->ndim + 1 > NN_MAX_DIMS) { nn__err(index->ctx, "nn_one_hot: index has %d dims; at most %d", index->ndim, NN_MAX_DIMS - 1); return NULL; }
    nn__walk_init(&w, index->ndim, index->shape, index->stride, NULL, NULL);
    if (num_classes < 0) {
        num_classes = 0;
        for (i = 0; i < index->numel; i++, nn__walk_next(&w)) {
            float v = NN__F32(index)[w.off[0]];
            if (v >= 0 && v < 16777216.0f && v + 1 > num_classes) num_classes = (int64_t)v + 1;
        }
        nn__walk_init(&w, index->ndim, index->shape, index->stride, NULL, NULL);
    }
    memcpy(shape, index->shape, (size_t)index->ndim * sizeof(int64_t));
    shape[index->ndim] = num_classes;
    y = nn__new_arena(index->ctx, "nn_one_hot", index->ndim + 1, shape, 1);
    if (!y) return NULL;
    memset(NN__F32(y), 0, (size_t)y->numel * sizeof(float));
    for (i = 0; i < index->numel; i++, nn__walk_next(&w)) {
        float v = NN__F32(index)[w.off[0]];
        if (v < 0 || !nn__index_at(index->ctx, "nn_one_hot", v, num_classes, &k)) {
            if (v < 0) nn__err(index->ctx, "nn_one_hot: class %g is negative", v);
            return NULL;
        }
        NN__F32(y)[i * num_classes + k] = 1.0f;
    }
    return y;
}

/* ---- views: reshape, transpose, permute, slice, select, squeeze, unsqueeze ---- */
/* A view shares its input's data through its own strides. Its backward needs
   the same geometry in the input's contiguous gradient: ip[0..nd) are those
   strides, ip[NN_MAX_DIMS] the offset. */

typedef int (*nn__geom_fn)(const nn_tensor *x, const int64_t *st, const int64_t *args,
                           int *nd, int64_t *shape, int64_t *ost, int64_t *off);

static nn_tensor *nn__view(int op, const char *fn, nn_tensor *x, nn__geom_fn geom, const int64_t *args) {
    static const char *names[] = { "x" };
    int nd, nd2, i; int64_t shape[NN_MAX_DIMS], st[NN_MAX_DIMS], off, lst[NN_MAX_DIMS], lstride[NN_MAX_DIMS], loff;
    nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (!geom(x, x->stride, args, &nd, shape, st, &off)) return NULL;
    nn__contig_strides(x->ndim, x->shape, lst);
    geom(x, lst, args, &nd2, shape, lstride, &loff);
    y = nn__node(op, fn, nd, shape, &x, 1, 0);
    if (!y) return NULL;
    y->data = NN__CAST(char *, x->data) + (size_t)off * nn_dtype_size(x->dtype);
    y->dtype = x->dtype;
    y->storage = x->storage;
    for (i = 0; i < nd; i++) { y->stride[i] = st[i]; y->ip[i] = lstride[i]; }
    y->ip[NN_MAX_DIMS] = loff;
    return y;
}

static void nn__view_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    nn__walk w; int64_t i;
    if (!dx) return;
    dx += y->ip[NN_MAX_DIMS];
    nn__walk_init(&w, y->ndim, y->shape, y->ip, NULL, NULL);
    for (i = 0; i < y->numel; i++, nn__walk_next(&w)) dx[w.off[0]] += g[i];
}

/* args: [0] = ndim, [1..] = shape (already resolved, x contiguous) */
static int nn__geom_reshape(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    (void)x; (void)st;
    *nd = (int)args[0];
    memcpy(shape, args + 1, (size_t)*nd * sizeof(int64_t));
    nn__contig_strides(*nd, shape, ost);
    *off = 0;
    return 1;
}
NN_API nn_tensor *nn_reshape(nn_tensor *x, int ndim, const int64_t *shape) {
    int64_t args[NN_MAX_DIMS + 1], known = 1, n; int i, infer = -1;
    char s[128];
    if (!x) return NULL;
    if (ndim < 0 || ndim > NN_MAX_DIMS || (ndim && !shape)) { nn__err(x->ctx, "nn_reshape: %d dims requested; a tensor has 0 to %d", ndim, NN_MAX_DIMS); return NULL; }
    for (i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (infer >= 0) { nn__err(x->ctx, "nn_reshape: more than one -1 in the new shape"); return NULL; }
            infer = i;
        } else if (shape[i] < 0) { nn__err(x->ctx, "nn_reshape: size %lld at dim %d is invalid", (long long)shape[i], i); return NULL; }
        else known *= shape[i];
        args[i + 1] = shape[i];
    }
    n = x->numel;
    if (infer >= 0) {
        if (known == 0 || n % known) { nn__err(x->ctx, "nn_reshape: cannot infer the -1 of the new shape for %s (%lld elements)", NN__SHAPE(x, s), (long long)n); return NULL; }
        args[infer + 1] = n / known; known = n;
    }
    if (known != n) {
        nn__err(x->ctx, "nn_reshape: %s has %lld elements; the new shape has %lld", NN__SHAPE(x, s), (long long)n, (long long)known);
        return NULL;
    }
    args[0] = ndim;
    if (!(x = nn__contig_input(x))) return NULL;
    return nn__view(NN_OP_RESHAPE, "nn_reshape", x, nn__geom_reshape, args);
}
NN_API nn_tensor *nn_view(nn_tensor *x, int ndim, const int64_t *shape) {
    char s[128];
    if (x && !nn_is_contiguous(x)) {
        nn__err(x->ctx, "nn_view: x %s is not contiguous; use nn_reshape or nn_contiguous first", NN__SHAPE(x, s));
        return NULL;
    }
    return nn_reshape(x, ndim, shape);
}
NN_API nn_tensor *nn_flatten(nn_tensor *x, int start_dim, int end_dim) {
    int s, e, i, nd = 0; int64_t shape[NN_MAX_DIMS];
    if (!x) return NULL;
    if (x->ndim == 0) { int64_t one = 1; return nn_reshape(x, 1, &one); }
    if (!nn__norm_dim(x->ctx, "nn_flatten", x, start_dim, 0, &s) || !nn__norm_dim(x->ctx, "nn_flatten", x, end_dim, 0, &e)) return NULL;
    if (s > e) { nn__err(x->ctx, "nn_flatten: start_dim %d comes after end_dim %d", start_dim, end_dim); return NULL; }
    for (i = 0; i < s; i++) shape[nd++] = x->shape[i];
    shape[nd] = 1;
    for (i = s; i <= e; i++) shape[nd] *= x->shape[i];
    nd++;
    for (i = e + 1; i < x->ndim; i++) shape[nd++] = x->shape[i];
    return nn_reshape(x, nd, shape);
}

/* args: the permutation */
static int nn__geom_permute(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    int i;
    *nd = x->ndim; *off = 0;
    for (i = 0; i < x->ndim; i++) { shape[i] = x->shape[args[i]]; ost[i] = st[args[i]]; }
    return 1;
}
NN_API nn_tensor *nn_transpose(nn_tensor *x, int dim0, int dim1) {
    int64_t perm[NN_MAX_DIMS]; int a, b, i;
    if (!x) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_transpose", x, dim0, 0, &a) || !nn__norm_dim(x->ctx, "nn_transpose", x, dim1, 0, &b)) return NULL;
    for (i = 0; i < x->ndim; i++) perm[i] = i;
    if (x->ndim) { perm[a] = b; perm[b] = a; }
    return nn__view(NN_OP_TRANSPOSE, "nn_transpose", x, nn__geom_permute, perm);
}
NN_API nn_tensor *nn_permute(nn_tensor *x, const int *dims) {
    int64_t perm[NN_MAX_DIMS]; int i, d, seen[NN_MAX_DIMS];
    if (!x) return NULL;
    if (!dims) { nn__err(x->ctx, "nn_permute: dims is NULL"); return NULL; }
    memset(seen, 0, sizeof seen);
    for (i = 0; i < x->ndim; i++) {
        if (!nn__norm_dim(x->ctx, "nn_permute", x, dims[i], 0, &d)) return NULL;
        if (seen[d]++) { nn__err(x->ctx, "nn_permute: dim %d appears twice in dims", d); return NULL; }
        perm[i] = d;
    }
    return nn__view(NN_OP_PERMUTE, "nn_permute", x, nn__geom_permute, perm);
}

/* args: dim, start, length, step (resolved) */
static int nn__geom_slice(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    int i, d = (int)args[0];
    *nd = x->ndim;
    for (i = 0; i < x->ndim; i++) { shape[i] = x->shape[i]; ost[i] = st[i]; }
    shape[d] = args[2]; ost[d] = st[d] * args[3];
    *off = args[1] * st[d];
    return 1;
}
NN_API nn_tensor *nn_slice(nn_tensor *x, int dim, int64_t start, int64_t end, int64_t step) {
    int64_t args[4], size; int d;
    if (!x) return NULL;
    if (x->ndim == 0) { nn__err(x->ctx, "nn_slice: cannot slice a 0-dim tensor"); return NULL; }
    if (!nn__norm_dim(x->ctx, "nn_slice", x, dim, 0, &d)) return NULL;
    if (step <= 0) { nn__err(x->ctx, "nn_slice: step %lld must be positive", (long long)step); return NULL; }
    size = x->shape[d];
    if (start < 0) start += size;
    if (end < 0) end += size;
    if (start < 0) start = 0;
    if (start > size) start = size;
    if (end > size) end = size;
    if (end < start) end = start;
    args[0] = d; args[1] = start; args[2] = (end - start + step - 1) / step; args[3] = step;
    return nn__view(NN_OP_SLICE, "nn_slice", x, nn__geom_slice, args);
}

/* args: dim, index (resolved) */
static int nn__geom_select(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    int i, d = (int)args[0];
    *nd = 0;
    for (i = 0; i < x->ndim; i++) if (i != d) { shape[*nd] = x->shape[i]; ost[(*nd)++] = st[i]; }
    *off = args[1] * st[d];
    return 1;
}
NN_API nn_tensor *nn_select(nn_tensor *x, int dim, int64_t index) {
    int64_t args[2]; int d;
    if (!x) return NULL;
    if (x->ndim == 0) { nn__err(x->ctx, "nn_select: cannot index a 0-dim tensor"); return NULL; }
    if (!nn__norm_dim(x->ctx, "nn_select", x, dim, 0, &d)) return NULL;
    if (index < -x->shape[d] || index >= x->shape[d]) {
        nn__err(x->ctx, "nn_select: index %lld is out of range for dim %d of size %lld", (long long)index, d, (long long)x->shape[d]);
        return NULL;
    }
    args[0] = d; args[1] = index < 0 ? index + x->shape[d] : index;
    return nn__view(NN_OP_SELECT, "nn_select", x, nn__geom_select, args);
}

/* args: dim to drop (-1: none) or, for unsqueeze, dim to insert + 1000 */
static int nn__geom_squeeze(const nn_tensor *x, const int64_t *st, const int64_t *args, int *nd, int64_t *shape, int64_t *ost, int64_t *off) {
    int i, ins = args[0] >= 1000 ? (int)args[0] - 1000 : -1, drop = args[0] < 1000 ? (int)args[0] : -1;
    *nd = 0; *off = 0;
    for (i = 0; i <= x->ndim; i++) {
        if (i == ins) { shape[*nd] = 1; ost[(*nd)++] = i < x->ndim ? st[i] * x->shape[i] : 1; }
        if (i < x->ndim && i != drop) { shape[*nd] = x->shape[i]; ost[(*nd)++] = st[i]; }
    }
    return 1;
}
NN_API nn_tensor *nn_squeeze(nn_tensor *x, int dim) {
    int64_t args[1]; int d;
    if (!x) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_squeeze", x, dim, 0, &d)) return NULL;
    args[0] = (x->ndim && x->shape[d] == 1) ? d : -1;
    return nn__view(NN_OP_SQUEEZE, "nn_squeeze", x, nn__geom_squeeze, args);
}
NN_API nn_tensor *nn_unsqueeze(nn_tensor *x, int dim) {
    int64_t args[1]; int d;
    if (!x) return NULL;
    if (x->ndim >= NN_MAX_DIMS) { nn__err(x->ctx, "nn_unsqueeze: x already has %d dims, the most a tensor can have", x->ndim); return NULL; }
    if (!nn__norm_dim(x->ctx, "nn_unsqueeze", x, dim, 1, &d)) return NULL;
    args[0] = 1000 + d;
    return nn__view(NN_OP_UNSQUEEZE, "nn_unsqueeze", x, nn__geom_squeeze, args);
}

/* ---- copy (contiguous, clone), detach ---- */

static void nn__copy_forward(nn_tensor *y) { nn__gather_strided(NN__F32(y), y->src[0]); }
static void nn__copy_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);     /* x's gradient is contiguous: a plain add */
    const float *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[i] += g[i];
}
static nn_tensor *nn__copy(const char *fn, nn_tensor *x) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    y = nn__node(NN_OP_COPY, fn, x->ndim, x->shape, &x, 1, 1);
    if (y) nn__copy_forward(y);
    return y;
}
NN_API nn_tensor *nn_contiguous(nn_tensor *x) { return x && nn_is_contiguous(x) ? x : nn__copy("nn_contiguous", x); }
NN_API nn_tensor *nn_clone(nn_tensor *x) { return nn__copy("nn_clone", x); }

NN_API nn_tensor *nn_detach(nn_tensor *x) {
    nn_tensor *y;
    if (!x) return NULL;
    y = nn__new_arena(x->ctx, "nn_detach", x->ndim, x->shape, 0);
    if (!y) return NULL;
    y->data = x->data;
    y->dtype = x->dtype;
    y->storage = x->storage;
    memcpy(y->stride, x->stride, sizeof y->stride);
    return y;
}

/* ---- cat, stack ---- */
/* ip[0] = outer (product of dims before dim), ip[1] = inner (product after) */

static void nn__cat_forward(nn_tensor *y) {
    int64_t O = y->ip[0], I = y->ip[1], o, at = 0; int k;
    int64_t Y = y->ndim ? y->shape[y->ip[2]] * I : I;    /* (outer, sum of D_k * inner) */
    for (k = 0; k < y->nsrc; k++) {
        const nn_tensor *x = y->src[k];
        int64_t X = x->shape[y->ip[2]] * I;
        for (o = 0; o < O; o++) memcpy(NN__F32(y) + o * Y + at, NN__F32(x) + o * X, (size_t)X * sizeof(float));
        at += X;
    }
}
static void nn__cat_backward(nn_tensor *y) {
    int64_t O = y->ip[0], I = y->ip[1], o, i, at = 0; int k;
    int64_t Y = y->shape[y->ip[2]] * I;
    for (k = 0; k < y->nsrc; k++) {
        const nn_tensor *x = y->src[k];
        int64_t X = x->shape[y->ip[2]] * I;
        float *dx = nn__gbuf(x);
        if (dx) for (o = 0; o < O; o++) for (i = 0; i < X; i++) dx[o * X + i] += NN__F32(y->grad)[o * Y + at + i];
        at += X;
    }
}

NN_API nn_tensor *nn_cat(nn_tensor **xs, int n, int dim) {
    nn_ctx *ctx; int d, k, i; int64_t shape[NN_MAX_DIMS], O = 1, I = 1; nn_tensor *y, **cs;
    char s1[128], s2[128];
    if (!xs || n <= 0) return NULL;
    ctx = nn__ctx_of(xs, n);
    for (k = 0; k < n; k++) if (!xs[k]) { if (ctx && !ctx->has_error) nn__err(ctx, "nn_cat: tensor %d is NULL", k); return NULL; }
    if (xs[0]->ndim == 0) { nn__err(ctx, "nn_cat: tensors must have at least 1 dim; tensor 0 is a scalar"); return NULL; }
    if (!nn__norm_dim(ctx, "nn_cat", xs[0], dim, 0, &d)) return NULL;
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[d] = 0;
    for (k = 0; k < n; k++) {
        if (xs[k]->ctx != ctx) { nn__err(ctx, "nn_cat: tensor %d belongs to another nn_ctx", k); return NULL; }
        for (i = 0; i < xs[0]->ndim; i++)
            if (xs[k]->ndim != xs[0]->ndim || (i != d && xs[k]->shape[i] != xs[0]->shape[i])) {
                nn__err(ctx, "nn_cat: tensor 0 is %s and tensor %d is %s; all sizes but dim %d must match", NN__SHAPE(xs[0], s1), k, NN__SHAPE(xs[k], s2), d);
                return NULL;
            }
        shape[d] += xs[k]->shape[d];
    }
    cs = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)n * sizeof(nn_tensor *)));
    if (!cs) { nn__err(ctx, "nn_cat: out of memory"); return NULL; }
    for (k = 0; k < n; k++) if (!(cs[k] = nn__contig_input(xs[k]))) return NULL;
    y = nn__node(NN_OP_CAT, "nn_cat", xs[0]->ndim, shape, cs, n, 1);
    if (!y) return NULL;
    for (i = 0; i < d; i++) O *= shape[i];
    for (i = d + 1; i < xs[0]->ndim; i++) I *= shape[i];
    y->ip[0] = O; y->ip[1] = I; y->ip[2] = d;
    nn__cat_forward(y);
    return y;
}

NN_API nn_tensor *nn_stack(nn_tensor **xs, int n, int dim) {
    nn_ctx *ctx; nn_tensor **us; int k, d; char s1[128], s2[128];
    if (!xs || n <= 0) return NULL;
    ctx = nn__ctx_of(xs, n);
    for (k = 0; k < n; k++) if (!xs[k]) { if (ctx && !ctx->has_error) nn__err(ctx, "nn_stack: tensor %d is NULL", k); return NULL; }
    if (!nn__norm_dim(ctx, "nn_stack", xs[0], dim, 1, &d)) return NULL;
    us = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)n * sizeof(nn_tensor *)));
    if (!us) { nn__err(ctx, "nn_stack: out of memory"); return NULL; }
    for (k = 0; k < n; k++) {
        if (!nn__same_shape(xs[k], xs[0])) {
            nn__err(ctx, "nn_stack: tensor 0 is %s and tensor %d is %s; all must have the same shape", NN__SHAPE(xs[0], s1), k, NN__SHAPE(xs[k], s2));
            return NULL;
        }
        if (!(us[k] = nn_unsqueeze(xs[k], d))) return NULL;
    }
    return nn_cat(us, n, d);
}

/* ---- convolution: conv2d, conv_transpose2d (im2col + gemm) ---- */
/* ip: 0 sh, 1 sw, 2 ph, 3 pw, 4 dh, 5 dw, 6 groups, 7 oph, 8 opw */

/* img (C, H, W) -> col (C*kh*kw, OH*OW): the patch under each output position */
static void nn__im2col(float *col, const float *img, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       const int64_t *ip, int64_t OH, int64_t OW) {
    int64_t c, i, j, oh, ow, P = OH * OW;
    for (c = 0; c < C; c++) for (i = 0; i < kh; i++) for (j = 0; j < kw; j++) {
        float *dst = col + ((c * kh + i) * kw + j) * P;
        for (oh = 0; oh < OH; oh++) {
            int64_t ih = oh * ip[0] - ip[2] + i * ip[4];
            const float *src = img + (c * H + ih) * W;
            if (ih < 0 || ih >= H) { memset(dst + oh * OW, 0, (size_t)OW * sizeof(float)); continue; }
            for (ow = 0; ow < OW; ow++) {
                int64_t iw = ow * ip[1] - ip[3] + j * ip[5];
                dst[oh * OW + ow] = (iw >= 0 && iw < W) ? src[iw] : 0.0f;
            }
        }
    }
}
/* the adjoint: img (C, H, W) += col (C*kh*kw, OH*OW) scattered back */
static void nn__col2im(float *img, const float *col, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       const int64_t *ip, int64_t OH, int64_t OW) {
    int64_t c, i, j, oh, ow, P = OH * OW;
    for (c = 0; c < C; c++) for (i = 0; i < kh; i++) for (j = 0; j < kw; j++) {
        const float *src = col + ((c * kh + i) * kw + j) * P;
        for (oh = 0; oh < OH; oh++) {
            int64_t ih = oh * ip[0] - ip[2] + i * ip[4];
            float *dst = img + (c * H + ih) * W;
            if (ih < 0 || ih >= H) continue;
            for (ow = 0; ow < OW; ow++) {
                int64_t iw = ow * ip[1] - ip[3] + j * ip[5];
                if (iw >= 0 && iw < W) dst[iw] += src[oh * OW + ow];
            }
        }
    }
}

static float *nn__scratch(nn_ctx *ctx, int64_t n) { return NN__CAST(float *, nn__arena_alloc(ctx, (size_t)(n ? n : 1) * sizeof(float))); }

static void nn__conv2d_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], kh = w->shape[2], kw = w->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = O / G, K = Cg * kh * kw, P = OH * OW, n, g, o, q;
    float *col = NN__CAST(float *, y->saved);                     /* (K, P) */
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        float *yo = NN__F32(y) + (n * O + g * Og) * P;                /* (Og, P) */
        nn__im2col(col, NN__F32(x) + (n * C + g * Cg) * H * W, Cg, H, W, kh, kw, y->ip, OH, OW);
        nn__gemm(y->ctx, Og, P, K, NN__F32(w) + g * Og * K, K, 1, col, P, 1, yo, P, 0);
        if (b) for (o = 0; o < Og; o++) { float bv = NN__F32(b)[g * Og + o]; for (q = 0; q < P; q++) yo[o * P + q] += bv; }
    }
}
static void nn__conv2d_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], kh = w->shape[2], kw = w->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = O / G, K = Cg * kh * kw, P = OH * OW, n, g, o, q;
    float *col = NN__CAST(float *, y->saved), *dcol = dx ? nn__scratch(y->ctx, K * P) : NULL;   /* (K, P) */
    if (dx && !dcol) { nn__err(y->ctx, "nn_backward: out of memory in conv2d"); return; }
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        const float *gy = NN__F32(y->grad) + (n * O + g * Og) * P;    /* (Og, P) */
        if (dw) {   /* dw (Og, K) += gy (Og, P) @ col^T */
            nn__im2col(col, NN__F32(x) + (n * C + g * Cg) * H * W, Cg, H, W, kh, kw, y->ip, OH, OW);
            nn__gemm(y->ctx, Og, K, P, gy, P, 1, col, 1, P, dw + g * Og * K, K, 1);
        }
        if (dx) {   /* dcol (K, P) = w^T (K, Og) @ gy; dx += col2im(dcol) */
            nn__gemm(y->ctx, K, P, Og, NN__F32(w) + g * Og * K, 1, K, gy, P, 1, dcol, P, 0);
            nn__col2im(dx + (n * C + g * Cg) * H * W, dcol, Cg, H, W, kh, kw, y->ip, OH, OW);
        }
        if (db) for (o = 0; o < Og; o++) { float s = 0; for (q = 0; q < P; q++) s += gy[o * P + q]; db[g * Og + o] += s; }
    }
}

static void nn__conv_transpose2d_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = w->shape[1], O = Og * G, kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], K = Og * kh * kw, P = H * W, n, g, o, q;
    float *col = NN__CAST(float *, y->saved);                     /* (K, P) */
    memset(NN__F32(y), 0, (size_t)y->numel * sizeof(float));
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        float *yo = NN__F32(y) + (n * O + g * Og) * OH * OW;          /* (Og, OH, OW) */
        /* col (K, P) = w_g^T (K, Cg) @ x_g (Cg, P), then scattered into the output */
        nn__gemm(y->ctx, K, P, Cg, NN__F32(w) + g * Cg * K, 1, K, NN__F32(x) + (n * C + g * Cg) * P, P, 1, col, P, 0);
        nn__col2im(yo, col, Og, OH, OW, kh, kw, y->ip, H, W);
        if (b) for (o = 0; o < Og; o++) { float bv = NN__F32(b)[g * Og + o]; for (q = 0; q < OH * OW; q++) yo[o * OH * OW + q] += bv; }
    }
}
static void nn__conv_transpose2d_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = w->shape[1], O = Og * G, kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], K = Og * kh * kw, P = H * W, n, g, o, q;
    float *col = NN__CAST(float *, y->saved);                     /* (K, P) */
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        const float *gy = NN__F32(y->grad) + (n * O + g * Og) * OH * OW;
        nn__im2col(col, gy, Og, OH, OW, kh, kw, y->ip, H, W);      /* dcol (K, P) */
        if (dx) nn__gemm(y->ctx, Cg, P, K, NN__F32(w) + g * Cg * K, K, 1, col, P, 1, dx + (n * C + g * Cg) * P, P, 1);
        if (dw) nn__gemm(y->ctx, Cg, K, P, NN__F32(x) + (n * C + g * Cg) * P, P, 1, col, 1, P, dw + g * Cg * K, K, 1);
        if (db) for (o = 0; o < Og; o++) { float s = 0; for (q = 0; q < OH * OW; q++) s += gy[o * OH * OW + q]; db[g * Og + o] += s; }
    }
}

static nn_tensor *nn__conv(int op, const char *fn, nn_tensor *x, nn_tensor *w, nn_tensor *b, const int64_t *ip) {
    static const char *names[] = { "input", "weight" };
    nn_tensor *xs[3], *y; int64_t shape[4], C, G = ip[6], kh, kw, outc, OH, OW, K, P;
    char s1[128], s2[128], s3[128];
    int transposed = op == NN_OP_CONV_TRANSPOSE2D;
    xs[0] = x; xs[1] = w; xs[2] = b;
    if (!nn__check_inputs(fn, xs, names, 2)) return NULL;
    if (x->ndim != 4 || w->ndim != 4) {
        nn__err(x->ctx, "%s: input is %s and weight is %s; both must be 4-D (N, C, H, W) and (%s, kH, kW)", fn,
                NN__SHAPE(x, s1), NN__SHAPE(w, s2), transposed ? "C_in, C_out/groups" : "C_out, C_in/groups");
        return NULL;
    }
    if (G < 1 || ip[0] < 1 || ip[1] < 1 || ip[4] < 1 || ip[5] < 1 || ip[2] < 0 || ip[3] < 0) {
        nn__err(x->ctx, "%s: stride %lldx%lld, padding %lldx%lld, dilation %lldx%lld, groups %lld; stride, dilation and groups must be >= 1, padding >= 0",
                fn, (long long)ip[0], (long long)ip[1], (long long)ip[2], (long long)ip[3], (long long)ip[4], (long long)ip[5], (long long)G);
        return NULL;
    }
    C = x->shape[1]; kh = w->shape[2]; kw = w->shape[3];
    if (transposed ? (w->shape[0] != C || C % G) : (w->shape[1] * G != C || w->shape[0] % G)) {
        nn__err(x->ctx, "%s: input is %s and weight is %s with groups %lld; the input's channels do not match the weight", fn,
                NN__SHAPE(x, s1), NN__SHAPE(w, s2), (long long)G);
        return NULL;
    }
    outc = transposed ? w->shape[1] * G : w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != outc)) {
        nn__err(x->ctx, "%s: bias is %s; expected (%lld,)", fn, NN__SHAPE(b, s3), (long long)outc);
        return NULL;
    }
    if (transposed) {
        if (ip[7] >= ip[0] && ip[7] >= ip[4]) { nn__err(x->ctx, "%s: output_padding %lld must be smaller than stride or dilation", fn, (long long)ip[7]); return NULL; }
        OH = (x->shape[2] - 1) * ip[0] - 2 * ip[2] + ip[4] * (kh - 1) + ip[7] + 1;
        OW = (x->shape[3] - 1) * ip[1] - 2 * ip[3] + ip[5] * (kw - 1) + ip[8] + 1;
    } else {
        OH = (x->shape[2] + 2 * ip[2] - ip[4] * (kh - 1) - 1) / ip[0] + 1;
        OW = (x->shape[3] + 2 * ip[3] - ip[5] * (kw - 1) - 1) / ip[1] + 1;
        if (x->shape[2] + 2 * ip[2] < ip[4] * (kh - 1) + 1 || x->shape[3] + 2 * ip[3] < ip[5] * (kw - 1) + 1) OH = 0;
    }
    if (OH <= 0 || OW <= 0) {
        nn__err(x->ctx, "%s: input %s with kernel %lldx%lld gives an empty output", fn, NN__SHAPE(x, s1), (long long)kh, (long long)kw);
        return NULL;
    }
    shape[0] = x->shape[0]; shape[1] = outc; shape[2] = OH; shape[3] = OW;
    for (K = 0; K < 2; K++) if (!(xs[K] = nn__contig_input(xs[K]))) return NULL;
    if (b && !(xs[2] = nn__contig_input(b))) return NULL;
    y = nn__node(op, fn, 4, shape, xs, 3, 1);
    if (!y) return NULL;
    memcpy(y->ip, ip, 9 * sizeof(int64_t));
    K = transposed ? w->shape[1] * kh * kw : (C / G) * kh * kw;
    P = transposed ? x->shape[2] * x->shape[3] : OH * OW;
    y->saved = nn__scratch(x->ctx, K * P);
    if (!y->saved) { nn__err(x->ctx, "%s: out of memory", fn); return NULL; }
    if (transposed) nn__conv_transpose2d_forward(y); else nn__conv2d_forward(y);
    return y;
}

NN_API nn_tensor *nn_conv2d(nn_tensor *x, nn_tensor *w, nn_tensor *b, nn_conv_opts o) {
    int64_t ip[9];
    ip[0] = ip[1] = o.stride ? o.stride : 1; ip[2] = ip[3] = o.padding;
    ip[4] = ip[5] = o.dilation ? o.dilation : 1; ip[6] = o.groups ? o.groups : 1; ip[7] = ip[8] = 0;
    return nn__conv(NN_OP_CONV2D, "nn_conv2d", x, w, b, ip);
}
NN_API nn_tensor *nn_conv_transpose2d(nn_tensor *x, nn_tensor *w, nn_tensor *b, nn_conv_opts o) {
    int64_t ip[9];
    ip[0] = ip[1] = o.stride ? o.stride : 1; ip[2] = ip[3] = o.padding;
    ip[4] = ip[5] = o.dilation ? o.dilation : 1; ip[6] = o.groups ? o.groups : 1; ip[7] = ip[8] = o.output_padding;
    return nn__conv(NN_OP_CONV_TRANSPOSE2D, "nn_conv_transpose2d", x, w, b, ip);
}

/* ---- pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d ---- */
/* ip: 0 kernel, 1 stride, 2 padding, 3 dilation, 4 count_include_pad; saved = argmax (max) */

static int64_t nn__pool_out(int64_t H, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode) {
    int64_t span = H + 2 * p - d * (k - 1) - 1, o;
    if (span < 0) return 0;
    o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= H + p) o--;
    return o;
}

/* The input window [h0, h1) x [w0, w1) of output (oh, ow) for average pooling
   (padding clipped; divisor counts the padding unless count_include_pad is off)
   and adaptive pooling ([floor(o*H/OH), ceil((o+1)*H/OH))). Returns the divisor. */
static int64_t nn__pool_window(const nn_tensor *y, int64_t H, int64_t W, int64_t oh, int64_t ow,
                               int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1) {
    int64_t k = y->ip[0], s = y->ip[1], p = y->ip[2], OH = y->shape[2], OW = y->shape[3], div;
    if (y->op == NN_OP_ADAPTIVE_AVG_POOL2D) {
        *h0 = oh * H / OH; *h1 = ((oh + 1) * H + OH - 1) / OH; *w0 = ow * W / OW; *w1 = ((ow + 1) * W + OW - 1) / OW;
        return (*h1 - *h0) * (*w1 - *w0);
    }
    *h0 = oh * s - p; *w0 = ow * s - p; *h1 = *h0 + k; *w1 = *w0 + k;
    if (*h1 > H + p) *h1 = H + p;
    if (*w1 > W + p) *w1 = W + p;
    div = (*h1 - *h0) * (*w1 - *w0);
    if (*h0 < 0) *h0 = 0;
    if (*w0 < 0) *w0 = 0;
    if (*h1 > H) *h1 = H;
    if (*w1 > W) *w1 = W;
    if (!y->ip[4]) div = (*h1 - *h0) * (*w1 - *w0);
    return div > 0 ? div : 1;
}

static void nn__pool_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    int64_t NC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t k = y->ip[0], s = y->ip[1], p = y->ip[2], d = y->ip[3], c, oh, ow, i, j;
    int64_t *arg = NN__CAST(int64_t *, y->saved);
    for (c = 0; c < NC; c++) {
        const float *xp = NN__F32(x) + c * H * W;                        /* (H, W) */
        float *yp = NN__F32(y) + c * OH * OW;                            /* (OH, OW) */
        for (oh = 0; oh < OH; oh++) for (ow = 0; ow < OW; ow++) {
            int64_t o = oh * OW + ow;
            if (y->op == NN_OP_MAX_POOL2D) {
                float best = -INFINITY; int64_t at = -1;
                for (i = 0; i < k; i++) for (j = 0; j < k; j++) {
                    int64_t ih = oh * s - p + i * d, iw = ow * s - p + j * d;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    if (at < 0 || xp[ih * W + iw] > best || xp[ih * W + iw] != xp[ih * W + iw]) { best = xp[ih * W + iw]; at = ih * W + iw; }
                    if (best != best) break;
                }
                yp[o] = best; arg[c * OH * OW + o] = at;
            } else {   /* average and adaptive average */
                int64_t h0, h1, w0, w1, div = nn__pool_window(y, H, W, oh, ow, &h0, &h1, &w0, &w1); double sum = 0;
                for (i = h0; i < h1; i++) for (j = w0; j < w1; j++) sum += xp[i * W + j];
                yp[o] = (float)(sum / (double)div);
            }
        }
    }
}
static void nn__pool_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    float *dx = nn__gbuf(x);
    int64_t NC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t c, oh, ow, i, j;
    const int64_t *arg = NN__CAST(const int64_t *, y->saved);
    if (!dx) return;
    for (c = 0; c < NC; c++) {
        float *dp = dx + c * H * W;
        const float *gp = NN__F32(y->grad) + c * OH * OW;
        for (oh = 0; oh < OH; oh++) for (ow = 0; ow < OW; ow++) {
            int64_t o = oh * OW + ow;
            if (y->op == NN_OP_MAX_POOL2D) { if (arg[c * OH * OW + o] >= 0) dp[arg[c * OH * OW + o]] += gp[o]; }
            else {
                int64_t h0, h1, w0, w1, div = nn__pool_window(y, H, W, oh, ow, &h0, &h1, &w0, &w1);
                float share = gp[o] / (float)div;
                for (i = h0; i < h1; i++) for (j = w0; j < w1; j++) dp[i * W + j] += share;
            }
        }
    }
}

static nn_tensor *nn__pool(int op, const char *fn, nn_tensor *x, int64_t OH, int64_t OW, const int64_t *ip) {
    static const char *names[] = { "input" };
    nn_tensor *y; int64_t shape[4]; char s[128];
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (x->ndim != 4) { nn__err(x->ctx, "%s: input is %s; expected 4-D (N, C, H, W)", fn, NN__SHAPE(x, s)); return NULL; }
    if (OH <= 0 || OW <= 0) { nn__err(x->ctx, "%s: input %s gives an empty output (%lld x %lld)", fn, NN__SHAPE(x, s), (long long)OH, (long long)OW); return NULL; }
    if (!(x = nn__contig_input(x))) return NULL;
    shape[0] = x->shape[0]; shape[1] = x->shape[1]; shape[2] = OH; shape[3] = OW;
    y = nn__node(op, fn, 4, shape, &x, 1, 1);
    if (!y) return NULL;
    memcpy(y->ip, ip, 5 * sizeof(int64_t));
    if (op == NN_OP_MAX_POOL2D) {
        y->saved = nn__arena_alloc(x->ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(int64_t));
        if (!y->saved) { nn__err(x->ctx, "%s: out of memory", fn); return NULL; }
    }
    nn__pool_forward(y);
    return y;
}

static int nn__pool_args(nn_tensor *x, const char *fn, nn_pool_opts o, int64_t *ip) {
    ip[0] = o.kernel_size; ip[1] = o.stride ? o.stride : o.kernel_size; ip[2] = o.padding;
    ip[3] = o.dilation ? o.dilation : 1; ip[4] = !o.count_exclude_pad;
    if (ip[0] < 1 || ip[1] < 1 || ip[2] < 0 || ip[3] < 1 || 2 * ip[2] > ip[0]) {
        if (x) nn__err(x->ctx, "%s: kernel_size %lld, stride %lld, padding %lld, dilation %lld; kernel, stride, dilation must be >= 1 and padding at most half the kernel",
                       fn, (long long)ip[0], (long long)ip[1], (long long)ip[2], (long long)ip[3]);
        return 0;
    }
    return 1;
}
NN_API nn_tensor *nn_max_pool2d(nn_tensor *x, nn_pool_opts o) {
    int64_t ip[5];
    if (!x || !nn__pool_args(x, "nn_max_pool2d", o, ip)) return NULL;
    if (x->ndim != 4) return nn__pool(NN_OP_MAX_POOL2D, "nn_max_pool2d", x, 1, 1, ip);
    return nn__pool(NN_OP_MAX_POOL2D, "nn_max_pool2d", x, nn__pool_out(x->shape[2], ip[0], ip[1], ip[2], ip[3], o.ceil_mode),
                    nn__pool_out(x->shape[3], ip[0], ip[1], ip[2], ip[3], o.ceil_mode), ip);
}
NN_API nn_tensor *nn_avg_pool2d(nn_tensor *x, nn_pool_opts o) {
    int64_t ip[5];
    if (!x || !nn__pool_args(x, "nn_avg_pool2d", o, ip)) return NULL;
    if (x->ndim != 4) return nn__pool(NN_OP_AVG_POOL2D, "nn_avg_pool2d", x, 1, 1, ip);
    return nn__pool(NN_OP_AVG_POOL2D, "nn_avg_pool2d", x, nn__pool_out(x->shape[2], ip[0], ip[1], ip[2], 1, o.ceil_mode),
                    nn__pool_out(x->shape[3], ip[0], ip[1], ip[2], 1, o.ceil_mode), ip);
}
NN_API nn_tensor *nn_adaptive_avg_pool2d(nn_tensor *x, int64_t out_h, int64_t out_w) {
    int64_t ip[5] = { 0, 0, 0, 0, 0 };
    return nn__pool(NN_OP_ADAPTIVE_AVG_POOL2D, "nn_adaptive_avg_pool2d", x, out_h, out_w, ip);
}

/* ---- dropout ---- */
/* saved = the mask: 0 or 1/(1-p) per element */

static void nn__dropout_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *m = NN__CAST(const float *, y->saved);
    int64_t i;
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = x[i] * m[i];
}
static void nn__dropout_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *m = NN__CAST(const float *, y->saved), *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[i] += g[i] * m[i];
}
NN_API nn_tensor *nn_dropout(nn_tensor *x, float p, int training) {
    static const char *names[] = { "input" };
    nn_tensor *y; float *m, scale; int64_t i;
    if (!nn__check_inputs("nn_dropout", &x, names, 1)) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) { nn__err(x->ctx, "nn_dropout: p is %g; it must be between 0 and 1", p); return NULL; }
    if (!training || p == 0.0f) return x;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(NN_OP_DROPOUT, "nn_dropout", x->ndim, x->shape, &x, 1, 1);
    if (!y) return NULL;
    m = nn__scratch(x->ctx, x->numel);
    if (!m) { nn__err(x->ctx, "nn_dropout: out of memory"); return NULL; }
    scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (i = 0; i < x->numel; i++) m[i] = nn__rng_uniform(&x->ctx->rng) < p ? 0.0f : scale;
    y->saved = m;
    nn__dropout_forward(y);
    return y;
}

/* ---- normalisation: batch_norm (over N and spatial dims), layer_norm (over the last dims) ---- */
/* batch_norm: x (N, C, S); src: x, weight, bias; ip[0] training; saved: mean (C), invstd (C)
   layer_norm: x (R, M); src: x, weight, bias; saved: mean (R), invstd (R) */

static void nn__norm_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const float *mean = NN__CAST(const float *, y->saved), *inv;
    int64_t n, c, s;
    if (y->op == NN_OP_BATCH_NORM) {
        int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, S = x->numel / (N * C > 0 ? N * C : 1);
        inv = mean + C;
        for (n = 0; n < N; n++) for (c = 0; c < C; c++) {
            float sc = inv[c] * (w ? NN__F32(w)[c] : 1.0f), sh = b ? NN__F32(b)[c] : 0.0f;
            const float *xp = NN__F32(x) + (n * C + c) * S; float *yp = NN__F32(y) + (n * C + c) * S;
            for (s = 0; s < S; s++) yp[s] = (xp[s] - mean[c]) * sc + sh;
        }
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        inv = mean + R;
        for (n = 0; n < R; n++) {
            const float *xp = NN__F32(x) + n * M; float *yp = NN__F32(y) + n * M;
            for (s = 0; s < M; s++) yp[s] = (xp[s] - mean[n]) * inv[n] * (w ? NN__F32(w)[s] : 1.0f) + (b ? NN__F32(b)[s] : 0.0f);
        }
    }
}
static void nn__norm_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    const float *mean = NN__CAST(const float *, y->saved), *inv, *g = NN__F32(y->grad);
    int64_t n, c, s;
    if (y->op == NN_OP_BATCH_NORM) {
        int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, S = x->numel / (N * C > 0 ? N * C : 1);
        double M = (double)(N * S);
        inv = mean + C;
        for (c = 0; c < C; c++) {
            double sg = 0, sgx = 0; float wc = w ? NN__F32(w)[c] : 1.0f;
            for (n = 0; n < N; n++) for (s = 0; s < S; s++) {
                int64_t at = (n * C + c) * S + s;
                sg += g[at]; sgx += (double)g[at] * (NN__F32(x)[at] - mean[c]) * inv[c];
            }
            if (dw) dw[c] += (float)sgx;
            if (db) db[c] += (float)sg;
            if (!dx) continue;
            for (n = 0; n < N; n++) for (s = 0; s < S; s++) {
                int64_t at = (n * C + c) * S + s;
                if (y->ip[0]) {   /* training: the batch statistics depend on x too */
                    float xh = (NN__F32(x)[at] - mean[c]) * inv[c];
                    dx[at] += wc * inv[c] * (float)((g[at] * M - sg - xh * sgx) / M);
                } else dx[at] += g[at] * wc * inv[c];
            }
        }
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        inv = mean + R;
        for (n = 0; n < R; n++) {
            const float *xp = NN__F32(x) + n * M, *gp = g + n * M;
            double sd = 0, sdx = 0;
            for (s = 0; s < M; s++) {
                float xh = (xp[s] - mean[n]) * inv[n], d = gp[s] * (w ? NN__F32(w)[s] : 1.0f);
                sd += d; sdx += (double)d * xh;
                if (dw) dw[s] += gp[s] * xh;
                if (db) db[s] += gp[s];
            }
            if (dx) for (s = 0; s < M; s++) {
                float xh = (xp[s] - mean[n]) * inv[n], d = gp[s] * (w ? NN__F32(w)[s] : 1.0f);
                dx[n * M + s] += inv[n] * (float)((d * (double)M - sd - xh * sdx) / (double)M);
            }
        }
    }
}

NN_API nn_tensor *nn_batch_norm(nn_tensor *x, nn_tensor *running_mean, nn_tensor *running_var, nn_tensor *weight,
                                nn_tensor *bias, int training, float momentum, float eps) {
    static const char *names[] = { "input" };
    nn_tensor *xs[3], *y; float *st; int64_t N, C, S, n, c, s, k; char s1[128], s2[128];
    if (!nn__check_inputs("nn_batch_norm", &x, names, 1)) return NULL;
    if (x->ndim < 2) { nn__err(x->ctx, "nn_batch_norm: input is %s; expected (N, C) or (N, C, ...)", NN__SHAPE(x, s1)); return NULL; }
    N = x->shape[0]; C = x->shape[1]; S = x->numel / (N * C > 0 ? N * C : 1);
    xs[0] = running_mean; xs[1] = running_var;
    for (k = 0; k < 2; k++) if (xs[k] && xs[k]->numel != C) {
        nn__err(x->ctx, "nn_batch_norm: input %s has %lld channels but %s is %s", NN__SHAPE(x, s1), (long long)C, k ? "running_var" : "running_mean", NN__SHAPE(xs[k], s2));
        return NULL;
    }
    xs[0] = weight; xs[1] = bias;
    for (k = 0; k < 2; k++) if (xs[k] && xs[k]->numel != C) {
        nn__err(x->ctx, "nn_batch_norm: input %s has %lld channels but %s is %s", NN__SHAPE(x, s1), (long long)C, k ? "bias" : "weight", NN__SHAPE(xs[k], s2));
        return NULL;
    }
    if (!training && (!running_mean || !running_var)) { nn__err(x->ctx, "nn_batch_norm: eval mode needs running_mean and running_var"); return NULL; }
    if (training && N * S <= 1) { nn__err(x->ctx, "nn_batch_norm: input %s has one value per channel; training needs more than one", NN__SHAPE(x, s1)); return NULL; }
    if (!(xs[0] = nn__contig_input(x))) return NULL;
    xs[1] = weight; xs[2] = bias;
    y = nn__node(NN_OP_BATCH_NORM, "nn_batch_norm", x->ndim, x->shape, xs, 3, 1);
    if (!y) return NULL;
    x = xs[0];
    st = nn__scratch(x->ctx, 2 * C);
    if (!st) { nn__err(x->ctx, "nn_batch_norm: out of memory"); return NULL; }
    y->ip[0] = training; y->fp[0] = eps;
    for (c = 0; c < C; c++) {
        double m = 0, v = 0, M = (double)(N * S);
        if (training) {
            for (n = 0; n < N; n++) for (s = 0; s < S; s++) m += NN__F32(x)[(n * C + c) * S + s];
            m /= M;
            for (n = 0; n < N; n++) for (s = 0; s < S; s++) { double d = NN__F32(x)[(n * C + c) * S + s] - m; v += d * d; }
            v /= M;
            if (running_mean) NN__F32(running_mean)[c] = (float)((1.0 - momentum) * NN__F32(running_mean)[c] + momentum * m);
            if (running_var) NN__F32(running_var)[c] = (float)((1.0 - momentum) * NN__F32(running_var)[c] + momentum * v * M / (M - 1));
        } else { m = NN__F32(running_mean)[c]; v = NN__F32(running_var)[c]; }
        st[c] = (float)m; st[C + c] = (float)(1.0 / sqrt(v + eps));
    }
    y->saved = st;
    nn__norm_forward(y);
    return y;
}

NN_API nn_tensor *nn_layer_norm(nn_tensor *x, int normalized_ndim, nn_tensor *weight, nn_tensor *bias, float eps) {
    static const char *names[] = { "input" };
    nn_tensor *xs[3], *y; float *st; int64_t M = 1, R, r, s; int k; char s1[128], s2[128];
    if (!nn__check_inputs("nn_layer_norm", &x, names, 1)) return NULL;
    if (normalized_ndim < 1 || normalized_ndim > x->ndim) {
        nn__err(x->ctx, "nn_layer_norm: input is %s; normalized_ndim %d must be between 1 and %d", NN__SHAPE(x, s1), normalized_ndim, x->ndim);
        return NULL;
    }
    for (k = x->ndim - normalized_ndim; k < x->ndim; k++) M *= x->shape[k];
    xs[0] = weight; xs[1] = bias;
    for (k = 0; k < 2; k++) if (xs[k] && xs[k]->numel != M) {
        nn__err(x->ctx, "nn_layer_norm: input is %s, normalizing the last %d dims (%lld values), but %s is %s",
                NN__SHAPE(x, s1), normalized_ndim, (long long)M, k ? "bias" : "weight", NN__SHAPE(xs[k], s2));
        return NULL;
    }
    if (!(xs[0] = nn__contig_input(x))) return NULL;
    xs[1] = weight; xs[2] = bias;
    y = nn__node(NN_OP_LAYER_NORM, "nn_layer_norm", x->ndim, x->shape, xs, 3, 1);
    if (!y) return NULL;
    x = xs[0];
    R = x->numel / (M ? M : 1);
    st = nn__scratch(x->ctx, 2 * R);
    if (!st) { nn__err(x->ctx, "nn_layer_norm: out of memory"); return NULL; }
    y->ip[1] = M; y->fp[0] = eps;
    for (r = 0; r < R; r++) {
        double m = 0, v = 0;
        for (s = 0; s < M; s++) m += NN__F32(x)[r * M + s];
        m /= (double)M;
        for (s = 0; s < M; s++) { double d = NN__F32(x)[r * M + s] - m; v += d * d; }
        v /= (double)M;
        st[r] = (float)m; st[R + r] = (float)(1.0 / sqrt(v + eps));
    }
    y->saved = st;
    nn__norm_forward(y);
    return y;
}

/* ---- binary cross-entropy from logits, elementwise and stable ---- */
/* l = (1 - t) x + L (log(1 + e^-|x|) + max(-x, 0)), L = 1 + (pw - 1) t; dl/dx = L sigmoid(x) - pw t.
   src: x, target, pos_weight (broadcast over the last dim) */

static void nn__bce_logits_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *t = NN__F32(y->src[1]);
    const nn_tensor *pw = y->src[2];
    int64_t i, K = pw ? pw->numel : 1;
    for (i = 0; i < y->numel; i++) {
        float p = pw ? NN__F32(pw)[i % K] : 1.0f, L = 1.0f + (p - 1.0f) * t[i];
        NN__F32(y)[i] = (1.0f - t[i]) * x[i] + L * (log1pf(expf(-fabsf(x[i]))) + (x[i] < 0 ? -x[i] : 0.0f));
    }
}
static void nn__bce_logits_backward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *t = NN__F32(y->src[1]), *g = NN__F32(y->grad);
    const nn_tensor *pw = y->src[2];
    float *dx = nn__gbuf(y->src[0]);
    int64_t i, K = pw ? pw->numel : 1;
    if (dx) for (i = 0; i < y->numel; i++) {
        float p = pw ? NN__F32(pw)[i % K] : 1.0f, L = 1.0f + (p - 1.0f) * t[i];
        dx[i] += g[i] * (L * nn__sigmoidf(x[i]) - p * t[i]);
    }
}

/* ---- the op table ---- */

typedef struct nn__op_info { const char *name; void (*forward)(nn_tensor *y); void (*backward)(nn_tensor *y); } nn__op_info;

static void nn__leaf_forward(nn_tensor *y) { (void)y; }
#define nn__leaf_backward nn__leaf_forward

static const nn__op_info nn__ops[NN_OP_COUNT] = {
    { "leaf", nn__leaf_forward, nn__leaf_backward },
    { "add", nn__binary_forward, nn__binary_backward },
    { "sub", nn__binary_forward, nn__binary_backward },
    { "mul", nn__binary_forward, nn__binary_backward },
    { "div", nn__binary_forward, nn__binary_backward },
    { "pow", nn__binary_forward, nn__binary_backward },
    { "maximum", nn__binary_forward, nn__binary_backward },
    { "minimum", nn__binary_forward, nn__binary_backward },
    { "where", nn__binary_forward, nn__binary_backward },
    { "add_scalar", nn__unary_forward, nn__unary_backward },
    { "mul_scalar", nn__unary_forward, nn__unary_backward },
    { "div_scalar", nn__unary_forward, nn__unary_backward },
    { "pow_scalar", nn__unary_forward, nn__unary_backward },
    { "neg", nn__unary_forward, nn__unary_backward },
    { "exp", nn__unary_forward, nn__unary_backward },
    { "log", nn__unary_forward, nn__unary_backward },
    { "sqrt", nn__unary_forward, nn__unary_backward },
    { "abs", nn__unary_forward, nn__unary_backward },
    { "clamp", nn__unary_forward, nn__unary_backward },
    { "relu", nn__unary_forward, nn__unary_backward },
    { "leaky_relu", nn__unary_forward, nn__unary_backward },
    { "sigmoid", nn__unary_forward, nn__unary_backward },
    { "tanh", nn__unary_forward, nn__unary_backward },
    { "gelu", nn__unary_forward, nn__unary_backward },
    { "silu", nn__unary_forward, nn__unary_backward },
    { "softplus", nn__unary_forward, nn__unary_backward },
    { "softmax", nn__softmax_forward, nn__softmax_backward },
    { "log_softmax", nn__softmax_forward, nn__softmax_backward },
    { "sum", nn__reduce_forward, nn__reduce_backward },
    { "mean", nn__reduce_forward, nn__reduce_backward },
    { "var", nn__reduce_forward, nn__reduce_backward },
    { "std", nn__reduce_forward, nn__reduce_backward },
    { "max", nn__reduce_forward, nn__reduce_backward },
    { "min", nn__reduce_forward, nn__reduce_backward },
    { "logsumexp", nn__reduce_forward, nn__reduce_backward },
    { "matmul", nn__matmul_forward, nn__matmul_backward },
    { "gather", nn__gather_forward, nn__gather_backward },
    { "index_select", nn__index_select_forward, nn__index_select_backward },
    { "reshape", nn__leaf_forward, nn__view_backward },
    { "transpose", nn__leaf_forward, nn__view_backward },
    { "permute", nn__leaf_forward, nn__view_backward },
    { "slice", nn__leaf_forward, nn__view_backward },
    { "select", nn__leaf_forward, nn__view_backward },
    { "squeeze", nn__leaf_forward, nn__view_backward },
    { "unsqueeze", nn__leaf_forward, nn__view_backward },
    { "copy", nn__copy_forward, nn__copy_backward },
    { "cat", nn__cat_forward, nn__cat_backward },
    { "conv2d", nn__conv2d_forward, nn__conv2d_backward },
    { "conv_transpose2d", nn__conv_transpose2d_forward, nn__conv_transpose2d_backward },
    { "max_pool2d", nn__pool_forward, nn__pool_backward },
    { "avg_pool2d", nn__pool_forward, nn__pool_backward },
    { "adaptive_avg_pool2d", nn__pool_forward, nn__pool_backward },
    { "dropout", nn__dropout_forward, nn__dropout_backward },
    { "batch_norm", nn__norm_forward, nn__norm_backward },
    { "layer_norm", nn__norm_forward, nn__norm_backward },
    { "bce_with_logits", nn__bce_logits_forward, nn__bce_logits_backward },
};

NN_API const char *nn_op_name(int op) { return op >= 0 && op < NN_OP_COUNT ? nn__ops[op].name : "?"; }

/* ==== autograd engine ==== */

/* Nodes reachable from t through inputs that require grad, inputs first.
   Iterative depth-first search; visit marks avoid a hash set. */
static nn_tensor **nn__topo(nn_tensor *t, int64_t *count) {
    nn_ctx *ctx = t->ctx;
    int64_t cap = ctx->n_nodes + 2, n = 0, sp = 0;
    nn_tensor **order = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)cap * 2 * sizeof(nn_tensor *)));
    int *next = NN__CAST(int *, nn__arena_alloc(ctx, (size_t)cap * sizeof(int)));
    nn_tensor **stack;
    unsigned epoch = ++ctx->visit_epoch;
    if (!order || !next) return NULL;
    stack = order + cap;
    stack[sp] = t; next[sp++] = 0; t->visit = epoch;
    while (sp > 0) {
        nn_tensor *u = stack[sp - 1];
        if (next[sp - 1] < u->nsrc) {
            nn_tensor *v = u->src[next[sp - 1]++];
            if (v && v->requires_grad && v->visit != epoch && sp < cap) {
                v->visit = epoch;
                stack[sp] = v; next[sp++] = 0;
            }
        } else {
            order[n++] = u;
            sp--;
        }
    }
    *count = n;
    return order;
}

/* The gradient tensor of t: persistent for your tensors, arena for op results. */
static int nn__ensure_grad(nn_tensor *t, int zero) {
    if (!t->grad) {
        if (t->flags & NN__PERSISTENT) t->grad = nn__new_persistent(t->ctx, "nn_backward", t->ndim, t->shape);
        else t->grad = nn__new_arena(t->ctx, "nn_backward", t->ndim, t->shape, 1);
        if (!t->grad) return 0;
        zero = 1;
    }
    if (zero) memset(NN__F32(t->grad), 0, (size_t)t->numel * sizeof(float));
    return 1;
}

NN_API int nn_backward(nn_tensor *t, nn_tensor *grad, int retain_graph) {
    (void)retain_graph;
    nn_tensor **order; int64_t n, i;
    char s1[128], s2[128];
    if (!t) return 0;
    if (!t->requires_grad) {
        nn__err(t->ctx, "nn_backward: the tensor %s does not require grad and has no grad history", NN__SHAPE(t, s1));
        return 0;
    }
    if (!grad && t->numel != 1) {
        nn__err(t->ctx, "nn_backward: the tensor is %s; a gradient can be implied only for one-element outputs, so pass grad", NN__SHAPE(t, s1));
        return 0;
    }
    if (grad && grad->numel != t->numel) {
        nn__err(t->ctx, "nn_backward: grad is %s and the tensor is %s; they must have the same shape", NN__SHAPE(grad, s2), NN__SHAPE(t, s1));
        return 0;
    }
    order = nn__topo(t, &n);
    if (!order) { nn__err(t->ctx, "nn_backward: out of memory"); return 0; }
    for (i = 0; i < n; i++) {
        nn_tensor *u = order[i];
        /* leaves accumulate across calls until zeroed; inner nodes start at 0 */
        if (!nn__ensure_grad(u, u->op != NN_OP_LEAF)) { nn__err(t->ctx, "nn_backward: out of memory"); return 0; }
    }
    if (grad) {
        float *g = NN__F32(t->grad);
        nn__walk w;
        nn__walk_init(&w, grad->ndim, grad->shape, grad->stride, NULL, NULL);
        for (i = 0; i < t->numel; i++, nn__walk_next(&w)) g[i] += NN__F32(grad)[w.off[0]];
    } else NN__F32(t->grad)[0] += 1.0f;
    for (i = n - 1; i >= 0; i--) nn__ops[order[i]->op].backward(order[i]);
    return 1;
}

NN_API nn_tensor *nn_retain_grad(nn_tensor *t) { return t; }
NN_API void nn_zero_grad(nn_tensor *t) { if (t && t->grad) memset(NN__F32(t->grad), 0, (size_t)t->numel * sizeof(float)); }

/* Sum of y * v in double, v a fixed pattern. */
static double nn__probe(const nn_tensor *y, const float *v) {
    double s = 0; nn__walk w; int64_t i;
    nn__walk_init(&w, y->ndim, y->shape, y->stride, NULL, NULL);
    for (i = 0; i < y->numel; i++, nn__walk_next(&w)) s += (double)NN__F32(y)[w.off[0]] * v[i];
    return s;
}

NN_API int nn_gradcheck(nn_gradcheck_fn fn, void *user, nn_tensor **inputs, int n,
                        float eps, float atol, float rtol, double *max_err) {
    nn_ctx *ctx; nn__mark mark; nn_tensor *y, *vt; float *v; int k, ok = 1; int64_t i; double worst = 0;
    if (max_err) *max_err = 0;
    if (!fn || !inputs || n <= 0 || !inputs[0]) return 0;
    ctx = inputs[0]->ctx;
    for (k = 0; k < n; k++) {
        if (!inputs[k] || !(inputs[k]->flags & NN__PERSISTENT)) { nn__err(ctx, "nn_gradcheck: input %d must be a tensor you created", k); return 0; }
        nn_zero_grad(inputs[k]);
    }
    mark = nn__arena_mark(ctx);
    y = fn(inputs, user);
    if (!y) { nn__err(ctx, "nn_gradcheck: the function returned NULL"); nn__arena_rewind(ctx, mark); return 0; }
    vt = nn__new_arena(ctx, "nn_gradcheck", y->ndim, y->shape, 1);
    if (!vt) { nn__arena_rewind(ctx, mark); return 0; }
    v = NN__F32(vt);
    for (i = 0; i < y->numel; i++) v[i] = 0.5f + (float)((i * 7919) % 13) / 13.0f;   /* fixed weights */
    if (!y->requires_grad || !nn_backward(y, vt, 0)) { nn__err(ctx, "nn_gradcheck: the output does not depend on any input with requires_grad"); nn__arena_rewind(ctx, mark); return 0; }
    nn__arena_rewind(ctx, mark);
    for (k = 0; k < n; k++) {
        nn_tensor *x = inputs[k];
        if (!x->requires_grad || !x->grad) continue;
        for (i = 0; i < x->numel; i++) {
            float keep = NN__F32(x)[i]; double lp, lm, num, ana = NN__F32(x->grad)[i], err;
            NN__F32(x)[i] = keep + eps;
            y = fn(inputs, user);
            if (!y) { NN__F32(x)[i] = keep; nn__arena_rewind(ctx, mark); return 0; }
            vt = nn__new_arena(ctx, "nn_gradcheck", y->ndim, y->shape, 1);
            if (!vt) { NN__F32(x)[i] = keep; nn__arena_rewind(ctx, mark); return 0; }
            { int64_t j; for (j = 0; j < y->numel; j++) NN__F32(vt)[j] = 0.5f + (float)((j * 7919) % 13) / 13.0f; }
            lp = nn__probe(y, NN__F32(vt));
            NN__F32(x)[i] = keep - eps;
            y = fn(inputs, user);
            if (!y) { NN__F32(x)[i] = keep; nn__arena_rewind(ctx, mark); return 0; }
            lm = nn__probe(y, NN__F32(vt));
            NN__F32(x)[i] = keep;
            nn__arena_rewind(ctx, mark);
            num = (lp - lm) / (2.0 * eps);
            err = fabs(num - ana);
            if (err > worst) worst = err;
            if (err > atol + rtol * fabs(num)) ok = 0;
        }
    }
    if (max_err) *max_err = worst;
    return ok;
}

#ifndef NN_NO_STDIO
static void nn__dot_values(FILE *f, const char *what, const nn_tensor *t) {
    int64_t i, n = t->numel < 6 ? t->numel : 6;
    nn__walk w;
    fprintf(f, "%s", what);
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < n; i++, nn__walk_next(&w)) fprintf(f, "%s%.4g", i ? " " : "", NN__F32(t)[w.off[0]]);
    if (t->numel > n) fprintf(f, " ...");
}

NN_API int nn_graph_dot(nn_tensor *t, const char *path) {
    nn_tensor **stack, **seen; int64_t sp = 0, ns = 0, cap; int k; FILE *f; unsigned epoch; char s[128];
    if (!t) return 0;
    if (!path) { nn__err(t->ctx, "nn_graph_dot: path is NULL"); return 0; }
    f = fopen(path, "w");
    if (!f) { nn__err(t->ctx, "nn_graph_dot: cannot open %s for writing", path); return 0; }
    cap = t->ctx->n_nodes + 64;
    stack = NN__CAST(nn_tensor **, nn__arena_alloc(t->ctx, (size_t)cap * 4 * sizeof(nn_tensor *)));
    if (!stack) { fclose(f); nn__err(t->ctx, "nn_graph_dot: out of memory"); return 0; }
    seen = stack + cap * 2;
    epoch = ++t->ctx->visit_epoch;
    fprintf(f, "digraph nn {\n  rankdir=LR;\n  node [shape=record, fontname=\"Helvetica\"];\n");
    stack[sp++] = t;
    t->visit = epoch;
    while (sp > 0) {
        nn_tensor *u = stack[--sp];
        seen[ns++] = u;
        fprintf(f, "  n%p [label=\"{%s%s%s | %s", (void *)u, u->name[0] ? u->name : "", u->name[0] ? " = " : "",
                u->op == NN_OP_LEAF ? "leaf" : nn_op_name(u->op), NN__SHAPE(u, s));
        if (u->numel <= 64) nn__dot_values(f, " | data ", u);
        if (u->grad && u->numel <= 64) nn__dot_values(f, " | grad ", u->grad);
        fprintf(f, "}\"%s];\n", u->requires_grad ? "" : ", style=dashed");
        for (k = 0; k < u->nsrc; k++) {
            nn_tensor *v = u->src[k];
            if (!v) continue;
            fprintf(f, "  n%p -> n%p;\n", (void *)v, (void *)u);
            if (v->visit != epoch && sp < cap * 2 && ns + sp < cap * 2) { v->visit = epoch; stack[sp++] = v; }
        }
    }
    fprintf(f, "}\n");
    if (fclose(f) != 0) { nn__err(t->ctx, "nn_graph_dot: writing %s failed", path); return 0; }
    return 1;
}

static void nn__print_rec(const nn_tensor *t, int d, int64_t off, int indent, int summarize) {
    int64_t i, n = t->shape[d];
    printf("[");
    for (i = 0; i < n; i++) {
        if (summarize && n > 6 && i == 3) { printf(d == t->ndim - 1 ? "..., " : "...,\n%*s", d == t->ndim - 1 ? 0 : indent + d + 1, ""); i = n - 3; }
        if (d == t->ndim - 1) printf("%.4f", NN__F32(t)[off + i * t->stride[d]]);
        else nn__print_rec(t, d + 1, off + i * t->stride[d], indent, summarize);
        if (i < n - 1) {
            if (d == t->ndim - 1) printf(", ");
            else { int b; printf(","); for (b = d; b < t->ndim - 1; b++) printf("\n"); printf("%*s", indent + d + 1, ""); }
        }
    }
    printf("]");
}

NN_API void nn_print(const nn_tensor *t) {
    if (!t) { printf("NULL\n"); return; }
    printf("tensor(");
    if (t->ndim == 0) printf("%.4f", NN__F32(t)[0]);
    else nn__print_rec(t, 0, 0, 7, t->numel > 1000);
    if (t->requires_grad) printf(t->op == NN_OP_LEAF ? ", requires_grad=True" : ", grad_fn=<%s>", nn_op_name(t->op));
    printf(")\n");
}
#endif /* NN_NO_STDIO */


/* ==== modules and layers ==== */

enum { NN__M_CUSTOM, NN__M_SEQUENTIAL, NN__M_LINEAR, NN__M_CONV2D, NN__M_CONVT2D, NN__M_MAXPOOL, NN__M_AVGPOOL,
       NN__M_ADAPTIVE, NN__M_DROPOUT, NN__M_BATCHNORM, NN__M_LAYERNORM, NN__M_FLATTEN, NN__M_EMBEDDING,
       NN__M_RELU, NN__M_LEAKY_RELU, NN__M_SIGMOID, NN__M_TANH, NN__M_GELU, NN__M_SILU, NN__M_SOFTMAX, NN__M_LOG_SOFTMAX };
/* cfg[9] holds the kind above; the rest of cfg and fcfg are the layer's options */

static nn_tensor *nn__module_forward(nn_module *m, nn_tensor *x);

static nn_module *nn__module_alloc(nn_ctx *ctx, const char *type, int kind) {
    nn_module *m;
    if (!ctx) return NULL;
    m = NN__CAST(nn_module *, NN_MALLOC(sizeof(nn_module)));
    if (!m) { nn__err(ctx, "nn_module_new: out of memory"); return NULL; }
    memset(m, 0, sizeof *m);
    m->type = type; m->ctx = ctx; m->training = 1; m->cfg[9] = kind; m->dirty = 1;
    m->forward = nn__module_forward;
    return m;
}

NN_API nn_module *nn_module_new(nn_ctx *ctx, const char *type, nn_forward_fn forward, void *user) {
    nn_module *m = nn__module_alloc(ctx, type ? type : "Module", NN__M_CUSTOM);
    if (m) { m->forward = forward; m->user = user; }
    return m;
}

NN_API nn_module *nn_module_add(nn_module *parent, const char *name, nn_module *child) {
    int k;
    if (!parent) { nn_module_free(child); return NULL; }
    if (!child) { nn__err(parent->ctx, "nn_module_add: child \"%s\" is NULL", name ? name : "?"); return NULL; }
    if (!name || !name[0] || strlen(name) >= sizeof parent->child_name[0] || strchr(name, '.')) {
        nn__err(parent->ctx, "nn_module_add: child name \"%s\" must be 1 to 47 characters with no '.'", name ? name : "(NULL)");
        nn_module_free(child);
        return NULL;
    }
    for (k = 0; k < parent->nchild; k++) if (!strcmp(parent->child_name[k], name)) {
        nn__err(parent->ctx, "nn_module_add: %s already has a child named \"%s\"", parent->type, name);
        nn_module_free(child);
        return NULL;
    }
    if (parent->nchild == parent->child_cap) {
        int cap = parent->child_cap ? 2 * parent->child_cap : 8;
        nn_module **c = NN__CAST(nn_module **, NN_REALLOC(parent->child, (size_t)cap * sizeof(nn_module *)));
        char (*nm)[48];
        if (c) parent->child = c;
        nm = NN__CAST(char (*)[48], NN_REALLOC(parent->child_name, (size_t)cap * sizeof(parent->child_name[0])));
        if (nm) parent->child_name = nm;
        if (!c || !nm) { nn__err(parent->ctx, "nn_module_add: out of memory"); nn_module_free(child); return NULL; }
        parent->child_cap = cap;
    }
    parent->child[parent->nchild] = child;
    strcpy(parent->child_name[parent->nchild++], name);
    parent->dirty = 1;
    return child;
}

NN_API nn_module *nn_module_child(nn_module *m, const char *name) {
    int k;
    if (!m || !name) return NULL;
    for (k = 0; k < m->nchild; k++) if (!strcmp(m->child_name[k], name)) return m->child[k];
    return NULL;
}

NN_API nn_module *nn_sequential_new(nn_ctx *ctx, nn_module **mods, int n) {
    nn_module *m = nn__module_alloc(ctx, "Sequential", NN__M_SEQUENTIAL);
    int k; char nm[16];
    for (k = 0; k < n; k++) {
        if (!m) { nn_module_free(mods[k]); continue; }
        snprintf(nm, sizeof nm, "%d", k);
        if (!nn_module_add(m, nm, mods[k])) { nn_module_free(m); m = NULL; }
    }
    return m;
}

NN_API void nn_module_free(nn_module *m) {
    int k;
    if (!m) return;
    for (k = 0; k < m->nchild; k++) nn_module_free(m->child[k]);
    NN_FREE(m->child); NN_FREE(m->child_name);
    NN_FREE(m->state); NN_FREE(m->state_name);
    nn_free(m->weight); nn_free(m->bias);
    nn_free(m->running_mean); nn_free(m->running_var); nn_free(m->num_batches_tracked);
    NN_FREE(m);
}

NN_API void nn_module_train(nn_module *m, int mode) {
    int k;
    if (!m) return;
    m->training = mode != 0;
    for (k = 0; k < m->nchild; k++) nn_module_train(m->child[k], mode);
}
NN_API void nn_module_eval(nn_module *m) { nn_module_train(m, 0); }

static int nn__tree_dirty(const nn_module *m) {
    int k;
    if (m->dirty) return 1;
    for (k = 0; k < m->nchild; k++) if (nn__tree_dirty(m->child[k])) return 1;
    return 0;
}

/* Walks the tree in state_dict order: own parameters, own buffers, then children. */
static int nn__collect(nn_module *m, const char *prefix, nn_state_entry *out, char (*names)[160], int at) {
    nn_tensor *own[5]; int k, j;
    own[0] = m->weight; own[1] = m->bias; own[2] = m->running_mean; own[3] = m->running_var; own[4] = m->num_batches_tracked;
    static const char *own_names[5] = { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" };
    snprintf(m->path, sizeof m->path, "%s", prefix);
    for (j = 0; j < 5; j++) if (own[j]) {
        if (out) {
            snprintf(names[at], sizeof names[0], "%s%s%s", prefix, prefix[0] ? "." : "", own_names[j]);
            out[at].name = names[at]; out[at].tensor = own[j]; out[at].is_buffer = j >= 2;
        }
        at++;
    }
    for (k = 0; k < m->nchild; k++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s%s", prefix, prefix[0] ? "." : "", m->child_name[k]);
        at = nn__collect(m->child[k], p, out, names, at);
    }
    return at;
}
static void nn__clear_dirty(nn_module *m) { int k; m->dirty = 0; for (k = 0; k < m->nchild; k++) nn__clear_dirty(m->child[k]); }

NN_API int nn_module_state(nn_module *m, const nn_state_entry **entries) {
    int n;
    if (entries) *entries = NULL;
    if (!m) return 0;
    if (nn__tree_dirty(m) || !m->state) {
        n = nn__collect(m, "", NULL, NULL, 0);
        NN_FREE(m->state); NN_FREE(m->state_name);
        m->state = NN__CAST(nn_state_entry *, NN_MALLOC((size_t)(n ? n : 1) * sizeof(nn_state_entry)));
        m->state_name = NN__CAST(char (*)[160], NN_MALLOC((size_t)(n ? n : 1) * sizeof(m->state_name[0])));
        if (!m->state || !m->state_name) { nn__err(m->ctx, "nn_module_state: out of memory"); NN_FREE(m->state); NN_FREE(m->state_name); m->state = NULL; m->state_name = NULL; return 0; }
        m->nstate = nn__collect(m, "", m->state, m->state_name, 0);
        nn__clear_dirty(m);
    }
    if (entries) *entries = m->state;
    return m->nstate;
}

NN_API int nn_module_parameters(nn_module *m, nn_tensor **out, int max) {
    const nn_state_entry *e; int n = nn_module_state(m, &e), k, c = 0;
    for (k = 0; k < n; k++) if (!e[k].is_buffer) { if (out && c < max) out[c] = e[k].tensor; c++; }
    return c;
}

NN_API int64_t nn_module_num_parameters(nn_module *m) {
    const nn_state_entry *e; int n = nn_module_state(m, &e), k; int64_t c = 0;
    for (k = 0; k < n; k++) if (!e[k].is_buffer) c += e[k].tensor->numel;
    return c;
}

NN_API nn_tensor *nn_forward(nn_module *m, nn_tensor *x) {
    nn_tensor *y;
    if (!m) return NULL;
    if (!m->forward) { nn__err(m->ctx, "nn_forward: module %s has no forward function", m->type); return NULL; }
    y = m->forward(m, x);
#ifndef NN_NO_STDIO
    if (m->ctx->summary && m->nchild == 0 && y) {   /* nn_module_summary's line for this layer */
        char s[128]; int64_t np = (m->weight ? m->weight->numel : 0) + (m->bias ? m->bias->numel : 0);
        char label[200];
        snprintf(label, sizeof label, "%s (%s)", m->path[0] ? m->path : "-", m->type);
        printf("%-32s %-24s %12lld\n", label, NN__SHAPE(y, s), (long long)np);
    }
#endif
    return y;
}

#ifndef NN_NO_STDIO
NN_API void nn_module_summary(nn_module *m, nn_tensor *example_input) {
    int old; nn_tensor *y; char s[128]; int64_t total;
    if (!m) return;
    nn_module_state(m, NULL);   /* refreshes every layer's path */
    total = nn_module_num_parameters(m);
    printf("%-32s %-24s %12s\n", "Layer (type)", "Output Shape", "Param #");
    old = nn_set_grad_enabled(m->ctx, 0);
    m->ctx->summary = 1;
    y = nn_forward(m, example_input);
    m->ctx->summary = 0;
    nn_set_grad_enabled(m->ctx, old);
    printf("%s: output %s\nTotal params: %lld\n", m->type, NN__SHAPE(y, s), (long long)total);
}
#endif

/* ---- initialisers ---- */

static void nn__fans(const nn_tensor *t, double *fan_in, double *fan_out) {
    double rf = 1; int d;
    for (d = 2; d < t->ndim; d++) rf *= (double)t->shape[d];
    *fan_in = (t->ndim > 1 ? (double)t->shape[1] : (double)t->numel) * rf;
    *fan_out = (t->ndim > 0 ? (double)t->shape[0] : 1.0) * rf;
}
NN_API void nn_init_uniform_(nn_tensor *t, float a, float b) {
    int64_t i;
    if (!t) return;
    for (i = 0; i < t->numel; i++) NN__F32(t)[i] = a + (b - a) * nn__rng_uniform(&t->ctx->rng);
}
NN_API void nn_init_normal_(nn_tensor *t, float mean, float std) {
    int64_t i;
    if (!t) return;
    for (i = 0; i < t->numel; i++) NN__F32(t)[i] = mean + std * nn__rng_normal(&t->ctx->rng);
}
NN_API void nn_init_constant_(nn_tensor *t, float value) { nn_fill_(t, value); }
NN_API void nn_init_zeros_(nn_tensor *t) { nn_fill_(t, 0.0f); }
NN_API void nn_init_xavier_uniform_(nn_tensor *t, float gain) {
    double fi, fo, a;
    if (!t) return;
    nn__fans(t, &fi, &fo);
    a = (gain ? gain : 1.0) * sqrt(6.0 / (fi + fo));
    nn_init_uniform_(t, (float)-a, (float)a);
}
NN_API void nn_init_xavier_normal_(nn_tensor *t, float gain) {
    double fi, fo;
    if (!t) return;
    nn__fans(t, &fi, &fo);
    nn_init_normal_(t, 0.0f, (float)((gain ? gain : 1.0) * sqrt(2.0 / (fi + fo))));
}
NN_API void nn_init_kaiming_uniform_(nn_tensor *t, float a, int fan_out) {
    double fi, fo, bound;
    if (!t) return;
    nn__fans(t, &fi, &fo);
    bound = sqrt(2.0 / (1.0 + (double)a * a)) * sqrt(3.0 / (fan_out ? fo : fi));
    nn_init_uniform_(t, (float)-bound, (float)bound);
}
NN_API void nn_init_kaiming_normal_(nn_tensor *t, float a, int fan_out) {
    double fi, fo;
    if (!t) return;
    nn__fans(t, &fi, &fo);
    nn_init_normal_(t, 0.0f, (float)(sqrt(2.0 / (1.0 + (double)a * a)) / sqrt(fan_out ? fo : fi)));
}

/* A parameter: persistent, requires grad. */
static nn_tensor *nn__param(nn_ctx *ctx, int ndim, const int64_t *shape) { return nn_set_requires_grad(nn_empty(ctx, ndim, shape), 1); }

/* PyTorch's reset_parameters for Linear and Conv: kaiming_uniform(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
static int nn__default_init(nn_module *m) {
    double fi, fo, bound;
    if (!m->weight || (m->cfg[8] && !m->bias)) { nn_module_free(m); return 0; }
    nn_init_kaiming_uniform_(m->weight, sqrtf(5.0f), 0);
    nn__fans(m->weight, &fi, &fo);
    bound = fi > 0 ? 1.0 / sqrt(fi) : 0;
    if (m->bias) nn_init_uniform_(m->bias, (float)-bound, (float)bound);
    return 1;
}

NN_API nn_module *nn_linear_new(nn_ctx *ctx, int64_t in_f, int64_t out_f, int bias) {
    nn_module *m; int64_t ws[2];
    if (ctx && (in_f <= 0 || out_f <= 0)) { nn__err(ctx, "nn_linear_new: in_features %lld and out_features %lld must be positive", (long long)in_f, (long long)out_f); return NULL; }
    m = nn__module_alloc(ctx, "Linear", NN__M_LINEAR);
    if (!m) return NULL;
    ws[0] = out_f; ws[1] = in_f;
    m->weight = nn__param(ctx, 2, ws);
    if (bias) m->bias = nn__param(ctx, 1, &out_f);
    m->cfg[8] = bias != 0;
    return nn__default_init(m) ? m : NULL;
}

static nn_module *nn__conv_new(nn_ctx *ctx, const char *fn, int kind, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o, int bias) {
    nn_module *m; int64_t ws[4], g = o.groups ? o.groups : 1;
    if (!ctx) return NULL;
    if (in_c <= 0 || out_c <= 0 || k <= 0 || g <= 0 || in_c % g || out_c % g) {
        nn__err(ctx, "%s: in_channels %lld, out_channels %lld, kernel_size %lld, groups %lld; all positive and channels divisible by groups",
                fn, (long long)in_c, (long long)out_c, (long long)k, (long long)g);
        return NULL;
    }
    m = nn__module_alloc(ctx, kind == NN__M_CONV2D ? "Conv2d" : "ConvTranspose2d", kind);
    if (!m) return NULL;
    ws[0] = kind == NN__M_CONV2D ? out_c : in_c; ws[1] = kind == NN__M_CONV2D ? in_c / g : out_c / g; ws[2] = ws[3] = k;
    m->weight = nn__param(ctx, 4, ws);
    if (bias) m->bias = nn__param(ctx, 1, &out_c);
    m->cfg[0] = o.stride; m->cfg[1] = o.padding; m->cfg[2] = o.dilation; m->cfg[3] = o.groups; m->cfg[4] = o.output_padding;
    m->cfg[8] = bias != 0;
    return nn__default_init(m) ? m : NULL;
}
NN_API nn_module *nn_conv2d_new(nn_ctx *ctx, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o, int bias) {
    return nn__conv_new(ctx, "nn_conv2d_new", NN__M_CONV2D, in_c, out_c, k, o, bias);
}
NN_API nn_module *nn_conv_transpose2d_new(nn_ctx *ctx, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o, int bias) {
    return nn__conv_new(ctx, "nn_conv_transpose2d_new", NN__M_CONVT2D, in_c, out_c, k, o, bias);
}

static nn_module *nn__pool_new(nn_ctx *ctx, const char *type, int kind, nn_pool_opts o) {
    nn_module *m = nn__module_alloc(ctx, type, kind);
    if (!m) return NULL;
    m->cfg[0] = o.kernel_size; m->cfg[1] = o.stride; m->cfg[2] = o.padding; m->cfg[3] = o.dilation;
    m->cfg[4] = o.ceil_mode; m->cfg[5] = o.count_exclude_pad;
    return m;
}
NN_API nn_module *nn_max_pool2d_new(nn_ctx *ctx, nn_pool_opts o) { return nn__pool_new(ctx, "MaxPool2d", NN__M_MAXPOOL, o); }
NN_API nn_module *nn_avg_pool2d_new(nn_ctx *ctx, nn_pool_opts o) { return nn__pool_new(ctx, "AvgPool2d", NN__M_AVGPOOL, o); }
NN_API nn_module *nn_adaptive_avg_pool2d_new(nn_ctx *ctx, int64_t oh, int64_t ow) {
    nn_module *m = nn__module_alloc(ctx, "AdaptiveAvgPool2d", NN__M_ADAPTIVE);
    if (m) { m->cfg[0] = oh; m->cfg[1] = ow; }
    return m;
}
NN_API nn_module *nn_dropout_new(nn_ctx *ctx, float p) {
    nn_module *m;
    if (ctx && !(p >= 0.0f && p <= 1.0f)) { nn__err(ctx, "nn_dropout_new: p is %g; it must be between 0 and 1", p); return NULL; }
    m = nn__module_alloc(ctx, "Dropout", NN__M_DROPOUT);
    if (m) m->fcfg[0] = p;
    return m;
}
static nn_module *nn__bn_new(nn_ctx *ctx, const char *type, int64_t c, float momentum, float eps, int affine, int dims) {
    nn_module *m; int64_t one = 1;
    if (ctx && c <= 0) { nn__err(ctx, "nn_%s_new: num_features %lld must be positive", dims == 1 ? "batch_norm1d" : "batch_norm2d", (long long)c); return NULL; }
    m = nn__module_alloc(ctx, type, NN__M_BATCHNORM);
    if (!m) return NULL;
    m->fcfg[0] = momentum ? momentum : 0.1f; m->fcfg[1] = eps ? eps : 1e-5f; m->cfg[0] = dims;
    if (affine) { m->weight = nn_set_requires_grad(nn_ones(ctx, 1, &c), 1); m->bias = nn_set_requires_grad(nn_zeros(ctx, 1, &c), 1); }
    m->running_mean = nn_zeros(ctx, 1, &c);
    m->running_var = nn_ones(ctx, 1, &c);
    m->num_batches_tracked = nn_zeros(ctx, 0, &one);
    if (!m->running_mean || !m->running_var || !m->num_batches_tracked || (affine && (!m->weight || !m->bias))) { nn_module_free(m); return NULL; }
    return m;
}
NN_API nn_module *nn_batch_norm1d_new(nn_ctx *ctx, int64_t c, float momentum, float eps, int affine) { return nn__bn_new(ctx, "BatchNorm1d", c, momentum, eps, affine, 1); }
NN_API nn_module *nn_batch_norm2d_new(nn_ctx *ctx, int64_t c, float momentum, float eps, int affine) { return nn__bn_new(ctx, "BatchNorm2d", c, momentum, eps, affine, 2); }
NN_API nn_module *nn_layer_norm_new(nn_ctx *ctx, int nd, const int64_t *shape, float eps, int affine) {
    nn_module *m;
    if (!ctx) return NULL;
    if (nd < 1 || nd > NN_MAX_DIMS || !shape) { nn__err(ctx, "nn_layer_norm_new: normalized_shape must have 1 to %d dims", NN_MAX_DIMS); return NULL; }
    m = nn__module_alloc(ctx, "LayerNorm", NN__M_LAYERNORM);
    if (!m) return NULL;
    m->cfg[0] = nd; m->fcfg[0] = eps ? eps : 1e-5f;
    if (affine) {
        m->weight = nn_set_requires_grad(nn_ones(ctx, nd, shape), 1);
        m->bias = nn_set_requires_grad(nn_zeros(ctx, nd, shape), 1);
        if (!m->weight || !m->bias) { nn_module_free(m); return NULL; }
    }
    return m;
}
NN_API nn_module *nn_flatten_new(nn_ctx *ctx, int start_dim, int end_dim) {
    nn_module *m = nn__module_alloc(ctx, "Flatten", NN__M_FLATTEN);
    if (m) { m->cfg[0] = start_dim; m->cfg[1] = end_dim; }
    return m;
}
NN_API nn_module *nn_embedding_new(nn_ctx *ctx, int64_t num, int64_t dim) {
    nn_module *m; int64_t ws[2];
    if (ctx && (num <= 0 || dim <= 0)) { nn__err(ctx, "nn_embedding_new: num_embeddings %lld and embedding_dim %lld must be positive", (long long)num, (long long)dim); return NULL; }
    m = nn__module_alloc(ctx, "Embedding", NN__M_EMBEDDING);
    if (!m) return NULL;
    ws[0] = num; ws[1] = dim;
    m->weight = nn__param(ctx, 2, ws);
    if (!m->weight) { nn_module_free(m); return NULL; }
    nn_init_normal_(m->weight, 0.0f, 1.0f);
    return m;
}
NN_API nn_module *nn_relu_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "ReLU", NN__M_RELU); }
NN_API nn_module *nn_leaky_relu_new(nn_ctx *ctx, float slope) { nn_module *m = nn__module_alloc(ctx, "LeakyReLU", NN__M_LEAKY_RELU); if (m) m->fcfg[0] = slope; return m; }
NN_API nn_module *nn_sigmoid_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "Sigmoid", NN__M_SIGMOID); }
NN_API nn_module *nn_tanh_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "Tanh", NN__M_TANH); }
NN_API nn_module *nn_gelu_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "GELU", NN__M_GELU); }
NN_API nn_module *nn_silu_new(nn_ctx *ctx) { return nn__module_alloc(ctx, "SiLU", NN__M_SILU); }
NN_API nn_module *nn_softmax_new(nn_ctx *ctx, int dim) { nn_module *m = nn__module_alloc(ctx, "Softmax", NN__M_SOFTMAX); if (m) m->cfg[0] = dim; return m; }
NN_API nn_module *nn_log_softmax_new(nn_ctx *ctx, int dim) { nn_module *m = nn__module_alloc(ctx, "LogSoftmax", NN__M_LOG_SOFTMAX); if (m) m->cfg[0] = dim; return m; }

/* The forward of every built-in layer. */
static nn_tensor *nn__module_forward(nn_module *m, nn_tensor *x) {
    nn_conv_opts co; nn_pool_opts po; int k;
    switch ((int)m->cfg[9]) {
    case NN__M_SEQUENTIAL:
        for (k = 0; k < m->nchild && x; k++) x = nn_forward(m->child[k], x);
        return x;
    case NN__M_LINEAR: {   /* y = x @ W^T + b; W^T is read in place through its strides */
        nn_tensor *y = nn_matmul(x, nn_transpose(m->weight, 0, 1));
        return m->bias ? nn_add(y, m->bias) : y;
    }
    case NN__M_CONV2D: case NN__M_CONVT2D:
        co.stride = m->cfg[0]; co.padding = m->cfg[1]; co.dilation = m->cfg[2]; co.groups = m->cfg[3]; co.output_padding = m->cfg[4];
        return m->cfg[9] == NN__M_CONV2D ? nn_conv2d(x, m->weight, m->bias, co) : nn_conv_transpose2d(x, m->weight, m->bias, co);
    case NN__M_MAXPOOL: case NN__M_AVGPOOL:
        po.kernel_size = m->cfg[0]; po.stride = m->cfg[1]; po.padding = m->cfg[2]; po.dilation = m->cfg[3];
        po.ceil_mode = (int)m->cfg[4]; po.count_exclude_pad = (int)m->cfg[5];
        return m->cfg[9] == NN__M_MAXPOOL ? nn_max_pool2d(x, po) : nn_avg_pool2d(x, po);
    case NN__M_ADAPTIVE: return nn_adaptive_avg_pool2d(x, m->cfg[0], m->cfg[1]);
    case NN__M_DROPOUT: return nn_dropout(x, m->fcfg[0], m->training);
    case NN__M_BATCHNORM: {
        char s[128];
        if (x && x->ndim != (m->cfg[0] == 1 ? 2 : 4) && !(m->cfg[0] == 1 && x->ndim == 3)) {
            nn__err(m->ctx, "%s: input is %s; expected %s", m->type, NN__SHAPE(x, s), m->cfg[0] == 1 ? "(N, C) or (N, C, L)" : "(N, C, H, W)");
            return NULL;
        }
        if (x && m->training && m->num_batches_tracked) NN__F32(m->num_batches_tracked)[0] += 1.0f;
        return nn_batch_norm(x, m->running_mean, m->running_var, m->weight, m->bias, m->training, m->fcfg[0], m->fcfg[1]);
    }
    case NN__M_LAYERNORM: {
        char s[128]; int d;
        if (x && m->weight) for (d = 0; d < (int)m->cfg[0]; d++)
            if (x->ndim < m->cfg[0] || x->shape[x->ndim - m->cfg[0] + d] != m->weight->shape[d]) {
                nn__err(m->ctx, "LayerNorm: input is %s; its last dims must be the normalized_shape", NN__SHAPE(x, s));
                return NULL;
            }
        return nn_layer_norm(x, (int)m->cfg[0], m->weight, m->bias, m->fcfg[0]);
    }
    case NN__M_FLATTEN: return nn_flatten(x, (int)m->cfg[0], (int)m->cfg[1]);
    case NN__M_EMBEDDING: return nn_embedding(m->weight, x);
    case NN__M_RELU: return nn_relu(x);
    case NN__M_LEAKY_RELU: return nn_leaky_relu(x, m->fcfg[0]);
    case NN__M_SIGMOID: return nn_sigmoid(x);
    case NN__M_TANH: return nn_tanh(x);
    case NN__M_GELU: return nn_gelu(x);
    case NN__M_SILU: return nn_silu(x);
    case NN__M_SOFTMAX: return nn_softmax(x, (int)m->cfg[0]);
    case NN__M_LOG_SOFTMAX: return nn_log_softmax(x, (int)m->cfg[0]);
    default:
        nn__err(m->ctx, "nn_forward: module %s has no forward function", m->type);
        return NULL;
    }
}

/* ==== losses ==== */

static nn_tensor *nn__reduce_loss(nn_tensor *l, nn_reduction r) {
    if (r == NN_SUM) return nn_sum(l, NN_ALL, 0);
    if (r == NN_NONE) return l;
    return nn_mean(l, NN_ALL, 0);
}
static int nn__loss_pair(const char *fn, nn_tensor *a, nn_tensor *b) {
    static const char *names[] = { "input", "target" };
    nn_tensor *xs[2]; char s1[128], s2[128];
    xs[0] = a; xs[1] = b;
    if (!nn__check_inputs(fn, xs, names, 2)) return 0;
    if (!nn__same_shape(a, b)) {
        nn__err(a->ctx, "%s: input is %s and target is %s; they must have the same shape", fn, NN__SHAPE(a, s1), NN__SHAPE(b, s2));
        return 0;
    }
    return 1;
}
/* a constant arena tensor (no graph) */
static nn_tensor *nn__const(nn_ctx *ctx, const char *fn, int nd, const int64_t *shape) { return nn__new_arena(ctx, fn, nd, shape, 1); }

NN_API nn_tensor *nn_mse_loss(nn_tensor *input, nn_tensor *target, nn_reduction r) {
    if (!nn__loss_pair("nn_mse_loss", input, target)) return NULL;
    return nn__reduce_loss(nn_pow_scalar(nn_sub(input, target), 2.0f), r);
}
NN_API nn_tensor *nn_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r) {
    if (!nn__loss_pair("nn_l1_loss", input, target)) return NULL;
    return nn__reduce_loss(nn_abs(nn_sub(input, target)), r);
}
/* smooth L1 (beta) and Huber (delta): quadratic inside the threshold, linear outside */
static nn_tensor *nn__huber(const char *fn, nn_tensor *input, nn_tensor *target, nn_reduction r, float t, int smooth) {
    nn_tensor *d, *ad, *inside, *quad, *lin; int64_t i;
    if (!nn__loss_pair(fn, input, target)) return NULL;
    if (!(t >= 0.0f)) { nn__err(input->ctx, "%s: the threshold is %g; it must be >= 0", fn, t); return NULL; }
    d = nn_sub(input, target);
    ad = nn_abs(d);
    if (!ad) return NULL;
    inside = nn__const(input->ctx, fn, ad->ndim, ad->shape);
    if (!inside) return NULL;
    for (i = 0; i < ad->numel; i++) NN__F32(inside)[i] = NN__F32(ad)[i] < t ? 1.0f : 0.0f;
    if (smooth) {   /* 0.5 d^2 / beta, |d| - 0.5 beta */
        if (t == 0.0f) return nn__reduce_loss(ad, r);
        quad = nn_div_scalar(nn_mul_scalar(nn_pow_scalar(d, 2.0f), 0.5f), t);
        lin = nn_sub_scalar(ad, 0.5f * t);
    } else {        /* 0.5 d^2, delta (|d| - 0.5 delta) */
        quad = nn_mul_scalar(nn_pow_scalar(d, 2.0f), 0.5f);
        lin = nn_mul_scalar(nn_sub_scalar(ad, 0.5f * t), t);
    }
    return nn__reduce_loss(nn_where(inside, quad, lin), r);
}
NN_API nn_tensor *nn_smooth_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float beta) { return nn__huber("nn_smooth_l1_loss", input, target, r, beta, 1); }
NN_API nn_tensor *nn_huber_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float delta) { return nn__huber("nn_huber_loss", input, target, r, delta, 0); }

/* NLL over log-probabilities (N, C) with class targets (N); label smoothing as PyTorch:
   loss_i = (1 - e) w[t_i] (-logp[i, t_i]) + e / C * sum_c w_c (-logp[i, c]); mean divides by sum_i w[t_i]. */
static nn_tensor *nn__nll(const char *fn, nn_tensor *logp, nn_tensor *target, nn_cross_entropy_opts o) {
    nn_ctx *ctx = logp->ctx;
    int64_t N = logp->shape[0], C = logp->shape[1], i, col[2];
    nn_tensor *idx, *wt, *picked, *loss, *wsum;
    double total_w = 0;
    col[0] = N; col[1] = 1;
    idx = nn__const(ctx, fn, 2, col);
    wt = nn__const(ctx, fn, 1, &N);
    if (!idx || !wt) return NULL;
    for (i = 0; i < N; i++) {
        float t = NN__F32(target)[i]; int64_t k;
        if (o.use_ignore_index && t == (float)o.ignore_index) { NN__F32(idx)[i] = 0; NN__F32(wt)[i] = 0; continue; }
        if (!nn__index_at(ctx, fn, t, C, &k) || t < 0) {
            if (t < 0) nn__err(ctx, "%s: target %g at position %lld is not a class in [0, %lld)", fn, t, (long long)i, (long long)C);
            return NULL;
        }
        NN__F32(idx)[i] = (float)k;
        NN__F32(wt)[i] = o.weight ? NN__F32(o.weight)[k] : 1.0f;
        total_w += NN__F32(wt)[i];
    }
    picked = nn_reshape(nn_gather(logp, 1, idx), 1, &N);                 /* logp[i, t_i] (N) */
    loss = nn_neg(nn_mul(picked, wt));
    if (o.label_smoothing > 0.0f) {
        nn_tensor *rowmask = nn__const(ctx, fn, 1, &N), *smooth, *wrow = o.weight;
        if (!rowmask) return NULL;
        for (i = 0; i < N; i++) NN__F32(rowmask)[i] = (o.use_ignore_index && NN__F32(target)[i] == (float)o.ignore_index) ? 0.0f : 1.0f;
        smooth = wrow ? nn_sum(nn_mul(logp, wrow), 1, 0) : nn_sum(logp, 1, 0);
        smooth = nn_neg(nn_mul(smooth, rowmask));
        loss = nn_add(nn_mul_scalar(loss, 1.0f - o.label_smoothing), nn_mul_scalar(smooth, o.label_smoothing / (float)C));
    }
    if (o.reduction == NN_NONE) return loss;
    if (o.reduction == NN_SUM) return nn_sum(loss, NN_ALL, 0);
    wsum = nn_sum(loss, NN_ALL, 0);
    return nn_div_scalar(wsum, (float)total_w);    /* total_w 0 (all ignored) gives NaN, as PyTorch */
}

/* (N, C, d...) -> (N*d..., C) and (N, d...) -> (N*d...), or (N, C) as is */
static nn_tensor *nn__class_loss(const char *fn, nn_tensor *x, nn_tensor *target, nn_cross_entropy_opts o, int from_logits) {
    static const char *names[] = { "input", "target" };
    nn_tensor *xs[2], *logp, *flat_t; int d, perm[NN_MAX_DIMS]; int64_t C, rows, sh[2]; char s1[128], s2[128];
    xs[0] = x; xs[1] = target;
    if (!nn__check_inputs(fn, xs, names, 2)) return NULL;
    if (x->ndim < 1 || target->ndim != (x->ndim >= 2 ? x->ndim - 1 : 0)) goto bad;
    if (x->ndim == 1) { x = nn_unsqueeze(x, 0); sh[0] = 1; target = nn_reshape(target, 1, sh); }
    for (d = 0; d < target->ndim; d++) if (target->shape[d] != x->shape[d == 0 ? 0 : d + 1]) goto bad;
    C = x->shape[1];
    if (o.weight && o.weight->numel != C) { nn__err(x->ctx, "%s: weight is %s; expected (%lld,) for %lld classes", fn, NN__SHAPE(o.weight, s1), (long long)C, (long long)C); return NULL; }
    if (o.label_smoothing < 0.0f || o.label_smoothing > 1.0f) { nn__err(x->ctx, "%s: label_smoothing %g must be in [0, 1]", fn, o.label_smoothing); return NULL; }
    if (!from_logits && o.label_smoothing != 0.0f) { nn__err(x->ctx, "%s: label_smoothing is for cross entropy", fn); return NULL; }
    if (x->ndim > 2) {   /* move the class dim last */
        perm[0] = 0;
        for (d = 1; d < x->ndim - 1; d++) perm[d] = d + 1;
        perm[x->ndim - 1] = 1;
        x = nn_permute(x, perm);
    }
    rows = x ? x->numel / (C ? C : 1) : 0;
    sh[0] = rows; sh[1] = C;
    x = nn_reshape(x, 2, sh);
    flat_t = nn_contiguous(nn_reshape(target, 1, &rows));
    if (!x || !flat_t) return NULL;
    logp = from_logits ? nn_log_softmax(x, 1) : x;
    if (!logp) return NULL;
    {
        nn_tensor *l = nn__nll(fn, logp, flat_t, o);
        if (o.reduction == NN_NONE && l && target->ndim != 1) return nn_reshape(l, target->ndim, target->shape);
        return l;
    }
bad:
    nn__err(x->ctx, "%s: input is %s and target is %s; expected (N, C) with (N), or (N, C, d...) with (N, d...)", fn, NN__SHAPE(xs[0], s1), NN__SHAPE(xs[1], s2));
    return NULL;
}
NN_API nn_tensor *nn_cross_entropy(nn_tensor *logits, nn_tensor *target, nn_cross_entropy_opts o) { return nn__class_loss("nn_cross_entropy", logits, target, o, 1); }
NN_API nn_tensor *nn_nll_loss(nn_tensor *log_probs, nn_tensor *target, nn_cross_entropy_opts o) { return nn__class_loss("nn_nll_loss", log_probs, target, o, 0); }

NN_API nn_tensor *nn_bce_loss(nn_tensor *p, nn_tensor *target, nn_tensor *weight, nn_reduction r) {
    nn_tensor *l; int64_t i;
    if (!nn__loss_pair("nn_bce_loss", p, target)) return NULL;
    for (i = 0; i < p->numel; i++) if (!(NN__F32(p)[i] >= 0.0f && NN__F32(p)[i] <= 1.0f)) {
        nn__err(p->ctx, "nn_bce_loss: input %g at position %lld is not a probability in [0, 1]; use nn_bce_with_logits for logits", NN__F32(p)[i], (long long)i);
        return NULL;
    }
    /* -(t log p + (1 - t) log(1 - p)), each log clamped at -100 as PyTorch */
    l = nn_neg(nn_add(nn_mul(target, nn_clamp(nn_log(p), -100.0f, INFINITY)),
                      nn_mul(nn_sub_scalar(nn_neg(target), -1.0f), nn_clamp(nn_log(nn_sub_scalar(nn_neg(p), -1.0f)), -100.0f, INFINITY))));
    if (weight) l = nn_mul(l, weight);
    return nn__reduce_loss(l, r);
}

NN_API nn_tensor *nn_bce_with_logits(nn_tensor *logits, nn_tensor *target, nn_tensor *pos_weight, nn_reduction r) {
    nn_tensor *xs[3], *y; char s1[128], s2[128];
    if (!nn__loss_pair("nn_bce_with_logits", logits, target)) return NULL;
    if (pos_weight && (pos_weight->numel != (logits->ndim ? logits->shape[logits->ndim - 1] : 1))) {
        nn__err(logits->ctx, "nn_bce_with_logits: pos_weight is %s and logits are %s; pos_weight needs one value per class (last dim)",
                NN__SHAPE(pos_weight, s1), NN__SHAPE(logits, s2));
        return NULL;
    }
    xs[0] = nn__contig_input(logits); xs[1] = nn__contig_input(target); xs[2] = pos_weight ? nn__contig_input(pos_weight) : NULL;
    if (!xs[0] || !xs[1] || (pos_weight && !xs[2])) return NULL;
    y = nn__node(NN_OP_BCE_WITH_LOGITS, "nn_bce_with_logits", logits->ndim, logits->shape, xs, 3, 1);
    if (!y) return NULL;
    nn__bce_logits_forward(y);
    return nn__reduce_loss(y, r);
}

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

/* ==== serialisation: safetensors ==== */
/* File: 8-byte little-endian header length, a JSON header
   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
   then the raw little-endian data. */
#ifndef NN_NO_STDIO

typedef struct nn__st_entry { char *name; int dtype; int ndim; int64_t shape[NN_MAX_DIMS]; int64_t begin, end; } nn__st_entry;
struct nn_safetensors {
    nn_ctx *ctx;
    char *path;
    unsigned char *file;          /* the whole file */
    int64_t size, data_at;
    nn__st_entry *e; int n, cap;
    char **meta; int nmeta, meta_cap;   /* key, value, key, value, ... */
};

enum { NN__F32, NN__F64, NN__F16, NN__BF16, NN__I64, NN__I32, NN__DTYPES };
static const char *nn__dtype_names[NN__DTYPES] = { "F32", "F64", "F16", "BF16", "I64", "I32" };
static const int nn__dtype_size[NN__DTYPES] = { 4, 8, 2, 2, 8, 4 };

static int nn__little_endian(void) { const uint16_t one = 1; return *(const unsigned char *)&one == 1; }

/* ---- a small JSON reader for the header ---- */
typedef struct nn__json { const char *start, *p, *end; int ok; char msg[160]; } nn__json;
static void nn__jfail(nn__json *j, const char *what) { if (j->ok) { j->ok = 0; snprintf(j->msg, sizeof j->msg, "%s at header byte %ld", what, (long)(j->p - j->start)); } }
static void nn__jws(nn__json *j) { while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++; }
static int nn__jchar(nn__json *j, char c) { nn__jws(j); if (j->p < j->end && *j->p == c) { j->p++; return 1; } return 0; }
/* a string into a fresh heap buffer; simple escapes kept, \u as '?' */
static char *nn__jstring(nn__json *j) {
    const char *s; char *out; size_t n = 0;
    nn__jws(j);
    if (j->p >= j->end || *j->p != '"') { nn__jfail(j, "expected a string"); return NULL; }
    s = ++j->p;
    while (j->p < j->end && *j->p != '"') { if (*j->p == '\\') j->p++; j->p++; }
    if (j->p >= j->end) { nn__jfail(j, "unterminated string"); return NULL; }
    out = NN__CAST(char *, NN_MALLOC((size_t)(j->p - s) + 1));
    if (!out) { nn__jfail(j, "out of memory"); return NULL; }
    for (; s < j->p; s++) {
        if (*s != '\\') { out[n++] = *s; continue; }
        s++;
        switch (*s) { case 'n': out[n++] = '\n'; break; case 't': out[n++] = '\t'; break; case 'u': out[n++] = '?'; s += 4; break;
                      default: out[n++] = *s; }
    }
    out[n] = 0;
    j->p++;
    return out;
}
static int nn__jint(nn__json *j, int64_t *v) {
    int64_t x = 0; int digits = 0;
    nn__jws(j);
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > (INT64_MAX - 9) / 10) { nn__jfail(j, "number too large"); return 0; }
        x = x * 10 + (*j->p++ - '0'); digits++;
    }
    if (!digits) { nn__jfail(j, "expected a non-negative integer"); return 0; }
    *v = x;
    return 1;
}
/* [int, int, ...] */
static int nn__jints(nn__json *j, int64_t *v, int max, int *n) {
    *n = 0;
    if (!nn__jchar(j, '[')) { nn__jfail(j, "expected '['"); return 0; }
    if (nn__jchar(j, ']')) return 1;
    do {
        if (*n >= max) { nn__jfail(j, "too many dims"); return 0; }
        if (!nn__jint(j, &v[(*n)++])) return 0;
    } while (nn__jchar(j, ','));
    if (!nn__jchar(j, ']')) { nn__jfail(j, "expected ']'"); return 0; }
    return 1;
}

static int nn__st_fail(nn_safetensors *st, const char *fmt, const char *a, const char *b) {
    char msg[400];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    nn__err(st->ctx, "nn_safetensors_open: %s: %s", st->path, msg);
    return 0;
}

static int nn__st_parse(nn_safetensors *st, const char *h, int64_t hlen) {
    nn__json j; int64_t data_len = st->size - st->data_at;
    j.start = j.p = h; j.end = h + hlen; j.ok = 1; j.msg[0] = 0;
    if (!nn__jchar(&j, '{')) return nn__st_fail(st, "the header is not a JSON object%s%s", NULL, NULL);
    if (nn__jchar(&j, '}')) return 1;
    do {
        char *key = nn__jstring(&j);
        if (!key) break;
        if (!nn__jchar(&j, ':')) { NN_FREE(key); nn__jfail(&j, "expected ':'"); break; }
        if (!strcmp(key, "__metadata__")) {
            NN_FREE(key);
            if (!nn__jchar(&j, '{')) { nn__jfail(&j, "__metadata__ is not an object"); break; }
            if (nn__jchar(&j, '}')) continue;
            do {
                char *k = nn__jstring(&j), *v;
                if (!k) break;
                if (!nn__jchar(&j, ':') || !(v = nn__jstring(&j))) { NN_FREE(k); nn__jfail(&j, "metadata values must be strings"); break; }
                if (st->nmeta + 2 > st->meta_cap) {
                    int cap = st->meta_cap ? 2 * st->meta_cap : 32;
                    char **m = NN__CAST(char **, NN_REALLOC(st->meta, (size_t)cap * sizeof(char *)));
                    if (!m) { NN_FREE(k); NN_FREE(v); nn__jfail(&j, "out of memory"); break; }
                    st->meta = m; st->meta_cap = cap;
                }
                st->meta[st->nmeta++] = k; st->meta[st->nmeta++] = v;
            } while (nn__jchar(&j, ','));
            if (j.ok && !nn__jchar(&j, '}')) nn__jfail(&j, "expected '}' after __metadata__");
        } else {
            nn__st_entry e; int have_dtype = 0, have_shape = 0, have_off = 0, nd = 0; int64_t offs[2]; int64_t numel = 1; int d;
            memset(&e, 0, sizeof e);
            e.name = key; e.dtype = -1;
            if (st->n == st->cap) {
                int cap = st->cap ? 2 * st->cap : 32;
                nn__st_entry *ne = NN__CAST(nn__st_entry *, NN_REALLOC(st->e, (size_t)cap * sizeof(nn__st_entry)));
                if (!ne) { NN_FREE(key); nn__jfail(&j, "out of memory"); break; }
                st->e = ne; st->cap = cap;
            }
            st->e[st->n++] = e;      /* owned from here on, freed with st */
            if (!nn__jchar(&j, '{')) { nn__jfail(&j, "a tensor entry is not an object"); break; }
            do {
                char *f = nn__jstring(&j);
                if (!f) break;
                if (!nn__jchar(&j, ':')) { NN_FREE(f); nn__jfail(&j, "expected ':'"); break; }
                if (!strcmp(f, "dtype")) {
                    char *dt = nn__jstring(&j);
                    if (dt) for (d = 0; d < NN__DTYPES; d++) if (!strcmp(dt, nn__dtype_names[d])) st->e[st->n - 1].dtype = d;
                    if (dt && st->e[st->n - 1].dtype < 0) { NN_FREE(f); nn__st_fail(st, "tensor \"%s\" has dtype %s; nn.h reads F32, F64, F16, BF16, I64 and I32", key, dt); NN_FREE(dt); return 0; }
                    NN_FREE(dt); have_dtype = 1;
                } else if (!strcmp(f, "shape")) { nn__jints(&j, st->e[st->n - 1].shape, NN_MAX_DIMS, &nd); st->e[st->n - 1].ndim = nd; have_shape = 1; }
                else if (!strcmp(f, "data_offsets")) {
                    int two = 0;
                    nn__jints(&j, offs, 2, &two);
                    if (j.ok && two != 2) nn__jfail(&j, "data_offsets needs two numbers");
                    have_off = 1;
                } else { NN_FREE(f); nn__jfail(&j, "unknown field in a tensor entry"); break; }
                NN_FREE(f);
            } while (j.ok && nn__jchar(&j, ','));
            if (j.ok && !nn__jchar(&j, '}')) nn__jfail(&j, "expected '}' after a tensor entry");
            if (!j.ok) break;
            if (!have_dtype || !have_shape || !have_off) return nn__st_fail(st, "tensor \"%s\" lacks dtype, shape or data_offsets%s", key, NULL);
            for (d = 0; d < nd; d++) {
                if (st->e[st->n - 1].shape[d] && numel > INT64_MAX / 8 / st->e[st->n - 1].shape[d]) return nn__st_fail(st, "tensor \"%s\" has an absurd shape%s", key, NULL);
                numel *= st->e[st->n - 1].shape[d];
            }
            if (offs[0] > offs[1] || offs[1] > data_len) return nn__st_fail(st, "tensor \"%s\" has data offsets past the end of the file (truncated?)%s", key, NULL);
            if (offs[1] - offs[0] != numel * nn__dtype_size[st->e[st->n - 1].dtype]) return nn__st_fail(st, "tensor \"%s\": its byte range does not match its shape and dtype%s", key, NULL);
            st->e[st->n - 1].begin = offs[0]; st->e[st->n - 1].end = offs[1];
        }
    } while (j.ok && nn__jchar(&j, ','));
    if (j.ok && !nn__jchar(&j, '}')) nn__jfail(&j, "expected '}' or ','");
    if (!j.ok) return nn__st_fail(st, "the JSON header is corrupt: %s%s", j.msg, NULL);
    return 1;
}

NN_API void nn_safetensors_close(nn_safetensors *st) {
    int k;
    if (!st) return;
    for (k = 0; k < st->n; k++) NN_FREE(st->e[k].name);
    for (k = 0; k < st->nmeta; k++) NN_FREE(st->meta[k]);
    NN_FREE(st->e); NN_FREE(st->meta); NN_FREE(st->file); NN_FREE(st->path);
    NN_FREE(st);
}

NN_API nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path) {
    nn_safetensors *st; FILE *f; long size; uint64_t hlen = 0; int k;
    if (!ctx) return NULL;
    if (!path) { nn__err(ctx, "nn_safetensors_open: path is NULL"); return NULL; }
    f = fopen(path, "rb");
    if (!f) { nn__err(ctx, "nn_safetensors_open: cannot open %s", path); return NULL; }
    st = NN__CAST(nn_safetensors *, NN_MALLOC(sizeof(nn_safetensors)));
    if (!st) { fclose(f); nn__err(ctx, "nn_safetensors_open: out of memory"); return NULL; }
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->path = NN__CAST(char *, NN_MALLOC(strlen(path) + 1));
    if (st->path) strcpy(st->path, path);
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); nn__err(ctx, "nn_safetensors_open: cannot read %s", path); nn_safetensors_close(st); return NULL; }
    st->size = size;
    st->file = NN__CAST(unsigned char *, NN_MALLOC((size_t)size + 1));
    if (!st->file || fread(st->file, 1, (size_t)size, f) != (size_t)size) { fclose(f); nn__err(ctx, "nn_safetensors_open: cannot read %s", path); nn_safetensors_close(st); return NULL; }
    fclose(f);
    if (size < 8) { nn__st_fail(st, "the file is %s bytes; too short for a safetensors header%s", size < 1 ? "0" : "< 8", NULL); nn_safetensors_close(st); return NULL; }
    for (k = 7; k >= 0; k--) hlen = (hlen << 8) | st->file[k];
    if (hlen > (uint64_t)(size - 8) || hlen > ((uint64_t)1 << 30)) { nn__st_fail(st, "the header length is larger than the file (truncated or not safetensors)%s%s", NULL, NULL); nn_safetensors_close(st); return NULL; }
    st->data_at = 8 + (int64_t)hlen;
    if (!nn__st_parse(st, (const char *)st->file + 8, (int64_t)hlen)) { nn_safetensors_close(st); return NULL; }
    return st;
}

NN_API int nn_safetensors_count(const nn_safetensors *st) { return st ? st->n : 0; }
NN_API const char *nn_safetensors_name(const nn_safetensors *st, int i) { return st && i >= 0 && i < st->n ? st->e[i].name : NULL; }
NN_API const char *nn_safetensors_meta(const nn_safetensors *st, const char *key) {
    int k;
    if (!st || !key) return NULL;
    for (k = 0; k + 1 < st->nmeta; k += 2) if (!strcmp(st->meta[k], key)) return st->meta[k + 1];
    return NULL;
}
static const nn__st_entry *nn__st_find(const nn_safetensors *st, const char *name) {
    int k;
    for (k = 0; k < st->n; k++) if (!strcmp(st->e[k].name, name)) return &st->e[k];
    return NULL;
}

static float nn__half_to_float(uint16_t h, int bf16) {
    uint32_t bits;
    float f;
    if (bf16) bits = (uint32_t)h << 16;
    else {
        uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
        if (exp == 0) { f = (float)man * 5.9604644775390625e-8f; return sign ? -f : f; }
        bits = exp == 31 ? sign | 0x7f800000u | (man << 13) : sign | ((exp + 112u) << 23) | (man << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

/* The values of entry e as floats into dst. */
static void nn__st_read(const nn_safetensors *st, const nn__st_entry *e, float *dst) {
    const unsigned char *p = st->file + st->data_at + e->begin;
    int64_t i, n = (e->end - e->begin) / nn__dtype_size[e->dtype];
    int sz = nn__dtype_size[e->dtype], b;
    for (i = 0; i < n; i++, p += sz) {
        uint64_t u = 0;
        for (b = sz - 1; b >= 0; b--) u = (u << 8) | p[b];     /* little-endian bytes */
        switch (e->dtype) {
        case NN__F32: { uint32_t v = (uint32_t)u; memcpy(&dst[i], &v, 4); } break;
        case NN__F64: { double d; memcpy(&d, &u, 8); dst[i] = (float)d; } break;
        case NN__F16: dst[i] = nn__half_to_float((uint16_t)u, 0); break;
        case NN__BF16: dst[i] = nn__half_to_float((uint16_t)u, 1); break;
        case NN__I64: dst[i] = (float)(int64_t)u; break;
        case NN__I32: dst[i] = (float)(int32_t)(uint32_t)u; break;
        default: dst[i] = 0;
        }
    }
}

NN_API nn_tensor *nn_safetensors_get(nn_safetensors *st, const char *name) {
    const nn__st_entry *e; nn_tensor *t;
    if (!st || !name) return NULL;
    e = nn__st_find(st, name);
    if (!e) { nn__err(st->ctx, "nn_safetensors_get: %s has no tensor \"%s\"", st->path, name); return NULL; }
    t = nn_empty(st->ctx, e->ndim, e->shape);
    if (t) nn__st_read(st, e, NN__F32(t));
    return t;
}

/* growing text buffer for the JSON header */
typedef struct nn__buf { char *p; size_t n, cap; int ok; } nn__buf;
static void nn__bput(nn__buf *b, const char *s, size_t n) {
    if (!b->ok) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096; char *q;
        while (cap < b->n + n + 1) cap *= 2;
        q = NN__CAST(char *, NN_REALLOC(b->p, cap));
        if (!q) { b->ok = 0; return; }
        b->p = q; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n); b->n += n; b->p[b->n] = 0;
}
static void nn__bputs(nn__buf *b, const char *s) { nn__bput(b, s, strlen(s)); }
static void nn__bstr(nn__buf *b, const char *s) {   /* a JSON string literal */
    nn__bput(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') { nn__bput(b, "\\", 1); nn__bput(b, s, 1); }
        else if ((unsigned char)*s < 0x20) { char e[8]; snprintf(e, sizeof e, "\\u%04x", (unsigned)(unsigned char)*s); nn__bput(b, e, 6); }
        else nn__bput(b, s, 1);
    }
    nn__bput(b, "\"", 1);
}

NN_API int nn_safetensors_save(nn_ctx *ctx, const char *path, const char *const *names, nn_tensor *const *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_values, int nmeta) {
    nn__buf b; int k, d, ok = 1; int64_t off = 0; char num[64], *tmp; FILE *f; unsigned char len8[8]; uint64_t hl;
    if (!ctx) return 0;
    if (!path || (n > 0 && (!names || !tensors))) { nn__err(ctx, "nn_safetensors_save: path, names or tensors is NULL"); return 0; }
    for (k = 0; k < n; k++) if (!tensors[k] || !names[k]) { nn__err(ctx, "nn_safetensors_save: tensor %d (%s) is NULL", k, names[k] ? names[k] : "no name"); return 0; }
    memset(&b, 0, sizeof b); b.ok = 1;
    nn__bput(&b, "{", 1);
    if (nmeta > 0) {
        nn__bputs(&b, "\"__metadata__\":{");
        for (k = 0; k < nmeta; k++) { if (k) nn__bput(&b, ",", 1); nn__bstr(&b, meta_keys[k]); nn__bput(&b, ":", 1); nn__bstr(&b, meta_values[k]); }
        nn__bput(&b, "}", 1);
    }
    for (k = 0; k < n; k++) {
        if (k || nmeta > 0) nn__bput(&b, ",", 1);
        nn__bstr(&b, names[k]);
        nn__bputs(&b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (d = 0; d < tensors[k]->ndim; d++) { snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)tensors[k]->shape[d]); nn__bput(&b, num, strlen(num)); }
        snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)off, (long long)(off + tensors[k]->numel * 4));
        nn__bput(&b, num, strlen(num));
        off += tensors[k]->numel * 4;
    }
    nn__bput(&b, "}", 1);
    while (b.ok && b.n % 8) nn__bput(&b, " ", 1);      /* data starts 8-byte aligned */
    if (!b.ok) { NN_FREE(b.p); nn__err(ctx, "nn_safetensors_save: out of memory"); return 0; }
    tmp = NN__CAST(char *, NN_MALLOC(strlen(path) + 8));
    if (!tmp) { NN_FREE(b.p); nn__err(ctx, "nn_safetensors_save: out of memory"); return 0; }
    sprintf(tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) { nn__err(ctx, "nn_safetensors_save: cannot create %s", tmp); NN_FREE(b.p); NN_FREE(tmp); return 0; }
    hl = b.n;
    for (k = 0; k < 8; k++) len8[k] = (unsigned char)(hl >> (8 * k));
    ok = fwrite(len8, 1, 8, f) == 8 && fwrite(b.p, 1, b.n, f) == b.n;
    for (k = 0; k < n && ok; k++) {
        nn_tensor *t = tensors[k];
        if (nn__little_endian() && nn_is_contiguous(t)) ok = fwrite(NN__F32(t), 4, (size_t)t->numel, f) == (size_t)t->numel;
        else {
            nn__walk w; int64_t i;
            nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
            for (i = 0; i < t->numel && ok; i++, nn__walk_next(&w)) {
                uint32_t u; unsigned char by[4]; int q;
                memcpy(&u, &NN__F32(t)[w.off[0]], 4);
                for (q = 0; q < 4; q++) by[q] = (unsigned char)(u >> (8 * q));
                ok = fwrite(by, 1, 4, f) == 4;
            }
        }
    }
    if (fflush(f) != 0) ok = 0;
    if (fclose(f) != 0) ok = 0;
    NN_FREE(b.p);
    if (ok) {
        remove(path);               /* rename onto an existing file fails on some systems */
        ok = rename(tmp, path) == 0;
    }
    if (!ok) { remove(tmp); nn__err(ctx, "nn_safetensors_save: writing %s failed; the previous file (if any) is unchanged", path); }
    NN_FREE(tmp);
    return ok;
}

/* Checks that every state entry of m is in st with its shape (under prefix);
   with strict, that st holds nothing else under prefix. Names the first misfit. */
static int nn__check_model(nn_module *m, const nn_safetensors *st, const char *prefix, const char *fn) {
    const nn_state_entry *es; int n = nn_module_state(m, &es), k, d, mine = 0; char full[256], s1[128], s2[128];
    size_t pl = strlen(prefix);
    for (k = 0; k < n; k++) {
        const nn__st_entry *e;
        snprintf(full, sizeof full, "%s%s", prefix, es[k].name);
        e = nn__st_find(st, full);
        if (!e) { nn__err(m->ctx, "%s: %s has no tensor \"%s\" (missing key)", fn, st->path, full); return 0; }
        if (e->ndim != es[k].tensor->ndim) goto shape;
        for (d = 0; d < e->ndim; d++) if (e->shape[d] != es[k].tensor->shape[d]) goto shape;
        continue;
shape:
        {
            nn_tensor fake; memset(&fake, 0, sizeof fake); fake.ndim = e->ndim; memcpy(fake.shape, e->shape, sizeof fake.shape);
            nn__err(m->ctx, "%s: tensor \"%s\" in %s is %s but the model's is %s", fn, full, st->path, NN__SHAPE(&fake, s1), NN__SHAPE(es[k].tensor, s2));
        }
        return 0;
    }
    for (k = 0; k < st->n; k++) if (!strncmp(st->e[k].name, prefix, pl)) mine++;
    if (mine != n) {
        for (k = 0; k < st->n; k++) if (!strncmp(st->e[k].name, prefix, pl)) {
            int found = 0, q;
            for (q = 0; q < n; q++) { snprintf(full, sizeof full, "%s%s", prefix, es[q].name); if (!strcmp(full, st->e[k].name)) found = 1; }
            if (!found) { nn__err(m->ctx, "%s: %s has tensor \"%s\", which the model does not have (unexpected key)", fn, st->path, st->e[k].name); return 0; }
        }
    }
    return 1;
}
static void nn__apply_model(nn_module *m, const nn_safetensors *st, const char *prefix) {
    const nn_state_entry *es; int n = nn_module_state(m, &es), k; char full[256];
    for (k = 0; k < n; k++) {
        snprintf(full, sizeof full, "%s%s", prefix, es[k].name);
        nn__st_read(st, nn__st_find(st, full), NN__F32(es[k].tensor));
    }
}

NN_API int nn_save_model(nn_module *m, const char *path) {
    const nn_state_entry *es; int n, k, ok; const char **names; nn_tensor **ts;
    if (!m) return 0;
    n = nn_module_state(m, &es);
    names = NN__CAST(const char **, NN_MALLOC((size_t)(n + 1) * sizeof(char *)));
    ts = NN__CAST(nn_tensor **, NN_MALLOC((size_t)(n + 1) * sizeof(nn_tensor *)));
    if (!names || !ts) { NN_FREE(names); NN_FREE(ts); nn__err(m->ctx, "nn_save_model: out of memory"); return 0; }
    for (k = 0; k < n; k++) { names[k] = es[k].name; ts[k] = es[k].tensor; }
    ok = nn_safetensors_save(m->ctx, path, names, ts, n, NULL, NULL, 0);
    NN_FREE(names); NN_FREE(ts);
    return ok;
}

NN_API int nn_load_model(nn_module *m, const char *path) {
    nn_safetensors *st; int ok;
    if (!m) return 0;
    st = nn_safetensors_open(m->ctx, path);
    if (!st) return 0;
    ok = nn__check_model(m, st, "", "nn_load_model");
    if (ok) nn__apply_model(m, st, "");
    nn_safetensors_close(st);
    return ok;
}

/* ---- whole training state ---- */

/* names of each optimizer's state tensors, as PyTorch's state_dict calls them */
static const char *nn__optim_state_names[5][3] = {
    { "momentum_buffer", NULL, NULL }, { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }, { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" },
    { "square_avg", "momentum_buffer", "grad_avg" }, { "sum", NULL, NULL } };


#define NN__CK_MAX_META 512
typedef struct nn__meta { int n; char keys[NN__CK_MAX_META][64]; char vals[NN__CK_MAX_META][48]; } nn__meta;
static void nn__meta_add(nn__meta *m, const char *k, const char *fmt, double v) {
    if (m->n >= NN__CK_MAX_META) return;
    snprintf(m->keys[m->n], sizeof m->keys[0], "%s", k);
    snprintf(m->vals[m->n++], sizeof m->vals[0], fmt, v);
}

NN_API int nn_save_checkpoint(const nn_checkpoint *ck, const char *path) {
    nn_ctx *ctx; const nn_state_entry *es; int n, k, g, s, nt = 0, cap, ok; char key[64];
    const char **names = NULL; nn_tensor **ts = NULL; char (*tn)[200] = NULL; nn__meta *meta; const char *mk[NN__CK_MAX_META], *mv[NN__CK_MAX_META];
    if (!ck || !ck->model) return 0;
    ctx = ck->model->ctx;
    n = nn_module_state(ck->model, &es);
    cap = n + 1;
    if (ck->optim) for (g = 0; g < ck->optim->ngroups; g++) cap += 3 * ck->optim->groups[g].n;
    names = NN__CAST(const char **, NN_MALLOC((size_t)cap * sizeof(char *)));
    ts = NN__CAST(nn_tensor **, NN_MALLOC((size_t)cap * sizeof(nn_tensor *)));
    tn = NN__CAST(char (*)[200], NN_MALLOC((size_t)cap * sizeof(tn[0])));
    meta = NN__CAST(nn__meta *, NN_MALLOC(sizeof(nn__meta)));
    if (!names || !ts || !tn || !meta) { NN_FREE(names); NN_FREE(ts); NN_FREE(tn); NN_FREE(meta); nn__err(ctx, "nn_save_checkpoint: out of memory"); return 0; }
    meta->n = 0;
    for (k = 0; k < n; k++) { snprintf(tn[nt], sizeof tn[0], "model.%s", es[k].name); names[nt] = tn[nt]; ts[nt++] = es[k].tensor; }
    nn__meta_add(meta, "format", "nn.h checkpoint %g", 1);
    nn__meta_add(meta, "epoch", "%.17g", (double)ck->epoch);
    nn__meta_add(meta, "loss", "%.17g", ck->loss);
    nn__meta_add(meta, "rng.state_hi", "%.17g", (double)(ctx->rng.state >> 32));
    nn__meta_add(meta, "rng.state_lo", "%.17g", (double)(ctx->rng.state & 0xffffffffu));
    nn__meta_add(meta, "rng.inc_hi", "%.17g", (double)(ctx->rng.inc >> 32));
    nn__meta_add(meta, "rng.inc_lo", "%.17g", (double)(ctx->rng.inc & 0xffffffffu));
    nn__meta_add(meta, "rng.has_spare", "%.17g", (double)ctx->rng.has_spare);
    nn__meta_add(meta, "rng.spare", "%.17g", (double)ctx->rng.spare);
    if (ck->optim) {
        nn_optim *o = ck->optim; int pi = 0;
        nn__meta_add(meta, "optim.kind", "%.17g", o->kind);
        nn__meta_add(meta, "optim.groups", "%.17g", o->ngroups);
        for (g = 0; g < o->ngroups; g++) {
            nn__group *gr = &o->groups[g];
            snprintf(key, sizeof key, "optim.%d.lr", g); nn__meta_add(meta, key, "%.17g", gr->lr);
            snprintf(key, sizeof key, "optim.%d.momentum", g); nn__meta_add(meta, key, "%.17g", gr->momentum);
            snprintf(key, sizeof key, "optim.%d.initial_lr", g); nn__meta_add(meta, key, "%.17g", gr->initial_lr);
            snprintf(key, sizeof key, "optim.%d.params", g); nn__meta_add(meta, key, "%.17g", gr->n);
            for (k = 0; k < gr->n; k++, pi++) {
                snprintf(key, sizeof key, "optim.state.%d.step", pi); nn__meta_add(meta, key, "%.17g", (double)gr->step[k]);
                for (s = 0; s < 3; s++) if (gr->state[3 * k + s]) {
                    snprintf(tn[nt], sizeof tn[0], "optim.state.%d.%s", pi, nn__optim_state_names[o->kind][s]);
                    names[nt] = tn[nt]; ts[nt++] = gr->state[3 * k + s];
                }
            }
        }
    }
    if (ck->scheduler) {
        nn_scheduler *sc = ck->scheduler;
        nn__meta_add(meta, "sched.kind", "%.17g", sc->kind);
        nn__meta_add(meta, "sched.last_epoch", "%.17g", (double)sc->last_epoch);
        nn__meta_add(meta, "sched.best", "%.17g", sc->best);
        nn__meta_add(meta, "sched.num_bad", "%.17g", (double)sc->num_bad);
        nn__meta_add(meta, "sched.cooldown_counter", "%.17g", (double)sc->cooldown_counter);
    }
    if (meta->n >= NN__CK_MAX_META) { nn__err(ctx, "nn_save_checkpoint: too many parameters for the checkpoint metadata (%d entries)", NN__CK_MAX_META); ok = 0; }
    else {
        for (k = 0; k < meta->n; k++) { mk[k] = meta->keys[k]; mv[k] = meta->vals[k]; }
        ok = nn_safetensors_save(ctx, path, names, ts, nt, mk, mv, meta->n);
    }
    NN_FREE(names); NN_FREE(ts); NN_FREE(tn); NN_FREE(meta);
    return ok;
}

static int nn__meta_num(nn_safetensors *st, const char *key, double *v) {
    const char *s = nn_safetensors_meta(st, key);
    char *end;
    if (!s) { nn__err(st->ctx, "nn_load_checkpoint: %s lacks \"%s\"", st->path, key); return 0; }
    *v = strtod(s, &end);
    if (end == s) { nn__err(st->ctx, "nn_load_checkpoint: %s has a bad value for \"%s\"", st->path, key); return 0; }
    return 1;
}

NN_API int nn_load_checkpoint(nn_checkpoint *ck, const char *path) {
    nn_safetensors *st; nn_ctx *ctx; double v; int g, k, s, pi, ok = 0; char key[200];
    if (!ck || !ck->model) return 0;
    ctx = ck->model->ctx;
    st = nn_safetensors_open(ctx, path);
    if (!st) return 0;
    /* check everything first */
    if (!nn_safetensors_meta(st, "format")) { nn__err(ctx, "nn_load_checkpoint: %s is not an nn.h checkpoint (no format entry)", path); goto done; }
    if (!nn__check_model(ck->model, st, "model.", "nn_load_checkpoint")) goto done;
    if (ck->optim) {
        nn_optim *o = ck->optim;
        if (!nn__meta_num(st, "optim.kind", &v)) goto done;
        if ((int)v != o->kind) { nn__err(ctx, "nn_load_checkpoint: %s holds another kind of optimizer state", path); goto done; }
        if (!nn__meta_num(st, "optim.groups", &v)) goto done;
        if ((int)v != o->ngroups) { nn__err(ctx, "nn_load_checkpoint: %s has %d parameter groups; the optimizer has %d", path, (int)v, o->ngroups); goto done; }
        for (pi = 0, g = 0; g < o->ngroups; g++) {
            snprintf(key, sizeof key, "optim.%d.params", g);
            if (!nn__meta_num(st, key, &v)) goto done;
            if ((int)v != o->groups[g].n) { nn__err(ctx, "nn_load_checkpoint: group %d has %d parameters in %s and %d in the optimizer", g, (int)v, path, o->groups[g].n); goto done; }
            for (k = 0; k < o->groups[g].n; k++, pi++) for (s = 0; s < 3; s++) {
                const nn__st_entry *e;
                if (!nn__optim_state_names[o->kind][s]) continue;
                snprintf(key, sizeof key, "optim.state.%d.%s", pi, nn__optim_state_names[o->kind][s]);
                e = nn__st_find(st, key);
                if (e && e->end - e->begin != o->groups[g].params[k]->numel * nn__dtype_size[e->dtype]) {
                    nn__err(ctx, "nn_load_checkpoint: tensor \"%s\" in %s does not match parameter %d's shape", key, path, pi); goto done;
                }
            }
        }
    }
    if (ck->scheduler && !nn_safetensors_meta(st, "sched.kind")) { nn__err(ctx, "nn_load_checkpoint: %s has no scheduler state", path); goto done; }
    if (ck->scheduler && (!nn__meta_num(st, "sched.kind", &v) || (int)v != ck->scheduler->kind)) {
        if (nn_error(ctx) == NULL) nn__err(ctx, "nn_load_checkpoint: %s holds another kind of scheduler state", path);
        goto done;
    }
    {
        static const char *need[] = { "epoch", "loss", "rng.state_hi", "rng.state_lo", "rng.inc_hi", "rng.inc_lo", "rng.has_spare", "rng.spare" };
        for (k = 0; k < 8; k++) if (!nn__meta_num(st, need[k], &v)) goto done;
    }
    /* then apply */
    nn__apply_model(ck->model, st, "model.");
    if (ck->optim) {
        nn_optim *o = ck->optim;
        for (pi = 0, g = 0; g < o->ngroups; g++) {
            nn__group *gr = &o->groups[g];
            snprintf(key, sizeof key, "optim.%d.lr", g); nn__meta_num(st, key, &gr->lr);
            snprintf(key, sizeof key, "optim.%d.momentum", g); nn__meta_num(st, key, &gr->momentum);
            snprintf(key, sizeof key, "optim.%d.initial_lr", g); nn__meta_num(st, key, &gr->initial_lr);
            for (k = 0; k < gr->n; k++, pi++) {
                snprintf(key, sizeof key, "optim.state.%d.step", pi);
                if (nn__meta_num(st, key, &v)) gr->step[k] = (int64_t)v;
                for (s = 0; s < 3; s++) {
                    const nn__st_entry *e;
                    if (!nn__optim_state_names[o->kind][s]) continue;
                    snprintf(key, sizeof key, "optim.state.%d.%s", pi, nn__optim_state_names[o->kind][s]);
                    e = nn__st_find(st, key);
                    if (!e) { nn_free(gr->state[3 * k + s]); gr->state[3 * k + s] = NULL; continue; }
                    if (!gr->state[3 * k + s]) gr->state[3 * k + s] = nn_zeros(ctx, gr->params[k]->ndim, gr->params[k]->shape);
                    if (gr->state[3 * k + s]) nn__st_read(st, e, NN__F32(gr->state[3 * k + s]));
                }
            }
        }
    }
    if (ck->scheduler) {
        nn_scheduler *sc = ck->scheduler;
        nn__meta_num(st, "sched.last_epoch", &v); sc->last_epoch = (int64_t)v;
        nn__meta_num(st, "sched.best", &sc->best);
        nn__meta_num(st, "sched.num_bad", &v); sc->num_bad = (int64_t)v;
        nn__meta_num(st, "sched.cooldown_counter", &v); sc->cooldown_counter = (int64_t)v;
    }
    nn__meta_num(st, "epoch", &v); ck->epoch = (int64_t)v;
    nn__meta_num(st, "loss", &ck->loss);
    {
        double hi, lo;
        nn__meta_num(st, "rng.state_hi", &hi); nn__meta_num(st, "rng.state_lo", &lo); ctx->rng.state = ((uint64_t)hi << 32) | (uint64_t)lo;
        nn__meta_num(st, "rng.inc_hi", &hi); nn__meta_num(st, "rng.inc_lo", &lo); ctx->rng.inc = ((uint64_t)hi << 32) | (uint64_t)lo;
        nn__meta_num(st, "rng.has_spare", &v); ctx->rng.has_spare = (int)v;
        nn__meta_num(st, "rng.spare", &v); ctx->rng.spare = (float)v;
    }
    ok = 1;
done:
    nn_safetensors_close(st);
    return ok;
}
#endif /* NN_NO_STDIO */


/* ==== data ==== */

static uint64_t nn__splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static float nn__uniform01(uint64_t *s) { return (float)(nn__splitmix(s) >> 40) * (1.0f / 16777216.0f); }
static float nn__uniform_ab(uint64_t *s, float a, float b) { return a + (b - a) * nn__uniform01(s); }

static void nn__dataset_default_free(nn_dataset *d) { NN_FREE(d->u8); NN_FREE(d->f32); NN_FREE(d->labels); }
NN_API void nn_dataset_free(nn_dataset *d) {
    if (!d) return;
    if (d->free) d->free(d);
    NN_FREE(d);
}
/* product of the first n (at most 3) sizes of a sample shape */
static int64_t nn__prod(const int64_t *s, int n) { int64_t p = 1; int i; for (i = 0; i < 3; i++) if (i < n) p *= s[i]; return p; }

/* x from uint8 pixels or floats, y from labels */
static int nn__dataset_get(nn_dataset *d, int64_t i, float *x, float *y) {
    int64_t P = nn__prod(d->xshape, d->xdim), k, Y = d->ydim ? d->ydim : 1;
    if (i < 0 || i >= d->len) { nn__err(d->ctx, "nn_dataset: index %lld is out of range for %lld samples", (long long)i, (long long)d->len); return 0; }
    if (d->u8) { const unsigned char *p = d->u8 + i * P; for (k = 0; k < P; k++) x[k] = p[k] * (1.0f / 255.0f); }
    else memcpy(x, d->f32 + i * P, (size_t)P * sizeof(float));
    memcpy(y, d->labels + i * Y, (size_t)Y * sizeof(float));
    return 1;
}
static nn_dataset *nn__dataset_new(nn_ctx *ctx, const char *fn) {
    nn_dataset *d = NN__CAST(nn_dataset *, NN_MALLOC(sizeof(nn_dataset)));
    if (!d) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    memset(d, 0, sizeof *d);
    d->ctx = ctx; d->get = nn__dataset_get; d->free = nn__dataset_default_free;
    return d;
}

typedef struct nn__subset { nn_dataset *base; int64_t start; } nn__subset;
static int nn__subset_get(nn_dataset *d, int64_t i, float *x, float *y) {
    nn__subset *s = NN__CAST(nn__subset *, d->user);
    return s->base->get(s->base, s->start + i, x, y);
}
static void nn__subset_free(nn_dataset *d) { NN_FREE(d->user); }
NN_API nn_dataset *nn_subset(nn_dataset *base, int64_t start, int64_t len) {
    nn_dataset *d; nn__subset *s;
    if (!base) return NULL;
    if (start < 0 || len < 0 || start + len > base->len) {
        nn__err(base->ctx, "nn_subset: [%lld, %lld) is outside the dataset's %lld samples", (long long)start, (long long)(start + len), (long long)base->len);
        return NULL;
    }
    d = nn__dataset_new(base->ctx, "nn_subset");
    s = NN__CAST(nn__subset *, NN_MALLOC(sizeof(nn__subset)));
    if (!d || !s) { NN_FREE(d); NN_FREE(s); return NULL; }
    *d = *base;
    d->u8 = NULL; d->f32 = NULL; d->labels = NULL;
    s->base = base; s->start = start;
    d->len = len; d->user = s; d->get = nn__subset_get; d->free = nn__subset_free;
    return d;
}

#ifndef NN_NO_STDIO
/* The whole file, gunzipped when it ends in .gz (needs stb_image's zlib). */
static unsigned char *nn__read_file(nn_ctx *ctx, const char *fn, const char *path, int64_t *size) {
    FILE *f; long n; unsigned char *buf; size_t len = path ? strlen(path) : 0;
    if (!path) { nn__err(ctx, "%s: path is NULL", fn); return NULL; }
    f = fopen(path, "rb");
    if (!f) { nn__err(ctx, "%s: cannot open %s", fn, path); return NULL; }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); nn__err(ctx, "%s: cannot read %s", fn, path); return NULL; }
    buf = NN__CAST(unsigned char *, NN_MALLOC((size_t)n + 1));
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); NN_FREE(buf); nn__err(ctx, "%s: cannot read %s", fn, path); return NULL; }
    fclose(f);
    *size = n;
    if (len > 3 && !strcmp(path + len - 3, ".gz")) {
#ifdef STBI_VERSION
        int64_t at = 10; int flags, outlen; uint32_t isize; char *out;
        if (n < 18 || buf[0] != 0x1f || buf[1] != 0x8b || buf[2] != 8) { NN_FREE(buf); nn__err(ctx, "%s: %s is not a gzip file", fn, path); return NULL; }
        flags = buf[3];
        if (flags & 4) at += 2 + (buf[10] | (buf[11] << 8));
        if (flags & 8) { while (at < n && buf[at]) at++; at++; }
        if (flags & 16) { while (at < n && buf[at]) at++; at++; }
        if (flags & 2) at += 2;
        isize = (uint32_t)buf[n - 4] | ((uint32_t)buf[n - 3] << 8) | ((uint32_t)buf[n - 2] << 16) | ((uint32_t)buf[n - 1] << 24);
        if (at >= n - 8 || isize > (1u << 31) - 1) { NN_FREE(buf); nn__err(ctx, "%s: %s has a corrupt gzip header", fn, path); return NULL; }
        /* stb's decoder, growing its own buffer (stbi_image_free frees it); copied into ours */
        out = stbi_zlib_decode_noheader_malloc((const char *)buf + at, (int)(n - at), &outlen);   /* its bit reader looks ahead: give it the trailer too */
        NN_FREE(buf);
        if (!out || outlen < 0 || (uint32_t)outlen != isize) {
            if (out) stbi_image_free(out);
            nn__err(ctx, "%s: %s is truncated or corrupt (gzip data does not decode to its stated size)", fn, path);
            return NULL;
        }
        buf = NN__CAST(unsigned char *, NN_MALLOC((size_t)outlen + 1));
        if (buf) memcpy(buf, out, (size_t)outlen);
        stbi_image_free(out);
        if (!buf) { nn__err(ctx, "%s: out of memory for %s", fn, path); return NULL; }
        *size = outlen;
        return buf;
#else
        NN_FREE(buf);
        nn__err(ctx, "%s: %s is gzip'd; include stb_image.h before nn.h to read it", fn, path);
        return NULL;
#endif
    }
    return buf;
}

/* An IDX file: magic (0, 0, 0x08 = ubyte, ndim), big-endian dims, data. */
static unsigned char *nn__read_idx(nn_ctx *ctx, const char *path, int want_ndim, int64_t *dims, int64_t *data_at, unsigned char **file) {
    int64_t size, need = 1; int d; unsigned char *b = nn__read_file(ctx, "nn_mnist", path, &size);
    if (!b) return NULL;
    *file = b;
    if (size < 4 || b[0] != 0 || b[1] != 0 || b[2] != 0x08) { nn__err(ctx, "nn_mnist: %s is not an IDX file of unsigned bytes (bad magic number)", path); NN_FREE(b); return NULL; }
    if (b[3] != want_ndim) { nn__err(ctx, "nn_mnist: %s has %d dims; expected %d (%s)", path, b[3], want_ndim, want_ndim == 3 ? "images" : "labels"); NN_FREE(b); return NULL; }
    if (size < 4 + 4 * want_ndim) { nn__err(ctx, "nn_mnist: %s is truncated inside its header", path); NN_FREE(b); return NULL; }
    for (d = 0; d < want_ndim; d++) {
        const unsigned char *p = b + 4 + 4 * d;
        dims[d] = ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
        if (dims[d] <= 0) { nn__err(ctx, "nn_mnist: %s has size %lld at dim %d", path, (long long)dims[d], d); NN_FREE(b); return NULL; }
        need = need > ((int64_t)1 << 40) / dims[d] ? ((int64_t)1 << 40) : need * dims[d];   /* capped: no overflow, still > any file */
    }
    *data_at = 4 + 4 * want_ndim;
    if (size - *data_at != need) {
        nn__err(ctx, "nn_mnist: %s's header says %lld bytes of data but the file has %lld (%s)", path, (long long)need, (long long)(size - *data_at),
                size - *data_at < need ? "truncated" : "trailing bytes");
        NN_FREE(b); return NULL;
    }
    return b + *data_at;
}

NN_API nn_dataset *nn_mnist(nn_ctx *ctx, const char *images_path, const char *labels_path) {
    int64_t idims[3], ldims[1], iat, lat, i; unsigned char *ifile = NULL, *lfile = NULL, *img, *lab; nn_dataset *d;
    if (!ctx) return NULL;
    img = nn__read_idx(ctx, images_path, 3, idims, &iat, &ifile);
    if (!img) return NULL;
    lab = nn__read_idx(ctx, labels_path, 1, ldims, &lat, &lfile);
    if (!lab) { NN_FREE(ifile); return NULL; }
    if (idims[0] != ldims[0]) {
        nn__err(ctx, "nn_mnist: %s has %lld images but %s has %lld labels", images_path, (long long)idims[0], labels_path, (long long)ldims[0]);
        NN_FREE(ifile); NN_FREE(lfile); return NULL;
    }
    d = nn__dataset_new(ctx, "nn_mnist");
    if (!d) { NN_FREE(ifile); NN_FREE(lfile); return NULL; }
    d->len = idims[0]; d->xdim = 3; d->xshape[0] = 1; d->xshape[1] = idims[1]; d->xshape[2] = idims[2];
    d->u8 = NN__CAST(unsigned char *, NN_MALLOC((size_t)(idims[0] * idims[1] * idims[2])));
    d->labels = NN__CAST(float *, NN_MALLOC((size_t)d->len * sizeof(float)));
    if (!d->u8 || !d->labels) { nn__err(ctx, "nn_mnist: out of memory"); NN_FREE(ifile); NN_FREE(lfile); nn_dataset_free(d); return NULL; }
    memcpy(d->u8, img, (size_t)(idims[0] * idims[1] * idims[2]));
    for (i = 0; i < d->len; i++) { d->labels[i] = lab[i]; if (lab[i] + 1 > d->num_classes) d->num_classes = lab[i] + 1; }
    NN_FREE(ifile); NN_FREE(lfile);
    return d;
}

NN_API nn_dataset *nn_csv(nn_ctx *ctx, const char *path, int label_column, int header) {
    int64_t size, rows = 0, cols = -1, line = 1, r = 0, cap = 0; unsigned char *b; char *p, *end; nn_dataset *d; float *vals = NULL;
    if (!ctx) return NULL;
    b = nn__read_file(ctx, "nn_csv", path, &size);
    if (!b) return NULL;
    b[size] = 0;
    p = (char *)b;
    if (header) { while (*p && *p != '\n') p++; if (*p) p++; line++; }
    for (; *p; line++) {
        int64_t c = 0;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p == '\n') { p++; continue; }           /* blank line */
        if (!*p) break;
        for (;;) {
            double v = strtod(p, &end);
            if (end != p && !(v >= -3.4028234663852886e38 && v <= 3.4028234663852886e38)) {
                nn__err(ctx, "nn_csv: %s line %lld, column %lld: %.*s is not a finite float32 number", path, (long long)line, (long long)(c + 1), (int)(end - p), p);
                NN_FREE(vals); NN_FREE(b); return NULL;
            }
            if (end == p) {
                nn__err(ctx, "nn_csv: %s line %lld, column %lld: \"%.20s\" is not a number", path, (long long)line, (long long)(c + 1), p);
                NN_FREE(vals); NN_FREE(b); return NULL;
            }
            if (r + 1 > cap) {
                int64_t nc = cap ? 2 * cap : 1024; float *nv = NN__CAST(float *, NN_REALLOC(vals, (size_t)nc * sizeof(float)));
                if (!nv) { nn__err(ctx, "nn_csv: out of memory"); NN_FREE(vals); NN_FREE(b); return NULL; }
                vals = nv; cap = nc;
            }
            vals[r++] = (float)v; c++;
            p = end;
            while (*p == ' ' || *p == '\t' || *p == '\r') p++;
            if (*p == ',') { p++; continue; }
            if (*p == '\n' || !*p) { if (*p) p++; break; }
            nn__err(ctx, "nn_csv: %s line %lld: unexpected \"%c\" after column %lld", path, (long long)line, *p, (long long)c);
            NN_FREE(vals); NN_FREE(b); return NULL;
        }
        if (cols < 0) cols = c;
        else if (c != cols) {
            nn__err(ctx, "nn_csv: %s line %lld has %lld columns; the first row has %lld", path, (long long)line, (long long)c, (long long)cols);
            NN_FREE(vals); NN_FREE(b); return NULL;
        }
        rows++;
    }
    NN_FREE(b);
    if (rows == 0) { nn__err(ctx, "nn_csv: %s has no rows of numbers", path); NN_FREE(vals); return NULL; }
    if (label_column >= cols || (label_column < 0 && label_column != -1)) {
        nn__err(ctx, "nn_csv: label_column %d but %s has %lld columns", label_column, path, (long long)cols);
        NN_FREE(vals); return NULL;
    }
    d = nn__dataset_new(ctx, "nn_csv");
    if (!d) { NN_FREE(vals); return NULL; }
    d->len = rows; d->xdim = 1; d->xshape[0] = cols - (label_column >= 0);
    d->f32 = NN__CAST(float *, NN_MALLOC((size_t)(rows * (d->xshape[0] ? d->xshape[0] : 1)) * sizeof(float)));
    d->labels = NN__CAST(float *, NN_MALLOC((size_t)rows * sizeof(float)));
    if (!d->f32 || !d->labels) { nn__err(ctx, "nn_csv: out of memory"); NN_FREE(vals); nn_dataset_free(d); return NULL; }
    for (r = 0; r < rows; r++) {
        int64_t c, k = 0;
        d->labels[r] = label_column >= 0 ? vals[r * cols + label_column] : 0.0f;
        for (c = 0; c < cols; c++) if (c != label_column) d->f32[r * d->xshape[0] + k++] = vals[r * cols + c];
        if (label_column >= 0 && d->labels[r] >= 0 && d->labels[r] < 16777216.0f && d->labels[r] == (float)(int64_t)d->labels[r]
            && d->labels[r] + 1 > d->num_classes) d->num_classes = (int64_t)d->labels[r] + 1;
    }
    NN_FREE(vals);
    return d;
}
#endif /* NN_NO_STDIO */

/* bilinear resize of (C, H, W) to (C, OH, OW), as F.interpolate(mode='bilinear', align_corners=False) */
static void nn__resize_bilinear(float *out, const float *x, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    int64_t c, oy, ox;
    float sh = (float)H / (float)OH, sw = (float)W / (float)OW;
    for (oy = 0; oy < OH; oy++) {
        float sy = sh * ((float)oy + 0.5f) - 0.5f, ly;
        int64_t y0, y1;
        if (sy < 0) sy = 0;
        y0 = (int64_t)sy; y1 = y0 < H - 1 ? y0 + 1 : y0; ly = sy - (float)y0;
        for (ox = 0; ox < OW; ox++) {
            float sx = sw * ((float)ox + 0.5f) - 0.5f, lx;
            int64_t x0, x1;
            if (sx < 0) sx = 0;
            x0 = (int64_t)sx; x1 = x0 < W - 1 ? x0 + 1 : x0; lx = sx - (float)x0;
            for (c = 0; c < C; c++) {
                const float *p = x + c * H * W;
                out[(c * OH + oy) * OW + ox] = (1.0f - ly) * ((1.0f - lx) * p[y0 * W + x0] + lx * p[y0 * W + x1])
                                             + ly * ((1.0f - lx) * p[y1 * W + x0] + lx * p[y1 * W + x1]);
            }
        }
    }
}

#if defined(STBI_VERSION) && !defined(NN_NO_STDIO)
#if defined(__unix__) || defined(__APPLE__)
#include <dirent.h>
#define NN__HAVE_DIRENT 1
#endif
#endif

#if defined(NN__HAVE_DIRENT)
static int nn__cmpstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }
/* sorted names in a directory (no dot files); caller frees each and the array */
static char **nn__list_dir(const char *path, int *n, int dirs_only) {
    DIR *dir = opendir(path); struct dirent *e; char **names = NULL; int cap = 0;
    *n = 0;
    if (!dir) return NULL;
    while ((e = readdir(dir))) {
        char full[4096]; DIR *sub;
        if (e->d_name[0] == '.') continue;
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        sub = opendir(full);
        if (sub) closedir(sub);
        if ((sub != NULL) != dirs_only) continue;
        if (*n == cap) {
            char **nn = NN__CAST(char **, NN_REALLOC(names, (size_t)(cap ? 2 * cap : 64) * sizeof(char *)));
            if (!nn) break;
            names = nn; cap = cap ? 2 * cap : 64;
        }
        names[*n] = NN__CAST(char *, NN_MALLOC(strlen(e->d_name) + 1));
        if (!names[*n]) break;
        strcpy(names[(*n)++], e->d_name);
    }
    closedir(dir);
    if (*n) qsort(names, (size_t)*n, sizeof(char *), nn__cmpstr);
    return names;
}
static void nn__free_list(char **l, int n) { int i; for (i = 0; i < n; i++) NN_FREE(l[i]); NN_FREE(l); }
#endif

#ifndef NN_NO_STDIO
NN_API nn_dataset *nn_image_folder(nn_ctx *ctx, const char *root, int channels, int64_t h, int64_t w) {
#if defined(NN__HAVE_DIRENT)
    char **classes; int nc, c, k, ok = 1; int64_t total = 0, at = 0, P; nn_dataset *d; float *tmp = NULL, *rs = NULL;
    if (!ctx) return NULL;
    if (!root || (channels != 1 && channels != 3) || h <= 0 || w <= 0) { nn__err(ctx, "nn_image_folder: needs a root, channels 1 or 3 and a positive size"); return NULL; }
    classes = nn__list_dir(root, &nc, 1);
    if (!classes || nc == 0) { nn__err(ctx, "nn_image_folder: %s is not a folder with one sub-folder per class", root); nn__free_list(classes, nc); return NULL; }
    for (c = 0; c < nc; c++) {
        char dir[4096]; int nf; char **files;
        snprintf(dir, sizeof dir, "%s/%s", root, classes[c]);
        files = nn__list_dir(dir, &nf, 0);
        total += nf;
        nn__free_list(files, nf);
    }
    d = nn__dataset_new(ctx, "nn_image_folder");
    if (!d) { nn__free_list(classes, nc); return NULL; }
    P = channels * h * w;
    d->len = total; d->xdim = 3; d->xshape[0] = channels; d->xshape[1] = h; d->xshape[2] = w; d->num_classes = nc;
    d->u8 = NN__CAST(unsigned char *, NN_MALLOC((size_t)(total * P + 1)));
    d->labels = NN__CAST(float *, NN_MALLOC((size_t)(total + 1) * sizeof(float)));
    rs = NN__CAST(float *, NN_MALLOC((size_t)P * sizeof(float)));
    if (!d->u8 || !d->labels || !rs) { nn__err(ctx, "nn_image_folder: out of memory"); ok = 0; }
    for (c = 0; c < nc && ok; c++) {
        char dir[4096]; int nf; char **files;
        snprintf(dir, sizeof dir, "%s/%s", root, classes[c]);
        files = nn__list_dir(dir, &nf, 0);
        for (k = 0; k < nf && ok; k++) {
            char path[8192]; int iw, ih, ic; int64_t i, q; unsigned char *px;
            snprintf(path, sizeof path, "%s/%s", dir, files[k]);
            px = stbi_load(path, &iw, &ih, &ic, channels);
            if (!px) { nn__err(ctx, "nn_image_folder: %s is not an image stb_image can read (%s)", path, stbi_failure_reason()); ok = 0; break; }
            NN_FREE(tmp);
            tmp = NN__CAST(float *, NN_MALLOC((size_t)iw * (size_t)ih * (size_t)channels * sizeof(float)));
            if (!tmp) { stbi_image_free(px); nn__err(ctx, "nn_image_folder: out of memory"); ok = 0; break; }
            for (q = 0; q < channels; q++) for (i = 0; i < (int64_t)iw * ih; i++) tmp[q * iw * ih + i] = px[i * channels + q] * (1.0f / 255.0f);
            stbi_image_free(px);
            nn__resize_bilinear(rs, tmp, channels, ih, iw, h, w);
            for (i = 0; i < P; i++) { float v = rs[i] * 255.0f + 0.5f; d->u8[at * P + i] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v); }
            d->labels[at++] = (float)c;
        }
        nn__free_list(files, nf);
    }
    NN_FREE(tmp); NN_FREE(rs);
    nn__free_list(classes, nc);
    if (!ok) { nn_dataset_free(d); return NULL; }
    return d;
#else
    (void)root; (void)channels; (void)h; (void)w;
    nn__err(ctx, "nn_image_folder: needs stb_image.h included before nn.h (and a POSIX system for listing folders)");
    return NULL;
#endif
}
#endif /* NN_NO_STDIO */

/* ---- transforms ---- */

NN_API nn_transform nn_resize(int64_t h, int64_t w) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_RESIZE; t.size[0] = h; t.size[1] = w; return t; }
NN_API nn_transform nn_grayscale(int n) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_GRAYSCALE; t.size[0] = n ? n : 1; return t; }
NN_API nn_transform nn_random_rotation(float degrees) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_RANDOM_ROTATION; t.f[0] = degrees; return t; }
NN_API nn_transform nn_color_jitter(float brightness, float contrast) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_COLOR_JITTER; t.f[0] = brightness; t.f[1] = contrast; return t; }
NN_API nn_transform nn_random_crop(int64_t size, int64_t padding) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_RANDOM_CROP; t.size[0] = size; t.size[1] = padding; return t; }
NN_API nn_transform nn_random_horizontal_flip(float p) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_RANDOM_HORIZONTAL_FLIP; t.f[0] = p; return t; }
NN_API nn_transform nn_normalize(int channels, const float *mean, const float *std) {
    nn_transform t; int c;
    memset(&t, 0, sizeof t); t.kind = NN_NORMALIZE; t.size[0] = channels;
    for (c = 0; c < channels && c < 4; c++) { t.f[c] = mean ? mean[c] : 0.0f; t.f[4 + c] = std ? std[c] : 1.0f; }
    return t;
}

/* the shape after t, or 0 with an error */
static int nn__transform_shape(nn_ctx *ctx, const nn_transform *t, int64_t *s) {
    switch (t->kind) {
    case NN_RESIZE: if (t->size[0] <= 0 || t->size[1] <= 0) { nn__err(ctx, "nn_resize: size %lldx%lld must be positive", (long long)t->size[0], (long long)t->size[1]); return 0; }
        s[1] = t->size[0]; s[2] = t->size[1]; return 1;
    case NN_GRAYSCALE: if (s[0] != 1 && s[0] != 3) { nn__err(ctx, "nn_grayscale: the image has %lld channels; expected 1 or 3", (long long)s[0]); return 0; }
        s[0] = t->size[0]; return 1;
    case NN_RANDOM_CROP: if (t->size[0] <= 0 || t->size[0] > s[1] + 2 * t->size[1] || t->size[0] > s[2] + 2 * t->size[1]) {
            nn__err(ctx, "nn_random_crop: crop %lld is larger than the padded image %lldx%lld", (long long)t->size[0], (long long)(s[1] + 2 * t->size[1]), (long long)(s[2] + 2 * t->size[1])); return 0; }
        s[1] = s[2] = t->size[0]; return 1;
    case NN_NORMALIZE: if (t->size[0] != s[0]) { nn__err(ctx, "nn_normalize: %lld means and stds for an image of %lld channels", (long long)t->size[0], (long long)s[0]); return 0; }
        return 1;
    case NN_COLOR_JITTER: if (s[0] != 1 && s[0] != 3) { nn__err(ctx, "nn_color_jitter: the image has %lld channels; expected 1 or 3", (long long)s[0]); return 0; }
        return 1;
    default: return 1;
    }
}

static float nn__gray_mean(const float *x, int64_t C, int64_t HW) {
    double s = 0; int64_t i;
    for (i = 0; i < HW; i++) s += C == 3 ? 0.2989f * x[i] + 0.587f * x[HW + i] + 0.114f * x[2 * HW + i] : x[i];
    return (float)(s / (double)HW);
}

NN_API int nn_apply_transforms(nn_ctx *ctx, const nn_transform *ts, int n, const float *x, const int64_t *shape,
                               float *out, int64_t *out_shape, uint64_t *rng) {
    int64_t s[3], ns[3], i, c, y, xx; int k; float *buf[2] = { NULL, NULL }; const float *cur = x; int which = 0; int64_t maxn;
    uint64_t local = 0;
    if (!rng) rng = &local;
    memcpy(s, shape, sizeof s);
    maxn = s[0] * s[1] * s[2];
    memcpy(ns, s, sizeof ns);
    for (k = 0; k < n; k++) { if (!nn__transform_shape(ctx, &ts[k], ns)) return 0; if (ns[0] * ns[1] * ns[2] > maxn) maxn = ns[0] * ns[1] * ns[2]; }
    /* two scratch images in the arena: transforms ping-pong between them */
    buf[0] = nn__scratch(ctx, maxn); buf[1] = nn__scratch(ctx, maxn);
    if (!buf[0] || !buf[1]) { nn__err(ctx, "nn_apply_transforms: out of memory"); return 0; }
    for (k = 0; k < n; k++) {
        const nn_transform *t = &ts[k];
        float *o = buf[which];
        int64_t HW = s[1] * s[2];
        memcpy(ns, s, sizeof ns);
        nn__transform_shape(ctx, t, ns);
        switch (t->kind) {
        case NN_RESIZE: nn__resize_bilinear(o, cur, s[0], s[1], s[2], ns[1], ns[2]); break;
        case NN_GRAYSCALE:
            for (i = 0; i < HW; i++) {
                float g = s[0] == 3 ? 0.2989f * cur[i] + 0.587f * cur[HW + i] + 0.114f * cur[2 * HW + i] : cur[i];
                for (c = 0; c < ns[0]; c++) o[c * HW + i] = g;
            }
            break;
        case NN_RANDOM_ROTATION: {   /* counter-clockwise by a, about the centre, nearest neighbour, fill 0 */
            float a = nn__uniform_ab(rng, -t->f[0], t->f[0]) * 0.017453292519943295f, ca = cosf(a), sa = sinf(a);
            float cy = (float)s[1] * 0.5f, cx = (float)s[2] * 0.5f;
            for (y = 0; y < s[1]; y++) for (xx = 0; xx < s[2]; xx++) {
                float dx = (float)xx + 0.5f - cx, dy = (float)y + 0.5f - cy;
                float sx = ca * dx - sa * dy + cx, sy = sa * dx + ca * dy + cy;
                int64_t ix = (int64_t)floorf(sx), iy = (int64_t)floorf(sy);
                for (c = 0; c < s[0]; c++)
                    o[c * HW + y * s[2] + xx] = (ix >= 0 && ix < s[2] && iy >= 0 && iy < s[1]) ? cur[c * HW + iy * s[2] + ix] : 0.0f;
            }
        } break;
        case NN_COLOR_JITTER: {   /* brightness and contrast in random order, as torchvision */
            float b = t->f[0] > 0 ? nn__uniform_ab(rng, t->f[0] < 1 ? 1 - t->f[0] : 0, 1 + t->f[0]) : 1.0f;
            float ct = t->f[1] > 0 ? nn__uniform_ab(rng, t->f[1] < 1 ? 1 - t->f[1] : 0, 1 + t->f[1]) : 1.0f;
            int contrast_first = nn__uniform01(rng) < 0.5f, step;
            memcpy(o, cur, (size_t)(s[0] * HW) * sizeof(float));
            for (step = 0; step < 2; step++) {
                if ((step == 0) != contrast_first) { for (i = 0; i < s[0] * HW; i++) { float v = o[i] * b; o[i] = v < 0 ? 0 : v > 1 ? 1 : v; } }
                else {
                    float m = nn__gray_mean(o, s[0], HW);
                    for (i = 0; i < s[0] * HW; i++) { float v = ct * o[i] + (1.0f - ct) * m; o[i] = v < 0 ? 0 : v > 1 ? 1 : v; }
                }
            }
        } break;
        case NN_RANDOM_CROP: {
            int64_t p = t->size[1], sz = t->size[0], top, left;
            top = (int64_t)(nn__uniform01(rng) * (float)(s[1] + 2 * p - sz + 1)); left = (int64_t)(nn__uniform01(rng) * (float)(s[2] + 2 * p - sz + 1));
            if (top > s[1] + 2 * p - sz) top = s[1] + 2 * p - sz;
            if (left > s[2] + 2 * p - sz) left = s[2] + 2 * p - sz;
            for (c = 0; c < s[0]; c++) for (y = 0; y < sz; y++) for (xx = 0; xx < sz; xx++) {
                int64_t iy = top + y - p, ix = left + xx - p;
                o[(c * sz + y) * sz + xx] = (iy >= 0 && iy < s[1] && ix >= 0 && ix < s[2]) ? cur[c * HW + iy * s[2] + ix] : 0.0f;
            }
        } break;
        case NN_RANDOM_HORIZONTAL_FLIP:
            if (nn__uniform01(rng) < t->f[0]) { for (c = 0; c < s[0]; c++) for (y = 0; y < s[1]; y++) for (xx = 0; xx < s[2]; xx++) o[c * HW + y * s[2] + xx] = cur[c * HW + y * s[2] + (s[2] - 1 - xx)]; }
            else memcpy(o, cur, (size_t)(s[0] * HW) * sizeof(float));
            break;
        case NN_NORMALIZE:
            for (c = 0; c < s[0]; c++) {
                float m = t->f[c], sd = t->f[4 + c];
                for (i = 0; i < HW; i++) o[c * HW + i] = (cur[c * HW + i] - m) / sd;
            }
            break;
        default: nn__err(ctx, "nn_apply_transforms: unknown transform %d", (int)t->kind); return 0;
        }
        cur = o; which ^= 1;
        memcpy(s, ns, sizeof s);
    }
    memcpy(out, cur, (size_t)(s[0] * s[1] * s[2]) * sizeof(float));
    memcpy(out_shape, s, sizeof s);
    return 1;
}

/* ---- DataLoader ---- */

struct nn_dataloader {
    nn_dataset *d;
    nn_dataloader_opts o;
    int64_t *order, pos, sample, out_shape[3];
    uint64_t rng;
    nn_tensor *x, *y;
    float *raw;
};

NN_API nn_dataloader *nn_dataloader_new(nn_dataset *d, nn_dataloader_opts o) {
    nn_dataloader *dl; int64_t i, s[3] = { 1, 1, 1 }, xs[NN_MAX_DIMS], ys[2]; int k;
    if (!d) return NULL;
    if (d->xdim < 1 || d->xdim > 3 || d->ydim < 0 || !d->get) { nn__err(d->ctx, "nn_dataloader_new: the dataset's xdim is %d (1 to 3 allowed) or it has no get function", d->xdim); return NULL; }
    if (o.batch_size < 0 || d->len <= 0) { nn__err(d->ctx, "nn_dataloader_new: batch_size %lld for %lld samples", (long long)o.batch_size, (long long)d->len); return NULL; }
    if (o.batch_size == 0) o.batch_size = 1;
    if (o.ntransforms && d->xdim != 3) { nn__err(d->ctx, "nn_dataloader_new: transforms need image samples (C, H, W)"); return NULL; }
    dl = NN__CAST(nn_dataloader *, NN_MALLOC(sizeof(nn_dataloader)));
    if (!dl) { nn__err(d->ctx, "nn_dataloader_new: out of memory"); return NULL; }
    memset(dl, 0, sizeof *dl);
    dl->d = d; dl->o = o; dl->rng = o.seed ^ 0x5eedULL;
    memcpy(s, d->xshape, sizeof s);
    if (d->xdim == 3) for (k = 0; k < o.ntransforms; k++) if (!nn__transform_shape(d->ctx, &o.transforms[k], s)) { NN_FREE(dl); return NULL; }
    memcpy(dl->out_shape, s, sizeof s);
    dl->sample = nn__prod(s, d->xdim);
    dl->order = NN__CAST(int64_t *, NN_MALLOC((size_t)d->len * sizeof(int64_t)));
    dl->raw = NN__CAST(float *, NN_MALLOC((size_t)(nn__prod(d->xshape, d->xdim) + (d->ydim ? d->ydim : 1)) * sizeof(float)));
    xs[0] = o.batch_size; for (k = 0; k < d->xdim; k++) xs[k + 1] = s[k];
    ys[0] = o.batch_size; ys[1] = d->ydim;
    dl->x = nn_empty(d->ctx, d->xdim + 1, xs);
    dl->y = nn_empty(d->ctx, d->ydim ? 2 : 1, ys);
    if (!dl->order || !dl->raw || !dl->x || !dl->y) { nn_dataloader_free(dl); nn__err(d->ctx, "nn_dataloader_new: out of memory"); return NULL; }
    for (i = 0; i < d->len; i++) dl->order[i] = i;
    dl->pos = -1;     /* an epoch starts at the first call */
    return dl;
}

NN_API int64_t nn_dataloader_len(const nn_dataloader *dl) {
    if (!dl) return 0;
    return dl->o.drop_last ? dl->d->len / dl->o.batch_size : (dl->d->len + dl->o.batch_size - 1) / dl->o.batch_size;
}

NN_API int nn_dataloader_next(nn_dataloader *dl, nn_tensor **x, nn_tensor **y) {
    nn_dataset *d; int64_t b, k, B, Y;
    if (!dl) return 0;
    d = dl->d; B = dl->o.batch_size; Y = d->ydim ? d->ydim : 1;
    if (dl->pos < 0) {                        /* a new epoch: shuffle as torch.randperm would */
        dl->pos = 0;
        if (dl->o.shuffle) for (k = d->len - 1; k > 0; k--) {
            int64_t j = (int64_t)(nn__splitmix(&dl->rng) % (uint64_t)(k + 1)), t = dl->order[k];
            dl->order[k] = dl->order[j]; dl->order[j] = t;
        }
    }
    b = d->len - dl->pos < B ? d->len - dl->pos : B;
    if (b <= 0 || (dl->o.drop_last && b < B)) { dl->pos = -1; return 0; }
    for (k = 0; k < b; k++) {
        float *xo = NN__F32(dl->x) + k * dl->sample;
        if (!d->get(d, dl->order[dl->pos + k], dl->o.ntransforms ? dl->raw : xo, NN__F32(dl->y) + k * Y)) { dl->pos = -1; return 0; }
        if (dl->o.ntransforms) {
            int64_t os[3]; nn__mark m = nn__arena_mark(d->ctx);
            int ok = nn_apply_transforms(d->ctx, dl->o.transforms, dl->o.ntransforms, dl->raw, d->xshape, xo, os, &dl->rng);
            nn__arena_rewind(d->ctx, m);
            if (!ok) { dl->pos = -1; return 0; }
        }
    }
    dl->pos += b;
    dl->x->shape[0] = b; dl->x->numel = b * dl->sample;
    dl->y->shape[0] = b; dl->y->numel = b * Y;
    *x = dl->x; *y = dl->y;
    return 1;
}

NN_API void nn_dataloader_free(nn_dataloader *dl) {
    if (!dl) return;
    nn_free(dl->x); nn_free(dl->y);
    NN_FREE(dl->order); NN_FREE(dl->raw);
    NN_FREE(dl);
}

/* ==== training utilities ==== */

#ifndef NN_NO_STDIO
#include <time.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define NN__ISATTY(fd) isatty(fd)
#else
#define NN__ISATTY(fd) 0
#endif

static double nn__now(void) {
#if defined(CLOCK_MONOTONIC) && (defined(__unix__) || defined(__APPLE__))
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}
static void nn__fmt_time(char *b, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(b, n, "%02ld:%02ld", t / 60, t % 60);
}

NN_API void nn_progress_begin(nn_progress *p, const char *desc, int64_t total) {
    memset(p, 0, sizeof *p);
    snprintf(p->desc, sizeof p->desc, "%s", desc ? desc : "");
    p->total = total; p->start = nn__now(); p->tty = NN__ISATTY(2); p->postfix = NAN; p->last_decile = -1;
}

static void nn__progress_draw(nn_progress *p, int final) {
    double el = nn__now() - p->start, rate = el > 0 ? (double)p->n / el : 0, frac = p->total > 0 ? (double)p->n / (double)p->total : 0;
    char e[40], r[40], bar[64], post[40];
    int w = 10, full = (int)(frac * w * 8), i;
    nn__fmt_time(e, sizeof e, el);
    nn__fmt_time(r, sizeof r, rate > 0 ? (double)(p->total - p->n) / rate : 0);
    for (i = 0; i < w; i++) { int cell = full - 8 * i; bar[i] = cell >= 8 ? '#' : cell > 0 ? (char)('0' + cell) : ' '; }
    bar[w] = 0;
    post[0] = 0;
    if (p->postfix == p->postfix) snprintf(post, sizeof post, ", loss=%.4f", p->postfix);
    fprintf(stderr, "%s%s: %3d%%|%s| %lld/%lld [%s<%s, %.2fit/s%s]%s", p->tty ? "\r" : "", p->desc, (int)(frac * 100), bar,
            (long long)p->n, (long long)p->total, e, r, rate, post, (p->tty && !final) ? "" : "\n");
    fflush(stderr);
}

NN_API void nn_progress_update(nn_progress *p, int64_t n, float loss) {
    double now;
    if (!p) return;
    p->n += n;
    if (loss == loss) p->postfix = loss;
    now = nn__now();
    if (p->tty) { if (now - p->last_print >= 0.1 || p->n >= p->total) { p->last_print = now; nn__progress_draw(p, 0); } }
    else {
        int dec = p->total > 0 ? (int)(10 * p->n / p->total) : 0;
        if (dec != p->last_decile && dec < 10) { p->last_decile = dec; nn__progress_draw(p, 0); }
    }
}
NN_API void nn_progress_end(nn_progress *p) { if (p) nn__progress_draw(p, 1); }
#endif /* NN_NO_STDIO */

NN_API void nn_confusion_matrix(const int64_t *y_true, const int64_t *y_pred, int64_t n, int k, int64_t *cm) {
    int64_t i;
    memset(cm, 0, (size_t)k * (size_t)k * sizeof(int64_t));
    for (i = 0; i < n; i++) if (y_true[i] >= 0 && y_true[i] < k && y_pred[i] >= 0 && y_pred[i] < k) cm[y_true[i] * k + y_pred[i]]++;
}
NN_API double nn_accuracy(const int64_t *cm, int k) {
    int64_t t = 0, c = 0; int i, j;
    for (i = 0; i < k; i++) for (j = 0; j < k; j++) { t += cm[i * k + j]; if (i == j) c += cm[i * k + j]; }
    return t ? (double)c / (double)t : 0.0;
}
NN_API void nn_class_scores(const int64_t *cm, int k, double *precision, double *recall, double *f1, int64_t *support) {
    int i, j;
    for (i = 0; i < k; i++) {
        int64_t tp = cm[i * k + i], pred = 0, sup = 0; double p, r;
        for (j = 0; j < k; j++) { pred += cm[j * k + i]; sup += cm[i * k + j]; }
        p = pred ? (double)tp / (double)pred : 0.0;
        r = sup ? (double)tp / (double)sup : 0.0;
        if (precision) precision[i] = p;
        if (recall) recall[i] = r;
        if (f1) f1[i] = p + r > 0 ? 2 * p * r / (p + r) : 0.0;
        if (support) support[i] = sup;
    }
}

/* sklearn rounds with Python's format, which rounds half to even on the binary value: printf does the same */
NN_API int nn_classification_report(const int64_t *cm, int k, const char *const *names, int digits, char *buf, size_t size) {
    double P[256], R[256], F[256], mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0; int64_t S[256], total = 0;
    int i, width = 12, len = 0; char nm[32];
    if (k <= 0 || k > 256 || !buf) return -1;
    nn_class_scores(cm, k, P, R, F, S);
    for (i = 0; i < k; i++) {
        int l = names ? (int)strlen(names[i]) : snprintf(nm, sizeof nm, "%d", i);
        if (l > width) width = l;
        total += S[i];
        mp += P[i]; mr += R[i]; mf += F[i];
        wp += P[i] * (double)S[i]; wr += R[i] * (double)S[i]; wf += F[i] * (double)S[i];
    }
    if (width < digits) width = digits;
#define NN__OUT(...) do { int w_ = snprintf(buf + len, size > (size_t)len ? size - (size_t)len : 0, __VA_ARGS__); if (w_ < 0 || (size_t)(len + w_) >= size) return -1; len += w_; } while (0)
    NN__OUT("%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support");
    for (i = 0; i < k; i++) {
        if (!names) snprintf(nm, sizeof nm, "%d", i);
        NN__OUT("%*s  %9.*f %9.*f %9.*f %9lld\n", width, names ? names[i] : nm, digits, P[i], digits, R[i], digits, F[i], (long long)S[i]);
    }
    NN__OUT("\n%*s  %9s %9s %9.*f %9lld\n", width, "accuracy", "", "", digits, nn_accuracy(cm, k), (long long)total);
    NN__OUT("%*s  %9.*f %9.*f %9.*f %9lld\n", width, "macro avg", digits, mp / k, digits, mr / k, digits, mf / k, (long long)total);
    NN__OUT("%*s  %9.*f %9.*f %9.*f %9lld\n", width, "weighted avg", digits, total ? wp / (double)total : 0, digits, total ? wr / (double)total : 0,
            digits, total ? wf / (double)total : 0, (long long)total);
#undef NN__OUT
    return len;
}

#ifndef NN_NO_STDIO
NN_API void nn_print_confusion_matrix(const int64_t *cm, int k) {
    int i, j; int64_t mx = 0; int w;
    char num[32];
    for (i = 0; i < k * k; i++) if (cm[i] > mx) mx = cm[i];
    w = snprintf(num, sizeof num, "%lld", (long long)mx) + 1;
    for (i = 0; i < k; i++) {
        printf(i == 0 ? "[[" : " [");
        for (j = 0; j < k; j++) printf("%*lld", j ? w : w - 1, (long long)cm[i * k + j]);
        printf(i == k - 1 ? "]]\n" : "]\n");
    }
}

static void nn__range(const float *const *ys, int nc, int n, float *lo, float *hi) {
    int c, i;
    *lo = INFINITY; *hi = -INFINITY;
    for (c = 0; c < nc; c++) for (i = 0; i < n; i++) { float v = ys[c][i]; if (v == v) { if (v < *lo) *lo = v; if (v > *hi) *hi = v; } }
    if (!(*lo <= *hi)) { *lo = 0; *hi = 1; }
    if (*hi - *lo < 1e-12f) { *hi += 0.5f; *lo -= 0.5f; }
}

NN_API void nn_plot_terminal(const char *title, const float *const *ys, const char *const *labels, int nc, int n, int height) {
    static const char marks[] = "*o+x#@";
    int W = n < 60 ? (n > 1 ? n : 2) : 60, r, col, c; float lo, hi; char line[64];
    if (n <= 0 || nc <= 0) return;
    if (height < 4) height = 10;
    nn__range(ys, nc, n, &lo, &hi);
    printf("%s\n", title ? title : "");
    for (r = 0; r < height; r++) {
        float top = hi - (hi - lo) * r / (height - 1), bottom = hi - (hi - lo) * (r + 1) / (height - 1);
        memset(line, ' ', (size_t)W); line[W] = 0;
        for (c = 0; c < nc; c++) for (col = 0; col < W; col++) {
            int i = n == 1 ? 0 : (int)((double)col * (n - 1) / (W - 1) + 0.5);
            float v = ys[c][i];
            if (v <= top + 1e-12f && (v > bottom || (r == height - 1 && v >= bottom - 1e-12f))) line[col] = marks[c % 6];
        }
        printf("%10.4g |%s\n", top, line);
    }
    printf("%10s +", "");
    for (col = 0; col < W; col++) putchar('-');
    printf("\n%10s  1%*d (epoch)\n", "", W - 1, n);
    for (c = 0; c < nc; c++) printf("%10s  %c %s\n", "", marks[c % 6], labels ? labels[c] : "");
}

NN_API int nn_plot_png(nn_ctx *ctx, const char *path, const float *const *ys, const char *const *labels, int nc, int n) {
#ifdef INCLUDE_STB_IMAGE_WRITE_H
    static const unsigned char colors[6][3] = { { 31, 119, 180 }, { 255, 127, 14 }, { 44, 160, 44 }, { 214, 39, 40 }, { 148, 103, 189 }, { 140, 86, 75 } };
    int W = 640, H = 400, L = 50, T = 20, PW = W - L - 20, PH = H - T - 40, c, i, x, y, ok; float lo, hi;
    unsigned char *img;
    (void)labels;   /* drawn only with stb_easy_font */
    if (!ctx || !path || n <= 0 || nc <= 0) return 0;
    img = NN__CAST(unsigned char *, NN_MALLOC((size_t)W * H * 3));
    if (!img) { nn__err(ctx, "nn_plot_png: out of memory"); return 0; }
    memset(img, 255, (size_t)W * H * 3);
    nn__range(ys, nc, n, &lo, &hi);
    for (x = L; x <= L + PW; x++) for (y = 0; y < 2; y++) memset(img + ((T + PH + y) * W + x) * 3, 0, 3);   /* axes */
    for (y = T; y <= T + PH; y++) for (x = 0; x < 2; x++) memset(img + (y * W + L - x) * 3, 0, 3);
    for (i = 1; i < 5; i++) for (x = L; x <= L + PW; x += 4) memset(img + ((T + PH * i / 5) * W + x) * 3, 200, 3);   /* grid */
    for (c = 0; c < nc; c++) for (i = 0; i + 1 < (n > 1 ? n : 2); i++) {
        float v0 = ys[c][i], v1 = ys[c][n > 1 ? i + 1 : i];
        int x0 = L + (n > 1 ? PW * i / (n - 1) : 0), x1 = L + (n > 1 ? PW * (i + 1) / (n - 1) : PW), s, steps;
        float y0 = T + PH * (hi - v0) / (hi - lo), y1 = T + PH * (hi - v1) / (hi - lo);
        steps = (x1 - x0) + (int)fabsf(y1 - y0) + 1;
        for (s = 0; s <= steps; s++) {
            int px = x0 + (x1 - x0) * s / steps, py = (int)(y0 + (y1 - y0) * s / steps), dx, dy;
            for (dy = -1; dy <= 1; dy++) for (dx = -1; dx <= 1; dx++) {
                int qx = px + dx, qy = py + dy;
                if (qx >= 0 && qx < W && qy >= 0 && qy < H) memcpy(img + (qy * W + qx) * 3, colors[c % 6], 3);
            }
        }
    }
    for (c = 0; c < nc; c++) for (y = 0; y < 10; y++) for (x = 0; x < 20; x++) memcpy(img + ((T + 5 + 16 * c + y) * W + L + PW - 30 + x) * 3, colors[c % 6], 3);   /* legend swatches */
#ifdef INCLUDE_STB_EASY_FONT_H
    {   /* text, when stb_easy_font.h was included: legend names, y range, x range */
        char text[160];
        for (c = 0; c <= nc + 3; c++) {
            float xq = 0, yq = 0;
            if (c < nc) { snprintf(text, sizeof text, "%s", labels && labels[c] ? labels[c] : ""); xq = (float)(L + PW - 36 - stb_easy_font_width(text)); yq = (float)(T + 6 + 16 * c); }
            else if (c == nc) { snprintf(text, sizeof text, "%.4g", hi); xq = 2; yq = (float)T; }
            else if (c == nc + 1) { snprintf(text, sizeof text, "%.4g", lo); xq = 2; yq = (float)(T + PH - 8); }
            else if (c == nc + 2) { snprintf(text, sizeof text, "1"); xq = (float)L; yq = (float)(T + PH + 8); }
            else { snprintf(text, sizeof text, "%d", n); xq = (float)(L + PW - 10); yq = (float)(T + PH + 8); }
            nn__draw_text(img, W, H, xq, yq, text);
        }
    }
#endif
    ok = stbi_write_png(path, W, H, 3, img, W * 3) != 0;
    NN_FREE(img);
    if (!ok) nn__err(ctx, "nn_plot_png: cannot write %s", path);
    return ok;
#else
    (void)ys; (void)labels; (void)nc; (void)n;
    if (ctx) nn__err(ctx, "nn_plot_png: include stb_image_write.h before nn.h to write %s", path ? path : "a PNG");
    return 0;
#endif
}
#endif /* NN_NO_STDIO */

#endif /* NN_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the nn.h authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication for the benefit of the public at large and to
the detriment of our heirs and successors. We intend this dedication to be an
overt act of relinquishment in perpetuity of all present and future rights to
this software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
