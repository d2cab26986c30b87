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


