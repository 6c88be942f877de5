"""The MIRROR therapist: planning before the session, an emotional caption of each client face (P+EC), and a
response from the very prompt builders the SFT data used.

Variants: ``base`` (no planning), ``planning`` (P), ``planning_ec`` (P+EC).

Example:
    >>> from mirror_hf.llm import load_backend
    >>> backend = load_backend("local:runs/mirror-llava-merged")            # doctest: +SKIP
    >>> therapist = MirrorTherapist(backend, variant="planning_ec")          # doctest: +SKIP
    >>> asyncio.run(therapist.plan(profile, face)).technique                 # doctest: +SKIP
    'Reality Testing'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mirror_hf.data.cactus import infer_technique
from mirror_hf.data.records import Turn
from mirror_hf.data.sft import (
    render_emotion_recognition_prompt,
    render_history,
    render_response_prompt,
    to_trl_messages,
)
from mirror_hf.llm import ChatRequest, user_message
from mirror_hf.prompts import load_prompt

VARIANTS = {"base": "base", "planning": "planning", "planning_ec": "ec_planning"}  # -> SFT prompt variant
THERAPIST_SAMPLING = {"temperature": 0.0, "max_tokens": 256}
_TECHNIQUE = re.compile(r"CBT\s*technique\s*[:：]\s*(.*?)(?=\n\s*\n|\n\s*(?:\*\*)?Counsel+ing\s*plan|$)", re.I | re.S)
_PLAN = re.compile(r"Counsel+ing\s*plan(?:ning)?\s*[:：]?\s*(?:\*\*)?\s*(.*)$", re.I | re.S)


@dataclass(frozen=True)
class Plan:
    technique: str
    plan: str
    raw: str


def parse_plan(text: str) -> Plan:
    """Read ``CBT technique:\\n...\\n\\nCounseling planning:\\n...`` robustly (markdown, one-line forms, case).

    The technique falls back to the first of the 12 techniques the text names; raises ValueError when neither a
    technique nor a plan can be found.
    """
    clean = text.replace("**", "").strip()
    technique_match, plan_match = _TECHNIQUE.search(clean), _PLAN.search(clean)
    technique = technique_match.group(1).strip().splitlines()[0].strip(" -*") if technique_match else ""
    plan = plan_match.group(1).strip() if plan_match else ""
    if not technique or len(technique) > 60:
        technique = infer_technique(clean) or technique
    if not technique or not plan:
        raise ValueError(f"no 'CBT technique:' / 'Counseling planning:' in {text[:120]!r}")
    return Plan(technique=technique, plan=plan, raw=text)


def planning_prompt(profile: dict) -> str:
    return load_prompt("therapist_planning").render(
        personal_info=profile["personal_info"], reason=profile["reason_for_seeking_counseling"]
    )


async def ask_for_plan(ask, prompt: str, retries: int) -> Plan:
    """Ask ``ask(prompt)`` for a plan; re-ask unparsable answers ``retries`` times, then keep the last answer as the
    plan with the technique it names (or a neutral one)."""
    text = ""
    for _ in range(retries + 1):
        text = await ask(prompt)
        try:
            return parse_plan(text)
        except ValueError:
            continue
    return Plan(technique=infer_technique(text) or "Alternative Perspective", plan=text.strip(), raw=text)


def llava_message(human_value: str, image) -> dict:
    """A LLaVA-style human value (``<image>\\n...``) as one chat message with the image first."""
    prompt, _ = to_trl_messages(human_value, "")
    return user_message(prompt[0]["content"][1]["text"], [image] if image is not None else [])


class _Therapist:
    """What every therapist shares: a back-end, a variant, sampling settings and the pre-session plan."""

    variants: tuple[str, ...] = ()
    id_prefix = ""

    def __init__(self, backend, variant: str, sampling: dict | None = None, plan_retries: int = 2):
        if variant not in self.variants:
            raise ValueError(f"{type(self).__name__}'s variant must be one of {list(self.variants)}, got {variant!r}")
        self.backend, self.variant = backend, variant
        self.sampling = {**THERAPIST_SAMPLING, **(sampling or {})}
        self.plan_retries = plan_retries

    @property
    def id(self) -> str:
        return f"{self.backend.id}:{self.id_prefix}{self.variant}"

    async def _ask(self, prompt: str, image) -> str:
        raise NotImplementedError

    def _planning_prompt(self, profile: dict) -> str:
        return planning_prompt(profile)

    async def plan(self, profile: dict, image=None) -> Plan | None:
        """The pre-session plan (P variants); None for ``base``. Unparsable answers are re-asked, then inferred."""
        if self.variant == "base":
            return None
        prompt = self._planning_prompt(profile)
        return await ask_for_plan(lambda p: self._ask(p, image), prompt, self.plan_retries)


class MirrorTherapist(_Therapist):
    """A VLM therapist speaking through any chat back-end (a merged MIRROR-LLaVA, base LLaVA, an API VLM)."""

    variants = tuple(VARIANTS)

    def __init__(self, backend, variant: str = "planning_ec", sampling: dict | None = None, plan_retries: int = 2):
        super().__init__(backend, variant, sampling, plan_retries)

    async def _ask(self, human_value: str, image) -> str:
        request = ChatRequest.of([llava_message(human_value, image)], **self.sampling)
        return (await self.backend.chat(request)).text

    async def caption(self, image) -> str | None:
        """The client's emotional state read from the face (P+EC only)."""
        if self.variant != "planning_ec":
            return None
        return (await self._ask(render_emotion_recognition_prompt(), image)).strip()

    async def respond(self, profile: dict, history: list[Turn], image, plan: Plan | None, caption: str | None) -> str:
        """The next therapist utterance; ``history`` holds what the therapist may see (no stage directions)."""
        prompt = render_response_prompt(
            VARIANTS[self.variant],
            personal_info=profile["personal_info"],
            reason=profile["reason_for_seeking_counseling"],
            history=render_history(history),
            technique=plan.technique if plan else None,
            plan=plan.plan if plan else None,
            emotional_state=caption or "Unclear",
        )
        return (await self._ask(prompt, image)).strip()


