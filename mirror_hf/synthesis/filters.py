"""The paper's dialogue filters (§3.4), as the authors coded them where the code exists and as the paper states them
where it does not, with a rejection-rate report to hold against the paper's numbers.

- ``basic``: 4 to 20 turns, counted as the release counts them (``len(utterances) / 2``, the paper's Table 1 "turns",
  10.3 on average); no utterance over 100 words (the paper; not in the code); no utterance whose distinct words are
  under half its words; no empty or filler-only therapist line; and the two speakers, therapist and client (the
  authors' speaker-count check was a no-op: it checks here).
- ``pos_repetition``: no utterance with more than 3 identical part-of-speech tags in a row, tagged as the authors'
  notebook tagged them (NLTK's perceptron on ``[direction] statement``, a bracket or curly quote breaking a run;
  spaCy and the statement alone as options: :mod:`mirror_hf.synthesis.pos`).
- ``copy_paste``: no sentence of the profile or plan (personal information, personality, reason for counseling,
  distorted thought, CBT plan) appears verbatim in an utterance, as the authors' notebook matched them
  (``mirror/notebook/filter_generated_dialogue.ipynb``, cells 29-31: split after ``.``, ``!`` or ``?``, found as
  it is in the statement, case and length as they come, sentences starting ``0.`` to ``10.`` left out). Options of
  ours: ``copy_paste_fold_case`` (case, spacing and curly quotes aside) and ``copy_paste_min_words`` (4 keeps
  ``Thursday.`` from counting as a copy).
- ``canary``: no therapist utterance that Canary labels ``__needs_caution__`` or ``__needs_intervention__``
  (:mod:`mirror_hf.synthesis.canary`; the authors labelled client turns, a bug).
- ``wai``: the mean of the 12 WAI items (:mod:`mirror_hf.judges.wai`) mapped onto 0-1 by ``(mean - 1) / 4`` must
  reach 0.3 (the paper names the threshold, not the mapping). The judge sees the statements, not stage directions.
  It runs last, on the dialogues the other filters kept (12 judge calls a dialogue), unless ``wai_all``.
- image checks (``clip``, ``nsfw``, ``identity``, ``gender``, ``age``: :mod:`mirror_hf.synthesis.checks`, each a
  filter of its own): every client turn's face in the built dataset must pass, as the authors filtered the faces
  they drew once (their code: CLIP, NSFW, DeepFace's face, gender, age and identity).
- ``faces``: no client turn whose face was rejected by ``mirror-hf synthesize faces`` (its ``faces.jsonl``): a
  dialogue is dropped when any of its images fails (the authors' rule). The report also gives each check's failure
  rate on the first face drawn, the number comparable with the paper's, which drew one face per turn.

Every result is appended to ``filters.jsonl`` as it is found (one line per dialogue and filter, with the settings
it was found with), so a rerun does only what is missing, failed or found under other settings. The report
(``filter_report.json`` / ``.md``) names the rejected dialogues and their reasons; ``mirror-hf build --filters DIR``
leaves them out of every config.

Example:
    >>> dialogue = {"idx": "cactus-1-no-resistance", "personal_info": "Ann is a nurse.", "turns": [
    ...     {"speaker": "therapist", "statement": "Hello Ann."}, {"speaker": "client", "statement": "Hi."}]}
    >>> basic_problems(dialogue)
    ['1 turns (len(utterances) / 2) < 4']
    >>> longest_run(["PRP", "RB", "RB", "RB", "RB", "JJ"])
    (4, 'RB', 1)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.journal import append_records, read_records, trim_torn_tail
from mirror_hf.judges.stats import valid_mean
from mirror_hf.schema import FILTER_REPORT_FILE
from mirror_hf.synthesis.canary import UNSAFE_LABELS
from mirror_hf.synthesis.faces import FACES_FILE
from mirror_hf.synthesis.pos import turn_text
from mirror_hf.synthesis.settings import FILTERS, REJECTED_BEFORE, RULE_FILTERS, FilterRules

FILTERS_FILE = "filters.jsonl"
FILTER_MARKDOWN_FILE = "filter_report.md"

# Paper §3.4, share rejected by each filter (%). Basic and POS repetition are reported together.
PAPER_REJECTED_PERCENT = {
    "clip": 2.95,
    "identity": 66.05,
    "gender": 15.39,
    "basic + pos_repetition": 1.03,
    "copy_paste": 1.36,
    "wai": 10.01,
    "canary": 1.09,
}
# The authors' notebook: dialogues dropped by each filter, of 41,223 before filtering.
NOTEBOOK_DROPPED = {"before filtering": 41223, "pos_repetition": 424, "canary": 452, "clip": 1217, "nsfw": 3218}

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# words a filler-only line is made of ("mm-hmm" reads as mm, hmm)
_FILLERS = {"um", "uh", "huh", "hmm", "hm", "mm", "mhm", "er", "ah", "oh", "okay", "ok", "so", "well"}
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower().translate(_QUOTES))


def basic_problems(dialogue: dict, rules: FilterRules = FilterRules()) -> list[str]:
    """Why ``dialogue`` (a row of the ``dialogues`` config) fails the basic filter; empty when it passes."""
    turns = dialogue["turns"]
    problems = []
    count = len(turns) / 2
    if count < rules.min_turns:
        problems.append(f"{count:g} turns (len(utterances) / 2) < {rules.min_turns:g}")
    if count > rules.max_turns:
        problems.append(f"{count:g} turns (len(utterances) / 2) > {rules.max_turns:g}")
    speakers = {turn["speaker"] for turn in turns}
    if speakers != {"therapist", "client"}:
        problems.append(f"speakers {sorted(speakers)}, not therapist and client")
    for t, turn in enumerate(turns):
        found = words(turn.get("statement"))
        if len(found) > rules.max_words:
            problems.append(f"turn {t}: {len(found)} words > {rules.max_words}")
        if found and len(set(found)) / len(found) < rules.min_distinct_share:
            problems.append(f"turn {t}: {len(set(found))} distinct of {len(found)} words")
        if turn["speaker"] == "therapist" and not set(found) - _FILLERS:
            problems.append(f"turn {t}: empty or filler therapist line {turn.get('statement')!r}")
    return problems


def longest_run(tags: list[str | None]) -> tuple[int, str | None, int]:
    """(length, tag, start) of the longest run of one tag; a ``None`` tag (a bracket or curly quote) breaks runs."""
    best, run = (0, None, 0), (0, None, 0)
    for i, tag in enumerate(tags):
        if tag is None:
            run = (0, None, i)
            continue
        run = (run[0] + 1, tag, run[2]) if tag == run[1] else (1, tag, i)
        if run[0] > best[0]:
            best = run
    return best


def pos_problems(tags: list[list[str | None]], rules: FilterRules = FilterRules()) -> list[str]:
    """``tags``: each turn's part-of-speech tags (of :func:`~mirror_hf.synthesis.pos.turn_text`), in turn order."""
    problems = []
    for t, turn_tags in enumerate(tags):
        length, tag, start = longest_run(turn_tags)
        if length > rules.max_pos_run:
            problems.append(f"turn {t}: {length} {tag} tags in a row from token {start}")
    return problems


