"""Kong's Admin API: `GET /` (version) and `GET /status` (database reachable, or a DB-less configuration).

Only these two endpoints are called: the Admin API also serves credential entities. Of `GET /`
only the version fields are kept; its `configuration` can hold credentials and is never stored.
"""

from __future__ import annotations

from typing import Any

import orjson

from conformance.check import Culprit, Finding
from conformance.cluster.state import ClusterState
from conformance.errors import MalformedObject
from conformance.profile.model import Profile
from conformance.profile.services import Kong
from conformance.services.source import LiveContext, ServiceSource, load_json

ROOT_KEEP = ("version", "edition", "tagline", "lua_version")
STATUS_KEEP = ("database", "configuration_hash", "server")
EMPTY_HASH = "0" * 32


def _keep(body: bytes, file: str, keys: tuple[str, ...]) -> bytes:
    document = load_json("kong", file, body)
    if not isinstance(document, dict):
        raise MalformedObject(f"kong/{file}: expected a JSON object")
    return orjson.dumps({k: document[k] for k in keys if k in document}, option=orjson.OPT_INDENT_2)


def sanitize(file: str, body: bytes) -> bytes:
    if file == "root.json":
        return _keep(body, file, ROOT_KEEP)
    if file == "status.json":
        return _keep(body, file, STATUS_KEEP)
    return body


def collect(ctx: LiveContext) -> dict[str, bytes]:
    settings = ctx.profile.services.kong if ctx.profile.services else None
    assert settings is not None
    headers: dict[str, str] = {}
    if settings.credentials is not None:
        # Kong's RBAC token header; it passes through the API server's service proxy untouched.
        headers["Kong-Admin-Token"] = ctx.credential("kong", settings.credentials)
    endpoint = ctx.endpoint("kong", settings.access)
    return {"root.json": endpoint.body("/", headers), "status.json": endpoint.body("/status", headers)}


SOURCE = ServiceSource("kong", ("root.json", "status.json"), collect, sanitize)


def _object(state: ClusterState, file: str) -> dict[str, Any]:
    document = load_json("kong", file, state.document("kong", file))
    if not isinstance(document, dict):
        raise MalformedObject(f"kong/{file}: expected a JSON object")
    return document


def admin_api(state: ClusterState, settings: Kong, _profile: Profile) -> Finding:
    root = _object(state, "root.json")
    version = root.get("version")
    culprits = [] if isinstance(version, str) and version else [Culprit("kong admin", "GET / reports no version")]
    edition = root.get("edition", "")
    return Finding(
        expected=f"the Kong Admin API answers GET / via {settings.access.describe()}",
        observed=f"Kong {version or '(no version)'}{f' ({edition})' if edition else ''}",
        inspected=1,
        culprits=culprits,
        evidence=("kong/root.json",),
    )


STORAGE = {"database": "a database", "dbless": "DB-less"}
EXPECTED = {
    None: "Kong's database reachable (or, DB-less, a configuration loaded)",
    "database": "Kong's database reachable (storage pinned: database)",
    "dbless": "Kong DB-less with a configuration loaded (storage pinned: dbless)",
}


def database(state: ClusterState, settings: Kong, _profile: Profile) -> Finding:
    status = _object(state, "status.json")
    culprits = []
    if "database" in status:
        db = status["database"]
        if not isinstance(db, dict) or not isinstance(db.get("reachable"), bool):
            raise MalformedObject("kong/status.json: database.reachable is not a boolean")
        mode = "database"
        observed = f"database reachable: {str(db['reachable']).lower()}"
        if not db["reachable"]:
            culprits.append(Culprit("kong database", "GET /status: database.reachable is false"))
    else:
        # DB-less or data-plane mode (3.4+): no database key; a loaded configuration has a non-zero hash.
        config_hash = status.get("configuration_hash")
        if not isinstance(config_hash, str):
            raise MalformedObject("kong/status.json: neither database nor configuration_hash is reported")
        mode = "dbless"
        observed = f"DB-less, configuration_hash {config_hash}"
        if config_hash == EMPTY_HASH:
            culprits.append(Culprit("kong configuration", "configuration_hash is all zeros: no configuration loaded"))
    pinned = settings.storage
    if pinned is not None and pinned != mode:
        # A gateway that fell back to (or was redeployed as) the other mode is not the one promised.
        culprits.insert(0, Culprit("kong storage", f"runs with {STORAGE[mode]}, but the profile pins {pinned}"))
    return Finding(
        expected=EXPECTED[pinned],
        observed=observed,
        inspected=1,
        culprits=culprits,
        evidence=("kong/status.json",),
    )
