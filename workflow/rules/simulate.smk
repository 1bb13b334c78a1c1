# Demo cohorts only: when the config has a `simulate` block, write the cohort first.
if "simulate" in config:

    rule simulate:
        output:
            **cohort_files(),
        params:
            out=lambda wc: str(Path(config["inputs"]["patients"]).parent),
            n=config["simulate"]["n"],
            seed=config["simulate"]["seed"],
            null="--null" if config["simulate"]["null_twin"] else "",
            teh=f"--teh {config['simulate']['teh']}" if "teh" in config["simulate"] else "",
            # a cohort that reads neither a VCF nor star-allele calls gets none written
            genotypes=""
            if "vcf" in cohort_files() or config["inputs"].get("star_alleles")
            else "--no-genotypes",
            cohort=COHORT,
        log:
            f"{LOGS}/simulate.log",
        conda:
            "../../environment.yml"
        shell:
            "stratify simulate --n {params.n} --seed {params.seed} {params.null} {params.teh} {params.genotypes} "
            "--out {params.out} --cohort {params.cohort} --log {log}"
