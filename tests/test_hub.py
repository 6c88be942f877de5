"""Publishing to the Hub and pulling back (`mirror-hf push` / `pull`), against the loopback Hub server: the CelebA
licence guard, a private dataset that `load_dataset("ORG/NAME")` reads back equal, a public copy without faces,
stale shards removed by a later push, a sessions run judged straight from the Hub (hf://datasets/...) and its
evaluation published and read back, and a build from the release on the Hub at a pinned revision."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset, load_dataset
from hub_server import HubServer, validate_card
from loopback import ScriptedServer
from release_writer import DIALOGUES, write_release
from release_writer import PROFILES as RELEASE_PROFILES
from test_metrics import wai_rating
from test_runner import PROFILES, client_answers
from test_simulation import ScriptedBackend, therapist_answers

from mirror_hf.cli import main
from mirror_hf.errors import MirrorError
from mirror_hf.hub import find_images, folder_kind, push, write_without_images
from mirror_hf.protocol import CORRECTED

IMAGE_COLUMNS = {"dialogues": "identity_image", "eval_profiles": "identity_image"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build") / "mirror"
    assert main(["build", "--sample", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def hub():
    server = HubServer()
    yield server
    server.close()


def cli(hub: HubServer, *args: str, home: Path) -> subprocess.CompletedProcess:
    """`mirror-hf ARGS` in a fresh process that talks to the loopback Hub."""
    return hub.cli(*args, home=home)


def python(hub: HubServer, code: str, home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=hub.env(home), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def embedded(rows, column: str) -> int:
    """Images with bytes in a column of undecoded rows, counted the slow way (the reference for find_images)."""

    def count(value) -> int:
        if isinstance(value, dict) and set(value) == {"bytes", "path"}:
            return value["bytes"] is not None
        if isinstance(value, dict):
            return sum(count(v) for v in value.values())
        if isinstance(value, list):
            return sum(count(v) for v in value)
        return 0

    return sum(count(row[column]) for row in rows)


def test_images_are_found_and_nulled_in_every_nesting(built, tmp_path):
    found = find_images(built)
    assert folder_kind(built) == "dataset"
    for shard in sorted((built / "data").rglob("*.parquet")):
        ds = Dataset.from_parquet(str(shard), cache_dir=str(tmp_path / "cache"))
        raw = ds.cast(ds.features.copy()).with_format("arrow")[:]  # undecoded: bytes as stored
        rows = raw.to_pylist()
        expected = sum(embedded(rows, c) for c in ("identity_image", "turns", "images") if c in raw.column_names)
        assert found.get(shard.relative_to(built).as_posix(), 0) == expected and expected > 0

        target = tmp_path / shard.name
        write_without_images(shard, target)
        stripped = Dataset.from_parquet(str(target), cache_dir=str(tmp_path / "cache"))
        assert stripped.features == ds.features and len(stripped) == len(ds)
        for before, after in zip(ds, stripped, strict=True):
            if "turns" in before:  # the list of turns stays, each turn keeps its text and loses its face
                assert [t["statement"] for t in after["turns"]] == [t["statement"] for t in before["turns"]]
                assert all(t["image"] is None for t in after["turns"])
            if "images" in before:
                assert after["images"] == [None] * len(before["images"]) and after["prompt"] == before["prompt"]
            if "identity_image" in before:
                assert after["identity_image"] is None and after["celeba_image"] == before["celeba_image"]
    assert not find_images(tmp_path)  # the copies hold none
    with pytest.raises(MirrorError, match="not a folder mirror-hf wrote"):
        folder_kind(tmp_path)
    (tmp_path / "sessions.jsonl").write_text("")
    with pytest.raises(MirrorError, match="has not written its sessions dataset"):  # a run that stopped mid-way
        folder_kind(tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(MirrorError, match="card .README.md. is missing"):  # before any request: this process is offline
        push(tmp_path, "me/adapter")


def test_faces_go_only_to_a_private_repository(built, hub, tmp_path):
    refused = cli(hub, "push", str(built), "me/mirror", home=tmp_path / "h")
    assert refused.returncode == 2 and "face image(s)" in refused.stderr and "--drop-images" in refused.stderr
    assert hub.requests == []  # refused before anything reached the Hub

    assert cli(hub, "push", str(built), "me/public", "--drop-images", home=tmp_path / "h").returncode == 0
    into_public = cli(hub, "push", str(built), "me/public", "--private", home=tmp_path / "h")
    assert into_public.returncode == 2 and "exists and is public" in into_public.stderr
    assert len(hub.repos["datasets", "me/public"].commits) == 2  # the creation and the faceless push only

    pushed = cli(hub, "push", str(built), "me/mirror", "--private", home=tmp_path / "h")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    repo = hub.repos["datasets", "me/mirror"]
    assert repo.private and "private dataset me/mirror" in pushed.stdout
    local = sorted(p.relative_to(built).as_posix() for p in (built / "data").rglob("*.parquet"))
    assert sorted(repo.files) == sorted(["README.md", "build_report.json", *local])
    card = repo.files["README.md"].decode()
    assert 'load_dataset("me/mirror", "sft_ec_planning"' in card and "This copy has no faces" not in card
    report = json.loads(repo.files["build_report.json"])
    assert (
        str(tmp_path.parent) not in json.dumps(report)
        and report["configs"] == json.loads((built / "build_report.json").read_text())["configs"]
    )

    compare = f"""
