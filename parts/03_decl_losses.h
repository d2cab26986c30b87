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