def _normalized(text: str) -> str:
    return " ".join(text.lower().translate(_QUOTES).split()).strip(" .!?;:,")


_AUTHORS_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")  # the notebook's split_into_sentences (cell 29)
_PLAN_STEP = tuple(f"{n}." for n in range(11))  # cell 31: a sentence starting "0." to "10." is not matched


def copy_paste_problems(dialogue: dict, rules: FilterRules = FilterRules()) -> list[str]:
    """Profile or plan sentences an utterance repeats verbatim: as the authors' notebook matched them (exact, any
    length, plan step numbers aside), or with ``copy_paste_fold_case`` and ``copy_paste_min_words``, ours."""
    same = _normalized if rules.copy_paste_fold_case else str
    sources = []
    for field in rules.copy_paste_fields:
        for sentence in _AUTHORS_SENTENCE_END.split(dialogue.get(field) or ""):
            sentence = sentence.strip()
            if not sentence or sentence.startswith(_PLAN_STEP) or len(words(sentence)) < rules.copy_paste_min_words:
                continue
            sources.append((field, same(sentence)))
    problems = []
    for t, turn in enumerate(dialogue["turns"]):
        statement = same(turn.get("statement") or "")
        for field, sentence in sources:
            if sentence and sentence in statement:
                problems.append(f"turn {t} repeats {field}: {sentence!r}")
    return problems


