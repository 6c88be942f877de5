"""Gather every input of a build (release, CelebA, turn faces, CACTUS) into checked records, once per process.

All checks a user can fail happen here, before any row is written: a bad row raises :class:`MirrorError`, or with
``on_error="skip"`` is listed and left out of every config alike.

Example:
    >>> from mirror_hf.data.sources import BuildSources, load_release
    >>> release = load_release(BuildSources(release="path/to/release", celeba_dir="path/to/celeba"))  # doctest: +SKIP
    >>> len(release.dialogues), release.skipped                                                     # doctest: +SKIP
    (3073, [])
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from datasets.utils.tqdm import tqdm  # follows datasets.disable_progress_bars()
from PIL import Image, UnidentifiedImageError

from mirror_hf import __version__
from mirror_hf.data.cactus import CactusIndex, infer_technique
from mirror_hf.data.celeba import ATTRIBUTE_FILE, IDENTITY_FILE, IMAGE_DIR, IMAGE_ZIP, CelebA, link_kind
from mirror_hf.data.records import Dialogue, Profile
from mirror_hf.data.release import (
    TEST_FILES,
    TRAIN_FILES,
    find_release_file,
    read_dialogues,
    read_profiles,
    resolve_release,
)
from mirror_hf.data.turn_images import index_turn_images
from mirror_hf.errors import MirrorError, SkippedRow
from mirror_hf.schema import FILTER_REPORT_FILE

logger = logging.getLogger(__name__)
ON_ERROR = ("raise", "skip")


@dataclass(frozen=True)
class BuildSources:
    """Where a build reads from. ``release`` is a folder, a file or a Hub dataset id."""

    release: str
    celeba_dir: str | None = None
    turn_images: str | None = None
    cactus: str | None = None
    revision: str | None = None
    celeba_link_kind: str = "auto"  # how to read a bare "CelebA idx": auto | image | identity
    on_error: str = "raise"
    filters: str | None = None  # a `mirror-hf synthesize filter` folder: its rejected dialogues are left out

    def __post_init__(self):
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")
        if self.celeba_link_kind not in ("auto", "image", "identity"):
            raise ValueError(f"celeba_link_kind must be auto, image or identity, got {self.celeba_link_kind!r}")


@dataclass
class LoadedRelease:
    dialogues: list[Dialogue]
    profiles: list[Profile]
    celeba: CelebA | None
    files: dict[str, str]  # role -> path actually read
    skipped: list[SkippedRow] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)
    fallbacks: list[dict] = field(default_factory=list)  # rows whose turns came from the raw screenplay, and why

    def identity_bytes(self, record: Profile) -> bytes | None:
        if self.celeba is None or record.celeba_image is None:
            return None
        return self.celeba.image_bytes(record.celeba_image)


def _stat(path: Path) -> list:
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def input_fingerprint(sources: BuildSources) -> str:
    """A hash of every input's identity (paths, sizes, mtimes) and the options: equal means an unchanged build.

    CelebA images are covered by the image folder's or zip's own stat (adding or removing files changes it);
    editing a CelebA JPEG in place is not detected.
    """
    release = resolve_release(sources.release, sources.revision)
    parts: list = [__version__, asdict(sources)]
    for candidates in (TRAIN_FILES, TEST_FILES):
        found = find_release_file(release, candidates)
        parts.append(_stat(found) if found else None)
    if sources.cactus:
        parts.append(_stat(Path(sources.cactus).expanduser()))
    if sources.celeba_dir:
        root = Path(sources.celeba_dir).expanduser()
        parts += [
            _stat(root / name)
            for name in (IDENTITY_FILE, ATTRIBUTE_FILE, IMAGE_DIR, IMAGE_ZIP)
            if (root / name).exists()
        ]
    if sources.filters:
        parts.append(_stat(_filter_report_path(sources.filters)))
    if sources.turn_images:
        for idx, turns in sorted(index_turn_images(sources.turn_images).items()):
            parts.append([idx, [_stat(p)[1:] + [t] for t, p in sorted(turns.items())]])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_image_bytes(data: bytes) -> None:
    """Raise OSError-like errors when ``data`` is not a readable image (PNG CRCs are checked)."""
    with Image.open(io.BytesIO(data)) as img:
        img.verify()


def load_release(sources: BuildSources, fingerprint: str | None = None) -> LoadedRelease:
    """Read and check every input of ``sources``; cached per process while the inputs are unchanged.

    ``fingerprint``: the inputs' :func:`input_fingerprint` when the caller has just computed it (it walks the turn
    faces). Its progress bar follows ``datasets.disable_progress_bars()``.
    """
    return _load_release(sources, fingerprint or input_fingerprint(sources))


@lru_cache(maxsize=2)
def _load_release(sources: BuildSources, fingerprint: str) -> LoadedRelease:
    release_root = resolve_release(sources.release, sources.revision)
    train_file = find_release_file(release_root, TRAIN_FILES)
    test_file = find_release_file(release_root, TEST_FILES)
    if train_file is None and test_file is None:
        raise MirrorError(
            f"no release files in {str(release_root)!r}",
            fix=f"expected {TRAIN_FILES[0]} (or {TRAIN_FILES[1]}) and {TEST_FILES[0]}",
        )
    skipped: list[SkippedRow] = []

    def on_row_error(err: MirrorError) -> None:
        if sources.on_error == "raise":
            raise err
        logger.warning("skipping: %s", err)
        skipped.append(err.as_skip())

    fallbacks: list[dict] = []
    dialogues = read_dialogues(train_file, on_row_error, fallbacks) if train_file else []
    stats: Counter = Counter()
    if sources.filters:
        dialogues = _drop_filtered(dialogues, read_rejected(sources.filters), stats)
    profiles = read_profiles(test_file, on_row_error) if test_file else []
    celeba = CelebA(sources.celeba_dir) if sources.celeba_dir else None
    if celeba is not None:  # say now what a missing annotation file would stop later, row by row
        celeba.require(*_annotations_needed(dialogues + profiles, sources.celeba_link_kind))
    cactus = CactusIndex(sources.cactus) if sources.cactus else None
    turn_index = index_turn_images(sources.turn_images) if sources.turn_images else {}

    def complete(record: Profile, link: str | None, with_turns: bool) -> bool:
        try:
            _link_celeba(record, link, celeba, sources.celeba_link_kind)
            _fill_technique(record, cactus, stats if with_turns else Counter())
            if with_turns:
                _attach_turn_images(record, turn_index.pop(record.idx, {}), stats)
            return True
        except MirrorError as err:
            on_row_error(err)
            return False

    bar = tqdm(total=len(dialogues) + len(profiles), desc="Checking inputs", unit="row")
    kept_dialogues = []
    for dialogue, link in dialogues:
        if complete(dialogue, link, with_turns=True):
            kept_dialogues.append(dialogue)
        bar.update()
    kept_profiles = []
    for profile, link in profiles:
        if complete(profile, link, with_turns=False):
            kept_profiles.append(profile)
        bar.update()
    bar.close()
    stats["turn_image_folders_without_dialogue"] = len(turn_index)
    files = {"train": str(train_file) if train_file else None, "test": str(test_file) if test_file else None}
    return LoadedRelease(kept_dialogues, kept_profiles, celeba, files, skipped, stats, fallbacks)


def _annotations_needed(rows: list, link_kind_of: str) -> list[str]:
    """The CelebA annotation files that linking ``rows`` (record, link) will read (see :func:`_link_celeba`)."""
    needed = []
    for record, link in rows:
        if record.celeba_image is None and link is not None:
            identity = link_kind(link, link_kind_of) == "identity"
        else:  # an image without its identity is looked up; an identity without image needs its first image
            identity = (record.celeba_image is None) != (record.celeba_identity is None)
        if identity and IDENTITY_FILE not in needed:
            needed.append(IDENTITY_FILE)
        if record.gender is None and ATTRIBUTE_FILE not in needed:
            needed.append(ATTRIBUTE_FILE)
    return needed


def _filter_report_path(path: str) -> Path:
    path = Path(path).expanduser()
    file = path / FILTER_REPORT_FILE if path.is_dir() else path
    if not file.is_file():
        raise MirrorError("no filter report here", file=str(file), fix="give the --out folder of synthesize filter")
    return file


def read_rejected(path: str) -> dict[str, list[str]]:
    """idx -> the filters that rejected it, from a ``mirror-hf synthesize filter`` folder (or its report file)."""
    file = _filter_report_path(path)
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
        return {idx: sorted(reasons) for idx, reasons in report["rejected_dialogues"].items()}
    except (OSError, json.JSONDecodeError, KeyError, AttributeError, TypeError) as err:
        raise MirrorError(
            f"cannot read the filter report: {err}", file=str(file), fix="give the --out folder of synthesize filter"
        ) from err


def _drop_filtered(dialogues: list, rejected: dict[str, list[str]], stats: Counter) -> list:
    """The dialogues no filter rejected; the rejected ones counted per filter in ``stats``."""
    kept = []
    for dialogue, link in dialogues:
        reasons = rejected.pop(dialogue.idx, None)
        if reasons is None:
            kept.append((dialogue, link))
            continue
        stats["filtered_out"] += 1
        stats.update(f"filtered_out_by_{name}" for name in reasons)
    stats["filter_verdicts_without_dialogue"] = len(rejected)
    return kept


def _row_error(record: Profile, message: str, field: str, fix: str | None = None) -> MirrorError:
    return MirrorError(message, file=record.source_file, row=record.source_row, idx=record.idx, field=field, fix=fix)


def _link_celeba(record: Profile, link: str | None, celeba: CelebA | None, kind: str) -> None:
    if celeba is None:
        return
    try:
        if record.celeba_image is None and link is not None:
            record.celeba_image, identity = celeba.resolve_link(link, kind)
            record.celeba_identity = record.celeba_identity or identity
        elif record.celeba_image is None and record.celeba_identity is not None:
            record.celeba_image = celeba.first_image[record.celeba_identity]
        elif record.celeba_image is not None and record.celeba_identity is None:
            record.celeba_identity = celeba.identities.get(record.celeba_image)
    except (ValueError, KeyError) as err:
        raise _row_error(record, f"cannot resolve the CelebA link: {err}", "celeba_idx") from None
    if record.celeba_image is None:
        raise _row_error(record, "no CelebA link", "img_path", fix="the row needs img_path, identity or celeba_idx")
    try:
        celeba.image_bytes(record.celeba_image)
    except MirrorError as err:
        raise _row_error(record, err.problem + f" ({err.file or celeba.root})", "img_path", err.fix) from None
    if record.gender is None:
        record.gender = celeba.gender(record.celeba_image)


def _fill_technique(record: Profile, cactus: CactusIndex | None, stats: Counter) -> None:
    match = cactus.match(record.distorted_thought, record.cbt_plan) if cactus else None
    if match:
        record.thinking_traps = match.patterns
        stats[f"cactus_join_{match.how}"] += 1
        if record.cbt_technique is None:
            record.cbt_technique, record.cbt_technique_source = match.technique, "cactus"
    elif cactus:
        stats["cactus_join_none"] += 1
    if record.cbt_technique is None and record.cbt_plan:
        technique = infer_technique(record.cbt_plan)
        if technique:
            record.cbt_technique, record.cbt_technique_source = technique, "inferred"
    stats[f"cbt_technique_{record.cbt_technique_source or 'missing'}"] += 1


def _attach_turn_images(dialogue: Dialogue, images: dict, stats: Counter) -> None:
    for t, turn in enumerate(dialogue.turns):
        path = images.pop(t, None)
        if turn.speaker != "client":
            if path is not None:
                stats["turn_images_on_therapist_turns"] += 1
            continue
        if path is None:
            stats["client_turns_without_image"] += 1
            continue
        try:
            check_image_bytes(path.read_bytes())
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise _row_error(
                dialogue,
                f"turn image {path} is corrupt ({err})",
                f"turns[{t}].image",
                fix="regenerate or delete the file",
            ) from None
        turn.image_path = path
        stats["client_turns_with_image"] += 1
    stats["turn_images_beyond_last_turn"] += len(images)
