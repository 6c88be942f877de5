"""Merge a trained LoRA adapter (and its fully trained projector) into the base model, for serving.

vLLM, TGI, ``transformers serve`` and hosted widgets serve full models, not adapters.

Example:
    >>> merge_adapter("runs/mirror-llava-ec", "runs/mirror-llava-ec-merged")   # doctest: +SKIP
    PosixPath('runs/mirror-llava-ec-merged')
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mirror_hf.cards import WIDGET_IMAGE, merged_model_card
from mirror_hf.errors import MirrorError
from mirror_hf.schema import RECIPE_FILE

CARRIED_FILES = (RECIPE_FILE, WIDGET_IMAGE)


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, base_model: str | None = None, dtype="auto") -> Path:
    """Load ``base_model`` (default: the adapter's own base), apply the adapter, merge, save model + processor, with
    the adapter's card turned into a full model's (:func:`mirror_hf.cards.merged_model_card`)."""
    from mirror_hf.training.inference import load_model

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise MirrorError(f"{adapter_dir} holds no adapter_config.json", fix="pass the output_dir of sft_llava.py")
    model, processor = load_model(adapter_dir, base_model, dtype)
    model.merge_and_unload().save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    for name in CARRIED_FILES:
        if (adapter_dir / name).is_file():
            shutil.copy(adapter_dir / name, out_dir / name)
    if (adapter_dir / "README.md").is_file():
        merged_model_card(adapter_dir / "README.md", str(out_dir)).save(out_dir / "README.md")
    return out_dir
