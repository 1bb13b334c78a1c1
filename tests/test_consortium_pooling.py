"""Site bundles (aggregates only) and random-effects pooling from bundles and from the raw data."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from stratify.consortium.bundle import read_bundle, summarise, write_bundle
from stratify.consortium.pooling import pool_bundles, pool_raw, profile_match
from stratify.consortium.replication import read_cohort_subtypes, replicate
from stratify.errors import InputError, StratifyError
from stratify.io.tables import read_table

#: keys of a bundle that hold a count of patients
COUNT_KEYS = {
    "n",
    "n_with_endpoint",
    "responders",
    "non_responders",
    "n_complete",
    "n_pos",
    "n_neg",
    "n_train",
    "n_treatment",
    "n_control",
}


def _bundles(runs, tmp_path, *, min_cell):
    out = []
    for name, run in runs.items():
        path = write_bundle(summarise(run["results"], min_cell=min_cell, cohort=name), tmp_path / f"{name}.json")
        out.append(read_bundle(path))
    return out


def _leaves(obj, key=None):
    """Every (key, value) of a nested JSON document, keys included as values."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield None, k
            yield from _leaves(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v, key)
    else:
        yield key, obj


def _close(a, b, path=""):
    """Assert two pooled results agree: numbers to 1e-8, everything else exactly."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            if k != "source":
                _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-8, (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_pooled_estimates_from_bundles_equal_those_from_the_raw_data(consortium_runs, tmp_path):
    bundles = _bundles(consortium_runs, tmp_path, min_cell=10)
    from_bundles = pool_bundles(bundles)
    from_raw = pool_raw({n: r["results"] for n, r in consortium_runs.items()}, min_cell=10)
    _close(from_bundles, from_raw)
    # what was pooled: every cohort overall and for the AUC, the planted subtype where claimed, the trials' sites
    assert from_bundles["response"]["all patients"]["k"] == 5
    assert from_bundles["response"]["immune-metabolic"]["k"] >= 2
    assert from_bundles["auc"]["k"] == 5
    assert from_bundles["variance_ratio"]["k"] >= 4  # the sites of siteD and siteE
    assert {s["study"].split(" / ")[0] for s in from_bundles["variance_ratio"]["studies"]} == {"siteD", "siteE"}
    im = from_bundles["response"]["immune-metabolic"]
    assert 0 < im["rate"]["ci_low"] < im["rate"]["estimate"] < im["rate"]["ci_high"] < 1
    aucs = [s["auc"] for s in from_bundles["auc"]["studies"]]
    assert min(aucs) <= from_bundles["auc"]["rate"]["estimate"] <= max(aucs)


def test_suppressed_cells_are_left_out_of_both_poolings_alike(consortium_runs, tmp_path):
    """A min_cell that blanks the smaller subtypes and some trial sites: still the same numbers."""
    bundles = _bundles(consortium_runs, tmp_path, min_cell=120)
    from_bundles = pool_bundles(bundles)
    _close(from_bundles, pool_raw({n: r["results"] for n, r in consortium_runs.items()}, min_cell=120))
    assert any(r["suppressed"] for b in bundles for r in b["subtypes"]["response"])


@pytest.mark.parametrize("min_cell", [10, 40, 120])
def test_a_bundle_holds_no_patient_identifier_and_no_small_cell(consortium_runs, tmp_path, min_cell):
    for b, (name, run) in zip(
        _bundles(consortium_runs, tmp_path, min_cell=min_cell), consortium_runs.items(), strict=True
    ):
        ids = set(read_table(run["results"] / "validate" / "patients.parquet", kind="input.patients")["patient_id"])
        text = json.dumps(b)
        for key, value in _leaves(b):
            assert str(value) not in ids, (name, key, value)
            if key in COUNT_KEYS and value is not None:
                assert value >= min_cell, (name, key, value)
        assert not any(pid in text for pid in ids)
        for table in (b["subtypes"]["response"], b["subtypes"]["profiles"], b["variance_ratio"].get("sites", [])):
            for row in table:
                counts = [row[k] for k in COUNT_KEYS & set(row)]
                assert all(v is None for v in counts) if row["suppressed"] else all(v >= min_cell for v in counts)
            assert sum(r["suppressed"] for r in table) != 1 or len(table) == 1  # secondary suppression


def test_secondary_suppression_hides_a_small_cluster_that_a_total_would_reveal(consortium_runs, tmp_path):
    """siteC (null) has a cluster of fewer than 40 patients: it and the next smallest are blanked."""
    b = summarise(consortium_runs["siteC"]["results"], min_cell=40, cohort="siteC")
    rows = b["subtypes"]["response"]
    assert sum(r["suppressed"] for r in rows) == 2 and len(rows) == 3
    assert b["counts"]["n"] == 400


def test_bundle_errors(consortium_runs, tmp_path):
    with pytest.raises(ValueError, match="min_cell must be at least 1"):
        summarise(consortium_runs["siteA"]["results"], min_cell=0)
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "other"}')
    with pytest.raises(InputError, match="expected a site bundle"):
        read_bundle(bad)
    with pytest.raises(StratifyError, match="features.parquet"):
        summarise(tmp_path, min_cell=10)


def test_the_identifier_scan_finds_an_identifier(consortium_runs):
    """The scan above can fail: a patient ID hidden in a nested row is found."""
    b = summarise(consortium_runs["siteA"]["results"], min_cell=10, cohort="siteA")
    b["subtypes"]["response"][0]["note"] = "P00042"
    assert "P00042" in {str(v) for _, v in _leaves(b)}


def test_profile_comparison_from_bundles_equals_the_replications_centroid_match(consortium_runs, tmp_path):
    bundles = {b["cohort"]: b for b in _bundles(consortium_runs, tmp_path, min_cell=10)}
    m = profile_match(bundles["siteA"], bundles["siteB"])
    a, b = (read_cohort_subtypes(n, consortium_runs[n]["results"]) for n in ("siteA", "siteB"))
    raw = pd.DataFrame(replicate(a, b)["clusters"])
    assert m["cluster_b"].tolist() == raw["cluster_b"].tolist()
    assert (m["distance"] - raw["distance"]).abs().max() < 1e-8
    im = m[m["name_a"] == "immune-metabolic"].iloc[0]
    assert im["name_b"] == "immune-metabolic" and im["distance"] < 0.5


def test_summarise_command_writes_the_bundle_of_a_results_folder(consortium_runs, tmp_path, capsys):
    import json

    from stratify.cli import main
    from stratify.consortium.bundle import read_bundle, summarise

    results = next(iter(consortium_runs.values()))["results"]
    out = tmp_path / "site" / "bundle.json"
    assert main(["summarise", str(results), "--out", str(out), "--min-cell", "12", "--cohort", "site_x"]) == 0
    assert "aggregates only" in capsys.readouterr().out
    written = read_bundle(out)
    assert written == json.loads(json.dumps(summarise(results, min_cell=12, cohort="site_x")))
    assert written["min_cell"] == 12 and written["cohort"] == "site_x"


def test_summarise_command_errors_name_the_folder(tmp_path, capsys):
    from stratify.cli import main

    assert main(["summarise", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b.json")]) == 2
    assert "nowhere: not a results folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["summarise", str(tmp_path / "empty"), "--out", str(tmp_path / "b.json")]) == 2
    assert "features.parquet: expected a 'features' table, but the file does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["summarise", str(tmp_path / "empty"), "--out", str(tmp_path / "b.json"), "--min-cell", "0"])
    assert "--min-cell: expected a whole number >= 1" in capsys.readouterr().err
