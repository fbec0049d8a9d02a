"""A small, faithful fake kube-apiserver (read side) that serves a cluster snapshot over plain HTTP.

Why: the suite's own tests and benchmarks need an API server that behaves like the real one where the
suite depends on it (discovery, chunked lists with continue tokens, selectors, Status error bodies,
throttling/expiry faults, service proxy, port-forward over WebSocket) without a cluster. Standard library plus
orjson only.

Input is either a snapshot directory (``kubernetes/<resource>[.<group>].json`` files as written by
``kubectl get <resource> -A -o json``) or an in-memory ``{stem: [items...]}`` mapping.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self, cast
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import orjson

__all__ = [
    "CONTINUE_EXPIRED_MESSAGE",
    "DEFAULT_GROUPS",
    "DEFAULT_USER",
    "DEFAULT_VERSION",
    "PORT_FORWARD_PROTOCOLS",
    "ApiResponse",
    "Delay",
    "Fault",
    "KubeApiServer",
    "ProxyHandler",
    "RecordedRequest",
    "ResourceData",
    "ResourceType",
    "write_kubeconfig",
]

Obj = dict[str, Any]
#: A resource's data: a plain item list, or a whole ``List``/typed list document (e.g. a NodeMetricsList).
ResourceData = Sequence[Mapping[str, Any]] | Mapping[str, Any]
#: Service-proxy backend: (method, path_with_query, headers, body) -> (status, headers, body).
ProxyHandler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]

DEFAULT_VERSION = "v1.31.4"
DEFAULT_USER = "system:serviceaccount:conformance:conformance"
DEFAULT_GROUPS = ("system:serviceaccounts", "system:authenticated")
MAX_DELAY_SECONDS = 60.0

NOT_FOUND_MESSAGE = "the server could not find the requested resource"
METHOD_NOT_ALLOWED_MESSAGE = "the server does not allow this method on the requested resource"
# Verbatim from k8s.io/apiserver/pkg/storage/etcd3 (inconsistentContinue): the 410 a stale continue gets.
CONTINUE_EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list."
)

# Built-in (typed) API groups: their list items are serialized without kind/apiVersion. Groups without a
# dot (apps, batch, policy, autoscaling...) are always built-in; CRD groups must contain a dot.
_BUILTIN_GROUPS = (
    "apiregistration.k8s.io",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "certificates.k8s.io",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
    "storagemigration.k8s.io",
    "internal.apiserver.k8s.io",
)
# Aggregated typed APIs (metrics-server): typed items, no resourceVersion, limit/continue ignored.
_AGGREGATED_GROUPS = frozenset({"metrics.k8s.io", "custom.metrics.k8s.io", "external.metrics.k8s.io"})
_CLUSTER_SCOPED = frozenset(
    {
        ("nodes", ""),
        ("namespaces", ""),
        ("persistentvolumes", ""),
        ("componentstatuses", ""),
        ("nodes", "metrics.k8s.io"),
        ("clusterroles", "rbac.authorization.k8s.io"),
        ("clusterrolebindings", "rbac.authorization.k8s.io"),
        ("storageclasses", "storage.k8s.io"),
        ("csidrivers", "storage.k8s.io"),
        ("csinodes", "storage.k8s.io"),
        ("volumeattachments", "storage.k8s.io"),
        ("priorityclasses", "scheduling.k8s.io"),
        ("customresourcedefinitions", "apiextensions.k8s.io"),
        ("apiservices", "apiregistration.k8s.io"),
        ("mutatingwebhookconfigurations", "admissionregistration.k8s.io"),
        ("validatingwebhookconfigurations", "admissionregistration.k8s.io"),
        ("validatingadmissionpolicies", "admissionregistration.k8s.io"),
        ("validatingadmissionpolicybindings", "admissionregistration.k8s.io"),
        ("ingressclasses", "networking.k8s.io"),
        ("runtimeclasses", "node.k8s.io"),
        ("certificatesigningrequests", "certificates.k8s.io"),
        ("flowschemas", "flowcontrol.apiserver.k8s.io"),
        ("prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io"),
    }
)
# Used only when a resource has no items to learn its version from.
_DEFAULT_VERSIONS = {"autoscaling": "v2", "metrics.k8s.io": "v1beta1"}
# Used only when a resource has no items to learn its Kind from; otherwise a singularizing guess.
_KINDS = {
    "endpoints": "Endpoints",
    "configmaps": "ConfigMap",
    "serviceaccounts": "ServiceAccount",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "persistentvolumes": "PersistentVolume",
    "limitranges": "LimitRange",
    "resourcequotas": "ResourceQuota",
    "replicationcontrollers": "ReplicationController",
    "daemonsets": "DaemonSet",
    "statefulsets": "StatefulSet",
    "replicasets": "ReplicaSet",
    "controllerrevisions": "ControllerRevision",
    "cronjobs": "CronJob",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "poddisruptionbudgets": "PodDisruptionBudget",
    "ingressclasses": "IngressClass",
    "networkpolicies": "NetworkPolicy",
    "storageclasses": "StorageClass",
    "rolebindings": "RoleBinding",
    "clusterroles": "ClusterRole",
    "clusterrolebindings": "ClusterRoleBinding",
    "priorityclasses": "PriorityClass",
    "customresourcedefinitions": "CustomResourceDefinition",
    "endpointslices": "EndpointSlice",
    "servicemonitors": "ServiceMonitor",
    "podmonitors": "PodMonitor",
    "prometheusrules": "PrometheusRule",
    "peerauthentications": "PeerAuthentication",
    "authorizationpolicies": "AuthorizationPolicy",
    "requestauthentications": "RequestAuthentication",
    "destinationrules": "DestinationRule",
    "virtualservices": "VirtualService",
    "serviceentries": "ServiceEntry",
    "nodes.metrics.k8s.io": "NodeMetrics",
    "pods.metrics.k8s.io": "PodMetrics",
}
# Field selectors each resource supports beyond metadata.name/metadata.namespace: label -> (path, default).
_FIELDS: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("pods", ""): {
        "spec.nodeName": ("spec.nodeName", ""),
        "spec.restartPolicy": ("spec.restartPolicy", ""),
        "spec.schedulerName": ("spec.schedulerName", ""),
        "spec.serviceAccountName": ("spec.serviceAccountName", ""),
        "spec.hostNetwork": ("spec.hostNetwork", "false"),
        "status.phase": ("status.phase", ""),
        "status.podIP": ("status.podIP", ""),
        "status.nominatedNodeName": ("status.nominatedNodeName", ""),
    },
    ("nodes", ""): {"spec.unschedulable": ("spec.unschedulable", "false")},
    ("namespaces", ""): {"status.phase": ("status.phase", "")},
    ("secrets", ""): {"type": ("type", "")},
    ("replicationcontrollers", ""): {"status.replicas": ("status.replicas", "0")},
    ("jobs", "batch"): {"status.successful": ("status.succeeded", "0")},
    ("events", ""): {
        **{f"involvedObject.{f}": (f"involvedObject.{f}", "") for f in ("kind", "namespace", "name", "uid")},
        **{f"involvedObject.{f}": (f"involvedObject.{f}", "") for f in ("apiVersion", "resourceVersion")},
        "involvedObject.fieldPath": ("involvedObject.fieldPath", ""),
        "reason": ("reason", ""),
        "reportingComponent": ("reportingComponent", ""),
        "source": ("source.component", ""),
        "type": ("type", ""),
    },
}
_SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
_RECORDED_HEADERS = (
    "Accept",
    "Accept-Encoding",
    "Content-Type",
    "User-Agent",
    "Upgrade",
    "Sec-WebSocket-Protocol",
    "X-Stream-Protocol-Version",
)
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer"}
    | {"transfer-encoding", "upgrade", "content-length", "host", "authorization"}
)
_TIMEOUT_PREFIX = "the server was unable to return a response in the time allotted"
_FAULT_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("NotFound", NOT_FOUND_MESSAGE),
    405: ("MethodNotAllowed", METHOD_NOT_ALLOWED_MESSAGE),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", CONTINUE_EXPIRED_MESSAGE),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", f"{_TIMEOUT_PREFIX}, but may still be processing the request"),
}
_VERBS = {
    "GET": "get",
    "HEAD": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_LABEL_KEY_RE = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"  # optional DNS-subdomain prefix
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
_LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_SET_REQ_RE = re.compile(r"\s*([^\s!=<>(),]+)\s+(in|notin)\s*\(([^()]*)\)\s*")
_OP_REQ_RE = re.compile(r"\s*([^\s!=<>(),]+)\s*(==|!=|=|<|>)\s*([^\s!=<>(),]*)\s*")
_EXISTS_REQ_RE = re.compile(r"\s*(!?)\s*([^\s!=<>(),]+)\s*")
_FIELD_REQ_RE = re.compile(r"\s*([^\s!=]+)\s*(==|!=|=)\s*(.*?)\s*")
_PROXY_RE = re.compile(r"/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy(/.*)?")
_PORT_FORWARD_RE = re.compile(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/portforward")
_SELF_SUBJECT_REVIEW_RE = re.compile(r"/apis/authentication\.k8s\.io/([^/]+)/selfsubjectreviews")
# What the apiserver's negotiation lists when a create body is in a media type it cannot decode.
_ACCEPTED_MEDIA_TYPES = "application/json, application/yaml, application/vnd.kubernetes.protobuf, application/cbor"
#: WebSocket subprotocols the port-forward accepts, both with the kubelet's binary channel framing; a client
#: offering none gets that framing too (the kubelet's ``""`` entry). Not served: v4.base64 and SPDY/3.1.
PORT_FORWARD_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
_SPDY_TUNNELING = "SPDY/3.1+portforward.k8s.io"  # kubectl 1.31+: SPDY framing inside a WebSocket
_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_WS_CONT, _WS_TEXT, _WS_BINARY, _WS_CLOSE, _WS_PING, _WS_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_WS_MAX_MESSAGE = 16 * 1024 * 1024
_FORWARD_CHUNK = 32 * 1024  # io.Copy's buffer: the kubelet relays the pod's bytes in frames of at most this
_CLOSE_GRACE_SECONDS = 1.0  # containerd gives the other direction a second to finish after one ends

_Matcher = Callable[["_Entry"], bool]


class _ApiError(Exception):
    """A failed request, carried as the exact Status body and headers the real server would send."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: Obj | None = None,
        *,
        metadata: Obj | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.body = _status(code, reason, message, details, metadata)
        self.headers = dict(headers or {})


