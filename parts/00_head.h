/* nn.h - neural networks in one C header: tensors, reverse-mode autograd, and
   the ops PyTorch users know, with PyTorch's names, defaults and numbers.

   Do this:
       #define NN_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation. Every other file just does #include "nn.h".

   QUICK START

       #define NN_IMPLEMENTATION
       #include "nn.h"

       int main(void) {
           nn_ctx *ctx = nn_ctx_new();                 // RNG, step arena, errors
           float xs[] = { -2.0f }, ys[] = { 5.0f }, zs[] = { -4.0f };
           int64_t one[] = { 1 };
           nn_tensor *x = nn_set_requires_grad(nn_from_array(ctx, 1, one, xs), 1);
           nn_tensor *y = nn_set_requires_grad(nn_from_array(ctx, 1, one, ys), 1);
           nn_tensor *z = nn_set_requires_grad(nn_from_array(ctx, 1, one, zs), 1);
           nn_tensor *q = nn_add(x, y);                // q = x + y   (3)
           nn_tensor *f = nn_mul(q, z);                // f = q * z   (-12)
           nn_backward(f, NULL, 0);                    // f.backward()
           printf("%g %g %g\n", nn_f32(x->grad)[0], nn_f32(y->grad)[0], nn_f32(z->grad)[0]);
           const char *err = nn_error(ctx);
           if (err) printf("error: %s\n", err);
           nn_arena_reset(ctx);                        // once per step: frees q, f
           nn_free(x); nn_free(y); nn_free(z);         // tensors you created
           nn_ctx_free(ctx);
           return 0;
       }

   TENSORS
       A tensor has a dtype (NN_FLOAT32, or NN_INT64 for labels and indices), a
       shape in PyTorch's order and a storage that its views share. Read values
       with nn_f32(t)[i] or nn_i64(t)[i] (NULL and an error for the wrong dtype),
       or nn_item(t) for one element.

   MEMORY MODEL
       Tensors you create (nn_zeros, nn_from_array, nn_randn, ...) are yours
       until nn_free. Tensors that ops return (nn_add, nn_matmul, views, the
       autograd graph) live in the context's step arena until
       nn_arena_reset(ctx), which you call once per training step; using one
       after the reset is an error, not a crash. Backward gives each
       intermediate gradient back as soon as it is used (nn_retain_grad keeps
       one), so a step's peak is the activations plus the live gradients.
       After the first step the arena is big enough and a step makes no heap
       allocation; a loop that never resets gets a warning in the log. To keep
       a value past the reset, copy it out: nn_item() or nn_keep().
       Modules own their parameters, buffers and children (see nn_module_free).

   ERROR MODEL
       Nothing aborts your program because of what you passed. A bad shape,
       a NULL, a wrong dim, an index out of range: the function returns NULL
       (or 0), the message ("nn_matmul: a is (64, 784) and b is (128, 10); ...")
       goes to the context's logger (stderr by default, replace it with
       nn_set_logger), and the first error sticks in the context until
       nn_clear_error. Ops given a NULL input return NULL, so a step can be
       checked once.

   OPTIONS
       Every options struct comes pre-filled with PyTorch's defaults by its
       nn_x_opts_default() function; each field holds PyTorch's value as is
       (0 means 0). Change the fields you need:
           nn_adam_opts o = nn_adam_opts_default();  o.weight_decay = 0.0;

   CONFIG MACROS (define before including)
       NN_STATIC                 make every function static (private copy)
       NN_API                    linkage of public functions (default extern)
       NN_MALLOC/NN_REALLOC/NN_FREE  your allocator: define all three or none
       NN_ASSERT(x)              check of the library's own invariants
       NN_NO_STDIO               no printing or files (logger, print, dot, loaders)
       NN_NO_SIMD                plain C GEMM kernel instead of vector extensions
       NN_MAX_DIMS               most dims a tensor can have (default 8)
     Switched on by what you include before nn.h (Debian's libstb-dev):
       stb_image.h               image folders and gzip'd IDX files
       stb_image_write.h         PNG plots (stb_easy_font.h adds their text)
     Compile with -fopenmp to split the GEMM's row blocks across threads.

   SECTIONS: each opens with a banner "==== name ====" (grep for it), first
   the declarations, then the implementation in the same order:
       config, public types, context, tensors, ops, autograd, modules,
       losses, optimizers, schedulers, serialisation, data, training utilities
   (the implementation adds "memory" before ops). Ops are listed once, in
   NN__OP_LIST: each op's enum, name and forward/backward kernels.

   LICENSE: MIT or public domain (Unlicense), your choice; see the end of
   this file. Version history: CHANGELOG.md.
*/

/* ==== config ==== */
#ifndef NN_H
#define NN_H
#define NN_VERSION "0.1.0"
#define NN_H_INCLUDED 1 /* a companion header checks this to know nn.h came first */

#include <stddef.h>
#include <stdint.h>
#ifndef NN_NO_STDIO
#include <stdio.h>
#endif

#ifndef NN_API
#ifdef NN_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define NN_API static __attribute__((unused))
#else
#define NN_API static
#endif
#else
#define NN_API extern
#endif
#endif

#ifndef NN_MAX_DIMS
#define NN_MAX_DIMS 8
#endif

/* reduce over every dim: nn_sum(x, NN_ALL, 0) is PyTorch's x.sum() */
#define NN_ALL 1024

#ifdef __cplusplus
extern "C" {
#endif