from datasets import load_dataset
for config in ("dialogues", "sft_ec_planning"):
    hub = load_dataset("me/mirror", config)["train"]
    mine = load_dataset({str(built)!r}, config)["train"]
    assert hub.features == mine.features and hub["id" if config != "dialogues" else "idx"] == \\
        mine["id" if config != "dialogues" else "idx"]
    column = "images" if config != "dialogues" else "identity_image"
    a, b = hub[column], mine[column]
    a, b = (a, b) if config == "dialogues" else ([x[0] for x in a], [x[0] for x in b])
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True)), config
print("equal")
"""
    assert python(hub, compare, tmp_path / "h").strip() == "equal"


def test_a_faceless_public_copy_and_a_later_push_with_other_shards(built, hub, tmp_path):
    before = find_images(built)
    done = cli(hub, "push", str(built), "me/mirror-text", "--drop-images", home=tmp_path / "h")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{sum(before.values())} left out" in done.stdout and "public dataset" in done.stdout
    repo = hub.repos["datasets", "me/mirror-text"]
    assert not repo.private and "This copy has no faces" in repo.files["README.md"].decode()
    assert find_images(built) == before  # the local folder keeps its faces

    code = """
from datasets import load_dataset
d = load_dataset("me/mirror-text", "dialogues", split="train")
s = load_dataset("me/mirror-text", "sft_base", split="train")
print(len(d), d[0]["identity_image"], {t["image"] for r in d for t in r["turns"]}, len(s), s[0]["images"])
print(d[0]["turns"][1]["statement"])
"""
    out = python(hub, code, tmp_path / "h").splitlines()
    assert out[0] == "5 None {None} 17 [None]"
    assert out[1] == load_dataset(str(built), "dialogues", split="train")[0]["turns"][1]["statement"]

    # a rebuild with two configs, pushed again: the shards of the three others go
    rebuilt = tmp_path / "mirror"
    assert main(["build", "--sample", "--out", str(rebuilt), "--quiet", "--configs", "dialogues,sft_base"]) == 0
    again = cli(hub, "push", str(rebuilt), "me/mirror-text", "--drop-images", home=tmp_path / "h")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "3 stale removed" in again.stdout
    assert {n.split("/")[1] for n in repo.files if n.startswith("data/")} == {"dialogues", "sft_base"}
    assert python(hub, code, tmp_path / "h2").splitlines()[0] == "5 None {None} 17 [None]"


def test_sessions_pushed_pulled_and_judged_from_the_hub(hub, tmp_path):
    from mirror_hf.simulation.client import ResistantClient
    from mirror_hf.simulation.runner import run_sessions
    from mirror_hf.therapist import MirrorTherapist

    run = tmp_path / "run"
    therapist = MirrorTherapist(
        ScriptedBackend("therapist", therapist_answers), variant="planning_ec", protocol=CORRECTED
    )
    client = ResistantClient(ScriptedBackend("client", client_answers), protocol=CORRECTED)
    asyncio.run(run_sessions(PROFILES[:3], therapist, client, run, concurrency=3))
    assert folder_kind(run) == "sessions" and find_images(run)  # the identity faces

    refused = cli(hub, "push", str(run), "me/sessions", home=tmp_path / "h")
    assert refused.returncode == 2 and "face image(s)" in refused.stderr
    done = cli(hub, "push", str(run), "me/sessions", "--private", home=tmp_path / "h")
    assert done.returncode == 0, done.stderr[-2000:]
    files = set(hub.repos["datasets", "me/sessions"].files)
    assert files == {"README.md", "run_report.json", "data/sessions/train-00000-of-00001.parquet"}
    assert "hf://datasets/me/sessions" in hub.repos["datasets", "me/sessions"].files["README.md"].decode()

    pulled = cli(hub, "pull", "me/sessions", "--out", str(tmp_path / "copy"), home=tmp_path / "h")
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    mine, theirs = load_dataset(str(run), split="train"), load_dataset(str(tmp_path / "copy"), split="train")
    assert theirs["session_id"] == mine["session_id"] and theirs["turns"][0][1]["text"] == mine["turns"][0][1]["text"]

    judge = ScriptedServer(answer=lambda body, n: f"[[{wai_rating(body['messages'][0]['content'])}]]")
    try:
        judged = cli(
            hub, "evaluate", "pec=hf://datasets/me/sessions", "--judge", f"judge@{judge.url}",
            "--instruments", "wai", "--out", str(tmp_path / "report"), "--quiet", home=tmp_path / "h",
        )  # fmt: skip
    finally:
        judge.close()
    assert judged.returncode == 0, judged.stderr[-2000:]
    assert len(judge.requests) == 3 * 12  # every session of the Hub copy, each WAI item once
    summary = json.loads((tmp_path / "report" / "report.json").read_text())
    assert list(summary["therapists"]) == ["pec"]
    judgements = load_dataset(str(tmp_path / "report"), "judgements", split="train")
    assert judgements.num_rows == 36 and set(judgements["run"]) == {"pec"}
    assert sorted(set(judgements["session_id"])) == sorted(p["idx"] for p in PROFILES[:3])

    # the evaluation itself, published (no faces in it) and read back
    done = cli(hub, "push", str(tmp_path / "report"), "me/mirror-eval", home=tmp_path / "h")
    assert done.returncode == 0, done.stderr[-2000:]
    files = set(hub.repos["datasets", "me/mirror-eval"].files)
    assert {"README.md", "report.json", "report.md", "scores.png", "length_vs_score.png"} <= files
    assert {f for f in files if f.startswith("judgements/")} == {"judgements/pec.wai.judge0.jsonl"}
    code = """
