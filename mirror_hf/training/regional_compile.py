"""``torch.compile`` of each decoder layer of the language model (regional compilation), in place.

One layer's code, compiled once, serves all of them: Inductor fuses the element-wise work between the matrix
products (RMSNorm, rotary embedding, SwiGLU, residual adds, LoRA's scaling and add), which the profiles of the 7B
recipe show as a large share of a step (recipes/README.md, Throughput). The layer is compiled in place
(``module.compile()``), so parameter names, checkpoints and adapters are unchanged, and activation checkpointing
(which transformers' layers apply in their ``__call__``) stays outside the compiled code. The vision tower, frozen and
run once per image, stays eager.

Example:
    >>> from mirror_hf.training.regional_compile import compile_decoder_layers
    >>> compile_decoder_layers(model)                     # doctest: +SKIP
    32
"""

from __future__ import annotations

from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from mirror_hf.training.lora import LANGUAGE_MODEL


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The language model's decoder layers (transformers' ``GradientCheckpointingLayer`` under ``language_model``)."""
    layers = [
        module
        for name, module in model.named_modules()
        if isinstance(module, GradientCheckpointingLayer) and f"{LANGUAGE_MODEL}." in f"{name}."
    ]
    if not layers:
        raise ValueError(f"no decoder layers under a '{LANGUAGE_MODEL}' module: is this a LLaVA-style model?")
    return layers


def compile_decoder_layers(model: nn.Module, on: bool = True, **compile_kwargs) -> int:
    """Compile each decoder layer in place with ``torch.compile(**compile_kwargs)``; ``on=False`` returns them to
    eager mode. Returns how many layers changed."""
    layers = decoder_layers(model)
    for layer in layers:
        if on:
            layer.compile(**compile_kwargs)
        else:
            layer._compiled_call_impl = None  # what module.compile() sets; None is nn.Module's eager path
    return len(layers)
