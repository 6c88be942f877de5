"""The resistant client of the MIRROR paper (Appendix J): an LLM that answers ``Client: [stage direction] words``.

Stage directions are parsed out: the therapist never sees them (they are kept in the record and drive the faces).
A session ends on the exact ``[/END]`` token; text merely containing "END" does not. A malformed answer is asked
again a bounded number of times.

Example:
    >>> turn = parse_client_utterance("Client: [Looks away] I guess. [/END]")
    >>> turn.stage_direction, turn.statement, turn.ended
    ('Looks away', 'I guess.', True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mirror_hf.llm import ChatRequest
from mirror_hf.prompts import load_prompt

END_TOKEN = "[/END]"
# The authors' client settings: gpt-3.5-turbo, temperature 0.7, top_p 0.9, 128 tokens, both penalties 0.2.
CLIENT_SAMPLING = {
    "temperature": 0.7,
    "top_p": 0.9,
    "max_tokens": 128,
    "frequency_penalty": 0.2,
    "presence_penalty": 0.2,
}
_PREFIX = re.compile(r"^\s*(?:\*\*)?client(?:\*\*)?\s*:\s*(?:\*\*)?", re.I)
_OTHER_ROLE = re.compile(r"^\s*(?:\*\*)?(?:counsel+or|therapist)(?:\*\*)?\s*:", re.I | re.M)
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True)
class ClientUtterance:
    stage_direction: str | None
    statement: str
    ended: bool
    raw: str


def parse_client_utterance(text: str) -> ClientUtterance:
    """Split a client answer into stage direction(s), statement and the end flag; ValueError when malformed."""
    raw = text
    other = _OTHER_ROLE.search(text)
    if other and other.start() == 0:
        raise ValueError("the client answered as the counselor")
    if other:  # the model went on to write the counselor's part: keep only the client's turn
        text = text[: other.start()]
    text = _PREFIX.sub("", text.strip(), count=1)
    ended = END_TOKEN in text
    text = text.replace(END_TOKEN, " ")
    directions = [d.strip() for d in _BRACKETS.findall(text) if d.strip()]
    # control characters (the prompt forbids them) are dropped rather than failing the turn
    statement = " ".join("".join(c for c in _BRACKETS.sub(" ", text) if c.isprintable() or c.isspace()).split())
    if not statement and not directions and not ended:
        raise ValueError("empty client answer")
    return ClientUtterance("; ".join(directions) or None, statement, ended, raw)


def render_client_history(turns) -> str:
    """``Counselor: ...`` / ``Client: [direction] ...`` lines: the client remembers its own nonverbal cues."""
    lines = []
    for turn in turns:
        if turn.speaker == "therapist":
            lines.append(f"Counselor: {turn.statement}")
        else:
            direction = f"[{turn.stage_direction}] " if turn.stage_direction else ""
            lines.append(f"Client: {direction}{turn.statement}".rstrip())
    return "\n".join(lines)


class MalformedClientTurn(Exception):
    """The client kept answering in a form that cannot be read, after the allowed re-asks."""


class ResistantClient:
    """Generates client turns for a profile (``personality`` holds the resistance description)."""

    def __init__(self, backend, sampling: dict | None = None, max_reasks: int = 2):
        self.backend = backend
        self.sampling = {**CLIENT_SAMPLING, **(sampling or {})}
        self.max_reasks = max_reasks

    @property
    def id(self) -> str:
        return self.backend.id

    def request(self, profile: dict, history) -> ChatRequest:
        query = load_prompt("client_query").render(
            personal_info=profile["personal_info"],
            personality=profile["personality"],
            distorted_thought=profile["distorted_thought"],
            reason=profile["reason_for_seeking_counseling"],
            history=render_client_history(history),
        )
        messages = [
            {"role": "system", "content": load_prompt("client_system").render()},
            {"role": "user", "content": query},
        ]
        return ChatRequest.of(messages, **self.sampling)

    async def reply(self, profile: dict, history, nonverbal_only: bool = False) -> ClientUtterance:
        """The next client turn, re-asked up to ``max_reasks`` times when malformed. ``nonverbal_only`` (the opening
        of VLM runs) keeps the stage direction and drops any words."""
        problems = []
        for attempt in range(self.max_reasks + 1):
            request = self.request(profile, history)
            if attempt:  # a different seed, so a cached or greedy answer is not simply repeated
                request = ChatRequest.of(request.messages, **{**request.sampling(), "seed": attempt})
            response = await self.backend.chat(request)
            try:
                utterance = parse_client_utterance(response.text)
            except ValueError as err:
                problems.append(str(err))
                continue
            if nonverbal_only:  # keep the cue, drop any words (without a cue the opening is a silent, plain face)
                return ClientUtterance(utterance.stage_direction, "", False, utterance.raw)
            return utterance
        raise MalformedClientTurn("; ".join(problems))
