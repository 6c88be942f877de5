"""Turn faces, step 2 (paper §3.3): PhotoMaker draws each client turn's face from the client's identity face and the
prompts of step 1 (``expressions.jsonl``), into the authors' layout ``{idx}/turn:{t}_{celeba stem}.png`` — the one
``mirror-hf build --turn-images`` and ``mirror-hf simulate --faces`` read.

The authors' settings (their synthesis code): PhotoMaker v1 (``TencentARC/PhotoMaker``, ``photomaker-v1.bin``) on
``SG161222/RealVisXL_V3.0``, trigger word ``img``, DDIM, 50 steps, style strength 20 % (the identity merges in from
step 10), then resized to 336x336. One deviation, a fix: the authors seeded one generator (19) for the whole run, so
a face depended on the order the turns were drawn in; here each turn has its own generator seeded from
(seed, idx, turn), so a turn's face is the same in any order, subset or resumed run. Faces can be checked (CLIP,
NSFW: :mod:`mirror_hf.synthesis.checks`) and drawn again with the next seed when a check fails, up to 10 times — the
authors' verify loop, which in their code never retried (a bug).

Example:
    >>> pipe = load_photomaker(device="cuda")                                           # doctest: +SKIP
    >>> draw_faces("faces/", identity_faces, pipe, "faces/")["drawn"]                    # doctest: +SKIP
    31744
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mirror_hf.data.turn_images import turn_image_name
from mirror_hf.errors import MirrorError
from mirror_hf.journal import append_record, read_records, trim_torn_tail
from mirror_hf.synthesis.checks import default_device
from mirror_hf.synthesis.expressions import EXPRESSIONS_FILE
from mirror_hf.synthesis.settings import PhotoMakerSettings

FACES_FILE = "faces.jsonl"  # one line per turn drawn or rejected: attempts, seed, check scores


def load_photomaker(settings: PhotoMakerSettings = PhotoMakerSettings(), device: str | None = None, dtype=None):
    """PhotoMaker's SDXL pipeline with its adapter (LoRA fused into the UNet) and a DDIM scheduler."""
    try:
        import torch
        from diffusers import DDIMScheduler
        from photomaker import PhotoMakerStableDiffusionXLPipeline
    except ImportError as err:
        raise MirrorError(f"PhotoMaker is not installed ({err})", fix='pip install "mirror-hf[synthesis]"') from err
    device = default_device(device)
    dtype = dtype or (torch.float16 if device.startswith("cuda") else torch.float32)
    pipe = PhotoMakerStableDiffusionXLPipeline.from_pretrained(settings.base_model, dtype=dtype)
    pipe.load_photomaker_adapter(settings.adapter, weight_name=settings.weight_name, trigger_word=settings.trigger_word)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.fuse_lora()
    return pipe.to(device)


def turn_seed(seed: int, idx: str, turn: int, attempt: int = 0) -> int:
    """The generator seed of one turn's face: fixed by (seed, idx, turn) alone, and by the attempt when a face
    that failed its checks is drawn again."""
    key = f"{seed}:{idx}:{turn}" + (f":{attempt}" if attempt else "")
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


def turn_face_path(out_dir: str | Path, idx: str, turn: int, celeba_image: str | None) -> Path:
    """``{out}/{idx}/turn:{t}_{celeba stem}.png``: the layout the build and the simulation read."""
    return Path(out_dir) / idx / turn_image_name(turn, celeba_image)


def draw_turn(pipe, identity, prompt: str, negative_prompt: str, seed: int, settings: PhotoMakerSettings):
    """One face: PhotoMaker at ``generation_size``, resized to ``size`` x ``size``."""
    import torch
    from PIL import Image

    generator = torch.Generator(device="cpu").manual_seed(seed)
    image = pipe(
        prompt=prompt,
        negative_prompt=negative_prompt,
        input_id_images=[identity.convert("RGB")],
        num_inference_steps=settings.steps,
        start_merge_step=settings.start_merge_step,
        height=settings.generation_size,
        width=settings.generation_size,
        generator=generator,
    ).images[0]
    return image.resize((settings.size, settings.size), Image.Resampling.BICUBIC)


@dataclass
class DrawnFace:
    """The outcome of :func:`draw_checked`: the last face drawn and whether it passed its checks."""

    face: object
    passed: bool
    attempts: int
    seed: int
    results: list = field(default_factory=list)  # the check results of the last face
    failed: list = field(default_factory=list)  # the names of the checks failed, over all attempts
    first_failed: list = field(default_factory=list)  # those the first face failed (the authors drew only one)


