"""Where a pairwise study's answers live: one append-only JSONL file per annotator, each answer on disk (flushed and
fsynced, under an exclusive lock) before the app says it is saved. A later answer to the same item replaces the
earlier one when read; nothing confirmed is ever rewritten: a crash can at worst tear the line being written, which
readers leave out and the next save cuts off (it was never reported saved).

This module imports nothing outside the standard library: it is copied into the study's Space folder beside the
annotation app, which runs where mirror-hf is not installed.

Example:
    >>> import tempfile
    >>> store = AnswerStore(tempfile.mkdtemp(), study_id="s1")
    >>> _ = store.save("Ada", "i0001", {"goal": "A", "approach": "Tie", "bond": "B"})
    >>> store.answered("Ada")
    {'i0001': {'goal': 'A', 'approach': 'Tie', 'bond': 'B'}}
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import threading
from pathlib import Path

CHOICES = ("A", "Tie", "B")
ANSWER_VERSION = 1
_LOCK = threading.Lock()  # one writer per process at a time; flock keeps other processes out


class AnswerError(ValueError):
    """An answer file that cannot be read as it stands: ``where`` names the file and line."""

    def __init__(self, message: str, where: str):
        self.where = where
        super().__init__(f"{where}: {message}")


def annotator_file(name: str) -> str:
    """The file of an annotator's answers: their name where it is a safe file name, else a digest of it."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        return f"{name}.jsonl"
    return f"annotator-{hashlib.sha256(name.encode()).hexdigest()[:16]}.jsonl"


@contextlib.contextmanager
def _locked(f):
    """An exclusive flock on ``f``, as mirror_hf.journal takes; written again here, where mirror-hf may be absent."""
    try:
        import fcntl
    except ImportError:  # Windows: the thread lock alone
        yield
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_answer_file(path: str | Path) -> tuple[list[dict], bool]:
    """The answers of one file in the order written, and whether its last line was torn (left out). Any other line
    that is not an answer raises :class:`AnswerError` naming it."""
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    torn = lines[-1] != b""  # a complete file ends with a newline
    answers = []
    for n, line in enumerate(lines[:-1], 1):
        if not line.strip():
            continue
        try:
            answer = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise AnswerError(f"not an answer ({err})", f"{path}, line {n}") from None
        if not isinstance(answer, dict) or not {"item_id", "annotator", "answers"} <= set(answer):
            raise AnswerError("an answer needs item_id, annotator and answers", f"{path}, line {n}")
        answers.append(answer)
    return answers, torn


class AnswerStore:
    """The answers of one study in ``folder``. ``lock``: held around every write (a ``CommitScheduler``'s lock, so
    that an upload never reads a file half-written)."""

    def __init__(self, folder: str | Path, *, study_id: str, lock=None):
        self.folder, self.study_id = Path(folder), study_id
        self.lock = lock or contextlib.nullcontext()

    def path(self, annotator: str) -> Path:
        return self.folder / annotator_file(annotator)

    def save(self, annotator: str, item_id: str, choices: dict[str, str], seconds: float | None = None) -> dict:
        """Append one answer (``{dimension: "A" | "Tie" | "B"}``) and return it, once it is on disk."""
        bad = {d: c for d, c in choices.items() if c not in CHOICES}
        if bad:
            raise ValueError(f"answers must be one of {CHOICES}: {bad}")
        record = {
            "version": ANSWER_VERSION,
            "study_id": self.study_id,
            "item_id": item_id,
            "annotator": annotator,
            "answers": dict(choices),
            "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seconds": None if seconds is None else round(seconds, 1),
        }
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(annotator)
        with _LOCK, self.lock, path.open("a+b") as f, _locked(f):
            f.seek(0)
            kept = f.read().rfind(b"\n") + 1
            f.truncate(kept)  # a line torn by a crash was never reported saved: the new one starts clean
            f.seek(kept)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return record

    def answered(self, annotator: str) -> dict[str, dict[str, str]]:
        """item id -> the annotator's latest answers to it."""
        path = self.path(annotator)
        if not path.is_file():
            return {}
        answers, _ = read_answer_file(path)
        return {a["item_id"]: a["answers"] for a in answers if a["annotator"] == annotator}


__all__ = ["CHOICES", "AnswerError", "AnswerStore", "annotator_file", "read_answer_file"]
