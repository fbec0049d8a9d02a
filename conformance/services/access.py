"""The three ways to reach a service's HTTP API: a URL, the API server's service proxy, a port-forward.

Each uses the service's own `timeout` and `retries`, within the run's collection budget when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from conformance.errors import SourceError
from conformance.profile.services import Access
from conformance.transport import HttpReply, OutOfBudget, OutOfBudgetError, Unreachable, plain_transport

if TYPE_CHECKING:
    from conformance.services.client import ApiClient

Fetch = Callable[[str, Mapping[str, str]], HttpReply]


def proxy_path(namespace: str, name: str, port: int | str, scheme: str, path: str) -> str:
    """/api/v1/namespaces/{ns}/services/{[https:]name[:port]}/proxy/{path}, built by hand (no double encoding)."""
    target = f"{'https:' if scheme == 'https' else ''}{name}:{port}"
    return f"/api/v1/namespaces/{quote(namespace)}/services/{quote(target, safe=':')}/proxy/{path.lstrip('/')}"


def fetcher(service: str, access: Access, kube: ApiClient | None) -> Fetch:
    timeout = access.timeout.total_seconds()
    deadline = kube.deadline if kube is not None else None
    if access.url is not None:
        transport = plain_transport(min(timeout, 5.0), timeout, access.retries, deadline)
        base = access.url.rstrip("/")

        def direct(path: str, headers: Mapping[str, str]) -> HttpReply:
            try:
                reply = transport.get(f"{base}/{path.lstrip('/')}", headers)
            except OutOfBudget as exc:
                _record(kube, service, exc.retried)
                raise OutOfBudgetError(service, f"GET {path} via {base}: {exc}") from None
            except Unreachable as exc:
                _record(kube, service, exc.retried)
                raise SourceError(service, f"cannot reach {base} ({exc})") from None
            _record(kube, service, reply.retried)
            return reply

        return direct
    if kube is None:
        raise SourceError(service, f"{access.describe()} needs a live cluster connection")
    if kube.unreachable is not None:
        raise SourceError(service, f"{access.describe()} needs the API server: {kube.unreachable}")
    client = kube
    if access.service is not None:
        ref = access.service

        def proxied(path: str, headers: Mapping[str, str]) -> HttpReply:
            route, _, query = path.partition("?")
            target = proxy_path(ref.namespace, ref.name, ref.port, ref.scheme, route) + (f"?{query}" if query else "")
            reply: HttpReply = client.request(
                target, accept="*/*", extra_headers=headers, source=service, timeout=timeout, retries=access.retries
            )
            return reply

        return proxied
    assert access.port_forward is not None
    forward = access.port_forward

    def forwarded(path: str, headers: Mapping[str, str]) -> HttpReply:
        from conformance.services.portforward import port_forward_get

        bounded = timeout
        if client.deadline is not None:
            left = client.deadline.remaining()
            if left <= 0:
                raise OutOfBudgetError(service, f"{client.deadline.label} ran out before {access.describe()}")
            bounded = min(timeout, left)
        try:
            return port_forward_get(client, forward, path, headers, bounded)
        except SourceError as exc:
            # A timeout shortened by the budget is the budget running out, and is reported as such.
            if bounded < timeout and client.deadline is not None and client.deadline.remaining() <= 0:
                raise OutOfBudgetError(exc.resource, f"{exc.reason}: {client.deadline.label} ran out") from None
            raise

    return forwarded


def _record(kube: ApiClient | None, service: str, retried: tuple[str, ...]) -> None:
    if kube is not None:
        kube.retry_log.record(service, retried)
