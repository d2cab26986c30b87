/* nn.h built with NN_NO_STDIO and NN_NO_MALLOC, as firmware builds it, run on the host:
   - its own message formatter (nn__snprintf) against the C library's snprintf, format by format;
   - nn_use_buffer's allocator: a training step made only from a caller's buffer, a buffer
     too small (an error, not a crash), every block given back, and a refused switch while
     blocks are live.
   make test runs it ("no_stdio: N passed, 0 failed"). */
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <stdlib.h>
#define NN_NO_STDIO
#define NN_NO_MALLOC
#define NN_ARENA_MIN_BLOCK 4096
#define NN_IMPLEMENTATION
#include "../nn.h"

static int passed, failed;
static void check(int ok, const char *what) {
    if (ok) passed++; else { failed++; printf("FAIL: %s\n", what); }
}

#define FMT(fmt, ...) do { \
    char a[256], b[256]; int ra = nn__snprintf(a, sizeof a, fmt, __VA_ARGS__), rb = snprintf(b, sizeof b, fmt, __VA_ARGS__); \
    if (strcmp(a, b) || ra != rb) { failed++; printf("FAIL: format \"%s\": nn.h gives \"%s\" (%d), libc \"%s\" (%d)\n", fmt, a, ra, b, rb); } \
    else passed++; } while (0)

static void test_format(void) {
    double gs[] = { 0.0, -0.0, 1.0, -1.0, 0.1, 1e-4, 1e-5, 123456.0, 1234567.0, 3.14159265358979, 2.5, 0.5,
                    1e300, 1e-300, 99999.25, 9.9999996, 3.5, 0.125, 0.000123456, 100.0, 1e6, 65504.0, 1e-45, 3.4028234663852886e38 };
    int k;
    char small[5];
    FMT("%d %d %d %i", 0, -1, 2147483647, -2147483647 - 1);
    FMT("%lld %lld", (long long)9007199254740993LL, (long long)(-9223372036854775807LL - 1));
    FMT("%llu %zu %u", (unsigned long long)18446744073709551615ULL, (size_t)12345, 4000000000u);
    FMT("%ld %02ld:%02ld", (long)-7, (long)3, (long)59);
    FMT("[%5d] [%-5d] [%05d] [%+d] [% d]", 42, 42, 42, 42, 42);
    FMT("%9lld|%12lld|%*lld", (long long)5, (long long)-123, 7, (long long)99);
    FMT("%x %X %04x", 255u, 48879u, 10u);
    FMT("%s|%10s|%-10s|%.3s|%.*s", "abc", "right", "left", "truncate", 2, "xyz");
    FMT("%c%c %%", 'o', 'k');
    FMT("%9s|%*s|%-24s|", "nine", 6, "six", "left24");
    for (k = 0; k < (int)(sizeof gs / sizeof gs[0]); k++) {
        FMT("%g", gs[k]); FMT("%.4g", gs[k]); FMT("%.15g", gs[k]); FMT("%10.4g", gs[k]); FMT("% g", gs[k]); FMT("%G", gs[k]);
        if (fabs(gs[k]) < 1e15) { FMT("%.4f", gs[k]); FMT("%.0f", gs[k]); FMT("%9.*f", 3, gs[k]); FMT("%f", gs[k]); }
        FMT("%e", gs[k]); FMT("%.2e", gs[k]);
    }
    for (k = 0; k < (int)(sizeof gs / sizeof gs[0]); k++) {   /* 17 digits: converted in double, read back within 2 ulp */
        char a[64]; double back;
        nn__snprintf(a, sizeof a, "%.17g", gs[k]);
        back = strtod(a, NULL);
        check(back == gs[k] || fabs(back - gs[k]) <= 4.5e-16 * fabs(gs[k]), "%.17g reads back within 2 ulp");
    }
    FMT("%g %g %g %G", (double)NAN, (double)INFINITY, (double)-INFINITY, (double)INFINITY);
    /* truncation: the length it would have had, and always terminated */
    k = nn__snprintf(small, sizeof small, "%s", "abcdefgh");
    check(k == 8 && strcmp(small, "abcd") == 0, "truncated output is terminated and the full length returned");
}

