"""Read the MIRROR release files (``mirror_data.csv`` / ``mirror_data.json`` / ``mirror_test.csv``).

The files come from a local folder or from the Hub dataset ``multimodal-reframing/mirror``. Their exact column
names were never verified, so every column is looked up through a list of aliases, and a file that lacks a
required column raises an error listing expected and found columns. ``proc_dialogue`` is a Python literal
(single quotes, ``None``) as the authors' code writes it, or JSON, or an already-parsed list; when it cannot be
read the raw screenplay in ``dialogue`` is parsed instead. The resistance type comes from the ``idx`` slug, not
from the buggy ``resistance`` column.

Example:
    >>> from mirror_hf.data.release import parse_screenplay
    >>> [(t.speaker, t.stage_direction, t.statement) for t in parse_screenplay("Therapist: Hi.\\nClient: [Sighs] Hm.")]
    [('therapist', None, 'Hi.'), ('client', 'Sighs', 'Hm.')]
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from mirror_hf.data.records import Dialogue, Profile, Turn
from mirror_hf.errors import MirrorError
from mirror_hf.schema import parse_idx

logger = logging.getLogger(__name__)

HUB_REPO = "multimodal-reframing/mirror"
TRAIN_FILES = ("mirror_data.csv", "mirror_data.json")  # first found wins
TEST_FILES = ("mirror_test.csv", "mirror_test.json")

# canonical name -> accepted spellings (compared after lower-casing and turning spaces/dashes into "_").
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "idx": ("idx", "id", "dialogue_id", "client_id"),
    "personal_info": ("personal_info", "personal_information", "client_information", "client_info"),
    "personality": ("personality", "personality_trait", "personality_traits", "resistance_trait"),
    "distorted_thought": ("distorted_thought", "distorted_thoughts", "intrusive_thought", "thought"),
    "thinking_trap": ("thinking_trap", "thinking_traps", "cognitive_distortions", "patterns"),
    "reason_for_seeking_counseling": ("reason_for_seeking_counseling", "reason_counseling", "reason"),
    "cbt_plan": ("cbt_plan", "counseling_plan", "plan"),
    "cbt_technique": ("cbt_technique", "technique"),
    "dialogue": ("dialogue", "screenplay", "raw_dialogue"),
    "proc_dialogue": ("proc_dialogue", "processed_dialogue", "turns"),
    "img_path": ("img_path", "image_path", "celeba_image", "celeba_img", "reference_image"),
    "identity": ("identity", "celeba_identity", "identity_id"),
    "celeba_idx": ("celeba_idx", "celeba_id", "celeba"),
    "age": ("age",),
    "gender": ("dominant_gender", "gender"),
    "model": ("model", "generator_model"),
    "name": ("name", "client_name"),
}
PROFILE_REQUIRED = ("idx", "personal_info", "personality", "distorted_thought", "reason_for_seeking_counseling")
DIALOGUE_REQUIRED = (*PROFILE_REQUIRED, "cbt_plan")
DIALOGUE_ONE_OF = ("proc_dialogue", "dialogue")

# The authors' screenplay grammar; a line without brackets gets no stage direction, other lines are dropped.
_LINE_WITH_DIRECTION = re.compile(r"^(Therapist|Client|Counselor):\s*\[(.*?)\]\s*(.*)$", re.IGNORECASE)
_LINE_PLAIN = re.compile(r"^(Therapist|Client|Counselor):\s*(.*)$", re.IGNORECASE)
_SPEAKERS = {"therapist": "therapist", "counselor": "therapist", "counsellor": "therapist", "client": "client"}
_GENDERS = {"man": "man", "male": "man", "m": "man", "woman": "woman", "female": "woman", "f": "woman"}
_MISSING = {"", "nan", "none", "null"}


def resolve_release(spec: str | Path, revision: str | None = None) -> Path:
    """A local folder or file, or a Hub dataset id (downloaded with huggingface_hub at ``revision``, once per
    process: a build asks again for its fingerprint and its rows)."""
    from mirror_hf.data.built import looks_local

    path = Path(spec).expanduser()
    if path.exists():
        return path
    expected = f"the folder holding {TRAIN_FILES[0]} and {TEST_FILES[0]}, or a Hub id such as {HUB_REPO}"
    if looks_local(str(spec)):
        raise MirrorError(
            f"the local folder {str(spec)!r} does not exist: the release is neither an existing file or folder nor a "
            "Hub dataset id (org/name)",
            fix=f"give {expected}",
        )
    return _download_release(str(spec), revision, expected)


@lru_cache(maxsize=8)
def _download_release(repo_id: str, revision: str | None, expected: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(
            repo_id, repo_type="dataset", revision=revision, allow_patterns=["*.csv", "*.json", "README.md"]
        )
    except Exception as err:  # offline, gated, unknown repo: all need the same advice
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MirrorError(
            f"there is no local folder {repo_id!r}, and could not download the Hub dataset {repo_id} "
            f"(revision {revision or 'main'}): {reason}",
            fix=f"check the path, or the id and your network / HF_TOKEN; give {expected}",
        ) from err
    return Path(local)


def release_commit(spec: str | Path, revision: str | None = None) -> str | None:
    """The commit a Hub release was read at (huggingface_hub's snapshot folder is named by it); None for a local
    folder."""
    if Path(spec).expanduser().exists():
        return None
    return resolve_release(spec, revision).name


def find_release_file(folder: Path, candidates: tuple[str, ...]) -> Path | None:
    if folder.is_file():
        return folder if folder.name in candidates else None
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def read_table(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows of a CSV or JSON (records, columns-of-rows, or JSON Lines) file."""
    if not path.is_file():
        raise MirrorError("file not found", file=str(path))
    if path.stat().st_size == 0:
        raise MirrorError("the file is empty", file=str(path), fix="download it again")
    if path.suffix.lower() == ".csv":
        _check_complete(path)
        csv.field_size_limit(sys.maxsize)
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
        # pandas writes the index as an unnamed first column
        columns = [c for c in columns if c and not c.startswith("Unnamed")]
    else:
        text = path.read_text(encoding="utf-8-sig")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            try:
                data = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError as err:
                raise MirrorError(f"not valid JSON or JSON Lines: {err}", file=str(path)) from err
        if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
            # pandas orient="columns": {column: {row_key: value}}
            keys = list(next(iter(data.values())))
            data = [{col: data[col].get(k) for col in data} for k in keys]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise MirrorError("expected a list of row objects", file=str(path))
        rows = data
        columns = list(dict.fromkeys(c for r in rows for c in r))
    if not rows:
        raise MirrorError(
            "the file has a header but no rows", file=str(path), fix="download it again, or give the file with rows"
        )
    return columns, rows


def _check_complete(path: Path) -> None:
    """A CSV whose double quotes do not pair ends inside a quoted field: cut short (csv would read it quietly,
    the last field swallowing the rest). A quoted field opens and closes with a quote and doubles those inside."""
    quotes = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 24):
            quotes += chunk.count(b'"')
    if quotes % 2:
        raise MirrorError(
            "the file ends inside a quoted field: it looks truncated (a download cut short?)",
            file=str(path),
            fix="download it again",
        )


