rule features:
    input:
        **stage_inputs("features"),
    output:
        **stage_outputs("features"),
    params:
        io=io_args("features"),
    log:
        f"{LOGS}/features.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify features {params.io} --log {log}"
