/* DDPM (Ho et al. 2020) on a 2-D point cloud: two moons, made here from a seed, learned by a
   noise-predicting MLP and sampled back from pure noise.

   Data: sklearn's make_moons (a random moon per point, the angle uniform on [0, pi), normal noise
   0.1 on each coordinate), centred and divided by 0.71 so each coordinate's variance averages 1
   (x about 1.5, y about 0.5: the moons keep their shape). Everything comes from splitmix64
   streams of --seed, in double precision, so bench/torch_diffusion2d.py makes the same float32
   points (both print the held-out set's checksum): 8,000 to train on, 5,000 held out, 5,000 more
   real ones for the noise floor.
   Model: eps_theta(x_t, t) = MLP([x_t, nn_timestep_embedding(t, 32, 10000)]), 34-128-128-128-2
   with SiLU: an nn_module_new_n module with two inputs, so that nn_ddpm_loss calls it through
   nn_forward_n.
   Training: nn_ddpm_loss (t uniform in 0..T-1, noise N(0, I), MSE on the noise), Adam with lr 3e-3
   cosine-annealed to 0 (nn_cosine_annealing_lr; a constant lr left the samples blurred), batch 256
   from reshuffled epochs, 12,000 steps; T = 1000 steps of the linear schedule 1e-4 .. 0.02, or the
   cosine one with --schedule cosine. Why T = 1000: with those betas abar_T = prod(1 - beta_t) is
   about exp(-T * 0.01), so T = 1000 leaves sqrt(abar_T) = 0.006 of the data in x_T and sampling may
   start from N(0, I); T = 100 would leave 0.6 of it, and x_T would be far from N(0, I). The
   program prints sqrt(abar_T) for the schedule it runs.
   Sampling: x_T ~ N(0, I), then x_{t-1} = nn_ddpm_step(eps_theta(x_t, t), t, x_t) for t = T-1 .. 0
   under NN_NO_GRAD, x kept in one persistent tensor, nn_arena_reset after every step.
   Quality as numbers, against the 5,000 held-out points:
   - the sliced Wasserstein-1 distance (SWD): the mean over 256 evenly spaced directions (angles
     pi k / 256) of the 1-D W1 distance of the projections (both sorted, mean absolute difference);
   - the share of points off the moons: farther than 3 noise sigmas from both arcs (about 0.3% of
     real points). Points left between the moons move the SWD little; this counts them.
   Each next to a Gaussian with the training set's mean and covariance (what a model of the first
   two moments alone gives) and the noise floor (5,000 other real points: a perfect model's figures
   at this sample size).
   Drawn: the held-out points and the generated ones as two ASCII density plots in the terminal
   (always), and with stb (-DNN_HAVE_STB) as diffusion2d.png, two panels.

   ./diffusion2d [--steps N] [--schedule linear|cosine] [--seed N] [--short] [--png PATH]
                 [--samples PATH] [--threads N] [--help]      (--help lists the rest)
   make examples runs the full run from build/ (diffusion2d.png lands there); it exits 1 unless
   the samples' SWD is below half the Gaussian baseline's. make test-diffusion2d runs --short (CI:
   600 steps, 1,000 points, under 10 s), which exits 1 unless the mean loss of the last 50 steps
   is below 0.65x that of the first 10, twice: the output must repeat but for the times.
   make bench-diffusion trains the same recipe in PyTorch and prints both in one table
   (bench/diffusion2d.sh).

   Observed (./diffusion2d, x86-64 with AVX-512, 1 thread; the ASCII plots left out):
     schedule linear, T = 1000: sqrt(abar_T) = 0.0064 of the data left in x_T; model 34-128-128-128-2
     with SiLU (37762 parameters), Adam lr 0.003 cosine-annealed to 0, batch 256, 12000 steps, ...
     step      1  loss 1.0922  mean of the last   1 1.0922     0.0 s
     step   6000  loss 0.3055  mean of the last 100 0.2378    19.9 s
     step  12000  loss 0.2311  mean of the last 100 0.2257    38.9 s
     sampled 5000 points in 1000 reverse steps (20.1 s); training took 38.9 s
                                                      SWD     off the moons
       DDPM samples                                   0.0213   1.50%
       Gaussian with the data's mean and covariance   0.1434  31.86%
       noise floor: 5000 other real points            0.0203   0.28%
     mean loss of the first 10 steps 0.7361, of the last 50 0.2314: 0.31x
     check: the DDPM's SWD below 0.5x the Gaussian baseline's (0.0717): ok
   The SWD is at the noise floor, seven times below the Gaussian's; 1.5% of the samples lie off the
   moons against 0.3% of real points (diffusion2d.png shows them, a thin haze between the moons).
   The times are wall clock on a shared 2-core machine (make bench-diffusion's run: 33 s to train,
   18 s to sample). With --schedule cosine: SWD 0.0186, 0.82% off the moons. PyTorch, the same
   recipe (make bench-diffusion): linear 0.0191 and 1.42%, cosine 0.0201 and 0.92%.
*/
#define _POSIX_C_SOURCE 200809L   /* clock_gettime: wall-clock seconds */
#ifdef NN_HAVE_STB
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <math.h>
#include <string.h>
#include <time.h>

