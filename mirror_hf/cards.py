"""Render Hub cards from the templates in ``dataset_card/`` and ``model_card/`` (installed as
``mirror_hf.dataset_card`` and ``mirror_hf.model_card``) with huggingface_hub's card classes.

Example:
    >>> from mirror_hf.cards import dataset_card_data
    >>> dataset_card_data({}).license
    'gpl-2.0'
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path

import datasets
from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from mirror_hf.data.builder import CITATION, DESCRIPTIONS
from mirror_hf.data.release import TRAIN_FILES
from mirror_hf.schema import (
    CONFIG_SPLITS,
    DIALOGUES,
    ITEMS_CONFIG,
    ITEMS_SHARD,
    JUDGEMENT_FEATURES,
    JUDGEMENTS_CONFIG,
    SESSIONS_CONFIG,
    VIDEO_CONFIG,
    VIDEO_SHARD,
    config_data_files,
)


def _template(folder: str, name: str) -> str:
    """A card template: from the installed package ``mirror_hf.{folder}``, or from a source checkout, where the
    folder sits beside ``mirror_hf/`` (the wheel maps it into the package)."""
    try:
        root = resources.files(f"mirror_hf.{folder}")
    except ModuleNotFoundError:
        root = Path(__file__).resolve().parents[1] / folder
    return (root / name).read_text(encoding="utf-8")


def size_category(rows: int) -> str:
    """The Hub's size bucket for ``rows``."""
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < bound:
            return label
    return "1M<n<10M"


def cache_key(content: str) -> str:
    """A config's ``description`` that names what its data are. datasets 5.x keys its cache of a local folder on the
    folder's name and the card's YAML, not on the data files, so without it a rebuilt folder (or a resumed run, or
    another folder of the same name) would load the rows cached before."""
    return f"mirror-hf data {hashlib.sha256(content.encode()).hexdigest()[:16]}"


def dataset_card_data(infos: dict[str, datasets.DatasetInfo], data_key: str = "") -> DatasetCardData:
    """YAML metadata: licence, task categories, ``configs:`` with data files, features per config; ``data_key``
    (the build's fingerprint) goes into each config's ``description`` (:func:`cache_key`)."""
    configs = [
        {
            "config_name": name,
            **({"default": True} if name == DIALOGUES else {}),
            "data_files": config_data_files(name),
            **({"description": cache_key(data_key)} if data_key else {}),
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


def render_dataset_card(
    infos: dict[str, datasets.DatasetInfo], report: dict, load_path: str = "mirror", images_removed: bool = False
) -> str:
    """The dataset card (README.md) of a built folder; ``load_path`` is what its examples pass to ``load_dataset``,
    ``images_removed`` says that a published copy carries no faces."""
    release = str(report["sources"]["release"])
    hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", release) and not release.startswith(("/", "."))
    commit = report.get("release_commit")
    source_text = (
        f"the Hub dataset `{release}` (revision {report['sources'].get('revision') or 'main'})"
        + (f" at commit `{commit}`" if commit else "")
        if hub_id
        else "a local copy of the release files"
    )
    technique_sources = {
        k.removeprefix("cbt_technique_"): v
        for k, v in report.get("inputs", {}).items()
        if k.startswith("cbt_technique_")
    }
    data_key = report["fingerprint"] + (" without faces" if images_removed else "")
    card = DatasetCard.from_template(
        dataset_card_data(infos, data_key),
        template_str=_template("dataset_card", "dataset.md"),
        configs={name: report["configs"][name] for name in infos},
        descriptions=DESCRIPTIONS,
        report=report,
        source_text=source_text,
        technique_sources=technique_sources,
        citation=CITATION,
        load_path=load_path,
        splits=CONFIG_SPLITS,
        images_removed=images_removed,
    )
    return str(card)


VARIANT_TITLES = {"base": "base", "planning": "planning (P)", "ec_planning": "planning + emotional captioning (P+EC)"}
VARIANT_KWARGS = {
    "base": "",
    "planning": ", technique=..., plan=...",
    "ec_planning": ", technique=..., plan=..., emotional_state=caption",
}


def widget_example(image_url: str, prompt_text: str) -> dict:
    """A chat widget example: the face and the prompt text, as the Hub's image-text-to-text widget takes them."""
    return {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": image_url}},
                    {"type": "text", "text": prompt_text},
                ],
            }
        ]
    }


