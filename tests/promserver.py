"""Debian's prometheus and prometheus-node-exporter on loopback, for live tests of the Prometheus checks.

Why: the targets API and PromQL results are Prometheus' own behaviour; only the real server shows whether
the collector's requests, the CPU fallback expression and the sanitizer work on what Prometheus returns.
Everything lives in one temporary directory (config, TSDB); nothing under /etc or /var is read or written.
Both processes are stopped on exit, on failure to start, and at interpreter exit.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import parse_qsl

from kafkabroker import free_port

__all__ = ["NODE_EXPORTER", "PROMETHEUS", "PromServer", "free_port", "missing_binaries", "snapshot_proxy"]

PROMETHEUS = "prometheus"
NODE_EXPORTER = "prometheus-node-exporter"
#: The scrape job that points at a closed port, so that exactly one target is down.
DOWN_JOB = "unreachable-exporter"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def missing_binaries() -> list[str]:
    return [name for name in (PROMETHEUS, NODE_EXPORTER) if shutil.which(name) is None]


def _terminate(processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]]) -> None:
    for process, _log in processes:
        if process.poll() is None:
            process.terminate()
    for process, log in processes:
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        log.close()
    processes.clear()


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class PromServer:
    """Prometheus scraping a node exporter, itself and one closed port, every second.

    ``down_params`` are sent as query parameters to the closed-port job, so its scrapeUrl and lastError
    carry them (a test puts a canary secret there to prove it is redacted).
    """

    def __init__(self, down_params: Mapping[str, str] | None = None) -> None:
        self.down_params = dict(down_params or {})
        self.directory: Path | None = None
        self.prometheus_port = 0
        self.exporter_port = 0
        self.closed_port = 0
        self.startup_seconds = 0.0
        self._processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
        self._finalizer = weakref.finalize(self, _terminate, self._processes)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def jobs(self) -> dict[str, int]:
        """Job name -> number of targets."""
        return {"node-exporter": 1, "prometheus": 1, DOWN_JOB: 1}

    def _config(self) -> str:
        params = "".join(f"      {k}: [{json.dumps(v)}]\n" for k, v in self.down_params.items())
        return (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            f"  - job_name: node-exporter\n    static_configs: [{{targets: ['127.0.0.1:{self.exporter_port}']}}]\n"
            f"  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{self.prometheus_port}']}}]\n"
            f"  - job_name: {DOWN_JOB}\n"
            + (f"    params:\n{params}" if params else "")
            + f"    static_configs: [{{targets: ['127.0.0.1:{self.closed_port}']}}]\n"
        )

    def _spawn(self, name: str, args: list[str]) -> None:
        assert self.directory is not None
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [name, *args], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
        )
        self._processes.append((process, log))

    def start(self) -> Self:
        """Start both, wait until the two live targets are up and the closed port is down; stop on failure."""
        missing = missing_binaries()
        if missing:
            raise RuntimeError(f"not installed: {', '.join(missing)} (apt-get install {' '.join(missing)})")
        began = time.monotonic()
        self.directory = Path(tempfile.mkdtemp(prefix="promserver-"))
        try:
            self.prometheus_port, self.exporter_port, self.closed_port = free_port(), free_port(), free_port()
            (self.directory / "prometheus.yml").write_text(self._config())
            textfiles = self.directory / "textfile"
            textfiles.mkdir()
            self._spawn(
                NODE_EXPORTER,
                [
                    f"--web.listen-address=127.0.0.1:{self.exporter_port}",
                    f"--collector.textfile.directory={textfiles}",
                    "--no-collector.systemd",  # no D-Bus in containers: it only logs errors
                ],
            )
            self._spawn(
                PROMETHEUS,
                [
                    f"--config.file={self.directory / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                    f"--web.console.templates={self.directory}",
                    f"--web.console.libraries={self.directory}",
                    "--storage.tsdb.retention.time=1h",
                ],
            )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _exited(self) -> str | None:
        for process, _log in self._processes:
            if process.poll() is not None:
                name = process.args[0] if isinstance(process.args, list) else process.args
                return f"{name!s} exited with {process.returncode}:\n{self.logs()}"
        return None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer yet"
        while time.monotonic() < deadline:
            crashed = self._exited()
            if crashed:
                raise RuntimeError(crashed)
            try:
                targets = _get_json(f"{self.url}/api/v1/targets?state=active")["data"]["activeTargets"]
                health = {t["labels"]["job"]: t["health"] for t in targets}
                last = f"target health {health}"
                want = {"node-exporter": "up", "prometheus": "up", DOWN_JOB: "down"}
                # rate() needs two samples: wait until the CPU expression has a value too.
                if health == want and self.query('sum(rate(node_cpu_seconds_total{mode!="idle"}[5m]))'):
                    return
            except (OSError, urllib.error.URLError, KeyError, TypeError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {READY_TIMEOUT:.0f}s ({last}):\n{self.logs()}")

    def write_metrics(self, name: str, text: str) -> None:
        """Expose `text` (exposition format) through the node exporter's textfile collector, from its next scrape.

        Written to a temporary name and renamed, so that a scrape never reads half a file."""
        assert self.directory is not None
        textfiles = self.directory / "textfile"
        partial = textfiles / f".{name}.prom.tmp"
        partial.write_text(text)
        partial.replace(textfiles / f"{name}.prom")

    def query(self, expression: str) -> list[Any]:
        """The result list of an instant query (empty when no series match)."""
        body = _get_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}")
        result: list[Any] = body["data"]["result"]
        return result

    def logs(self) -> str:
        if self.directory is None:
            return ""
        texts = []
        for name in (PROMETHEUS, NODE_EXPORTER):
            path = self.directory / f"{name}.log"
            if path.is_file():
                texts.append(
                    f"--- {name} (last lines)\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
                )
        return "\n".join(texts)

    def stop(self) -> None:
        """Terminate both processes (kill if they linger) and remove the directory; idempotent."""
        _terminate(self._processes)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def versions() -> dict[str, str]:
    """First line of each binary's --version, for reports."""
    found = {}
    for name in (PROMETHEUS, NODE_EXPORTER):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([name, "--version"], capture_output=True, timeout=10, check=False)
            found[name] = (out.stdout or out.stderr).decode(errors="replace").splitlines()[0]
    return found