#define PROG "diffusion2d"
#define SYNOPSIS "Learns two moons with DDPM (a noise-predicting MLP), samples them back, and scores the samples by the\n" \
                 "sliced Wasserstein distance to held-out points, next to a Gaussian baseline and the noise floor.\n"
#include "args.h"   /* the command line: a table of flags, --help, checked numbers */

#define PI 3.14159265358979323846
#define MOON_NOISE 0.1        /* sklearn's make_moons(noise=0.1) */
#define MOON_SCALE 0.71       /* (x - 0.5, y - 0.25) / 0.71: mean 0, variance 1.5 and 0.5 */
#define N_TRAIN 8000
#define N_PROJ 256            /* directions of the sliced Wasserstein distance */
#define EMB_DIM 32
#define CHECK_FIRST 10        /* --short: the last 50 steps' mean loss against the first 10's */
#define CHECK_LAST 50
#define LOSS_FACTOR 0.65
#define SWD_FACTOR 0.5        /* the full run: the model's SWD below half the Gaussian baseline's */

/* ==== data: splitmix64 streams, the same in bench/torch_diffusion2d.py ==== */

enum { STREAM_TRAIN = 1, STREAM_HELDOUT = 2, STREAM_REAL2 = 3, STREAM_GAUSS = 4, STREAM_BATCH = 5 };
static uint64_t stream_seed(int64_t seed, int stream) { return (uint64_t)seed * 1000u + (uint64_t)stream; }

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); } /* [0, 1) */
static double rng_normal(uint64_t *s) {   /* Box-Muller, the cosine half */
    double u1 = rng_uniform(s), u2 = rng_uniform(s);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * PI * u2);
}

/* n points of two moons into xy (n, 2) */
static void make_moons(uint64_t s, int64_t n, float *xy) {
    int64_t i;
    for (i = 0; i < n; i++) {
        int upper = rng_uniform(&s) < 0.5;
        double th = PI * rng_uniform(&s);
        double x = upper ? cos(th) : 1.0 - cos(th), y = upper ? sin(th) : 0.5 - sin(th);
        x += MOON_NOISE * rng_normal(&s);
        y += MOON_NOISE * rng_normal(&s);
        xy[2 * i] = (float)((x - 0.5) / MOON_SCALE);
        xy[2 * i + 1] = (float)((y - 0.25) / MOON_SCALE);
    }
}

/* n points from the Gaussian with the mean and covariance of ref (m points) */
static void make_gaussian(uint64_t s, const float *ref, int64_t m, int64_t n, float *xy) {
    double mx = 0, my = 0, cxx = 0, cxy = 0, cyy = 0, l11, l21, l22;
    int64_t i;
    for (i = 0; i < m; i++) { mx += ref[2 * i]; my += ref[2 * i + 1]; }
    mx /= m; my /= m;
    for (i = 0; i < m; i++) {
        double dx = ref[2 * i] - mx, dy = ref[2 * i + 1] - my;
        cxx += dx * dx; cxy += dx * dy; cyy += dy * dy;
    }
    cxx /= m - 1; cxy /= m - 1; cyy /= m - 1;
    l11 = sqrt(cxx); l21 = cxy / l11; l22 = sqrt(cyy - l21 * l21);   /* Cholesky */
    for (i = 0; i < n; i++) {
        double z1 = rng_normal(&s), z2 = rng_normal(&s);
        xy[2 * i] = (float)(mx + l11 * z1);
        xy[2 * i + 1] = (float)(my + l21 * z1 + l22 * z2);
    }
}

