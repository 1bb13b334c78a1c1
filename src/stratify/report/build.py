"""Stage "report": one self-contained, offline HTML file.

All styles are inline and every figure is embedded as a base64 PNG data URI, so the
file opens anywhere, makes no network request and still reads in ten years.
"""

from __future__ import annotations

import base64
import contextvars
import datetime as _dt
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from stratify import __version__
from stratify.io.layout import DeclaredFiles, input_paths
from stratify.io.results import package_versions
from stratify.io.tables import read_table

log = logging.getLogger(__name__)

SALT_ENV = "STRATIFY_REPORT_SALT"
# the pseudonymiser of the report being built (None: identifiers as they are)
_PSEUDO: contextvars.ContextVar[Pseudonymiser | None] = contextvars.ContextVar("stratify_report_pseudo",
                                                                               default=None)


class Pseudonymiser:
    """Salted, keyed hashes of patient identifiers: ``anon-`` and the first 12 hex digits of
    HMAC-SHA256(salt, identifier). Without the salt a pseudonym cannot be linked back to its
    identifier, and the same salt gives the same pseudonym in every run.

    >>> p = Pseudonymiser("s3cret")
    >>> p("P00001") == p("P00001"), p("P00001") == p("P00002"), p("P00001")[:5], len(p("P00001"))
    (True, False, 'anon-', 17)
    >>> Pseudonymiser("other")("P00001") == p("P00001")
    False
    """

    def __init__(self, salt: str):
        if not salt:
            raise ValueError("a pseudonymisation salt must not be empty")
        self._key = salt.encode()

    def __call__(self, patient_id: Any) -> str:
        return "anon-" + hmac.new(self._key, str(patient_id).encode(), hashlib.sha256).hexdigest()[:12]


def _pid(x: Any) -> str:
    """A patient identifier as the report shows it (pseudonymised when the option is on)."""
    p = _PSEUDO.get()
    return p(x) if p is not None else str(x)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1c2833;
