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
    d = NN__CAST(nn_dataset *, NN_MALLOC(sizeof(nn_dataset)));
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
    NN_FREE(d->u8); NN_FREE(d->f32); NN_FREE(d->labels);
    NN_FREE(d);
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
    nn_dataset *d = NN__CAST(nn_dataset *, NN_MALLOC(sizeof(nn_dataset)));
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
        nn__err(base->ctx, "nn_subset: [%lld, %lld) is outside the dataset's %lld samples", (long long)start, (long long)(start + len), (long long)base->len);
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
    d = nn__dataset_builtin(ctx, "nn_mnist");
    if (!d) { NN_FREE(ifile); NN_FREE(lfile); return NULL; }
    d->len = idims[0]; d->xdim = 3; d->xshape[0] = 1; d->xshape[1] = idims[1]; d->xshape[2] = idims[2];
    d->u8 = NN__CAST(unsigned char *, NN_MALLOC((size_t)(idims[0] * idims[1] * idims[2])));
    d->labels = NN__CAST(int64_t *, NN_MALLOC((size_t)d->len * sizeof(int64_t)));
    if (!d->u8 || !d->labels) { nn__err(ctx, "nn_mnist: out of memory"); NN_FREE(ifile); NN_FREE(lfile); nn_dataset_free(d); return NULL; }
    memcpy(d->u8, img, (size_t)(idims[0] * idims[1] * idims[2]));
    for (i = 0; i < d->len; i++) { d->labels[i] = lab[i]; if (lab[i] + 1 > d->num_classes) d->num_classes = lab[i] + 1; }
    NN_FREE(ifile); NN_FREE(lfile);
    return d;
}

/* CSV parse state: every value (rows x cols, float), and the label column's values as int64 */
typedef struct nn__csv { float *vals; int64_t nvals, cap, rows, cols, *labels, label_cap; } nn__csv;

