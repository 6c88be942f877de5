"""Faces per GPU-hour for the turn-face synthesis (`mirror-hf synthesize faces`), through the package's own code path:
`load_photomaker` then `draw_turn` at the authors' settings (PhotoMaker v1 on SDXL, DDIM, 50 steps, style strength
20 %, 1024 px, resized to 336). No weights are downloaded: the pipeline is built here at SDXL's and PhotoMaker's
real architecture (UNet, VAE, both CLIP text encoders, the ViT-L/14 ID encoder, a rank-64 LoRA on the UNet's
attention) with random weights, saved to a scratch folder and loaded as a user's would be. Random weights draw noise,
but every step costs what a trained model's does.

Prints one line per setting: seconds per face, faces per GPU-hour, peak GPU memory, and the hours MIRROR's 31,744
turn faces would take (one draw each; the paper redrew when a check failed). `--tiny` builds the tests' tiny
pipeline instead, to check the script on the CPU.

    python benchmarks/synthesis_throughput.py --faces 4                          # GPU, the authors' settings
    python benchmarks/synthesis_throughput.py --faces 4 --channels-last --compile
    python benchmarks/synthesis_throughput.py --tiny --device cpu --faces 2      # the script itself

Settings that keep the authors' images are measured by default-free flags (`--channels-last`, `--compile` of the
UNet); those that change the images (`--steps`, `--size`) are reported as such in the line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MIRROR_TURN_FACES = 31744
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
    scaling_factor=0.13025, up_block_types=["UpDecoderBlock2D"] * 4,
)  # fmt: skip
CLIP_L_TEXT = dict(
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, projection_dim=768,
    hidden_act="quick_gelu", max_position_embeddings=77, vocab_size=49408,
)  # fmt: skip
CLIP_BIGG_TEXT = dict(
    hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20, projection_dim=1280,
    hidden_act="gelu", max_position_embeddings=77, vocab_size=49408,
)  # fmt: skip


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


def main() -> None:
    import torch
    from PIL import Image

    from mirror_hf.synthesis.faces import draw_turn, load_photomaker, turn_seed
    from mirror_hf.synthesis.settings import PhotoMakerSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=4, help="faces drawn and timed (after one untimed)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny pipeline, to check the script")
    parser.add_argument("--steps", type=int, help="DDIM steps (changes the images; the authors': 50)")
    parser.add_argument("--size", type=int, help="SDXL's size (changes the images; the authors': 1024)")
    parser.add_argument("--channels-last", action="store_true", help="the UNet and VAE in channels-last memory")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    parser.add_argument("--load-only", action="store_true", help="build and load the pipeline, report its size, stop")
    args = parser.parse_args()

    cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as scratch:
        if args.tiny:
            import photomaker.pipeline
            from tiny_models import build_tiny_photomaker, tiny_photomaker_encoder

            photomaker.pipeline.PhotoMakerIDEncoder = tiny_photomaker_encoder()  # as the tests' fixture does
            folder = build_tiny_photomaker(Path(scratch) / "pm")
            settings = PhotoMakerSettings(base_model=str(folder), adapter=str(folder),
                                          weight_name="photomaker-tiny.bin", generation_size=64, steps=4)  # fmt: skip
        else:
            folder = build_real_size(Path(scratch) / "pm")
            settings = PhotoMakerSettings(base_model=str(folder), adapter=str(folder))
        settings = replace(settings, **{k: v for k, v in (("steps", args.steps), ("generation_size", args.size)) if v})
        started = time.perf_counter()
        pipe = load_photomaker(settings, device=args.device)
        loaded = time.perf_counter() - started
    if args.load_only:
        params = {n: sum(p.numel() for p in getattr(pipe, n).parameters()) / 1e6 for n in
                  ("unet", "vae", "text_encoder", "text_encoder_2", "id_encoder")}  # fmt: skip
        print(f"synthesis_throughput: built and loaded in {loaded:.0f} s; parameters (M): {params}")
        return
    if args.channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if args.compile:
        pipe.unet = torch.compile(pipe.unet, mode="max-autotune", fullgraph=True)
    identity = Image.new("RGB", (512, 512), (200, 160, 140))
    prompt, negative = "a photo of a woman img, looking down, tired", "smiling, cheerful"

    def one(k: int):
        return draw_turn(pipe, identity, prompt, negative, turn_seed(settings.seed, "bench", k), settings)

    one(0)  # untimed: kernel selection, and the compile with --compile
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for k in range(1, args.faces + 1):
        face = one(k)
    if cuda:
        torch.cuda.synchronize()
    per_face = (time.perf_counter() - started) / args.faces
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    changed = [f"{n} {v}" for n, v in (("steps", args.steps), ("size", args.size)) if v]
    kept = [n for n, on in (("channels-last", args.channels_last), ("compile", args.compile)) if on]
    print(
        f"synthesis_throughput: {'tiny' if args.tiny else 'SDXL+PhotoMaker v1'} on {args.device}, "
        f"{settings.steps} DDIM steps at {settings.generation_size} px -> {face.size[0]} px"
        + (f", {', '.join(kept)}" if kept else ", tiny settings" if args.tiny else ", as the authors ran it")
        + (f" (changes the images: {', '.join(changed)})" if changed else "")
        + f": {per_face:.2f} s/face, {3600 / per_face:.0f} faces/GPU-hour, peak {peak:.1f} GB; MIRROR's "
        f"{MIRROR_TURN_FACES} turn faces: {MIRROR_TURN_FACES * per_face / 3600:.1f} h (load {loaded:.0f} s)"
    )


if __name__ == "__main__":
    main()
