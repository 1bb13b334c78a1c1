"""The whole Snakemake workflow, to report.html, over the optional inputs.

Options: genotypes {VCF with a scoring file, VCF without, no VCF} x star-allele calls {yes, no} x
biomarkers {yes, no} x treatments {yes, no} x a two-arm randomised index trial {yes, no}: 48
combinations. The runs are a pairwise covering set (every value of every option occurs with
every value of every other option in at least one run), computed here and checked by
`test_runs_cover_every_pair`, so adding an option or value cannot leave a pair untested.

Each cohort is simulated small (`stratify.simulate.cohort.write_cohort`, n = 120), the inputs not in
the run are deleted from its config, and it runs with small but real settings (bootstrap,
permutation and clustering-test counts at their minimum) through `snakemake --cores 2`.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from test_workflow import _snakemake
from test_workflow_dag import assert_edits_plan_only_their_readers, untracked

OPTIONS: dict[str, tuple] = {
    "genotypes": ("vcf+pgs", "vcf", "none"),
    "star_alleles": (True, False),
    "biomarkers": (True, False),
    "treatments": (True, False),
    "two_arm": (True, False),
}

# small but real settings: every stage runs its real code, on few resamples
SMALL = {
    "genotypes": {"pca": {"n_components": 3}},
    "subtype": {"n_null": 20, "n_bootstrap": 20, "n_init": 1, "max_k": 3},
    "model": {"n_bootstrap": 100, "n_permutations": 0, "search": {"n_candidates": 0}},
}


def _pairs(run: dict) -> set[tuple]:
    items = sorted(run.items())
    return {(a, b) for a, b in itertools.combinations(items, 2)}


def all_pairs(options: dict[str, tuple]) -> set[tuple]:
    """Every pair of (option, value) that a pairwise covering set must hold."""
    out = set()
    for run in itertools.product(*options.values()):
        out |= _pairs(dict(zip(options, run)))
    return out


def uncovered_pairs(runs: list[dict], options: dict[str, tuple]) -> set[tuple]:
    """The pairs of option values that no run in ``runs`` holds."""
    covered = set().union(*(_pairs(r) for r in runs)) if runs else set()
    return all_pairs(options) - covered


def pairwise_runs(options: dict[str, tuple]) -> list[dict]:
    """A pairwise covering set, greedily: each step takes the combination (in product order) that
    covers the most pairs not yet covered. Deterministic; 6-8 runs for the options above (6 is the
    least possible: 3 genotype values x 2 values of any other option)."""
    todo = all_pairs(options)
    candidates = [dict(zip(options, run)) for run in itertools.product(*options.values())]
    runs = []
    while todo:
        best = max(candidates, key=lambda r: len(_pairs(r) & todo))
        runs.append(best)
        todo -= _pairs(best)
    return runs


RUNS = pairwise_runs(OPTIONS)


def _run_id(run: dict) -> str:
    return "-".join([run["genotypes"]] + [("" if run[k] else "no_") + k for k in list(OPTIONS)[1:]])


def test_runs_cover_every_pair():
    assert not uncovered_pairs(RUNS, OPTIONS)
    assert 6 <= len(RUNS) <= 9, len(RUNS)
    assert len({_run_id(r) for r in RUNS}) == len(RUNS)
    # the check can fail: without any one run some pair is no longer covered
    for i in range(len(RUNS)):
        assert uncovered_pairs(RUNS[:i] + RUNS[i + 1 :], OPTIONS), f"run {i} adds no pair"


def make_cohort(run: dict, folder: Path) -> Path:
    """A simulated cohort with the inputs of ``run``; returns its config file."""
    from stratify.simulate.cohort import write_cohort

    genetic = run["genotypes"] != "none" or run["star_alleles"]
    paths = write_cohort(
        folder / "cohort",
        n=120,
        seed=13,
        n_snps=200,
        genotypes=genetic,
        teh="planted" if run["two_arm"] else None,
        cohort="matrix",
    )
    cfg = yaml.safe_load(Path(paths["config"]).read_text())
    inputs = cfg["inputs"]
    if run["genotypes"] == "none":
        inputs.pop("genotypes", None)
    elif run["genotypes"] == "vcf":
        del inputs["genotypes"]["pgs"]
    if not run["star_alleles"]:
        inputs.pop("star_alleles", None)
    if not run["biomarkers"]:
        del inputs["biomarkers"]
    if run["two_arm"] and not run["treatments"]:
        # no treatments table, so the arm is a patient covariate (docs/inputs.md, heterogeneity.arm_column)
        trt = pd.read_csv(paths["treatments"], sep="\t")
        index = trt[trt["prospective"].astype(str).str.lower() == "true"].set_index("patient_id")["agent"]
        arms = cfg["heterogeneity"]["arms"]
        pts = pd.read_csv(paths["patients"], sep="\t", dtype=str, keep_default_na=False)
        pts["arm"] = pts["patient_id"].map(index).map({arms[0]: "0", arms[1]: "1"}).fillna("")
        pts.to_csv(paths["patients"], sep="\t", index=False)
        cfg["patient_covariates"] = ["arm"]
        cfg["heterogeneity"].update(arm_column="arm", arms=[0, 1])
    if not run["treatments"]:
        del inputs["treatments"]
        cfg["features"] = {"clinical": ["age", "sex_female", "baseline_severity", "anhedonia", "aes"]}
    if run["two_arm"]:
        cfg["heterogeneity"].update(learner="logistic", n_splits=2)
    cfg.update(SMALL)
    p = folder / "config.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def _skipped_table(html: str) -> str:
    """The report's "What was skipped, and why" table."""
    start = html.index("What was skipped, and why")
    return html[start : html.index("</table>", start)]


