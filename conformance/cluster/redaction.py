"""What never leaves the collector: fields that carry secrets or bulk nobody audits.

Applied to every object as it is read, live or from a snapshot, so neither checks, messages
nor evidence files ever hold them; what is written still passes through conformance.secrets.
"""

from __future__ import annotations

from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _strip_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for key in _CONTAINER_LISTS:
        for container in spec.get(key) or ():
            if not isinstance(container, dict):
                continue
            for env in container.get("env") or ():
                # Keep the name and any valueFrom reference (auditable), drop literal values.
                if isinstance(env, dict):
                    env.pop("value", None)


def redact_annotations(annotations: dict[str, Any]) -> None:
    """An annotation holding a registered secret is withheld whole (it may hold it in other shapes
    too, e.g. a rendered config); others lose only what the layer's credential patterns match."""
    from conformance import secrets  # deferred: a pytest plugin module, imported first by pytest itself

    for key, value in annotations.items():
        if not isinstance(value, str):
            continue
        if secrets.contains_secret(value):
            annotations[key] = secrets.REDACTED
        else:
            annotations[key] = secrets.redact_patterns(value)


def _strip_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        return
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        redact_annotations(annotations)


def strip_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Remove managedFields, the last-applied annotation and literal env values, redact annotations, in place."""
    _strip_metadata(obj.get("metadata"))
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _strip_pod_spec(spec)
        template = spec.get("template")
        if isinstance(template, dict):
            _strip_metadata(template.get("metadata"))
            _strip_pod_spec(template.get("spec"))
        job_template = spec.get("jobTemplate")
        if isinstance(job_template, dict):
            inner = (job_template.get("spec") or {}).get("template")
            if isinstance(inner, dict):
                _strip_metadata(inner.get("metadata"))
                _strip_pod_spec(inner.get("spec"))
    return obj
