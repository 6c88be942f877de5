#!/usr/bin/env bash
# The GPU checks of the training recipe in one command, for a lent GPU machine: the recipe under each accelerate
# config (tests/test_recipe_gpu.py, ~3 min on one H100), then the MFU sweep of the 7B architecture (~7 min).
# Both together pass the 10 minutes a lent machine gives one command: name one. Logs and results go to OUT_DIR.
#   bash benchmarks/gpu_check.sh OUT_DIR [tests|sweep|all]     (default: all)
set -uo pipefail
out=${1:-gpu-check}
what=${2:-all}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$(pwd)"
python3 - <<'PY' 2>&1 | tee "$out/versions.txt"
from importlib.metadata import PackageNotFoundError, version

import torch

def have(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"

names = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "deepspeed", "liger-kernel")
print(torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU", *(f"{name} {have(name)}" for name in names))
PY
[[ $what == sweep ]] || timeout "${TESTS_TIMEOUT:-230}" python3 -m pytest -q -rs -p no:cacheprovider tests/test_recipe_gpu.py ${PYTEST_ARGS:-} 2>&1 | tee "$out/recipe_gpu_tests.log"
[[ $what == tests ]] || timeout "${SWEEP_TIMEOUT:-540}" python3 benchmarks/train_throughput.py --gpu --sweep --batch-sizes 8,16 --profile \
    --out "$out/train_throughput_sweep.json" 2>&1 | grep -v -e FutureWarning -e "warnings.warn" | tee "$out/train_throughput_sweep.log"
