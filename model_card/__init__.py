"""The Hub model card templates (rendered by :mod:`mirror_hf.cards`): a trained adapter (``adapter.md``) and the usage
section of a merged model (``merged_use.md``). Installed as ``mirror_hf.model_card``."""
