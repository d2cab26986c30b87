/* The command line of the examples that take flags: each flag known, each number checked,
   --help prints the usage. Define PROG (the program's name) and SYNOPSIS (what it does)
   before including this file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ARG_STR, ARG_INT, ARG_REAL, ARG_SWITCH };
typedef struct { const char *name; int kind; void *value; double min, max; const char *meta, *help; } arg_spec;

static void usage(FILE *out, const arg_spec *a, int n) {
    int i, w;
    fprintf(out, "usage: %s [options]\n%s\noptions:\n", PROG, SYNOPSIS);
    fprintf(out, "  %-26s print this help and exit\n", "--help");
    for (i = 0; i < n; i++) {
        w = fprintf(out, "  %s%s%s", a[i].name, a[i].meta ? " " : "", a[i].meta ? a[i].meta : "");
        fprintf(out, "%*s%s\n", w < 29 ? 29 - w : 1, "", a[i].help);
    }
}
/* 0: go on; 1: --help was printed (exit 0); 2: what was wrong and the usage went to stderr (exit 2) */
static int parse_args(int argc, char **argv, const arg_spec *a, int n) {
    int i, k;
    for (i = 1; i < argc; i++) {
        const char *v;
        char *end;
        if (!strcmp(argv[i], "--help")) { usage(stdout, a, n); return 1; }
        for (k = 0; k < n && strcmp(argv[i], a[k].name); k++) {}
        if (k == n) { fprintf(stderr, "%s: unknown argument '%s'\n", PROG, argv[i]); break; }
        if (a[k].kind == ARG_SWITCH) { *(int *)a[k].value = 1; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "%s: %s needs a value (%s)\n", PROG, argv[i], a[k].meta); break; }
        v = argv[++i];
        if (a[k].kind == ARG_STR) { *(const char **)a[k].value = v; continue; }
        errno = 0;
        if (a[k].kind == ARG_INT) {
            long long x = strtoll(v, &end, 10);
            if (!errno && end != v && !*end && (double)x >= a[k].min && (double)x <= a[k].max) {
                *(int64_t *)a[k].value = (int64_t)x;
                continue;
            }
            fprintf(stderr, "%s: %s needs a whole number from %.15g to %.15g, not '%s'\n", PROG, a[k].name, a[k].min, a[k].max, v);
        } else {
            double x = strtod(v, &end);
            if (!errno && end != v && !*end && x >= a[k].min && x <= a[k].max) {   /* NaN fails both */
                *(double *)a[k].value = x;
                continue;
            }
            fprintf(stderr, "%s: %s needs a number from %g to %g, not '%s'\n", PROG, a[k].name, a[k].min, a[k].max, v);
        }
        break;
    }
    if (i >= argc) return 0;
    usage(stderr, a, n);
    return 2;
}
