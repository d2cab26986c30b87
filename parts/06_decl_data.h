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
