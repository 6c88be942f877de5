"""Faces per GPU-hour for the turn-face synthesis (`mirror-hf synthesize faces`), through the package's own code path:
`load_photomaker` then `FaceDrawer` at the authors' settings (PhotoMaker v1 on SDXL in bfloat16, DDIM, 50 steps,
style strength 20 %, 1024 px, resized to 336). No weights are downloaded: the pipeline is built here at SDXL's and
PhotoMaker's real architecture (UNet, VAE, both CLIP text encoders, the ViT-L/14 ID encoder, a rank-64 LoRA on the
UNet's attention) with random weights, saved to a scratch folder and loaded as a user's would be. Random weights
draw noise, but every step costs what a trained model's does.

Every variant is measured in the same run, on the same seeds, one line each: seconds per face, faces per GPU-hour,
peak GPU memory, the hours MIRROR's 31,744 turn faces would take (one draw each; the paper redrew when a check
failed), and how far its faces are from the first variant's (largest and mean difference of the 0-255 pixels, over
the same seeds). A variant is `+`-joined parts:

- kept images (same seeds, the same faces within float tolerance): `batchN` (N turns of one client per UNet call),
  `channels-last`, `compile`; `authors` is none of them;
- another dtype: `float16` (the VAE then decodes in float32, as the pipeline does), `float32`;
- changed images, reported as such: `stepsN`, `dpmpp_2m` (DPM-Solver++ 2M instead of DDIM), `sizeN` (SDXL's size
  before the 336 px resize).

`--checks` also times the CLIP and NSFW checks at their real sizes (ViT-B/32, ViT-B/16; random weights), one face
at a time and in one batch; DeepFace's checks are not timed (their weights download). `--tiny` builds the tests'
tiny pipeline instead, to check the script on the CPU.

    python benchmarks/synthesis_throughput.py --faces 4 --checks                    # GPU: the default variants
    python benchmarks/synthesis_throughput.py --variants authors,batch4+compile,steps30
    python benchmarks/synthesis_throughput.py --tiny --device cpu --faces 2 --variants authors,batch2 --checks
"""

from __future__ import annotations

import argparse
import gc
import math
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MIRROR_TURN_FACES = 31744
VARIANTS = "authors,batch4,batch4+channels-last,batch4+channels-last+compile,float16,steps30,dpmpp_2m+steps25,size768"
DTYPE_PARTS, SCHEDULERS = ("bfloat16", "float16", "float32"), ("ddim", "dpmpp_2m")
# stabilityai/stable-diffusion-xl-base-1.0's configurations (RealVisXL V3.0 shares them), as facts
SDXL_UNET = dict(
    act_fn="silu", addition_embed_type="text_time", addition_embed_type_num_heads=64, addition_time_embed_dim=256,
    attention_head_dim=[5, 10, 20], block_out_channels=[320, 640, 1280], cross_attention_dim=2048,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], in_channels=4,
    layers_per_block=2, norm_num_groups=32, out_channels=4, projection_class_embeddings_input_dim=2816,
    sample_size=128, transformer_layers_per_block=[1, 2, 10],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], use_linear_projection=True,
)  # fmt: skip
SDXL_VAE = dict(
    block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4, in_channels=3,
    latent_channels=4, layers_per_block=2, norm_num_groups=32, out_channels=3, sample_size=1024,
    scaling_factor=0.13025, up_block_types=["UpDecoderBlock2D"] * 4, force_upcast=True,
)  # fmt: skip
CLIP_L_TEXT = dict(
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, projection_dim=768,
    hidden_act="quick_gelu", max_position_embeddings=77, vocab_size=49408,
)  # fmt: skip
CLIP_BIGG_TEXT = dict(
    hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20, projection_dim=1280,
    hidden_act="gelu", max_position_embeddings=77, vocab_size=49408,
)  # fmt: skip
PROMPT = "a photo of a woman img, looking down, tired, {k}"
NEGATIVE = "smiling, cheerful, missing limbs, mutilated"


