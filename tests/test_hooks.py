"""The post-generation hook: never fails generation, and does nothing during a cruft update render."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import load_hook

post_gen = load_hook("post_gen_project")


def test_cruft_update_renders_are_recognised_by_their_temp_folder():
    scratch = Path(tempfile.gettempdir()).resolve() / "tmpa1b2c3d4"
    assert post_gen.is_update_render(scratch / "qcp-assistant")


def test_real_generations_are_not_update_renders(tmp_path: Path):
    assert not post_gen.is_update_render(tmp_path / "qcp-assistant")  # pytest's own tmp tree
    assert not post_gen.is_update_render(Path.home() / "projects" / "qcp-assistant")


def test_an_update_render_has_no_side_effects(monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(post_gen, "REGISTER_ON_GENERATE", True)
    monkeypatch.setattr(post_gen, "register", calls.append)
    with tempfile.TemporaryDirectory() as scratch:  # exactly what cruft makes: <tmp>/tmpXXXXXXXX/<slug>
        project = Path(scratch).resolve() / "qcp-assistant"
        project.mkdir()
        monkeypatch.chdir(project)
        assert post_gen.main() == 0
        assert calls == []
        assert not (project / ".git").exists()


def test_without_project_dependencies_registration_is_skipped_with_the_rerun_command(bake, capfd):
    project = bake()
    out = capfd.readouterr().out
    assert "Skipped: registering data assets and connections" in out
    assert "make register" in out
    assert (project / "experiment.yaml").is_file()
