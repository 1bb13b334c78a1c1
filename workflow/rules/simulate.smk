# Demo cohorts only: when the config has a `simulate` block, write the cohort first.
if "simulate" in config:

    rule simulate:
        output:
            **simulated_files(),
        log:
            f"{LOGS}/simulate.log",
        conda:
            "../../environment.yml"
        params:
            out=lambda wc: str(Path(config["inputs"]["patients"]).parent),
            n=config["simulate"]["n"],
            seed=config["simulate"]["seed"],
            null=(f"--null --null-kind {config['simulate']['null_kind']}" if config["simulate"]["null_twin"] else ""),
            teh=f"--teh {config['simulate']['teh']}" if "teh" in config["simulate"] else "",
            genotypes="" if simulated_genotypes() else "--no-genotypes",
            labels=simulate_label_args(config["simulate"]),
            cohort=COHORT,
        shell:
            "stratify simulate --n {params.n} --seed {params.seed} {params.null} {params.teh} {params.genotypes} {params.labels} "
            "--out {params.out} --cohort {params.cohort} --log {log}"
