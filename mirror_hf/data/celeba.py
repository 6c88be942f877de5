"""The user's own CelebA copy, in CelebA's exact layout (images are never redistributed by this project).

A CelebA folder holds ``img_align_celeba/000001.jpg ...`` or ``img_align_celeba.zip``, ``identity_CelebA.txt``
(``000001.jpg 2880`` per line) and ``list_attr_celeba.txt`` (a count, the 40 attribute names, then
``000001.jpg  -1  1 ...``). The text files are read only when a build needs them.

Example:
    >>> celeba = CelebA("~/data/celeba")                     # doctest: +SKIP
    >>> celeba.resolve_link("006472")                         # doctest: +SKIP
    ('006472.jpg', 1245)
"""

from __future__ import annotations

import io
import zipfile
from functools import cached_property
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from mirror_hf.errors import MirrorError

IMAGE_DIR = "img_align_celeba"
IMAGE_ZIP = "img_align_celeba.zip"
IDENTITY_FILE = "identity_CelebA.txt"
ATTRIBUTE_FILE = "list_attr_celeba.txt"
DOWNLOAD_HINT = "download CelebA (aligned & cropped images + annotations) from its official page"


def link_kind(link: str | int, kind: str = "auto") -> str:
    """``image`` or ``identity``: what a "CelebA idx" names (``auto``: a ``.jpg`` name or a 6-digit number is an
    image, any other number an identity)."""
    text = str(link).strip()
    if kind != "auto":
        return kind
    return "image" if text.endswith(".jpg") or (text.isdigit() and len(text) == 6) else "identity"


class CelebA:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise MirrorError(f"CelebA folder {str(self.root)!r} does not exist", fix=DOWNLOAD_HINT)
        self._zip: zipfile.ZipFile | None = None
        self._zip_members: dict[str, zipfile.ZipInfo] = {}
        if (self.root / IMAGE_DIR).is_dir():
            self._image_dir: Path | None = self.root / IMAGE_DIR
        elif (self.root / IMAGE_ZIP).is_file():
            self._image_dir = None
            try:
                self._zip = zipfile.ZipFile(self.root / IMAGE_ZIP)
            except zipfile.BadZipFile as err:
                raise MirrorError(f"not a zip file: {err}", file=str(self.root / IMAGE_ZIP), fix=DOWNLOAD_HINT) from err
            self._zip_members = {Path(info.filename).name: info for info in self._zip.infolist() if not info.is_dir()}
        elif self.root.name == IMAGE_DIR or (self.root.parent / IDENTITY_FILE).is_file():
            raise MirrorError(
                f"CelebA folder {str(self.root)!r} is one level too deep: it is the image folder, not CelebA's root",
                fix=f"give its parent, {str(self.root.parent)!r} (the folder holding {IMAGE_DIR}/ and {IDENTITY_FILE})",
            )
        else:
            raise MirrorError(
                f"CelebA folder {str(self.root)!r} has neither {IMAGE_DIR}/ nor {IMAGE_ZIP}", fix=DOWNLOAD_HINT
            )
        self._bytes: dict[str, bytes] = {}

    def require(self, *names: str) -> None:
        """Raise at once when one of the annotation files ``names`` is missing (a build needs them later on)."""
        missing = [name for name in names if not (self.root / name).is_file()]
        if missing:
            raise MirrorError(
                f"CelebA folder {str(self.root)!r} lacks {' and '.join(missing)}, which this build needs",
                fix=f"{DOWNLOAD_HINT} (the annotation files sit beside {IMAGE_DIR}/)",
            )

    def _text_file(self, name: str) -> Path:
        path = self.root / name
        if not path.is_file():
            raise MirrorError(f"CelebA file {name} is missing", file=str(path), fix=DOWNLOAD_HINT)
        return path

    @cached_property
    def identities(self) -> dict[str, int]:
        """image file name -> identity id."""
        path = self._text_file(IDENTITY_FILE)
        out = {}
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or not parts[1].isdigit():
                    raise MirrorError(
                        f"expected '<image> <identity>', got {line.strip()!r}", file=str(path), row=number
                    )
                out[parts[0]] = int(parts[1])
        return out

    @cached_property
    def first_image(self) -> dict[int, str]:
        """identity id -> its first image (lowest file number), as the authors picked one face per identity."""
        out: dict[int, str] = {}
        for name, identity in self.identities.items():
            if identity not in out or name < out[identity]:
                out[identity] = name
        return out

    @cached_property
    def attributes(self) -> dict[str, dict[str, int]]:
        """image file name -> {attribute: +1/-1}."""
        path = self._text_file(ATTRIBUTE_FILE)
        with path.open(encoding="utf-8") as f:
            f.readline()  # image count
            names = f.readline().split()
            out = {}
            for number, line in enumerate(f, start=3):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != len(names) + 1:
                    raise MirrorError(
                        f"expected an image name and {len(names)} values, got {len(parts)} fields",
                        file=str(path),
                        row=number,
                    )
                out[parts[0]] = dict(zip(names, map(int, parts[1:]), strict=True))
        return out

    def gender(self, image: str) -> str | None:
        male = self.attributes.get(image, {}).get("Male")
        return None if male is None else ("man" if male > 0 else "woman")

    def resolve_link(self, link: str | int, kind: str = "auto") -> tuple[str, int | None]:
        """A "CelebA idx" as image number (``006472``, ``006472.jpg``) or identity id -> (image, identity).

        ``kind="auto"`` reads a ``.jpg`` name or a 6-digit zero-padded number as an image, any other number as an
        identity (CelebA has 10,177 identities and 202,599 images, so only padding tells them apart).
        """
        text = str(link).strip()
        kind = link_kind(text, kind)
        if kind == "image":
            name = f"{int(text.rsplit('.', 1)[0]):06d}.jpg" if text.rsplit(".", 1)[0].isdigit() else text
            return name, self.identities.get(name) if (self.root / IDENTITY_FILE).is_file() else None
        if kind != "identity" or not text.isdigit():
            raise ValueError(f"cannot read CelebA link {text!r} as {kind}")
        identity = int(text)
        if identity not in self.first_image:
            raise ValueError(f"identity {identity} is not in {IDENTITY_FILE}")
        return self.first_image[identity], identity

    def image_bytes(self, name: str) -> bytes:
        """The JPEG bytes of ``name``, checked to decode; raises MirrorError when missing or corrupt."""
        if name in self._bytes:
            return self._bytes[name]
        if self._image_dir is not None:
            path = self._image_dir / name
            if not path.is_file():
                raise MirrorError(f"CelebA image {name} not found in {self._image_dir}", fix=DOWNLOAD_HINT)
            data = path.read_bytes()
            where = str(path)
        else:
            if name not in self._zip_members:
                raise MirrorError(f"CelebA image {name} not found in {IMAGE_ZIP}", fix=DOWNLOAD_HINT)
            data = self._zip.read(self._zip_members[name])
            where = f"{self.root / IMAGE_ZIP}:{name}"
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise MirrorError(f"CelebA image is corrupt ({err})", file=where, fix=DOWNLOAD_HINT) from None
        self._bytes[name] = data
        return data
