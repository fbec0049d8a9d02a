"""The Kubernetes RBAC a profile's live run needs, computed from the checks it configures: reads only, no Secrets.

`python -m conformance rbac PROFILE` prints it as manifests; `deploy/rbac.yaml` is that output for prod.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args
from urllib.parse import unquote

from pydantic import BaseModel

from conformance import registry
from conformance.check import CheckSpec
from conformance.cluster.resources import Resource
from conformance.profile.model import Profile
from conformance.profile.services import Access, Services
from conformance.services.access import proxy_path
from conformance.services.source import ServiceSource

RBAC_API = "rbac.authorization.k8s.io/v1"
LABELS = {"app.kubernetes.io/name": "cluster-conformance"}
CLUSTER_ROLE = "conformance-reader"
SERVICE_ROLE = "conformance-services"
# Discovery and the server version (`GET /version`, `GET /apis/<group>` for CRD groups whose served version
# varies). The built-in system:discovery role grants these to every authenticated user; they are listed so
# the role stands on its own where that binding was narrowed.
DISCOVERY_URLS = ("/api", "/apis", "/apis/*", "/version")
COMMENT_WIDTH = 118


@dataclass(frozen=True)
class Rule:
    """One PolicyRule; `why` says which checks or lookups need it (rendered as a comment, not part of the rule)."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    why: tuple[str, ...] = field(default=(), compare=False)

    def as_dict(self) -> dict[str, list[str]]:
        """The rule in the Kubernetes field names, empty fields left out (as the API server returns it)."""
        fields = {
            "apiGroups": self.api_groups,
            "resources": self.resources,
            "resourceNames": self.resource_names,
            "nonResourceURLs": self.non_resource_urls,
            "verbs": self.verbs,
        }
        return {name: list(values) for name, values in fields.items() if values or name == "verbs"}


@dataclass(frozen=True)
class Permissions:
    """Cluster-wide rules (one ClusterRole) and, per namespace, the rules for services reached through the API
    server (one Role each: a service proxy or a port-forward is granted only where the profile uses it)."""

    cluster: tuple[Rule, ...]
    namespaced: dict[str, tuple[Rule, ...]]
    direct: tuple[str, ...] = ()  # services reached without the API server (network access, not RBAC)


# -------------------------------------------------------------------------------------------- the checks


def check_specs() -> Iterator[tuple[str, CheckSpec[Any]]]:
    """Every check of the suite as (test function name, spec), from the check registry."""
    for registered in registry.checks():
        yield registered.name, registered.spec


def reads(profile: Profile) -> dict[Resource | ServiceSource, set[str]]:
    """What a run of the profile reads (each Resource and ServiceSource), with the checks that read it."""
    needed: dict[str, tuple[Resource | ServiceSource, set[str]]] = {}
    for name, spec in check_specs():
        for _ident, expectation in spec.expand(profile) or ():
            for need in spec.reads(expectation):
                key = f"{type(need).__name__}:{need.name}"
                needed.setdefault(key, (need, set()))[1].add(name)
    return dict(needed.values())


def section_of(profile: Profile, source: ServiceSource) -> BaseModel:
    """The profile section a service source is read by; its defaults when a check of another area reads the
    service without one (capacity from Prometheus), as the collectors do."""
    section = getattr(profile.services, source.name, None) if profile.services is not None else None
    if isinstance(section, BaseModel):
        return section
    if source.name not in Services.model_fields:
        raise ValueError(f"service source {source.name!r} has no section under services: in the profile model")
    annotation = Services.model_fields[source.name].annotation
    model = next(t for t in get_args(annotation) if isinstance(t, type) and issubclass(t, BaseModel))
    return model()


def access_of(profile: Profile, source: ServiceSource) -> Access | None:
    """How the run reaches a service over HTTP (url, service proxy or port-forward); None for services with a
    client of their own (Kafka's brokers)."""
    access = getattr(section_of(profile, source), "access", None)
    return access if isinstance(access, Access) else None


# ---------------------------------------------------------------------------------------------- the rules


