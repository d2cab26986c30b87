/* ==== data: datasets, transforms, DataLoader ==== */
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
/* root/<class>/<image>: PNG/JPEG/BMP, classes in sorted order, every image converted to
   `channels` (1 or 3) and resized (bilinear) to h x w when loaded. Needs stb_image. */
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
} nn_dataloader_opts;
NN_API nn_dataloader_opts nn_dataloader_opts_default(void);
/* DataLoader(d, ...). It reads d and does not own it: free the loader before (or without
   using it after) the dataset. NULL with an error naming a bad option or dataset. */
NN_API nn_dataloader *nn_dataloader_new(nn_dataset *d, nn_dataloader_opts o);
/* The next batch: *x (B, ...) float32 and *y: int64 (B) class labels when the dataset's ydim
   is 0, else float32 (B, ydim); both owned by the loader and reused (no allocation per batch).
   Returns 0 at the end of an epoch; the next call starts the next epoch (reshuffled).
   Its state (epoch, position, order, RNG) goes into checkpoints (nn_checkpoint.loader). */
NN_API int nn_dataloader_next(nn_dataloader *dl, nn_tensor **x, nn_tensor **y);
NN_API int64_t nn_dataloader_len(const nn_dataloader *dl);         /* batches per epoch */
NN_API int64_t nn_dataloader_epoch(const nn_dataloader *dl);       /* epochs begun (1 during the first) */
NN_API void nn_dataloader_free(nn_dataloader *dl);                 /* frees x, y and the loader; NULL is a no-op */

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
   classes are numbered). Returns the length written, or -1 when buf is too small, k < 1,
   digits < 0 or memory runs out. */
NN_API int nn_classification_report(const int64_t *cm, int k, const char *const *names, int digits, char *buf, size_t size);
/* per-class precision, recall, f1 (zero_division=0) and support; any pointer may be NULL */
NN_API void nn_class_scores(const int64_t *cm, int k, double *precision, double *recall, double *f1, int64_t *support);
#ifndef NN_NO_STDIO
NN_API void nn_print_confusion_matrix(const int64_t *cm, int k);
/* Curves (e.g. loss and accuracy per epoch) drawn in the terminal, n points each, height rows
   (at least 2; fewer are drawn as 2). */
NN_API void nn_plot_terminal(const char *title, const float *const *ys, const char *const *labels, int ncurves, int n, int height);
/* The same as a PNG (needs stb_image_write.h included before nn.h; with stb_easy_font.h
   too, the legend and axis ranges are written as text); 1 on success. */
NN_API int nn_plot_png(nn_ctx *ctx, const char *path, const float *const *ys, const char *const *labels, int ncurves, int n);
#endif

#ifdef __cplusplus
}
#endif
#endif /* NN_H */
