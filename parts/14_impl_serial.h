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

enum { NN__F32, NN__F64, NN__F16, NN__BF16, NN__I64, NN__I32, NN__DTYPES };
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
        if (*n >= max) { nn__jfail(j, "too many dims"); return 0; }
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
    if (hlen > (uint64_t)(size - 8) || hlen > ((uint64_t)1 << 30)) { nn__st_fail(st, "the header length is larger than the file (truncated or not safetensors)%s%s", NULL, NULL); nn_safetensors_close(st); return NULL; }
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
static const nn__st_entry *nn__st_find(const nn_safetensors *st, const char *name) {
    int k;
    for (k = 0; k < st->n; k++) if (!strcmp(st->e[k].name, name)) return &st->e[k];
    return NULL;
}

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

/* The values of entry e as floats into dst. */
static void nn__st_read(const nn_safetensors *st, const nn__st_entry *e, float *dst) {
    const unsigned char *p = st->file + st->data_at + e->begin;
    int64_t i, n = (e->end - e->begin) / nn__dtype_size[e->dtype];
    int sz = nn__dtype_size[e->dtype], b;
    for (i = 0; i < n; i++, p += sz) {
        uint64_t u = 0;
        for (b = sz - 1; b >= 0; b--) u = (u << 8) | p[b];     /* little-endian bytes */
        switch (e->dtype) {
        case NN__F32: { uint32_t v = (uint32_t)u; memcpy(&dst[i], &v, 4); } break;
        case NN__F64: { double d; memcpy(&d, &u, 8); dst[i] = (float)d; } break;
        case NN__F16: dst[i] = nn__half_to_float((uint16_t)u, 0); break;
        case NN__BF16: dst[i] = nn__half_to_float((uint16_t)u, 1); break;
        case NN__I64: dst[i] = (float)(int64_t)u; break;
        case NN__I32: dst[i] = (float)(int32_t)(uint32_t)u; break;
        default: dst[i] = 0;
        }
    }
}

NN_API nn_tensor *nn_safetensors_get(nn_safetensors *st, const char *name) {
    const nn__st_entry *e; nn_tensor *t;
    if (!st || !name) return NULL;
    e = nn__st_find(st, name);
    if (!e) { nn__err(st->ctx, "nn_safetensors_get: %s has no tensor \"%s\"", st->path, name); return NULL; }
    t = nn_empty(st->ctx, e->ndim, e->shape);
    if (t) nn__st_read(st, e, NN__F32(t));
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

NN_API int nn_safetensors_save(nn_ctx *ctx, const char *path, const char *const *names, nn_tensor *const *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_values, int nmeta) {
    nn__buf b; int k, d, ok = 1; int64_t off = 0; char num[64], *tmp; FILE *f; unsigned char len8[8]; uint64_t hl;
    if (!ctx) return 0;
    if (!path || (n > 0 && (!names || !tensors))) { nn__err(ctx, "nn_safetensors_save: path, names or tensors is NULL"); return 0; }
    for (k = 0; k < n; k++) if (!tensors[k] || !names[k]) { nn__err(ctx, "nn_safetensors_save: tensor %d (%s) is NULL", k, names[k] ? names[k] : "no name"); return 0; }
    memset(&b, 0, sizeof b); b.ok = 1;
    nn__bput(&b, "{", 1);
    if (nmeta > 0) {
        nn__bputs(&b, "\"__metadata__\":{");
        for (k = 0; k < nmeta; k++) { if (k) nn__bput(&b, ",", 1); nn__bstr(&b, meta_keys[k]); nn__bput(&b, ":", 1); nn__bstr(&b, meta_values[k]); }
        nn__bput(&b, "}", 1);
    }
    for (k = 0; k < n; k++) {
        if (k || nmeta > 0) nn__bput(&b, ",", 1);
        nn__bstr(&b, names[k]);
        nn__bputs(&b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (d = 0; d < tensors[k]->ndim; d++) { snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)tensors[k]->shape[d]); nn__bput(&b, num, strlen(num)); }
        snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)off, (long long)(off + tensors[k]->numel * 4));
        nn__bput(&b, num, strlen(num));
        off += tensors[k]->numel * 4;
    }
    nn__bput(&b, "}", 1);
    while (b.ok && b.n % 8) nn__bput(&b, " ", 1);      /* data starts 8-byte aligned */
    if (!b.ok) { NN_FREE(b.p); nn__err(ctx, "nn_safetensors_save: out of memory"); return 0; }
    tmp = NN__CAST(char *, NN_MALLOC(strlen(path) + 8));
    if (!tmp) { NN_FREE(b.p); nn__err(ctx, "nn_safetensors_save: out of memory"); return 0; }
    sprintf(tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) { nn__err(ctx, "nn_safetensors_save: cannot create %s", tmp); NN_FREE(b.p); NN_FREE(tmp); return 0; }
    hl = b.n;
    for (k = 0; k < 8; k++) len8[k] = (unsigned char)(hl >> (8 * k));
    ok = fwrite(len8, 1, 8, f) == 8 && fwrite(b.p, 1, b.n, f) == b.n;
    for (k = 0; k < n && ok; k++) {
        nn_tensor *t = tensors[k];
        if (nn__little_endian() && nn_is_contiguous(t)) ok = fwrite(NN__F32(t), 4, (size_t)t->numel, f) == (size_t)t->numel;
        else {
            nn__walk w; int64_t i;
            nn__walk_init(&w, t->ndim, t->shape, t->stride, NULL, NULL);
            for (i = 0; i < t->numel && ok; i++, nn__walk_next(&w)) {
                uint32_t u; unsigned char by[4]; int q;
                memcpy(&u, &NN__F32(t)[w.off[0]], 4);
                for (q = 0; q < 4; q++) by[q] = (unsigned char)(u >> (8 * q));
                ok = fwrite(by, 1, 4, f) == 4;
            }
        }
    }
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

