"""A local HTTP server that answers fixed paths with recorded payloads: istiod, Kong, the portal, Grafana, Jaeger.

These services cannot run here; their real response bodies (every version shape the suite reads)
are served over real HTTP so the suite's access layer is exercised end to end.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class PayloadServer:
    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    def route(self, path: str, body: bytes | str, status: int = 200) -> None:
        self.routes[path] = (status, body.encode() if isinstance(body, str) else body)

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append(Seen(self.path, dict(self.headers.items())))
                status, body = server.routes.get(self.path, (404, b'{"message":"not found"}'))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The same answers for the Kubernetes test server's service proxy (no socket involved)."""
        self.seen.append(Seen(path, dict(headers)))
        status, payload = self.routes.get(path, (404, b'{"message":"not found"}'))
        return status, {"Content-Type": "application/json"}, payload

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
