"""Run by ``mirror_hf_evaluate.pth`` at interpreter start: puts a finder on ``sys.meta_path`` that does nothing
until ``evaluate`` is first imported, then registers mirror-hf's metrics in evaluate's module cache (see
:mod:`mirror_hf.metrics`). It never breaks ``import evaluate``: a failure becomes a warning.

A top-level module importing only ``sys``, so that every interpreter start pays well under a millisecond (importing
the ``mirror_hf`` package here would cost ~15 ms each time)."""

from __future__ import annotations

import sys


class EvaluateImportHook:
    def find_spec(self, name, path=None, target=None):
        if name != "evaluate":
            return None
        sys.meta_path.remove(self)  # once per process
        from importlib.util import find_spec

        spec = find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_register(module):
            exec_module(module)
            try:
                from mirror_hf.metrics import register_evaluate_modules

                register_evaluate_modules()
            except Exception as err:  # noqa: BLE001 - a read-only cache must not break evaluate
                import warnings

                warnings.warn(f"mirror-hf could not register its evaluate metrics: {err}", stacklevel=2)

        spec.loader.exec_module = exec_and_register
        return spec


def install() -> None:
    if not any(isinstance(finder, EvaluateImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, EvaluateImportHook())


install()
