import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Offline everywhere, and caches inside the test run (set before datasets/huggingface_hub are imported).
_RUN_CACHE = Path(os.environ.get("PYTEST_MIRROR_CACHE", "/tmp")) / f"mirror-hf-tests-{os.getpid()}"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(_RUN_CACHE / "hf")
os.environ["MIRROR_HF_CACHE"] = str(_RUN_CACHE / "mirror_hf")
os.environ["MIRROR_HF_GITHUB_RAW"] = "http://127.0.0.1:9"  # never GitHub: tests write the authors' files themselves
os.environ.pop("MIRROR_HF_UPSTREAM", None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

from release_writer import DIALOGUES, PROFILES, write_release  # noqa: E402

from mirror_hf.data.sample import make_celeba_standin  # noqa: E402


@pytest.fixture(scope="session")
def celeba_dir(tmp_path_factory) -> Path:
    """A CelebA-format folder with 16 drawn faces (identities 1..8, two images each)."""
    return make_celeba_standin(tmp_path_factory.mktemp("celeba"))


@pytest.fixture
def release_dir(tmp_path) -> Path:
    """A release folder in the authors' code-produced format, with dialogues written for the tests."""
    return write_release(tmp_path / "release", DIALOGUES, PROFILES)


@pytest.fixture
def server_factory():
    """Loopback OpenAI-compatible servers (tests/loopback.py), closed after the test."""
    from loopback import ScriptedServer

    servers = []

    def make(*args, **kwargs):
        servers.append(ScriptedServer(*args, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def upstream(tmp_path_factory):
    """A stand-in for the authors' repository, written for the tests, and an Upstream that reads it (digest-checked)."""
    from upstream_writer import write_upstream

    return write_upstream(tmp_path_factory.mktemp("upstream"))


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    from tiny_models import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def transformers_serve(tiny_lm):
    """`transformers serve` on the tiny LM, on a free loopback port."""
    import urllib.request

    from helpers import free_port

    port = free_port()
    cli = Path(sys.executable).parent / "transformers"
    proc = subprocess.Popen(
        [str(cli), "serve", str(tiny_lm), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("transformers serve exited: " + proc.stdout.read()[-2000:]) from None
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("transformers serve did not come up in 120 s")
    yield f"{tiny_lm}@http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def dialogues(tmp_path_factory):
    """The sample built by `mirror-hf build --sample`: its folder and its dialogues without faces."""
    from datasets import load_dataset

    from mirror_hf.cli import main

    out = tmp_path_factory.mktemp("build") / "mirror"
    assert main(["build", "--sample", "--out", str(out), "--quiet"]) == 0
    return out, [
        {**d, "turns": [{k: v for k, v in t.items() if k != "image"} for t in d["turns"]]}
        for d in load_dataset(str(out), "dialogues", split="train")
    ]


@pytest.fixture(scope="session")
def tiny_photomaker(tmp_path_factory):
    from tiny_models import build_tiny_photomaker

    return build_tiny_photomaker(tmp_path_factory.mktemp("tiny-photomaker"))


@pytest.fixture
def tiny_encoder(monkeypatch):
    """PhotoMaker's loader builds its ID encoder at CLIP ViT-L/14 size: build the tiny one instead (the only
    stand-in; the pipeline, the adapter loading and the sampling are the package's own)."""
    import photomaker.pipeline
    from tiny_models import tiny_photomaker_encoder

    monkeypatch.setattr(photomaker.pipeline, "PhotoMakerIDEncoder", tiny_photomaker_encoder())


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory):
    """The packaged sample built by `mirror-hf build` (all configs), with its turn images."""
    from helpers import build_cli

    from mirror_hf.data.sample import prepare_sample

    tmp = tmp_path_factory.mktemp("sample")
    sources = prepare_sample(tmp / "inputs")
    out = tmp / "mirror"
    assert build_cli(sources.release, out, "--turn-images", sources.turn_images, celeba=sources.celeba_dir) == 0
    return out
