"""Row reconciliation of a finished run: every input row and every patient is accounted for.

Two tables, built from the stages' outputs (nothing is recomputed):

* ``input_rows``: per input table the rows read (``validate/manifest.json``), the rows the
  validated table holds and the patients with rows; the VCF's samples and each star-allele
  file's calls, used or not in the cohort;
* ``patient_flow``: patients per stage (clinical, trd, features, model, genotypes, pgx,
  subtype, heterogeneity, explain) against the patients they come from, with what accounts for
  the difference (patients without the endpoint by reason, patients without a VCF sample, ...).

A row whose numbers do not add up says ``does not reconcile``: that is a bug of the stage, never
an input problem (inputs that cannot be used stop the validate stage with a named error).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.io.tables import read_table

OK, BAD = "yes", "does not reconcile"
FIRST = 5  # patient IDs named in a row; the full lists are in the stages' files

_GENOTYPE_KIND = {"vcf": "VCF", "pgen": "PLINK 2 pgen", "bgen": "BGEN"}


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _first(ids: list[str], n: int) -> str:
    more = f" and {n - len(ids[:FIRST])} more" if n > len(ids[:FIRST]) else ""
    return ", ".join(map(str, ids[:FIRST])) + more


def input_rows(r: Path) -> pd.DataFrame:
    """Rows read per input (manifest) against rows kept, and the patients they cover."""
    man = _json(r / "validate" / "manifest.json")
    n_pat = man.get("n_patients")
    rows = []
    for name in ("patients", "symptoms", "treatments", "biomarkers"):
        info = man.get("inputs", {}).get(name)
        if info is None:
            rows.append(
                {
                    "input": name,
                    "file": "",
                    "rows read": None,
                    "rows kept": None,
                    "patients": None,
                    "accounted for": man.get("skipped", {}).get(name, "not given"),
                    "reconciles": OK,
                }
            )
            continue
        t = read_table(r / "validate" / f"{name}.parquet", kind=f"input.{name}")
        have = int(t["patient_id"].nunique())
        none = (n_pat or 0) - have
        note = f"{none} patient(s) without rows" if name != "patients" and none else ""
        rows.append(
            {
                "input": name,
                "file": Path(info["path"]).name,
                "rows read": info.get("rows"),
                "rows kept": len(t),
                "patients": have,
                "accounted for": note,
                "reconciles": OK if info.get("rows") == len(t) else BAD,
            }
        )
    g = _json(r / "genotypes" / "summary.json")
    if "samples" in g:  # "vcf": the genotype file, whatever its format (named so before pgen and BGEN)
        out = g.get("n_samples_not_in_cohort", 0)
        rows.append(
            {
                "input": f"{_GENOTYPE_KIND.get(g.get('genotypes_format', 'vcf'), 'VCF')} samples",
                "file": Path(g.get("vcf", "")).name,
                "rows read": g["samples"],
                "rows kept": g.get("samples_used"),
                "patients": g.get("samples_used"),
                "accounted for": (
                    f"{out} samples not in the cohort, not used: {_first(g.get('samples_not_in_cohort', []), out)}"
                    if out
                    else ""
                ),
                "reconciles": OK if g.get("samples_used", 0) + out == g["samples"] else BAD,
            }
        )
    for src in _json(r / "pgx" / "summary.json").get("sources", []):
        if "path" not in src:
            continue
        out = src.get("not_in_cohort", 0)
        rows.append(
            {
                "input": f"star-allele calls ({src['tool']})",
                "file": Path(src["path"]).name,
                "rows read": src["calls"] + out,
                "rows kept": src["calls"],
                "patients": None,
                "accounted for": f"{out} calls of samples not in the cohort, not used" if out else "",
                "reconciles": OK,
            }
        )
    return pd.DataFrame(rows)


def _row(stage: str, n: int | None, of: int | None, note: str, ok: bool | None = True) -> dict[str, Any]:
    return {
        "stage": stage,
        "patients": n,
        "of": of,
        "accounted for": note,
        "reconciles": "" if ok is None else (OK if ok else BAD),
    }


def patient_flow(r: Path, pid: Callable[[Any], str] = str) -> pd.DataFrame:
    """Patients per stage, against the patients each stage starts from; ``pid`` shows a patient ID
    (the report's pseudonymiser)."""
    n = int(len(read_table(r / "validate" / "patients.parquet", kind="input.patients")))
    rows = [_row("validate: patients table", n, n, "")]
    clin = len(read_table(r / "clinical" / "patients.parquet", kind="clinical.patients"))
    rows.append(_row("clinical", clin, n, "", clin == n))
    trd = _json(r / "trd" / "summary.json")
    if "skipped" in trd:
        rows.append(_row("trd: staged", 0, n, f"skipped: {trd['skipped']}", None))
    else:
        rows.append(_row("trd: staged", trd.get("n_patients"), n, "", trd.get("n_patients") == n))
    feats = read_table(r / "features" / "features.parquet", kind="features")
    nf = int(len(feats))
    rows.append(_row("features", nf, n, "", nf == n))
    fs, met = _json(r / "features" / "summary.json"), _json(r / "model" / "metrics.json")
    reasons = fs.get("endpoint_missing_reasons", {})
    n_out = met.get("n_excluded_no_endpoint", fs.get("n_endpoint_missing", 0))
    why = "; ".join(f"{k}: {v}" for k, v in reasons.items())
    rows.append(
        _row(
            "model: trained on (with the endpoint)",
            met.get("n_train"),
            nf,
            f"{n_out} without the endpoint" + (f" ({why})" if why else ""),
            met.get("n_train", 0) + n_out == nf and sum(reasons.values()) == n_out,
        )
    )
    rows += _genotype_rows(r, n, pid)
    rows += _pgx_rows(r, n)
    rows += _later_rows(r, nf)
    return pd.DataFrame(rows)


def _genotype_rows(r: Path, n: int, pid: Callable[[Any], str]) -> list[dict[str, Any]]:
    g = _json(r / "genotypes" / "summary.json")
    path = r / "genotypes" / "patients_without_genotypes.tsv"
    if not path.exists():
        return [
            _row("genotypes: with a VCF sample", None, n, "genotypes/patients_without_genotypes.tsv is missing", False)
        ]
    missing = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    genotyped = len(read_table(r / "genotypes" / "pcs.parquet", kind="genotypes.pcs"))
    k = len(missing)
    if "skipped" in g:
        note = f"{k} patients without a VCF sample: {g['skipped']}"
    else:
        by = "; ".join(f"{v}: {c}" for v, c in missing["reason"].value_counts().items())
        named = _first([pid(x) for x in missing["patient_id"]], k)
        note = f"{k} patients without a VCF sample" + (
            f" ({by}): {named}; all in genotypes/patients_without_genotypes.tsv" if k else ""
        )
    return [_row("genotypes: with a VCF sample", genotyped, n, note, genotyped + k == n)]


def _pgx_rows(r: Path, n: int) -> list[dict[str, Any]]:
    calls = read_table(r / "pgx" / "calls.parquet", kind="pgx.calls")
    rows = []
    from stratify.pgx.phenotype import GENES

    for gene in GENES:
        c = calls[calls["gene"] == gene] if len(calls) else calls
        have = int(c["patient_id"].nunique()) if len(c) else 0
        usable = (
            int(c.loc[~c["phenotype"].isin(["", "Indeterminate"]) & c["phenotype"].notna(), "patient_id"].nunique())
            if len(c)
            else 0
        )
        rows.append(
            _row(
                f"pgx: {gene} call",
                have,
                n,
                f"{n - have} without any call; {have - usable} with a no-call or indeterminate phenotype",
                None,
            )
        )
    return rows


def _later_rows(r: Path, nf: int) -> list[dict[str, Any]]:
    rows = []
    assign = read_table(r / "subtype" / "assignments.parquet", kind="subtype.assignments")
    sub = _json(r / "subtype" / "summary.json")
    if len(assign):
        rows.append(
            _row(
                "subtype: clustered",
                len(assign),
                nf,
                f"{sub.get('n_noise', 0)} as noise" if sub.get("n_noise") else "",
                len(assign) == nf,
            )
        )
    else:
        rows.append(_row("subtype: clustered", 0, nf, sub.get("statement", ""), None))
    het = _json(r / "heterogeneity" / "summary.json")
    if het.get("run"):
        analysed = sum(het["n_per_arm"].values())
        left = {k: het.get(k, 0) for k in ("n_no_endpoint", "n_other_arm", "n_no_arm")}
        rows.append(
            _row(
                "heterogeneity: analysed",
                analysed,
                nf,
                f"{left['n_no_endpoint']} without the endpoint, {left['n_other_arm']} on another "
                f"treatment, {left['n_no_arm']} without one",
                analysed + sum(left.values()) == nf,
            )
        )
    else:
        rows.append(_row("heterogeneity: analysed", 0, nf, "not analysed (see its section)", None))
    ex = _json(r / "explain" / "summary.json")
    rows.append(_row("explain: SHAP values", ex.get("n_patients"), nf, "", ex.get("n_patients") == nf))
    return rows
