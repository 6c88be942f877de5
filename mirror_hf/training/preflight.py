"""Pre-flight: collate a few real batches before the first step and stop on the classic LLaVA fine-tuning traps.

- a row with no unmasked label token (loss = 0: a chat template that drops the answer, or truncation),
- a completion cut by ``max_length`` (the answer is only partly learned),
- image tokens missing or extra (the prompt was cut inside the image, or the template lost the placeholder),
- image placeholders and images that disagree in number.

It also prints one example as text with the learned part marked, so a person can see what is trained.

Example:
    >>> report = preflight(trainer, n_batches=2)          # doctest: +SKIP
    >>> print(report.rendered_example)                    # doctest: +SKIP
    USER: <image>×576
    The image above shows the client. ... ASSISTANT: [[ That's completely valid. ...</s>]]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PIL import Image

from mirror_hf.errors import MirrorError

logger = logging.getLogger(__name__)
IGNORE = -100


@dataclass
class PreflightReport:
    rows_checked: int
    image_tokens_per_image: int
    longest_row_tokens: int
    rendered_example: str


def image_tokens_per_image(processor) -> int:
    """How many tokens the processor expands one image into (576 for LLaVA-1.5 at 336 px)."""
    tokenizer = processor.tokenizer
    image_token_id = tokenizer.convert_tokens_to_ids(processor.image_token)
    size = processor.image_processor.crop_size if hasattr(processor.image_processor, "crop_size") else None
    side = (size or {}).get("height", 336)
    out = processor(text=[processor.image_token], images=[Image.new("RGB", (side, side))], return_tensors="pt")
    return int((out["input_ids"] == image_token_id).sum())


def record_lengths(dataset, processor, progress: bool = False) -> list[int]:
    """Tokens of each record's prompt and answer text plus its image tokens (the chat template's few extra tokens
    aside): cheap enough for the whole dataset, without decoding any image."""
    from datasets import Image as ImageFeature
    from datasets import List
    from datasets.utils.tqdm import tqdm

    from mirror_hf.data.sft import from_trl_messages

    per_image = image_tokens_per_image(processor)
    columns = dataset.select_columns(["prompt", "completion", "images"]).cast_column(
        "images", List(ImageFeature(decode=False))
    )
    lengths = []
    for batch in tqdm(
        columns.iter(batch_size=512), total=-(-len(columns) // 512), desc="Token lengths", unit="batch",
        disable=not progress,
    ):  # fmt: skip
        texts = [
            from_trl_messages(p) + " " + c[0]["content"][0]["text"]
            for p, c in zip(batch["prompt"], batch["completion"], strict=True)
        ]
        ids = processor.tokenizer(texts, add_special_tokens=False)["input_ids"]
        lengths += [len(i) + per_image * len(images) for i, images in zip(ids, batch["images"], strict=True)]
    return lengths


def render_label_mask(input_ids, labels, tokenizer, image_token_id: int) -> str:
    """The sequence as text, image tokens collapsed to ``<image>×N`` and learned tokens inside ``[[ ]]``."""
    pieces, run_image, learning = [], 0, False
    for token, label in zip(input_ids.tolist(), labels.tolist(), strict=True):
        if token == image_token_id:
            run_image += 1
            continue
        if run_image:
            pieces.append(f"<image>×{run_image}")
            run_image = 0
        if token == tokenizer.pad_token_id and label == IGNORE:
            continue
        is_learned = label != IGNORE
        if is_learned != learning:
            pieces.append("[[" if is_learned else "]]")
            learning = is_learned
        pieces.append(tokenizer.decode([token]))
    if learning:
        pieces.append("]]")
    return "".join(pieces)


def _full_length(processor, example: dict) -> tuple[int, int]:
    """(tokens of the whole untruncated example, tokens of its completion), as TRL's collator would build them."""
    from trl.data_utils import apply_chat_template, prepare_multimodal_messages

    images = example["images"]
    rendered = apply_chat_template(
        {
            "prompt": prepare_multimodal_messages(example["prompt"], images=images),
            "completion": prepare_multimodal_messages(example["completion"]),
        },
        processor,
    )
    prompt = processor(images=images, text=[rendered["prompt"]], add_special_tokens=False)["input_ids"][0]
    completion = processor(text=[rendered["completion"]], add_special_tokens=False)["input_ids"][0]
    return len(prompt) + len(completion), len(completion)


