"""Typed Parquet tables passed between pipeline stages.

Every table written by a stage records, in its Parquet key-value metadata, its
*kind* (for example ``"clinical.patients"``), the schema version of that kind and
provenance (stratify version, parameters, seeds). A reader states the kind it
expects and fails with "expected X, found Y" instead of misreading a file.

Examples
--------
>>> import pandas as pd, tempfile, os
>>> d = tempfile.mkdtemp()
>>> p = os.path.join(d, "t.parquet")
>>> _ = write_table(pd.DataFrame({"patient_id": ["P1"], "x": [1.0]}), p, kind="features")
>>> read_table(p, kind="features").shape
(1, 2)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stratify import __version__
from stratify.errors import TableKindError

SCHEMA_VERSION = 1
_KEY_KIND = b"stratify.kind"
_KEY_VERSION = b"stratify.schema_version"
_KEY_PROV = b"stratify.provenance"


def write_table(
    df: pd.DataFrame,
    path: str | Path,
    *,
    kind: str,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write ``df`` to Parquet with its kind and provenance in the file metadata.

    ``patient_id`` (when present) is stored as a string column. The index is not
    written: tables are keyed by columns, never by a pandas index.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = df.reset_index(drop=True).copy()
    if "patient_id" in df.columns:
        df["patient_id"] = df["patient_id"].astype(str)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_KEY_KIND] = kind.encode()
    meta[_KEY_VERSION] = str(SCHEMA_VERSION).encode()
    prov = {"stratify_version": __version__, **(provenance or {})}
    meta[_KEY_PROV] = json.dumps(prov, default=str, sort_keys=True).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


def table_kind(path: str | Path) -> str | None:
    """The kind recorded in a Parquet file, or None for a file stratify did not write."""
    meta = pq.read_schema(path).metadata or {}
    k = meta.get(_KEY_KIND)
    return k.decode() if k is not None else None


def read_provenance(path: str | Path) -> dict[str, Any]:
    """Provenance dictionary stored by :func:`write_table`."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(_KEY_PROV)
    return json.loads(raw) if raw else {}


def read_table(path: str | Path, *, kind: str) -> pd.DataFrame:
    """Read a stage table, checking that it is of the expected ``kind``.

    Raises
    ------
    TableKindError
        If the file is not a stratify table of that kind or of this schema version.
    """
    path = Path(path)
    if not path.exists():
        raise TableKindError(f"{path}: expected a '{kind}' table, but the file does not exist")
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError):
        raise TableKindError(f"{path}: expected a '{kind}' table, found a file that is not Parquet") from None
    found = meta.get(_KEY_KIND, b"").decode() or "a Parquet file without a stratify kind"
    if found != kind:
        raise TableKindError(f"{path}: expected a '{kind}' table, found '{found}'")
    version = int(meta.get(_KEY_VERSION, b"0"))
    if version != SCHEMA_VERSION:
        raise TableKindError(
            f"{path}: '{kind}' table has schema version {version}, this stratify reads "
            f"version {SCHEMA_VERSION}; re-run the stage that wrote it"
        )
    return pq.read_table(path).to_pandas()
