"""The serving container's build context of a sample project, checked offline (the template's own
tests build and run the image): every COPY source exists, the copies lay the image out as the
project, the platform's server (`aiops serve`) listens where the deployment expects it, and
.dockerignore keeps local state out at any depth, by Docker's own rules."""

import re
import shutil
from pathlib import Path

import pytest
from conftest import LOCAL_STATE_FILES, PROJECT_ROOT, sample_project
from docker.utils.build import exclude_paths

from aiops_platform import paths, project

FLOW = project.load(PROJECT_ROOT).flow.as_posix()  # the qa sample's
PACKAGE = f"src/{project.load(PROJECT_ROOT).package}"  # the team's own modules
# The shared local state, plus what only a build context must also leave out.
PLANTED = [
    *LOCAL_STATE_FILES,
    f"{FLOW}/.venv/bin/python",
    ".git/HEAD",
    "azureml/experiment.pipeline.yml",
    "data/production_samples.jsonl",
    f"{FLOW}/__pycache__/flow.cpython-311.pyc",
    ".pytest_cache/README.md",
    ".ruff_cache/CACHEDIR.TAG",
]
STATE = (".venv", ".git", ".aiops", ".promptflow", "results", "azureml", "__pycache__", "*_cache")


def _dockerfile(project: Path) -> str:
    return (project / "deployment/Dockerfile").read_text(encoding="utf-8")


def _copy_sources(dockerfile: str) -> list[str]:
    copies = re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile, re.MULTILINE)
    return [source for sources in copies for source in sources.split()]


def test_dockerfile_copies_existing_paths_and_serves_on_8080(project_root: Path):
    dockerfile = _dockerfile(project_root)
    for source in _copy_sources(dockerfile):
        assert (project_root / source).exists(), f"COPY source missing: {source}"
    assert "EXPOSE 8080" in dockerfile
    command = r'^CMD \["aiops", "serve", "--host", "0\.0\.0\.0", "--port", "8080"\]$'  # the platform's server
    assert re.search(command, dockerfile, re.MULTILINE)


def _image_tree(project: Path, image: Path) -> Path:
    """The folder the Dockerfile's COPY lines fill (its WORKDIR), rebuilt under `image`."""
    dockerfile = _dockerfile(project)
    workdir = image / re.search(r"^WORKDIR\s+/(\S+)$", dockerfile, re.MULTILINE)[1]
    for line in re.findall(r"^COPY\s+(.+)$", dockerfile, re.MULTILINE):
        *sources, destination = line.split()
        for source in sources:
            target = workdir / destination / Path(source).name if len(sources) > 1 else workdir / destination
            target.parent.mkdir(parents=True, exist_ok=True)
            if (project / source).is_dir():
                shutil.copytree(project / source, target, ignore=shutil.ignore_patterns(*STATE))
            else:
                shutil.copyfile(project / source, target)
    return workdir


@pytest.mark.parametrize("kind", ["qa", "rag"])
def test_the_image_is_laid_out_as_the_project_the_flow_finds(kind: str, tmp_path: Path):
    """In the image the flow runs from WORKDIR/flows/<kind>: its project (answers, documents, index,
    state) must be WORKDIR, not the flow folder nor the checkout the tests run in."""
    root = sample_project(kind)
    app = _image_tree(root, tmp_path)
    assert paths.project(app / project.load(root).flow) == app
    assert project.load(app) == project.load(root)  # the use case's answers, read where it runs
    if kind == "rag":
        assert sorted((app / paths.DOCS).iterdir()), "the image holds no documents to retrieve from"


def _context(project: Path, extra: list[str] = ()) -> set[str]:
    """The files `docker build -f deployment/Dockerfile .` sends, as docker-py reads .dockerignore."""
    lines = (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    included = exclude_paths(str(project), [*patterns, *extra], dockerfile="deployment/Dockerfile")
    return {path for path in included if (project / path).is_file()}


def _planted_copy(project_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(project_root, copy, ignore=shutil.ignore_patterns(*STATE, ".env"), symlinks=True)
    for name in PLANTED:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text("local state\n", encoding="utf-8")
    return copy


def test_no_local_state_enters_the_image_at_any_depth(project_root: Path, tmp_path: Path):
    copy = _planted_copy(project_root, tmp_path)
    context = _context(copy)
    assert sorted(set(PLANTED) & context) == []
    needed = {"deployment/Dockerfile"}
    for source in _copy_sources(_dockerfile(copy)):
        files = [copy / source] if (copy / source).is_file() else (copy / source).rglob("*")
        needed |= {file.relative_to(copy).as_posix() for file in files if file.is_file()}
    needed -= set(PLANTED)
    answers = {"pyproject.toml", "README.md", "aiops.yaml", "governance.yaml"}
    assert {*answers, f"{PACKAGE}/__init__.py", f"{FLOW}/flow.py"} <= needed
    assert sorted(needed - context) == []


def test_a_prebuilt_index_gets_in_by_the_documented_exception_only(tmp_path: Path):
    copy = _planted_copy(sample_project("rag"), tmp_path)
    (copy / ".aiops/index/bm25").mkdir(parents=True)
    (copy / ".aiops/index/bm25/index.json").write_text("{}\n", encoding="utf-8")
    assert "!.aiops/index" in (copy / ".dockerignore").read_text(encoding="utf-8")  # the hint
    context = _context(copy, ["!.aiops/index"])
    assert ".aiops/index/bm25/index.json" in context
    assert sorted(set(PLANTED) & context) == []
