rule trd:
    input:
        config=CONFIG,
        treatments=f"{RESULTS}/validate/treatments.parquet",
        scores=f"{RESULTS}/clinical/scores.parquet",
        guidance=f"{RESULTS}/pgx/guidance.parquet",
    output:
        trials=f"{RESULTS}/trd/trials.parquet",
        staging=f"{RESULTS}/trd/staging.parquet",
        after_index=f"{RESULTS}/trd/after_index.parquet",
        concordance=report(
            f"{RESULTS}/trd/concordance.tsv",
            caption="../report/trd.rst",
            category="Treatment resistance",
        ),
        summary=f"{RESULTS}/trd/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/trd.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify trd --config {input.config} --results {params.results} --log {log}"
