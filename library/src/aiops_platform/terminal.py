"""Text from outside (records, results, files, traces, API answers) on a terminal or in Markdown: one
policy for all of it.

A control character in such text acts on the terminal instead of being read: an escape sequence
clears the screen or recolours what follows, a line break or carriage return forges a line that
looks like the tool's own, a bidirectional override reorders what is shown. Each one is shown as
its escape (`\\x1b`, `\\n`, `\\u202e`), so the text reads as it is and stays in its line or cell.
Rich markup in it (`[red]`) is shown as typed, never applied.

A command's own words are Rich markup; values join them only through `text`, `markup` or `line`
(tests/test_terminal_text.py holds every command module to that). Markdown written for people
(summary.md, the system card, the pull-request comment) takes a value through `markdown_inline`:
the same escapes, and no Markdown in it is applied either.
"""

from __future__ import annotations

import json
import re
import string
import sys
from typing import Any, Literal

from rich.markup import escape
from rich.text import Text

# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional marks and overrides.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LEFT_BY_JSON = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")  # it escapes C0 itself


def visible(value: object) -> str:
    """`value` as plain text with every control character written as its escape."""
    return _CONTROL.sub(_escaped, str(value))


def _escaped(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    return _NAMED.get(character) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def text(value: object, style: str = "") -> Text:
    """`value` for a Rich table cell or `console.print`: visible, and a Text is never read as markup."""
    return Text(visible(value), style=style)


def json_text(value: object) -> str:
    """`value` as indented JSON for `console.out`: valid JSON, every control character a `\\u` escape."""
    dumped = json.dumps(value, ensure_ascii=False, indent=2)
    return _LEFT_BY_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", dumped)


def markup(value: object) -> str:
    """`value` to place inside a Rich markup string (e.g. an error line): visible, markup escaped."""
    return escape(visible(value))


class _Filled(string.Formatter):
    def format_field(self, value: object, format_spec: str) -> str:
        return markup(format(value, format_spec))


def line(template: str, *values: object) -> str:
    """The command's own Rich markup `template` with each `{}` filled by a value from outside (its
    format spec applied first, e.g. `{:.3f}`), that value visible and never read as markup."""
    return _Filled().vformat(template, values, {})


# Markdown's inline syntax that can hide, link, embed or leave a table cell, the backslash included
# (else `\\|` would end a cell). `_` and `*` stay: names use them, and emphasis hides nothing.
_MARKDOWN = re.compile(r"[\\`|<>\[\]&]")
_BACKTICKS = re.compile(r"`+")


def markdown_inline(value: object, code: bool = False) -> str:
    """`value` in a Markdown line or table cell, read as typed: control characters as their escapes
    (so it stays in its line and cell), and no link, image, HTML, code span or cell break from it.
    `code`: as a code span, fenced by more backticks than it holds (`|` escaped for table cells)."""
    shown = visible(value)
    if not code:
        return _MARKDOWN.sub(lambda match: "\\" + match.group(), shown)
    fence = "`" * (1 + max(map(len, _BACKTICKS.findall(shown)), default=0))
    padding = " " if shown.startswith("`") or shown.endswith("`") else ""
    return fence + padding + shown.replace("|", "\\|") + padding + fence


class FittedTable:
    """A table that fits the terminal without cutting a cell short. Rich shortens every column to
    `…` when a table is wider than the terminal (an 80-column one: `2.900 p…`, `qa/basel…`); here
    the columns after the first `keep` (what names a row) are spread over as many tables as it
    takes, each repeating those, so every value and every pass/FAIL label is shown whole. Cells are
    Text (from `text`); a table one column too wide for the terminal folds its cells, never cuts them."""

    def __init__(
        self, title: str, headers: list[str], rows: list[list[Text]], keep: int, caption: str | None = None
    ) -> None:
        self.title, self.headers, self.rows, self.keep, self.caption = title, headers, rows, keep, caption

    def _table(self, columns: list[int], title: str, caption: str | None) -> Any:
        from rich import box
        from rich.table import Table

        table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False)
        for column in columns:
            justify: Literal["left", "right"] = "left" if column < self.keep else "right"
            table.add_column(text(self.headers[column]), justify=justify, overflow="fold")
        for row in self.rows:
            table.add_row(*(row[column] for column in columns))
        return table

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        named, rest = list(range(self.keep)), list(range(self.keep, len(self.headers)))
        unbounded = options.update_width(sys.maxsize)
        title = self.title
        while True:
            count = len(rest)
            while count > 1:
                table = self._table(named + rest[:count], title, None)
                if Measurement.get(console, unbounded, table).maximum <= options.max_width:
                    break
                count -= 1
            last = count >= len(rest)
            yield self._table(named + rest[:count], title, self.caption if last else None)
            if last:
                return
            rest, title = rest[count:], f"{self.title}, continued"