background:#fbfcfc;line-height:1.45}
header{background:#1b4f72;color:#fff;padding:18px 32px}header h1{margin:0;font-size:1.5em}
header p{margin:4px 0 0;opacity:.85}
nav{background:#eaf2f8;padding:8px 32px;font-size:.9em}nav a{margin-right:14px;color:#1b4f72}
main{padding:8px 32px 40px;max-width:1100px}
section{margin-top:28px;border-top:1px solid #d5d8dc;padding-top:8px}
h2{color:#1b4f72;font-size:1.25em}h3{font-size:1.02em;margin-bottom:4px}
table{border-collapse:collapse;font-size:.86em;margin:8px 0}
th,td{border:1px solid #d5d8dc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.statement{background:#fef9e7;border-left:4px solid #f1c40f;padding:8px 12px;margin:10px 0}
.ok{background:#e9f7ef;border-left-color:#27ae60}.note{color:#566573;font-size:.88em}
img{max-width:100%;height:auto;border:1px solid #eee;margin:6px 0}
form.pv{margin:8px 0}form.pv input{padding:4px 6px;min-width:16em}form.pv button{margin-left:4px}
#pv-out svg{max-width:100%;height:auto;background:#fff;border:1px solid #eee}
pre{background:#f4f6f6;padding:10px;font-size:.8em;overflow-x:auto}
.grid{display:flex;flex-wrap:wrap;gap:16px}.grid>div{flex:1 1 420px}
"""

SECTIONS = [("overview", "Cohort overview"), ("reconciliation", "Row reconciliation"),
            ("pgx", "Pharmacogenomics"), ("clinical", "Clinical"),
            ("trd", "Treatment resistance"),
            ("subtypes", "Subtypes"), ("model", "Response model"), ("explain", "Explanations (SHAP)"),
            ("heterogeneity", "Treatment-effect heterogeneity"),
            ("provenance", "Provenance")]


def _e(x: Any) -> str:
    return html.escape(str(x))


def _img(path: Path, alt: str) -> str:
    if not path.exists():
        return f'<p class="note">(figure {_e(path.name)} was not produced)</p>'
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _table(df: pd.DataFrame, *, max_rows: int = 50) -> str:
    if "patient_id" in df.columns and _PSEUDO.get() is not None:
        df = df.assign(patient_id=df["patient_id"].map(_pid))
    rows = ["<table><thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in df.columns) + "</tr></thead><tbody>"]
    for _, r in df.head(max_rows).iterrows():
        cells = []
        for v in r:
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{_e(_fmt(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</tbody></table>")
    if len(df) > max_rows:
        rows.append(f'<p class="note">{len(df) - max_rows} more rows in the result files.</p>')
    return "".join(rows)


def _kv(d: dict[str, Any]) -> str:
    return _table(pd.DataFrame({"item": list(d), "value": [_fmt(v) for v in d.values()]}))


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _tsv(path: Path, **kw) -> pd.DataFrame:
    """A stage's TSV result; an empty DataFrame when the file is absent or empty. The stages write
    a header even for an empty result (stages.write_tsv), but a results folder written by an older
    version may hold a one-byte file, which pandas cannot parse."""
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, sep="\t", **kw)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _versions() -> dict[str, str]:
    return package_versions()


def section_overview(config, r: Path) -> str:
    man = _json(r / "validate" / "manifest.json")
    pts = read_table(r / "validate" / "patients.parquet", kind="input.patients")
    sites = pts.groupby("site").agg(patients=("patient_id", "size"), age_mean=("age", "mean"),
                                    female=("sex", lambda s: float((s == "F").mean()))).reset_index()
    feats = read_table(r / "features" / "features.parquet", kind="features")
    comp = {
        "symptom scores (baseline)": feats["baseline_severity"].notna().mean(),
        "endpoint": feats["y"].notna().mean(),
        "biomarkers (CRP)": feats["crp_mg_l"].notna().mean() if "crp_mg_l" in feats else 0.0,
        "CYP2C19 call": feats["cyp2c19_phenotype"].notna().mean() if "cyp2c19_phenotype" in feats else 0.0,
        "CYP2D6 call": feats["cyp2d6_phenotype"].notna().mean() if "cyp2d6_phenotype" in feats else 0.0,
        "genotype PCs": feats["pc1"].notna().mean() if "pc1" in feats else 0.0,
    }
    comp_df = pd.DataFrame({"domain": list(comp), "share of patients with data": [round(v, 3) for v in comp.values()]})
    skipped = dict(man.get("skipped", {}))
    gs = _json(r / "genotypes" / "summary.json")
    for k in ("skipped", "pcs_skipped", "pgx_skipped", "pgs_skipped"):
        if k in gs and gs[k] not in skipped.values():
            skipped[f"genotypes ({k})"] = gs[k]
    for path, genes in _json(r / "pgx" / "summary.json").get("genes_not_used", {}).items():
        skipped[f"star-allele calls in {path}"] = f"genes without a phenotype table here, not used: {', '.join(genes)}"
    if gs.get("n_samples_not_in_cohort"):
        skipped["VCF samples not in the cohort"] = f"{gs['n_samples_not_in_cohort']} samples not used"
    fs = _json(r / "features" / "summary.json")
    for f, why in fs.get("skipped_features", {}).items():
        skipped[f"feature {f}"] = why
    for why, n in fs.get("endpoint_missing_reasons", {}).items():
        skipped[f"no endpoint: {why}"] = f"{n} patients left out of the model"
    out = [f"<p>{man.get('n_patients', len(pts))} patients from {pts['site'].nunique()} sites.</p>",
           "<div class='grid'><div><h3>Sites</h3>", _table(sites), "</div><div><h3>Data completeness</h3>",
           _table(comp_df), "</div></div><h3>What was skipped, and why</h3>"]
    out.append(_kv(skipped) if skipped else "<p>Nothing was skipped: every input and stage ran.</p>")
    out.append(_how_read(man))
    rep = _tsv(r / "genotypes" / "prs_report.tsv")
    if len(rep):
        cols = ["score", "variants", "used", "matched_flipped", "ambiguous_dropped", "allele_mismatch",
                "multiallelic_in_vcf", "not_in_vcf", "not_harmonised", "fraction_used"]
        out.append("<h3>Polygenic scores: variants matched in the VCF</h3><p>Strand-ambiguous A/T and C/G SNPs "
                   "are dropped unless <code>genotypes.pgs.keep_ambiguous</code>; missing calls add nothing "
                   "(docs/genotypes.md). A score that uses few of its variants measures little of what it "
                   "was built for.</p>" + _table(rep[[c for c in cols if c in rep.columns]]))
    return "".join(out)


def _how_read(man: dict[str, Any]) -> str:
    """What the validate stage assumed, and the spellings it read as canonical values (docs/inputs.md)."""
    rows = [{"table": t, "what": "assumed", "as read": "", "read as": "", "rows": why}
            for t, why in man.get("assumed", {}).items()]
    for table, rec in man.get("canonicalised", {}).items():
        for written, canon in rec.get("columns", {}).items():
            rows.append({"table": table, "what": "column name", "as read": written, "read as": canon, "rows": ""})
        for col, spellings in rec.get("values", {}).items():
            for pair, n in spellings.items():
                written, _, canon = pair.partition(" -> ")
                rows.append({"table": table, "what": f"value of {col}", "as read": written, "read as": canon,
                             "rows": n})
        for col, spellings in rec.get("missing", {}).items():
            for written, n in spellings.items():
                rows.append({"table": table, "what": f"missing value in {col}", "as read": written,
                             "read as": "missing", "rows": n})
    if not rows:
        return "<h3>How the inputs were read</h3><p>Every table was in canonical form; nothing was assumed.</p>"
    return ("<h3>How the inputs were read</h3><p>Spellings accepted as the canonical value "
            "(<code>resources/synonyms.tsv</code>, docs/inputs.md) and what was assumed where a column was "
            "absent or empty:</p>" + _table(pd.DataFrame(rows), max_rows=60))


def section_reconciliation(config, r: Path) -> str:
    """Rows read per input and patients per stage, with what accounts for every difference."""
    from stratify.report.reconcile import BAD, input_rows, patient_flow

    inputs, flow = input_rows(r), patient_flow(r, _pid)
    bad = int((inputs["reconciles"] == BAD).sum() + (flow["reconciles"] == BAD).sum())
    head = (f"<p class='statement'>{bad} row(s) below do not reconcile: a stage lost or added records it does not "
            "account for. Please report this as a bug.</p>" if bad else
            "<p class='statement ok'>Every input row and every patient is accounted for at every stage.</p>")
    return (head + "<h3>Input tables: rows read and kept</h3>" + _table(inputs)
            + "<h3>Patients per stage</h3>" + _table(flow, max_rows=40)
            + "<p class='note'>Patients without a VCF sample are listed with the reason in "
              "<code>genotypes/patients_without_genotypes.tsv</code>; patients without the endpoint have "
              "<code>endpoint_status</code> in <code>features/features.parquet</code>.</p>")


def section_pgx(config, r: Path) -> str:
    s = _json(r / "pgx" / "summary.json")
    calls = read_table(r / "pgx" / "calls.parquet", kind="pgx.calls")
    if calls.empty:
        return (f"<p class='statement'>No pharmacogenomic data: {_e(s.get('skipped', ''))}.</p>"
                f"<h3>Drug guidance (CPIC)</h3><p>Not available: {_e(s.get('guidance_skipped', 'no calls'))}.</p>")
    tab = (calls.assign(phenotype=calls["phenotype"].replace("", "no call"))
           .groupby(["gene", "source_tool", "status", "phenotype"]).size().rename("patients").reset_index())
    png = r / "pgx" / "phenotypes.png"
    src = pd.DataFrame(s.get("sources", []))
    why = calls.loc[calls["reason"].fillna("").astype(str) != ""] if "reason" in calls else calls.iloc[:0]
    reasons = ("" if why.empty else "<h3>Why a phenotype is Indeterminate or missing</h3>" + _table(
        why.groupby(["gene", "reason"]).size().rename("calls").reset_index()
        .sort_values("calls", ascending=False), max_rows=30))
    return ("<p>CYP2C19 is called from the VCF against the CPIC/PharmVar allele definitions; "
            "other genes come from the named star-allele caller. Ambiguous calls and no-calls stay visible "
            "below and are treated as missing by the model; they never become *1/*1.</p>"
            + _img(png, "phenotype distribution") + "<h3>Calls by gene, source, status and phenotype</h3>"
            + _table(tab) + reasons + "<h3>Sources</h3>" + _table(src)
            + _guidance(r, s, config["clinical"]["adequate_weeks"]))


def _guidance(r: Path, s: dict[str, Any], weeks: float = 6) -> str:
    p = r / "pgx" / "guidance.parquet"
    g = read_table(p, kind="pgx.guidance") if p.exists() else pd.DataFrame()
    if g.empty:
        return f"<h3>Drug guidance (CPIC)</h3><p>Not available: {_e(s.get('guidance_skipped', 'not run'))}.</p>"
    gs = s.get("guidance", {})
    by = (g.groupby(["agent", "gene", "action"]).size().rename("trials").reset_index()
          .sort_values(["agent", "gene", "trials"], ascending=[True, True, False]))
    flagged = g[g["possible_pk_nonresponse"].astype(bool)]
    intol = g[g["possible_pk_intolerance"].astype(bool)]
    cols = [c for c in ("patient_id", "episode", "trial", "agent", "gene", "genotype_phenotype", "phenotype",
                        "action", "flag_reason") if c in g.columns]
    conv = (g[g["phenoconversion"].astype(str) != ""] if "phenoconversion" in g.columns else g.iloc[:0])
    return ("<h3>Drug guidance (CPIC)</h3>"
            f"<p>{gs.get('trials', 0)} medication trials checked against the CPIC guidelines for SSRIs/SNRIs "
            "(2023) and tricyclics (2016); drugs without a CPIC guideline are listed as no_guideline. "
            f"<b>Possible pharmacokinetic non-response</b>: a failed adequate trial (at least {weeks:g} weeks) of a drug "
            "for which CPIC advises an alternative, avoidance or a dose change in a patient whose phenotype "
            "lowers exposure (CYP2C19 and CYP2B6 ultrarapid/rapid, CYP2D6 ultrarapid): "
            f"{gs.get('possible_pk_nonresponse_trials', 0)} trials. <b>Possible pharmacokinetic "
            "intolerance</b>: a trial stopped for side effects in a patient whose phenotype raises exposure, "
            f"for a drug with such advice: {gs.get('possible_pk_intolerance_trials', 0)} trials. These flags "
            "are hypotheses for review, not diagnoses. A CYP2C19 rapid metabolizer is flagged only when the trial "
            "stayed at the standard starting dose (CPIC advises titrating first). The phenotype used "
            "(<code>phenotype</code>) is the genotype one (<code>genotype_phenotype</code>) after phenoconversion "
            "by a concurrent strong/moderate inhibitor (see docs/pgx.md).</p>"
            "<h3>Trials with a phenoconverted phenotype</h3>"
            + (_table(conv[[c for c in cols if c != "flag_reason"] + ["phenoconversion"]], max_rows=15)
               if len(conv) else "<p>None.</p>") +
            "<h3>Trials flagged as possible pharmacokinetic non-response</h3>"
            + (_table(flagged[cols], max_rows=15) if len(flagged) else "<p>None.</p>")
            + "<h3>Trials flagged as possible pharmacokinetic intolerance</h3>"
            + (_table(intol[cols], max_rows=15) if len(intol) else "<p>None.</p>")
            + "<p class='note'>The CPIC recommendation text of every trial is in <code>pgx/guidance.tsv</code>.</p>"
            + "<h3>Guidance actions by drug and gene</h3>" + _table(by, max_rows=60))


def section_clinical(config, r: Path) -> str:
    s = _json(r / "clinical" / "summary.json")
    p = read_table(r / "clinical" / "patients.parquet", kind="clinical.patients")
    ep = config["endpoint"]
    items = {
        "endpoint": f"{ep['kind']} on {ep['instrument']} at week {ep['week']:g}",
        f"{ep['kind']} rate (patients with the endpoint)": s.get("endpoint_rate"),
        "baseline severity, mean (SD)": f"{p['baseline_severity'].mean():.1f} ({p['baseline_severity'].std():.1f})",
        "prorated totals (missing items)": s.get("prorated_totals"),
        "totals missing (too many items missing)": s.get("missing_totals"),
        ">= 2 failed adequate trials in the current episode": int(p.get("trd_2plus_failures", pd.Series()).sum()),
    }
    for inst, n in (s.get("endpoint_converted") or {}).items():
        src = p.loc[p["endpoint_converted_from"] == inst, "endpoint_conversion_source"].iloc[0]
        items[f"endpoint CONVERTED from {inst} to {ep['instrument']} ({src})"] = n
    if "crp_acute" in s:
        what = {"exclude": "left out of indices and strata", "keep": "kept in indices and strata",
                "other_visit": "another visit used where there was one"}[s["crp_acute_policy"]]
        items[f"CRP > {config['clinical']['crp_acute_mg_l']:g} mg/L (possible acute infection; {what})"] = (
            s["crp_acute"])
        items["CRP below detection (kept at the limit)"] = s["crp_below_detection"]
    if s.get("total_only_visits"):
        items["visits with only an instrument total (total-only; no items)"] = (
            f"{s['total_only_visits']} visits of {s.get('total_only_patients', 0)} patients")
    for why, n in (s.get("dimensions_missing") or {}).items():
        items[f"symptom dimensions missing: {why}"] = f"{n} patients"
    out = [_kv(items)]
    if s.get("nesda_strata"):
        st = pd.Series(s["nesda_strata"]).rename("patients").rename_axis("CRP x AES stratum").reset_index()
        out += ["<h3>NESDA immune-metabolic strata (CRP x atypical energy-related symptoms)</h3>", _table(st)]
    return "".join(out)


TRD_LABELS = {
    "sforzini_2021": "Sforzini et al. 2021 (Delphi consensus)",
    "sforzini_pk": "Sforzini, not counting possible pharmacokinetic non-response",
    "thase_rush_1997": "Thase & Rush 1997 stage",
    "msm_band": "Maudsley Staging Method band (Fekadu 2009)",
    "conway_2017": "Conway, George & Sackeim 2017 stage",
    "markowitz_2022": "Markowitz et al. 2022 (psychotherapy required)",
}


def section_trd(config, r: Path) -> str:
    s = _json(r / "trd" / "summary.json")
    if "skipped" in s:
        return f"<p class='statement'>TRD staging skipped: {_e(s['skipped'])}.</p>"
    rows = []
    for col, counts in s.get("definitions", {}).items():
        for k, v in counts.items():
            rows.append({"definition": TRD_LABELS.get(col, col), "category": k, "patients": v})
    conc = _tsv(r / "trd" / "concordance.tsv")
    return (f"<p>{s['n_trials']} treatment trials: {s['adequate_trials']} adequate (dose, duration or sessions), "
            f"{s['trials_adequacy_unknown']} of unknown adequacy (a missing dose, duration or session count, "
            "or no sourced minimum dose for the agent; counted both ways, and a call that depends on them is "
            "NA). Each definition is computed side by side from "
            "the trials of the current episode before the index trial; <code>trd/staging.parquet</code> gives "
            "every patient's call with its reason.</p>"
            "<div class='grid'><div><h3>Patients per definition</h3>" + _table(pd.DataFrame(rows), max_rows=60)
            + "</div><div><h3>Concordance between definitions (TRD yes/no)</h3>"
            + _table(conc.round(3), max_rows=20)
            + "<p class='note'>kappa: Cohen's kappa over patients evaluable under both definitions.</p>"
            "</div></div>")


def section_subtypes(config, r: Path) -> str:
    s = _json(r / "subtype" / "summary.json")
    cls = "statement ok" if s.get("claimed") else "statement"
    missing = s.get("features_missing") or []
    e, st = s.get("existence_test") or {}, s.get("stability") or {}
    if e.get("run"):
        ex = (f"SigClust-style parametric bootstrap against a single Gaussian with the data's covariance: "
              f"2-means cluster index {e['statistic']:.3f} against {e['null_mean']:.3f} (SD {e['null_sd']:.3f}) "
              f"in {e['n_sim']} null simulations, p = {e['p_value']:.3g} (alpha {s['alpha']:g})"
              + (f"; statistic and null data on a fixed random subsample of {e['n_used']:,} of {e['n']:,} patients"
                 if e.get("n_used") and e.get("n") and e["n_used"] < e["n"] else ""))
    else:
        ex = f"not run: {e.get('reason', '')}"
    if st.get("run"):
        stab = (f"{st['n_boot']} bootstrap resamples"
                + (f" of a fixed random subsample of {st['n_used']:,} of {st['n']:,} patients"
                   if st.get("n_used") and st.get("n") and st["n_used"] < st["n"] else "")
                + f", mean adjusted Rand index {st['mean_ari']:.2f}; a cluster "
                f"is stable from a mean Jaccard of {s['stable_jaccard']:g} (Hennig 2007)")
    else:
        stab = f"not run: {st.get('reason', '')}"
    out = [f"<p class='{cls}'>{_e(s.get('statement', ''))}</p>",
           (f"<p class='statement'>Configured clustering features without data in this cohort, not used: "
            f"{_e(', '.join(missing))}.</p>" if missing else ""),
           f"<p class='note'>Method: {_e(s.get('method', ''))}. Features: {_e(', '.join(s.get('features', [])))}, "
           f"standardised; missing values: median imputation ({s.get('n_imputed_patients', 0)} patients had at "
           f"least one imputed value).</p>",
           _kv({"existence test": ex, "stability": stab})]
    imgs = [_img(r / "subtype" / f, alt) for f, alt in (("criterion.png", "selection criterion by k"),
                                                         ("profiles.png", "cluster profiles"))
            if (r / "subtype" / f).exists()]
    if imgs:
        out.append("<div class='grid'>" + "".join(f"<div>{i}</div>" for i in imgs) + "</div>")
    prof = _tsv(r / "subtype" / "profiles.tsv")
    if len(prof):
        cols = ["cluster", "subtype", "n", "stability", "mean_jaccard", *s["features"]]
        out.append("<h3>Cluster profiles (standardised means) and stability</h3>"
                   + _table(prof[[c for c in cols if c in prof.columns]]))
    if s.get("outcome_by_subtype"):
        kind = config["endpoint"]["kind"]
        rows = [{"cluster": o.get("cluster", ""), "subtype": o["subtype"], "n": o["n"],
                 "with endpoint": o["n_with_endpoint"],
                 f"{kind} rate": o["endpoint_rate"],
                 "95% CI": f"{o['ci'][0]:.2f}-{o['ci'][1]:.2f}" if o["ci"][0] is not None else ""}
                for o in s["outcome_by_subtype"]]
        out.append(f"<h3>{kind.capitalize()} by subtype</h3>" + _table(pd.DataFrame(rows)))
        add = s.get("adds_to_severity") or {}
        if add.get("run"):
            out.append(f"<p class='note'>Does subtype add to baseline severity? {_e(add['test'])}: "
                       f"LR = {add['lr_statistic']:.2f}, df = {add['df']}, p = {add['p_value']:.3g} "
                       f"(n = {add['n']}).</p>")
    return "".join(out)


def section_model(config, r: Path) -> str:
    m = _json(r / "model" / "metrics.json")
    task = m.get("task", "classification")
    key, name = ("auc", "AUC") if task == "classification" else ("r2", "R²")
    rows = []
    for model, v in m["metrics"].items():
        cal = v.get("calibration", {})
        row = {"model": model, name: v[key], f"{name} 95% CI": f"{v[key + '_ci'][0]:.3f}-{v[key + '_ci'][1]:.3f}"}
        if task == "classification":
            row.update({"Brier": v["brier"], "balanced accuracy": v["balanced_accuracy"]})
        else:
            row.update({"RMSE": v["rmse"], "MAE": v["mae"]})
        row.update({"calibration slope": _ci_text(cal.get("slope"), cal.get("slope_ci")),
                    "calibration intercept": _ci_text(cal.get("intercept"), cal.get("intercept_ci")),
                    "features": len(m["feature_sets"].get(model, []))})
        rows.append(row)
    main = m["metrics"]["xgboost"]
    lo, hi = main[key + "_ci"]
    null_value = 0.5 if task == "classification" else 0.0
    perm = main.get("permutation_test")
    if perm:
        chance = perm["p_value"] >= 0.05
        verdict = (f"Cross-validated {name} {main[key]:.2f} (95% CI {lo:.2f}-{hi:.2f}); permutation test "
                   f"p = {perm['p_value']:.3g} ({perm['n_permutations']} permutations of the outcome, so the smallest "
                   f"possible p is {1 / (perm['n_permutations'] + 1):.3g}; null {name} "
                   f"{perm['null_mean']:.2f}, 95th percentile {perm['null_95th']:.2f}). ")
        verdict += ("The model's performance is not distinguishable from chance." if chance
                    else "The model predicts better than chance.")
        if lo <= null_value <= hi and not chance:
            verdict += f" (The bootstrap interval includes {null_value:g}.)"
        ok = not chance
    else:
        ok = lo > null_value
        verdict = f"Cross-validated {name} {main[key]:.2f} (95% CI {lo:.2f}-{hi:.2f})."
        if lo <= null_value <= hi:
            verdict += (f" The interval includes {null_value:g}: the model's performance is not distinguishable "
                        "from chance.")
        verdict += " No permutation test was run (model.n_permutations: 0)."
    if main.get("auc_definition"):
        verdict += (f" Under leave-one-site-out the AUC compares patients within the same site (pooled over sites "
                    f"it is {main['auc_pooled']:.2f}, which also mixes in how each site's baseline rate differs from "
                    "the other sites').")
    if hi < null_value:
        verdict += (f" {name} below {null_value:g} is what models that fit noise under cross-validation produce; read "
                    "it as no usable prediction, not as signal.")
    verdict += (f" The {name} interval comes from resampling patients' out-of-fold predictions and leaves out the "
                "variability of the cross-validation itself, so it is somewhat too narrow; the permutation test is "
                "the check against chance.")
    ep = m["endpoint"]
    what = {"response": "response", "remission": "remission", "pct_change": "percent change",
            "trd": f"TRD status after the index treatment ({ep.get('definition')})"}[ep["kind"]]
    base = (f"prevalence {m['prevalence']:.2f}" if task == "classification"
            else f"mean {m['outcome_mean']:.1f}, SD {m['outcome_sd']:.1f}")
    sr = m.get("search", {})
    search = (f"Inside each outer training set, {sr['n_candidates']} XGBoost configurations were compared by "
              f"{sr['inner_folds']}-fold inner cross-validation with early stopping ({sr['early_stopping_rounds']} "
              "rounds); the held-out patients were never used for tuning. "
              + (f"The time budget cut {sr['searches_cut_by_budget']} search(es) short. " if sr.get(
                  "searches_cut_by_budget") else "")
              + (f"Training sets larger than {sr['max_patients']:,} patients were searched on a random "
                 f"{sr['max_patients']:,} of them (model.search.max_patients); the chosen configuration was refitted "
                 "on the whole training set. "
                 if any(f.get("n_patients_searched", 0) < f.get("n_train", 0) for f in m.get("outer_folds", []))
                 and sr.get("max_patients") else "")
              if sr.get("n_candidates") else "No hyperparameter search (model.search.n_candidates: 0). ")
    defined = m.get("endpoint_defined_by") or []
    note = (f"<p class='note'>{_e(', '.join(defined))} enter(s) the TRD definition itself: as predictors their "
            "importance is partly by construction.</p>" if defined else "")
    ps = pd.DataFrame(m.get("per_site", []))
    site_html = ""
    if len(ps) > 1:
        ps = ps.rename(columns={key: f"{name} (out of fold)", "observed_mean": "observed mean",
                                "predicted_mean": "predicted mean"})
        site_html = ("<h3>By site</h3><p class='note'>Out-of-fold predictions of the main model per site"
                     + (" (each site held out in turn)" if m.get("cv_scheme") == "leave-one-site-out" else "")
                     + ".</p>" + _table(ps))
    return (f"<p class='statement{' ok' if ok else ''}'>{_e(verdict)}</p>"
            f"<p>Outcome: {_e(what)} ({_e(ep['instrument'])}, week {ep['week']:g}). {m['n_train']} patients with "
            f"the endpoint ({m['n_excluded_no_endpoint']} without it were left out), {base}. Nested "
            f"cross-validation: {_e(m['cv'])}. {_e(search)}Intervals from {config['model']['n_bootstrap']} "
            "bootstrap resamples of the out-of-fold predictions. Calibration: slope 1 and intercept 0 are ideal; a "
            "slope below 1 means predictions that are too extreme. The model card (model/model_card.md) states "
            "intended use and limitations.</p>" + note
            + _table(pd.DataFrame(rows))
            + "<div class='grid'><div>" + _img(r / "model" / "performance.png",
                                               "ROC curves" if task == "classification" else "observed vs predicted")
            + "</div><div>" + _img(r / "model" / "calibration.png", "calibration plot") + "</div></div>" + site_html)


def _ci_text(v, ci) -> str:
    if v is None or not np.isfinite(v):
        return ""
    return f"{v:.2f}" + (f" ({ci[0]:.2f} to {ci[1]:.2f})" if ci and np.all(np.isfinite(ci)) else "")


def section_explain(config, r: Path) -> str:
    ex = r / "explain"
    s = _json(ex / "summary.json")
    scale = s.get("scale", "log-odds")
    imp = _tsv(ex / "importance.tsv")
    if imp.empty:
        imp = pd.DataFrame(columns=["feature", "mean_abs_shap"])
    out = [f"<p>SHAP values (TreeExplainer, {_e(scale)}) of the final "
           f"{_e(s.get('task', 'classification'))} model, refit on all patients; base value "
           f"{_fmt(s.get('base_value', s.get('base_value_log_odds')))} {_e(scale)}. "
           "Importance is association within this cohort, not causation.</p><div class='grid'><div>",
           _table(imp.head(15)), "</div><div>", _img(ex / "beeswarm.png", "SHAP beeswarm"), "</div></div>"]
    dep = s.get("dependence") or {}
    if dep:
        miss = dep.get("n_missing", {})
        out.append("<h3>Dependence of the top features</h3><p class='note'>SHAP value against feature value, "
                   "coloured by the feature's strongest interaction partner. Patients with the feature missing "
                   "are the grey crosses left of the dashed line: "
                   + _e(", ".join(f"{f} {miss.get(f, 0)}" for f in dep.get("features", []))) + " missing.</p>"
                   + _img(ex / "dependence.png", "SHAP dependence plots"))
    inter = s.get("interactions") or {}
    if (ex / "interactions.tsv").exists():
        sub = (f"a random subsample of {inter.get('n_patients_used')} patients (seed {inter.get('seed')})"
               if inter.get("subsampled") else f"all {inter.get('n_patients_used')} patients")
        out.append("<h3>Strongest SHAP interactions</h3><p class='note'>Mean |SHAP interaction value| of each "
                   f"feature pair ({_e(scale)}; half of the pair's interaction effect, as TreeExplainer reports "
                   f"it), on {_e(sub)}.</p>" + _table(_tsv(ex / "interactions.tsv")))
    out.append(_patient_view(r, s, scale))
    wf = [] if _PSEUDO.get() is not None else (s.get("waterfalls") or [])   # their titles name the patient
    if wf:
        cells = []
        for w in wf:
            pred = f"prediction {_fmt(w['prediction'])} {scale}"
            if "probability" in w:
                pred += f", probability {w['probability']:.2f}"
            cells.append(f"<div style='flex:1 1 300px'><p class='note'>{_e(w['patient_id'])}: {_e(w['reason'])} "
                         f"({_e(pred)})</p>{_img(ex / w['file'], 'waterfall of ' + str(w['patient_id']))}</div>")
        out.append("<h3>Waterfalls</h3><p class='note'>SHAP's waterfall plots for the patients with the highest, "
                   "the lowest and the median prediction; any other patient's can be drawn with "
                   "<code>stratify.explain.shapley.waterfall_for_patient</code>.</p><div class='grid'>"
                   + "".join(cells) + "</div>")
    by = ex / "importance_by_subtype.tsv"
    t = _tsv(by, dtype={"subtype": str})
    if len(t):
        top = imp["feature"].head(8).tolist()
        t = t[t["feature"].isin(top)]
        wide = pd.DataFrame({"feature": top})
        for st_name, g in t.groupby("subtype", sort=True):
            g = g.set_index("feature").reindex(top)
            n = int(g["n"].dropna().iloc[0]) if g["n"].notna().any() else 0
            wide[f"{st_name} (n={n}) mean |SHAP|"] = g["mean_abs_shap"].to_numpy()
            wide[f"{st_name} mean SHAP"] = g["mean_shap"].to_numpy()
        out.append("<h3>SHAP per subtype (top features)</h3><p class='note'>Mean |SHAP| is the importance within "
                   "the subtype; mean SHAP its direction (positive raises that subtype's predictions).</p>"
                   + _table(wide))
    elif (s.get("by_subtype") or {}).get("statement"):
        out.append(f"<p class='statement'>{_e(s['by_subtype']['statement'].capitalize())}.</p>")
    return "".join(out)


PATIENT_VIEW_MAX = 50_000   # patients embedded in the per-patient view (about 40 bytes per feature each)

PATIENT_VIEW_JS = """
(function(){
var D=JSON.parse(document.getElementById('pv-data').textContent);
var ids=Object.keys(D.patients), box=document.getElementById('pv-out'), inp=document.getElementById('pv-id');
var dl=document.getElementById('pv-ids');
ids.slice(0,5000).forEach(function(k){var o=document.createElement('option');o.value=k;dl.appendChild(o);});
function esc(t){return String(t).replace(/[&<>"']/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
function fmt(v){return v===null?'missing':(Math.abs(v)>=1000?v.toFixed(0):Number(v.toPrecision(3)).toString());}
function show(id){
  id=String(id).trim(); var p=D.patients[id];
  if(!p){box.innerHTML='<p class="statement">No patient '+esc(id)+' in this report ('+ids.length+' patients; identifiers are case-sensitive).</p>';return;}
  var c=D.features.map(function(f,i){return {f:f,s:p[1][i],v:p[2][i]};});
  c.sort(function(a,b){return Math.abs(b.s)-Math.abs(a.s);});
  var top=c.slice(0,D.max_display), rest=c.slice(D.max_display), other=rest.reduce(function(t,x){return t+x.s;},0);
  if(rest.length){top.push({f:rest.length+' other features',s:other,v:undefined});}
  var W=720,L=230,R=90,rowH=22,H=rowH*(top.length+2)+30, x0=D.base, x=x0, lo=x0, hi=x0;
  top.forEach(function(t){x+=t.s;lo=Math.min(lo,x);hi=Math.max(hi,x);});
  var pad=(hi-lo)*0.05+1e-9; lo-=pad; hi+=pad;
  function X(v){return L+(v-lo)/(hi-lo)*(W-L-R);}
  var g='<svg width="'+W+'" height="'+H+'" role="img" aria-label="SHAP contributions of '+esc(id)+'">';
  g+='<line x1="'+X(x0)+'" y1="4" x2="'+X(x0)+'" y2="'+(H-24)+'" stroke="#888" stroke-dasharray="3,3"/>';
  x=x0;
  top.forEach(function(t,i){var y=6+i*rowH, a=X(x), b=X(x+t.s), col=t.s>=0?'#c0392b':'#2471a3';
    g+='<text x="'+(L-6)+'" y="'+(y+14)+'" text-anchor="end" font-size="12">'+esc(t.f)+(t.v===undefined?'':' = '+esc(fmt(t.v)))+'</text>';
    g+='<rect x="'+Math.min(a,b)+'" y="'+(y+3)+'" width="'+Math.max(Math.abs(b-a),1)+'" height="'+(rowH-6)+'" fill="'+col+'"/>';
    g+='<text x="'+(Math.max(a,b)+4)+'" y="'+(y+14)+'" font-size="11" fill="#444">'+(t.s>=0?'+':'')+t.s.toFixed(3)+'</text>';
    x+=t.s;});
  var yb=6+top.length*rowH+14;
  g+='<line x1="'+X(x)+'" y1="4" x2="'+X(x)+'" y2="'+(H-24)+'" stroke="#1b4f72"/>';
  g+='<text x="'+X(x0)+'" y="'+(yb+14)+'" font-size="11" text-anchor="middle" fill="#666">base '+x0.toFixed(3)+'</text>';
  g+='<text x="'+X(x)+'" y="'+(yb+28)+'" font-size="11" text-anchor="middle" fill="#1b4f72">f(x) '+x.toFixed(3)+'</text></svg>';
  var pr=D.task==='classification'?', probability '+(1/(1+Math.exp(-p[0]))).toFixed(2):'';
  box.innerHTML='<p><b>'+esc(id)+'</b>: prediction '+p[0].toFixed(3)+' '+esc(D.scale)+pr+
    '. Bars are SHAP values ('+esc(D.scale)+'): red raises the prediction, blue lowers it; they add up from the base value to the prediction.</p>'+g;
}
document.getElementById('pv-form').addEventListener('submit',function(e){e.preventDefault();show(inp.value);});
Array.prototype.forEach.call(document.querySelectorAll('[data-pv]'),function(b){b.addEventListener('click',function(){inp.value=b.getAttribute('data-pv');show(inp.value);});});
if(D.initial){inp.value=D.initial;show(D.initial);}
})();
"""


def _patient_view(r: Path, s: dict[str, Any], scale: str) -> str:
    """A searchable per-patient explanation: every patient's SHAP values and feature values
    embedded as JSON, drawn as a waterfall-style SVG by a few lines of inline JavaScript (no
    library, no network)."""
    sv_path = r / "explain" / "shap_values.parquet"
    if not sv_path.exists():
        return "<p class='note'>(per-patient view not available: explain/shap_values.parquet is missing)</p>"
    sv = pd.read_parquet(sv_path)
    feats = [c for c in sv.columns if c != "patient_id"]
    if len(sv) > PATIENT_VIEW_MAX:
        return (f"<h3>Individual patients</h3><p class='note'>{len(sv)} patients are more than the report embeds "
                f"({PATIENT_VIEW_MAX}); draw any patient's waterfall with "
                "<code>stratify.explain.shapley.waterfall_for_patient</code>.</p>")
    fx = read_table(r / "features" / "features.parquet", kind="features").set_index("patient_id")
    vals = fx.reindex(sv["patient_id"])[[f for f in feats if f in fx.columns]].reindex(columns=feats)
    base = float(s.get("base_value", s.get("base_value_log_odds", 0.0)))
    shap_m = sv[feats].to_numpy(dtype=float)
    pred = base + shap_m.sum(axis=1)

    def num(v):
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        return None if not np.isfinite(f) else round(f, 4)

    ids = [_pid(x) for x in sv["patient_id"]]
    patients = {pid: [round(float(pr), 4), [round(float(v), 4) for v in row], [num(v) for v in xrow]]
                for pid, pr, row, xrow in zip(ids, pred, shap_m, vals.itertuples(index=False, name=None))}
    order = np.argsort(pred)
    picks = {"highest": ids[int(order[-1])], "median": ids[int(order[len(order) // 2])],
             "lowest": ids[int(order[0])]} if len(ids) else {}
    data = {"features": feats, "base": round(base, 6), "scale": scale, "task": s.get("task", "classification"),
            "max_display": 12, "initial": picks.get("highest"), "patients": patients}
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    buttons = " ".join(f"<button type='button' data-pv='{_e(v)}'>{_e(k)} prediction</button>"
                       for k, v in picks.items())
    return ("<h3 id='patient-view'>Individual patients</h3><p class='note'>Type or pick a patient identifier to "
            f"see why the final model predicts what it does for that patient ({len(ids)} patients). The values are "
            "from the model refit on all patients, so they explain its predictions, not the cross-validated ones."
            "</p><form id='pv-form' class='pv'><input id='pv-id' list='pv-ids' placeholder='patient identifier' "
            "aria-label='patient identifier' autocomplete='off'><datalist id='pv-ids'></datalist> "
            f"<button type='submit'>Show</button> {buttons}</form><div id='pv-out'></div>"
            f"<script type='application/json' id='pv-data'>{payload}</script><script>{PATIENT_VIEW_JS}</script>")


def section_heterogeneity(config, r: Path) -> str:
    s = _json(r / "heterogeneity" / "summary.json")
    vr = ("<p class='note'>Trial-level evidence: <code>stratify teh vr</code> compares the spread of outcomes "
          "on treatment and control across published trials (variance-ratio meta-analysis; "
          "docs/heterogeneity.md).</p>")
    if not s:
        return ("<p class='statement'>Not analysed: <code>heterogeneity/summary.json</code> is missing (run "
                "<code>stratify heterogeneity</code>).</p>" + vr)
    if not s.get("run"):
        return f"<p class='statement'>{_e(s['statement'])}</p>" + vr
    arms, t, kind = s["arms"], s["test"], s["endpoint"]["kind"]
    ate = s["ate"]
    ate_txt = (f"{100 * ate['difference']:+.1f} percentage points (95% CI {100 * ate['ci95'][0]:+.1f} to "
               f"{100 * ate['ci95'][1]:+.1f}; p = {ate['p_value']:.3g})" if ate["difference"] is not None else "")
    left = s.get("features_left_out") or {}
    items = {
        "arms (from column " + s["arm_column"] + ")": f"{arms['0']} (reference) vs {arms['1']}; effects are "
                                                      f"{arms['1']} minus {arms['0']}",
        "patients analysed": ", ".join(f"{a}: {n}" for a, n in s["n_per_arm"].items())
        + f" (left out: {s.get('n_no_endpoint', 0)} without the endpoint, {s.get('n_other_arm', 0)} on another "
          f"treatment, {s.get('n_no_arm', 0)} without one)",
        f"{kind} rate": ", ".join(f"{a}: {v:.3f}" for a, v in s["response_rate"].items() if v is not None),
        f"average difference in {kind} (unadjusted)": ate_txt,
        "heterogeneity test (decision)": f"{t['method']}; p = {t['p_value']:.3g}, {t['rule']}",
        "median BLP slope (1: predictions track the effect; 0: no information)": t["beta2_median"],
        f"secondary: same test on {t['secondary']['cate']} (not used for the decision)": t["secondary"]["p_value"],
        "learners": f"{s['learner']}, {s['folds']}-fold cross-fitting; allocation probability of {arms['1']} "
                    f"{s['propensity']:g} (observed share {s['allocation']['observed_share_arm1']:.2f})",
        "features": ", ".join(s["features"]),
    }
    if left:
        items["features left out"] = "; ".join(f"{k}: {v}" for k, v in left.items())
    rows = []
    pai = s["pai"]
    for name, g in [("all", pai["overall"]), (f"top {100 * pai['top']['share']:.0f}% |PAI|", pai["top"]),
                    *((f"{x['tertile']} |PAI| tertile", x) for x in pai["tertiles"])]:
        rows.append({"patients": name, "n indicated arm": g["n_indicated"], "n other arm": g["n_not_indicated"],
                     f"{kind} rate, indicated arm": g["rate_indicated"],
                     f"{kind} rate, other arm": g["rate_not_indicated"],
                     "difference (95% CI)": (f"{g['difference']:+.3f} ({g['ci95'][0]:+.3f} to {g['ci95'][1]:+.3f})"
                                             if g["difference"] is not None else ""),
                     "p (descriptive)": g["p_value"]})
    cls = "statement ok" if s["heterogeneity_claimed"] else "statement"
    return (f"<p class='{cls}'>{_e(s['statement'])}</p>" + _kv(items)
            + "<h3>Personalized Advantage Index (DeRubeis et al. 2014)</h3>"
            f"<p>PAI = predicted P({_e(kind)} | {_e(arms['1'])}) minus P({_e(kind)} | {_e(arms['0'])}), from "
            "models that did not see the patient; the indicated arm is the one with the higher prediction. Since "
            "the arm was randomised, the patients who happened to receive their indicated arm are compared with "
            "those who did not. A benefit here can also come from one arm being better on average; the test above "
            "separates the two, and these p-values are descriptive.</p>" + _table(pd.DataFrame(rows))
            + "<div class='grid'><div>" + _img(r / "heterogeneity" / "pai.png", "response by indicated arm")
            + "</div><div>" + _img(r / "heterogeneity" / "cate.png", "predicted individual effects")
            + "<p class='note'>The spread of predicted effects is not itself evidence of heterogeneity: noise "
              "spreads them too. The test is the evidence.</p></div></div>"
            + "<p class='note'>Per-patient estimates: <code>heterogeneity/cate.parquet</code>.</p>"
            + _site_vr(r, s) + vr)


def _site_vr(r: Path, s: dict[str, Any]) -> str:
    v = s.get("variance_ratio") or {}
    if not v:
        return ""
    head = "<h3>Variance ratio between the arms, sites as studies</h3>"
    if not v.get("run"):
        return head + f"<p class='note'>Not computed: {_e(v.get('reason', ''))}.</p>"
    p = v["pooled"][0]["lnVR"]
    fe, re_ = p["fixed"], p["random"]
    txt = (f"<p>Spread of the {_e(v['outcome'])} on {_e(v['treatment_arm'])} against {_e(v['control_arm'])} in "
           f"{v['k_sites']} sites: VR {re_['ratio']:.3f} (95% CI {re_['ratio_ci_low']:.3f}-{re_['ratio_ci_high']:.3f}) "
           f"by REML random effects, tau² {re_['tau2']:.3g}; fixed effect {fe['ratio']:.3f} "
           f"({fe['ratio_ci_low']:.3f}-{fe['ratio_ci_high']:.3f}). A VR near 1 means equally variable outcomes in "
           "both arms, as in the antidepressant trials Cipriani 2018 pooled; individual differences in response "
           "to one arm would widen its spread. It needs no model, so it also covers what the learners above "
           "cannot see.</p>")
    return head + txt + _img(r / "heterogeneity" / "vr_forest.png", "variance-ratio forest plot by site")


STAGE_OUTPUTS = [("validate", "validate/manifest.json"), ("genotypes", "genotypes/summary.json"),
                 ("pgx", "pgx/summary.json"), ("clinical", "clinical/summary.json"), ("trd", "trd/summary.json"),
                 ("features", "features/summary.json"), ("subtype", "subtype/summary.json"),
                 ("model", "model/metrics.json"), ("heterogeneity", "heterogeneity/summary.json"),
                 ("explain", "explain/summary.json")]


def _run_times(r: Path) -> dict[str, str]:
    """When each stage finished (its summary file's time), and the span from the first to the last."""
    done = {name: _dt.datetime.fromtimestamp((r / rel).stat().st_mtime) for name, rel in STAGE_OUTPUTS
            if (r / rel).exists()}
    if not done:
        return {}
    first, last = min(done.values()), max(done.values())
    out = {"stages finished": ", ".join(f"{k} {v.strftime('%H:%M:%S')}" for k, v in done.items()),
           "first to last stage": f"{first.isoformat(timespec='seconds')} to {last.isoformat(timespec='seconds')} "
                                  f"({(last - first).total_seconds() / 60:.1f} min after validation)"}
    return out


def section_provenance(config, r: Path) -> str:
    man = _json(r / "validate" / "manifest.json")
    inputs = pd.DataFrame([{"input": k, "path": v.get("path"), "sha256": v.get("sha256", ""),
                            "rows": v.get("rows", "")} for k, v in man.get("inputs", {}).items()])
    seeds = {"seed (model, bootstrap, permutations, clustering)": config["seed"]}
    if "simulate" in config:
        seeds["simulate.seed (demo cohort)"] = config["simulate"].get("seed")
    run = {**seeds, **_run_times(r), "report written": _dt.datetime.now().isoformat(timespec="seconds"),
           "results folder": str(r)}
    if _PSEUDO.get() is not None:
        run["patient identifiers"] = ("pseudonymised (salted HMAC-SHA256; salt from " + SALT_ENV
                                      + " or random)")
    return ("<h3>Inputs</h3>" + _table(inputs) + "<h3>Software</h3>" + _kv(_versions())
            + f"<h3>Run</h3>{_kv(run)}"
            + "<h3>Configuration</h3><pre>" + _e(yaml.safe_dump(config, sort_keys=False)) + "</pre>")


def build_report(config: dict[str, Any], results: DeclaredFiles | str | Path) -> str:
    """Render the report from the files it reads: ``results`` is the rule's declared inputs
    (:class:`~stratify.io.layout.DeclaredFiles`), or a finished run's folder (results/<cohort>)
    whose files the layout names (stratify.io.layout.REPORT_READS).

    With ``report.pseudonymise`` every patient identifier is replaced by its salted hash
    (:class:`Pseudonymiser`; salt from ``STRATIFY_REPORT_SALT`` or random), and the finished
    page is checked: a raw identifier left anywhere outside the embedded images stops the
    report with an error rather than publish it.
    """
    r = results if isinstance(results, DeclaredFiles) else DeclaredFiles.from_inputs(input_paths("report", results))
    if not config["report"].get("pseudonymise"):
        return _build(config, r)
    salt = os.environ.get(SALT_ENV, "")
    if not salt:
        salt = secrets.token_hex(32)
        log.warning("report: pseudonymising with a random salt (%s is not set): the pseudonyms cannot be linked "
                    "to patients or to another run; set %s to keep them stable", SALT_ENV, SALT_ENV)
    token = _PSEUDO.set(Pseudonymiser(salt))
    try:
        page = _build(config, r)
    finally:
        _PSEUDO.reset(token)
    leaked = raw_identifiers_in(page, _patient_ids(r))
    if leaked:
        raise RuntimeError(f"report: pseudonymisation left {len(leaked)} raw patient identifier(s) in the page "
                           f"(first: {leaked[0]!r}); the report was not written. Please report this as a bug.")
    return page


def _patient_ids(r: DeclaredFiles) -> list[str]:
    p = r / "validate" / "patients.parquet"
    return [] if not p.exists() else read_table(p, kind="input.patients")["patient_id"].astype(str).tolist()


def raw_identifiers_in(page: str, ids: list[str]) -> list[str]:
    """The identifiers of ``ids`` that occur in ``page`` as whole tokens, outside embedded
    ``data:`` images (base64 text can contain any short string by chance).

    >>> raw_identifiers_in("<td>P001</td><td>P0012</td><img src='data:image/png;base64,P002'>", ["P001", "P002"])
    ['P001']
    """
    text = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "data:", page)
    tokens = set(re.findall(r"[A-Za-z0-9_.:-]+", text))
    plain = re.compile(r"[A-Za-z0-9_.:-]+")
    return [i for i in ids if (i in tokens if plain.fullmatch(i) else (i in text or html.escape(i) in text))]


def _build(config: dict[str, Any], r: DeclaredFiles) -> str:
    builders = {"overview": section_overview, "reconciliation": section_reconciliation, "pgx": section_pgx, "clinical": section_clinical,
                "trd": section_trd,
                "subtypes": section_subtypes, "model": section_model, "explain": section_explain,
                "heterogeneity": section_heterogeneity,
                "provenance": section_provenance}
    body = []
    for sid, title in SECTIONS:
        body.append(f"<section id='{sid}'><h2>{_e(title)}</h2>{builders[sid](config, r)}</section>")
    nav = "".join(f"<a href='#{sid}'>{_e(t)}</a>" for sid, t in SECTIONS)
    title = config["report"]["title"]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}: "
            f"{_e(config['cohort'])}</title><meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<style>{CSS}</style></head><body><header><h1>{_e(title)}</h1><p>cohort {_e(config['cohort'])} "
            f"&middot; stratify {__version__}</p></header><nav>{nav}</nav><main>{''.join(body)}</main></body></html>")
