"""One simulated session: the therapist against the resistant client, as the authors' loop runs it
(``mirror-llava/llava/chat/therapy.py`` ``_exchange_statements``; ``llm_therapist/src/run.py`` for the text
baselines).

A VLM session opens with the client's nonverbal turn; a text baseline's with the therapist's greeting. Then, at most
``max_exchanges`` times: a client turn (with its face), and the therapist's answer to it. End reasons:
``client_ended`` (the client's end mark, as the protocol reads it, once the therapist has spoken at least
``min_exchanges`` times; an earlier one is ignored, as upstream does), ``turn_limit``, ``disengaged`` (``corrected``
only: the client silent ``disengage_after`` turns in a row after its opening, the paper's §5 rule),
``malformed_client`` / ``malformed_therapist`` (re-asks exhausted), ``upstream_error`` (the authors' code would
have crashed here, and their run dropped the session) and ``backend_error`` (a call failed after its retries).

Example:
    >>> result = asyncio.run(run_session(profile, therapist, client, IdentityFaces()))   # doctest: +SKIP
    >>> result.end_reason, len(result.turns)                                              # doctest: +SKIP
    ('client_ended', 13)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from mirror_hf.llm import BackendError
from mirror_hf.llm.types import MeteredBackend
from mirror_hf.simulation.client import MalformedClientTurn
from mirror_hf.therapist import MalformedTherapistTurn, UpstreamCrash


@dataclass
class SessionTurn:
    speaker: str  # "therapist" | "client"
    text: str  # what the other side sees (no stage direction)
    stage_direction: str | None = None
    raw: str | None = None  # the model's full answer (client turns)
    image: object = None  # PIL face shown with a client turn
    emotional_caption: str | None = None  # P+EC: the therapist's caption of the face it answered
    plan: str | None = None  # the plan a therapist turn followed (P and P+EC; the authors' P+EC plans every turn)


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
    protocol = client.protocol
    session = therapist.start(profile)
    silent_in_a_row = 0
    try:
        if not vision:  # the text baselines' counselor speaks first (run.py:64)
            result.turns.append(SessionTurn("therapist", session.greeting()))
        for k in range(max_exchanges):
            opening = vision and k == 0
            utterance = await (client.opening(profile) if opening else client.reply(profile, result.turns))
            face = await turn_face(faces, profile, result.turns, utterance, len(result.turns)) if vision else None
            result.turns.append(
                SessionTurn("client", utterance.statement, utterance.stage_direction, utterance.raw, face)
            )
            silent_in_a_row = 0 if opening or utterance.statement else silent_in_a_row + 1
            if utterance.ended and result.exchanges >= min_exchanges:
                result.end_reason = "client_ended"
                break
            if protocol.disengage_after and silent_in_a_row >= protocol.disengage_after:
                result.end_reason = "disengaged"
                break
            answer = await session.respond(result.turns, face)
            plan = answer.plan
            if plan and result.technique is None:
                result.technique, result.plan = plan.technique, plan.plan
            turn = SessionTurn("therapist", answer.text, emotional_caption=answer.caption, plan=plan and plan.plan)
            result.turns.append(turn)
        else:
            result.end_reason = "turn_limit"
    except MalformedClientTurn as err:
        result.end_reason, result.error = "malformed_client", str(err)
    except MalformedTherapistTurn as err:
        result.end_reason, result.error = "malformed_therapist", str(err)
    except UpstreamCrash as err:
        result.end_reason, result.error = "upstream_error", str(err)
    except BackendError as err:
        result.end_reason, result.error = "backend_error", str(err)
    usage = [therapist.backend.usage, client.backend.usage]
    result.prompt_tokens = sum(u.prompt_tokens for u in usage)
    result.completion_tokens = sum(u.completion_tokens for u in usage)
    return result
