"""A chat back-end for any OpenAI-compatible endpoint (OpenAI, vLLM, TGI, ``transformers serve``, Ollama), through
huggingface_hub's ``AsyncInferenceClient``: a concurrency bound, retries, timeouts, the response cache, token usage.

Example:
    >>> backend = OpenAICompatBackend("gpt-4o", "https://api.openai.com/v1", api_key="sk-...")  # doctest: +SKIP
    >>> request = ChatRequest.of([{"role": "user", "content": "Hi"}], temperature=0)
    >>> asyncio.run(backend.chat(request)).text                                              # doctest: +SKIP
    'Hello! How can I help you today?'
"""

from __future__ import annotations

import asyncio

from huggingface_hub import AsyncInferenceClient, constants
from huggingface_hub.errors import HfHubHTTPError

from mirror_hf.errors import MirrorError
from mirror_hf.llm.cache import ResponseCache
from mirror_hf.llm.retry import call_with_retries
from mirror_hf.llm.types import BackendError, ChatRequest, ChatResponse, TokenUsage

try:  # huggingface_hub 2.x talks HTTP through httpx2, 1.x through httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
    import httpx


def _classify(err: Exception) -> tuple[int | None, str | None] | None:
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        return err.response.status_code, err.response.headers.get("retry-after")
    if isinstance(err, (httpx.TimeoutException, httpx.TransportError, asyncio.TimeoutError, ConnectionError)):
        return None, None  # network trouble: retry with back-off
    return None


def _token_logprobs(choice) -> list[dict] | None:
    """The answer's tokens with their log-probabilities and top alternatives; None when the server sent none."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return [
        {
            "token": t.token,
            "logprob": t.logprob,
            "top": [[alt.token, alt.logprob] for alt in (t.top_logprobs or [])],
        }
        for t in content
    ]


class OpenAICompatBackend:
    """Chat completions at ``{base_url}/chat/completions`` for ``model``."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        max_concurrency: int = 8,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        cache: ResponseCache | None = None,
    ):
        if constants.is_offline_mode():
            # huggingface_hub's HTTP client refuses every request in offline mode, your own server's too
            raise MirrorError(
                f"HF_HUB_OFFLINE is set, so huggingface_hub cannot reach {base_url}",
                fix="unset HF_HUB_OFFLINE for simulation and judging runs (local model folders still load offline)",
            )
        self.model, self.base_url = model, base_url.rstrip("/")
        self._client = AsyncInferenceClient(base_url=self.base_url, api_key=api_key, timeout=timeout)
        self.max_concurrency = max_concurrency
        self._semaphores: dict = {}  # one per event loop: asyncio primitives belong to the loop that uses them
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.cache = cache
        self.usage = TokenUsage()

    @property
    def id(self) -> str:
        """What the model is called in records and cache keys (never the API key)."""
        return f"{self.model}@{self.base_url}"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if self.cache and (hit := self.cache.get(self.base_url, self.model, request)):
            self.usage.add(hit)
            return hit

        def count_retry(attempt, status, delay):
            self.usage.retries += 1
            self.usage.by_status[str(status)] = self.usage.by_status.get(str(status), 0) + 1

        async def call():
            loop = asyncio.get_running_loop()
            semaphore = self._semaphores.setdefault(loop, asyncio.Semaphore(self.max_concurrency))
            async with semaphore:
                return await self._client.chat_completion(
                    request.messages, model=self.model, stream=False, **request.sampling()
                )

        try:
            out = await call_with_retries(
                call,
                _classify,
                max_attempts=self.max_attempts,
                base_delay=self.base_delay,
                max_delay=self.max_delay,
                on_retry=count_retry,
            )
        except BackendError:
            self.usage.failures += 1
            raise
        choice = out.choices[0]
        usage = out.usage
        response = ChatResponse(
            text=choice.message.content or "",
            model=self.model,
            finish_reason=choice.finish_reason,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            logprobs=_token_logprobs(choice) if request.logprobs else None,
        )
        self.usage.add(response)
        if self.cache:
            self.cache.put(self.base_url, self.model, request, response)
        return response
