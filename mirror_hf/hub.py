"""Publish what mirror-hf makes to the Hub and pull it back: a built dataset folder, a simulated-sessions run, an
evaluation (report, figures, every judgement), a trained adapter, a merged model. (Metric Spaces:
:func:`mirror_hf.metrics.push_to_hub`.)

Licence guard: the faces come from CelebA (identity faces, and turn faces synthesized from them), whose terms forbid
redistributing them. A folder that holds faces goes only to a repository that is private — asked for explicitly and
checked on the Hub before anything is uploaded — or without its faces (``drop_images=True``: every image of a copy
of the shards is set to null and the card says how to rebuild them; the local folder is left as it is).

A push is one commit: the card rendered for the repository (``load_dataset("ORG/NAME")`` or
``therapist_pipeline("ORG/NAME")`` in its examples, a model widget whose image URL is the repository's own), the
files, and the deletion of shards an earlier push left that this one no longer has. An interrupted push can be
rerun: the Hub keeps the large files it already received.

Example:
    >>> from mirror_hf.hub import pull, push
    >>> push("mirror", "me/mirror", private=True).commit_url                 # doctest: +SKIP
    'https://huggingface.co/datasets/me/mirror/commit/...'
    >>> push("runs/sim-pec", "me/mirror-sessions", drop_images=True).images  # doctest: +SKIP
    0
    >>> pull("me/mirror-sessions", "runs/sim-pec-copy")                      # doctest: +SKIP
    PosixPath('runs/sim-pec-copy')
"""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.schema import (
    BUILD_REPORT_FILE,
    DATA_DIR,
    EVAL_MARKDOWN_FILE,
    EVAL_REPORT_FILE,
    ITEMS_SHARD,
    JUDGEMENTS_CONFIG,
    RECIPE_FILE,
    RUN_REPORT_FILE,
    SCREENPLAYS_REPORT_FILE,
    SESSIONS_CONFIG,
    SESSIONS_FILE,
    STUDY_FILE,
    VIDEO_REPORT_FILE,
    VIDEO_SHARD,
)

ADAPTER_CONFIG = "adapter_config.json"
# What Trainer.push_to_hub leaves out of an output_dir: checkpoints and private files.
MODEL_IGNORE = ("checkpoint-*", "_*")
# kind -> Hub repository type
KINDS = {
    "dataset": "dataset",
    "sessions": "dataset",
    "evaluation": "dataset",
    "release": "dataset",
    "adapter": "model",
    "merged": "model",
    "study": "dataset",
    "study app": "space",
    "video": "dataset",
    "demo": "space",
}
DEMO_CONFIG = "demo_config.json"  # what makes a folder a therapist demo Space (mirror_hf.demo.space)
STUDY_APP = "annotation_app.py"
WHY_PRIVATE = {
    "dataset": "faces derive from CelebA, whose terms forbid publishing them",
    "video": "they are frames of real people's counseling sessions, which they did not agree to publish",
}  # what makes a folder a pairwise study's app (mirror_hf.pairwise)
RELEASE_UPLOADS = ("mirror_data.csv", "screenplays.jsonl", "design.jsonl")  # of a `synthesize screenplays` folder


@dataclass
class PushResult:
    """What a push did. ``images``: faces uploaded; ``images_dropped``: faces left out with ``drop_images``."""

    repo_id: str
    repo_type: str
    kind: str
    commit_url: str
    private: bool
    files: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    images: int = 0
    images_dropped: int = 0


