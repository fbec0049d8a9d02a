"""The benchmark's API server, in a process of its own: a generated cluster served by the suite's test server.

Started by `python -m bench`; it prints one JSON line (url, kubeconfig, objects) once serving, then answers
commands on stdin, one a line: `requests` prints the requests received since the last one (as JSON) and
forgets them; `quit` stops. Its own process, so neither the baseline nor the suite shares its interpreter lock.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from bench.cluster import generate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from kubeapi import KubeApiServer

TOKEN = "bench-token-3c9d1f0a7e"
# List requests only (not discovery): /api/v1/pods, /apis/apps/v1/deployments.
LIST_PATHS = r"^/(api/v1|apis/[^/]+/[^/]+)/[a-z]+$"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each list page waits before it is sent")
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()

    resources = generate(args.pods)
    server = KubeApiServer(resources, token=TOKEN)
    if args.delay:
        server.delay(LIST_PATHS, args.delay)
    server.start()
    server.write_kubeconfig(args.kubeconfig, context="bench")
    counts = {stem: len(items) for stem, items in resources.items()}
    del resources
    print(orjson.dumps({"url": server.url, "kubeconfig": args.kubeconfig, "objects": counts}).decode(), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "requests":
                seen = [
                    {"method": r.method, "path": r.path, "query": r.query, "status": r.status} for r in server.requests
                ]
                server.reset_requests()
                print(orjson.dumps(seen).decode(), flush=True)
            elif command == "quit":
                break
    finally:
        server.stop()


if __name__ == "__main__":
    main()
