"""One help layout for every command: text wrapped to the terminal by paragraph, examples kept as written, and
each option's default shown."""

from __future__ import annotations

import argparse
import shutil
import textwrap


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions and epilogs are wrapped paragraph by paragraph; a line that starts with a space (an example
    command) is kept as written. An option's help gets ``(default: ...)`` unless it names its default already.
    Long values (a comma-separated default) are never cut inside a word."""

    def __init__(self, prog: str, **kwargs):
        kwargs.setdefault("width", min(shutil.get_terminal_size().columns, 110) - 2)
        kwargs.setdefault("max_help_position", 30)
        super().__init__(prog, **kwargs)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines, paragraph = [], []

        def flush() -> None:
            if paragraph:
                lines.append(textwrap.fill(" ".join(paragraph), width, initial_indent=indent, subsequent_indent=indent))
                paragraph.clear()

        for line in text.splitlines():
            if not line.strip():
                flush()
                lines.append("")
            elif line[0].isspace():
                flush()
                lines.append(indent + line)
            else:
                paragraph.append(line.strip())
        flush()
        return "\n".join(lines)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_long_words=False, break_on_hyphens=False)

    def _get_default_metavar_for_optional(self, action: argparse.Action) -> str:
        return {int: "N", float: "X"}.get(action.type, action.dest.upper())

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, True, "", [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def add_command(subparsers, name: str, *, help: str, description: str | None = None, **kwargs):
    """A sub-command with the shared layout; its description is its help when none is given."""
    return subparsers.add_parser(
        name, help=help, description=description or help[:1].upper() + help[1:] + ".", formatter_class=HelpFormatter,
        **kwargs,
    )  # fmt: skip
