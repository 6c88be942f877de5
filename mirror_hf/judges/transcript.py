"""Sessions as judges read them: ``Counselor: ...`` / ``Client: ...`` lines joined with newlines.

Example:
    >>> render_transcript([{"role": "therapist", "content": "Hi."}, {"role": "client", "content": "Hey."}])
    'Counselor: Hi.\\nClient: Hey.'
    >>> to_dialogue({"turns": [{"speaker": "client", "text": "Hey.", "stage_direction": "(looks away)"}]})
    [{'role': 'client', 'content': 'Hey.'}]
"""

from __future__ import annotations

ROLE_LABELS = {
    "therapist": "Counselor",
    "counselor": "Counselor",
    "assistant": "Counselor",
    "client": "Client",
    "user": "Client",
}


def render_transcript(session: list[dict]) -> str:
    lines = []
    for i, turn in enumerate(session):
        role = str(turn.get("role", "")).lower()
        if role not in ROLE_LABELS:
            raise ValueError(f"turn {i}: role {turn.get('role')!r} is not therapist, counselor or client")
        lines.append(f"{ROLE_LABELS[role]}: {turn['content']}")
    return "\n".join(lines)


def to_dialogue(session) -> list[dict]:
    """``[{"role", "content"}, ...]`` from a dialogue in that shape or a record of a sessions dataset (``turns``
    of ``speaker``/``text``); other keys (faces, stage directions hidden from the therapist) are dropped."""
    turns = session["turns"] if isinstance(session, dict) else session
    out = []
    for i, turn in enumerate(turns):
        role = turn.get("role", turn.get("speaker"))
        content = turn.get("content", turn.get("text"))
        if role is None or content is None:
            raise ValueError(f"turn {i}: expected role/content (or speaker/text), got keys {sorted(turn)}")
        out.append({"role": str(role), "content": str(content)})
    return out
