"""Rebuilding what the authors could not release: the turn-level faces — expressions (an LLM describes each client
turn's face), faces (PhotoMaker draws them), and the image checks a face must pass (CLIP, NSFW). The identity and
gender checks (DeepFace) and the dialogue-level filters come next."""
