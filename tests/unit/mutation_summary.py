"""Per-module numbers of a mutmut 3 run (docs/mutation.md): run from the directory holding `mutants/`.

    python tests/unit/mutation_summary.py [--survivors]

Mutants of the live collection code (HTTP endpoints, the confluent-kafka client, Prometheus' sanitizing and
querying) are listed apart: the evaluator unit tests do not reach them by design, other suites do.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED, SURVIVED, TIMEOUT, NO_TESTS = "killed", "survived", "timeout", "no tests"
STATUS: dict[int | None, str] = {
    1: KILLED,
    3: KILLED,
    0: SURVIVED,
    5: NO_TESTS,
    33: NO_TESTS,
    36: TIMEOUT,
    -24: TIMEOUT,
    24: TIMEOUT,
}
STATUS |= {152: TIMEOUT, 255: TIMEOUT, None: "not checked"}

# Functions outside the evaluators: they fetch from live services or talk to brokers.
COLLECTION = {
    "conformance.kafka.topics": {
        "ClientSettings.scrub",
        "ClientSettings.__repr__",
        "_section",
        "client_settings",
        "_ErrorLog.__init__",
        "_ErrorLog.log",
        "_ErrorLog.__call__",
        "_ErrorLog.add",
        "_ErrorLog.explain",
        "_describe",
        "_client",
        "read_metadata",
        "_error_text",
        "run_canary",
        "collect",
    },
    "conformance.monitoring.prometheus": {
        "redact_text",
        "_secrets_in",
        "_scrub",
        "_sanitize_target",
        "_sanitize_targets",
        "sanitize",
        "_envelope_error",
        "_get",
        "query_path",
        "_result_is_empty",
        "run_query",
        "collect",
    },
    **{
        module: {"collect"}
        for module in (
            "conformance.istio.proxies",
            "conformance.portal.registry",
            "conformance.kong.gateway",
            "conformance.monitoring.grafana",
            "conformance.monitoring.jaeger",
        )
    },
}


def function_of(mutant: str) -> tuple[str, str]:
    """`conformance.kafka.topics.xǁTopicSetǁcounts__mutmut_3` -> (`conformance.kafka.topics`, `TopicSet.counts`)."""
    qualified = mutant.rsplit("__mutmut_", 1)[0]
    module, _, name = qualified.rpartition(".")
    name = name.removeprefix("x_") if not name.startswith("xǁ") else ".".join(name.removeprefix("xǁ").split("ǁ"))
    return module, name


def main(show_survivors: bool) -> None:
    rows: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    collection: Counter[str] = Counter()
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        for mutant, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            module, function = function_of(mutant)
            status = STATUS.get(code, "suspicious")
            if function in COLLECTION.get(module, ()):
                collection[status] += 1
                continue
            rows.setdefault(module, Counter())[status] += 1
            if status not in (KILLED, TIMEOUT):
                survivors.append(f"{status}: {mutant}")
    total: Counter[str] = Counter()
    print(f"| {'module':<40} | mutants | killed | survived | timeout | no tests | kill ratio |")
    print(f"|{'-' * 42}|---------|--------|----------|---------|----------|------------|")
    for module, counts in sorted(rows.items()):
        total += counts
        print(line(module, counts))
    print(line("**evaluators**", total))
    print(f"\nlive collection code, not measured: {sum(collection.values())} mutants ({dict(collection)})")
    if show_survivors:
        print("\n".join(["", *survivors]))


def line(name: str, counts: Counter[str]) -> str:
    mutants = sum(counts.values())
    caught = counts[KILLED] + counts[TIMEOUT]
    ratio = f"{100 * caught / mutants:.1f}%" if mutants else "-"
    return (
        f"| {name:<40} | {mutants:>7} | {counts[KILLED]:>6} | {counts[SURVIVED]:>8} | {counts[TIMEOUT]:>7} "
        f"| {counts[NO_TESTS]:>8} | {ratio:>10} |"
    )


if __name__ == "__main__":
    main("--survivors" in sys.argv[1:])
