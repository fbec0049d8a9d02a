"""Root conftest of a checkout: the conformance plugin itself is installed (`pip install -e .`, entry point
`pytest11`), with its fixtures; fixtures of a site's own additional checks go in fixtures/, loaded here."""

pytest_plugins = ["fixtures"]
