#!/usr/bin/env bash
# Fashion-MNIST test accuracy, nn.h next to PyTorch: same model, same
# hyperparameters, same data pipeline, same number of epochs, one thread each.
# Usage: bash bench/accuracy.sh [EPOCHS_MLP] [EPOCHS_CNN]   (defaults 5 5)
# Needs Debian's dataset-fashion-mnist, libstb-dev and python3-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
em=${1:-5}; ec=${2:-5}
make -s build/mnist_mlp build/mnist_cnn
out=build/bench; mkdir -p $out
run() {  # name cmd...
  local name=$1; shift
  local t0=$(date +%s)
  "$@" > $out/$name.log 2>/dev/null
  echo $(( $(date +%s) - t0 )) > $out/$name.secs
}
run nn_mlp ./build/mnist_mlp --epochs $em
run torch_mlp /usr/bin/python3 bench/torch_mnist.py mlp $em
run nn_cnn ./build/mnist_cnn --epochs $ec
run torch_cnn /usr/bin/python3 bench/torch_mnist.py cnn $ec
acc() { grep -o 'Test accuracy: [0-9.]*' $out/$1.log | grep -o '[0-9.]*$'; }
printf '%-22s %8s %10s %8s %10s %12s %12s\n' model epochs "nn.h acc" "torch acc" "diff (pt)" "nn.h time s" "torch time s"
for m in mlp cnn; do
  e=$em; name="MLP 784-256-10"; [ $m = cnn ] && { e=$ec; name="MY_NET 28x28x1"; }
  a=$(acc nn_$m); b=$(acc torch_$m)
  printf '%-22s %8s %9s%% %7s%% %10s %12s %12s\n' "$name" $e $a $b $(python3 -c "print('%+.2f' % ($a - $b))") $(cat $out/nn_$m.secs) $(cat $out/torch_$m.secs)
done
