"""``mirror-hf``: build MIRROR as a Hub-layout dataset, preview it, train on it (recipes/), simulate sessions, judge
them, synthesize new data, publish any of them to the Hub and pull them back.

The entry point builds the top-level parser and dispatches; each command group is one module that registers its
own arguments and handles its command, importing the heavy stacks (datasets, torch, ...) only when it runs, so
``mirror-hf --help`` answers at once.

Example:
    $ mirror-hf build --sample && mirror-hf preview mirror
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mirror_hf import __version__
from mirror_hf.cli import (
    _errors,
    build,
    demo,
    evaluate,
    export,
    hub,
    info,
    pairwise,
    reproduce,
    simulate,
    synthesize,
    video,
)
from mirror_hf.cli._format import HelpFormatter

# in the order `--help` lists them
COMMAND_GROUPS = (build, export, simulate, evaluate, reproduce, pairwise, video, demo, synthesize, hub, info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirror-hf",
        description="MIRROR (multimodal cognitive-reframing therapy with resistant clients) on the Hugging Face "
        "stack. Each command has its own --help.",
        epilog="start here:\n  mirror-hf build --sample && mirror-hf preview mirror",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mirror-hf {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of any error (or set MIRROR_HF_DEBUG=1)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    debug = args.debug or os.environ.get("MIRROR_HF_DEBUG", "").strip() not in ("", "0")
    return _errors.run(args.handler, args, debug=debug)


if __name__ == "__main__":
    sys.exit(main())