/* ==== the sliced Wasserstein-1 distance ==== */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* mean over N_PROJ directions (angles pi k / N_PROJ) of the 1-D W1 distance between the
   projections of a and b (n points each); -1 when out of memory */
static double swd(const float *a, const float *b, int64_t n) {
    double *pa = (double *)malloc((size_t)n * sizeof(double)), *pb = (double *)malloc((size_t)n * sizeof(double));
    double total = 0;
    int64_t i;
    int k;
    if (!pa || !pb) { free(pa); free(pb); return -1; }
    for (k = 0; k < N_PROJ; k++) {
        double c = cos(PI * k / N_PROJ), s = sin(PI * k / N_PROJ), w = 0;
        for (i = 0; i < n; i++) {
            pa[i] = c * a[2 * i] + s * a[2 * i + 1];
            pb[i] = c * b[2 * i] + s * b[2 * i + 1];
        }
        qsort(pa, (size_t)n, sizeof(double), cmp_double);
        qsort(pb, (size_t)n, sizeof(double), cmp_double);
        for (i = 0; i < n; i++) w += fabs(pa[i] - pb[i]);
        total += w / n;
    }
    free(pa); free(pb);
    return total / N_PROJ;
}

/* The share of points off the moons: farther than 3 noise sigmas (0.3 before scaling) from both
   arcs, the upper (cos th, sin th) and the lower (1 - cos th, 0.5 - sin th), th in [0, pi]. About
   0.3% of real points are (a normal's two tails past 3 sigma); points a model leaves between the
   moons, which move the SWD little, count here. */
static double arc_distance(double x, double y, double cx, double cy, int upper) {
    double dx = x - cx, dy = y - cy, e1, e2;
    if (upper ? dy >= 0 : dy <= 0) return fabs(sqrt(dx * dx + dy * dy) - 1.0);
    e1 = sqrt((dx - 1) * (dx - 1) + dy * dy);   /* the nearer end of the half circle */
    e2 = sqrt((dx + 1) * (dx + 1) + dy * dy);
    return e1 < e2 ? e1 : e2;
}
static double off_moons(const float *xy, int64_t n) {
    int64_t i, off = 0;
    for (i = 0; i < n; i++) {
        double x = xy[2 * i] * MOON_SCALE + 0.5, y = xy[2 * i + 1] * MOON_SCALE + 0.25;
        double a = arc_distance(x, y, 0.0, 0.0, 1), b = arc_distance(x, y, 1.0, 0.5, 0);
        off += (a < b ? a : b) > 3.0 * MOON_NOISE;
    }
    return 100.0 * (double)off / (double)n;
}

/* ==== the model: eps_theta(x_t, t) ==== */

typedef struct { nn_module *mlp; } denoiser;

/* inputs (x_t (N, 2), t int64 (N)) -> the predicted noise (N, 2) */
static int denoiser_forward(nn_module *m, nn_tensor *const *in, int nin, nn_tensor **out, int nout) {
    denoiser *d = (denoiser *)m->user;
    nn_tensor *h[2], *y;
    if (nin != 2 || !in[0] || !in[1]) return -1;
    h[0] = in[0];
    h[1] = nn_timestep_embedding(in[1], EMB_DIM, 10000.0f);
    y = nn_forward(d->mlp, nn_cat(h, 2, 1));
    if (!y) return -1;
    if (nout > 0) out[0] = y;
    return 1;
}

