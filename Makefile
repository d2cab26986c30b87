# nn.h: `make demo` runs the main job, `make test` runs the test suite.
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c99 -Wall -Wextra -Werror
LDLIBS  := -lm
BUILD   := build
EXAMPLES := chain_rule linear_regression manual_backprop mynet optimizers schedulers checkpoint lr_demo gd_variants multilabel mnist_mlp cartpole diffusion2d char_rnn tiny_gpt

.PHONY: all mcu test test-cuda-emu test-cuda cuda-build test-cuda-example examples test-cartpole test-diffusion2d bench-diffusion test-char-rnn test-tiny-gpt bench-gpt demo compile-check sanitize test-badcalls check-leaks fuzz fuzz-seeds probe fixtures interop bench-memory bench bench-gpu bench-ddp test-mpi test-kill test-alloc test-threads web test-web clean

all: $(BUILD)/test_nn $(addprefix $(BUILD)/,$(EXAMPLES))

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/test_nn: tests/*.c tests/harness.h nn.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $(STB) -o $@ tests/test_nn.c $(LDLIBS)

$(BUILD)/%: examples/%.c examples/args.h nn.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -o $@ $< $(LDLIBS)

# The MNIST programs read gzip'd data and write PNGs through stb (Debian's libstb-dev)
# when it is installed; they are built optimised for this machine.
FAST := -O3 -march=native
$(BUILD)/mnist_cnn $(BUILD)/mnist_mlp $(BUILD)/multilabel $(BUILD)/lr_demo $(BUILD)/cartpole $(BUILD)/diffusion2d $(BUILD)/char_rnn $(BUILD)/tiny_gpt: $(BUILD)/%: examples/%.c examples/args.h nn.h | $(BUILD)
	$(CC) $(WARN) $(FAST) $(STB) -o $@ $< $(LDLIBS)
	@echo "$(STB)" > $(BUILD)/.stb

STB := $(shell test -f /usr/include/stb/stb_image.h && echo -DNN_HAVE_STB)

# The test command: the header compiles as C99 and C++ with every compiler
# present, then the suite runs (ends with "N passed, N failed").
test: compile-check $(BUILD)/test_nn $(BUILD)/fuzz_replay $(BUILD)/no_stdio
	./$(BUILD)/fuzz_replay tests/corpus tests/regress
	./$(BUILD)/no_stdio
	./$(BUILD)/test_nn

# nn.h as firmware builds it (NN_NO_STDIO, NN_NO_MALLOC), on the host: its own message
# formatter against snprintf, and a training step made only from nn_use_buffer's buffer
$(BUILD)/no_stdio: tests/no_stdio.c nn.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -o $@ tests/no_stdio.c $(LDLIBS)

compile-check: | $(BUILD)
	@awk '/^## Quick start/{f=1} f&&/^```c/{p=1;next} p&&/^```/{exit} p' README.md > $(BUILD)/quickstart.c
	@test -s $(BUILD)/quickstart.c || { echo "compile-check: no C block under README's Quick start"; exit 1; }
	@for c in "gcc -std=c99" "clang -std=c99" "g++ -std=c++11 -x c++" "clang++ -std=c++11 -x c++"; do \
	  bin=$${c%% *}; command -v $$bin >/dev/null 2>&1 || { echo "compile-check: $$bin not installed, skipped"; continue; }; \
	  for f in impl options $(if $(STB),stb_impl stb_decl); do \
	    $$c -O2 -I. -Wall -Wextra -Werror -c tests/compile/$$f.c -o $(BUILD)/cc.o || { echo "compile-check: $$c failed on tests/compile/$$f.c"; exit 1; }; \
	  done; \
	  $$c -O2 -I. -Wall -Wextra -Werror -c $(BUILD)/quickstart.c -o $(BUILD)/cc.o || { echo "compile-check: $$c failed on README's quick start"; exit 1; }; \
	  $$c -I. -Wall -Wextra -Werror -DNN_NO_STDIO -DNN_NO_SIMD -DNN_NO_THREADS -DNN_STATIC -c tests/compile/impl.c -o $(BUILD)/cc.o || exit 1; \
	  if echo '#include <cblas.h>' | $$c -E - >/dev/null 2>&1; then \
	    $$c -O2 -I. -Wall -Wextra -Werror -DNN_USE_CBLAS -c tests/compile/impl.c -o $(BUILD)/cc.o || { echo "compile-check: $$c failed with NN_USE_CBLAS"; exit 1; }; fi; \
	  if [ -n "$(MPI_INC)" ]; then \
	    $$c -O2 -I. $(MPI_INC) -DOMPI_SKIP_MPICXX -Wall -Wextra -Werror -DNN_MPI -c tests/compile/impl.c -o $(BUILD)/cc.o || { echo "compile-check: $$c failed with NN_MPI"; exit 1; }; fi; \
	  echo "compile-check: $$c -Wall -Wextra -Werror ok (README quick start; options idiom; NN_NO_STDIO/NN_NO_SIMD/NN_NO_THREADS/NN_STATIC; NN_USE_CBLAS when cblas.h is installed; NN_MPI when mpicc is$(if $(STB),; stb headers with and without NN_IMPLEMENTATION))"; done

# MPI's include flags, when Open MPI (or another MPI with mpicc) is installed
MPI_INC := $(shell mpicc -showme:compile 2>/dev/null || mpicc -compile_info 2>/dev/null | sed 's/^[^ ]* //; s/ -c$$//')

# Data parallel over MPI (Debian: libopenmpi-dev openmpi-bin), on this machine with 2 ranks:
# tests/test_mpi.c, again under ASan + UBSan (Open MPI's own allocations are not leak-checked:
# the harness counts nn.h's); a rank that exits makes mpirun end the others (no hang); the example
# trained on 2 ranks with a checkpoint, then resumed in one plain process.
MPIRUN := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 600 mpirun --oversubscribe
test-mpi: $(BUILD)/mnist_cnn | $(BUILD)
	mpicc $(WARN) -O2 -g -DNN_MPI -o $(BUILD)/test_mpi tests/test_mpi.c $(LDLIBS)
	$(MPIRUN) -np 2 ./$(BUILD)/test_mpi
	OMPI_CC=clang mpicc $(WARN) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -DNN_MPI -o $(BUILD)/test_mpi_asan tests/test_mpi.c $(LDLIBS)
	@ASAN_OPTIONS=detect_leaks=0 $(MPIRUN) -np 2 -x ASAN_OPTIONS ./$(BUILD)/test_mpi_asan > $(BUILD)/test_mpi_asan.log 2>&1 \
	  || { cat $(BUILD)/test_mpi_asan.log; echo "test-mpi: failed under ASan + UBSan"; exit 1; }; echo "under ASan + UBSan: $$(tail -1 $(BUILD)/test_mpi_asan.log)"
	@$(MPIRUN) -np 2 ./$(BUILD)/test_mpi --die 1 > $(BUILD)/test_mpi_die.log 2>&1; rc=$$?; \
	  if [ $$rc = 0 ] || [ $$rc = 124 ]; then cat $(BUILD)/test_mpi_die.log; echo "test-mpi: a dead rank left the job running (exit $$rc)"; exit 1; fi; \
	  echo "ok   a rank that exits (status 3) ends the job: mpirun exited $$rc, no hang"
	@$(MAKE) --no-print-directory $(BUILD)/mnist_cnn_mpi
	@cd $(BUILD) && $(MPIRUN) -np 2 ./mnist_cnn_mpi --data $(CURDIR)/data/fashion-mnist-sample --epochs 1 --batch-size 32 \
	  --test-limit 500 --save-checkpoint ddp_ck.safetensors > mnist_cnn_mpi.log 2>&1 || { cat mnist_cnn_mpi.log; exit 1; }
	@cd $(BUILD) && ./mnist_cnn --data $(CURDIR)/data/fashion-mnist-sample --epochs 2 --test-limit 500 --resume ddp_ck.safetensors \
	  > mnist_cnn_resume.log 2>&1 || { cat mnist_cnn_resume.log; exit 1; }
	@grep -E '^(2 processes|\[Epoch|Test accuracy)' $(BUILD)/mnist_cnn_mpi.log; grep -E '^(Resumed|\[Epoch|Test accuracy)' $(BUILD)/mnist_cnn_resume.log
	@grep -q '^2 processes, batch 32 each (64 in all)' $(BUILD)/mnist_cnn_mpi.log && grep -q '^Resumed from ddp_ck.safetensors after epoch 1' $(BUILD)/mnist_cnn_resume.log \
	  && grep -q '^\[Epoch 2\]' $(BUILD)/mnist_cnn_resume.log || { echo "test-mpi: the example did not train on 2 ranks and resume on 1"; exit 1; }
	@echo "ok   mnist_cnn trained on 2 ranks (mpirun -np 2 build/mnist_cnn_mpi), resumed in one plain process"

$(BUILD)/mnist_cnn_mpi: examples/mnist_cnn.c examples/args.h nn.h | $(BUILD)
	mpicc $(WARN) $(FAST) $(STB) -DNN_MPI -o $@ $< $(LDLIBS)

# Every example, run from build/ so the files they write land there.
# Each also answers --help with its usage (exit 0) and refuses an unknown flag (exit 2).
examples: $(addprefix $(BUILD)/,$(EXAMPLES)) $(BUILD)/mnist_cnn
	@for e in $(EXAMPLES) mnist_cnn; do \
	  (cd $(BUILD) && ./$$e --help >/dev/null) || { echo "$$e --help did not exit 0"; exit 1; }; \
	  (cd $(BUILD) && ./$$e --no-such-flag >/dev/null 2>&1); rc=$$?; \
	  [ $$rc = 2 ] || { echo "$$e --no-such-flag exited $$rc, expected 2"; exit 1; }; done
	@for e in $(EXAMPLES); do echo "== $$e"; (cd $(BUILD) && ./$$e) || exit 1; done

# Issue 11's game agent (examples/cartpole.c; make examples runs the full run, which must solve
# CartPole-v0): the short run must raise the return 3x (last 20 episodes against the first 20),
# and two runs of it must print the same bytes.
test-cartpole: $(BUILD)/cartpole
	@cd $(BUILD) && ./cartpole --short > cartpole_short.log || { cat cartpole_short.log; echo "test-cartpole: the short run failed"; exit 1; }
	@cd $(BUILD) && ./cartpole --short > cartpole_short2.log && cmp cartpole_short.log cartpole_short2.log \
	  || { echo "test-cartpole: two seeded runs differ"; exit 1; }
	@tail -1 $(BUILD)/cartpole_short.log; echo "ok   cartpole --short improved 3x and repeated byte for byte"

# Issue 9's diffusion example (examples/diffusion2d.c; make examples runs the full run, whose
# samples must score a sliced Wasserstein distance below half the Gaussian baseline's): the short
# run (600 steps) must bring the mean loss of its last 50 steps below 0.65x that of its first 10,
# and two runs of it must print the same bytes but for the times.
test-diffusion2d: $(BUILD)/diffusion2d
	@cd $(BUILD) && ./diffusion2d --short > diffusion2d_short.log || { cat diffusion2d_short.log; echo "test-diffusion2d: the short run failed"; exit 1; }
	@cd $(BUILD) && ./diffusion2d --short --png "" > diffusion2d_short2.log \
	  && sed -E 's/[0-9.]+ s\b/- s/g; /^wrote /d' diffusion2d_short.log > diffusion2d_short.notime \
	  && sed -E 's/[0-9.]+ s\b/- s/g' diffusion2d_short2.log | cmp -s diffusion2d_short.notime - \
	  || { echo "test-diffusion2d: two seeded runs differ"; exit 1; }
	@grep -E '^(  [A-Zn]|mean loss|check)' $(BUILD)/diffusion2d_short.log
	@echo "ok   diffusion2d --short: the loss fell below 0.65x, and the run repeated (times aside)"
# Issue 9's language models on Debian's wamerican words (make examples runs the full runs):
# the short runs (200 steps) must bring the validation loss below 0.75x its start; the LSTM's
# run again with --cell gru. Two seeded runs must print the same losses and words.
test-char-rnn: $(BUILD)/char_rnn
	@cd $(BUILD) && ./char_rnn --short > char_rnn_short.log || { cat char_rnn_short.log; echo "test-char-rnn: the LSTM's short run failed"; exit 1; }
	@cd $(BUILD) && ./char_rnn --short > char_rnn_short2.log && sed 's/(.*//' char_rnn_short.log > char_rnn_a.txt \
	  && sed 's/(.*//' char_rnn_short2.log > char_rnn_b.txt && cmp -s char_rnn_a.txt char_rnn_b.txt \
	  || { echo "test-char-rnn: two seeded runs differ"; exit 1; }
	@cd $(BUILD) && ./char_rnn --short --cell gru > char_rnn_gru_short.log || { cat char_rnn_gru_short.log; echo "test-char-rnn: the GRU's short run failed"; exit 1; }
	@echo "LSTM $$(tail -1 $(BUILD)/char_rnn_short.log)"; echo "GRU  $$(tail -1 $(BUILD)/char_rnn_gru_short.log)"
	@echo "ok   char_rnn --short (LSTM and GRU) learned, and repeated"

test-tiny-gpt: $(BUILD)/tiny_gpt
	@cd $(BUILD) && ./tiny_gpt --short > tiny_gpt_short.log || { cat tiny_gpt_short.log; echo "test-tiny-gpt: the short run failed"; exit 1; }
	@cd $(BUILD) && ./tiny_gpt --short > tiny_gpt_short2.log && grep -v '^training speed' tiny_gpt_short.log | sed 's/(.*//' > tiny_gpt_a.txt \
	  && grep -v '^training speed' tiny_gpt_short2.log | sed 's/(.*//' > tiny_gpt_b.txt && cmp -s tiny_gpt_a.txt tiny_gpt_b.txt \
	  || { echo "test-tiny-gpt: two seeded runs differ"; exit 1; }
	@tail -1 $(BUILD)/tiny_gpt_short.log; echo "ok   tiny_gpt --short learned, and repeated"

# The browser playground (issue 11): examples/web/playground.c compiled to WebAssembly by emscripten
# (Debian: emscripten) into build/web/ with examples/web/index.html; serve it with
# `python3 -m http.server -d build/web 8000`. NODE_PATH: Debian's emcc needs node-acorn from
# /usr/share/nodejs, which a node that is not Debian's does not search.
# make test-web builds the C natively (-Werror) and checks its numbers, then trains the page in
# headless Chromium (Debian: chromium chromium-driver) through tests/web_test.py.
EMCC ?= emcc
WEB  := $(BUILD)/web
WEB_FLAGS := -O2 -DNN_NO_THREADS -DNN_NO_SIMD -sALLOW_MEMORY_GROWTH=1 -sMODULARIZE=1 -sEXPORT_NAME=createPlayground \
  -sENVIRONMENT=web -sEXPORTED_RUNTIME_METHODS=cwrap,UTF8ToString
web: $(WEB)/playground.js $(WEB)/index.html

$(WEB)/playground.js: examples/web/playground.c examples/args.h nn.h | $(BUILD)
	@mkdir -p $(WEB)
	NODE_PATH=/usr/share/nodejs $(EMCC) $(WARN) $(WEB_FLAGS) -o $@ $<
	@echo "web: $$(wc -c < $(WEB)/playground.wasm) bytes of wasm, $$(wc -c < $@) of JS in $(WEB)/"

$(WEB)/index.html: examples/web/index.html | $(BUILD)
	@mkdir -p $(WEB)
	cp $< $@

$(BUILD)/web_playground: examples/web/playground.c examples/args.h nn.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -o $@ $< $(LDLIBS)

test-web: web $(BUILD)/web_playground
	@./$(BUILD)/web_playground --steps 300 --every 300 > $(BUILD)/web_playground.log || { cat $(BUILD)/web_playground.log; exit 1; }
	@grep -q '"label":"f","op":"\*","expr":"(x + y) \* z","value":-12,"grad":1' $(BUILD)/web_playground.log \
	  && grep -q '"label":"x","op":"","expr":"x","value":-2,"grad":-4' $(BUILD)/web_playground.log \
	  && grep -q '"label":"z","op":"","expr":"z","value":-4,"grad":3' $(BUILD)/web_playground.log \
	  || { cat $(BUILD)/web_playground.log; echo "test-web: the native graph of f = (x + y) * z is not f=-12, df/dx=-4, df/dz=3"; exit 1; }
	@echo "ok   native: $$(grep '^step' $(BUILD)/web_playground.log | tail -1); f = (x + y) * z graph -12, grads -4 -4 3"
	python3 tests/web_test.py

# The main job: seed 002's training script (examples/mnist_cnn.c), MY_NET on
# Fashion-MNIST. As root it installs Debian's dataset-fashion-mnist and libstb-dev
# when missing; otherwise it uses the sample in data/ (plain IDX, no stb needed).
DATA ?= /usr/share/datasets/fashion-mnist
DEMO_ARGS ?= --epochs 1 --limit 12000
demo:
	@if [ ! -f $(DATA)/train-images-idx3-ubyte.gz ] || [ ! -f /usr/include/stb/stb_image.h ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing dataset-fashion-mnist and libstb-dev"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist libstb-dev >/dev/null; \
	  fi; fi
	@$(MAKE) --no-print-directory -B $(BUILD)/mnist_cnn
	@if [ -f $(DATA)/train-images-idx3-ubyte.gz ] && grep -q NN_HAVE_STB $(BUILD)/.stb 2>/dev/null; then \
	  cd $(BUILD) && ./mnist_cnn --data $(DATA) $(DEMO_ARGS); \
	else \
	  echo "using the Fashion-MNIST sample in data/ (3,000 training images)"; \
	  cd $(BUILD) && ./mnist_cnn --data $(CURDIR)/data/fashion-mnist-sample --epochs 3; \
	fi

sanitize: | $(BUILD)
	clang $(WARN) -O1 -g $(STB) -fsanitize=address,undefined -fno-sanitize-recover=all -o $(BUILD)/test_nn_asan tests/test_nn.c $(LDLIBS)
	ASAN_OPTIONS=detect_leaks=1 ./$(BUILD)/test_nn_asan
	clang $(WARN) -O1 -g $(STB) -fsanitize=address,undefined -fno-sanitize-recover=all -DFUZZ_REPLAY -o $(BUILD)/fuzz_replay_asan tests/fuzz_loaders.c $(LDLIBS)
	ASAN_OPTIONS=detect_leaks=1 ./$(BUILD)/fuzz_replay_asan tests/corpus tests/regress
	@$(MAKE) --no-print-directory probe

# Every public function called with one bad argument at a time (NULL, -1, 0, INT_MAX, NaN, inf, bad enums, each
# options field, overflowing shapes), the calls generated from nn.h's declarations by tests/gen_badcalls.py, run
# under ASan + UBSan with leak checks, an alarm per call and a check that the error names the function.
test-badcalls: | $(BUILD)
	python3 tests/gen_badcalls.py nn.h $(BUILD)/test_badcalls.c
	clang $(WARN) -O1 -g $(STB) -fsanitize=address,undefined -fno-sanitize-recover=all -Itests -o $(BUILD)/test_badcalls $(BUILD)/test_badcalls.c $(LDLIBS)
	./$(BUILD)/test_badcalls

# The worker pool under ThreadSanitizer: the op tests, which run every kernel set on 1 and 2
# threads and train on 1, 2 and 3 threads.
tsan: | $(BUILD)
	clang $(WARN) -O1 -g $(STB) -fsanitize=thread -o $(BUILD)/test_nn_tsan tests/test_nn.c $(LDLIBS)
	TSAN_OPTIONS=halt_on_error=1 ./$(BUILD)/test_nn_tsan ops/

# Two models trained at once in two pthreads, one context each, on 1, 2, 3 and changing thread
# counts, with an error in each and a context freed mid-run: every result bit-identical to the
# sequential 1-thread run (tests/threads.c); built with gcc, then with clang under ThreadSanitizer.
test-threads: | $(BUILD)
	gcc $(WARN) -O2 -g -pthread -o $(BUILD)/threads tests/threads.c $(LDLIBS)
	./$(BUILD)/threads
	clang $(WARN) -O1 -g -pthread -fsanitize=thread -o $(BUILD)/threads_tsan tests/threads.c $(LDLIBS)
	TSAN_OPTIONS=halt_on_error=1 ./$(BUILD)/threads_tsan

# The NEON kernels: the suite cross-compiled for AArch64 with clang, the op tests run under
# qemu-aarch64 (Debian: libc6-dev-arm64-cross libgcc-12-dev-arm64-cross binutils-aarch64-linux-gnu qemu-user).
test-arm64: | $(BUILD)
	clang --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -static $(WARN) -O2 -o $(BUILD)/test_nn_arm64 tests/test_nn.c $(LDLIBS)
	@qemu-aarch64 $(BUILD)/test_nn_arm64 ops/ > $(BUILD)/test_arm64.log 2>&1; rc=$$?; \
	  grep -E '^FAIL' $(BUILD)/test_arm64.log; tail -1 $(BUILD)/test_arm64.log; \
	  grep -q '"neon"\|neon' $(BUILD)/test_arm64.log || { echo "test-arm64: the NEON path did not run"; exit 1; }; exit $$rc

# Checkpoints that cannot be lost: KILLS SIGKILLs at random moments of saving; every time, the
# file on disk must load and be one whole saved version (tests/kill_save.c).
KILLS ?= 250
test-kill: | $(BUILD)
	$(CC) $(WARN) -O2 -o $(BUILD)/kill_save tests/kill_save.c $(LDLIBS)
	./$(BUILD)/kill_save $(KILLS) $(BUILD)

# Allocation failure anywhere is survived: the k-th allocation of a training step (MLP, CNN),
# checkpoint save and load, and every loader fails, for every k (tests/alloc_fail.c, ASan + UBSan).
test-alloc: | $(BUILD)
	$(CC) $(WARN) -O1 $(STB) -o $(BUILD)/alloc_fail_files tests/alloc_fail.c $(LDLIBS)
	./$(BUILD)/alloc_fail_files --files
	clang $(WARN) -O1 -g $(STB) -fsanitize=address,undefined -fno-sanitize-recover=all -o $(BUILD)/alloc_fail tests/alloc_fail.c $(LDLIBS)
	ASAN_OPTIONS=detect_leaks=1 ./$(BUILD)/alloc_fail

check-leaks: $(BUILD)/test_nn
	valgrind --leak-check=full --errors-for-leak-kinds=all --error-exitcode=9 -q ./$(BUILD)/test_nn

# libFuzzer, one target per reader (tests/fuzz_loaders.c: idx, idx_gz, csv, image_folder, safetensors,
# checkpoint), each seeded with tests/corpus/<target>/ and the crashes kept in tests/regress/<target>/,
# FUZZ_SECONDS of fuzzing each (CI runs 15). Prints each target's executions; a crash fails the target
# and names the file that holds the input (add it to tests/regress/<target>/; make test replays it).
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := idx idx_gz csv image_folder safetensors checkpoint
fuzz: | $(BUILD)
	clang -g -O1 $(STB) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fsanitize-ignorelist=tests/fuzz_ignore.txt -DFUZZ_LIBFUZZER -o $(BUILD)/fuzz_loaders tests/fuzz_loaders.c -lm
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  rm -rf $(BUILD)/fuzz/$$t && mkdir -p $(BUILD)/fuzz/$$t/corpus $(BUILD)/fuzz/$$t/crash; \
	  NN_FUZZ_TARGET=$$t ./$(BUILD)/fuzz_loaders -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/fuzz/$$t/crash/ $(BUILD)/fuzz/$$t/corpus tests/corpus/$$t $(wildcard tests/regress/$$t) \
	    > $(BUILD)/fuzz/$$t/log 2>&1; rc=$$?; \
	  runs=$$(grep -o 'stat::number_of_executed_units: [0-9]*' $(BUILD)/fuzz/$$t/log | grep -o '[0-9]*$$'); \
	  if [ $$rc != 0 ]; then tail -30 $(BUILD)/fuzz/$$t/log; \
	    echo "fuzz: $$t crashed (exit $$rc) after $${runs:-?} executions; the input: $$(ls $(BUILD)/fuzz/$$t/crash/* 2>/dev/null)"; \
	    echo "fuzz: replay it with NN_FUZZ_TARGET=$$t ./$(BUILD)/fuzz_loaders <file>"; \
	    echo "fuzz: fix it, then copy the input into tests/regress/$$t/ so that make test replays it"; failed="$$failed $$t"; continue; fi; \
	  echo "fuzz: $$t: $$runs executions in $(FUZZ_SECONDS) s, no crash ($$(ls $(BUILD)/fuzz/$$t/corpus | wc -l) new inputs in $(BUILD)/fuzz/$$t/corpus)"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashed:$$failed"; exit 1; fi

# The seed corpora (tests/corpus/<target>/), written by nn.h and stb_image_write themselves
fuzz-seeds: | $(BUILD)
	$(CC) $(WARN) -O1 -g -DNN_HAVE_STB -DFUZZ_MAKE_SEEDS -o $(BUILD)/fuzz_seeds tests/fuzz_loaders.c $(LDLIBS)
	rm -rf tests/corpus && ./$(BUILD)/fuzz_seeds tests/corpus

# Every fuzz target over the seed and regression corpora, without libFuzzer (make test runs it)
$(BUILD)/fuzz_replay: tests/fuzz_loaders.c nn.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $(STB) -DFUZZ_REPLAY -o $@ tests/fuzz_loaders.c $(LDLIBS)

# The outside probe of issue 10 (zero-sized and huge images, allocation failure, crafted checkpoints)
probe: | $(BUILD)
	clang $(WARN) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -o $(BUILD)/probe tests/probe_loaders.c $(LDLIBS)
	@cd $(BUILD) && ./probe 2>probe.log > probe.txt; rc=$$?; grep -E '^ +(zero|huge|[0-9]+ (allocations|crafted))|^probe' probe.txt; exit $$rc

fixtures:
	/usr/bin/python3 tests/gen_fixtures.py
	/usr/bin/python3 tests/gen_seq_fixtures.py

# Peak step-arena bytes of one MY_NET training step (see bench/arena_peak.c)
bench-memory: | $(BUILD)
	$(CC) $(WARN) -O2 -o $(BUILD)/arena_peak bench/arena_peak.c $(LDLIBS)
	./$(BUILD)/arena_peak

# nn.h next to OpenBLAS (GEMM) and PyTorch (training, latency, peak RSS) at the same thread
# count; prints a markdown table, also written to build/bench.md (see bench/bench.sh); then DDP,
# diffusion, the GPT, and GPU training where a GPU is (bench/gpu.sh; says it skipped them otherwise)
bench:
	CC="$(CC)" bash bench/bench.sh
	bash bench/ddp.sh
	bash bench/diffusion2d.sh
	bash bench/gpt.sh
	NVCC="$(NVCC)" bash bench/gpu.sh

# GPU training img/s only: build/bench/train_cuda (nn_cuda.h) next to PyTorch on the same GPU, MLP and
# MY_NET; prints that it skipped them, and why, where there is no GPU (see bench/gpu.sh)
bench-gpu:
	NVCC="$(NVCC)" bash bench/gpu.sh

# DDPM on two moons: examples/diffusion2d.c next to the same recipe in PyTorch, sample quality
# (sliced Wasserstein distance to held-out points, a Gaussian baseline, the noise floor), loss
# and times in one table, also written to build/bench_diffusion.md (see bench/diffusion2d.sh)
bench-diffusion:
	bash bench/diffusion2d.sh

# examples/tiny_gpt.c next to bench/torch_tiny_gpt.py (the same model, weights, data and steps) at
# 1 and 2 threads: tokens/s of training and the validation loss after N steps (see bench/gpt.sh)
bench-gpt: $(BUILD)/tiny_gpt
	bash bench/gpt.sh

# data parallel only: nn.h's DDP over MPI next to PyTorch's over gloo, 1 and 2 ranks
bench-ddp:
	bash bench/ddp.sh

# nn.h's safetensors output loaded by PyTorch (needs Debian's python3-torch)
interop: $(BUILD)/mynet
	cd $(BUILD) && ./mynet > /dev/null
	/usr/bin/python3 tests/torch_interop.py $(BUILD)

clean:
	rm -rf $(BUILD)

# ---- nn.h on a microcontroller (examples/mcu; Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi
# qemu-system-arm). The desktop trains examples/mnist_mlp (784-32-10, 2 epochs) and saves it;
# export_model writes its weights and 200 test images as C arrays; the firmware, built for a
# Cortex-M4 with no heap (the link fails if anything needs malloc: there is no heap end symbol)
# and no stdio, runs under QEMU's mps2-an386 and must give the desktop's accuracy. Also built
# without the on-device training (FW_INFERENCE_ONLY) to show its size.
MCU_CC    := arm-none-eabi-gcc
MCU_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -ffunction-sections -fdata-sections \
             -std=c99 -Wall -Wextra -Werror -nostartfiles -T examples/mcu/mps2_an386.ld -Wl,--gc-sections --specs=nosys.specs
MCU_SRC   := examples/mcu/firmware.c examples/mcu/startup.c
MCU_DEPS  := $(MCU_SRC) examples/mcu/semihost.h examples/mcu/mlp.h examples/mcu/mps2_an386.ld nn.h $(BUILD)/mcu/model_data.h
QEMU_MCU  := timeout 600 qemu-system-arm -M mps2-an386 -nographic -semihosting -icount shift=0 -kernel

$(BUILD)/mcu/mlp.safetensors: $(BUILD)/mnist_mlp
	@mkdir -p $(BUILD)/mcu
	./$(BUILD)/mnist_mlp --hidden 32 --epochs 2 --save $@ > $(BUILD)/mcu/train.log 2>&1 || { cat $(BUILD)/mcu/train.log; exit 1; }
	@grep "Test accuracy" $(BUILD)/mcu/train.log

$(BUILD)/mcu/export_model: examples/mcu/export_model.c examples/mcu/mlp.h examples/args.h nn.h | $(BUILD)
	@mkdir -p $(BUILD)/mcu
	$(CC) $(WARN) -O2 $(STB) -o $@ examples/mcu/export_model.c $(LDLIBS)

$(BUILD)/mcu/model_data.h: $(BUILD)/mcu/export_model $(BUILD)/mcu/mlp.safetensors
	./$(BUILD)/mcu/export_model --model $(BUILD)/mcu/mlp.safetensors --hidden 32 --images 200 --out $@

$(BUILD)/mcu/firmware.elf: $(MCU_DEPS)
	$(MCU_CC) $(MCU_FLAGS) -I$(BUILD)/mcu -o $@ $(MCU_SRC) -lm

$(BUILD)/mcu/firmware_infer.elf: $(MCU_DEPS)
	$(MCU_CC) $(MCU_FLAGS) -DFW_INFERENCE_ONLY -I$(BUILD)/mcu -o $@ $(MCU_SRC) -lm

mcu: $(BUILD)/mcu/firmware.elf $(BUILD)/mcu/firmware_infer.elf
	@if arm-none-eabi-nm $(BUILD)/mcu/firmware.elf | grep -qwE '_?malloc|_sbrk|printf|fopen'; then echo "mcu: the firmware links malloc or stdio"; exit 1; fi
	@echo "== sizes (text: code and constants in flash; data + bss: RAM, of which nn.h's buffer is 1 MiB)"
	@arm-none-eabi-size $(BUILD)/mcu/firmware.elf $(BUILD)/mcu/firmware_infer.elf
	@echo "== of the text, the weights and images compiled in: $$(arm-none-eabi-nm -S -t d $(BUILD)/mcu/firmware.elf | awk '$$4 ~ /^(w_|test_|desktop_)/ { s += $$2 } END { print s + 0 }') bytes"
	$(QEMU_MCU) $(BUILD)/mcu/firmware.elf 2>&1 | tee $(BUILD)/mcu/run.log
	@grep -q "^RESULT: ok" $(BUILD)/mcu/run.log || { echo "mcu: the firmware did not finish with RESULT: ok"; exit 1; }
	$(QEMU_MCU) $(BUILD)/mcu/firmware_infer.elf 2>&1 | tee $(BUILD)/mcu/run_infer.log
	@grep -q "^RESULT: ok" $(BUILD)/mcu/run_infer.log || { echo "mcu: the inference-only firmware did not finish with RESULT: ok"; exit 1; }

# nn_cuda.h (see the notes at the end of nn_cuda.h). One parity suite, tests/test_cuda.c, two builds.
# test-cuda-emu: built by the host C compiler with NN_CUDA_EMULATE (blockIdx/threadIdx emulated by
# loops), the kernels run on the CPU against the CPU kernels and the op fixtures; no GPU needed.
$(BUILD)/test_cuda_emu: tests/test_cuda.c tests/test_ops.c tests/harness.h nn.h nn_cuda.h | $(BUILD)
	$(CC) $(WARN) -Wno-unused-function $(CFLAGS) -o $@ tests/test_cuda.c $(LDLIBS)
test-cuda-emu: $(BUILD)/test_cuda_emu
	./$(BUILD)/test_cuda_emu

# test-cuda: the same suite compiled and linked by nvcc as CUDA C++ (-x cu), the kernels on the GPU.
# With no GPU present it checks the no-GPU errors, says plainly what it skipped, and exits 0.
# cuda-build (CI): that build, the example built by nvcc, and the suite run (on CI: skipped, no GPU).
NVCC ?= /usr/local/cuda/bin/nvcc
# sm_90 (H100, H200) as machine code, and PTX for newer GPUs
NVCC_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
$(BUILD)/test_cuda: tests/test_cuda.c tests/test_ops.c tests/harness.h nn.h nn_cuda.h | $(BUILD)
	$(NVCC) -O2 $(NVCC_ARCH) -x cu -Xcompiler -Wall,-Wextra,-Wno-unused-function -o $@ tests/test_cuda.c -lcublas
# On a GPU it then runs the example's MY_NET training on both devices (cuda_example_check below).
test-cuda: $(BUILD)/test_cuda $(BUILD)/mnist_cnn_cuda
	@./$(BUILD)/test_cuda > $(BUILD)/test_cuda.log 2>&1; rc=$$?; cat $(BUILD)/test_cuda.log; exit $$rc
	@if grep -q 'SKIPPED: no GPU' $(BUILD)/test_cuda.log; then echo "test-cuda: MY_NET on the GPU SKIPPED: no GPU"; \
	 else $(call cuda_example_check,mnist_cnn_cuda,CUDA on the GPU); fi
# and the example, compiled and linked by nvcc as CUDA C++ (it runs only where a GPU is)
$(BUILD)/mnist_cnn_cuda: examples/mnist_cnn.c examples/args.h nn.h nn_cuda.h | $(BUILD)
	$(NVCC) -O2 $(NVCC_ARCH) -x cu -DNN_CUDA $(STB) -Xcompiler -Wall,-Wextra -o $@ examples/mnist_cnn.c -lcublas
# bench/gpu.sh's nn.h half: bench/train.c as CUDA C++ (train ... cuda runs only where a GPU is)
$(BUILD)/bench/train_cuda: bench/train.c nn.h nn_cuda.h | $(BUILD)
	@mkdir -p $(BUILD)/bench
	$(NVCC) -O2 $(NVCC_ARCH) -x cu -DNN_CUDA -Xcompiler -Wall,-Wextra -o $@ bench/train.c -lcublas
cuda-build: $(BUILD)/bench/train_cuda test-cuda

# test-cuda-example: mnist_cnn --device cuda with the kernels emulated on the CPU (the CUDA code path
# of the training loop: module moved, batches moved, predictions copied back), against --device cpu
$(BUILD)/mnist_cnn_emu: examples/mnist_cnn.c examples/args.h nn.h nn_cuda.h | $(BUILD)
	$(CC) $(WARN) -Wno-unused-function -O2 -DNN_CUDA -DNN_CUDA_EMULATE $(STB) -o $@ examples/mnist_cnn.c $(LDLIBS)
# cuda_example_check(binary, label): the binary's MY_NET training with --device cuda and --device cpu
# (same seed, same data), the epoch's loss and the test loss within 2e-4 of each other; then the
# checkpoint the GPU run saved, resumed on the CPU: its test loss within 2e-4 of the GPU run's
cuda_example_check = cd $(BUILD) && rm -f cuda_example_ck.safetensors && \
	{ ./$(1) --device cuda --data $(CURDIR)/data/fashion-mnist-sample --epochs 1 --limit 256 --test-limit 128 \
	  --save-checkpoint cuda_example_ck.safetensors > cuda_example.log 2>&1 || { cat cuda_example.log; exit 1; }; } && \
	{ ./$(1) --device cpu --data $(CURDIR)/data/fashion-mnist-sample --epochs 1 --limit 256 --test-limit 128 \
	  --resume cuda_example_ck.safetensors > resume_example.log 2>&1 || { cat resume_example.log; exit 1; }; } && \
	{ ./$(1) --device cpu --data $(CURDIR)/data/fashion-mnist-sample --epochs 1 --limit 256 --test-limit 128 \
	  > cpu_example.log 2>&1 || { cat cpu_example.log; exit 1; }; } && \
	grep -E '^(MY_NET|\[Epoch|Test loss|Test accuracy)' cuda_example.log && \
	grep -E '^(MY_NET|\[Epoch|Test loss|Test accuracy)' cpu_example.log && \
	python3 -c "import re,sys; f=lambda p: [float(v) for v in re.findall(r'(?:loss = |Test loss: )([0-9.]+)', open(p).read())]; \
	  g, c, r = f('cuda_example.log'), f('cpu_example.log'), f('resume_example.log'); \
	  ok = len(g) == 2 and len(c) == 2 and all(abs(a - b) <= 2e-4 * max(1.0, abs(b)) for a, b in zip(g, c)); \
	  print('MY_NET ($(2)):', g, 'CPU', c, 'ok' if ok else 'DIFFER'); \
	  okr = len(r) == 1 and len(g) == 2 and abs(r[0] - g[1]) <= 2e-4 * max(1.0, abs(g[1])); \
	  print('MY_NET: the checkpoint of the cuda run, resumed on the CPU: test loss', r, 'ok' if okr else 'DIFFER'); sys.exit(0 if ok and okr else 1)"
test-cuda-example: $(BUILD)/mnist_cnn_emu
	@$(call cuda_example_check,mnist_cnn_emu,emulated CUDA)
