"""Run integrity: each run directory's manifest.json (file hashes, profile, suite, cluster, identity, outcomes).

`python -m conformance verify reports/<run>` re-hashes a run directory against its manifest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import pytest

from conformance import __version__, outputs, secrets
from conformance.cluster.identity import ClusterIdentity, RunIdentity, live_identity, snapshot_identity
from conformance.cluster.state import ClusterState
from conformance.options import is_worker
from conformance.records import RECORDS_KEY
from conformance.settings import FLEET_KEY, SETTINGS_KEY, STATES_KEY, RunSettings, primary_state

MANIFEST = "manifest.json"
FORMAT = "cluster-conformance/manifest/v1"
# Detached signatures of the manifest sit beside it (README: Signing a run); they sign it, it cannot list them.
SIGNATURES = frozenset(
    {"manifest.sig.bundle", "manifest.sigstore.json", "manifest.intoto.sigstore.json", "manifest.intoto.jsonl"}
)
VERDICTS = ("passed", "failed", "error", "waived", "skipped")
GIT_TIMEOUT_SECONDS = 5.0
_CHUNK = 1 << 20

# Exit codes of `verify`: like the suite's, 1 means "does not conform" and 3 "cannot judge".
VERIFY_OK, VERIFY_MISMATCH, VERIFY_UNUSABLE = 0, 1, 3


@dataclass
class RunFacts:
    """What the manifest needs that only earlier hooks can see."""

    started_at: datetime
    git: dict[str, Any] | None
    exit_code: int | None = None
    cluster: ClusterIdentity | None = None
    identity: RunIdentity | None = None
    lookup_error: str | None = None
    # A fleet run: each cluster's identity (or why it could not be looked up), by cluster name.
    members: dict[str, dict[str, Any]] = field(default_factory=dict)


_FACTS_KEY = pytest.StashKey[RunFacts]()


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _excluded(relative: str) -> bool:
    return relative == MANIFEST or relative in SIGNATURES or relative == f"{MANIFEST}.tmp"


def run_files(run_dir: Path) -> list[str]:
    """Every file below the run directory (POSIX paths relative to it), except the manifest and its signatures."""
    found: list[str] = []
    for directory, dirnames, filenames in os.walk(run_dir):
        dirnames.sort()
        base = Path(directory)
        for name in filenames:
            relative = (base / name).relative_to(run_dir).as_posix()
            if not _excluded(relative):
                found.append(relative)
    return sorted(found)


def file_digests(run_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file of the run; evidence written by this run and unchanged since is not
    read again (conformance.outputs hashed it as it was written)."""
    return {
        relative: {
            "sha256": outputs.digest(run_dir / relative) or sha256_file(run_dir / relative),
            "size": (run_dir / relative).stat().st_size,
        }
        for relative in run_files(run_dir)
    }


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_revision(root: Path) -> dict[str, Any] | None:
    """{"commit", "dirty"} of the checkout at root; None when it is not one or git is missing."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None or not commit.strip():
        return None
    revision: dict[str, Any] = {"commit": commit.strip()}
    status = _git(root, "status", "--porcelain")
    if status is None:
        revision["dirty"] = None  # unknown: status timed out or failed
    else:
        revision["dirty"] = bool(status.strip())
    return revision


def outcome_counts(verdicts: Sequence[str]) -> dict[str, int]:
    return {verdict: sum(1 for v in verdicts if v == verdict) for verdict in VERDICTS}


def _profile_section(settings: RunSettings) -> dict[str, Any]:
    loaded = settings.profile
    chain = []
    for path in loaded.chain:
        try:
            digest: str | None = sha256_file(path)
        except OSError:
            digest = None
        chain.append({"path": str(path), "sha256": digest})
    return {"name": loaded.name, "path": str(loaded.path), "sha256": loaded.sha256, "chain": chain}


def build_manifest(settings: RunSettings, facts: RunFacts, verdicts: Sequence[str], finished_at: datetime) -> Any:
    """The manifest document; `files` hashes what is in the run directory now."""
    suite: dict[str, Any] = {"name": "cluster-conformance", "version": __version__}
    if facts.git is not None:
        suite["git"] = facts.git
    run: dict[str, Any] = {
        "directory": settings.run_dir.name,
        "started_at": utc_text(facts.started_at),
        "finished_at": utc_text(finished_at),
        "exit_code": facts.exit_code,
        "checks": len(verdicts),
        "outcomes": outcome_counts(verdicts),
    }
    if facts.members:
        # A fleet: the run judged several clusters, each against its own profile.
        return {
            "format": FORMAT,
            "suite": suite,
            "run": run,
            "clusters": facts.members,
            "files": file_digests(settings.run_dir),
        }
    return {
        "format": FORMAT,
        "suite": suite,
        "profile": _profile_section(settings),
        "run": run,
        "cluster": facts.cluster.as_dict() if facts.cluster is not None else None,
        "identity": _identity_section(facts.identity, facts.lookup_error),
        "files": file_digests(settings.run_dir),
    }


def write_manifest(run_dir: Path, manifest: Any) -> Path:
    """Write manifest.json whole or not at all (a reader never sees half a manifest)."""
    path = run_dir / MANIFEST
    temporary = run_dir / f"{MANIFEST}.tmp"
    temporary.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    os.replace(temporary, path)
    return path


# -- pytest hooks ------------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # plugin.py's tryfirst configure has made the run directory (controller only) before this runs.
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return
    config.stash[_FACTS_KEY] = RunFacts(datetime.now(UTC), git_revision(Path(config.rootpath)))


def _identity_section(identity: RunIdentity | None, error: str | None) -> dict[str, Any]:
    """Who the run was, or why that is unknown."""
    if identity is not None:
        return identity.as_dict()
    return {"username": "unknown", "reason": error or "the run ended before the lookup"}


def _identify(
    settings: RunSettings, state: ClusterState | None
) -> tuple[ClusterIdentity | None, RunIdentity | None, str | None]:
    """Which cluster this was and who the run was, or why that could not be found out."""
    try:
        if settings.snapshot is not None:
            return (*snapshot_identity(settings.snapshot, state), None)
        if settings.target is not None:
            return (*live_identity(settings.target, settings.profile.profile.collection, state), None)
    except Exception as exc:  # bookkeeping must never turn a verdict into a crash
        return None, None, secrets.redact_text(f"{type(exc).__name__}: {exc}")
    return None, None, None


def _lookup(config: pytest.Config, settings: RunSettings, facts: RunFacts) -> None:
    fleet = config.stash.get(FLEET_KEY, None)
    if fleet is None or not fleet.several:
        facts.cluster, facts.identity, facts.lookup_error = _identify(settings, primary_state(config))
        return
    # With pytest-xdist the states stay on the workers; the lookups then ask the clusters (or snapshots) directly.
    states = config.stash.get(STATES_KEY, {})
    for member in fleet.members:
        cluster, identity, error = _identify(member, states.get(member.member))
        facts.members[member.member] = {
            "profile": _profile_section(member),
            "source": member.source_label,
            "cluster": cluster.as_dict() if cluster is not None else None,
            "identity": _identity_section(identity, error),
        }


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    # Outermost wrapper: the identity lookups happen once, and the exit status is read after every other
    # sessionfinish (junitxml, pytest-html, the latest link) has run and could have changed it.
    config = session.config
    settings = config.stash.get(SETTINGS_KEY, None)
    facts = config.stash.get(_FACTS_KEY, None)
    if settings is not None and facts is not None and not is_worker(config):
        _lookup(config, settings, facts)
    try:
        return (yield)
    finally:
        if facts is not None:
            facts.exit_code = int(session.exitstatus)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> Generator[None, None, None]:
    # The outermost wrapper, writing after yield: after every plugin's unconfigure (trylast ones included),
    # after pytest-html and junitxml (sessionfinish) and allure (during the run), so every file is there.
    try:
        return (yield)
    finally:
        _write(config)


def _write(config: pytest.Config) -> None:
    settings = config.stash.get(SETTINGS_KEY, None)
    facts = config.stash.get(_FACTS_KEY, None)
    if settings is None or facts is None or not settings.run_dir.is_dir() or is_worker(config):
        return
    verdicts = [record.verdict for record in config.stash.get(RECORDS_KEY, [])]
    try:
        write_manifest(settings.run_dir, build_manifest(settings, facts, verdicts, datetime.now(UTC)))
    except OSError as exc:
        print(f"conformance: could not write {settings.run_dir / MANIFEST}: {exc}", file=sys.stderr)


# -- verification ------------------------------------------------------------------------------------------


class ManifestError(Exception):
    """manifest.json is missing or not a manifest: nothing can be verified."""


@dataclass
class Verification:
    run_dir: Path
    listed: int
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.added or self.unreadable)


def _safe_relative(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def load_manifest_files(run_dir: Path) -> dict[str, str]:
    """path -> sha256 from the run directory's manifest; ManifestError says why it is unusable."""
    path = run_dir / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest.json (runs write one when they end)") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ManifestError(f'{path}: not a run manifest (expected "format": "{FORMAT}")')
    files = document.get("files")
    if not isinstance(files, dict):
        raise ManifestError(f'{path}: "files" is missing or not an object')
    digests: dict[str, str] = {}
    for name, entry in files.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not _safe_relative(name):
            raise ManifestError(f"{path}: files: {name!r} is not a path inside the run directory")
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ManifestError(f"{path}: files[{name!r}]: sha256 is not 64 lowercase hex digits")
        digests[name] = digest
    return digests


