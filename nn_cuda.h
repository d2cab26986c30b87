/* nn_cuda.h - the CUDA backend of nn.h (built and tested with its kernels emulated; not yet run on a GPU:
   the notes at the end of this file say what exists and how each kernel was checked).

   In the one file nvcc compiles (a .cu file):
       #define NN_CUDA
       #define NN_IMPLEMENTATION
       #include "nn.h"
       #include "nn_cuda.h"
   nn.h alone never needs CUDA headers. Without NN_CUDA this header is empty.

   NN_CUDA_EMULATE: the same kernel source compiled by a host C or C++ compiler, with
   blockIdx/threadIdx/blockDim/gridDim emulated by loops and device memory emulated by host
   memory, so CI runs the kernel bodies on the CPU (tests/test_cuda.c, make test-cuda-emu; the same
   suite built by nvcc is make test-cuda, for a machine with a GPU). Kernels that need
   __syncthreads, shared memory or warp primitives cannot run that way; nn__cuda_kernel_list
   marks them GPU-only (none in this slice).

   What it has: a CUDA kernel, forward and backward, for every op in nn.h's registry (the CUDA
   column built from NN__OP_LIST; matmul, linear and convolution's GEMMs through cuBLAS, so link
   -lcublas), fused updates for SGD, Adam/AdamW, RMSprop and Adagrad, device tensors (a device
   step arena and a caching allocator, persistent device data, nn_to and nn_item copies,
   nn_module_to in place, gradient clipping, saving and loading), every CUDA and cuBLAS call checked
   through nn.h's error model. None of it has run on a GPU yet: the notes at the end of this file
   say how each kernel was checked.

   LICENSE: as nn.h (MIT or public domain). */
#ifndef NN_H_INCLUDED
#error "nn_cuda.h: include nn.h first (#define NN_CUDA, #define NN_IMPLEMENTATION, #include \"nn.h\", then #include \"nn_cuda.h\")"
#endif

#ifdef NN_CUDA
#ifndef NN_CUDA_H
#define NN_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif
/* GPUs this process can use: 0 and an error in ctx when there is none (or no driver). The
   emulated build reports 1, its emulated device. */
NN_API int nn_cuda_device_count(nn_ctx *ctx);
/* The caching allocator's counts for ctx: blocks the driver was asked for (cudaMalloc, or
   malloc when emulated), requests served from the free lists, and bytes held. */
typedef struct nn_cuda_mem_stats { int64_t device_mallocs, cache_hits; size_t bytes_held, bytes_cached; } nn_cuda_mem_stats;
NN_API nn_cuda_mem_stats nn_cuda_mem_stats_of(const nn_ctx *ctx);
NN_API void *nn_cuda_malloc(nn_ctx *ctx, size_t bytes);        /* device memory from the cache, or NULL and an error */
NN_API void nn_cuda_free(nn_ctx *ctx, void *ptr, size_t bytes); /* back to the cache (bytes as asked) */
#ifdef __cplusplus
}
#endif
#endif /* NN_CUDA_H */

#if defined(NN_IMPLEMENTATION) && !defined(NN_CUDA_IMPLEMENTATION_DONE)
#define NN_CUDA_IMPLEMENTATION_DONE
#ifndef NN__CUDA_HOOKS
#error "nn_cuda.h: define NN_CUDA before including nn.h, with NN_IMPLEMENTATION, in this file"
#endif

/* ==== cuda: the grid-loop shim or the CUDA runtime ==== */
#ifdef NN_CUDA_EMULATE
#ifdef __CUDACC__
#error "nn_cuda.h: NN_CUDA_EMULATE is for a host compiler (gcc, g++, clang); nvcc builds the real kernels"
#endif
typedef struct nn__dim3 { unsigned x, y, z; } nn__dim3;
/* one launch at a time per process (the emulated build is a test build) */
static nn__dim3 nn__emu_blockIdx, nn__emu_threadIdx, nn__emu_blockDim, nn__emu_gridDim;
#define blockIdx nn__emu_blockIdx
#define threadIdx nn__emu_threadIdx
#define blockDim nn__emu_blockDim
#define gridDim nn__emu_gridDim
#define __global__
#define __device__
#define __host__
/* kernel<<<grid, block>>>(args): every (block, thread) pair in turn, one call each */
/* Emulated device memory is one reserved region of host address space that host code cannot touch:
   it is readable and writable only while an emulated kernel runs or an explicit copy (the
   cudaMemcpy/cudaMemset stand-ins) is made, and PROT_NONE otherwise. So host code that reads or
   writes a device tensor's data, which would crash or read garbage on a GPU, faults in the
   emulated tests too. (Where mmap is missing, plain malloc: no guard.) */
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#define NN__EMU_GUARD 1
#define NN__EMU_POOL ((size_t)16 << 30)   /* address space reserved, not memory */
static char *nn__emu_pool;
static size_t nn__emu_used;
static void nn__emu_open(int open) {
    if (nn__emu_pool && nn__emu_used) mprotect(nn__emu_pool, nn__emu_used, open ? PROT_READ | PROT_WRITE : PROT_NONE);
}
#else
static void nn__emu_open(int open) { (void)open; }
#endif
#define NN__LAUNCH(ok, ctx, what, kernel, grid, block, ...) do { \
        unsigned nn__b_, nn__t_; \
        nn__emu_open(1); \
        nn__emu_gridDim.x = (grid); nn__emu_gridDim.y = nn__emu_gridDim.z = 1; \
        nn__emu_blockDim.x = (block); nn__emu_blockDim.y = nn__emu_blockDim.z = 1; \
        for (nn__b_ = 0; nn__b_ < nn__emu_gridDim.x; nn__b_++) for (nn__t_ = 0; nn__t_ < nn__emu_blockDim.x; nn__t_++) { \
            nn__emu_blockIdx.x = nn__b_; nn__emu_threadIdx.x = nn__t_; \
            nn__emu_blockIdx.y = nn__emu_blockIdx.z = nn__emu_threadIdx.y = nn__emu_threadIdx.z = 0; \
            kernel(__VA_ARGS__); } \
        nn__emu_open(0); \
        nn__cuda_count_launch(what); (ok) = 1; (void)(ctx); } while (0)
#define NN__CUDA_MODE "emulated on the CPU (NN_CUDA_EMULATE)"
#ifdef NN__EMU_GUARD
/* blocks are carved from the pool and never returned (the caching allocator keeps them) */
static int nn__dev_malloc(nn_ctx *ctx, void **p, size_t bytes) {
    size_t need = (bytes + 4095) & ~(size_t)4095;
    *p = NULL;
    if (!nn__emu_pool) {
        int fd = open("/dev/zero", O_RDWR);   /* (MAP_ANONYMOUS is not in strict C99's headers) */
        void *m = fd < 0 ? MAP_FAILED : mmap(NULL, NN__EMU_POOL, PROT_NONE, MAP_PRIVATE, fd, 0);
        if (fd >= 0) close(fd);
        if (m == MAP_FAILED) { nn__err(ctx, "nn_cuda: cannot reserve the emulated device's address space"); return 0; }
        nn__emu_pool = (char *)m;
    }
    if (need > NN__EMU_POOL - nn__emu_used) { nn__err(ctx, "nn_cuda: out of emulated device memory (%zu bytes)", bytes); return 0; }
    *p = nn__emu_pool + nn__emu_used;
    nn__emu_used += need;
    return 1;
}
static void nn__dev_free(void *p) { (void)p; }
#else
static int nn__dev_malloc(nn_ctx *ctx, void **p, size_t bytes) {
    *p = nn__malloc(bytes);
    if (!*p) nn__err(ctx, "nn_cuda: out of emulated device memory (%zu bytes)", bytes);
    return *p != NULL;
}
static void nn__dev_free(void *p) { nn__free(p); }
#endif
static int nn__dev_count(nn_ctx *ctx) { (void)ctx; return 1; }
static int nn__dev_memset(nn_ctx *ctx, void *p, int v, size_t bytes) { (void)ctx; nn__emu_open(1); memset(p, v, bytes); nn__emu_open(0); return 1; }
static int nn__dev_to_host(nn_ctx *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx; nn__emu_open(1); memcpy(dst, src, bytes); nn__emu_open(0); return 1;
}
static int nn__dev_from_host(nn_ctx *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx; nn__emu_open(1); memcpy(dst, src, bytes); nn__emu_open(0); return 1;
}
static int nn__dev_to_dev(nn_ctx *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx; nn__emu_open(1); memmove(dst, src, bytes); nn__emu_open(0); return 1;
}
#else
#ifndef __CUDACC__
#error "nn_cuda.h: compile this file with nvcc (as .cu), or define NN_CUDA_EMULATE to run the kernels on the CPU"
#endif
#include <cuda_runtime.h>
#include <cublas_v2.h>   /* link with -lcublas */
#include <limits.h>
/* Every CUDA call goes through here: 1, or 0 with the call, CUDA's name and text for the error. */
static int nn__cuda_check(nn_ctx *ctx, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return 1;
    nn__err(ctx, "nn_cuda: %s failed: %s (%s)", what, cudaGetErrorName(e), cudaGetErrorString(e));
    return 0;
}
#define NN__LAUNCH(ok, ctx, what, kernel, grid, block, ...) do { \
        kernel<<<(grid), (block)>>>(__VA_ARGS__); \
        nn__cuda_count_launch(what); \
        (ok) = nn__cuda_check((ctx), cudaGetLastError(), what); } while (0)
