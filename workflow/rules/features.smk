rule features:
    input:
        config=CONFIG,
        clinical=f"{RESULTS}/clinical/patients.parquet",
        pgx=f"{RESULTS}/pgx/calls.parquet",
        pcs=f"{RESULTS}/genotypes/pcs.parquet",
    output:
        table=f"{RESULTS}/features/features.parquet",
        summary=f"{RESULTS}/features/summary.json",
    log:
        f"{LOGS}/features.log",
    shell:
        "{STRATIFY} features --config {input.config} --results {RESULTS} --log {log}"
