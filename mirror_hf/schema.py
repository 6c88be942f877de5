"""Every dataset config's ``datasets.Features``, the id formats and the label names: the one source of truth.

The names and file layouts are plain constants; the ``Features`` are built on first use (``datasets`` takes most of
a second to import, and the command line must answer ``--help`` without it).

Example:
    >>> from mirror_hf.schema import parse_idx, FEATURES
    >>> parse_idx("cactus-7658-emotional-resistance")
    (7658, 'emotional')
    >>> sorted(FEATURES)
    ['dialogues', 'eval_profiles', 'sft_base', 'sft_ec_planning', 'sft_planning']
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

# The four generation traits, in the authors' order; "none" is their "No Resistance".
RESISTANCE_TYPES: tuple[str, ...] = ("emotional", "cognitive", "behavioral", "none")
RESISTANCE_SLUGS: dict[str, str] = {
    "emotional-resistance": "emotional",
    "cognitive-resistance": "cognitive",
    "behavioral-resistance": "behavioral",
    "no-resistance": "none",
}
IDX_PATTERN = re.compile(r"^cactus-(\d+)-([a-z]+(?:-[a-z]+)*)$")

# The 12 CBT techniques of CACTUS, as the planning prompt lists them.
CBT_TECHNIQUES: tuple[str, ...] = (
    "Efficiency Evaluation",
    "Pie Chart Technique",
    "Alternative Perspective",
    "Decatastrophizing",
    "Pros and Cons Analysis",
    "Evidence-Based Questioning",
    "Reality Testing",
    "Continuum Technique",
    "Changing Rules to Wishes",
    "Behavior Experiment",
    "Problem-Solving Skills Training",
    "Systematic Exposure",
)
SFT_TASKS: tuple[str, ...] = ("response", "emotion_recognition")

# Config name -> (split name, SFT prompt variant or None).
DIALOGUES, EVAL_PROFILES = "dialogues", "eval_profiles"
SFT_VARIANTS: dict[str, str] = {"sft_base": "base", "sft_planning": "planning", "sft_ec_planning": "ec_planning"}
CONFIG_SPLITS: dict[str, str] = {DIALOGUES: "train", EVAL_PROFILES: "test", **{c: "train" for c in SFT_VARIANTS}}
CONFIG_NAMES: tuple[str, ...] = tuple(CONFIG_SPLITS)


def parse_idx(idx: str) -> tuple[int, str]:
    """Split a release id ``cactus-{row}-{trait slug}`` into the CACTUS row number and the resistance type.

    The release's own ``resistance`` column is buggy (it carries the row number), so the id is the source.
    Raises ``ValueError`` naming the accepted slugs.
    """
    match = IDX_PATTERN.match(idx.strip())
    if not match:
        raise ValueError(f"{idx!r} is not of the form cactus-<number>-<resistance slug>")
    slug = match.group(2)
    if slug not in RESISTANCE_SLUGS:
        raise ValueError(f"unknown resistance slug {slug!r} in {idx!r}; expected one of {sorted(RESISTANCE_SLUGS)}")
    return int(match.group(1)), RESISTANCE_SLUGS[slug]


def sft_record_id(idx: str, turn: int, task: str) -> str:
    """``{idx}:{t}:response`` or ``{idx}:{t}:emotion_recognition``, the authors' ``question_id``."""
    if task not in SFT_TASKS:
        raise ValueError(f"task must be one of {SFT_TASKS}, got {task!r}")
    return f"{idx}:{turn}:{task}"


# Hub layout of a built folder: data/{config}/{split}-00000-of-00003.parquet, the card, and the build's report
DATA_DIR = "data"
BUILD_REPORT_FILE = "build_report.json"


def shard_path(config: str, index: int, count: int) -> str:
    return f"{DATA_DIR}/{config}/{CONFIG_SPLITS[config]}-{index:05d}-of-{count:05d}.parquet"


