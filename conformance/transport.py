"""One HTTP layer for every call the suite makes: timeouts, bounded retries honouring Retry-After, a shared budget.

Used for the API server (lists, discovery, the service proxy) and for services reached directly.
Retries cover connection errors and the answers that mean "try again" (429 from API priority and
fairness, 5xx from a restarting backend); anything else is returned for the caller to judge. A
Deadline (the run's collection budget) bounds every connect, every read and every retry sleep, so a
server that never stops answering 429, or stalls, ends in an error within the budget. Each reply
says why it was retried, so a run can report what it had to retry.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlsplit

import urllib3

from conformance.duration import format_duration
from conformance.errors import SourceError

RETRYABLE = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0
MAX_BACKOFF = 8.0
READ_CHUNK = 1 << 20
# A read that timed out with this little of the budget left was cut by the budget, not by its own timeout.
SPENT = 0.05


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1
    retried: tuple[str, ...] = ()  # why each retry was made: "429 Too Many Requests", "read timeout"


class Unreachable(Exception):
    """No answer at all after every retry: refused, reset, timed out, unresolvable; `kind` says which."""

    def __init__(self, reason: str, attempts: int, retried: tuple[str, ...] = (), kind: str = "") -> None:
        super().__init__(reason)
        self.attempts = attempts
        self.retried = retried
        self.kind = kind


class OutOfBudget(Unreachable):
    """The collection budget ran out before an answer worth returning: waiting longer would overrun it."""


class OutOfBudgetError(SourceError):
    """A resource or service given up on because the run's collection budget ran out."""


def seconds_text(seconds: float) -> str:
    """`5m`, `1m30s`, `2s`, `0.99s`: whole seconds as operators write durations, fractions as seconds."""
    if seconds >= 1 and float(seconds).is_integer():
        return format_duration(timedelta(seconds=seconds))
    return f"{seconds:.2f}".rstrip("0").rstrip(".") + "s" if seconds < 10 else f"{seconds:.1f}s"


class Deadline:
    """The collection budget: one instant that every request and retry sleep of a run respects."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        return self.at - self._clock()

    @property
    def label(self) -> str:
        return f"the collection budget of {seconds_text(self.seconds)}"


def describe(error: BaseException) -> str:
    """A short reason from a urllib3 error, without the request line noise."""
    text = str(error)
    if not text:
        return type(error).__name__
    return text.split(": ", 1)[-1] if "Max retries exceeded" not in text else text.split("(Caused by ", 1)[-1][:-1]


def status_reason(status: int) -> str:
    """`429 Too Many Requests`: the status with its standard phrase, as retry reasons are reported."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every error behind it: causes, contexts, urllib3's `reason` and wrapped arguments."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        behind = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending += [e for e in behind if isinstance(e, BaseException)]


