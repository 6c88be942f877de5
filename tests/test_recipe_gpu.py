"""recipes/sft_llava.py on a CUDA GPU under each of recipes/accelerate_configs (one process): a tiny LLaVA in bf16
with tf32 and activation checkpointing, as the 7B YAMLs set them. The development machines and CI have no GPU, so
these are skipped there; on a GPU machine: `pytest tests/test_recipe_gpu.py` (about 4.5 minutes on one H100)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import tiny_recipe
from safetensors.torch import load_file

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ROOT = Path(__file__).resolve().parents[1]
GPU_SETTINGS = {"dtype": "bfloat16", "bf16": True, "tf32": True, "activation_checkpointing": True}


def launch_on_gpu(accelerate_config: str, recipe: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    cmd += [str(ROOT / "recipes" / "accelerate_configs" / accelerate_config), "--num_processes", "1"]
    cmd += [str(ROOT / "recipes" / "sft_llava.py"), "--config", str(recipe), *extra]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def losses(run: Path) -> list[float]:
    history = json.loads((run / "trainer_state.json").read_text())["log_history"]
    return [h["loss"] for h in history if "loss" in h]


def trained_adapter(run: Path) -> dict:
    adapter = load_file(run / "adapter_model.safetensors")
    assert all(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)  # trained (B starts at zero)
    return {k: tuple(v.shape) for k, v in adapter.items()}


@pytest.fixture(scope="module")
def single_gpu_run(tmp_path_factory, tiny_llava, sample_dataset):
    """single_gpu.yaml: 10 steps, then a relaunch that resumes to 20."""
    tmp = tmp_path_factory.mktemp("gpu")
    recipe = tiny_recipe(tmp, tiny_llava, sample_dataset, **GPU_SETTINGS, max_steps=20, save_steps=10)
    first = launch_on_gpu("single_gpu.yaml", recipe, "--max_steps", "10")
    second = launch_on_gpu("single_gpu.yaml", recipe)
    return tmp / "run", first, second


def test_single_gpu_bf16_trains_resumes_and_saves(single_gpu_run):
    run, first, second = single_gpu_run
    assert "pre-flight: 4 rows OK" in first.stderr
    assert f"Resuming from {run / 'checkpoint-10'}" in second.stdout
    loss = losses(run)
    assert len(loss) == 20 and all(x == x for x in loss)  # every step logged, none NaN
    assert sum(loss[-3:]) < sum(loss[:3])  # it learns the 4 rows
    assert any("lora_B" in name for name in trained_adapter(run))


def test_fsdp2_trains_saves_the_whole_adapter_and_resumes(tmp_path, single_gpu_run, tiny_llava, sample_dataset):
    recipe = tiny_recipe(tmp_path, tiny_llava, sample_dataset, **GPU_SETTINGS, max_steps=12, save_steps=10)
    launch_on_gpu("fsdp.yaml", recipe, "--max_steps", "10")
    second = launch_on_gpu("fsdp.yaml", recipe)
    run = tmp_path / "run"
    assert f"Resuming from {run / 'checkpoint-10'}" in second.stdout
    assert len(losses(run)) == 12
    assert trained_adapter(run) == trained_adapter(single_gpu_run[0])  # gathered whole, same names and shapes


def test_zero3_trains_and_saves_the_whole_adapter(tmp_path, single_gpu_run, tiny_llava, sample_dataset):
    recipe = tiny_recipe(tmp_path, tiny_llava, sample_dataset, **GPU_SETTINGS, max_steps=10, save_steps=10)
    launch_on_gpu("zero3.yaml", recipe)
    run = tmp_path / "run"
    assert len(losses(run)) == 10 and sum(losses(run)[-3:]) < sum(losses(run)[:3])
    assert trained_adapter(run) == trained_adapter(single_gpu_run[0])


def test_liger_kernels_train(tmp_path, tiny_llava, sample_dataset):
    pytest.importorskip("liger_kernel")
    recipe = tiny_recipe(tmp_path, tiny_llava, sample_dataset, **GPU_SETTINGS, max_steps=10, use_liger_kernel=True)
    launch_on_gpu("single_gpu.yaml", recipe)
    loss = losses(tmp_path / "run")
    assert len(loss) == 10 and sum(loss[-3:]) < sum(loss[:3])


def test_the_padding_mask_changes_nothing_the_default_causal_only_run_learns(
    tmp_path, single_gpu_run, tiny_llava, sample_dataset
):
    """`causal_only_attention: false` (the padding mask kept) on CUDA's attention kernels: the first step's loss (same
    data, same weights) is the default causal-only run's up to bf16 kernel differences, and it learns as well."""
    recipe = tiny_recipe(
        tmp_path, tiny_llava, sample_dataset, **GPU_SETTINGS, max_steps=10, save_steps=10, causal_only_attention=False
    )
    launch_on_gpu("single_gpu.yaml", recipe)
    masked, loss = losses(tmp_path / "run"), losses(single_gpu_run[0])[:10]
    assert len(masked) == 10 and masked[0] == pytest.approx(loss[0], rel=1e-2)
    assert sum(masked[-3:]) < sum(masked[:3])


def test_the_fastest_settings_train_as_the_default(tmp_path, single_gpu_run, tiny_llava, sample_dataset):
    """What runs fastest on an H100 (recipes/README.md): decoder layers compiled by Inductor's Triton kernels, Liger's
    kernels, no activation checkpointing. The first step's loss is the default run's up to bf16 kernel differences,
    and it learns as well."""
    pytest.importorskip("liger_kernel")
    settings = {**GPU_SETTINGS, "activation_checkpointing": False}
    recipe = tiny_recipe(
        tmp_path, tiny_llava, sample_dataset, **settings, max_steps=10, save_steps=10, compile_decoder_layers=True,
        use_liger_kernel=True,
    )  # fmt: skip
    launch_on_gpu("single_gpu.yaml", recipe)
    fast, default = losses(tmp_path / "run"), losses(single_gpu_run[0])[:10]
    assert len(fast) == 10 and fast[0] == pytest.approx(default[0], rel=1e-2)
    assert sum(fast[-3:]) < sum(fast[:3])