def wai_transcript(dialogue: dict) -> list[dict]:
    """The turns a WAI judge reads: role and statement (turns without one, e.g. a silent client, left out)."""
    return [
        {"role": turn["speaker"], "content": turn["statement"]}
        for turn in dialogue["turns"]
        if (turn.get("statement") or "").strip()
    ]


def read_face_verdicts(faces_dir: str | Path) -> dict[str, dict]:
    """idx -> {"rejected": {turn: [checks failed by its last face]}, "first_failed": {turn: [checks its first face
    failed]}} from the ``faces.jsonl`` of ``mirror-hf synthesize faces``."""
    path = Path(faces_dir) / FACES_FILE
    if not path.is_file():
        raise MirrorError("no faces journal here", file=str(path), fix="give the --out folder of synthesize faces")
    verdicts: dict[str, dict] = {}
    for record in read_records(path, key=lambda r: (r["idx"], r["turn"])):
        entry = verdicts.setdefault(record["idx"], {"rejected": {}, "first_failed": {}})
        if record["status"] == "rejected":
            entry["rejected"][record["turn"]] = [c["name"] for c in record.get("checks", []) if not c["passed"]]
        if record.get("first_failed") is not None:
            entry["first_failed"][record["turn"]] = record["first_failed"]
    return verdicts


