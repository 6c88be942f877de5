"""`mirror-hf synthesize pipeline`: the synthesis stages in one resumable run from a YAML config — the shipped
recipes plan commands the CLI accepts, a bad config fails before any work, and a run on the sample (expressions and
a WAI judge over HTTP, PhotoMaker on a tiny SDXL) draws faces only for the dialogues the text filters kept, stops
where work was left undone, goes on when run again (retrying with new seeds, not the cache), and ends in a dataset
with the turn faces and without the rejected dialogues; a third run asks and draws nothing."""

import json
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset
from loopback import ScriptedServer
from test_synthesis import answer_for

from mirror_hf.cli import main
from mirror_hf.synthesis.filters import basic_problems
from mirror_hf.synthesis.pipeline import PIPELINE_REPORT_FILE

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "synthesis"


@pytest.mark.parametrize(
    ("recipe", "stages"),
    [
        ("turn_faces.yaml", ["build", "expressions", "faces", "filter", "build"]),
        ("new_dialogues.yaml", ["screenplays", "build", "filter", "expressions", "faces", "filter", "build"]),
    ],
)
def test_the_shipped_recipes_plan_commands_the_cli_accepts(recipe, stages, capsys):
    assert main(["synthesize", "pipeline", "--config", str(RECIPES / recipe), "--dry-run"]) == 0
    commands = capsys.readouterr().out.splitlines()
    assert [c.split()[2] if c.split()[1] == "synthesize" else c.split()[1] for c in commands] == stages
    config = yaml.safe_load((RECIPES / recipe).read_text())
    out = Path(config["out"])
    assert f"--out {out / 'mirror'}" in commands[-1] and f"--turn-images {out / 'faces'}" in commands[-1]
    assert f"--filters {out / 'filtered'}" in commands[-1]
    assert not out.exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"celeba": "x"}, "unknown key(s) ['celeba']"),
        ({"screenplays": {"model": "m"}}, "give either 'release'"),
        ({"faces": {"out": "elsewhere"}}, "section 'faces' sets ['out'], which the pipeline wires itself"),
        ({"faces": {"stepz": 3}}, "has no option '--stepz' (the faces stage)"),
        ({"faces": {"steps": "many"}}, "the faces stage's options are refused"),
        ({"filter": {"image_checks": "clip"}}, "faces are checked as they are drawn"),
        ({"faces": {"shard": "0/2"}}, "set faces: {shards: N}"),
        ({"faces": {"shards": 0}}, "faces.shards 0"),
        ({"expressions": {"concurrency": 2}}, "the expressions section needs a model"),
    ],
)
def test_a_bad_config_is_named_before_any_work(change, message, tmp_path, capsys):
    config = {"out": str(tmp_path / "work"), "release": "rel/", "celeba_dir": "celeba/", "expressions": {"model": "m"}}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({**config, **change}))
    assert main(["synthesize", "pipeline", "--config", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def _owner(prompt: str, rows: list[dict]) -> str:
    """The dialogue a prompt shows, by its opening therapist line."""
    (idx,) = [d["idx"] for d in rows if d["turns"][0]["statement"] in prompt]
    return idx


def test_the_pipeline_draws_only_what_the_filters_keep_stops_on_undone_work_and_resumes(
    dialogues,
    tiny_photomaker,
    tiny_encoder,
    tmp_path,
    capsys,
):
    from mirror_hf.data.sample import prepare_sample

    _, rows = dialogues
    assert len({d["turns"][0]["statement"] for d in rows}) == len(rows)  # _owner can tell them apart
    (short,) = [d["idx"] for d in rows if basic_problems(d)]  # the sample's dialogue the basic filter rejects
    kept = [d for d in rows if d["idx"] != short]
    garbled, hostile = kept[0]["idx"], kept[1]["idx"]  # an LLM cannot describe one; WAI rejects the other

    def expressions_first_run(body, n):
        prompt = body["messages"][0]["content"]
        return "I would rather not." if _owner(prompt, rows) == garbled else answer_for(prompt)

    def wai_judge(body, n):
        return "[[1]]" if _owner(body["messages"][0]["content"], rows) == hostile else "Shared goals. [[4]]"

    llm, judge = ScriptedServer(answer=expressions_first_run), ScriptedServer(answer=wai_judge)
    sources = prepare_sample(tmp_path / "sample")
    work = tmp_path / "work"
    config = {
        "out": str(work),
        "release": sources.release,
        "celeba_dir": sources.celeba_dir,
        "cache_dir": str(tmp_path / "cache"),
        "device": "cpu",
        "quiet": True,
        "expressions": {"model": f"llama@{llm.url}", "reasks": 0, "concurrency": 4, "protocol": "corrected"},
        "faces": {
            "base_model": str(tiny_photomaker),
            "adapter": str(tiny_photomaker),
            "weight_name": "photomaker-tiny.bin",
            "steps": 2,
            "generation_size": 64,
            "checks": "none",
        },  # fmt: skip
        "filter": {"filters": ["basic", "copy_paste"], "wai_judge": f"judge@{judge.url}", "reasks": 0},
        "build": {"configs": "dialogues,sft_base"},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    pipeline = ["synthesize", "pipeline", "--config", str(path)]

    def report() -> dict:
        return json.loads((work / PIPELINE_REPORT_FILE).read_text())

    def client_turns(idx: str) -> int:
        return sum(turn["speaker"] == "client" for turn in next(d for d in rows if d["idx"] == idx)["turns"])

    try:
        assert main([*pipeline, "--until", "dialogues"]) == 0
        assert report()["status"] == "stopped" and [s["stage"] for s in report()["stages"]] == ["dialogues"]
        assert not llm.requests and not (work / "faces").exists()

        # run 1: the text filters reject the short dialogue before any face is described; one dialogue's turns get
        # unreadable answers, so the pipeline stops there and draws nothing
        assert main(pipeline) == 1
        assert f"{client_turns(garbled)} client turns could not be described" in capsys.readouterr().out
        assert [(s["stage"], s["status"]) for s in report()["stages"]] == [
            ("dialogues", "done"),
            ("prefilter", "done"),
            ("expressions", "left_work"),
        ]
        assert {_owner(r["body"]["messages"][0]["content"], rows) for r in llm.requests} == {d["idx"] for d in kept}
        assert len(llm.requests) == sum(client_turns(d["idx"]) for d in kept)
        assert not list((work / "faces").rglob("*.png"))

        # run 2: the same LLM and cache now answer; only the failed turns are asked, with the next seed
        asked = len(llm.requests)
        llm.answer = lambda body, n: answer_for(body["messages"][0]["content"])
        assert main(pipeline) == 0
        assert [r["body"].get("seed") for r in llm.requests[asked:]] == [1] * client_turns(garbled)
        assert report()["status"] == "done" and report()["dataset"] == str(work / "mirror")
        stages = [(s["stage"], s["status"]) for s in report()["stages"]]
        assert stages == [
            (name, "done") for name in ("dialogues", "prefilter", "expressions", "faces", "filter", "build")
        ]
        drawn = sorted((work / "faces").rglob("*.png"))
        assert len(drawn) == sum(client_turns(d["idx"]) for d in kept)
        assert {p.parent.name for p in drawn} == {d["idx"] for d in kept}
        assert len(judge.requests) == 12 * len(kept)  # WAI last, on what the others kept

        final = load_dataset(str(work / "mirror"), "dialogues", split="train")
        assert sorted(final["idx"]) == sorted(d["idx"] for d in kept if d["idx"] != hostile)
        records = load_dataset(str(work / "mirror"), "sft_base", split="train")
        assert len(records) and set(records["image_source"]) == {"turn"}
        filtered = json.loads((work / "filtered" / "filter_report.json").read_text())
        assert filtered["rejected_dialogues"].keys() == {short, hostile}
        assert set(filtered["filters"]) >= {"basic", "copy_paste", "faces", "wai"}

        # run 3: everything is done: no call, no face drawn again
        stamps = {p: p.stat().st_mtime_ns for p in drawn}
        calls = len(llm.requests), len(judge.requests)
        assert main(pipeline) == 0
        assert (len(llm.requests), len(judge.requests)) == calls
        assert {p: p.stat().st_mtime_ns for p in drawn} == stamps
    finally:
        llm.close()
        judge.close()


def test_new_dialogues_go_from_cactus_to_a_built_dataset(tmp_path, celeba_dir, monkeypatch):
    """The other entry: a `screenplays` section writes release files from CACTUS (an LLM over HTTP, tiny DeepFace
    graphs), and the next stage builds them with the same CACTUS file."""
    from test_new_dialogues import CLIENTS, screenplay_for
    from tiny_models import build_tiny_deepface

    monkeypatch.setenv("DEEPFACE_HOME", str(build_tiny_deepface(tmp_path / "deepface")))
    cactus = tmp_path / "cactus.json"
    cactus.write_text(json.dumps(CLIENTS))
    server = ScriptedServer(answer=screenplay_for)
    work = tmp_path / "work"
    config = {
        "out": str(work), "celeba_dir": str(celeba_dir), "cactus": str(cactus), "cache_dir": str(tmp_path / "cache"),
        "quiet": True,
        "screenplays": {"model": f"gpt-4o-mini@{server.url}", "face_detector": "skip", "protocol": "corrected"},
        "expressions": {"model": "unused@http://127.0.0.1:9/v1"},
    }  # fmt: skip
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        assert main(["synthesize", "pipeline", "--config", str(path), "--until", "dialogues"]) == 0
    finally:
        server.close()
    report = json.loads((work / PIPELINE_REPORT_FILE).read_text())
    assert [(s["stage"], s["status"]) for s in report["stages"]] == [("screenplays", "done"), ("dialogues", "done")]
    assert (work / "release" / "mirror_data.csv").is_file()
    rows = load_dataset(str(work / "dialogues"), "dialogues", split="train")
    assert len(rows) == 8 and len(server.requests) >= 8  # two clients with a face, four resistance types each
    assert set(rows["cbt_technique"]) == {"Reality Testing", "Decatastrophizing"}  # joined with the same CACTUS
    assert all(image is not None for image in rows["identity_image"])


def test_undescribed_turns_of_a_dialogue_the_filters_now_reject_leave_nothing_undone(tmp_path):
    from mirror_hf.synthesis.pipeline import Stage, left_undone

    faces, filtered = tmp_path / "faces", tmp_path / "filtered"
    faces.mkdir()
    filtered.mkdir()
    lines = [{"idx": "cactus-1-no-resistance", "turn": 1, "failure": "unreadable: no expression"}]
    lines += [{"idx": "cactus-2-no-resistance", "turn": 1, "failure": None}]
    (faces / "expressions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    stage = Stage("expressions", ("synthesize", "expressions", "--filters", str(filtered)), faces)
    report = {"rejected_dialogues": {}}
    (filtered / "filter_report.json").write_text(json.dumps(report))
    assert left_undone(stage) == "1 client turns could not be described (see expressions.jsonl)"
    report["rejected_dialogues"]["cactus-1-no-resistance"] = {"wai": ["WAI 0.1 < 0.3"]}
    (filtered / "filter_report.json").write_text(json.dumps(report))
    assert left_undone(stage) is None  # it will never be asked again: the pipeline must not wait for it


def test_faces_drawn_by_shards_in_parallel_processes(dialogues, tiny_photomaker, tmp_path, monkeypatch, capsys):
    """`faces: {shards: 2}`: two `synthesize faces --shard K/2` processes at once, one GPU each where there are GPUs
    (here each on the CPU), sharing the faces folder and its journal; the build then shows a drawn face on every turn.
    The subprocesses get the tiny PhotoMaker ID encoder through a sitecustomize written here (the one stand-in)."""
    _, rows = dialogues
    patches = tmp_path / "patches"
    patches.mkdir()
    (patches / "sitecustomize.py").write_text(
        "import photomaker.pipeline\nfrom tiny_models import tiny_photomaker_encoder\n"
        "photomaker.pipeline.PhotoMakerIDEncoder = tiny_photomaker_encoder()\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{patches}:{Path(__file__).parent}")
    from mirror_hf.data.sample import prepare_sample

    llm = ScriptedServer(answer=lambda body, n: answer_for(body["messages"][0]["content"]))
    sources = prepare_sample(tmp_path / "sample")
    work = tmp_path / "work"
    config = {
        "out": str(work), "release": sources.release, "celeba_dir": sources.celeba_dir, "device": "cpu",
        "cache_dir": str(tmp_path / "cache"), "quiet": True, "filter": False,
        "expressions": {"model": f"llama@{llm.url}", "protocol": "corrected"},
        "faces": {
            "shards": 2, "base_model": str(tiny_photomaker), "adapter": str(tiny_photomaker),
            "weight_name": "photomaker-tiny.bin", "steps": 2, "generation_size": 64, "checks": "none",
        },
        "build": {"configs": "sft_base"},
    }  # fmt: skip
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        assert main(["synthesize", "pipeline", "--config", str(path)]) == 0
    finally:
        llm.close()
    out = capsys.readouterr().out
    assert "--shard 0/2 & mirror-hf synthesize faces" in out and "--shard 1/2 & wait" in out
    turns = sum(t["speaker"] == "client" for d in rows for t in d["turns"])
    assert len(list((work / "faces").rglob("*.png"))) == turns
    assert len((work / "faces" / "faces.jsonl").read_text().splitlines()) == turns  # each turn once
    for k in (0, 1):
        assert f"shard {k}/2: exit 0" in out
        assert f"shard {k}/2:" in (work / "faces" / f"shard-{k}-of-2.log").read_text()
    records = load_dataset(str(work / "mirror"), "sft_base", split="train")
    assert set(records["image_source"]) == {"turn"}