_IMAGE_HEADER = "<image>\nThe image above shows the client.\n"
_COUNSELOR_PREFIX = re.compile(r"^\s*(?:\*\*)?(?:counsel+or|therapist)(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.I)
_CLIENT_LINE = re.compile(r"^\s*(?:\*\*)?client(?:\*\*)?\s*:", re.I | re.M)


def clean_counselor_answer(text: str) -> str:
    """One counselor utterance: no ``Counselor:`` prefix, nothing from a ``Client:`` line on."""
    text = _COUNSELOR_PREFIX.sub("", text.strip(), count=1)
    client = _CLIENT_LINE.search(text)
    return (text[: client.start()] if client else text).strip()


class TextTherapist(_Therapist):
    """A text-only baseline (Llama-3-8B-Instruct, GPT-3.5-turbo, CAMEL) in a CACTUS-style counselor setup.

    It sees the dialogue as ``Counselor:`` / ``Client:`` lines (no faces, no stage directions) and plans with the
    MIRROR planning prompt minus its image lines. The wording is ours: CACTUS's own prompts differ (see
    ``prompts/counselor_text.txt``).
    """

    variants = ("base", "planning")
    id_prefix = "text-"

    def __init__(self, backend, variant: str = "planning", sampling: dict | None = None, plan_retries: int = 2):
        super().__init__(backend, variant, sampling, plan_retries)

    async def _ask(self, prompt: str, image=None) -> str:
        return (await self.backend.chat(ChatRequest.of([user_message(prompt)], **self.sampling))).text

    def _planning_prompt(self, profile: dict) -> str:
        return planning_prompt(profile).removeprefix(_IMAGE_HEADER)

    async def caption(self, image) -> None:
        return None

    async def respond(self, profile: dict, history: list[Turn], image, plan: Plan | None, caption) -> str:
        plan_section = f"- CBT technique: {plan.technique}\n- Counseling plan:\n{plan.plan}\n" if plan else ""
        lines = "\n".join(f"{'Counselor' if t.speaker == 'therapist' else 'Client'}: {t.statement}" for t in history)
        system = load_prompt("counselor_text").render(
            personal_info=profile["personal_info"],
            reason=profile["reason_for_seeking_counseling"],
            plan_section=plan_section,
            history=lines or "(the session starts now)",
        )
        messages = [{"role": "system", "content": system}, {"role": "user", "content": "Counselor:"}]
        return clean_counselor_answer((await self.backend.chat(ChatRequest.of(messages, **self.sampling))).text)
