"""One simulated session: the therapist against the resistant client, until an end condition.

End reasons: ``client_ended`` (the exact ``[/END]`` after at least ``min_exchanges`` exchanges), ``turn_limit``
(``max_exchanges`` therapist+client exchanges), ``disengaged`` (two client turns in a row with no words, only a
stage direction: our reading of the paper's "attempts to disengage after two consecutive turns"),
``malformed_client`` (re-asks exhausted) and ``backend_error`` (a call failed after its retries).

In VLM runs the client opens with a nonverbal turn (stage direction and face only), as the authors did.

Example:
    >>> result = asyncio.run(run_session(profile, therapist, client, IdentityFaces()))   # doctest: +SKIP
    >>> result.end_reason, len(result.turns)                                              # doctest: +SKIP
    ('client_ended', 13)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from mirror_hf.data.records import Turn
from mirror_hf.llm import BackendError
from mirror_hf.llm.types import MeteredBackend
from mirror_hf.simulation.client import MalformedClientTurn


@dataclass
class SessionTurn:
    speaker: str  # "therapist" | "client"
    text: str  # what the other side sees (no stage direction)
    stage_direction: str | None = None
    raw: str | None = None  # the model's full answer (client turns)
    image: object = None  # PIL face shown with a client turn
    emotional_caption: str | None = None  # P+EC: the therapist's caption of the face it answered


@dataclass
class SessionResult:
    profile_idx: str
    therapist: str
    client: str
    variant: str
    turns: list[SessionTurn] = field(default_factory=list)
    end_reason: str | None = None
    error: str | None = None
    technique: str | None = None
    plan: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def exchanges(self) -> int:
        return sum(t.speaker == "therapist" for t in self.turns)

    def visible_history(self) -> list[Turn]:
        """What the therapist may see: statements only (client stage directions stay hidden)."""
        return [Turn(t.speaker, t.text) for t in self.turns if t.text or t.speaker == "therapist"]


async def turn_face(faces, profile: dict, before: list, utterance, t: int):
    """The face of client turn ``t`` (``utterance``, after the turns ``before``). A provider that draws from the
    dialogue so far (``async draw(profile, turns, t)``, e.g. :class:`mirror_hf.synthesis.faces.LiveFaces`) gets the
    turns; others are asked ``face(profile, t, stage_direction)``."""
    if utterance is not None and hasattr(faces, "draw"):
        rows = [{"speaker": u.speaker, "stage_direction": u.stage_direction, "statement": u.text} for u in before]
        now = {"speaker": "client", "stage_direction": utterance.stage_direction, "statement": utterance.statement}
        rows.append(now)
        return await faces.draw(profile, rows, t)
    if hasattr(faces, "face"):
        return faces.face(profile, t, utterance.stage_direction if utterance else None)
    return profile.get("identity_image")


async def run_session(
    profile: dict, therapist, client, faces, *, vision: bool = True, max_exchanges: int = 20, min_exchanges: int = 2
) -> SessionResult:
    """Play one session; never raises for a model's misbehaviour: the reason is recorded instead."""
    result = SessionResult(profile["idx"], therapist.id, client.id, therapist.variant)
    therapist, client = copy.copy(therapist), copy.copy(client)  # count this session's tokens only
    therapist.backend, client.backend = MeteredBackend(therapist.backend), MeteredBackend(client.backend)
    silent_in_a_row = 0
    try:
        # nonverbal opening in VLM runs: the therapist first sees the client before anyone speaks
        opening = await client.reply(profile, [], nonverbal_only=True) if vision else None
        face = await turn_face(faces, profile, [], opening, 0)
        if opening:
            result.turns.append(SessionTurn("client", "", opening.stage_direction, opening.raw, face))
        plan = await therapist.plan(profile, face)
        if plan:
            result.technique, result.plan = plan.technique, plan.plan
        while True:
            caption = await therapist.caption(face)
            text = await therapist.respond(profile, result.visible_history(), face, plan, caption)
            result.turns.append(SessionTurn("therapist", text, emotional_caption=caption))
            history = [Turn(t.speaker, t.text, t.stage_direction) for t in result.turns if t.text or t.stage_direction]
            utterance = await client.reply(profile, history)
            t = len(result.turns)
            face = await turn_face(faces, profile, result.turns, utterance, t) if vision else None
            result.turns.append(
                SessionTurn("client", utterance.statement, utterance.stage_direction, utterance.raw, face)
            )
            silent_in_a_row = silent_in_a_row + 1 if not utterance.statement else 0
            if utterance.ended and result.exchanges >= min_exchanges:
                result.end_reason = "client_ended"
            elif silent_in_a_row >= 2:
                result.end_reason = "disengaged"
            elif result.exchanges >= max_exchanges:
                result.end_reason = "turn_limit"
            if result.end_reason:
                break
    except MalformedClientTurn as err:
        result.end_reason, result.error = "malformed_client", str(err)
    except BackendError as err:
        result.end_reason, result.error = "backend_error", str(err)
    usage = [therapist.backend.usage, client.backend.usage]
    result.prompt_tokens = sum(u.prompt_tokens for u in usage)
    result.completion_tokens = sum(u.completion_tokens for u in usage)
    return result
