"""Port-forward to a pod through the API server (the Kubernetes port-forward protocol over WebSocket).

istioctl reads istiod's debug endpoints this way because they trust loopback; the suite does the same:
one HTTP/1.1 GET through a `pods/portforward` tunnel, every step bounded by one deadline.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import orjson
import urllib3

from conformance import __version__
from conformance.errors import ApiError, SourceError
from conformance.profile.services import PortForwardRef
from conformance.transport import HttpReply, Transport, Unreachable

if TYPE_CHECKING:
    from conformance.services.client import ApiClient

#: Offered in this order. The kubelet picks the first it supports: v4 (binary channels), which the
#: Python client speaks too; a server choosing the SPDY-era name gets the same framing.
PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
MAX_BODY = 256 * 1024 * 1024
MAX_HEAD = 64 * 1024
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})(?: .*)?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DROPPED_HEADERS = frozenset({"connection", "content-length", "transfer-encoding", "upgrade", "keep-alive", "te"})


def port_forward_get(
    kube: ApiClient, ref: PortForwardRef, path: str, headers: Mapping[str, str], timeout: float
) -> HttpReply:
    """GET `path` from the pod's port through a port-forward tunnel."""
    label = f"port-forward {ref.namespace}/{ref.service or ref.pod}:{ref.port}"
    secrets = _secrets(kube)
    deadline = time.monotonic() + timeout
    try:
        if ref.service is not None:
            pod, port = resolve_service(kube, ref.namespace, ref.service, ref.port, deadline, label)
            label = f"{label} (pod {pod}:{port})"  # later failures name the pod that was chosen
        else:
            assert ref.pod is not None
            pod, port = ref.pod, ref.port
        return _get_through_tunnel(kube, ref.namespace, pod, port, path, headers, deadline, timeout, label)
    except SourceError as exc:
        if not any(secret in str(exc) for secret in secrets):
            raise
        raise SourceError(_scrub(exc.resource, secrets), _scrub(exc.reason, secrets)) from None


# ---------------------------------------------------------------------------------------- pod resolution


def resolve_service(
    kube: ApiClient, namespace: str, service: str, port: int, deadline: float, label: str
) -> tuple[str, int]:
    """A Running and Ready pod of the Service (first by name) and the container port `port` maps to."""
    svc = _api_get(kube, f"/api/v1/namespaces/{quote(namespace)}/services/{quote(service)}", {}, deadline, label)
    spec: dict[str, Any] = svc["spec"] if isinstance(svc.get("spec"), dict) else {}
    selector = spec.get("selector") or {}
    if not isinstance(selector, dict) or not selector:
        raise SourceError(
            label,
            f"service {namespace}/{service} has no selector (its endpoints are not pods it selects); "
            "name a pod in port_forward instead",
        )
    selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    pods = _api_get(
        kube, f"/api/v1/namespaces/{quote(namespace)}/pods", {"labelSelector": selector_text}, deadline, label
    )
    items = [p for p in pods.get("items") or () if isinstance(p, dict)]
    ready = sorted((p for p in items if _running_and_ready(p)), key=_name)
    if not ready:
        seen = ", ".join(f"{_name(p)} ({_state(p)})" for p in sorted(items, key=_name)[:5])
        more = f" and {len(items) - 5} more" if len(items) > 5 else ""
        found = f"{len(items)} match, none Running and Ready: {seen}{more}" if items else "none match"
        raise SourceError(label, f"no ready pod of service {namespace}/{service} (selector {selector_text}): {found}")
    pod = ready[0]
    return _name(pod), _container_port(pod, spec.get("ports") or [], port, f"{namespace}/{service}", label)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _state(pod: Mapping[str, Any]) -> str:
    phase = str((pod.get("status") or {}).get("phase") or "Unknown")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return f"{phase}, terminating"
    return f"{phase}, not Ready" if phase == "Running" else phase


def _running_and_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = status.get("conditions") or ()
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _container_port(pod: Mapping[str, Any], service_ports: Any, port: int, service: str, label: str) -> int:
    """The Service port's targetPort (a number, or a container port name), else `port` itself."""
    match = next((p for p in service_ports if isinstance(p, dict) and p.get("port") == port), None)
    if match is None:
        return port  # not a Service port: taken as the container port, as istioctl's 15014 is
    target = match.get("targetPort", port)
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or ():
        for declared in container.get("ports") or ():
            if declared.get("name") == target and isinstance(declared.get("containerPort"), int):
                return int(declared["containerPort"])
    raise SourceError(
        label,
        f"service {service} port {port} targets the port named {target!r}, which pod {_name(pod)} does not declare",
    )


