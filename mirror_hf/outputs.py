"""The folders mirror-hf writes into: never a folder of someone else's files, and checked before any work.

Every command that writes an output folder claims it first with :func:`claim_output_dir`. A folder may be written
when it does not exist yet, is empty, or holds a file that the same command leaves there (an earlier run, to
update or resume). Any other folder is refused — ``build --out .`` in a project folder would otherwise replace its
``README.md`` and ``data/`` — unless ``force`` is given, and then a command still replaces only the files it writes.
A path that is a file, or cannot be created, is refused the same way, before any work is done.

Example:
    >>> from mirror_hf.outputs import claim_output_dir
    >>> claim_output_dir("runs/sim-pec", command="simulate", markers=("sessions.jsonl",))   # doctest: +SKIP
    PosixPath('runs/sim-pec')
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mirror_hf.errors import MirrorError

# Files any folder may hold without being someone's work: a system's or an editor's droppings.
_IGNORED = {".DS_Store", "Thumbs.db", ".ipynb_checkpoints"}


def _probe_creatable(path: Path) -> None:
    """Create ``path`` (and its missing parents) and remove what was created: the folder can be made later."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:  # innermost first
        folder.rmdir()


def claim_output_dir(
    path: str | Path,
    *,
    command: str,
    markers: Iterable[str],
    force: bool = False,
    option: str = "--out",
    force_flag: str | None = "--force",
) -> Path:
    """Check that ``command`` (e.g. ``"build"``) may write into ``path`` and return it; nothing is created.

    ``markers``: names of files (or folders) that ``command`` leaves in its output; one of them present means an
    earlier run of it. ``force`` allows a folder of other files (the command then replaces only its own files);
    ``force_flag`` is the option that sets it, named in the error (None: the command has none).
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise MirrorError(f"{option} {path} is a file, not a folder", fix="give the path of a folder (it is created)")
    if out.is_dir():
        entries = sorted(e.name for e in out.iterdir() if e.name not in _IGNORED)
        markers = tuple(markers)
        if entries and not force and not any((out / marker).exists() for marker in markers):
            fix = "choose a new or empty folder"
            if force_flag:
                fix += f", or add {force_flag} to write into it anyway (only the files `mirror-hf {command}` writes "
                fix += "are replaced; the others are left as they are)"
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise MirrorError(
                f"{option} {path} already holds files that `mirror-hf {command}` did not write ({shown}), so nothing "
                "was written",
                fix=fix,
            )
        if not os.access(out, os.W_OK | os.X_OK):
            raise MirrorError(f"{option} {path}: no permission to write here", fix="choose a folder you can write to")
        return out
    try:
        _probe_creatable(out)
    except OSError as err:
        raise MirrorError(
            f"{option} {path} cannot be created ({err.strerror or err})", fix="choose a folder you can write to"
        ) from None
    return out


def claim_output_file(path: str | Path, *, marker: str, option: str = "--out") -> Path:
    """Check that a single output file may be written: new, or an earlier one of ours (it contains ``marker``)."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise MirrorError(f"{option} {path} is a folder", fix="give the path of a file")
    if out.exists():
        with out.open("rb") as f:
            head = f.read(4096)
        if marker.encode() not in head:
            raise MirrorError(
                f"{option} {path} exists and was not written by mirror-hf, so it was left as it is",
                fix="choose another file name, or move that file away",
            )
    elif not out.parent.exists() or not os.access(out.parent, os.W_OK):
        raise MirrorError(
            f"{option} {path}: its folder {out.parent} does not exist or cannot be written",
            fix="choose a file in a folder you can write to",
        )
    return out
