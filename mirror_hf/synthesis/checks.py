"""Checks a drawn turn face must pass, as the authors' code checked them (RELEASE_FORMAT, "Filters as coded"):

- CLIP: cosine similarity between the face and ``A facial photo with {stage direction, lower-cased}`` with CLIP
  ViT-B/32 must reach 0.2 (paper §3.4: 2.95 % rejected). A turn without a stage direction is not checked. The
  authors' ``mirror/step4/clip.py`` uses OpenAI's ``clip`` package, ``clip.load("ViT-B/32")`` and its preprocessing;
  here open_clip's ``ViT-B-32`` with the ``openai`` weights and transforms computes the same, and the face is paired
  with its turn as their script pairs them (the images sorted by turn, zipped with the client turns in order).
- NSFW: ``Falconsai/nsfw_image_detection`` must not score ``nsfw`` at or above ``normal``.
- Identity, gender, age (DeepFace, against the client's identity face): cosine similarity of the face embeddings
  at least 0.2; the same dominant gender; apparent ages at most 10 years apart; and DeepFace must find a face.
  The paper names ArcFace for identity, the authors' code used DeepFace's default (VGG-Face): ArcFace here, run
  from DeepFace's ONNX graphs.

A check is a callable ``check(image, turn) -> CheckResult | None`` (None: not applicable; ``turn`` is the turn's
expressions record plus ``identity``, the client's face) with a ``name`` and the ``settings`` its verdicts depend
on (``needs_identity`` when it compares with the client's face), so new checks plug in the same way. A check may
also have ``batch(images, turns)``, the same verdicts for several faces in one model call (CLIP and NSFW do, on the
GPU when there is one); :func:`check_faces` uses it.

Example:
    >>> clip_text("Looks away")
    'A facial photo with looks away'
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mirror_hf.errors import MirrorError

CLIP_MODEL = "ViT-B-32"  # open_clip's name of OpenAI's CLIP ViT-B/32
CLIP_PRETRAINED = "openai"
CLIP_THRESHOLD = 0.2
NSFW_MODEL = "Falconsai/nsfw_image_detection"
IDENTITY_MODEL = "ArcFace"  # the paper; the authors' code used DeepFace's default, VGG-Face
IDENTITY_THRESHOLD = 0.2  # the authors' dataset filter (their simulation's verify loop asked 0.3)
MAX_AGE_GAP = 10.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    score: float
    passed: bool


def clip_text(stage_direction: str) -> str:
    """The text a face is compared with (the authors' wording)."""
    return f"A facial photo with {stage_direction.lower()}"


def default_device(device: str | None = None) -> str:
    """``device``, or ``cuda`` when there is one, else ``cpu``."""
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def check_faces(checks, images: list, turns: list[dict]) -> list[list[CheckResult]]:
    """Each face's results under ``checks``, in the checks' order (not applicable ones left out): checks with a
    ``batch`` method see all the faces at once, the others one face after another (all of a face's checks before
    the next face, so that checks sharing one reading of a face, as DeepFace's three do, read it once)."""
    results: list[dict] = [{} for _ in images]
    for position, check in enumerate(checks):
        if hasattr(check, "batch"):
            for found, verdict in zip(results, check.batch(images, turns), strict=True):
                found[position] = verdict
    for found, image, turn in zip(results, images, turns, strict=True):
        for position, check in enumerate(checks):
            if not hasattr(check, "batch"):
                found[position] = check(image, turn)
    return [[found[p] for p in range(len(checks)) if found[p] is not None] for found in results]


class ClipCheck:
    """CLIP image-text cosine similarity against the turn's stage direction, at least ``threshold``, through
    open_clip (``pip install open_clip_torch``).

    ``model``: an open_clip architecture (``ViT-B-32``), a model config file (``NAME.json``), or a folder holding one
    config and its weights (``NAME.json`` + ``NAME.pt``); ``pretrained``: an open_clip tag (``openai``) or a weights
    file. ``pairing``: ``authors`` pairs the k-th face (by turn) with the k-th client turn, as their script zips
    them; ``turn`` pairs each face with its own turn (they differ only when a client turn has no face).
    """

    name = "clip"

    def __init__(
        self,
        model: str = CLIP_MODEL,
        threshold: float = CLIP_THRESHOLD,
        device: str | None = None,
        pretrained: str | None = CLIP_PRETRAINED,
        pairing: str = "authors",
    ):
        try:
            import open_clip
        except ImportError as err:
            raise MirrorError("the CLIP check needs open_clip", fix="pip install 'mirror-hf[synthesis]'") from err
        from pathlib import Path

        if pairing not in ("authors", "turn"):
            raise MirrorError(f"CLIP pairing {pairing!r}", fix="use authors or turn")
        name, folder = str(model), Path(model).expanduser()
        if folder.is_dir():  # a local model: its config and its weights
            configs = sorted(folder.glob("*.json"))
            if len(configs) != 1:
                raise MirrorError("expected one open_clip model config (NAME.json)", file=str(folder))
            weights = [folder / f"{configs[0].stem}{ext}" for ext in (".pt", ".bin", ".safetensors")]
            pretrained = next((str(w) for w in weights if w.is_file()), pretrained)
            folder = configs[0]
        if folder.suffix == ".json" and folder.is_file():
            open_clip.add_model_config(folder)
            name = folder.stem
        self.device = default_device(device)
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained or None, device=self.device
            )
        except Exception as err:  # an unknown name, weights that cannot be fetched offline
            raise MirrorError(
                f"cannot load CLIP {name} ({pretrained}): {str(err).splitlines()[0] if str(err) else err}",
                fix="check --clip-model and --clip-pretrained; offline, give a weights file or a local model folder",
            ) from None
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)
        self.threshold, self.pairing = threshold, pairing
        self.settings = {"model": str(model), "pretrained": str(pretrained), "threshold": threshold, "pairing": pairing}

    def similarity(self, image, text: str) -> float:
        """The cosine of the image's and the text's features, as ``torch.nn.CosineSimilarity`` in the authors'
        script computes it."""
        return self.similarities([image], [text])[0]

    def similarities(self, images: list, texts: list[str]) -> list[float]:
        """:meth:`similarity` of each image with its text, in one pass of each tower."""
        import torch

        pixels = torch.stack([self.preprocess(image.convert("RGB")) for image in images]).to(self.device)
        tokens = self.tokenizer(texts).to(self.device)
        with torch.no_grad():
            features = self.model.encode_image(pixels), self.model.encode_text(tokens)
        return torch.nn.functional.cosine_similarity(*features, dim=-1).tolist()

    def __call__(self, image, turn: dict) -> CheckResult | None:
        return self.batch([image], [turn])[0]

    def batch(self, images: list, turns: list[dict]) -> list[CheckResult | None]:
        """The verdicts on several faces, each against its own turn's stage direction (None without one)."""
        asked = [k for k, turn in enumerate(turns) if turn.get("stage_direction")]
        verdicts: list[CheckResult | None] = [None] * len(images)
        texts = [clip_text(turns[k]["stage_direction"]) for k in asked]
        scores = self.similarities([images[k] for k in asked], texts) if asked else []
        for k, score in zip(asked, scores, strict=True):
            verdicts[k] = CheckResult(self.name, score, score >= self.threshold)
        return verdicts


