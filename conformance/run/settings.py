"""What a run judges: each cluster (fleet member) with its profile, source and run directory, complete when made."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from conformance.cluster.live import Target
from conformance.profile.loader import LoadedProfile


@dataclass(frozen=True)
class RunSettings:
    """One cluster judged against one profile: the whole run, or one member of a fleet run."""

    profile: LoadedProfile
    snapshot: Path | None
    target: Target | None
    run_dir: Path
    reports_root: Path
    member: str = ""  # the cluster's name within a fleet; "" when the run judges a single cluster

    @property
    def evidence_dir(self) -> Path:
        return self.run_dir / "evidence" / self.member if self.member else self.run_dir / "evidence"

    @property
    def source_kind(self) -> str:
        return "snapshot" if self.snapshot is not None else "live"

    @property
    def source_label(self) -> str:
        if self.snapshot is not None:
            return f"snapshot {self.snapshot}"
        assert self.target is not None
        return f"live {self.target.label}"


@dataclass(frozen=True)
class Fleet:
    """Every cluster one run judges, each with its own profile; a single-cluster run is a fleet of one."""

    name: str  # names the run directory and the report
    members: tuple[RunSettings, ...]
    source: Path | None = None  # the fleet file, when the members came from one

    @property
    def run_dir(self) -> Path:
        return self.members[0].run_dir

    @property
    def reports_root(self) -> Path:
        return self.members[0].reports_root

    @property
    def several(self) -> bool:
        return self.source is not None or len(self.members) > 1

    def member(self, name: str) -> RunSettings:
        return next(m for m in self.members if m.member == name)

    @property
    def sha256(self) -> str:
        """The expectations' digest: the profile's, or for several clusters one over each cluster's name and profile."""
        if not self.several:
            return self.members[0].profile.sha256
        digest = hashlib.sha256()
        for m in self.members:
            digest.update(f"{m.member}\0{m.profile.sha256}\n".encode())
        return digest.hexdigest()

    @property
    def source_kind(self) -> str:
        """`snapshot` or `live`, or `mixed` for a fleet of both: runs of one kind are compared with each other."""
        kinds = {m.source_kind for m in self.members}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def label(self) -> str:
        """How reports name what was judged: `profile prod, snapshot DIR`, or `fleet NAME (3 clusters)`."""
        if not self.several:
            return f"profile {self.members[0].profile.name}, {self.members[0].source_label}"
        return f"fleet {self.name} ({len(self.members)} clusters: {', '.join(m.member for m in self.members)})"
