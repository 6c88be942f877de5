"""A therapist on real sessions (paper §6.4, Figure 6): at every therapist turn of a transcript that follows a client
turn, the therapist gets the real conversation so far (the last utterances its protocol keeps), the client's face
at that client turn (:mod:`.frames`) and what is known of the client, and answers; its answer stands beside what the
real therapist said. Each answer is appended to ``OUT/turns.jsonl`` as it comes (a rerun answers only what is
missing or failed); the run ends with a dataset (one row per turn, the face embedded), its card, one HTML page per
session laid out like Figure 6, and ``video_report.json``.

What is known of an AnnoMI client: nothing personal. The therapist's profile fields are filled as
``personal_info = ""`` and ``reason_for_seeking_counseling = `` the transcript's ``topic`` (e.g. "reducing alcohol
consumption"), or what ``profiles`` gives per transcript id.

Example:
    >>> report = asyncio.run(run_videos(transcripts, videos, therapist, "out/"))            # doctest: +SKIP
    >>> report["turns"], report["failed"]                                                    # doctest: +SKIP
    (412, 0)
"""

from __future__ import annotations

import asyncio
import html
import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.journal import append_record, read_records, trim_torn_tail
from mirror_hf.llm import BackendError
from mirror_hf.schema import VIDEO_REPORT_FILE, VIDEO_SHARD
from mirror_hf.video.frames import FrameSettings, extract_faces
from mirror_hf.video.transcripts import Transcript

TURNS_FILE, PAGES_DIR = "turns.jsonl", "pages"
REPORT_FILE = VIDEO_REPORT_FILE


@dataclass
class Line:
    """An utterance as the therapist's history renders it."""

    speaker: str
    text: str


SELECTABLE = ("transcript_id", "video_url", "mi_quality", "topic", "video_title")


def _field(transcript: Transcript, key: str):
    return getattr(transcript, key) if key in ("transcript_id", "video_url") else transcript.fields.get(key)


def select(transcripts: list[Transcript], rules: list[str]) -> list[Transcript]:
    """The transcripts matching every ``KEY=VALUE[|VALUE...]`` rule, KEY one of :data:`SELECTABLE`."""
    keep = transcripts
    for rule in rules:
        key, sep, values = rule.partition("=")
        if not sep or not values:
            raise MirrorError(f"--select {rule!r}", fix="write KEY=VALUE, e.g. mi_quality=high or transcript_id=3|7")
        if key not in SELECTABLE:
            raise MirrorError(f"--select {key!r}", fix=f"select by {', '.join(SELECTABLE)}")
        wanted = set(values.split("|"))
        keep = [t for t in keep if _field(t, key) in wanted]
    return keep


def profile_of(transcript: Transcript, profiles: dict | None) -> dict:
    given = (profiles or {}).get(transcript.transcript_id) or {}
    return {
        "idx": transcript.transcript_id,
        "personal_info": given.get("personal_info", ""),
        "reason_for_seeking_counseling": given.get(
            "reason_for_seeking_counseling", transcript.fields.get("topic") or ""
        ),
    }


def answer_points(transcript: Transcript) -> list[int]:
    """Indices of the therapist utterances that follow a client utterance."""
    u = transcript.utterances
    return [k for k in range(1, len(u)) if u[k].speaker == "therapist" and u[k - 1].speaker == "client"]


