"""A pairwise study's answers as the paper reports them (Tables 4-6, Figure 5), and more: per dimension, how often
each therapist beats each other one (row beats column, %), each one's win rate (the mean of its row, as the paper's
tables compute it), Bradley-Terry strengths with bootstrap 95 % intervals (cases resampled, seeded), agreement
between annotators (Cohen's kappa per pair, Krippendorff's alpha over all), the same tables per resistance type, an
LLM judge's verdicts beside the humans' with its position consistency and its kappa with each annotator, and the
paper's published numbers beside ours when the study compares the paper's three systems.

Ties: ``half`` (the default) counts a tie as half a win for each side, so a pair's two cells sum to 100 over all its
comparisons; ``exclude`` leaves ties out (decided comparisons only). Both give the paper's cells that sum to 100;
the paper does not say which it used, and the report says which it used. Every annotator's answer is one
comparison (the paper pooled its two experts the same way, as far as its tables show).

Example:
    >>> report = build_report("study/")                               # doctest: +SKIP
    >>> report["dimensions"]["goal"]["win_rate"]                      # doctest: +SKIP
    {'LLaMA-3-8B': 38.5, 'CAMEL-LLaMA3': 50.2, 'MIRROR-LLaVA_P+EC': 61.3}
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

from mirror_hf.errors import MirrorError
from mirror_hf.judges import stats
from mirror_hf.judges.published import PAIRWISE, PAIRWISE_MODELS, PAIRWISE_SOURCE, paper_name
from mirror_hf.pairwise.answer_store import CHOICES, AnswerError, read_answer_file
from mirror_hf.pairwise.study import ANSWERS_DIR, read_items, read_study

TIES = ("half", "exclude")
TITLES = {"goal": "Goal", "approach": "Approach", "bond": "Affective bond"}
REPORT_JSON, REPORT_MARKDOWN, FIGURE = "pairwise_report.json", "pairwise_report.md", "win_rates.png"


def read_answers(study: dict, folders: list[Path], items: dict[str, dict]) -> tuple[dict, dict]:
    """(annotator, item id) -> the annotator's latest answers, from every ``*.jsonl`` of ``folders``; and notes: the
    files read and the torn last lines left out. Answers of another study, to unknown items or by annotators the
    study does not name are errors that name the file and line; nothing is changed on disk."""
    answers, notes = {}, {"files": [], "torn_lines_left_out": []}
    declared = set(study.get("annotators") or ())
    for folder in folders:
        for path in sorted(Path(folder).glob("*.jsonl")):
            try:
                records, torn = read_answer_file(path)
            except AnswerError as err:
                raise MirrorError(str(err), fix="remove that line (every other answer stays valid)") from None
            notes["files"].append(str(path))
            if torn:
                notes["torn_lines_left_out"].append(str(path))
            for n, record in enumerate(records, 1):
                where = f"{path}, answer {n}"
                if record.get("study_id") != study["study_id"]:
                    raise MirrorError(
                        f"{where}: an answer to study {record.get('study_id')}, not to this one ({study['study_id']})",
                        fix="keep each study's answers in its own folder",
                    )
                if record["item_id"] not in items:
                    raise MirrorError(f"{where}: no item {record['item_id']!r} in this study", fix="check the file")
                if declared and record["annotator"] not in declared:
                    raise MirrorError(
                        f"{where}: annotator {record['annotator']!r} is not one of the study's "
                        f"({', '.join(sorted(declared))})",
                        fix="sample the study with them in --annotators, or move their file out of the answers folder",
                    )
                bad = {d: c for d, c in record["answers"].items() if c not in CHOICES}
                if bad:
                    raise MirrorError(f"{where}: answers must be {'/'.join(CHOICES)}, not {bad}")
                answers[(record["annotator"], record["item_id"])] = record["answers"]
    return answers, notes


def outcomes(answers: dict, items: dict[str, dict], dimension: str) -> list[dict]:
    """One comparison per answer to ``dimension``: the item's two models and the winner (None: a tie)."""
    out = []
    for (annotator, item_id), choice in sorted(answers.items()):
        picked = choice.get(dimension)
        if picked is None:
            continue
        item = items[item_id]
        winner = {"A": item["model_a"], "B": item["model_b"], "Tie": None}[picked]
        out.append(
            {
                "annotator": annotator,
                "item_id": item_id,
                "profile_idx": item["profile_idx"],
                "resistance": item["resistance"],
                "models": (item["model_a"], item["model_b"]),
                "winner": winner,
            }
        )
    return out


