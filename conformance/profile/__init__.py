"""Profiles: the expectations a cluster is judged against, as typed, validated YAML."""

from conformance.profile.loader import available_profiles, load_profile, resolve_profile_path
from conformance.profile.model import Profile

__all__ = ["Profile", "available_profiles", "load_profile", "resolve_profile_path"]
