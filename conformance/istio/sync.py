"""Proxy sync status as istiod reports it: /debug/syncz (pre- and post-1.23) and istioctl proxy-status output.

States are named exactly as `istioctl proxy-status` names them (SYNCED, NOT SENT, STALE,
STALE (Never Acknowledged), ERROR, IGNORED), so reports read like the tool operators know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from conformance.errors import MalformedObject

TYPES = ("CDS", "LDS", "EDS", "RDS", "ECDS")
_SYNCZ_FIELDS = {"CDS": "cluster", "LDS": "listener", "EDS": "endpoint", "RDS": "route", "ECDS": "extensionconfig"}
TYPE_URLS = {
    "CDS": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "LDS": "type.googleapis.com/envoy.config.listener.v3.Listener",
    "EDS": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    "RDS": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "ECDS": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
}
_BY_URL = {url: short for short, url in TYPE_URLS.items()}
# configStatus values of the xDS ClientConfig (istioctl 1.22+) in istioctl's own words.
_CONFIG_STATUS = {"SYNCED": "SYNCED", "NOT_SENT": "NOT SENT", "STALE": "STALE", "ERROR": "ERROR", "UNKNOWN": "UNKNOWN"}
_AGE = re.compile(r"\s+\([0-9hms.]+\)$")


@dataclass(frozen=True)
class ProxySync:
    proxy: str  # <pod>.<namespace>
    states: dict[str, str]
    proxy_type: str = ""
    istiod: str = ""
    version: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def pod(self) -> str:
        return self.proxy.rpartition(".")[0] or self.proxy

    @property
    def namespace(self) -> str:
        return self.proxy.rpartition(".")[2] if "." in self.proxy else ""


def sync_state(sent: str, acked: str, last_error: str = "", ztunnel: bool = False) -> str:
    """istioctl's naming of one type's state from its nonces (istioctl/pkg/writer/pilot/status.go)."""
    if last_error:
        return "ERROR"
    if not sent:
        return "IGNORED" if ztunnel else "NOT SENT"
    if sent == acked:
        return "SYNCED"
    if not acked:
        return "STALE (Never Acknowledged)"
    return "STALE"


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise MalformedObject(f"{where}: {key} is not a string")
    return value


def parse_syncz(document: Any, origin: str) -> list[ProxySync]:
    """GET /debug/syncz: a JSON array; 1.23+ adds `resources` keyed by type URL with lastError."""
    if not isinstance(document, list):
        raise MalformedObject(f"{origin}: expected a JSON array of proxies")
    proxies = []
    for index, entry in enumerate(document):
        where = f"{origin}[{index}]"
        if not isinstance(entry, dict) or not entry.get("proxy"):
            raise MalformedObject(f"{where}: no proxy name")
        resources = entry.get("resources", {})
        if not isinstance(resources, dict):
            raise MalformedObject(f"{where}: resources is not an object")
        ztunnel = entry.get("proxy_type") == "ztunnel"
        states, errors = {}, {}
        for short, name in _SYNCZ_FIELDS.items():
            sent = _text(entry, f"{name}_sent", where)
            acked = _text(entry, f"{name}_acked", where)
            detail = resources.get(TYPE_URLS[short]) or {}
            if not isinstance(detail, dict):
                raise MalformedObject(f"{where}: resources[{TYPE_URLS[short]}] is not an object")
            sent = str(detail.get("sent") or sent)
            acked = str(detail.get("acked") or acked)
            last_error = str(detail.get("lastError") or "")
            states[short] = sync_state(sent, acked, last_error, ztunnel)
            if last_error:
                errors[short] = last_error
        proxies.append(
            ProxySync(
                proxy=str(entry["proxy"]),
                states=states,
                proxy_type=str(entry.get("proxy_type") or ""),
                istiod="",
                version=str(entry.get("istio_version") or ""),
                errors=errors,
            )
        )
    return proxies


def _node_proxy(node_id: str) -> tuple[str, str]:
    # Envoy node ids: <type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local
    parts = node_id.split("~")
    return (parts[2], parts[0]) if len(parts) >= 3 else (node_id, "")


def parse_client_configs(document: Any, origin: str) -> list[ProxySync]:
    """`istioctl proxy-status -o json` (1.30+): the xDS ClientConfig per proxy, with configStatus per type."""
    entries = document
    if isinstance(document, dict):
        entries = document.get("resources") or document.get("proxies") or document.get("items")
    if not isinstance(entries, list):
        raise MalformedObject(f"{origin}: expected a list of proxy ClientConfigs")
    proxies = []
    for index, entry in enumerate(entries):
        where = f"{origin}[{index}]"
        if not isinstance(entry, dict):
            raise MalformedObject(f"{where}: not an object")
        node = entry.get("node") or {}
        node_id = node.get("id") if isinstance(node, dict) else None
        if not isinstance(node_id, str) or not node_id:
            raise MalformedObject(f"{where}: node.id is missing")
        proxy, kind = _node_proxy(node_id)
        configs = entry.get("genericXdsConfigs") or entry.get("generic_xds_configs") or []
        if not isinstance(configs, list):
            raise MalformedObject(f"{where}: genericXdsConfigs is not a list")
        states: dict[str, str] = {}
        for config in configs:
            if not isinstance(config, dict):
                raise MalformedObject(f"{where}: a genericXdsConfigs entry is not an object")
            short = _BY_URL.get(str(config.get("typeUrl") or config.get("type_url") or ""))
            status = str(config.get("configStatus") or config.get("config_status") or "UNKNOWN")
            if short is not None:
                states[short] = _CONFIG_STATUS.get(status, status)
        for short in TYPES:
            states.setdefault(short, "NOT SENT")
        raw_metadata = node.get("metadata") if isinstance(node, dict) else None
        metadata = raw_metadata if isinstance(raw_metadata, dict) else {}
        proxies.append(ProxySync(proxy, states, kind, version=str(metadata.get("ISTIO_VERSION") or "")))
    return proxies


def parse_proxy_status_text(text: str, origin: str) -> list[ProxySync]:
    """`istioctl proxy-status` table output, 1.18 to 1.26 (1.23+ cells carry an age suffix)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = re.split(r"\s{2,}", lines[0].strip())
    if not header or header[0] != "NAME":
        raise MalformedObject(f"{origin}: first line is not the proxy-status header (NAME ...)")
    columns = {name: index for index, name in enumerate(header)}
    kinds = [t for t in TYPES if t in columns]
    if not kinds:
        raise MalformedObject(
            f"{origin}: no per-type columns (CDS, LDS, ...); capture with istioctl 1.18-1.26 or `-v 1` on 1.27+"
        )
    proxies = []
    for number, line in enumerate(lines[1:], start=2):
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(header):
            raise MalformedObject(f"{origin}:{number}: expected {len(header)} columns, found {len(cells)}")
        states = {t: _AGE.sub("", cells[columns[t]]) for t in kinds}
        istiod = cells[columns["ISTIOD"]] if "ISTIOD" in columns else ""
        version = cells[columns["VERSION"]] if "VERSION" in columns else ""
        proxies.append(ProxySync(cells[0], states, istiod=istiod, version=version))
    return proxies
