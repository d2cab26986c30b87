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
    X(SOFTMAX, "softmax", softmax) X(LOG_SOFTMAX, "log_softmax", softmax) \
    X(SUM, "sum", reduce) X(MEAN, "mean", reduce) X(VAR, "var", reduce) X(STD, "std", reduce) \
    X(MAX, "max", reduce) X(MIN, "min", reduce) X(LOGSUMEXP, "logsumexp", reduce) \
    X(MATMUL, "matmul", matmul) X(GATHER, "gather", gather) X(INDEX_SELECT, "index_select", index_select) \
    X(ONE_HOT, "one_hot", one_hot) \
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
    nn_storage storage_inline;
};

typedef void (*nn_log_fn)(void *user, const char *message);

/* ==== context ==== */
/* the step arena, the RNG, errors and grad mode */

NN_API nn_ctx *nn_ctx_new(void);                     /* a new context, or NULL when out of memory */
NN_API void nn_ctx_free(nn_ctx *ctx);                /* frees the arena; your tensors stay yours */
NN_API void nn_arena_reset(nn_ctx *ctx);             /* once per step: frees every op result and graph */
NN_API size_t nn_arena_capacity(const nn_ctx *ctx);  /* bytes the arena holds (for stats) */
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
NN_API void nn_manual_seed(nn_ctx *ctx, uint64_t seed); /* torch.manual_seed for this context's RNG */

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
NN_API nn_tensor *nn_zeros_like(const nn_tensor *t);
NN_API nn_tensor *nn_keep(const nn_tensor *t);       /* persistent, detached copy of any tensor */
NN_API void nn_free(nn_tensor *t);                   /* frees a tensor you created; no-op on op results and NULL */

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
NN_API nn_tensor *nn_max(nn_tensor *x, int dim, int keepdim, nn_tensor **indices); /* values; indices (float, optional) */
NN_API nn_tensor *nn_min(nn_tensor *x, int dim, int keepdim, nn_tensor **indices);
NN_API nn_tensor *nn_argmax(nn_tensor *x, int dim, int keepdim);      /* float indices, no gradient */
NN_API nn_tensor *nn_logsumexp(nn_tensor *x, int dim, int keepdim);

/* ---- matmul and indexing (indices are int64) ---- */

NN_API nn_tensor *nn_matmul(nn_tensor *a, nn_tensor *b);  /* torch.matmul: 1-D, 2-D, batched, broadcast batch dims */
NN_API nn_tensor *nn_gather(nn_tensor *x, int dim, nn_tensor *index);      /* torch.gather; index holds whole numbers */
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

