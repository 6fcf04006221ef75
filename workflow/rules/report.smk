# Tables and reports: Tables 1 and 2 as CSV and JSON (the JSON files are DVC metrics), the
# report notebooks executed with papermill (reports/<name>.ipynb and .html), and
# reports/index.html linking everything with the headline numbers on top.


rule tables:
    input:
        [path for name in paths.TABLES for path in table_files(name)],


rule reports:
    input:
        [path for name in (*paths.REPORTS, paths.INDEX) for path in report_files(name)],


rule build_tables:
    input:
        scores=[str(paths.eval_file(method)) for method in METHODS],
    output:
        [path for name in paths.TABLES for path in table_files(name)],
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
        evals=paths.EVALS_DIR,
        tables=paths.TABLES_DIR,
    log:
        str(paths.log_file("report", "tables")),
    conda:
        ENV
    shell:
        "srgan tables --evals-dir {params.evals} --out-dir {params.tables} {params.layers} "
        "> {log} 2>&1"


rule report_table:
    input:
        table=table_files("{name}"),
    output:
        notebook=str(paths.report_page("{name}", ".ipynb")),
        html=str(paths.report_page("{name}")),
    wildcard_constraints:
        name=names_regex(paths.TABLES),
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
        reports=paths.REPORTS_DIR,
    log:
        str(paths.log_file("report", "{name}")),
    conda:
        ENV
    shell:
        "srgan report {wildcards.name} --out-dir {params.reports} {params.layers} > {log} 2>&1"


rule report_figures:
    input:
        scores=[str(paths.eval_file(method)) for method in METHODS],
        models=[run_file(variant, "metadata") for variant in VARIANTS],
        times=[str(paths.train_timing(variant)) for variant in VARIANTS],
        tables=table_files(paths.TABLES[0]),
    output:
        notebook=str(paths.report_page("figures", ".ipynb")),
        html=str(paths.report_page("figures")),
        figures=directory(str(paths.FIGURES_DIR)),
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
        reports=paths.REPORTS_DIR,
    log:
        str(paths.log_file("report", "figures")),
    conda:
        ENV
    shell:
        "srgan report figures --out-dir {params.reports} {params.layers} > {log} 2>&1"


rule report_index:
    input:
        pages=[path for name in paths.REPORTS for path in report_files(name)],
        tables=table_files(paths.TABLES[1]),
    output:
        index=str(paths.report_page(paths.INDEX)),
        verdict=str(paths.VERDICT_PLOT),
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
        reports=paths.REPORTS_DIR,
        tables=paths.TABLES_DIR,
    log:
        str(paths.log_file("report", "index")),
    conda:
        ENV
    shell:
        "srgan index --reports-dir {params.reports} --tables-dir {params.tables} "
        "{params.layers} > {log} 2>&1"
