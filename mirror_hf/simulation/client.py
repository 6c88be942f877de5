"""The resistant client of the MIRROR paper: an LLM that answers ``Client: [stage direction] words``.

Under the ``authors`` protocol (:mod:`mirror_hf.protocol`) it is the authors' client exactly: their system file and
query (read from their repository), the long resistance descriptions in place of the profile's personality, the
nonverbal opening sent alone, its own history with the doubled ``Client: Client:`` label, and their reading of the
answer (text after the first colon, any ``END`` ends, a bracket removal that spans from the first ``[`` to the last
``]``). Under ``corrected`` it speaks the paper's Appendix J prompts, reads answers strictly (the exact ``[/END]``,
each bracket on its own) and re-asks malformed answers. Stage directions never reach the therapist; they are kept
in the record and drive the faces.

Example:
    >>> turn = parse_client_utterance("Client: [Looks away] I guess. [/END]")
    >>> turn.stage_direction, turn.statement, turn.ended
    ('Looks away', 'I guess.', True)
    >>> from mirror_hf.protocol import AUTHORS
    >>> parse_client_utterance("Client: [Smiles] Thanks. [/END]", AUTHORS).statement  # the authors' bracket rule
    ''
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mirror_hf.llm import ChatRequest
from mirror_hf.prompts import load_prompt
from mirror_hf.protocol import AUTHORS, CORRECTED, Protocol, get_protocol
from mirror_hf.upstream import MIRROR, Upstream

END_TOKEN = "[/END]"
# The authors' client settings (client.py get_response): gpt-3.5-turbo, temperature 0.7, top_p 0.9, 128 tokens,
# both penalties 0.2.
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
_GREEDY_BRACKETS = re.compile(r"\[[^)]*\]")  # therapy.py:25, as written: it runs from the first "[" to the last "]"


@dataclass(frozen=True)
class ClientUtterance:
    stage_direction: str | None  # the bracketed cues, joined (the record's and the faces')
    statement: str  # what the therapist sees
    ended: bool
    raw: str  # the model's answer as it came


def _directions(text: str) -> str | None:
    found = [d.strip() for d in _BRACKETS.findall(text) if d.strip() and f"[{d}]" != END_TOKEN]
    return "; ".join(found) or None


def _printable(text: str) -> str:
    """Control characters (the prompt forbids them) dropped, spaces collapsed."""
    return " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())


def parse_client_utterance(text: str, protocol: Protocol = CORRECTED) -> ClientUtterance:
    """Split a client answer into stage direction(s), the statement the therapist sees and the end flag.

    With ``label_split="leading_label"`` a malformed answer (empty, or the counselor's part) raises ValueError, to
    be re-asked; the authors' reading takes every answer as it comes."""
    raw = text
    if protocol.label_split == "first_colon":
        body = text.split(":", 1)[-1].strip()
    else:
        other = _OTHER_ROLE.search(text)
        if other and other.start() == 0:
            raise ValueError("the client answered as the counselor")
        if other:  # the model went on to write the counselor's part: keep only the client's turn
            text = text[: other.start()]
        body = _PREFIX.sub("", text.strip(), count=1)
    ended = ("END" in body) if protocol.end_rule == "substring" else (END_TOKEN in body)
    if protocol.stage_directions == "greedy":  # on the answer with its [/END] (therapy.py:125)
        statement = _printable(_GREEDY_BRACKETS.sub("", body))
    else:
        statement = _printable(_BRACKETS.sub(" ", body.replace(END_TOKEN, " ")))
    directions = _directions(body)
    if protocol.label_split == "leading_label" and not statement and not directions and not ended:
        raise ValueError("empty client answer")
    return ClientUtterance(directions, statement, ended, raw)


def render_client_history(turns, protocol: Protocol = CORRECTED) -> str:
    """The dialogue as the client remembers it: ``Counselor: ...`` lines and its own answers, raw after a
    ``Client: `` label (the authors': ``Client: Client: [..] ...``) or as ``Client: [direction] statement``.
    ``turns`` are session turns (``speaker``, ``text``, ``stage_direction``, ``raw``)."""
    lines = []
    for turn in turns:
        if turn.speaker == "therapist":
            lines.append(f"Counselor: {turn.text}")
        elif protocol.client_label_doubled and turn.raw is not None:
            lines.append(f"Client: {turn.raw}")
        else:
            direction = f"[{turn.stage_direction}] " if turn.stage_direction else ""
            lines.append(f"Client: {direction}{turn.text}".rstrip())
    return "\n".join(lines)


class MalformedClientTurn(Exception):
    """The client kept answering in a form that cannot be read, after the allowed re-asks."""


class ResistantClient:
    """Generates client turns for a profile.

    ``setup``: ``vlm`` (the client of the VLM runs, mirror-llava/llava/chat) or ``text`` (of the text baselines,
    llm_therapist): each reads its own files. ``upstream``: where the authors' files come from (a local clone:
    ``MIRROR.with_clone(DIR)``)."""

    def __init__(
        self,
        backend,
        sampling: dict | None = None,
        max_reasks: int | None = None,
        *,
        protocol: Protocol | str = AUTHORS,
        setup: str = "vlm",
        upstream: Upstream = MIRROR,
    ):
        from mirror_hf.upstream.prompts import client_prompts

        self.backend, self.protocol, self.setup, self.upstream = backend, get_protocol(protocol), setup, upstream
        self.sampling = {**CLIENT_SAMPLING, **(sampling or {})}
        self.max_reasks = self.protocol.client_reasks if max_reasks is None else max_reasks
        self.prompts = client_prompts(setup, upstream) if self.protocol.prompts == "upstream" else None

    @property
    def id(self) -> str:
        return self.backend.id

    def personality(self, profile: dict) -> str:
        """The personality line: the authors' long description of the resistance type, or the profile's own."""
        if self.prompts is None:
            return profile["personality"]
        description = self.prompts.personality(profile["personality"])
        if description is None:  # no resistance: upstream formats None
            return "None" if self.protocol.no_resistance_personality == "none" else profile["personality"]
        return description

    def _fields(self, profile: dict) -> dict:
        return {
            "client_information": profile["personal_info"],
            "personality_trait": self.personality(profile),
            "distorted_thoughts": profile["distorted_thought"],
            "reason_counseling": profile["reason_for_seeking_counseling"],
        }

    def request(self, profile: dict, turns) -> ChatRequest:
        """The next answer's request; ``turns``: the session so far (what the client remembers of it)."""
        remembered = turns
        if not self.protocol.client_remembers_opening and turns and turns[0].speaker == "client":
            remembered = turns[1:]  # the opening of a VLM run (client.py initial_response keeps no history)
        history = render_client_history(remembered, self.protocol)
        if self.prompts is None:
            query = load_prompt("client_query").render(
                personal_info=profile["personal_info"],
                personality=self.personality(profile),
                distorted_thought=profile["distorted_thought"],
                reason=profile["reason_for_seeking_counseling"],
                history=history,
            )
            system = load_prompt("client_system").render()
        else:
            query, system = self.prompts.query.format(**self._fields(profile), history=history), self.prompts.system
        messages = [{"role": "system", "content": system}, {"role": "user", "content": query}]
        return ChatRequest.of(messages, **self.sampling)

    def opening_request(self, profile: dict) -> ChatRequest:
        """The nonverbal-only first turn of VLM runs: the authors' opening query, sent alone (no system message)."""
        if self.prompts is None or self.prompts.opening is None:
            return self.request(profile, [])
        opening = self.prompts.opening.format(**self._fields(profile))
        return ChatRequest.of([{"role": "user", "content": opening}], **self.sampling)

    async def _answer(self, request: ChatRequest) -> ClientUtterance:
        problems = []
        for attempt in range(self.max_reasks + 1):
            if attempt:  # a different seed, so a cached or greedy answer is not simply repeated
                request = ChatRequest.of(request.messages, **{**request.sampling(), "seed": attempt})
            response = await self.backend.chat(request)
            try:
                return parse_client_utterance(response.text, self.protocol)
            except ValueError as err:
                problems.append(str(err))
        raise MalformedClientTurn("; ".join(problems))

    async def reply(self, profile: dict, turns) -> ClientUtterance:
        """The next client turn after ``turns``, re-asked up to ``max_reasks`` times when malformed."""
        return await self._answer(self.request(profile, turns))

    async def opening(self, profile: dict) -> ClientUtterance:
        """The client's first, nonverbal turn (VLM runs). The paper's prompts have no opening query: the usual one
        is asked with an empty history and only the stage direction is kept."""
        utterance = await self._answer(self.opening_request(profile))
        if self.prompts is None or self.prompts.opening is None:  # keep the cue, drop any words
            return ClientUtterance(utterance.stage_direction, "", False, utterance.raw)
        return utterance
