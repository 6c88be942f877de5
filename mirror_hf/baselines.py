"""The paper's three text baselines as the authors ran them (``llm_therapist/src``): Llama-3-8B-Instruct, GPT-3.5-turbo
and CAMEL-LLaMA3, each with its own prompt files (read from the authors' repository), sampling and answer clean-up;
every session opens with their fixed greeting that names the client by first name, and CAMEL plans once before it.

============  ==========================================  ============  ========
setup         prompt                                      max tokens    planning
============  ==========================================  ============  ========
``llama3``    agent_llama3.txt, one user message           256           no
``gpt``       system agent_gpt.txt + user ``QUERY``       128           no
``camel``     agent_cactus_llama3.txt, one user message   128 (512)     agent_cbt_llama3.txt
============  ==========================================  ============  ========

All sample at temperature 0.7, top_p 0.9, frequency and presence penalty 0.2 (llama.py:46-53, gpt.py:88-95), and see
the whole dialogue as ``Counselor: ...`` / ``Client: ...`` lines without stage directions.

Example:
    >>> baseline = BaselineTherapist(load_backend("camel@http://localhost:8000/v1"), "camel")   # doctest: +SKIP
    >>> session = baseline.start(profile); session.greeting()                                    # doctest: +SKIP
    'Hello, Nora. Thank you for joining me today. How are you feeling these days?'
"""

from __future__ import annotations

import re

from mirror_hf.llm import ChatRequest
from mirror_hf.protocol import AUTHORS, Protocol, get_protocol
from mirror_hf.therapist import (
    MalformedTherapistTurn,
    Plan,
    TherapistAnswer,
    cleanup_answer,
    parse_plan,
    render_lines,
)
from mirror_hf.upstream import MIRROR, Upstream

SETUPS = ("llama3", "gpt", "camel")
BASELINE_SAMPLING = {"temperature": 0.7, "top_p": 0.9, "frequency_penalty": 0.2, "presence_penalty": 0.2}
MAX_TOKENS = {"llama3": 256, "gpt": 128, "camel": 128}
PLANNING_MAX_TOKENS = 512  # llama.py:181
_HEADER = re.compile(r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\n\n(.*?)(?=<\|eot_id\|>|$)", re.S)


def setup_for(model: str) -> str:
    """The setup the authors' run.py picks for a model name: "camel" in it, else "llama", else "gpt"."""
    if "camel" in model:
        return "camel"
    if "llama" in model.lower():
        return "llama3"
    if "gpt" in model:
        return "gpt"
    raise ValueError(f"no baseline setup for the model {model!r} (the authors' names hold camel, llama or gpt)")


def parse_camel_plan(text: str) -> Plan:
    """llama.py:192-205 ``get_cbt_plan``: the technique is all before the first "Counseling" (label included), the
    plan what follows its next ``:\\n`` up to the one after; raises ValueError when there is none (upstream too)."""
    parts = text.split("Counseling")
    after = parts[1].split(":\n") if len(parts) > 1 else []
    if len(after) < 2 or not after[1]:
        raise ValueError(f"no 'Counseling ...:' section in {text[:120]!r}")
    return Plan(technique=parts[0].replace("\n", ""), plan=after[1], raw=text)


def as_messages(prompt: str) -> list[dict]:
    """A prompt written with Llama-3's header tokens, as the chat messages it spells (the trailing, empty
    assistant header dropped)."""
    messages = [{"role": role, "content": content} for role, content in _HEADER.findall(prompt) if content.strip()]
    return messages or [{"role": "user", "content": prompt}]


class BaselineTherapist:
    """A text-only counselor of the paper's baselines; ``start(profile)`` gives the session object."""

    labels = {"therapist": "Counselor", "client": "Client"}  # run.py / agents: roles capitalized

    def __init__(
        self,
        backend,
        setup: str,
        sampling: dict | None = None,
        plan_retries: int = 2,
        *,
        protocol: Protocol | str = AUTHORS,
        upstream: Upstream = MIRROR,
    ):
        from mirror_hf.upstream.prompts import baseline_prompts

        if setup not in SETUPS:
            raise ValueError(f"setup must be one of {SETUPS}, got {setup!r}")
        self.backend, self.setup, self.protocol = backend, setup, get_protocol(protocol)
        self.prompts = baseline_prompts(setup, upstream)
        self.sampling = {**BASELINE_SAMPLING, "max_tokens": MAX_TOKENS[setup], **(sampling or {})}
        self.plan_retries = plan_retries

    @property
    def variant(self) -> str:
        return "planning" if self.setup == "camel" else "base"

    @property
    def id(self) -> str:
        return f"{self.backend.id}:{self.setup}"

    def start(self, profile: dict) -> BaselineSession:
        return BaselineSession(self, profile)


class BaselineSession:
    """One session of a text baseline: its greeting, CAMEL's plan, and its answers."""

    def __init__(self, baseline: BaselineTherapist, profile: dict):
        self.baseline, self.profile, self.plan = baseline, profile, None

    def greeting(self) -> str:
        """run.py:64: the fixed opening, with the first word of the client's name."""
        name = (self.profile.get("name") or self.profile["personal_info"]).split()[0]
        return self.baseline.prompts.greeting.format(name=name)

    def _messages(self, prompt: str) -> list[dict]:
        if self.baseline.setup == "gpt":
            return [{"role": "system", "content": self.baseline.prompts.system}, {"role": "user", "content": prompt}]
        if self.baseline.setup == "camel" and self.baseline.protocol.camel_prompt == "as_messages":
            return as_messages(prompt)
        return [{"role": "user", "content": prompt}]

    async def _ask(self, prompt: str, attempt: int = 0, **sampling) -> str:
        sampling = {**self.baseline.sampling, **sampling, **({"seed": attempt} if attempt else {})}
        return (await self.baseline.backend.chat(ChatRequest.of(self._messages(prompt), **sampling))).text

    def _fields(self, history: str) -> dict:
        return {
            "client_information": self.profile["personal_info"],
            "reason_counseling": self.profile["reason_for_seeking_counseling"],
            "history": history,
        }

    async def _camel_plan(self) -> Plan:
        """set_plan at the session's start (run.py:58-59), before the greeting: an empty dialogue."""
        prompt = self.baseline.prompts.planning.format(**self._fields(""))
        parse = parse_camel_plan if self.baseline.protocol.plan_parser == "upstream" else parse_plan
        problems = []
        for attempt in range(self.baseline.plan_retries + 1):  # upstream stops the whole run; a rerun asks again
            text = await self._ask(prompt, attempt, max_tokens=PLANNING_MAX_TOKENS)
            try:
                return parse(text)
            except ValueError as err:
                problems.append(str(err))
        raise MalformedTherapistTurn("CAMEL's plan could not be read: " + "; ".join(problems))

    async def respond(self, turns, image=None) -> TherapistAnswer:
        history = render_lines(turns, BaselineTherapist.labels, self.baseline.protocol)
        fields = self._fields(history)
        if self.baseline.setup == "camel":
            if self.plan is None:
                self.plan = await self._camel_plan()
            fields["cbt_plan"] = self.plan.plan
        answer = await self._ask(self.baseline.prompts.prompt.format(**fields))
        style = "gpt" if self.baseline.setup == "gpt" else "llama"
        return TherapistAnswer(cleanup_answer(answer, self.baseline.protocol.answer_cleanup, style), None, self.plan)
