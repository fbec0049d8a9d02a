"""Portal: the services the report names are registered, and each points at something that exists."""

from conformance.check import Finding, check
from conformance.portal import registry
from conformance.profile.model import Profile
from conformance.profile.services import Portal


def _registered(profile: Profile) -> list[tuple[str, Portal]] | None:
    return [("registered", profile.services.portal)] if profile.services and profile.services.portal else None


def _targets(profile: Profile) -> list[tuple[str, registry.PortalTargets]] | None:
    portal = profile.services.portal if profile.services else None
    return [("targets", registry.PortalTargets(portal))] if portal else None


@check(
    area="portal",
    requirement="The portal API lists every expected service",
    expand=_registered,
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
    expand=_targets,
    reads=registry.target_reads,
    evaluate=registry.targets_exist,
    severity="normal",
    remediation="Remove the portal entry or restore the workload it points at",
)
def test_portal_targets(finding: Finding) -> None:
    finding.conforms()
