rule pgx:
    input:
        config=CONFIG,
        genotypes=f"{RESULTS}/genotypes/pgx_genotypes.parquet",
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        calls=f"{RESULTS}/pgx/calls.parquet",
        tsv=f"{RESULTS}/pgx/calls.tsv",
        summary=f"{RESULTS}/pgx/summary.json",
    log:
        f"{LOGS}/pgx.log",
    shell:
        "{STRATIFY} pgx run --config {input.config} --results {RESULTS} --log {log}"
