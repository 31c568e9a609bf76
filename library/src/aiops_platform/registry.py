"""Data-asset registry with Azure ML's `name:version` semantics, locally or in a workspace.

A new version is created only when the content hash changes, so registering twice is a no-op.
The local registry (the default) keeps an immutable copy of each version, as Azure ML does, so
`azureml:name:1` still means the same bytes after the source file is edited. That promise holds
under concurrent and killed runs: registrations take turns on an OS lock (`flock` on
`.aiops/registry/.lock`, which the kernel releases when its holder dies, even by `kill -9`), a copy
is staged and renamed into place whole, and the recorded hash is the hash of that copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TextIO, cast

import yaml

from aiops_platform import azure_ml, paths
from aiops_platform.azure_ml import REGISTER_AGAIN, azure_errors
from aiops_platform.governance import GovernanceError
from aiops_platform.settings import get_settings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import Data

ASSET_PREFIX = "azureml:"
_REFERENCE = re.compile(r"^azureml:(?P<name>[A-Za-z0-9_-]+)(?::(?P<version>[0-9]+)|@(?P<label>latest))$")
TargetName = Literal["local", "azureml"]
LOCK_TIMEOUT_VARIABLE = "AIOPS_REGISTRY_LOCK_TIMEOUT"  # seconds a registration waits for another one
DEFAULT_LOCK_TIMEOUT = 300.0


class RegistryError(RuntimeError):
    """Registration could not happen; nothing was written. The message says why and what to do."""


@dataclass(frozen=True)
class DataSpec:
    """An Azure ML Data spec (`data/<name>.yml`), already validated by azure-ai-ml's loader."""

    name: str
    type: Literal["uri_file", "uri_folder"]
    path: Path
    description: str
    spec_file: Path


@dataclass(frozen=True)
class AssetVersion:
    name: str
    version: str
    sha256: str
    path: str
    source: str
    registered_at: str


@dataclass(frozen=True)
class Outcome:
    asset: AssetVersion
    created: bool


class Target(Protocol):
    """Where data assets are registered (and read back): the local registry or an Azure ML workspace."""

    def register(self, spec: DataSpec, sha256: str) -> Outcome: ...

    def resolve(self, reference: str) -> Path: ...


def is_asset_reference(text: str) -> bool:
    return text.startswith(ASSET_PREFIX)


def parse_reference(reference: str) -> tuple[str, str | None]:
    """`azureml:name:N` -> (name, "N"); `azureml:name@latest` -> (name, None). Syntax only, no I/O."""
    match = _REFERENCE.match(reference)
    if match is None:
        raise RegistryError(f"{reference!r} is not azureml:<name>:<version> or azureml:<name>@latest")
    return match["name"], match["version"]


def target(name: TargetName, project_root: Path) -> Target:
    """The chosen registry target (REGISTRY_TARGET or --target); the workspace client is lazy."""
    if name == "local":
        return LocalRegistry(project_root)
    return AzureMLRegistry(azure_ml.workspace_client(get_settings()), project_root)


def load_spec(spec_file: Path) -> DataSpec:
    """One `data/<name>.yml`, through `azure.ai.ml.load_data` so Azure would accept it too."""
    from azure.ai.ml import load_data
    from azure.ai.ml.exceptions import ValidationException
    from marshmallow.exceptions import ValidationError

    try:
        data = load_data(source=spec_file)
    except (ValidationException, ValidationError) as error:
        raise RegistryError(f"{spec_file}: not a valid Azure ML Data spec: {error}") from error
    raw = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    path = (spec_file.parent / raw["path"]).resolve()
    if not path.exists():
        raise RegistryError(f"{spec_file}: path does not exist: {path}")
    _inside_project(spec_file, path)
    kind = cast(Literal["uri_file", "uri_folder"], data.type)  # as the loader read it (typed str there)
    return DataSpec(cast(str, data.name), kind, path, data.description or "", spec_file)


