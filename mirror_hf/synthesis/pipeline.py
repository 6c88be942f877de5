"""MIRROR's synthesis as one resumable run: the paper's steps (§3.1-3.4) over one work folder, each stage the
``mirror-hf`` command a person would type, so that any stage can be read, rerun or replaced on its own.

The stages, in order (``screenplays`` runs when the config has that section, the filter stages unless
``filter: false``, the prefilter only when there is a text filter to run):

1. ``screenplays`` — new dialogues from CACTUS clients and CelebA faces (``OUT/release/``), or the ``release`` given;
2. ``dialogues`` — the ``dialogues`` config built from them with the clients' CelebA faces (``OUT/dialogues/``);
3. ``prefilter`` — the text filters that need no face (rules, Canary) into ``OUT/filtered/``, so that no face is
   drawn for a dialogue they reject (the paper drew first and filtered after; the verdicts are the same);
4. ``expressions`` — each kept client turn's face described by an LLM (``OUT/faces/expressions.jsonl``);
5. ``faces`` — PhotoMaker draws them, each face checked and redrawn as the authors did (``OUT/faces/``); with
   ``faces: {shards: N}``, N processes at once, one per GPU (``synthesize faces --shard K/N``);
6. ``filter`` — the text filters again (read from the journal), the faces rejected when drawn and, last, WAI on
   what is left;
7. ``build`` — the final dataset with the turn faces, without the rejected dialogues (``OUT/mirror/``).

Every stage resumes (journals, build fingerprints), so a rerun of the pipeline continues where it stopped. After each
stage the pipeline looks at what it wrote and stops when work was left undone (turns no LLM answer could describe,
dialogues WAI could not judge, screenplays not written): a rerun retries them; ``keep_going`` goes on without.

Example:
    $ mirror-hf synthesize pipeline --config recipes/synthesis/turn_faces.yaml --dry-run
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.journal import read_records
from mirror_hf.schema import DIALOGUES, FILTER_REPORT_FILE, SCREENPLAYS_REPORT_FILE
from mirror_hf.stages import Stage, read_yaml_config, run_stages, stage_options
from mirror_hf.synthesis.settings import REJECTED_BEFORE, RULE_FILTERS

PIPELINE_REPORT_FILE = "pipeline_report.json"
STAGES = ("screenplays", "dialogues", "prefilter", "expressions", "faces", "filter", "build")
# Each stage's folder in the work folder: the two filter passes share one journal, expressions and faces one folder.
FOLDERS = {
    "screenplays": "release",
    "dialogues": "dialogues",
    "prefilter": "filtered",
    "expressions": "faces",
    "faces": "faces",
    "filter": "filtered",
    "build": "mirror",
}
SECTIONS = ("screenplays", "expressions", "faces", "filter", "build")  # each: that command's options
SHARED = ("out", "release", "revision", "celeba_dir", "cactus", "device", "cache_dir", "quiet")
# Options the pipeline sets itself, per section: giving one would contradict how the stages are wired.
WIRED = {
    "screenplays": {"celeba_dir", "cactus", "out"},
    "expressions": {"dataset", "out", "filters"},
    "faces": {"dataset", "out", "expressions"},
    "filter": {"dataset", "out", "faces"},
    "build": {"release", "sample", "revision", "celeba_dir", "cactus", "turn_images", "filters", "out"},
}
BOTH_BUILDS = ("on_error", "celeba_link")  # build options the first build (dialogues) takes too
# Filter options that belong to the final pass only (the prefilter runs before any face is drawn).
FINAL_FILTER_ONLY = {"wai_judge", "wai_threshold", "wai_guidelines", "wai_all", "concurrency", "reasks", "cache_dir"}


def load_pipeline_config(path: str | Path) -> dict:
    """The pipeline's YAML: shared keys (``out``, ``release``, ``celeba_dir``, ``cactus``, ``device``, ...) and one
    section per command (``screenplays``, ``expressions``, ``faces``, ``filter``, ``build``) holding that command's
    options, written with ``_`` for ``-``; ``filter: false`` runs no filter."""
    file = Path(path)
    config = read_yaml_config(file, "pipeline", keys=[*SHARED, *SECTIONS], example="recipes/synthesis/*.yaml")
    for key in ("out", "celeba_dir"):
        if not config.get(key):
            raise MirrorError(f"{key!r} is required", file=str(file), field=key)
    if bool(config.get("release")) == bool(config.get("screenplays")):
        raise MirrorError(
            "give either 'release' (dialogues to draw faces for) or a 'screenplays' section (new dialogues)",
            file=str(file),
        )
    for section in SECTIONS:
        options = config.get(section)
        if section == "filter" and options is False:
            continue
        if options is not None and not isinstance(options, dict):
            raise MirrorError(f"section {section!r} is not a mapping of options", file=str(file), field=section)
        wired = sorted(set(options or {}) & WIRED[section])
        if wired:
            raise MirrorError(
                f"section {section!r} sets {wired}, which the pipeline wires itself",
                file=str(file),
                field=section,
                fix="use the shared keys (release, celeba_dir, cactus) or run that command on its own",
            )
    if not (config.get("expressions") or {}).get("model"):
        raise MirrorError("the expressions section needs a model", file=str(file), field="expressions.model")
    if "shard" in (config.get("faces") or {}):
        raise MirrorError(
            "the pipeline runs the shards itself",
            file=str(file),
            field="faces.shard",
            fix="set faces: {shards: N} to draw with N processes at once, one per GPU",
        )
    if "image_checks" in (config.get("filter") or {}):
        raise MirrorError(
            "the pipeline's faces are checked as they are drawn (faces.checks); image_checks re-checks a built "
            "dataset's faces",
            file=str(file),
            field="filter.image_checks",
            fix="set faces: {checks: ...}, or run mirror-hf synthesize filter --image-checks on the final build",
        )
    return config


def plan_pipeline(config: dict) -> list[Stage]:
    """The stages ``config`` asks for, each with the exact ``mirror-hf`` arguments it runs."""
    out = Path(config["out"]).expanduser()
    folder = {name: out / sub for name, sub in FOLDERS.items()}
    shared = {key: config.get(key) for key in ("device", "cache_dir")}
    quiet = ["--quiet"] if config.get("quiet") else []

    def stage(name: str, argv: list[str], options: dict, *shared_keys: str, shards: int = 1) -> Stage:
        """``argv`` + the section's ``options`` over the shared keys the command takes."""
        merged = {**{key: shared[key] for key in shared_keys}, **options}
        return Stage(name, (*argv, *stage_options(merged), *quiet), folder[name], shards)

    stages = []
    cactus = {"cactus": config.get("cactus")}
    if config.get("screenplays"):
        if not config.get("cactus"):
            raise MirrorError("new dialogues need CACTUS: set 'cactus' (cactus.json)", field="cactus")
        release = folder["screenplays"]
        design = {"celeba_dir": config["celeba_dir"], **cactus, "out": release, **config["screenplays"]}
        stages.append(stage("screenplays", ["synthesize", "screenplays"], design, "cache_dir"))
    else:
        release = config["release"]
    source = {"release": str(release), "revision": config.get("revision"), "celeba_dir": config["celeba_dir"], **cactus}
    build_options = dict(config.get("build") or {})
    both = {key: build_options.get(key) for key in BOTH_BUILDS}
    stages.append(stage("dialogues", ["build"], {**source, "configs": DIALOGUES, "out": folder["dialogues"], **both}))

    filtering = config.get("filter") is not False
    filter_options = dict(config.get("filter") or {})
    on_dialogues = {"dataset": folder["dialogues"]}
    rules = filter_options.get("filters", ",".join(RULE_FILTERS))
    prefiltering = filtering and bool(rules or filter_options.get("canary"))  # a text filter to run before faces
    if prefiltering:
        text_only = {k: v for k, v in filter_options.items() if k not in FINAL_FILTER_ONLY}
        prefilter = {**on_dialogues, "out": folder["filter"], **text_only}
        stages.append(stage("prefilter", ["synthesize", "filter"], prefilter, "device"))
    expressions = {**on_dialogues, "out": folder["faces"], "filters": folder["filter"] if prefiltering else None}
    expressions |= config["expressions"]
    stages.append(stage("expressions", ["synthesize", "expressions"], expressions, "cache_dir"))
    faces = {**on_dialogues, "out": folder["faces"], **(config.get("faces") or {})}
    shards = faces.pop("shards", 1)
    if not isinstance(shards, int) or shards < 1:
        raise MirrorError(f"faces.shards {shards!r}", field="faces.shards", fix="a whole number of processes, >= 1")
    stages.append(stage("faces", ["synthesize", "faces"], faces, "device", shards=shards))
    if filtering:
        final = {**on_dialogues, "out": folder["filter"], "faces": folder["faces"], **filter_options}
        stages.append(stage("filter", ["synthesize", "filter"], final, "device", "cache_dir"))
    rebuild = {**source, "turn_images": folder["faces"], "filters": folder["filter"] if filtering else None}
    stages.append(stage("build", ["build"], {**rebuild, "out": folder["build"], **build_options}))
    return stages


