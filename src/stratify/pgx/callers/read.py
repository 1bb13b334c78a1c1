"""The registry of caller formats and :func:`read_calls`, which dispatches on it.

A new caller format is one module in this package and one line in :data:`READERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from stratify.errors import PgxError
from stratify.pgx.callers.aldy import read_aldy
from stratify.pgx.callers.common import CALL_COLUMNS
from stratify.pgx.callers.cyrius import read_cyrius
from stratify.pgx.callers.pharmcat import read_outside, read_phenotype, read_report
from stratify.pgx.callers.plain import read_plain
from stratify.pgx.callers.pypgx import read_pypgx
from stratify.pgx.callers.stellarpgx import read_stellarpgx

__all__ = ["READERS", "SUPPORTED_TOOLS", "read_calls"]

#: Tool name -> its reader: ``reader(path, *, sample=None, gene=None)`` returns rows of
#: :data:`CALL_COLUMNS`. The order is the order :data:`SUPPORTED_TOOLS` lists them.
READERS: dict[str, Callable[..., list[list]]] = {
    "cyrius": read_cyrius,
    "pharmcat_outside": read_outside,
    "plain": read_plain,
    "pharmcat_report": read_report,
    "pharmcat_phenotype": read_phenotype,
    "pypgx": read_pypgx,
    "aldy": read_aldy,
    "stellarpgx": read_stellarpgx,
}
SUPPORTED_TOOLS = tuple(READERS)


def read_calls(
    path: str | Path,
    tool: str,
    *,
    gene: str | None = None,
    sample: str | None = None,
) -> pd.DataFrame:
    """Read a star-allele caller's output into the common call table.

    Parameters
    ----------
    path
        The caller's output file.
    tool
        One of :data:`SUPPORTED_TOOLS`.
    gene
        Keep only this gene's calls (Cyrius calls only CYP2D6). Formats that do not name the
        gene (a bare PyPGx ``data.tsv``, a StellarPGx summary, an Aldy file without solutions)
        take it from here.
    sample
        Sample name for single-sample formats (``pharmcat_outside``, ``pharmcat_report``,
        ``pharmcat_phenotype``, a StellarPGx ``.alleles`` file); default: from the file
        (PharmCAT's ``sampleId``) or its name.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CALL_COLUMNS`, one row per sample and gene, in file order.

    Raises
    ------
    PgxError
        Unknown tool, missing file, or a malformed line (the message names file, line and
        what was expected).

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "P7.outside.tsv")
    >>> with open(p, "w") as fh:
    ...     _ = fh.write("CYP2D6\\tCYP2D6*4/CYP2D6*1\\n")
    >>> read_calls(p, "pharmcat_outside", sample="P7")[["sample", "gene", "diplotype"]].values.tolist()
    [['P7', 'CYP2D6', '*1/*4']]
    """
    if tool not in SUPPORTED_TOOLS:
        raise PgxError(f"unknown star-allele caller {tool!r}; supported: {', '.join(SUPPORTED_TOOLS)}")
    path = Path(path)
    if not path.is_file():
        raise PgxError(f"{path}: {tool} call file not found")
    rows = READERS[tool](path, sample=sample, gene=gene)
    out = pd.DataFrame(rows, columns=CALL_COLUMNS)
    if gene is not None:
        out = out[out["gene"] == gene].reset_index(drop=True)
    for col in CALL_COLUMNS:
        if col != "copy_number":
            out[col] = out[col].astype(str)
    out["copy_number"] = out["copy_number"].astype(float)
    return out
