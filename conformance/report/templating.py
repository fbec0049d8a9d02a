"""The one Jinja2 environment every piece of report HTML and SVG is rendered with.

Autoescape is on for every template, so text from a profile, a cluster or a baseline file is text wherever it
lands. A rendered part is `Markup`: passed into another template it is kept as is, never escaped twice, and no
other code marks text as safe.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

# StrictUndefined: a misspelt name in a template fails the part (the report shows a note) rather than printing "".
ENVIRONMENT = Environment(
    loader=PackageLoader("conformance.report", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template_name: str, **context: object) -> Markup:
    """One template of conformance/report/templates, rendered with context; safe to pass into another template."""
    return Markup(ENVIRONMENT.get_template(template_name).render(**context))
