"""The serving container's build context, checked offline (no Docker engine runs here, so the
image build itself is not exercised): every COPY source exists and the server listens where the
deployment expects it."""

import re
from pathlib import Path


def test_dockerfile_copies_existing_paths_and_serves_on_8080(project_root: Path):
    dockerfile = (project_root / "deployment/Dockerfile").read_text(encoding="utf-8")
    for sources in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile, re.MULTILINE):
        for source in sources.split():
            assert (project_root / source).exists(), f"COPY source missing: {source}"
    assert "EXPOSE 8080" in dockerfile
    command = r'^CMD \[.*"serve", "--host", "0\.0\.0\.0", "--port", "8080"\]$'
    assert re.search(command, dockerfile, re.MULTILINE)


def test_dockerignore_keeps_secrets_and_local_state_out(project_root: Path):
    ignored = set((project_root / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".env", ".venv", ".promptflow", ".aiops", "results"} <= ignored