def permissions(profile: Profile) -> Permissions:
    """The least RBAC a live run of the profile needs."""
    needed = reads(profile)
    resources = {r: checks for r, checks in needed.items() if isinstance(r, Resource)}
    listed = {r.name for r in resources}
    by_group: dict[str, dict[str, set[str]]] = {}
    for res, checks in resources.items():
        by_group.setdefault(res.group, {}).setdefault(res.plural, set()).update(checks)
    cluster: list[Rule] = []
    for group in sorted(by_group, key=lambda g: (g != "", g)):
        plurals = by_group[group]
        why = tuple(f"{plural}: {', '.join(sorted(plurals[plural]))}" for plural in sorted(plurals))
        cluster.append(Rule(("list",), (group,), tuple(sorted(plurals)), why=why))
    if "namespaces" not in listed:
        why = ("the run manifest's cluster identity: the kube-system namespace UID",)
        cluster.append(Rule(("get",), ("",), ("namespaces",), ("kube-system",), why=why))
    cluster.append(
        Rule(
            ("create",),
            ("authentication.k8s.io",),
            ("selfsubjectreviews",),
            why=("the run manifest records who ran the suite (kubectl auth whoami)",),
        )
    )
    cluster.append(Rule(("get",), non_resource_urls=DISCOVERY_URLS, why=("server version and API discovery",)))

    namespaced: dict[str, dict[tuple[str, tuple[str, ...]], tuple[set[str] | None, list[str]]]] = {}
    direct: list[str] = []

    def grant(namespace: str, resource: str, verbs: tuple[str, ...], name: str | None, reason: str) -> None:
        """Add a grant; grants of one resource and verbs merge, their names united (no name: any name)."""
        names, reasons = namespaced.setdefault(namespace, {}).setdefault((resource, verbs), (set(), []))
        if names is not None and name is not None:
            names.add(name)
        elif name is None:
            namespaced[namespace][(resource, verbs)] = (None, reasons)
        if reason not in reasons:
            reasons.append(reason)

    for source, checks in sorted(((s, c) for s, c in needed.items() if isinstance(s, ServiceSource)), key=_by_name):
        access = access_of(profile, source)
        users = ", ".join(sorted(checks))
        if access is None or access.url is not None:
            address = access.url if access is not None else getattr(section_of(profile, source), "bootstrap", None)
            direct.append(f"{source.name}: {address or 'its own client'} ({users})")
            continue
        reason = f"{source.name}: {access.describe()} ({users})"
        if access.service is not None:
            ref = access.service
            # The authorizer's resource name is the path segment as sent, `[https:]name:port`: a rule naming the
            # Service alone does not match a port-qualified proxy request.
            path = proxy_path(ref.namespace, ref.name, ref.port, ref.scheme, "")
            target = unquote(path.rstrip("/").removesuffix("/proxy").rsplit("/", 1)[1])
            grant(ref.namespace, "services/proxy", ("get",), target, reason)
            continue
        forward = access.port_forward
        assert forward is not None
        # 1.35+ authorizes a WebSocket upgrade as `create` as well as `get`.
        if forward.service is not None:
            grant(forward.namespace, "services", ("get",), forward.service, reason)
            if "pods" not in listed:
                grant(forward.namespace, "pods", ("list",), None, reason)
            grant(forward.namespace, "pods/portforward", ("get", "create"), None, reason)
        else:
            grant(forward.namespace, "pods/portforward", ("get", "create"), forward.pod, reason)

    roles = {
        namespace: tuple(
            Rule(verbs, ("",), (resource,), tuple(sorted(names)) if names else (), why=tuple(reasons))
            for (resource, verbs), (names, reasons) in sorted(grants.items())
        )
        for namespace, grants in sorted(namespaced.items())
    }
    return Permissions(tuple(cluster), roles, tuple(direct))


def _by_name(item: tuple[ServiceSource, set[str]]) -> str:
    return item[0].name


# ------------------------------------------------------------------------------------------- the manifests


