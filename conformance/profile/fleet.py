"""Fleet files: several clusters, each judged against its own profile, in one run.

```yaml
apiVersion: conformance/v1alpha1
kind: Fleet
metadata: {name: 254carbon}
clusters:
  - {name: prod-eu, profile: prod, context: prod-eu}
  - {name: prod-us, profile: prod, kubeconfig: ~/.kube/us.yaml}
  - {name: staging, profile: staging, snapshot: ../../snapshots/254carbon}
```

Relative paths (profile paths, snapshots, kubeconfigs) are relative to the fleet file's directory;
profile names are looked up in the profiles directory as for `--profile`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from conformance.errors import ProfileError
from conformance.profile.loader import _read_yaml, located_problems
from conformance.profile.model_base import Strict

# A member's name is part of test ids and of evidence paths: keep it to what is safe in both.
MEMBER_NAME = r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$"


class FleetError(ProfileError):
    """A fleet file that cannot be used; carries every problem found."""

    KIND = "fleet"


class FleetMetadata(Strict):
    name: str = Field(pattern=MEMBER_NAME)
    description: str | None = None


class FleetCluster(Strict):
    """One cluster of the fleet: its profile, and where its state comes from (a snapshot, or kubeconfig)."""

    name: str = Field(pattern=MEMBER_NAME)
    profile: str
    snapshot: str | None = None
    context: str | None = None
    kubeconfig: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FleetCluster:
        if self.snapshot is not None and (self.context is not None or self.kubeconfig is not None):
            raise ValueError("a snapshot is captured state; it cannot be combined with context or kubeconfig")
        return self


class FleetFile(Strict):
    api_version: Literal["conformance/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Fleet"]
    metadata: FleetMetadata
    clusters: list[FleetCluster] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_names(self) -> FleetFile:
        names = [c.name for c in self.clusters]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"cluster names must be distinct: {', '.join(repeated)} appear more than once")
        return self


@dataclass(frozen=True)
class MemberSpec:
    """What one member of a run needs resolved: its name, profile reference and source of state."""

    name: str
    profile: str
    snapshot: str | None = None
    context: str | None = None
    kubeconfig: str | None = None


def load_fleet(path: Path) -> tuple[FleetFile, list[MemberSpec]]:
    """Read and validate a fleet file; FleetError lists every problem with its line."""
    if not path.is_file():
        raise FleetError(str(path), ["no such file"])
    try:
        document = _read_yaml(path)
    except ProfileError as exc:
        raise FleetError(str(path), exc.problems) from None
    try:
        fleet = FleetFile.model_validate(document)
    except ValidationError as exc:
        raise FleetError(str(path), located_problems(exc, [(path, document)], FleetFile)) from None
    base = path.parent

    def relative(value: str | None) -> str | None:
        if value is None:
            return None
        expanded = Path(value).expanduser()
        return os.path.normpath(expanded if expanded.is_absolute() else base / expanded)

    def profile_ref(ref: str) -> str:
        # A bare name is looked up in the profiles directory; a path is relative to the fleet file.
        return relative(ref) or ref if (ref.endswith((".yaml", ".yml")) or "/" in ref) else ref

    members = [
        MemberSpec(c.name, profile_ref(c.profile), relative(c.snapshot), c.context, relative(c.kubeconfig))
        for c in fleet.clusters
    ]
    return fleet, members
