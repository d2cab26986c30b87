/* compile check: the options idiom README shows, for every options struct, in C99 and
   C++11 with -Wall -Wextra -Werror (no compound literals, no { 0 }) */
#define NN_IMPLEMENTATION
#include "nn.h"

int main(void) {
    nn_conv_opts co = nn_conv_opts_default();
    nn_pool_opts po = nn_pool_opts_default(2);
    nn_cross_entropy_opts ce = nn_cross_entropy_opts_default();
    nn_sgd_opts so = nn_sgd_opts_default(0.1);
    nn_adam_opts ao = nn_adam_opts_default();
    nn_adam_opts aw = nn_adamw_opts_default();
    nn_rmsprop_opts ro = nn_rmsprop_opts_default();
    nn_adagrad_opts ag = nn_adagrad_opts_default();
    nn_one_cycle_opts oc = nn_one_cycle_opts_default();
    nn_plateau_opts pl = nn_plateau_opts_default();
    nn_dataloader_opts dl = nn_dataloader_opts_default();
    co.padding = 1;
    po.ceil_mode = 1;
    ce.label_smoothing = 0.1f;
    so.momentum = 0.9;
    ao.weight_decay = 0.0;
    aw.betas[0] = 0.0;
    ro.centered = 1;
    ag.lr_decay = 0.0;
    oc.cycle_momentum = 0;
    pl.patience = 0;
    dl.batch_size = 64;
    return (int)(co.padding + po.kernel_size + ce.ignore_index + so.lr + ao.lr + aw.lr + ro.lr + ag.lr
                 + oc.pct_start + pl.factor + dl.batch_size) == 12345;
}
