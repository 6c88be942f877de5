"""Drawing turn faces with PhotoMaker's parts: the steps of its SDXL pipeline's call, in the order the authors' copy
of it runs them (``mirror/src/photomaker/pipeline.py`` in nobel-postech/mirror@3bc4a9a, PhotoMaker v1 weights), so
that the work a single call repeats for every turn can be done once and several turns can share a UNet batch.

What :class:`FaceDrawer` does, and what each choice does to the pixels:

- **the identity's ID features once per client** (the CLIP vision tower of PhotoMaker's ID encoder and its two
  projections): the pipeline recomputes them at every call; the same numbers, so the same pixels.
- **the trigger word as the authors' copy handles it**: each prompt is tokenized to CLIP's 77 tokens (truncated,
  ending in the end-of-text token), then the trigger word is taken out and the sequence padded again
  (``pipeline.py`` lines 320-372). The ``photomakerv`` package takes the trigger out first and truncates after, so a
  prompt longer than 76 tokens ends without its end-of-text token there; shorter prompts give the same tokens both
  ways, and then :meth:`FaceDrawer.draw` gives the package's ``pipe(...)`` pixels exactly (tested).
- **``batch_size`` turns of one client in one UNet call** (their prompts, negative prompts and seeds each their
  own, as :func:`~mirror_hf.synthesis.faces.turn_seed` fixes them): the batched matrix products round differently
  from single ones, so a face matches its unbatched self within float tolerance, not bit for bit. Not the default.
- The VAE decodes one face at a time, in the pipeline's dtype (bfloat16 as the authors ran it; float16 is upcast to
  float32, as the pipeline does, because SDXL's VAE overflows in float16).

:func:`tune_unet` adds the two speed-ups that keep the images within float tolerance: channels-last memory and
``torch.compile``.

Example:
    >>> drawer = FaceDrawer(load_photomaker(device="cuda"), PhotoMakerSettings(), batch_size=4)  # doctest: +SKIP
    >>> faces = drawer.draw(identity, [DrawRequest(prompt, negative, seed) for ...])            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from mirror_hf.synthesis.settings import DTYPES, PhotoMakerSettings

GUIDANCE_SCALE = 5.0  # the pipeline's default; the authors' scripts leave it


@dataclass(frozen=True)
class DrawRequest:
    """One face to draw: PhotoMaker's prompt (with the trigger word), its negative prompt and the noise seed."""

    prompt: str
    negative_prompt: str
    seed: int


def trigger_token_ids(tokenizer, prompt: str, trigger_id: int) -> tuple[list[int], int]:
    """The prompt's token ids without the trigger word, padded to the tokenizer's length, and the position of the
    class word the trigger follows (whose embedding the ID features replace): tokenized, truncated and padded first,
    the trigger taken out after, as the authors' copy of the pipeline does."""
    length = tokenizer.model_max_length
    ids = tokenizer(prompt, padding="max_length", max_length=length, truncation=True).input_ids
    kept, class_positions = [], []
    for token in ids:
        if token == trigger_id:
            class_positions.append(len(kept) - 1)
        else:
            kept.append(token)
    if len(class_positions) != 1:
        from mirror_hf.errors import MirrorError

        raise MirrorError(
            f"PhotoMaker's prompt needs its trigger word exactly once (found {len(class_positions)}): {prompt!r}",
            fix="the prompt is written by `synthesize expressions`: check its photomaker prompt template",
        )
    kept = kept[:length] + [tokenizer.pad_token_id] * (length - len(kept))
    return kept, class_positions[0]


