/* A tiny GPT (nanoGPT's model, makemore's task) that makes up English words, character by character:
   token and position embeddings (nn.Embedding wte (27, E), wpe (block_size, E)), a stack of GPT-2 blocks
   (nn_gpt_block_new: pre-norm, causal MultiheadAttention, MLP E-4E-E with GELU) in an nn.Sequential,
   a final LayerNorm and a bias-free Linear head; next-character cross-entropy over windows of
   block_size characters, AdamW with a cosine-annealed learning rate and clip_grad_norm_. Sampled
   with nn_sample_logits (temperature and top_k), the context growing one character at a time.
   Data as examples/char_rnn.c: the words of Debian's wamerican list made only of a-z (63,875),
   shuffled with a fixed seed and split 90/10 into train and validation, each word followed by
   '\n' (27 tokens); windows start anywhere in the word stream.
   Prints the model, then the train and validation loss with samples as it trains, the training
   speed in tokens (characters) per second, and at the end new words with how many of them are
   not in the list. make bench-gpt runs it next to bench/torch_tiny_gpt.py, the same model in PyTorch
   from the same initial weights (--save-init) on the same windows.
   ./tiny_gpt [--steps N] [--threads N] [--n-layer N] [--n-embd N] [--n-head N] [--block-size N]
              [--temperature T] [--top-k K] [--seed N] [--save-init PATH] [--short] [--help] ...
   --short (CI, make test-tiny-gpt): 200 steps, and exits 1 unless the validation loss falls
   below 0.75x its starting value.
   Observed here (AMD EPYC, 2 cores, --threads 2, the defaults: 205,568 parameters, 1000 steps, 73 s):
       step     0  val loss 3.4424 (1024 windows)
       step   500  train loss 2.2217  val loss 2.1710  (...)
       step  1000  train loss 2.1098  val loss 2.0963  (68.3 s training, 14846 tokens/s)
       40 words made up at temperature 0.8, top_k 10 (* = in the word list):
         adberters  bearbord  brusheasing  strid  rean  paller  trused  thoos
         fearding  bothit  rantorize  barrop  conesses  regader  fromen  patchount ...
       36 of 40 are not in the list
   (15,000-20,000 tokens/s here depending on the machine's other load; PyTorch 1.13 on the same
   model about 37,000, see make bench-gpt.) --short: val loss 3.4398 -> 2.3838 after 200 steps
   ("ok: validation loss 2.3838 < 0.75 x 3.4398 = 2.5799"), words like areraced, demuretis,
   cingles, mitrivingionges, atering. From the same weights and windows PyTorch's run gives the
   same losses to 4 decimals (make bench-gpt). */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "tiny_gpt"
#define SYNOPSIS "Trains a tiny GPT on English words, character by character, and samples new ones.\n"
#include "args.h"   /* the command line: a table of flags, --help, checked numbers */

#define VOCAB 27          /* token 0 is '\n' (the end of a word), 1..26 are 'a'..'z' */
#define MAX_WORD 64

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* splitmix64: the split's shuffle and the windows' positions (bench/torch_tiny_gpt.py has the same) */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The words of the list made only of a-z, shuffled (Fisher-Yates, splitmix64 from split_seed) and
   split 90/10; the two streams of tokens, each word followed by 0 ('\n'). */