def map_columns(path: Path, columns: list[str], required: tuple[str, ...], one_of: tuple[str, ...] = ()) -> dict:
    """canonical name -> the file's column, raising when a required column is missing."""
    by_canonical = {_canonical(c): c for c in columns}
    mapping = {}
    for name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in by_canonical:
                mapping[name] = by_canonical[alias]
                break
    missing = [c for c in required if c not in mapping]
    if one_of and not any(c in mapping for c in one_of):
        missing.append(" or ".join(one_of))
    if missing:
        raise MirrorError(
            f"missing column(s) {missing}; expected {list(required) + ([' or '.join(one_of)] if one_of else [])} "
            f"(aliases: {', '.join(f'{k}={list(v)}' for k, v in COLUMN_ALIASES.items() if k in missing)}); "
            f"found {columns}",
            file=str(path),
            fix="rename the columns or pass the release files as published",
        )
    return mapping


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return None if text.lower() in _MISSING else text


def _int(value: Any) -> int | None:
    text = _text(value)
    return None if text is None else int(float(text))


def client_name(personal_info: str | None) -> str | None:
    """The client's name as the authors' parser reads it: ``personal_info`` up to `` is a`` (postprocess.py)."""
    if not personal_info or " is a" not in personal_info:
        return None
    return personal_info.split(" is a", 1)[0].strip() or None


def _name_speakers(name: str | None) -> set[str]:
    """The speaker labels that are the client: its full name, and each of its words (first and last name)."""
    return {name, *name.split()} if name else set()


