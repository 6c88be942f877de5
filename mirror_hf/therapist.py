"""The MIRROR therapist (a VLM: MIRROR-LLaVA, base LLaVA-1.5, an API VLM) in a simulated session.

Variants: ``base`` (no planning), ``planning`` (P), ``planning_ec`` (P+EC: planning and an emotional caption of each
client face). Under the ``authors`` protocol (:mod:`mirror_hf.protocol`) it is the authors' counselor of
``mirror-llava/llava/chat/vlm.py``: their prompts (read from their repository), sampling at 0.7 with up to 1024 new
tokens, the last 16 utterances, their answer clean-up, their plan parser and layout, and their schedule — P plans
at its first turn and keeps the plan, P+EC plans again every turn. Under ``corrected`` the paper's prompts as
printed and the training layouts are used, P+EC plans once, plans are read whole and decoding is greedy.

Example:
    >>> from mirror_hf.llm import load_backend
    >>> therapist = MirrorTherapist(load_backend("local:runs/mirror-llava-merged"), "planning_ec")   # doctest: +SKIP
    >>> session = therapist.start(profile)                                                           # doctest: +SKIP
    >>> asyncio.run(session.respond(turns, face)).text                                               # doctest: +SKIP
    'It sounds like that cancellation stayed with you. What went through your mind?'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mirror_hf.data.cactus import infer_technique
from mirror_hf.data.sft import render_emotion_recognition_prompt, render_response_prompt, to_trl_messages
from mirror_hf.llm import ChatRequest, user_message
from mirror_hf.prompts import load_prompt
from mirror_hf.protocol import AUTHORS, Protocol, get_protocol
from mirror_hf.upstream import MIRROR, Upstream

VARIANTS = {"base": "base", "planning": "planning", "planning_ec": "ec_planning"}  # -> SFT prompt variant
_TECHNIQUE = re.compile(r"CBT\s*technique\s*[:：]\s*(.*?)(?=\n\s*\n|\n\s*(?:\*\*)?Counsel+ing\s*plan|$)", re.I | re.S)
_PLAN = re.compile(r"Counsel+ing\s*plan(?:ning)?\s*[:：]?\s*(?:\*\*)?\s*(.*)$", re.I | re.S)
_TITLE = re.compile(r"(Counselor|Psychotherapist|Therapist)\s*:")  # vlm.py:130-132, gpt.py:73-75


@dataclass(frozen=True)
class Plan:
    technique: str
    plan: str
    raw: str


@dataclass(frozen=True)
class TherapistAnswer:
    """One therapist turn: what it said, the caption it read off the face (P+EC) and the plan it followed."""

    text: str
    caption: str | None = None
    plan: Plan | None = None


class UpstreamCrash(Exception):
    """The authors' code raises at this point; their run dropped the session (model_chat.py's ``except``)."""


class MalformedTherapistTurn(Exception):
    """The therapist's plan could not be read after the allowed re-asks (the authors' code raised)."""


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


def parse_plan_as_upstream(text: str) -> Plan:
    """vlm.py:256-269 ``parse_planning_value``: only a line starting ``- CBT technique:`` and one starting
    ``- Counseling planning:`` count, each for what follows on that line; anything else leaves them empty."""
    technique = plan = ""
    for line in text.strip().split("\n"):
        if line.startswith("- CBT technique:"):
            technique = line.replace("- CBT technique:", "").strip()
        elif line.startswith("- Counseling planning:"):
            plan = line.replace("- Counseling planning:", "").strip()
    return Plan(technique=technique, plan=plan, raw=text)


def planning_prompt(profile: dict) -> str:
    """The paper's pre-session planning prompt (Appendix J as printed), from the profile alone."""
    return load_prompt("therapist_planning").render(
        personal_info=profile["personal_info"], reason=profile["reason_for_seeking_counseling"]
    )


async def ask_for_plan(ask, prompt: str, retries: int) -> Plan:
    """Ask ``ask(prompt, attempt)`` for a plan; re-ask unparsable answers ``retries`` times, then keep the last
    answer as the plan with the technique it names (or a neutral one)."""
    text = ""
    for attempt in range(retries + 1):
        text = await ask(prompt, attempt)
        try:
            return parse_plan(text)
        except ValueError:
            continue
    return Plan(technique=infer_technique(text) or "Alternative Perspective", plan=text.strip(), raw=text)


