"""Reading a live cluster: kubeconfig or in-cluster auth from the official client, lists read as raw JSON.

The typed models of the official client cost about ten times a raw parse on large lists, so the
client is used only for configuration and credentials; requests go through urllib3 with paging,
timeouts and bounded retries that honour Retry-After.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

from conformance import __version__
from conformance.cluster.resources import Resource
from conformance.cluster.snapshot import parse_list
from conformance.cluster.state import ClusterState, Provenance, ResourceStats
from conformance.errors import ConformanceError, SourceError
from conformance.profile.model import Collection, Profile
from conformance.services.source import LiveContext, ServiceSource
from conformance.transport import HttpReply, Transport, Unreachable

MAX_LIST_RESTARTS = 3


class KubeconfigError(ConformanceError):
    """No usable credentials: a bad kubeconfig, an unknown context, or nowhere to look."""


@dataclass(frozen=True)
class Target:
    """The cluster a live run talks to, as resolved from kubeconfig or the pod's service account."""

    configuration: Any  # kubernetes.client.Configuration
    server: str
    context: str | None

    @property
    def label(self) -> str:
        return f"{self.context} ({self.server})" if self.context else self.server


def load_target(kubeconfig: str | None, context: str | None) -> Target:
    """Resolve credentials the way kubectl does; KubeconfigError says what is wrong and where."""
    from kubernetes import client, config  # deferred: snapshot runs never pay for the import

    from conformance import secrets  # deferred: a pytest plugin module, imported first by pytest itself

    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    default = Path.home() / ".kube" / "config"
    if path is None and not default.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        if context:
            raise KubeconfigError("--kube-context needs a kubeconfig; none was found and this is a pod")
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException as exc:
            raise KubeconfigError(f"in-cluster configuration: {exc}") from None
        secrets.register_configuration(configuration)
        return Target(configuration, configuration.host, "in-cluster")
    source = Path(path) if path else default
    if not source.is_file():
        raise KubeconfigError(
            f"kubeconfig {source}: no such file (use --kubeconfig=PATH, or --snapshot=DIR for captured state)"
        )
    try:
        contexts, active = config.list_kube_config_contexts(config_file=str(source))  # type: ignore[no-untyped-call]
        names = [c["name"] for c in contexts or ()]
        if context is not None and context not in names:
            raise KubeconfigError(
                f"kubeconfig {source}: no context {context!r} (available: {', '.join(names) or 'none'})"
            )
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(source), context=context, client_configuration=configuration, persist_config=False
        )
    except KubeconfigError:
        raise
    except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise KubeconfigError(f"kubeconfig {source}: {exc}") from None
    except Exception as exc:  # the yaml loader and exec plugins raise their own types
        raise KubeconfigError(f"kubeconfig {source}: {type(exc).__name__}: {exc}") from None
    chosen = context or (active or {}).get("name")
    secrets.register_configuration(configuration)  # before anything can print or store them
    return Target(configuration, configuration.host, chosen)


def _status_message(body: bytes) -> tuple[str, dict[str, Any] | None]:
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip(), None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return str(status.get("message") or status.get("reason") or ""), status
    return "", None


class ApiError(SourceError):
    def __init__(self, resource: str, code: int, body: bytes) -> None:
        message, status = _status_message(body)
        words = {
            401: "unauthorized: the API server rejected the credentials",
            403: "forbidden",
            404: "not found: the API server does not serve it",
            410: "expired",
            429: "too many requests (API priority and fairness)",
        }.get(code, f"HTTP {code}")
        super().__init__(resource, f"{words}: {message}" if message else words, status)
        self.code = code