def folder_kind(folder: str | Path) -> str:
    """``dataset`` (a ``mirror-hf build`` output), ``sessions`` (a ``mirror-hf simulate`` run), ``evaluation`` (a
    ``mirror-hf evaluate`` output), ``release`` (new dialogues of ``mirror-hf synthesize screenplays``), ``adapter``
    (a training ``output_dir``) or ``merged`` (a ``mirror-hf export`` output), told by the files each writes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MirrorError("no such folder", file=str(folder), fix="give a build/simulate/evaluate --out or a model")
    for name, kind in ((BUILD_REPORT_FILE, "dataset"), (RUN_REPORT_FILE, "sessions"), (ADAPTER_CONFIG, "adapter")):
        if (folder / name).is_file():
            if not (folder / "README.md").is_file():
                raise MirrorError("the card (README.md) is missing", file=str(folder), fix="write the folder again")
            return kind
    if (folder / "config.json").is_file() and (folder / RECIPE_FILE).is_file():
        return "merged"
    if (folder / EVAL_REPORT_FILE).is_file() and (folder / EVAL_MARKDOWN_FILE).is_file():
        return "evaluation"
    if (folder / SCREENPLAYS_REPORT_FILE).is_file() and (folder / RELEASE_UPLOADS[0]).is_file():
        return "release"
    if (folder / STUDY_FILE).is_file() and (folder / ITEMS_SHARD).is_file():
        return "study"
    if (folder / VIDEO_REPORT_FILE).is_file() and (folder / VIDEO_SHARD).is_file():
        return "video"
    if (folder / DEMO_CONFIG).is_file() and (folder / "app.py").is_file():
        return "demo"
    if (folder / STUDY_FILE).is_file() and (folder / STUDY_APP).is_file():
        return "study app"
    if (folder / SESSIONS_FILE).is_file():
        raise MirrorError(
            "this simulation run has not written its sessions dataset: it stopped before the end",
            file=str(folder),
            fix="run the same `mirror-hf simulate ... --out` again: it resumes, then writes the dataset",
        )
    raise MirrorError(
        f"not a folder mirror-hf wrote: it has none of {BUILD_REPORT_FILE}, {RUN_REPORT_FILE}, {ADAPTER_CONFIG}, "
        f"config.json + {RECIPE_FILE}, {EVAL_REPORT_FILE} + {EVAL_MARKDOWN_FILE}, {SCREENPLAYS_REPORT_FILE}, "
        f"{STUDY_FILE}",
        file=str(folder),
        fix="push the --out folder of `mirror-hf build`, `simulate`, `evaluate`, `export`, `synthesize screenplays` "
        "or `pairwise sample` (or its app/), or a training output_dir",
    )


def _shards(folder: Path) -> list[Path]:
    return sorted((folder / DATA_DIR).rglob("*.parquet"))


def _features(shard: Path):
    import pyarrow.parquet as pq
    from datasets import Features

    try:
        schema = pq.read_schema(shard)
        return schema, Features.from_arrow_schema(schema)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise MirrorError(f"cannot read this parquet shard ({err})", file=str(shard), fix="rebuild the folder") from err


def _has_image(feature) -> bool:
    from datasets import Image, LargeList, List

    if isinstance(feature, Image):
        return True
    if isinstance(feature, (List, LargeList)):
        return _has_image(feature.feature)
    if isinstance(feature, dict):
        return any(_has_image(f) for f in feature.values())
    return False


def _count_images(array, feature) -> int:
    """Images with bytes under ``feature`` in ``array`` (a path alone is a link, not an image)."""
    import pyarrow.compute as pc
    from datasets import Image, LargeList, List

    if not _has_image(feature):
        return 0
    if isinstance(feature, Image):
        return int(pc.sum(pc.and_(array.is_valid(), array.field("bytes").is_valid())).as_py() or 0)
    if isinstance(feature, (List, LargeList)):
        return _count_images(array.flatten(), feature.feature)
    children = array.flatten()  # the struct's own nulls applied to its fields
    return sum(_count_images(children[array.type.get_field_index(n)], f) for n, f in feature.items())


def _without_images(array, feature):
    """``array`` with every image under ``feature`` set to null; the lists and structs around them are kept."""
    import pyarrow as pa
    from datasets import Image, LargeList, List

    if not _has_image(feature):
        return array
    if isinstance(feature, Image):
        return pa.nulls(len(array), array.type)
    if isinstance(feature, (List, LargeList)):
        values = _without_images(array.values, feature.feature)
        return type(array).from_arrays(array.offsets, values, type=array.type, mask=array.is_null())
    children = [_without_images(array.field(n), feature[n]) for n in array.type.names]
    return pa.StructArray.from_arrays(children, fields=list(array.type), mask=array.is_null())


def find_images(folder: str | Path, progress: bool = True) -> dict[str, int]:
    """Embedded images per parquet shard of ``folder`` (path relative to it), shards without any left out. Reads
    the image columns batch by batch: a shard's images need not fit in memory."""
    import pyarrow.parquet as pq
    from huggingface_hub.utils import tqdm

    folder, found = Path(folder), {}
    for shard in tqdm(_shards(folder), desc="Looking for faces", unit="shard", disable=not progress):
        _, features = _features(shard)
        columns = [name for name, feature in features.items() if _has_image(feature)]
        count = 0
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=256, columns=columns) if columns else ():
            count += sum(_count_images(batch.column(c), features[c]) for c in columns)
        if count:
            found[shard.relative_to(folder).as_posix()] = count
    return found


