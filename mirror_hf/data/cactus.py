"""CACTUS (``LangAGI-Lab/cactus``, ``cactus.json``): the source of each profile's CBT technique and thinking traps.

The release's ``cactus-{row}`` numbers point into a CACTUS subset the authors never released (their
``mirror/step2/run_step2.py`` reads a ``cactus_source.csv`` that is not in their repository), so a dialogue is
joined to CACTUS by content: its distorted thought and its plan (from ``1.`` on, whitespace-normalised). A thought
alone is used when it is unambiguous. Without CACTUS (or without a match) the technique is inferred from the plan
text, which names it (``1. Introduction to Reality Testing: ...``).

Example:
    >>> infer_technique("1. Introduction to Reality Testing: we will ...\\n2. Alternative views ...")
    'Reality Testing'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.schema import CBT_TECHNIQUES

REQUIRED_FIELDS = ("thought", "cbt_technique", "cbt_plan", "patterns")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def plan_key(plan: str) -> str:
    """The plan from its first ``1.`` on, normalised: the release stores CACTUS plans cut there."""
    start = plan.find("1.")
    return _norm(plan[start:] if start >= 0 else plan)


def _technique_pattern(name: str) -> re.Pattern:
    words = re.split(r"[\s\-]+", name.lower())
    return re.compile(r"\b" + r"[\s\-]+".join(map(re.escape, words)) + r"\b", re.IGNORECASE)


_TECHNIQUE_PATTERNS = [(name, _technique_pattern(name)) for name in CBT_TECHNIQUES]


def infer_technique(plan: str) -> str | None:
    """The CBT technique a plan names first, or None when it names none of the 12."""
    hits = [(m.start(), name) for name, pattern in _TECHNIQUE_PATTERNS if (m := pattern.search(plan))]
    return min(hits)[1] if hits else None


@dataclass(frozen=True)
class CactusMatch:
    technique: str
    patterns: list[str]
    how: str  # "thought+plan" | "thought"


class CactusIndex:
    """Content index over ``cactus.json``."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise MirrorError(
                "CACTUS file not found", file=str(self.path), fix="download cactus.json from LangAGI-Lab/cactus"
            )
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise MirrorError(f"not valid JSON: {err}", file=str(self.path)) from err
        if not isinstance(rows, list) or not rows:
            raise MirrorError("expected a non-empty list of CACTUS objects", file=str(self.path))
        self._by_thought: dict[str, list[dict]] = {}
        for number, row in enumerate(rows, start=1):
            missing = [f for f in REQUIRED_FIELDS if f not in row]
            if missing:
                raise MirrorError(f"missing field(s) {missing}", file=str(self.path), row=number)
            self._by_thought.setdefault(_norm(row["thought"]), []).append(row)

    def match(self, thought: str, plan: str | None) -> CactusMatch | None:
        candidates = self._by_thought.get(_norm(thought), [])
        how = "thought"
        if plan:
            same_plan = [r for r in candidates if plan_key(r["cbt_plan"]) == plan_key(plan)]
            if same_plan:
                candidates, how = same_plan, "thought+plan"
        techniques = {r["cbt_technique"].strip() for r in candidates}
        if len(techniques) != 1:  # no match, or several profiles share the thought with different techniques
            return None
        return CactusMatch(techniques.pop(), [p.strip() for p in candidates[0]["patterns"]], how)
