rule heterogeneity:
    input:
        **stage_inputs("heterogeneity"),
    output:
        **stage_outputs("heterogeneity"),
    log:
        f"{LOGS}/heterogeneity.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("heterogeneity"),
    shell:
        "stratify heterogeneity {params.io} --log {log}"
