"""Session records as ``mirror-hf evaluate`` and ``mirror-hf pairwise`` read them: from a run folder of
``mirror-hf simulate`` (its ``sessions.jsonl``), a sessions dataset folder (its parquet, e.g. one pulled from the
Hub), or a JSONL file. One record per session id (the last line wins, as a resumed run appends).

Example:
    >>> records = read_session_records("runs/sim-pec", faces=True)              # doctest: +SKIP
    >>> records[0]["turns"][1]["image"][:4]                                     # doctest: +SKIP
    b'\\x89PNG'
"""

from __future__ import annotations

from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.journal import read_records
from mirror_hf.schema import DATA_DIR, SESSIONS_CONFIG, SESSIONS_FILE


def read_session_records(path: str | Path, *, faces: bool = False, sessions: set[str] | None = None) -> list[dict]:
    """The session records at ``path`` (only those whose id is in ``sessions``, when given). ``faces``: each turn's
    ``image`` as its bytes (None for a turn without a face); otherwise turns carry no ``image`` (judges read text)."""
    path = Path(path)
    if path.is_dir() and not (path / SESSIONS_FILE).exists():
        shards = sorted((path / DATA_DIR / SESSIONS_CONFIG).glob("*.parquet"))
        if not shards:
            raise MirrorError(
                "neither sessions.jsonl nor data/sessions/*.parquet here",
                file=str(path),
                fix="pass a run folder of mirror-hf simulate or a sessions dataset folder",
            )
        return _parquet_records(shards, faces, sessions)
    journal = path / SESSIONS_FILE if path.is_dir() else path
    records = read_records(journal, key=lambda r: r["session_id"])
    records = [r for r in records if sessions is None or r["session_id"] in sessions]
    for record in records:
        for turn in record["turns"]:
            image = turn.pop("image", None)
            if faces:
                turn["image"] = _face_file(journal.parent, image, record["session_id"]) if image else None
    return records


def _face_file(folder: Path, name: str, session_id: str) -> bytes:
    try:
        return (folder / name).read_bytes()
    except OSError as err:
        raise MirrorError(
            f"session {session_id}: its face {name} cannot be read ({err.strerror})",
            file=str(folder),
            fix="give the whole run folder (its faces/ with sessions.jsonl), or the sessions dataset it wrote",
        ) from None


def _parquet_records(shards: list[Path], faces: bool, sessions: set[str] | None) -> list[dict]:
    import pyarrow.parquet as pq

    records = []
    for shard in shards:
        # row group by row group, faces dropped as they come unless asked for: a run's images need not fit in memory
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=64):
            for row in batch.to_pylist():
                if sessions is not None and row["session_id"] not in sessions:
                    continue
                for turn in row["turns"]:
                    image = turn.pop("image", None)
                    if faces:
                        turn["image"] = (image or {}).get("bytes")
                records.append(row)
    return records


__all__ = ["read_session_records"]
