"""Port-forward through the API server: the suite's client and the test server's kubelet side, over real sockets.

An istiod-like HTTP server plays the pod's port 15014; the demo snapshot provides the istiod Service and pod.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import queue
import random
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import websocket

from conformance.cluster.live import KubeClient, load_target
from conformance.errors import SourceError
from conformance.profile.model import Collection
from conformance.profile.services import Access, PortForwardRef
from conformance.services.portforward import port_forward_get
from conformance.services.source import LiveContext
from conformance.transport import HttpReply

from conftest import DEMO, Snapshot
from kubeapi import KubeApiServer
from tlsfront import TlsFront, certificates

TOKEN = "pf-test-token-5be1d07c"
NS = "istio-system"
POD = "istiod-84bbcb5b7-6rdw5"
SYNCZ = [
    {
        "proxy": f"productpage-v1-{i}.bookinfo",
        "istio_version": "1.24.2",
        "cluster_sent": "nonce-1",
        "cluster_acked": "nonce-1",
    }
    for i in range(40)
]
SYNCZ_BODY = orjson.dumps(SYNCZ)
BIG = random.Random(7).randbytes(1 << 20)  # 1 MiB, incompressible: every byte must arrive in order


class _Istiod(BaseHTTPRequestHandler):
    """Debug endpoints like istiod's on 15014, plus misbehaviours a pod can show."""

    protocol_version = "HTTP/1.1"
    server: _Backend

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunked(self, body: bytes, pieces: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        step = max(1, len(body) // pieces)
        for start in range(0, len(body), step):
            piece = body[start : start + step]
            self.wfile.write(b"%x;note=x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\nX-Trailer: done\r\n\r\n")

    def do_GET(self) -> None:
        route = self.path.partition("?")[0]
        self.server.paths.append(self.path)
        if route == "/debug/syncz":
            self._send(200, SYNCZ_BODY)
        elif route == "/debug/chunked":
            self._chunked(SYNCZ_BODY, 7)
        elif route == "/debug/big":
            self._send(200, BIG, "application/octet-stream")
        elif route == "/debug/big-chunked":
            self._chunked(BIG, 13)
        elif route == "/debug/headers":
            self._send(200, orjson.dumps(dict(self.headers.items())))
        elif route == "/debug/until-close":  # HTTP/1.0 style: no length, the close ends the body
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
            self.close_connection = True
        elif route == "/debug/reset":  # dies mid-body
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly-this")
            self.close_connection = True
        elif route == "/debug/garbage":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            self.close_connection = True
        elif route == "/debug/stall":
            self.server.release.wait(30)
            self.close_connection = True
        else:
            self._send(404, b'{"error":"no such endpoint"}')


class _Backend(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _Istiod)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", int(self.server_address[1]))


@pytest.fixture
def backend() -> Iterator[_Backend]:
    server = _Backend()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve(backend: _Backend, snapshot: Path = DEMO, token: str | None = TOKEN) -> KubeApiServer:
    api = KubeApiServer.from_snapshot(snapshot, token=token).start()
    api.register_port_forward(NS, POD, 15014, backend.address)
    return api


@pytest.fixture
def api(backend: _Backend) -> Iterator[KubeApiServer]:
    server = serve(backend)
    try:
        yield server
    finally:
        server.stop()


def client(server: KubeApiServer, directory: Path) -> KubeClient:
    kubeconfig = server.write_kubeconfig(directory / "kubeconfig")
    return KubeClient(load_target(str(kubeconfig), None), Collection())


@pytest.fixture
def kube(api: KubeApiServer, tmp_path: Path) -> KubeClient:
    return client(api, tmp_path)


def by_service(port: int = 15014, name: str = "istiod") -> PortForwardRef:
    return PortForwardRef(namespace=NS, service=name, port=port)


def by_pod(port: int = 15014, name: str = POD) -> PortForwardRef:
    return PortForwardRef(namespace=NS, pod=name, port=port)


def get(kube: KubeClient, ref: PortForwardRef, path: str = "/debug/syncz", timeout: float = 5.0) -> HttpReply:
    return port_forward_get(kube, ref, path, {}, timeout)


def failure(kube: KubeClient, ref: PortForwardRef, path: str = "/debug/syncz", timeout: float = 5.0) -> str:
    """The SourceError message; never carrying the API server token."""
    with pytest.raises(SourceError) as caught:
        get(kube, ref, path, timeout)
    message = str(caught.value)
    assert TOKEN not in message
    assert TOKEN not in repr(caught.value.status)
    return message


def forwards(api: KubeApiServer) -> list[str]:
    return [
        f"{r.method} {r.path}?ports={r.query.get('ports')}" for r in api.requests if r.path.endswith("/portforward")
    ]


# ----------------------------------------------------------------------------------------- the client


def test_by_service_returns_the_exact_body_from_a_ready_pod(api: KubeApiServer, kube: KubeClient) -> None:
    reply = get(kube, by_service())
    assert (reply.status, reply.body) == (200, SYNCZ_BODY)
    assert reply.headers["Content-Type"] == "application/json"
    paths = [r.path for r in api.requests]
    assert paths[:2] == [f"/api/v1/namespaces/{NS}/services/istiod", f"/api/v1/namespaces/{NS}/pods"]
    assert api.requests[1].query["labelSelector"] == "app=istiod,istio=pilot"
    assert forwards(api) == [f"GET /api/v1/namespaces/{NS}/pods/{POD}/portforward?ports=15014"]
    assert all(r.has_authorization for r in api.requests)


def test_by_pod_goes_straight_to_the_pod(api: KubeApiServer, kube: KubeClient) -> None:
    assert get(kube, by_pod()).body == SYNCZ_BODY
    assert [r.path for r in api.requests] == [f"/api/v1/namespaces/{NS}/pods/{POD}/portforward"]


def test_through_the_access_layer_as_a_service_source_reads_it(api: KubeApiServer, kube: KubeClient) -> None:
    from conformance.profile.model import Profile

    profile = Profile.model_validate(
        {"apiVersion": "conformance/v1alpha1", "kind": "Profile", "metadata": {"name": "t"}}
    )
    endpoint = LiveContext(profile, kube).endpoint("istio", Access(port_forward=by_service()))
    assert orjson.loads(endpoint.body("debug/syncz")) == SYNCZ
    with pytest.raises(SourceError, match="answered HTTP 404"):
        endpoint.body("/debug/nothing-here")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/debug/chunked", SYNCZ_BODY),
        ("/debug/until-close", b"all of it"),
        ("/debug/big", BIG),
        ("/debug/big-chunked", BIG),
    ],
    ids=["chunked", "until-close", "1MiB-content-length", "1MiB-chunked"],
)
def test_every_body_framing_arrives_intact(kube: KubeClient, path: str, expected: bytes) -> None:
    reply = get(kube, by_pod(), path)
    assert reply.status == 200
    assert len(reply.body) == len(expected)
    assert reply.body == expected


