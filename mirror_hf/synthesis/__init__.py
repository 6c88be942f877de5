"""Rebuilding what the authors could not release: the turn-level faces — expressions (an LLM describes each client
turn's face), faces (PhotoMaker draws them), and the checks a face must pass (CLIP, NSFW, and identity, gender and
age against the client's face with DeepFace). The dialogue-level filters come next."""
