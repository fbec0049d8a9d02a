"""Root conftest: loads the conformance plugin and its fixtures for every run from this checkout."""

pytest_plugins = ["conformance.plugin", "fixtures.profile", "fixtures.cluster", "fixtures.checks", "pytester"]
