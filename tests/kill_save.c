/* Checkpoints that cannot be lost: a child process saves checkpoints of one model over and
   over (version v has every parameter equal to v and "epoch" = v); the parent SIGKILLs it at a
   random moment, then loads the file. It must always load, and be one of the saved versions
   (all parameters equal to its epoch, which is at most the last version begun). Repeats KILLS
   times (default 250). A leftover path.tmp from a killed save must never be what is loaded.
   Usage: kill_save [kills] [dir]    (make test-kill)
   Ends with "N kills: N loaded, N lost, N torn" and exits non-zero on any loss or tear. */
#define _POSIX_C_SOURCE 200809L   /* fork, kill, waitpid, nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>
#define NN_IMPLEMENTATION
#include "../nn.h"

static void quiet(void *u, const char *m) { (void)u; (void)m; }

/* a model of about 1 MB, so that most kills land inside a save */
static nn_module *make_model(nn_ctx *ctx) { return nn_linear_new(ctx, 512, 512, 1); }

static void fill(nn_module *m, float v) {
    nn_tensor *ps[4]; int n = nn_module_parameters(m, ps, 4), k; int64_t i;
    for (k = 0; k < n; k++) for (i = 0; i < ps[k]->numel; i++) nn_f32(ps[k])[i] = v;
}

/* the child: save versions 1, 2, 3, ... forever; tell the parent (one byte) once version 1 is on disk */
static void saver(const char *path, int fd) {
    nn_ctx *ctx = nn_ctx_new();
    nn_module *m = make_model(ctx);
    nn_checkpoint ck = nn_checkpoint_default();
    int64_t v;
    ck.model = m;
    for (v = 1;; v++) {
        fill(m, (float)v);
        ck.epoch = v;
        if (!nn_save_checkpoint(&ck, path)) { fprintf(stderr, "kill_save: save failed: %s\n", nn_error(ctx)); _exit(3); }
        if (v == 1 && write(fd, "1", 1) != 1) _exit(4);
    }
}

/* 1: loads and is one consistent version; 0: nothing loadable (lost); -1: loads but mixed (torn) */
static int check(const char *path, int64_t *version) {
    nn_ctx *ctx = nn_ctx_new();
    nn_module *m = make_model(ctx);
    nn_checkpoint ck = nn_checkpoint_default();
    nn_tensor *ps[4]; int n, k, r = 1; int64_t i;
    nn_set_logger(ctx, quiet, NULL);
    ck.model = m;
    if (!nn_load_checkpoint(&ck, path)) r = 0;
    n = nn_module_parameters(m, ps, 4);
    for (k = 0; r == 1 && k < n; k++)
        for (i = 0; i < ps[k]->numel; i++) if (nn_f32(ps[k])[i] != (float)ck.epoch || ck.epoch < 1) { r = -1; break; }
    *version = ck.epoch;
    nn_module_free(m); nn_ctx_free(ctx);
    return r;
}

int main(int argc, char **argv) {
    int kills = argc > 1 ? atoi(argv[1]) : 250, t, loaded = 0, lost = 0, torn = 0, failed = 0;
    const char *dir = argc > 2 ? argv[2] : "build";
    char path[512];
    int64_t maxv = 0;
    snprintf(path, sizeof path, "%s/kill_save.ckpt", dir);
    srand(12345);
    for (t = 0; t < kills; t++) {
        int fds[2], status; pid_t pid; char c; int64_t v;
        struct timespec ts;
        remove(path);
        if (pipe(fds) != 0) { perror("pipe"); return 2; }
        pid = fork();
        if (pid < 0) { perror("fork"); return 2; }
        if (pid == 0) { close(fds[0]); saver(path, fds[1]); }
        close(fds[1]);
        if (read(fds[0], &c, 1) != 1) { fprintf(stderr, "kill_save: the saver died before its first save\n"); failed++; }
        close(fds[0]);
        ts.tv_sec = 0; ts.tv_nsec = (long)(rand() % 40000) * 1000L;   /* 0-40 ms after the first save */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (WIFEXITED(status)) { fprintf(stderr, "kill_save: the saver exited (%d) instead of being killed\n", WEXITSTATUS(status)); failed++; }
        switch (check(path, &v)) {
        case 1: loaded++; if (v > maxv) maxv = v; break;
        case 0: lost++; printf("kill %d: no checkpoint could be loaded\n", t); break;
        default: torn++; printf("kill %d: the checkpoint mixes versions (epoch %lld)\n", t, (long long)v); break;
        }
    }
    remove(path);
    {   char tmp[600]; snprintf(tmp, sizeof tmp, "%s.tmp", path); remove(tmp); }
    printf("%d kills: %d loaded, %d lost, %d torn (versions reached up to %lld)\n", kills, loaded, lost, torn, (long long)maxv);
    return lost || torn || failed ? 1 : 0;
}
