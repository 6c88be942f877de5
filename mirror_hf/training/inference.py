"""Load a MIRROR therapist (adapter or merged model) and answer with the prompt builders the training data used.

Example:
    >>> from mirror_hf.training.inference import therapist_pipeline, respond
    >>> from mirror_hf.data.sft import render_emotion_recognition_prompt
    >>> pipe = therapist_pipeline("runs/mirror-llava-ec")                        # doctest: +SKIP
    >>> respond(pipe, face, render_emotion_recognition_prompt())                  # doctest: +SKIP
    'Looks skeptical'
"""

from __future__ import annotations

from pathlib import Path

from mirror_hf.data.sft import to_trl_messages


def _adapter_folder(path: str | Path) -> Path | None:
    """The local adapter folder ``path`` names: itself, or a download of a Hub adapter repository (small); None when
    ``path`` is a full model (local or on the Hub), which ``from_pretrained`` loads as it is."""
    local = Path(path)
    if local.exists():
        return local if (local / "adapter_config.json").is_file() else None
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        hf_hub_download(str(path), "adapter_config.json")
    except EntryNotFoundError:
        return None
    return Path(snapshot_download(str(path)))


def load_model(path: str | Path, base_model: str | None = None, dtype="auto"):
    """(model, processor) from a merged model (folder or Hub id), or from an adapter (folder or Hub id) on top of its
    base (``base_model``, default: the one recorded in the adapter). The processor comes from ``path`` when it holds
    one, else from the base."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter = _adapter_folder(path)
    if adapter is not None:
        from peft import PeftConfig, PeftModel

        base = base_model or PeftConfig.from_pretrained(adapter).base_model_name_or_path
        model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base, dtype=dtype), adapter)
        processor_source = adapter if (adapter / "processor_config.json").is_file() else base
    else:
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
        local_processor = (Path(path) / "processor_config.json").is_file()
        processor_source = base_model if base_model and not local_processor else path
    return model.eval(), AutoProcessor.from_pretrained(processor_source)


def therapist_pipeline(path: str | Path, base_model: str | None = None, dtype="auto", device=None):
    """A ``pipeline("image-text-to-text")`` over the therapist at ``path``."""
    from transformers import pipeline

    model, processor = load_model(path, base_model, dtype)
    if hasattr(model, "merge_and_unload"):  # pipelines take the plain model class: merge the adapter in memory
        model = model.merge_and_unload()
    return pipeline("image-text-to-text", model=model, processor=processor, device=device)


def chat_messages(image, human_value: str) -> list[dict]:
    """The chat messages of a LLaVA-style human value (``<image>\\n...``) with ``image`` filled in."""
    prompt, _ = to_trl_messages(human_value, "")
    content = [{"type": "image", "image": image} if b["type"] == "image" else b for b in prompt[0]["content"]]
    return [{"role": "user", "content": content}]


def respond(pipe, image, human_value: str, max_new_tokens: int = 128, **generate_kwargs) -> str:
    """The model's answer to one prompt built by :mod:`mirror_hf.data.sft` (greedy unless told otherwise)."""
    generate_kwargs.setdefault("do_sample", False)
    out = pipe(
        text=chat_messages(image, human_value),
        max_new_tokens=max_new_tokens,
        return_full_text=False,
        generate_kwargs=generate_kwargs,
    )
    return out[0]["generated_text"].strip()
