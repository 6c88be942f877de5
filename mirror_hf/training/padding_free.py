"""Padding-free batches for LLaVA: the collated, padded batch turned into one row of every sequence's own tokens,
with position ids restarting at each sequence, no attention mask, and the sequence boundaries the varlen attention
kernels read (``cu_seq_lens_*``, ``max_length_*``). transformers then keeps the sequences apart: FlashAttention
through the boundaries, SDPA and eager through a block-diagonal causal mask it builds from the position ids. The
first token of each sequence gets no label (it is never a target in a padded batch either), so the loss and the
gradients are those of the padded batch: no padding token is computed, none is masked.

TRL's own ``padding_free`` refuses vision datasets; this is it for LLaVA, where each row's image tokens stay in their
row and the images in their order. ``MirrorSFTConfig.padding_free: true`` wraps the trainer's collator with it.

Example:
    >>> flat = flatten_padded_batch(padded)                        # doctest: +SKIP
    >>> flat["input_ids"].shape, flat["position_ids"][0, :4]        # doctest: +SKIP
    (torch.Size([1, 731]), tensor([0, 1, 2, 3]))
"""

from __future__ import annotations

import torch

_REPLACED = ("input_ids", "attention_mask", "labels", "position_ids", "token_type_ids")


def flatten_padded_batch(batch: dict) -> dict:
    """One row of the real tokens of a padded batch (padding on either side); other keys (pixel values, image
    sizes) unchanged."""
    mask = batch["attention_mask"].bool()
    lengths = mask.sum(dim=1).tolist()
    out = {k: v for k, v in batch.items() if k not in _REPLACED}
    out["input_ids"] = batch["input_ids"][mask].unsqueeze(0)
    labels = batch["labels"][mask].unsqueeze(0).clone()
    position_ids = torch.cat([torch.arange(n, device=mask.device) for n in lengths]).unsqueeze(0)
    labels[position_ids == 0] = -100  # the previous sequence's last token must not learn to predict it
    out["labels"], out["position_ids"] = labels, position_ids
    starts = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=mask.device)
    out["cu_seq_lens_q"] = out["cu_seq_lens_k"] = starts
    out["max_length_q"] = out["max_length_k"] = max(lengths)
    out["use_cache"] = False  # transformers keeps packed sequences apart only without a cache (masking_utils)
    return out


class PaddingFreeCollator:
    """``collator``'s batches, flattened (:func:`flatten_padded_batch`)."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, examples):
        return flatten_padded_batch(self.collator(examples))


__all__ = ["PaddingFreeCollator", "flatten_padded_batch"]
