"""Padding-free LLaVA batches give the padded batch's loss and gradients on the tiny LLaVA (CPU, SDPA and eager),
and the trainer takes `padding_free: true` for a vision dataset, which TRL's own option refuses."""

import pytest
import torch

from mirror_hf.training.padding_free import flatten_padded_batch


def padded_batch(processor):
    from PIL import Image

    texts = ["USER: <image>\nHow do you feel? ASSISTANT: Tired, and a bit angry about it.",
             "USER: <image>\nAnd now? ASSISTANT: Fine."]  # fmt: skip
    images = [Image.new("RGB", (28, 28), (200, 150, 120)), Image.new("RGB", (28, 28), (40, 90, 160))]
    processor.tokenizer.padding_side = "right"
    batch = processor(images=images, text=texts, padding=True, return_tensors="pt")
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    labels[labels == processor.tokenizer.convert_tokens_to_ids("<image>")] = -100
    return {**batch, "labels": labels}


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_the_flat_batch_has_the_padded_batchs_loss_and_gradients(tiny_llava, attention):
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    processor = AutoProcessor.from_pretrained(tiny_llava)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration.from_pretrained(tiny_llava, attn_implementation=attention).float()
    padded = padded_batch(processor)
    assert (padded["attention_mask"] == 0).any()  # the short row is padded
    flat = flatten_padded_batch(padded)
    assert flat["input_ids"].shape[0] == 1 and "attention_mask" not in flat
    assert flat["input_ids"].shape[1] == int(padded["attention_mask"].sum())
    assert flat["cu_seq_lens_q"].tolist() == [0, *padded["attention_mask"].sum(1).cumsum(0).tolist()]

    def loss_and_grads(batch):
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    loss_padded, grads_padded = loss_and_grads(padded)
    loss_flat, grads_flat = loss_and_grads(flat)
    torch.testing.assert_close(loss_flat, loss_padded, rtol=1e-5, atol=1e-6)
    assert grads_flat.keys() == grads_padded.keys() and len(grads_flat) > 10
    for name in grads_padded:
        torch.testing.assert_close(grads_flat[name], grads_padded[name], rtol=1e-4, atol=1e-6, msg=name)
    # without the boundary label rule, the first sequence's last token would learn the second's first token; with a
    # cache, transformers would not keep the sequences apart: either gives another loss
    start = int(flat["cu_seq_lens_q"][1])
    spilled = dict(flat, labels=flat["labels"].clone())
    spilled["labels"][0, start] = flat["input_ids"][0, start]
    cached = dict(flat, use_cache=True)
    with torch.no_grad():
        assert not torch.allclose(model(**spilled).loss, loss_padded)
        assert not torch.allclose(model(**cached).loss, loss_padded)


def test_the_trainer_trains_a_vision_dataset_padding_free_with_the_padded_loss(
    release_dir, celeba_dir, tiny_llava, tmp_path
):
    import math

    from datasets import load_dataset
    from helpers import build_cli
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from mirror_hf.training.config import MirrorSFTConfig
    from mirror_hf.training.trainer import MirrorSFTTrainer

    out = tmp_path / "mirror"
    assert build_cli(release_dir, out, "--configs", "sft_base", celeba=celeba_dir) == 0
    ds = load_dataset(str(out), "sft_base", split="train")
    processor = AutoProcessor.from_pretrained(tiny_llava)
    losses, batches = {}, {}
    for padding_free in (False, True):
        torch.manual_seed(0)
        model = AutoModelForImageTextToText.from_pretrained(tiny_llava).float()  # float32: exact up to summation order
        args = MirrorSFTConfig(
            output_dir=str(tmp_path / f"run-{padding_free}"), max_steps=1, per_device_train_batch_size=3,
            max_length=None, report_to=[], use_cpu=True, save_strategy="no", dataloader_num_workers=0,
            shuffle_dataset=False, padding_free=padding_free, seed=0, data_seed=0,
            bf16=False,  # SFTConfig's default autocasts to bf16 even on the CPU: its rounding differs by layout
        )  # fmt: skip
        trainer = MirrorSFTTrainer(model=model, args=args, train_dataset=ds, processing_class=processor)
        batches[padding_free] = next(iter(trainer.get_train_dataloader()))
        losses[padding_free] = trainer.train().training_loss
        assert trainer.args.padding_free is padding_free
    flat, padded = batches[True], batches[False]
    assert flat["input_ids"].shape == (1, int(padded["attention_mask"].sum())) and "attention_mask" not in flat
    assert flat["pixel_values"].shape == padded["pixel_values"].shape
    assert math.isfinite(losses[True]) and losses[True] == pytest.approx(losses[False], rel=1e-5)
