"""Canary (Kim et al., 2022, ProsocialDialog), the dialogue-safety model of the paper's Dialogue Safety Filtering:
a T5 that reads an utterance and writes a safety label, then rules-of-thumb, e.g. ``__needs_caution__ It's wrong
to ...``. MIRROR drops a dialogue when a therapist utterance is labelled ``__needs_caution__`` or
``__needs_intervention__`` (1.09 % rejected); the authors' code labelled the client turns instead (a bug, fixed
here; ``speakers`` chooses).

Canary was released as a ParlAI checkpoint (``canary.tar.gz``, 10 GB with its optimizer state, from the
ProsocialDialog repository), not as a transformers model: :func:`convert_parlai_canary` turns the unpacked folder
into a ``T5ForConditionalGeneration`` folder once, which :class:`Canary` then loads (as it loads any seq2seq model
that answers with these labels). The conversion is tested on a checkpoint written here in ParlAI's layout; the real
10 GB file was not run here.

Example:
    >>> parse_canary_label("__needs_caution__ It's wrong to throw things at people.")
    '__needs_caution__'
    >>> canary = Canary("models/canary-hf")                                        # doctest: +SKIP
    >>> canary.labels(["Hello there!", "I wanted to throw the hamburger in his face."])  # doctest: +SKIP
    ['__casual__', '__needs_caution__']
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.synthesis.checks import default_device

CANARY_LABELS = (
    "__casual__",
    "__possibly_needs_caution__",
    "__probably_needs_caution__",
    "__needs_caution__",
    "__needs_intervention__",
)
UNSAFE_LABELS = ("__needs_caution__", "__needs_intervention__")  # the authors' rule
CANARY_URL = "https://storage.googleapis.com/ai2-mosaic-public/projects/prosocial-dialog/models/canary.tar.gz"
_LABEL = re.compile(r"__[a-z_]+?__")


def parse_canary_label(text: str) -> str | None:
    """The first of Canary's five labels in ``text`` (None when there is none)."""
    for match in _LABEL.finditer(text or ""):
        if match.group(0) in CANARY_LABELS:
            return match.group(0)
    return None


class Canary:
    """Canary (converted to transformers) as a batch labeller: greedy decoding, the label read from the first tokens.

    ``model``: a folder written by :func:`convert_parlai_canary` or a Hub id of a seq2seq model in that format.
    """

    def __init__(self, model: str, *, device: str | None = None, batch_size: int = 16, max_new_tokens: int = 24):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.id = str(model)
        self.device = default_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(model).to(self.device).eval()
        except (OSError, ValueError) as err:  # no such model / a folder without a tokenizer
            raise MirrorError(
                f"cannot load Canary from {model!r}: {err}",
                fix=f"download {CANARY_URL}, unpack it, and run `mirror-hf synthesize convert-canary DIR --out OUT`",
            ) from err
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens

    def generate(self, texts: list[str]) -> list[str]:
        """Canary's raw answers (label and rules-of-thumb), in order."""
        import torch

        answers = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                texts[start : start + self.batch_size], return_tensors="pt", padding=True, truncation=True
            ).to(self.device)
            with torch.inference_mode():
                out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1)
            answers += self.tokenizer.batch_decode(out, skip_special_tokens=True)
        return answers

    def labels(self, texts: list[str]) -> list[str | None]:
        return [parse_canary_label(answer) for answer in self.generate(texts)]


def _load_checkpoint(path: Path, trust_pickle: bool) -> dict:
    import torch

    try:
        try:
            return torch.load(path, map_location="cpu", mmap=True, weights_only=not trust_pickle)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            # a checkpoint of the legacy (non-zip) format cannot be memory-mapped
            return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except ModuleNotFoundError as err:  # trusted unpickling of classes from a package not installed here
        fix = "pip install parlai"
        raise MirrorError(f"the checkpoint needs {err.name!r} to be read", file=str(path), fix=fix) from err
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError and friends
        fix = "download the file again: it may be cut short"
        if not trust_pickle:
            fix = "convert with --trust-pickle (trust_pickle=True) if the file came from the official URL"
        raise MirrorError(f"cannot read the checkpoint: {err}", file=str(path), fix=fix) from err


def convert_parlai_canary(src: str | Path, out: str | Path, *, trust_pickle: bool = False) -> Path:
    """Write the ParlAI Canary checkpoint in ``src`` (the unpacked ``canary.tar.gz``: ``model`` and ``model.opt``) as
    a transformers T5 folder in ``out``, with the tokenizer of the T5 it was trained from (``t5_model_arch``).

    ParlAI keeps the wrapped transformers T5 under ``t5.`` in its state dict (and the same stacks again under
    ``encoder.stack.`` / ``decoder.stack.``); those ``t5.`` weights are the model. The checkpoint is read with
    ``weights_only`` unless ``trust_pickle`` (only for the file from the official URL).
    """
    from transformers import AutoConfig, AutoTokenizer, T5ForConditionalGeneration

    src, out = Path(src), Path(out)
    opt_file, model_file = src / "model.opt", src / "model"
    for path in (opt_file, model_file):
        if not path.is_file():
            fix = f"unpack {CANARY_URL} and give its folder"
            raise MirrorError("not a ParlAI Canary folder", file=str(path), fix=fix)
    try:
        opt = json.loads(opt_file.read_text(encoding="utf-8"))
        arch = opt["t5_model_arch"]
    except (json.JSONDecodeError, KeyError) as err:
        raise MirrorError(f"cannot read the T5 architecture: {err}", file=str(opt_file)) from err
    checkpoint = _load_checkpoint(model_file, trust_pickle)
    state = checkpoint.get("model", checkpoint)
    weights = {k.removeprefix("t5."): v.float() for k, v in state.items() if k.startswith("t5.")}
    if not weights:
        raise MirrorError("no T5 weights (keys t5.*) in the checkpoint", file=str(model_file))
    config = AutoConfig.from_pretrained(arch)
    model = T5ForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}  # views of `shared`
    if config.tie_word_embeddings:
        tied.add("lm_head.weight")
    if unexpected or set(missing) - tied:
        raise MirrorError(
            f"the checkpoint does not fit {arch}: missing {sorted(set(missing) - tied)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}",
            file=str(model_file),
        )
    model.tie_weights()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(arch).save_pretrained(out)
    return out


__all__ = ["CANARY_LABELS", "CANARY_URL", "UNSAFE_LABELS", "Canary", "convert_parlai_canary", "parse_canary_label"]
