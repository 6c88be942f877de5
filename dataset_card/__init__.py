"""The Hub dataset card templates (Jinja, rendered by :mod:`mirror_hf.cards`): a built MIRROR dataset
(``dataset.md``), a simulation run (``sessions.md``), an evaluation (``evaluation.md``), new dialogues
(``release.md``), a pairwise study's key (``study.md``) and a therapist's answers on real
sessions (``video.md``). Installed as ``mirror_hf.dataset_card``."""
