"""The part-of-speech taggers of the ``pos_repetition`` filter, and the text of a turn each one tags.

The authors' notebook (``mirror/notebook/filter_generated_dialogue.ipynb``, cells 12-14) tags each screenplay line
after its speaker's colon, ``[stage direction] statement``, with NLTK: ``word_tokenize``, then the averaged
perceptron (``pos_tag``: Penn tags); a bracket or curly-quote token breaks a run, and a run of more than 3 equal
tags rejects the dialogue. That is the default here: :class:`NltkTagger` on :func:`turn_text` ``"line"``. Ours, as
options: :class:`SpacyTagger` (Penn or universal tags) and ``"statement"`` (the statement alone, the direction left
out). Either tagger gives ``None`` for a token that breaks a run, so both count runs the notebook's way.

Example:
    >>> turn_text({"stage_direction": "Sighs", "statement": "Fine."}, "line")
    '[Sighs] Fine.'
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from mirror_hf.errors import MirrorError

POS_TEXTS = ("line", "statement")
RUN_BREAKERS = frozenset("“”’‘[]")  # the tokens the notebook's count restarts at (cell 13)
NLTK_RESOURCES = ("tokenizers/punkt_tab/english/", "taggers/averaged_perceptron_tagger_eng/")


def turn_text(turn: dict, pos_text: str = "line") -> str:
    """What is tagged of a turn: ``line``, its screenplay line after the speaker (``[direction] statement``, as the
    notebook split ``Client: [direction] statement`` at the first colon); ``statement``, the statement alone."""
    if pos_text not in POS_TEXTS:
        raise MirrorError(f"POS text {pos_text!r}", fix=f"use one of {', '.join(POS_TEXTS)}")
    statement = (turn.get("statement") or "").strip()
    direction = (turn.get("stage_direction") or "").strip()
    return f"[{direction}] {statement}".strip() if pos_text == "line" and direction else statement


class NltkTagger:
    """NLTK's ``word_tokenize`` and averaged perceptron tagger (Penn tags), as the authors' notebook ran them.

    ``data``: an ``nltk_data`` folder holding ``punkt_tab`` and ``averaged_perceptron_tagger_eng``; without one,
    NLTK's own search path, and the two are downloaded there when missing (as the notebook did).
    """

    def __init__(self, data: str | Path | None = None):
        try:
            import nltk
        except ImportError as err:
            raise MirrorError("the NLTK tagger needs nltk", fix="pip install 'mirror-hf[synthesis]'") from err
        paths = None  # NLTK's search path
        if data is not None:
            folder = Path(data).expanduser().resolve()
            if not folder.is_dir():
                raise MirrorError("no such nltk_data folder", file=str(data), fix="give the folder nltk_data is in")
            paths = [str(folder)]
            nltk.data.path.insert(0, str(folder))  # word_tokenize and the tagger look there first
        missing = [name for name in NLTK_RESOURCES if not _found(nltk, name, paths)]
        if missing and data is None:
            for name in missing:
                with contextlib.suppress(Exception):  # offline, or a failed download: said below
                    nltk.download(name.split("/")[1], quiet=True, raise_on_error=True, print_error_to=io.StringIO())
            missing = [name for name in missing if not _found(nltk, name, paths)]
        if missing:
            raise MirrorError(
                f"NLTK's {' and '.join(n.split('/')[1] for n in missing)} not found"
                + (f" in {data}" if data is not None else ""),
                fix="python -m nltk.downloader punkt_tab averaged_perceptron_tagger_eng (or give --pos-model an "
                "nltk_data folder), or --pos-tagger spacy, or leave out pos_repetition",
            )
        from nltk.tag.perceptron import PerceptronTagger

        self._tokenize = nltk.word_tokenize
        self._tagger = PerceptronTagger()  # what pos_tag() loads on every call, loaded once
        self.id = f"nltk-{nltk.__version__}:averaged_perceptron_tagger_eng" + (f":{data}" if data else "")

    def tags(self, texts: list[str]) -> list[list[str | None]]:
        """Each text's tags, ``None`` for a token that breaks a run."""
        out = []
        for text in texts:
            tokens = self._tokenize(text) if text.strip() else []
            out.append([None if token in RUN_BREAKERS else tag for token, tag in self._tagger.tag(tokens)])
        return out


def _found(nltk, name: str, paths: list[str] | None) -> bool:
    try:
        nltk.data.find(name, paths=paths)
        return True
    except LookupError:
        return False


class SpacyTagger:
    """spaCy part-of-speech tags per text (``tag_``: Penn, fine-grained; ``pos_``: universal, coarse); whitespace
    tokens are left out, and a bracket or curly-quote token breaks a run. ``model``: an installed spaCy package
    (``python -m spacy download en_core_web_sm``) or a pipeline folder."""

    def __init__(self, model: str = "en_core_web_sm", attribute: str = "tag_", batch_size: int = 256):
        try:
            import spacy
        except ImportError as err:
            raise MirrorError("the spaCy tagger needs spaCy", fix="pip install 'mirror-hf[synthesis]'") from err
        try:
            self.nlp = spacy.load(model, disable=["parser", "ner", "lemmatizer"])
        except OSError as err:
            raise MirrorError(
                f"cannot load the spaCy model {model!r}",
                fix=f"python -m spacy download {model} (or give a pipeline folder), or leave out pos_repetition",
            ) from err
        if attribute not in ("tag_", "pos_"):
            raise ValueError(f"attribute must be tag_ or pos_, got {attribute!r}")
        self.id, self.attribute, self.batch_size = f"spacy:{model}:{attribute}", attribute, batch_size

    def tags(self, texts: list[str]) -> list[list[str | None]]:
        return [
            [
                None if token.text in RUN_BREAKERS else getattr(token, self.attribute)
                for token in doc
                if not token.is_space
            ]
            for doc in self.nlp.pipe(texts, batch_size=self.batch_size)
        ]


__all__ = ["NLTK_RESOURCES", "POS_TEXTS", "RUN_BREAKERS", "NltkTagger", "SpacyTagger", "turn_text"]
