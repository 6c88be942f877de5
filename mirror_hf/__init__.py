"""mirror-hf: MIRROR (multimodal cognitive-reframing therapy with resistant clients) on the Hugging Face stack."""

__version__ = "0.1.0"

from mirror_hf.errors import MirrorError  # noqa: E402


def load_mirror(*args, **kwargs):
    """Build a MIRROR config with the ``datasets`` builder; see :func:`mirror_hf.data.builder.load_mirror`."""
    from mirror_hf.data.builder import load_mirror as _load_mirror

    return _load_mirror(*args, **kwargs)


__all__ = ["MirrorError", "__version__", "load_mirror"]