def _settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def filter_dialogues(
    dialogues: list[dict],
    out_dir: str | Path,
    *,
    filters: tuple[str, ...] = RULE_FILTERS,
    rules: FilterRules = FilterRules(),
    tagger=None,
    canary=None,
    judge=None,
    wai_items=None,
    wai_reasks: int = 3,
    wai_all: bool = False,
    faces_dir: str | Path | None = None,
    image_checks=(),
    turn_faces: TurnFaces | None = None,
    chunk: int = 32,
    progress: bool = True,
) -> dict:
    """Run ``filters`` over ``dialogues`` (rows of the ``dialogues`` config, without images) into
    ``out_dir/filters.jsonl``, then write and return the report.

    ``tagger`` (:mod:`mirror_hf.synthesis.pos`), ``canary`` (:class:`~mirror_hf.synthesis.canary.Canary`),
    ``judge`` (a chat back-end for WAI) and ``faces_dir`` are needed by the filters that use them; ``wai_reasks``
    re-asks of an unreadable judgement. WAI, the paper's last filter and the costly one, judges only the dialogues
    the other filters kept, unless ``wai_all``.
    ``image_checks`` (:mod:`mirror_hf.synthesis.checks`) run on the turn faces ``turn_faces`` reads, each a filter
    of its own name: the authors' image filtering of drawn faces. Results are appended ``chunk`` dialogues at a time.
    """
    from datasets.utils.tqdm import tqdm

    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise MirrorError(f"unknown filter(s) {unknown}", fix=f"use some of {','.join(FILTERS)}")
    needs = {"pos_repetition": tagger, "canary": canary, "wai": judge, "faces": faces_dir}
    missing = [name for name, given in needs.items() if name in filters and given is None]
    missing += ["image checks"] if image_checks and turn_faces is None else []
    if missing:
        raise MirrorError(f"filter(s) {missing} need their model or folder", fix="give them, or leave them out")
    seen = Counter(d["idx"] for d in dialogues)
    repeated = [idx for idx, n in seen.items() if n > 1]
    if repeated:
        raise MirrorError(f"dialogue ids appear more than once: {repeated[:5]}", fix="give each dialogue once")

    faces = read_face_verdicts(faces_dir) if "faces" in filters else None  # read first: a wrong folder fails fast
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    journal = out / FILTERS_FILE
    trim_torn_tail(journal)
    settings = {name: rules.settings(name) for name in filters if name != "faces"}
    if "pos_repetition" in filters:
        settings["pos_repetition"]["tagger"] = tagger.id
    if "canary" in filters:
        settings["canary"]["model"] = canary.id
    items = None
    if "wai" in filters:
        items = wai_items or _default_wai_items()
        settings["wai"] = {"judge": judge.id, "items": [asdict(i) for i in items]}
    settings.update({check.name: check.settings for check in image_checks})
    keys = {name: _settings_key(value) for name, value in settings.items()}
    current = [r for r in read_records(journal, _record_key) if keys.get(r["filter"]) == r["settings"]]
    done = {(r["idx"], r["filter"]) for r in current if not r.get("failure")}
    wai_tried = {r["idx"]: r.get("tries", 0) for r in current if r["filter"] == "wai" and r.get("failure")}

    def line(dialogue: dict, name: str, result: dict) -> dict:
        return {"idx": dialogue["idx"], "filter": name, "settings": keys[name], **result}

    def run(name: str, todo: list[dict], loop=None) -> None:
        bar = tqdm(
            total=len(dialogues), initial=len(dialogues) - len(todo), desc=f"Filter {name}", unit="dialogue",
            disable=not progress,
        )  # fmt: skip
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            found = _check(name, part, rules, tagger, canary, judge, (items, wai_reasks, wai_tried, loop))
            append_records(journal, [line(d, name, r) for d, r in zip(part, found, strict=True)])  # one fsync a chunk
            bar.update(len(part))
        bar.close()

    ids = [d["idx"] for d in dialogues]
    text_filters = [f for f in filters if f not in ("faces", "wai")]
    for name in text_filters:
        run(name, [d for d in dialogues if (d["idx"], name) not in done])
    names = [check.name for check in image_checks]
    if names:  # one pass over the faces for all the checks: each face is decoded once
        todo = [d for d in dialogues if any((d["idx"], name) not in done for name in names)]
        bar = tqdm(
            total=len(dialogues), initial=len(dialogues) - len(todo), desc="Image checks", unit="dialogue",
            disable=not progress,
        )  # fmt: skip
        for d in todo:
            missing = [check for check in image_checks if (d["idx"], check.name) not in done]
            found = check_turn_faces(d, missing, *turn_faces.get(d["idx"]))
            append_records(journal, [line(d, name, result) for name, result in found.items()])
            bar.update()
        bar.close()
    before_wai = (*text_filters, *names, *(("faces",) if faces is not None else ()))
    if "wai" in filters:
        todo = [d for d in dialogues if (d["idx"], "wai") not in done]
        if not wai_all:  # the paper's last filter, and the costly one: only for what the others kept
            records = read_records(journal, _record_key)
            dropped = build_filter_report(ids, records, before_wai, rules, keys, faces)["rejected_dialogues"]
            todo = [d for d in todo if d["idx"] not in dropped]
        loop = asyncio.new_event_loop()  # one loop for all WAI chunks: the back-end's clients live on it
        try:
            run("wai", todo, loop)
        finally:
            loop.close()
    ran = (*before_wai, *(("wai",) if "wai" in filters else ()))
    report = build_filter_report(ids, read_records(journal, _record_key), ran, rules, keys, faces)
    write_filter_report(report, out)
    return report


def _record_key(record: dict) -> tuple[str, str]:
    return record["idx"], record["filter"]


def _check(name: str, part: list[dict], rules: FilterRules, tagger, canary, judge, wai) -> list[dict]:
    """The journal fields (``problems``, and what else the filter found) of each dialogue of ``part``."""
    if name == "basic":
        return [{"problems": basic_problems(d, rules)} for d in part]
    if name == "copy_paste":
        return [{"problems": copy_paste_problems(d, rules)} for d in part]
    if name == "pos_repetition":
        tags = iter(tagger.tags([turn_text(turn, rules.pos_text) for d in part for turn in d["turns"]]))
        return [{"problems": pos_problems([next(tags) for _ in d["turns"]], rules)} for d in part]
    if name == "canary":
        return _canary_check(part, canary, rules)
    items, reasks, tried, loop = wai
    return loop.run_until_complete(_wai_check(part, judge, items, reasks, tried))