def verify_run(run_dir: Path) -> Verification:
    """Compare every file of the run directory with its manifest: changed, missing, added, unreadable."""
    if not run_dir.is_dir():
        raise ManifestError(f"{run_dir}: not a directory")
    expected = load_manifest_files(run_dir)
    present = set(run_files(run_dir))
    result = Verification(run_dir, len(expected))
    for name, digest in sorted(expected.items()):
        if name not in present:
            result.missing.append(name)
            continue
        try:
            actual = sha256_file(run_dir / name)
        except OSError as exc:
            result.unreadable.append((name, exc.strerror or str(exc)))
            continue
        if actual != digest:
            result.changed.append(name)
    result.added = sorted(present - expected.keys())
    return result


def verify_command(argument: str) -> int:
    """`python -m conformance verify DIR`: one OK line (exit 0), every difference (exit 1), or why not (exit 3)."""
    shown = Path(argument)
    try:
        result = verify_run(shown.resolve() if shown.is_symlink() else shown)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return VERIFY_UNUSABLE
    where = f"{shown} -> {shown.resolve()}" if shown.is_symlink() else str(shown)
    if result.ok:
        print(f"OK {where}: {result.listed} files match {MANIFEST}")
        return VERIFY_OK
    for name in result.changed:
        print(f"changed: {name}")
    for name in result.missing:
        print(f"missing: {name}")
    for name in result.added:
        print(f"added: {name}")
    for name, reason in result.unreadable:
        print(f"unreadable: {name} ({reason})")
    counts = [
        f"{len(items)} {label}"
        for label, items in (
            ("changed", result.changed),
            ("missing", result.missing),
            ("added", result.added),
            ("unreadable", result.unreadable),
        )
        if items
    ]
    print(f"FAILED {where}: {', '.join(counts)} (manifest lists {result.listed} files)")
    return VERIFY_MISMATCH