def render_model_card(
    *,
    model_name: str,
    repo_id: str,
    base_model: str,
    dataset: str,
    dataset_config: str,
    variant: str,
    hyperparameters: dict,
    widget: list[dict],
    license: str = "llama2",
    deviations: str = "",
    eval_results: list[EvalResult] | None = None,
) -> str:
    """The model card (README.md) of a trained MIRROR adapter."""
    data = ModelCardData(
        base_model=base_model,
        library_name="peft",
        pipeline_tag="image-text-to-text",
        datasets=[dataset] if "/" in dataset and not dataset.startswith(("/", ".")) else None,
        license=license,
        language=["en"],
        tags=["mirror-hf", "llava", "lora", "trl", "sft", "psychotherapy", "cbt"],
        widget=widget,
        model_name=model_name,
        eval_results=eval_results or None,
    )
    card = ModelCard.from_template(
        data,
        template_str=_template("model_card", "adapter.md"),
        model_name=model_name,
        repo_id=repo_id,
        base_model=base_model,
        dataset=dataset,
        dataset_config=dataset_config,
        variant=variant,
        variant_title=VARIANT_TITLES.get(variant, variant),
        variant_kwargs=VARIANT_KWARGS.get(variant, ""),
        hyperparameters=hyperparameters,
        deviations=deviations,
        evaluation_section=evaluation_section(eval_results or []),
        citation=CITATION,
    )
    return str(card)


WIDGET_IMAGE = "widget_face.png"  # written next to the card by the recipe, published with it
_USE = re.compile(r"^## Use\n.*?(?=^## )", re.S | re.M)
_PIPELINE_ID = re.compile(r'therapist_pipeline\("[^"]*"\)')
_EXPORT_ID = re.compile(r"mirror-hf export --adapter \S+")


def widget_image_url(repo_id: str) -> str:
    """Where the Hub serves the widget's face of the model repository ``repo_id`` (HF_ENDPOINT followed)."""
    from huggingface_hub import constants

    return f"{constants.ENDPOINT}/{repo_id}/resolve/main/{WIDGET_IMAGE}"


def retarget_model_card(card: ModelCard, repo_id: str) -> ModelCard:
    """``card`` as it should read in the Hub repository ``repo_id``: the widget's image at this repository's URL (a
    card written before the repository was known names the bare file, which the Hub widget cannot fetch) and the
    usage snippet loading ``repo_id``."""
    url = widget_image_url(repo_id)
    for example in card.data.widget or []:
        for message in example.get("messages", []):
            content = message.get("content")
            for part in content if isinstance(content, list) else []:
                image = part.get("image_url") or {}
                if str(image.get("url", "")).endswith(WIDGET_IMAGE):
                    image["url"] = url
    card.text = _PIPELINE_ID.sub(f'therapist_pipeline("{repo_id}")', card.text)
    card.text = _EXPORT_ID.sub(f"mirror-hf export --adapter {repo_id}", card.text)
    return card


def merged_model_card(adapter_card: str | Path, model_path: str) -> ModelCard:
    """The card of a merged model (``mirror-hf export``) from its adapter's card: ``library_name: transformers``
    (the Hub serves and widgets it as a full model, not an adapter) and a usage section for a full model; the rest
    — widget, hyper-parameters, evaluation, intended use — is the adapter's."""
    card = ModelCard.load(adapter_card)
    card.data.library_name = "transformers"
    card.data.tags = [t for t in card.data.tags or [] if t != "lora"] + ["merged"]
    use = _template("model_card", "merged_use.md").replace("{{ repo_id }}", model_path)
    card.text = _USE.sub(lambda _: use.rstrip() + "\n\n", card.text, count=1)
    return card