def write_without_images(shard: str | Path, target: str | Path) -> None:
    """Copy the parquet ``shard`` to ``target`` with every image null; rows, other columns and features kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema, features = _features(Path(shard))
    table = pq.read_table(shard)
    columns = [_without_images(table[n].combine_chunks(), features[n]) for n in table.column_names]
    pq.write_table(pa.Table.from_arrays(columns, schema=schema), target)


def _public_paths(value):
    """``value`` with local absolute paths cut to their last part: a published report names no one's home folder."""
    if isinstance(value, dict):
        return {k: _public_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_public_paths(v) for v in value]
    if isinstance(value, str) and value.startswith(("/", "~")) and "\n" not in value:
        return f".../{Path(value).name}"
    return value


def _card_infos(folder: Path):
    """The dataset_info of each config in ``folder``'s card, as datasets reads them."""
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard

    return DatasetInfosDict.from_dataset_card_data(DatasetCard.load(folder / "README.md").data)


def _dataset_card(folder: Path, repo_id: str, images_removed: bool) -> tuple[str, dict]:
    from mirror_hf.cards import render_dataset_card

    report = json.loads((folder / BUILD_REPORT_FILE).read_text(encoding="utf-8"))
    card = render_dataset_card(dict(_card_infos(folder)), report, load_path=repo_id, images_removed=images_removed)
    return card, report


def _sessions_card(folder: Path, repo_id: str, images_removed: bool) -> tuple[str, dict]:
    from mirror_hf.cards import render_sessions_card

    report = json.loads((folder / RUN_REPORT_FILE).read_text(encoding="utf-8"))
    info = _card_infos(folder).get(SESSIONS_CONFIG)
    return render_sessions_card(report, info, load_path=repo_id, images_removed=images_removed), report


def _model_card(folder: Path, repo_id: str) -> str:
    from huggingface_hub import ModelCard

    from mirror_hf.cards import retarget_model_card

    readme = folder / "README.md"
    if not readme.is_file():
        raise MirrorError("the model has no card", file=str(readme), fix="train with recipes/sft_llava.py")
    return str(retarget_model_card(ModelCard.load(readme), repo_id))


