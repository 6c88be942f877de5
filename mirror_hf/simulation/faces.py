"""Where each client turn's face comes from: the identity image (default), a folder of pre-generated faces in the
authors' layout, or any generator with the same ``face`` method (the synthesis pipeline plugs in here).

Example:
    >>> faces = FolderFaces("faces/", fallback=IdentityFaces())     # doctest: +SKIP
    >>> faces.face(profile, turn=3, stage_direction="Looks away")    # doctest: +SKIP
    <PIL.PngImagePlugin.PngImageFile image mode=RGB size=336x336>
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from mirror_hf.data.turn_images import index_turn_images


class IdentityFaces:
    """The client's CelebA identity face on every turn (what a run without a face generator can show)."""

    name = "identity"

    def face(self, profile: dict, turn: int, stage_direction: str | None):
        return profile.get("identity_image")


class FolderFaces:
    """Faces from ``{idx}/turn:{t}_{stem}.png``; turns without a file fall back to ``fallback``."""

    name = "folder"

    def __init__(self, root: str | Path, fallback=None):
        self.index = index_turn_images(root)
        self.fallback = fallback or IdentityFaces()

    def face(self, profile: dict, turn: int, stage_direction: str | None):
        path = self.index.get(profile["idx"], {}).get(turn)
        if path is None:
            return self.fallback.face(profile, turn, stage_direction)
        with Image.open(path) as img:
            return img.convert("RGB")
