"""PharmCAT: outside-call TSVs, ``<sample>.report.tsv`` and ``<sample>.phenotype.json``.

Three formats, three readers (:func:`read_outside`, :func:`read_report`, :func:`read_phenotype`)
sharing PharmCAT's ways of saying no call.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from stratify.errors import PgxError, where
from stratify.pgx.callers.common import decode, join_note, read_lines, row

#: The column (or field) that holds the diplotype, per format, for error messages.
OUTSIDE_COLUMN = "field 2 (diplotype)"
REPORT_COLUMN = "Source Diplotype"
PHENOTYPE_COLUMN = "sourceDiplotypes"

_PHARMCAT_NO_CALL = ("", "no call", "Unknown", "Unknown/Unknown")
_PHARMCAT_IGNORABLE = ("", "n/a", "No Result")


def read_outside(path: Path, *, sample: str | None = None, gene: str | None = None) -> list[list]:
    """A PharmCAT outside-call TSV (``GENE<TAB>diplotype[<TAB>phenotype[<TAB>activity]]``), one sample."""
    sample = sample or path.stem
    rows = []
    genes: set[str] = set()
    for n, line in enumerate(read_lines(path, "a PharmCAT outside-call TSV"), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) < 2 or len(fields) > 4 or not fields[0]:
            raise PgxError(
                f"{where(path, n)}: expected 'GENE<TAB>diplotype' (optionally phenotype and activity "
                f"score), found {len(fields)} field(s)"
            )
        gene, dip = fields[0], fields[1]
        if gene in genes:
            raise PgxError(f"{where(path, n)}: second call for {gene}; expected one line per gene")
        genes.add(gene)
        note = ""
        if len(fields) > 2 and fields[2]:
            note = f"outside phenotype: {fields[2]}"
        if _pharmcat_no_call(dip):
            said = f"outside call {dip!r}: no call" if dip else "outside call: empty diplotype, no call"
            rows.append(
                row(
                    sample,
                    gene,
                    [],
                    "pharmcat_outside",
                    "no-call",
                    join_note(said, note),
                    path,
                    n,
                    column=OUTSIDE_COLUMN,
                )
            )
        else:
            rows.append(row(sample, gene, [dip], "pharmcat_outside", "called", note, path, n, column=OUTSIDE_COLUMN))
    return rows


def _pharmcat_no_call(dip: str) -> bool:
    """PharmCAT's ways of saying no call: "", "no call", "Unknown/Unknown", or any candidate with
    an Unknown haplotype (``*1/Unknown``)."""
    candidates = [c.strip() for c in dip.split(" OR ")]
    return dip in _PHARMCAT_NO_CALL or any(
        c in _PHARMCAT_NO_CALL or "Unknown" in [h.strip() for h in c.split("/")] for c in candidates
    )


def _pharmcat_sample(path: Path, suffix: str) -> str:
    return path.name[: -len(suffix)] if path.name.endswith(suffix) and path.name != suffix else path.stem


def _combined_row(sample, gene, text, tool, note) -> list:
    """A lowest-function gene (DPYD, RYR1): the variants PharmCAT found, not a diplotype."""
    note = join_note("PharmCAT lowest-function gene: the variants found, not a diplotype", note)
    return [sample, gene, text, text, "", math.nan, tool, "called", "", note]


def read_report(path: Path, *, sample: str | None = None, gene: str | None = None) -> list[list]:
    """PharmCAT ``<sample>.report.tsv`` (CallsOnlyFormat): one row per sample and gene."""
    lines = read_lines(path, "a PharmCAT report TSV")
    if not lines:
        raise PgxError(f"{path}: empty file; expected a PharmCAT report TSV (first line 'PharmCAT <version>')")
    if not lines[0].startswith("PharmCAT"):
        raise PgxError(f"{where(path, 1)}: expected the PharmCAT version line 'PharmCAT v...', found {lines[0]!r}")
    if len(lines) < 2:
        raise PgxError(
            f"{where(path, 2)}: missing header; expected PharmCAT's report columns Gene, Source Diplotype, ..."
        )
    header = lines[1].split("\t")
    absent = [c for c in ("Gene", "Source Diplotype") if c not in header]
    if absent:
        raise PgxError(
            f"{where(path, 2)}: missing column(s) {', '.join(absent)}; expected PharmCAT's report header "
            "(Gene, Source Diplotype, Phenotype, Activity Score, ..., Outside Call, ...)"
        )
    col = {h: i for i, h in enumerate(header)}
    default_sample = sample or _pharmcat_sample(path, ".report.tsv")
    rows = []
    for n, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise PgxError(f"{where(path, n)}: {len(fields)} fields, expected {len(header)} as in the header")

        def get(name: str, fields: list[str] = fields) -> str:
            return fields[col[name]].strip() if name in col else ""

        gene, dip = get("Gene"), get("Source Diplotype")
        if not gene:
            raise PgxError(f"{where(path, n, 'Gene')}: empty; expected a gene symbol")
        who = (get("Sample ID") if "Sample ID" in col else "") or default_sample
        note = join_note(
            "PharmCAT outside call" if get("Outside Call") == "yes" else "",
            f"phenotype: {get('Phenotype')}" if get("Phenotype") not in _PHARMCAT_IGNORABLE else "",
            f"activity score: {get('Activity Score')}" if get("Activity Score") not in _PHARMCAT_IGNORABLE else "",
            "missing positions" if get("Missing positions") not in ("", "no") else "",
        )
        if " AND " in dip:
            rows.append(_combined_row(who, gene, dip, "pharmcat_report", note))
            continue
        candidates = [c.strip() for c in dip.split(" OR ")]
        if _pharmcat_no_call(dip):
            note = join_note(f"PharmCAT: {dip!r}, no call" if dip else "PharmCAT: no diplotype, no call", note)
            rows.append(row(who, gene, [], "pharmcat_report", "no-call", note, path, n, column=REPORT_COLUMN))
            continue
        status = "ambiguous" if len(candidates) > 1 else "called"
        rows.append(
            row(who, gene, candidates, "pharmcat_report", status, note, path, n, keep_spaces=True, column=REPORT_COLUMN)
        )
    return _merge_gene_rows(rows, "pharmcat_report", path)


def _merge_gene_rows(rows: list[list], tool: str, path: Path) -> list[list]:
    """One row per sample and gene: rows repeating a gene (one row per possible diplotype, as
    older PharmCAT reports write them) become one ambiguous call, or a no-call if any is one."""
    merged: dict[tuple[str, str], list] = {}
    for r in rows:
        key = (r[0], r[1])
        if key not in merged:
            merged[key] = r
            continue
        prev = merged[key]
        notes = list(dict.fromkeys(x for x in (prev[9], r[9]) if x))
        if "no-call" in (prev[7], r[7]):
            merged[key] = row(r[0], r[1], [], tool, "no-call", "; ".join(notes), path, None, column=REPORT_COLUMN)
            continue
        candidates = [prev[2], *filter(None, prev[8].split(";")), r[2], *filter(None, r[8].split(";"))]
        merged[key] = row(
            r[0],
            r[1],
            candidates,
            tool,
            "ambiguous",
            "; ".join(notes),
            path,
            None,
            keep_spaces=True,
            column=REPORT_COLUMN,
        )
    return list(merged.values())


def _gene_reports(path: Path) -> tuple[dict, str | None]:
    """The CPIC gene reports of a PharmCAT phenotype JSON (PharmCAT 2 or 3 layout) and the
    sample named in its matcher metadata, if any."""
    text = decode(path.read_bytes(), str(path), "a PharmCAT phenotype JSON")
    if not text.strip():
        raise PgxError(f"{path}: empty file; expected a PharmCAT phenotype JSON")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PgxError(
            f"{where(path, e.lineno)}: not valid JSON ({e.msg}); expected a PharmCAT phenotype JSON"
        ) from None
    except RecursionError:
        raise PgxError(f"{path}: JSON nested too deeply to be a PharmCAT phenotype JSON") from None
    reports = data.get("geneReports") if isinstance(data, dict) else None
    if not isinstance(reports, dict):
        raise PgxError(f"{path}: no 'geneReports' object; expected a PharmCAT phenotype JSON (*.phenotype.json)")
    if reports and set(reports) <= {"CPIC", "DPWG", "FDA"}:  # PharmCAT 2: one block of gene reports per source
        if not isinstance(reports.get("CPIC"), dict):
            raise PgxError(f"{path}: geneReports has no CPIC block; expected geneReports.CPIC")
        reports = reports["CPIC"]
    meta = data.get("matcherMetadata") or {}
    meta_id = meta.get("sampleId") if isinstance(meta, dict) else None
    if meta_id is not None and not isinstance(meta_id, str):
        raise PgxError(
            f"{path}, matcherMetadata.sampleId: expected the sample name as text, found {json.dumps(meta_id)[:80]}"
        )
    return reports, meta_id


def _diplotype_candidates(dips: list, at: str) -> tuple[list[list[str]], bool]:
    """The allele-name pairs of a gene report's diplotypes, and whether any had an Unknown
    allele (those are left out)."""
    candidates, unknown = [], False
    for d in dips:
        if not isinstance(d, dict):
            raise PgxError(f"{at}.sourceDiplotypes: expected diplotype objects with allele1/allele2")
        alleles = [d.get(a) for a in ("allele1", "allele2")]
        if any(
            a is not None and not (isinstance(a, dict) and isinstance(a.get("name"), (str, type(None))))
            for a in alleles
        ):
            raise PgxError(
                f"{at}.sourceDiplotypes: expected allele1/allele2 objects with a text 'name', "
                f"found {json.dumps(alleles)[:120]}"
            )
        names = [a["name"].strip() for a in alleles if a and a.get("name")]
        if not names or "Unknown" in names:
            unknown = True
            continue
        candidates.append(names)
    return candidates, unknown


def _phenotype_note(rep: dict, first: dict, at: str, *, no_call: str) -> str:
    """The row's note: the no-call reason, an outside call, PharmCAT's phenotype and activity
    score (from the first diplotype)."""
    phens = first.get("phenotypes") or []
    if not (isinstance(phens, list) and all(isinstance(p, str) for p in phens)):
        raise PgxError(
            f"{at}.sourceDiplotypes[0].phenotypes: expected a list of phenotype names, found {json.dumps(phens)[:120]}"
        )
    phens = [p for p in phens if p not in _PHARMCAT_IGNORABLE]
    score = first.get("activityScore")
    if isinstance(score, (list, dict)):
        raise PgxError(
            f"{at}.sourceDiplotypes[0].activityScore: expected a number or text, found {json.dumps(score)[:120]}"
        )
    return join_note(
        no_call,
        "PharmCAT outside call" if rep.get("callSource") == "OUTSIDE" else "",
        f"phenotype: {', '.join(phens)}" if phens else "",
        f"activity score: {score}" if score not in (None, *_PHARMCAT_IGNORABLE) else "",
    )


def _gene_row(who: str, gene: str, rep: Any, at: str) -> list:
    """One combined-table row from one gene report."""
    if not isinstance(rep, dict):
        raise PgxError(f"{at}: expected a gene report object, found {type(rep).__name__}")
    dips = rep.get("sourceDiplotypes") or rep.get("recommendationDiplotypes") or []
    if not isinstance(dips, list):
        raise PgxError(f"{at}.sourceDiplotypes: expected a list of diplotypes")
    candidates, unknown = _diplotype_candidates(dips, at)
    first = dips[0] if dips and isinstance(dips[0], dict) else {}
    no_call = (
        "PharmCAT: callSource NONE, no call"
        if rep.get("callSource") == "NONE"
        else "PharmCAT: Unknown allele, no call"
        if unknown
        else "PharmCAT: no diplotype, no call"
        if not candidates
        else ""
    )
    note = _phenotype_note(rep, first, at, no_call=no_call)
    if no_call:
        return row(who, gene, [], "pharmcat_phenotype", "no-call", note, at, None, column=PHENOTYPE_COLUMN)
    if len(candidates) > 1 and all(len(c) == 1 for c in candidates):
        return _combined_row(who, gene, " AND ".join(c[0] for c in candidates), "pharmcat_phenotype", note)
    status = "ambiguous" if len(candidates) > 1 else "called"
    return row(
        who,
        gene,
        ["/".join(c) for c in candidates],
        "pharmcat_phenotype",
        status,
        note,
        at,
        None,
        keep_spaces=True,
        column=PHENOTYPE_COLUMN,
    )


def read_phenotype(path: Path, *, sample: str | None = None, gene: str | None = None) -> list[list]:
    """PharmCAT ``<sample>.phenotype.json``: the CPIC gene reports (PharmCAT 2 or 3)."""
    reports, meta_id = _gene_reports(path)
    who = sample or meta_id or _pharmcat_sample(path, ".phenotype.json")
    return [_gene_row(who, g, rep, f"{path}, geneReports.{g}") for g, rep in reports.items()]