def _remaining(deadline: float, label: str, step: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise SourceError(label, f"{step}: out of time (the access timeout was spent before this step)")
    return left


def _api_get(kube: ApiClient, path: str, query: dict[str, str], deadline: float, label: str) -> dict[str, Any]:
    """One GET of an API object or list, bounded by the deadline; errors name the step and the status."""
    step = f"GET {path}" + (f"?{urlencode(query)}" if query else "")
    left = _remaining(deadline, label, step)
    transport = Transport(kube.transport.pool, urllib3.Timeout(connect=left, read=left), retries=0)
    url = kube.server + path + (f"?{urlencode(query)}" if query else "")
    try:
        reply = transport.get(url, kube.headers())
    except Unreachable as exc:
        raise SourceError(label, f"{step}: cannot reach the API server at {kube.server} ({exc})") from None
    if reply.status != 200:
        error = ApiError(label, reply.status, reply.body)
        raise SourceError(label, f"{step}: {error.reason}", error.status)
    try:
        doc = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        raise SourceError(label, f"{step}: the API server answered something that is not JSON") from None
    if not isinstance(doc, dict):
        raise SourceError(label, f"{step}: the API server answered JSON that is not an object")
    return doc


# ---------------------------------------------------------------------------------------------- tunnel


def _get_through_tunnel(
    kube: ApiClient,
    namespace: str,
    pod: str,
    port: int,
    path: str,
    headers: Mapping[str, str],
    deadline: float,
    timeout: float,
    label: str,
) -> HttpReply:
    import websocket

    request = _http_request(path, headers, label)
    route = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/portforward"
    step = f"upgrading {route}?ports={port}"
    scheme, rest = kube.server.split("://", 1)
    url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}{route}?ports={port}"
    auth = {k: v for k, v in kube.headers().items() if k.lower() in ("authorization", "user-agent")}
    ws: Any = websocket.WebSocket(sslopt=_sslopt(kube.configuration), skip_utf8_validation=True)
    try:
        try:
            ws.connect(
                url,
                header=auth,
                subprotocols=list(PROTOCOLS),
                timeout=_remaining(deadline, label, step),
                suppress_origin=True,
                **_proxy_options(kube.configuration),
            )
        except websocket.WebSocketBadStatusException as exc:
            raise _refused(exc, step, label) from None
        except websocket.WebSocketTimeoutException:
            raise SourceError(label, f"{step}: no answer from the API server within {timeout:g}s") from None
        except (websocket.WebSocketException, OSError) as exc:
            raise SourceError(label, f"{step}: {_describe(exc)}") from None
        tunnel = _Tunnel(port, label)
        try:
            ws.settimeout(_remaining(deadline, label, "sending the request"))
            ws.send_binary(b"\x00" + request)  # channel 0: data for the first (only) port
            return _read_reply(ws, tunnel, deadline, timeout, label)
        except websocket.WebSocketTimeoutException:
            raise SourceError(label, f"no complete HTTP response within {timeout:g}s ({tunnel.describe()})") from None
        except (websocket.WebSocketException, OSError) as exc:
            raise SourceError(label, f"tunnel failed ({tunnel.describe()}): {_describe(exc)}") from None
    finally:
        if ws.connected:  # tell the kubelet to stop relaying; the answer is not awaited
            with contextlib.suppress(Exception):
                ws.settimeout(0.2)
                ws.send_close()
        ws.shutdown()


@dataclass
class _Tunnel:
    """Per-channel state of one forwarded port: the 2-byte port prefixes and the bytes received."""

    port: int
    label: str
    data_prefix: bytes = b""
    error_prefix: bytes = b""
    received: int = 0

    def describe(self) -> str:
        return f"{self.received} bytes received from the pod" if self.data_prefix else "the tunnel never opened"

    def strip(self, prefix: bytes, payload: bytes) -> tuple[bytes, bytes]:
        """Split the port prefix (first 2 bytes a channel carries) from the payload and check it."""
        need = 2 - len(prefix)
        if need <= 0:
            return prefix, payload
        prefix, payload = prefix + payload[:need], payload[need:]
        if len(prefix) == 2 and int.from_bytes(prefix, "little") != self.port:
            raise SourceError(
                self.label,
                f"protocol error: the tunnel is for port {int.from_bytes(prefix, 'little')}, not {self.port}",
            )
        return prefix, payload