def _found(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    return next((e for e in _chain(error) if isinstance(e, kind)), None)


def _ssl_text(error: BaseException) -> str:
    """OpenSSL's words without the `[SSL: CODE]` prefix and the `(_ssl.c:1006)` suffix."""
    text = str(getattr(error, "verify_message", None) or "")
    if isinstance(error, ssl.SSLCertVerificationError) and text:
        return f"certificate verify failed: {text}"
    text = str(error.args[1] if len(error.args) > 1 and isinstance(error.args[1], str) else error)
    text = re.sub(r"^\[[A-Z0-9_: ]+\] ", "", text)
    return re.sub(r" \(_ssl\.c:\d+\)$", "", text).strip()


@dataclass(frozen=True)
class Failure:
    """Why a request got no answer: a short kind (retry reasons, the kinds of unreachable) and the reason."""

    kind: str  # connection refused, DNS name not resolved, TLS verification failed, connect timeout, ...
    reason: str


def connection_failure(error: BaseException, host: str, timeout: urllib3.Timeout | None = None) -> Failure:
    """What really went wrong, read from the error's chain: urllib3's NewConnectionError (refused, unresolvable)
    subclasses ConnectTimeoutError, so the class alone cannot tell a refused connection from a timeout."""
    unverified = _found(error, ssl.SSLCertVerificationError)
    if unverified is not None:
        return Failure("TLS verification failed", f"TLS verification failed: {_ssl_text(unverified)}")
    tls = _found(error, ssl.SSLError)
    if tls is not None or isinstance(error, urllib3.exceptions.SSLError):
        return Failure("TLS error", f"TLS handshake failed: {_ssl_text(tls or error)}")
    unresolved = _found(error, socket.gaierror)
    if unresolved is not None or isinstance(error, urllib3.exceptions.NameResolutionError):
        why = getattr(unresolved, "strerror", None) or "no address"
        return Failure("DNS name not resolved", f"DNS name {host} not resolved: {why}")
    if _found(error, ConnectionRefusedError) is not None:
        return Failure("connection refused", "connection refused")
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        read = timeout.read_timeout if timeout is not None else None
        within = f" within the read timeout of {seconds_text(read)}" if isinstance(read, (int, float)) else ""
        return Failure("read timeout", f"no answer{within}")
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        failed = _found(error, OSError)
        why = getattr(failed, "strerror", None) or describe(error)
        return Failure("connection failed", f"connection failed: {why}")
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        connect = timeout.connect_timeout if timeout is not None else None
        within = f" within the connect timeout of {seconds_text(connect)}" if isinstance(connect, (int, float)) else ""
        return Failure("connect timeout", f"no connection{within}")
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return Failure("connection broken", f"connection broken: {describe(error)}")
    return Failure(type(error).__name__, describe(error))


def error_kind(error: Exception) -> str:
    """What went wrong with a connection, in a few words (a retry reason)."""
    return connection_failure(error, "").kind


def retry_after(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds a Retry-After header asks to wait: delta-seconds or an HTTP date; None when absent or invalid."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())


def summarize(reasons: Iterable[str]) -> str:
    """`2 retries after 429 Too Many Requests`; mixed reasons are counted: `3 retries (2 after ..., 1 after ...)`."""
    counts = Counter(reasons)
    total = sum(counts.values())
    noun = "retry" if total == 1 else "retries"
    if len(counts) == 1:
        return f"{total} {noun} after {next(iter(counts))}"
    return f"{total} {noun} (" + ", ".join(f"{n} after {reason}" for reason, n in counts.most_common()) + ")"


def short_reasons(reasons: Iterable[str]) -> str:
    """`429` or `2× 503, 1× read timeout`: status codes alone, for one-line summaries."""
    counts = Counter(r.split(" ", 1)[0] if r[:3].isdigit() else r for r in reasons)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{n}× {reason}" for reason, n in counts.most_common())


class RetryLog:
    """Why each retry was made, per source (a resource or a service); shared by the threads of a collection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reasons: dict[str, list[str]] = {}

    def record(self, source: str, reasons: Iterable[str]) -> None:
        made = list(reasons)
        if made:
            with self._lock:
                self._reasons.setdefault(source, []).extend(made)

    def snapshot(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            return {source: tuple(reasons) for source, reasons in sorted(self._reasons.items())}


@dataclass
class Transport:
    pool: urllib3.PoolManager
    timeout: urllib3.Timeout
    retries: int
    sleep: Callable[[float], None] = field(default=time.sleep)
    deadline: Deadline | None = None

    def get(self, url: str, headers: Mapping[str, str]) -> HttpReply:
        """GET with retries; the last reply is returned whatever its status.

        Unreachable when no attempt got an answer; OutOfBudget when the deadline ran out first (a
        Retry-After or backoff longer than what remains ends the call instead of sleeping past it).
        """
        return self.request("GET", url, headers)

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HttpReply:
        """POST with the same timeouts, retries and budget as a GET (the suite's only POST is a
        SelfSubjectReview, which creates nothing, so repeating it is safe)."""
        return self.request("POST", url, headers, body)

    def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None) -> HttpReply:
        retried: list[str] = []
        attempt = 0
        while True:
            wait = min(0.5 * 2**attempt, MAX_BACKOFF)
            why_wait = f"backoff {seconds_text(wait)}"
            timeout = self._bounded_timeout(attempt, retried)
            try:
                reply = self._once(method, url, headers, body, timeout, attempt + 1, tuple(retried))
            except OutOfBudget:
                raise
            except urllib3.exceptions.HTTPError as exc:
                failure = connection_failure(exc, urlsplit(url).hostname or url, timeout)
                reason = failure.kind
                if self.deadline is not None and self.deadline.remaining() <= SPENT:
                    raise self._out_of_budget(attempt, retried, f"no answer in time ({reason})") from None
                if attempt >= self.retries:
                    why = failure.reason + (f"; {attempt + 1} attempts" if attempt else "")
                    raise Unreachable(why, attempt + 1, tuple(retried), failure.kind) from None
            else:
                if reply.status not in RETRYABLE or attempt >= self.retries:
                    return reply
                reason = status_reason(reply.status)
                asked = retry_after(reply.headers.get("Retry-After"))
                if asked is not None:
                    wait = min(asked, MAX_RETRY_AFTER)
                    why_wait = f"Retry-After {seconds_text(asked)}"
            if self.deadline is not None:
                left = self.deadline.remaining()
                if wait >= left:
                    raise self._out_of_budget(
                        attempt, retried, f"{reason}, {why_wait} but {seconds_text(max(left, 0))} left"
                    )
            retried.append(reason)
            attempt += 1
            self.sleep(wait)

    def _bounded_timeout(self, attempt: int, retried: list[str]) -> urllib3.Timeout:
        """The configured timeouts, shortened to what remains of the budget."""
        if self.deadline is None:
            return self.timeout
        left = self.deadline.remaining()
        if left <= SPENT:
            raise self._out_of_budget(attempt, retried, "nothing left for the request")
        connect, read = self.timeout.connect_timeout, self.timeout.read_timeout
        return urllib3.Timeout(
            connect=min(connect, left) if isinstance(connect, (int, float)) else left,
            read=min(read, left) if isinstance(read, (int, float)) else left,
        )

    def _once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: urllib3.Timeout,
        attempts: int,
        retried: tuple[str, ...],
    ) -> HttpReply:
        """One request, its body read piece by piece so the deadline also bounds a peer that trickles bytes."""
        response = self.pool.request(
            method, url, body=body, headers=dict(headers), timeout=timeout, retries=False, preload_content=False
        )
        complete = False
        try:
            chunks: list[bytes] = []
            while True:
                self._tighten(response, timeout, attempts - 1, list(retried))
                # read1: at most one read of the socket, so the deadline is checked between reads of a trickle.
                data = response.read1(READ_CHUNK) if hasattr(response, "read1") else response.read(64 * 1024)
                if not data:
                    break
                chunks.append(data)
            complete = True
            return HttpReply(response.status, dict(response.headers), b"".join(chunks), attempts, retried)
        finally:
            if not complete:
                response.close()  # a half-read connection must not go back to the pool
            response.release_conn()

    def _tighten(
        self, response: urllib3.BaseHTTPResponse, timeout: urllib3.Timeout, attempt: int, retried: list[str]
    ) -> None:
        """Before each read of the body: end it if the budget is spent, else wait no longer than what remains."""
        if self.deadline is None:
            return
        left = self.deadline.remaining()
        if left <= SPENT:
            raise self._out_of_budget(attempt, retried, "the response was still arriving")
        connection = getattr(response, "connection", None)
        sock = getattr(connection, "sock", None)
        read = timeout.read_timeout
        if sock is not None:
            sock.settimeout(min(read, left) if isinstance(read, (int, float)) else left)

    def _out_of_budget(self, attempt: int, retried: list[str], when: str) -> OutOfBudget:
        assert self.deadline is not None
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        made = f", {summarize(retried)}" if retried else ""
        return OutOfBudget(f"{self.deadline.label} ran out: {when} ({tries}{made})", attempt + 1, tuple(retried))


def plain_transport(
    connect_timeout: float, read_timeout: float, retries: int, deadline: Deadline | None = None
) -> Transport:
    """For services reached by URL: system CA verification, no client certificate."""
    pool = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, cert_reqs="CERT_REQUIRED")
    return Transport(pool, urllib3.Timeout(connect=connect_timeout, read=read_timeout), retries, deadline=deadline)