static nn_module *denoiser_new(nn_ctx *ctx, denoiser *d, int64_t hidden) {
    nn_module *mods[7], *m = nn_module_new_n(ctx, "Denoiser", denoiser_forward, d);
    int k = 0;
    mods[k++] = nn_linear_new(ctx, 2 + EMB_DIM, hidden, 1);
    mods[k++] = nn_silu_new(ctx);
    mods[k++] = nn_linear_new(ctx, hidden, hidden, 1);
    mods[k++] = nn_silu_new(ctx);
    mods[k++] = nn_linear_new(ctx, hidden, hidden, 1);
    mods[k++] = nn_silu_new(ctx);
    mods[k++] = nn_linear_new(ctx, hidden, 2, 1);
    d->mlp = m ? nn_module_add(m, "mlp", nn_sequential_new(ctx, mods, k)) : NULL;
    if (!d->mlp) { nn_module_free(m); return NULL; }
    return m;
}

/* ==== drawing ==== */

#define X_LO -2.6
#define X_HI 2.6
#define Y_LO -1.6
#define Y_HI 1.6
#define AW 48                 /* ASCII panel: 48 x 15 characters (a character is about twice as tall as wide) */
#define AH 15

static void ascii_counts(const float *xy, int64_t n, int *cnt) {
    int64_t i;
    memset(cnt, 0, sizeof(int) * AW * AH);
    for (i = 0; i < n; i++) {
        int c = (int)floor((xy[2 * i] - X_LO) / (X_HI - X_LO) * AW), r = (int)floor((Y_HI - xy[2 * i + 1]) / (Y_HI - Y_LO) * AH);
        if (c >= 0 && c < AW && r >= 0 && r < AH) cnt[r * AW + c]++;
    }
}

/* two density plots side by side, one shade scale for both (the left panel's largest count) */
static void ascii_scatter(const char *left_title, const float *left, const char *right_title, const float *right, int64_t n) {
    static const char shades[] = " .:-=+*#%@";
    int cl[AW * AH], cr[AW * AH], mx = 1, i, r, c;
    ascii_counts(left, n, cl);
    ascii_counts(right, n, cr);
    for (i = 0; i < AW * AH; i++) if (cl[i] > mx) mx = cl[i];
    printf("  %-*s    %s\n", AW + 2, left_title, right_title);
    for (r = -1; r <= AH; r++) {
        const int *cnt[2] = { cl, cr };
        int p;
        printf("  ");
        for (p = 0; p < 2; p++) {
            if (r < 0 || r == AH) { putchar('+'); for (c = 0; c < AW; c++) putchar('-'); putchar('+'); }
            else {
                putchar('|');
                for (c = 0; c < AW; c++) {
                    int v = cnt[p][r * AW + c], s = v == 0 ? 0 : 1 + (int)((double)v / mx * 8.0);
                    putchar(shades[s > 9 ? 9 : s]);
                }
                putchar('|');
            }
            printf(p == 0 ? "    " : "\n");
        }
    }
}

#ifdef NN_HAVE_STB
#define PW 480                /* PNG panel: 480 x 296 pixels, the same aspect as X_LO..X_HI by Y_LO..Y_HI */
#define PH 296
#define PAD 24

static void png_rect(unsigned char *img, int W, int H, int x0, int y0, int x1, int y1, const unsigned char *rgb) {
    int x, y;
    for (y = y0; y < y1; y++) for (x = x0; x < x1; x++)
        if (x >= 0 && x < W && y >= 0 && y < H) memcpy(img + 3 * (y * W + x), rgb, 3);
}

static void png_text(unsigned char *img, int W, int H, int x, int y, const char *text) {
    static float quads[4 * 4 * 400];
    unsigned char black[4] = { 0, 0, 0, 255 }, ink[3] = { 0, 0, 0 };
    int nq = stb_easy_font_print((float)x, (float)y, (char *)text, black, quads, (int)sizeof quads), q;
    for (q = 0; q < nq; q++) {
        const float *v = quads + q * 16;
        png_rect(img, W, H, (int)v[0], (int)v[1], (int)v[8], (int)v[9], ink);
    }
}