def evaluation_section(results: list[EvalResult]) -> str:
    """The card's "## Evaluation" table (empty without results); the same numbers are in the YAML's model-index."""
    if not results:
        return ""
    rows = "\n".join(f"| {r.metric_name} | {r.metric_value} |" for r in results)
    return f"## Evaluation\n\n| metric | value |\n|---|---|\n{rows}\n\nScored with `mirror-hf evaluate`.\n"


_EVALUATION = re.compile(r"^## Evaluation\n.*?(?=^## |\Z)", re.S | re.M)


def add_eval_results(readme: str | Path, results: list[EvalResult]) -> Path:
    """Put evaluation results into an existing model card: the YAML's model-index (which the Hub shows on the model
    page) and the "## Evaluation" table, replacing earlier ones, before the citation."""
    readme = Path(readme)
    card = ModelCard.load(readme)
    card.data.eval_results = results
    card.data.model_name = card.data.model_name or readme.parent.name  # the model-index needs a name
    section = evaluation_section(results)
    if _EVALUATION.search(card.text):
        card.text = _EVALUATION.sub(lambda _: section + "\n", card.text, count=1)
    elif "## Citation" in card.text:
        card.text = card.text.replace("## Citation", section + "\n## Citation", 1)
    else:
        card.text = card.text.rstrip() + "\n\n" + section
    card.save(readme)
    return readme


def render_release_card(report: dict, load_path: str | None = None) -> str:
    """The card of new dialogues written by ``mirror-hf synthesize screenplays`` (release files, no images);
    ``load_path`` (the Hub id once pushed) is what its build example reads."""
    data = DatasetCardData(
        license="other",
        language=["en"],
        pretty_name="New MIRROR counseling dialogues",
        tags=["mirror-hf", "synthetic", "psychotherapy", "cbt"],
        configs=[
            {
                "config_name": "default",
                "data_files": TRAIN_FILES[0],
                "description": cache_key(report.get("data_sha256", "")),
            }
        ],
    )
    card = DatasetCard.from_template(
        data, template_str=_template("dataset_card", "release.md"), report=report, load_path=load_path
    )
    return str(card)


def render_sessions_card(
    report: dict,
    info: datasets.DatasetInfo | None = None,
    load_path: str | None = None,
    images_removed: bool = False,
) -> str:
    """The card of a simulated-sessions dataset written by ``mirror-hf simulate``; ``load_path`` (the Hub id once
    pushed) is what its example passes to ``load_dataset``.

    ``info`` (features, rows, bytes) goes into the YAML as ``dataset_info``; the digest of the sessions shard
    (``report["data_sha256"]``) into the config's ``description`` (:func:`cache_key`).
    """
    data = DatasetCardData(
        license="gpl-2.0",
        language=["en"],
        pretty_name="MIRROR simulated counseling sessions",
        tags=["mirror-hf", "simulation", "psychotherapy", "cbt"],
        configs=[
            {
                "config_name": SESSIONS_CONFIG,
                "default": True,
                "data_files": config_data_files(SESSIONS_CONFIG),
                "description": cache_key(report.get("data_sha256", "") + (" without faces" if images_removed else "")),
            }
        ],
    )
    if info is not None:
        datasets.info.DatasetInfosDict({SESSIONS_CONFIG: info}).to_dataset_card_data(data)
    card = DatasetCard.from_template(
        data,
        template_str=_template("dataset_card", "sessions.md"),
        report=report,
        load_path=load_path,
        images_removed=images_removed,
    )
    return str(card)


