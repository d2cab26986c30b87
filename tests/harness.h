/* nn.h test harness, shared by the area files (tests/test_*.c): every op against PyTorch's numbers (tests/fixtures/ops.txt,
   made by tests/gen_fixtures.py), finite-difference gradient checks, the seed
   notes' worked examples, the memory model and the error model.
   Ends with "N passed, N failed" and exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L   /* strtok_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>          /* SIGXFSZ: a full disk, simulated by a file-size limit */
#include <sys/resource.h>

/* count every heap allocation the library makes */
static long g_mallocs, g_frees;
static void *count_malloc(size_t n) { g_mallocs++; return malloc(n); }
void *count_realloc(void *p, size_t n);
void *count_realloc(void *p, size_t n) { if (!p) g_mallocs++; return realloc(p, n); }
static void count_free(void *p) { if (p) g_frees++; free(p); }
#define NN_MALLOC(n) count_malloc(n)
#define NN_REALLOC(p, n) count_realloc(p, n)
#define NN_FREE(p) count_free(p)
#ifdef NN_HAVE_STB            /* image folders, gzip'd IDX and PNGs use Debian's libstb-dev */
#define STBI_MALLOC(n) count_malloc(n)
#define STBI_REALLOC(p, n) count_realloc(p, n)
#define STBI_FREE(p) count_free(p)
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"

/* ---- a small test harness ---- */
static int g_passed, g_failed, g_case_failed;
static const char *g_case;
static double g_worst_rel;           /* worst relative error against PyTorch, |want| >= 0.1 */
static double g_worst_abs;           /* worst absolute error against PyTorch, all elements */
static double g_case_worst_rel;      /* the same, for the current fixture case (NN_TEST_VERBOSE=1 lists them) */
static char g_worst_where[160];

#define CHECK(cond, ...) do { if (!(cond)) { \
    printf("FAIL %s (%s:%d): ", g_case, __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); \
    g_case_failed = 1; } } while (0)

static void begin(const char *name) { g_case = name; g_case_failed = 0; }
static void end(void) { if (g_case_failed) g_failed++; else g_passed++; }

#define ERRS(ctx) (nn_error(ctx) ? nn_error(ctx) : "(none)")

/* error messages caught by a logger instead of stderr */
static char g_log[1024];
static int g_log_count;
static void capture_log(void *user, const char *msg) {
    (void)user;
    g_log_count++;
    strncpy(g_log, msg, sizeof g_log - 1);
}

/* |got - want| <= 1e-5 |want| + 1e-6 */
static int close_to(float got, double want, double *rel) {
    double err = fabs((double)got - want);
    *rel = fabs(want) >= 0.1 ? err / fabs(want) : 0;
    if (err > g_worst_abs) g_worst_abs = err;
    return err <= 1e-5 * fabs(want) + 1e-6 && got == got;
}

static void compare(const char *what, const nn_tensor *t, int ndim, const int64_t *shape, const double *want) {
    int64_t i, n = 1; int d;
    if (!t) { CHECK(0, "%s: got NULL", what); return; }
    CHECK(t->ndim == ndim, "%s: got %d dims, expected %d", what, t->ndim, ndim);
    for (d = 0; d < ndim && d < t->ndim; d++) {
        CHECK(t->shape[d] == shape[d], "%s: dim %d is %lld, expected %lld", what, d, (long long)t->shape[d], (long long)shape[d]);
        n *= shape[d];
    }
    if (g_case_failed) return;
    for (i = 0; i < n; i++) {
        /* t may be a strided view: read through its strides */
        int64_t off = 0, rem = i;
        double rel;
        for (d = t->ndim - 1; d >= 0; d--) { off += (rem % t->shape[d]) * t->stride[d]; rem /= t->shape[d]; }
        if (!close_to(nn_f32(t)[off], want[i], &rel)) {
            CHECK(0, "%s[%lld]: expected %.9g, got %.9g", what, (long long)i, want[i], nn_f32(t)[off]);
            return;
        }
        if (rel > g_case_worst_rel) g_case_worst_rel = rel;
        if (rel > g_worst_rel) { g_worst_rel = rel; snprintf(g_worst_where, sizeof g_worst_where, "%s %s[%lld]", g_case, what, (long long)i); }
    }
}


/* name filter: ./build/test_nn conv runs only the cases whose name contains "conv" */
static const char *g_filter;
static int selected(const char *name) { return !g_filter || strstr(name, g_filter) != NULL; }
