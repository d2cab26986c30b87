/* Issue 11: a game agent that learns, in the terminal. CartPole (Barto, Sutton and Anderson 1983,
   with OpenAI Gym's CartPole-v0 constants and limits) written here, and an agent that learns it by
   REINFORCE with a learned baseline: a policy network and a value network (nn.Sequential of
   Linear/ReLU), one Adam, the episode's discounted returns as targets. Every so often a training
   episode is drawn in the terminal (played back in place on a terminal, a few frames otherwise);
   at the end the return curve (per episode and the 100-episode average) is plotted in the terminal
   and, with stb_image_write, in cartpole_returns.png. Solved as in Gym: an average return of at
   least 195 over 100 consecutive episodes. Everything is seeded (the context's RNG for the weights
   and the actions, the environment's own RNG for its starts), so a run repeats exactly; rendering
   changes no number.
   ./cartpole [--episodes N] [--seed N] [--render-every N] [--short] [--help] */
#define _POSIX_C_SOURCE 200809L   /* nanosleep and isatty, for the animation on a terminal */
#ifdef NN_HAVE_STB
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#endif
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <string.h>
#include <time.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define ON_TERMINAL() isatty(1)
#else
#define ON_TERMINAL() 0
#endif

#define PROG "cartpole"
#define SYNOPSIS "Learns CartPole-v0 with REINFORCE and a baseline; draws episodes and the return curve.\n"
#include "args.h"   /* the command line: a table of flags, --help, checked numbers */

/* ==== the environment: CartPole-v0 ==== */

#define GRAVITY 9.8
#define MASSCART 1.0
#define MASSPOLE 0.1
#define TOTAL_MASS (MASSPOLE + MASSCART)
#define LENGTH 0.5                        /* half the pole's length */
#define POLEMASS_LENGTH (MASSPOLE * LENGTH)
#define FORCE_MAG 10.0
#define TAU 0.02                          /* seconds between state updates */
#define X_THRESHOLD 2.4
#define THETA_THRESHOLD (12.0 * 2.0 * 3.141592653589793 / 360.0)   /* 12 degrees */
#define MAX_STEPS 200                     /* CartPole-v0's time limit */
#define SOLVED 195.0                      /* average return over 100 consecutive episodes */
#define WINDOW 100

typedef struct { double x, x_dot, theta, theta_dot; uint64_t rng; } cartpole;