def test_a_pod_status_is_returned_not_raised(kube: KubeClient) -> None:
    reply = get(kube, by_pod(), "/debug/nothing-here")
    assert (reply.status, orjson.loads(reply.body)) == (404, {"error": "no such endpoint"})


def test_the_pod_gets_a_plain_localhost_request_without_the_api_token(kube: KubeClient) -> None:
    reply = port_forward_get(kube, by_pod(), "/debug/headers?x=1", {"X-Debug": "yes", "Connection": "keep-alive"}, 5.0)
    seen = orjson.loads(reply.body)
    assert seen["Host"] == "localhost"
    assert seen["Connection"] == "close"
    assert seen["X-Debug"] == "yes"
    assert "Authorization" not in seen
    assert TOKEN not in reply.body.decode()


def test_service_ports_map_to_target_ports_numbered_and_named(
    backend: _Backend, demo: Snapshot, tmp_path: Path
) -> None:
    service = demo.get("services", NS, "istiod")
    monitoring = next(p for p in service["spec"]["ports"] if p["port"] == 15014)
    monitoring["port"], monitoring["targetPort"] = 8014, "http-monitoring"  # named: resolved in the pod spec
    with serve(backend, demo.write(tmp_path / "snap")) as api:
        api.register_port_forward(NS, POD, 15017, backend.address)  # the webhook port 443 targets
        kube = client(api, tmp_path)
        assert get(kube, by_service(8014)).body == SYNCZ_BODY
        assert get(kube, by_service(443)).body == SYNCZ_BODY
        assert get(kube, by_service(15014)).body == SYNCZ_BODY  # not a Service port: the container port
        assert [f.rpartition("=")[2] for f in forwards(api)] == ["15014", "15017", "15014"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s.remove("services", NS, "istiod"),
            r'GET /api/v1/namespaces/istio-system/services/istiod: not found.*"istiod" not found',
        ),
        (
            lambda s: s.get("services", NS, "istiod")["spec"].pop("selector"),
            "service istio-system/istiod has no selector",
        ),
        (
            lambda s: [
                c.update(status="False") for c in s.get("pods", NS, POD)["status"]["conditions"] if c["type"] == "Ready"
            ],
            r"no ready pod of service istio-system/istiod \(selector app=istiod,istio=pilot\): "
            rf"1 match, none Running and Ready: {POD} \(Running, not Ready\)",
        ),
        (
            lambda s: s.get("pods", NS, POD)["metadata"].update(labels={"app": "other"}),
            r"no ready pod of service istio-system/istiod \(selector app=istiod,istio=pilot\): none match",
        ),
        (
            lambda s: s.get("services", NS, "istiod")["spec"]["ports"][3].update(targetPort="metrics"),
            "service istio-system/istiod port 15014 targets the port named 'metrics', which pod .* does not declare",
        ),
    ],
    ids=["unknown-service", "no-selector", "not-ready", "no-pod", "unknown-named-port"],
)
def test_pod_resolution_errors_name_what_is_missing(
    backend: _Backend, demo: Snapshot, tmp_path: Path, edit: Any, expected: str
) -> None:
    edit(demo)
    with serve(backend, demo.write(tmp_path / "snap")) as api:
        message = failure(client(api, tmp_path), by_service())
        assert message.startswith("port-forward istio-system/istiod:15014: ")
        assert re.search(expected, message), message
        assert forwards(api) == []


