"""New MIRROR dialogues, step 1 (paper §3.1): the dialogue design. Each CACTUS client (its intake form, distorted
thought, thinking traps, CBT technique and plan) gets a CelebA face of the same gender and a close age, as DeepFace
reads them, and four variants, one per resistance type (emotional, cognitive, behavioral, none), each of which
becomes one screenplay (:mod:`mirror_hf.synthesis.screenplay`).

The authors' code for this step is ``mirror/step2/run_step2.py`` (the profile: ``generate_introductions`` builds the
``personal_info`` sentence, the four ``PERSONALITY_TRAITS`` of ``mirror/agent/personality.py`` the ``personality``
sentence, the plan is the text from its last ``\n1. ``) and ``mirror/step1/face_annot.py`` (DeepFace's age and
gender of the CelebA faces). What the release fixes is kept: ids ``cactus-{row}-{slug}``, the ``personal_info``
sentence (``Tyler Reynolds is a 16-year-old male working as a Pottery Maker. With a background in High School
Diploma. Tyler Reynolds is currently Single. No immediate family, lives alone.``), the ``personality`` sentence
(``The client exhibits the personality trait of 'Emotional Resistance'. ...``), DeepFace's ``age`` and
``dominant_gender`` of the face. Not in their repository: their CACTUS subset (``run_step2.py`` reads a
``cactus_source.csv`` that was not released), so ``row`` here is the client's first row in the given
``cactus.json`` (0-based); and how a client was paired with a face, so the pairing rule is ours (CelebA images in a
seeded order, CelebA's ``Male`` attribute as a cheap first sieve, then DeepFace: the same gender and an age within
5 years, else the closest age of the first 50 read; each CelebA identity used once). Still ours where theirs is
known (issue "Data and synthesis as the authors' code does it"): the descriptions of the cognitive, behavioral and
no-resistance traits (``personality.py`` has all four), and the family-details sentence (theirs passes it through
``str.capitalize()``).

Example:
    >>> intake = parse_intake_form("Name:\\nLaura Saunders\\nAge:\\n45\\nGender:\\nfemale\\nOccupation: Office Job\\n"
    ...     "Education: College Graduate\\nMarital Status: Single\\nFamily Details: Lives alone\\n\\n"
    ...     "3. Reason for Seeking Counseling\\nMy running goals get me down.\\n\\n4. Past History\\nNone.")
    >>> for sentence in personal_info(intake).split(". "): print(sentence)
    Laura Saunders is a 45-year-old female working as a Office Job
    With a background in College Graduate
    Laura Saunders is currently Single
    Lives alone.
    >>> intake.reason
    'My running goals get me down.'
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.journal import append_record, read_records, trim_torn_tail

DESIGN_FILE = "design.jsonl"  # one line per CACTUS client: its CelebA face
CELEBA_READINGS_FILE = "celeba_faces.jsonl"  # DeepFace's gender and age of each CelebA image read

# idx slug -> (trait name, description), in the authors' order. The wording is ours: under the authors' protocol the
# four descriptions of their mirror/agent/personality.py are read instead (mirror_hf.upstream.prompts).
RESISTANCE_TRAITS: dict[str, tuple[str, str]] = {
    "emotional-resistance": (
        "Emotional Resistance",
        "Keeps feelings to themselves. Deflects questions about emotions with a shrug or a joke. Avoids painful "
        "memories. Seems detached when asked how they feel.",
    ),
    "cognitive-resistance": (
        "Cognitive Resistance",
        "Argues with alternative explanations. Holds on to the original belief. Asks for proof before trying "
        "anything. Doubts that talking will change facts.",
    ),
    "behavioral-resistance": (
        "Behavioral Resistance",
        "Agrees in words but avoids action. Forgets or skips suggested tasks. Arrives with excuses. Keeps sessions "
        "short.",
    ),
    "no-resistance": (
        "No Resistance",
        "Open to the counselor's questions. Shares feelings readily. Willing to try small exercises. Reflects on "
        "feedback.",
    ),
}
DEEPFACE_GENDERS = {"male": "Man", "female": "Woman"}

_FIELD = re.compile(r"^(Name|Age|Gender|Occupation|Education|Marital Status|Family Details):\s*(.*)$")
_SECTION = re.compile(r"^\d+\.\s")


@dataclass(frozen=True)
class Intake:
    """The fields of a CACTUS intake form that the design uses."""

    name: str
    age: int | None
    gender: str | None  # "male" | "female", as CACTUS writes it
    occupation: str
    education: str
    marital_status: str
    family_details: str
    reason: str  # section 3, "Reason for Seeking Counseling"


def parse_intake_form(text: str) -> Intake:
    """Read a CACTUS intake form: ``Name:`` / ``Age:`` / ``Gender:`` with the value on the next line (or the same),
    ``Occupation: ...`` and the like, then numbered sections; ValueError when the name is missing."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    pending = None
    reason, in_reason = [], False
    for line in lines:
        line = line.strip()
        if _SECTION.match(line):
            in_reason, pending = "reason for seeking counseling" in line.lower(), None
            continue
        if in_reason:
            if line:
                reason.append(line)
            continue
        match = _FIELD.match(line)
        if match:
            key, value = match.group(1).lower(), match.group(2).strip()
            values[key], pending = value, (key if not value else None)
        elif pending and line:
            values[pending], pending = line, None
    if not values.get("name"):
        raise ValueError("no Name: in the intake form")
    age = values.get("age", "")
    gender = values.get("gender", "").lower() or None
    return Intake(
        name=values["name"],
        age=int(age) if age.isdigit() else None,
        gender=gender if gender in DEEPFACE_GENDERS else None,
        occupation=values.get("occupation", ""),
        education=values.get("education", ""),
        marital_status=values.get("marital status", ""),
        family_details=values.get("family details", ""),
        reason=" ".join(reason),
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def personal_info(intake: Intake, capitalize_family: bool = False) -> str:
    """The release's ``personal_info`` sentence (``run_step2.py`` ``generate_introductions``). With
    ``capitalize_family`` the family details go through ``str.capitalize()`` and get a final ``.``, as the authors'
    code does (lower-casing names in them); else their own capitals are kept and a stop added where none ends them."""
    age = f"{intake.age}-year-old " if intake.age is not None else ""
    family = intake.family_details.strip()
    if family and capitalize_family:
        family = f"{family.capitalize()}."
    parts = [
        f"{intake.name} is a {age}{intake.gender or 'person'} working as a {intake.occupation}.",
        f"With a background in {intake.education}." if intake.education else "",
        f"{intake.name} is currently {intake.marital_status}." if intake.marital_status else "",
        family if capitalize_family else _sentence(family),
    ]
    return " ".join(p for p in parts if p)


def personality(slug: str, traits: dict[str, tuple[str, str]] = RESISTANCE_TRAITS) -> str:
    """The release's ``personality`` sentence of a resistance slug."""
    name, description = traits[slug]
    return f"The client exhibits the personality trait of '{name}'. {description}"


def load_traits(path: str | Path) -> dict[str, tuple[str, str]]:
    """Trait descriptions of a JSON file ``{"emotional-resistance": "...", ...}`` (all four slugs)."""
    try:
        texts = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise MirrorError(f"cannot read the trait descriptions: {err}", file=str(path)) from err
    missing = sorted(set(RESISTANCE_TRAITS) - set(texts))
    if missing:
        raise MirrorError(f"no description for {missing}", file=str(path), fix=f"keys {sorted(RESISTANCE_TRAITS)}")
    return {slug: (name, texts[slug]) for slug, (name, _) in RESISTANCE_TRAITS.items()}


def plan_steps(plan: str) -> str | None:
    """A CACTUS plan as the authors' ``run_step2.py`` cuts it: ``"1. "`` and the text after its last ``"\n1. "``;
    None when it has none (they skip such a client)."""
    if "\n1. " not in plan:
        return None
    return "1. " + plan.split("\n1. ")[-1]


def cactus_clients(path: str | Path, limit: int | None = None) -> list[dict]:
    """The distinct clients of ``cactus.json`` (CACTUS has one row per client and attitude), in file order: ``row``
    (the client's first row, 0-based), ``intake`` (:class:`Intake`), ``thought``, ``patterns``, ``cbt_technique``,
    ``cbt_plan``. A row that cannot be read is an error naming it."""
    path = Path(path).expanduser()
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        fix = "download cactus.json (LangAGI-Lab/cactus)"
        raise MirrorError(f"cannot read CACTUS: {err}", file=str(path), fix=fix) from err
    clients, seen = [], set()
    for row, record in enumerate(rows):
        try:
            form = record["intake_form"]
            if form in seen:
                continue
            intake = parse_intake_form(form)
            client = {
                "row": row,
                "intake": intake,
                "thought": record["thought"].strip(),
                "patterns": [p.strip() for p in record["patterns"]],
                "cbt_technique": record["cbt_technique"].strip(),
                "cbt_plan": record["cbt_plan"].strip(),
            }
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise MirrorError(f"not a CACTUS record ({type(err).__name__}: {err})", file=str(path), row=row) from err
        seen.add(form)
        clients.append(client)
        if limit and len(clients) == limit:
            break
    return clients


def pair_faces(
    clients: list[dict],
    celeba,
    analyze,
    out_dir: str | Path,
    *,
    seed: int = 19,
    age_tolerance: int = 5,
    max_reads: int = 50,
    progress: bool = True,
) -> dict[int, dict | None]:
    """client row -> its face ``{"image", "identity", "age", "dominant_gender"}`` (None when no CelebA face of its
    gender was found). ``celeba``: :class:`~mirror_hf.data.celeba.CelebA`; ``analyze(PIL image)`` -> (DeepFace's
    dominant gender, age) or None (e.g. ``DeepFaceChecks.analyze``). Readings and pairings are journaled in
    ``out_dir`` (``celeba_faces.jsonl``, ``design.jsonl``): a rerun reads no face twice and keeps every pairing."""
    import io

    from datasets.utils.tqdm import tqdm
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    readings_file, design_file = out / CELEBA_READINGS_FILE, out / DESIGN_FILE
    for file in (readings_file, design_file):
        trim_torn_tail(file)
    readings = {r["image"]: r for r in read_records(readings_file, key=lambda r: r["image"])}
    paired = {r["row"]: r["face"] for r in read_records(design_file, key=lambda r: r["row"])}
    used = {face["identity"] for face in paired.values() if face}
    order = sorted(celeba.identities)  # every CelebA image (identity_CelebA.txt lists them all)
    random.Random(seed).shuffle(order)
    position = dict.fromkeys(DEEPFACE_GENDERS.values(), 0)  # how far each gender's walk through `order` got

    def reading(image: str) -> dict:
        if image not in readings:
            with Image.open(io.BytesIO(celeba.image_bytes(image))) as face:
                found = analyze(face.convert("RGB"))
            readings[image] = {"image": image, "gender": found and found[0], "age": found and round(found[1])}
            append_record(readings_file, readings[image])
        return readings[image]

    def free(image: str, gender: str) -> bool:
        identity = celeba.identities.get(image)
        male = celeba.attributes.get(image, {}).get("Male")
        sieve = male is None or (male == 1) == (gender == "Man")
        return sieve and (identity is None or identity not in used)

    def candidates(gender: str):
        """Faces read before and still free (no new reading), then new ones along the seeded walk (``max_reads``)."""
        yield from [r for r in readings.values() if r["gender"] == gender and free(r["image"], gender)]
        reads = 0
        while position[gender] < len(order) and reads < max_reads:
            image = order[position[gender]]
            position[gender] += 1
            if image not in readings and free(image, gender):
                reads += 1
                yield reading(image)

    def choose(gender: str, age: int | None) -> str | None:
        best = None  # (age gap, image) of the closest face of the right gender
        for record in candidates(gender):
            if record["gender"] != gender:
                continue
            gap = abs(record["age"] - age) if age is not None else 0
            if gap <= age_tolerance:
                return record["image"]
            if best is None or gap < best[0]:
                best = (gap, record["image"])
        return best and best[1]

    for client in tqdm(clients, desc="Pairing faces", unit="client", disable=not progress):
        if client["row"] in paired:
            continue
        gender = DEEPFACE_GENDERS.get(client["intake"].gender or "")
        image = choose(gender, client["intake"].age) if gender else None
        face = None
        if image is not None:
            found = readings[image]
            face = {"image": image, "identity": celeba.identities.get(image), "age": found["age"]}
            face["dominant_gender"] = found["gender"]
            used.add(face["identity"])
        paired[client["row"]] = face
        append_record(design_file, {"row": client["row"], "face": face})
    return paired


def design_profiles(
    clients: list[dict],
    faces: dict[int, dict | None],
    traits: dict[str, tuple[str, str]] = RESISTANCE_TRAITS,
    capitalize_family: bool = False,
) -> list[dict]:
    """Four profiles per client (one per resistance type, in the authors' order), each a release row without its
    dialogue; clients without a face, or whose plan has no ``"\n1. "`` (the authors skip them), are left out."""
    profiles = []
    for client in clients:
        face, plan = faces.get(client["row"]), plan_steps(client["cbt_plan"])
        if face is None or plan is None:
            continue
        intake: Intake = client["intake"]
        for slug in traits:
            profiles.append(
                {
                    "idx": f"cactus-{client['row']}-{slug}",
                    "name": intake.name,
                    "personal_info": personal_info(intake, capitalize_family),
                    "personality": personality(slug, traits),
                    "distorted_thought": client["thought"],
                    "thinking_trap": ", ".join(client["patterns"]),
                    "reason_for_seeking_counseling": intake.reason,
                    "cbt_technique": client["cbt_technique"],
                    "cbt_plan": plan,
                    "img_path": face["image"],
                    "identity": face["identity"],
                    "age": face["age"],
                    "dominant_gender": face["dominant_gender"],
                }
            )
    return profiles


__all__ = [
    "CELEBA_READINGS_FILE",
    "DESIGN_FILE",
    "RESISTANCE_TRAITS",
    "Intake",
    "cactus_clients",
    "design_profiles",
    "load_traits",
    "pair_faces",
    "parse_intake_form",
    "personal_info",
    "personality",
    "plan_steps",
]
