/* ==== modules and layers (torch.nn) ==== */

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
/* prints each layer's output shape and parameter count for one forward of example_input (no grad) */
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
