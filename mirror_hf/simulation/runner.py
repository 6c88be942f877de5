"""Run many sessions concurrently, append each finished one to ``sessions.jsonl``, resume after a crash, and write
a sessions dataset (parquet + card) that ``load_dataset(OUT)`` reads.

A run folder holds one therapist x variant x client under one protocol (:mod:`mirror_hf.protocol`, recorded in
``protocol.json``, the report and the card; a rerun under another protocol is refused). A session's id is its
profile's idx, so a rerun skips what is done and never duplicates; a line torn by a crash is dropped and its session
run again, and so is a session a failed call ended (``backend_error``: an outage, not an outcome of the models; its
new record replaces the old).

Example:
    >>> report = asyncio.run(run_sessions(profiles, therapist, client, "runs/sim-pec"))   # doctest: +SKIP
    >>> report["end_reasons"]                                                            # doctest: +SKIP
    {'client_ended': 412, 'turn_limit': 171, 'disengaged': 17}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from pathlib import Path

from datasets.utils.tqdm import tqdm

from mirror_hf.errors import MirrorError
from mirror_hf.journal import append_record, read_records, trim_torn_tail
from mirror_hf.llm import check_reachable
from mirror_hf.progress import datasets_bars
from mirror_hf.protocol import PROTOCOL_FILE
from mirror_hf.schema import (
    FAILURE_REASONS,
    RUN_REPORT_FILE,
    SESSION_FEATURES,
    SESSIONS_CONFIG,
    SESSIONS_FILE,
    SESSIONS_SHARD,
)
from mirror_hf.simulation.faces import IdentityFaces
from mirror_hf.simulation.session import SessionResult, run_session

FACES_DIR = "faces"
RETRIED = "backend_error"  # the end reason a rerun plays again


def read_sessions(out_dir: str | Path) -> list[dict]:
    """The complete session records of a run folder; a torn last line (a crash mid-write) is cut off the file."""
    path = Path(out_dir) / SESSIONS_FILE
    trim_torn_tail(path)
    return read_records(path, key=lambda r: r["session_id"])


def _record(result: SessionResult, out: Path) -> dict:
    turns, saved = [], {}  # the same face object on several turns (identity faces) is written once
    for t, turn in enumerate(result.turns):
        image = None
        if turn.image is not None:
            image = saved.get(id(turn.image))
            if image is None:
                image = saved[id(turn.image)] = f"{FACES_DIR}/{result.profile_idx}/turn_{t}.png"
                (out / image).parent.mkdir(parents=True, exist_ok=True)
                turn.image.save(out / image)
        turns.append(
            {
                "speaker": turn.speaker,
                "text": turn.text,
                "stage_direction": turn.stage_direction,
                "raw": turn.raw,
                "emotional_caption": turn.emotional_caption,
                "plan": turn.plan,
                "image": image,
            }
        )
    return {
        "session_id": result.profile_idx,
        "profile_idx": result.profile_idx,
        "therapist": result.therapist,
        "client": result.client,
        "variant": result.variant,
        "technique": result.technique,
        "plan": result.plan,
        "end_reason": result.end_reason,
        "error": result.error,
        "exchanges": result.exchanges,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "turns": turns,
    }


async def run_sessions(
    profiles: list[dict],
    therapist,
    client,
    out_dir: str | Path,
    *,
    faces=None,
    concurrency: int = 8,
    vision: bool = True,
    max_exchanges: int = 20,
) -> dict:
    """Play every profile's session not yet in ``out_dir``; returns the run report (also written as JSON)."""
    out = Path(out_dir)
    settings = _run_settings(therapist, client, max_exchanges, vision)
    _check_same_run(out, settings)
    faces = faces or IdentityFaces()
    done = {r["session_id"] for r in read_sessions(out) if r["end_reason"] != RETRIED} if out.is_dir() else set()
    todo = [p for p in profiles if p["idx"] not in done]
    if todo:  # one look at each server before hundreds of sessions fail on it (and before anything is written)
        await check_reachable(therapist.backend, client.backend, getattr(faces, "backend", None))
    out.mkdir(parents=True, exist_ok=True)
    (out / PROTOCOL_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    semaphore = asyncio.Semaphore(concurrency)
    write_lock = asyncio.Lock()
    stats = Counter()
    bar = tqdm(total=len(profiles), initial=len(profiles) - len(todo), desc="Sessions", unit="session")

    async def one(profile):
        async with semaphore:
            result = await run_session(profile, therapist, client, faces, vision=vision, max_exchanges=max_exchanges)
        record = _record(result, out)
        async with write_lock:
            append_record(out / SESSIONS_FILE, record)
        stats["turns"] += len(record["turns"])
        stats["tokens"] += record["prompt_tokens"] + record["completion_tokens"]
        stats["failures"] += record["end_reason"] in FAILURE_REASONS
        bar.set_postfix(turns=stats["turns"], tokens=stats["tokens"], failures=stats["failures"])
        bar.update()

    await asyncio.gather(*(one(p) for p in todo))
    bar.close()
    return write_sessions_dataset(out)


def _run_settings(therapist, client, max_exchanges: int, vision: bool) -> dict:
    """What makes a run one run: the protocol, the models, the variant, the turn limit."""
    protocol = client.protocol
    if getattr(therapist, "protocol", protocol) != protocol:
        raise MirrorError(
            f"the therapist plays protocol {therapist.protocol.name} and the client {protocol.name}",
            fix="give both the same protocol",
        )
    return {
        "protocol": protocol.settings(),
        "upstream": client.upstream.identity(),  # where the authors' files (if read) came from
        "therapist": therapist.id,
        "client": client.id,
        "variant": therapist.variant,
        "max_exchanges": max_exchanges,
        "vision": vision,
    }


def read_run_settings(out_dir: str | Path) -> dict | None:
    """A run folder's ``protocol.json`` (None for a run made before protocols were recorded)."""
    path = Path(out_dir) / PROTOCOL_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _check_same_run(out: Path, settings: dict) -> None:
    before = read_run_settings(out)
    if before is None or not (out / SESSIONS_FILE).is_file():
        return
    changed = {k: (before.get(k), v) for k, v in settings.items() if before.get(k) != v}
    if changed:
        what = ", ".join(
            f"{k} ({before['protocol']['name']} -> {v['name']})" if k == "protocol" else f"{k} ({old} -> {v})"
            for k, (old, v) in changed.items()
        )
        raise MirrorError(
            f"{out} holds sessions played with other settings: {what}; they would mix in one run",
            fix="give another --out for the new settings, or the same settings to resume this run",
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_sessions_dataset(out_dir: str | Path) -> dict:
    """``data/sessions/train-00000-of-00001.parquet`` + ``README.md`` (its YAML with the rows and bytes, see
    :func:`mirror_hf.cards.render_sessions_card`) from ``sessions.jsonl``, faces embedded."""
    from datasets import Dataset, DatasetInfo, SplitDict, SplitInfo

    from mirror_hf.cards import render_sessions_card

    out = Path(out_dir)
    records = sorted(read_sessions(out), key=lambda r: r["session_id"])
    rows = []
    for record in records:
        turns = [
            {
                **t,
                "plan": t.get("plan"),  # runs written before turns recorded their plan
                "image": {"bytes": (out / t["image"]).read_bytes(), "path": t["image"]} if t["image"] else None,
            }
            for t in record["turns"]
        ]
        rows.append({**record, "turns": turns})
    shard = out / SESSIONS_SHARD
    shard.parent.mkdir(parents=True, exist_ok=True)
    with datasets_bars(enabled=False):
        dataset = Dataset.from_list(rows, features=SESSION_FEATURES)
        dataset.to_parquet(str(shard))
    size = dataset.data.nbytes
    info = DatasetInfo(
        features=SESSION_FEATURES,
        config_name=SESSIONS_CONFIG,
        splits=SplitDict({"train": SplitInfo("train", num_bytes=size, num_examples=len(dataset))}),
        download_size=shard.stat().st_size,
        dataset_size=size,
    )
    report = {
        "sessions": len(records),
        "end_reasons": dict(Counter(r["end_reason"] for r in records)),
        "exchanges_mean": sum(r["exchanges"] for r in records) / max(1, len(records)),
        "prompt_tokens": sum(r["prompt_tokens"] for r in records),
        "completion_tokens": sum(r["completion_tokens"] for r in records),
        "therapists": sorted({r["therapist"] for r in records}),
        "clients": sorted({r["client"] for r in records}),
        "data_sha256": _sha256(shard),
        "run": read_run_settings(out),
    }
    (out / "README.md").write_text(render_sessions_card(report, info), encoding="utf-8")
    (out / RUN_REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
