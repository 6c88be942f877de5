"""In-memory records read from the release: a client profile, and a dialogue (profile + turns).

They carry file paths, not image bytes; the builder reads bytes when it writes rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Turn:
    speaker: str  # "therapist" | "client"
    statement: str
    stage_direction: str | None = None
    image_path: Path | None = None  # the synthesized face of a client turn, when one exists


@dataclass
class Profile:
    idx: str
    cactus_idx: int
    resistance: str
    personal_info: str
    personality: str
    distorted_thought: str
    reason_for_seeking_counseling: str
    thinking_traps: list[str] = field(default_factory=list)
    cbt_plan: str | None = None
    cbt_technique: str | None = None
    cbt_technique_source: str | None = None
    celeba_image: str | None = None  # "006472.jpg"
    celeba_identity: int | None = None
    gender: str | None = None  # "man" | "woman"
    age: int | None = None
    name: str | None = None
    generator_model: str | None = None
    source_file: str | None = None
    source_row: int | None = None  # 1-based data row in source_file


@dataclass
class Dialogue(Profile):
    turns: list[Turn] = field(default_factory=list)
