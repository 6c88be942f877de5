"""``mirror-hf evaluate``: judge several therapists' session runs and put them side by side as the paper's Tables 2-3.

For each therapist (a run folder of ``mirror-hf simulate``) and instrument: the mean of each column with its 95 %
confidence interval over sessions, the change with resistant clients relative to non-resistant ones, a paired t-test
against the reference therapist (``*`` at p < 0.05), the response length (tokens per therapist turn: the mean over
sessions of each session's average and of its maximum), a length-controlled score, the correlation of length and
score over all sessions (paper Appendix D), and inter-judge agreement when a second judge or human ratings are given.

Which sessions count: a session that ended in failure (a back-end error, a malformed client) is left out and
listed. Columns are scored on the resistant sessions when a run has any (the paper's tables are "interactions with
resistant clients"), else on all of them.

Example:
    >>> runs = load_runs(["P+EC=runs/sim-pec", "runs/sim-llama3"])                               # doctest: +SKIP
    >>> judgements = asyncio.run(judge_runs(runs, load_backend("openai:gpt-4o")))              # doctest: +SKIP
    >>> report = build_report(runs, {"gpt-4o": judgements}, reference="P+EC")                    # doctest: +SKIP
    >>> write_report(report, "eval/")                                                          # doctest: +SKIP
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.judges import counseling_eval, stats, wai
from mirror_hf.judges.engine import Judgement, judge_counseling, judge_wai, summarize
from mirror_hf.judges.stats import valid_mean
from mirror_hf.judges.transcript import to_dialogue
from mirror_hf.protocol import PROTOCOL_FILE
from mirror_hf.runs import read_session_records
from mirror_hf.schema import (
    EVAL_MARKDOWN_FILE,
    EVAL_REPORT_FILE,
    FAILURE_REASONS,
    JUDGEMENTS_CONFIG,
    RUN_REPORT_FILE,
    parse_idx,
)

INSTRUMENTS = ("counseling_eval", "wai")
COLUMNS = {
    "counseling_eval": tuple(c.name for c in counseling_eval.CRITERIA),
    "wai": wai.DIMENSIONS,
}
METRIC_IDS = {"counseling_eval": "counseling_eval", "wai": "wai_alliance"}  # the evaluate modules' names
NOT_HEADLINE = {c.name for c in counseling_eval.CRITERIA if not c.headline}
_WORDS = re.compile(r"\w+|[^\w\s]")


@dataclasses.dataclass
class Run:
    """One therapist's sessions: the judged ones (complete) and the ids of those left out."""

    label: str
    path: Path
    records: list[dict]
    excluded: list[str]
    settings: dict | None = None  # the run's protocol.json (protocol, models, variant), when it has one

    def resistant(self, i: int) -> bool | None:
        try:
            return parse_idx(self.records[i]["profile_idx"])[1] != "none"
        except (KeyError, ValueError):
            return None


def load_runs(specs: list[str]) -> list[Run]:
    """Runs from ``[NAME=]PATH`` (a run folder of ``mirror-hf simulate`` or its ``sessions.jsonl``)."""
    runs = []
    for spec in specs:
        label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path = Path(path)
        if not path.exists():
            raise MirrorError("no such run", file=str(path), fix="give a run folder of mirror-hf simulate")
        records = sorted(read_session_records(path), key=lambda r: r["session_id"])
        kept = [r for r in records if r.get("end_reason") not in FAILURE_REASONS]
        excluded = [r["session_id"] for r in records if r.get("end_reason") in FAILURE_REASONS]
        if not kept:
            raise MirrorError("no complete session to judge", file=str(path))
        name = label or (path.name if path.is_dir() else path.stem)
        runs.append(Run(name, path, kept, excluded, _run_settings(path)))
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        raise MirrorError(f"two runs share a name in {labels}", fix="name them: NAME=PATH")
    return runs


def _run_settings(path: Path) -> dict | None:
    """A run's protocol and models: its protocol.json, or the copy in run_report.json (a pulled sessions dataset)."""
    folder = path if path.is_dir() else path.parent
    for name, key in ((PROTOCOL_FILE, None), (RUN_REPORT_FILE, "run")):
        file = folder / name
        if file.is_file():
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                continue
            data = data.get(key) if key else data
            if isinstance(data, dict) and isinstance(data.get("protocol"), dict):
                return data
    return None


