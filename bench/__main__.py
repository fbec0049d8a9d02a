"""`python -m bench`: the suite's cost on a generated cluster, as ratios to fetching the same lists raw.

For each size: a generated cluster served over HTTP by the suite's Kubernetes API test server (in its own
process, with real paging), then, several times each, medians reported:
  (a) baseline: every list the profile reads, fetched as raw bytes with the same page size, no parsing
      (what `kubectl get --raw` transfers), one list after another, in this process;
  (b) the full run: `pytest --profile=bench/profile.yaml` (collection, every check, every report);
  (c) collection alone: collect_live for the same resources, in a process of its own;
  (s) pytest's own start-up: the same command with --collect-only (plugins, profile, kubeconfig, items).
Ratios b/a, (b-s)/a and c/a, peak RSS of (b) and (c), and the API requests of the full run.

With --server real the cluster is a real kube-apiserver and etcd from KUBEBUILDER_ASSETS, seeded through the API
(timed apart, in no ratio), and a second peer is measured:
  (k) `kubectl get --raw` for the same lists, one process per list; ratio c/k.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import orjson
import urllib3

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "bench" / "profile.yaml"


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    kubeconfig: Path
    objects: dict[str, int]
    token: str
    kind: str = "emulator"
    ca_file: str | None = None
    seed_seconds: float = 0.0

    def requests(self) -> list[dict[str, Any]]:
        """The requests the server received since the last call."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("requests\n")
        self.process.stdin.flush()
        answer: list[dict[str, Any]] = orjson.loads(self.process.stdout.readline())
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)


def start_server(pods: int, delay: float, workdir: Path, kind: str = "emulator") -> Server:
    from bench.serve import TOKEN

    kubeconfig = workdir / "kubeconfig"
    if kind == "real":  # a real kube-apiserver and etcd, seeded through the API (bench.serve_real)
        command = [sys.executable, "-m", "bench.serve_real", "--pods", str(pods), "--kubeconfig", str(kubeconfig)]
    else:
        command = [
            sys.executable,
            "-m",
            "bench.serve",
            "--pods",
            str(pods),
            "--delay",
            str(delay),
            "--kubeconfig",
            str(kubeconfig),
        ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"the benchmark server did not start (exit {process.wait()})")
    ready = orjson.loads(line)
    if "error" in ready:
        process.wait(timeout=30)
        sys.stderr.write(f"error: {ready['error']}\n")
        raise SystemExit(2)
    return Server(
        process,
        ready["url"],
        kubeconfig,
        ready["objects"],
        ready.get("token", TOKEN),
        kind,
        ready.get("ca_file"),
        ready.get("seed_seconds", 0.0),
    )


