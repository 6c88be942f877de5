"""The simulation protocols: every behaviour of the client, the therapists and the session loop that the authors'
released code fixes, as one switch each.

``authors`` (the default) behaves as ``nobel-postech/mirror`` @ 3bc4a9a does, quirks included where they shape the
scores: it is what produced the paper's numbers. ``corrected`` keeps the method the paper describes, with the
paper's prompts as printed (so it runs without the authors' files) and every defect fixed. Any switch can be set
on its own (``AUTHORS.replace(end_rule="token")``) to ablate one difference. Each switch below names the upstream
file and line it follows; docs/fidelity.md has the whole table.

Example:
    >>> from mirror_hf.protocol import AUTHORS, get_protocol
    >>> AUTHORS.end_rule, get_protocol("corrected").end_rule
    ('substring', 'token')
    >>> AUTHORS.replace(end_rule="token").name
    'authors+end_rule=token'
    >>> get_protocol("authors,history_window=6").history_window
    6
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from mirror_hf.errors import MirrorError

PROTOCOL_FILE = "protocol.json"  # in a simulation run folder: the protocol its sessions were played under

_CHOICES = {
    "prompts": ("upstream", "paper"),
    "no_resistance_personality": ("none", "profile"),
    "end_rule": ("substring", "token"),
    "label_split": ("first_colon", "leading_label"),
    "stage_directions": ("greedy", "each"),
    "answer_cleanup": ("upstream", "robust", "strip"),
    "planning_braces": ("double", "single"),
    "plan_parser": ("upstream", "robust"),
    "p_layout": ("inference", "training"),
    "camel_prompt": ("as_user_message", "as_messages"),
    "expression_example_role": ("assistance", "assistant"),
}


@dataclass(frozen=True)
class Protocol:
    """One value per behaviour that differs between the authors' code and the paper's method (see the module)."""

    name: str
    # Where the client's and the VLM therapist's prompt texts come from: the authors' files at the pinned commit
    # (fetched, SHA-256 checked), or the paper's Appendix J as printed (carried in mirror_hf/prompts).
    prompts: str = "upstream"
    # -- the client (mirror-llava/llava/chat/client.py, therapy.py; llm_therapist/src/agents/client.py, run.py)
    # therapy.py:16-22 get_resistance_desc returns None for no resistance, and the text "None" reaches the prompt.
    no_resistance_personality: str = "none"
    # client.py:98 and :46-52: the raw answer ("Client: ...") is stored under the label "Client".
    client_label_doubled: bool = True
    # client.py:112-124 initial_response: the opening never enters the client's own history.
    client_remembers_opening: bool = False
    # therapy.py:88-97: an answer is used as it comes; no re-ask of an empty or counselor-voiced answer.
    client_reasks: int = 0
    # therapy.py:106 `"[/END]" in s or "END" in s`: any "END" ends the session (after two exchanges).
    end_rule: str = "substring"
    # therapy.py:97 `content.split(":", 1)[-1]`: the text after the first colon, label or not.
    label_split: str = "first_colon"
    # therapy.py:24-26 remove_text_in_parentheses, regex `\[[^)]*\]`: from the first "[" to the last "]" of the text.
    stage_directions: str = "greedy"
    # Paper §5 (not in the code): a session ends when the client disengages two turns in a row; None: never.
    disengage_after: int | None = None
    # A nonverbal-only client turn shows to the therapist as an empty "Client: " line (therapy.py:125, vlm.py:190).
    silent_client_lines: bool = True
    # -- the VLM therapist (mirror-llava/llava/chat/vlm.py)
    # model_chat.py / mirror_counseling.sh --conv-mode vicuna_v1: the prompt opens with conv_vicuna_v1's system
    # sentence (conversation.py), sent as a system message; off: the served model's template decides.
    system_sentence: bool = True
    # vlm.py:54-79 generate: temperature 0.7, top_p 0.9, sampling, max_new_tokens=1024 whatever is asked (the eval
    # scripts' --temperature 0 and respond's max_tokens=128 are never read).
    therapist_temperature: float = 0.7
    therapist_top_p: float = 0.9
    therapist_max_tokens: int = 1024
    # model_chat.py:19 --ctx_len 16: the utterances of history at inference (training used 6).
    history_window: int = 16
    # vlm.py:124-144 post_process_response: text after the last Therapist/Counselor/Psychotherapist title, cut at
    # "Client:", newlines, backslashes and double quotes removed; an answer holding "'message':" crashes it (the VLM
    # counselor has no clean_message) and the authors' run dropped that session. robust: unwrapped instead.
    answer_cleanup: str = "upstream"
    # vlm.py:25-33 PLANNING_DESC is a plain string inside an f-string: "{{selected_cbt}}" reaches the model.
    planning_braces: str = "double"
    # vlm.py:373: the P+EC counselor never stores its plan and plans again every turn (P plans once).
    replan_every_turn: bool = True
    # vlm.py:256-269 parse_planning_value: keeps only "- CBT technique:" / "- Counseling planning:" lines, one
    # line each (the plan is usually empty); robust: mirror_hf.therapist.parse_plan, the whole plan.
    plan_parser: str = "upstream"
    # vlm.py:294-312 P response prompt: "{cbt_plan}\n" as parse_planning_value lays it out; training: the layout of the
    # released planning sample the model was trained on.
    p_layout: str = "inference"
    # -- the text baselines (llm_therapist/src/agents/llama.py:142-220): agent_cactus_llama3.txt holds Llama-3's
    # own header tokens and is sent as one user message, so the chat template wraps them again.
    camel_prompt: str = "as_user_message"
    # -- the data pipeline (mirror/): run_step2.py:62 passes the family details through str.capitalize(), which
    # lower-cases all but their first letter ("Has a sister, Anna" -> "Has a sister, anna"), and adds a final "."
    family_capitalize: bool = True
    # mirror/src/prompts/__init__.py build_message_for_llama: the one-shot example's answer is sent under the role
    # "assistance" (sic); a chat template renders it as written, an OpenAI-style server may refuse it.
    expression_example_role: str = "assistance"

    def __post_init__(self):
        for key, allowed in _CHOICES.items():
            if getattr(self, key) not in allowed:
                raise MirrorError(f"protocol {self.name}: {key}={getattr(self, key)!r}", fix=f"use one of {allowed}")
        if self.history_window < 1 or self.therapist_max_tokens < 1 or self.client_reasks < 0:
            raise MirrorError(f"protocol {self.name}: history_window, therapist_max_tokens need >= 1, reasks >= 0")

    def replace(self, **changes) -> Protocol:
        """This protocol with some switches changed; its name says which."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)} - {"name"})
        if unknown:
            raise MirrorError(f"no protocol switch {unknown}", fix=f"switches: {', '.join(switches())}")
        name = changes.pop("name", None) or "+".join([self.name, *(f"{k}={v}" for k, v in sorted(changes.items()))])
        return dataclasses.replace(self, name=name, **changes)

    def settings(self) -> dict:
        """Every switch and its value: what runs, reports and cards record."""
        return dataclasses.asdict(self)

    def differences(self, other: Protocol) -> dict[str, tuple]:
        """switch -> (this value, other value) where they differ."""
        mine, theirs = self.settings(), other.settings()
        return {k: (mine[k], theirs[k]) for k in mine if k != "name" and mine[k] != theirs[k]}

    @property
    def therapist_sampling(self) -> dict:
        return {
            "temperature": self.therapist_temperature,
            "top_p": self.therapist_top_p,
            "max_tokens": self.therapist_max_tokens,
        }


