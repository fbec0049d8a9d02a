"""Reading a live cluster: kubeconfig or in-cluster auth from the official client, lists read as raw JSON.

The typed models of the official client cost about ten times a raw parse on large lists, so the
client is used only for configuration and credentials; requests go through urllib3 with paging,
timeouts and bounded retries that honour Retry-After, all within one collection budget.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

from conformance import __version__
from conformance.cluster.kubeconfig import KubeconfigError as KubeconfigError  # re-exported for the collector's callers
from conformance.cluster.kubeconfig import Target as Target
from conformance.cluster.kubeconfig import load_target as load_target
from conformance.cluster.projection import list_decoder
from conformance.cluster.resources import Resource
from conformance.cluster.snapshot import parse_list, parse_projected
from conformance.cluster.spool import PageSpool
from conformance.cluster.state import ClusterState, Provenance, ResourceStats
from conformance.errors import ApiError, ConformanceError, SourceError, status_message
from conformance.profile.model import Collection, Profile
from conformance.services.source import LiveContext, ServiceSource
from conformance.transport import (
    Deadline,
    HttpReply,
    OutOfBudget,
    OutOfBudgetError,
    RetryLog,
    Transport,
    Unreachable,
    seconds_text,
    summarize,
)

MAX_LIST_RESTARTS = 3
WORKERS = 8
# A list still running after this long says how far it has got, and again at this interval.
PROGRESS_SECONDS = 3.0
_CONTINUE = b'"continue":"'
# Every call is bounded by the deadline itself; this only covers what is not (a client library's own
# timeouts, such as Kafka's), so one stuck source cannot hold the run past its budget.
GRACE_SECONDS = 2.0
# The probe that finds an API server that cannot be used at all asks once, and waits no longer than this.
PROBE_SECONDS = 5.0


class NotServed(SourceError):
    """A resource the API server does not serve (its CRD is not installed): there is nothing to read."""


@dataclass(frozen=True)
class Probe:
    """What one GET /version found: the server version, or why nothing can be read through the API server."""

    version: str | None
    unusable: str | None = None


def _continue_token(body: bytes) -> str | None:
    """The continue token of a list page, found without parsing it: the API server writes the list's
    metadata before its items. None when it is not there (the parsed page has the last word)."""
    end = body.find(b'"items":')
    head = body[: end if end >= 0 else 0]
    at = head.find(_CONTINUE)
    if at < 0:
        return None
    start = at + len(_CONTINUE)
    close = head.find(b'"', start)
    return head[start:close].decode("ascii", "replace") if close > start else None


class _Prefetch:
    """One request run on its own thread while the caller parses the previous page."""

    def __init__(self, call: Callable[[], bytes]) -> None:
        self._call = call
        self._body: bytes | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="collect-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._body = self._call()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> bytes:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._body is not None
        return self._body

    def discard(self) -> None:
        self._thread.join()


class KubeClient:
    """GETs against the API server with timeouts and bounded, Retry-After-aware retries.

    With a deadline (the run's collection budget) no request or retry wait outlasts it; the
    retries made are recorded per resource or service in `retry_log`.
    """

    def __init__(
        self,
        target: Target,
        collection: Collection,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Deadline | None = None,
        discovered: dict[str, str] | None = None,
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
        self.deadline = deadline
        self.retry_log = RetryLog()
        self.transport = Transport(pool, timeout, collection.retries, sleep, deadline)
        # API group -> preferred group version, shared by the collections of one run (settling re-collects).
        self._groups: dict[str, str] = discovered if discovered is not None else {}
        self._group_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        # Why the API server cannot be used, once a probe found so: nothing more is asked of it.
        self.unreachable: str | None = None

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
        source: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> HttpReply:
        """A GET through the API server (lists, discovery, the service proxy); SourceError if unreachable.

        Caller headers never replace the API server credentials: a proxied service's own token
        travels in headers the API server passes on (Kong-Admin-Token), not in Authorization.
        `source` names what the retries are recorded under and errors name (default: the path);
        `timeout` and `retries` replace the collection's for this call (a service's own access settings).
        """
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        own = {k: v for k, v in (extra_headers or {}).items() if k.lower() != "authorization"}
        headers = {**own, **self.headers(), "Accept": accept}
        transport = self.transport
        if timeout is not None or retries is not None:
            connect = self.collection.connect_timeout.total_seconds()
            read = self.collection.read_timeout.total_seconds() if timeout is None else timeout
            transport = Transport(
                transport.pool,
                urllib3.Timeout(connect=min(connect, read), read=read),
                transport.retries if retries is None else retries,
                transport.sleep,
                self.deadline,
            )
        name = source or path
        if self.unreachable is not None:
            raise SourceError(name, self.unreachable)
        try:
            reply = transport.get(url, headers)
        except OutOfBudget as exc:
            self.retry_log.record(name, exc.retried)
            raise OutOfBudgetError(name, f"GET {path}: {exc}") from None
        except Unreachable as exc:
            self.retry_log.record(name, exc.retried)
            where = f"GET {path}: " if source else ""
            raise SourceError(name, f"{where}cannot reach the API server at {self.server} ({exc})") from None
        self.retry_log.record(name, reply.retried)
        return reply

    def get(self, path: str, query: dict[str, str], resource: str, stats: ResourceStats) -> bytes:
        if self.unreachable is not None:
            raise SourceError(resource, self.unreachable)
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        try:
            reply = self.transport.get(url, self.headers())
        except Unreachable as exc:
            stats.requests += exc.attempts
            stats.retries += exc.attempts - 1
            self.retry_log.record(resource, exc.retried)
            if isinstance(exc, OutOfBudget):
                raise OutOfBudgetError(resource, str(exc)) from None
            raise SourceError(resource, f"cannot reach the API server at {self.server} ({exc})") from None
        stats.requests += reply.attempts
        stats.retries += reply.attempts - 1
        self.retry_log.record(resource, reply.retried)
        if reply.status == 200:
            return reply.body
        raise ApiError(resource, reply.status, reply.body, reply.retried)

    def group_version(self, res: Resource, stats: ResourceStats) -> str:
        if res.version:
            return f"{res.group}/{res.version}" if res.group else res.version
        with self._lock:
            group_lock = self._group_locks.setdefault(res.group, threading.Lock())
        # One discovery request per group, even when its resources are listed at the same time.
        with group_lock:
            return self._discover(res, stats)

    def _discover(self, res: Resource, stats: ResourceStats) -> str:
        with self._lock:
            known = self._groups.get(res.group)
        if known:
            return known
        try:
            body = self.get(f"/apis/{res.group}", {}, res.name, stats)
        except ApiError as exc:
            if exc.code == 404:
                raise NotServed(
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

    def _list_query(self, token: str | None) -> dict[str, str]:
        query = {"limit": str(self.collection.page_size)}
        if token:
            query["continue"] = token
        elif not self.collection.consistent_reads:
            # Served from the API server's watch cache: no etcd round trip, no load during incidents.
            query["resourceVersion"] = "0"
            query["resourceVersionMatch"] = "NotOlderThan"
        return query

    def list(
        self,
        res: Resource,
        stats: ResourceStats,
        spool: PageSpool | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object of a resource, page by page; a 410 on a continue token restarts the list.

        The next page is requested while this one is parsed. Resources with a projection keep only the
        projected objects (conformance.cluster.projection); with a spool each page, as the API server sent
        it, goes there, for conformance.cluster.evidence to strip and write.
        """
        decoder = list_decoder(res.name)
        group_version = self.group_version(res, stats)
        prefix = "/api" if not res.group else "/apis"
        path = f"{prefix}/{group_version}/{res.plural}"
        restarts = 0
        items: list[dict[str, Any]] = []
        query = self._list_query(None)
        api_version = group_version
        ahead: _Prefetch | None = None
        while True:
            try:
                body = ahead.result() if ahead is not None else self.get(path, query, res.name, stats)
            except ApiError as exc:
                if exc.code == 410 and "continue" in query and restarts < MAX_LIST_RESTARTS:
                    restarts += 1
                    items, query, ahead = [], self._list_query(None), None
                    if spool is not None:
                        spool.clear()
                    continue
                if exc.code == 404:
                    raise NotServed(res.name, f"the API server does not serve {path}") from None
                raise
            token = _continue_token(body)
            ahead = _Prefetch(partial(self.get, path, self._list_query(token), res.name, stats)) if token else None
            origin = f"GET {path}"
            page = parse_list(res, body, origin) if decoder is None else parse_projected(res, body, origin, decoder)
            if spool is not None:
                spool.append(body)
            del body
            items.extend(page.items)
            stats.objects = len(items)
            api_version = page.api_version or api_version
            if page.continue_token != token:  # the token was not where the quick look expected it
                if ahead is not None:
                    ahead.discard()
                ahead = None
            query = self._list_query(page.continue_token)
            if not page.continue_token:
                return items, api_version

    def probe(self) -> Probe:
        """One GET /version, which every identity may read (deploy/rbac.yaml grants it too), with a short timeout
        and no retry: an API server that refuses connections, cannot be resolved, fails TLS verification or
        rejects the credentials is found here once, not by every request of the collection in turn.

        Anything else (a slow answer, 429, 5xx) is left to the collection, whose retries are meant for it."""
        limits = self.transport.timeout
        connect, read = limits.connect_timeout, limits.read_timeout
        timeout = urllib3.Timeout(
            connect=min(connect, PROBE_SECONDS) if isinstance(connect, (int, float)) else PROBE_SECONDS,
            read=min(read, PROBE_SECONDS) if isinstance(read, (int, float)) else PROBE_SECONDS,
        )
        transport = Transport(self.transport.pool, timeout, 0, self.transport.sleep, self.deadline)
        try:
            reply = transport.get(self.server + "/version", self.headers())
        except OutOfBudget:
            return Probe(None)  # the collection reports what the budget cut short
        except Unreachable as exc:
            if exc.kind in ("read timeout", "connection broken"):
                return Probe(None)  # connected: the server is there (slow, or cut off once), the retries are for it
            return Probe(None, f"cannot reach the API server at {self.server} ({exc})")
        if reply.status == 401:
            return Probe(
                None, f"the API server at {self.server} rejected the credentials (401 Unauthorized on GET /version)"
            )
        if reply.status == 403:
            message, _ = status_message(reply.body)
            said = f": {message}" if message else ""
            return Probe(None, f"the API server at {self.server} forbids GET /version (403 Forbidden{said})")
        if reply.status != 200:
            return Probe(None)
        try:
            version = orjson.loads(reply.body).get("gitVersion")
        except (orjson.JSONDecodeError, AttributeError):
            return Probe(None)
        return Probe(str(version) if version else None)

    def server_version(self) -> str | None:
        try:
            body = self.get("/version", {}, "version", ResourceStats())
            return str(orjson.loads(body).get("gitVersion")) or None
        except (SourceError, orjson.JSONDecodeError, AttributeError):
            return None


