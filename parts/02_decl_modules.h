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

