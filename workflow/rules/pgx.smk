rule pgx:
    input:
        **stage_inputs("pgx"),
    output:
        **stage_outputs("pgx"),
    log:
        f"{LOGS}/pgx.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("pgx"),
    shell:
        "stratify pgx run {params.io} --log {log}"
