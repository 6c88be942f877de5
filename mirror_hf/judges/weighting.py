"""Probability-weighted judge scores (G-Eval, Liu et al. 2023): instead of the one score token the judge wrote,
the expectation over the score values the judge's top log-probabilities give at that position.

Example:
    >>> logprobs = [{"token": "4", "logprob": -0.29, "top": [["4", -0.29], ["3", -1.39], ["x", -5.0]]}]
    >>> round(expected_score(logprobs + [{"token": ", ok", "logprob": 0.0, "top": []}], "4, ok", 0, range(0, 7)), 2)
    3.75
"""

from __future__ import annotations

import math


def expected_score(logprobs: list[dict], text: str, offset: int, scores: range) -> float | None:
    """The probability-weighted score at character ``offset`` of ``text`` (where the parsed score's digits start).

    None when the answer's tokens cannot be lined up with ``text``, or the token there is not exactly a score
    (e.g. ``"4,"`` in one token): the weighting would then mix in something that is not a score.
    """
    joined = "".join(t["token"] for t in logprobs)
    shift = joined.find(text) if text else -1  # back-ends may strip the answer's surrounding whitespace
    if shift < 0:
        return None
    position, start = shift + offset, 0
    for entry in logprobs:
        end = start + len(entry["token"])
        if start <= position < end:
            break
        start = end
    else:
        return None
    if entry["token"].strip() not in {str(v) for v in scores} or joined[position:end].strip() != entry["token"].strip():
        return None
    mass: dict[int, float] = {}
    for token, logprob in entry["top"] or [[entry["token"], entry["logprob"]]]:
        value = token.strip()
        if value.isdigit() and int(value) in scores:
            mass[int(value)] = mass.get(int(value), 0.0) + math.exp(logprob)
    total = sum(mass.values())
    return sum(v * p for v, p in mass.items()) / total if total else None
