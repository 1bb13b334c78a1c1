# A few lines of YAML: on a cluster it runs on the submit host instead of waiting in the queue.
localrules:
    effective_config,


rule effective_config:
    # The validated config with defaults filled in; every stage reads this file, so a
    # change of any setting re-runs the stages after it (snakemake's params trigger).
    output:
        CONFIG,
    params:
        config=config,
    log:
        f"{LOGS}/effective_config.log",
    run:
        import yaml

        Path(output[0]).write_text(yaml.safe_dump(dict(params.config), sort_keys=False))


rule validate:
    input:
        unpack(cohort_files),
        config=CONFIG,
    output:
        manifest=f"{RESULTS}/validate/manifest.json",
        tables=expand(
            f"{RESULTS}/validate/{{table}}.parquet",
            table=["patients", "symptoms", "treatments", "biomarkers"],
        ),
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/validate.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify validate --config {input.config} --results {params.results} --log {log}"