def _model_files(folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        hidden = any(part.startswith(".") for part in rel.parts)
        ignored = any(fnmatch(rel.parts[0], pattern) for pattern in MODEL_IGNORE)
        if path.is_file() and not hidden and not ignored:
            names.append(rel.as_posix())
    return names


def _uploads(folder: Path, kind: str, repo_id: str, *, dropped_from: dict[str, int], scratch: Path) -> dict:
    """path in repo -> local file or bytes: the card rendered for ``repo_id``, the report, the shards (those in
    ``dropped_from`` copied into ``scratch`` without their images), or a model's files."""
    from huggingface_hub.utils import tqdm

    if KINDS[kind] == "model":
        uploads: dict[str, Path | bytes] = {name: folder / name for name in _model_files(folder)}
        uploads["README.md"] = _model_card(folder, repo_id).encode()
        return uploads
    if kind == "evaluation":
        return _evaluation_uploads(folder, repo_id)
    if kind == "release":
        return _release_uploads(folder, repo_id)
    if kind == "study":
        return _study_uploads(folder, repo_id)
    if kind == "video":
        return _video_uploads(folder, repo_id, dropped_from=dropped_from, scratch=scratch)
    if kind in ("study app", "demo"):
        return {p.relative_to(folder).as_posix(): p for p in _space_files(folder)}
    render = _dataset_card if kind == "dataset" else _sessions_card
    card, report = render(folder, repo_id, images_removed=bool(dropped_from))
    uploads = {"README.md": card.encode()}
    report_name = BUILD_REPORT_FILE if kind == "dataset" else RUN_REPORT_FILE
    uploads[report_name] = (json.dumps(_public_paths(report), indent=2, ensure_ascii=False) + "\n").encode()
    shards = _shards(folder)
    for shard in tqdm(shards, desc="Leaving the faces out", unit="shard", disable=not dropped_from):
        name = shard.relative_to(folder).as_posix()
        uploads[name] = _shard_upload(folder, name, dropped_from, scratch)
    return uploads


def _shard_upload(folder: Path, name: str, dropped_from: dict[str, int], scratch: Path) -> Path:
    """The shard ``name`` of ``folder`` as it is uploaded: a copy in ``scratch`` without its images when it is in
    ``dropped_from``."""
    if name not in dropped_from:
        return folder / name
    stripped = scratch / name
    stripped.parent.mkdir(parents=True, exist_ok=True)
    write_without_images(folder / name, stripped)
    return stripped


def _release_uploads(folder: Path, repo_id: str) -> dict:
    """New dialogues' card (rendered for ``repo_id``), report, release file and journals: no images."""
    from mirror_hf.cards import render_release_card

    report = json.loads((folder / SCREENPLAYS_REPORT_FILE).read_text(encoding="utf-8"))
    uploads: dict[str, Path | bytes] = {"README.md": render_release_card(report, repo_id).encode()}
    public = json.dumps(_public_paths(report), indent=2, ensure_ascii=False) + "\n"
    uploads[SCREENPLAYS_REPORT_FILE] = public.encode()
    uploads.update({name: folder / name for name in RELEASE_UPLOADS if (folder / name).is_file()})
    return uploads


def _study_uploads(folder: Path, repo_id: str) -> dict:
    """A pairwise study's key: card (rendered for ``repo_id``), study.json, the items manifest, answers and judges.
    Not its app (a Space of its own, with the faces) nor the annotators' sign-in links."""
    from mirror_hf.cards import render_study_card

    study = json.loads((folder / STUDY_FILE).read_text(encoding="utf-8"))
    uploads: dict[str, Path | bytes] = {"README.md": render_study_card(study, repo_id).encode()}
    uploads[STUDY_FILE] = (json.dumps(_public_paths(study), indent=1, ensure_ascii=False) + "\n").encode()
    for path in [folder / ITEMS_SHARD, *sorted(folder.glob("answers/*.jsonl")), *sorted(folder.glob("judges/*.jsonl"))]:
        uploads[path.relative_to(folder).as_posix()] = path
    return uploads


def _video_uploads(folder: Path, repo_id: str, *, dropped_from: dict[str, int], scratch: Path) -> dict:
    """A `mirror-hf video` folder: its card (rendered for ``repo_id``), report and turns shard (its faces left out
    with ``dropped_from``). The pages and frame files stay local: they show the faces as files."""
    from mirror_hf.cards import render_video_card

    report = json.loads((folder / VIDEO_REPORT_FILE).read_text(encoding="utf-8"))
    uploads: dict[str, Path | bytes] = {"README.md": render_video_card(report, repo_id).encode()}
    uploads[VIDEO_REPORT_FILE] = (json.dumps(_public_paths(report), indent=2, ensure_ascii=False) + "\n").encode()
    uploads[VIDEO_SHARD] = _shard_upload(folder, VIDEO_SHARD, dropped_from, scratch)
    return uploads


def _space_files(folder: Path) -> list[Path]:
    """A Space folder's files, without what it wrote while running here (a study app's answers go to their own
    dataset)."""
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] not in ("answers", "__pycache__", ".gradio")
    ]