class NsfwCheck:
    """An image classifier with ``nsfw`` and ``normal`` labels; the face fails when nsfw scores at least normal."""

    name = "nsfw"

    def __init__(self, model: str = NSFW_MODEL, device: str | None = None):
        from transformers import pipeline

        self.classify = pipeline("image-classification", model=model, device=default_device(device))
        self.settings = {"model": str(model)}

    def __call__(self, image, turn: dict) -> CheckResult:
        return self.batch([image], [turn])[0]

    def batch(self, images: list, turns: list[dict]) -> list[CheckResult]:
        """The verdicts on several faces in one batch through the classifier."""
        found = self.classify([image.convert("RGB") for image in images], top_k=None, batch_size=len(images))
        verdicts = []
        for labels in found:
            scores = {r["label"].lower(): r["score"] for r in labels}
            nsfw = scores.get("nsfw", 0.0)
            verdicts.append(CheckResult(self.name, nsfw, nsfw < scores.get("normal", 0.0)))
        return verdicts


class DeepFaceChecks:
    """Identity, gender and age of a face against the client's identity face (``turn["identity"]``), with DeepFace.

    ``checks()`` gives the three as separate checks (each named in the report); the identity face's embedding and
    analysis are computed once per client. A face in which DeepFace finds no face fails all three.
    """

    def __init__(
        self,
        model: str = IDENTITY_MODEL,
        identity_threshold: float = IDENTITY_THRESHOLD,
        max_age_gap: float = MAX_AGE_GAP,
        detector_backend: str = "opencv",
    ):
        # DeepFace's ONNX graphs (onnxruntime), not its torch ports that it would pick beside torch, unless the
        # user chose an engine
        os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")
        try:
            from deepface import DeepFace
        except ImportError as err:
            raise MirrorError(f"DeepFace is not installed ({err})", fix='pip install "mirror-hf[synthesis]"') from err
        self.deepface, self.model, self.detector = DeepFace, model, detector_backend
        self.identity_threshold, self.max_age_gap = identity_threshold, max_age_gap
        self._references: dict[str, tuple] = {}

    def _deepface(self, call, image, **options):
        """``call`` (DeepFace.represent or .analyze) on the one face of ``image``; None when DeepFace finds none."""
        import numpy as np

        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
        try:
            return call(bgr, detector_backend=self.detector, enforce_detection=True, **options)[0]
        except ValueError as err:
            if "could not be detected" in str(err):  # no face: the face fails its checks
                return None
            raise MirrorError(  # e.g. a model or detector file DeepFace could not download
                f"DeepFace failed: {err}", fix="check the network, or put the file where the message says"
            ) from err

    def analyze(self, image) -> tuple[str, float] | None:
        """(dominant gender, apparent age) of the one face in ``image``; None when DeepFace finds none."""
        found = self._deepface(self.deepface.analyze, image, actions=("gender", "age"), silent=True)
        return None if found is None else (found["dominant_gender"], float(found["age"]))

    def _read(self, image) -> tuple | None:
        """(embedding, dominant gender, age) of the one face in ``image``; None when DeepFace finds none."""
        import numpy as np

        represented = self._deepface(self.deepface.represent, image, model_name=self.model)
        analysis = None if represented is None else self.analyze(image)
        if analysis is None:
            return None
        return np.asarray(represented["embedding"], dtype=float), *analysis

    def _compare(self, image, turn: dict) -> dict[str, CheckResult]:
        import numpy as np

        key = turn["idx"]
        if key not in self._references:
            self._references[key] = self._read(turn["identity"])
        reference, face = self._references[key], self._read(image)
        if reference is None or face is None:
            return {n: CheckResult(n, float("nan"), False) for n in ("identity", "gender", "age")}
        a, b = reference[0], face[0]
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
        gap = abs(reference[2] - face[2])
        return {
            "identity": CheckResult("identity", cosine, cosine >= self.identity_threshold),
            "gender": CheckResult("gender", float(face[1] == reference[1]), face[1] == reference[1]),
            "age": CheckResult("age", gap, gap <= self.max_age_gap),
        }

    def checks(self) -> list:
        """Three checks that share one DeepFace reading per face."""
        last: dict = {}

        def reading(image, turn):
            if last.get("image") is not image:
                last.update(image=image, results=self._compare(image, turn))
            return last["results"]

        def named(name: str):
            def check(image, turn: dict) -> CheckResult:
                return reading(image, turn)[name]

            check.name = name
            check.needs_identity = True  # compared with the client's face: nothing to check without one
            check.settings = {"model": self.model, "detector": self.detector}
            check.settings.update(
                {"identity": {"threshold": self.identity_threshold}, "age": {"max_gap": self.max_age_gap}}.get(name, {})
            )
            return check

        return [named("identity"), named("gender"), named("age")]


__all__ = [
    "CLIP_MODEL",
    "CLIP_PRETRAINED",
    "CLIP_THRESHOLD",
    "IDENTITY_MODEL",
    "IDENTITY_THRESHOLD",
    "MAX_AGE_GAP",
    "NSFW_MODEL",
    "CheckResult",
    "check_faces",
    "ClipCheck",
    "DeepFaceChecks",
    "NsfwCheck",
    "clip_text",
    "default_device",
]