#define NN__CUDA_MODE "on the GPU"
static int nn__dev_malloc(nn_ctx *ctx, void **p, size_t bytes) { return nn__cuda_check(ctx, cudaMalloc(p, bytes), "cudaMalloc"); }
static void nn__dev_free(void *p) { (void)cudaFree(p); }
static int nn__dev_memset(nn_ctx *ctx, void *p, int v, size_t bytes) { return nn__cuda_check(ctx, cudaMemset(p, v, bytes), "cudaMemset"); }
static int nn__dev_to_host(nn_ctx *ctx, void *dst, const void *src, size_t bytes) {
    return nn__cuda_check(ctx, cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy (device to host)");
}
static int nn__dev_from_host(nn_ctx *ctx, void *dst, const void *src, size_t bytes) {
    return nn__cuda_check(ctx, cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (host to device)");
}
static int nn__dev_to_dev(nn_ctx *ctx, void *dst, const void *src, size_t bytes) {
    return nn__cuda_check(ctx, cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy (device to device)");
}
static int nn__dev_count(nn_ctx *ctx) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        nn__err(ctx, "nn_cuda: no CUDA GPU is present (cudaGetDeviceCount: %s); run on the CPU (NN_CPU) or on a machine "
                "with a GPU and its driver", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 0;
    }
    return n;
}
#endif

/* ---- the kernels this build has, and how each one can be checked ---- */
typedef struct nn__cuda_kernel_info { const char *name; int gpu_only; int64_t launches; } nn__cuda_kernel_info;
static nn__cuda_kernel_info nn__cuda_kernel_list[] = {
    { "unary_forward", 0, 0 }, { "unary_backward", 0, 0 },
    { "binary_forward", 0, 0 }, { "binary_backward_same", 0, 0 }, { "binary_backward_bcast", 0, 0 },
    { "softmax_forward", 0, 0 }, { "softmax_backward", 0, 0 },
    { "reduce_forward", 0, 0 }, { "reduce_backward", 0, 0 }, { "reduce_ties_backward", 0, 0 },
    { "copy_forward", 0, 0 }, { "add_into", 0, 0 }, { "view_backward", 0, 0 },
    { "tri_forward", 0, 0 }, { "tri_backward", 0, 0 },
    { "masked_fill_forward", 0, 0 }, { "masked_fill_backward", 0, 0 },
    { "gather_forward", 0, 0 }, { "gather_backward", 0, 0 },
    { "index_select_forward", 0, 0 }, { "index_select_backward", 0, 0 },
    { "seed_grad", 0, 0 }, { "gemm", 0, 0 }, { "bias_rows", 0, 0 }, { "col_sums", 0, 0 }, { "fill", 0, 0 },
    { "grad_norm_parts", 0, 0 }, { "scale_inplace", 0, 0 }, { "clip_inplace", 0, 0 },
    { "sgd", 0, 0 }, { "adam", 0, 0 }, { "rmsprop", 0, 0 }, { "adagrad", 0, 0 },
    { "dropout_forward", 0, 0 }, { "dropout_backward", 0, 0 },
    { "bn_stats", 0, 0 }, { "bn_forward", 0, 0 }, { "bn_backward_sums", 0, 0 }, { "bn_backward_dx", 0, 0 },
    { "ln_stats", 0, 0 }, { "ln_forward", 0, 0 }, { "ln_backward_sums", 0, 0 }, { "ln_backward_dx", 0, 0 }, { "ln_backward_wb", 0, 0 },
    { "nll_rows", 0, 0 }, { "nll_reduce", 0, 0 }, { "nll_backward", 0, 0 },
    { "bce_logits_forward", 0, 0 }, { "bce_logits_backward", 0, 0 }, { "bce_forward", 0, 0 }, { "bce_backward", 0, 0 },
    { "huber_forward", 0, 0 }, { "huber_backward", 0, 0 },
    { "im2col", 0, 0 }, { "col2im", 0, 0 }, { "conv_bias", 0, 0 }, { "conv_bias_backward", 0, 0 },
    { "maxpool_forward", 0, 0 }, { "maxpool_backward", 0, 0 }, { "avgpool_forward", 0, 0 }, { "avgpool_backward", 0, 0 },
    { "cat_forward", 0, 0 }, { "cat_backward", 0, 0 }, { "one_hot", 0, 0 }, { "to_dtype", 0, 0 }, { "topk", 0, 0 },
};
#define NN__CUDA_NKERNELS ((int)(sizeof nn__cuda_kernel_list / sizeof nn__cuda_kernel_list[0]))
static void nn__cuda_count_launch(const char *name) {
    int i;
    for (i = 0; i < NN__CUDA_NKERNELS; i++) if (!strcmp(nn__cuda_kernel_list[i].name, name)) nn__cuda_kernel_list[i].launches++;
}

/* ---- the caching allocator: free lists by power-of-two size class, per context ---- */
#define NN__CUDA_CLASSES 48
typedef struct nn__cuda_ablock { char *p; size_t cap, used; } nn__cuda_ablock;
typedef struct nn__cuda_state {
    void **free_list[NN__CUDA_CLASSES];
    int nfree[NN__CUDA_CLASSES], cap[NN__CUDA_CLASSES];
    nn_cuda_mem_stats stats;
    /* the device step arena: blocks from the cache, bump-allocated, emptied by nn_arena_reset;
       a step that needed more than one block gets one block of their total at the reset */
    nn__cuda_ablock *blocks;
    size_t nblocks, cblocks, cur, min_block;
#ifndef NN_CUDA_EMULATE
    void *cublas;                /* the cuBLAS handle, made on the first matmul */
#endif
} nn__cuda_state;
static void nn__cuda_blas_free(nn__cuda_state *s);

static int nn__cuda_class(size_t bytes) {   /* smallest c with 256 << c >= bytes */
    int c = 0;
    while (c < NN__CUDA_CLASSES - 1 && ((size_t)256 << c) < bytes) c++;
    return c;
}
static nn__cuda_state *nn__cuda_state_of(nn_ctx *ctx) {
    if (!ctx->cuda) {
        ctx->cuda = nn__malloc(sizeof(nn__cuda_state));
        if (!ctx->cuda) { nn__err(ctx, "nn_cuda: out of memory for the allocator's state"); return NULL; }
        memset(ctx->cuda, 0, sizeof(nn__cuda_state));
    }
    return NN__CAST(nn__cuda_state *, ctx->cuda);
}
NN_API void *nn_cuda_malloc(nn_ctx *ctx, size_t bytes) {
    nn__cuda_state *s;
    int c;
    void *p = NULL;
    if (!ctx) return NULL;
    if (!(s = nn__cuda_state_of(ctx))) return NULL;
    c = nn__cuda_class(bytes);
    if (((size_t)256 << c) < bytes) { nn__err(ctx, "nn_cuda_malloc: %zu bytes is more than the largest size class", bytes); return NULL; }
    if (s->nfree[c] > 0) {
        p = s->free_list[c][--s->nfree[c]];
        s->stats.cache_hits++;
        s->stats.bytes_cached -= (size_t)256 << c;
    } else {
        if (!nn__dev_malloc(ctx, &p, (size_t)256 << c)) return NULL;
        s->stats.device_mallocs++;
    }
    s->stats.bytes_held += (size_t)256 << c;
    return p;
}
NN_API void nn_cuda_free(nn_ctx *ctx, void *ptr, size_t bytes) {
    nn__cuda_state *s;
    int c;
    if (!ctx || !ptr || !(s = nn__cuda_state_of(ctx))) return;
    c = nn__cuda_class(bytes);
    if (s->nfree[c] == s->cap[c]) {
        int cap = s->cap[c] ? 2 * s->cap[c] : 16;
        void **list = NN__CAST(void **, nn__realloc(s->free_list[c], (size_t)cap * sizeof(void *)));
        if (!list) { nn__dev_free(ptr); s->stats.bytes_held -= (size_t)256 << c; return; }   /* not cached: given back */
        s->free_list[c] = list; s->cap[c] = cap;
    }
    s->free_list[c][s->nfree[c]++] = ptr;
    s->stats.bytes_held -= (size_t)256 << c;
    s->stats.bytes_cached += (size_t)256 << c;
}
NN_API nn_cuda_mem_stats nn_cuda_mem_stats_of(const nn_ctx *ctx) {
    nn_cuda_mem_stats z;
    memset(&z, 0, sizeof z);
    return ctx && ctx->cuda ? NN__CAST(const nn__cuda_state *, ctx->cuda)->stats : z;
}
static void nn__cuda_ctx_free(nn_ctx *ctx) {
    nn__cuda_state *s = NN__CAST(nn__cuda_state *, ctx->cuda);
    int c, i;
    if (!s) return;
    nn__cuda_blas_free(s);
    for (i = 0; i < (int)s->nblocks; i++) nn__dev_free(s->blocks[i].p);
    nn__free(s->blocks);
    for (c = 0; c < NN__CUDA_CLASSES; c++) {
        for (i = 0; i < s->nfree[c]; i++) nn__dev_free(s->free_list[c][i]);
        nn__free(s->free_list[c]);
    }
    nn__free(s);
    ctx->cuda = NULL;
}
NN_API int nn_cuda_device_count(nn_ctx *ctx) { return nn__dev_count(ctx); }

/* ---- the device step arena and the rest of nn.h's device-memory hooks ---- */
static void *nn__cuda_arena_alloc(nn_ctx *ctx, size_t bytes) {
    nn__cuda_state *s = nn__cuda_state_of(ctx);
    size_t need = (bytes + 255) & ~(size_t)255, cap;
    nn__cuda_ablock *b;
    if (!s || need < bytes) return NULL;
    for (; s->cur < s->nblocks; s->cur++) {
        b = &s->blocks[s->cur];
        if (b->used + need <= b->cap) { b->used += need; return b->p + b->used - need; }
        if (b->used) continue;   /* an empty block too small: a bigger one goes after it */
        break;
    }
    if (s->nblocks == s->cblocks) {
        size_t nc = s->cblocks ? 2 * s->cblocks : 8;
        nn__cuda_ablock *nb = NN__CAST(nn__cuda_ablock *, nn__realloc(s->blocks, nc * sizeof *nb));
        if (!nb) { nn__err(ctx, "nn_cuda: out of host memory for the device arena's list"); return NULL; }
        s->blocks = nb; s->cblocks = nc;
    }
    cap = s->min_block ? s->min_block : ((size_t)1 << 20);
    if (s->nblocks && cap < 2 * s->blocks[s->nblocks - 1].cap) cap = 2 * s->blocks[s->nblocks - 1].cap;
    if (cap < need) cap = need;
    cap = (size_t)256 << nn__cuda_class(cap);   /* the whole size class */
    b = &s->blocks[s->nblocks];
    if (!(b->p = NN__CAST(char *, nn_cuda_malloc(ctx, cap)))) return NULL;
    b->cap = cap; b->used = need;
    s->cur = s->nblocks++;
    return b->p;
}
static void nn__cuda_arena_reset(nn_ctx *ctx) {
    nn__cuda_state *s = NN__CAST(nn__cuda_state *, ctx->cuda);
    size_t i, total = 0;
    if (!s) return;
    if (s->nblocks > 1) {   /* one block of the total from now on: back to the cache, then the next alloc takes it */
        for (i = 0; i < s->nblocks; i++) { total += s->blocks[i].cap; nn_cuda_free(ctx, s->blocks[i].p, s->blocks[i].cap); }
        s->nblocks = 0;
        s->min_block = total;
    }
    for (i = 0; i < s->nblocks; i++) s->blocks[i].used = 0;
    s->cur = 0;
}
static void nn__cuda_arena_mark(nn_ctx *ctx, size_t *block, size_t *used) {
    nn__cuda_state *s = NN__CAST(nn__cuda_state *, ctx->cuda);
    *block = s ? s->cur : 0;
    *used = s && s->cur < s->nblocks ? s->blocks[s->cur].used : 0;
}
static void nn__cuda_arena_rewind(nn_ctx *ctx, size_t block, size_t used) {
    nn__cuda_state *s = NN__CAST(nn__cuda_state *, ctx->cuda);
    size_t i;
    if (!s) return;
    for (i = block + 1; i < s->nblocks; i++) s->blocks[i].used = 0;
    if (block < s->nblocks) s->blocks[block].used = used;
    s->cur = block;
}
/* device memory a kernel needs beyond its outputs (saved statistics, masks, partial sums): valid
   until nn_arena_reset, or NULL with an error */
static void *nn__cuda_scratch(nn_ctx *ctx, size_t bytes) {
    void *p = nn__cuda_arena_alloc(ctx, bytes ? bytes : 1);
    if (!p && !ctx->has_error) nn__err(ctx, "nn_cuda: out of device memory for %zu bytes of scratch", bytes);
    return p;
}
static void *nn__cuda_data_alloc(nn_ctx *ctx, size_t bytes) { return nn_cuda_malloc(ctx, bytes); }
static void nn__cuda_data_free(nn_ctx *ctx, void *p, size_t bytes) {
    if (ctx->freed || !ctx->cuda) { nn__dev_free(p); return; }   /* a tensor outliving nn_ctx_free */
    nn_cuda_free(ctx, p, bytes);
}
static int nn__cuda_zero(nn_ctx *ctx, void *p, size_t bytes) { return !bytes || nn__dev_memset(ctx, p, 0, bytes); }
static int nn__cuda_read(nn_ctx *ctx, void *host, const void *dev, size_t bytes) { return nn__dev_to_host(ctx, host, dev, bytes); }
static int nn__cuda_write(nn_ctx *ctx, void *dev, const void *host, size_t bytes) { return !bytes || nn__dev_from_host(ctx, dev, host, bytes); }

/* ---- kernels: grid-stride loops over elements; per-element math from nn.h's section math ---- */
#define NN__BLOCK 256u
static unsigned nn__grid(int64_t n) {
    int64_t g = (n + NN__BLOCK - 1) / NN__BLOCK;
    return (unsigned)(g < 1 ? 1 : (g > 1024 ? 1024 : g));
}
#define NN__FOR_EACH(i, n) for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

static __global__ void nn__k_unary_forward(int64_t n, int op, const float *x, float *o, float s, float t) {   /* (n) */
    NN__FOR_EACH(i, n) o[i] = nn__unary_f(op, x[i], s, t);
}
static __global__ void nn__k_unary_backward(int64_t n, int op, const float *g, const float *x, const float *o, float *d,
                                            float s, float t) {   /* (n) each */
    NN__FOR_EACH(i, n) {
        float v;
        if (nn__unary_b(op, g[i], x[i], o[i], s, t, &v)) d[i] += v;
    }
}

/* element i of the (merged) output shape -> the offset of each input (nn__bcast_plan's strides) */
static NN_HD inline void nn__bcast_offsets(const nn__bcast *p, int64_t i, int64_t *off) {
    int d;
    off[0] = off[1] = off[2] = 0;
    for (d = p->nd - 1; d >= 0; d--) {
        int64_t q = i % p->shape[d];
        i /= p->shape[d];
        off[0] += q * p->st[0][d]; off[1] += q * p->st[1][d]; off[2] += q * p->st[2][d];
    }
}
static __global__ void nn__k_binary_forward(nn__bcast p, int64_t n, int op, const float *a, const float *b, const float *c,
                                            float *o) {   /* o (n) contiguous; a, b, c broadcast by p */
    NN__FOR_EACH(i, n) {
        int64_t off[3];
        nn__bcast_offsets(&p, i, off);
        o[i] = nn__binary_f(op, a[off[0]], b[off[1]], c ? c[off[2]] : 0.0f);
    }
}
/* input k has as many elements as the output: one thread per output element */
static __global__ void nn__k_binary_backward_same(nn__bcast p, int64_t n, int op, int k, const float *g, const float *o,
                                                  const float *u, const float *v, const float *w, float *gk) {
    NN__FOR_EACH(i, n) {
        int64_t off[3];
        nn__bcast_offsets(&p, i, off);
        gk[off[k]] += nn__binary_dval(op, k, g[i], u[off[0]], v[off[1]], w ? w[off[2]] : 0.0f, o[i]);
    }
}
/* input k is broadcast: one thread per element j of it, summing (in double, in the output's order,
   as the CPU does) over the output elements that read it; no shared memory, no atomics */
static __global__ void nn__k_binary_backward_bcast(nn__bcast p, int64_t nk, int64_t reps, int op, int k, const float *g,
                                                   const float *o, const float *u, const float *v, const float *w, float *gk) {
    NN__FOR_EACH(j, nk) {
        int64_t kept[NN_MAX_DIMS], r, off[3];
        double acc = 0;
        int d;
        for (d = 0; d < p.nd; d++) kept[d] = p.st[k][d] ? (j / p.st[k][d]) % p.shape[d] : 0;
        for (r = 0; r < reps; r++) {   /* r walks the broadcast dims in row-major order */
            int64_t rem = r, i = 0, mul = 1;
            for (d = p.nd - 1; d >= 0; d--) {
                int64_t q;
                if (p.st[k][d]) q = kept[d];
                else { q = rem % p.shape[d]; rem /= p.shape[d]; }
                i += q * mul;
                mul *= p.shape[d];
            }
            nn__bcast_offsets(&p, i, off);
            acc += nn__binary_dval(op, k, g[i], u[off[0]], v[off[1]], w ? w[off[2]] : 0.0f, o[i]);
        }
        gk[j] += (float)acc;
    }
}
/* along one dim, x (outer, D, inner): one thread per (outer, inner) row, running nn.h's row rule
   (nn__softmax_row_f/_b, nn__reduce_row_f/_b: the CPU loops call the same functions) */
static __global__ void nn__k_softmax_forward(int64_t O, int64_t D, int64_t I, int logsm, const float *x, float *y) {
    NN__FOR_EACH(q, O * I) {
        int64_t base = (q / I) * D * I + q % I;
        nn__softmax_row_f(logsm, x + base, y + base, D, I);
    }
}
static __global__ void nn__k_softmax_backward(int64_t O, int64_t D, int64_t I, int logsm, const float *y, const float *g,
                                              float *dx) {
    NN__FOR_EACH(q, O * I) {
        int64_t base = (q / I) * D * I + q % I;
        nn__softmax_row_b(logsm, y + base, g + base, dx + base, D, I);
    }
}
static __global__ void nn__k_reduce_forward(int64_t O, int64_t D, int64_t I, int op, int64_t corr, const float *x, float *y,
                                            int64_t *arg) {   /* y, arg (outer, inner); arg NULL but for max/min */
    NN__FOR_EACH(q, O * I) {
        int64_t best = 0;
        y[q] = nn__reduce_row_f(op, x + (q / I) * D * I + q % I, D, I, corr, &best);
        if (arg) arg[q] = best;
    }
}
static __global__ void nn__k_reduce_backward(int64_t O, int64_t D, int64_t I, int op, int64_t corr, const float *x,
                                             const float *y, const float *g, const int64_t *arg, float *dx) {
    NN__FOR_EACH(q, O * I) {
        int64_t base = (q / I) * D * I + q % I;
        nn__reduce_row_b(op, x + base, dx + base, D, I, corr, g[q], y[q], arg ? arg[q] : 0);
    }
}
/* max()/min() over every element: the gradient is shared by the tied elements. One thread walks
   all n (a serial pass, as the CPU's; deterministic; slow for large n, but only a scalar's backward) */
static __global__ void nn__k_reduce_ties_backward(int64_t n, const float *x, const float *y, const float *g, float *dx) {
    NN__FOR_EACH(q, 1) {
        float v = y[0], gv = g[0];
        int64_t i, ties = 0;
        int isnan_v = v != v;
        for (i = 0; i < n; i++) ties += isnan_v ? x[i] != x[i] : x[i] == v;
        for (i = 0; i < n; i++) if (isnan_v ? x[i] != x[i] : x[i] == v) dx[i] += gv / (float)ties;
    }
}

/* a tensor's geometry passed by value: element i (row-major over shape) is at sum q_d * st[d] */
typedef struct nn__geom { int nd; int64_t shape[NN_MAX_DIMS], st[NN_MAX_DIMS]; } nn__geom;
static NN_HD inline int64_t nn__geom_offset(const nn__geom *g, int64_t i) {
    int64_t off = 0;
    int d;
    for (d = g->nd - 1; d >= 0; d--) { off += (i % g->shape[d]) * g->st[d]; i /= g->shape[d]; }
    return off;
}
static nn__geom nn__geom_of(int nd, const int64_t *shape, const int64_t *st) {
    nn__geom g;
    int d;
    memset(&g, 0, sizeof g);
    g.nd = nd;
    for (d = 0; d < nd; d++) { g.shape[d] = shape[d]; g.st[d] = st[d]; }
    return g;
}
/* copy (contiguous, clone): y contiguous = x read through its strides, any dtype (es bytes an element) */
static __global__ void nn__k_copy_forward(nn__geom gx, int64_t n, int es, const char *x, char *y) {
    NN__FOR_EACH(i, n) {
        const char *s = x + (size_t)nn__geom_offset(&gx, i) * (size_t)es;
        char *d = y + (size_t)i * (size_t)es;
        int b;
        for (b = 0; b < es; b++) d[b] = s[b];
    }
}
static __global__ void nn__k_add_into(int64_t n, const float *g, float *dx) {   /* copy's backward: dx += g */
    NN__FOR_EACH(i, n) dx[i] += g[i];
}
/* nn_backward's seed: t.grad += grad read through its strides, or += 1 for an implied gradient */
static __global__ void nn__k_seed_grad(nn__geom gs, int64_t n, const float *src, float *g) {
    NN__FOR_EACH(i, n) g[i] += src ? src[nn__geom_offset(&gs, i)] : 1.0f;
}
/* a view's backward: element i of the view sits at gv's offset in x's (contiguous) gradient. A view
   maps its elements to distinct elements of x, so threads never add to the same place. */
static __global__ void nn__k_view_backward(nn__geom gv, int64_t n, const float *g, float *dx) {
    NN__FOR_EACH(i, n) dx[nn__geom_offset(&gv, i)] += g[i];
}
/* tril/triu: x, y (B, R, C); keep c - r <= k (tril) or >= k (triu) */
static __global__ void nn__k_tri_forward(int64_t n, int64_t R, int64_t C, int lower, int64_t k, int i64, const void *x, void *y,
                                         float fill) {
    NN__FOR_EACH(i, n) {
        int64_t r = (i / C) % R, c = i % C;
        int keep = lower ? c - r <= k : c - r >= k;
        if (i64) ((int64_t *)y)[i] = keep ? ((const int64_t *)x)[i] : 0;
        else ((float *)y)[i] = keep ? ((const float *)x)[i] : fill;
    }
}
static __global__ void nn__k_tri_backward(int64_t n, int64_t R, int64_t C, int lower, int64_t k, const float *g, float *dx) {
    NN__FOR_EACH(i, n) {
        int64_t r = (i / C) % R, c = i % C;
        if (lower ? c - r <= k : c - r >= k) dx[i] += g[i];
    }
}
/* masked_fill: the mask (int64) broadcast to y by gm's strides; inv: fill where the mask is 0 */
static __global__ void nn__k_masked_fill_forward(nn__geom gm, int64_t n, int inv, const int64_t *m, const float *x, float *y,
                                                 float v) {
    NN__FOR_EACH(i, n) y[i] = (m[nn__geom_offset(&gm, i)] != 0) != (inv != 0) ? v : x[i];
}
static __global__ void nn__k_masked_fill_backward(nn__geom gm, int64_t n, int inv, const int64_t *m, const float *g, float *dx) {
    NN__FOR_EACH(i, n) if ((m[nn__geom_offset(&gm, i)] != 0) == (inv != 0)) dx[i] += g[i];
}

/* gather and index_select. An index out of range sets bad[0] = 1 and bad[1] = the index (any one of
   them when several are bad); the host reads the two back and reports through nn__err. */
static __global__ void nn__k_gather_forward(nn__geom gi, int64_t n, int d, int64_t size, nn__geom gx, const int64_t *ix,
                                            const float *x, float *y, int64_t *bad) {   /* gi: index's shape, gx.st: x's strides */
    NN__FOR_EACH(i, n) {
        int64_t at = ix[i], p = 0, rem = i, j;
        int k;
        if (at < 0 || at >= size) { bad[0] = 1; bad[1] = at; y[i] = 0.0f; continue; }
        for (k = gi.nd - 1; k >= 0; k--) {
            j = rem % gi.shape[k]; rem /= gi.shape[k];
            p += (k == d ? at : j) * gx.st[k];
        }
        y[i] = x[p];
    }
}
/* one thread per element of x's gradient: the outputs that read it are those with its coordinates
   off dim d and an index equal to its coordinate on d; they are added in the CPU's order (no atomics) */
static __global__ void nn__k_gather_backward(nn__geom gx, nn__geom gi, int64_t nx, int d, const int64_t *ix, const float *g,
                                             float *dx) {   /* gx: x's shape, gi: index's shape (st: contiguous strides) */
    NN__FOR_EACH(e, nx) {
        int64_t c[NN_MAX_DIMS], rem = e, base = 0, t;
        int k, inside = 1;
        for (k = gx.nd - 1; k >= 0; k--) { c[k] = rem % gx.shape[k]; rem /= gx.shape[k]; }
        for (k = 0; k < gx.nd; k++) {
            if (k != d && c[k] >= gi.shape[k]) inside = 0;
            else if (k != d) base += c[k] * gi.st[k];
        }
        if (!inside) continue;
        if (gx.nd == 0) { if (ix[0] == 0) dx[e] += g[0]; continue; }
        for (t = 0; t < gi.shape[d]; t++) {
            int64_t i = base + t * gi.st[d];
            if (ix[i] == c[d]) dx[e] += g[i];
        }
    }
}
/* index_select: y (outer, n, inner) = x (outer, D, inner)[:, index, :] */
static __global__ void nn__k_index_select_forward(int64_t O, int64_t D, int64_t I, int64_t n, const int64_t *ix, const float *x,
                                                  float *y, int64_t *bad) {
    NN__FOR_EACH(q, O * n * I) {
        int64_t o = q / (n * I), r = (q / I) % n, i = q % I, row = ix[r];
        if (row < 0 || row >= D) { bad[0] = 1; bad[1] = row; y[q] = 0.0f; continue; }
        y[q] = x[(o * D + row) * I + i];
    }
}
/* one thread per element of x's gradient, summing the rows that selected it in index order */
static __global__ void nn__k_index_select_backward(int64_t O, int64_t D, int64_t I, int64_t n, const int64_t *ix, const float *g,
                                                   float *dx) {
    NN__FOR_EACH(e, O * D * I) {
        int64_t o = e / (D * I), row = (e / I) % D, i = e % I, r;
        for (r = 0; r < n; r++) if (ix[r] == row) dx[e] += g[(o * n + r) * I + i];
    }
}

/* ---- GEMM: cuBLAS on a GPU; a plain kernel (one thread per element of C) when emulated ----
   Row-major, batched: C[b] (M, N) = alpha op(A[b]) op(B[b]) + beta C[b], where op(A) is A (M, K)
   with row stride lda, or, with ta, A stored (K, M) and transposed; likewise B (K, N) or (N, K)
   with tb. sa, sb, sc: the elements between batches (0 repeats a matrix). beta 0 does not read C. */
static __global__ void nn__k_gemm(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                                  int64_t sa, int ta, const float *B, int64_t ldb, int64_t sb, int tb, float beta, float *C,
                                  int64_t ldc, int64_t sc) {
    NN__FOR_EACH(q, batch * M * N) {
        int64_t b = q / (M * N), i = (q / N) % M, j = q % N, k;
        const float *a = A + b * sa, *bb = B + b * sb;
        float acc = 0.0f, *c = C + b * sc + i * ldc + j;
        for (k = 0; k < K; k++) acc += (ta ? a[k * lda + i] : a[i * lda + k]) * (tb ? bb[j * ldb + k] : bb[k * ldb + j]);
        *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
    }
}
#ifdef NN_CUDA_EMULATE
static void nn__cuda_blas_free(nn__cuda_state *s) { (void)s; }
static int nn__cuda_gemm(nn_ctx *ctx, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                         int64_t sa, int ta, const float *B, int64_t ldb, int64_t sb, int tb, float beta, float *C, int64_t ldc,
                         int64_t sc) {
    int ok;
    if (batch <= 0 || M <= 0 || N <= 0) return 1;
    NN__LAUNCH(ok, ctx, "gemm", nn__k_gemm, nn__grid(batch * M * N), NN__BLOCK, batch, M, N, K, alpha, A, lda, sa, ta, B, ldb, sb,
               tb, beta, C, ldc, sc);
    return ok;
}
#else
static void nn__cuda_blas_free(nn__cuda_state *s) {
    if (s->cublas) (void)cublasDestroy(NN__CAST(cublasHandle_t, s->cublas));
    s->cublas = NULL;
}
static int nn__cublas_check(nn_ctx *ctx, cublasStatus_t e, const char *what) {
    if (e == CUBLAS_STATUS_SUCCESS) return 1;
    nn__err(ctx, "nn_cuda: %s failed: %s (%s)", what, cublasGetStatusName(e), cublasGetStatusString(e));
    return 0;
}
/* C row-major = op(A) op(B) is, read column-major, C^T = op(B)^T op(A)^T: cuBLAS gets B first */
static int nn__cuda_gemm(nn_ctx *ctx, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                         int64_t sa, int ta, const float *B, int64_t ldb, int64_t sb, int tb, float beta, float *C, int64_t ldc,
                         int64_t sc) {
    nn__cuda_state *s = nn__cuda_state_of(ctx);
    cublasHandle_t h;
    if (batch <= 0 || M <= 0 || N <= 0) return 1;
    if (!s) return 0;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX || batch > INT_MAX) {
        nn__err(ctx, "nn_cuda: a matrix of %lld x %lld x %lld is more than cuBLAS's 32-bit sizes", (long long)M, (long long)N, (long long)K);
        return 0;
    }
    if (!s->cublas) {
        if (!nn__cublas_check(ctx, cublasCreate(&h), "cublasCreate")) return 0;
        s->cublas = (void *)h;
    }
    h = NN__CAST(cublasHandle_t, s->cublas);
    if (K == 0) {   /* cuBLAS leaves C alone when k is 0; PyTorch's result is beta C (0 for beta 0) */
        if (beta == 0.0f) {
            int64_t b;
            for (b = 0; b < batch; b++)
                if (!nn__cuda_check(ctx, cudaMemset2D(C + b * sc, (size_t)ldc * sizeof(float), 0, (size_t)N * sizeof(float), (size_t)M),
                                    "cudaMemset2D")) return 0;
            return 1;
        }
    }
    nn__cuda_count_launch("gemm");   /* the GEMMs cuBLAS runs, counted under the emulated kernel's name */
    return nn__cublas_check(ctx, cublasSgemmStridedBatched(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                           (int)N, (int)M, (int)K, &alpha, B, (int)ldb, sb, A, (int)lda, sa, &beta,
                                                           C, (int)ldc, sc, (int)batch), "cublasSgemmStridedBatched");
}
#endif

/* ---- the registry's CUDA column: host functions that launch the kernels ---- */
static int nn__cuda_unary_forward(nn_tensor *y) {
    int ok;
    NN__LAUNCH(ok, y->ctx, "unary_forward", nn__k_unary_forward, nn__grid(y->numel), NN__BLOCK, y->numel, y->op,
               NN__F32(y->src[0]), NN__F32(y), y->fp[0], y->fp[1]);
    return ok;
}
static int nn__cuda_unary_backward(nn_tensor *y) {
    float *d = nn__gbuf(y->src[0]);
    int ok;
    if (!d) return 1;
    NN__LAUNCH(ok, y->ctx, "unary_backward", nn__k_unary_backward, nn__grid(y->numel), NN__BLOCK, y->numel, y->op,
               NN__F32(y->grad), NN__F32(y->src[0]), NN__F32(y), d, y->fp[0], y->fp[1]);
    return ok;
}
static int nn__cuda_binary_forward(nn_tensor *y) {
    nn__bcast p;
    int ternary = y->op == NN_OP_WHERE, ok;
    nn_tensor *xs[3];
    xs[0] = y->src[0]; xs[1] = y->src[1]; xs[2] = ternary ? y->src[2] : NULL;
    nn__bcast_plan(&p, y, xs, ternary ? 3 : 2);
    NN__LAUNCH(ok, y->ctx, "binary_forward", nn__k_binary_forward, nn__grid(y->numel), NN__BLOCK, p, y->numel, y->op,
               NN__F32(xs[0]), NN__F32(xs[1]), ternary ? NN__F32(xs[2]) : (const float *)NULL, NN__F32(y));
    return ok;
}
static int nn__cuda_binary_backward(nn_tensor *y) {
    nn__bcast p;
    int ternary = y->op == NN_OP_WHERE, n = ternary ? 3 : 2, k, ok = 1;
    nn_tensor *xs[3];
    const float *w;
    xs[0] = y->src[0]; xs[1] = y->src[1]; xs[2] = ternary ? y->src[2] : NULL;
    w = ternary ? NN__F32(xs[2]) : (const float *)NULL;
    nn__bcast_plan(&p, y, xs, n);
    for (k = ternary ? 1 : 0; k < n && ok; k++) {
        float *gk = nn__gbuf(xs[k]);
        if (!gk) continue;
        if (xs[k]->numel < y->numel)
            NN__LAUNCH(ok, y->ctx, "binary_backward_bcast", nn__k_binary_backward_bcast, nn__grid(xs[k]->numel), NN__BLOCK, p,
                       xs[k]->numel, y->numel / xs[k]->numel, y->op, k, NN__F32(y->grad), NN__F32(y), NN__F32(xs[0]),
                       NN__F32(xs[1]), w, gk);
        else
            NN__LAUNCH(ok, y->ctx, "binary_backward_same", nn__k_binary_backward_same, nn__grid(y->numel), NN__BLOCK, p,
                       y->numel, y->op, k, NN__F32(y->grad), NN__F32(y), NN__F32(xs[0]), NN__F32(xs[1]), w, gk);
    }
    return ok;
}
static int nn__cuda_softmax_forward(nn_tensor *y) {
    int ok;
    NN__LAUNCH(ok, y->ctx, "softmax_forward", nn__k_softmax_forward, nn__grid(y->ip[0] * y->ip[2]), NN__BLOCK, y->ip[0], y->ip[1],
               y->ip[2], y->op == NN_OP_LOG_SOFTMAX, NN__F32(y->src[0]), NN__F32(y));
    return ok;
}
static int nn__cuda_softmax_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx) return 1;
    NN__LAUNCH(ok, y->ctx, "softmax_backward", nn__k_softmax_backward, nn__grid(y->ip[0] * y->ip[2]), NN__BLOCK, y->ip[0], y->ip[1],
               y->ip[2], y->op == NN_OP_LOG_SOFTMAX, NN__F32(y), NN__F32(y->grad), dx);
    return ok;
}
static int nn__cuda_reduce_forward(nn_tensor *y) {
    int ok;
    NN__LAUNCH(ok, y->ctx, "reduce_forward", nn__k_reduce_forward, nn__grid(y->ip[0] * y->ip[2]), NN__BLOCK, y->ip[0], y->ip[1],
               y->ip[2], y->op, y->ip[3], NN__F32(y->src[0]), NN__F32(y), y->out2 ? NN__I64(y->out2) : (int64_t *)NULL);
    return ok;
}
static int nn__cuda_reduce_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx) return 1;
    if ((y->op == NN_OP_MAX || y->op == NN_OP_MIN) && y->ip[4]) {
        NN__LAUNCH(ok, y->ctx, "reduce_ties_backward", nn__k_reduce_ties_backward, 1u, 1u, y->src[0]->numel, NN__F32(y->src[0]),
                   NN__F32(y), NN__F32(y->grad), dx);
        return ok;
    }
    NN__LAUNCH(ok, y->ctx, "reduce_backward", nn__k_reduce_backward, nn__grid(y->ip[0] * y->ip[2]), NN__BLOCK, y->ip[0], y->ip[1],
               y->ip[2], y->op, y->ip[3], NN__F32(y->src[0]), NN__F32(y), NN__F32(y->grad),
               y->out2 ? NN__I64(y->out2) : (const int64_t *)NULL, dx);
    return ok;
}
static int nn__cuda_copy_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    int ok;
    NN__LAUNCH(ok, y->ctx, "copy_forward", nn__k_copy_forward, nn__grid(y->numel), NN__BLOCK,
               nn__geom_of(x->ndim, x->shape, x->stride), y->numel, (int)nn_dtype_size(x->dtype),
               NN__CAST(const char *, x->data), NN__CAST(char *, y->data));
    return ok;
}
static int nn__cuda_copy_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx) return 1;
    NN__LAUNCH(ok, y->ctx, "add_into", nn__k_add_into, nn__grid(y->numel), NN__BLOCK, y->numel, NN__F32(y->grad), dx);
    return ok;
}
#define nn__cuda_view_forward nn__view_forward   /* geometry only: no data is read */
static int nn__cuda_view_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx) return 1;   /* ip[0..nd): the view's strides in x's contiguous layout; ip[NN_MAX_DIMS]: its offset */
    NN__LAUNCH(ok, y->ctx, "view_backward", nn__k_view_backward, nn__grid(y->numel), NN__BLOCK,
               nn__geom_of(y->ndim, y->shape, y->ip), y->numel, NN__F32(y->grad), dx + y->ip[NN_MAX_DIMS]);
    return ok;
}
static int nn__cuda_tri_forward(nn_tensor *y) {
    int64_t R = y->shape[y->ndim - 2], C = y->shape[y->ndim - 1];
    int ok;
    if (!y->numel) return 1;
    NN__LAUNCH(ok, y->ctx, "tri_forward", nn__k_tri_forward, nn__grid(y->numel), NN__BLOCK, y->numel, R, C, y->op == NN_OP_TRIL,
               y->ip[0], y->dtype == NN_INT64, NN__CAST(const void *, y->src[0]->data), NN__CAST(void *, y->data), y->fp[0]);
    return ok;
}
static int nn__cuda_tri_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx || !y->numel) return 1;
    NN__LAUNCH(ok, y->ctx, "tri_backward", nn__k_tri_backward, nn__grid(y->numel), NN__BLOCK, y->numel, y->shape[y->ndim - 2],
               y->shape[y->ndim - 1], y->op == NN_OP_TRIL, y->ip[0], NN__F32(y->grad), dx);
    return ok;
}
static int nn__cuda_masked_fill_forward(nn_tensor *y) {   /* ip[0..nd): the mask's broadcast strides; ip[NN_MAX_DIMS]: invert */
    int ok;
    NN__LAUNCH(ok, y->ctx, "masked_fill_forward", nn__k_masked_fill_forward, nn__grid(y->numel), NN__BLOCK,
               nn__geom_of(y->ndim, y->shape, y->ip), y->numel, y->ip[NN_MAX_DIMS] != 0, NN__I64(y->src[1]), NN__F32(y->src[0]),
               NN__F32(y), y->fp[0]);
    return ok;
}
static int nn__cuda_masked_fill_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx) return 1;
    NN__LAUNCH(ok, y->ctx, "masked_fill_backward", nn__k_masked_fill_backward, nn__grid(y->numel), NN__BLOCK,
               nn__geom_of(y->ndim, y->shape, y->ip), y->numel, y->ip[NN_MAX_DIMS] != 0, NN__I64(y->src[1]), NN__F32(y->grad), dx);
    return ok;
}

