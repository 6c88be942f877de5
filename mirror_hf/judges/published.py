"""The paper's published Tables 2-3 as data, to set beside a reproduction: each therapist's mean on resistant-client
sessions, the change relative to non-resistant clients (the value after the paper's vertical bar), whether it differs
significantly from MIRROR-LLaVA_P+EC (the paper's asterisk), and Table 2's response length (tokens per turn,
average and maximum). Judge: gpt-4o-2024-08-06; client: gpt-3.5-turbo-0125; 600 resistant and 200 non-resistant
test profiles.

Example:
    >>> PUBLISHED["counseling_eval"]["MIRROR-LLaVA_P+EC"]["understanding"]
    (4.0, 0.01, False)
    >>> paper_name("mirror-llava p+ec")
    'MIRROR-LLaVA_P+EC'
"""

from __future__ import annotations

import re

SOURCE = (
    "Kim et al., MIRROR: Multimodal Cognitive Reframing Therapy for Rolling with Resistance: Table 2 (therapist "
    "skills, COUNSELINGEVAL 0-6, judged by GPT-4o) and Table 3 (client alliance, WAI 1-5, judged by GPT-4o)"
)
THERAPISTS = (
    "LLaMA-3-8B",
    "CAMEL-LLaMA3",
    "GPT-3.5-turbo",
    "LLaVA-v1.5-7B",
    "MIRROR-LLaVA",
    "MIRROR-LLaVA_P",
    "MIRROR-LLaVA_P+EC",
)
_T2_COLUMNS = ("understanding", "interpersonal_effectiveness", "collaboration", "guided_discovery", "focus")
_T3_COLUMNS = ("goal", "approach", "bond")
# Each row as the paper prints it: per column, the mean (an asterisk: significantly different from P+EC) and the
# change relative to non-resistant clients.
_T2 = {
    "LLaMA-3-8B": "3.811* -0.073 | 4.114 -0.012 | 2.734* -0.311 | 3.689* -0.096 | 3.692* -0.057",
    "CAMEL-LLaMA3": "3.794* -0.085 | 4.003* -0.002 | 2.279* -0.198 | 3.527* -0.127 | 3.563* -0.197",
    "GPT-3.5-turbo": "3.798* -0.172 | 4.049 -0.041 | 2.976* -0.194 | 3.462* -0.262 | 3.491* -0.238",
    "LLaVA-v1.5-7B": "3.622* -0.066 | 3.997* +0.007 | 3.408* +0.071 | 2.494* +0.057 | 2.501* -0.012",
    "MIRROR-LLaVA": "3.973* -0.017 | 4.025 -0.040 | 3.576* -0.089 | 3.875* -0.025 | 3.888* -0.012",
    "MIRROR-LLaVA_P": "3.985 -0.015 | 4.098 +0.063 | 3.722* +0.117 | 3.915* -0.040 | 3.915* +0.015",
    "MIRROR-LLaVA_P+EC": "4.000 +0.010 | 4.055 +0.010 | 3.913 -0.082 | 3.977 +0.007 | 3.977 +0.037",
}
LENGTH = {  # Table 2, response length in tokens per therapist turn: (average, maximum)
    "LLaMA-3-8B": (59.36, 104.59),
    "CAMEL-LLaMA3": (20.54, 27.42),
    "GPT-3.5-turbo": (36.19, 57.28),
    "LLaVA-v1.5-7B": (112.41, 177.11),
    "MIRROR-LLaVA": (27.68, 32.14),
    "MIRROR-LLaVA_P": (27.00, 32.02),
    "MIRROR-LLaVA_P+EC": (27.55, 34.20),
}
_T3 = {
    "LLaMA-3-8B": "2.412* -0.023 | 3.309* -0.107 | 3.356* -0.138",
    "CAMEL-LLaMA3": "2.358* -0.009 | 3.130* -0.072 | 3.149* -0.203",
    "GPT-3.5-turbo": "2.472* -0.018 | 3.272* -0.168 | 3.297* -0.253",
    "LLaVA-v1.5-7B": "2.589 -0.048 | 3.234* -0.181 | 3.356* -0.163",
    "MIRROR-LLaVA": "2.459* -0.033 | 3.289* -0.060 | 3.400* -0.092",
    "MIRROR-LLaVA_P": "2.525* +0.033 | 3.340 -0.005 | 3.448 -0.051",
    "MIRROR-LLaVA_P+EC": "2.567 +0.035 | 3.366 -0.003 | 3.480 -0.024",
}


def _table(rows: dict, columns: tuple[str, ...]) -> dict:
    """name -> column -> (mean, change vs non-resistant, significant vs P+EC), from the printed rows."""
    out = {}
    for name, printed in rows.items():
        cells = [cell.split() for cell in printed.split("|")]
        out[name] = {
            column: (float(mean.rstrip("*")), float(delta), mean.endswith("*"))
            for column, (mean, delta) in zip(columns, cells, strict=True)
        }
    return out


PUBLISHED = {"counseling_eval": _table(_T2, _T2_COLUMNS), "wai": _table(_T3, _T3_COLUMNS)}

