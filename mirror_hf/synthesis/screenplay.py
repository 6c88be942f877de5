"""New MIRROR dialogues, step 2 (paper §3.2): an LLM writes each designed profile's first session as a screenplay
(``Therapist: [stage direction] statement`` / ``Client: [...] ...``); the authors used gpt-4o-mini-2024-07-18. The
screenplays are then written as release files (``mirror_data.csv`` in the authors' code-produced format), which
``mirror-hf build --release`` reads like the released ones.

With the authors' prompts (``mirror/agent/counseling_gen.py``, read at run time: :func:`mirror_hf.upstream.prompts.
screenplay_prompts`) the request is theirs: the system file ``session_v3.txt``, their two few-shot pairs
(``mirror/agent/examples/``), then their ``QUERY`` with the profile; without them (``prompts=None``, the
``corrected`` protocol) the Appendix I prompt as printed, whose CBT plan section starts with the technique's name.
Both sample as the authors' batch requests did (:data:`SCREENPLAY_SAMPLING`). Ours: what makes an answer
unreadable (fewer than two parsed lines, or only one speaker: asked again, then recorded as a failure). Lines are
parsed with the authors' grammar (a line under the client's name included); everything else is left to the filters
(:mod:`mirror_hf.synthesis.filters`).

Example:
    >>> messages = render_screenplay_messages({"personal_info": "Ann is a nurse.", "personality": "Open.",
    ...     "distorted_thought": "I fail.", "thinking_trap": "labeling", "reason_for_seeking_counseling": "Stress.",
    ...     "cbt_technique": "Reality Testing", "cbt_plan": "1. Test the thought."})
    >>> messages[1]["content"].splitlines()[-5:-2]
    ['CBT Plan ##', 'Reality Testing', '1. Test the thought.']
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

from mirror_hf import __version__
from mirror_hf.data.release import TRAIN_FILES, client_name, parse_screenplay
from mirror_hf.journal import done_and_tried, read_records, record_each
from mirror_hf.llm import ask_until_read
from mirror_hf.prompts import load_prompt
from mirror_hf.schema import SCREENPLAYS_REPORT_FILE

SCREENPLAYS_FILE = "screenplays.jsonl"
# counseling_gen.py get_message: the body of the authors' batch requests
SCREENPLAY_SAMPLING = {
    "max_tokens": 1024,
    "temperature": 0.7,
    "top_p": 0.9,
    "frequency_penalty": 0.2,
    "presence_penalty": 0.2,
}
RELEASE_COLUMNS = (  # the authors' code-produced columns (RELEASE_FORMAT), and the technique
    "idx", "model", "personal_info", "personality", "distorted_thought", "thinking_trap",
    "reason_for_seeking_counseling", "cbt_technique", "cbt_plan", "dialogue", "proc_dialogue", "turn", "resistance",
    "img_path", "identity", "age", "dominant_gender",
)  # fmt: skip


def render_screenplay_messages(profile: dict, prompts=None) -> list[dict]:
    """The messages for one designed profile: the authors' (``prompts``, a
    :class:`~mirror_hf.upstream.prompts.ScreenplayPrompts`: system, two few-shot pairs, their query), else the
    system and user messages of Appendix I."""
    if prompts is not None:
        messages = [{"role": "system", "content": prompts.system}]
        for example, answer in prompts.fewshot:
            messages += [{"role": "user", "content": example}, {"role": "assistant", "content": answer}]
        query = prompts.query.format(
            client_persona=profile["personal_info"],
            personality_trait=profile["personality"],
            distorted_thoughts=profile["distorted_thought"],
            cognitive_distortion=profile["thinking_trap"],
            reason_counseling=profile["reason_for_seeking_counseling"],
            cbt_plan=profile["cbt_plan"],
        )
        return [*messages, {"role": "user", "content": query}]
    query = load_prompt("screenplay_query").render(
        personal_info=profile["personal_info"],
        personality=profile["personality"],
        distorted_thought=profile["distorted_thought"],
        thinking_traps=profile["thinking_trap"],
        reason=profile["reason_for_seeking_counseling"],
        cbt_technique_and_plan=f"{profile['cbt_technique']}\n{profile['cbt_plan']}",
    )
    return [
        {"role": "system", "content": load_prompt("screenplay_system").template},
        {"role": "user", "content": query},
    ]


def parse_generated_screenplay(text: str, name: str | None = None) -> list[dict]:
    """The turns of a generated screenplay (``speaker``, ``stage_direction``, ``statement``; a line under the
    client's ``name`` is the client's); ValueError when it has fewer than two or only one speaker."""
    turns = [
        {"speaker": t.speaker, "stage_direction": t.stage_direction, "statement": t.statement}
        for t in parse_screenplay(text, name)
    ]
    if len(turns) < 2 or {t["speaker"] for t in turns} != {"therapist", "client"}:
        raise ValueError(f"{len(turns)} screenplay line(s), speakers {sorted({t['speaker'] for t in turns})}")
    return turns


async def write_screenplay(
    backend, profile: dict, *, reasks: int = 3, sampling: dict | None = None, earlier: list[str] = (), prompts=None
) -> dict:
    """One profile's screenplay: ``{"idx", "text", "turns", "raw", "failure", "model"}``; an unreadable answer is
    asked again with a new seed up to ``reasks`` times, then recorded as a failure. ``earlier``: the answers a past
    run could not read (a retry goes on with new seeds)."""
    messages = render_screenplay_messages(profile, prompts)
    name = client_name(profile.get("personal_info"))
    answer = await ask_until_read(
        backend, messages, lambda text: parse_generated_screenplay(text, name), reasks=reasks, sampling=sampling,
        earlier=earlier,
    )  # fmt: skip
    return {
        "idx": profile["idx"],
        "text": answer.text,
        "turns": answer.value,
        "raw": answer.raw,
        "failure": answer.failure,
        "model": backend.id,
    }


async def write_screenplays(
    profiles: list[dict],
    backend,
    out_dir: str | Path,
    *,
    concurrency: int = 8,
    reasks: int = 3,
    sampling: dict | None = None,
    progress: bool = True,
    settings: dict | None = None,
    prompts=None,
) -> dict:
    """Write the screenplay of every profile not yet written in ``out_dir/screenplays.jsonl`` (a rerun retries the
    failed ones), then the release files (:func:`write_release_files`) and ``screenplays_report.json`` (counts,
    models, the data's digest and ``settings``, e.g. how the design was made); returns the report. ``sampling``
    adds to :data:`SCREENPLAY_SAMPLING`; ``prompts``: the authors' (see :func:`render_screenplay_messages`)."""
    sampling = {**SCREENPLAY_SAMPLING, **(sampling or {})}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    journal = out / SCREENPLAYS_FILE
    done, earlier = done_and_tried(journal, _idx)
    jobs = [p for p in profiles if p["idx"] not in done]

    async def write(profile: dict) -> dict:
        tried = earlier.get(profile["idx"], ())
        return await write_screenplay(
            backend, profile, reasks=reasks, sampling=sampling, earlier=tried, prompts=prompts
        )

    counts = await record_each(
        jobs, write, journal, concurrency=concurrency, desc="Screenplays", unit="dialogue", already=len(done),
        progress=progress,
    )  # fmt: skip
    records = read_records(journal, _idx)
    written = write_release_files(profiles, records, out)
    wanted = {p["idx"] for p in profiles}
    report = {
        "mirror_hf_version": __version__,
        "profiles": len(profiles),
        "already_done": len(done),
        "written": counts["done"],
        "failed": counts["failed"],
        "release_rows": written,
        "resistance": dict(Counter(p["idx"].split("-", 2)[2] for p in profiles)),
        "models": sorted({r["model"] for r in records if r["idx"] in wanted and r["failure"] is None}),
        "sampling": sampling,
        "prompts": "upstream" if prompts is not None else "paper",
        "settings": settings or {},
        "data_sha256": hashlib.sha256((out / TRAIN_FILES[0]).read_bytes()).hexdigest(),
        "file": str(out / TRAIN_FILES[0]),
    }
    (out / SCREENPLAYS_REPORT_FILE).write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return report


def _idx(record: dict) -> str:
    return record["idx"]


def write_release_files(profiles: list[dict], screenplays: list[dict], out_dir: str | Path) -> int:
    """``mirror_data.csv`` in the authors' format: one row per profile with a screenplay, ``proc_dialogue`` a Python
    literal with ``Therapist``/``Client``, ``turn`` = utterances / 2; written whole, then renamed. Returns the rows."""
    by_idx = {s["idx"]: s for s in screenplays if s["failure"] is None}
    path = Path(out_dir) / TRAIN_FILES[0]
    partial = path.with_name(f".{path.name}.partial")
    rows = 0
    with partial.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=RELEASE_COLUMNS)
        writer.writeheader()
        for profile in profiles:
            screenplay = by_idx.get(profile["idx"])
            if screenplay is None:
                continue
            turns = [{**t, "speaker": t["speaker"].capitalize()} for t in screenplay["turns"]]
            slug = profile["idx"].split("-", 2)[2]
            writer.writerow(
                {
                    **{k: profile.get(k) for k in RELEASE_COLUMNS},
                    "model": screenplay["model"],
                    "dialogue": screenplay["text"],
                    "proc_dialogue": repr(turns),
                    "turn": len(turns) / 2,
                    "resistance": slug.replace("-", " "),
                }
            )
            rows += 1
    partial.replace(path)
    return rows


__all__ = [
    "RELEASE_COLUMNS",
    "SCREENPLAYS_FILE",
    "SCREENPLAY_SAMPLING",
    "parse_generated_screenplay",
    "render_screenplay_messages",
    "write_release_files",
    "write_screenplay",
    "write_screenplays",
]
