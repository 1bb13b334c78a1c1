rule pgx:
    input:
        **stage_inputs("pgx"),
    output:
        **stage_outputs("pgx"),
    params:
        io=io_args("pgx"),
    log:
        f"{LOGS}/pgx.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify pgx run {params.io} --log {log}"
