rule pgx:
    input:
        config=CONFIG,
        genotypes=f"{RESULTS}/genotypes/pgx_genotypes.parquet",
        treatments=f"{RESULTS}/validate/treatments.parquet",
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        calls=f"{RESULTS}/pgx/calls.parquet",
        tsv=f"{RESULTS}/pgx/calls.tsv",
        guidance=f"{RESULTS}/pgx/guidance.parquet",
        guidance_tsv=f"{RESULTS}/pgx/guidance.tsv",
        summary=f"{RESULTS}/pgx/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/pgx.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify pgx run --config {input.config} --results {params.results} --log {log}"
