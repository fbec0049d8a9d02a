"""ClusterState: the resources one run collected, shared by every check, indexed once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, cast

from conformance.cluster.resources import Resource
from conformance.cluster.spool import PageSpool
from conformance.errors import SourceError

Object = dict[str, Any]
T = TypeVar("T")


class Attachment(Generic[T]):
    """A typed key for what the run attaches to a cluster's state beyond the objects: the hold window's outcome,
    the cluster's waiver ledger. Checks read attachments; the run owns them."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Attachment({self.name!r})"


@dataclass(frozen=True)
class Provenance:
    """Where the state came from, for the report's environment section and for "now"."""

    mode: Literal["live", "snapshot"]
    location: str
    collected_at: datetime
    collected_at_known: bool = True
    context: str | None = None
    server_version: str | None = None


@dataclass
class ResourceStats:
    objects: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0


@dataclass
class ClusterState:
    provenance: Provenance
    lists: dict[str, list[Object]] = field(default_factory=dict)
    errors: dict[str, SourceError] = field(default_factory=dict)
    api_versions: dict[str, str] = field(default_factory=dict)
    stats: dict[str, ResourceStats] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)
    service_errors: dict[str, SourceError] = field(default_factory=dict)
    member: str = ""  # the fleet cluster this state belongs to ("" in a single-cluster run)
    # A live run's evidence per resource: its pages as read, while `lists` holds the projections checks read.
    spools: dict[str, PageSpool] = field(default_factory=dict, compare=False, repr=False)
    _by_namespace: dict[str, dict[str, list[Object]]] = field(default_factory=dict, repr=False)
    _by_name: dict[str, dict[tuple[str, str], Object]] = field(default_factory=dict, repr=False)
    released: bool = field(default=False, compare=False)
    attachments: dict[Attachment[Any], Any] = field(default_factory=dict, compare=False, repr=False)

    def attach(self, key: Attachment[T], value: T) -> None:
        self.attachments[key] = value

    def attached(self, key: Attachment[T]) -> T | None:
        return cast("T | None", self.attachments.get(key))

    def release(self) -> None:
        """Let the objects go once every check of this cluster has run (a fleet judges its clusters one after
        the other). What the run's bookkeeping still reads stays: provenance, errors, statistics, and the
        kube-system namespace the integrity manifest identifies the cluster by."""
        kube_system = [n for n in self.lists.get("namespaces", ()) if name_of(n) == "kube-system"]
        self.lists = {"namespaces": kube_system} if kube_system else {}
        self.documents = {}
        self._by_namespace, self._by_name = {}, {}
        for spool in self.spools.values():
            spool.close()
        self.spools = {}
        self.released = True

    def _not_released(self, source: str) -> None:
        if self.released:
            raise SourceError(
                source,
                f"cluster {self.member}'s state was released when the checks of the next cluster began; "
                "a fleet's checks run one cluster after the other (do not reorder them)",
            )

    @property
    def now(self) -> datetime:
        """The instant grace periods are measured against: collection time, never a later wall clock."""
        return self.provenance.collected_at

    def objects(self, resource: Resource) -> list[Object]:
        """Every object of a resource; SourceError says why when it could not be read."""
        self._not_released(resource.name)
        if resource.name in self.errors:
            raise self.errors[resource.name].with_traceback(None)
        if resource.name not in self.lists:
            raise SourceError(resource.name, "was not collected in this run")
        return self.lists[resource.name]

    def document(self, service: str, file: str) -> bytes:
        """A service body (`kong`, `status.json`); SourceError says why it is not there."""
        self._not_released(service)
        if service in self.service_errors:
            raise self.service_errors[service].with_traceback(None)
        key = f"{service}/{file}"
        if key not in self.documents:
            where = "snapshot has no" if self.provenance.mode == "snapshot" else "this run did not collect"
            raise SourceError(service, f"{where} {key}")
        return self.documents[key]

    def first_document(self, service: str, files: Iterable[str]) -> tuple[str, bytes]:
        """The first of several alternative bodies that is present (e.g. Istio's syncz.json or proxy-status.txt)."""
        self._not_released(service)
        names = list(files)
        for file in names:
            if f"{service}/{file}" in self.documents and service not in self.service_errors:
                return file, self.documents[f"{service}/{file}"]
        if service in self.service_errors:
            raise self.service_errors[service].with_traceback(None)
        where = "snapshot has none of" if self.provenance.mode == "snapshot" else "this run collected none of"
        raise SourceError(service, f"{where} {', '.join(f'{service}/{f}' for f in names)}")

    def in_namespace(self, resource: Resource, namespace: str) -> list[Object]:
        index = self._by_namespace.get(resource.name)
        if index is None:
            index = defaultdict(list)
            for obj in self.objects(resource):
                index[namespace_of(obj)].append(obj)
            self._by_namespace[resource.name] = index
        return index.get(namespace, [])

    def get(self, resource: Resource, namespace: str, name: str) -> Object | None:
        index = self._by_name.get(resource.name)
        if index is None:
            index = {(namespace_of(o), name_of(o)): o for o in self.objects(resource)}
            self._by_name[resource.name] = index
        return index.get((namespace, name))

    def namespaces_with(self, resource: Resource) -> Iterable[str]:
        self.in_namespace(resource, "")
        return self._by_namespace[resource.name].keys()


def name_of(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def namespace_of(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("namespace", ""))


def qualified_name(obj: Object) -> str:
    namespace = namespace_of(obj)
    return f"{namespace}/{name_of(obj)}" if namespace else name_of(obj)
