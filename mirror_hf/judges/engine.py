"""Run an instrument over sessions: one judge call per (session, item), bounded re-asks of unreadable answers,
NaN (never 0) when none can be read, optional n samples averaged, every prompt and raw judgement kept.

Example:
    >>> results = asyncio.run(judge_wai(sessions, load_backend("openai:gpt-4o")))     # doctest: +SKIP
    >>> summarize(results)["dimensions"]["bond"]["mean"]                              # doctest: +SKIP
    3.48
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from datasets.utils.tqdm import tqdm

from mirror_hf.errors import MirrorError
from mirror_hf.judges import counseling_eval, wai
from mirror_hf.judges.stats import valid_mean
from mirror_hf.judges.transcript import render_transcript
from mirror_hf.judges.weighting import expected_score
from mirror_hf.llm import ask_until_read

WAI_SAMPLING = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 512}
TOP_LOGPROBS = 20  # the most OpenAI serves


@dataclass
class Judgement:
    session: int
    instrument: str
    item: str
    dimension: str
    score: float  # the parsed integer (mean over samples); NaN when no answer could be read
    prompt: str
    raw: list[str] = field(default_factory=list)
    failure: str | None = None
    expected: float = math.nan  # probability-weighted score (G-Eval), when asked for and the back-end gave logprobs

    def value(self, weighted: bool = False) -> float:
        """The weighted score when asked for and available, else the parsed one."""
        return self.expected if weighted and not math.isnan(self.expected) else self.score


@dataclass(frozen=True)
class Item:
    name: str
    dimension: str
    render: Callable[[str], str]  # transcript -> prompt
    locate: Callable[[str], tuple[int, int] | None]  # answer -> (score, offset of its digits)
    scores: range  # the values a judge may give

    def read(self, answer: str) -> tuple[int, int]:
        """``locate``, with an answer that holds no score rejected (ValueError), as ``ask_until_read`` expects."""
        found = self.locate(answer)
        if found is None:
            raise ValueError(f"no {self.name} score in {answer[:80]!r}")
        return found


def wai_items(items=wai.WAI_ITEMS) -> list[Item]:
    return [
        Item(f"q{i.number}", i.dimension, lambda t, i=i: wai.render_wai_prompt(t, i), wai.locate_wai_rating, wai.SCORES)
        for i in items
    ]


def counseling_items(rubrics: dict[str, str]) -> list[Item]:
    """One item per criterion; Strategy, out of the paper's headline (it tracks length), is a dimension of its own
    so that the CBT mean is the paper's Guided Discovery + Focus."""
    criteria = {c.name: c for c in counseling_eval.CRITERIA}
    return [
        Item(
            name,
            criteria[name].group if criteria[name].headline else name,
            lambda t, tpl=tpl: counseling_eval.render_counseling_prompt(tpl, t),
            counseling_eval.locate_counseling_score,
            counseling_eval.SCORES,
        )
        for name, tpl in rubrics.items()
    ]


