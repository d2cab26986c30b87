/* ==== serialisation: safetensors ==== */

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
NN_API int nn_load_checkpoint(nn_checkpoint *ck, const char *path);  /* nothing changes unless the whole file fits */
#endif