def left_undone(stage: Stage) -> str | None:
    """What ``stage`` left for a rerun, read from the files it wrote; None when it finished everything."""
    if stage.name == "screenplays":
        report = _json(stage.folder / SCREENPLAYS_REPORT_FILE)
        failed = report.get("failed", 0)
        return f"{failed} screenplays could not be written" if failed else None
    if stage.name == "expressions":
        from mirror_hf.synthesis.expressions import EXPRESSIONS_FILE

        records = read_records(stage.folder / EXPRESSIONS_FILE, key=lambda r: (r["idx"], r["turn"]))
        rejected = {}  # a turn of a dialogue the filters reject now is not retried: nothing is left for it
        if "--filters" in stage.argv:
            from mirror_hf.data.sources import read_rejected  # imports datasets: here, not when the CLI starts

            rejected = read_rejected(stage.argv[stage.argv.index("--filters") + 1])
        failed = sum(1 for r in records if r.get("failure") and r["idx"] not in rejected)
        return f"{failed} client turns could not be described (see expressions.jsonl)" if failed else None
    if stage.name in ("prefilter", "filter"):
        waiting = {}
        for name, row in _json(stage.folder / FILTER_REPORT_FILE).get("filters", {}).items():
            because = row.get("not_judged_because", {})
            waiting[name] = sum(n for why, n in because.items() if why != REJECTED_BEFORE)
        waiting = {name: n for name, n in waiting.items() if n}
        if waiting:
            return "dialogues not judged: " + ", ".join(f"{name} {n}" for name, n in waiting.items())
    return None


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def run_pipeline(
    stages: list[Stage],
    out_dir: str | Path,
    run_command: Callable[[list[str]], int],
    until: str | None = None,
    keep_going: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the pipeline's ``stages`` (:func:`mirror_hf.stages.run_stages`), recorded in
    ``out_dir/pipeline_report.json``; a stage that left work undone (:func:`left_undone`) stops it."""
    return run_stages(
        stages, out_dir, run_command, report_file=PIPELINE_REPORT_FILE, left_undone=left_undone, until=until,
        keep_going=keep_going, log=log,
    )  # fmt: skip