def _evaluation_uploads(folder: Path, repo_id: str) -> dict:
    """An evaluation folder's card (rendered for ``repo_id``), report, figures and judgements."""
    from mirror_hf.cards import render_evaluation_card

    report = json.loads((folder / EVAL_REPORT_FILE).read_text(encoding="utf-8"))
    markdown = (folder / EVAL_MARKDOWN_FILE).read_text(encoding="utf-8")
    uploads: dict[str, Path | bytes] = {"README.md": render_evaluation_card(markdown, report, repo_id).encode()}
    for path in [folder / EVAL_REPORT_FILE, folder / EVAL_MARKDOWN_FILE, *sorted(folder.glob("*.png"))]:
        uploads[path.name] = path
    for path in sorted((folder / JUDGEMENTS_CONFIG).glob("*.jsonl")):
        uploads[f"{JUDGEMENTS_CONFIG}/{path.name}"] = path
    return uploads


def check_repo_id(repo_id: str) -> None:
    """A MirrorError unless ``repo_id`` reads as ``ORG/NAME`` (checked here, before any work or network)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise MirrorError(
            f"{repo_id!r} is not a Hub repository id ({err})", fix="write ORG/NAME, e.g. me/mirror"
        ) from None
    if repo_id.count("/") != 1:
        raise MirrorError(f"{repo_id!r} is not a Hub repository id", fix="write ORG/NAME, e.g. me/mirror")


def require_token(token: str | None = None) -> None:
    """A MirrorError when no Hub token is at hand: a push needs one, and should say so before the network does."""
    from huggingface_hub import get_token

    if not (token or get_token()):
        raise MirrorError("not logged in to the Hub", fix="set HF_TOKEN, or run `hf auth login`")


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


@contextmanager
def hub_errors(repo_id: str, repo_type: str | None = None):
    """The Hub's refusals (no such repository or revision, no token, no right to write) and an unreachable Hub as
    one MirrorError each."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except RepositoryNotFoundError as err:
        kind = f" (a {repo_type} repository)" if repo_type else ""
        raise MirrorError(
            f"the Hub has no repository {repo_id}{kind} that you may read",
            fix="check the id, --repo-type, and your token (HF_TOKEN or `hf auth login`) for a private one",
        ) from err
    except RevisionNotFoundError as err:
        raise MirrorError(f"{repo_id} has no such revision", fix="check --revision (a branch, tag or commit)") from err
    except HfHubHTTPError as err:
        raise MirrorError(
            f"the Hub refused {repo_id}: {str(err).splitlines()[0]}",
            fix="check your token (HF_TOKEN or `hf auth login`) and its write access to that namespace",
        ) from err
    except OfflineModeIsEnabled as err:
        raise MirrorError("HF_HUB_OFFLINE is set, so the Hub cannot be reached", fix="unset HF_HUB_OFFLINE") from err
    except LocalEntryNotFoundError as err:  # offline, or the Hub unreachable, and nothing of the repo cached
        raise MirrorError(
            f"cannot reach the Hub ({_endpoint()}) for {repo_id}, and nothing of it is cached here",
            fix="check your network (or HF_ENDPOINT); with HF_HUB_OFFLINE=1 only what was downloaded before is read",
        ) from err
    except Exception as err:  # httpx's transport errors: the Hub did not answer at all
        if type(err).__module__.split(".")[0] not in ("httpx", "httpx2"):
            raise
        raise MirrorError(
            f"cannot reach the Hub ({_endpoint()}): {type(err).__name__}: {err}",
            fix="check your network, or HF_ENDPOINT",
        ) from err


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    drop_images: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
) -> PushResult:
    """Publish ``folder`` (a built dataset, a sessions run, an evaluation, new dialogues, an adapter or a merged model)
    as the Hub repository ``repo_id``.

    A folder with faces needs ``private=True`` (the repository must be private on the Hub, checked before any
    upload) or ``drop_images=True``; otherwise a :class:`MirrorError` says so and nothing is uploaded.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    from mirror_hf import __version__

    folder = Path(folder)
    check_repo_id(repo_id)
    kind = folder_kind(folder)
    require_token(token)
    repo_type = KINDS[kind]
    images = find_images(folder) if repo_type == "dataset" else {}
    if kind == "study app":  # faces as files: the app cannot work without them
        images = {p.relative_to(folder).as_posix(): 1 for p in sorted((folder / "faces").glob("*.jpg"))}
        if images and drop_images:
            raise MirrorError(
                "a study app shows the faces; it cannot be pushed without them",
                file=str(folder),
                fix="push it to a private Space (--private), or sample a study from runs without faces",
            )
    n_images = sum(images.values())
    if n_images and not drop_images and private is not True:
        first = next(iter(images))
        raise MirrorError(
            f"holds {n_images} face image(s) (e.g. {first}); {WHY_PRIVATE.get(kind, WHY_PRIVATE['dataset'])}, so "
            "nothing was uploaded",
            file=str(folder),
            fix="push to a private repository (--private / private=True), or without the faces "
            "(--drop-images / drop_images=True)",
        )
    dropped = n_images if drop_images else 0
    with tempfile.TemporaryDirectory(prefix="mirror-hf-push-") as scratch, hub_errors(repo_id):
        # everything local first, so that a bad folder fails before the Hub is touched
        uploads = _uploads(folder, kind, repo_id, dropped_from=images if dropped else {}, scratch=Path(scratch))
        api = HfApi(token=token)
        sdk = {"space_sdk": "gradio"} if repo_type == "space" else {}
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **sdk)
        is_private = bool(api.repo_info(repo_id, repo_type=repo_type).private)
        if n_images and not drop_images and not is_private:
            raise MirrorError(
                f"the Hub repository {repo_id} exists and is public; the faces of {folder} may not go there, so "
                "nothing was uploaded",
                fix=f"make {repo_id} private in its settings, choose another repository, or use --drop-images",
            )
        stale = []
        if repo_type == "dataset":  # data files of an earlier push that this one no longer has
            remote = api.list_repo_files(repo_id, repo_type=repo_type)
            data_dir = JUDGEMENTS_CONFIG if kind == "evaluation" else DATA_DIR
            stale = [n for n in remote if n.startswith(data_dir + "/") and n not in uploads]
        operations = [CommitOperationAdd(path_in_repo=n, path_or_fileobj=s) for n, s in uploads.items()]
        operations += [CommitOperationDelete(path_in_repo=n) for n in stale]
        message = commit_message or f"{kind} from mirror-hf {__version__}" + (" (faces left out)" if dropped else "")
        commit = api.create_commit(repo_id=repo_id, repo_type=repo_type, operations=operations, commit_message=message)
    return PushResult(
        repo_id=repo_id,
        repo_type=repo_type,
        kind=kind,
        commit_url=commit.commit_url,
        private=is_private,
        files=sorted(uploads),
        deleted=stale,
        images=n_images - dropped,
        images_dropped=dropped,
    )


def pull(
    repo_id: str,
    out: str | Path,
    *,
    repo_type: str = "dataset",
    revision: str | None = None,
    token: str | None = None,
) -> Path:
    """Download the Hub repository ``repo_id`` into ``out`` (a dataset or sessions folder that ``load_dataset(out)``
    and ``mirror-hf evaluate`` read, or a model folder: ``repo_type="model"``); a rerun fetches only what changed."""
    from huggingface_hub import snapshot_download

    if repo_type not in set(KINDS.values()):
        raise MirrorError(f"unknown repository type {repo_type!r}", fix="use dataset or model")
    check_repo_id(repo_id)
    with hub_errors(repo_id, repo_type):
        return Path(snapshot_download(repo_id, repo_type=repo_type, revision=revision, local_dir=out, token=token))


__all__ = [
    "KINDS",
    "PushResult",
    "check_repo_id",
    "find_images",
    "folder_kind",
    "hub_errors",
    "pull",
    "push",
    "require_token",
    "write_without_images",
]
