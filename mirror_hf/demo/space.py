"""The demo as a Space folder (``mirror-hf demo --write-space DIR``): ``app.py`` (it starts the demo from
``config.json``), ``requirements.txt`` and a README with the Space's YAML (sdk gradio at the version installed here,
a hardware suggestion, the licence and the safety statement). ``mirror-hf push DIR ORG/NAME`` publishes it.

Example:
    >>> write_space("space/", {"therapist": "local:me/mirror-llava-ec", "variant": "planning_ec"})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

from mirror_hf.demo.app import STATEMENT
from mirror_hf.pairwise.space import gradio_version

CONFIG_FILE = "demo_config.json"
DEFAULT_REQUIREMENT = "mirror-hf[train]"  # transformers, torch and peft, to load a local or Hub adapter
LAUNCHER = '''"""A MIRROR therapist demo written by `mirror-hf demo --write-space`; its settings: demo_config.json."""

from mirror_hf.demo.space import main

main()
'''
CARD = """---
title: Talk to a MIRROR therapist
emoji: 🪞
sdk: gradio
sdk_version: {gradio}
app_file: app.py
python_version: "3.11"
suggested_hardware: {hardware}
license: apache-2.0
pinned: false
tags:
- mirror-hf
- psychotherapy
- image-text-to-text
{models}---

# Talk to a MIRROR therapist

{statement}

The therapist: `{therapist}` ({variant}), under the `{protocol}` protocol of mirror-hf. Every message passes a crisis
gate before the model sees it: on suicide, self-harm or harm-to-others language the model is not called and a referral
message is shown instead; every answer passes a check for method details and dismissed risk. Safety events are logged
without their text.

Written by `mirror-hf demo --write-space` (mirror-hf {mirror_hf}). The demo's code is Apache-2.0; MIRROR's dialogues
are GPL-2.0; the faces you show are not stored.
"""


def write_space(folder: str | Path, config: dict, requirement: str | None = None) -> Path:
    """Write the Space folder for ``config`` (therapist, variant, protocol, crisis settings) into ``folder``."""
    from mirror_hf import __version__

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    therapist = config["therapist"]
    local = therapist.startswith("local:")
    model = therapist.removeprefix("local:")
    models = f"models:\n- {model}\n" if local and model.count("/") == 1 and not Path(model).exists() else ""
    card = CARD.format(
        gradio=gradio_version(),
        hardware="t4-small" if local else "cpu-basic",
        models=models,
        statement=STATEMENT,
        therapist=therapist,
        variant=config.get("variant", "planning_ec"),
        protocol=config.get("protocol", "authors"),
        mirror_hf=__version__,
    )
    (folder / "README.md").write_text(card, encoding="utf-8")
    (folder / "app.py").write_text(LAUNCHER, encoding="utf-8")
    (folder / "requirements.txt").write_text(f"{requirement or DEFAULT_REQUIREMENT}\n", encoding="utf-8")
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return folder


def demo_from_config(config: dict, *, backend_options: dict | None = None, upstream=None):
    """The demo a config describes: what a Space runs, and what ``mirror-hf demo`` serves (with its back-end
    options and the authors' files it resolved)."""
    from mirror_hf.demo.app import build_demo
    from mirror_hf.demo.safety import CrisisDetector, EventLog, load_referral
    from mirror_hf.llm import load_backend
    from mirror_hf.therapist import MirrorTherapist
    from mirror_hf.upstream import MIRROR

    referral = load_referral(config.get("crisis_resources"), config.get("region"))  # a bad file fails first
    detector = CrisisDetector(config.get("crisis_model"), label=config.get("crisis_label"))
    therapist = MirrorTherapist(
        load_backend(config["therapist"], **(backend_options or {})),
        config.get("variant", "planning_ec"),
        protocol=config.get("protocol", "authors"),
        upstream=upstream or MIRROR,
    )
    log = EventLog(config.get("log"), keep_text=bool(config.get("log_text")))
    return build_demo(therapist, detector=detector, referral=referral, log=log)


def main() -> None:
    from mirror_hf.demo.app import launch

    config = json.loads(Path(CONFIG_FILE).read_text(encoding="utf-8"))
    launch(demo_from_config(config))


__all__ = ["CONFIG_FILE", "demo_from_config", "main", "write_space"]
