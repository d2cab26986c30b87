/* nn.h test suite: every op against PyTorch's numbers (tests/fixtures/ops.txt,
   made by tests/gen_fixtures.py), finite-difference gradient checks, the seed
   notes' worked examples, the memory model and the error model.
   One program over a shared harness (harness.h), one file per area.
   Usage: test_nn [filter]   runs the cases whose name contains filter.
   Ends with "N passed, N failed" and exits non-zero on any failure. */
#include "harness.h"
#include "test_ops.c"
#include "test_autograd.c"
#include "test_optim.c"
#include "test_modules.c"
#include "test_data.c"
#include "test_dist.c"
#include "test_seq.c"

typedef struct { const char *name; void (*run)(nn_ctx *ctx); } test_entry;
static const test_entry g_tests[] = {
    { "ops/fixtures", test_fixtures },            /* filters its cases by name and op */
    { "ops/gemm", test_gemm_paths },
    { "ops/fixtures_fast_paths", test_fixtures_fast_paths },
    { "ops/threads_api", test_threads_api },
    { "ops/thread_determinism", test_thread_determinism },
    { "ops/linear", test_linear_op },
    { "ops/multinomial", test_multinomial },
    { "ops/vector_kernels", test_vector_kernels },
    { "ops/pool_storm", test_pool_storm },
    { "ops/frontends_touch_no_data", test_frontends_touch_no_data },
    { "ops/doc_sections", test_doc_sections },
    { "autograd/chain_rule", test_chain_rule },
    { "autograd/manual_backprop", test_manual_backprop },
    { "autograd/semantics", test_autograd },
    { "autograd/errors", test_errors },
    { "autograd/zero_alloc_step", test_zero_alloc_step },
    { "autograd/graph_dot", test_graph_dot },
    { "autograd/backward_semantics", test_backward_semantics },
    { "autograd/review_regressions", test_review_regressions },
    { "autograd/anomaly", test_anomaly },
    { "autograd/memory_limit", test_memory_limit },
    { "optim/trajectories", test_optimizers },
    { "optim/step_lr_table", test_step_lr_table },
    { "modules/models", test_models },
    { "modules/modules", test_modules },
    { "data/checkpoints", test_checkpoints },
    { "data/readers", test_readers },
    { "data/transforms_and_metrics", test_transforms_and_metrics },
    { "data/dataloader", test_dataloader },
    { "data/random_transforms", test_random_transforms },
    { "data/distributed_sampler", test_distributed_sampler },
    { "data/distributed_transforms", test_distributed_transforms },
    { "dist/world_of_one", test_dist_world_of_one },
    { "seq/layers", test_seq_layers },             /* tests/fixtures/seq: one case per line of cases.txt */
    { "seq/whole_models", test_seq_whole_models },
    { "seq/trained", test_seq_trained },
    { "seq/init", test_seq_init },
    { "seq/dropout", test_seq_dropout },
    { "seq/errors", test_seq_errors },
    { "seq/review_regressions", test_seq_review_regressions },
    { "seq/timestep_embedding", test_seq_timestep_embedding },
    { "seq/sinusoidal_encoding", test_seq_sinusoidal },
    { "seq/ddpm", test_seq_ddpm },
    { "seq/sample_logits", test_seq_sample_logits },
};

int main(int argc, char **argv) {
    nn_ctx *ctx = nn_ctx_new();
    long live;
    size_t t;
    g_filter = argc > 1 ? argv[1] : NULL;
    nn_set_logger(ctx, capture_log, NULL);   /* messages checked by the tests, not printed */
    for (t = 0; t < sizeof g_tests / sizeof g_tests[0]; t++)
        if (selected(g_tests[t].name) || g_tests[t].run == test_fixtures) g_tests[t].run(ctx);
    nn_ctx_free(ctx);
    live = g_mallocs - g_frees;
    begin("memory: every allocation freed (tensors freed, context freed)");
    CHECK(live == 0, "%ld allocations never freed", live);
    end();
    if (g_fixture_cases)
        printf("  fixtures: %d cases against PyTorch, %d finite-difference checks (worst abs error %.3g)\n",
               g_fixture_cases, g_gradchecks, g_gradcheck_worst);
    printf("  against PyTorch: worst relative error %.3g where |expected| >= 0.1 (%s); worst absolute error %.3g\n",
           g_worst_rel, g_worst_where, g_worst_abs);
#ifndef NN_HAVE_STB
    printf("  (stb_image not installed: the gzip, image-folder and PNG tests were not built)\n");
#endif
    printf("%d passed, %d failed\n", g_passed, g_failed);
    if (g_passed + g_failed <= 1) { printf("no case matched \"%s\"\n", g_filter ? g_filter : ""); return 1; }
    return g_failed ? 1 : 0;
}
