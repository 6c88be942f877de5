"""The demo's safety gate. Every client message passes :class:`CrisisDetector` before any model sees it: rules we
wrote for high recall on suicide, self-harm and harm-to-others language (plus, optionally, a Hub text-classification
model the operator names, run locally). On a hit the demo does not call the therapist and answers with the referral
message. Every therapist answer passes :func:`check_answer` (no method details, no dismissing of risk); a blocked
answer is replaced by the referral message too. Events are logged without the text unless the operator asks.

The rules lean to recall: some hyperbole ("I'll kill him if he's late again") is flagged; the idioms most often met
("this job is killing me", "I could die of embarrassment", "I'm dying to see it") are not. The false-positive rate on
our idiom set is measured by ``benchmarks/crisis_gate.py``, not assumed.

Example:
    >>> CrisisDetector().check("some days I just want to end it all")
    Hit(category='suicide', rule='end_it')
    >>> CrisisDetector().check("this job is killing me") is None
    True
"""

from __future__ import annotations

import datetime
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from mirror_hf.errors import MirrorError

REFERRAL = (
    "It sounds like you are going through something really painful, and you deserve support from a person right "
    "now. This is a research demo of an AI model: it cannot help in a crisis, so it will not answer this message. "
    "If you might act on these thoughts or are in danger, call your local emergency number now. To talk to someone, "
    "find a free, confidential crisis line in your country at https://findahelpline.com. If you can, tell someone "
    "you trust how you are feeling."
)

_SELF = r"(?:my\s*self|myself|my own life|my life)"
RULES: dict[str, list[tuple[str, str]]] = {  # category -> (rule name, pattern) on the normalised text
    "suicide": [
        ("suicide_word", r"\bsuicid\w*"),
        ("kill_self", rf"\b(?:kill|killing|killed|end|ending|take|taking|took)\s+{_SELF}"),
        ("end_it", r"\bend(?:ing)?\s+it\s+all\b|\bend\s+it\s+(?:now|tonight|today|for good)\b"),
        ("want_to_die", r"\b(?:want|wanna|wanted|going|plan|planning|ready|tempted)\s+(?:to\s+)?(?:die|be dead)\b"),
        ("wish_dead", r"\b(?:wish|wished)\s+(?:i\s+)?(?:was|were|could be|had)\s+(?:dead|died|never been born)\b"),
        ("better_off", r"\bbetter\s+off\s+(?:dead|without\s+me|if\s+i\s+(?:was|were)n'?t\s+(?:here|around|alive))\b"),
        ("no_reason", r"\b(?:no|nothing)\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living|going on|being alive)\b"),
        ("not_worth", r"\blife\s+(?:is|isn'?t)\s+(?:not\s+)?worth\s+living\b|\bnot\s+worth\s+living\b"),
        # "live in this city" is not "live": a place after it is left out, "live like this" is not
        (
            "not_live",
            r"\b(?:don'?t|do not|dont)\s+want\s+to\s+(?:live(?!\s+(?:in|near|at|on|abroad)\b)|be alive"
            r"|wake up|exist|be here anymore)\b",
        ),
        ("disappear_forever", r"\b(?:go to sleep|fall asleep)\s+and\s+(?:never|not)\s+wake\s+up\b"),
        ("slang", r"\b(?:kms|kys|unalive\w*|sewerslide)\b"),
        ("goodbye_note", r"\b(?:suicide|goodbye)\s+(?:note|letter)\b|\bthis\s+is\s+goodbye\b"),
    ],
    "self_harm": [
        ("self_harm_word", r"\bself[\s-]?harm\w*|\bself[\s-]?injur\w*"),
        ("hurt_self", rf"\b(?:cut|cutting|burn|burning|hurt|hurting|harm|harming|punish|starve|starving)\s+{_SELF}"),
        ("overdose", r"\boverdos\w*|\btake\s+(?:all|the whole bottle of|a bunch of)\s+(?:my\s+)?(?:pills|meds)\b"),
        ("wrists", r"\b(?:slit|slash|cut)\w*\s+(?:my\s+)?wrists?\b"),
        ("jump", r"\bjump\s+(?:off|from|in front of)\s+(?:a|the)\s+(?:bridge|roof|building|train|cliff)\b"),
        ("hang", r"\bhang\s+myself\b|\bnoose\b"),
    ],
    "harm_to_others": [
        (
            "kill_other",
            r"\b(?:kill|murder|stab|shoot|strangle|poison)\s+(?:him|her|them|you|someone|somebody|people"
            r"|everyone|everybody|my\s+\w+)\b",
        ),  # fmt: skip
        # "kill it / this exam" is praise; "kill the lights" stays flagged (recall first)
        (
            "plan_harm",
            r"\b(?:going|want|wanna|plan|planning)\s+to\s+(?:kill|hurt|stab|shoot|attack|beat)"
            r"(?!\s+(?:it|this|that)\b)\b",
        ),
        ("weapon", r"\b(?:bring|brought|get|buy)\s+(?:a|my)\s+(?:gun|knife|weapon)\s+to\b"),
        ("make_pay", r"\bmake\s+(?:them|him|her)\s+(?:all\s+)?pay\b.*\b(?:blood|die|dead|hurt)\b"),
    ],
}
# Answers: details of a method, or waving risk away.
ANSWER_RULES: dict[str, list[tuple[str, str]]] = {
    "method": [
        ("means", r"\b(?:lethal|fatal)\s+(?:dose|amount)\b|\b\d+\s*(?:mg|milligrams|pills|tablets)\b"),
        ("how_to", r"\b(?:how|best way|easiest way|painless way)\s+to\s+(?:kill|hurt|cut|hang|overdose)\b"),
        ("methods", r"\b(?:noose|carbon monoxide|tie the rope|cut deeper|across the wrist|vertical(?:ly)? cut)\b"),
    ],
    "dismissal": [
        ("dramatic", r"\byou(?:'re| are)\s+(?:just|only|being)\s+(?:so\s+)?(?:dramatic|overreacting|exaggerating)\b"),
        ("not_serious", r"\b(?:you\s+)?(?:don'?t|do not)\s+(?:really\s+)?mean\s+(?:it|that)\b"),
        ("get_over_it", r"\bjust\s+get\s+over\s+it\b"),
        ("no_big_deal", r"\b(?:it'?s|that'?s|this is)\s+(?:not\s+(?:a\s+)?big\s+deal|nothing\s+to\s+worry\s+about)\b"),
    ],
}