/* the bad-index flag of gather/index_select: a device pair, zeroed before and read back after */
static int64_t *nn__cuda_flag_new(nn_ctx *ctx) {
    int64_t *bad = NN__CAST(int64_t *, nn_cuda_malloc(ctx, 2 * sizeof(int64_t)));
    if (bad && !nn__dev_memset(ctx, bad, 0, 2 * sizeof(int64_t))) { nn_cuda_free(ctx, bad, 2 * sizeof(int64_t)); return NULL; }
    return bad;
}
static int nn__cuda_flag_check(nn_tensor *y, int64_t *bad, int launched, int64_t size) {
    int64_t h[2] = { 0, 0 };
    int ok = launched && nn__dev_to_host(y->ctx, h, bad, sizeof h);
    nn_cuda_free(y->ctx, bad, 2 * sizeof(int64_t));
    if (ok && h[0]) {
        nn__err(y->ctx, "nn_%s: index %lld is out of range for a dim of size %lld", nn_op_name(y->op), (long long)h[1], (long long)size);
        return 0;
    }
    return ok;
}
static int nn__cuda_gather_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *index = y->src[1];
    int64_t *bad, xst[NN_MAX_DIMS], size = x->ndim ? x->shape[y->ip[0]] : 1;
    int ok;
    if (!(bad = nn__cuda_flag_new(y->ctx))) return 0;
    nn__contig_strides(x->ndim, x->shape, xst);
    NN__LAUNCH(ok, y->ctx, "gather_forward", nn__k_gather_forward, nn__grid(y->numel), NN__BLOCK,
               nn__geom_of(index->ndim, index->shape, index->stride), y->numel, (int)y->ip[0], size, nn__geom_of(x->ndim, x->shape, xst),
               NN__I64(index), NN__F32(x), NN__F32(y), bad);
    return nn__cuda_flag_check(y, bad, ok, size);
}
static int nn__cuda_gather_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *index = y->src[1];
    float *dx = nn__gbuf(x);
    int64_t ist[NN_MAX_DIMS];
    int ok;
    if (!dx) return 1;
    nn__contig_strides(index->ndim, index->shape, ist);
    NN__LAUNCH(ok, y->ctx, "gather_backward", nn__k_gather_backward, nn__grid(x->numel), NN__BLOCK,
               nn__geom_of(x->ndim, x->shape, x->stride), nn__geom_of(index->ndim, index->shape, ist), x->numel, (int)y->ip[0],
               NN__I64(index), NN__F32(y->grad), dx);
    return ok;
}
static int nn__cuda_index_select_forward(nn_tensor *y) {
    int64_t *bad;
    int ok;
    if (!(bad = nn__cuda_flag_new(y->ctx))) return 0;
    NN__LAUNCH(ok, y->ctx, "index_select_forward", nn__k_index_select_forward, nn__grid(y->numel), NN__BLOCK, y->ip[0], y->ip[1],
               y->ip[2], y->ip[3], NN__I64(y->src[1]), NN__F32(y->src[0]), NN__F32(y), bad);
    return nn__cuda_flag_check(y, bad, ok, y->ip[1]);
}
static int nn__cuda_index_select_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx) return 1;
    NN__LAUNCH(ok, y->ctx, "index_select_backward", nn__k_index_select_backward, nn__grid(y->src[0]->numel), NN__BLOCK, y->ip[0],
               y->ip[1], y->ip[2], y->ip[3], NN__I64(y->src[1]), NN__F32(y->grad), dx);
    return ok;
}

/* ---- matmul and linear: cuBLAS (emulated: nn__k_gemm) ---- */
static __global__ void nn__k_bias_rows(int64_t M, int64_t N, const float *b, float *o) {   /* o (M, N) = b per row */
    NN__FOR_EACH(q, M * N) o[q] = b[q % N];
}
/* db (N) += the column sums of g (M, N), in double, rows in order (the CPU's sum) */
static __global__ void nn__k_col_sums(int64_t M, int64_t N, const float *g, float *db) {
    NN__FOR_EACH(j, N) {
        double s = 0;
        int64_t i;
        for (i = 0; i < M; i++) s += g[i * N + j];
        db[j] += (float)s;
    }
}
/* One matrix of A (M, K) read at A[i rs + k cs] as a GEMM operand: a unit column stride is row-major,
   a unit row stride is a transposed one; any other layout is copied to a contiguous scratch first. */
static const float *nn__cuda_operand(nn_ctx *ctx, const float *A, int64_t M, int64_t K, int64_t rs, int64_t cs, int64_t *ld, int *tr) {
    int64_t sh[2], st[2];
    float *c;
    int ok;
    if (cs == 1 || K == 1) {   /* row-major, ld = the row stride (any, when there is one row) */
        *tr = 0; *ld = M == 1 ? (K > 1 ? K : 1) : rs;
        if (*ld >= (K > 1 ? K : 1)) return A;
    }
    if (rs == 1 || M == 1) {   /* stored transposed */
        *tr = 1; *ld = K == 1 ? (M > 1 ? M : 1) : cs;
        if (*ld >= (M > 1 ? M : 1)) return A;
    }
    if (!(c = NN__CAST(float *, nn__cuda_scratch(ctx, (size_t)(M * K) * sizeof(float))))) return NULL;
    sh[0] = M; sh[1] = K; st[0] = rs; st[1] = cs;
    NN__LAUNCH(ok, ctx, "copy_forward", nn__k_copy_forward, nn__grid(M * K), NN__BLOCK, nn__geom_of(2, sh, st), M * K,
               (int)sizeof(float), (const char *)A, (char *)c);
    *tr = 0; *ld = K;
    return ok ? c : NULL;
}
/* C (M, N, row stride ldc) = op(A) op(B) (+ C when acc), the matrices read through their strides as
   nn.h's nn__gemm reads them */
static int nn__cuda_mm(nn_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t ars, int64_t acs, const float *B,
                       int64_t brs, int64_t bcs, float *C, int64_t ldc, int acc) {
    int64_t lda, ldb;
    int ta, tb;
    nn__mark m = nn__arena_mark(ctx);
    int ok;
    const float *a = nn__cuda_operand(ctx, A, M, K, ars, acs, &lda, &ta), *b = a ? nn__cuda_operand(ctx, B, K, N, brs, bcs, &ldb, &tb) : NULL;
    ok = a && b && nn__cuda_gemm(ctx, 1, M, N, K, 1.0f, a, lda, 0, ta, b, ldb, 0, tb, acc ? 1.0f : 0.0f, C, ldc, 0);
    nn__arena_rewind(ctx, m);
    return ok;
}
static int nn__cuda_matmul_forward(nn_tensor *y) {
    const nn_tensor *a = y->src[0], *b = y->src[1];
    nn__mm p; nn__walk w; int64_t t, ysh[NN_MAX_DIMS]; int ynd;
    nn__mm_plan(&p, a, b, &ynd, ysh);
    nn__walk_init(&w, p.bnd, p.bshape, p.a_st, p.b_st, NULL);
    for (t = 0; t < p.nbatch; t++, nn__walk_next(&w))
        if (!nn__cuda_mm(y->ctx, p.M, p.N, p.K, NN__F32(a) + w.off[0], p.ars, p.acs, NN__F32(b) + w.off[1], p.brs, p.bcs,
                         NN__F32(y) + t * p.M * p.N, p.N, 0)) return 0;
    return 1;
}
static int nn__cuda_matmul_backward(nn_tensor *y) {
    const nn_tensor *a = y->src[0], *b = y->src[1];
    float *da = nn__gbuf(a), *db = nn__gbuf(b);
    nn__mm p; nn__walk wd, wg; int64_t t, ysh[NN_MAX_DIMS]; int ynd;
    nn__mm_plan(&p, a, b, &ynd, ysh);
    nn__walk_init(&wd, p.bnd, p.bshape, p.a_st, p.b_st, NULL);
    nn__walk_init(&wg, p.bnd, p.bshape, p.ag_st, p.bg_st, NULL);
    for (t = 0; t < p.nbatch; t++, nn__walk_next(&wd), nn__walk_next(&wg)) {   /* batches in order: a broadcast gradient adds up */
        const float *g = NN__F32(y->grad) + t * p.M * p.N;
        if (da && !nn__cuda_mm(y->ctx, p.M, p.K, p.N, g, p.N, 1, NN__F32(b) + wd.off[1], p.bcs, p.brs, da + wg.off[0], p.K, 1)) return 0;
        if (db && !nn__cuda_mm(y->ctx, p.K, p.N, p.M, NN__F32(a) + wd.off[0], p.acs, p.ars, g, p.N, 1, db + wg.off[1], p.N, 1)) return 0;
    }
    return 1;
}
static int nn__cuda_linear_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t out = w->shape[0], in = w->shape[1], M = x->numel / (in ? in : 1);
    int ok = 1;
    if (b && M > 0 && out > 0) NN__LAUNCH(ok, y->ctx, "bias_rows", nn__k_bias_rows, nn__grid(M * out), NN__BLOCK, M, out, NN__F32(b), NN__F32(y));
    return ok && nn__cuda_mm(y->ctx, M, out, in, NN__F32(x), in, 1, NN__F32(w), 1, in, NN__F32(y), out, b != NULL);
}
static int nn__cuda_linear_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    const float *g = NN__F32(y->grad);
    int64_t out = w->shape[0], in = w->shape[1], M = x->numel / (in ? in : 1);
    int ok = 1;
    if (dx && !nn__cuda_mm(y->ctx, M, in, out, g, out, 1, NN__F32(w), in, 1, dx, in, 1)) return 0;   /* dx (M, in) += g @ w */
    if (dw && !nn__cuda_mm(y->ctx, out, in, M, g, 1, out, NN__F32(x), in, 1, dw, in, 1)) return 0;   /* dw (out, in) += g^T @ x */
    if (db && out) NN__LAUNCH(ok, y->ctx, "col_sums", nn__k_col_sums, nn__grid(out), NN__BLOCK, M, out, g, db);
    return ok;
}

/* ---- dropout, batch_norm, layer_norm and the losses (nll, bce, bce_with_logits, huber) ----
   The per-element and per-row rules are nn.h's (section math), which the CPU kernels call too.
   Memory beyond the outputs (saved statistics, the dropout mask, row sums) is device scratch. */
/* a device flag (nn__cuda_flag_new) read back and given back: 1 and h filled, or 0 */
static int nn__cuda_flag_read(nn_ctx *ctx, int64_t *bad, int launched, int64_t *h) {
    int ok;
    h[0] = h[1] = 0;
    ok = launched && nn__dev_to_host(ctx, h, bad, 2 * sizeof(int64_t));
    nn_cuda_free(ctx, bad, 2 * sizeof(int64_t));
    return ok;
}
/* Every input of y on the device. nn.h's front ends check the main inputs, but not every optional
   one (batch_norm's running statistics, weight and bias; layer_norm's weight and bias; nll's class
   weights; bce_with_logits' pos_weight): a host pointer in a kernel would fault on a GPU. */
static int nn__cuda_inputs_here(nn_tensor *y) {
    int k;
    for (k = 0; k < y->nsrc; k++)
        if (y->src[k] && y->src[k]->device != y->device) {
            nn__err(y->ctx, "nn_%s: input %d is on device %d and the input on device %d; move every input (weights, running statistics) with nn_to",
                    nn_op_name(y->op), k, (int)y->src[k]->device, (int)y->device);
            return 0;
        }
    return 1;
}
/* bad[0] = the first bad position + 1 (emulated, launches are serial, so the first; on a GPU any one
   of them: the check-then-write is not atomic), bad[1] = what was there */
#define NN__FLAG_SET(bad, i, v) do { if (!(bad)[0] || (i) + 1 < (bad)[0]) { (bad)[0] = (i) + 1; (bad)[1] = (v); } } while (0)

static __global__ void nn__k_dropout_forward(int64_t n, const float *x, const float *m, float *y) {
    NN__FOR_EACH(i, n) y[i] = x[i] * m[i];
}
static __global__ void nn__k_dropout_backward(int64_t n, const float *g, const float *m, float *dx) {
    NN__FOR_EACH(i, n) dx[i] += g[i] * m[i];
}
/* batch_norm, x (N, C, S): one thread per channel for the statistics (and the running ones) */
static __global__ void nn__k_bn_stats(int64_t N, int64_t C, int64_t S, int training, double eps, double momentum, const float *x,
                                      float *rm, float *rv, float *mean) {   /* mean (2, C): mean, invstd */
    NN__FOR_EACH(c, C) nn__bn_stats_c(x, N, C, S, c, training, eps, momentum, rm, rv, mean, mean + C);
}
static __global__ void nn__k_bn_forward(int64_t n, int64_t C, int64_t S, const float *x, const float *mean, const float *w,
                                        const float *b, float *y) {
    NN__FOR_EACH(i, n) {
        int64_t c = (i / S) % C;
        y[i] = nn__bn_apply(x[i], mean[c], mean[C + c], w, b, c);
    }
}
/* backward: one thread per channel for the sums (and the weight's and bias's gradients), then one
   per element of x's gradient */
static __global__ void nn__k_bn_backward_sums(int64_t N, int64_t C, int64_t S, const float *x, const float *g, const float *mean,
                                              double *sums, float *dw, float *db) {   /* sums (2, C): sg, sgx */
    NN__FOR_EACH(c, C) {
        nn__bn_sums_c(x, g, N, C, S, c, mean[c], mean[C + c], &sums[c], &sums[C + c]);
        if (dw) dw[c] += (float)sums[C + c];
        if (db) db[c] += (float)sums[c];
    }
}
static __global__ void nn__k_bn_backward_dx(int64_t n, int64_t N, int64_t C, int64_t S, int training, const float *x,
                                            const float *g, const float *mean, const float *w, const double *sums, float *dx) {
    NN__FOR_EACH(i, n) {
        int64_t c = (i / S) % C;
        dx[i] += nn__bn_dx(g[i], x[i], mean[c], mean[C + c], w ? w[c] : 1.0f, sums[c], sums[C + c], (double)(N * S), training);
    }
}
/* layer_norm, x (R, M): one thread per row for the statistics and the backward's row sums, one per
   element for the output and x's gradient, one per column for the weight's and bias's gradients
   (rows in order, as the CPU adds them) */
