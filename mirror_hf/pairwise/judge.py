"""An LLM as one more annotator of a pairwise study: each item judged in both orders (A as dialogue 1, then B as
dialogue 1), one call per order answering all three dimensions. A dimension whose verdict changes with the order
counts as a tie (the position-consistency rule of Zheng et al., 2023); the share of consistent verdicts is reported.
The prompt is ours (``prompts/pairwise_judge.txt``): the paper had no LLM pairwise judge. Calls are cached by the
back-end, run concurrently, re-asked when unreadable and then left missing, never guessed; every answer is appended
to ``STUDY/judges/<judge>.jsonl`` as it comes, so a rerun asks only what is missing.

Example:
    >>> asyncio.run(judge_study("study/", load_backend("openai:gpt-4o")))      # doctest: +SKIP
    {'judge': 'openai:gpt-4o', 'calls': 1200, 'done': 1200, 'failed': 0}
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from mirror_hf.journal import done_and_tried, read_records, record_each
from mirror_hf.judges.transcript import render_transcript
from mirror_hf.llm import ask_until_read
from mirror_hf.pairwise.study import APP_DIR, JUDGES_DIR, read_study
from mirror_hf.prompts import load_prompt
from mirror_hf.schema import STUDY_FILE

JUDGE_SAMPLING = {"temperature": 0.0, "max_tokens": 1024}
ORDERS = ("AB", "BA")  # which side is dialogue 1
_VERDICT = {"1": 0, "2": 1, "tie": None}  # -> index into the order's sides (None: a tie)


def parse_verdicts(text: str, dimensions: tuple[str, ...]) -> dict[str, str]:
    """``{dimension: "1" | "2" | "tie"}`` from the last ``Name: [[x]]`` line of each; ValueError when one is missing."""
    found = {}
    for d in dimensions:
        matches = re.findall(rf"\b{re.escape(d)}\s*:\s*\[\[\s*(1|2|tie)\s*\]\]", text or "", flags=re.I)
        if not matches:
            raise ValueError(f"no {d.capitalize()}: [[1|2|tie]] in {(text or '')[:80]!r}")
        found[d] = matches[-1].lower()
    return found


def side(order: str, verdict: str) -> str:
    """The side (A / Tie / B) that a verdict of one order names."""
    k = _VERDICT[verdict]
    return "Tie" if k is None else order[k]


def combine(records: list[dict], dimensions: tuple[str, ...]) -> tuple[dict[str, dict[str, str]], dict]:
    """item id -> {dimension: A / Tie / B}, for items read in both orders (a verdict that moves with the order
    counts as Tie), and the counts behind the position-consistency rate."""
    by_item: dict[str, dict[str, dict]] = {}
    for r in records:
        if r.get("verdicts"):
            by_item.setdefault(r["item_id"], {})[r["order"]] = r["verdicts"]
    answers, consistent, compared = {}, 0, 0
    for item, orders in by_item.items():
        if set(orders) != set(ORDERS):
            continue  # one order left unread: the item has no verdict
        choice = {}
        for d in dimensions:
            first, second = (side(o, orders[o][d]) for o in ORDERS)
            compared += 1
            consistent += first == second
            choice[d] = first if first == second else "Tie"
        answers[item] = choice
    rate = consistent / compared if compared else float("nan")
    return answers, {"consistent": consistent, "compared": compared, "consistency": rate}


def judge_file(study_dir: str | Path, judge: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", judge).strip("_")[:60]
    return Path(study_dir) / JUDGES_DIR / f"{slug}-{hashlib.sha256(judge.encode()).hexdigest()[:8]}.jsonl"


def read_judges(study_dir: str | Path) -> dict[str, list[dict]]:
    """judge id -> its records, for every judge that has judged the study."""
    out: dict[str, list[dict]] = {}
    for path in sorted((Path(study_dir) / JUDGES_DIR).glob("*.jsonl")):
        for r in read_records(path, key=lambda r: (r["item_id"], r["order"])):
            out.setdefault(r["judge"], []).append(r)
    return out


async def judge_study(study_dir, backend, *, reasks: int = 3, concurrency: int = 8, progress: bool = True) -> dict:
    """Judge every item of the study in ``study_dir`` in both orders; returns the counts of this run."""
    study_dir = Path(study_dir)
    study = read_study(study_dir)
    blinded = json.loads((study_dir / APP_DIR / STUDY_FILE).read_text(encoding="utf-8"))
    sessions = json.loads((study_dir / APP_DIR / "sessions.json").read_text(encoding="utf-8"))
    dimensions = tuple(study["dimensions"])
    template = load_prompt("pairwise_judge")
    path = judge_file(study_dir, backend.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    done, tried = done_and_tried(path, key=lambda r: (r["item_id"], r["order"]))
    transcripts = {
        s: render_transcript([{"role": t["speaker"], "content": t["text"]} for t in turns])
        for s, turns in sessions.items()
    }
    jobs = [(item, order) for item in blinded["items"] for order in ORDERS if (item["item_id"], order) not in done]

    async def work(job) -> dict:
        item, order = job
        first, second = (item[s.lower()] for s in order)
        prompt = template.render(dialogue_1=transcripts[first], dialogue_2=transcripts[second])
        answer = await ask_until_read(
            backend,
            [{"role": "user", "content": prompt}],
            lambda text: parse_verdicts(text, dimensions),
            reasks=reasks,
            sampling=JUDGE_SAMPLING,
            earlier=tried.get((item["item_id"], order), ()),
        )
        return {
            "judge": backend.id,
            "study_id": study["study_id"],
            "item_id": item["item_id"],
            "order": order,
            "verdicts": answer.value,
            "raw": answer.raw,
            "failure": answer.failure,
        }

    counts = await record_each(
        jobs,
        work,
        path,
        concurrency=concurrency,
        desc="Judging pairs",
        unit="call",
        already=len(done),
        progress=progress,
    )
    return {"judge": backend.id, "file": str(path), "calls": len(jobs), **counts}


__all__ = ["JUDGE_SAMPLING", "combine", "judge_study", "parse_verdicts", "read_judges"]
