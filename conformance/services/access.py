"""The three ways to reach a service's HTTP API: a URL, the API server's service proxy, a port-forward."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from conformance.errors import SourceError
from conformance.profile.services import Access
from conformance.transport import HttpReply, Unreachable, plain_transport

if TYPE_CHECKING:
    from conformance.cluster.live import KubeClient

Fetch = Callable[[str, Mapping[str, str]], HttpReply]


def proxy_path(namespace: str, name: str, port: int | str, scheme: str, path: str) -> str:
    """/api/v1/namespaces/{ns}/services/{[https:]name[:port]}/proxy/{path}, built by hand (no double encoding)."""
    target = f"{'https:' if scheme == 'https' else ''}{name}:{port}"
    return f"/api/v1/namespaces/{quote(namespace)}/services/{quote(target, safe=':')}/proxy/{path.lstrip('/')}"


def fetcher(service: str, access: Access, kube: KubeClient | None) -> Fetch:
    timeout = access.timeout.total_seconds()
    if access.url is not None:
        transport = plain_transport(min(timeout, 5.0), timeout, access.retries)
        base = access.url.rstrip("/")

        def direct(path: str, headers: Mapping[str, str]) -> HttpReply:
            try:
                return transport.get(f"{base}/{path.lstrip('/')}", headers)
            except Unreachable as exc:
                raise SourceError(service, f"cannot reach {base} ({exc})") from None

        return direct
    if kube is None:
        raise SourceError(service, f"{access.describe()} needs a live cluster connection")
    if access.service is not None:
        ref = access.service

        def proxied(path: str, headers: Mapping[str, str]) -> HttpReply:
            route, _, query = path.partition("?")
            target = proxy_path(ref.namespace, ref.name, ref.port, ref.scheme, route) + (f"?{query}" if query else "")
            reply: HttpReply = kube.request(target, accept="*/*", extra_headers=headers)
            return reply

        return proxied
    assert access.port_forward is not None
    forward = access.port_forward

    def forwarded(path: str, headers: Mapping[str, str]) -> HttpReply:
        from conformance.services.portforward import port_forward_get

        return port_forward_get(kube, forward, path, headers, timeout)

    return forwarded
