/* The microcontroller demo's desktop half: reads the weights examples/mnist_mlp saved
   (--save, a 784-H-10 MLP), classifies the first N Fashion-MNIST test images with them here,
   and writes one C header holding the weights as const arrays, those images and labels, and
   the desktop's predictions, for examples/mcu/firmware.c to compile in.
   ./export_model --model mlp.safetensors --hidden H --out model_data.h [--images N] [--data DIR] */
#ifdef NN_HAVE_STB
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#endif
#define NN_IMPLEMENTATION
#include "../../nn.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define PROG "export_model"
#define SYNOPSIS "Writes an MLP's weights and N test images as a C header for the firmware.\n"
#include "../args.h"
#include "mlp.h"     /* the model and the input scaling, shared with the firmware */

static nn_dataset *load(nn_ctx *ctx, const char *dir) {
    char im[1024], lb[1024];
    nn_dataset *d;
    snprintf(im, sizeof im, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(lb, sizeof lb, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if ((d = nn_mnist(ctx, im, lb))) return d;
    nn_clear_error(ctx);
    snprintf(im, sizeof im, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(lb, sizeof lb, "%s/t10k-labels-idx1-ubyte", dir);
    return nn_mnist(ctx, im, lb);
}

/* name "1.weight" as a C identifier "w_1_weight" */
static void ident(char *out, size_t n, const char *name) {
    size_t k = 0;
    if (n < 3) return;
    out[k++] = 'w'; out[k++] = '_';
    for (; *name && k + 1 < n; name++) out[k++] = (*name == '.') ? '_' : *name;
    out[k] = '\0';
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist", *model_path = NULL, *out_path = NULL;
    int64_t hidden = 0, nimages = 200, i, j, correct = 0;
    const arg_spec args[] = {
        { "--model", ARG_STR, &model_path, 0, 0, "PATH", "the weights mnist_mlp --save wrote (required)" },
        { "--hidden", ARG_INT, &hidden, 1, 65536, "N", "its hidden units, as given to mnist_mlp (required)" },
        { "--out", ARG_STR, &out_path, 0, 0, "PATH", "the C header to write (required)" },
        { "--images", ARG_INT, &nimages, 1, 10000, "N", "test images to compile in (default 200)" },
        { "--data", ARG_STR, &dir, 0, 0, "DIR", "Fashion-MNIST or MNIST IDX files, plain or .gz" },
    };
    int parsed = parse_args(argc, argv, args, (int)(sizeof args / sizeof args[0]));
    nn_ctx *ctx;
    nn_dataset *test;
    nn_module *model;
    const nn_state_entry *st;
    int nst, k;
    unsigned char *pix;
    int64_t *labels, *pred;
    FILE *f;
    nn_tensor *x1;
    const int64_t one_image[2] = { 1, 784 };

    if (parsed) return parsed == 1 ? 0 : 2;
    if (!model_path || !out_path || !hidden) { fprintf(stderr, "export_model: --model, --hidden and --out are required (--help)\n"); return 2; }
    ctx = nn_ctx_new();
    if (!ctx) { fprintf(stderr, "export_model: out of memory\n"); return 1; }
    model = mlp_new(ctx, hidden);
    x1 = nn_empty(ctx, 2, one_image);
    test = load(ctx, dir);
    if (!model || !test || !nn_load_model(model, model_path)) {
        fprintf(stderr, "export_model: %s\n", nn_error(ctx) ? nn_error(ctx) : "setup failed");
        return 1;
    }
    if (nimages > nn_dataset_len(test)) nimages = nn_dataset_len(test);
    nn_module_eval(model);
    pix = (unsigned char *)malloc((size_t)nimages * 784);
    labels = (int64_t *)malloc((size_t)nimages * sizeof(int64_t));
    pred = (int64_t *)malloc((size_t)nimages * sizeof(int64_t));
    if (!pix || !labels || !pred) { fprintf(stderr, "export_model: out of memory\n"); return 1; }
    for (i = 0; i < nimages; i++) {    /* the bytes back from ToTensor's x / 255 */
        float x[784];
        if (!nn_dataset_get(test, i, x, NULL, &labels[i])) { fprintf(stderr, "export_model: %s\n", nn_error(ctx)); return 1; }
        for (j = 0; j < 784; j++) pix[i * 784 + j] = (unsigned char)lrintf(x[j] * 255.0f);
    }
    NN_NO_GRAD(ctx) {                  /* the desktop's predictions, one image at a time as the firmware does */
        for (i = 0; i < nimages; i++) {
            pred[i] = mlp_classify(model, x1, pix + i * 784);
            correct += pred[i] == labels[i];
            nn_arena_reset(ctx);
        }
    }
    if (nn_error(ctx)) { fprintf(stderr, "export_model: %s\n", nn_error(ctx)); return 1; }

    f = fopen(out_path, "w");
    if (!f) { fprintf(stderr, "export_model: cannot write %s\n", out_path); return 1; }
    fprintf(f, "/* Written by examples/mcu/export_model from %s: a 784-%lld-10 MLP and the first %lld\n"
               "   Fashion-MNIST test images. Do not edit; rebuild with make mcu. */\n",
            model_path, (long long)hidden, (long long)nimages);
    fprintf(f, "#define MODEL_HIDDEN %lld\n#define TEST_IMAGES %lld\n#define DESKTOP_CORRECT %lld\n\n",
            (long long)hidden, (long long)nimages, (long long)correct);
    nst = nn_module_state(model, &st);
    for (k = 0; k < nst; k++) {        /* each tensor, as floats that read back to the same bits */
        char id[128];
        const float *v = nn_f32(st[k].tensor);
        ident(id, sizeof id, st[k].name);
        fprintf(f, "static const float %s[%lld] = {", id, (long long)st[k].tensor->numel);
        for (i = 0; i < st[k].tensor->numel; i++) fprintf(f, "%s%.9g", i == 0 ? "\n    " : i % 8 ? ", " : ",\n    ", (double)v[i]);
        fprintf(f, "\n};\n");
    }
    fprintf(f, "static const struct { const char *name; const float *data; long numel; } model_tensors[] = {\n");
    for (k = 0; k < nst; k++) {
        char id[128];
        ident(id, sizeof id, st[k].name);
        fprintf(f, "    { \"%s\", %s, %lld },\n", st[k].name, id, (long long)st[k].tensor->numel);
    }
    fprintf(f, "};\n#define MODEL_TENSORS %d\n\n", nst);
    fprintf(f, "static const unsigned char test_images[%lld][784] = {\n", (long long)nimages);
    for (i = 0; i < nimages; i++) {
        fprintf(f, "    {");
        for (j = 0; j < 784; j++) fprintf(f, "%s%d", j ? (j % 28 ? "," : ",\n     ") : "", pix[i * 784 + j]);
        fprintf(f, "},\n");
    }
    fprintf(f, "};\nstatic const unsigned char test_labels[%lld] = {", (long long)nimages);
    for (i = 0; i < nimages; i++) fprintf(f, "%s%lld", i == 0 ? "\n    " : i % 32 ? "," : ",\n    ", (long long)labels[i]);
    fprintf(f, "\n};\nstatic const unsigned char desktop_pred[%lld] = {", (long long)nimages);
    for (i = 0; i < nimages; i++) fprintf(f, "%s%lld", i == 0 ? "\n    " : i % 32 ? "," : ",\n    ", (long long)pred[i]);
    fprintf(f, "\n};\n");
    if (fclose(f) != 0) { fprintf(stderr, "export_model: cannot write %s\n", out_path); return 1; }
    printf("export_model: %s: %d tensors, %lld images; desktop accuracy %lld/%lld = %.2f%%\n", out_path, nst,
           (long long)nimages, (long long)correct, (long long)nimages, 100.0 * (double)correct / (double)nimages);
    free(pix); free(labels); free(pred);
    nn_dataset_free(test);
    nn_module_free(model);
    nn_free(x1);
    nn_ctx_free(ctx);
    return 0;
}
