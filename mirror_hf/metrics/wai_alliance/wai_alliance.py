"""Working Alliance Inventory judged by an LLM, as in the MIRROR paper (Table 7, Appendix K): 12 items rated 1-5,
means for Goal, Approach and Affective Bond. Thin over ``mirror_hf.judges``.

Example:
    >>> import evaluate
    >>> wai = evaluate.load("wai_alliance")
    >>> result = wai.compute(dialogues=sessions, judge="openai:gpt-4o")                      # doctest: +SKIP
    >>> result["goal"], result["approach"], result["bond"], result["n_failed"]               # doctest: +SKIP
    (2.57, 3.37, 3.48, 0)
"""

import datasets  # noqa: F401  (evaluate reads a module's imports to list its requirements)
import evaluate  # noqa: F401

from mirror_hf.judges import engine, wai
from mirror_hf.metrics import base


class WaiAlliance(base.JudgeMetric):
    description = (
        "Client alliance per the Working Alliance Inventory: one judge call per (dialogue, item), the last [[n]] "
        "of the answer as the rating, unreadable answers re-asked then left out (NaN), never counted as 0."
    )
    citation = "Kim et al. (2025), MIRROR; Li et al. (2024), Understanding the therapeutic relationship."
    headline = wai.DIMENSIONS

    def judge(self, dialogues, backend, guidelines=None, **options):
        """``guidelines``: a JSON file of the official per-item guidelines (default: mirror-hf's own)."""
        items = wai.load_guidelines(guidelines) if guidelines else wai.WAI_ITEMS
        return engine.judge_wai(dialogues, backend, items=items, **options)

    def _compute(self, dialogues, **kwargs):
        result = super()._compute(dialogues, **kwargs)
        # (mean - 1) / 4 of the item mean, per session: the paper's "average WAI < 0.3" filter reads this
        for session in result["sessions"]:
            valid = [v for v in session["items"].values() if v == v]
            session["normalized"] = wai.normalized_score(sum(valid) / len(valid) if valid else float("nan"))
        valid = [s["normalized"] for s in result["sessions"] if s["normalized"] == s["normalized"]]
        result["normalized"] = sum(valid) / len(valid) if valid else float("nan")
        return result
