"""Turn-level training examples in the authors' exact prompt format, and their TRL conversational form.

One response example per therapist turn t that follows a client turn: the image is the client's turn t-1 face,
the history is the last 6 utterances before t rendered ``Therapist: ...`` / ``Client: ...`` without stage
directions, the target is the therapist's statement at t. The ``ec_planning`` variant adds, before it, an
emotion-recognition example whose target is the client's stage direction at t-1.

The same builders serve the simulation (``mirror_hf.therapist``), so training and inference prompts cannot drift.

Example:
    >>> from mirror_hf.data.sft import render_response_prompt, to_trl_messages
    >>> text = render_response_prompt("base", personal_info="Ann, 30.", reason="Stress.", history="Client: Hi.")
    >>> text.splitlines()[:3]
    ['<image>', 'The image above shows the client.', '- Personal Information: Ann, 30.']
    >>> prompt, completion = to_trl_messages(text, "Hello Ann.")
    >>> prompt[0]["content"][0], completion[0]["content"][0]["text"]
    ({'type': 'image', 'text': None}, 'Hello Ann.')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mirror_hf.data.records import Dialogue, Turn
from mirror_hf.prompts import load_prompt
from mirror_hf.schema import sft_record_id

HISTORY_WINDOW = 6
IMAGE_TOKEN = "<image>"
SPEAKER_LABELS = {"therapist": "Therapist", "client": "Client"}
VARIANTS = ("base", "planning", "ec_planning")


def render_history(turns: Sequence[Turn], window: int = HISTORY_WINDOW) -> str:
    """The last ``window`` utterances as ``Therapist: ...`` / ``Client: ...`` lines, stage directions left out."""
    recent = turns[-window:] if window else turns
    return "\n".join(f"{SPEAKER_LABELS[t.speaker]}: {t.statement}" for t in recent)


def render_response_prompt(
    variant: str,
    *,
    personal_info: str,
    reason: str,
    history: str,
    technique: str | None = None,
    plan: str | None = None,
    emotional_state: str | None = None,
) -> str:
    """The therapist-response prompt of ``variant``, as the LLaVA human turn (starting with ``<image>``)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    values = {"personal_info": personal_info, "reason": reason, "history": history}
    if variant != "base":
        if not technique or not plan:
            raise ValueError(f"the {variant} prompt needs a CBT technique and a counseling plan")
        values.update(technique=technique, plan=plan)
    if variant == "ec_planning":
        if not emotional_state:
            raise ValueError("the ec_planning prompt needs the client's emotional state")
        values["emotional_state"] = emotional_state
    return load_prompt(f"therapist_response_{variant}").render(**values)


def render_emotion_recognition_prompt() -> str:
    """The emotional-captioning prompt, as the LLaVA human turn."""
    return load_prompt("emotion_recognition").render()


def to_trl_messages(human_value: str, answer: str) -> tuple[list[dict], list[dict]]:
    """Turn a LLaVA-style human value (``<image>\\n...``) and its answer into TRL ``prompt`` / ``completion``.

    The leading ``<image>`` line becomes an image content block, so a processor's chat template puts the image
    token back where the authors had it (LLaVA-1.5 renders ``USER: <image>\\n{text}``).
    """
    head = IMAGE_TOKEN + "\n"
    if not human_value.startswith(head) or IMAGE_TOKEN in human_value[len(head) :]:
        raise ValueError("a training prompt must start with exactly one '<image>' line")
    content = [{"type": "image", "text": None}, {"type": "text", "text": human_value[len(head) :]}]
    prompt = [{"role": "user", "content": content}]
    completion = [{"role": "assistant", "content": [{"type": "text", "text": answer}]}]
    return prompt, completion


def from_trl_messages(prompt: list[dict]) -> str:
    """Inverse of :func:`to_trl_messages` for the prompt: the LLaVA human value."""
    parts = []
    for block in prompt[0]["content"]:
        parts.append(IMAGE_TOKEN if block["type"] == "image" else block["text"])
    return "\n".join(parts)


@dataclass(frozen=True)
class SFTExample:
    id: str
    idx: str
    turn: int  # the therapist turn t whose response (or whose preceding client emotion) is learned
    task: str  # "response" | "emotion_recognition"
    prompt_text: str  # LLaVA human value
    completion_text: str
    image_turn: int  # index of the client turn whose face the example shows (t - 1)


def sft_examples(dialogue: Dialogue, variant: str, omitted: dict[str, int] | None = None) -> Iterator[SFTExample]:
    """The training examples of one dialogue for ``variant``.

    Examples that cannot be written faithfully are left out and counted in ``omitted`` by reason:
    ``no_plan`` (planning variants without a technique or plan), ``no_stage_direction`` (ec_planning when the
    client's turn t-1 has no stage direction: both its records are left out, since the authors' target and the
    ``Client Emotional State`` line are that stage direction).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")

    def omit(reason: str) -> None:
        if omitted is not None:
            omitted[reason] = omitted.get(reason, 0) + 1

    turns = dialogue.turns
    for t in range(1, len(turns)):
        turn, previous = turns[t], turns[t - 1]
        if turn.speaker != "therapist" or previous.speaker != "client":
            continue
        if variant != "base" and not (dialogue.cbt_technique and dialogue.cbt_plan):
            omit("no_plan")
            continue
        emotional_state = previous.stage_direction
        if variant == "ec_planning" and not emotional_state:
            omit("no_stage_direction")
            continue
        history = render_history(turns[:t])
        response = render_response_prompt(
            variant,
            personal_info=dialogue.personal_info,
            reason=dialogue.reason_for_seeking_counseling,
            history=history,
            technique=dialogue.cbt_technique,
            plan=dialogue.cbt_plan,
            emotional_state=emotional_state,
        )
        if variant == "ec_planning":
            yield SFTExample(
                id=sft_record_id(dialogue.idx, t, "emotion_recognition"),
                idx=dialogue.idx,
                turn=t,
                task="emotion_recognition",
                prompt_text=render_emotion_recognition_prompt(),
                completion_text=emotional_state,
                image_turn=t - 1,
            )
        yield SFTExample(
            id=sft_record_id(dialogue.idx, t, "response"),
            idx=dialogue.idx,
            turn=t,
            task="response",
            prompt_text=response,
            completion_text=turn.statement,
            image_turn=t - 1,
        )
