"""Chat prompt files: Jinja2 with `# system:` / `# user:` / `# assistant:` section headers."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, StrictUndefined

_ROLE_HEADER = re.compile(r"^#\s*(system|user|assistant)\s*:\s*$", re.MULTILINE)
_ENV = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def render_chat(path: Path, **variables: object) -> list[dict[str, str]]:
    """Render the template, then split it into chat messages at each role header."""
    text = _ENV.from_string(path.read_text(encoding="utf-8")).render(**variables)
    parts = _ROLE_HEADER.split(text)
    if len(parts) < 3:
        raise ValueError(f"{path}: no '# system:' or '# user:' header found")
    return [
        {"role": role, "content": content.strip()}
        for role, content in zip(parts[1::2], parts[2::2], strict=True)
    ]
