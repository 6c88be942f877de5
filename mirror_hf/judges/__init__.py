"""LLM-judge instruments (COUNSELINGEVAL, the Working Alliance Inventory) and the engine that runs them."""