def test_forbidden_portforward_is_an_error_that_says_so(api: KubeApiServer, kube: KubeClient) -> None:
    api.inject(r"/portforward$", 403)
    message = failure(kube, by_service())
    assert message.startswith(f"port-forward istio-system/istiod:15014 (pod {POD}:15014): upgrading ")
    assert "upgrade refused: forbidden" in message
    assert f'pods "{POD}" is forbidden' in message
    assert 'cannot get resource "pods/portforward"' in message


def test_the_token_is_scrubbed_even_when_the_server_echoes_it(api: KubeApiServer, kube: KubeClient) -> None:
    api.inject(r"/portforward$", 403, message=f"denied: Bearer {TOKEN} is not allowed")
    message = failure(kube, by_pod())
    assert "denied: Bearer *** is not allowed" in message or "denied: *** is not allowed" in message


def test_missing_pod_is_not_found(api: KubeApiServer, kube: KubeClient) -> None:
    message = failure(kube, by_pod(name="istiod-gone"))
    assert 'upgrade refused: not found: pods "istiod-gone" not found' in message


def test_nothing_listening_is_the_kubelet_error(kube: KubeClient) -> None:
    message = failure(kube, by_pod(15010))
    assert "the kubelet could not forward port 15010: error forwarding port 15010 to pod " in message
    assert "failed to connect to localhost:15010 inside namespace" in message
    assert "connect: connection refused" in message


def test_a_stalled_pod_is_an_error_within_the_timeout(backend: _Backend, kube: KubeClient) -> None:
    began = time.monotonic()
    message = failure(kube, by_pod(), "/debug/stall", timeout=1.0)
    elapsed = time.monotonic() - began
    assert "no complete HTTP response within 1s (0 bytes received from the pod)" in message
    assert 0.9 <= elapsed < 2.0


def test_a_stalled_api_server_is_an_error_within_the_timeout(api: KubeApiServer, kube: KubeClient) -> None:
    api.delay(r"/portforward$", 5)
    began = time.monotonic()
    message = failure(kube, by_pod(), timeout=1.0)
    assert time.monotonic() - began < 2.0
    assert "no answer from the API server within 1s" in message


def test_a_reset_mid_response_is_an_error(kube: KubeClient) -> None:
    message = failure(kube, by_pod(), "/debug/reset")
    assert "the tunnel closed before the response was complete (" in message


def test_a_non_http_answer_is_malformed(kube: KubeClient) -> None:
    message = failure(kube, by_pod(), "/debug/garbage")
    assert "malformed HTTP response from the pod: status line b'SSH-2.0-OpenSSH_9.6'" in message


def test_an_unreachable_api_server_is_an_error(api: KubeApiServer, kube: KubeClient) -> None:
    api.stop()
    assert "cannot reach the API server" in failure(kube, by_service())
    assert "upgrading /api/v1/namespaces/istio-system/pods/" in failure(kube, by_pod())