/* Checks that every state entry of m is in st with its shape (under prefix);
   with strict, that st holds nothing else under prefix. Names the first misfit. */
static int nn__check_model(nn_module *m, const nn_safetensors *st, const char *prefix, const char *fn) {
    const nn_state_entry *es; int n = nn_module_state(m, &es), k, d, mine = 0; char full[256], s1[128], s2[128];
    size_t pl = strlen(prefix);
    for (k = 0; k < n; k++) {
        const nn__st_entry *e;
        snprintf(full, sizeof full, "%s%s", prefix, es[k].name);
        e = nn__st_find(st, full);
        if (!e) { nn__err(m->ctx, "%s: %s has no tensor \"%s\" (missing key)", fn, st->path, full); return 0; }
        if (e->ndim != es[k].tensor->ndim) goto shape;
        for (d = 0; d < e->ndim; d++) if (e->shape[d] != es[k].tensor->shape[d]) goto shape;
        continue;
shape:
        {
            nn_tensor fake; memset(&fake, 0, sizeof fake); fake.ndim = e->ndim; memcpy(fake.shape, e->shape, sizeof fake.shape);
            nn__err(m->ctx, "%s: tensor \"%s\" in %s is %s but the model's is %s", fn, full, st->path, NN__SHAPE(&fake, s1), NN__SHAPE(es[k].tensor, s2));
        }
        return 0;
    }
    for (k = 0; k < st->n; k++) if (!strncmp(st->e[k].name, prefix, pl)) mine++;
    if (mine != n) {
        for (k = 0; k < st->n; k++) if (!strncmp(st->e[k].name, prefix, pl)) {
            int found = 0, q;
            for (q = 0; q < n; q++) { snprintf(full, sizeof full, "%s%s", prefix, es[q].name); if (!strcmp(full, st->e[k].name)) found = 1; }
            if (!found) { nn__err(m->ctx, "%s: %s has tensor \"%s\", which the model does not have (unexpected key)", fn, st->path, st->e[k].name); return 0; }
        }
    }
    return 1;
}
static void nn__apply_model(nn_module *m, const nn_safetensors *st, const char *prefix) {
    const nn_state_entry *es; int n = nn_module_state(m, &es), k; char full[256];
    for (k = 0; k < n; k++) {
        snprintf(full, sizeof full, "%s%s", prefix, es[k].name);
        nn__st_read(st, nn__st_find(st, full), NN__F32(es[k].tensor));
    }
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
static const char *nn__optim_state_names[5][3] = {
    { "momentum_buffer", NULL, NULL }, { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }, { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" },
    { "square_avg", "momentum_buffer", "grad_avg" }, { "sum", NULL, NULL } };


#define NN__CK_MAX_META 512
typedef struct nn__meta { int n; char keys[NN__CK_MAX_META][64]; char vals[NN__CK_MAX_META][48]; } nn__meta;
static void nn__meta_add(nn__meta *m, const char *k, const char *fmt, double v) {
    if (m->n >= NN__CK_MAX_META) return;
    snprintf(m->keys[m->n], sizeof m->keys[0], "%s", k);
    snprintf(m->vals[m->n++], sizeof m->vals[0], fmt, v);
}

NN_API int nn_save_checkpoint(const nn_checkpoint *ck, const char *path) {
    nn_ctx *ctx; const nn_state_entry *es; int n, k, g, s, nt = 0, cap, ok; char key[64];
    const char **names = NULL; nn_tensor **ts = NULL; char (*tn)[200] = NULL; nn__meta *meta; const char *mk[NN__CK_MAX_META], *mv[NN__CK_MAX_META];
    if (!ck || !ck->model) return 0;
    ctx = ck->model->ctx;
    n = nn_module_state(ck->model, &es);
    cap = n + 1;
    if (ck->optim) for (g = 0; g < ck->optim->ngroups; g++) cap += 3 * ck->optim->groups[g].n;
    names = NN__CAST(const char **, NN_MALLOC((size_t)cap * sizeof(char *)));
    ts = NN__CAST(nn_tensor **, NN_MALLOC((size_t)cap * sizeof(nn_tensor *)));
    tn = NN__CAST(char (*)[200], NN_MALLOC((size_t)cap * sizeof(tn[0])));
    meta = NN__CAST(nn__meta *, NN_MALLOC(sizeof(nn__meta)));
    if (!names || !ts || !tn || !meta) { NN_FREE(names); NN_FREE(ts); NN_FREE(tn); NN_FREE(meta); nn__err(ctx, "nn_save_checkpoint: out of memory"); return 0; }
    meta->n = 0;
    for (k = 0; k < n; k++) { snprintf(tn[nt], sizeof tn[0], "model.%s", es[k].name); names[nt] = tn[nt]; ts[nt++] = es[k].tensor; }
    nn__meta_add(meta, "format", "nn.h checkpoint %g", 1);
    nn__meta_add(meta, "epoch", "%.17g", (double)ck->epoch);
    nn__meta_add(meta, "loss", "%.17g", ck->loss);
    nn__meta_add(meta, "rng.state_hi", "%.17g", (double)(ctx->rng.state >> 32));
    nn__meta_add(meta, "rng.state_lo", "%.17g", (double)(ctx->rng.state & 0xffffffffu));
    nn__meta_add(meta, "rng.inc_hi", "%.17g", (double)(ctx->rng.inc >> 32));
    nn__meta_add(meta, "rng.inc_lo", "%.17g", (double)(ctx->rng.inc & 0xffffffffu));
    nn__meta_add(meta, "rng.has_spare", "%.17g", (double)ctx->rng.has_spare);
    nn__meta_add(meta, "rng.spare", "%.17g", (double)ctx->rng.spare);
    if (ck->optim) {
        nn_optim *o = ck->optim; int pi = 0;
        nn__meta_add(meta, "optim.kind", "%.17g", o->kind);
        nn__meta_add(meta, "optim.groups", "%.17g", o->ngroups);
        for (g = 0; g < o->ngroups; g++) {
            nn__group *gr = &o->groups[g];
            snprintf(key, sizeof key, "optim.%d.lr", g); nn__meta_add(meta, key, "%.17g", gr->lr);
            snprintf(key, sizeof key, "optim.%d.momentum", g); nn__meta_add(meta, key, "%.17g", gr->momentum);
            snprintf(key, sizeof key, "optim.%d.initial_lr", g); nn__meta_add(meta, key, "%.17g", gr->initial_lr);
            snprintf(key, sizeof key, "optim.%d.params", g); nn__meta_add(meta, key, "%.17g", gr->n);
            for (k = 0; k < gr->n; k++, pi++) {
                snprintf(key, sizeof key, "optim.state.%d.step", pi); nn__meta_add(meta, key, "%.17g", (double)gr->step[k]);
                for (s = 0; s < 3; s++) if (gr->state[3 * k + s]) {
                    snprintf(tn[nt], sizeof tn[0], "optim.state.%d.%s", pi, nn__optim_state_names[o->kind][s]);
                    names[nt] = tn[nt]; ts[nt++] = gr->state[3 * k + s];
                }
            }
        }
    }
    if (ck->scheduler) {
        nn_scheduler *sc = ck->scheduler;
        nn__meta_add(meta, "sched.kind", "%.17g", sc->kind);
        nn__meta_add(meta, "sched.last_epoch", "%.17g", (double)sc->last_epoch);
        nn__meta_add(meta, "sched.best", "%.17g", sc->best);
        nn__meta_add(meta, "sched.num_bad", "%.17g", (double)sc->num_bad);
        nn__meta_add(meta, "sched.cooldown_counter", "%.17g", (double)sc->cooldown_counter);
    }
    if (meta->n >= NN__CK_MAX_META) { nn__err(ctx, "nn_save_checkpoint: too many parameters for the checkpoint metadata (%d entries)", NN__CK_MAX_META); ok = 0; }
    else {
        for (k = 0; k < meta->n; k++) { mk[k] = meta->keys[k]; mv[k] = meta->vals[k]; }
        ok = nn_safetensors_save(ctx, path, names, ts, nt, mk, mv, meta->n);
    }
    NN_FREE(names); NN_FREE(ts); NN_FREE(tn); NN_FREE(meta);
    return ok;
}

static int nn__meta_num(nn_safetensors *st, const char *key, double *v) {
    const char *s = nn_safetensors_meta(st, key);
    char *end;
    if (!s) { nn__err(st->ctx, "nn_load_checkpoint: %s lacks \"%s\"", st->path, key); return 0; }
    *v = strtod(s, &end);
    if (end == s) { nn__err(st->ctx, "nn_load_checkpoint: %s has a bad value for \"%s\"", st->path, key); return 0; }
    return 1;
}

NN_API int nn_load_checkpoint(nn_checkpoint *ck, const char *path) {
    nn_safetensors *st; nn_ctx *ctx; double v; int g, k, s, pi, ok = 0; char key[200];
    if (!ck || !ck->model) return 0;
    ctx = ck->model->ctx;
    st = nn_safetensors_open(ctx, path);
    if (!st) return 0;
    /* check everything first */
    if (!nn_safetensors_meta(st, "format")) { nn__err(ctx, "nn_load_checkpoint: %s is not an nn.h checkpoint (no format entry)", path); goto done; }
    if (!nn__check_model(ck->model, st, "model.", "nn_load_checkpoint")) goto done;
    if (ck->optim) {
        nn_optim *o = ck->optim;
        if (!nn__meta_num(st, "optim.kind", &v)) goto done;
        if ((int)v != o->kind) { nn__err(ctx, "nn_load_checkpoint: %s holds another kind of optimizer state", path); goto done; }
        if (!nn__meta_num(st, "optim.groups", &v)) goto done;
        if ((int)v != o->ngroups) { nn__err(ctx, "nn_load_checkpoint: %s has %d parameter groups; the optimizer has %d", path, (int)v, o->ngroups); goto done; }
        for (pi = 0, g = 0; g < o->ngroups; g++) {
            snprintf(key, sizeof key, "optim.%d.params", g);
            if (!nn__meta_num(st, key, &v)) goto done;
            if ((int)v != o->groups[g].n) { nn__err(ctx, "nn_load_checkpoint: group %d has %d parameters in %s and %d in the optimizer", g, (int)v, path, o->groups[g].n); goto done; }
            for (k = 0; k < o->groups[g].n; k++, pi++) for (s = 0; s < 3; s++) {
                const nn__st_entry *e;
                if (!nn__optim_state_names[o->kind][s]) continue;
                snprintf(key, sizeof key, "optim.state.%d.%s", pi, nn__optim_state_names[o->kind][s]);
                e = nn__st_find(st, key);
                if (e && e->end - e->begin != o->groups[g].params[k]->numel * nn__dtype_size[e->dtype]) {
                    nn__err(ctx, "nn_load_checkpoint: tensor \"%s\" in %s does not match parameter %d's shape", key, path, pi); goto done;
                }
            }
        }
    }
    if (ck->scheduler && !nn_safetensors_meta(st, "sched.kind")) { nn__err(ctx, "nn_load_checkpoint: %s has no scheduler state", path); goto done; }
    if (ck->scheduler && (!nn__meta_num(st, "sched.kind", &v) || (int)v != ck->scheduler->kind)) {
        if (nn_error(ctx) == NULL) nn__err(ctx, "nn_load_checkpoint: %s holds another kind of scheduler state", path);
        goto done;
    }
    {
        static const char *need[] = { "epoch", "loss", "rng.state_hi", "rng.state_lo", "rng.inc_hi", "rng.inc_lo", "rng.has_spare", "rng.spare" };
        for (k = 0; k < 8; k++) if (!nn__meta_num(st, need[k], &v)) goto done;
    }
    /* then apply */
    nn__apply_model(ck->model, st, "model.");
    if (ck->optim) {
        nn_optim *o = ck->optim;
        for (pi = 0, g = 0; g < o->ngroups; g++) {
            nn__group *gr = &o->groups[g];
            snprintf(key, sizeof key, "optim.%d.lr", g); nn__meta_num(st, key, &gr->lr);
            snprintf(key, sizeof key, "optim.%d.momentum", g); nn__meta_num(st, key, &gr->momentum);
            snprintf(key, sizeof key, "optim.%d.initial_lr", g); nn__meta_num(st, key, &gr->initial_lr);
            for (k = 0; k < gr->n; k++, pi++) {
                snprintf(key, sizeof key, "optim.state.%d.step", pi);
                if (nn__meta_num(st, key, &v)) gr->step[k] = (int64_t)v;
                for (s = 0; s < 3; s++) {
                    const nn__st_entry *e;
                    if (!nn__optim_state_names[o->kind][s]) continue;
                    snprintf(key, sizeof key, "optim.state.%d.%s", pi, nn__optim_state_names[o->kind][s]);
                    e = nn__st_find(st, key);
                    if (!e) { nn_free(gr->state[3 * k + s]); gr->state[3 * k + s] = NULL; continue; }
                    if (!gr->state[3 * k + s]) gr->state[3 * k + s] = nn_zeros(ctx, gr->params[k]->ndim, gr->params[k]->shape);
                    if (gr->state[3 * k + s]) nn__st_read(st, e, NN__F32(gr->state[3 * k + s]));
                }
            }
        }
    }
    if (ck->scheduler) {
        nn_scheduler *sc = ck->scheduler;
        nn__meta_num(st, "sched.last_epoch", &v); sc->last_epoch = (int64_t)v;
        nn__meta_num(st, "sched.best", &sc->best);
        nn__meta_num(st, "sched.num_bad", &v); sc->num_bad = (int64_t)v;
        nn__meta_num(st, "sched.cooldown_counter", &v); sc->cooldown_counter = (int64_t)v;
    }
    nn__meta_num(st, "epoch", &v); ck->epoch = (int64_t)v;
    nn__meta_num(st, "loss", &ck->loss);
    {
        double hi, lo;
        nn__meta_num(st, "rng.state_hi", &hi); nn__meta_num(st, "rng.state_lo", &lo); ctx->rng.state = ((uint64_t)hi << 32) | (uint64_t)lo;
        nn__meta_num(st, "rng.inc_hi", &hi); nn__meta_num(st, "rng.inc_lo", &lo); ctx->rng.inc = ((uint64_t)hi << 32) | (uint64_t)lo;
        nn__meta_num(st, "rng.has_spare", &v); ctx->rng.has_spare = (int)v;
        nn__meta_num(st, "rng.spare", &v); ctx->rng.spare = (float)v;
    }
    ok = 1;
done:
    nn_safetensors_close(st);
    return ok;
}
#endif /* NN_NO_STDIO */


