"""Istio proxies: every proxy SYNCED, the proxies the platform relies on present, enough sidecars.

Live, istiod's /debug/syncz is read through the profile's access (a port-forward by default, as
istioctl does, since the debug endpoints trust loopback). Snapshots may instead hold what operators
capture: `istioctl proxy-status` text (1.18-1.26) or JSON (1.30+).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.check import Culprit, Derived, Finding
from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate
from conformance.istio.sync import ProxySync, parse_client_configs, parse_proxy_status_text, parse_syncz
from conformance.profile.model import Profile
from conformance.profile.services import Istio, ProxyExpectation
from conformance.services.source import LiveContext, ServiceSource, load_json

FILES = ("syncz.json", "proxy-status.json", "proxy-status.txt")
OK_STATES = frozenset({"SYNCED"})


def collect(ctx: LiveContext) -> dict[str, bytes]:
    settings = ctx.profile.services.istio if ctx.profile.services else None
    assert settings is not None
    endpoint = ctx.endpoint("istio", settings.access)
    body = endpoint.body("/debug/syncz")
    load_json("istio", "syncz.json", body)  # refuse to store what is not JSON
    return {"syncz.json": body}


SOURCE = ServiceSource("istio", FILES, collect)


def read_proxies(state: ClusterState) -> tuple[list[ProxySync], str]:
    file, body = state.first_document("istio", FILES)
    origin = f"istio/{file}"
    if file == "syncz.json":
        return parse_syncz(load_json("istio", file, body), origin), origin
    if file == "proxy-status.json":
        return parse_client_configs(load_json("istio", file, body), origin), origin
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CouldNotEvaluate(f"{origin} is not UTF-8 text") from None
    return parse_proxy_status_text(text, origin), origin


@dataclass(frozen=True)
class MeshRule(Derived):
    rule: str
    istio: Istio

    @property
    def traced(self) -> Istio:
        return self.istio

    def __str__(self) -> str:
        return self.rule


def _not_sent_allowed(settings: Istio, proxy: ProxySync, kind: str) -> bool:
    return any(
        allowance.type == kind and allowance.namespace in (None, proxy.namespace)
        for allowance in settings.not_sent_allowed
    )


def proxies_synced(state: ClusterState, rule: MeshRule, profile: Profile) -> Finding:
    settings = rule.istio
    proxies, origin = read_proxies(state)
    culprits = []
    for proxy in proxies:
        # What `istioctl proxy-config all POD.NS` needs (conformance.remediation fills the hint from details).
        where = {key: value for key, value in (("pod", proxy.pod), ("namespace", proxy.namespace)) if value}
        for kind in settings.types:
            seen = proxy.states.get(kind)
            if seen is None:
                culprits.append(Culprit(proxy.proxy, f"{kind} not reported in {origin}", where))
            elif (
                seen in OK_STATES
                or (seen == "NOT SENT" and _not_sent_allowed(settings, proxy, kind))
                or (seen == "IGNORED" and proxy.proxy_type == "ztunnel")
            ):
                continue
            else:
                error = f": {proxy.errors[kind]}" if kind in proxy.errors else ""
                culprits.append(Culprit(proxy.proxy, f"{kind} {seen}{error}", where))
    versions = sorted({p.version for p in proxies if p.version})
    return Finding(
        expected=f"every proxy {'/'.join(settings.types)} SYNCED"
        + (
            f" (NOT SENT allowed for {', '.join(a.type for a in settings.not_sent_allowed)})"
            if settings.not_sent_allowed
            else ""
        ),
        observed=f"{len(proxies) - len({c.name for c in culprits})} of {len(proxies)} proxies synced; "
        f"Istio {', '.join(versions) or 'version not reported'} ({origin})",
        inspected=len(proxies),
        culprits=culprits,
        evidence=(f"istio/{origin.split('/', 1)[1]}",),
    )


def _matches(workload: str, pod: str) -> bool:
    # Pod hashes change on every rollout: match Deployment, StatefulSet and DaemonSet pod names.
    return (
        re.fullmatch(rf"{re.escape(workload)}(-[a-z0-9]{{6,10}})?-[a-z0-9]{{5}}|{re.escape(workload)}-\d+", pod)
        is not None
    )


def expected_proxies(state: ClusterState, expected: ProxyExpectation, _profile: Profile) -> Finding:
    proxies, origin = read_proxies(state)
    found = [p for p in proxies if p.namespace == expected.namespace and _matches(expected.workload, p.pod)]
    culprits = []
    if len(found) < expected.min:
        culprits.append(
            Culprit(
                f"{expected.namespace}/{expected.workload}",
                f"{len(found)} proxies known to istiod, expected at least {expected.min}",
                {"namespace": expected.namespace},
            )
        )
    names = ", ".join(p.proxy for p in found) or "none"
    return Finding(
        expected=f"at least {expected.min} proxies of {expected.namespace}/{expected.workload} connected to istiod",
        observed=f"{len(found)} found: {names}",
        inspected=len(proxies),
        culprits=culprits,
        evidence=(origin,),
    )


def sidecar_count(state: ClusterState, rule: MeshRule, _profile: Profile) -> Finding:
    proxies, origin = read_proxies(state)
    # Text output carries no proxy type; there every proxy counts, as `istioctl proxy-status` lists them.
    sidecars = [p for p in proxies if p.proxy_type in ("", "sidecar")]
    wanted = rule.istio.min_sidecars or 0
    culprits = (
        [] if len(sidecars) >= wanted else [Culprit("mesh", f"{len(sidecars)} sidecars, expected at least {wanted}")]
    )
    return Finding(
        expected=f"at least {wanted} sidecar proxies",
        observed=f"{len(sidecars)} sidecars among {len(proxies)} proxies",
        inspected=len(proxies),
        culprits=culprits,
        evidence=(origin,),
    )


def mesh_rules(profile: Profile, rule: str) -> list[tuple[str, MeshRule]] | None:
    if profile.services is None or profile.services.istio is None:
        return None
    settings = profile.services.istio
    if rule == "sidecars" and settings.min_sidecars is None:
        return None
    return [(rule, MeshRule(rule, settings))]
