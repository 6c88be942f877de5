"""Readers: release formats and aliases, CelebA folder variants, CACTUS join; bad input gives one clear error."""

import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from datasets import load_dataset
from helpers import build_cli
from release_writer import DIALOGUES, PROFILES, dialogue_row, idx_of, write_csv, write_release

from mirror_hf.data.export import build_dataset
from mirror_hf.data.sources import BuildSources, load_release
from mirror_hf.errors import MirrorError


def rows_of(path):
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def rewrite(path, mutate):
    rows = rows_of(path)
    mutate(rows)
    path.unlink()
    write_csv(path, rows)


def load(release, celeba=None, **kw):
    return load_release(BuildSources(release=str(release), celeba_dir=celeba and str(celeba), **kw))


def test_missing_column_lists_expected_and_found(release_dir):
    rewrite(release_dir / "mirror_data.csv", lambda rows: [r.pop("personality") for r in rows])
    with pytest.raises(MirrorError) as err:
        load(release_dir)
    message = str(err.value)
    assert "mirror_data.csv" in message and "missing column(s) ['personality']" in message
    assert "found ['idx', 'model', 'personal_info'" in message


def test_aliased_columns_are_accepted(release_dir):
    def rename(rows):
        for r in rows:
            r["Personal Information"] = r.pop("personal_info")
            r["reason_counseling"] = r.pop("reason_for_seeking_counseling")
            r["gender"] = r.pop("dominant_gender")

    rewrite(release_dir / "mirror_data.csv", rename)
    release = load(release_dir)
    assert release.dialogues[0].personal_info.startswith("Nora Vale")
    assert release.dialogues[0].gender == "woman"


def test_unparsable_proc_dialogue_falls_back_to_the_screenplay(release_dir, caplog):
    rewrite(release_dir / "mirror_data.csv", lambda rows: rows[0].update(proc_dialogue="[{'speaker': 'Therapist', "))
    release = load(release_dir)
    turns = release.dialogues[0].turns
    assert [(t.speaker, t.stage_direction, t.statement) for t in turns] == [
        (s.lower(), d, text) for s, d, text in DIALOGUES[0]["turns"]
    ]
    assert "parsed the raw screenplay instead" in caplog.text


def test_unreadable_turns_name_file_row_and_field(release_dir):
    rewrite(release_dir / "mirror_data.csv", lambda rows: rows[1].update(proc_dialogue="{oops", dialogue="no lines"))
    with pytest.raises(MirrorError) as err:
        load(release_dir)
    e = err.value
    assert (Path(e.file).name, e.row, e.field, e.idx) == ("mirror_data.csv", 2, "proc_dialogue", idx_of(DIALOGUES[1]))
    assert "neither JSON nor a Python literal" in str(e)


def test_unknown_slug(release_dir):
    rewrite(release_dir / "mirror_data.csv", lambda rows: rows[2].update(idx="cactus-303-stubborn-resistance"))
    with pytest.raises(MirrorError, match=r"mirror_data.csv, row 3 .*field 'idx'.*unknown resistance slug"):
        load(release_dir)


def test_empty_file(release_dir):
    (release_dir / "mirror_test.csv").write_text("")
    with pytest.raises(MirrorError, match=r"mirror_test.csv.*empty"):
        load(release_dir)


def test_header_only_file(release_dir):
    header = (release_dir / "mirror_test.csv").read_text().splitlines()[0]
    (release_dir / "mirror_test.csv").write_text(header + "\n")
    with pytest.raises(MirrorError, match=r"mirror_test.csv.*no rows"):
        load(release_dir)


