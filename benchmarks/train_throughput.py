"""Training throughput of the MIRROR recipe: the CPU data path, and (on a GPU) LLaVA-1.5-7B LoRA steps.

CPU (any machine): samples/s of the whole data path of `recipes/sft_llava.py` — parquet rows -> decoded 336x336
PNG -> LLaVA-1.5 image processing (576 image tokens) -> TRL's collator -> a padded batch — at 0, 1 and 2 loader
workers, on an `sft_ec_planning` build of a generated release (real prompt lengths).

    python benchmarks/train_throughput.py --cpu

GPU: the LLaVA-1.5-7B architecture with random weights built from its config (no download), LoRA r=128 on the
language model + the projector trained fully, activation checkpointing, bf16, the loss through TRL's fused LM head
(as SFTTrainer computes it), the P+EC length mix (half short emotion-recognition records, half long response
records), per-device batch 8/16/32. Two samplers at equal batch: TRL's default (random order) and the recipe's
(`group_by_length`). Batches come from a DataLoader whose workers decode PNGs and run the CLIP image processor, so
the time spent waiting for data is real. Prints tokens/s, samples/s, peak memory, model FLOPs utilisation and
data-wait share.

    python benchmarks/train_throughput.py --gpu            # ~4 minutes on one H100
    python benchmarks/train_throughput.py --gpu --sweep --batch-sizes 8,16 --profile   # the MFU candidates, ~4.5 min
    python benchmarks/train_throughput.py --gpu --no-checkpointing --causal-only --lora-dropout 0 --liger --compile \
        --warm --batch-sizes 6,8 --baseline-batch-sizes=     # the recipe's fastest settings, ~2 min (44.5 % MFU)

The sweep applies one change after another and measures each (see ``sweep``): peft's default, the recipe's uncast
LoRA inputs, Liger's kernels, LoRA dropout 0, LoRA's add fused into its matmul, no padding mask, torch.compile of
the decoder layers, then without activation checkpointing at batch 4 and 6; the profile of the last state shows
where a step's time goes.

Check the script itself on a CPU: `--gpu --tiny --device cpu --workers 0 --steps 2 --warmup 1 [--sweep]`.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMAGE_TOKENS = 576  # (336 / 14) ** 2
H100_BF16_DENSE_PEAK = 989e12


def versions(*names: str) -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in names)


def llava_config(tiny: bool = False):
    """LLaVA-1.5-7B's architecture (CLIP ViT-L/14-336 + 2-layer GELU projector + Vicuna-7B), from published facts;
    ``tiny`` shrinks the widths and depths (same image geometry and vocabulary) to check this script on a CPU."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    v = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16)
    t = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32)
    if tiny:
        v = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)
        t = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)
    vision = CLIPVisionConfig(**v, image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu")
    text = LlamaConfig(
        **t,
        num_key_value_heads=t["num_attention_heads"],
        vocab_size=32064,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        pad_token_id=0,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=32000,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )


def pmec_lengths(n: int, seed: int = 0) -> list[int]:
    """Text-token lengths of a P+EC epoch: emotion-recognition records (~45 tokens) and response records whose
    prompt carries profile, plan and 6 utterances (~450-950 tokens), the shape of a built sft_ec_planning config."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(rng.randint(38, 52) if i % 2 == 0 else int(min(1200, max(400, rng.gauss(700, 150)))))
    return out


def png_pool(n: int = 32) -> list[bytes]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    pool = []
    for _ in range(n):
        img = Image.fromarray(rng.integers(0, 255, (336, 336, 3), dtype="uint8"))
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        pool.append(buf.getvalue())
    return pool


# ----------------------------------------------------------------------------------------------------------- GPU
class SyntheticPMEC:
    """A map-style dataset: each item decodes a PNG and runs the CLIP processor (the CPU work of the real path)."""

    def __init__(self, lengths: list[int], pngs: list[bytes], vocab: int):
        self.lengths, self.pngs, self.vocab = lengths, pngs, vocab
        self.processor = None

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, i):
        import torch
        from PIL import Image
        from transformers import CLIPImageProcessor

        if self.processor is None:
            self.processor = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
        image = Image.open(io.BytesIO(self.pngs[i % len(self.pngs)])).convert("RGB")
        pixels = self.processor(images=[image], return_tensors="pt")["pixel_values"][0]
        g = torch.Generator().manual_seed(i)
        text = torch.randint(1, self.vocab - 100, (self.lengths[i],), generator=g)
        return pixels, text


def collate(items, image_token: int, answer_tokens: int = 32):
    import torch

    longest = max(IMAGE_TOKENS + 2 + len(t) for _, t in items)
    ids = torch.zeros(len(items), longest, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, (_, text) in enumerate(items):
        seq = torch.cat([torch.tensor([1, 3148]), torch.full((IMAGE_TOKENS,), image_token), text])
        ids[row, : len(seq)], mask[row, : len(seq)] = seq, 1
        labels[row, len(seq) - min(answer_tokens, len(text)) : len(seq)] = seq[-min(answer_tokens, len(text)) :]
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "pixel_values": torch.stack([p for p, _ in items]),
    }


def grouped_order(lengths: list[int], batch: int, seed: int = 0) -> list[int]:
    """transformers' LengthGroupedSampler idea: shuffle, cut mega-batches of 50 batches, sort each by length."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch * 50
    out = []
    for start in range(0, len(order), mega):
        out += sorted(order[start : start + mega], key=lambda i: -lengths[i])
    return out


def representative_batches(order: list[int], lengths: list[int], batch: int, steps: int, warmup: int) -> list[int]:
    """Sample indices of ``warmup`` + ``steps`` batches of ``order`` spread evenly over the epoch's batch lengths, so
    a few timed steps estimate the whole epoch (a grouped sampler's batches range from all-short to all-long)."""
    batches = [order[i : i + batch] for i in range(0, len(order) - batch + 1, batch)]
    batches.sort(key=lambda b: max(lengths[i] for i in b))
    timed = [batches[round((k + 0.5) * len(batches) / steps - 0.5)] for k in range(steps)]
    return [i for b in [batches[len(batches) // 2]] * warmup + timed for i in b]


def layer_params(config) -> tuple[int, int]:
    """Weights of the matrix products of one decoder layer of the language model and of the vision tower."""
    t, v = config.text_config, config.vision_config
    text = 4 * t.hidden_size**2 + 3 * t.hidden_size * t.intermediate_size
    vision = 4 * v.hidden_size**2 + 2 * v.hidden_size * v.intermediate_size
    return text, vision


def trainable_params(model) -> tuple[int, int]:
    """Trainable weights that act on every language-model token (LoRA) and on every image token (the projector)."""
    lora = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" in n)
    projector = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "multi_modal_projector" in n)
    return lora, projector


FUSED_OUTPUTS = ("log_probs", "entropy", "is_top1")  # what TRL 1.16's SFTTrainer asks of its fused LM head


def sft_loss(model, batch):
    """The loss as TRL's SFTTrainer computes it: log-probabilities from its fused LM head (tiles over the labelled
    positions, no full logits), their negative mean over the labelled tokens."""
    out = model(**batch, fused_lm_head=True)
    return -out.log_probs.sum() / (batch["labels"] != -100).sum().clamp(min=1)


def model_flops(batch, config, trainable: tuple[int, int]) -> float:
    """FLOPs one step needs (2 per multiply-add; recompute excluded). Per token of the language model: the frozen
    decoder layers' forward and backward to their inputs (4 per weight), LoRA's forward, backward to inputs and to its
    weights (6 per weight), causal attention (forward and backward); the LM head only where a label is (TRL's fused
    head computes nothing elsewhere); the embedding none (a lookup). Per image: the frozen vision tower's forward
    (weights and attention) and the projector trained fully (6 per weight per image token)."""
    t, v = config.text_config, config.vision_config
    text_layer, vision_layer = layer_params(config)
    lora, projector = trainable
    patches = IMAGE_TOKENS + 1  # the vision tower also sees the class token
    flops = 0.0
    for n in batch["attention_mask"].sum(dim=1).tolist():
        flops += (4 * t.num_hidden_layers * text_layer + 6 * lora) * n
        flops += 3 * 2 * t.num_hidden_layers * n * n * t.hidden_size  # QK^T and AV, causal half, fwd + 2x bwd
        flops += 2 * v.num_hidden_layers * (vision_layer * patches + 2 * patches * patches * v.hidden_size)
        flops += 6 * projector * IMAGE_TOKENS
    flops += 4 * t.vocab_size * t.hidden_size * int((batch["labels"] != -100).sum())
    return flops


def drop_lora_dropout(model) -> None:
    """What ``lora_dropout: 0`` builds: peft then puts an identity where the dropout was (no copy of the input)."""
    import torch

    for module in model.modules():
        if isinstance(getattr(module, "lora_dropout", None), torch.nn.ModuleDict):
            for name in module.lora_dropout:
                module.lora_dropout[name] = torch.nn.Identity()


def uncast_lora_inputs(model) -> None:
    """What the recipe's trainer does in its steps under mixed precision: each LoRA layer takes its bf16 input as
    it is, where peft would first copy it to the adapter's fp32 (autocast runs the LoRA matmuls in bf16 anyway)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.cast_input_dtype_enabled = False


def fuse_lora_add(model, on: bool = True) -> None:
    """LoRA's product added by its second matmul: ``addmm(base output, A(x), B^T, alpha=scaling)`` writes base +
    scaling * B(A(x)) in one cuBLAS call (the add and the scaling in its epilogue), where peft runs B, multiplies by
    the scaling and adds: two passes over each LoRA layer's output fewer in the forward (twice with recompute) and one
    in the backward. Plain LoRA only (one adapter, no DoRA, not merged), as the recipe trains; ``on=False`` returns
    peft's forward."""
    import types

    import torch
    from peft.tuners.lora import Linear as LoraLinear

    def forward(self, x, *args, **kwargs):
        result = self.base_layer(x, *args, **kwargs)
        if self.disable_adapters or self.merged:
            return result
        for name in self.active_adapters:
            if name in self.lora_A:
                h = self.lora_A[name](self.lora_dropout[name](x))
                out = torch.addmm(
                    result.reshape(-1, result.shape[-1]),
                    h.reshape(-1, h.shape[-1]),
                    self.lora_B[name].weight.t(),
                    alpha=self.scaling[name],
                )
                result = out.view(result.shape)
        return result

    for module in model.modules():
        if isinstance(module, LoraLinear):
            if not on:
                module.__dict__.pop("forward", None)
                continue
            assert not module.lora_variant and all(b.bias is None for b in module.lora_B.values()), "plain LoRA only"
            module.forward = types.MethodType(forward, module)


def compile_layers(model, on: bool = True) -> str:
    """The recipe's ``compile_decoder_layers``: each decoder layer compiled in place (``on=False``: eager again)."""
    import torch

    from mirror_hf.training.regional_compile import compile_decoder_layers

    compile_decoder_layers(model, on)
    return f"(torch {torch.__version__})"


def apply_liger(model) -> str:
    """Liger's layer kernels (RMSNorm, SwiGLU, RoPE) on the LLaVA instance, as ``use_liger_kernel: true`` does in
    the recipe (TRL leaves out Liger's fused cross-entropy, whose LLaVA forward also fails on transformers 5.24);
    needs the ``liger-kernel`` package and a GPU."""
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    _apply_liger_kernel_to_instance(model=model.get_base_model(), fused_linear_cross_entropy=False)
    return versions("liger-kernel")


def measure(model, optimizer, config, args, batch_size: int, sampler: str, pngs) -> dict:
    """Time ``args.steps`` optimizer steps (after ``args.warmup``) on batches representative of a P+EC epoch."""
    import torch
    from torch.utils.data import DataLoader

    from mirror_hf.training.padding_free import flatten_padded_batch

    device, cuda = args.device, args.device.startswith("cuda")
    lengths = pmec_lengths(batch_size * 50)
    order = (
        grouped_order(lengths, batch_size)
        if sampler == "recipe"
        else random.Random(1).sample(range(len(lengths)), len(lengths))
    )
    picked = representative_batches(order, lengths, batch_size, args.steps, args.warmup)
    data = SyntheticPMEC(lengths, pngs, config.text_config.vocab_size)
    loader = DataLoader(
        torch.utils.data.Subset(data, picked),
        batch_size=batch_size,
        num_workers=args.workers,
        collate_fn=lambda items: collate(items, config.image_token_index),
        pin_memory=cuda,
        persistent_workers=False,
        prefetch_factor=4 if args.workers else None,
    )
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainable = trainable_params(model)
    step_times, waits, tokens, padded, samples, flops = [], [], 0, 0, 0, 0.0
    it = iter(loader)
    try:
        for step in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            batch = next(it)
            t_data = time.perf_counter() - t0
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            batch["pixel_values"] = batch["pixel_values"].to(torch.bfloat16)
            if args.padding_free:  # one row of real tokens (exact: tests/test_padding_free.py)
                inputs = flatten_padded_batch(batch)
            else:
                inputs = {**batch, "attention_mask": None} if args.causal_only else batch
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16):
                loss = sft_loss(model, inputs)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize()
            if step >= args.warmup:
                step_times.append(time.perf_counter() - t0)
                waits.append(t_data)
                tokens += int(batch["attention_mask"].sum())
                padded += batch["attention_mask"].numel()
                samples += batch_size
                flops += model_flops(batch, config, trainable)
        total = sum(step_times)
        return {
            "batch": batch_size,
            "sampler": sampler,
            "tokens_per_s": tokens / total,
            "samples_per_s": samples / total,
            "step_s": statistics.median(step_times),
            "peak_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"),
            "mfu": flops / total / H100_BF16_DENSE_PEAK,
            "data_wait": sum(waits) / total,
            "padding": 1 - tokens / padded,
        }
    except torch.cuda.OutOfMemoryError:
        optimizer.zero_grad(set_to_none=True)
        return {"batch": batch_size, "sampler": sampler, "oom": True}
    finally:
        del it, loader


def sweep(model, args, run) -> tuple[list[dict], int]:
    """The MFU candidates of the training issue, one after another on the same model, each keeping the changes before
    it: peft's default casts (the baseline), the recipe's uncast LoRA inputs, Liger's layer kernels, LoRA dropout 0,
    LoRA's add fused into its matmul, no padding mask, torch.compile of the decoder layers, the same at the other
    batch sizes, and no activation checkpointing at smaller batches. ``run(batch)`` measures the model as it stands.
    One comparable line per measurement; a change that fails, or whose every measurement fails or runs out of
    memory, is reported and undone where it can be, and the next one still runs. Returns the rows and the batch of
    the last one measured."""
    first, others = args.batch_sizes[0], args.batch_sizes[1:]

    def set_causal_only(value: bool) -> None:
        args.causal_only = value

    def checkpointing(on: bool) -> None:
        if on:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_disable()

    # (label, change, undo, batch sizes, warm first). Warm: one untimed pass over the timed batches before timing,
    # where the kernels' code or plans are new: cuDNN builds an attention plan per new sequence shape on the CPU, and
    # torch.compile compiles per shape until it compiles shape-generic code. A long run pays that once, so every
    # line is timed as a long run.
    steps = [
        ("peft default (LoRA inputs cast to fp32, lora_dropout 0.05)", None, None, [first], True),
        ("LoRA inputs uncast (the recipe)", lambda: uncast_lora_inputs(model), None, [first], False),
        ("use_liger_kernel", lambda: apply_liger(model), None, [first], False),
        ("lora_dropout 0", lambda: drop_lora_dropout(model), None, [first], False),
        ("LoRA add fused into its matmul", lambda: fuse_lora_add(model), lambda: fuse_lora_add(model, False),
         [first], False),
        ("no padding mask", lambda: set_causal_only(True), lambda: set_causal_only(False), [first], True),
        ("torch.compile of each decoder layer", lambda: compile_layers(model), lambda: compile_layers(model, False),
         [first], True),
        ("", None, None, others, True),  # the state so far at the other batch sizes
        ("no activation checkpointing", lambda: checkpointing(False), lambda: checkpointing(True),
         args.no_recompute_batch_sizes, True),
    ]  # fmt: skip
    rows, applied, last_batch = [], [], first
    for label, change, undo, batches, warm in steps:
        try:
            note = change() if change else None
        except Exception as err:  # noqa: BLE001 - e.g. liger-kernel not installed: report and go on
            print(f"train_throughput sweep: {label}: not run ({type(err).__name__}: {str(err)[:300]})", flush=True)
            continue
        if label:
            applied.append(label + (f" {note}" if note else ""))
        measured = False
        for batch in batches:
            try:
                if warm:
                    run(batch)
                row = run(batch)
            except Exception as err:  # noqa: BLE001 - e.g. a compiler failure: report and go on
                print(f"train_throughput sweep: {label or 'batch'} {batch}: not run ({type(err).__name__}: "
                      f"{str(err)[:300]})", flush=True)  # fmt: skip
                continue
            rows.append({"variant": " + ".join(applied), **row})
            print("train_throughput sweep: " + json.dumps(rows[-1]), flush=True)
            if args.out:  # after each line: a sweep cut short by a time limit keeps what it measured
                Path(args.out).write_text(json.dumps(rows, indent=1))
            if not row.get("oom"):
                measured, last_batch = True, batch
        if not measured and label:
            applied.pop()
            if undo:
                undo()
    return rows, last_batch


def profile(model, optimizer, config, args, pngs, label: str, batch: int) -> None:
    """The top kernels of three steps at ``batch``, where a step's time goes: the first rows and the CPU/CUDA totals
    printed, the whole table written beside ``--out`` as ``profile_<label>.txt``."""
    import torch
    from torch.profiler import ProfilerActivity

    cuda = args.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    quick = argparse.Namespace(**{**vars(args), "steps": 3, "warmup": 1})
    try:
        measure(model, optimizer, config, quick, batch, "recipe", pngs)  # the shapes' plans, as in the sweep
        with torch.profiler.profile(activities=activities) as prof:
            measure(model, optimizer, config, quick, batch, "recipe", pngs)
    except Exception as err:  # noqa: BLE001 - a variant's kernels may not run here; the sweep's lines still stand
        print(f"train_throughput profile ({label}): not run ({type(err).__name__}: {str(err)[:300]})", flush=True)
        return
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=key, row_limit=40, max_name_column_width=70)
    lines = table.splitlines()
    print(f"train_throughput profile ({label}):", *lines[:16], *lines[-2:], sep="\n", flush=True)
    if args.out:
        Path(args.out).with_name(f"profile_{label}.txt").write_text(table)


