"""Write MIRROR as a Hub-layout folder: parquet shards per config and split, a dataset card, a build report.

The folder loads with ``load_dataset("mirror")`` from its parent, ``load_dataset("/abs/path/mirror", "sft_base")``,
and the same way once pushed to ``org/mirror`` on the Hub. Rows are written to a staging folder and swapped in at
the end, so a failed build leaves the previous one intact. An unchanged rebuild (same inputs, options and
mirror-hf version) is a no-op.

Example:
    >>> from mirror_hf.data.export import build_dataset
    >>> from mirror_hf.data.sources import BuildSources
    >>> report = build_dataset(BuildSources(release="release/", celeba_dir="celeba/"), "mirror")  # doctest: +SKIP
    >>> report["configs"]["dialogues"]["rows"]                                                   # doctest: +SKIP
    3073
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import datasets
from datasets.utils.tqdm import are_progress_bars_disabled

from mirror_hf import __version__
from mirror_hf.cards import render_dataset_card
from mirror_hf.data.builder import MirrorBuilder
from mirror_hf.data.sources import BuildSources, input_fingerprint, load_release
from mirror_hf.errors import MirrorError
from mirror_hf.schema import BUILD_REPORT_FILE, CONFIG_NAMES, CONFIG_SPLITS, DATA_DIR, SFT_VARIANTS, shard_path

logger = logging.getLogger(__name__)


def _cached_report(out: Path, fingerprint: str) -> dict | None:
    path = out / BUILD_REPORT_FILE
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    files = [f for c in report.get("configs", {}).values() for f in c.get("files", [])]
    if report.get("fingerprint") != fingerprint or not all((out / f).is_file() for f in files):
        return None
    return report


def build_dataset(
    sources: BuildSources,
    out: str | Path = "mirror",
    configs: tuple[str, ...] = CONFIG_NAMES,
    *,
    progress: bool = True,
    force: bool = False,
    max_shard_size: str | int = "500MB",
) -> dict:
    """Build ``configs`` from ``sources`` into the Hub-layout folder ``out``; returns the build report."""
    unknown = [c for c in configs if c not in CONFIG_NAMES]
    if unknown:
        raise MirrorError(f"unknown config(s) {unknown}", fix=f"choose from {list(CONFIG_NAMES)}")
    started = time.time()
    out = Path(out).expanduser().resolve()
    inputs = input_fingerprint(sources)  # once per build: it walks the turn faces
    fingerprint = inputs + "-" + "+".join(configs)
    if not force and (report := _cached_report(out, fingerprint)):
        logger.info("%s is up to date with its inputs; nothing to do (use force=True to rebuild)", out)
        return {**report, "cached": True, "seconds": round(time.time() - started, 3)}
    bars_were_on = not are_progress_bars_disabled()
    if not progress:
        datasets.disable_progress_bars()
    try:
        return _build(sources, out, configs, inputs, fingerprint, started, max_shard_size)
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()


def _build(sources, out: Path, configs, inputs: str, fingerprint: str, started: float, max_shard_size) -> dict:
    """``inputs``: the inputs' fingerprint; ``fingerprint``: the build's (inputs + configs)."""
    release = load_release(sources, inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        config_reports, infos = {}, {}
        for name in configs:
            config_reports[name], infos[name] = _build_config(
                name, sources, release, staging, fingerprint, max_shard_size
            )
        built = [c for c in configs if config_reports[c]["rows"]]
        report = {
            "mirror_hf_version": __version__,
            "fingerprint": fingerprint,
            "cached": False,
            "sources": asdict(sources),
            "files_read": release.files,
            "configs": config_reports,
            "skipped_rows": [s.to_dict() for s in release.skipped],
            "inputs": dict(sorted(release.stats.items())),
            "seconds": None,
        }
        (staging / "README.md").write_text(render_dataset_card({c: infos[c] for c in built}, report), encoding="utf-8")
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report["seconds"] = round(time.time() - started, 3)
    (out / BUILD_REPORT_FILE).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


def _build_config(name: str, sources: BuildSources, release, staging: Path, fingerprint: str, max_shard_size):
    split = CONFIG_SPLITS[name]
    raw = staging / "raw" / name
    builder = MirrorBuilder(
        loaded=release,
        config_name=name,
        cache_dir=str(staging / "cache"),
        hash=fingerprint.replace("+", "_"),
        **asdict(sources),
    )
    builder.download_and_prepare(output_dir=str(raw), file_format="parquet", max_shard_size=max_shard_size)
    shards = sorted(raw.glob(f"*-{split}*.parquet"))
    rows = builder.info.splits[split].num_examples if split in builder.info.splits else 0
    (staging / DATA_DIR / name).mkdir(parents=True, exist_ok=True)
    files = []
    for i, shard in enumerate(shards if rows else []):
        files.append(shard_path(name, i, len(shards)))
        shard.rename(staging / files[-1])
    report = {"split": split, "rows": rows, "files": files, "bytes": sum((staging / f).stat().st_size for f in files)}
    if name in SFT_VARIANTS:
        report["omitted_records"] = dict(Counter(builder.omitted))
        if not rows:
            report["note"] = "no records: every record lacked an image (pass --celeba-dir and/or --turn-images)"
    return report, builder.info


def _swap_in(staging: Path, out: Path) -> None:
    """Replace ``out``'s data folder and card by the staged ones; other files in ``out`` (e.g. .git) are kept."""
    out.mkdir(parents=True, exist_ok=True)
    old = out / f".{DATA_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if (out / DATA_DIR).exists():
        (out / DATA_DIR).rename(old)
    (staging / DATA_DIR).rename(out / DATA_DIR)
    (staging / "README.md").replace(out / "README.md")
    shutil.rmtree(old, ignore_errors=True)


def summarize(report: dict) -> str:
    """The lines a person reads after a build."""
    lines = [f"MIRROR build {'(cached, nothing to do) ' if report.get('cached') else ''}in {report['seconds']:.1f}s"]
    for name, c in report["configs"].items():
        extra = f"  omitted: {c['omitted_records']}" if c.get("omitted_records") else ""
        lines.append(f"  {name:<16} {c['split']:<5} {c['rows']:>7} rows  {len(c['files'])} file(s){extra}")
    inputs = report.get("inputs", {})
    if report["sources"].get("filters"):
        by = {k.removeprefix("filtered_out_by_"): v for k, v in inputs.items() if k.startswith("filtered_out_by_")}
        lines.append(f"  dialogues left out by the filters: {inputs.get('filtered_out', 0)} {by or ''}".rstrip())
    lines.append(f"  skipped rows: {len(report['skipped_rows'])}")
    for s in report["skipped_rows"][:10]:
        lines.append(f"    {s['file']} row {s['row']} ({s['idx']}) {s['field']}: {s['error']}")
    lines.append(
        f"  client turns with a face: {inputs.get('client_turns_with_image', 0)}, "
        f"without: {inputs.get('client_turns_without_image', 0)}"
    )
    return "\n".join(lines)
