"""Service mesh traffic, from Istio's request metrics in Prometheus: traffic flows, without network errors."""

from conformance.check import Finding, check
from conformance.monitoring import mesh, prometheus


@check(
    area="mesh",
    requirement="Requests flow through the mesh to {e.label}",
    expand=mesh.expand,
    reads=(prometheus.SOURCE,),
    evaluate=mesh.traffic,
    severity="normal",
    remediation="Check the sidecars and their callers: istioctl proxy-status; kubectl get pods -n {namespace}",
)
def test_mesh_traffic(finding: Finding) -> None:
    finding.conforms()


@check(
    area="mesh",
    requirement="Responses of {e.label} are 5xx less often than the profile allows",
    expand=mesh.expand,
    reads=(prometheus.SOURCE,),
    evaluate=mesh.errors,
    severity="normal",
    remediation="Find the failing routes in the Istio dashboards or Jaeger traces [of {workload} ]in {namespace}",
)
def test_mesh_errors(finding: Finding) -> None:
    finding.conforms()