async def _answer_transcript(transcript, video, therapist, out, *, settings, finder, box, profiles, done, locks):
    from PIL import Image

    from mirror_hf.therapist import MalformedTherapistTurn, Plan, UpstreamCrash

    async with locks[
        "frames"
    ]:  # one video decoded at a time: the detector is not thread-safe, and the CPU is shared anyway
        records = await asyncio.to_thread(
            extract_faces, transcript, video, out, settings=settings, finder=finder, box=box
        )
    faces = {r["utterance_id"]: r for r in records}
    session = therapist.start(profile_of(transcript, profiles))
    earlier = [r for r in done.values() if r["transcript_id"] == transcript.transcript_id and r["plan"]]
    if earlier and therapist.variant == "planning":  # P keeps the plan of its first turn: a resumed session too
        last = max(earlier, key=lambda r: r["utterance_id"])
        session.plan = Plan(last["technique"] or "", last["plan"], last["plan"])
    counts = Counter()
    for k in answer_points(transcript):
        utterance, client = transcript.utterances[k], transcript.utterances[k - 1]
        if (transcript.transcript_id, utterance.utterance_id) in done:
            continue
        face = faces[client.utterance_id]
        history = [Line(u.speaker, u.text) for u in transcript.utterances[:k]]
        record = {
            "transcript_id": transcript.transcript_id,
            "utterance_id": utterance.utterance_id,
            "client_utterance_id": client.utterance_id,
            "client_text": client.text,
            "face": face["image"],
            "face_found": face["face_found"],
            "frame_time": face["time"],
            "real_therapist": utterance.text,
            # what the therapist was shown of the conversation (its protocol's window), for a pairwise study later
            "context": [
                {"utterance_id": u.utterance_id, "speaker": u.speaker, "text": u.text}
                for u in transcript.utterances[max(0, k - therapist.protocol.history_window) : k]
            ],
            "answer": None,
            "caption": None,
            "technique": None,
            "plan": None,
            "failure": None,
        }
        try:
            with Image.open(out / face["image"]) as image:
                answer = await session.respond(history, image.convert("RGB"))
            record.update(answer=answer.text, caption=answer.caption)
            if answer.plan is not None:
                record.update(technique=answer.plan.technique, plan=answer.plan.plan)
        except BackendError as err:
            record["failure"] = f"backend: {err}"
        except (MalformedTherapistTurn, UpstreamCrash) as err:  # the turn fails; the session goes on
            record["failure"] = f"{type(err).__name__}: {err}"
        async with locks["journal"]:
            append_record(out / TURNS_FILE, record)
        counts["failed" if record["failure"] else "answered"] += 1
    return counts


async def run_videos(
    transcripts: list[Transcript],
    videos: dict[str, Path],
    therapist,
    out: str | Path,
    *,
    settings: FrameSettings = FrameSettings(),
    finder=None,
    boxes: dict[str, tuple] | None = None,
    profiles: dict | None = None,
    concurrency: int = 4,
    notes: dict | None = None,
) -> dict:
    """Answer every answer point of every transcript that has a video; see the module's docstring."""
    from datasets.utils.tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    journal = out / TURNS_FILE
    trim_torn_tail(journal)
    done = {
        (r["transcript_id"], r["utterance_id"]): r
        for r in read_records(journal, key=lambda r: (r["transcript_id"], r["utterance_id"]))
        if not r["failure"]
    }
    playable = [t for t in transcripts if t.transcript_id in videos]
    semaphore, locks = asyncio.Semaphore(concurrency), {"frames": asyncio.Lock(), "journal": asyncio.Lock()}
    bar = tqdm(total=len(playable), desc="Sessions", unit="session")

    async def one(transcript):
        async with semaphore:
            box = _box(boxes, transcript, videos[transcript.transcript_id])
            result = await _answer_transcript(
                transcript, videos[transcript.transcript_id], therapist, out,
                settings=settings, finder=finder, box=box, profiles=profiles, done=done, locks=locks,
            )  # fmt: skip
        bar.update()
        return result

    try:
        await asyncio.gather(*(one(t) for t in playable))
    finally:
        bar.close()
    return write_video_dataset(out, transcripts=playable, therapist=therapist.id, notes=notes or {})


def _box(boxes: dict | None, transcript: Transcript, video: Path):
    """A crop box given for the transcript, or for its video file (by name)."""
    boxes = boxes or {}
    return boxes.get(transcript.transcript_id) or boxes.get(video.name)


def _words(text: str | None) -> int:
    return len((text or "").split())


def write_video_dataset(out: str | Path, *, transcripts, therapist: str, notes: dict) -> dict:
    """The dataset (parquet + card), the HTML pages and the report, from ``turns.jsonl``."""
    from datasets import Dataset

    from mirror_hf.cards import render_video_card
    from mirror_hf.progress import datasets_bars
    from mirror_hf.schema import VIDEO_TURN_FEATURES

    out = Path(out)
    records = read_records(out / TURNS_FILE, key=lambda r: (r["transcript_id"], r["utterance_id"]))
    order = {t.transcript_id: n for n, t in enumerate(transcripts)}
    records.sort(key=lambda r: (order.get(r["transcript_id"], len(order)), r["utterance_id"]))
    rows = [
        {
            **{k: v for k, v in r.items() if k != "context"},
            "face": {"bytes": (out / r["face"]).read_bytes(), "path": r["face"]},
        }
        for r in records
    ]
    shard = out / VIDEO_SHARD
    shard.parent.mkdir(parents=True, exist_ok=True)
    with datasets_bars(enabled=False):
        Dataset.from_list(rows, features=VIDEO_TURN_FEATURES).to_parquet(str(shard))
    answered = [r for r in records if not r["failure"]]
    report = {
        "therapist": therapist,
        "sessions": len({r["transcript_id"] for r in records}),
        "turns": len(records),
        "answered": len(answered),
        "failed": len(records) - len(answered),
        "faces_not_found": sum(not r["face_found"] for r in records),
        "words_per_turn": {
            "model": _stats([_words(r["answer"]) for r in answered]),
            "real_therapist": _stats([_words(r["real_therapist"]) for r in answered]),
        },
        **notes,
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(render_video_card(report), encoding="utf-8")
    write_pages(out, records, therapist)
    return report


def _stats(values: list[int]) -> dict:
    if not values:
        return {"mean": None, "median": None, "max": None}
    return {"mean": statistics.fmean(values), "median": statistics.median(values), "max": max(values)}


def write_pages(out: Path, records: list[dict], therapist: str) -> list[Path]:
    """One page per session, as Figure 6: the client's face and line, the caption, the model's answer beside the
    real therapist's."""
    pages = out / PAGES_DIR
    pages.mkdir(exist_ok=True)
    by_session: dict[str, list[dict]] = {}
    for r in records:
        by_session.setdefault(r["transcript_id"], []).append(r)
    written = []
    for tid, rows in by_session.items():
        blocks = []
        for r in rows:
            caption = f'<p class="caption">Caption: {html.escape(r["caption"])}</p>' if r["caption"] else ""
            model = (
                html.escape(r["answer"]) if r["answer"] is not None else f"<em>{html.escape(r['failure'] or '')}</em>"
            )
            blocks.append(
                f'<section class="turn" id="u{r["utterance_id"]}"><img src="../{html.escape(r["face"])}" '
                f'alt="client face at {r["frame_time"]:.1f} s" width="168" height="168">'
                f'<div><p class="client"><b>Client:</b> {html.escape(r["client_text"])}</p>{caption}'
                f'<div class="pair"><p class="model"><b>{html.escape(therapist)}:</b> {model}</p>'
                f'<p class="real"><b>Real therapist:</b> {html.escape(r["real_therapist"])}</p></div></div></section>'
            )
        page = pages / f"{tid}.html"
        page.write_text(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>Transcript {html.escape(tid)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>Transcript {html.escape(tid)}</h1>{''.join(blocks)}</body></html>\n",
            encoding="utf-8",
        )
        written.append(page)
    return written


_STYLE = (
    "body{font-family:sans-serif;max-width:70em;margin:1em auto}.turn{display:flex;gap:1em;margin:1em 0;"
    "border-bottom:1px solid #ddd;padding-bottom:1em}.pair{display:flex;gap:1em}.pair p{flex:1;background:#f4f6f8;"
    "padding:.5em;border-radius:6px}.caption{font-style:italic;color:#555}"
)


__all__ = ["answer_points", "profile_of", "run_videos", "select", "write_video_dataset"]
