"""Kong: the Admin API is accessible and its database healthy (the proxies are a workload check)."""

from typing import Any

from conformance.check import Finding, check
from conformance.kong import gateway
from conformance.profile.model import Profile


def _kong(profile: Profile) -> list[tuple[str, Any]] | None:
    return [("kong-admin", profile.services.kong)] if profile.services and profile.services.kong else None


@check(
    area="gateway",
    requirement="The Kong Admin API is accessible and reports its version",
    expand=_kong,
    reads=(gateway.SOURCE,),
    evaluate=gateway.admin_api,
    severity="critical",
    remediation="kubectl -n kong logs deploy/kong -c proxy; check the kong-admin Service and its endpoints",
)
def test_kong_admin_api(finding: Finding) -> None:
    finding.conforms()


@check(
    area="gateway",
    requirement="Kong's database is reachable (DB-less: a configuration is loaded), in the storage mode pinned",
    expand=_kong,
    reads=(gateway.SOURCE,),
    evaluate=gateway.database,
    severity="critical",
    remediation=(
        "Check kong-postgres (kubectl -n kong get pods) and Kong's pg_* settings; DB-less: reload the "
        "declarative config"
    ),
)
def test_kong_database(finding: Finding) -> None:
    finding.conforms()
