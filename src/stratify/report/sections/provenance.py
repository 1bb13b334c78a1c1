"""Section "Provenance": input checksums, software versions, seeds, run times and the configuration."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from markupsafe import Markup

from stratify.report.context import kv, read_json, table
from stratify.report.pseudonym import SALT_ENV, active
from stratify.report.render import render

STAGE_OUTPUTS = [
    ("validate", "validate/manifest.json"),
    ("genotypes", "genotypes/summary.json"),
    ("pgx", "pgx/summary.json"),
    ("clinical", "clinical/summary.json"),
    ("trd", "trd/summary.json"),
    ("features", "features/summary.json"),
    ("subtype", "subtype/summary.json"),
    ("model", "model/metrics.json"),
    ("heterogeneity", "heterogeneity/summary.json"),
    ("explain", "explain/summary.json"),
]


def _versions() -> dict[str, str]:
    from stratify.stages import package_versions

    return package_versions()


def _run_times(r: Path) -> dict[str, str]:
    """When each stage finished (its summary file's time), and the span from the first to the last."""
    done = {
        name: _dt.datetime.fromtimestamp((r / rel).stat().st_mtime) for name, rel in STAGE_OUTPUTS if (r / rel).exists()
    }
    if not done:
        return {}
    first, last = min(done.values()), max(done.values())
    out = {
        "stages finished": ", ".join(f"{k} {v.strftime('%H:%M:%S')}" for k, v in done.items()),
        "first to last stage": f"{first.isoformat(timespec='seconds')} to {last.isoformat(timespec='seconds')} "
        f"({(last - first).total_seconds() / 60:.1f} min after validation)",
    }
    return out


def provenance_context(config, r: Path) -> dict[str, Any]:
    """Inputs with their checksums, package versions, seeds and run times, and the configuration as YAML."""
    man = read_json(r / "validate" / "manifest.json")
    inputs = pd.DataFrame(
        [
            {"input": k, "path": v.get("path"), "sha256": v.get("sha256", ""), "rows": v.get("rows", "")}
            for k, v in man.get("inputs", {}).items()
        ]
    )
    seeds = {"seed (model, bootstrap, permutations, clustering)": config["seed"]}
    if "simulate" in config:
        seeds["simulate.seed (demo cohort)"] = config["simulate"].get("seed")
    run = {
        **seeds,
        **_run_times(r),
        "report written": _dt.datetime.now().isoformat(timespec="seconds"),
        "results folder": str(r),
    }
    if active():
        run["patient identifiers"] = "pseudonymised (salted HMAC-SHA256; salt from " + SALT_ENV + " or random)"
    return {
        "inputs": table(inputs),
        "software": kv(_versions()),
        "run": kv(run),
        "config": yaml.safe_dump(config, sort_keys=False),
    }


def section_provenance(config, r: Path) -> Markup:
    """The provenance section's HTML."""
    return render("sections/provenance.html.j2", **provenance_context(config, r))
