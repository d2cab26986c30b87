/* ==== serialisation: safetensors ==== */
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
static void nn__jfail(nn__json *j, const char *what) { if (j->ok) { j->ok = 0; snprintf(j->msg, sizeof j->msg, "%s at header byte %ld", what, (long)(j->p - j->start)); } }
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
    out = NN__CAST(char *, NN_MALLOC((size_t)(j->p - s) + 1));
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
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
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
        if (!nn__jchar(&j, ':')) { NN_FREE(key); nn__jfail(&j, "expected ':'"); break; }
        if (!strcmp(key, "__metadata__")) {
            NN_FREE(key);
            if (!nn__jchar(&j, '{')) { nn__jfail(&j, "__metadata__ is not an object"); break; }
            if (nn__jchar(&j, '}')) continue;
            do {
                char *k = nn__jstring(&j), *v;
                if (!k) break;
                if (!nn__jchar(&j, ':') || !(v = nn__jstring(&j))) { NN_FREE(k); nn__jfail(&j, "metadata values must be strings"); break; }
                if (st->nmeta + 2 > st->meta_cap) {
                    int cap = st->meta_cap ? 2 * st->meta_cap : 32;
                    char **m = NN__CAST(char **, NN_REALLOC(st->meta, (size_t)cap * sizeof(char *)));
                    if (!m) { NN_FREE(k); NN_FREE(v); nn__jfail(&j, "out of memory"); break; }
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
                nn__st_entry *ne = NN__CAST(nn__st_entry *, NN_REALLOC(st->e, (size_t)cap * sizeof(nn__st_entry)));
                if (!ne) { NN_FREE(key); nn__jfail(&j, "out of memory"); break; }
                st->e = ne; st->cap = cap;
            }
            st->e[st->n++] = e;      /* owned from here on, freed with st */
            if (!nn__jchar(&j, '{')) { nn__jfail(&j, "a tensor entry is not an object"); break; }
            do {
                char *f = nn__jstring(&j);
                if (!f) break;
                if (!nn__jchar(&j, ':')) { NN_FREE(f); nn__jfail(&j, "expected ':'"); break; }
                if (!strcmp(f, "dtype")) {
                    char *dt = nn__jstring(&j);
                    if (dt) for (d = 0; d < NN__DTYPES; d++) if (!strcmp(dt, nn__dtype_names[d])) st->e[st->n - 1].dtype = d;
                    if (dt && st->e[st->n - 1].dtype < 0) { NN_FREE(f); nn__st_fail(st, "tensor \"%s\" has dtype %s; nn.h reads F32, F64, F16, BF16, I64 and I32", key, dt); NN_FREE(dt); return 0; }
                    NN_FREE(dt); have_dtype = 1;
                } else if (!strcmp(f, "shape")) { nn__jints(&j, st->e[st->n - 1].shape, NN_MAX_DIMS, &nd); st->e[st->n - 1].ndim = nd; have_shape = 1; }
                else if (!strcmp(f, "data_offsets")) {
                    int two = 0;
                    nn__jints(&j, offs, 2, &two);
                    if (j.ok && two != 2) nn__jfail(&j, "data_offsets needs two numbers");
                    have_off = 1;
                } else { NN_FREE(f); nn__jfail(&j, "unknown field in a tensor entry"); break; }
                NN_FREE(f);
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
    for (k = 0; k < st->n; k++) NN_FREE(st->e[k].name);
    for (k = 0; k < st->nmeta; k++) NN_FREE(st->meta[k]);
    NN_FREE(st->e); NN_FREE(st->meta); NN_FREE(st->file); NN_FREE(st->path);
    NN_FREE(st);
}

NN_API nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path) {
    nn_safetensors *st; FILE *f; long size; uint64_t hlen = 0; int k;
    if (!ctx) return NULL;
    if (!path) { nn__err(ctx, "nn_safetensors_open: path is NULL"); return NULL; }
    f = fopen(path, "rb");
    if (!f) { nn__err(ctx, "nn_safetensors_open: cannot open %s", path); return NULL; }
    st = NN__CAST(nn_safetensors *, NN_MALLOC(sizeof(nn_safetensors)));
    if (!st) { fclose(f); nn__err(ctx, "nn_safetensors_open: out of memory"); return NULL; }
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->path = NN__CAST(char *, NN_MALLOC(strlen(path) + 1));
    if (st->path) strcpy(st->path, path);
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); nn__err(ctx, "nn_safetensors_open: cannot read %s", path); nn_safetensors_close(st); return NULL; }
    st->size = size;
    st->file = NN__CAST(unsigned char *, NN_MALLOC((size_t)size + 1));
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
    if (!st || !key) return NULL;
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
static void nn__st_read(const nn_safetensors *st, const nn__st_entry *e, nn_tensor *t) {
    int64_t i, n = (e->end - e->begin) / nn__dtype_size[e->dtype], iv; double fv;
    int is_int = nn__st_is_int(e->dtype);
    for (i = 0; i < n && i < t->numel; i++) {
        nn__st_elem(st, e, i, &iv, &fv);
        if (t->dtype == NN_INT64) NN__I64(t)[i] = is_int ? iv : (int64_t)fv;
        else NN__F32(t)[i] = is_int ? (float)iv : nn__to_f32(fv);
    }
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
        q = NN__CAST(char *, NN_REALLOC(b->p, cap));
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
        else if ((unsigned char)*s < 0x20) { char e[8]; snprintf(e, sizeof e, "\\u%04x", (unsigned)(unsigned char)*s); nn__bput(b, e, 6); }
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
        for (d = 0; d < tensors[k]->ndim; d++) { snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)tensors[k]->shape[d]); nn__bputs(b, num); }
        snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)off, (long long)(off + bytes));
        nn__bputs(b, num);
        off += bytes;
    }
    nn__bput(b, "}", 1);
    while (b->ok && b->n % 8) nn__bput(b, " ", 1);      /* data starts 8-byte aligned */
}