def _read_reply(ws: Any, tunnel: _Tunnel, deadline: float, timeout: float, label: str) -> HttpReply:
    from websocket import ABNF, WebSocketConnectionClosedException

    response = _ResponseReader(label)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SourceError(label, f"no complete HTTP response within {timeout:g}s ({tunnel.describe()})")
        ws.settimeout(left)
        try:
            opcode, frame = ws.recv_data_frame(True)
        except WebSocketConnectionClosedException:
            opcode, frame = ABNF.OPCODE_CLOSE, None
        if opcode == ABNF.OPCODE_CLOSE:
            return response.at_close(tunnel.describe())
        if opcode not in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT) or not frame.data:
            continue  # ping/pong (answered by the library), empty messages
        channel, payload = frame.data[0], bytes(frame.data[1:])
        if channel == 0:
            tunnel.data_prefix, payload = tunnel.strip(tunnel.data_prefix, payload)
            tunnel.received += len(payload)
            if (reply := response.feed(payload)) is not None:
                return reply
        elif channel == 1:
            tunnel.error_prefix, payload = tunnel.strip(tunnel.error_prefix, payload)
            if payload:
                text = payload.decode("utf-8", "replace").strip()
                raise SourceError(label, f"the kubelet could not forward port {tunnel.port}: {text}")
        else:
            raise SourceError(label, f"protocol error: a message on channel {channel}, but one port was forwarded")


def _refused(exc: Any, step: str, label: str) -> SourceError:
    """The API server answered the upgrade with an HTTP status: a Status body, or the kubelet's text."""
    code = int(exc.status_code)
    body = bytes(exc.resp_body or b"")
    error = ApiError(label, code, body)
    if code == 403 and not body.strip():
        return SourceError(label, f"{step}: upgrade refused (HTTP 403 without a reason: RBAC or the subprotocol)")
    if code == 404:  # ApiError's wording is for resources the server does not serve; this is a missing pod
        message = str((error.status or {}).get("message") or body[:200].decode("utf-8", "replace").strip())
        return SourceError(label, f"{step}: upgrade refused: not found: {message}", error.status)
    return SourceError(label, f"{step}: upgrade refused: {error.reason}", error.status)


def _sslopt(cfg: Any) -> dict[str, Any]:
    """websocket-client TLS options from the kubernetes client Configuration (as its own stream client does)."""
    options: dict[str, Any] = {}
    if cfg.verify_ssl:
        options["cert_reqs"] = ssl.CERT_REQUIRED
        if cfg.ssl_ca_cert:
            options["ca_certs"] = cfg.ssl_ca_cert
        if isinstance(cfg.assert_hostname, bool):
            options["check_hostname"] = cfg.assert_hostname
    else:
        options["cert_reqs"] = ssl.CERT_NONE
        options["check_hostname"] = False
    if cfg.cert_file:
        options["certfile"] = cfg.cert_file
    if cfg.key_file:
        options["keyfile"] = cfg.key_file
    if server_name := getattr(cfg, "tls_server_name", None):
        options["server_hostname"] = server_name
    return options


def _proxy_options(cfg: Any) -> dict[str, Any]:
    if not getattr(cfg, "proxy", None):
        return {}
    proxy = urlsplit(cfg.proxy)
    options: dict[str, Any] = {
        "http_proxy_host": proxy.hostname,
        "http_proxy_port": proxy.port or (443 if proxy.scheme == "https" else 80),
        "proxy_type": "http",
    }
    if getattr(cfg, "no_proxy", None):
        options["http_no_proxy"] = [h.strip() for h in cfg.no_proxy.split(",") if h.strip()]
    return options


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _secrets(kube: ApiClient) -> list[str]:
    """Credential strings that must never reach a message (the bearer token, with and without its scheme)."""
    value = kube.headers().get("Authorization", "")
    return [s for s in {value, value.partition(" ")[2].strip()} if len(s) >= 4]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# ----------------------------------------------------------------------------------------- HTTP/1.1


def _http_request(path: str, headers: Mapping[str, str], label: str) -> bytes:
    """`GET path HTTP/1.1` with Host: localhost and Connection: close; header injection is refused."""
    target = path if path.startswith("/") else f"/{path}"
    if any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        raise SourceError(label, f"invalid request path {target!r}")
    given = {k.lower() for k in headers}
    lines = [f"GET {target} HTTP/1.1"]
    if "host" not in given:
        lines.append("Host: localhost")
    if "user-agent" not in given:
        lines.append(f"User-Agent: cluster-conformance/{__version__}")
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or any(c in value for c in "\r\n\0"):
            raise SourceError(label, f"invalid request header {name!r}")
        if name.lower() not in _DROPPED_HEADERS:
            lines.append(f"{name}: {value}")
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