@dataclass(frozen=True)
class Hit:
    category: str
    rule: str


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, single spaces: what the rules read."""
    text = (text or "").lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip()


def _compile(rules: dict) -> list[tuple[str, str, re.Pattern]]:
    return [(category, name, re.compile(pattern)) for category, entries in rules.items() for name, pattern in entries]


class CrisisDetector:
    """``check(text)`` -> the first :class:`Hit` or None. ``classifier``: a local Hub text-classification model
    whose label ``label`` at or above ``threshold`` is a hit too (category ``classifier``)."""

    def __init__(self, classifier: str | None = None, *, label: str | None = None, threshold: float = 0.5):
        self.rules = _compile(RULES)
        self.classifier = None
        if classifier:
            from transformers import pipeline

            try:
                self.classifier = pipeline("text-classification", model=classifier, top_k=None)
            except (OSError, ValueError) as err:
                raise MirrorError(
                    f"cannot load the crisis classifier {classifier!r} ({err})",
                    fix="give a local folder or a Hub id of a text-classification model, or leave --crisis-model out",
                ) from None
            labels = list(self.classifier.model.config.id2label.values())
            self.label = label or next((x for x in labels if re.search(r"suicid|crisis|risk|self|harm", x, re.I)), None)
            if self.label not in labels:
                raise MirrorError(
                    f"the crisis classifier's labels are {labels}", fix="name the crisis label with --crisis-label"
                )
        self.threshold = threshold

    def check(self, text: str) -> Hit | None:
        plain = normalise(text)
        for category, name, pattern in self.rules:
            if pattern.search(plain):
                return Hit(category, name)
        if self.classifier is not None and plain:
            scores = {s["label"]: s["score"] for s in self.classifier(plain[:2000])[0]}
            if scores.get(self.label, 0.0) >= self.threshold:
                return Hit("classifier", self.label)
        return None


_ANSWER_RULES = _compile(ANSWER_RULES)


def check_answer(text: str) -> Hit | None:
    """A therapist answer that gives method details or dismisses risk; None when it may be shown."""
    plain = normalise(text)
    for category, name, pattern in _ANSWER_RULES:
        if pattern.search(plain):
            return Hit(category, name)
    return None


def load_referral(resources: str | Path | None = None, region: str | None = None) -> str:
    """The referral message: ours (international), or the entry ``region`` (else ``default``) of ``resources``, a
    JSON file ``{"default": "...", "US": "...", ...}`` the operator writes with their region's services."""
    if not resources:
        if region:
            raise MirrorError("--region picks an entry of --crisis-resources", fix="give --crisis-resources FILE")
        return REFERRAL
    path = Path(resources)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MirrorError("no such crisis resources file", file=str(path)) from None
    except json.JSONDecodeError as err:
        raise MirrorError(f"not JSON ({err})", file=str(path), fix='write {"default": "...", "US": "..."}') from None
    key = region or "default"
    if not isinstance(data, dict) or not isinstance(data.get(key), str) or not data[key].strip():
        raise MirrorError(f"no message for {key!r}", file=str(path), fix=f"add a {key!r} entry with the message")
    return data[key].strip()


class EventLog:
    """Safety events, one JSON line each (time, where, category, rule); the text only with ``keep_text``."""

    def __init__(self, path: str | Path | None, keep_text: bool = False):
        self.path, self.keep_text, self._lock = Path(path) if path else None, keep_text, threading.Lock()
        self.events: list[dict] = []  # this process's, for the app's own count

    def record(self, where: str, hit: Hit, text: str) -> dict:
        event = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "where": where,
            "category": hit.category,
            "rule": hit.rule,
            **({"text": text} if self.keep_text else {}),
        }
        with self._lock:
            self.events.append(event)
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(event, ensure_ascii=False) + "\n")
        return event


__all__ = ["REFERRAL", "CrisisDetector", "EventLog", "Hit", "check_answer", "load_referral", "normalise"]