class KubeClient:
    """GETs against the API server with timeouts and bounded, Retry-After-aware retries."""

    def __init__(
        self,
        target: Target,
        collection: Collection,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        cfg = target.configuration
        self.server = target.server.rstrip("/")
        self.collection = collection
        self._configuration = cfg
        pool_args: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": 8,
            "retries": False,
            "cert_reqs": "CERT_REQUIRED" if cfg.verify_ssl else "CERT_NONE",
        }
        for option, value in (
            ("ca_certs", cfg.ssl_ca_cert),
            ("cert_file", cfg.cert_file),
            ("key_file", cfg.key_file),
            ("server_hostname", getattr(cfg, "tls_server_name", None)),
        ):
            if value:
                pool_args[option] = value
        if cfg.assert_hostname is not None:
            pool_args["assert_hostname"] = cfg.assert_hostname
        pool: urllib3.PoolManager = (
            urllib3.ProxyManager(cfg.proxy, **pool_args) if cfg.proxy else urllib3.PoolManager(**pool_args)
        )
        timeout = urllib3.Timeout(
            connect=collection.connect_timeout.total_seconds(), read=collection.read_timeout.total_seconds()
        )
        self.transport = Transport(pool, timeout, collection.retries, sleep)
        self._groups: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def configuration(self) -> Any:
        """The kubernetes client Configuration (TLS material and credentials) for other protocols."""
        return self._configuration

    def headers(self) -> dict[str, str]:
        """Request headers with fresh credentials (exec plugins and token files can rotate them)."""
        headers = {"Accept": "application/json", "User-Agent": f"cluster-conformance/{__version__}"}
        bearer = self._configuration.auth_settings().get("BearerToken")
        if bearer and bearer.get("value"):
            headers["Authorization"] = bearer["value"]
        return headers

    def request(
        self,
        path: str,
        query: dict[str, str] | None = None,
        accept: str = "application/json",
        extra_headers: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """A GET through the API server (lists, discovery, the service proxy); SourceError if unreachable.

        Caller headers never replace the API server credentials: a proxied service's own token
        travels in headers the API server passes on (Kong-Admin-Token), not in Authorization.
        """
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        own = {k: v for k, v in (extra_headers or {}).items() if k.lower() != "authorization"}
        headers = {**own, **self.headers(), "Accept": accept}
        try:
            return self.transport.get(url, headers)
        except Unreachable as exc:
            raise SourceError(path, f"cannot reach the API server at {self.server} ({exc})") from None

    def get(self, path: str, query: dict[str, str], resource: str, stats: ResourceStats) -> bytes:
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        try:
            reply = self.transport.get(url, self.headers())
        except Unreachable as exc:
            stats.requests += exc.attempts
            stats.retries += exc.attempts - 1
            raise SourceError(resource, f"cannot reach the API server at {self.server} ({exc})") from None
        stats.requests += reply.attempts
        stats.retries += reply.attempts - 1
        if reply.status == 200:
            return reply.body
        raise ApiError(resource, reply.status, reply.body)

    def group_version(self, res: Resource, stats: ResourceStats) -> str:
        if res.version:
            return f"{res.group}/{res.version}" if res.group else res.version
        with self._lock:
            known = self._groups.get(res.group)
        if known:
            return known
        try:
            body = self.get(f"/apis/{res.group}", {}, res.name, stats)
        except ApiError as exc:
            if exc.code == 404:
                raise SourceError(
                    res.name, f"the API server does not serve the {res.group} group (is its CRD installed?)"
                ) from None
            raise
        try:
            preferred = orjson.loads(body)["preferredVersion"]["groupVersion"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise SourceError(res.name, f"discovery of {res.group} returned no preferredVersion") from None
        with self._lock:
            self._groups[res.group] = str(preferred)
        return str(preferred)

    def list(self, res: Resource, stats: ResourceStats) -> tuple[list[dict[str, Any]], str]:
        """Every object of a resource, page by page; a 410 on a continue token restarts the list."""
        group_version = self.group_version(res, stats)
        prefix = "/api" if not res.group else "/apis"
        path = f"{prefix}/{group_version}/{res.plural}"
        restarts = 0
        items: list[dict[str, Any]] = []
        token: str | None = None
        api_version = group_version
        while True:
            query = {"limit": str(self.collection.page_size)}
            if token:
                query["continue"] = token
            elif not self.collection.consistent_reads:
                # Served from the API server's watch cache: no etcd round trip, no load during incidents.
                query["resourceVersion"] = "0"
                query["resourceVersionMatch"] = "NotOlderThan"
            try:
                body = self.get(path, query, res.name, stats)
            except ApiError as exc:
                if exc.code == 410 and token and restarts < MAX_LIST_RESTARTS:
                    restarts += 1
                    items, token = [], None
                    continue
                if exc.code == 404:
                    raise SourceError(res.name, f"the API server does not serve {path}") from None
                raise
            page = parse_list(res, body, f"GET {path}")
            items.extend(page.items)
            api_version = page.api_version or api_version
            token = page.continue_token
            if not token:
                return items, api_version

    def server_version(self) -> str | None:
        try:
            body = self.get("/version", {}, "version", ResourceStats())
            return str(orjson.loads(body).get("gitVersion")) or None
        except (SourceError, orjson.JSONDecodeError, AttributeError):
            return None


def collect_live(
    target: Target,
    profile: Profile,
    resources: Iterable[Resource],
    sources: Iterable[ServiceSource] = (),
    progress: Callable[[str], None] | None = None,
) -> ClusterState:
    """Collect resources and service bodies concurrently; each failure is kept with its reason, the rest go on."""
    collection = profile.collection
    client = KubeClient(target, collection)
    wanted = list(resources)
    services = list(sources)
    started = datetime.now(UTC)
    state = ClusterState(
        Provenance("live", target.server, started, context=target.context, server_version=client.server_version())
    )

    def one(res: Resource) -> None:
        stats = ResourceStats()
        began = time.perf_counter()
        try:
            items, api_version = client.list(res, stats)
        except SourceError as exc:
            state.errors[res.name] = exc
        else:
            state.lists[res.name] = items
            state.api_versions[res.name] = api_version
            stats.objects = len(items)
        stats.seconds = time.perf_counter() - began
        state.stats[res.name] = stats
        if progress is not None:
            outcome = f"{stats.objects} objects" if res.name in state.lists else "error"
            progress(f"{res.name}: {outcome}, {stats.requests} requests, {stats.seconds:.2f}s")

    context = LiveContext(profile, client)

    def service(source: ServiceSource) -> None:
        began = time.perf_counter()
        try:
            bodies = source.collect(context)
        except SourceError as exc:
            state.service_errors[source.name] = exc
        except Exception as exc:  # a client library's own error must not end the run
            state.service_errors[source.name] = SourceError(source.name, f"{type(exc).__name__}: {exc}")
        else:
            for file, body in bodies.items():
                state.documents[f"{source.name}/{file}"] = source.sanitize(file, body)
        if progress is not None:
            outcome = "error" if source.name in state.service_errors else f"{len(bodies)} bodies"
            progress(f"{source.name}: {outcome}, {time.perf_counter() - began:.2f}s")

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(wanted) + len(services)))) as pool:
        futures = [pool.submit(one, res) for res in wanted] + [pool.submit(service, src) for src in services]
        for future in futures:
            future.result()
    return state
