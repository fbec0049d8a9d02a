"""Root conftest: loads the conformance plugin and its fixtures for every run from this checkout."""

pytest_plugins = [
    "conformance.plugin",
    "conformance.drift",
    "conformance.secrets",
    "conformance.report.summary",
    "conformance.report.allure_labels",
    "conformance.integrity",
    "conformance.settle",
    "conformance.budget",
    "fixtures.profile",
    "fixtures.cluster",
    "fixtures.checks",
    "pytester",
]
