"""`mirror-hf evaluate`: judge session runs with COUNSELINGEVAL and WAI into a report like the paper's Tables 2-3."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mirror_hf.cli._format import add_command
from mirror_hf.cli._options import MODEL_SPECS, add_backend_arguments, add_reask_argument, backend_options, comma_list
from mirror_hf.errors import MirrorError


def register(subparsers) -> None:
    evaluate = add_command(
        subparsers,
        "evaluate",
        help="judge session runs with COUNSELINGEVAL and WAI and write a report like the paper's Tables 2-3",
        description="Judge every complete session of each run (one call per session and item, cached, unreadable "
        "answers re-asked then left out as NaN) and write OUT/report.json, report.md, scores.png, "
        "length_vs_score.png and every prompt and judgement under OUT/judgements/.",
        epilog=f"{MODEL_SPECS}\n\nexample:\n  mirror-hf evaluate P+EC=runs/sim-pec LLaVA=runs/sim-llava "
        "--judge openai:gpt-4o --reference P+EC --out eval/",
    )
    evaluate.add_argument(
        "sessions",
        nargs="+",
        metavar="[NAME=]RUN",
        help="run folders of mirror-hf simulate, sessions dataset folders, or hf://datasets/ORG/NAME[@REVISION]",
    )
    evaluate.add_argument(
        "--judge",
        action="append",
        required=True,
        metavar="SPEC",
        help="the judge model (paper: openai:gpt-4o); give it twice to measure agreement, the first fills the tables",
    )
    evaluate.add_argument("--out", required=True, metavar="DIR", help="the report's folder")
    evaluate.add_argument("--reference", metavar="NAME", help="the therapist others are t-tested against (paper: P+EC)")
    evaluate.add_argument("--instruments", default="counseling_eval,wai", metavar="A,B", help="what to judge with")
    evaluate.add_argument("--rubrics", metavar="DIR", help="CACTUS prompts/ folder (default: fetched, SHA-256 checked)")
    evaluate.add_argument("--wai-guidelines", metavar="FILE", help='JSON {"1": ..., "12": ...} of WAI item guidelines')
    evaluate.add_argument("--human-ratings", metavar="FILE", help="CSV/JSONL therapist,session_id,item,score")
    evaluate.add_argument("--tokenizer", metavar="NAME", help="count response length with this tokenizer")
    evaluate.add_argument("--weighted", action="store_true", help="probability-weighted scores from logprobs")
    evaluate.add_argument("--samples", type=int, default=1, metavar="N", help="judgements per item, averaged")
    evaluate.add_argument(
        "--paper",
        action="store_true",
        help="set the paper's Tables 2-3 beside the runs named as its therapists (LLaMA-3-8B, CAMEL-LLaMA3, "
        "GPT-3.5-turbo, LLaVA-v1.5-7B, MIRROR-LLaVA, MIRROR-LLaVA_P, MIRROR-LLaVA_P+EC)",
    )
    add_backend_arguments(evaluate, at_once="judge calls")
    add_reask_argument(evaluate)
    evaluate.add_argument(
        "--model-card",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="write therapist NAME's scores into the model card (README.md) of the adapter in DIR, as model-index",
    )
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(handler=run_evaluate)


def _local_run(spec: str) -> str:
    """``[NAME=]hf://datasets/ORG/NAME[@REV]`` -> ``NAME=`` a local copy (pulled into the cache); others unchanged."""
    label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
    if not path.startswith("hf://"):
        return spec
    from mirror_hf.hub import pull
    from mirror_hf.paths import cache_dir

    repo, _, revision = path.removeprefix("hf://datasets/").partition("@")
    if not path.startswith("hf://datasets/") or repo.count("/") != 1:
        raise MirrorError(f"cannot read {path!r} as a Hub dataset", fix="write hf://datasets/ORG/NAME[@REVISION]")
    revision = revision or None
    local = pull(repo, cache_dir() / "sessions" / repo.replace("/", "--") / (revision or "main"), revision=revision)
    return f"{label or repo.split('/')[1]}={local}"


def run_evaluate(args) -> int:
    import asyncio

    from mirror_hf.judges import counseling_eval, report, wai
    from mirror_hf.llm import load_backend
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.schema import JUDGEMENTS_CONFIG

    instruments = comma_list(args.instruments)
    unknown = sorted(set(instruments) - set(report.INSTRUMENTS))
    if unknown:
        raise MirrorError(f"unknown instrument(s) {unknown}", fix=f"use {','.join(report.INSTRUMENTS)}")
    claim_output_dir(args.out, command="evaluate", markers=(JUDGEMENTS_CONFIG,), force_flag=None)
    runs = report.load_runs([_local_run(spec) for spec in args.sessions])
    for warning in report.protocol_warnings(runs):
        print(f"warning: {warning}", file=sys.stderr)
    labels = [r.label for r in runs]
    if args.reference and args.reference not in labels:
        raise MirrorError(f"--reference {args.reference!r} names no run", fix=f"use one of {labels}")
    cards = {}  # checked before any judge call
    for spec in args.model_card:
        name, _, folder = spec.partition("=")
        cards[name] = Path(folder) / "README.md"
        if name not in labels:
            raise MirrorError(f"--model-card {name!r} names no run", fix=f"use one of {labels}")
        if not cards[name].is_file():
            raise MirrorError("no model card here", file=str(cards[name]), fix="give the training output_dir")
    rubrics = None
    if "counseling_eval" in instruments:
        try:
            rubrics = counseling_eval.load_rubrics(prompts_dir=args.rubrics)
        except MirrorError as err:
            raise err.with_fix(
                f"give a folder with the {len(counseling_eval.CRITERIA)} CACTUS rubric files: --rubrics DIR "
                "(e.g. a clone of coding-groot/cactus, its prompts/), or leave counseling_eval out: "
                "--instruments wai"
            ) from None
    items = wai.load_guidelines(args.wai_guidelines) if args.wai_guidelines else wai.WAI_ITEMS
    human = report.read_human_ratings(args.human_ratings) if args.human_ratings else None
    options = backend_options(args)
    judgements = {}
    for spec in args.judge:
        backend = load_backend(spec, **options)
        judgements[spec] = asyncio.run(
            report.judge_runs(
                runs,
                backend,
                instruments,
                rubrics=rubrics,
                wai_items=items,
                reasks=args.reasks,
                samples=args.samples,
                weighted=args.weighted,
                progress=not args.quiet,
            )
        )
        usage = backend.usage
        print(
            f"{spec}: {usage.calls} calls, {usage.cached} from the cache, {usage.failures} failed; "
            f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens"
        )
    built = report.build_report(
        runs, judgements, reference=args.reference, tokenizer=args.tokenizer, weighted=args.weighted, human=human,
        paper=args.paper,
    )  # fmt: skip
    paths = report.write_report(built, args.out, judgements=judgements, runs=runs)
    from mirror_hf.cards import render_evaluation_card

    card = render_evaluation_card(paths["markdown"].read_text(encoding="utf-8"), json.loads(paths["json"].read_text()))
    (Path(args.out) / "README.md").write_text(card, encoding="utf-8")
    print(f"wrote {paths['markdown']}, {paths['json']}, the figures and the judgements in {args.out}")
    for name, card in cards.items():
        from mirror_hf.cards import add_eval_results

        add_eval_results(card, report.eval_results(built, name))
        print(f"added {name}'s scores to {card} (model-index)")
    return 0
