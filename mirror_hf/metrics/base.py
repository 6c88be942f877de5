"""What both judge metrics share: inputs (a list of dialogues), the judge (a model spec or a back-end), the engine
run (from plain scripts and from notebooks, whose event loop is already running), and the result's shape.

Example:
    >>> import evaluate
    >>> wai = evaluate.load("wai_alliance")                                                   # doctest: +SKIP
    >>> wai.compute(dialogues=[[{"role": "therapist", "content": "Hi"}, {"role": "client", "content": "Hey"}]],
    ...             judge="openai:gpt-4o")["bond"]                                            # doctest: +SKIP
    3.25
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses

import datasets
import evaluate

from mirror_hf.errors import MirrorError
from mirror_hf.judges.engine import summarize
from mirror_hf.judges.transcript import to_dialogue

DIALOGUE = datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")})

INPUTS = """
Args:
    dialogues: list of sessions, each a list of ``{"role": "therapist" | "counselor" | "client", "content": str}``
        (records of a mirror-hf sessions dataset, with ``turns`` of ``speaker``/``text``, are accepted too).
    judge: a model spec (``openai:gpt-4o``, ``MODEL@http://HOST:PORT/v1``, ``local:PATH``) or a chat back-end.
    reasks: re-asks of an unreadable answer before it counts as missing (NaN, never 0). Default 3.
    samples: judgements per item, averaged (with another seed each). Default 1.
    weighted: ask for log-probabilities and score the expectation over the score tokens (G-Eval). Default False.
    concurrency: judge calls at once when ``judge`` is a spec. Default 8.
    cache_dir: the response cache when ``judge`` is a spec (default: mirror-hf's cache); reruns cost no calls.
    return_judgements: add every prompt and raw judgement (for audit). Default False.
    progress: show a progress bar. Default True.
Returns:
    the headline means at the top level, ``items`` and ``dimensions`` (mean, n_valid, n_failed), ``sessions``
    (per-session item and dimension scores, in input order), ``n_valid``, ``n_failed``, ``n_weighted``.
"""


def run_coroutine(coroutine):
    """``asyncio.run``, also where an event loop already runs (Jupyter): then in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def resolve_judge(judge, *, concurrency: int = 8, cache_dir=None):
    if hasattr(judge, "chat"):
        return judge
    if not isinstance(judge, str):
        raise TypeError("judge must be a model spec such as 'openai:gpt-4o' or a chat back-end")
    from mirror_hf.llm import load_backend
    from mirror_hf.paths import llm_cache_dir

    return load_backend(judge, max_concurrency=concurrency, cache_dir=cache_dir or llm_cache_dir())


class JudgeMetric(evaluate.Metric):
    """An LLM-judge instrument over dialogues; subclasses name it and say how to run it."""

    description = ""
    citation = ""
    headline: tuple[str, ...] = ()  # item or dimension names put at the top level of the result

    def _info(self):
        return evaluate.MetricInfo(
            description=self.description,
            citation=self.citation,
            inputs_description=INPUTS,
            features=datasets.Features({"dialogues": DIALOGUE}),
            homepage="https://github.com/nobel-postech/mirror",
        )

    def compute(self, *, dialogues=None, **kwargs):
        """Judge ``dialogues`` (see the arguments below); returns the means, counts and per-session scores."""
        # keep role/content only, so records with faces and stage directions fit the declared features
        if dialogues is not None:
            clean = []
            for i, dialogue in enumerate(dialogues):
                try:
                    clean.append(to_dialogue(dialogue))
                except (ValueError, KeyError, TypeError, AttributeError) as err:
                    raise MirrorError(f"dialogue {i}: {err}", fix='turns of {"role": ..., "content": ...}') from err
            dialogues = clean
        return super().compute(dialogues=dialogues, **kwargs)

    def judge(self, dialogues, backend, **options) -> list:
        """The engine run for this instrument: a coroutine of Judgements."""
        raise NotImplementedError

    def _compute(
        self,
        dialogues,
        judge=None,
        reasks: int = 3,
        samples: int = 1,
        weighted: bool = False,
        concurrency: int = 8,
        cache_dir=None,
        return_judgements: bool = False,
        progress: bool = True,
        **options,
    ):
        if judge is None:
            raise ValueError("pass judge='openai:gpt-4o' (or MODEL@URL, local:PATH, or a chat back-end)")
        backend = resolve_judge(judge, concurrency=concurrency, cache_dir=cache_dir)
        judgements = run_coroutine(
            self.judge(
                dialogues, backend, reasks=reasks, samples=samples, weighted=weighted, progress=progress, **options
            )
        )
        summary = summarize(judgements, weighted=weighted)
        top = {**summary["dimensions"], **summary["items"]}
        result = {name: top[name]["mean"] for name in self.headline if name in top}
        result.update(summary)
        if return_judgements:
            result["judgements"] = [dataclasses.asdict(j) for j in judgements]
        return result
