"""Where mirror-hf keeps its own files (the sample's stand-ins, later caches of responses and rubrics)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$MIRROR_HF_CACHE``, else ``$XDG_CACHE_HOME/mirror_hf``, else ``~/.cache/mirror_hf``."""
    if os.environ.get("MIRROR_HF_CACHE"):
        return Path(os.environ["MIRROR_HF_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mirror_hf"


def llm_cache_dir() -> Path:
    """The default response cache of the chat back-ends (simulation, judges): ``cache_dir() / "llm"``."""
    return cache_dir() / "llm"