class _ResponseReader:
    """Incremental HTTP/1.1 response parser: Content-Length, chunked, or body until the connection closes."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.buffer = bytearray()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body_start = -1  # offset of the body in buffer once the head is parsed
        self.length: int | None = None  # Content-Length framing
        self.chunked = False
        self.chunks: list[bytes] = []
        self.chunk_offset = 0

    def malformed(self, what: str) -> SourceError:
        return SourceError(self.label, f"malformed HTTP response from the pod: {what}")

    def feed(self, data: bytes) -> HttpReply | None:
        """Add bytes; the reply once it is complete by its own framing, else None."""
        self.buffer += data
        if self.body_start < 0 and not self._parse_head():
            return None
        if len(self.buffer) - self.body_start > MAX_BODY + MAX_HEAD:
            raise SourceError(self.label, f"the response is larger than {MAX_BODY // 2**20} MiB")
        if self.chunked:
            return self._chunked()
        if self.length is not None and len(self.buffer) - self.body_start >= self.length:
            body = bytes(self.buffer[self.body_start : self.body_start + self.length])
            return HttpReply(self.status, self.headers, body)
        return None

    def at_close(self, progress: str) -> HttpReply:
        """The connection closed: complete only if the response is framed by the close."""
        if self.body_start < 0:
            if not self.buffer:
                raise SourceError(self.label, f"the tunnel closed before any response ({progress})")
            raise SourceError(self.label, f"the tunnel closed in the middle of the response headers ({progress})")
        if self.chunked or self.length is not None:
            raise SourceError(self.label, f"the tunnel closed before the response was complete ({progress})")
        return HttpReply(self.status, self.headers, bytes(self.buffer[self.body_start :]))

    def _parse_head(self) -> bool:
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise self.malformed(f"no end of headers within {MAX_HEAD // 1024} KiB")
                return False
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            status_line = _STATUS_LINE.fullmatch(lines[0])
            if status_line is None:
                raise self.malformed(f"status line {lines[0][:80]!r}")
            status = int(status_line.group(1))
            if 100 <= status < 200:  # 100 Continue, 103 Early Hints: a final response follows
                del self.buffer[: end + 4]
                continue
            self.status, self.headers = status, self._header_fields(lines[1:])
            self.body_start = end + 4
            self._framing()
            return True

    def _header_fields(self, lines: list[bytes]) -> dict[str, str]:
        fields: dict[str, str] = {}
        names: dict[str, str] = {}
        for raw in lines:
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep or not _TOKEN.fullmatch(name):
                raise self.malformed(f"header line {raw[:80]!r}")
            key = names.setdefault(name.lower(), name)
            fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
        return fields

    def _framing(self) -> None:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        if self.status in (204, 304):
            self.length = 0
        elif "transfer-encoding" in lowered:
            codings = [c.strip().lower() for c in lowered["transfer-encoding"].split(",")]
            self.chunked = codings[-1] == "chunked"  # otherwise the body runs to the close (RFC 9112 6.3)
            self.chunk_offset = self.body_start
        elif "content-length" in lowered:
            values = {v.strip() for v in lowered["content-length"].split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise self.malformed(f"Content-Length {lowered['content-length']!r}")
            self.length = int(values.pop())

    def _chunked(self) -> HttpReply | None:
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n", self.chunk_offset)
            if line_end < 0:
                if len(buffer) - self.chunk_offset > 4096:
                    raise self.malformed("chunk size line too long")
                return None
            size_text = bytes(buffer[self.chunk_offset : line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise self.malformed(f"chunk size {size_text[:40]!r}") from None
            if size < 0:
                raise self.malformed(f"chunk size {size_text[:40]!r}")
            if size == 0:
                trailer_end = buffer.find(b"\r\n", line_end + 2)
                while trailer_end >= 0 and trailer_end != line_end + 2:  # skip trailer fields
                    line_end = trailer_end
                    trailer_end = buffer.find(b"\r\n", line_end + 2)
                if trailer_end < 0:
                    return None
                return HttpReply(self.status, self.headers, b"".join(self.chunks))
            data_start = line_end + 2
            if len(buffer) < data_start + size + 2:
                return None
            if buffer[data_start + size : data_start + size + 2] != b"\r\n":
                raise self.malformed("chunk data not followed by CRLF")
            self.chunks.append(bytes(buffer[data_start : data_start + size]))
            self.chunk_offset = data_start + size + 2