def _inside_project(spec_file: Path, path: Path) -> None:
    """A version is a copy of project files: a path or symlink leading out of the project is refused,
    so registration never copies a file the repo does not hold (nor follows a link to one)."""
    project = paths.root(spec_file.parent)
    files = [path, *(sorted(path.rglob("*")) if path.is_dir() else [])]
    for file in files:
        shown = file if file == path else f"{file} (inside {path})"
        try:
            paths.inside(file, project, str(shown), "the project")
        except paths.OutsideProject as error:
            raise RegistryError(f"{spec_file}: path leaves the project: {error}") from error


def load_specs(data_dir: Path) -> list[DataSpec]:
    """Every `*.yml` under data/."""
    return [load_spec(spec_file) for spec_file in sorted(data_dir.glob("*.yml"))]


def content_hash(path: Path) -> str:
    """sha256 of a file, or of a folder's relative names and contents in sorted order."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


class LocalRegistry:
    """`<project>/.aiops/registry/`: index.json plus one immutable copy per version."""

    def __init__(self, project_root: Path) -> None:
        self.project = project_root
        self.root = project_root / paths.REGISTRY
        self.index_file = self.root / "index.json"

    def versions(self) -> dict[str, list[AssetVersion]]:
        if not self.index_file.exists():
            return {}
        raw = json.loads(self.index_file.read_text(encoding="utf-8"))
        return {name: [AssetVersion(**v) for v in versions] for name, versions in raw["data"].items()}

    def register(self, spec: DataSpec, sha256: str) -> Outcome:
        """`sha256` is the source's hash when read; the version records the hash of its own copy."""
        with self._lock():
            index = self.versions()
            history = index.get(spec.name, [])
            if history and history[-1].sha256 == sha256:
                return Outcome(history[-1], created=False)
            version = str(int(history[-1].version) + 1 if history else 1)
            folder = self.root / "data" / spec.name
            folder.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
            try:
                copy = staging / spec.path.name
                if spec.path.is_dir():
                    shutil.copytree(spec.path, copy)
                else:
                    shutil.copy2(spec.path, copy)
                copied = content_hash(copy)  # the source may have changed since it was hashed
                if history and history[-1].sha256 == copied:
                    return Outcome(history[-1], created=False)
                final = folder / version
                shutil.rmtree(final, ignore_errors=True)  # a killed run's copy the index never listed
                os.replace(staging, final)  # whole or not at all
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            asset = AssetVersion(
                name=spec.name,
                version=version,
                sha256=copied,
                path=(final / spec.path.name).relative_to(self.project).as_posix(),
                source=spec.path.relative_to(self.project.resolve()).as_posix(),
                registered_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            index[spec.name] = [*history, asset]
            self._write(index)
            return Outcome(asset, created=True)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One registration at a time: an OS advisory lock, gone with its holder's process."""
        self.root.mkdir(parents=True, exist_ok=True)
        timeout = float(os.environ.get(LOCK_TIMEOUT_VARIABLE) or DEFAULT_LOCK_TIMEOUT)
        with open(self.root / ".lock", "a+", encoding="utf-8") as handle:
            deadline = time.monotonic() + timeout
            while not _try_lock(handle):
                if time.monotonic() > deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise RegistryError(
                        f"another registration ({holder}) has held {self.root / '.lock'} for over "
                        f"{timeout:g} s; let it finish and run again ({LOCK_TIMEOUT_VARIABLE} sets the wait)"
                    )
                time.sleep(0.05)
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(f"pid {os.getpid()}")
                handle.flush()
                self._sweep_staging()
                yield
            finally:
                _unlock(handle)

    def _sweep_staging(self) -> None:
        """Copies left by killed runs: never listed in the index, safe to drop under the lock."""
        for leftover in (self.root / "data").glob("*/.staging-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def resolve(self, reference: str) -> Path:
        """`azureml:name:version` or `azureml:name@latest` -> the registered copy."""
        name, version = parse_reference(reference)
        history = self.versions().get(name, [])
        chosen = history[-1:] if version is None else [v for v in history if v.version == version]
        if not chosen:
            known = ", ".join(v.version for v in history) or "none"
            raise RegistryError(
                f"{reference} is not registered locally (versions: {known}); run `make register`"
            )
        return self.project / chosen[0].path

    def _write(self, index: dict[str, list[AssetVersion]]) -> None:
        """Atomic: a crash leaves the previous index, never half a file."""
        payload = {"data": {name: [asdict(v) for v in versions] for name, versions in sorted(index.items())}}
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.root, suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2)
            out.write("\n")
        os.replace(temporary, self.index_file)


class AzureMLRegistry:
    """Workspace data assets, tagged with the content hash; a version only when content changed."""

    def __init__(self, client: MLClient, project_root: Path) -> None:
        self.client = client
        self.cache = project_root / paths.REGISTRY / "azureml"  # downloaded versions, immutable
        self.region_checked = False

    def resolve(self, reference: str) -> Path:
        """The asset's version downloaded once into `.aiops/registry/azureml/<name>/<version>/`."""
        from azure.ai.ml._artifacts._artifact_utilities import download_artifact_from_aml_uri
        from azure.core.exceptions import ResourceNotFoundError

        name, version = parse_reference(reference)
        with azure_errors(f"resolve data asset {reference}", then="run the command again"):
            try:
                asset = self.client.data.get(name, version=version, label=None if version else "latest")
            except ResourceNotFoundError as error:
                raise RegistryError(f"{reference} is not registered in the workspace") from error
            folder = self.cache / name / str(asset.version)
            if not folder.is_dir():
                self.cache.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=".download-", dir=self.cache))
                download_artifact_from_aml_uri(str(asset.path), str(staging), self.client.datastores)
                folder.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging, folder)  # whole or not at all
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        return files[0] if asset.type == "uri_file" and len(files) == 1 else folder

    def register(self, spec: DataSpec, sha256: str) -> Outcome:
        from azure.ai.ml.entities import Data
        from azure.core.exceptions import ResourceNotFoundError

        self._within_residency()
        with azure_errors(f"register data asset {spec.name}", then=REGISTER_AGAIN):
            try:
                latest = self.client.data.get(spec.name, label="latest")
            except ResourceNotFoundError:
                latest = None
            if latest is not None and (latest.tags or {}).get("sha256") == sha256:
                return Outcome(self._as_version(latest, spec, sha256), created=False)
            version = str(int(latest.version) + 1) if latest is not None else "1"
            asset = Data(
                name=spec.name,
                version=version,
                type=spec.type,
                path=str(spec.path),
                description=spec.description,
                tags={"sha256": sha256},
            )
            created = self.client.data.create_or_update(asset)
        return Outcome(self._as_version(created, spec, sha256), created=True)

    def _within_residency(self) -> None:
        """Data goes to the workspace only where the use case agreed it may live; asked once."""
        if not self.region_checked:
            try:
                azure_ml.workspace_region(self.client, then=REGISTER_AGAIN)
            except GovernanceError as error:
                raise RegistryError(str(error)) from error
            self.region_checked = True

    @staticmethod
    def _as_version(asset: Data, spec: DataSpec, sha256: str) -> AssetVersion:
        return AssetVersion(
            asset.name or spec.name, str(asset.version), sha256, str(asset.path), str(spec.path), ""
        )


def _try_lock(handle: TextIO) -> bool:
    """Take the exclusive lock without waiting; False while another process holds it. POSIX `flock`."""
    import fcntl  # here, so the package still imports where there is none

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(handle: TextIO) -> None:
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def register_all(specs: list[DataSpec], target: Target) -> list[Outcome]:
    return [target.register(spec, content_hash(spec.path)) for spec in specs]