def manifests(
    grants: Permissions, namespace: str = "conformance", service_account: str = "conformance"
) -> list[dict[str, Any]]:
    """Namespace, ServiceAccount, ClusterRole + ClusterRoleBinding, and a Role + RoleBinding per namespace."""
    subject = [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]
    documents: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": LABELS}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": service_account, "namespace": namespace, "labels": LABELS},
            # No token in pods by default: the CronJob's pod opts in (automountServiceAccountToken: true).
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": RBAC_API,
            "kind": "ClusterRole",
            "metadata": {"name": CLUSTER_ROLE, "labels": LABELS},
            "rules": [r.as_dict() for r in grants.cluster],
        },
        {
            "apiVersion": RBAC_API,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": CLUSTER_ROLE, "labels": LABELS},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": subject,
        },
    ]
    for where, rules in grants.namespaced.items():
        documents.append(
            {
                "apiVersion": RBAC_API,
                "kind": "Role",
                "metadata": {"name": SERVICE_ROLE, "namespace": where, "labels": LABELS},
                "rules": [r.as_dict() for r in rules],
            }
        )
        documents.append(
            {
                "apiVersion": RBAC_API,
                "kind": "RoleBinding",
                "metadata": {"name": SERVICE_ROLE, "namespace": where, "labels": LABELS},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ROLE},
                "subjects": subject,
            }
        )
    return documents


def render(
    grants: Permissions, profile_ref: str, namespace: str = "conformance", service_account: str = "conformance"
) -> str:
    """The manifests as YAML, each rule preceded by comments naming what needs it."""
    header = [
        f"# RBAC for live runs of the conformance suite with profile {profile_ref}: get and list, no Secrets;",
        "# create only where the API asks it of a read (SelfSubjectReview, port-forward upgrades); service proxies",
        "# and port-forwards only to the services the profile reaches that way, in their namespaces.",
        f"# Generated by `python -m conformance rbac {profile_ref}`; regenerate it when the profile changes.",
    ]
    if grants.direct:
        header.append("# Reached directly, without the API server (needs network access, not RBAC):")
        header += _comment(grants.direct, "#   ")
    blocks = []
    for document in manifests(grants, namespace, service_account):
        document.pop("rules", None)  # rendered below from the Rules, with their reasons
        lines = _yaml_lines(document, "")
        if document["kind"] in ("ClusterRole", "Role"):
            where = str(document["metadata"].get("namespace", ""))
            role = grants.cluster if document["kind"] == "ClusterRole" else grants.namespaced[where]
            lines.append("rules:")
            for rule in role:
                lines += _comment(rule.why, "  # ")
                body = _yaml_lines(rule.as_dict(), "    ")
                lines += ["  - " + body[0].lstrip(), *body[1:]]
        blocks.append("\n".join(lines))
    return "\n".join(header) + "\n" + "\n---\n".join(blocks) + "\n"


def _comment(texts: Sequence[str], prefix: str) -> list[str]:
    lines: list[str] = []
    for text in texts:
        wrapped = textwrap.wrap(text, COMMENT_WIDTH - len(prefix), break_on_hyphens=False)
        lines += [prefix + wrapped[0], *(prefix + "  " + rest for rest in wrapped[1:])]
    return lines


def _yaml_lines(value: dict[str, Any], indent: str) -> list[str]:
    """Block mappings with flow lists; strings JSON-quoted where YAML could read them otherwise."""
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{indent}{key}:")
            lines += _yaml_lines(item, indent + "  ")
        elif isinstance(item, list) and item and isinstance(item[0], dict):
            lines.append(f"{indent}{key}:")
            for entry in item:
                body = _yaml_lines(entry, indent + "    ")
                lines += [f"{indent}  - " + body[0].lstrip(), *body[1:]]
        elif isinstance(item, list):
            lines.append(f"{indent}{key}: [{', '.join(json.dumps(str(v)) for v in item)}]")
        else:
            lines.append(f"{indent}{key}: {_scalar(item)}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS else json.dumps(text)


_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9./-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})  # YAML 1.1 reads these