typedef struct {
    char **words; int64_t nwords, ntrain;     /* words[0..ntrain-1] train, the rest validate */
    int64_t *train, *val; int64_t ntrain_tok, nval_tok;
    char **sorted;                            /* all the words in strcmp order, to look samples up */
} corpus;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_words(const char *path, uint64_t split_seed, corpus *c) {
    FILE *f = fopen(path, "r");
    char line[256];
    int64_t cap = 0, i, k;
    uint64_t s = split_seed;
    memset(c, 0, sizeof *c);
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n"), j;
        line[n] = 0;
        if (n == 0 || n >= MAX_WORD) continue;
        for (j = 0; j < n && line[j] >= 'a' && line[j] <= 'z'; j++) {}
        if (j < n) continue;
        if (c->nwords == cap) {
            char **w = (char **)realloc(c->words, (size_t)(cap = cap ? 2 * cap : 1024) * sizeof *w);
            if (!w) { fclose(f); return 0; }
            c->words = w;
        }
        if (!(c->words[c->nwords] = (char *)malloc(n + 1))) { fclose(f); return 0; }
        memcpy(c->words[c->nwords++], line, n + 1);
    }
    fclose(f);
    if (c->nwords < 10) return 0;
    for (i = c->nwords - 1; i > 0; i--) {
        int64_t j = (int64_t)(next_u64(&s) % (uint64_t)(i + 1));
        char *t = c->words[i]; c->words[i] = c->words[j]; c->words[j] = t;
    }
    c->ntrain = c->nwords * 9 / 10;
    for (i = 0; i < c->nwords; i++) *(i < c->ntrain ? &c->ntrain_tok : &c->nval_tok) += (int64_t)strlen(c->words[i]) + 1;
    c->train = (int64_t *)malloc((size_t)c->ntrain_tok * sizeof(int64_t));
    c->val = (int64_t *)malloc((size_t)c->nval_tok * sizeof(int64_t));
    c->sorted = (char **)malloc((size_t)c->nwords * sizeof(char *));
    if (!c->train || !c->val || !c->sorted) return 0;
    for (i = 0, k = 0; i < c->nwords; i++) {
        int64_t *dst = i < c->ntrain ? c->train : c->val;
        const char *w = c->words[i];
        if (i == c->ntrain) k = 0;
        while (*w) dst[k++] = *w++ - 'a' + 1;
        dst[k++] = 0;
    }
    memcpy(c->sorted, c->words, (size_t)c->nwords * sizeof(char *));
    qsort(c->sorted, (size_t)c->nwords, sizeof(char *), cmp_str);
    return 1;
}

static int known_word(const corpus *c, const char *w) {
    return bsearch(&w, c->sorted, (size_t)c->nwords, sizeof(char *), cmp_str) != NULL;
}

static void free_words(corpus *c) {
    int64_t i;
    for (i = 0; i < c->nwords; i++) free(c->words[i]);
    free(c->words); free(c->train); free(c->val); free(c->sorted);
}

/* ==== the model: nanoGPT's GPT, its state dict named as nanoGPT's ==== */

typedef struct { nn_module *wte, *wpe, *h, *ln_f, *lm_head; nn_tensor *pos; } gpt;

/* idx int64 (B, T), T <= block_size -> logits (B, T, 27) */
static nn_tensor *gpt_forward(nn_module *self, nn_tensor *idx) {
    gpt *g = (gpt *)self->user;
    int64_t T = nn_size(idx, 1);
    nn_tensor *tok = nn_forward(g->wte, idx);                              /* (B, T, E) */
    nn_tensor *pos = nn_forward(g->wpe, nn_slice(g->pos, 0, 0, T, 1));     /* (T, E) */
    nn_tensor *x = nn_forward(g->h, nn_add(tok, pos));
    return nn_forward(g->lm_head, nn_forward(g->ln_f, x));
}

static nn_module *gpt_new(nn_ctx *ctx, gpt *g, int64_t n_layer, int64_t n_head, int64_t n_embd, int64_t block_size) {
    nn_module *m = nn_module_new(ctx, "GPT", gpt_forward, g), *tr = nn_module_new(ctx, "ModuleDict", NULL, NULL);
    nn_module *blocks[64];
    int64_t i, *pos = (int64_t *)malloc((size_t)block_size * sizeof(int64_t));
    if (!m || !tr || !pos || n_layer > 64) { free(pos); return NULL; }
    for (i = 0; i < block_size; i++) pos[i] = i;
    g->pos = nn_from_i64(ctx, 1, &block_size, pos);
    free(pos);
    g->wte = nn_module_add(tr, "wte", nn_embedding_new(ctx, VOCAB, n_embd));
    g->wpe = nn_module_add(tr, "wpe", nn_embedding_new(ctx, block_size, n_embd));
    for (i = 0; i < n_layer; i++) blocks[i] = nn_gpt_block_new(ctx, n_embd, n_head, 0.0f);
    g->h = nn_module_add(tr, "h", nn_sequential_new(ctx, blocks, (int)n_layer));
    g->ln_f = nn_module_add(tr, "ln_f", nn_layer_norm_new(ctx, 1, &n_embd, 1e-5f, 1));
    nn_module_add(m, "transformer", tr);
    g->lm_head = nn_module_add(m, "lm_head", nn_linear_new(ctx, n_embd, VOCAB, 0));
    if (!g->pos || !g->wte || !g->wpe || !g->h || !g->ln_f || !g->lm_head) return NULL;
    return m;
}

