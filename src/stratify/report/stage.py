"""Stage "report": the single self-contained HTML file, from the files its rule declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratify.io.layout import DeclaredFiles, StageFiles
from stratify.report.build import build_report


def run_report(config: dict[str, Any], files: StageFiles | str | Path) -> Path:
    """report: render the report from the stage's declared inputs and write ``report.html``."""
    files = StageFiles.of(files, "report")
    html = build_report(config, DeclaredFiles.from_inputs(files.inputs))
    out = files.output("html")
    out.write_text(html, encoding="utf-8")
    return out
