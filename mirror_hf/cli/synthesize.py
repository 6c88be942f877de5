"""`mirror-hf synthesize ...`: the authors' generation pipeline as steps — expressions, faces, screenplays, the
dialogue filters, Canary's conversion — and all of them in order from one YAML (`pipeline`)."""

from __future__ import annotations

from pathlib import Path

from mirror_hf.cli._format import add_command
from mirror_hf.cli._options import (
    FACE_CHECKS,
    MODEL_SPECS,
    add_backend_arguments,
    add_check_arguments,
    add_photomaker_arguments,
    add_protocol_arguments,
    add_reask_argument,
    backend_options,
    check_stage_options,
    comma_list,
    counts,
    face_checks,
    face_settings,
    load_face_pipeline,
    protocol_options,
)
from mirror_hf.errors import MirrorError

DATASET_HELP = "a built MIRROR folder or Hub id"
COPY_PASTE_FIELDS = ("personal_info", "personality", "distorted_thought", "reason_for_seeking_counseling", "cbt_plan")


def register(subparsers) -> None:
    synthesize = add_command(
        subparsers,
        "synthesize",
        help="the authors' generation pipeline: turn faces (expressions, faces), new dialogues, the filters",
        description="The steps of the authors' data pipeline, each resumable. `expressions`: for every client turn "
        "of a built dataset, an LLM (paper Appendix I; authors: Llama-3-8B-Instruct) names the facial expression to "
        "draw and a contrasting one: PhotoMaker's prompt and negative prompt. `faces`: each turn's face drawn with "
        "PhotoMaker (the release has no turn faces: they derive from CelebA). `screenplays`: new dialogues from "
        "CACTUS profiles and CelebA faces (§3.1-3.2), as release files. `filter`: the paper's dialogue filters "
        "(§3.4) with a rejection-rate report, applied by `mirror-hf build --filters`. `convert-canary`: Canary's "
        "ParlAI checkpoint to transformers. `pipeline`: all of them in order from one YAML file.",
    )
    steps = synthesize.add_subparsers(dest="step", required=True, metavar="STEP")
    _register_expressions(steps)
    _register_faces(steps)
    _register_filter(steps)
    _register_screenplays(steps)
    _register_pipeline(steps)
    _register_convert_canary(steps)


def _register_expressions(steps) -> None:
    expressions = add_command(
        steps,
        "expressions",
        help="describe the face of every client turn (PhotoMaker prompts) into OUT/expressions.jsonl",
        description="Ask an LLM, for every client turn of a built dataset, for the facial expression its face "
        "should show and a contrasting one to avoid, and write PhotoMaker's prompt and negative prompt for the turn "
        "into OUT/expressions.jsonl (resumable: a rerun asks only what is missing or failed).",
        epilog=f"{MODEL_SPECS}\n\nexample:\n  mirror-hf synthesize expressions --dataset mirror "
        "--model meta-llama/Meta-Llama-3-8B-Instruct@http://localhost:8000/v1 --out faces/",
    )
    expressions.add_argument("--dataset", default="mirror", help=f"{DATASET_HELP} (its dialogues)")
    expressions.add_argument("--model", required=True, metavar="SPEC", help="the LLM (authors: Llama-3-8B-Instruct)")
    expressions.add_argument("--out", required=True, metavar="DIR", help="the folder of expressions.jsonl")
    expressions.add_argument("--dialogues", type=int, metavar="N", help="only the first N dialogues")
    expressions.add_argument(
        "--filters", metavar="DIR", help="leave out the dialogues `synthesize filter` rejected (its --out folder)"
    )
    add_protocol_arguments(expressions)
    add_backend_arguments(expressions, at_once="turns")
    add_reask_argument(expressions)
    expressions.add_argument("--quiet", action="store_true", help="no progress bar")
    expressions.set_defaults(handler=run_expressions)