def draw_checked(pipe, identity, record: dict, settings: PhotoMakerSettings, *, checks=(), tries: int = 10):
    """Draw the face of one turn (``record``: idx, turn, prompt, negative_prompt, stage_direction) until it passes
    ``checks``, with the next attempt's seed each time, at most ``tries`` times."""
    failed = []
    for attempt in range(max(1, tries) if checks else 1):
        seed = turn_seed(settings.seed, record["idx"], record["turn"], attempt)
        face = draw_turn(pipe, identity, record["prompt"], record["negative_prompt"], seed, settings)
        seen = {**record, "identity": identity}  # checks may compare with the client's identity face
        results = [r for check in checks if (r := check(face, seen)) is not None]
        failed += [r.name for r in results if not r.passed]
        if attempt == 0:
            first_failed = list(failed)
        if all(r.passed for r in results):
            return DrawnFace(face, True, attempt + 1, seed, results, failed, first_failed)
    return DrawnFace(face, False, attempt + 1, seed, results, failed, first_failed)


class IdentityFaceIndex(Mapping):
    """idx -> the client's identity face (PIL, or None), read from the ``dialogues`` config row by row on demand."""

    def __init__(self, dialogues):
        self.rows = dialogues.select_columns(["idx", "identity_image"])
        self.position = {idx: i for i, idx in enumerate(self.rows["idx"])}

    def __getitem__(self, idx: str):
        return self.rows[self.position[idx]]["identity_image"]

    def get(self, idx: str, default=None):
        return self[idx] if idx in self.position else default

    def __iter__(self):
        return iter(self.position)

    def __len__(self) -> int:
        return len(self.position)


def shard_of(idx: str, shards: int) -> int:
    """The shard (0 to ``shards`` - 1) that draws a dialogue's faces: fixed by its idx alone, so that a dialogue's
    turns stay in one process (its identity face read once) and every run with the same shards splits alike."""
    return int(hashlib.sha256(idx.encode("utf-8")).hexdigest()[:12], 16) % shards


def draw_faces(
    expressions_dir: str | Path,
    identities,
    pipe,
    out_dir: str | Path,
    settings: PhotoMakerSettings = PhotoMakerSettings(),
    *,
    checks=(),
    tries: int = 10,
    redraw_rejected: bool = False,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
) -> dict:
    """Draw the face of every described turn in ``expressions_dir/expressions.jsonl`` whose PNG is not yet in
    ``out_dir`` (a rerun resumes). ``identities`` maps a dialogue idx to its identity face (PIL); turns without one
    are counted, not drawn.

    With ``checks`` (see :mod:`mirror_hf.synthesis.checks`) a face that fails one is drawn again with the next
    attempt's seed, up to ``tries`` times, as the authors' verify loop meant to; a turn that never passes gets no PNG
    and is recorded ``rejected`` in ``out_dir/faces.jsonl`` (a rerun skips it unless ``redraw_rejected``). Every
    turn's attempts and check scores are recorded there. Each PNG is written whole (temporary file, then renamed).

    ``shard=(k, n)`` draws only the dialogues of shard ``k`` of ``n`` (:func:`shard_of`): ``n`` processes, one per GPU,
    share the work and the folder (the journal is safe to append to from several processes).
    """
    from datasets.utils.tqdm import tqdm

    journal = Path(expressions_dir) / EXPRESSIONS_FILE
    if not journal.is_file():
        raise MirrorError("no expressions here", file=str(journal), fix="run `mirror-hf synthesize expressions` first")
    out = Path(out_dir)
    log = out / FACES_FILE
    trim_torn_tail(log)
    rejected = set() if redraw_rejected else {_key(r) for r in read_records(log, _key) if r["status"] == "rejected"}
    turns = sorted(read_records(journal, _key), key=_key)
    counts, missing, failed_checks = Counter(), [], Counter()
    todo = []
    for record in turns:
        path = turn_face_path(out, record["idx"], record["turn"], record.get("celeba_image"))
        if shard and shard_of(record["idx"], shard[1]) != shard[0]:
            counts["other_shards"] += 1
        elif record["failure"] is not None:
            counts["no_expression"] += 1
        elif path.exists():
            counts["already_drawn"] += 1
        elif _key(record) in rejected:
            counts["rejected_before"] += 1
        else:
            todo.append((record, path))
    if hasattr(pipe, "set_progress_bar_config"):  # one bar for the run, not one per face
        pipe.set_progress_bar_config(disable=True)
    identity_of = {}  # the turns come sorted by dialogue: each identity face is read once
    for record, path in tqdm(todo, desc="Faces", unit="face", disable=not progress):
        if record["idx"] not in identity_of:
            identity_of = {record["idx"]: identities.get(record["idx"])}
        identity = identity_of[record["idx"]]
        if identity is None:
            counts["no_identity_face"] += 1
            missing.append(record["idx"])
            continue
        drawn = draw_checked(pipe, identity, record, settings, checks=checks, tries=tries)
        failed_checks.update(drawn.failed)
        if drawn.passed:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            drawn.face.save(partial, format="PNG")
            os.replace(partial, path)
        entry = {"idx": record["idx"], "turn": record["turn"], "status": "drawn" if drawn.passed else "rejected"}
        entry.update(attempts=drawn.attempts, seed=drawn.seed, first_failed=drawn.first_failed)
        entry["checks"] = [dataclasses.asdict(r) for r in drawn.results]
        out.mkdir(parents=True, exist_ok=True)
        append_record(log, entry)
        counts["drawn" if drawn.passed else "rejected"] += 1
        counts["redrawn"] += drawn.passed and drawn.attempts > 1
    return {
        "turns": len(turns),
        **counts,
        "failed_checks": dict(failed_checks),
        "without_identity_face": sorted(set(missing)),
    }


