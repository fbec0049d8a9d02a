"""pytest-xdist scheduling for fleets: one work unit per cluster, so each cluster is collected once, on one worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]


class ClusterScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no type information
    """xdist's scope scheduling with the cluster as the scope: `test_x[prod-eu:...]` belongs to `prod-eu`.

    A cluster's checks share its collected state and its waiver ledger, and its waivers are judged after
    its other checks, so they must run in order on one worker; different clusters run in parallel.
    """

    def __init__(self, config: Any, log: Any, members: Sequence[str]) -> None:
        super().__init__(config, log)
        self.members = [m for m in members if m]

    def _split_scope(self, nodeid: str) -> str:
        return next((m for m in self.members if f"[{m}:" in nodeid), "")
