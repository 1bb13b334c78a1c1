# The genotype stage, sharded: plan (checkpoint) -> pca (reference samples) -> one
# genotypes_shard job per region x sample chunk -> genotypes (merge). Memory per shard job
# grows with config genotypes.sample_chunk, not with the cohort (docs/genotypes.md).
# Without inputs.genotypes only the merge rule runs and writes empty tables.


checkpoint genotypes_plan:
    input:
        unpack(vcf_inputs),
        config=CONFIG,
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        plan=f"{RESULTS}/genotypes/plan.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/genotypes_plan.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify genotypes --step plan --config {input.config} --results {params.results} --log {log}"


rule genotypes_pca:
    input:
        unpack(vcf_inputs),
        config=CONFIG,
        plan=f"{RESULTS}/genotypes/plan.json",
    output:
        pca=f"{RESULTS}/genotypes/pca.npz",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/genotypes_pca.log",
    resources:
        mem_mb=4000,
    conda:
        "../../environment.yml"
    shell:
        "stratify genotypes --step pca --config {input.config} --results {params.results} --log {log}"


rule genotypes_shard:
    input:
        unpack(vcf_inputs),
        config=CONFIG,
        plan=f"{RESULTS}/genotypes/plan.json",
        pca=f"{RESULTS}/genotypes/pca.npz",
    output:
        npz=f"{RESULTS}/genotypes/shards/{{job}}.npz",
        variants=f"{RESULTS}/genotypes/shards/{{job}}.variants.parquet",
        pgx=f"{RESULTS}/genotypes/shards/{{job}}.pgx.parquet",
    wildcard_constraints:
        job=r"r\d{4}_c\d{4}",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/genotypes_shard/{{job}}.log",
    resources:
        mem_mb=2000,
    conda:
        "../../environment.yml"
    shell:
        "stratify genotypes --step shard --job {wildcards.job} --config {input.config} "
        "--results {params.results} --log {log}"


rule genotypes:
    input:
        unpack(vcf_inputs),
        genotype_shard_outputs,
        config=CONFIG,
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        pcs=f"{RESULTS}/genotypes/pcs.parquet",
        prs=f"{RESULTS}/genotypes/prs.parquet",
        pgx=f"{RESULTS}/genotypes/pgx_genotypes.parquet",
        prs_report=f"{RESULTS}/genotypes/prs_report.tsv",
        # the cohort's patients without a VCF sample, with the reason (all of them without a VCF)
        not_genotyped=f"{RESULTS}/genotypes/patients_without_genotypes.tsv",
        summary=f"{RESULTS}/genotypes/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
        step=lambda wc: "--step merge" if "genotypes" in config["inputs"] else "",
    log:
        f"{LOGS}/genotypes.log",
    resources:
        mem_mb=4000,
    conda:
        "../../environment.yml"
    shell:
        "stratify genotypes {params.step} --config {input.config} --results {params.results} --log {log}"