class FaceDrawer:
    """Draws faces with a loaded PhotoMaker pipeline (:func:`~mirror_hf.synthesis.faces.load_photomaker`):
    ``draw(identity, requests)`` gives one PIL image per request, ``settings.size`` square. ``batch_size``: how many
    requests share one UNet call (1, the default, gives the pipeline's own pixels)."""

    def __init__(self, pipe, settings: PhotoMakerSettings = PhotoMakerSettings(), *, batch_size: int = 1):
        if batch_size < 1:
            from mirror_hf.errors import MirrorError

            raise MirrorError(f"batch size {batch_size}", fix="draw at least one face per call")
        self.pipe, self.settings, self.batch_size = pipe, settings, batch_size
        self._identity = (None, None)  # (the last identity image, its ID features)

    def draw(self, identity, requests: list[DrawRequest]) -> list:
        """One face per request, all of the client whose face is ``identity``."""
        features = self.identity_features(identity)
        faces = []
        for start in range(0, len(requests), self.batch_size):
            faces += self._draw_batch(features, requests[start : start + self.batch_size])
        return faces

    def identity_features(self, identity):
        """The ID encoder's image features of ``identity`` (shape 1 x 1 x 1 x 2048 at PhotoMaker's size), computed
        once for consecutive draws of the same client."""
        import torch

        if self._identity[0] is identity:
            return self._identity[1]
        pipe = self.pipe
        encoder = pipe.id_encoder
        pixels = pipe.id_image_processor([identity.convert("RGB")], return_tensors="pt").pixel_values
        pixels = pixels.to(device=pipe._execution_device, dtype=next(encoder.parameters()).dtype)
        with torch.no_grad():
            shared = encoder.vision_model(pixels)[1]  # PhotoMakerIDEncoder.forward's first steps, for one image
            features = torch.cat((encoder.visual_projection(shared), encoder.visual_projection_2(shared)), dim=-1)
        features = features.view(1, 1, 1, -1)
        self._identity = (identity, features)
        return features

    def _encode(self, features, request: DrawRequest) -> dict:
        """The four prompt embeddings one face needs: with the identity merged in, text only (before the merge
        step), negative; each with its pooled vector."""
        import torch

        pipe = self.pipe
        device = pipe._execution_device
        trigger_id = pipe.tokenizer_2.convert_tokens_to_ids(pipe.trigger_word)
        hidden = []
        for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
            ids, class_position = trigger_token_ids(tokenizer, request.prompt, trigger_id)
            out = encoder(torch.tensor([ids], device=device), output_hidden_states=True)
            pooled = out[0]  # the last encoder's counts: its projected end-of-text embedding
            hidden.append(out.hidden_states[-2])
        with_id = torch.cat(hidden, dim=-1).to(dtype=pipe.text_encoder_2.dtype, device=device)
        mask = torch.zeros(1, with_id.shape[1], dtype=torch.bool, device=device)
        mask[0, class_position] = True
        with_id = pipe.id_encoder.fuse_module(with_id, features, mask)

        text_only = pipe.tokenizer.encode(request.prompt, add_special_tokens=False)
        text_only.remove(pipe.tokenizer.convert_tokens_to_ids(pipe.trigger_word))
        text, negative, text_pooled, negative_pooled = pipe.encode_prompt(
            prompt=pipe.tokenizer.decode(text_only, add_special_tokens=False),
            device=device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
            negative_prompt=request.negative_prompt,
        )
        return {
            "with_id": with_id, "pooled": pooled, "text": text, "text_pooled": text_pooled, "negative": negative,
            "negative_pooled": negative_pooled,
        }  # fmt: skip

    def _draw_batch(self, features, requests: list[DrawRequest]) -> list:
        import torch
        from PIL import Image

        pipe, settings = self.pipe, self.settings
        device, size = pipe._execution_device, settings.generation_size
        with torch.no_grad():
            encoded = [self._encode(features, request) for request in requests]

            def stacked(key: str):
                return torch.cat([e[key] for e in encoded])

            negative, negative_pooled = stacked("negative"), stacked("negative_pooled")
            before = (torch.cat([negative, stacked("text")]), torch.cat([negative_pooled, stacked("text_pooled")]))
            after = (torch.cat([negative, stacked("with_id")]), torch.cat([negative_pooled, stacked("pooled")]))
            pipe.scheduler.set_timesteps(settings.steps, device=device)
            dtype = encoded[0]["with_id"].dtype
            latents = torch.cat([
                pipe.prepare_latents(1, pipe.unet.config.in_channels, size, size, dtype, device,
                                     torch.Generator(device="cpu").manual_seed(request.seed))
                for request in requests
            ])  # fmt: skip
            time_ids = pipe._get_add_time_ids(
                (size, size), (0, 0), (size, size), dtype=dtype,
                text_encoder_projection_dim=pipe.text_encoder_2.config.projection_dim,
            ).to(device).repeat(2 * len(requests), 1)  # fmt: skip
            step_options = pipe.prepare_extra_step_kwargs(None, 0.0)  # DDIM's eta 0: no noise added in a step
            for step, t in enumerate(pipe.scheduler.timesteps):
                model_input = pipe.scheduler.scale_model_input(torch.cat([latents] * 2), t)
                embeds, pooled = before if step <= settings.start_merge_step else after
                noise = pipe.unet(
                    model_input, t, encoder_hidden_states=embeds,
                    added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}, return_dict=False,
                )[0]  # fmt: skip
                unconditional, conditional = noise.chunk(2)
                noise = unconditional + GUIDANCE_SCALE * (conditional - unconditional)
                latents = pipe.scheduler.step(noise, t, latents, **step_options, return_dict=False)[0]
            return [self._decode(latent.unsqueeze(0)).resize((settings.size,) * 2, Image.Resampling.BICUBIC)
                    for latent in latents]  # fmt: skip

    def _decode(self, latents):
        import torch

        vae = self.pipe.vae
        if vae.dtype == torch.float16 and vae.config.force_upcast:  # SDXL's VAE overflows in float16
            vae.to(dtype=torch.float32)
        latents = latents.to(next(iter(vae.post_quant_conv.parameters())).dtype)
        mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
        if mean is not None and std is not None:
            mean = torch.tensor(mean).view(1, 4, 1, 1).to(latents.device, latents.dtype)
            std = torch.tensor(std).view(1, 4, 1, 1).to(latents.device, latents.dtype)
            latents = latents * std / vae.config.scaling_factor + mean
        else:
            latents = latents / vae.config.scaling_factor
        image = vae.decode(latents, return_dict=False)[0]
        return self.pipe.image_processor.postprocess(image, output_type="pil")[0]


def tune_unet(pipe, *, channels_last: bool = False, compile: bool = False):
    """Speed-ups that keep the images within float tolerance: the UNet and VAE in channels-last memory, the UNet
    compiled (``torch.compile``; the first faces wait for the compilation, and each new batch size compiles once)."""
    import torch

    if channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if compile:
        pipe.unet = torch.compile(pipe.unet)  # the default mode: max-autotune's search would take minutes here
    return pipe


__all__ = ["DTYPES", "GUIDANCE_SCALE", "DrawRequest", "FaceDrawer", "trigger_token_ids", "tune_unet"]
