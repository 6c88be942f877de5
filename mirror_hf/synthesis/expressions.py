"""Turn faces, step 1 (paper §3.3, Appendix I): an LLM reads the dialogue so far and one client utterance with its
stage direction, and describes the facial expression to draw and a contrasting one to steer away from — the
expression part of PhotoMaker's prompt and of its negative prompt.

The authors asked Llama-3-8B-Instruct (temperature 0.7, top_p 0.9, 128 tokens) with the query of
``mirror/src/prompts/llama.py``, a one-shot example before it (``SAMPLE_DIALOG`` / ``SAMPLE_UTTER`` of
``mirror/src/prompts/__init__.py``, its answer under the role ``assistance``, sic) and the utterance labelled
``Client: [stage direction] statement`` (``mirror/step3/preprocess_for_llm.py``); with their prompts (read at run
time) that is the request here. Without them (the ``corrected`` protocol) the Appendix I prompt as printed, the
utterance unlabelled, no example. A turn without a stage direction is written without brackets (the authors' code
would stop on it). Any chat back-end answers (``load_backend`` specs); a run appends one line per client turn to
``expressions.jsonl`` and a rerun does only what is missing or failed.

Example:
    >>> parse_expressions("- Facial Expression Description: eyes looking away\\n"
    ...                   "- Contrasting Facial Expression Description: a warm smile")
    Expressions(expression='eyes looking away', contrasting='a warm smile')
    >>> photomaker_prompts("woman", Expressions("eyes looking away", "a warm smile"))[0]
    'portrait photo of a woman img, perfect face, natural skin, high detail, eyes looking away'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mirror_hf.journal import done_and_tried, record_each
from mirror_hf.llm import ask_until_read
from mirror_hf.prompts import load_prompt

EXPRESSIONS_FILE = "expressions.jsonl"
# The authors' Llama-3-8B-Instruct settings (RELEASE_FORMAT: the authors' synthesis code).
EXPRESSION_SAMPLING = {"temperature": 0.7, "top_p": 0.9, "max_tokens": 128}
_LINE = re.compile(r"^[\s*\-•]*(contrasting\s+)?facial\s+expression\s+description\s*\**\s*:\s*\**(.*)$", re.I)


@dataclass(frozen=True)
class Expressions:
    expression: str  # what the face shows: PhotoMaker's prompt
    contrasting: str  # what it must not show: PhotoMaker's negative prompt


def screenplay_line(turn: dict, speaker: bool = True) -> str:
    """``Client: [Looks away] I guess.`` (no brackets for a turn without a stage direction)."""
    direction = f"[{turn['stage_direction']}] " if turn.get("stage_direction") else ""
    text = f"{direction}{turn.get('statement') or ''}".strip()
    return f"{turn['speaker'].capitalize()}: {text}" if speaker else text


def render_expression_prompt(turns: list[dict], t: int) -> str:
    """The Appendix I prompt for client turn ``t``: every turn before it as history, the turn itself (its stage
    direction inline, no speaker label: the section names it) as the utterance."""
    if turns[t]["speaker"] != "client":
        raise ValueError(f"turn {t} is the {turns[t]['speaker']}'s; expressions are drawn for client turns")
    history = "\n".join(screenplay_line(turn) for turn in turns[:t])
    return load_prompt("expression_refine").render(history=history, utterance=screenplay_line(turns[t], False))


def render_expression_messages(turns: list[dict], t: int, prompts=None, example_role: str = "assistance") -> list:
    """The messages for client turn ``t``: the authors' (``prompts``, an
    :class:`~mirror_hf.upstream.prompts.ExpressionPrompts`: their one-shot example, its answer under
    ``example_role``, then their query with the history and the utterance labelled ``Client: [direction] ...``, as
    ``mirror/step3/preprocess_for_llm.py`` builds them), else the Appendix I prompt alone."""
    if prompts is None:
        return [{"role": "user", "content": render_expression_prompt(turns, t)}]
    if turns[t]["speaker"] != "client":
        raise ValueError(f"turn {t} is the {turns[t]['speaker']}'s; expressions are drawn for client turns")
    history = "\n".join(screenplay_line(turn) for turn in turns[:t]).strip()
    example = prompts.query.format(dialogue=prompts.example_dialogue, utterance=prompts.example_utterance)
    return [
        {"role": "user", "content": example},
        {"role": example_role, "content": prompts.example_answer},
        {"role": "user", "content": prompts.query.format(dialogue=history, utterance=screenplay_line(turns[t]))},
    ]


def parse_expressions(text: str) -> Expressions:
    """The two descriptions of an answer (list dashes, bold markers and template brackets tolerated); ValueError
    when either is missing or empty."""
    found = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match:
            value = match.group(2).strip().strip("*").strip()
            if value.startswith("[") and value.endswith("]"):
                value = value[1:-1].strip()
            found.setdefault("contrasting" if match.group(1) else "expression", value)
    missing = [k for k in ("expression", "contrasting") if not found.get(k)]
    if missing:
        raise ValueError(f"no {' and no '.join(missing)} description in the answer")
    return Expressions(found["expression"], found["contrasting"])


def photomaker_prompts(gender: str | None, expressions: Expressions) -> tuple[str, str]:
    """(prompt, negative prompt) for PhotoMaker; an unknown gender is drawn as a ``person``."""
    prompt = load_prompt("photomaker_prompt").render(gender=gender or "person", expression=expressions.expression)
    negative = load_prompt("photomaker_negative").render(contrasting_expression=expressions.contrasting)
    return prompt, negative


async def describe_turn(
    backend,
    turns: list[dict],
    t: int,
    *,
    reasks: int = 3,
    sampling: dict | None = None,
    earlier: list[str] = (),
    prompts=None,
    example_role: str = "assistance",
) -> dict:
    """One client turn's expressions: ``{"expression", "contrasting", "raw", "failure"}``; an unreadable answer is
    asked again with a new seed up to ``reasks`` times, then recorded as a failure (never invented). ``earlier``:
    the answers a past run could not read (a retry goes on with new seeds). ``prompts``, ``example_role``: see
    :func:`render_expression_messages`."""
    messages = render_expression_messages(turns, t, prompts, example_role)
    sampling = {**EXPRESSION_SAMPLING, **(sampling or {})}
    answer = await ask_until_read(
        backend, messages, parse_expressions, reasks=reasks, sampling=sampling, earlier=earlier
    )
    found = answer.value or Expressions(None, None)
    return {
        "expression": found.expression,
        "contrasting": found.contrasting,
        "raw": answer.raw,
        "failure": answer.failure,
    }


def _key(record: dict) -> tuple[str, int]:
    return record["idx"], record["turn"]


async def describe_expressions(
    dialogues,
    backend,
    out_dir: str | Path,
    *,
    concurrency: int = 8,
    reasks: int = 3,
    progress: bool = True,
    prompts=None,
    example_role: str = "assistance",
) -> dict:
    """Describe every client turn of ``dialogues`` (rows of the ``dialogues`` config) not yet described in
    ``out_dir/expressions.jsonl``; returns counts. Each finished turn is appended at once, so a killed run loses
    only the turns in flight, and a rerun retries the failed ones. ``prompts``: the authors' (see
    :func:`render_expression_messages`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    journal = out / EXPRESSIONS_FILE
    done, earlier = done_and_tried(journal, _key)
    jobs = [
        (d, t)
        for d in dialogues
        for t, turn in enumerate(d["turns"])
        if turn["speaker"] == "client" and (d["idx"], t) not in done
    ]

    async def describe(job: tuple[dict, int]) -> dict:
        dialogue, t = job
        tried = earlier.get((dialogue["idx"], t), ())
        options = {"reasks": reasks, "earlier": tried, "prompts": prompts, "example_role": example_role}
        found = await describe_turn(backend, dialogue["turns"], t, **options)
        prompt = negative = None
        if found["failure"] is None:
            expressions = Expressions(found["expression"], found["contrasting"])
            prompt, negative = photomaker_prompts(dialogue.get("gender"), expressions)
        return {
            "idx": dialogue["idx"],
            "turn": t,
            "celeba_image": dialogue.get("celeba_image"),
            "gender": dialogue.get("gender"),
            "utterance": screenplay_line(dialogue["turns"][t], False),
            "stage_direction": dialogue["turns"][t].get("stage_direction"),
            **found,
            "prompt": prompt,
            "negative_prompt": negative,
            "model": backend.id,
        }

    counts = await record_each(
        jobs, describe, journal, concurrency=concurrency, desc="Expressions", unit="turn", already=len(done),
        progress=progress,
    )  # fmt: skip
    return {
        "client_turns": len(done) + len(jobs),
        "already_done": len(done),
        "described": counts["done"],
        "failed": counts["failed"],
        "file": str(journal),
    }


__all__ = [
    "EXPRESSIONS_FILE",
    "EXPRESSION_SAMPLING",
    "Expressions",
    "describe_expressions",
    "describe_turn",
    "parse_expressions",
    "photomaker_prompts",
    "render_expression_messages",
    "render_expression_prompt",
    "screenplay_line",
]
