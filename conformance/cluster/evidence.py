"""Writing evidence: the state a run judged, in the snapshot format, so it can be re-evaluated offline.

Every byte written passes through conformance.secrets: Kubernetes lists, service bodies (already
sanitized by their service) and meta.json alike. Lists are kubectl `List` documents with one object a
line; a live run's are written from the pages it spooled as the API server sent them, one page at a
time, each stripped (conformance.cluster.redaction) as it is written: whole objects, never the
projections the checks kept.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from conformance import __version__, secrets
from conformance.cluster.resources import Resource, resource
from conformance.cluster.snapshot import parse_list
from conformance.cluster.state import ClusterState
from conformance.written import WrittenFiles

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
_LIST_HEAD = b'{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":""},"items":[\n'
_LIST_TAIL = b"\n]}\n"


def default_api_version(res: Resource) -> str:
    return f"{res.group}/{res.version}" if res.group else (res.version or "v1")


def evidence_chunk(items: Iterable[dict[str, Any]], api_version: str, kind: str) -> bytes:
    """Stripped items as lines of a List, each with its apiVersion and kind (typed lists leave them out)."""
    if not kind:
        return b",\n".join(orjson.dumps(item) for item in items)
    return b",\n".join(orjson.dumps({"apiVersion": api_version, "kind": kind, **item}) for item in items)


def _page_chunk(res: Resource, page: bytes, api_version: str) -> bytes:
    """A page as the API server sent it, as lines of the evidence List: whole objects, stripped."""
    return evidence_chunk(parse_list(res, page, f"the spooled {res.name} page").items, api_version, res.kind)


def _store(written: WrittenFiles, path: Path, body: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return written.write(path, [secrets.redact_bytes(body)], secrets.registry_size())


def _store_list(written: WrittenFiles, path: Path, chunks: Iterable[bytes]) -> Path:
    """A List written chunk by chunk, each redacted on its own: chunks hold whole objects, so no secret spans two."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def lines() -> Iterator[bytes]:
        yield _LIST_HEAD
        first = True
        for chunk in chunks:
            if not chunk:
                continue
            if not first:
                yield b",\n"
            yield secrets.redact_bytes(chunk)
            first = False
        yield _LIST_TAIL

    return written.write(path, lines(), secrets.registry_size())


def write_evidence(state: ClusterState, directory: Path, files: WrittenFiles | None = None) -> list[Path]:
    """Write meta.json and one kubectl-style List per collected resource; return the files written.

    `files` is the run's record of what it wrote (digests for the manifest and the final sweep)."""
    files = files if files is not None else WrittenFiles()
    (directory / "kubernetes").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    provenance = state.provenance
    meta: dict[str, Any] = {
        "collected_at": provenance.collected_at.isoformat().replace("+00:00", "Z"),
        "source": provenance.mode,
        "server": provenance.location if provenance.mode == "live" else None,
        "snapshot": provenance.location if provenance.mode == "snapshot" else None,
        "context": provenance.context,
        "server_version": provenance.server_version,
        "suite_version": __version__,
        "errors": {name: error.reason for name, error in sorted({**state.errors, **state.service_errors}.items())},
    }
    if not provenance.collected_at_known:
        # Re-evaluating this evidence must not pretend to know when the original state was taken.
        meta.pop("collected_at")
        meta["collected_at_unknown"] = True
    meta_body = orjson.dumps({k: v for k, v in meta.items() if v is not None}, option=_OPTIONS)
    written.append(_store(files, directory / "meta.json", meta_body))
    # Parsing whole pages makes millions of short-lived objects without cycles: the cyclic collector would
    # only walk them again and again (as while collecting, conformance.cluster.live).
    collecting = gc.isenabled()
    gc.disable()
    try:
        written += _write_lists(state, directory, files)
    finally:
        if collecting:
            gc.enable()
    for key, body in sorted(state.documents.items()):
        written.append(_store(files, directory / key, body))
    return written


def _write_lists(state: ClusterState, directory: Path, files: WrittenFiles) -> list[Path]:
    written: list[Path] = []
    for name, items in sorted(state.lists.items()):
        res = resource(name)
        api_version = state.api_versions.get(name) or default_api_version(res)
        spool = state.spools.get(name)
        if spool is not None:
            chunks: Iterable[bytes] = (_page_chunk(res, page, api_version) for page in spool)
        else:
            chunks = [evidence_chunk(items, api_version, res.kind)]
        written.append(_store_list(files, directory / res.snapshot_file, chunks))
    return written
