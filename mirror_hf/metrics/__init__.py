"""``evaluate`` modules for the MIRROR judges: ``wai_alliance`` and ``counseling_eval``.

After ``pip install mirror-hf[eval]`` a bare ``evaluate.load("wai_alliance")`` works, offline too
(``HF_EVALUATE_OFFLINE=1``). How: evaluate resolves a bare name by trying the Hub space
``evaluate-metric/NAME`` and, when that fails, by loading the newest copy in its module cache
(``$HF_MODULES_CACHE/evaluate_modules/metrics/evaluate-metric--NAME/<hash>/NAME.py``). The file
``mirror_hf_evaluate.pth``, installed next to the package, hooks the first ``import evaluate`` of every process and
copies the two scripts there (:func:`register_evaluate_modules`; nothing is written while they are current). The
scripts are thin: they import the installed ``mirror_hf``.

Without the hook (an editable install, ``python -S``), call ``register_evaluate_modules()`` once, or load by path:
``evaluate.load(module_path("wai_alliance"))``. Once pushed as a Space (:func:`push_to_hub`),
``evaluate.load("ORG/wai_alliance")`` works.

Example:
    >>> from mirror_hf.metrics import module_path
    >>> module_path("wai_alliance").name
    'wai_alliance'
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

METRICS = ("wai_alliance", "counseling_eval")
NAMESPACE = "evaluate-metric"  # where evaluate looks for a bare name


def module_path(name: str) -> Path:
    """The folder of a metric (script, README with the Space YAML, app.py, requirements.txt)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; mirror-hf has {', '.join(METRICS)}")
    return Path(__file__).parent / name


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def register_evaluate_modules(modules_cache: str | Path | None = None) -> list[Path]:
    """Copy the metric scripts into evaluate's module cache, where a bare ``evaluate.load(NAME)`` finds them.

    Each goes to a folder named by its SHA-256 (as evaluate names them), made the newest of that name, so an
    upgrade or downgrade of mirror-hf takes effect. Returns the scripts' paths in the cache.
    """
    if modules_cache is None:
        from evaluate import config

        modules_cache = config.HF_MODULES_CACHE
    root = Path(modules_cache) / "evaluate_modules"
    written = []
    for name in METRICS:
        source = (module_path(name) / f"{name}.py").read_bytes()
        folder = root / "metrics" / f"{NAMESPACE}--{name}"
        target = folder / hashlib.sha256(source).hexdigest() / f"{name}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        for init in (root, root / "metrics", folder, target.parent):
            if not (init / "__init__.py").exists():
                _write_atomic(init / "__init__.py", b"")
        others = [p / f"{name}.py" for p in folder.iterdir() if p.is_dir() and p != target.parent]
        newest = max((p.stat().st_mtime for p in others if p.exists()), default=0.0)
        if not target.exists() or target.read_bytes() != source:
            _write_atomic(target, source)
        if target.stat().st_mtime <= newest:  # evaluate loads the newest copy: make it ours
            os.utime(target, (newest + 1, newest + 1))
        written.append(target)
    return written


def push_to_hub(
    name: str, repo_id: str, *, requirement: str | None = None, token: str | None = None, private: bool = False
) -> str:
    """Publish a metric's folder as a gradio Space, after which ``evaluate.load(repo_id)`` works wherever mirror-hf
    is installed. ``requirement`` replaces the Space's ``mirror-hf[eval]`` line, e.g. with
    ``"mirror-hf[eval] @ git+https://github.com/ORG/mirror-hf@v0.1.0"`` while mirror-hf is not on PyPI.
    Returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from mirror_hf import __version__

    files = {p.name: p.read_bytes() for p in sorted(module_path(name).iterdir()) if p.is_file()}
    if requirement:
        files["requirements.txt"] = f"{requirement}\n".encode()
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    commit = api.create_commit(
        repo_id=repo_id,
        repo_type="space",
        operations=[CommitOperationAdd(path_in_repo=n, path_or_fileobj=data) for n, data in files.items()],
        commit_message=f"{name} from mirror-hf {__version__}",
    )
    return commit.commit_url


__all__ = ["METRICS", "module_path", "push_to_hub", "register_evaluate_modules"]
