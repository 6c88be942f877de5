"""``MirrorSFTTrainer``: TRL's SFTTrainer with a separate learning rate for the projector and MIRROR's model card.

Example:
    >>> trainer = MirrorSFTTrainer(model=model, args=MirrorSFTConfig(...), train_dataset=ds,
    ...                            processing_class=processor, peft_config=mirror_lora_config(model))  # doctest: +SKIP
    >>> [g["lr"] for g in trainer.create_optimizer().param_groups]                                     # doctest: +SKIP
    [0.0002, 0.0002, 2e-05, 2e-05]
"""

from __future__ import annotations

from contextlib import nullcontext

from peft.helpers import disable_input_dtype_casting
from trl import SFTTrainer

from mirror_hf.training.optim import optimizer_param_groups


def padded_on_the_right(attention_mask) -> bool:
    """Whether every row of a 0/1 mask is its ones, then its zeros (a device sync, like transformers' own check)."""
    return attention_mask.dim() == 2 and bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


def _drop_right_padding_mask(module, args, kwargs):
    mask = kwargs.get("attention_mask")
    if module.training and mask is not None and padded_on_the_right(mask):
        kwargs["attention_mask"] = None
    return args, kwargs


class MirrorSFTTrainer(SFTTrainer):
    """SFTTrainer whose optimizer gives the projector ``args.projector_lr`` (the authors' ``mm_projector_lr``), whose
    steps leave LoRA inputs in bf16 under mixed precision and, with ``args.causal_only_attention``, drop the padding
    mask of right-padded batches, and which writes MIRROR's model card."""

    model_card_renderer = None  # set by the recipe: a callable(trainer) -> str

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
