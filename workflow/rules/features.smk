rule features:
    input:
        **stage_inputs("features"),
    output:
        **stage_outputs("features"),
    log:
        f"{LOGS}/features.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("features"),
    shell:
        "stratify features {params.io} --log {log}"
