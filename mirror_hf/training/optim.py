"""Optimizer parameter groups: LoRA at the learning rate, the fully trained projector at its own.

Example:
    >>> groups = optimizer_param_groups(peft_model, lr=2e-4, projector_lr=2e-5, weight_decay=0.0, decay_names=set())
    >>> sorted({g["name"]: g["lr"] for g in groups}.items())          # doctest: +SKIP
    [('lora_no_decay', 0.0002), ('projector_no_decay', 2e-05)]
"""

from __future__ import annotations

from torch import nn

from mirror_hf.training.lora import PROJECTOR


def optimizer_param_groups(
    model: nn.Module, lr: float, projector_lr: float | None, weight_decay: float, decay_names: set[str]
) -> list[dict]:
    """Trainable parameters in up to four groups: {LoRA, projector} x {decayed, not decayed}."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        groups.setdefault((PROJECTOR in name, name in decay_names), []).append(param)
    out = []
    for (is_projector, decays), params in sorted(groups.items()):
        out.append(
            {
                "params": params,
                "lr": projector_lr if (is_projector and projector_lr is not None) else lr,
                "weight_decay": weight_decay if decays else 0.0,
                "name": ("projector" if is_projector else "lora") + ("" if decays else "_no_decay"),
            }
        )
    return out
