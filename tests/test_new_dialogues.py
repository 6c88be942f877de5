"""New MIRROR dialogues (paper §3.1-3.2): CACTUS clients paired with CelebA faces by DeepFace, four resistance
variants each, screenplays by an LLM over HTTP, written as release files that `mirror-hf build` reads."""

import io
import json

import pytest
from loopback import ScriptedServer

from mirror_hf.cli import main
from mirror_hf.errors import MirrorError
from mirror_hf.synthesis.design import (
    RESISTANCE_TRAITS,
    cactus_clients,
    design_profiles,
    pair_faces,
    parse_intake_form,
    personal_info,
)
from mirror_hf.synthesis.screenplay import parse_generated_screenplay, render_screenplay_messages


def intake(name, age, gender, occupation="Baker", family="Lives alone"):
    return (
        f"Name:\n{name}\nAge:\n{age}\nGender:\n{gender}\nOccupation: {occupation}\nEducation: High School Diploma\n"
        f"Marital Status: Single\nFamily Details: {family}\n\n2. Presenting Problem\nThings go wrong.\n\n"
        f"3. Reason for Seeking Counseling\nI keep doubting myself at work.\nIt got worse this year.\n\n"
        "4. Past History (including medical history)\nNone."
    )


def cactus_row(form, thought, technique="Reality Testing", attitude="negative"):
    plan = f"{technique}\nCounseling plan:\n1. Introduction to {technique}: We will test the thought.\n2. Practice."
    return {"intake_form": form, "thought": thought, "patterns": ["labeling and mislabeling", " personalization"],
            "cbt_technique": technique, "cbt_plan": plan, "attitude": attitude, "dialogue": "..."}  # fmt: skip


CLIENTS = [
    cactus_row(intake("Omar Diaz", 32, "male"), "One burnt loaf means I am a bad baker."),
    cactus_row(intake("Omar Diaz", 32, "male"), "One burnt loaf means I am a bad baker.", attitude="positive"),
    cactus_row(intake("Ruth Kim", 40, "female", "Teacher"), "A student yawned, so my class is boring."),
    cactus_row(
        intake("Eli Stone", 61, "male", "Driver", "Two grown sons"),
        "I missed a turn, so I'm losing it.",
        technique="Decatastrophizing",
    ),  # fmt: skip
]


def screenplay_for(body, n):
    """A gpt-4o-mini stand-in: a short screenplay naming the client; the first answer for a cognitive profile is
    unreadable (asked again with a seed)."""
    query = body["messages"][1]["content"]
    name = query.split("Personal Information ###: ")[1].split(" is a ")[0]
    if "'Cognitive Resistance'" in query and "seed" not in body:
        return "I'm sorry, I cannot write that."
    lines = [
        f"Therapist: [Warm smile] Hello {name}, what brings you here?",
        "Client: [Arms crossed] Work, I guess.",
        "Therapist: What happened at work?",
        "Client: [Looks away] I messed up again.",
        "(The session ends.)",
    ]
    return "\n".join(lines)


def test_intake_forms_become_the_release_sentences():
    found = parse_intake_form(intake("Eli Stone", 61, "male", "Driver", "Two grown sons"))
    assert (found.name, found.age, found.gender) == ("Eli Stone", 61, "male")
    assert found.reason == "I keep doubting myself at work. It got worse this year."
    assert personal_info(found) == (
        "Eli Stone is a 61-year-old male working as a Driver. With a background in High School Diploma. "
        "Eli Stone is currently Single. Two grown sons."
    )
    same_line = parse_intake_form("Name: Ann Lee\nAge: 29\nGender: female\nOccupation: Nurse")
    assert (same_line.name, same_line.age, same_line.gender, same_line.reason) == ("Ann Lee", 29, "female", "")
    with pytest.raises(ValueError, match="no Name"):
        parse_intake_form("Age:\n30")


def test_each_client_is_one_face_and_four_resistance_variants(tmp_path, celeba_dir):
    from mirror_hf.data.celeba import CelebA

    path = tmp_path / "cactus.json"
    path.write_text(json.dumps(CLIENTS))
    clients = cactus_clients(path)
    assert [c["row"] for c in clients] == [0, 2, 3]  # one client per intake form: the attitudes share it
    celeba = CelebA(celeba_dir)
    reads = []

    def analyze(face):  # DeepFace's reading, here from the drawn face's colour: (gender, age)
        reads.append(face)
        red, green, _ = face.resize((1, 1)).getpixel((0, 0))
        return ("Man" if red % 2 else "Woman", 20 + green % 50)

    readings = {}
    for image in celeba.identities:
        from PIL import Image

        with Image.open(io.BytesIO(celeba.image_bytes(image))) as face:
            readings[image] = analyze(face.convert("RGB"))
    reads.clear()
    faces = pair_faces(clients, celeba, analyze, tmp_path / "design", age_tolerance=5, progress=False)
    wanted = {0: ("Man", 32), 2: ("Woman", 40), 3: ("Man", 61)}
    assert set(faces) == set(wanted) and all(faces.values())  # a face of each gender exists among the 16
    for row, face in faces.items():  # the face DeepFace read as the client's gender, CelebA's attribute agreeing
        assert readings[face["image"]] == (face["dominant_gender"], face["age"])
        assert face["dominant_gender"] == wanted[row][0] and face["identity"] == celeba.identities[face["image"]]
        assert (celeba.attributes[face["image"]]["Male"] == 1) == (wanted[row][0] == "Man")
    assert faces[2]["age"] == 40  # within the tolerance: taken before any other face is read
    assert faces[0]["age"] == 45  # no man of 27-37 among faces CelebA marks male: the closest age read
    identities = [f["identity"] for f in faces.values()]
    assert len(identities) == len(set(identities))  # each CelebA identity once
    first_reads = len(reads)
    again = pair_faces(clients, celeba, analyze, tmp_path / "design", progress=False)
    assert again == faces and len(reads) == first_reads  # a rerun keeps every pairing and reads nothing

    profiles = design_profiles(clients, faces)
    paired = [c for c in clients if faces[c["row"]]]
    assert len(profiles) == 4 * len(paired)
    first = profiles[0]
    assert first["idx"] == f"cactus-{paired[0]['row']}-emotional-resistance"
    assert first["personality"].startswith("The client exhibits the personality trait of 'Emotional Resistance'. ")
    assert first["personality"].endswith(RESISTANCE_TRAITS["emotional-resistance"][1])
    assert first["cbt_plan"].startswith("1. Introduction to") and first["thinking_trap"] == (
        "labeling and mislabeling, personalization"
    )
    query = render_screenplay_messages(first)[1]["content"]
    assert f"Personal Information ###: {first['personal_info']}\n" in query
    assert "CBT Plan ##\nReality Testing\n1. Introduction to Reality Testing" in query


