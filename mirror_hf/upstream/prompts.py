"""The authors' prompts, read at run time from their repository at the pinned commit (see :mod:`mirror_hf.upstream`):
the resistant client's, the VLM counselor's, the three text baselines' and LLaVA's conversation format. Every text is
taken from their files — prompt files whole, Python constants and f-string layouts through
:mod:`mirror_hf.upstream.pysource` — and nothing of it is stored in mirror-hf.

Each loader returns ``str.format`` templates with the authors' own field names (``client_information``,
``reason_counseling``, ``history``, ...).

Example:
    >>> client = client_prompts()                                  # doctest: +SKIP
    >>> client.query.format(client_information="...", personality_trait="...", distorted_thoughts="...",
    ...                     reason_counseling="...", history="Counselor: Hi.")   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from mirror_hf.upstream import MIRROR, Upstream
from mirror_hf.upstream.pysource import (
    branch_strings,
    call_arguments,
    formatted_string,
    message_literals,
    method_returns,
    module_literal,
    module_strings,
)

VLM = "mirror-llava/llava/chat/vlm.py"
CLIENT = {"vlm": "mirror-llava/llava/chat/client.py", "text": "llm_therapist/src/agents/client.py"}
CLIENT_SYSTEM = {
    "vlm": "mirror-llava/llava/chat/prompts/agent_client.txt",
    "text": "llm_therapist/src/prompts/agent_client.txt",
}
SESSION = {"vlm": "mirror-llava/llava/chat/therapy.py", "text": "llm_therapist/src/run.py"}
BASELINE_FILES = {
    "llama3": "llm_therapist/src/prompts/agent_llama3.txt",
    "gpt": "llm_therapist/src/prompts/agent_gpt.txt",
    "camel": "llm_therapist/src/prompts/agent_cactus_llama3.txt",
    "camel_planning": "llm_therapist/src/prompts/agent_cbt_llama3.txt",
}
GPT_AGENT = "llm_therapist/src/agents/gpt.py"
CONVERSATION = "mirror-llava/llava/conversation.py"
SCREENPLAY_SYSTEM = "mirror/agent/prompts/session_v3.txt"  # the README's --prompt_ver session_v3
SCREENPLAY_EXAMPLES = ("mirror/agent/examples/prompt_{}.txt", "mirror/agent/examples/output_{}.txt")
SCREENPLAY_QUERY = "mirror/agent/counseling_gen.py"
PERSONALITY = "mirror/agent/personality.py"
EXPRESSION_QUERY = "mirror/src/prompts/llama.py"
EXPRESSION_EXAMPLE = "mirror/src/prompts/__init__.py"


@dataclass(frozen=True)
class ClientPrompts:
    """The client agent's system message, its query, the opening query (VLM runs) and the resistance descriptions
    that replace the profile's personality (keyed by the substring the authors test for)."""

    system: str
    query: str
    opening: str | None
    resistance: dict

    def personality(self, profile_personality: str) -> str | None:
        """``get_resistance_desc``: the description whose key the profile's personality contains, else None."""
        return next((text for key, text in self.resistance.items() if key in profile_personality), None)


@dataclass(frozen=True)
class CounselorPrompts:
    """The VLM counselor's templates; each is a pair (no history yet, with history), as the authors' methods branch
    on ``len(self.history) == 0``."""

    response: dict  # variant (base, planning, ec_planning) -> (first, later)
    planning: tuple[str, str]
    caption: str


@dataclass(frozen=True)
class BaselinePrompts:
    """One text baseline's templates: the counselor prompt (a user message), a system message (GPT), the planning
    prompt (CAMEL) and the greeting every baseline session opens with."""

    setup: str
    prompt: str
    system: str | None
    planning: str | None
    greeting: str


def client_prompts(setup: str = "vlm", upstream: Upstream = MIRROR) -> ClientPrompts:
    """The client of the VLM runs (mirror-llava) or of the text baselines (llm_therapist)."""
    constants = module_strings(upstream.read(CLIENT[setup]))
    return ClientPrompts(
        system=upstream.read(CLIENT_SYSTEM[setup]),
        query=constants["QUERY"],
        opening=constants.get("INITIAL_QUERY") if setup == "vlm" else None,
        resistance=branch_strings(upstream.read(SESSION[setup]), "get_resistance_desc"),
    )