def test_corrupt_celeba_image(release_dir, celeba_dir, tmp_path):
    broken = tmp_path / "celeba"
    shutil.copytree(celeba_dir, broken)
    (broken / "img_align_celeba" / "000009.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(MirrorError) as err:
        load(release_dir, broken)
    assert (err.value.row, err.value.field) == (3, "img_path")
    assert "corrupt" in str(err.value) and "000009.jpg" in str(err.value)


def test_on_error_skip_lists_every_skipped_row(release_dir, celeba_dir, tmp_path):
    rewrite(
        release_dir / "mirror_data.csv",
        lambda rows: (
            rows[0].update(idx="cactus-101-unknown-resistance"),
            rows[2].update(proc_dialogue="???", dialogue=""),
        ),
    )
    broken = tmp_path / "celeba"
    shutil.copytree(celeba_dir, broken)
    (broken / "img_align_celeba" / "000013.jpg").unlink()  # used by the 4th test profile
    out = tmp_path / "mirror"
    assert build_cli(release_dir, out, "--on-error", "skip", celeba=broken) == 0
    report = json.loads((out / "build_report.json").read_text())
    skipped = {(Path(s["file"]).name, s["row"], s["field"]) for s in report["skipped_rows"]}
    assert skipped == {
        ("mirror_data.csv", 1, "idx"),
        ("mirror_data.csv", 3, "proc_dialogue"),
        ("mirror_test.csv", 4, "img_path"),
    }
    assert load_dataset(str(out), "dialogues", split="train")["idx"] == [idx_of(DIALOGUES[i]) for i in (1, 3)]
    assert load_dataset(str(out), "eval_profiles", split="test").num_rows == 3


def test_json_release_with_structured_turns(tmp_path, celeba_dir):
    folder = write_release(tmp_path / "release", json_too=True)
    (folder / "mirror_data.csv").unlink()
    release = load(folder, celeba_dir)
    assert release.files["train"].endswith("mirror_data.json")
    assert len(release.dialogues) == len(DIALOGUES)
    assert release.dialogues[0].turns[1].stage_direction == "Looks at the floor"


def test_pandas_columns_oriented_json(tmp_path):
    rows = [dialogue_row(d) for d in DIALOGUES]
    columns = {c: {str(i): r[c] for i, r in enumerate(rows)} for c in rows[0]}
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "mirror_data.json").write_text(json.dumps(columns))
    release = load(folder)
    assert [d.idx for d in release.dialogues] == [idx_of(d) for d in DIALOGUES]


def test_celeba_zip_and_identity_links(tmp_path, celeba_dir):
    zipped = tmp_path / "celeba"
    zipped.mkdir()
    for name in ("identity_CelebA.txt", "list_attr_celeba.txt"):
        shutil.copy(celeba_dir / name, zipped / name)
    with zipfile.ZipFile(zipped / "img_align_celeba.zip", "w") as z:
        for jpg in sorted((celeba_dir / "img_align_celeba").iterdir()):
            z.write(jpg, f"img_align_celeba/{jpg.name}")
    folder = write_release(tmp_path / "release")

    def identity_only(rows):  # the "CelebA idx" as identity id, without img_path or gender
        for r in rows:
            r["celeba_idx"] = str(r.pop("identity"))
            del r["img_path"], r["dominant_gender"]

    rewrite(folder / "mirror_data.csv", identity_only)
    release = load(folder, zipped)
    first = release.dialogues[0]
    assert (first.celeba_image, first.celeba_identity) == ("000003.jpg", 2)  # first image of identity 2
    assert first.gender == "woman"  # from list_attr_celeba.txt
    assert release.identity_bytes(first) == (celeba_dir / "img_align_celeba" / "000003.jpg").read_bytes()
    assert release.dialogues[1].gender == "man"


def test_image_number_links(tmp_path, celeba_dir):
    folder = write_release(tmp_path / "release")

    def numbers(rows):
        for r in rows:
            r["celeba_idx"] = r.pop("img_path").rsplit("/", 1)[1].removesuffix(".jpg")
            del r["identity"]

    rewrite(folder / "mirror_data.csv", numbers)
    release = load(folder, celeba_dir)
    assert [(d.celeba_image, d.celeba_identity) for d in release.dialogues][:2] == [
        ("000003.jpg", 2),
        ("000006.jpg", 3),
    ]


def test_cactus_join_by_content(tmp_path, celeba_dir):
    folder = write_release(tmp_path / "release")
    d0, d1 = DIALOGUES[0], DIALOGUES[1]
    cactus = [
        # same thought and plan (CACTUS keeps text before "1.", the release does not)
        {
            "thought": d0["thought"],
            "cbt_technique": "Pie Chart Technique",
            "cbt_plan": "Plan:\n" + d0["plan"],
            "patterns": ["jumping to conclusions: mind reading", "personalization", "overgeneralization"],
            "intake_form": "",
            "dialogue": "",
            "attitude": "negative",
        },
        # a thought shared by two profiles with different techniques: ambiguous, so no join
        {
            "thought": d1["thought"],
            "cbt_technique": "Reality Testing",
            "cbt_plan": "1. other",
            "patterns": ["x"],
            "intake_form": "",
            "dialogue": "",
            "attitude": "neutral",
        },
        {
            "thought": d1["thought"],
            "cbt_technique": "Decatastrophizing",
            "cbt_plan": "1. another",
            "patterns": ["y"],
            "intake_form": "",
            "dialogue": "",
            "attitude": "positive",
        },
    ]
    (tmp_path / "cactus.json").write_text(json.dumps(cactus))
    release = load(folder, celeba_dir, cactus=str(tmp_path / "cactus.json"))
    first, second = release.dialogues[0], release.dialogues[1]
    assert (first.cbt_technique, first.cbt_technique_source) == ("Pie Chart Technique", "cactus")
    assert first.thinking_traps[-1] == "overgeneralization"
    assert (second.cbt_technique, second.cbt_technique_source) == ("Evidence-Based Questioning", "inferred")
    assert release.stats["cactus_join_thought+plan"] == 1 and release.stats["cactus_join_none"] == 3