@dataclass(frozen=True)
class CollectionReport:
    """How a live collection went against its budget: time used, retries per source, what ran out."""

    budget: float  # seconds
    elapsed: float
    retries: Mapping[str, tuple[str, ...]]  # resource or service -> why each retry was made
    out_of_budget: tuple[str, ...] = ()  # sources given up on because the budget ran out
    unfinished: tuple[str, ...] = ()  # sources still running when the budget (and its grace) ended
    unreachable: str | None = None  # why nothing could be read through the API server (its probe failed)


@dataclass
class LiveState(ClusterState):
    """The state of a live run, with the report of its collection."""

    collection: CollectionReport | None = field(default=None, compare=False)


@dataclass
class _Listed:
    items: list[dict[str, Any]] | None
    api_version: str
    stats: ResourceStats
    error: SourceError | None = None


def _list_one(client: KubeClient, res: Resource, stats: ResourceStats, spool: PageSpool | None) -> _Listed:
    began = time.perf_counter()
    try:
        items, api_version = client.list(res, stats, spool)
    except SourceError as exc:
        result = _Listed(None, "", stats, exc)
    else:
        result = _Listed(items, api_version, stats)  # stats.objects is kept current by the list, page by page
    stats.seconds = time.perf_counter() - began
    return result


@dataclass
class _Fetched:
    documents: dict[str, bytes]
    seconds: float
    error: SourceError | None = None