def _status(
    code: int,
    reason: str,
    message: str,
    details: Obj | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """metav1.Status in the apiserver's field order; empty reason/details are omitted like Go's omitempty."""
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {}, "status": "Failure"}
    body["message"] = message
    if reason:
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _not_found_path() -> _ApiError:
    return _ApiError(404, "NotFound", NOT_FOUND_MESSAGE, {})


def _bad_request(message: str) -> _ApiError:
    return _ApiError(400, "BadRequest", message)


def _json(value: Any) -> bytes:
    """Serialize like the apiserver's json encoder (which ends the body with a newline)."""
    return orjson.dumps(value) + b"\n"


@dataclass(frozen=True)
class ResourceType:
    """What discovery says about one resource, derived from its snapshot file."""

    stem: str
    name: str
    group: str
    version: str
    kind: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``pods`` / ``deployments.apps``: how the apiserver names the resource in messages."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def typed(self) -> bool:
        """Built-in and aggregated APIs drop kind/apiVersion from list items; CRDs keep them."""
        g = self.group
        return g == "" or "." not in g or g in _BUILTIN_GROUPS or g in _AGGREGATED_GROUPS

    @property
    def paged(self) -> bool:
        """etcd-backed resources honour limit/continue and report a resourceVersion; metrics doesn't."""
        return self.group not in _AGGREGATED_GROUPS


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str  # the etcd key below the resource prefix: "<ns>/<name>" or "<name>"; lists are in key order
    namespace: str
    name: str
    labels: Mapping[str, str]
    obj: Obj  # with kind/apiVersion, as a single GET returns it
    list_json: bytes  # pre-serialized list item, so big lists are a bytes join


@dataclass(frozen=True, slots=True)
class _Resource:
    rtype: ResourceType
    entries: tuple[_Entry, ...]
    keys: tuple[str, ...]

    def find(self, namespace: str, name: str) -> _Entry | None:
        key = f"{namespace}/{name}" if self.rtype.namespaced else name
        i = bisect.bisect_left(self.keys, key)
        return self.entries[i] if i < len(self.keys) and self.keys[i] == key else None


@dataclass(frozen=True, slots=True)
class _Catalog:
    """Immutable view of all served resources; swapped atomically when data changes."""

    by_stem: dict[str, _Resource]
    by_gvr: dict[tuple[str, str, str], _Resource]
    groups: dict[str, list[str]]  # group -> versions, preferred first ("" is the core group)

    def resources_of(self, group: str, version: str) -> list[_Resource]:
        found = [r for (g, v, _), r in self.by_gvr.items() if g == group and v == version]
        return sorted(found, key=lambda r: r.rtype.name)


@dataclass
class Fault:
    """An injected failure: requests whose path matches ``pattern`` get ``status`` (``times`` or always)."""

    pattern: re.Pattern[str]
    status: int
    times: int | None = None
    retry_after: int | None = None
    message: str | None = None
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class Delay:
    """A stall: matching responses wait ``seconds`` before sending headers (``times`` or always)."""

    pattern: re.Pattern[str]
    seconds: float
    times: int | None = None
    hits: int = 0


@dataclass
class RecordedRequest:
    """One request as the server saw it (the bearer token itself is never stored)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    has_authorization: bool
    at: float = field(default_factory=time.monotonic)
    status: int | None = None  # set before the response is written, so it is visible to the client after
    body: bytes = b""  # the request body (creates such as SelfSubjectReview; empty for reads)


class ApiResponse(NamedTuple):
    """What :meth:`KubeApiServer.handle` answers: status, headers (no Content-Length) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _guess_kind(name: str, group: str) -> str:
    known = _KINDS.get(f"{name}.{group}") or _KINDS.get(name)
    if known:
        return known
    for plural, singular in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x")):
        if name.endswith(plural):
            return (name[: -len(plural)] + singular).capitalize()
    return (name[:-1] if name.endswith("s") else name).capitalize()