def protocol_warnings(runs: list[Run]) -> list[str]:
    """A warning when the runs compared were not all played under one protocol (or some recorded none)."""
    names = {r.label: (r.settings or {}).get("protocol", {}).get("name", "unrecorded") for r in runs}
    if len(set(names.values())) <= 1:
        return []
    shown = ", ".join(f"{label}: {name}" for label, name in names.items())
    return [f"the runs were played under different protocols ({shown}): their scores differ by more than the "
            "therapists (mirror-hf simulate --protocol; docs/fidelity.md)"]  # fmt: skip


async def judge_runs(
    runs: list[Run],
    backend,
    instruments=INSTRUMENTS,
    *,
    rubrics: dict[str, str] | None = None,
    wai_items=wai.WAI_ITEMS,
    **options,
) -> dict[tuple[str, str], list[Judgement]]:
    """(run label, instrument) -> its Judgements (session i = ``run.records[i]``). ``options`` go to the engine."""
    out = {}
    for run in runs:
        dialogues = [to_dialogue(r) for r in run.records]
        for instrument in instruments:
            if instrument == "wai":
                out[run.label, instrument] = await judge_wai(dialogues, backend, items=wai_items, **options)
            elif instrument == "counseling_eval":
                if rubrics is None:
                    raise MirrorError("counseling_eval needs the CACTUS rubrics", fix="pass rubrics=load_rubrics()")
                out[run.label, instrument] = await judge_counseling(dialogues, backend, rubrics=rubrics, **options)
            else:
                raise MirrorError(f"unknown instrument {instrument!r}", fix=f"use {' or '.join(INSTRUMENTS)}")
    return out


def token_counter(tokenizer=None):
    """Tokens of a text: with a transformers tokenizer (name, path or object) when given, else words and
    punctuation marks (``\\w+|[^\\w\\s]``), which the report names as its unit."""
    if tokenizer is None:
        return lambda text: len(_WORDS.findall(text)), "words and punctuation marks"
    if isinstance(tokenizer, str):
        from transformers import AutoTokenizer

        name, tokenizer = tokenizer, AutoTokenizer.from_pretrained(tokenizer)
    else:
        name = getattr(tokenizer, "name_or_path", type(tokenizer).__name__)
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]), f"{name} tokens"


def session_lengths(record: dict, count) -> tuple[float, float]:
    """(average, maximum) tokens of the therapist's turns in one session."""
    lengths = [count(t["content"]) for t in to_dialogue(record) if t["role"] in ("therapist", "counselor")]
    return (sum(lengths) / len(lengths), float(max(lengths))) if lengths else (math.nan, math.nan)


def _column_values(summary: dict, n_sessions: int, columns) -> dict[str, list[float]]:
    """Each column's per-session values, from :func:`summarize`'s sessions (a dimension, else an item)."""
    out = {}
    for column in columns:
        values = []
        for i in range(n_sessions):
            session = summary["sessions"][i] if i < len(summary["sessions"]) else {"dimensions": {}, "items": {}}
            values.append(session["dimensions"].get(column, session["items"].get(column, math.nan)))
        out[column] = values
    return out


def agreement(a: dict, b: dict) -> dict:
    """ICC(2,1) and Krippendorff's alpha (interval) over the units rated by both: {unit: score} each."""
    units = sorted(k for k in a.keys() & b.keys() if not (math.isnan(a[k]) or math.isnan(b[k])))
    pairs = [[a[k], b[k]] for k in units]
    return {
        "n_units": len(units),
        "icc_2_1": stats.icc_2_1(pairs) if pairs else math.nan,
        "krippendorff_alpha": stats.krippendorff_alpha(list(zip(*pairs, strict=True))) if pairs else math.nan,
    }


def _item_scores(judgements: dict, runs: list[Run], weighted: bool) -> dict[str, dict]:
    """instrument -> {(therapist, session_id, item): score} for agreement."""
    records = {r.label: r.records for r in runs}
    out: dict[str, dict] = {}
    for (label, instrument), items in judgements.items():
        for j in items:
            out.setdefault(instrument, {})[label, records[label][j.session]["session_id"], j.item] = j.value(weighted)
    return out


