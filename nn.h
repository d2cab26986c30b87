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
           nn_backward(f, NULL, 0);                    // f.backward()
           printf("%g %g %g\n", nn_f32(x->grad)[0], nn_f32(y->grad)[0], nn_f32(z->grad)[0]);
           const char *err = nn_error(ctx);
           if (err) printf("error: %s\n", err);
           nn_arena_reset(ctx);                        // once per step: frees q, f
           nn_free(x); nn_free(y); nn_free(z);         // tensors you created
           nn_ctx_free(ctx);
           return 0;
       }

   TENSORS
       A tensor has a dtype (NN_FLOAT32, or NN_INT64 for labels and indices), a
       shape in PyTorch's order and a storage that its views share. Read values
       with nn_f32(t)[i] or nn_i64(t)[i] (NULL and an error for the wrong dtype),
       or nn_item(t) for one element. A boolean mask is an int64 tensor
       (nonzero is True): nn_masked_fill, attention masks.

   MEMORY MODEL
       Tensors you create (nn_zeros, nn_from_array, nn_randn, ...) are yours
       until nn_free. Tensors that ops return (nn_add, nn_matmul, views, the
       autograd graph) live in the context's step arena until
       nn_arena_reset(ctx), which you call once per training step; using one
       after the reset is an error, not a crash. Backward gives each
       intermediate gradient back as soon as it is used (nn_retain_grad keeps
       one), so a step's peak is the activations plus the live gradients.
       After the first step the arena is big enough and a step makes no heap
       allocation; a loop that never resets gets a warning in the log. To keep
       a value past the reset, copy it out: nn_item() or nn_keep().
       Modules own their parameters, buffers and children (see nn_module_free).
       nn_memory_in_use(ctx) counts the bytes; nn_set_memory_limit(ctx, n)
       caps them (an allocation past the cap fails with an error, not a crash).

   ERROR MODEL
       Nothing aborts your program because of what you passed. A bad shape,
       a NULL, a wrong dim, an index out of range: the function returns NULL
       (or 0), the message ("nn_matmul: a is (64, 784) and b is (128, 10); ...")
       goes to the context's logger (stderr by default, replace it with
       nn_set_logger), and the first error sticks in the context until
       nn_clear_error. Ops given a NULL input return NULL, so a step can be
       checked once: the NULL is reported unless an error is already recorded
       (the earlier failure that made it), and only when some other argument
       gives the context to report to (nn_relu(NULL) cannot).
       nn_set_detect_anomaly(ctx, 1) makes the first op whose output (or
       whose backward's gradient) holds NaN or inf such an error. What
       changes state is all or nothing: nn_optim_step and nn_scheduler_step
       do nothing while the context holds an error (so a step checked once
       at its end never applies partial gradients), a step that would write
       NaN or infinity is refused, and a load or step that runs out of memory
       leaves everything as it was.

   OPTIONS
       Every options struct comes pre-filled with PyTorch's defaults by its
       nn_x_opts_default() function; each field holds PyTorch's value as is
       (0 means 0). Change the fields you need:
           nn_adam_opts o = nn_adam_opts_default();  o.weight_decay = 0.0;

   CONFIG MACROS (define before including)
       NN_STATIC                 make every function static (private copy)
       NN_API                    linkage of public functions (default extern)
       NN_MALLOC/NN_REALLOC/NN_FREE  your allocator: define all three or none
       NN_NO_MALLOC              no heap: nn.h allocates only from nn_use_buffer's buffer
       NN_ARENA_MIN_BLOCK        smallest block the step arena takes (default 1 MiB)
       NN_ASSERT(x)              check of the library's own invariants
       NN_NO_STDIO               no stdio at all: no printing or files (logger, print, dot,
                                 loaders); messages formatted by nn.h itself
       NN_NO_SIMD                plain C kernels only (no AVX-512/AVX2/NEON paths)
       NN_NO_THREADS             no worker pool (nn_set_num_threads keeps 1)
       NN_USE_CBLAS              large products to cblas_sgemm (link your CBLAS)
       NN_MPI                    data parallel over MPI (mpicc; see "distributed")
       NN_CUDA                   the CUDA backend, in the file nvcc compiles, with nn_cuda.h
                                 included after nn.h (a first slice: see the notes in nn_cuda.h)
       NN_MAX_DIMS               most dims a tensor can have (default 8)
       NN_MAX_IMAGE_PIXELS       most pixels an image file may claim (default 2^25,
                                 e.g. 8192 x 4096); larger ones are refused before decoding
     Switched on by what you include before nn.h (Debian's libstb-dev):
       stb_image.h               image folders and gzip'd IDX files
       stb_image_write.h         PNG plots (stb_easy_font.h adds their text)
     The AVX-512/AVX2 kernels are chosen at run time (no -march needed):
     nn_get_cpu_capability(); threads: nn_set_num_threads(ctx, n), default 1.

   SECTIONS: each opens with a banner "==== name ====" (grep for it), first
   the declarations, then the implementation in the same order:
       config, public types, context, tensors, ops, autograd, modules,
       losses, optimizers, schedulers, serialisation, data, training utilities,
       distributed
   (the implementation adds "math", "memory" and "cpu" before ops). Ops are listed once, in
   NN__OP_LIST: each op's enum, name and forward/backward kernels.

   LICENSE: MIT or public domain (Unlicense), your choice; see the end of
   this file. Version history: CHANGELOG.md.
*/

/* ==== config ==== */
#ifndef NN_H
#define NN_H
#define NN_VERSION "0.2.0"
#define NN_H_INCLUDED 1 /* a companion header checks this to know nn.h came first */
/* NN_CUDA switches the CUDA backend on (nn_cuda.h, in the translation unit nvcc compiles) and
   is also the device's enum value below: a -DNN_CUDA (or #define NN_CUDA) is made to name
   itself, so `NN_CUDA = 1` in nn_device still reads as the enumerator and #ifdef NN_CUDA stays
   true. */
#ifdef NN_CUDA
#undef NN_CUDA
#define NN_CUDA NN_CUDA
#endif

#include <stddef.h>
#include <stdint.h>
#ifndef NN_NO_STDIO
#include <stdio.h>
#endif
#ifdef NN_MPI
#include <mpi.h>    /* the distributed section's communicators: build with mpicc */
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

/* the most pixels (width x height) an image file may claim before nn_image_folder decodes it */
#ifndef NN_MAX_IMAGE_PIXELS
#define NN_MAX_IMAGE_PIXELS ((int64_t)1 << 25)
#endif

/* reduce over every dim: nn_sum(x, NN_ALL, 0) is PyTorch's x.sum() */
#define NN_ALL 1024

#ifdef __cplusplus
extern "C" {
#endif

/* ==== public types ==== */

typedef enum nn_device { NN_CPU = 0, NN_CUDA = 1, NN_DEVICE_COUNT } nn_device;

typedef struct nn_ctx nn_ctx;
typedef struct nn_tensor nn_tensor;

/* >>ops The registry: one row per op, its enum, its printed name and its kernel family
   (nn__<family>_forward / nn__<family>_backward). The autograd engine, the graph printer
   and each device's kernel table (the CPU's is the only one in this build) are built
   from this one list. */
#define NN__OP_LIST(X) \
    X(LEAF, "leaf", leaf) \
    X(ADD, "add", binary) X(SUB, "sub", binary) X(MUL, "mul", binary) X(DIV, "div", binary) \
    X(POW, "pow", binary) X(MAXIMUM, "maximum", binary) X(MINIMUM, "minimum", binary) X(WHERE, "where", binary) \
    X(ADD_SCALAR, "add_scalar", unary) X(MUL_SCALAR, "mul_scalar", unary) X(DIV_SCALAR, "div_scalar", unary) \
    X(POW_SCALAR, "pow_scalar", unary) X(NEG, "neg", unary) X(EXP, "exp", unary) X(LOG, "log", unary) \
    X(SQRT, "sqrt", unary) X(ABS, "abs", unary) X(CLAMP, "clamp", unary) X(RELU, "relu", unary) \
    X(LEAKY_RELU, "leaky_relu", unary) X(SIGMOID, "sigmoid", unary) X(TANH, "tanh", unary) \
    X(GELU, "gelu", unary) X(SILU, "silu", unary) X(SOFTPLUS, "softplus", unary) \
    X(SIN, "sin", unary) X(COS, "cos", unary) \
    X(SOFTMAX, "softmax", softmax) X(LOG_SOFTMAX, "log_softmax", softmax) \
    X(SUM, "sum", reduce) X(MEAN, "mean", reduce) X(VAR, "var", reduce) X(STD, "std", reduce) \
    X(MAX, "max", reduce) X(MIN, "min", reduce) X(LOGSUMEXP, "logsumexp", reduce) \
    X(MATMUL, "matmul", matmul) X(LINEAR, "linear", linear) X(GATHER, "gather", gather) X(INDEX_SELECT, "index_select", index_select) \
    X(ONE_HOT, "one_hot", one_hot) X(TRIL, "tril", tri) X(TRIU, "triu", tri) X(MASKED_FILL, "masked_fill", masked_fill) \
    X(TOPK, "topk", topk) \
    X(RESHAPE, "reshape", view) X(TRANSPOSE, "transpose", view) X(PERMUTE, "permute", view) \
    X(SLICE, "slice", view) X(SELECT, "select", view) X(SQUEEZE, "squeeze", view) X(UNSQUEEZE, "unsqueeze", view) \
    X(COPY, "copy", copy) X(CAT, "cat", cat) X(TO_DTYPE, "to_dtype", to_dtype) \
    X(CONV2D, "conv2d", conv2d) X(CONV_TRANSPOSE2D, "conv_transpose2d", conv_transpose2d) \
    X(MAX_POOL2D, "max_pool2d", pool) X(AVG_POOL2D, "avg_pool2d", pool) \
    X(ADAPTIVE_AVG_POOL2D, "adaptive_avg_pool2d", pool) X(DROPOUT, "dropout", dropout) \
    X(BATCH_NORM, "batch_norm", norm) X(LAYER_NORM, "layer_norm", norm) \
    X(BCE_WITH_LOGITS, "bce_with_logits", bce_logits) X(BCE, "binary_cross_entropy", bce) \
    X(HUBER, "huber", huber) X(NLL_LOSS, "nll_loss", nll)

#define NN__OP_ENUM(name, str, family) NN_OP_##name,
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
    int64_t seq;                    /* an op result's number in its step, from 1 (anomaly messages) */
    const char *fn;                 /* the function that made an op result (anomaly messages) */
    size_t alloc_bytes;             /* a persistent tensor's allocation (nn_memory_in_use) */
    nn_storage storage_inline;
};

typedef void (*nn_log_fn)(void *user, const char *message);

/* ==== context ==== */
/* the step arena, the RNG, errors and grad mode */

NN_API nn_ctx *nn_ctx_new(void);                     /* a new context, or NULL when out of memory */
NN_API void nn_ctx_free(nn_ctx *ctx);                /* frees the arena; your tensors stay yours (nn_free them before or after) */
NN_API void nn_arena_reset(nn_ctx *ctx);             /* once per step: frees every op result and graph */
NN_API size_t nn_arena_capacity(const nn_ctx *ctx);  /* bytes the arena holds; it never shrinks (nn_ctx_free gives them back) */
NN_API size_t nn_arena_peak(const nn_ctx *ctx);      /* the most arena bytes in use at once since nn_ctx_new */
NN_API const char *nn_error(const nn_ctx *ctx);      /* first error since the last clear, or NULL */
NN_API void nn_clear_error(nn_ctx *ctx);             /* forget the sticky error */
NN_API void nn_set_logger(nn_ctx *ctx, nn_log_fn fn, void *user); /* NULL fn: silent */
NN_API int nn_set_grad_enabled(nn_ctx *ctx, int enabled); /* torch.set_grad_enabled; returns the old mode */
NN_API int nn_is_grad_enabled(const nn_ctx *ctx);   /* 1 when ops record the graph */
/* with torch.no_grad(): a scoped block; the old mode comes back when the block ends
   (leave it by its end, not by return, break or goto):
       NN_NO_GRAD(ctx) { logits = nn_forward(model, x); }                    */
#define NN_NO_GRAD(ctx) \
    for (int nn__no_grad_ = nn_set_grad_enabled((ctx), 0) + 2; nn__no_grad_ >= 2; \
         nn__no_grad_ = (nn_set_grad_enabled((ctx), nn__no_grad_ - 2), 0))
/* torch.autograd.set_detect_anomaly: while on, every op's float32 output is checked for NaN and
   inf as it is made, and every gradient each backward step produces. The first op that makes
   one from finite inputs fails like any op (NULL, later ops pass NULL on) with an error naming
   the op, its inputs' shapes and names and its place in the step ("op #7 since the last
   nn_arena_reset"); in backward, nn_backward stops and returns 0 naming the op whose backward
   made it and which input's gradient. Overflow counts (exp(100) is inf). Off by default: then
   each op pays one branch. Returns the old mode. */
NN_API int nn_set_detect_anomaly(nn_ctx *ctx, int enabled); /* returns the old mode (0 for a NULL ctx) */
NN_API int nn_is_anomaly_enabled(const nn_ctx *ctx); /* 1 while anomaly detection is on */
/* A cap on the tensor memory of this context (0, the default: none); 1 on success. What counts
   is what nn_memory_in_use reports. An allocation that would pass the cap fails before anything
   is allocated: the function returns NULL (or 0) with an error naming the limit. A cap below
   what is in use is allowed: what is held stays, and allocations fail until use drops. */
NN_API int nn_set_memory_limit(nn_ctx *ctx, size_t bytes); /* 1, or 0 for a NULL ctx */
/* Bytes of tensor memory the context holds now, as allocated: the step arena's blocks (its
   capacity, not only the part in use), the arena's tensor headers, and every tensor you
   created (nn_zeros, ..., gradients of your tensors, optimizer state, module parameters) that
   is not yet freed, header and data. Not counted: modules', optimizers' and datasets' own
   bookkeeping and the context itself. */
NN_API size_t nn_memory_in_use(const nn_ctx *ctx);   /* bytes held now (0 for a NULL ctx) */
/* Memory from a buffer you give, for firmware with no heap: after nn_use_buffer(buf, bytes),
   every allocation nn.h makes (contexts, tensors, the arena, modules, optimizers) comes from
   buf, first fit with freed blocks merged; one that does not fit fails with an error like any
   other. Blocks made before it stay valid and go back to the heap when freed. Build with
   NN_NO_MALLOC to leave malloc out of the program: then nn.h allocates only from the buffer.
   One buffer serves the whole program; nn_use_buffer(NULL, 0) goes back to the heap. It is
   refused (0 and a message) while blocks in the current buffer are live. The arena grows in
   blocks of at least NN_ARENA_MIN_BLOCK bytes (1 MiB; define it smaller for small RAM). */
NN_API int nn_use_buffer(void *buf, size_t bytes);   /* 1, or 0: buf NULL with bytes > 0, bytes < 256, or live blocks */
NN_API size_t nn_buffer_in_use(void);                /* bytes of the buffer in blocks now, headers included */
NN_API size_t nn_buffer_peak(void);                  /* the most bytes in blocks at once since nn_use_buffer */
NN_API void nn_manual_seed(nn_ctx *ctx, uint64_t seed); /* torch.manual_seed for this context's RNG */
/* Threads: torch.set_num_threads for this context. The default is 1: nn.h starts no thread
   unless asked. Returns the count in effect (1 with NN_NO_THREADS or without pthreads). */
NN_API int nn_set_num_threads(nn_ctx *ctx, int n);
NN_API int nn_get_num_threads(const nn_ctx *ctx);
/* The CPU kernels: "avx512", "avx2" (with FMA), "neon" or "default" (plain C), chosen at run
   time; what this CPU and build run, like torch.backends.cpu.get_cpu_capability(). */
NN_API const char *nn_get_cpu_capability(void);
/* Runs ctx on a lower path (for tests and comparisons); 0 and an error if not available. */
NN_API int nn_set_cpu_capability(nn_ctx *ctx, const char *name);

/* ==== tensors ==== */
/* ---- creation (persistent: free with nn_free) ---- */

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
/* torch.multinomial(probs, num_samples, replacement): for each row of probs (1-D (n) or 2-D
   (rows, n) float32 weights, >= 0 and finite, not all 0 in a row; they need not sum to 1),
   num_samples indices drawn with probability weight / row sum from the context's RNG; without
   replacement each index comes at most once (num_samples <= n). int64 (num_samples) or
   (rows, num_samples) in the step arena, no gradient. Sampling a policy's action, a token. */
NN_API nn_tensor *nn_multinomial(nn_tensor *probs, int64_t num_samples, int replacement);
/* A next token, as nanoGPT's generate: logits (N, V) or (V) divided by temperature (> 0); with top_k > 0
   only the top_k largest of each row stay (ties at the k-th all stay), the rest -inf; softmax; one draw
   per row from the context's RNG (nn_multinomial). int64 (N, 1) or (1) in the step arena, no gradient. */
NN_API nn_tensor *nn_sample_logits(nn_tensor *logits, float temperature, int64_t top_k);
NN_API nn_tensor *nn_zeros_like(const nn_tensor *t);
NN_API nn_tensor *nn_keep(const nn_tensor *t);       /* persistent, detached copy of any tensor */
/* frees a tensor you created (no-op on op results and NULL); while this step's graph reads it
   (an op or view made from it), the memory waits for nn_arena_reset */
NN_API void nn_free(nn_tensor *t);

/* ---- queries and in-place helpers (no graph) ---- */

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

/* ==== ops ==== */
/* ---- shape ops (views share storage with their input) ---- */

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

/* ---- elementwise ops (full broadcasting) ---- */

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
NN_API nn_tensor *nn_sin(nn_tensor *x);
NN_API nn_tensor *nn_cos(nn_tensor *x);

/* ---- masks and selection ----
   nn.h has no bool dtype: a boolean mask is an int64 tensor, nonzero meaning True. */

NN_API nn_tensor *nn_tril(nn_tensor *x, int64_t diagonal);  /* torch.tril over the last 2 dims; float32 (with gradient) or int64 */
NN_API nn_tensor *nn_triu(nn_tensor *x, int64_t diagonal);  /* torch.triu, the same way */
/* x.masked_fill(mask, value): mask int64, broadcast to x's shape; no gradient through filled places */
NN_API nn_tensor *nn_masked_fill(nn_tensor *x, nn_tensor *mask, float value);
/* torch.topk(x, k, dim, largest, sorted=True): the k largest (smallest when largest is 0) along dim,
   in order, with gradient; their int64 indices into *indices when it is not NULL */
NN_API nn_tensor *nn_topk(nn_tensor *x, int64_t k, int dim, int largest, nn_tensor **indices);

/* ---- activations ---- */

NN_API nn_tensor *nn_relu(nn_tensor *x);
NN_API nn_tensor *nn_leaky_relu(nn_tensor *x, float negative_slope);   /* PyTorch default 0.01 */
NN_API nn_tensor *nn_sigmoid(nn_tensor *x);
NN_API nn_tensor *nn_tanh(nn_tensor *x);
NN_API nn_tensor *nn_gelu(nn_tensor *x);                               /* exact (erf) form */
NN_API nn_tensor *nn_silu(nn_tensor *x);
NN_API nn_tensor *nn_softplus(nn_tensor *x, float beta, float threshold); /* PyTorch defaults 1, 20 */
NN_API nn_tensor *nn_softmax(nn_tensor *x, int dim);
NN_API nn_tensor *nn_log_softmax(nn_tensor *x, int dim);

/* ---- reductions (dim may be NN_ALL; keepdim as PyTorch) ---- */

NN_API nn_tensor *nn_sum(nn_tensor *x, int dim, int keepdim);
NN_API nn_tensor *nn_mean(nn_tensor *x, int dim, int keepdim);
NN_API nn_tensor *nn_var(nn_tensor *x, int dim, int correction, int keepdim); /* correction 1 = unbiased (PyTorch default) */
NN_API nn_tensor *nn_std(nn_tensor *x, int dim, int correction, int keepdim);
NN_API nn_tensor *nn_max(nn_tensor *x, int dim, int keepdim, nn_tensor **indices); /* values; indices (int64, optional; full reductions share ties in backward) */
NN_API nn_tensor *nn_min(nn_tensor *x, int dim, int keepdim, nn_tensor **indices);
NN_API nn_tensor *nn_argmax(nn_tensor *x, int dim, int keepdim);      /* int64 indices, no gradient; NN_ALL: into the flattened x */
NN_API nn_tensor *nn_logsumexp(nn_tensor *x, int dim, int keepdim);

/* ---- matmul and indexing (indices are int64) ---- */

NN_API nn_tensor *nn_matmul(nn_tensor *a, nn_tensor *b);  /* torch.matmul: 1-D, 2-D, batched, broadcast batch dims */
/* F.linear: x (*, in) @ weight (out, in)^T + bias (out) or NULL -> (*, out), one op (no transposed view) */
NN_API nn_tensor *nn_linear(nn_tensor *x, nn_tensor *weight, nn_tensor *bias);
NN_API nn_tensor *nn_gather(nn_tensor *x, int dim, nn_tensor *index);      /* torch.gather; index int64, x's ndim */
NN_API nn_tensor *nn_index_select(nn_tensor *x, int dim, nn_tensor *index); /* index is 1-D */
NN_API nn_tensor *nn_one_hot(nn_tensor *index, int64_t num_classes);      /* index.shape + (num_classes,); -1 = max+1 */
NN_API nn_tensor *nn_embedding(nn_tensor *weight, nn_tensor *index);       /* F.embedding: index.shape + (D,) */

/* ---- neural-network functions (torch.nn.functional) ---- */

/* Options: every field holds PyTorch's value as is (0 is 0). Start from the defaults:
       nn_conv_opts co = nn_conv_opts_default();  co.padding = 1;
   conv: stride 1, padding 0, dilation 1, groups 1, output_padding 0 (transposed conv only). */
typedef struct nn_conv_opts { int64_t stride, padding, dilation, groups, output_padding; } nn_conv_opts;
/* pool: nn_pool_opts_default(k) is kernel_size k, stride k, padding 0, dilation 1 (max pool only),
   ceil_mode 0, count_include_pad 1 (avg pool only). */
typedef struct nn_pool_opts { int64_t kernel_size, stride, padding, dilation; int ceil_mode, count_include_pad; } nn_pool_opts;
NN_API nn_conv_opts nn_conv_opts_default(void);
NN_API nn_pool_opts nn_pool_opts_default(int64_t kernel_size);

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
/* F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0, is_causal=False, scale=None):
   softmax(query @ key^T * scale + mask) @ value. query (..., L, E), key (..., S, E), value (..., S, Ev)
   -> (..., L, Ev); the leading dims broadcast. attn_mask (NULL, or broadcast to (..., L, S)): int64 is
   boolean, nonzero meaning "takes part" (a row with none gives NaN, as PyTorch); float32 is added to the
   scores. is_causal: query i sees keys 0..i (attn_mask must be NULL). scale NAN: 1/sqrt(E). dropout_p
   (in [0, 1]) drops attention weights with the context's RNG whenever it is above 0, as the function does. */
NN_API nn_tensor *nn_scaled_dot_product_attention(nn_tensor *query, nn_tensor *key, nn_tensor *value, nn_tensor *attn_mask,
                                                  float dropout_p, int is_causal, float scale);

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

/* ==== modules ==== */
/* torch.nn: modules and layers */

/* A module is a layer, a container, or a model you define. Like torch.nn.Module it holds
   parameters and buffers registered by name, and children registered by name, nested to any
   depth; the names give PyTorch's state-dict keys ("features.0.weight", "block.inner.scale").

   Ownership (who frees what):
   - A module you create (nn_module_new, nn_linear_new, ...) is yours: nn_module_free it, unless
     you add it to a parent. The FIRST nn_module_add takes your reference over: from then on
     the parent frees it, and you must not nn_module_free it (nn.h refuses, with a message).
     Each further nn_module_add of the same module (Sequential(lin, relu, lin)) adds one
     reference, so a shared module is freed once, with its last parent.
     nn_module_retain gives you one more reference of your own (free it once more), e.g. to
     keep a child after its parents go.
         nn_module *m = nn_module_new(ctx, "Net", net_forward, &net);
         net.fc1 = nn_module_add(m, "fc1", nn_linear_new(ctx, 784, 10, 1));  // m owns fc1
         ...
         nn_module_free(m);                                                 // frees fc1 too
   - nn_module_free(m) drops your reference; at the last reference it frees m, drops m's
     references to its children, and nn_frees each registered tensor once.
   - Registering a tensor (parameter or buffer) adds a reference to it: you keep yours and
     nn_free it when you no longer need it (right away, if the module is its only user).
     A tensor registered in two modules (tied weights) is freed with the last of them.
   - A call that fails (NULL, a bad or duplicate name, a cycle, out of memory) changes
     nothing and frees nothing: the child or tensor you passed is still yours, and the model
     is usable as before. */

typedef struct nn_module nn_module;

/* A forward with one input and one output (Linear, ReLU, most models): returns m(x). */
typedef nn_tensor *(*nn_forward_fn)(nn_module *m, nn_tensor *x);

/* A forward with several inputs and outputs: attention takes (query, key, value, masks),
   recurrent layers give (output, h_n, ...). in[0..nin-1] may hold NULL for an optional input
   (PyTorch's None). Write out[k] only for k < nout. Return how many outputs the module gives
   in all (more than nout is fine: the caller did not ask for the rest), or -1 on failure.
   An output may be NULL where PyTorch returns None (attention weights not asked for). */
typedef int (*nn_forward_n_fn)(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout);

/* One entry of a state dict: parameters and buffers in PyTorch's order and names. */
typedef struct nn_state_entry { const char *name; nn_tensor *tensor; int is_buffer; } nn_state_entry;

typedef struct nn__mod_slot nn__mod_slot;     /* private: a registered tensor */
typedef struct nn__mod_child nn__mod_child;   /* private: a registered child */

/* Fields above the line are yours to read (type, ctx, training) and to set (user);
   the rest belongs to the library. */
struct nn_module {
    const char *type;              /* "Linear", "Conv2d", ..., or your model's name (copied) */
    nn_ctx *ctx;
    void *user;                    /* yours, for the models you define; never freed by nn.h */
    int training;                  /* 1 in train mode (the default), 0 in eval mode */
    /* ---- private ---- */
    nn_forward_fn forward1;
    nn_forward_n_fn forward_n;
    int refs;                      /* parents plus your references */
    int nparents;
    int floating;                  /* the creator's reference, not yet taken by a parent */
    nn__mod_slot *slot;                /* parameters and buffers, in registration order */
    int nslot, slot_cap;
    nn__mod_child *kid;                /* children, in registration order */
    int nkid, kid_cap;
    uint64_t stamp;                /* bumped by every registration */
    uint64_t state_stamp;          /* the tree's stamps when the state below was built */
    nn_state_entry *state;         /* nn_module_state's cache */
    char *state_names;
    int nstate;
    void *summary;                 /* nn_module_summary's walk, while it runs */
};

/* ---- building modules ---- */

/* Your module, with a one-input forward. type is copied ("Module" when NULL). forward may be
   NULL for a holder of parameters and children that is never called (nn_forward then fails). */
NN_API nn_module *nn_module_new(nn_ctx *ctx, const char *type, nn_forward_fn forward, void *user);
/* Your module, with a forward over several inputs and outputs. */
NN_API nn_module *nn_module_new_n(nn_ctx *ctx, const char *type, nn_forward_n_fn forward, void *user);
/* self.name = nn.Parameter(t): registers t (float32, one you created) as a parameter and sets
   t.requires_grad. Adds a reference to t (yours stays yours). Returns t, or NULL on error. */
NN_API nn_tensor *nn_module_register_parameter(nn_module *m, const char *name, nn_tensor *t);
/* self.register_buffer(name, t): state saved with the model, never trained (any dtype).
   Adds a reference to t. Returns t, or NULL on error. */
NN_API nn_tensor *nn_module_register_buffer(nn_module *m, const char *name, nn_tensor *t);
/* m.<name> = t for an existing parameter (dotted name: "decoder.weight"), to tie weights:
   the old tensor loses m's reference, t gains one. Do it before building an optimizer.
   Returns t, or NULL on error (nothing changed). */
NN_API nn_tensor *nn_module_set_parameter(nn_module *m, const char *name, nn_tensor *t);
/* self.name = child. Names are unique per module (parameters, buffers and children share
   them) and hold no '.'. On success the parent owns the child (see Ownership above) and
   child is returned; on error (NULL, bad or duplicate name, child is parent or one of its
   ancestors, another ctx) nothing changes, NULL is returned and child is still yours. */
NN_API nn_module *nn_module_add(nn_module *parent, const char *name, nn_module *child);
/* nn.Sequential(*mods): children "0", "1", ..., forward feeds each output to the next.
   The same module may appear twice. On error (ctx NULL, n < 0, mods NULL, a NULL entry)
   returns NULL and the modules in mods are all still yours. */
NN_API nn_module *nn_sequential_new(nn_ctx *ctx, nn_module **mods, int n);
NN_API nn_module *nn_module_retain(nn_module *m);    /* one more reference of yours; returns m */
NN_API void nn_module_free(nn_module *m);            /* drops your reference (see Ownership above) */

/* ---- running modules ---- */

NN_API nn_tensor *nn_forward(nn_module *m, nn_tensor *x);  /* m(x): the first output, NULL on error */
/* outs = m(*in): fills out[0..nout-1] and returns how many outputs the module gives
   (>= nout), or -1 on error (with out[] all NULL). nout may be 0 (out NULL). */
NN_API int nn_forward_n(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout);
NN_API void nn_module_train(nn_module *m, int mode);        /* m.train(mode): 0 is m.eval() */
NN_API void nn_module_eval(nn_module *m);                   /* m.eval() */
/* m.to(device): every parameter and buffer (and their gradients) moved in place, so pointers to
   them (an optimizer's) stay valid; as in PyTorch, move the model before making its optimizer.
   1, or 0 with an error (NN_CUDA needs nn_cuda.h in the build); after a failure every tensor
   is back on its device. Saving and loading (nn_save_model, checkpoints) work on either device. */
NN_API int nn_module_to(nn_module *m, nn_device device);

/* ---- looking inside ---- */

/* state_dict(): every key, PyTorch's order (own parameters, own buffers, then each child);
   a shared module or tied tensor appears under each of its names. Returns the count; the
   entries belong to m and stay valid until m or a module under it registers something or
   is freed. */
NN_API int nn_module_state(nn_module *m, const nn_state_entry **entries);
/* parameters(): each parameter once (shared modules and tied weights deduplicated), in
   state-dict order. Returns the total count; writes the first max into out (may be NULL). */
NN_API int nn_module_parameters(nn_module *m, nn_tensor **out, int max);
NN_API int nn_module_buffers(nn_module *m, nn_tensor **out, int max);  /* buffers(), the same way */
NN_API int64_t nn_module_num_parameters(nn_module *m);     /* sum of p.numel() over parameters() */
NN_API nn_tensor *nn_module_parameter(nn_module *m, const char *name); /* get_parameter("fc1.weight"), or NULL */
NN_API nn_tensor *nn_module_buffer(nn_module *m, const char *name);    /* get_buffer("bn.running_mean"), or NULL */
NN_API nn_module *nn_module_child(nn_module *m, const char *name);     /* get_submodule("features.0"), or NULL */
NN_API int nn_module_num_children(const nn_module *m);                 /* len(list(m.children())) */
/* the k-th direct child (registration order) and its name (may be NULL), or NULL */
NN_API nn_module *nn_module_child_at(nn_module *m, int k, const char **name);
#ifndef NN_NO_STDIO
/* Runs m's forward once on example_input with grad off (its side effects happen) and prints
   one line per leaf layer (output shape, parameter count), then the total of parameters(). */
NN_API void nn_module_summary(nn_module *m, nn_tensor *example_input);
#endif

/* ---- layers, with PyTorch's default initialisation from the context's RNG ---- */
/* Parameters and buffers are reached by name: nn_module_parameter(lin, "weight"). */

/* weight (out, in), bias (out) when bias != 0 */
NN_API nn_module *nn_linear_new(nn_ctx *ctx, int64_t in_features, int64_t out_features, int bias);
/* weight (out, in/groups, k, k), bias (out); o from nn_conv_opts_default() */
NN_API nn_module *nn_conv2d_new(nn_ctx *ctx, int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                nn_conv_opts o, int bias);
/* weight (in, out/groups, k, k), bias (out) */
NN_API nn_module *nn_conv_transpose2d_new(nn_ctx *ctx, int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                          nn_conv_opts o, int bias);
NN_API nn_module *nn_max_pool2d_new(nn_ctx *ctx, nn_pool_opts o);    /* o from nn_pool_opts_default(kernel_size) */
NN_API nn_module *nn_avg_pool2d_new(nn_ctx *ctx, nn_pool_opts o);
NN_API nn_module *nn_adaptive_avg_pool2d_new(nn_ctx *ctx, int64_t out_h, int64_t out_w);
NN_API nn_module *nn_dropout_new(nn_ctx *ctx, float p);               /* p in [0, 1]; PyTorch's default 0.5 */
/* nn.BatchNorm1d/2d(num_features, eps, momentum, affine): values verbatim (PyTorch's defaults
   are 1e-5, 0.1, 1; momentum 0 keeps the running stats). Parameters weight, bias (affine);
   buffers running_mean, running_var and num_batches_tracked (int64, 0-dim, counted in training). */
NN_API nn_module *nn_batch_norm1d_new(nn_ctx *ctx, int64_t num_features, float eps, float momentum, int affine);
NN_API nn_module *nn_batch_norm2d_new(nn_ctx *ctx, int64_t num_features, float eps, float momentum, int affine);
/* nn.LayerNorm(normalized_shape, eps, elementwise_affine): eps verbatim (PyTorch's default 1e-5) */
NN_API nn_module *nn_layer_norm_new(nn_ctx *ctx, int normalized_ndim, const int64_t *normalized_shape, float eps,
                                    int elementwise_affine);
NN_API nn_module *nn_flatten_new(nn_ctx *ctx, int start_dim, int end_dim);   /* nn.Flatten() is (1, -1) */
/* weight (num_embeddings, embedding_dim) ~ N(0, 1); input: int64 indices */
NN_API nn_module *nn_embedding_new(nn_ctx *ctx, int64_t num_embeddings, int64_t embedding_dim);
NN_API nn_module *nn_relu_new(nn_ctx *ctx);
NN_API nn_module *nn_leaky_relu_new(nn_ctx *ctx, float negative_slope);     /* PyTorch's default 0.01 */
NN_API nn_module *nn_sigmoid_new(nn_ctx *ctx);
NN_API nn_module *nn_tanh_new(nn_ctx *ctx);
NN_API nn_module *nn_gelu_new(nn_ctx *ctx);
NN_API nn_module *nn_silu_new(nn_ctx *ctx);
NN_API nn_module *nn_softmax_new(nn_ctx *ctx, int dim);
NN_API nn_module *nn_log_softmax_new(nn_ctx *ctx, int dim);

/* ---- torch.nn.init: in place, no graph, float32, from the tensor's context RNG ---- */

/* kaiming's mode='fan_in' | 'fan_out' */
typedef enum nn_fan_mode { NN_FAN_IN = 0, NN_FAN_OUT = 1 } nn_fan_mode;

NN_API void nn_init_uniform_(nn_tensor *t, float a, float b);
NN_API void nn_init_normal_(nn_tensor *t, float mean, float std);
NN_API void nn_init_constant_(nn_tensor *t, float value);
NN_API void nn_init_zeros_(nn_tensor *t);
/* gain verbatim (PyTorch's default 1); t has 2 or more dims */
NN_API void nn_init_xavier_uniform_(nn_tensor *t, float gain);
NN_API void nn_init_xavier_normal_(nn_tensor *t, float gain);
/* nonlinearity='leaky_relu' with slope a (PyTorch's default a = 0, which is relu's gain sqrt(2)) */
NN_API void nn_init_kaiming_uniform_(nn_tensor *t, float a, nn_fan_mode mode);
NN_API void nn_init_kaiming_normal_(nn_tensor *t, float a, nn_fan_mode mode);

/* ---- recurrent layers: nn.RNN, nn.LSTM, nn.GRU and their cells ----
   PyTorch's equations, names and layouts, so a PyTorch state dict loads as it is. With G gates
   (RNN 1; LSTM 4 in the order i, f, g, o; GRU 3 in the order r, z, n), layer k's parameters are
   weight_ih_l{k} (G*H, in; layer k > 0 reads D*H), weight_hh_l{k} (G*H, H), bias_ih_l{k} and
   bias_hh_l{k} (G*H), and the same with the suffix _reverse for the backward direction; all start
   U(-1/sqrt(H), 1/sqrt(H)). The GRU's candidate is n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
   nn_forward_n inputs: RNN and GRU (input, h0), LSTM (input, h0, c0); h0 and c0 may be NULL or left
   out (zeros). input (L, N, in), (N, L, in) with batch_first, or (L, in) unbatched; h0 and c0
   (D*num_layers, N, H), or (D*num_layers, H) unbatched; D is 2 when bidirectional.
   Outputs: output (L, N, D*H) ((N, L, D*H) with batch_first), h_n (D*num_layers, N, H), and for
   the LSTM c_n. nn_forward(m, x) gives output. */
typedef enum nn_rnn_nonlinearity { NN_RNN_TANH = 0, NN_RNN_RELU = 1 } nn_rnn_nonlinearity; /* 'tanh', 'relu' */
/* num_layers=1, nonlinearity='tanh' (RNN only), bias=True, batch_first=False, dropout=0 (on every layer's
   output but the last, in training mode), bidirectional=False */
typedef struct nn_rnn_opts {
    int64_t num_layers;
    nn_rnn_nonlinearity nonlinearity;
    int bias, batch_first;
    float dropout;
    int bidirectional;
} nn_rnn_opts;
NN_API nn_rnn_opts nn_rnn_opts_default(void);
NN_API nn_module *nn_rnn_new(nn_ctx *ctx, int64_t input_size, int64_t hidden_size, nn_rnn_opts o);
NN_API nn_module *nn_lstm_new(nn_ctx *ctx, int64_t input_size, int64_t hidden_size, nn_rnn_opts o);
NN_API nn_module *nn_gru_new(nn_ctx *ctx, int64_t input_size, int64_t hidden_size, nn_rnn_opts o);
/* One step: parameters weight_ih (G*H, in), weight_hh (G*H, H), bias_ih and bias_hh (G*H) when bias.
   Inputs (input (N, in) or (in), hx (N, H) or NULL for zeros[, cx for the LSTM]); outputs h' (and c'). */
NN_API nn_module *nn_rnn_cell_new(nn_ctx *ctx, int64_t input_size, int64_t hidden_size, int bias,
                                  nn_rnn_nonlinearity nonlinearity);
NN_API nn_module *nn_lstm_cell_new(nn_ctx *ctx, int64_t input_size, int64_t hidden_size, int bias);
NN_API nn_module *nn_gru_cell_new(nn_ctx *ctx, int64_t input_size, int64_t hidden_size, int bias);

/* ---- attention and transformers ---- */

/* nn.MultiheadAttention(embed_dim, num_heads, dropout=0, bias=True, batch_first=False), and the
   forward's average_attn_weights=True */
typedef struct nn_mha_opts { float dropout; int bias, batch_first, average_attn_weights; } nn_mha_opts;
NN_API nn_mha_opts nn_mha_opts_default(void);
/* Parameters in_proj_weight (3E, E) (xavier_uniform), in_proj_bias (3E) (zeros), out_proj.weight (E, E)
   and out_proj.bias (E) (zeros), PyTorch's packed layout. nn_forward_n inputs (query, key, value,
   key_padding_mask, attn_mask); the masks may be NULL or left out. query (L, N, E) ((N, L, E) with
   batch_first, (L, E) unbatched); key and value (S, N, E). key_padding_mask (N, S); attn_mask (L, S) or
   (N*num_heads, L, S). An int64 mask here is boolean with nonzero meaning "masked out" (this module's
   convention, the opposite of nn_scaled_dot_product_attention's); a float32 mask is added to the scores.
   Outputs: attn_output, shaped as query; asking for a second (need_weights) gives the attention weights
   (N, L, S) averaged over heads, or (N, num_heads, L, S) when average_attn_weights is 0. The dropout
   acts on the weights in training mode. */
NN_API nn_module *nn_multihead_attention_new(nn_ctx *ctx, int64_t embed_dim, int64_t num_heads, nn_mha_opts o);
typedef enum nn_activation { NN_ACT_RELU = 0, NN_ACT_GELU = 1 } nn_activation;   /* 'relu', 'gelu' */
/* nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu',
   layer_norm_eps=1e-5, batch_first=False, norm_first=False) */
typedef struct nn_transformer_opts {
    int64_t dim_feedforward;
    float dropout;
    nn_activation activation;
    float layer_norm_eps;
    int batch_first, norm_first;
} nn_transformer_opts;
NN_API nn_transformer_opts nn_transformer_opts_default(void);
/* Children self_attn (MultiheadAttention), linear1, dropout, linear2, norm1, norm2, dropout1, dropout2, as
   PyTorch's. norm_first 0 (post-norm): x = norm1(x + sa(x)), x = norm2(x + ff(x)); 1 (pre-norm):
   x = x + sa(norm1(x)), x = x + ff(norm2(x)). nn_forward_n inputs (src, src_mask, src_key_padding_mask),
   the masks as MultiheadAttention's; output shaped as src. */
NN_API nn_module *nn_transformer_encoder_layer_new(nn_ctx *ctx, int64_t d_model, int64_t nhead, nn_transformer_opts o);
/* A GPT-2 block, pre-norm and causal: x = x + drop(attn(ln_1(x))), x = x + mlp(ln_2(x)). Children ln_1 and
   ln_2 (LayerNorm, eps 1e-5), attn (MultiheadAttention, batch_first, dropout on the weights), drop
   (Dropout) and mlp (Sequential: 0 Linear(E, 4E), 1 GELU, 2 Linear(4E, E), 3 Dropout). Input (N, L, E)
   -> (N, L, E); position i attends to 0..i. */
NN_API nn_module *nn_gpt_block_new(nn_ctx *ctx, int64_t n_embd, int64_t n_head, float dropout);
/* The sinusoidal table of "Attention Is All You Need": (max_len, d_model), pe[p, 2i] = sin(p / 10000^(2i/d)),
   pe[p, 2i+1] = cos(p / 10000^(2i/d)). Persistent (nn_free it). */
NN_API nn_tensor *nn_sinusoidal_encoding(nn_ctx *ctx, int64_t max_len, int64_t d_model);
/* Positional encodings added to x (L, N, d_model), or (N, L, d_model) with batch_first, then dropout:
   the sinusoidal one (PyTorch tutorial's PositionalEncoding; buffer pe (max_len, 1, d_model)) and a learned
   one (parameter weight (max_len, d_model), N(0, 1) as nn.Embedding). L must be at most max_len. */
NN_API nn_module *nn_positional_encoding_new(nn_ctx *ctx, int64_t d_model, float dropout, int64_t max_len, int batch_first);
NN_API nn_module *nn_learned_positional_encoding_new(nn_ctx *ctx, int64_t d_model, float dropout, int64_t max_len,
                                                     int batch_first);

/* ---- diffusion: DDPM (Ho et al. 2020) ---- */

typedef enum nn_beta_schedule { NN_BETA_LINEAR = 0, NN_BETA_COSINE = 1 } nn_beta_schedule;
/* The noise schedule: betas, alphas = 1 - betas, alphas_cumprod (T) float32, yours to read. */
typedef struct nn_ddpm {
    int64_t num_timesteps;
    nn_tensor *betas, *alphas, *alphas_cumprod;
} nn_ddpm;
/* T steps; linear: betas from beta_start to beta_end (the paper's 1e-4 and 0.02); cosine (Nichol and
   Dhariwal): alphas_cumprod from cos^2(((t/T + s)/(1 + s)) pi/2), s = 0.008, betas capped at 0.999
   (beta_start and beta_end unused). NULL with an error on bad values. */
NN_API nn_ddpm *nn_ddpm_new(nn_ctx *ctx, int64_t num_timesteps, nn_beta_schedule schedule, float beta_start, float beta_end);
NN_API void nn_ddpm_free(nn_ddpm *d);
/* q(x_t | x_0): sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, t int64 (N) with a step for each row of x0 (N, ...) */
NN_API nn_tensor *nn_ddpm_add_noise(const nn_ddpm *d, nn_tensor *x0, nn_tensor *noise, nn_tensor *t);
/* The training loss (Algorithm 1): t ~ U{0..T-1} per row, noise ~ N(0, I) from the context's RNG,
   F.mse_loss(model(x_t, t), noise); the model is called as nn_forward_n with inputs (x_t, t int64 (N)). */
NN_API nn_tensor *nn_ddpm_loss(const nn_ddpm *d, nn_module *model, nn_tensor *x0);
/* One reverse step (Algorithm 2): x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z,
   sigma_t^2 = beta_t, z ~ N(0, I) (none at t = 0); eps is the model's output for (x_t, t). No gradient. */
NN_API nn_tensor *nn_ddpm_step(const nn_ddpm *d, nn_tensor *eps, int64_t t, nn_tensor *x_t);
/* The timestep embedding of guided diffusion: t (N) int64 or float32 -> (N, dim), [cos(t f_i), sin(t f_i)]
   with f_i = max_period^(-i/half), half = dim/2 (a zero column last for odd dim); max_period 10000 usual. */
NN_API nn_tensor *nn_timestep_embedding(nn_tensor *t, int64_t dim, float max_period);
/* ==== losses ==== */

typedef enum nn_reduction { NN_MEAN = 0, NN_SUM = 1, NN_NONE = 2 } nn_reduction;  /* reduction='mean' is the default */

/* CrossEntropyLoss / NLLLoss options, PyTorch's fields and defaults from
   nn_cross_entropy_opts_default(): weight NULL (or per-class (C)), ignore_index -100
   (targets equal to it add nothing), reduction NN_MEAN, label_smoothing 0 (cross entropy only). */
typedef struct nn_cross_entropy_opts {
    nn_tensor *weight;
    int64_t ignore_index;
    nn_reduction reduction;
    float label_smoothing;
} nn_cross_entropy_opts;
NN_API nn_cross_entropy_opts nn_cross_entropy_opts_default(void);

NN_API nn_tensor *nn_mse_loss(nn_tensor *input, nn_tensor *target, nn_reduction r);
NN_API nn_tensor *nn_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r);
NN_API nn_tensor *nn_smooth_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float beta);  /* PyTorch's beta is 1 */
NN_API nn_tensor *nn_huber_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float delta);     /* PyTorch's delta is 1 */
/* logits (N, C) or (N, C, d...), target int64 class indices (N) or (N, d...) */
NN_API nn_tensor *nn_cross_entropy(nn_tensor *logits, nn_tensor *target, nn_cross_entropy_opts o);
NN_API nn_tensor *nn_nll_loss(nn_tensor *log_probs, nn_tensor *target, nn_cross_entropy_opts o);
/* probabilities in [0, 1]; each log clamped at -100 as PyTorch; weight broadcast to the input or NULL */
NN_API nn_tensor *nn_bce_loss(nn_tensor *probs, nn_tensor *target, nn_tensor *weight, nn_reduction r);
/* logits and multi-hot float targets of one shape, e.g. (B, K); weight broadcast or NULL; pos_weight (K) or NULL */
NN_API nn_tensor *nn_bce_with_logits(nn_tensor *logits, nn_tensor *target, nn_tensor *weight, nn_reduction r, nn_tensor *pos_weight);


/* ==== optimizers ==== */
/* torch.optim */

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
/* optimizer.step(); parameters with no grad are skipped. Returns 1 when the step was taken. It is
   refused (0, nothing changed: no parameter, state or step counter) while the context holds an
   error (gradients made after an error may be partial), when memory for the state runs out, and
   when any new parameter or state value would be NaN or infinite (a NaN or infinite gradient, or
   an overflow): the error names the parameter, its group and the element. Every update is first
   computed without writing, so a step costs about one more pass over the parameters. */
NN_API int nn_optim_step(nn_optim *o);
/* GradScaler's policy: with skip 1, a step that would write NaN or infinity is skipped with a
   warning to the logger instead of an error (training goes on); nn_optim_skipped_steps counts them */
NN_API void nn_optim_set_skip_nonfinite(nn_optim *o, int skip);
NN_API int64_t nn_optim_skipped_steps(const nn_optim *o);   /* steps skipped under that policy */
NN_API void nn_optim_zero_grad(nn_optim *o);            /* optimizer.zero_grad() (zeros, not None) */
NN_API double nn_optim_lr(const nn_optim *o, int group); /* param_groups[group]['lr']; NAN and an error if none */
NN_API void nn_optim_set_lr(nn_optim *o, int group, double lr); /* param_groups[group]['lr'] = lr (lr finite, >= 0) */
NN_API void nn_optim_free(nn_optim *o);                 /* frees the optimizer and its state, not the parameters */
/* torch.nn.utils.clip_grad_norm_ (norm_type 2, or INFINITY) and clip_grad_value_; returns the total norm */
NN_API float nn_clip_grad_norm(nn_tensor **params, int n, float max_norm, float norm_type);
NN_API void nn_clip_grad_value(nn_tensor **params, int n, float clip_value);

/* ==== schedulers ==== */
/* torch.optim.lr_scheduler */

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
/* scheduler.step(); refused (nothing changes) while the context holds an error, like nn_optim_step */
NN_API void nn_scheduler_step(nn_scheduler *s);
NN_API void nn_scheduler_step_metric(nn_scheduler *s, float metric); /* ReduceLROnPlateau.step(metric) */
NN_API double nn_scheduler_last_lr(const nn_scheduler *s, int group); /* get_last_lr()[group] */
NN_API void nn_scheduler_free(nn_scheduler *s);
/* ==== serialisation ==== */
/* safetensors files, models and training checkpoints */

typedef struct nn_dataloader nn_dataloader;   /* see the data section */

#ifndef NN_NO_STDIO
typedef struct nn_safetensors nn_safetensors;
/* Reads and checks the whole file. Limits (each an error naming it): a JSON header up to
   1 GiB, tensors up to NN_MAX_DIMS dims; dtypes F32, F64, F16, BF16, I64, I32. */
NN_API nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path);
NN_API int nn_safetensors_count(const nn_safetensors *st);
NN_API const char *nn_safetensors_name(const nn_safetensors *st, int i);
/* A new tensor (free it with nn_free) in the file's dtype family: I64 and I32 give NN_INT64,
   F32, F64, F16 and BF16 give NN_FLOAT32. NULL with an error when name is not in the file. */
NN_API nn_tensor *nn_safetensors_get(nn_safetensors *st, const char *name);
NN_API const char *nn_safetensors_meta(const nn_safetensors *st, const char *key); /* __metadata__ value or NULL */
NN_API void nn_safetensors_close(nn_safetensors *st);
/* Writes tensors (and metadata pairs, may be 0) atomically: a temporary file, then rename.
   Each tensor is written in its dtype (float32 as F32, int64 as I64, as PyTorch writes them). */
NN_API int nn_safetensors_save(nn_ctx *ctx, const char *path, const char *const *names, nn_tensor *const *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_values, int nmeta);

NN_API int nn_save_model(nn_module *m, const char *path);     /* torch.save(m.state_dict()) as safetensors */
/* m.load_state_dict(strict=True); m untouched on error. Dtypes convert as PyTorch's copy_ would
   (I64 into float32, F64/F16/BF16 into float32), except that a float with a fraction is refused
   for an int64 tensor (num_batches_tracked): the message names the tensor. */
NN_API int nn_load_model(nn_module *m, const char *path);

/* The whole training state: model, optimizer, scheduler, DataLoader (each may be NULL but
   the model), epoch, last loss, the model context's RNG, and fields of your own.
   Start from nn_checkpoint_default() and set what you have:
       nn_checkpoint ck = nn_checkpoint_default();
       ck.model = model; ck.optim = opt; ck.loader = train_loader; ck.epoch = epoch;
   Your own fields: extra_values[k] is saved under extra_names[k] and loaded back into
   extra_values[k]; extra_tensors[k] likewise under extra_tensor_names[k] (loaded into the
   same tensor: same shape, dtype converted as nn_load_model does). The checkpoint holds
   pointers only; it owns nothing. Loading changes nothing unless the whole file fits:
   every module tensor, optimizer state, scheduler, loader and extra name must be there.
   Limits: none on the number of tensors or metadata entries; names are any length. */
typedef struct nn_checkpoint {
    nn_module *model;
    nn_optim *optim;
    nn_scheduler *scheduler;
    nn_dataloader *loader;               /* epoch, position, order and RNG of the loader */
    int64_t epoch;
    double loss;
    const char *const *extra_names;      /* your numbers: names ... */
    double *extra_values;                /* ... values, saved from and loaded into */
    int nextra;
    const char *const *extra_tensor_names; /* your tensors: names ... */
    nn_tensor *const *extra_tensors;     /* ... tensors, saved from and loaded into */
    int nextra_tensors;
} nn_checkpoint;
NN_API nn_checkpoint nn_checkpoint_default(void);             /* every pointer NULL, every count 0 */
NN_API int nn_save_checkpoint(const nn_checkpoint *ck, const char *path);
/* nothing changes unless the whole file fits (a copy into a GPU tensor that fails partway, a broken
   device, returns 0 with the load partly done) */
NN_API int nn_load_checkpoint(nn_checkpoint *ck, const char *path);
#endif
/* ==== data ==== */
/* datasets, transforms, DataLoader */
/* Image folders and gzip'd IDX need stb_image: include stb_image.h before nn.h
   (and define STB_IMAGE_IMPLEMENTATION in one file). Plain IDX and CSV need nothing. */

/* A dataset (torch.utils.data.Dataset): len samples; sample i is x, float32 of shape xshape
   (C, H, W for images, F for rows; pixels scaled to [0, 1] as ToTensor does), and a target:
   a class index (int64, as PyTorch's labels) when ydim is 0, else ydim float32 numbers
   (multi-hot, regression). Every dataset is made by the library (nn_dataset_new or a reader)
   and freed with nn_dataset_free. */
typedef struct nn_dataset nn_dataset;
/* Your get: writes sample i's x (prod(xshape) floats) and its target: *label for a class
   dataset (ydim 0; y is NULL), or y[0..ydim) (label is NULL). Returns 1, or 0 on failure
   (report why through your own context if you like: the loader stops the epoch). */
typedef int (*nn_dataset_get_fn)(void *user, int64_t i, float *x, float *y, int64_t *label);
typedef void (*nn_dataset_free_fn)(void *user);
/* Your own dataset over your data `user`: xdim 1 to 3 sizes in xshape (positive), ydim >= 0,
   get required. Ownership: the dataset holds user but does not own it; nn_dataset_free calls
   free_user(user) when free_user is not NULL (pass your free function to hand user over,
   NULL to keep it yours). NULL with an error naming the argument that was wrong. */
NN_API nn_dataset *nn_dataset_new(nn_ctx *ctx, int64_t len, int xdim, const int64_t *xshape, int64_t ydim,
                                  nn_dataset_get_fn get, nn_dataset_free_fn free_user, void *user);
/* dataset[i]: x as above and the target (*label when ydim is 0, else y); 1 on success,
   0 with an error for an index out of range or a failing get. */
NN_API int nn_dataset_get(nn_dataset *d, int64_t i, float *x, float *y, int64_t *label);
NN_API int64_t nn_dataset_len(const nn_dataset *d);                 /* len(dataset); 0 for NULL */
NN_API int nn_dataset_xshape(const nn_dataset *d, int64_t *shape);  /* writes xdim sizes (up to 3); returns xdim */
NN_API int64_t nn_dataset_ydim(const nn_dataset *d);                /* 0: int64 class labels */
NN_API int64_t nn_dataset_num_classes(const nn_dataset *d);         /* readers: 1 + largest label; yours: 0 */

#ifndef NN_NO_STDIO
/* MNIST-format IDX files, plain or .gz: images (N, H, W) uint8, labels (N) uint8 */
NN_API nn_dataset *nn_mnist(nn_ctx *ctx, const char *images_path, const char *labels_path);
/* A CSV of numbers; label_column is the class column (whole numbers, read as int64 labels;
   -1: none, every label 0); header 1 skips the first line */
NN_API nn_dataset *nn_csv(nn_ctx *ctx, const char *path, int label_column, int header);
/* root/<class>/<image>: PNG, JPEG, BMP, GIF, PPM/PGM (decoded by stb_image), classes in sorted order, every
   image converted to `channels` (1 or 3) and resized (bilinear) to h x w when loaded. Needs stb_image.
   Each file's header is checked before stb_image decodes it: a format other than these, 0 wide or
   high, more than NN_MAX_IMAGE_PIXELS, or a header stb_image 2.27 (Debian's) would misuse (JPEG Huffman
   tables over 256 codes, nothings/stb#1291, or scans using tables no DHT defined; PNG chunks longer
   than the file; PPM numbers that overflow or pixels missing) is an error naming the file. h x w is capped the same way. Not checkable from a
   header: 2.27's JPEG entropy decoder can overflow a signed int or shift by 32 on crafted data (DC
   prediction, dequantisation, its bit buffer; undefined behaviour, checked from 2.28 on): use stb_image 2.28 or later for JPEGs
   you do not trust. */
NN_API nn_dataset *nn_image_folder(nn_ctx *ctx, const char *root, int channels, int64_t h, int64_t w);
#endif
/* Samples [start, start + len) of base (Subset(base, range(start, start + len))). It reads
   base and does not own it: free it with nn_dataset_free, and do not use it after base is freed. */
NN_API nn_dataset *nn_subset(nn_dataset *base, int64_t start, int64_t len);
/* Frees a dataset made by nn_dataset_new, a reader or nn_subset, and calls your free_user;
   NULL is a no-op. Never frees the base of a subset or user data you gave no free_user for. */
NN_API void nn_dataset_free(nn_dataset *d);

/* Transforms on one image (C, H, W) in [0, 1] after ToTensor, as torchvision.transforms. */
typedef enum nn_transform_kind {
    NN_RESIZE, NN_GRAYSCALE, NN_RANDOM_ROTATION, NN_COLOR_JITTER, NN_RANDOM_CROP,
    NN_RANDOM_HORIZONTAL_FLIP, NN_NORMALIZE
} nn_transform_kind;
/* A transform's values, checked when applied (nn_apply_transforms, nn_dataloader_new): a value
   torchvision refuses is an error naming it; no value means "the default". */
#define NN_NORMALIZE_MAX_CHANNELS 4
typedef struct nn_transform { nn_transform_kind kind; int64_t size[2]; float f[2 * NN_NORMALIZE_MAX_CHANNELS]; } nn_transform;
NN_API nn_transform nn_resize(int64_t h, int64_t w);                 /* bilinear, as F.interpolate(align_corners=False); sizes > 0 */
NN_API nn_transform nn_grayscale(int num_output_channels);           /* 0.2989 R + 0.587 G + 0.114 B; 1 or 3 (torchvision's default is 1) */
NN_API nn_transform nn_random_rotation(float degrees);               /* angle in [-degrees, degrees], nearest, fill 0; degrees >= 0 */
NN_API nn_transform nn_color_jitter(float brightness, float contrast); /* factors >= 0 (0: unchanged) */
NN_API nn_transform nn_random_crop(int64_t size, int64_t padding);   /* zero padding (>= 0), then a random size x size crop */
NN_API nn_transform nn_random_horizontal_flip(float p);              /* p in [0, 1] (torchvision's default 0.5) */
/* (x - mean[c]) / std[c]; channels 1 to NN_NORMALIZE_MAX_CHANNELS, every std nonzero */
NN_API nn_transform nn_normalize(int channels, const float *mean, const float *std);
/* Applies ts in order (Compose) to x (C, H, W); writes (C', H', W') to out; rng_state may be
   NULL for deterministic transforms. Returns 1, or 0 with an error. out needs room for the result. */
NN_API int nn_apply_transforms(nn_ctx *ctx, const nn_transform *ts, int n, const float *x, const int64_t *shape,
                               float *out, int64_t *out_shape, uint64_t *rng_state);

/* DataLoader options; nn_dataloader_opts_default() gives PyTorch's values, shown here. */
typedef struct nn_dataloader_opts {
    int64_t batch_size;                  /* 1; must be >= 1 */
    int shuffle;                         /* 0 (1: reshuffle every epoch) */
    int drop_last;                       /* 0 */
    uint64_t seed;                       /* 0: seeds the loader's own RNG (shuffling, random transforms) */
    const nn_transform *transforms;      /* NULL: Compose(transforms) per sample, copied by the loader */
    int ntransforms;                     /* 0 */
    /* DistributedSampler(dataset, num_replicas, rank, drop_last): sample k of this rank's shard is
       sample rank + k * num_replicas of the epoch's order, which every rank draws alike from the
       same seed (nn.h's permutation, not torch.randperm's). Random transforms then draw from a
       per-rank stream. */
    int num_replicas;                    /* 1: the whole dataset (the world size for data parallel) */
    int rank;                            /* 0: this process's shard, 0 .. num_replicas - 1 */
    int sampler_drop_last;               /* 0: shards of ceil(len / num_replicas), the order's first samples
                                            repeated to fill them; 1: floor, the tail dropped (PyTorch's) */
} nn_dataloader_opts;
NN_API nn_dataloader_opts nn_dataloader_opts_default(void);
/* DataLoader(d, ...). It reads d and does not own it: free the loader before (or without
   using it after) the dataset. NULL with an error naming a bad option or dataset; d NULL
   gives NULL quietly (the call that returned NULL has reported why). */
NN_API nn_dataloader *nn_dataloader_new(nn_dataset *d, nn_dataloader_opts o);
/* The next batch (of this rank's shard when num_replicas > 1): *x (B, ...) float32 and *y: int64 (B) class labels when the dataset's ydim
   is 0, else float32 (B, ydim); both owned by the loader and reused (no allocation per batch).
   Returns 0 at the end of an epoch; the next call starts the next epoch (reshuffled).
   Its state (epoch, position, order, RNG) goes into checkpoints (nn_checkpoint.loader). */
NN_API int nn_dataloader_next(nn_dataloader *dl, nn_tensor **x, nn_tensor **y);
NN_API int64_t nn_dataloader_len(const nn_dataloader *dl);         /* batches per epoch (of this rank's shard) */
NN_API int64_t nn_dataloader_epoch(const nn_dataloader *dl);       /* epochs begun (1 during the first) */
NN_API void nn_dataloader_free(nn_dataloader *dl);                 /* frees x, y and the loader; NULL is a no-op */

/* ==== training utilities ==== */
/* progress bar, metrics, plots */

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
   classes are numbered). Returns the length written, or -1 when buf is too small, k < 1,
   digits < 0 or memory runs out. */
NN_API int nn_classification_report(const int64_t *cm, int k, const char *const *names, int digits, char *buf, size_t size);
/* per-class precision, recall, f1 (zero_division=0) and support; any pointer may be NULL */
NN_API void nn_class_scores(const int64_t *cm, int k, double *precision, double *recall, double *f1, int64_t *support);
#ifndef NN_NO_STDIO
NN_API void nn_print_confusion_matrix(const int64_t *cm, int k);
/* Curves (e.g. loss and accuracy per epoch) drawn in the terminal, n points each, height rows
   (at least 2, fewer are drawn as 2; at most 1000, more is an error on stderr). */
NN_API void nn_plot_terminal(const char *title, const float *const *ys, const char *const *labels, int ncurves, int n, int height);
/* The same as a PNG (needs stb_image_write.h included before nn.h; with stb_easy_font.h
   too, the legend and axis ranges are written as text); 1 on success. */
NN_API int nn_plot_png(nn_ctx *ctx, const char *path, const float *const *ys, const char *const *labels, int ncurves, int n);
#endif

/* ==== distributed ==== */
/* torch.distributed and DistributedDataParallel, over MPI */

/* Data parallel training: every rank (a process) holds the whole model, trains on its own shard
   of the data (nn_dataloader_opts.num_replicas and .rank), and after backward averages its
   gradients with the other ranks, so N ranks with batch B train as one process with batch N*B.
   Build with -DNN_MPI and an MPI (Open MPI: mpicc; run with mpirun -np N). Without NN_MPI the
   same calls give a world of one process (rank 0 of 1) whose collectives leave the data as it
   is; started by mpirun as one of several processes, nn_dist_init then refuses.
   Errors of MPI calls go to the context as any other error (MPI_ERRORS_RETURN on nn.h's own
   communicator). A rank that fails alone would leave the others waiting in the next collective:
   nn_dist_check and nn_ddp_sync_grads tell every rank, so all stop with the first rank's message. */
typedef struct nn_dist nn_dist;    /* a process group: its ranks and communicator */
/* dist.ReduceOp */
typedef enum nn_reduce_op { NN_REDUCE_SUM = 0, NN_REDUCE_AVG = 1, NN_REDUCE_MAX = 2, NN_REDUCE_MIN = 3 } nn_reduce_op;

/* dist.init_process_group("mpi") over MPI_COMM_WORLD. Calls MPI_Init unless the program already
   has (then nn_dist_free leaves MPI to it); argc and argv may be NULL. NULL with an error. */
NN_API nn_dist *nn_dist_init(nn_ctx *ctx, int *argc, char ***argv);
#ifdef NN_MPI
/* A group over your communicator, duplicated so nn.h's messages never meet yours. */
NN_API nn_dist *nn_dist_new_comm(nn_ctx *ctx, MPI_Comm comm);
#endif
NN_API void nn_dist_free(nn_dist *d);             /* destroy_process_group(); MPI_Finalize if nn_dist_init began MPI */
NN_API int nn_dist_rank(const nn_dist *d);        /* dist.get_rank(): 0 .. world_size - 1 */
NN_API int nn_dist_world_size(const nn_dist *d);  /* dist.get_world_size() */
NN_API int nn_dist_barrier(nn_dist *d);           /* dist.barrier(); 1 on success */
/* Every rank passes whether its own part went well (ok: 0 or 1). Returns 1 when every rank's
   did; otherwise 0 on every rank, with an error naming the first rank that failed and its
   message. Call it after whatever can fail on one rank only (its files, its memory). */
NN_API int nn_dist_check(nn_dist *d, int ok);
/* dist.broadcast(t, src): t (contiguous float32 or int64, the same size on every rank) from rank src */
NN_API int nn_dist_broadcast(nn_dist *d, nn_tensor *t, int src);
/* dist.all_reduce(t, op), in place: t contiguous float32, or int64 (not AVG) */
NN_API int nn_dist_all_reduce(nn_dist *d, nn_tensor *t, nn_reduce_op op);
/* the same over n doubles of yours: a loss, counts of right answers */
NN_API int nn_dist_all_reduce_scalars(nn_dist *d, double *values, int n, nn_reduce_op op);
/* every parameter and buffer of m from rank src; first checks that every rank has the same shapes */
NN_API int nn_dist_broadcast_module(nn_dist *d, nn_module *m, int src);

/* DistributedDataParallel(module, bucket_cap_mb=25, broadcast_buffers=True) */
typedef struct nn_ddp nn_ddp;
typedef struct nn_ddp_opts {
    double bucket_cap_mb;      /* 25: gradients travel in messages of up to this many MiB */
    int broadcast_buffers;     /* 1: each nn_ddp_forward first takes rank 0's buffers (BatchNorm's stats) */
} nn_ddp_opts;
NN_API nn_ddp_opts nn_ddp_opts_default(void);
/* Wraps m, which stays yours (free the nn_ddp first, then m); build it when m is complete (ties
   included). Checks that every rank has the same parameters, buffers (float32 or int64) and
   options, and gives every rank rank 0's values. NULL with an error on every rank. */
NN_API nn_ddp *nn_ddp_new(nn_dist *d, nn_module *m, nn_ddp_opts o);
/* ddp(x): rank 0's buffers first (with broadcast_buffers; in eval mode too), then m(x) */
NN_API nn_tensor *nn_ddp_forward(nn_ddp *ddp, nn_tensor *x);
/* After nn_backward, what DDP does inside backward: each parameter's grad becomes its mean over
   the ranks (summed in buckets of parameters, last registered first, all in flight at once; a
   parameter with no grad on any rank keeps none). Returns 1. When a rank's context holds an
   error (its step failed), every rank returns 0 with that rank's message and no grad changes. */
NN_API int nn_ddp_sync_grads(nn_ddp *ddp);
NN_API int nn_ddp_num_buckets(const nn_ddp *ddp); /* how many messages nn_ddp_sync_grads sends */
NN_API void nn_ddp_free(nn_ddp *ddp);             /* the wrapper only, not the module; NULL is a no-op */
#ifndef NN_NO_STDIO
/* Checkpoints in data parallel: rank 0 saves and every rank learns whether it did (1 on every rank,
   or 0 with rank 0's message); every rank loads (0 on every rank if any failed; a rank that
   succeeded has then loaded). The loader's position carries over to another number of ranks. */
NN_API int nn_dist_save_checkpoint(nn_dist *d, const nn_checkpoint *ck, const char *path);
NN_API int nn_dist_load_checkpoint(nn_dist *d, nn_checkpoint *ck, const char *path);
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
#include <float.h>
#ifndef NN_NO_STDIO
#include <stdio.h>      /* snprintf for messages; with NN_NO_STDIO nothing is printed or opened */
#endif
#include <stdlib.h>     /* strtod, getenv */
#include <errno.h>      /* why a file could not be written */
#if !defined(NN_NO_STDIO) && (defined(__unix__) || defined(__APPLE__))
#include <unistd.h>     /* fsync: a saved checkpoint is on the disk before it replaces the old one */
#include <fcntl.h>
#ifndef __cplusplus
extern int (fsync)(int fd);         /* POSIX, hidden by glibc under -std=c99; compatible redeclarations */
extern int (fileno)(FILE *stream);
#endif
#define NN__POSIX_FILES 1
#elif !defined(NN_NO_STDIO) && defined(_WIN32)
#include <io.h>         /* _commit */
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>     /* sysconf: the machine's memory, which no one allocation may pass */
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
#define NN__SYSCONF 1
#endif
#endif

#if defined(NN_NO_MALLOC)     /* no heap: only the buffer given to nn_use_buffer */
#undef NN_MALLOC
#undef NN_REALLOC
#undef NN_FREE
#define NN_MALLOC(sz) ((void)(sz), (void *)0)
#define NN_REALLOC(p, sz) ((void)(p), (void)(sz), (void *)0)
#define NN_FREE(p) ((void)(p))
#elif defined(NN_MALLOC) && defined(NN_REALLOC) && defined(NN_FREE)
#elif !defined(NN_MALLOC) && !defined(NN_REALLOC) && !defined(NN_FREE)
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

/* ==== math ==== */
/* The per-element rules, written once: the CPU kernels (section ops) and nn_cuda.h's kernels
   both call these, so the two devices cannot drift. NN_HD is __host__ __device__ under nvcc
   and nothing otherwise. Each backward rule returns what the CPU kernel adds to the input's
   gradient, in the same order of operations (the results are compared bit for bit). */
#if defined(__CUDACC__)
#define NN_HD __host__ __device__
#else
#define NN_HD
#endif
#define NN__MATH static NN_HD inline

/* ---- the optimizers' update rules: one element, in float, in PyTorch 1.13's order (section
   optimizers builds the arguments; the CPU's scalar loops and nn_cuda.h's kernels call these,
   the CPU's vector paths repeat the same operations) ---- */
/* 1 when the float is neither NaN nor infinite (a bit test: no -ffast-math can fold it away) */
NN__MATH int nn__finitef(float x) {
    union { float f; uint32_t u; } v;
    v.f = x;
    return (v.u & 0x7f800000u) != 0x7f800000u;
}
typedef struct nn__sgd_args {
    float *p, *buf;
    const float *g;
    float sign, wd, mom, odamp, lr;
    int first, nesterov, cap;
    int64_t *dry;
} nn__sgd_args;
/* SGD: from parameter p, gradient g and momentum buffer b (buf set), the new p and b; 1 when finite */
NN__MATH int nn__sgd_rule(const nn__sgd_args *a, float P, float G, float B, float *np, float *nb) {
    float d = a->sign * G + a->wd * P, b = 0.0f;
    if (a->buf) {
        b = a->first ? d : a->mom * B + a->odamp * d;
        d = a->nesterov ? d + a->mom * b : b;
    }
    *np = P - a->lr * d;
    *nb = b;
    return nn__finitef(*np) && nn__finitef(b);
}
typedef struct nn__adam_args {
    float *p, *m, *v, *vmax;
    const float *g;
    float sign, wd, decay, fb1, ob1, fb2, ob2, bc2s, eps, step_size;
    int decoupled, cap;
    int64_t *dry;
} nn__adam_args;
/* Adam/AdamW: from p, g and the moments m, v (and vmax with amsgrad), their new values; 1 when finite */
NN__MATH int nn__adam_rule(const nn__adam_args *a, float P, float G, float M, float V, float VM, float *np, float *nm, float *nv,
                           float *nvm) {
    float p = P, d = a->sign * G, m, v, vm = 0.0f, den;
    if (a->decoupled) p *= a->decay;
    else if (a->wd != 0.0f) d += a->wd * p;
    m = M * a->fb1 + d * a->ob1;
    v = V * a->fb2 + a->ob2 * d * d;
    if (a->vmax) vm = v > VM ? v : VM;
    den = sqrtf(a->vmax ? vm : v) / a->bc2s + a->eps;
    p -= a->step_size * (m / den);
    *np = p; *nm = m; *nv = v; *nvm = vm;
    return nn__finitef(p) && nn__finitef(m) && nn__finitef(v) && nn__finitef(vm);
}
typedef struct nn__rmsprop_args {
    float *p, *sq, *buf, *ga;
    const float *g;
    float a, oa, eps, mom, lr, wd, sign;
} nn__rmsprop_args;
/* RMSprop: sq (square average), buf (momentum > 0), ga (centered): the new p and state; 1 when finite */
NN__MATH int nn__rmsprop_rule(const nn__rmsprop_args *r, float P, float G, float SQ, float BUF, float GA, float *np, float *nsq,
                              float *nbuf, float *nga) {
    float d = r->sign * G + r->wd * P, s = SQ * r->a + r->oa * d * d, gai = 0.0f, b = 0.0f, avg;
    if (r->ga) {
        gai = GA * r->a + r->oa * d;
        avg = sqrtf(s - gai * gai) + r->eps;
    } else {
        avg = sqrtf(s) + r->eps;
    }
    if (r->buf) {
        b = BUF * r->mom + d / avg;
        *np = P - r->lr * b;
    } else {
        *np = P - r->lr * (d / avg);
    }
    *nsq = s; *nbuf = b; *nga = gai;
    return nn__finitef(*np) && nn__finitef(s) && nn__finitef(gai) && nn__finitef(b);
}
typedef struct nn__adagrad_args {
    float *p, *sum;
    const float *g;
    float clr, eps, wd, sign;
} nn__adagrad_args;
/* Adagrad: the new p and sum; 1 when finite */
NN__MATH int nn__adagrad_rule(const nn__adagrad_args *r, float P, float G, float SUM, float *np, float *nsum) {
    float d = r->sign * G + r->wd * P, s = SUM + d * d;
    *np = P - r->clr * (d / (sqrtf(s) + r->eps));
    *nsum = s;
    return nn__finitef(*np) && nn__finitef(s);
}
/* clip_grad_norm_: one gradient element's term of the total norm, and how terms join (added, or
   the largest for the infinity norm; a NaN term is passed over by the max, where PyTorch's amax
   would give NaN) */
NN__MATH double nn__norm_term(float v, float norm_type) {
    double a = fabs((double)v);
    return norm_type == (float)INFINITY ? a : pow(a, (double)norm_type);
}
NN__MATH double nn__norm_join(double acc, double term, float norm_type) {
    return norm_type == (float)INFINITY ? (term > acc ? term : acc) : acc + term;
}
/* clip_grad_value_: one element clamped to [-clip, clip] (NaN stays NaN) */
NN__MATH float nn__clip_value(float v, float clip) { return v > clip ? clip : v < -clip ? -clip : v; }

NN__MATH float nn__sigmoidf(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    { float e = expf(x); return e / (1.0f + e); }
}
NN__MATH float nn__relu_f(float x) { return x <= 0.0f ? 0.0f : x; }                 /* NaN stays NaN */
NN__MATH float nn__leaky_relu_f(float x, float slope) { return x > 0.0f ? x : x * slope; }
NN__MATH float nn__leaky_relu_b(float g, float x, float slope) { return x > 0.0f ? g : g * slope; }
NN__MATH float nn__sigmoid_b(float g, float o) { return g * o * (1.0f - o); }
NN__MATH float nn__tanh_b(float g, float o) { return g * (1.0f - o * o); }
NN__MATH float nn__gelu_f(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
NN__MATH float nn__gelu_b(float g, float x) {
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
    return g * (cdf + x * pdf);
}
NN__MATH float nn__silu_f(float x) { return x * nn__sigmoidf(x); }
NN__MATH float nn__silu_b(float g, float x) { float sg = nn__sigmoidf(x); return g * sg * (1.0f + x * (1.0f - sg)); }
/* beta, threshold: linear above it, as PyTorch */
NN__MATH float nn__softplus_f(float x, float beta, float th) { return x * beta > th ? x : log1pf(expf(x * beta)) / beta; }
NN__MATH float nn__softplus_b(float g, float x, float beta, float th) { return x * beta > th ? g : g * nn__sigmoidf(x * beta); }
NN__MATH float nn__clamp_f(float v, float lo, float hi) { return v != v ? v : (v < lo ? lo : (v > hi ? hi : v)); }
NN__MATH float nn__abs_b(float g, float x) { return x > 0.0f ? g : (x < 0.0f ? -g : 0.0f); }
NN__MATH float nn__pow_scalar_f(float x, float e) { return e == 2.0f ? x * x : powf(x, e); }
NN__MATH float nn__pow_scalar_b(float g, float x, float e) { return g * e * powf(x, e - 1.0f); }

/* The unary family for one element (the CPU runs the same rules op by op, in loops). */
NN__MATH float nn__unary_f(int op, float x, float s, float t) {
    switch (op) {
    case NN_OP_ADD_SCALAR: return x + s;
    case NN_OP_MUL_SCALAR: return x * s;
    case NN_OP_DIV_SCALAR: return x / s;
    case NN_OP_POW_SCALAR: return nn__pow_scalar_f(x, s);
    case NN_OP_NEG: return -x;
    case NN_OP_EXP: return expf(x);
    case NN_OP_LOG: return logf(x);
    case NN_OP_SQRT: return sqrtf(x);
    case NN_OP_ABS: return fabsf(x);
    case NN_OP_CLAMP: return nn__clamp_f(x, s, t);
    case NN_OP_RELU: return nn__relu_f(x);
    case NN_OP_LEAKY_RELU: return nn__leaky_relu_f(x, s);
    case NN_OP_SIGMOID: return nn__sigmoidf(x);
    case NN_OP_TANH: return tanhf(x);
    case NN_OP_GELU: return nn__gelu_f(x);
    case NN_OP_SILU: return nn__silu_f(x);
    case NN_OP_SOFTPLUS: return nn__softplus_f(x, s, t);
    case NN_OP_SIN: return sinf(x);
    case NN_OP_COS: return cosf(x);
    default: return NAN;
    }
}
/* What the unary op's backward adds to the input's gradient for one element (x the input, o the
   output, g the output's gradient): 1 and *d, or 0 where the CPU adds nothing (so a -0.0
   gradient stays -0.0). */
NN__MATH int nn__unary_b(int op, float g, float x, float o, float s, float t, float *d) {
    switch (op) {
    case NN_OP_ADD_SCALAR: *d = g; return 1;
    case NN_OP_MUL_SCALAR: *d = g * s; return 1;
    case NN_OP_DIV_SCALAR: *d = g / s; return 1;
    case NN_OP_POW_SCALAR: if (s == 0.0f) return 0; *d = nn__pow_scalar_b(g, x, s); return 1;
    case NN_OP_NEG: *d = -g; return 1;
    case NN_OP_EXP: *d = g * o; return 1;
    case NN_OP_LOG: *d = g / x; return 1;
    case NN_OP_SQRT: *d = g / (2.0f * o); return 1;
    case NN_OP_ABS: *d = nn__abs_b(g, x); return 1;
    case NN_OP_CLAMP: if (!(x >= s && x <= t)) return 0; *d = g; return 1;
    case NN_OP_RELU: if (!(x > 0.0f)) return 0; *d = g; return 1;
    case NN_OP_LEAKY_RELU: *d = nn__leaky_relu_b(g, x, s); return 1;
    case NN_OP_SIGMOID: *d = nn__sigmoid_b(g, o); return 1;
    case NN_OP_TANH: *d = nn__tanh_b(g, o); return 1;
    case NN_OP_GELU: *d = nn__gelu_b(g, x); return 1;
    case NN_OP_SILU: *d = nn__silu_b(g, x); return 1;
    case NN_OP_SOFTPLUS: *d = nn__softplus_b(g, x, s, t); return 1;
    case NN_OP_SIN: *d = g * cosf(x); return 1;
    case NN_OP_COS: *d = -(g * sinf(x)); return 1;   /* the CPU's d -= g sin x */
    default: return 0;
    }
}

/* The binary family for one element: u, v, w the inputs (where: cond, a, b). NaN wins in
   maximum and minimum, as PyTorch. */
NN__MATH float nn__binary_f(int op, float u, float v, float w) {
    switch (op) {
    case NN_OP_ADD: return u + v;
    case NN_OP_SUB: return u - v;
    case NN_OP_MUL: return u * v;
    case NN_OP_DIV: return u / v;
    case NN_OP_POW: return powf(u, v);
    case NN_OP_MAXIMUM: return (u != u || v != v) ? NAN : (u > v ? u : v);
    case NN_OP_MINIMUM: return (u != u || v != v) ? NAN : (u < v ? u : v);
    case NN_OP_WHERE: return u != 0.0f ? v : w;
    default: return NAN;
    }
}
/* d out / d input k times g, for one element: u, v, w are the inputs' values, o the output's. */
NN__MATH float nn__binary_dval(int op, int k, float g, float u, float v, float w, float o) {
    (void)w;
    switch (op) {
    case NN_OP_ADD: return g;
    case NN_OP_SUB: return k == 0 ? g : -g;
    case NN_OP_MUL: return k == 0 ? g * v : g * u;
    case NN_OP_DIV: return k == 0 ? g / v : -g * u / (v * v);
    case NN_OP_POW:   /* d/du u^v = v u^(v-1); d/dv u^v = u^v log u (0 where u == 0, v >= 0) */
        if (k == 0) return v == 0.0f ? 0.0f : g * v * powf(u, v - 1.0f);
        return (u == 0.0f && v >= 0.0f) ? 0.0f : g * o * logf(u);
    case NN_OP_MAXIMUM: case NN_OP_MINIMUM: {   /* the larger (smaller) input takes it all; ties split it; NaN: both */
        float mine = k == 0 ? u : v, other = k == 0 ? v : u;
        if (mine == other) return 0.5f * g;
        if (op == NN_OP_MAXIMUM) return mine < other ? 0.0f : g;
        return mine > other ? 0.0f : g;
    }
    case NN_OP_WHERE: return (k == 1) == (u != 0.0f) ? g : 0.0f;   /* u is cond; no gradient for cond */
    default: return 0.0f;
    }
}

/* Along one dim: the rules for one (outer, inner) row of D elements at stride I. The CPU loops
   over rows and nn_cuda.h runs one thread per row; both call these. */
NN__MATH void nn__softmax_row_f(int logsm, const float *xp, float *yp, int64_t D, int64_t I) {
    float m = -INFINITY;
    double s = 0;
    int64_t d;
    for (d = 0; d < D; d++) if (xp[d * I] > m) m = xp[d * I];
    for (d = 0; d < D; d++) s += exp((double)(xp[d * I] - m));
    if (logsm) { float ls = (float)log(s); for (d = 0; d < D; d++) yp[d * I] = xp[d * I] - m - ls; }
    else for (d = 0; d < D; d++) yp[d * I] = (float)(exp((double)(xp[d * I] - m)) / s);
}
NN__MATH void nn__softmax_row_b(int logsm, const float *yp, const float *gp, float *dp, int64_t D, int64_t I) {
    double s = 0;
    int64_t d;
    if (!logsm) {   /* dx = y (g - sum(g y)) */
        for (d = 0; d < D; d++) s += (double)gp[d * I] * yp[d * I];
        for (d = 0; d < D; d++) dp[d * I] += yp[d * I] * (gp[d * I] - (float)s);
    } else {        /* dx = g - exp(y) sum(g) */
        for (d = 0; d < D; d++) s += gp[d * I];
        for (d = 0; d < D; d++) dp[d * I] += gp[d * I] - expf(yp[d * I]) * (float)s;
    }
}
/* sum, mean, var, std, max, min, logsumexp of one row; corr = the correction of var and std;
   *arg = the position of max/min */
NN__MATH float nn__reduce_row_f(int op, const float *xp, int64_t D, int64_t I, int64_t corr, int64_t *arg) {
    int64_t d;
    switch (op) {
    case NN_OP_SUM: case NN_OP_MEAN: {
        double s = 0;
        for (d = 0; d < D; d++) s += xp[d * I];
        return (float)(op == NN_OP_MEAN ? s / (double)D : s);
    }
    case NN_OP_VAR: case NN_OP_STD: {   /* divisor max(0, D - correction): inf or NaN at 0, as PyTorch */
        double m = 0, s = 0, den = (double)(D - corr);
        for (d = 0; d < D; d++) m += xp[d * I];
        m /= (double)D;
        for (d = 0; d < D; d++) s += ((double)xp[d * I] - m) * ((double)xp[d * I] - m);
        s = s / (den > 0 ? den : 0.0);
        return (float)(op == NN_OP_STD ? sqrt(s) : s);
    }
    case NN_OP_MAX: case NN_OP_MIN: {
        int64_t best = 0; int is_max = op == NN_OP_MAX;
        for (d = 1; d < D; d++) {
            float v = xp[d * I], b = xp[best * I];
            if (b != b) break;                              /* NaN wins, as PyTorch */
            if (v != v || (is_max ? v > b : v < b)) best = d;
        }
        *arg = best;
        return xp[best * I];
    }
    case NN_OP_LOGSUMEXP: {
        float m = -INFINITY; double s = 0;
        for (d = 0; d < D; d++) if (xp[d * I] > m) m = xp[d * I];
        if (m == -INFINITY || m == INFINITY) return m;
        for (d = 0; d < D; d++) s += exp((double)(xp[d * I] - m));
        return m + (float)log(s);
    }
    default: return 0.0f;
    }
}
/* the gradient of one row along the dim (max/min over every element share ties elsewhere):
   gv, yv = the row's output gradient and value; arg = the max/min position */
NN__MATH void nn__reduce_row_b(int op, const float *xp, float *dp, int64_t D, int64_t I, int64_t corr, float gv, float yv,
                               int64_t arg) {
    int64_t d;
    switch (op) {
    case NN_OP_SUM: for (d = 0; d < D; d++) dp[d * I] += gv; break;
    case NN_OP_MEAN: { float k = gv / (float)D; for (d = 0; d < D; d++) dp[d * I] += k; } break;
    case NN_OP_VAR: case NN_OP_STD: {   /* dvar/dx = 2 (x - m) / (D - c); dstd = dvar / (2 std) */
        double m = 0, den = (double)(D - corr);
        float k;   /* the raw D - correction, as PyTorch's backward */
        for (d = 0; d < D; d++) m += xp[d * I];
        m /= (double)D;
        k = (float)(op == NN_OP_VAR ? 2.0 * gv / den : gv / (den * yv));
        for (d = 0; d < D; d++) dp[d * I] += k * (float)((double)xp[d * I] - m);
    } break;
    case NN_OP_MAX: case NN_OP_MIN: dp[arg * I] += gv; break;   /* routed to the winner */
    case NN_OP_LOGSUMEXP: for (d = 0; d < D; d++) dp[d * I] += gv * expf(xp[d * I] - yv); break;
    default: break;
    }
}

/* ---- norms, dropout and the losses (batch_norm, layer_norm, nll, bce, bce_with_logits, huber):
   the CPU kernels and nn_cuda.h's kernels call these ---- */
/* batch_norm, channel c of x (N, C, S): training uses the batch's statistics and updates rm/rv
   (when given) in place; eval reads rm/rv. Writes mean[c] and inv[c] = 1 / sqrt(var + eps). */
NN__MATH void nn__bn_stats_c(const float *x, int64_t N, int64_t C, int64_t S, int64_t c, int training, double eps,
                             double momentum, float *rm, float *rv, float *mean, float *inv) {
    int64_t n, s;
    double M = (double)(N * S), m = 0, v = 0;
    if (training) {
        for (n = 0; n < N; n++) for (s = 0; s < S; s++) m += x[(n * C + c) * S + s];
        m /= M;
        for (n = 0; n < N; n++) for (s = 0; s < S; s++) { double d = x[(n * C + c) * S + s] - m; v += d * d; }
        v /= M;
        if (rm) rm[c] = (float)((1.0 - momentum) * rm[c] + momentum * m);
        if (rv) rv[c] = (float)((1.0 - momentum) * rv[c] + momentum * v * M / (M - 1));
    } else { m = rm[c]; v = rv[c]; }
    mean[c] = (float)m; inv[c] = (float)(1.0 / sqrt(v + eps));
}
/* layer_norm, one row of M values: *mean and *inv = 1 / sqrt(var + eps) */
NN__MATH void nn__ln_stats_row(const float *xp, int64_t M, double eps, float *mean, float *inv) {
    double m = 0, v = 0;
    int64_t s;
    for (s = 0; s < M; s++) m += xp[s];
    m /= (double)M;
    for (s = 0; s < M; s++) { double d = xp[s] - m; v += d * d; }
    v /= (double)M;
    *mean = (float)m; *inv = (float)(1.0 / sqrt(v + eps));
}
/* one output element; w, b (C for batch_norm, M for layer_norm) may be NULL; j indexes them */
NN__MATH float nn__bn_apply(float x, float mean, float inv, const float *w, const float *b, int64_t j) {
    float sc = inv * (w ? w[j] : 1.0f), sh = b ? b[j] : 0.0f;
    return (x - mean) * sc + sh;
}
NN__MATH float nn__ln_apply(float x, float mean, float inv, const float *w, const float *b, int64_t j) {
    return (x - mean) * inv * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
}
/* batch_norm backward, channel c: sg = sum g, sgx = sum g xhat (double, n then s) */
NN__MATH void nn__bn_sums_c(const float *x, const float *g, int64_t N, int64_t C, int64_t S, int64_t c, float mean, float inv,
                            double *sg, double *sgx) {
    double a = 0, b = 0;
    int64_t n, s;
    for (n = 0; n < N; n++) for (s = 0; s < S; s++) {
        int64_t at = (n * C + c) * S + s;
        a += g[at]; b += (double)g[at] * (x[at] - mean) * inv;
    }
    *sg = a; *sgx = b;
}
/* what one element of x's gradient gets (M = N S; training: the batch statistics depend on x) */
NN__MATH float nn__bn_dx(float g, float x, float mean, float inv, float wc, double sg, double sgx, double M, int training) {
    if (training) {
        float xh = (x - mean) * inv;
        return wc * inv * (float)((g * M - sg - xh * sgx) / M);
    }
    return g * wc * inv;
}
/* layer_norm backward, one row: sd = sum g w, sdx = sum g w xhat (double); acc (2, M) or NULL gets
   += g xhat and += g per column (the weight's and bias's gradient sums) */
NN__MATH void nn__ln_sums_row(const float *xp, const float *gp, const float *w, int64_t M, float mean, float inv, double *sd,
                              double *sdx, double *acc) {
    double a = 0, b = 0;
    int64_t s;
    for (s = 0; s < M; s++) {
        float xh = (xp[s] - mean) * inv, d = gp[s] * (w ? w[s] : 1.0f);
        a += d; b += (double)d * xh;
        if (acc) { acc[s] += (double)gp[s] * xh; acc[M + s] += gp[s]; }
    }
    *sd = a; *sdx = b;
}
NN__MATH float nn__ln_xhat(float x, float mean, float inv) { return (x - mean) * inv; }
NN__MATH float nn__ln_dx(float x, float g, float wv, float mean, float inv, double sd, double sdx, int64_t M) {
    float xh = (x - mean) * inv, d = g * wv;
    return inv * (float)((d * (double)M - sd - xh * sdx) / (double)M);
}
/* nll, one row whose target k is a class: *wt = w[k], *li = the target's term, *sm = label smoothing's */
NN__MATH void nn__nll_row_f(const float *row, int64_t C, int64_t k, const float *w, double e, double *wt, double *li, double *sm) {
    double s = 0;
    int64_t c;
    *wt = w ? w[k] : 1.0;
    *li = -(1.0 - e) * *wt * row[k];
    if (e > 0) for (c = 0; c < C; c++) s -= e / (double)C * (w ? w[c] : 1.0) * row[c];
    *sm = s;
}
/* the reduced loss from the row sums; div = the two divisors (saved for backward) */
NN__MATH float nn__nll_reduce(int reduction, double nll, double smooth, double e, const double *div) {
    if (reduction == NN_SUM) return (float)(nll + smooth);
    return (float)(nll / div[0] + (e > 0 ? smooth / div[1] : 0.0));
}
/* one row's gradient (target k a class); g = the row's (reduction none) or the loss's output gradient */
NN__MATH void nn__nll_row_b(float *dxrow, int64_t C, int64_t k, const float *w, double e, int reduction, double g, const double *div) {
    double gn = g, gs = g;
    int64_t c;
    if (reduction == NN_MEAN) { gn = g / div[0]; gs = g / div[1]; }
    dxrow[k] -= (float)((1.0 - e) * (w ? w[k] : 1.0) * gn);
    if (e > 0) for (c = 0; c < C; c++) dxrow[c] -= (float)(e / (double)C * (w ? w[c] : 1.0) * gs);
}
/* bce_with_logits, one element (p: its pos_weight, 1 without) */
NN__MATH float nn__bce_logits_f(float x, float t, float p) {
    float L = 1.0f + (p - 1.0f) * t;
    return (1.0f - t) * x + L * (log1pf(expf(-fabsf(x))) + (x < 0 ? -x : 0.0f));
}
NN__MATH float nn__bce_logits_b(float g, float x, float t, float p) {
    float L = 1.0f + (p - 1.0f) * t;
    return g * (L * nn__sigmoidf(x) - p * t);
}
/* binary_cross_entropy, one element (p in [0, 1], checked by the caller); dp and dt what the
   gradients get */
NN__MATH float nn__bce_f(float p, float t) {
    double lp = p > 0.0f ? log((double)p) : -100.0, lq = p < 1.0f ? log1p(-(double)p) : -100.0;
    return (float)-(t * (lp > -100.0 ? lp : -100.0) + (1.0 - t) * (lq > -100.0 ? lq : -100.0));
}
NN__MATH float nn__bce_dp(float g, float p, float t) {
    double pq = (double)p * (1.0 - p);
    return (float)(g * ((double)p - t) / (pq > 1e-12 ? pq : 1e-12));
}
NN__MATH float nn__bce_dt(float g, float p) {
    double lp = p > 0.0f ? log((double)p) : -100.0, lq = p < 1.0f ? log1p(-(double)p) : -100.0;
    return (float)(g * ((lq > -100.0 ? lq : -100.0) - (lp > -100.0 ? lp : -100.0)));
}
/* Huber (smooth 0) and smooth L1 (smooth 1) with threshold t: the loss and its slope k (da += g k,
   db -= g k) */
NN__MATH float nn__huber_f(float a, float b, float t, int smooth) {
    float d = a - b, ad = fabsf(d);
    if (smooth) return ad < t ? 0.5f * d * d / t : ad - 0.5f * t;
    return ad < t ? 0.5f * d * d : t * (ad - 0.5f * t);
}
NN__MATH float nn__huber_k(float a, float b, float t, int smooth) {
    float d = a - b, sign = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f), k;
    if (fabsf(d) < t) k = smooth ? d / t : d;
    else k = smooth ? sign : t * sign;
    return k;
}
/* Pooling over one (H, W) plane, output (oh, ow); the CPU loops over outputs and nn_cuda.h runs one
   thread per output, both calling these. Max: kernel k, stride s, padding p, dilation d; the first
   maximum in reading order wins and a NaN wins (PyTorch's rule); *at_ = its flat index (-1: none). */
NN__MATH float nn__maxpool_at(const float *xp, int64_t H, int64_t W, int64_t oh, int64_t ow, int64_t k, int64_t s, int64_t p,
                              int64_t d, int64_t *at_) {
    float best = -INFINITY; int64_t at = -1, i, j;
    for (i = 0; i < k; i++) for (j = 0; j < k; j++) {
        int64_t ih = oh * s - p + i * d, iw = ow * s - p + j * d;
        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
        if (at < 0 || xp[ih * W + iw] > best || xp[ih * W + iw] != xp[ih * W + iw]) { best = xp[ih * W + iw]; at = ih * W + iw; }
        if (best != best) break;
    }
    *at_ = at;
    return best;
}
/* The input window [h0, h1) x [w0, w1) of output (oh, ow) for average pooling (padding clipped;
   the divisor counts the padding unless cip, count_include_pad, is off) and adaptive pooling
   ([floor(o*H/OH), ceil((o+1)*H/OH))). Returns the divisor. */
NN__MATH int64_t nn__pool_window_at(int adaptive, int64_t k, int64_t s, int64_t p, int64_t cip, int64_t H, int64_t W, int64_t OH,
                                    int64_t OW, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1) {
    int64_t div;
    if (adaptive) {
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
    if (!cip) div = (*h1 - *h0) * (*w1 - *w0);
    return div > 0 ? div : 1;
}
/* the average of a window: a double sum in reading order */
NN__MATH float nn__avgpool_at(const float *xp, int64_t W, int64_t h0, int64_t h1, int64_t w0, int64_t w1, int64_t div) {
    double sum = 0;
    int64_t i, j;
    for (i = h0; i < h1; i++) for (j = w0; j < w1; j++) sum += xp[i * W + j];
    return (float)(sum / (double)div);
}

/* topk's order: a strictly before b; NaN is the largest (first of the largest, last of the smallest) */
NN__MATH int nn__topk_before(float a, float b, int largest) {
    if (a != a) return largest && b == b;
    if (b != b) return !largest;
    return largest ? a > b : a < b;
}
/* the indices of one line (D elements at stride I) in topk's order: a stable bottom-up merge sort
   (ties keep index order) between a and b (D each); returns the one holding the result */
NN__MATH int64_t *nn__topk_sort(const float *line, int64_t D, int64_t I, int largest, int64_t *a, int64_t *b) {
    int64_t i, w;
    for (i = 0; i < D; i++) a[i] = i;
    for (w = 1; w < D; w *= 2) {               /* a -> b -> a */
        int64_t lo, *t;
        for (lo = 0; lo < D; lo += 2 * w) {
            int64_t mid = lo + w < D ? lo + w : D, hi = lo + 2 * w < D ? lo + 2 * w : D, p = lo, q = mid, k = lo;
            while (p < mid && q < hi) b[k++] = nn__topk_before(line[a[q] * I], line[a[p] * I], largest) ? a[q++] : a[p++];
            while (p < mid) b[k++] = a[p++];
            while (q < hi) b[k++] = a[q++];
        }
        t = a; a = b; b = t;
    }
    return a;
}

#if !defined(NN_NO_THREADS) && (defined(__GNUC__) || defined(__clang__)) && (defined(__unix__) || defined(__APPLE__))
#define NN__THREADS 1
#include <pthread.h>    /* the worker pool (section cpu) and the lock of nn_use_buffer's allocator */
#endif

#ifndef NN_ARENA_MIN_BLOCK
#define NN_ARENA_MIN_BLOCK ((size_t)1 << 20)
#endif

/* Messages are formatted by nn__snprintf: the C library's snprintf, or with NN_NO_STDIO
   nn.h's own (newlib's printf of a float calls malloc, which firmware without a heap cannot
   link): %d %i %u %x %X %c %s %p %e %f %g %G %% with the flags - 0 + and space, a width and
   a precision (numbers or *), and the lengths hh h l ll z j t. Floats are converted in
   double arithmetic: right to 15 significant digits, not always digit for digit past that. */
#ifndef NN_NO_STDIO
#define nn__vsnprintf vsnprintf
#define nn__snprintf snprintf
#else
typedef struct nn__out { char *b; size_t n, k; } nn__out;
static void nn__putc(nn__out *o, char c) { if (o->k + 1 < o->n) o->b[o->k] = c; o->k++; }
static void nn__pad(nn__out *o, char c, int w) { while (w-- > 0) nn__putc(o, c); }
static void nn__field(nn__out *o, const char *pre, const char *s, int m, int width, int left, int zero) {
    int fill = width - (int)strlen(pre) - m;
    if (!left && !zero) nn__pad(o, ' ', fill);
    while (*pre) nn__putc(o, *pre++);
    if (!left && zero) nn__pad(o, '0', fill);
    while (m-- > 0) nn__putc(o, *s++);
    if (left) nn__pad(o, ' ', fill);
}
/* v's digits in base, at least mind of them, written to buf; returns how many */
static int nn__utoa(char *buf, unsigned long long v, unsigned base, int upper, int mind) {
    char t[24]; int m = 0, k = 0;
    const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do { t[m++] = dig[v % base]; v /= base; } while (v);
    while (m < mind && m < 24) t[m++] = '0';
    while (m) buf[k++] = t[--m];
    return k;
}
/* v (finite, >= 0) with prec digits after the point: 'f' fixed, 'e' d.ddde+XX; returns the length */
static int nn__ftoa(char *buf, double v, int prec, char conv) {
    int k = 0, e = 0;
    double scale;
    if (prec > 17) prec = 17;
    scale = pow(10.0, prec);
    if (conv == 'e') {
        if (v != 0.0) {
            e = (int)floor(log10(v));
            v /= pow(10.0, e);
            if (v >= 10.0) { v /= 10.0; e++; } else if (v < 1.0) { v *= 10.0; e--; }
            if (rint(v * scale) >= 10.0 * scale) { v /= 10.0; e++; }
        }
    } else if (v >= 1e18) return nn__ftoa(buf, v, prec, 'e');
    {   /* rounded as a whole (ties to even, as the C library's exact ties do) */
        double r = v * scale, ip, f;
        if (r < 9007199254740992.0) { r = rint(r); ip = floor(r / scale); f = r - ip * scale; }
        else { ip = floor(v); f = rint((v - ip) * scale); }
        if (f >= scale) { ip += 1.0; f -= scale; }
        k += nn__utoa(buf + k, (unsigned long long)ip, 10, 0, 1);
        if (prec > 0) { buf[k++] = '.'; k += nn__utoa(buf + k, (unsigned long long)f, 10, 0, prec); }
    }
    if (conv == 'e') {
        buf[k++] = 'e'; buf[k++] = e < 0 ? '-' : '+';
        k += nn__utoa(buf + k, (unsigned long long)(e < 0 ? -e : e), 10, 0, 2);
    }
    return k;
}
static int nn__vsnprintf(char *b, size_t n, const char *fmt, va_list ap) {
    nn__out o;
    o.b = b; o.n = n; o.k = 0;
    while (*fmt) {
        int left = 0, zero = 0, plus = 0, space = 0, width = 0, prec = -1, len = 0, m = 0;
        char num[80], pre[4] = { 0 }, c;
        const char *s = num;
        if (*fmt != '%') { nn__putc(&o, *fmt++); continue; }
        fmt++;
        for (;; fmt++) {
            if (*fmt == '-') left = 1; else if (*fmt == '0') zero = 1;
            else if (*fmt == '+') plus = 1; else if (*fmt == ' ') space = 1; else break;
        }
        if (*fmt == '*') { width = va_arg(ap, int); if (width < 0) { left = 1; width = -width; } fmt++; }
        else while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++; prec = 0;
            if (*fmt == '*') { prec = va_arg(ap, int); fmt++; }
            else while (*fmt >= '0' && *fmt <= '9') prec = prec * 10 + (*fmt++ - '0');
        }
        for (;; fmt++) {
            if (*fmt == 'h') len = len > 0 ? len : -1;
            else if (*fmt == 'l') len++;
            else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't') len = 3;
            else if (*fmt == 'L') len = 0;
            else break;
        }
        if (left) zero = 0;
        c = *fmt ? *fmt++ : '\0';
        if (c == 'd' || c == 'i') {
            long long v = len == 3 ? (long long)va_arg(ap, ptrdiff_t) : len >= 2 ? va_arg(ap, long long)
                        : len == 1 ? (long long)va_arg(ap, long) : (long long)va_arg(ap, int);
            unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            pre[0] = v < 0 ? '-' : plus ? '+' : space ? ' ' : '\0';
            m = nn__utoa(num, u, 10, 0, prec > 0 ? prec : 1);
            if (prec >= 0) zero = 0;
        } else if (c == 'u' || c == 'x' || c == 'X' || c == 'p') {
            unsigned long long u = c == 'p' ? (unsigned long long)(uintptr_t)va_arg(ap, void *)
                : len == 3 ? (unsigned long long)va_arg(ap, size_t) : len >= 2 ? va_arg(ap, unsigned long long)
                : len == 1 ? (unsigned long long)va_arg(ap, unsigned long) : (unsigned long long)va_arg(ap, unsigned);
            if (c == 'p') { pre[0] = '0'; pre[1] = 'x'; }
            m = nn__utoa(num, u, c == 'u' ? 10u : 16u, c == 'X', prec > 0 ? prec : 1);
            if (prec >= 0) zero = 0;
        } else if (c == 'c') {
            num[0] = (char)va_arg(ap, int); m = 1; zero = 0;
        } else if (c == 's') {
            s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            while (s[m] && (prec < 0 || m < prec)) m++;
            zero = 0;
        } else if (c == 'e' || c == 'f' || c == 'g' || c == 'E' || c == 'F' || c == 'G') {
            double v = va_arg(ap, double);
            int up = c == 'E' || c == 'F' || c == 'G', i;
            char lc = (char)(up ? c - 'A' + 'a' : c);
            pre[0] = signbit(v) ? '-' : plus ? '+' : space ? ' ' : '\0';
            if (signbit(v)) v = -v;
            if (prec < 0) prec = 6;
            if (v != v || v - v != 0.0) {
                s = v != v ? (up ? "NAN" : "nan") : (up ? "INF" : "inf"); m = 3; zero = 0;
            } else if (lc == 'g') {
                int p = prec ? prec : 1, x = 0;
                if (v != 0.0) {      /* the exponent once rounded to p digits */
                    char t[80]; int tk = nn__ftoa(t, v, p - 1, 'e'), j = tk - 1, sign;
                    while (t[j] != 'e') j--;
                    sign = t[j + 1] == '-' ? -1 : 1;
                    for (j += 2; j < tk; j++) x = x * 10 + (t[j] - '0');
                    x *= sign;
                }
                m = x < p && x >= -4 ? nn__ftoa(num, v, p - 1 - x, 'f') : nn__ftoa(num, v, p - 1, 'e');
                {   /* no trailing zeros after the point, nor a lone point */
                    int ep = m, j, dot = -1;
                    for (j = 0; j < m; j++) { if (num[j] == 'e') { ep = j; break; } if (num[j] == '.') dot = j; }
                    if (dot >= 0) {
                        int z = ep;
                        while (z > dot + 1 && num[z - 1] == '0') z--;
                        if (z == dot + 1) z = dot;
                        memmove(num + z, num + ep, (size_t)(m - ep)); m -= ep - z;
                    }
                }
            } else m = nn__ftoa(num, v, prec, lc);
            if (up) for (i = 0; i < m; i++) if (num[i] == 'e') num[i] = 'E';
        } else if (c == '%') { num[0] = '%'; m = 1; zero = 0; width = 0; }
        else continue;
        nn__field(&o, pre, s, m, width, left, zero);
    }
    if (o.n) o.b[o.k < o.n ? o.k : o.n - 1] = '\0';
    return (int)o.k;
}
static int nn__snprintf(char *b, size_t n, const char *fmt, ...) {
    int r; va_list ap;
    va_start(ap, fmt); r = nn__vsnprintf(b, n, fmt, ap); va_end(ap);
    return r;
}
#endif

/* ==== memory ==== */
/* the context, the step arena, the RNG, tensor storage and creation */
static void nn__err_noctx(const char *fn, const char *what);

/* ---- memory from a buffer you give (nn_use_buffer) ----
   First fit over an address-ordered free list; a freed block merges with free neighbours.
   Every block starts with a 16-byte header holding its size (header included); a free one
   also holds the next free block. Blocks made before nn_use_buffer go back to the heap. */
typedef struct nn__fblk { size_t size; struct nn__fblk *next; } nn__fblk;
#define NN__BUF_HDR ((size_t)16)
static struct { char *base; size_t size, in_use, peak; int64_t live; nn__fblk *free; } nn__ubuf;
#ifdef NN__THREADS
static pthread_mutex_t nn__buf_mu = PTHREAD_MUTEX_INITIALIZER;
#define NN__BUF_LOCK() pthread_mutex_lock(&nn__buf_mu)
#define NN__BUF_UNLOCK() pthread_mutex_unlock(&nn__buf_mu)
#else
#define NN__BUF_LOCK() ((void)0)
#define NN__BUF_UNLOCK() ((void)0)
#endif

static int nn__in_buf(const void *p) {
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)nn__ubuf.base;
    return nn__ubuf.base && a >= b && a - b < nn__ubuf.size;
}
static void *nn__buf_alloc(size_t n) {
    nn__fblk **at, *f;
    size_t need;
    if (n > nn__ubuf.size) return NULL;
    need = (n + NN__BUF_HDR + NN__BUF_HDR - 1) & ~(NN__BUF_HDR - 1);
    for (at = &nn__ubuf.free; (f = *at) != NULL; at = &f->next) {
        if (f->size < need) continue;
        if (f->size - need >= 2 * NN__BUF_HDR) {        /* split: the rest stays free */
            nn__fblk *rest = NN__CAST(nn__fblk *, NN__CAST(void *, NN__CAST(char *, NN__CAST(void *, f)) + need));
            rest->size = f->size - need; rest->next = f->next;
            *at = rest; f->size = need;
        } else *at = f->next;
        nn__ubuf.in_use += f->size;
        if (nn__ubuf.in_use > nn__ubuf.peak) nn__ubuf.peak = nn__ubuf.in_use;
        nn__ubuf.live++;
        return NN__CAST(char *, NN__CAST(void *, f)) + NN__BUF_HDR;
    }
    return NULL;
}
static void nn__buf_release(void *p) {
    nn__fblk *b = NN__CAST(nn__fblk *, NN__CAST(void *, NN__CAST(char *, p) - NN__BUF_HDR)), *prev = NULL, *f;
    nn__ubuf.in_use -= b->size;
    nn__ubuf.live--;
    for (f = nn__ubuf.free; f && f < b; f = f->next) prev = f;
    b->next = f;
    if (f && NN__CAST(char *, NN__CAST(void *, b)) + b->size == NN__CAST(char *, NN__CAST(void *, f))) {
        b->size += f->size; b->next = f->next;
    }
    if (prev && NN__CAST(char *, NN__CAST(void *, prev)) + prev->size == NN__CAST(char *, NN__CAST(void *, b))) {
        prev->size += b->size; prev->next = b->next;
    } else if (prev) prev->next = b;
    else nn__ubuf.free = b;
}
static void *nn__malloc(size_t n) {
    void *p;
    NN__BUF_LOCK();
    p = nn__ubuf.base ? nn__buf_alloc(n) : NN_MALLOC(n);
    NN__BUF_UNLOCK();
    return p;
}
static void nn__free(void *p) {
    if (!p) return;
    NN__BUF_LOCK();
    if (nn__in_buf(p)) nn__buf_release(p); else NN_FREE(p);
    NN__BUF_UNLOCK();
}
static void *nn__realloc(void *p, size_t n) {
    void *q = NULL;
    if (!p) return nn__malloc(n);
    NN__BUF_LOCK();
    if (!nn__in_buf(p)) q = NN_REALLOC(p, n);
    else {
        size_t have = NN__CAST(nn__fblk *, NN__CAST(void *, NN__CAST(char *, p) - NN__BUF_HDR))->size - NN__BUF_HDR;
        if (n <= have) q = p;
        else if ((q = nn__buf_alloc(n)) != NULL) { memcpy(q, p, have); nn__buf_release(p); }
    }
    NN__BUF_UNLOCK();
    return q;
}

NN_API int nn_use_buffer(void *buf, size_t bytes) {
    uintptr_t a = (uintptr_t)buf, skip = (NN__BUF_HDR - (a & (NN__BUF_HDR - 1))) & (NN__BUF_HDR - 1);
    int ok = 1;
    NN__BUF_LOCK();
    if (nn__ubuf.live > 0) {
        ok = 0;
        nn__err_noctx("nn_use_buffer", "the buffer in use still holds blocks; free every context, tensor, "
                                       "module, optimizer and dataset made from it first");
    } else if (!buf && bytes) {
        ok = 0; nn__err_noctx("nn_use_buffer", "buf is NULL; give a buffer, or NULL and 0 to go back to the heap");
    } else if (buf && (bytes < 256 + skip)) {
        ok = 0; nn__err_noctx("nn_use_buffer", "bytes is less than 256; give a bigger buffer");
    } else if (!buf) {
        memset(&nn__ubuf, 0, sizeof nn__ubuf);
    } else {
        nn__ubuf.base = NN__CAST(char *, buf) + skip;
        nn__ubuf.size = (bytes - skip) & ~(NN__BUF_HDR - 1);
        nn__ubuf.in_use = nn__ubuf.peak = 0; nn__ubuf.live = 0;
        nn__ubuf.free = NN__CAST(nn__fblk *, NN__CAST(void *, nn__ubuf.base));
        nn__ubuf.free->size = nn__ubuf.size; nn__ubuf.free->next = NULL;
    }
    NN__BUF_UNLOCK();
    return ok;
}
NN_API size_t nn_buffer_in_use(void) { return nn__ubuf.in_use; }
NN_API size_t nn_buffer_peak(void) { return nn__ubuf.peak; }

/* tensor flags: who owns it; a non-leaf's grad kept (retain_grad); its graph used by a backward */
enum { NN__PERSISTENT = 1u, NN__ARENA = 2u, NN__RETAIN_GRAD = 4u, NN__GRAPH_FREED = 8u,
       NN__GRAD_NONFINITE = 16u };   /* (anomaly mode: its grad held NaN or inf before this backward) */

typedef struct nn__block {
    struct nn__block *next;
    size_t cap, used;
    char *mem;
} nn__block;

static nn_tensor *nn__retain(nn_tensor *t);
static int nn__finite(double v) { return v == v && v - v == 0.0; }   /* not NaN, not inf */

typedef struct nn__rng { uint64_t state, inc; int has_spare; float spare; } nn__rng;

/* a gradient buffer given back during backward, reused by the next one of a fitting size */
typedef struct nn__free_grad { struct nn__free_grad *next; size_t bytes; } nn__free_grad;

/* Headers of step tensors live apart from their data, in a ring of chunks that only ever
   holds headers: a header is reused only NN__HEADER_KEEP resets after it was made, so a
   tensor kept past nn_arena_reset still has a readable header whose generation tells. */
#define NN__HEADER_CHUNK 256
#define NN__HEADER_KEEP 3
typedef struct nn__hchunk { struct nn__hchunk *next; uint64_t last_gen; nn_tensor slot[NN__HEADER_CHUNK]; } nn__hchunk;

/* a persistent tensor a graph node reads, held (one reference) until the reset */
typedef struct nn__held { struct nn__held *next; nn_tensor *t; } nn__held;

typedef struct nn__workers nn__workers;     /* the worker threads: section cpu */
static void nn__workers_free(nn__workers *p);
static int nn__cap_best(void);

#ifdef NN_CUDA
/* nn_cuda.h's side of device memory: the context's cached blocks, its device step arena (reset,
   marked and rewound with the host arena), device data of persistent tensors, zeroing, and the
   one-element copy nn_item makes */
static void nn__cuda_ctx_free(nn_ctx *ctx);
static void *nn__cuda_arena_alloc(nn_ctx *ctx, size_t bytes);
static void nn__cuda_arena_reset(nn_ctx *ctx);
static void nn__cuda_arena_mark(nn_ctx *ctx, size_t *block, size_t *used);
static void nn__cuda_arena_rewind(nn_ctx *ctx, size_t block, size_t used);
static void *nn__cuda_data_alloc(nn_ctx *ctx, size_t bytes);
static void nn__cuda_data_free(nn_ctx *ctx, void *p, size_t bytes);
static int nn__cuda_zero(nn_ctx *ctx, void *p, size_t bytes);
static int nn__cuda_read(nn_ctx *ctx, void *host, const void *dev, size_t bytes);
static int nn__cuda_seed_grad(nn_tensor *t, nn_tensor *grad);
static void nn__cuda_fill(nn_tensor *t, float value);
static nn_tensor *nn__cuda_keep(const nn_tensor *t);
static int nn__cuda_move(nn_tensor *t, nn_device device);
static int nn__cuda_write(nn_ctx *ctx, void *dev, const void *host, size_t bytes);   /* host to device */
/* clip_grad_norm_/clip_grad_value_ of a device gradient: its terms joined into *total; scaled or
   clamped in place */
static int nn__cuda_grad_norm(const nn_tensor *g, float norm_type, double *total);
static int nn__cuda_scale_(nn_tensor *g, float coef);
static int nn__cuda_clip_(nn_tensor *g, float clip);
#endif
struct nn_ctx {
    nn__block *head, *cur;       /* step arena: blocks after cur are empty */
#ifdef NN_CUDA
    void *cuda;                  /* nn_cuda.h's state for this context (its caching allocator), or NULL */
#endif
    nn__hchunk *hcur;            /* header ring: the chunk in use and the next free slot in it */
    int hnext;
    int64_t headers;             /* headers made since the last reset */
    nn__held *held;              /* persistent inputs of this step's graph */
    size_t min_block;
    size_t in_use, peak;         /* arena bytes held now and at most since nn_ctx_new */
    size_t warn_at;              /* the next arena size that logs a "forgot nn_arena_reset?" warning */
    nn__free_grad *free_grads;
    int64_t n_nodes;             /* graph nodes and edges made since the last reset */
    uint64_t gen;                /* arena generation: arena tensors carry the one they were made in */
    unsigned visit_epoch;
    int grad_enabled;
    int detect_anomaly;          /* nn_set_detect_anomaly */
    int64_t op_seq;              /* ops made since the last reset (anomaly messages) */
    size_t mem_bytes, mem_limit; /* tensor memory held now (nn_memory_in_use) and the cap, 0 for none */
    size_t refused_at;           /* an allocation just refused: the bytes in use it would have made, */
    int refused;                 /* or its own size (refused 1: by the cap, 2: more than the machine has) */
    size_t phys_bytes;           /* this machine's memory, 0 when unknown: no one allocation may pass it */
    int64_t live_tensors;        /* persistent tensors not yet freed: nn_ctx_free keeps the struct for them */
    int freed;                   /* nn_ctx_free ran while live_tensors > 0 */
    nn__rng rng;
    int has_error;
    char error[512];
    nn_log_fn log;
    void *log_user;
    nn__workers *pool;              /* worker threads (nn_set_num_threads); NULL: one thread */
    int cap;                     /* the kernels this context runs (nn_set_cpu_capability) */
};

typedef struct nn__mark {
    nn__block *block; size_t used, in_use; int64_t n_nodes, headers;
    nn__hchunk *hcur; int hnext; nn__held *held;
#ifdef NN_CUDA
    size_t dev_block, dev_used;   /* the device step arena's position */
#endif
} nn__mark;

#ifndef NN_NO_STDIO
static void nn__stderr_logger(void *user, const char *msg) { (void)user; fprintf(stderr, "nn: %s\n", msg); }
#endif

/* ---- the memory cap (nn_set_memory_limit) ---- */

/* This machine's memory in bytes, 0 when unknown: one allocation larger is refused, not tried. */
static size_t nn__phys_bytes(void) {
#if defined(NN__SYSCONF)
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && size > 0 && (unsigned long)pages <= SIZE_MAX / (unsigned long)size) return (size_t)pages * (size_t)size;
#endif
    return 0;
}

/* Counts an allocation of `bytes` of tensor memory before it is made. 0 (nothing counted) when it
   would take the context past its cap, or is larger than the machine's memory; the next error
   message then says which (nn__mem_why). */
static int nn__mem_take(nn_ctx *ctx, size_t bytes) {
    if (ctx->phys_bytes && bytes > ctx->phys_bytes) { ctx->refused = 2; ctx->refused_at = bytes; return 0; }
    if (ctx->mem_limit && (bytes > ctx->mem_limit || ctx->mem_bytes > ctx->mem_limit - bytes)) {
        ctx->refused = 1;
        ctx->refused_at = bytes > SIZE_MAX - ctx->mem_bytes ? SIZE_MAX : ctx->mem_bytes + bytes;
        return 0;
    }
    ctx->mem_bytes += bytes;
    return 1;
}
static void nn__mem_give(nn_ctx *ctx, size_t bytes) { ctx->mem_bytes -= bytes <= ctx->mem_bytes ? bytes : ctx->mem_bytes; }

/* Appends why the last allocation was refused to an error message, once. */
static void nn__mem_why(nn_ctx *ctx, char *buf, size_t n) {
    size_t k = strlen(buf);
    if (k < n && ctx->refused == 1)
        nn__snprintf(buf + k, n - k, ": memory limit: %llu bytes would be in use, the limit is %llu (nn_set_memory_limit)",
                 (unsigned long long)ctx->refused_at, (unsigned long long)ctx->mem_limit);
    else if (k < n)
        nn__snprintf(buf + k, n - k, ": %llu bytes in one allocation is more than this machine's memory (%llu bytes)",
                 (unsigned long long)ctx->refused_at, (unsigned long long)ctx->phys_bytes);
    ctx->refused = 0;
}

/* Records an error: the first one sticks, every one goes to the logger. */
static void nn__err(nn_ctx *ctx, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    if (!ctx) return;
    va_start(ap, fmt);
    nn__vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ctx->refused) nn__mem_why(ctx, buf, sizeof buf);
    if (!ctx->has_error) { memcpy(ctx->error, buf, sizeof buf); ctx->has_error = 1; }
    if (ctx->log) ctx->log(ctx->log_user, buf);
}

/* A NULL argument reported to the context of another (unless an error is already recorded). */
static void nn__null_arg(const nn_tensor *other, const char *fn, const char *name) {
    if (other && other->ctx && !other->ctx->has_error) nn__err(other->ctx, "%s: %s is NULL", fn, name);
}

/* "(64, 784)" */
static const char *nn__shape_str(const nn_tensor *t, char *buf, size_t n) {
    size_t k = 0; int i;
    if (!t) { nn__snprintf(buf, n, "NULL"); return buf; }
    k += (size_t)nn__snprintf(buf + k, n - k, "(");
    for (i = 0; i < t->ndim && k < n; i++)
        k += (size_t)nn__snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) nn__snprintf(buf + k, n - k, t->ndim == 1 ? ",)" : ")");
    return buf;
}
#define NN__SHAPE(t, buf) nn__shape_str((t), (buf), sizeof(buf))

NN_API nn_ctx *nn_ctx_new(void) {
    nn_ctx *ctx = NN__CAST(nn_ctx *, nn__malloc(sizeof(nn_ctx)));
    if (!ctx) return NULL;
    memset(ctx, 0, sizeof *ctx);
    ctx->min_block = NN_ARENA_MIN_BLOCK;
    ctx->warn_at = (size_t)1 << 30;
    ctx->gen = 1;
    ctx->grad_enabled = 1;
    ctx->phys_bytes = nn__phys_bytes();
    ctx->cap = nn__cap_best();
#ifndef NN_NO_STDIO
    ctx->log = nn__stderr_logger;
#endif
    nn_manual_seed(ctx, 0);
    return ctx;
}

static void nn__release_held(nn_ctx *ctx, nn__held *until) {
    while (ctx->held != until) { nn__held *h = ctx->held; ctx->held = h->next; nn_free(h->t); }
}

NN_API void nn_ctx_free(nn_ctx *ctx) {
    nn__block *b, *next;
    nn__hchunk *c, *cn;
    if (!ctx) return;
#ifdef NN_CUDA
    nn__cuda_ctx_free(ctx);
#endif
    nn__workers_free(ctx->pool);
    ctx->pool = NULL;
    nn__release_held(ctx, NULL);
    for (b = ctx->head; b; b = next) { next = b->next; nn__mem_give(ctx, sizeof(nn__block) + b->cap + 64); nn__free(b); }
    ctx->head = ctx->cur = NULL;
    if (ctx->hcur) {
        for (c = ctx->hcur->next; c != ctx->hcur; c = cn) { cn = c->next; nn__free(c); }
        nn__free(ctx->hcur);
        ctx->hcur = NULL;
    }
    if (ctx->live_tensors > 0) { ctx->freed = 1; return; }   /* the last nn_free of them frees it */
    nn__free(ctx);
}

/* A ring chunk inserted after the current one. */
static nn__hchunk *nn__hchunk_insert(nn_ctx *ctx) {
    nn__hchunk *c;
    if (!nn__mem_take(ctx, sizeof(nn__hchunk))) return NULL;
    c = NN__CAST(nn__hchunk *, nn__malloc(sizeof(nn__hchunk)));
    if (!c) { nn__mem_give(ctx, sizeof(nn__hchunk)); return NULL; }
    c->last_gen = 0;
    if (ctx->hcur) { c->next = ctx->hcur->next; ctx->hcur->next = c; }
    else { c->next = c; ctx->hcur = c; ctx->hnext = NN__HEADER_CHUNK; }
    return c;
}
/* The next header slot: the ring moves on to a chunk only when that chunk's headers are
   NN__HEADER_KEEP resets old; otherwise a new chunk goes in. */
static nn_tensor *nn__header_alloc(nn_ctx *ctx) {
    if (!ctx->hcur || ctx->hnext == NN__HEADER_CHUNK) {
        nn__hchunk *n = ctx->hcur ? ctx->hcur->next : NULL;
        if (!n || n == ctx->hcur || n->last_gen + NN__HEADER_KEEP > ctx->gen) n = nn__hchunk_insert(ctx);
        if (!n) return NULL;
        ctx->hcur = n;
        ctx->hnext = 0;
    }
    ctx->hcur->last_gen = ctx->gen;
    ctx->headers++;
    return &ctx->hcur->slot[ctx->hnext++];
}

static void nn__arena_note(nn_ctx *ctx, size_t need) {
    ctx->in_use += need;
    if (ctx->in_use > ctx->peak) ctx->peak = ctx->in_use;
    if (ctx->in_use > ctx->warn_at && ctx->log) {
        char msg[256];
        nn__snprintf(msg, sizeof msg, "warning: the step arena holds %.0f MB since the last nn_arena_reset; "
                 "call nn_arena_reset(ctx) once per training step, or memory grows without bound", ctx->in_use / 1e6);
        ctx->log(ctx->log_user, msg);
        ctx->warn_at *= 2;
    }
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
            nn__arena_note(ctx, need);
            return p;
        }
        if (b != ctx->cur) break;     /* empty blocks after cur: only try the next one */
    }
    cap = ctx->min_block;
    if (ctx->cur && cap < 2 * ctx->cur->cap) cap = 2 * ctx->cur->cap;
    if (cap < need) cap = need;
    if (ctx->mem_limit) {   /* under a cap: rather than a refusal, a smaller block that still fits */
        size_t over = sizeof(nn__block) + 64;
        size_t room = ctx->mem_limit > ctx->mem_bytes + over ? ctx->mem_limit - ctx->mem_bytes - over : 0;
        if (cap > room && room >= need) cap = room;
    }
    if (cap > SIZE_MAX - sizeof(nn__block) - 64 || !nn__mem_take(ctx, sizeof(nn__block) + cap + 64)) return NULL;
    b = NN__CAST(nn__block *, nn__malloc(sizeof(nn__block) + cap + 64));
    if (!b) { nn__mem_give(ctx, sizeof(nn__block) + cap + 64); return NULL; }
    b->cap = cap; b->used = need;
    b->mem = NN__CAST(char *, NN__CAST(void *, b + 1));
    b->mem += (64 - ((uintptr_t)b->mem & 63)) & 63;
    if (ctx->cur) { b->next = ctx->cur->next; ctx->cur->next = b; } else { b->next = NULL; ctx->head = b; }
    ctx->cur = b;
    nn__arena_note(ctx, need);
    return b->mem;
}

/* Every reset starts a new generation: tensors of earlier ones are refused (nn__stale reads
   their header, which the header ring keeps readable), and the persistent tensors the graph
   held are let go. */
NN_API void nn_arena_reset(nn_ctx *ctx) {
    nn__block *b, *next;
    size_t total = 0;
    if (!ctx) return;
    nn__release_held(ctx, NULL);
#ifdef NN_CUDA
    nn__cuda_arena_reset(ctx);
#endif
    {   /* room for NN__HEADER_KEEP + 1 steps like this one, so later steps allocate nothing */
        int64_t need = (NN__HEADER_KEEP + 1) * ctx->headers, have = 0;
        nn__hchunk *c = ctx->hcur;
        if (c) do { have += NN__HEADER_CHUNK; c = c->next; } while (c != ctx->hcur);
        for (; have < need; have += NN__HEADER_CHUNK) if (!nn__hchunk_insert(ctx)) { ctx->refused = 0; break; }
        ctx->headers = 0;
    }
    ctx->n_nodes = 0;
    ctx->op_seq = 0;
    ctx->gen++;
    ctx->in_use = 0;
    ctx->free_grads = NULL;
    if (ctx->warn_at > ((size_t)1 << 30)) ctx->warn_at = (size_t)1 << 30;
    if (ctx->head && ctx->head->next) {       /* merge the chain into one block */
        for (b = ctx->head; b; b = next) { next = b->next; total += b->cap; nn__mem_give(ctx, sizeof(nn__block) + b->cap + 64); nn__free(b); }
        ctx->head = ctx->cur = NULL;
        ctx->min_block = total;
        if (nn__arena_alloc(ctx, 1)) ctx->head->used = 0;
        ctx->refused = 0;    /* under a cap lowered since, no block now: the next allocation says why */
    }
    if (ctx->head) ctx->head->used = 0;
    ctx->in_use = 0;
    ctx->cur = ctx->head;
}

/* Holds a persistent tensor a graph node reads until the reset (nn_free of it waits). */
static int nn__hold(nn_ctx *ctx, nn_tensor *t) {
    nn__held *h;
    if (!t || !(t->flags & NN__PERSISTENT)) return 1;
    h = NN__CAST(nn__held *, nn__arena_alloc(ctx, sizeof(nn__held)));
    if (!h) return 0;
    h->t = nn__retain(t);
    h->next = ctx->held;
    ctx->held = h;
    return 1;
}

NN_API size_t nn_arena_peak(const nn_ctx *ctx) { return ctx ? ctx->peak : 0; }

/* Gradient buffers of intermediate results: taken when backward first needs one, given back
   once the node's backward has run, and reused within the step (peak = live gradients). */
static void *nn__grad_take(nn_ctx *ctx, size_t bytes) {
    nn__free_grad **pp, **best = NULL, *f;
    size_t need = (bytes + 63) & ~(size_t)63;
    for (pp = &ctx->free_grads; (f = *pp) != NULL; pp = &f->next)   /* best fit: the smallest buffer that holds it */
        if (f->bytes >= need && (!best || f->bytes < (*best)->bytes)) best = pp;
    if (!best) return nn__arena_alloc(ctx, need);
    f = *best;
    *best = f->next;
    if (f->bytes - need >= 4096) {   /* split: the rest stays free, where f was in the list */
        nn__free_grad *rest = NN__CAST(nn__free_grad *, (void *)(NN__CAST(char *, (void *)f) + need));
        rest->bytes = f->bytes - need;
        rest->next = *best;
        *best = rest;
    }
    return (void *)f;
}
static void nn__grad_give(nn_ctx *ctx, void *p, size_t bytes) {
    nn__free_grad *f = NN__CAST(nn__free_grad *, p), *prev = NULL, *next = ctx->free_grads;
    f->bytes = (bytes + 63) & ~(size_t)63;   /* a split buffer gives back the part it used */
    while (next && (char *)next < (char *)f) { prev = next; next = next->next; }   /* kept in address order */
    if (next && (char *)f + f->bytes == (char *)next) { f->bytes += next->bytes; next = next->next; }
    f->next = next;
    if (prev && (char *)prev + prev->bytes == (char *)f) { prev->bytes += f->bytes; prev->next = f->next; }
    else if (prev) prev->next = f;
    else ctx->free_grads = f;
}

NN_API size_t nn_arena_capacity(const nn_ctx *ctx) {
    size_t total = 0; const nn__block *b;
    if (!ctx) return 0;
    for (b = ctx->head; b; b = b->next) total += b->cap;
    return total;
}

static nn__mark nn__arena_mark(nn_ctx *ctx) {
    nn__mark m;
    m.block = ctx->cur; m.used = ctx->cur ? ctx->cur->used : 0; m.n_nodes = ctx->n_nodes; m.in_use = ctx->in_use;
    m.headers = ctx->headers; m.hcur = ctx->hcur; m.hnext = ctx->hnext; m.held = ctx->held;
#ifdef NN_CUDA
    nn__cuda_arena_mark(ctx, &m.dev_block, &m.dev_used);
#endif
    return m;
}

/* Is p in memory that rewinding to m gives back (m's block past the mark, or a later block)? */
static int nn__past_mark(const nn__mark *m, const void *p) {
    const nn__block *b;
    const char *c = NN__CAST(const char *, p);
    if (c >= m->block->mem && c < m->block->mem + m->block->cap) return c >= m->block->mem + m->used;
    for (b = m->block->next; b; b = b->next) if (c >= b->mem && c < b->mem + b->cap) return 1;
    return 0;
}

static void nn__arena_rewind(nn_ctx *ctx, nn__mark m) {
    nn__block *b;
    nn__free_grad **pp;
    nn__release_held(ctx, m.held);
#ifdef NN_CUDA
    nn__cuda_arena_rewind(ctx, m.dev_block, m.dev_used);
#endif
    ctx->headers = m.headers;   /* headers made since are dead */
    if (m.hcur) { ctx->hcur = m.hcur; ctx->hnext = m.hnext; }   /* (a ring begun since the mark stays, for nn_ctx_free) */
    if (!m.block) { nn_arena_reset(ctx); return; }
    for (pp = &ctx->free_grads; *pp; ) {   /* free gradient buffers in the memory given back go too */
        nn__free_grad *f = *pp;
        char *c = NN__CAST(char *, (void *)f), *mark_at = m.block->mem + m.used;
        if (nn__past_mark(&m, f)) { *pp = f->next; continue; }
        if (c < mark_at && c + f->bytes > mark_at) f->bytes = (size_t)(mark_at - c);   /* merged across the mark */
        pp = &f->next;
    }
    for (b = m.block->next; b; b = b->next) b->used = 0;
    m.block->used = m.used;
    ctx->cur = m.block;
    ctx->n_nodes = m.n_nodes;
    ctx->in_use = m.in_use;
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
NN_API int nn_set_detect_anomaly(nn_ctx *ctx, int enabled) {
    int old;
    if (!ctx) return 0;
    old = ctx->detect_anomaly; ctx->detect_anomaly = enabled != 0;
    return old;
}
NN_API int nn_is_anomaly_enabled(const nn_ctx *ctx) { return ctx ? ctx->detect_anomaly : 0; }
NN_API int nn_set_memory_limit(nn_ctx *ctx, size_t bytes) {
    if (!ctx) return 0;
    ctx->mem_limit = bytes;
    return 1;
}
NN_API size_t nn_memory_in_use(const nn_ctx *ctx) { return ctx ? ctx->mem_bytes : 0; }

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
NN_API size_t nn_dtype_size(nn_dtype dtype) { return (unsigned)dtype < (unsigned)NN_DTYPE_COUNT ? nn__dtype_bytes[dtype] : 0; }
NN_API const char *nn_dtype_name(nn_dtype dtype) { return (unsigned)dtype < (unsigned)NN_DTYPE_COUNT ? nn__dtype_str[dtype] : "?"; }

static void nn__init_header(nn_tensor *t, nn_ctx *ctx, int ndim, const int64_t *shape, int64_t numel) {
    memset(t, 0, sizeof *t);
    t->ctx = ctx; t->ndim = ndim; t->numel = numel; t->device = NN_CPU; t->dtype = NN_FLOAT32;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    nn__contig_strides(ndim, t->shape, t->stride);
    t->src = t->src_inline;
    t->op = NN_OP_LEAF;
    t->storage = &t->storage_inline;
}

/* A persistent tensor: header, storage and data in one allocation. On a device the data is
   device memory of its own (given back by nn_free), and the host allocation holds the header. */
static nn_tensor *nn__new_persistent_on(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, nn_dtype dtype, nn_device device) {
    int64_t n; size_t head = (sizeof(nn_tensor) + 63) & ~(size_t)63, bytes, es = nn_dtype_size(dtype); char *mem; nn_tensor *t;
    void *dev = NULL;
    if (!ctx) return NULL;
    if (!es) { nn__err(ctx, "%s: unknown dtype %d", fn, (int)dtype); return NULL; }
    n = nn__check_shape(ctx, fn, ndim, shape);
    if (n < 0) return NULL;
    if ((uint64_t)n > (SIZE_MAX - head - 64) / es) { nn__err(ctx, "%s: %lld elements do not fit in memory", fn, (long long)n); return NULL; }
    bytes = head + (device == NN_CPU ? (size_t)n * es + 64 : 0);
#ifdef NN_CUDA
    if (device == NN_CUDA && !(dev = nn__cuda_data_alloc(ctx, (size_t)(n ? n : 1) * es))) {
        nn__err(ctx, "%s: cannot allocate %lld elements of %s on the GPU", fn, (long long)n, nn_dtype_name(dtype));
        return NULL;
    }
#endif
    if (!nn__mem_take(ctx, bytes)) {
#ifdef NN_CUDA
        if (dev) nn__cuda_data_free(ctx, dev, (size_t)(n ? n : 1) * es);
#endif
        nn__err(ctx, "%s: cannot allocate %lld elements of %s", fn, (long long)n, nn_dtype_name(dtype));
        return NULL;
    }
    mem = NN__CAST(char *, nn__malloc(bytes));
    if (!mem) {
#ifdef NN_CUDA
        if (dev) nn__cuda_data_free(ctx, dev, (size_t)(n ? n : 1) * es);
#endif
        nn__mem_give(ctx, bytes); nn__err(ctx, "%s: out of memory allocating %lld elements", fn, (long long)n); return NULL;
    }
    ctx->live_tensors++;
    t = NN__CAST(nn_tensor *, (void *)mem);
    nn__init_header(t, ctx, ndim, shape, n);
    t->dtype = dtype;
    t->data = dev ? dev : (void *)(mem + head);
    t->device = t->storage->device = device;
    t->storage->ptr = t->data; t->storage->bytes = (size_t)n * es; t->storage->owner = NN_OWNER_LIBRARY;
    t->flags = NN__PERSISTENT;
    t->refs = 1;
    t->alloc_bytes = bytes;
    return t;
}
static nn_tensor *nn__new_persistent_dtype(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, nn_dtype dtype) {
    return nn__new_persistent_on(ctx, fn, ndim, shape, dtype, NN_CPU);
}
static nn_tensor *nn__new_persistent(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape) {
    return nn__new_persistent_dtype(ctx, fn, ndim, shape, NN_FLOAT32);
}

/* A tensor in the step arena (the device's step arena for its data on a device); data NULL when
   it will be a view. */
static nn_tensor *nn__new_arena_on(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, int with_data, nn_dtype dtype,
                                   nn_device device) {
    int64_t n; nn_tensor *t; size_t es = nn_dtype_size(dtype);
    n = nn__check_shape(ctx, fn, ndim, shape);
    if (n < 0) return NULL;
    t = nn__header_alloc(ctx);
    if (!t) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    nn__init_header(t, ctx, ndim, shape, n);
    t->dtype = dtype;
    t->flags = NN__ARENA;
    t->gen = ctx->gen;
    t->device = t->storage->device = device;
    if (with_data) {
#ifdef NN_CUDA
        if (device == NN_CUDA) t->data = nn__cuda_arena_alloc(ctx, (size_t)(n ? n : 1) * es);
        else
#endif
        t->data = nn__arena_alloc(ctx, (size_t)(n ? n : 1) * es);
        if (!t->data && ctx->refused) { nn__err(ctx, "%s: cannot allocate %lld elements of %s", fn, (long long)n, nn_dtype_name(dtype)); return NULL; }
        if (!t->data) { nn__err(ctx, "%s: out of memory allocating %lld elements", fn, (long long)n); return NULL; }
        t->storage->ptr = t->data; t->storage->bytes = (size_t)n * es; t->storage->owner = NN_OWNER_ARENA;
    }
    return t;
}
static nn_tensor *nn__new_arena_dtype(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, int with_data, nn_dtype dtype) {
    return nn__new_arena_on(ctx, fn, ndim, shape, with_data, dtype, NN_CPU);
}
static nn_tensor *nn__new_arena(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape, int with_data) {
    return nn__new_arena_dtype(ctx, fn, ndim, shape, with_data, NN_FLOAT32);
}

/* Another owner of a persistent tensor (a module sharing it): nn_free drops one. */
static nn_tensor *nn__retain(nn_tensor *t) { if (t && (t->flags & NN__PERSISTENT)) t->refs++; return t; }

NN_API void nn_free(nn_tensor *t) {
    nn_ctx *ctx;
    if (!t || !(t->flags & NN__PERSISTENT)) return;
    if (--t->refs > 0) return;
    nn_free(t->grad);
    ctx = t->ctx;
#ifdef NN_CUDA
    if (t->storage->device == NN_CUDA) nn__cuda_data_free(ctx, t->storage->ptr, t->storage->bytes ? t->storage->bytes : nn_dtype_size(t->dtype));
#endif
    nn__mem_give(ctx, t->alloc_bytes);
    nn__free(t);
    if (--ctx->live_tensors == 0 && ctx->freed) nn__free(ctx);   /* nn_ctx_free ran before */
}

/* A tensor from the step arena used after nn_arena_reset: its memory now holds other tensors. */
static int nn__stale(const nn_tensor *t) { return (t->flags & NN__ARENA) && t->gen != t->ctx->gen; }
static int nn__check_live(const nn_tensor *t, const char *fn) {
    if (!nn__stale(t)) return 1;
    nn__err(t->ctx, "%s: the tensor was made before the last nn_arena_reset and no longer exists; keep it with nn_keep", fn);
    return 0;
}

/* Functions that read or write values on the host refuse device tensors (a device pointer read by
   the host would crash): 0 with an error naming the function. */
static int nn__on_host(const nn_tensor *t, const char *fn) {
    if (!t || t->device == NN_CPU) return 1;
    nn__err(t->ctx, "%s: a tensor is on the GPU (device %d) and this function works on the CPU; move it with nn_to(t, NN_CPU) "
            "or nn_module_to(m, NN_CPU) first", fn, (int)t->device);
    return 0;
}

NN_API float *nn_f32(const nn_tensor *t) {
    if (!t || !nn__check_live(t, "nn_f32")) return NULL;
    if (t->dtype != NN_FLOAT32) { nn__err(t->ctx, "nn_f32: the tensor is %s, not float32", nn_dtype_name(t->dtype)); return NULL; }
    return NN__F32(t);
}
NN_API int64_t *nn_i64(const nn_tensor *t) {
    if (!t || !nn__check_live(t, "nn_i64")) return NULL;
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
    if (step == 0.0f || !nn__finite(step) || !nn__finite(start) || !nn__finite(end)) {
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
NN_API nn_tensor *nn_multinomial(nn_tensor *probs, int64_t num_samples, int replacement) {
    const char *fn = "nn_multinomial";
    nn_tensor *p, *out;
    int64_t rows, n, r, k, i, shape[2];
    double *w;
    nn__mark mark;
    if (!probs) return NULL;
    if (!nn__check_live(probs, fn)) return NULL;
    if (probs->dtype != NN_FLOAT32) { nn__err(probs->ctx, "%s: probs is %s; it must be float32", fn, nn_dtype_name(probs->dtype)); return NULL; }
    if (probs->ndim != 1 && probs->ndim != 2) { nn__err(probs->ctx, "%s: probs has %d dims; it must be 1-D (n) or 2-D (rows, n)", fn, probs->ndim); return NULL; }
    n = probs->shape[probs->ndim - 1]; rows = probs->ndim == 2 ? probs->shape[0] : 1;
    if (n < 1) { nn__err(probs->ctx, "%s: probs has no categories (its last dim is 0)", fn); return NULL; }
    if (num_samples < 1) { nn__err(probs->ctx, "%s: num_samples is %lld; it must be >= 1", fn, (long long)num_samples); return NULL; }
    if (!replacement && num_samples > n) {
        nn__err(probs->ctx, "%s: num_samples %lld is more than the %lld categories; without replacement each is drawn at most once",
                fn, (long long)num_samples, (long long)n);
        return NULL;
    }
    if (probs->ndim == 2) { shape[0] = rows; shape[1] = num_samples; } else shape[0] = num_samples;
    p = nn_contiguous(probs);
    if (!p) return NULL;
    out = nn__new_arena_dtype(probs->ctx, fn, probs->ndim, shape, 1, NN_INT64);
    if (!out) return NULL;
    for (i = 0; i < rows * n; i++) {
        float v = NN__F32(p)[i];
        if (!(v >= 0.0f) || !nn__finite(v)) {
            nn__err(probs->ctx, "%s: probs[%lld] is %g; every weight must be finite and >= 0", fn, (long long)i, (double)v);
            return NULL;
        }
    }
    mark = nn__arena_mark(probs->ctx);
    w = NN__CAST(double *, nn__arena_alloc(probs->ctx, (size_t)n * sizeof(double)));
    if (!w) { nn__arena_rewind(probs->ctx, mark); nn__err(probs->ctx, "%s: out of memory", fn); return NULL; }
    for (r = 0; r < rows; r++) {
        const float *pr = NN__F32(p) + r * n;
        int64_t *o = NN__CAST(int64_t *, out->data) + r * num_samples;
        double total = 0.0;
        for (i = 0; i < n; i++) { w[i] = pr[i]; total += w[i]; }
        if (!(total > 0.0)) {
            nn__arena_rewind(probs->ctx, mark);
            nn__err(probs->ctx, "%s: row %lld of probs sums to 0; give at least one weight > 0", fn, (long long)r);
            return NULL;
        }
        for (k = 0; k < num_samples; k++) {
            double u, c = 0.0;
            int64_t pick = -1;
            if (!replacement && !(total > 0.0)) {   /* fewer categories with weight than samples */
                nn__arena_rewind(probs->ctx, mark);
                nn__err(probs->ctx, "%s: row %lld has %lld weights > 0, fewer than num_samples %lld without replacement",
                        fn, (long long)r, (long long)k, (long long)num_samples);
                return NULL;
            }
            u = (double)nn__rng_uniform(&probs->ctx->rng) * total;
            for (i = 0; i < n; i++) {            /* the first index whose running sum passes u */
                if (w[i] <= 0.0) continue;
                pick = i; c += w[i];
                if (u < c) break;
            }
            if (pick < 0) {
                nn__arena_rewind(probs->ctx, mark);
                nn__err(probs->ctx, "%s: row %lld has %lld weights > 0, fewer than num_samples %lld without replacement",
                        fn, (long long)r, (long long)k, (long long)num_samples);
                return NULL;
            }
            o[k] = pick;
            if (!replacement) { total -= w[pick]; w[pick] = 0.0; if (total < 0.0) total = 0.0; }
        }
    }
    nn__arena_rewind(probs->ctx, mark);
    return out;
}

/* descending order of floats, for nn_sample_logits' k-th largest */
static int nn__cmp_desc(const void *a, const void *b) {
    float x = *NN__CAST(const float *, a), y = *NN__CAST(const float *, b);
    return x < y ? 1 : (x > y ? -1 : 0);
}

NN_API nn_tensor *nn_sample_logits(nn_tensor *logits, float temperature, int64_t top_k) {
    const char *fn = "nn_sample_logits";
    nn_tensor *l, *probs, *out;
    int64_t rows, n, r, i;
    float *sorted;
    if (!logits || !nn__check_live(logits, fn)) return NULL;
    if (logits->dtype != NN_FLOAT32 || (logits->ndim != 1 && logits->ndim != 2) || logits->shape[logits->ndim - 1] < 1) {
        char s[128];
        nn__err(logits->ctx, "%s: logits are %s %s; expected float32 (V) or (N, V) with V >= 1", fn,
                nn_dtype_name(logits->dtype), NN__SHAPE(logits, s));
        return NULL;
    }
    if (!(temperature > 0.0f) || !nn__finite(temperature)) {
        nn__err(logits->ctx, "%s: temperature is %g; it must be finite and > 0", fn, (double)temperature);
        return NULL;
    }
    if (top_k < 0) { nn__err(logits->ctx, "%s: top_k is %lld; it must be 0 (all) or more", fn, (long long)top_k); return NULL; }
    n = logits->shape[logits->ndim - 1];
    rows = logits->numel / n;
    if (!(l = nn_contiguous(logits))) return NULL;
    if (!(probs = nn__new_arena(logits->ctx, fn, logits->ndim, logits->shape, 1))) return NULL;
    if (!(sorted = NN__CAST(float *, nn__arena_alloc(logits->ctx, (size_t)n * sizeof(float))))) { nn__err(logits->ctx, "%s: out of memory", fn); return NULL; }
    for (r = 0; r < rows; r++) {
        const float *x = NN__F32(l) + r * n;
        float *p = NN__F32(probs) + r * n, cut = -INFINITY, top = -INFINITY;
        double total = 0.0;
        for (i = 0; i < n; i++) {
            if (x[i] != x[i] || x[i] == INFINITY) {
                nn__err(logits->ctx, "%s: logits[%lld] is %g; they must be below +inf and not NaN", fn, (long long)(r * n + i), (double)x[i]);
                return NULL;
            }
            if (x[i] > top) top = x[i];
        }
        if (top == -INFINITY) { nn__err(logits->ctx, "%s: row %lld of logits is all -inf", fn, (long long)r); return NULL; }
        if (top_k > 0 && top_k < n) {
            memcpy(sorted, x, (size_t)n * sizeof(float));
            qsort(sorted, (size_t)n, sizeof(float), nn__cmp_desc);
            cut = sorted[top_k - 1];
        }
        for (i = 0; i < n; i++) {   /* softmax of x / T over the kept logits (ties at the k-th all stay) */
            double e = x[i] < cut ? 0.0 : exp(((double)x[i] - top) / temperature);
            p[i] = (float)e;
            total += e;
        }
        for (i = 0; i < n; i++) p[i] = (float)(p[i] / total);
    }
    out = nn_multinomial(probs, 1, 1);
    return out;
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

/* Copies any strided tensor into a contiguous buffer: a walk over the rows, a strided loop along
   the last dim. */
static void nn__gather_strided(void *dst, const nn_tensor *t) {
    nn__walk w; int64_t r, j, L, s, rows; size_t es = nn_dtype_size(t->dtype);
    const char *src = NN__CAST(const char *, t->data);
    if (nn_is_contiguous(t)) { if (t->numel) memcpy(dst, src, (size_t)t->numel * es); return; }
    L = t->shape[t->ndim - 1]; s = t->stride[t->ndim - 1];
    rows = L ? t->numel / L : 0;
    nn__walk_init(&w, t->ndim - 1, t->shape, t->stride, NULL, NULL);
    for (r = 0; r < rows; r++, nn__walk_next(&w)) {
        char *d = NN__CAST(char *, dst) + (size_t)(r * L) * es;
        const char *row = src + (size_t)w.off[0] * es;
        if (es == sizeof(float)) {
            float *o = NN__CAST(float *, NN__CAST(void *, d));
            const float *x = NN__CAST(const float *, NN__CAST(const void *, row));
            for (j = 0; j < L; j++) o[j] = x[j * s];
        } else {
            for (j = 0; j < L; j++) memcpy(d + (size_t)j * es, row + (size_t)(j * s) * es, es);
        }
    }
}

/* The first NaN or inf of a float32 tensor (any strides), in row-major order; -1 when none
   (anomaly mode, nn_set_detect_anomaly). */
#ifdef NN_CUDA
/* A device tensor's values for a host-side look (anomaly mode): the span its strides reach, copied
   into a malloc'd buffer that *buf owns, and a header for it in *h; t itself when on the CPU. */
static const nn_tensor *nn__host_look(const nn_tensor *t, nn_tensor *h, void **buf) {
    int64_t span = 1; int d; size_t es = nn_dtype_size(t->dtype);
    *buf = NULL;
    if (t->device != NN_CUDA || !t->numel) return t;
    for (d = 0; d < t->ndim; d++) span += (t->shape[d] - 1) * t->stride[d];
    if (!(*buf = nn__malloc((size_t)span * es)) || !nn__cuda_read(t->ctx, *buf, t->data, (size_t)span * es)) {
        nn__free(*buf); *buf = NULL; return NULL;
    }
    *h = *t; h->data = *buf; h->device = NN_CPU;
    return h;
}
#endif
static int64_t nn__first_nonfinite_host(const nn_tensor *t);
static int64_t nn__first_nonfinite(const nn_tensor *t) {
#ifdef NN_CUDA
    if (t && t->device == NN_CUDA && t->dtype == NN_FLOAT32 && t->data) {
        nn_tensor h; void *buf; int64_t at;
        const nn_tensor *v = nn__host_look(t, &h, &buf);
        at = v ? nn__first_nonfinite_host(v) : -1;
        nn__free(buf);
        return at;
    }
#endif
    return nn__first_nonfinite_host(t);
}
static int64_t nn__first_nonfinite_host(const nn_tensor *t) {
    nn__walk w; int64_t i; const float *p;
    if (!t || t->dtype != NN_FLOAT32 || !t->data) return -1;
    p = NN__F32(t);
    if (nn_is_contiguous(t)) {
        for (i = 0; i < t->numel; i++) if (!(p[i] - p[i] == 0.0f)) return i;
        return -1;
    }
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < t->numel; i++, nn__walk_next(&w)) if (!(p[w.off[0]] - p[w.off[0]] == 0.0f)) return i;
    return -1;
}
static const char *nn__nonfinite_kind(float v) { return v != v ? "nan" : "inf"; }
static float nn__elem(const nn_tensor *t, int64_t i) {   /* element i in row-major order */
    int64_t off = 0, r = i; int d;
    for (d = t->ndim - 1; d >= 0; d--) { off += (r % t->shape[d]) * t->stride[d]; r /= t->shape[d]; }
#ifdef NN_CUDA
    if (t->device == NN_CUDA) {
        float v = NAN;
        nn__cuda_read(t->ctx, &v, NN__F32(t) + off, sizeof v);
        return v;
    }
#endif
    return NN__F32(t)[off];
}

NN_API nn_tensor *nn_zeros_like(const nn_tensor *t) { return t ? nn_zeros(t->ctx, t->ndim, t->shape) : NULL; }
NN_API nn_tensor *nn_keep(const nn_tensor *t) {
    nn_tensor *k;
    if (!t || !nn__check_live(t, "nn_keep")) return NULL;
#ifdef NN_CUDA
    if (t->device == NN_CUDA) return nn__cuda_keep(t);
#endif
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
    if (!t || !nn__check_live(t, "nn_item")) return NAN;
    if (t->numel != 1) { nn__err(t->ctx, "nn_item: tensor of shape %s has %lld elements; item needs exactly one", NN__SHAPE(t, s), (long long)t->numel); return NAN; }
#ifdef NN_CUDA
    if (t->device == NN_CUDA) {   /* the one copy back to the host an item makes */
        union { float f; int64_t i; } v;
        if (!nn__cuda_read(t->ctx, &v, t->data, nn_dtype_size(t->dtype))) return NAN;
        return t->dtype == NN_INT64 ? (float)v.i : v.f;
    }
#endif
    return t->dtype == NN_INT64 ? (float)NN__I64(t)[0] : NN__F32(t)[0];
}
NN_API nn_tensor *nn_set_requires_grad(nn_tensor *t, int flag) {
    if (!t || !nn__check_live(t, "nn_set_requires_grad")) return NULL;
    if (flag && t->op != NN_OP_LEAF) {
        nn__err(t->ctx, "nn_set_requires_grad: only leaf tensors (made by you or by nn_detach) can change requires_grad; this one comes from %s", nn_op_name(t->op));
        return t;
    }
    if (flag && t->dtype != NN_FLOAT32) {
        nn__err(t->ctx, "nn_set_requires_grad: only floating-point tensors can require gradients; this one is %s", nn_dtype_name(t->dtype));
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
    if (!t || !nn__check_live(t, "nn_fill_")) return;
#ifdef NN_CUDA
    if (t->device == NN_CUDA) { nn__cuda_fill(t, value); return; }
#endif
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
    if (!dst || !src) { if (dst) nn__err(dst->ctx, "nn_copy_: src is NULL"); else nn__null_arg(src, "nn_copy_", "dst"); return 0; }
    if (!nn__check_live(dst, "nn_copy_") || !nn__check_live(src, "nn_copy_")) return 0;
    if (!nn__on_host(dst, "nn_copy_") || !nn__on_host(src, "nn_copy_")) return 0;
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
#ifdef NN_CUDA
static nn_tensor *nn__cuda_to(nn_tensor *t, nn_device device);   /* nn_cuda.h: a copy on the other device */
#endif
NN_API nn_tensor *nn_to(nn_tensor *t, nn_device device) {
    if (!t || !nn__check_live(t, "nn_to")) return NULL;
    if (device == t->device) return t;
#ifdef NN_CUDA
    if ((device == NN_CUDA && t->device == NN_CPU) || (device == NN_CPU && t->device == NN_CUDA)) return nn__cuda_to(t, device);
#endif
    nn__err(t->ctx, "nn_to: device %d is not available; this build has the CPU only", (int)device);
    return NULL;
}

/* scratch floats (uninitialised) and zeroed doubles for long sums, in the step arena */
static float *nn__scratch(nn_ctx *ctx, int64_t n) { return NN__CAST(float *, nn__arena_alloc(ctx, (size_t)(n ? n : 1) * sizeof(float))); }
/* zeroed doubles for long sums (bias gradients) */
static double *nn__dscratch(nn_ctx *ctx, int64_t n) {
    double *d = NN__CAST(double *, nn__arena_alloc(ctx, (size_t)(n ? n : 1) * sizeof(double)));
    if (d) memset(d, 0, (size_t)n * sizeof(double));
    return d;
}

/* ==== cpu ==== */
/* The CPU's fast paths: which kernels run (chosen at run time from what the CPU has), the
   context's worker pool, and the GEMM that matmul, linear and convolution run on. Every
   fast path here is checked by the tests against a plain reference (nn__gemm_ref). */

/* ---- capability: AVX-512, AVX2+FMA, NEON or plain C, chosen at run time ---- */
/* x86-64 kernels are compiled with function target attributes, so a build without -march
   still has them; nn_ctx_new picks the best one the CPU (and the OS) supports. */
enum { NN__CAP_DEFAULT = 0, NN__CAP_NEON, NN__CAP_AVX2, NN__CAP_AVX512, NN__CAP_COUNT };
static const char *const nn__cap_names[NN__CAP_COUNT] = { "default", "neon", "avx2", "avx512" };

#if !defined(NN_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define NN__X86 1
#include <immintrin.h>
#define NN__AVX2_FN __attribute__((target("avx2,fma")))
#define NN__AVX512_FN __attribute__((target("avx512f,avx2,fma")))
#elif !defined(NN_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#define NN__ARM64 1
#include <arm_neon.h>
#endif

/* The scalar twins of the vector updates (Adam, SGD) stay out of line: inlined into a
   function with an FMA target (their tails), a compiler may fuse a*b + c there and the tail
   would round differently from the same function called alone. */
#if defined(__GNUC__) || defined(__clang__)
#define NN__NOINLINE __attribute__((noinline))
#else
#define NN__NOINLINE
#endif

static int nn__cap_supported(int cap) {
    if (cap == NN__CAP_DEFAULT) return 1;
#if defined(NN__X86)
    /* libgcc/compiler-rt fill the CPU model in a constructor; no __builtin_cpu_init (a
       second write of that global from two threads would be a race) */
    if (cap == NN__CAP_AVX512) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    if (cap == NN__CAP_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#elif defined(NN__ARM64)
    if (cap == NN__CAP_NEON) return 1;     /* every AArch64 CPU has it */
#endif
    return 0;
}
static int nn__cap_best(void) {
    int c;
    for (c = NN__CAP_COUNT - 1; c > 0; c--) if (nn__cap_supported(c)) return c;
    return NN__CAP_DEFAULT;
}

NN_API const char *nn_get_cpu_capability(void) { return nn__cap_names[nn__cap_best()]; }

NN_API int nn_set_cpu_capability(nn_ctx *ctx, const char *name) {
    int c;
    if (!ctx) return 0;
    if (!name) { nn__err(ctx, "nn_set_cpu_capability: name is NULL"); return 0; }
    for (c = 0; c < NN__CAP_COUNT; c++) if (strcmp(name, nn__cap_names[c]) == 0) break;
    if (c == NN__CAP_COUNT) {
        nn__err(ctx, "nn_set_cpu_capability: unknown capability \"%s\" (expected default, neon, avx2 or avx512)", name);
        return 0;
    }
    if (!nn__cap_supported(c)) {
        nn__err(ctx, "nn_set_cpu_capability: \"%s\" is not available on this CPU or in this build (best: %s)", name,
                nn__cap_names[nn__cap_best()]);
        return 0;
    }
    ctx->cap = c;
    return 1;
}

/* ---- the worker pool: nn_set_num_threads ---- */
/* A context owns its pool (no global one). nn__parallel(ctx, n, fn, arg) runs fn(arg, task,
   tid) for task = 0..n-1 on the caller (tid 0) and the workers (tid 1..). Tasks are claimed
   one by one, so a worker the OS has not scheduled holds nothing up: the others take its
   share, and the caller waits only for tasks that were started. Idle workers spin briefly,
   then sleep on a condition variable. Each task writes its own part of the output, so the
   results do not depend on the thread count. A task that calls nn__parallel runs serially. */
typedef void (*nn__task_fn)(void *arg, int64_t task, int tid);
#define NN__MAX_THREADS 256

#ifdef NN__THREADS

typedef struct nn__worker { nn__workers *pool; int tid; pthread_t th; } nn__worker;
struct nn__workers {
    int nworkers, started;
    nn__worker w[NN__MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint32_t job;                 /* the current job's number; a change wakes the workers */
    uint64_t ticket;              /* (job << 32) | the next unclaimed task */
    int64_t ntasks, finished;     /* of the current job */
    nn__task_fn fn;
    void *arg;
    int stop, in_job;
};

static void nn__spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* claims and runs tasks of job `job` until none is left */
static void nn__workers_work(nn__workers *p, uint32_t job, int tid) {
    for (;;) {
        uint64_t t = __atomic_load_n(&p->ticket, __ATOMIC_ACQUIRE);
        int64_t n = __atomic_load_n(&p->ntasks, __ATOMIC_ACQUIRE);
        nn__task_fn fn = __atomic_load_n(&p->fn, __ATOMIC_ACQUIRE);
        void *arg = __atomic_load_n(&p->arg, __ATOMIC_ACQUIRE);
        if ((uint32_t)(t >> 32) != job || (int64_t)(t & 0xffffffffu) >= n) return;
        /* the claim succeeds only while the ticket is unchanged; the next job closes the ticket
           before it changes n, fn and arg, so values read here from a later job fail the claim */
        if (!__atomic_compare_exchange_n(&p->ticket, &t, t + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
        fn(arg, (int64_t)(t & 0xffffffffu), tid);
        if (__atomic_add_fetch(&p->finished, 1, __ATOMIC_ACQ_REL) == n) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *nn__worker_main(void *wp) {
    nn__worker *w = NN__CAST(nn__worker *, wp);
    nn__workers *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        uint32_t job; int spins = 0;
        while ((job = __atomic_load_n(&p->job, __ATOMIC_ACQUIRE)) == seen && !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
            if (++spins < 4000) { nn__spin_pause(); continue; }     /* about 0.1 ms, then sleep */
            pthread_mutex_lock(&p->mu);
            while (__atomic_load_n(&p->job, __ATOMIC_ACQUIRE) == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) return NULL;
        seen = job;
        nn__workers_work(p, job, w->tid);
    }
}

static void nn__workers_free(nn__workers *p) {
    int i;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->started; i++) pthread_join(p->w[i].th, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    nn__free(p);
}

/* a pool of n - 1 workers; fewer when the OS gives fewer threads */
static nn__workers *nn__workers_new(int n) {
    nn__workers *p = NN__CAST(nn__workers *, nn__malloc(sizeof(nn__workers)));
    int i;
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->mu, NULL) != 0) { nn__free(p); return NULL; }
    if (pthread_cond_init(&p->wake, NULL) != 0) { pthread_mutex_destroy(&p->mu); nn__free(p); return NULL; }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->wake); pthread_mutex_destroy(&p->mu); nn__free(p); return NULL;
    }
    for (i = 0; i < n - 1; i++) {
        p->w[i].pool = p; p->w[i].tid = i + 1;
        if (pthread_create(&p->w[i].th, NULL, nn__worker_main, &p->w[i]) != 0) break;
        p->started++;
    }
    p->nworkers = p->started;
    return p;
}

static int nn__threads(const nn_ctx *ctx) { return ctx && ctx->pool ? ctx->pool->nworkers + 1 : 1; }

static void nn__parallel(nn_ctx *ctx, int64_t ntasks, nn__task_fn fn, void *arg) {
    nn__workers *p = ctx ? ctx->pool : NULL;
    int64_t i; uint32_t job; int spins = 0;
    if (!p || ntasks <= 1 || p->nworkers == 0 || __atomic_load_n(&p->in_job, __ATOMIC_ACQUIRE) || ntasks > 0x7fffffff) {
        for (i = 0; i < ntasks; i++) fn(arg, i, 0);
        return;
    }
    __atomic_store_n(&p->in_job, 1, __ATOMIC_RELEASE);
    job = p->job + 1;
    __atomic_store_n(&p->ticket, ((uint64_t)job << 32) | 0xffffffffu, __ATOMIC_SEQ_CST);   /* closed: no claim */
    __atomic_store_n(&p->ntasks, ntasks, __ATOMIC_RELEASE);
    __atomic_store_n(&p->fn, fn, __ATOMIC_RELEASE);
    __atomic_store_n(&p->arg, arg, __ATOMIC_RELEASE);
    __atomic_store_n(&p->finished, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&p->ticket, (uint64_t)job << 32, __ATOMIC_RELEASE);                  /* open */
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->job, job, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    nn__workers_work(p, job, 0);
    while (__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE) < ntasks) {    /* tasks other threads started */
        if (++spins < 4000) { nn__spin_pause(); continue; }
        pthread_mutex_lock(&p->mu);
        while (__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE) < ntasks) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    __atomic_store_n(&p->in_job, 0, __ATOMIC_RELEASE);
}
#else
struct nn__workers { int nworkers; };
static void nn__workers_free(nn__workers *p) { (void)p; }
static int nn__threads(const nn_ctx *ctx) { (void)ctx; return 1; }
static void nn__parallel(nn_ctx *ctx, int64_t ntasks, nn__task_fn fn, void *arg) {
    int64_t i;
    (void)ctx;
    for (i = 0; i < ntasks; i++) fn(arg, i, 0);
}
#endif

NN_API int nn_set_num_threads(nn_ctx *ctx, int n) {
    if (!ctx) return 0;
    if (n < 1 || n > NN__MAX_THREADS) {
        nn__err(ctx, "nn_set_num_threads: n is %d; expected 1 to %d", n, NN__MAX_THREADS);
        return nn__threads(ctx);
    }
    if (n == nn__threads(ctx)) return n;
    nn__workers_free(ctx->pool);
    ctx->pool = NULL;
#if defined(NN__THREADS)
    if (n > 1) {
        ctx->pool = nn__workers_new(n);
        if (!ctx->pool || ctx->pool->nworkers + 1 < n)
            nn__err(ctx, "nn_set_num_threads: could start only %d of %d threads", nn__threads(ctx), n);
    }
#else
    if (n > 1) nn__err(ctx, "nn_set_num_threads: this build has no threads (NN_NO_THREADS, or no pthreads); using 1");
#endif
    return nn__threads(ctx);
}
NN_API int nn_get_num_threads(const nn_ctx *ctx) { return nn__threads(ctx); }

/* ---- elementwise kernels with vector paths (ReLU) ---- */
/* Runs fn over [0, n) in chunks of `grain` elements, in parallel when the work is large. */
typedef void (*nn__range_fn)(void *arg, int64_t i0, int64_t i1);
typedef struct nn__range_job { nn__range_fn fn; void *arg; int64_t n, grain; } nn__range_job;
static void nn__range_task(void *arg, int64_t t, int tid) {
    const nn__range_job *r = NN__CAST(const nn__range_job *, arg);
    int64_t i0 = t * r->grain, i1 = i0 + r->grain < r->n ? i0 + r->grain : r->n;
    (void)tid;
    r->fn(r->arg, i0, i1);
}
static void nn__parallel_range(nn_ctx *ctx, int64_t n, int64_t grain, nn__range_fn fn, void *arg) {
    nn__range_job r;
    if (nn__threads(ctx) == 1 || n <= grain) { if (n > 0) fn(arg, 0, n); return; }
    r.fn = fn; r.arg = arg; r.n = n; r.grain = grain;
    nn__parallel(ctx, (n + grain - 1) / grain, nn__range_task, &r);
}

/* o = relu(x) (NaN stays NaN, as x <= 0 ? 0 : x); d += x > 0 ? g : 0 */
static void nn__relu_c(float *o, const float *x, int64_t n) { int64_t i; for (i = 0; i < n; i++) o[i] = nn__relu_f(x[i]); }
static void nn__relu_bwd_c(float *d, const float *x, const float *g, int64_t n) { int64_t i; for (i = 0; i < n; i++) if (x[i] > 0.0f) d[i] += g[i]; }
#if defined(NN__X86)
NN__AVX512_FN static void nn__relu_avx512(float *o, const float *x, int64_t n) {
    int64_t i; __m512 z = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(o + i, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, z, _CMP_LE_OQ), v, z));
    }
    nn__relu_c(o + i, x + i, n - i);
}
NN__AVX512_FN static void nn__relu_bwd_avx512(float *d, const float *x, const float *g, int64_t n) {
    int64_t i; __m512 z = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), z, _CMP_GT_OQ);
        _mm512_storeu_ps(d + i, _mm512_mask_add_ps(_mm512_loadu_ps(d + i), m, _mm512_loadu_ps(d + i), _mm512_loadu_ps(g + i)));
    }
    nn__relu_bwd_c(d + i, x + i, g + i, n - i);
}
NN__AVX2_FN static void nn__relu_avx2(float *o, const float *x, int64_t n) {
    int64_t i; __m256 z = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(o + i, _mm256_blendv_ps(v, z, _mm256_cmp_ps(v, z, _CMP_LE_OQ)));
    }
    nn__relu_c(o + i, x + i, n - i);
}
NN__AVX2_FN static void nn__relu_bwd_avx2(float *d, const float *x, const float *g, int64_t n) {
    int64_t i; __m256 z = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 m = _mm256_cmp_ps(_mm256_loadu_ps(x + i), z, _CMP_GT_OQ);
        _mm256_storeu_ps(d + i, _mm256_add_ps(_mm256_loadu_ps(d + i), _mm256_and_ps(m, _mm256_loadu_ps(g + i))));
    }
    nn__relu_bwd_c(d + i, x + i, g + i, n - i);
}
#endif
typedef struct nn__relu_job { int cap; float *o; const float *x, *g; } nn__relu_job;
static void nn__relu_range(void *arg, int64_t i0, int64_t i1) {
    const nn__relu_job *r = NN__CAST(const nn__relu_job *, arg);
#if defined(NN__X86)
    if (r->cap == NN__CAP_AVX512) { if (r->g) nn__relu_bwd_avx512(r->o + i0, r->x + i0, r->g + i0, i1 - i0); else nn__relu_avx512(r->o + i0, r->x + i0, i1 - i0); return; }
    if (r->cap == NN__CAP_AVX2) { if (r->g) nn__relu_bwd_avx2(r->o + i0, r->x + i0, r->g + i0, i1 - i0); else nn__relu_avx2(r->o + i0, r->x + i0, i1 - i0); return; }
#endif
    if (r->g) nn__relu_bwd_c(r->o + i0, r->x + i0, r->g + i0, i1 - i0); else nn__relu_c(r->o + i0, r->x + i0, i1 - i0);
}
/* g NULL: o = relu(x); else o += x > 0 ? g : 0 (the backward, o the input's gradient) */
static void nn__relu_run(nn_ctx *ctx, float *o, const float *x, const float *g, int64_t n) {
    nn__relu_job r;
    r.cap = ctx->cap; r.o = o; r.x = x; r.g = g;
    nn__parallel_range(ctx, n, (int64_t)1 << 16, nn__relu_range, &r);
}

/* ---- rows for im2col and col2im, 2x2 max pooling, the Adam update ---- */
/* d (n) = s[ow] where lo <= ow < hi, else 0 (s may point before its row: only [lo, hi) is read) */
static void nn__row_shift_c(float *d, const float *s, int64_t n, int64_t lo, int64_t hi) {
    int64_t ow;
    for (ow = 0; ow < n; ow++) d[ow] = ow >= lo && ow < hi ? s[ow] : 0.0f;
}
/* d[ow] += s[ow] for lo <= ow < hi */
static void nn__row_add_c(float *d, const float *s, int64_t lo, int64_t hi) { int64_t ow; for (ow = lo; ow < hi; ow++) d[ow] += s[ow]; }
#if defined(NN__X86)
static __mmask16 nn__mask16(int64_t from, int64_t lo, int64_t hi) {   /* lanes from+q inside [lo, hi) */
    int64_t a = lo - from, b = hi - from;
    uint32_t m;
    if (a < 0) a = 0;
    if (b > 16) b = 16;
    if (b <= a) return 0;
    m = (uint32_t)(((1u << (b - a)) - 1u) << a);
    return (__mmask16)m;
}
NN__AVX512_FN static void nn__row_shift_avx512(float *d, const float *s, int64_t n, int64_t lo, int64_t hi) {
    int64_t ow;
    for (ow = 0; ow < n; ow += 16) {      /* masked-off lanes are not read */
        __m512 v = _mm512_maskz_loadu_ps(nn__mask16(ow, lo, hi), s + ow);
        _mm512_mask_storeu_ps(d + ow, nn__mask16(ow, 0, n), v);
    }
}
NN__AVX512_FN static void nn__row_add_avx512(float *d, const float *s, int64_t lo, int64_t hi) {
    int64_t ow;
    for (ow = lo; ow < hi; ow += 16) {
        __mmask16 m = nn__mask16(ow, ow, hi);
        _mm512_mask_storeu_ps(d + ow, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + ow), _mm512_maskz_loadu_ps(m, s + ow)));
    }
}
#endif
static void nn__row_shift(int cap, float *d, const float *s, int64_t n, int64_t lo, int64_t hi) {
#if defined(NN__X86)
    if (cap == NN__CAP_AVX512) { nn__row_shift_avx512(d, s, n, lo, hi); return; }
#endif
    (void)cap;
    nn__row_shift_c(d, s, n, lo, hi);
}
static void nn__row_add(int cap, float *d, const float *s, int64_t lo, int64_t hi) {
#if defined(NN__X86)
    if (cap == NN__CAP_AVX512) { nn__row_add_avx512(d, s, lo, hi); return; }
#endif
    (void)cap;
    nn__row_add_c(d, s, lo, hi);
}

/* MaxPool2d(2) over one (H, W) plane with 2*OH <= H, 2*OW <= W: the first maximum of each
   window in reading order wins and a NaN wins (PyTorch's rule); arg gets its flat index. */
static void nn__maxpool2_c(const float *xp, int64_t W, int64_t OH, int64_t OW, float *yp, int64_t *ap) {
    int64_t oh, ow;
    for (oh = 0; oh < OH; oh++) for (ow = 0; ow < OW; ow++) {
        int64_t base = 2 * oh * W + 2 * ow, at = base; float best = xp[base];
#define NN__MAX_STEP(off) do { float v_ = xp[base + (off)]; int take_ = (v_ > best || v_ != v_) && best == best; \
                               best = take_ ? v_ : best; at = take_ ? base + (off) : at; } while (0)
        NN__MAX_STEP(1); NN__MAX_STEP(W); NN__MAX_STEP(W + 1);
#undef NN__MAX_STEP
        yp[oh * OW + ow] = best; ap[oh * OW + ow] = at;
    }
}
#if defined(NN__X86)
NN__AVX512_FN static void nn__maxpool2_avx512(const float *xp, int64_t W, int64_t OH, int64_t OW, float *yp, int64_t *ap) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    int64_t oh, ow;
    for (oh = 0; oh < OH; oh++) for (ow = 0; ow < OW; ow += 16) {
        int64_t n = OW - ow < 16 ? OW - ow : 16, base = 2 * oh * W + 2 * ow;
        __mmask16 lo = nn__mask16(0, 0, 2 * n), hi = nn__mask16(16, 0, 2 * n), out = nn__mask16(0, 0, n), take;
        const float *r0 = xp + base, *r1 = r0 + W;
        __m512 a0 = _mm512_maskz_loadu_ps(lo, r0), a1 = _mm512_maskz_loadu_ps(hi, r0 + 16);
        __m512 b0 = _mm512_maskz_loadu_ps(lo, r1), b1 = _mm512_maskz_loadu_ps(hi, r1 + 16);
        __m512 best = _mm512_permutex2var_ps(a0, even, a1), v;
        __m512i start = _mm512_add_epi32(_mm512_set1_epi32((int)base), even), idx = start;
        /* the window's other three in reading order: right, below, below right */
#define NN__MAX_STEP(vec, off) do { v = (vec); \
            take = (_mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)) \
                   & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q); \
            best = _mm512_mask_mov_ps(best, take, v); \
            idx = _mm512_mask_mov_epi32(idx, take, _mm512_add_epi32(start, _mm512_set1_epi32((int)(off)))); } while (0)
        NN__MAX_STEP(_mm512_permutex2var_ps(a0, odd, a1), 1);
        NN__MAX_STEP(_mm512_permutex2var_ps(b0, even, b1), W);
        NN__MAX_STEP(_mm512_permutex2var_ps(b0, odd, b1), W + 1);
#undef NN__MAX_STEP
        _mm512_mask_storeu_ps(yp + oh * OW + ow, out, best);
        _mm512_mask_storeu_epi64(ap + oh * OW + ow, (__mmask8)(out & 0xff), _mm512_maskz_cvtepi32_epi64((__mmask8)0xff, _mm512_maskz_extracti64x4_epi64((__mmask8)0xff, idx, 0)));
        _mm512_mask_storeu_epi64(ap + oh * OW + ow + 8, (__mmask8)(out >> 8), _mm512_maskz_cvtepi32_epi64((__mmask8)0xff, _mm512_maskz_extracti64x4_epi64((__mmask8)0xff, idx, 1)));
    }
}
#endif
static void nn__maxpool2(int cap, const float *xp, int64_t H, int64_t W, int64_t OH, int64_t OW, float *yp, int64_t *ap) {
#if defined(NN__X86)
    if (cap == NN__CAP_AVX512 && H * W < INT_MAX / 2) { nn__maxpool2_avx512(xp, W, OH, OW, yp, ap); return; }
#endif
    (void)cap; (void)H;
    nn__maxpool2_c(xp, W, OH, OW, yp, ap);
}


/* SGD over p[i0..i1): d = sign g + wd p; buf = d (first step) or mom buf + (1 - dampening) d;
   d = d + mom buf (nesterov) or buf; p -= lr d. The same float operations on every path.
   With dry set, nothing is written: the kernel stores in *dry the first i whose new value
   (parameter or state) would be NaN or infinite (the optimizer's check before a step). The
   vector paths add x - x of every new value into an accumulator (0 while all are finite, NaN
   after), and on a NaN the scalar loop finds the element. */
NN__NOINLINE static void nn__sgd_c(const nn__sgd_args *a, int64_t i0, int64_t i1) {
    float *P = a->p, *buf = a->buf;
    int64_t i;
    for (i = i0; i < i1; i++) {
        float p, b;
        int fin = nn__sgd_rule(a, P[i], a->g[i], buf ? buf[i] : 0.0f, &p, &b);   /* section math */
        if (a->dry) {
            if (!fin) { *a->dry = i; return; }
            continue;
        }
        if (buf) buf[i] = b;
        P[i] = p;
    }
}
/* the end of a dry vector pass: chk holds lanes' sums of x - x; a lane that is not 0 sends the
   scalar loop over the whole range to find the element (and marks i0 should it find none) */
#define NN__DRY_END(a, chk, n, cfn, i0, i1, i)                                          \
    do {                                                                                \
        int l_;                                                                         \
        for (l_ = 0; l_ < (n); l_++) if ((chk)[l_] != 0.0f) {                           \
            cfn((a), (i0), (i1));                                                       \
            if (*(a)->dry < 0) *(a)->dry = (i0);                                        \
            return;                                                                     \
        }                                                                               \
        cfn((a), (i), (i1));                                                            \
        return;                                                                         \
    } while (0)
#if defined(NN__X86)
NN__AVX512_FN static void nn__sgd_avx512(const nn__sgd_args *a, int64_t i0, int64_t i1) {
    __m512 sign = _mm512_set1_ps(a->sign), wd = _mm512_set1_ps(a->wd), mom = _mm512_set1_ps(a->mom);
    __m512 odamp = _mm512_set1_ps(a->odamp), lr = _mm512_set1_ps(a->lr), chk = _mm512_setzero_ps();
    float lanes[16];
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16) {
        __m512 p = _mm512_loadu_ps(a->p + i), b = _mm512_setzero_ps();
        __m512 d = _mm512_add_ps(_mm512_mul_ps(sign, _mm512_loadu_ps(a->g + i)), _mm512_mul_ps(wd, p));
        if (a->buf) {
            b = a->first ? d : _mm512_add_ps(_mm512_mul_ps(mom, _mm512_loadu_ps(a->buf + i)), _mm512_mul_ps(odamp, d));
            d = a->nesterov ? _mm512_add_ps(d, _mm512_mul_ps(mom, b)) : b;
        }
        p = _mm512_sub_ps(p, _mm512_mul_ps(lr, d));
        if (a->dry) {
            chk = _mm512_add_ps(chk, _mm512_add_ps(_mm512_sub_ps(p, p), _mm512_sub_ps(b, b)));
            continue;
        }
        if (a->buf) _mm512_storeu_ps(a->buf + i, b);
        _mm512_storeu_ps(a->p + i, p);
    }
    if (a->dry) { _mm512_storeu_ps(lanes, chk); NN__DRY_END(a, lanes, 16, nn__sgd_c, i0, i1, i); }
    nn__sgd_c(a, i, i1);
}
NN__AVX2_FN static void nn__sgd_avx2(const nn__sgd_args *a, int64_t i0, int64_t i1) {
    __m256 sign = _mm256_set1_ps(a->sign), wd = _mm256_set1_ps(a->wd), mom = _mm256_set1_ps(a->mom);
    __m256 odamp = _mm256_set1_ps(a->odamp), lr = _mm256_set1_ps(a->lr), chk = _mm256_setzero_ps();
    float lanes[8];
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8) {
        __m256 p = _mm256_loadu_ps(a->p + i), b = _mm256_setzero_ps();
        __m256 d = _mm256_add_ps(_mm256_mul_ps(sign, _mm256_loadu_ps(a->g + i)), _mm256_mul_ps(wd, p));
        if (a->buf) {
            b = a->first ? d : _mm256_add_ps(_mm256_mul_ps(mom, _mm256_loadu_ps(a->buf + i)), _mm256_mul_ps(odamp, d));
            d = a->nesterov ? _mm256_add_ps(d, _mm256_mul_ps(mom, b)) : b;
        }
        p = _mm256_sub_ps(p, _mm256_mul_ps(lr, d));
        if (a->dry) {
            chk = _mm256_add_ps(chk, _mm256_add_ps(_mm256_sub_ps(p, p), _mm256_sub_ps(b, b)));
            continue;
        }
        if (a->buf) _mm256_storeu_ps(a->buf + i, b);
        _mm256_storeu_ps(a->p + i, p);
    }
    if (a->dry) { _mm256_storeu_ps(lanes, chk); NN__DRY_END(a, lanes, 8, nn__sgd_c, i0, i1, i); }
    nn__sgd_c(a, i, i1);
}
#endif
static void nn__sgd_range(void *arg, int64_t i0, int64_t i1) {
    const nn__sgd_args *a = NN__CAST(const nn__sgd_args *, arg);
#if defined(NN__X86)
    if (a->cap == NN__CAP_AVX512) { nn__sgd_avx512(a, i0, i1); return; }
    if (a->cap == NN__CAP_AVX2) { nn__sgd_avx2(a, i0, i1); return; }
#endif
    nn__sgd_c(a, i0, i1);
}

/* Adam and AdamW over p[i0..i1): PyTorch's formula in float, the same operations in the same
   order on every path (no FMA), so the vector path gives the scalar path's bits when the
   compiler does not fuse the scalar a*b + c itself (it does not without -march/-mfma).
   dry as SGD's. */
NN__NOINLINE static void nn__adam_c(const nn__adam_args *a, int64_t i0, int64_t i1) {
    float *P = a->p, *M = a->m, *V = a->v, *VM = a->vmax;
    int64_t i;
    for (i = i0; i < i1; i++) {
        float p, m, v, vm;
        int fin = nn__adam_rule(a, P[i], a->g[i], M[i], V[i], VM ? VM[i] : 0.0f, &p, &m, &v, &vm);   /* section math */
        if (a->dry) {
            if (!fin) { *a->dry = i; return; }
            continue;
        }
        M[i] = m;
        V[i] = v;
        if (VM) VM[i] = vm;
        P[i] = p;
    }
}
#if defined(NN__X86)
NN__AVX512_FN static void nn__adam_avx512(const nn__adam_args *a, int64_t i0, int64_t i1) {
    __m512 sign = _mm512_set1_ps(a->sign), wd = _mm512_set1_ps(a->wd), decay = _mm512_set1_ps(a->decay);
    __m512 fb1 = _mm512_set1_ps(a->fb1), ob1 = _mm512_set1_ps(a->ob1), fb2 = _mm512_set1_ps(a->fb2), ob2 = _mm512_set1_ps(a->ob2);
    __m512 bc2s = _mm512_set1_ps(a->bc2s), eps = _mm512_set1_ps(a->eps), ss = _mm512_set1_ps(a->step_size);
    __m512 chk = _mm512_setzero_ps();
    float lanes[16];
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16) {
        __m512 p = _mm512_loadu_ps(a->p + i), d = _mm512_mul_ps(sign, _mm512_loadu_ps(a->g + i)), m, v, den;
        if (a->decoupled) p = _mm512_mul_ps(p, decay);
        else if (a->wd != 0.0f) d = _mm512_add_ps(d, _mm512_mul_ps(wd, p));
        m = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(a->m + i), fb1), _mm512_mul_ps(d, ob1));
        v = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(a->v + i), fb2), _mm512_mul_ps(_mm512_mul_ps(ob2, d), d));
        if (!a->dry) {
            _mm512_storeu_ps(a->m + i, m);
            _mm512_storeu_ps(a->v + i, v);
        }
        if (a->vmax) {         /* vmax = v where v > vmax (a NaN v leaves vmax, as the scalar rule) */
            __m512 vm = _mm512_loadu_ps(a->vmax + i), nv = v;
            v = _mm512_mask_mov_ps(vm, _mm512_cmp_ps_mask(v, vm, _CMP_GT_OQ), v);
            if (!a->dry) _mm512_storeu_ps(a->vmax + i, v);
            else chk = _mm512_add_ps(chk, _mm512_sub_ps(nv, nv));
        }
        den = _mm512_add_ps(_mm512_div_ps(_mm512_maskz_sqrt_ps((__mmask16)0xffff, v), bc2s), eps);   /* maskz: g++ 12 warns on the plain one */
        p = _mm512_sub_ps(p, _mm512_mul_ps(ss, _mm512_div_ps(m, den)));
        if (a->dry) {
            chk = _mm512_add_ps(chk, _mm512_add_ps(_mm512_sub_ps(p, p), _mm512_add_ps(_mm512_sub_ps(m, m), _mm512_sub_ps(v, v))));
            continue;
        }
        _mm512_storeu_ps(a->p + i, p);
    }
    if (a->dry) { _mm512_storeu_ps(lanes, chk); NN__DRY_END(a, lanes, 16, nn__adam_c, i0, i1, i); }
    nn__adam_c(a, i, i1);
}
NN__AVX2_FN static void nn__adam_avx2(const nn__adam_args *a, int64_t i0, int64_t i1) {
    __m256 sign = _mm256_set1_ps(a->sign), wd = _mm256_set1_ps(a->wd), decay = _mm256_set1_ps(a->decay);
    __m256 fb1 = _mm256_set1_ps(a->fb1), ob1 = _mm256_set1_ps(a->ob1), fb2 = _mm256_set1_ps(a->fb2), ob2 = _mm256_set1_ps(a->ob2);
    __m256 bc2s = _mm256_set1_ps(a->bc2s), eps = _mm256_set1_ps(a->eps), ss = _mm256_set1_ps(a->step_size);
    __m256 chk = _mm256_setzero_ps();
    float lanes[8];
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8) {
        __m256 p = _mm256_loadu_ps(a->p + i), d = _mm256_mul_ps(sign, _mm256_loadu_ps(a->g + i)), m, v, den;
        if (a->decoupled) p = _mm256_mul_ps(p, decay);
        else if (a->wd != 0.0f) d = _mm256_add_ps(d, _mm256_mul_ps(wd, p));
        m = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(a->m + i), fb1), _mm256_mul_ps(d, ob1));
        v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(a->v + i), fb2), _mm256_mul_ps(_mm256_mul_ps(ob2, d), d));
        if (!a->dry) {
            _mm256_storeu_ps(a->m + i, m);
            _mm256_storeu_ps(a->v + i, v);
        }
        if (a->vmax) {         /* vmax = v where v > vmax (a NaN v leaves vmax) */
            __m256 vm = _mm256_loadu_ps(a->vmax + i), nv = v;
            v = _mm256_blendv_ps(vm, v, _mm256_cmp_ps(v, vm, _CMP_GT_OQ));
            if (!a->dry) _mm256_storeu_ps(a->vmax + i, v);
            else chk = _mm256_add_ps(chk, _mm256_sub_ps(nv, nv));
        }
        den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), bc2s), eps);
        p = _mm256_sub_ps(p, _mm256_mul_ps(ss, _mm256_div_ps(m, den)));
        if (a->dry) {
            chk = _mm256_add_ps(chk, _mm256_add_ps(_mm256_sub_ps(p, p), _mm256_add_ps(_mm256_sub_ps(m, m), _mm256_sub_ps(v, v))));
            continue;
        }
        _mm256_storeu_ps(a->p + i, p);
    }
    if (a->dry) { _mm256_storeu_ps(lanes, chk); NN__DRY_END(a, lanes, 8, nn__adam_c, i0, i1, i); }
    nn__adam_c(a, i, i1);
}
#endif
static void nn__adam_range(void *arg, int64_t i0, int64_t i1) {
    const nn__adam_args *a = NN__CAST(const nn__adam_args *, arg);
#if defined(NN__X86)
    if (a->cap == NN__CAP_AVX512) { nn__adam_avx512(a, i0, i1); return; }
    if (a->cap == NN__CAP_AVX2) { nn__adam_avx2(a, i0, i1); return; }
#endif
    nn__adam_c(a, i0, i1);
}

/* ---- GEMM ---- */

/* The plain reference kernel: C (M, N) = A (M, K) @ B (K, N), any row/col strides
   for A and B, C rows contiguous with row stride ldc. accumulate: C += instead of
   C =. Transposed operands are read in place through their strides; sums in double.
   The tests check every fast path against it. */
static void nn__gemm_ref(int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t ars, int64_t acs,
                     const float *B, int64_t brs, int64_t bcs,
                     float *C, int64_t ldc, int accumulate) {
    int64_t i, j, k;
    for (i = 0; i < M; i++) for (j = 0; j < N; j++) {   /* each dot product in double */
        const float *a = A + i * ars, *b = B + j * bcs;
        double s = accumulate ? (double)C[i * ldc + j] : 0.0;
        for (k = 0; k < K; k++) s += (double)a[k * acs] * b[k * brs];
        C[i * ldc + j] = (float)s;
    }
}

/* The fast GEMM, as in BLIS: C is cut into macro tiles (MC rows, NC columns), each one task.
   A task walks K in KC steps; for each it packs its rows of A into MR-row panels and its
   columns of B into NR-column panels (so every stride and transpose becomes one contiguous
   stream), then a micro-kernel keeps an MR x NR tile of C in registers. Every element of C is
   summed by one task in the same order (float, k ascending, one partial sum per KC block),
   whatever the thread count. One micro-kernel per capability: */
typedef void (*nn__tile_fn)(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, int add);
typedef struct nn__gemm_isa { int mr, nr, mc, kc, nc; nn__tile_fn tile; } nn__gemm_isa;

/* plain C: a 4 x 8 tile in a local array the compiler keeps in registers */
static void nn__tile_default(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, int add) {
    float acc[4][8];
    int64_t k; int r, c;
    for (r = 0; r < 4; r++) for (c = 0; c < 8; c++) acc[r][c] = 0.0f;
    for (k = 0; k < kc; k++, Ap += 4, Bp += 8)
        for (r = 0; r < 4; r++) for (c = 0; c < 8; c++) acc[r][c] += Ap[r] * Bp[c];
    for (r = 0; r < 4; r++) for (c = 0; c < 8; c++) C[r * ldc + c] = add ? C[r * ldc + c] + acc[r][c] : acc[r][c];
}

#if defined(NN__X86)
/* AVX2 + FMA: 6 x 16, twelve ymm accumulators */
NN__AVX2_FN static void nn__tile_avx2(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, int add) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int64_t k; int r;
    for (r = 0; r < 6; r++) _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);   /* C's tile, read at the end */
    for (k = 0; k < kc; k++, Ap += 6, Bp += 16) {
        __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8), a;
        a = _mm256_broadcast_ss(Ap + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(Ap + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(Ap + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(Ap + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(Ap + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(Ap + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    }
#define NN__ST8(row, v0, v1) do { float *cr = C + (row) * ldc; \
        if (add) { v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cr)); v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cr + 8)); } \
        _mm256_storeu_ps(cr, v0); _mm256_storeu_ps(cr + 8, v1); } while (0)
    NN__ST8(0, c00, c01); NN__ST8(1, c10, c11); NN__ST8(2, c20, c21);
    NN__ST8(3, c30, c31); NN__ST8(4, c40, c41); NN__ST8(5, c50, c51);
#undef NN__ST8
}

/* AVX-512: 8 x 32, sixteen zmm accumulators; the broadcasts fold into the FMAs */
NN__AVX512_FN static void nn__tile_avx512(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, int add) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    int64_t k; int r;
    for (r = 0; r < 8; r++) {     /* C's tile is read at the end: fetch it while the k loop runs */
        _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + r * ldc + 16), _MM_HINT_T0);
    }
    for (k = 0; k < kc; k++, Ap += 8, Bp += 32) {
        __m512 b0 = _mm512_loadu_ps(Bp), b1 = _mm512_loadu_ps(Bp + 16), a;
        a = _mm512_set1_ps(Ap[0]); c00 = _mm512_fmadd_ps(a, b0, c00); c01 = _mm512_fmadd_ps(a, b1, c01);
        a = _mm512_set1_ps(Ap[1]); c10 = _mm512_fmadd_ps(a, b0, c10); c11 = _mm512_fmadd_ps(a, b1, c11);
        a = _mm512_set1_ps(Ap[2]); c20 = _mm512_fmadd_ps(a, b0, c20); c21 = _mm512_fmadd_ps(a, b1, c21);
        a = _mm512_set1_ps(Ap[3]); c30 = _mm512_fmadd_ps(a, b0, c30); c31 = _mm512_fmadd_ps(a, b1, c31);
        a = _mm512_set1_ps(Ap[4]); c40 = _mm512_fmadd_ps(a, b0, c40); c41 = _mm512_fmadd_ps(a, b1, c41);
        a = _mm512_set1_ps(Ap[5]); c50 = _mm512_fmadd_ps(a, b0, c50); c51 = _mm512_fmadd_ps(a, b1, c51);
        a = _mm512_set1_ps(Ap[6]); c60 = _mm512_fmadd_ps(a, b0, c60); c61 = _mm512_fmadd_ps(a, b1, c61);
        a = _mm512_set1_ps(Ap[7]); c70 = _mm512_fmadd_ps(a, b0, c70); c71 = _mm512_fmadd_ps(a, b1, c71);
    }
#define NN__ST16(row, v0, v1) do { float *cr = C + (row) * ldc; \
        if (add) { v0 = _mm512_add_ps(v0, _mm512_loadu_ps(cr)); v1 = _mm512_add_ps(v1, _mm512_loadu_ps(cr + 16)); } \
        _mm512_storeu_ps(cr, v0); _mm512_storeu_ps(cr + 16, v1); } while (0)
    NN__ST16(0, c00, c01); NN__ST16(1, c10, c11); NN__ST16(2, c20, c21); NN__ST16(3, c30, c31);
    NN__ST16(4, c40, c41); NN__ST16(5, c50, c51); NN__ST16(6, c60, c61); NN__ST16(7, c70, c71);
#undef NN__ST16
}
#endif

#if defined(NN__ARM64)
/* NEON: 8 x 8, sixteen q accumulators; A's 8 values come in two loads, used by lane */
static void nn__tile_neon(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, int add) {
    float32x4_t c[8][2];
    int64_t k; int r;
    for (r = 0; r < 8; r++) { c[r][0] = vdupq_n_f32(0.0f); c[r][1] = vdupq_n_f32(0.0f); }
    for (k = 0; k < kc; k++, Ap += 8, Bp += 8) {
        float32x4_t b0 = vld1q_f32(Bp), b1 = vld1q_f32(Bp + 4), a0 = vld1q_f32(Ap), a1 = vld1q_f32(Ap + 4);
        c[0][0] = vfmaq_laneq_f32(c[0][0], b0, a0, 0); c[0][1] = vfmaq_laneq_f32(c[0][1], b1, a0, 0);
        c[1][0] = vfmaq_laneq_f32(c[1][0], b0, a0, 1); c[1][1] = vfmaq_laneq_f32(c[1][1], b1, a0, 1);
        c[2][0] = vfmaq_laneq_f32(c[2][0], b0, a0, 2); c[2][1] = vfmaq_laneq_f32(c[2][1], b1, a0, 2);
        c[3][0] = vfmaq_laneq_f32(c[3][0], b0, a0, 3); c[3][1] = vfmaq_laneq_f32(c[3][1], b1, a0, 3);
        c[4][0] = vfmaq_laneq_f32(c[4][0], b0, a1, 0); c[4][1] = vfmaq_laneq_f32(c[4][1], b1, a1, 0);
        c[5][0] = vfmaq_laneq_f32(c[5][0], b0, a1, 1); c[5][1] = vfmaq_laneq_f32(c[5][1], b1, a1, 1);
        c[6][0] = vfmaq_laneq_f32(c[6][0], b0, a1, 2); c[6][1] = vfmaq_laneq_f32(c[6][1], b1, a1, 2);
        c[7][0] = vfmaq_laneq_f32(c[7][0], b0, a1, 3); c[7][1] = vfmaq_laneq_f32(c[7][1], b1, a1, 3);
    }
    for (r = 0; r < 8; r++) {
        float *cr = C + r * ldc;
        if (add) { c[r][0] = vaddq_f32(c[r][0], vld1q_f32(cr)); c[r][1] = vaddq_f32(c[r][1], vld1q_f32(cr + 4)); }
        vst1q_f32(cr, c[r][0]); vst1q_f32(cr + 4, c[r][1]);
    }
}
#endif

static const nn__gemm_isa *nn__isa(int cap) {
    static const nn__gemm_isa def = { 4, 8, 128, 256, 512, nn__tile_default };
#if defined(NN__X86)
    static const nn__gemm_isa avx2 = { 6, 16, 144, 256, 1024, nn__tile_avx2 };
    static const nn__gemm_isa avx512 = { 8, 32, 256, 256, 1024, nn__tile_avx512 };
    if (cap == NN__CAP_AVX512) return &avx512;
    if (cap == NN__CAP_AVX2) return &avx2;
#elif defined(NN__ARM64)
    static const nn__gemm_isa neon = { 8, 8, 128, 256, 1024, nn__tile_neon };
    if (cap == NN__CAP_NEON) return &neon;
#endif
    (void)cap;
    return &def;
}

/* Packing transposes an operand when its rows run the other way; an 8 x 8 block at a time
   in AVX registers: d row r = s column r (s rows ss apart, d rows ds apart). */
#if defined(NN__X86)
NN__AVX2_FN static void nn__transpose8(const float *s, int64_t ss, float *d, int64_t ds) {
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ss), r2 = _mm256_loadu_ps(s + 2 * ss), r3 = _mm256_loadu_ps(s + 3 * ss);
    __m256 r4 = _mm256_loadu_ps(s + 4 * ss), r5 = _mm256_loadu_ps(s + 5 * ss), r6 = _mm256_loadu_ps(s + 6 * ss), r7 = _mm256_loadu_ps(s + 7 * ss);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5), t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE), u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20)); _mm256_storeu_ps(d + ds, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20)); _mm256_storeu_ps(d + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31)); _mm256_storeu_ps(d + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31)); _mm256_storeu_ps(d + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#define NN__HAS_TRANSPOSE8(cap) ((cap) == NN__CAP_AVX2 || (cap) == NN__CAP_AVX512)
#else
static void nn__transpose8(const float *s, int64_t ss, float *d, int64_t ds) {
    int r, c;
    for (r = 0; r < 8; r++) for (c = 0; c < 8; c++) d[r * ds + c] = s[c * ss + r];
}
#define NN__HAS_TRANSPOSE8(cap) ((void)(cap), 0)
#endif

#if defined(NN__X86)
/* B (kc, nc) with contiguous rows, brs apart, into (kc, 32) panels, zero-padded; row by row, so
   B is read in order (one stream, not one per row) */
NN__AVX512_FN static void nn__panels32_avx512(float *dst, const float *B, int64_t brs, int64_t kc, int64_t nc) {
    int64_t k, j, last = (nc - 1) / 32 * 32;
    int rem = (int)(nc - last);
    __mmask16 m0 = (__mmask16)(rem >= 16 ? 0xffff : (1u << rem) - 1), m1 = (__mmask16)(rem >= 32 ? 0xffff : rem > 16 ? (1u << (rem - 16)) - 1 : 0);
    for (k = 0; k < kc; k++) {
        const float *s = B + k * brs;
        float *d = dst + k * 32;
        for (j = 0; j < last; j += 32, d += kc * 32) {
            _mm512_storeu_ps(d, _mm512_loadu_ps(s + j));
            _mm512_storeu_ps(d + 16, _mm512_loadu_ps(s + j + 16));
        }
        _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(m0, s + last));
        _mm512_storeu_ps(d + 16, _mm512_maskz_loadu_ps(m1, s + last + 16));
    }
}
#endif

/* A's rows (mc of them, kc columns) as MR-row panels (kc, MR), zero-padded */
static void nn__pack_a(float *dst, const float *A, int64_t ars, int64_t acs, int64_t mc, int64_t kc, int mr, int cap) {
    int64_t i, k; int r;
    for (i = 0; i < mc; i += mr, dst += kc * mr) {
        int rows = mc - i < mr ? (int)(mc - i) : mr;
        k = 0;
        if (rows == mr && ars == 1) {                /* each k: MR contiguous values */
            for (; k < kc; k++) memcpy(dst + k * mr, A + i + k * acs, (size_t)mr * sizeof(float));
            continue;
        }
        if (rows == 8 && mr == 8 && acs == 1 && NN__HAS_TRANSPOSE8(cap))
            for (; k + 8 <= kc; k += 8) nn__transpose8(A + i * ars + k, ars, dst + k * 8, 8);
        for (r = 0; r < rows; r++) {
            const float *src = A + (i + r) * ars;
            int64_t kk;
            for (kk = k; kk < kc; kk++) dst[kk * mr + r] = src[kk * acs];
        }
        for (r = rows; r < mr; r++) { int64_t kk; for (kk = 0; kk < kc; kk++) dst[kk * mr + r] = 0.0f; }
    }
}
/* B's columns (nc of them, kc rows) as NR-column panels (kc, NR), zero-padded */
static void nn__pack_b(float *dst, const float *B, int64_t brs, int64_t bcs, int64_t kc, int64_t nc, int nr, int cap) {
    int64_t j, k; int c;
#if defined(NN__X86)
    if (bcs == 1 && nr == 32 && cap == NN__CAP_AVX512 && nc > 0) { nn__panels32_avx512(dst, B, brs, kc, nc); return; }
#endif
    for (j = 0; j < nc; j += nr, dst += kc * nr) {
        int cols = nc - j < nr ? (int)(nc - j) : nr;
        if (bcs == 1) {
            for (k = 0; k < kc; k++) {
                const float *s = B + k * brs + j; float *d = dst + k * nr;
                if (cols == nr) { memcpy(d, s, (size_t)nr * sizeof(float)); continue; }
                for (c = 0; c < cols; c++) d[c] = s[c];
                for (; c < nr; c++) d[c] = 0.0f;
            }
            continue;
        }
        c = 0;
        if (brs == 1 && NN__HAS_TRANSPOSE8(cap)) {   /* columns contiguous: 8 x 8 blocks */
            for (; c + 8 <= cols; c += 8) {
                const float *s = B + (j + c) * bcs;
                for (k = 0; k + 8 <= kc; k += 8) nn__transpose8(s + k, bcs, dst + k * nr + c, nr);
                for (; k < kc; k++) { int q; for (q = 0; q < 8; q++) dst[k * nr + c + q] = s[q * bcs + k]; }
            }
        }
        for (; c < cols; c++) {
            const float *src = B + (j + c) * bcs;
            for (k = 0; k < kc; k++) dst[k * nr + c] = src[k * brs];
        }
        for (; c < nr; c++) for (k = 0; k < kc; k++) dst[k * nr + c] = 0.0f;
    }
}

typedef struct nn__gemm_job {
    const nn__gemm_isa *isa;
    int64_t M, N, K, ars, acs, brs, bcs, ldc;
    int64_t mc, jchunk;            /* rows per task, NR panels per task */
    int64_t j0, nc, p0, kc, tiles_j, panels;   /* the current block of B: columns j0.., rows p0.. */
    const float *A, *B;
    float *C, *Bp, *ws;            /* Bp: the packed block of B, shared by every task */
    size_t ws_floats, a_off;       /* per thread; where its rows of A start in it */
    int add, cap;
} nn__gemm_job;

/* the packing space per thread for a product of (M, K) by (K, N): the block of B first (thread
   0's is the shared one), then the rows of A; no more than the product needs, so a small
   product on a small machine takes little */
static size_t nn__gemm_b_floats(const nn__gemm_isa *isa, int64_t N, int64_t K) {
    int64_t kc = K < isa->kc ? (K > 0 ? K : 1) : isa->kc, nc = (N + isa->nr - 1) / isa->nr * isa->nr;
    if (nc > isa->nc) nc = isa->nc;
    return (size_t)kc * (size_t)(nc + isa->nr);
}
static size_t nn__gemm_ws_floats(const nn__gemm_isa *isa, int64_t M, int64_t N, int64_t K) {
    int64_t kc = K < isa->kc ? (K > 0 ? K : 1) : isa->kc, mc = (M + isa->mr - 1) / isa->mr * isa->mr;
    if (mc > isa->mc) mc = isa->mc;
    return (size_t)(mc + isa->mr) * (size_t)kc + nn__gemm_b_floats(isa, N, K);
}

/* task t packs NR panels t*jchunk.. of the current block of B */
static void nn__gemm_pack_task(void *arg, int64_t t, int tid) {
    const nn__gemm_job *g = NN__CAST(const nn__gemm_job *, arg);
    int64_t jr = t * g->jchunk * g->isa->nr, n = g->nc - jr < g->jchunk * g->isa->nr ? g->nc - jr : g->jchunk * g->isa->nr;
    (void)tid;
    nn__pack_b(g->Bp + jr * g->kc, g->B + g->p0 * g->brs + (g->j0 + jr) * g->bcs, g->brs, g->bcs, g->kc, n, g->isa->nr, g->cap);
}

/* the micro-kernels over packed rows i0..i0+mc of A (Ap) and packed columns c0..c0+n of B
   (Bp, its first panel at column c0): C's tiles = or += their products */
static void nn__gemm_micro(const nn__gemm_job *g, const float *Ap, const float *Bp, int64_t kc, int add,
                           int64_t i0, int64_t mc, int64_t c0, int64_t n) {
    const nn__gemm_isa *isa = g->isa;
    int mr = isa->mr, nr = isa->nr;
    int64_t ir, jr;
    float tmp[8 * 32];
    for (jr = 0; jr < n; jr += nr) for (ir = 0; ir < mc; ir += mr) {
        const float *a = Ap + ir * kc, *b = Bp + jr * kc;
        float *c = g->C + (i0 + ir) * g->ldc + c0 + jr;
        int64_t rows = mc - ir < mr ? mc - ir : mr, cols = n - jr < nr ? n - jr : nr, r, q;
        if (rows == mr && cols == nr) { isa->tile(kc, a, b, c, g->ldc, add); continue; }
        isa->tile(kc, a, b, tmp, nr, 0);          /* an edge tile: through a full-size buffer */
        for (r = 0; r < rows; r++) for (q = 0; q < cols; q++)
            c[r * g->ldc + q] = add ? c[r * g->ldc + q] + tmp[r * nr + q] : tmp[r * nr + q];
    }
}

/* BLIS order, task t: rows (t / tiles_j) * mc.. of C against panels (t % tiles_j) * jchunk..
   of the shared block of B */
static void nn__gemm_task(void *arg, int64_t t, int tid) {
    const nn__gemm_job *g = NN__CAST(const nn__gemm_job *, arg);
    const nn__gemm_isa *isa = g->isa;
    int64_t i0 = (t / g->tiles_j) * g->mc, mc = g->M - i0 < g->mc ? g->M - i0 : g->mc;
    int64_t jlo = (t % g->tiles_j) * g->jchunk * isa->nr, jhi = jlo + g->jchunk * isa->nr < g->nc ? jlo + g->jchunk * isa->nr : g->nc;
    float *Ap = g->ws + (size_t)tid * g->ws_floats + g->a_off;
    nn__pack_a(Ap, g->A + i0 * g->ars + g->p0 * g->acs, g->ars, g->acs, mc, g->kc, isa->mr, g->cap);
    nn__gemm_micro(g, Ap, g->Bp + jlo * g->kc, g->kc, g->add, i0, mc, g->j0 + jlo, jhi - jlo);
}

/* Few rows of A (one or two row tiles): task t owns rows (t / tiles_j) * mc.. and columns
   (t % tiles_j) * jchunk * NR.. of C and walks all of K itself, packing its own A and B, so
   one parallel call covers the whole product (small products, where a call costs most). */
static void nn__gemm_task_own(void *arg, int64_t t, int tid) {
    const nn__gemm_job *g = NN__CAST(const nn__gemm_job *, arg);
    const nn__gemm_isa *isa = g->isa;
    int64_t i0 = (t / g->tiles_j) * g->mc, mc = g->M - i0 < g->mc ? g->M - i0 : g->mc, p0, kc;
    int64_t jlo = (t % g->tiles_j) * g->jchunk * isa->nr, jhi = jlo + g->jchunk * isa->nr < g->N ? jlo + g->jchunk * isa->nr : g->N;
    float *Bp = g->ws + (size_t)tid * g->ws_floats, *Ap = Bp + g->a_off;
    for (p0 = 0; p0 < g->K; p0 += isa->kc) {
        kc = g->K - p0 < isa->kc ? g->K - p0 : isa->kc;
        nn__pack_b(Bp, g->B + p0 * g->brs + jlo * g->bcs, g->brs, g->bcs, kc, jhi - jlo, isa->nr, g->cap);
        nn__pack_a(Ap, g->A + i0 * g->ars + p0 * g->acs, g->ars, g->acs, mc, kc, isa->mr, g->cap);
        nn__gemm_micro(g, Ap, Bp, kc, g->add || p0 > 0, i0, mc, jlo, jhi - jlo);
    }
}

/* ---- GEMV: one row of A (single-sample inference), vectorised ---- */
/* Each output sums K products in blocks of NN__GEMV_KB: a block in float vector lanes, the
   blocks in double, so a long dot product (K = 10^6) stays accurate to about 1e-7. Two block
   kernels per capability: out (n <= 64) = a (kc) @ B (kc, n) with B's rows contiguous, and
   a (kc) . b (kc), both contiguous. */
#define NN__GEMV_KB 512
typedef void (*nn__blk_rows_fn)(int64_t n, int64_t kc, const float *a, const float *B, int64_t brs, float *out);
typedef float (*nn__blk_dot_fn)(int64_t kc, const float *a, const float *b);

static void nn__blk_rows_c(int64_t n, int64_t kc, const float *a, const float *B, int64_t brs, float *out) {
    int64_t j, p;
    for (j = 0; j < n; j++) out[j] = 0.0f;
    for (p = 0; p < kc; p++) { const float *b = B + p * brs; float av = a[p]; for (j = 0; j < n; j++) out[j] += av * b[j]; }
}
static float nn__blk_dot_c(int64_t kc, const float *a, const float *b) {
    float s[16], t = 0.0f;
    int64_t p; int q;
    for (q = 0; q < 16; q++) s[q] = 0.0f;
    for (p = 0; p + 16 <= kc; p += 16) for (q = 0; q < 16; q++) s[q] += a[p + q] * b[p + q];
    for (; p < kc; p++) s[0] += a[p] * b[p];
    for (q = 0; q < 16; q++) t += s[q];
    return t;
}
#if defined(NN__X86)
NN__AVX512_FN static void nn__blk_rows_avx512(int64_t n, int64_t kc, const float *a, const float *B, int64_t brs, float *out) {
    __m512 s[4];
    __mmask16 m[4];
    int64_t p; int q, nv = (int)((n + 15) / 16);
    for (q = 0; q < 4; q++) {
        int64_t left = n - 16 * q;
        m[q] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : (__mmask16)0;
        s[q] = _mm512_setzero_ps();
    }
    if (nv == 4 && m[3] == 0xffff) {
        for (p = 0; p < kc; p++) {
            const float *b = B + p * brs; __m512 av = _mm512_set1_ps(a[p]);
            s[0] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b), s[0]); s[1] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + 16), s[1]);
            s[2] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + 32), s[2]); s[3] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + 48), s[3]);
        }
    } else {
        for (p = 0; p < kc; p++) {
            const float *b = B + p * brs; __m512 av = _mm512_set1_ps(a[p]);
            for (q = 0; q < nv; q++) s[q] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m[q], b + 16 * q), s[q]);
        }
    }
    for (q = 0; q < nv; q++) _mm512_mask_storeu_ps(out + 16 * q, m[q], s[q]);
}
NN__AVX512_FN static float nn__blk_dot_avx512(int64_t kc, const float *a, const float *b) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    float lane[16], s = 0.0f;
    int64_t p; int q;
    for (p = 0; p + 32 <= kc; p += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + p), _mm512_loadu_ps(b + p), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + p + 16), _mm512_loadu_ps(b + p + 16), s1);
    }
    for (; p < kc; p += 16) {
        __mmask16 m = kc - p >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (kc - p)) - 1);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + p), _mm512_maskz_loadu_ps(m, b + p), s0);
    }
    _mm512_storeu_ps(lane, _mm512_add_ps(s0, s1));
    for (q = 0; q < 16; q++) s += lane[q];
    return s;
}
/* four dot products at once (a . b0, b1, b2, b3; the b's bcs apart): eight FMA chains */
NN__AVX512_FN static void nn__blk_dot4_avx512(int64_t kc, const float *a, const float *b, int64_t bcs, float *out) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
    const float *b1 = b + bcs, *b2 = b + 2 * bcs, *b3 = b + 3 * bcs;
    float lane[16];
    int64_t p; int q, c;
    for (p = 0; p + 32 <= kc; p += 32) {
        __m512 av = _mm512_loadu_ps(a + p), aw = _mm512_loadu_ps(a + p + 16);
        s0 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + p), s0); t0 = _mm512_fmadd_ps(aw, _mm512_loadu_ps(b + p + 16), t0);
        s1 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b1 + p), s1); t1 = _mm512_fmadd_ps(aw, _mm512_loadu_ps(b1 + p + 16), t1);
        s2 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b2 + p), s2); t2 = _mm512_fmadd_ps(aw, _mm512_loadu_ps(b2 + p + 16), t2);
        s3 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b3 + p), s3); t3 = _mm512_fmadd_ps(aw, _mm512_loadu_ps(b3 + p + 16), t3);
    }
    for (; p < kc; p += 16) {
        __mmask16 m = kc - p >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (kc - p)) - 1);
        __m512 av = _mm512_maskz_loadu_ps(m, a + p);
        s0 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, b + p), s0); s1 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, b1 + p), s1);
        s2 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, b2 + p), s2); s3 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, b3 + p), s3);
    }
    s0 = _mm512_add_ps(s0, t0); s1 = _mm512_add_ps(s1, t1); s2 = _mm512_add_ps(s2, t2); s3 = _mm512_add_ps(s3, t3);
    for (c = 0; c < 4; c++) {
        _mm512_storeu_ps(lane, c == 0 ? s0 : c == 1 ? s1 : c == 2 ? s2 : s3);
        for (out[c] = 0.0f, q = 0; q < 16; q++) out[c] += lane[q];
    }
}
NN__AVX2_FN static void nn__blk_rows_avx2(int64_t n, int64_t kc, const float *a, const float *B, int64_t brs, float *out) {
    int64_t p;
    if (n < 32) { nn__blk_rows_c(n, kc, a, B, brs, out); return; }
    {
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (p = 0; p < kc; p++) {
            const float *b = B + p * brs; __m256 av = _mm256_set1_ps(a[p]);
            s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), s0); s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 8), s1);
            s2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 16), s2); s3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 24), s3);
        }
        _mm256_storeu_ps(out, s0); _mm256_storeu_ps(out + 8, s1); _mm256_storeu_ps(out + 16, s2); _mm256_storeu_ps(out + 24, s3);
    }
    if (n > 32) nn__blk_rows_avx2(n - 32, kc, a, B + 32, brs, out + 32);
}
NN__AVX2_FN static float nn__blk_dot_avx2(int64_t kc, const float *a, const float *b) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    float lane[8], s = 0.0f;
    int64_t p; int q;
    for (p = 0; p + 16 <= kc; p += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 8), _mm256_loadu_ps(b + p + 8), s1);
    }
    _mm256_storeu_ps(lane, _mm256_add_ps(s0, s1));
    for (q = 0; q < 8; q++) s += lane[q];
    for (; p < kc; p++) s += a[p] * b[p];
    return s;
}
#endif

/* c (n) = or += a (k) @ B (k, n); B's rows contiguous (bcs 1) or its columns (brs 1) */
static void nn__gemv(int cap, int64_t n, int64_t k, const float *a, const float *B, int64_t brs, int64_t bcs, float *c, int add) {
    nn__blk_rows_fn rows = nn__blk_rows_c;
    nn__blk_dot_fn dot = nn__blk_dot_c;
    int64_t j0, p0; int q;
#if defined(NN__X86)
    if (cap == NN__CAP_AVX512) { rows = nn__blk_rows_avx512; dot = nn__blk_dot_avx512; }
    if (cap == NN__CAP_AVX2) { rows = nn__blk_rows_avx2; dot = nn__blk_dot_avx2; }
#endif
    (void)cap;
    if (bcs == 1 && !(brs == 1 && n == 1)) {     /* one column: a dot product */
        for (j0 = 0; j0 < n; j0 += 64) {
            int nj = n - j0 < 64 ? (int)(n - j0) : 64;
            double tot[64]; float part[64];
            for (q = 0; q < nj; q++) tot[q] = add ? (double)c[j0 + q] : 0.0;
            for (p0 = 0; p0 < k; p0 += NN__GEMV_KB) {
                rows(nj, k - p0 < NN__GEMV_KB ? k - p0 : NN__GEMV_KB, a + p0, B + p0 * brs + j0, brs, part);
                for (q = 0; q < nj; q++) tot[q] += part[q];
            }
            for (q = 0; q < nj; q++) c[j0 + q] = (float)tot[q];
        }
    } else {
#if defined(NN__X86)
        if (cap == NN__CAP_AVX512) for (j0 = 0; j0 + 4 <= n; j0 += 4) {     /* four columns at a time */
            double tot[4]; float part[4];
            for (q = 0; q < 4; q++) tot[q] = add ? (double)c[j0 + q] : 0.0;
            for (p0 = 0; p0 < k; p0 += NN__GEMV_KB) {
                nn__blk_dot4_avx512(k - p0 < NN__GEMV_KB ? k - p0 : NN__GEMV_KB, a + p0, B + j0 * bcs + p0, bcs, part);
                for (q = 0; q < 4; q++) tot[q] += part[q];
            }
            for (q = 0; q < 4; q++) c[j0 + q] = (float)tot[q];
        }
        if (cap != NN__CAP_AVX512) j0 = 0;
#else
        j0 = 0;
#endif
        for (; j0 < n; j0++) {
            double tot = add ? (double)c[j0] : 0.0;
            for (p0 = 0; p0 < k; p0 += NN__GEMV_KB) tot += dot(k - p0 < NN__GEMV_KB ? k - p0 : NN__GEMV_KB, a + p0, B + j0 * bcs + p0);
            c[j0] = (float)tot;
        }
    }
}

/* rows of A times columns t*cols.. of B: each output by one task, so any split gives the same bits */
typedef struct nn__gemv_job {
    int cap, add;
    int64_t M, N, K, ars, brs, bcs, ldc, cols;
    const float *A, *B;
    float *C;
} nn__gemv_job;
static void nn__gemv_task(void *arg, int64_t t, int tid) {
    const nn__gemv_job *v = NN__CAST(const nn__gemv_job *, arg);
    int64_t j0 = t * v->cols, n = v->N - j0 < v->cols ? v->N - j0 : v->cols, i;
    (void)tid;
    for (i = 0; i < v->M; i++) nn__gemv(v->cap, n, v->K, v->A + i * v->ars, v->B + j0 * v->bcs, v->brs, v->bcs, v->C + i * v->ldc + j0, v->add);
}

#ifdef NN_USE_CBLAS
/* Large products go to the CBLAS you link (-lopenblas, -lblis, -lmkl_rt, ...); its threads
   are its own (OPENBLAS_NUM_THREADS and the like). */
#ifndef I
#define NN__NO_I_BEFORE_CBLAS
#endif
#include <cblas.h>
#if defined(NN__NO_I_BEFORE_CBLAS) && defined(I)
#undef I                      /* OpenBLAS's cblas.h brings complex.h's I */
#endif
static int nn__gemm_cblas(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars, int64_t acs,
                          const float *B, int64_t brs, int64_t bcs, float *C, int64_t ldc, int accumulate) {
    enum CBLAS_TRANSPOSE ta, tb; int64_t lda, ldb;
    if (M * N * K < ((int64_t)1 << 18) || M > INT_MAX || N > INT_MAX || K > INT_MAX) return 0;
    if (acs == 1 && ars >= K) { ta = CblasNoTrans; lda = ars; } else if (ars == 1 && acs >= M) { ta = CblasTrans; lda = acs; } else return 0;
    if (bcs == 1 && brs >= N) { tb = CblasNoTrans; ldb = brs; } else if (brs == 1 && bcs >= K) { tb = CblasTrans; ldb = bcs; } else return 0;
    if (lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX) return 0;
    cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb,
                accumulate ? 1.0f : 0.0f, C, (int)ldc);
    return 1;
}
#endif

/* C (M, N) = or += A (M, K) @ B (K, N), strides as nn__gemm_ref. ws: packing space of
   nn__gemm_ws_floats(isa, M, N, K) floats (or more) for each of `threads` threads (threads 1: run here, no
   pool: what a task of another parallel loop uses). */
/* a few rows of A, each a GEMV: no packing space */
static int nn__gemm_is_gemv(const nn__gemm_isa *isa, int64_t M, int64_t K, int64_t acs, int64_t brs, int64_t bcs) {
    return M < isa->mr && (acs == 1 || K == 1) && (bcs == 1 || brs == 1);
}

static void nn__gemm_run(nn_ctx *ctx, int cap, int threads, float *ws, int64_t M, int64_t N, int64_t K,
                         const float *A, int64_t ars, int64_t acs, const float *B, int64_t brs, int64_t bcs,
                         float *C, int64_t ldc, int accumulate) {
    const nn__gemm_isa *isa = nn__isa(cap);
    nn__gemm_job g;
    int64_t i, tiles_m, target = threads > 1 && M * N * K >= ((int64_t)1 << 19) ? 4 * (int64_t)threads : 1;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { if (!accumulate) for (i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float)); return; }
    if (nn__gemm_is_gemv(isa, M, K, acs, brs, bcs)) {                           /* a few rows: GEMV each */
        nn__gemv_job v;
        v.cap = cap; v.M = M; v.N = N; v.K = K; v.A = A; v.ars = ars; v.B = B; v.brs = brs; v.bcs = bcs;
        v.C = C; v.ldc = ldc; v.add = accumulate;
        v.cols = threads > 1 && N * K >= ((int64_t)1 << 18) ? ((N + 2 * threads - 1) / (2 * threads) + 63) / 64 * 64 : N;
        if (v.cols < N) nn__parallel(ctx, (N + v.cols - 1) / v.cols, nn__gemv_task, &v);   /* columns split: weights stream on every core */
        else nn__gemv_task(&v, 0, 0);
        return;
    }
    memset(&g, 0, sizeof g);
    g.isa = isa; g.M = M; g.N = N; g.K = K; g.A = A; g.ars = ars; g.acs = acs; g.B = B; g.brs = brs; g.bcs = bcs;
    g.C = C; g.ldc = ldc; g.cap = cap; g.ws = ws; g.ws_floats = nn__gemm_ws_floats(isa, M, N, K);
    g.a_off = nn__gemm_b_floats(isa, N, K);
    g.Bp = ws;                                       /* thread 0's B area */
    g.mc = isa->mc;
    tiles_m = (M + g.mc - 1) / g.mc;
    if (tiles_m <= 2) {                              /* few rows: each task its own columns, all of K */
        int64_t panels = (N + isa->nr - 1) / isa->nr, cap_chunk = isa->nc / isa->nr;
        g.add = accumulate;
        g.jchunk = panels < cap_chunk ? panels : cap_chunk;
        while ((tiles_m = (M + g.mc - 1) / g.mc) * ((panels + g.jchunk - 1) / g.jchunk) < target) {
            if (g.jchunk > 1) g.jchunk = (g.jchunk + 1) / 2;
            else if (g.mc > isa->mr) g.mc = ((g.mc + 1) / 2 + isa->mr - 1) / isa->mr * isa->mr;
            else break;
        }
        g.tiles_j = (panels + g.jchunk - 1) / g.jchunk;
        if (threads > 1 && target > 1) nn__parallel(ctx, tiles_m * g.tiles_j, nn__gemm_task_own, &g);
        else for (i = 0; i < tiles_m * g.tiles_j; i++) nn__gemm_task_own(&g, i, 0);
        return;
    }
    /* BLIS's loops: a block of B (KC x NC) is packed once, then every task packs its rows of
       A and runs its micro-kernels against it. With threads, rows and panels are split until
       there are a few tasks per thread. */
    for (g.j0 = 0; g.j0 < N; g.j0 += isa->nc) {
        g.nc = N - g.j0 < isa->nc ? N - g.j0 : isa->nc;
        g.panels = (g.nc + isa->nr - 1) / isa->nr;
        g.mc = isa->mc; g.jchunk = g.panels;
        while ((tiles_m = (M + g.mc - 1) / g.mc) * ((g.panels + g.jchunk - 1) / g.jchunk) < target) {
            if (g.jchunk > 1) g.jchunk = (g.jchunk + 1) / 2;
            else if (g.mc > isa->mr) g.mc = ((g.mc + 1) / 2 + isa->mr - 1) / isa->mr * isa->mr;
            else break;
        }
        g.tiles_j = (g.panels + g.jchunk - 1) / g.jchunk;
        for (g.p0 = 0; g.p0 < K; g.p0 += isa->kc) {
            g.kc = K - g.p0 < isa->kc ? K - g.p0 : isa->kc;
            g.add = accumulate || g.p0 > 0;
            if (threads > 1 && target > 1) {
                nn__parallel(ctx, g.tiles_j, nn__gemm_pack_task, &g);
                nn__parallel(ctx, tiles_m * g.tiles_j, nn__gemm_task, &g);
            } else {
                int64_t jchunk = g.jchunk, tj = g.tiles_j;
                g.jchunk = g.panels; g.tiles_j = 1;
                nn__gemm_pack_task(&g, 0, 0);
                g.jchunk = jchunk; g.tiles_j = tj;
                for (i = 0; i < tiles_m * g.tiles_j; i++) nn__gemm_task(&g, i, 0);
            }
        }
    }
}

/* The GEMM every op calls: the fast path for the context's capability on its threads, the
   packing space from the step arena for the call. 1, or 0 with an error when that space cannot
   be had (a slower path would give other bits, so there is none). */
static int nn__gemm(nn_ctx *ctx, int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t ars, int64_t acs,
                     const float *B, int64_t brs, int64_t bcs,
                     float *C, int64_t ldc, int accumulate) {
    nn__mark mark; float *ws; int threads = nn__threads(ctx), cap = ctx ? ctx->cap : NN__CAP_DEFAULT;
    const nn__gemm_isa *isa = nn__isa(cap);
#ifdef NN_USE_CBLAS
    if (nn__gemm_cblas(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate)) return 1;
#endif
    if (!ctx) { nn__gemm_ref(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate); return 1; }
    if (M <= 0 || N <= 0 || K <= 0 || nn__gemm_is_gemv(isa, M, K, acs, brs, bcs)) {
        nn__gemm_run(ctx, cap, threads, NULL, M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate);
        return 1;
    }
    mark = nn__arena_mark(ctx);
    ws = NN__CAST(float *, nn__arena_alloc(ctx, nn__gemm_ws_floats(isa, M, N, K) * (size_t)threads * sizeof(float)));
    if (!ws) {
        nn__arena_rewind(ctx, mark);
        nn__err(ctx, "out of memory for a matrix product's packing space (%zu bytes)",
                nn__gemm_ws_floats(isa, M, N, K) * (size_t)threads * sizeof(float));
        return 0;
    }
    nn__gemm_run(ctx, cap, threads, ws, M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate);
    nn__arena_rewind(ctx, mark);
    return 1;
}

/* ==== ops ==== */
/* Every op: a front end that checks its arguments, computes the output shape and fills
   the op's parameters (it never reads or writes tensor data), then a forward kernel and
   a backward kernel side by side, reached through the registry (NN__OP_LIST). Kernels
   return 1, or 0 after an error; backward kernels accumulate (+=) into the gradients of
   the inputs that require them. */

static int nn__forward(nn_tensor *y);   /* runs y's forward kernel for y's device */

static nn_ctx *nn__ctx_of(nn_tensor **xs, int n) {
    int i;
    for (i = 0; i < n; i++) if (xs[i]) return xs[i]->ctx;
    return NULL;
}


/* NULL inputs: returns 0. An input that is NULL because an earlier op failed
   adds no second message; the first error is already recorded. dtype: what the
   inputs must be (NN_DTYPE_COUNT: any). */
static int nn__check_inputs_dtype(const char *fn, nn_tensor **xs, const char **names, int n, nn_dtype dtype) {
    nn_ctx *ctx = nn__ctx_of(xs, n);
    int i;
    for (i = 0; i < n; i++) {
        if (!xs[i]) {
            if (ctx && !ctx->has_error) nn__err(ctx, "%s: %s is NULL", fn, names[i]);
            return 0;
        }
        if (xs[i]->ctx != ctx) { nn__err(ctx, "%s: %s belongs to another nn_ctx; all inputs must share one", fn, names[i]); return 0; }
        if (nn__stale(xs[i])) {
            nn__err(ctx, "%s: %s was made before the last nn_arena_reset and no longer exists; keep it with nn_keep", fn, names[i]);
            return 0;
        }
        if (xs[i]->device != xs[0]->device) { nn__err(ctx, "%s: %s is on device %d and %s on device %d", fn, names[0], (int)xs[0]->device, names[i], (int)xs[i]->device); return 0; }
        if (dtype != NN_DTYPE_COUNT && xs[i]->dtype != dtype) {
            nn__err(ctx, "%s: %s is %s; expected %s", fn, names[i], nn_dtype_name(xs[i]->dtype), nn_dtype_name(dtype));
            return 0;
        }
    }
    return 1;
}
static int nn__check_inputs(const char *fn, nn_tensor **xs, const char **names, int n) {
    return nn__check_inputs_dtype(fn, xs, names, n, NN_FLOAT32);
}
/* An index input: int64, on x's context and device. */
static int nn__check_index(const char *fn, const nn_tensor *x, nn_tensor *index, const char *name) {
    if (!index) { if (!x->ctx->has_error) nn__err(x->ctx, "%s: %s is NULL", fn, name); return 0; }
    if (index->ctx != x->ctx) { nn__err(x->ctx, "%s: %s belongs to another nn_ctx", fn, name); return 0; }
    if (nn__stale(index)) { nn__err(x->ctx, "%s: %s was made before the last nn_arena_reset and no longer exists", fn, name); return 0; }
    if (index->dtype != NN_INT64) {
        nn__err(x->ctx, "%s: %s is %s; indices are int64 (make them with nn_from_i64 or nn_to_dtype(t, NN_INT64))", fn, name, nn_dtype_name(index->dtype));
        return 0;
    }
    if (index->device != x->device) { nn__err(x->ctx, "%s: %s is on device %d, the input on %d", fn, name, (int)index->device, (int)x->device); return 0; }
    return 1;
}

/* The node an op returns: arena tensor, inputs recorded, requires_grad
   spread from the inputs when grad mode is on. */
static nn_tensor *nn__node_dtype(int op, const char *fn, int ndim, const int64_t *shape, nn_tensor **srcs, int nsrc,
                                 int with_data, nn_dtype dtype) {
    nn_ctx *ctx = srcs[0]->ctx;
    nn_tensor *t;
    int i;
    for (i = 1; i < nsrc; i++) if (srcs[i] && srcs[i]->device != srcs[0]->device) {   /* optional inputs too (weights, stats) */
        nn__err(ctx, "%s: input %d is on device %d and input 0 on device %d; move them to one device (nn_to, nn_module_to)", fn, i,
                (int)srcs[i]->device, (int)srcs[0]->device);
        return NULL;
    }
    t = nn__new_arena_on(ctx, fn, ndim, shape, with_data, dtype, srcs[0]->device);
    if (!t) return NULL;
    t->op = op;
    t->seq = ++ctx->op_seq;
    t->fn = fn;
    if (nsrc > 3) {
        t->src = NN__CAST(nn_tensor **, nn__arena_alloc(ctx, (size_t)nsrc * sizeof(nn_tensor *)));
        if (!t->src) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    }
    t->nsrc = nsrc;
    for (i = 0; i < nsrc; i++) {
        t->src[i] = srcs[i];
        if (srcs[i] && srcs[i]->requires_grad && ctx->grad_enabled) t->requires_grad = 1;
        if (!nn__hold(ctx, srcs[i])) { nn__err(ctx, "%s: out of memory", fn); return NULL; }   /* read until the reset */
    }
    if (dtype != NN_FLOAT32) t->requires_grad = 0;    /* only floating-point results have gradients */
    ctx->n_nodes += 1 + nsrc;    /* bounds the tensors a graph walk can meet */
    return t;
}
static nn_tensor *nn__node(int op, const char *fn, int ndim, const int64_t *shape, nn_tensor **srcs, int nsrc, int with_data) {
    return nn__node_dtype(op, fn, ndim, shape, srcs, nsrc, with_data, NN_FLOAT32);
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

static int nn__binary_forward(nn_tensor *y) {
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
        case NN_OP_ADD: for (j = 0; j < r.len; j++) o[j] = nn__binary_f(NN_OP_ADD, a[j * sa], b[j * sb], 0.0f); break;
        case NN_OP_SUB: for (j = 0; j < r.len; j++) o[j] = nn__binary_f(NN_OP_SUB, a[j * sa], b[j * sb], 0.0f); break;
        case NN_OP_MUL: for (j = 0; j < r.len; j++) o[j] = nn__binary_f(NN_OP_MUL, a[j * sa], b[j * sb], 0.0f); break;
        case NN_OP_DIV: for (j = 0; j < r.len; j++) o[j] = nn__binary_f(NN_OP_DIV, a[j * sa], b[j * sb], 0.0f); break;
        case NN_OP_POW: for (j = 0; j < r.len; j++) o[j] = nn__binary_f(NN_OP_POW, a[j * sa], b[j * sb], 0.0f); break;
        case NN_OP_MAXIMUM:   /* NaN wins, as PyTorch */
            for (j = 0; j < r.len; j++) o[j] = nn__binary_f(NN_OP_MAXIMUM, a[j * sa], b[j * sb], 0.0f);
            break;
        case NN_OP_MINIMUM:
            for (j = 0; j < r.len; j++) o[j] = nn__binary_f(NN_OP_MINIMUM, a[j * sa], b[j * sb], 0.0f);
            break;
        case NN_OP_WHERE: {   /* src: cond, a, b */
            const float *c = a, *u = b, *v = NN__F32(xs[2]) + r.w.off[2];
            int64_t sc = sa, su = sb, sv = r.s[2];
            for (j = 0; j < r.len; j++) o[j] = nn__binary_f(NN_OP_WHERE, c[j * sc], u[j * su], v[j * sv]);
        } break;
        default: NN_ASSERT(0);
        }
    }
    return 1;
}


/* An input broadcast over the output sums many terms into each element: those sums
   are accumulated in double (a batch-65536 bias gradient is exact to float rounding). */
static int nn__binary_backward(nn_tensor *y) {
    nn__bcast p; nn__rows r; int64_t i, j;
    int ternary = y->op == NN_OP_WHERE, n = ternary ? 3 : 2, k;
    nn_tensor *xs[3];
    xs[0] = y->src[0]; xs[1] = y->src[1]; xs[2] = ternary ? y->src[2] : NULL;
    nn__bcast_plan(&p, y, xs, n);
    for (k = ternary ? 1 : 0; k < n; k++) {
        float *gk = nn__gbuf(xs[k]);
        double *acc = NULL;
        nn__mark mark;
        if (!gk) continue;
        mark = nn__arena_mark(y->ctx);
        if (xs[k]->numel < y->numel) {
            acc = NN__CAST(double *, nn__arena_alloc(y->ctx, (size_t)(xs[k]->numel + 1) * sizeof(double)));
            if (!acc) { nn__err(y->ctx, "nn_backward: out of memory in %s", nn_op_name(y->op)); return 0; }
            memset(acc, 0, (size_t)xs[k]->numel * sizeof(double));
        }
        nn__rows_init(&r, &p);
        for (i = 0; i < r.rows; i++, nn__walk_next(&r.w)) {
            const float *g = NN__F32(y->grad) + i * r.len, *o = NN__F32(y) + i * r.len;   /* (len) */
            const float *u = NN__F32(xs[0]) + r.w.off[0], *v = NN__F32(xs[1]) + r.w.off[1];
            const float *w = ternary ? NN__F32(xs[2]) + r.w.off[2] : NULL;
            int64_t su = r.s[0], sv = r.s[1], sw = r.s[2], sk = r.s[k], ok = r.w.off[k];
            for (j = 0; j < r.len; j++) {
                float d = nn__binary_dval(y->op, k, g[j], u[j * su], v[j * sv], w ? w[j * sw] : 0.0f, o[j]);
                if (acc) acc[ok + j * sk] += d;
                else gk[ok + j * sk] += d;
            }
        }
        if (acc) for (i = 0; i < xs[k]->numel; i++) gk[i] += (float)acc[i];
        nn__arena_rewind(y->ctx, mark);
    }
    return 1;
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
    return nn__forward(y) ? y : NULL;
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


static int nn__unary_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);   /* (n) */
    float *o = NN__F32(y), s = y->fp[0], t = y->fp[1];
    int64_t i, n = y->numel;
    switch (y->op) {
    case NN_OP_ADD_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] + s; break;
    case NN_OP_MUL_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] * s; break;
    case NN_OP_DIV_SCALAR: for (i = 0; i < n; i++) o[i] = x[i] / s; break;
    case NN_OP_POW_SCALAR: for (i = 0; i < n; i++) o[i] = nn__pow_scalar_f(x[i], s); break;
    case NN_OP_NEG: for (i = 0; i < n; i++) o[i] = -x[i]; break;
    case NN_OP_EXP: for (i = 0; i < n; i++) o[i] = expf(x[i]); break;
    case NN_OP_LOG: for (i = 0; i < n; i++) o[i] = logf(x[i]); break;
    case NN_OP_SQRT: for (i = 0; i < n; i++) o[i] = sqrtf(x[i]); break;
    case NN_OP_ABS: for (i = 0; i < n; i++) o[i] = fabsf(x[i]); break;
    case NN_OP_CLAMP: for (i = 0; i < n; i++) o[i] = nn__clamp_f(x[i], s, t); break;
    case NN_OP_RELU: nn__relu_run(y->ctx, o, x, NULL, n); break;   /* NaN stays NaN */
    case NN_OP_LEAKY_RELU: for (i = 0; i < n; i++) o[i] = nn__leaky_relu_f(x[i], s); break;
    case NN_OP_SIGMOID: for (i = 0; i < n; i++) o[i] = nn__sigmoidf(x[i]); break;
    case NN_OP_TANH: for (i = 0; i < n; i++) o[i] = tanhf(x[i]); break;
    case NN_OP_GELU: for (i = 0; i < n; i++) o[i] = nn__gelu_f(x[i]); break;
    case NN_OP_SILU: for (i = 0; i < n; i++) o[i] = nn__silu_f(x[i]); break;
    case NN_OP_SOFTPLUS: for (i = 0; i < n; i++) o[i] = nn__softplus_f(x[i], s, t); break;   /* s = beta, t = threshold */
    case NN_OP_SIN: for (i = 0; i < n; i++) o[i] = sinf(x[i]); break;
    case NN_OP_COS: for (i = 0; i < n; i++) o[i] = cosf(x[i]); break;
    default: NN_ASSERT(0);
    }
    return 1;
}

static int nn__unary_backward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *o = NN__F32(y), *g = NN__F32(y->grad);   /* (n) */
    float *d = nn__gbuf(y->src[0]), s = y->fp[0], t = y->fp[1];
    int64_t i, n = y->numel;
    if (!d) return 1;
    switch (y->op) {
    case NN_OP_ADD_SCALAR: for (i = 0; i < n; i++) d[i] += g[i]; break;
    case NN_OP_MUL_SCALAR: for (i = 0; i < n; i++) d[i] += g[i] * s; break;
    case NN_OP_DIV_SCALAR: for (i = 0; i < n; i++) d[i] += g[i] / s; break;
    case NN_OP_POW_SCALAR:
        if (s != 0.0f) for (i = 0; i < n; i++) d[i] += nn__pow_scalar_b(g[i], x[i], s);
        break;
    case NN_OP_NEG: for (i = 0; i < n; i++) d[i] -= g[i]; break;
    case NN_OP_EXP: for (i = 0; i < n; i++) d[i] += g[i] * o[i]; break;
    case NN_OP_LOG: for (i = 0; i < n; i++) d[i] += g[i] / x[i]; break;
    case NN_OP_SQRT: for (i = 0; i < n; i++) d[i] += g[i] / (2.0f * o[i]); break;
    case NN_OP_ABS: for (i = 0; i < n; i++) d[i] += nn__abs_b(g[i], x[i]); break;
    case NN_OP_CLAMP: for (i = 0; i < n; i++) if (x[i] >= s && x[i] <= t) d[i] += g[i]; break;
    case NN_OP_RELU: nn__relu_run(y->ctx, d, x, g, n); break;
    case NN_OP_LEAKY_RELU: for (i = 0; i < n; i++) d[i] += nn__leaky_relu_b(g[i], x[i], s); break;
    case NN_OP_SIGMOID: for (i = 0; i < n; i++) d[i] += nn__sigmoid_b(g[i], o[i]); break;
    case NN_OP_TANH: for (i = 0; i < n; i++) d[i] += nn__tanh_b(g[i], o[i]); break;
    case NN_OP_GELU: for (i = 0; i < n; i++) d[i] += nn__gelu_b(g[i], x[i]); break;
    case NN_OP_SILU: for (i = 0; i < n; i++) d[i] += nn__silu_b(g[i], x[i]); break;
    case NN_OP_SOFTPLUS: for (i = 0; i < n; i++) d[i] += nn__softplus_b(g[i], x[i], s, t); break;
    case NN_OP_SIN: for (i = 0; i < n; i++) d[i] += g[i] * cosf(x[i]); break;
    case NN_OP_COS: for (i = 0; i < n; i++) d[i] -= g[i] * sinf(x[i]); break;
    default: NN_ASSERT(0);
    }
    return 1;
}

static nn_tensor *nn__unary(int op, const char *fn, nn_tensor *x, float s, float t) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    if (!nn__check_inputs(fn, &x, names, 1)) return NULL;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(op, fn, x->ndim, x->shape, &x, 1, 1);
    if (!y) return NULL;
    y->fp[0] = s; y->fp[1] = t;
    return nn__forward(y) ? y : NULL;
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
NN_API nn_tensor *nn_sin(nn_tensor *x) { return nn__unary(NN_OP_SIN, "nn_sin", x, 0, 0); }
NN_API nn_tensor *nn_cos(nn_tensor *x) { return nn__unary(NN_OP_COS, "nn_cos", x, 0, 0); }
NN_API nn_tensor *nn_silu(nn_tensor *x) { return nn__unary(NN_OP_SILU, "nn_silu", x, 0, 0); }
NN_API nn_tensor *nn_softplus(nn_tensor *x, float beta, float threshold) {
    if (x && (beta == 0.0f || !(beta >= -3.4e38f && beta <= 3.4e38f))) { nn__err(x->ctx, "nn_softplus: beta is %g; it must be finite and non-zero", (double)beta); return NULL; }
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

static int nn__softmax_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);          /* (outer, D, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, i;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++)
        nn__softmax_row_f(y->op == NN_OP_LOG_SOFTMAX, x + o * D * I + i, NN__F32(y) + o * D * I + i, D, I);
    return 1;
}
static int nn__softmax_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);            /* (outer, D, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, i;
    if (!dx) return 1;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        int64_t base = o * D * I + i;
        nn__softmax_row_b(y->op == NN_OP_LOG_SOFTMAX, NN__F32(y) + base, g + base, dx + base, D, I);
    }
    return 1;
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
    return nn__forward(y) ? y : NULL;
}
NN_API nn_tensor *nn_softmax(nn_tensor *x, int dim) { return nn__softmax(NN_OP_SOFTMAX, "nn_softmax", x, dim); }
NN_API nn_tensor *nn_log_softmax(nn_tensor *x, int dim) { return nn__softmax(NN_OP_LOG_SOFTMAX, "nn_log_softmax", x, dim); }

/* ---- reductions: sum, mean, var, std, max, min, logsumexp ---- */
/* ip[3] = correction (var, std); ip[4] = 1 for a reduction over every element;
   out2 = the int64 positions of max/min along the dim */

static int nn__reduce_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);          /* (outer, D, inner) -> (outer, inner) */
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, i;
    int64_t *arg = y->out2 ? NN__I64(y->out2) : NULL;
    for (o = 0; o < O; o++) for (i = 0; i < I; i++) {
        int64_t best = 0;
        NN__F32(y)[o * I + i] = nn__reduce_row_f(y->op, x + o * D * I + i, D, I, y->ip[3], &best);
        if (arg) arg[o * I + i] = best;
    }
    return 1;
}

/* max()/min() over every element: the gradient is shared evenly by the tied elements (PyTorch's
   evenly_distribute_backward); along a dim it goes to the one index returned. */
static void nn__reduce_ties_backward(nn_tensor *y, float *dx) {
    const float *x = NN__F32(y->src[0]);
    float v = NN__F32(y)[0], g = NN__F32(y->grad)[0];
    int64_t i, n = y->src[0]->numel, ties = 0;
    int isnan_v = v != v;
    for (i = 0; i < n; i++) ties += isnan_v ? x[i] != x[i] : x[i] == v;
    for (i = 0; i < n; i++) if (isnan_v ? x[i] != x[i] : x[i] == v) dx[i] += g / (float)ties;
}

static int nn__reduce_backward(nn_tensor *y) {
    const nn_tensor *xt = y->src[0];
    const float *x = NN__F32(xt);   /* x (outer, D, inner), g (outer, inner) */
    const float *g = NN__F32(y->grad);                     /* g (outer, inner) */
    float *dx = nn__gbuf(xt);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], o, i;
    const int64_t *arg = y->out2 ? NN__I64(y->out2) : NULL;
    if (!dx) return 1;
    if ((y->op == NN_OP_MAX || y->op == NN_OP_MIN) && y->ip[4]) { nn__reduce_ties_backward(y, dx); return 1; }
    for (o = 0; o < O; o++) for (i = 0; i < I; i++)
        nn__reduce_row_b(y->op, x + o * D * I + i, dx + o * D * I + i, D, I, y->ip[3], g[o * I + i],
                         NN__F32(y)[o * I + i], arg ? arg[o * I + i] : 0);
    return 1;
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
    if ((op == NN_OP_VAR || op == NN_OP_STD) && correction < 0) {
        nn__err(x->ctx, "%s: correction is %d; it must be >= 0", fn, correction);
        return NULL;
    }
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(op, fn, nd, shape, &x, 1, 1);
    if (!y) return NULL;
    memcpy(y->ip, oi, sizeof oi);
    y->ip[3] = correction;
    y->ip[4] = dim == NN_ALL;
    if (op == NN_OP_MAX || op == NN_OP_MIN) {
        y->out2 = nn__new_arena_on(x->ctx, fn, nd, shape, 1, NN_INT64, x->device);   /* the indices live beside the values */
        if (!y->out2) return NULL;
    }
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_sum(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_SUM, "nn_sum", x, dim, keepdim, 0); }
NN_API nn_tensor *nn_mean(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_MEAN, "nn_mean", x, dim, keepdim, 0); }
NN_API nn_tensor *nn_var(nn_tensor *x, int dim, int correction, int keepdim) { return nn__reduce(NN_OP_VAR, "nn_var", x, dim, keepdim, correction); }
NN_API nn_tensor *nn_std(nn_tensor *x, int dim, int correction, int keepdim) { return nn__reduce(NN_OP_STD, "nn_std", x, dim, keepdim, correction); }
NN_API nn_tensor *nn_logsumexp(nn_tensor *x, int dim, int keepdim) { return nn__reduce(NN_OP_LOGSUMEXP, "nn_logsumexp", x, dim, keepdim, 0); }

NN_API nn_tensor *nn_max(nn_tensor *x, int dim, int keepdim, nn_tensor **indices) {
    nn_tensor *y = nn__reduce(NN_OP_MAX, "nn_max", x, dim, keepdim, 0);
    if (indices) *indices = y ? y->out2 : NULL;
    return y;
}
NN_API nn_tensor *nn_min(nn_tensor *x, int dim, int keepdim, nn_tensor **indices) {
    nn_tensor *y = nn__reduce(NN_OP_MIN, "nn_min", x, dim, keepdim, 0);
    if (indices) *indices = y ? y->out2 : NULL;
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

static int nn__matmul_forward(nn_tensor *y) {
    const nn_tensor *a = y->src[0], *b = y->src[1];
    nn__mm p; nn__walk w; int64_t t, ysh[NN_MAX_DIMS]; int ynd;
    nn__mm_plan(&p, a, b, &ynd, ysh);
    nn__walk_init(&w, p.bnd, p.bshape, p.a_st, p.b_st, NULL);
    for (t = 0; t < p.nbatch; t++, nn__walk_next(&w))   /* y (batch, M, N) = a (batch, M, K) @ b (batch, K, N) */
        if (!nn__gemm(y->ctx, p.M, p.N, p.K, NN__F32(a) + w.off[0], p.ars, p.acs, NN__F32(b) + w.off[1], p.brs, p.bcs,
                      NN__F32(y) + t * p.M * p.N, p.N, 0)) return 0;
    return 1;
}

static int nn__matmul_backward(nn_tensor *y) {
    const nn_tensor *a = y->src[0], *b = y->src[1];
    float *da = nn__gbuf(a), *db = nn__gbuf(b);
    nn__mm p; nn__walk wd, wg; int64_t t, ysh[NN_MAX_DIMS]; int ynd;
    nn__mm_plan(&p, a, b, &ynd, ysh);
    /* da (M, K) += dy (M, N) @ b^T;  db (K, N) += a^T @ dy: transposes by strides */
    nn__walk_init(&wd, p.bnd, p.bshape, p.a_st, p.b_st, NULL);
    nn__walk_init(&wg, p.bnd, p.bshape, p.ag_st, p.bg_st, NULL);
    for (t = 0; t < p.nbatch; t++, nn__walk_next(&wd), nn__walk_next(&wg)) {
        const float *g = NN__F32(y->grad) + t * p.M * p.N;
        if (da && !nn__gemm(y->ctx, p.M, p.K, p.N, g, p.N, 1, NN__F32(b) + wd.off[1], p.bcs, p.brs, da + wg.off[0], p.K, 1)) return 0;
        if (db && !nn__gemm(y->ctx, p.K, p.N, p.M, NN__F32(a) + wd.off[0], p.acs, p.ars, g, p.N, 1, db + wg.off[1], p.N, 1)) return 0;
    }
    return 1;
}

NN_API nn_tensor *nn_matmul(nn_tensor *a, nn_tensor *b) {
    static const char *names[] = { "a", "b" };
    nn_tensor *xs[2], *y; nn__mm p; int ynd; int64_t ysh[NN_MAX_DIMS];
    xs[0] = a; xs[1] = b;
    if (!nn__check_inputs("nn_matmul", xs, names, 2)) return NULL;
    if (!nn__mm_plan(&p, a, b, &ynd, ysh)) return NULL;
    y = nn__node(NN_OP_MATMUL, "nn_matmul", ynd, ysh, xs, 2, 1);
    if (!y) return NULL;
    return nn__forward(y) ? y : NULL;
}

/* ---- linear: F.linear, y = x @ w^T + b in one op ---- */
/* x is (M, in) as rows, w (out, in) is read transposed through its strides by the GEMM's
   packing, the bias is written first and the product added to it. */
static int nn__linear_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t out = w->shape[0], in = w->shape[1], M = x->numel / (in ? in : 1), i;
    float *o = NN__F32(y);                                                  /* (M, out) */
    if (b) for (i = 0; i < M; i++) memcpy(o + i * out, NN__F32(b), (size_t)out * sizeof(float));
    return nn__gemm(y->ctx, M, out, in, NN__F32(x), in, 1, NN__F32(w), 1, in, o, out, b != NULL);
}
static int nn__linear_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    const float *g = NN__F32(y->grad);                                      /* (M, out) */
    int64_t out = w->shape[0], in = w->shape[1], M = x->numel / (in ? in : 1), i, j;
    if (dx && !nn__gemm(y->ctx, M, in, out, g, out, 1, NN__F32(w), in, 1, dx, in, 1)) return 0;   /* dx (M, in) += g @ w */
    if (dw && !nn__gemm(y->ctx, out, in, M, g, 1, out, NN__F32(x), in, 1, dw, in, 1)) return 0;   /* dw (out, in) += g^T @ x */
    if (db) {                                                               /* db (out) += sum over rows of g */
        nn__mark mark = nn__arena_mark(y->ctx);
        double *s = nn__dscratch(y->ctx, out);
        if (!s) { nn__err(y->ctx, "nn_backward: out of memory in linear"); return 0; }
        for (i = 0; i < M; i++) for (j = 0; j < out; j++) s[j] += g[i * out + j];
        for (j = 0; j < out; j++) db[j] += (float)s[j];
        nn__arena_rewind(y->ctx, mark);
    }
    return 1;
}

NN_API nn_tensor *nn_linear(nn_tensor *x, nn_tensor *w, nn_tensor *b) {
    static const char *names[] = { "input", "weight", "bias" };
    nn_tensor *xs[3], *y; int64_t shape[NN_MAX_DIMS];
    char s1[128], s2[128];
    xs[0] = x; xs[1] = w; xs[2] = b;
    if (!nn__check_inputs("nn_linear", xs, names, b ? 3 : 2)) return NULL;
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
        nn__err(x->ctx, "nn_linear: input is %s and weight is %s; expected weight (out, in) with in = input's last dim",
                NN__SHAPE(x, s1), NN__SHAPE(w, s2));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        nn__err(x->ctx, "nn_linear: bias is %s; expected (%lld,)", NN__SHAPE(b, s1), (long long)w->shape[0]);
        return NULL;
    }
    if (!(xs[0] = nn__contig_input(x)) || !(xs[1] = nn__contig_input(w)) || (b && !(xs[2] = nn__contig_input(b)))) return NULL;
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof(int64_t));
    shape[x->ndim - 1] = w->shape[0];
    y = nn__node(NN_OP_LINEAR, "nn_linear", x->ndim, shape, xs, 3, 1);
    if (!y) return NULL;
    return nn__forward(y) ? y : NULL;
}

/* ---- indexing: gather, index_select (embedding), one_hot ---- */
/* Indices are int64 in [0, size); the kernels check the range. */

static int nn__index_ok(nn_tensor *y, int64_t k, int64_t size, int64_t *out) {
    if (k < 0 || k >= size) {   /* negative indices are errors, as in PyTorch's gather, index_select, embedding */
        nn__err(y->ctx, "nn_%s: index %lld is out of range for a dim of size %lld", nn_op_name(y->op), (long long)k, (long long)size);
        return 0;
    }
    *out = k;
    return 1;
}

/* gather: y (index's shape) = x[i0, .., index[i], .., in] along dim ip[0]; src: x, index (both contiguous).
   pos gets each output's position in x. */
static int nn__gather_positions(nn_tensor *y, int64_t *pos) {
    const nn_tensor *x = y->src[0], *index = y->src[1];
    const int64_t *ix = NN__I64(index);
    int64_t i, xst[NN_MAX_DIMS]; int k, d = (int)y->ip[0];
    nn__contig_strides(x->ndim, x->shape, xst);
    for (i = 0; i < y->numel; i++) {
        int64_t at, p = 0, rem = i, j;
        if (!nn__index_ok(y, ix[i], x->ndim ? x->shape[d] : 1, &at)) return 0;
        for (k = index->ndim - 1; k >= 0; k--) {    /* position of y's element i in x */
            j = rem % index->shape[k]; rem /= index->shape[k];
            p += (k == d ? at : j) * xst[k];
        }
        pos[i] = p;
    }
    return 1;
}
static int nn__gather_forward(nn_tensor *y) {
    int64_t *pos = NN__CAST(int64_t *, y->saved);   /* (numel of y) */
    const float *x = NN__F32(y->src[0]);
    int64_t i;
    if (!nn__gather_positions(y, pos)) return 0;
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = x[pos[i]];
    return 1;
}
static int nn__gather_backward(nn_tensor *y) {
    const int64_t *pos = NN__CAST(const int64_t *, y->saved);
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[pos[i]] += g[i];     /* scatter-add */
    return 1;
}

NN_API nn_tensor *nn_gather(nn_tensor *x, int dim, nn_tensor *index) {
    static const char *names[] = { "x" };
    nn_tensor *xs[2], *y; int d, k;
    char s1[128], s2[128];
    if (!x) { nn__null_arg(index, "nn_gather", "x"); return NULL; }
    if (!nn__check_inputs("nn_gather", &x, names, 1) || !nn__check_index("nn_gather", x, index, "index")) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_gather", x, dim, 0, &d)) return NULL;
    if (index->ndim != x->ndim) {
        nn__err(x->ctx, "nn_gather: x is %s and index is %s; they must have the same number of dims", NN__SHAPE(x, s1), NN__SHAPE(index, s2));
        return NULL;
    }
    for (k = 0; k < x->ndim; k++) if (k != d && index->shape[k] > x->shape[k]) {
        nn__err(x->ctx, "nn_gather: index %s is larger than x %s at dim %d", NN__SHAPE(index, s2), NN__SHAPE(x, s1), k);
        return NULL;
    }
    if (!(xs[0] = nn__contig_input(x)) || !(xs[1] = nn__contig_input(index))) return NULL;
    y = nn__node(NN_OP_GATHER, "nn_gather", index->ndim, index->shape, xs, 2, 1);
    if (!y) return NULL;
    y->saved = nn__arena_alloc(x->ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(int64_t));
    if (!y->saved) { nn__err(x->ctx, "nn_gather: out of memory"); return NULL; }
    y->ip[0] = d;
    return nn__forward(y) ? y : NULL;
}

/* index_select: y (outer, n, inner) = x (outer, D, inner)[:, index, :]; src: x, index (n) */
static int nn__index_select_forward(nn_tensor *y) {
    const int64_t *ix = NN__I64(y->src[1]);
    const float *x = NN__F32(y->src[0]);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], n = y->ip[3], o, r, row = 0;
    for (r = 0; r < n; r++) if (!nn__index_ok(y, ix[r], D, &row)) return 0;
    for (o = 0; o < O; o++) for (r = 0; r < n; r++) {
        nn__index_ok(y, ix[r], D, &row);
        memcpy(NN__F32(y) + (o * n + r) * I, x + (o * D + row) * I, (size_t)I * sizeof(float));
    }
    return 1;
}
static int nn__index_select_backward(nn_tensor *y) {
    const int64_t *ix = NN__I64(y->src[1]);
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], n = y->ip[3], o, r, i, row = 0;
    if (!dx) return 1;
    for (o = 0; o < O; o++) for (r = 0; r < n; r++) {
        float *dp; const float *gp = g + (o * n + r) * I;
        nn__index_ok(y, ix[r], D, &row);
        dp = dx + (o * D + row) * I;
        for (i = 0; i < I; i++) dp[i] += gp[i];
    }
    return 1;
}

NN_API nn_tensor *nn_index_select(nn_tensor *x, int dim, nn_tensor *index) {
    static const char *names[] = { "x" };
    nn_tensor *xs[2], *y; int d, nd; int64_t oi[3], shape[NN_MAX_DIMS];
    char s[128];
    if (!x) { nn__null_arg(index, "nn_index_select", "x"); return NULL; }
    if (!nn__check_inputs("nn_index_select", &x, names, 1) || !nn__check_index("nn_index_select", x, index, "index")) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_index_select", x, dim, 0, &d)) return NULL;
    if (index->ndim > 1) { nn__err(x->ctx, "nn_index_select: index is %s; it must be 1-D", NN__SHAPE(index, s)); return NULL; }
    if (!nn__split_dim("nn_index_select", x, d, 1, oi, &nd, shape)) return NULL;
    if (x->ndim) shape[d] = index->numel;
    if (!(xs[0] = nn__contig_input(x)) || !(xs[1] = nn__contig_input(index))) return NULL;
    y = nn__node(NN_OP_INDEX_SELECT, "nn_index_select", x->ndim, shape, xs, 2, 1);
    if (!y) return NULL;
    memcpy(y->ip, oi, sizeof oi);
    y->ip[3] = index->numel;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_embedding(nn_tensor *weight, nn_tensor *index) {
    static const char *names[] = { "weight" };
    nn_tensor *flat, *rows; int64_t shape[NN_MAX_DIMS], n; char s[128];
    if (!weight) { nn__null_arg(index, "nn_embedding", "weight"); return NULL; }
    if (!nn__check_inputs("nn_embedding", &weight, names, 1) || !nn__check_index("nn_embedding", weight, index, "index")) return NULL;
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

/* one_hot: y (index's shape, C) int64; src: index (contiguous) */
static int nn__one_hot_forward(nn_tensor *y) {
    const int64_t *ix = NN__I64(y->src[0]);
    int64_t C = y->shape[y->ndim - 1], i, n = y->src[0]->numel;
    memset(y->data, 0, (size_t)y->numel * sizeof(int64_t));
    for (i = 0; i < n; i++) {
        if (ix[i] < 0 || ix[i] >= C) {
            nn__err(y->ctx, "nn_one_hot: class %lld at position %lld is not in [0, %lld)", (long long)ix[i], (long long)i, (long long)C);
            return 0;
        }
        NN__I64(y)[i * C + ix[i]] = 1;
    }
    return 1;
}
static int nn__one_hot_backward(nn_tensor *y) { (void)y; return 1; }   /* int64: no gradient */

/* num_classes -1 is max(index) + 1, as PyTorch: the one front end whose output shape depends on
   the data, so it reads the index (PyTorch synchronises with the device here too). */
NN_API nn_tensor *nn_one_hot(nn_tensor *index, int64_t num_classes) {
    nn_tensor *y, *ix; int64_t shape[NN_MAX_DIMS], i;
    if (!index) return NULL;
    if (!nn__check_index("nn_one_hot", index, index, "index")) return NULL;
    if (index->ndim + 1 > NN_MAX_DIMS) { nn__err(index->ctx, "nn_one_hot: index has %d dims; at most %d", index->ndim, NN_MAX_DIMS - 1); return NULL; }
    if (num_classes < -1) { nn__err(index->ctx, "nn_one_hot: num_classes is %lld; it must be -1 or >= 0", (long long)num_classes); return NULL; }
    if (!(ix = nn__contig_input(index))) return NULL;
    if (num_classes == -1) {   /* max + 1; a device index is copied back first (PyTorch's index.max() waits for it too) */
        nn_tensor *h = ix->device == NN_CPU ? ix : nn_to(ix, NN_CPU);
        if (!h) return NULL;
        num_classes = 0;
        for (i = 0; i < h->numel; i++) if (NN__I64(h)[i] + 1 > num_classes) num_classes = NN__I64(h)[i] + 1;
        if (h != ix && (h->flags & NN__PERSISTENT)) nn_free(h);
    }
    memcpy(shape, index->shape, (size_t)index->ndim * sizeof(int64_t));
    shape[index->ndim] = num_classes;
    y = nn__node_dtype(NN_OP_ONE_HOT, "nn_one_hot", index->ndim + 1, shape, &ix, 1, 1, NN_INT64);
    if (!y) return NULL;
    return nn__forward(y) ? y : NULL;
}

/* ---- masks and selection: tril/triu, masked_fill, topk ---- */
/* tril/triu: x (B, R, C) contiguous, float32 or int64; ip[0] diagonal; fp[0] the value put where an
   element is dropped (0 for nn_tril/nn_triu, -inf for causal attention scores). Element (r, c) stays
   when c - r <= diagonal (tril) or c - r >= diagonal (triu). */
static int nn__tri_keep(const nn_tensor *y, int64_t r, int64_t c) {
    return y->op == NN_OP_TRIL ? c - r <= y->ip[0] : c - r >= y->ip[0];
}
static int nn__tri_forward(nn_tensor *y) {
    int64_t R = y->shape[y->ndim - 2], C = y->shape[y->ndim - 1], B = y->numel / (R * C > 0 ? R * C : 1), b, r, c;
    for (b = 0; b < B; b++)
        for (r = 0; r < R; r++)
            for (c = 0; c < C; c++) {
                int64_t i = (b * R + r) * C + c;
                int keep = nn__tri_keep(y, r, c);
                if (y->dtype == NN_INT64) NN__I64(y)[i] = keep ? NN__I64(y->src[0])[i] : 0;
                else NN__F32(y)[i] = keep ? NN__F32(y->src[0])[i] : y->fp[0];
            }
    return 1;
}
static int nn__tri_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);   /* (B, R, C) */
    int64_t R = y->shape[y->ndim - 2], C = y->shape[y->ndim - 1], B = y->numel / (R * C > 0 ? R * C : 1), b, r, c;
    if (!dx) return 1;
    for (b = 0; b < B; b++)
        for (r = 0; r < R; r++)
            for (c = 0; c < C; c++)
                if (nn__tri_keep(y, r, c)) dx[(b * R + r) * C + c] += g[(b * R + r) * C + c];
    return 1;
}
static nn_tensor *nn__tri(int op, const char *fn, nn_tensor *x, int64_t diagonal, float fill) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    char s[128];
    if (!nn__check_inputs_dtype(fn, &x, names, 1, NN_DTYPE_COUNT)) return NULL;
    if (x->dtype != NN_FLOAT32 && x->dtype != NN_INT64) {
        nn__err(x->ctx, "%s: x is %s; expected float32 or int64", fn, nn_dtype_name(x->dtype));
        return NULL;
    }
    if (x->ndim < 2) { nn__err(x->ctx, "%s: x is %s; it needs at least 2 dims", fn, NN__SHAPE(x, s)); return NULL; }
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node_dtype(op, fn, x->ndim, x->shape, &x, 1, 1, x->dtype);
    if (!y) return NULL;
    y->ip[0] = diagonal;
    y->fp[0] = fill;
    return nn__forward(y) ? y : NULL;
}
NN_API nn_tensor *nn_tril(nn_tensor *x, int64_t diagonal) { return nn__tri(NN_OP_TRIL, "nn_tril", x, diagonal, 0.0f); }
NN_API nn_tensor *nn_triu(nn_tensor *x, int64_t diagonal) { return nn__tri(NN_OP_TRIU, "nn_triu", x, diagonal, 0.0f); }

/* masked_fill: x (n) contiguous float32, mask int64 read through ip[0..ndim) (its strides broadcast to
   x's shape, 0 on broadcast dims); ip[NN_MAX_DIMS] 1 fills where the mask is 0 instead (attention's
   "takes part" masks); fp[0] the value. */
static int nn__masked_fill_at(const nn_tensor *y, int64_t i) {
    const int64_t *m = NN__I64(y->src[1]);
    int64_t off = 0, rest = i; int d;
    for (d = y->ndim - 1; d >= 0; d--) {
        off += (rest % y->shape[d]) * y->ip[d];
        rest /= y->shape[d];
    }
    return (m[off] != 0) != (y->ip[NN_MAX_DIMS] != 0);
}
static int nn__masked_fill_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);   /* (n) */
    int64_t i;
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = nn__masked_fill_at(y, i) ? y->fp[0] : x[i];
    return 1;
}
static int nn__masked_fill_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);   /* (n) */
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) if (!nn__masked_fill_at(y, i)) dx[i] += g[i];
    return 1;
}
static nn_tensor *nn__masked_fill(const char *fn, nn_tensor *x, nn_tensor *mask, float value, int invert) {
    static const char *names[] = { "x" };
    nn_tensor *xs[2], *y;
    char s[128], t[128]; int d;
    if (!x) { nn__null_arg(mask, fn, "x"); return NULL; }
    if (!nn__check_inputs(fn, &x, names, 1) || !nn__check_index(fn, x, mask, "mask")) return NULL;
    if (mask->ndim > x->ndim) {
        nn__err(x->ctx, "%s: mask is %s and x is %s; the mask must broadcast to x's shape", fn, NN__SHAPE(mask, s), NN__SHAPE(x, t));
        return NULL;
    }
    for (d = 0; d < mask->ndim; d++) {
        int64_t ms = mask->shape[mask->ndim - 1 - d], xs_ = x->shape[x->ndim - 1 - d];
        if (ms != xs_ && ms != 1) {
            nn__err(x->ctx, "%s: mask is %s and x is %s; the mask must broadcast to x's shape", fn, NN__SHAPE(mask, s), NN__SHAPE(x, t));
            return NULL;
        }
    }
    if (!(xs[0] = nn__contig_input(x)) || !(xs[1] = nn__contig_input(mask))) return NULL;
    y = nn__node(NN_OP_MASKED_FILL, fn, x->ndim, x->shape, xs, 2, 1);
    if (!y) return NULL;
    {   /* the mask's strides over y's dims */
        int64_t st = 1;
        for (d = 0; d < x->ndim; d++) y->ip[d] = 0;
        for (d = 0; d < mask->ndim; d++) {
            int yd = x->ndim - 1 - d;
            int64_t ms = mask->shape[mask->ndim - 1 - d];
            y->ip[yd] = ms == 1 ? 0 : st;
            st *= ms;
        }
    }
    y->ip[NN_MAX_DIMS] = invert;
    y->fp[0] = value;
    return nn__forward(y) ? y : NULL;
}
NN_API nn_tensor *nn_masked_fill(nn_tensor *x, nn_tensor *mask, float value) {
    return nn__masked_fill("nn_masked_fill", x, mask, value, 0);
}

/* topk: x (outer, D, inner) contiguous float32 -> int64 indices (outer, k, inner); ip[0..2] outer, D,
   inner, ip[3] k, ip[4] largest. A stable merge sort of each line: ties keep index order. NaN counts
   as the largest, as PyTorch's. */
static int nn__topk_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], K = y->ip[3], o, in, i;
    int largest = (int)y->ip[4];
    nn__mark mark = nn__arena_mark(y->ctx);
    int64_t *a = NN__CAST(int64_t *, nn__arena_alloc(y->ctx, (size_t)(2 * D + 1) * sizeof(int64_t))), *b;
    if (!a) { nn__err(y->ctx, "nn_topk: out of memory"); return 0; }
    b = a + D;
    for (o = 0; o < O; o++)
        for (in = 0; in < I; in++) {
            const int64_t *r = nn__topk_sort(x + o * D * I + in, D, I, largest, a, b);   /* the line (D), stride I */
            for (i = 0; i < K; i++) NN__I64(y)[(o * K + i) * I + in] = r[i];
        }
    nn__arena_rewind(y->ctx, mark);
    return 1;
}
static int nn__topk_backward(nn_tensor *y) { (void)y; return 1; }   /* int64: the values' gather carries the gradient */

NN_API nn_tensor *nn_topk(nn_tensor *x, int64_t k, int dim, int largest, nn_tensor **indices) {
    static const char *names[] = { "x" };
    nn_tensor *y, *xc; int d, nd; int64_t oi[3], shape[NN_MAX_DIMS];
    char s[128];
    if (indices) *indices = NULL;
    if (!nn__check_inputs("nn_topk", &x, names, 1)) return NULL;
    if (!nn__norm_dim(x->ctx, "nn_topk", x, dim, 0, &d)) return NULL;
    if (x->ndim == 0) { nn__err(x->ctx, "nn_topk: x is a scalar; it needs a dim to select along"); return NULL; }
    if (k < 0 || k > x->shape[d]) {
        nn__err(x->ctx, "nn_topk: k is %lld and x is %s; k must be in [0, %lld] (the size of dim %d)",
                (long long)k, NN__SHAPE(x, s), (long long)x->shape[d], dim);
        return NULL;
    }
    if (!nn__split_dim("nn_topk", x, d, 1, oi, &nd, shape)) return NULL;
    shape[d] = k;
    if (!(xc = nn__contig_input(x))) return NULL;
    y = nn__node_dtype(NN_OP_TOPK, "nn_topk", x->ndim, shape, &xc, 1, 1, NN_INT64);
    if (!y) return NULL;
    y->ip[0] = oi[0]; y->ip[1] = oi[1]; y->ip[2] = oi[2]; y->ip[3] = k; y->ip[4] = largest != 0;
    if (!nn__forward(y)) return NULL;
    if (indices) *indices = y;
    return nn_gather(x, d, y);
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
    if (!nn__check_inputs_dtype(fn, &x, names, 1, NN_DTYPE_COUNT)) return NULL;
    if (!geom(x, x->stride, args, &nd, shape, st, &off)) return NULL;
    nn__contig_strides(x->ndim, x->shape, lst);
    geom(x, lst, args, &nd2, shape, lstride, &loff);
    y = nn__node_dtype(op, fn, nd, shape, &x, 1, 0, x->dtype);
    if (!y) return NULL;
    y->data = NN__CAST(char *, x->data) + (size_t)off * nn_dtype_size(x->dtype);   /* geometry only: no data is read */
    y->storage = x->storage;
    for (i = 0; i < nd; i++) { y->stride[i] = st[i]; y->ip[i] = lstride[i]; }
    y->ip[NN_MAX_DIMS] = loff;
    return nn__forward(y) ? y : NULL;
}

static int nn__view_forward(nn_tensor *y) { (void)y; return 1; }   /* the view reads its input's storage */

static int nn__view_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *g = NN__F32(y->grad);
    nn__walk w; int64_t r, j, L, s, rows;
    if (!dx) return 1;
    dx += y->ip[NN_MAX_DIMS];
    if (y->ndim == 0) { dx[0] += g[0]; return 1; }
    L = y->shape[y->ndim - 1]; s = y->ip[y->ndim - 1];   /* rows of the view, strided along its last dim */
    rows = L ? y->numel / L : 0;
    nn__walk_init(&w, y->ndim - 1, y->shape, y->ip, NULL, NULL);
    for (r = 0; r < rows; r++, nn__walk_next(&w)) {
        float *d = dx + w.off[0];
        const float *gr = g + r * L;
        for (j = 0; j < L; j++) d[j * s] += gr[j];
    }
    return 1;
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
        else if (shape[i] > 0 && known > INT64_MAX / shape[i]) { nn__err(x->ctx, "nn_reshape: the new shape overflows 64-bit sizes at dim %d", i); return NULL; }
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
    if (x && (!shape || ndim < 0 || ndim > NN_MAX_DIMS)) { nn__err(x->ctx, "nn_view: ndim is %d (0 to %d) and shape %s", ndim, NN_MAX_DIMS, shape ? "given" : "NULL"); return NULL; }
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
    args[0] = d; args[1] = start; args[2] = end > start ? (end - start - 1) / step + 1 : 0;
    args[3] = args[2] > 1 ? step : 1;   /* one element or none: the step never scales a stride (no overflow) */
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

/* ---- copy (contiguous, clone), to_dtype, detach ---- */

static int nn__copy_forward(nn_tensor *y) { nn__gather_strided(y->data, y->src[0]); return 1; }
static int nn__copy_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);     /* x's gradient is contiguous: a plain add */
    const float *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[i] += g[i];
    return 1;
}
static nn_tensor *nn__copy(const char *fn, nn_tensor *x) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    if (!nn__check_inputs_dtype(fn, &x, names, 1, NN_DTYPE_COUNT)) return NULL;
    y = nn__node_dtype(NN_OP_COPY, fn, x->ndim, x->shape, &x, 1, 1, x->dtype);
    return y && nn__forward(y) ? y : NULL;
}
NN_API nn_tensor *nn_contiguous(nn_tensor *x) {
    if (x && !nn__check_live(x, "nn_contiguous")) return NULL;
    return x && nn_is_contiguous(x) ? x : nn__copy("nn_contiguous", x);
}
NN_API nn_tensor *nn_clone(nn_tensor *x) { return nn__copy("nn_clone", x); }

/* y (x's shape, contiguous) = x converted: float32 -> int64 truncates toward zero, as PyTorch */
static int nn__to_dtype_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    int64_t i;
    if (x->dtype == NN_FLOAT32 && y->dtype == NN_INT64) {
        for (i = 0; i < y->numel; i++) {
            float v = NN__F32(x)[i];
            if (!(v > -9.2e18f && v < 9.2e18f)) { nn__err(y->ctx, "nn_to_dtype: %g at position %lld has no int64 value", v, (long long)i); return 0; }
            NN__I64(y)[i] = (int64_t)v;
        }
    } else if (x->dtype == NN_INT64 && y->dtype == NN_FLOAT32) {
        for (i = 0; i < y->numel; i++) NN__F32(y)[i] = (float)NN__I64(x)[i];
    } else {
        nn__err(y->ctx, "nn_to_dtype: no conversion from %s to %s yet", nn_dtype_name(x->dtype), nn_dtype_name(y->dtype));
        return 0;
    }
    return 1;
}
static int nn__to_dtype_backward(nn_tensor *y) { (void)y; return 1; }   /* casts are not differentiable here */

NN_API nn_tensor *nn_to_dtype(nn_tensor *x, nn_dtype dtype) {
    static const char *names[] = { "x" };
    nn_tensor *y;
    if (!nn__check_inputs_dtype("nn_to_dtype", &x, names, 1, NN_DTYPE_COUNT)) return NULL;
    if (!nn_dtype_size(dtype)) { nn__err(x->ctx, "nn_to_dtype: unknown dtype %d", (int)dtype); return NULL; }
    if (dtype == x->dtype) return x;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node_dtype(NN_OP_TO_DTYPE, "nn_to_dtype", x->ndim, x->shape, &x, 1, 1, dtype);
    if (!y) return NULL;
    y->requires_grad = 0;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_detach(nn_tensor *x) {
    nn_tensor *y;
    if (!x) return NULL;
    if (!nn__check_live(x, "nn_detach")) return NULL;
    y = nn__new_arena_on(x->ctx, "nn_detach", x->ndim, x->shape, 0, x->dtype, x->device);
    if (!y || !nn__hold(x->ctx, x)) return NULL;
    y->data = x->data;
    y->dtype = x->dtype;
    y->storage = x->storage;
    memcpy(y->stride, x->stride, sizeof y->stride);
    return y;
}

/* ---- cat, stack ---- */
/* ip[0] = outer (product of dims before dim), ip[1] = inner (product after) */

static int nn__cat_forward(nn_tensor *y) {
    int64_t O = y->ip[0], I = y->ip[1], o, at = 0; int k;
    int64_t Y = y->ndim ? y->shape[y->ip[2]] * I : I;    /* (outer, sum of D_k * inner) */
    for (k = 0; k < y->nsrc; k++) {
        const nn_tensor *x = y->src[k];
        int64_t X = x->shape[y->ip[2]] * I;
        for (o = 0; o < O; o++) memcpy(NN__F32(y) + o * Y + at, NN__F32(x) + o * X, (size_t)X * sizeof(float));
        at += X;
    }
    return 1;
}
static int nn__cat_backward(nn_tensor *y) {
    int64_t O = y->ip[0], I = y->ip[1], o, i, at = 0; int k;
    int64_t Y = y->shape[y->ip[2]] * I;
    for (k = 0; k < y->nsrc; k++) {
        const nn_tensor *x = y->src[k];
        int64_t X = x->shape[y->ip[2]] * I;
        float *dx = nn__gbuf(x);
        if (dx) for (o = 0; o < O; o++) for (i = 0; i < X; i++) dx[o * X + i] += NN__F32(y->grad)[o * Y + at + i];
        at += X;
    }
    return 1;
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
        if (nn__stale(xs[k])) { nn__err(ctx, "nn_cat: tensor %d was made before the last nn_arena_reset and no longer exists", k); return NULL; }
        if (xs[k]->dtype != NN_FLOAT32) { nn__err(ctx, "nn_cat: tensor %d is %s; expected float32", k, nn_dtype_name(xs[k]->dtype)); return NULL; }
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
    return nn__forward(y) ? y : NULL;
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
static void nn__im2col(int cap, float *col, const float *img, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       const int64_t *ip, int64_t OH, int64_t OW) {
    int64_t c, i, j, oh, ow, P = OH * OW;
    for (c = 0; c < C; c++) for (i = 0; i < kh; i++) for (j = 0; j < kw; j++) {
        float *dst = col + ((c * kh + i) * kw + j) * P;
        /* stride 1 along W: output column ow reads input column ow + off, valid in [lo, hi) */
        int64_t off = j * ip[5] - ip[3], lo = off < 0 ? -off : 0, hi = W - off < OW ? W - off : OW;
        for (oh = 0; oh < OH; oh++) {
            int64_t ih = oh * ip[0] - ip[2] + i * ip[4];
            const float *src = img + (c * H + ih) * W;
            if (ih < 0 || ih >= H) { memset(dst + oh * OW, 0, (size_t)OW * sizeof(float)); continue; }
            if (ip[1] == 1) { nn__row_shift(cap, dst + oh * OW, src + off, OW, lo, hi); continue; }
            for (ow = 0; ow < OW; ow++) {
                int64_t iw = ow * ip[1] - ip[3] + j * ip[5];
                dst[oh * OW + ow] = (iw >= 0 && iw < W) ? src[iw] : 0.0f;
            }
        }
    }
}
/* the adjoint: img (C, H, W) += col (C*kh*kw, OH*OW) scattered back */
static void nn__col2im(int cap, float *img, const float *col, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       const int64_t *ip, int64_t OH, int64_t OW) {
    int64_t c, i, j, oh, ow, P = OH * OW;
    for (c = 0; c < C; c++) for (i = 0; i < kh; i++) for (j = 0; j < kw; j++) {
        const float *src = col + ((c * kh + i) * kw + j) * P;
        int64_t off = j * ip[5] - ip[3], lo = off < 0 ? -off : 0, hi = W - off < OW ? W - off : OW;
        for (oh = 0; oh < OH; oh++) {
            int64_t ih = oh * ip[0] - ip[2] + i * ip[4];
            float *dst = img + (c * H + ih) * W;
            if (ih < 0 || ih >= H) continue;
            if (ip[1] == 1) { nn__row_add(cap, dst + off, src + oh * OW, lo, hi); continue; }   /* stride 1: one run */
            for (ow = 0; ow < OW; ow++) {
                int64_t iw = ow * ip[1] - ip[3] + j * ip[5];
                if (iw >= 0 && iw < W) dst[iw] += src[oh * OW + ow];
            }
        }
    }
}


/* conv2d runs one sample per task: im2col into the thread's own (K, P) buffer, then a GEMM
   on that thread. The weight and bias gradients sum over the batch in a fixed number of
   chunks (at most NN__CONV_CHUNKS, set by the batch size alone), each into its own partial
   buffer, added up in order at the end: the result does not depend on the thread count. */
#define NN__CONV_CHUNKS 8
typedef struct nn__conv_job {
    nn_ctx *ctx;
    const nn_tensor *y;
    const float *x, *w, *b, *gy;
    float *out, *dx, *dwp, *ws;     /* dwp: (chunks, O, K) partial weight gradients */
    double *dbp;                    /* (chunks, O) partial bias gradients */
    int64_t N, C, H, W, O, kh, kw, OH, OW, G, Cg, Og, K, P, per_chunk;
    size_t ws_floats;               /* per thread: col (K, P), dcol (K, P), GEMM packing */
    int cap, gemm_threads;
} nn__conv_job;

static void nn__conv_job_init(nn__conv_job *j, const nn_tensor *y, const nn_tensor *x, const nn_tensor *w) {
    memset(j, 0, sizeof *j);
    j->ctx = y->ctx; j->y = y; j->cap = y->ctx->cap;
    j->N = x->shape[0]; j->C = x->shape[1]; j->H = x->shape[2]; j->W = x->shape[3];
    j->O = w->shape[0]; j->kh = w->shape[2]; j->kw = w->shape[3]; j->OH = y->shape[2]; j->OW = y->shape[3];
    j->G = y->ip[6]; j->Cg = j->C / j->G; j->Og = j->O / j->G; j->K = j->Cg * j->kh * j->kw; j->P = j->OH * j->OW;
    j->gemm_threads = 1;
}
/* per-thread space for `bufs` (K, P) buffers and the GEMM; 0 when out of memory */
static int nn__conv_ws(nn__conv_job *j, int bufs, int threads) {
    j->ws_floats = (size_t)bufs * (size_t)(j->K * j->P) + nn__gemm_ws_floats(nn__isa(j->cap),   /* its three products' largest */
        j->Og > j->K ? j->Og : j->K, j->P > j->K ? j->P : j->K, j->K > j->P ? (j->K > j->Og ? j->K : j->Og) : (j->P > j->Og ? j->P : j->Og))
        * (size_t)j->gemm_threads;
    j->ws_floats = (j->ws_floats + 15) & ~(size_t)15;
    j->ws = nn__scratch(j->ctx, (int64_t)(j->ws_floats * (size_t)threads));
    return j->ws != NULL;
}

static void nn__conv2d_fwd_task(void *arg, int64_t n, int tid) {
    const nn__conv_job *j = NN__CAST(const nn__conv_job *, arg);
    float *col = j->ws + (size_t)tid * j->ws_floats, *gws = col + j->K * j->P;     /* col (K, P) */
    int64_t g, o, q;
    for (g = 0; g < j->G; g++) {
        float *yo = j->out + (n * j->O + g * j->Og) * j->P;                          /* (Og, P) */
        nn__im2col(j->cap, col, j->x + (n * j->C + g * j->Cg) * j->H * j->W, j->Cg, j->H, j->W, j->kh, j->kw, j->y->ip, j->OH, j->OW);
        if (j->b) for (o = 0; o < j->Og; o++) { float bv = j->b[g * j->Og + o]; for (q = 0; q < j->P; q++) yo[o * j->P + q] = bv; }
        nn__gemm_run(j->ctx, j->cap, j->gemm_threads, gws, j->Og, j->P, j->K, j->w + g * j->Og * j->K, j->K, 1,
                     col, j->P, 1, yo, j->P, j->b != NULL);                      /* yo (+)= w_g (Og, K) @ col */
    }
}
static int nn__conv2d_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    nn__conv_job j; nn__mark mark = nn__arena_mark(y->ctx);
    int64_t n; int threads = nn__threads(y->ctx), by_sample;
    nn__conv_job_init(&j, y, x, w);
    j.x = NN__F32(x); j.w = NN__F32(w); j.b = b ? NN__F32(b) : NULL; j.out = NN__F32(y);
    by_sample = threads > 1 && j.N > 1;          /* else one sample at a time, the GEMM on every thread */
    if (!by_sample) j.gemm_threads = threads;
    if (!nn__conv_ws(&j, 1, by_sample ? threads : 1)) { nn__err(y->ctx, "nn_conv2d: out of memory"); return 0; }
    if (by_sample) nn__parallel(y->ctx, j.N, nn__conv2d_fwd_task, &j);
    else for (n = 0; n < j.N; n++) nn__conv2d_fwd_task(&j, n, 0);
    nn__arena_rewind(y->ctx, mark);
    return 1;
}

static void nn__conv2d_bwd_task(void *arg, int64_t c, int tid) {
    const nn__conv_job *j = NN__CAST(const nn__conv_job *, arg);
    float *col = j->ws + (size_t)tid * j->ws_floats, *dcol = col + j->K * j->P, *gws = dcol + j->K * j->P;
    float *dwp = j->dwp ? j->dwp + c * j->O * j->K : NULL;                           /* (O, K) */
    double *dbp = j->dbp ? j->dbp + c * j->O : NULL;                                 /* (O) */
    int64_t n, n0 = c * j->per_chunk, n1 = n0 + j->per_chunk < j->N ? n0 + j->per_chunk : j->N, g, o, q;
    for (n = n0; n < n1; n++) for (g = 0; g < j->G; g++) {
        const float *gy = j->gy + (n * j->O + g * j->Og) * j->P;                     /* (Og, P) */
        if (dwp) {   /* dw_c (Og, K) (+)= gy (Og, P) @ col^T */
            nn__im2col(j->cap, col, j->x + (n * j->C + g * j->Cg) * j->H * j->W, j->Cg, j->H, j->W, j->kh, j->kw, j->y->ip, j->OH, j->OW);
            nn__gemm_run(j->ctx, j->cap, 1, gws, j->Og, j->K, j->P, gy, j->P, 1, col, 1, j->P, dwp + g * j->Og * j->K, j->K, n > n0);
        }
        if (j->dx) { /* dcol (K, P) = w^T (K, Og) @ gy; dx += col2im(dcol) */
            nn__gemm_run(j->ctx, j->cap, 1, gws, j->K, j->P, j->Og, j->w + g * j->Og * j->K, 1, j->K, gy, j->P, 1, dcol, j->P, 0);
            nn__col2im(j->cap, j->dx + (n * j->C + g * j->Cg) * j->H * j->W, dcol, j->Cg, j->H, j->W, j->kh, j->kw, j->y->ip, j->OH, j->OW);
        }
        if (dbp) for (o = 0; o < j->Og; o++) { double s = 0; for (q = 0; q < j->P; q++) s += gy[o * j->P + q]; dbp[g * j->Og + o] += s; }
    }
}
static int nn__conv2d_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dw = nn__gbuf(w), *db = nn__gbuf(b);
    nn__conv_job j; nn__mark mark = nn__arena_mark(y->ctx);
    int64_t chunks, c, i; int threads = nn__threads(y->ctx);
    nn__conv_job_init(&j, y, x, w);
    j.x = NN__F32(x); j.w = NN__F32(w); j.gy = NN__F32(y->grad); j.dx = nn__gbuf(x);
    j.per_chunk = (j.N + NN__CONV_CHUNKS - 1) / NN__CONV_CHUNKS;
    chunks = (j.N + j.per_chunk - 1) / j.per_chunk;
    /* one space per thread of the pool, even with fewer chunks: any worker may take a task */
    if (!nn__conv_ws(&j, 2, threads) || (dw && !(j.dwp = nn__scratch(y->ctx, chunks * j.O * j.K)))
        || (db && !(j.dbp = nn__dscratch(y->ctx, chunks * j.O)))) {
        nn__arena_rewind(y->ctx, mark);
        nn__err(y->ctx, "nn_backward: out of memory in conv2d");
        return 0;
    }
    nn__parallel(y->ctx, chunks, nn__conv2d_bwd_task, &j);
    if (dw) for (i = 0; i < j.O * j.K; i++) { float s = dw[i]; for (c = 0; c < chunks; c++) s += j.dwp[c * j.O * j.K + i]; dw[i] = s; }
    if (db) for (i = 0; i < j.O; i++) { double s = 0; for (c = 0; c < chunks; c++) s += j.dbp[c * j.O + i]; db[i] += (float)s; }
    nn__arena_rewind(y->ctx, mark);
    return 1;
}

static int nn__conv_transpose2d_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = w->shape[1], O = Og * G, kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], K = Og * kh * kw, P = H * W, n, g, o, q;
    nn__mark mark = nn__arena_mark(y->ctx);
    float *col = nn__scratch(y->ctx, K * P);                       /* (K, P) */
    if (!col) { nn__err(y->ctx, "nn_conv_transpose2d: out of memory"); return 0; }
    memset(NN__F32(y), 0, (size_t)y->numel * sizeof(float));
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        float *yo = NN__F32(y) + (n * O + g * Og) * OH * OW;          /* (Og, OH, OW) */
        /* col (K, P) = w_g^T (K, Cg) @ x_g (Cg, P), then scattered into the output */
        if (!nn__gemm(y->ctx, K, P, Cg, NN__F32(w) + g * Cg * K, 1, K, NN__F32(x) + (n * C + g * Cg) * P, P, 1, col, P, 0)) {
            nn__arena_rewind(y->ctx, mark);
            return 0;
        }
        nn__col2im(y->ctx->cap, yo, col, Og, OH, OW, kh, kw, y->ip, H, W);
        if (b) for (o = 0; o < Og; o++) { float bv = NN__F32(b)[g * Og + o]; for (q = 0; q < OH * OW; q++) yo[o * OH * OW + q] += bv; }
    }
    nn__arena_rewind(y->ctx, mark);
    return 1;
}
static int nn__conv_transpose2d_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = w->shape[1], O = Og * G, kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], K = Og * kh * kw, P = H * W, n, g, o, q;
    nn__mark mark = nn__arena_mark(y->ctx);
    float *col = nn__scratch(y->ctx, K * P);                       /* (K, P) */
    double *dbsum = db ? nn__dscratch(y->ctx, O) : NULL;          /* (O) */
    if (!col || (db && !dbsum)) { nn__arena_rewind(y->ctx, mark); nn__err(y->ctx, "nn_backward: out of memory in conv_transpose2d"); return 0; }
    for (n = 0; n < N; n++) for (g = 0; g < G; g++) {
        const float *gy = NN__F32(y->grad) + (n * O + g * Og) * OH * OW;
        nn__im2col(y->ctx->cap, col, gy, Og, OH, OW, kh, kw, y->ip, H, W);      /* dcol (K, P) */
        if ((dx && !nn__gemm(y->ctx, Cg, P, K, NN__F32(w) + g * Cg * K, K, 1, col, P, 1, dx + (n * C + g * Cg) * P, P, 1))
            || (dw && !nn__gemm(y->ctx, Cg, K, P, NN__F32(x) + (n * C + g * Cg) * P, P, 1, col, 1, P, dw + g * Cg * K, K, 1))) {
            nn__arena_rewind(y->ctx, mark);
            return 0;
        }
        if (db) for (o = 0; o < Og; o++) { double s = 0; for (q = 0; q < OH * OW; q++) s += gy[o * OH * OW + q]; dbsum[g * Og + o] += s; }
    }
    if (db) for (o = 0; o < O; o++) db[o] += (float)dbsum[o];
    nn__arena_rewind(y->ctx, mark);
    return 1;
}

static nn_tensor *nn__conv(int op, const char *fn, nn_tensor *x, nn_tensor *w, nn_tensor *b, const int64_t *ip) {
    static const char *names[] = { "input", "weight" };
    nn_tensor *xs[3], *y; int64_t shape[4], C, G = ip[6], kh, kw, outc, OH, OW, K;
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
    /* the output sizes in double first: arguments whose int64 arithmetic would overflow are refused */
    if ((double)G * (double)w->shape[1] > 4e18 || (double)(x->shape[2] > x->shape[3] ? x->shape[2] : x->shape[3]) *
            (double)(ip[0] > ip[1] ? ip[0] : ip[1]) + 2.0 * (double)(ip[2] > ip[3] ? ip[2] : ip[3]) +
            (double)(ip[4] > ip[5] ? ip[4] : ip[5]) * (double)(kh > kw ? kh : kw) + (double)ip[7] + (double)ip[8] > 4e18) {
        nn__err(x->ctx, "%s: stride %lld, padding %lld, dilation %lld, groups %lld with input %s and weight %s; the output size overflows int64",
                fn, (long long)ip[0], (long long)ip[2], (long long)ip[4], (long long)G, NN__SHAPE(x, s1), NN__SHAPE(w, s2));
        return NULL;
    }
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
    return nn__forward(y) ? y : NULL;
}

NN_API nn_conv_opts nn_conv_opts_default(void) {
    nn_conv_opts o;
    o.stride = 1; o.padding = 0; o.dilation = 1; o.groups = 1; o.output_padding = 0;
    return o;
}
NN_API nn_tensor *nn_conv2d(nn_tensor *x, nn_tensor *w, nn_tensor *b, nn_conv_opts o) {
    int64_t ip[9];
    if (x && o.output_padding != 0) { nn__err(x->ctx, "nn_conv2d: output_padding is %lld; it is for nn_conv_transpose2d only", (long long)o.output_padding); return NULL; }
    ip[0] = ip[1] = o.stride; ip[2] = ip[3] = o.padding;
    ip[4] = ip[5] = o.dilation; ip[6] = o.groups; ip[7] = ip[8] = 0;
    return nn__conv(NN_OP_CONV2D, "nn_conv2d", x, w, b, ip);
}
NN_API nn_tensor *nn_conv_transpose2d(nn_tensor *x, nn_tensor *w, nn_tensor *b, nn_conv_opts o) {
    int64_t ip[9];
    ip[0] = ip[1] = o.stride; ip[2] = ip[3] = o.padding;
    ip[4] = ip[5] = o.dilation; ip[6] = o.groups; ip[7] = ip[8] = o.output_padding;
    if (x && o.output_padding < 0) { nn__err(x->ctx, "nn_conv_transpose2d: output_padding is %lld; it must be >= 0", (long long)o.output_padding); return NULL; }
    return nn__conv(NN_OP_CONV_TRANSPOSE2D, "nn_conv_transpose2d", x, w, b, ip);
}

/* ---- pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d ---- */
/* ip: 0 kernel, 1 stride, 2 padding, 3 dilation, 4 count_include_pad; saved = argmax (max) */

/* PyTorch's pooling_output_shape: floor division rounding toward -inf; with ceil_mode the
   last window must start inside the input or its left padding. */
static int64_t nn__pool_out(int64_t H, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode) {
    int64_t num = H + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), o;
    o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (o - 1) * s >= H + p) o--;
    return o;
}

/* The input window [h0, h1) x [w0, w1) of output (oh, ow) for average pooling
   (padding clipped; divisor counts the padding unless count_include_pad is off)
   and adaptive pooling ([floor(o*H/OH), ceil((o+1)*H/OH))). Returns the divisor. */
static int64_t nn__pool_window(const nn_tensor *y, int64_t H, int64_t W, int64_t oh, int64_t ow,
                               int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1) {
    return nn__pool_window_at(y->op == NN_OP_ADAPTIVE_AVG_POOL2D, y->ip[0], y->ip[1], y->ip[2], y->ip[4], H, W, y->shape[2], y->shape[3],
                              oh, ow, h0, h1, w0, w1);
}

/* planes c0..c1 of the pooling; every plane is its own, so they run in parallel */
static void nn__pool_planes(void *arg, int64_t c0, int64_t c1) {
    nn_tensor *y = NN__CAST(nn_tensor *, arg);
    const nn_tensor *x = y->src[0];
    int64_t H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t k = y->ip[0], s = y->ip[1], p = y->ip[2], d = y->ip[3], c, oh, ow;
    int64_t *arg_ = NN__CAST(int64_t *, y->saved);
    int fast2 = y->op == NN_OP_MAX_POOL2D && k == 2 && s == 2 && p == 0 && d == 1 && 2 * OH <= H && 2 * OW <= W;
    for (c = c0; c < c1; c++) {
        const float *xp = NN__F32(x) + c * H * W;                        /* (H, W) */
        float *yp = NN__F32(y) + c * OH * OW;                            /* (OH, OW) */
        int64_t *ap = arg_ ? arg_ + c * OH * OW : NULL;
        if (fast2) { nn__maxpool2(y->ctx->cap, xp, H, W, OH, OW, yp, ap); continue; }   /* MaxPool2d(2), same rule */
        for (oh = 0; oh < OH; oh++) for (ow = 0; ow < OW; ow++) {
            int64_t o = oh * OW + ow;
            if (y->op == NN_OP_MAX_POOL2D) yp[o] = nn__maxpool_at(xp, H, W, oh, ow, k, s, p, d, &ap[o]);
            else {   /* average and adaptive average */
                int64_t h0, h1, w0, w1, div = nn__pool_window(y, H, W, oh, ow, &h0, &h1, &w0, &w1);
                yp[o] = nn__avgpool_at(xp, W, h0, h1, w0, w1, div);
            }
        }
    }
}
static int nn__pool_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    int64_t NC = x->shape[0] * x->shape[1], plane = x->shape[2] * x->shape[3];
    nn__parallel_range(y->ctx, NC, plane >= 4096 ? 1 : 4096 / (plane ? plane : 1), nn__pool_planes, y);
    return 1;
}
static int nn__pool_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    float *dx = nn__gbuf(x);
    int64_t NC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t c, oh, ow, i, j;
    const int64_t *arg = NN__CAST(const int64_t *, y->saved);
    if (!dx) return 1;
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
    return 1;
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
    return nn__forward(y) ? y : NULL;
}

NN_API nn_pool_opts nn_pool_opts_default(int64_t kernel_size) {
    nn_pool_opts o;
    memset(&o, 0, sizeof o);
    o.kernel_size = kernel_size; o.stride = kernel_size; o.padding = 0; o.dilation = 1;
    o.ceil_mode = 0; o.count_include_pad = 1;
    return o;
}

static int nn__pool_args(nn_tensor *x, const char *fn, nn_pool_opts o, int64_t *ip) {
    ip[0] = o.kernel_size; ip[1] = o.stride; ip[2] = o.padding;
    ip[3] = o.dilation; ip[4] = o.count_include_pad != 0;
    if ((o.ceil_mode != 0 && o.ceil_mode != 1) || (o.count_include_pad != 0 && o.count_include_pad != 1)) {
        if (x) nn__err(x->ctx, "%s: ceil_mode %d and count_include_pad %d; each must be 0 or 1", fn, o.ceil_mode, o.count_include_pad);
        return 0;
    }
    if (ip[0] < 1 || ip[1] < 1 || ip[2] < 0 || ip[3] < 1 || ip[2] > ip[0] / 2) {
        if (x) nn__err(x->ctx, "%s: kernel_size %lld, stride %lld, padding %lld, dilation %lld; kernel, stride, dilation must be >= 1 and padding at most half the kernel",
                       fn, (long long)ip[0], (long long)ip[1], (long long)ip[2], (long long)ip[3]);
        return 0;
    }
    if ((double)ip[3] * (double)ip[0] + (double)ip[1] + 2.0 * (double)ip[2] > 4e18) {   /* int64 window arithmetic */
        if (x) nn__err(x->ctx, "%s: kernel_size %lld, stride %lld, dilation %lld; the window arithmetic overflows int64",
                       fn, (long long)ip[0], (long long)ip[1], (long long)ip[3]);
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
/* fp[0] = p; saved = the mask the forward draws from the context's RNG: 0 or 1/(1-p) per element */

/* the mask (host memory m, n values) from the context's RNG: nn_cuda.h draws it the same way */
static void nn__dropout_mask(nn_ctx *ctx, float *m, int64_t n, float p) {
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    int64_t i;
    for (i = 0; i < n; i++) m[i] = nn__rng_uniform(&ctx->rng) < p ? 0.0f : scale;
}
static int nn__dropout_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]);
    float *m = NN__CAST(float *, y->saved);
    int64_t i;
    nn__dropout_mask(y->ctx, m, y->numel, y->fp[0]);
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = x[i] * m[i];
    return 1;
}
static int nn__dropout_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    const float *m = NN__CAST(const float *, y->saved), *g = NN__F32(y->grad);
    int64_t i;
    if (dx) for (i = 0; i < y->numel; i++) dx[i] += g[i] * m[i];
    return 1;
}
NN_API nn_tensor *nn_dropout(nn_tensor *x, float p, int training) {
    static const char *names[] = { "input" };
    nn_tensor *y;
    if (!nn__check_inputs("nn_dropout", &x, names, 1)) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) { nn__err(x->ctx, "nn_dropout: p is %g; it must be between 0 and 1", p); return NULL; }
    if (!training || p == 0.0f) return x;
    if (!(x = nn__contig_input(x))) return NULL;
    y = nn__node(NN_OP_DROPOUT, "nn_dropout", x->ndim, x->shape, &x, 1, 1);
    if (!y) return NULL;
    y->saved = nn__scratch(x->ctx, x->numel);
    if (!y->saved) { nn__err(x->ctx, "nn_dropout: out of memory"); return NULL; }
    y->fp[0] = p;
    return nn__forward(y) ? y : NULL;
}

/* ---- normalisation: batch_norm (over N and spatial dims), layer_norm (over the last dims) ---- */
/* batch_norm: x (N, C, S); src: x, weight, bias; ip[0] training; saved: mean (C), invstd (C)
   layer_norm: x (R, M); src: x, weight, bias; saved: mean (R), invstd (R) */

/* The statistics: saved = mean (C or R), then invstd. Batch norm in training mode uses the
   batch's and updates running_mean/running_var (src 3, 4) in place, as F.batch_norm does. */
static void nn__norm_stats(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    float *mean = NN__CAST(float *, y->saved);
    int64_t n, c;
    double eps = y->fp[0], momentum = y->fp[1];
    if (y->op == NN_OP_BATCH_NORM) {
        nn_tensor *rm = y->nsrc > 3 ? y->src[3] : NULL, *rv = y->nsrc > 4 ? y->src[4] : NULL;
        int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C > 0 ? N * C : 1);
        for (c = 0; c < C; c++)
            nn__bn_stats_c(NN__F32(x), N, C, S, c, (int)y->ip[0], eps, momentum, rm ? NN__F32(rm) : NULL, rv ? NN__F32(rv) : NULL,
                           mean, mean + C);
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        for (n = 0; n < R; n++) nn__ln_stats_row(NN__F32(x) + n * M, M, eps, &mean[n], &mean[R + n]);
    }
}

static int nn__norm_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const float *mean = NN__CAST(const float *, y->saved), *inv;
    int64_t n, c, s;
    nn__norm_stats(y);
    if (y->op == NN_OP_BATCH_NORM) {
        int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, S = x->numel / (N * C > 0 ? N * C : 1);
        inv = mean + C;
        for (n = 0; n < N; n++) for (c = 0; c < C; c++) {
            const float *xp = NN__F32(x) + (n * C + c) * S; float *yp = NN__F32(y) + (n * C + c) * S;
            for (s = 0; s < S; s++) yp[s] = nn__bn_apply(xp[s], mean[c], inv[c], w ? NN__F32(w) : NULL, b ? NN__F32(b) : NULL, c);
        }
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        inv = mean + R;
        for (n = 0; n < R; n++) {
            const float *xp = NN__F32(x) + n * M; float *yp = NN__F32(y) + n * M;
            for (s = 0; s < M; s++) yp[s] = nn__ln_apply(xp[s], mean[n], inv[n], w ? NN__F32(w) : NULL, b ? NN__F32(b) : NULL, s);
        }
    }
    return 1;
}
static int nn__norm_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    const float *mean = NN__CAST(const float *, y->saved), *inv, *g = NN__F32(y->grad);
    int64_t n, c, s;
    if (y->op == NN_OP_BATCH_NORM) {
        int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, S = x->numel / (N * C > 0 ? N * C : 1);
        double M = (double)(N * S);
        inv = mean + C;
        for (c = 0; c < C; c++) {
            double sg, sgx; float wc = w ? NN__F32(w)[c] : 1.0f;
            nn__bn_sums_c(NN__F32(x), g, N, C, S, c, mean[c], inv[c], &sg, &sgx);
            if (dw) dw[c] += (float)sgx;
            if (db) db[c] += (float)sg;
            if (!dx) continue;
            for (n = 0; n < N; n++) for (s = 0; s < S; s++) {   /* training: the batch statistics depend on x too */
                int64_t at = (n * C + c) * S + s;
                dx[at] += nn__bn_dx(g[at], NN__F32(x)[at], mean[c], inv[c], wc, sg, sgx, M, (int)y->ip[0]);
            }
        }
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        double *acc = (dw || db) ? nn__dscratch(y->ctx, 2 * M) : NULL;   /* dw, db sums over rows (2, M) */
        if ((dw || db) && !acc) { nn__err(y->ctx, "nn_backward: out of memory in layer_norm"); return 0; }
        inv = mean + R;
        for (n = 0; n < R; n++) {
            const float *xp = NN__F32(x) + n * M, *gp = g + n * M;
            double sd, sdx;
            nn__ln_sums_row(xp, gp, w ? NN__F32(w) : NULL, M, mean[n], inv[n], &sd, &sdx, acc);
            if (dx) for (s = 0; s < M; s++)
                dx[n * M + s] += nn__ln_dx(xp[s], gp[s], w ? NN__F32(w)[s] : 1.0f, mean[n], inv[n], sd, sdx, M);
        }
        if (dw) for (s = 0; s < M; s++) dw[s] += (float)acc[s];
        if (db) for (s = 0; s < M; s++) db[s] += (float)acc[M + s];
    }
    return 1;
}

NN_API nn_tensor *nn_batch_norm(nn_tensor *x, nn_tensor *running_mean, nn_tensor *running_var, nn_tensor *weight,
                                nn_tensor *bias, int training, float momentum, float eps) {
    static const char *names[] = { "input" };
    static const char *pnames[4] = { "running_mean", "running_var", "weight", "bias" };
    nn_tensor *xs[5], *y, *ps[4]; int64_t N, C, S, k; char s1[128], s2[128];
    if (!x) { nn__null_arg(running_mean ? running_mean : running_var ? running_var : weight ? weight : bias, "nn_batch_norm", "input"); return NULL; }
    if (!nn__check_inputs("nn_batch_norm", &x, names, 1)) return NULL;
    if (x->ndim < 2) { nn__err(x->ctx, "nn_batch_norm: input is %s; expected (N, C) or (N, C, ...)", NN__SHAPE(x, s1)); return NULL; }
    N = x->shape[0]; C = x->shape[1]; S = x->numel / (N * C > 0 ? N * C : 1);
    ps[0] = running_mean; ps[1] = running_var; ps[2] = weight; ps[3] = bias;
    for (k = 0; k < 4; k++) if (ps[k]) {
        if (!nn__check_inputs(pnames[k] ? "nn_batch_norm" : "", &ps[k], &pnames[k], 1)) return NULL;
        if (ps[k]->numel != C) {
            nn__err(x->ctx, "nn_batch_norm: input %s has %lld channels but %s is %s", NN__SHAPE(x, s1), (long long)C, pnames[k], NN__SHAPE(ps[k], s2));
            return NULL;
        }
        if (k < 2 && !nn_is_contiguous(ps[k])) { nn__err(x->ctx, "nn_batch_norm: %s must be contiguous (it is updated in place)", pnames[k]); return NULL; }
    }
    if (!training && (!running_mean || !running_var)) { nn__err(x->ctx, "nn_batch_norm: eval mode needs running_mean and running_var"); return NULL; }
    if (training && N * S <= 1) { nn__err(x->ctx, "nn_batch_norm: input %s has one value per channel; training needs more than one", NN__SHAPE(x, s1)); return NULL; }
    if (!(momentum >= 0.0f && momentum <= 1.0f)) { nn__err(x->ctx, "nn_batch_norm: momentum is %g; it must be in [0, 1]", momentum); return NULL; }
    if (!(eps >= 0.0f && eps <= 3.4e38f)) { nn__err(x->ctx, "nn_batch_norm: eps is %g; it must be finite and >= 0", eps); return NULL; }
    if (!(xs[0] = nn__contig_input(x))) return NULL;
    xs[1] = weight ? nn__contig_input(weight) : NULL; xs[2] = bias ? nn__contig_input(bias) : NULL;
    xs[3] = running_mean; xs[4] = running_var;
    if ((weight && !xs[1]) || (bias && !xs[2])) return NULL;
    y = nn__node(NN_OP_BATCH_NORM, "nn_batch_norm", x->ndim, x->shape, xs, 5, 1);
    if (!y) return NULL;
    y->saved = nn__scratch(x->ctx, 2 * C);
    if (!y->saved) { nn__err(x->ctx, "nn_batch_norm: out of memory"); return NULL; }
    y->ip[0] = training; y->fp[0] = eps; y->fp[1] = momentum;
    return nn__forward(y) ? y : NULL;
}

NN_API nn_tensor *nn_layer_norm(nn_tensor *x, int normalized_ndim, nn_tensor *weight, nn_tensor *bias, float eps) {
    static const char *names[] = { "input" };
    nn_tensor *xs[3], *y; int64_t M = 1, R; int k; char s1[128], s2[128];
    if (!x) { nn__null_arg(weight ? weight : bias, "nn_layer_norm", "input"); return NULL; }
    if (!nn__check_inputs("nn_layer_norm", &x, names, 1)) return NULL;
    if (normalized_ndim < 1 || normalized_ndim > x->ndim) {
        nn__err(x->ctx, "nn_layer_norm: input is %s; normalized_ndim %d must be between 1 and %d", NN__SHAPE(x, s1), normalized_ndim, x->ndim);
        return NULL;
    }
    if (!(eps >= 0.0f && eps <= 3.4e38f)) { nn__err(x->ctx, "nn_layer_norm: eps is %g; it must be finite and >= 0", eps); return NULL; }
    for (k = x->ndim - normalized_ndim; k < x->ndim; k++) M *= x->shape[k];
    xs[0] = weight; xs[1] = bias;
    for (k = 0; k < 2; k++) if (xs[k] && xs[k]->numel != M) {
        nn__err(x->ctx, "nn_layer_norm: input is %s, normalizing the last %d dims (%lld values), but %s is %s",
                NN__SHAPE(x, s1), normalized_ndim, (long long)M, k ? "bias" : "weight", NN__SHAPE(xs[k], s2));
        return NULL;
    }
    if (!(xs[0] = nn__contig_input(x))) return NULL;
    xs[1] = weight ? nn__contig_input(weight) : NULL; xs[2] = bias ? nn__contig_input(bias) : NULL;
    if ((weight && !xs[1]) || (bias && !xs[2])) return NULL;
    y = nn__node(NN_OP_LAYER_NORM, "nn_layer_norm", x->ndim, x->shape, xs, 3, 1);
    if (!y) return NULL;
    R = x->numel / (M ? M : 1);
    y->saved = nn__scratch(x->ctx, 2 * R);
    if (!y->saved) { nn__err(x->ctx, "nn_layer_norm: out of memory"); return NULL; }
    y->ip[1] = M; y->fp[0] = eps;
    return nn__forward(y) ? y : NULL;
}

/* ---- attention (made of the ops above) ---- */

/* scores (..., L, S) after the masks: a causal triangle (fill -inf), an int64 mask (fill -inf where it
   is 0 when takes_part, where it is nonzero otherwise) or a float32 mask (added). */
static nn_tensor *nn__attn_mask(const char *fn, nn_tensor *scores, nn_tensor *mask, int is_causal, int takes_part) {
    if (!scores) return NULL;
    if (is_causal) scores = nn__tri(NN_OP_TRIL, fn, scores, 0, -INFINITY);
    if (!mask || !scores) return scores;
    if (mask->dtype == NN_INT64) return nn__masked_fill(fn, scores, mask, -INFINITY, takes_part);
    if (mask->dtype != NN_FLOAT32) {
        nn__err(scores->ctx, "%s: a mask is %s; expected int64 (boolean) or float32 (added)", fn, nn_dtype_name(mask->dtype));
        return NULL;
    }
    return nn_add(scores, mask);
}

NN_API nn_tensor *nn_scaled_dot_product_attention(nn_tensor *q, nn_tensor *k, nn_tensor *v, nn_tensor *attn_mask,
                                                  float dropout_p, int is_causal, float scale) {
    static const char *fn = "nn_scaled_dot_product_attention";
    static const char *names[] = { "query", "key", "value" };
    nn_tensor *xs[3], *a;
    char s1[128], s2[128], s3[128];
    xs[0] = q; xs[1] = k; xs[2] = v;
    if (!nn__check_inputs(fn, xs, names, 3)) return NULL;
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2 || q->shape[q->ndim - 1] != k->shape[k->ndim - 1]
        || k->shape[k->ndim - 2] != v->shape[v->ndim - 2]) {
        nn__err(q->ctx, "%s: query is %s, key %s and value %s; expected (..., L, E), (..., S, E) and (..., S, Ev)",
                fn, NN__SHAPE(q, s1), NN__SHAPE(k, s2), NN__SHAPE(v, s3));
        return NULL;
    }
    if (is_causal && attn_mask) { nn__err(q->ctx, "%s: is_causal is set and attn_mask is given; give one of them", fn); return NULL; }
    if (!(dropout_p >= 0.0f && dropout_p <= 1.0f)) { nn__err(q->ctx, "%s: dropout_p is %g; it must be in [0, 1]", fn, dropout_p); return NULL; }
    if (scale != scale) scale = 1.0f / sqrtf((float)q->shape[q->ndim - 1]);
    a = nn_mul_scalar(nn_matmul(q, nn_transpose(k, -2, -1)), scale);   /* (..., L, S) */
    a = nn_softmax(nn__attn_mask(fn, a, attn_mask, is_causal, 1), -1);
    if (dropout_p > 0.0f) a = nn_dropout(a, dropout_p, 1);
    return nn_matmul(a, v);
}

/* ---- binary cross-entropy from logits, elementwise and stable ---- */
/* l = (1 - t) x + L (log(1 + e^-|x|) + max(-x, 0)), L = 1 + (pw - 1) t; dl/dx = L sigmoid(x) - pw t.
   src: x, target, pos_weight (broadcast over the last dim) */

static int nn__bce_logits_forward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *t = NN__F32(y->src[1]);
    const nn_tensor *pw = y->src[2];
    int64_t i, K = pw ? pw->numel : 1;
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = nn__bce_logits_f(x[i], t[i], pw ? NN__F32(pw)[i % K] : 1.0f);
    return 1;
}
static int nn__bce_logits_backward(nn_tensor *y) {
    const float *x = NN__F32(y->src[0]), *t = NN__F32(y->src[1]), *g = NN__F32(y->grad);
    const nn_tensor *pw = y->src[2];
    float *dx = nn__gbuf(y->src[0]);
    int64_t i, K = pw ? pw->numel : 1;
    if (dx) for (i = 0; i < y->numel; i++) dx[i] += nn__bce_logits_b(g[i], x[i], t[i], pw ? NN__F32(pw)[i % K] : 1.0f);
    return 1;
}

/* ---- binary cross-entropy on probabilities ---- */
/* l = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)), as PyTorch clamps the logs;
   dl/dp = (p - t) / max(p (1 - p), 1e-12); dl/dt = max(log(1 - p), -100) - max(log p, -100).
   src: p, t. p outside [0, 1] is an error. */

static int nn__bce_forward(nn_tensor *y) {
    const float *p = NN__F32(y->src[0]), *t = NN__F32(y->src[1]);
    int64_t i;
    for (i = 0; i < y->numel; i++) {
        if (!(p[i] >= 0.0f && p[i] <= 1.0f)) {
            nn__err(y->ctx, "nn_bce_loss: input %g at position %lld is not a probability in [0, 1]; use nn_bce_with_logits for logits",
                    p[i], (long long)i);
            return 0;
        }
        NN__F32(y)[i] = nn__bce_f(p[i], t[i]);
    }
    return 1;
}
static int nn__bce_backward(nn_tensor *y) {
    const float *p = NN__F32(y->src[0]), *t = NN__F32(y->src[1]), *g = NN__F32(y->grad);
    float *dp = nn__gbuf(y->src[0]), *dt = nn__gbuf(y->src[1]);
    int64_t i;
    for (i = 0; i < y->numel; i++) {
        if (dp) dp[i] += nn__bce_dp(g[i], p[i], t[i]);
        if (dt) dt[i] += nn__bce_dt(g[i], p[i]);
    }
    return 1;
}

/* ---- Huber and smooth L1, elementwise ---- */
/* d = input - target; |d| < t: 0.5 d^2 (/ t for smooth L1), else |d| - 0.5 t (times t for Huber).
   fp[0] = t (delta or beta), ip[0] = 1 for smooth L1. src: input, target. */

static int nn__huber_forward(nn_tensor *y) {
    const float *a = NN__F32(y->src[0]), *b = NN__F32(y->src[1]);
    float t = y->fp[0];
    int64_t i;
    for (i = 0; i < y->numel; i++) NN__F32(y)[i] = nn__huber_f(a[i], b[i], t, y->ip[0] != 0);
    return 1;
}
static int nn__huber_backward(nn_tensor *y) {
    const float *a = NN__F32(y->src[0]), *b = NN__F32(y->src[1]), *g = NN__F32(y->grad);
    float *da = nn__gbuf(y->src[0]), *db = nn__gbuf(y->src[1]), t = y->fp[0];
    int64_t i;
    for (i = 0; i < y->numel; i++) {
        float k = nn__huber_k(a[i], b[i], t, y->ip[0] != 0);
        if (da) da[i] += g[i] * k;
        if (db) db[i] -= g[i] * k;
    }
    return 1;
}

/* ---- negative log-likelihood with class weights, ignore_index and label smoothing ---- */
/* src: logp (R, C), target int64 (R), weight (C) or NULL. ip[0] = reduction, ip[1] = ignore_index;
   fp[0] = label_smoothing e. Per row i (not ignored): (1 - e) w[t_i] (-logp[i, t_i]) + e / C sum_c w_c (-logp[i, c]).
   Mean divides the first term by sum_i w[t_i] and the second by the same sum with weights, by R without
   (PyTorch's cross_entropy_loss_label_smoothing). saved (2 doubles): those two divisors. */

static int nn__nll_check(nn_tensor *y, int64_t i, int64_t *k) {
    int64_t t = NN__I64(y->src[1])[i], C = y->src[0]->shape[1];
    if (t == y->ip[1]) return 0;
    if (t < 0 || t >= C) {
        nn__err(y->ctx, "nn_nll_loss: target %lld at position %lld is not a class in [0, %lld)", (long long)t, (long long)i, (long long)C);
        return -1;
    }
    *k = t;
    return 1;
}
static int nn__nll_forward(nn_tensor *y) {
    const nn_tensor *lp = y->src[0], *w = y->nsrc > 2 ? y->src[2] : NULL;
    int64_t R = lp->shape[0], C = lp->shape[1], i, k = 0;
    double e = y->fp[0], total = 0, nll = 0, smooth = 0, *div = NN__CAST(double *, y->saved);
    for (i = 0; i < R; i++) {
        double li = 0, sm = 0, wt;
        int ok = nn__nll_check(y, i, &k);
        if (ok < 0) return 0;
        if (ok) {
            nn__nll_row_f(NN__F32(lp) + i * C, C, k, w ? NN__F32(w) : NULL, e, &wt, &li, &sm);
            total += wt;
        }
        if (y->ip[0] == NN_NONE) NN__F32(y)[i] = (float)(li + sm);
        nll += li; smooth += sm;
    }
    div[0] = total;                          /* total 0 (all ignored): NaN, as PyTorch */
    div[1] = w ? total : (double)R;
    if (y->ip[0] != NN_NONE) NN__F32(y)[0] = nn__nll_reduce((int)y->ip[0], nll, smooth, e, div);
    return 1;
}
static int nn__nll_backward(nn_tensor *y) {
    const nn_tensor *lp = y->src[0], *w = y->nsrc > 2 ? y->src[2] : NULL;
    float *dx = nn__gbuf(lp);
    const double *div = NN__CAST(const double *, y->saved);
    int64_t R = lp->shape[0], C = lp->shape[1], i, k = 0;
    double e = y->fp[0];
    if (!dx) return 1;
    for (i = 0; i < R; i++) {
        double g = y->ip[0] == NN_NONE ? NN__F32(y->grad)[i] : NN__F32(y->grad)[0];
        if (nn__nll_check(y, i, &k) <= 0) continue;
        nn__nll_row_b(dx + i * C, C, k, w ? NN__F32(w) : NULL, e, (int)y->ip[0], g, div);
    }
    return 1;
}

/* ---- the registry's CPU column and the dispatcher ---- */

static int nn__leaf_forward(nn_tensor *y) { (void)y; return 1; }
static int nn__leaf_backward(nn_tensor *y) { (void)y; return 1; }

typedef struct nn__kernels { int (*forward)(nn_tensor *y); int (*backward)(nn_tensor *y); } nn__kernels;

#define NN__CPU_ROW(name, str, family) { nn__##family##_forward, nn__##family##_backward },
static const nn__kernels nn__cpu_kernels[NN_OP_COUNT] = { NN__OP_LIST(NN__CPU_ROW) };
#undef NN__CPU_ROW
#define NN__NAME_ROW(name, str, family) str,
static const char *const nn__op_names[NN_OP_COUNT] = { NN__OP_LIST(NN__NAME_ROW) };
#undef NN__NAME_ROW

/* One kernel table per device, each built from NN__OP_LIST. A device backend compiled in
   with NN_CUDA defined supplies nn__cuda_table(), and no front end changes. */
#ifdef NN_CUDA
#define NN__CUDA_HOOKS 1   /* nn_cuda.h checks it: NN_CUDA was defined before nn.h's implementation */
static const nn__kernels *nn__cuda_table(void);
#endif
static const nn__kernels *nn__device_table(nn_device device) {
    if (device == NN_CPU) return nn__cpu_kernels;
#ifdef NN_CUDA
    if (device == NN_CUDA) return nn__cuda_table();
#endif
    return NULL;
}

static const nn__kernels *nn__kernels_for(nn_tensor *y) {
    const nn__kernels *table = nn__device_table(y->device);
    if (!table || !table[y->op].forward) {
        nn__err(y->ctx, "nn_%s: no kernel for device %d in this build", nn_op_name(y->op), (int)y->device);
        return NULL;
    }
    return &table[y->op];
}
/* ---- anomaly mode (nn_set_detect_anomaly) ---- */

/* One input for a message: `(2, 3) "x", a leaf` or `(2, 3), made by sub (op #2)`. */
static void nn__describe(const nn_tensor *x, char *buf, size_t n) {
    char s[128];
    if (!x) { nn__snprintf(buf, n, "NULL"); return; }
    if (x->op == NN_OP_LEAF)
        nn__snprintf(buf, n, "%s%s%s%s, a leaf", NN__SHAPE(x, s), x->name[0] ? " \"" : "", x->name, x->name[0] ? "\"" : "");
    else
        nn__snprintf(buf, n, "%s%s%s%s, made by %s (op #%lld)", NN__SHAPE(x, s), x->name[0] ? " \"" : "", x->name,
                 x->name[0] ? "\"" : "", nn_op_name(x->op), (long long)x->seq);
}

/* After y's forward kernel, anomaly mode on: 0 with an error when y holds NaN or inf and its
   inputs hold none (an input that already had one is not this op's doing). */
static int nn__anomaly_forward(nn_tensor *y) {
    char out[128], ins[320], one[160];
    size_t k = 0; int i;
    int64_t at = nn__first_nonfinite(y);
    if (at < 0) return 1;
    if ((y->op == NN_OP_TRIL || y->op == NN_OP_TRIU || y->op == NN_OP_MASKED_FILL) && !nn__finite(y->fp[0])) return 1;
    for (i = 0; i < y->nsrc; i++) if (nn__first_nonfinite(y->src[i]) >= 0) return 1;
    ins[0] = 0;
    for (i = 0; i < y->nsrc && k < sizeof ins; i++) {
        nn__describe(y->src[i], one, sizeof one);
        k += (size_t)nn__snprintf(ins + k, sizeof ins - k, "%sinput %d %s", i ? "; " : "", i, one);
    }
    nn__err(y->ctx, "%s: anomaly: %s returned %s values (element %lld of its output %s) from finite inputs: %s; "
            "it is op #%lld since the last nn_arena_reset (nn_set_detect_anomaly)", y->fn ? y->fn : "nn_forward",
            nn_op_name(y->op), nn__nonfinite_kind(nn__elem(y, at)), (long long)at, NN__SHAPE(y, out),
            y->nsrc ? ins : "none", (long long)y->seq);
    return 0;
}

static int nn__forward(nn_tensor *y) {
    const nn__kernels *k = nn__kernels_for(y);
    if (!k || !k->forward(y)) return 0;
    return !y->ctx->detect_anomaly || nn__anomaly_forward(y);   /* off: this one branch */
}
static int nn__backward_node(nn_tensor *y) {
    const nn__kernels *k = nn__kernels_for(y);
    return k && k->backward(y);
}

NN_API const char *nn_op_name(int op) { return op >= 0 && op < NN_OP_COUNT ? nn__op_names[op] : "?"; }
/* ==== autograd ==== */
/* the engine: topological order, backward, gradient check, graph picture */

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

/* The gradient of t, zeroed when new: persistent for your tensors (kept across steps), from the
   arena for other leaves, and from the step's gradient pool for intermediate results. */
static int nn__ensure_grad(nn_tensor *t) {
    nn_tensor *g;
    if (t->grad) return 1;
    if (t->flags & NN__PERSISTENT) g = nn__new_persistent_on(t->ctx, "nn_backward", t->ndim, t->shape, NN_FLOAT32, t->device);
    else if (t->op == NN_OP_LEAF || (t->flags & NN__RETAIN_GRAD) || t->device != NN_CPU)   /* (no gradient pool on a device) */
        g = nn__new_arena_on(t->ctx, "nn_backward", t->ndim, t->shape, 1, NN_FLOAT32, t->device);
    else {
        g = nn__new_arena(t->ctx, "nn_backward", t->ndim, t->shape, 0);
        if (g) g->data = nn__grad_take(t->ctx, (size_t)(t->numel ? t->numel : 1) * sizeof(float));
        if (g && !g->data) g = NULL;
        if (g) { g->storage->ptr = g->data; g->storage->bytes = (size_t)t->numel * sizeof(float); g->storage->owner = NN_OWNER_ARENA; }
    }
    if (!g) return 0;
#ifdef NN_CUDA
    if (g->device == NN_CUDA) { if (!nn__cuda_zero(t->ctx, g->data, (size_t)t->numel * sizeof(float))) return 0; }
    else
#endif
    memset(g->data, 0, (size_t)t->numel * sizeof(float));
    t->grad = g;
    return 1;
}

/* After u's backward nothing adds to u's gradient again: give it back unless retain_grad. */
static void nn__release_grad(nn_tensor *u) {
    if (u->op == NN_OP_LEAF || (u->flags & NN__RETAIN_GRAD) || !u->grad || u->device != NN_CPU) return;
    nn__grad_give(u->ctx, u->grad->data, (size_t)(u->numel ? u->numel : 1) * sizeof(float));
    u->grad = NULL;
}

static int nn__backward_check(nn_tensor *t, nn_tensor *grad) {
    char s1[128], s2[128];
    if (nn__stale(t)) { nn__err(t->ctx, "nn_backward: the tensor was made before the last nn_arena_reset and no longer exists"); return 0; }
    if (!t->requires_grad) {
        nn__err(t->ctx, "nn_backward: the tensor %s does not require grad and has no grad history", NN__SHAPE(t, s1));
        return 0;
    }
    if (!grad && t->numel != 1) {
        nn__err(t->ctx, "nn_backward: the tensor is %s; a gradient can be implied only for one-element outputs, so pass grad", NN__SHAPE(t, s1));
        return 0;
    }
    if (grad && grad->device != t->device) {
        nn__err(t->ctx, "nn_backward: grad is on device %d and the tensor on device %d; move grad with nn_to", (int)grad->device, (int)t->device);
        return 0;
    }
    if (grad && (!nn__same_shape(grad, t) || grad->dtype != NN_FLOAT32 || nn__stale(grad))) {
        nn__err(t->ctx, "nn_backward: grad is %s (%s) and the tensor is %s; grad must be float32 of the same shape",
                NN__SHAPE(grad, s2), nn_dtype_name(grad->dtype), NN__SHAPE(t, s1));
        return 0;
    }
    return 1;
}

/* Anomaly mode, before the walk: the seed gradient must be finite, and the gradients that hold NaN
   or inf already (left from an earlier backward) are marked, so that no op is blamed for them. */
static int nn__anomaly_backward_start(nn_tensor *t, nn_tensor *grad, nn_tensor **order, int64_t n) {
    int64_t i, at = nn__first_nonfinite(grad);
    char s[128];
    if (at >= 0) {
        nn__err(t->ctx, "nn_backward: anomaly: grad %s holds %s values (element %lld) (nn_set_detect_anomaly)",
                NN__SHAPE(grad, s), nn__nonfinite_kind(nn__elem(grad, at)), (long long)at);
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (order[i]->grad && nn__first_nonfinite(order[i]->grad) >= 0) order[i]->flags |= NN__GRAD_NONFINITE;
        else order[i]->flags &= ~NN__GRAD_NONFINITE;
    }
    return 1;
}

/* Anomaly mode, after u's backward: 0 with an error naming u when it made an input's gradient
   hold NaN or inf (PyTorch's "Function 'LogBackward0' returned nan values in its 0th output"). */
static int nn__anomaly_backward(nn_tensor *u) {
    char one[160], out[128];
    int k;
    for (k = 0; k < u->nsrc; k++) {
        nn_tensor *v = u->src[k];
        int64_t at;
        if (!v || !v->requires_grad || !v->grad || (v->flags & NN__GRAD_NONFINITE)) continue;
        at = nn__first_nonfinite(v->grad);
        if (at < 0) continue;
        nn__describe(v, one, sizeof one);
        nn__err(u->ctx, "nn_backward: anomaly: function '%s' backward returned %s values in its %dth output (the gradient "
                "of input %d, %s, at element %lld); the op is op #%lld of the step, made by %s with output %s%s "
                "(nn_set_detect_anomaly)", nn_op_name(u->op), nn__nonfinite_kind(nn__elem(v->grad, at)), k, k, one,
                (long long)at, (long long)u->seq, u->fn ? u->fn : "?", NN__SHAPE(u, out),
                nn__first_nonfinite(u->grad) >= 0 ? ", and the gradient it was given holds NaN or inf too" : "");
        return 0;
    }
    return 1;
}

NN_API int nn_backward(nn_tensor *t, nn_tensor *grad, int retain_graph) {
    nn_tensor **order; int64_t n, i; int k;
    if (!t) return 0;
    if (!nn__backward_check(t, grad)) return 0;
    order = nn__topo(t, &n);
    if (!order) { nn__err(t->ctx, "nn_backward: out of memory"); return 0; }
    for (i = 0; i < n; i++) if (order[i]->flags & NN__GRAPH_FREED) {
        nn__err(t->ctx, "nn_backward: trying to backward through the graph a second time (its %s node was used by an "
                "earlier backward); pass retain_graph = 1 to the first nn_backward if you need to", nn_op_name(order[i]->op));
        return 0;
    }
    if (t->ctx->detect_anomaly && !nn__anomaly_backward_start(t, grad, order, n)) return 0;
    if (!nn__ensure_grad(t)) { nn__err(t->ctx, "nn_backward: out of memory"); return 0; }
#ifdef NN_CUDA
    if (t->device == NN_CUDA) { if (!nn__cuda_seed_grad(t, grad)) return 0; }
    else
#endif
    if (grad) {
        float *g = NN__F32(t->grad);
        nn__walk w;
        nn__walk_init(&w, grad->ndim, grad->shape, grad->stride, NULL, NULL);
        for (i = 0; i < t->numel; i++, nn__walk_next(&w)) g[i] += NN__F32(grad)[w.off[0]];
    } else NN__F32(t->grad)[0] += 1.0f;
    for (i = n - 1; i >= 0; i--) {     /* every consumer of a node runs before the node */
        nn_tensor *u = order[i];
        if (u->op == NN_OP_LEAF) continue;
        for (k = 0; k < u->nsrc; k++) {
            nn_tensor *v = u->src[k];
            if (v && v->requires_grad && !nn__ensure_grad(v)) { nn__err(t->ctx, "nn_backward: out of memory"); return 0; }
        }
        if (!nn__backward_node(u)) return 0;
        if (t->ctx->detect_anomaly && !nn__anomaly_backward(u)) return 0;
        nn__release_grad(u);
        if (!retain_graph) u->flags |= NN__GRAPH_FREED;
    }
    return 1;
}

NN_API nn_tensor *nn_retain_grad(nn_tensor *t) {
    if (t && !nn__check_live(t, "nn_retain_grad")) return NULL;
    if (t && t->op != NN_OP_LEAF) t->flags |= NN__RETAIN_GRAD;
    return t;
}
NN_API void nn_zero_grad(nn_tensor *t) {
    if (!t || !t->grad || !nn__check_live(t, "nn_zero_grad")) return;
#ifdef NN_CUDA
    if (t->grad->device == NN_CUDA) { nn__cuda_zero(t->ctx, t->grad->data, (size_t)t->numel * sizeof(float)); return; }
#endif
    memset(t->grad->data, 0, (size_t)t->numel * sizeof(float));
}

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
    if (!fn || !inputs || n <= 0 || !inputs[0]) { if (inputs && n > 0) nn__null_arg(inputs[0], "nn_gradcheck", "fn"); return 0; }
    ctx = inputs[0]->ctx;
    if (!(eps > 0 && eps <= 3.4e38f) || !(atol >= 0 && atol <= 3.4e38f) || !(rtol >= 0 && rtol <= 3.4e38f)) {
        nn__err(ctx, "nn_gradcheck: eps %g, atol %g, rtol %g; eps must be finite and > 0, atol and rtol finite and >= 0",
                (double)eps, (double)atol, (double)rtol);
        return 0;
    }
    for (k = 0; k < n; k++) {
        if (!inputs[k] || !(inputs[k]->flags & NN__PERSISTENT)) { nn__err(ctx, "nn_gradcheck: input %d must be a tensor you created", k); return 0; }
        if (!nn__on_host(inputs[k], "nn_gradcheck")) return 0;
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
static double nn__value_at(const nn_tensor *t, int64_t off) {
    return t->dtype == NN_INT64 ? (double)NN__I64(t)[off] : (double)NN__F32(t)[off];
}
static void nn__dot_values(FILE *f, const char *what, const nn_tensor *t) {
    int64_t i, n = t->numel < 6 ? t->numel : 6;
    nn__walk w;
    fprintf(f, "%s", what);
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < n; i++, nn__walk_next(&w)) fprintf(f, "%s%.4g", i ? " " : "", nn__value_at(t, w.off[0]));
    if (t->numel > n) fprintf(f, " ...");
}

NN_API int nn_graph_dot(nn_tensor *t, const char *path) {
    nn_tensor **stack, **seen; int64_t sp = 0, ns = 0, cap; int k; FILE *f; unsigned epoch; char s[128];
    if (!t || !nn__check_live(t, "nn_graph_dot")) return 0;
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
        if (d == t->ndim - 1 && t->dtype == NN_INT64) printf("%lld", (long long)NN__I64(t)[off + i * t->stride[d]]);
        else if (d == t->ndim - 1) printf("%.4f", NN__F32(t)[off + i * t->stride[d]]);
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
    if (!nn__check_live(t, "nn_print") || !nn__on_host(t, "nn_print")) return;
    printf("tensor(");
    if (t->ndim == 0 && t->dtype == NN_INT64) printf("%lld", (long long)NN__I64(t)[0]);
    else if (t->ndim == 0) printf("%.4f", NN__F32(t)[0]);
    else nn__print_rec(t, 0, 0, 7, t->numel > 1000);
    if (t->dtype == NN_INT64) printf(", dtype=torch.int64");
    if (t->requires_grad) printf(t->op == NN_OP_LEAF ? ", requires_grad=True" : ", grad_fn=<%s>", nn_op_name(t->op));
    printf(")\n");
}
#endif /* NN_NO_STDIO */


/* ==== modules ==== */

struct nn__mod_slot { char *name; nn_tensor *t; int is_buffer; };   /* a registered parameter or buffer */
struct nn__mod_child { char *name; nn_module *m; };                  /* a registered child */

/* A layer's own struct starts with its nn_module. */
#define NN__LAYER(T, m) NN__CAST(T *, NN__CAST(void *, (m)))

static char *nn__mod_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = NN__CAST(char *, nn__malloc(n));
    if (p) memcpy(p, s, n);
    return p;
}

/* p (maybe moved) with room for need elements of elem bytes, or NULL (p untouched) on failure. */
static void *nn__mod_grow(nn_ctx *ctx, const char *fn, void *p, int *cap, int need, size_t elem) {
    int c = *cap ? *cap : 4;
    void *q;
    if (need <= *cap) return p;
    while (c < need) {
        if (c > INT_MAX / 2) { nn__err(ctx, "%s: more than %d entries", fn, INT_MAX / 2); return NULL; }
        c *= 2;
    }
    q = nn__realloc(p, (size_t)c * elem);
    if (!q) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    *cap = c;
    return q;
}

/* ---- module objects ---- */

/* A module of size bytes (a layer's struct), its type string copied after it. */
static nn_module *nn__module_alloc(nn_ctx *ctx, const char *fn, const char *type, size_t size) {
    nn_module *m; size_t tl;
    if (!ctx) return NULL;
    if (!type) type = "Module";
    tl = strlen(type) + 1;
    m = NN__CAST(nn_module *, nn__malloc(size + tl));
    if (!m) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    memset(m, 0, size);
    memcpy(NN__CAST(char *, NN__CAST(void *, m)) + size, type, tl);
    m->type = NN__CAST(char *, NN__CAST(void *, m)) + size;
    m->ctx = ctx;
    m->training = 1;
    m->refs = 1;
    m->floating = 1;
    m->stamp = 1;
    return m;
}

/* The forward of a module made with a one-input forward. */
static int nn__mod_forward_1(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    nn_tensor *y;
    if (nin != 1) { nn__err(m->ctx, "nn_forward_n: %s takes 1 input; %d were given", m->type, nin); return -1; }
    if (!in[0]) {
        if (!nn_error(m->ctx)) nn__err(m->ctx, "nn_forward: the input of %s is NULL", m->type);
        return -1;
    }
    y = m->forward1(m, in[0]);
    if (!y) return -1;
    if (nout > 0) out[0] = y;
    return 1;
}

/* A built-in layer: size bytes of its struct, its one-input forward. */
static nn_module *nn__mod_layer(nn_ctx *ctx, const char *fn, const char *type, size_t size, nn_forward_fn forward) {
    nn_module *m = nn__module_alloc(ctx, fn, type, size);
    if (m) { m->forward1 = forward; m->forward_n = nn__mod_forward_1; }
    return m;
}

NN_API nn_module *nn_module_new(nn_ctx *ctx, const char *type, nn_forward_fn forward, void *user) {
    nn_module *m = nn__mod_layer(ctx, "nn_module_new", type, sizeof(nn_module), forward);
    if (m) { m->user = user; if (!forward) m->forward_n = NULL; }
    return m;
}

NN_API nn_module *nn_module_new_n(nn_ctx *ctx, const char *type, nn_forward_n_fn forward, void *user) {
    nn_module *m = nn__module_alloc(ctx, "nn_module_new_n", type, sizeof(nn_module));
    if (m) { m->forward_n = forward; m->user = user; }
    return m;
}

/* Drops one reference; at the last one frees m, its references to its children and tensors. */
static void nn__module_release(nn_module *m) {
    int k;
    if (--m->refs > 0) return;
    for (k = 0; k < m->nkid; k++) {
        m->kid[k].m->nparents--;
        nn__module_release(m->kid[k].m);
        nn__free(m->kid[k].name);
    }
    for (k = 0; k < m->nslot; k++) {
        nn_free(m->slot[k].t);
        nn__free(m->slot[k].name);
    }
    nn__free(m->kid);
    nn__free(m->slot);
    nn__free(m->state);
    nn__free(m->state_names);
    nn__free(m);
}

NN_API nn_module *nn_module_retain(nn_module *m) {
    if (m) m->refs++;
    return m;
}

NN_API void nn_module_free(nn_module *m) {
    if (!m) return;
    if (m->refs <= m->nparents) {
        nn__err(m->ctx, "nn_module_free: this %s belongs to %d parent module%s and to no one else; free the model it "
                "is in (or nn_module_retain it first to keep a reference of your own)",
                m->type, m->nparents, m->nparents == 1 ? "" : "s");
        return;
    }
    nn__module_release(m);
}

/* ---- names ---- */

static nn__mod_slot *nn__mod_find_slot(const nn_module *m, const char *name, size_t len) {
    int k;
    for (k = 0; k < m->nslot; k++)
        if (strlen(m->slot[k].name) == len && !memcmp(m->slot[k].name, name, len)) return &m->slot[k];
    return NULL;
}

static nn__mod_child *nn__mod_find_kid(const nn_module *m, const char *name, size_t len) {
    int k;
    for (k = 0; k < m->nkid; k++)
        if (strlen(m->kid[k].name) == len && !memcmp(m->kid[k].name, name, len)) return &m->kid[k];
    return NULL;
}

/* A module's own tensor by name, or NULL (the layers' forwards read their parameters so). */
static nn_tensor *nn__mod_own(const nn_module *m, const char *name) {
    nn__mod_slot *s = nn__mod_find_slot(m, name, strlen(name));
    return s ? s->t : NULL;
}

/* The module holding the last part of a dotted name ("features.0.weight"), or NULL. */
static nn_module *nn__mod_resolve(nn_module *m, const char *name, const char **last) {
    const char *dot;
    while (m && (dot = strchr(name, '.')) != NULL) {
        nn__mod_child *c = nn__mod_find_kid(m, name, (size_t)(dot - name));
        m = c ? c->m : NULL;
        name = dot + 1;
    }
    *last = name;
    return m;
}

/* A new name in m: non-empty, no '.', not yet a parameter, buffer or child of m. */
static int nn__mod_check_name(nn_module *m, const char *fn, const char *name) {
    size_t len;
    if (!name || !name[0] || strchr(name, '.')) {
        nn__err(m->ctx, "%s: the name \"%s\" must be non-empty and hold no '.'", fn, name ? name : "(NULL)");
        return 0;
    }
    len = strlen(name);
    if (nn__mod_find_slot(m, name, len) || nn__mod_find_kid(m, name, len)) {
        nn__mod_slot *s = nn__mod_find_slot(m, name, len);
        nn__err(m->ctx, "%s: %s already has a %s named \"%s\"; names must be unique", fn, m->type,
                s ? (s->is_buffer ? "buffer" : "parameter") : "child module", name);
        return 0;
    }
    return 1;
}

/* ---- registering parameters, buffers and children ---- */

static int nn__mod_check_tensor(nn_module *m, const char *fn, const char *name, const nn_tensor *t, int is_buffer) {
    if (!name) name = "(NULL)";
    if (!t) { nn__err(m->ctx, "%s: the tensor for \"%s\" is NULL", fn, name); return 0; }
    if (t->ctx != m->ctx) {
        nn__err(m->ctx, "%s: \"%s\" belongs to another nn_ctx than %s", fn, name, m->type);
        return 0;
    }
    if (!(t->flags & NN__PERSISTENT)) {
        nn__err(m->ctx, "%s: \"%s\" is an op result, freed at nn_arena_reset; register a tensor you created "
                "(nn_empty, nn_zeros, nn_keep, ...)", fn, name);
        return 0;
    }
    if (!is_buffer && t->dtype != NN_FLOAT32) {
        nn__err(m->ctx, "%s: \"%s\" is %s; a parameter must be float32", fn, name, nn_dtype_name(t->dtype));
        return 0;
    }
    return 1;
}

static nn_tensor *nn__mod_register(nn_module *m, const char *fn, const char *name, nn_tensor *t, int is_buffer) {
    void *p; char *copy;
    if (!m) { nn__null_arg(t, fn, "m"); return NULL; }
    if (!nn__mod_check_tensor(m, fn, name, t, is_buffer) || !nn__mod_check_name(m, fn, name)) return NULL;
    p = nn__mod_grow(m->ctx, fn, m->slot, &m->slot_cap, m->nslot + 1, sizeof(nn__mod_slot));
    if (!p) return NULL;
    m->slot = NN__CAST(nn__mod_slot *, p);
    copy = nn__mod_strdup(name);
    if (!copy) { nn__err(m->ctx, "%s: out of memory", fn); return NULL; }
    m->slot[m->nslot].name = copy;
    m->slot[m->nslot].t = nn__retain(t);
    m->slot[m->nslot].is_buffer = is_buffer;
    m->nslot++;
    if (!is_buffer) t->requires_grad = 1;
    m->stamp++;
    return t;
}

NN_API nn_tensor *nn_module_register_parameter(nn_module *m, const char *name, nn_tensor *t) {
    return nn__mod_register(m, "nn_module_register_parameter", name, t, 0);
}

NN_API nn_tensor *nn_module_register_buffer(nn_module *m, const char *name, nn_tensor *t) {
    return nn__mod_register(m, "nn_module_register_buffer", name, t, 1);
}

/* Constructors' helper: registers a tensor the module alone will own (or frees it on failure). */
static int nn__mod_adopt(nn_module *m, const char *name, nn_tensor *t, int is_buffer) {
    nn_tensor *r = t ? nn__mod_register(m, "nn_module_register", name, t, is_buffer) : NULL;
    nn_free(t);
    return r != NULL;
}

NN_API nn_tensor *nn_module_set_parameter(nn_module *m, const char *name, nn_tensor *t) {
    static const char *fn = "nn_module_set_parameter";
    const char *last; nn_module *owner; nn__mod_slot *s = NULL;
    if (!m) { nn__null_arg(t, fn, "m"); return NULL; }
    if (!name) { nn__err(m->ctx, "%s: name is NULL", fn); return NULL; }
    owner = nn__mod_resolve(m, name, &last);
    if (owner) s = nn__mod_find_slot(owner, last, strlen(last));
    if (!s || s->is_buffer) { nn__err(m->ctx, "%s: %s has no parameter \"%s\"", fn, m->type, name); return NULL; }
    if (!nn__mod_check_tensor(owner, fn, name, t, 0)) return NULL;
    nn__retain(t);
    nn_free(s->t);
    s->t = t;
    t->requires_grad = 1;
    owner->stamp++;
    return t;
}

/* 1 when target is from itself or one of its descendants. */
static int nn__mod_reaches(const nn_module *from, const nn_module *target) {
    int k;
    if (from == target) return 1;
    for (k = 0; k < from->nkid; k++) if (nn__mod_reaches(from->kid[k].m, target)) return 1;
    return 0;
}

/* Records child under name (memory already reserved); the first parent takes the creator's reference. */
static void nn__mod_link(nn_module *parent, char *name, nn_module *child) {
    parent->kid[parent->nkid].name = name;
    parent->kid[parent->nkid].m = child;
    parent->nkid++;
    if (child->floating) child->floating = 0;
    else child->refs++;
    child->nparents++;
    parent->stamp++;
}

NN_API nn_module *nn_module_add(nn_module *parent, const char *name, nn_module *child) {
    static const char *fn = "nn_module_add";
    void *p; char *copy;
    if (!parent) {
        if (child) nn__err(child->ctx, "%s: the parent of \"%s\" is NULL", fn, name ? name : "(NULL)");
        return NULL;
    }
    if (!child) { nn__err(parent->ctx, "%s: the child \"%s\" is NULL", fn, name ? name : "(NULL)"); return NULL; }
    if (child->ctx != parent->ctx) {
        nn__err(parent->ctx, "%s: the child \"%s\" belongs to another nn_ctx", fn, name ? name : "(NULL)");
        return NULL;
    }
    if (!nn__mod_check_name(parent, fn, name)) return NULL;
    if (nn__mod_reaches(child, parent)) {
        nn__err(parent->ctx, "%s: adding %s as \"%s\" would make a cycle: the parent %s is that module or inside it",
                fn, child->type, name, parent->type);
        return NULL;
    }
    p = nn__mod_grow(parent->ctx, fn, parent->kid, &parent->kid_cap, parent->nkid + 1, sizeof(nn__mod_child));
    if (!p) return NULL;
    parent->kid = NN__CAST(nn__mod_child *, p);
    copy = nn__mod_strdup(name);
    if (!copy) { nn__err(parent->ctx, "%s: out of memory", fn); return NULL; }
    nn__mod_link(parent, copy, child);
    return child;
}

/* ---- Sequential ---- */

static nn_tensor *nn__mod_sequential_forward(nn_module *m, nn_tensor *x) {
    int k;
    for (k = 0; k < m->nkid && x; k++) x = nn_forward(m->kid[k].m, x);
    return x;
}

/* Validates every argument first, so that an error takes none of the modules. */
static int nn__mod_sequential_check(nn_ctx *ctx, nn_module **mods, int n) {
    int k;
    if (n < 0) { nn__err(ctx, "nn_sequential_new: n is %d; it must be 0 or more", n); return 0; }
    if (n > 0 && !mods) { nn__err(ctx, "nn_sequential_new: mods is NULL for %d modules", n); return 0; }
    for (k = 0; k < n; k++) {
        if (!mods[k]) { nn__err(ctx, "nn_sequential_new: mods[%d] is NULL", k); return 0; }
        if (mods[k]->ctx != ctx) { nn__err(ctx, "nn_sequential_new: mods[%d] belongs to another nn_ctx", k); return 0; }
    }
    return 1;
}

NN_API nn_module *nn_sequential_new(nn_ctx *ctx, nn_module **mods, int n) {
    static const char *fn = "nn_sequential_new";
    nn_module *m; void *p; int k; char nm[16];
    if (!ctx || !nn__mod_sequential_check(ctx, mods, n)) return NULL;
    m = nn__mod_layer(ctx, fn, "Sequential", sizeof(nn_module), nn__mod_sequential_forward);
    if (!m || n == 0) return m;
    p = nn__mod_grow(ctx, fn, NULL, &m->kid_cap, n, sizeof(nn__mod_child));
    if (!p) { nn__module_release(m); return NULL; }
    m->kid = NN__CAST(nn__mod_child *, p);
    for (k = 0; k < n; k++) {   /* names first: nothing can fail once a module is linked */
        nn__snprintf(nm, sizeof nm, "%d", k);
        m->kid[k].name = nn__mod_strdup(nm);
        if (!m->kid[k].name) {
            nn__err(ctx, "%s: out of memory", fn);
            while (k-- > 0) nn__free(m->kid[k].name);
            nn__module_release(m);
            return NULL;
        }
    }
    for (k = 0; k < n; k++) nn__mod_link(m, m->kid[k].name, mods[k]);
    return m;
}

/* ---- running ---- */

static int nn__mod_call_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    int k, n = m->forward_n(m, in, nin, out, nout);
    if (n >= 0 && n < nout) {
        nn__err(m->ctx, "nn_forward_n: %s gives %d output%s; %d were asked for", m->type, n, n == 1 ? "" : "s", nout);
        n = -1;
    }
    if (n < 0) {
        if (!nn_error(m->ctx)) nn__err(m->ctx, "nn_forward: the forward of %s failed", m->type);
        for (k = 0; k < nout; k++) out[k] = NULL;
    }
    return n;
}

#ifndef NN_NO_STDIO
static int nn__mod_summary_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout);
#endif

NN_API int nn_forward_n(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    int k;
    if (!m) { if (in && nin > 0) nn__null_arg(in[0], "nn_forward_n", "m"); return -1; }
    if (nin < 0 || (nin > 0 && !in) || nout < 0 || (nout > 0 && !out)) {
        nn__err(m->ctx, "nn_forward_n: %s got nin %d (in %s) and nout %d (out %s); counts must be 0 or more, "
                "with an array when more than 0", m->type, nin, in ? "set" : "NULL", nout, out ? "set" : "NULL");
        return -1;
    }
    for (k = 0; k < nout; k++) out[k] = NULL;
    if (!m->forward_n) { nn__err(m->ctx, "nn_forward: module %s has no forward function", m->type); return -1; }
#ifndef NN_NO_STDIO
    if (m->summary) return nn__mod_summary_forward(m, in, nin, out, nout);
#endif
    return nn__mod_call_forward(m, in, nin, out, nout);
}

NN_API nn_tensor *nn_forward(nn_module *m, nn_tensor *x) {
    nn_tensor *y = NULL;
    if (!m) { nn__null_arg(x, "nn_forward", "m"); return NULL; }
    return nn_forward_n(m, &x, 1, &y, 1) >= 1 ? y : NULL;
}

NN_API void nn_module_train(nn_module *m, int mode) {
    int k;
    if (!m) return;
    m->training = mode != 0;
    for (k = 0; k < m->nkid; k++) nn_module_train(m->kid[k].m, mode);
}
NN_API void nn_module_eval(nn_module *m) { nn_module_train(m, 0); }
NN_API int nn_module_to(nn_module *m, nn_device device) {
    nn_tensor **ts;
    int np, nb, i, ok = 1;
    if (!m) return 0;
    if ((unsigned)device >= (unsigned)NN_DEVICE_COUNT) { nn__err(m->ctx, "nn_module_to: device %d does not exist", (int)device); return 0; }
    np = nn_module_parameters(m, NULL, 0);
    nb = nn_module_buffers(m, NULL, 0);
    if (!(ts = NN__CAST(nn_tensor **, nn__malloc((size_t)(np + nb + 1) * sizeof(nn_tensor *))))) {
        nn__err(m->ctx, "nn_module_to: out of memory");
        return 0;
    }
    nn_module_parameters(m, ts, np);
    nn_module_buffers(m, ts + np, nb);
    for (i = 0; i < np + nb && ok; i++) {
        nn_tensor *t = ts[i];
        if (t->device == device) { ts[i] = NULL; continue; }
#ifdef NN_CUDA
        ok = nn__cuda_move(t, device);
#else
        nn__err(m->ctx, "nn_module_to: device %d is not available; this build has the CPU only", (int)device);
        ok = 0;
#endif
    }
#ifdef NN_CUDA
    if (!ok) {   /* the ones already moved go back (two devices: to the other one), so the module stays whole */
        int j;
        for (j = 0; j < i - 1; j++) if (ts[j]) nn__cuda_move(ts[j], device == NN_CPU ? NN_CUDA : NN_CPU);
    }
#endif
    nn__free(ts);
    return ok;
}

/* ---- state dict, parameters, lookups ---- */

/* Every registration bumps its module's stamp, so this sum changes whenever the tree does. */
static uint64_t nn__mod_tree_stamp(const nn_module *m) {
    uint64_t s = m->stamp; int k;
    for (k = 0; k < m->nkid; k++) s += nn__mod_tree_stamp(m->kid[k].m);
    return s;
}

typedef struct nn__mod_state_walk {
    nn_state_entry *e;
    char *names, *prefix;
    int n;
    size_t bytes, max_prefix;
} nn__mod_state_walk;

/* First pass: entries, bytes of names, longest prefix. */
static void nn__mod_state_count(const nn_module *m, size_t plen, nn__mod_state_walk *w) {
    int k;
    for (k = 0; k < m->nslot; k++) { w->n++; w->bytes += plen + strlen(m->slot[k].name) + 1; }
    for (k = 0; k < m->nkid; k++) {
        size_t cl = plen + strlen(m->kid[k].name) + 1;
        if (cl > w->max_prefix) w->max_prefix = cl;
        nn__mod_state_count(m->kid[k].m, cl, w);
    }
}

/* Second pass, in state_dict order: own parameters, own buffers, then each child under its name. */
static void nn__mod_state_fill(const nn_module *m, size_t plen, nn__mod_state_walk *w) {
    int k, pass;
    for (pass = 0; pass < 2; pass++) for (k = 0; k < m->nslot; k++) if (m->slot[k].is_buffer == pass) {
        char *dst = w->names + w->bytes;
        size_t nl = strlen(m->slot[k].name) + 1;
        memcpy(dst, w->prefix, plen);
        memcpy(dst + plen, m->slot[k].name, nl);
        w->e[w->n].name = dst;
        w->e[w->n].tensor = m->slot[k].t;
        w->e[w->n].is_buffer = pass;
        w->n++;
        w->bytes += plen + nl;
    }
    for (k = 0; k < m->nkid; k++) {
        size_t l = strlen(m->kid[k].name);
        memcpy(w->prefix + plen, m->kid[k].name, l);
        w->prefix[plen + l] = '.';
        nn__mod_state_fill(m->kid[k].m, plen + l + 1, w);
    }
}

static int nn__mod_state_build(nn_module *m) {
    nn__mod_state_walk w;
    memset(&w, 0, sizeof w);
    nn__mod_state_count(m, 0, &w);
    nn__free(m->state); nn__free(m->state_names);
    m->state = NN__CAST(nn_state_entry *, nn__malloc((size_t)(w.n ? w.n : 1) * sizeof(nn_state_entry)));
    m->state_names = NN__CAST(char *, nn__malloc(w.bytes + 1));
    w.prefix = NN__CAST(char *, nn__malloc(w.max_prefix + 1));
    if (!m->state || !m->state_names || !w.prefix) {
        nn__err(m->ctx, "nn_module_state: out of memory");
        nn__free(m->state); nn__free(m->state_names); nn__free(w.prefix);
        m->state = NULL; m->state_names = NULL; m->nstate = 0;
        return 0;
    }
    w.e = m->state; w.names = m->state_names; w.n = 0; w.bytes = 0;
    nn__mod_state_fill(m, 0, &w);
    nn__free(w.prefix);
    m->nstate = w.n;
    return 1;
}

NN_API int nn_module_state(nn_module *m, const nn_state_entry **entries) {
    uint64_t st;
    if (entries) *entries = NULL;
    if (!m) return 0;
    st = nn__mod_tree_stamp(m);
    if (!m->state || st != m->state_stamp) {
        if (!nn__mod_state_build(m)) return 0;
        m->state_stamp = st;
    }
    if (entries) *entries = m->state;
    return m->nstate;
}

/* parameters() or buffers(): state-dict order, each tensor once. */
static int nn__mod_unique_tensors(nn_module *m, int buffers, nn_tensor **out, int max) {
    const nn_state_entry *e; int n = nn_module_state(m, &e), k, j, c = 0;
    for (k = 0; k < n; k++) {
        if (e[k].is_buffer != buffers) continue;
        for (j = 0; j < k; j++) if (e[j].is_buffer == buffers && e[j].tensor == e[k].tensor) break;
        if (j < k) continue;
        if (out && c < max) out[c] = e[k].tensor;
        c++;
    }
    return c;
}

NN_API int nn_module_parameters(nn_module *m, nn_tensor **out, int max) {
    return nn__mod_unique_tensors(m, 0, out, max);
}
NN_API int nn_module_buffers(nn_module *m, nn_tensor **out, int max) {
    return nn__mod_unique_tensors(m, 1, out, max);
}

NN_API int64_t nn_module_num_parameters(nn_module *m) {
    const nn_state_entry *e; int n = nn_module_state(m, &e), k, j; int64_t c = 0;
    for (k = 0; k < n; k++) {
        if (e[k].is_buffer) continue;
        for (j = 0; j < k; j++) if (!e[j].is_buffer && e[j].tensor == e[k].tensor) break;
        if (j == k) c += e[k].tensor->numel;
    }
    return c;
}

static nn_tensor *nn__mod_lookup_tensor(nn_module *m, const char *name, int is_buffer) {
    const char *last; nn__mod_slot *s;
    if (!m) return NULL;
    if (!name) { nn__err(m->ctx, "%s: name is NULL", is_buffer ? "nn_module_buffer" : "nn_module_parameter"); return NULL; }
    m = nn__mod_resolve(m, name, &last);
    s = m ? nn__mod_find_slot(m, last, strlen(last)) : NULL;
    return s && s->is_buffer == is_buffer ? s->t : NULL;
}

NN_API nn_tensor *nn_module_parameter(nn_module *m, const char *name) { return nn__mod_lookup_tensor(m, name, 0); }
NN_API nn_tensor *nn_module_buffer(nn_module *m, const char *name) { return nn__mod_lookup_tensor(m, name, 1); }

NN_API nn_module *nn_module_child(nn_module *m, const char *name) {
    const char *last; nn__mod_child *c;
    if (!m) return NULL;
    if (!name) { nn__err(m->ctx, "nn_module_child: name is NULL"); return NULL; }
    m = nn__mod_resolve(m, name, &last);
    if (!m || !last[0]) return m;
    c = nn__mod_find_kid(m, last, strlen(last));
    return c ? c->m : NULL;
}

NN_API int nn_module_num_children(const nn_module *m) { return m ? m->nkid : 0; }

NN_API nn_module *nn_module_child_at(nn_module *m, int k, const char **name) {
    if (name) *name = NULL;
    if (!m || k < 0 || k >= m->nkid) return NULL;
    if (name) *name = m->kid[k].name;
    return m->kid[k].m;
}

/* ---- summary ---- */

#ifndef NN_NO_STDIO
typedef struct nn__mod_summary_frame { nn_module *m; char *path; int cursor; } nn__mod_summary_frame;
typedef struct nn__mod_summary { nn__mod_summary_frame *f; int n, cap; } nn__mod_summary;

static void nn__mod_summary_mark(nn_module *m, void *s) {
    int k;
    m->summary = s;
    for (k = 0; k < m->nkid; k++) nn__mod_summary_mark(m->kid[k].m, s);
}

/* m's path: its name in the running parent, searched from the child used last (Sequential's order). */
static char *nn__mod_summary_path(nn__mod_summary *s, const nn_module *m) {
    nn__mod_summary_frame *f; const char *name = "?"; char *p; size_t len; int j;
    if (s->n == 0) return nn__mod_strdup("");
    f = &s->f[s->n - 1];
    for (j = 0; j < f->m->nkid; j++) {
        int k = (f->cursor + j) % f->m->nkid;
        if (f->m->kid[k].m == m) { name = f->m->kid[k].name; f->cursor = k + 1; break; }
    }
    len = strlen(f->path) + strlen(name) + 2;
    p = NN__CAST(char *, nn__malloc(len));
    if (p) nn__snprintf(p, len, "%s%s%s", f->path, f->path[0] ? "." : "", name);
    return p;
}

static void nn__mod_summary_line(const nn_module *m, const char *path, nn_tensor *const *out, int nout) {
    char s[128], label[256]; int64_t np = 0; int k;
    for (k = 0; k < m->nslot; k++) if (!m->slot[k].is_buffer) np += m->slot[k].t->numel;
    nn__snprintf(label, sizeof label, "%s (%s)", path[0] ? path : "-", m->type);
    printf("%-32s %-24s %12lld\n", label, nout > 0 ? NN__SHAPE(out[0], s) : "-", (long long)np);
}

/* nn_forward_n while nn_module_summary runs: a line for each leaf layer. */
static int nn__mod_summary_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    nn__mod_summary *s = NN__CAST(nn__mod_summary *, m->summary);
    void *p = nn__mod_grow(m->ctx, "nn_module_summary", s->f, &s->cap, s->n + 1, sizeof(nn__mod_summary_frame));
    char *path; int n;
    if (!p) return nn__mod_call_forward(m, in, nin, out, nout);
    s->f = NN__CAST(nn__mod_summary_frame *, p);
    path = nn__mod_summary_path(s, m);
    if (!path) return nn__mod_call_forward(m, in, nin, out, nout);
    s->f[s->n].m = m; s->f[s->n].path = path; s->f[s->n].cursor = 0;
    s->n++;
    n = nn__mod_call_forward(m, in, nin, out, nout);
    s->n--;
    if (m->nkid == 0 && n >= 0) nn__mod_summary_line(m, path, out, nout);
    nn__free(path);
    return n;
}

NN_API void nn_module_summary(nn_module *m, nn_tensor *example_input) {
    nn__mod_summary s; int old; nn_tensor *y = NULL; char sh[128]; int64_t total;
    if (!m) { nn__null_arg(example_input, "nn_module_summary", "m"); return; }
    if (!example_input) { if (!m->ctx->has_error) nn__err(m->ctx, "nn_module_summary: example_input is NULL"); return; }
    total = nn_module_num_parameters(m);
    printf("%-32s %-24s %12s\n", "Layer (type)", "Output Shape", "Param #");
    memset(&s, 0, sizeof s);
    nn__mod_summary_mark(m, &s);
    old = nn_set_grad_enabled(m->ctx, 0);
    nn_forward_n(m, &example_input, 1, &y, 1);
    nn_set_grad_enabled(m->ctx, old);
    nn__mod_summary_mark(m, NULL);
    nn__free(s.f);
    printf("%s: output %s\nTotal params: %lld\n", m->type, NN__SHAPE(y, sh), (long long)total);
}
#endif

/* ---- initialisers ---- */

static int nn__mod_init_check(nn_tensor *t, const char *fn, int need_fans) {
    char s[128];
    if (!t) return 0;
    if (t->dtype != NN_FLOAT32) {
        nn__err(t->ctx, "%s: the tensor is %s; it must be float32", fn, nn_dtype_name(t->dtype));
        return 0;
    }
    if (!nn_is_contiguous(t)) {
        nn__err(t->ctx, "%s: the tensor %s is strided; it must be contiguous", fn, NN__SHAPE(t, s));
        return 0;
    }
    if (need_fans && t->ndim < 2) {
        nn__err(t->ctx, "%s: the tensor is %s; fan in and fan out need 2 or more dims", fn, NN__SHAPE(t, s));
        return 0;
    }
    return 1;
}

static void nn__mod_fans(const nn_tensor *t, double *fan_in, double *fan_out) {
    double rf = 1; int d;
    for (d = 2; d < t->ndim; d++) rf *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * rf;
    *fan_out = (double)t->shape[0] * rf;
}

static void nn__mod_fill_uniform(nn_tensor *t, float a, float b) {
    int64_t i;
    for (i = 0; i < t->numel; i++) NN__F32(t)[i] = a + (b - a) * nn__rng_uniform(&t->ctx->rng);
}

static void nn__mod_fill_normal(nn_tensor *t, float mean, float std) {
    int64_t i;
    for (i = 0; i < t->numel; i++) NN__F32(t)[i] = mean + std * nn__rng_normal(&t->ctx->rng);
}

NN_API void nn_init_uniform_(nn_tensor *t, float a, float b) {
    if (t && !(a >= -3.4e38f && a <= 3.4e38f && b >= -3.4e38f && b <= 3.4e38f)) { nn__err(t->ctx, "nn_init_uniform_: a %g and b %g must be finite", (double)a, (double)b); return; }
    if (nn__mod_init_check(t, "nn_init_uniform_", 0)) nn__mod_fill_uniform(t, a, b);
}
NN_API void nn_init_normal_(nn_tensor *t, float mean, float std) {
    if (t && !(mean >= -3.4e38f && mean <= 3.4e38f && std >= 0 && std <= 3.4e38f)) { nn__err(t->ctx, "nn_init_normal_: mean %g must be finite and std %g finite and >= 0", (double)mean, (double)std); return; }
    if (nn__mod_init_check(t, "nn_init_normal_", 0)) nn__mod_fill_normal(t, mean, std);
}
NN_API void nn_init_constant_(nn_tensor *t, float value) { nn_fill_(t, value); }
NN_API void nn_init_zeros_(nn_tensor *t) { nn_fill_(t, 0.0f); }

NN_API void nn_init_xavier_uniform_(nn_tensor *t, float gain) {
    double fi, fo, a;
    if (t && !(gain >= -3.4e38f && gain <= 3.4e38f)) { nn__err(t->ctx, "nn_init_xavier_uniform_: gain %g must be finite", (double)gain); return; }
    if (!nn__mod_init_check(t, "nn_init_xavier_uniform_", 1)) return;
    nn__mod_fans(t, &fi, &fo);
    a = (double)gain * sqrt(6.0 / (fi + fo));
    nn__mod_fill_uniform(t, (float)-a, (float)a);
}
NN_API void nn_init_xavier_normal_(nn_tensor *t, float gain) {
    double fi, fo;
    if (t && !(gain >= -3.4e38f && gain <= 3.4e38f)) { nn__err(t->ctx, "nn_init_xavier_normal_: gain %g must be finite", (double)gain); return; }
    if (!nn__mod_init_check(t, "nn_init_xavier_normal_", 1)) return;
    nn__mod_fans(t, &fi, &fo);
    nn__mod_fill_normal(t, 0.0f, (float)((double)gain * sqrt(2.0 / (fi + fo))));
}

/* kaiming's std: leaky_relu's gain over sqrt(fan); 0 (with an error) for a bad mode */
static double nn__mod_kaiming_std(nn_tensor *t, const char *fn, float a, nn_fan_mode mode) {
    double fi, fo;
    if (!nn__mod_init_check(t, fn, 1)) return 0;
    if (!(a >= -3.4e38f && a <= 3.4e38f)) { nn__err(t->ctx, "%s: a is %g; it must be finite", fn, (double)a); return 0; }
    if (mode != NN_FAN_IN && mode != NN_FAN_OUT) {
        nn__err(t->ctx, "%s: mode is %d; it must be NN_FAN_IN or NN_FAN_OUT", fn, (int)mode);
        return 0;
    }
    nn__mod_fans(t, &fi, &fo);
    return sqrt(2.0 / (1.0 + (double)a * a)) / sqrt(mode == NN_FAN_OUT ? fo : fi);
}
NN_API void nn_init_kaiming_uniform_(nn_tensor *t, float a, nn_fan_mode mode) {
    double std = nn__mod_kaiming_std(t, "nn_init_kaiming_uniform_", a, mode), bound = sqrt(3.0) * std;
    if (std > 0) nn__mod_fill_uniform(t, (float)-bound, (float)bound);
}
NN_API void nn_init_kaiming_normal_(nn_tensor *t, float a, nn_fan_mode mode) {
    double std = nn__mod_kaiming_std(t, "nn_init_kaiming_normal_", a, mode);
    if (std > 0) nn__mod_fill_normal(t, 0.0f, (float)std);
}

/* ---- Linear, Conv2d, ConvTranspose2d ---- */

/* PyTorch's reset_parameters: kaiming_uniform(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
static void nn__mod_reset_parameters(nn_module *m) {
    nn_tensor *w = nn__mod_own(m, "weight"), *b = nn__mod_own(m, "bias");
    double fi, fo, bound;
    nn_init_kaiming_uniform_(w, sqrtf(5.0f), NN_FAN_IN);
    nn__mod_fans(w, &fi, &fo);
    bound = fi > 0 ? 1.0 / sqrt(fi) : 0;
    if (b) nn_init_uniform_(b, (float)-bound, (float)bound);
}

/* A layer with weight of the given shape and bias (n_out) when bias != 0, PyTorch's initialisation. */
static nn_module *nn__mod_weighted(nn_module *m, int ndim, const int64_t *ws, int64_t n_out, int bias) {
    if (!m) return NULL;
    if (!nn__mod_adopt(m, "weight", nn_empty(m->ctx, ndim, ws), 0)
        || (bias && !nn__mod_adopt(m, "bias", nn_empty(m->ctx, 1, &n_out), 0))) {
        nn__module_release(m);
        return NULL;
    }
    nn__mod_reset_parameters(m);
    return m;
}

/* y = x @ W^T + b; W^T is read in place through its strides */
static nn_tensor *nn__mod_linear_forward(nn_module *m, nn_tensor *x) {
    return nn_linear(x, nn__mod_own(m, "weight"), nn__mod_own(m, "bias"));
}

NN_API nn_module *nn_linear_new(nn_ctx *ctx, int64_t in_f, int64_t out_f, int bias) {
    nn_module *m; int64_t ws[2];
    if (!ctx) return NULL;
    if (in_f <= 0 || out_f <= 0) {
        nn__err(ctx, "nn_linear_new: in_features %lld and out_features %lld must be positive",
                (long long)in_f, (long long)out_f);
        return NULL;
    }
    ws[0] = out_f; ws[1] = in_f;
    m = nn__mod_layer(ctx, "nn_linear_new", "Linear", sizeof(nn_module), nn__mod_linear_forward);
    return nn__mod_weighted(m, 2, ws, out_f, bias);
}

typedef struct nn__mod_conv { nn_module base; nn_conv_opts o; } nn__mod_conv;

static nn_tensor *nn__mod_conv2d_forward(nn_module *m, nn_tensor *x) {
    return nn_conv2d(x, nn__mod_own(m, "weight"), nn__mod_own(m, "bias"), NN__LAYER(nn__mod_conv, m)->o);
}
static nn_tensor *nn__mod_conv_transpose2d_forward(nn_module *m, nn_tensor *x) {
    return nn_conv_transpose2d(x, nn__mod_own(m, "weight"), nn__mod_own(m, "bias"), NN__LAYER(nn__mod_conv, m)->o);
}

static nn_module *nn__mod_conv_new(nn_ctx *ctx, const char *fn, int transposed, int64_t in_c, int64_t out_c, int64_t k,
                               nn_conv_opts o, int bias) {
    nn_module *m; int64_t ws[4], g = o.groups;
    if (!ctx) return NULL;
    if (in_c <= 0 || out_c <= 0 || k <= 0 || g <= 0 || in_c % g || out_c % g) {
        nn__err(ctx, "%s: in_channels %lld, out_channels %lld, kernel_size %lld, groups %lld; all must be positive "
                "and both channel counts divisible by groups",
                fn, (long long)in_c, (long long)out_c, (long long)k, (long long)g);
        return NULL;
    }
    m = transposed ? nn__mod_layer(ctx, fn, "ConvTranspose2d", sizeof(nn__mod_conv), nn__mod_conv_transpose2d_forward)
                   : nn__mod_layer(ctx, fn, "Conv2d", sizeof(nn__mod_conv), nn__mod_conv2d_forward);
    if (!m) return NULL;
    NN__LAYER(nn__mod_conv, m)->o = o;
    ws[0] = transposed ? in_c : out_c; ws[1] = transposed ? out_c / g : in_c / g; ws[2] = ws[3] = k;
    return nn__mod_weighted(m, 4, ws, out_c, bias);
}
NN_API nn_module *nn_conv2d_new(nn_ctx *ctx, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o, int bias) {
    return nn__mod_conv_new(ctx, "nn_conv2d_new", 0, in_c, out_c, k, o, bias);
}
NN_API nn_module *nn_conv_transpose2d_new(nn_ctx *ctx, int64_t in_c, int64_t out_c, int64_t k, nn_conv_opts o,
                                          int bias) {
    return nn__mod_conv_new(ctx, "nn_conv_transpose2d_new", 1, in_c, out_c, k, o, bias);
}

/* ---- pooling, dropout, flatten ---- */

typedef struct nn__mod_pool { nn_module base; nn_pool_opts o; } nn__mod_pool;
static nn_tensor *nn__mod_max_pool2d_forward(nn_module *m, nn_tensor *x) {
    return nn_max_pool2d(x, NN__LAYER(nn__mod_pool, m)->o);
}
static nn_tensor *nn__mod_avg_pool2d_forward(nn_module *m, nn_tensor *x) {
    return nn_avg_pool2d(x, NN__LAYER(nn__mod_pool, m)->o);
}

NN_API nn_module *nn_max_pool2d_new(nn_ctx *ctx, nn_pool_opts o) {
    nn_module *m = nn__mod_layer(ctx, "nn_max_pool2d_new", "MaxPool2d", sizeof(nn__mod_pool),
                                 nn__mod_max_pool2d_forward);
    if (m) NN__LAYER(nn__mod_pool, m)->o = o;
    return m;
}
NN_API nn_module *nn_avg_pool2d_new(nn_ctx *ctx, nn_pool_opts o) {
    nn_module *m = nn__mod_layer(ctx, "nn_avg_pool2d_new", "AvgPool2d", sizeof(nn__mod_pool),
                                 nn__mod_avg_pool2d_forward);
    if (m) NN__LAYER(nn__mod_pool, m)->o = o;
    return m;
}

typedef struct nn__mod_adaptive_pool { nn_module base; int64_t out_h, out_w; } nn__mod_adaptive_pool;
static nn_tensor *nn__mod_adaptive_avg_pool2d_forward(nn_module *m, nn_tensor *x) {
    nn__mod_adaptive_pool *p = NN__LAYER(nn__mod_adaptive_pool, m);
    return nn_adaptive_avg_pool2d(x, p->out_h, p->out_w);
}
NN_API nn_module *nn_adaptive_avg_pool2d_new(nn_ctx *ctx, int64_t oh, int64_t ow) {
    nn_module *m = nn__mod_layer(ctx, "nn_adaptive_avg_pool2d_new", "AdaptiveAvgPool2d", sizeof(nn__mod_adaptive_pool),
                             nn__mod_adaptive_avg_pool2d_forward);
    if (m) { NN__LAYER(nn__mod_adaptive_pool, m)->out_h = oh; NN__LAYER(nn__mod_adaptive_pool, m)->out_w = ow; }
    return m;
}

typedef struct nn__mod_dropout { nn_module base; float p; } nn__mod_dropout;
static nn_tensor *nn__mod_dropout_forward(nn_module *m, nn_tensor *x) {
    return nn_dropout(x, NN__LAYER(nn__mod_dropout, m)->p, m->training);
}
NN_API nn_module *nn_dropout_new(nn_ctx *ctx, float p) {
    nn_module *m;
    if (!ctx) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) {
        nn__err(ctx, "nn_dropout_new: p is %g; it must be between 0 and 1", p);
        return NULL;
    }
    m = nn__mod_layer(ctx, "nn_dropout_new", "Dropout", sizeof(nn__mod_dropout), nn__mod_dropout_forward);
    if (m) NN__LAYER(nn__mod_dropout, m)->p = p;
    return m;
}

typedef struct nn__mod_flatten { nn_module base; int start_dim, end_dim; } nn__mod_flatten;
static nn_tensor *nn__mod_flatten_forward(nn_module *m, nn_tensor *x) {
    nn__mod_flatten *f = NN__LAYER(nn__mod_flatten, m);
    return nn_flatten(x, f->start_dim, f->end_dim);
}
NN_API nn_module *nn_flatten_new(nn_ctx *ctx, int start_dim, int end_dim) {
    nn_module *m = nn__mod_layer(ctx, "nn_flatten_new", "Flatten", sizeof(nn__mod_flatten), nn__mod_flatten_forward);
    if (m) { NN__LAYER(nn__mod_flatten, m)->start_dim = start_dim; NN__LAYER(nn__mod_flatten, m)->end_dim = end_dim; }
    return m;
}

/* ---- normalisation ---- */

static int nn__mod_finite(float v) { return v - v == 0.0f; }   /* NaN and inf give NaN */

static int nn__mod_check_eps(nn_ctx *ctx, const char *fn, float eps) {
    if (eps >= 0.0f && nn__mod_finite(eps)) return 1;
    nn__err(ctx, "%s: eps is %g; it must be finite and 0 or more", fn, eps);
    return 0;
}

typedef struct nn__mod_batch_norm { nn_module base; float eps, momentum; int dims; } nn__mod_batch_norm;

static nn_tensor *nn__mod_batch_norm_forward(nn_module *m, nn_tensor *x) {
    nn__mod_batch_norm *bn = NN__LAYER(nn__mod_batch_norm, m);
    nn_tensor *y, *nbt; char s[128];
    if (x->ndim != (bn->dims == 1 ? 2 : 4) && !(bn->dims == 1 && x->ndim == 3)) {
        nn__err(m->ctx, "%s: input is %s; expected %s", m->type, NN__SHAPE(x, s),
                bn->dims == 1 ? "(N, C) or (N, C, L)" : "(N, C, H, W)");
        return NULL;
    }
    y = nn_batch_norm(x, nn__mod_own(m, "running_mean"), nn__mod_own(m, "running_var"), nn__mod_own(m, "weight"),
                      nn__mod_own(m, "bias"), m->training, bn->momentum, bn->eps);
    nbt = nn__mod_own(m, "num_batches_tracked");
    if (y && m->training && nbt) NN__I64(nbt)[0] += 1;   /* the module's counter, as in PyTorch */
    return y;
}

static nn_module *nn__mod_bn_new(nn_ctx *ctx, const char *fn, const char *type, int dims, int64_t c, float eps,
                                 float momentum, int affine) {
    nn_module *m; int ok;
    if (!ctx) return NULL;
    if (c <= 0) { nn__err(ctx, "%s: num_features is %lld; it must be positive", fn, (long long)c); return NULL; }
    if (!nn__mod_check_eps(ctx, fn, eps)) return NULL;
    if (!nn__mod_finite(momentum)) { nn__err(ctx, "%s: momentum is %g; it must be finite", fn, momentum); return NULL; }
    m = nn__mod_layer(ctx, fn, type, sizeof(nn__mod_batch_norm), nn__mod_batch_norm_forward);
    if (!m) return NULL;
    NN__LAYER(nn__mod_batch_norm, m)->eps = eps;
    NN__LAYER(nn__mod_batch_norm, m)->momentum = momentum;
    NN__LAYER(nn__mod_batch_norm, m)->dims = dims;
    ok = !affine || (nn__mod_adopt(m, "weight", nn_ones(ctx, 1, &c), 0)
                     && nn__mod_adopt(m, "bias", nn_zeros(ctx, 1, &c), 0));
    ok = ok && nn__mod_adopt(m, "running_mean", nn_zeros(ctx, 1, &c), 1)
         && nn__mod_adopt(m, "running_var", nn_ones(ctx, 1, &c), 1)
         && nn__mod_adopt(m, "num_batches_tracked", nn_zeros_dtype(ctx, 0, NULL, NN_INT64), 1);
    if (!ok) { nn__module_release(m); return NULL; }
    return m;
}
NN_API nn_module *nn_batch_norm1d_new(nn_ctx *ctx, int64_t c, float eps, float momentum, int affine) {
    return nn__mod_bn_new(ctx, "nn_batch_norm1d_new", "BatchNorm1d", 1, c, eps, momentum, affine);
}
NN_API nn_module *nn_batch_norm2d_new(nn_ctx *ctx, int64_t c, float eps, float momentum, int affine) {
    return nn__mod_bn_new(ctx, "nn_batch_norm2d_new", "BatchNorm2d", 2, c, eps, momentum, affine);
}

typedef struct nn__mod_layer_norm { nn_module base; int nd; int64_t shape[NN_MAX_DIMS]; float eps; } nn__mod_layer_norm;

static nn_tensor *nn__mod_layer_norm_forward(nn_module *m, nn_tensor *x) {
    nn__mod_layer_norm *ln = NN__LAYER(nn__mod_layer_norm, m);
    char s[128]; int d;
    for (d = 0; d < ln->nd; d++)
        if (x->ndim < ln->nd || x->shape[x->ndim - ln->nd + d] != ln->shape[d]) {
            nn__err(m->ctx, "LayerNorm: input is %s; its last %d dims must be the normalized_shape",
                    NN__SHAPE(x, s), ln->nd);
            return NULL;
        }
    return nn_layer_norm(x, ln->nd, nn__mod_own(m, "weight"), nn__mod_own(m, "bias"), ln->eps);
}

NN_API nn_module *nn_layer_norm_new(nn_ctx *ctx, int nd, const int64_t *shape, float eps, int affine) {
    static const char *fn = "nn_layer_norm_new";
    nn_module *m; int d;
    if (!ctx) return NULL;
    if (nd < 1 || nd > NN_MAX_DIMS || !shape) {
        nn__err(ctx, "%s: normalized_shape has %d dims%s; it must have 1 to %d",
                fn, nd, shape ? "" : " (NULL)", NN_MAX_DIMS);
        return NULL;
    }
    for (d = 0; d < nd; d++) if (shape[d] <= 0) {
        nn__err(ctx, "%s: normalized_shape[%d] is %lld; it must be positive", fn, d, (long long)shape[d]);
        return NULL;
    }
    if (!nn__mod_check_eps(ctx, fn, eps)) return NULL;
    m = nn__mod_layer(ctx, fn, "LayerNorm", sizeof(nn__mod_layer_norm), nn__mod_layer_norm_forward);
    if (!m) return NULL;
    NN__LAYER(nn__mod_layer_norm, m)->nd = nd;
    memcpy(NN__LAYER(nn__mod_layer_norm, m)->shape, shape, (size_t)nd * sizeof(int64_t));
    NN__LAYER(nn__mod_layer_norm, m)->eps = eps;
    if (affine && !(nn__mod_adopt(m, "weight", nn_ones(ctx, nd, shape), 0)
                    && nn__mod_adopt(m, "bias", nn_zeros(ctx, nd, shape), 0))) {
        nn__module_release(m);
        return NULL;
    }
    return m;
}

/* ---- Embedding ---- */

static nn_tensor *nn__mod_embedding_forward(nn_module *m, nn_tensor *x) {
    return nn_embedding(nn__mod_own(m, "weight"), x);
}

NN_API nn_module *nn_embedding_new(nn_ctx *ctx, int64_t num, int64_t dim) {
    nn_module *m; int64_t ws[2];
    if (!ctx) return NULL;
    if (num <= 0 || dim <= 0) {
        nn__err(ctx, "nn_embedding_new: num_embeddings %lld and embedding_dim %lld must be positive",
                (long long)num, (long long)dim);
        return NULL;
    }
    m = nn__mod_layer(ctx, "nn_embedding_new", "Embedding", sizeof(nn_module), nn__mod_embedding_forward);
    if (!m) return NULL;
    ws[0] = num; ws[1] = dim;
    if (!nn__mod_adopt(m, "weight", nn_empty(ctx, 2, ws), 0)) { nn__module_release(m); return NULL; }
    nn_init_normal_(nn__mod_own(m, "weight"), 0.0f, 1.0f);
    return m;
}

/* ---- activations ---- */

static nn_tensor *nn__mod_relu_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_relu(x); }
static nn_tensor *nn__mod_sigmoid_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_sigmoid(x); }
static nn_tensor *nn__mod_tanh_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_tanh(x); }
static nn_tensor *nn__mod_gelu_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_gelu(x); }
static nn_tensor *nn__mod_silu_forward(nn_module *m, nn_tensor *x) { (void)m; return nn_silu(x); }

/* a layer with no options and no parameters */
static nn_module *nn__mod_plain(nn_ctx *ctx, const char *fn, const char *type, nn_forward_fn forward) {
    return nn__mod_layer(ctx, fn, type, sizeof(nn_module), forward);
}
NN_API nn_module *nn_relu_new(nn_ctx *ctx) { return nn__mod_plain(ctx, "nn_relu_new", "ReLU", nn__mod_relu_forward); }
NN_API nn_module *nn_sigmoid_new(nn_ctx *ctx) {
    return nn__mod_plain(ctx, "nn_sigmoid_new", "Sigmoid", nn__mod_sigmoid_forward);
}
NN_API nn_module *nn_tanh_new(nn_ctx *ctx) { return nn__mod_plain(ctx, "nn_tanh_new", "Tanh", nn__mod_tanh_forward); }
NN_API nn_module *nn_gelu_new(nn_ctx *ctx) { return nn__mod_plain(ctx, "nn_gelu_new", "GELU", nn__mod_gelu_forward); }
NN_API nn_module *nn_silu_new(nn_ctx *ctx) { return nn__mod_plain(ctx, "nn_silu_new", "SiLU", nn__mod_silu_forward); }

typedef struct nn__mod_leaky_relu { nn_module base; float negative_slope; } nn__mod_leaky_relu;
static nn_tensor *nn__mod_leaky_relu_forward(nn_module *m, nn_tensor *x) {
    return nn_leaky_relu(x, NN__LAYER(nn__mod_leaky_relu, m)->negative_slope);
}
NN_API nn_module *nn_leaky_relu_new(nn_ctx *ctx, float slope) {
    nn_module *m = nn__mod_layer(ctx, "nn_leaky_relu_new", "LeakyReLU", sizeof(nn__mod_leaky_relu),
                                 nn__mod_leaky_relu_forward);
    if (m) NN__LAYER(nn__mod_leaky_relu, m)->negative_slope = slope;
    return m;
}

typedef struct nn__mod_softmax { nn_module base; int dim; } nn__mod_softmax;
static nn_tensor *nn__mod_softmax_forward(nn_module *m, nn_tensor *x) {
    return nn_softmax(x, NN__LAYER(nn__mod_softmax, m)->dim);
}
static nn_tensor *nn__mod_log_softmax_forward(nn_module *m, nn_tensor *x) {
    return nn_log_softmax(x, NN__LAYER(nn__mod_softmax, m)->dim);
}
NN_API nn_module *nn_softmax_new(nn_ctx *ctx, int dim) {
    nn_module *m = nn__mod_layer(ctx, "nn_softmax_new", "Softmax", sizeof(nn__mod_softmax), nn__mod_softmax_forward);
    if (m) NN__LAYER(nn__mod_softmax, m)->dim = dim;
    return m;
}
NN_API nn_module *nn_log_softmax_new(nn_ctx *ctx, int dim) {
    nn_module *m = nn__mod_layer(ctx, "nn_log_softmax_new", "LogSoftmax", sizeof(nn__mod_softmax),
                                 nn__mod_log_softmax_forward);
    if (m) NN__LAYER(nn__mod_softmax, m)->dim = dim;
    return m;
}
/* ---- recurrent layers: RNN, LSTM, GRU and their cells ---- */
/* Made of ops (linear, sigmoid, tanh, mul, add, slice, stack), so autograd runs through time. */

enum { NN__RNN_TANH = 0, NN__RNN_RELU = 1, NN__RNN_LSTM = 2, NN__RNN_GRU = 3 };
static const char *nn__rnn_types[] = { "RNN", "RNN", "LSTM", "GRU" };
static const char *nn__cell_types[] = { "RNNCell", "RNNCell", "LSTMCell", "GRUCell" };
static int64_t nn__rnn_gates(int mode) { return mode == NN__RNN_LSTM ? 4 : (mode == NN__RNN_GRU ? 3 : 1); }

/* One time step. xp (N, G*H) = W_ih x + b_ih; h (N, H) and c (N, H) may be NULL (zeros).
   Returns h' and puts the LSTM's c' in *c_out. Gates in PyTorch's order: LSTM i, f, g, o; GRU r, z, n
   with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). */
static nn_tensor *nn__rnn_step(int mode, int64_t H, nn_tensor *xp, nn_tensor *h, nn_tensor *c, nn_tensor *w_hh,
                               nn_tensor *b_hh, nn_tensor **c_out) {
    nn_tensor *hp = h ? nn_linear(h, w_hh, b_hh) : b_hh;   /* (N, G*H), (G*H) or NULL: W_hh h + b_hh */
    int last = hp ? hp->ndim - 1 : 0;
    if (h && !hp) return NULL;
    if (mode == NN__RNN_TANH || mode == NN__RNN_RELU) {
        nn_tensor *a = hp ? nn_add(xp, hp) : xp;
        return mode == NN__RNN_RELU ? nn_relu(a) : nn_tanh(a);
    }
    if (mode == NN__RNN_LSTM) {
        nn_tensor *g = hp ? nn_add(xp, hp) : xp, *s = nn_sigmoid(g);   /* (N, 4H) */
        nn_tensor *i = nn_slice(s, 1, 0, H, 1), *f = nn_slice(s, 1, H, 2 * H, 1), *o = nn_slice(s, 1, 3 * H, 4 * H, 1);
        nn_tensor *gg = nn_tanh(nn_slice(g, 1, 2 * H, 3 * H, 1)), *cn;
        cn = c ? nn_add(nn_mul(f, c), nn_mul(i, gg)) : nn_mul(i, gg);
        *c_out = cn;
        return nn_mul(o, nn_tanh(cn));
    }
    {   /* GRU */
        nn_tensor *rz = nn_slice(xp, 1, 0, 2 * H, 1), *r, *z, *n;
        if (hp) rz = nn_add(rz, nn_slice(hp, last, 0, 2 * H, 1));
        rz = nn_sigmoid(rz);
        r = nn_slice(rz, 1, 0, H, 1);
        z = nn_slice(rz, 1, H, 2 * H, 1);
        n = nn_slice(xp, 1, 2 * H, 3 * H, 1);
        if (hp) n = nn_add(n, nn_mul(r, nn_slice(hp, last, 2 * H, 3 * H, 1)));
        n = nn_tanh(n);
        return h ? nn_add(n, nn_mul(z, nn_sub(h, n))) : nn_sub(n, nn_mul(z, n));   /* (1 - z) n + z h */
    }
}

typedef struct nn__mod_rnn {
    nn_module base;
    int mode;
    int64_t in, H, layers, dirs;
    int batch_first;
    float dropout;
} nn__mod_rnn;

static nn_tensor *nn__rnn_param(nn_module *m, const char *fmt, int64_t layer, const char *suffix) {
    char name[48];
    nn__snprintf(name, sizeof name, fmt, (long long)layer, suffix);
    return nn__mod_own(m, name);
}

/* h0 or c0: (D*layers, N, H); NULL is fine */
static int nn__rnn_check_state(nn_module *m, const char *what, const nn_tensor *s0, int64_t n_states, int64_t N, int64_t H,
                               int unbatched) {
    char s[128];
    if (!s0) return 1;
    if (s0->dtype != NN_FLOAT32 || s0->ndim != (unbatched ? 2 : 3) || s0->shape[0] != n_states
        || (!unbatched && s0->shape[1] != N) || s0->shape[s0->ndim - 1] != H) {
        if (unbatched) nn__err(m->ctx, "%s: %s is %s; expected float32 (%lld, %lld) for an unbatched input", m->type, what,
                               NN__SHAPE(s0, s), (long long)n_states, (long long)H);
        else nn__err(m->ctx, "%s: %s is %s; expected float32 (%lld, %lld, %lld) (num_layers * num_directions, batch, hidden_size)",
                     m->type, what, NN__SHAPE(s0, s), (long long)n_states, (long long)N, (long long)H);
        return 0;
    }
    return 1;
}

/* A zero state (N, H) in the step arena, as PyTorch makes for a missing h0/c0/hx (weight_hh then gets a
   zero gradient rather than none, as in PyTorch). */
static nn_tensor *nn__rnn_zero_state(nn_ctx *ctx, const char *type, int64_t N, int64_t H) {
    int64_t sh[2];
    nn_tensor *z;
    sh[0] = N; sh[1] = H;
    z = nn__new_arena(ctx, type, 2, sh, 1);
    if (z) memset(z->data, 0, (size_t)(N * H) * sizeof(float));
    return z;
}

/* One direction of one layer over the whole sequence: x (T, N, in) -> (T, N, H); the last h (and c) out. */
static nn_tensor *nn__rnn_direction(nn_module *m, int64_t layer, int reverse, nn_tensor *x, nn_tensor **h, nn_tensor **c) {
    nn__mod_rnn *r = NN__LAYER(nn__mod_rnn, m);
    const char *sfx = reverse ? "_reverse" : "";
    int64_t T = x->shape[0], s;
    nn_tensor *w_ih = nn__rnn_param(m, "weight_ih_l%lld%s", layer, sfx), *w_hh = nn__rnn_param(m, "weight_hh_l%lld%s", layer, sfx);
    nn_tensor *b_ih = nn__rnn_param(m, "bias_ih_l%lld%s", layer, sfx), *b_hh = nn__rnn_param(m, "bias_hh_l%lld%s", layer, sfx);
    nn_tensor *xp = nn_linear(x, w_ih, b_ih), **outs;   /* (T, N, G*H): every step's input projection at once */
    if (!xp) return NULL;
    outs = NN__CAST(nn_tensor **, nn__arena_alloc(m->ctx, (size_t)T * sizeof(nn_tensor *)));
    if (!outs) { nn__err(m->ctx, "%s: out of memory", m->type); return NULL; }
    for (s = 0; s < T; s++) {
        int64_t t = reverse ? T - 1 - s : s;
        *h = nn__rnn_step(r->mode, r->H, nn_select(xp, 0, t), *h, *c, w_hh, b_hh, c);
        if (!*h) return NULL;
        outs[t] = *h;
    }
    return nn_stack(outs, (int)T, 0);
}

static int nn__mod_rnn_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    nn__mod_rnn *r = NN__LAYER(nn__mod_rnn, m);
    int lstm = r->mode == NN__RNN_LSTM, unbatched, k;
    nn_tensor *x, *h0, *c0, *y, **hn, **cn, *dir_out[2];
    int64_t N, l, d, ns = r->dirs * r->layers;
    char s[128];
    if (nin < 1 || nin > (lstm ? 3 : 2)) {
        nn__err(m->ctx, "%s: takes %s; %d inputs were given", m->type, lstm ? "(input, h0, c0)" : "(input, h0)", nin);
        return -1;
    }
    x = in[0]; h0 = nin > 1 ? in[1] : NULL; c0 = nin > 2 ? in[2] : NULL;
    if (!x) { if (!nn_error(m->ctx)) nn__err(m->ctx, "%s: input is NULL", m->type); return -1; }
    if (!nn__check_live(x, m->type) || (h0 && !nn__check_live(h0, m->type)) || (c0 && !nn__check_live(c0, m->type))) return -1;
    if (lstm && (h0 == NULL) != (c0 == NULL)) {
        nn__err(m->ctx, "%s: %s is given and %s is not; give both h0 and c0 or neither", m->type, h0 ? "h0" : "c0", h0 ? "c0" : "h0");
        return -1;
    }
    if (x->dtype != NN_FLOAT32 || (x->ndim != 2 && x->ndim != 3) || x->shape[x->ndim - 1] != r->in || x->shape[0] < 1
        || x->shape[x->ndim - 2] < 1) {
        nn__err(m->ctx, "%s: input is %s %s; expected float32 %s with input_size %lld and no empty dim", m->type,
                nn_dtype_name(x->dtype), NN__SHAPE(x, s), r->batch_first ? "(N, L, input_size) or (L, input_size)"
                : "(L, N, input_size) or (L, input_size)", (long long)r->in);
        return -1;
    }
    unbatched = x->ndim == 2;
    if (unbatched) x = nn_unsqueeze(x, 1);
    else if (r->batch_first) x = nn_transpose(x, 0, 1);   /* (T, N, in) */
    if (!x) return -1;
    N = x->shape[1];
    if (!nn__rnn_check_state(m, "h0", h0, ns, N, r->H, unbatched) || !nn__rnn_check_state(m, "c0", c0, ns, N, r->H, unbatched))
        return -1;
    if (unbatched && ((h0 && !(h0 = nn_unsqueeze(h0, 1))) || (c0 && !(c0 = nn_unsqueeze(c0, 1))))) return -1;
    hn = NN__CAST(nn_tensor **, nn__arena_alloc(m->ctx, (size_t)(2 * ns) * sizeof(nn_tensor *)));
    if (!hn) { nn__err(m->ctx, "%s: out of memory", m->type); return -1; }
    cn = hn + ns;
    for (l = 0; l < r->layers; l++) {
        for (d = 0; d < r->dirs; d++) {
            int64_t k2 = l * r->dirs + d;
            nn_tensor *h = h0 ? nn_select(h0, 0, k2) : nn__rnn_zero_state(m->ctx, m->type, N, r->H);
            nn_tensor *c = c0 ? nn_select(c0, 0, k2) : (lstm ? nn__rnn_zero_state(m->ctx, m->type, N, r->H) : NULL);
            if (!h || (lstm && !c)) return -1;
            dir_out[d] = nn__rnn_direction(m, l, (int)d, x, &h, &c);
            if (!dir_out[d]) return -1;
            hn[k2] = h; cn[k2] = c;
        }
        x = r->dirs == 2 ? nn_cat(dir_out, 2, 2) : dir_out[0];   /* (T, N, D*H) */
        if (x && r->dropout > 0.0f && m->training && l < r->layers - 1) x = nn_dropout(x, r->dropout, 1);
        if (!x) return -1;
    }
    y = unbatched ? nn_squeeze(x, 1) : (r->batch_first ? nn_contiguous(nn_transpose(x, 0, 1)) : x);
    if (nout > 0) out[0] = y;
    if (nout > 1) { out[1] = nn_stack(hn, (int)ns, 0); if (unbatched) out[1] = nn_squeeze(out[1], 1); }
    if (nout > 2 && lstm) { out[2] = nn_stack(cn, (int)ns, 0); if (unbatched) out[2] = nn_squeeze(out[2], 1); }
    for (k = 0; k < nout && k < (lstm ? 3 : 2); k++) if (!out[k]) return -1;
    return lstm ? 3 : 2;
}

/* A parameter (rows, cols) or (rows) when cols is 0, U(-bound, bound). */
static int nn__rnn_add_param(nn_module *m, const char *name, int64_t rows, int64_t cols, float bound) {
    int64_t sh[2];
    sh[0] = rows; sh[1] = cols;
    if (!nn__mod_adopt(m, name, nn_empty(m->ctx, cols ? 2 : 1, sh), 0)) return 0;
    nn_init_uniform_(nn__mod_own(m, name), -bound, bound);
    return 1;
}

static int nn__rnn_check_sizes(nn_ctx *ctx, const char *fn, int64_t in, int64_t H) {
    if (in > 0 && H > 0 && in <= INT64_MAX / 8 && H <= INT64_MAX / 8) return 1;
    nn__err(ctx, "%s: input_size %lld and hidden_size %lld must be positive (and below 2^60)", fn, (long long)in, (long long)H);
    return 0;
}

static nn_module *nn__rnn_new(nn_ctx *ctx, const char *fn, int mode, int64_t in, int64_t H, nn_rnn_opts o) {
    nn_module *m; nn__mod_rnn *r; int64_t l, d, G = nn__rnn_gates(mode);
    float bound;
    if (!ctx || !nn__rnn_check_sizes(ctx, fn, in, H)) return NULL;
    if (o.num_layers < 1 || o.num_layers > 65536) {
        nn__err(ctx, "%s: num_layers is %lld; it must be 1 to 65536", fn, (long long)o.num_layers);
        return NULL;
    }
    if (!(o.dropout >= 0.0f && o.dropout <= 1.0f)) { nn__err(ctx, "%s: dropout is %g; it must be in [0, 1]", fn, o.dropout); return NULL; }
    if (o.nonlinearity != NN_RNN_TANH && o.nonlinearity != NN_RNN_RELU) {
        nn__err(ctx, "%s: nonlinearity is %d; expected NN_RNN_TANH or NN_RNN_RELU", fn, (int)o.nonlinearity);
        return NULL;
    }
    if (mode == NN__RNN_TANH && o.nonlinearity == NN_RNN_RELU) mode = NN__RNN_RELU;
    m = nn__module_alloc(ctx, fn, nn__rnn_types[mode], sizeof(nn__mod_rnn));
    if (!m) return NULL;
    m->forward_n = nn__mod_rnn_forward;
    r = NN__LAYER(nn__mod_rnn, m);
    r->mode = mode; r->in = in; r->H = H; r->layers = o.num_layers; r->dirs = o.bidirectional ? 2 : 1;
    r->batch_first = o.batch_first != 0; r->dropout = o.dropout;
    bound = (float)(1.0 / sqrt((double)H));
    for (l = 0; l < r->layers; l++)
        for (d = 0; d < r->dirs; d++) {
            char nm[4][48]; const char *sfx = d ? "_reverse" : ""; int ok;
            nn__snprintf(nm[0], sizeof nm[0], "weight_ih_l%lld%s", (long long)l, sfx);
            nn__snprintf(nm[1], sizeof nm[1], "weight_hh_l%lld%s", (long long)l, sfx);
            nn__snprintf(nm[2], sizeof nm[2], "bias_ih_l%lld%s", (long long)l, sfx);
            nn__snprintf(nm[3], sizeof nm[3], "bias_hh_l%lld%s", (long long)l, sfx);
            ok = nn__rnn_add_param(m, nm[0], G * H, l ? r->dirs * H : in, bound) && nn__rnn_add_param(m, nm[1], G * H, H, bound)
                 && (!o.bias || (nn__rnn_add_param(m, nm[2], G * H, 0, bound) && nn__rnn_add_param(m, nm[3], G * H, 0, bound)));
            if (!ok) { nn__module_release(m); return NULL; }
        }
    return m;
}

NN_API nn_rnn_opts nn_rnn_opts_default(void) {
    nn_rnn_opts o;
    o.num_layers = 1; o.nonlinearity = NN_RNN_TANH; o.bias = 1; o.batch_first = 0; o.dropout = 0.0f; o.bidirectional = 0;
    return o;
}
NN_API nn_module *nn_rnn_new(nn_ctx *ctx, int64_t in, int64_t H, nn_rnn_opts o) { return nn__rnn_new(ctx, "nn_rnn_new", NN__RNN_TANH, in, H, o); }
NN_API nn_module *nn_lstm_new(nn_ctx *ctx, int64_t in, int64_t H, nn_rnn_opts o) { return nn__rnn_new(ctx, "nn_lstm_new", NN__RNN_LSTM, in, H, o); }
NN_API nn_module *nn_gru_new(nn_ctx *ctx, int64_t in, int64_t H, nn_rnn_opts o) { return nn__rnn_new(ctx, "nn_gru_new", NN__RNN_GRU, in, H, o); }

/* the cells: one step, inputs (input, hx[, cx]) */
typedef struct nn__mod_cell { nn_module base; int mode; int64_t in, H; } nn__mod_cell;

static int nn__mod_cell_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    nn__mod_cell *cl = NN__LAYER(nn__mod_cell, m);
    int lstm = cl->mode == NN__RNN_LSTM, unbatched;
    nn_tensor *x, *h, *c, *hn, *cn = NULL;
    char s[128];
    if (nin < 1 || nin > (lstm ? 3 : 2)) {
        nn__err(m->ctx, "%s: takes %s; %d inputs were given", m->type, lstm ? "(input, hx, cx)" : "(input, hx)", nin);
        return -1;
    }
    x = in[0]; h = nin > 1 ? in[1] : NULL; c = nin > 2 ? in[2] : NULL;
    if (!x) { if (!nn_error(m->ctx)) nn__err(m->ctx, "%s: input is NULL", m->type); return -1; }
    if (!nn__check_live(x, m->type) || (h && !nn__check_live(h, m->type)) || (c && !nn__check_live(c, m->type))) return -1;
    if (lstm && (h == NULL) != (c == NULL)) {
        nn__err(m->ctx, "%s: %s is given and %s is not; give both hx and cx or neither", m->type, h ? "hx" : "cx", h ? "cx" : "hx");
        return -1;
    }
    if (x->dtype != NN_FLOAT32 || (x->ndim != 1 && x->ndim != 2) || x->shape[x->ndim - 1] != cl->in) {
        nn__err(m->ctx, "%s: input is %s %s; expected float32 (N, %lld) or (%lld)", m->type, nn_dtype_name(x->dtype),
                NN__SHAPE(x, s), (long long)cl->in, (long long)cl->in);
        return -1;
    }
    unbatched = x->ndim == 1;
    {
        int64_t N = unbatched ? 1 : x->shape[0];
        const nn_tensor *st[2]; const char *nm[2] = { "hx", "cx" }; int k;
        st[0] = h; st[1] = c;
        for (k = 0; k < 2; k++)
            if (st[k] && (st[k]->dtype != NN_FLOAT32 || st[k]->ndim != x->ndim || st[k]->shape[st[k]->ndim - 1] != cl->H
                          || (!unbatched && st[k]->shape[0] != N))) {
                nn__err(m->ctx, "%s: %s is %s; expected float32 %s(%lld)", m->type, nm[k], NN__SHAPE(st[k], s),
                        unbatched ? "" : "(N, hidden_size) = ", (long long)cl->H);
                return -1;
            }
    }
    if (unbatched && (!(x = nn_unsqueeze(x, 0)) || (h && !(h = nn_unsqueeze(h, 0))) || (c && !(c = nn_unsqueeze(c, 0))))) return -1;
    if (x && !h) h = nn__rnn_zero_state(m->ctx, m->type, x->shape[0], cl->H);
    if (x && lstm && !c) c = nn__rnn_zero_state(m->ctx, m->type, x->shape[0], cl->H);
    if (!x || !h || (lstm && !c)) return -1;
    hn = nn__rnn_step(cl->mode, cl->H, nn_linear(x, nn__mod_own(m, "weight_ih"), nn__mod_own(m, "bias_ih")), h, c,
                      nn__mod_own(m, "weight_hh"), nn__mod_own(m, "bias_hh"), &cn);
    if (!hn || (lstm && !cn)) return -1;
    if (unbatched) { hn = nn_squeeze(hn, 0); if (cn) cn = nn_squeeze(cn, 0); }
    if (nout > 0) out[0] = hn;
    if (nout > 1 && lstm) out[1] = cn;
    return lstm ? 2 : 1;
}

static nn_module *nn__cell_new(nn_ctx *ctx, const char *fn, int mode, int64_t in, int64_t H, int bias) {
    nn_module *m; nn__mod_cell *cl; int64_t G = nn__rnn_gates(mode);
    float bound;
    if (!ctx || !nn__rnn_check_sizes(ctx, fn, in, H)) return NULL;
    m = nn__module_alloc(ctx, fn, nn__cell_types[mode], sizeof(nn__mod_cell));
    if (!m) return NULL;
    m->forward_n = nn__mod_cell_forward;
    cl = NN__LAYER(nn__mod_cell, m);
    cl->mode = mode; cl->in = in; cl->H = H;
    bound = (float)(1.0 / sqrt((double)H));
    if (!nn__rnn_add_param(m, "weight_ih", G * H, in, bound) || !nn__rnn_add_param(m, "weight_hh", G * H, H, bound)
        || (bias && (!nn__rnn_add_param(m, "bias_ih", G * H, 0, bound) || !nn__rnn_add_param(m, "bias_hh", G * H, 0, bound)))) {
        nn__module_release(m);
        return NULL;
    }
    return m;
}
NN_API nn_module *nn_rnn_cell_new(nn_ctx *ctx, int64_t in, int64_t H, int bias, nn_rnn_nonlinearity nl) {
    if (ctx && nl != NN_RNN_TANH && nl != NN_RNN_RELU) {
        nn__err(ctx, "nn_rnn_cell_new: nonlinearity is %d; expected NN_RNN_TANH or NN_RNN_RELU", (int)nl);
        return NULL;
    }
    return nn__cell_new(ctx, "nn_rnn_cell_new", nl == NN_RNN_RELU ? NN__RNN_RELU : NN__RNN_TANH, in, H, bias);
}
NN_API nn_module *nn_lstm_cell_new(nn_ctx *ctx, int64_t in, int64_t H, int bias) {
    return nn__cell_new(ctx, "nn_lstm_cell_new", NN__RNN_LSTM, in, H, bias);
}
NN_API nn_module *nn_gru_cell_new(nn_ctx *ctx, int64_t in, int64_t H, int bias) {
    return nn__cell_new(ctx, "nn_gru_cell_new", NN__RNN_GRU, in, H, bias);
}
/* ---- attention and transformers ---- */

typedef struct nn__mod_mha { nn_module base; int64_t E, heads; float dropout; int batch_first, average; } nn__mod_mha;

/* A (rows, E) block of a packed (3E, ...) tensor: q, k or v's projection. */
static nn_tensor *nn__mha_part(nn_tensor *packed, int64_t part, int64_t E) {
    return packed ? nn_slice(packed, 0, part * E, (part + 1) * E, 1) : NULL;
}

/* (T, N, E) -> (N, heads, T, hd) after the projection */
static nn_tensor *nn__mha_heads(nn_tensor *x, nn_tensor *w, nn_tensor *b, int64_t heads) {
    static const int perm[4] = { 1, 2, 0, 3 };
    int64_t sh[4];
    nn_tensor *p = nn_linear(x, w, b);
    if (!p) return NULL;
    sh[0] = p->shape[0]; sh[1] = p->shape[1]; sh[2] = heads; sh[3] = p->shape[2] / heads;
    return nn_permute(nn_reshape(p, 4, sh), perm);
}

/* A mask's shape against (N, heads, L, S): key_padding_mask (N, S), attn_mask (L, S) or (N*heads, L, S);
   returned as a view that broadcasts over the scores. */
static nn_tensor *nn__mha_mask(nn_module *m, const char *what, nn_tensor *mask, int64_t N, int64_t heads, int64_t L, int64_t S) {
    int64_t sh[4];
    char s[128];
    if (!mask) return NULL;
    if (mask->dtype != NN_INT64 && mask->dtype != NN_FLOAT32) {
        nn__err(m->ctx, "%s: %s is %s; expected int64 (boolean, nonzero masked) or float32 (added)", m->type, what, nn_dtype_name(mask->dtype));
        return NULL;
    }
    if (!strcmp(what, "key_padding_mask")) {
        if (mask->ndim != 2 || mask->shape[0] != N || mask->shape[1] != S) {
            nn__err(m->ctx, "%s: key_padding_mask is %s; expected (%lld, %lld) (batch, source length)", m->type, NN__SHAPE(mask, s),
                    (long long)N, (long long)S);
            return NULL;
        }
        sh[0] = N; sh[1] = 1; sh[2] = 1; sh[3] = S;
        return nn_reshape(mask, 4, sh);
    }
    if (mask->ndim == 2 && mask->shape[0] == L && mask->shape[1] == S) return mask;
    if (mask->ndim == 3 && mask->shape[0] == N * heads && mask->shape[1] == L && mask->shape[2] == S) {
        sh[0] = N; sh[1] = heads; sh[2] = L; sh[3] = S;
        return nn_reshape(mask, 4, sh);
    }
    nn__err(m->ctx, "%s: attn_mask is %s; expected (%lld, %lld) or (%lld, %lld, %lld) (batch * num_heads, target, source)",
            m->type, NN__SHAPE(mask, s), (long long)L, (long long)S, (long long)(N * heads), (long long)L, (long long)S);
    return NULL;
}

/* Attention over seq-first batched q (L, N, E), k and v (S, N, E): the output (L, N, E) and, when weights is
   not NULL, the weights (N, heads, L, S) or their mean over heads. */
static nn_tensor *nn__mha_core(nn_module *m, nn_tensor *q, nn_tensor *k, nn_tensor *v, nn_tensor *kpm, nn_tensor *am,
                               nn_tensor **weights) {
    static const int back[4] = { 2, 0, 1, 3 };
    nn__mod_mha *a = NN__LAYER(nn__mod_mha, m);
    int64_t E = a->E, Hh = a->heads, L = q->shape[0], N = q->shape[1], S = k->shape[0], sh[3];
    nn_tensor *W = nn__mod_own(m, "in_proj_weight"), *B = nn__mod_own(m, "in_proj_bias"), *qh, *kh, *vh, *sc, *o;
    if ((kpm && !(kpm = nn__mha_mask(m, "key_padding_mask", kpm, N, Hh, L, S))) || (am && !(am = nn__mha_mask(m, "attn_mask", am, N, Hh, L, S))))
        return NULL;
    qh = nn__mha_heads(q, nn__mha_part(W, 0, E), nn__mha_part(B, 0, E), Hh);   /* (N, heads, L, hd) */
    kh = nn__mha_heads(k, nn__mha_part(W, 1, E), nn__mha_part(B, 1, E), Hh);   /* (N, heads, S, hd) */
    vh = nn__mha_heads(v, nn__mha_part(W, 2, E), nn__mha_part(B, 2, E), Hh);
    sc = nn_mul_scalar(nn_matmul(qh, nn_transpose(kh, -2, -1)), (float)(1.0 / sqrt((double)(E / Hh))));   /* (N, heads, L, S) */
    sc = nn__attn_mask(m->type, sc, am, 0, 0);
    sc = nn__attn_mask(m->type, sc, kpm, 0, 0);
    sc = nn_softmax(sc, -1);
    if (sc && a->dropout > 0.0f && m->training) sc = nn_dropout(sc, a->dropout, 1);
    o = nn_permute(nn_matmul(sc, vh), back);   /* (L, N, heads, hd) */
    sh[0] = L; sh[1] = N; sh[2] = E;
    o = nn_forward(nn_module_child(m, "out_proj"), nn_reshape(o, 3, sh));
    if (weights) *weights = a->average ? nn_mean(sc, 1, 0) : sc;
    return o;
}

/* The module's forward with its shapes: batch_first, unbatched. */
static nn_tensor *nn__mha_forward(nn_module *m, nn_tensor *q, nn_tensor *k, nn_tensor *v, nn_tensor *kpm, nn_tensor *am,
                                  nn_tensor **weights) {
    nn__mod_mha *a = NN__LAYER(nn__mod_mha, m);
    nn_tensor *xs[3], *o;
    char s1[128], s2[128], s3[128]; int i, unbatched;
    xs[0] = q; xs[1] = k; xs[2] = v;
    for (i = 0; i < 3; i++) if (!xs[i]) { if (!nn_error(m->ctx)) nn__err(m->ctx, "%s: query, key or value is NULL", m->type); return NULL; }
    for (i = 0; i < 3; i++) if (!nn__check_live(xs[i], m->type)) return NULL;
    if ((kpm && !nn__check_live(kpm, m->type)) || (am && !nn__check_live(am, m->type))) return NULL;
    unbatched = q->ndim == 2;
    for (i = 0; i < 3; i++)
        if (xs[i]->dtype != NN_FLOAT32 || xs[i]->ndim != q->ndim || (q->ndim != 2 && q->ndim != 3) || xs[i]->shape[xs[i]->ndim - 1] != a->E
            || (!unbatched && xs[i]->shape[a->batch_first ? 0 : 1] != q->shape[a->batch_first ? 0 : 1])
            || k->shape[unbatched || !a->batch_first ? 0 : 1] != v->shape[unbatched || !a->batch_first ? 0 : 1]) {
            nn__err(m->ctx, "%s: query is %s, key %s and value %s; expected float32 %s with embed_dim %lld, one batch size, and key "
                    "and value of one length", m->type, NN__SHAPE(q, s1), NN__SHAPE(k, s2), NN__SHAPE(v, s3),
                    a->batch_first ? "(N, L, E)" : "(L, N, E)", (long long)a->E);
            return NULL;
        }
    if (unbatched) {
        q = nn_unsqueeze(q, 1); k = nn_unsqueeze(k, 1); v = nn_unsqueeze(v, 1);
        if (kpm && kpm->ndim != 1) {
            char s4[128];
            nn__err(m->ctx, "%s: key_padding_mask is %s; expected (S) for an unbatched query", m->type, NN__SHAPE(kpm, s4));
            return NULL;
        }
        if (kpm && !(kpm = nn_unsqueeze(kpm, 0))) return NULL;
    } else if (a->batch_first) {
        q = nn_transpose(q, 0, 1); k = nn_transpose(k, 0, 1); v = nn_transpose(v, 0, 1);
    }
    if (!q || !k || !v) return NULL;
    o = nn__mha_core(m, q, k, v, kpm, am, weights);
    if (unbatched) {
        o = nn_squeeze(o, 1);
        if (weights) *weights = nn_squeeze(*weights, 0);
    } else if (a->batch_first) o = nn_contiguous(nn_transpose(o, 0, 1));
    return o;
}

static int nn__mod_mha_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    nn_tensor *w = NULL, *o;
    if (nin < 3 || nin > 5) {
        nn__err(m->ctx, "%s: takes (query, key, value, key_padding_mask, attn_mask), the masks optional; %d inputs were given", m->type, nin);
        return -1;
    }
    o = nn__mha_forward(m, in[0], in[1], in[2], nin > 3 ? in[3] : NULL, nin > 4 ? in[4] : NULL, nout > 1 ? &w : NULL);
    if (!o || (nout > 1 && !w)) return -1;
    if (nout > 0) out[0] = o;
    if (nout > 1) out[1] = w;
    return 2;
}

NN_API nn_mha_opts nn_mha_opts_default(void) {
    nn_mha_opts o;
    o.dropout = 0.0f; o.bias = 1; o.batch_first = 0; o.average_attn_weights = 1;
    return o;
}

NN_API nn_module *nn_multihead_attention_new(nn_ctx *ctx, int64_t E, int64_t heads, nn_mha_opts o) {
    static const char *fn = "nn_multihead_attention_new";
    nn_module *m, *proj; nn__mod_mha *a; int64_t sh[2];
    if (!ctx) return NULL;
    if (E <= 0 || heads <= 0 || E % heads || E > INT64_MAX / 8) {
        nn__err(ctx, "%s: embed_dim %lld and num_heads %lld must be positive, and embed_dim divisible by num_heads (and below 2^60)", fn,
                (long long)E, (long long)heads);
        return NULL;
    }
    if (!(o.dropout >= 0.0f && o.dropout <= 1.0f)) { nn__err(ctx, "%s: dropout is %g; it must be in [0, 1]", fn, o.dropout); return NULL; }
    m = nn__module_alloc(ctx, fn, "MultiheadAttention", sizeof(nn__mod_mha));
    if (!m) return NULL;
    m->forward_n = nn__mod_mha_forward;
    a = NN__LAYER(nn__mod_mha, m);
    a->E = E; a->heads = heads; a->dropout = o.dropout; a->batch_first = o.batch_first != 0; a->average = o.average_attn_weights != 0;
    sh[0] = 3 * E; sh[1] = E;
    if (!nn__mod_adopt(m, "in_proj_weight", nn_empty(ctx, 2, sh), 0) || (o.bias && !nn__mod_adopt(m, "in_proj_bias", nn_zeros(ctx, 1, sh), 0))) {
        nn__module_release(m);
        return NULL;
    }
    nn_init_xavier_uniform_(nn__mod_own(m, "in_proj_weight"), 1.0f);
    proj = nn_linear_new(ctx, E, E, o.bias);
    if (!proj || !nn_module_add(m, "out_proj", proj)) { nn_module_free(proj); nn__module_release(m); return NULL; }
    if (o.bias) nn_init_zeros_(nn__mod_own(proj, "bias"));
    return m;
}

/* ---- TransformerEncoderLayer ---- */

typedef struct nn__mod_encoder { nn_module base; int norm_first; nn_activation act; } nn__mod_encoder;

static nn_tensor *nn__encoder_sa(nn_module *m, nn_tensor *x, nn_tensor *mask, nn_tensor *kpm) {
    nn_tensor *in[5], *o = NULL;
    in[0] = in[1] = in[2] = x; in[3] = kpm; in[4] = mask;
    if (nn_forward_n(nn_module_child(m, "self_attn"), in, 5, &o, 1) < 0) return NULL;
    return nn_forward(nn_module_child(m, "dropout1"), o);
}
static nn_tensor *nn__encoder_ff(nn_module *m, nn_tensor *x) {
    nn__mod_encoder *e = NN__LAYER(nn__mod_encoder, m);
    nn_tensor *h = nn_forward(nn_module_child(m, "linear1"), x);
    h = e->act == NN_ACT_GELU ? nn_gelu(h) : nn_relu(h);
    h = nn_forward(nn_module_child(m, "linear2"), nn_forward(nn_module_child(m, "dropout"), h));
    return nn_forward(nn_module_child(m, "dropout2"), h);
}
static int nn__mod_encoder_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    nn_module *n1 = nn_module_child(m, "norm1"), *n2 = nn_module_child(m, "norm2");
    nn_tensor *x, *mask, *kpm;
    if (nin < 1 || nin > 3) {
        nn__err(m->ctx, "%s: takes (src, src_mask, src_key_padding_mask), the masks optional; %d inputs were given", m->type, nin);
        return -1;
    }
    x = in[0]; mask = nin > 1 ? in[1] : NULL; kpm = nin > 2 ? in[2] : NULL;
    if (!x) { if (!nn_error(m->ctx)) nn__err(m->ctx, "%s: src is NULL", m->type); return -1; }
    if (NN__LAYER(nn__mod_encoder, m)->norm_first) {
        x = nn_add(x, nn__encoder_sa(m, nn_forward(n1, x), mask, kpm));
        x = nn_add(x, nn__encoder_ff(m, nn_forward(n2, x)));
    } else {
        x = nn_forward(n1, nn_add(x, nn__encoder_sa(m, x, mask, kpm)));
        x = nn_forward(n2, nn_add(x, nn__encoder_ff(m, x)));
    }
    if (!x) return -1;
    if (nout > 0) out[0] = x;
    return 1;
}

NN_API nn_transformer_opts nn_transformer_opts_default(void) {
    nn_transformer_opts o;
    o.dim_feedforward = 2048; o.dropout = 0.1f; o.activation = NN_ACT_RELU; o.layer_norm_eps = 1e-5f;
    o.batch_first = 0; o.norm_first = 0;
    return o;
}

/* Adds each (name, child) in order; on a failure frees the rest and returns 0. */
static int nn__mod_add_all(nn_module *m, const char *const *names, nn_module **kids, int n) {
    int k, ok = 1;
    for (k = 0; k < n; k++) {
        if (ok && kids[k] && nn_module_add(m, names[k], kids[k])) continue;
        ok = 0;
        nn_module_free(kids[k]);
    }
    return ok;
}

NN_API nn_module *nn_transformer_encoder_layer_new(nn_ctx *ctx, int64_t d, int64_t nhead, nn_transformer_opts o) {
    static const char *fn = "nn_transformer_encoder_layer_new";
    static const char *names[8] = { "self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2" };
    nn_module *m, *kids[8]; nn_mha_opts ao = nn_mha_opts_default(); int k;
    if (!ctx) return NULL;
    if (d <= 0 || nhead <= 0 || d % nhead || d > INT64_MAX / 8) {
        nn__err(ctx, "%s: d_model %lld and nhead %lld must be positive, and d_model divisible by nhead (and below 2^60)", fn,
                (long long)d, (long long)nhead);
        return NULL;
    }
    if (o.dim_feedforward <= 0 || (o.activation != NN_ACT_RELU && o.activation != NN_ACT_GELU)) {
        nn__err(ctx, "%s: dim_feedforward %lld must be positive and activation NN_ACT_RELU or NN_ACT_GELU (got %d)", fn,
                (long long)o.dim_feedforward, (int)o.activation);
        return NULL;
    }
    if (!(o.dropout >= 0.0f && o.dropout <= 1.0f)) { nn__err(ctx, "%s: dropout is %g; it must be in [0, 1]", fn, o.dropout); return NULL; }
    if (!nn__mod_check_eps(ctx, fn, o.layer_norm_eps)) return NULL;
    m = nn__module_alloc(ctx, fn, "TransformerEncoderLayer", sizeof(nn__mod_encoder));
    if (!m) return NULL;
    m->forward_n = nn__mod_encoder_forward;
    NN__LAYER(nn__mod_encoder, m)->norm_first = o.norm_first != 0;
    NN__LAYER(nn__mod_encoder, m)->act = o.activation;
    ao.dropout = o.dropout; ao.batch_first = o.batch_first;
    kids[0] = nn_multihead_attention_new(ctx, d, nhead, ao);
    kids[1] = kids[0] ? nn_linear_new(ctx, d, o.dim_feedforward, 1) : NULL;
    kids[2] = kids[1] ? nn_dropout_new(ctx, o.dropout) : NULL;
    kids[3] = kids[2] ? nn_linear_new(ctx, o.dim_feedforward, d, 1) : NULL;
    kids[4] = kids[3] ? nn_layer_norm_new(ctx, 1, &d, o.layer_norm_eps, 1) : NULL;
    kids[5] = kids[4] ? nn_layer_norm_new(ctx, 1, &d, o.layer_norm_eps, 1) : NULL;
    kids[6] = kids[5] ? nn_dropout_new(ctx, o.dropout) : NULL;
    kids[7] = kids[6] ? nn_dropout_new(ctx, o.dropout) : NULL;
    for (k = 0; k < 8 && kids[k]; k++) {}
    if (k < 8 || !nn__mod_add_all(m, names, kids, 8)) {
        if (k < 8) while (k-- > 0) nn_module_free(kids[k]);
        nn__module_release(m);
        return NULL;
    }
    return m;
}

/* ---- the GPT block ---- */

/* The causal mask of a length-L sequence for MultiheadAttention: (L, L) int64, 1 (masked) above the diagonal. */
static nn_tensor *nn__causal_mask(nn_ctx *ctx, int64_t L) {
    int64_t sh[2], i, j;
    nn_tensor *t;
    sh[0] = sh[1] = L;
    t = nn__new_arena_dtype(ctx, "GPTBlock", 2, sh, 1, NN_INT64);
    if (t) for (i = 0; i < L; i++) for (j = 0; j < L; j++) NN__I64(t)[i * L + j] = j > i;
    return t;
}

static nn_tensor *nn__mod_gpt_block_forward(nn_module *m, nn_tensor *x) {
    nn_tensor *a = nn_forward(nn_module_child(m, "ln_1"), x), *in[5];
    char s[128];
    if (a && a->ndim != 3) { nn__err(m->ctx, "GPTBlock: input is %s; expected (N, L, n_embd)", NN__SHAPE(x, s)); return NULL; }
    if (a) {   /* attn(a, a, a, attn_mask=causal), through nn_forward_n so summaries and hooks see it */
        in[0] = in[1] = in[2] = a; in[3] = NULL;
        in[4] = nn__causal_mask(m->ctx, a->shape[1]);
        if (!in[4] || nn_forward_n(nn_module_child(m, "attn"), in, 5, &a, 1) < 0) a = NULL;
    }
    x = nn_add(x, nn_forward(nn_module_child(m, "drop"), a));
    return nn_add(x, nn_forward(nn_module_child(m, "mlp"), nn_forward(nn_module_child(m, "ln_2"), x)));
}

NN_API nn_module *nn_gpt_block_new(nn_ctx *ctx, int64_t E, int64_t heads, float dropout) {
    static const char *fn = "nn_gpt_block_new";
    static const char *names[5] = { "ln_1", "attn", "drop", "ln_2", "mlp" };
    nn_module *m, *kids[5], *mlp[4]; nn_mha_opts ao = nn_mha_opts_default(); int k;
    if (!ctx) return NULL;
    if (!(dropout >= 0.0f && dropout <= 1.0f)) { nn__err(ctx, "%s: dropout is %g; it must be in [0, 1]", fn, dropout); return NULL; }
    if (E <= 0 || heads <= 0 || E % heads || E > INT64_MAX / 8) {
        nn__err(ctx, "%s: n_embd %lld and n_head %lld must be positive, and n_embd divisible by n_head (and below 2^60)", fn, (long long)E, (long long)heads);
        return NULL;
    }
    m = nn__mod_layer(ctx, fn, "GPTBlock", sizeof(nn_module), nn__mod_gpt_block_forward);
    if (!m) return NULL;
    ao.dropout = dropout; ao.batch_first = 1;
    mlp[0] = nn_linear_new(ctx, E, 4 * E, 1);
    mlp[1] = mlp[0] ? nn_gelu_new(ctx) : NULL;
    mlp[2] = mlp[1] ? nn_linear_new(ctx, 4 * E, E, 1) : NULL;
    mlp[3] = mlp[2] ? nn_dropout_new(ctx, dropout) : NULL;
    kids[4] = mlp[3] ? nn_sequential_new(ctx, mlp, 4) : NULL;
    if (!kids[4]) { for (k = 0; k < 4; k++) nn_module_free(mlp[k]); nn__module_release(m); return NULL; }
    kids[0] = nn_layer_norm_new(ctx, 1, &E, 1e-5f, 1);
    kids[1] = kids[0] ? nn_multihead_attention_new(ctx, E, heads, ao) : NULL;
    kids[2] = kids[1] ? nn_dropout_new(ctx, dropout) : NULL;
    kids[3] = kids[2] ? nn_layer_norm_new(ctx, 1, &E, 1e-5f, 1) : NULL;
    for (k = 0; k < 4 && kids[k]; k++) {}
    if (k < 4 || !nn__mod_add_all(m, names, kids, 5)) {
        if (k < 4) { while (k-- > 0) nn_module_free(kids[k]); nn_module_free(kids[4]); }
        nn__module_release(m);
        return NULL;
    }
    return m;
}

/* ---- positional encodings ---- */

NN_API nn_tensor *nn_sinusoidal_encoding(nn_ctx *ctx, int64_t max_len, int64_t d) {
    int64_t sh[2], p, i;
    nn_tensor *t;
    if (!ctx) return NULL;
    if (max_len <= 0 || d <= 0) {
        nn__err(ctx, "nn_sinusoidal_encoding: max_len %lld and d_model %lld must be positive", (long long)max_len, (long long)d);
        return NULL;
    }
    sh[0] = max_len; sh[1] = d;
    t = nn__new_persistent(ctx, "nn_sinusoidal_encoding", 2, sh);
    if (!t) return NULL;
    for (p = 0; p < max_len; p++)
        for (i = 0; i < d; i++) {
            double angle = (double)p * exp((double)(i - i % 2) * (-log(10000.0) / (double)d));
            NN__F32(t)[p * d + i] = (float)(i % 2 ? cos(angle) : sin(angle));
        }
    return t;
}

typedef struct nn__mod_posenc { nn_module base; int64_t d, max_len; int batch_first, learned; } nn__mod_posenc;

static nn_tensor *nn__mod_posenc_forward(nn_module *m, nn_tensor *x) {
    nn__mod_posenc *p = NN__LAYER(nn__mod_posenc, m);
    nn_tensor *pe = p->learned ? nn__mod_own(m, "weight") : nn__mod_own(m, "pe");
    int64_t L;
    char s[128];
    if (x->dtype != NN_FLOAT32 || x->ndim != 3 || x->shape[2] != p->d || x->shape[p->batch_first ? 1 : 0] > p->max_len) {
        nn__err(m->ctx, "%s: input is %s; expected float32 %s with d_model %lld and a length of at most max_len %lld", m->type,
                NN__SHAPE(x, s), p->batch_first ? "(N, L, d_model)" : "(L, N, d_model)", (long long)p->d, (long long)p->max_len);
        return NULL;
    }
    L = x->shape[p->batch_first ? 1 : 0];
    pe = nn_slice(pe, 0, 0, L, 1);   /* (L, 1, d) sinusoidal, (L, d) learned */
    if (p->learned && !p->batch_first) pe = nn_unsqueeze(pe, 1);
    if (!p->learned && p->batch_first) pe = nn_squeeze(pe, 1);
    return nn_forward(nn_module_child(m, "dropout"), nn_add(x, pe));
}

static nn_module *nn__posenc_new(nn_ctx *ctx, const char *fn, int learned, int64_t d, float dropout, int64_t max_len, int batch_first) {
    nn_module *m, *drop; nn__mod_posenc *p; int64_t sh[2]; int ok;
    if (!ctx) return NULL;
    if (d <= 0 || max_len <= 0) {
        nn__err(ctx, "%s: d_model %lld and max_len %lld must be positive", fn, (long long)d, (long long)max_len);
        return NULL;
    }
    if (!(dropout >= 0.0f && dropout <= 1.0f)) { nn__err(ctx, "%s: dropout is %g; it must be in [0, 1]", fn, dropout); return NULL; }
    m = nn__mod_layer(ctx, fn, learned ? "LearnedPositionalEncoding" : "PositionalEncoding", sizeof(nn__mod_posenc), nn__mod_posenc_forward);
    if (!m) return NULL;
    p = NN__LAYER(nn__mod_posenc, m);
    p->d = d; p->max_len = max_len; p->batch_first = batch_first != 0; p->learned = learned;
    sh[0] = max_len; sh[1] = d;
    if (learned) ok = nn__mod_adopt(m, "weight", nn_randn(ctx, 2, sh), 0);
    else {   /* the tutorial's buffer: (max_len, 1, d_model) */
        int64_t sh3[3];
        nn_tensor *table = nn_sinusoidal_encoding(ctx, max_len, d), *pe3;
        sh3[0] = max_len; sh3[1] = 1; sh3[2] = d;
        pe3 = table ? nn_empty(ctx, 3, sh3) : NULL;
        if (pe3) memcpy(pe3->data, table->data, (size_t)(max_len * d) * sizeof(float));
        nn_free(table);
        ok = nn__mod_adopt(m, "pe", pe3, 1);
    }
    drop = ok ? nn_dropout_new(ctx, dropout) : NULL;
    if (!drop || !nn_module_add(m, "dropout", drop)) { nn_module_free(drop); nn__module_release(m); return NULL; }
    return m;
}
NN_API nn_module *nn_positional_encoding_new(nn_ctx *ctx, int64_t d, float dropout, int64_t max_len, int batch_first) {
    return nn__posenc_new(ctx, "nn_positional_encoding_new", 0, d, dropout, max_len, batch_first);
}
NN_API nn_module *nn_learned_positional_encoding_new(nn_ctx *ctx, int64_t d, float dropout, int64_t max_len, int batch_first) {
    return nn__posenc_new(ctx, "nn_learned_positional_encoding_new", 1, d, dropout, max_len, batch_first);
}

/* ---- diffusion: DDPM ---- */

/* A float32 tensor in the step arena filled from the context's RNG: N(0, 1), or whole numbers in [0, high) as int64. */
static nn_tensor *nn__arena_randn(nn_ctx *ctx, const char *fn, int ndim, const int64_t *shape) {
    nn_tensor *t = nn__new_arena(ctx, fn, ndim, shape, 1);
    int64_t i;
    if (t) for (i = 0; i < t->numel; i++) NN__F32(t)[i] = nn__rng_normal(&ctx->rng);
    return t;
}
static nn_tensor *nn__arena_randint(nn_ctx *ctx, const char *fn, int64_t n, int64_t high) {
    nn_tensor *t = nn__new_arena_dtype(ctx, fn, 1, &n, 1, NN_INT64);
    int64_t i;
    if (t) for (i = 0; i < n; i++) {
        int64_t v = (int64_t)((double)nn__rng_uniform(&ctx->rng) * (double)high);
        NN__I64(t)[i] = v < high ? v : high - 1;
    }
    return t;
}

NN_API nn_tensor *nn_timestep_embedding(nn_tensor *t, int64_t dim, float max_period) {
    static const char *fn = "nn_timestep_embedding";
    nn_tensor *f, *args, *parts[3];
    int64_t half, i, sh[2];
    char s[128];
    if (!t || !nn__check_live(t, fn)) return NULL;
    if (t->ndim != 1 || (t->dtype != NN_INT64 && t->dtype != NN_FLOAT32) || dim < 1 || !(max_period > 0.0f) || !nn__finite(max_period)) {
        nn__err(t->ctx, "%s: t is %s %s, dim %lld, max_period %g; expected int64 or float32 (N), dim >= 1, finite max_period > 0", fn,
                nn_dtype_name(t->dtype), NN__SHAPE(t, s), (long long)dim, (double)max_period);
        return NULL;
    }
    half = dim / 2;
    sh[0] = 1; sh[1] = half;
    if (!(f = nn__new_arena(t->ctx, fn, 2, sh, 1))) return NULL;   /* (1, half): max_period^(-i/half) */
    for (i = 0; i < half; i++) NN__F32(f)[i] = (float)exp(-log((double)max_period) * (double)i / (double)half);
    if (t->device != NN_CPU) f = nn_to(f, t->device);   /* made on the host, then moved to t's device */
    sh[0] = t->shape[0]; sh[1] = 1;
    args = nn_mul(nn_reshape(nn_to_dtype(t, NN_FLOAT32), 2, sh), f);   /* (N, half) */
    parts[0] = nn_cos(args);
    parts[1] = nn_sin(args);
    if (dim % 2 == 0) return nn_cat(parts, 2, 1);
    parts[2] = nn__new_arena(t->ctx, fn, 2, sh, 1);   /* (N, 1) zeros */
    if (!parts[2]) return NULL;
    memset(parts[2]->data, 0, (size_t)sh[0] * sizeof(float));
    if (t->device != NN_CPU) parts[2] = nn_to(parts[2], t->device);
    return nn_cat(parts, 3, 1);
}

NN_API nn_ddpm *nn_ddpm_new(nn_ctx *ctx, int64_t T, nn_beta_schedule schedule, float beta_start, float beta_end) {
    static const char *fn = "nn_ddpm_new";
    nn_ddpm *d; int64_t i; double ab = 1.0;
    if (!ctx) return NULL;
    if (T < 1) { nn__err(ctx, "%s: num_timesteps is %lld; it must be 1 or more", fn, (long long)T); return NULL; }
    if (schedule != NN_BETA_LINEAR && schedule != NN_BETA_COSINE) {
        nn__err(ctx, "%s: schedule is %d; expected NN_BETA_LINEAR or NN_BETA_COSINE", fn, (int)schedule);
        return NULL;
    }
    if (schedule == NN_BETA_LINEAR && !(beta_start > 0.0f && beta_start <= beta_end && beta_end < 1.0f)) {
        nn__err(ctx, "%s: beta_start %g and beta_end %g must satisfy 0 < beta_start <= beta_end < 1", fn, (double)beta_start, (double)beta_end);
        return NULL;
    }
    d = NN__CAST(nn_ddpm *, nn__malloc(sizeof(nn_ddpm)));
    if (!d) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    d->num_timesteps = T;
    d->betas = nn_empty(ctx, 1, &T);
    d->alphas = nn_empty(ctx, 1, &T);
    d->alphas_cumprod = nn_empty(ctx, 1, &T);
    if (!d->betas || !d->alphas || !d->alphas_cumprod) { nn_ddpm_free(d); return NULL; }
    for (i = 0; i < T; i++) {
        double b;
        if (schedule == NN_BETA_LINEAR) b = T == 1 ? beta_start : beta_start + (beta_end - (double)beta_start) * (double)i / (double)(T - 1);
        else {   /* Nichol and Dhariwal: abar(t) = cos^2(((t / T + s) / (1 + s)) pi / 2) */
            double s = 0.008, pi2 = 1.5707963267948966;
            double a0 = cos(((double)i / T + s) / (1 + s) * pi2), a1 = cos(((double)(i + 1) / T + s) / (1 + s) * pi2);
            b = 1.0 - (a1 * a1) / (a0 * a0);
            if (b > 0.999) b = 0.999;
        }
        ab *= 1.0 - b;
        NN__F32(d->betas)[i] = (float)b;
        NN__F32(d->alphas)[i] = (float)(1.0 - b);
        NN__F32(d->alphas_cumprod)[i] = (float)ab;
    }
    return d;
}

NN_API void nn_ddpm_free(nn_ddpm *d) {
    if (!d) return;
    nn_free(d->betas);
    nn_free(d->alphas);
    nn_free(d->alphas_cumprod);
    nn__free(d);
}

NN_API nn_tensor *nn_ddpm_add_noise(const nn_ddpm *d, nn_tensor *x0, nn_tensor *noise, nn_tensor *t) {
    static const char *fn = "nn_ddpm_add_noise";
    nn_tensor *ab, *a, *b;
    int64_t sh[NN_MAX_DIMS]; int k;
    char s1[128], s2[128], s3[128];
    if (!d || !x0 || !noise || !t) {
        nn_tensor *any = x0 ? x0 : (noise ? noise : t);
        if (any && !nn_error(any->ctx)) nn__err(any->ctx, "%s: %s is NULL", fn, !d ? "the schedule" : (!x0 ? "x0" : (!noise ? "noise" : "t")));
        return NULL;
    }
    if (!nn__check_live(x0, fn) || !nn__check_live(noise, fn) || !nn__check_live(t, fn)) return NULL;
    if (x0->ndim < 1 || noise->ndim != x0->ndim || t->ndim != 1 || t->dtype != NN_INT64 || t->shape[0] != x0->shape[0]
        || x0->dtype != NN_FLOAT32 || noise->dtype != NN_FLOAT32) {
        nn__err(x0->ctx, "%s: x0 is %s %s, noise %s %s and t %s %s; expected float32 x0 and noise of one shape (N, ...) and "
                "int64 t (N)", fn, nn_dtype_name(x0->dtype), NN__SHAPE(x0, s1), nn_dtype_name(noise->dtype), NN__SHAPE(noise, s2),
                nn_dtype_name(t->dtype), NN__SHAPE(t, s3));
        return NULL;
    }
    {   /* every step in [0, T) */
        nn_tensor *tc = nn_contiguous(t);
        if (!tc) return NULL;
        for (k = 0; k < tc->numel; k++)
            if (NN__I64(tc)[k] < 0 || NN__I64(tc)[k] >= d->num_timesteps) {
                nn__err(x0->ctx, "%s: t[%d] is %lld; steps are in [0, %lld)", fn, k, (long long)NN__I64(tc)[k], (long long)d->num_timesteps);
                return NULL;
            }
    }
    for (k = 0; k < x0->ndim; k++) {
        if (noise->shape[k] != x0->shape[k]) {
            nn__err(x0->ctx, "%s: x0 is %s and noise %s; they must have one shape", fn, NN__SHAPE(x0, s1), NN__SHAPE(noise, s2));
            return NULL;
        }
        sh[k] = k ? 1 : x0->shape[0];
    }
    ab = nn_reshape(nn_index_select(d->alphas_cumprod, 0, t), x0->ndim, sh);   /* (N, 1, ...) */
    a = nn_sqrt(ab);
    b = nn_sqrt(nn_add_scalar(nn_neg(ab), 1.0f));
    return nn_add(nn_mul(a, x0), nn_mul(b, noise));
}

NN_API nn_tensor *nn_ddpm_loss(const nn_ddpm *d, nn_module *model, nn_tensor *x0) {
    static const char *fn = "nn_ddpm_loss";
    nn_tensor *t, *noise, *in[2], *pred = NULL;
    if (!x0) { nn__null_arg(d ? d->betas : NULL, fn, "x0"); if (model && !nn_error(model->ctx)) nn__err(model->ctx, "%s: x0 is NULL", fn); return NULL; }
    if (!nn__check_live(x0, fn)) return NULL;
    if (!d || !model) { nn__err(x0->ctx, "%s: %s is NULL", fn, d ? "model" : "the schedule"); return NULL; }
    if (x0->dtype != NN_FLOAT32 || x0->ndim < 1 || x0->shape[0] < 1) {
        char s[128];
        nn__err(x0->ctx, "%s: x0 is %s %s; expected float32 (N, ...) with N >= 1", fn, nn_dtype_name(x0->dtype), NN__SHAPE(x0, s));
        return NULL;
    }
    t = nn__arena_randint(x0->ctx, fn, x0->shape[0], d->num_timesteps);
    noise = t ? nn__arena_randn(x0->ctx, fn, x0->ndim, x0->shape) : NULL;
    if (!noise) return NULL;
    in[0] = nn_ddpm_add_noise(d, x0, noise, t);
    in[1] = t;
    if (!in[0] || nn_forward_n(model, in, 2, &pred, 1) < 0) return NULL;
    return nn_mse_loss(pred, noise, NN_MEAN);
}

NN_API nn_tensor *nn_ddpm_step(const nn_ddpm *d, nn_tensor *eps, int64_t t, nn_tensor *x_t) {
    static const char *fn = "nn_ddpm_step";
    nn_tensor *y; int old; int k;
    double beta, alpha, ab;
    char s1[128], s2[128];
    if (!eps || !x_t) { nn__null_arg(eps ? eps : x_t, fn, eps ? "x_t" : "eps"); return NULL; }
    if (!d) { nn__err(x_t->ctx, "%s: the schedule is NULL", fn); return NULL; }
    if (!nn__check_live(eps, fn) || !nn__check_live(x_t, fn)) return NULL;
    if (eps->dtype != NN_FLOAT32 || x_t->dtype != NN_FLOAT32) {
        nn__err(x_t->ctx, "%s: eps is %s and x_t %s; both must be float32", fn, nn_dtype_name(eps->dtype), nn_dtype_name(x_t->dtype));
        return NULL;
    }
    if (t < 0 || t >= d->num_timesteps) {
        nn__err(x_t->ctx, "%s: t is %lld; it must be in [0, %lld)", fn, (long long)t, (long long)d->num_timesteps);
        return NULL;
    }
    if (eps->ndim != x_t->ndim) k = -1; else for (k = 0; k < x_t->ndim && eps->shape[k] == x_t->shape[k]; k++) {}
    if (k != x_t->ndim) {
        nn__err(x_t->ctx, "%s: eps is %s and x_t %s; they must have one shape", fn, NN__SHAPE(eps, s1), NN__SHAPE(x_t, s2));
        return NULL;
    }
    beta = NN__F32(d->betas)[t]; alpha = NN__F32(d->alphas)[t]; ab = NN__F32(d->alphas_cumprod)[t];
    old = nn_set_grad_enabled(x_t->ctx, 0);
    y = nn_mul_scalar(nn_sub(x_t, nn_mul_scalar(eps, (float)(beta / sqrt(1.0 - ab)))), (float)(1.0 / sqrt(alpha)));
    if (y && t > 0) y = nn_add(y, nn_mul_scalar(nn__arena_randn(x_t->ctx, fn, x_t->ndim, x_t->shape), (float)sqrt(beta)));
    nn_set_grad_enabled(x_t->ctx, old);
    return y;
}

/* ==== losses ==== */
/* Front ends only: the loss kernels (bce, huber, nll, bce_with_logits) are ops, in the ops section. */

static int nn__check_reduction(nn_ctx *ctx, const char *fn, nn_reduction r) {
    if ((int)r == NN_MEAN || (int)r == NN_SUM || (int)r == NN_NONE) return 1;
    nn__err(ctx, "%s: reduction is %d; expected NN_MEAN, NN_SUM or NN_NONE", fn, (int)r);
    return 0;
}
static nn_tensor *nn__reduce_loss(nn_tensor *l, nn_reduction r) {
    if (r == NN_SUM) return nn_sum(l, NN_ALL, 0);
    if (r == NN_NONE) return l;
    return nn_mean(l, NN_ALL, 0);
}
static int nn__loss_pair(const char *fn, nn_tensor *a, nn_tensor *b, nn_reduction r) {
    static const char *names[] = { "input", "target" };
    nn_tensor *xs[2]; char s1[128], s2[128];
    xs[0] = a; xs[1] = b;
    if (!nn__check_inputs(fn, xs, names, 2)) return 0;
    if (!nn__check_reduction(a->ctx, fn, r)) return 0;
    if (!nn__same_shape(a, b)) {
        nn__err(a->ctx, "%s: input is %s and target is %s; they must have the same shape", fn, NN__SHAPE(a, s1), NN__SHAPE(b, s2));
        return 0;
    }
    return 1;
}

NN_API nn_tensor *nn_mse_loss(nn_tensor *input, nn_tensor *target, nn_reduction r) {
    if (!nn__loss_pair("nn_mse_loss", input, target, r)) return NULL;
    return nn__reduce_loss(nn_pow_scalar(nn_sub(input, target), 2.0f), r);
}
NN_API nn_tensor *nn_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r) {
    if (!nn__loss_pair("nn_l1_loss", input, target, r)) return NULL;
    return nn__reduce_loss(nn_abs(nn_sub(input, target)), r);
}
/* smooth L1 (beta) and Huber (delta): quadratic inside the threshold, linear outside */
static nn_tensor *nn__huber(const char *fn, nn_tensor *input, nn_tensor *target, nn_reduction r, float t, int smooth) {
    nn_tensor *xs[2], *y;
    if (!nn__loss_pair(fn, input, target, r)) return NULL;
    if (!(t >= 0.0f) || t == INFINITY) { nn__err(input->ctx, "%s: %s is %g; it must be >= 0 and finite", fn, smooth ? "beta" : "delta", t); return NULL; }
    if (!smooth && t == 0.0f) { nn__err(input->ctx, "%s: delta is 0; it must be > 0", fn); return NULL; }
    if (smooth && t == 0.0f) return nn_l1_loss(input, target, r);   /* PyTorch: beta 0 is L1 */
    if (!(xs[0] = nn__contig_input(input)) || !(xs[1] = nn__contig_input(target))) return NULL;
    y = nn__node(NN_OP_HUBER, fn, input->ndim, input->shape, xs, 2, 1);
    if (!y) return NULL;
    y->fp[0] = t; y->ip[0] = smooth;
    return nn__forward(y) ? nn__reduce_loss(y, r) : NULL;
}
NN_API nn_tensor *nn_smooth_l1_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float beta) { return nn__huber("nn_smooth_l1_loss", input, target, r, beta, 1); }
NN_API nn_tensor *nn_huber_loss(nn_tensor *input, nn_tensor *target, nn_reduction r, float delta) { return nn__huber("nn_huber_loss", input, target, r, delta, 0); }

NN_API nn_cross_entropy_opts nn_cross_entropy_opts_default(void) {
    nn_cross_entropy_opts o;
    o.weight = NULL; o.ignore_index = -100; o.reduction = NN_MEAN; o.label_smoothing = 0.0f;
    return o;
}

/* logp (R, C), target (R) int64: the nll op, reduced as o.reduction says */
static nn_tensor *nn__nll(const char *fn, nn_tensor *logp, nn_tensor *target, nn_cross_entropy_opts o) {
    nn_tensor *xs[3], *y; int64_t R = logp->shape[0];
    xs[0] = logp; xs[1] = target; xs[2] = o.weight;
    y = nn__node(NN_OP_NLL_LOSS, fn, o.reduction == NN_NONE ? 1 : 0, &R, xs, o.weight ? 3 : 2, 1);
    if (!y) return NULL;
    y->saved = nn__arena_alloc(logp->ctx, 2 * sizeof(double));
    if (!y->saved) { nn__err(logp->ctx, "%s: out of memory", fn); return NULL; }
    y->ip[0] = o.reduction; y->ip[1] = o.ignore_index; y->fp[0] = o.label_smoothing;
    return nn__forward(y) ? y : NULL;
}

/* (N, C, d...) -> (N*d..., C) and (N, d...) -> (N*d...), or (N, C) as is */
static nn_tensor *nn__class_loss(const char *fn, nn_tensor *x, nn_tensor *target, nn_cross_entropy_opts o, int from_logits) {
    static const char *names[] = { "input" };
    nn_tensor *logp, *flat_t, *in = x, *tg = target; int d, perm[NN_MAX_DIMS]; int64_t C, rows, sh[2]; char s1[128], s2[128];
    if (!x && target && !target->ctx->has_error) { nn__err(target->ctx, "%s: input is NULL", fn); return NULL; }
    if (!nn__check_inputs(fn, &x, names, 1) || !nn__check_index(fn, x, target, "target")) return NULL;
    if (!nn__check_reduction(x->ctx, fn, o.reduction)) return NULL;
    if (x->ndim < 1 || target->ndim != (x->ndim >= 2 ? x->ndim - 1 : 0)) goto bad;
    if (x->ndim == 1) { x = nn_unsqueeze(x, 0); sh[0] = 1; target = nn_reshape(target, 1, sh); if (!x || !target) return NULL; }
    for (d = 0; d < target->ndim; d++) if (target->shape[d] != x->shape[d == 0 ? 0 : d + 1]) goto bad;
    C = x->shape[1];
    if (o.weight) {
        if (!nn__check_inputs(fn, &o.weight, names, 1)) return NULL;
        if (o.weight->numel != C) { nn__err(x->ctx, "%s: weight is %s; expected (%lld,) for %lld classes", fn, NN__SHAPE(o.weight, s1), (long long)C, (long long)C); return NULL; }
        if (!(o.weight = nn__contig_input(o.weight))) return NULL;
    }
    if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f)) { nn__err(x->ctx, "%s: label_smoothing %g must be in [0, 1]", fn, o.label_smoothing); return NULL; }
    if (!from_logits && o.label_smoothing != 0.0f) { nn__err(x->ctx, "%s: label_smoothing is for cross entropy", fn); return NULL; }
    if (x->ndim > 2) {   /* move the class dim last */
        perm[0] = 0;
        for (d = 1; d < x->ndim - 1; d++) perm[d] = d + 1;
        perm[x->ndim - 1] = 1;
        x = nn_permute(x, perm);
    }
    rows = x ? x->numel / (C ? C : 1) : 0;
    sh[0] = rows; sh[1] = C;
    x = nn_contiguous(nn_reshape(x, 2, sh));
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
    nn__err(x->ctx, "%s: input is %s and target is %s; expected (N, C) with (N), or (N, C, d...) with (N, d...)", fn, NN__SHAPE(in, s1), NN__SHAPE(tg, s2));
    return NULL;
}
NN_API nn_tensor *nn_cross_entropy(nn_tensor *logits, nn_tensor *target, nn_cross_entropy_opts o) { return nn__class_loss("nn_cross_entropy", logits, target, o, 1); }
NN_API nn_tensor *nn_nll_loss(nn_tensor *log_probs, nn_tensor *target, nn_cross_entropy_opts o) { return nn__class_loss("nn_nll_loss", log_probs, target, o, 0); }

NN_API nn_tensor *nn_bce_loss(nn_tensor *p, nn_tensor *target, nn_tensor *weight, nn_reduction r) {
    nn_tensor *xs[2], *l;
    if (!nn__loss_pair("nn_bce_loss", p, target, r)) return NULL;
    if (!(xs[0] = nn__contig_input(p)) || !(xs[1] = nn__contig_input(target))) return NULL;
    l = nn__node(NN_OP_BCE, "nn_bce_loss", p->ndim, p->shape, xs, 2, 1);
    if (!l || !nn__forward(l)) return NULL;
    if (weight) l = nn_mul(l, weight);
    return nn__reduce_loss(l, r);
}

NN_API nn_tensor *nn_bce_with_logits(nn_tensor *logits, nn_tensor *target, nn_tensor *weight, nn_reduction r, nn_tensor *pos_weight) {
    nn_tensor *xs[3], *y; char s1[128], s2[128];
    if (!nn__loss_pair("nn_bce_with_logits", logits, target, r)) return NULL;
    if (pos_weight && (pos_weight->dtype != NN_FLOAT32 || pos_weight->numel != (logits->ndim ? logits->shape[logits->ndim - 1] : 1))) {
        nn__err(logits->ctx, "nn_bce_with_logits: pos_weight is %s %s and logits are %s; pos_weight needs one float per class (last dim)",
                nn_dtype_name(pos_weight->dtype), NN__SHAPE(pos_weight, s1), NN__SHAPE(logits, s2));
        return NULL;
    }
    xs[0] = nn__contig_input(logits); xs[1] = nn__contig_input(target); xs[2] = pos_weight ? nn__contig_input(pos_weight) : NULL;
    if (!xs[0] || !xs[1] || (pos_weight && !xs[2])) return NULL;
    y = nn__node(NN_OP_BCE_WITH_LOGITS, "nn_bce_with_logits", logits->ndim, logits->shape, xs, 3, 1);
    if (!y || !nn__forward(y)) return NULL;
    if (weight) y = nn_mul(y, weight);
    return nn__reduce_loss(y, r);
}

/* ==== optimizers ==== */

enum { NN__SGD, NN__ADAM, NN__ADAMW, NN__RMSPROP, NN__ADAGRAD };   /* order indexes nn__optim_state_names */

typedef struct nn__group {
    nn_tensor **params;
    int n;
    double lr, weight_decay, momentum;      /* momentum: SGD/RMSprop momentum, or Adam's beta1 */
    double initial_lr, max_lr, min_lr;      /* set by schedulers */
    int has_initial_lr;                     /* a scheduler set initial_lr (PyTorch's setdefault) */
    nn_tensor **state;                      /* 3 per parameter, created at the first step */
    int64_t *step;
    unsigned char *fresh;                   /* bit s: state slot s was created by the step under way */
} nn__group;

struct nn_optim {
    int kind;
    nn_ctx *ctx;
    double lr, weight_decay, momentum;      /* the constructor's values, which a new group inherits */
    double dampening, beta2, eps, alpha, lr_decay, initial_acc;
    int nesterov, amsgrad, centered, maximize;
    int skip_nonfinite;                     /* nn_optim_set_skip_nonfinite */
    int64_t skipped;                        /* steps skipped under that policy */
    int ngroups, cap_groups;
    nn__group *groups;                      /* ngroups of them */
};

/* ---- options: PyTorch's defaults, and the checks PyTorch 1.13 makes (NaN and inf refused too) ---- */

NN_API nn_sgd_opts nn_sgd_opts_default(double lr) {
    nn_sgd_opts o;
    memset(&o, 0, sizeof o);
    o.lr = lr;
    return o;
}
NN_API nn_adam_opts nn_adam_opts_default(void) {
    nn_adam_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-3;
    o.betas[0] = 0.9;
    o.betas[1] = 0.999;
    o.eps = 1e-8;
    return o;
}
NN_API nn_adam_opts nn_adamw_opts_default(void) {
    nn_adam_opts o = nn_adam_opts_default();
    o.weight_decay = 1e-2;
    return o;
}
NN_API nn_rmsprop_opts nn_rmsprop_opts_default(void) {
    nn_rmsprop_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-2;
    o.alpha = 0.99;
    o.eps = 1e-8;
    return o;
}
NN_API nn_adagrad_opts nn_adagrad_opts_default(void) {
    nn_adagrad_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-2;
    o.eps = 1e-10;
    return o;
}


/* name must be finite and >= 0 */
static int nn__opt_nonneg(nn_ctx *ctx, const char *fn, const char *name, double v) {
    if (nn__finite(v) && v >= 0.0) return 1;
    nn__err(ctx, "%s: %s is %g; it must be finite and >= 0", fn, name, v);
    return 0;
}
/* name must be finite */
static int nn__opt_finite(nn_ctx *ctx, const char *fn, const char *name, double v) {
    if (nn__finite(v)) return 1;
    nn__err(ctx, "%s: %s is %g; it must be finite", fn, name, v);
    return 0;
}
/* a flag is 0 or 1 (PyTorch's bool) */
static int nn__opt_flag(nn_ctx *ctx, const char *fn, const char *name, int v) {
    if (v == 0 || v == 1) return 1;
    nn__err(ctx, "%s: %s is %d; it must be 0 or 1", fn, name, v);
    return 0;
}
/* name must be in [0, 1) */
static int nn__opt_unit(nn_ctx *ctx, const char *fn, const char *name, double v) {
    if (v >= 0.0 && v < 1.0) return 1;
    nn__err(ctx, "%s: %s is %g; it must be in [0, 1)", fn, name, v);
    return 0;
}

static void nn__err_noctx(const char *fn, const char *what) {
#ifndef NN_NO_STDIO
    fprintf(stderr, "nn: %s: %s\n", fn, what);
#else
    (void)fn; (void)what;
#endif
}

/* The context of the parameters, or NULL (with a message) when there is none to be found. */
static nn_ctx *nn__params_ctx(const char *fn, nn_tensor **params, int n) {
    int k;
    if (!params) { nn__err_noctx(fn, "params is NULL; give an array of parameters"); return NULL; }
    if (n == 0) { nn__err_noctx(fn, "n is 0; the optimizer got an empty parameter list"); return NULL; }
    if (n < 0) {
        if (params[0]) nn__err(params[0]->ctx, "%s: n is %d; it must be the number of parameters (>= 1)", fn, n);
        else nn__err_noctx(fn, "n is negative; it must be the number of parameters (>= 1)");
        return NULL;
    }
    for (k = 0; k < n; k++) if (params[k]) return params[k]->ctx;
    nn__err_noctx(fn, "every parameter is NULL");
    return NULL;
}

/* ---- optimizer objects and param groups ---- */

/* parameter k of a new group: a float32 tensor you made with requires_grad, in no group yet */
static int nn__check_param(nn_optim *o, const char *fn, nn_tensor **params, int k) {
    nn_tensor *p = params[k];
    int g, j;
    if (!p) { nn__err(o->ctx, "%s: parameter %d is NULL", fn, k); return 0; }
    if (!(p->flags & NN__PERSISTENT) || !p->requires_grad || p->dtype != NN_FLOAT32) {
        nn__err(o->ctx, "%s: parameter %d is %s; parameters must be float32 tensors you created with requires_grad",
                fn, k, !(p->flags & NN__PERSISTENT) ? "an op result" : !p->requires_grad ? "without requires_grad"
                : nn_dtype_name(p->dtype));
        return 0;
    }
    for (j = 0; j < k; j++) if (params[j] == p) {
        nn__err(o->ctx, "%s: parameter %d is parameter %d again; list each parameter once", fn, k, j);
        return 0;
    }
    for (g = 0; g < o->ngroups; g++) for (j = 0; j < o->groups[g].n; j++) if (o->groups[g].params[j] == p) {
        nn__err(o->ctx, "%s: parameter %d is already in group %d; "
                "some parameters appear in more than one parameter group", fn, k, g);
        return 0;
    }
    return 1;
}

static int nn__grow_groups(nn_optim *o) {
    int cap = o->cap_groups ? 2 * o->cap_groups : 4;
    nn__group *gs;
    if (o->ngroups < o->cap_groups) return 1;
    gs = NN__CAST(nn__group *, nn__realloc(o->groups, (size_t)cap * sizeof(nn__group)));
    if (!gs) return 0;
    o->groups = gs;
    o->cap_groups = cap;
    return 1;
}

/* a new group of params (checked) with lr glr and weight_decay gwd; its index, or -1 with an error from fn */
static int nn__add_group(nn_optim *o, const char *fn, nn_tensor **params, int n, double glr, double gwd) {
    nn__group *g;
    int k;
    if (!params || n <= 0) {
        nn__err(o->ctx, "%s: %s; give at least one parameter", fn, !params ? "params is NULL" : "n < 1");
        return -1;
    }
    if (!nn__opt_nonneg(o->ctx, fn, "lr", glr) || !nn__opt_nonneg(o->ctx, fn, "weight_decay", gwd)) return -1;
    for (k = 0; k < n; k++) if (!nn__check_param(o, fn, params, k)) return -1;
    if (!nn__grow_groups(o)) { nn__err(o->ctx, "%s: out of memory", fn); return -1; }
    g = &o->groups[o->ngroups];
    memset(g, 0, sizeof *g);
    g->params = NN__CAST(nn_tensor **, nn__malloc((size_t)n * sizeof(nn_tensor *)));
    g->state = NN__CAST(nn_tensor **, nn__malloc((size_t)n * 3 * sizeof(nn_tensor *)));
    g->step = NN__CAST(int64_t *, nn__malloc((size_t)n * sizeof(int64_t)));
    g->fresh = NN__CAST(unsigned char *, nn__malloc((size_t)n));
    if (!g->params || !g->state || !g->step || !g->fresh) {
        nn__free(g->params); nn__free(g->state); nn__free(g->step); nn__free(g->fresh);
        nn__err(o->ctx, "%s: out of memory", fn);
        return -1;
    }
    memcpy(g->params, params, (size_t)n * sizeof(nn_tensor *));
    memset(g->state, 0, (size_t)n * 3 * sizeof(nn_tensor *));
    memset(g->step, 0, (size_t)n * sizeof(int64_t));
    memset(g->fresh, 0, (size_t)n);
    g->n = n;
    g->lr = g->initial_lr = glr;
    g->weight_decay = gwd;
    g->momentum = o->momentum;
    return o->ngroups++;
}

NN_API int nn_optim_add_param_group(nn_optim *o, nn_tensor **params, int n, double lr, double weight_decay) {
    if (!o) { if (params && n > 0) nn__null_arg(params[0], "nn_optim_add_param_group", "o"); return -1; }
    if (lr != lr) lr = o->lr;                                 /* NAN: the constructor's value */
    if (weight_decay != weight_decay) weight_decay = o->weight_decay;
    return nn__add_group(o, "nn_optim_add_param_group", params, n, lr, weight_decay);
}

static nn_optim *nn__optim_new(const char *fn, int kind, nn_tensor **params, int n, double lr, double wd, double mom) {
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx) return NULL;
    o = NN__CAST(nn_optim *, nn__malloc(sizeof(nn_optim)));
    if (!o) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->ctx = ctx;
    o->lr = lr;
    o->weight_decay = wd;
    o->momentum = mom;
    if (nn__add_group(o, fn, params, n, lr, wd) < 0) { nn_optim_free(o); return NULL; }
    return o;
}

static int nn__check_lr_wd(nn_ctx *ctx, const char *fn, double lr, double wd) {
    return nn__opt_nonneg(ctx, fn, "lr", lr) && nn__opt_nonneg(ctx, fn, "weight_decay", wd);
}

NN_API nn_optim *nn_sgd(nn_tensor **params, int n, nn_sgd_opts s) {
    const char *fn = "nn_sgd";
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx || !nn__check_lr_wd(ctx, fn, s.lr, s.weight_decay)) return NULL;
    if (!nn__opt_nonneg(ctx, fn, "momentum", s.momentum)) return NULL;
    if (!nn__opt_finite(ctx, fn, "dampening", s.dampening)) return NULL;
    if (!nn__opt_flag(ctx, fn, "nesterov", s.nesterov) || !nn__opt_flag(ctx, fn, "maximize", s.maximize)) return NULL;
    if (s.nesterov && (s.momentum <= 0.0 || s.dampening != 0.0)) {
        nn__err(ctx, "%s: nesterov with momentum %g and dampening %g; "
                "Nesterov momentum requires a momentum and zero dampening", fn, s.momentum, s.dampening);
        return NULL;
    }
    o = nn__optim_new(fn, NN__SGD, params, n, s.lr, s.weight_decay, s.momentum);
    if (!o) return NULL;
    o->dampening = s.dampening;
    o->nesterov = s.nesterov;
    o->maximize = s.maximize;
    return o;
}

static nn_optim *nn__adam_new(const char *fn, int kind, nn_tensor **params, int n, nn_adam_opts a) {
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx || !nn__check_lr_wd(ctx, fn, a.lr, a.weight_decay) || !nn__opt_nonneg(ctx, fn, "eps", a.eps)) return NULL;
    if (!nn__opt_unit(ctx, fn, "betas[0]", a.betas[0]) || !nn__opt_unit(ctx, fn, "betas[1]", a.betas[1])) return NULL;
    if (!nn__opt_flag(ctx, fn, "amsgrad", a.amsgrad) || !nn__opt_flag(ctx, fn, "maximize", a.maximize)) return NULL;
    o = nn__optim_new(fn, kind, params, n, a.lr, a.weight_decay, a.betas[0]);
    if (!o) return NULL;
    o->beta2 = a.betas[1];
    o->eps = a.eps;
    o->amsgrad = a.amsgrad;
    o->maximize = a.maximize;
    return o;
}
NN_API nn_optim *nn_adam(nn_tensor **params, int n, nn_adam_opts a) {
    return nn__adam_new("nn_adam", NN__ADAM, params, n, a);
}
NN_API nn_optim *nn_adamw(nn_tensor **params, int n, nn_adam_opts a) {
    return nn__adam_new("nn_adamw", NN__ADAMW, params, n, a);
}

NN_API nn_optim *nn_rmsprop(nn_tensor **params, int n, nn_rmsprop_opts r) {
    const char *fn = "nn_rmsprop";
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx || !nn__check_lr_wd(ctx, fn, r.lr, r.weight_decay) || !nn__opt_nonneg(ctx, fn, "eps", r.eps)) return NULL;
    if (!nn__opt_nonneg(ctx, fn, "momentum", r.momentum) || !nn__opt_nonneg(ctx, fn, "alpha", r.alpha)) return NULL;
    if (!nn__opt_flag(ctx, fn, "centered", r.centered) || !nn__opt_flag(ctx, fn, "maximize", r.maximize)) return NULL;
    o = nn__optim_new(fn, NN__RMSPROP, params, n, r.lr, r.weight_decay, r.momentum);
    if (!o) return NULL;
    o->alpha = r.alpha;
    o->eps = r.eps;
    o->centered = r.centered;
    o->maximize = r.maximize;
    return o;
}

NN_API nn_optim *nn_adagrad(nn_tensor **params, int n, nn_adagrad_opts a) {
    const char *fn = "nn_adagrad";
    nn_ctx *ctx = nn__params_ctx(fn, params, n);
    nn_optim *o;
    if (!ctx || !nn__check_lr_wd(ctx, fn, a.lr, a.weight_decay) || !nn__opt_nonneg(ctx, fn, "eps", a.eps)) return NULL;
    if (!nn__opt_nonneg(ctx, fn, "lr_decay", a.lr_decay)) return NULL;
    if (!nn__opt_nonneg(ctx, fn, "initial_accumulator_value", a.initial_accumulator_value)) return NULL;
    if (!nn__opt_flag(ctx, fn, "maximize", a.maximize)) return NULL;
    o = nn__optim_new(fn, NN__ADAGRAD, params, n, a.lr, a.weight_decay, 0);
    if (!o) return NULL;
    o->lr_decay = a.lr_decay;
    o->initial_acc = a.initial_accumulator_value;
    o->eps = a.eps;
    o->maximize = a.maximize;
    return o;
}

NN_API void nn_optim_free(nn_optim *o) {
    int g, k;
    if (!o) return;
    for (g = 0; g < o->ngroups; g++) {
        for (k = 0; k < 3 * o->groups[g].n; k++) nn_free(o->groups[g].state[k]);
        nn__free(o->groups[g].params);
        nn__free(o->groups[g].state);
        nn__free(o->groups[g].step);
        nn__free(o->groups[g].fresh);
    }
    nn__free(o->groups);
    nn__free(o);
}

static int nn__group_ok(const nn_optim *o, const char *fn, int group) {
    if (group >= 0 && group < o->ngroups) return 1;
    nn__err(o->ctx, "%s: group %d does not exist; the optimizer has groups 0 to %d", fn, group, o->ngroups - 1);
    return 0;
}
NN_API double nn_optim_lr(const nn_optim *o, int group) {
    if (!o || !nn__group_ok(o, "nn_optim_lr", group)) return NAN;
    return o->groups[group].lr;
}
NN_API void nn_optim_set_lr(nn_optim *o, int group, double lr) {
    if (!o || !nn__group_ok(o, "nn_optim_set_lr", group)) return;
    if (!nn__opt_nonneg(o->ctx, "nn_optim_set_lr", "lr", lr)) return;
    o->groups[group].lr = lr;
}
NN_API void nn_optim_zero_grad(nn_optim *o) {
    int g, k;
    if (!o) return;
    for (g = 0; g < o->ngroups; g++) for (k = 0; k < o->groups[g].n; k++) nn_zero_grad(o->groups[g].params[k]);
}

/* ---- update rules: PyTorch 1.13's single-tensor loops; scalars in double, tensors in float ---- */

/* Each rule updates parameter k from its gradient and its state (g->state[3k..3k+2], made by
   nn__prepare_state), or with dry set, changes nothing and stores in *dry the first element whose
   new value would be NaN or infinite. Neither can fail. */

/* the state slots a rule reads (3 per parameter), and the value a new one starts at */
static int nn__state_needed(const nn_optim *o, const nn__group *g, int s, float *init) {
    *init = 0.0f;
    switch (o->kind) {
    case NN__SGD: return s == 0 && (float)g->momentum != 0.0f;                 /* momentum_buffer */
    case NN__ADAM: case NN__ADAMW: return s < 2 || o->amsgrad;                /* exp_avg, exp_avg_sq, max_exp_avg_sq */
    case NN__RMSPROP: return s == 0 || (s == 1 && (float)g->momentum > 0.0f) || (s == 2 && o->centered);
    default: *init = (float)o->initial_acc; return s == 0;                    /* Adagrad's sum */
    }
}
/* state slot s of parameter k when this step's rule reads it (a momentum set to 0 by a scheduler
   leaves its buffer unread, as PyTorch's), else NULL */
static float *nn__st(const nn_optim *o, nn__group *g, int k, int s) {
    float init;
    return g->state[3 * k + s] && nn__state_needed(o, g, s, &init) ? NN__F32(g->state[3 * k + s]) : NULL;
}

#ifdef NN_CUDA
/* nn_cuda.h: one fused update kernel per optimizer, the rules above; dry: the check, storing in *dry
   an element whose new value would not be finite (any one of them) */
static void nn__cuda_sgd(nn_ctx *ctx, const nn__sgd_args *a, int64_t n, int64_t *dry);
static void nn__cuda_adam(nn_ctx *ctx, const nn__adam_args *a, int64_t n, int64_t *dry);
static void nn__cuda_rmsprop(nn_ctx *ctx, const nn__rmsprop_args *a, int64_t n, int64_t *dry);
static void nn__cuda_adagrad(nn_ctx *ctx, const nn__adagrad_args *a, int64_t n, int64_t *dry);
#define NN__ON_CUDA(t) ((t)->device == NN_CUDA)
#else
#define NN__ON_CUDA(t) 0
#endif

/* SGD: d = g + wd p; buf = first ? d : mom buf + (1 - dampening) d; d = nesterov ? d + mom buf : buf; p -= lr d */
static void nn__sgd_update(nn_optim *o, nn__group *g, int k, int64_t *dry) {
    nn_tensor *pt = g->params[k];
    nn__sgd_args a;
    a.p = NN__F32(pt); a.buf = nn__st(o, g, k, 0); a.g = NN__F32(pt->grad);
    a.sign = o->maximize ? -1.0f : 1.0f; a.wd = (float)g->weight_decay; a.mom = (float)g->momentum;
    a.odamp = (float)(1.0 - o->dampening); a.lr = (float)g->lr;
    a.first = g->fresh[k] & 1; a.nesterov = o->nesterov; a.cap = pt->ctx->cap; a.dry = dry;
#ifdef NN_CUDA
    if (NN__ON_CUDA(pt)) { a.dry = NULL; nn__cuda_sgd(pt->ctx, &a, pt->numel, dry); return; }
#endif
    if (dry) nn__sgd_range(&a, 0, pt->numel);                /* the check: one thread, *dry is one variable */
    else nn__parallel_range(pt->ctx, pt->numel, (int64_t)1 << 16, nn__sgd_range, &a);   /* the kernel: section cpu */
}

/* Adam/AdamW: m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2; vmax = max(vmax, v) with amsgrad;
   p -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps). Adam adds wd p to d; AdamW scales p by 1 - lr wd. */
static void nn__adam_update(nn_optim *o, nn__group *g, int k, int64_t *dry) {
    nn_tensor *pt = g->params[k];
    double b1 = g->momentum, b2 = o->beta2, t = (double)g->step[k];
    nn__adam_args a;
    a.p = NN__F32(pt); a.m = nn__st(o, g, k, 0); a.v = nn__st(o, g, k, 1); a.vmax = nn__st(o, g, k, 2); a.g = NN__F32(pt->grad);
    a.sign = o->maximize ? -1.0f : 1.0f; a.wd = (float)g->weight_decay; a.decay = (float)(1.0 - g->lr * g->weight_decay);
    a.fb1 = (float)b1; a.ob1 = (float)(1.0 - b1); a.fb2 = (float)b2; a.ob2 = (float)(1.0 - b2);
    a.bc2s = (float)sqrt(1.0 - pow(b2, t)); a.eps = (float)o->eps; a.step_size = (float)(g->lr / (1.0 - pow(b1, t)));
    a.decoupled = o->kind == NN__ADAMW; a.cap = pt->ctx->cap; a.dry = dry;
#ifdef NN_CUDA
    if (NN__ON_CUDA(pt)) { a.dry = NULL; nn__cuda_adam(pt->ctx, &a, pt->numel, dry); return; }
#endif
    if (dry) nn__adam_range(&a, 0, pt->numel);
    else nn__parallel_range(pt->ctx, pt->numel, (int64_t)1 << 16, nn__adam_range, &a);   /* the kernel: section cpu */
}

/* RMSprop: sq = a sq + (1-a) d^2; avg = sqrt(sq - ga^2) + eps (centered: ga = a ga + (1-a) d) or sqrt(sq) + eps;
   buf = mom buf + d / avg, p -= lr buf (momentum > 0), else p -= lr d / avg */
static void nn__rmsprop_update(nn_optim *o, nn__group *g, int k, int64_t *dry) {
    nn_tensor *pt = g->params[k];
    nn__rmsprop_args r;
    int64_t i;
    r.p = NN__F32(pt); r.sq = nn__st(o, g, k, 0); r.buf = nn__st(o, g, k, 1); r.ga = nn__st(o, g, k, 2); r.g = NN__F32(pt->grad);
    r.a = (float)o->alpha; r.oa = (float)(1.0 - o->alpha); r.eps = (float)o->eps; r.mom = (float)g->momentum;
    r.lr = (float)g->lr; r.wd = (float)g->weight_decay; r.sign = o->maximize ? -1.0f : 1.0f;
#ifdef NN_CUDA
    if (NN__ON_CUDA(pt)) { nn__cuda_rmsprop(pt->ctx, &r, pt->numel, dry); return; }
#endif
    for (i = 0; i < pt->numel; i++) {
        float np, s, b, gai;
        int fin = nn__rmsprop_rule(&r, r.p[i], r.g[i], r.sq[i], r.buf ? r.buf[i] : 0.0f, r.ga ? r.ga[i] : 0.0f, &np, &s, &b, &gai);
        if (dry) {
            if (!fin) { *dry = i; return; }
            continue;
        }
        r.sq[i] = s;
        if (r.ga) r.ga[i] = gai;
        if (r.buf) r.buf[i] = b;
        r.p[i] = np;
    }
}

/* Adagrad: clr = lr / (1 + (t-1) lr_decay); sum += d^2; p -= clr d / (sqrt(sum) + eps) */
static void nn__adagrad_update(nn_optim *o, nn__group *g, int k, int64_t *dry) {
    nn_tensor *pt = g->params[k];
    nn__adagrad_args r;
    int64_t i;
    r.p = NN__F32(pt); r.sum = nn__st(o, g, k, 0); r.g = NN__F32(pt->grad);
    r.clr = (float)(g->lr / (1.0 + (double)(g->step[k] - 1) * o->lr_decay)); r.eps = (float)o->eps;
    r.wd = (float)g->weight_decay; r.sign = o->maximize ? -1.0f : 1.0f;
#ifdef NN_CUDA
    if (NN__ON_CUDA(pt)) { nn__cuda_adagrad(pt->ctx, &r, pt->numel, dry); return; }
#endif
    for (i = 0; i < pt->numel; i++) {
        float np, s;
        int fin = nn__adagrad_rule(&r, r.p[i], r.g[i], r.sum[i], &np, &s);
        if (dry) {
            if (!fin) { *dry = i; return; }
            continue;
        }
        r.sum[i] = s;
        r.p[i] = np;
    }
}

typedef void (*nn__update_fn)(nn_optim *o, nn__group *g, int k, int64_t *dry);
static const nn__update_fn nn__updates[] = { nn__sgd_update, nn__adam_update, nn__adam_update, nn__rmsprop_update,
                                             nn__adagrad_update };

/* undoes what a step did before it was refused: the state it created and (counters) the counters it advanced */
static void nn__step_undo(nn_optim *o, int counters) {
    int gi, k, s;
    for (gi = 0; gi < o->ngroups; gi++) {
        nn__group *g = &o->groups[gi];
        for (k = 0; k < g->n; k++) {
            for (s = 0; s < 3; s++) if (g->fresh[k] & (1u << s)) { nn_free(g->state[3 * k + s]); g->state[3 * k + s] = NULL; }
            if (counters && g->params[k]->grad) g->step[k]--;
            g->fresh[k] = 0;
        }
    }
}

/* Creates every state tensor the step will read (the only allocations of a step): 1, or 0 with an
   error and nothing created. */
static int nn__prepare_state(nn_optim *o) {
    int gi, k, s;
    float init;
    for (gi = 0; gi < o->ngroups; gi++) {
        nn__group *g = &o->groups[gi];
        for (k = 0; k < g->n; k++) {
            nn_tensor *p = g->params[k];
            if (!p->grad) continue;
            for (s = 0; s < 3; s++) {
                if (g->state[3 * k + s] || !nn__state_needed(o, g, s, &init)) continue;
                g->fresh[k] |= (unsigned char)(1u << s);
                g->state[3 * k + s] = nn__new_persistent_on(o->ctx, "nn_optim_step", p->ndim, p->shape, NN_FLOAT32, p->device);
                nn_fill_(g->state[3 * k + s], init);
                if (!g->state[3 * k + s]) {
                    nn__err(o->ctx, "nn_optim_step: out of memory for the optimizer's state; the step was not taken");
                    nn__step_undo(o, 0);
                    return 0;
                }
            }
        }
    }
    return 1;
}

NN_API int nn_optim_step(nn_optim *o) {
    int gi, k, bg = 0, bk = 0;
    int64_t bad = -1;
    char sh[64], name[40];
    if (!o) return 0;
    if (o->ctx->has_error) {        /* gradients made after an error may be partial: never apply them */
        if (o->ctx->log) o->ctx->log(o->ctx->log_user, "nn_optim_step: refused: the context holds an error "
                                     "(nn_error); the parameters were not changed");
        return 0;
    }
    for (gi = 0; gi < o->ngroups; gi++)       /* a gradient that does not match its parameter: refused */
        for (k = 0; k < o->groups[gi].n; k++) {
            nn_tensor *p = o->groups[gi].params[k];
            if (p->grad && (p->grad->numel != p->numel || p->grad->dtype != NN_FLOAT32)) {
                nn__err(o->ctx, "nn_optim_step: parameter %d of group %d has a gradient of %lld elements for its %lld; "
                        "the step was not taken", k, gi, (long long)p->grad->numel, (long long)p->numel);
                return 0;
            }
        }
    if (!nn__prepare_state(o)) return 0;
    for (gi = 0; gi < o->ngroups; gi++) for (k = 0; k < o->groups[gi].n; k++) o->groups[gi].step[k] += o->groups[gi].params[k]->grad != NULL;
    for (gi = 0; gi < o->ngroups && bad < 0; gi++) {      /* the check: would any new value be NaN or inf? */
        nn__group *g = &o->groups[gi];
        for (k = 0; k < g->n && bad < 0; k++) if (g->params[k]->grad) {
            nn__updates[o->kind](o, g, k, &bad);
            bg = gi; bk = k;
        }
    }
    if (bad >= 0) {
        nn_tensor *p = o->groups[bg].params[bk];
        double gv = nn__elem(p->grad, bad);
        nn__step_undo(o, 1);
        if (p->name[0]) nn__snprintf(name, sizeof name, " '%.24s'", p->name);
        else name[0] = 0;
        if (o->skip_nonfinite) {
            char msg[256];
            o->skipped++;
            nn__snprintf(msg, sizeof msg, "warning: nn_optim_step: skipped: parameter %d%s of group %d would become NaN or infinite "
                     "(element %lld, gradient %g); nothing was changed", bk, name, bg, (long long)bad, gv);
            if (o->ctx->log) o->ctx->log(o->ctx->log_user, msg);
            return 0;
        }
        nn__err(o->ctx, "nn_optim_step: refused: parameter %d%s %s of group %d would become NaN or infinite at element %lld "
                "(its gradient there is %g); parameters and optimizer state are unchanged", bk, name,
                NN__SHAPE(p, sh), bg, (long long)bad, gv);
        return 0;
    }
    for (gi = 0; gi < o->ngroups; gi++) {
        nn__group *g = &o->groups[gi];
        for (k = 0; k < g->n; k++) {
            if (g->params[k]->grad) nn__updates[o->kind](o, g, k, NULL);
            g->fresh[k] = 0;
        }
    }
    return 1;
}

NN_API void nn_optim_set_skip_nonfinite(nn_optim *o, int skip) {
    if (!o) return;
    if (skip != 0 && skip != 1) { nn__err(o->ctx, "nn_optim_set_skip_nonfinite: skip is %d; it must be 0 or 1", skip); return; }
    o->skip_nonfinite = skip;
}
NN_API int64_t nn_optim_skipped_steps(const nn_optim *o) { return o ? o->skipped : 0; }

NN_API float nn_clip_grad_norm(nn_tensor **params, int n, float max_norm, float norm_type) {
    double total = 0; int k; int64_t i; float coef;
    if (!params || n <= 0 || !params[0]) return 0.0f;   /* nothing to clip (no context to report to) */
    for (k = 1; k < n; k++) if (!params[k]) { nn__err(params[0]->ctx, "nn_clip_grad_norm: params[%d] is NULL", k); return NAN; }
    if (!(max_norm >= 0.0f) || !(norm_type > 0.0f)) {
        nn__err(params[0]->ctx, "nn_clip_grad_norm: max_norm %g and norm_type %g; max_norm must be >= 0 and norm_type > 0 (or INFINITY)",
                max_norm, norm_type);
        return NAN;
    }
    for (k = 0; k < n; k++) if (params[k]->grad) {   /* a gradient on the GPU: its terms joined there, the total read back */
#ifdef NN_CUDA
        if (params[k]->grad->device != NN_CPU) { if (!nn__cuda_grad_norm(params[k]->grad, norm_type, &total)) return NAN; continue; }
#endif
        for (i = 0; i < params[k]->numel; i++) total = nn__norm_join(total, nn__norm_term(NN__F32(params[k]->grad)[i], norm_type), norm_type);
    }
    if (norm_type != INFINITY) total = pow(total, 1.0 / (double)norm_type);
    coef = (float)((double)max_norm / (total + 1e-6));
    if (coef < 1.0f)
        for (k = 0; k < n; k++) if (params[k]->grad) {
#ifdef NN_CUDA
            if (params[k]->grad->device != NN_CPU) { if (!nn__cuda_scale_(params[k]->grad, coef)) return NAN; continue; }
#endif
            for (i = 0; i < params[k]->numel; i++) NN__F32(params[k]->grad)[i] *= coef;
        }
    return (float)total;
}
NN_API void nn_clip_grad_value(nn_tensor **params, int n, float clip) {
    int k; int64_t i;
    if (!params || n <= 0 || !params[0]) return;   /* nothing to clip (no context to report to) */
    for (k = 1; k < n; k++) if (!params[k]) { nn__err(params[0]->ctx, "nn_clip_grad_value: params[%d] is NULL", k); return; }
    if (clip != clip || clip == -INFINITY) { nn__err(params[0]->ctx, "nn_clip_grad_value: clip_value is %g; it must be a number (INFINITY: no clipping)", (double)clip); return; }
    for (k = 0; k < n; k++) if (params[k]->grad) {
#ifdef NN_CUDA
        if (params[k]->grad->device != NN_CPU) { if (!nn__cuda_clip_(params[k]->grad, clip)) return; continue; }
#endif
        for (i = 0; i < params[k]->numel; i++) NN__F32(params[k]->grad)[i] = nn__clip_value(NN__F32(params[k]->grad)[i], clip);
    }
}

/* ==== schedulers ==== */

enum { NN__STEP_LR, NN__MULTI_STEP_LR, NN__EXPONENTIAL_LR, NN__COSINE_LR, NN__LINEAR_LR, NN__ONE_CYCLE_LR,
       NN__PLATEAU };   /* order indexes nn__sched_lr_at; the checkpoint saves it */

struct nn_scheduler {
    int kind;
    nn_optim *o;
    int64_t last_epoch, step_size, t_max, total;
    int64_t *milestones;                    /* nmilestones of them, increasing */
    int nmilestones;
    int ngroups;                            /* the optimizer's groups when the scheduler was made */
    double gamma, eta_min, start_factor, end_factor;
    nn_one_cycle_opts oc;
    nn_plateau_opts pl;
    double best;                            /* ReduceLROnPlateau's state */
    int64_t num_bad, cooldown_counter;
};

NN_API nn_one_cycle_opts nn_one_cycle_opts_default(void) {
    nn_one_cycle_opts o;
    memset(&o, 0, sizeof o);
    o.pct_start = 0.3;
    o.anneal_strategy = NN_ANNEAL_COS;
    o.cycle_momentum = 1;
    o.base_momentum = 0.85;
    o.max_momentum = 0.95;
    o.div_factor = 25.0;
    o.final_div_factor = 1e4;
    o.three_phase = 0;
    return o;
}
NN_API nn_plateau_opts nn_plateau_opts_default(void) {
    nn_plateau_opts o;
    memset(&o, 0, sizeof o);
    o.mode = NN_MODE_MIN;
    o.factor = 0.1;
    o.patience = 10;
    o.threshold = 1e-4;
    o.threshold_mode = NN_THRESHOLD_REL;
    o.cooldown = 0;
    o.min_lr = 0.0;
    o.eps = 1e-8;
    return o;
}

/* ---- the lr of a group at s->last_epoch, from its current lr: PyTorch's chainable get_lr, one per scheduler ---- */

static double nn__step_lr_at(nn_scheduler *s, nn__group *g) {
    int64_t e = s->last_epoch;
    return (e == 0 || e % s->step_size) ? g->lr : g->lr * s->gamma;
}
static double nn__multi_step_lr_at(nn_scheduler *s, nn__group *g) {
    int k, hits = 0;
    for (k = 0; k < s->nmilestones; k++) hits += s->milestones[k] == s->last_epoch;
    return hits ? g->lr * pow(s->gamma, hits) : g->lr;
}
static double nn__exponential_lr_at(nn_scheduler *s, nn__group *g) {
    return s->last_epoch == 0 ? g->lr : g->lr * s->gamma;
}
static double nn__cosine_lr_at(nn_scheduler *s, nn__group *g) {
    double T = (double)s->t_max, pi = 3.141592653589793, e = (double)s->last_epoch;
    if (s->last_epoch == 0) return g->lr;
    if ((s->last_epoch - 1 - s->t_max) % (2 * s->t_max) == 0)
        return g->lr + (g->initial_lr - s->eta_min) * (1.0 - cos(pi / T)) / 2.0;
    return (1.0 + cos(pi * e / T)) / (1.0 + cos(pi * (e - 1.0) / T)) * (g->lr - s->eta_min) + s->eta_min;
}
static double nn__linear_lr_at(nn_scheduler *s, nn__group *g) {
    int64_t e = s->last_epoch;
    double d = s->end_factor - s->start_factor;
    if (e == 0) return g->lr * s->start_factor;
    if (e > s->total) return g->lr;
    return g->lr * (1.0 + d / ((double)s->total * s->start_factor + (double)(e - 1) * d));
}
static double nn__anneal(const nn_scheduler *s, double start, double end, double pct) {
    if (s->oc.anneal_strategy == NN_ANNEAL_LINEAR) return (end - start) * pct + start;
    return end + (start - end) / 2.0 * (cos(3.141592653589793 * pct) + 1.0);
}
/* OneCycleLR: phases (initial -> max -> min) or three (initial -> max -> initial -> min); momentum the other way */
static double nn__one_cycle_lr_at(nn_scheduler *s, nn__group *g) {
    double ends[3], lrs[4], moms[4], pct, start = 0, total = (double)s->total, pct_start = s->oc.pct_start;
    double xm = s->oc.max_momentum, bm = s->oc.base_momentum;
    int nph = s->oc.three_phase ? 3 : 2, i;
    ends[0] = pct_start * total - 1;
    lrs[0] = g->initial_lr; lrs[1] = g->max_lr; moms[0] = xm; moms[1] = bm;
    if (s->oc.three_phase) {
        ends[1] = 2 * pct_start * total - 2; ends[2] = total - 1;
        lrs[2] = g->initial_lr; lrs[3] = g->min_lr; moms[2] = xm; moms[3] = xm;
    } else {
        ends[1] = total - 1;
        lrs[2] = g->min_lr; moms[2] = xm;
    }
    for (i = 0; i < nph; i++) {
        if ((double)s->last_epoch <= ends[i] || i == nph - 1) {
            pct = ((double)s->last_epoch - start) / (ends[i] - start);
            if (s->oc.cycle_momentum) g->momentum = nn__anneal(s, moms[i], moms[i + 1], pct);
            return nn__anneal(s, lrs[i], lrs[i + 1], pct);
        }
        start = ends[i];
    }
    return g->lr;
}

typedef double (*nn__sched_fn)(nn_scheduler *s, nn__group *g);
static const nn__sched_fn nn__sched_lr_at[] = { nn__step_lr_at, nn__multi_step_lr_at, nn__exponential_lr_at,
                                                nn__cosine_lr_at, nn__linear_lr_at, nn__one_cycle_lr_at };

/* ---- constructors ---- */

static nn_scheduler *nn__sched_new(const char *fn, int kind, nn_optim *o) {
    nn_scheduler *s;
    int g;
    s = NN__CAST(nn_scheduler *, nn__malloc(sizeof(nn_scheduler)));
    if (!s) { nn__err(o->ctx, "%s: out of memory", fn); return NULL; }
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->o = o;
    s->last_epoch = -1;
    s->ngroups = o->ngroups;
    for (g = 0; g < o->ngroups; g++) {         /* group.setdefault('initial_lr', group['lr']) */
        if (o->groups[g].has_initial_lr) continue;
        o->groups[g].initial_lr = o->groups[g].lr;
        o->groups[g].has_initial_lr = 1;
    }
    return s;
}
/* the constructor's first step (last_epoch -1 -> 0), as PyTorch */
static void nn__sched_step(nn_scheduler *s);
static nn_scheduler *nn__sched_start(nn_scheduler *s) { if (s) nn__sched_step(s); return s; }

NN_API nn_scheduler *nn_step_lr(nn_optim *o, int64_t step_size, double gamma) {
    const char *fn = "nn_step_lr";
    nn_scheduler *s;
    if (!o || !nn__opt_finite(o->ctx, fn, "gamma", gamma)) return NULL;
    if (step_size <= 0) {
        nn__err(o->ctx, "%s: step_size is %lld; it must be > 0", fn, (long long)step_size);
        return NULL;
    }
    if (!(s = nn__sched_new(fn, NN__STEP_LR, o))) return NULL;
    s->step_size = step_size;
    s->gamma = gamma;
    return nn__sched_start(s);
}

static int nn__check_milestones(nn_ctx *ctx, const char *fn, const int64_t *milestones, int n) {
    int k;
    if (n < 0 || (n > 0 && !milestones)) {
        nn__err(ctx, "%s: %d milestones at %s; give n >= 0 and an array of n", fn, n, milestones ? "an array" : "NULL");
        return 0;
    }
    for (k = 1; k < n; k++) if (milestones[k] < milestones[k - 1]) {
        nn__err(ctx, "%s: milestones[%d] is %lld after %lld; milestones must be increasing", fn, k,
                (long long)milestones[k], (long long)milestones[k - 1]);
        return 0;
    }
    return 1;
}
NN_API nn_scheduler *nn_multi_step_lr(nn_optim *o, const int64_t *milestones, int n, double gamma) {
    const char *fn = "nn_multi_step_lr";
    nn_scheduler *s;
    if (!o || !nn__check_milestones(o->ctx, fn, milestones, n)) return NULL;
    if (!nn__opt_finite(o->ctx, fn, "gamma", gamma)) return NULL;
    if (!(s = nn__sched_new(fn, NN__MULTI_STEP_LR, o))) return NULL;
    s->milestones = NN__CAST(int64_t *, nn__malloc((size_t)(n ? n : 1) * sizeof(int64_t)));
    if (!s->milestones) { nn__err(o->ctx, "%s: out of memory", fn); nn_scheduler_free(s); return NULL; }
    if (n) memcpy(s->milestones, milestones, (size_t)n * sizeof(int64_t));
    s->nmilestones = n;
    s->gamma = gamma;
    return nn__sched_start(s);
}

NN_API nn_scheduler *nn_exponential_lr(nn_optim *o, double gamma) {
    nn_scheduler *s;
    if (!o || !nn__opt_finite(o->ctx, "nn_exponential_lr", "gamma", gamma)) return NULL;
    if (!(s = nn__sched_new("nn_exponential_lr", NN__EXPONENTIAL_LR, o))) return NULL;
    s->gamma = gamma;
    return nn__sched_start(s);
}

NN_API nn_scheduler *nn_cosine_annealing_lr(nn_optim *o, int64_t T_max, double eta_min) {
    const char *fn = "nn_cosine_annealing_lr";
    nn_scheduler *s;
    if (!o || !nn__opt_finite(o->ctx, fn, "eta_min", eta_min)) return NULL;
    if (T_max <= 0) { nn__err(o->ctx, "%s: T_max is %lld; it must be > 0", fn, (long long)T_max); return NULL; }
    if (!(s = nn__sched_new(fn, NN__COSINE_LR, o))) return NULL;
    s->t_max = T_max;
    s->eta_min = eta_min;
    return nn__sched_start(s);
}

NN_API nn_scheduler *nn_linear_lr(nn_optim *o, double start_factor, double end_factor, int64_t total_iters) {
    const char *fn = "nn_linear_lr";
    nn_scheduler *s;
    if (!o) return NULL;
    if (!(start_factor > 0.0 && start_factor <= 1.0)) {
        nn__err(o->ctx, "%s: start_factor is %g; it must be in (0, 1]", fn, start_factor);
        return NULL;
    }
    if (!(end_factor >= 0.0 && end_factor <= 1.0)) {
        nn__err(o->ctx, "%s: end_factor is %g; it must be in [0, 1]", fn, end_factor);
        return NULL;
    }
    if (total_iters < 0) {
        nn__err(o->ctx, "%s: total_iters is %lld; it must be >= 0", fn, (long long)total_iters);
        return NULL;
    }
    if (!(s = nn__sched_new(fn, NN__LINEAR_LR, o))) return NULL;
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total = total_iters;
    return nn__sched_start(s);
}

static int nn__check_one_cycle(nn_optim *o, double max_lr, int64_t total_steps, const nn_one_cycle_opts *oc) {
    const char *fn = "nn_one_cycle_lr";
    nn_ctx *ctx = o->ctx;
    if (total_steps <= 0) {
        nn__err(ctx, "%s: total_steps is %lld; it must be > 0", fn, (long long)total_steps);
        return 0;
    }
    if (!nn__opt_nonneg(ctx, fn, "max_lr", max_lr)) return 0;
    if (!nn__opt_flag(ctx, fn, "cycle_momentum", oc->cycle_momentum) || !nn__opt_flag(ctx, fn, "three_phase", oc->three_phase)) return 0;
    if (!(oc->pct_start >= 0.0 && oc->pct_start <= 1.0)) {
        nn__err(ctx, "%s: pct_start is %g; it must be in [0, 1]", fn, oc->pct_start);
        return 0;
    }
    if (oc->anneal_strategy != NN_ANNEAL_COS && oc->anneal_strategy != NN_ANNEAL_LINEAR) {
        nn__err(ctx, "%s: anneal_strategy is %d; it must be NN_ANNEAL_COS or NN_ANNEAL_LINEAR", fn,
                (int)oc->anneal_strategy);
        return 0;
    }
    if (!(nn__finite(oc->div_factor) && oc->div_factor > 0.0)) {
        nn__err(ctx, "%s: div_factor is %g; it must be finite and > 0", fn, oc->div_factor);
        return 0;
    }
    if (!(nn__finite(oc->final_div_factor) && oc->final_div_factor > 0.0)) {
        nn__err(ctx, "%s: final_div_factor is %g; it must be finite and > 0", fn, oc->final_div_factor);
        return 0;
    }
    if (!oc->cycle_momentum) return 1;
    if (o->kind == NN__ADAGRAD) {
        nn__err(ctx, "%s: cycle_momentum is on but Adagrad has no momentum; the optimizer must support momentum", fn);
        return 0;
    }
    return nn__opt_finite(ctx, fn, "base_momentum", oc->base_momentum) &&
           nn__opt_finite(ctx, fn, "max_momentum", oc->max_momentum);
}
NN_API nn_scheduler *nn_one_cycle_lr(nn_optim *o, double max_lr, int64_t total_steps, nn_one_cycle_opts oc) {
    nn_scheduler *s;
    int g;
    if (!o || !nn__check_one_cycle(o, max_lr, total_steps, &oc)) return NULL;
    for (g = 0; g < o->ngroups; g++) {
        nn__group *gr = &o->groups[g];
        gr->initial_lr = max_lr / oc.div_factor;
        gr->has_initial_lr = 1;
        gr->max_lr = max_lr;
        gr->min_lr = gr->initial_lr / oc.final_div_factor;
        if (oc.cycle_momentum) gr->momentum = oc.max_momentum;
    }
    if (!(s = nn__sched_new("nn_one_cycle_lr", NN__ONE_CYCLE_LR, o))) return NULL;
    s->oc = oc;
    s->total = total_steps;
    return nn__sched_start(s);
}

static int nn__check_plateau(nn_ctx *ctx, const nn_plateau_opts *p) {
    const char *fn = "nn_reduce_lr_on_plateau";
    if (p->mode != NN_MODE_MIN && p->mode != NN_MODE_MAX) {
        nn__err(ctx, "%s: mode is %d; it must be NN_MODE_MIN or NN_MODE_MAX", fn, (int)p->mode);
        return 0;
    }
    if (p->threshold_mode != NN_THRESHOLD_REL && p->threshold_mode != NN_THRESHOLD_ABS) {
        nn__err(ctx, "%s: threshold_mode is %d; it must be NN_THRESHOLD_REL or NN_THRESHOLD_ABS", fn,
                (int)p->threshold_mode);
        return 0;
    }
    if (!(p->factor >= 0.0 && p->factor < 1.0)) {
        nn__err(ctx, "%s: factor is %g; it must be in [0, 1)", fn, p->factor);
        return 0;
    }
    if (p->patience < 0 || p->cooldown < 0) {
        nn__err(ctx, "%s: %s is %lld; it must be >= 0", fn, p->patience < 0 ? "patience" : "cooldown",
                (long long)(p->patience < 0 ? p->patience : p->cooldown));
        return 0;
    }
    return nn__opt_finite(ctx, fn, "threshold", p->threshold) && nn__opt_nonneg(ctx, fn, "min_lr", p->min_lr) &&
           nn__opt_nonneg(ctx, fn, "eps", p->eps);
}
NN_API nn_scheduler *nn_reduce_lr_on_plateau(nn_optim *o, nn_plateau_opts p) {
    nn_scheduler *s;
    if (!o || !nn__check_plateau(o->ctx, &p)) return NULL;
    if (!(s = nn__sched_new("nn_reduce_lr_on_plateau", NN__PLATEAU, o))) return NULL;
    s->pl = p;
    s->last_epoch = 0;
    s->best = p.mode == NN_MODE_MAX ? -INFINITY : INFINITY;
    return s;
}

/* ---- stepping ---- */

/* a scheduler does not step while the context holds an error: the step it schedules was refused */
static int nn__sched_refused(const nn_scheduler *s, const char *fn) {
    nn_ctx *ctx = s->o->ctx;
    char msg[160];
    if (!ctx->has_error) return 0;
    nn__snprintf(msg, sizeof msg, "%s: refused: the context holds an error (nn_error); the learning rate was not changed", fn);
    if (ctx->log) ctx->log(ctx->log_user, msg);
    return 1;
}
static void nn__sched_step(nn_scheduler *s) {
    int g;
    if (s->kind == NN__PLATEAU) {
        nn__err(s->o->ctx, "nn_scheduler_step: ReduceLROnPlateau needs a metric; use nn_scheduler_step_metric");
        return;
    }
    if (s->kind == NN__ONE_CYCLE_LR && s->last_epoch + 1 > s->total) {
        nn__err(s->o->ctx, "nn_scheduler_step: OneCycleLR tried to step %lld times (the constructor's step counts); "
                "total_steps is %lld",
                (long long)(s->last_epoch + 2), (long long)s->total);
        return;
    }
    if (s->kind == NN__ONE_CYCLE_LR && s->o->ngroups != s->ngroups) {
        nn__err(s->o->ctx, "nn_scheduler_step: OneCycleLR was made for %d param groups and the optimizer now has %d; "
                "a group added later has no max_lr", s->ngroups, s->o->ngroups);
        return;
    }
    s->last_epoch++;
    for (g = 0; g < s->o->ngroups; g++) s->o->groups[g].lr = nn__sched_lr_at[s->kind](s, &s->o->groups[g]);
}
NN_API void nn_scheduler_step(nn_scheduler *s) {
    if (s && !nn__sched_refused(s, "nn_scheduler_step")) nn__sched_step(s);
}

static int nn__plateau_better(const nn_scheduler *s, double a) {
    double b = s->best, th = s->pl.threshold;
    if (s->pl.mode == NN_MODE_MAX) return s->pl.threshold_mode == NN_THRESHOLD_ABS ? a > b + th : a > b * (1.0 + th);
    return s->pl.threshold_mode == NN_THRESHOLD_ABS ? a < b - th : a < b * (1.0 - th);
}
static void nn__plateau_reduce(nn_scheduler *s) {
    int g;
    for (g = 0; g < s->o->ngroups; g++) {
        double old = s->o->groups[g].lr, nw = old * s->pl.factor;
        if (nw < s->pl.min_lr) nw = s->pl.min_lr;
        if (old - nw > s->pl.eps) s->o->groups[g].lr = nw;
    }
}
NN_API void nn_scheduler_step_metric(nn_scheduler *s, float metric) {
    if (!s || nn__sched_refused(s, "nn_scheduler_step_metric")) return;
    if (s->kind != NN__PLATEAU) { nn__sched_step(s); return; }
    s->last_epoch++;
    if (nn__plateau_better(s, metric)) {
        s->best = metric;
        s->num_bad = 0;
    } else {
        s->num_bad++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad = 0;
    }
    if (s->num_bad > s->pl.patience) {
        nn__plateau_reduce(s);
        s->cooldown_counter = s->pl.cooldown;
        s->num_bad = 0;
    }
}
NN_API double nn_scheduler_last_lr(const nn_scheduler *s, int group) { return s ? nn_optim_lr(s->o, group) : NAN; }
NN_API void nn_scheduler_free(nn_scheduler *s) {
    if (!s) return;
    nn__free(s->milestones);
    nn__free(s);
}
/* ==== serialisation ==== */
/* safetensors files, models and training checkpoints */
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

/* file dtypes (NN__ST_*), not nn_dtype */
enum { NN__ST_F32, NN__ST_F64, NN__ST_F16, NN__ST_BF16, NN__ST_I64, NN__ST_I32, NN__DTYPES };
static const char *nn__dtype_names[NN__DTYPES] = { "F32", "F64", "F16", "BF16", "I64", "I32" };
static const int nn__dtype_size[NN__DTYPES] = { 4, 8, 2, 2, 8, 4 };

static int nn__little_endian(void) { const uint16_t one = 1; return *(const unsigned char *)&one == 1; }

/* ---- a small JSON reader for the header ---- */
typedef struct nn__json { const char *start, *p, *end; int ok; char msg[160]; } nn__json;
static void nn__jfail(nn__json *j, const char *what) { if (j->ok) { j->ok = 0; nn__snprintf(j->msg, sizeof j->msg, "%s at header byte %ld", what, (long)(j->p - j->start)); } }
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
    out = NN__CAST(char *, nn__malloc((size_t)(j->p - s) + 1));
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
        if (*n >= max) { nn__jfail(j, max == 2 ? "too many numbers" : "more dims than NN_MAX_DIMS"); return 0; }
        if (!nn__jint(j, &v[(*n)++])) return 0;
    } while (nn__jchar(j, ','));
    if (!nn__jchar(j, ']')) { nn__jfail(j, "expected ']'"); return 0; }
    return 1;
}

static int nn__st_fail(nn_safetensors *st, const char *fmt, const char *a, const char *b) {
    char msg[400];
    nn__snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
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
        if (!nn__jchar(&j, ':')) { nn__free(key); nn__jfail(&j, "expected ':'"); break; }
        if (!strcmp(key, "__metadata__")) {
            nn__free(key);
            if (!nn__jchar(&j, '{')) { nn__jfail(&j, "__metadata__ is not an object"); break; }
            if (nn__jchar(&j, '}')) continue;
            do {
                char *k = nn__jstring(&j), *v;
                if (!k) break;
                if (!nn__jchar(&j, ':') || !(v = nn__jstring(&j))) { nn__free(k); nn__jfail(&j, "metadata values must be strings"); break; }
                if (st->nmeta + 2 > st->meta_cap) {
                    int cap = st->meta_cap ? 2 * st->meta_cap : 32;
                    char **m = NN__CAST(char **, nn__realloc(st->meta, (size_t)cap * sizeof(char *)));
                    if (!m) { nn__free(k); nn__free(v); nn__jfail(&j, "out of memory"); break; }
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
                nn__st_entry *ne = NN__CAST(nn__st_entry *, nn__realloc(st->e, (size_t)cap * sizeof(nn__st_entry)));
                if (!ne) { nn__free(key); nn__jfail(&j, "out of memory"); break; }
                st->e = ne; st->cap = cap;
            }
            st->e[st->n++] = e;      /* owned from here on, freed with st */
            if (!nn__jchar(&j, '{')) { nn__jfail(&j, "a tensor entry is not an object"); break; }
            do {
                char *f = nn__jstring(&j);
                if (!f) break;
                if (!nn__jchar(&j, ':')) { nn__free(f); nn__jfail(&j, "expected ':'"); break; }
                if (!strcmp(f, "dtype")) {
                    char *dt = nn__jstring(&j);
                    if (dt) for (d = 0; d < NN__DTYPES; d++) if (!strcmp(dt, nn__dtype_names[d])) st->e[st->n - 1].dtype = d;
                    if (dt && st->e[st->n - 1].dtype < 0) { nn__free(f); nn__st_fail(st, "tensor \"%s\" has dtype %s; nn.h reads F32, F64, F16, BF16, I64 and I32", key, dt); nn__free(dt); return 0; }
                    nn__free(dt); have_dtype = 1;
                } else if (!strcmp(f, "shape")) { nn__jints(&j, st->e[st->n - 1].shape, NN_MAX_DIMS, &nd); st->e[st->n - 1].ndim = nd; have_shape = 1; }
                else if (!strcmp(f, "data_offsets")) {
                    int two = 0;
                    nn__jints(&j, offs, 2, &two);
                    if (j.ok && two != 2) nn__jfail(&j, "data_offsets needs two numbers");
                    have_off = 1;
                } else { nn__free(f); nn__jfail(&j, "unknown field in a tensor entry"); break; }
                nn__free(f);
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
    for (k = 0; k < st->n; k++) nn__free(st->e[k].name);
    for (k = 0; k < st->nmeta; k++) nn__free(st->meta[k]);
    nn__free(st->e); nn__free(st->meta); nn__free(st->file); nn__free(st->path);
    nn__free(st);
}

/* path.bak, left by a save that moved the old file aside and was interrupted before the new one
   was in place (systems whose rename cannot replace a file); NULL and errno ENOENT if absent. */
static FILE *nn__open_bak(nn_ctx *ctx, const char *path) {
    char bak[4096]; FILE *f;
    if (strlen(path) + 5 > sizeof bak) { errno = ENOENT; return NULL; }
    sprintf(bak, "%s.bak", path);
    f = fopen(bak, "rb");
    if (f) {
        char msg[512];
        nn__snprintf(msg, sizeof msg, "warning: %.200s is missing; reading its .bak, the copy an interrupted save left", path);
        if (ctx->log) ctx->log(ctx->log_user, msg);
    } else errno = ENOENT;
    return f;
}

NN_API nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path) {
    nn_safetensors *st; FILE *f; long size; uint64_t hlen = 0; int k;
    if (!ctx) return NULL;
    if (!path) { nn__err(ctx, "nn_safetensors_open: path is NULL"); return NULL; }
    errno = 0;
    f = fopen(path, "rb");
    if (!f && errno == ENOENT) f = nn__open_bak(ctx, path);    /* a save interrupted where rename cannot replace */
    if (!f) { int e = errno; nn__err(ctx, "nn_safetensors_open: cannot open %s: %s", path, e ? strerror(e) : "unknown error"); return NULL; }
    st = NN__CAST(nn_safetensors *, nn__malloc(sizeof(nn_safetensors)));
    if (!st) { fclose(f); nn__err(ctx, "nn_safetensors_open: out of memory"); return NULL; }
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->path = NN__CAST(char *, nn__malloc(strlen(path) + 1));
    if (st->path) strcpy(st->path, path);
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); nn__err(ctx, "nn_safetensors_open: cannot read %s", path); nn_safetensors_close(st); return NULL; }
    st->size = size;
    st->file = NN__CAST(unsigned char *, nn__malloc((size_t)size + 1));
    if (!st->file || fread(st->file, 1, (size_t)size, f) != (size_t)size) { fclose(f); nn__err(ctx, "nn_safetensors_open: cannot read %s", path); nn_safetensors_close(st); return NULL; }
    fclose(f);
    if (size < 8) { nn__st_fail(st, "the file is %s bytes; too short for a safetensors header%s", size < 1 ? "0" : "< 8", NULL); nn_safetensors_close(st); return NULL; }
    for (k = 7; k >= 0; k--) hlen = (hlen << 8) | st->file[k];
    if (hlen > (uint64_t)(size - 8)) { nn__st_fail(st, "the header length is larger than the file (truncated or not safetensors)%s%s", NULL, NULL); nn_safetensors_close(st); return NULL; }
    if (hlen > ((uint64_t)1 << 30)) { nn__st_fail(st, "the JSON header is over 1 GiB, nn.h's limit%s%s", NULL, NULL); nn_safetensors_close(st); return NULL; }
    st->data_at = 8 + (int64_t)hlen;
    if (!nn__st_parse(st, (const char *)st->file + 8, (int64_t)hlen)) { nn_safetensors_close(st); return NULL; }
    return st;
}

NN_API int nn_safetensors_count(const nn_safetensors *st) { return st ? st->n : 0; }
NN_API const char *nn_safetensors_name(const nn_safetensors *st, int i) { return st && i >= 0 && i < st->n ? st->e[i].name : NULL; }
NN_API const char *nn_safetensors_meta(const nn_safetensors *st, const char *key) {
    int k;
    if (!st) return NULL;
    if (!key) { nn__err(st->ctx, "nn_safetensors_meta: key is NULL"); return NULL; }
    for (k = 0; k + 1 < st->nmeta; k += 2) if (!strcmp(st->meta[k], key)) return st->meta[k + 1];
    return NULL;
}
/* the entry named prefix + name */
static const nn__st_entry *nn__st_find2(const nn_safetensors *st, const char *prefix, const char *name) {
    int k; size_t pl = strlen(prefix);
    for (k = 0; k < st->n; k++) if (!strncmp(st->e[k].name, prefix, pl) && !strcmp(st->e[k].name + pl, name)) return &st->e[k];
    return NULL;
}
static const nn__st_entry *nn__st_find(const nn_safetensors *st, const char *name) { return nn__st_find2(st, "", name); }

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

static int nn__st_is_int(int dtype) { return dtype == NN__ST_I64 || dtype == NN__ST_I32; }

/* element i of entry e: *iv for integer dtypes, else *fv */
static void nn__st_elem(const nn_safetensors *st, const nn__st_entry *e, int64_t i, int64_t *iv, double *fv) {
    int sz = nn__dtype_size[e->dtype], b;
    const unsigned char *p = st->file + st->data_at + e->begin + i * sz;
    uint64_t u = 0;
    for (b = sz - 1; b >= 0; b--) u = (u << 8) | p[b];     /* little-endian bytes */
    *iv = 0; *fv = 0;
    switch (e->dtype) {
    case NN__ST_F32: { uint32_t v = (uint32_t)u; float f; memcpy(&f, &v, 4); *fv = f; } break;
    case NN__ST_F64: memcpy(fv, &u, 8); break;
    case NN__ST_F16: *fv = nn__half_to_float((uint16_t)u, 0); break;
    case NN__ST_BF16: *fv = nn__half_to_float((uint16_t)u, 1); break;
    case NN__ST_I64: *iv = (int64_t)u; break;
    case NN__ST_I32: *iv = (int32_t)(uint32_t)u; break;
    default: break;
    }
}

/* a double as float32, saturating to +-inf as IEEE rounding would (no undefined cast) */
static float nn__to_f32(double v) {
    if (v > 3.4028235677973366e38) return INFINITY;
    if (v < -3.4028235677973366e38) return -INFINITY;
    return (float)v;
}

/* The values of entry e into t (contiguous, float32 or int64), converted as PyTorch's copy_
   would; a float into int64 must be whole (nn__st_fits checked it). */
/* 1, or 0 when a copy into a GPU tensor failed (the error is in ctx) */
static int nn__st_read(const nn_safetensors *st, const nn__st_entry *e, nn_tensor *t) {
    int64_t i, n = (e->end - e->begin) / nn__dtype_size[e->dtype], iv; double fv;
    int is_int = nn__st_is_int(e->dtype);
#ifdef NN_CUDA
    if (t->device != NN_CPU) {   /* a GPU tensor: converted on the host a chunk at a time, no allocation */
        union { float f[2048]; int64_t i[2048]; } buf;
        int64_t c0, c, m = n < t->numel ? n : t->numel;
        size_t es = nn_dtype_size(t->dtype);
        for (c0 = 0; c0 < m; c0 += c) {
            c = m - c0 < 2048 ? m - c0 : 2048;
            for (i = 0; i < c; i++) {
                nn__st_elem(st, e, c0 + i, &iv, &fv);
                if (t->dtype == NN_INT64) buf.i[i] = is_int ? iv : (int64_t)fv;
                else buf.f[i] = is_int ? (float)iv : nn__to_f32(fv);
            }
            if (!nn__cuda_write(t->ctx, NN__CAST(char *, t->data) + (size_t)c0 * es, &buf, (size_t)c * es)) return 0;
        }
        return 1;
    }
#endif
    for (i = 0; i < n && i < t->numel; i++) {
        nn__st_elem(st, e, i, &iv, &fv);
        if (t->dtype == NN_INT64) NN__I64(t)[i] = is_int ? iv : (int64_t)fv;
        else NN__F32(t)[i] = is_int ? (float)iv : nn__to_f32(fv);
    }
    return 1;
}

/* Can entry e be read into a tensor of this shape and dtype? 0 with an error naming prefix + name. */
static int nn__st_fits(const nn_safetensors *st, const nn__st_entry *e, int ndim, const int64_t *shape, nn_dtype dtype,
                       const char *fn, const char *prefix, const char *name) {
    int d; int64_t i, n, iv; double fv; char s1[128], s2[128];
    int same = e->ndim == ndim;
    for (d = 0; same && d < ndim; d++) if (e->shape[d] != shape[d]) same = 0;
    if (!same) {
        nn_tensor a, b;
        memset(&a, 0, sizeof a); memset(&b, 0, sizeof b);
        a.ndim = e->ndim; memcpy(a.shape, e->shape, sizeof a.shape);
        b.ndim = ndim; if (ndim) memcpy(b.shape, shape, (size_t)ndim * sizeof(int64_t));
        nn__err(st->ctx, "%s: tensor \"%s%s\" in %s is %s but the model's is %s", fn, prefix, name, st->path, NN__SHAPE(&a, s1), NN__SHAPE(&b, s2));
        return 0;
    }
    if (dtype != NN_FLOAT32 && dtype != NN_INT64) {
        nn__err(st->ctx, "%s: tensor \"%s%s\" is %s in the model; nn.h loads into float32 and int64 tensors", fn, prefix, name, nn_dtype_name(dtype));
        return 0;
    }
    if (dtype != NN_INT64 || nn__st_is_int(e->dtype)) return 1;
    n = (e->end - e->begin) / nn__dtype_size[e->dtype];
    for (i = 0; i < n; i++) {
        nn__st_elem(st, e, i, &iv, &fv);
        if (!(fv == floor(fv) && fabs(fv) < 9.2e18)) {
            nn__err(st->ctx, "%s: tensor \"%s%s\" in %s is %s with value %g at %lld, but the model's is int64: dtype mismatch",
                    fn, prefix, name, st->path, nn__dtype_names[e->dtype], fv, (long long)i);
            return 0;
        }
    }
    return 1;
}

NN_API nn_tensor *nn_safetensors_get(nn_safetensors *st, const char *name) {
    const nn__st_entry *e; nn_tensor *t;
    if (!st) return NULL;
    if (!name) { nn__err(st->ctx, "nn_safetensors_get: name is NULL"); return NULL; }
    e = nn__st_find(st, name);
    if (!e) { nn__err(st->ctx, "nn_safetensors_get: %s has no tensor \"%s\"", st->path, name); return NULL; }
    t = nn_empty_dtype(st->ctx, e->ndim, e->shape, nn__st_is_int(e->dtype) ? NN_INT64 : NN_FLOAT32);
    if (t) nn__st_read(st, e, t);
    return t;
}

/* growing text buffer for the JSON header */
typedef struct nn__buf { char *p; size_t n, cap; int ok; } nn__buf;
static void nn__bput(nn__buf *b, const char *s, size_t n) {
    if (!b->ok) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096; char *q;
        while (cap < b->n + n + 1) cap *= 2;
        q = NN__CAST(char *, nn__realloc(b->p, cap));
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
        else if ((unsigned char)*s < 0x20) { char e[8]; nn__snprintf(e, sizeof e, "\\u%04x", (unsigned)(unsigned char)*s); nn__bput(b, e, 6); }
        else nn__bput(b, s, 1);
    }
    nn__bput(b, "\"", 1);
}

/* the safetensors dtype name of an nn_dtype, or NULL */
static const char *nn__st_dtype_of(nn_dtype t) {
    switch (t) {
    case NN_FLOAT32: return "F32";
    case NN_INT64: return "I64";
    case NN_FLOAT16: return "F16";
    case NN_BFLOAT16: return "BF16";
    default: return NULL;
    }
}

/* the JSON header: metadata, then each tensor's dtype, shape and byte range */
static void nn__st_header(nn__buf *b, const char *const *names, nn_tensor *const *tensors, int n,
                          const char *const *meta_keys, const char *const *meta_values, int nmeta) {
    int k, d; int64_t off = 0; char num[64];
    nn__bput(b, "{", 1);
    if (nmeta > 0) {
        nn__bputs(b, "\"__metadata__\":{");
        for (k = 0; k < nmeta; k++) { if (k) nn__bput(b, ",", 1); nn__bstr(b, meta_keys[k]); nn__bput(b, ":", 1); nn__bstr(b, meta_values[k]); }
        nn__bput(b, "}", 1);
    }
    for (k = 0; k < n; k++) {
        int64_t bytes = tensors[k]->numel * (int64_t)nn_dtype_size(tensors[k]->dtype);
        if (k || nmeta > 0) nn__bput(b, ",", 1);
        nn__bstr(b, names[k]);
        nn__bputs(b, ":{\"dtype\":\"");
        nn__bputs(b, nn__st_dtype_of(tensors[k]->dtype));
        nn__bputs(b, "\",\"shape\":[");
        for (d = 0; d < tensors[k]->ndim; d++) { nn__snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)tensors[k]->shape[d]); nn__bputs(b, num); }
        nn__snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)off, (long long)(off + bytes));
        nn__bputs(b, num);
        off += bytes;
    }
    nn__bput(b, "}", 1);
    while (b->ok && b->n % 8) nn__bput(b, " ", 1);      /* data starts 8-byte aligned */
}

/* t's elements in row-major order, little-endian */
static int nn__st_write_data(FILE *f, nn_tensor *t) {
    size_t es = nn_dtype_size(t->dtype); nn__walk w; int64_t i;
    const unsigned char *base = NN__CAST(const unsigned char *, t->data);
#ifdef NN_CUDA
    if (t->device != NN_CPU) {   /* a GPU tensor: written from a host copy */
        nn_tensor *h = nn__cuda_to(t, NN_CPU);
        int ok = h != NULL && nn__st_write_data(f, h);
        if (h && (h->flags & NN__PERSISTENT)) nn_free(h);
        return ok;
    }
#endif
    if (nn__little_endian() && nn_is_contiguous(t)) return fwrite(base, es, (size_t)t->numel, f) == (size_t)t->numel;
    nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
    for (i = 0; i < t->numel; i++, nn__walk_next(&w)) {
        unsigned char by[8]; size_t q;
        for (q = 0; q < es; q++) by[q] = base[(size_t)w.off[0] * es + (nn__little_endian() ? q : es - 1 - q)];
        if (fwrite(by, 1, es, f) != es) return 0;
    }
    return 1;
}

static int nn__st_check_args(nn_ctx *ctx, const char *path, const char *const *names, nn_tensor *const *tensors, int n,
                             const char *const *meta_keys, const char *const *meta_values, int nmeta) {
    int k;
    if (!path || n < 0 || nmeta < 0 || (n > 0 && (!names || !tensors)) || (nmeta > 0 && (!meta_keys || !meta_values))) {
        nn__err(ctx, "nn_safetensors_save: path, names, tensors or metadata is NULL, or a count (%d tensors, %d metadata) is negative", n, nmeta);
        return 0;
    }
    for (k = 0; k < n; k++) {
        int j;
        if (!names[k]) { nn__err(ctx, "nn_safetensors_save: name %d is NULL", k); return 0; }
        if (!tensors[k]) { nn__err(ctx, "nn_safetensors_save: tensor %d (\"%s\") is NULL", k, names[k]); return 0; }
        for (j = 0; j < k; j++) if (!strcmp(names[j], names[k])) {
            nn__err(ctx, "nn_safetensors_save: the name \"%s\" appears twice (tensors %d and %d); names must be unique", names[k], j, k);
            return 0;
        }
        if (!nn__st_dtype_of(tensors[k]->dtype)) { nn__err(ctx, "nn_safetensors_save: tensor \"%s\" has dtype %d, which safetensors cannot name", names[k], (int)tensors[k]->dtype); return 0; }
    }
    for (k = 0; k < nmeta; k++) if (!meta_keys[k] || !meta_values[k]) { nn__err(ctx, "nn_safetensors_save: metadata entry %d is NULL", k); return 0; }
    return 1;
}

/* Flushes f's bytes to the disk (not only to the OS); 0 and errno set on failure. */
static int nn__sync_file(FILE *f) {
    if (fflush(f) != 0) return 0;
#if defined(NN__POSIX_FILES)
    if (fsync(fileno(f)) != 0) return 0;
#elif defined(_WIN32)
    if (_commit(_fileno(f)) != 0) return 0;
#endif
    return 1;
}

/* After a rename, the directory entry itself is made durable (POSIX; elsewhere a no-op). */
static void nn__sync_dir(const char *path) {
#if defined(NN__POSIX_FILES)
    char dir[4096]; const char *slash = strrchr(path, '/'); size_t n; int fd;
    if (!slash) { dir[0] = '.'; dir[1] = 0; }
    else { n = slash == path ? 1 : (size_t)(slash - path); if (n >= sizeof dir) return; memcpy(dir, path, n); dir[n] = 0; }
    fd = open(dir, O_RDONLY);
    if (fd >= 0) { (void)fsync(fd); close(fd); }
#else
    (void)path;
#endif
}

/* Puts the finished file tmp at path so that at every moment one complete file is there: POSIX
   rename replaces atomically. Where rename cannot replace a file (Windows), the old file moves
   to path.bak first, and nn_safetensors_open reads path.bak when path is missing; the .bak
   is removed once the new file is in place. 0 and errno set on failure; the old file stays. */
static int nn__replace_file(const char *tmp, const char *path, char *bak) {
    int e;
    if (rename(tmp, path) == 0) { nn__sync_dir(path); return 1; }
    e = errno;
    sprintf(bak, "%s.bak", path);
    remove(bak);
    if (rename(path, bak) != 0) { errno = e; return 0; }
    if (rename(tmp, path) != 0) { e = errno; (void)rename(bak, path); errno = e; return 0; }
    nn__sync_dir(path);
    remove(bak);
    return 1;
}

/* Writes path.tmp, syncs it to the disk, then renames it over path (see nn__replace_file): a
   crash at any moment leaves the old file or the new one, never neither and never a torn one. */
NN_API int nn_safetensors_save(nn_ctx *ctx, const char *path, const char *const *names, nn_tensor *const *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_values, int nmeta) {
    nn__buf b; int k, ok = 1, e = 0; char *tmp, *bak; FILE *f; unsigned char len8[8]; uint64_t hl;
    const char *stage = "writing";
    if (!ctx) return 0;
    if (!nn__st_check_args(ctx, path, names, tensors, n, meta_keys, meta_values, nmeta)) return 0;
    memset(&b, 0, sizeof b); b.ok = 1;
    nn__st_header(&b, names, tensors, n, meta_keys, meta_values, nmeta);
    if (!b.ok) { nn__free(b.p); nn__err(ctx, "nn_safetensors_save: out of memory"); return 0; }
    tmp = NN__CAST(char *, nn__malloc(2 * (strlen(path) + 8)));
    if (!tmp) { nn__free(b.p); nn__err(ctx, "nn_safetensors_save: out of memory"); return 0; }
    bak = tmp + strlen(path) + 8;
    sprintf(tmp, "%s.tmp", path);
    errno = 0;
    f = fopen(tmp, "wb");
    if (!f) { e = errno; nn__err(ctx, "nn_safetensors_save: cannot create %s: %s", tmp, e ? strerror(e) : "unknown error"); nn__free(b.p); nn__free(tmp); return 0; }
    hl = b.n;
    for (k = 0; k < 8; k++) len8[k] = (unsigned char)(hl >> (8 * k));
    errno = 0;
    ok = fwrite(len8, 1, 8, f) == 8 && fwrite(b.p, 1, b.n, f) == b.n;
    for (k = 0; k < n && ok; k++) ok = nn__st_write_data(f, tensors[k]);
    if (ok && !nn__sync_file(f)) { ok = 0; stage = "flushing to disk"; }
    if (!ok) e = errno;
    if (fclose(f) != 0 && ok) { ok = 0; e = errno; }
    nn__free(b.p);
    if (ok) {
        errno = 0;
        ok = nn__replace_file(tmp, path, bak);
        if (!ok) { e = errno; stage = "renaming the new file over"; }
    }
    if (!ok) {
        remove(tmp);
        nn__err(ctx, "nn_safetensors_save: %s %s failed: %s; the previous file (if any) is unchanged", stage, path,
                e ? strerror(e) : "short write");
    }
    nn__free(tmp);
    return ok;
}

/* Checks that every state entry of m is in st (under prefix) with its shape and a dtype that
   converts; with strict, that st holds nothing else under prefix. Names the first misfit. */
static int nn__check_model(nn_module *m, const nn_safetensors *st, const char *prefix, const char *fn) {
    const nn_state_entry *es; int n = nn_module_state(m, &es), k, q, mine = 0;
    size_t pl = strlen(prefix);
    for (k = 0; k < n; k++) {
        const nn__st_entry *e = nn__st_find2(st, prefix, es[k].name);
        if (!e) { nn__err(m->ctx, "%s: %s has no tensor \"%s%s\" (missing key)", fn, st->path, prefix, es[k].name); return 0; }
        if (!nn__st_fits(st, e, es[k].tensor->ndim, es[k].tensor->shape, es[k].tensor->dtype, fn, prefix, es[k].name)) return 0;
    }
    for (k = 0; k < st->n; k++) if (!strncmp(st->e[k].name, prefix, pl)) mine++;
    if (mine == n) return 1;
    for (k = 0; k < st->n; k++) if (!strncmp(st->e[k].name, prefix, pl)) {
        int found = 0;
        for (q = 0; q < n && !found; q++) if (!strcmp(st->e[k].name + pl, es[q].name)) found = 1;
        if (!found) { nn__err(m->ctx, "%s: %s has tensor \"%s\", which the model does not have (unexpected key)", fn, st->path, st->e[k].name); return 0; }
    }
    return 1;
}
static int nn__apply_model(nn_module *m, const nn_safetensors *st, const char *prefix) {
    const nn_state_entry *es; int n = nn_module_state(m, &es), k, ok = 1;
    for (k = 0; k < n; k++) ok = nn__st_read(st, nn__st_find2(st, prefix, es[k].name), es[k].tensor) && ok;
    return ok;
}

NN_API int nn_save_model(nn_module *m, const char *path) {
    const nn_state_entry *es; int n, k, ok; const char **names; nn_tensor **ts;
    if (!m) return 0;
    if (!path) { nn__err(m->ctx, "nn_save_model: path is NULL"); return 0; }
    n = nn_module_state(m, &es);
    names = NN__CAST(const char **, nn__malloc((size_t)(n + 1) * sizeof(char *)));
    ts = NN__CAST(nn_tensor **, nn__malloc((size_t)(n + 1) * sizeof(nn_tensor *)));
    if (!names || !ts) { nn__free(names); nn__free(ts); nn__err(m->ctx, "nn_save_model: out of memory"); return 0; }
    for (k = 0; k < n; k++) { names[k] = es[k].name; ts[k] = es[k].tensor; }
    ok = nn_safetensors_save(m->ctx, path, names, ts, n, NULL, NULL, 0);
    nn__free(names); nn__free(ts);
    return ok;
}

NN_API int nn_load_model(nn_module *m, const char *path) {
    nn_safetensors *st; int ok;
    if (!m) return 0;
    if (!path) { nn__err(m->ctx, "nn_load_model: path is NULL"); return 0; }
    st = nn_safetensors_open(m->ctx, path);
    if (!st) return 0;
    ok = nn__check_model(m, st, "", "nn_load_model");
    if (ok) ok = nn__apply_model(m, st, "");   /* (0 only when a copy into a GPU tensor failed: a partial load) */
    nn_safetensors_close(st);
    return ok;
}

/* ---- whole training state ---- */

/* names of each optimizer's state tensors, as PyTorch's state_dict calls them */
#define NN__OPTIM_KINDS 5
static const char *nn__optim_state_names[NN__OPTIM_KINDS][3] = {
    { "momentum_buffer", NULL, NULL }, { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }, { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" },
    { "square_avg", "momentum_buffer", "grad_avg" }, { "sum", NULL, NULL } };

/* The DataLoader's state, read and set by the data section (defined there). */
typedef struct nn__loader_state { int64_t len, pos, epoch, num_replicas; uint64_t rng; int64_t *order; } nn__loader_state;
static nn__loader_state nn__dataloader_state(nn_dataloader *dl);   /* order points into the loader */
static void nn__dataloader_set_state(nn_dataloader *dl, const nn__loader_state *s);

NN_API nn_checkpoint nn_checkpoint_default(void) {
    nn_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.model = NULL; ck.optim = NULL; ck.scheduler = NULL; ck.loader = NULL;
    ck.extra_names = NULL; ck.extra_values = NULL; ck.extra_tensor_names = NULL; ck.extra_tensors = NULL;
    return ck;
}

/* A checkpoint being written: named tensors and metadata pairs, every string on the heap. */
typedef struct nn__ck {
    char **names; nn_tensor **ts; int n, cap;
    char **meta; int nmeta, meta_cap;   /* key, value, key, value, ... */
    nn_tensor *order;                    /* the loader's order, a copy freed after writing */
    int ok;
} nn__ck;

static char *nn__strcat2(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = NN__CAST(char *, nn__malloc(la + lb + 1));
    if (s) { memcpy(s, a, la); memcpy(s + la, b, lb + 1); }
    return s;
}
static void nn__ck_tensor(nn__ck *c, const char *prefix, const char *name, nn_tensor *t) {
    char *s;
    if (!c->ok) return;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        char **nn_ = NN__CAST(char **, nn__realloc(c->names, (size_t)cap * sizeof(char *)));
        nn_tensor **nt;
        if (!nn_) { c->ok = 0; return; }
        c->names = nn_;
        nt = NN__CAST(nn_tensor **, nn__realloc(c->ts, (size_t)cap * sizeof(nn_tensor *)));
        if (!nt) { c->ok = 0; return; }
        c->ts = nt; c->cap = cap;
    }
    s = nn__strcat2(prefix, name);
    if (!s) { c->ok = 0; return; }
    c->names[c->n] = s; c->ts[c->n++] = t;
}
static void nn__ck_meta(nn__ck *c, const char *prefix, const char *key, const char *value) {
    char *k, *v;
    if (!c->ok) return;
    if (c->nmeta + 2 > c->meta_cap) {
        int cap = c->meta_cap ? 2 * c->meta_cap : 64;
        char **m = NN__CAST(char **, nn__realloc(c->meta, (size_t)cap * sizeof(char *)));
        if (!m) { c->ok = 0; return; }
        c->meta = m; c->meta_cap = cap;
    }
    k = nn__strcat2(prefix, key); v = nn__strcat2(value, "");
    if (!k || !v) { nn__free(k); nn__free(v); c->ok = 0; return; }
    c->meta[c->nmeta++] = k; c->meta[c->nmeta++] = v;
}
static void nn__ck_num(nn__ck *c, const char *key, double v) { char s[40]; nn__snprintf(s, sizeof s, "%.17g", v); nn__ck_meta(c, "", key, s); }
static void nn__ck_u64(nn__ck *c, const char *key, uint64_t v) { char s[40]; nn__snprintf(s, sizeof s, "%llu", (unsigned long long)v); nn__ck_meta(c, "", key, s); }
static void nn__ck_free(nn__ck *c) {
    int k;
    for (k = 0; k < c->n; k++) nn__free(c->names[k]);
    for (k = 0; k < c->nmeta; k++) nn__free(c->meta[k]);
    nn__free(c->names); nn__free(c->ts); nn__free(c->meta);
    nn_free(c->order);
}

static void nn__ck_save_rng(nn__ck *c, const nn_ctx *ctx) {
    nn__ck_num(c, "rng.state_hi", (double)(ctx->rng.state >> 32));
    nn__ck_num(c, "rng.state_lo", (double)(ctx->rng.state & 0xffffffffu));
    nn__ck_num(c, "rng.inc_hi", (double)(ctx->rng.inc >> 32));
    nn__ck_num(c, "rng.inc_lo", (double)(ctx->rng.inc & 0xffffffffu));
    nn__ck_num(c, "rng.has_spare", (double)ctx->rng.has_spare);
    nn__ck_num(c, "rng.spare", (double)ctx->rng.spare);
}

static int nn__ck_save_optim(nn__ck *c, nn_optim *o) {
    int g, k, s, pi = 0; char key[96];
    if (o->kind < 0 || o->kind >= NN__OPTIM_KINDS) { nn__err(o->ctx, "nn_save_checkpoint: optimizer kind %d has no state names", o->kind); return 0; }
    nn__ck_num(c, "optim.kind", o->kind);
    nn__ck_num(c, "optim.groups", o->ngroups);
    for (g = 0; g < o->ngroups; g++) {
        nn__group *gr = &o->groups[g];
        nn__snprintf(key, sizeof key, "optim.%d.lr", g); nn__ck_num(c, key, gr->lr);
        nn__snprintf(key, sizeof key, "optim.%d.momentum", g); nn__ck_num(c, key, gr->momentum);
        nn__snprintf(key, sizeof key, "optim.%d.initial_lr", g); nn__ck_num(c, key, gr->initial_lr);
        nn__snprintf(key, sizeof key, "optim.%d.has_initial_lr", g); nn__ck_num(c, key, gr->has_initial_lr);
        nn__snprintf(key, sizeof key, "optim.%d.params", g); nn__ck_num(c, key, gr->n);
        for (k = 0; k < gr->n; k++, pi++) {
            nn__snprintf(key, sizeof key, "optim.state.%d.step", pi); nn__ck_num(c, key, (double)gr->step[k]);
            for (s = 0; s < 3; s++) if (gr->state[3 * k + s]) {
                nn__snprintf(key, sizeof key, "optim.state.%d.", pi);
                nn__ck_tensor(c, key, nn__optim_state_names[o->kind][s], gr->state[3 * k + s]);
            }
        }
    }
    return 1;
}

static void nn__ck_save_sched(nn__ck *c, const nn_scheduler *sc) {
    nn__ck_num(c, "sched.kind", sc->kind);
    nn__ck_num(c, "sched.last_epoch", (double)sc->last_epoch);
    nn__ck_num(c, "sched.best", sc->best);
    nn__ck_num(c, "sched.num_bad", (double)sc->num_bad);
    nn__ck_num(c, "sched.cooldown_counter", (double)sc->cooldown_counter);
}

static int nn__ck_save_loader(nn__ck *c, nn_ctx *ctx, nn_dataloader *dl) {
    nn__loader_state ls = nn__dataloader_state(dl);
    c->order = nn_from_i64(ctx, 1, &ls.len, ls.order);
    if (!c->order) return 0;
    nn__ck_num(c, "loader.len", (double)ls.len);
    nn__ck_num(c, "loader.pos", (double)ls.pos);
    nn__ck_num(c, "loader.epoch", (double)ls.epoch);
    nn__ck_num(c, "loader.num_replicas", (double)ls.num_replicas);
    nn__ck_u64(c, "loader.rng", ls.rng);
    nn__ck_tensor(c, "", "loader.order", c->order);
    return 1;
}

static int nn__ck_save_extras(nn__ck *c, nn_ctx *ctx, const nn_checkpoint *ck) {
    int k; char v[40];
    if (ck->nextra < 0 || ck->nextra_tensors < 0 || (ck->nextra > 0 && (!ck->extra_names || !ck->extra_values))
        || (ck->nextra_tensors > 0 && (!ck->extra_tensor_names || !ck->extra_tensors))) {
        nn__err(ctx, "nn_save_checkpoint: nextra is %d and nextra_tensors %d; their names and values must not be NULL", ck->nextra, ck->nextra_tensors);
        return 0;
    }
    for (k = 0; k < ck->nextra; k++) {
        if (!ck->extra_names[k]) { nn__err(ctx, "nn_save_checkpoint: extra_names[%d] is NULL", k); return 0; }
        nn__snprintf(v, sizeof v, "%.17g", ck->extra_values[k]);
        nn__ck_meta(c, "extra.", ck->extra_names[k], v);
    }
    for (k = 0; k < ck->nextra_tensors; k++) {
        if (!ck->extra_tensor_names[k] || !ck->extra_tensors[k]) { nn__err(ctx, "nn_save_checkpoint: extra tensor %d or its name is NULL", k); return 0; }
        nn__ck_tensor(c, "extra.", ck->extra_tensor_names[k], ck->extra_tensors[k]);
    }
    return 1;
}

NN_API int nn_save_checkpoint(const nn_checkpoint *ck, const char *path) {
    nn_ctx *ctx; const nn_state_entry *es; int n, k, ok = 1; nn__ck c;
    if (!ck || !ck->model) return 0;
    ctx = ck->model->ctx;
    if (!path) { nn__err(ctx, "nn_save_checkpoint: path is NULL"); return 0; }
    memset(&c, 0, sizeof c); c.ok = 1;
    n = nn_module_state(ck->model, &es);
    for (k = 0; k < n; k++) nn__ck_tensor(&c, "model.", es[k].name, es[k].tensor);
    nn__ck_meta(&c, "", "format", "nn.h checkpoint 2");
    nn__ck_num(&c, "epoch", (double)ck->epoch);
    nn__ck_num(&c, "loss", ck->loss);
    nn__ck_save_rng(&c, ctx);
    if (ck->optim) ok = nn__ck_save_optim(&c, ck->optim);
    if (ok && ck->scheduler) nn__ck_save_sched(&c, ck->scheduler);
    if (ok && ck->loader) ok = nn__ck_save_loader(&c, ctx, ck->loader);
    if (ok) ok = nn__ck_save_extras(&c, ctx, ck);
    if (ok && !c.ok) { nn__err(ctx, "nn_save_checkpoint: out of memory"); ok = 0; }
    if (ok) {
        const char **mk = NN__CAST(const char **, nn__malloc((size_t)(c.nmeta / 2 + 1) * sizeof(char *)));
        const char **mv = NN__CAST(const char **, nn__malloc((size_t)(c.nmeta / 2 + 1) * sizeof(char *)));
        if (!mk || !mv) { nn__err(ctx, "nn_save_checkpoint: out of memory"); ok = 0; }
        for (k = 0; ok && k < c.nmeta / 2; k++) { mk[k] = c.meta[2 * k]; mv[k] = c.meta[2 * k + 1]; }
        if (ok) ok = nn_safetensors_save(ctx, path, (const char *const *)c.names, c.ts, c.n, mk, mv, c.nmeta / 2);
        nn__free(mk); nn__free(mv);
    }
    nn__ck_free(&c);
    return ok;
}

/* ---- loading: check everything, then apply ---- */

static int nn__meta_num(nn_safetensors *st, const char *key, double *v) {
    const char *s = nn_safetensors_meta(st, key);
    char *end;
    if (!s) { nn__err(st->ctx, "nn_load_checkpoint: %s lacks \"%s\"", st->path, key); return 0; }
    *v = strtod(s, &end);
    if (end == s || *end) { nn__err(st->ctx, "nn_load_checkpoint: %s has a bad value for \"%s\"", st->path, key); return 0; }
    return 1;
}
/* a whole number in [lo, hi] */
static int nn__meta_int(nn_safetensors *st, const char *key, int64_t lo, int64_t hi, int64_t *v) {
    double d;
    if (!nn__meta_num(st, key, &d)) return 0;
    if (!(d == floor(d) && d >= (double)lo && d <= (double)hi)) {
        nn__err(st->ctx, "nn_load_checkpoint: \"%s\" in %s is %g; expected a whole number in [%lld, %lld]", key, st->path, d, (long long)lo, (long long)hi);
        return 0;
    }
    *v = (int64_t)d;
    return 1;
}
/* a finite number in [lo, hi] (learning rates, momenta, the RNG's float) */
static int nn__meta_real(nn_safetensors *st, const char *key, double lo, double hi, double *v) {
    double d;
    if (!nn__meta_num(st, key, &d)) return 0;
    if (!(d >= lo && d <= hi)) {
        nn__err(st->ctx, "nn_load_checkpoint: \"%s\" in %s is %g; expected a finite number in [%g, %g]", key, st->path, d, lo, hi);
        return 0;
    }
    *v = d;
    return 1;
}
/* decimal digits only, at most 2^64 - 1 */
static int nn__meta_u64(nn_safetensors *st, const char *key, uint64_t *v) {
    const char *s = nn_safetensors_meta(st, key), *p;
    uint64_t x = 0;
    if (!s) { nn__err(st->ctx, "nn_load_checkpoint: %s lacks \"%s\"", st->path, key); return 0; }
    for (p = s; *p >= '0' && *p <= '9'; p++) {
        if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) break;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (p == s || *p) {
        nn__err(st->ctx, "nn_load_checkpoint: \"%s\" in %s is \"%.40s\"; expected a whole number in [0, 2^64 - 1]", key, st->path, s);
        return 0;
    }
    *v = x;
    return 1;
}
/* the u64 split in two doubles (hi, lo) as version 1 wrote it */
static int nn__meta_hilo(nn_safetensors *st, const char *hi, const char *lo, uint64_t *v) {
    int64_t h, l;
    if (!nn__meta_int(st, hi, 0, 0xffffffffLL, &h) || !nn__meta_int(st, lo, 0, 0xffffffffLL, &l)) return 0;
    *v = ((uint64_t)h << 32) | (uint64_t)l;
    return 1;
}

static int nn__ld_check_optim(nn_safetensors *st, nn_optim *o) {
    int g, k, s, pi; int64_t v; char key[96];
    const char *fn = "nn_load_checkpoint";
    if (o->kind < 0 || o->kind >= NN__OPTIM_KINDS) { nn__err(o->ctx, "%s: optimizer kind %d has no state names", fn, o->kind); return 0; }
    if (!nn__meta_int(st, "optim.kind", 0, NN__OPTIM_KINDS - 1, &v)) return 0;
    if (v != o->kind) { nn__err(o->ctx, "%s: %s holds another kind of optimizer state", fn, st->path); return 0; }
    if (!nn__meta_int(st, "optim.groups", 0, INT_MAX, &v)) return 0;
    if (v != o->ngroups) { nn__err(o->ctx, "%s: %s has %lld parameter groups; the optimizer has %d", fn, st->path, (long long)v, o->ngroups); return 0; }
    for (pi = 0, g = 0; g < o->ngroups; g++) {
        double d;
        nn__snprintf(key, sizeof key, "optim.%d.params", g);
        if (!nn__meta_int(st, key, 0, INT_MAX, &v)) return 0;
        if (v != o->groups[g].n) { nn__err(o->ctx, "%s: group %d has %lld parameters in %s and %d in the optimizer", fn, g, (long long)v, st->path, o->groups[g].n); return 0; }
        nn__snprintf(key, sizeof key, "optim.%d.lr", g); if (!nn__meta_real(st, key, 0, DBL_MAX, &d)) return 0;
        nn__snprintf(key, sizeof key, "optim.%d.momentum", g); if (!nn__meta_real(st, key, 0, DBL_MAX, &d)) return 0;
        nn__snprintf(key, sizeof key, "optim.%d.initial_lr", g); if (!nn__meta_real(st, key, 0, DBL_MAX, &d)) return 0;
        nn__snprintf(key, sizeof key, "optim.%d.has_initial_lr", g);
        if (nn_safetensors_meta(st, key) && !nn__meta_int(st, key, 0, 1, &v)) return 0;
        for (k = 0; k < o->groups[g].n; k++, pi++) {
            nn_tensor *p = o->groups[g].params[k];
            nn__snprintf(key, sizeof key, "optim.state.%d.step", pi);
            if (!nn__meta_int(st, key, 0, INT64_MAX / 2, &v)) return 0;
            for (s = 0; s < 3; s++) {
                const nn__st_entry *e;
                if (!nn__optim_state_names[o->kind][s]) continue;
                nn__snprintf(key, sizeof key, "optim.state.%d.", pi);
                e = nn__st_find2(st, key, nn__optim_state_names[o->kind][s]);
                if (e && !nn__st_fits(st, e, p->ndim, p->shape, NN_FLOAT32, fn, key, nn__optim_state_names[o->kind][s])) return 0;
            }
        }
    }
    return 1;
}
/* The state tensors the file has and the optimizer lacks, made before anything is applied (so a
   load that runs out of memory changes nothing): an array of them in the order nn__ld_optim
   takes them, NULL with *ok 1 when none is needed, NULL with *ok 0 and an error when out of memory. */
static nn_tensor **nn__ld_optim_alloc(nn_safetensors *st, nn_optim *o, int *ok) {
    int g, k, s, pi, n = 0, j = 0, pass; char key[96]; nn_tensor **ts = NULL;
    *ok = 1;
    for (pass = 0; pass < 2; pass++) {          /* count, then make */
        for (pi = 0, g = 0; g < o->ngroups; g++) for (k = 0; k < o->groups[g].n; k++, pi++) for (s = 0; s < 3; s++) {
            nn__group *gr = &o->groups[g];
            if (!nn__optim_state_names[o->kind][s] || gr->state[3 * k + s]) continue;
            nn__snprintf(key, sizeof key, "optim.state.%d.", pi);
            if (!nn__st_find2(st, key, nn__optim_state_names[o->kind][s])) continue;
            if (!pass) { n++; continue; }
            ts[j] = nn__new_persistent_on(o->ctx, "nn_load_checkpoint", gr->params[k]->ndim, gr->params[k]->shape, NN_FLOAT32,
                                          gr->params[k]->device);   /* on the parameter's device, as nn_optim_step makes it */
            if (ts[j] && ts[j]->device == NN_CPU) nn_fill_(ts[j], 0.0f);
#ifdef NN_CUDA
            if (ts[j] && ts[j]->device != NN_CPU && !nn__cuda_zero(o->ctx, ts[j]->data, (size_t)ts[j]->numel * sizeof(float))) {
                nn_free(ts[j]);
                ts[j] = NULL;
            }
#endif
            if (!ts[j]) {
                while (j > 0) nn_free(ts[--j]);
                nn__free(ts);
                nn__err(o->ctx, "nn_load_checkpoint: out of memory for the optimizer's state; nothing was loaded");
                *ok = 0;
                return NULL;
            }
            j++;
        }
        if (!pass) {
            if (!n) return NULL;
            ts = NN__CAST(nn_tensor **, nn__malloc((size_t)n * sizeof(nn_tensor *)));
            if (!ts) { nn__err(o->ctx, "nn_load_checkpoint: out of memory; nothing was loaded"); *ok = 0; return NULL; }
        }
    }
    return ts;
}
static int nn__ld_optim(nn_safetensors *st, nn_optim *o, nn_tensor **made) {
    int g, k, s, pi, j = 0, ok = 1; int64_t v = 0; char key[96];
    for (pi = 0, g = 0; g < o->ngroups; g++) {
        nn__group *gr = &o->groups[g];
        nn__snprintf(key, sizeof key, "optim.%d.lr", g); nn__meta_num(st, key, &gr->lr);
        nn__snprintf(key, sizeof key, "optim.%d.momentum", g); nn__meta_num(st, key, &gr->momentum);
        nn__snprintf(key, sizeof key, "optim.%d.initial_lr", g); nn__meta_num(st, key, &gr->initial_lr);
        nn__snprintf(key, sizeof key, "optim.%d.has_initial_lr", g);
        if (nn_safetensors_meta(st, key) && nn__meta_int(st, key, 0, 1, &v)) gr->has_initial_lr = (int)v;   /* absent in version 1 */
        for (k = 0; k < gr->n; k++, pi++) {
            nn__snprintf(key, sizeof key, "optim.state.%d.step", pi);
            if (nn__meta_int(st, key, 0, INT64_MAX / 2, &v)) gr->step[k] = v;
            for (s = 0; s < 3; s++) {
                const nn__st_entry *e; nn_tensor **t = &gr->state[3 * k + s];
                if (!nn__optim_state_names[o->kind][s]) continue;
                nn__snprintf(key, sizeof key, "optim.state.%d.", pi);
                e = nn__st_find2(st, key, nn__optim_state_names[o->kind][s]);
                if (!e) { nn_free(*t); *t = NULL; continue; }
                if (!*t) *t = made[j++];            /* made by nn__ld_optim_alloc, in this order */
                ok = nn__st_read(st, e, *t) && ok;
            }
        }
    }
    return ok;
}

static int nn__ld_check_sched(nn_safetensors *st, nn_scheduler *sc) {
    int64_t v; double d;
    if (!nn_safetensors_meta(st, "sched.kind")) { nn__err(st->ctx, "nn_load_checkpoint: %s has no scheduler state", st->path); return 0; }
    if (!nn__meta_int(st, "sched.kind", 0, INT_MAX, &v)) return 0;
    if (v != sc->kind) { nn__err(st->ctx, "nn_load_checkpoint: %s holds another kind of scheduler state", st->path); return 0; }
    return nn__meta_int(st, "sched.last_epoch", -1, INT64_MAX / 2, &v) && nn__meta_real(st, "sched.best", -INFINITY, INFINITY, &d)
        && nn__meta_int(st, "sched.num_bad", 0, INT64_MAX / 2, &v) && nn__meta_int(st, "sched.cooldown_counter", 0, INT64_MAX / 2, &v);
}
static void nn__ld_sched(nn_safetensors *st, nn_scheduler *sc) {
    int64_t v = 0;
    nn__meta_int(st, "sched.last_epoch", -1, INT64_MAX / 2, &v); sc->last_epoch = v;
    nn__meta_num(st, "sched.best", &sc->best);
    nn__meta_int(st, "sched.num_bad", 0, INT64_MAX / 2, &v); sc->num_bad = v;
    nn__meta_int(st, "sched.cooldown_counter", 0, INT64_MAX / 2, &v); sc->cooldown_counter = v;
}

/* the loader's saved state: its length matches, the order is a permutation */
static int nn__ld_check_loader(nn_safetensors *st, nn_dataloader *dl) {
    nn__loader_state ls = nn__dataloader_state(dl);
    int64_t len, v, i, iv; uint64_t u; double fv; const nn__st_entry *e; unsigned char *seen; int ok = 1;
    if (!nn__meta_int(st, "loader.len", 0, INT64_MAX / 2, &len)) return 0;
    if (len != ls.len) { nn__err(st->ctx, "nn_load_checkpoint: the loader in %s had %lld samples; this one has %lld", st->path, (long long)len, (long long)ls.len); return 0; }
    if (!nn__meta_int(st, "loader.pos", -1, len, &v) || !nn__meta_int(st, "loader.epoch", 0, INT64_MAX / 2, &v) || !nn__meta_u64(st, "loader.rng", &u)) return 0;
    if (nn_safetensors_meta(st, "loader.num_replicas") && !nn__meta_int(st, "loader.num_replicas", 1, INT_MAX, &v)) return 0;
    e = nn__st_find(st, "loader.order");
    if (!e) { nn__err(st->ctx, "nn_load_checkpoint: %s has no tensor \"loader.order\"", st->path); return 0; }
    if (!nn__st_fits(st, e, 1, &len, NN_INT64, "nn_load_checkpoint", "", "loader.order")) return 0;
    seen = NN__CAST(unsigned char *, nn__malloc((size_t)len + 1));
    if (!seen) { nn__err(st->ctx, "nn_load_checkpoint: out of memory"); return 0; }
    memset(seen, 0, (size_t)len + 1);
    for (i = 0; i < len && ok; i++) {
        nn__st_elem(st, e, i, &iv, &fv);
        if (!nn__st_is_int(e->dtype)) iv = (int64_t)fv;
        if (iv < 0 || iv >= len || seen[iv]) ok = 0;
        else seen[iv] = 1;
    }
    nn__free(seen);
    if (!ok) nn__err(st->ctx, "nn_load_checkpoint: \"loader.order\" in %s is not a permutation of the %lld samples", st->path, (long long)len);
    return ok;
}
static void nn__ld_loader(nn_safetensors *st, nn_dataloader *dl) {
    nn__loader_state ls = nn__dataloader_state(dl);
    int64_t v = 0, i, iv; double fv; const nn__st_entry *e = nn__st_find(st, "loader.order");
    uint64_t u = 0;
    nn__meta_u64(st, "loader.rng", &u);
    nn__meta_int(st, "loader.pos", -1, ls.len, &v); ls.pos = v;
    nn__meta_int(st, "loader.epoch", 0, INT64_MAX / 2, &v); ls.epoch = v;
    ls.num_replicas = 1;   /* files from before data parallel */
    if (nn_safetensors_meta(st, "loader.num_replicas")) { nn__meta_int(st, "loader.num_replicas", 1, INT_MAX, &v); ls.num_replicas = v; }
    ls.rng = u;
    for (i = 0; i < ls.len; i++) { nn__st_elem(st, e, i, &iv, &fv); ls.order[i] = nn__st_is_int(e->dtype) ? iv : (int64_t)fv; }
    nn__dataloader_set_state(dl, &ls);
}

/* vals: room for ck->nextra numbers, read here so that applying them allocates nothing */
static int nn__ld_check_extras(nn_safetensors *st, const nn_checkpoint *ck, double *vals) {
    int k;
    if (ck->nextra < 0 || ck->nextra_tensors < 0 || (ck->nextra > 0 && (!ck->extra_names || !ck->extra_values))
        || (ck->nextra_tensors > 0 && (!ck->extra_tensor_names || !ck->extra_tensors))) {
        nn__err(st->ctx, "nn_load_checkpoint: nextra is %d and nextra_tensors %d; their names and values must not be NULL", ck->nextra, ck->nextra_tensors);
        return 0;
    }
    for (k = 0; k < ck->nextra; k++) {
        char *key = ck->extra_names[k] ? nn__strcat2("extra.", ck->extra_names[k]) : NULL; int ok;
        if (!key) { nn__err(st->ctx, "nn_load_checkpoint: extra_names[%d] is NULL (or out of memory)", k); return 0; }
        ok = nn__meta_num(st, key, &vals[k]);
        nn__free(key);
        if (!ok) return 0;
    }
    for (k = 0; k < ck->nextra_tensors; k++) {
        nn_tensor *t = ck->extra_tensors[k]; const nn__st_entry *e;
        if (!t || !ck->extra_tensor_names[k]) { nn__err(st->ctx, "nn_load_checkpoint: extra tensor %d or its name is NULL", k); return 0; }
        if (!nn_is_contiguous(t)) { nn__err(st->ctx, "nn_load_checkpoint: extra tensor \"%s\" is a strided view; load into a contiguous tensor", ck->extra_tensor_names[k]); return 0; }
        e = nn__st_find2(st, "extra.", ck->extra_tensor_names[k]);
        if (!e) { nn__err(st->ctx, "nn_load_checkpoint: %s has no tensor \"extra.%s\"", st->path, ck->extra_tensor_names[k]); return 0; }
        if (!nn__st_fits(st, e, t->ndim, t->shape, t->dtype, "nn_load_checkpoint", "extra.", ck->extra_tensor_names[k])) return 0;
    }
    return 1;
}
static int nn__ld_extras(nn_safetensors *st, nn_checkpoint *ck, const double *vals) {
    int k, ok = 1;
    for (k = 0; k < ck->nextra; k++) ck->extra_values[k] = vals[k];
    for (k = 0; k < ck->nextra_tensors; k++)
        ok = nn__st_read(st, nn__st_find2(st, "extra.", ck->extra_tensor_names[k]), ck->extra_tensors[k]) && ok;
    return ok;
}

static int nn__ld_check_rng(nn_safetensors *st) {
    uint64_t u; int64_t v; double d;
    if (!(nn__meta_int(st, "epoch", INT64_MIN / 2, INT64_MAX / 2, &v) && nn__meta_num(st, "loss", &d)
          && nn__meta_hilo(st, "rng.state_hi", "rng.state_lo", &u) && nn__meta_hilo(st, "rng.inc_hi", "rng.inc_lo", &u)
          && nn__meta_int(st, "rng.has_spare", 0, 1, &v) && nn__meta_real(st, "rng.spare", -FLT_MAX, FLT_MAX, &d))) return 0;
    if (!(u & 1)) {
        nn__err(st->ctx, "nn_load_checkpoint: \"rng.inc_lo\" in %s is even; the RNG's increment is always odd", st->path);
        return 0;
    }
    return 1;
}
static void nn__ld_rng(nn_safetensors *st, nn_ctx *ctx) {
    int64_t v = 0; double d = 0;
    nn__meta_hilo(st, "rng.state_hi", "rng.state_lo", &ctx->rng.state);
    nn__meta_hilo(st, "rng.inc_hi", "rng.inc_lo", &ctx->rng.inc);
    nn__meta_int(st, "rng.has_spare", 0, 1, &v); ctx->rng.has_spare = (int)v;
    nn__meta_num(st, "rng.spare", &d); ctx->rng.spare = nn__to_f32(d);
}

/* Everything is read and checked, and every allocation made, before anything is applied: a load
   that fails for any reason (a bad file, out of memory) changes nothing. */
NN_API int nn_load_checkpoint(nn_checkpoint *ck, const char *path) {
    nn_safetensors *st; nn_ctx *ctx; int64_t v = 0; const char *fmt; int ok; double *vals; nn_tensor **made = NULL;
    if (!ck || !ck->model) return 0;
    ctx = ck->model->ctx;
    if (!path) { nn__err(ctx, "nn_load_checkpoint: path is NULL"); return 0; }
    if (ck->nextra > (1 << 20)) { nn__err(ctx, "nn_load_checkpoint: nextra is %d; at most 2^20 extra numbers", ck->nextra); return 0; }
    vals = NN__CAST(double *, nn__malloc((size_t)(ck->nextra > 0 ? ck->nextra : 0) * sizeof(double) + 1));
    if (!vals) { nn__err(ctx, "nn_load_checkpoint: out of memory"); return 0; }
    st = nn_safetensors_open(ctx, path);
    if (!st) { nn__free(vals); return 0; }
    fmt = nn_safetensors_meta(st, "format");
    ok = fmt && !strncmp(fmt, "nn.h checkpoint", 15);
    if (!ok) nn__err(ctx, "nn_load_checkpoint: %s is not an nn.h checkpoint (no format entry)", path);
    ok = ok && nn__check_model(ck->model, st, "model.", "nn_load_checkpoint");
    ok = ok && (!ck->optim || nn__ld_check_optim(st, ck->optim));
    ok = ok && (!ck->scheduler || nn__ld_check_sched(st, ck->scheduler));
    ok = ok && (!ck->loader || nn__ld_check_loader(st, ck->loader));
    ok = ok && nn__ld_check_extras(st, ck, vals) && nn__ld_check_rng(st);
    if (ok && ck->optim) made = nn__ld_optim_alloc(st, ck->optim, &ok);
    if (ok) {   /* nothing below allocates; only a copy into a GPU tensor can fail (then 0: a partial load) */
        ok = nn__apply_model(ck->model, st, "model.");
        if (ck->optim) ok = nn__ld_optim(st, ck->optim, made) && ok;
        if (ck->scheduler) nn__ld_sched(st, ck->scheduler);
        if (ck->loader) nn__ld_loader(st, ck->loader);
        ok = nn__ld_extras(st, ck, vals) && ok;
        nn__meta_int(st, "epoch", INT64_MIN / 2, INT64_MAX / 2, &v); ck->epoch = v;
        nn__meta_num(st, "loss", &ck->loss);
        nn__ld_rng(st, ctx);
    }
    nn__free(made);
    nn__free(vals);
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

/* ---- datasets ---- */

struct nn_dataset {
    nn_ctx *ctx;
    int64_t len, ydim, num_classes;
    int xdim;
    int64_t xshape[3];
    nn_dataset_get_fn get;
    nn_dataset_free_fn free_user;
    void *user;
    /* built-in datasets: user is the dataset itself */
    unsigned char *u8;                   /* (len, prod(xshape)) pixels, or NULL */
    float *f32;                          /* (len, prod(xshape)) values, or NULL */
    int64_t *labels;                     /* (len) class labels */
    nn_dataset *base;                    /* a subset's base */
    int64_t start;                       /* a subset's first sample in base */
};

/* product of the first n (at most 3) sizes of a sample shape */
static int64_t nn__prod(const int64_t *s, int n) { int64_t p = 1; int i; for (i = 0; i < 3; i++) if (i < n) p *= s[i]; return p; }

NN_API nn_dataset *nn_dataset_new(nn_ctx *ctx, int64_t len, int xdim, const int64_t *xshape, int64_t ydim,
                                  nn_dataset_get_fn get, nn_dataset_free_fn free_user, void *user) {
    nn_dataset *d; int k; int64_t p = 1;
    if (!ctx) return NULL;
    if (len < 0) { nn__err(ctx, "nn_dataset_new: len is %lld; it must be >= 0", (long long)len); return NULL; }
    if (xdim < 1 || xdim > 3) { nn__err(ctx, "nn_dataset_new: xdim is %d; a sample has 1 to 3 dims", xdim); return NULL; }
    if (!xshape) { nn__err(ctx, "nn_dataset_new: xshape is NULL; it needs xdim (%d) sizes", xdim); return NULL; }
    for (k = 0; k < xdim; k++) {
        if (xshape[k] <= 0 || xshape[k] > ((int64_t)1 << 40) / p) {
            nn__err(ctx, "nn_dataset_new: xshape[%d] is %lld; sizes must be positive (and a sample under 2^40 floats)", k, (long long)xshape[k]);
            return NULL;
        }
        p *= xshape[k];
    }
    if (ydim < 0 || ydim > ((int64_t)1 << 40)) { nn__err(ctx, "nn_dataset_new: ydim is %lld; 0 (class labels) or the target size", (long long)ydim); return NULL; }
    if (!get) { nn__err(ctx, "nn_dataset_new: get is NULL; a dataset needs a function that reads sample i"); return NULL; }
    d = NN__CAST(nn_dataset *, nn__malloc(sizeof(nn_dataset)));
    if (!d) { nn__err(ctx, "nn_dataset_new: out of memory"); return NULL; }
    memset(d, 0, sizeof *d);
    d->ctx = ctx; d->len = len; d->xdim = xdim; d->ydim = ydim;
    d->xshape[0] = d->xshape[1] = d->xshape[2] = 1;
    for (k = 0; k < xdim; k++) d->xshape[k] = xshape[k];
    d->get = get; d->free_user = free_user; d->user = user;
    return d;
}

NN_API void nn_dataset_free(nn_dataset *d) {
    if (!d) return;
    if (d->free_user) d->free_user(d->user);
    nn__free(d->u8); nn__free(d->f32); nn__free(d->labels);
    nn__free(d);
}

NN_API int64_t nn_dataset_len(const nn_dataset *d) { return d ? d->len : 0; }
NN_API int64_t nn_dataset_ydim(const nn_dataset *d) { return d ? d->ydim : 0; }
NN_API int64_t nn_dataset_num_classes(const nn_dataset *d) { return d ? d->num_classes : 0; }
NN_API int nn_dataset_xshape(const nn_dataset *d, int64_t *shape) {
    int k;
    if (!d) return 0;
    if (shape) for (k = 0; k < d->xdim; k++) shape[k] = d->xshape[k];
    return d->xdim;
}

NN_API int nn_dataset_get(nn_dataset *d, int64_t i, float *x, float *y, int64_t *label) {
    if (!d) return 0;
    if (i < 0 || i >= d->len) { nn__err(d->ctx, "nn_dataset: index %lld is out of range for %lld samples", (long long)i, (long long)d->len); return 0; }
    if (!x || (d->ydim ? !y : !label)) {
        nn__err(d->ctx, "nn_dataset_get: x is NULL or the target is (%s)", d->ydim ? "y: ydim floats" : "label: a class dataset");
        return 0;
    }
    if (!d->get(d->user, i, x, d->ydim ? y : NULL, d->ydim ? NULL : label)) {
        if (!nn_error(d->ctx)) nn__err(d->ctx, "nn_dataset_get: the dataset's get failed for sample %lld", (long long)i);
        return 0;
    }
    return 1;
}

/* built-in datasets: x from uint8 pixels or floats, the label from labels */
static int nn__dataset_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    nn_dataset *d = NN__CAST(nn_dataset *, user);
    int64_t P = nn__prod(d->xshape, d->xdim), k;
    (void)y;
    if (d->u8) { const unsigned char *p = d->u8 + i * P; for (k = 0; k < P; k++) x[k] = p[k] * (1.0f / 255.0f); }
    else memcpy(x, d->f32 + i * P, (size_t)P * sizeof(float));
    *label = d->labels[i];
    return 1;
}
static nn_dataset *nn__dataset_builtin(nn_ctx *ctx, const char *fn) {
    nn_dataset *d = NN__CAST(nn_dataset *, nn__malloc(sizeof(nn_dataset)));
    if (!d) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    memset(d, 0, sizeof *d);
    d->ctx = ctx; d->get = nn__dataset_get; d->user = d;
    d->xshape[0] = d->xshape[1] = d->xshape[2] = 1;
    return d;
}

static int nn__subset_get(void *user, int64_t i, float *x, float *y, int64_t *label) {
    nn_dataset *s = NN__CAST(nn_dataset *, user);
    return s->base->get(s->base->user, s->start + i, x, y, label);
}
NN_API nn_dataset *nn_subset(nn_dataset *base, int64_t start, int64_t len) {
    nn_dataset *d;
    if (!base) return NULL;
    if (start < 0 || len < 0 || start > base->len || len > base->len - start) {
        nn__err(base->ctx, "nn_subset: [%lld, %lld) is outside the dataset's %lld samples", (long long)start,
                (long long)(start > 0 && len > INT64_MAX - start ? INT64_MAX : start < 0 && len < INT64_MIN - start ? INT64_MIN : start + len),
                (long long)base->len);
        return NULL;
    }
    d = nn__dataset_builtin(base->ctx, "nn_subset");
    if (!d) return NULL;
    d->len = len; d->xdim = base->xdim; memcpy(d->xshape, base->xshape, sizeof d->xshape);
    d->ydim = base->ydim; d->num_classes = base->num_classes;
    d->base = base; d->start = start; d->get = nn__subset_get;
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
    buf = NN__CAST(unsigned char *, nn__malloc((size_t)n + 1));
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); nn__free(buf); nn__err(ctx, "%s: cannot read %s", fn, path); return NULL; }
    fclose(f);
    *size = n;
    if (len > 3 && !strcmp(path + len - 3, ".gz")) {
#ifdef STBI_VERSION
        int64_t at = 10; int flags, outlen; uint32_t isize; char *out;
        if (n < 18 || buf[0] != 0x1f || buf[1] != 0x8b || buf[2] != 8) { nn__free(buf); nn__err(ctx, "%s: %s is not a gzip file", fn, path); return NULL; }
        flags = buf[3];
        if (flags & 4) at += 2 + (buf[10] | (buf[11] << 8));
        if (flags & 8) { while (at < n && buf[at]) at++; at++; }
        if (flags & 16) { while (at < n && buf[at]) at++; at++; }
        if (flags & 2) at += 2;
        isize = (uint32_t)buf[n - 4] | ((uint32_t)buf[n - 3] << 8) | ((uint32_t)buf[n - 2] << 16) | ((uint32_t)buf[n - 1] << 24);
        if (at >= n - 8 || isize > (1u << 31) - 1) { nn__free(buf); nn__err(ctx, "%s: %s has a corrupt gzip header", fn, path); return NULL; }
        /* stb's decoder, growing its own buffer (stbi_image_free frees it); copied into ours */
        out = stbi_zlib_decode_noheader_malloc((const char *)buf + at, (int)(n - at), &outlen);   /* its bit reader looks ahead: give it the trailer too */
        nn__free(buf);
        if (!out || outlen < 0 || (uint32_t)outlen != isize) {
            if (out) stbi_image_free(out);
            nn__err(ctx, "%s: %s is truncated or corrupt (gzip data does not decode to its stated size)", fn, path);
            return NULL;
        }
        buf = NN__CAST(unsigned char *, nn__malloc((size_t)outlen + 1));
        if (buf) memcpy(buf, out, (size_t)outlen);
        stbi_image_free(out);
        if (!buf) { nn__err(ctx, "%s: out of memory for %s", fn, path); return NULL; }
        *size = outlen;
        return buf;
#else
        nn__free(buf);
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
    if (size < 4 || b[0] != 0 || b[1] != 0 || b[2] != 0x08) { nn__err(ctx, "nn_mnist: %s is not an IDX file of unsigned bytes (bad magic number)", path); nn__free(b); return NULL; }
    if (b[3] != want_ndim) { nn__err(ctx, "nn_mnist: %s has %d dims; expected %d (%s)", path, b[3], want_ndim, want_ndim == 3 ? "images" : "labels"); nn__free(b); return NULL; }
    if (size < 4 + 4 * want_ndim) { nn__err(ctx, "nn_mnist: %s is truncated inside its header", path); nn__free(b); return NULL; }
    for (d = 0; d < want_ndim; d++) {
        const unsigned char *p = b + 4 + 4 * d;
        dims[d] = ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
        if (dims[d] <= 0) { nn__err(ctx, "nn_mnist: %s has size %lld at dim %d", path, (long long)dims[d], d); nn__free(b); return NULL; }
        need = need > ((int64_t)1 << 40) / dims[d] ? ((int64_t)1 << 40) : need * dims[d];   /* capped: no overflow, still > any file */
    }
    *data_at = 4 + 4 * want_ndim;
    if (size - *data_at != need) {
        nn__err(ctx, "nn_mnist: %s's header says %lld bytes of data but the file has %lld (%s)", path, (long long)need, (long long)(size - *data_at),
                size - *data_at < need ? "truncated" : "trailing bytes");
        nn__free(b); return NULL;
    }
    return b + *data_at;
}

NN_API nn_dataset *nn_mnist(nn_ctx *ctx, const char *images_path, const char *labels_path) {
    int64_t idims[3], ldims[1], iat, lat, i; unsigned char *ifile = NULL, *lfile = NULL, *img, *lab; nn_dataset *d;
    if (!ctx) return NULL;
    img = nn__read_idx(ctx, images_path, 3, idims, &iat, &ifile);
    if (!img) return NULL;
    lab = nn__read_idx(ctx, labels_path, 1, ldims, &lat, &lfile);
    if (!lab) { nn__free(ifile); return NULL; }
    if (idims[0] != ldims[0]) {
        nn__err(ctx, "nn_mnist: %s has %lld images but %s has %lld labels", images_path, (long long)idims[0], labels_path, (long long)ldims[0]);
        nn__free(ifile); nn__free(lfile); return NULL;
    }
    d = nn__dataset_builtin(ctx, "nn_mnist");
    if (!d) { nn__free(ifile); nn__free(lfile); return NULL; }
    d->len = idims[0]; d->xdim = 3; d->xshape[0] = 1; d->xshape[1] = idims[1]; d->xshape[2] = idims[2];
    d->u8 = NN__CAST(unsigned char *, nn__malloc((size_t)(idims[0] * idims[1] * idims[2])));
    d->labels = NN__CAST(int64_t *, nn__malloc((size_t)d->len * sizeof(int64_t)));
    if (!d->u8 || !d->labels) { nn__err(ctx, "nn_mnist: out of memory"); nn__free(ifile); nn__free(lfile); nn_dataset_free(d); return NULL; }
    memcpy(d->u8, img, (size_t)(idims[0] * idims[1] * idims[2]));
    for (i = 0; i < d->len; i++) { d->labels[i] = lab[i]; if (lab[i] + 1 > d->num_classes) d->num_classes = lab[i] + 1; }
    nn__free(ifile); nn__free(lfile);
    return d;
}

/* CSV parse state: every value (rows x cols, float), and the label column's values as int64 */
typedef struct nn__csv { float *vals; int64_t nvals, cap, rows, cols, *labels, label_cap; } nn__csv;

static int nn__csv_push(nn_ctx *ctx, nn__csv *t, double v) {
    if (t->nvals + 1 > t->cap) {
        int64_t nc = t->cap ? 2 * t->cap : 1024; float *nv = NN__CAST(float *, nn__realloc(t->vals, (size_t)nc * sizeof(float)));
        if (!nv) { nn__err(ctx, "nn_csv: out of memory"); return 0; }
        t->vals = nv; t->cap = nc;
    }
    t->vals[t->nvals++] = (float)v;
    return 1;
}
/* a label: a whole number, exactly representable (|v| <= 2^53) */
static int nn__csv_label(nn_ctx *ctx, nn__csv *t, double v, const char *path, int64_t line, int64_t col) {
    if (!(v == floor(v) && fabs(v) <= 9007199254740992.0)) {
        nn__err(ctx, "nn_csv: %s line %lld, column %lld: label %g is not a class index (a whole number)", path, (long long)line, (long long)col, v);
        return 0;
    }
    if (t->rows + 1 > t->label_cap) {
        int64_t nc = t->label_cap ? 2 * t->label_cap : 256; int64_t *nl = NN__CAST(int64_t *, nn__realloc(t->labels, (size_t)nc * sizeof(int64_t)));
        if (!nl) { nn__err(ctx, "nn_csv: out of memory"); return 0; }
        t->labels = nl; t->label_cap = nc;
    }
    t->labels[t->rows] = (int64_t)v;
    return 1;
}
/* one line of numbers at *pp; c gets its column count; 0 with an error */
static int nn__csv_line(nn_ctx *ctx, nn__csv *t, char **pp, const char *path, int64_t line, int label_column, int64_t *c) {
    char *p = *pp, *end;
    for (*c = 0;;) {
        double v = strtod(p, &end);
        if (end != p && !(v >= -3.4028234663852886e38 && v <= 3.4028234663852886e38)) {
            nn__err(ctx, "nn_csv: %s line %lld, column %lld: %.*s is not a finite float32 number", path, (long long)line, (long long)(*c + 1), (int)(end - p), p);
            return 0;
        }
        if (end == p) { nn__err(ctx, "nn_csv: %s line %lld, column %lld: \"%.20s\" is not a number", path, (long long)line, (long long)(*c + 1), p); return 0; }
        if (*c == label_column && !nn__csv_label(ctx, t, v, path, line, *c + 1)) return 0;
        if (!nn__csv_push(ctx, t, v)) return 0;
        ++*c;
        p = end;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p == ',') { p++; continue; }
        if (*p == '\n' || !*p) { if (*p) p++; break; }
        nn__err(ctx, "nn_csv: %s line %lld: unexpected \"%c\" after column %lld", path, (long long)line, *p, (long long)*c);
        return 0;
    }
    *pp = p;
    return 1;
}
static int nn__csv_parse(nn_ctx *ctx, nn__csv *t, char *p, const char *path, int label_column, int header) {
    int64_t line = 1;
    if (header) { while (*p && *p != '\n') p++; if (*p) p++; line++; }
    for (t->cols = -1; *p; line++) {
        int64_t c = 0;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p == '\n') { p++; continue; }           /* blank line */
        if (!*p) break;
        if (!nn__csv_line(ctx, t, &p, path, line, label_column, &c)) return 0;
        if (t->cols < 0) t->cols = c;
        else if (c != t->cols) {
            nn__err(ctx, "nn_csv: %s line %lld has %lld columns; the first row has %lld", path, (long long)line, (long long)c, (long long)t->cols);
            return 0;
        }
        t->rows++;
    }
    if (t->rows == 0) { nn__err(ctx, "nn_csv: %s has no rows of numbers", path); return 0; }
    if (label_column >= t->cols || (label_column < 0 && label_column != -1)) {
        nn__err(ctx, "nn_csv: label_column %d but %s has %lld columns", label_column, path, (long long)t->cols);
        return 0;
    }
    return 1;
}

NN_API nn_dataset *nn_csv(nn_ctx *ctx, const char *path, int label_column, int header) {
    int64_t size, r, F; unsigned char *b; nn_dataset *d = NULL; nn__csv t; int ok;
    if (!ctx) return NULL;
    b = nn__read_file(ctx, "nn_csv", path, &size);
    if (!b) return NULL;
    b[size] = 0;
    memset(&t, 0, sizeof t);
    ok = nn__csv_parse(ctx, &t, (char *)b, path, label_column, header);
    nn__free(b);
    if (ok) d = nn__dataset_builtin(ctx, "nn_csv");
    if (!d) { nn__free(t.vals); nn__free(t.labels); return NULL; }
    F = t.cols - (label_column >= 0);
    d->len = t.rows; d->xdim = 1; d->xshape[0] = F;
    d->f32 = NN__CAST(float *, nn__malloc((size_t)(t.rows * (F ? F : 1)) * sizeof(float)));
    d->labels = NN__CAST(int64_t *, nn__malloc((size_t)t.rows * sizeof(int64_t)));
    if (!d->f32 || !d->labels) { nn__err(ctx, "nn_csv: out of memory"); nn__free(t.vals); nn__free(t.labels); nn_dataset_free(d); return NULL; }
    for (r = 0; r < t.rows; r++) {
        int64_t c, k = 0;
        d->labels[r] = label_column >= 0 ? t.labels[r] : 0;
        for (c = 0; c < t.cols; c++) if (c != label_column) d->f32[r * F + k++] = t.vals[r * t.cols + c];
        if (d->labels[r] >= 0 && d->labels[r] < INT64_MAX && d->labels[r] + 1 > d->num_classes) d->num_classes = d->labels[r] + 1;
    }
    nn__free(t.vals); nn__free(t.labels);
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
/* sorted names in a directory (no dot files); caller frees each and the array.
   Out of memory: NULL and *n = -1 (nothing to free). */
static char **nn__list_dir(const char *path, int *n, int dirs_only) {
    DIR *dir = opendir(path); struct dirent *e; char **names = NULL; int cap = 0;
    *n = 0;
    if (!dir) return NULL;
    while ((e = readdir(dir))) {
        char full[4096]; DIR *sub;
        if (e->d_name[0] == '.') continue;
        nn__snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        sub = opendir(full);
        if (sub) closedir(sub);
        if ((sub != NULL) != dirs_only) continue;
        if (*n == cap) {
            char **nn = cap < INT_MAX / 2 ? NN__CAST(char **, nn__realloc(names, (size_t)(cap ? 2 * cap : 64) * sizeof(char *))) : NULL;
            if (!nn) break;
            names = nn; cap = cap ? 2 * cap : 64;
        }
        names[*n] = NN__CAST(char *, nn__malloc(strlen(e->d_name) + 1));
        if (!names[*n]) break;
        strcpy(names[(*n)++], e->d_name);
    }
    closedir(dir);
    if (e) {                                 /* stopped early: out of memory */
        int i;
        for (i = 0; i < *n; i++) nn__free(names[i]);
        nn__free(names);
        *n = -1;
        return NULL;
    }
    if (*n) qsort(names, (size_t)*n, sizeof(char *), nn__cmpstr);
    return names;
}
static void nn__free_list(char **l, int n) { int i; for (i = 0; i < n; i++) nn__free(l[i]); nn__free(l); }
#endif

#if defined(NN__HAVE_DIRENT)
/* stb_image 2.27 (Debian's libstb-dev) builds a JPEG Huffman table without checking that its 16 code
   counts add up to at most 256, and writes past the table (nothings/stb#1291, #1289; fixed in 2.28).
   For a file stb would read as JPEG, every place a DHT segment could start (the bytes 0xFF 0xC4,
   wherever stb's marker reader may find them) is parsed as stb would: 1 if every table is in range. */
static int nn__jpeg_tables_ok(const unsigned char *b, int64_t n) {
    int64_t i = 0, at, len, sum; int k;
    while (i < n && b[i] == 0xFF) i++;
    if (i == 0 || i >= n || b[i] != 0xD8) return 1;          /* not a JPEG to stb */
    for (i = 0; i + 1 < n; i++) {
        if (b[i] != 0xFF || b[i + 1] != 0xC4) continue;
        at = i + 2;
        len = (at < n ? (int64_t)b[at] << 8 : 0) | (at + 1 < n ? b[at + 1] : 0);
        at += 2;
        for (len -= 2; len > 0; len -= 17 + sum) {            /* stb reads bytes past the end as 0 */
            at++;                                             /* table class and number */
            for (sum = 0, k = 0; k < 16; k++, at++) sum += at < n ? b[at] : 0;
            if (sum > 256) return 0;
            at += sum;
        }
    }
    return 1;
}

/* stb_image 2.27 also decodes a scan with Huffman tables no DHT segment defined: its decoder
   struct is not cleared, so it reads uninitialised tables and indexes past them (found by
   fuzzing). The segments are walked as stb's marker reader walks them (bytes up to the next
   0xFF skipped, stuffed 0xFF 0x00 and restart markers inside scans passed over, lengths read
   big-endian); 1 if every scan uses only tables defined before it: DC and AC for a baseline
   scan, DC for a progressive scan's first DC pass, AC for its AC passes. */
static int nn__jpeg_scans_ok(const unsigned char *b, int64_t n) {
    int64_t i = 0, len, at, sum; unsigned defined = 0; int progressive = 0, m, k, ns;
#define NN__B(p) ((p) < n ? (int)b[p] : 0)
    while (i < n && b[i] == 0xFF) i++;
    if (i == 0 || i >= n || b[i] != 0xD8) return 1;          /* not a JPEG to stb */
    for (i++; i < n;) {
        while (i < n && b[i] != 0xFF) i++;
        while (i < n && b[i] == 0xFF) i++;
        if (i >= n) return 1;
        m = b[i++];
        if (m == 0xD9) return 1;                              /* end of image */
        if (m == 0x00 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) continue;   /* no length */
        len = ((int64_t)NN__B(i) << 8) | NN__B(i + 1);
        if (m == 0xC2) progressive = 1;
        if (m == 0xC4) {                                      /* DHT: the tables it defines */
            at = i + 2;
            while (at < i + len) {
                int q = NN__B(at);
                if ((q >> 4) <= 1 && (q & 15) <= 3) defined |= 1u << ((q >> 4) * 4 + (q & 15));
                for (sum = 0, k = 0; k < 16; k++) sum += NN__B(at + 1 + k);
                at += 17 + sum;
            }
        }
        if (m == 0xDA) {                                      /* SOS: the tables its components use */
            int ss, ah;
            ns = NN__B(i + 2);
            ss = NN__B(i + 3 + 2 * ns); ah = NN__B(i + 5 + 2 * ns) >> 4;
            for (k = 0; k < ns && k < 4; k++) {
                int sel = NN__B(i + 4 + 2 * k), td = sel >> 4, ta = sel & 15;
                int need_dc = !progressive || (ss == 0 && ah == 0), need_ac = !progressive || ss != 0;
                if (td > 3 || ta > 3) continue;               /* stb refuses these itself */
                if ((need_dc && !(defined & (1u << td))) || (need_ac && !(defined & (1u << (4 + ta))))) return 0;
            }
        }
        i += len < 2 ? 2 : len;
    }
#undef NN__B
    return 1;
}

/* stb_image 2.27 parses a PPM/PGM header's numbers with int overflow and leaves the pixels
   of a truncated file uninitialised (both fixed in 2.28): the header is read here as stb reads
   it; 1 if its numbers fit an int and the file holds all the pixels they claim. */
static int nn__pnm_ok(const unsigned char *b, int64_t n) {
    int64_t i = 2, v[3]; int k, c;
    c = i < n ? b[i++] : 0;
    for (k = 0; k < 3; k++) {
        for (;;) {                                            /* whitespace and # comments */
            while (i < n && (c == ' ' || (c >= '\t' && c <= '\r'))) c = i < n ? b[i++] : 0;
            if (i >= n || c != '#') break;
            while (i < n && c != '\n' && c != '\r') c = i < n ? b[i++] : 0;
        }
        for (v[k] = 0; c >= '0' && c <= '9'; c = i < n ? b[i++] : 0)
            if ((v[k] = v[k] * 10 + (c - '0')) > INT_MAX) return 0;
    }
    if (v[0] * v[1] > NN_MAX_IMAGE_PIXELS) return 1;           /* refused by size next */
    return v[0] * v[1] * (b[1] == '5' ? 1 : 3) * (v[2] > 255 ? 2 : 1) <= n - i;
}
/* stb_image 2.27 grows its buffer to whatever length a PNG chunk claims: 1 if every chunk fits the file */
static int nn__png_ok(const unsigned char *b, int64_t n) {
    int64_t at = 8, len;
    while (at + 8 <= n) {
        len = ((int64_t)b[at] << 24) | ((int64_t)b[at + 1] << 16) | ((int64_t)b[at + 2] << 8) | b[at + 3];
        if (len > n - at - 12) return 0;                      /* length, type, data, CRC */
        if (!memcmp(b + at + 4, "IEND", 4)) break;
        at += 12 + len;
    }
    return 1;
}
/* The formats read, by their first bytes as stb_image tells them apart; NULL for the rest (TGA,
   PSD, PIC, HDR: stb 2.27's HDR reader loops forever on a zero run length). */
static const char *nn__image_kind(const unsigned char *b, int64_t n) {
    int64_t i = 0;
    while (i < n && b[i] == 0xFF) i++;
    if (i > 0 && i < n && b[i] == 0xD8) return "JPEG";
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "PNG";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return "GIF";
    if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) return "PNM";
    return NULL;
}
/* 1 if the header checks of b's format pass; else 0 with an error naming path */
static int nn__image_header_ok(nn_ctx *ctx, const char *path, const unsigned char *b, int64_t n) {
    const char *kind = nn__image_kind(b, n);
    if (!kind) { nn__err(ctx, "nn_image_folder: %s is not an image nn.h reads (PNG, JPEG, BMP, GIF, PPM/PGM)", path); return 0; }
    if (!strcmp(kind, "JPEG") && !nn__jpeg_tables_ok(b, n)) {
        nn__err(ctx, "nn_image_folder: %s is a JPEG with a Huffman table of more than 256 codes (corrupt; stb_image 2.27 "
                "would write past its tables, nothings/stb#1291)", path);
        return 0;
    }
    if (!strcmp(kind, "JPEG") && !nn__jpeg_scans_ok(b, n)) {
        nn__err(ctx, "nn_image_folder: %s is a JPEG whose scan uses a Huffman table no DHT segment defined "
                "(corrupt; stb_image 2.27 would read uninitialised tables)", path);
        return 0;
    }
    if (!strcmp(kind, "PNM") && !nn__pnm_ok(b, n)) {
        nn__err(ctx, "nn_image_folder: %s is a truncated PPM/PGM or its header's numbers overflow", path);
        return 0;
    }
    if (!strcmp(kind, "PNG") && !nn__png_ok(b, n)) {
        nn__err(ctx, "nn_image_folder: %s is a PNG with a chunk longer than the file (truncated?)", path);
        return 0;
    }
    return 1;
}

/* One image file decoded after its header is checked: a known format whose header passes the
   checks above, sizes 1 to NN_MAX_IMAGE_PIXELS pixels, and the decoded size equal to the claimed one.
   Pixels as stb gives them, *ic channels each (stb's own channel conversion is not used: 2.27 gets
   it wrong for 16-bit PPMs). NULL with an error naming the file. Free with stbi_image_free. */
static unsigned char *nn__load_image(nn_ctx *ctx, const char *path, int *iw, int *ih, int *ic) {
    int64_t n; int w2 = 0, h2 = 0; unsigned char *px = NULL;
    unsigned char *b = nn__read_file(ctx, "nn_image_folder", path, &n);
    if (!b) return NULL;
    if (n > INT_MAX) nn__err(ctx, "nn_image_folder: %s is over 2 GiB", path);
    else if (!nn__image_header_ok(ctx, path, b, n)) { /* named */ }
    else if (!stbi_info_from_memory(b, (int)n, iw, ih, ic))
        nn__err(ctx, "nn_image_folder: %s is not an image stb_image can read (%s)", path, stbi_failure_reason());
    else if (*iw <= 0 || *ih == 0) nn__err(ctx, "nn_image_folder: %s is %d x %d pixels; an image needs at least one", path, *iw, *ih);
    else if ((int64_t)*iw * (*ih < 0 ? -(int64_t)*ih : *ih) > NN_MAX_IMAGE_PIXELS)   /* a BMP stored top-down has a negative height */
        nn__err(ctx, "nn_image_folder: %s claims %d x %lld pixels, more than NN_MAX_IMAGE_PIXELS (%lld); refused before decoding",
                path, *iw, *ih < 0 ? -(long long)*ih : (long long)*ih, (long long)NN_MAX_IMAGE_PIXELS);
    else {
        if (*ih < 0) *ih = -*ih;
        px = stbi_load_from_memory(b, (int)n, &w2, &h2, ic, 0);
        if (!px) nn__err(ctx, "nn_image_folder: %s is not an image stb_image can read (%s)", path, stbi_failure_reason());
        else if (*ic < 1 || *ic > 4) {
            nn__err(ctx, "nn_image_folder: %s has %d channels per pixel; expected 1 to 4", path, *ic);
            stbi_image_free(px); px = NULL;
        } else if (w2 != *iw || h2 != *ih) {
            nn__err(ctx, "nn_image_folder: %s decodes to %d x %d pixels but its header says %d x %d", path, w2, h2, *iw, *ih);
            stbi_image_free(px); px = NULL;
        }
    }
    nn__free(b);
    return px;
}

/* channel q of a pixel p of ic channels (gray, gray+alpha, RGB, RGBA) as `channels` (1 or 3),
   the way stb_image converts: alpha dropped, gray = (77 R + 150 G + 29 B) >> 8 */
static int nn__pixel(const unsigned char *p, int ic, int channels, int q) {
    if (ic < 3) return p[0];
    if (channels == 3) return p[q];
    return (p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8;
}

/* "dir/name" into out (n bytes); 0 with an error when it does not fit */
static int nn__join_path(nn_ctx *ctx, char *out, size_t n, const char *dir, const char *name) {
    int k = nn__snprintf(out, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n) { nn__err(ctx, "nn_image_folder: the path %s/%s is over %d bytes", dir, name, (int)n - 1); return 0; }
    return 1;
}

/* the image files of each class folder, listed once (the files counted are the files loaded) */
static int nn__list_classes(nn_ctx *ctx, const char *root, char **classes, int nc, char ***files, int *nf, int64_t *total) {
    int c; char dir[4096];
    for (c = 0; c < nc; c++) {
        if (!nn__join_path(ctx, dir, sizeof dir, root, classes[c])) return 0;
        files[c] = nn__list_dir(dir, &nf[c], 0);
        if (nf[c] < 0) { nf[c] = 0; nn__err(ctx, "nn_image_folder: out of memory listing %s", dir); return 0; }
        *total += nf[c];
    }
    return 1;
}
#endif

#ifndef NN_NO_STDIO
NN_API nn_dataset *nn_image_folder(nn_ctx *ctx, const char *root, int channels, int64_t h, int64_t w) {
#if defined(NN__HAVE_DIRENT)
    char **classes, ***files = NULL; int nc, c, k, ok = 1, *nf = NULL; int64_t total = 0, at = 0, P = 0;
    nn_dataset *d = NULL; float *tmp = NULL, *rs = NULL;
    if (!ctx) return NULL;
    if (!root || (channels != 1 && channels != 3) || h <= 0 || w <= 0 || h > NN_MAX_IMAGE_PIXELS / w) {
        nn__err(ctx, "nn_image_folder: needs a root, channels 1 or 3 and a size h x w of 1 to NN_MAX_IMAGE_PIXELS (%lld) pixels; "
                "got channels %d, %lld x %lld", (long long)NN_MAX_IMAGE_PIXELS, channels, (long long)h, (long long)w);
        return NULL;
    }
    classes = nn__list_dir(root, &nc, 1);
    if (nc < 0) { nn__err(ctx, "nn_image_folder: out of memory listing %s", root); return NULL; }
    if (!classes || nc == 0) { nn__err(ctx, "nn_image_folder: %s is not a folder with one sub-folder per class", root); nn__free_list(classes, nc); return NULL; }
    files = NN__CAST(char ***, nn__malloc((size_t)nc * sizeof(char **)));
    nf = NN__CAST(int *, nn__malloc((size_t)nc * sizeof(int)));
    if (!files || !nf) { nn__err(ctx, "nn_image_folder: out of memory"); ok = 0; }
    else { memset(files, 0, (size_t)nc * sizeof(char **)); memset(nf, 0, (size_t)nc * sizeof(int)); }
    ok = ok && nn__list_classes(ctx, root, classes, nc, files, nf, &total);
    P = channels * h * w;
    if (ok && total > ((int64_t)1 << 40) / P) {
        nn__err(ctx, "nn_image_folder: %lld images of %lld values each is over 2^40 bytes", (long long)total, (long long)P);
        ok = 0;
    }
    if (ok) d = nn__dataset_builtin(ctx, "nn_image_folder");
    if (ok && d) {
        d->len = total; d->xdim = 3; d->xshape[0] = channels; d->xshape[1] = h; d->xshape[2] = w; d->num_classes = nc;
        d->u8 = NN__CAST(unsigned char *, nn__malloc((size_t)(total * P + 1)));
        d->labels = NN__CAST(int64_t *, nn__malloc((size_t)(total + 1) * sizeof(int64_t)));
        rs = NN__CAST(float *, nn__malloc((size_t)P * sizeof(float)));
        if (!d->u8 || !d->labels || !rs) { nn__err(ctx, "nn_image_folder: out of memory"); ok = 0; }
    }
    if (!d) ok = 0;
    for (c = 0; c < nc && ok; c++) {
        char dir[4096];
        if (!nn__join_path(ctx, dir, sizeof dir, root, classes[c])) { ok = 0; break; }
        for (k = 0; k < nf[c] && ok; k++) {
            char path[8192]; int iw, ih, ic; int64_t i, q; unsigned char *px;
            if (!nn__join_path(ctx, path, sizeof path, dir, files[c][k])) { ok = 0; break; }
            px = nn__load_image(ctx, path, &iw, &ih, &ic);
            if (!px) { ok = 0; break; }
            nn__free(tmp);
            tmp = NN__CAST(float *, nn__malloc((size_t)iw * (size_t)ih * (size_t)channels * sizeof(float)));
            if (!tmp) { stbi_image_free(px); nn__err(ctx, "nn_image_folder: out of memory"); ok = 0; break; }
            for (q = 0; q < channels; q++)
                for (i = 0; i < (int64_t)iw * ih; i++) tmp[q * iw * ih + i] = nn__pixel(px + i * ic, ic, channels, (int)q) * (1.0f / 255.0f);
            stbi_image_free(px);
            nn__resize_bilinear(rs, tmp, channels, ih, iw, h, w);
            for (i = 0; i < P; i++) { float v = rs[i] * 255.0f + 0.5f; d->u8[at * P + i] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v); }
            d->labels[at++] = c;
        }
    }
    for (c = 0; files && nf && c < nc; c++) nn__free_list(files[c], nf[c]);
    nn__free(files); nn__free(nf);
    nn__free(tmp); nn__free(rs);
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
NN_API nn_transform nn_grayscale(int n) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_GRAYSCALE; t.size[0] = n; return t; }
NN_API nn_transform nn_random_rotation(float degrees) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_RANDOM_ROTATION; t.f[0] = degrees; return t; }
NN_API nn_transform nn_color_jitter(float brightness, float contrast) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_COLOR_JITTER; t.f[0] = brightness; t.f[1] = contrast; return t; }
NN_API nn_transform nn_random_crop(int64_t size, int64_t padding) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_RANDOM_CROP; t.size[0] = size; t.size[1] = padding; return t; }
NN_API nn_transform nn_random_horizontal_flip(float p) { nn_transform t; memset(&t, 0, sizeof t); t.kind = NN_RANDOM_HORIZONTAL_FLIP; t.f[0] = p; return t; }
NN_API nn_transform nn_normalize(int channels, const float *mean, const float *std) {
    nn_transform t; int c;
    memset(&t, 0, sizeof t); t.kind = NN_NORMALIZE; t.size[0] = channels;
    t.size[1] = mean && std;                 /* checked when applied */
    for (c = 0; c < channels && c < NN_NORMALIZE_MAX_CHANNELS && t.size[1]; c++) { t.f[c] = mean[c]; t.f[NN_NORMALIZE_MAX_CHANNELS + c] = std[c]; }
    return t;
}

/* the values torchvision would refuse; 0 with an error naming the value */
static int nn__transform_check(nn_ctx *ctx, const nn_transform *t) {
    int c;
    switch (t->kind) {
    case NN_GRAYSCALE: if (t->size[0] == 1 || t->size[0] == 3) return 1;
        nn__err(ctx, "nn_grayscale: num_output_channels is %lld; it must be 1 or 3", (long long)t->size[0]); return 0;
    case NN_RANDOM_ROTATION: if (t->f[0] >= 0 && t->f[0] <= 3.4e38f) return 1;
        nn__err(ctx, "nn_random_rotation: degrees is %g; it must be finite and >= 0", (double)t->f[0]); return 0;
    case NN_COLOR_JITTER: if (t->f[0] >= 0 && t->f[1] >= 0 && t->f[0] <= 3.4e38f && t->f[1] <= 3.4e38f) return 1;
        nn__err(ctx, "nn_color_jitter: brightness %g and contrast %g must be finite and >= 0", (double)t->f[0], (double)t->f[1]); return 0;
    case NN_RANDOM_HORIZONTAL_FLIP: if (t->f[0] >= 0 && t->f[0] <= 1) return 1;
        nn__err(ctx, "nn_random_horizontal_flip: p is %g; it must be in [0, 1]", (double)t->f[0]); return 0;
    case NN_RANDOM_CROP: if (t->size[1] >= 0 && t->size[1] <= ((int64_t)1 << 40)) return 1;
        nn__err(ctx, "nn_random_crop: padding is %lld; it must be >= 0 and at most 2^40", (long long)t->size[1]); return 0;
    case NN_NORMALIZE:
        if (t->size[0] < 1 || t->size[0] > NN_NORMALIZE_MAX_CHANNELS) {
            nn__err(ctx, "nn_normalize: %lld channels; 1 to %d (NN_NORMALIZE_MAX_CHANNELS)", (long long)t->size[0], NN_NORMALIZE_MAX_CHANNELS); return 0;
        }
        if (!t->size[1]) { nn__err(ctx, "nn_normalize: mean or std is NULL"); return 0; }
        for (c = 0; c < t->size[0]; c++) if (t->f[NN_NORMALIZE_MAX_CHANNELS + c] == 0) { nn__err(ctx, "nn_normalize: std[%d] is 0", c); return 0; }
        return 1;
    default: return 1;
    }
}

/* the shape after t, or 0 with an error */
static int nn__transform_shape(nn_ctx *ctx, const nn_transform *t, int64_t *s) {
    if (!nn__transform_check(ctx, t)) return 0;
    switch (t->kind) {
    case NN_RESIZE: if (t->size[0] <= 0 || t->size[1] <= 0 || (double)t->size[0] * (double)t->size[1] > 1e15) {
            nn__err(ctx, "nn_resize: size %lldx%lld must be positive, h * w at most 1e15", (long long)t->size[0], (long long)t->size[1]); return 0; }
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
    case NN_RANDOM_ROTATION: case NN_RANDOM_HORIZONTAL_FLIP: return 1;
    default: nn__err(ctx, "nn_apply_transforms: unknown transform %d", (int)t->kind); return 0;
    }
}

static float nn__gray_mean(const float *x, int64_t C, int64_t HW) {
    double s = 0; int64_t i;
    for (i = 0; i < HW; i++) s += C == 3 ? 0.2989f * x[i] + 0.587f * x[HW + i] + 0.114f * x[2 * HW + i] : x[i];
    return (float)(s / (double)HW);
}

/* One function per transform: o (C', H', W') from x (C, H, W) = s. */
static void nn__tf_grayscale(float *o, const float *x, const int64_t *s, int64_t out_c) {
    int64_t i, c, HW = s[1] * s[2];
    for (i = 0; i < HW; i++) {
        float g = s[0] == 3 ? 0.2989f * x[i] + 0.587f * x[HW + i] + 0.114f * x[2 * HW + i] : x[i];
        for (c = 0; c < out_c; c++) o[c * HW + i] = g;
    }
}
/* counter-clockwise by a random angle in [-degrees, degrees], about the centre, nearest neighbour, fill 0 */
static void nn__tf_rotation(float *o, const float *x, const int64_t *s, float degrees, uint64_t *rng) {
    float a = nn__uniform_ab(rng, -degrees, degrees) * 0.017453292519943295f, ca = cosf(a), sa = sinf(a);
    float cy = (float)s[1] * 0.5f, cx = (float)s[2] * 0.5f;
    int64_t y, xx, c, HW = s[1] * s[2];
    for (y = 0; y < s[1]; y++) for (xx = 0; xx < s[2]; xx++) {
        float dx = (float)xx + 0.5f - cx, dy = (float)y + 0.5f - cy;
        float sx = ca * dx - sa * dy + cx, sy = sa * dx + ca * dy + cy;
        int64_t ix = (int64_t)floorf(sx), iy = (int64_t)floorf(sy);
        int inside = ix >= 0 && ix < s[2] && iy >= 0 && iy < s[1];
        for (c = 0; c < s[0]; c++) o[c * HW + y * s[2] + xx] = inside ? x[c * HW + iy * s[2] + ix] : 0.0f;
    }
}
/* brightness and contrast in random order, as torchvision */
static void nn__tf_color_jitter(float *o, const float *x, const int64_t *s, float brightness, float contrast, uint64_t *rng) {
    float b = brightness > 0 ? nn__uniform_ab(rng, brightness < 1 ? 1 - brightness : 0, 1 + brightness) : 1.0f;
    float ct = contrast > 0 ? nn__uniform_ab(rng, contrast < 1 ? 1 - contrast : 0, 1 + contrast) : 1.0f;
    int contrast_first = nn__uniform01(rng) < 0.5f, step;
    int64_t i, HW = s[1] * s[2], n = s[0] * HW;
    memcpy(o, x, (size_t)n * sizeof(float));
    for (step = 0; step < 2; step++) {
        if ((step == 0) != contrast_first) {
            for (i = 0; i < n; i++) { float v = o[i] * b; o[i] = v < 0 ? 0 : v > 1 ? 1 : v; }
        } else {
            float m = nn__gray_mean(o, s[0], HW);
            for (i = 0; i < n; i++) { float v = ct * o[i] + (1.0f - ct) * m; o[i] = v < 0 ? 0 : v > 1 ? 1 : v; }
        }
    }
}
/* zero padding p, then a random sz x sz crop */
static void nn__tf_random_crop(float *o, const float *x, const int64_t *s, int64_t sz, int64_t p, uint64_t *rng) {
    int64_t top, left, c, y, xx, HW = s[1] * s[2];
    top = (int64_t)(nn__uniform01(rng) * (float)(s[1] + 2 * p - sz + 1));
    left = (int64_t)(nn__uniform01(rng) * (float)(s[2] + 2 * p - sz + 1));
    if (top > s[1] + 2 * p - sz) top = s[1] + 2 * p - sz;
    if (left > s[2] + 2 * p - sz) left = s[2] + 2 * p - sz;
    for (c = 0; c < s[0]; c++) for (y = 0; y < sz; y++) for (xx = 0; xx < sz; xx++) {
        int64_t iy = top + y - p, ix = left + xx - p;
        o[(c * sz + y) * sz + xx] = (iy >= 0 && iy < s[1] && ix >= 0 && ix < s[2]) ? x[c * HW + iy * s[2] + ix] : 0.0f;
    }
}
static void nn__tf_hflip(float *o, const float *x, const int64_t *s, float p, uint64_t *rng) {
    int64_t c, y, xx, HW = s[1] * s[2];
    if (!(nn__uniform01(rng) < p)) { memcpy(o, x, (size_t)(s[0] * HW) * sizeof(float)); return; }
    for (c = 0; c < s[0]; c++) for (y = 0; y < s[1]; y++) for (xx = 0; xx < s[2]; xx++)
        o[c * HW + y * s[2] + xx] = x[c * HW + y * s[2] + (s[2] - 1 - xx)];
}
static void nn__tf_normalize(float *o, const float *x, const int64_t *s, const float *mean, const float *sd) {
    int64_t c, i, HW = s[1] * s[2];
    for (c = 0; c < s[0]; c++) for (i = 0; i < HW; i++) o[c * HW + i] = (x[c * HW + i] - mean[c]) / sd[c];
}

/* transform t from x (shape s) into o (shape ns) */
static void nn__tf_apply(const nn_transform *t, float *o, const float *x, const int64_t *s, const int64_t *ns, uint64_t *rng) {
    switch (t->kind) {
    case NN_RESIZE: nn__resize_bilinear(o, x, s[0], s[1], s[2], ns[1], ns[2]); break;
    case NN_GRAYSCALE: nn__tf_grayscale(o, x, s, ns[0]); break;
    case NN_RANDOM_ROTATION: nn__tf_rotation(o, x, s, t->f[0], rng); break;
    case NN_COLOR_JITTER: nn__tf_color_jitter(o, x, s, t->f[0], t->f[1], rng); break;
    case NN_RANDOM_CROP: nn__tf_random_crop(o, x, s, t->size[0], t->size[1], rng); break;
    case NN_RANDOM_HORIZONTAL_FLIP: nn__tf_hflip(o, x, s, t->f[0], rng); break;
    case NN_NORMALIZE: nn__tf_normalize(o, x, s, t->f, t->f + NN_NORMALIZE_MAX_CHANNELS); break;
    default: break;                          /* nn__transform_shape refused it */
    }
}

NN_API int nn_apply_transforms(nn_ctx *ctx, const nn_transform *ts, int n, const float *x, const int64_t *shape,
                               float *out, int64_t *out_shape, uint64_t *rng) {
    int64_t s[3], ns[3], maxn; int k, which = 0; float *buf[2] = { NULL, NULL }; const float *cur = x;
    uint64_t local = 0;
    if (!ctx) return 0;
    if (n < 0 || (n > 0 && !ts) || !x || !shape || !out || !out_shape) {
        nn__err(ctx, "nn_apply_transforms: n is %d; ts (with n > 0), x, shape, out and out_shape must not be NULL", n);
        return 0;
    }
    if (!rng) rng = &local;
    memcpy(s, shape, sizeof s);
    if (s[0] < 1 || s[1] < 1 || s[2] < 1 || (double)s[0] * (double)s[1] * (double)s[2] > 1e15) {
        nn__err(ctx, "nn_apply_transforms: shape is (%lld, %lld, %lld); each size must be >= 1 and their product at most 1e15",
                (long long)s[0], (long long)s[1], (long long)s[2]);
        return 0;
    }
    maxn = s[0] * s[1] * s[2];
    memcpy(ns, s, sizeof ns);
    for (k = 0; k < n; k++) {
        if (!nn__transform_shape(ctx, &ts[k], ns)) return 0;
        if ((double)ns[0] * (double)ns[1] * (double)ns[2] > 1e15) {
            nn__err(ctx, "nn_apply_transforms: transform %d makes (%lld, %lld, %lld), more than 1e15 values", k,
                    (long long)ns[0], (long long)ns[1], (long long)ns[2]);
            return 0;
        }
        if (ns[0] * ns[1] * ns[2] > maxn) maxn = ns[0] * ns[1] * ns[2];
    }
    /* two scratch images in the arena: transforms ping-pong between them */
    buf[0] = nn__scratch(ctx, maxn); buf[1] = nn__scratch(ctx, maxn);
    if (!buf[0] || !buf[1]) { nn__err(ctx, "nn_apply_transforms: out of memory"); return 0; }
    for (k = 0; k < n; k++) {
        memcpy(ns, s, sizeof ns);
        nn__transform_shape(ctx, &ts[k], ns);
        nn__tf_apply(&ts[k], buf[which], cur, s, ns, rng);
        cur = buf[which]; which ^= 1;
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
    nn_transform *transforms;            /* the loader's copy of o.transforms */
    int64_t *order;                      /* (len) sample order of the current epoch, the same on every rank */
    int64_t nsamples;                    /* this rank's samples per epoch (len when num_replicas is 1) */
    int64_t pos;                         /* next sample of this rank's shard; -1: the next call starts an epoch */
    int64_t epoch;                       /* epochs begun */
    int64_t sample, out_shape[3];
    uint64_t rng;                        /* shuffling, and random transforms when num_replicas is 1 */
    uint64_t trng;                       /* random transforms of this rank when num_replicas > 1: drawn
                                            for each batch from (rng, rank, epoch, pos), so a resume repeats it */
    nn_tensor *x, *y;
    float *raw;
};

NN_API nn_dataloader_opts nn_dataloader_opts_default(void) {
    nn_dataloader_opts o;
    memset(&o, 0, sizeof o);
    o.batch_size = 1; o.shuffle = 0; o.drop_last = 0; o.seed = 0; o.transforms = NULL; o.ntransforms = 0;
    o.num_replicas = 1; o.rank = 0; o.sampler_drop_last = 0;
    return o;
}

/* every option and the dataset, each error naming what was wrong */
static int nn__dataloader_check(nn_dataset *d, const nn_dataloader_opts *o) {
    const char *fn = "nn_dataloader_new";
    if (o->batch_size < 1) { nn__err(d->ctx, "%s: batch_size is %lld; it must be >= 1", fn, (long long)o->batch_size); return 0; }
    if (o->shuffle != 0 && o->shuffle != 1) { nn__err(d->ctx, "%s: shuffle is %d; it must be 0 or 1", fn, o->shuffle); return 0; }
    if (o->drop_last != 0 && o->drop_last != 1) { nn__err(d->ctx, "%s: drop_last is %d; it must be 0 or 1", fn, o->drop_last); return 0; }
    if (o->ntransforms < 0 || (o->ntransforms > 0 && !o->transforms)) {
        nn__err(d->ctx, "%s: ntransforms is %d with transforms %s", fn, o->ntransforms, o->transforms ? "given" : "NULL"); return 0;
    }
    if (o->ntransforms && d->xdim != 3) { nn__err(d->ctx, "%s: transforms need image samples (C, H, W); the dataset's have %d dims", fn, d->xdim); return 0; }
    if (d->len <= 0) { nn__err(d->ctx, "%s: the dataset has %lld samples; it needs at least one", fn, (long long)d->len); return 0; }
    if (o->num_replicas < 1) { nn__err(d->ctx, "%s: num_replicas is %d; it must be >= 1", fn, o->num_replicas); return 0; }
    if (o->rank < 0 || o->rank >= o->num_replicas) {
        nn__err(d->ctx, "%s: rank is %d; it must be in [0, %d] for num_replicas %d", fn, o->rank, o->num_replicas - 1, o->num_replicas); return 0;
    }
    if (o->sampler_drop_last != 0 && o->sampler_drop_last != 1) { nn__err(d->ctx, "%s: sampler_drop_last is %d; it must be 0 or 1", fn, o->sampler_drop_last); return 0; }
    if (o->sampler_drop_last && d->len < o->num_replicas) {
        nn__err(d->ctx, "%s: %lld samples over %d replicas with sampler_drop_last leave each rank none", fn, (long long)d->len, o->num_replicas); return 0;
    }
    return 1;
}

/* DistributedSampler's num_samples: this rank's share of an epoch */
static int64_t nn__shard_len(int64_t len, int64_t replicas, int drop_last) {
    if (drop_last && len % replicas) return (len - replicas + replicas - 1) / replicas;
    return len / replicas + (len % replicas != 0);
}

NN_API nn_dataloader *nn_dataloader_new(nn_dataset *d, nn_dataloader_opts o) {
    nn_dataloader *dl; int64_t i, s[3] = { 1, 1, 1 }, xs[NN_MAX_DIMS], ys[2]; int k;
    if (!d) return NULL;                      /* the reader that gave NULL reported why */
    if (!nn__dataloader_check(d, &o)) return NULL;
    memcpy(s, d->xshape, sizeof s);
    for (k = 0; k < o.ntransforms; k++) if (!nn__transform_shape(d->ctx, &o.transforms[k], s)) return NULL;
    dl = NN__CAST(nn_dataloader *, nn__malloc(sizeof(nn_dataloader)));
    if (!dl) { nn__err(d->ctx, "nn_dataloader_new: out of memory"); return NULL; }
    memset(dl, 0, sizeof *dl);
    dl->d = d; dl->o = o; dl->rng = o.seed ^ 0x5eedULL;
    dl->nsamples = nn__shard_len(d->len, o.num_replicas, o.sampler_drop_last);
    memcpy(dl->out_shape, s, sizeof s);
    dl->sample = nn__prod(s, d->xdim);
    dl->order = NN__CAST(int64_t *, nn__malloc((size_t)d->len * sizeof(int64_t)));
    dl->raw = NN__CAST(float *, nn__malloc((size_t)(nn__prod(d->xshape, d->xdim) + (d->ydim ? d->ydim : 1)) * sizeof(float)));
    dl->transforms = NN__CAST(nn_transform *, nn__malloc((size_t)(o.ntransforms + 1) * sizeof(nn_transform)));
    if (dl->transforms && o.ntransforms) memcpy(dl->transforms, o.transforms, (size_t)o.ntransforms * sizeof(nn_transform));
    dl->o.transforms = dl->transforms;
    xs[0] = o.batch_size; for (k = 0; k < d->xdim; k++) xs[k + 1] = s[k];
    ys[0] = o.batch_size; ys[1] = d->ydim;
    dl->x = nn_empty(d->ctx, d->xdim + 1, xs);
    dl->y = d->ydim ? nn_empty(d->ctx, 2, ys) : nn_empty_dtype(d->ctx, 1, ys, NN_INT64);
    if (!dl->order || !dl->raw || !dl->transforms || !dl->x || !dl->y) { nn_dataloader_free(dl); nn__err(d->ctx, "nn_dataloader_new: out of memory"); return NULL; }
    for (i = 0; i < d->len; i++) dl->order[i] = i;
    dl->pos = -1;     /* an epoch starts at the first call */
    return dl;
}

NN_API int64_t nn_dataloader_len(const nn_dataloader *dl) {
    if (!dl) return 0;
    return dl->o.drop_last ? dl->nsamples / dl->o.batch_size : (dl->nsamples + dl->o.batch_size - 1) / dl->o.batch_size;
}
NN_API int64_t nn_dataloader_epoch(const nn_dataloader *dl) { return dl ? dl->epoch : 0; }

/* a new epoch: shuffle as torch.randperm would */
static void nn__dataloader_epoch(nn_dataloader *dl) {
    int64_t k;
    dl->pos = 0; dl->epoch++;
    if (dl->o.shuffle) for (k = dl->d->len - 1; k > 0; k--) {
        int64_t j = (int64_t)(nn__splitmix(&dl->rng) % (uint64_t)(k + 1)), t = dl->order[k];
        dl->order[k] = dl->order[j]; dl->order[j] = t;
    }
}

/* the dataset index of this rank's sample k: DistributedSampler's indices[rank::num_replicas]
   of the order, padded by wrapping around */
static int64_t nn__dataloader_index(const nn_dataloader *dl, int64_t k) {
    return dl->order[(dl->o.rank + k * dl->o.num_replicas) % dl->d->len];
}

/* sample k of the batch into x (B, ...) and y, through the transforms */
static int nn__dataloader_sample(nn_dataloader *dl, int64_t k) {
    nn_dataset *d = dl->d; int64_t Y = d->ydim;
    float *xo = NN__F32(dl->x) + k * dl->sample;
    if (!nn_dataset_get(d, nn__dataloader_index(dl, dl->pos + k), dl->o.ntransforms ? dl->raw : xo, Y ? NN__F32(dl->y) + k * Y : NULL,
                        Y ? NULL : NN__I64(dl->y) + k)) return 0;
    if (dl->o.ntransforms) {
        int64_t os[3]; nn__mark m = nn__arena_mark(d->ctx);
        int ok = nn_apply_transforms(d->ctx, dl->transforms, dl->o.ntransforms, dl->raw, d->xshape, xo, os,
                                     dl->o.num_replicas > 1 ? &dl->trng : &dl->rng);
        nn__arena_rewind(d->ctx, m);
        if (!ok) return 0;
    }
    return 1;
}

NN_API int nn_dataloader_next(nn_dataloader *dl, nn_tensor **x, nn_tensor **y) {
    nn_dataset *d; int64_t b, k, B, Y;
    if (!dl) return 0;
    if (!x || !y) { nn__err(dl->d->ctx, "nn_dataloader_next: x or y is NULL; pass where the batch goes"); return 0; }
    d = dl->d; B = dl->o.batch_size; Y = d->ydim ? d->ydim : 1;
    if (dl->pos < 0) nn__dataloader_epoch(dl);
    b = dl->nsamples - dl->pos < B ? dl->nsamples - dl->pos : B;
    if (b <= 0 || (dl->o.drop_last && b < B)) { dl->pos = -1; return 0; }
    if (dl->o.num_replicas > 1) {
        dl->trng = dl->rng ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(dl->o.rank + 1)) ^ ((uint64_t)dl->epoch << 40) ^ (uint64_t)dl->pos;
        nn__splitmix(&dl->trng);
    }
    for (k = 0; k < b; k++) if (!nn__dataloader_sample(dl, k)) { dl->pos = -1; return 0; }
    dl->pos += b;
    dl->x->shape[0] = b; dl->x->numel = b * dl->sample;
    dl->y->shape[0] = b; dl->y->numel = b * Y;
    *x = dl->x; *y = dl->y;
    return 1;
}

NN_API void nn_dataloader_free(nn_dataloader *dl) {
    if (!dl) return;
    nn_free(dl->x); nn_free(dl->y);
    nn__free(dl->order); nn__free(dl->raw); nn__free(dl->transforms);
    nn__free(dl);
}

#ifndef NN_NO_STDIO
/* for checkpoints (serialisation section) */
static nn__loader_state nn__dataloader_state(nn_dataloader *dl) {
    nn__loader_state s;
    s.len = dl->d->len; s.pos = dl->pos; s.epoch = dl->epoch; s.rng = dl->rng; s.order = dl->order;
    s.num_replicas = dl->o.num_replicas;
    return s;
}
/* A state saved on another number of ranks resumes where the ranks together stopped: pos
   samples on each of s->num_replicas ranks are pos * s->num_replicas samples of the order
   (rounded down: a few samples may be seen twice, none is skipped). */
static void nn__dataloader_set_state(nn_dataloader *dl, const nn__loader_state *s) {
    int64_t pos = s->pos;
    if (pos > 0 && s->num_replicas != dl->o.num_replicas) {
        pos = pos <= INT64_MAX / s->num_replicas ? pos * s->num_replicas / dl->o.num_replicas : dl->nsamples;
        if (pos > dl->nsamples) pos = dl->nsamples;
    }
    dl->pos = pos; dl->epoch = s->epoch; dl->rng = s->rng;
    if (s->order != dl->order) memcpy(dl->order, s->order, (size_t)s->len * sizeof(int64_t));
}
#endif

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
    if (t >= 3600) nn__snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else nn__snprintf(b, n, "%02ld:%02ld", t / 60, t % 60);
}

NN_API void nn_progress_begin(nn_progress *p, const char *desc, int64_t total) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    nn__snprintf(p->desc, sizeof p->desc, "%s", desc ? desc : "");
    p->total = total; p->start = nn__now(); p->tty = NN__ISATTY(2); p->postfix = NAN; p->last_decile = -1;
}

static void nn__progress_draw(nn_progress *p, int final) {
    double el = nn__now() - p->start, rate = el > 0 ? (double)p->n / el : 0, frac = p->total > 0 ? (double)p->n / (double)p->total : 0;
    char e[40], r[40], bar[64], post[40];
    int w = 10, full, i;
    if (frac > 10 || frac < -10) frac = frac > 10 ? 10 : -10;   /* far past the total: no int overflow below */
    full = (int)(frac * w * 8);
    nn__fmt_time(e, sizeof e, el);
    nn__fmt_time(r, sizeof r, rate > 0 ? (double)(p->total - p->n) / rate : 0);
    for (i = 0; i < w; i++) { int cell = full - 8 * i; bar[i] = cell >= 8 ? '#' : cell > 0 ? (char)('0' + cell) : ' '; }
    bar[w] = 0;
    post[0] = 0;
    if (p->postfix == p->postfix) nn__snprintf(post, sizeof post, ", loss=%.4f", p->postfix);
    fprintf(stderr, "%s%s: %3d%%|%s| %lld/%lld [%s<%s, %.2fit/s%s]%s", p->tty ? "\r" : "", p->desc, (int)(frac * 100), bar,
            (long long)p->n, (long long)p->total, e, r, rate, post, (p->tty && !final) ? "" : "\n");
    fflush(stderr);
}

NN_API void nn_progress_update(nn_progress *p, int64_t n, float loss) {
    double now;
    if (!p) return;
    if (n > 0 ? p->n > INT64_MAX - n : p->n < INT64_MIN - n) { nn__err_noctx("nn_progress_update", "n overflows the count"); return; }
    p->n += n;
    if (loss == loss) p->postfix = loss;
    now = nn__now();
    if (p->tty) { if (now - p->last_print >= 0.1 || p->n >= p->total) { p->last_print = now; nn__progress_draw(p, 0); } }
    else {
        double q = p->total > 0 ? 10.0 * (double)p->n / (double)p->total : 0;
        int dec = q > 10 ? 10 : q < -10 ? -10 : (int)q;
        if (dec != p->last_decile && dec < 10) { p->last_decile = dec; nn__progress_draw(p, 0); }
    }
}
NN_API void nn_progress_end(nn_progress *p) { if (p) nn__progress_draw(p, 1); }
#endif /* NN_NO_STDIO */

NN_API void nn_confusion_matrix(const int64_t *y_true, const int64_t *y_pred, int64_t n, int k, int64_t *cm) {
    int64_t i;
    if (!cm || k <= 0) return;                  /* no context to report to: NULLs are no-ops */
    memset(cm, 0, (size_t)k * (size_t)k * sizeof(int64_t));
    if (!y_true || !y_pred) return;
    for (i = 0; i < n; i++) if (y_true[i] >= 0 && y_true[i] < k && y_pred[i] >= 0 && y_pred[i] < k) cm[y_true[i] * k + y_pred[i]]++;
}
NN_API double nn_accuracy(const int64_t *cm, int k) {
    int64_t t = 0, c = 0; int i, j;
    if (!cm) return 0.0;
    for (i = 0; i < k; i++) for (j = 0; j < k; j++) { t += cm[i * k + j]; if (i == j) c += cm[i * k + j]; }
    return t ? (double)c / (double)t : 0.0;
}
NN_API void nn_class_scores(const int64_t *cm, int k, double *precision, double *recall, double *f1, int64_t *support) {
    int i, j;
    if (!cm) return;
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
#define NN__OUT(...) do { \
        int w_ = nn__snprintf(buf + len, size > (size_t)len ? size - (size_t)len : 0, __VA_ARGS__); \
        if (w_ < 0 || (size_t)(len + w_) >= size) return -1; \
        len += w_; \
    } while (0)
/* the report's text from per-class scores P, R, F, S (k of each) */
static int nn__report_text(const int64_t *cm, int k, const char *const *names, int digits, char *buf, size_t size,
                           const double *P, const double *R, const double *F, const int64_t *S) {
    double mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0; int64_t total = 0; int i, width = 12, len = 0; char nm[32];
    for (i = 0; i < k; i++) {
        int l = names && names[i] ? (int)strlen(names[i]) : nn__snprintf(nm, sizeof nm, "%d", i);   /* a NULL name: numbered */
        if (l > width) width = l;
        total += S[i];
        mp += P[i]; mr += R[i]; mf += F[i];
        wp += P[i] * (double)S[i]; wr += R[i] * (double)S[i]; wf += F[i] * (double)S[i];
    }
    if (width < digits) width = digits;
    NN__OUT("%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support");
    for (i = 0; i < k; i++) {
        if (!names || !names[i]) nn__snprintf(nm, sizeof nm, "%d", i);
        NN__OUT("%*s  %9.*f %9.*f %9.*f %9lld\n", width, names && names[i] ? names[i] : nm, digits, P[i], digits, R[i], digits, F[i], (long long)S[i]);
    }
    NN__OUT("\n%*s  %9s %9s %9.*f %9lld\n", width, "accuracy", "", "", digits, nn_accuracy(cm, k), (long long)total);
    NN__OUT("%*s  %9.*f %9.*f %9.*f %9lld\n", width, "macro avg", digits, mp / k, digits, mr / k, digits, mf / k, (long long)total);
    NN__OUT("%*s  %9.*f %9.*f %9.*f %9lld\n", width, "weighted avg", digits, total ? wp / (double)total : 0, digits, total ? wr / (double)total : 0,
            digits, total ? wf / (double)total : 0, (long long)total);
    return len;
}
#undef NN__OUT

NN_API int nn_classification_report(const int64_t *cm, int k, const char *const *names, int digits, char *buf, size_t size) {
    double *P; int64_t *S; int len;
    if (!cm || k <= 0 || digits < 0 || !buf) return -1;
    P = NN__CAST(double *, nn__malloc((size_t)k * 3 * sizeof(double)));   /* precision, recall, f1 */
    S = NN__CAST(int64_t *, nn__malloc((size_t)k * sizeof(int64_t)));
    if (!P || !S) { nn__free(P); nn__free(S); return -1; }
    nn_class_scores(cm, k, P, P + k, P + 2 * k, S);
    len = nn__report_text(cm, k, names, digits, buf, size, P, P + k, P + 2 * k, S);
    nn__free(P); nn__free(S);
    return len;
}

#ifndef NN_NO_STDIO
NN_API void nn_print_confusion_matrix(const int64_t *cm, int k) {
    int i, j; int64_t mx = 0; int w;
    char num[32];
    if (!cm || k <= 0) return;
    for (i = 0; i < k * k; i++) if (cm[i] > mx) mx = cm[i];
    w = nn__snprintf(num, sizeof num, "%lld", (long long)mx) + 1;
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
    int W = n < 60 ? (n > 1 ? n : 2) : 60, r, col, c, digits; float lo, hi; char line[64], num[16];
    if (n <= 0 || nc <= 0 || !ys) return;
    for (c = 0; c < nc; c++) if (!ys[c]) { nn__err_noctx("nn_plot_terminal", "a curve in ys is NULL"); return; }
    if (height > 1000) { nn__err_noctx("nn_plot_terminal", "height is more than 1000 rows"); return; }
    if (height < 2) height = 2;
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
    /* the axis: "1" under the first column, n under the last (a one-point plot has only "1") */
    digits = nn__snprintf(num, sizeof num, "%d", n);
    if (n == 1) printf("\n%10s  1 (epoch)\n", "");
    else printf("\n%10s  1%*s (epoch)\n", "", W - 1 > digits ? W - 1 : digits + 1, num);
    for (c = 0; c < nc; c++) printf("%10s  %c %s\n", "", marks[c % 6], labels ? labels[c] : "");
}

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

NN_API int nn_plot_png(nn_ctx *ctx, const char *path, const float *const *ys, const char *const *labels, int nc, int n) {
#ifdef INCLUDE_STB_IMAGE_WRITE_H
    static const unsigned char colors[6][3] = { { 31, 119, 180 }, { 255, 127, 14 }, { 44, 160, 44 }, { 214, 39, 40 }, { 148, 103, 189 }, { 140, 86, 75 } };
    int W = 640, H = 400, L = 50, T = 20, PW = W - L - 20, PH = H - T - 40, c, i, x, y, ok; float lo, hi;
    unsigned char *img;
    (void)labels;   /* drawn only with stb_easy_font */
    if (!ctx) return 0;
    if (!path || !ys || n <= 0 || nc <= 0) { nn__err(ctx, "nn_plot_png: path or ys is NULL, or ncurves %d or n %d is < 1", nc, n); return 0; }
    for (c = 0; c < nc; c++) if (!ys[c]) { nn__err(ctx, "nn_plot_png: ys[%d] is NULL", c); return 0; }
    img = NN__CAST(unsigned char *, nn__malloc((size_t)W * H * 3));
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
            if (c < nc) { nn__snprintf(text, sizeof text, "%s", labels && labels[c] ? labels[c] : ""); xq = (float)(L + PW - 36 - stb_easy_font_width(text)); yq = (float)(T + 6 + 16 * c); }
            else if (c == nc) { nn__snprintf(text, sizeof text, "%.4g", hi); xq = 2; yq = (float)T; }
            else if (c == nc + 1) { nn__snprintf(text, sizeof text, "%.4g", lo); xq = 2; yq = (float)(T + PH - 8); }
            else if (c == nc + 2) { nn__snprintf(text, sizeof text, "1"); xq = (float)L; yq = (float)(T + PH + 8); }
            else { nn__snprintf(text, sizeof text, "%d", n); xq = (float)(L + PW - 10); yq = (float)(T + PH + 8); }
            nn__draw_text(img, W, H, xq, yq, text);
        }
    }
#endif
    ok = stbi_write_png(path, W, H, 3, img, W * 3) != 0;
    nn__free(img);
    if (!ok) nn__err(ctx, "nn_plot_png: cannot write %s", path);
    return ok;
#else
    (void)ys; (void)labels; (void)nc; (void)n;
    if (ctx) nn__err(ctx, "nn_plot_png: include stb_image_write.h before nn.h to write %s", path ? path : "a PNG");
    return 0;
#endif
}
#endif /* NN_NO_STDIO */

/* ==== distributed ==== */
/* the process group (MPI, or a world of one without NN_MPI), collectives, DDP */

struct nn_dist {
    nn_ctx *ctx;
    int rank, size;
    int finalize;              /* nn_dist_init began MPI: nn_dist_free ends it */
#ifdef NN_MPI
    MPI_Comm comm;             /* nn.h's duplicate, errors returned */
#endif
};

typedef struct nn__bucket {
    int first, count;          /* ddp->params[first .. first + count) */
    int64_t numel;             /* their elements; buf holds these, then count presence flags, then a fail flag */
    float *buf;
} nn__bucket;

struct nn_ddp {
    nn_dist *d;
    nn_module *m;
    nn_ddp_opts o;
    nn_tensor **params;        /* parameters(), last registered first (the order grads become ready) */
    int nparams;
    nn_tensor **buffers;
    int nbuffers;
    float *fbuf;               /* float32 buffers, packed for one broadcast */
    int64_t nf;
    int64_t *ibuf;             /* int64 buffers (num_batches_tracked), packed */
    int64_t ni;
    nn__bucket *b;
    int nb;
    void *req;                 /* MPI_Request per bucket */
};

#ifdef NN_MPI
#define NN__MPI_CHUNK ((int64_t)1 << 30)    /* MPI counts are int: longer messages go in pieces */

/* 1, or 0 with the MPI error text */
static int nn__mpi_ok(nn_dist *d, int rc, const char *fn, const char *call) {
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (rc == MPI_SUCCESS) return 1;
    if (MPI_Error_string(rc, s, &n) != MPI_SUCCESS) nn__snprintf(s, sizeof s, "MPI error %d", rc);
    nn__err(d->ctx, "%s: %s failed on rank %d: %s", fn, call, d->rank, s);
    return 0;
}

static int nn__dist_attach(nn_dist *d, MPI_Comm comm, const char *fn) {
    if (!nn__mpi_ok(d, MPI_Comm_dup(comm, &d->comm), fn, "MPI_Comm_dup")) return 0;
    if (!nn__mpi_ok(d, MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN), fn, "MPI_Comm_set_errhandler")
        || !nn__mpi_ok(d, MPI_Comm_rank(d->comm, &d->rank), fn, "MPI_Comm_rank")
        || !nn__mpi_ok(d, MPI_Comm_size(d->comm, &d->size), fn, "MPI_Comm_size")) {
        MPI_Comm_free(&d->comm);
        return 0;
    }
    return 1;
}

static MPI_Datatype nn__mpi_type(nn_dtype t) { return t == NN_INT64 ? MPI_INT64_T : MPI_FLOAT; }
static MPI_Op nn__mpi_op(nn_reduce_op op) { return op == NN_REDUCE_MAX ? MPI_MAX : op == NN_REDUCE_MIN ? MPI_MIN : MPI_SUM; }
static size_t nn__mpi_size(MPI_Datatype t) { return t == MPI_DOUBLE || t == MPI_INT64_T ? 8 : 4; }

static int nn__mpi_bcast(nn_dist *d, void *p, int64_t n, MPI_Datatype t, int src, const char *fn) {
    int64_t i;
    for (i = 0; i < n; i += NN__MPI_CHUNK) {
        int c = (int)(n - i < NN__MPI_CHUNK ? n - i : NN__MPI_CHUNK);
        if (!nn__mpi_ok(d, MPI_Bcast((char *)p + (size_t)i * nn__mpi_size(t), c, t, src, d->comm), fn, "MPI_Bcast")) return 0;
    }
    return 1;
}
static int nn__mpi_allreduce(nn_dist *d, void *p, int64_t n, MPI_Datatype t, MPI_Op op, const char *fn) {
    int64_t i;
    for (i = 0; i < n; i += NN__MPI_CHUNK) {
        int c = (int)(n - i < NN__MPI_CHUNK ? n - i : NN__MPI_CHUNK);
        if (!nn__mpi_ok(d, MPI_Allreduce(MPI_IN_PLACE, (char *)p + (size_t)i * nn__mpi_size(t), c, t, op, d->comm), fn, "MPI_Allreduce"))
            return 0;
    }
    return 1;
}
#else
/* Without NN_MPI, a program that mpirun (or another launcher) started as one of several
   processes would train alone on every rank: refuse it. */
static int nn__launched_size(void) {
    const char *vars[3] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE" };
    int k;
    for (k = 0; k < 3; k++) {
        const char *s = getenv(vars[k]);
        if (s && atoi(s) > 1) return atoi(s);
    }
    return 1;
}
#endif

static nn_dist *nn__dist_alloc(nn_ctx *ctx, const char *fn) {
    nn_dist *d;
    if (!ctx) { nn__err_noctx(fn, "ctx is NULL"); return NULL; }
    d = NN__CAST(nn_dist *, nn__malloc(sizeof(nn_dist)));
    if (!d) { nn__err(ctx, "%s: out of memory", fn); return NULL; }
    memset(d, 0, sizeof *d);
    d->ctx = ctx; d->rank = 0; d->size = 1;
    return d;
}

NN_API nn_dist *nn_dist_init(nn_ctx *ctx, int *argc, char ***argv) {
    const char *fn = "nn_dist_init";
    nn_dist *d = nn__dist_alloc(ctx, fn);
    if (!d) return NULL;
#ifdef NN_MPI
    {
        int inited = 0, finalized = 0;
        MPI_Finalized(&finalized);
        if (finalized) { nn__err(ctx, "%s: MPI was already finalized; MPI cannot start twice", fn); nn__free(d); return NULL; }
        MPI_Initialized(&inited);
        if (!inited) {
            int provided = 0;   /* MPI calls come from the caller's thread only (the pool never calls MPI) */
            if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
                nn__err(ctx, "%s: MPI_Init_thread failed", fn); nn__free(d); return NULL;
            }
            d->finalize = 1;
        }
        if (!nn__dist_attach(d, MPI_COMM_WORLD, fn)) {
            if (d->finalize) MPI_Finalize();
            nn__free(d);
            return NULL;
        }
    }
#else
    (void)argc; (void)argv;
    if (nn__launched_size() > 1) {
        nn__err(ctx, "%s: started as one of %d processes (mpirun), but nn.h was built without NN_MPI: every process "
                "would train alone; build with mpicc -DNN_MPI", fn, nn__launched_size());
        nn__free(d);
        return NULL;
    }
#endif
    return d;
}

#ifdef NN_MPI
NN_API nn_dist *nn_dist_new_comm(nn_ctx *ctx, MPI_Comm comm) {
    nn_dist *d = nn__dist_alloc(ctx, "nn_dist_new_comm");
    if (!d) return NULL;
    if (comm == MPI_COMM_NULL) { nn__err(ctx, "nn_dist_new_comm: comm is MPI_COMM_NULL"); nn__free(d); return NULL; }
    if (!nn__dist_attach(d, comm, "nn_dist_new_comm")) { nn__free(d); return NULL; }
    return d;
}
#endif

NN_API void nn_dist_free(nn_dist *d) {
    if (!d) return;
#ifdef NN_MPI
    {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) {
            MPI_Comm_free(&d->comm);
            if (d->finalize) MPI_Finalize();
        }
    }
#endif
    nn__free(d);
}

NN_API int nn_dist_rank(const nn_dist *d) { return d ? d->rank : 0; }
NN_API int nn_dist_world_size(const nn_dist *d) { return d ? d->size : 0; }

NN_API int nn_dist_barrier(nn_dist *d) {
    if (!d) return 0;
#ifdef NN_MPI
    return nn__mpi_ok(d, MPI_Barrier(d->comm), "nn_dist_barrier", "MPI_Barrier");
#else
    return 1;
#endif
}

NN_API int nn_dist_check(nn_dist *d, int ok) {
    if (!d) return 0;
    if (ok != 0 && ok != 1) { nn__err(d->ctx, "nn_dist_check: ok is %d; it must be 0 or 1", ok); ok = 0; }
#ifdef NN_MPI
    {
        int first = ok ? INT_MAX : d->rank;
        char msg[512];
        if (!nn__mpi_ok(d, MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, d->comm), "nn_dist_check", "MPI_Allreduce")) return 0;
        if (first == INT_MAX) return 1;
        memset(msg, 0, sizeof msg);
        if (d->rank == first) nn__snprintf(msg, sizeof msg, "%s", nn_error(d->ctx) ? nn_error(d->ctx) : "(it recorded no error)");
        if (!nn__mpi_ok(d, MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, d->comm), "nn_dist_check", "MPI_Bcast")) return 0;
        msg[sizeof msg - 1] = 0;
        nn__err(d->ctx, "nn_dist_check: rank %d of %d failed: %s", first, d->size, msg);
        return 0;
    }
#else
    return ok;
#endif
}

/* t can travel: contiguous, float32 or int64 */
static int nn__dist_tensor_ok(nn_dist *d, nn_tensor *t, const char *fn) {
    if (!t) { nn__err(d->ctx, "%s: t is NULL", fn); return 0; }
    if (t->dtype != NN_FLOAT32 && t->dtype != NN_INT64) { nn__err(d->ctx, "%s: t is %s; float32 and int64 travel", fn, nn_dtype_name(t->dtype)); return 0; }
    if (!nn_is_contiguous(t)) { nn__err(d->ctx, "%s: t is strided; pass a contiguous tensor (nn_contiguous)", fn); return 0; }
    return 1;
}

/* Every rank holds the same sig (sizes of what is about to travel): 1, else 0 and an error on every rank */
static int nn__dist_same(nn_dist *d, uint64_t sig, const char *fn, const char *what) {
#ifdef NN_MPI
    uint64_t v[2];
    v[0] = sig; v[1] = ~sig;
    if (!nn__mpi_ok(d, MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_BAND, d->comm), fn, "MPI_Allreduce")) return 0;
    if (v[0] != ~v[1]) { nn__err(d->ctx, "%s: the ranks disagree on %s (rank %d of %d)", fn, what, d->rank, d->size); return 0; }
#else
    (void)d; (void)sig; (void)fn; (void)what;
#endif
    return 1;
}

static uint64_t nn__fnv(uint64_t h, int64_t v) {
    int k;
    for (k = 0; k < 8; k++) { h ^= (uint64_t)(v >> (8 * k)) & 0xff; h *= 0x100000001b3ULL; }
    return h;
}
static uint64_t nn__dist_sig(nn_tensor *const *ts, int n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    int k, j;
    h = nn__fnv(h, n);
    for (k = 0; k < n; k++) {
        h = nn__fnv(nn__fnv(h, ts[k]->dtype), ts[k]->ndim);
        for (j = 0; j < ts[k]->ndim; j++) h = nn__fnv(h, ts[k]->shape[j]);
    }
    return h;
}

/* src names a rank */
static int nn__dist_src_ok(nn_dist *d, int src, const char *fn) {
    if (src >= 0 && src < d->size) return 1;
    nn__err(d->ctx, "%s: src is %d; the ranks are 0 .. %d", fn, src, d->size - 1);
    return 0;
}

/* Each collective first agrees that every rank's arguments were good (nn_dist_check), so a
   rank that refuses its own never leaves the others waiting, then that the sizes match. */
NN_API int nn_dist_broadcast(nn_dist *d, nn_tensor *t, int src) {
    const char *fn = "nn_dist_broadcast";
    if (!d) { nn__null_arg(t, fn, "d"); return 0; }
    if (!nn_dist_check(d, nn__dist_tensor_ok(d, t, fn) && nn__dist_src_ok(d, src, fn))) return 0;
    if (!nn__dist_same(d, nn__dist_sig(&t, 1), fn, "t's shape or dtype")) return 0;
#ifdef NN_MPI
    return nn__mpi_bcast(d, t->data, t->numel, nn__mpi_type(t->dtype), src, fn);
#else
    return 1;
#endif
}

static int nn__dist_op_ok(nn_dist *d, nn_reduce_op op, const char *fn) {
    if (op == NN_REDUCE_SUM || op == NN_REDUCE_AVG || op == NN_REDUCE_MAX || op == NN_REDUCE_MIN) return 1;
    nn__err(d->ctx, "%s: op is %d; it must be NN_REDUCE_SUM, NN_REDUCE_AVG, NN_REDUCE_MAX or NN_REDUCE_MIN", fn, (int)op);
    return 0;
}

NN_API int nn_dist_all_reduce(nn_dist *d, nn_tensor *t, nn_reduce_op op) {
    const char *fn = "nn_dist_all_reduce";
    int ok;
    if (!d) { nn__null_arg(t, fn, "d"); return 0; }
    ok = nn__dist_tensor_ok(d, t, fn) && nn__dist_op_ok(d, op, fn);
    if (ok && op == NN_REDUCE_AVG && t->dtype == NN_INT64) { nn__err(d->ctx, "%s: AVG of an int64 tensor; use SUM and divide", fn); ok = 0; }
    if (!nn_dist_check(d, ok) || !nn__dist_same(d, nn__dist_sig(&t, 1), fn, "t's shape or dtype")) return 0;
#ifdef NN_MPI
    if (!nn__mpi_allreduce(d, t->data, t->numel, nn__mpi_type(t->dtype), nn__mpi_op(op), fn)) return 0;
    if (op == NN_REDUCE_AVG) {
        int64_t i;
        for (i = 0; i < t->numel; i++) NN__F32(t)[i] /= (float)d->size;
    }
#endif
    return 1;
}

NN_API int nn_dist_all_reduce_scalars(nn_dist *d, double *values, int n, nn_reduce_op op) {
    const char *fn = "nn_dist_all_reduce_scalars";
    int ok = 1;
    if (!d) return 0;
    if (n < 0 || (n > 0 && !values)) { nn__err(d->ctx, "%s: n is %d with values %s", fn, n, values ? "given" : "NULL"); ok = 0; }
    ok = ok && nn__dist_op_ok(d, op, fn);
    if (!nn_dist_check(d, ok) || !nn__dist_same(d, (uint64_t)n, fn, "n")) return 0;
#ifdef NN_MPI
    if (!nn__mpi_allreduce(d, values, n, MPI_DOUBLE, nn__mpi_op(op), fn)) return 0;
    if (op == NN_REDUCE_AVG) {
        int k;
        for (k = 0; k < n; k++) values[k] /= (double)d->size;
    }
#endif
    return 1;
}

/* m's parameters and buffers (each once), in a new array: 1, or 0 with an error */
static int nn__dist_state(nn_dist *d, nn_module *m, const char *fn, nn_tensor ***ts, int *np, int *nb) {
    int k;
    *np = nn_module_parameters(m, NULL, 0);
    *nb = nn_module_buffers(m, NULL, 0);
    *ts = NN__CAST(nn_tensor **, nn__malloc((size_t)(*np + *nb + 1) * sizeof(nn_tensor *)));
    if (!*ts) { nn__err(d->ctx, "%s: out of memory", fn); return 0; }
    nn_module_parameters(m, *ts, *np);
    nn_module_buffers(m, *ts + *np, *nb);
    for (k = 0; k < *np + *nb; k++) {
        nn_tensor *t = (*ts)[k];
        if (!nn_is_contiguous(t) || (t->dtype != NN_FLOAT32 && t->dtype != NN_INT64)) {
            nn__err(d->ctx, "%s: %s %d of the model is %s; it must be contiguous float32 or int64", fn,
                    k < *np ? "parameter" : "buffer", k, nn_is_contiguous(t) ? nn_dtype_name(t->dtype) : "strided");
            nn__free(*ts);
            *ts = NULL;
            return 0;
        }
    }
    return 1;
}

NN_API int nn_dist_broadcast_module(nn_dist *d, nn_module *m, int src) {
    const char *fn = "nn_dist_broadcast_module";
    nn_tensor **ts = NULL;
    int np = 0, nb = 0, ok = 1;
    if (!d) { if (m && !m->ctx->has_error) nn__err(m->ctx, "%s: d is NULL", fn); return 0; }
    if (!m) { nn__err(d->ctx, "%s: m is NULL", fn); ok = 0; }
    ok = ok && nn__dist_src_ok(d, src, fn) && nn__dist_state(d, m, fn, &ts, &np, &nb);
    if (!nn_dist_check(d, ok)) { nn__free(ts); return 0; }
    ok = nn__dist_same(d, nn__dist_sig(ts, np + nb), fn, "the model (its parameters' and buffers' shapes)");
#ifdef NN_MPI
    {
        int k;
        for (k = 0; ok && k < np + nb; k++) ok = nn__mpi_bcast(d, ts[k]->data, ts[k]->numel, nn__mpi_type(ts[k]->dtype), src, fn);
    }
#endif
    nn__free(ts);
    return ok;
}

/* ---- DistributedDataParallel ---- */

NN_API nn_ddp_opts nn_ddp_opts_default(void) {
    nn_ddp_opts o;
    memset(&o, 0, sizeof o);
    o.bucket_cap_mb = 25.0;
    o.broadcast_buffers = 1;
    return o;
}

NN_API void nn_ddp_free(nn_ddp *ddp) {
    int k;
    if (!ddp) return;
    for (k = 0; k < ddp->nb; k++) nn__free(ddp->b[k].buf);
    nn__free(ddp->b); nn__free(ddp->params); nn__free(ddp->buffers); nn__free(ddp->fbuf); nn__free(ddp->ibuf); nn__free(ddp->req);
    nn__free(ddp);
}

/* buckets of at most cap bytes of gradient (a larger parameter alone), parameters in reverse order */
static int nn__ddp_buckets(nn_ddp *p, nn_tensor **ts) {
    double cap = p->o.bucket_cap_mb * 1048576.0;
    int k, start = 0;
    int64_t bytes = 0;
    p->params = NN__CAST(nn_tensor **, nn__malloc((size_t)(p->nparams + 1) * sizeof(nn_tensor *)));
    p->b = NN__CAST(nn__bucket *, nn__malloc((size_t)(p->nparams + 1) * sizeof(nn__bucket)));
    if (!p->params || !p->b) return 0;
    for (k = 0; k < p->nparams; k++) p->params[k] = ts[p->nparams - 1 - k];
    for (k = 0; k <= p->nparams; k++) {
        int64_t add = k < p->nparams ? p->params[k]->numel * 4 : 0;
        if (k > start && (k == p->nparams || (double)(bytes + add) > cap)) {
            nn__bucket *b = &p->b[p->nb];
            b->first = start; b->count = k - start; b->numel = bytes / 4;
            b->buf = NN__CAST(float *, nn__malloc((size_t)(b->numel + b->count + 1) * sizeof(float)));
            p->nb++;
            if (!b->buf) return 0;
            start = k; bytes = 0;
        }
        bytes += add;
    }
    return 1;
}

static int nn__ddp_buffers(nn_ddp *p, nn_tensor *const *bufs) {
    int k;
    p->buffers = NN__CAST(nn_tensor **, nn__malloc((size_t)(p->nbuffers + 1) * sizeof(nn_tensor *)));
    if (!p->buffers) return 0;
    for (k = 0; k < p->nbuffers; k++) {
        p->buffers[k] = bufs[k];
        if (bufs[k]->dtype == NN_INT64) p->ni += bufs[k]->numel;
        else p->nf += bufs[k]->numel;
    }
    p->fbuf = NN__CAST(float *, nn__malloc((size_t)(p->nf + 1) * sizeof(float)));
    p->ibuf = NN__CAST(int64_t *, nn__malloc((size_t)(p->ni + 1) * sizeof(int64_t)));
    return p->fbuf && p->ibuf;
}

NN_API nn_ddp *nn_ddp_new(nn_dist *d, nn_module *m, nn_ddp_opts o) {
    const char *fn = "nn_ddp_new";
    nn_ddp *p;
    nn_tensor **ts = NULL;
    int ok = 1, np = 0, nb = 0, k;
    if (!d) { if (m && !m->ctx->has_error) nn__err(m->ctx, "%s: d is NULL", fn); return NULL; }
    if (!m) { nn__err(d->ctx, "%s: m is NULL", fn); ok = 0; }
    else if (!(o.bucket_cap_mb > 0.0 && o.bucket_cap_mb <= 4096.0)) {   /* a bucket's count fits MPI's int */
        nn__err(d->ctx, "%s: bucket_cap_mb is %g; it must be in (0, 4096]", fn, o.bucket_cap_mb); ok = 0;
    }
    else if (!nn__opt_flag(d->ctx, fn, "broadcast_buffers", o.broadcast_buffers)) ok = 0;
    else if (!nn__dist_state(d, m, fn, &ts, &np, &nb)) ok = 0;
    for (k = 0; ok && k < np; k++) {
        if (ts[k]->numel > INT_MAX / 2) {
            nn__err(d->ctx, "%s: parameter %d has %lld elements; DDP takes up to %d", fn, k, (long long)ts[k]->numel, INT_MAX / 2); ok = 0;
        }
    }
    if (!nn_dist_check(d, ok)) { nn__free(ts); return NULL; }
    p = NN__CAST(nn_ddp *, nn__malloc(sizeof(nn_ddp)));
    ok = p != NULL;
    if (p) {
        memset(p, 0, sizeof *p);
        p->d = d; p->m = m; p->o = o; p->nparams = np; p->nbuffers = nb;
        ok = nn__ddp_buckets(p, ts) && nn__ddp_buffers(p, ts + np);
#ifdef NN_MPI
        p->req = nn__malloc((size_t)(p->nb + 1) * sizeof(MPI_Request));
        ok = ok && p->req;
#endif
    }
    nn__free(ts);
    if (!ok) nn__err(d->ctx, "%s: out of memory", fn);
    if (!nn_dist_check(d, ok)) { nn_ddp_free(p); return NULL; }
    {   /* the same options on every rank, or the buckets and messages would not pair up */
        uint64_t sig = 0;
        memcpy(&sig, &o.bucket_cap_mb, sizeof sig);
        sig ^= (uint64_t)o.broadcast_buffers * 0x9E3779B97F4A7C15ULL;
        if (!nn__dist_same(d, sig, fn, "bucket_cap_mb or broadcast_buffers") || !nn_dist_broadcast_module(d, m, 0)) {
            nn_ddp_free(p);
            return NULL;
        }
    }
    return p;
}

NN_API int nn_ddp_num_buckets(const nn_ddp *ddp) { return ddp ? ddp->nb : 0; }

/* rank 0's buffers, packed into one message per dtype */
static int nn__ddp_sync_buffers(nn_ddp *p) {
#ifdef NN_MPI
    const char *fn = "nn_ddp_forward";
    int64_t f = 0, i = 0;
    int k;
    for (k = 0; k < p->nbuffers; k++) {
        nn_tensor *t = p->buffers[k];
        if (t->dtype == NN_INT64) { memcpy(p->ibuf + i, t->data, (size_t)t->numel * 8); i += t->numel; }
        else { memcpy(p->fbuf + f, t->data, (size_t)t->numel * 4); f += t->numel; }
    }
    if (!nn__mpi_bcast(p->d, p->fbuf, p->nf, MPI_FLOAT, 0, fn) || !nn__mpi_bcast(p->d, p->ibuf, p->ni, MPI_INT64_T, 0, fn)) return 0;
    for (k = 0, f = 0, i = 0; k < p->nbuffers; k++) {
        nn_tensor *t = p->buffers[k];
        if (t->dtype == NN_INT64) { memcpy(t->data, p->ibuf + i, (size_t)t->numel * 8); i += t->numel; }
        else { memcpy(t->data, p->fbuf + f, (size_t)t->numel * 4); f += t->numel; }
    }
#else
    (void)p;
#endif
    return 1;
}

/* Every call broadcasts (training or eval): whether a rank takes part never depends on its own
   state, so a rank in another mode cannot leave the others waiting. */
NN_API nn_tensor *nn_ddp_forward(nn_ddp *ddp, nn_tensor *x) {
    if (!ddp) { nn__null_arg(x, "nn_ddp_forward", "ddp"); return NULL; }
    if (!x) { if (!ddp->m->ctx->has_error) nn__err(ddp->m->ctx, "nn_ddp_forward: x is NULL"); return NULL; }
    if (ddp->o.broadcast_buffers && ddp->nbuffers && ddp->d->size > 1 && !nn__ddp_sync_buffers(ddp)) return NULL;
    return nn_forward(ddp->m, x);
}

#ifdef NN_MPI
/* bucket b's gradients (zeros where a parameter has none), presence flags and the fail flag */
static void nn__ddp_pack(nn_ddp *p, nn__bucket *b, int failed) {
    float *dst = b->buf, *flags = b->buf + b->numel;
    int k;
    for (k = 0; k < b->count; k++) {
        nn_tensor *t = p->params[b->first + k];
        if (t->grad) memcpy(dst, t->grad->data, (size_t)t->numel * sizeof(float));
        else memset(dst, 0, (size_t)t->numel * sizeof(float));
        flags[k] = t->grad ? 1.0f : 0.0f;
        dst += t->numel;
    }
    flags[b->count] = failed ? 1.0f : 0.0f;
}

/* the sums back into the gradients as means; 0 when the allocation of a gradient failed */
static int nn__ddp_unpack(nn_ddp *p, nn__bucket *b) {
    const float *src = b->buf, *flags = b->buf + b->numel;
    float n = (float)p->d->size;
    int k, ok = 1;
    int64_t i;
    for (k = 0; k < b->count; k++) {
        nn_tensor *t = p->params[b->first + k];
        if (flags[k] > 0.0f && nn__ensure_grad(t)) {
            float *g = NN__F32(t->grad);
            for (i = 0; i < t->numel; i++) g[i] = src[i] / n;
        } else if (flags[k] > 0.0f) ok = 0;
        src += t->numel;
    }
    return ok;
}
#endif

NN_API int nn_ddp_sync_grads(nn_ddp *ddp) {
    int failed;
    if (!ddp) return 0;
    failed = nn_error(ddp->d->ctx) != NULL;
    if (ddp->d->size == 1) return !failed;
    if (ddp->nb == 0) return nn_dist_check(ddp->d, !failed);     /* no parameters: no bucket to carry the flag */
#ifdef NN_MPI
    {
        const char *fn = "nn_ddp_sync_grads";
        int k, any_failed = 0, ok = 1;
        MPI_Request *req = NN__CAST(MPI_Request *, ddp->req);
        for (k = 0; k < ddp->nb; k++) {
            nn__bucket *b = &ddp->b[k];
            nn__ddp_pack(ddp, b, failed);
            if (!nn__mpi_ok(ddp->d, MPI_Iallreduce(MPI_IN_PLACE, b->buf, (int)(b->numel + b->count + 1), MPI_FLOAT, MPI_SUM,
                                                   ddp->d->comm, &req[k]), fn, "MPI_Iallreduce")) {
                req[k] = MPI_REQUEST_NULL; ok = 0;
            }
        }
        if (!nn__mpi_ok(ddp->d, MPI_Waitall(ddp->nb, req, MPI_STATUSES_IGNORE), fn, "MPI_Waitall")) ok = 0;
        for (k = 0; k < ddp->nb; k++) any_failed |= ddp->b[k].buf[ddp->b[k].numel + ddp->b[k].count] > 0.0f;
        if (!ok) return 0;
        if (any_failed) return nn_dist_check(ddp->d, !failed);
        for (k = 0; k < ddp->nb; k++) ok &= nn__ddp_unpack(ddp, &ddp->b[k]);
        if (!ok) nn__err(ddp->d->ctx, "%s: out of memory for a gradient", fn);
        return ok;
    }
#else
    return !failed;
#endif
}

#ifndef NN_NO_STDIO
NN_API int nn_dist_save_checkpoint(nn_dist *d, const nn_checkpoint *ck, const char *path) {
    int ok = 1;
    if (!d) { if (ck && ck->model && !ck->model->ctx->has_error) nn__err(ck->model->ctx, "nn_dist_save_checkpoint: d is NULL"); return 0; }
    if (!ck || !ck->model || !path) { nn__err(d->ctx, "nn_dist_save_checkpoint: ck, its model or path is NULL"); return nn_dist_check(d, 0); }
    if (d->rank == 0) ok = nn_save_checkpoint(ck, path);
    return nn_dist_check(d, ok);
}

NN_API int nn_dist_load_checkpoint(nn_dist *d, nn_checkpoint *ck, const char *path) {
    if (!d) { if (ck && ck->model && !ck->model->ctx->has_error) nn__err(ck->model->ctx, "nn_dist_load_checkpoint: d is NULL"); return 0; }
    if (!ck || !ck->model || !path) { nn__err(d->ctx, "nn_dist_load_checkpoint: ck, its model or path is NULL"); return nn_dist_check(d, 0); }
    return nn_dist_check(d, nn_load_checkpoint(ck, path));
}
#endif

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
