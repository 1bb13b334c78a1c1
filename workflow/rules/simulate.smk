# Demo cohorts only: a cohort whose config has a `simulate` block is written first. One rule per
# such cohort (its files are named in its config): `simulate` for a cohort config,
# `simulate_<cohort>` for each simulated cohort of a consortium.


def simulate_rule_name(cohort):
    """The simulate rule's name for ``cohort``."""
    return "simulate" if CONSORTIUM is None else "simulate_" + re.sub(r"\W", "_", cohort)


for _cohort_name, _cfg in COHORTS.items():
    if "simulate" not in _cfg:
        continue
    _sim = _cfg["simulate"]

    rule:
        name:
            simulate_rule_name(_cohort_name)
        output:
            **simulated_files(_cohort_name),
        log:
            f"logs/{_cohort_name}/simulate.log",
        conda:
            "../../environment.yml"
        resources:
            mem_mb=4000,
        params:
            out=lambda wc, output: str(Path(output.patients).parent),
            n=_sim["n"],
            seed=_sim["seed"],
            null=(f"--null --null-kind {_sim['null_kind']}" if _sim["null_twin"] else ""),
            teh=f"--teh {_sim['teh']}" if "teh" in _sim else "",
            genotypes="" if simulated_genotypes(_cohort_name) else "--no-genotypes",
            labels=simulate_label_args(_sim),
            cohort=_cohort_name,
        shell:
            "stratify simulate --n {params.n} --seed {params.seed} {params.null} {params.teh} {params.genotypes} {params.labels} "
            "--out {params.out} --cohort {params.cohort} --log {log}"
