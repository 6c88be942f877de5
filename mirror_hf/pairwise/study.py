"""Sample a pairwise study (paper §6.3): profiles with a complete session in every run, balanced across resistance
types, and for each profile every pair of runs as one A/B item, its side drawn at random and recorded. The study
folder is a dataset (``study.json``, the manifest as the ``items`` config, a card) with the annotation app in
``app/`` — blinded: it holds transcripts and faces under random session ids, never a model's name.

The paper's study: 200 test cases balanced over emotional, cognitive and behavioral resistance, three models, so
600 items; here ``n`` counts cases and each case gives one item per pair of runs.

Example:
    >>> summary = sample_study(["P+EC=runs/pec", "LLaMA=runs/llama", "CAMEL=runs/camel"], "study/", n=200, seed=0)
    ... # doctest: +SKIP
    >>> summary["items"], summary["per_resistance"]                                              # doctest: +SKIP
    (600, {'emotional': 67, 'cognitive': 67, 'behavioral': 66})
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import secrets
import shutil
import sys
from importlib import resources
from itertools import combinations
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.pairwise.answer_store import CHOICES
from mirror_hf.schema import ITEMS_CONFIG, ITEMS_SHARD, RESISTANCE_TYPES, STUDY_FILE, parse_idx

STUDY_FORMAT = "mirror-hf pairwise study"
STUDY_VERSION = 1
PAPER_RESISTANCE = ("emotional", "cognitive", "behavioral")
APP_DIR, ANSWERS_DIR, JUDGES_DIR = "app", "answers", "judges"
LINKS_FILE = "annotator_links.txt"  # the owner's: each annotator's sign-in token (the app keeps only digests)
APP_FILES = ("annotation_app.py", "answer_store.py")  # copied into app/ from this package: the Space runs them
CONFIG_FILE = "config.json"  # app/: the Hub dataset a Space pushes its answers to (mirror_hf.pairwise.annotation_app)
FACE_QUALITY = 90  # faces go into the app as JPEG: a study of 600 sessions stays a folder one can push

# What each dimension asks (ours), with the WAI items of that dimension (paper Table 7) shown as guidance.
QUESTIONS = {
    "goal": "Goal — in which dialogue do counselor and client agree more on what they are working toward?",
    "approach": "Approach — in which dialogue does the client take part more in the counselor's tasks and methods?",
    "bond": "Affective bond — in which dialogue is the relationship warmer and more trusting?",
}


def _runs(specs: list[str]):
    from mirror_hf.judges.report import load_runs, protocol_warnings

    runs = load_runs(specs)
    if len(runs) < 2:
        raise MirrorError("a pairwise study needs two runs or more", fix="give NAME=RUN for each therapist")
    for warning in protocol_warnings(runs):
        print(f"warning: {warning}", file=sys.stderr)
    return runs


def _resistance(idx: str) -> str | None:
    try:
        return parse_idx(idx)[1]
    except ValueError:
        return None


def _quotas(n: int, types: tuple[str, ...]) -> dict[str, int]:
    """``n`` cases over ``types``, as evenly as integers allow (the first types take the remainder)."""
    return {t: n // len(types) + (k < n % len(types)) for k, t in enumerate(types)}


def choose_cases(eligible: dict[str, str], n: int, by: str, types: tuple[str, ...], rng: random.Random) -> list[str]:
    """``n`` profile ids of ``eligible`` (id -> resistance): ``by="resistance"`` as evenly over ``types`` as
    integers allow, ``by="none"`` at random among those of ``types``."""
    pool = {t: sorted(i for i, r in eligible.items() if r == t) for t in types}
    if by == "none":
        everyone = sorted(i for t in types for i in pool[t])
        if len(everyone) < n:
            raise MirrorError(
                f"only {len(everyone)} profiles of {', '.join(types)} have a complete session in every run; "
                f"{n} were asked for",
                fix=f"use --n {len(everyone)} or fewer, or simulate the missing sessions",
            )
        return sorted(rng.sample(everyone, n))
    quotas = _quotas(n, types)
    short = {t: (len(pool[t]), q) for t, q in quotas.items() if len(pool[t]) < q}
    if short:
        shown = ", ".join(f"{t}: {have} of {want}" for t, (have, want) in short.items())
        most = min(len(p) for p in pool.values()) * len(types)
        raise MirrorError(
            f"too few profiles with a complete session in every run to balance {n} cases ({shown})",
            fix=f"use --n {most} or fewer, --by none, or simulate the missing sessions",
        )
    return sorted(i for t in types for i in rng.sample(pool[t], quotas[t]))


def _face_name(data: bytes) -> str:
    return f"faces/{hashlib.sha256(data).hexdigest()[:20]}.jpg"


def _write_face(app: Path, data: bytes) -> str:
    from PIL import Image

    name = _face_name(data)
    if not (app / name).exists():
        image = Image.open(io.BytesIO(data)).convert("RGB")
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(app / name, format="JPEG", quality=FACE_QUALITY)
    return name


def _shown_turns(record: dict, app: Path) -> list[dict]:
    """What an annotator sees of a session: speakers, what was said, the client's stage directions (hidden unless
    asked for) and faces. Emotional captions and plans stay out: they would tell a P+EC therapist from the rest."""
    turns = []
    for turn in record["turns"]:
        client = turn["speaker"] == "client"
        face = turn.get("image")
        turns.append(
            {
                "speaker": "client" if client else "counselor",
                "text": turn["text"],
                "stage_direction": turn.get("stage_direction") if client else None,
                "face": _write_face(app, face) if client and face else None,
            }
        )
    return turns


def blind_ids(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct random session ids (``s`` + 10 hex digits) from ``rng``: they say nothing of a model."""
    ids: dict[str, None] = {}  # in the order drawn (a set's order would change with the interpreter's hash seed)
    while len(ids) < count:
        ids[f"s{rng.getrandbits(40):010x}"] = None
    return list(ids)


