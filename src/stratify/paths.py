"""Locate the data that ships with stratify (JSON schemas, reference tables).

In a source checkout (``pip install -e .``) they live in ``workflow/schemas`` and
``resources``; in a built wheel they are copied to ``stratify/_data``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
_REPO = _PKG.parent.parent


def _first_existing(*candidates: Path) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        "stratify's data folder is missing; looked in: " + ", ".join(map(str, candidates))
    )


def schema_dir() -> Path:
    """Folder holding the JSON schemas (``*.schema.yaml``)."""
    return _first_existing(_PKG / "_data" / "schemas", _REPO / "workflow" / "schemas")


def resource_dir() -> Path:
    """Folder holding the shipped reference tables (see resources/SOURCES.md)."""
    return _first_existing(_PKG / "_data" / "resources", _REPO / "resources")
