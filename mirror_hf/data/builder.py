"""The ``datasets`` builder of every MIRROR config, and :func:`load_mirror`.

datasets 5 dropped loading scripts, so the builder is used from the package: directly, through
:func:`load_mirror`, or by ``mirror-hf build`` which writes its rows as a Hub-layout parquet folder.

Example:
    >>> from mirror_hf import load_mirror
    >>> ds = load_mirror("sft_ec_planning", release="release/", celeba_dir="celeba/", split="train")  # doctest: +SKIP
    >>> ds[0]["id"]                                                                                   # doctest: +SKIP
    'cactus-7658-emotional-resistance:2:emotion_recognition'
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields

import datasets
from tqdm.auto import tqdm

from mirror_hf.data.records import Dialogue, Profile
from mirror_hf.data.sft import sft_examples, to_trl_messages
from mirror_hf.data.sources import BuildSources, LoadedRelease, input_fingerprint, load_release
from mirror_hf.schema import CONFIG_NAMES, CONFIG_SPLITS, DIALOGUES, EVAL_PROFILES, FEATURES, SFT_VARIANTS

DESCRIPTIONS = {
    DIALOGUES: "MIRROR training dialogues: client profile, CelebA identity face, and turns with per-client-turn faces.",
    EVAL_PROFILES: "Test client profiles for simulated sessions (800 in the release; no dialogues).",
    "sft_base": "One training record per therapist turn, base prompt (TRL prompt/completion + images).",
    "sft_planning": "As sft_base, with the CBT technique and counseling plan in the prompt (P).",
    "sft_ec_planning": "Emotion-recognition + response records per therapist turn (P+EC).",
}
CITATION = """@misc{kim2025mirror,
  title  = {MIRROR: Multimodal Cognitive Reframing Therapy for Rolling with Resistance},
  author = {Kim, Subin and Kim, Hoonrae and Lee, Jihyun and Jeon, Yejin and Lee, Gary Geunbae},
  year   = {2025},
  note   = {Code: https://github.com/nobel-postech/mirror}
}"""
PROFILE_COLUMNS = [f for f in FEATURES[EVAL_PROFILES] if f not in ("identity_image",)]


@dataclass
class MirrorConfig(datasets.BuilderConfig):
    """A config name plus where its inputs are (see :class:`~mirror_hf.data.sources.BuildSources`)."""

    release: str | None = None
    celeba_dir: str | None = None
    turn_images: str | None = None
    cactus: str | None = None
    revision: str | None = None
    celeba_link_kind: str = "auto"
    on_error: str = "raise"
    filters: str | None = None

    @property
    def sources(self) -> BuildSources:
        if self.release is None:
            raise ValueError("MirrorConfig needs release= (a folder, a file or a Hub dataset id)")
        names = {f.name for f in fields(BuildSources)}
        return BuildSources(**{k: getattr(self, k) for k in names})


class MirrorBuilder(datasets.GeneratorBasedBuilder):
    """Writes the rows of one MIRROR config. ``omitted`` counts SFT records left out, by reason.

    ``loaded``: the release already read by :func:`load_release` (a build of several configs reads it once).
    ``progress``: a bar named after the config over the dialogues (or profiles) it reads.
    """

    BUILDER_CONFIG_CLASS = MirrorConfig
    BUILDER_CONFIGS = [MirrorConfig(name=name, description=DESCRIPTIONS[name]) for name in CONFIG_NAMES]
    DEFAULT_CONFIG_NAME = DIALOGUES

    def __init__(self, *args, loaded: LoadedRelease | None = None, progress: bool = False, **kwargs):
        self._loaded, self._progress = loaded, progress
        kwargs.setdefault("dataset_name", "mirror")
        config_name = kwargs.get("config_name") or self.DEFAULT_CONFIG_NAME
        # Rows of `dialogues` carry ~10 turn faces: small batches keep memory flat and row groups ~100 images.
        kwargs.setdefault("writer_batch_size", 10 if config_name == DIALOGUES else 100)
        super().__init__(*args, **kwargs)
        self.omitted: Counter = Counter()

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=DESCRIPTIONS[self.config.name],
            features=FEATURES[self.config.name],
            citation=CITATION,
            homepage="https://github.com/nobel-postech/mirror",
            license="gpl-2.0",
        )

    def _split_generators(self, dl_manager):
        return [datasets.SplitGenerator(name=CONFIG_SPLITS[self.config.name])]

    def _generate_examples(self):
        release = self._loaded or load_release(self.config.sources)
        name = self.config.name
        records = release.profiles if name == EVAL_PROFILES else release.dialogues
        unit = "profile" if name == EVAL_PROFILES else "dialogue"
        records = tqdm(records, desc=f"Writing {name}", unit=unit, disable=not self._progress)
        if name == DIALOGUES:
            for dialogue in records:
                yield dialogue.idx, dialogue_row(dialogue, release)
        elif name == EVAL_PROFILES:
            for profile in records:
                yield profile.idx, profile_row(profile, release)
        else:
            yield from sft_rows(release, SFT_VARIANTS[name], self.omitted, records)


def _image(data: bytes | None, path: str | None) -> dict | None:
    return None if data is None else {"bytes": data, "path": path}


def profile_row(profile: Profile, release: LoadedRelease) -> dict:
    row = {column: getattr(profile, column) for column in PROFILE_COLUMNS}
    row["identity_image"] = _image(release.identity_bytes(profile), profile.celeba_image)
    return row


def dialogue_row(dialogue: Dialogue, release: LoadedRelease) -> dict:
    row = profile_row(dialogue, release)
    del row["name"]
    row["generator_model"] = dialogue.generator_model
    row["turns"] = [
        {
            "speaker": turn.speaker,
            "stage_direction": turn.stage_direction,
            "statement": turn.statement,
            "image": None
            if turn.image_path is None
            else _image(turn.image_path.read_bytes(), f"{dialogue.idx}/{turn.image_path.name}"),
        }
        for turn in dialogue.turns
    ]
    return row


def sft_rows(release: LoadedRelease, variant: str, omitted: Counter, dialogues=None):
    """(key, row) for every SFT record of ``variant`` (of ``dialogues``, default all the release's); records
    without any image are counted, never written."""
    for dialogue in release.dialogues if dialogues is None else dialogues:
        identity = release.identity_bytes(dialogue)
        for example in sft_examples(dialogue, variant, omitted):
            path = dialogue.turns[example.image_turn].image_path
            if path is not None:
                image, source = _image(path.read_bytes(), f"{dialogue.idx}/{path.name}"), "turn"
            elif identity is not None:
                image, source = _image(identity, dialogue.celeba_image), "identity"
            else:
                omitted["no_image"] += 1
                continue
            prompt, completion = to_trl_messages(example.prompt_text, example.completion_text)
            yield (
                example.id,
                {
                    "id": example.id,
                    "idx": example.idx,
                    "turn": example.turn,
                    "task": example.task,
                    "resistance": dialogue.resistance,
                    "prompt": prompt,
                    "completion": completion,
                    "images": [image],
                    "image_source": source,
                },
            )


def load_mirror(
    config: str = DIALOGUES,
    *,
    release: str,
    celeba_dir: str | None = None,
    turn_images: str | None = None,
    cactus: str | None = None,
    revision: str | None = None,
    on_error: str = "raise",
    filters: str | None = None,
    split: str | None = None,
    cache_dir: str | None = None,
):
    """Build one MIRROR config into the ``datasets`` cache and return it (a ``DatasetDict``, or a split).

    The cache is keyed by the inputs' fingerprint, so a changed input rebuilds and an unchanged one is reused.
    ``filters``: a ``mirror-hf synthesize filter`` folder; the dialogues it rejected are left out of every config.
    """
    if config not in CONFIG_NAMES:
        raise ValueError(f"config must be one of {CONFIG_NAMES}, got {config!r}")
    kwargs = dict(
        release=str(release),
        celeba_dir=celeba_dir and str(celeba_dir),
        turn_images=turn_images and str(turn_images),
        cactus=cactus and str(cactus),
        revision=revision,
        on_error=on_error,
        filters=filters and str(filters),
    )
    fingerprint = input_fingerprint(BuildSources(**kwargs))
    builder = MirrorBuilder(config_name=config, cache_dir=cache_dir, hash=fingerprint, **kwargs)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)
