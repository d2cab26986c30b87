/* nn.h on a microcontroller: a Cortex-M4 (ARM's MPS2 board with the AN386 image, as QEMU's
   mps2-an386 emulates it), no heap, no stdio. All of nn.h's memory comes from one static
   array given to nn_use_buffer; output goes through semihosting.
   1. Inference: the MLP examples/mnist_mlp trained on the desktop, its weights compiled in as
      const arrays (examples/mcu/export_model wrote model_data.h), classifies the Fashion-MNIST
      test images compiled in beside them; its accuracy must equal the desktop's.
   2. Training: a small MLP learns on the device from those images for a few Adam steps.
   Build with -DFW_INFERENCE_ONLY for firmware that leaves out part 2 (and so the optimizer and
   backward code the linker can drop). Timing: SysTick at the board's 25 MHz, under QEMU's
   -icount 0 (1 ns of virtual time per instruction): instructions = ticks x 40.
   Exit status 0 when the accuracy equals the desktop's (and the loss fell), else 1.
   make mcu builds and runs it. */
#define NN_NO_STDIO
#define NN_NO_MALLOC
#define NN_NO_THREADS
#define NN_ARENA_MIN_BLOCK (16 * 1024)
#include "semihost.h"
/* newlib's assert would print through stdio, which brings malloc: a broken invariant of
   nn.h's is reported through semihosting instead */
#define NN_ASSERT(x) do { if (!(x)) { sh_puts("nn.h: internal check failed: " #x "\n"); sh_exit(3); } } while (0)
#define NN_IMPLEMENTATION
#include "../../nn.h"
#include "mlp.h"
#include "model_data.h"     /* written by export_model into build/mcu */

#ifndef MEMORY_BYTES
#define MEMORY_BYTES (1024 * 1024)
#endif
static unsigned char memory[MEMORY_BYTES] __attribute__((aligned(16)));

/* ---- output: a line at a time through semihosting ---- */
static char line[160];
static int line_n;
static void put(const char *s) { while (*s && line_n < (int)sizeof line - 1) line[line_n++] = *s++; }
static void put_u(uint64_t v) { char b[24]; int k = 0; do { b[k++] = (char)('0' + v % 10); v /= 10; } while (v); while (k) { char c[2] = { b[--k], 0 }; put(c); } }
static void put_fix(double v, int decimals) {   /* v >= 0 with `decimals` digits after the point */
    uint64_t scale = 1, w, f; int d;
    for (d = 0; d < decimals; d++) scale *= 10;
    w = (uint64_t)(v * (double)scale + 0.5);
    f = w % scale; put_u(w / scale);
    if (decimals) { put("."); for (d = decimals - 1; d >= 0; d--) { uint64_t p = 1; int e; for (e = 0; e < d; e++) p *= 10; put_u((f / p) % 10); } }
}
static void end_line(void) { line[line_n++] = '\n'; line[line_n] = 0; sh_puts(line); line_n = 0; }

/* ---- time: SysTick counts the 25 MHz core clock, wraps counted by its interrupt ---- */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
extern volatile uint32_t systick_wraps;
static uint64_t ticks(void) {
    uint32_t w, v;
    do { w = systick_wraps; v = SYST_CVR; } while (w != systick_wraps);
    return (uint64_t)w * 0x1000000u + (0xFFFFFFu - v);
}

static int fail(nn_ctx *ctx, const char *what) {
    put("error: "); put(what);
    if (ctx && nn_error(ctx)) { put(": "); put(nn_error(ctx)); }
    end_line();
    put("RESULT: failed"); end_line();
    return 1;
}

static int load_weights(nn_module *m) {
    int k;
    for (k = 0; k < MODEL_TENSORS; k++) {
        nn_tensor *t = nn_module_parameter(m, model_tensors[k].name);
        if (!t || t->numel != model_tensors[k].numel) return 0;
        memcpy(nn_f32(t), model_tensors[k].data, (size_t)t->numel * sizeof(float));
    }
    return 1;
}

