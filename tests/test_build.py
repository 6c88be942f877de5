"""`mirror-hf build` from the authors' code-produced format + a CelebA folder, then `load_dataset` on the result."""

import json
import os
import shutil

import pytest
import yaml
from datasets import load_dataset
from helpers import build_cli
from PIL import Image
from release_writer import DIALOGUES, PROFILES, idx_of

from mirror_hf.data.sample import make_turn_faces

ALL = ["dialogues", "eval_profiles", "sft_base", "sft_planning", "sft_ec_planning"]


def build(release, celeba, out, *extra):
    return build_cli(release, out, *extra, celeba=celeba)


def release_dialogues(release_dir):
    """The dialogues of the test release as the reader sees them (any bad row raises)."""
    from mirror_hf.data.release import read_dialogues

    return [d for d, _ in read_dialogues(release_dir / "mirror_data.csv", lambda e: (_ for _ in ()).throw(e))]


def test_build_from_code_produced_format(release_dir, celeba_dir, tmp_path):
    out = tmp_path / "mirror"
    assert build(release_dir, celeba_dir, out) == 0

    ds = load_dataset(str(out), "dialogues", split="train")
    assert ds["idx"] == [idx_of(d) for d in DIALOGUES]
    labels = ds.features["resistance"].names
    assert [labels[r] for r in ds["resistance"]] == ["emotional", "cognitive", "behavioral", "none"]
    first = ds[0]
    expected = DIALOGUES[0]["turns"]
    assert [(t["speaker"], t["stage_direction"], t["statement"]) for t in first["turns"]] == [
        (s.lower(), d, text) for s, d, text in expected
    ]
    assert first["turns"][0]["stage_direction"] is None  # None kept, not "None"
    assert first["cactus_idx"] == 101 and first["celeba_image"] == "000003.jpg" and first["celeba_identity"] == 2
    assert first["gender"] == "woman" and first["age"] == 31
    assert first["thinking_traps"] == ["jumping to conclusions: mind reading", "personalization"]
    assert first["cbt_technique"] == "Alternative Perspective" and first["cbt_technique_source"] == "inferred"
    identity = first["identity_image"]
    assert isinstance(identity, Image.Image) and identity.size == (178, 218)
    with Image.open(celeba_dir / "img_align_celeba" / "000003.jpg") as original:
        assert list(identity.convert("RGB").getdata()) == list(original.convert("RGB").getdata())
    assert all(t["image"] is None for t in first["turns"])  # no turn faces were given

    profiles = load_dataset(str(out), "eval_profiles", split="test")
    assert profiles["idx"] == [idx_of(p) for p in PROFILES]
    assert profiles["name"] == [p["name"] for p in PROFILES]
    assert all(isinstance(im, Image.Image) for im in profiles["identity_image"])

    for config in ALL[2:]:
        sft = load_dataset(str(out), config, split="train")
        assert len(sft) > 0 and set(sft["image_source"]) == {"identity"}
        assert all(len(images) == 1 for images in sft["images"])


def test_turn_images_are_attached_to_client_turns(release_dir, celeba_dir, tmp_path):
    dialogues = release_dialogues(release_dir)
    for d in dialogues:
        d.celeba_identity, d.celeba_image = 2, "000003.jpg"
    faces = make_turn_faces(tmp_path / "faces", dialogues[:1])  # only the first dialogue has turn faces
    out = tmp_path / "mirror"
    assert build(release_dir, celeba_dir, out, "--turn-images", str(faces)) == 0
    ds = load_dataset(str(out), "dialogues", split="train")
    turns = ds[0]["turns"]
    assert [t["image"] is not None for t in turns] == [t["speaker"] == "client" for t in turns]
    assert turns[1]["image"].size == (336, 336)
    sft = load_dataset(str(out), "sft_base", split="train")
    sources = dict(zip(sft["id"], sft["image_source"], strict=True))
    assert sources[f"{idx_of(DIALOGUES[0])}:2:response"] == "turn"
    assert sources[f"{idx_of(DIALOGUES[1])}:2:response"] == "identity"
    report = json.loads((out / "build_report.json").read_text())
    assert report["inputs"]["client_turns_with_image"] == 4
    assert report["inputs"]["client_turns_without_image"] == 2 + 2 + 2


def test_hub_layout_loads_by_bare_name_and_absolute_path(release_dir, celeba_dir, tmp_path, monkeypatch):
    out = tmp_path / "mirror"
    assert build(release_dir, celeba_dir, out) == 0
    monkeypatch.chdir(tmp_path)
    default = load_dataset("mirror")
    assert list(default) == ["train"] and default["train"].num_rows == len(DIALOGUES)
    sft = load_dataset("mirror", "sft_ec_planning")
    assert isinstance(sft["train"][0]["images"][0], Image.Image)
    assert load_dataset(str(out.resolve()), "eval_profiles")["test"].num_rows == len(PROFILES)

    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "gpl-2.0"
    assert "image-text-to-text" in meta["task_categories"]
    assert meta["pretty_name"].startswith("MIRROR")
    assert [c["config_name"] for c in meta["configs"]] == ALL
    assert meta["configs"][0]["default"] is True
    assert {i["config_name"] for i in meta["dataset_info"]} == set(ALL)
    for needle in (
        "CelebA",
        "non-commercial",
        "not a replacement for professional psychological treatment",
        "@misc{kim2025mirror",
        "Intended use",
    ):
        assert needle in card

    report = json.loads((out / "build_report.json").read_text())
    assert report["configs"]["dialogues"]["rows"] == len(DIALOGUES)
    assert report["configs"]["sft_base"]["rows"] == 4 + 1 + 1 + 1  # therapist turns after a client turn
    assert report["skipped_rows"] == []


