"""A pairwise study of a therapist against the real one, on real sessions: from a ``mirror-hf video`` folder, each
item is one turn — the conversation the model was shown (with the client's faces) ending once with the model's
answer and once with what the real therapist said, sides drawn at random. Annotated, judged and reported like any
study (:mod:`.study`); the "models" are the therapist's label and ``real therapist``, and a case is a transcript (the
bootstrap resamples clients, not turns).

Example:
    >>> sample_video_study("annomi-pec/", "study-real/", n=100, label="MIRROR-LLaVA_P+EC")       # doctest: +SKIP
    {'format': 'mirror-hf pairwise study', ..., 'items': 100}
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.journal import read_records
from mirror_hf.pairwise.study import blind_ids, write_study
from mirror_hf.schema import VIDEO_REPORT_FILE

REAL = "real therapist"


def sample_video_study(
    folder: str | Path, out: str | Path, *, n: int = 200, seed: int = 0, label: str | None = None, annotators=()
) -> dict:
    """``n`` answered turns of the ``mirror-hf video`` folder ``folder`` as A/B items into ``out``."""
    folder = Path(folder)
    report_file = folder / VIDEO_REPORT_FILE
    if not report_file.is_file():
        raise MirrorError("not a `mirror-hf video` folder (no video_report.json)", file=str(folder))
    report = json.loads(report_file.read_text(encoding="utf-8"))
    label = label or report.get("therapist") or "model"
    if label == REAL:
        raise MirrorError(f"--label {REAL!r} is the other side's name", fix="name the model otherwise")
    turns = read_records(folder / "turns.jsonl", key=lambda r: (r["transcript_id"], r["utterance_id"]))
    turns = [t for t in turns if t["answer"] is not None and not t["failure"] and "context" in t]
    if len(turns) < n:
        raise MirrorError(
            f"{folder} has {len(turns)} answered turns (with their context); {n} were asked for",
            fix=f"use --n {len(turns)} or fewer (a folder made before contexts were recorded: run mirror-hf video "
            "again into a new folder)",
        )
    faces = {
        (r["transcript_id"], r["utterance_id"]): folder / r["image"]
        for r in read_records(folder / "frames.jsonl", key=lambda r: (r["transcript_id"], r["utterance_id"]))
    }
    rng = random.Random(seed)
    chosen = rng.sample(sorted(turns, key=lambda t: (t["transcript_id"], t["utterance_id"])), n)
    blind = iter(blind_ids(2 * n, rng))
    rows, shown = [], []
    for k, turn in enumerate(chosen, 1):
        history = [
            {"speaker": u["speaker"], "text": u["text"], "image": _face(faces, turn["transcript_id"], u)}
            for u in turn["context"]
        ]
        sides = [(label, turn["answer"]), (REAL, turn["real_therapist"])]
        swapped = rng.random() < 0.5
        if swapped:
            sides.reverse()
        ids = [next(blind), next(blind)]
        for blind_id, (_, text) in zip(ids, sides, strict=True):
            shown.append((blind_id, {"turns": [*history, {"speaker": "therapist", "text": text, "image": None}]}))
        rows.append(
            {
                "item_id": f"i{k:04d}",
                "profile_idx": turn["transcript_id"],  # the case: one client
                "resistance": None,
                "model_a": sides[0][0],
                "model_b": sides[1][0],
                "session_a": ids[0],
                "session_b": ids[1],
                "swapped": swapped,
            }
        )
    about = {
        "design": {"n": n, "seed": seed, "source": "video", "pairs": f"{label} against the {REAL}, turn by turn"},
        "runs": {
            label: {"path": str(folder), "settings": {"protocol": report.get("protocol")}},
            REAL: {"path": str(folder), "settings": None},
        },
        "cases": len({r["profile_idx"] for r in rows}),
        "per_resistance": {},
    }
    return write_study(out, rows, shown, about, annotators)


def _face(faces: dict, transcript_id: str, utterance: dict) -> bytes | None:
    path = faces.get((transcript_id, utterance["utterance_id"])) if utterance["speaker"] == "client" else None
    return path.read_bytes() if path is not None and path.is_file() else None


__all__ = ["REAL", "sample_video_study"]
