"""Turn-level client faces in the authors' layout: ``{idx}/turn:{t}_{celeba_stem}.png`` (one per client turn t).

This is what the synthesis pipeline writes. ``turn_{t}_`` and ``turn-{t}_`` are accepted too, for file systems
that forbid ``:``.

Example:
    >>> TURN_FILE.match("turn:7_006472.png").group(1)
    '7'
"""

from __future__ import annotations

import re
from pathlib import Path

from mirror_hf.errors import MirrorError

TURN_FILE = re.compile(r"^turn[:_\-](\d+)_(.+)\.(png|jpe?g|webp)$", re.IGNORECASE)


def turn_image_name(turn: int, celeba_image: str | None, ext: str = "png") -> str:
    """The authors' file name for the face of client turn ``turn``."""
    stem = Path(celeba_image).stem if celeba_image else "face"
    return f"turn:{turn}_{stem}.{ext}"


def index_turn_images(root: str | Path) -> dict[str, dict[int, Path]]:
    """idx -> {turn: image path} for every image file in the folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MirrorError(f"turn-image folder {str(root)!r} does not exist", fix="pass the synthesis output folder")
    index: dict[str, dict[int, Path]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        turns = {}
        for path in folder.iterdir():
            match = TURN_FILE.match(path.name)
            if match:
                turns[int(match.group(1))] = path
        if turns:
            index[folder.name] = turns
    return index
