"""`mirror-hf build` (the release files + your CelebA copy -> a Hub-layout dataset folder) and `mirror-hf preview`
(one dialogue of it as an HTML page)."""

from __future__ import annotations

import dataclasses
import sys

from mirror_hf.cli._format import add_command
from mirror_hf.cli._options import comma_list
from mirror_hf.errors import MirrorError
from mirror_hf.schema import CONFIG_NAMES, DIALOGUES

EPILOG = """examples:
  mirror-hf build --sample                                   # the embedded sample, offline
  mirror-hf build --release multimodal-reframing/mirror --celeba-dir ~/data/celeba --out mirror
  mirror-hf build --release ./release --celeba-dir ~/data/celeba --turn-images ./faces \\
                  --cactus cactus.json --on-error skip
then:
  python -c 'from datasets import load_dataset; print(load_dataset("mirror", "sft_ec_planning"))'
"""


def register(subparsers) -> None:
    build = add_command(
        subparsers,
        "build",
        help="rebuild MIRROR from the release files + your CelebA copy into a Hub-layout folder",
        description="Read the MIRROR release files, attach CelebA faces (and turn faces), and write every dataset "
        "config as parquet shards with a dataset card, loadable with datasets.load_dataset(OUT). An unchanged "
        "rebuild does nothing; a failed one leaves the previous build as it was.",
        epilog=EPILOG,
    )
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--release",
        metavar="DIR_OR_REPO",
        help="folder (or file) with mirror_data.csv/json and mirror_test.csv, or a Hub dataset id "
        "such as multimodal-reframing/mirror",
    )
    source.add_argument(
        "--sample",
        action="store_true",
        help="use the embedded sample: dialogues we wrote + drawn stand-ins for CelebA and turn faces",
    )
    build.add_argument("--revision", help="Hub revision (branch, tag or commit) of --release")
    build.add_argument(
        "--celeba-dir",
        metavar="DIR",
        help="CelebA folder: img_align_celeba/ or img_align_celeba.zip, identity_CelebA.txt, list_attr_celeba.txt",
    )
    build.add_argument("--turn-images", metavar="DIR", help="turn faces in the layout {idx}/turn:{t}_{stem}.png")
    build.add_argument("--cactus", metavar="FILE", help="CACTUS cactus.json, to fill CBT techniques and thinking traps")
    build.add_argument(
        "--filters", metavar="DIR", help="leave out the dialogues rejected by `mirror-hf synthesize filter` (its --out)"
    )
    build.add_argument("--out", default="mirror", metavar="DIR", help="output folder (default: ./mirror)")
    build.add_argument(
        "--configs",
        default=",".join(CONFIG_NAMES),
        metavar="A,B",
        help=f"configs to build (default: all of {', '.join(CONFIG_NAMES)})",
    )
    build.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="on a bad row: stop with an error (default), or skip it and list it in build_report.json",
    )
    build.add_argument(
        "--celeba-link",
        choices=("auto", "image", "identity"),
        default="auto",
        help="how to read a bare 'CelebA idx' value: image number or identity id (default: auto)",
    )
    build.add_argument("--max-shard-size", default="500MB", metavar="SIZE", help="largest parquet shard")
    build.add_argument(
        "--force",
        action="store_true",
        help="rebuild even when the inputs are unchanged; write into a folder of other files (only what a build "
        "writes is replaced)",
    )
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(handler=run_build)

    preview = add_command(
        subparsers,
        "preview",
        help="render one dialogue of a built dataset as a static HTML page",
        description="Render one dialogue (profile, turns, stage directions and faces) as a self-contained HTML page.",
        epilog="examples:\n  mirror-hf preview mirror --index 2\n"
        "  mirror-hf preview mirror --idx cactus-7658-emotional-resistance     # an id of the released MIRROR",
    )
    preview.add_argument("dataset", nargs="?", default="mirror", help="built folder or Hub id (default: ./mirror)")
    which = preview.add_mutually_exclusive_group()
    which.add_argument("--idx", help="dialogue id, e.g. cactus-7658-emotional-resistance")
    which.add_argument("--index", type=int, default=0, help="row number (default: 0)")
    preview.add_argument("--out", metavar="FILE", help="HTML file to write (default: <dataset name>-preview.html)")
    preview.set_defaults(handler=run_preview)


def run_build(args) -> int:
    from mirror_hf.data.export import build_dataset, empty_configs, summarize
    from mirror_hf.data.sources import BuildSources

    if args.sample:
        given = [
            flag
            for flag, value in (
                ("--celeba-dir", args.celeba_dir),
                ("--turn-images", args.turn_images),
                ("--cactus", args.cactus),
                ("--revision", args.revision),
                ("--filters", args.filters),
            )
            if value
        ]
        if given:
            raise MirrorError(f"--sample brings its own inputs; drop {', '.join(given)} or use --release")
        from mirror_hf.data.sample import prepare_sample
        from mirror_hf.paths import cache_dir

        sample = prepare_sample(cache_dir() / "sample")
        sources = dataclasses.replace(sample, on_error=args.on_error)
    else:
        sources = BuildSources(
            release=args.release,
            celeba_dir=args.celeba_dir,
            turn_images=args.turn_images,
            cactus=args.cactus,
            revision=args.revision,
            celeba_link_kind=args.celeba_link,
            on_error=args.on_error,
            filters=args.filters,
        )
    configs = tuple(comma_list(args.configs))
    report = build_dataset(
        sources, args.out, configs, progress=not args.quiet, force=args.force, max_shard_size=args.max_shard_size
    )
    print(summarize(report))
    empty = empty_configs(report)
    for name, note in empty.items():
        print(f"warning: {name} was not written: {note}", file=sys.stderr)
    written = [name for name in report["configs"] if name not in empty]
    if written:
        example = DIALOGUES if DIALOGUES in written else written[0]
        print(
            f"wrote {args.out}/ (report: {args.out}/build_report.json). Load it with "
            f"datasets.load_dataset({args.out!r}, {example!r})"
        )
    return 0


def run_preview(args) -> int:
    from pathlib import Path

    from mirror_hf.preview import write_preview

    out = args.out or f"{Path(args.dataset).name or 'mirror'}-preview.html"
    path = write_preview(args.dataset, out, idx=args.idx, index=args.index)
    print(f"wrote {path} — open it in a browser")
    return 0
