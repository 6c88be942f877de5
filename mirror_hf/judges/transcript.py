"""Sessions as judges read them: ``Counselor: ...`` / ``Client: ...`` lines joined with newlines.

Example:
    >>> render_transcript([{"role": "therapist", "content": "Hi."}, {"role": "client", "content": "Hey."}])
    'Counselor: Hi.\\nClient: Hey.'
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