/* the environment's own RNG: splitmix64, uniform [0, 1) from 53 bits */
static double env_uniform(cartpole *env) {
    uint64_t z = (env->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* env.reset(): each state variable uniform in [-0.05, 0.05) */
static void env_reset(cartpole *env) {
    env->x = -0.05 + 0.1 * env_uniform(env);
    env->x_dot = -0.05 + 0.1 * env_uniform(env);
    env->theta = -0.05 + 0.1 * env_uniform(env);
    env->theta_dot = -0.05 + 0.1 * env_uniform(env);
}

/* env.step(action): action 1 pushes right, 0 left; Euler integration; returns 1 when the episode
   ends (the cart left [-2.4, 2.4] or the pole passed 12 degrees). The reward is 1 for every step,
   the last one included. */
static int env_step(cartpole *env, int action) {
    double force = action == 1 ? FORCE_MAG : -FORCE_MAG;
    double costheta = cos(env->theta), sintheta = sin(env->theta);
    double temp = (force + POLEMASS_LENGTH * env->theta_dot * env->theta_dot * sintheta) / TOTAL_MASS;
    double thetaacc = (GRAVITY * sintheta - costheta * temp)
                    / (LENGTH * (4.0 / 3.0 - MASSPOLE * costheta * costheta / TOTAL_MASS));
    double xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
    env->x += TAU * env->x_dot;
    env->x_dot += TAU * xacc;
    env->theta += TAU * env->theta_dot;
    env->theta_dot += TAU * thetaacc;
    return env->x < -X_THRESHOLD || env->x > X_THRESHOLD || env->theta < -THETA_THRESHOLD || env->theta > THETA_THRESHOLD;
}

/* ==== drawing ==== */

#define TRACK_W 61                        /* columns for x in [-2.4, 2.4] */
#define POLE_ROWS 6                       /* the 1 m pole: a character is about twice as tall as wide */
#define FRAME_ROWS (POLE_ROWS + 3)

/* one frame into rows[FRAME_ROWS][TRACK_W + 1]: the pole, the cart, the track, a status line */
static void draw_frame(char rows[FRAME_ROWS][TRACK_W + 8], double x, double theta, int step) {
    double cols_per_m = (TRACK_W - 1) / (2.0 * X_THRESHOLD);
    int cx = (int)floor((x + X_THRESHOLD) * cols_per_m + 0.5), r, c;
    for (r = 0; r < FRAME_ROWS - 1; r++) { memset(rows[r], ' ', TRACK_W); rows[r][TRACK_W] = 0; }
    for (r = 1; r <= POLE_ROWS; r++) {     /* r-th row above the cart, from the pivot up */
        double along = (double)r / POLE_ROWS * 2.0 * LENGTH;
        int px = (int)floor(cx + sin(theta) * along * cols_per_m + 0.5);
        char ch = theta > 0.06 ? '/' : theta < -0.06 ? '\\' : '|';
        if (r == POLE_ROWS) ch = 'o';
        if (px >= 0 && px < TRACK_W) rows[POLE_ROWS - r][px] = ch;
    }
    for (c = cx - 3; c <= cx + 3; c++)
        if (c >= 0 && c < TRACK_W) rows[POLE_ROWS][c] = c == cx - 3 ? '[' : c == cx + 3 ? ']' : c == cx ? '#' : '=';
    for (c = 0; c < TRACK_W; c++) rows[POLE_ROWS + 1][c] = c == 0 || c == TRACK_W - 1 ? '|' : '-';
    snprintf(rows[FRAME_ROWS - 1], TRACK_W + 8, "step %3d  x %+5.2f m  theta %+5.1f deg", step, x,
             theta * 180.0 / 3.141592653589793);
}

static void print_frame(char rows[FRAME_ROWS][TRACK_W + 8]) {
    int r;
    for (r = 0; r < FRAME_ROWS; r++) printf("  %s\n", rows[r]);
}

/* An episode's states (x and theta per step, steps + 1 of them) drawn: on a terminal played back in
   place at real time (TAU per step); otherwise (a file, a pipe) as a few still frames. */
static void render_episode(const float *xs, const float *thetas, int steps, int episode, int animate) {
    char rows[FRAME_ROWS][TRACK_W + 8];
    int t, shown = 0;
    printf("episode %d: %d steps%s\n", episode, steps, steps >= MAX_STEPS ? " (the time limit)" : "");
    if (animate) {
        struct timespec pause = { 0, (long)(TAU * 1e9) };
        for (t = 0; t <= steps; t++) {
            draw_frame(rows, xs[t], thetas[t], t);
            if (t > 0) printf("\033[%dA", FRAME_ROWS);   /* back to the frame's first row */
            print_frame(rows);
            fflush(stdout);
            nanosleep(&pause, NULL);
        }
        return;
    }
    for (t = 0; t <= steps; t += 50) { draw_frame(rows, xs[t], thetas[t], t); print_frame(rows); shown = t; }
    if (shown != steps) { draw_frame(rows, xs[steps], thetas[steps], steps); print_frame(rows); }
}

/* ==== the agent ==== */

static nn_module *mlp(nn_ctx *ctx, int64_t hidden, int64_t out) {
    nn_module *mods[3];
    mods[0] = nn_linear_new(ctx, 4, hidden, 1);
    mods[1] = nn_relu_new(ctx);
    mods[2] = nn_linear_new(ctx, hidden, out, 1);
    return nn_sequential_new(ctx, mods, 3);
}

/* pi(a | s): samples an action from the policy's softmax for one state with torch.multinomial
   (nn_multinomial, the context's RNG) */
static int act(nn_module *policy, nn_tensor *s, const cartpole *env) {
    nn_tensor *a = NULL;
    float *sv = nn_f32(s);
    int action;
    sv[0] = (float)env->x; sv[1] = (float)env->x_dot; sv[2] = (float)env->theta; sv[3] = (float)env->theta_dot;
    NN_NO_GRAD(s->ctx) { a = nn_multinomial(nn_softmax(nn_forward(policy, s), 1), 1, 1); }   /* (1, 1) */
    action = a ? (int)nn_i64(a)[0] : 0;
    nn_arena_reset(s->ctx);
    return action;
}

/* One update from one episode of T steps: states (T, 4), actions (T), every reward 1.
   The return G_t = sum_k gamma^k r_{t+k}, scaled by 2 / MAX_STEPS (about [0, 1]) as V's target;
   the advantage A_t = G_t - V(s_t), standardised over the episode (a constant to autograd);
   loss = -mean_t(log pi(a_t | s_t) A_t) + mean_t((V(s_t) - G_t)^2). Returns 1 on success. */
static int update(nn_ctx *ctx, nn_module *policy, nn_module *value, nn_optim *opt, const float *states,
                  const int64_t *actions, int T, double gamma, float *g, float *adv) {
    int64_t sshape[2] = { T, 4 }, cshape[2] = { T, 1 };
    nn_tensor *S = nn_from_array(ctx, 2, sshape, states), *A = nn_from_i64(ctx, 2, cshape, actions);
    nn_tensor *G, *ADV, *v, *logp, *loss;
    double run = 0, mean = 0, var = 0;
    int t, ok;
    for (t = T - 1; t >= 0; t--) { run = 1.0 + gamma * run; g[t] = (float)(run * 2.0 / MAX_STEPS); }
    G = nn_from_array(ctx, 2, cshape, g);
    v = nn_forward(value, S);                                  /* (T, 1) */
    for (t = 0; t < T; t++) { adv[t] = v ? g[t] - nn_f32(v)[t] : 0.0f; mean += adv[t]; }
    mean /= T;
    for (t = 0; t < T; t++) var += (adv[t] - mean) * (adv[t] - mean);
    var = T > 1 ? var / (T - 1) : 0;
    for (t = 0; t < T; t++) adv[t] = (float)((adv[t] - mean) / (sqrt(var) + 1e-8));
    ADV = nn_from_array(ctx, 2, cshape, adv);
    logp = nn_gather(nn_log_softmax(nn_forward(policy, S), 1), 1, A);   /* (T, 1): log pi(a_t | s_t) */
    loss = nn_add(nn_neg(nn_mean(nn_mul(logp, ADV), NN_ALL, 0)), nn_mse_loss(v, G, NN_MEAN));
    nn_optim_zero_grad(opt);
    ok = loss && nn_backward(loss, NULL, 0) && nn_optim_step(opt);
    nn_arena_reset(ctx);
    nn_free(S); nn_free(A); nn_free(G); nn_free(ADV);
    return ok;
}

int main(int argc, char **argv) {
    int64_t episodes = 1000, seed = 1, render_every = 100, hidden = 128;
    double lr = 5e-3, gamma = 0.99;
    int is_short = 0;
    const arg_spec args[] = {
        { "--episodes", ARG_INT, &episodes, 1, 1e6, "N", "most episodes to train; stops when solved (default 1000)" },
        { "--seed", ARG_INT, &seed, 0, 9e18, "N", "seed of the weights, the actions and the environment (default 1)" },
        { "--render-every", ARG_INT, &render_every, 0, 1e6, "N", "draw every N-th episode, 0: none (default 100)" },
        { "--hidden", ARG_INT, &hidden, 1, 4096, "N", "hidden units of each network (default 128)" },
        { "--lr", ARG_REAL, &lr, 0, 1, "LR", "Adam's learning rate (default 0.005)" },
        { "--gamma", ARG_REAL, &gamma, 0, 1, "G", "discount (default 0.99)" },
        { "--short", ARG_SWITCH, &is_short, 0, 0, NULL,
          "CI: 200 episodes, no drawing; fails unless the last 20 average 3x the first 20" },
    };
    int parsed = parse_args(argc, argv, args, (int)(sizeof args / sizeof args[0]));
    nn_ctx *ctx;
    nn_module *policy, *value;
    nn_tensor *params[8], *s;
    nn_optim *opt;
    cartpole env;
    int64_t one[2] = { 1, 4 }, actions[MAX_STEPS];
    float states[MAX_STEPS * 4], xs[MAX_STEPS + 1], thetas[MAX_STEPS + 1], g[MAX_STEPS], adv[MAX_STEPS];
    float *returns, *average;
    double window_sum = 0;
    int np, ep, t, solved_at = 0, animate = 0, rc = 0, n = 0;
    const char *err;

    if (parsed) return parsed == 1 ? 0 : 2;
    if (is_short) { episodes = 200; render_every = 0; }
    animate = ON_TERMINAL();
    ctx = nn_ctx_new();
    if (!ctx) { fprintf(stderr, "out of memory\n"); return 1; }
    nn_manual_seed(ctx, (uint64_t)seed);          /* the weights, then every action */
    env.rng = (uint64_t)seed * 2654435761ULL + 12345;   /* the environment's starts */
    policy = mlp(ctx, hidden, 2);                 /* state (4) -> logits of left, right */
    value = mlp(ctx, hidden, 1);                  /* state (4) -> V(s) */
    np = nn_module_parameters(policy, params, 8);
    np += nn_module_parameters(value, params + np, 8 - np);
    {
        nn_adam_opts o = nn_adam_opts_default();  /* Adam(lr=0.005) */
        o.lr = lr;
        opt = nn_adam(params, np, o);
    }
    s = nn_zeros(ctx, 2, one);
    returns = (float *)malloc((size_t)episodes * sizeof(float));
    average = (float *)malloc((size_t)episodes * sizeof(float));
    if (!policy || !value || !opt || !s || !returns || !average) {
        err = nn_error(ctx);
        fprintf(stderr, "setup failed: %s\n", err ? err : "out of memory");
        return 1;
    }
    printf("CartPole-v0: REINFORCE with a baseline, policy 4-%d-2 and value 4-%d-1 (%lld parameters), "
           "Adam lr %g, gamma %g, seed %lld, %s kernels\n", (int)hidden, (int)hidden,
           (long long)(nn_module_num_parameters(policy) + nn_module_num_parameters(value)), lr, gamma, (long long)seed,
           nn_get_cpu_capability());
    for (ep = 1; ep <= episodes; ep++) {
        int done = 0;
        env_reset(&env);
        xs[0] = (float)env.x; thetas[0] = (float)env.theta;
        for (t = 0; t < MAX_STEPS && !done; t++) {
            states[4 * t] = (float)env.x; states[4 * t + 1] = (float)env.x_dot;
            states[4 * t + 2] = (float)env.theta; states[4 * t + 3] = (float)env.theta_dot;
            actions[t] = act(policy, s, &env);
            done = env_step(&env, (int)actions[t]);
            xs[t + 1] = (float)env.x; thetas[t + 1] = (float)env.theta;
        }
        if ((err = nn_error(ctx))) break;
        if (!update(ctx, policy, value, opt, states, actions, t, gamma, g, adv)) break;
        returns[n] = (float)t;
        window_sum += t;
        if (n >= WINDOW) window_sum -= returns[n - WINDOW];
        average[n] = (float)(window_sum / (n + 1 < WINDOW ? n + 1 : WINDOW));
        n++;
        if (render_every > 0 && ep % render_every == 0) render_episode(xs, thetas, t, ep, animate);
        if (ep % 20 == 0 || ep == 1) printf("episode %4d  return %3d  average of the last %3d %6.1f\n", ep, t,
                                            n < WINDOW ? n : WINDOW, average[n - 1]);
        if (n >= WINDOW && average[n - 1] >= SOLVED) { solved_at = ep; break; }
    }
    err = nn_error(ctx);
    if (err) { fprintf(stderr, "error: %s\n", err); rc = 1; }
    if (!err && n > 0) {
        const float *ys[2] = { returns, average };
        const char *labels[2] = { "return per episode", "average of the last 100" };
        printf("\n");
        nn_plot_terminal("CartPole-v0 return", ys, labels, 2, n, 12);
#ifdef NN_HAVE_STB
        if (nn_plot_png(ctx, "cartpole_returns.png", ys, labels, 2, n)) printf("wrote cartpole_returns.png\n");
        else { fprintf(stderr, "error: %s\n", nn_error(ctx)); rc = 1; }
#endif
        if (is_short) {
            double first = 0, last = 0;
            int k = n < 20 ? n : 20, i;
            for (i = 0; i < k; i++) { first += returns[i]; last += returns[n - 1 - i]; }
            first /= k; last /= k;
            printf("average return of the first %d episodes %.1f, of the last %d %.1f: %.2fx (at least 3x needed)\n",
                   k, first, k, last, last / first);
            if (!(n >= 40 && last >= 3.0 * first)) { printf("FAIL: the return did not improve 3x in %d episodes\n", n); rc = 1; }
        } else if (solved_at) {
            printf("solved at episode %d: episodes %d to %d average %.2f (>= %.0f)\n", solved_at, solved_at - WINDOW + 1,
                   solved_at, average[n - 1], SOLVED);
        } else {
            printf("not solved in %d episodes: the last %d average %.2f (%.0f needed)\n", n, n < WINDOW ? n : WINDOW,
                   average[n - 1], SOLVED);
            rc = 1;
        }
    }
    free(returns); free(average);
    nn_free(s);
    nn_optim_free(opt);
    nn_module_free(policy); nn_module_free(value);
    nn_ctx_free(ctx);
    return rc;
}
