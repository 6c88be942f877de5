"""The synthesis stages' settings that the command line shows as its defaults: PhotoMaker's, and the dialogue
filters' rules and names. Light to import (no model, no image library), so that ``mirror-hf --help`` stays fast.

Example:
    >>> PhotoMakerSettings().start_merge_step, FilterRules().wai_threshold
    (10, 0.3)
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULERS = ("ddim", "dpmpp_2m")
DTYPES = ("bfloat16", "float16", "float32")  # PhotoMaker's; the authors ran bfloat16
FILTERS = ("basic", "pos_repetition", "copy_paste", "canary", "wai", "faces")
RULE_FILTERS = ("basic", "pos_repetition", "copy_paste")  # no model server needed (pos needs a tagger)
REJECTED_BEFORE = "rejected by an earlier filter"  # why a later filter did not judge a dialogue: nothing left to do


@dataclass(frozen=True)
class PhotoMakerSettings:
    base_model: str = "SG161222/RealVisXL_V3.0"
    adapter: str = "TencentARC/PhotoMaker"  # a Hub repo or a folder holding weight_name
    weight_name: str = "photomaker-v1.bin"
    trigger_word: str = "img"
    steps: int = 50
    scheduler: str = "ddim"  # the authors'; "dpmpp_2m" (DPM-Solver++ 2M) draws other faces in fewer steps
    style_strength: float = 0.2  # share of the steps drawn from the text alone before the identity merges in
    generation_size: int = 1024  # SDXL's native size; the face is then resized
    size: int = 336  # LLaVA-1.5's input size: what the authors stored
    seed: int = 19  # the authors' seed

    @property
    def start_merge_step(self) -> int:
        """The last step drawn from the text alone: ``style_strength`` of the steps, at most 30
        (``mirror/step3/run_step3.py`` lines 96-98)."""
        return min(int(self.style_strength * self.steps), 30)


@dataclass(frozen=True)
class FilterRules:
    """The thresholds of the rule filters and of WAI; the defaults are the authors' (see the module docstring)."""

    min_turns: float = 4  # turns as the release counts them: len(utterances) / 2
    max_turns: float = 20
    max_words: int = 100
    min_distinct_share: float = 0.5
    max_pos_run: int = 3
    pos_text: str = "line"  # the notebook's: "[direction] statement"; "statement" (ours) leaves the direction out
    # the authors' notebook (filter_generated_dialogue.ipynb, cells 29-31): these five fields, a sentence found
    # verbatim (case-sensitive) in a statement, however short, numbered plan steps ("1.") aside
    copy_paste_fields: tuple[str, ...] = (
        "personal_info",
        "personality",
        "reason_for_seeking_counseling",
        "distorted_thought",
        "cbt_plan",
    )
    copy_paste_min_words: int = 0  # ours, as an option: 4 keeps "Thursday." from counting as a copy
    copy_paste_fold_case: bool = False  # ours, as an option: case, spacing and curly quotes aside
    canary_speakers: tuple[str, ...] = ("therapist",)
    wai_threshold: float = 0.3  # on (mean - 1) / 4

    def settings(self, name: str) -> dict:
        """The rules a filter's result depends on (a result found under other settings is found again)."""
        fields = {
            "basic": ("min_turns", "max_turns", "max_words", "min_distinct_share"),
            "pos_repetition": ("max_pos_run", "pos_text"),
            "copy_paste": ("copy_paste_fields", "copy_paste_min_words", "copy_paste_fold_case"),
            "canary": ("canary_speakers",),
        }.get(name, ())
        return {f: getattr(self, f) for f in fields}