def counselor_prompts(upstream: Upstream = MIRROR) -> CounselorPrompts:
    """The MIRROR-LLaVA counselor's response, planning and emotional-captioning templates (vlm.py)."""
    source = upstream.read(VLM)

    def pair(qualname: str) -> tuple[str, str]:
        first, later = method_returns(source, qualname)
        return first, later

    return CounselorPrompts(
        response={
            "base": pair("LlavaMirrorCounselor.generate_response_instruction"),
            "planning": pair("LlavaMirrorPlanningCounselor.generate_response_instruction"),
            "ec_planning": pair("LlavaMirrorEcPlanningCounselor.generate_response_instruction"),
        },
        planning=pair("LlavaMirrorPlanningCounselor.generate_planning_instruction"),
        caption=method_returns(source, "LlavaMirrorPlanningCounselor.generate_ec_instruction")[0],
    )


def baseline_prompts(setup: str, upstream: Upstream = MIRROR) -> BaselinePrompts:
    """``llama3`` (Llama-3-8B-Instruct), ``gpt`` (GPT-3.5-turbo) or ``camel`` (CAMEL-LLaMA3, with planning)."""
    if setup not in ("llama3", "gpt", "camel"):
        raise ValueError(f"setup must be llama3, gpt or camel, got {setup!r}")
    greeting = formatted_string(
        upstream.read(SESSION["text"]), "TherapySession._exchange_statements", "counselor_statement"
    )
    if setup == "gpt":
        return BaselinePrompts(
            setup,
            module_strings(upstream.read(GPT_AGENT))["QUERY"],
            upstream.read(BASELINE_FILES["gpt"]),
            None,
            greeting,
        )
    planning = upstream.read(BASELINE_FILES["camel_planning"]) if setup == "camel" else None
    return BaselinePrompts(setup, upstream.read(BASELINE_FILES[setup]), None, planning, greeting)


def conversation_format(upstream: Upstream = MIRROR, name: str = "conv_vicuna_v1") -> dict:
    """LLaVA's conversation template the authors trained and evaluated with (``--version v1``, ``--conv-mode
    vicuna_v1``): its system sentence, roles and separators."""
    return call_arguments(upstream.read(CONVERSATION), name)


@dataclass(frozen=True)
class ScreenplayPrompts:
    """The screenplay generator's system file, its few-shot pairs (user, assistant) and its query template
    (``client_persona``, ``personality_trait``, ``distorted_thoughts``, ``cognitive_distortion``,
    ``reason_counseling``, ``cbt_plan``)."""

    system: str
    fewshot: tuple[tuple[str, str], ...]
    query: str


def screenplay_prompts(upstream: Upstream = MIRROR) -> ScreenplayPrompts:
    """``mirror/agent/counseling_gen.py``: ``session_v3.txt``, the examples folder's two pairs (``iglob`` order is
    the directory's; read here as 1 then 2), and ``QUERY``."""
    fewshot = tuple(tuple(upstream.read(path.format(n)) for path in SCREENPLAY_EXAMPLES) for n in (1, 2))
    query = module_strings(upstream.read(SCREENPLAY_QUERY))["QUERY"]
    return ScreenplayPrompts(upstream.read(SCREENPLAY_SYSTEM), fewshot, query)


def resistance_traits(upstream: Upstream = MIRROR) -> dict[str, tuple[str, str]]:
    """``mirror/agent/personality.py``'s four ``PERSONALITY_TRAITS``: idx slug (as ``run_step2.py`` builds it) ->
    (trait name, description)."""
    traits = module_literal(upstream.read(PERSONALITY), "PERSONALITY_TRAITS")
    return {t["trait_name"].lower().replace(" ", "-"): (t["trait_name"], t["desc"]) for t in traits}


@dataclass(frozen=True)
class ExpressionPrompts:
    """The expression LLM's query (``dialogue``, ``utterance``) and its one-shot example: the example's dialogue and
    utterance, and the answer with the role it is sent under (``assistance``, sic)."""

    query: str
    example_dialogue: str
    example_utterance: str
    example_answer: str
    example_role: str


def expression_prompts(upstream: Upstream = MIRROR) -> ExpressionPrompts:
    """``mirror/src/prompts/llama.py``'s ``QUERY`` and ``build_message_for_llama``'s example
    (``mirror/src/prompts/__init__.py``), what the authors asked Llama-3-8B-Instruct."""
    source = upstream.read(EXPRESSION_EXAMPLE)
    constants = module_strings(source)
    answer = next(m for m in message_literals(source, "build_message_for_llama") if m["role"] != "user")
    return ExpressionPrompts(
        query=module_strings(upstream.read(EXPRESSION_QUERY))["QUERY"],
        example_dialogue=constants["SAMPLE_DIALOG"],
        example_utterance=constants["SAMPLE_UTTER"],
        example_answer=answer["content"],
        example_role=answer["role"],
    )
