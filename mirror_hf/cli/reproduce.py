"""`mirror-hf reproduce`: the paper's Tables 2-3 — seven therapists against the test profiles, judged, set beside the
published numbers — in one resumable run from one YAML."""

from __future__ import annotations

from mirror_hf.cli._format import add_command


def register(subparsers) -> None:
    reproduce = add_command(
        subparsers,
        "reproduce",
        help="the paper's Tables 2-3: every therapist simulated, judged, and set beside the published numbers",
        description="Simulate each therapist system of the config against the test profiles (one `mirror-hf "
        "simulate` each, under the config's protocol: the authors' by default), judge all of them with "
        "COUNSELINGEVAL and WAI (`mirror-hf evaluate --paper`), and write OUT/eval/report.md with the paper's "
        "Tables 2-3 beside ours. Each stage is printed before it runs and resumes: running the same command again "
        "continues where it stopped. The calls and tokens it will take are printed first.",
        epilog="examples:\n  mirror-hf reproduce --config recipes/paper/tables_2_3.yaml --dry-run\n"
        "  mirror-hf reproduce --config recipes/paper/tables_2_3.yaml --limit 5      # a smoke run: 5 profiles",
    )
    reproduce.add_argument("--config", required=True, metavar="FILE", help="the run's YAML")
    reproduce.add_argument("--dry-run", action="store_true", help="print the estimate and the commands, run nothing")
    reproduce.add_argument("--limit", type=int, metavar="N", help="only the first N profiles of each system")
    reproduce.add_argument("--until", metavar="STAGE", help="stop after this stage (e.g. 'simulate MIRROR-LLaVA')")
    reproduce.add_argument(
        "--keep-going", action="store_true", help="go on past a stage that left work undone (a rerun retries it)"
    )
    reproduce.set_defaults(handler=run_reproduce)


def run_reproduce(args) -> int:
    from mirror_hf.cli import main
    from mirror_hf.cli._options import check_stage_options
    from mirror_hf.errors import MirrorError
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.reproduce import (
        REPRODUCE_REPORT_FILE,
        estimate,
        left_undone,
        load_config,
        plan,
        render_estimate,
    )
    from mirror_hf.stages import run_stages

    if args.limit is not None and args.limit < 1:
        raise MirrorError(f"--limit {args.limit}", fix="a number of profiles, 1 or more")
    config = load_config(args.config)
    stages = plan(config, args.limit)
    check_stage_options(stages, args.config)
    print(render_estimate(estimate(config, args.limit)))
    if args.dry_run:
        print("\n".join(stage.command for stage in stages))
        return 0
    claim_output_dir(config["out"], command="reproduce", markers=(REPRODUCE_REPORT_FILE,), force_flag=None)
    report = run_stages(
        stages, config["out"], main, report_file=REPRODUCE_REPORT_FILE, left_undone=left_undone, until=args.until,
        keep_going=args.keep_going,
    )  # fmt: skip
    for entry in report["stages"]:
        undone = f" ({entry['left_undone']})" if entry.get("left_undone") else ""
        print(f"  {entry['stage']:<32} {entry['status']:<10} {entry.get('seconds', 0):>9.1f} s{undone}")
    if report["status"] == "done":
        print(f"done: {stages[-1].folder}/report.md (Tables 2-3 beside the paper's)")
    return 0 if report["status"] in ("done", "stopped") else 1
