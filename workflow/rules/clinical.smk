rule clinical:
    input:
        **stage_inputs("clinical"),
    output:
        **stage_outputs("clinical"),
    params:
        io=io_args("clinical"),
    log:
        f"{LOGS}/clinical.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify clinical {params.io} --log {log}"
