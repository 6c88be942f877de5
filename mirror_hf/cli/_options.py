"""Option groups several commands share: how a command calls its models, PhotoMaker's settings, the face checks.
Each ``add_*`` registers the options; the function after it turns the parsed options into library objects."""

from __future__ import annotations

from mirror_hf.errors import MirrorError

FACE_CHECKS = ("clip", "nsfw", "identity", "gender", "age")  # mirror_hf.synthesis.checks
MODEL_SPECS = "model specs: openai:MODEL (key from OPENAI_API_KEY), MODEL@http://HOST:PORT/v1, local:PATH_OR_HUB_ID"


def add_backend_arguments(parser, *, at_once: str) -> None:
    """How a command calls its model servers: concurrency, timeout, retries, the response cache."""
    parser.add_argument("--concurrency", type=int, default=8, metavar="N", help=f"{at_once} at once")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S", help="seconds one call may take")
    parser.add_argument(
        "--retries", type=int, default=4, metavar="N", help="retries of a call that failed (429, 5xx, network)"
    )
    parser.add_argument("--cache-dir", metavar="DIR", help="response cache (default: mirror-hf's cache folder)")


def add_reask_argument(parser, *, what: str = "") -> None:
    what = f" {what}" if what else ""
    parser.add_argument("--reasks", type=int, default=3, metavar="N", help=f"re-asks of an unreadable{what} answer")


def backend_options(args) -> dict:
    """``load_backend`` options from :func:`add_backend_arguments`'s."""
    from mirror_hf.paths import llm_cache_dir

    if args.retries < 0 or args.timeout <= 0 or args.concurrency < 1:
        raise MirrorError(
            f"--concurrency {args.concurrency}, --timeout {args.timeout}, --retries {args.retries}",
            fix="use a concurrency of 1 or more, a timeout above 0 and 0 or more retries",
        )
    return {
        "max_concurrency": args.concurrency,
        "cache_dir": args.cache_dir or llm_cache_dir(),
        "timeout": args.timeout,
        "max_attempts": args.retries + 1,
    }


def add_photomaker_arguments(parser) -> None:
    """PhotoMaker's settings, for `synthesize faces` and `simulate --draw-faces`."""
    from mirror_hf.synthesis.settings import DTYPES, SCHEDULERS, PhotoMakerSettings

    defaults = PhotoMakerSettings()
    parser.add_argument("--base-model", default=defaults.base_model, metavar="MODEL", help="SDXL base model")
    parser.add_argument("--adapter", default=defaults.adapter, metavar="REPO_OR_DIR", help="PhotoMaker's adapter")
    parser.add_argument("--weight-name", default=defaults.weight_name, metavar="FILE", help="the adapter's file")
    parser.add_argument("--steps", type=int, default=defaults.steps, metavar="N", help="denoising steps")
    parser.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default=defaults.scheduler,
        help="ddim (the authors'); dpmpp_2m draws other faces, good in fewer --steps",
    )
    parser.add_argument(
        "--generation-size", type=int, default=defaults.generation_size, metavar="PX", help="SDXL's image size"
    )
    parser.add_argument("--face-size", type=int, default=defaults.size, metavar="PX", help="the stored face's size")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"default {defaults.seed}, the authors'")
    parser.add_argument("--tries", type=int, default=10, metavar="N", help="draws per turn until the checks pass")
    speed = parser.add_argument_group("speed (the same faces within float tolerance; docs/performance.md)")
    speed.add_argument("--dtype", choices=DTYPES, help="default: bfloat16 on CUDA (the authors'), else float32")
    speed.add_argument("--channels-last", action="store_true", help="the UNet and VAE in channels-last memory")
    speed.add_argument("--compile", action="store_true", help="torch.compile the UNet (the first faces wait for it)")


def load_face_pipeline(args, settings):
    """PhotoMaker loaded with the options of :func:`add_photomaker_arguments`."""
    from mirror_hf.synthesis.faces import load_photomaker

    return load_photomaker(
        settings, device=args.device, dtype=args.dtype, channels_last=args.channels_last, compile=args.compile
    )


def face_settings(args):
    from mirror_hf.synthesis.settings import PhotoMakerSettings

    return PhotoMakerSettings(
        base_model=args.base_model,
        adapter=args.adapter,
        weight_name=args.weight_name,
        steps=args.steps,
        scheduler=args.scheduler,
        generation_size=args.generation_size,
        size=args.face_size,
        seed=args.seed,
    )


