"""Stage "validate": typed copies of the input tables and ``manifest.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratify import __version__
from stratify.inputs.validate import validate_inputs, validate_options
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, provenance
from stratify.io.tables import write_table


def run_validate(config: dict[str, Any], files: StageFiles | str | Path) -> dict[str, Any]:
    """validate: read and check every input table of ``config``; write the typed tables and the manifest."""
    files = StageFiles.of(files, "validate")
    tables, manifest = validate_inputs(config["inputs"], **validate_options(config))
    for name, df in tables.items():
        write_table(
            df,
            files.output(name),
            kind=f"input.{name}",
            provenance=provenance(config, "validate", input=manifest["inputs"].get(name)),
        )
    manifest["config"] = config
    manifest["stratify_version"] = __version__
    dump_json(manifest, files.output("manifest"))
    return manifest