/* mean cross-entropy of the windows of T+1 tokens starting at 0, T, 2T, ... of the stream (nwin of them) */
static double evaluate(nn_ctx *ctx, nn_module *model, const int64_t *stream, int64_t nwin, nn_tensor *xb, nn_tensor *yb) {
    int64_t B = nn_size(xb, 0), T = nn_size(xb, 1), w, i, n = 0;
    double total = 0;
    nn_cross_entropy_opts ce = nn_cross_entropy_opts_default();
    nn_module_eval(model);
    NN_NO_GRAD(ctx) {
        for (w = 0; w + B <= nwin; w += B) {
            for (i = 0; i < B * T; i++) {
                nn_i64(xb)[i] = stream[(w + i / T) * T + i % T];
                nn_i64(yb)[i] = stream[(w + i / T) * T + i % T + 1];
            }
            total += nn_item(nn_cross_entropy(nn_view(nn_forward(model, xb), 2, (int64_t[]){ B * T, VOCAB }),
                                              nn_view(yb, 1, (int64_t[]){ B * T }), ce));
            n++;
            nn_arena_reset(ctx);
        }
    }
    nn_module_train(model, 1);
    return n ? total / (double)n : NAN;
}

/* One made-up word: the context starts as '\n'; the model reads the last block_size characters and
   the next is drawn from the top_k of softmax(logits / temperature), until the model ends the word. */
static int sample_word(nn_ctx *ctx, nn_module *model, int64_t block_size, float temperature, int64_t top_k, char *out) {
    int64_t ctxt[MAX_WORD + 1], len = 1, shape[2] = { 1, 0 };
    int n = 0;
    ctxt[0] = 0;
    nn_module_eval(model);
    NN_NO_GRAD(ctx) {
        while (n < MAX_WORD - 1) {
            int64_t t = len < block_size ? len : block_size;
            nn_tensor *x, *logits, *next;
            shape[1] = t;
            x = nn_from_i64(ctx, 2, shape, ctxt + len - t);
            logits = nn_forward(model, x);                               /* (1, t, 27) */
            next = nn_sample_logits(nn_select(logits, 1, t - 1), temperature, top_k);   /* from (1, 27) */
            nn_free(x);
            if (!next) break;
            ctxt[len++] = nn_i64(next)[0];
            nn_arena_reset(ctx);
            if (ctxt[len - 1] == 0) break;
            out[n++] = (char)('a' + ctxt[len - 1] - 1);
        }
    }
    out[n] = 0;
    nn_arena_reset(ctx);
    nn_module_train(model, 1);
    return n;
}

static void print_samples(nn_ctx *ctx, nn_module *model, const corpus *c, int64_t block_size, float temperature,
                          int64_t top_k, int count, int final) {
    char w[MAX_WORD];
    int i, fresh = 0;
    if (final) printf("%d words made up at temperature %g, top_k %lld (* = in the word list):\n", count, (double)temperature,
                      (long long)top_k);
    else printf("  samples:");
    for (i = 0; i < count; i++) {
        int known;
        sample_word(ctx, model, block_size, temperature, top_k, w);
        known = known_word(c, w);
        fresh += !known;
        printf(final ? "  %s%s%s" : " %s%s", w, known ? "*" : "", final && i % 8 == 7 ? "\n" : "");
    }
    if (final) printf("%s%d of %d are not in the list\n", count % 8 ? "\n" : "", fresh, count);
    else printf("\n");
}