def _register_faces(steps) -> None:
    faces = add_command(
        steps,
        "faces",
        help="draw every described client turn's face with PhotoMaker into OUT/{idx}/turn:{t}_{stem}.png",
        description="Draw the face of every client turn described by `synthesize expressions`, with PhotoMaker from "
        "the client's identity face (the built dataset's identity_image: build with --celeba-dir), with the authors' "
        "settings; resumable (faces already drawn are kept). The folder is what build --turn-images and simulate "
        "--faces read.",
        epilog="example:\n  mirror-hf synthesize faces --dataset mirror --out faces/ --device cuda",
    )
    faces.add_argument("--dataset", default="mirror", help=f"{DATASET_HELP} (its identity faces)")
    faces.add_argument("--out", required=True, metavar="DIR", help="where the faces go")
    faces.add_argument("--expressions", metavar="DIR", help="folder of expressions.jsonl (default: --out)")
    add_photomaker_arguments(faces)
    add_check_arguments(faces, checks=FACE_CHECKS, identity_threshold=0.2)
    faces.add_argument("--redraw-rejected", action="store_true", help="try again the turns rejected by a past run")
    faces.add_argument(
        "--batch-size",
        type=int,
        default=1,
        metavar="N",
        help="turns of one client per UNet call (default 1: PhotoMaker's own pixels; more: the same faces within "
        "float tolerance, faster on a large GPU)",
    )
    faces.add_argument(
        "--shard",
        metavar="K/N",
        help="draw only shard K of N (0-based; the dialogues split by idx): run N of these at once, one per GPU, "
        "on the same --out",
    )
    faces.add_argument("--quiet", action="store_true", help="no progress bar")
    faces.set_defaults(handler=run_faces)


