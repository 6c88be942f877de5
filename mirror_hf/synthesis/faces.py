"""Turn faces, step 2 (paper §3.3): PhotoMaker draws each client turn's face from the client's identity face and the
prompts of step 1 (``expressions.jsonl``), into the authors' layout ``{idx}/turn:{t}_{celeba stem}.png`` — the one
``mirror-hf build --turn-images`` and ``mirror-hf simulate --faces`` read.

The authors' settings (``mirror/step3/run_step3.py``): PhotoMaker v1 (``TencentARC/PhotoMaker``,
``photomaker-v1.bin``) on ``SG161222/RealVisXL_V3.0`` in bfloat16, trigger word ``img``, DDIM, 50 steps, style
strength 20 % (the identity merges in from step 10, never later than step 30), then resized to 336x336. The faces are
drawn by :class:`~mirror_hf.synthesis.drawing.FaceDrawer`, which runs the pipeline's steps as the authors' copy of it
does, with the identity's features computed once per client and, as an option, several turns per UNet call. One
deviation, a fix: the authors seeded one CUDA generator (19) for the whole run (line 94), so a face depended on the
order the turns were drawn in; here each turn has its own CPU generator seeded from (seed, idx, turn), so a turn's
face is the same in any order, subset, batch or resumed run, on any device. Faces can be checked (CLIP, NSFW:
:mod:`mirror_hf.synthesis.checks`) and drawn again with the next seed when a check fails, up to 10 times — the
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


def load_photomaker(
    settings: PhotoMakerSettings = PhotoMakerSettings(),
    device: str | None = None,
    dtype=None,
    *,
    channels_last: bool = False,
    compile: bool = False,
):
    """PhotoMaker's SDXL pipeline with its adapter (LoRA fused into the UNet) and ``settings.scheduler`` (DDIM, as
    the authors drew), in ``dtype`` (a name in :data:`~mirror_hf.synthesis.drawing.DTYPES` or a torch dtype; default
    bfloat16 on CUDA, as the authors loaded it in ``mirror/step3/run_step3.py`` line 77, else float32), tuned by
    :func:`~mirror_hf.synthesis.drawing.tune_unet`."""
    try:
        import torch
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
        from photomaker import PhotoMakerStableDiffusionXLPipeline
    except ImportError as err:
        raise MirrorError(f"PhotoMaker is not installed ({err})", fix='pip install "mirror-hf[synthesis]"') from err
    from mirror_hf.synthesis.drawing import DTYPES, tune_unet

    device = default_device(device)
    schedulers = {"ddim": DDIMScheduler, "dpmpp_2m": DPMSolverMultistepScheduler}
    if settings.scheduler not in schedulers:
        raise MirrorError(f"scheduler {settings.scheduler!r}", fix=f"use one of {', '.join(schedulers)}")
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise MirrorError(f"dtype {dtype!r}", fix=f"use one of {', '.join(DTYPES)}")
        dtype = getattr(torch, dtype)
    dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    pipe = PhotoMakerStableDiffusionXLPipeline.from_pretrained(settings.base_model, dtype=dtype)
    pipe.load_photomaker_adapter(settings.adapter, weight_name=settings.weight_name, trigger_word=settings.trigger_word)
    pipe.scheduler = schedulers[settings.scheduler].from_config(pipe.scheduler.config)
    pipe.fuse_lora()
    pipe.set_progress_bar_config(disable=True)  # the runs show one bar over the faces, not one per face
    return tune_unet(pipe.to(device), channels_last=channels_last, compile=compile)


def turn_seed(seed: int, idx: str, turn: int, attempt: int = 0) -> int:
    """The generator seed of one turn's face: fixed by (seed, idx, turn) alone, and by the attempt when a face
    that failed its checks is drawn again."""
    key = f"{seed}:{idx}:{turn}" + (f":{attempt}" if attempt else "")
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


def turn_face_path(out_dir: str | Path, idx: str, turn: int, celeba_image: str | None) -> Path:
    """``{out}/{idx}/turn:{t}_{celeba stem}.png``: the layout the build and the simulation read."""
    return Path(out_dir) / idx / turn_image_name(turn, celeba_image)


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


def draw_checked(drawer, identity, records: list[dict], *, checks=(), tries: int = 10) -> list[DrawnFace]:
    """Draw the faces of some turns of one client (``records``: idx, turn, prompt, negative_prompt,
    stage_direction) with ``drawer`` (a :class:`~mirror_hf.synthesis.drawing.FaceDrawer`), each until it passes
    ``checks``, with the next attempt's seed each time, at most ``tries`` times; the faces that failed are drawn
    again together. One :class:`DrawnFace` per record, in order."""
    from mirror_hf.synthesis.checks import check_faces
    from mirror_hf.synthesis.drawing import DrawRequest

    base_seed = drawer.settings.seed
    failed: list[list] = [[] for _ in records]
    first_failed: list[list] = [[] for _ in records]
    outcome: list = [None] * len(records)
    pending = list(range(len(records)))
    for attempt in range(max(1, tries) if checks else 1):
        seeds = [turn_seed(base_seed, records[k]["idx"], records[k]["turn"], attempt) for k in pending]
        requests = [DrawRequest(records[k]["prompt"], records[k]["negative_prompt"], seed) for k, seed in
                    zip(pending, seeds, strict=True)]  # fmt: skip
        faces = drawer.draw(identity, requests)
        seen = [{**records[k], "identity": identity} for k in pending]  # checks may compare with the client's face
        for k, s, face, results in zip(pending, seeds, faces, check_faces(checks, faces, seen), strict=True):
            failed[k] += [r.name for r in results if not r.passed]
            if attempt == 0:
                first_failed[k] = list(failed[k])
            passed = all(r.passed for r in results)
            outcome[k] = DrawnFace(face, passed, attempt + 1, s, results, failed[k], first_failed[k])
        pending = [k for k in pending if not outcome[k].passed]
        if not pending:
            break
    return outcome


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
    batch_size: int = 1,
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

    ``batch_size``: turns of one client drawn in one UNet call (:class:`~mirror_hf.synthesis.drawing.FaceDrawer`;
    1 gives PhotoMaker's own pixels, more the same faces within float tolerance).
    """
    from itertools import groupby

    from datasets.utils.tqdm import tqdm

    from mirror_hf.synthesis.drawing import FaceDrawer

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
    drawer = FaceDrawer(pipe, settings, batch_size=batch_size)
    bar = tqdm(total=len(todo), desc="Faces", unit="face", disable=not progress)
    for idx, group in groupby(todo, key=lambda item: item[0]["idx"]):  # sorted by dialogue: one identity each
        group = list(group)
        identity = identities.get(idx)
        if identity is None:
            counts["no_identity_face"] += len(group)
            missing.append(idx)
            bar.update(len(group))
            continue
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            drawn_faces = draw_checked(drawer, identity, [r for r, _ in batch], checks=checks, tries=tries)
            for (record, path), drawn in zip(batch, drawn_faces, strict=True):
                _keep(record, path, drawn, log)
                failed_checks.update(drawn.failed)
                counts["drawn" if drawn.passed else "rejected"] += 1
                counts["redrawn"] += drawn.passed and drawn.attempts > 1
            bar.update(len(batch))
    bar.close()
    return {
        "turns": len(turns),
        **counts,
        "failed_checks": dict(failed_checks),
        "without_identity_face": sorted(set(missing)),
    }


def _keep(record: dict, path: Path, drawn: DrawnFace, log: Path) -> None:
    """The face written whole (a temporary file, then renamed) when it passed, and its entry in the journal."""
    if drawn.passed:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        drawn.face.save(partial, format="PNG")
        os.replace(partial, path)
    entry = {"idx": record["idx"], "turn": record["turn"], "status": "drawn" if drawn.passed else "rejected"}
    entry.update(attempts=drawn.attempts, seed=drawn.seed, first_failed=drawn.first_failed)
    entry["checks"] = [dataclasses.asdict(r) for r in drawn.results]
    log.parent.mkdir(parents=True, exist_ok=True)
    append_record(log, entry)


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
        from mirror_hf.synthesis.drawing import FaceDrawer

        self.backend, self.checks, self.tries = backend, checks, tries
        self.drawer = FaceDrawer(pipe, settings)
        self.stats: Counter = Counter()
        self._lock = None

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
            (drawn,) = await asyncio.to_thread(
                draw_checked, self.drawer, identity, [record], checks=self.checks, tries=self.tries
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
    "load_photomaker",
    "turn_face_path",
    "shard_of",
    "turn_seed",
]
