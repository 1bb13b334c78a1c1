rule genotypes:
    input:
        unpack(lambda wc: {k: v for k, v in cohort_files().items() if k.startswith("vcf")}),
        config=CONFIG,
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        pcs=f"{RESULTS}/genotypes/pcs.parquet",
        pgx=f"{RESULTS}/genotypes/pgx_genotypes.parquet",
        summary=f"{RESULTS}/genotypes/summary.json",
    log:
        f"{LOGS}/genotypes.log",
    resources:
        mem_mb=4000,
    shell:
        "{STRATIFY} genotypes --config {input.config} --results {RESULTS} --log {log}"