def unwrap_message(text: str) -> str:
    """gpt.py:65-71 / llama.py:124-130 ``clean_message``: the text of a ``'message': ...`` dump."""
    text = text.split("'message':")[1].split(", {")[0]
    return text.replace('"', "").replace("]", "").replace("}", "")


def _without_marks(text: str) -> str:
    return text.replace("\n", "").replace("\\", "").replace('"', "")


def cleanup_answer(text: str, how: str = "upstream", style: str = "vlm") -> str:
    """A counselor answer as the authors' code cleans it (``post_process_response``).

    ``style``: ``vlm`` and ``gpt`` keep the text after the last Counselor/Psychotherapist/Therapist title and cut it
    at ``Client:`` (vlm.py:124-144, gpt.py:57-86); ``llama`` keeps what follows the last ``Counselor:`` (llama.py,
    applied twice, by generate and by respond). All drop newlines, backslashes and double quotes. The VLM counselor
    has no ``clean_message``: upstream, an answer holding ``'message':`` raises (``how="upstream"``), ``robust``
    unwraps it as the text baselines do; ``strip`` only strips."""
    if how == "strip":
        return text.strip()
    for _ in range(2 if style == "llama" else 1):
        if "'message':" in text:
            if style == "vlm" and how == "upstream":
                raise UpstreamCrash("vlm.py post_process_response calls clean_message, which the VLM counselor lacks")
            text = unwrap_message(text)
        if style == "llama":
            text = _without_marks(text.split("Counselor:")[-1]).strip()
            continue
        text = _TITLE.split(text)[-1]
        for delimiter in ("Client :", "Client:"):
            if delimiter in text:
                text = text.split(delimiter)[0]
        text = _without_marks(text).strip()
    return text


def render_lines(turns, labels: dict, protocol: Protocol, window: int | None = None) -> str:
    """``Label: text`` lines of the session so far as the therapist sees it (no stage directions), the last
    ``window`` of them; a nonverbal-only client turn is an empty ``Client: `` line when the protocol says so."""
    shown = [t for t in turns if t.text or t.speaker == "therapist" or protocol.silent_client_lines]
    if window:
        shown = shown[-window:]
    return "\n".join(f"{labels[t.speaker]}: {t.text}" for t in shown)


def llava_message(human_value: str, image) -> dict:
    """A LLaVA-style human value (``<image>\\n...``) as one chat message with the image first."""
    prompt, _ = to_trl_messages(human_value, "")
    return user_message(prompt[0]["content"][1]["text"], [image] if image is not None else [])


class MirrorTherapist:
    """The VLM therapist. ``start(profile)`` gives the session object that answers turn after turn."""

    variants = tuple(VARIANTS)
    labels = {"therapist": "Therapist", "client": "Client"}  # vlm.py _get_history_text: roles capitalized

    def __init__(
        self,
        backend,
        variant: str = "planning_ec",
        sampling: dict | None = None,
        plan_retries: int = 2,
        *,
        protocol: Protocol | str = AUTHORS,
        upstream: Upstream = MIRROR,
    ):
        from mirror_hf.upstream.prompts import counselor_prompts

        if variant not in self.variants:
            raise ValueError(f"MirrorTherapist's variant must be one of {list(self.variants)}, got {variant!r}")
        self.backend, self.variant, self.protocol = backend, variant, get_protocol(protocol)
        self.sampling = {**self.protocol.therapist_sampling, **(sampling or {})}
        self.plan_retries = plan_retries
        self.prompts = counselor_prompts(upstream) if self.protocol.prompts == "upstream" else None
        self.system = None  # LLaVA-v1's system sentence, sent first (the served model may not add it itself)
        if self.protocol.system_sentence:
            from mirror_hf.training.conversation import system_sentence

            self.system = system_sentence(upstream)

    @property
    def id(self) -> str:
        return f"{self.backend.id}:{self.variant}"

    def start(self, profile: dict) -> MirrorTherapistSession:
        return MirrorTherapistSession(self, profile)


