/* A character-level language model of English words (makemore's task, Karpathy's char-rnn's model):
   nn.Embedding(27, 32) -> nn.LSTM(32, 256, batch_first=True) (nn.GRU with --cell gru) -> nn.Linear(256, 27),
   trained with AdamW, cosine-annealed learning rate and clip_grad_norm_ on random windows of the
   word stream, then sampled one character at a time (nn_sample_logits with a temperature, the
   LSTM's h and c carried from step to step) to make up new words.
   Data: the words of Debian's wamerican list (/usr/share/dict/american-english) made only of a-z
   (63,875), in an order shuffled with a fixed seed: the first 90% train, the last 10% validate.
   Each word ends in '\n', so the vocabulary is '\n' and a-z (27 tokens), and the model learns
   where words end. Windows start anywhere in the stream (the state starts at zero in each).
   Prints the train and validation loss (nats per character; ln 27 = 3.30 is a uniform guess),
   samples as it trains, and at the end new words with how many of them are not in the list.
   ./char_rnn [--cell lstm|gru] [--steps N] [--threads N] [--seed N] [--short] [--help] ...
   --short (CI, make test-char-rnn): 200 steps, and exits 1 unless the validation loss falls
   below 0.75x its starting value.
   Observed here (AMD EPYC, 2 cores, --threads 2, the defaults: 1000 steps, 51 s):
       step     0  val loss 3.2876 (1024 windows of 32)
       step   500  train loss 2.0227  val loss 1.9858  (...)
       step  1000  train loss 1.9195  val loss 1.9204  (...)
       40 words made up at temperature 0.8 (* = in the word list):
         drobnishes  theaked  express*  defarts  shorts*  overredeconverates  backsy  resternast
         mastics  sweets*  compecrations  trourding  walling*  antharcholetists  prigational  ergen ...
       35 of 40 are not in the list
       validation loss 3.2876 -> 1.9204 (0.58x)
   --short: val loss 3.2877 -> 2.1672 after 200 steps ("ok: validation loss 2.1672 < 0.75 x 3.2877
   = 2.4658"), words like chelologial, tormich, reverag, lurfing, waudering; with --cell gru
   3.2936 -> 2.1569. The GRU's full run (57 s): 3.2937 -> 1.9118, words like brooler, harruding,
   afferpondering, bomberships. A run repeats exactly, at 1 or 2 threads. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "char_rnn"
#define SYNOPSIS "Trains a character-level LSTM (or GRU) on English words and samples new ones.\n"
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

/* ==== the model: Embedding -> LSTM or GRU (batch_first) -> Linear ==== */

typedef struct { nn_module *wte, *rnn, *lm_head; int lstm; } char_rnn;

/* x int64 (B, T) -> logits (B, T, 27) from a zero state */
static nn_tensor *forward(char_rnn *m, nn_tensor *x) {
    return nn_forward(m->lm_head, nn_forward(m->rnn, nn_forward(m->wte, x)));
}

/* mean cross-entropy of the windows of T+1 tokens starting at 0, T, 2T, ... of the stream (nwin of them) */
static double evaluate(nn_ctx *ctx, char_rnn *m, nn_module *model, const int64_t *stream, int64_t nwin, int64_t T,
                       nn_tensor *xb, nn_tensor *yb) {
    int64_t B = nn_size(xb, 0), w, i, n = 0;
    double total = 0;
    nn_cross_entropy_opts ce = nn_cross_entropy_opts_default();
    nn_module_eval(model);
    NN_NO_GRAD(ctx) {
        for (w = 0; w + B <= nwin; w += B) {
            int64_t shape[1] = { B * T };
            for (i = 0; i < B * T; i++) {
                nn_i64(xb)[i] = stream[(w + i / T) * T + i % T];
                nn_i64(yb)[i] = stream[(w + i / T) * T + i % T + 1];
            }
            total += nn_item(nn_cross_entropy(nn_view(forward(m, xb), 2, (int64_t[]){ B * T, VOCAB }),
                                              nn_view(yb, 1, shape), ce));
            n++;
            nn_arena_reset(ctx);
        }
    }
    nn_module_train(model, 1);
    return n ? total / (double)n : NAN;
}