def add_check_arguments(
    parser, *, checks: tuple[str, ...], identity_threshold: float, flag: str = "--checks", pairing: bool = False
):
    """The face checks (:mod:`mirror_hf.synthesis.checks`) and where they run, for `synthesize faces` and `filter`
    and `simulate --draw-faces`. ``pairing``: offer ``--clip-pairing``, for checks of built dialogues (where a face
    is drawn, it is checked against its own turn)."""
    default = ",".join(checks) or "none"
    parser.add_argument("--device", help="cuda, cpu, ... (default: cuda when there is one)")
    parser.add_argument(
        flag,
        dest="checks",
        default=default,
        metavar="A,B",
        help=f"face checks, comma-separated, of {','.join(FACE_CHECKS)} (default {default}); 'none' for none",
    )
    parser.add_argument(
        "--clip-model",
        default="ViT-B-32",
        metavar="NAME_OR_DIR",
        help="open_clip architecture (the authors' CLIP ViT-B/32), a NAME.json config, or a folder with NAME.json and "
        "its weights",
    )
    parser.add_argument(
        "--clip-pretrained", default="openai", metavar="TAG_OR_FILE", help="open_clip weights: a tag or a file"
    )
    if pairing:
        parser.add_argument(
            "--clip-pairing",
            choices=("authors", "turn"),
            default="authors",
            help="authors: the k-th face against the k-th client turn, as their script zips them; turn: each face "
            "against its own turn (they differ only where a client turn has no face)",
        )
    parser.add_argument("--clip-threshold", type=float, default=0.2, help="least face-direction similarity")
    parser.add_argument(
        "--nsfw-model", default="Falconsai/nsfw_image_detection", metavar="MODEL", help="the authors' NSFW detector"
    )
    parser.add_argument(
        "--identity-model", default="ArcFace", metavar="NAME", help="DeepFace model (paper ArcFace; code VGG-Face)"
    )
    parser.add_argument("--identity-threshold", type=float, default=identity_threshold, help="least similarity")
    parser.add_argument("--max-age-gap", type=float, default=10.0, metavar="YEARS", help="most years between the ages")
    parser.add_argument("--face-detector", default="opencv", metavar="NAME", help="DeepFace detector; 'skip' for none")


def face_checks(args) -> list:
    from mirror_hf.synthesis.checks import ClipCheck, DeepFaceChecks, NsfwCheck

    names = [c.strip() for c in args.checks.split(",") if c.strip() and c.strip() != "none"]
    if set(names) - set(FACE_CHECKS):
        raise MirrorError(f"unknown check(s) {sorted(set(names) - set(FACE_CHECKS))}", fix=f"use {FACE_CHECKS}")
    checks = []
    if "clip" in names:
        checks.append(
            ClipCheck(
                args.clip_model, args.clip_threshold, args.device, pretrained=args.clip_pretrained,
                pairing=getattr(args, "clip_pairing", "turn"),
            )
        )  # fmt: skip
    if "nsfw" in names:
        checks.append(NsfwCheck(args.nsfw_model, device=args.device))
    if {"identity", "gender", "age"} & set(names):
        deepface = DeepFaceChecks(args.identity_model, args.identity_threshold, args.max_age_gap, args.face_detector)
        checks += [check for check in deepface.checks() if check.name in names]
    return checks


def comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def plural(n: int, word: str) -> str:
    """``1 session``, ``2 sessions``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def counts(mapping: dict) -> str:
    """``{"a": 1, "b": 2}`` -> ``a 1, b 2`` (``none`` when empty): a count a person reads, not a Python repr."""
    return ", ".join(f"{key} {value}" for key, value in mapping.items()) or "none"


def add_protocol_arguments(parser) -> None:
    """Which protocol the client and therapists follow, and where the authors' files are read from."""
    parser.add_argument(
        "--protocol",
        default="authors",
        metavar="NAME[,SWITCH=VALUE...]",
        help="authors: as the authors' released code ran (their prompts, read from their repository; the paper's "
        "numbers); corrected: the paper's method with each defect fixed; either with switches changed, e.g. "
        "authors,end_rule=token (docs/fidelity.md lists them) (default: authors)",
    )
    parser.add_argument(
        "--upstream",
        metavar="DIR",
        help="a local clone of nobel-postech/mirror at the pinned commit, read instead of fetching the authors' "
        "files (also MIRROR_HF_UPSTREAM)",
    )
    parser.add_argument(
        "--upstream-pins",
        metavar="FILE",
        help='JSON {"commit": ..., "digests": {PATH: SHA256}}: read another commit of the authors\' code (a fork, a '
        "later fix) instead of the pinned one; recorded with the run (also MIRROR_HF_UPSTREAM_PINS)",
    )


def protocol_options(args):
    """(protocol, upstream) from :func:`add_protocol_arguments`'s options."""
    from mirror_hf.protocol import get_protocol
    from mirror_hf.upstream import resolve

    return get_protocol(args.protocol), resolve(args.upstream, args.upstream_pins)


def check_stage_options(stages, config_file: str) -> None:
    """Every stage's command line parsed before the first one runs: a bad option fails now, not hours in."""
    from mirror_hf.cli import build_parser

    parser = build_parser()
    for stage in stages:
        try:
            _, unknown = parser.parse_known_args(list(stage.commands[-1]))
        except SystemExit as err:  # argparse printed what it refused
            raise MirrorError(
                f"the {stage.name} stage's options are refused (argparse's message above): {stage.command}",
                file=config_file,
            ) from err
        if unknown:
            raise MirrorError(
                f"`mirror-hf {' '.join(stage.argv[:2])}` has no option {unknown[0]!r} (the {stage.name} stage)",
                file=config_file,
                fix=f"keys are the command's options with _ for -: see mirror-hf {' '.join(stage.argv[:2])} --help",
            )
