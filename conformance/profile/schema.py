"""The JSON Schema editors use to validate profiles, generated from the model (`profiles/schema.json`)."""

from __future__ import annotations

import json
from typing import Any

from conformance.profile.model import Profile


def profile_schema() -> dict[str, Any]:
    schema = Profile.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Cluster conformance profile",
        **schema,
    }


def render_schema() -> str:
    return json.dumps(profile_schema(), indent=2, sort_keys=True) + "\n"
