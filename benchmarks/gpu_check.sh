#!/usr/bin/env bash
# The GPU speed check, for a machine with an NVIDIA GPU (about 8 minutes on an H100 before its last two
# commands were added):
# eqv2 against the reference (when fairchem-core 1.10.0 imports there) on CUDA, in float32 and with
# bf16 autocast, inference and training, plus bitwise determinism; the ceiling of an exact implementation
# and the demo-sized training step; eqv2's per-edge kernels against their alternatives (kernel_choices).
# Markdown goes to stdout and $OUT.
#
# Packages the GPU machine lacks travel as wheels in .whl/ (ase, vesin; fairchem-core and its plain
# imports for the reference), installed into a temporary directory; torch_scatter/torch_sparse are
# the stand-ins in reference/standins.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/gpu_out}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  SITE=$(mktemp -d)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
  export PYTHONPATH="$SITE"
fi
export PYTHONPATH="$PWD:$PWD/reference/standins:${PYTHONPATH:-}"
export PYTHONUNBUFFERED=1
export CUBLAS_WORKSPACE_CONFIG=:4096:8  # needed by torch.use_deterministic_algorithms on CUDA
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
python3 -W ignore -m benchmarks.speed --device cuda --sections inference,training,flops,determinism --repeats 5 \
  | tee "$OUT/gpu_fp32.md"
python3 -W ignore -m benchmarks.speed --device cuda --precision bf16 --sections inference,training --repeats 5 \
  | tee "$OUT/gpu_bf16.md"
python3 -W ignore -m benchmarks.speed --device cuda --sections ceiling,demo_training --repeats 5 \
  | tee "$OUT/gpu_ceiling.md"
python3 -W ignore -m benchmarks.kernel_choices --device cuda | tee "$OUT/gpu_kernel_choices.md"
