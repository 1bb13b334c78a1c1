rule validate:
    input:
        unpack(cohort_files),
        **stage_inputs("validate"),
    output:
        **stage_outputs("validate"),
    params:
        io=io_args("validate"),
    log:
        f"{LOGS}/validate.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify validate {params.io} --log {log}"
