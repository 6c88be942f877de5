"""``MirrorSFTTrainer``: TRL's SFTTrainer with a separate learning rate for the projector and MIRROR's model card.

Example:
    >>> trainer = MirrorSFTTrainer(model=model, args=MirrorSFTConfig(...), train_dataset=ds,
    ...                            processing_class=processor, peft_config=mirror_lora_config(model))  # doctest: +SKIP
    >>> [g["lr"] for g in trainer.create_optimizer().param_groups]                                     # doctest: +SKIP
    [0.0002, 0.0002, 2e-05, 2e-05]
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from peft.helpers import disable_input_dtype_casting
from trl import SFTTrainer

from mirror_hf.training.optim import optimizer_param_groups
from mirror_hf.training.padding_free import PaddingFreeCollator
from mirror_hf.training.regional_compile import compile_decoder_layers


def padded_on_the_right(attention_mask) -> bool:
    """Whether every row of a 0/1 mask is its ones, then its zeros (a device sync, like transformers' own check)."""
    return attention_mask.dim() == 2 and bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


def trainable_in_float32(model) -> None:
    """Move every trainable bf16/fp16 parameter to float32 in place. Under mixed precision autocast still
    computes in bf16, but the optimizer updates float32 weights: a bf16 weight loses any update under ~1/256 of its
    size, and Adam's steps at the projector's lr 2e-5 are that small for every weight above 0.005. peft already keeps
    LoRA in float32 and Accelerate's FSDP2 path upcasts the same way; DeepSpeed keeps float32 master weights."""
    for param in model.parameters():
        if param.requires_grad and param.dtype in (torch.bfloat16, torch.float16):
            param.data = param.data.float()


def _drop_right_padding_mask(module, args, kwargs):
    mask = kwargs.get("attention_mask")
    if module.training and mask is not None and padded_on_the_right(mask):
        kwargs["attention_mask"] = None
    return args, kwargs


class MirrorSFTTrainer(SFTTrainer):
    """SFTTrainer whose optimizer gives the projector ``args.projector_lr`` (the authors' ``mm_projector_lr``) and
    updates float32 weights under mixed precision, whose steps leave LoRA inputs in bf16 under mixed precision and,
    with ``args.causal_only_attention``, drop the padding mask of right-padded batches, which compiles the decoder
    layers with ``args.compile_decoder_layers``, which with ``args.padding_free`` trains on padding-free batches
    (:mod:`mirror_hf.training.padding_free`; TRL's own option refuses vision data), and which writes MIRROR's model
    card."""

    model_card_renderer = None  # set by the recipe: a callable(trainer) -> str

    def __init__(self, *args, **kwargs):
        config = kwargs.get("args")
        flatten = bool(getattr(config, "padding_free", False))
        if flatten:  # TRL refuses padding_free for vision datasets: its collator pads, and ours flattens after it
            config.padding_free = False
        super().__init__(*args, **kwargs)
        if flatten:
            self.args.padding_free = True  # as asked, in the saved training arguments
            self.data_collator = PaddingFreeCollator(self.data_collator)
        if self.accelerator.mixed_precision in ("bf16", "fp16") and not self.is_deepspeed_enabled:
            trainable_in_float32(self.model)  # the projector: the base model's bf16 copy, trained fully
        if getattr(self.args, "compile_decoder_layers", False):
            if self.is_deepspeed_enabled or self.is_fsdp_enabled:
                raise ValueError(
                    "compile_decoder_layers runs with one process or DDP; DeepSpeed and FSDP wrap the layers in "
                    "their own hooks. Set compile_decoder_layers: false with this accelerate config."
                )
            # after peft and Liger have replaced their modules, before Accelerate wraps the model
            compile_decoder_layers(self.model)

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            opt_model = self.model if model is None else model
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            groups = optimizer_param_groups(
                opt_model,
                lr=self.args.learning_rate,
                projector_lr=getattr(self.args, "projector_lr", None),
                weight_decay=self.args.weight_decay,
                decay_names=set(self.get_decay_parameter_names(opt_model)),
            )
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def training_step(self, model, inputs, num_items_in_batch=None):
        # peft casts every LoRA layer's input to the adapter's float32 (a copy of each activation, and of its
        # dropout), which autocast then casts back to bf16 for the LoRA matmuls. Under mixed precision those copies
        # are only memory traffic: skip them (same loss and gradients, a faster step; numbers in recipes/README.md).
        # Without autocast the cast is needed (bf16 activations, fp32 adapter) and stays.
        with (
            disable_input_dtype_casting(model, active=self.accelerator.mixed_precision in ("bf16", "fp16")),
            self._causal_only_attention(model),
        ):
            return super().training_step(model, inputs, num_items_in_batch)

    def _causal_only_attention(self, model):
        """With ``args.causal_only_attention``: the model's forward gets no padding mask for right-padded batches.
        TRL's loss and token count still read the batch's mask; only the forward (attention) goes without it."""
        if not getattr(self.args, "causal_only_attention", False):
            return nullcontext()
        # The hook sits on the unwrapped model, which DDP, DeepSpeed and FSDP2 all call through __call__ (peft calls
        # the inner transformers model's forward directly, so a hook there would never run).
        return self.accelerator.unwrap_model(model).register_forward_pre_hook(
            _drop_right_padding_mask, with_kwargs=True
        )  # a RemovableHandle: removed when the step's context exits

    def _set_signature_columns_if_needed(self):
        # Keep the precomputed length column, which length-grouped sampling reads after unused columns are dropped.
        super()._set_signature_columns_if_needed()
        if self.args.length_column_name not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, self.args.length_column_name]

    def create_model_card(self, *args, **kwargs):
        """Write MIRROR's card (README.md) instead of TRL's generic one, also before a push."""
        if self.model_card_renderer is None:
            return super().create_model_card(*args, **kwargs)
        if self.is_world_process_zero():
            from pathlib import Path

            Path(self.args.output_dir, "README.md").write_text(self.model_card_renderer(self), encoding="utf-8")
