"""The Working Alliance Inventory as the MIRROR paper uses it: 12 items in three dimensions, each rated 1-5 by a
judge that answers ``[[n]]`` (paper Table 7 and Appendix K).

The per-item guidelines of Li et al. (2024) are not public; the ones below are ours (1-5 anchors grounded in the
observer-rated short-form WAI: agreement on goals, agreement on tasks, bond). Pass the official texts with
``load_guidelines(path)`` when you have them.

Example:
    >>> parse_wai_rating("The client agrees on goals... I would not give [[5]] here. Rating: [[2]]")
    2
    >>> normalized_score(3.0)
    0.5
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.prompts import load_prompt

DIMENSIONS = ("goal", "approach", "bond")
SCORES = range(1, 6)


@dataclass(frozen=True)
class WaiItem:
    number: int
    dimension: str
    question: str
    guideline: str


_QUESTIONS = (  # paper Table 7
    ("goal", "There is mutual understanding about what participants are trying to accomplish in therapy."),
    ("goal", "The client and counselor are working on mutually agreed upon goals."),
    ("goal", "The client and counselor have the same ideas about what the client's real problems are."),
    (
        "goal",
        "The client and counselor have established a good understanding of the changes that would be good "
        "for the client.",
    ),
    ("approach", "There is agreement about the steps taken to help improve the client's situation."),
    ("approach", "There is agreement about the usefulness of the current activity in therapy."),
    ("approach", "There is agreement on what is important for the client to work on."),
    ("approach", "The client believes that the way they are working with his/her problem is correct."),
    ("bond", "There is a mutual liking between the client and counselor."),
    ("bond", "The client feels confident in the counselor's ability to help the client."),
    ("bond", "The client feels that the counselor appreciates him/her as a person."),
    ("bond", "There is mutual trust between the client and counselor."),
)

# Our anchors (1 = absent, 3 = partial or mixed, 5 = clear and shared), one focus per item.
_FOCUS = (
    "whether both say, or clearly act on, the same purpose for the session",
    "whether goals are proposed and then accepted by the client, not only set by the counselor",
    "whether the counselor's account of the problem matches the client's own account",
    "whether both name the same desirable changes for the client",
    "whether the client accepts the concrete steps the counselor proposes",
    "whether the client finds the current exercise or discussion worthwhile",
    "whether both agree on which issue to work on first",
    "whether the client endorses the way the work is being done",
    "signs of warmth and liking on both sides",
    "whether the client expresses or shows confidence in the counselor",
    "whether the client feels respected and valued by the counselor",
    "whether the client discloses openly and the counselor responds reliably",
)


def _guideline(focus: str) -> str:
    return (
        f"Judge {focus}. "
        "1 = no evidence, or evidence against it (disagreement, dismissal, withdrawal). "
        "2 = mostly absent, with at most a passing sign. "
        "3 = partial or mixed: present at moments, contradicted or left unclear at others. "
        "4 = present for most of the session, with small reservations. "
        "5 = clear, repeated and shared by both participants."
    )


WAI_ITEMS: tuple[WaiItem, ...] = tuple(
    WaiItem(i + 1, dim, question, _guideline(focus))
    for i, ((dim, question), focus) in enumerate(zip(_QUESTIONS, _FOCUS, strict=True))
)

_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")


def load_guidelines(path: str | Path) -> tuple[WaiItem, ...]:
    """Items with the guidelines of a JSON file ``{"1": "...", ..., "12": "..."}`` (e.g. the official ones)."""
    try:
        texts = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise MirrorError(f"cannot read WAI guidelines: {err}", file=str(path)) from err
    missing = [str(i.number) for i in WAI_ITEMS if str(i.number) not in texts]
    if missing:
        raise MirrorError(f"guidelines missing for item(s) {missing}", file=str(path), fix='keys "1" to "12"')
    return tuple(WaiItem(i.number, i.dimension, i.question, texts[str(i.number)]) for i in WAI_ITEMS)


def render_wai_prompt(transcript: str, item: WaiItem) -> str:
    return load_prompt("wai_item").render(conversation=transcript, question=item.question, guidelines=item.guideline)


def locate_wai_rating(text: str) -> tuple[int, int] | None:
    """(rating, character offset of its digits) of the **last** ``[[n]]`` with n in 1..5."""
    for match in reversed(list(_RATING.finditer(text or ""))):
        value = float(match.group(1))
        if value.is_integer() and 1 <= value <= 5:
            return int(value), match.start(1)
    return None


def parse_wai_rating(text: str) -> int | None:
    """The **last** ``[[n]]`` with n in 1..5 (a judgement that quotes ``[[5]]`` before its verdict is not fooled);
    None when there is none."""
    found = locate_wai_rating(text)
    return found[0] if found else None


def normalized_score(mean: float) -> float:
    """``(mean - 1) / 4``: 1-5 onto 0-1, for the paper's "average WAI < 0.3" filter (the paper states no mapping)."""
    return math.nan if mean is None or math.isnan(mean) else (mean - 1) / 4