def _collect_service(context: LiveContext, source: ServiceSource) -> _Fetched:
    """A service's bodies, sanitized before anything keeps them; a failure becomes its error."""
    began = time.perf_counter()
    try:
        documents = {file: source.sanitize(file, body) for file, body in source.collect(context).items()}
    except SourceError as exc:
        return _Fetched({}, time.perf_counter() - began, exc)
    except ConformanceError as exc:  # a body the service sent malformed
        return _Fetched({}, time.perf_counter() - began, SourceError(source.name, str(exc)))
    except Exception as exc:  # a client library's own error must not end the run
        return _Fetched({}, time.perf_counter() - began, SourceError(source.name, f"{type(exc).__name__}: {exc}"))
    return _Fetched(documents, time.perf_counter() - began)


def _run_within(
    tasks: list[Callable[[], Any]],
    until: float,
    report: Callable[[int, Any], None],
    tick: Callable[[set[int]], None] | None = None,
) -> set[int]:
    """Run tasks on daemon threads (at most WORKERS at once) until all are done or `until`; the indexes not done.

    Results are handed to `report` on the calling thread, so the state is only ever written there; so
    is `tick`, every PROGRESS_SECONDS with the indexes still pending. Daemon threads: a task stuck past
    the deadline cannot keep the process alive after the run.
    """
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(tasks)):
        todo.put(index)
    done: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = tasks[index]()
            except BaseException as exc:  # kept for the caller; a worker must never die silently
                outcome = exc
            done.put((index, outcome))

    for number in range(min(WORKERS, len(tasks))):
        threading.Thread(target=work, name=f"collect-{number}", daemon=True).start()
    pending = set(range(len(tasks)))
    next_tick = time.monotonic() + PROGRESS_SECONDS
    while pending:
        now = time.monotonic()
        if now >= until:
            break
        if tick is not None and now >= next_tick:
            tick(pending)
            next_tick = now + PROGRESS_SECONDS
        try:
            index, outcome = done.get(timeout=max(min(until, next_tick) - now, 0.0))
        except queue.Empty:
            continue
        pending.discard(index)
        report(index, outcome)
    stop.set()
    return pending


