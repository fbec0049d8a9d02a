"""Kong gateway checks: the Admin API answers and its database (or DB-less configuration) is healthy."""