def _default_wai_items():
    from mirror_hf.judges.wai import WAI_ITEMS

    return WAI_ITEMS


def _canary_check(part: list[dict], canary, rules: FilterRules) -> list[dict]:
    jobs = [
        (d["idx"], t, turn["statement"])
        for d in part
        for t, turn in enumerate(d["turns"])
        if turn["speaker"] in rules.canary_speakers and (turn.get("statement") or "").strip()
    ]
    labels: dict[str, dict[int, str | None]] = {d["idx"]: {} for d in part}
    for (idx, t, _), label in zip(jobs, canary.labels([text for *_, text in jobs]), strict=True):
        labels[idx][t] = label
    return [
        {
            "problems": [f"turn {t}: {label}" for t, label in labels[d["idx"]].items() if label in UNSAFE_LABELS],
            "labels": {str(t): label for t, label in labels[d["idx"]].items()},
        }
        for d in part
    ]


async def _wai_check(part: list[dict], judge, items, reasks: int, tried: dict[str, int]) -> list[dict]:
    """WAI's journal fields for each dialogue of ``part``; ``tried``: the tries per item a past run spent on the
    dialogues it could not judge (their retry goes on with new seeds, not the cached answers)."""
    from mirror_hf.judges.engine import judge_wai

    results = {}
    for first in sorted({tried.get(d["idx"], 0) for d in part}):
        group = [d for d in part if tried.get(d["idx"], 0) == first]
        sessions = [wai_transcript(d) for d in group]
        judgements = await judge_wai(
            sessions, judge, items=items, reasks=reasks, first_attempt=first, progress=False
        )  # fmt: skip
        for s, dialogue in enumerate(group):
            mine = [j for j in judgements if j.session == s]
            mean = valid_mean([j.score for j in mine])
            failures = [f"{j.item}: {j.failure}" for j in mine if j.failure]
            results[dialogue["idx"]] = {
                "problems": [],
                "score": None if math.isnan(mean) else mean,
                "items": {j.item: None if math.isnan(j.score) else j.score for j in mine},
                # retried by the next run, after the tries spent here
                "failure": "no judgement could be read: " + "; ".join(failures) if math.isnan(mean) else None,
                "tries": first + reasks + 1,
            }
    return [results[d["idx"]] for d in part]


def check_turn_faces(dialogue: dict, checks, identity, faces: dict[int, object]) -> dict[str, dict]:
    """Each check's journal fields for one dialogue: its client turns' ``faces`` ({turn: image}) checked against
    the client's ``identity`` face; a dialogue with no face (or no identity face, for the checks that need one) is
    left not judged."""
    results = {}
    for check in checks:
        if not faces or (getattr(check, "needs_identity", False) and identity is None):
            missing = "no turn faces" if not faces else "no identity face"
            results[check.name] = {"problems": [], "scores": {}, "failure": missing}
            continue
        problems, scores = [], {}
        client_turns = [t for t, turn in enumerate(dialogue["turns"]) if turn["speaker"] == "client"]
        for k, (t, face) in enumerate(sorted(faces.items())):
            said = t  # the turn whose words the face is held against
            if getattr(check, "pairing", "turn") == "authors":  # step4/clip.py: the k-th face, the k-th client turn
                if k >= len(client_turns):
                    break
                said = client_turns[k]
            turn = {"idx": dialogue["idx"], "turn": t, "identity": identity, **dialogue["turns"][said]}
            result = check(face, turn)
            if result is None:  # not applicable, e.g. CLIP on a turn without a stage direction
                continue
            scores[str(t)] = None if math.isnan(result.score) else result.score
            if not result.passed:
                problems.append(f"turn {t}: {check.name} {result.score:.3f}")
        results[check.name] = {"problems": problems, "scores": scores}
    return results