/* One made-up word: starting from '\n' and a zero state, feed one character at a time, carrying
   (h, c), and draw the next from softmax(logits / temperature) until the model ends the word. */
static int sample_word(nn_ctx *ctx, char_rnn *m, float temperature, char *out) {
    int64_t one[2] = { 1, 1 }, tok = 0;
    int n = 0;
    nn_tensor *x = nn_from_i64(ctx, 2, one, &tok), *h = NULL, *c = NULL;
    if (!x) return 0;
    NN_NO_GRAD(ctx) {
        while (n < MAX_WORD - 1) {
            nn_tensor *in[3], *out_[3], *logits, *next;
            nn_i64(x)[0] = tok;
            in[0] = nn_forward(m->wte, x);                 /* (1, 1, 32) */
            in[1] = h; in[2] = c;
            if (nn_forward_n(m->rnn, in, m->lstm ? 3 : 2, out_, m->lstm ? 3 : 2) < 0) break;
            h = out_[1]; c = m->lstm ? out_[2] : NULL;     /* h_n (1, 1, H), c_n */
            logits = nn_forward(m->lm_head, out_[0]);      /* (1, 1, 27) */
            next = nn_sample_logits(nn_view(logits, 2, (int64_t[]){ 1, VOCAB }), temperature, 0);
            if (!next) break;
            tok = nn_i64(next)[0];
            if (tok == 0) break;
            out[n++] = (char)('a' + tok - 1);
        }
    }
    out[n] = 0;
    nn_arena_reset(ctx);
    nn_free(x);
    return n;
}

static void print_samples(nn_ctx *ctx, char_rnn *m, const corpus *c, float temperature, int count, int final) {
    char w[MAX_WORD];
    int i, fresh = 0;
    printf(final ? "%d words made up at temperature %g (* = in the word list):\n" : "  samples:", count, (double)temperature);
    for (i = 0; i < count; i++) {
        int known;
        sample_word(ctx, m, temperature, w);
        known = known_word(c, w);
        fresh += !known;
        printf(final ? "  %s%s%s" : " %s%s", w, known ? "*" : "", final && i % 8 == 7 ? "\n" : "");
    }
    if (final) printf("%s%d of %d are not in the list\n", count % 8 ? "\n" : "", fresh, count);
    else printf("\n");
}

