"""Which modules LoRA adapts, and which are trained fully, for a LLaVA-style model.

The authors put LoRA on every linear layer of the language model (not the vision tower, not ``lm_head``) and train
the multimodal projector fully. Target names are read off the model, so any LLaVA-like architecture works.

Example:
    >>> from mirror_hf.training.lora import language_model_linear_names
    >>> language_model_linear_names(model)[:2]            # doctest: +SKIP
    ['model.language_model.layers.0.self_attn.q_proj', 'model.language_model.layers.0.self_attn.k_proj']
"""

from __future__ import annotations

from peft import LoraConfig
from torch import nn

PROJECTOR = "multi_modal_projector"
LANGUAGE_MODEL = "language_model"
EXCLUDED = ("vision_tower", "vision_model", PROJECTOR, "lm_head")


def language_model_linear_names(model: nn.Module) -> list[str]:
    """Full names of the language model's ``nn.Linear`` layers, without ``lm_head``."""
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and LANGUAGE_MODEL in name and not any(x in name for x in EXCLUDED)
    ]
    if not names:
        raise ValueError(f"no linear layers under a '{LANGUAGE_MODEL}' module: is this a LLaVA-style model?")
    return names


def mirror_lora_config(
    model: nn.Module,
    r: int = 128,
    alpha: int = 256,
    dropout: float = 0.05,
    target_modules: list[str] | None = None,
    train_projector: bool = True,
) -> LoraConfig:
    """LoRA on the language model's linear layers; the projector trained fully (``modules_to_save``)."""
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules or language_model_linear_names(model),
        modules_to_save=[PROJECTOR] if train_projector else None,
        bias="none",
        task_type="CAUSAL_LM",
    )
