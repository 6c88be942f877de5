"""The one exception type a user can cause, and the record of a row skipped with ``--on-error skip``."""

from __future__ import annotations

from dataclasses import asdict, dataclass


class MirrorError(Exception):
    """A problem with the user's input (file, row, field) that they can fix; the message says how.

    Example:
        >>> raise MirrorError("bad value", file="mirror_data.csv", row=3, field="idx", fix="use cactus-N-<slug>")
        Traceback (most recent call last):
        ...
        mirror_hf.errors.MirrorError: mirror_data.csv, row 3, field 'idx': bad value. Fix: use cactus-N-<slug>
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        idx: str | None = None,
        fix: str | None = None,
    ):
        self.problem = message
        self.file, self.row, self.field, self.idx, self.fix = file, row, field, idx, fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (idx {self.idx})" if self.idx else ""))
        elif self.idx:
            where.append(f"idx {self.idx}")
        if self.field:
            where.append(f"field {self.field!r}")
        text = (", ".join(where) + ": " if where else "") + self.problem
        if not self.fix:
            return text
        return text.rstrip().rstrip(".") + f". Fix: {self.fix}"

    def with_fix(self, fix: str) -> MirrorError:
        """The same problem, at the same place, with another fix (a command names its own option for it)."""
        return MirrorError(self.problem, file=self.file, row=self.row, field=self.field, idx=self.idx, fix=fix)

    def as_skip(self) -> SkippedRow:
        return SkippedRow(file=self.file, row=self.row, idx=self.idx, field=self.field, error=self.problem)


@dataclass(frozen=True)
class SkippedRow:
    """One input row left out of a build run with ``on_error="skip"``, as listed in build_report.json."""

    file: str | None
    row: int | None
    idx: str | None
    field: str | None
    error: str

    def to_dict(self) -> dict:
        return asdict(self)