static unsigned char buffer[1 << 20];

static void test_buffer(void) {
    nn_ctx *ctx;
    nn_module *m, *layers[3];
    nn_optim *opt;
    nn_adam_opts ao = nn_adam_opts_default();
    nn_tensor *params[4], *x, *y, *loss;
    int64_t xs[2] = { 8, 4 }, ys[1] = { 8 };
    int n, step;
    float first = 0, last = 0;
    static unsigned char tiny[300];

    check(nn_ctx_new() == NULL, "with NN_NO_MALLOC and no buffer, nn_ctx_new returns NULL (no heap)");
    check(nn_use_buffer(NULL, 10) == 0, "nn_use_buffer(NULL, 10) is refused");
    check(nn_use_buffer(buffer, 100) == 0, "a buffer of 100 bytes is refused");
    /* a buffer that holds the context but not much else: errors, not crashes */
    if (sizeof(nn_ctx) + 64 < sizeof tiny) check(0, "nn_ctx fits in 300 bytes?");
    check(nn_use_buffer(tiny, sizeof tiny) == 1, "a 300-byte buffer is taken");
    check(nn_ctx_new() == NULL, "a context that does not fit: NULL");
    check(nn_buffer_in_use() == 0, "nothing left in the tiny buffer");

    check(nn_use_buffer(buffer, sizeof buffer) == 1, "the 1 MiB buffer is taken");
    ctx = nn_ctx_new();
    check(ctx != NULL, "a context from the buffer");
    if (!ctx) return;
    nn_set_logger(ctx, NULL, NULL);
    check(nn_use_buffer(NULL, 0) == 0, "switching buffers while blocks are live is refused");
    layers[0] = nn_linear_new(ctx, 4, 16, 1); layers[1] = nn_relu_new(ctx); layers[2] = nn_linear_new(ctx, 16, 1, 1);
    m = nn_sequential_new(ctx, layers, 3);
    n = nn_module_parameters(m, params, 4);
    ao.lr = 0.01;
    opt = nn_adam(params, n, ao);
    x = nn_randn(ctx, 2, xs);
    y = nn_randn(ctx, 1, ys);
    for (step = 0; step < 50; step++) {
        nn_tensor *out;
        nn_optim_zero_grad(opt);
        out = nn_reshape(nn_forward(m, x), 1, ys);
        loss = nn_mse_loss(out, y, NN_MEAN);
        if (step == 0) first = nn_item(loss);
        last = nn_item(loss);
        nn_backward(loss, NULL, 0);
        nn_optim_step(opt);
        nn_arena_reset(ctx);
    }
    check(nn_error(ctx) == NULL, "50 Adam steps from the buffer with no error");
    printf("  50 Adam steps from the buffer: loss %.4f -> %.4f, buffer peak %zu bytes\n", first, last, nn_buffer_peak());
    check(last < 0.5f * first, "the loss falls by half in 50 steps, all memory from the buffer");
    check(nn_buffer_peak() > 0 && nn_buffer_peak() <= sizeof buffer, "the peak is counted and within the buffer");
    /* a tensor too big for what is left: an error naming the op, not a crash */
    {
        int64_t big[1] = { 1 << 20 };
        nn_tensor *t = nn_zeros(ctx, 1, big);
        check(t == NULL && nn_error(ctx) != NULL && strstr(nn_error(ctx), "nn_zeros") != NULL,
              "a 4 MiB tensor from a 1 MiB buffer: NULL and an error naming nn_zeros");
        if (nn_error(ctx)) printf("  (the message: %s)\n", nn_error(ctx));
        nn_clear_error(ctx);
    }
    nn_optim_free(opt);
    nn_module_free(m);
    nn_free(x); nn_free(y);
    nn_ctx_free(ctx);
    check(nn_buffer_in_use() == 0, "every block back in the buffer after freeing everything");
    check(nn_use_buffer(NULL, 0) == 1, "back to no buffer once nothing is live");
}

int main(void) {
    test_format();
    test_buffer();
    printf("no_stdio: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