def run_gpu(args) -> None:
    import torch
    from peft import get_peft_model
    from transformers import LlavaForConditionalGeneration
    from trl.trainer.utils import add_fused_lm_head

    from mirror_hf.training.lora import mirror_lora_config
    from mirror_hf.training.optim import optimizer_param_groups
    from mirror_hf.training.trainer import trainable_in_float32

    torch.backends.cuda.matmul.allow_tf32 = True
    device, cuda = args.device, args.device.startswith("cuda")
    config = llava_config(tiny=args.tiny)
    started = time.time()
    torch.set_default_dtype(torch.bfloat16)  # build the 7B weights in bf16 directly on the device
    with torch.device(device):
        model = LlavaForConditionalGeneration(config)
    torch.set_default_dtype(torch.float32)
    lora = mirror_lora_config(model, r=args.lora_r, alpha=2 * args.lora_r, dropout=args.lora_dropout)
    model = get_peft_model(model, lora)
    add_fused_lm_head(model.get_base_model(), outputs=FUSED_OUTPUTS)  # as TRL's SFTTrainer does
    trainable_in_float32(model)  # the projector, as the recipe's trainer does under mixed precision
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False
    decay = {n for n, _ in model.named_parameters()}
    optimizer = torch.optim.AdamW(optimizer_param_groups(model, 2e-4, 2e-5, 0.0, decay), fused=cuda)
    trainable = [p for p in model.parameters() if p.requires_grad]
    dtypes = "/".join(sorted({str(p.dtype).removeprefix("torch.") for p in trainable}))
    print(
        f"model built in {time.time() - started:.0f}s on {torch.cuda.get_device_name() if cuda else device}; "
        f"trainable {sum(p.numel() for p in trainable) / 1e6:.0f}M params in {dtypes}; "
        f"{versions('torch', 'transformers', 'peft')}",
        flush=True,
    )
    variant = []
    if not args.sweep:
        uncast_lora_inputs(model)  # as the recipe's trainer does under mixed precision
        for on, label, change in [
            (args.liger, "use_liger_kernel", lambda: apply_liger(model)),
            (args.fuse_lora_add, "LoRA add fused into its matmul", lambda: fuse_lora_add(model)),
            (args.compile, "compile_decoder_layers", lambda: compile_layers(model)),
        ]:
            if on:
                change()
                variant.append(label)

    pngs = png_pool()
    if args.sweep:
        _, last_batch = sweep(model, args, lambda b: measure(model, optimizer, config, args, b, "recipe", pngs))
        if args.profile:
            profile(model, optimizer, config, args, pngs, "last", last_batch)
        return
    settings = (
        f"LoRA r={args.lora_r} dropout={args.lora_dropout}, activation checkpointing "
        f"{'on' if args.checkpointing else 'off'}, padding mask {'off' if args.causal_only else 'on'}"
        + (", padding-free" if args.padding_free else "")
        + "".join(", " + v for v in variant)
    )
    results = []
    plan = [(b, "recipe") for b in args.batch_sizes] + [(b, "trl-default") for b in args.baseline_batch_sizes]
    for batch_size, sampler in plan:
        if args.warm:  # new shapes build cuDNN plans and (with --compile) compiled code: not a long run's cost
            measure(model, optimizer, config, args, batch_size, sampler, pngs)
        results.append({"settings": settings, **measure(model, optimizer, config, args, batch_size, sampler, pngs)})
        print(json.dumps(results[-1]), flush=True)
    if args.profile:
        profile(model, optimizer, config, args, pngs, "recipe", args.batch_sizes[0])
    print(f"\ntrain_throughput gpu: {torch.cuda.get_device_name() if cuda else device}, {settings}")
    print(
        f"{'batch':>5} {'sampler':<12} {'tokens/s':>9} {'samples/s':>9} {'step s':>7} {'peak GB':>8} {'MFU':>6} "
        f"{'data wait':>9} {'padding':>8}"
    )
    for r in results:
        if r.get("oom"):
            print(f"{r['batch']:>5} {r['sampler']:<12} out of memory")
            continue
        print(
            f"{r['batch']:>5} {r['sampler']:<12} {r['tokens_per_s']:>9.0f} {r['samples_per_s']:>9.2f} "
            f"{r['step_s']:>7.2f} {r['peak_gb']:>8.1f} {r['mfu']:>6.1%} {r['data_wait']:>9.1%} {r['padding']:>8.1%}"
        )
    by = {(r["batch"], r["sampler"]): r for r in results if not r.get("oom")}
    for b in args.baseline_batch_sizes:
        if (b, "recipe") in by and (b, "trl-default") in by:
            ratio = by[(b, "recipe")]["samples_per_s"] / by[(b, "trl-default")]["samples_per_s"]
            print(f"train_throughput summary: batch {b}: recipe {ratio:.2f}x TRL-default samples/s")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


