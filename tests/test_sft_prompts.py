"""The sft_* configs reproduce the authors' LLaVA training prompts byte for byte (RELEASE_FORMAT's rules).

The expected strings are written out in full here, independently of the prompt files, for our own dialogue
(tests/release_writer.py, first dialogue), therapist turn t=8: history = turns 2..7, image = client turn 7.
"""

import pytest
from datasets import load_dataset
from helpers import build_cli
from release_writer import DIALOGUES, idx_of

from mirror_hf.data.records import Dialogue, Turn
from mirror_hf.data.sft import from_trl_messages, render_history, sft_examples

IDX = idx_of(DIALOGUES[0])
PERSONAL = (
    "Nora Vale is a 31-year-old female working as a Florist. With a background in Associate Degree. "
    "Nora Vale is currently Single. Has one older sister."
)
REASON = "I came because small cancellations ruin my whole week."
PLAN = (
    "1. Introduction to Alternative Perspective: We will list other reasons for the cancellation.\n"
    "2. Checking the Story: We will compare the thought with what the friend said."
)
HISTORY = (
    "Therapist: That sounds disappointing. What did you tell yourself?\n"
    "Client: That she's tired of me. Whatever.\n"
    "Therapist: You say whatever, but it seems to matter. What else could explain it?\n"
    "Client: I don't know. Work, maybe.\n"
    "Therapist: Work is one possibility. Did she suggest another day?\n"
    "Client: She did, actually. Thursday."
)
TAIL = (
    "\n\nBelow is a conversation between the client and the psychotherapist.\n" + HISTORY + "\n\nBased on their "
    "body language and facial expression, respond as a psychotherapist conducting a CBT (Cognitive Behavioral "
    "Therapy) session."
)
EXPECTED = {
    "sft_base": "<image>\nThe image above shows the client.\n- Personal Information: "
    + PERSONAL
    + "\n- Reason for Counseling: "
    + REASON
    + TAIL,
    "sft_planning": "<image>\nThe image above shows the client.\n- Personal Information: "
    + PERSONAL
    + "\n- Reason for Counseling: "
    + REASON
    + "\n- CBT technique:\nAlternative Perspective\n\n- Counseling planning:\n"
    + PLAN
    + TAIL,
    "sft_ec_planning": "<image>\nThe image above shows the client.\n- Personal Information: "
    + PERSONAL
    + "\n- Client Emotional State: Half smiles\n- Reason for Counseling: "
    + REASON
    + "\n- CBT technique: Alternative Perspective\n- Counseling planning:\n"
    + PLAN
    + TAIL,
}
EMOTION_PROMPT = (
    "<image>\nThe image above shows the client.\nLook at the provided image and assess the client\u2019s "
    "emotional state. Clearly describe their emotions in simple, phase-based steps for easy understanding."
)
COMPLETION = "So she wants to see you. How does that land?"


@pytest.fixture
def built(release_dir, celeba_dir, tmp_path):
    out = tmp_path / "mirror"
    assert build_cli(release_dir, out, celeba=celeba_dir) == 0
    return out


@pytest.mark.parametrize("config", ["sft_base", "sft_planning", "sft_ec_planning"])
def test_prompts_match_the_authors_byte_for_byte(built, config):
    ds = load_dataset(str(built), config, split="train")
    rows = {r["id"]: r for r in ds}
    row = rows[f"{IDX}:8:response"]
    assert from_trl_messages(row["prompt"]) == EXPECTED[config]
    assert row["completion"] == [{"role": "assistant", "content": [{"type": "text", "text": COMPLETION}]}]
    assert row["prompt"][0]["role"] == "user"
    assert [b["type"] for b in row["prompt"][0]["content"]] == ["image", "text"]
    assert row["turn"] == 8 and row["task"] == "response" and len(row["images"]) == 1
    if config == "sft_ec_planning":
        emotion = rows[f"{IDX}:8:emotion_recognition"]
        assert from_trl_messages(emotion["prompt"]) == EMOTION_PROMPT
        assert emotion["completion"][0]["content"][0]["text"] == "Half smiles"
        ids = [r for r in ds["id"] if r.startswith(IDX)]
        # t=6 follows a client turn without stage direction: both its records are left out
        assert ids == [f"{IDX}:{t}:{task}" for t in (2, 4, 8) for task in ("emotion_recognition", "response")]
    else:
        assert [r for r in ds["id"] if r.startswith(IDX)] == [f"{IDX}:{t}:response" for t in (2, 4, 6, 8)]


def test_llava_chat_template_renders_the_authors_human_turn(built, tiny_llava):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_llava)
    row = next(r for r in load_dataset(str(built), "sft_base", split="train") if r["id"] == f"{IDX}:8:response")
    messages = [
        {"role": m["role"], "content": [{k: v for k, v in b.items() if v is not None} for b in m["content"]]}
        for m in row["prompt"]
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "USER: " + EXPECTED["sft_base"] + " ASSISTANT:"


def test_history_window_image_turn_and_omissions():
    turns = [Turn("therapist" if t % 2 == 0 else "client", f"u{t}", None if t == 3 else f"d{t}") for t in range(12)]
    d = Dialogue(
        idx="cactus-1-no-resistance",
        cactus_idx=1,
        resistance="none",
        personal_info="P",
        personality="X",
        distorted_thought="T",
        reason_for_seeking_counseling="R",
        turns=turns,
    )
    assert render_history(turns[:10]) == "\n".join(
        f"{'Therapist' if t % 2 == 0 else 'Client'}: u{t}" for t in range(4, 10)
    )
    omitted = {}
    base = list(sft_examples(d, "base", omitted))
    assert [(e.turn, e.image_turn) for e in base] == [(2, 1), (4, 3), (6, 5), (8, 7), (10, 9)]
    assert list(sft_examples(d, "planning", omitted)) == [] and omitted == {"no_plan": 5}
    d.cbt_technique, d.cbt_plan = "Reality Testing", "1. Test it."
    ec = list(sft_examples(d, "ec_planning", omitted))
    assert [e.turn for e in ec if e.task == "response"] == [2, 6, 8, 10]  # t=4 follows turn 3 (no direction)
    assert omitted["no_stage_direction"] == 1
    assert next(e for e in ec if e.task == "emotion_recognition" and e.turn == 6).completion_text == "d5"


def test_no_record_without_an_image(release_dir, tmp_path):
    out = tmp_path / "mirror"
    assert build_cli(release_dir, out) == 0
    import json

    report = json.loads((out / "build_report.json").read_text())
    assert report["configs"]["sft_base"]["rows"] == 0
    assert report["configs"]["sft_base"]["omitted_records"] == {"no_image": 7}
    assert not (out / "data" / "sft_base").exists() or not any((out / "data" / "sft_base").iterdir())
    assert "sft_base" not in (out / "README.md").read_text().split("---")[1]
    assert load_dataset(str(out), "dialogues", split="train")[0]["identity_image"] is None