def parse_screenplay(text: str, name: str | None = None) -> list[Turn]:
    """Parse ``Therapist: [direction] statement`` / ``Client: ...`` lines with the authors' grammar
    (``mirror/step2/postprocess.py``): a line that names neither speaker but starts with the client's full, first
    or last name and a ``[direction]`` (``Victoria: [Sighs] ...``) is the client's."""
    speakers = _name_speakers(name)
    named = re.compile(rf"^({'|'.join(map(re.escape, sorted(speakers, key=len, reverse=True)))}):\s*\[(.*?)\]\s*(.*)")
    turns = []
    for line in text.splitlines():
        line = line.strip()
        match = _LINE_WITH_DIRECTION.match(line)
        if match:
            speaker, direction, statement = match.groups()
        elif speakers and "Client" not in line and "Therapist" not in line and (match := named.match(line)):
            (_, direction, statement), speaker = match.groups(), "client"
        else:
            match = _LINE_PLAIN.match(line)
            if not match:
                continue
            (speaker, statement), direction = match.groups(), None
        turns.append(Turn(_SPEAKERS[speaker.lower()], statement.strip(), (direction or "").strip() or None))
    return turns


def parse_proc_dialogue(value: Any, name: str | None = None) -> list[Turn]:
    """``proc_dialogue`` as a list, a JSON string or a Python literal; raises ValueError when unreadable. A speaker
    that is the client's full, first or last name (``name``) is the client, as the authors' parser wrote it."""
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            try:
                items = ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
                raise ValueError(f"neither JSON nor a Python literal ({type(err).__name__}: {err})") from None
    if not isinstance(items, list) or not items:
        raise ValueError(f"expected a non-empty list of turns, got {type(items).__name__}")
    turns = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "speaker" not in item or "statement" not in item:
            raise ValueError(f"turn {i} is not a {{speaker, stage_direction, statement}} object: {item!r:.80}")
        said = str(item["speaker"]).strip()
        speaker = _SPEAKERS.get(said.lower()) or ("client" if said in _name_speakers(name) else None)
        if speaker is None:
            raise ValueError(f"turn {i} has unknown speaker {item['speaker']!r}; expected Therapist or Client")
        turns.append(Turn(speaker, str(item["statement"]).strip(), _text(item.get("stage_direction"))))
    return turns


def _rows(path: Path, required: tuple[str, ...], one_of: tuple[str, ...]) -> Iterator[tuple[int, dict, dict]]:
    columns, rows = read_table(path)
    mapping = map_columns(path, columns, required, one_of)
    for number, row in enumerate(rows, start=1):
        yield number, row, mapping


def _profile_fields(path: Path, number: int, row: dict, cols: dict) -> dict:
    def get(name: str) -> Any:
        return row.get(cols[name]) if name in cols else None

    idx = _text(get("idx"))
    if not idx:
        raise MirrorError("empty id", file=str(path), row=number, field=cols["idx"])
    try:
        cactus_idx, resistance = parse_idx(idx)
    except ValueError as err:
        raise MirrorError(
            str(err),
            file=str(path),
            row=number,
            field=cols["idx"],
            idx=idx,
            fix="ids look like cactus-7658-emotional-resistance",
        ) from None
    fields: dict[str, Any] = {"idx": idx, "cactus_idx": cactus_idx, "resistance": resistance}
    for name in PROFILE_REQUIRED[1:]:
        value = _text(get(name))
        if value is None:
            raise MirrorError("empty value", file=str(path), row=number, field=cols[name], idx=idx)
        fields[name] = value
    traps = get("thinking_trap")
    if isinstance(traps, list):
        fields["thinking_traps"] = [str(t).strip() for t in traps if str(t).strip()]
    else:
        fields["thinking_traps"] = [t.strip() for t in (_text(traps) or "").split(", ") if t.strip()]
    fields["cbt_plan"] = _text(get("cbt_plan"))
    technique = _text(get("cbt_technique"))
    fields["cbt_technique"] = technique
    fields["cbt_technique_source"] = "release" if technique else None
    fields["name"] = _text(get("name"))
    fields["generator_model"] = _text(get("model"))
    gender = _text(get("gender"))
    if gender is not None:
        if gender.lower() not in _GENDERS:
            raise MirrorError(
                f"unknown gender {gender!r}",
                file=str(path),
                row=number,
                field=cols["gender"],
                idx=idx,
                fix="use Man/Woman as DeepFace writes them",
            )
        gender = _GENDERS[gender.lower()]
    fields["gender"] = gender
    for name, target in (("age", "age"), ("identity", "celeba_identity")):
        try:
            fields[target] = _int(get(name))
        except ValueError:
            raise MirrorError(
                f"not a number: {get(name)!r}", file=str(path), row=number, field=cols[name], idx=idx
            ) from None
    image = _text(get("img_path"))
    fields["celeba_image"] = None if image is None else celeba_file_name(image)
    fields["celeba_link"] = _text(get("celeba_idx"))
    fields["source_file"], fields["source_row"] = str(path), number
    return fields


