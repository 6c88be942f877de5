"""What several tests do the same way."""

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import yaml

from mirror_hf.cli import main


def build_cli(release, out, *extra: str, celeba=None) -> int:
    """Run `mirror-hf build --release RELEASE [--celeba-dir CELEBA] --out OUT --quiet EXTRA...`; its exit code."""
    celeba_args = ["--celeba-dir", str(celeba)] if celeba else []
    return main(["build", "--release", str(release), *celeba_args, "--out", str(out), "--quiet", *extra])


def tiny_recipe(tmp, model, dataset, **overrides) -> Path:
    """The tests' recipe YAML (written to ``tmp/tiny.yaml``): a tiny LLaVA on 4 sample rows, in float32, with a
    learning rate that overfits them in 30 steps; ``overrides`` replace any field."""
    config = {
        "model_name_or_path": str(model),
        "dtype": "float32",
        "use_peft": True,
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "dataset_name": str(dataset),
        "dataset_config": "sft_base",
        "dataset_train_split": "train[:4]",
        "learning_rate": 3.0e-2,
        "projector_lr": 1.0e-3,
        "lr_scheduler_type": "constant",
        "max_steps": 30,
        "per_device_train_batch_size": 2,
        "max_length": 2048,
        "bf16": False,
        "train_sampling_strategy": "group_by_length",
        "output_dir": str(tmp / "run"),
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": 6,
        "report_to": "none",
        "seed": 0,
        "dataloader_num_workers": 0,
        "conversation_format": "processor",  # the tiny processor's own template (llava_v1: test_conversation.py)
        **overrides,
    }
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    """A TCP port nobody listens on now, on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    """Until ``url`` answers; an error with the output of ``process`` (started with stdout piped) if it exits
    first, or with the URL if it does not answer in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stdout.read()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds} s")