def preflight(trainer, n_batches: int = 2, log: bool = True) -> PreflightReport:
    """Collate ``n_batches`` batches the way training will, check them, and raise MirrorError on a trap."""
    processor = trainer.processing_class
    tokenizer = processor.tokenizer
    image_token_id = tokenizer.convert_tokens_to_ids(processor.image_token)
    per_image = image_tokens_per_image(processor)
    dataset = trainer.train_dataset
    batch_size = trainer.args.per_device_train_batch_size
    max_length = trainer.args.max_length
    n_rows = min(len(dataset), max(1, n_batches) * batch_size)
    collator = trainer.data_collator
    example_text, longest, checked, full_first = None, 0, 0, None
    for start in range(0, n_rows, batch_size):
        rows = [dataset[i] for i in range(start, min(start + batch_size, n_rows))]
        for i, row in enumerate(rows):
            placeholders = sum(
                block.get("type") == "image" for message in row["prompt"] for block in message["content"]
            )
            if placeholders != len(row["images"]):
                raise MirrorError(
                    f"the prompt has {placeholders} image placeholder(s) but the row has {len(row['images'])} image(s)",
                    row=start + i,
                    idx=row.get("id"),
                    field="images",
                    fix="rebuild the dataset with mirror-hf build; each record holds exactly one image",
                )
        full = [_full_length(processor, dict(row)) for row in rows]
        full_first = full_first or full[0][0]
        batch = collator([dict(row) for row in rows])
        for i, row in enumerate(rows):
            ids, labels = batch["input_ids"][i], batch["labels"][i]
            where = {"row": start + i, "idx": row.get("id")}
            total, completion = full[i]
            longest = max(longest, total)
            if max_length is not None and total > max_length:
                raise MirrorError(
                    f"the example needs {total} tokens ({per_image * len(row['images'])} image tokens, "
                    f"{completion} completion tokens) but max_length is {max_length}: the answer would be cut",
                    **where,
                    field="max_length",
                    fix=f"raise max_length to at least {total}",
                )
            learned = int((labels != IGNORE).sum())
            if learned == 0:
                raise MirrorError(
                    "no unmasked label token: the loss would be 0 on this row",
                    **where,
                    field="completion",
                    fix="check that the chat template renders the assistant's answer",
                )
            n_image_tokens = int((ids == image_token_id).sum())
            expected = per_image * len(row["images"])
            if n_image_tokens != expected:
                raise MirrorError(
                    f"{n_image_tokens} image tokens in the collated sequence, expected {expected} "
                    f"({len(row['images'])} image(s) x {per_image})",
                    **where,
                    field="images",
                    fix="the prompt was cut inside the image or the template lost the image placeholder",
                )
            checked += 1
            if example_text is None:
                example_text = render_label_mask(ids, labels, tokenizer, image_token_id)
    if max_length is not None:
        longest = max(longest, _check_all_lengths(dataset, processor, max_length, first_exact=full_first))
    report = PreflightReport(checked, per_image, longest, example_text or "")
    if log:
        logger.warning(
            "pre-flight: %d rows OK (%d image tokens per image, longest row %d tokens, max_length %s). "
            "One example, learned tokens in [[ ]]:\n%s",
            checked,
            per_image,
            longest,
            max_length,
            report.rendered_example,
        )
    return report


def _check_all_lengths(dataset, processor, max_length: int, first_exact: int) -> int:
    """Every row, not just the batches collated: none may need more than ``max_length`` tokens."""
    lengths = dataset["length"] if "length" in dataset.column_names else record_lengths(dataset, processor)
    overhead = max(0, first_exact - lengths[0])  # the chat template's own tokens, measured on row 0
    too_long = [i for i, n in enumerate(lengths) if n + overhead > max_length]
    if too_long:
        worst = max(too_long, key=lambda i: lengths[i])
        raise MirrorError(
            f"{len(too_long)} of {len(dataset)} rows need more than max_length={max_length} tokens "
            f"(longest: row {worst}, about {lengths[worst] + overhead}): their answers would be cut",
            row=too_long[0],
            idx=dataset[too_long[0]].get("id") if "id" in dataset.column_names else None,
            field="max_length",
            fix=f"raise max_length to at least {lengths[worst] + overhead}",
        )
    return max(lengths) + overhead
