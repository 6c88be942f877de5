"""An append-only JSONL journal of finished results — what makes long runs (simulation, expression synthesis)
resumable: each result is appended as one line, flushed and fsynced as it finishes; a rerun reads the journal and
skips what is done.

A crash can tear the last line: readers leave it out, and :func:`trim_torn_tail` cuts it off before the next append
so that appends always start on a line of their own. Any other unreadable line is an error naming its row. Appends and
trims hold an exclusive lock on the file (``flock``), so that several processes can share one journal (the shards of
``mirror-hf synthesize faces`` on several GPUs): no line is torn by another's write or cut while being written.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
    >>> append_record(path, {"id": "a", "n": 1}); append_record(path, {"id": "a", "n": 2})
    >>> read_records(path, key=lambda r: r["id"])
    [{'id': 'a', 'n': 2}]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path

from mirror_hf.errors import MirrorError

logger = logging.getLogger(__name__)


def read_records(path: str | Path, key: Callable[[dict], Hashable]) -> list[dict]:
    """The records of ``path``, one per ``key(record)`` (the last line wins, as a resumed run appends); a torn last
    line (a crash, or a run still writing) is left out."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = {}
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                if n == len(lines):
                    logger.warning("%s: the last line is incomplete (a run still writing?); left out", path)
                    continue
                raise MirrorError(f"not JSON: {err}", file=str(path), row=n) from err
            records[key(record)] = record
    return list(records.values())


@contextlib.contextmanager
def _locked(f):
    """An exclusive lock on the open file ``f`` for the block (none where the system has no ``flock``)."""
    try:
        import fcntl
    except ImportError:  # Windows: one process per journal
        yield
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def trim_torn_tail(path: str | Path) -> None:
    """Cut a torn last line off ``path``, so that the next append starts on a line of its own."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("r+b") as f, _locked(f):  # not while another process is writing its line
        data = f.read()
        complete = data.rfind(b"\n") + 1
        if complete != len(data):
            f.truncate(complete)


def append_record(path: str | Path, record: dict) -> None:
    """Append ``record`` as one line, on disk (flushed and fsynced) before this returns."""
    append_records(path, [record])


def append_records(path: str | Path, records: list[dict]) -> None:
    """Append ``records``, one line each, with one fsync for them all (for results that come in batches)."""
    if not records:
        return
    data = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")
    with Path(path).open("ab") as f, _locked(f):
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def done_and_tried(path: str | Path, key: Callable[[dict], Hashable]) -> tuple[set, dict[Hashable, list[str]]]:
    """What past runs left in the journal ``path`` (its torn tail trimmed first): the keys of the jobs done, and the
    raw answers each failed job got, one per seed it used, so that a retry goes on with the seeds after theirs."""
    trim_torn_tail(path)
    records = read_records(path, key)
    done = {key(r) for r in records if r["failure"] is None}
    return done, {key(r): r["raw"] for r in records if r["failure"] is not None}


async def record_each(
    jobs: list,
    work: Callable[[object], Awaitable[dict]],
    path: str | Path,
    *,
    concurrency: int,
    desc: str,
    unit: str,
    already: int = 0,
    progress: bool = True,
) -> Counter:
    """``await work(job)`` for every job, ``concurrency`` at a time, each record appended to ``path`` as soon as its
    job is done (a killed run loses only the jobs in flight). Returns the count of records ``done`` and ``failed``
    (those with a ``failure``); ``already``: jobs done before, for the progress bar."""
    from datasets.utils.tqdm import tqdm

    semaphore, write_lock, counts = asyncio.Semaphore(concurrency), asyncio.Lock(), Counter()
    bar = tqdm(total=already + len(jobs), initial=already, desc=desc, unit=unit, disable=not progress)

    async def one(job) -> None:
        async with semaphore:
            record = await work(job)
        async with write_lock:
            append_record(path, record)
        counts["failed" if record.get("failure") else "done"] += 1
        bar.set_postfix(failed=counts["failed"])
        bar.update()

    try:
        await asyncio.gather(*(one(job) for job in jobs))
    finally:
        bar.close()
    return counts


__all__ = ["append_record", "append_records", "done_and_tried", "read_records", "record_each", "trim_torn_tail"]
