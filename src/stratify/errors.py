"""The one family of user-facing errors.

Every problem caused by the user's inputs or configuration raises a subclass of
:class:`StratifyError`. The command-line interface prints its message (one line naming
the file, the record and what was expected) and exits with status 2. Any other
exception is a bug in stratify and keeps its traceback.
"""

from __future__ import annotations


class StratifyError(Exception):
    """Base class of every error caused by input or configuration."""


class ConfigError(StratifyError):
    """The cohort configuration is invalid (unknown key, wrong type, missing file)."""


class InputError(StratifyError):
    """An input table or file is malformed (missing column, bad value, unknown patient)."""


class TableKindError(StratifyError):
    """A Parquet table between stages is not of the kind the reader expects."""


class GenotypeError(StratifyError):
    """A VCF cannot be used (wrong build, no index, unknown samples)."""


class PgxError(StratifyError):
    """A star-allele call file or allele definition cannot be interpreted."""


def where(path, row: int | None = None, column: str | None = None) -> str:
    """Format a location as ``file[, row N][, column 'c']`` for error messages.

    Rows are counted as a person sees them in a text editor: the header is line 1, so
    the first data record is line 2.

    Examples
    --------
    >>> where("patients.tsv", 3, "age")
    "patients.tsv, line 3, column 'age'"
    """
    parts = [str(path)]
    if row is not None:
        parts.append(f"line {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)
