"""What ``recipes/sft_llava.py`` needs besides TRL: resume, length column, resolved config, model card.

Example:
    >>> last_checkpoint(training_args)         # doctest: +SKIP
    'runs/mirror-llava-ec/checkpoint-400'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mirror_hf.cards import WIDGET_IMAGE, render_model_card, widget_example, widget_image_url
from mirror_hf.data.sft import from_trl_messages
from mirror_hf.schema import SFT_VARIANTS

# What this recipe does differently from the authors' LLaVA script, and why (shown on the model card).
DEVIATIONS = (
    "LoRA targets are read off the model (every linear layer of the language model); the authors' script used "
    "LLaVA's own target list. Images are processed by the Hugging Face LLaVA processor (center crop to 336 px) "
    "instead of LLaVA's 'pad' aspect mode. Length grouping uses prompt+completion token counts, since every "
    "record has an image ('group_by_modality_length' groups the same way then). The paper's Appendix C quotes "
    "lr 2e-5, which is LLaVA's projector rate; the authors' LoRA script trains LoRA at 2e-4."
)


def last_checkpoint(training_args) -> str | None:
    """The newest ``checkpoint-*`` in ``output_dir``, so a preempted run resumes by itself."""
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = Path(training_args.output_dir)
    return get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None


def add_length_column(dataset, processor, name: str = "length", progress: bool = False):
    """Token length of each record, for ``train_sampling_strategy: group_by_length``."""
    from mirror_hf.training.preflight import record_lengths

    if name in dataset.column_names:
        return dataset
    return dataset.add_column(name, record_lengths(dataset, processor, progress=progress))


def resolved_config(script_args, training_args, model_args) -> dict:
    """Every setting the run used, as plain YAML-able values (secrets left out)."""
    training = {k: v for k, v in training_args.to_dict().items() if "token" not in k}
    return {
        "script": dataclasses.asdict(script_args),
        "model": dataclasses.asdict(model_args),
        "training": training,
    }


HYPERPARAMETERS = (
    "learning_rate",
    "projector_lr",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_length",
    "bf16",
    "tf32",
    "activation_checkpointing",
    "train_sampling_strategy",
    "seed",
)


def recipe_card_renderer(script_args, training_args, model_args, dataset):
    """A callable(trainer) -> card text, for ``MirrorSFTTrainer.model_card_renderer``."""

    def render(trainer) -> str:
        from mirror_hf.data.sample import TURN_SIZE, draw_face

        out = Path(training_args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        face = out / WIDGET_IMAGE
        if training_args.widget_image:
            from PIL import Image

            Image.open(training_args.widget_image).convert("RGB").save(face)
        elif not face.exists():  # a drawn face: CelebA images may not be published
            draw_face(3, TURN_SIZE, mood=-0.6, gaze=0.8).save(face)
        repo_id = getattr(trainer, "hub_model_id", None) or training_args.hub_model_id
        # The widget needs an absolute URL, known once the Hub repo is; before that the file name stands in.
        image_url = widget_image_url(repo_id) if repo_id else face.name
        repo_id = repo_id or str(out)
        prompt_text = from_trl_messages(dataset[0]["prompt"]).split("\n", 1)[1]
        hyper = {k: getattr(training_args, k, None) for k in HYPERPARAMETERS}
        hyper.update(lora_r=model_args.lora_r, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout)
        hyper["world_size"] = training_args.world_size
        return render_model_card(
            model_name=out.name,
            repo_id=repo_id,
            base_model=model_args.model_name_or_path,
            dataset=script_args.dataset_name,
            dataset_config=script_args.dataset_config or "",
            variant=SFT_VARIANTS.get(script_args.dataset_config or "", "base"),
            hyperparameters=hyper,
            widget=[widget_example(image_url, prompt_text)],
            license=training_args.model_license,
            deviations=DEVIATIONS,
            eval_results=_kept_eval_results(out / "README.md"),
        )

    return render


def _kept_eval_results(readme: Path) -> list:
    """The evaluation results already on the card (``mirror-hf evaluate --model-card``), kept across rewrites."""
    if not readme.is_file():
        return []
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(readme).data.eval_results or []
    except Exception as err:  # noqa: BLE001 - a card edited by hand so that it no longer parses
        import warnings

        warnings.warn(f"{readme}: cannot read its evaluation results ({err}); the new card has none", stacklevel=2)
        return []
