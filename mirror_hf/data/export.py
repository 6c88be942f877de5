"""Write MIRROR as a Hub-layout folder: parquet shards per config and split, a dataset card, a build report.

The folder loads with ``load_dataset("mirror")`` from its parent, ``load_dataset("/abs/path/mirror", "sft_base")``,
and the same way once pushed to ``org/mirror`` on the Hub. Rows are written to a staging folder and swapped in at
the end, so a failed build leaves the previous one intact. An unchanged rebuild (same inputs, options and
mirror-hf version) is a no-op. The output folder must be new, empty or an earlier build (``force`` allows another
folder); a build replaces only its own files there: the card, its report and the shards of the configs.

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

from mirror_hf import __version__
from mirror_hf.cards import render_dataset_card
from mirror_hf.data.builder import MirrorBuilder
from mirror_hf.data.release import release_commit
from mirror_hf.data.sources import BuildSources, input_fingerprint, load_release
from mirror_hf.errors import MirrorError
from mirror_hf.outputs import claim_output_dir
from mirror_hf.progress import datasets_bars
from mirror_hf.schema import (
    BUILD_REPORT_FILE,
    CONFIG_NAMES,
    CONFIG_SPLITS,
    DATA_DIR,
    DIALOGUES,
    EVAL_PROFILES,
    SFT_VARIANTS,
    shard_path,
)

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
    """Build ``configs`` from ``sources`` into the Hub-layout folder ``out``; returns the build report.

    ``force``: rebuild although the inputs are unchanged, and write into a folder that holds other files (only the
    files a build writes are replaced there)."""
    unknown = [c for c in configs if c not in CONFIG_NAMES]
    if unknown or not configs:
        raise MirrorError(f"unknown config(s) {unknown or list(configs)}", fix=f"choose from {list(CONFIG_NAMES)}")
    started = time.time()
    out = claim_output_dir(out, command="build", markers=(BUILD_REPORT_FILE,), force=force).resolve()
    inputs = input_fingerprint(sources)  # once per build: it walks the turn faces
    fingerprint = inputs + "-" + "+".join(configs)
    if not force and (report := _cached_report(out, fingerprint)):
        logger.info("%s is up to date with its inputs; nothing to do (use force=True to rebuild)", out)
        return {**report, "cached": True, "seconds": round(time.time() - started, 3)}
    with datasets_bars(enabled=progress):  # "Checking inputs"
        release = load_release(sources, inputs)
    # datasets' own bars ("Generating train split") are off: each config shows its own, named after it
    with datasets_bars(enabled=False):
        return _build(sources, release, out, configs, fingerprint, started, max_shard_size, progress)


def _build(sources, release, out: Path, configs, fingerprint: str, started: float, max_shard_size, progress) -> dict:
    """``release``: the inputs, read; ``fingerprint``: the build's (inputs + configs)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        config_reports, infos = {}, {}
        for name in configs:
            config_reports[name], infos[name] = _build_config(
                name, sources, release, staging, fingerprint, max_shard_size, progress
            )
        built = [c for c in configs if config_reports[c]["rows"]]
        report = {
            "mirror_hf_version": __version__,
            "fingerprint": fingerprint,
            "cached": False,
            "sources": asdict(sources),
            "release_commit": release_commit(sources.release, sources.revision),  # the Hub commit read, or None
            "files_read": release.files,
            "configs": config_reports,
            "skipped_rows": [s.to_dict() for s in release.skipped],
            "fallback_rows": release.fallbacks,  # turns read from the raw screenplay: which rows, and why
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


def _build_config(name: str, sources: BuildSources, release, staging: Path, fingerprint: str, max_shard_size, progress):
    split = CONFIG_SPLITS[name]
    raw = staging / "raw" / name
    builder = MirrorBuilder(
        loaded=release,
        config_name=name,
        cache_dir=str(staging / "cache"),
        hash=fingerprint.replace("+", "_"),
        progress=progress,
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
        report["note"] = _empty_note(name, release, report.get("omitted_records", {}))
    return report, builder.info


# Why a training record is left out, and what gives it back.
_OMITTED_FIXES = {
    "no_image": "no client face: pass --celeba-dir (identity faces) and/or --turn-images (turn faces)",
    "no_plan": "no CBT technique or plan: pass --cactus cactus.json, or a release with cbt_technique and cbt_plan",
    "no_stage_direction": "no [stage direction] on the client turn before: P+EC needs it as the caption target",
}


def _empty_note(name: str, release, omitted: dict) -> str:
    """Why ``name`` got no rows, and the fix: the first thing that emptied it."""
    if name == EVAL_PROFILES:
        if not release.files.get("test"):
            return "the release has no mirror_test.csv (or .json): no test profiles to write"
        return "every test profile was skipped (see skipped_rows)"
    if not release.files.get("train"):
        return "the release has no mirror_data.csv (or .json): no dialogues to write"
    if not release.dialogues:
        return "no dialogue was read: every row was skipped or filtered out (see skipped_rows and inputs)"
    if name == DIALOGUES or not omitted:
        return "no dialogue has a therapist turn after a client turn"
    reason, count = max(omitted.items(), key=lambda item: item[1])
    causes = "; ".join(f"{n} {r}" for r, n in sorted(omitted.items(), key=lambda item: -item[1]))
    return f"every record was left out ({causes}): {_OMITTED_FIXES.get(reason, reason)}"


def empty_configs(report: dict) -> dict[str, str]:
    """config -> why it was not written, for each requested config that got no rows."""
    return {name: c.get("note", "no rows") for name, c in report["configs"].items() if not c["rows"]}


def _swap_in(staging: Path, out: Path) -> None:
    """Move the staged shards and card into ``out``, replacing only what a build writes there: the card and the
    parquet shards of every config folder (an earlier build's, of configs built or not). Other files in ``out``,
    in ``data/`` included, are left as they are."""
    out.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_NAMES:
        folder = out / DATA_DIR / name
        for old in folder.glob(f"{CONFIG_SPLITS[name]}-*-of-*.parquet") if folder.is_dir() else ():
            old.unlink()
        staged = staging / DATA_DIR / name
        if staged.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            for shard in sorted(staged.iterdir()):
                shard.replace(folder / shard.name)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if (out / DATA_DIR).is_dir() and not any((out / DATA_DIR).iterdir()):
        (out / DATA_DIR).rmdir()
    (staging / "README.md").replace(out / "README.md")


def summarize(report: dict) -> str:
    """The lines a person reads after a build."""
    lines = [f"MIRROR build {'(cached, nothing to do) ' if report.get('cached') else ''}in {report['seconds']:.1f}s"]
    for name, c in report["configs"].items():
        omitted = ", ".join(f"{reason} {n}" for reason, n in c.get("omitted_records", {}).items())
        extra = f"  omitted: {omitted}" if omitted else ""
        if not c["rows"]:
            extra = "  NOT WRITTEN: " + c.get("note", "no rows")
        lines.append(f"  {name:<16} {c['split']:<5} {c['rows']:>7} rows  {len(c['files'])} file(s){extra}")
    inputs = report.get("inputs", {})
    if report["sources"].get("filters"):
        by = {k.removeprefix("filtered_out_by_"): v for k, v in inputs.items() if k.startswith("filtered_out_by_")}
        lines.append(f"  dialogues left out by the filters: {inputs.get('filtered_out', 0)} {by or ''}".rstrip())
    lines.append(f"  skipped rows: {len(report['skipped_rows'])}")
    fallbacks = report.get("fallback_rows", [])
    if fallbacks:
        lines.append(f"  rows read from the raw screenplay (proc_dialogue unreadable): {len(fallbacks)}")
        lines += [f"    row {f['row']} ({f['idx']}): {f['reason']}" for f in fallbacks[:5]]
    for s in report["skipped_rows"][:10]:
        lines.append(f"    {s['file']} row {s['row']} ({s['idx']}) {s['field']}: {s['error']}")
    lines.append(
        f"  client turns with a face: {inputs.get('client_turns_with_image', 0)}, "
        f"without: {inputs.get('client_turns_without_image', 0)}"
    )
    return "\n".join(lines)
