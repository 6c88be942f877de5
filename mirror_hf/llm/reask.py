"""Ask until the answer can be read: a model's unreadable answer is asked again with a new seed (so neither the
response cache nor a greedy server repeats it), a bounded number of times, and what could not be read is reported,
never invented. A later run that retries a failed job passes the answers it got before: it goes on with the seeds
after theirs, instead of reading the same unreadable answers back from the cache.

Example:
    >>> asyncio.run(ask_until_read(backend, messages, parse_expressions, reasks=3))   # doctest: +SKIP
    Answer(value=Expressions(...), raw=['- Facial Expression Description: ...'], text='...', failure=None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mirror_hf.llm.types import BackendError, ChatRequest, ChatResponse


@dataclass
class Answer:
    value: object = None  # what ``parse`` returned for the first readable answer
    raw: list[str] = field(default_factory=list)  # every answer, in order
    text: str | None = None  # the answer that was read
    failure: str | None = None  # "backend: ..." or "unreadable: ..." when nothing could be read
    response: ChatResponse | None = None  # the whole response read (its logprobs, usage)

    @property
    def backend_failed(self) -> bool:
        """The back-end failed (an outage, a refusal of the request), as opposed to answers that could not be read."""
        return self.failure is not None and self.failure.startswith("backend:")


def seed_of_attempt(attempt: int) -> int | None:
    """The default seeds: none for the first try (the model's own default), the try's number after it."""
    return attempt or None


async def ask_until_read(
    backend,
    messages: list[dict],
    parse: Callable[[str], object],
    *,
    reasks: int = 3,
    sampling: dict | None = None,
    earlier: list[str] = (),
    seed: Callable[[int], int | None] = seed_of_attempt,
) -> Answer:
    """``parse(text)`` of the first answer it does not reject with ValueError; ``reasks`` more tries at most.
    ``earlier``: the unreadable answers of a past run, one per try it made; ``raw`` starts with them and the tries
    go on from theirs. ``seed(try)`` gives each try's seed (None: send none)."""
    answer, problems = Answer(raw=list(earlier)), []
    for attempt in range(len(earlier), len(earlier) + reasks + 1):
        seeded = seed(attempt)
        request = ChatRequest.of(messages, **(sampling or {}), **({} if seeded is None else {"seed": seeded}))
        try:
            response = await backend.chat(request)
        except BackendError as err:
            answer.failure = f"backend: {err}"
            return answer
        answer.raw.append(response.text)
        try:
            answer.value = parse(response.text)
        except ValueError as err:
            problems.append(str(err))
            continue
        answer.text, answer.response = response.text, response
        return answer
    answer.failure = "unreadable: " + "; ".join(problems)
    return answer


__all__ = ["Answer", "ask_until_read", "seed_of_attempt"]
