"""Portal checks: the services the portal registers, and whether each points at something that exists."""
