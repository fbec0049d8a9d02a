"""One HTTP layer for every call the suite makes: timeouts, and bounded retries honouring Retry-After.

Used for the API server (lists, discovery, the service proxy) and for services reached directly.
Retries cover connection errors and the answers that mean "try again" (429 from API priority and
fairness, 5xx from a restarting backend); anything else is returned for the caller to judge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import urllib3

RETRYABLE = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0
MAX_BACKOFF = 8.0


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1


class Unreachable(Exception):
    """No answer at all after every retry: refused, reset, timed out, unresolvable."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.attempts = attempts


def describe(error: Exception) -> str:
    """A short reason from a urllib3 error, without the request line noise."""
    text = str(error)
    if not text:
        return type(error).__name__
    return text.split(": ", 1)[-1] if "Max retries exceeded" not in text else text.split("(Caused by ", 1)[-1][:-1]


@dataclass
class Transport:
    pool: urllib3.PoolManager
    timeout: urllib3.Timeout
    retries: int
    sleep: Callable[[float], None] = field(default=time.sleep)

    def get(self, url: str, headers: Mapping[str, str]) -> HttpReply:
        """GET with retries; the last reply is returned whatever its status."""
        attempt = 0
        while True:
            wait = min(0.5 * 2**attempt, MAX_BACKOFF)
            try:
                response = self.pool.request("GET", url, headers=dict(headers), timeout=self.timeout, retries=False)
            except urllib3.exceptions.HTTPError as exc:
                if attempt >= self.retries:
                    raise Unreachable(describe(exc), attempt + 1) from None
            else:
                reply = HttpReply(response.status, dict(response.headers), bytes(response.data), attempt + 1)
                if response.status not in RETRYABLE or attempt >= self.retries:
                    return reply
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    wait = min(float(retry_after), MAX_RETRY_AFTER)
            attempt += 1
            self.sleep(wait)


def plain_transport(connect_timeout: float, read_timeout: float, retries: int) -> Transport:
    """For services reached by URL: system CA verification, no client certificate."""
    pool = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, cert_reqs="CERT_REQUIRED")
    return Transport(pool, urllib3.Timeout(connect=connect_timeout, read=read_timeout), retries)
