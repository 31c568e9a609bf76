{#- An answer's line as ruff accepts it: the one macro, in the template's templates/ folder. -#}
{%- from "python_literal.jinja" import fit -%}
"""Chat prompt files: Jinja2 with `# system:` / `# user:` / `# assistant:` section headers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from {{ cookiecutter.package_name }} import paths

_ROLE_HEADER = re.compile(r"^#\s*(system|user|assistant)\s*:\s*$", re.MULTILINE)
_ENV = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
# Every prompt file can name the use case with these. Prompt files are copied as they are when the
# project is generated, so they take the project's name and description from here, not from text
# written into them; a call's own variables win over these.
{{ fit('PROJECT_NAME = ' ~ cookiecutter.project_name | jsonify) }}
{{ fit('PROJECT_DESCRIPTION = ' ~ cookiecutter.description | jsonify) }}
# A marker for the system prompt that no answer may contain (safety.py checks): the same for every
# generation of this project (derived from its name, nothing random), and no word a model would write.
CANARY = "AIOPS-CANARY-" + hashlib.sha256(PROJECT_NAME.encode("utf-8")).hexdigest()[:12].upper()
PROJECT_VARIABLES = {
    "project_name": PROJECT_NAME,
    "project_description": PROJECT_DESCRIPTION,
    "canary": CANARY,
}


def prompt_file(folder: Path, name: str) -> Path:
    """The prompt `name` (a variant's `prompt` input) in its flow's `folder`, links followed; a name
    that leads out of it (`../../.env`) is paths.OutsideProject: never read, never sent to a model."""
    return paths.inside(folder / name, folder, f"prompt {name!r}", "its flow's folder")


def render_chat(path: Path, **variables: object) -> list[dict[str, str]]:
    """Render the template, then split it into chat messages at each role header."""
    text = _ENV.from_string(path.read_text(encoding="utf-8")).render({**PROJECT_VARIABLES, **variables})
    parts = _ROLE_HEADER.split(text)
    if len(parts) < 3:
        raise ValueError(f"{path}: no '# system:' or '# user:' header found")
    return [
        {"role": role, "content": content.strip()}
        for role, content in zip(parts[1::2], parts[2::2], strict=True)
    ]