class TurnFaces:
    """idx -> (the client's identity face, {client turn: its face}) from a built ``dialogues`` config; a row's images
    are decoded only when it is asked for."""

    def __init__(self, dialogues):
        self.rows = dialogues.select_columns(["idx", "identity_image", "turns"])
        self.position = {idx: i for i, idx in enumerate(self.rows["idx"])}

    def get(self, idx: str) -> tuple[object, dict[int, object]]:
        if idx not in self.position:
            return None, {}
        row = self.rows[self.position[idx]]
        faces = {t: turn["image"] for t, turn in enumerate(row["turns"]) if turn.get("image") is not None}
        return row["identity_image"], faces


def _verdict(name: str, entry: dict | None, rules: FilterRules) -> bool | None:
    """True: passed; False: rejected; None: not judged (no result, an unreadable WAI, no face to check)."""
    if entry is None or entry.get("failure"):
        return None
    if name == "wai":
        return (entry["score"] - 1) / 4 >= rules.wai_threshold
    return not entry["problems"]


def build_filter_report(
    ids: list[str],
    records: list[dict],
    filters: tuple[str, ...],
    rules: FilterRules,
    keys: dict[str, str],
    faces: dict[str, dict] | None = None,
) -> dict:
    """Per filter: dialogues checked, rejected, not judged, the rejected share, the paper's; the rejected dialogues
    with their reasons; for faces, each check's failure rate on first faces, per turn and per dialogue."""
    by_key = {(r["idx"], r["filter"]): r for r in records if keys.get(r["filter"]) == r["settings"]}
    rejected: dict[str, dict[str, list[str]]] = {}
    not_judged: dict[str, list[str]] = {}
    per_filter = {}
    for name in filters:
        counts, why = Counter(), Counter()
        for idx in ids:
            if name == "faces":
                entry = faces.get(idx)
                verdict = None if entry is None else not entry["rejected"]
                rejected_turns = entry["rejected"].items() if entry else ()
                problems = [f"turn {t}: face rejected ({', '.join(c) or 'checks'})" for t, c in rejected_turns]
            else:
                entry = by_key.get((idx, name))
                verdict = _verdict(name, entry, rules)
                problems = list(entry["problems"]) if entry else []
                if name == "wai" and verdict is False:
                    score = entry["score"]
                    problems = [f"WAI {(score - 1) / 4:.3f} < {rules.wai_threshold} (item mean {score:.2f})"]
            if verdict is None:
                counts["not_judged"] += 1
                why[REJECTED_BEFORE if entry is None and idx in rejected else _why_not_judged(name, entry)] += 1
                not_judged.setdefault(name, []).append(idx)
                continue
            counts["checked"] += 1
            if not verdict:
                counts["rejected"] += 1
                rejected.setdefault(idx, {})[name] = problems
        per_filter[name] = {
            "checked": counts["checked"],
            "rejected": counts["rejected"],
            "not_judged": counts["not_judged"],
            "rejected_percent": round(100 * counts["rejected"] / counts["checked"], 2) if counts["checked"] else None,
            "paper_percent": PAPER_REJECTED_PERCENT.get(name),
            "not_judged_because": dict(why),
        }
    if {"basic", "pos_repetition"} <= set(filters):
        either = [i for i in ids if {"basic", "pos_repetition"} & set(rejected.get(i, {}))]
        checked = len(ids) - len(set(not_judged.get("basic", [])) | set(not_judged.get("pos_repetition", [])))
        per_filter["basic + pos_repetition"] = {
            "checked": checked,
            "rejected": len(either),
            "rejected_percent": round(100 * len(either) / checked, 2) if checked else None,
            "paper_percent": PAPER_REJECTED_PERCENT["basic + pos_repetition"],
        }
    report = {
        "dialogues": len(ids),
        "kept": len(ids) - len(rejected),
        "rejected": len(rejected),
        "rejected_percent": round(100 * len(rejected) / len(ids), 2) if ids else None,
        "filters": per_filter,
        "rules": asdict(rules),
        "rejected_dialogues": dict(sorted(rejected.items())),
        "not_judged": not_judged,
        "paper_notebook_dropped": NOTEBOOK_DROPPED,
    }
    if faces is not None:
        report["face_checks_first_face"] = _first_face_rates(ids, faces)
    return report


def _why_not_judged(name: str, entry: dict | None) -> str:
    if name == "faces":
        return "no face drawn"
    return "no result" if entry is None else entry["failure"].split(":")[0]