static __global__ void nn__k_ln_stats(int64_t R, int64_t M, double eps, const float *x, float *mean) {   /* mean (2, R) */
    NN__FOR_EACH(r, R) nn__ln_stats_row(x + r * M, M, eps, &mean[r], &mean[R + r]);
}
static __global__ void nn__k_ln_forward(int64_t R, int64_t M, const float *x, const float *mean, const float *w, const float *b,
                                        float *y) {
    NN__FOR_EACH(i, R * M) {
        int64_t r = i / M;
        y[i] = nn__ln_apply(x[i], mean[r], mean[R + r], w, b, i % M);
    }
}
static __global__ void nn__k_ln_backward_sums(int64_t R, int64_t M, const float *x, const float *g, const float *w,
                                              const float *mean, double *sums) {   /* sums (2, R): sd, sdx */
    NN__FOR_EACH(r, R) nn__ln_sums_row(x + r * M, g + r * M, w, M, mean[r], mean[R + r], &sums[r], &sums[R + r], (double *)0);
}
static __global__ void nn__k_ln_backward_dx(int64_t R, int64_t M, const float *x, const float *g, const float *w,
                                            const float *mean, const double *sums, float *dx) {
    NN__FOR_EACH(i, R * M) {
        int64_t r = i / M, s = i % M;
        dx[i] += nn__ln_dx(x[i], g[i], w ? w[s] : 1.0f, mean[r], mean[R + r], sums[r], sums[R + r], M);
    }
}
static __global__ void nn__k_ln_backward_wb(int64_t R, int64_t M, const float *x, const float *g, const float *mean, float *dw,
                                            float *db) {
    NN__FOR_EACH(s, M) {
        double a = 0, b = 0;
        int64_t r;
        for (r = 0; r < R; r++) {
            float xh = nn__ln_xhat(x[r * M + s], mean[r], mean[R + r]);
            a += (double)g[r * M + s] * xh; b += g[r * M + s];
        }
        if (dw) dw[s] += (float)a;
        if (db) db[s] += (float)b;
    }
}
/* nll, logp (R, C): one thread per row writes its terms (rows (4, R): used, w[t], target term,
   smoothing term) and, with reduction none, its loss; a bad target sets the flag. Then ONE thread
   adds the rows in order in double, as the CPU does (serial, deterministic), for the divisors
   (div: saved for backward) and the reduced loss. */
static __global__ void nn__k_nll_rows(int64_t R, int64_t C, int64_t ignore, int reduction, double e, const float *lp,
                                      const int64_t *t, const float *w, double *rows, float *y, int64_t *bad) {
    NN__FOR_EACH(i, R) {
        int64_t k = t[i];
        double wt = 0, li = 0, sm = 0;
        rows[i] = 0;
        if (k != ignore) {
            if (k < 0 || k >= C) { NN__FLAG_SET(bad, i, k); continue; }
            nn__nll_row_f(lp + i * C, C, k, w, e, &wt, &li, &sm);
            rows[i] = 1;
        }
        rows[R + i] = wt; rows[2 * R + i] = li; rows[3 * R + i] = sm;
        if (reduction == NN_NONE) y[i] = (float)(li + sm);
    }
}
static __global__ void nn__k_nll_reduce(int64_t R, int reduction, double e, int weighted, const double *rows, double *div, float *y) {
    NN__FOR_EACH(q, 1) {
        double total = 0, nll = 0, smooth = 0;
        int64_t i;
        for (i = 0; i < R; i++) {
            if (rows[i] != 0) total += rows[R + i];
            nll += rows[2 * R + i]; smooth += rows[3 * R + i];
        }
        div[0] = total;                          /* total 0 (all ignored): NaN, as PyTorch */
        div[1] = weighted ? total : (double)R;
        if (reduction != NN_NONE) y[0] = nn__nll_reduce(reduction, nll, smooth, e, div);
    }
}
static __global__ void nn__k_nll_backward(int64_t R, int64_t C, int64_t ignore, int reduction, double e, const int64_t *t,
                                          const float *w, const float *g, const double *div, float *dx) {
    NN__FOR_EACH(i, R) {
        int64_t k = t[i];
        if (k == ignore || k < 0 || k >= C) continue;
        nn__nll_row_b(dx + i * C, C, k, w, e, reduction, reduction == NN_NONE ? g[i] : g[0], div);
    }
}
/* elementwise losses; pos_weight (K) is read at i % K */
static __global__ void nn__k_bce_logits_forward(int64_t n, int64_t K, const float *x, const float *t, const float *pw, float *y) {
    NN__FOR_EACH(i, n) y[i] = nn__bce_logits_f(x[i], t[i], pw ? pw[i % K] : 1.0f);
}
static __global__ void nn__k_bce_logits_backward(int64_t n, int64_t K, const float *x, const float *t, const float *pw,
                                                 const float *g, float *dx) {
    NN__FOR_EACH(i, n) dx[i] += nn__bce_logits_b(g[i], x[i], t[i], pw ? pw[i % K] : 1.0f);
}
static __global__ void nn__k_bce_forward(int64_t n, const float *p, const float *t, float *y, int64_t *bad) {
    NN__FOR_EACH(i, n) {
        if (!(p[i] >= 0.0f && p[i] <= 1.0f)) { NN__FLAG_SET(bad, i, 0); y[i] = 0.0f; continue; }
        y[i] = nn__bce_f(p[i], t[i]);
    }
}
static __global__ void nn__k_bce_backward(int64_t n, const float *p, const float *t, const float *g, float *dp, float *dt) {
    NN__FOR_EACH(i, n) {
        if (dp) dp[i] += nn__bce_dp(g[i], p[i], t[i]);
        if (dt) dt[i] += nn__bce_dt(g[i], p[i]);
    }
}
static __global__ void nn__k_huber_forward(int64_t n, const float *a, const float *b, float t, int smooth, float *y) {
    NN__FOR_EACH(i, n) y[i] = nn__huber_f(a[i], b[i], t, smooth);
}
static __global__ void nn__k_huber_backward(int64_t n, const float *a, const float *b, const float *g, float t, int smooth,
                                            float *da, float *db) {
    NN__FOR_EACH(i, n) {
        float k = nn__huber_k(a[i], b[i], t, smooth);
        if (da) da[i] += g[i] * k;
        if (db) db[i] -= g[i] * k;
    }
}

/* dropout: the mask is drawn on the host from the context's RNG exactly as the CPU kernel draws it
   (nn__dropout_mask: same draws, same order), then copied to device scratch (y->saved) */
static int nn__cuda_dropout_forward(nn_tensor *y) {
    nn_ctx *ctx = y->ctx;
    size_t bytes = (size_t)(y->numel ? y->numel : 1) * sizeof(float);
    float *host = NN__CAST(float *, nn__malloc(bytes)), *m = NN__CAST(float *, nn__cuda_scratch(ctx, bytes));
    int ok = host && m;
    if (!host && m) nn__err(ctx, "nn_dropout: out of host memory for the mask");
    if (ok) {
        nn__dropout_mask(ctx, host, y->numel, y->fp[0]);
        ok = nn__dev_from_host(ctx, m, host, (size_t)y->numel * sizeof(float));
    }
    nn__free(host);
    if (!ok) return 0;
    y->saved = m;
    NN__LAUNCH(ok, ctx, "dropout_forward", nn__k_dropout_forward, nn__grid(y->numel), NN__BLOCK, y->numel, NN__F32(y->src[0]),
               (const float *)m, NN__F32(y));
    return ok;
}
static int nn__cuda_dropout_backward(nn_tensor *y) {
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx) return 1;
    NN__LAUNCH(ok, y->ctx, "dropout_backward", nn__k_dropout_backward, nn__grid(y->numel), NN__BLOCK, y->numel, NN__F32(y->grad),
               NN__CAST(const float *, y->saved), dx);
    return ok;
}
/* batch_norm: x (N, C, S); layer_norm: x (R, M). saved (device): mean, then invstd */
static int nn__cuda_norm_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const float *wp = w ? NN__F32(w) : (const float *)NULL, *bp = b ? NN__F32(b) : (const float *)NULL;
    float *mean;
    int ok;
    if (!nn__cuda_inputs_here(y)) return 0;
    if (y->op == NN_OP_BATCH_NORM) {
        nn_tensor *rm = y->nsrc > 3 ? y->src[3] : NULL, *rv = y->nsrc > 4 ? y->src[4] : NULL;
        int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, S = x->numel / (N * C > 0 ? N * C : 1);
        if (!(mean = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(2 * C) * sizeof(float))))) return 0;
        y->saved = mean;
        NN__LAUNCH(ok, y->ctx, "bn_stats", nn__k_bn_stats, nn__grid(C), NN__BLOCK, N, C, S, (int)y->ip[0], (double)y->fp[0],
                   (double)y->fp[1], NN__F32(x), rm ? NN__F32(rm) : (float *)NULL, rv ? NN__F32(rv) : (float *)NULL, mean);
        if (ok && y->numel)
            NN__LAUNCH(ok, y->ctx, "bn_forward", nn__k_bn_forward, nn__grid(y->numel), NN__BLOCK, y->numel, C, S, NN__F32(x),
                       (const float *)mean, wp, bp, NN__F32(y));
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        if (!(mean = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(2 * R) * sizeof(float))))) return 0;
        y->saved = mean;
        NN__LAUNCH(ok, y->ctx, "ln_stats", nn__k_ln_stats, nn__grid(R), NN__BLOCK, R, M, (double)y->fp[0], NN__F32(x), mean);
        if (ok && y->numel)
            NN__LAUNCH(ok, y->ctx, "ln_forward", nn__k_ln_forward, nn__grid(y->numel), NN__BLOCK, R, M, NN__F32(x), (const float *)mean,
                       wp, bp, NN__F32(y));
    }
    return ok;
}
static int nn__cuda_norm_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b);
    const float *mean = NN__CAST(const float *, y->saved), *g = NN__F32(y->grad), *wp = w ? NN__F32(w) : (const float *)NULL;
    nn__mark mk = nn__arena_mark(y->ctx);
    double *sums;
    int ok = 1;
    if (!dx && !dw && !db) return 1;
    if (y->op == NN_OP_BATCH_NORM) {
        int64_t N = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1, S = x->numel / (N * C > 0 ? N * C : 1);
        if (!(sums = NN__CAST(double *, nn__cuda_scratch(y->ctx, (size_t)(2 * C) * sizeof(double))))) return 0;
        NN__LAUNCH(ok, y->ctx, "bn_backward_sums", nn__k_bn_backward_sums, nn__grid(C), NN__BLOCK, N, C, S, NN__F32(x), g, mean, sums,
                   dw, db);
        if (ok && dx && x->numel)
            NN__LAUNCH(ok, y->ctx, "bn_backward_dx", nn__k_bn_backward_dx, nn__grid(x->numel), NN__BLOCK, x->numel, N, C, S,
                       (int)y->ip[0], NN__F32(x), g, mean, wp, (const double *)sums, dx);
    } else {
        int64_t M = y->ip[1], R = x->numel / (M ? M : 1);
        if (dx) {
            if (!(sums = NN__CAST(double *, nn__cuda_scratch(y->ctx, (size_t)(2 * R) * sizeof(double))))) return 0;
            NN__LAUNCH(ok, y->ctx, "ln_backward_sums", nn__k_ln_backward_sums, nn__grid(R), NN__BLOCK, R, M, NN__F32(x), g, wp, mean,
                       sums);
            if (ok && x->numel)
                NN__LAUNCH(ok, y->ctx, "ln_backward_dx", nn__k_ln_backward_dx, nn__grid(x->numel), NN__BLOCK, R, M, NN__F32(x), g, wp,
                           mean, (const double *)sums, dx);
        }
        if (ok && (dw || db))
            NN__LAUNCH(ok, y->ctx, "ln_backward_wb", nn__k_ln_backward_wb, nn__grid(M), NN__BLOCK, R, M, NN__F32(x), g, mean, dw, db);
    }
    nn__arena_rewind(y->ctx, mk);
    return ok;
}
/* nll: logp (R, C), target int64 (R), weight (C) or none; ip[0] reduction, ip[1] ignore_index,
   fp[0] label smoothing; saved (device, 2 doubles): the mean's divisors */
static int nn__cuda_nll_forward(nn_tensor *y) {
    const nn_tensor *lp = y->src[0], *w = y->nsrc > 2 ? y->src[2] : NULL;
    int64_t R = lp->shape[0], C = lp->shape[1], *bad, h[2];
    double *div = NN__CAST(double *, nn__cuda_scratch(y->ctx, 2 * sizeof(double))), *rows;
    nn__mark mk;
    int ok;
    if (!nn__cuda_inputs_here(y)) return 0;
    if (!div) return 0;
    y->saved = div;
    mk = nn__arena_mark(y->ctx);
    if (!(rows = NN__CAST(double *, nn__cuda_scratch(y->ctx, (size_t)(4 * (R ? R : 1)) * sizeof(double))))) return 0;
    if (!(bad = nn__cuda_flag_new(y->ctx))) { nn__arena_rewind(y->ctx, mk); return 0; }
    NN__LAUNCH(ok, y->ctx, "nll_rows", nn__k_nll_rows, nn__grid(R), NN__BLOCK, R, C, y->ip[1], (int)y->ip[0], (double)y->fp[0],
               NN__F32(lp), NN__I64(y->src[1]), w ? NN__F32(w) : (const float *)NULL, rows, NN__F32(y), bad);
    ok = nn__cuda_flag_read(y->ctx, bad, ok, h);
    if (ok && h[0]) {
        nn__err(y->ctx, "nn_nll_loss: target %lld at position %lld is not a class in [0, %lld)", (long long)h[1], (long long)(h[0] - 1),
                (long long)C);
        ok = 0;
    }
    if (ok) NN__LAUNCH(ok, y->ctx, "nll_reduce", nn__k_nll_reduce, 1u, 1u, R, (int)y->ip[0], (double)y->fp[0], w != NULL,
                       (const double *)rows, div, NN__F32(y));
    nn__arena_rewind(y->ctx, mk);
    return ok;
}
static int nn__cuda_nll_backward(nn_tensor *y) {
    const nn_tensor *lp = y->src[0], *w = y->nsrc > 2 ? y->src[2] : NULL;
    float *dx = nn__gbuf(lp);
    int ok;
    if (!dx) return 1;
    NN__LAUNCH(ok, y->ctx, "nll_backward", nn__k_nll_backward, nn__grid(lp->shape[0]), NN__BLOCK, lp->shape[0], lp->shape[1], y->ip[1],
               (int)y->ip[0], (double)y->fp[0], NN__I64(y->src[1]), w ? NN__F32(w) : (const float *)NULL, NN__F32(y->grad),
               NN__CAST(const double *, y->saved), dx);
    return ok;
}
static int nn__cuda_bce_logits_forward(nn_tensor *y) {
    const nn_tensor *pw = y->src[2];
    int ok;
    if (!nn__cuda_inputs_here(y)) return 0;
    if (!y->numel) return 1;
    NN__LAUNCH(ok, y->ctx, "bce_logits_forward", nn__k_bce_logits_forward, nn__grid(y->numel), NN__BLOCK, y->numel, pw ? pw->numel : 1,
               NN__F32(y->src[0]), NN__F32(y->src[1]), pw ? NN__F32(pw) : (const float *)NULL, NN__F32(y));
    return ok;
}
static int nn__cuda_bce_logits_backward(nn_tensor *y) {
    const nn_tensor *pw = y->src[2];
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx || !y->numel) return 1;
    NN__LAUNCH(ok, y->ctx, "bce_logits_backward", nn__k_bce_logits_backward, nn__grid(y->numel), NN__BLOCK, y->numel,
               pw ? pw->numel : 1, NN__F32(y->src[0]), NN__F32(y->src[1]), pw ? NN__F32(pw) : (const float *)NULL, NN__F32(y->grad), dx);
    return ok;
}
/* p outside [0, 1] is an error, as on the CPU: the kernel flags the position, the host copies that
   one value back for the message */
static int nn__cuda_bce_forward(nn_tensor *y) {
    int64_t *bad, h[2];
    int ok;
    if (!y->numel) return 1;
    if (!(bad = nn__cuda_flag_new(y->ctx))) return 0;
    NN__LAUNCH(ok, y->ctx, "bce_forward", nn__k_bce_forward, nn__grid(y->numel), NN__BLOCK, y->numel, NN__F32(y->src[0]),
               NN__F32(y->src[1]), NN__F32(y), bad);
    ok = nn__cuda_flag_read(y->ctx, bad, ok, h);
    if (ok && h[0]) {
        float v = 0.0f;
        if (!nn__dev_to_host(y->ctx, &v, NN__F32(y->src[0]) + (h[0] - 1), sizeof v)) return 0;
        nn__err(y->ctx, "nn_bce_loss: input %g at position %lld is not a probability in [0, 1]; use nn_bce_with_logits for logits",
                v, (long long)(h[0] - 1));
        return 0;
    }
    return ok;
}
static int nn__cuda_bce_backward(nn_tensor *y) {
    float *dp = nn__gbuf(y->src[0]), *dt = nn__gbuf(y->src[1]);
    int ok;
    if ((!dp && !dt) || !y->numel) return 1;
    NN__LAUNCH(ok, y->ctx, "bce_backward", nn__k_bce_backward, nn__grid(y->numel), NN__BLOCK, y->numel, NN__F32(y->src[0]),
               NN__F32(y->src[1]), NN__F32(y->grad), dp, dt);
    return ok;
}
static int nn__cuda_huber_forward(nn_tensor *y) {   /* fp[0] the threshold, ip[0] 1 for smooth L1 */
    int ok;
    if (!y->numel) return 1;
    NN__LAUNCH(ok, y->ctx, "huber_forward", nn__k_huber_forward, nn__grid(y->numel), NN__BLOCK, y->numel, NN__F32(y->src[0]),
               NN__F32(y->src[1]), y->fp[0], y->ip[0] != 0, NN__F32(y));
    return ok;
}
static int nn__cuda_huber_backward(nn_tensor *y) {
    float *da = nn__gbuf(y->src[0]), *db = nn__gbuf(y->src[1]);
    int ok;
    if ((!da && !db) || !y->numel) return 1;
    NN__LAUNCH(ok, y->ctx, "huber_backward", nn__k_huber_backward, nn__grid(y->numel), NN__BLOCK, y->numel, NN__F32(y->src[0]),
               NN__F32(y->src[1]), NN__F32(y->grad), y->fp[0], y->ip[0] != 0, da, db);
    return ok;
}
/* ---- convolution: im2col/col2im kernels and GEMM, as nn.h's CPU kernels ----
   A convolution's geometry by value: the image (C, H, W), the kernel kh x kw, the columns' positions
   OH x OW, stride, padding, dilation. col (C*kh*kw, OH*OW) holds the patch under each position. */
typedef struct nn__convg { int64_t C, H, W, kh, kw, OH, OW, sh, sw, ph, pw, dh, dw; } nn__convg;
static nn__convg nn__convg_of(const int64_t *ip, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t OH, int64_t OW) {
    nn__convg g;
    g.C = C; g.H = H; g.W = W; g.kh = kh; g.kw = kw; g.OH = OH; g.OW = OW;
    g.sh = ip[0]; g.sw = ip[1]; g.ph = ip[2]; g.pw = ip[3]; g.dh = ip[4]; g.dw = ip[5];
    return g;
}
/* nb images (sample stride sx) -> columns: row r (of C*kh*kw), position q of sample n at
   col[r * sr + n * sc + q]. The convolutions use the wide layout (K, nb, P): sr = nb * P, sc = P, so
   one GEMM reads every sample's columns (the weight gradient) and a batched GEMM reads each sample's
   (K, P) block with ld = nb * P. One thread per column element. */
static __global__ void nn__k_im2col(nn__convg g, int64_t nb, const float *img, int64_t sx, float *col, int64_t sr, int64_t sc) {
    int64_t P = g.OH * g.OW, per = g.C * g.kh * g.kw * P;
    NN__FOR_EACH(q, nb * per) {
        int64_t n = q / per, r = q % per, row = r / P, pq = r % P;
        int64_t c = row / (g.kh * g.kw), i = (row / g.kw) % g.kh, j = row % g.kw, oh = pq / g.OW, ow = pq % g.OW;
        int64_t ih = oh * g.sh - g.ph + i * g.dh, iw = ow * g.sw - g.pw + j * g.dw;
        col[row * sr + n * sc + pq] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? img[n * sx + (c * g.H + ih) * g.W + iw] : 0.0f;
    }
}
/* the adjoint, without atomics: one thread per image element gathering the column entries that
   read it, in the CPU's (i, j) order, onto its value (init: onto 0), then + bias[c] when given */