@pytest.mark.parametrize("run", RUNS, ids=_run_id)
def test_workflow_runs_to_the_report(run, tmp_path):
    cfg = make_cohort(run, tmp_path)
    res = _snakemake("--cores", "2", "--directory", str(tmp_path), "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r = tmp_path / "results" / "matrix"
    html = (r / "report" / "report.html").read_text()
    skipped = _skipped_table(html)
    said = {
        "genotypes": "no VCF given" in skipped,
        "pgs": "no polygenic-score files given" in skipped,
        "star_alleles": "no star-allele calls given" in skipped,
        "biomarkers": "not given in the config (inputs.biomarkers)" in skipped,
        "treatments": "not given in the config (inputs.treatments)" in skipped,
    }
    assert said == {
        "genotypes": run["genotypes"] == "none",
        "pgs": run["genotypes"] == "vcf",
        "star_alleles": not run["star_alleles"],
        "biomarkers": not run["biomarkers"],
        "treatments": not run["treatments"],
    }, said
    het = json.loads((r / "heterogeneity" / "summary.json").read_text())
    assert het["run"] is run["two_arm"], het.get("statement")
    if not run["two_arm"]:
        assert "Treatment-effect heterogeneity was not analysed" in html
    # an empty result is a table with its header, never an empty or one-byte file
    for tsv in sorted(r.rglob("*.tsv")):
        assert pd.read_csv(tsv, sep="\t").columns.size > 0, tsv
    prs = pd.read_csv(r / "genotypes" / "prs_report.tsv", sep="\t")
    assert len(prs) == (1 if run["genotypes"] == "vcf+pgs" else 0)
    missing = pd.read_csv(r / "genotypes" / "patients_without_genotypes.tsv", sep="\t")
    assert len(missing) == (120 if run["genotypes"] == "none" else 0)
    _assert_reconciled(html)
    assert untracked(tmp_path, cfg) == []  # every file of the run is a declared output or log


def _assert_reconciled(html: str) -> None:
    start = html.index("<section id='reconciliation'>")
    section = html[start : html.index("</section>", start)]
    assert "Every input row and every patient is accounted for at every stage." in section
    assert "does not reconcile" not in section


# ---------------------------------------------------------------- every shipped cohort config, end to end

REPO = Path(__file__).resolve().parent.parent


def _shipped() -> list[Path]:
    """config.yaml and the cohort configs of cohorts/, where a consortium config (cohorts/
    consortium_demo.yaml) stands for the cohort configs it lists: each runs on its own."""
    out = [REPO / "config.yaml"]
    for path in (REPO / "cohorts").glob("*.yaml"):
        raw = yaml.safe_load(path.read_text())
        if "consortium" in raw:
            out += [(path.parent / c).resolve() for c in raw["consortium"]["cohorts"]]
        else:
            out.append(path)
    return sorted(out)


SHIPPED = _shipped()
# configs that another test already runs end to end at their own size (not shrunk)
RUN_ELSEWHERE = {"demo_null_noVCF.yaml": ("test_workflow.py", "test_second_cohort_config_runs_end_to_end")}


def test_every_shipped_config_runs_somewhere():
    for path in SHIPPED:
        if path.name in RUN_ELSEWHERE:
            module, test = RUN_ELSEWHERE[path.name]
            source = (Path(__file__).parent / module).read_text()
            body = source[source.index(f"def {test}(") :]
            assert f'"{path.name}"' in body.split("\ndef ")[0], f"{module}::{test} no longer runs {path.name}"
    assert {p.name for p in SHIPPED} - set(RUN_ELSEWHERE), "no shipped config is run by this module"


def shrunk_config(path: Path, folder: Path, n: int = 120) -> Path:
    """A copy of a shipped config with a smaller simulated cohort and fewer resamples; everything
    else (inputs, endpoint, features, heterogeneity) as shipped. Written where it lies in the
    repository, relative to ``folder`` (the run's working directory), so that its relative paths
    (``../results/...`` from cohorts/) lead into ``folder/results`` as they lead into the repository's."""
    cfg = yaml.safe_load(path.read_text())
    assert "simulate" in cfg, f"{path.name}: a shipped config simulates its cohort"
    cfg["simulate"]["n"] = n
    for section, values in SMALL.items():
        if section != "genotypes":
            cfg[section] = {**cfg.get(section, {}), **values}
    if "heterogeneity" in cfg:
        cfg["heterogeneity"]["n_splits"] = 1
    p = folder / path.relative_to(REPO)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.name not in RUN_ELSEWHERE], ids=lambda p: p.name)
def test_shipped_config_runs_to_the_report(path, tmp_path):
    cfg = shrunk_config(path, tmp_path)
    res = _snakemake("--cores", "2", "--directory", str(tmp_path), "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    cohort = yaml.safe_load(path.read_text())["cohort"]
    r = tmp_path / "results" / cohort
    html = (r / "report" / "report.html").read_text()
    for section in (
        "overview",
        "reconciliation",
        "pgx",
        "clinical",
        "trd",
        "subtypes",
        "model",
        "explain",
        "heterogeneity",
        "provenance",
    ):
        assert f"<section id='{section}'>" in html, section
    _assert_reconciled(html)
    assert json.loads((r / "validate" / "manifest.json").read_text())["n_patients"] == 120
    assert untracked(tmp_path, cfg) == []  # every file of the run is a declared output or log
    if path.name == "config.yaml":  # the demo's shape: a config edit re-plans only the rules that read it
        assert_edits_plan_only_their_readers(tmp_path, cfg)
