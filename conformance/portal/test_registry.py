"""Portal: the services the report names are registered, and each points at something that exists."""

from typing import Any

from conformance.check import Finding, check
from conformance.portal import registry
from conformance.profile.model import Profile


def _portal(name: str) -> Any:
    def expand(profile: Profile) -> list[tuple[str, Any]] | None:
        return [(name, profile.services.portal)] if profile.services and profile.services.portal else None

    return expand


@check(
    area="portal",
    requirement="The portal API lists every expected service",
    expand=_portal("registered"),
    reads=(registry.SOURCE,),
    evaluate=registry.services_registered,
    severity="normal",
    remediation="Check the portal-services registry configuration and restart portal-services",
)
def test_portal_services(finding: Finding) -> None:
    finding.conforms()


@check(
    area="portal",
    requirement="Every registered service points at a workload that exists",
    expand=_portal("targets"),
    reads=registry.target_reads,
    evaluate=registry.targets_exist,
    severity="normal",
    remediation="Remove the portal entry or restore the workload it points at",
)
def test_portal_targets(finding: Finding) -> None:
    finding.conforms()
