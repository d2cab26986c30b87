/* libFuzzer target over every loader: the bytes become a file that nn.h reads
   as safetensors (tensors of every dtype, a model, a checkpoint with optimizer,
   DataLoader and extra fields), IDX (plain and gzip'd), and CSV. A loader may
   reject the input, never crash, leak or read out of bounds.
   Built and run by `make fuzz` (clang, libFuzzer, ASan, UBSan). */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <unistd.h>

static void quiet(void *u, const char *m) { (void)u; (void)m; }

static int one_get(void *user, int64_t i, float *x, float *y, int64_t *label) { (void)user; (void)y; x[0] = (float)i; *label = i; return 1; }

/* a checkpoint of Linear(2, 2) + Adam + a DataLoader over 5 samples + one extra number and tensor */
static void load_checkpoint(nn_ctx *ctx, const char *path) {
    nn_module *m = nn_linear_new(ctx, 2, 2, 1);
    nn_tensor *params[2], *extra_t[1];
    int64_t one = 1, two = 2;
    nn_dataset *d = nn_dataset_new(ctx, 5, 1, &one, 0, one_get, NULL, NULL);
    nn_dataloader *dl = nn_dataloader_new(d, nn_dataloader_opts_default());
    nn_optim *o = nn_adam(params, nn_module_parameters(m, params, 2), nn_adam_opts_default());
    const char *names[1] = { "best" }, *tnames[1] = { "ema" };
    double vals[1] = { 0 };
    nn_checkpoint ck = nn_checkpoint_default();
    extra_t[0] = nn_zeros_dtype(ctx, 1, &two, NN_INT64);
    ck.model = m;
    nn_load_checkpoint(&ck, path);
    ck.optim = o; ck.loader = dl;
    ck.extra_names = names; ck.extra_values = vals; ck.nextra = 1;
    ck.extra_tensor_names = tnames; ck.extra_tensors = extra_t; ck.nextra_tensors = 1;
    nn_load_checkpoint(&ck, path);
    nn_free(extra_t[0]);
    nn_optim_free(o); nn_dataloader_free(dl); nn_dataset_free(d); nn_module_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64], gz[64], lab[64];
    nn_ctx *ctx = nn_ctx_new();
    FILE *f;
    nn_dataset *d;
    nn_module *m;
    nn_safetensors *st;
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
    nn_module_free(m);
    load_checkpoint(ctx, path);
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