def config_data_files(config: str) -> list[dict[str, str]]:
    """The ``data_files`` entry of ``config`` in a dataset card's ``configs:``."""
    split = CONFIG_SPLITS.get(config, "train")
    return [{"split": split, "path": f"{DATA_DIR}/{config}/{split}-*.parquet"}]


# A simulation run folder appends one JSON record per finished session to this file, and turns them into the
# sessions dataset: one config, one train shard.
SESSIONS_FILE = "sessions.jsonl"
SESSIONS_CONFIG = "sessions"
SESSIONS_SHARD = f"{DATA_DIR}/{SESSIONS_CONFIG}/train-00000-of-00001.parquet"
RUN_REPORT_FILE = "run_report.json"

# A training output_dir (and a model merged from it) holds every resolved setting of the run in this file.
RECIPE_FILE = "mirror_recipe.yaml"


# Session ends that are failures, not outcomes: such sessions are not judged.
FAILURE_REASONS = ("malformed_client", "malformed_therapist", "upstream_error", "backend_error")
# `mirror-hf evaluate --out DIR`: report.json + report.md + figures, and one JSONL row per judgement under
# judgements/ (one file per run, instrument and judge), loadable as the "judgements" config.
EVAL_REPORT_FILE = "report.json"
EVAL_MARKDOWN_FILE = "report.md"
JUDGEMENTS_CONFIG = "judgements"
# `mirror-hf synthesize filter --out DIR`: the verdicts `mirror-hf build --filters DIR` applies; its
# "rejected_dialogues" maps a dialogue idx to {filter: [reasons]}.
FILTER_REPORT_FILE = "filter_report.json"

# `mirror-hf pairwise sample --out STUDY`: study.json, the manifest (one row per A/B item, the models behind each side)
# as the "items" config, the annotation app under app/ (blinded: no model names), answers/ and judges/ (JSONL).
STUDY_FILE = "study.json"
ITEMS_CONFIG = "items"
ITEMS_SHARD = f"{DATA_DIR}/{ITEMS_CONFIG}/train-00000-of-00001.parquet"

# `mirror-hf video --out DIR`: one row per answered turn (the "turns" config), its report, turns.jsonl, frames/, pages/.
VIDEO_CONFIG = "turns"
VIDEO_SHARD = f"{DATA_DIR}/{VIDEO_CONFIG}/train-00000-of-00001.parquet"
VIDEO_REPORT_FILE = "video_report.json"

# `mirror-hf synthesize screenplays --out DIR`: new dialogues as release files (mirror_data.csv) and this report.
SCREENPLAYS_REPORT_FILE = "screenplays_report.json"


_FEATURE_NAMES = (
    "DIALOGUE_FEATURES",
    "EVAL_PROFILE_FEATURES",
    "SFT_FEATURES",
    "FEATURES",
    "SESSION_FEATURES",
    "JUDGEMENT_FEATURES",
    "ITEM_FEATURES",
    "VIDEO_TURN_FEATURES",
)