def render_evaluation_card(report_markdown: str, report: dict, load_path: str | None = None) -> str:
    """The card of a ``mirror-hf evaluate --out`` folder: the report's tables and figures, and a ``judgements``
    config (every prompt and raw answer) that ``load_dataset`` reads; ``load_path`` names it in the example."""
    data = DatasetCardData(
        license="gpl-2.0",  # the judged dialogues derive from MIRROR / CACTUS
        language=["en"],
        pretty_name="MIRROR evaluation",
        tags=["mirror-hf", "evaluation", "llm-as-a-judge", "psychotherapy", "cbt"],
        configs=[
            {
                "config_name": JUDGEMENTS_CONFIG,
                "default": True,
                "data_files": [{"split": "train", "path": f"{JUDGEMENTS_CONFIG}/*.jsonl"}],
                "description": cache_key(json.dumps(report, sort_keys=True, default=str)),
            }
        ],
    )
    info = datasets.DatasetInfo(features=JUDGEMENT_FEATURES, config_name=JUDGEMENTS_CONFIG)
    datasets.info.DatasetInfosDict({JUDGEMENTS_CONFIG: info}).to_dataset_card_data(data)
    body = report_markdown.split("\n", 1)[1] if report_markdown.startswith("# ") else report_markdown
    card = DatasetCard.from_template(
        data,
        template_str=_template("dataset_card", "evaluation.md"),
        runs=list(report.get("therapists", {})),
        load_path=load_path,
        report_markdown=body.strip(),
    )
    return str(card)


def _train_split_card(template: str, *, config: str, path: str, key: str, pretty_name: str, tags: list[str],
                      license: str | None = None, **context) -> str:  # fmt: skip
    """A card with one default config, its train split the files at ``path``, rendered from ``template``."""
    data = DatasetCardData(
        license=license,
        language=["en"],
        pretty_name=pretty_name,
        tags=tags,
        configs=[
            {
                "config_name": config,
                "default": True,
                "data_files": [{"split": "train", "path": path}],
                "description": cache_key(key),
            }
        ],
    )
    return str(DatasetCard.from_template(data, template_str=_template("dataset_card", template), **context))


def render_study_card(study: dict, load_path: str | None = None) -> str:
    """The card of a pairwise study written by ``mirror-hf pairwise sample``: the key (``items`` config), the design
    and how to annotate and report; ``load_path`` names it in the example."""
    return _train_split_card(
        "study.md", config=ITEMS_CONFIG, path=ITEMS_SHARD, key=study["study_id"], pretty_name="MIRROR pairwise study",
        tags=["mirror-hf", "human-evaluation", "pairwise", "psychotherapy", "cbt"],
        license="gpl-2.0",  # the dialogues derive from MIRROR / CACTUS
        study=study, load_path=load_path,
    )  # fmt: skip


def render_video_card(report: dict, load_path: str | None = None) -> str:
    """The card of a ``mirror-hf video --out`` folder: the turns config, the counts and the lengths."""
    return _train_split_card(
        "video.md", config=VIDEO_CONFIG, path=VIDEO_SHARD, key=json.dumps(report, sort_keys=True, default=str),
        pretty_name="MIRROR therapist on real counseling sessions",
        tags=["mirror-hf", "psychotherapy", "motivational-interviewing", "video"],
        report=report, load_path=load_path,
    )  # fmt: skip


_DEMO = re.compile(r"^## Try it\n.*?(?=^## |\Z)", re.S | re.M)


def add_demo_link(readme: str | Path, space_id: str) -> Path:
    """Link a model card to its demo Space ("## Try it", replacing an earlier link, before the evaluation or the
    citation); the YAML (widget, base_model, model-index) is kept as it is, for providers that can serve the model."""
    readme = Path(readme)
    card = ModelCard.load(readme)
    section = (
        f"## Try it\n\nTalk to this therapist in its demo Space, behind a crisis gate: "
        f"[{space_id}](https://huggingface.co/spaces/{space_id}) (a research demo, not therapy).\n"
    )
    if _DEMO.search(card.text):
        card.text = _DEMO.sub(lambda _: section + "\n", card.text, count=1)
    else:
        anchor = next((h for h in ("## Evaluation", "## Citation") if h in card.text), None)
        card.text = (
            card.text.replace(anchor, section + "\n" + anchor, 1) if anchor else card.text.rstrip() + "\n\n" + section
        )
    card.save(readme)
    return readme