int main(int argc, char **argv) {
    const char *path = "/usr/share/dict/american-english", *cell = "lstm";
    int64_t steps = 1000, batch = 32, T = 32, embd = 32, hidden = 256, layers = 1, seed = 1, threads = 2;
    int64_t eval_every = 250, nsamples = 10, val_windows = 1024;
    double lr = 3e-3, clip = 1.0, temperature = 0.8;
    int is_short = 0;
    const arg_spec args[] = {
        { "--words", ARG_STR, &path, 0, 0, "PATH", "word list, one a line (default /usr/share/dict/american-english)" },
        { "--cell", ARG_STR, &cell, 0, 0, "lstm|gru", "the recurrent layer (default lstm)" },
        { "--steps", ARG_INT, &steps, 1, 1e9, "N", "training steps (default 1000)" },
        { "--batch-size", ARG_INT, &batch, 1, 65536, "N", "windows per step (default 32)" },
        { "--seq-len", ARG_INT, &T, 1, 4096, "N", "characters per window (default 32)" },
        { "--embd", ARG_INT, &embd, 1, 4096, "N", "embedding size (default 32)" },
        { "--hidden", ARG_INT, &hidden, 1, 8192, "N", "hidden size (default 256)" },
        { "--layers", ARG_INT, &layers, 1, 16, "N", "stacked recurrent layers (default 1)" },
        { "--lr", ARG_REAL, &lr, 0, 10, "LR", "AdamW's learning rate, cosine-annealed to lr/10 (default 3e-3)" },
        { "--clip", ARG_REAL, &clip, 0, 1e9, "X", "clip_grad_norm_'s max norm (default 1)" },
        { "--temperature", ARG_REAL, &temperature, 1e-3, 100, "T", "sampling temperature (default 0.8)" },
        { "--samples", ARG_INT, &nsamples, 0, 1e6, "N", "words sampled at each evaluation (default 10; 40 at the end)" },
        { "--eval-every", ARG_INT, &eval_every, 1, 1e9, "N", "steps between evaluations (default 250)" },
        { "--val-windows", ARG_INT, &val_windows, 1, 1e9, "N", "validation windows (default 1024, at most what the split holds)" },
        { "--seed", ARG_INT, &seed, 0, 9e18, "N", "seed of the weights, the windows and the samples (default 1)" },
        { "--threads", ARG_INT, &threads, 1, 256, "N", "nn_set_num_threads (default 2)" },
        { "--short", ARG_SWITCH, &is_short, 0, 0, NULL,
          "CI: 200 steps; fails unless the validation loss falls below 0.75x its start" },
    };
    int parsed = parse_args(argc, argv, args, (int)(sizeof args / sizeof args[0]));
    nn_ctx *ctx;
    corpus words;
    char_rnn m;
    nn_module *model;
    nn_rnn_opts ro = nn_rnn_opts_default();
    nn_adam_opts ao = nn_adamw_opts_default();
    nn_cross_entropy_opts ce = nn_cross_entropy_opts_default();
    nn_tensor *params[64], *xb, *yb, *xv, *yv;
    nn_optim *opt;
    nn_scheduler *sched;
    int np, rc = 0;
    int64_t step, i, shape[2];
    uint64_t win_rng;
    double first_val, val = NAN, train_sum = 0, t_train = 0;
    int train_n = 0;
    const char *err;

    if (parsed) return parsed == 1 ? 0 : 2;
    if (strcmp(cell, "lstm") && strcmp(cell, "gru")) {
        fprintf(stderr, "%s: --cell is lstm or gru, not '%s'\n", PROG, cell);
        return 2;
    }
    if (is_short) { steps = 200; eval_every = 100; nsamples = 8; val_windows = 512; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!load_words(path, 1234, &words)) {
        fprintf(stderr, "%s: cannot read the words of %s (Debian: apt-get install wamerican)\n", PROG, path);
        return 1;
    }
    if (val_windows > (words.nval_tok - 1) / T) val_windows = (words.nval_tok - 1) / T;
    ctx = nn_ctx_new();
    if (!ctx) { fprintf(stderr, "out of memory\n"); return 1; }
    threads = nn_set_num_threads(ctx, (int)threads);
    nn_manual_seed(ctx, (uint64_t)seed);
    win_rng = (uint64_t)seed * 0x2545f4914f6cdd1dULL + 7;

    m.lstm = !strcmp(cell, "lstm");
    ro.num_layers = layers; ro.batch_first = 1;
    model = nn_module_new(ctx, "CharRNN", NULL, NULL);
    m.wte = nn_module_add(model, "wte", nn_embedding_new(ctx, VOCAB, embd));
    m.rnn = nn_module_add(model, "rnn", m.lstm ? nn_lstm_new(ctx, embd, hidden, ro) : nn_gru_new(ctx, embd, hidden, ro));
    m.lm_head = nn_module_add(model, "lm_head", nn_linear_new(ctx, hidden, VOCAB, 1));
    np = nn_module_parameters(model, params, 64);
    ao.lr = lr;
    opt = nn_adamw(params, np, ao);
    sched = nn_cosine_annealing_lr(opt, steps, lr / 10);
    shape[0] = batch; shape[1] = T;
    xb = nn_zeros_dtype(ctx, 2, shape, NN_INT64); yb = nn_zeros_dtype(ctx, 2, shape, NN_INT64);
    shape[0] = 256 < val_windows ? 256 : val_windows;
    xv = nn_zeros_dtype(ctx, 2, shape, NN_INT64); yv = nn_zeros_dtype(ctx, 2, shape, NN_INT64);
    if (!m.wte || !m.rnn || !m.lm_head || !opt || !sched || !xb || !yb || !xv || !yv) {
        err = nn_error(ctx);
        fprintf(stderr, "setup failed: %s\n", err ? err : "out of memory");
        return 1;
    }
    printf("%lld words (%lld train, %lld validation), %lld + %lld characters with the '\\n' ending each word\n",
           (long long)words.nwords, (long long)words.ntrain, (long long)(words.nwords - words.ntrain),
           (long long)words.ntrain_tok, (long long)words.nval_tok);
    printf("Embedding(27, %lld) -> %s(%lld, %lld, num_layers=%lld, batch_first=True) -> Linear(%lld, 27): %lld parameters\n",
           (long long)embd, m.lstm ? "LSTM" : "GRU", (long long)embd, (long long)hidden, (long long)layers,
           (long long)hidden, (long long)nn_module_num_parameters(model));
    printf("AdamW lr %g (cosine to %g), clip_grad_norm %g, batch %lld x %lld characters, %lld steps, %d thread(s), %s kernels\n",
           lr, lr / 10, clip, (long long)batch, (long long)T, (long long)steps, (int)threads, nn_get_cpu_capability());

    first_val = evaluate(ctx, &m, model, words.val, val_windows, T, xv, yv);
    printf("step %5d  val loss %.4f (%lld windows of %lld)\n", 0, first_val, (long long)(val_windows / nn_size(xv, 0) * nn_size(xv, 0)), (long long)T);
    for (step = 1; step <= steps; step++) {
        double t0 = now();
        nn_tensor *loss;
        for (i = 0; i < batch; i++) {
            int64_t p = (int64_t)(next_u64(&win_rng) % (uint64_t)(words.ntrain_tok - T)), j;
            for (j = 0; j < T; j++) { nn_i64(xb)[i * T + j] = words.train[p + j]; nn_i64(yb)[i * T + j] = words.train[p + j + 1]; }
        }
        loss = nn_cross_entropy(nn_view(forward(&m, xb), 2, (int64_t[]){ batch * T, VOCAB }),
                                nn_view(yb, 1, (int64_t[]){ batch * T }), ce);
        nn_optim_zero_grad(opt);
        nn_backward(loss, NULL, 0);
        if (clip > 0) nn_clip_grad_norm(params, np, (float)clip, 2.0f);
        nn_optim_step(opt);
        nn_scheduler_step(sched);
        train_sum += nn_item(loss); train_n++;
        nn_arena_reset(ctx);
        t_train += now() - t0;
        if ((err = nn_error(ctx))) break;
        if (step % eval_every == 0 || step == steps) {
            val = evaluate(ctx, &m, model, words.val, val_windows, T, xv, yv);
            printf("step %5lld  train loss %.4f  val loss %.4f  (%.1f s, %.0f characters/s)\n", (long long)step,
                   train_sum / train_n, val, t_train, (double)(step * batch * T) / t_train);
            train_sum = 0; train_n = 0;
            if (nsamples > 0 && step < steps) print_samples(ctx, &m, &words, (float)temperature, (int)nsamples, 0);
        }
    }
    err = nn_error(ctx);
    if (err) { fprintf(stderr, "error: %s\n", err); rc = 1; }
    else {
        printf("\n");
        print_samples(ctx, &m, &words, (float)temperature, is_short ? 16 : 40, 1);
        printf("validation loss %.4f -> %.4f (%.2fx)\n", first_val, val, val / first_val);
        if (is_short) {
            int ok = val < 0.75 * first_val;
            printf("%s: validation loss %.4f %s 0.75 x %.4f = %.4f after %lld steps\n", ok ? "ok" : "FAIL", val,
                   ok ? "<" : ">=", first_val, 0.75 * first_val, (long long)steps);
            if (!ok) rc = 1;
        }
    }
    nn_free(xb); nn_free(yb); nn_free(xv); nn_free(yv);
    nn_scheduler_free(sched);
    nn_optim_free(opt);
    nn_module_free(model);
    nn_ctx_free(ctx);
    free_words(&words);
    return rc;
}