def test_unchanged_rebuild_reuses_its_output_and_a_change_rebuilds(release_dir, celeba_dir, tmp_path, capsys):
    out = tmp_path / "mirror"
    assert build(release_dir, celeba_dir, out) == 0
    shard = out / "data" / "dialogues" / "train-00000-of-00001.parquet"
    first_mtime = shard.stat().st_mtime_ns
    capsys.readouterr()
    assert build(release_dir, celeba_dir, out) == 0
    assert "cached, nothing to do" in capsys.readouterr().out
    assert shard.stat().st_mtime_ns == first_mtime

    csv_path = release_dir / "mirror_data.csv"
    lines = csv_path.read_text(encoding="utf-8")
    csv_path.write_text(
        lines.replace("Hello Nora, what brings you in?", "Hi Nora, what brings you in?"), encoding="utf-8"
    )
    assert build(release_dir, celeba_dir, out) == 0
    assert "cached" not in capsys.readouterr().out
    ds = load_dataset(str(out), "dialogues", split="train")
    assert ds[0]["turns"][0]["statement"] == "Hi Nora, what brings you in?"


def test_failed_build_keeps_the_previous_output(release_dir, celeba_dir, tmp_path, capsys):
    out = tmp_path / "mirror"
    assert build(release_dir, celeba_dir, out) == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    broken = tmp_path / "celeba-broken"
    shutil.copytree(celeba_dir, broken)
    os.remove(broken / "img_align_celeba" / "000006.jpg")
    assert build(release_dir, broken, out) == 2
    assert "000006.jpg" in capsys.readouterr().err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert load_dataset(str(out), "dialogues", split="train").num_rows == len(DIALOGUES)


def test_only_requested_configs_are_built(release_dir, celeba_dir, tmp_path):
    out = tmp_path / "mirror"
    assert build(release_dir, celeba_dir, out, "--configs", "dialogues,sft_planning") == 0
    assert sorted(p.name for p in (out / "data").iterdir()) == ["dialogues", "sft_planning"]
    with pytest.raises(ValueError):
        load_dataset(str(out), "sft_base")


def test_a_build_of_every_config_fingerprints_its_inputs_once(release_dir, celeba_dir, tmp_path, monkeypatch):
    """The fingerprint walks every turn face: one build computes it once, not once per config."""
    import mirror_hf.data.export
    import mirror_hf.data.sources

    dialogues = release_dialogues(release_dir)
    faces = make_turn_faces(tmp_path / "faces", dialogues)
    calls = []
    original = mirror_hf.data.sources.input_fingerprint

    def counted(sources):
        calls.append(sources)
        return original(sources)

    monkeypatch.setattr(mirror_hf.data.sources, "input_fingerprint", counted)
    monkeypatch.setattr(mirror_hf.data.export, "input_fingerprint", counted)
    assert build(release_dir, celeba_dir, tmp_path / "mirror", "--turn-images", str(faces)) == 0
    assert len(calls) == 1


def test_a_hub_release_is_downloaded_once_and_its_commit_recorded(release_dir, celeba_dir, tmp_path, monkeypatch):
    """A build reads the release twice (its fingerprint, then its rows): one download, and the commit it got is in
    the report and the card. huggingface_hub's snapshot_download is replaced by a copy into a folder named by a
    commit, as its cache names snapshots (the loopback Hub test in test_hub.py runs the real one)."""
    import huggingface_hub

    from mirror_hf.data.export import build_dataset
    from mirror_hf.data.release import _download_release
    from mirror_hf.data.sources import BuildSources

    calls = []

    def snapshot_download(repo_id, repo_type, revision, allow_patterns):
        calls.append((repo_id, repo_type, revision))
        folder = tmp_path / "hub" / "snapshots" / ("ab12" * 10)
        shutil.copytree(release_dir, folder, dirs_exist_ok=True)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    _download_release.cache_clear()
    try:
        report = build_dataset(
            BuildSources(release="me/mirror", celeba_dir=str(celeba_dir), revision="v1.0"),
            tmp_path / "out",
            ("dialogues",),
            progress=False,
        )
    finally:
        _download_release.cache_clear()
    assert calls == [("me/mirror", "dataset", "v1.0")]
    assert report["release_commit"] == "ab12" * 10
    assert "(revision v1.0) at commit `" + "ab12" * 10 + "`" in (tmp_path / "out" / "README.md").read_text()