#ifndef FW_INFERENCE_ONLY
/* a 784-16-10 MLP from scratch on the first 160 images, batch 32, Adam(lr 1e-2), 40 steps */
static int train_on_device(nn_ctx *ctx) {
    const int64_t xshape[2] = { 32, 784 }, yshape[1] = { 32 };
    nn_module *m = mlp_new(ctx, 16);
    nn_tensor *params[4], *x = nn_empty(ctx, 2, xshape), *y = nn_empty_dtype(ctx, 1, yshape, NN_INT64);
    nn_adam_opts ao = nn_adam_opts_default();
    nn_optim *opt;
    double first = 0, last = 0;
    uint64_t t0;
    int step, i, ok;
    ao.lr = 1e-2;
    opt = nn_adam(params, nn_module_parameters(m, params, 4), ao);
    if (!m || !x || !y || !opt) return fail(ctx, "training setup");
    nn_module_train(m, 1);
    t0 = ticks();
    for (step = 0; step < 40; step++) {
        nn_tensor *loss;
        for (i = 0; i < 32; i++) {
            int img = (step * 32 + i) % 160;
            mlp_input(nn_f32(x) + i * 784, test_images[img]);
            nn_i64(y)[i] = test_labels[img];
        }
        nn_optim_zero_grad(opt);
        loss = nn_cross_entropy(nn_forward(m, x), y, nn_cross_entropy_opts_default());
        if (!loss || !nn_backward(loss, NULL, 0) || !nn_optim_step(opt)) return fail(ctx, "training step");
        if (step < 5) first += nn_item(loss) / 5;
        if (step >= 35) last += nn_item(loss) / 5;
        if (step % 10 == 0 || step == 39) { put("train step "); put_u((uint64_t)step + 1); put(": loss "); put_fix(nn_item(loss), 4); end_line(); }
        nn_arena_reset(ctx);
    }
    put("training: 40 Adam steps of batch 32 on the device, mean loss of steps 1-5 ");
    put_fix(first, 3); put(" -> steps 36-40 "); put_fix(last, 3); end_line();
    put("training: "); put_u((ticks() - t0) * 40 / 40 /* 40 instructions a tick, over 40 steps */); put(" instructions per step"); end_line();
    ok = last < 0.5 * first;
    nn_optim_free(opt); nn_module_free(m); nn_free(x); nn_free(y);
    if (!ok) return fail(ctx, "the training loss did not halve");
    return 0;
}
#endif

int main(void) {
    const int64_t one_image[2] = { 1, 784 };
    nn_ctx *ctx;
    nn_module *model;
    nn_tensor *x;
    int64_t correct = 0, agree = 0, i;
    uint64_t t0, t1;

    SYST_RVR = 0xFFFFFFu; SYST_CVR = 0; SYST_CSR = 7u;   /* core clock, interrupt on wrap, on */
    while (systick_wraps == 0) {}                          /* the first reload */
    put("nn.h "); put(NN_VERSION); put(" on a Cortex-M4 (QEMU mps2-an386), no heap, no stdio"); end_line();
    if (!nn_use_buffer(memory, sizeof memory)) return fail(NULL, "nn_use_buffer");
    ctx = nn_ctx_new();
    if (!ctx) return fail(NULL, "nn_ctx_new: the buffer is too small");
    model = mlp_new(ctx, MODEL_HIDDEN);
    x = nn_empty(ctx, 2, one_image);
    if (!model || !x || !load_weights(model)) return fail(ctx, "the model");
    nn_module_eval(model);
    t0 = ticks();
    NN_NO_GRAD(ctx) {
        for (i = 0; i < TEST_IMAGES; i++) {
            int64_t p = mlp_classify(model, x, test_images[i]);
            correct += p == test_labels[i];
            agree += p == desktop_pred[i];
            nn_arena_reset(ctx);
        }
    }
    t1 = ticks();
    if (nn_error(ctx)) return fail(ctx, "inference");
    put("inference: 784-"); put_u(MODEL_HIDDEN); put("-10 MLP, accuracy "); put_u((uint64_t)correct); put("/"); put_u(TEST_IMAGES);
    put(" = "); put_fix(100.0 * (double)correct / TEST_IMAGES, 2); put("% (desktop: "); put_u(DESKTOP_CORRECT); put("/"); put_u(TEST_IMAGES);
    put(" = "); put_fix(100.0 * (double)DESKTOP_CORRECT / TEST_IMAGES, 2); put("%)"); end_line();
    put("inference: predictions equal to the desktop's: "); put_u((uint64_t)agree); put("/"); put_u(TEST_IMAGES); end_line();
    put("inference: "); put_u((t1 - t0) * 40 / TEST_IMAGES); put(" instructions per image (QEMU -icount; ");
    put_fix((double)(t1 - t0) * 40.0 / TEST_IMAGES / 25000.0, 1); put(" ms at the board's 25 MHz if one instruction per cycle)"); end_line();
#ifndef FW_INFERENCE_ONLY
    if (train_on_device(ctx)) return 1;
#endif
    put("memory: peak "); put_u(nn_buffer_peak()); put(" of "); put_u(sizeof memory); put(" bytes of the static buffer"); end_line();
    nn_free(x);
    nn_module_free(model);
    nn_ctx_free(ctx);
    if (nn_buffer_in_use() != 0) return fail(NULL, "blocks left in the buffer after freeing everything");
    if (correct != DESKTOP_CORRECT) return fail(NULL, "the accuracy differs from the desktop's");
    put("RESULT: ok"); end_line();
    return 0;
}