def sample_study(
    specs: list[str],
    out: str | Path,
    *,
    n: int = 200,
    by: str = "resistance",
    resistance: tuple[str, ...] = PAPER_RESISTANCE,
    seed: int = 0,
    annotators: tuple[str, ...] = (),
) -> dict:
    """Write the study of ``specs`` (``NAME=RUN``, as ``mirror-hf evaluate`` takes) into ``out``; see the module's
    docstring. The same runs, ``n``, ``by``, ``resistance`` and ``seed`` give the same study (its ``study_id``)."""
    from mirror_hf.runs import read_session_records

    if n < 1:
        raise MirrorError(f"--n {n}", fix="ask for one case or more")
    if by not in ("resistance", "none"):
        raise MirrorError(f"--by {by!r}", fix="use resistance or none")
    unknown = [t for t in resistance if t not in RESISTANCE_TYPES]
    if unknown or not resistance:
        raise MirrorError(f"--resistance {','.join(resistance)}", fix=f"choose among {','.join(RESISTANCE_TYPES)}")
    runs = _runs(specs)
    by_run = [{r["profile_idx"]: r for r in run.records} for run in runs]
    shared = set.intersection(*(set(sessions) for sessions in by_run))
    eligible = {i: _resistance(i) for i in shared if _resistance(i) in resistance}
    rng = random.Random(seed)
    cases = choose_cases(eligible, n, by, tuple(resistance), rng)
    pairs = list(combinations(range(len(runs)), 2))
    drawn = [(case, i, j, rng.random() < 0.5) for case in cases for i, j in pairs]
    rng.shuffle(drawn)
    used = sorted({(run, case) for case, i, j, _ in drawn for run in (i, j)})
    blind = dict(zip(used, blind_ids(len(used), rng), strict=True))
    rows = []
    for k, (case, i, j, swapped) in enumerate(drawn, 1):
        a, b = (j, i) if swapped else (i, j)
        rows.append(
            {
                "item_id": f"i{k:04d}",
                "profile_idx": case,
                "resistance": eligible[case],
                "model_a": runs[a].label,
                "model_b": runs[b].label,
                "session_a": blind[(a, case)],
                "session_b": blind[(b, case)],
                "swapped": swapped,
            }
        )

    def shown():
        for r, run in enumerate(runs):
            wanted = {by_run[r][case]["session_id"]: case for (run_k, case) in used if run_k == r}
            for record in read_session_records(run.path, faces=True, sessions=set(wanted)):
                yield blind[(r, wanted[record["session_id"]])], record

    about = {
        "design": {"n": n, "by": by, "resistance": list(resistance), "seed": seed, "pairs": "every pair of runs"},
        "runs": {run.label: {"path": str(run.path), "settings": run.settings} for run in runs},
        "cases": len(cases),
        "per_resistance": {t: sum(eligible[c] == t for c in cases) for t in resistance},
    }
    return write_study(out, rows, shown(), about, annotators)


