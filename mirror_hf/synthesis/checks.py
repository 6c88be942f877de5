"""Checks a drawn turn face must pass, as the authors' code checked them (RELEASE_FORMAT, "Filters as coded"):

- CLIP: cosine similarity between the face and ``A facial photo with {stage direction, lower-cased}`` with CLIP
  ViT-B/32 must reach 0.2 (paper §3.4: 2.95 % rejected). A turn without a stage direction is not checked.
- NSFW: ``Falconsai/nsfw_image_detection`` must not score ``nsfw`` at or above ``normal``.

A check is a callable ``check(image, turn_record) -> CheckResult | None`` (None: not applicable), so others (identity,
gender: DeepFace) plug in the same way.

Example:
    >>> clip_text("Looks away")
    'A facial photo with looks away'
"""

from __future__ import annotations

from dataclasses import dataclass

CLIP_MODEL = "openai/clip-vit-base-patch32"
CLIP_THRESHOLD = 0.2
NSFW_MODEL = "Falconsai/nsfw_image_detection"


@dataclass(frozen=True)
class CheckResult:
    name: str
    score: float
    passed: bool


def clip_text(stage_direction: str) -> str:
    """The text a face is compared with (the authors' wording)."""
    return f"A facial photo with {stage_direction.lower()}"


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


class ClipCheck:
    """CLIP image-text cosine similarity against the turn's stage direction, at least ``threshold``."""

    name = "clip"

    def __init__(self, model: str = CLIP_MODEL, threshold: float = CLIP_THRESHOLD, device: str | None = None):
        from transformers import CLIPModel, CLIPProcessor

        self.device = _device(device)
        self.model = CLIPModel.from_pretrained(model).to(self.device).eval()
        self.processor = CLIPProcessor.from_pretrained(model)
        self.threshold = threshold

    def similarity(self, image, text: str) -> float:
        import torch

        inputs = self.processor(text=[text], images=[image.convert("RGB")], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
        image_embeds = torch.nn.functional.normalize(out.image_embeds, dim=-1)
        text_embeds = torch.nn.functional.normalize(out.text_embeds, dim=-1)
        return float((image_embeds * text_embeds).sum())

    def __call__(self, image, turn: dict) -> CheckResult | None:
        if not turn.get("stage_direction"):
            return None
        score = self.similarity(image, clip_text(turn["stage_direction"]))
        return CheckResult(self.name, score, score >= self.threshold)


class NsfwCheck:
    """An image classifier with ``nsfw`` and ``normal`` labels; the face fails when nsfw scores at least normal."""

    name = "nsfw"

    def __init__(self, model: str = NSFW_MODEL, device: str | None = None):
        from transformers import pipeline

        self.classify = pipeline("image-classification", model=model, device=_device(device))

    def __call__(self, image, turn: dict) -> CheckResult:
        scores = {r["label"].lower(): r["score"] for r in self.classify(image.convert("RGB"), top_k=None)}
        nsfw = scores.get("nsfw", 0.0)
        return CheckResult(self.name, nsfw, nsfw < scores.get("normal", 0.0))


__all__ = ["CLIP_MODEL", "CLIP_THRESHOLD", "NSFW_MODEL", "CheckResult", "ClipCheck", "NsfwCheck", "clip_text"]
