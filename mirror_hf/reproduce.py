"""The paper's Tables 2-3 in one resumable run: every therapist system simulated against the test profiles under
one protocol, then all of them judged with both instruments, the report set beside the published numbers.

The run is a list of ``mirror-hf`` commands (:mod:`mirror_hf.stages`), each printed before it runs: one
``simulate`` per system into ``OUT/sessions/{name}``, then one ``evaluate --paper`` into ``OUT/eval``. Each resumes
(finished sessions are kept, judgements come from the response cache), so running it again after a stop continues
where it stopped; ``OUT/reproduce_report.json`` records each stage.

The YAML (``recipes/paper/tables_2_3.yaml``): shared keys (``out``, ``profiles``, ``client``, ``judge``,
``protocol``, ``reference``, ...) and ``systems``, one per therapist, named as the paper names them, each with its
``therapist`` spec and either a ``variant`` (a VLM) or ``baseline`` (a text baseline), plus any other ``simulate``
option for that system alone.

Example:
    $ mirror-hf reproduce --config recipes/paper/tables_2_3.yaml --dry-run
"""

from __future__ import annotations

from pathlib import Path

from mirror_hf.errors import MirrorError
from mirror_hf.stages import Stage, read_yaml_config, stage_options

REPRODUCE_REPORT_FILE = "reproduce_report.json"
SHARED = {
    "out": None,
    "profiles": "mirror:eval_profiles",
    "client": None,
    "judge": None,
    "protocol": "authors",
    "reference": "MIRROR-LLaVA_P+EC",
    "instruments": "counseling_eval,wai",
    "max_exchanges": 20,
    "concurrency": 8,
    "cache_dir": None,
    "upstream": None,
    "upstream_pins": None,
    "rubrics": None,
    "tokenizer": None,
    "timeout": None,
    "retries": None,
    "quiet": False,
}
REQUIRED = ("out", "client", "judge", "systems")
# Calls per exchange a system makes, by variant and protocol (planning_ec: caption + plan + answer under the
# authors' code, which plans every turn); plus calls made once per session.
_CALLS_PER_EXCHANGE = {"base": 1, "planning": 1, "planning_ec": 3, "llama3": 1, "gpt": 1, "camel": 1}
_CALLS_ONCE = {"base": 0, "planning": 1, "planning_ec": 0, "llama3": 0, "gpt": 0, "camel": 1}
JUDGE_CALLS = {"counseling_eval": 6, "wai": 12}  # per session: COUNSELINGEVAL's six criteria, WAI's twelve items
PROFILES = {"test": 800, "resistant": 600}  # the paper's test profiles; the tables score the resistant ones


def load_config(path: str | Path) -> dict:
    """The run's YAML, checked: unknown keys and missing ones are named, each system has one kind."""
    file = Path(path)
    config = read_yaml_config(file, "reproduction", keys=[*SHARED, "systems"], example="recipes/paper/tables_2_3.yaml")
    missing = [key for key in REQUIRED if not config.get(key)]
    if missing:
        raise MirrorError(f"{missing[0]!r} is required", file=str(file), field=missing[0])
    systems = config["systems"]
    if not isinstance(systems, dict):
        raise MirrorError("'systems' maps each therapist's name to its options", file=str(file), field="systems")
    for name, options in systems.items():
        if not isinstance(options, dict) or not options.get("therapist"):
            raise MirrorError(f"system {name!r} needs a 'therapist' spec", file=str(file), field=f"systems.{name}")
        if ("variant" in options) == ("baseline" in options):
            raise MirrorError(
                f"system {name!r}: give either 'variant' (a VLM: base, planning, planning_ec) or 'baseline' "
                "(a text baseline: llama3, gpt, camel)",
                file=str(file),
                field=f"systems.{name}",
            )
        wired = sorted({"out", "profiles", "client", "text_only", "sessions"} & set(options))
        if wired:
            raise MirrorError(f"system {name!r} sets {wired}, which the run sets itself", file=str(file))
    if config.get("reference") and config["reference"] not in systems:
        raise MirrorError(f"reference {config['reference']!r} names no system", file=str(file), field="reference")
    return {**SHARED, **config}


def folder_name(name: str) -> str:
    """A system's run folder: its name with the characters a path dislikes replaced."""
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


