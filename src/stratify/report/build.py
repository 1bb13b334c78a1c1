"""Stage "report": one self-contained, offline HTML file.

The page is rendered from Jinja2 templates (``templates/``; one per section, each filled by
its module in :mod:`stratify.report.sections`); its styles and script are static files
(``static/``) inlined at build time, and every figure is embedded as a base64 PNG data URI,
so the file opens anywhere, makes no network request and still reads in ten years.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from stratify import __version__
from stratify.io.tables import read_table
from stratify.report.pseudonym import SALT_ENV, Pseudonymiser, pseudonymising, raw_identifiers_in
from stratify.report.render import render
from stratify.report.sections.clinical import section_clinical
from stratify.report.sections.explain import section_explain
from stratify.report.sections.heterogeneity import section_heterogeneity
from stratify.report.sections.model import section_model
from stratify.report.sections.overview import section_overview
from stratify.report.sections.pgx import section_pgx
from stratify.report.sections.provenance import section_provenance
from stratify.report.sections.reconciliation import section_reconciliation
from stratify.report.sections.subtypes import section_subtypes
from stratify.report.sections.trd import section_trd

__all__ = [
    "SALT_ENV",
    "SECTIONS",
    "Pseudonymiser",
    "build_report",
    "raw_identifiers_in",
    "section_clinical",
    "section_explain",
    "section_heterogeneity",
    "section_model",
    "section_overview",
    "section_pgx",
    "section_provenance",
    "section_reconciliation",
    "section_subtypes",
    "section_trd",
]

log = logging.getLogger(__name__)

SECTIONS = [
    ("overview", "Cohort overview"),
    ("reconciliation", "Row reconciliation"),
    ("pgx", "Pharmacogenomics"),
    ("clinical", "Clinical"),
    ("trd", "Treatment resistance"),
    ("subtypes", "Subtypes"),
    ("model", "Response model"),
    ("explain", "Explanations (SHAP)"),
    ("heterogeneity", "Treatment-effect heterogeneity"),
    ("provenance", "Provenance"),
]


def build_report(config: dict[str, Any], results: str | Path) -> str:
    """Render the report for a finished run in ``results`` (results/<cohort>).

    With ``report.pseudonymise`` every patient identifier is replaced by its salted hash
    (:class:`Pseudonymiser`; salt from ``STRATIFY_REPORT_SALT`` or random), and the finished
    page is checked: a raw identifier left anywhere outside the embedded images stops the
    report with an error rather than publish it.
    """
    r = Path(results)
    if not config["report"].get("pseudonymise"):
        return _build(config, r)
    salt = os.environ.get(SALT_ENV, "")
    if not salt:
        salt = secrets.token_hex(32)
        log.warning(
            "report: pseudonymising with a random salt (%s is not set): the pseudonyms cannot be linked "
            "to patients or to another run; set %s to keep them stable",
            SALT_ENV,
            SALT_ENV,
        )
    with pseudonymising(salt):
        page = _build(config, r)
    leaked = raw_identifiers_in(page, _patient_ids(r))
    if leaked:
        raise RuntimeError(
            f"report: pseudonymisation left {len(leaked)} raw patient identifier(s) in the page "
            f"(first: {leaked[0]!r}); the report was not written. Please report this as a bug."
        )
    return page


def _patient_ids(r: Path) -> list[str]:
    p = r / "validate" / "patients.parquet"
    return [] if not p.exists() else read_table(p, kind="input.patients")["patient_id"].astype(str).tolist()


def _build(config: dict[str, Any], r: Path) -> str:
    builders = {
        "overview": section_overview,
        "reconciliation": section_reconciliation,
        "pgx": section_pgx,
        "clinical": section_clinical,
        "trd": section_trd,
        "subtypes": section_subtypes,
        "model": section_model,
        "explain": section_explain,
        "heterogeneity": section_heterogeneity,
        "provenance": section_provenance,
    }
    sections = [(sid, title, builders[sid](config, r)) for sid, title in SECTIONS]
    return str(
        render(
            "page.html.j2",
            title=config["report"]["title"],
            cohort=config["cohort"],
            version=__version__,
            sections=sections,
        )
    )
