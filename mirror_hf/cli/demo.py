"""`mirror-hf demo`: talk to a therapist in a browser (Gradio), behind a crisis gate; or write it as a Space folder."""

from __future__ import annotations

from mirror_hf.cli._format import add_command
from mirror_hf.cli._options import (
    MODEL_SPECS,
    add_backend_arguments,
    add_protocol_arguments,
    backend_options,
    protocol_options,
)
from mirror_hf.errors import MirrorError


def register(subparsers) -> None:
    demo = add_command(
        subparsers,
        "demo",
        help="talk to a therapist in a browser (Gradio) behind a crisis gate, or write it as a Space folder",
        description="Serve a chat where you type as the client and show a face each turn (webcam or a photo); the "
        "therapist answers, and P / P+EC show the plan and the emotional caption. Every message passes a crisis gate "
        "first (suicide, self-harm and harm-to-others language: rules we wrote and test, plus --crisis-model if "
        "given): on a hit the model is not called and a referral message is shown. Every answer passes a check for "
        "method details and dismissed risk. A research demo, not therapy: the page says so. --write-space DIR writes "
        "the same demo as a Space folder instead (push it with `mirror-hf push DIR ORG/NAME`).",
        epilog=f"{MODEL_SPECS}\n\nexamples:\n  mirror-hf demo --therapist local:merged/ --variant planning_ec\n"
        "  mirror-hf demo --therapist local:me/mirror-llava-ec --write-space demo-space/",
    )
    demo.add_argument("--therapist", required=True, metavar="SPEC", help="the VLM therapist")
    demo.add_argument(
        "--variant", choices=("base", "planning", "planning_ec"), default="planning_ec", help="the therapist's variant"
    )
    demo.add_argument("--host", default="127.0.0.1", help="the address to serve on")
    demo.add_argument("--port", type=int, default=7860, help="the port")
    demo.add_argument("--share", action="store_true", help="also a public gradio.live link (72 hours)")
    demo.add_argument("--crisis-model", metavar="MODEL", help="a text-classification model beside the rules, run here")
    demo.add_argument("--crisis-label", metavar="LABEL", help="its crisis label (default: guessed from its labels)")
    demo.add_argument(
        "--crisis-resources", metavar="JSON", help='{"default": MESSAGE, "US": MESSAGE, ...}: your referral messages'
    )
    demo.add_argument("--region", metavar="CODE", help="which entry of --crisis-resources to show")
    demo.add_argument("--log", metavar="FILE", help="append safety events (JSON lines, no text) to FILE")
    demo.add_argument("--log-text", action="store_true", help="keep the flagged text in the log (off by default)")
    demo.add_argument("--write-space", metavar="DIR", help="write the demo as a Space folder and stop")
    demo.add_argument(
        "--requirement", metavar="LINE", help="the Space's pip line for mirror-hf (default mirror-hf[train])"
    )
    demo.add_argument(
        "--link-card",
        nargs=2,
        metavar=("ADAPTER_DIR", "ORG/SPACE"),
        help="with --write-space: link the model card of ADAPTER_DIR to the Space it will be pushed to",
    )
    add_protocol_arguments(demo)
    add_backend_arguments(demo, at_once="calls")
    demo.set_defaults(handler=run_demo)


def run_demo(args) -> int:
    config = {
        "therapist": args.therapist,
        "variant": args.variant,
        "protocol": args.protocol,
        "crisis_model": args.crisis_model,
        "crisis_label": args.crisis_label,
        "crisis_resources": args.crisis_resources,
        "region": args.region,
    }
    if args.write_space:
        return _write_space(args, config)
    if args.link_card:
        raise MirrorError("--link-card goes with --write-space", fix="add --write-space DIR")
    protocol, upstream = protocol_options(args)
    try:
        from mirror_hf.demo.app import launch
        from mirror_hf.demo.space import demo_from_config
    except ImportError as err:
        raise MirrorError(f"the demo needs gradio ({err})", fix="pip install 'mirror-hf[study]'") from None
    config.update(protocol=protocol, log=args.log, log_text=args.log_text)  # the Protocol itself: switches kept
    demo = demo_from_config(config, backend_options=backend_options(args), upstream=upstream)
    print(f"serving the demo of {args.therapist} ({args.variant}) on http://{args.host}:{args.port}/", flush=True)
    launch(demo, server_name=args.host, server_port=args.port, share=args.share, quiet=True)
    return 0


def _write_space(args, config: dict) -> int:
    from pathlib import Path

    from mirror_hf.demo.safety import load_referral
    from mirror_hf.demo.space import write_space
    from mirror_hf.llm import parse_spec

    load_referral(args.crisis_resources, args.region)  # a bad file fails before anything is written
    protocol_options(args)  # and so does a bad --protocol
    parse_spec(args.therapist)
    if args.crisis_resources:
        config["crisis_resources"] = "crisis_resources.json"  # copied beside the config: the Space reads it there
    folder = write_space(args.write_space, config, args.requirement)
    if args.crisis_resources:
        (folder / "crisis_resources.json").write_bytes(Path(args.crisis_resources).read_bytes())
    if args.link_card:
        from mirror_hf.cards import add_demo_link
        from mirror_hf.hub import check_repo_id

        adapter, space_id = args.link_card
        check_repo_id(space_id)
        readme = Path(adapter) / "README.md"
        if not readme.is_file():
            raise MirrorError("no model card here", file=str(readme), fix="give the training output_dir")
        add_demo_link(readme, space_id)
        print(f"linked {readme} to the Space {space_id}")
    print(f"wrote the demo Space folder {folder}; publish it with: mirror-hf push {folder} ORG/NAME")
    return 0