# Tables 4-6 (Appendix E.1): the expert pairwise study, two annotators, 200 cases. Row beats column, in %, and each
# model's win rate. Each pair's two cells sum to 100 (ties are split or left out; the paper does not say which).
# The win rate is the mean of the row's cells, except LLaMA-3-8B's in Table 4 (printed 38.09; its row's mean: 39.24).
PAIRWISE_SOURCE = "Kim et al., MIRROR: Tables 4-6 (pairwise comparison by two domain experts, 200 test cases)"
PAIRWISE_MODELS = ("LLaMA-3-8B", "CAMEL-LLaMA3", "MIRROR-LLaVA_P+EC")
_T456 = {  # dimension -> the rows as printed: the cells against each model in PAIRWISE_MODELS order, then the win rate
    "goal": ("- 42.13 36.34 38.09", "57.87 - 43.43 50.65", "65.95 56.57 - 61.26"),
    "approach": ("- 44.72 34.77 39.75", "55.28 - 43.97 49.62", "65.23 56.03 - 60.63"),
    "bond": ("- 40.19 49.35 44.77", "50.65 - 42.46 46.55", "59.81 57.54 - 58.67"),
}
PAIRWISE = {
    dimension: {
        "beats": {
            row: {col: float(v) for col, v in zip(PAIRWISE_MODELS, line.split()[:3], strict=True) if v != "-"}
            for row, line in zip(PAIRWISE_MODELS, lines, strict=True)
        },
        "win_rate": {row: float(line.split()[3]) for row, line in zip(PAIRWISE_MODELS, lines, strict=True)},
    }
    for dimension, lines in _T456.items()
}
REFERENCE = "MIRROR-LLaVA_P+EC"


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9+]", "", name.lower())


def paper_name(label: str) -> str | None:
    """The paper's name for a run label, spelled any way (case, dashes, underscores, spaces); None if none."""
    return {_key(n): n for n in THERAPISTS}.get(_key(label))


def compare(report: dict) -> dict:
    """Our report's numbers beside the paper's, for every run whose label names one of the paper's therapists:
    label -> {paper's name, per instrument and column: ours, the paper's, the gap (ours - paper), both changes
    vs non-resistant clients and both significance marks; and the response lengths}."""
    rows = {}
    for label, entry in report["therapists"].items():
        name = paper_name(label)
        if name is None:
            continue
        row = {"paper_name": name}
        for instrument, table in PUBLISHED.items():
            if instrument not in entry:
                continue
            cells = {}
            for column, (mean, delta, star) in table[name].items():
                ours = entry[instrument][column]
                cells[column] = {
                    "ours": ours["mean"],
                    "paper": mean,
                    "gap": None if ours["mean"] is None else ours["mean"] - mean,
                    "ours_delta": ours.get("delta"),
                    "paper_delta": delta,
                    "ours_significant": ours.get("significant"),
                    "paper_significant": star,
                }
            row[instrument] = cells
        row["length"] = {
            "ours": [entry["length"]["avg"], entry["length"]["max"]],
            "paper": list(LENGTH[name]),
            "unit": entry["length"]["unit"],
        }
        rows[label] = row
    return {"source": SOURCE, "therapists": rows}


def _cell(value) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:.3f}"


def render_comparison(comparison: dict, titles: dict) -> list[str]:
    """Markdown lines: per instrument, each therapist's mean and the paper's, with the gap."""
    rows = comparison["therapists"]
    if not rows:
        return []
    lines = [
        "\n## Beside the paper (Tables 2-3)\n",
        f"Source: {comparison['source']}. Cells: ours / the paper's (gap); `*` marks a significant difference from "
        "the reference (ours) and the paper's asterisk.",
    ]
    for instrument, title in titles.items():
        present = [label for label, row in rows.items() if instrument in row]
        if not present:
            continue
        columns = list(PUBLISHED[instrument][REFERENCE])
        lines += [f"\n### {title}\n", "| Therapist (paper's name) | " + " | ".join(columns) + " |"]
        lines.append("|---" * (len(columns) + 1) + "|")
        for label in present:
            row = rows[label]
            cells = []
            for column in columns:
                c = row[instrument][column]
                ours_star = "*" if c["ours_significant"] else ""
                paper_star = "*" if c["paper_significant"] else ""
                gap = "–" if c["gap"] is None or c["gap"] != c["gap"] else f"{c['gap']:+.3f}"
                cells.append(f"{_cell(c['ours'])}{ours_star} / {c['paper']:.3f}{paper_star} ({gap})")
            lines.append(f"| {label} ({row['paper_name']}) | " + " | ".join(cells) + " |")
    lines += ["\nResponse length per therapist turn, average / maximum: ours (unit) and the paper's (tokens):\n"]
    lines += ["| Therapist | ours | paper |", "|---|---|---|"]
    for label, row in rows.items():
        ours, paper = row["length"]["ours"], row["length"]["paper"]
        lines.append(
            f"| {label} | {_cell(ours[0])} / {_cell(ours[1])} ({row['length']['unit']}) | {paper[0]} / {paper[1]} |"
        )
    return lines
