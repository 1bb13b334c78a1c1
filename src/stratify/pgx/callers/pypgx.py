"""PyPGx results: a ``results.zip`` archive (``metadata.txt`` and ``data.tsv``) or a bare ``data.tsv``."""

from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path

from stratify.errors import PgxError, where
from stratify.pgx.callers.common import decode, join_note, row, split_lines

#: The column (or field) that holds the diplotype, for error messages.
COLUMN = "Genotype"

PYPGX_COLUMNS = ["Genotype", "Phenotype", "Haplotype1", "Haplotype2", "AlternativePhase", "VariantData", "CNV"]


def _read_pypgx_zip(path: Path) -> tuple[str, str, str, str]:
    """(metadata name, its text, data.tsv name, its text) of a PyPGx archive; a damaged archive
    (bad CRC, truncated member, unknown compression, encryption) is a PgxError."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            meta_name = next((x for x in names if x.split("/")[-1] == "metadata.txt"), None)
            data_name = next((x for x in names if x.split("/")[-1] == "data.tsv"), None)
            if meta_name is None or data_name is None:
                raise PgxError(
                    f"{path}: a zip without metadata.txt and data.tsv; expected a PyPGx results archive "
                    f"(results.zip), found {', '.join(names)[:200] or 'nothing'}"
                )
            raw_meta, raw_data = zf.read(meta_name), zf.read(data_name)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
        RuntimeError,
        ValueError,
        OSError,
        lzma.LZMAError,
    ) as e:
        # zipfile reports damage with many exception types (RuntimeError: encrypted member)
        raise PgxError(
            f"{path}: a damaged zip archive ({type(e).__name__}: {str(e)[:120]}); expected a PyPGx "
            "results.zip: re-copy it from the PyPGx output"
        ) from None
    return (
        meta_name,
        decode(raw_meta, f"{path}:{meta_name}", "PyPGx metadata"),
        data_name,
        decode(raw_data, f"{path}:{data_name}", "a PyPGx data.tsv"),
    )


def read_pypgx(path: Path, *, sample: str | None = None, gene: str | None = None) -> list[list]:
    """PyPGx ``results.zip`` (or a bare ``data.tsv``, gene from ``gene``)."""
    if zipfile.is_zipfile(path):
        meta_name, meta_text, data_name, text = _read_pypgx_zip(path)
        meta = {}
        for n, line in enumerate(split_lines(meta_text), start=1):
            if line.strip():
                key, sep, value = line.strip().partition("=")
                if not sep:
                    raise PgxError(f"{where(f'{path}:{meta_name}', n)}: {line!r}; expected 'Key=value'")
                meta[key] = value
        kind = meta.get("SemanticType", "")
        if kind != "SampleTable[Results]":
            raise PgxError(f"{path}: expected a PyPGx archive of SemanticType SampleTable[Results], found {kind!r}")
        if "Gene" not in meta:
            raise PgxError(f"{path}: metadata.txt has no Gene=...; expected the gene of the results")
        if gene is not None and meta["Gene"] != gene:
            raise PgxError(f"{path}: the archive holds {meta['Gene']} calls, not {gene}")
        gene, label = meta["Gene"], f"{path}:{data_name}"
    else:
        if gene is None:
            raise PgxError(
                f"{path}: a bare PyPGx data.tsv does not name its gene; "
                "give the gene (gene: CYP2D6 in the config entry)"
            )
        text, label = decode(path.read_bytes(), str(path), "a PyPGx data.tsv"), str(path)
    lines = split_lines(text)
    if not lines:
        raise PgxError(f"{label}: empty file; expected PyPGx results with columns {', '.join(PYPGX_COLUMNS)}")
    header = lines[0].split("\t")
    absent = [c for c in PYPGX_COLUMNS if c not in header]
    if absent or header[0] in PYPGX_COLUMNS:
        raise PgxError(
            f"{where(label, 1)}: missing column(s) {', '.join(absent) or 'sample (unnamed first column)'}; expected "
            f"PyPGx results: an unnamed sample column, then {', '.join(PYPGX_COLUMNS)}"
        )
    col = {h: i for i, h in enumerate(header)}
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise PgxError(f"{where(label, n)}: {len(fields)} fields, expected {len(header)} as in the header")

        def get(name: str, fields: list[str] = fields) -> str:
            v = fields[col[name]].strip()
            return "" if v in ("nan", "NaN") else v

        who, genotype = fields[0].strip(), get("Genotype")
        if not who:
            raise PgxError(f"{where(label, n)}: empty sample name; expected one in the first column")
        alt = ";".join(a for a in get("AlternativePhase").split(";") if a)
        note = join_note(
            f"PyPGx phenotype: {get('Phenotype')}" if get("Phenotype") else "",
            f"CNV: {get('CNV')}" if get("CNV") not in ("", "Normal") else "",
            f"alternative phase: {alt}" if alt else "",
        )
        if genotype in ("", "Indeterminate"):
            rows.append(row(who, gene, [], "pypgx", "no-call", note, label, n, column=COLUMN))
        else:
            rows.append(row(who, gene, [genotype], "pypgx", "called", note, label, n, column=COLUMN))
    return rows
