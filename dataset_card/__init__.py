"""The Hub dataset card templates (Jinja, rendered by :mod:`mirror_hf.cards`): a built MIRROR dataset
(``dataset.md``), a simulation run (``sessions.md``), an evaluation (``evaluation.md``) and new dialogues
(``release.md``). Installed as ``mirror_hf.dataset_card``."""