def test_tls_settings_come_from_the_kubeconfig(api: KubeApiServer, tmp_path: Path) -> None:
    """CA file and tls-server-name reach the WebSocket: the certificate names kubernetes.default, not 127.0.0.1."""
    ca, cert, key = certificates(tmp_path, "kubernetes.default")
    front = TlsFront(api.port, cert, key)
    try:
        cluster: dict[str, Any] = {"server": f"https://127.0.0.1:{front.port}", "certificate-authority": str(ca)}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "tls", "cluster": cluster}],
            "users": [{"name": "tls", "user": {"token": TOKEN}}],
            "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "tls"}}],
            "current-context": "tls",
        }
        (tmp_path / "kubeconfig").write_text(json.dumps(config))
        mismatch = KubeClient(load_target(str(tmp_path / "kubeconfig"), None), Collection())
        refused = failure(mismatch, by_pod())
        assert "certificate verify failed" in refused, refused  # verified, and 127.0.0.1 is not its name
        cluster["tls-server-name"] = "kubernetes.default"
        (tmp_path / "kubeconfig").write_text(json.dumps(config))
        kube = KubeClient(load_target(str(tmp_path / "kubeconfig"), None), Collection())
        assert get(kube, by_service()).body == SYNCZ_BODY
        assert forwards(api) == [f"GET /api/v1/namespaces/{NS}/pods/{POD}/portforward?ports=15014"]
    finally:
        front.close()


# ---------------------------------------------------------------------------------- the server side


def raw_http(api: KubeApiServer, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """http.client, not urllib: urllib replaces the Connection header an upgrade needs."""
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}", **headers})
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


def open_tunnel(api: KubeApiServer, ports: str, protocols: list[str] | None = None) -> Any:
    ws: Any = websocket.WebSocket(skip_utf8_validation=True)
    ws.connect(
        f"ws://127.0.0.1:{api.port}/api/v1/namespaces/{NS}/pods/{POD}/portforward?ports={ports}",
        header={"Authorization": f"Bearer {TOKEN}"},
        subprotocols=protocols if protocols is not None else ["v4.channel.k8s.io"],
        timeout=5,
    )
    return ws


def test_a_plain_get_on_portforward_is_400_upgrade_required(api: KubeApiServer) -> None:
    status, _, body = raw_http(api, f"/api/v1/namespaces/{NS}/pods/{POD}/portforward?ports=15014", {})
    doc = json.loads(body)
    assert (status, doc["reason"], doc["message"]) == (400, "BadRequest", "Upgrade request required")
    assert [(r.method, r.path, r.status) for r in api.requests] == [
        ("GET", f"/api/v1/namespaces/{NS}/pods/{POD}/portforward", 400)
    ]


@pytest.mark.parametrize(
    ("query", "protocol", "status", "text"),
    [
        ("", "v4.channel.k8s.io", 400, 'query parameter "port" is required'),
        ("?ports=http", "v4.channel.k8s.io", 400, 'unable to parse "http" as a port'),
        ("?ports=0", "v4.channel.k8s.io", 400, 'port "0" must be > 0'),
        ("?ports=15014", "v4.base64.channel.k8s.io", 403, "requested protocol(s) are not supported"),
        ("?ports=15014", "SPDY/3.1+portforward.k8s.io", 400, "is not implemented by this test server"),
    ],
)
def test_the_handshake_is_refused_like_the_kubelet(
    api: KubeApiServer, query: str, protocol: str, status: int, text: str
) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    headers |= {"Sec-WebSocket-Key": key, "Sec-WebSocket-Protocol": protocol}
    code, _, body = raw_http(api, f"/api/v1/namespaces/{NS}/pods/{POD}/portforward{query}", headers)
    assert code == status
    assert text in body.decode()


