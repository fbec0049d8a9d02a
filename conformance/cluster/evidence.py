"""Writing evidence: the state a run judged, in the snapshot format, so it can be re-evaluated offline.

Every byte written passes through conformance.secrets: Kubernetes lists, service bodies (already
sanitized by their service) and meta.json alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from conformance import __version__, secrets
from conformance.cluster.resources import resource
from conformance.cluster.state import ClusterState

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def _store(path: Path, body: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(secrets.redact_bytes(body))
    return path


def write_evidence(state: ClusterState, directory: Path) -> list[Path]:
    """Write meta.json and one kubectl-style List per collected resource; return the files written."""
    (directory / "kubernetes").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    provenance = state.provenance
    meta: dict[str, Any] = {
        "collected_at": provenance.collected_at.isoformat().replace("+00:00", "Z"),
        "source": provenance.mode,
        "server": provenance.location if provenance.mode == "live" else None,
        "snapshot": provenance.location if provenance.mode == "snapshot" else None,
        "context": provenance.context,
        "server_version": provenance.server_version,
        "suite_version": __version__,
        "errors": {name: error.reason for name, error in sorted({**state.errors, **state.service_errors}.items())},
    }
    if not provenance.collected_at_known:
        # Re-evaluating this evidence must not pretend to know when the original state was taken.
        meta.pop("collected_at")
        meta["collected_at_unknown"] = True
    meta_body = orjson.dumps({k: v for k, v in meta.items() if v is not None}, option=_OPTIONS)
    written.append(_store(directory / "meta.json", meta_body))
    for name, items in sorted(state.lists.items()):
        res = resource(name)
        api_version = state.api_versions.get(name) or (
            f"{res.group}/{res.version}" if res.group else (res.version or "v1")
        )
        kind = res.kind
        listed = [{"apiVersion": api_version, "kind": kind, **item} if kind else item for item in items]
        document = {"apiVersion": "v1", "items": listed, "kind": "List", "metadata": {"resourceVersion": ""}}
        written.append(_store(directory / res.snapshot_file, orjson.dumps(document, option=_OPTIONS)))
    for key, body in sorted(state.documents.items()):
        written.append(_store(directory / key, body))
    return written
