"""A run's resolved settings, shared between hooks and fixtures through `config.stash`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.check import Finding
from conformance.cluster.live import Target
from conformance.cluster.state import ClusterState
from conformance.gate import Verdict
from conformance.profile.loader import LoadedProfile
from conformance.records import CheckRecord


@dataclass
class RunSettings:
    profile: LoadedProfile
    snapshot: Path | None
    target: Target | None
    run_dir: Path
    reports_root: Path
    evidence_files: list[Path] = field(default_factory=list)

    @property
    def evidence_dir(self) -> Path:
        return self.run_dir / "evidence"

    @property
    def source_label(self) -> str:
        if self.snapshot is not None:
            return f"snapshot {self.snapshot}"
        assert self.target is not None
        return f"live {self.target.label}"


SETTINGS_KEY = pytest.StashKey[RunSettings]()
STATE_KEY = pytest.StashKey[ClusterState]()
FINDING_KEY = pytest.StashKey[Finding]()
RECORD_KEY = pytest.StashKey[CheckRecord]()
VERDICT_KEY = pytest.StashKey[Verdict]()
EXIT_KEY = pytest.StashKey[int]()
# Names of checks failing now that did not fail in the --compare baseline (set by the drift comparison).
NEW_FAILURES_KEY = pytest.StashKey[frozenset[str]]()
