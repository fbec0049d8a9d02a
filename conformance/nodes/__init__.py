"""Node checks: how many, whether Ready and free of pressure, capacity, utilization."""