class MirrorTherapistSession:
    """One session's therapist: the plan it keeps (P, and P+EC under ``corrected``)."""

    def __init__(self, therapist: MirrorTherapist, profile: dict):
        self.therapist, self.profile, self.plan = therapist, profile, None
        self.protocol, self.prompts, self.variant = therapist.protocol, therapist.prompts, therapist.variant

    def greeting(self) -> None:
        return None  # the client opens a VLM session

    async def _ask(self, human_value: str, image, attempt: int = 0) -> str:
        sampling = {**self.therapist.sampling, **({"seed": attempt} if attempt else {})}
        messages = [llava_message(human_value, image)]
        if self.therapist.system:
            messages.insert(0, {"role": "system", "content": [{"type": "text", "text": self.therapist.system}]})
        request = ChatRequest.of(messages, **sampling)
        return (await self.therapist.backend.chat(request)).text

    def _fields(self, history: str, **extra) -> dict:
        return {
            "client_information": self.profile["personal_info"],
            "reason_counseling": self.profile["reason_for_seeking_counseling"],
            "history": history,
            **extra,
        }

    async def _plan(self, history: str, image) -> Plan:
        if self.prompts is None:
            return await ask_for_plan(lambda p, n: self._ask(p, image, n), planning_prompt(self.profile), 2)
        first, later = self.prompts.planning
        template = later if history else first
        if self.protocol.planning_braces == "single":  # PLANNING_DESC's {{selected_cbt}} as the format it meant
            template = template.replace("{{{{", "{{").replace("}}}}", "}}")
        prompt = template.format(**self._fields(history))
        if self.protocol.plan_parser == "upstream":
            return parse_plan_as_upstream(await self._ask(prompt, image))
        return await ask_for_plan(lambda p, n: self._ask(p, image, n), prompt, self.therapist.plan_retries)

    def _plan_block(self, plan: Plan) -> str:
        if self.variant == "planning" and self.protocol.p_layout == "training":  # the released P sample's layout
            return f"- CBT technique:\n{plan.technique}\n\n- Counseling planning:\n{plan.plan}"
        return f"- CBT technique: {plan.technique}\n- Counseling planning:\n{plan.plan}"  # vlm.py:264-267

    def _response_prompt(self, history: str, caption: str | None, plan: Plan | None) -> str:
        variant = VARIANTS[self.variant]
        if self.prompts is None:
            return render_response_prompt(
                variant,
                personal_info=self.profile["personal_info"],
                reason=self.profile["reason_for_seeking_counseling"],
                history=history,
                technique=plan.technique if plan else None,
                plan=plan.plan if plan else None,
                emotional_state=caption or "Unclear",
            )
        first, later = self.prompts.response[variant]
        extra = {"cbt_plan": self._plan_block(plan)} if plan else {}
        if variant == "ec_planning":
            extra["stage_direction"] = caption
        return (later if history else first).format(**self._fields(history, **extra))

    async def respond(self, turns, image) -> TherapistAnswer:
        """The next therapist turn after ``turns`` (the session so far; the client's last statement included)."""
        history = render_lines(turns, MirrorTherapist.labels, self.protocol, self.protocol.history_window)
        caption = None
        if self.variant == "planning_ec":
            caption_prompt = self.prompts.caption if self.prompts else render_emotion_recognition_prompt()
            caption = (await self._ask(caption_prompt, image)).strip()
        plan = self.plan
        if self.variant != "base" and (
            plan is None or (self.variant == "planning_ec" and self.protocol.replan_every_turn)
        ):
            plan = await self._plan(history, image)
            if not (self.variant == "planning_ec" and self.protocol.replan_every_turn):
                self.plan = plan  # P keeps its plan (vlm.py:320-323); the authors' P+EC never stores one (:373)
        answer = await self._ask(self._response_prompt(history, caption, plan), image)
        return TherapistAnswer(cleanup_answer(answer, self.protocol.answer_cleanup, "vlm"), caption, plan)