def collect_live(
    target: Target,
    profile: Profile,
    resources: Iterable[Resource],
    sources: Iterable[ServiceSource] = (),
    progress: Callable[[str], None] | None = None,
    budget: timedelta | None = None,
    discovered: dict[str, str] | None = None,
) -> ClusterState:
    """Collect resources and service bodies concurrently within the budget (default: the profile's).

    Each failure is kept with its reason and the rest go on; a source still running when the budget
    is spent is an error saying so, never a wait past it. `discovered` carries the API groups' preferred
    versions from one collection to the next, so re-collecting asks discovery nothing again.
    """
    collection = profile.collection
    deadline = Deadline((budget or collection.budget).total_seconds())
    began = time.perf_counter()
    client = KubeClient(target, collection, deadline=deadline, discovered=discovered)
    requested = list(resources)
    services = list(sources)
    started = datetime.now(UTC)
    context = LiveContext(profile, client)
    lists: dict[str, _Listed] = {}
    fetched: dict[str, _Fetched] = {}
    probe = client.probe()
    version: list[str | None] = [probe.version]
    wanted = requested
    if probe.unusable is not None:
        # Said once, for every resource; services reached through the API server fail at once too (the client
        # asks nothing more of it), while those reached directly are still collected.
        client.unreachable = probe.unusable
        lists = {res.name: _Listed(None, "", ResourceStats(), SourceError(res.name, probe.unusable)) for res in wanted}
        wanted = []

    # Task 0 is the server version (asked again only when the probe got none), then one per resource, then one per
    # service.
    running = {res.name: ResourceStats() for res in wanted}  # filled in by the lists as they go
    # Whole-object evidence is written from the pages as read; judged evidence from what the checks keep.
    spools = {res.name: PageSpool() for res in wanted if collection.evidence == "whole"}
    tasks: list[Callable[[], Any]] = [lambda: probe.version or client.server_version()]
    tasks += [partial(_list_one, client, res, running[res.name], spools.get(res.name)) for res in wanted]
    tasks += [partial(_collect_service, context, src) for src in services]
    names = ["version"] + [r.name for r in wanted] + [s.name for s in services]

    def report(index: int, outcome: Any) -> None:
        if index == 0:
            version[0] = outcome if isinstance(outcome, str) else version[0]
            return
        if index <= len(wanted):
            res = wanted[index - 1]
            if isinstance(outcome, BaseException):
                outcome = _Listed(
                    None, "", ResourceStats(), SourceError(res.name, f"{type(outcome).__name__}: {outcome}")
                )
            lists[res.name] = outcome
            if progress is not None:
                stats = outcome.stats
                shown = f"{stats.objects} objects" if outcome.error is None else "error"
                retries = client.retry_log.snapshot().get(res.name)
                extra = f", {summarize(retries)}" if retries else ""
                progress(f"{res.name}: {shown}, {stats.requests} requests{extra}, {stats.seconds:.2f}s")
            return
        src = services[index - 1 - len(wanted)]
        if isinstance(outcome, BaseException):
            outcome = _Fetched({}, 0.0, SourceError(src.name, f"{type(outcome).__name__}: {outcome}"))
        fetched[src.name] = outcome
        if progress is not None:
            shown = "error" if outcome.error is not None else f"{len(outcome.documents)} bodies"
            retries = client.retry_log.snapshot().get(src.name)
            extra = f", {summarize(retries)}" if retries else ""
            progress(f"{src.name}: {shown}{extra}, {outcome.seconds:.2f}s")

    def tick(pending: set[int]) -> None:
        if progress is None:
            return
        for index in sorted(i for i in pending if 0 < i <= len(wanted)):
            stats = running[wanted[index - 1].name]
            if stats.requests:
                so_far = f"{stats.objects} objects so far, {stats.requests} requests"
                progress(f"{wanted[index - 1].name}: {so_far}, {time.perf_counter() - began:.1f}s")

    # The parsed objects live as long as the run: the cyclic collector would walk all of them again and
    # again as they pile up (several times the parsing itself on a large cluster), and they hold no cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        unfinished = _run_within(tasks, deadline.at + GRACE_SECONDS, report, tick)
    finally:
        if collecting:
            # What was parsed stays for the run: out of the collector's sight, not walked again by every
            # later collection. Parsed JSON holds no cycles, so a discarded state is still freed (by refcount).
            gc.freeze()
            gc.enable()
    elapsed = time.perf_counter() - began
    late = f"did not finish within {deadline.label} (still running after {seconds_text(elapsed)})"
    for index in sorted(unfinished):
        if index == 0:
            continue
        if index <= len(wanted):
            res = wanted[index - 1]
            lists[res.name] = _Listed(None, "", ResourceStats(seconds=elapsed), OutOfBudgetError(res.name, late))
        else:
            src = services[index - 1 - len(wanted)]
            fetched[src.name] = _Fetched({}, elapsed, OutOfBudgetError(src.name, late))
        if progress is not None:
            progress(f"{names[index]}: error, {late}")

    state = LiveState(Provenance("live", target.server, started, context=target.context, server_version=version[0]))
    for res in requested:
        listed = lists[res.name]
        if listed.error is not None or listed.items is None:
            state.errors[res.name] = listed.error or SourceError(res.name, "no items")
            if res.name in spools:
                spools[res.name].close()
        else:
            state.lists[res.name] = listed.items
            state.api_versions[res.name] = listed.api_version
            if res.name in spools:
                state.spools[res.name] = spools[res.name]
        state.stats[res.name] = listed.stats
    for src in services:
        service = fetched[src.name]
        if service.error is not None:
            state.service_errors[src.name] = service.error
        else:
            state.documents.update({f"{src.name}/{file}": body for file, body in service.documents.items()})
    failures: list[tuple[str, SourceError]] = [*state.errors.items(), *state.service_errors.items()]
    state.collection = CollectionReport(
        budget=deadline.seconds,
        elapsed=elapsed,
        retries=client.retry_log.snapshot(),
        out_of_budget=tuple(sorted(name for name, error in failures if isinstance(error, OutOfBudgetError))),
        unfinished=tuple(names[i] for i in sorted(unfinished) if i),
        unreachable=probe.unusable,
    )
    return state
