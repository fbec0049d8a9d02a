"""What pytest-html shows per check: the finding under its row (labelled lines, waivers, culprits) and its test id.

Both are rendered by templates with autoescape; culprit names and observations come from the cluster.
"""

from __future__ import annotations

from conformance.check import Finding
from conformance.records import CheckRecord
from conformance.report.sections import CulpritRow
from conformance.report.templating import render


def finding_html(record: CheckRecord, finding: Finding) -> str:
    """The HTML extra of one judged check: the record's requirement and provenance, what the finding saw."""
    lines = [
        ("Requirement", record.requirement),
        ("Severity", record.severity),
        ("Source", record.source),
        ("Profile", record.origin),
        ("Note", record.note),
        ("Expected", finding.expected),
        ("Observed", f"{finding.observed} ({finding.inspected} inspected)"),
        ("Remediation", record.remediation if finding.culprits or finding.applied else None),
    ]
    html = render(
        "finding.html.j2",
        lines=[(label, str(value)) for label, value in lines if value],
        waivers=[applied.describe() for applied in finding.applied],
        culprits=[CulpritRow.of(c) for c in finding.culprits],
    )
    # A plain str: pytest-html stores it in its JSON data and the redaction layer edits it with str methods.
    return str(html)


def test_id_cell(test_id: str) -> str:
    """pytest-html's test id cell, with the id (names from profiles and clusters) as text."""
    return str(render("test_id_cell.html.j2", test_id=test_id))