static __global__ void nn__k_col2im(nn__convg g, int64_t nb, const float *col, int64_t sr, int64_t sc, float *img, int64_t sx, int init,
                                    const float *bias) {
    int64_t HW = g.H * g.W, per = g.C * HW;
    NN__FOR_EACH(q, nb * per) {
        int64_t n = q / per, r = q % per, c = r / HW, ih = (r / g.W) % g.H, iw = r % g.W, i, j;
        const float *cn = col + n * sc;
        float *dst = img + n * sx + r, acc = init ? 0.0f : *dst;
        for (i = 0; i < g.kh; i++) {
            int64_t th = ih + g.ph - i * g.dh, oh;
            if (th < 0 || th % g.sh) continue;
            if ((oh = th / g.sh) >= g.OH) continue;
            for (j = 0; j < g.kw; j++) {
                int64_t tw = iw + g.pw - j * g.dw, ow;
                if (tw < 0 || tw % g.sw) continue;
                if ((ow = tw / g.sw) >= g.OW) continue;
                acc += cn[((c * g.kh + i) * g.kw + j) * sr + oh * g.OW + ow];
            }
        }
        if (bias) acc += bias[c];
        *dst = acc;
    }
}
/* y (N, O, P) = b[o] per plane */
static __global__ void nn__k_conv_bias(int64_t n, int64_t O, int64_t P, const float *b, float *y) {
    NN__FOR_EACH(q, n) y[q] = b[(q / P) % O];
}
/* db (O) += the sums of gy (N, O, P) over N and P in the CPU's order: a double sum per (n, o), those
   added per chunk of per_chunk samples, the chunks added in order */
static __global__ void nn__k_conv_bias_backward(int64_t N, int64_t O, int64_t P, int64_t per_chunk, const float *gy, float *db) {
    NN__FOR_EACH(o, O) {
        double tot = 0, part = 0;
        int64_t n, q;
        for (n = 0; n < N; n++) {
            double s = 0;
            for (q = 0; q < P; q++) s += gy[(n * O + o) * P + q];
            part += s;
            if ((n + 1) % per_chunk == 0 || n == N - 1) { tot += part; part = 0; }
        }
        db[o] += (float)tot;
    }
}
/* samples per im2col pass: their columns stay under NN__CUDA_COL_FLOATS floats (64 MiB; one sample at least) */
#ifndef NN__CUDA_COL_FLOATS
#define NN__CUDA_COL_FLOATS ((int64_t)1 << 24)
#endif
static int64_t nn__conv_batch(int64_t KP, int64_t N) {
    int64_t nb = KP > 0 ? (int64_t)(NN__CUDA_COL_FLOATS) / KP : N;
    return nb < 1 ? 1 : (nb > N ? (N > 0 ? N : 1) : nb);
}
/* R rows of cnt samples' (P) blocks, sample n's row r at src[n * sn + r * P + q], as a contiguous
   (R, cnt * P) matrix in dst (a copy_forward launch; src itself when cnt is 1) */
static const float *nn__cuda_rows(nn_ctx *ctx, const float *src, int64_t R, int64_t cnt, int64_t P, int64_t sn, float *dst) {
    int64_t sh[3], st[3];
    int ok;
    if (cnt == 1) return src;
    sh[0] = R; sh[1] = cnt; sh[2] = P; st[0] = P; st[1] = sn; st[2] = 1;
    NN__LAUNCH(ok, ctx, "copy_forward", nn__k_copy_forward, nn__grid(R * cnt * P), NN__BLOCK, nn__geom_of(3, sh, st), R * cnt * P,
               (int)sizeof(float), (const char *)src, (char *)dst);
    return ok ? dst : NULL;
}
static int nn__cuda_conv2d_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], O = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], G = y->ip[6], Cg = C / G, Og = O / G, K = Cg * kh * kw, P = OH * OW, nb, n0, g;
    nn__convg cg = nn__convg_of(y->ip, Cg, H, W, kh, kw, OH, OW);
    nn__mark m = nn__arena_mark(y->ctx);
    float *col;
    int ok = 1;
    if (!y->numel) return 1;
    nb = nn__conv_batch(K * P, N);
    if (!(col = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(nb * K * P) * sizeof(float))))) return 0;
    if (b) NN__LAUNCH(ok, y->ctx, "conv_bias", nn__k_conv_bias, nn__grid(y->numel), NN__BLOCK, y->numel, O, P, NN__F32(b), NN__F32(y));
    for (n0 = 0; n0 < N && ok; n0 += nb) {
        int64_t cnt = N - n0 < nb ? N - n0 : nb;
        for (g = 0; g < G && ok; g++) {   /* y_g (Og, P) (+)= w_g (Og, K) @ col_n, the cnt samples in one batched GEMM */
            NN__LAUNCH(ok, y->ctx, "im2col", nn__k_im2col, nn__grid(cnt * K * P), NN__BLOCK, cg, cnt, NN__F32(x) + (n0 * C + g * Cg) * H * W,
                       C * H * W, col, cnt * P, P);
            ok = ok && nn__cuda_gemm(y->ctx, cnt, Og, P, K, 1.0f, NN__F32(w) + g * Og * K, K, 0, 0, col, cnt * P, P, 0, b ? 1.0f : 0.0f,
                                     NN__F32(y) + (n0 * O + g * Og) * P, P, O * P);
        }
    }
    nn__arena_rewind(y->ctx, m);
    return ok;
}
static int nn__cuda_conv2d_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b), *col = NULL, *dcol = NULL, *gyr = NULL;
    const float *gy = NN__F32(y->grad);
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], O = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], G = y->ip[6], Cg = C / G, Og = O / G, K = Cg * kh * kw, P = OH * OW, nb, n0, g;
    nn__convg cg = nn__convg_of(y->ip, Cg, H, W, kh, kw, OH, OW);
    nn__mark m = nn__arena_mark(y->ctx);
    int ok = 1;
    if (!y->numel) return 1;
    nb = nn__conv_batch(K * P, N);
    if ((dw && (!(col = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(nb * K * P) * sizeof(float))))
                || !(gyr = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(nb * Og * P) * sizeof(float))))))
        || (dx && !(dcol = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(nb * K * P) * sizeof(float)))))) {
        nn__arena_rewind(y->ctx, m);
        return 0;
    }
    for (n0 = 0; n0 < N && ok; n0 += nb) {
        int64_t cnt = N - n0 < nb ? N - n0 : nb;
        for (g = 0; g < G && ok; g++) {
            const float *gyg = gy + (n0 * O + g * Og) * P, *a;   /* (Og, P) per sample, samples O * P apart */
            if (dw) {   /* dw_g (Og, K) += gy (Og, cnt P) @ col^T (cnt P, K): one GEMM over the cnt samples */
                NN__LAUNCH(ok, y->ctx, "im2col", nn__k_im2col, nn__grid(cnt * K * P), NN__BLOCK, cg, cnt,
                           NN__F32(x) + (n0 * C + g * Cg) * H * W, C * H * W, col, cnt * P, P);
                ok = ok && (a = nn__cuda_rows(y->ctx, gyg, Og, cnt, P, O * P, gyr)) != NULL
                     && nn__cuda_gemm(y->ctx, 1, Og, K, cnt * P, 1.0f, a, cnt * P, 0, 0, col, cnt * P, 0, 1, 1.0f, dw + g * Og * K, K, 0);
            }
            if (dx && ok) {   /* dcol_n (K, P) = w_g^T (K, Og) @ gy_n; dx += col2im(dcol) */
                ok = nn__cuda_gemm(y->ctx, cnt, K, P, Og, 1.0f, NN__F32(w) + g * Og * K, K, 0, 1, gyg, P, O * P, 0, 0.0f, dcol, cnt * P, P);
                if (ok) NN__LAUNCH(ok, y->ctx, "col2im", nn__k_col2im, nn__grid(cnt * Cg * H * W), NN__BLOCK, cg, cnt, dcol, cnt * P, P,
                                   dx + (n0 * C + g * Cg) * H * W, C * H * W, 0, (const float *)NULL);
            }
        }
    }
    if (db && ok && N > 0)   /* the CPU's chunks: NN__CONV_CHUNKS */
        NN__LAUNCH(ok, y->ctx, "conv_bias_backward", nn__k_conv_bias_backward, nn__grid(O), NN__BLOCK, N, O, P,
                   (N + NN__CONV_CHUNKS - 1) / NN__CONV_CHUNKS, gy, db);
    nn__arena_rewind(y->ctx, m);
    return ok;
}
/* conv_transpose2d: col_n (Og*kh*kw, H*W) = w_g^T @ x_n,g, scattered (col2im) into the output */
static int nn__cuda_conv_transpose2d_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = w->shape[1], O = Og * G, kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], K = Og * kh * kw, P = H * W, nb, n0, g;
    nn__convg cg = nn__convg_of(y->ip, Og, OH, OW, kh, kw, H, W);
    nn__mark m = nn__arena_mark(y->ctx);
    float *col;
    int ok = 1;
    if (!y->numel) return 1;
    nb = nn__conv_batch(K * P, N);
    if (!(col = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(nb * K * P) * sizeof(float))))) return 0;
    for (n0 = 0; n0 < N && ok; n0 += nb) {
        int64_t cnt = N - n0 < nb ? N - n0 : nb;
        for (g = 0; g < G && ok; g++) {
            ok = nn__cuda_gemm(y->ctx, cnt, K, P, Cg, 1.0f, NN__F32(w) + g * Cg * K, K, 0, 1, NN__F32(x) + (n0 * C + g * Cg) * P, P, C * P, 0,
                               0.0f, col, cnt * P, P);
            if (ok) NN__LAUNCH(ok, y->ctx, "col2im", nn__k_col2im, nn__grid(cnt * Og * OH * OW), NN__BLOCK, cg, cnt, col, cnt * P, P,
                               NN__F32(y) + (n0 * O + g * Og) * OH * OW, O * OH * OW, 1, b ? NN__F32(b) + g * Og : (const float *)NULL);
        }
    }
    nn__arena_rewind(y->ctx, m);
    return ok;
}
static int nn__cuda_conv_transpose2d_backward(nn_tensor *y) {
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = nn__gbuf(x), *dw = nn__gbuf(w), *db = nn__gbuf(b), *col = NULL, *xr = NULL;
    const float *gy = NN__F32(y->grad), *a;
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = y->ip[6], Cg = C / G, Og = w->shape[1], O = Og * G, kh = w->shape[2], kw = w->shape[3];
    int64_t OH = y->shape[2], OW = y->shape[3], K = Og * kh * kw, P = H * W, nb, n0, g;
    nn__convg cg = nn__convg_of(y->ip, Og, OH, OW, kh, kw, H, W);
    nn__mark m = nn__arena_mark(y->ctx);
    int ok = 1;
    if (!y->numel) return 1;
    nb = nn__conv_batch(K * P, N);
    if (((dx || dw) && !(col = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(nb * K * P) * sizeof(float)))))
        || (dw && !(xr = NN__CAST(float *, nn__cuda_scratch(y->ctx, (size_t)(nb * Cg * P) * sizeof(float)))))) {
        nn__arena_rewind(y->ctx, m);
        return 0;
    }
    for (n0 = 0; n0 < N && ok && (dx || dw); n0 += nb) {
        int64_t cnt = N - n0 < nb ? N - n0 : nb;
        for (g = 0; g < G && ok; g++) {   /* dcol (K, cnt P) = im2col(gy_g) */
            NN__LAUNCH(ok, y->ctx, "im2col", nn__k_im2col, nn__grid(cnt * K * P), NN__BLOCK, cg, cnt, gy + (n0 * O + g * Og) * OH * OW,
                       O * OH * OW, col, cnt * P, P);
            if (dx && ok)   /* dx_n,g (Cg, P) += w_g (Cg, K) @ dcol_n */
                ok = nn__cuda_gemm(y->ctx, cnt, Cg, P, K, 1.0f, NN__F32(w) + g * Cg * K, K, 0, 0, col, cnt * P, P, 0, 1.0f,
                                   dx + (n0 * C + g * Cg) * P, P, C * P);
            if (dw && ok)   /* dw_g (Cg, K) += x_g (Cg, cnt P) @ dcol^T: one GEMM over the cnt samples */
                ok = (a = nn__cuda_rows(y->ctx, NN__F32(x) + (n0 * C + g * Cg) * P, Cg, cnt, P, C * P, xr)) != NULL
                     && nn__cuda_gemm(y->ctx, 1, Cg, K, cnt * P, 1.0f, a, cnt * P, 0, 0, col, cnt * P, 0, 1, 1.0f, dw + g * Cg * K, K, 0);
        }
    }
    if (db && ok && N > 0)   /* one double sum over the batch, as the CPU */
        NN__LAUNCH(ok, y->ctx, "conv_bias_backward", nn__k_conv_bias_backward, nn__grid(O), NN__BLOCK, N, O, OH * OW, N, gy, db);
    nn__arena_rewind(y->ctx, m);
    return ok;
}

/* ---- pooling: one thread per output (forward) or per input element (backward, gathering the
   outputs that read it in the CPU's order, no atomics); the window rules are nn.h's ---- */
typedef struct nn__poolg { int64_t NC, H, W, OH, OW, k, s, p, d, cip; int adaptive; } nn__poolg;
static nn__poolg nn__poolg_of(const nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    nn__poolg g;
    g.NC = x->shape[0] * x->shape[1]; g.H = x->shape[2]; g.W = x->shape[3]; g.OH = y->shape[2]; g.OW = y->shape[3];
    g.k = y->ip[0]; g.s = y->ip[1]; g.p = y->ip[2]; g.d = y->ip[3]; g.cip = y->ip[4]; g.adaptive = y->op == NN_OP_ADAPTIVE_AVG_POOL2D;
    return g;
}
static __global__ void nn__k_maxpool_forward(nn__poolg g, const float *x, float *y, int64_t *arg) {
    NN__FOR_EACH(q, g.NC * g.OH * g.OW) {
        int64_t c = q / (g.OH * g.OW), o = q % (g.OH * g.OW);
        y[q] = nn__maxpool_at(x + c * g.H * g.W, g.H, g.W, o / g.OW, o % g.OW, g.k, g.s, g.p, g.d, &arg[q]);
    }
}
/* [lo, hi] of the outputs whose window (start o*s - p, span ext) can hold input position i */
static NN_HD inline void nn__pool_span(int64_t i, int64_t s, int64_t p, int64_t ext, int64_t n, int64_t *lo, int64_t *hi) {
    int64_t a = i + p - ext;
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    *hi = (i + p) / s;
    if (*hi > n - 1) *hi = n - 1;
}
static __global__ void nn__k_maxpool_backward(nn__poolg g, const int64_t *arg, const float *gy, float *dx) {
    NN__FOR_EACH(e, g.NC * g.H * g.W) {
        int64_t c = e / (g.H * g.W), at = e % (g.H * g.W), h0, h1, w0, w1, oh, ow;
        const int64_t *a = arg + c * g.OH * g.OW;
        const float *gp = gy + c * g.OH * g.OW;
        float acc = dx[e];
        nn__pool_span(at / g.W, g.s, g.p, (g.k - 1) * g.d, g.OH, &h0, &h1);
        nn__pool_span(at % g.W, g.s, g.p, (g.k - 1) * g.d, g.OW, &w0, &w1);
        for (oh = h0; oh <= h1; oh++) for (ow = w0; ow <= w1; ow++) if (a[oh * g.OW + ow] == at) acc += gp[oh * g.OW + ow];
        dx[e] = acc;
    }
}
static __global__ void nn__k_avgpool_forward(nn__poolg g, const float *x, float *y) {
    NN__FOR_EACH(q, g.NC * g.OH * g.OW) {
        int64_t c = q / (g.OH * g.OW), o = q % (g.OH * g.OW), h0, h1, w0, w1;
        int64_t div = nn__pool_window_at(g.adaptive, g.k, g.s, g.p, g.cip, g.H, g.W, g.OH, g.OW, o / g.OW, o % g.OW, &h0, &h1, &w0, &w1);
        y[q] = nn__avgpool_at(x + c * g.H * g.W, g.W, h0, h1, w0, w1, div);
    }
}
static __global__ void nn__k_avgpool_backward(nn__poolg g, const float *gy, float *dx) {
    NN__FOR_EACH(e, g.NC * g.H * g.W) {
        int64_t c = e / (g.H * g.W), ih = (e / g.W) % g.H, iw = e % g.W, hl, hh, wl, wh, oh, ow;
        const float *gp = gy + c * g.OH * g.OW;
        float acc = dx[e];
        if (g.adaptive) {   /* a superset of the windows holding (ih, iw); the test below picks them */
            hl = ih * g.OH / g.H - 1; hh = (ih + 1) * g.OH / g.H + 1; wl = iw * g.OW / g.W - 1; wh = (iw + 1) * g.OW / g.W + 1;
            if (hl < 0) hl = 0;
            if (wl < 0) wl = 0;
            if (hh > g.OH - 1) hh = g.OH - 1;
            if (wh > g.OW - 1) wh = g.OW - 1;
        } else {
            nn__pool_span(ih, g.s, g.p, g.k - 1, g.OH, &hl, &hh);
            nn__pool_span(iw, g.s, g.p, g.k - 1, g.OW, &wl, &wh);
        }
        for (oh = hl; oh <= hh; oh++) for (ow = wl; ow <= wh; ow++) {
            int64_t h0, h1, w0, w1, div = nn__pool_window_at(g.adaptive, g.k, g.s, g.p, g.cip, g.H, g.W, g.OH, g.OW, oh, ow, &h0, &h1, &w0, &w1);
            if (ih >= h0 && ih < h1 && iw >= w0 && iw < w1) acc += gp[oh * g.OW + ow] / (float)div;
        }
        dx[e] = acc;
    }
}
static int nn__cuda_pool_forward(nn_tensor *y) {
    nn__poolg g = nn__poolg_of(y);
    int ok;
    if (y->op == NN_OP_MAX_POOL2D) {   /* the argmax lives on the device: nn.h's host one is replaced */
        int64_t *arg = NN__CAST(int64_t *, nn__cuda_scratch(y->ctx, (size_t)(y->numel ? y->numel : 1) * sizeof(int64_t)));
        if (!arg) return 0;
        y->saved = arg;
        NN__LAUNCH(ok, y->ctx, "maxpool_forward", nn__k_maxpool_forward, nn__grid(y->numel), NN__BLOCK, g, NN__F32(y->src[0]), NN__F32(y), arg);
    } else NN__LAUNCH(ok, y->ctx, "avgpool_forward", nn__k_avgpool_forward, nn__grid(y->numel), NN__BLOCK, g, NN__F32(y->src[0]), NN__F32(y));
    return ok;
}
static int nn__cuda_pool_backward(nn_tensor *y) {
    nn__poolg g = nn__poolg_of(y);
    float *dx = nn__gbuf(y->src[0]);
    int ok;
    if (!dx) return 1;
    if (y->op == NN_OP_MAX_POOL2D)
        NN__LAUNCH(ok, y->ctx, "maxpool_backward", nn__k_maxpool_backward, nn__grid(y->src[0]->numel), NN__BLOCK, g,
                   NN__CAST(const int64_t *, y->saved), NN__F32(y->grad), dx);
    else NN__LAUNCH(ok, y->ctx, "avgpool_backward", nn__k_avgpool_backward, nn__grid(y->src[0]->numel), NN__BLOCK, g, NN__F32(y->grad), dx);
    return ok;
}

/* ---- cat: each input's (outer, X) block into y (outer, Y) at column at ---- */
static __global__ void nn__k_cat_forward(int64_t O, int64_t X, int64_t Y, int64_t at, const float *x, float *y) {
    NN__FOR_EACH(q, O * X) y[(q / X) * Y + at + q % X] = x[q];
}
static __global__ void nn__k_cat_backward(int64_t O, int64_t X, int64_t Y, int64_t at, const float *g, float *dx) {
    NN__FOR_EACH(q, O * X) dx[q] += g[(q / X) * Y + at + q % X];
}
static int nn__cuda_cat_forward(nn_tensor *y) {
    int64_t O = y->ip[0], I = y->ip[1], at = 0, Y = y->ndim ? y->shape[y->ip[2]] * I : I;
    int k, ok = 1;
    for (k = 0; k < y->nsrc && ok; k++) {
        const nn_tensor *x = y->src[k];
        int64_t X = x->shape[y->ip[2]] * I;
        if (O * X > 0) NN__LAUNCH(ok, y->ctx, "cat_forward", nn__k_cat_forward, nn__grid(O * X), NN__BLOCK, O, X, Y, at, NN__F32(x), NN__F32(y));
        at += X;
    }
    return ok;
}
static int nn__cuda_cat_backward(nn_tensor *y) {
    int64_t O = y->ip[0], I = y->ip[1], at = 0, Y = y->shape[y->ip[2]] * I;
    int k, ok = 1;
    for (k = 0; k < y->nsrc && ok; k++) {
        const nn_tensor *x = y->src[k];
        int64_t X = x->shape[y->ip[2]] * I;
        float *dx = nn__gbuf(x);
        if (dx && O * X > 0) NN__LAUNCH(ok, y->ctx, "cat_backward", nn__k_cat_backward, nn__grid(O * X), NN__BLOCK, O, X, Y, at, NN__F32(y->grad), dx);
        at += X;
    }
    return ok;
}