def _child_environment() -> dict[str, str]:
    """The environment of measured runs: as a user's, where Python caches bytecode (pytest's rewritten test
    modules included). A PYTHONDONTWRITEBYTECODE set for this shell would make every run compile again."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, int]:
    """Wall seconds, peak RSS (KiB), stdout and exit code of one child process, measured alone (wait4)."""
    env = env if env is not None else _child_environment()
    with tempfile.TemporaryFile("w+") as out:
        began = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return seconds, usage.ru_maxrss, out.read(), process.returncode


def list_path(name: str, group_versions: dict[str, str]) -> str:
    plural, _, group = name.partition(".")
    return f"/api/v1/{plural}" if not group else f"/apis/{group}/{group_versions[group]}/{plural}"


def baseline(server: Server, paths: list[str], page_size: int) -> tuple[float, int, int]:
    """Fetch every list raw, page by page, as the suite asks for them; (seconds, bytes, requests)."""
    pool = urllib3.PoolManager(maxsize=2, ca_certs=server.ca_file) if server.ca_file else urllib3.PoolManager(maxsize=2)
    headers = {"Authorization": f"Bearer {server.token}", "Accept": "application/json"}
    total = requests = 0
    began = time.perf_counter()
    for path in paths:
        query: dict[str, str] = {
            "limit": str(page_size),
            "resourceVersion": "0",
            "resourceVersionMatch": "NotOlderThan",
        }
        while True:
            body = pool.request("GET", f"{server.url}{path}?{urlencode(query)}", headers=headers).data
            requests += 1
            total += len(body)
            # Only the continue token is looked for, without parsing the page: it is in the list's metadata.
            token = _continue_token(body)
            if not token:
                break
            query = {"limit": str(page_size), "continue": token}
    return time.perf_counter() - began, total, requests


def kubectl_peer(server: Server, paths: list[str], page_size: int) -> float | None:
    """kubectl's time for the same first-page requests (`kubectl get --raw`, one process per list, as a user would
    run it); None without kubectl. A real server answers each watch-cache list whole, so one request is the list."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    query = urlencode({"limit": str(page_size), "resourceVersion": "0", "resourceVersionMatch": "NotOlderThan"})
    began = time.perf_counter()
    for path in paths:
        subprocess.run(
            [kubectl, f"--kubeconfig={server.kubeconfig}", "get", "--raw", f"{path}?{query}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,  # the same requests as the baseline's, a kind the server does not serve (404) included
        )
    return time.perf_counter() - began


def _continue_token(body: bytes) -> str | None:
    head = body[: body.find(b'"items"')] if b'"items"' in body else body
    marker = b'"continue":"'
    at = head.find(marker)
    if at < 0:
        return None
    start = at + len(marker)
    return head[start : head.index(b'"', start)].decode()


@dataclass
class Sample:
    baseline: list[float] = field(default_factory=list)
    baseline_bytes: int = 0
    baseline_requests: int = 0
    full: list[float] = field(default_factory=list)
    full_rss: list[int] = field(default_factory=list)
    collect: list[float] = field(default_factory=list)
    collect_wall: list[float] = field(default_factory=list)
    collect_rss: list[int] = field(default_factory=list)
    startup: list[float] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    pages: dict[str, int] = field(default_factory=dict)
    queries: list[dict[str, str]] = field(default_factory=list)
    outcome: str = ""
    progress: list[str] = field(default_factory=list)
    server: str = "emulator"
    seed_seconds: float = 0.0
    kubectl: list[float] = field(default_factory=list)


def pytest_command(server: Server, profile: Path, reports: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        f"--rootdir={ROOT}",
        "-c",
        str(ROOT / "pyproject.toml"),
        str(ROOT / "conformance"),
        f"--profile={profile}",
        f"--kubeconfig={server.kubeconfig}",
        f"--reports={reports}",
        "-q",
        "-p",
        "no:cacheprovider",
        *extra,
    ]


def classify(requests: list[dict[str, Any]], sample: Sample) -> list[str]:
    """Count the full run's requests by kind; the list paths in the order first seen."""
    paths: list[str] = []
    for request in requests:
        path = request["path"]
        parts = [p for p in path.split("/") if p]
        is_list = (parts[:2] == ["api", "v1"] and len(parts) == 3) or (parts[:1] == ["apis"] and len(parts) == 4)
        if request["method"] != "GET":
            sample.requests["writes (SelfSubjectReview)"] += 1
        elif "/namespaces/" in path and ("pods" in parts or "deployments" in parts):
            sample.requests["per-namespace lists"] += 1
        elif is_list:
            sample.requests["list pages"] += 1
            if path not in paths:
                paths.append(path)
                sample.queries.append(request["query"])
            name = parts[2] if parts[0] == "api" else f"{parts[3]}.{parts[1]}"
            sample.pages[name] = sample.pages.get(name, 0) + 1
        elif path == "/version" or parts[:1] in (["api"], ["apis"]):
            sample.requests["discovery and version"] += 1
        else:
            sample.requests["other"] += 1
    sample.requests["total"] = len(requests)
    return paths


def measure(
    pods: int, runs: int, page_size: int, delay: float, evidence: str, out: IO[str], kind: str = "emulator"
) -> Sample:
    sample = Sample(server=kind)
    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as temp:
        workdir = Path(temp)
        began = time.perf_counter()
        server = start_server(pods, delay, workdir, kind)
        sample.seed_seconds = server.seed_seconds
        seeded = f" (seeded through the API in {server.seed_seconds:.1f}s)" if kind == "real" else ""
        out.write(
            f"  cluster generated and served by the {kind} server in {time.perf_counter() - began:.1f}s{seeded}: "
            f"{server.objects}\n"
        )
        profile = workdir / "bench.yaml"
        profile.write_text(
            f"extends: {PROFILE}\napiVersion: conformance/v1alpha1\nkind: Profile\n"
            f"metadata: {{name: bench}}\ncollection: {{page_size: {page_size}, budget: 10m, evidence: {evidence}}}\n"
        )
        try:
            paths: list[str] = []
            resources: list[str] = []
            # Not measured: the first run of a checkout compiles and caches bytecode, which users pay once.
            run_measured(pytest_command(server, profile, workdir / "reports", "--collect-only"))
            for run in range(runs):
                server.requests()
                seconds, rss, output, code = run_measured(
                    pytest_command(server, profile, workdir / "reports", "--collect-only")
                )
                sample.startup.append(seconds)
                server.requests()
                seconds, rss, output, code = run_measured(pytest_command(server, profile, workdir / "reports"))
                sample.full.append(seconds)
                sample.full_rss.append(rss)
                lines = output.strip().splitlines()
                sample.outcome = next((line for line in reversed(lines) if line.startswith("conformance ")), "")
                # The run directory goes with the benchmark's temporary directory: name no report that is gone.
                sample.outcome = sample.outcome.split(" — report ", 1)[0]
                sample.outcome = (
                    f"exit {code}; {sample.outcome}" if sample.outcome else f"exit {code}: {output[-2000:]}"
                )
                sample.progress = [line for line in lines if line.startswith("collect")]
                if run == 0:
                    sample.requests.clear()
                    sample.pages.clear()
                    paths = classify(server.requests(), sample)
                    resources = [
                        p.split("/")[3] if p.startswith("/api/") else f"{p.split('/')[4]}.{p.split('/')[2]}"
                        for p in paths
                    ]
                else:
                    server.requests()
                seconds, sample.baseline_bytes, sample.baseline_requests = baseline(server, paths, page_size)
                sample.baseline.append(seconds)
                if kind == "real":
                    peer = kubectl_peer(server, paths, page_size)
                    if peer is None:
                        if run == 0:
                            out.write("  kubectl peer skipped: kubectl not on PATH\n")
                    else:
                        sample.kubectl.append(peer)
                server.requests()
                seconds, rss, output, code = run_measured(
                    [sys.executable, "-m", "bench.collect", str(server.kubeconfig), str(profile), *resources]
                )
                if code != 0:
                    raise SystemExit(f"collection failed:\n{output}")
                collected = orjson.loads(output.strip().splitlines()[-1])
                sample.collect.append(collected["seconds"])
                sample.collect_wall.append(seconds)
                sample.collect_rss.append(rss)
                server.requests()
                out.write(
                    f"  run {run + 1}/{runs}: baseline {sample.baseline[-1]:.2f}s, full {sample.full[-1]:.2f}s "
                    f"(start-up {sample.startup[-1]:.2f}s), collection {sample.collect[-1]:.2f}s\n"
                )
                out.flush()
        finally:
            server.stop()
    return sample


def report(pods: int, sample: Sample, out: IO[str]) -> dict[str, Any]:
    med = statistics.median
    a, b, c, s = med(sample.baseline), med(sample.full), med(sample.collect), med(sample.startup)
    result = {
        "pods": pods,
        "runs": len(sample.full),
        "baseline_seconds": round(a, 3),
        "baseline_mb": round(sample.baseline_bytes / 1e6, 1),
        "baseline_requests": sample.baseline_requests,
        "full_seconds": round(b, 3),
        "startup_seconds": round(s, 3),
        "collection_seconds": round(c, 3),
        "collection_process_seconds": round(med(sample.collect_wall), 3),
        "full_over_baseline": round(b / a, 2),
        "full_minus_startup_over_baseline": round((b - s) / a, 2),
        "collection_over_baseline": round(c / a, 2),
        "full_peak_rss_mb": round(max(sample.full_rss) / 1024, 1),
        "collection_peak_rss_mb": round(max(sample.collect_rss) / 1024, 1),
        "requests": dict(sample.requests),
        "pages": sample.pages,
        "first_page_queries": sample.queries,
        "outcome": sample.outcome,
        "server": sample.server,
        "seed_seconds": round(sample.seed_seconds, 3),
    }
    if sample.kubectl:
        k = med(sample.kubectl)
        result.update(kubectl_seconds=round(k, 3), collection_over_kubectl=round(c / k, 2))
    out.write(
        f"\n{pods} pods ({result['baseline_mb']} MB in {sample.baseline_requests} pages), "
        f"medians of {len(sample.full)} runs\n"
        f"  (a) baseline, raw lists:        {a:7.2f}s\n"
        f"  (b) full pytest run:            {b:7.2f}s   b/a = {b / a:.2f}   (b-s)/a = {(b - s) / a:.2f}\n"
        f"  (s) pytest start-up:            {s:7.2f}s\n"
        f"  (c) collection alone:           {c:7.2f}s   c/a = {c / a:.2f}   (process {med(sample.collect_wall):.2f}s)\n"
        f"  peak RSS: full run {result['full_peak_rss_mb']} MB, collection {result['collection_peak_rss_mb']} MB\n"
        f"  API requests of the full run: {dict(sample.requests)}\n"
        f"  list pages per resource: {sample.pages}\n"
        f"  {sample.outcome}\n"
    )
    if sample.kubectl:
        k = med(sample.kubectl)
        out.write(f"  (k) kubectl get --raw, same lists: {k:7.2f}s   c/k = {c / k:.2f}\n")
    if sample.progress:
        out.write(
            "  progress lines: "
            + " | ".join(sample.progress[:4])
            + (" | ..." if len(sample.progress) > 4 else "")
            + "\n"
        )
    out.flush()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", default="10000", help="cluster sizes, comma-separated (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are reported (default 3)")
    parser.add_argument("--page-size", type=int, default=500, help="list page size, for the suite and the baseline")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds the server waits before each list page")
    parser.add_argument(
        "--evidence",
        choices=("judged", "whole"),
        default="judged",
        help="the profile's collection.evidence: the fields the checks judge (the default) or whole objects",
    )
    parser.add_argument(
        "--server",
        choices=("emulator", "real"),
        default="emulator",
        help="serve the generated cluster with the test emulator, or a real kube-apiserver and etcd from "
        "KUBEBUILDER_ASSETS seeded through the API (with kubectl as a second peer)",
    )
    parser.add_argument("--quick", action="store_true", help="one run of 1,000 pods (for CI)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.server == "real":
        from bench.serve_real import assets_found, how

        # Said before any cluster is generated, and as a usage error: nothing was measured.
        if not assets_found():
            sys.stderr.write(f"error: {how()}\n")
            return 2
    sizes = [1000] if args.quick else [int(n) for n in args.pods.split(",")]
    runs = 1 if args.quick else args.runs
    out = sys.stdout
    out.write(
        f"benchmark: sizes {sizes}, {runs} runs each, page size {args.page_size}, delay {args.delay}s per page, "
        f"{args.evidence} evidence, {args.server} server\n"
    )
    results = []
    for pods in sizes:
        out.write(f"\n{pods} pods:\n")
        sample = measure(pods, runs, args.page_size, args.delay, args.evidence, out, args.server)
        results.append({**report(pods, sample, out), "delay": args.delay, "evidence": args.evidence})
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