def test_the_kubelet_protocol_on_the_wire(api: KubeApiServer, backend: _Backend) -> None:
    """Prefixes on every channel, data on 2i, errors on 2i+1, pong for ping, close after the pod closes."""
    ws = open_tunnel(api, "15014,15010", ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    try:
        assert ws.getsubprotocol() == "v4.channel.k8s.io"
        prefixes = [ws.recv_data()[1] for _ in range(4)]
        assert prefixes == [b"\x00\xa6:", b"\x01\xa6:", b"\x02\xa2:", b"\x03\xa2:"]  # 15014, 15010 little-endian
        error = ws.recv_data()[1]
        assert error.startswith(b"\x03error forwarding port 15010 to pod ")
        ws.ping(b"hi")
        assert ws.recv_data(control_frame=True) == (websocket.ABNF.OPCODE_PONG, b"hi")
        request = b"GET /debug/syncz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ws.send_binary(b"\x00" + request[:10])  # split across messages: the pod sees one stream
        binary, continuation = websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_CONT
        ws.send_frame(websocket.ABNF.create_frame(b"\x00" + request[10:20], binary, fin=0))  # and fragmented
        ws.send_frame(websocket.ABNF.create_frame(request[20:], continuation, fin=1))
        received = b""
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            assert data[:1] == b"\x00"
            received += data[1:]
        assert received.endswith(b"\r\n\r\n" + SYNCZ_BODY)
        assert backend.paths == ["/debug/syncz"]
    finally:
        ws.shutdown()


def test_a_client_offering_no_subprotocol_gets_the_binary_framing(api: KubeApiServer) -> None:
    ws = open_tunnel(api, "15014", [])
    try:
        assert ws.getsubprotocol() is None
        assert [ws.recv_data()[1] for _ in range(2)] == [b"\x00\xa6:", b"\x01\xa6:"]
    finally:
        ws.shutdown()


def test_unmasked_client_frames_are_a_protocol_error(api: KubeApiServer) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        sock.sendall(
            (
                f"GET /api/v1/namespaces/{NS}/pods/{POD}/portforward?ports=15014 HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {TOKEN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )
        stream = sock.makefile("rb")
        assert stream.readline().startswith(b"HTTP/1.1 101 ")
        while stream.readline() != b"\r\n":
            pass
        assert stream.read(6) == b"\x82\x03\x00\xa6:\x82"  # the data-channel prefix, then the error one
        stream.read(4)
        sock.sendall(b"\x82\x02\x00x")  # binary, unmasked
        opcode, length = stream.read(2)
        assert opcode == 0x88  # close
        assert stream.read(length)[:2] == (1002).to_bytes(2, "big")  # protocol error


def test_stop_closes_open_tunnels(backend: _Backend) -> None:
    api = serve(backend)
    try:
        ws = open_tunnel(api, "15014")
        for _ in range(2):
            ws.recv_data()
        ws.send_binary(b"\x00GET /debug/stall HTTP/1.1\r\nHost: localhost\r\n\r\n")
        time.sleep(0.1)
    finally:
        began = time.monotonic()
        api.stop()
    try:
        ws.settimeout(3)
        opcode = websocket.ABNF.OPCODE_BINARY
        with contextlib.suppress(websocket.WebSocketConnectionClosedException):
            while opcode != websocket.ABNF.OPCODE_CLOSE:
                opcode, _ = ws.recv_data()
        assert time.monotonic() - began < 2
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            ws.recv_data()
    finally:
        ws.shutdown()


# --------------------------------------------------------------------------------------- real kubectl

KUBECTL = shutil.which("kubectl")


@pytest.mark.slow
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_kubectl_port_forward_through_the_test_server(backend: _Backend, tmp_path: Path) -> None:
    # No token: kubectl never sends credentials to a plain-HTTP server, and this one serves plain HTTP.
    api = serve(backend, token=None)
    assert KUBECTL is not None
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    command = [KUBECTL, f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'cache'}", "-n", NS]
    process = subprocess.Popen(
        [*command, "port-forward", f"pod/{POD}", ":15014"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        local_port = None
        deadline = time.monotonic() + 20
        while local_port is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if line is None:
                break
            if m := re.match(r"Forwarding from 127\.0\.0\.1:(\d+) ->", line):
                local_port = int(m.group(1))
        if local_port is None:
            process.kill()
            _, stderr = process.communicate(timeout=5)
            upgrades = [
                r.headers.get("Sec-WebSocket-Protocol") or r.headers.get("Upgrade", "")
                for r in api.requests
                if r.path.endswith("/portforward")
            ]
            if upgrades and all("SPDY/3.1" in offered for offered in upgrades):
                pytest.xfail(
                    f"kubectl speaks port-forward only as SPDY/3.1 (offered: {upgrades}); the test server "
                    f"implements the WebSocket v4.channel.k8s.io protocol, not SPDY. kubectl said: {stderr.strip()}"
                )
            pytest.fail(f"kubectl port-forward did not start: {stderr.strip()} (upgrades: {upgrades})")
        with urllib.request.urlopen(f"http://127.0.0.1:{local_port}/debug/syncz", timeout=5) as response:
            assert response.read() == SYNCZ_BODY
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        api.stop()


def test_the_official_python_client_speaks_to_the_server(api: KubeApiServer, tmp_path: Path) -> None:
    """A second, independent implementation of the client side (kubernetes.stream.portforward, v5/v4 offered)."""
    from kubernetes import config as k8s_config
    from kubernetes.client import CoreV1Api
    from kubernetes.stream import portforward

    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    forward: Any = None
    try:
        forward = portforward(CoreV1Api(api_client).connect_get_namespaced_pod_portforward, POD, NS, ports="15014")
        sock = forward.socket(15014)
        sock.settimeout(5)
        sock.sendall(b"GET /debug/big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(1 << 16):
            received += chunk
        forward.close()
        assert forward.error(15014) is None
    finally:
        if forward is not None:
            forward.websocket.shutdown()  # the client's relay thread leaves it open when the server closes
        api_client.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == BIG
