"""What services need of the Kubernetes API client, as a protocol: the client itself (conformance.cluster.live)
collects the cluster and its services, so services must not import it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from conformance.transport import Deadline, HttpReply, RetryLog, Transport


class ApiClient(Protocol):
    server: str
    deadline: Deadline | None
    retry_log: RetryLog
    transport: Transport
    unreachable: str | None  # why the API server cannot be used, once a probe found so

    @property
    def configuration(self) -> Any: ...

    def headers(self) -> dict[str, str]: ...

    def request(
        self,
        path: str,
        query: dict[str, str] | None = None,
        accept: str = "application/json",
        extra_headers: Mapping[str, str] | None = None,
        source: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> HttpReply: ...
