"""The report as data: sections of paragraphs, tables and figures, rendered later to HTML and
Markdown, so the statistics never know about output formats."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """One table cell; ``bold`` marks the best value of its group."""

    text: str
    bold: bool = False


@dataclass(frozen=True)
class GroupRow:
    """A full-width row that heads a group of rows (e.g. an imbalance tier)."""

    label: str


@dataclass
class Table:
    """A table with optional spanning header groups (``(label, span)`` covering all columns)."""

    columns: list[str]
    rows: list[list[Cell] | GroupRow]
    caption: str = ""
    column_groups: list[tuple[str, int]] | None = None

    def add(self, *values: str | Cell) -> None:
        """Append a data row; plain strings become non-bold cells."""
        self.rows.append([v if isinstance(v, Cell) else Cell(str(v)) for v in values])


@dataclass(frozen=True)
class Figure:
    """A rendered PNG; ``name`` is the file stem used beside the Markdown."""

    name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False  # a warning-style note (skipped test, excluded data)


@dataclass(frozen=True)
class Code:
    text: str


Block = Paragraph | Table | Figure | Code


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.blocks.append(Paragraph(text))

    def note(self, text: str) -> None:
        self.blocks.append(Paragraph(text, note=True))


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]
