rule genotypes:
    input:
        unpack(lambda wc: {k: v for k, v in cohort_files().items() if k.startswith("vcf")}),
        config=CONFIG,
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        pcs=f"{RESULTS}/genotypes/pcs.parquet",
        pgx=f"{RESULTS}/genotypes/pgx_genotypes.parquet",
        summary=f"{RESULTS}/genotypes/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/genotypes.log",
    resources:
        mem_mb=4000,
    conda:
        "../../environment.yml"
    shell:
        "stratify genotypes --config {input.config} --results {params.results} --log {log}"
