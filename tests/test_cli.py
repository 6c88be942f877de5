"""The `mirror-hf` command: help, the embedded sample end to end, preview, info; and load_mirror."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset
from PIL import Image
from release_writer import DIALOGUES, idx_of

from mirror_hf import load_mirror
from mirror_hf.cli import main
from mirror_hf.data.builder import MirrorBuilder

ROOT = Path(__file__).resolve().parents[1]


def test_help_reads_well():
    result = subprocess.run([sys.executable, "-m", "mirror_hf", "--help"], capture_output=True, text=True, check=True)
    for command in ("build", "preview", "export", "info"):
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M)
    build_help = subprocess.run(
        [sys.executable, "-m", "mirror_hf", "build", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--release", "--sample", "--celeba-dir", "--turn-images", "--cactus", "--out", "--on-error"):
        assert flag in build_help
    assert "examples:" in build_help


def test_sample_build_and_preview(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--sample", "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert re.search(r"dialogues\s+train\s+5 rows", summary)
    ds = load_dataset("mirror", split="train")
    labels = ds.features["resistance"].names
    assert {labels[r] for r in ds["resistance"]} == {"emotional", "cognitive", "behavioral", "none"}
    faces = [t["image"] for row in ds for t in row["turns"] if t["speaker"] == "client"]
    assert faces and all(isinstance(f, Image.Image) and f.size == (336, 336) for f in faces)
    assert load_dataset("mirror", "eval_profiles", split="test").num_rows == 4
    assert set(load_dataset("mirror", "sft_planning", split="train")["image_source"]) == {"turn"}

    assert main(["preview", "mirror", "--index", "1"]) == 0
    page = (tmp_path / "mirror-preview.html").read_text()
    row = ds[1]
    assert row["idx"] in page
    for turn in row["turns"]:
        assert turn["statement"].replace("'", "&#39;").replace('"', "&#34;") in page
        if turn["stage_direction"]:
            assert f"[{turn['stage_direction']}]" in page
    n_client = sum(t["speaker"] == "client" for t in row["turns"])
    assert page.count('src="data:image/png;base64,') == n_client
    assert page.count('src="data:image/jpeg;base64,') == 1  # the identity face


def test_preview_errors(tmp_path, capsys):
    assert main(["preview", str(tmp_path / "missing")]) == 2
    assert "build it first" in capsys.readouterr().err


def test_info_lists_versions_and_caches(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "datasets" in out and "mirror-hf" in out and "caches:" in out


def test_builder_directly_and_through_load_mirror(release_dir, celeba_dir, tmp_path):
    builder = MirrorBuilder(
        config_name="sft_planning",
        release=str(release_dir),
        celeba_dir=str(celeba_dir),
        cache_dir=str(tmp_path / "cache"),
    )
    builder.download_and_prepare()
    direct = builder.as_dataset(split="train")
    assert direct[0]["id"] == f"{idx_of(DIALOGUES[0])}:2:response"

    ds = load_mirror(
        "dialogues", release=release_dir, celeba_dir=celeba_dir, split="train", cache_dir=str(tmp_path / "cache")
    )
    assert ds["idx"] == [idx_of(d) for d in DIALOGUES]
    assert isinstance(ds[0]["identity_image"], Image.Image)
    with pytest.raises(ValueError, match="config must be one of"):
        load_mirror("nope", release=release_dir)


def test_readme_quickstart_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quickstart.*?```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert "mirror-hf build --sample" in commands[0] and "mirror-hf preview" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci
