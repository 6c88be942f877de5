"""Real counseling transcripts in AnnoMI's columns (``AnnoMI-simple.csv``, ``AnnoMI-full.csv``, or a user's own
transcript written the same way), read as they are, with every repair counted, and each transcript's video found
among the user's files. mirror-hf ships no AnnoMI file (its licence is unstated): it reads your copy.

Rules, in order:

- Columns: ``transcript_id, utterance_id, interlocutor, timestamp, utterance_text, video_url`` are needed; any
  other column (``mi_quality``, ``topic``, ``video_title``, the labels) is kept; ``n/a`` or an empty cell is missing.
- ``AnnoMI-full.csv`` has one row per annotator of an utterance: the first row gives the text and the time, and a
  label is kept where the annotators agree (else it is missing, counted as ``labels_disagreeing``).
- Utterances are put in ``utterance_id`` order within their transcript.
- ``timestamp`` is the utterance's start, ``hh:mm:ss`` (``mm:ss`` and fractions of seconds are read too). A seconds
  field of three digits that starts with 0 (AnnoMI's ``00:09:025``) is read without that 0 (``00:09:25``) and
  counted as ``timestamps_repaired``; anything else unreadable leaves the start unknown (``timestamps_unreadable``).
  A start earlier than the one before it (AnnoMI has 8 such transcripts) is unknown too
  (``timestamps_backwards``); equal starts (two short utterances in one second) are kept. An utterance whose start
  is unknown spans from the last known start before it to the next one after it.

Example:
    >>> transcripts, counts = read_transcripts("AnnoMI-simple.csv")                     # doctest: +SKIP
    >>> len(transcripts), counts["timestamps_repaired"]                                 # doctest: +SKIP
    (133, 1)
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mirror_hf.errors import MirrorError

REQUIRED = ("transcript_id", "utterance_id", "interlocutor", "timestamp", "utterance_text", "video_url")
TRANSCRIPT_FIELDS = ("mi_quality", "video_title", "topic")
NOT_LABELS = {*REQUIRED, *TRANSCRIPT_FIELDS, "annotator_id"}
SPEAKERS = {"therapist": "therapist", "client": "client", "counselor": "therapist", "counsellor": "therapist"}
MISSING = {"", "n/a", "na", "nan"}
REPAIRS = ("timestamps_repaired", "timestamps_unreadable", "timestamps_backwards", "labels_disagreeing")
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"}
_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,3})(?:[.,](\d+))?$")
_YOUTUBE = re.compile(r"(?:youtube\.com/(?:watch\?(?:.*&)?v=|embed/|shorts/|v/)|youtu\.be/)([A-Za-z0-9_-]{11})")
_VIMEO = re.compile(r"vimeo\.com/(?:.*/)?(\d{5,})")


@dataclass
class Utterance:
    utterance_id: int
    speaker: str  # therapist | client
    text: str
    start: float | None  # seconds; None: unknown (see the rules)
    labels: dict = field(default_factory=dict)
    row: int = 0  # the CSV row it was read from (1 = the first data row)


@dataclass
class Transcript:
    transcript_id: str
    video_url: str
    utterances: list[Utterance]
    fields: dict = field(default_factory=dict)  # mi_quality, topic, video_title where given

    def span(self, k: int) -> tuple[float | None, float | None]:
        """Utterance ``k``'s start and the next known start after it (None where there is none)."""
        before = [u.start for u in self.utterances[: k + 1] if u.start is not None]
        start = before[-1] if before else None
        after = [
            u.start for u in self.utterances[k + 1 :] if u.start is not None and (start is None or u.start > start)
        ]
        return start, (after[0] if after else None)


def parse_timestamp(text: str) -> tuple[float | None, bool]:
    """(seconds, repaired) of ``hh:mm:ss[.f]`` or ``mm:ss``; (None, False) when unreadable."""
    match = _TIME.match(text.strip())
    if not match:
        return None, False
    hours, minutes, seconds, fraction = match.groups()
    repaired = len(seconds) == 3 and seconds.startswith("0")
    if len(seconds) == 3 and not repaired:
        return None, False
    seconds = seconds[1:] if repaired else seconds
    if int(minutes) > 59 or int(seconds) > 59:
        return None, False
    value = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + (float(f"0.{fraction}") if fraction else 0.0)
    return value, repaired


def _cell(value) -> str | None:
    value = (value or "").strip()
    return None if value.lower() in MISSING else value


