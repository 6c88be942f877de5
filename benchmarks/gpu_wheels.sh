#!/usr/bin/env bash
# Wheels for a GPU machine that has Python 3.12 + torch + accelerate but no network and no TRL, datasets, DeepSpeed
# or Liger (the machines lent to development sessions): run here, carry the folder, install there with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site WHEELS/*.whl && export PYTHONPATH=/tmp/site
# then `bash benchmarks/gpu_check.sh OUT`. Versions: the ones the development environment tests with.
#   bash benchmarks/gpu_wheels.sh [WHEELS]      (default .whl/, ~35 MB)
set -euo pipefail
dir=${1:-.whl}
mkdir -p "$dir"
platform=(--python-version 3.12 --implementation cp --only-binary=:all: --no-deps
          --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q "${platform[@]}" -d "$dir" \
    trl==1.16.0 datasets==5.2.0 transformers==5.24.0 peft==0.21.2 liger-kernel==0.8.5 \
    dill==0.4.1 multiprocess==0.70.19 fsspec==2026.9.0 regex==2026.11.19 typing_extensions==4.16.0 \
    hjson==3.1.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
    diffusers==0.42.1 photomakerv==0.1.0 open_clip_torch==3.3.0 timm==1.0.31 ftfy==6.3.1 wcwidth \
    importlib_metadata zipp requests urllib3 idna charset-normalizer certifi
# DeepSpeed ships as a source archive only; its wheel is pure Python.
python3 -m pip wheel -q --no-deps --no-build-isolation -w "$dir" deepspeed==0.19.8 2>/dev/null \
    || python3 -m pip wheel -q --no-deps -w "$dir" deepspeed==0.19.8
du -sh "$dir"
