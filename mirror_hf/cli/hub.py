"""`mirror-hf push` (a folder mirror-hf wrote, or a metric, to the Hub) and `mirror-hf pull` (back into a folder)."""

from __future__ import annotations

from pathlib import Path

from mirror_hf.cli._format import add_command
from mirror_hf.errors import MirrorError


def register(subparsers) -> None:
    push = add_command(
        subparsers,
        "push",
        help="publish a built dataset, a sessions run, an evaluation, new dialogues, a pairwise study or its app, an "
        "adapter, a merged model or a metric Space to the Hub",
        description="Publish a folder mirror-hf wrote (build --out, simulate --out, evaluate --out, synthesize "
        "screenplays --out, pairwise sample --out or its app/ as a Space, a training output_dir, export --out) as a "
        "Hub repository in one commit, with its card rendered for that repository; or a metric (wai_alliance, "
        "counseling_eval) as a Space that evaluate.load(REPO) reads. Faces derive from CelebA and may not be "
        "published: a folder holding faces needs --private (checked on the Hub) or --drop-images. You need a token "
        "with write access (HF_TOKEN or `hf auth login`).",
        epilog="examples:\n  mirror-hf push mirror me/mirror --private\n"
        "  mirror-hf push runs/sim-pec me/mirror-sessions --drop-images\n"
        "  mirror-hf push runs/mirror-llava-ec me/mirror-llava-ec\n"
        "  mirror-hf push merged/ me/mirror-llava-ec-merged\n  mirror-hf push eval/ me/mirror-eval\n"
        "  mirror-hf push new/ me/mirror-new-dialogues\n"
        "  mirror-hf push study/app me/study-app --private\n"
        "  mirror-hf push demo-space/ me/mirror-demo\n"
        "  mirror-hf push wai_alliance me/wai_alliance",
    )
    push.add_argument("source", metavar="FOLDER_OR_METRIC", help="a folder mirror-hf wrote, or a metric's name")
    push.add_argument("repo_id", metavar="ORG/NAME", help="the Hub repository (created when it does not exist)")
    push.add_argument("--private", action="store_true", help="create (and require) a private repository")
    push.add_argument("--drop-images", action="store_true", help="publish every row with its image columns emptied")
    push.add_argument("--message", help="commit message")
    push.add_argument(
        "--requirement", help="metric Spaces: the pip line that installs mirror-hf there (default mirror-hf[eval])"
    )
    push.set_defaults(handler=run_push)

    pull = add_command(
        subparsers,
        "pull",
        help="download a pushed dataset, sessions run or model into a folder",
        description="Download a Hub repository into a folder: datasets and sessions load with load_dataset(OUT) "
        "and mirror-hf evaluate; models (--repo-type model) with therapist_pipeline(OUT). A rerun fetches only what "
        "changed.",
        epilog="example:\n  mirror-hf pull me/mirror-sessions --out runs/pec-copy",
    )
    pull.add_argument("repo_id", metavar="ORG/NAME", help="the Hub repository")
    pull.add_argument("--out", required=True, metavar="DIR", help="the folder to download into")
    pull.add_argument(
        "--repo-type", choices=("dataset", "model"), default="dataset", help="model: an adapter or a merged model"
    )
    pull.add_argument("--revision", help="branch, tag or commit (default: main)")
    pull.set_defaults(handler=run_pull)


def run_push(args) -> int:
    from mirror_hf.hub import check_repo_id, require_token
    from mirror_hf.metrics import METRICS

    check_repo_id(args.repo_id)
    if args.source in METRICS and not Path(args.source).exists():
        from mirror_hf.hub import hub_errors
        from mirror_hf.metrics import push_to_hub

        require_token()
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


def run_pull(args) -> int:
    from mirror_hf.hub import check_repo_id, pull
    from mirror_hf.outputs import claim_output_dir

    check_repo_id(args.repo_id)
    claim_output_dir(args.out, command="pull", markers=(".cache",), force_flag=None)
    out = pull(args.repo_id, args.out, repo_type=args.repo_type, revision=args.revision)
    print(f"pulled {args.repo_id} into {out}")
    return 0
