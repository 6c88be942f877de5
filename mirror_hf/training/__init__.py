"""LoRA fine-tuning of LLaVA on MIRROR with TRL: configs, LoRA targets, the two-learning-rate trainer, pre-flight
checks, merging and inference. ``recipes/sft_llava.py`` is the thin script over it."""