def read_human_ratings(path: str | Path) -> dict[str, dict]:
    """instrument -> {(therapist, session_id, item): score} from a CSV or JSONL file with the columns
    ``therapist, session_id, item, score`` (items: q1..q12 for WAI, criterion names for COUNSELINGEVAL)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    rows = (
        [json.loads(line) for line in text.splitlines() if line.strip()]
        if path.suffix == ".jsonl"
        else list(csv.DictReader(text.splitlines()))
    )
    items = {f"q{i.number}": "wai" for i in wai.WAI_ITEMS} | {
        c.name: "counseling_eval" for c in counseling_eval.CRITERIA
    }
    out: dict[str, dict] = {}
    for n, row in enumerate(rows, 1):
        missing = {"therapist", "session_id", "item", "score"} - row.keys()
        if missing:
            raise MirrorError(
                f"missing {sorted(missing)}", file=str(path), row=n, fix="therapist,session_id,item,score"
            )
        if row["item"] not in items:
            raise MirrorError(f"unknown item {row['item']!r}", file=str(path), row=n, field="item")
        try:
            score = float(row["score"])
        except ValueError as err:
            raise MirrorError(f"score {row['score']!r} is not a number", file=str(path), row=n) from err
        out.setdefault(items[row["item"]], {})[str(row["therapist"]), str(row["session_id"]), row["item"]] = score
    return out


def build_report(
    runs: list[Run],
    judgements: dict[str, dict[tuple[str, str], list[Judgement]]],
    *,
    reference: str | None = None,
    tokenizer=None,
    weighted: bool = False,
    human: dict[str, dict] | None = None,
    confidence: float = 0.95,
    paper: bool = False,
) -> dict:
    """The report as JSON-ready data. ``judgements`` maps each judge's name to :func:`judge_runs`' output; the first
    judge fills the tables, the others (and ``human``) are compared with it. ``paper``: the paper's Tables 2-3
    beside the runs whose names are the paper's therapists' (:mod:`mirror_hf.judges.published`)."""
    if reference is not None and reference not in {r.label for r in runs}:
        raise MirrorError(f"no run named {reference!r}", fix=f"use one of {[r.label for r in runs]}")
    judge_names = list(judgements)
    primary = judgements[judge_names[0]]
    runs_by_label = {r.label: r for r in runs}
    count, unit = token_counter(tokenizer)
    instruments = [i for i in INSTRUMENTS if any(key[1] == i for key in primary)]

    lengths = {r.label: [session_lengths(rec, count) for rec in r.records] for r in runs}
    summaries = {(r.label, i): summarize(primary[r.label, i], weighted=weighted) for r in runs for i in instruments}
    values = {}
    for (label, instrument), summary in summaries.items():
        values[label, instrument] = _column_values(summary, len(runs_by_label[label].records), COLUMNS[instrument])
    resistance = {r.label: [r.resistant(i) for i in range(len(r.records))] for r in runs}
    headline = {}  # label -> session indices the tables use
    for r in runs:
        resistant = [i for i, flag in enumerate(resistance[r.label]) if flag]
        headline[r.label] = resistant or list(range(len(r.records)))

    therapists = {}
    for r in runs:
        flags = resistance[r.label]
        avg = [a for a, _ in lengths[r.label]]
        entry = {
            "path": str(r.path),
            "protocol": r.settings.get("protocol") if r.settings else None,
            "sessions": len(r.records),
            "excluded": r.excluded,
            "resistant": sum(f is True for f in flags),
            "non_resistant": sum(f is False for f in flags),
            "scored_on": "resistant" if any(flags) else "all",
            "length": {"avg": valid_mean(avg), "max": valid_mean([m for _, m in lengths[r.label]]), "unit": unit},
        }
        for instrument in instruments:
            table = {}
            for column, column_values in values[r.label, instrument].items():
                scored = [column_values[i] for i in headline[r.label]]
                ci = stats.mean_ci(scored, confidence)
                cell = {"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n}
                res = [v for v, f in zip(column_values, flags, strict=True) if f is True]
                non = [v for v, f in zip(column_values, flags, strict=True) if f is False]
                cell["delta"] = valid_mean(res) - valid_mean(non) if res and non else math.nan
                if reference and r.label != reference:
                    ref = runs_by_label[reference]
                    ref_values = dict(
                        zip(
                            (rec["session_id"] for rec in ref.records),
                            values[reference, instrument][column],
                            strict=True,
                        )
                    )
                    ids = [r.records[i]["session_id"] for i in headline[r.label]]
                    test = stats.paired_t_test(scored, [ref_values.get(s, math.nan) for s in ids])
                    cell.update(t=test.statistic, p=test.p, n_paired=test.n, significant=bool(test.p < 0.05))
                table[column] = cell
            summary = summaries[r.label, instrument]
            table["n_valid"], table["n_failed"] = summary["n_valid"], summary["n_failed"]
            entry[instrument] = table
        therapists[r.label] = entry

    correlation, controlled = {}, {}
    for instrument in instruments:
        for column in COLUMNS[instrument]:
            xs, ys, groups = [], [], []
            for r in runs:
                for i in headline[r.label]:
                    xs.append(lengths[r.label][i][0])
                    ys.append(values[r.label, instrument][column][i])
                    groups.append(r.label)
            p, s = stats.pearson(xs, ys), stats.spearman(xs, ys)
            correlation.setdefault(instrument, {})[column] = {
                "pearson": p.statistic,
                "pearson_p": p.p,
                "spearman": s.statistic,
                "spearman_p": s.p,
                "n": p.n,
            }
            adjusted = stats.adjusted_means(ys, xs, groups)
            controlled.setdefault(instrument, {})[column] = adjusted
            for label, mean in adjusted["means"].items():
                therapists[label][instrument][column]["length_controlled"] = mean

    agreements = []
    scores = {name: _item_scores(judgements[name], runs, weighted) for name in judge_names}
    others = [(name, scores[name]) for name in judge_names[1:]] + ([("human", human)] if human else [])
    for other, other_scores in others:
        for instrument in instruments:
            if instrument not in other_scores:
                continue
            found = agreement(scores[judge_names[0]].get(instrument, {}), other_scores[instrument])
            agreements.append({"a": judge_names[0], "b": other, "instrument": instrument, **found})

    report = {
        "judge": judge_names[0],
        "judges": judge_names,
        "warnings": protocol_warnings(runs),
        "reference": reference,
        "confidence": confidence,
        "weighted": weighted,
        "length_unit": unit,
        "therapists": therapists,
        "length_correlation": correlation,
        "length_controlled": {
            i: {c: {k: v for k, v in a.items() if k != "means"} for c, a in cols.items()}
            for i, cols in controlled.items()
        },
        "agreement": agreements,
        "_points": {  # for the figures; not written to the JSON
            r.label: {
                "length": [lengths[r.label][i][0] for i in headline[r.label]],
                **{
                    f"{i}/{c}": [values[r.label, i][c][k] for k in headline[r.label]]
                    for i in instruments
                    for c in COLUMNS[i]
                },
            }
            for r in runs
        },
    }
    if paper:
        from mirror_hf.judges.published import compare

        report["paper"] = compare(report)
    return report


def eval_results(report: dict, therapist: str, *, dataset: str = "multimodal-reframing/mirror") -> list:
    """One therapist's column means as ``huggingface_hub.EvalResult`` for a model card's model-index."""
    from huggingface_hub import EvalResult

    if therapist not in report["therapists"]:
        raise MirrorError(f"no therapist {therapist!r} in the report", fix=f"use one of {list(report['therapists'])}")
    entry, judge = report["therapists"][therapist], report["judge"]
    clients = "resistant clients" if entry["scored_on"] == "resistant" else "clients"
    out = []
    for instrument in INSTRUMENTS:
        for column in COLUMNS[instrument] if instrument in entry else ():
            mean, n = entry[instrument][column]["mean"], entry[instrument][column]["n"]
            if mean is None or math.isnan(mean):
                continue
            out.append(
                EvalResult(
                    task_type="image-text-to-text",
                    task_name=f"Simulated CBT sessions with {clients}",
                    dataset_type=dataset,
                    dataset_name="MIRROR eval profiles",
                    dataset_config="eval_profiles",
                    dataset_split="test",
                    metric_type=f"{METRIC_IDS[instrument]}/{column}",
                    metric_name=f"{METRIC_IDS[instrument]} {column} (judge {judge}, n={n})",
                    metric_value=round(mean, 3),
                )
            )
    return out


TITLES = {
    "counseling_eval": "Therapist skills (COUNSELINGEVAL, 0-6)",
    "wai": "Client alliance (WAI, 1-5)",
}


def _num(value: float, digits: int = 3, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def render_markdown(report: dict) -> str:
    lines = [f"# Evaluation report\n\nJudge: `{report['judge']}`"]
    therapists = report["therapists"]
    if report["reference"]:
        lines.append(f"Reference: **{report['reference']}** (`*`: p < 0.05, paired t-test over shared sessions)")
    protocols = {
        label: (t.get("protocol") or {}).get("name", "unrecorded") for label, t in report["therapists"].items()
    }
    lines.append("Protocol: " + ", ".join(f"{label} `{name}`" for label, name in protocols.items()))
    lines += [f"**Warning:** {warning}" for warning in report.get("warnings", [])]
    lines.append(
        "Cells: mean on resistant-client sessions | change relative to non-resistant clients. "
        f"Length: {report['length_unit']} per therapist turn (mean of session averages / of session maxima)."
    )
    for instrument, title in TITLES.items():
        if not any(instrument in t for t in therapists.values()):
            continue
        columns = COLUMNS[instrument]
        names = [c + (" †" if c in NOT_HEADLINE else "") for c in columns]
        lines += [f"\n## {title}\n", "| Therapist | " + " | ".join(names) + " | Avg len | Max len |"]
        lines.append("|---" * (len(columns) + 3) + "|")
        for label, t in therapists.items():
            cells = []
            for c in columns:
                cell = t[instrument][c]
                star = "*" if cell.get("significant") else ""
                cells.append(f"{_num(cell['mean'])}{star} {_num(cell['delta'], sign=True)}")
            lines.append(
                f"| {label} | "
                + " | ".join(cells)
                + f" | {_num(t['length']['avg'], 2)} | {_num(t['length']['max'], 2)} |"
            )
        conf = int(report["confidence"] * 100)
        lines += [f"\n{conf} % confidence intervals and length-controlled means (at the pooled mean length):\n"]
        lines.append("| Therapist | " + " | ".join(names) + " |")
        lines.append("|---" * (len(columns) + 1) + "|")
        for label, t in therapists.items():
            cells = [
                f"{_num(t[instrument][c]['low'], 2)}–{_num(t[instrument][c]['high'], 2)} "
                f"(LC {_num(t[instrument][c].get('length_controlled', math.nan), 2)})"
                for c in columns
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        failed = {label: t[instrument]["n_failed"] for label, t in therapists.items() if t[instrument]["n_failed"]}
        if failed:
            lines.append(f"\nUnreadable judgements left out (NaN, never 0): {failed}")
        if instrument == "counseling_eval":
            lines.append("\n† Strategy is not in the paper's headline: it tracks response length (paper App. D).")
    lines += ["\n## Response length and scores (all therapists, scored sessions)\n"]
    lines += [
        "| Instrument | Column | Pearson r (p) | Spearman ρ (p) | n | slope per token |",
        "|---|---|---|---|---|---|",
    ]
    for instrument, cols in report["length_correlation"].items():
        for column, c in cols.items():
            slope = report["length_controlled"][instrument][column]["slope"]
            lines.append(
                f"| {instrument} | {column} | {_num(c['pearson'])} ({_num(c['pearson_p'], 3)}) | "
                f"{_num(c['spearman'])} ({_num(c['spearman_p'], 3)}) | {c['n']} | {_num(slope, 4)} |"
            )
    if report["agreement"]:
        lines += [
            "\n## Agreement\n",
            "| A | B | Instrument | units | ICC(2,1) | Krippendorff α |",
            "|---|---|---|---|---|---|",
        ]
        for a in report["agreement"]:
            lines.append(
                f"| {a['a']} | {a['b']} | {a['instrument']} | {a['n_units']} | {_num(a['icc_2_1'])} | "
                f"{_num(a['krippendorff_alpha'])} |"
            )
    if report.get("paper"):
        from mirror_hf.judges.published import render_comparison

        lines += render_comparison(report["paper"], TITLES)
    excluded = {label: t["excluded"] for label, t in therapists.items() if t["excluded"]}
    if excluded:
        lines.append(f"\nSessions left out (ended in failure): {excluded}")
    lines.append("\nFigures: `scores.png` (means with confidence intervals), `length_vs_score.png`.")
    return "\n".join(lines) + "\n"


def render_figures(report: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    therapists = report["therapists"]
    columns = [(i, c) for i in TITLES for c in COLUMNS[i] if any(i in t for t in therapists.values())]
    written = []

    def panels(width: float, height: float):
        """One panel per column, five to a row."""
        ncols = min(5, len(columns))
        nrows = -(-len(columns) // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
        for ax in axes.flat[len(columns) :]:
            ax.set_visible(False)
        return fig, list(axes.flat)

    def save(fig, axes, name: str) -> None:
        """One legend of the therapists under the panels, then the PNG."""
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncols=min(len(labels), 6), fontsize=7)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        written.append(out / name)

    fig, axes = panels(2.2, 2.6)
    for ax, (instrument, column) in zip(axes, columns, strict=False):
        for k, (label, t) in enumerate(therapists.items()):
            cell = t[instrument][column]
            err = [[cell["mean"] - cell["low"]], [cell["high"] - cell["mean"]]] if cell["n"] > 1 else None
            ax.bar(k, cell["mean"], yerr=err, capsize=3, label=label, color=f"C{k}")
        ax.set_title(f"{column.replace('_', ' ')} ({'WAI' if instrument == 'wai' else 'CE'})", fontsize=8)
        ax.set_xticks([])
    save(fig, axes, "scores.png")

    fig, axes = panels(2.4, 2.4)
    for ax, (instrument, column) in zip(axes, columns, strict=False):
        for k, label in enumerate(therapists):
            points = report["_points"][label]
            ax.scatter(points["length"], points[f"{instrument}/{column}"], s=8, color=f"C{k}", label=label, alpha=0.7)
        r = report["length_correlation"][instrument][column]["pearson"]
        ax.set_title(f"{column.replace('_', ' ')}  r={_num(r, 2)}", fontsize=8)
        ax.set_xlabel(f"{report['length_unit']} per turn", fontsize=6)
    save(fig, axes, "length_vs_score.png")
    return written


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def write_report(report: dict, out_dir: str | Path, judgements: dict | None = None, runs=None) -> dict[str, Path]:
    """``report.json`` (NaN as null), ``report.md``, the two PNG figures, and with ``judgements`` every prompt and
    raw answer under ``judgements/`` (rows of ``schema.JUDGEMENT_FEATURES``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in report.items() if not k.startswith("_")}
    (out / EVAL_REPORT_FILE).write_text(json.dumps(_json_safe(data), indent=2) + "\n", encoding="utf-8")
    (out / EVAL_MARKDOWN_FILE).write_text(render_markdown(report), encoding="utf-8")
    paths = {"json": out / EVAL_REPORT_FILE, "markdown": out / EVAL_MARKDOWN_FILE}
    for path in render_figures(report, out):
        paths[path.stem] = path
    if judgements and runs:
        ids = {r.label: [rec["session_id"] for rec in r.records] for r in runs}
        for k, (name, by_run) in enumerate(judgements.items()):
            for (label, instrument), items in by_run.items():
                path = out / JUDGEMENTS_CONFIG / f"{label}.{instrument}.judge{k}.jsonl"
                path.parent.mkdir(exist_ok=True)
                with path.open("w", encoding="utf-8") as f:
                    for j in items:
                        session_id = ids[label][j.session]
                        row = {"run": label, "judge": name, "session_id": session_id, **dataclasses.asdict(j)}
                        f.write(json.dumps(_json_safe(row), ensure_ascii=False) + "\n")
    return paths
