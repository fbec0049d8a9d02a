"""Jaeger: it lists services, i.e. traces are being collected (v1 `/api/services`, v2.20+ `/api/v3/services`)."""

from __future__ import annotations

from typing import Any

from conformance.check import Culprit, Finding
from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject
from conformance.profile.model import Profile
from conformance.profile.services import Jaeger
from conformance.services.source import LiveContext, ServiceSource, load_json

V1, V3 = "/api/services", "/api/v3/services"


def collect(ctx: LiveContext) -> dict[str, bytes]:
    settings = ctx.profile.services.jaeger if ctx.profile.services else None
    assert settings is not None
    endpoint = ctx.endpoint("jaeger", settings.access)
    if settings.api == "v1":
        return {"services.json": endpoint.body(V1)}
    if settings.api == "v3":
        return {"services.json": endpoint.body(V3)}
    # auto: v3 first (the only API after v2.20); older query services answer it with 404.
    reply = endpoint.get(V3)
    if reply.status == 200:
        return {"services.json": reply.body}
    return {"services.json": endpoint.body(V1)}


SOURCE = ServiceSource("jaeger", ("services.json",), collect)


def service_names(document: Any) -> tuple[list[str], str]:
    """Names from either API: v1 `{"data": [...] | null, "total": n}`, v3 `{"services": [...]}` or `{}`."""
    if not isinstance(document, dict):
        raise MalformedObject("jaeger/services.json: expected a JSON object")
    if "data" in document:
        names, api = document["data"] or [], "v1 /api/services"
    else:
        names, api = document.get("services") or [], "v3 /api/v3/services"
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MalformedObject("jaeger/services.json: services are not a list of names")
    return names, api


def traced_services(state: ClusterState) -> tuple[list[str], str]:
    """The services Jaeger has traces from, and which API answered."""
    return service_names(load_json("jaeger", "services.json", state.document("jaeger", "services.json")))


def services(state: ClusterState, settings: Jaeger, _profile: Profile) -> Finding:
    names, api = traced_services(state)
    culprits = [Culprit(name, "no traces from this service") for name in settings.services if name not in names]
    if len(names) < settings.min_services:
        culprits.insert(
            0, Culprit("jaeger", f"{len(names)} services with traces, expected at least {settings.min_services}")
        )
    return Finding(
        expected=f"at least {settings.min_services} traced services"
        + (f", including {', '.join(settings.services)}" if settings.services else ""),
        observed=f"{len(names)} services ({api}): {', '.join(names) or 'none'}",
        inspected=len(names),
        culprits=culprits,
        evidence=("jaeger/services.json",),
    )