from datasets import load_dataset
j = load_dataset("me/mirror-eval", "judgements", split="train")
print(j.num_rows, sorted(set(j["item"]))[:2], j.features["score"].dtype)
"""
    assert python(hub, code, tmp_path / "h").split("\n")[0] == "36 ['q1', 'q10'] float64"
    card = hub.repos["datasets", "me/mirror-eval"].files["README.md"].decode()
    assert 'load_dataset("me/mirror-eval", "judgements"' in card and "Working Alliance" in card
    bad = cli(hub, "evaluate", "hf://models/me/x", "--judge", "j@http://127.0.0.1:9/v1", "--out", "o", home=tmp_path)
    assert bad.returncode == 2 and "hf://datasets/ORG/NAME" in bad.stderr
    missing = cli(hub, "pull", "me/no-such-sessions", "--out", str(tmp_path / "none"), home=tmp_path / "h")
    assert missing.returncode == 2 and "no repository me/no-such-sessions" in missing.stderr


def test_build_from_the_release_on_the_hub_at_a_pinned_revision(hub, celeba_dir, tmp_path):
    """`mirror-hf build --release ORG/NAME [--revision SHA|TAG]` downloads the release files from the Hub: the latest
    by default, exactly the pinned commit or tag with --revision (the commit read recorded in the report and the
    card), and a clear error for a revision that does not exist."""
    first = write_release(tmp_path / "v1", DIALOGUES, RELEASE_PROFILES)
    second = write_release(tmp_path / "v2", DIALOGUES[:3], RELEASE_PROFILES)
    upload = """
