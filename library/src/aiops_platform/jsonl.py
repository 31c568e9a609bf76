"""The one reader (and writer) of JSON Lines: datasets, span files, run outputs, samples and index
chunks are read here, with line numbers, so every caller reports a bad line the same way:
`file:line: what is wrong`, including a file in another encoding than UTF-8 (which byte, where, and
the fix).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class JsonLinesError(ValueError):
    """A line that is not JSON; the message is `file:line: not valid JSON (...)`."""


@dataclass(frozen=True)
class Line:
    """One non-blank line: its number (from 1), and its value or why it is not JSON."""

    number: int
    value: Any = None
    error: str | None = None


SAVE_AS_UTF8 = "save the file as UTF-8"
# Bytes that are not UTF-8 are kept as these stand-ins (errors="surrogateescape"), so a bad line is
# named with its byte and column instead of ending the read with a UnicodeDecodeError.
_UNDECODED = re.compile("[\udc80-\udcff]")
_UTF16_BOMS = ("\udcff\udcfe", "\udcfe\udcff")  # FF FE, FE FF: UTF-16's byte-order marks


def _encoding_error(number: int, text: str) -> str | None:
    """Why line `number` is not UTF-8 text, or None. UTF-16 shows on the first line."""
    if number == 1 and text.startswith(_UTF16_BOMS):
        return f"not UTF-8: UTF-16 (it starts with a UTF-16 byte-order mark); {SAVE_AS_UTF8}"
    undecoded = _UNDECODED.search(text)
    if undecoded:
        byte = ord(undecoded[0]) - 0xDC00
        return f"not UTF-8 (byte 0x{byte:02x} at column {undecoded.start() + 1}); {SAVE_AS_UTF8}"
    if "\x00" in text:
        return f"not UTF-8: it holds NUL bytes (UTF-16 without a byte-order mark?); {SAVE_AS_UTF8}"
    return None


def lines(path: Path) -> Iterator[Line]:
    """Every non-blank line of a JSON Lines file, parsed, with its line number; bad lines say why.
    A UTF-16 file is one problem, on its first line (every line of it would be)."""
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            encoding_error = _encoding_error(number, text)
            if encoding_error is not None:
                yield Line(number, error=encoding_error)
                if "UTF-16" in encoding_error:
                    return
                continue
            if number == 1 and text.startswith("\ufeff"):
                yield Line(number, error="starts with a byte-order mark (BOM); save it as UTF-8 without one")
                continue
            try:
                yield Line(number, json.loads(text))
            except json.JSONDecodeError as error:
                yield Line(number, error=f"not valid JSON ({error.msg}, column {error.colno})")


def read_jsonl(path: Path, limit: int | None = None) -> list[Any]:
    """The values of the first `limit` lines (all by default); a bad line raises JsonLinesError."""
    values: list[Any] = []
    for line in lines(path):
        if limit is not None and len(values) >= limit:
            break
        if line.error is not None:
            raise JsonLinesError(f"{path}:{line.number}: {line.error}")
        values.append(line.value)
    return values


def write_jsonl(path: Path, values: Iterable[Any]) -> None:
    """One compact JSON document per line (UTF-8 kept as is), replacing the file."""
    with path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(value, ensure_ascii=False) + "\n" for value in values)