AUTHORS = Protocol("authors")
CORRECTED = Protocol(
    "corrected",
    prompts="paper",
    no_resistance_personality="profile",
    client_label_doubled=False,
    client_remembers_opening=True,
    client_reasks=2,
    end_rule="token",
    label_split="leading_label",
    stage_directions="each",
    disengage_after=2,
    silent_client_lines=False,
    system_sentence=False,  # the paper's prompts need none of the authors' files; a recipe-trained model's
    # own template (conversation_format: llava_v1) still opens with the sentence
    therapist_temperature=0.0,  # the eval scripts ask for --temperature 0
    therapist_max_tokens=128,  # what respond() asks for
    answer_cleanup="robust",
    planning_braces="single",
    replan_every_turn=False,
    plan_parser="robust",
    p_layout="training",
    camel_prompt="as_messages",
    family_capitalize=False,
    expression_example_role="assistant",
)
PROTOCOLS = {p.name: p for p in (AUTHORS, CORRECTED)}


def switches() -> list[str]:
    return [f.name for f in fields(Protocol) if f.name != "name"]


def _value(text: str, current):
    if isinstance(current, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return text.lower() in ("true", "1", "yes")
    if current is None or isinstance(current, int) and not isinstance(current, bool):
        return None if text.lower() in ("none", "off") else int(text)
    if isinstance(current, float):
        return float(text)
    return text


def get_protocol(spec: str | Protocol) -> Protocol:
    """``authors``, ``corrected``, or either followed by switches: ``authors,end_rule=token,history_window=6``."""
    if isinstance(spec, Protocol):
        return spec
    name, *overrides = [part.strip() for part in spec.split(",") if part.strip()]
    if name not in PROTOCOLS:
        raise MirrorError(f"unknown protocol {name!r}", fix=f"use {' or '.join(PROTOCOLS)}, then ,SWITCH=VALUE...")
    base = PROTOCOLS[name]
    changes = {}
    for item in overrides:
        key, _, text = item.partition("=")
        if key not in switches() or not text:
            raise MirrorError(f"protocol switch {item!r}", fix=f"write SWITCH=VALUE with a switch of {switches()}")
        try:
            changes[key] = _value(text, getattr(base, key))
        except ValueError:
            raise MirrorError(f"protocol switch {item!r}: not a value for {key}") from None
    return base.replace(**changes) if changes else base
