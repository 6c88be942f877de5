"""``mirror-hf``: build MIRROR as a Hub-layout dataset, preview it, simulate sessions, judge them, publish any of
them to the Hub and pull them back, and show the environment.

Example:
    $ mirror-hf build --sample && mirror-hf preview mirror
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import sys
from importlib import metadata
from pathlib import Path

from mirror_hf import __version__
from mirror_hf.errors import MirrorError
from mirror_hf.schema import CONFIG_NAMES, DIALOGUES

FACE_CHECKS = ("clip", "nsfw", "identity", "gender", "age")  # mirror_hf.synthesis.checks
EPILOG_BUILD = """examples:
  mirror-hf build --sample                                   # the embedded sample, offline
  mirror-hf build --release multimodal-reframing/mirror --celeba-dir ~/data/celeba --out mirror
  mirror-hf build --release ./release --celeba-dir ~/data/celeba --turn-images ./faces \\
                  --cactus cactus.json --on-error skip
then: python -c 'from datasets import load_dataset; print(load_dataset("mirror", "sft_ec_planning"))'
"""


def _add_photomaker_arguments(parser) -> None:
    """PhotoMaker's settings, for `synthesize faces` and `simulate --draw-faces`."""
    from mirror_hf.synthesis.faces import PhotoMakerSettings  # light: no torch at import

    defaults = PhotoMakerSettings()
    parser.add_argument("--base-model", default=defaults.base_model, help=f"SDXL base ({defaults.base_model})")
    parser.add_argument("--adapter", default=defaults.adapter, help=f"PhotoMaker repo or folder ({defaults.adapter})")
    parser.add_argument("--weight-name", default=defaults.weight_name, help=f"adapter file ({defaults.weight_name})")
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"DDIM steps (default {defaults.steps})")
    parser.add_argument("--generation-size", type=int, default=defaults.generation_size, help="SDXL's image size")
    parser.add_argument("--face-size", type=int, default=defaults.size, help=f"stored size ({defaults.size})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"default {defaults.seed}, the authors'")
    parser.add_argument("--tries", type=int, default=10, help="draws per turn until the checks pass (default 10)")


def _add_check_arguments(parser, *, checks: tuple[str, ...], identity_threshold: float, flag: str = "--checks"):
    """The face checks (:mod:`mirror_hf.synthesis.checks`) and where they run, for `synthesize faces` and `filter`
    and `simulate --draw-faces`."""
    default = ",".join(checks) or "none"
    parser.add_argument("--device", help="cuda, cpu, ... (default: cuda when there is one)")
    parser.add_argument(
        flag,
        dest="checks",
        default=default,
        help=f"face checks, comma-separated, of {','.join(FACE_CHECKS)} (default {default}); 'none' for none",
    )
    parser.add_argument("--clip-model", default="openai/clip-vit-base-patch32", help="the authors' CLIP ViT-B/32")
    parser.add_argument("--clip-threshold", type=float, default=0.2, help="least face-direction similarity (0.2)")
    parser.add_argument("--nsfw-model", default="Falconsai/nsfw_image_detection", help="the authors' NSFW detector")
    parser.add_argument("--identity-model", default="ArcFace", help="DeepFace model (paper ArcFace; code VGG-Face)")
    parser.add_argument(
        "--identity-threshold", type=float, default=identity_threshold, help=f"least similarity ({identity_threshold})"
    )
    parser.add_argument("--max-age-gap", type=float, default=10.0, help="most years between the ages (10)")
    parser.add_argument("--face-detector", default="opencv", help="DeepFace detector; 'skip' for none (default opencv)")


def _face_settings(args):
    from mirror_hf.synthesis.faces import PhotoMakerSettings

    return PhotoMakerSettings(
        base_model=args.base_model,
        adapter=args.adapter,
        weight_name=args.weight_name,
        steps=args.steps,
        generation_size=args.generation_size,
        size=args.face_size,
        seed=args.seed,
    )


def _face_checks(args) -> list:
    from mirror_hf.synthesis.checks import ClipCheck, DeepFaceChecks, NsfwCheck

    names = [c.strip() for c in args.checks.split(",") if c.strip() and c.strip() != "none"]
    if set(names) - set(FACE_CHECKS):
        raise MirrorError(f"unknown check(s) {sorted(set(names) - set(FACE_CHECKS))}", fix=f"use {FACE_CHECKS}")
    checks = []
    if "clip" in names:
        checks.append(ClipCheck(args.clip_model, threshold=args.clip_threshold, device=args.device))
    if "nsfw" in names:
        checks.append(NsfwCheck(args.nsfw_model, device=args.device))
    if {"identity", "gender", "age"} & set(names):
        deepface = DeepFaceChecks(args.identity_model, args.identity_threshold, args.max_age_gap, args.face_detector)
        checks += [check for check in deepface.checks() if check.name in names]
    return checks


def _add_llm_arguments(parser, *, at_once: str, what: str = "") -> None:
    """How a command calls its LLM: concurrency, re-asks of unreadable answers, the response cache."""
    parser.add_argument("--concurrency", type=int, default=8, help=f"{at_once} at once (default 8)")
    what = f" {what}" if what else ""
    parser.add_argument("--reasks", type=int, default=3, help=f"re-asks of an unreadable{what} answer (default 3)")
    parser.add_argument("--cache-dir", metavar="DIR", help="response cache (default: mirror-hf's cache folder)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirror-hf",
        description="MIRROR (multimodal cognitive-reframing therapy with resistant clients) on the Hugging Face stack.",
    )
    parser.add_argument("--version", action="version", version=f"mirror-hf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser(
        "build",
        help="rebuild MIRROR from the release files + your CelebA copy into a Hub-layout folder",
        description="Read the MIRROR release files, attach CelebA faces (and turn faces), and write every dataset "
        "config as parquet shards with a dataset card, loadable with datasets.load_dataset(OUT).",
        epilog=EPILOG_BUILD,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        "--filters",
        metavar="DIR",
        help="leave out the dialogues rejected by `mirror-hf synthesize filter` (its --out folder)",
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
    build.add_argument("--max-shard-size", default="500MB", help="largest parquet shard (default: 500MB)")
    build.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    build.add_argument("--quiet", action="store_true", help="no progress bars")

    preview = sub.add_parser(
        "preview",
        help="render one dialogue of a built dataset as a static HTML page",
        description="Render one dialogue (profile, turns, stage directions and faces) as a self-contained HTML page.",
    )
    preview.add_argument("dataset", nargs="?", default="mirror", help="built folder or Hub id (default: ./mirror)")
    which = preview.add_mutually_exclusive_group()
    which.add_argument("--idx", help="dialogue id, e.g. cactus-7658-emotional-resistance")
    which.add_argument("--index", type=int, default=0, help="row number (default: 0)")
    preview.add_argument("--out", help="HTML file to write (default: <dataset name>-preview.html)")

    export = sub.add_parser(
        "export",
        help="merge a trained LoRA adapter (and projector) into its base model, for serving",
        description="Merge the adapter written by recipes/sft_llava.py into its base model and save a full model "
        "(vLLM, TGI, `transformers serve` and hosted widgets serve full models, not adapters).",
    )
    export.add_argument("--adapter", required=True, metavar="DIR", help="the training output_dir (adapter folder)")
    export.add_argument("--out", required=True, metavar="DIR", help="where to write the merged model")
    export.add_argument("--base", metavar="MODEL", help="base model (default: the one recorded in the adapter)")

    simulate = sub.add_parser(
        "simulate",
        help="run therapist x resistant-client sessions and write a sessions dataset",
        description="Simulate counseling sessions (paper App. J) for every profile, concurrently and resumably: "
        "each finished session is appended to OUT/sessions.jsonl, a rerun skips what is done, and OUT becomes a "
        "dataset that datasets.load_dataset(OUT) reads.",
        epilog="model specs: openai:MODEL (key from OPENAI_API_KEY), MODEL@http://HOST:PORT/v1, local:PATH_OR_HUB_ID",
    )
    simulate.add_argument(
        "--profiles",
        default="mirror:eval_profiles",
        metavar="DATASET[:CONFIG]",
        help="built folder or Hub id, and config (default: mirror:eval_profiles)",
    )
    simulate.add_argument("--therapist", required=True, metavar="SPEC", help="the therapist model (a VLM)")
    simulate.add_argument("--variant", choices=("base", "planning", "planning_ec"), default="planning_ec")
    simulate.add_argument(
        "--text-only",
        action="store_true",
        help="a text-only baseline therapist (CACTUS-style counselor, no faces); variant base|planning",
    )
    simulate.add_argument("--client", required=True, metavar="SPEC", help="the client model (authors: gpt-3.5-turbo)")
    simulate.add_argument("--out", required=True, metavar="DIR")
    simulate.add_argument("--sessions", type=int, help="only the first N profiles")
    simulate.add_argument("--concurrency", type=int, default=8, help="sessions at once (default 8)")
    simulate.add_argument("--faces", metavar="DIR", help="pre-generated faces {idx}/turn:{t}_*.png (default: identity)")
    simulate.add_argument(
        "--draw-faces",
        metavar="SPEC",
        help="draw each client turn's face live, as the authors' simulation did: SPEC is the expression LLM "
        "(authors: Llama-3-8B-Instruct), then PhotoMaker and the checks below",
    )
    simulate.add_argument("--max-exchanges", type=int, default=20)
    simulate.add_argument("--cache-dir", metavar="DIR", help="response cache (default: mirror-hf's cache folder)")
    live = simulate.add_argument_group("live faces (--draw-faces; the authors' simulation checks)")
    _add_photomaker_arguments(live)
    _add_check_arguments(live, checks=("clip", "nsfw", "identity"), identity_threshold=0.3)

    evaluate = sub.add_parser(
        "evaluate",
        help="judge session runs with COUNSELINGEVAL and WAI and write a report like the paper's Tables 2-3",
        description="Judge every complete session of each run (one call per session and item, cached, unreadable "
        "answers re-asked then left out as NaN) and write OUT/report.json, report.md, scores.png, "
        "length_vs_score.png and every prompt and judgement under OUT/judgements/.",
        epilog="example: mirror-hf evaluate P+EC=runs/sim-pec LLaVA=runs/sim-llava --judge openai:gpt-4o "
        "--reference P+EC --out eval/",
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
    evaluate.add_argument("--out", required=True, metavar="DIR")
    evaluate.add_argument("--reference", metavar="NAME", help="the therapist others are t-tested against (paper: P+EC)")
    evaluate.add_argument(
        "--instruments", default="counseling_eval,wai", metavar="A,B", help="default: counseling_eval,wai"
    )
    evaluate.add_argument("--rubrics", metavar="DIR", help="CACTUS prompts/ folder (default: fetched, SHA-256 checked)")
    evaluate.add_argument("--wai-guidelines", metavar="FILE", help='JSON {"1": ..., "12": ...} of WAI item guidelines')
    evaluate.add_argument("--human-ratings", metavar="FILE", help="CSV/JSONL therapist,session_id,item,score")
    evaluate.add_argument("--tokenizer", metavar="NAME", help="count response length with this tokenizer")
    evaluate.add_argument("--weighted", action="store_true", help="probability-weighted scores from logprobs")
    evaluate.add_argument("--samples", type=int, default=1, help="judgements per item, averaged (default 1)")
    _add_llm_arguments(evaluate, at_once="judge calls")
    evaluate.add_argument(
        "--model-card",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="write therapist NAME's scores into the model card (README.md) of the adapter in DIR, as model-index",
    )
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")

    synthesize = sub.add_parser(
        "synthesize",
        help="rebuild what the authors did not release: new dialogues, turn faces (expressions, faces), the filters",
        description="Rebuild the parts of MIRROR the authors could not release. `expressions`: for every client turn "
        "of a built dataset, ask an LLM (paper Appendix I; authors: Llama-3-8B-Instruct) for the facial expression to "
        "draw and a contrasting one, and write PhotoMaker's prompt and negative prompt. `faces`: draw each turn's "
        "face with PhotoMaker. `screenplays`: new dialogues from CACTUS profiles and CelebA faces (§3.1-3.2), as "
        "release files. `filter`: the paper's dialogue filters (§3.4) with a rejection-rate report, applied "
        "by `mirror-hf build --filters`. `convert-canary`: Canary's ParlAI checkpoint to transformers. "
        "`pipeline`: all of them in order from one YAML file. All resume.",
    )
    steps = synthesize.add_subparsers(dest="step", required=True, metavar="STEP")

    expressions = steps.add_parser(
        "expressions",
        help="describe the face of every client turn (PhotoMaker prompts) into OUT/expressions.jsonl",
        epilog="example:\n  mirror-hf synthesize expressions --dataset mirror "
        "--model meta-llama/Meta-Llama-3-8B-Instruct@http://localhost:8000/v1 --out faces/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    expressions.add_argument("--dataset", default="mirror", help="a built MIRROR folder or Hub id (its dialogues)")
    expressions.add_argument("--model", required=True, metavar="SPEC", help="the LLM (authors: Llama-3-8B-Instruct)")
    expressions.add_argument("--out", required=True, metavar="DIR")
    expressions.add_argument("--dialogues", type=int, help="only the first N dialogues")
    expressions.add_argument(
        "--filters", metavar="DIR", help="leave out the dialogues `synthesize filter` rejected (its --out folder)"
    )
    _add_llm_arguments(expressions, at_once="turns")
    expressions.add_argument("--quiet", action="store_true", help="no progress bar")

    faces = steps.add_parser(
        "faces",
        help="draw every described client turn's face with PhotoMaker into OUT/{idx}/turn:{t}_{stem}.png",
        description="Draw the face of every client turn described by `synthesize expressions`, with PhotoMaker from "
        "the client's identity face (the built dataset's identity_image: build with --celeba-dir), with the authors' "
        "settings; resumable (faces already drawn are kept). The folder is what build --turn-images and simulate "
        "--faces read.",
        epilog="example:\n  mirror-hf synthesize faces --dataset mirror --out faces/ --device cuda",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    faces.add_argument("--dataset", default="mirror", help="a built MIRROR folder or Hub id (its identity faces)")
    faces.add_argument("--out", required=True, metavar="DIR", help="where the faces go")
    faces.add_argument("--expressions", metavar="DIR", help="folder of expressions.jsonl (default: --out)")
    _add_photomaker_arguments(faces)
    _add_check_arguments(faces, checks=FACE_CHECKS, identity_threshold=0.2)
    faces.add_argument("--redraw-rejected", action="store_true", help="try again the turns rejected by a past run")
    faces.add_argument(
        "--shard",
        metavar="K/N",
        help="draw only shard K of N (0-based; the dialogues split by idx): run N of these at once, one per GPU, "
        "on the same --out",
    )
    faces.add_argument("--quiet", action="store_true", help="no progress bar")

    filter_ = steps.add_parser(
        "filter",
        help="the paper's dialogue filters (§3.4) into OUT/filters.jsonl and a rejection-rate report",
        description="Run the paper's dialogue filters over a built dataset's dialogues: basic, pos_repetition, "
        "copy_paste (no model server), canary (--canary), wai (--wai-judge), the image checks on the built turn "
        "faces (--image-checks: clip, nsfw, identity, gender, age) and the faces rejected when drawn (--faces). "
        "Each result is appended to OUT/filters.jsonl (a rerun does only what is missing); OUT/filter_report.json and "
        ".md give each "
        "filter's rejected share beside the paper's and every rejected dialogue with its reasons. "
        "`mirror-hf build --filters OUT` then leaves those dialogues out.",
        epilog="example:\n  mirror-hf synthesize filter --dataset mirror --out filtered/ --canary models/canary-hf "
        "--wai-judge openai:gpt-4o --faces faces/\n  mirror-hf build --release REL --celeba-dir C --turn-images "
        "faces/ --filters filtered/ --out mirror-filtered",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    filter_.add_argument("--dataset", default="mirror", help="a built MIRROR folder or Hub id (its dialogues)")
    filter_.add_argument("--out", required=True, metavar="DIR")
    filter_.add_argument(
        "--filters",
        default="basic,pos_repetition,copy_paste",
        metavar="A,B",
        help="rule filters to run (default: basic,pos_repetition,copy_paste); --canary, --wai-judge, --image-checks "
        "and --faces add the others",
    )
    filter_.add_argument("--pos-model", default="en_core_web_sm", help="spaCy model or folder (default en_core_web_sm)")
    filter_.add_argument(
        "--pos-tags", choices=("fine", "coarse"), default="fine", help="Penn (fine, default) or universal (coarse) tags"
    )
    from mirror_hf.synthesis.filters import FilterRules  # light: no model at import

    filter_.add_argument(
        "--copy-paste-fields",
        default=",".join(FilterRules.copy_paste_fields),
        metavar="A,B",
        help="the profile fields whose sentences an utterance must not repeat (default: %(default)s; which fields "
        "the authors matched is not known)",
    )
    filter_.add_argument("--canary", metavar="MODEL", help="Canary converted by convert-canary (folder or Hub id)")
    filter_.add_argument(
        "--canary-speakers",
        default="therapist",
        metavar="A,B",
        help="whose utterances Canary labels (default therapist, the authors' rule; their code labelled client)",
    )
    filter_.add_argument("--wai-judge", metavar="SPEC", help="the WAI judge (paper: openai:gpt-4o)")
    filter_.add_argument("--wai-threshold", type=float, default=0.3, help="on (mean-1)/4 (default 0.3, the paper)")
    filter_.add_argument("--wai-guidelines", metavar="FILE", help='JSON {"1": ..., "12": ...} of WAI item guidelines')
    filter_.add_argument(
        "--wai-all",
        action="store_true",
        help="judge every dialogue with WAI (default: only those the other filters kept; WAI is the paper's last "
        "filter and 12 judge calls a dialogue)",
    )
    filter_.add_argument("--faces", metavar="DIR", help="the --out folder of synthesize faces (its faces.jsonl)")
    filter_.add_argument("--dialogues", type=int, help="only the first N dialogues")
    _add_llm_arguments(filter_, at_once="WAI judge calls", what="WAI")
    filter_.add_argument("--quiet", action="store_true", help="no progress bars")
    images = filter_.add_argument_group("image checks on the built turn faces (the authors' image filtering)")
    _add_check_arguments(images, checks=(), identity_threshold=0.2, flag="--image-checks")

    screenplays = steps.add_parser(
        "screenplays",
        help="new dialogues: CACTUS clients with CelebA faces, four resistance types each, screenplays by an LLM",
        description="Generate new MIRROR dialogues (paper §3.1-3.2): each distinct client of cactus.json gets a "
        "CelebA face of its gender and a close age (DeepFace), then one profile per resistance type, and an LLM "
        "(authors: gpt-4o-mini) writes each profile's first session as a screenplay with the Appendix I prompt. "
        "OUT gets design.jsonl, celeba_faces.jsonl, screenplays.jsonl (all resumable) and mirror_data.csv in the "
        "release format. Then: expressions, faces, filter, build.",
        epilog="example:\n  mirror-hf synthesize screenplays --cactus cactus.json --celeba-dir ~/data/celeba "
        "--model openai:gpt-4o-mini --clients 800 --out new/\n  mirror-hf build --release new/ --celeba-dir "
        "~/data/celeba --cactus cactus.json --out mirror-new",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    screenplays.add_argument("--cactus", required=True, metavar="FILE", help="CACTUS cactus.json")
    screenplays.add_argument("--celeba-dir", required=True, metavar="DIR", help="your CelebA copy")
    screenplays.add_argument("--model", required=True, metavar="SPEC", help="the LLM (authors: gpt-4o-mini)")
    screenplays.add_argument("--out", required=True, metavar="DIR")
    screenplays.add_argument("--clients", type=int, help="only the first N distinct clients")
    screenplays.add_argument("--traits", metavar="FILE", help='JSON {"emotional-resistance": ..., ...} descriptions')
    screenplays.add_argument("--seed", type=int, default=19, help="the order CelebA faces are tried in (default 19)")
    screenplays.add_argument("--age-tolerance", type=int, default=5, help="years a face's age may differ (5)")
    screenplays.add_argument("--max-reads", type=int, default=50, help="new faces read per client at most (50)")
    screenplays.add_argument("--face-detector", default="opencv", help="DeepFace detector; 'skip' for none")
    screenplays.add_argument("--temperature", type=float, help="sampling temperature (default: the server's)")
    _add_llm_arguments(screenplays, at_once="screenplays")
    screenplays.add_argument("--quiet", action="store_true", help="no progress bars")

    pipeline = steps.add_parser(
        "pipeline",
        help="all of it in one resumable run: screenplays or release -> build -> filters -> expressions -> faces -> "
        "filters -> build",
        description="Run the synthesis stages in order over one work folder, from a YAML config whose sections hold "
        "each command's options (recipes/synthesis/*.yaml). Each stage is the mirror-hf command printed before it "
        "runs; every stage resumes, so running the pipeline again continues where it stopped. The text filters run "
        "before any face is drawn; WAI runs last. OUT/pipeline_report.json records every stage.",
        epilog="examples:\n  mirror-hf synthesize pipeline --config recipes/synthesis/turn_faces.yaml --dry-run\n"
        "  mirror-hf synthesize pipeline --config recipes/synthesis/new_dialogues.yaml --until screenplays",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pipeline.add_argument("--config", required=True, metavar="FILE", help="the pipeline's YAML")
    pipeline.add_argument("--dry-run", action="store_true", help="print the stages' commands and run nothing")
    from mirror_hf.synthesis.pipeline import STAGES  # light: no model at import

    pipeline.add_argument(
        "--until", choices=STAGES, metavar="STAGE", help=f"stop after this stage: {', '.join(STAGES)}"
    )
    pipeline.add_argument(
        "--keep-going", action="store_true", help="go on past a stage that left work undone (a rerun retries it)"
    )

    convert = steps.add_parser(
        "convert-canary",
        help="turn Canary's ParlAI checkpoint (canary.tar.gz, unpacked) into a transformers T5 folder",
        description="Canary was released as a ParlAI checkpoint. Download canary.tar.gz (10 GB) from the "
        "ProsocialDialog repository, unpack it, and give its folder (model, model.opt); the T5 it was trained from "
        "is read from model.opt (its config and tokenizer are fetched from the Hub).",
    )
    convert.add_argument("source", metavar="DIR", help="the unpacked Canary folder")
    convert.add_argument("--out", required=True, metavar="DIR")
    convert.add_argument(
        "--trust-pickle", action="store_true", help="read a checkpoint that weights_only refuses (official file only)"
    )

    push = sub.add_parser(
        "push",
        help="publish a built dataset, a sessions run, an evaluation, new dialogues, an adapter, a merged model or a "
        "metric Space to the Hub",
        description="Publish a folder mirror-hf wrote (build --out, simulate --out, evaluate --out, synthesize "
        "screenplays --out, a training output_dir, export --out) as a Hub repository in one commit, with its card "
        "rendered for that repository; or a metric (wai_alliance, counseling_eval) as a Space that "
        "evaluate.load(REPO) reads. Faces derive from CelebA and may not be published: a folder holding faces needs "
        "--private (checked on the Hub) or --drop-images.",
        epilog="examples:\n  mirror-hf push mirror me/mirror --private\n"
        "  mirror-hf push runs/sim-pec me/mirror-sessions --drop-images\n"
        "  mirror-hf push runs/mirror-llava-ec me/mirror-llava-ec\n"
        "  mirror-hf push merged/ me/mirror-llava-ec-merged\n  mirror-hf push eval/ me/mirror-eval\n"
        "  mirror-hf push new/ me/mirror-new-dialogues\n"
        "  mirror-hf push wai_alliance me/wai_alliance",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    push.add_argument("source", metavar="FOLDER_OR_METRIC")
    push.add_argument("repo_id", metavar="ORG/NAME")
    push.add_argument("--private", action="store_true", help="create (and require) a private repository")
    push.add_argument("--drop-images", action="store_true", help="publish every row with its image columns emptied")
    push.add_argument("--message", help="commit message")
    push.add_argument(
        "--requirement", help="metric Spaces: the pip line that installs mirror-hf there (default mirror-hf[eval])"
    )

    pull = sub.add_parser(
        "pull",
        help="download a pushed dataset, sessions run or model into a folder",
        description="Download a Hub repository into a folder: datasets and sessions load with load_dataset(OUT) "
        "and mirror-hf evaluate; models (--repo-type model) with therapist_pipeline(OUT). A rerun fetches only what "
        "changed.",
    )
    pull.add_argument("repo_id", metavar="ORG/NAME")
    pull.add_argument("--out", required=True, metavar="DIR")
    pull.add_argument(
        "--repo-type", choices=("dataset", "model"), default="dataset", help="model: an adapter or a merged model"
    )
    pull.add_argument("--revision", help="branch, tag or commit (default: main)")

    sub.add_parser("info", help="versions of the stack and the cache paths in use")
    return parser


def _build(args) -> int:
    from mirror_hf.data.export import build_dataset, summarize
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
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip())
    report = build_dataset(
        sources, args.out, configs, progress=not args.quiet, force=args.force, max_shard_size=args.max_shard_size
    )
    print(summarize(report))
    print(
        f"wrote {args.out}/ (report: {args.out}/build_report.json). Load it with "
        f"datasets.load_dataset({args.out!r}, 'dialogues')"
    )
    return 0


def _preview(args) -> int:
    from pathlib import Path

    from mirror_hf.preview import write_preview

    out = args.out or f"{Path(args.dataset).name or 'mirror'}-preview.html"
    path = write_preview(args.dataset, out, idx=args.idx, index=args.index)
    print(f"wrote {path} — open it in a browser")
    return 0


def _export(args) -> int:
    from mirror_hf.training.merge import merge_adapter

    out = merge_adapter(args.adapter, args.out, base_model=args.base)
    print(f"wrote the merged model to {out}")
    return 0


def _simulate(args) -> int:
    import asyncio

    from mirror_hf.llm import load_backend
    from mirror_hf.paths import llm_cache_dir
    from mirror_hf.schema import EVAL_PROFILES
    from mirror_hf.simulation.client import ResistantClient
    from mirror_hf.simulation.faces import FolderFaces, IdentityFaces
    from mirror_hf.simulation.runner import run_sessions
    from mirror_hf.therapist import MirrorTherapist, TextTherapist

    dataset, _, config = args.profiles.partition(":")
    config = config or EVAL_PROFILES
    profiles = _built_config(dataset, config)
    if args.sessions:
        profiles = profiles.select(range(min(args.sessions, len(profiles))))
    cache = args.cache_dir or llm_cache_dir()
    options = {"max_concurrency": args.concurrency, "cache_dir": cache}
    therapist_backend = load_backend(args.therapist, **options)
    if args.text_only:
        therapist = TextTherapist(therapist_backend, variant=args.variant)
    else:
        therapist = MirrorTherapist(therapist_backend, variant=args.variant)
    client = ResistantClient(load_backend(args.client, **options))
    if args.faces and args.draw_faces:
        raise MirrorError("--faces and --draw-faces both choose the faces", fix="keep one")
    faces = FolderFaces(args.faces) if args.faces else IdentityFaces()
    if args.draw_faces:
        from mirror_hf.synthesis.faces import LiveFaces, load_photomaker

        settings = _face_settings(args)
        expression_model = load_backend(args.draw_faces, **options)
        pipe = load_photomaker(settings, device=args.device)
        faces = LiveFaces(expression_model, pipe, settings, checks=_face_checks(args), tries=args.tries)
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
        f"{report['sessions']} sessions in {args.out} ({report['end_reasons']}); "
        f"load them with datasets.load_dataset({args.out!r})"
    )
    if args.draw_faces:
        print(f"faces drawn live: {dict(faces.stats)}")
    if report["end_reasons"].get("backend_error"):
        print(f"  {report['end_reasons']['backend_error']} sessions ended on a failed call: run again to replay them")
    return 0


def _evaluate(args) -> int:
    import asyncio

    from mirror_hf.judges import counseling_eval, report, wai
    from mirror_hf.llm import load_backend
    from mirror_hf.paths import llm_cache_dir

    instruments = [i.strip() for i in args.instruments.split(",") if i.strip()]
    unknown = sorted(set(instruments) - set(report.INSTRUMENTS))
    if unknown:
        raise MirrorError(f"unknown instrument(s) {unknown}", fix=f"use {','.join(report.INSTRUMENTS)}")
    runs = report.load_runs([_local_run(spec) for spec in args.sessions])
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
    rubrics = counseling_eval.load_rubrics(prompts_dir=args.rubrics) if "counseling_eval" in instruments else None
    items = wai.load_guidelines(args.wai_guidelines) if args.wai_guidelines else wai.WAI_ITEMS
    human = report.read_human_ratings(args.human_ratings) if args.human_ratings else None
    options = {"max_concurrency": args.concurrency, "cache_dir": args.cache_dir or llm_cache_dir()}
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
        runs, judgements, reference=args.reference, tokenizer=args.tokenizer, weighted=args.weighted, human=human
    )
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


def _built_config(dataset: str, config: str):
    """One config of a built MIRROR dataset (a folder or its Hub copy), or a MirrorError that says what to give."""
    from datasets import load_dataset

    from mirror_hf.schema import CONFIG_SPLITS

    try:
        return load_dataset(dataset, config, split=CONFIG_SPLITS.get(config, "train"))
    except (ValueError, OSError) as err:  # no such folder or repository, no such config, no data files
        raise MirrorError(
            f"cannot read the {config!r} config of {dataset!r}: {err}",
            fix="give a folder written by `mirror-hf build` (or its Hub copy); release files are built first",
        ) from err


def _dialogue_texts(dialogues, limit: int | None = None) -> list[dict]:
    """The rows of a built ``dialogues`` config (a ``datasets.Dataset``) without their faces: read 64 rows at a time
    and never decoded (a full build holds some 30,000 turn faces)."""
    dialogues = dialogues.remove_columns(["identity_image"])
    if limit:
        dialogues = dialogues.select(range(min(limit, len(dialogues))))
    rows = []
    for table in dialogues.with_format("arrow").iter(batch_size=64):
        for row in table.to_pylist():
            row["turns"] = [{k: v for k, v in turn.items() if k != "image"} for turn in row["turns"]]
            rows.append(row)
    return rows


def _synthesize(args) -> int:
    steps = {
        "faces": _synthesize_faces,
        "expressions": _synthesize_expressions,
        "filter": _synthesize_filter,
        "screenplays": _synthesize_screenplays,
        "convert-canary": _convert_canary,
        "pipeline": _synthesize_pipeline,
    }
    return steps[args.step](args)


def _synthesize_filter(args) -> int:
    from mirror_hf.synthesis.filters import RULE_FILTERS, FilterRules, PosTagger, filter_dialogues

    filters = [f.strip() for f in args.filters.split(",") if f.strip()]
    unknown = sorted(set(filters) - set(RULE_FILTERS))
    if unknown:
        raise MirrorError(
            f"--filters {unknown}: not rule filters",
            fix=f"use {','.join(RULE_FILTERS)}; --canary, --wai-judge, --image-checks and --faces add the others",
        )
    speakers = tuple(s.strip() for s in args.canary_speakers.split(",") if s.strip())
    if not speakers or set(speakers) - {"therapist", "client"}:
        raise MirrorError(f"--canary-speakers {args.canary_speakers!r}", fix="therapist, client or therapist,client")
    added = {"canary": args.canary, "wai": args.wai_judge, "faces": args.faces}
    filters += [name for name, given in added.items() if given]
    fields = tuple(f.strip() for f in args.copy_paste_fields.split(",") if f.strip())
    known = ("personal_info", "personality", "distorted_thought", "reason_for_seeking_counseling", "cbt_plan")
    if set(fields) - set(known):
        raise MirrorError(f"--copy-paste-fields {sorted(set(fields) - set(known))}", fix=f"use some of {known}")
    rules = FilterRules(canary_speakers=speakers, wai_threshold=args.wai_threshold, copy_paste_fields=fields)
    tagger = canary = judge = items = turn_faces = None  # models load before any dialogue is read: fail fast
    image_checks = _face_checks(args)
    if "pos_repetition" in filters:
        tagger = PosTagger(args.pos_model, "tag_" if args.pos_tags == "fine" else "pos_")
    if args.canary:
        from mirror_hf.synthesis.canary import Canary

        canary = Canary(args.canary, device=args.device)
    if args.wai_judge:
        from mirror_hf.judges import wai
        from mirror_hf.llm import load_backend
        from mirror_hf.paths import llm_cache_dir

        items = wai.load_guidelines(args.wai_guidelines) if args.wai_guidelines else wai.WAI_ITEMS
        judge = load_backend(
            args.wai_judge, max_concurrency=args.concurrency, cache_dir=args.cache_dir or llm_cache_dir()
        )
    built = _built_config(args.dataset, DIALOGUES)  # read once: the texts, and the faces the checks see
    dialogues = _dialogue_texts(built, args.dialogues)
    if image_checks:
        from mirror_hf.synthesis.filters import TurnFaces

        turn_faces = TurnFaces(built)
    report = filter_dialogues(
        dialogues,
        args.out,
        filters=tuple(filters),
        rules=rules,
        tagger=tagger,
        canary=canary,
        judge=judge,
        wai_items=items,
        wai_reasks=args.reasks,
        wai_all=args.wai_all,
        faces_dir=args.faces,
        image_checks=image_checks,
        turn_faces=turn_faces,
        chunk=max(args.concurrency, 32),
        progress=not args.quiet,
    )
    print(
        f"{report['dialogues']} dialogues: {report['kept']} kept, {report['rejected']} rejected "
        f"({report['rejected_percent']} %)"
    )
    for name, row in report["filters"].items():
        paper = f", paper {row['paper_percent']} %" if row.get("paper_percent") is not None else ""
        because = ", ".join(f"{why} {n}" for why, n in row.get("not_judged_because", {}).items())
        waiting = f", {row['not_judged']} not judged ({because})" if row.get("not_judged") else ""
        print(f"  {name:<24} {row['rejected']:>6} of {row['checked']} ({row['rejected_percent']} %{paper}){waiting}")
    print(f"report: {args.out}/filter_report.md; apply it with mirror-hf build ... --filters {args.out}")
    return 0


def _synthesize_screenplays(args) -> int:
    import asyncio

    from mirror_hf.data.celeba import CelebA
    from mirror_hf.llm import load_backend
    from mirror_hf.paths import llm_cache_dir
    from mirror_hf.synthesis.checks import DeepFaceChecks
    from mirror_hf.synthesis.design import (
        RESISTANCE_TRAITS,
        cactus_clients,
        design_profiles,
        load_traits,
        pair_faces,
    )
    from mirror_hf.synthesis.screenplay import write_screenplays

    traits = load_traits(args.traits) if args.traits else RESISTANCE_TRAITS
    clients = cactus_clients(args.cactus, args.clients)
    celeba = CelebA(args.celeba_dir)
    backend = load_backend(args.model, max_concurrency=args.concurrency, cache_dir=args.cache_dir or llm_cache_dir())
    analyze = DeepFaceChecks(detector_backend=args.face_detector).analyze
    faces = pair_faces(
        clients, celeba, analyze, args.out, seed=args.seed, age_tolerance=args.age_tolerance,
        max_reads=args.max_reads, progress=not args.quiet,
    )  # fmt: skip
    faceless = [c["row"] for c in clients if faces.get(c["row"]) is None]
    profiles = design_profiles(clients, faces, traits)
    sampling = {"temperature": args.temperature} if args.temperature is not None else {}
    report = asyncio.run(
        write_screenplays(
            profiles, backend, args.out, concurrency=args.concurrency, reasks=args.reasks, sampling=sampling,
            progress=not args.quiet, settings={
                "cactus": Path(args.cactus).name, "clients": len(clients), "clients_without_face": faceless,
                "seed": args.seed, "age_tolerance": args.age_tolerance, "max_reads": args.max_reads,
                "face_detector": args.face_detector, "traits": Path(args.traits).name if args.traits else "mirror-hf",
            },
        )
    )  # fmt: skip
    print(
        f"{len(clients)} clients ({len(faceless)} without a CelebA face of their gender, left out), "
        f"{report['profiles']} profiles: {report['written']} screenplays written now, {report['already_done']} "
        f"before, {report['failed']} failed (a rerun retries them) -> {report['file']} ({report['release_rows']} rows)"
    )
    if faceless:
        print(f"  clients without a face (CACTUS rows): {faceless[:10]}")
    print(f"next: mirror-hf build --release {args.out} --celeba-dir {args.celeba_dir} --cactus {args.cactus}")
    return 0


def _synthesize_pipeline(args) -> int:
    from mirror_hf.synthesis.pipeline import load_pipeline_config, plan_pipeline, run_pipeline

    config = load_pipeline_config(args.config)
    stages = plan_pipeline(config)
    parser = _parser()
    for stage in stages:  # every stage's options are checked before the first one runs
        try:
            _, unknown = parser.parse_known_args(list(stage.commands[-1]))
        except SystemExit as err:  # argparse printed what it refused
            raise MirrorError(
                f"the {stage.name} stage's options are refused (argparse's message above): {stage.command}",
                file=args.config,
            ) from err
        if unknown:
            raise MirrorError(
                f"`mirror-hf {' '.join(stage.argv[:2])}` has no option {unknown[0]!r} (the {stage.name} stage)",
                file=args.config,
                fix=f"keys are the command's options with _ for -: see mirror-hf {' '.join(stage.argv[:2])} --help",
            )
    if args.dry_run:
        print("\n".join(stage.command for stage in stages))
        return 0
    report = run_pipeline(stages, config["out"], main, until=args.until, keep_going=args.keep_going)
    for entry in report["stages"]:
        undone = f" ({entry['left_undone']})" if entry.get("left_undone") else ""
        print(f"  {entry['stage']:<12} {entry['status']:<10} {entry.get('seconds', 0):>9.1f} s{undone}")
    if report["status"] == "done":
        print(f"done: {report['dataset']}/ (datasets.load_dataset({report['dataset']!r}, CONFIG))")
    return 0 if report["status"] in ("done", "stopped") else 1


def _convert_canary(args) -> int:
    from mirror_hf.synthesis.canary import convert_parlai_canary

    out = convert_parlai_canary(args.source, args.out, trust_pickle=args.trust_pickle)
    print(f"wrote {out}; use it with mirror-hf synthesize filter --canary {out}")
    return 0


def _synthesize_faces(args) -> int:
    from mirror_hf.synthesis.faces import IdentityFaceIndex, draw_faces, load_photomaker

    shard = _shard(args.shard) if args.shard else None
    settings, checks = _face_settings(args), _face_checks(args)
    identities = IdentityFaceIndex(_built_config(args.dataset, DIALOGUES))
    pipe = load_photomaker(settings, device=args.device)
    report = draw_faces(
        args.expressions or args.out,
        identities,
        pipe,
        args.out,
        settings,
        checks=checks,
        tries=args.tries,
        redraw_rejected=args.redraw_rejected,
        shard=shard,
        progress=not args.quiet,
    )
    if shard:
        print(f"shard {shard[0]}/{shard[1]}: {report.get('other_shards', 0)} turns left to the other shards")
    print(
        f"{report.get('drawn', 0)} faces drawn ({report.get('redrawn', 0)} after a failed check), "
        f"{report.get('rejected', 0)} rejected after {args.tries} tries, {report.get('already_drawn', 0)} already "
        f"there, {report.get('no_expression', 0)} turns without expressions, "
        f"{report.get('no_identity_face', 0)} without an identity face -> {args.out}"
    )
    if report["failed_checks"]:
        print(f"  failed checks (all attempts): {report['failed_checks']}")
    if report["without_identity_face"]:
        print(f"  no identity face (build with --celeba-dir): {report['without_identity_face'][:10]}")
    return 0


def _shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with 0 <= K < N."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise MirrorError(f"--shard {text!r}", fix="write K/N with 0 <= K < N, e.g. --shard 0/4 ... --shard 3/4")
    return int(k), int(n)


def _synthesize_expressions(args) -> int:
    import asyncio

    from mirror_hf.llm import load_backend
    from mirror_hf.paths import llm_cache_dir
    from mirror_hf.synthesis.expressions import describe_expressions

    dialogues = _dialogue_texts(_built_config(args.dataset, DIALOGUES), args.dialogues)
    if args.filters:  # no face is described, nor drawn, for a dialogue the filters already rejected
        from mirror_hf.data.sources import read_rejected

        rejected = read_rejected(args.filters)
        dialogues = [d for d in dialogues if d["idx"] not in rejected]
        print(f"left out: the {len(rejected)} dialogue(s) rejected in {args.filters}")
    backend = load_backend(args.model, max_concurrency=args.concurrency, cache_dir=args.cache_dir or llm_cache_dir())
    report = asyncio.run(
        describe_expressions(
            dialogues, backend, args.out, concurrency=args.concurrency, reasks=args.reasks, progress=not args.quiet
        )
    )
    print(
        f"{report['client_turns']} client turns: {report.get('described', 0)} described now, "
        f"{report['already_done']} before, {report.get('failed', 0)} failed (a rerun retries them) -> {report['file']}"
    )
    return 0


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


def _push(args) -> int:
    from mirror_hf.metrics import METRICS

    if args.source in METRICS and not Path(args.source).exists():
        from mirror_hf.hub import hub_errors
        from mirror_hf.metrics import push_to_hub

        with hub_errors(args.repo_id):
            url = push_to_hub(args.source, args.repo_id, requirement=args.requirement, private=args.private)
        print(f"pushed the {args.source} metric Space: {url}; load it with evaluate.load({args.repo_id!r})")
        return 0
    from mirror_hf.hub import push

    if args.requirement:
        raise MirrorError("--requirement is for metric Spaces only", fix="drop it")
    private = args.private or None  # None: the Hub's default for a new repository
    result = push(args.source, args.repo_id, private=private, drop_images=args.drop_images, commit_message=args.message)
    faces = f"{result.images} face(s)" + (f", {result.images_dropped} left out" if result.images_dropped else "")
    visibility = "private" if result.private else "public"
    print(
        f"pushed {result.kind} {args.source} to {visibility} {result.repo_type} {result.repo_id}: "
        f"{len(result.files)} file(s), {len(result.deleted)} stale removed, {faces}\n{result.commit_url}"
    )
    return 0


def _pull(args) -> int:
    from mirror_hf.hub import pull

    out = pull(args.repo_id, args.out, repo_type=args.repo_type, revision=args.revision)
    print(f"pulled {args.repo_id} into {out}")
    return 0


def _info(args) -> int:
    import datasets.config
    import huggingface_hub.constants

    from mirror_hf.paths import cache_dir

    print(f"mirror-hf {__version__} · Python {platform.python_version()} · {platform.platform()}")
    for name in (
        "datasets",
        "huggingface_hub",
        "pyarrow",
        "Pillow",
        "torch",
        "torchvision",
        "transformers",
        "trl",
        "peft",
        "accelerate",
        "deepspeed",
        "evaluate",
        "diffusers",
        "photomakerv",
        "deepface",
        "onnxruntime",
        "spacy",
    ):
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        print(f"  {name:<16} {version}")
    print("caches:")
    print(f"  mirror-hf        {cache_dir()}")
    print(f"  datasets         {datasets.config.HF_DATASETS_CACHE}")
    print(f"  hub              {huggingface_hub.constants.HF_HUB_CACHE}")
    print(f"  offline          HF_HUB_OFFLINE={int(huggingface_hub.constants.HF_HUB_OFFLINE)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        commands = {
            "build": _build,
            "preview": _preview,
            "export": _export,
            "simulate": _simulate,
            "evaluate": _evaluate,
            "synthesize": _synthesize,
            "push": _push,
            "pull": _pull,
            "info": _info,
        }
        return commands[args.command](args)
    except MirrorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
