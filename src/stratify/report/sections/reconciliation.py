"""Section "Row reconciliation": rows read per input and patients per stage (stratify.report.reconcile)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from stratify.report.context import table
from stratify.report.pseudonym import pid
from stratify.report.reconcile import BAD, input_rows, patient_flow
from stratify.report.render import render


def reconciliation_context(config, r: Path) -> dict[str, Any]:
    """Rows read per input and patients per stage, with what accounts for every difference."""
    inputs, flow = input_rows(r), patient_flow(r, pid)
    bad = int((inputs["reconciles"] == BAD).sum() + (flow["reconciles"] == BAD).sum())
    return {"n_bad": bad, "inputs": table(inputs), "flow": table(flow, max_rows=40)}


def section_reconciliation(config, r: Path) -> Markup:
    """The reconciliation section's HTML."""
    return render("sections/reconciliation.html.j2", **reconciliation_context(config, r))
