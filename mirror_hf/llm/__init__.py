"""Chat back-ends shared by the simulation, the judges and synthesis: an OpenAI-compatible HTTP back-end, a local
transformers back-end, one model-spec string (``openai:MODEL``, ``MODEL@URL``, ``local:PATH``), retries, a response
cache and token accounting.

Example:
    >>> import asyncio
    >>> from mirror_hf.llm import ChatRequest, load_backend
    >>> backend = load_backend("openai:gpt-4o", cache_dir="~/.cache/mirror_hf/llm")             # doctest: +SKIP
    >>> asyncio.run(backend.chat(ChatRequest.of([{"role": "user", "content": "Hi"}]))).text    # doctest: +SKIP
"""

from mirror_hf.llm.cache import ResponseCache
from mirror_hf.llm.images import image_to_data_url, user_message
from mirror_hf.llm.reask import Answer, ask_until_read
from mirror_hf.llm.spec import load_backend, parse_spec
from mirror_hf.llm.types import BackendError, ChatRequest, ChatResponse, TokenUsage


async def check_reachable(*backends) -> None:
    """Ping each distinct server among ``backends`` once (those with a ``ping``: HTTP back-ends); a MirrorError
    names the first that cannot be reached. Local models have nothing to reach."""
    seen = set()
    for backend in backends:
        backend = getattr(backend, "inner", backend)  # a metered wrapper
        if hasattr(backend, "ping") and backend.id not in seen:
            seen.add(backend.id)
            await backend.ping()


__all__ = [
    "Answer",
    "BackendError",
    "ChatRequest",
    "ChatResponse",
    "ResponseCache",
    "TokenUsage",
    "ask_until_read",
    "check_reachable",
    "image_to_data_url",
    "load_backend",
    "parse_spec",
    "user_message",
]
