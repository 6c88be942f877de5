"""One model-spec string for the command line: ``openai:MODEL``, ``MODEL@URL``, ``local:PATH_OR_HUB_ID``.

Example:
    >>> parse_spec("Qwen/Qwen2.5-7B-Instruct@http://localhost:8000/v1")
    ('openai-compatible', 'Qwen/Qwen2.5-7B-Instruct', 'http://localhost:8000/v1')
    >>> parse_spec("local:./runs/mirror-llava-merged")
    ('local', './runs/mirror-llava-merged', None)
"""

from __future__ import annotations

import os

from mirror_hf.errors import MirrorError
from mirror_hf.llm.cache import ResponseCache

OPENAI_URL = "https://api.openai.com/v1"
SPEC_HELP = "use openai:MODEL, MODEL@http(s)://HOST/v1 or local:PATH_OR_HUB_ID"


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """(kind, model, base_url) of a spec; raises MirrorError on anything else."""
    spec = spec.strip()
    if spec.startswith("openai:") and len(spec) > len("openai:"):
        return "openai-compatible", spec[len("openai:") :], os.environ.get("OPENAI_BASE_URL", OPENAI_URL)
    if spec.startswith("local:") and len(spec) > len("local:"):
        return "local", spec[len("local:") :], None
    if "@" in spec:
        model, _, url = spec.rpartition("@")
        if model and url.startswith(("http://", "https://")):
            return "openai-compatible", model, url
    raise MirrorError(f"cannot read the model spec {spec!r}", fix=SPEC_HELP)


def load_backend(spec: str, *, cache_dir=None, api_key: str | None = None, **options):
    """The chat back-end a spec names. ``openai:`` reads ``OPENAI_API_KEY``; ``MODEL@URL`` reads ``OPENAI_API_KEY``
    too when set (most local servers need none). ``options`` go to the back-end (``max_concurrency``, ...)."""
    kind, model, base_url = parse_spec(spec)
    cache = ResponseCache(cache_dir) if cache_dir else None
    if kind == "local":
        from mirror_hf.llm.local import TransformersBackend

        local_options = {k: v for k, v in options.items() if k in ("max_batch", "dtype", "device")}
        return TransformersBackend(model, cache=cache, **local_options)
    from mirror_hf.llm.openai_compat import OpenAICompatBackend

    key = api_key or os.environ.get("OPENAI_API_KEY")
    if spec.startswith("openai:") and not key:
        raise MirrorError(f"{spec} needs an API key", fix="export OPENAI_API_KEY=... (it is never written anywhere)")
    remote_options = {k: v for k, v in options.items() if k not in ("max_batch", "dtype", "device")}
    return OpenAICompatBackend(model, base_url, api_key=key, cache=cache, **remote_options)