int main(int argc, char **argv) {
    const char *path = "/usr/share/dict/american-english", *save_init = NULL;
    int64_t steps = 1000, batch = 32, block_size = 32, n_layer = 4, n_head = 4, n_embd = 64, seed = 1, threads = 2;
    int64_t eval_every = 250, nsamples = 10, val_windows = 1024, top_k = 10, warmup = 10;
    double lr = 2e-3, weight_decay = 0.01, clip = 1.0, temperature = 0.8;
    int is_short = 0;
    const arg_spec args[] = {
        { "--words", ARG_STR, &path, 0, 0, "PATH", "word list, one a line (default /usr/share/dict/american-english)" },
        { "--steps", ARG_INT, &steps, 1, 1e9, "N", "training steps (default 1000)" },
        { "--batch-size", ARG_INT, &batch, 1, 65536, "N", "windows per step (default 32)" },
        { "--block-size", ARG_INT, &block_size, 1, 4096, "N", "characters per window, the context (default 32)" },
        { "--n-layer", ARG_INT, &n_layer, 1, 64, "N", "GPT blocks (default 4)" },
        { "--n-head", ARG_INT, &n_head, 1, 256, "N", "attention heads (default 4)" },
        { "--n-embd", ARG_INT, &n_embd, 1, 8192, "N", "embedding size, a multiple of n_head (default 64)" },
        { "--lr", ARG_REAL, &lr, 0, 10, "LR", "AdamW's learning rate, cosine-annealed to lr/10 (default 2e-3)" },
        { "--weight-decay", ARG_REAL, &weight_decay, 0, 10, "X", "AdamW's weight decay (default 0.01)" },
        { "--clip", ARG_REAL, &clip, 0, 1e9, "X", "clip_grad_norm_'s max norm (default 1)" },
        { "--temperature", ARG_REAL, &temperature, 1e-3, 100, "T", "sampling temperature (default 0.8)" },
        { "--top-k", ARG_INT, &top_k, 0, VOCAB, "K", "sample from the K likeliest characters (default 10; 0: all)" },
        { "--samples", ARG_INT, &nsamples, 0, 1e6, "N", "words sampled at each evaluation (default 10; 40 at the end)" },
        { "--eval-every", ARG_INT, &eval_every, 1, 1e9, "N", "steps between evaluations (default 250)" },
        { "--val-windows", ARG_INT, &val_windows, 1, 1e9, "N", "validation windows (default 1024, at most what the split holds)" },
        { "--warmup", ARG_INT, &warmup, 0, 1e9, "N", "steps left out of the tokens/s timing (default 10)" },
        { "--seed", ARG_INT, &seed, 0, 9e18, "N", "seed of the weights, the windows and the samples (default 1)" },
        { "--threads", ARG_INT, &threads, 1, 256, "N", "nn_set_num_threads (default 2)" },
        { "--save-init", ARG_STR, &save_init, 0, 0, "PATH", "write the initial weights there (safetensors) for bench/torch_tiny_gpt.py" },
        { "--short", ARG_SWITCH, &is_short, 0, 0, NULL,
          "CI: 200 steps; fails unless the validation loss falls below 0.75x its start" },
    };
    int parsed = parse_args(argc, argv, args, (int)(sizeof args / sizeof args[0]));
    nn_ctx *ctx;
    corpus words;
    gpt g;
    nn_module *model;
    nn_adam_opts ao = nn_adamw_opts_default();
    nn_cross_entropy_opts ce = nn_cross_entropy_opts_default();
    nn_tensor *params[1024], *xb, *yb, *xv, *yv;
    nn_optim *opt;
    nn_scheduler *sched;
    int np, rc = 0, train_n = 0;
    int64_t step, i, shape[2];
    uint64_t win_rng;
    double first_val, val = NAN, train_sum = 0, t_train = 0;
    const char *err;

    if (parsed) return parsed == 1 ? 0 : 2;
    if (n_embd % n_head) { fprintf(stderr, "%s: --n-embd %lld is not a multiple of --n-head %lld\n", PROG, (long long)n_embd, (long long)n_head); return 2; }
    if (is_short) { steps = 200; eval_every = 100; nsamples = 8; val_windows = 512; }
    if (warmup >= steps) warmup = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!load_words(path, 1234, &words)) {
        fprintf(stderr, "%s: cannot read the words of %s (Debian: apt-get install wamerican)\n", PROG, path);
        return 1;
    }
    if (val_windows > (words.nval_tok - 1) / block_size) val_windows = (words.nval_tok - 1) / block_size;
    ctx = nn_ctx_new();
    if (!ctx) { fprintf(stderr, "out of memory\n"); return 1; }
    threads = nn_set_num_threads(ctx, (int)threads);
    nn_manual_seed(ctx, (uint64_t)seed);
    win_rng = (uint64_t)seed * 0x2545f4914f6cdd1dULL + 7;

    model = gpt_new(ctx, &g, n_layer, n_head, n_embd, block_size);
    np = model ? nn_module_parameters(model, params, 1024) : 0;
    ao.lr = lr; ao.weight_decay = weight_decay;
    opt = nn_adamw(params, np, ao);
    sched = nn_cosine_annealing_lr(opt, steps, lr / 10);
    shape[0] = batch; shape[1] = block_size;
    xb = nn_zeros_dtype(ctx, 2, shape, NN_INT64); yb = nn_zeros_dtype(ctx, 2, shape, NN_INT64);
    shape[0] = 256 < val_windows ? 256 : val_windows;
    xv = nn_zeros_dtype(ctx, 2, shape, NN_INT64); yv = nn_zeros_dtype(ctx, 2, shape, NN_INT64);
    if (!model || !opt || !sched || !xb || !yb || !xv || !yv) {
        err = nn_error(ctx);
        fprintf(stderr, "setup failed: %s\n", err ? err : "out of memory");
        return 1;
    }
    if (save_init && !nn_save_model(model, save_init)) {
        fprintf(stderr, "cannot write %s: %s\n", save_init, nn_error(ctx));
        return 1;
    }
    printf("%lld words (%lld train, %lld validation), %lld + %lld characters with the '\\n' ending each word\n",
           (long long)words.nwords, (long long)words.ntrain, (long long)(words.nwords - words.ntrain),
           (long long)words.ntrain_tok, (long long)words.nval_tok);
    printf("GPT: n_layer %lld, n_head %lld, n_embd %lld, block_size %lld, vocab 27: %lld parameters\n", (long long)n_layer,
           (long long)n_head, (long long)n_embd, (long long)block_size, (long long)nn_module_num_parameters(model));
    printf("AdamW lr %g (cosine to %g), weight_decay %g, clip_grad_norm %g, batch %lld x %lld, %lld steps, %d thread(s), %s kernels\n",
           lr, lr / 10, weight_decay, clip, (long long)batch, (long long)block_size, (long long)steps, (int)threads,
           nn_get_cpu_capability());

    first_val = evaluate(ctx, model, words.val, val_windows, xv, yv);
    printf("step %5d  val loss %.4f (%lld windows)\n", 0, first_val, (long long)(val_windows / nn_size(xv, 0) * nn_size(xv, 0)));
    for (step = 1; step <= steps; step++) {
        double t0 = now();
        nn_tensor *loss;
        for (i = 0; i < batch; i++) {
            int64_t p = (int64_t)(next_u64(&win_rng) % (uint64_t)(words.ntrain_tok - block_size)), j;
            for (j = 0; j < block_size; j++) {
                nn_i64(xb)[i * block_size + j] = words.train[p + j];
                nn_i64(yb)[i * block_size + j] = words.train[p + j + 1];
            }
        }
        loss = nn_cross_entropy(nn_view(nn_forward(model, xb), 2, (int64_t[]){ batch * block_size, VOCAB }),
                                nn_view(yb, 1, (int64_t[]){ batch * block_size }), ce);
        nn_optim_zero_grad(opt);
        nn_backward(loss, NULL, 0);
        if (clip > 0) nn_clip_grad_norm(params, np, (float)clip, 2.0f);
        nn_optim_step(opt);
        nn_scheduler_step(sched);
        train_sum += nn_item(loss); train_n++;
        nn_arena_reset(ctx);
        if (step > warmup) t_train += now() - t0;
        if ((err = nn_error(ctx))) break;
        if (step % eval_every == 0 || step == steps) {
            val = evaluate(ctx, model, words.val, val_windows, xv, yv);
            printf("step %5lld  train loss %.4f  val loss %.4f  (%.1f s training, %.0f tokens/s)\n", (long long)step,
                   train_sum / train_n, val, t_train, step > warmup ? (double)((step - warmup) * batch * block_size) / t_train : 0.0);
            train_sum = 0; train_n = 0;
            if (nsamples > 0 && step < steps) print_samples(ctx, model, &words, block_size, (float)temperature, top_k, (int)nsamples, 0);
        }
    }
    err = nn_error(ctx);
    if (err) { fprintf(stderr, "error: %s\n", err); rc = 1; }
    else {
        printf("\ntraining speed: %.0f tokens/s (steps %lld to %lld, batch %lld x %lld, %d thread(s))\n",
               (double)((steps - warmup) * batch * block_size) / t_train, (long long)(warmup + 1), (long long)steps,
               (long long)batch, (long long)block_size, (int)threads);
        printf("val loss after %lld steps: %.4f (from %.4f, %.2fx)\n", (long long)steps, val, first_val, val / first_val);
        if (nsamples > 0) print_samples(ctx, model, &words, block_size, (float)temperature, top_k, is_short ? 16 : 40, 1);
        if (is_short) {
            int ok = val < 0.75 * first_val;
            printf("%s: validation loss %.4f %s 0.75 x %.4f = %.4f after %lld steps\n", ok ? "ok" : "FAIL", val,
                   ok ? "<" : ">=", first_val, 0.75 * first_val, (long long)steps);
            if (!ok) rc = 1;
        }
    }
    nn_free(xb); nn_free(yb); nn_free(xv); nn_free(yv); nn_free(g.pos);
    nn_scheduler_free(sched);
    nn_optim_free(opt);
    nn_module_free(model);
    nn_ctx_free(ctx);
    free_words(&words);
    return rc;
}
