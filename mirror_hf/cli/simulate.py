"""`mirror-hf simulate`: therapist x resistant-client sessions for every profile, into a sessions dataset."""

from __future__ import annotations

import sys

from mirror_hf.cli._format import add_command
from mirror_hf.cli._options import (
    MODEL_SPECS,
    add_backend_arguments,
    add_check_arguments,
    add_photomaker_arguments,
    add_protocol_arguments,
    backend_options,
    counts,
    face_checks,
    face_settings,
    load_face_pipeline,
    plural,
    protocol_options,
)
from mirror_hf.errors import MirrorError

VLM_VARIANTS = ("base", "planning", "planning_ec")
BASELINES = ("llama3", "gpt", "camel")  # mirror_hf.baselines.SETUPS


def register(subparsers) -> None:
    simulate = add_command(
        subparsers,
        "simulate",
        help="run therapist x resistant-client sessions and write a sessions dataset",
        description="Simulate counseling sessions (paper App. J) for every profile, concurrently and resumably: "
        "each finished session is appended to OUT/sessions.jsonl, a rerun skips what is done (and plays again the "
        "sessions a failed call ended), and OUT becomes a dataset that datasets.load_dataset(OUT) reads. Each "
        "model server is asked once whether it is there before the first session.",
        epilog=f"{MODEL_SPECS}\n\nexample:\n  mirror-hf simulate --therapist local:merged/ --client "
        "openai:gpt-3.5-turbo-0125 --out sims/pec",
    )
    simulate.add_argument(
        "--profiles",
        default="mirror:eval_profiles",
        metavar="DATASET[:CONFIG]",
        help="built folder or Hub id, and config (default: mirror:eval_profiles)",
    )
    simulate.add_argument(
        "--therapist", required=True, metavar="SPEC", help="the therapist model: a VLM, or a text LM with --text-only"
    )
    simulate.add_argument(
        "--variant",
        choices=VLM_VARIANTS,
        default="planning_ec",
        help="the VLM therapist: base (no planning), planning (P) or planning_ec (P+EC: planning and emotional "
        "captioning)",
    )
    simulate.add_argument(
        "--text-only",
        action="store_true",
        help="a text-only baseline therapist of the paper (no faces; the session opens with its greeting)",
    )
    simulate.add_argument(
        "--baseline",
        choices=BASELINES,
        help="with --text-only: the baseline's setup, llama3 (Llama-3-8B-Instruct), gpt (GPT-3.5-turbo) or camel "
        "(CAMEL-LLaMA3, with planning) (default: from the model's name, as the authors' run.py picks it)",
    )
    add_protocol_arguments(simulate)
    simulate.add_argument("--client", required=True, metavar="SPEC", help="the client model (authors: gpt-3.5-turbo)")
    simulate.add_argument(
        "--out", required=True, metavar="DIR", help="the run folder: sessions.jsonl, faces/, the sessions dataset"
    )
    simulate.add_argument("--sessions", type=int, metavar="N", help="only the first N profiles")
    simulate.add_argument(
        "--max-exchanges", type=int, default=20, metavar="N", help="therapist+client exchanges at most per session"
    )
    simulate.add_argument("--faces", metavar="DIR", help="pre-generated faces {idx}/turn:{t}_*.png (default: identity)")
    simulate.add_argument(
        "--draw-faces",
        metavar="SPEC",
        help="draw each client turn's face live, as the authors' simulation did: SPEC is the expression LLM "
        "(authors: Llama-3-8B-Instruct), then PhotoMaker and the checks below",
    )
    add_backend_arguments(simulate, at_once="sessions")
    live = simulate.add_argument_group("live faces (--draw-faces; the authors' simulation checks)")
    add_photomaker_arguments(live)
    add_check_arguments(live, checks=("clip", "nsfw", "identity"), identity_threshold=0.3)
    simulate.set_defaults(handler=run_simulate)


