#!/usr/bin/env bash
# The GPU checks in one command, for a lent GPU machine: the recipe under each accelerate config
# (tests/test_recipe_gpu.py, ~4.5 min on one H100), the MFU sweep of the 7B architecture (~4.5 min), the 7B
# architecture with the recipe's fastest settings (~2 min); and, named alone (issue #20): `padding-free` (the fastest
# settings with length-grouped padded batches, then padding-free ones, side by side) and `synthesis` (turn faces per
# GPU-hour, each variant of benchmarks/synthesis_throughput.py on the same seeds). More than one passes the 10
# minutes a lent machine gives one command: name one. Logs and results go to OUT_DIR.
#   bash benchmarks/gpu_check.sh OUT_DIR [tests|sweep|fastest|all|padding-free|synthesis]     (default: all)
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
[[ $what == tests || $what == all ]] && timeout "${TESTS_TIMEOUT:-300}" python3 -m pytest -q -rs -p no:cacheprovider tests/test_recipe_gpu.py ${PYTEST_ARGS:-} 2>&1 | tee "$out/recipe_gpu_tests.log"
[[ $what == sweep || $what == all ]] && timeout "${SWEEP_TIMEOUT:-540}" python3 benchmarks/train_throughput.py --gpu --sweep --batch-sizes 8,16 --profile \
    --out "$out/train_throughput_sweep.json" 2>&1 | grep -v -e FutureWarning -e "warnings.warn" -e "^W[0-9]\{4\} " | tee "$out/train_throughput_sweep.log"
[[ $what == fastest || $what == all ]] && timeout "${FASTEST_TIMEOUT:-300}" python3 benchmarks/train_throughput.py --gpu \
    --no-checkpointing --causal-only --lora-dropout 0 --liger --compile --warm --batch-sizes 6,8 --baseline-batch-sizes= \
    --out "$out/train_throughput_fastest.json" 2>&1 | grep -v -e FutureWarning -e "warnings.warn" -e "^W[0-9]\{4\} " \
    | tee "$out/train_throughput_fastest.log"
quiet=(-e FutureWarning -e "warnings.warn" -e "^W[0-9]\{4\} ")
if [[ $what == padding-free ]]; then
    fast=(--gpu --no-checkpointing --lora-dropout 0 --liger --compile --warm --batch-sizes 8 --baseline-batch-sizes=)
    timeout "${PADDED_TIMEOUT:-240}" python3 benchmarks/train_throughput.py "${fast[@]}" --causal-only \
        --out "$out/train_throughput_padded.json" 2>&1 | grep -v "${quiet[@]}" | tee "$out/train_throughput_padded.log"
    timeout "${PADDING_FREE_TIMEOUT:-240}" python3 benchmarks/train_throughput.py "${fast[@]}" --padding-free \
        --out "$out/train_throughput_padding_free.json" 2>&1 | grep -v "${quiet[@]}" \
        | tee "$out/train_throughput_padding_free.log"
fi
[[ $what == synthesis ]] && timeout "${SYNTHESIS_TIMEOUT:-540}" python3 benchmarks/synthesis_throughput.py --faces 4 \
    --checks ${SYNTHESIS_ARGS:-} 2>&1 | grep -v "${quiet[@]}" | tee "$out/synthesis_throughput.log"
true
