"""Text from outside (records, results, files, API answers) on a terminal: one policy for all of it.

A control character in such text acts on the terminal instead of being read: an escape sequence
clears the screen or recolours what follows, a line break or carriage return forges a line that
looks like the tool's own, a bidirectional override reorders what is shown. Each one is shown as
its escape (`\\x1b`, `\\n`, `\\u202e`), so the text reads as it is and stays in its line or cell.
Rich markup in it (`[red]`) is shown as typed, never applied.
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text

# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional marks and overrides.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


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


def markup(value: object) -> str:
    """`value` to place inside a Rich markup string (e.g. an error line): visible, markup escaped."""
    return escape(visible(value))
