"""Collection alone, as a live run does it: `python -m bench.collect KUBECONFIG PROFILE RESOURCE...`.

Prints one JSON line: seconds spent in collect_live, objects per resource, peak RSS (KiB). Run by
`python -m bench` in a process of its own, so its memory is measured apart from everything else.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import orjson

from conformance.cluster.live import collect_live, load_target
from conformance.cluster.resources import resource as named_resource
from conformance.profile.loader import load_profile


def main() -> None:
    kubeconfig, profile_path, *names = sys.argv[1:]
    loaded = load_profile(profile_path, Path("profiles"))
    target = load_target(kubeconfig, None)
    began = time.perf_counter()
    state = collect_live(target, loaded.profile, [named_resource(name) for name in names])
    seconds = time.perf_counter() - began
    report = {
        "seconds": seconds,
        "objects": {name: stats.objects for name, stats in state.stats.items()},
        "errors": {name: str(error) for name, error in state.errors.items()},
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(orjson.dumps(report).decode(), flush=True)


if __name__ == "__main__":
    main()
