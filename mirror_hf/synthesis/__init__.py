"""Rebuilding what the authors could not release: the turn-level faces (expressions now; PhotoMaker and the
filters to come)."""
