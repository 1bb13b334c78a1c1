rule validate:
    input:
        unpack(cohort_files),
        **stage_inputs("validate"),
    output:
        **stage_outputs("validate"),
    log:
        f"{LOGS}/validate.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("validate"),
    shell:
        "stratify validate {params.io} --log {log}"
