"""`mirror-hf export`: a trained LoRA adapter (and projector) merged into its base model, for serving."""

from __future__ import annotations

from mirror_hf.cli._format import add_command


def register(subparsers) -> None:
    export = add_command(
        subparsers,
        "export",
        help="merge a trained LoRA adapter (and projector) into its base model, for serving",
        description="Merge the adapter written by recipes/sft_llava.py into its base model and save a full model "
        "(vLLM, TGI, `transformers serve` and hosted widgets serve full models, not adapters).",
        epilog="example:\n  mirror-hf export --adapter runs/mirror-llava-1.5-7b-ec_planning --out merged/",
    )
    export.add_argument("--adapter", required=True, metavar="DIR", help="the training output_dir (adapter folder)")
    export.add_argument("--out", required=True, metavar="DIR", help="where to write the merged model")
    export.add_argument("--base", metavar="MODEL", help="base model (default: the one recorded in the adapter)")
    export.set_defaults(handler=run_export)


def run_export(args) -> int:
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.schema import RECIPE_FILE
    from mirror_hf.training.merge import merge_adapter

    claim_output_dir(args.out, command="export", markers=(RECIPE_FILE,), force_flag=None)
    out = merge_adapter(args.adapter, args.out, base_model=args.base)
    print(f"wrote the merged model to {out}")
    return 0
