"""Run integrity: each run directory's manifest.json (file hashes, profile, suite, cluster, identity, outcomes).

`python -m conformance verify reports/<run>` re-hashes a run directory against its manifest.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import pytest

from conformance import __version__
from conformance.checkout import git_revision
from conformance.run.result import Identity, RunResult
from conformance.run.settings import Fleet, RunSettings

__all__ = ["MANIFEST", "Manifest", "git_revision", "verify_command", "verify_run"]

MANIFEST = "manifest.json"
FORMAT = "cluster-conformance/manifest/v1"
# Detached signatures of the manifest sit beside it (README: Signing a run); they sign it, it cannot list them.
SIGNATURES = frozenset(
    {"manifest.sig.bundle", "manifest.sigstore.json", "manifest.intoto.sigstore.json", "manifest.intoto.jsonl"}
)
VERDICTS = ("passed", "failed", "error", "waived", "skipped")
_CHUNK = 1 << 20

# Directories tools derive from a finished run, beside its files (`allure generate ... -o <run>/allure-report`):
# listed in the manifest as derived, so `verify` says they are there and does not count them as added.
DERIVED = ("allure-report",)

# Exit codes of `verify`: like the suite's, 1 means "does not conform" and 3 "cannot judge".
VERIFY_OK, VERIFY_MISMATCH, VERIFY_UNUSABLE = 0, 1, 3


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


def file_digests(run_dir: Path, known: Callable[[Path], str | None] = lambda _path: None) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file of the run; evidence written by this run and unchanged since is not
    read again (`known`: conformance.written hashed it as it was written)."""
    return {
        relative: {
            "sha256": known(run_dir / relative) or sha256_file(run_dir / relative),
            "size": (run_dir / relative).stat().st_size,
        }
        for relative in run_files(run_dir)
    }


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


def _members_section(result: RunResult, fleet: Fleet) -> dict[str, dict[str, Any]]:
    sections = {}
    for member in fleet.members:
        found = result.identities.get(member.member)
        sections[member.member] = {
            "profile": _profile_section(member),
            "source": member.source_label,
            "cluster": found.cluster.as_dict() if found is not None and found.cluster is not None else None,
            "identity": _identity_section(found),
        }
    return sections


def build_manifest(
    result: RunResult,
    fleet: Fleet,
    finished_at: datetime,
    digest: Callable[[Path], str | None] = lambda _path: None,
) -> Any:
    """The manifest document; `files` hashes what is in the run directory now."""
    suite: dict[str, Any] = {"name": "cluster-conformance", "version": __version__}
    if result.git is not None:
        suite["git"] = dict(result.git)
    verdicts = [record.verdict for record in result.records]
    run: dict[str, Any] = {
        "directory": result.run_dir.name,
        "started_at": utc_text(result.started_at),
        "finished_at": utc_text(finished_at),
        "verdict": result.verdict.word,
        "gate": result.verdict.gate,
        "exit_code": result.verdict.code,
        "checks": len(verdicts),
        "outcomes": outcome_counts(verdicts),
        "source": fleet.source_kind,  # snapshot, live or mixed: what a trend compares like with like
    }
    files = file_digests(result.run_dir, digest)
    derived = {"derived": list(DERIVED)}
    if result.several:
        # A fleet: the run judged several clusters, each against its own profile.
        return {
            "format": FORMAT,
            "suite": suite,
            "run": run,
            "clusters": _members_section(result, fleet),
            "files": files,
        }
    settings = fleet.members[0]
    found = result.identities.get(settings.member)
    return {
        "format": FORMAT,
        "suite": suite,
        "profile": _profile_section(settings),
        "run": run,
        "cluster": found.cluster.as_dict() if found is not None and found.cluster is not None else None,
        "identity": _identity_section(found),
        **derived,
        "files": files,
    }


def write_manifest(run_dir: Path, manifest: Any) -> Path:
    """Write manifest.json whole or not at all (a reader never sees half a manifest)."""
    path = run_dir / MANIFEST
    temporary = run_dir / f"{MANIFEST}.tmp"
    temporary.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    os.replace(temporary, path)
    return path


class Manifest:
    """Seals the run once every file is written: manifest.json."""

    def __init__(self, fleet: Fleet, digest: Callable[[Path], str | None]) -> None:
        self.fleet = fleet
        self.digest = digest  # of the files the run wrote through the redaction layer, unchanged since

    def pytest_conformance_finished(self, result: RunResult, config: pytest.Config) -> None:
        try:
            write_manifest(result.run_dir, build_manifest(result, self.fleet, datetime.now(UTC), self.digest))
        except OSError as exc:
            print(f"conformance: could not write {result.run_dir / MANIFEST}: {exc}", file=sys.stderr)


def _identity_section(found: Identity | None) -> dict[str, Any]:
    """Who the run was, or why that is unknown."""
    if found is not None and found.identity is not None:
        return found.identity.as_dict()
    reason = found.error if found is not None and found.error else "the run ended before the lookup"
    return {"username": "unknown", "reason": reason}


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
    derived: dict[str, int] = field(default_factory=dict)  # derived directory -> files in it (not verified)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.added or self.unreadable)


def _safe_relative(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def load_manifest_files(run_dir: Path) -> dict[str, str]:
    """path -> sha256 from the run directory's manifest; ManifestError says why it is unusable."""
    return _load_manifest(run_dir)[0]


def _load_manifest(run_dir: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    """The manifest's file digests and the derived directories it names."""
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
    derived = document.get("derived", [])
    if not isinstance(derived, list) or not all(isinstance(d, str) and _safe_relative(d) for d in derived):
        raise ManifestError(f'{path}: "derived" is not a list of directories inside the run directory')
    return digests, tuple(derived)


def verify_run(run_dir: Path) -> Verification:
    """Compare every file of the run directory with its manifest: changed, missing, added, unreadable."""
    if not run_dir.is_dir():
        raise ManifestError(f"{run_dir}: not a directory")
    expected, derived = _load_manifest(run_dir)
    present = set(run_files(run_dir))
    result = Verification(run_dir, len(expected))
    for directory in derived:
        inside = {name for name in present - expected.keys() if name.startswith(f"{directory}/")}
        if inside:
            result.derived[directory] = len(inside)
            present -= inside
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
    for directory, count in sorted(result.derived.items()):
        print(f"derived: {directory}/ ({count} files made from the run afterwards, not part of what it sealed)")
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
