"""Who a run ran as and which cluster it judged, for the run's integrity manifest.

Live runs ask the API server (a SelfSubjectReview, the kube-system namespace, /version); snapshot runs
say what the snapshot recorded. Nothing here may fail a run: every lookup that cannot answer records why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from conformance.cluster.live import KubeClient, LiveState, Target
from conformance.cluster.snapshot import SnapshotError, read_meta
from conformance.cluster.state import ClusterState
from conformance.errors import ApiError, SourceError
from conformance.profile.model import Collection
from conformance.transport import HttpReply, Unreachable

# Newest first: v1 since Kubernetes 1.28, v1beta1 in 1.27, v1alpha1 (feature gate) in 1.26.
REVIEW_VERSIONS = ("v1", "v1beta1", "v1alpha1")
NOT_SERVED = "unknown (not served)"
UNKNOWN = "unknown"
KUBE_SYSTEM = "kube-system"
# The lookups are bookkeeping after the checks: a struggling server gets one retry, not the collector's budget.
MAX_LOOKUP_RETRIES = 1


@dataclass(frozen=True)
class RunIdentity:
    """The identity the suite authenticated as (live), or that the state came from a snapshot."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str | None = None
    via: str | None = None  # the API that answered: authentication.k8s.io/v1
    snapshot: str | None = None
    reason: str | None = None  # why the username is unknown

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"username": self.username}
        if self.snapshot is None:
            data["groups"] = list(self.groups)
        optional = {"uid": self.uid, "via": self.via, "snapshot": self.snapshot, "reason": self.reason}
        data.update((key, value) for key, value in optional.items() if value is not None)
        return data


@dataclass(frozen=True)
class ClusterIdentity:
    """Which cluster: API server URL, kube-system namespace UID (stable for a cluster's life), version."""

    source: str  # live | snapshot
    server: str | None
    context: str | None
    kube_system_uid: str | None
    server_version: str | None
    unknown: dict[str, str] = field(default_factory=dict)  # field -> why it could not be learned

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source,
            "server": self.server,
            "context": self.context,
            "kube_system_uid": self.kube_system_uid,
            "server_version": self.server_version,
        }
        if self.unknown:
            data["unknown"] = dict(sorted(self.unknown.items()))
        return data


def public_url(url: str | None) -> str | None:
    """The URL without user info, query or fragment: a kubeconfig server may carry credentials in them."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def kube_system_uid_from(namespaces: list[dict[str, Any]]) -> str | None:
    """The UID of kube-system in a namespaces list; None when it is not there."""
    for item in namespaces:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if isinstance(metadata, dict) and metadata.get("name") == KUBE_SYSTEM:
            uid = metadata.get("uid")
            return str(uid) if uid else None
    return None


def _reason(status: int, body: bytes) -> str:
    """The API server's answer in the collector's words: `forbidden: <Status message>`."""
    return ApiError("", status, body).reason


def _post(client: KubeClient, path: str, body: bytes) -> HttpReply:
    """A POST with the client's credentials, timeouts, retry rules and budget."""
    return client.transport.post(client.server + path, {**client.headers(), "Content-Type": "application/json"}, body)


def self_subject_review(client: KubeClient) -> RunIdentity:
    """Who the API server says we are (`kubectl auth whoami`), trying v1, then v1beta1, then v1alpha1.

    Only username, uid and groups are kept: `extra` can hold credential ids. Unreachable propagates.
    """
    tried: list[str] = []
    for version in REVIEW_VERSIONS:
        api = f"authentication.k8s.io/{version}"
        body = orjson.dumps({"apiVersion": api, "kind": "SelfSubjectReview"})
        reply = _post(client, f"/apis/{api}/selfsubjectreviews", body)
        if reply.status == 404:
            tried.append(version)
            continue
        if reply.status not in (200, 201):
            return RunIdentity(UNKNOWN, via=api, reason=f"SelfSubjectReview {api}: {_reason(reply.status, reply.body)}")
        try:
            info = orjson.loads(reply.body)["status"]["userInfo"]
            username = info["username"]
            if not isinstance(username, str) or not username:
                raise TypeError("no username")
            groups = tuple(str(g) for g in info.get("groups") or ())
            uid = info.get("uid")
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            return RunIdentity(UNKNOWN, via=api, reason=f"SelfSubjectReview {api}: malformed answer ({exc})")
        return RunIdentity(username, groups, str(uid) if uid else None, via=api)
    return RunIdentity(
        NOT_SERVED,
        reason=f"the API server serves no SelfSubjectReview (404 for authentication.k8s.io {', '.join(tried)})",
    )