def plan(config: dict, limit: int | None = None) -> list[Stage]:
    """One ``simulate`` stage per system, then one ``evaluate`` stage over all of them."""
    out = Path(config["out"]).expanduser()
    quiet = ["--quiet"] if config.get("quiet") else []
    backend = {k: config[k] for k in ("concurrency", "timeout", "retries", "cache_dir")}
    upstream = {k: config[k] for k in ("upstream", "upstream_pins")}
    stages = []
    for name, options in config["systems"].items():
        options = dict(options)
        kind = {"variant": options.pop("variant")} if "variant" in options else {}
        if "baseline" in options:
            kind = {"text_only": True, "baseline": options.pop("baseline")}
        simulate = {
            "profiles": config["profiles"], "therapist": options.pop("therapist"), **kind, "client": config["client"],
            "out": out / "sessions" / folder_name(name), "protocol": config["protocol"],
            "max_exchanges": config["max_exchanges"], "sessions": limit, **backend, **upstream, **options,
        }  # fmt: skip
        stages.append(Stage(f"simulate {name}", ("simulate", *stage_options(simulate)), simulate["out"]))
    runs = [f"{name}={out / 'sessions' / folder_name(name)}" for name in config["systems"]]
    evaluate = {
        "judge": config["judge"], "reference": config["reference"], "instruments": config["instruments"],
        "out": out / "eval", "rubrics": config["rubrics"], "tokenizer": config["tokenizer"], "paper": True, **backend,
    }  # fmt: skip
    stages.append(Stage("evaluate", ("evaluate", *runs, *stage_options(evaluate), *quiet), out / "eval"))
    return stages


def estimate(config: dict, limit: int | None = None, exchanges: float = 10.0) -> dict:
    """The calls the run will make, at most (every session to the turn limit) and as expected (``exchanges`` per
    session: the MIRROR dialogues' 10.3 turns), with rough token counts (a prompt of ~700 tokens, an answer of ~60).
    The authors' P+EC plans every turn (3 calls an exchange); under ``corrected`` it plans once."""
    from mirror_hf.protocol import get_protocol

    protocol = get_protocol(config["protocol"])
    sessions = min(limit, PROFILES["test"]) if limit else PROFILES["test"]
    rows, most, expected = {}, 0, 0.0
    for name, options in config["systems"].items():
        kind = options.get("variant") or options.get("baseline")
        per = _CALLS_PER_EXCHANGE.get(kind, 1)
        once = _CALLS_ONCE.get(kind, 0)
        if kind == "planning_ec" and not protocol.replan_every_turn:
            per, once = 2, 1
        client = 1  # per exchange; the opening or the greeting is within the turn limit
        upper = sessions * (config["max_exchanges"] * (per + client) + once)
        typical = sessions * (min(exchanges, config["max_exchanges"]) * (per + client) + once)
        rows[name] = {"at_most": upper, "expected": round(typical)}
        most, expected = most + upper, expected + typical
    instruments = [i.strip() for i in config["instruments"].split(",") if i.strip()]
    judging = sessions * len(config["systems"]) * sum(JUDGE_CALLS.get(i, 0) for i in instruments)
    total = expected + judging
    return {
        "sessions_per_system": sessions,
        "systems": rows,
        "simulation_calls": {"at_most": most, "expected": round(expected)},
        "judge_calls": judging,
        "tokens_expected": {"prompt": round(total * 700), "completion": round(total * 60)},
    }


def render_estimate(found: dict) -> str:
    lines = [f"estimate: {found['sessions_per_system']} sessions per system"]
    for name, row in found["systems"].items():
        lines.append(f"  simulate {name:<22} {row['expected']:>9,} calls expected, {row['at_most']:>9,} at most")
    sim = found["simulation_calls"]
    tokens = found["tokens_expected"]
    lines.append(f"  simulation: {sim['expected']:,} calls expected ({sim['at_most']:,} at most); judging: "
                 f"{found['judge_calls']:,} calls")  # fmt: skip
    lines.append(f"  tokens, roughly: {tokens['prompt']:,} prompt + {tokens['completion']:,} completion")
    return "\n".join(lines)


def left_undone(stage: Stage) -> str | None:
    """A simulation stage leaves work when sessions ended on a failed call (a rerun plays them again)."""
    if not stage.name.startswith("simulate"):
        return None
    import json

    from mirror_hf.schema import RUN_REPORT_FILE

    try:
        report = json.loads((stage.folder / RUN_REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    failed = report.get("end_reasons", {}).get("backend_error", 0)
    return f"{failed} sessions ended on a failed call" if failed else None
