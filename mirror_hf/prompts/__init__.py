"""Prompt templates are data: one ``.txt`` file per prompt, with its source noted, and this one loader.

A file is a short header (``what:``, ``source:``, ``placeholders:``), a line ``---``, then the template body.
The body is used byte for byte, except the single newline that ends the file. Placeholders are filled with
``str.format`` (literal braces in a template are doubled; values may hold any character).

Example:
    >>> from mirror_hf.prompts import load_prompt
    >>> load_prompt("emotion_recognition").template.splitlines()[0]
    '<image>'
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    template: str
    source: str

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.template) if f)

    def render(self, **values: str) -> str:
        missing = set(self.placeholders) - set(values)
        if missing:
            raise KeyError(f"prompt {self.name!r} needs values for {sorted(missing)}")
        return self.template.format(**values)


@cache
def load_prompt(name: str) -> PromptTemplate:
    """Read ``mirror_hf/prompts/{name}.txt``."""
    path = resources.files(__name__) / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.name[:-4] for p in resources.files(__name__).iterdir() if p.name.endswith(".txt"))
        raise KeyError(f"no prompt named {name!r}; known prompts: {known}")
    text = path.read_text(encoding="utf-8")
    header, sep, body = text.partition("\n---\n")
    if not sep:
        raise ValueError(f"prompt file {name}.txt has no '---' line between header and body")
    meta = dict(line.split(": ", 1) for line in header.splitlines() if ": " in line)
    if body.endswith("\n"):
        body = body[:-1]
    return PromptTemplate(name=name, template=body, source=meta.get("source", ""))