/* ---- one_hot, to_dtype, topk (int64 results: no backward) ---- */
/* y (n, C) int64, zeroed before; a class out of range sets the flag (bad[1] = the class) */
static __global__ void nn__k_one_hot(int64_t n, int64_t C, const int64_t *ix, int64_t *y, int64_t *bad) {
    NN__FOR_EACH(i, n) {
        int64_t v = ix[i];
        if (v < 0 || v >= C) { bad[0] = 1; bad[1] = v; continue; }
        y[i * C + v] = 1;
    }
}
/* float32 -> int64 (truncating; a value with no int64 sets the flag, bad[1] = its position) or int64 -> float32 */
static __global__ void nn__k_to_dtype(int64_t n, int to_i64, const void *x, void *y, int64_t *bad) {
    NN__FOR_EACH(i, n) {
        if (to_i64) {
            float v = ((const float *)x)[i];
            if (!(v > -9.2e18f && v < 9.2e18f)) { bad[0] = 1; bad[1] = i; ((int64_t *)y)[i] = 0; continue; }
            ((int64_t *)y)[i] = (int64_t)v;
        } else ((float *)y)[i] = (float)((const int64_t *)x)[i];
    }
}
/* one thread per (outer, inner) line running nn.h's nn__topk_sort (ws: 2 D int64 per line) */
static __global__ void nn__k_topk(int64_t O, int64_t D, int64_t I, int64_t K, int largest, const float *x, int64_t *y, int64_t *ws) {
    NN__FOR_EACH(q, O * I) {
        int64_t o = q / I, in = q % I, i, *a = ws + q * 2 * D;
        const int64_t *r = nn__topk_sort(x + o * D * I + in, D, I, largest, a, a + D);
        for (i = 0; i < K; i++) y[(o * K + i) * I + in] = r[i];
    }
}
/* the flag's two values read back (and the flag freed): 1, or 0 when the launch or the copy failed */
static int nn__cuda_flag_take(nn_ctx *ctx, int64_t *bad, int launched, int64_t *h) {
    int ok = launched && nn__dev_to_host(ctx, h, bad, 2 * sizeof(int64_t));
    nn_cuda_free(ctx, bad, 2 * sizeof(int64_t));
    return ok;
}
static int nn__cuda_one_hot_forward(nn_tensor *y) {
    int64_t C = y->shape[y->ndim - 1], n = y->src[0]->numel, h[2] = { 0, 0 }, *bad;
    int ok;
    if (!nn__cuda_zero(y->ctx, y->data, (size_t)y->numel * sizeof(int64_t))) return 0;
    if (!n) return 1;
    if (!(bad = nn__cuda_flag_new(y->ctx))) return 0;
    NN__LAUNCH(ok, y->ctx, "one_hot", nn__k_one_hot, nn__grid(n), NN__BLOCK, n, C, NN__I64(y->src[0]), NN__I64(y), bad);
    if (!nn__cuda_flag_take(y->ctx, bad, ok, h)) return 0;
    if (h[0]) { nn__err(y->ctx, "nn_one_hot: class %lld is not in [0, %lld)", (long long)h[1], (long long)C); return 0; }
    return 1;
}
static int nn__cuda_one_hot_backward(nn_tensor *y) { (void)y; return 1; }
static int nn__cuda_to_dtype_forward(nn_tensor *y) {
    const nn_tensor *x = y->src[0];
    int64_t h[2] = { 0, 0 }, *bad;
    int to_i64 = x->dtype == NN_FLOAT32 && y->dtype == NN_INT64, ok;
    if (!to_i64 && !(x->dtype == NN_INT64 && y->dtype == NN_FLOAT32)) {
        nn__err(y->ctx, "nn_to_dtype: no conversion from %s to %s yet", nn_dtype_name(x->dtype), nn_dtype_name(y->dtype));
        return 0;
    }
    if (!y->numel) return 1;
    if (!(bad = nn__cuda_flag_new(y->ctx))) return 0;
    NN__LAUNCH(ok, y->ctx, "to_dtype", nn__k_to_dtype, nn__grid(y->numel), NN__BLOCK, y->numel, to_i64, NN__CAST(const void *, x->data),
               NN__CAST(void *, y->data), bad);
    if (!nn__cuda_flag_take(y->ctx, bad, ok, h)) return 0;
    if (h[0]) {
        float v = 0.0f;
        if (!nn__dev_to_host(y->ctx, &v, NN__F32(x) + h[1], sizeof v)) return 0;
        nn__err(y->ctx, "nn_to_dtype: %g at position %lld has no int64 value", (double)v, (long long)h[1]);
        return 0;
    }
    return 1;
}
static int nn__cuda_to_dtype_backward(nn_tensor *y) { (void)y; return 1; }
static int nn__cuda_topk_forward(nn_tensor *y) {
    int64_t O = y->ip[0], D = y->ip[1], I = y->ip[2], *ws;
    nn__mark m = nn__arena_mark(y->ctx);
    int ok;
    if (!y->numel) return 1;
    if (!(ws = NN__CAST(int64_t *, nn__cuda_scratch(y->ctx, (size_t)(O * I * 2 * D) * sizeof(int64_t))))) return 0;
    NN__LAUNCH(ok, y->ctx, "topk", nn__k_topk, nn__grid(O * I), NN__BLOCK, O, D, I, y->ip[3], (int)y->ip[4], NN__F32(y->src[0]), NN__I64(y), ws);
    nn__arena_rewind(y->ctx, m);
    return ok;
}
static int nn__cuda_topk_backward(nn_tensor *y) { (void)y; return 1; }

/* The ops with a CUDA kernel: one line each (NN__CUDA_HAS_<op>). Every other row of NN__OP_LIST
   gets NULL, and nn.h's dispatcher reports "no kernel for device 1". */
#define NN__CUDA_HAS_LEAF ~, 1
#define NN__CUDA_HAS_ADD ~, 1
#define NN__CUDA_HAS_SUB ~, 1
#define NN__CUDA_HAS_MUL ~, 1
#define NN__CUDA_HAS_DIV ~, 1
#define NN__CUDA_HAS_POW ~, 1
#define NN__CUDA_HAS_MAXIMUM ~, 1
#define NN__CUDA_HAS_MINIMUM ~, 1
#define NN__CUDA_HAS_WHERE ~, 1
#define NN__CUDA_HAS_ADD_SCALAR ~, 1
#define NN__CUDA_HAS_MUL_SCALAR ~, 1
#define NN__CUDA_HAS_DIV_SCALAR ~, 1
#define NN__CUDA_HAS_POW_SCALAR ~, 1
#define NN__CUDA_HAS_NEG ~, 1
#define NN__CUDA_HAS_EXP ~, 1
#define NN__CUDA_HAS_LOG ~, 1
#define NN__CUDA_HAS_SQRT ~, 1
#define NN__CUDA_HAS_ABS ~, 1
#define NN__CUDA_HAS_CLAMP ~, 1
#define NN__CUDA_HAS_RELU ~, 1
#define NN__CUDA_HAS_LEAKY_RELU ~, 1
#define NN__CUDA_HAS_SIGMOID ~, 1
#define NN__CUDA_HAS_TANH ~, 1
#define NN__CUDA_HAS_GELU ~, 1
#define NN__CUDA_HAS_SILU ~, 1
#define NN__CUDA_HAS_SOFTPLUS ~, 1
#define NN__CUDA_HAS_SIN ~, 1
#define NN__CUDA_HAS_COS ~, 1
#define NN__CUDA_HAS_SUM ~, 1
#define NN__CUDA_HAS_MEAN ~, 1
#define NN__CUDA_HAS_VAR ~, 1
#define NN__CUDA_HAS_STD ~, 1
#define NN__CUDA_HAS_MAX ~, 1
#define NN__CUDA_HAS_MIN ~, 1
#define NN__CUDA_HAS_LOGSUMEXP ~, 1
#define NN__CUDA_HAS_SOFTMAX ~, 1
#define NN__CUDA_HAS_LOG_SOFTMAX ~, 1
#define NN__CUDA_HAS_COPY ~, 1
#define NN__CUDA_HAS_RESHAPE ~, 1
#define NN__CUDA_HAS_TRANSPOSE ~, 1
#define NN__CUDA_HAS_PERMUTE ~, 1
#define NN__CUDA_HAS_SLICE ~, 1
#define NN__CUDA_HAS_SELECT ~, 1
#define NN__CUDA_HAS_SQUEEZE ~, 1
#define NN__CUDA_HAS_UNSQUEEZE ~, 1
#define NN__CUDA_HAS_TRIL ~, 1
#define NN__CUDA_HAS_TRIU ~, 1
#define NN__CUDA_HAS_MASKED_FILL ~, 1
#define NN__CUDA_HAS_GATHER ~, 1
#define NN__CUDA_HAS_INDEX_SELECT ~, 1
#define NN__CUDA_HAS_MATMUL ~, 1
#define NN__CUDA_HAS_LINEAR ~, 1
#define NN__CUDA_HAS_DROPOUT ~, 1
#define NN__CUDA_HAS_BATCH_NORM ~, 1
#define NN__CUDA_HAS_LAYER_NORM ~, 1
#define NN__CUDA_HAS_NLL_LOSS ~, 1
#define NN__CUDA_HAS_BCE_WITH_LOGITS ~, 1
#define NN__CUDA_HAS_BCE ~, 1
#define NN__CUDA_HAS_HUBER ~, 1
#define NN__CUDA_HAS_CONV2D ~, 1
#define NN__CUDA_HAS_CONV_TRANSPOSE2D ~, 1
#define NN__CUDA_HAS_MAX_POOL2D ~, 1
#define NN__CUDA_HAS_AVG_POOL2D ~, 1
#define NN__CUDA_HAS_ADAPTIVE_AVG_POOL2D ~, 1
#define NN__CUDA_HAS_CAT ~, 1
#define NN__CUDA_HAS_ONE_HOT ~, 1
#define NN__CUDA_HAS_TO_DTYPE ~, 1
#define NN__CUDA_HAS_TOPK ~, 1
#define nn__cuda_leaf_forward nn__leaf_forward
#define nn__cuda_leaf_backward nn__leaf_backward