def read_transcripts(path: str | Path) -> tuple[list[Transcript], Counter]:
    """The transcripts of an AnnoMI-format CSV, in the order they first appear, and the counts of every repair."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            rows = list(reader)
    except FileNotFoundError:
        raise MirrorError("no such transcript file", file=str(path), fix="give AnnoMI-simple.csv or your own") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise MirrorError(f"cannot read this CSV ({err})", file=str(path), fix="save it as UTF-8 CSV") from None
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise MirrorError(
            f"missing column(s) {', '.join(missing)}",
            file=str(path),
            fix=f"a transcript needs the AnnoMI columns {', '.join(REQUIRED)}",
        )
    counts: Counter = Counter()
    grouped: dict[str, dict[int, list[tuple[int, dict]]]] = {}
    for n, row in enumerate(rows, 1):
        transcript = (row["transcript_id"] or "").strip()
        if not transcript:
            raise MirrorError("no transcript_id", file=str(path), row=n, fix="give every row its transcript_id")
        try:
            utterance = int(float(row["utterance_id"]))
        except (TypeError, ValueError):
            raise MirrorError(
                f"utterance_id {row['utterance_id']!r} is not a number", file=str(path), row=n, field="utterance_id"
            ) from None
        speaker = SPEAKERS.get((row["interlocutor"] or "").strip().lower())
        if speaker is None:
            raise MirrorError(
                f"interlocutor {row['interlocutor']!r}", file=str(path), row=n, fix="write therapist or client"
            )
        row["interlocutor"] = speaker
        grouped.setdefault(transcript, {}).setdefault(utterance, []).append((n, row))
    transcripts = []
    for transcript_id, utterances in grouped.items():
        first_row = next(iter(utterances.values()))[0][1]
        urls = {(r["video_url"] or "").strip() for rows_ in utterances.values() for _, r in rows_} - {""}
        if len(urls) > 1:
            raise MirrorError(
                f"transcript {transcript_id} names {len(urls)} videos", file=str(path), fix="one per transcript"
            )
        out, last = [], None
        for utterance_id in sorted(utterances):
            annotated = utterances[utterance_id]
            n, row = annotated[0]
            start, repaired = parse_timestamp(row["timestamp"] or "")
            counts["timestamps_repaired"] += repaired
            if start is None:
                counts["timestamps_unreadable"] += 1
            elif last is not None and start < last:
                counts["timestamps_backwards"] += 1
                start = None
            last = start if start is not None else last
            labels = {}
            for column in columns:
                if column in NOT_LABELS:
                    continue
                values = {_cell(r.get(column)) for _, r in annotated}
                agreed = len(values) == 1
                labels[column] = next(iter(values)) if agreed else None
                counts["labels_disagreeing"] += not agreed
            text = (row["utterance_text"] or "").strip()
            out.append(Utterance(utterance_id, row["interlocutor"], text, start, labels, n))
        fields = {c: _cell(first_row.get(c)) for c in TRANSCRIPT_FIELDS if c in columns}
        transcripts.append(Transcript(transcript_id, urls.pop() if urls else "", out, fields))
        counts["utterances"] += len(out)
    counts["transcripts"] = len(transcripts)
    return transcripts, counts


def video_key(url: str) -> str | None:
    """The YouTube (11 characters) or Vimeo (digits) id of a video URL, None for another address."""
    for pattern in (_YOUTUBE, _VIMEO):
        match = pattern.search(url or "")
        if match:
            return match.group(1)
    return None


def find_videos(transcripts: list[Transcript], videos: str | Path, video_map: str | Path | None = None) -> dict:
    """transcript id -> its video file, from ``video_map`` (a CSV ``video_url,file``, files relative to it) or a
    file under ``videos`` whose name holds the video's YouTube/Vimeo id (as ``yt-dlp`` names them: ``Title
    [ID].mp4``). Transcripts without a video are left out (the caller lists them); transcripts sharing one video
    share its file."""
    mapped = {}
    if video_map:
        video_map = Path(video_map)
        try:
            with video_map.open(encoding="utf-8-sig", newline="") as f:
                rows = list(csv.DictReader(f))
        except FileNotFoundError:
            raise MirrorError("no such video map", file=str(video_map), fix="a CSV with video_url,file") from None
        for n, row in enumerate(rows, 1):
            if not row.get("video_url") or not row.get("file"):
                raise MirrorError("a row needs video_url and file", file=str(video_map), row=n)
            mapped[row["video_url"].strip()] = (video_map.parent / row["file"].strip()).resolve()
    files = []
    if videos:
        root = Path(videos)
        if not root.is_dir():
            raise MirrorError("no such folder of videos", file=str(root), fix="give the folder holding your videos")
        files = [p for p in sorted(root.rglob("*")) if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    found = {}
    for transcript in transcripts:
        file = mapped.get(transcript.video_url)
        key = video_key(transcript.video_url)
        if file is None and key:
            matches = [p for p in files if key in p.name]
            if len(matches) > 1:
                raise MirrorError(
                    f"transcript {transcript.transcript_id}: {len(matches)} files hold its video id {key} "
                    f"({', '.join(p.name for p in matches[:3])})",
                    fix="keep one, or name each transcript's file in a --video-map CSV",
                )
            file = matches[0] if matches else None
        if file is not None:
            if not Path(file).is_file():
                raise MirrorError("the video map names a file that is not there", file=str(file), fix="check the map")
            found[transcript.transcript_id] = Path(file)
    return found


__all__ = ["REPAIRS", "Transcript", "Utterance", "find_videos", "parse_timestamp", "read_transcripts", "video_key"]
