/* libFuzzer target over every loader: the bytes become a file that nn.h reads
   as safetensors (model and checkpoint), IDX (plain and gzip'd), and CSV. A
   loader may reject the input, never crash, leak or read out of bounds.
   Built and run by `make fuzz` (clang, libFuzzer, ASan, UBSan). */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <unistd.h>

static void quiet(void *u, const char *m) { (void)u; (void)m; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64], gz[64], lab[64];
    nn_ctx *ctx = nn_ctx_new();
    FILE *f;
    nn_dataset *d;
    nn_module *m;
    nn_safetensors *st;
    nn_checkpoint ck = { 0 };
    int64_t one = 2;
    unsigned char labels[12] = { 0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4 };
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/nn_fuzz_%d.bin", (int)getpid());
        snprintf(gz, sizeof gz, "/tmp/nn_fuzz_%d.gz", (int)getpid());
        snprintf(lab, sizeof lab, "/tmp/nn_fuzz_%d.lab", (int)getpid());
        f = fopen(lab, "wb"); fwrite(labels, 1, 12, f); fclose(f);
    }
    nn_set_logger(ctx, quiet, NULL);
    f = fopen(path, "wb"); fwrite(data, 1, size, f); fclose(f);
    f = fopen(gz, "wb"); fwrite(data, 1, size, f); fclose(f);

    st = nn_safetensors_open(ctx, path);
    if (st) {
        int i;
        for (i = 0; i < nn_safetensors_count(st); i++) nn_free(nn_safetensors_get(st, nn_safetensors_name(st, i)));
        nn_safetensors_close(st);
    }
    m = nn_linear_new(ctx, 2, 2, 1);
    nn_load_model(m, path);
    ck.model = m;
    nn_load_checkpoint(&ck, path);
    nn_module_free(m);
    nn_dataset_free(nn_mnist(ctx, path, lab));
    nn_dataset_free(nn_mnist(ctx, gz, lab));
    d = nn_csv(ctx, path, 0, 0);
    nn_dataset_free(d);
    d = nn_csv(ctx, path, -1, 1);
    nn_dataset_free(d);
    (void)one;
    nn_ctx_free(ctx);
    return 0;
}
