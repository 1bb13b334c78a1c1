"""The Jinja2 environment of the report: templates, filters, and the static files inlined at build time.

Templates live in ``templates/`` (the page, one per section, and ``macros.html.j2`` for tables
and figures), styles and scripts in ``static/``. Autoescaping is on for every ``.html.j2``
template, so any value from the data is escaped unless it is a :class:`markupsafe.Markup`.
The page stays one offline file: :func:`static` inlines a static file's text where the
template asks for it.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from stratify.report.context import fmt


@functools.cache
def static(name: str) -> Markup:
    """The text of ``static/<name>``, to inline in a ``<style>`` or ``<script>`` element."""
    text = resources.files("stratify.report").joinpath("static", name).read_text(encoding="utf-8")
    if "</" + ("style" if name.endswith(".css") else "script") in text.lower():
        raise ValueError(f"static/{name} would close the element it is inlined in")
    return Markup(text)


@functools.cache
def environment() -> Environment:
    """The report's Jinja2 environment (autoescaped HTML, strict about undefined names)."""
    env = Environment(
        loader=PackageLoader("stratify.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["f"] = format  # {{ x|f(".3g") }} is f"{x:.3g}"
    env.globals["static"] = static
    return env


def render(template: str, **context: Any) -> Markup:
    """Render ``templates/<template>`` with ``context``."""
    return Markup(environment().get_template(template).render(**context))


def macro(name: str, *args: Any) -> Markup:
    """Call a macro of ``macros.html.j2`` (``table``, ``img``) from Python, e.g. in a test."""
    return Markup(getattr(environment().get_template("macros.html.j2").module, name)(*args))
