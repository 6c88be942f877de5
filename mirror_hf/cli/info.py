"""`mirror-hf info`: the versions of the stack and the cache paths in use (paste it into a bug report)."""

from __future__ import annotations

from mirror_hf.cli._format import add_command

PACKAGES = (
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
    "nltk",
    "open_clip_torch",
    "gradio",
    "av",
)


def register(subparsers) -> None:
    info = add_command(
        subparsers,
        "info",
        help="versions of the stack and the cache paths in use",
        description="Print mirror-hf's version, Python's and the platform's, the version of every package of the "
        "stack (or 'not installed'), and the cache folders mirror-hf, datasets and the Hub use. Paste it into a "
        "bug report.",
    )
    info.set_defaults(handler=run_info)


def run_info(args) -> int:
    import platform
    from importlib import metadata

    import datasets.config
    import huggingface_hub.constants

    from mirror_hf import __version__
    from mirror_hf.paths import cache_dir

    print(f"mirror-hf {__version__} · Python {platform.python_version()} · {platform.platform()}")
    for name in PACKAGES:
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
