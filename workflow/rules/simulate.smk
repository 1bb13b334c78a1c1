# Demo cohorts only: when the config has a `simulate` block, write the cohort first.
if "simulate" in config:
    # a cohort that reads neither a VCF nor star-allele calls gets none written
    SIM_GENOTYPES = "vcf" in cohort_files() or bool(config["inputs"].get("star_alleles"))
    SIM_DIR = Path(config["inputs"]["patients"]).parent


    def simulated_files(wildcards=None):
        """Every file `stratify simulate` writes (stratify.simulate.cohort.write_cohort), the
        cohort's inputs among them."""
        names = ["patients.tsv", "symptoms.tsv", "treatments.tsv", "biomarkers.tsv", "sample_map.tsv",
                 "truth.tsv", "truth.yaml", "config.yaml"]
        if SIM_GENOTYPES:
            names += ["genotypes.vcf.gz", "genotypes.vcf.gz.tbi", "PGS_SIM_hmPOS_GRCh38.txt.gz",
                      "cyp2d6.cyrius.tsv"]
        files = cohort_files()
        known = set(files.values())
        extra = {n.replace(".", "_"): str(SIM_DIR / n) for n in names if str(SIM_DIR / n) not in known}
        return {**files, **extra}


    rule simulate:
        output:
            **simulated_files(),
        params:
            out=str(SIM_DIR),
            n=config["simulate"]["n"],
            seed=config["simulate"]["seed"],
            null="--null" if config["simulate"]["null_twin"] else "",
            teh=f"--teh {config['simulate']['teh']}" if "teh" in config["simulate"] else "",
            genotypes="" if SIM_GENOTYPES else "--no-genotypes",
            cohort=COHORT,
        log:
            f"{LOGS}/simulate.log",
        conda:
            "../../environment.yml"
        shell:
            "stratify simulate --n {params.n} --seed {params.seed} {params.null} {params.teh} {params.genotypes} "
            "--out {params.out} --cohort {params.cohort} --log {log}"
