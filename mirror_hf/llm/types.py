"""What every chat back-end takes and returns.

Example:
    >>> request = ChatRequest.of([{"role": "user", "content": "Hi"}], temperature=0.7, max_tokens=128)
    >>> request.sampling()
    {'temperature': 0.7, 'max_tokens': 128}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields


class BackendError(Exception):
    """A back-end call that failed for good (after its retries): the caller records it and moves on."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1):
        super().__init__(message)
        self.status, self.attempts = status, attempts


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion: OpenAI-style messages (images as ``image_url`` data URLs) and sampling parameters."""

    messages_json: str  # canonical JSON, so a request is hashable and its cache key is stable
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    logprobs: bool | None = None  # ask for the answer's token log-probabilities
    top_logprobs: int | None = None  # and the k most likely tokens at each position (OpenAI allows up to 20)

    _messages: list | None = field(default=None, compare=False, hash=False, repr=False)

    @classmethod
    def of(cls, messages: list[dict], **sampling) -> ChatRequest:
        if "stop" in sampling and sampling["stop"] is not None:
            sampling["stop"] = tuple(sampling["stop"])
        return cls(json.dumps(messages, ensure_ascii=False, sort_keys=True), **sampling, _messages=messages)

    @property
    def messages(self) -> list[dict]:
        # the caller's list when there is one (faces make requests large: no JSON round trip per call)
        return self._messages if self._messages is not None else json.loads(self.messages_json)

    def sampling(self) -> dict:
        """The sampling parameters that are set."""
        # not dataclasses.asdict: it would deep-copy the messages (faces included) on every call
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("messages_json", "_messages")}
        out = {k: v for k, v in out.items() if v is not None}
        if "stop" in out:
            out["stop"] = list(out["stop"])
        return out


@dataclass
class ChatResponse:
    text: str
    model: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    # with ChatRequest(logprobs=True): one entry per answer token, {"token", "logprob", "top": [[token, logprob], ...]}
    logprobs: list[dict] | None = None


@dataclass
class TokenUsage:
    """Running totals of one back-end: calls made, answers from the cache, failures, tokens."""

    calls: int = 0
    cached: int = 0
    failures: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    by_status: dict = field(default_factory=dict)

    def add(self, response: ChatResponse) -> None:
        if response.cached:
            self.cached += 1
            return
        self.calls += 1
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens


class MeteredBackend:
    """A view of a shared back-end that counts only the calls made through it (one session's tokens)."""

    def __init__(self, backend):
        self.inner, self.usage = backend, TokenUsage()

    @property
    def id(self) -> str:
        return self.inner.id

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response = await self.inner.chat(request)
        self.usage.add(response)
        return response
