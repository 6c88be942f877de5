"""Render Hub cards from the templates in ``mirror_hf/templates`` with huggingface_hub's card classes.

Example:
    >>> from mirror_hf.cards import dataset_card_data
    >>> dataset_card_data({}).license
    'gpl-2.0'
"""

from __future__ import annotations

import re
from importlib import resources

import datasets
from huggingface_hub import DatasetCard, DatasetCardData

from mirror_hf.data.builder import CITATION, DESCRIPTIONS
from mirror_hf.schema import CONFIG_SPLITS, DIALOGUES, config_data_files


def _template(name: str) -> str:
    return (resources.files("mirror_hf") / "templates" / name).read_text(encoding="utf-8")


def size_category(rows: int) -> str:
    """The Hub's size bucket for ``rows``."""
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < bound:
            return label
    return "1M<n<10M"


def dataset_card_data(infos: dict[str, datasets.DatasetInfo]) -> DatasetCardData:
    """YAML metadata: licence, task categories, ``configs:`` with data files, features per config."""
    configs = [
        {
            "config_name": name,
            **({"default": True} if name == DIALOGUES else {}),
            "data_files": config_data_files(name),
        }
        for name in infos
    ]
    data = DatasetCardData(
        license="gpl-2.0",
        language=["en"],
        pretty_name="MIRROR: Multimodal Interactive Rolling with Resistance",
        task_categories=["image-text-to-text", "text-generation"],
        tags=["psychotherapy", "cbt", "counseling", "synthetic", "multimodal", "mirror-hf"],
        size_categories=[size_category(max((i.splits.total_num_examples for i in infos.values()), default=0))],
        configs=configs,
    )
    datasets.info.DatasetInfosDict(infos).to_dataset_card_data(data)
    return data


def render_dataset_card(infos: dict[str, datasets.DatasetInfo], report: dict, load_path: str = "mirror") -> str:
    """The dataset card (README.md) of a built folder."""
    release = str(report["sources"]["release"])
    hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", release) and not release.startswith(("/", "."))
    source_text = (
        f"the Hub dataset `{release}` (revision {report['sources'].get('revision') or 'main'})"
        if hub_id
        else "a local copy of the release files"
    )
    technique_sources = {
        k.removeprefix("cbt_technique_"): v
        for k, v in report.get("inputs", {}).items()
        if k.startswith("cbt_technique_")
    }
    card = DatasetCard.from_template(
        dataset_card_data(infos),
        template_str=_template("dataset_card.md"),
        configs={name: report["configs"][name] for name in infos},
        descriptions=DESCRIPTIONS,
        report=report,
        source_text=source_text,
        technique_sources=technique_sources,
        citation=CITATION,
        load_path=load_path,
        splits=CONFIG_SPLITS,
    )
    return str(card)