JSON = {"Content-Type": "application/json"}
EMPTY_VECTOR = b'{"status":"success","data":{"resultType":"vector","result":[]}}'


def snapshot_proxy(directory: str | Path) -> Any:
    """A service-proxy handler (tests/kubeapi.py ProxyHandler) answering as the Prometheus a snapshot captured.

    `/api/v1/targets` returns prometheus/targets.json; `/api/v1/query` returns the response recorded for
    that expression in prometheus/*.json (utilization, mesh requests, volume usage), and an empty vector for
    any other expression (as Prometheus does for a recording rule that does not exist).
    """
    base = Path(directory) / "prometheus"
    targets = (base / "targets.json").read_bytes()
    answers: dict[str, bytes] = {}
    for path in base.glob("*.json"):
        recorded = json.loads(path.read_bytes())
        if isinstance(recorded, dict) and "expression" in recorded and "response" in recorded:
            answers[recorded["expression"]] = json.dumps(recorded["response"]).encode()

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        route, _, query = path.partition("?")
        if method != "GET":
            return 405, {"Content-Type": "text/plain"}, b"Method Not Allowed\n"
        if route == "/api/v1/targets":
            return 200, JSON, targets
        if route == "/api/v1/query":
            return 200, JSON, answers.get(dict(parse_qsl(query)).get("query", ""), EMPTY_VECTOR)
        return 404, {"Content-Type": "text/plain"}, b"404 page not found\n"

    return handler
