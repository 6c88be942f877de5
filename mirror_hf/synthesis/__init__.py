"""Rebuilding what the authors could not release: the turn-level faces — expressions (an LLM describes each client
turn's face), then faces (PhotoMaker draws them). The filters come next."""
