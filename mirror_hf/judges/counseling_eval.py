"""COUNSELINGEVAL (CACTUS, Lee et al. 2024): six CTRS-derived criteria, each scored 0-6 by a judge.

The rubric prompts belong to their authors (GPL-2.0): mirror-hf does not carry them. They are fetched from the
pinned CACTUS commit and checked against SHA-256 digests into a local cache, or read from a folder you give
(``prompts_dir``). Each is filled exactly as upstream does: ``template.format(conversation=transcript)`` with
``Counselor: ...`` / ``Client: ...`` lines, sent as one user message with no system prompt, temperature 0,
top_p 1, 256 tokens. Unlike upstream, an unreadable answer is missing data (NaN), never a 0.

Example:
    >>> parse_counseling_score("4, The counselor reflects the client's feelings.")
    4
    >>> parse_counseling_score("Score: 3") is None, parse_counseling_score("7, too high") is None
    (False, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.upstream import Upstream

UPSTREAM_REPO = "coding-groot/cactus"
UPSTREAM_COMMIT = "da8cafc3d7dacbbf6073bc52a92dc09e46a398a3"
JUDGE_SAMPLING = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 256}
SCORES = range(0, 7)


@dataclass(frozen=True)
class Criterion:
    name: str
    file: str
    sha256: str
    group: str  # "general" | "cbt"
    headline: bool = True  # the paper reports five; Strategy tracks response length (App. D)


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "understanding",
        "general_1_understanding.txt",
        "c53f54a36a25ddfad76a326892a05a4417c20e1c2ba0f39d267aab85d402bda2",
        "general",
    ),
    Criterion(
        "interpersonal_effectiveness",
        "general_2_interpersonal_effectiveness.txt",
        "ae303f66c41458c168f8512fc817a66c44c9c799c20f7bcf7c24321cc117dba8",
        "general",
    ),
    Criterion(
        "collaboration",
        "general_3_collaboration.txt",
        "e2faaf9f072d06d17a8d776923540daa4f55bbb2a7625b89924343735a530c66",
        "general",
    ),
    Criterion(
        "guided_discovery",
        "CBT_1_guided_discovery.txt",
        "e4382ca2e012deaf709ccc472ab0af48b8a44729f8b7c8e53e896c82f9874cbc",
        "cbt",
    ),
    Criterion("focus", "CBT_2_focus.txt", "85b1424fcc918b9d67bbb34a03b6b84ca55a9f5045d109cd1dc5235b0d2a14da", "cbt"),
    Criterion(
        "strategy",
        "CBT_3_strategy.txt",
        "e4ca398771f8d718e2478cc0b0d1ff8989a28da5718dca97f883901bba3fdc4e",
        "cbt",
        headline=False,
    ),
)

# CACTUS at the pinned commit: the rubrics are read from there (GPL-2.0 text, never carried here).
CACTUS = Upstream(UPSTREAM_REPO, UPSTREAM_COMMIT, {f"prompts/{c.file}": c.sha256 for c in CRITERIA})

# "score, explanation"; a leading "Score:" label is tolerated (upstream's int(text.split(",")[0]) would fail on it).
_SCORE = re.compile(r"^\s*(?:\**\s*score\s*\**\s*[:=]\s*)?\**\s*(\d+(?:\.\d+)?)\s*\**\s*(?:,|$|\s|\.)", re.I)


def locate_counseling_score(text: str) -> tuple[int, int] | None:
    """(score, character offset of its digits) of the leading integer 0-6 of ``score, explanation``."""
    match = _SCORE.match(text or "")
    if not match:
        return None
    value = float(match.group(1))
    return (int(value), match.start(1)) if value.is_integer() and 0 <= value <= 6 else None


def parse_counseling_score(text: str) -> int | None:
    """The leading integer 0-6 of ``score, explanation``; None when absent or out of range."""
    found = locate_counseling_score(text)
    return found[0] if found else None


def load_rubrics(prompts_dir: str | Path | None = None) -> dict[str, str]:
    """criterion name -> template. From ``prompts_dir`` as given (a folder of the rubric files), else from CACTUS at
    the pinned commit (SHA-256 checked, fetched once into mirror-hf's cache)."""
    out = {}
    for criterion in CRITERIA:
        if prompts_dir is not None:
            path = Path(prompts_dir) / criterion.file
            if not path.is_file():
                raise MirrorError(
                    f"rubric {criterion.file} not found",
                    file=str(path),
                    fix=f"copy the prompts/ folder of {UPSTREAM_REPO} at {UPSTREAM_COMMIT[:7]}",
                )
            text = path.read_text(encoding="utf-8")
        else:
            text = CACTUS.read(f"prompts/{criterion.file}")
        if "{conversation}" not in text:
            raise MirrorError("the rubric has no {conversation} placeholder", file=criterion.file)
        out[criterion.name] = text
    return out


def render_counseling_prompt(template: str, transcript: str) -> str:
    """Exactly upstream's filling: ``str.format`` of ``{conversation}``."""
    return template.format(conversation=transcript)
