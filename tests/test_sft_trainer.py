"""TRL's SFTTrainer takes an sft_* config as built, with a tiny LLaVA, and learns the completion only."""

import math

import pytest
from datasets import load_dataset
from helpers import build_cli


@pytest.mark.parametrize("config", ["sft_base", "sft_ec_planning"])
def test_sft_trainer_trains_one_step_on_the_completion_only(config, release_dir, celeba_dir, tiny_llava, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    out = tmp_path / "mirror"
    assert build_cli(release_dir, out, "--configs", config, celeba=celeba_dir) == 0
    ds = load_dataset(str(out), config, split="train")
    processor = AutoProcessor.from_pretrained(tiny_llava)
    model = AutoModelForImageTextToText.from_pretrained(tiny_llava)
    args = SFTConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        per_device_train_batch_size=2,
        max_length=None,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        dataloader_num_workers=0,
        shuffle_dataset=False,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=processor)

    batch = next(iter(trainer.get_train_dataloader()))
    tokenizer = processor.tokenizer
    image_token = model.config.image_token_index
    assert batch["pixel_values"].shape[0] == 2
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    learned = [tokenizer.decode(ids[i][labels[i] != -100]).strip() for i in range(2)]
    targets = {r["completion"][0]["content"][0]["text"] for r in ds}
    for text in learned:
        assert text.endswith("</s>") and text.removesuffix("</s>").strip() in targets
    # nothing of the prompt (image tokens included) is learned
    assert ((labels != -100) & (ids == image_token)).sum() == 0
    prompt_tokens = ((labels == -100) & (mask == 1)).sum(dim=1)
    assert (prompt_tokens > 50).all()

    result = trainer.train()
    assert result.global_step == 1 and math.isfinite(result.training_loss) and result.training_loss > 0