def _kube_system_uid_live(client: KubeClient) -> tuple[str | None, str | None]:
    """(uid, why unknown) from GET /api/v1/namespaces/kube-system."""
    path = f"/api/v1/namespaces/{KUBE_SYSTEM}"
    reply = client.request(path)
    if reply.status != 200:
        return None, f"GET {path}: {_reason(reply.status, reply.body)}"
    try:
        uid = kube_system_uid_from([orjson.loads(reply.body)])
    except orjson.JSONDecodeError as exc:
        return None, f"GET {path}: not JSON ({exc})"
    return (uid, None) if uid else (None, f"GET {path}: the namespace has no metadata.uid")


def live_identity(
    target: Target, collection: Collection, state: ClusterState | None
) -> tuple[ClusterIdentity, RunIdentity]:
    """Ask the API server who we are and which cluster it is; each failure is recorded, never raised.

    The kube-system UID and server version come from what the run already collected when it can.
    """
    unknown: dict[str, str] = {}
    uid: str | None = None
    version = state.provenance.server_version if state is not None else None
    if state is not None and "namespaces" in state.lists:
        uid = kube_system_uid_from(state.lists["namespaces"])
        if uid is None:
            unknown["kube_system_uid"] = "the collected namespaces list has no kube-system with a uid"
    lookup = collection.model_copy(update={"retries": min(collection.retries, MAX_LOOKUP_RETRIES)})
    server = public_url(target.server) or ""
    identity: RunIdentity
    client: KubeClient | None = None
    unusable = state.collection.unreachable if isinstance(state, LiveState) and state.collection else None
    try:
        if unusable is not None:
            # The collection's probe found the API server unusable: asking again would only wait for the same.
            raise SourceError("identity", unusable)
        client = KubeClient(target, lookup)
        identity = self_subject_review(client)
        if uid is None and "kube_system_uid" not in unknown:
            uid, why = _kube_system_uid_live(client)
            if why:
                unknown["kube_system_uid"] = why
        if version is None:
            version = client.server_version()
            if version is None:
                unknown["server_version"] = "GET /version gave no gitVersion"
    except Exception as exc:  # unreachable, or an exec credential plugin raising its own type: never fail the run
        if isinstance(exc, Unreachable):
            reason = f"cannot reach the API server at {server} ({exc})"
        elif isinstance(exc, SourceError):
            reason = exc.reason
        else:
            reason = f"{type(exc).__name__}: {exc}"
        reason = reason.replace(target.server.rstrip("/"), server)  # the raw URL may carry user info
        identity = RunIdentity(UNKNOWN, reason=reason)
        for name, value in (("kube_system_uid", uid), ("server_version", version)):
            if value is None:
                unknown.setdefault(name, reason)
    finally:
        if client is not None:
            client.transport.pool.clear()
    cluster = ClusterIdentity("live", server or None, target.context, uid, version, unknown)
    return cluster, identity


def snapshot_identity(snapshot: Path, state: ClusterState | None) -> tuple[ClusterIdentity, RunIdentity]:
    """What the snapshot recorded about its cluster (meta.json, kubernetes/namespaces.json)."""
    unknown: dict[str, str] = {}
    try:
        meta = read_meta(snapshot)
    except (SnapshotError, OSError) as exc:
        meta = {}
        unknown["meta"] = str(exc)
    server = meta.get("server") if isinstance(meta.get("server"), str) else None
    context = meta.get("context") if isinstance(meta.get("context"), str) else None
    version = state.provenance.server_version if state is not None else None
    version = version or (meta.get("server_version") if isinstance(meta.get("server_version"), str) else None)
    if server is None:
        unknown["server"] = "the snapshot's meta.json records no server"
    if version is None:
        unknown["server_version"] = "the snapshot's meta.json records no server_version"
    uid: str | None = None
    if state is not None and "namespaces" in state.lists:
        uid = kube_system_uid_from(state.lists["namespaces"])
    else:
        path = snapshot / "kubernetes" / "namespaces.json"
        try:
            document = orjson.loads(path.read_bytes())
            items = document.get("items") if isinstance(document, dict) else document
            uid = kube_system_uid_from(items if isinstance(items, list) else [])
        except FileNotFoundError:
            unknown["kube_system_uid"] = "the snapshot has no kubernetes/namespaces.json"
        except (OSError, orjson.JSONDecodeError) as exc:
            unknown["kube_system_uid"] = f"kubernetes/namespaces.json: {exc}"
    if uid is None:
        unknown.setdefault("kube_system_uid", "the snapshot's namespaces list has no kube-system with a uid")
    cluster = ClusterIdentity("snapshot", public_url(server), context, uid, version, unknown)
    return cluster, RunIdentity("snapshot", snapshot=str(snapshot))