def _tally(comparisons: list[dict], models: list[str]) -> dict:
    """row -> column -> [wins of row, ties]."""
    tally = {m: {o: [0, 0] for o in models if o != m} for m in models}
    for c in comparisons:
        a, b = c["models"]
        if c["winner"] is None:
            tally[a][b][1] += 1
            tally[b][a][1] += 1
        else:
            loser = b if c["winner"] == a else a
            tally[c["winner"]][loser][0] += 1
    return tally


def win_table(comparisons: list[dict], models: list[str], ties: str = "half") -> dict:
    """``beats[row][col]``: % of their comparisons that row won (ties as ``ties`` says), ``win_rate[row]``: the mean
    of the row's cells (the paper's Win Rate column), ``pooled[row]``: wins over all its comparisons, the counts."""
    tally = _tally(comparisons, models)
    beats, counts, pooled = {}, {}, {}
    for m in models:
        beats[m], counts[m] = {}, {}
        wins_all, n_all = 0.0, 0
        for o in models:
            if o == m:
                continue
            wins, tied = tally[m][o]
            lost = tally[o][m][0]
            counts[m][o] = {"wins": wins, "ties": tied, "losses": lost}
            won = wins + (0.5 * tied if ties == "half" else 0)
            n = wins + lost + (tied if ties == "half" else 0)
            beats[m][o] = 100 * won / n if n else math.nan
            wins_all, n_all = wins_all + won, n_all + n
        pooled[m] = 100 * wins_all / n_all if n_all else math.nan
    win_rate = {m: stats.valid_mean(list(beats[m].values())) for m in models}
    return {"beats": beats, "win_rate": win_rate, "pooled": pooled, "counts": counts}


def bradley_terry(comparisons: list[dict], models: list[str], ties: str = "half", iterations: int = 2000) -> dict:
    """Bradley-Terry strengths (maximum likelihood, Hunter's MM algorithm) as shares that sum to 1, so that
    P(i beats j) = s_i / (s_i + s_j); a tie is half a win each way with ``ties="half"``, left out with ``exclude``."""
    k = len(models)
    index = {m: i for i, m in enumerate(models)}
    wins, games = np.zeros((k, k)), np.zeros((k, k))
    for c in comparisons:
        a, b = (index[m] for m in c["models"])
        if c["winner"] is None:
            if ties == "half":
                wins[a, b] += 0.5
                wins[b, a] += 0.5
                games[a, b] += 1
                games[b, a] += 1
            continue
        w = index[c["winner"]]
        wins[w, b if w == a else a] += 1
        games[a, b] += 1
        games[b, a] += 1
    p = np.full(k, 1.0 / k)
    total = wins.sum(axis=1)
    for _ in range(iterations):
        pair = p[:, None] + p[None, :]
        denominator = np.divide(games, pair, out=np.zeros_like(games), where=(games > 0) & (pair > 0)).sum(axis=1)
        new = np.divide(total, denominator, out=np.zeros(k), where=denominator > 0)
        new = new / new.sum() if new.sum() else np.full(k, 1.0 / k)
        if np.abs(new - p).max() < 1e-12:
            p = new
            break
        p = new
    return {m: float(p[i]) for m, i in index.items()}