/* t's elements in row-major order, little-endian */
static int nn__st_write_data(FILE *f, const nn_tensor *t) {
    size_t es = nn_dtype_size(t->dtype); nn__walk w; int64_t i;
    const unsigned char *base = NN__CAST(const unsigned char *, t->data);
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
        if (!tensors[k] || !names[k]) { nn__err(ctx, "nn_safetensors_save: tensor %d (%s) is NULL", k, names[k] ? names[k] : "no name"); return 0; }
        if (!nn__st_dtype_of(tensors[k]->dtype)) { nn__err(ctx, "nn_safetensors_save: tensor \"%s\" has dtype %d, which safetensors cannot name", names[k], (int)tensors[k]->dtype); return 0; }
    }
    for (k = 0; k < nmeta; k++) if (!meta_keys[k] || !meta_values[k]) { nn__err(ctx, "nn_safetensors_save: metadata entry %d is NULL", k); return 0; }
    return 1;
}

NN_API int nn_safetensors_save(nn_ctx *ctx, const char *path, const char *const *names, nn_tensor *const *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_values, int nmeta) {
    nn__buf b; int k, ok = 1; char *tmp; FILE *f; unsigned char len8[8]; uint64_t hl;
    if (!ctx) return 0;
    if (!nn__st_check_args(ctx, path, names, tensors, n, meta_keys, meta_values, nmeta)) return 0;
    memset(&b, 0, sizeof b); b.ok = 1;
    nn__st_header(&b, names, tensors, n, meta_keys, meta_values, nmeta);
    if (!b.ok) { NN_FREE(b.p); nn__err(ctx, "nn_safetensors_save: out of memory"); return 0; }
    tmp = NN__CAST(char *, NN_MALLOC(strlen(path) + 8));
    if (!tmp) { NN_FREE(b.p); nn__err(ctx, "nn_safetensors_save: out of memory"); return 0; }
    sprintf(tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) { nn__err(ctx, "nn_safetensors_save: cannot create %s", tmp); NN_FREE(b.p); NN_FREE(tmp); return 0; }
    hl = b.n;
    for (k = 0; k < 8; k++) len8[k] = (unsigned char)(hl >> (8 * k));
    ok = fwrite(len8, 1, 8, f) == 8 && fwrite(b.p, 1, b.n, f) == b.n;
    for (k = 0; k < n && ok; k++) ok = nn__st_write_data(f, tensors[k]);
    if (fflush(f) != 0) ok = 0;
    if (fclose(f) != 0) ok = 0;
    NN_FREE(b.p);
    if (ok) {
        remove(path);               /* rename onto an existing file fails on some systems */
        ok = rename(tmp, path) == 0;
    }
    if (!ok) { remove(tmp); nn__err(ctx, "nn_safetensors_save: writing %s failed; the previous file (if any) is unchanged", path); }
    NN_FREE(tmp);
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
static void nn__apply_model(nn_module *m, const nn_safetensors *st, const char *prefix) {
    const nn_state_entry *es; int n = nn_module_state(m, &es), k;
    for (k = 0; k < n; k++) nn__st_read(st, nn__st_find2(st, prefix, es[k].name), es[k].tensor);
}

NN_API int nn_save_model(nn_module *m, const char *path) {
    const nn_state_entry *es; int n, k, ok; const char **names; nn_tensor **ts;
    if (!m) return 0;
    n = nn_module_state(m, &es);
    names = NN__CAST(const char **, NN_MALLOC((size_t)(n + 1) * sizeof(char *)));
    ts = NN__CAST(nn_tensor **, NN_MALLOC((size_t)(n + 1) * sizeof(nn_tensor *)));
    if (!names || !ts) { NN_FREE(names); NN_FREE(ts); nn__err(m->ctx, "nn_save_model: out of memory"); return 0; }
    for (k = 0; k < n; k++) { names[k] = es[k].name; ts[k] = es[k].tensor; }
    ok = nn_safetensors_save(m->ctx, path, names, ts, n, NULL, NULL, 0);
    NN_FREE(names); NN_FREE(ts);
    return ok;
}

NN_API int nn_load_model(nn_module *m, const char *path) {
    nn_safetensors *st; int ok;
    if (!m) return 0;
    st = nn_safetensors_open(m->ctx, path);
    if (!st) return 0;
    ok = nn__check_model(m, st, "", "nn_load_model");
    if (ok) nn__apply_model(m, st, "");
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
typedef struct nn__loader_state { int64_t len, pos, epoch; uint64_t rng; int64_t *order; } nn__loader_state;
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
    char *s = NN__CAST(char *, NN_MALLOC(la + lb + 1));
    if (s) { memcpy(s, a, la); memcpy(s + la, b, lb + 1); }
    return s;
}
static void nn__ck_tensor(nn__ck *c, const char *prefix, const char *name, nn_tensor *t) {
    char *s;
    if (!c->ok) return;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        char **nn_ = NN__CAST(char **, NN_REALLOC(c->names, (size_t)cap * sizeof(char *)));
        nn_tensor **nt;
        if (!nn_) { c->ok = 0; return; }
        c->names = nn_;
        nt = NN__CAST(nn_tensor **, NN_REALLOC(c->ts, (size_t)cap * sizeof(nn_tensor *)));
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
        char **m = NN__CAST(char **, NN_REALLOC(c->meta, (size_t)cap * sizeof(char *)));
        if (!m) { c->ok = 0; return; }
        c->meta = m; c->meta_cap = cap;
    }
    k = nn__strcat2(prefix, key); v = nn__strcat2(value, "");
    if (!k || !v) { NN_FREE(k); NN_FREE(v); c->ok = 0; return; }
    c->meta[c->nmeta++] = k; c->meta[c->nmeta++] = v;
}
static void nn__ck_num(nn__ck *c, const char *key, double v) { char s[40]; snprintf(s, sizeof s, "%.17g", v); nn__ck_meta(c, "", key, s); }
static void nn__ck_u64(nn__ck *c, const char *key, uint64_t v) { char s[40]; snprintf(s, sizeof s, "%llu", (unsigned long long)v); nn__ck_meta(c, "", key, s); }
static void nn__ck_free(nn__ck *c) {
    int k;
    for (k = 0; k < c->n; k++) NN_FREE(c->names[k]);
    for (k = 0; k < c->nmeta; k++) NN_FREE(c->meta[k]);
    NN_FREE(c->names); NN_FREE(c->ts); NN_FREE(c->meta);
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
        snprintf(key, sizeof key, "optim.%d.lr", g); nn__ck_num(c, key, gr->lr);
        snprintf(key, sizeof key, "optim.%d.momentum", g); nn__ck_num(c, key, gr->momentum);
        snprintf(key, sizeof key, "optim.%d.initial_lr", g); nn__ck_num(c, key, gr->initial_lr);
        snprintf(key, sizeof key, "optim.%d.has_initial_lr", g); nn__ck_num(c, key, gr->has_initial_lr);
        snprintf(key, sizeof key, "optim.%d.params", g); nn__ck_num(c, key, gr->n);
        for (k = 0; k < gr->n; k++, pi++) {
            snprintf(key, sizeof key, "optim.state.%d.step", pi); nn__ck_num(c, key, (double)gr->step[k]);
            for (s = 0; s < 3; s++) if (gr->state[3 * k + s]) {
                snprintf(key, sizeof key, "optim.state.%d.", pi);
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
        snprintf(v, sizeof v, "%.17g", ck->extra_values[k]);
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
        const char **mk = NN__CAST(const char **, NN_MALLOC((size_t)(c.nmeta / 2 + 1) * sizeof(char *)));
        const char **mv = NN__CAST(const char **, NN_MALLOC((size_t)(c.nmeta / 2 + 1) * sizeof(char *)));
        if (!mk || !mv) { nn__err(ctx, "nn_save_checkpoint: out of memory"); ok = 0; }
        for (k = 0; ok && k < c.nmeta / 2; k++) { mk[k] = c.meta[2 * k]; mv[k] = c.meta[2 * k + 1]; }
        if (ok) ok = nn_safetensors_save(ctx, path, (const char *const *)c.names, c.ts, c.n, mk, mv, c.nmeta / 2);
        NN_FREE(mk); NN_FREE(mv);
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
static int nn__meta_u64(nn_safetensors *st, const char *key, uint64_t *v) {
    const char *s = nn_safetensors_meta(st, key);
    char *end;
    if (!s) { nn__err(st->ctx, "nn_load_checkpoint: %s lacks \"%s\"", st->path, key); return 0; }
    *v = (uint64_t)strtoull(s, &end, 10);
    if (end == s || *end || *s == '-') { nn__err(st->ctx, "nn_load_checkpoint: %s has a bad value for \"%s\"", st->path, key); return 0; }
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
        snprintf(key, sizeof key, "optim.%d.params", g);
        if (!nn__meta_int(st, key, 0, INT_MAX, &v)) return 0;
        if (v != o->groups[g].n) { nn__err(o->ctx, "%s: group %d has %lld parameters in %s and %d in the optimizer", fn, g, (long long)v, st->path, o->groups[g].n); return 0; }
        snprintf(key, sizeof key, "optim.%d.lr", g); if (!nn__meta_num(st, key, &d)) return 0;
        snprintf(key, sizeof key, "optim.%d.momentum", g); if (!nn__meta_num(st, key, &d)) return 0;
        snprintf(key, sizeof key, "optim.%d.initial_lr", g); if (!nn__meta_num(st, key, &d)) return 0;
        for (k = 0; k < o->groups[g].n; k++, pi++) {
            nn_tensor *p = o->groups[g].params[k];
            snprintf(key, sizeof key, "optim.state.%d.step", pi);
            if (!nn__meta_int(st, key, 0, INT64_MAX / 2, &v)) return 0;
            for (s = 0; s < 3; s++) {
                const nn__st_entry *e;
                if (!nn__optim_state_names[o->kind][s]) continue;
                snprintf(key, sizeof key, "optim.state.%d.", pi);
                e = nn__st_find2(st, key, nn__optim_state_names[o->kind][s]);
                if (e && !nn__st_fits(st, e, p->ndim, p->shape, NN_FLOAT32, fn, key, nn__optim_state_names[o->kind][s])) return 0;
            }
        }
    }
    return 1;
}
static void nn__ld_optim(nn_safetensors *st, nn_optim *o) {
    int g, k, s, pi; int64_t v; char key[96];
    for (pi = 0, g = 0; g < o->ngroups; g++) {
        nn__group *gr = &o->groups[g];
        snprintf(key, sizeof key, "optim.%d.lr", g); nn__meta_num(st, key, &gr->lr);
        snprintf(key, sizeof key, "optim.%d.momentum", g); nn__meta_num(st, key, &gr->momentum);
        snprintf(key, sizeof key, "optim.%d.initial_lr", g); nn__meta_num(st, key, &gr->initial_lr);
        snprintf(key, sizeof key, "optim.%d.has_initial_lr", g);
        if (nn_safetensors_meta(st, key) && nn__meta_int(st, key, 0, 1, &v)) gr->has_initial_lr = (int)v;   /* absent in version 1 */
        for (k = 0; k < gr->n; k++, pi++) {
            snprintf(key, sizeof key, "optim.state.%d.step", pi);
            if (nn__meta_int(st, key, 0, INT64_MAX / 2, &v)) gr->step[k] = v;
            for (s = 0; s < 3; s++) {
                const nn__st_entry *e; nn_tensor **t = &gr->state[3 * k + s];
                if (!nn__optim_state_names[o->kind][s]) continue;
                snprintf(key, sizeof key, "optim.state.%d.", pi);
                e = nn__st_find2(st, key, nn__optim_state_names[o->kind][s]);
                if (!e) { nn_free(*t); *t = NULL; continue; }
                if (!*t) *t = nn_zeros(o->ctx, gr->params[k]->ndim, gr->params[k]->shape);
                if (*t) nn__st_read(st, e, *t);
            }
        }
    }
}

static int nn__ld_check_sched(nn_safetensors *st, nn_scheduler *sc) {
    int64_t v; double d;
    if (!nn_safetensors_meta(st, "sched.kind")) { nn__err(st->ctx, "nn_load_checkpoint: %s has no scheduler state", st->path); return 0; }
    if (!nn__meta_int(st, "sched.kind", 0, INT_MAX, &v)) return 0;
    if (v != sc->kind) { nn__err(st->ctx, "nn_load_checkpoint: %s holds another kind of scheduler state", st->path); return 0; }
    return nn__meta_int(st, "sched.last_epoch", -1, INT64_MAX / 2, &v) && nn__meta_num(st, "sched.best", &d)
        && nn__meta_int(st, "sched.num_bad", 0, INT64_MAX / 2, &v) && nn__meta_int(st, "sched.cooldown_counter", 0, INT64_MAX / 2, &v);
}
static void nn__ld_sched(nn_safetensors *st, nn_scheduler *sc) {
    int64_t v;
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
    e = nn__st_find(st, "loader.order");
    if (!e) { nn__err(st->ctx, "nn_load_checkpoint: %s has no tensor \"loader.order\"", st->path); return 0; }
    if (!nn__st_fits(st, e, 1, &len, NN_INT64, "nn_load_checkpoint", "", "loader.order")) return 0;
    seen = NN__CAST(unsigned char *, NN_MALLOC((size_t)len + 1));
    if (!seen) { nn__err(st->ctx, "nn_load_checkpoint: out of memory"); return 0; }
    memset(seen, 0, (size_t)len + 1);
    for (i = 0; i < len && ok; i++) {
        nn__st_elem(st, e, i, &iv, &fv);
        if (!nn__st_is_int(e->dtype)) iv = (int64_t)fv;
        if (iv < 0 || iv >= len || seen[iv]) ok = 0;
        else seen[iv] = 1;
    }
    NN_FREE(seen);
    if (!ok) nn__err(st->ctx, "nn_load_checkpoint: \"loader.order\" in %s is not a permutation of the %lld samples", st->path, (long long)len);
    return ok;
}
static void nn__ld_loader(nn_safetensors *st, nn_dataloader *dl) {
    nn__loader_state ls = nn__dataloader_state(dl);
    int64_t v, i, iv; double fv; const nn__st_entry *e = nn__st_find(st, "loader.order");
    uint64_t u = 0;
    nn__meta_u64(st, "loader.rng", &u);
    nn__meta_int(st, "loader.pos", -1, ls.len, &v); ls.pos = v;
    nn__meta_int(st, "loader.epoch", 0, INT64_MAX / 2, &v); ls.epoch = v;
    ls.rng = u;
    for (i = 0; i < ls.len; i++) { nn__st_elem(st, e, i, &iv, &fv); ls.order[i] = nn__st_is_int(e->dtype) ? iv : (int64_t)fv; }
    nn__dataloader_set_state(dl, &ls);
}

static int nn__ld_check_extras(nn_safetensors *st, const nn_checkpoint *ck) {
    int k; double d;
    if (ck->nextra < 0 || ck->nextra_tensors < 0 || (ck->nextra > 0 && (!ck->extra_names || !ck->extra_values))
        || (ck->nextra_tensors > 0 && (!ck->extra_tensor_names || !ck->extra_tensors))) {
        nn__err(st->ctx, "nn_load_checkpoint: nextra is %d and nextra_tensors %d; their names and values must not be NULL", ck->nextra, ck->nextra_tensors);
        return 0;
    }
    for (k = 0; k < ck->nextra; k++) {
        char *key = ck->extra_names[k] ? nn__strcat2("extra.", ck->extra_names[k]) : NULL; int ok;
        if (!key) { nn__err(st->ctx, "nn_load_checkpoint: extra_names[%d] is NULL (or out of memory)", k); return 0; }
        ok = nn__meta_num(st, key, &d);
        NN_FREE(key);
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
static void nn__ld_extras(nn_safetensors *st, nn_checkpoint *ck) {
    int k;
    for (k = 0; k < ck->nextra; k++) {
        char *key = nn__strcat2("extra.", ck->extra_names[k]);
        if (key) nn__meta_num(st, key, &ck->extra_values[k]);
        NN_FREE(key);
    }
    for (k = 0; k < ck->nextra_tensors; k++)
        nn__st_read(st, nn__st_find2(st, "extra.", ck->extra_tensor_names[k]), ck->extra_tensors[k]);
}

static int nn__ld_check_rng(nn_safetensors *st) {
    uint64_t u; int64_t v; double d;
    return nn__meta_int(st, "epoch", INT64_MIN / 2, INT64_MAX / 2, &v) && nn__meta_num(st, "loss", &d)
        && nn__meta_hilo(st, "rng.state_hi", "rng.state_lo", &u) && nn__meta_hilo(st, "rng.inc_hi", "rng.inc_lo", &u)
        && nn__meta_int(st, "rng.has_spare", 0, 1, &v) && nn__meta_num(st, "rng.spare", &d);
}
static void nn__ld_rng(nn_safetensors *st, nn_ctx *ctx) {
    int64_t v; double d;
    nn__meta_hilo(st, "rng.state_hi", "rng.state_lo", &ctx->rng.state);
    nn__meta_hilo(st, "rng.inc_hi", "rng.inc_lo", &ctx->rng.inc);
    nn__meta_int(st, "rng.has_spare", 0, 1, &v); ctx->rng.has_spare = (int)v;
    nn__meta_num(st, "rng.spare", &d); ctx->rng.spare = nn__to_f32(d);
}

NN_API int nn_load_checkpoint(nn_checkpoint *ck, const char *path) {
    nn_safetensors *st; nn_ctx *ctx; int64_t v; const char *fmt; int ok;
    if (!ck || !ck->model) return 0;
    ctx = ck->model->ctx;
    st = nn_safetensors_open(ctx, path);
    if (!st) return 0;
    fmt = nn_safetensors_meta(st, "format");
    ok = fmt && !strncmp(fmt, "nn.h checkpoint", 15);
    if (!ok) nn__err(ctx, "nn_load_checkpoint: %s is not an nn.h checkpoint (no format entry)", path);
    ok = ok && nn__check_model(ck->model, st, "model.", "nn_load_checkpoint");
    ok = ok && (!ck->optim || nn__ld_check_optim(st, ck->optim));
    ok = ok && (!ck->scheduler || nn__ld_check_sched(st, ck->scheduler));
    ok = ok && (!ck->loader || nn__ld_check_loader(st, ck->loader));
    ok = ok && nn__ld_check_extras(st, ck) && nn__ld_check_rng(st);
    if (ok) {
        nn__apply_model(ck->model, st, "model.");
        if (ck->optim) nn__ld_optim(st, ck->optim);
        if (ck->scheduler) nn__ld_sched(st, ck->scheduler);
        if (ck->loader) nn__ld_loader(st, ck->loader);
        nn__ld_extras(st, ck);
        nn__meta_int(st, "epoch", INT64_MIN / 2, INT64_MAX / 2, &v); ck->epoch = v;
        nn__meta_num(st, "loss", &ck->loss);
        nn__ld_rng(st, ctx);
    }
    nn_safetensors_close(st);
    return ok;
}
#endif /* NN_NO_STDIO */
