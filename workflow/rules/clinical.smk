rule clinical:
    input:
        **stage_inputs("clinical"),
    output:
        **stage_outputs("clinical"),
    log:
        f"{LOGS}/clinical.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("clinical"),
    shell:
        "stratify clinical {params.io} --log {log}"
