"""`mirror-hf pairwise ...`: the expert pairwise study of paper §6.3 for any runs — sample blind A/B items, annotate
them in a browser (Gradio, also as a Space), judge them with an LLM in both orders, report Tables 4-6."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mirror_hf.cli._format import add_command
from mirror_hf.cli._options import MODEL_SPECS, add_backend_arguments, add_reask_argument, backend_options, comma_list
from mirror_hf.errors import MirrorError


def register(subparsers) -> None:
    pairwise = add_command(
        subparsers,
        "pairwise",
        help="the expert pairwise study (paper §6.3): sample A/B items, annotate them in a browser, report win rates",
        description="A blind pairwise study of simulated runs, as the paper's counselors compared MIRROR-LLaVA_P+EC, "
        "LLaMA-3-8B and CAMEL-LLaMA3 (Tables 4-6, Figure 5). `sample`: cases with a complete session in every run, "
        "balanced across resistance types, every pair of runs one item with its sides drawn at random. `annotate`: "
        "the Gradio app the annotators use (A / Tie / B for Goal, Approach and Affective bond; every answer saved at "
        "once; signing in again resumes). `judge`: an LLM judges the same items in both orders. `report`: win-rate "
        "tables in the paper's shape, Bradley-Terry strengths with bootstrap intervals, agreement, per resistance "
        "type, and the paper's numbers beside when the same three systems are compared.",
        epilog="example:\n  mirror-hf pairwise sample P+EC=runs/pec LLaMA-3-8B=runs/llama CAMEL-LLaMA3=runs/camel "
        "--n 200 --annotators ana,ben --out study/\n  mirror-hf pairwise annotate study/\n"
        "  mirror-hf pairwise report study/ --out study-report/",
    )
    steps = pairwise.add_subparsers(dest="step", required=True, metavar="STEP")
    _register_sample(steps)
    _register_annotate(steps)
    _register_judge(steps)
    _register_report(steps)


def _register_sample(steps) -> None:
    sample = add_command(
        steps,
        "sample",
        help="draw the study's A/B items from two runs or more into STUDY/",
        description="Draw --n cases (client profiles with a complete session in every run; the paper: 200 of the "
        "test set, balanced over emotional, cognitive and behavioral resistance) and make every pair of runs one "
        "item per case, A and B drawn at random (so 3 runs give 3 items per case: the paper's 600). STUDY/ gets "
        "study.json, the key (data/items, a dataset with its card) and app/, the annotation app with the "
        "transcripts and faces under random ids and no model names (a Space folder). The same runs, options and "
        "--seed give the same study.",
        epilog="example:\n  mirror-hf pairwise sample P+EC=runs/pec LLaMA-3-8B=runs/llama CAMEL-LLaMA3=runs/camel "
        "--n 200 --seed 0 --annotators ana,ben --out study/",
    )
    sample.add_argument("runs", nargs="*", metavar="[NAME=]RUN", help="run folders of mirror-hf simulate (2 or more)")
    sample.add_argument(
        "--video",
        metavar="DIR",
        help="instead of runs: a folder of `mirror-hf video`; each item is one turn, the model's answer against the "
        "real therapist's (--n turns)",
    )
    sample.add_argument("--label", metavar="NAME", help="with --video: the model's name in the study")
    sample.add_argument("--out", required=True, metavar="STUDY", help="the study folder")
    sample.add_argument("--n", type=int, default=200, help="cases (client profiles); each gives one item per run pair")
    sample.add_argument(
        "--by", choices=("resistance", "none"), default="resistance", help="balance the cases across resistance types"
    )
    sample.add_argument(
        "--resistance", default="emotional,cognitive,behavioral", metavar="A,B", help="the resistance types drawn from"
    )
    sample.add_argument("--seed", type=int, default=0, help="the draw of cases, sides and order")
    sample.add_argument(
        "--annotators",
        default="",
        metavar="NAME,NAME",
        help="the annotators admitted, each given a sign-in link (STUDY/annotator_links.txt); none: anyone "
        "signs in by name",
    )
    sample.add_argument(
        "--force", action="store_true", help="write into a folder that holds files `pairwise sample` did not write"
    )
    sample.set_defaults(handler=run_sample)


def _register_annotate(steps) -> None:
    annotate = add_command(
        steps,
        "annotate",
        help="serve the study's annotation app (Gradio) until stopped",
        description="Serve STUDY/app in a browser: annotators sign in by name or with their link, answer A / Tie "
        "/ B per dimension, and each answer is appended to STUDY/answers/NAME.jsonl before the next item shows. "
        "With --push the answers also go to a private Hub dataset every --every minutes (huggingface_hub's "
        "CommitScheduler), and the same setting is written into STUDY/app/config.json so that the folder, pushed as "
        "a Space (`mirror-hf push STUDY/app ORG/NAME --private`), does the same.",
        epilog="examples:\n  mirror-hf pairwise annotate study/\n"
        "  mirror-hf pairwise annotate study/ --push me/study-answers --share",
    )
    annotate.add_argument("study", metavar="STUDY", help="a folder of `mirror-hf pairwise sample`")
    annotate.add_argument("--host", default="127.0.0.1", help="the address to serve on (0.0.0.0: the whole network)")
    annotate.add_argument("--port", type=int, default=7860, help="the port")
    annotate.add_argument("--share", action="store_true", help="also a public gradio.live link (72 hours)")
    annotate.add_argument("--push", metavar="ORG/NAME", help="also push the answers to this Hub dataset")
    annotate.add_argument(
        "--private", action=argparse.BooleanOptionalAction, default=True, help="the answers dataset is private"
    )
    annotate.add_argument("--every", type=float, default=1.0, metavar="MINUTES", help="minutes between pushes")
    annotate.add_argument(
        "--no-serve", action="store_true", help="write app/config.json (with --push) and stop: for a Space"
    )
    annotate.set_defaults(handler=run_annotate)


def _register_judge(steps) -> None:
    judge = add_command(
        steps,
        "judge",
        help="an LLM judges every item in both orders (STUDY/judges/), as one more annotator",
        description="Ask a model, for every item, which dialogue is better on each dimension, once with A as "
        "dialogue 1 and once with B; a verdict that changes with the order counts as a tie. The prompt is ours "
        "(the paper had no LLM pairwise judge). Answers are appended to STUDY/judges/ as they come: a rerun asks "
        "only what is missing, and `pairwise report` puts the judge beside the annotators (position consistency, "
        "Cohen's kappa with each).",
        epilog=f"{MODEL_SPECS}\n\nexample:\n  mirror-hf pairwise judge study/ --judge openai:gpt-4o",
    )
    judge.add_argument("study", metavar="STUDY", help="a folder of `mirror-hf pairwise sample`")
    judge.add_argument("--judge", required=True, metavar="SPEC", help="the judge model")
    add_backend_arguments(judge, at_once="judge calls")
    add_reask_argument(judge)
    judge.add_argument("--quiet", action="store_true", help="no progress bar")
    judge.set_defaults(handler=run_judge)


def _register_report(steps) -> None:
    report = add_command(
        steps,
        "report",
        help="win-rate tables (paper Tables 4-6), Bradley-Terry strengths, agreement, a figure",
        description="Read every answer (STUDY/answers/ and any --answers folder, e.g. a pulled copy of the Hub "
        "dataset the app pushed to) and every judge (STUDY/judges/), and write OUT/pairwise_report.md, "
        "pairwise_report.json and win_rates.png: per dimension, row beats column in %, each model's win rate (the "
        "mean of its row, as the paper's tables), Bradley-Terry shares with bootstrap 95 % intervals over cases, "
        "Cohen's kappa per annotator pair and Krippendorff's alpha, the same tables per resistance type, and the "
        "paper's numbers beside when the runs are named as its three systems (LLaMA-3-8B, CAMEL-LLaMA3, "
        "MIRROR-LLaVA_P+EC).",
        epilog="example:\n  mirror-hf pairwise report study/ --answers pulled-answers/answers --out study-report/",
    )
    report.add_argument("study", metavar="STUDY", help="a folder of `mirror-hf pairwise sample`")
    report.add_argument("--out", required=True, metavar="DIR", help="the report's folder")
    report.add_argument("--answers", action="append", default=[], metavar="DIR", help="more answer folders")
    report.add_argument(
        "--ties",
        choices=("half", "exclude"),
        default="half",
        help="a tie is half a win for each side, or left out (decided comparisons only)",
    )
    report.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="resamplings of the cases")
    report.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    report.set_defaults(handler=run_report)


def run_sample(args) -> int:
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.pairwise.study import sample_study
    from mirror_hf.schema import STUDY_FILE

    claim_output_dir(args.out, command="pairwise sample", markers=(STUDY_FILE,), force=args.force)
    if args.video:
        from mirror_hf.pairwise.video_study import sample_video_study

        if args.runs:
            raise MirrorError("--video replaces the runs", fix="give either runs or --video DIR")
        study = sample_video_study(
            args.video,
            args.out,
            n=args.n,
            seed=args.seed,
            label=args.label,
            annotators=tuple(comma_list(args.annotators)),
        )
        print(f"study {study['study_id']}: {study['items']} turns of {study['cases']} sessions, written to {args.out}")
        print(f"next: mirror-hf pairwise annotate {args.out}")
        return 0
    if args.label:
        raise MirrorError("--label names the model of --video", fix="name runs NAME=RUN")
    study = sample_study(
        args.runs,
        args.out,
        n=args.n,
        by=args.by,
        resistance=tuple(comma_list(args.resistance)),
        seed=args.seed,
        annotators=tuple(comma_list(args.annotators)),
    )
    shown = ", ".join(f"{t} {k}" for t, k in study["per_resistance"].items())
    print(
        f"study {study['study_id']}: {study['cases']} cases ({shown}), {study['items']} items over "
        f"{len(study['runs'])} runs, written to {args.out}"
    )
    if study["annotators"]:
        print(f"sign-in links: {Path(args.out) / 'annotator_links.txt'} (keep it; the app stores only digests)")
    print(f"next: mirror-hf pairwise annotate {args.out}")
    return 0


def run_annotate(args) -> int:
    import json

    from mirror_hf.pairwise.study import ANSWERS_DIR, APP_DIR, CONFIG_FILE, LINKS_FILE, read_study

    study = read_study(args.study)
    app = Path(args.study) / APP_DIR
    if not (app / "annotation_app.py").is_file():
        raise MirrorError("the study has no app folder", file=str(app), fix="sample the study again")
    if args.every <= 0:
        raise MirrorError(f"--every {args.every}", fix="give the minutes between pushes, above 0")
    if args.push:
        from mirror_hf.hub import check_repo_id

        check_repo_id(args.push)
        config = {"answers_repo": args.push, "every_minutes": args.every}
        (app / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    if args.no_serve:
        if not args.push:
            raise MirrorError("--no-serve writes the answers dataset of --push into the app", fix="add --push ORG/NAME")
        print(f"wrote {app / CONFIG_FILE}: a Space of this folder pushes its answers to {args.push}")
        return 0
    from mirror_hf.hub import require_token

    if args.push:
        require_token()
    try:
        from mirror_hf.pairwise.annotation_app import launch
    except ImportError as err:
        raise MirrorError(f"the annotation app needs gradio ({err})", fix="pip install 'mirror-hf[study]'") from None
    where = f"http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port}/"
    print(f"study {study['study_id']}: {len(study.get('annotators') or [])} named annotators; serving {where}")
    links = Path(args.study) / LINKS_FILE
    for line in links.read_text(encoding="utf-8").splitlines() if links.is_file() else ():
        name, _, query = line.partition("\t")
        print(f"  {name}: {where}{query}")
    print(
        f"answers: {Path(args.study) / ANSWERS_DIR}"
        + (f" and {args.push} ({'private' if args.private else 'public'})" if args.push else "")
    )
    sys.stdout.flush()
    launch(
        app,
        Path(args.study) / ANSWERS_DIR,
        answers_repo=args.push,
        every=args.every,
        private=args.private,
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        quiet=True,
    )
    return 0


def run_judge(args) -> int:
    import asyncio

    from mirror_hf.llm import load_backend
    from mirror_hf.pairwise.judge import judge_study

    backend = load_backend(args.judge, **backend_options(args))
    result = asyncio.run(
        judge_study(args.study, backend, reasks=args.reasks, concurrency=args.concurrency, progress=not args.quiet)
    )
    usage = backend.usage
    print(
        f"{args.judge}: {result['calls']} items x orders asked, {result.get('failed', 0)} unreadable or failed "
        f"(a rerun asks them again); {usage.cached} from the cache; written to {result['file']}"
    )
    return 1 if result["calls"] and result.get("failed", 0) == result["calls"] else 0


def run_report(args) -> int:
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.pairwise.report import REPORT_JSON, build_report, write_report

    claim_output_dir(args.out, command="pairwise report", markers=(REPORT_JSON,), force_flag=None)
    report = build_report(args.study, answers=args.answers, ties=args.ties, bootstrap=args.bootstrap, seed=args.seed)
    paths = write_report(report, args.out)
    answers = sum(report["annotators"].values())
    print(f"{answers} answers by {len(report['annotators'])} annotator(s), {len(report['judges'])} judge(s)")
    for d in report["dimensions"]:
        rates = ", ".join(f"{m} {v:.1f}" for m, v in report["humans"][d]["win_rate"].items() if v == v)
        print(f"  {d}: win rate % {rates or '(no answers yet)'}")
    print(f"wrote {paths['markdown']}, {paths['json']}, {paths['figure']}")
    return 0