def _features() -> dict:
    """Every ``Features`` constant of this module, built once, on first use (see :func:`__getattr__`)."""
    from datasets import ClassLabel, Features, Image, List, Value

    _PROFILE = {
        "idx": Value("string"),
        "cactus_idx": Value("int32"),
        "resistance": ClassLabel(names=list(RESISTANCE_TYPES)),
        "personal_info": Value("string"),
        "personality": Value("string"),
        "distorted_thought": Value("string"),
        "thinking_traps": List(Value("string")),
        "reason_for_seeking_counseling": Value("string"),
        "cbt_technique": Value("string"),
        "cbt_technique_source": Value("string"),
        "cbt_plan": Value("string"),
        "celeba_image": Value("string"),
        "celeba_identity": Value("int32"),
        "gender": Value("string"),
        "age": Value("int32"),
        "identity_image": Image(),
    }

    DIALOGUE_FEATURES = Features(
        {
            **_PROFILE,
            "generator_model": Value("string"),
            "turns": List(
                {
                    "speaker": Value("string"),
                    "stage_direction": Value("string"),
                    "statement": Value("string"),
                    "image": Image(),
                }
            ),
        }
    )

    EVAL_PROFILE_FEATURES = Features({"name": Value("string"), **_PROFILE})

    # TRL conversational messages: content blocks {"type": "image"} / {"type": "text", "text": ...}.
    _MESSAGES = List({"role": Value("string"), "content": List({"type": Value("string"), "text": Value("string")})})

    SFT_FEATURES = Features(
        {
            "id": Value("string"),
            "idx": Value("string"),
            "turn": Value("int32"),
            "task": Value("string"),
            "resistance": ClassLabel(names=list(RESISTANCE_TYPES)),
            "prompt": _MESSAGES,
            "completion": _MESSAGES,
            "images": List(Image()),
            "image_source": Value("string"),
        }
    )

    FEATURES: dict[str, Features] = {
        DIALOGUES: DIALOGUE_FEATURES,
        EVAL_PROFILES: EVAL_PROFILE_FEATURES,
        **{name: SFT_FEATURES for name in SFT_VARIANTS},
    }

    # Simulation output: one row per session (mirror_hf.simulation.runner).
    SESSION_FEATURES = Features(
        {
            "session_id": Value("string"),
            "profile_idx": Value("string"),
            "therapist": Value("string"),
            "client": Value("string"),
            "variant": Value("string"),
            "technique": Value("string"),
            "plan": Value("string"),
            "end_reason": Value("string"),
            "error": Value("string"),
            "exchanges": Value("int32"),
            "prompt_tokens": Value("int64"),
            "completion_tokens": Value("int64"),
            "turns": List(
                {
                    "speaker": Value("string"),
                    "text": Value("string"),
                    "stage_direction": Value("string"),
                    "raw": Value("string"),
                    "emotional_caption": Value("string"),
                    "plan": Value("string"),
                    "image": Image(),
                }
            ),
        }
    )

    JUDGEMENT_FEATURES = Features(
        {
            "run": Value("string"),
            "judge": Value("string"),
            "session_id": Value("string"),
            "session": Value("int32"),
            "instrument": Value("string"),
            "item": Value("string"),
            "dimension": Value("string"),
            "score": Value("float64"),  # null: no answer could be read (never 0)
            "prompt": Value("string"),
            "raw": List(Value("string")),
            "failure": Value("string"),
            "expected": Value("float64"),  # the probability-weighted score, when asked for
        }
    )
    # A pairwise study's manifest (mirror_hf.pairwise.study): which run's session is shown as A and which as B.
    ITEM_FEATURES = Features(
        {
            "item_id": Value("string"),
            "profile_idx": Value("string"),
            "resistance": ClassLabel(names=list(RESISTANCE_TYPES)),
            "model_a": Value("string"),
            "model_b": Value("string"),
            "session_a": Value("string"),  # the blinded session ids the app shows
            "session_b": Value("string"),
            "swapped": Value("bool"),  # True: the later run of the pair (in --runs order) is shown as A
        }
    )
    # `mirror-hf video`: one row per therapist turn answered on a real session (mirror_hf.video.run).
    VIDEO_TURN_FEATURES = Features(
        {
            "transcript_id": Value("string"),
            "utterance_id": Value("int32"),
            "client_utterance_id": Value("int32"),
            "client_text": Value("string"),
            "face": Image(),
            "face_found": Value("bool"),
            "frame_time": Value("float64"),
            "real_therapist": Value("string"),
            "answer": Value("string"),
            "caption": Value("string"),
            "technique": Value("string"),
            "plan": Value("string"),
            "failure": Value("string"),
        }
    )
    return {name: value for name, value in locals().items() if name in _FEATURE_NAMES}


def __getattr__(name: str):
    """``from mirror_hf.schema import SFT_FEATURES`` imports ``datasets`` then, not when the module loads."""
    if name in _FEATURE_NAMES:
        globals().update(_features())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