static int nn__csv_push(nn_ctx *ctx, nn__csv *t, double v) {
    if (t->nvals + 1 > t->cap) {
        int64_t nc = t->cap ? 2 * t->cap : 1024; float *nv = NN__CAST(float *, NN_REALLOC(t->vals, (size_t)nc * sizeof(float)));
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
        int64_t nc = t->label_cap ? 2 * t->label_cap : 256; int64_t *nl = NN__CAST(int64_t *, NN_REALLOC(t->labels, (size_t)nc * sizeof(int64_t)));
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
    NN_FREE(b);
    if (ok) d = nn__dataset_builtin(ctx, "nn_csv");
    if (!d) { NN_FREE(t.vals); NN_FREE(t.labels); return NULL; }
    F = t.cols - (label_column >= 0);
    d->len = t.rows; d->xdim = 1; d->xshape[0] = F;
    d->f32 = NN__CAST(float *, NN_MALLOC((size_t)(t.rows * (F ? F : 1)) * sizeof(float)));
    d->labels = NN__CAST(int64_t *, NN_MALLOC((size_t)t.rows * sizeof(int64_t)));
    if (!d->f32 || !d->labels) { nn__err(ctx, "nn_csv: out of memory"); NN_FREE(t.vals); NN_FREE(t.labels); nn_dataset_free(d); return NULL; }
    for (r = 0; r < t.rows; r++) {
        int64_t c, k = 0;
        d->labels[r] = label_column >= 0 ? t.labels[r] : 0;
        for (c = 0; c < t.cols; c++) if (c != label_column) d->f32[r * F + k++] = t.vals[r * t.cols + c];
        if (d->labels[r] >= 0 && d->labels[r] < INT64_MAX && d->labels[r] + 1 > d->num_classes) d->num_classes = d->labels[r] + 1;
    }
    NN_FREE(t.vals); NN_FREE(t.labels);
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
    d = nn__dataset_builtin(ctx, "nn_image_folder");
    if (!d) { nn__free_list(classes, nc); return NULL; }
    P = channels * h * w;
    d->len = total; d->xdim = 3; d->xshape[0] = channels; d->xshape[1] = h; d->xshape[2] = w; d->num_classes = nc;
    d->u8 = NN__CAST(unsigned char *, NN_MALLOC((size_t)(total * P + 1)));
    d->labels = NN__CAST(int64_t *, NN_MALLOC((size_t)(total + 1) * sizeof(int64_t)));
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
            d->labels[at++] = c;
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
    case NN_RANDOM_CROP: if (t->size[1] >= 0) return 1;
        nn__err(ctx, "nn_random_crop: padding is %lld; it must be >= 0", (long long)t->size[1]); return 0;
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
    maxn = s[0] * s[1] * s[2];
    memcpy(ns, s, sizeof ns);
    for (k = 0; k < n; k++) { if (!nn__transform_shape(ctx, &ts[k], ns)) return 0; if (ns[0] * ns[1] * ns[2] > maxn) maxn = ns[0] * ns[1] * ns[2]; }
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
    int64_t *order;                      /* (len) sample order of the current epoch */
    int64_t pos;                         /* next position in order; -1: the next call starts an epoch */
    int64_t epoch;                       /* epochs begun */
    int64_t sample, out_shape[3];
    uint64_t rng;                        /* shuffling and random transforms */
    nn_tensor *x, *y;
    float *raw;
};

NN_API nn_dataloader_opts nn_dataloader_opts_default(void) {
    nn_dataloader_opts o;
    memset(&o, 0, sizeof o);
    o.batch_size = 1; o.shuffle = 0; o.drop_last = 0; o.seed = 0; o.transforms = NULL; o.ntransforms = 0;
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
    return 1;
}

NN_API nn_dataloader *nn_dataloader_new(nn_dataset *d, nn_dataloader_opts o) {
    nn_dataloader *dl; int64_t i, s[3] = { 1, 1, 1 }, xs[NN_MAX_DIMS], ys[2]; int k;
    if (!d) return NULL;                      /* the reader that gave NULL reported why */
    if (!nn__dataloader_check(d, &o)) return NULL;
    memcpy(s, d->xshape, sizeof s);
    for (k = 0; k < o.ntransforms; k++) if (!nn__transform_shape(d->ctx, &o.transforms[k], s)) return NULL;
    dl = NN__CAST(nn_dataloader *, NN_MALLOC(sizeof(nn_dataloader)));
    if (!dl) { nn__err(d->ctx, "nn_dataloader_new: out of memory"); return NULL; }
    memset(dl, 0, sizeof *dl);
    dl->d = d; dl->o = o; dl->rng = o.seed ^ 0x5eedULL;
    memcpy(dl->out_shape, s, sizeof s);
    dl->sample = nn__prod(s, d->xdim);
    dl->order = NN__CAST(int64_t *, NN_MALLOC((size_t)d->len * sizeof(int64_t)));
    dl->raw = NN__CAST(float *, NN_MALLOC((size_t)(nn__prod(d->xshape, d->xdim) + (d->ydim ? d->ydim : 1)) * sizeof(float)));
    dl->transforms = NN__CAST(nn_transform *, NN_MALLOC((size_t)(o.ntransforms + 1) * sizeof(nn_transform)));
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
    return dl->o.drop_last ? dl->d->len / dl->o.batch_size : (dl->d->len + dl->o.batch_size - 1) / dl->o.batch_size;
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

/* sample k of the batch into x (B, ...) and y, through the transforms */
static int nn__dataloader_sample(nn_dataloader *dl, int64_t k) {
    nn_dataset *d = dl->d; int64_t Y = d->ydim;
    float *xo = NN__F32(dl->x) + k * dl->sample;
    if (!nn_dataset_get(d, dl->order[dl->pos + k], dl->o.ntransforms ? dl->raw : xo, Y ? NN__F32(dl->y) + k * Y : NULL,
                        Y ? NULL : NN__I64(dl->y) + k)) return 0;
    if (dl->o.ntransforms) {
        int64_t os[3]; nn__mark m = nn__arena_mark(d->ctx);
        int ok = nn_apply_transforms(d->ctx, dl->transforms, dl->o.ntransforms, dl->raw, d->xshape, xo, os, &dl->rng);
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
    b = d->len - dl->pos < B ? d->len - dl->pos : B;
    if (b <= 0 || (dl->o.drop_last && b < B)) { dl->pos = -1; return 0; }
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
    NN_FREE(dl->order); NN_FREE(dl->raw); NN_FREE(dl->transforms);
    NN_FREE(dl);
}

#ifndef NN_NO_STDIO
/* for checkpoints (serialisation section) */
static nn__loader_state nn__dataloader_state(nn_dataloader *dl) {
    nn__loader_state s;
    s.len = dl->d->len; s.pos = dl->pos; s.epoch = dl->epoch; s.rng = dl->rng; s.order = dl->order;
    return s;
}
static void nn__dataloader_set_state(nn_dataloader *dl, const nn__loader_state *s) {
    dl->pos = s->pos; dl->epoch = s->epoch; dl->rng = s->rng;
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
/* sklearn rounds with Python's format, which rounds half to even on the binary value: printf does the same */
#define NN__OUT(...) do { \
        int w_ = snprintf(buf + len, size > (size_t)len ? size - (size_t)len : 0, __VA_ARGS__); \
        if (w_ < 0 || (size_t)(len + w_) >= size) return -1; \
        len += w_; \
    } while (0)
/* the report's text from per-class scores P, R, F, S (k of each) */
static int nn__report_text(const int64_t *cm, int k, const char *const *names, int digits, char *buf, size_t size,
                           const double *P, const double *R, const double *F, const int64_t *S) {
    double mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0; int64_t total = 0; int i, width = 12, len = 0; char nm[32];
    for (i = 0; i < k; i++) {
        int l = names ? (int)strlen(names[i]) : snprintf(nm, sizeof nm, "%d", i);
        if (l > width) width = l;
        total += S[i];
        mp += P[i]; mr += R[i]; mf += F[i];
        wp += P[i] * (double)S[i]; wr += R[i] * (double)S[i]; wf += F[i] * (double)S[i];
    }
    if (width < digits) width = digits;
    NN__OUT("%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support");
    for (i = 0; i < k; i++) {
        if (!names) snprintf(nm, sizeof nm, "%d", i);
        NN__OUT("%*s  %9.*f %9.*f %9.*f %9lld\n", width, names ? names[i] : nm, digits, P[i], digits, R[i], digits, F[i], (long long)S[i]);
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
    P = NN__CAST(double *, NN_MALLOC((size_t)k * 3 * sizeof(double)));   /* precision, recall, f1 */
    S = NN__CAST(int64_t *, NN_MALLOC((size_t)k * sizeof(int64_t)));
    if (!P || !S) { NN_FREE(P); NN_FREE(S); return -1; }
    nn_class_scores(cm, k, P, P + k, P + 2 * k, S);
    len = nn__report_text(cm, k, names, digits, buf, size, P, P + k, P + 2 * k, S);
    NN_FREE(P); NN_FREE(S);
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
    int W = n < 60 ? (n > 1 ? n : 2) : 60, r, col, c, digits; float lo, hi; char line[64], num[16];
    if (n <= 0 || nc <= 0 || !ys) return;
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
    digits = snprintf(num, sizeof num, "%d", n);
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
