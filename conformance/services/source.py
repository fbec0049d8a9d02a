"""Service sources: what a service check reads, as raw bodies stored under `<service>/<file>`.

A snapshot holds the bodies anyone can capture with curl or the vendor's CLI; a live run fetches
them through the profile's access settings and writes the same files as evidence.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from conformance.errors import MalformedObject, SourceError
from conformance.profile.model import Profile
from conformance.profile.services import Access, Credential
from conformance.transport import HttpReply

if TYPE_CHECKING:
    from conformance.services.client import ApiClient


def _unchanged(_file: str, body: bytes) -> bytes:
    return body


@dataclass(frozen=True)
class ServiceSource:
    """A service whose bodies checks read.

    files: the names a snapshot may hold (alternatives included, e.g. Istio's syncz.json or
        proxy-status.txt); at least one must be present.
    collect: fetches the bodies live; raises SourceError when the service cannot be read.
    sanitize: applied to every body, live or from a snapshot, before anything stores it
        (strips credentials and what checks do not need).
    """

    name: str
    files: tuple[str, ...]
    collect: Callable[[LiveContext], dict[str, bytes]]
    sanitize: Callable[[str, bytes], bytes] = field(default=_unchanged)

    def __str__(self) -> str:
        return self.name


class Endpoint:
    """A service's HTTP API, however it is reached."""

    def __init__(self, service: str, access: Access, fetch: Callable[[str, Mapping[str, str]], HttpReply]) -> None:
        self.service = service
        self.access = access
        self._fetch = fetch

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> HttpReply:
        return self._fetch(path, headers or {})

    def body(self, path: str, headers: Mapping[str, str] | None = None, accept: tuple[int, ...] = (200,)) -> bytes:
        """The body of a successful reply; SourceError naming the service, path and status otherwise."""
        reply = self.get(path, headers)
        if reply.status not in accept:
            excerpt = reply.body[:160].decode("utf-8", "replace").strip().replace("\n", " ")
            raise SourceError(
                self.service, f"GET {path} via {self.access.describe()} answered HTTP {reply.status}: {excerpt}"
            )
        return reply.body


@dataclass
class LiveContext:
    profile: Profile
    kube: ApiClient | None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def endpoint(self, service: str, access: Access) -> Endpoint:
        from conformance.services.access import fetcher

        return Endpoint(service, access, fetcher(service, access, self.kube))

    def credential(self, service: str, ref: Credential) -> str:
        """The secret value, from the environment or a file; its value is never part of any message.

        It is registered with conformance.secrets, so whatever a service echoes of it is redacted."""
        from conformance import secrets  # deferred: a pytest plugin module, imported first by pytest itself

        if ref.env is not None:
            value = self.environ.get(ref.env)
            if not value:
                raise SourceError(service, f"credential: environment variable {ref.env} is not set")
            secrets.register(value)
            return value.strip()
        assert ref.file is not None
        try:
            value = Path(ref.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise SourceError(service, f"credential: cannot read {ref.file} ({exc.strerror})") from None
        secrets.register(value)
        return value.strip()

    def authorization(self, service: str, ref: Credential | None) -> dict[str, str]:
        if ref is None:
            return {}
        value = self.credential(service, ref)
        if ref.scheme == "basic":
            import base64

            return {"Authorization": "Basic " + base64.b64encode(value.encode()).decode()}
        return {"Authorization": f"Bearer {value}"}


def load_json(service: str, file: str, body: bytes) -> Any:
    """Parse a stored body; a body that is not JSON is malformed data, never an empty answer."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedObject(f"{service}/{file} is not valid JSON ({exc})") from None


def redact_url(text: str) -> str:
    """Drop user:password@ from a URL; credentials in scrape or registry URLs must not be stored."""
    return _USERINFO.sub(r"\1***@", text)


_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