/* two panels: the held-out points (blue) and the generated ones (red) */
static int write_png(const char *path, const float *real, const float *gen, int64_t n, const char *right_title) {
    int W = 2 * PW + 3 * PAD, H = PH + 2 * PAD, p, ok;
    static const unsigned char blue[3] = { 31, 119, 180 }, red[3] = { 214, 39, 40 }, grey[3] = { 160, 160, 160 };
    unsigned char *img = (unsigned char *)malloc((size_t)W * H * 3);
    if (!img) return 0;
    memset(img, 255, (size_t)W * H * 3);
    for (p = 0; p < 2; p++) {
        const float *xy = p ? gen : real;
        int ox = PAD + p * (PW + PAD), oy = PAD;
        int64_t i;
        png_rect(img, W, H, ox - 1, oy - 1, ox + PW + 1, oy, grey);
        png_rect(img, W, H, ox - 1, oy + PH, ox + PW + 1, oy + PH + 1, grey);
        png_rect(img, W, H, ox - 1, oy - 1, ox, oy + PH + 1, grey);
        png_rect(img, W, H, ox + PW, oy - 1, ox + PW + 1, oy + PH + 1, grey);
        for (i = 0; i < n; i++) {
            int x = ox + (int)((xy[2 * i] - X_LO) / (X_HI - X_LO) * PW), y = oy + (int)((Y_HI - xy[2 * i + 1]) / (Y_HI - Y_LO) * PH);
            if (x > ox && x < ox + PW - 1 && y > oy && y < oy + PH - 1) png_rect(img, W, H, x - 1, y - 1, x + 2, y + 2, p ? red : blue);
        }
        png_text(img, W, H, ox, 8, p ? right_title : "held-out data");
    }
    ok = stbi_write_png(path, W, H, 3, img, W * 3);
    free(img);
    return ok;
}
#endif

/* ==== training and sampling ==== */

