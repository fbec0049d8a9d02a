"""The suite's error hierarchy: what went wrong, said once, in terms an operator can act on."""

from __future__ import annotations

from typing import Any

import orjson
import pytest


class ConformanceError(Exception):
    """Base of every error the suite raises on purpose."""


class ProfileError(ConformanceError):
    """A profile that cannot be used; carries every problem found, not just the first."""

    KIND = "profile"

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{self.KIND} {source}: {len(problems)} {noun}\n{listing}")


class CouldNotEvaluate(ConformanceError):
    """A check could not see what it judges; reported as an error outcome, never as a pass."""


class NothingToInspect(CouldNotEvaluate):
    """A check found nothing to judge where it needs something (its selector matched nothing): no pass."""


class SourceError(CouldNotEvaluate):
    """A source of cluster state (API server, snapshot file) did not deliver a resource.

    `status` keeps the Kubernetes `Status` payload when the API server sent one, so the
    reason (Forbidden, TooManyRequests, ...) survives into the report.
    """

    def __init__(self, resource: str, reason: str, status: dict[str, Any] | None = None) -> None:
        self.resource = resource
        self.reason = reason
        self.status = status
        super().__init__(f"{resource}: {reason}")


def status_message(body: bytes) -> tuple[str, dict[str, Any] | None]:
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip(), None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return str(status.get("message") or status.get("reason") or ""), status
    return "", None


class ApiError(SourceError):
    """The API server answered with an error status; its Status body (reason, message) is kept."""

    def __init__(self, resource: str, code: int, body: bytes, retried: tuple[str, ...] = ()) -> None:
        message, status = status_message(body)
        words = {
            401: "unauthorized: the API server rejected the credentials",
            403: "forbidden",
            404: "not found: the API server does not serve it",
            410: "expired",
            429: "too many requests (API priority and fairness)",
        }.get(code, f"HTTP {code}")
        after = f" (after {len(retried)} {'retry' if len(retried) == 1 else 'retries'})" if retried else ""
        super().__init__(resource, (f"{words}: {message}" if message else words) + after, status)
        self.code = code


class MalformedObject(CouldNotEvaluate):
    """An object lacks a field the check needs; names the object so the data can be inspected."""


class BadInput(pytest.UsageError):  # type: ignore[misc]  # final for typing only; subclassed to tell ours apart
    """A bad profile, option, snapshot or kubeconfig: reported as one message, exit code 3, no traceback.

    A subclass of pytest's UsageError so pytest handles it cleanly wherever it is raised; the plugin turns
    it into exit code 3, while pytest's own usage errors (unknown options) keep their code 4.
    """
