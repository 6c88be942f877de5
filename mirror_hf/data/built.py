"""Open a dataset mirror-hf wrote — a local folder, or its copy on the Hub — and nothing else.

``datasets.load_dataset("mirror")`` falls back to whatever it cached under that name when ``./mirror`` does not
exist (or the Hub cannot be reached), and would hand back rows of an old build without a word. Here a name is
either an existing folder or a Hub dataset that answers; anything else is an error that says what to do.

Example:
    >>> from mirror_hf.data.built import open_built
    >>> profiles = open_built("mirror", "eval_profiles")        # doctest: +SKIP
    >>> open_built("no_such_folder", "dialogues")                # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mirror_hf.errors.MirrorError: there is no folder ./no_such_folder. Fix: build it first ...
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.schema import CONFIG_SPLITS

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_HTTP = ("httpx", "httpx2")  # the HTTP clients huggingface_hub uses


def looks_local(name: str) -> bool:
    """Whether ``name`` can only be a path: ``./x``, ``/x``, ``~/x``, ``x`` (a Hub id has one slash), ``a/b/c``."""
    return name.startswith((".", "/", "~")) or not _HUB_ID.fullmatch(name)


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def locate(name: str, *, repo_type: str = "dataset", what: str = "dataset", build_hint: str = "mirror-hf build") -> str:
    """``name`` as a path when it is an existing local folder, else as a Hub id that the Hub knows; otherwise a
    MirrorError naming the folder it looked for and the command that writes it."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise MirrorError(f"{name} is a file, not a {what} folder", fix=f"give the folder `{build_hint}` wrote")
    shown = name if name.startswith((".", "/", "~")) else f"./{name}"
    if looks_local(name):
        raise MirrorError(
            f"there is no folder {shown}", fix=f"build it first with `{build_hint}`, or give the folder it wrote"
        )
    if _hub_offline():
        raise MirrorError(
            f"there is no folder {shown}, and HF_HUB_OFFLINE is set, so the Hub {what} {name} cannot be looked up",
            fix=f"give a local folder, or fetch it first: mirror-hf pull {name} --out DIR",
        )
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        HfApi().repo_info(name, repo_type=repo_type)
    except RepositoryNotFoundError:
        raise MirrorError(
            f"there is no folder {shown}, and the Hub has no {what} {name} that you may read",
            fix=f"build it first with `{build_hint}`; for a private Hub copy, log in (HF_TOKEN or `hf auth login`)",
        ) from None
    except Exception as err:  # the Hub refused, or could not be reached (httpx's errors are their own types)
        if not isinstance(err, (HfHubHTTPError, OSError)) and type(err).__module__.split(".")[0] not in _HTTP:
            raise
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MirrorError(
            f"there is no folder {shown}, and the Hub could not be asked for the {what} {name} ({reason})",
            fix="check your network (or HF_ENDPOINT), or give a local folder",
        ) from None
    return name


def open_built(name: str, config: str, *, split: str | None = None):
    """The ``split`` (default: the config's own) of ``config`` in the built folder or Hub dataset ``name``."""
    from datasets import load_dataset

    where = locate(name)
    split = split or CONFIG_SPLITS.get(config, "train")
    try:
        return load_dataset(where, config, split=split)
    except ValueError as err:  # no such config or split
        available = _configs(where)
        fix = "rebuild with that config: mirror-hf build ... --configs " + config
        if available:
            fix = f"it has {', '.join(available)}; " + fix
        raise MirrorError(f"{name} has no {config!r} config ({str(err).splitlines()[0]})", fix=fix) from None
    except (FileNotFoundError, OSError) as err:
        raise MirrorError(
            f"cannot read the {config!r} config of {name}: {err}", fix="rebuild it with `mirror-hf build`"
        ) from None


def _configs(where: str) -> list[str]:
    """The config names a built folder's card lists (empty for a Hub id or a folder without a card)."""
    card = Path(where) / "README.md"
    if not card.is_file():
        return []
    return re.findall(r"^- config_name: (\S+)", card.read_text(encoding="utf-8"), re.M)


def dialogue_texts(dialogues, limit: int | None = None) -> list[dict]:
    """The rows of a built ``dialogues`` config (a ``datasets.Dataset``) without their faces: read 64 rows at a time
    and never decoded (a full build holds some 30,000 turn faces)."""
    dialogues = dialogues.remove_columns(["identity_image"])
    if limit:
        dialogues = dialogues.select(range(min(limit, len(dialogues))))
    rows = []
    for table in dialogues.with_format("arrow").iter(batch_size=64):
        for row in table.to_pylist():
            row["turns"] = [{k: v for k, v in turn.items() if k != "image"} for turn in row["turns"]]
            rows.append(row)
    return rows
