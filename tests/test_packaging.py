"""The wheel: a non-editable install carries the card templates (top-level dataset_card/ and model_card/, mapped
into the package) and renders every card from its own copy, away from this checkout."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_an_installed_wheel_renders_the_cards_from_its_own_templates(tmp_path):
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(ROOT),
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(tmp_path.glob("mirror_hf-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(site)
    for card in ("dataset_card/dataset.md", "dataset_card/sessions.md", "model_card/adapter.md"):
        assert f"mirror_hf/{card}" in names

    work = tmp_path / "work"  # far from the checkout: only the installed copy can be imported
    work.mkdir()
    script = (
        "import mirror_hf, mirror_hf.cards as cards; from importlib import resources; "
        "print(mirror_hf.__file__); print(resources.files('mirror_hf.dataset_card')); "
        "print(cards._template('model_card', 'adapter.md')[:3])"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update({k: v for k, v in os.environ.items() if k.startswith(("HF_", "MIRROR_HF_"))})
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=work, env=env)
    assert shown.returncode == 0, shown.stderr[-3000:]
    module, cards, head = shown.stdout.splitlines()
    assert module.startswith(str(site)) and cards.startswith(str(site)) and head == "---"

    out = work / "mirror"
    build = subprocess.run(
        [sys.executable, "-m", "mirror_hf", "build", "--sample", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card and "CelebA" in card
