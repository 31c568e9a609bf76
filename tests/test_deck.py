"""The training deck renders in a real browser: every slide, none empty, none overflowing; and it is true.

`make deck` renders docs/training/aiops-training.md with Marp CLI (no browser needed). tests/deck_check.mjs
opens the HTML in Debian's chromium, driven by playwright-core (which downloads no browser), shows each
slide as a presenter would and measures it. `make test` installs both npm packages first.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from conftest import TEMPLATE

DECK = TEMPLATE / "docs" / "training" / "aiops-training.md"
PLAYWRIGHT_MODULE = TEMPLATE / "build" / "playwright" / "node_modules" / "playwright-core" / "package.json"
PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"


def slides_in(markdown: str) -> int:
    """Marp starts a slide at every `---` line after the front matter, outside code blocks."""
    lines = markdown.splitlines()
    assert lines[0] == "---", "the deck opens with its front matter (marp: true)"
    body = lines[lines.index("---", 1) + 1 :]
    separators, in_code = 0, False
    for line in body:
        if line.startswith("```"):
            in_code = not in_code
        separators += line == "---" and not in_code
    return separators + 1


def render(deck: Path, html: Path) -> None:
    """`make deck`, the target a presenter runs, with another deck and output where a test needs them."""
    command = ["make", "-C", str(TEMPLATE), "deck", f"DECK={deck}", f"DECK_HTML={html}"]
    made = subprocess.run(command, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stdout + made.stderr


def view(html: Path) -> dict:
    """What the browser shows, slide by slide (tests/deck_check.mjs)."""
    command = ["node", str(TEMPLATE / "tests" / "deck_check.mjs"), str(html)]
    env = {"PLAYWRIGHT_MODULE": str(PLAYWRIGHT_MODULE), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    shown = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def problems(shown: dict) -> dict[int, list[str]]:
    found = {slide["number"]: list(slide["problems"]) for slide in shown["slides"]}
    for slide in shown["slides"]:
        if not slide["text"] or not slide["boxes"]:
            found[slide["number"]].append("nothing visible")
    return {number: listed for number, listed in found.items() if listed}


def test_every_slide_of_the_training_deck_renders_visibly_without_overflow(tmp_path):
    html = tmp_path / "aiops-training.html"
    render(DECK, html)
    shown = view(html)
    expected = slides_in(DECK.read_text(encoding="utf-8"))
    assert expected >= 20, "the deck has lost most of its slides"
    assert [slide["number"] for slide in shown["slides"]] == list(range(1, expected + 1))
    assert problems(shown) == {}
    assert shown["errors"] == [], "the page's scripts failed"
    assert shown["requests"] == [], "the rendered deck fetches from the network"
    assert "Speaker:" not in shown["slides"][0]["text"], "speaker notes must stay off the slides"


def test_the_browser_check_names_overflowing_cut_off_and_empty_slides(tmp_path):
    """The same check on a small deck with one slide of each fault: it must name exactly those."""
    items = "\n".join(f"- item {n}" for n in range(1, 31))
    wide_row = "| " + " | ".join(["averyveryverylongcellvalue"] * 6) + " |"
    deck = tmp_path / "faulty.md"
    deck.write_text(
        "---\nmarp: true\n---\n\n# Fits\n\n---\n\n# Too long\n\n"
        f"{items}\n\n---\n\n| a | b | c | d | e | f |\n|---|---|---|---|---|---|\n{wide_row}\n\n---\n\n",
        encoding="utf-8",
    )
    html = tmp_path / "faulty.html"
    render(deck, html)
    shown = view(html)
    assert len(shown["slides"]) == slides_in(deck.read_text(encoding="utf-8")) == 4
    found = problems(shown)
    assert sorted(found) == [2, 3, 4]
    assert any("overflows the slide" in problem for problem in found[2])
    assert any("<ul>" in problem and "outside the slide" in problem for problem in found[2])
    assert any("<table>" in problem and "cut off" in problem for problem in found[3])
    assert found[4] == ["nothing visible"]


def make_targets(makefile: Path) -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", makefile.read_text(encoding="utf-8"), re.MULTILINE))


def test_every_make_command_in_the_deck_is_a_real_target():
    """The demo script runs in the template or in a generated project: each `make x` must exist there."""
    commands = r"(?:^|`)make ([a-z][a-z-]*)"  # in code, not prose such as "a make target"
    named = set(re.findall(commands, DECK.read_text(encoding="utf-8"), re.MULTILINE))
    known = make_targets(TEMPLATE / "Makefile") | make_targets(PROJECT / "Makefile")
    assert named - known == set()
    assert {"demo", "new", "experiment", "gate", "serve", "monitor", "doctor"} <= named


def test_every_file_the_deck_names_exists_in_the_template_or_the_project():
    """Paths in backticks (not patterns such as `flows/<kind>/`) are files of the template or a generated
    project; the demo's flow is the qa one (`flows/qa/` is `flows/{{cookiecutter.flow_kind}}/` here)."""
    named = set(re.findall(r"`([\w.-]+(?:/[\w.-]+)+/?)`", DECK.read_text(encoding="utf-8")))
    missing = []
    for path in sorted(named):
        rendered = path.replace("flows/qa/", "flows/{{cookiecutter.flow_kind}}/")
        if path.startswith(("build/", "results/", ".aiops/")) or "..." in path:  # made by running; elided
            continue
        if not ((TEMPLATE / rendered).exists() or (PROJECT / rendered).exists()):
            missing.append(path)
    assert named and missing == []