def _version_key(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then by number (v1 > v1beta2 > v1beta1 > v1alpha1)."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (0, 0, 0)
    return ({None: 3, "beta": 2, "alpha": 1}[m.group(2)], int(m.group(1)), int(m.group(3) or 0))


def _build_resource(
    stem: str, data: ResourceData, api_version: str | None = None, cluster_scoped: bool = False
) -> _Resource:
    """Turn one snapshot file's content into a served resource, learning group/version/Kind/scope from it."""
    list_kind, list_av = "", ""
    if isinstance(data, Mapping):
        items: Sequence[Mapping[str, Any]] = data.get("items") or []
        list_kind, list_av = str(data.get("kind") or ""), str(data.get("apiVersion") or "")
    else:
        items = data
    is_typed_list = list_kind.endswith("List") and list_kind != "List"
    name, _, stem_group = stem.partition(".")
    av = next((str(i["apiVersion"]) for i in items if i.get("apiVersion")), None)
    av = av or api_version or (list_av if is_typed_list else None)
    if av:
        group, _, version = av.rpartition("/")
    else:
        group, version = stem_group, _DEFAULT_VERSIONS.get(stem_group, "v1")
    kind = next((str(i["kind"]) for i in items if i.get("kind")), None)
    kind = kind or (list_kind[: -len("List")] if is_typed_list else _guess_kind(name, group))
    if cluster_scoped or (name, group) in _CLUSTER_SCOPED:
        namespaced = False
    else:
        namespaced = not items or any((i.get("metadata") or {}).get("namespace") for i in items)
    rtype = ResourceType(stem, name, group, version, kind, namespaced)
    by_key: dict[str, _Entry] = {}
    for item in items:
        meta = item.get("metadata") or {}
        ns = str(meta.get("namespace") or "") if namespaced else ""
        obj_name = str(meta.get("name") or "")
        obj: Obj = {"kind": kind, "apiVersion": rtype.group_version}
        obj.update((k, v) for k, v in item.items() if k not in ("kind", "apiVersion"))
        listed = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")} if rtype.typed else obj
        key = f"{ns}/{obj_name}" if namespaced else obj_name
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        by_key[key] = _Entry(key, ns, obj_name, labels, obj, orjson.dumps(listed))
    keys = sorted(by_key)
    return _Resource(rtype, tuple(by_key[k] for k in keys), tuple(keys))


def _synthesize_namespaces(resources: Iterable[_Resource]) -> list[Obj]:
    """A real cluster always has its system namespaces and every namespace its objects live in."""
    names = set(_SYSTEM_NAMESPACES)
    names.update(e.namespace for r in resources if r.rtype.namespaced for e in r.entries if e.namespace)
    return [
        {
            "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        for n in sorted(names)
    ]


def _make_catalog(resources: Mapping[str, _Resource]) -> _Catalog:
    all_resources = dict(resources)
    if not any(r.rtype.name == "namespaces" and r.rtype.group == "" for r in all_resources.values()):
        all_resources["namespaces"] = _build_resource(
            "namespaces", _synthesize_namespaces(all_resources.values()), "v1"
        )
    by_gvr = {(r.rtype.group, r.rtype.version, r.rtype.name): r for r in all_resources.values()}
    versions: dict[str, set[str]] = {}
    for group, version, _ in by_gvr:
        versions.setdefault(group, set()).add(version)
    groups = {g: sorted(vs, key=_version_key, reverse=True) for g, vs in versions.items()}
    groups.setdefault("", ["v1"])
    return _Catalog(all_resources, by_gvr, groups)


# ---------------------------------------------------------------------------------------------- selectors


def _split_top_level(selector: str) -> list[str]:
    """Split on commas outside parentheses (``a in (x,y),b`` is two requirements)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in selector:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _check_label(key: str, values: Iterable[str] = ()) -> None:
    if not _LABEL_KEY_RE.fullmatch(key) or len(key.rpartition("/")[2]) > 63:
        raise _bad_request(f"unable to parse requirement: invalid label key {key!r}")
    for value in values:
        if not _LABEL_VALUE_RE.fullmatch(value) or len(value) > 63:
            raise _bad_request(f"unable to parse requirement: invalid label value {value!r}")


def _label_requirement(text: str) -> _Matcher:
    if m := _SET_REQ_RE.fullmatch(text):
        key, op, raw = m.groups()
        values = frozenset(v.strip() for v in raw.split(","))
        if values == {""}:
            raise _bad_request(f"unable to parse requirement: for '{op}' operator, values set can't be empty")
        _check_label(key, values)
        if op == "in":
            return lambda e: e.labels.get(key, None) in values
        return lambda e: e.labels.get(key, None) not in values
    if m := _OP_REQ_RE.fullmatch(text):
        key, op, value = m.groups()
        if op in ("<", ">"):
            _check_label(key)
            try:
                bound = int(value)
            except ValueError:
                detail = f"for '{op}', value must be an integer"
                raise _bad_request(f"unable to parse requirement: {detail}") from None
            greater = op == ">"
            return lambda e: _int_label(e.labels, key, lambda n: n > bound if greater else n < bound)
        _check_label(key, [value])
        if op == "!=":
            return lambda e: e.labels.get(key) != value
        return lambda e: e.labels.get(key) == value
    if m := _EXISTS_REQ_RE.fullmatch(text):
        negated, key = m.group(1) == "!", m.group(2)
        _check_label(key)
        return lambda e: (key in e.labels) != negated
    raise _bad_request(f"unable to parse requirement: {text.strip()!r}")


def _int_label(labels: Mapping[str, str], key: str, test: Callable[[int], bool]) -> bool:
    try:
        return test(int(labels[key]))
    except (KeyError, ValueError):
        return False


def _parse_label_selector(selector: str) -> list[_Matcher]:
    """Kubernetes label selector syntax: =, ==, !=, in, notin, exists, !exists, <, >; comma means AND."""
    if not selector.strip():
        return []
    return [_label_requirement(part) for part in _split_top_level(selector)]


def _field_value(entry: _Entry, path: str, default: str) -> str:
    value: Any = entry.obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_field_selector(selector: str, rtype: ResourceType) -> list[_Matcher]:
    """Field selectors support only the fields the real registry exposes for that resource."""
    matchers: list[_Matcher] = []
    if not selector.strip():
        return matchers
    supported = _FIELDS.get((rtype.name, rtype.group), {})
    for term in selector.split(","):
        m = _FIELD_REQ_RE.fullmatch(term)
        if not m:
            raise _bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        label, op, value = m.groups()
        if label not in ("metadata.name", "metadata.namespace") and label not in supported:
            raise _bad_request(f"field label not supported: {label}")
        matchers.append(_field_matcher(label, supported.get(label), op == "!=", value))
    return matchers


def _field_matcher(label: str, spec: tuple[str, str] | None, negated: bool, value: str) -> _Matcher:
    def get(entry: _Entry) -> str:
        if label == "metadata.name":
            return entry.name
        if label == "metadata.namespace" or spec is None:
            return entry.namespace
        return _field_value(entry, *spec)

    return lambda e: (get(e) == value) != negated


# ---------------------------------------------------------------------------------------- continue tokens


def _encode_continue(rv: int, start_key: str) -> str:
    """Same shape as the apiserver's token: raw-url-base64 JSON {"v","rv","start"}."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


_RAW_URL_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _decode_continue(token: str) -> tuple[int, str]:
    # The apiserver decodes with Go's base64.RawURLEncoding: no padding, and its error names the first bad byte.
    bad = next((i for i, char in enumerate(token) if char not in _RAW_URL_BASE64), None)
    if bad is None and len(token) % 4 == 1:
        bad = len(token) - 1
    if bad is not None:
        raise _bad_request(
            f"invalid continue token: continue key is not valid: illegal base64 data at input byte {bad}"
        )
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad_request(f"invalid continue token: continue key is not valid: {exc}") from None
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise _bad_request(f"invalid continue token: continue key is not valid: {exc}") from None
    if not isinstance(decoded, dict) or decoded.get("v") != "meta.k8s.io/v1":
        raise _bad_request(
            "invalid continue token: continue key is not valid: server does not recognize this encoded key"
        )
    rv, start = decoded.get("rv"), decoded.get("start")
    invalid = "invalid continue token: continue key is not valid"
    if not isinstance(rv, int) or rv == 0:
        raise _bad_request(f"{invalid}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(start, str) or not start:
        raise _bad_request(f"{invalid}: encoded start key empty (version meta.k8s.io/v1)")
    return rv, start


def _invalid_list_options(errors: list[tuple[str, str, str]]) -> _ApiError:
    """422 for ListOptions validation failures, formatted like apimachinery's field.ErrorList."""
    texts = [f"{fld}: {detail}" for _, fld, detail in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    causes = [{"reason": reason, "message": detail, "field": fld} for reason, fld, detail in errors]
    return _ApiError(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: {joined}',
        {"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes},
    )


def _validate_list_options(rv: str, match: str, token: str) -> None:
    if match:
        errors: list[tuple[str, str, str]] = []
        forbidden = "FieldValueForbidden"
        if not rv:
            errors.append(
                (
                    forbidden,
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        if token:
            errors.append(
                (
                    forbidden,
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                )
            )
        if match not in ("Exact", "NotOlderThan"):
            errors.append(
                (
                    "FieldValueNotSupported",
                    "resourceVersionMatch",
                    f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan", ""',
                )
            )
        elif match == "Exact" and rv == "0":
            errors.append(
                (
                    forbidden,
                    "resourceVersionMatch",
                    'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )
            )
        if errors:
            raise _invalid_list_options(errors)
    if token and rv not in ("", "0"):
        raise _bad_request("specifying resource version is not allowed when using continue")


# ------------------------------------------------------------------------------------------- port-forward


@dataclass(frozen=True)
class _Tunnel:
    """An accepted port-forward upgrade: whose ports to relay once the connection is switched to WebSocket."""

    namespace: str
    pod: str
    uid: str
    ports: tuple[int, ...]


class _Upgrade(Exception):
    """Raised by the router when the request is to be answered 101 and turned into a port-forward tunnel."""

    def __init__(self, headers: dict[str, str], tunnel: _Tunnel) -> None:
        super().__init__("switching protocols")
        self.headers = headers
        self.tunnel = tunnel


class _WebSocketClosed(Exception):
    """The client closed the WebSocket, went away, or broke RFC 6455: the tunnel ends."""


def _unmask(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 5.3: XOR with the 4-byte key, done as one big-integer XOR (fast for large payloads)."""
    n = len(data)
    if not n:
        return data
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def _frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked server frame (servers never mask, RFC 6455 5.1)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


class _ServerWebSocket:
    """The server end of RFC 6455 on an upgraded connection: masked client frames in, unmasked frames out."""

    def __init__(self, conn: socket.socket, read: Callable[[int], bytes]) -> None:
        self._conn = conn
        self._read_raw = read
        self._send_lock = threading.Lock()
        self._close_sent = False

    def _read(self, n: int) -> bytes:
        try:
            data = self._read_raw(n)
        except (OSError, ValueError) as exc:  # idle timeout, reset, or the socket shut by stop()
            raise _WebSocketClosed(str(exc) or type(exc).__name__) from None
        if len(data) < n:
            raise _WebSocketClosed("connection closed")
        return data

    def send(self, opcode: int, payload: bytes = b"") -> bool:
        """Write one frame (thread-safe); False once a close frame was sent or the connection is gone."""
        frame = _frame(opcode, payload)
        with self._send_lock:
            if self._close_sent:
                return False
            self._close_sent = opcode == _WS_CLOSE
            try:
                self._conn.sendall(frame)
            except OSError:
                self._close_sent = True
                return False
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.send(_WS_CLOSE, code.to_bytes(2, "big") + reason.encode()[:123])

    def _fail(self, code: int, reason: str) -> _WebSocketClosed:
        self.close(code, reason)
        return _WebSocketClosed(reason)

    def receive(self) -> tuple[int, bytes]:
        """The next data message as (opcode, payload), reassembled from fragments; pings are answered."""
        opcode: int | None = None
        parts: list[bytes] = []
        size = 0
        while True:
            b0, b1 = self._read(2)
            fin, rsv, frame_op = bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(self._read(2), "big")
            elif length == 127:
                length = int.from_bytes(self._read(8), "big")
            if not b1 & 0x80:
                raise self._fail(1002, "client frames must be masked")
            if rsv or frame_op not in (_WS_CONT, _WS_TEXT, _WS_BINARY, _WS_CLOSE, _WS_PING, _WS_PONG):
                raise self._fail(1002, "protocol error")
            control = frame_op >= _WS_CLOSE
            if control and (not fin or length > 125):
                raise self._fail(1002, "invalid control frame")
            if size + length > _WS_MAX_MESSAGE:
                raise self._fail(1009, "message too big")
            mask = self._read(4)
            payload = _unmask(self._read(length), mask)
            if frame_op == _WS_PING:
                self.send(_WS_PONG, payload)
                continue
            if frame_op == _WS_PONG:
                continue
            if frame_op == _WS_CLOSE:
                self.send(_WS_CLOSE, payload[:2])  # echo the status code (RFC 6455 5.5.1)
                raise _WebSocketClosed("closed by the client")
            if (frame_op == _WS_CONT) != (opcode is not None):
                raise self._fail(1002, "unexpected continuation frame" if opcode is None else "expected continuation")
            if opcode is None:
                opcode = frame_op
            parts.append(payload)
            size += length
            if fin:
                return opcode, b"".join(parts)


def _forward_ports(values: Sequence[str]) -> tuple[list[int], str]:
    """The kubelet's V4Options parsing of the requested ports; (ports, error text)."""
    if not values:
        return [], 'query parameter "port" is required'
    ports: list[int] = []
    for value in values:
        if not value:
            return [], 'query parameter "port" cannot be empty'
        for item in value.split(","):
            if not item.isdigit():
                return [], f'unable to parse "{value}" as a port: strconv.ParseUint: parsing "{item}": invalid syntax'
            if int(item) > 65535:
                return (
                    [],
                    f'unable to parse "{value}" as a port: strconv.ParseUint: parsing "{item}": value out of range',
                )
            if int(item) < 1:
                return [], f'port "{value}" must be > 0'
            ports.append(int(item))
    return ports, ""


def _plain(status: int, text: str, headers: Mapping[str, str] | None = None) -> ApiResponse:
    """An error written by the kubelet with Go's http.Error (plain text), passed through by the apiserver."""
    base = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
    return ApiResponse(status, {**base, **(headers or {})}, f"{text}\n".encode() if text else b"")


# ------------------------------------------------------------------------------------------------ server


def _version_info(version: str | Mapping[str, str]) -> dict[str, str]:
    overrides = dict(version) if isinstance(version, Mapping) else {"gitVersion": version}
    git = overrides.get("gitVersion", DEFAULT_VERSION)
    git = git if git.startswith("v") else f"v{git}"
    m = re.match(r"v(\d+)\.(\d+)(?:\.\d+)?(.*)", git)
    info = {
        "major": m.group(1) if m else "",
        "minor": (m.group(2) + ("+" if m.group(3) else "")) if m else "",
        "gitVersion": git,
        "gitCommit": "b7c6a1d9e0f2a3b4c5d6e7f8091a2b3c4d5e6f70",
        "gitTreeState": "clean",
        "buildDate": "2024-12-10T11:37:42Z",
        "goVersion": "go1.22.9",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
    info.update(overrides)
    return info


def _version_from_meta(meta: Mapping[str, Any]) -> str | dict[str, str] | None:
    """Best effort: snapshot tools record the server version under one of a few common keys."""
    for key in ("serverVersion", "server_version", "kubernetesVersion", "kubernetes_version", "version"):
        value = meta.get(key)
        if isinstance(value, Mapping) and isinstance(value.get("gitVersion"), str):
            return {str(k): str(v) for k, v in value.items()}
        if isinstance(value, str) and re.match(r"v?\d+\.\d+", value):
            return value
    return None


class KubeApiServer:
    """Serves a snapshot through the Kubernetes read API on 127.0.0.1 (plain HTTP), with fault injection.

    ``resources`` maps a snapshot file stem (``pods``, ``deployments.apps``, ``nodes.metrics.k8s.io``) to its
    items, or to a whole List document. ``api_versions`` gives stem -> apiVersion where the items can't tell
    (empty lists); ``cluster_scoped`` names stems to serve cluster-scoped even when that can't be inferred.
    """

    def __init__(
        self,
        resources: Mapping[str, ResourceData] | None = None,
        *,
        api_versions: Mapping[str, str] | None = None,
        cluster_scoped: Iterable[str] = (),
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str | Mapping[str, str] = DEFAULT_VERSION,
        user: str = DEFAULT_USER,
        groups: Sequence[str] = DEFAULT_GROUPS,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.token = token
        self.host = host
        self.user = user
        self.groups = tuple(groups)
        #: authentication.k8s.io versions that serve SelfSubjectReview (v1 since 1.28, v1beta1 in 1.27,
        #: v1alpha1 in 1.26); ``()`` emulates an older server, where every version answers 404.
        self.self_subject_review_versions: tuple[str, ...] = ("v1",)
        self.meta: dict[str, Any] = dict(meta or {})
        self.version_info = _version_info(version)
        #: Expire every continue token (410), like a server whose etcd compacted between pages.
        self.expire_continue_tokens = False
        self._requested_port = port
        self._api_versions = dict(api_versions or {})
        self._cluster_scoped = set(cluster_scoped)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._delays: list[Delay] = []
        self._proxies: dict[tuple[str, str, str | None], ProxyHandler] = {}
        self._port_forwards: dict[tuple[str, str, int], tuple[str, int]] = {}
        self._tunnel_sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._data = {
            stem: _build_resource(stem, data, self._api_versions.get(stem), stem in self._cluster_scoped)
            for stem, data in (resources or {}).items()
        }
        self._catalog = _make_catalog(self._data)
        rvs = [_rv_of(e.obj) for r in self._data.values() for e in r.entries]
        self._rv = max((int(rv) for rv in rvs if rv.isdigit()), default=0) + 1
        # Revisions below this are compacted away: lists and continue tokens at them are 410 Expired.
        self._compacted = 0

    @classmethod
    def from_snapshot(cls, path: str | Path, **kwargs: Any) -> KubeApiServer:
        """Load ``<path>/kubernetes/*.json`` (and optional ``meta.json``, whose server version is used)."""
        root = Path(path)
        resources: dict[str, ResourceData] = {}
        for file in sorted((root / "kubernetes").glob("*.json")):
            raw = file.read_bytes()
            try:
                doc = orjson.loads(raw) if raw.strip() else {"items": []}
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{file}: not valid JSON: {exc}") from exc
            if isinstance(doc, list):
                doc = {"items": doc}
            if not isinstance(doc, dict) or doc.get("kind") == "Status":
                continue  # a failed `kubectl get` captured as a Status, not a list
            resources[file.name[: -len(".json")]] = doc
        meta_file = root / "meta.json"
        meta = orjson.loads(meta_file.read_bytes()) if meta_file.is_file() else {}
        meta = meta if isinstance(meta, dict) else {}
        kwargs.setdefault("meta", meta)
        if "version" not in kwargs and (version := _version_from_meta(meta)) is not None:
            kwargs["version"] = version
        return cls(resources, **kwargs)

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind (port 0 = ephemeral) and serve in a daemon thread; idempotent."""
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer((self.host, self._requested_port), self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True, name="kubeapi"
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut open keep-alive connections and wake stalled responses; idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()  # also the upgraded port-forward connections
        with self._lock:
            backends = list(self._tunnel_sockets)
        for backend in backends:
            with contextlib.suppress(OSError):
                backend.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_kubeconfig(self, path: str | Path, context: str = "test", namespace: str | None = None) -> Path:
        """A kubeconfig pointing at this running server with its token."""
        return write_kubeconfig(path, self.url, self.token, context=context, namespace=namespace)

    # -- data ------------------------------------------------------------------------------------------

    @property
    def resource_types(self) -> dict[str, ResourceType]:
        """Served resources by stem (including synthesized ``namespaces``)."""
        return {stem: r.rtype for stem, r in self._catalog.by_stem.items()}

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def bump_resource_version(self) -> int:
        """A write and then an etcd compaction: continue tokens issued before now get 410 Expired.

        A write alone (set_resource) expires nothing: a real server serves a token's snapshot until etcd
        compacts it (every 5 minutes by default)."""
        with self._lock:
            self._rv += 1
            self._compacted = self._rv
            return self._rv

    def set_resource(self, stem: str, data: ResourceData, api_version: str | None = None) -> None:
        """Replace (or add) one resource's content, bumping the resourceVersion like a write would."""
        with self._lock:
            if api_version is not None:
                self._api_versions[stem] = api_version
            version, cluster_scoped = self._api_versions.get(stem), stem in self._cluster_scoped
            self._data[stem] = _build_resource(stem, data, version, cluster_scoped)
            self._catalog = _make_catalog(self._data)
            self._rv += 1

    # -- faults ----------------------------------------------------------------------------------------

    def inject(
        self,
        path_pattern: str,
        status: int,
        times: int | None = None,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """Fail requests whose path matches (``re.search``) with a realistic Status for ``status``.

        429 defaults to ``retry_after=1`` (Retry-After header plus details.retryAfterSeconds, like
        max-in-flight/APF); 403 reads like an RBAC denial for the requested verb and resource.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(re.compile(path_pattern), status, times, retry_after, message)
        with self._lock:
            self._faults.append(fault)
        return fault

    def delay(self, path_pattern: str, seconds: float, times: int | None = None) -> Delay:
        """Stall matching responses (capped at MAX_DELAY_SECONDS; cut short by stop())."""
        stall = Delay(re.compile(path_pattern), min(max(seconds, 0.0), MAX_DELAY_SECONDS), times)
        with self._lock:
            self._delays.append(stall)
        return stall

    def clear_faults(self) -> None:
        """Remove all injected faults and delays."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    # -- request log -----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- service proxy ---------------------------------------------------------------------------------

    def register_service_proxy(
        self,
        namespace: str,
        name: str,
        port: str | int | None,
        handler: ProxyHandler,
    ) -> None:
        """Back ``/api/v1/namespaces/<ns>/services/[scheme:]<name>[:port]/proxy/...`` with ``handler``.

        ``port=None`` serves any port of that service not registered explicitly.
        """
        with self._lock:
            self._proxies[(namespace, name, None if port is None else str(port))] = handler

    def unregister_service_proxy(self, namespace: str, name: str, port: str | int | None = None) -> None:
        with self._lock:
            self._proxies.pop((namespace, name, None if port is None else str(port)), None)

    # -- port-forward ----------------------------------------------------------------------------------

    def register_port_forward(self, namespace: str, pod: str, port: int, target: tuple[str, int]) -> None:
        """Back ``pods/<pod>/portforward?ports=<port>`` with a real TCP address (what the pod would listen on).

        The pod must be served; a port-forward to a served pod's unregistered port fails like a pod with
        nothing listening there (the kubelet's error on the error channel).
        """
        with self._lock:
            self._port_forwards[(namespace, pod, int(port))] = (target[0], int(target[1]))

    def unregister_port_forward(self, namespace: str, pod: str, port: int) -> None:
        with self._lock:
            self._port_forwards.pop((namespace, pod, int(port)), None)

    # -- request handling (called from handler threads) ------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> ApiResponse:
        """Answer one HTTP request; also usable directly (no socket) from tests and benchmarks.

        An accepted port-forward upgrade answers 101 here; only a socket can then carry the tunnel.
        """
        return self._exchange(method, target, headers, body)[0]

    def _exchange(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[ApiResponse, _Tunnel | None]:
        split = urlsplit(target)
        path = split.path or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        lowered = {k.lower(): v for k, v in headers.items()}
        record = RecordedRequest(
            method,
            path,
            query,
            {h: lowered[h.lower()] for h in _RECORDED_HEADERS if h.lower() in lowered},
            "authorization" in lowered,
            body=body,
        )
        with self._lock:
            self._requests.append(record)
        tunnel: _Tunnel | None = None
        try:
            response = self._respond(method, path, split.query, query, headers, lowered, body)
        except _Upgrade as upgrade:
            response, tunnel = ApiResponse(101, dict(upgrade.headers), b""), upgrade.tunnel
        except _ApiError as err:
            err_headers = {"Content-Type": "application/json", **err.headers}
            response = ApiResponse(err.code, err_headers, _json(err.body))
        except Exception as exc:  # a bug here must surface as the apiserver's 500, not a hang
            cause = {"causes": [{"message": str(exc)}]}
            status = _status(500, "InternalError", f"Internal error occurred: {exc}", cause)
            response = ApiResponse(500, {"Content-Type": "application/json"}, _json(status))
        response.headers.setdefault("Audit-Id", str(uuid.uuid4()))
        response.headers.setdefault("Cache-Control", "no-cache, private")
        record.status = response.status
        return response, tunnel

    def _respond(
        self,
        method: str,
        path: str,
        raw_query: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        lowered: Mapping[str, str],
        body: bytes,
    ) -> ApiResponse:
        self._stall(path)
        if self.token is not None:
            scheme, _, presented = lowered.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or presented.strip() != self.token:
                raise _ApiError(401, "Unauthorized", "Unauthorized")
        self._raise_fault(method, path, query)
        if m := _PORT_FORWARD_RE.fullmatch(path):
            return self._port_forward(method, m, raw_query, lowered)
        if m := _PROXY_RE.fullmatch(path):
            return self._proxy(method, m, raw_query, headers, lowered, body)
        if m := _SELF_SUBJECT_REVIEW_RE.fullmatch(path):
            return self._self_subject_review(method, m.group(1), lowered, body)
        if method != "GET":
            raise _ApiError(405, "MethodNotAllowed", METHOD_NOT_ALLOWED_MESSAGE, {})
        parts = [p for p in path.split("/") if p]
        cat = self._catalog
        if not parts:
            return self._ok(self._root_paths(cat))
        if parts[0] in ("healthz", "livez", "readyz") and len(parts) == 1:
            return ApiResponse(200, {"Content-Type": "text/plain; charset=utf-8"}, b"ok")
        if parts == ["version"]:
            return self._ok(self.version_info)
        if parts == ["api"]:
            address = f"{self.host}:{self._httpd.server_address[1] if self._httpd else 0}"
            cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]
            return self._ok({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidrs})
        if parts == ["apis"]:
            groups = [self._group_doc(cat, g) for g in _ordered_groups(cat)]
            return self._ok({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if parts[0] == "api" and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2 and parts[1] in cat.groups and parts[1]:
            if len(parts) == 2:
                return self._ok({"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(cat, parts[1])})
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts[0] == "api":
            raise _not_found_path()
        else:
            # A group the server does not serve falls through to Go's http.NotFound: plain text, not a Status.
            return _plain(404, "404 page not found")
        if version not in cat.groups.get(group, []):
            raise _not_found_path()
        if not rest:
            return self._ok(self._resource_list_doc(cat, group, version))
        return self._resource_request(cat, group, version, rest, query)

    def _resource_request(
        self, cat: _Catalog, group: str, version: str, rest: list[str], query: dict[str, str]
    ) -> ApiResponse:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource = cat.by_gvr.get((group, version, rest[0]))
        if resource is None or (namespace is not None and not resource.rtype.namespaced):
            if namespace is not None and group == "" and rest in (["status"], ["finalize"]):
                return self._get(cat.by_gvr[("", "v1", "namespaces")], "", namespace)
            raise _not_found_path()
        if len(rest) == 1:
            if query.get("watch") in ("true", "1"):
                raise _ApiError(405, "MethodNotAllowed", "watch is not supported by this fake API server", {})
            return self._list(resource, namespace, query)
        if len(rest) == 2 and (namespace is not None or not resource.rtype.namespaced):
            return self._get(resource, namespace or "", rest[1])
        raise _not_found_path()

    def _list(self, resource: _Resource, namespace: str | None, query: dict[str, str]) -> ApiResponse:
        rtype = resource.rtype
        rv_param, match, token = query.get("resourceVersion", ""), query.get("resourceVersionMatch", ""), ""
        if rtype.paged:
            token = query.get("continue", "")
            _validate_list_options(rv_param, match, token)
        selectors = _parse_label_selector(query.get("labelSelector", ""))
        selectors += _parse_field_selector(query.get("fieldSelector", ""), rtype)
        limit: int | None = None
        if raw_limit := query.get("limit", ""):
            try:
                limit = int(raw_limit)
            except ValueError:
                raise _bad_request(f'strconv.ParseInt: parsing "{raw_limit}": invalid syntax') from None
        # A resourceVersion=0 list is served from the watch cache, which ignores limit: one response with
        # every item, no continue (measured on v1.36, whose cache pages only continue requests).
        from_cache = rv_param == "0" and not token
        if (limit is not None and limit <= 0) or not rtype.paged or from_cache:
            limit = None  # limit<=0 means "all"
        with self._lock:
            list_rv, expire, compacted = self._rv, self.expire_continue_tokens, self._compacted
        if rtype.paged and rv_param.isdigit() and int(rv_param) > 0:
            requested = int(rv_param)
            if requested > list_rv:
                causes = [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]
                raise _ApiError(
                    504,
                    "Timeout",
                    f"Timeout: Too large resource version: {requested}, current: {list_rv}",
                    {"causes": causes, "retryAfterSeconds": 1},
                    headers={"Retry-After": "1"},
                )
            if match == "Exact" and requested < compacted:
                raise _ApiError(410, "Expired", "The resourceVersion for the provided list is too old.")
        start = ""
        if token:
            token_rv, start = _decode_continue(token)
            if expire or 0 < token_rv < compacted:
                raise _ApiError(
                    410,
                    "Expired",
                    CONTINUE_EXPIRED_MESSAGE,
                    metadata={"continue": _encode_continue(-1, start)},
                )
            if token_rv > 0:
                list_rv = token_rv
        keys, entries = resource.keys, resource.entries
        lo, hi = 0, len(keys)
        if namespace is not None:
            lo, hi = bisect.bisect_left(keys, f"{namespace}/"), bisect.bisect_left(keys, f"{namespace}0")
        if start:
            lo = max(lo, bisect.bisect_left(keys, start))
        page: list[bytes] = []
        next_index = hi
        for i in range(lo, hi):
            entry = entries[i]
            if selectors and not all(match_(entry) for match_ in selectors):
                continue
            page.append(entry.list_json)
            if limit is not None and len(page) >= limit:
                next_index = i + 1
                break
        meta: Obj = {"resourceVersion": str(list_rv)} if rtype.paged else {}
        if next_index < hi:  # like etcd: more keys remain in range, whether or not they will match
            meta["continue"] = _encode_continue(list_rv, keys[next_index - 1] + "\x00")
            if not selectors:  # the apiserver only counts the remainder for an empty predicate
                meta["remainingItemCount"] = hi - next_index
        envelope = {"kind": f"{rtype.kind}List", "apiVersion": rtype.group_version, "metadata": meta}
        head = orjson.dumps(envelope)
        body = b"".join((head[:-1], b',"items":[', b",".join(page), b"]}\n"))
        return ApiResponse(200, {"Content-Type": "application/json"}, body)

    def _get(self, resource: _Resource, namespace: str, name: str) -> ApiResponse:
        entry = resource.find(namespace, name)
        if entry is None:
            rtype = resource.rtype
            details: Obj = {
                "name": name,
                **({"group": rtype.group} if rtype.group else {}),
                "kind": rtype.name,
            }
            raise _ApiError(404, "NotFound", f'{rtype.qualified} "{name}" not found', details)
        return self._ok(entry.obj)

    def _proxy(
        self,
        method: str,
        m: re.Match[str],
        raw_query: str,
        headers: Mapping[str, str],
        lowered: Mapping[str, str],
        body: bytes,
    ) -> ApiResponse:
        namespace, target, tail = unquote(m.group(1)), unquote(m.group(2)), m.group(3) or "/"
        fields = target.split(":")
        scheme = "http"
        if len(fields) > 1 and fields[0] in ("http", "https"):
            scheme = fields.pop(0)
        name, port = fields[0], (fields[1] or None) if len(fields) > 1 else None
        with self._lock:
            handler = self._proxies.get((namespace, name, port)) or self._proxies.get((namespace, name, None))
            if handler is None and port is None:
                same_service = (h for (ns, n, _), h in self._proxies.items() if (ns, n) == (namespace, name))
                handler = next(same_service, None)
        if handler is None:
            raise self._unreachable_service(namespace, name, port)
        forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        forwarded["X-Forwarded-Uri"] = m.group(0)
        forwarded["X-Forwarded-Host"] = lowered.get("host", "")
        forwarded["X-Forwarded-Proto"] = "http"
        forwarded["X-Forwarded-Scheme"] = scheme  # not sent by the apiserver: tells the backend http vs https
        try:
            status, out_headers, out_body = handler(
                method, tail + (f"?{raw_query}" if raw_query else ""), forwarded, body
            )
        except Exception as exc:  # a failing backend is what the apiserver reports as 503
            raise _ApiError(503, "ServiceUnavailable", f"error trying to reach service: {exc}") from None
        kept = {k: v for k, v in out_headers.items() if k.lower() not in _HOP_BY_HOP}
        return ApiResponse(status, kept, out_body)

    def _unreachable_service(self, namespace: str, name: str, port: str | None) -> _ApiError:
        """The apiserver's answer for a proxied service with no backend, when the served Services can tell.

        A Service that does not exist is 404, and so is one without an Endpoints object (when Endpoints are
        served); a port the Service does not have, or no ready address, is 503."""
        services = self._catalog.by_gvr.get(("", "v1", "services"))
        endpoints = self._catalog.by_gvr.get(("", "v1", "endpoints"))
        entry = services.find(namespace, name) if services is not None else None
        missing = services is not None and entry is None
        if missing or (endpoints is not None and endpoints.find(namespace, name) is None):
            return _ApiError(404, "NotFound", f'services "{name}" not found', {"name": name, "kind": "services"})
        if entry is not None and port is not None:
            ports = (entry.obj.get("spec") or {}).get("ports") or []
            if not any(port in (str(p.get("port")), p.get("name")) for p in ports):
                return _ApiError(503, "ServiceUnavailable", f'no service port {port} found for service "{name}"')
        return _ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')

    def _port_forward(self, method: str, m: re.Match[str], raw_query: str, lowered: Mapping[str, str]) -> ApiResponse:
        """pods/portforward: the apiserver's checks, then the kubelet's, then the RFC 6455 handshake (_Upgrade)."""
        if method not in ("GET", "POST"):  # the connecter serves GET and POST
            raise _ApiError(405, "MethodNotAllowed", METHOD_NOT_ALLOWED_MESSAGE, {})
        namespace, name = unquote(m.group(1)), unquote(m.group(2))
        pods = self._catalog.by_gvr.get(("", "v1", "pods"))
        entry = pods.find(namespace, name) if pods is not None else None
        if entry is None:
            raise _ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
        if not _field_value(entry, "spec.nodeName", ""):
            raise _bad_request(f"pod {name} does not have a host assigned")
        upgrade = lowered.get("upgrade", "").strip()
        connection = {token.strip().lower() for token in lowered.get("connection", "").split(",")}
        if not upgrade or "upgrade" not in connection:
            raise _bad_request("Upgrade request required")  # UpgradeAwareHandler with UpgradeRequired
        if upgrade.lower() != "websocket":
            raise _bad_request(
                f"{upgrade} upgrades are not implemented by this test server; it serves port-forward over "
                f"WebSocket ({', '.join(PORT_FORWARD_PROTOCOLS)})"
            )
        offered = [p.strip() for p in lowered.get("sec-websocket-protocol", "").split(",") if p.strip()]
        if _SPDY_TUNNELING in offered and not set(offered) & set(PORT_FORWARD_PROTOCOLS):
            # The apiserver itself (not the kubelet) serves this one, from the stream headers, without ?ports=.
            raise _bad_request(
                f"{_SPDY_TUNNELING} (SPDY/3.1 tunneled over WebSocket, as kubectl speaks it) is not implemented by "
                f"this test server; it serves WebSocket {', '.join(PORT_FORWARD_PROTOCOLS)}"
            )
        # From here the kubelet answers: its errors are plain text, passed through by the apiserver.
        ports, problem = _forward_ports(parse_qs(raw_query, keep_blank_values=True).get("ports", []))
        if problem:
            return _plain(400, problem)
        if _field_value(entry, "status.phase", "") != "Running":
            message = "Internal error occurred: sandbox container is not running"
            raise _ApiError(500, "InternalError", message, {"causes": [{"message": message}]})
        if lowered.get("sec-websocket-version", "").strip() != "13":
            return _plain(400, "", {"Sec-WebSocket-Version": "13"})
        key = lowered.get("sec-websocket-key", "").strip()
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            valid_key = False
        if not valid_key:
            return _plain(400, "")
        chosen = next((p for p in offered if p in PORT_FORWARD_PROTOCOLS), None)
        if offered and chosen is None:  # wsstream's handshake refusal (x/net/websocket answers 403)
            supported = " ".join(("", *PORT_FORWARD_PROTOCOLS))
            text = (
                f"requested protocol(s) are not supported: [{' '.join(offered)}]; supported protocols are [{supported}]"
            )
            return _plain(403, text)
        accept = base64.b64encode(hashlib.sha1((key + _WEBSOCKET_GUID).encode()).digest()).decode()
        headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept}
        if chosen is not None:
            headers["Sec-WebSocket-Protocol"] = chosen
        uid = str((entry.obj.get("metadata") or {}).get("uid") or "")
        raise _Upgrade(headers, _Tunnel(namespace, name, uid, tuple(ports)))

    def _dial(self, tunnel: _Tunnel, port: int) -> tuple[socket.socket | None, str]:
        """Connect to the pod's port like the CRI runtime (inside the pod's network namespace); or its error."""
        with self._lock:
            target = self._port_forwards.get((tunnel.namespace, tunnel.pod, port))
        failure = "connect: connection refused"
        if target is not None:
            try:
                backend = socket.create_connection(target, timeout=5)
            except OSError as exc:
                failure = f"connect: {(exc.strerror or str(exc)).lower()}"
            else:
                backend.settimeout(None)
                with self._lock:
                    self._tunnel_sockets.add(backend)
                return backend, ""
        sandbox = hashlib.sha256(f"{tunnel.namespace}/{tunnel.pod}/{tunnel.uid}".encode()).hexdigest()
        netns = uuid.uuid5(uuid.NAMESPACE_OID, sandbox)
        return None, (
            f"error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in network "
            f'namespace "/var/run/netns/cni-{netns}": failed to connect to localhost:{port} inside namespace '
            f'"{sandbox}", IPv4: dial tcp4 127.0.0.1:{port}: {failure} IPv6 dial tcp6 [::1]:{port}: {failure} '
        )

    def _run_port_forward(self, conn: socket.socket, read: Callable[[int], bytes], tunnel: _Tunnel) -> None:
        """Relay like the kubelet: port prefixes on every channel, then pod bytes <-> channel 2i frames.

        Ends when the client closes, or (after a close frame) when every pod connection has closed.
        """
        ws = _ServerWebSocket(conn, read)
        for i, port in enumerate(tunnel.ports):
            prefix = port.to_bytes(2, "little")
            ws.send(_WS_BINARY, bytes((2 * i,)) + prefix)
            ws.send(_WS_BINARY, bytes((2 * i + 1,)) + prefix)
        backends: list[socket.socket | None] = []
        for i, port in enumerate(tunnel.ports):
            backend, error = self._dial(tunnel, port)
            if error:
                ws.send(_WS_BINARY, bytes((2 * i + 1,)) + error.encode())
            backends.append(backend)
        client_gone = threading.Event()

        def pump(channel: int, backend: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while chunk := backend.recv(_FORWARD_CHUNK):
                    if not ws.send(_WS_BINARY, bytes((channel,)) + chunk):
                        break

        pumps = [
            threading.Thread(target=pump, args=(2 * i, b), daemon=True, name=f"portforward-{tunnel.pod}-{i}")
            for i, b in enumerate(backends)
            if b is not None
        ]

        def finish() -> None:
            for thread in pumps:
                thread.join()
            ws.close(1000)
            if not client_gone.wait(_CLOSE_GRACE_SECONDS):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)  # unblocks the reader below

        for thread in pumps:
            thread.start()
        finisher = threading.Thread(target=finish, daemon=True, name=f"portforward-{tunnel.pod}")
        finisher.start()
        try:
            while True:
                _, message = ws.receive()
                index = message[0] // 2 if message else -1
                if message and message[0] % 2 == 0 and index < len(backends) and backends[index] is not None:
                    with contextlib.suppress(OSError):
                        cast(socket.socket, backends[index]).sendall(message[1:])
                # Other channels (error channels, unknown ones) are ignored, as wsstream does.
        except _WebSocketClosed:
            pass
        finally:
            client_gone.set()
            opened = [b for b in backends if b is not None]
            for backend in opened:
                with contextlib.suppress(OSError):
                    backend.shutdown(socket.SHUT_RDWR)  # ends the pumps' recv
            finisher.join(timeout=_CLOSE_GRACE_SECONDS + 1)
            for backend in opened:
                backend.close()
                with self._lock:
                    self._tunnel_sockets.discard(backend)

    def _self_subject_review(self, method: str, version: str, lowered: Mapping[str, str], body: bytes) -> ApiResponse:
        """``kubectl auth whoami``: a create-only resource answering with the authenticated user (201 Created).

        ``extra`` is left out (a bearer token has none here); ``uid`` is stable per user, like a ServiceAccount's.
        """
        if version not in self.self_subject_review_versions:
            raise _not_found_path()
        if method != "POST":
            raise _ApiError(405, "MethodNotAllowed", METHOD_NOT_ALLOWED_MESSAGE, {})
        api_version = f"authentication.k8s.io/{version}"
        media = lowered.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            message = "the body of the request was in an unknown format - accepted media types include: "
            raise _ApiError(415, "UnsupportedMediaType", message + _ACCEPTED_MEDIA_TYPES)
        try:
            review = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _bad_request(f"couldn't get version/kind; json parse error: {exc}") from None
        if not isinstance(review, dict):
            raise _bad_request("couldn't get version/kind; json parse error: expected an object")
        # As the create handler's decoder: kind and apiVersion default to the URL's, and must match it if given.
        kind, sent_version = review.get("kind") or "SelfSubjectReview", review.get("apiVersion") or api_version
        if sent_version != api_version:
            raise _bad_request(
                f"the API version in the data ({sent_version}) does not match the expected API version ({api_version})"
            )
        if kind != "SelfSubjectReview":
            raise _bad_request(f'{kind} in version "{version}" cannot be handled as a SelfSubjectReview')
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        answer = {
            "kind": "SelfSubjectReview",
            "apiVersion": api_version,
            "metadata": {"creationTimestamp": created},
            "status": {
                "userInfo": {
                    "username": self.user,
                    "uid": str(uuid.uuid5(uuid.NAMESPACE_OID, self.user)),
                    "groups": list(self.groups),
                }
            },
        }
        return ApiResponse(201, {"Content-Type": "application/json"}, _json(answer))

    def _stall(self, path: str) -> None:
        with self._lock:
            seconds = 0.0
            for stall in self._delays:
                if (stall.times is None or stall.hits < stall.times) and stall.pattern.search(path):
                    stall.hits += 1
                    seconds += stall.seconds
        if seconds:
            self._stopping.wait(min(seconds, MAX_DELAY_SECONDS))

    def _raise_fault(self, method: str, path: str, query: Mapping[str, str]) -> None:
        with self._lock:
            fault = next((f for f in self._faults if not f.exhausted and f.pattern.search(path)), None)
            if fault is None:
                return
            fault.hits += 1
        reason, message = _FAULT_DEFAULTS.get(fault.status, ("", f"injected HTTP {fault.status}"))
        details: Obj | None = {} if fault.status in (404, 405) else None
        if fault.status == 403:
            message, details = self._forbidden(method, path, query)
        message = fault.message or message
        if fault.status == 500:  # NewInternalError: the cause repeated in details
            details = {"causes": [{"message": message.removeprefix("Internal error occurred: ")}]}
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
            details = {**(details or {}), "retryAfterSeconds": fault.retry_after}
        raise _ApiError(fault.status, reason, message, details, headers=headers)

    def _forbidden(self, method: str, path: str, query: Mapping[str, str]) -> tuple[str, Obj]:
        """RBAC's wording for the verb/resource/scope this path implies."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"] and len(parts) > 2:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) > 3:
            group, rest = parts[1], parts[3:]
        else:
            verb = _VERBS.get(method, method.lower())
            return f'forbidden: User "{self.user}" cannot {verb} path "{path}"', {}
        namespace = ""
        if rest[0] == "namespaces" and len(rest) > 1:  # as RequestInfoFactory: a namespace is its own scope
            namespace = rest[1]
            if len(rest) > 2 and rest[2] not in ("status", "finalize"):
                rest = rest[2:]
        resource, name = rest[0], rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        verb = _VERBS.get(method, method.lower())
        if method in ("GET", "HEAD") and not name:
            verb = "watch" if query.get("watch") in ("true", "1") else "list"
        elif method == "DELETE" and not name:
            verb = "deletecollection"
        qualified = f"{resource}.{group}" if group else resource
        subject = f'{qualified} "{name}"' if name else qualified
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        full = f"{resource}/{subresource}" if subresource else resource
        denial = f'User "{self.user}" cannot {verb} resource "{full}" in API group "{group}" {scope}'
        message = f"{subject} is forbidden: {denial}"
        details: Obj = {
            **({"name": name} if name else {}),
            **({"group": group} if group else {}),
            "kind": resource,
        }
        return message, details

    # -- discovery documents ---------------------------------------------------------------------------

    @staticmethod
    def _ok(doc: Any) -> ApiResponse:
        return ApiResponse(200, {"Content-Type": "application/json"}, _json(doc))

    @staticmethod
    def _group_doc(cat: _Catalog, group: str) -> Obj:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in cat.groups[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    @staticmethod
    def _resource_list_doc(cat: _Catalog, group: str, version: str) -> Obj:
        resources = [
            {
                "name": r.rtype.name,
                "singularName": r.rtype.kind.lower(),
                "namespaced": r.rtype.namespaced,
                "kind": r.rtype.kind,
                "verbs": ["get", "list"],
            }
            for r in cat.resources_of(group, version)
        ]
        if not group:  # the core list has no apiVersion, group lists do (as the real server)
            return {"kind": "APIResourceList", "groupVersion": version, "resources": resources}
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}",
            "resources": resources,
        }

    @staticmethod
    def _root_paths(cat: _Catalog) -> Obj:
        paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
        for group, versions in cat.groups.items():
            if group:
                paths += [f"/apis/{group}"] + [f"/apis/{group}/{v}" for v in versions]
        return {"paths": sorted(paths)}


def _rv_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _ordered_groups(cat: _Catalog) -> list[str]:
    """Built-in groups first in apiserver order, then the rest (CRDs, aggregated) alphabetically."""
    builtin_order = ("apps", "autoscaling", "batch", "policy", *_BUILTIN_GROUPS)
    rank = {g: i for i, g in enumerate(builtin_order)}
    return sorted((g for g in cat.groups if g), key=lambda g: (rank.get(g, len(rank)), g))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 refuses bursts from concurrent benchmark clients

    def __init__(self, address: tuple[str, int], api: KubeApiServer) -> None:
        self.api = api
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Unblock handler threads parked on idle keep-alive connections."""
        with self.connections_lock:
            connections = list(self.open_connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Thin socket layer: parse, delegate to KubeApiServer.handle, write. HTTP/1.1 keep-alive like Go."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed after this

    def setup(self) -> None:
        super().setup()
        srv = cast(_HTTPServer, self.server)
        with srv.connections_lock:
            srv.open_connections.add(self.connection)

    def finish(self) -> None:
        srv = cast(_HTTPServer, self.server)
        with srv.connections_lock:
            srv.open_connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def send_response(self, code: int, message: str | None = None) -> None:
        """Like Go's net/http: a Date header but no Server header."""
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests inspect ``KubeApiServer.requests`` instead."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
            api = cast(_HTTPServer, self.server).api
            headers = {k: v for k, v in self.headers.items() if k.lower() != "sec-websocket-protocol"}
            if offered := self.headers.get_all("Sec-WebSocket-Protocol"):  # may come as several headers
                headers["Sec-WebSocket-Protocol"] = ", ".join(offered)
            response, tunnel = api._exchange(self.command, self.path, headers, body)
            if tunnel is not None:
                self.send_response(101, "Switching Protocols")
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.close_connection = True
                api._run_port_forward(self.connection, self.rfile.read, tunnel)
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch


def write_kubeconfig(
    path: str | Path,
    server_url: str,
    token: str | None,
    context: str = "test",
    namespace: str | None = None,
    certificate_authority: Path | None = None,
) -> Path:
    """Write a kubeconfig (JSON, which is valid YAML) with one cluster/user/context set as current; with
    `certificate_authority`, the server's CA inline, as kubectl writes it."""
    ctx: Obj = {"cluster": context, "user": context}
    cluster: Obj = {"server": server_url}
    if certificate_authority is not None:
        cluster["certificate-authority-data"] = base64.b64encode(certificate_authority.read_bytes()).decode()
    if namespace:
        ctx["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": {"token": token} if token else {}}],
        "contexts": [{"name": context, "context": ctx}],
        "current-context": context,
        "preferences": {},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(config, indent=2) + "\n")
    return target