class LiveFaces:
    """A face provider for VLM simulations that draws each client turn's face as the session goes, as the authors'
    simulation did: the expression LLM reads the dialogue so far, PhotoMaker draws from the client's identity face,
    and the face is checked and drawn again up to ``tries`` times. A turn whose expressions cannot be read, or whose
    faces all fail, shows the identity face (counted in ``stats``). One pipeline: faces are drawn one at a time, off
    the event loop, while the sessions' model calls go on.

    Example:
        >>> faces = LiveFaces(load_backend("llama@http://localhost:8000/v1"), load_photomaker())  # doctest: +SKIP
        >>> asyncio.run(run_sessions(profiles, therapist, client, "runs/live", faces=faces))      # doctest: +SKIP
    """

    name = "live"

    def __init__(self, backend, pipe, settings: PhotoMakerSettings = PhotoMakerSettings(), *, checks=(), tries=10):
        self.backend, self.pipe, self.settings, self.checks, self.tries = backend, pipe, settings, checks, tries
        self.stats: Counter = Counter()
        self._lock = None
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)

    async def draw(self, profile: dict, turns: list[dict], t: int):
        """The face of client turn ``t`` of ``turns`` (speaker, stage_direction, statement)."""
        import asyncio

        from mirror_hf.synthesis.expressions import Expressions, describe_turn, photomaker_prompts

        identity = profile.get("identity_image")
        if identity is None:
            self.stats["no_identity_face"] += 1
            return None
        found = await describe_turn(self.backend, turns, t)
        if found["failure"] is not None:
            self.stats["no_expression"] += 1
            return identity
        expressions = Expressions(found["expression"], found["contrasting"])
        prompt, negative = photomaker_prompts(profile.get("gender"), expressions)
        record = {"idx": profile["idx"], "turn": t, "prompt": prompt, "negative_prompt": negative}
        record["stage_direction"] = turns[t].get("stage_direction")
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:  # one pipeline on one device
            drawn = await asyncio.to_thread(
                draw_checked, self.pipe, identity, record, self.settings, checks=self.checks, tries=self.tries
            )
        self.stats.update(f"failed_{name}" for name in drawn.failed)
        self.stats["drawn" if drawn.passed else "rejected"] += 1
        return drawn.face if drawn.passed else identity


def _key(record: dict) -> tuple[str, int]:
    return record["idx"], record["turn"]


__all__ = [
    "FACES_FILE",
    "DrawnFace",
    "LiveFaces",
    "draw_checked",
    "IdentityFaceIndex",
    "PhotoMakerSettings",
    "draw_faces",
    "draw_turn",
    "load_photomaker",
    "turn_face_path",
    "shard_of",
    "turn_seed",
]