def _register_filter(steps) -> None:
    from mirror_hf.synthesis.settings import RULE_FILTERS, FilterRules

    filter_ = add_command(
        steps,
        "filter",
        help="the paper's dialogue filters (§3.4) into OUT/filters.jsonl and a rejection-rate report",
        description="Run the paper's dialogue filters over a built dataset's dialogues: basic, pos_repetition, "
        "copy_paste (no model server), canary (--canary), wai (--wai-judge), the image checks on the built turn "
        "faces (--image-checks: clip, nsfw, identity, gender, age) and the faces rejected when drawn (--faces). "
        "Each result is appended to OUT/filters.jsonl (a rerun does only what is missing); OUT/filter_report.json "
        "and .md give each filter's rejected share beside the paper's and every rejected dialogue with its reasons. "
        "`mirror-hf build --filters OUT` then leaves those dialogues out.",
        epilog="examples:\n  mirror-hf synthesize filter --dataset mirror --out filtered/ --canary models/canary-hf "
        "--wai-judge openai:gpt-4o --faces faces/\n  mirror-hf build --release REL --celeba-dir C --turn-images "
        "faces/ --filters filtered/ --out mirror-filtered",
    )
    filter_.add_argument("--dataset", default="mirror", help=f"{DATASET_HELP} (its dialogues)")
    filter_.add_argument("--out", required=True, metavar="DIR", help="the folder of the verdicts and the report")
    filter_.add_argument(
        "--filters",
        default=",".join(RULE_FILTERS),
        metavar="A,B",
        help=f"rule filters to run (default: {','.join(RULE_FILTERS)}); --canary, --wai-judge, --image-checks "
        "and --faces add the others",
    )
    filter_.add_argument(
        "--pos-tagger",
        choices=("nltk", "spacy"),
        default="nltk",
        help="nltk: word_tokenize and the averaged perceptron, as the authors' notebook tagged (default); spacy: ours",
    )
    filter_.add_argument(
        "--pos-model",
        metavar="MODEL_OR_DIR",
        help="nltk: an nltk_data folder (default: NLTK's own, its two resources downloaded when missing); spacy: a "
        "model or pipeline folder (default en_core_web_sm)",
    )
    filter_.add_argument(
        "--pos-tags", choices=("fine", "coarse"), default="fine", help="spacy: Penn (fine, default) or universal tags"
    )
    filter_.add_argument(
        "--pos-text",
        choices=("line", "statement"),
        default="line",
        help="what is tagged: line, the screenplay line after the speaker ('[direction] statement', the authors'); "
        "statement, the statement alone",
    )
    filter_.add_argument(
        "--copy-paste-fields",
        default=",".join(FilterRules.copy_paste_fields),
        metavar="A,B",
        help="the profile fields whose sentences an utterance must not repeat (default: %(default)s, the authors' "
        "notebook's)",
    )
    filter_.add_argument(
        "--copy-paste-min-words",
        type=int,
        default=FilterRules.copy_paste_min_words,
        metavar="N",
        help="match only sentences of N words or more (default 0: any, as the authors; 4 keeps 'Thursday.' out)",
    )
    filter_.add_argument(
        "--copy-paste-fold-case",
        action="store_true",
        help="match case, spacing and curly quotes aside (the authors matched exactly)",
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
    filter_.add_argument("--dialogues", type=int, metavar="N", help="only the first N dialogues")
    add_backend_arguments(filter_, at_once="WAI judge calls")
    add_reask_argument(filter_, what="WAI")
    filter_.add_argument("--quiet", action="store_true", help="no progress bars")
    images = filter_.add_argument_group("image checks on the built turn faces (the authors' image filtering)")
    add_check_arguments(images, checks=(), identity_threshold=0.2, flag="--image-checks", pairing=True)
    filter_.set_defaults(handler=run_filter)


def _register_screenplays(steps) -> None:
    screenplays = add_command(
        steps,
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
    )
    screenplays.add_argument("--cactus", required=True, metavar="FILE", help="CACTUS cactus.json")
    screenplays.add_argument("--celeba-dir", required=True, metavar="DIR", help="your CelebA copy")
    screenplays.add_argument("--model", required=True, metavar="SPEC", help="the LLM (authors: gpt-4o-mini)")
    screenplays.add_argument("--out", required=True, metavar="DIR", help="the folder of the new release files")
    screenplays.add_argument("--clients", type=int, metavar="N", help="only the first N distinct clients")
    screenplays.add_argument("--traits", metavar="FILE", help='JSON {"emotional-resistance": ..., ...} descriptions')
    screenplays.add_argument("--seed", type=int, default=19, help="the order CelebA faces are tried in (default 19)")
    screenplays.add_argument(
        "--age-tolerance", type=int, default=5, metavar="YEARS", help="how far a face's age may be"
    )
    screenplays.add_argument("--max-reads", type=int, default=50, metavar="N", help="new faces read per client at most")
    screenplays.add_argument(
        "--face-detector", default="opencv", metavar="NAME", help="DeepFace detector; 'skip': none"
    )
    screenplays.add_argument(
        "--temperature",
        type=float,
        help="sampling temperature (default 0.7, the authors' with top_p 0.9, penalties 0.2)",
    )
    add_protocol_arguments(screenplays)
    add_backend_arguments(screenplays, at_once="screenplays")
    add_reask_argument(screenplays)
    screenplays.add_argument("--quiet", action="store_true", help="no progress bars")
    screenplays.set_defaults(handler=run_screenplays)


def _register_pipeline(steps) -> None:
    from mirror_hf.synthesis.pipeline import STAGES

    pipeline = add_command(
        steps,
        "pipeline",
        help="all of it in one resumable run: screenplays or release -> build -> filters -> expressions -> faces -> "
        "filters -> build",
        description="Run the synthesis stages in order over one work folder, from a YAML config whose sections hold "
        "each command's options (recipes/synthesis/*.yaml). Each stage is the mirror-hf command printed before it "
        "runs; every stage resumes, so running the pipeline again continues where it stopped. The text filters run "
        "before any face is drawn; WAI runs last. OUT/pipeline_report.json records every stage.",
        epilog="examples:\n  mirror-hf synthesize pipeline --config recipes/synthesis/turn_faces.yaml --dry-run\n"
        "  mirror-hf synthesize pipeline --config recipes/synthesis/new_dialogues.yaml --until screenplays",
    )
    pipeline.add_argument("--config", required=True, metavar="FILE", help="the pipeline's YAML")
    pipeline.add_argument("--dry-run", action="store_true", help="print the stages' commands and run nothing")
    pipeline.add_argument(
        "--until", choices=STAGES, metavar="STAGE", help=f"stop after this stage: {', '.join(STAGES)}"
    )
    pipeline.add_argument(
        "--keep-going", action="store_true", help="go on past a stage that left work undone (a rerun retries it)"
    )
    pipeline.set_defaults(handler=run_pipeline)


def _register_convert_canary(steps) -> None:
    convert = add_command(
        steps,
        "convert-canary",
        help="turn Canary's ParlAI checkpoint (canary.tar.gz, unpacked) into a transformers T5 folder",
        description="Canary was released as a ParlAI checkpoint. Download canary.tar.gz (10 GB) from the "
        "ProsocialDialog repository, unpack it, and give its folder (model, model.opt); the T5 it was trained from "
        "is read from model.opt (its config and tokenizer are fetched from the Hub).",
    )
    convert.add_argument("source", metavar="DIR", help="the unpacked Canary folder")
    convert.add_argument("--out", required=True, metavar="DIR", help="where the transformers model goes")
    convert.add_argument(
        "--trust-pickle", action="store_true", help="read a checkpoint that weights_only refuses (official file only)"
    )
    convert.set_defaults(handler=run_convert_canary)


def _dialogues(dataset: str, limit: int | None = None) -> list[dict]:
    from mirror_hf.data.built import dialogue_texts, open_built
    from mirror_hf.schema import DIALOGUES

    return dialogue_texts(open_built(dataset, DIALOGUES), limit)


def pos_tagger(args):
    from mirror_hf.synthesis.pos import NltkTagger, SpacyTagger

    if args.pos_tagger == "spacy":
        return SpacyTagger(args.pos_model or "en_core_web_sm", "tag_" if args.pos_tags == "fine" else "pos_")
    if args.pos_tags != "fine":
        raise MirrorError("--pos-tags coarse: NLTK's tagger gives Penn tags", fix="add --pos-tagger spacy")
    return NltkTagger(args.pos_model)


def run_filter(args) -> int:
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.schema import FILTER_REPORT_FILE
    from mirror_hf.synthesis.filters import FILTERS_FILE, RULE_FILTERS, FilterRules, filter_dialogues

    filters = comma_list(args.filters)
    unknown = sorted(set(filters) - set(RULE_FILTERS))
    if unknown:
        raise MirrorError(
            f"--filters {unknown}: not rule filters",
            fix=f"use {','.join(RULE_FILTERS)}; --canary, --wai-judge, --image-checks and --faces add the others",
        )
    speakers = tuple(comma_list(args.canary_speakers))
    if not speakers or set(speakers) - {"therapist", "client"}:
        raise MirrorError(f"--canary-speakers {args.canary_speakers!r}", fix="therapist, client or therapist,client")
    added = {"canary": args.canary, "wai": args.wai_judge, "faces": args.faces}
    filters += [name for name, given in added.items() if given]
    fields = tuple(comma_list(args.copy_paste_fields))
    if set(fields) - set(COPY_PASTE_FIELDS):
        unknown_fields = sorted(set(fields) - set(COPY_PASTE_FIELDS))
        raise MirrorError(f"--copy-paste-fields {unknown_fields}", fix=f"use some of {', '.join(COPY_PASTE_FIELDS)}")
    claim_output_dir(args.out, command="synthesize filter", markers=(FILTERS_FILE, FILTER_REPORT_FILE), force_flag=None)
    rules = FilterRules(
        canary_speakers=speakers, wai_threshold=args.wai_threshold, copy_paste_fields=fields,
        copy_paste_min_words=args.copy_paste_min_words, copy_paste_fold_case=args.copy_paste_fold_case,
        pos_text=args.pos_text,
    )  # fmt: skip
    tagger = canary = judge = items = turn_faces = None  # models load before any dialogue is read: fail fast
    image_checks = face_checks(args)
    if "pos_repetition" in filters:
        tagger = pos_tagger(args)
    if args.canary:
        from mirror_hf.synthesis.canary import Canary

        canary = Canary(args.canary, device=args.device)
    if args.wai_judge:
        from mirror_hf.judges import wai
        from mirror_hf.llm import load_backend

        items = wai.load_guidelines(args.wai_guidelines) if args.wai_guidelines else wai.WAI_ITEMS
        judge = load_backend(args.wai_judge, **backend_options(args))
    from mirror_hf.data.built import dialogue_texts, open_built
    from mirror_hf.schema import DIALOGUES

    built = open_built(args.dataset, DIALOGUES)  # read once: the texts, and the faces the checks see
    dialogues = dialogue_texts(built, args.dialogues)
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
        because = counts(row.get("not_judged_because", {}))
        waiting = f", {row['not_judged']} not judged ({because})" if row.get("not_judged") else ""
        print(f"  {name:<24} {row['rejected']:>6} of {row['checked']} ({row['rejected_percent']} %{paper}){waiting}")
    print(f"report: {args.out}/filter_report.md; apply it with mirror-hf build ... --filters {args.out}")
    return 0


def run_screenplays(args) -> int:
    import asyncio

    from mirror_hf.data.celeba import CelebA
    from mirror_hf.llm import load_backend
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.schema import SCREENPLAYS_REPORT_FILE
    from mirror_hf.synthesis.checks import DeepFaceChecks
    from mirror_hf.synthesis.design import (
        DESIGN_FILE,
        RESISTANCE_TRAITS,
        cactus_clients,
        design_profiles,
        load_traits,
        pair_faces,
        plan_steps,
    )
    from mirror_hf.synthesis.screenplay import SCREENPLAYS_FILE, write_screenplays
    from mirror_hf.upstream.prompts import resistance_traits, screenplay_prompts

    protocol, upstream = protocol_options(args)
    authors = protocol.prompts == "upstream"
    claim_output_dir(
        args.out,
        command="synthesize screenplays",
        markers=(DESIGN_FILE, SCREENPLAYS_FILE, SCREENPLAYS_REPORT_FILE),
        force_flag=None,
    )
    traits = load_traits(args.traits) if args.traits else resistance_traits(upstream) if authors else RESISTANCE_TRAITS
    prompts = screenplay_prompts(upstream) if authors else None
    clients = cactus_clients(args.cactus, args.clients)
    celeba = CelebA(args.celeba_dir)
    backend = load_backend(args.model, **backend_options(args))
    analyze = DeepFaceChecks(detector_backend=args.face_detector).analyze
    faces = pair_faces(
        clients, celeba, analyze, args.out, seed=args.seed, age_tolerance=args.age_tolerance,
        max_reads=args.max_reads, progress=not args.quiet,
    )  # fmt: skip
    faceless = [c["row"] for c in clients if faces.get(c["row"]) is None]
    planless = [c["row"] for c in clients if plan_steps(c["cbt_plan"]) is None]
    profiles = design_profiles(clients, faces, traits, capitalize_family=protocol.family_capitalize)
    sampling = {"temperature": args.temperature} if args.temperature is not None else {}
    report = asyncio.run(
        write_screenplays(
            profiles, backend, args.out, concurrency=args.concurrency, reasks=args.reasks, sampling=sampling,
            progress=not args.quiet, prompts=prompts, settings={
                "cactus": Path(args.cactus).name, "clients": len(clients), "clients_without_face": faceless,
                "clients_without_numbered_plan": planless, "protocol": protocol.settings(),
                "seed": args.seed, "age_tolerance": args.age_tolerance, "max_reads": args.max_reads,
                "face_detector": args.face_detector,
                "traits": Path(args.traits).name if args.traits else "authors" if authors else "mirror-hf",
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
    if planless:  # run_step2.py skips them too
        print(f"  clients left out, their plan has no numbered '1.' step (CACTUS rows): {planless[:10]}")
    print(f"next: mirror-hf build --release {args.out} --celeba-dir {args.celeba_dir} --cactus {args.cactus}")
    return 0


def run_pipeline(args) -> int:
    from mirror_hf.cli import main
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.synthesis.pipeline import (
        PIPELINE_REPORT_FILE,
        load_pipeline_config,
        plan_pipeline,
    )
    from mirror_hf.synthesis.pipeline import run_pipeline as run_stages

    config = load_pipeline_config(args.config)
    stages = plan_pipeline(config)
    check_stage_options(stages, args.config)
    if args.dry_run:
        print("\n".join(stage.command for stage in stages))
        return 0
    markers = (PIPELINE_REPORT_FILE, *{stage.folder.name for stage in stages})
    claim_output_dir(config["out"], command="synthesize pipeline", markers=markers, force_flag=None, option="out:")
    report = run_stages(stages, config["out"], main, until=args.until, keep_going=args.keep_going)
    for entry in report["stages"]:
        undone = f" ({entry['left_undone']})" if entry.get("left_undone") else ""
        print(f"  {entry['stage']:<12} {entry['status']:<10} {entry.get('seconds', 0):>9.1f} s{undone}")
    if report["status"] == "done":
        print(f"done: {report['dataset']}/ (datasets.load_dataset({report['dataset']!r}, CONFIG))")
    return 0 if report["status"] in ("done", "stopped") else 1


def run_convert_canary(args) -> int:
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.synthesis.canary import convert_parlai_canary

    claim_output_dir(args.out, command="synthesize convert-canary", markers=("config.json",), force_flag=None)
    out = convert_parlai_canary(args.source, args.out, trust_pickle=args.trust_pickle)
    print(f"wrote {out}; use it with mirror-hf synthesize filter --canary {out}")
    return 0


def run_faces(args) -> int:
    from mirror_hf.data.built import open_built
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.schema import DIALOGUES
    from mirror_hf.synthesis.expressions import EXPRESSIONS_FILE
    from mirror_hf.synthesis.faces import FACES_FILE, IdentityFaceIndex, draw_faces

    shard = _shard(args.shard) if args.shard else None
    if args.batch_size < 1:
        raise MirrorError(f"--batch-size {args.batch_size}", fix="draw at least one face per call (default 1)")
    out = claim_output_dir(
        args.out, command="synthesize faces", markers=(FACES_FILE, EXPRESSIONS_FILE), force_flag=None
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / FACES_FILE).touch()  # claimed: the other shards, started at the same moment, see an earlier run's folder
    settings, checks = face_settings(args), face_checks(args)
    identities = IdentityFaceIndex(open_built(args.dataset, DIALOGUES))
    pipe = load_face_pipeline(args, settings)
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
        batch_size=args.batch_size,
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
        print(f"  failed checks (all attempts): {counts(report['failed_checks'])}")
    if report["without_identity_face"]:
        print(f"  no identity face (build with --celeba-dir): {report['without_identity_face'][:10]}")
    return 0


def _shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with 0 <= K < N."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise MirrorError(f"--shard {text!r}", fix="write K/N with 0 <= K < N, e.g. --shard 0/4 ... --shard 3/4")
    return int(k), int(n)


def run_expressions(args) -> int:
    import asyncio

    from mirror_hf.llm import load_backend
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.synthesis.expressions import EXPRESSIONS_FILE, describe_expressions
    from mirror_hf.synthesis.faces import FACES_FILE

    claim_output_dir(
        args.out, command="synthesize expressions", markers=(EXPRESSIONS_FILE, FACES_FILE), force_flag=None
    )
    dialogues = _dialogues(args.dataset, args.dialogues)
    if args.filters:  # no face is described, nor drawn, for a dialogue the filters already rejected
        from mirror_hf.data.sources import read_rejected

        rejected = read_rejected(args.filters)
        dialogues = [d for d in dialogues if d["idx"] not in rejected]
        print(f"left out: the {len(rejected)} dialogue(s) rejected in {args.filters}")
    from mirror_hf.upstream.prompts import expression_prompts

    protocol, upstream = protocol_options(args)
    prompts = expression_prompts(upstream) if protocol.prompts == "upstream" else None
    backend = load_backend(args.model, **backend_options(args))
    report = asyncio.run(
        describe_expressions(
            dialogues, backend, args.out, concurrency=args.concurrency, reasks=args.reasks, progress=not args.quiet,
            prompts=prompts, example_role=protocol.expression_example_role,
        )
    )  # fmt: skip
    print(
        f"{report['client_turns']} client turns: {report.get('described', 0)} described now, "
        f"{report['already_done']} before, {report.get('failed', 0)} failed (a rerun retries them) -> {report['file']}"
    )
    return 0
