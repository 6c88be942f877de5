"""Render one dialogue of a built dataset as a static HTML page: turns, stage directions and faces.

Example:
    >>> from mirror_hf.preview import write_preview
    >>> write_preview("mirror", "mirror-preview.html")          # doctest: +SKIP
    PosixPath('mirror-preview.html')
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
from datasets import Image, List

from mirror_hf import __version__
from mirror_hf.data.built import open_built
from mirror_hf.errors import MirrorError
from mirror_hf.llm.images import image_to_data_url
from mirror_hf.outputs import claim_output_file
from mirror_hf.progress import datasets_bars
from mirror_hf.schema import DIALOGUES

GENERATOR = '<meta name="generator" content="mirror-hf preview">'  # how a page of ours is told from another file


def _data_uri(image: dict | None) -> str | None:
    return image_to_data_url(image["bytes"]) if image and image.get("bytes") else None


def _undecoded(ds):
    """The same rows with image bytes instead of PIL images (no data is rewritten)."""
    turn = dict(ds.features["turns"].feature)
    turn["image"] = Image(decode=False)
    return ds.cast_column("identity_image", Image(decode=False)).cast_column("turns", List(turn))


def render_preview(dataset: str | Path, idx: str | None = None, index: int = 0) -> str:
    """HTML for the dialogue ``idx`` (or the ``index``-th one) of the built folder or Hub id ``dataset``."""
    ds = open_built(str(dataset), DIALOGUES)
    if idx is not None:
        matches = [i for i, value in enumerate(ds["idx"]) if value == idx]
        if not matches:
            raise MirrorError(
                f"no dialogue with idx {idx!r} in {dataset} (ids like cactus-7658-emotional-resistance are the "
                "released MIRROR's)",
                fix=f"give one of its {len(ds)} ids, e.g. {ds[0]['idx']}, or --index N",
            )
        index = matches[0]
    if not 0 <= index < len(ds):
        raise MirrorError(f"index {index} is out of range: the dataset has {len(ds)} dialogues")
    with datasets_bars(enabled=False):  # a one-row cast: its bar says nothing
        row = _undecoded(ds.select([index]))[0]
    turns = [{**turn, "src": _data_uri(turn["image"])} for turn in row["turns"]]
    env = jinja2.Environment(autoescape=True)
    template = env.from_string((resources.files("mirror_hf") / "templates" / "preview.html").read_text("utf-8"))
    return template.render(
        row=row,
        turns=turns,
        resistance=ds.features["resistance"].int2str(row["resistance"]),
        identity_src=_data_uri(row["identity_image"]),
        version=__version__,
        generator=GENERATOR,
        source=str(dataset),
    )


def write_preview(dataset: str | Path, out: str | Path, idx: str | None = None, index: int = 0) -> Path:
    """Write the page to ``out``: a new file, or a page an earlier preview wrote (no other file is overwritten)."""
    out = claim_output_file(out, marker=GENERATOR)
    out.write_text(render_preview(dataset, idx=idx, index=index), encoding="utf-8")
    return out
