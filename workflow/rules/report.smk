rule report:
    # every file the report reads (stratify.io.layout.REPORT_READS) and the whole config
    input:
        **stage_inputs("report"),
    output:
        **stage_outputs(
            "report",
            html=lambda p: report(p, caption="../report/report.rst", category="Report"),
        ),
    log:
        f"{LOGS}/report.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("report"),
    shell:
        "stratify report {params.io} --log {log}"
