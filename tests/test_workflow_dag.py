"""Snakemake sees every file, and a config change re-plans only the rules that read it.

The checks that need a finished run (``untracked``, ``assert_edits_plan_only_their_readers``)
are called by the tests that already run the workflow (tests/test_matrix.py and
tests/test_workflow.py), so they cost no extra run; the tests here are the fast ones.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from stratify.io import layout

REPO = Path(__file__).resolve().parent.parent


def untracked(folder: Path, config: Path) -> list[str]:
    """``snakemake --list-untracked`` in ``folder``: the files under results/ and logs/ no rule
    declares (the rest of the folder is the test's own: the config, a hand-made cohort)."""
    from test_workflow import _snakemake

    res = _snakemake("--list-untracked", "--directory", str(folder), "--configfile", str(config))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    lines = (res.stdout + res.stderr).splitlines()
    return sorted(ln.strip() for ln in lines if ln.strip().startswith(("results/", "logs/")))


def parse_planned_jobs(text: str) -> dict[str, int]:
    """The "Job stats" table of a dry run as {rule: count}, without the total; {} when nothing is planned.

    >>> parse_planned_jobs("Job stats:\\njob      count\\n-----  -----\\nreport 1\\nall 1\\ntotal 2\\n\\nmore")
    {'report': 1, 'all': 1}
    """
    if "Job stats:" not in text:
        return {}
    jobs = {}
    for line in text.split("Job stats:", 1)[1].splitlines()[3:]:
        m = re.fullmatch(r"\s*(\S+)\s+(\d+)\s*", line)
        if not m or m.group(1) == "total":
            break
        jobs[m.group(1)] = int(m.group(2))
    return jobs


def planned_jobs(folder: Path, config: Path) -> dict[str, int]:
    """The jobs ``snakemake -n`` plans in ``folder`` for ``config``."""
    from test_workflow import _snakemake

    res = _snakemake("-n", "--directory", str(folder), "--configfile", str(config))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return parse_planned_jobs(res.stdout + res.stderr)


def _edited(config: Path, section: str, key: str, value) -> Path:
    cfg = yaml.safe_load(config.read_text())
    cfg.setdefault(section, {})[key] = value
    out = config.with_name(f"edited_{section}_{key}.yaml")
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def assert_edits_plan_only_their_readers(folder: Path, config: Path) -> None:
    """After a finished run: editing report.title plans only the report; editing subtype.method
    plans the subtype stage and what reads its outputs (explain, report), not model or genotypes."""
    assert planned_jobs(folder, config) == {}, "a finished run has nothing to do"
    title = planned_jobs(folder, _edited(config, "report", "title", "Another title"))
    assert title == {"report": 1, "all": 1}, title
    method = planned_jobs(folder, _edited(config, "subtype", "method", "kmeans"))
    assert method == {"subtype": 1, "explain": 1, "report": 1, "all": 1}, method


def test_parse_planned_jobs_reads_the_table_and_nothing_else():
    text = (
        "Building DAG of jobs...\nJob stats:\njob        count\n-------  -------\nsubtype        1\n"
        "explain        1\ntotal          2\n\nReasons:\n    foo 3\n"
    )
    assert parse_planned_jobs(text) == {"subtype": 1, "explain": 1}
    assert parse_planned_jobs("Nothing to be done (all requested files are present and up to date).") == {}


def _demo_config() -> dict:
    from stratify.config import load_config

    return load_config(REPO / "config.yaml", check_files=False)


@pytest.mark.parametrize(
    "edit,readers",
    [
        (("report", "title"), {"report"}),
        (("subtype", "method"), {"subtype"}),
        (("subtype", "features"), {"features", "subtype"}),
        (("model", "n_bootstrap"), {"model"}),
        (("genotypes", "sample_chunk"), {"genotypes", "genotypes_plan", "genotypes_pca", "genotypes_shard"}),
    ],
)
def test_a_setting_is_in_the_settings_of_the_stages_that_read_it_only(edit, readers):
    cfg = _demo_config()
    section, key = edit
    changed = {**cfg, section: {**cfg[section], key: "changed"}}
    differ = {s for s in layout.SETTINGS if layout.config_slice(cfg, s) != layout.config_slice(changed, s)}
    assert differ == readers | {"report"}  # the report shows the whole configuration


def test_every_stage_writes_only_into_its_own_folder_and_no_file_twice():
    seen = {}
    for stage, files in layout.OUTPUTS.items():
        for key, rel in files.items():
            assert rel.split("/")[0] == stage.split("_")[0], (stage, key, rel)
            assert rel not in seen, f"{rel}: written by {seen[rel]} and {stage}"
            seen[rel] = stage


def test_every_input_is_an_output_of_an_earlier_stage():
    for stage, refs in layout.INPUTS.items():
        for key, ref in refs.items():
            producer, out = ref.split(":")
            assert out in layout.OUTPUTS[producer], (stage, key, ref)
            assert producer != stage


def test_the_report_reads_only_declared_files(tmp_path):
    files = layout.DeclaredFiles.from_inputs(layout.input_paths("report", tmp_path))
    assert files / "pgx" / "summary.json" == tmp_path / "pgx" / "summary.json"
    with pytest.raises(Exception, match="does not declare"):
        files / "model" / "xgboost.json"
