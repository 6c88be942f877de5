"""On-disk cache of chat responses, keyed by the whole request: back-end, model, messages and sampling.

A rerun of an evaluation or simulation asks nothing twice. One JSON file per response, written atomically, so
concurrent writers and a killed run leave no broken entries. Keys never include credentials.

Example:
    >>> cache = ResponseCache("/tmp/mirror-cache")
    >>> key = cache.key("https://api.openai.com/v1", "gpt-4o", request)              # doctest: +SKIP
    >>> cache.get(key) is None                                                       # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from mirror_hf.llm.types import ChatRequest, ChatResponse


class ResponseCache:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self._folders: set[Path] = set()  # made already: no mkdir syscall per answer

    @staticmethod
    def key(endpoint: str, model: str, request: ChatRequest) -> str:
        """Computed once per call by the back-end (it hashes the whole request, faces included) for get and put."""
        head = json.dumps({"endpoint": endpoint, "model": model, "sampling": request.sampling()}, sort_keys=True)
        return hashlib.sha256(head.encode() + b"\0" + request.messages_json.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> ChatResponse | None:
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return ChatResponse(**{**data, "cached": True})

    def put(self, key: str, response: ChatResponse) -> None:
        path = self._path(key)
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        data = {k: v for k, v in vars(response).items() if k != "cached"}
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, path)