def _baseline(args, model: str) -> str:
    from mirror_hf.baselines import setup_for

    if args.baseline:
        return args.baseline
    try:
        return setup_for(model)
    except ValueError:
        raise MirrorError(
            f"which baseline is {model!r}? Its name holds none of camel, llama, gpt",
            fix=f"add --baseline {' | '.join(BASELINES)}",
        ) from None


def run_simulate(args) -> int:
    import asyncio

    from mirror_hf.data.built import open_built
    from mirror_hf.llm import load_backend, parse_spec
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.protocol import PROTOCOL_FILE
    from mirror_hf.schema import EVAL_PROFILES, FAILURE_REASONS, RUN_REPORT_FILE, SESSIONS_FILE
    from mirror_hf.simulation.client import ResistantClient
    from mirror_hf.simulation.faces import FolderFaces, IdentityFaces
    from mirror_hf.simulation.runner import read_sessions, run_sessions
    from mirror_hf.therapist import MirrorTherapist

    if args.baseline and not args.text_only:
        raise MirrorError("--baseline names a text-only therapist", fix="add --text-only, or drop --baseline")
    protocol, upstream = protocol_options(args)
    if args.faces and args.draw_faces:
        raise MirrorError("--faces and --draw-faces both choose the faces", fix="keep one")
    markers = (SESSIONS_FILE, RUN_REPORT_FILE, PROTOCOL_FILE)  # protocol.json comes first: a run killed at once
    claim_output_dir(args.out, command="simulate", markers=markers, force_flag=None)
    dataset, _, config = args.profiles.partition(":")
    profiles = open_built(dataset, config or EVAL_PROFILES)
    if args.sessions:
        profiles = profiles.select(range(min(args.sessions, len(profiles))))
    options = backend_options(args)
    backend = load_backend(args.therapist, **options)
    if args.text_only:
        from mirror_hf.baselines import BaselineTherapist

        setup = _baseline(args, parse_spec(args.therapist)[1])
        therapist = BaselineTherapist(backend, setup, protocol=protocol, upstream=upstream)
    else:
        therapist = MirrorTherapist(backend, args.variant, protocol=protocol, upstream=upstream)
    setup = "text" if args.text_only else "vlm"
    client = ResistantClient(load_backend(args.client, **options), protocol=protocol, setup=setup, upstream=upstream)
    faces = FolderFaces(args.faces) if args.faces else IdentityFaces()
    if args.draw_faces:
        from mirror_hf.synthesis.faces import LiveFaces

        settings = face_settings(args)
        expression_model = load_backend(args.draw_faces, **options)
        pipe = load_face_pipeline(args, settings)
        faces = LiveFaces(expression_model, pipe, settings, checks=face_checks(args), tries=args.tries)
    report = asyncio.run(
        run_sessions(
            list(profiles),
            therapist,
            client,
            args.out,
            faces=faces,
            concurrency=args.concurrency,
            max_exchanges=args.max_exchanges,
            vision=not args.text_only,
        )
    )
    print(
        f"{plural(report['sessions'], 'session')} in {args.out} under protocol {protocol.name} "
        f"(ends: {counts(report['end_reasons'])}); load them with datasets.load_dataset({args.out!r})"
    )
    if args.draw_faces:
        print(f"faces drawn live: {counts(dict(faces.stats))}")
    failed = [r for r in read_sessions(args.out) if r["end_reason"] in FAILURE_REASONS]
    errors = sorted({r["error"] for r in failed if r.get("end_reason") == "backend_error" and r.get("error")})
    if errors:
        n = report["end_reasons"].get("backend_error", 0)
        print(f"warning: {plural(n, 'session')} ended on a failed call: run again to replay them", file=sys.stderr)
        for error in errors[:3]:
            print(f"  {error[:300]}", file=sys.stderr)
    if report["sessions"] and len(failed) == report["sessions"]:
        print("error: every session failed; nothing to judge (see the causes above)", file=sys.stderr)
        return 1
    return 0
