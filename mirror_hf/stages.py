"""A run of ``mirror-hf`` commands, stage by stage, each printed before it runs and recorded when it ends; every
command resumes, so running the whole again continues where it stopped. ``synthesize pipeline`` and ``reproduce``
are such runs.

Example:
    >>> Stage("build", ("build", "--sample"), Path("mirror")).command
    'mirror-hf build --sample'
    >>> stage_options({"max_reads": 50, "wai_all": True, "filters": ["basic", "copy_paste"], "device": None})
    ['--max-reads', '50', '--wai-all', '--filters', 'basic,copy_paste']
"""

from __future__ import annotations

import gc
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mirror_hf.errors import MirrorError


@dataclass(frozen=True)
class Stage:
    """One step of a run: its name, the ``mirror-hf`` arguments it runs, the folder it writes and, for the
    faces, how many processes share it (``--shard K/N`` each)."""

    name: str
    argv: tuple[str, ...]
    folder: Path
    shards: int = 1

    @property
    def commands(self) -> list[tuple[str, ...]]:
        """The argument lists it runs: one, or one per shard."""
        if self.shards == 1:
            return [self.argv]
        return [(*self.argv, "--shard", f"{k}/{self.shards}") for k in range(self.shards)]

    @property
    def command(self) -> str:
        commands = [shlex.join(("mirror-hf", *argv)) for argv in self.commands]
        return commands[0] if self.shards == 1 else " & ".join(commands) + " & wait"  # the shards run at once


def read_yaml_config(path: str | Path, what: str, *, keys: list[str], example: str) -> dict:
    """A run's YAML as a mapping whose keys are all among ``keys``; a clear error names the file otherwise."""
    import yaml

    file = Path(path)
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise MirrorError(f"cannot read the {what} config: {err}", file=str(file)) from err
    if not isinstance(config, dict):
        raise MirrorError("not a mapping of options", file=str(file), fix=f"see {example}")
    unknown = sorted(set(config) - set(keys))
    if unknown:
        raise MirrorError(f"unknown key(s) {unknown}", file=str(file), fix=f"keys: {', '.join(keys)}")
    return config


def stage_options(options: dict) -> list[str]:
    """``{"max_reads": 50, "wai_all": True, "filters": ["basic"]}`` -> ``--max-reads 50 --wai-all --filters basic``."""
    argv = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list | tuple):
            argv += [flag, ",".join(str(v) for v in value)]
        else:  # the stages run without a shell: expand ~ here
            argv += [flag, str(Path(value).expanduser()) if str(value).startswith("~") else str(value)]
    return argv


def run_stages(
    stages: list[Stage],
    out_dir: str | Path,
    run_command: Callable[[list[str]], int],
    *,
    report_file: str,
    left_undone: Callable[[Stage], str | None] = lambda stage: None,
    until: str | None = None,
    keep_going: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Run ``stages`` in order with ``run_command`` (``mirror_hf.cli.main``), recording each in
    ``out_dir/report_file`` as it ends. Stops after ``until``, at a failed stage, or at a stage that left work undone
    (``left_undone(stage)``: what, read from the files it wrote) unless ``keep_going``; returns the report
    (``status``: ``done``, ``failed``, ``left_work`` or ``stopped``)."""
    if until is not None and until not in {s.name for s in stages}:
        names = ", ".join(s.name for s in stages)
        raise MirrorError(f"--until {until!r} is not a stage of this run", fix=f"use one of {names}")
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    report = {"status": "running", "stages": []}

    def save() -> None:
        (out / report_file).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    for n, stage in enumerate(stages, 1):
        log(f"[{n}/{len(stages)}] {stage.name}: {stage.command}")
        started = time.monotonic()
        entry = {"stage": stage.name, "command": stage.command}
        report["stages"].append(entry)
        try:
            code = run_command(list(stage.argv)) if stage.shards == 1 else run_shards(stage, log)
        except BaseException as err:  # recorded, then raised: the report says where it stopped
            entry.update(status="failed", error=f"{type(err).__name__}: {err}", seconds=_since(started))
            report["status"] = "failed"
            save()
            raise
        finally:
            _free_memory()
        entry["seconds"] = _since(started)
        undone = left_undone(stage) if code == 0 else None
        entry["status"] = "failed" if code else "left_work" if undone else "done"
        entry.update({"exit_code": code} if code else {"left_undone": undone} if undone else {})
        if code:
            halt = "failed", f"stage {stage.name} failed (see above); fix it and run again: finished work is kept"
        elif undone and not keep_going:
            halt = "left_work", f"stage {stage.name}: {undone}. Run again to retry them, or add --keep-going."
        elif stage.name == until:
            halt = "stopped", f"stopped after {stage.name} (--until); run again without --until to go on"
        else:
            halt = None
        if halt:
            report["status"] = halt[0]
            save()
            log(halt[1])
            return report
        save()
    report.update(status="done", dataset=str(stages[-1].folder))
    save()
    return report


def run_shards(stage: Stage, log: Callable[[str], None] = print) -> int:
    """Run a stage's shard commands at once, each in its own process with one GPU of those visible
    (``CUDA_VISIBLE_DEVICES``, shard K gets the K-th; with fewer GPUs than shards they are shared), its output in
    ``FOLDER/shard-K-of-N.log``; the exit code of the first that failed, else 0."""
    import os
    import subprocess

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = [g for g in visible.split(",") if g.strip()] if visible else None
    stage.folder.mkdir(parents=True, exist_ok=True)
    running = []
    for k, argv in enumerate(stage.commands):
        env = dict(os.environ)
        if gpus is None:
            env["CUDA_VISIBLE_DEVICES"] = str(k)
        elif gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]
        log_file = stage.folder / f"shard-{k}-of-{stage.shards}.log"
        with log_file.open("w", encoding="utf-8") as out:
            command = [sys.executable, "-m", "mirror_hf", *argv]
            running.append((k, log_file, subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)))
    codes = []
    for k, log_file, process in running:
        codes.append(process.wait())
        log(f"  shard {k}/{stage.shards}: exit {codes[-1]} (log: {log_file})")
    return next((code for code in codes if code), 0)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)


def _free_memory() -> None:
    """Stages run in one process: let a stage's models go before the next loads its own."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