#define NN__CUDA_SECOND(a, b, ...) b
#define NN__CUDA_PROBE(...) NN__CUDA_SECOND(__VA_ARGS__, 0, ~)
#define NN__CUDA_CAT(a, b) NN__CUDA_CAT_(a, b)
#define NN__CUDA_CAT_(a, b) a##b
#define NN__CUDA_IF_1(yes, no) yes
#define NN__CUDA_IF_0(yes, no) no
#define NN__CUDA_ROW(name, str, family) \
    NN__CUDA_CAT(NN__CUDA_IF_, NN__CUDA_PROBE(NN__CUDA_HAS_##name)) \
        ({ nn__cuda_##family##_forward COMMA nn__cuda_##family##_backward }, { NULL COMMA NULL }),
#define COMMA ,
static const nn__kernels nn__cuda_kernels[NN_OP_COUNT] = { NN__OP_LIST(NN__CUDA_ROW) };
#undef COMMA
static const nn__kernels *nn__cuda_table(void) { return nn__cuda_kernels; }

/* ---- nn_fill_ and the optimizers' fused updates (the rules are nn.h's section math) ---- */
static __global__ void nn__k_fill(nn__geom gt, int64_t n, int i64, void *t, float v) {
    NN__FOR_EACH(i, n) {
        int64_t off = nn__geom_offset(&gt, i);
        if (i64) ((int64_t *)t)[off] = (int64_t)v;
        else ((float *)t)[off] = v;
    }
}
static void nn__cuda_fill(nn_tensor *t, float value) {
    int ok;
    if (t->dtype != NN_FLOAT32 && t->dtype != NN_INT64) { nn__err(t->ctx, "nn_fill_: no kernel for %s", nn_dtype_name(t->dtype)); return; }
    if (!t->numel) return;
    NN__LAUNCH(ok, t->ctx, "fill", nn__k_fill, nn__grid(t->numel), NN__BLOCK, nn__geom_of(t->ndim, t->shape, t->stride), t->numel,
               t->dtype == NN_INT64, t->data, value);
    if (!ok) return;   /* (the error is in ctx) */
}
/* clip_grad_norm_: up to 1024 threads, each joining the terms of one run of consecutive elements
   in double (nn.h's nn__norm_term/_join, the CPU's order within the run); the host joins the runs */
static __global__ void nn__k_grad_norm_parts(const float *g, int64_t n, int64_t chunk, int64_t parts, float norm_type, double *out) {
    NN__FOR_EACH(t, parts) {
        int64_t i, e = (t + 1) * chunk < n ? (t + 1) * chunk : n;
        double acc = 0.0;
        for (i = t * chunk; i < e; i++) acc = nn__norm_join(acc, nn__norm_term(g[i], norm_type), norm_type);
        out[t] = acc;
    }
}
static __global__ void nn__k_scale_inplace(float *g, int64_t n, float coef) { NN__FOR_EACH(i, n) g[i] *= coef; }
static __global__ void nn__k_clip_inplace(float *g, int64_t n, float clip) { NN__FOR_EACH(i, n) g[i] = nn__clip_value(g[i], clip); }
static int nn__cuda_grad_ok(const nn_tensor *g, const char *fn) {
    if (g->dtype == NN_FLOAT32 && nn_is_contiguous(g)) return 1;
    nn__err(g->ctx, "%s: a gradient on the GPU is %s%s; expected a contiguous float32 one", fn, nn_is_contiguous(g) ? "" : "strided ",
            nn_dtype_name(g->dtype));
    return 0;
}
static int nn__cuda_grad_norm(const nn_tensor *g, float norm_type, double *total) {
    nn_ctx *ctx = g->ctx;
    int64_t parts = g->numel < 1024 ? g->numel : 1024, chunk, t;
    double host[1024], *dev;
    int ok = 0;
    if (!nn__cuda_grad_ok(g, "nn_clip_grad_norm")) return 0;
    if (!g->numel) return 1;
    chunk = (g->numel + parts - 1) / parts;
    parts = (g->numel + chunk - 1) / chunk;
    if ((dev = NN__CAST(double *, nn_cuda_malloc(ctx, (size_t)parts * sizeof(double)))) != NULL) {   /* (cached: no cudaMalloc after the first) */
        NN__LAUNCH(ok, ctx, "grad_norm_parts", nn__k_grad_norm_parts, nn__grid(parts), NN__BLOCK, NN__CAST(const float *, g->data), g->numel,
                   chunk, parts, norm_type, dev);
        ok = ok && nn__dev_to_host(ctx, host, dev, (size_t)parts * sizeof(double));
        nn_cuda_free(ctx, dev, (size_t)parts * sizeof(double));
    }
    for (t = 0; ok && t < parts; t++) *total = nn__norm_join(*total, host[t], norm_type);
    return ok;
}
static int nn__cuda_scale_(nn_tensor *g, float coef) {
    int ok = 1;
    if (!nn__cuda_grad_ok(g, "nn_clip_grad_norm")) return 0;
    if (g->numel) NN__LAUNCH(ok, g->ctx, "scale_inplace", nn__k_scale_inplace, nn__grid(g->numel), NN__BLOCK, NN__CAST(float *, g->data), g->numel, coef);
    return ok;
}
static int nn__cuda_clip_(nn_tensor *g, float clip) {
    int ok = 1;
    if (!nn__cuda_grad_ok(g, "nn_clip_grad_value")) return 0;
    if (g->numel) NN__LAUNCH(ok, g->ctx, "clip_inplace", nn__k_clip_inplace, nn__grid(g->numel), NN__BLOCK, NN__CAST(float *, g->data), g->numel, clip);
    return ok;
}
/* dry (bad != NULL): nothing is written; an element whose new value is not finite goes to bad[0] = 1,
   bad[1] = its index (any one of them: threads race to write it) */
static __global__ void nn__k_sgd(nn__sgd_args a, int64_t n, int64_t *bad) {
    NN__FOR_EACH(i, n) {
        float p, b;
        int fin = nn__sgd_rule(&a, a.p[i], a.g[i], a.buf ? a.buf[i] : 0.0f, &p, &b);
        if (bad) { if (!fin) { bad[0] = 1; bad[1] = i; } continue; }
        if (a.buf) a.buf[i] = b;
        a.p[i] = p;
    }
}
static __global__ void nn__k_adam(nn__adam_args a, int64_t n, int64_t *bad) {
    NN__FOR_EACH(i, n) {
        float p, m, v, vm;
        int fin = nn__adam_rule(&a, a.p[i], a.g[i], a.m[i], a.v[i], a.vmax ? a.vmax[i] : 0.0f, &p, &m, &v, &vm);
        if (bad) { if (!fin) { bad[0] = 1; bad[1] = i; } continue; }
        a.m[i] = m; a.v[i] = v;
        if (a.vmax) a.vmax[i] = vm;
        a.p[i] = p;
    }
}
static __global__ void nn__k_rmsprop(nn__rmsprop_args r, int64_t n, int64_t *bad) {
    NN__FOR_EACH(i, n) {
        float p, sq, b, ga;
        int fin = nn__rmsprop_rule(&r, r.p[i], r.g[i], r.sq[i], r.buf ? r.buf[i] : 0.0f, r.ga ? r.ga[i] : 0.0f, &p, &sq, &b, &ga);
        if (bad) { if (!fin) { bad[0] = 1; bad[1] = i; } continue; }
        r.sq[i] = sq;
        if (r.buf) r.buf[i] = b;
        if (r.ga) r.ga[i] = ga;
        r.p[i] = p;
    }
}
static __global__ void nn__k_adagrad(nn__adagrad_args r, int64_t n, int64_t *bad) {
    NN__FOR_EACH(i, n) {
        float p, sum;
        int fin = nn__adagrad_rule(&r, r.p[i], r.g[i], r.sum[i], &p, &sum);
        if (bad) { if (!fin) { bad[0] = 1; bad[1] = i; } continue; }
        r.sum[i] = sum;
        r.p[i] = p;
    }
}
/* the check's flag read back (one synchronising copy per parameter in the check pass) */
static void nn__cuda_opt_flag(nn_ctx *ctx, int64_t *flag, int launched, int64_t *dry) {
    int64_t h[2] = { 0, 0 };
    if (launched && nn__dev_to_host(ctx, h, flag, sizeof h) && h[0]) *dry = h[1];
    else if (!launched || ctx->has_error) *dry = 0;   /* a failed launch refuses the step too */
    nn_cuda_free(ctx, flag, 2 * sizeof(int64_t));
}
#define NN__CUDA_OPT(fn, kernel, args_t, name) \
    static void fn(nn_ctx *ctx, const args_t *a, int64_t n, int64_t *dry) { \
        int64_t *flag = NULL; int ok; \
        if (!n) return; \
        if (dry && !(flag = nn__cuda_flag_new(ctx))) { *dry = 0; return; } \
        NN__LAUNCH(ok, ctx, name, kernel, nn__grid(n), NN__BLOCK, *a, n, flag); \
        if (dry) nn__cuda_opt_flag(ctx, flag, ok, dry); }
NN__CUDA_OPT(nn__cuda_sgd, nn__k_sgd, nn__sgd_args, "sgd")
NN__CUDA_OPT(nn__cuda_adam, nn__k_adam, nn__adam_args, "adam")
NN__CUDA_OPT(nn__cuda_rmsprop, nn__k_rmsprop, nn__rmsprop_args, "rmsprop")
NN__CUDA_OPT(nn__cuda_adagrad, nn__k_adagrad, nn__adagrad_args, "adagrad")

/* ---- moving tensors ---- */
/* nn_to between the CPU and the GPU: a new tensor (persistent from a persistent one, else in the
   step arena) holding a contiguous copy; a strided source is gathered on its own side first. */
static nn_tensor *nn__cuda_to(nn_tensor *t, nn_device device) {
    nn_ctx *ctx = t->ctx;
    size_t bytes = (size_t)t->numel * nn_dtype_size(t->dtype);
    int persistent = (t->flags & NN__PERSISTENT) != 0, ok = 1;
    nn_tensor *c;
    if (!nn__dev_count(ctx)) return NULL;
    c = persistent ? nn__new_persistent_on(ctx, "nn_to", t->ndim, t->shape, t->dtype, device)
                   : nn__new_arena_on(ctx, "nn_to", t->ndim, t->shape, 1, t->dtype, device);
    if (!c || !t->numel) return c;
    if (device == NN_CUDA) {   /* host to device */
        void *tmp = NULL;
        const void *src = t->data;
        if (!nn_is_contiguous(t)) {
            if (!(tmp = nn__malloc(bytes))) { nn__err(ctx, "nn_to: out of host memory"); ok = 0; }
            else { nn__gather_strided(tmp, t); src = tmp; }
        }
        ok = ok && nn__dev_from_host(ctx, c->data, src, bytes);
        nn__free(tmp);
    } else {                   /* device to host */
        nn__mark m = nn__arena_mark(ctx);
        const char *src = NN__CAST(const char *, t->data);
        if (!nn_is_contiguous(t)) {
            char *tmp = NN__CAST(char *, nn__cuda_scratch(ctx, bytes));
            if (tmp) NN__LAUNCH(ok, ctx, "copy_forward", nn__k_copy_forward, nn__grid(t->numel), NN__BLOCK,
                                nn__geom_of(t->ndim, t->shape, t->stride), t->numel, (int)nn_dtype_size(t->dtype), src, tmp);
            ok = ok && tmp != NULL;
            src = tmp;
        }
        ok = ok && nn__dev_to_host(ctx, c->data, src, bytes);
        if (persistent) nn__arena_rewind(ctx, m);
    }
    if (!ok) { nn_free(c); return NULL; }
    return c;
}

/* nn_module_to: a persistent tensor's data moved in place (the header stays where it is). A tensor
   made on the CPU keeps its host room, so it can come back; its gradient moves as a new tensor. */
static int nn__cuda_move(nn_tensor *t, nn_device device) {
    nn_ctx *ctx = t->ctx;
    size_t es = nn_dtype_size(t->dtype), bytes = (size_t)t->numel * es, head = (sizeof(nn_tensor) + 63) & ~(size_t)63;
    nn_tensor *g = NULL;   /* the gradient's copy, made first: a failure anywhere leaves t as it was */
    if (!(t->flags & NN__PERSISTENT)) { nn__err(ctx, "nn_module_to: a parameter or buffer is a step tensor; it cannot move in place"); return 0; }
    if (!nn__dev_count(ctx)) return 0;
    if (t->grad && !(g = nn_to(t->grad, device))) return 0;
    if (device == NN_CUDA) {
        void *dev = nn__cuda_data_alloc(ctx, bytes ? bytes : es);
        if (!dev) { nn__err(ctx, "nn_module_to: cannot allocate %lld elements on the GPU", (long long)t->numel); nn_free(g); return 0; }
        if (bytes && !nn__dev_from_host(ctx, dev, t->data, bytes)) { nn__cuda_data_free(ctx, dev, bytes ? bytes : es); nn_free(g); return 0; }
        t->data = t->storage->ptr = dev;
    } else {
        char *host = NN__CAST(char *, (void *)t) + head;
        if (t->alloc_bytes < head + bytes) {
            nn__err(ctx, "nn_module_to: a tensor made on the GPU has no host memory to move back into; copy it with nn_to(t, NN_CPU)");
            nn_free(g);
            return 0;
        }
        if (bytes && !nn__dev_to_host(ctx, host, t->data, bytes)) { nn_free(g); return 0; }
        nn__cuda_data_free(ctx, t->data, bytes ? bytes : es);
        t->data = t->storage->ptr = host;
    }
    t->device = t->storage->device = device;
    if (g) { nn_free(t->grad); t->grad = g; }
    return 1;
}

/* nn_keep of a device tensor: a persistent contiguous copy on the device */
static nn_tensor *nn__cuda_keep(const nn_tensor *t) {
    nn_tensor *k = nn__new_persistent_on(t->ctx, "nn_keep", t->ndim, t->shape, t->dtype, NN_CUDA);
    int ok = 1;
    if (k && t->numel) NN__LAUNCH(ok, t->ctx, "copy_forward", nn__k_copy_forward, nn__grid(t->numel), NN__BLOCK,
                                  nn__geom_of(t->ndim, t->shape, t->stride), t->numel, (int)nn_dtype_size(t->dtype),
                                  (const char *)t->data, (char *)k->data);
    if (!ok) { nn_free(k); return NULL; }
    return k;
}

/* nn_backward's seed on a device tensor: t.grad += grad (any strides), or += 1 */
static int nn__cuda_seed_grad(nn_tensor *t, nn_tensor *grad) {
    int ok;
    if (grad) NN__LAUNCH(ok, t->ctx, "seed_grad", nn__k_seed_grad, nn__grid(t->numel), NN__BLOCK,
                         nn__geom_of(grad->ndim, grad->shape, grad->stride), t->numel, NN__F32(grad), NN__F32(t->grad));
    else NN__LAUNCH(ok, t->ctx, "seed_grad", nn__k_seed_grad, 1, 1, nn__geom_of(0, NULL, NULL), (int64_t)1, (const float *)NULL,
                    NN__F32(t->grad));
    return ok;
}

#endif /* NN_IMPLEMENTATION */
#endif /* NN_CUDA */

/* ==== notes: the state of this backend (issue 13) ====

# CUDA backend (issue 13): the state now, then each slice's notes (newest first)

## Where it stands (fourth slice; nothing has run on a GPU: `status` said can_start_another false)

- **Every op of NN__OP_LIST has a CUDA kernel** (the parity suite prints the list and the ops
  without one: none), every optimizer a fused update, and gradient clipping its own kernels. The
  slices below give each kernel and its tolerance. GPU-only kernels: none (no shared memory,
  __syncthreads, warp ops or atomics anywhere), so every kernel runs emulated.
- **Every kernel and how it was checked.** Each one below ran emulated on the CPU (make
  test-cuda-emu reports its launch count and fails if any listed kernel never ran) and was compiled
  for sm_90 by nvcc (make cuda-build). None ran on a GPU.
  unary_forward/backward, binary_forward, binary_backward_same/_bcast, softmax_forward/backward,
  reduce_forward/backward, reduce_ties_backward, copy_forward, add_into, view_backward,
  tri_forward/backward, masked_fill_forward/backward, gather_forward/backward,
  index_select_forward/backward, seed_grad, gemm (the emulated stand-in for cuBLAS), bias_rows,
  col_sums, fill, grad_norm_parts, scale_inplace, clip_inplace, sgd, adam, rmsprop, adagrad,
  dropout_forward/backward, bn_stats, bn_forward, bn_backward_sums, bn_backward_dx, ln_stats,
  ln_forward, ln_backward_sums, ln_backward_dx, ln_backward_wb, nll_rows, nll_reduce, nll_backward,
  bce_logits_forward/backward, bce_forward/backward, huber_forward/backward, im2col, col2im,
  conv_bias, conv_bias_backward, maxpool_forward/backward, avgpool_forward/backward,
  cat_forward/backward, one_hot, to_dtype, topk. Tolerances against the CPU kernels, emulated: 0
  ULPs for all but the GEMM-based ops (matmul, linear, sdpa, conv2d, conv_transpose2d: 1e-5 of the
  largest value) and the clip totals (1e-6: the norm's terms are joined in runs on the device).
- **This slice.**
  - *The parity suite builds with nvcc.* tests/test_cuda.c (was test_cuda_emu.c) is one source:
    cc with NN_CUDA_EMULATE (make test-cuda-emu), or nvcc -x cu (make test-cuda, run by make
    cuda-build in CI). On a GPU every CPU-vs-CUDA comparison is within GPU_REL = 1e-5 of the largest
    value (CUDA's libm and FMA contraction round differently from glibc), training within 1e-4, the
    fixtures also against PyTorch, then mnist_cnn's MY_NET on both devices (cuda_example_check).
    With no GPU it checks that nn_to and nn_module_to fail with the no-GPU error (the module stays
    on the CPU and still runs), lists every part it skipped, and exits 0. tests/cuda_build.cu is gone.
  - *Saving and loading on the device.* nn__st_write_data writes a device tensor from a host copy
    (nn__cuda_to); nn__st_read converts a chunk of 2048 elements at a time on the stack and copies it
    in (nn__cuda_write), so a load still makes every allocation before it changes anything. A loaded
    optimizer's state is made on its parameter's device (it was made on the CPU: an optimizer of a
    GPU model would have run its kernels on host pointers). Before, saving a checkpoint after
    nn_module_to(m, NN_CPU) read Adam's state on the GPU from the host: a crash, now a test.
  - *Gradient clipping on the device.* `grad_norm_parts` (up to 1024 threads, each joining a run of
    consecutive elements in double with nn.h's nn__norm_term/nn__norm_join; the host joins the runs:
    one synchronising copy per parameter), `scale_inplace`, `clip_inplace` (nn__clip_value). The CPU
    calls the same rules.
  - *timestep_embedding* builds its frequencies on the host and moves them to t's device; its 3
    fixture cases now run on CUDA (208 in all). *one_hot(-1)* copies a device index back for its
    max, as PyTorch's index.max() waits.
  - *nn_module_to* moves the tensors it already moved back when one fails, so a module is never
    left split across devices.
  - *make bench-gpu* (bench/gpu.sh, also the end of make bench): bench/train.c built by nvcc trains
    the MLP and MY_NET (28x28x1 and 48x48x3) on the GPU next to bench/torch_bench.py on the same GPU;
    with no GPU it prints the section as skipped with the reason. Built here, never run on a GPU.
- **Verified (this machine, no GPU)**: see the closing note of issue 13 for the figures of this
  slice (make test-cuda-emu, make test-cuda-example, make cuda-build, make test, CI from a clone).
- **Not done**: any GPU run (the parity suite, MY_NET on a GPU, the GPU tolerances, make
  bench-gpu's figures); faster GPU-only kernels (block reductions for softmax/norm statistics/nll,
  shared-memory GEMM fallbacks; nll's reduction is one serial thread; the optimizer's NaN check and
  each clipped gradient's norm each synchronise once per parameter per step); multi-GPU (NCCL).
- **Device memory (third slice).** nn.h's hooks under NN_CUDA: op results on a device get their data
  from the device step arena (`nn__cuda_arena_alloc`: blocks from the caching allocator, bump-
  allocated, emptied by nn_arena_reset, a multi-block step merged into one block at the reset, and
  marked/rewound with the host arena by nn__arena_mark/rewind); persistent device tensors own a
  cached block given back by nn_free; gradients of device tensors are device tensors (zeroed with
  cudaMemset; intermediates come from the device arena, not the host's gradient pool); backward's
  seed is a kernel (`seed_grad`, a strided grad allowed); nn_item copies one element; nn_to copies
  (strided sources gathered on their own side); nn_keep and nn_fill_ run kernels; anomaly mode
  copies a tensor to the host to scan it; nn_module_to moves parameters, buffers and gradients in
  place (a tensor made on the CPU keeps its host room and can come back). Every op checks that all
  its inputs (optional ones too) are on input 0's device.
- **The guard.** Emulated device memory is one mmap'd region (from /dev/zero: strict C99 has no
  MAP_ANONYMOUS) that is PROT_NONE except while an emulated kernel runs or a cudaMemcpy/cudaMemset
  stand-in copies. Host code that reads device data therefore faults in the tests as it would crash
  on a GPU; `cuda/guard` checks that a child process doing so dies of SIGSEGV. What it cannot find:
  a kernel reading host memory (emulated kernels can), so kernels take geometry by value (nn__geom)
  and never a host pointer.
- **matmul/linear on the real path**: cuBLAS (`cublasSgemmStridedBatched`, row-major through the
  swapped-operand trick), FP32 math (no TF32, as PyTorch's default), a handle per context made on
  the first GEMM; an operand whose strides are neither row- nor column-major is copied first;
  batches loop on the host in nn.h's order (a broadcast gradient adds batch by batch).

## Branch `cudaA`: norms, dropout and the losses

Nothing here ran on a GPU: `status` said `can_start_another: false` for this task.

- **Kernels added** (20; grid-stride, no shared memory, no __syncthreads, no warp ops, no atomics:
  all run emulated, none GPU-only). Tolerance against the CPU kernels, emulated: **0 ULPs for every
  one** (outputs, every input gradient, the running statistics):

  | Kernel | Ops | How |
  |---|---|---|
  | `dropout_forward`, `dropout_backward` | dropout | the mask is drawn on the host from the context's RNG by nn.h's `nn__dropout_mask`, the CPU kernel's own loop (same draws, same order), copied to device scratch (`y->saved`); then y = x m, dx += g m per element. Same seed, same result on both devices |
  | `bn_stats` | batch_norm | one thread per channel: `nn__bn_stats_c` (double mean and variance in the CPU's order; training updates running_mean/var in place on the device; eval reads them there) |
  | `bn_forward` | batch_norm | one thread per element: `nn__bn_apply` |
  | `bn_backward_sums`, `bn_backward_dx` | batch_norm | one thread per channel: `nn__bn_sums_c` (double) and the weight/bias gradients; then one per element: `nn__bn_dx` |
  | `ln_stats`, `ln_forward` | layer_norm | one thread per row: `nn__ln_stats_row`; one per element: `nn__ln_apply` |
  | `ln_backward_sums`, `ln_backward_dx`, `ln_backward_wb` | layer_norm | one thread per row: `nn__ln_sums_row`; one per element: `nn__ln_dx`; one per column for the weight/bias gradients, adding rows in order in double (the CPU adds row by row into a double accumulator: the same sums) |
  | `nll_rows`, `nll_reduce`, `nll_backward` | nll_loss (cross_entropy) | one thread per row: `nn__nll_row_f` (weights, ignore_index, label smoothing); then ONE thread adds the rows in double in the CPU's order for the mean's divisors (saved, device) and the sum/mean (`nn__nll_reduce`): serial and deterministic, slow for very many rows. Backward: one thread per row, `nn__nll_row_b` |
  | `bce_logits_forward`, `bce_logits_backward` | bce_with_logits (pos_weight) | per element: `nn__bce_logits_f/_b` |
  | `bce_forward`, `bce_backward` | binary_cross_entropy | per element: `nn__bce_f/_dp/_dt` |
  | `huber_forward`, `huber_backward` | huber_loss, smooth_l1_loss | per element: `nn__huber_f/_k` |

  The weighted losses and bce/huber/bce_with_logits' reductions are nn.h's mul/sum/mean ops (their
  kernels existed).
- **nn.h (section math, appended at its end; the CPU kernels now call them, same order of
  operations):** `nn__bn_stats_c`, `nn__ln_stats_row`, `nn__bn_apply`, `nn__ln_apply`,
  `nn__bn_sums_c`, `nn__bn_dx`, `nn__ln_sums_row` (with the CPU's optional weight/bias
  accumulator), `nn__ln_xhat`, `nn__ln_dx`, `nn__nll_row_f`, `nn__nll_reduce`, `nn__nll_row_b`,
  `nn__bce_logits_f/_b`, `nn__bce_f/_dp/_dt`, `nn__huber_f/_k`. In the ops section, next to the
  CPU dropout kernel: `nn__dropout_mask` (host; the RNG). No other nn.h change.
- **Device memory:** saved statistics (norms: mean and invstd; nll: the two divisors; dropout: the
  mask) and temporaries (backward sums, nll's per-row terms) come from `nn__cuda_scratch`; the front
  ends' host `y->saved` is replaced by the CUDA forward (the few host bytes stay unused until the
  arena resets). No host code reads device data.
- **Errors found on the device:** an nll/cross_entropy target out of range and a
  binary_cross_entropy input outside [0, 1] set a device flag (position + 1, value); the host reads
  it back after the launch and reports the CPU's message ("nn_nll_loss: target 7 at position 1 is
  not a class in [0, 4)", "nn_bce_loss: input 1.5 at position 0 is not a probability ...", the
  value copied back with one 4-byte cudaMemcpy). Emulated the first bad position is reported, as
  on the CPU; on a GPU any one of them (the check-then-write is not atomic). One synchronising
  copy per nll/bce forward.
- **Mixed devices:** nn.h's front ends do not check that batch_norm's running statistics, weight
  and bias, layer_norm's weight and bias, nll's class weights and bce_with_logits' pos_weight are on
  the input's device. The CUDA kernels refuse such inputs with an error (`nn__cuda_inputs_here`).
  The reverse case (a CPU input with a CUDA weight) still reaches the CPU kernel, which reads guarded
  device memory (a fault emulated, garbage on a GPU): the fix belongs in those front ends (a device
  check in `nn__node` for every src would cover all ops) and was not made here (out of this
  branch's brief).
- **On a GPU (not verified):** nvcc contracts `a * b + c` into FMA by default (`-fmad=true`) and
  CUDA's expf/log1pf/log/log1p differ from glibc's by an ULP or two, so bn/ln apply, huber,
  bce_with_logits and bce can differ from the CPU by a few ULPs there; the double sums (statistics,
  nll's reduction, the backward sums) are in the CPU's order and stay exact up to that.
  Performance: `bn_stats`/`bn_backward_sums` are one thread per channel over N*S values and
  `nll_reduce` one thread over all rows; fine for correctness, slow for big batches (a block
  reduction would be a GPU-only fast path).
- **Verified (this machine, no GPU):** see the commit and the report: `make test-cuda-emu` 354
  passed, 1 failed (only `bias_rows`/`col_sums` never launched: linear's kernels, the lead's test);
  172 fixture cases on emulated CUDA (36 left out: one_hot, topk, cat, to_dtype, conv, pooling).
  New fixtures covered, all at 0 ULPs and against PyTorch through `run_case(.., NN_CUDA)`:
  batch_norm, batch_norm_eval, bn_running_mean, bn_running_var, layer_norm, layer_norm_plain,
  huber_loss, smooth_l1_loss, nll_loss, cross_entropy (9 cases: weights, ignore_index, label
  smoothing, sum/none), bce_loss, bce_with_logits. New direct tests: dropout (training, same seed
  on both devices: outputs and gradients identical), nll out-of-range target, bce input outside
  [0, 1], layer_norm with a CPU weight. A mutation (bn forward and nll's reduction times
  1.0000001f) made 15 cases fail with 1-2 ULP reports. The emulated test also ran clean under
  -fsanitize=address,undefined. tests/cpu_bits.c: main's nn.h and this branch's dumps identical
  (687 lines, cmp). `make build/test_nn && ./build/test_nn`: 1859 passed, 0 failed. `make
  compile-check`: ok (gcc, clang, g++, clang++). `make cuda-build`: nvcc (sm_90) 0 warnings; the
  20 new kernels' device symbols are in the binary; it prints the no-GPU error as before.
## Third slice, part B (branch `cudaB`): convolution, pooling, cat, one_hot, to_dtype, topk

Nothing in it has run on a GPU: no GPU on this machine; every kernel ran emulated, and nvcc compiled
the real path.

- **Kernels added** (grid-stride, no shared memory, no __syncthreads, no warp ops, no atomics, so all
  run emulated; GPU-only list still empty):

  | Kernel | Ops | Tolerance vs the CPU kernels |
  |---|---|---|
  | `im2col` | conv2d (x, forward and for the weight gradient), conv_transpose2d's backward (on the output gradient): one thread per column element, several samples per launch (columns bounded by `NN__CUDA_COL_FLOATS`, 64 MiB; the scratch comes from `nn__cuda_scratch`) | (with GEMM) 1e-5 of the largest value |
  | `col2im` | conv2d's input gradient, conv_transpose2d's forward (with the bias): the adjoint WITHOUT atomics: one thread per image element gathering the column entries that read it, in the CPU's (i, j) order | as above |
  | `conv_bias`, `conv_bias_backward` | conv2d's bias (planes filled before the GEMM accumulates, as the CPU); the bias gradient of both convolutions: a double sum per (sample, channel) added per chunk in the CPU's chunk order (NN__CONV_CHUNKS for conv2d, one chunk for the transposed) | 0 ULPs (the bias gradient is checked bit for bit in the direct tests) |
  | (GEMM) | columns in a wide layout (K, samples, P): conv2d forward and both input gradients are one strided-batched `nn__cuda_gemm` per group and pass (w shared, sa = 0; each sample's (K, P) block read with ld = samples * P); the weight gradients are ONE GEMM per group and pass over all its samples (inner size samples * P; the output gradient, or x for the transposed, gathered to (rows, samples * P) by a copy_forward launch) | cuBLAS vs the CPU's blocked FMA GEMM: 1e-5 of the largest value |
  | `maxpool_forward`, `maxpool_backward` | max_pool2d: one thread per output running nn.h's `nn__maxpool_at` (the CPU's general rule, NaN wins); the argmax is device scratch (nn.h's host `y->saved` is replaced by it in the launcher). Backward: one thread per input element adding, in the CPU's (oh, ow) order, the outputs whose argmax it is | 0 ULPs |
  | `avgpool_forward`, `avgpool_backward` | avg_pool2d, adaptive_avg_pool2d: nn.h's `nn__pool_window_at` / `nn__avgpool_at`. Backward: one thread per input element adding the shares (g / div) of the windows that hold it, in the CPU's order | 0 ULPs |
  | `cat_forward`, `cat_backward` | cat (so stack): one launch per input | 0 ULPs |
  | `one_hot` | one_hot (output zeroed with cudaMemset; a class out of range goes through the device flag: "nn_one_hot: class K is not in [0, C)"; num_classes -1 still needs a CPU index, as nn.h says) | exact |
  | `to_dtype` | float32 -> int64 (truncation; a value with no int64 goes through the flag and the host reads that one value back for the CPU's message) and int64 -> float32; other pairs: the CPU's "no conversion" error | exact |
  | `topk` | topk's indices: one thread per line running nn.h's `nn__topk_sort` (the CPU's stable merge sort; 2 D int64 of device scratch per line); the values come from the gather kernel | exact |

- **nn.h changes** (math section, appended at its end; CPU kernels of these ops only):
  `nn__maxpool_at`, `nn__pool_window_at`, `nn__avgpool_at` (pooling), `nn__topk_before` (moved
  there, now NN_HD) and `nn__topk_sort` (the merge sort, factored out of nn__topk_forward). The CPU's
  nn__pool_planes, nn__pool_window and nn__topk_forward call them with the same operations in the
  same order. The MaxPool2d(2) fast path (nn__maxpool2) is unchanged; its rule equals nn__maxpool_at's.
- **Verified (this machine, no GPU)**:
  - `make test-cuda-emu`: **373 passed, 0 failed**; 174 fixture cases ran on emulated CUDA (34 left
    out: dropout, norms, losses, timestep_embedding). New fixture ops: conv2d, conv_transpose2d,
    max_pool2d, avg_pool2d, adaptive_avg_pool2d, cat, stack, one_hot, topk, topk_indices. int64
    outputs (one_hot, topk_indices) are now compared as values (they were skipped).
    Direct cases (CPU kernels vs emulated): chunked im2col (batch 17, the test sets
    NN__CUDA_COL_FLOATS to 2000), groups/dilation/output_padding, bias gradients bit for bit, pooling
    with NaN, -inf and ties, ceil_mode, count_include_pad 0, adaptive windows that overlap and that
    upsample, topk with NaN and ties, cat with an input without gradient, to_dtype both ways, a small
    CNN end to end (conv, relu, max_pool, conv, adaptive_avg_pool, flatten, linear; it also launches
    linear's bias_rows and col_sums). Errors: one_hot with a class out of range and to_dtype of 3e19
    on the device give nn__err messages, no crash. The no-kernel test now uses dropout (falls back to
    layer_norm, or says there is nothing left to check).
  - Mutations caught: the wide layout's sample stride wrong in the row gather, the gather skipped
    for several samples, the forward GEMM's per-sample offset 0 (all fail the conv cases);
    col2im scaled by 1.0001 (conv fails at 1e-5), max_pool backward's window
    span one short (fails), avg_pool backward's g * (1/div) instead of g / div (1 ULP: fails).
    Not caught: conv_bias_backward without the chunk order (double sums of these sizes are exact
    either way).
  - tests/cpu_bits.c against main's nn.h: identical (687 lines, cmp).
  - `make build/test_nn && ./build/test_nn`: 1859 passed, 0 failed. `make compile-check`: ok.
    `make cuda-build`: 0 warnings, 38 kernel symbols.
- **Not done**: timestep_embedding on CUDA (its front end fills a host tensor and mixes devices:
  a front-end change in nn.h, outside this slice). nn_one_hot(num_classes -1) on a device index
  (needs a max reduction and a read back in the front end). im2col scratch is up to 64 MiB per
  convolution call (NN__CUDA_COL_FLOATS); conv2d's backward holds two such buffers. No timing
  was taken (no GPU).

## Second slice (branch `cuda2`): what was added, verified how, what is missing

Nothing in it has run on a GPU either: `status` said `can_start_another: false` for this task.

- **Kernels added** (all grid-stride, no shared memory, no __syncthreads, no warp ops, no atomics,
  so all run emulated; GPU-only list still empty):

  | Kernel | Ops | Tolerance vs the CPU kernels |
  |---|---|---|
  | `softmax_forward`, `softmax_backward` | softmax, log_softmax: one thread per (outer, inner) row | 0 ULPs |
  | `reduce_forward`, `reduce_backward` | sum, mean (replacing the first slice's `sum_*`), var, std, max/min (values and int64 indices), logsumexp: one thread per row | 0 ULPs |
  | `reduce_ties_backward` | max()/min() over every element: ties share the gradient. ONE thread walks all n elements (serial, deterministic; slow for big n, only a scalar's backward) | 0 ULPs |
  | `copy_forward` | copy (nn_contiguous, nn_clone): strided gather, any dtype (es bytes an element) | 0 ULPs |
  | `add_into` | copy's backward (dx += g) | 0 ULPs |
  | `view_backward` | reshape, transpose, permute, slice, select, squeeze, unsqueeze: one thread per view element scattering into x's gradient (a view maps to distinct elements, so no two threads share a target). View forward is geometry only (nn.h's own `nn__view_forward`) | 0 ULPs |
  | `tri_forward`, `tri_backward` | tril, triu (float32 and int64) | 0 ULPs |
  | `masked_fill_forward`, `masked_fill_backward` | masked_fill with a broadcast int64 mask | 0 ULPs |
  | `gather_forward`, `gather_backward` | gather. Backward: one thread per element of x's gradient, looping over index's dim d and adding the outputs whose index hits it, in the CPU's order | 0 ULPs |
  | `index_select_forward`, `index_select_backward` | index_select, and embedding (reshape + index_select). Backward: one thread per element of x's gradient, summing the selected rows in index order | 0 ULPs |

- **Shared rules in nn.h's math section** (`NN__MATH`, NN_HD): `nn__softmax_row_f/_b` and
  `nn__reduce_row_f/_b` hold the per-row rules; the CPU's `nn__softmax_forward/backward` and
  `nn__reduce_forward/backward` now loop over rows calling them, and the kernels run one row per
  thread. The same order of operations as before: the CPU results did not change (below).
- **nn.h fix**: max/min's int64 indices (`out2`) now take the values' device (they were always
  NN_CPU, so `nn_argmax` and `nn_max(..., &indices)` on a CUDA tensor returned a CPU tensor).
  No effect on CPU tensors.
- **Bad indices on the device**: gather/index_select kernels set a 2-int64 device flag (allocated
  from the caching allocator, zeroed with `cudaMemset`, read back with a checked `cudaMemcpy`; plain
  memset/memcpy when emulated); the host then reports "nn_gather: index K is out of range ..."
  through nn__err. On a GPU that is one synchronising copy per gather/index_select forward. When
  several indices are bad, any one of them is reported (the CPU reports the first).
- **Verified (this machine, no GPU)**:
  - `make test-cuda-emu`: **231 passed, 0 failed**; 112 fixture cases ran on emulated CUDA
    (96 left out: their ops have no kernel). Every one matched the CPU kernels bit for bit
    (0 ULPs, outputs and every input gradient) and PyTorch's numbers through `run_case(.., NN_CUDA)`.
    Fixtures newly covered: softmax, log_softmax, var, std, max, min, max_indices, argmax,
    logsumexp, transpose, permute, slice, select, squeeze, unsqueeze, reshape, reshape_t, flatten,
    contiguous_t, clone, tril, triu, masked_fill, gather, index_select, embedding.
    Launch counts are printed per kernel; every listed kernel launched at least once.
  - The "no kernel" error test now uses `nn_topk` (softmax has a kernel); the allocator test
    counts relative to the allocations the kernels made before it (the bad-index flag).
  - tests/cpu_bits.c: dumps from main's nn.h and this branch's nn.h are identical (687 lines, cmp).
  - `make build/test_nn && ./build/test_nn`: 1859 passed, 0 failed.
  - `make compile-check`: exit 0; gcc, clang (-std=c99), g++, clang++ (-std=c++11) all ok.
  - `make cuda-build`: nvcc compiles and links with 0 warnings; `strings` shows all 21 kernels'
    device symbols; running it gives the no-GPU error as before.
- **Left out of this slice** (in the brief's order): one_hot, cat, to_dtype, layer_norm,
  batch_norm, the losses (nll, bce, bce_with_logits, huber), matmul/linear (cuBLAS on the real
  path, -lcublas in cuda-build, plus a simple kernel for the emulated test), topk, conv, pooling,
  dropout, the optimizers. The cross_entropy fixtures need nll_loss. Nothing ran on a GPU; the
  0-ULP tolerances hold only emulated (same libm): on a GPU, softmax/logsumexp/var/std use CUDA's
  exp/log/sqrt (double), so they need a per-op bound there; copy/view/tri/masked_fill/gather/
  index_select/max/min/sum/mean stay exact (sum/mean/var's double sums are in the same order).

## First slice (branch `cuda`)

Nothing here has run on a GPU. This session had no GPU: the `device` tool's `status` said
`can_start_another: false`. Every result below comes from the CPU, either with emulated kernels or
from an nvcc binary that found no GPU. None of it counts as verified on a GPU.

## What exists

- **nn.h**
  - **`==== math ====` section** (implementation, before memory):
    - Per-element rules written once as `NN__MATH` (`static NN_HD inline`) functions:
      - sigmoid, relu, leaky_relu, gelu, silu, softplus, clamp, abs and pow_scalar, with their
        backward rules (`_b`).
      - `nn__unary_f` / `nn__unary_b`: the whole unary family for one element.
      - `nn__binary_f` / `nn__binary_dval`: the binary family, forward and gradient.
    - `NN_HD` is `__host__ __device__` under nvcc and empty otherwise.
    - The CPU unary and binary kernels and `nn__relu_c` now call these functions, with the same
      order of operations as before.
    - Each backward rule returns exactly what the CPU adds. `nn__unary_b` returns 0 where the CPU
      adds nothing (clamp out of range, relu at x <= 0, pow_scalar with exponent 0), so a -0.0
      gradient stays -0.0.
  - **`NN_CUDA` can be defined.** It used to be an enum value only, so `-DNN_CUDA` broke
    `nn_device`. nn.h now does `#undef NN_CUDA` / `#define NN_CUDA NN_CUDA`. The macro names itself,
    so the enumerator still reads, `#ifdef NN_CUDA` stays true, and user code writes
    `nn_to(t, NN_CUDA)` as before.
  - **Hooks under `#ifdef NN_CUDA`:**
    - `nn_to` calls `nn__cuda_to` for CPU<->CUDA.
    - `nn_ctx` has a `void *cuda` field, freed by `nn__cuda_ctx_free` in `nn_ctx_free`.
    - `NN__CUDA_HOOKS` is a marker macro.
    - `nn__cuda_table()` was already there.
  - **Config table**: one line documents `NN_CUDA`.
  - `NN_H_INCLUDED` (already there) is the marker nn_cuda.h checks.
- **nn_cuda.h** (STB style):
  - **Include checks:**
    - `#error` unless nn.h came first (`NN_H_INCLUDED`).
    - `#error` unless `NN_CUDA` was defined before nn.h's implementation (`NN__CUDA_HOOKS`).
    - Empty when `NN_CUDA` is not defined.
    - `#error` when it is not compiled by nvcc and `NN_CUDA_EMULATE` is not defined.
    - `#error` when `NN_CUDA_EMULATE` is used under nvcc.
  - **Grid-loop shim** (`NN_CUDA_EMULATE`):
    - `blockIdx/threadIdx/blockDim/gridDim` are file-static `nn__dim3`s.
    - `__global__/__device__/__host__` are defined empty.
    - `NN__LAUNCH(ok, ctx, name, kernel, grid, block, args...)` becomes `kernel<<<grid, block>>>`
      followed by a `cudaGetLastError` check under nvcc. Emulated, it loops over every
      (block, thread) pair and calls the kernel once for each.
    - Every launch is counted per kernel name.
  - **Kernels** (grid-stride loops, per-element math from nn.h's math section):

    | Kernel | What it computes |
    |---|---|
    | `unary_forward`, `unary_backward` | every op of the unary family: add/mul/div/pow_scalar (sub_scalar goes through add_scalar), neg, exp, log, sqrt, abs, clamp, relu, leaky_relu, sigmoid, tanh, gelu, silu, softplus, sin, cos |
    | `binary_forward` | add, sub, mul, div, pow, maximum, minimum, where, with broadcasting through nn.h's `nn__bcast_plan` (struct passed by value) |
    | `binary_backward_same` | the gradient of an input that is not broadcast: one thread per element |
    | `binary_backward_bcast` | the gradient of a broadcast input: one thread per input element, summing in double over the output elements that read it, in the CPU's order (no atomics, no shared memory, deterministic) |
    | `sum_forward`, `sum_backward` | sum and mean along a dim, or over all dims: one thread per output element, double accumulation (the CPU's order) |

  - **The CUDA column** `nn__cuda_kernels[NN_OP_COUNT]` is built from `NN__OP_LIST`.
    - One `#define NN__CUDA_HAS_<OP> ~, 1` line per op that has a kernel. A preprocessor probe
      gives every other row `{NULL, NULL}`.
    - Ops without a kernel therefore get nn.h's own error, "nn_softmax: no kernel for device 1 in
      this build".
    - var/std/max/min/logsumexp share the reduce family but have no line, so they give that
      error too.
  - **Caching allocator**, per context (`ctx->cuda`):
    - Power-of-two size classes from 256 B, each with a free list (`nn_cuda_malloc`,
      `nn_cuda_free(ctx, p, bytes)`, `nn_cuda_mem_stats_of`).
    - The backend is `cudaMalloc`, or `nn__malloc` when emulated.
    - The cache is given back in `nn_ctx_free`.
    - Requests above the largest class (256 B << 47) are refused with an error.
  - **Errors**:
    - Every CUDA call goes through `nn__cuda_check`, which reports through `nn__err` with
      cudaGetErrorName and cudaGetErrorString and never aborts.
    - `nn_cuda_device_count(ctx)` gives a clear "no CUDA GPU is present (...)" error.
  - **`nn__cuda_to`**:
    - Emulated: copies the tensor, keeping it persistent or in the arena like its source, marks it
      `NN_CUDA` and keeps host memory (the emulated device memory is host memory).
    - Real (nvcc): the no-GPU error; with a GPU, an explicit "not wired yet" error (see Missing).
- **tests/test_cuda_emu.c** (`make test-cuda-emu`, built by **cc -std=c99** with
  `-Wall -Wextra -Werror -Wno-unused-function`; it includes test_ops.c, which has functions this
  test does not call):
  - Every fixture case in tests/fixtures/ops.txt whose op is in the slice runs on `NN_CPU` and
    on `NN_CUDA` (emulated). The output and every input gradient are compared with the CPU
    kernels with a per-op ULP tolerance: **0 ULPs (bit for bit) for every op**. The table in the
    test gives each op's reason.
  - The same case runs again through test_ops.c's `run_case(ctx, c, NN_CUDA)` (the fixture
    runner's device parameter) against PyTorch's numbers.
  - Allocator test: after the first step, a steady-state alloc/free step makes no device malloc.
  - Error tests: an op with no kernel, and operands on different devices.
  - Report: each kernel with its emulated launch count, the GPU-only kernels (none), and the ops
    with and without a CUDA kernel.
  - Leak check.
- **tests/cuda_build.cu** (`make cuda-build`): compiled and linked by
  `/usr/local/cuda/bin/nvcc -O2 -Xcompiler -Wall,-Wextra` from the real, non-emulated path. It
  prints the device count or the no-GPU error and the result of `nn_to(x, NN_CUDA)`, and exits 0
  when `nn_to` is refused with a message.
- **tests/cpu_bits.c**: dumps the bits of every fixture case's CPU outputs and gradients, to
  compare two nn.h versions.

## What was verified and how (this machine, no GPU)

- **CPU results are bit-identical after the math refactor.**
  - tests/cpu_bits.c was built (cc -O2) once against main's nn.h (`git -C /work/main show
    HEAD:nn.h`) and once against this branch.
  - The two dumps are identical: 687 lines, compared with `cmp`.
- **`make build/test_nn && ./build/test_nn`**: 1859 passed, 0 failed, with all of this branch's
  nn.h changes.
- **`make compile-check`**: exit 0, ok for gcc -std=c99, clang -std=c99, g++ -std=c++11 and
  clang++ -std=c++11, all with -Wall -Wextra -Werror. This check builds without NN_CUDA.
- **`make test-cuda-emu`**: 103 passed, 0 failed.
  - 48 fixture cases ran on emulated CUDA. 160 were left out because their ops have no kernel.
  - Each of the 48 matched the CPU kernels bit for bit and PyTorch within test_nn's tolerance.
  - Launch counts: unary_forward 50, unary_backward 46, binary_forward 36,
    binary_backward_same 34, binary_backward_bcast 30, sum_forward 12, sum_backward 12.
  - Allocator: 6 device mallocs in the first step, 0 in the next 4, 24 cache hits.
- **The emulated comparison catches drift.** A mutated copy of nn_cuda.h, with the binary forward
  result multiplied by 1.0000001f, made the test fail: 86 passed, 17 failed, with 1 to 2 ULP
  differences reported.
- **`make cuda-build`**: nvcc 13 compiled and linked the real path without warnings.
  - The binary contains all 7 kernels' device symbols (`strings` shows `_Z..nn__k_*`).
  - nvcc's default arch was used; the link line shows sm_75.
  - Running it here prints: `nn_cuda_device_count: 0; error: nn_cuda: no CUDA GPU is present
    (cudaGetDeviceCount: CUDA driver version is insufficient for CUDA runtime version) ...` and
    `nn_to` returns NULL with the same error. There was no abort.
- **GPU-only kernels** (needing `__syncthreads`, shared memory or warp ops): none exist yet, so
  none are listed.

## Not verified

- **No kernel has run on a GPU.** CUDA's `expf/erff/tanhf/powf` differ from glibc by a few ULPs,
  so on a GPU the 0-ULP tolerance must become a per-op bound. Suggested: 2 ULPs or 1e-6 relative
  for the transcendental ops, exact for add/mul/relu/where, and so on.
- The emulated test was not built with g++ or clang, and not with NN_NO_SIMD.
- The test is not yet in `make test` or CI.

## Missing (the issue's full list is much larger)

1. **Device tensors on a real GPU.**
   - `nn__cuda_to` refuses with a message.
   - What the real path needs:
     - Op results with `device == NN_CUDA` need device memory from a device step arena: a second
       arena in `ctx->cuda`, bump-allocated from blocks that come from the caching allocator and
       reset in `nn_arena_reset` (a hook is needed there).
     - Persistent device tensors need `nn_free` to give their blocks back: a hook in `nn_free`,
       keyed on `storage->device`.
   - Host-side reads of op data that the real path must replace:
     - the autograd engine's gradient allocation, zeroing and accumulation (memset, `+=`),
       including the `ones` seed;
     - anomaly mode's scan;
     - `nn_item`;
     - `nn__gather_strided`;
     - the front ends' `nn_contiguous`, which goes through the `copy` op and so needs a CUDA copy
       kernel.
   - Host<->device copies: `cudaMemcpy` in `nn__cuda_to`, and `nn_item` must copy one element.
2. **Kernels for the rest of the registry** (the second slice, above, did softmax, the reductions, copy, views, tril/triu, masked_fill, gather, index_select):
   - softmax/log_softmax, var/std/max/min/logsumexp;
   - matmul/linear via cuBLAS (link `-lcublas`, with its calls checked the same way);
   - gather/index_select/one_hot/tril/triu/masked_fill/topk;
   - views/copy/cat/to_dtype, conv2d/conv_transpose2d, pooling, dropout, the norms, the losses;
   - fused optimizer updates. Their rules should move into the math section first, as the unary
     ones did.
   - Block reductions that need shared memory would be GPU-only in the emulated test's list.
3. **Module moves** (`nn_module_to`), a MY_NET parity run, `mnist_cnn --device cuda`, and GPU
   rows in `make bench`.
4. **CI wiring:** add `test-cuda-emu` and `cuda-build` to `make test` or CI (`cuda-build` only
   where nvcc exists), add a README GPU section, and pass `-gencode` flags for the GPUs targeted
   (sm_90 for H100).

## Design decisions

- **Where the math lives.** The per-element math is in nn.h, not nn_cuda.h, because the CPU
  kernels must call it. `NN_HD` costs nothing in a plain C build. The CPU loops keep one loop per
  op, calling small per-op functions (no switch per element). The CUDA kernels call the
  dispatchers (`nn__unary_f/_b`) built from the same functions. The emulated bit-for-bit test
  guards the dispatchers against drift.
- **Broadcast gradients.** They use a per-input-element gather-sum rather than atomicAdd. It is
  deterministic, bit-identical to the CPU and emulatable. It is slower than a tree reduction for
  huge broadcasts; a shared-memory version could be added later as a GPU-only fast path.
- **Emulated device memory is host memory.** The whole nn.h machinery (arena, autograd) therefore
  runs unchanged, and the test exercises the real dispatch path (`nn__kernels_for` then the CUDA
  column). The cost is that emulation cannot catch host code that touches device pointers; that
  is item 1 above.
- **The test is C99, built by cc.** It reuses test_ops.c's reader, `fx_on`/`fx_host` and
  `run_case` directly. The shim is therefore written so the kernel bodies are valid C99 as well
  as CUDA C++.
- **Emulated launches are serial.** The shim uses file-static index variables, so one emulated
  launch runs at a time. That is acceptable for a test build and stated in nn_cuda.h.
*/
