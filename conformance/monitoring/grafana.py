"""Grafana: the dashboards the profile names exist (`GET /api/search?type=dash-db`)."""

from __future__ import annotations

from typing import Any

import orjson

from conformance.check import Culprit, Finding
from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject, SourceError
from conformance.profile.model import Profile
from conformance.profile.services import Grafana
from conformance.services.source import LiveContext, ServiceSource, load_json

KEEP = ("uid", "title", "type", "folderTitle", "tags")


def sanitize(file: str, body: bytes) -> bytes:
    document = load_json("grafana", file, body)
    if not isinstance(document, list):
        raise MalformedObject(f"grafana/{file}: expected a JSON array of dashboards")
    kept = [{k: d[k] for k in KEEP if k in d} if isinstance(d, dict) else d for d in document]
    return orjson.dumps(kept, option=orjson.OPT_INDENT_2)


def collect(ctx: LiveContext) -> dict[str, bytes]:
    settings = ctx.profile.services.grafana if ctx.profile.services else None
    assert settings is not None
    if settings.credentials is not None and settings.access.service is not None:
        # The API server consumes Authorization on proxied requests; Grafana would never see it.
        raise SourceError("grafana", "credentials need url or port_forward access, not the API server service proxy")
    headers = ctx.authorization("grafana", settings.credentials)
    return {"search.json": ctx.endpoint("grafana", settings.access).body("/api/search?type=dash-db", headers)}


SOURCE = ServiceSource("grafana", ("search.json",), collect, sanitize)


def dashboard_titles(state: ClusterState) -> list[str]:
    """The title of every dashboard the search returned, in its order; MalformedObject for any other shape."""
    document: Any = load_json("grafana", "search.json", state.document("grafana", "search.json"))
    if not isinstance(document, list):
        raise MalformedObject("grafana/search.json: expected a JSON array of dashboards")
    titles = []
    for index, entry in enumerate(document):
        if not isinstance(entry, dict) or not isinstance(entry.get("title"), str):
            raise MalformedObject(f"grafana/search.json: entry {index} has no title")
        titles.append(entry["title"])
    return titles


def dashboards(state: ClusterState, settings: Grafana, _profile: Profile) -> Finding:
    titles = dashboard_titles(state)
    missing = [title for title in settings.dashboards if title not in titles]
    return Finding(
        expected=f"dashboards present: {', '.join(settings.dashboards)}",
        observed=f"{len(titles)} dashboards: {', '.join(sorted(titles)) or 'none'}",
        inspected=len(titles),
        culprits=[Culprit(title, "dashboard not found") for title in missing],
        evidence=("grafana/search.json",),
    )