async def judge_sessions(
    sessions: list[list[dict]],
    items: list[Item],
    backend,
    *,
    instrument: str,
    sampling: dict,
    reasks: int = 3,
    samples: int = 1,
    weighted: bool = False,
    first_attempt: int = 0,
    progress: bool = True,
) -> list[Judgement]:
    """Every (session, item) judgement; the back-end's own bound limits concurrency. ``first_attempt`` numbers the
    first try (each try after the first has its own seed): a retry of judgements a past run could not read starts
    after its tries, so that it asks anew instead of reading the same answers back from the cache.

    ``weighted`` asks for the top log-probabilities and adds the probability-weighted score (G-Eval style) of the
    score token; back-ends that return none leave it NaN and the parsed score stands.
    """
    transcripts = []
    for i, session in enumerate(sessions):
        try:
            transcripts.append(render_transcript(session))
        except (ValueError, KeyError, TypeError) as err:
            raise MirrorError(
                f"dialogue {i}: {err}", fix='give each turn {"role": "therapist" | "client", "content": str}'
            ) from err
    bar = tqdm(total=len(sessions) * len(items), desc=f"Judging ({instrument})", unit="call", disable=not progress)

    params = {**sampling, **({"logprobs": True, "top_logprobs": TOP_LOGPROBS} if weighted else {})}

    def seed(k: int) -> Callable[[int], int | None]:
        # each sample and each try after the first its own seed, so neither the cache nor the server repeats itself
        return lambda attempt: 1000 * k + first_attempt + attempt if first_attempt + attempt or samples > 1 else None

    async def one(s: int, item: Item) -> Judgement:
        prompt = item.render(transcripts[s])
        judgement = Judgement(s, instrument, item.name, item.dimension, math.nan, prompt)
        messages = [{"role": "user", "content": prompt}]
        scores, expected = [], []
        for k in range(samples):
            answer = await ask_until_read(backend, messages, item.read, reasks=reasks, sampling=params, seed=seed(k))
            judgement.raw += answer.raw
            if answer.backend_failed:  # an outage: no score, whatever earlier samples gave
                judgement.failure = answer.failure
                break
            if answer.value is not None:
                score, offset = answer.value
                scores.append(score)
                if weighted and answer.response.logprobs:
                    value = expected_score(answer.response.logprobs, answer.text, offset, item.scores)
                    expected.append(math.nan if value is None else value)
        if scores and not judgement.failure:
            judgement.score = statistics.fmean(scores)
            if expected and not any(math.isnan(v) for v in expected) and len(expected) == len(scores):
                judgement.expected = statistics.fmean(expected)
        elif not judgement.failure:
            judgement.failure = f"unreadable after {reasks + 1} tries: {judgement.raw[-1][:80]!r}"
        bar.update()
        return judgement

    try:
        return await asyncio.gather(*(one(s, item) for s in range(len(sessions)) for item in items))
    finally:
        bar.close()


async def judge_wai(sessions, backend, *, items=wai.WAI_ITEMS, **kwargs) -> list[Judgement]:
    return await judge_sessions(
        sessions, wai_items(items), backend, instrument="wai", sampling=kwargs.pop("sampling", WAI_SAMPLING), **kwargs
    )


async def judge_counseling(sessions, backend, *, rubrics: dict[str, str], **kwargs) -> list[Judgement]:
    return await judge_sessions(
        sessions,
        counseling_items(rubrics),
        backend,
        instrument="counseling_eval",
        sampling=kwargs.pop("sampling", counseling_eval.JUDGE_SAMPLING),
        **kwargs,
    )


def summarize(judgements: list[Judgement], *, weighted: bool = False) -> dict:
    """Per-item and per-dimension means over valid scores (NaN counted, never averaged), and per-session scores.

    A session's dimension score is the mean of its valid items; a dimension's mean is over sessions. ``weighted``
    uses the probability-weighted scores where the judge gave logprobs (``n_weighted`` says how many).
    """
    dimension_of = {j.item: j.dimension for j in judgements}
    by_item: dict[str, list[float]] = {}
    by_session: dict[int, dict[str, float]] = {}
    for j in judgements:
        by_item.setdefault(j.item, []).append(j.value(weighted))
        by_session.setdefault(j.session, {})[j.item] = j.value(weighted)
    sessions = []
    for s in sorted(by_session):
        items = by_session[s]
        dims = {
            d: valid_mean([v for k, v in items.items() if dimension_of[k] == d]) for d in set(dimension_of.values())
        }
        sessions.append({"items": items, "dimensions": dims})
    dimensions = {}
    for d in dict.fromkeys(dimension_of.values()):
        per_session = [x["dimensions"][d] for x in sessions]
        dimensions[d] = {"mean": valid_mean(per_session), "n_valid": sum(not math.isnan(v) for v in per_session)}
    return {
        "items": {
            k: {
                "mean": valid_mean(v),
                "n_valid": sum(not math.isnan(x) for x in v),
                "n_failed": sum(math.isnan(x) for x in v),
            }
            for k, v in by_item.items()
        },
        "dimensions": dimensions,
        "sessions": sessions,
        "n_valid": sum(not math.isnan(j.score) for j in judgements),
        "n_failed": sum(math.isnan(j.score) for j in judgements),
        "n_weighted": sum(not math.isnan(j.expected) for j in judgements),
    }