def celeba_file_name(value: str) -> str:
    """``.../img_align_celeba/006472.jpg`` or ``6472`` -> ``006472.jpg``."""
    name = Path(value.replace("\\", "/")).name
    stem = name.rsplit(".", 1)[0]
    return f"{int(stem):06d}.jpg" if stem.isdigit() else name


def read_dialogues(
    path: Path, on_row_error: Callable[[MirrorError], None], fallbacks: list | None = None
) -> list[tuple[Dialogue, str | None]]:
    """Dialogues of a training file, each with its raw CelebA link (``celeba_idx`` column) if any.

    ``on_row_error`` receives each row-level error; it re-raises to stop, or records the row to skip it.
    ``fallbacks`` gets ``{file, row, idx, reason}`` for each row whose turns came from the raw screenplay.
    """
    out = []
    for number, row, cols in _rows(path, DIALOGUE_REQUIRED, DIALOGUE_ONE_OF):
        try:
            fields = _profile_fields(path, number, row, cols)
            link = fields.pop("celeba_link")
            turns, fallback = _turns(path, number, row, cols, fields["idx"], client_name(fields["personal_info"]))
            if fallback is not None and fallbacks is not None:
                fallbacks.append({"file": path.name, "row": number, "idx": fields["idx"], "reason": fallback})
            if not fields["cbt_plan"]:
                raise MirrorError("empty value", file=str(path), row=number, field=cols["cbt_plan"], idx=fields["idx"])
            out.append((Dialogue(**fields, turns=turns), link))
        except MirrorError as err:
            on_row_error(err)
    return out


def read_profiles(path: Path, on_row_error: Callable[[MirrorError], None]) -> list[tuple[Profile, str | None]]:
    """Test profiles (``mirror_test.csv``), each with its raw CelebA link if any."""
    out = []
    for number, row, cols in _rows(path, PROFILE_REQUIRED, ()):
        try:
            fields = _profile_fields(path, number, row, cols)
            link = fields.pop("celeba_link")
            out.append((Profile(**fields), link))
        except MirrorError as err:
            on_row_error(err)
    return out


def _turns(path: Path, number: int, row: dict, cols: dict, idx: str, name: str | None) -> tuple[list[Turn], str | None]:
    """The row's turns, and why the raw screenplay was read instead of ``proc_dialogue`` (None when it was not)."""
    errors = []
    raw = row.get(cols["proc_dialogue"]) if "proc_dialogue" in cols else None
    if isinstance(raw, list) or _text(raw) is not None:
        try:
            return parse_proc_dialogue(raw, name), None
        except ValueError as err:
            errors.append(f"{cols['proc_dialogue']}: {err}")
    if "dialogue" in cols and _text(row.get(cols["dialogue"])):
        turns = parse_screenplay(str(row[cols["dialogue"]]), name)
        if turns:
            if errors:
                logger.warning(
                    "%s row %d (%s): %s; parsed the raw screenplay instead", path.name, number, idx, errors[0]
                )
            return turns, errors[0] if errors else "no proc_dialogue: the raw screenplay read"
        errors.append(f"{cols['dialogue']}: no 'Therapist:' / 'Client:' lines")
    field = cols.get("proc_dialogue") or cols.get("dialogue")
    raise MirrorError(
        "no readable turns (" + "; ".join(errors or ["both proc_dialogue and dialogue are empty"]) + ")",
        file=str(path),
        row=number,
        field=field,
        idx=idx,
        fix="proc_dialogue must be a list of {speaker, stage_direction, statement}, or dialogue a screenplay",
    )
