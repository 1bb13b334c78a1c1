rule pgx:
    input:
        config=CONFIG,
        genotypes=f"{RESULTS}/genotypes/pgx_genotypes.parquet",
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        calls=f"{RESULTS}/pgx/calls.parquet",
        tsv=f"{RESULTS}/pgx/calls.tsv",
        summary=f"{RESULTS}/pgx/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/pgx.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify pgx run --config {input.config} --results {params.results} --log {log}"