def write_study(out: str | Path, rows: list[dict], shown, about: dict, annotators=()) -> dict:
    """Write a study into ``out`` (a staging folder first, swapped in once whole: a failure leaves ``out`` as it
    was): ``rows`` the key, ``shown`` (blind session id, record) pairs whose turns the app shows, ``about`` what
    study.json says of where the items come from. Returns study.json's content."""
    from mirror_hf.judges import wai

    out = Path(out)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        study_id, tokens = _write_app(staging / APP_DIR, out, shown, rows, annotators)
        study = {
            "format": STUDY_FORMAT,
            "version": STUDY_VERSION,
            "study_id": study_id,
            **about,
            "items": len(rows),
            "dimensions": list(wai.DIMENSIONS),
            "annotators": list(tokens),
        }
        _write_json(staging / STUDY_FILE, study)
        if tokens:
            links = "".join(f"{name}\t?token={token}\n" for name, token in tokens.items())
            (staging / LINKS_FILE).write_text(links, encoding="utf-8")
        _write_manifest(staging, rows, study)
        _check_no_orphans(out, study_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_in(staging, out)
    return study


def _known_tokens(out: Path) -> dict[str, str]:
    """The sign-in tokens an earlier sample gave: a study sampled again keeps its annotators' links."""
    links = out / LINKS_FILE
    if not links.is_file():
        return {}
    pairs = (line.partition("\t") for line in links.read_text(encoding="utf-8").splitlines())
    return {name: query.removeprefix("?token=") for name, _, query in pairs if query}


def _write_app(app, out, shown, rows, annotators) -> tuple[str, dict[str, str]]:
    """The blinded app folder; returns the study's id and each annotator's sign-in token."""
    from mirror_hf.judges import wai

    app.mkdir(parents=True)
    sessions = {blind: _shown_turns(record, app) for blind, record in shown}
    texts = json.dumps({"rows": rows, "sessions": sessions}, sort_keys=True, ensure_ascii=False)
    study_id = hashlib.sha256(texts.encode()).hexdigest()[:16]
    known = _known_tokens(out)
    tokens = {name: known.get(name) or secrets.token_urlsafe(12) for name in dict.fromkeys(annotators)}
    dimensions = [
        {
            "name": d,
            "question": QUESTIONS[d],
            "guidance": [item.question for item in wai.WAI_ITEMS if item.dimension == d],
        }
        for d in wai.DIMENSIONS
    ]
    blinded = {
        "format": STUDY_FORMAT,
        "version": STUDY_VERSION,
        "study_id": study_id,
        "choices": list(CHOICES),
        "dimensions": dimensions,
        "items": [{"item_id": r["item_id"], "a": r["session_a"], "b": r["session_b"]} for r in rows],
        "annotators": {name: hashlib.sha256(token.encode()).hexdigest() for name, token in tokens.items()},
    }
    _write_json(app / STUDY_FILE, blinded)
    _write_json(app / "sessions.json", sessions)
    _write_app_files(app)
    if (out / APP_DIR / CONFIG_FILE).is_file():  # the Space's answers setting (`pairwise annotate --push`) stays
        shutil.copy2(out / APP_DIR / CONFIG_FILE, app / CONFIG_FILE)
    return study_id, tokens


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_app_files(app: Path) -> None:
    """The annotation app as a Space folder: its two modules (standard library and gradio only), a launcher, the
    requirements and the Space card."""
    from mirror_hf.pairwise.space import space_files

    package = resources.files("mirror_hf.pairwise")
    for name in APP_FILES:
        (app / name).write_text((package / name).read_text(encoding="utf-8"), encoding="utf-8")
    for name, text in space_files().items():
        (app / name).write_text(text, encoding="utf-8")


def _write_manifest(folder: Path, rows: list[dict], study: dict) -> None:
    from datasets import Dataset

    from mirror_hf.cards import render_study_card
    from mirror_hf.progress import datasets_bars
    from mirror_hf.schema import ITEM_FEATURES

    shard = folder / ITEMS_SHARD
    shard.parent.mkdir(parents=True, exist_ok=True)
    with datasets_bars(enabled=False):
        Dataset.from_list(rows, features=ITEM_FEATURES).to_parquet(str(shard))
    (folder / "README.md").write_text(render_study_card(study), encoding="utf-8")


def _check_no_orphans(out: Path, study_id: str) -> None:
    """Another study may not replace one that has answers: they would answer items that no longer exist."""
    if not (out / STUDY_FILE).is_file():
        return
    try:
        before = json.loads((out / STUDY_FILE).read_text(encoding="utf-8")).get("study_id")
    except (json.JSONDecodeError, AttributeError):
        before = None
    saved = [p for d in (ANSWERS_DIR, JUDGES_DIR) for p in sorted((out / d).glob("*.jsonl"))]
    if before != study_id and saved:
        raise MirrorError(
            f"{out} holds answers to study {before} ({saved[0].relative_to(out)}, ...); this sample is another "
            f"study ({study_id}), so nothing was changed",
            fix="give a new --out for the new study, or the same runs, --n, --by, --resistance and --seed",
        )


def _swap_in(staging: Path, out: Path) -> None:
    """Replace what an earlier sample wrote in ``out`` by ``staging``; answers and judgements stay where they are."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (APP_DIR, "data", STUDY_FILE, LINKS_FILE, "README.md"):
        old = out / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
        if (staging / name).exists():
            (staging / name).rename(old)
    shutil.rmtree(staging)


def read_study(folder: str | Path) -> dict:
    """``study.json`` of a study folder, checked to be one this version of mirror-hf reads."""
    path = Path(folder) / STUDY_FILE
    if not path.is_file():
        raise MirrorError(
            "not a pairwise study folder (no study.json)",
            file=str(folder),
            fix="give the --out folder of `mirror-hf pairwise sample`",
        )
    try:
        study = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise MirrorError(f"not JSON ({err})", file=str(path), fix="sample the study again") from None
    if not isinstance(study, dict) or study.get("format") != STUDY_FORMAT:
        raise MirrorError("this study.json is not a mirror-hf pairwise study", file=str(path))
    if study.get("version") != STUDY_VERSION:
        raise MirrorError(
            f"the study was written in format version {study.get('version')}; this mirror-hf reads version "
            f"{STUDY_VERSION}",
            file=str(path),
            fix="use the mirror-hf version that sampled it (its answers stay valid), or sample the study again",
        )
    return study


def read_items(folder: str | Path) -> list[dict]:
    """The manifest's rows (resistance as its name)."""
    import pyarrow.parquet as pq

    shard = Path(folder) / ITEMS_SHARD
    if not shard.is_file():
        raise MirrorError(f"the {ITEMS_CONFIG} manifest is missing", file=str(shard), fix="sample the study again")
    rows = pq.read_table(shard).to_pylist()
    for row in rows:
        if isinstance(row["resistance"], int):
            row["resistance"] = RESISTANCE_TYPES[row["resistance"]]
    return rows


__all__ = ["blind_ids", "read_items", "read_study", "sample_study", "write_study"]
