"""Write MIRROR release files in the exact format the authors' code produces, from dialogues written for the tests.

Format rules (facts of the release): ``proc_dialogue`` is a Python literal (single quotes, ``None``), ``turn`` is
``len(proc_dialogue) / 2`` as a float, ``resistance`` carries the row number (the authors' bug), ``img_path`` is a
full path to the CelebA image, ``identity`` the CelebA identity, DeepFace's ``age`` and ``dominant_gender``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

SLUGS = {
    "emotional": "emotional-resistance",
    "cognitive": "cognitive-resistance",
    "behavioral": "behavioral-resistance",
    "none": "no-resistance",
}
TRAIT_NAMES = {
    "emotional": "Emotional Resistance",
    "cognitive": "Cognitive Resistance",
    "behavioral": "Behavioral Resistance",
    "none": "No Resistance",
}

# (speaker, stage direction or None, statement)
DIALOGUES = [
    dict(
        row=101,
        resistance="emotional",
        image=3,
        identity=2,
        age=31,
        gender="Woman",
        personal_info="Nora Vale is a 31-year-old female working as a Florist. With a background in Associate Degree. "
        "Nora Vale is currently Single. Has one older sister.",
        thought="My friend cancelled lunch, so she must be tired of me.",
        traps="jumping to conclusions: mind reading, personalization",
        reason="I came because small cancellations ruin my whole week.",
        plan="1. Introduction to Alternative Perspective: We will list other reasons for the cancellation.\n"
        "2. Checking the Story: We will compare the thought with what the friend said.",
        turns=[
            ("Therapist", None, "Hello Nora, what brings you in?"),
            ("Client", "Looks at the floor", "My friend cancelled lunch. Again."),
            ("Therapist", "Nods slowly", "That sounds disappointing. What did you tell yourself?"),
            ("Client", "Shrugs", "That she's tired of me. Whatever."),
            ("Therapist", None, "You say whatever, but it seems to matter. What else could explain it?"),
            ("Client", None, "I don't know. Work, maybe."),
            ("Therapist", "Warmly", "Work is one possibility. Did she suggest another day?"),
            ("Client", "Half smiles", "She did, actually. Thursday."),
            ("Therapist", None, "So she wants to see you. How does that land?"),
        ],
    ),
    dict(
        row=202,
        resistance="cognitive",
        image=6,
        identity=3,
        age=52,
        gender="Man",
        personal_info="Omar Reyes is a 52-year-old male working as a Mechanic. With a background in Trade School. "
        "Omar Reyes is currently Married. Two adult children.",
        thought="I made one mistake on a repair, so I'm incompetent.",
        traps="labeling and mislabeling",
        reason="A customer complaint has me doubting my whole career.",
        plan="1. Introduction to Evidence-Based Questioning: We will weigh evidence about your competence.\n"
        "2. Record: You will note repairs that went well.",
        turns=[
            ("Therapist", "Calm", "Hi Omar. What happened at the shop?"),
            ("Client", "Arms crossed", "I messed up a brake job. So I'm clearly useless."),
            ("Therapist", None, "One brake job. How many have you done this year?"),
            ("Client", "Scoffs", "Hundreds. Doesn't matter, the one counts."),
        ],
    ),
    dict(
        row=303,
        resistance="behavioral",
        image=9,
        identity=5,
        age=24,
        gender="Woman",
        personal_info="Lena Park is a 24-year-old female working as a Cashier. With a background in High School. "
        "Lena Park is currently Single. Lives with parents.",
        thought="If I apply for the course, I'll be rejected.",
        traps="jumping to conclusions: fortune-telling",
        reason="I keep putting off my application.",
        plan="1. Introduction to Behavior Experiment: We will test the prediction with one small step.",
        turns=[
            ("Therapist", None, "Hi Lena. Where are you with the application?"),
            ("Client", "Checks the clock", "Haven't started. I'm busy."),
            ("Therapist", "Gently", "Could you open the form together with me for one minute?"),
            ("Client", "Sighs", "Maybe next week."),
        ],
    ),
    dict(
        row=404,
        resistance="none",
        image=14,
        identity=7,
        age=66,
        gender="Man",
        personal_info="Ivan Petrov is a 66-year-old male working as a Retired Pilot. "
        "With a background in Flight School. "
        "Ivan Petrov is currently Widowed. One grandson.",
        thought="My grandson forgot my birthday, so I don't matter to him.",
        traps="mental filtering",
        reason="I feel forgotten by my family.",
        plan="1. Introduction to Reality Testing: We will check the thought against recent events.",
        turns=[
            ("Therapist", "Friendly", "Welcome, Ivan. What's been on your mind?"),
            ("Client", "Looks sad", "My grandson forgot my birthday."),
            ("Therapist", None, "That hurts. When did you last spend time together?"),
            ("Client", "Smiles a little", "Last week, we went fishing."),
        ],
    ),
]

PROFILES = [
    dict(
        row=901,
        resistance="emotional",
        image=4,
        identity=2,
        age=30,
        gender="Woman",
        name="Ada Moss",
        personal_info="Ada Moss is a 30-year-old female working as a Baker.",
        thought="Nobody likes my bread.",
        reason="I feel unappreciated.",
    ),
    dict(
        row=902,
        resistance="cognitive",
        image=5,
        identity=3,
        age=41,
        gender="Man",
        name="Ben Cole",
        personal_info="Ben Cole is a 41-year-old male working as a Clerk.",
        thought="I'll never be promoted.",
        reason="I feel stuck.",
    ),
    dict(
        row=903,
        resistance="behavioral",
        image=10,
        identity=5,
        age=22,
        gender="Woman",
        name="Cleo Diaz",
        personal_info="Cleo Diaz is a 22-year-old female working as a Student.",
        thought="I'll fail the exam.",
        reason="I avoid studying.",
    ),
    dict(
        row=904,
        resistance="none",
        image=13,
        identity=7,
        age=70,
        gender="Man",
        name="Dev Rao",
        personal_info="Dev Rao is a 70-year-old male working as a Retiree.",
        thought="I'm a burden.",
        reason="I feel lonely.",
    ),
]


def idx_of(d: dict) -> str:
    return f"cactus-{d['row']}-{SLUGS[d['resistance']]}"


def personality(resistance: str) -> str:
    return f"The client exhibits the personality trait of '{TRAIT_NAMES[resistance]}'. Written for the tests."


def screenplay(turns) -> str:
    return "\n".join(f"{s}: [{d}] {t}" if d else f"{s}: {t}" for s, d, t in turns)


def dialogue_row(d: dict) -> dict:
    proc = [{"speaker": s, "stage_direction": sd, "statement": t} for s, sd, t in d["turns"]]
    return {
        "idx": idx_of(d),
        "model": "gpt-4o-mini",
        "personal_info": d["personal_info"],
        "personality": personality(d["resistance"]),
        "distorted_thought": d["thought"],
        "thinking_trap": d["traps"],
        "reason_for_seeking_counseling": d["reason"],
        "cbt_plan": d["plan"],
        "dialogue": screenplay(d["turns"]),
        "proc_dialogue": repr(proc),
        "turn": len(proc) / 2,
        "resistance": f"{d['row']} {TRAIT_NAMES[d['resistance']].lower()}",
        "img_path": f"/data/celeba/img_align_celeba/{d['image']:06d}.jpg",
        "identity": d["identity"],
        "age": d["age"],
        "dominant_gender": d["gender"],
        "region": repr({"x": 10, "y": 20, "w": 90, "h": 90}),
    }


def profile_row(p: dict) -> dict:
    return {
        "idx": idx_of(p),
        "name": p["name"],
        "personal_info": p["personal_info"],
        "personality": personality(p["resistance"]),
        "distorted_thought": p["thought"],
        "reason_for_seeking_counseling": p["reason"],
        "img_path": f"/data/celeba/img_align_celeba/{p['image']:06d}.jpg",
        "identity": p["identity"],
        "age": p["age"],
        "dominant_gender": p["gender"],
    }


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_release(folder: Path, dialogues=DIALOGUES, profiles=PROFILES, json_too: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "mirror_data.csv", [dialogue_row(d) for d in dialogues])
    if profiles:
        write_csv(folder / "mirror_test.csv", [profile_row(p) for p in profiles])
    if json_too:
        rows = []
        for d in dialogues:
            row = dialogue_row(d)
            row["proc_dialogue"] = [{"speaker": s, "stage_direction": sd, "statement": t} for s, sd, t in d["turns"]]
            rows.append(row)
        (folder / "mirror_data.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return folder