def test_screenplays_are_parsed_with_the_authors_grammar():
    turns = parse_generated_screenplay("Therapist: Hi.\nnoise\nClient: [Shrugs] Fine.")
    assert turns == [
        {"speaker": "therapist", "stage_direction": None, "statement": "Hi."},
        {"speaker": "client", "stage_direction": "Shrugs", "statement": "Fine."},
    ]
    with pytest.raises(ValueError, match="speakers"):
        parse_generated_screenplay("Therapist: Hi.\nTherapist: Still there?")


def test_screenplays_cli_writes_release_files_that_build_reads(tmp_path, celeba_dir, monkeypatch, capsys):
    from datasets import load_dataset
    from tiny_models import build_tiny_deepface

    monkeypatch.setenv("DEEPFACE_HOME", str(build_tiny_deepface(tmp_path / "deepface")))
    cactus = tmp_path / "cactus.json"
    cactus.write_text(json.dumps(CLIENTS))
    out = tmp_path / "new"
    server = ScriptedServer(answer=screenplay_for)
    args = ["synthesize", "screenplays", "--cactus", str(cactus), "--celeba-dir", str(celeba_dir), "--out", str(out)]
    args += ["--protocol", "corrected"]  # the stand-in model reads the paper's prompt (the authors': test_protocol)
    args += ["--model", f"gpt-4o-mini@{server.url}", "--face-detector", "skip", "--quiet"]
    try:
        assert main([*args, "--cache-dir", str(tmp_path / "cache"), "--reasks", "0"]) == 0
        printed = capsys.readouterr().out
        # the tiny DeepFace reads every drawn CelebA face as a man of 32-33: the woman gets no face; the 61-year-old
        # gets the closest age there is
        assert "3 clients (1 without a CelebA face of their gender, left out), 8 profiles: 6 screenplays" in printed
        assert "2 failed (a rerun retries them)" in printed  # the cognitive profiles' one answer was unreadable
        assert "clients without a face (CACTUS rows): [2]" in printed
        assert len(server.requests) == 8
        assert "KEEP ALL RESPONSE TO MAXIMUM OF 2 LINES." in server.requests[0]["body"]["messages"][1]["content"]
        # the rerun asks the failed two anew (the next seed), not the cache that holds their unreadable answers
        assert main([*args, "--cache-dir", str(tmp_path / "cache"), "--reasks", "0"]) == 0
        assert "2 screenplays written now, 6 before, 0 failed" in capsys.readouterr().out
        assert [r["body"].get("seed") for r in server.requests[8:]] == [1, 1]
        assert main([*args, "--cache-dir", str(tmp_path / "cache-2")]) == 0  # all written: no call
        assert len(server.requests) == 10
    finally:
        server.close()

    built = tmp_path / "mirror"
    build = ["build", "--release", str(out), "--celeba-dir", str(celeba_dir), "--cactus", str(cactus)]
    assert main([*build, "--out", str(built), "--quiet"]) == 0
    rows = load_dataset(str(built), "dialogues", split="train")
    assert sorted(rows["idx"]) == sorted(f"cactus-{r}-{slug}" for r in (0, 3) for slug in RESISTANCE_TRAITS)
    omar = next(r for r in rows if r["idx"] == "cactus-0-behavioral-resistance")
    assert omar["personal_info"].startswith("Omar Diaz is a 32-year-old male working as a Baker.")
    assert [t["speaker"] for t in omar["turns"]] == ["therapist", "client", "therapist", "client"]
    assert omar["turns"][1]["stage_direction"] == "Arms crossed" and omar["turns"][2]["stage_direction"] is None
    assert omar["cbt_technique"] == "Reality Testing" and omar["gender"] == "man"
    assert omar["identity_image"] is not None and omar["thinking_traps"] == [
        "labeling and mislabeling",
        "personalization",
    ]
    eli = next(r for r in rows if r["idx"] == "cactus-3-no-resistance")
    assert eli["cbt_technique"] == "Decatastrophizing" and eli["celeba_image"] != omar["celeba_image"]


def test_unreadable_cactus_is_named(tmp_path):
    bad = tmp_path / "cactus.json"
    bad.write_text(json.dumps([{"intake_form": "Age:\n3", "thought": "x"}]))
    with pytest.raises(MirrorError, match="row 0|not a CACTUS record"):
        cactus_clients(bad)
    assert main(["synthesize", "screenplays", "--cactus", str(tmp_path / "none.json"), "--celeba-dir", str(tmp_path),
                 "--model", "x@http://127.0.0.1:9/v1", "--out", str(tmp_path / "o")]) == 2  # fmt: skip