def build_real_size(folder: Path) -> Path:
    """SDXL + a PhotoMaker v1 adapter file at their real sizes, random weights, saved under ``folder``."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict
    from photomaker.model import PhotoMakerIDEncoder
    from tiny_models import clip_tokenizer  # a CLIP tokenizer trained here: what it costs is CLIP's 77 tokens
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = clip_tokenizer(folder / "_tokenizer")
    unet = UNet2DConditionModel(**SDXL_UNET)
    ids = dict(bos_token_id=0, eos_token_id=1, pad_token_id=1)
    StableDiffusionXLPipeline(
        vae=AutoencoderKL(**SDXL_VAE),
        text_encoder=CLIPTextModel(CLIPTextConfig(**CLIP_L_TEXT, **ids)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIGG_TEXT, **ids)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False),
    ).save_pretrained(folder, safe_serialization=True)
    unet.add_adapter(LoraConfig(r=64, lora_alpha=64, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    lora = {f"unet.{k}": v for k, v in get_peft_model_state_dict(unet).items()}
    torch.save({"id_encoder": PhotoMakerIDEncoder().state_dict(), "lora_weights": lora}, folder / "photomaker-v1.bin")
    return folder


def parse_variant(text: str) -> dict:
    """``batch4+compile`` -> the options of one variant; unknown parts are named."""
    options = {"batch_size": 1, "channels_last": False, "compile": False, "dtype": None, "steps": None, "size": None}
    options["scheduler"] = None
    for part in filter(None, text.split("+")):
        if part == "authors":
            continue
        if part in ("channels-last", "compile"):
            options[part.replace("-", "_")] = True
        elif part in DTYPE_PARTS:
            options["dtype"] = part
        elif part in SCHEDULERS:
            options["scheduler"] = part
        elif found := re.fullmatch(r"(batch|steps|size)([1-9][0-9]*)", part):
            options["batch_size" if found[1] == "batch" else found[1]] = int(found[2])
        else:
            raise SystemExit(f"synthesis_throughput: unknown variant part {part!r} in {text!r} (see --help)")
    return options


def measure(variant: str, base, args, reference: tuple[str, list] | None):
    """Load the pipeline as the variant asks, draw one untimed batch, then ``args.faces`` timed faces."""
    import numpy as np
    import torch
    from PIL import Image

    from mirror_hf.synthesis.drawing import DrawRequest, FaceDrawer
    from mirror_hf.synthesis.faces import load_photomaker, turn_seed

    options = parse_variant(variant)
    changes = {"steps": options["steps"], "generation_size": options["size"], "scheduler": options["scheduler"]}
    settings = replace(base, **{k: v for k, v in changes.items() if v})
    cuda = args.device.startswith("cuda")
    started = time.perf_counter()
    pipe = load_photomaker(
        settings, device=args.device, dtype=options["dtype"], channels_last=options["channels_last"],
        compile=options["compile"],
    )  # fmt: skip
    loaded = time.perf_counter() - started
    drawer = FaceDrawer(pipe, settings, batch_size=options["batch_size"])
    identity = Image.new("RGB", (512, 512), (200, 160, 140))
    n = math.ceil(args.faces / options["batch_size"]) * options["batch_size"]
    requests = [DrawRequest(PROMPT.format(k=k), NEGATIVE, turn_seed(base.seed, "bench", k))
                for k in range(n + options["batch_size"])]  # fmt: skip
    drawer.draw(identity, requests[n:])  # untimed: kernels, and the compile
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    faces = drawer.draw(identity, requests[:n])
    if cuda:
        torch.cuda.synchronize()
    per_face = (time.perf_counter() - started) / n
    peak = f"peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GB" if cuda else "peak GPU memory n/a"
    changed = [f"{k} {options[k]}" for k in ("scheduler", "steps", "size") if options[k]]
    distance = ""
    if reference is not None:
        gaps = [
            np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int))
            for a, b in zip(faces, reference[1], strict=True)
        ]
        distance = f"; pixels vs {reference[0]}: max {max(g.max() for g in gaps)}, mean {np.mean(gaps):.2f}"
    what = (
        f"{'tiny' if args.tiny else 'SDXL+PhotoMaker v1'} on {args.device}, {next(pipe.unet.parameters()).dtype}, "
        f"{settings.steps} {settings.scheduler} steps at {settings.generation_size} px -> {faces[0].size[0]} px"
    )
    if changed:
        what += f"; changes the images: {', '.join(changed)}"
    print(
        f"synthesis_throughput: {variant} ({what}): {per_face:.2f} s/face, {3600 / per_face:.0f} faces/GPU-hour, "
        f"{peak}; MIRROR's {MIRROR_TURN_FACES} turn faces: {MIRROR_TURN_FACES * per_face / 3600:.1f} h "
        f"(load {loaded:.0f} s){distance}",
        flush=True,
    )
    del pipe, drawer
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return faces


def time_checks(faces: list, scratch: Path, args) -> None:
    """The CLIP and NSFW checks per face, one face at a time and all in one batch."""
    from mirror_hf.synthesis.checks import ClipCheck, NsfwCheck

    if args.tiny:
        from tiny_models import build_tiny_clip, build_tiny_nsfw_classifier

        clip = ClipCheck(str(build_tiny_clip(scratch / "clip")), device=args.device)
        nsfw = NsfwCheck(str(build_tiny_nsfw_classifier(scratch / "nsfw")), device=args.device)
    else:
        from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

        clip = ClipCheck("ViT-B-32", pretrained=None, device=args.device)  # open_clip's architecture, random
        labels = {0: "normal", 1: "nsfw"}  # Falconsai/nsfw_image_detection: a ViT-B/16 at 224 px
        vit = ViTForImageClassification(ViTConfig(id2label=labels, label2id={v: k for k, v in labels.items()}))
        vit.save_pretrained(scratch / "nsfw")
        ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(scratch / "nsfw")
        nsfw = NsfwCheck(str(scratch / "nsfw"), device=args.device)
    turns = [{"idx": "bench", "turn": k, "stage_direction": "Looks down"} for k in range(len(faces))]
    for check in (clip, nsfw):
        check.batch(faces[:1], turns[:1])  # untimed: the first call's set-up
        started = time.perf_counter()
        for face, turn in zip(faces, turns, strict=True):
            check(face, turn)
        single = (time.perf_counter() - started) / len(faces)
        started = time.perf_counter()
        check.batch(faces, turns)
        batched = (time.perf_counter() - started) / len(faces)
        print(
            f"synthesis_throughput: check {check.name} on {args.device}: {single * 1000:.1f} ms/face one at a time, "
            f"{batched * 1000:.1f} ms/face in a batch of {len(faces)}",
            flush=True,
        )


def main() -> None:
    from mirror_hf.synthesis.settings import PhotoMakerSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=4, help="faces timed per variant (after one untimed batch)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny pipeline, to check the script")
    parser.add_argument("--variants", default=VARIANTS, help=f"comma-separated (default: {VARIANTS})")
    parser.add_argument("--checks", action="store_true", help="time the CLIP and NSFW checks too")
    parser.add_argument("--load-only", action="store_true", help="build and load the pipeline, report its size, stop")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for variant in variants:
        parse_variant(variant)  # a typo stops the run before anything is built

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.tiny:
            import photomaker.pipeline
            from tiny_models import build_tiny_photomaker, tiny_photomaker_encoder, tiny_photomaker_settings

            photomaker.pipeline.PhotoMakerIDEncoder = tiny_photomaker_encoder()  # as the tests' fixture does
            base = tiny_photomaker_settings(build_tiny_photomaker(scratch / "pm"), steps=4)
        else:
            folder = build_real_size(scratch / "pm")
            base = PhotoMakerSettings(base_model=str(folder), adapter=str(folder))
        if args.load_only:
            from mirror_hf.synthesis.faces import load_photomaker

            started = time.perf_counter()
            pipe = load_photomaker(base, device=args.device)
            params = {n: sum(p.numel() for p in getattr(pipe, n).parameters()) / 1e6 for n in
                      ("unet", "vae", "text_encoder", "text_encoder_2", "id_encoder")}  # fmt: skip
            print(f"synthesis_throughput: loaded in {time.perf_counter() - started:.0f} s; parameters (M): {params}")
            return
        reference = None
        for variant in variants:
            faces = measure(variant, base, args, reference)
            reference = reference or (variant, faces)  # the first variant's faces: the others are compared with them
        if args.checks:
            time_checks(reference[1], scratch, args)


if __name__ == "__main__":
    main()
