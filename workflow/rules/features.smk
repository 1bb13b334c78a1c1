rule features:
    input:
        config=CONFIG,
        clinical=f"{RESULTS}/clinical/patients.parquet",
        pgx=f"{RESULTS}/pgx/calls.parquet",
        pcs=f"{RESULTS}/genotypes/pcs.parquet",
        prs=f"{RESULTS}/genotypes/prs.parquet",
        trd=f"{RESULTS}/trd/after_index.parquet",
    output:
        table=f"{RESULTS}/features/features.parquet",
        summary=f"{RESULTS}/features/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/features.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify features --config {input.config} --results {params.results} --log {log}"
