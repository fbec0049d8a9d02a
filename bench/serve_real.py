"""The benchmark's API server when it is a real one: kube-apiserver and etcd from KUBEBUILDER_ASSETS (envtest's
layout), seeded with the generated cluster through the API.

Speaks bench.serve's protocol: one JSON line once serving (url, kubeconfig, objects, token, ca_file,
seed_seconds), then commands on stdin: `requests` prints the requests completed since the last one (from the
server's audit log) and forgets them; `quit` stops the server and etcd and removes their data.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from bench.cluster import api_objects, generate, metrics_stand_in

TESTS = Path(__file__).resolve().parent.parent / "tests"


def _realserver() -> Any:
    """tests/realserver.py, imported on demand: the emulator benchmark needs none of it."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import realserver

    return realserver


def assets_found() -> bool:
    """Whether KUBEBUILDER_ASSETS names a directory with both binaries (tests/realserver.py's rule)."""
    return _realserver().assets_dir() is not None


def how() -> str:
    """What --server real needs and how to get it, in the words the real-server tests skip with."""
    return f"--server real {_realserver().SKIP_REASON}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, required=True)
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()
    if not assets_found():
        print(orjson.dumps({"error": how()}).decode(), flush=True)
        raise SystemExit(2)
    from realserver import RealServerError, start_real_server  # on sys.path: assets_found put it there

    resources = generate(args.pods)
    objects = api_objects(resources) + metrics_stand_in(resources)
    counts = {stem: len(items) for stem, items in resources.items() if items}
    del resources
    workdir = Path(tempfile.mkdtemp(prefix="bench-real-"))
    try:
        with start_real_server(workdir / "server") as server:
            began = time.perf_counter()
            server.apply(objects)
            seeded = time.perf_counter() - began
            del objects
            shutil.copyfile(server.kubeconfig, args.kubeconfig)
            seen = len(server.audit_events())
            ready = {
                "url": server.url,
                "kubeconfig": args.kubeconfig,
                "objects": counts,
                "token": server.token,
                "ca_file": str(server.ca_file),
                "seed_seconds": seeded,
            }
            print(orjson.dumps(ready).decode(), flush=True)
            for line in sys.stdin:
                command = line.strip()
                if command == "requests":
                    events = server.audit_events()
                    # The server's own loopback requests are not the client's.
                    mine = [e for e in events[seen:] if e.get("user", {}).get("username") != "system:apiserver"]
                    print(orjson.dumps([_request(e) for e in mine]).decode(), flush=True)
                    seen = len(events)
                elif command == "quit":
                    break
    except RealServerError as exc:
        print(orjson.dumps({"error": f"the real API server did not start: {exc}"}).decode(), flush=True)
        raise SystemExit(2) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _request(event: dict[str, object]) -> dict[str, object]:
    """An audit event as bench.serve reports a request: method, path, query, status."""
    uri = urlsplit(str(event.get("requestURI", "")))
    status = event.get("responseStatus")
    verb = str(event.get("verb", ""))
    method = {"get": "GET", "list": "GET", "watch": "GET", "create": "POST", "update": "PUT"}.get(verb, verb.upper())
    return {
        "method": method,
        "path": uri.path,
        "query": dict(parse_qsl(uri.query)),
        "status": status.get("code") if isinstance(status, dict) else None,
    }


if __name__ == "__main__":
    main()