def bootstrap_strengths(comparisons, models, ties="half", *, samples=1000, seed=0, confidence=0.95) -> dict:
    """Percentile intervals of the Bradley-Terry shares over ``samples`` resamplings of the cases (a case's items and
    all its answers move together: they share a client), seeded."""
    by_case = defaultdict(list)
    for c in comparisons:
        by_case[c["profile_idx"]].append(c)
    cases = sorted(by_case)
    rng = random.Random(seed)
    draws = {m: [] for m in models}
    for _ in range(samples if cases else 0):
        resample = [c for case in rng.choices(cases, k=len(cases)) for c in by_case[case]]
        for m, s in bradley_terry(resample, models, ties).items():
            draws[m].append(s)
    low, high = (1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100
    return {
        m: (float(np.percentile(d, low)), float(np.percentile(d, high))) if d else (math.nan, math.nan)
        for m, d in draws.items()
    }


def agreement(answers: dict, dimension: str, raters: list[str], items: list[str]) -> dict:
    """Between each pair of ``raters`` on the items both answered: Cohen's kappa, the share of equal answers, n;
    and Krippendorff's alpha (nominal) over all of them."""
    code = {c: float(i) for i, c in enumerate(CHOICES)}
    pairs = {}
    for x, y in combinations(raters, 2):
        both = [i for i in items if (x, i) in answers and (y, i) in answers]
        a = [answers[(x, i)].get(dimension) for i in both]
        b = [answers[(y, i)].get(dimension) for i in both]
        same = [p == q for p, q in zip(a, b, strict=True) if p is not None and q is not None]
        pairs[f"{x} vs {y}"] = {
            "kappa": stats.cohen_kappa(a, b),
            "agreement": sum(same) / len(same) if same else math.nan,
            "n": len(same),
        }
    matrix = [[code.get((answers.get((r, i)) or {}).get(dimension), math.nan) for i in items] for r in raters]
    alpha = stats.krippendorff_alpha(matrix, "nominal") if len(raters) > 1 else math.nan
    return {"pairs": pairs, "krippendorff_alpha": alpha}


def _tables(answers, items, models, dimensions, ties, bootstrap, seed) -> dict:
    out = {}
    for d in dimensions:
        comparisons = outcomes(answers, items, d)
        table = win_table(comparisons, models, ties)
        table["comparisons"] = len(comparisons)
        table["tie_share"] = (
            sum(c["winner"] is None for c in comparisons) / len(comparisons) if comparisons else math.nan
        )
        table["bradley_terry"] = bradley_terry(comparisons, models, ties)
        table["bradley_terry_ci"] = bootstrap_strengths(comparisons, models, ties, samples=bootstrap, seed=seed)
        out[d] = table
    return out


def build_report(
    study_dir: str | Path,
    *,
    answers: list[str | Path] = (),
    ties: str = "half",
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict:
    """The report of the study in ``study_dir``, from the answers in its ``answers/`` folder and in ``answers``
    (e.g. a pulled copy of the Hub dataset the app pushed to), and any LLM judge in its ``judges/``."""
    from mirror_hf.pairwise.judge import combine, read_judges

    if ties not in TIES:
        raise MirrorError(f"--ties {ties!r}", fix=f"use one of {', '.join(TIES)}")
    if bootstrap < 0:
        raise MirrorError(f"--bootstrap {bootstrap}", fix="use 0 (no intervals) or more resamplings")
    study_dir = Path(study_dir)
    study = read_study(study_dir)
    items = {r["item_id"]: r for r in read_items(study_dir)}
    models = list(study["runs"])
    dimensions = tuple(study["dimensions"])
    folders = [study_dir / ANSWERS_DIR, *map(Path, answers)]
    for folder in folders[1:]:
        if not folder.is_dir():
            raise MirrorError("no such answers folder", file=str(folder), fix="give a folder of *.jsonl answers")
    human, notes = read_answers(study, folders, items)
    annotators = sorted({a for a, _ in human})
    report = {
        "study_id": study["study_id"],
        "models": models,
        "dimensions": list(dimensions),
        "ties": ties,
        "bootstrap": {"samples": bootstrap, "seed": seed, "confidence": 0.95},
        "annotators": {a: sum(k[0] == a for k in human) for a in annotators},
        "items": len(items),
        "answers": notes,
        "humans": _tables(human, items, models, dimensions, ties, bootstrap, seed),
        "agreement": {d: agreement(human, d, annotators, sorted(items)) for d in dimensions},
        "per_resistance": {},
        "judges": {},
    }
    for resistance in sorted({r["resistance"] for r in items.values()} - {None}):  # none: a study of real sessions
        subset = {k: v for k, v in human.items() if items[k[1]]["resistance"] == resistance}
        report["per_resistance"][resistance] = {
            d: win_table(outcomes(subset, items, d), models, ties) for d in dimensions
        }
    for judge, records in read_judges(study_dir).items():
        verdicts, consistency = combine([r for r in records if r.get("study_id") == study["study_id"]], dimensions)
        as_answers = {(f"judge:{judge}", item): v for item, v in verdicts.items()}
        with_humans = {d: {a: _kappa_with(human, a, verdicts, d) for a in annotators} for d in dimensions}
        report["judges"][judge] = {
            "items": len(verdicts),
            "position_consistency": consistency,
            "tables": _tables(as_answers, items, models, dimensions, ties, 0, seed),
            "kappa_with_annotators": with_humans,
        }
    report["paper"] = _paper(models)
    return report


def _kappa_with(human: dict, annotator: str, verdicts: dict, dimension: str) -> float:
    """Cohen's kappa of a judge's verdicts and one annotator's answers, on the items both answered."""
    keys = [(annotator, i) for i in verdicts if (annotator, i) in human]
    both = [(human[k].get(dimension), verdicts[k[1]][dimension]) for k in keys]
    return stats.cohen_kappa(*zip(*both, strict=True)) if both else math.nan


def _paper(models: list[str]) -> dict | None:
    """The paper's Tables 4-6 under our run labels, when the study compares exactly the paper's three systems."""
    names = {m: paper_name(m) for m in models}
    if sorted(n or "" for n in names.values()) != sorted(PAIRWISE_MODELS):
        return None
    label = {n: m for m, n in names.items()}
    return {
        "source": PAIRWISE_SOURCE,
        "dimensions": {
            d: {
                "beats": {label[r]: {label[c]: v for c, v in row.items()} for r, row in table["beats"].items()},
                "win_rate": {label[r]: v for r, v in table["win_rate"].items()},
            }
            for d, table in PAIRWISE.items()
        },
    }


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f}"


def _win_markdown(table: dict, models: list[str], paper: dict | None = None, strengths: bool = True) -> list[str]:
    header = "| | " + " | ".join(models) + " | Win rate (%) |" + (" BT share [95% CI] |" if strengths else "")
    lines = [header, "|---" * (len(models) + 2 + strengths) + "|"]
    for m in models:
        cells = [("–" if o == m else _pct(table["beats"][m][o])) for o in models]
        row = f"| **{m}** | " + " | ".join(cells) + f" | {_pct(table['win_rate'][m])} |"
        if strengths:
            low, high = table["bradley_terry_ci"][m]
            ci = "" if math.isnan(low) else f" [{low:.3f}, {high:.3f}]"
            row += f" {table['bradley_terry'][m]:.3f}{ci} |"
        lines.append(row)
        if paper:
            cells = [("–" if o == m else _pct(paper["beats"][m][o])) for o in models]
            filler = " |" if strengths else ""
            cells = " | ".join(f"*{c}*" for c in cells)
            lines.append(f"| *paper* | {cells} | *{paper['win_rate'][m]:.2f}* |{filler}")
    return lines


def render_markdown(report: dict) -> str:
    models = report["models"]
    ties = "half a win for each side" if report["ties"] == "half" else "left out (decided comparisons only)"
    boot = report["bootstrap"]
    out = [
        "# Pairwise study",
        "",
        f"Study `{report['study_id']}`: {report['items']} items, "
        + ", ".join(f"{a} {n} answers" for a, n in report["annotators"].items())
        + ".",
        "",
        f"Row beats column, % of their comparisons (every annotator's answer counts once); ties count as {ties} "
        f"(`--ties {report['ties']}`). Win rate: the mean of the row, as the paper's Tables 4-6. BT share: "
        f"Bradley-Terry strength (shares sum to 1), with a {int(boot['confidence'] * 100)} % "
        f"interval from {boot['samples']} resamplings of the cases (seed {boot['seed']}).",
    ]
    torn = report["answers"]["torn_lines_left_out"]
    if torn:
        out += ["", f"Left out: a torn last line (never saved) in {', '.join(torn)}."]
    paper = report.get("paper")
    for d in report["dimensions"]:
        table = report["humans"][d]
        out += ["", f"## {TITLES.get(d, d)}", ""]
        out += [f"{table['comparisons']} comparisons, {_pct(100 * table['tie_share'])} % ties.", ""]
        out += _win_markdown(table, models, paper["dimensions"][d] if paper else None)
    if paper:
        out += ["", f"*Italic rows*: {paper['source']}."]
    out += ["", "## Agreement between annotators", ""]
    out += ["| dimension | pair | Cohen's κ | agreement | n |", "|---|---|---|---|---|"]
    for d, entry in report["agreement"].items():
        for pair, v in entry["pairs"].items():
            out.append(f"| {TITLES.get(d, d)} | {pair} | {_pct(v['kappa'])} | {_pct(v['agreement'])} | {v['n']} |")
        alpha = _pct(entry["krippendorff_alpha"])
        out.append(f"| {TITLES.get(d, d)} | all (Krippendorff's α, nominal) | {alpha} | | |")
    out += ["", "## By resistance type"]
    for resistance, tables in report["per_resistance"].items():
        out += ["", f"### {resistance}"]
        for d, table in tables.items():
            out += ["", f"{TITLES.get(d, d)}:", ""] + _win_markdown(table, models, strengths=False)
    for judge, entry in report["judges"].items():
        c = entry["position_consistency"]
        out += ["", f"## LLM judge: {judge}", ""]
        out += [
            f"{entry['items']} items judged in both orders; a verdict that changes with the order counts as a tie. "
            f"Position consistency: {_pct(100 * c['consistency'])} % of {c['compared']} verdicts.",
        ]
        for d, table in entry["tables"].items():
            kappas = ", ".join(f"{a} {_pct(k)}" for a, k in entry["kappa_with_annotators"][d].items())
            out += ["", f"{TITLES.get(d, d)} (κ with annotators: {kappas or 'none'}):", ""]
            out += _win_markdown(table, models, strengths=False)
    return "\n".join(out) + "\n"


def render_figure(report: dict, path: Path) -> Path:
    """Each model's win rate per dimension (Figure 5's view), the paper's as dots when it is beside ours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models, dims = report["models"], report["dimensions"]
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(2 + 1.6 * len(dims), 3.6))
    for k, m in enumerate(models):
        x = [i + (k - (len(models) - 1) / 2) * width for i in range(len(dims))]
        values = [report["humans"][d]["win_rate"][m] for d in dims]
        bars = ax.bar(x, values, width, label=m)
        ax.bar_label(bars, labels=[_pct(v) for v in values], fontsize=7)
        if report.get("paper"):
            paper = [report["paper"]["dimensions"][d]["win_rate"][m] for d in dims]
            ax.plot(x, paper, "k_", markersize=14, label="paper" if k == 0 else None)
    ax.axhline(50, color="grey", linewidth=0.6)
    ax.set_xticks(range(len(dims)), [TITLES.get(d, d) for d in dims])
    ax.set_ylabel("win rate (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(models) + 1, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_report(report: dict, out: str | Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / REPORT_JSON, "markdown": out / REPORT_MARKDOWN, "figure": out / FIGURE}
    paths["json"].write_text(json.dumps(_json_safe(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    render_figure(report, paths["figure"])
    return paths


__all__ = ["TIES", "agreement", "bootstrap_strengths", "bradley_terry", "build_report", "win_table", "write_report"]