def test_corrupt_turn_image(release_dir, celeba_dir, tmp_path):
    faces = tmp_path / "faces" / idx_of(DIALOGUES[1])
    faces.mkdir(parents=True)
    (faces / "turn:1_000006.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "mirror"
    with pytest.raises(MirrorError, match=r"row 2 .*turns\[1\]\.image.*corrupt"):
        build_dataset(
            BuildSources(release=str(release_dir), celeba_dir=str(celeba_dir), turn_images=str(tmp_path / "faces")),
            out,
            progress=False,
        )
    assert not out.exists()


def test_missing_release_files(tmp_path):
    with pytest.raises(MirrorError, match="no release files"):
        load(tmp_path)
    with pytest.raises(MirrorError, match="neither an existing file or folder nor a Hub dataset id"):
        load(tmp_path / "nope" / "deeper")
    assert PROFILES  # the shared fixtures are in use


def test_a_line_under_the_clients_name_is_a_client_line_and_its_face_stays_on_it(tmp_path, celeba_dir):
    """The authors' parser (mirror/step2/postprocess.py) keeps a screenplay line whose speaker is the client's
    full, first or last name, and what came after treats it as the client's: its turn and its face stay aligned."""
    from PIL import Image as PILImage

    from mirror_hf.data.export import build_dataset
    from mirror_hf.data.sources import BuildSources
    from mirror_hf.data.turn_images import turn_image_name

    nora = DIALOGUES[0]  # "Nora Vale is a 31-year-old ..."
    # "Nora: [Shrugs] ..." and "Nora Vale: [Half smiles] ...": the client's first and full name, with a direction
    renamed = [("Nora" if t == 3 else "Nora Vale" if t == 7 else s, d, x) for t, (s, d, x) in enumerate(nora["turns"])]
    release = write_release(tmp_path / "release", [{**nora, "turns": renamed}], PROFILES)
    faces = tmp_path / "faces" / idx_of(nora)
    faces.mkdir(parents=True)
    client_turns = [t for t, (s, _, _) in enumerate(nora["turns"]) if s == "Client"]
    for t in client_turns:
        PILImage.new("RGB", (16, 16), (t * 20, 90, 90)).save(faces / turn_image_name(t, f"{nora['image']:06d}.jpg"))
    sources = BuildSources(release=str(release), celeba_dir=str(celeba_dir), turn_images=str(tmp_path / "faces"))
    report = build_dataset(sources, tmp_path / "out", ("dialogues",), progress=False)
    assert report["inputs"].get("turn_images_on_therapist_turns", 0) == 0
    assert report["inputs"]["client_turns_with_image"] == len(client_turns) and not report["fallback_rows"]
    row = load_dataset(str(tmp_path / "out"), "dialogues", split="train")[0]
    assert [t["speaker"] for t in row["turns"]] == [s.lower() for s, _, _ in nora["turns"]]
    assert all((t["image"] is not None) == (t["speaker"] == "client") for t in row["turns"])

    # the raw screenplay, read when proc_dialogue cannot be: the same rule, and the row named in the report
    with (release / "mirror_data.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rows[0]["proc_dialogue"] = "[{'speaker': 'Therapist', broken"
    write_csv(release / "mirror_data.csv", rows)
    report = build_dataset(sources, tmp_path / "out2", ("dialogues",), progress=False)
    assert report["inputs"].get("turn_images_on_therapist_turns", 0) == 0
    assert [f["idx"] for f in report["fallback_rows"]] == [idx_of(nora)]
    assert "neither JSON nor a Python literal" in report["fallback_rows"][0]["reason"]
    assert report["fallback_rows"][0]["row"] == 1