static double seconds(void) {   /* wall clock */
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

/* n samples x_0 into out (n, 2): x_T ~ N(0, I), then the reverse chain; 1 on success */
static int sample(nn_ctx *ctx, const nn_ddpm *d, nn_module *model, int64_t n, float *out) {
    int64_t shape[2] = { n, 2 }, t, i;
    nn_tensor *x = nn_randn(ctx, 2, shape), *tt = nn_zeros_dtype(ctx, 1, &n, NN_INT64);
    int ok = x && tt;
    nn_module_eval(model);
    for (t = d->num_timesteps - 1; ok && t >= 0; t--) {
        for (i = 0; i < n; i++) nn_i64(tt)[i] = t;
        NN_NO_GRAD(ctx) {
            nn_tensor *in[2], *eps = NULL;
            in[0] = x; in[1] = tt;
            ok = nn_forward_n(model, in, 2, &eps, 1) >= 1 && nn_copy_(x, nn_ddpm_step(d, eps, t, x));
        }
        nn_arena_reset(ctx);
    }
    if (ok) memcpy(out, nn_f32(x), (size_t)n * 2 * sizeof(float));
    nn_free(x); nn_free(tt);
    nn_module_train(model, 1);
    return ok;
}

static int write_samples(const char *path, const float *xy, int64_t n) {
    FILE *f = fopen(path, "w");
    int64_t i;
    if (!f) return 0;
    fprintf(f, "x,y\n");
    for (i = 0; i < n; i++) fprintf(f, "%.9g,%.9g\n", xy[2 * i], xy[2 * i + 1]);
    return fclose(f) == 0;
}

int main(int argc, char **argv) {
    int64_t steps = 12000, seed = 0, batch = 256, hidden = 128, timesteps = 1000, n_eval = 5000, threads = 1;
    double lr = 3e-3;
    const char *schedule = "linear", *png = "diffusion2d.png", *samples_path = NULL;
    int is_short = 0;
    const arg_spec args[] = {
        { "--steps", ARG_INT, &steps, 1, 1e7, "N", "training steps (default 12000; 600 with --short)" },
        { "--schedule", ARG_STR, &schedule, 0, 0, "NAME", "linear (betas 1e-4 .. 0.02) or cosine (default linear)" },
        { "--timesteps", ARG_INT, &timesteps, 2, 100000, "T", "diffusion steps (default 1000)" },
        { "--batch-size", ARG_INT, &batch, 1, N_TRAIN, "N", "points per training step (default 256)" },
        { "--hidden", ARG_INT, &hidden, 1, 4096, "N", "hidden units of each layer (default 128)" },
        { "--lr", ARG_REAL, &lr, 0, 1, "LR", "Adam's initial learning rate, cosine-annealed to 0 (default 0.003)" },
        { "--eval-points", ARG_INT, &n_eval, 10, 1e6, "N", "points generated and held out (default 5000; 1000 with --short)" },
        { "--seed", ARG_INT, &seed, 0, 1e15, "N", "seed of the data, the weights and the noise (default 0)" },
        { "--threads", ARG_INT, &threads, 1, 256, "N", "threads (default 1)" },
        { "--png", ARG_STR, &png, 0, 0, "PATH", "the picture, with stb (default diffusion2d.png; \"\": none)" },
        { "--samples", ARG_STR, &samples_path, 0, 0, "PATH", "write the generated points there as CSV" },
        { "--short", ARG_SWITCH, &is_short, 0, 0, NULL,
          "CI: 600 steps, 1000 points; fails unless the loss of the last 50 steps is < 0.65x the first 10's" },
    };
    int parsed = parse_args(argc, argv, args, (int)(sizeof args / sizeof args[0]));
    nn_ctx *ctx;
    nn_ddpm *ddpm;
    denoiser net;
    nn_module *model;
    nn_tensor *params[16], *xb;
    nn_optim *opt = NULL;
    nn_scheduler *lr_sched = NULL;
    nn_adam_opts adam = nn_adam_opts_default();
    nn_beta_schedule sched;
    float *train, *heldout, *real2, *gauss, *gen, *losses, *curve;
    int64_t *perm, pos = N_TRAIN, shape[2], i, step;
    uint64_t batch_rng;
    double t0, t_train = 0, t_sample = 0, sum_heldout = 0, abar_T;
    int np, rc = 0, ncurve = 0;
    const char *err;

    if (parsed) return parsed == 1 ? 0 : 2;
    if (!strcmp(schedule, "linear")) sched = NN_BETA_LINEAR;
    else if (!strcmp(schedule, "cosine")) sched = NN_BETA_COSINE;
    else { fprintf(stderr, "%s: --schedule is linear or cosine, not '%s'\n", PROG, schedule); return 2; }
    if (is_short) {
        int k;   /* the short run's defaults, unless given */
        int given_steps = 0, given_eval = 0;
        for (k = 1; k < argc; k++) {
            if (!strcmp(argv[k], "--steps")) given_steps = 1;
            if (!strcmp(argv[k], "--eval-points")) given_eval = 1;
        }
        if (!given_steps) steps = 600;
        if (!given_eval) n_eval = 1000;
    }
    if (is_short && steps < CHECK_FIRST + CHECK_LAST) {
        fprintf(stderr, "%s: --short needs --steps of at least %d\n", PROG, CHECK_FIRST + CHECK_LAST);
        return 2;
    }

    ctx = nn_ctx_new();
    train = (float *)malloc(N_TRAIN * 2 * sizeof(float));
    heldout = (float *)malloc((size_t)n_eval * 2 * sizeof(float));
    real2 = (float *)malloc((size_t)n_eval * 2 * sizeof(float));
    gauss = (float *)malloc((size_t)n_eval * 2 * sizeof(float));
    gen = (float *)malloc((size_t)n_eval * 2 * sizeof(float));
    losses = (float *)malloc((size_t)steps * sizeof(float));
    curve = (float *)malloc((size_t)(steps / 50 + 1) * sizeof(float));
    perm = (int64_t *)malloc(N_TRAIN * sizeof(int64_t));
    if (!ctx || !train || !heldout || !real2 || !gauss || !gen || !losses || !curve || !perm) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    nn_set_num_threads(ctx, (int)threads);
    nn_manual_seed(ctx, (uint64_t)seed);   /* the weights, then every t, noise and sampling draw */
    make_moons(stream_seed(seed, STREAM_TRAIN), N_TRAIN, train);
    make_moons(stream_seed(seed, STREAM_HELDOUT), n_eval, heldout);
    make_moons(stream_seed(seed, STREAM_REAL2), n_eval, real2);
    make_gaussian(stream_seed(seed, STREAM_GAUSS), train, N_TRAIN, n_eval, gauss);
    for (i = 0; i < 2 * n_eval; i++) sum_heldout += heldout[i];
    for (i = 0; i < N_TRAIN; i++) perm[i] = i;
    batch_rng = stream_seed(seed, STREAM_BATCH);

    ddpm = nn_ddpm_new(ctx, timesteps, sched, 1e-4f, 0.02f);
    model = denoiser_new(ctx, &net, hidden);
    np = model ? nn_module_parameters(model, params, 16) : 0;
    adam.lr = lr;
    if (np > 0) opt = nn_adam(params, np, adam);
    if (opt) lr_sched = nn_cosine_annealing_lr(opt, steps, 0.0);   /* the lr falls to 0 along a cosine */
    shape[0] = batch; shape[1] = 2;
    xb = nn_empty(ctx, 2, shape);
    if (!ddpm || !model || !opt || !lr_sched || !xb) {
        err = nn_error(ctx);
        fprintf(stderr, "setup failed: %s\n", err ? err : "out of memory");
        return 1;
    }
    abar_T = nn_f32(ddpm->alphas_cumprod)[timesteps - 1];
    printf("DDPM on two moons: %d training points, %lld held out (sum of their coordinates %.6f), seed %lld\n",
           N_TRAIN, (long long)n_eval, sum_heldout, (long long)seed);
    printf("schedule %s, T = %lld: sqrt(abar_T) = %.4f of the data left in x_T; model 34-%lld-%lld-%lld-2 with SiLU "
           "(%lld parameters), Adam lr %g cosine-annealed to 0, batch %lld, %lld steps, %s kernels, %d thread%s\n",
           schedule, (long long)timesteps, sqrt(abar_T), (long long)hidden, (long long)hidden, (long long)hidden,
           (long long)nn_module_num_parameters(model), lr, (long long)batch, (long long)steps, nn_get_cpu_capability(),
           nn_get_num_threads(ctx), nn_get_num_threads(ctx) == 1 ? "" : "s");

    /* ---- training ---- */
    t0 = seconds();
    for (step = 0; step < steps; step++) {
        nn_tensor *loss;
        float *xv = nn_f32(xb);
        for (i = 0; i < batch; i++) {          /* the next batch of a reshuffled epoch */
            int64_t k;
            if (pos == N_TRAIN) {              /* Fisher-Yates */
                for (k = N_TRAIN - 1; k > 0; k--) {
                    int64_t j = (int64_t)(rng_uniform(&batch_rng) * (double)(k + 1)), tmp = perm[k];
                    perm[k] = perm[j]; perm[j] = tmp;
                }
                pos = 0;
            }
            k = perm[pos++];
            xv[2 * i] = train[2 * k]; xv[2 * i + 1] = train[2 * k + 1];
        }
        loss = nn_ddpm_loss(ddpm, model, xb);
        nn_optim_zero_grad(opt);
        if (!loss || !nn_backward(loss, NULL, 0) || !nn_optim_step(opt)) break;
        nn_scheduler_step(lr_sched);
        losses[step] = nn_item(loss);
        nn_arena_reset(ctx);
        if ((step + 1) % 50 == 0) {
            double m = 0;
            for (i = step - 49; i <= step; i++) m += losses[i];
            curve[ncurve++] = (float)(m / 50);
        }
        if ((step + 1) % (steps >= 10 ? steps / 10 : 1) == 0 || step == 0) {
            int64_t k = step + 1 < 100 ? step + 1 : 100;
            double m = 0;
            for (i = step + 1 - k; i <= step; i++) m += losses[i];
            printf("step %6lld  loss %.4f  mean of the last %3lld %.4f  %6.1f s\n", (long long)step + 1, losses[step],
                   (long long)k, m / k, seconds() - t0);
            fflush(stdout);
        }
    }
    t_train = seconds() - t0;
    if ((err = nn_error(ctx))) { fprintf(stderr, "error in training step %lld: %s\n", (long long)step + 1, err); return 1; }
    if (ncurve >= 2) {
        const float *ys[1] = { curve };
        const char *labels[1] = { "training loss, mean of each 50 steps" };
        printf("\n");
        nn_plot_terminal("DDPM loss", ys, labels, 1, ncurve, 10);
    }

    /* ---- sampling and scoring ---- */
    t0 = seconds();
    if (!sample(ctx, ddpm, model, n_eval, gen)) {
        err = nn_error(ctx);
        fprintf(stderr, "sampling failed: %s\n", err ? err : "?");
        return 1;
    }
    t_sample = seconds() - t0;
    printf("\nsampled %lld points in %lld reverse steps (%.1f s); training took %.1f s\n", (long long)n_eval,
           (long long)timesteps, t_sample, t_train);
    ascii_scatter("held-out data", heldout, "DDPM samples", gen, n_eval);
    {
        double s_model = swd(gen, heldout, n_eval), s_gauss = swd(gauss, heldout, n_eval), s_floor = swd(real2, heldout, n_eval);
        double first = 0, last = 0;
        char floor_label[64];
        int64_t kf = steps < CHECK_FIRST ? steps : CHECK_FIRST, kl = steps < CHECK_LAST ? steps : CHECK_LAST;
        for (i = 0; i < kf; i++) first += losses[i];
        for (i = 0; i < kl; i++) last += losses[steps - 1 - i];
        first /= kf; last /= kl;
        printf("\nsliced Wasserstein-1 distance (SWD) to the %lld held-out points (%d directions; lower is better),\n"
               "and the share of points off the moons (farther than 3 noise sigmas from both):\n", (long long)n_eval, N_PROJ);
        snprintf(floor_label, sizeof floor_label, "noise floor: %lld other real points", (long long)n_eval);
        printf("  %-46s %-7s %s\n", "", "SWD", "off the moons");
        printf("  %-46s %.4f  %5.2f%%\n", "DDPM samples", s_model, off_moons(gen, n_eval));
        printf("  %-46s %.4f  %5.2f%%\n", "Gaussian with the data's mean and covariance", s_gauss, off_moons(gauss, n_eval));
        printf("  %-46s %.4f  %5.2f%%\n", floor_label, s_floor, off_moons(real2, n_eval));
        printf("mean loss of the first %lld steps %.4f, of the last %lld %.4f: %.2fx\n", (long long)kf, first,
               (long long)kl, last, last / first);
        if (is_short) {
            printf("check: the last %d steps' mean loss below %.2fx the first %d's: %s\n", CHECK_LAST, LOSS_FACTOR,
                   CHECK_FIRST, last < LOSS_FACTOR * first ? "ok" : "FAIL");
            if (!(last < LOSS_FACTOR * first)) rc = 1;
        } else {
            printf("check: the DDPM's SWD below %.1fx the Gaussian baseline's (%.4f): %s\n", SWD_FACTOR,
                   SWD_FACTOR * s_gauss, s_model < SWD_FACTOR * s_gauss ? "ok" : "FAIL");
            if (!(s_model < SWD_FACTOR * s_gauss)) rc = 1;
        }
    }
    if (samples_path) {
        if (write_samples(samples_path, gen, n_eval)) printf("wrote %s\n", samples_path);
        else { fprintf(stderr, "could not write %s\n", samples_path); rc = 1; }
    }
#ifdef NN_HAVE_STB
    if (png && *png) {
        if (write_png(png, heldout, gen, n_eval, "DDPM samples")) printf("wrote %s\n", png);
        else { fprintf(stderr, "could not write %s\n", png); rc = 1; }
    }
#endif
    nn_free(xb);
    nn_scheduler_free(lr_sched);
    nn_optim_free(opt);
    nn_module_free(model);
    nn_ddpm_free(ddpm);
    nn_ctx_free(ctx);
    free(train); free(heldout); free(real2); free(gauss); free(gen); free(losses); free(curve); free(perm);
    return rc;
}
