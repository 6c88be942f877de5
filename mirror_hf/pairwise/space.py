"""The files that make a study's ``app/`` folder a Hugging Face Space: a launcher, the requirements and the Space
card (sdk gradio at the version installed here, CPU hardware, private by necessity when it holds faces).

Example:
    >>> sorted(space_files())
    ['README.md', 'app.py', 'requirements.txt']
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

TESTED_GRADIO = "6.31.0"  # the Space's gradio where this machine has none (the version the app is tested with)

LAUNCHER = '''"""A mirror-hf pairwise study's annotation app: a Space, or `python app.py` where gradio is installed."""

from annotation_app import main

main()
'''

CARD = """---
title: Pairwise counseling study
emoji: ⚖️
sdk: gradio
sdk_version: {gradio}
app_file: app.py
python_version: "3.11"
suggested_hardware: cpu-basic
license: gpl-2.0
pinned: false
tags:
- mirror-hf
- annotation
- psychotherapy
---

# Pairwise counseling study

A blind A/B annotation app written by `mirror-hf pairwise sample` (mirror-hf {mirror_hf}). Annotators sign in by
name or with the link their study's owner sent them, compare two dialogues of the same client, and answer A / Tie /
B for Goal, Approach and Affective bond. Every answer is saved at once in `answers/`; when `config.json` or the
`MIRROR_ANSWERS_REPO` variable names a Hub dataset, the answers are also pushed there every few minutes (give the
Space an `HF_TOKEN` secret with write access), and a restarted Space reads them back, so nobody loses their place.

The app never shows which model wrote which dialogue: the key stays with the study's owner (the study folder's
`data/items`). The client faces derive from CelebA, whose terms forbid redistribution: keep this Space **private**.
The dialogues are simulated research data, not counseling.
"""


def gradio_version() -> str:
    """The gradio a Space card pins: the one installed here, else the one the apps are tested with."""
    try:
        return version("gradio")
    except PackageNotFoundError:
        return TESTED_GRADIO


def space_files() -> dict[str, str]:
    """file name -> text, for the app folder."""
    from mirror_hf import __version__

    return {
        "app.py": LAUNCHER,
        "requirements.txt": f"huggingface_hub>={version('huggingface_hub')}\n",
        "README.md": CARD.format(gradio=gradio_version(), mirror_hf=__version__),
    }


__all__ = ["gradio_version", "space_files"]
