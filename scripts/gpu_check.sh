#!/usr/bin/env bash
# The pruning sweep on NVIDIA GPUs, in under 10 minutes:
#   1. a short CUDA sweep (dense + 2 pruning steps) of torchvision ResNet-18 and ResNet-50 at
#      224 px on procedural data rendered on the GPU, bf16 autocast, channels_last;
#   2. the training throughput of every step (images per second), from metrics.csv;
#   3. step-0 logits on CUDA and on CPU agree (float32, within 1e-3 of the logit scale);
#   4. Integrated Gradients and LOST batched against the per-image loop (target >= 5x);
#   5. the data-parallel path (torchrun, NCCL, synchronised BatchNorm) on every GPU found
#      (one GPU: world size 1), with its training images/s;
#   6. training images/s of ResNet-50 fed from a JPEG folder, decoded by loader workers and by
#      nvJPEG on the GPU (bench/bench_input.py: loader alone, model alone, both).
# Target: at least 2500 training images/s for ResNet-50 at 224 px on one H100.
# Usage: bash scripts/gpu_check.sh [output folder]      (or: make gpu-check)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-outputs/gpu_check}"
PY=.venv/bin/python
TARGET_R50=2500

command -v nvidia-smi >/dev/null || { echo "gpu_check: nvidia-smi not found; this script needs an NVIDIA GPU" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
make install-pruning
$PY -c "import torch, sys; ok = torch.cuda.is_available(); print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'device', torch.cuda.get_device_name(0) if ok else None); sys.exit(0 if ok else 3)" \
  || { echo "gpu_check: torch sees no CUDA device (a CPU-only torch wheel?)" >&2; exit 3; }

status=0
for model in tv_resnet18 tv_resnet50; do
  run="$OUT/$model"
  rm -rf "$run"
  echo "== sweep: $model -> $run"
  start=$(date +%s)
  timeout 300 .venv/bin/robustlab-prune experiment=gpu_check model="$model" hydra.run.dir="$run"
  echo "   wall time $(( $(date +%s) - start )) s"
  $PY - "$run" "$model" "$TARGET_R50" <<'PYEOF'
import sys
import pandas as pd
run, model, target = sys.argv[1], sys.argv[2], float(sys.argv[3])
m = pd.read_csv(f"{run}/metrics.csv")
print(m[["step", "sparsity", "top1", "train_images", "train_seconds", "images_per_second"]].to_string(index=False))
best = m["images_per_second"].max()
print(f"   {model}: training throughput {best:.0f} images/s (best step), {m['images_per_second'].median():.0f} (median)")
if model == "tv_resnet50":
    print(f"   target >= {target:.0f} images/s for ResNet-50: {'PASS' if best >= target else 'BELOW TARGET'}")
PYEOF
  echo "== logits CUDA vs CPU: $model"
  $PY -m robustlab.pruning.devicecheck "$run" --images 32 --rtol 1e-3 || status=1
done
echo "== attributions and object discovery, batched vs per-image loop, ResNet-50 at 224 px (target >= 5x)"
timeout 240 $PY bench/bench_interpret.py --device cuda --model resnet50 --img-size 224 --min-speedup 5 || status=1
NGPU=$(nvidia-smi -L | wc -l)
run="$OUT/ddp_tv_resnet50"
rm -rf "$run"
echo "== data-parallel sweep on $NGPU GPU(s): torchrun, NCCL, train.sync_batchnorm=true -> $run"
timeout 300 .venv/bin/torchrun --standalone --nproc_per_node="$NGPU" .venv/bin/robustlab-prune \
  experiment=gpu_check model=tv_resnet50 train.sync_batchnorm=true hydra.run.dir="$run" || status=1
if [ -f "$run/metrics.csv" ]; then
  $PY - "$run" "$NGPU" <<'PYEOF'
import sys
import pandas as pd
m = pd.read_csv(f"{sys.argv[1]}/metrics.csv")
print(m[["step", "sparsity", "top1", "train_loss", "images_per_second"]].to_string(index=False))
print(f"   data-parallel on {sys.argv[2]} GPU(s): {m['images_per_second'].max():.0f} training images/s (best step)")
PYEOF
fi
echo "== training from JPEGs: decoded by loader workers vs on the GPU (ResNet-50, 224 px, batch 256)"
timeout 300 $PY bench/bench_input.py --device cuda --model resnet50 --img-size 224 --images 3072 --batch 256 \
  --batches 8 --workers 8 --threads 4 || status=1
if [ "$status" -ne 0 ]; then echo "gpu_check: FAILED (see above)"; else echo "gpu_check: OK"; fi
exit "$status"
