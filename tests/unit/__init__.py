"""Unit tests of the check evaluators: small inline cluster states, no plugin, no snapshot files."""
