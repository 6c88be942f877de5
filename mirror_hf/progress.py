"""datasets' own progress bars, turned off for a while: its "Creating parquet" and "Generating train split" bars
say nothing a user of mirror-hf can place, so our commands show their own."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def datasets_bars(enabled: bool = False):
    """Within the block, datasets' progress bars are on only when ``enabled`` (and they were on before)."""
    import datasets
    from datasets.utils.tqdm import are_progress_bars_disabled

    were_on = not are_progress_bars_disabled()
    if not enabled:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if were_on:
            datasets.enable_progress_bars()