import sys
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("multimodal-reframing/mirror", repo_type="dataset", exist_ok=True)
for folder in sys.argv[1:]:
    print(api.upload_folder(repo_id="multimodal-reframing/mirror", repo_type="dataset", folder_path=folder).oid)
    if folder == sys.argv[1]:
        api.create_tag("multimodal-reframing/mirror", repo_type="dataset", tag="v1.0")
"""
    shas = python(hub, upload, tmp_path / "h", str(first), str(second)).split()
    assert len(shas) == 2

    def build(out: str, *revision: str) -> subprocess.CompletedProcess:
        args = ["build", "--release", "multimodal-reframing/mirror", *revision, "--celeba-dir", str(celeba_dir)]
        return cli(hub, *args, "--out", str(tmp_path / out), "--quiet", home=tmp_path / "h")

    cases = (
        ("latest", (), 3, shas[1]),
        ("pinned", ("--revision", shas[0]), len(DIALOGUES), shas[0]),
        ("tagged", ("--revision", "v1.0"), len(DIALOGUES), shas[0]),
    )
    for out, revision, rows, commit in cases:
        hub.requests.clear()
        done = build(out, *revision)
        assert done.returncode == 0, done.stderr[-2000:]
        assert load_dataset(str(tmp_path / out), "dialogues", split="train").num_rows == rows
        card = (tmp_path / out / "README.md").read_text()
        named = f"the Hub dataset `multimodal-reframing/mirror` (revision {revision[1] if revision else 'main'})"
        assert f"{named} at commit `{commit}`" in card
        report = json.loads((tmp_path / out / "build_report.json").read_text())
        assert report["release_commit"] == commit and report["sources"]["revision"] == (
            revision[1] if revision else None
        )
        asked = [path for method, path in hub.requests if method == "GET" and "/api/datasets/multimodal" in path]
        print(out, asked)
    missing = build("missing", "--revision", "0" * 40)
    assert missing.returncode == 2 and "could not download the Hub dataset" in missing.stderr


def test_new_dialogues_pushed_and_built_from_the_hub(hub, celeba_dir, tmp_path):
    """New dialogues (`synthesize screenplays --out`) go to the Hub as release files with a card, and `mirror-hf
    build --release ORG/NAME` rebuilds them from there with the builder's own CelebA copy."""
    from test_new_dialogues import CLIENTS, screenplay_for

    from mirror_hf.synthesis.design import cactus_clients, design_profiles
    from mirror_hf.synthesis.screenplay import write_screenplays

    cactus = tmp_path / "cactus.json"
    cactus.write_text(json.dumps(CLIENTS))
    clients = cactus_clients(cactus)
    faces = {c["row"]: {"image": f"{2 * i + 1:06d}.jpg", "identity": i + 1, "age": 33, "dominant_gender": "Man"}
             for i, c in enumerate(clients)}  # fmt: skip
    model = ScriptedBackend("gpt-4o-mini", lambda r: screenplay_for({"messages": r.messages, **r.sampling()}, 0))
    out = tmp_path / "new"
    report = asyncio.run(write_screenplays(design_profiles(clients, faces), model, out, progress=False))
    assert report["release_rows"] == 12 and folder_kind(out) == "release"

    pushed = cli(hub, "push", str(out), "me/new-dialogues", home=tmp_path / "h")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    files = hub.repos["datasets", "me/new-dialogues"].files
    assert set(files) == {"README.md", "screenplays_report.json", "mirror_data.csv", "screenplays.jsonl"}
    card = files["README.md"].decode()
    assert "mirror-hf build --release me/new-dialogues --celeba-dir" in card and "license: other" in card
    assert "data_files: mirror_data.csv" in card and not validate_card(card)
    remote = json.loads(files["screenplays_report.json"])
    assert remote["file"] == ".../mirror_data.csv" and remote["models"] == ["gpt-4o-mini"]

    args = ["build", "--release", "me/new-dialogues", "--celeba-dir", str(celeba_dir), "--cactus", str(cactus)]
    built = cli(hub, *args, "--out", str(tmp_path / "mirror"), "--quiet", home=tmp_path / "h")
    assert built.returncode == 0, built.stderr[-2000:]
    rows = load_dataset(str(tmp_path / "mirror"), "dialogues", split="train")
    assert rows.num_rows == 12 and rows[0]["identity_image"] is not None
