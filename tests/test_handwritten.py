"""A cohort written by hand against docs/inputs.md (tests/data/handwritten, see its README) runs
through the whole Snakemake workflow to report.html, and every quirk it holds is accounted for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from stratify.io.tables import read_table
from test_workflow import _snakemake

DATA = Path(__file__).resolve().parent / "data" / "handwritten"
NO_DNA = ["HCB-006", "HCB-017", "KCL-011", "KCL-027", "LMU-013", "LMU-026"]
NO_ENDPOINT = {"HCB-002", "HCB-009", "KCL-006", "KCL-031", "LMU-013"}


def absolute_config(folder: Path) -> Path:
    """The folder's config.yaml with every input path made absolute (relative to the folder)."""
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    inputs = cfg["inputs"]
    for key in ("patients", "symptoms", "treatments", "biomarkers"):
        if key in inputs:
            inputs[key] = str(folder / inputs[key])
    gen = inputs.get("genotypes", {})
    for key in ("vcf", "sample_map"):
        if key in gen:
            gen[key] = str(folder / gen[key])
    if "pgs" in gen:
        gen["pgs"] = [str(folder / p) for p in gen["pgs"]]
    for sa in inputs.get("star_alleles", []):
        for key in ("path", "sample_map"):
            if key in sa:
                sa[key] = str(folder / sa[key])
    p = folder / "config.abs.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


@pytest.fixture(scope="module")
def handwritten(tmp_path_factory):
    base = tmp_path_factory.mktemp("handwritten")
    folder = base / "cohort"
    shutil.copytree(DATA, folder)
    cfg = absolute_config(folder)
    res = _snakemake("--cores", "2", "--directory", str(base), "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r = base / "results" / "handwritten"
    return {"results": r, "html": (r / "report" / "report.html").read_text()}


def _json(run, rel):
    return json.loads((run["results"] / rel).read_text())


def test_every_input_row_is_read(handwritten):
    man = _json(handwritten, "validate/manifest.json")
    for name in ("patients", "symptoms", "treatments", "biomarkers"):
        lines = [ln for ln in (DATA / f"{name}.tsv").read_text().splitlines()[1:] if ln.strip()]
        assert man["inputs"][name]["rows"] == len(lines), name
    assert man["n_patients"] == 48 and man["skipped"] == {}


def test_vcf_samples_and_patients_without_dna_are_accounted_for(handwritten):
    g = _json(handwritten, "genotypes/summary.json")
    assert (g["samples"], g["samples_used"], g["n_samples_not_in_cohort"]) == (44, 42, 2)
    assert sorted(g["samples_not_in_cohort"]) == ["NA12878", "WGS00412"]
    assert "pgs_skipped" in g  # no scoring file given: said, not silent
    missing = pd.read_csv(handwritten["results"] / "genotypes" / "patients_without_genotypes.tsv", sep="\t")
    assert sorted(missing["patient_id"]) == NO_DNA
    assert set(missing["reason"]) == {"not in the sample map (inputs.genotypes.sample_map)"}
    html = handwritten["html"]
    assert "6 patients without a VCF sample" in html and "HCB-006" in html


def test_cyp2c19_calls_match_the_written_diplotypes(handwritten):
    calls = read_table(handwritten["results"] / "pgx" / "calls.parquet", kind="pgx.calls")
    vcf = calls[(calls["source_tool"] == "stratify-vcf") & (calls["gene"] == "CYP2C19")].set_index("sample")
    expected = pd.read_csv(DATA / "cyp2c19_expected.tsv", sep="\t", keep_default_na=False).set_index("sample_id")
    expected = expected.loc[expected.index.isin(vcf.index)]
    assert len(expected) == 42
    clean = expected[expected["note"] == ""]
    got = vcf.loc[clean.index]
    assert (got["status"] == "called").all(), got[got["status"] != "called"]
    assert (got["diplotype"] == clean["diplotype"]).all(), pd.concat([got["diplotype"], clean["diplotype"]], axis=1)


def test_cyrius_calls_and_the_control_sample(handwritten):
    s = _json(handwritten, "pgx/summary.json")
    cyr = [x for x in s["sources"] if x["tool"] == "cyrius"][0]
    assert (cyr["calls"], cyr["not_in_cohort"]) == (42, 1)
    calls = read_table(handwritten["results"] / "pgx" / "calls.parquet", kind="pgx.calls")
    d6 = calls[calls["gene"] == "CYP2D6"]
    assert d6["status"].value_counts().to_dict() == {"called": 39, "ambiguous": 2, "no-call": 1}


def test_patients_without_the_endpoint_are_counted_by_reason(handwritten):
    feats = read_table(handwritten["results"] / "features" / "features.parquet", kind="features")
    assert len(feats) == 48
    assert set(feats.loc[feats["y"].isna(), "patient_id"]) == NO_ENDPOINT
    m = _json(handwritten, "model/metrics.json")
    assert (m["n_train"], m["n_excluded_no_endpoint"]) == (43, 5)
    fs = _json(handwritten, "features/summary.json")
    assert sum(fs["endpoint_missing_reasons"].values()) == 5


def test_report_reconciles_every_stage(handwritten):
    html = handwritten["html"]
    start = html.index("<section id='reconciliation'>")
    sec = html[start : html.index("</section>", start)]
    assert "does not reconcile" not in sec
    for what in ("patients.tsv", "symptoms.tsv", "treatments.tsv", "biomarkers.tsv", "model", "5 without the endpoint"):
        assert what in sec, what


def _rebuild(handwritten, tmp_path, **report):
    from stratify.report.build import build_report

    results = tmp_path / "results"
    shutil.copytree(handwritten["results"], results)
    cfg = yaml.safe_load((results / "settings" / "report.yaml").read_text())
    cfg["report"].update(report)
    return results, cfg, build_report


def test_a_lost_patient_does_not_reconcile(handwritten, tmp_path):
    from stratify.io.tables import write_table

    results, cfg, build_report = _rebuild(handwritten, tmp_path)
    clin = read_table(results / "clinical" / "patients.parquet", kind="clinical.patients")
    write_table(clin.iloc[1:], results / "clinical" / "patients.parquet", kind="clinical.patients")
    html = build_report(cfg, results)
    start = html.index("<section id='reconciliation'>")
    sec = html[start : html.index("</section>", start)]
    assert "1 row(s) below do not reconcile" in sec and sec.count("does not reconcile") == 1


def test_pseudonymised_reconciliation_names_no_patient(handwritten, tmp_path, monkeypatch):
    monkeypatch.setenv("STRATIFY_REPORT_SALT", "handwritten")
    results, cfg, build_report = _rebuild(handwritten, tmp_path, pseudonymise=True)
    html = build_report(cfg, results)  # raises if a raw identifier is left in the page
    assert "6 patients without a VCF sample" in html and "HCB-006" not in html


def test_make_vcf_rewrites_the_committed_vcf(tmp_path):
    import gzip
    import runpy

    runpy.run_path(str(DATA / "make_vcf.py"))["main"](tmp_path)
    with gzip.open(tmp_path / "genotypes.vcf.gz", "rt") as new, gzip.open(DATA / "genotypes.vcf.gz", "rt") as old:
        assert new.read() == old.read()
    assert (tmp_path / "cyp2c19_expected.tsv").read_text() == (DATA / "cyp2c19_expected.tsv").read_text()
