"""The one reader of the template's CHANGELOG.md: its sections, the entries a newer one adds, and the
release a commit is on. Used by the template updater (pull-request descriptions), the fleet report
(tools/fleet.py) and the template's own tests. Standard library only: the fleet report runs it
without the platform's dependencies."""

from __future__ import annotations

import re

RELEASE_HEADING = re.compile(r"^## +\[?v?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)\]?", re.MULTILINE)


def sections(changelog: str) -> list[tuple[str, list[str]]]:
    """(heading, entries) for each `## ` section: an entry is a top-level bullet with its continuation
    lines, or a paragraph."""
    found: list[tuple[str, list[str]]] = []
    entry: list[str] = []

    def close() -> None:
        if found and entry:
            found[-1][1].append("\n".join(entry).strip())
        entry.clear()

    for line in changelog.splitlines():
        if line.startswith("## "):
            close()
            found.append((line[3:].strip(), []))
        elif not found or line.startswith("# "):
            continue
        elif not line.strip():
            close()
        elif line.startswith(("- ", "* ")):
            close()
            entry.append(line)
        else:
            entry.append(line)
    close()
    return found


def new_entries(old: str | None, new: str | None) -> list[tuple[str, list[str]]]:
    """The entries of the new CHANGELOG that the old one did not have, under their headings (an entry
    that only moved from Unreleased to its release heading is not new)."""
    known = {" ".join(entry.split()) for _, entries in sections(old or "") for entry in entries}
    found = []
    for heading, entries in sections(new or ""):
        added = [entry for entry in entries if " ".join(entry.split()) not in known]
        if added:
            found.append((heading, added))
    return found


def release(changelog: str | None) -> str | None:
    """The release a commit is on: its CHANGELOG's newest `## x.y.z` heading, and whether entries wait
    under Unreleased ("0.2.0+unreleased")."""
    if changelog is None:
        return None
    match = RELEASE_HEADING.search(changelog)
    waiting = any(
        heading.lower().startswith("unreleased") and entries for heading, entries in sections(changelog)
    )
    if match is None:
        return "unreleased" if waiting else None
    return f"{match[1]}+unreleased" if waiting else match[1]
