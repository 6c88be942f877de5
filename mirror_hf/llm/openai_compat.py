"""A chat back-end for any OpenAI-compatible endpoint (OpenAI, vLLM, TGI, ``transformers serve``, Ollama): a
concurrency bound, kept-alive connections, retries, timeouts, the response cache, token usage.

It posts to ``{base_url}/chat/completions`` with the HTTP client huggingface_hub ships (httpx2, or httpx for
huggingface_hub 1.x) rather than through ``AsyncInferenceClient``: that client re-reads the Hub token and rebuilds
its headers and typed response objects on every call (about 2 ms of CPU each, which at 16 concurrent sessions is
most of the runner's overhead), and it refuses every request under ``HF_HUB_OFFLINE=1``, the user's own loopback
server included. A request's messages are JSON-encoded once (``ChatRequest.messages_json``), faces included.

Example:
    >>> backend = OpenAICompatBackend("gpt-4o", "https://api.openai.com/v1", api_key="sk-...")  # doctest: +SKIP
    >>> request = ChatRequest.of([{"role": "user", "content": "Hi"}], temperature=0)
    >>> asyncio.run(backend.chat(request)).text                                              # doctest: +SKIP
    'Hello! How can I help you today?'
"""

from __future__ import annotations

import asyncio
import json

from mirror_hf.errors import MirrorError
from mirror_hf.llm.cache import ResponseCache
from mirror_hf.llm.retry import call_with_retries
from mirror_hf.llm.types import BackendError, ChatRequest, ChatResponse, TokenUsage

try:  # huggingface_hub 2.x talks HTTP through httpx2, 1.x through httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
    import httpx


class HTTPFailure(Exception):
    """An answer with an error status; retried or not by its status."""

    def __init__(self, status: int, retry_after: str | None, body: str):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status, self.retry_after = status, retry_after


def _classify(err: Exception) -> tuple[int | None, str | None] | None:
    if isinstance(err, HTTPFailure):
        return err.status, err.retry_after
    if isinstance(err, (httpx.TimeoutException, httpx.TransportError, asyncio.TimeoutError, ConnectionError)):
        return None, None  # network trouble: retry with back-off
    return None


def _token_logprobs(choice: dict) -> list[dict] | None:
    """The answer's tokens with their log-probabilities and top alternatives; None when the server sent none."""
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    return [
        {
            "token": t["token"],
            "logprob": t["logprob"],
            "top": [[alt["token"], alt["logprob"]] for alt in t.get("top_logprobs") or []],
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
        self.model, self.base_url = model, base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.timeout, self.max_concurrency = timeout, max_concurrency
        # one client and bound per event loop: asyncio objects belong to the loop that made them
        self._loops: dict = {}
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.cache = cache
        self.usage = TokenUsage()

    @property
    def id(self) -> str:
        """What the model is called in records and cache keys (never the API key)."""
        return f"{self.model}@{self.base_url}"

    async def ping(self) -> None:
        """Raise MirrorError when the server cannot be reached or refuses the key; any other answer (even a 404 from
        a server without ``/models``) means it is there. One call, before a long run."""
        try:
            async with httpx.AsyncClient(timeout=min(self.timeout, 15.0), headers=self._headers) as client:
                answer = await client.get(f"{self.base_url}/models")
        except httpx.TransportError as err:
            raise MirrorError(
                f"cannot reach the model server {self.base_url} ({type(err).__name__}: {err or 'no answer'})",
                fix=f"start the server for {self.model}, or check the URL in the model spec",
            ) from None
        if answer.status_code in (401, 403):
            raise MirrorError(
                f"the model server {self.base_url} refused the API key (HTTP {answer.status_code})",
                fix="check OPENAI_API_KEY",
            )

    def _for_loop(self):
        loop = asyncio.get_running_loop()
        if loop not in self._loops:
            for old in [old for old in self._loops if old.is_closed()]:
                del self._loops[old]
            limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
            client = httpx.AsyncClient(timeout=self.timeout, limits=limits, headers=self._headers)
            self._loops[loop] = (client, asyncio.Semaphore(self.max_concurrency))
        return self._loops[loop]

    def _body(self, request: ChatRequest) -> bytes:
        """The request body, splicing in the messages' JSON as encoded once by ChatRequest."""
        head = json.dumps({"model": self.model, "stream": False, **request.sampling()})
        return (head[:-1] + ', "messages": ' + request.messages_json + "}").encode("utf-8")

    async def chat(self, request: ChatRequest) -> ChatResponse:
        key = self.cache.key(self.base_url, self.model, request) if self.cache else None
        if key and (hit := self.cache.get(key)):
            self.usage.add(hit)
            return hit

        def count_retry(attempt, status, delay):
            self.usage.retries += 1
            self.usage.by_status[str(status)] = self.usage.by_status.get(str(status), 0) + 1

        body = self._body(request)

        async def call():
            client, semaphore = self._for_loop()
            async with semaphore:
                answer = await client.post(f"{self.base_url}/chat/completions", content=body)
            if answer.status_code >= 400:
                raise HTTPFailure(answer.status_code, answer.headers.get("retry-after"), answer.text)
            return answer.json()

        try:
            out = await call_with_retries(
                call,
                _classify,
                max_attempts=self.max_attempts,
                base_delay=self.base_delay,
                max_delay=self.max_delay,
                on_retry=count_retry,
            )
            choice = out["choices"][0]
        except BackendError as err:  # say which server: a run may talk to several
            self.usage.failures += 1
            raise BackendError(f"{self.id}: {err}", status=err.status, attempts=err.attempts) from err
        except (KeyError, IndexError, TypeError) as err:
            self.usage.failures += 1
            raise BackendError(f"not a chat completion from {self.base_url}: {str(out)[:200]}") from err
        usage = out.get("usage") or {}
        response = ChatResponse(
            text=(choice.get("message") or {}).get("content") or "",
            model=self.model,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
            logprobs=_token_logprobs(choice) if request.logprobs else None,
        )
        self.usage.add(response)
        if key:  # a file write: off the event loop, which other calls are waiting on
            await asyncio.to_thread(self.cache.put, key, response)
        return response