def _first_face_rates(ids: list[str], faces: dict[str, dict]) -> dict:
    """Each check's failure rate on the first face drawn per turn (what the authors, drawing once, rejected)."""
    turns, dialogues = Counter(), Counter()
    n_turns = n_dialogues = 0
    for idx in ids:
        first = faces.get(idx, {}).get("first_failed", {})
        if not first:
            continue
        n_dialogues += 1
        n_turns += len(first)
        for failed in first.values():
            turns.update(set(failed))
        dialogues.update({c for failed in first.values() for c in failed})
    names = sorted(set(turns) | {"clip", "nsfw", "identity", "gender", "age"})
    return {
        "turns": n_turns,
        "dialogues": n_dialogues,
        "checks": {
            c: {
                "turns_percent": round(100 * turns[c] / n_turns, 2) if n_turns else None,
                "dialogues_percent": round(100 * dialogues[c] / n_dialogues, 2) if n_dialogues else None,
                "paper_percent": PAPER_REJECTED_PERCENT.get(c),
            }
            for c in names
        },
    }


def render_filter_markdown(report: dict) -> str:
    def pct(value) -> str:
        return "–" if value is None else f"{value:.2f} %"

    lines = [
        "# Filter report",
        "",
        f"{report['dialogues']} dialogues: {report['kept']} kept, {report['rejected']} rejected "
        f"({pct(report['rejected_percent'])}).",
        "",
        "| filter | checked | rejected | rejected % | paper % | not judged |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["filters"].items():
        lines.append(
            f"| {name} | {row['checked']} | {row['rejected']} | {pct(row['rejected_percent'])} | "
            f"{pct(row['paper_percent'])} | {row.get('not_judged', '')} |"
        )
    first = report.get("face_checks_first_face")
    if first:
        lines += [
            "",
            f"Face checks on the first face drawn ({first['turns']} turns of {first['dialogues']} dialogues; the "
            "authors drew one face per turn, so these are the rates to compare):",
            "",
            "| check | turns failing % | dialogues with one % | paper % |",
            "|---|---:|---:|---:|",
        ]
        for name, row in first["checks"].items():
            lines.append(
                f"| {name} | {pct(row['turns_percent'])} | {pct(row['dialogues_percent'])} | "
                f"{pct(row['paper_percent'])} |"
            )
    dropped = report["paper_notebook_dropped"]
    lines += [
        "",
        "The paper's rates are over its 41,223 generated dialogues; the released dialogues already passed the "
        "filters, so on them a rate near 0 says the filters agree with the authors'. The authors' notebook "
        f"dropped {', '.join(f'{k} {v}' for k, v in dropped.items() if k != 'before filtering')} dialogues.",
    ]
    if report["rejected_dialogues"]:
        lines += ["", "## Rejected dialogues", ""]
        for idx, reasons in list(report["rejected_dialogues"].items())[:200]:
            why = "; ".join(f"{name}: {', '.join(p) or 'rejected'}" for name, p in reasons.items())
            lines.append(f"- `{idx}` — {why}")
        if len(report["rejected_dialogues"]) > 200:
            lines.append(f"- … {len(report['rejected_dialogues']) - 200} more in filter_report.json")
    return "\n".join(lines) + "\n"


def write_filter_report(report: dict, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"json": out / FILTER_REPORT_FILE, "markdown": out / FILTER_MARKDOWN_FILE}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_filter_markdown(report), encoding="utf-8")
    return paths


__all__ = [
    "FILTERS",
    "FILTERS_FILE",
    "FILTER_MARKDOWN_FILE",
    "FILTER_REPORT_FILE",
    "NOTEBOOK_DROPPED",
    "PAPER_REJECTED_PERCENT",
    "RULE_FILTERS",
    "FilterRules",
    "TurnFaces",
    "check_turn_faces",
    "basic_problems",
    "build_filter_report",
    "copy_paste_problems",
    "filter_dialogues",
    "longest_run",
    "pos_problems",
    "read_face_verdicts",
    "render_filter_markdown",
    "wai_transcript",
    "words",
    "write_filter_report",
]
