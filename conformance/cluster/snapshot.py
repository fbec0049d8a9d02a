"""Reading a snapshot directory: the captured-state format anyone can produce with kubectl.

```
meta.json                               optional: collected_at, context, server, server_version, errors
kubernetes/<resource>.json              `kubectl get <resource> -A -o json`
kubernetes/<resource>.<group>.json      the same for other API groups
kubernetes/nodes.metrics.k8s.io.json    `kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes`
```
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson

from conformance.cluster.redaction import strip_object
from conformance.cluster.resources import Resource
from conformance.cluster.state import ClusterState, Provenance, ResourceStats
from conformance.errors import ConformanceError, SourceError
from conformance.services.source import ServiceSource


class SnapshotError(ConformanceError):
    """The snapshot directory itself is unusable (as opposed to one of its files)."""


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 as Kubernetes writes it (`2025-10-22T03:30:00Z`), always timezone-aware."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone")
    return value


def read_meta(directory: Path) -> dict[str, Any]:
    path = directory / "meta.json"
    if not path.exists():
        return {}
    try:
        meta = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise SnapshotError(f"{path}: expected a JSON object")
    return meta


def snapshot_provenance(directory: Path, meta: dict[str, Any]) -> Provenance:
    collected = meta.get("collected_at")
    if collected is None:
        return Provenance("snapshot", str(directory), datetime.now(UTC), collected_at_known=False)
    try:
        when = parse_timestamp(str(collected))
    except ValueError as exc:
        raise SnapshotError(f"{directory / 'meta.json'}: collected_at: {exc}") from None
    return Provenance(
        "snapshot",
        str(directory),
        when,
        context=meta.get("context"),
        server_version=meta.get("server_version"),
    )


@dataclass(frozen=True)
class ListPage:
    items: list[dict[str, Any]]
    api_version: str | None
    continue_token: str | None


def _page_facts(document: dict[str, Any], items: list[Any]) -> tuple[str | None, str | None]:
    """(apiVersion of the items, continue token) of a parsed list document."""
    api_version = document.get("apiVersion")
    if document.get("kind") == "List" and items and isinstance(items[0], dict):
        api_version = items[0].get("apiVersion", api_version)
    metadata = document.get("metadata")
    token = metadata.get("continue") if isinstance(metadata, dict) else None
    return (
        api_version if isinstance(api_version, str) else None,
        token if isinstance(token, str) and token else None,
    )


def _page(resource: Resource, document: Any, origin: str) -> ListPage:
    """A parsed list document as a page; SourceError if it is not a list or an item has no name."""
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise SourceError(resource.name, f"{origin} is not a list: it has no items array")
    items = document["items"]
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
            raise SourceError(resource.name, f"{origin}: items[{position}] has no metadata")
        if not item["metadata"].get("name"):
            raise SourceError(resource.name, f"{origin}: items[{position}] has no metadata.name")
    return ListPage(items, *_page_facts(document, items))


def parse_list(resource: Resource, body: bytes, origin: str) -> ListPage:
    """Items of a list document (kubectl `List` or a typed `...List`), stripped; SourceError if malformed."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SourceError(resource.name, f"{origin} is not valid JSON ({exc})") from None
    page = _page(resource, document, origin)
    for item in page.items:
        strip_object(item)
    return page


def parse_projected(resource: Resource, body: bytes, origin: str, decoder: msgspec.json.Decoder[Any]) -> ListPage:
    """The projected items of a list page (conformance.cluster.projection), parsed in one pass; SourceError
    if malformed. What a projection keeps needs no stripping: it holds no annotations, env or managedFields."""
    try:
        document = decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise SourceError(resource.name, f"{origin} is not a well-formed list: {exc}") from None
    except msgspec.DecodeError as exc:
        raise SourceError(resource.name, f"{origin} is not valid JSON ({exc})") from None
    return _page(resource, document, origin)


def read_services(
    directory: Path, state: ClusterState, sources: Iterable[ServiceSource], recorded: dict[str, Any]
) -> None:
    for source in sources:
        if source.name in recorded:
            reason = f"{recorded[source.name]} (recorded when the snapshot was taken)"
            state.service_errors[source.name] = SourceError(source.name, reason)
            continue
        for file in source.files:
            path = directory / source.name / file
            if not path.is_file():
                continue
            try:
                state.documents[f"{source.name}/{file}"] = source.sanitize(file, path.read_bytes())
            except ConformanceError as exc:  # a malformed body is this service's error, not the whole run's
                state.service_errors[source.name] = SourceError(source.name, str(exc))
                break


def read_snapshot(
    directory: Path, resources: Iterable[Resource], sources: Iterable[ServiceSource] = ()
) -> ClusterState:
    """Load the resources the selected checks need; each missing or broken file is that resource's error."""
    if not directory.is_dir():
        raise SnapshotError(f"snapshot {directory}: no such directory")
    meta = read_meta(directory)
    state = ClusterState(snapshot_provenance(directory, meta))
    errors = meta.get("errors")
    recorded_errors: dict[str, Any] = errors if isinstance(errors, dict) else {}
    for res in resources:
        path = directory / res.snapshot_file
        if res.name in recorded_errors:
            reason = f"{recorded_errors[res.name]} (recorded when the snapshot was taken)"
            state.errors[res.name] = SourceError(res.name, reason)
            continue
        if not path.is_file():
            state.errors[res.name] = SourceError(res.name, f"snapshot has no {res.snapshot_file}")
            continue
        try:
            page = parse_list(res, path.read_bytes(), res.snapshot_file)
        except SourceError as exc:
            state.errors[res.name] = exc
            continue
        state.lists[res.name] = page.items
        if page.api_version:
            state.api_versions[res.name] = page.api_version
        state.stats[res.name] = ResourceStats(objects=len(page.items))
    read_services(directory, state, sources, recorded_errors)
    return state
