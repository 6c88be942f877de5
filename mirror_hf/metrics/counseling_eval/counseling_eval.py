"""COUNSELINGEVAL (CACTUS) judged by an LLM, as in the MIRROR paper: six criteria scored 0-6; the headline is the
paper's five (Strategy is computed and reported apart: it tracks response length). Thin over ``mirror_hf.judges``.

The rubric prompts are not shipped (GPL-2.0, CACTUS): they are fetched once from the pinned upstream commit and
checked against SHA-256 digests, or read from ``prompts_dir``.

Example:
    >>> import evaluate
    >>> counseling = evaluate.load("counseling_eval")
    >>> result = counseling.compute(dialogues=sessions, judge="openai:gpt-4o")                 # doctest: +SKIP
    >>> result["collaboration"], result["cbt"], result["strategy"]                            # doctest: +SKIP
    (3.91, 3.98, 3.40)
"""

import datasets  # noqa: F401  (evaluate reads a module's imports to list its requirements)
import evaluate  # noqa: F401

from mirror_hf.judges import counseling_eval, engine
from mirror_hf.metrics import base


class CounselingEval(base.JudgeMetric):
    description = (
        "Therapist skills per COUNSELINGEVAL (CACTUS): one judge call per (dialogue, criterion) with the upstream "
        "rubric rendered exactly, the leading integer 0-6 as the score, unreadable answers re-asked then left out "
        "(NaN), never counted as 0 as upstream does."
    )
    citation = "Lee et al. (2024), CACTUS; Kim et al. (2025), MIRROR."
    headline = (*(c.name for c in counseling_eval.CRITERIA), "general", "cbt")

    def judge(self, dialogues, backend, prompts_dir=None, **options):
        """``prompts_dir``: a local copy of CACTUS's prompts/ (default: fetched from the pinned commit, cached)."""
        rubrics = counseling_eval.load_rubrics(prompts_dir=prompts_dir)
        return engine.judge_counseling(dialogues, backend, rubrics=rubrics, **options)
