"""Read the YAML data that ships with stratify: the JSON schemas and the reference tables.

Both are cached: every caller gets the same object, which must not be mutated. Where the
files are is :mod:`stratify.io.paths`'s business.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from stratify.io.paths import resource_dir, schema_dir

__all__ = ["load_resource", "load_schema"]


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Load ``<name>.schema.yaml`` from the schema folder."""
    with open(schema_dir() / f"{name}.schema.yaml") as fh:
        return yaml.safe_load(fh)


@cache
def load_resource(name: str) -> dict[str, Any]:
    """Load a YAML reference table from resources/ (returned object must not be mutated).

    Examples
    --------
    >>> load_resource("instruments.yaml")["HAMD17"]["total_max"]
    52
    """
    with open(resource_dir() / name) as fh:
        return yaml.safe_load(fh)