# ----------------------------------------------------------------------------------------------------------- CPU
def run_cpu(args) -> None:
    import tempfile

    import torch
    from datasets import load_dataset

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from build_dataset import generate

    from mirror_hf.data.export import build_dataset
    from mirror_hf.data.sources import BuildSources

    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_models import build_tiny_llava  # noqa: E402  (a tokenizer; the image side is set to LLaVA-1.5's)
    from transformers import AutoProcessor, CLIPImageProcessor
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    work = Path(tempfile.mkdtemp(prefix="mirror-train-bench-"))
    generate(work, args.dialogues)
    build_dataset(
        BuildSources(
            release=str(work / "release"), celeba_dir=str(work / "celeba"), turn_images=str(work / "turn_images")
        ),
        work / "mirror",
        configs=("sft_ec_planning",),
        progress=False,
    )
    ds = load_dataset(str(work / "mirror"), "sft_ec_planning", split="train")
    processor = AutoProcessor.from_pretrained(build_tiny_llava(work / "processor", image_size=336, patch_size=14))
    processor.image_processor = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    collator = DataCollatorForVisionLanguageModeling(processor, max_length=None, completion_only_loss=True)
    n = min(len(ds), args.samples)
    print(f"{n} sft_ec_planning records; batch {args.batch}")
    for workers in (0, 1, 2):
        loader = torch.utils.data.DataLoader(
            ds.select(range(n)), batch_size=args.batch, num_workers=workers, collate_fn=collator
        )
        t0 = time.perf_counter()
        seen = 0
        for batch in loader:
            seen += batch["input_ids"].shape[0]
            assert (
                (batch["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<image>"))
                .sum(dim=1)
                .eq(IMAGE_TOKENS)
                .all()
            )
        elapsed = time.perf_counter() - t0
        print(
            f"train_throughput cpu data path: {workers} worker(s): {seen / elapsed:7.1f} samples/s "
            f"({seen} samples, {IMAGE_TOKENS} image tokens each)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cpu", action="store_true")
    mode.add_argument("--gpu", action="store_true")
    sizes = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    parser.add_argument("--batch-sizes", type=sizes, default=[8, 16, 32], help="recipe sampler (length-grouped)")
    parser.add_argument("--baseline-batch-sizes", type=sizes, default=[16, 32], help="TRL's default (random) sampler")
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument(
        "--no-checkpointing",
        dest="checkpointing",
        action="store_false",
        help="no activation checkpointing (faster, more memory)",
    )
    parser.add_argument(
        "--causal-only",
        action="store_true",
        help="no padding mask: causal attention alone (exact for right-padded batches: no real token attends to a "
        "later position, and padded positions carry no label)",
    )
    parser.add_argument(
        "--padding-free",
        action="store_true",
        help="padding-free batches (the recipe's padding_free: true): one row of real tokens per batch, sequences "
        "kept apart by their position ids (FlashAttention's varlen path; SDPA gets a block-diagonal mask)",
    )
    parser.add_argument("--liger", action="store_true", help="Liger's layer kernels (use_liger_kernel)")
    parser.add_argument("--compile", action="store_true", help="torch.compile each decoder layer")
    parser.add_argument("--fuse-lora-add", action="store_true", help="LoRA's add fused into its second matmul")
    parser.add_argument("--warm", action="store_true", help="one untimed pass before each measurement")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="GPU: the MFU candidates one after another at the first --batch-sizes (peft default, uncast LoRA "
        "inputs, liger, dropout 0, fused LoRA add, no padding mask, torch.compile), the rest at the other "
        "--batch-sizes, then no activation checkpointing at --no-recompute-batch-sizes; instead of the sampler "
        "comparison",
    )
    parser.add_argument(
        "--no-recompute-batch-sizes", type=sizes, default=[4, 6], help="--sweep: batches without checkpointing"
    )
    parser.add_argument("--profile", action="store_true", help="GPU: print the top kernels of three steps at the end")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--lora-r", type=int, default=128)
    parser.add_argument("--tiny", action="store_true", help="a tiny model, to check the script itself")
    parser.add_argument("--device", default="cuda", help="GPU mode's device (cpu with --tiny checks the script)")
    parser.add_argument("--out", help="write the GPU results as JSON here")
    parser.add_argument("--dialogues", type=int, default=40, help="CPU: dialogues in the generated release")
    parser.add_argument("--samples", type=int, default=256, help="CPU: records run through the data path")
    parser.add_argument("--batch", type=int, default=32, help="CPU: batch size")
    args = parser.parse_args()
    run_gpu(args) if args.gpu else run_cpu(args)


if __name__ == "__main__":
    main()
